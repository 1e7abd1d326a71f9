#!/usr/bin/env python3
"""End-to-end pipeline benchmark: Millrace vs the datatrove peer, in the same run, on the same corpus.

Builds (or reuses) a JSONL corpus (plain and zstd shards), runs a pipeline spec over it with the release
binary at 1x and 10x the size, and prints MB/s, docs/s, MB per CPU-second and peak RSS for each, then the
same figures for datatrove doing the equivalent job when it is installed (`--peer` installs it). Exits
non-zero when peak RSS grows more than --max-rss-growth with the 10x input, or when Millrace's MB per
CPU-second falls below --min-speedup times the peer's.

Corpus: /tmp/bench-data/c100 (made by ../shared/bench/make_corpus.py) when present, otherwise the
labelled 8 MB corpus from ../shared/bench/labelled/ replicated with fresh ids to the requested size.

Usage: scripts/bench.py [--spec pipelines/bench-quickstart.yaml] [--size-mb 100] [--scale 10] [--peer]
"""
import argparse, io, json, os, resource, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "bench")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def make_corpus(out_dir, size_mb, shards=4):
    """Replicates the labelled corpus with new ids until `size_mb` of JSONL, written as JSONL shards
    (corpus-NN.jsonl) and the same shards zstd-compressed (corpus-NN.jsonl.zst)."""
    import zstandard
    marker = os.path.join(out_dir, "DONE")
    if os.path.exists(marker):
        compress_shards(out_dir)
        return out_dir
    os.makedirs(out_dir, exist_ok=True)
    src = os.path.join(SHARED, "labelled", "corpus-8mb.jsonl.zst")
    with open(src, "rb") as f:
        lines = zstandard.ZstdDecompressor().stream_reader(f).read().decode().splitlines()
    docs = [json.loads(l) for l in lines]
    target = size_mb * 1_000_000
    writers = [open(os.path.join(out_dir, f"corpus-{i:02}.jsonl"), "wb") for i in range(shards)]
    written, rep, n = 0, 0, 0
    while written < target:
        for d in docs:
            d2 = dict(d)
            d2["id"] = f"r{rep}-{d['id']}"
            if rep:
                # Replicas differ by a marker line so that they are near, not exact, duplicates.
                d2["text"] = d["text"] + f"\n[replica {rep}]"
            line = (json.dumps(d2, ensure_ascii=False) + "\n").encode()
            writers[n % shards].write(line)
            written += len(line)
            n += 1
            if written >= target:
                break
        rep += 1
    for w in writers:
        w.close()
    json.dump({"docs": n, "bytes": written}, open(os.path.join(out_dir, "corpus.json"), "w"))
    compress_shards(out_dir)
    open(marker, "w").write("ok")
    return out_dir


def compress_shards(d):
    """corpus-NN.jsonl.zst next to each corpus-NN.jsonl (level 3, streamed), once."""
    import zstandard
    marker = os.path.join(d, "DONE-zst")
    if os.path.exists(marker):
        return
    for f in sorted(os.listdir(d)):
        if f.startswith("corpus-") and f.endswith(".jsonl"):
            with open(os.path.join(d, f), "rb") as src, open(os.path.join(d, f + ".zst"), "wb") as dst:
                zstandard.ZstdCompressor(level=3).copy_stream(src, dst)
    open(marker, "w").write("ok")


def corpus(size_mb):
    c100 = "/tmp/bench-data/c100"
    if size_mb == 100 and os.path.isdir(c100) and any(f.startswith("corpus-") for f in os.listdir(c100)):
        return c100, "/tmp/bench-data/c100 (make_corpus.py, seed 42)"
    d = make_corpus(f"/tmp/millrace-bench/rep{size_mb}", size_mb)
    return d, f"labelled corpus replicated to {size_mb} MB (/tmp/millrace-bench/rep{size_mb})"


BIN = os.environ.get("MILLRACE_BIN", os.path.join(ROOT, "target/release/pipeline"))
# Per-spec overrides that point a pipeline at the bench corpus and a scratch output.
SETS = {
    "fineweb.yaml": {"source.files": "{input}/corpus-*.jsonl", "sinks.0.parquet": "{out}/parquet",
                     "sinks.1.jsonl": "{out}/jsonl", "sinks.2.megatron": "{out}/megatron", "rejects": "{out}/rejects"},
    "bench-minhash.yaml": {"source.files": "{input}/corpus-*.jsonl", "sinks.0.jsonl": "{out}/jsonl"},
    "bench-tokenise.yaml": {"source.files": "{input}/corpus-*.jsonl", "sinks.0.megatron": "{out}/megatron"},
}
# The quickstart shape reads compressed shards, as the quickstart does; the others read plain JSONL
# (which Millrace splits into byte ranges) because that is what their datatrove peers read.
ZST_SPECS = {"bench-quickstart.yaml"}


def input_glob(spec):
    return "corpus-*.jsonl.zst" if os.path.basename(spec) in ZST_SPECS else "corpus-*.jsonl"


PEERS = {
    "bench-quickstart.yaml": "quickstart",
    "fineweb.yaml": "fineweb",
    "bench-minhash.yaml": "minhash",
    "bench-tokenise.yaml": "tokenise",
}


def uncompressed_mb(d):
    meta = os.path.join(d, "corpus.json")
    if os.path.exists(meta):
        return json.load(open(meta))["bytes"] / 1e6
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.startswith("corpus-") and f.endswith(".jsonl")) / 1e6




WRAP = r"""
import json, resource, subprocess, sys
p = subprocess.run(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"rc": p.returncode, "cpu": r.ru_utime + r.ru_stime, "rss": r.ru_maxrss * 1024}, open(sys.argv[1], "w"))
"""


def timed(cmd, env=None):
    """Runs a command in a fresh wrapper process so that the kernel's peak RSS and CPU time are the
    command's own (not the build's); returns (wall s, cpu s, peak RSS bytes, stdout)."""
    stats = "/tmp/millrace-bench/rusage.json"
    os.makedirs(os.path.dirname(stats), exist_ok=True)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", WRAP, stats] + cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    r = json.load(open(stats))
    if r["rc"] != 0:
        log(p.stderr[-4000:])
        raise SystemExit(f"command failed ({r['rc']}): {' '.join(cmd)}")
    return wall, r["cpu"], r["rss"], p.stdout


def row(name, mb, docs, wall, cpu, rss):
    return {"name": name, "mb": round(mb, 1), "docs": docs, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "mb_per_s": round(mb / wall, 2), "docs_per_s": round(docs / wall), "mb_per_cpu_s": round(mb / cpu, 2) if cpu else None,
            "peak_rss_mb": round(rss / 1e6, 1)}


def run_millrace(spec, src_dir, out_dir, extra_env=None):
    subprocess.run(["rm", "-rf", out_dir])
    env = dict(os.environ, BENCH_INPUT=f"{src_dir}/{input_glob(spec)}", BENCH_OUTPUT=out_dir, **(extra_env or {}))
    sets = []
    for k, v in SETS.get(os.path.basename(spec), {}).items():
        sets += ["--set", f"{k}={v.format(out=out_dir, input=src_dir)}"]
    wall, cpu, rss, out = timed([BIN, "run", spec, "--json", "--quiet"] + sets, env)
    s = json.loads(out)
    assert s["reconciled"], s
    log(f"millrace {os.path.basename(spec)}: read {s['rows_read']}, written {s['rows_written']}, rejected {s['rows_rejected']}")
    return wall, cpu, rss, s


PEER = r'''
import sys
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import ParquetWriter
from datatrove.executor import LocalPipelineExecutor
src, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
LocalPipelineExecutor(pipeline=[JsonlReader(src, glob_pattern="corpus-*.jsonl.zst"),
                                ParquetWriter(out)], tasks=4, workers=workers,
                      logging_dir=out + "_logs").run()
'''


def run_peer(kind, src, workers):
    """The same job in datatrove 0.10.1, as ../shared/bench/datatrove_baseline.py defines it."""
    work = f"/tmp/millrace-bench/dt-{kind}"
    subprocess.run(["rm", "-rf", work, work + "_logs"])
    if kind == "quickstart":
        return timed([sys.executable, "-c", PEER, src, work, str(workers)])
    if kind == "tokenise":
        # Raw Hugging Face `tokenizers` encode_batch (its Rust core) on the same texts and threads.
        return timed([sys.executable, os.path.join(SHARED, "tokenize_baseline.py"), "--corpus", src,
                      "--tokenizer", os.path.join(ROOT, "pipelines/tokenizers/gpt2.tokenizer.json"), "--threads", str(workers)])
    base = [sys.executable, os.path.join(SHARED, "datatrove_baseline.py"), "--input", src, "--work", work,
            "--workers", str(workers), "--tasks", str(workers), "--stage", "all",
            "--tokenizer", os.path.join(ROOT, "pipelines/tokenizers/gpt2.tokenizer.json")]
    if kind == "minhash":
        base.append("--raw-dedup")
    return timed(base)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default=os.path.join(ROOT, "pipelines/bench-quickstart.yaml"))
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--scale", type=int, default=10, help="second run on a corpus this many times larger (0: skip)")
    ap.add_argument("--peer", action="store_true", help="pip install datatrove 0.10.1 if missing and run it")
    ap.add_argument("--json", help="write results here")
    ap.add_argument("--peer-workers", type=int, default=1)
    ap.add_argument("--max-rss-growth", type=float, default=1.25,
                    help="fail when peak RSS at --scale x the input exceeds this multiple of the 1x peak (0: off)")
    ap.add_argument("--min-speedup", type=float, default=1.0,
                    help="fail when Millrace's MB per CPU-second is below this multiple of the peer's (0: off)")
    a = ap.parse_args()
    if "MILLRACE_BIN" not in os.environ:
        subprocess.run(["cargo", "build", "--release", "--bin", "pipeline"], cwd=ROOT, check=True)
    results = []
    d1, desc = corpus(a.size_mb)
    mb1 = uncompressed_mb(d1)
    log(f"corpus: {desc}, {mb1:.1f} MB of JSONL")
    wall, cpu, rss, s = run_millrace(a.spec, d1, "/tmp/millrace-bench/out1")
    results.append(row(f"millrace {os.path.basename(a.spec)} {a.size_mb} MB", mb1, s["rows_read"], wall, cpu, rss))
    if a.scale:
        d2 = make_corpus(f"/tmp/millrace-bench/rep{a.size_mb * a.scale}", a.size_mb * a.scale)
        mb2 = uncompressed_mb(d2)
        wall, cpu, rss2, s2 = run_millrace(a.spec, d2, "/tmp/millrace-bench/out2")
        results.append(row(f"millrace {os.path.basename(a.spec)} {a.size_mb * a.scale} MB", mb2, s2["rows_read"], wall, cpu, rss2))
    peer_ok = subprocess.run([sys.executable, "-c", "import datatrove"], capture_output=True).returncode == 0
    if not peer_ok and a.peer:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "datatrove[io,processing]==0.10.1", "spacy",
                        "lxml_html_clean", "pyarrow", "zstandard", "xxhash"], check=True)
        peer_ok = True
    kind = PEERS.get(os.path.basename(a.spec))
    if peer_ok and kind:
        wall, cpu, prss, _ = run_peer(kind, d1, a.peer_workers)
        peer_name = "HF tokenizers 0.23 (Python) encode_batch" if kind == "tokenise" else f"datatrove 0.10.1 {kind}"
        results.append(row(f"{peer_name} {a.size_mb} MB ({a.peer_workers} worker)", mb1, s["rows_read"], wall, cpu, prss))
    else:
        log("datatrove is not installed (or no peer for this spec): peer not measured (--peer installs it)")
    print(f"{'run':<62} {'MB':>8} {'wall s':>8} {'MB/s':>8} {'docs/s':>9} {'MB/CPU-s':>9} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['name']:<62} {r['mb']:>8} {r['wall_s']:>8} {r['mb_per_s']:>8} {r['docs_per_s']:>9} {r['mb_per_cpu_s']:>9} {r['peak_rss_mb']:>12}")
    failures = []
    if len(results) >= 2 and a.scale:
        growth = results[1]['peak_rss_mb'] / results[0]['peak_rss_mb']
        log(f"RSS growth for {a.scale}x input: {growth:.2f}x (limit {a.max_rss_growth}x)")
        if a.max_rss_growth and growth > a.max_rss_growth:
            failures.append(f"peak RSS grew {growth:.2f}x for {a.scale}x input (limit {a.max_rss_growth}x)")
    if peer_ok and kind and results[-1]["mb_per_cpu_s"]:
        speedup = results[0]['mb_per_cpu_s'] / results[-1]['mb_per_cpu_s']
        log(f"millrace / peer, MB per CPU-second: {speedup:.1f}x (minimum {a.min_speedup}x)")
        if a.min_speedup and speedup < a.min_speedup:
            failures.append(f"MB per CPU-second is {speedup:.2f}x the peer's (minimum {a.min_speedup}x)")
    if a.json:
        json.dump(results, open(a.json, "w"), indent=2)
    if failures:
        raise SystemExit("benchmark failed: " + "; ".join(failures))


if __name__ == "__main__":
    main()
