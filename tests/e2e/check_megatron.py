#!/usr/bin/env python3
"""Independent check of a Millrace Megatron sink: reads every committed .bin/.idx shard with numpy
per the published Megatron-LM format (MMIDIDX header, version 1, dtype code, sequence/document counts,
int32 lengths, int64 pointers, int64 document indices), tokenises the texts of the Parquet sink written
by the same run with the Python `tokenizers` package, and requires the same id sequences.
Usage: check_megatron.py MEGATRON_DIR PARQUET_DIR TOKENIZER_JSON [eos_id]"""
import json, os, sys
import numpy as np
import pyarrow.dataset as ds
from tokenizers import Tokenizer

meg, pq_dir, tok_path = sys.argv[1], sys.argv[2], sys.argv[3]
eos = int(sys.argv[4]) if len(sys.argv) > 4 else None
DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32, 8: np.uint16}

def read_shard(stem):
    idx = open(stem + ".idx", "rb").read()
    assert idx[:9] == b"MMIDIDX\x00\x00", "bad magic"
    version = np.frombuffer(idx, np.uint64, 1, 9)[0]
    assert version == 1, version
    dtype = DTYPES[idx[17]]
    n_seq = int(np.frombuffer(idx, np.uint64, 1, 18)[0])
    n_doc = int(np.frombuffer(idx, np.uint64, 1, 26)[0])
    off = 34
    lengths = np.frombuffer(idx, np.int32, n_seq, off); off += 4 * n_seq
    pointers = np.frombuffer(idx, np.int64, n_seq, off); off += 8 * n_seq
    docs = np.frombuffer(idx, np.int64, n_doc, off)
    assert docs[0] == 0 and docs[-1] == n_seq, (docs[:3], n_seq)
    data = np.memmap(stem + ".bin", dtype=dtype, mode="r")
    size = np.dtype(dtype).itemsize
    return [tuple(int(x) for x in data[p // size: p // size + l]) for p, l in zip(pointers, lengths)]

seqs = []
for name in sorted(os.listdir(os.path.join(meg, "_manifest"))):
    m = json.load(open(os.path.join(meg, "_manifest", name)))
    for f in m["files"]:
        if f["path"].endswith(".bin"):
            seqs += read_shard(os.path.join(meg, f["path"][:-4]))

tok = Tokenizer.from_file(tok_path)
tok.no_truncation(); tok.no_padding()
texts = ds.dataset(pq_dir, format="parquet").to_table(columns=["text"]).column("text").to_pylist()
expected = []
for t in texts:
    ids = tok.encode(t, add_special_tokens=False).ids
    if eos is not None:
        ids = ids + [eos]
    expected.append(tuple(ids))
assert len(seqs) == len(expected), (len(seqs), len(expected))
assert sorted(seqs) == sorted(expected), "token ids differ from Hugging Face tokenizers"
print(json.dumps({"documents": len(seqs), "tokens": sum(map(len, seqs))}))
