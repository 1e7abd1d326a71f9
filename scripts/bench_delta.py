#!/usr/bin/env python3
"""Delta sink benchmark: the quickstart shape into `delta:` beside the same job into `parquet:`, in
the same run on the same corpus, with one epoch per input shard, and the Python `deltalake` writer
(`write_deltalake` from pyarrow, one commit per shard) doing the same job as the peer.

Each job runs --repeat times (default 5) and the run with the median CPU time is shown. Prints
MB/s, docs/s, MB per CPU-second and peak RSS for each, the Delta sink's MB per CPU-second
relative to the Parquet sink's (target: within 10 %), and the extra wall and CPU time per epoch that
the Delta commit costs, over many small epochs (--epoch-mb, read in byte ranges of the plain JSONL). Uses the release binary (MILLRACE_BIN, or target/release/pipeline built here).

Usage: scripts/bench_delta.py [--size-mb 100] [--repeat 5] [--epoch-mb 1] [--json results.json]
"""
import argparse, json, os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the corpus, the timing wrapper and the table format are shared)

ROOT = bench.ROOT

PEER = r'''
import glob, io, sys
import pyarrow as pa, pyarrow.compute as pc, pyarrow.json as pj, zstandard
from deltalake import WriterProperties, write_deltalake
src, out = sys.argv[1], sys.argv[2]
# The same compression as the Millrace sinks (zstd level 3), not the writer's default snappy.
props = WriterProperties(compression="ZSTD", compression_level=3)
for path in sorted(glob.glob(src + "/corpus-*.jsonl.zst")):
    with open(path, "rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read()
    t = pj.read_json(io.BytesIO(raw))
    n = pc.utf8_length(t["text"])
    t = t.append_column("n_chars", n).filter(pc.greater(n, 0)).select(["id", "text", "url", "lang", "n_chars"])
    write_deltalake(out, t, mode="append", writer_properties=props)
import os; os._exit(0)
'''


def run(spec, src, out, epoch_mb=None):
    """One epoch per (unsplittable .zst) shard, or, with `epoch_mb`, the plain JSONL shards read in
    byte ranges with an epoch every `epoch_mb` MB, so the per-epoch commit cost adds up."""
    subprocess.run(["rm", "-rf", out])
    pattern = f"{src}/corpus-*.jsonl" if epoch_mb else f"{src}/corpus-*.jsonl.zst"
    env = dict(os.environ, BENCH_INPUT=pattern, BENCH_OUTPUT=out)
    sets = ["--set", f"source.epoch_bytes={epoch_mb}MiB", "--set", f"source.split_bytes={epoch_mb}MiB"] if epoch_mb else ["--set", "source.epoch_bytes=1B"]
    wall, cpu, rss, stdout = bench.timed([bench.BIN, "run", spec, "--json", "--quiet", "--no-checks"] + sets, env)
    s = json.loads(stdout)
    assert s["reconciled"], s
    return wall, cpu, rss, s


def median_of(n, f):
    """Runs `f` n times; returns the run with the median CPU time (runs of a second are noisy)."""
    runs = sorted((f() for _ in range(n)), key=lambda r: r[1])
    return runs[len(runs) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each job; the median by CPU time is shown")
    ap.add_argument("--epoch-mb", type=int, default=1, help="epoch size of the many-epochs runs that show the commit overhead")
    ap.add_argument("--json", help="write results here")
    a = ap.parse_args()
    if "MILLRACE_BIN" not in os.environ:
        subprocess.run(["cargo", "build", "--release", "--bin", "pipeline"], cwd=ROOT, check=True)
    src, desc = bench.corpus(a.size_mb)
    mb = bench.uncompressed_mb(src)
    bench.log(f"corpus: {desc}, {mb:.1f} MB of JSONL")
    results = []
    pw, pc, prss, ps = median_of(a.repeat, lambda: run(os.path.join(ROOT, "pipelines/bench-quickstart.yaml"), src, "/tmp/millrace-bench/parquet"))
    results.append(bench.row(f"millrace parquet sink ({ps['epochs_committed']} epochs)", mb, ps["rows_read"], pw, pc, prss))
    dw, dc, drss, ds = median_of(a.repeat, lambda: run(os.path.join(ROOT, "pipelines/bench-delta.yaml"), src, "/tmp/millrace-bench/delta"))
    results.append(bench.row(f"millrace delta sink ({ds['epochs_committed']} epochs)", mb, ds["rows_read"], dw, dc, drss))
    check = subprocess.run([sys.executable, os.path.join(ROOT, "tests/e2e/check_delta.py"), "/tmp/millrace-bench/delta"], capture_output=True, text=True)
    t = json.loads(check.stdout)
    assert t["rows"] == ds["rows_written"] and not t["duplicates"], t
    peer_ok = subprocess.run([sys.executable, "-c", "import deltalake"], capture_output=True).returncode == 0
    if peer_ok:
        out = "/tmp/millrace-bench/deltalake-py"

        def peer():
            subprocess.run(["rm", "-rf", out])
            return bench.timed([sys.executable, "-c", PEER, src, out])
        w, c, r, _ = median_of(a.repeat, peer)
        import deltalake
        v = deltalake.__version__
        results.append(bench.row(f"Python deltalake {v} write_deltalake (pyarrow, zstd 3)", mb, ds["rows_read"], w, c, r))
    print(f"{'run':<62} {'MB':>8} {'wall s':>8} {'MB/s':>8} {'docs/s':>9} {'MB/CPU-s':>9} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['name']:<62} {r['mb']:>8} {r['wall_s']:>8} {r['mb_per_s']:>8} {r['docs_per_s']:>9} {r['mb_per_cpu_s']:>9} {r['peak_rss_mb']:>12}")
    ratio = (mb / dc) / (mb / pc)
    print(f"delta sink MB per CPU-second = {ratio:.2f} x the parquet sink's (target >= 0.90)")
    # The commit's cost per epoch, where there are enough epochs for it to show: many small epochs
    # into each sink, the same bytes.
    many = []
    for name, spec, out in [("parquet", "bench-quickstart.yaml", "parquet-many"), ("delta", "bench-delta.yaml", "delta-many")]:
        w, c, r, s = median_of(a.repeat, lambda: run(os.path.join(ROOT, "pipelines", spec), src, f"/tmp/millrace-bench/{out}", a.epoch_mb))
        many.append((w, c, s["epochs_committed"]))
        results.append(bench.row(f"millrace {name} sink ({s['epochs_committed']} epochs of {a.epoch_mb} MiB)", mb, s["rows_read"], w, c, r))
        print(f"{results[-1]['name']:<62} {results[-1]['mb']:>8} {w:>8.2f} {results[-1]['mb_per_s']:>8} {results[-1]['docs_per_s']:>9} {results[-1]['mb_per_cpu_s']:>9} {results[-1]['peak_rss_mb']:>12}")
    (pw2, pc2, _), (dw2, dc2, n2) = many
    per_epoch_wall, per_epoch_cpu = (dw2 - pw2) / n2, (dc2 - pc2) / n2
    print(f"delta commit overhead per epoch over {n2} epochs: {per_epoch_wall * 1000:.1f} ms wall, {per_epoch_cpu * 1000:.1f} ms CPU; "
          f"MB per CPU-second {(mb / dc2) / (mb / pc2):.2f} x the parquet sink's")
    if a.json:
        json.dump({"results": results, "delta_vs_parquet": ratio, "extra_wall_per_epoch_s": per_epoch_wall, "extra_cpu_per_epoch_s": per_epoch_cpu}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
