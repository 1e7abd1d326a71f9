#!/usr/bin/env python3
"""Writes the bundled web-archive samples from the HTML documents of the labelled corpus.

pipelines/data/sample.warc.gz: Common Crawl's layout, one gzip member per record: a warcinfo
record, then per HTML document a request and a response record (HTTP/1.1 head, declared charset
UTF-8 or, for every fifth document, windows-1252 with the body encoded so), a metadata record after
every tenth response, one image response (not text: skipped) and two responses whose bodies are not
valid in their declared charset (rejected). pipelines/data/sample.wet.gz: one conversion record per
plain-text document. pipelines/data/sample.warc.json: what a reader must find (records by kind, the
SHA-256 of each good document's text by record id), so tests check the reader against the source,
not against itself.

Deterministic: same corpus in, same bytes out. Usage: scripts/make_warc_sample.py [--docs 60]
"""
import argparse, gzip, hashlib, io, json, os, uuid

import zstandard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "crates/millrace-dedupe/tests/data/corpus-8mb.jsonl.zst")
OUT = os.path.join(ROOT, "pipelines/data")
NS = uuid.UUID("6f1d3a52-9c0e-4c3b-8a55-3f6e2b1c0d42")


def member(kind, rid, date, uri, body, extra=()):
    head = [
        "WARC/1.1",
        f"WARC-Type: {kind}",
        f"WARC-Date: {date}",
        f"WARC-Record-ID: <urn:uuid:{rid}>",
    ]
    if uri:
        head.append(f"WARC-Target-URI: {uri}")
    head += list(extra)
    head.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body + b"\r\n\r\n"
    buf = io.BytesIO()
    # mtime=0 keeps the output byte-identical between runs.
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(raw)
    return buf.getvalue()


def http(status, ctype, body):
    return f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=60)
    a = ap.parse_args()
    docs = [json.loads(l) for l in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(CORPUS, "rb")), encoding="utf-8")]
    html = [d for d in docs if "<html" in d["text"][:2000].lower() or "<!doctype" in d["text"][:200].lower()][: a.docs]
    plain = [d for d in docs if d not in html and d.get("format") != "html"][:40]
    rid = lambda *k: uuid.uuid5(NS, "/".join(map(str, k)))
    date = "2026-11-01T00:00:00Z"
    out, expect = [], {"records": {}, "documents": {}, "rejected": [], "skipped": 0}
    count = lambda k: expect["records"].__setitem__(k, expect["records"].get(k, 0) + 1)
    out.append(member("warcinfo", rid("info"), date, None, b"software: millrace make_warc_sample.py\r\nformat: WARC File Format 1.1\r\n",
                      ["Content-Type: application/warc-fields"]))
    count("warcinfo")
    for i, d in enumerate(html):
        uri = d.get("url") or f"https://example.org/doc/{d['id']}"
        out.append(member("request", rid(d["id"], "req"), date, uri, f"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n".encode(),
                          ["Content-Type: application/http; msgtype=request"]))
        count("request")
        text, charset = d["text"], "utf-8"
        if i % 5 == 1:
            try:
                body, charset = text.encode("cp1252"), "windows-1252"
            except UnicodeEncodeError:
                body = text.encode("utf-8")
        else:
            body = text.encode("utf-8")
        r = rid(d["id"], "resp")
        out.append(member("response", r, date, uri, http("200 OK", f"text/html; charset={charset}", body),
                          ["Content-Type: application/http; msgtype=response"]))
        count("response")
        expect["documents"][f"<urn:uuid:{r}>"] = {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(), "charset": charset, "url": uri}
        if i % 10 == 9:
            out.append(member("metadata", rid(d["id"], "meta"), date, uri, b"fetchTimeMs: 120\r\n", ["Content-Type: application/warc-fields"]))
            count("metadata")
    # Not text: passed over.
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    out.append(member("response", rid("image"), date, "https://example.org/logo.png", http("200 OK", "image/png", png),
                      ["Content-Type: application/http; msgtype=response"]))
    count("response")
    # Bodies that are not what they declare: rejected with their offset.
    for k, body in enumerate([b"<html><body>caf\xe9 cr\xe8me</body></html>", b"<html><body>\xff\xfe\xfd</body></html>"]):
        out.append(member("response", rid("bad", k), date, f"https://example.org/bad/{k}", http("200 OK", "text/html; charset=utf-8", body),
                          ["Content-Type: application/http; msgtype=response"]))
        count("response")
        expect["rejected"].append(f"<urn:uuid:{rid('bad', k)}>")
    expect["skipped"] = sum(v for k, v in expect["records"].items() if k != "response") + 1
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "sample.warc.gz"), "wb") as f:
        f.write(b"".join(out))
    wet, wexpect = [], {}
    for d in plain:
        r = rid(d["id"], "wet")
        wet.append(member("conversion", r, date, d.get("url") or f"https://example.org/doc/{d['id']}", d["text"].encode("utf-8"),
                          ["Content-Type: text/plain"]))
        wexpect[f"<urn:uuid:{r}>"] = hashlib.sha256(d["text"].encode("utf-8")).hexdigest()
    with open(os.path.join(OUT, "sample.wet.gz"), "wb") as f:
        f.write(member("warcinfo", rid("wetinfo"), date, None, b"software: millrace\r\n") + b"".join(wet))
    expect["wet"] = {"documents": wexpect, "skipped": 1}
    with open(os.path.join(OUT, "sample.warc.json"), "w") as f:
        json.dump(expect, f, indent=1, sort_keys=True)
    print(f"{len(html)} HTML documents, {len(plain)} text documents; records {expect['records']}")


if __name__ == "__main__":
    main()
