"""Reads a Delta table with the `deltalake` package (an independent reader) and prints what the
tests assert on, as one JSON object: the newest version, rows and ids (with duplicates), columns,
partition columns, table properties,
the history's operations, the txn version of each appId asked for, the rows of each older version
asked for, and whether every file the log lists exists.

usage: check_delta.py TABLE_URI [--app APP_ID]... [--at VERSION]...
Storage options for S3 and Azure come from the environment (as the tests set it)."""

import argparse
import collections
import json
import os
import sys

from deltalake import DeltaTable


def storage_options(uri):
    if uri.startswith("s3://"):
        return {
            "AWS_ENDPOINT_URL": os.environ["MILLRACE_TEST_S3_ENDPOINT"],
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
        }
    if uri.startswith("az://"):
        return {"use_emulator": "true", "AZURE_STORAGE_USE_EMULATOR": "true"}
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("uri")
    p.add_argument("--app", action="append", default=[])
    p.add_argument("--at", action="append", type=int, default=[])
    a = p.parse_args()
    opts = storage_options(a.uri)
    dt = DeltaTable(a.uri, storage_options=opts)
    table = dt.to_pyarrow_table()
    ids = [str(x) for x in table.column("id").to_pylist()] if "id" in table.column_names else []
    dups = sorted(k for k, n in collections.Counter(ids).items() if n > 1)
    files = dt.file_uris()
    missing = []
    if a.uri.startswith("/") or a.uri.startswith("file://"):
        missing = [f for f in files if not os.path.exists(f.removeprefix("file://"))]
    history = dt.history()
    out = {
        "version": dt.version(),
        "rows": table.num_rows,
        "ids": len(set(ids)),
        "duplicates": dups[:20],
        "columns": table.column_names,
        "partition_columns": dt.metadata().partition_columns,
        "configuration": dt.metadata().configuration,
        "files": len(files),
        "missing_files": missing,
        "operations": [h.get("operation") for h in sorted(history, key=lambda h: h["version"])],
        "txn": {app: dt.transaction_version(app) for app in a.app},
        "rows_at": {str(v): DeltaTable(a.uri, version=v, storage_options=opts).to_pyarrow_table().num_rows for v in a.at},
    }
    if "lang" in table.column_names:
        out["langs"] = sorted({str(x) for x in table.column("lang").to_pylist()})
    json.dump(out, sys.stdout)
    sys.stdout.flush()
    # deltalake's runtime threads can abort the interpreter's teardown ("terminate called without an
    # active exception"); everything is written by now.
    os._exit(0)


if __name__ == "__main__":
    main()
