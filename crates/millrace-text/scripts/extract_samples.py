#!/usr/bin/env python3
"""Extract a small, deterministic sample of real documents from Millrace's shared labelled corpus
into tests/data/sample-docs.jsonl (used by the criterion bench and a few tests).

Usage (from the crate root, needs `pip install zstandard` or the `zstd` CLI):
    python3 scripts/extract_samples.py ../../../shared/bench/labelled/corpus-8mb.jsonl.zst
"""
import io, json, subprocess, sys

src = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else "tests/data/sample-docs.jsonl"
try:
    import zstandard  # type: ignore
    raw = zstandard.ZstdDecompressor().stream_reader(open(src, "rb")).read()
except ImportError:
    raw = subprocess.run(["zstd", "-dc", src], check=True, capture_output=True).stdout
rows = [json.loads(l) for l in io.StringIO(raw.decode("utf-8"))]

html, text, seen_lang = [], [], {}
for r in rows:
    n = len(r["text"].encode("utf-8"))
    if r["format"] == "html" and 2_000 <= n <= 40_000 and len(html) < 24:
        html.append(r)
    elif r["format"] == "text" and 1_000 <= n <= 12_000:
        # at most 3 documents per language so the sample stays multilingual
        if seen_lang.get(r["lang"], 0) < 3:
            seen_lang[r["lang"]] = seen_lang.get(r["lang"], 0) + 1
            text.append(r)
with open(out, "w", encoding="utf-8") as f:
    for r in html + text:
        f.write(json.dumps({k: r[k] for k in ("id", "format", "lang", "text")}, ensure_ascii=False) + "\n")
print(f"{len(html)} html + {len(text)} text docs -> {out}")
