#!/usr/bin/env python3
"""The speed targets, each printed as PASS or FAIL against its peer measured in the same run.

Shapes (release binary; one process per run; CPU time, system time and peak RSS from the kernel):
  copy      pipelines/bench-copy.yaml      JSONL -> JSONL, no stages
  filters   pipelines/bench-filters.yaml   clean -> Gopher repetition -> Gopher quality -> JSONL
  fineweb   pipelines/fineweb.yaml         the whole FineWeb-style pipeline
  tokenise  pipelines/bench-tokenise.yaml  GPT-2 tokenise -> Megatron shards

Targets:
  filters  >= 100x datatrove 0.10.1 (`filter` stage, 1 worker) per CPU-second
  fineweb  >= 30x datatrove (all stages, 1 worker) per CPU-second, peak RSS <= --fineweb-rss-mb
  scaling  every shape: 2 threads >= 1.8x the throughput of 1 thread (wall clock)
  copy     >= 150 MB per CPU-second, system time < 15 % of CPU time, peak RSS at --scale x the input
           <= 1.25x the peak at 1x
  tokenise >= 0.95x Hugging Face `tokenizers` encode_batch per CPU-second (its Rust core through
           Python, encode time only; Millrace's figure is its whole run: read, tokenise, write)

Corpus: /tmp/bench-data/c100 (../shared/bench/make_corpus.py --size-mb 100 --seed 42) when present,
else the labelled corpus replicated to 100 MB (see scripts/bench.py). The datatrove peers run when
datatrove is installed (`--peer` installs it; they take several CPU-minutes each). `--only` picks
shapes. Never run as a test: timings are not asserted anywhere else.

Usage: MILLRACE_BIN=target/release/pipeline scripts/bench_targets.py [--peer] [--only copy,filters]
"""
import argparse, importlib.util, json, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("bench", os.path.join(ROOT, "scripts", "bench.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

WRAP = r"""
import json, resource, subprocess, sys
p = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"rc": p.returncode, "user": r.ru_utime, "sys": r.ru_stime, "rss": r.ru_maxrss * 1024,
           "stdout": p.stdout.decode(errors="replace")}, open(sys.argv[1], "w"))
"""

SPECS = {
    "copy": "pipelines/bench-copy.yaml",
    "filters": "pipelines/bench-filters.yaml",
    "fineweb": "pipelines/fineweb.yaml",
    "tokenise": "pipelines/bench-tokenise.yaml",
}
OVERRIDES = {
    "fineweb": lambda out, src: {"source.files": f"{src}/corpus-*.jsonl", "sinks.0.parquet": f"{out}/parquet",
                                 "sinks.1.jsonl": f"{out}/jsonl", "sinks.2.megatron": f"{out}/megatron", "rejects": f"{out}/rejects"},
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def measure(cmd, env=None):
    stats = "/tmp/millrace-bench/targets-rusage.json"
    os.makedirs(os.path.dirname(stats), exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", WRAP, stats] + cmd, env=env, check=False)
    wall = time.perf_counter() - t0
    r = json.load(open(stats))
    if r["rc"] != 0:
        raise SystemExit(f"command failed ({r['rc']}): {' '.join(cmd)}")
    return {"wall": wall, "user": r["user"], "sys": r["sys"], "cpu": r["user"] + r["sys"], "rss": r["rss"], "stdout": r["stdout"]}


def millrace(shape, src, threads):
    out = f"/tmp/millrace-bench/targets-{shape}"
    subprocess.run(["rm", "-rf", out])
    env = dict(os.environ, BENCH_INPUT=f"{src}/corpus-*.jsonl", BENCH_OUTPUT=out)
    sets = ["--set", f"engine.threads={threads}"]
    for k, v in OVERRIDES.get(shape, lambda o, s: {})(out, src).items():
        sets += ["--set", f"{k}={v}"]
    m = measure([bench.BIN, "run", os.path.join(ROOT, SPECS[shape]), "--json", "--quiet"] + sets, env)
    s = json.loads(m["stdout"])
    assert s["reconciled"], s
    m["docs"] = s["rows_read"]
    log(f"  millrace {shape} threads={threads}: {m['wall']:.2f} s wall, {m['cpu']:.2f} CPU-s ({m['sys']:.2f} system), "
        f"{m['rss'] / 1e6:.0f} MB peak RSS, {s['rows_read']} read, {s['rows_written']} written")
    return m


def peer(kind, src):
    if kind == "tokenise":
        r = subprocess.run([sys.executable, os.path.join(bench.SHARED, "tokenize_baseline.py"), "--corpus", src,
                            "--tokenizer", os.path.join(ROOT, "pipelines/tokenizers/gpt2.tokenizer.json")],
                           env=dict(os.environ, RAYON_NUM_THREADS="1"), capture_output=True, text=True, check=True)
        j = json.loads(r.stdout.strip().splitlines()[-1])
        log(f"  peer tokenizers encode_batch: {j['cpu_s']} CPU-s, {j['MB_per_cpu_s']} MB per CPU-s")
        return {"cpu": j["cpu_s"], "rss": j["max_rss_mb"] * 1e6, "wall": j["encode_s"]}
    work = f"/tmp/millrace-bench/targets-dt-{kind}"
    subprocess.run(["rm", "-rf", work])
    stage = "filter" if kind == "filters" else "all"
    m = measure([sys.executable, os.path.join(bench.SHARED, "datatrove_baseline.py"), "--input", src, "--work", work,
                 "--workers", "1", "--tasks", "1", "--stage", stage,
                 "--tokenizer", os.path.join(ROOT, "pipelines/tokenizers/gpt2.tokenizer.json")])
    log(f"  peer datatrove {stage}: {m['wall']:.1f} s wall, {m['cpu']:.1f} CPU-s, {m['rss'] / 1e6:.0f} MB peak RSS")
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="copy,filters,fineweb,tokenise")
    ap.add_argument("--peer", action="store_true", help="pip install datatrove 0.10.1 if missing and run it")
    ap.add_argument("--scale", type=int, default=10, help="the copy shape's RSS check runs on this many times the input")
    ap.add_argument("--fineweb-rss-mb", type=float, default=199, help="the FineWeb shape's peak RSS before this work (issue table)")
    ap.add_argument("--json", help="write every figure here")
    a = ap.parse_args()
    shapes = a.only.split(",")
    src, desc = bench.corpus(100)
    mb = bench.uncompressed_mb(src)
    log(f"corpus: {desc}, {mb:.1f} MB of JSONL; binary {bench.BIN}")
    have_dt = subprocess.run([sys.executable, "-c", "import datatrove"], capture_output=True).returncode == 0
    if not have_dt and a.peer:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "datatrove[io,processing]==0.10.1", "spacy",
                        "lxml_html_clean", "xxhash"], check=True)
        have_dt = True
    lines, figures = [], {}

    def target(name, ok, detail):
        lines.append(f"{'PASS' if ok else 'FAIL'}  {name:<58} {detail}")

    for shape in shapes:
        log(f"{shape}:")
        one, two = millrace(shape, src, 1), millrace(shape, src, 2)
        figures[shape] = {"threads_1": {k: v for k, v in one.items() if k != "stdout"}, "threads_2": {k: v for k, v in two.items() if k != "stdout"}}
        ratio = one["wall"] / two["wall"]
        target(f"{shape}: 2 threads >= 1.8x 1 thread", ratio >= 1.8, f"{ratio:.2f}x ({one['wall']:.2f} s -> {two['wall']:.2f} s)")
        best = two
        if shape == "copy":
            per_cpu = mb / best["cpu"]
            target("copy: >= 150 MB per CPU-second", per_cpu >= 150, f"{per_cpu:.0f} MB per CPU-s")
            share = best["sys"] / best["cpu"]
            target("copy: system time < 15 % of CPU time", share < 0.15, f"{share * 100:.0f} % ({best['sys']:.2f} of {best['cpu']:.2f} CPU-s)")
            if a.scale:
                big = bench.make_corpus(f"/tmp/millrace-bench/rep{100 * a.scale}", 100 * a.scale)
                m = millrace(shape, big, 2)
                growth = m["rss"] / best["rss"]
                figures[shape]["scaled"] = {k: v for k, v in m.items() if k != "stdout"}
                target(f"copy: peak RSS at {a.scale}x the input <= 1.25x", growth <= 1.25,
                       f"{best['rss'] / 1e6:.0f} MB -> {m['rss'] / 1e6:.0f} MB ({growth:.2f}x)")
        elif shape in ("filters", "fineweb"):
            want = 100 if shape == "filters" else 30
            if have_dt:
                p = peer(shape, src)
                figures[shape]["peer"] = {k: v for k, v in p.items() if k != "stdout"}
                x = p["cpu"] / best["cpu"]
                target(f"{shape}: >= {want}x datatrove per CPU-second", x >= want, f"{x:.1f}x ({p['cpu']:.1f} vs {best['cpu']:.2f} CPU-s)")
            else:
                target(f"{shape}: >= {want}x datatrove per CPU-second", False, "datatrove not installed (--peer installs it)")
            if shape == "fineweb":
                target(f"fineweb: peak RSS <= {a.fineweb_rss_mb:.0f} MB", best["rss"] / 1e6 <= a.fineweb_rss_mb, f"{best['rss'] / 1e6:.0f} MB")
        elif shape == "tokenise":
            p = peer("tokenise", src)
            figures[shape]["peer"] = p
            x = p["cpu"] / best["cpu"]
            target("tokenise: >= 0.95x tokenizers encode_batch per CPU-second", x >= 0.95, f"{x:.2f}x ({mb / best['cpu']:.1f} vs {mb / p['cpu']:.1f} MB per CPU-s)")
    if "tokenise" in shapes:
        target("tokenise: exact fast BPE path >= 3x tokenizers (stretch)", False, "not offered")
    print("\n".join(lines))
    if a.json:
        json.dump(figures, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
