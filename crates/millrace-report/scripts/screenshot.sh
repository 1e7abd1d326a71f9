#!/usr/bin/env bash
# Renders a Millrace HTML report to a PNG with headless Chromium (Debian's `chromium`).
# Usage: screenshot.sh <report.html> <out.png> [width,height]
# Install the browser with `apt-get install -y chromium` if it is missing.
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 <report.html> <out.png> [width,height]" >&2
  exit 2
fi
html=$1
png=$2
size=${3:-1280,2400}

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
  for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
  done
fi
if [ -z "$browser" ]; then
  echo "screenshot.sh: no chromium found (apt-get install -y chromium)" >&2
  exit 3
fi
if [ ! -f "$html" ]; then
  echo "screenshot.sh: $html does not exist" >&2
  exit 2
fi

abs_html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
out_dir=$(dirname "$png")
mkdir -p "$out_dir"
abs_png=$(cd "$out_dir" && pwd)/$(basename "$png")

# A fresh profile per run: no state leaks between runs and no lock conflicts.
profile=$(mktemp -d "${TMPDIR:-/tmp}/millrace-chromium.XXXXXX")
trap 'rm -rf "$profile"' EXIT

rm -f "$abs_png"
# Chromium can linger after writing the file; bound it so callers never hang.
timeout 90 "$browser" \
  --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-dev-shm-usage --hide-scrollbars \
  --user-data-dir="$profile" \
  --screenshot="$abs_png" --window-size="$size" \
  "file://$abs_html" >/dev/null 2>&1 || true

if [ ! -s "$abs_png" ]; then
  echo "screenshot.sh: chromium did not produce $abs_png" >&2
  exit 1
fi
echo "$abs_png"
