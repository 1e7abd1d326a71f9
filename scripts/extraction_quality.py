#!/usr/bin/env python3
"""HTML extraction quality and speed: Millrace's `clean` stage against Trafilatura as FineWeb runs it.

Takes the HTML documents of a JSONL corpus (default: the labelled corpus bundled with the dedupe
tests; pass --corpus for the 100 MB bench corpus made by ../shared/bench/make_corpus.py), extracts
their text twice, in the same run:
  - Millrace: `pipeline run` with one `clean: {mode: html}` stage (JSONL in, JSONL out);
  - the peer: trafilatura.extract(favor_precision=True, include_comments=False, deduplicate=True),
    the settings of datatrove's Trafilatura extractor in the FineWeb pipeline.
and prints token-level precision / recall / F1 of our text against Trafilatura's (bags of lower-cased
word tokens), per corpus and for the 10 documents where they disagree most, with the tokens only one
side kept (boilerplate kept, or main content lost), plus CPU-seconds of each side.

Usage: scripts/extraction_quality.py [--corpus FILE.jsonl[.zst]] [--bin target/release/pipeline] [--json OUT]
Needs `pip install trafilatura lxml_html_clean` (figures so far: trafilatura 1.12.2; datatrove 0.10
pins trafilatura below 1.12, so FineWeb's own runs used an older 1.x). Not a test: nothing is asserted.
"""
import argparse, collections, io, json, os, re, resource, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CORPUS = os.path.join(ROOT, "crates/millrace-dedupe/tests/data/corpus-8mb.jsonl.zst")
WORD = re.compile(r"\w+", re.UNICODE)


def read_jsonl(path):
    raw = open(path, "rb")
    if path.endswith(".zst"):
        import zstandard
        raw = zstandard.ZstdDecompressor().stream_reader(raw)
    elif path.endswith(".gz"):
        import gzip
        raw = gzip.open(path)
    for line in io.TextIOWrapper(raw, encoding="utf-8"):
        if line.strip():
            yield json.loads(line)


def is_html(d):
    t = d.get("text", "")
    return d.get("format") == "html" or "<html" in t[:2000].lower() or "<!doctype html" in t[:300].lower()


def tokens(text):
    return collections.Counter(w.lower() for w in WORD.findall(text or ""))


def prf(ours, ref):
    a, b = tokens(ours), tokens(ref)
    common = sum((a & b).values())
    na, nb = sum(a.values()), sum(b.values())
    if na == 0 and nb == 0:
        return 1.0, 1.0, 1.0, a, b
    p = common / na if na else 0.0
    r = common / nb if nb else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f, a, b


def run_millrace(binary, docs, work):
    src = os.path.join(work, "in.jsonl")
    with open(src, "w") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"]}) + "\n")
    spec = os.path.join(work, "clean.yaml")
    out = os.path.join(work, "out")
    with open(spec, "w") as f:
        f.write(f"name: extraction\nsource:\n  files: {src}\nstages:\n  - clean: {{ mode: html }}\nsinks:\n  - jsonl: {out}\n")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([binary, "run", spec, "--quiet", "--no-checks"], capture_output=True, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"pipeline failed: {p.stderr[-2000:]}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    texts = {}
    for root, _, files in os.walk(out):
        if "/_" in root[len(out):]:
            continue
        for name in files:
            if name.endswith(".jsonl"):
                for line in open(os.path.join(root, name), encoding="utf-8"):
                    row = json.loads(line)
                    texts[row["id"]] = row.get("text") or ""
    return texts, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "pipeline"))
    ap.add_argument("--json", help="write per-document figures here")
    a = ap.parse_args()
    import trafilatura

    docs = [d for d in read_jsonl(a.corpus) if is_html(d)]
    with tempfile.TemporaryDirectory(prefix="extraction-") as work:
        ours, our_cpu = run_millrace(a.bin, docs, work)
    t0 = time.process_time()
    ref = {d["id"]: trafilatura.extract(d["text"], favor_precision=True, include_comments=False, deduplicate=True) or "" for d in docs}
    ref_cpu = time.process_time() - t0

    rows = []
    for d in docs:
        p, r, f, a_tok, b_tok = prf(ours.get(d["id"], ""), ref[d["id"]])
        only_ours = [w for w, _ in (a_tok - b_tok).most_common(8)]
        only_ref = [w for w, _ in (b_tok - a_tok).most_common(8)]
        rows.append({"id": d["id"], "precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3),
                     "our_tokens": sum(a_tok.values()), "ref_tokens": sum(b_tok.values()),
                     "only_ours": only_ours, "only_trafilatura": only_ref, "dropped_by_us": d["id"] not in ours})
    n = len(rows)
    mean = lambda k: sum(r[k] for r in rows) / max(n, 1)
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    print(f"{n} HTML documents, {mb:.1f} MB, from {os.path.relpath(a.corpus, ROOT)}")
    print(f"token precision {mean('precision'):.3f}  recall {mean('recall'):.3f}  F1 {mean('f1'):.3f} (mean over documents; reference: Trafilatura favor_precision)")
    kept = [r for r in rows if r["ref_tokens"] > 0]
    print(f"without the documents Trafilatura found no text in: F1 {sum(r['f1'] for r in kept) / max(len(kept), 1):.3f} over {len(kept)}")
    print(f"documents with F1 >= 0.9: {sum(r['f1'] >= 0.9 for r in rows)} of {n}; Trafilatura found no text in {sum(1 for d in docs if not ref[d['id']])}")
    print(f"CPU-seconds: millrace {our_cpu:.2f} (whole run, startup included; {os.path.basename(a.bin)} at {a.bin}), trafilatura {ref_cpu:.2f}: "
          f"{ref_cpu / max(our_cpu, 1e-9):.1f}x per CPU-second")
    print("\n10 documents where the two disagree most (lowest F1):")
    print("id | P | R | F1 | our tokens | trafilatura tokens | only we kept | only Trafilatura kept")
    for r in sorted(rows, key=lambda r: r["f1"])[:10]:
        print(f"{r['id']} | {r['precision']} | {r['recall']} | {r['f1']} | {r['our_tokens']} | {r['ref_tokens']} | "
              f"{' '.join(r['only_ours'])} | {' '.join(r['only_trafilatura'])}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"documents": rows, "f1": mean("f1"), "precision": mean("precision"), "recall": mean("recall"),
                       "millrace_cpu_s": our_cpu, "trafilatura_cpu_s": ref_cpu}, f, indent=1)


if __name__ == "__main__":
    main()
