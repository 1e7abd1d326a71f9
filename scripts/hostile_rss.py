#!/usr/bin/env python3
"""Peak memory of `pipeline run` on hostile inputs: the shapes that once made memory grow without
bound. Each case is generated under a temporary directory, run once, and reported with the peak RSS
the run measured of itself, rows written and rejects by reason. Not a test: nothing is asserted.

  1. one 200 MB JSONL line without a newline (split into 64 MiB byte ranges)
  2. a 2.2 GB text file read as one document (`text_unit: file`)
  3. 60,000 distinct `partition_by` values from about 28 MB of JSONL

Usage: scripts/hostile_rss.py [--bin target/release/pipeline] [--keep]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(binary, d, name, source, sink_extra=""):
    spec = os.path.join(d, f"{name}.yaml")
    with open(spec, "w") as f:
        f.write(f"name: {name}\nsource:\n{source}sinks:\n  - parquet: {d}/out-{name}\n{sink_extra}")
    p = subprocess.run([binary, "run", spec, "--json", "--no-checks"], capture_output=True, text=True)
    if p.returncode != 0:
        return {"case": name, "error": p.stderr.strip()[-500:]}
    s = json.loads(p.stdout)
    return {"case": name, "peak_rss_mb": round(s["peak_rss_bytes"] / 2**20, 1), "rows_written": s["rows_written"],
            "rejects": s["rejects_by_reason"], "wall_s": round(s["wall_seconds"], 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "pipeline"))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="hostile-")
    out = []
    try:
        # 1: a 200 MB line (no newline anywhere) after one good record.
        os.makedirs(f"{d}/long")
        with open(f"{d}/long/a.jsonl", "wb") as f:
            f.write(b'{"id":"ok","text":"fine"}\n')
            chunk = b"x" * (1 << 20)
            f.write(b'{"id":"big","text":"')
            for _ in range(200):
                f.write(chunk)
        out.append(run(a.bin, d, "long_line", f"  files: {d}/long/*.jsonl\n  format: jsonl\n"))
        shutil.rmtree(f"{d}/long")
        # 2: a 2.2 GB text file as one document (sparse, so it costs no disk).
        os.makedirs(f"{d}/text")
        with open(f"{d}/text/big.txt", "wb") as f:
            f.truncate(2200 << 20)
        with open(f"{d}/text/small.txt", "w") as f:
            f.write("a small document\n")
        out.append(run(a.bin, d, "huge_text_file", f"  files: {d}/text/*.txt\n  format: text\n  text_unit: file\n"))
        shutil.rmtree(f"{d}/text")
        # 3: 60,000 partition values.
        os.makedirs(f"{d}/parts")
        with open(f"{d}/parts/a.jsonl", "w") as f:
            for i in range(300_000):
                f.write(json.dumps({"id": f"d{i}", "text": "t" * 60, "key": f"k{i % 60000}"}) + "\n")
        out.append(run(a.bin, d, "partitions_60k", f"  files: {d}/parts/*.jsonl\n", "    partition_by: [key]\n"))
    finally:
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)
    for r in out:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
