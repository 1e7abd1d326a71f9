"""Independent check of a sink's committed output: reads every file its _manifest/ lists with pyarrow
(local disk or S3), and the whole location as the hive dataset a user would read, and prints the row
counts and the ids that occur more than once.

usage: check_exactly_once.py KIND URL [S3_ENDPOINT]   (KIND: parquet | jsonl)
"""
import json
import sys

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pyarrow.parquet as pq

kind, url = sys.argv[1], sys.argv[2].rstrip("/")
if url.startswith("s3://"):
    fs = pafs.S3FileSystem(endpoint_override=sys.argv[3], scheme="http", access_key="test", secret_key="test", region="us-east-1")
    root = url[len("s3://"):]
else:
    fs = pafs.LocalFileSystem()
    root = url

# Scale-out lanes keep their manifests in _manifest/<lane>/.
manifests = [
    m for m in fs.get_file_info(pafs.FileSelector(root + "/_manifest", recursive=True, allow_not_found=True))
    if m.type == pafs.FileType.File and m.path.endswith(".json")
]
ids, listed = [], set()
for m in sorted(manifests, key=lambda i: i.path):
    with fs.open_input_stream(m.path) as f:
        man = json.loads(f.read())
    for entry in man["files"]:
        path = root + "/" + entry["path"]
        listed.add(path)
        if kind == "parquet":
            t = pq.read_table(path, filesystem=fs)
        else:
            with fs.open_input_stream(path) as f:
                t = pajson.read_json(f)
        assert t.num_rows == entry["rows"], (path, t.num_rows, entry["rows"])
        ids.extend(t.column("id").to_pylist())

seen, dups = set(), set()
for i in ids:
    (dups if i in seen else seen).add(i)

# Every data file below the root (outside `_` directories) must be listed by a manifest.
files = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
unlisted = [
    f.path for f in files
    if f.type == pafs.FileType.File
    and not any(part.startswith("_") for part in f.path[len(root) + 1:].split("/"))
    and f.path not in listed
]
out = {"rows": len(ids), "unique_ids": len(seen), "duplicated": sorted(dups)[:10], "unlisted": unlisted[:10]}
if kind == "parquet":
    out["dataset_rows"] = ds.dataset(root, filesystem=fs, format="parquet", partitioning="hive").to_table().num_rows
print(json.dumps(out))
