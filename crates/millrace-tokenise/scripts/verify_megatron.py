#!/usr/bin/env python3
"""Check Megatron-LM indexed-dataset shards written by Millrace against expected token ids.

    python3 scripts/verify_megatron.py EXPECTED.json

EXPECTED.json: {"shards": [{"prefix": "/path/tokens_000000_00000", "dtype": "uint16",
                            "docs": [[id, ...], ...]}, ...]}

Each shard is read independently of Millrace, following the layout of Megatron-LM's
megatron/core/datasets/indexed_dataset.py (_IndexWriter/_IndexReader): the .idx header is
parsed with `struct`, its arrays and the .bin are read with numpy (memmap). If megatron-core is
importable, its IndexedDataset reads the shard as well. Exit status 0 means every check passed.
"""
import json
import struct
import sys

import numpy

MAGIC = b"MMIDIDX\x00\x00"
CODES = {1: numpy.uint8, 2: numpy.int8, 3: numpy.int16, 4: numpy.int32, 5: numpy.int64,
         6: numpy.float64, 7: numpy.float32, 8: numpy.uint16}


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check_shard(shard):
    prefix, docs = shard["prefix"], shard["docs"]
    want_dtype = numpy.dtype(shard["dtype"])
    with open(prefix + ".idx", "rb") as fh:
        if fh.read(9) != MAGIC:
            fail(f"{prefix}.idx: bad magic")
        (version,) = struct.unpack("<Q", fh.read(8))
        (code,) = struct.unpack("<B", fh.read(1))
        (seq_count,) = struct.unpack("<Q", fh.read(8))
        (doc_count,) = struct.unpack("<Q", fh.read(8))
        offset = fh.tell()
    if version != 1:
        fail(f"{prefix}: version {version}")
    if code not in CODES or numpy.dtype(CODES[code]) != want_dtype:
        fail(f"{prefix}: dtype code {code}, expected {want_dtype}")
    dtype = CODES[code]
    if seq_count != len(docs) or doc_count != len(docs) + 1:
        fail(f"{prefix}: counts {seq_count}/{doc_count} for {len(docs)} docs")

    idx = numpy.memmap(prefix + ".idx", mode="r", order="C")
    lengths = numpy.frombuffer(idx, dtype=numpy.int32, count=seq_count, offset=offset)
    pointers = numpy.frombuffer(idx, dtype=numpy.int64, count=seq_count, offset=offset + lengths.nbytes)
    doc_idx = numpy.frombuffer(idx, dtype=numpy.int64, count=doc_count,
                               offset=offset + lengths.nbytes + pointers.nbytes)
    if offset + lengths.nbytes + pointers.nbytes + doc_idx.nbytes != idx.size:
        fail(f"{prefix}.idx: {idx.size} bytes, arrays end elsewhere")
    if not numpy.array_equal(doc_idx, numpy.arange(len(docs) + 1, dtype=numpy.int64)):
        fail(f"{prefix}: document indices {doc_idx[:10]}...")
    itemsize = numpy.dtype(dtype).itemsize
    expected_ptr = numpy.concatenate([[0], numpy.cumsum(lengths.astype(numpy.int64))[:-1]]) * itemsize
    if seq_count and not numpy.array_equal(pointers, expected_ptr):
        fail(f"{prefix}: pointers are not the running byte offsets")

    bin_ = numpy.memmap(prefix + ".bin", dtype=dtype, mode="r", order="C")
    if bin_.size != int(lengths.sum()):
        fail(f"{prefix}.bin: {bin_.size} tokens, index says {int(lengths.sum())}")
    for i, want in enumerate(docs):
        start = int(pointers[i]) // itemsize
        got = bin_[start:start + int(lengths[i])]
        if got.tolist() != want:
            fail(f"{prefix}: document {i} differs: {got[:8].tolist()}... vs {want[:8]}...")
    tokens = int(lengths.sum())

    try:
        from megatron.core.datasets.indexed_dataset import IndexedDataset
    except Exception as exc:  # noqa: BLE001 - optional reader, any import failure means "absent"
        return tokens, f"megatron-core not importable ({type(exc).__name__}), numpy checks only"
    ds = IndexedDataset(prefix, mmap=True)
    if len(ds) != len(docs):
        fail(f"{prefix}: IndexedDataset has {len(ds)} sequences")
    for i, want in enumerate(docs):
        if ds[i].tolist() != want:
            fail(f"{prefix}: IndexedDataset document {i} differs")
    return tokens, "also read by megatron-core IndexedDataset"


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    spec = json.load(open(sys.argv[1]))
    notes = set()
    total_docs = total_tokens = 0
    for shard in spec["shards"]:
        tokens, note = check_shard(shard)
        notes.add(note)
        total_docs += len(shard["docs"])
        total_tokens += tokens
    print(f"OK {len(spec['shards'])} shards, {total_docs} documents, {total_tokens} tokens; {'; '.join(sorted(notes))}")


if __name__ == "__main__":
    main()
