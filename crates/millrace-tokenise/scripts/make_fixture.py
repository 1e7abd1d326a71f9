#!/usr/bin/env python3
"""Build the Hugging Face parity fixture for millrace-tokenise (run once; the output is committed).

    pip install tokenizers==0.23.3 zstandard
    python3 scripts/make_fixture.py [--corpus /work/shared/bench/parity/corpus.jsonl.zst]

Writes into tests/data/:
  * tokenise_docs.jsonl.zst  ~300 documents (id, lang, text), each cut to --max-chars characters,
    plus a handful of hand-written edge cases (empty text, literal special-token text, emoji, ...);
  * expected_<name>.jsonl.zst  one line per document: {"id", "ids"} from the Python `tokenizers`
    package with add_special_tokens=False, and "ids_special" (add_special_tokens=True) for the first
    --special-docs documents.
Truncation and padding that a tokenizer.json turns on are switched off, as Millrace does.
"""
import argparse
import hashlib
import io
import json
import os
import random
import shutil
import sys

import tokenizers
import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")
FIXTURES = "/work/shared/bench/fixtures"
TOKENIZERS = {
    "gpt2": "gpt2-bytelevel-bpe.tokenizer.json",
    "bert": "bert-wordpiece-minilm.tokenizer.json",
}

EDGE_CASES = [
    ("edge-empty", ""),
    ("edge-space", "   "),
    ("edge-newlines", "\n\n\r\n\t\n"),
    ("edge-special-literal", "before <|endoftext|> after [CLS] x [SEP] y [UNK] z [PAD]"),
    ("edge-emoji", "Tokens 🙂👍🏽 and ZWJ 👩‍👩‍👧 family; flags 🇩🇪🇯🇵."),
    ("edge-combining", "e\u0301 vs \u00e9, Å vs A\u030a, ﬁ ligature, ＦＵＬＬ width, ½ ™"),
    ("edge-long-word", "x" * 3000 + " " + "ab" * 700),
    ("edge-control", "nul\u0000byte, bell\u0007, del\u007f, bom\ufeff, nbsp\u00a0end"),
    ("edge-mixed-scripts", "Привет мир, こんにちは世界, 你好，世界, مرحبا بالعالم, שלום עולם, नमस्ते"),
    ("edge-code", "fn main() {\n    let x: Vec<u32> = (0..10).map(|i| i * 2).collect();\n}\n"),
]


def read_corpus(path):
    with open(path, "rb") as fh:
        reader = zstandard.ZstdDecompressor().stream_reader(fh)
        return [json.loads(line) for line in io.TextIOWrapper(reader, encoding="utf-8")]


def write_jsonl_zst(path, rows):
    raw = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows)
    with open(path, "wb") as fh:
        fh.write(zstandard.ZstdCompressor(level=19).compress(raw.encode("utf-8")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/work/shared/bench/parity/corpus.jsonl.zst")
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--max-chars", type=int, default=4000)
    ap.add_argument("--special-docs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if tokenizers.__version__ != "0.23.3":
        print(f"warning: tokenizers {tokenizers.__version__}, fixture was made with 0.23.3", file=sys.stderr)

    os.makedirs(DATA, exist_ok=True)
    rows = read_corpus(args.corpus)
    # Keep every HTML page (few, but the markup is a distinct case), sample the rest.
    html = [r for r in rows if r.get("format") == "html"]
    rest = [r for r in rows if r.get("format") != "html"]
    picked = html + random.Random(args.seed).sample(rest, args.docs - len(html))
    docs = [{"id": r["id"], "lang": r.get("lang"), "text": r["text"][: args.max_chars]} for r in picked]
    docs += [{"id": i, "lang": None, "text": t} for i, t in EDGE_CASES]
    write_jsonl_zst(os.path.join(DATA, "tokenise_docs.jsonl.zst"), docs)
    texts = [d["text"] for d in docs]

    meta = json.load(open(os.path.join(FIXTURES, "TOKENIZERS.json")))
    for name, fname in TOKENIZERS.items():
        src = os.path.join(FIXTURES, fname)
        dst = os.path.join(DATA, fname)
        shutil.copyfile(src, dst)
        digest = hashlib.sha256(open(dst, "rb").read()).hexdigest()
        assert digest == meta[fname]["sha256"], f"{fname}: sha256 mismatch"
        tok = tokenizers.Tokenizer.from_file(dst)
        tok.no_truncation()
        tok.no_padding()
        plain = tok.encode_batch(texts, add_special_tokens=False)
        special = tok.encode_batch(texts[: args.special_docs], add_special_tokens=True)
        out = []
        for i, (d, enc) in enumerate(zip(docs, plain)):
            row = {"id": d["id"], "ids": enc.ids}
            if i < len(special):
                row["ids_special"] = special[i].ids
            out.append(row)
        write_jsonl_zst(os.path.join(DATA, f"expected_{name}.jsonl.zst"), out)
        print(name, sum(len(e.ids) for e in plain), "tokens over", len(texts), "docs")


if __name__ == "__main__":
    main()
