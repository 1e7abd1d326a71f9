#!/usr/bin/env python3
"""Stream-worker benchmark: Kafka topic -> Parquet, Millrace beside the peer in the same run.

For each size (documents of about 1 KB, produced by ../shared/bench/kafka_peer.py over 4
partitions of a fresh topic on the running broker), runs:
  - `pipeline run` on a stream spec (follow: false: drain the topic, then stop), plain and with
    clean + normalise;
  - the peer: a plain confluent-kafka consumer writing Parquet with pyarrow (kafka_peer.py consume).
Prints documents/s, MB/s per core (MB per CPU-second), epoch latency p50/p99 (from the run's
epoch records) and peak RSS, for every size, so a flat RSS over 10x more messages shows.

Usage: scripts/bench_stream.py [--brokers 127.0.0.1:19092] [--docs 20000,200000] [--bin target/release/pipeline]
The broker: scripts/services start (noida-db on :19092). Not a test: nothing is asserted.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(os.path.dirname(ROOT), "shared", "bench", "kafka_peer.py")

SPEC = """name: bench-stream
source:
  kafka:
    brokers: "{brokers}"
    topics: [{topic}]
    group: bench-{group}
    follow: false
    epoch: {{ max_records: {epoch} }}
stages:
{stages}sinks:
  - parquet: {out}
    compression: zstd
"""


def run_millrace(a, topic, docs, stages, label):
    d = tempfile.mkdtemp(prefix="bench-stream-")
    spec = os.path.join(d, "spec.yaml")
    with open(spec, "w") as f:
        f.write(SPEC.format(brokers=a.brokers, topic=topic, group=uuid.uuid4(), epoch=a.epoch,
                            stages=stages or "  []\n", out=os.path.join(d, "out")).replace("stages:\n  []\n", "stages: []\n"))
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    p = subprocess.run([a.bin, "run", spec, "--json", "--no-checks"], capture_output=True, text=True)
    wall = time.time() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"pipeline failed: {p.stderr[-2000:]}")
    s = json.loads(p.stdout)
    summary = s.get("summary", s)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    mb = summary["bytes_read"] / 1e6
    lat = epoch_latencies(os.path.join(d, "out", "_millrace", "runs"))
    return {"engine": label, "docs": summary["rows_written"], "MB": round(mb, 2), "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "docs_per_s": round(summary["rows_written"] / wall),
            "docs_per_cpu_s": round(summary["rows_written"] / max(cpu, 1e-9)),
            "MB_per_cpu_s": round(mb / max(cpu, 1e-9), 2), "peak_rss_mb": round(summary["peak_rss_bytes"] / 2**20, 1),
            "epoch_p50_s": lat[0], "epoch_p99_s": lat[1]}


def epoch_latencies(runs):
    """Epoch durations (plan to commit) from the run's report: p50 and p99."""
    durs = []
    for rid in os.listdir(runs):
        with open(os.path.join(runs, rid, "run.json")) as f:
            r = json.load(f)
        durs.extend(e["wall_ms"] / 1000 for e in r.get("epochs", []) if "wall_ms" in e)
    if not durs:
        return (None, None)
    durs.sort()
    return (round(durs[len(durs) // 2], 3), round(durs[min(len(durs) - 1, int(len(durs) * 0.99))], 3))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", default="127.0.0.1:19092")
    ap.add_argument("--docs", default="20000,200000")
    ap.add_argument("--epoch", type=int, default=50000)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "pipeline"))
    a = ap.parse_args()
    rows = []
    for n in [int(x) for x in a.docs.split(",")]:
        topic = f"bench-{uuid.uuid4()}"
        subprocess.run([sys.executable, PEER, "produce", "--brokers", a.brokers, "--topic", topic, "--docs", str(n),
                        "--doc-bytes", "1000", "--partitions", "4"], check=True, capture_output=True)
        rows.append(run_millrace(a, topic, n, "", "millrace"))
        rows.append(run_millrace(a, topic, n, "  - clean: {}\n  - normalise: {}\n", "millrace clean+normalise"))
        peer = subprocess.run([sys.executable, PEER, "consume", "--brokers", a.brokers, "--topic", topic, "--docs", str(n),
                               "--out", tempfile.mkdtemp(prefix="bench-peer-")], check=True, capture_output=True, text=True)
        p = json.loads(peer.stdout.strip().splitlines()[-1])
        p["engine"] = p.pop("peer")
        p["docs_per_cpu_s"] = round(p["docs"] / max(p["cpu_s"], 1e-9))
        rows.append(p)
    cols = ["engine", "docs", "wall_s", "cpu_s", "docs_per_s", "docs_per_cpu_s", "MB_per_cpu_s", "epoch_p50_s", "epoch_p99_s", "peak_rss_mb"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r.get(c, "")) for c in cols))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
