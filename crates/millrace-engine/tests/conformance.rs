//! One storage conformance suite, run on every backend: local disk always, S3 (moto) and Azure
//! (Azurite) when `scripts/test` has started them. With MILLRACE_REQUIRE_SERVICES=1 a missing
//! service is a failure, not a skip.

use futures::TryStreamExt;
use millrace_connectors::commit;
use millrace_connectors::store::{Location, StoreRegistry};
use object_store::{ObjectStoreExt, PutPayload};
use std::io::Write;

mod common;
use common::Backend;
use common::backends;

fn docs(prefix: &str, n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("{prefix}-{i}"),
                "text": format!("Document {i} of {prefix}: the quick brown fox jumps over the lazy dog, ünïcödé ✓."),
                "lang": if i % 3 == 0 { "de" } else { "en" },
                "n": i,
            })
        })
        .collect()
}

fn jsonl(d: &[serde_json::Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in d {
        serde_json::to_writer(&mut out, v).unwrap();
        out.push(b'\n');
    }
    out
}

fn parquet_bytes(d: &[serde_json::Value]) -> Vec<u8> {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, true),
        Field::new("lang", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let s = |k: &str| StringArray::from(d.iter().map(|v| v[k].as_str().unwrap().to_string()).collect::<Vec<_>>());
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(s("id")),
            std::sync::Arc::new(s("text")),
            std::sync::Arc::new(s("lang")),
            std::sync::Arc::new(Int64Array::from(d.iter().map(|v| v["n"].as_i64().unwrap()).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    buf
}

async fn put(reg: &StoreRegistry, url: &str, bytes: Vec<u8>) {
    let l = reg.resolve(url).unwrap();
    l.store.put(&l.path, PutPayload::from(bytes)).await.unwrap();
}

fn spec(b: &Backend, input: &str, out: &str, extra: &str) -> millrace_spec::LoadedSpec {
    let text = format!(
        "name: conformance\nsource:\n  files: {input}\n  id_field: id\n  epoch_bytes: 2KiB\n  split_bytes: 1500\nstages:\n  - sql: SELECT id, text, lang FROM input\nsinks:\n  - parquet: {out}\n    target_file_size: 4KiB\n{extra}{}",
        b.storage_yaml
    );
    millrace_spec::load_str(&text, "conformance.yaml", &[]).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Reads every committed row id of a Parquet sink through its manifests.
async fn committed_ids(reg: &StoreRegistry, out: &str) -> Vec<String> {
    let base: Location = reg.resolve(out).unwrap();
    let mut ids = Vec::new();
    for m in commit::read_manifests(&base).await.unwrap() {
        for f in m.files {
            let l = base.child(&f.path);
            let bytes = l.store.get(&l.path).await.unwrap().bytes().await.unwrap();
            let r = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 1024).unwrap();
            for b in r {
                let b = b.unwrap();
                let c = b.column_by_name("id").unwrap().as_any().downcast_ref::<arrow::array::StringArray>().unwrap().clone();
                ids.extend(c.iter().map(|s| s.unwrap().to_string()));
            }
        }
    }
    ids.sort();
    ids
}

async fn conformance(b: &Backend) {
    let reg = StoreRegistry::new(spec(b, "x.jsonl", "y", "").spec.storage.clone());
    let input = format!("{}/in", b.root);
    let out = format!("{}/out", b.root);

    // Every format and compression, plus malformed records.
    let a = docs("a", 40);
    let mut bad = jsonl(&a[..20]);
    bad.extend_from_slice(b"{\"id\": \"broken\", \"text\": \n");
    bad.extend_from_slice(b"{\"id\": \"notext\"}\n");
    bad.extend_from_slice(b"{\"id\": \"utf8\", \"text\": \"caf\xe9\"}\n");
    bad.extend_from_slice(&jsonl(&a[20..]));
    put(&reg, &format!("{input}/a.jsonl"), bad).await;
    let g = docs("g", 15);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&jsonl(&g)).unwrap();
    put(&reg, &format!("{input}/b.jsonl.gz"), gz.finish().unwrap()).await;
    let z = docs("z", 15);
    put(&reg, &format!("{input}/c.jsonl.zst"), zstd::encode_all(&jsonl(&z)[..], 3).unwrap()).await;

    let s = spec(b, &format!("{input}/*.jsonl*"), &out, "");
    let sum = millrace_engine::run(&s, Default::default()).await.unwrap_or_else(|e| panic!("{}: {e}", b.name));
    assert_eq!(sum.rows_read, 73, "{}: {sum:?}", b.name);
    assert_eq!(sum.rows_written, 70, "{}", b.name);
    assert_eq!(sum.rows_rejected, 3, "{}", b.name);
    assert!(sum.reconciled, "{}", b.name);
    assert!(sum.epochs_committed >= 2, "{}: small epoch_bytes must give several epochs", b.name);
    let ids = committed_ids(&reg, &out).await;
    assert_eq!(ids.len(), 70, "{}", b.name);
    let mut expect: Vec<String> = a.iter().chain(&g).chain(&z).map(|v| v["id"].as_str().unwrap().to_string()).collect();
    expect.sort();
    assert_eq!(ids, expect, "{}: every good row exactly once (byte-range splits must neither lose nor repeat lines)", b.name);

    // Rejects are committed JSONL naming file, line and reason.
    let rej_base = reg.resolve(&format!("{out}/_rejects")).unwrap();
    let mut rejects = Vec::new();
    for m in commit::read_manifests(&rej_base).await.unwrap() {
        for f in m.files {
            let l = rej_base.child(&f.path);
            let bytes = l.store.get(&l.path).await.unwrap().bytes().await.unwrap();
            for line in bytes.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                rejects.push(serde_json::from_slice::<serde_json::Value>(line).unwrap());
            }
        }
    }
    assert_eq!(rejects.len(), 3, "{}: {rejects:?}", b.name);
    let reasons: Vec<&str> = rejects.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.starts_with("invalid_json")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("missing_text_field")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("invalid_utf8")), "{reasons:?}");
    // Each keeps the id its record carries, read as far as the record parses.
    let mut ids: Vec<&str> = rejects.iter().filter_map(|r| r["id"].as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["broken", "notext", "utf8"], "{}: {rejects:?}", b.name);
    assert!(rejects.iter().all(|r| r["source"].as_str().unwrap().ends_with("a.jsonl") && r["offset"].is_u64()));

    // Resume: nothing new to do; a new file is picked up alone.
    let again = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert_eq!(again.rows_read, 0, "{}: committed units must not be read again", b.name);
    let d = docs("d", 5);
    put(&reg, &format!("{input}/d.jsonl"), jsonl(&d)).await;
    let more = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert_eq!(more.rows_written, 5, "{}", b.name);
    assert_eq!(committed_ids(&reg, &out).await.len(), 75, "{}", b.name);

    // A crash after publishing files but before the checkpoint: the next run removes that epoch's
    // files and manifests, then re-does the work once.
    let base = reg.resolve(&out).unwrap();
    let last = commit::read_checkpoints(&reg.resolve(&format!("{out}/_millrace")).unwrap()).await.unwrap().iter().map(|c| c.epoch).max().unwrap();
    let ghost = base.child(&format!("part-{:06}-000-0000.parquet", last + 1));
    ghost.store.put(&ghost.path, PutPayload::from(parquet_bytes(&docs("ghost", 3)))).await.unwrap();
    // A run publishes only after recording what it publishes (and repair deletes only what such a
    // record lists), so the crash leaves that record behind as well.
    let state = reg.resolve(&format!("{out}/_millrace")).unwrap();
    let pending = commit::PendingCommit {
        epoch: last + 1,
        run_id: "crashed".into(),
        sinks: vec![commit::PendingSink { url: base.url(), files: vec![format!("part-{:06}-000-0000.parquet", last + 1)] }],
    };
    commit::write_pending(&state, &pending).await.unwrap();
    let stray = base.child("_staging/epoch-000099/part-000099-000-0000.parquet");
    stray.store.put(&stray.path, PutPayload::from(vec![1, 2, 3])).await.unwrap();
    let e = docs("e", 4);
    put(&reg, &format!("{input}/e.jsonl"), jsonl(&e)).await;
    let after = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert_eq!(after.rows_written, 4);
    let listed: Vec<_> = base.store.list(Some(&base.path)).try_collect().await.unwrap();
    assert!(!listed.iter().any(|m| m.location.as_ref().contains("_staging/")), "{}: staging left behind", b.name);
    let ids = committed_ids(&reg, &out).await;
    assert_eq!(ids.len(), 79, "{}", b.name);
    assert!(!ids.iter().any(|i| i.starts_with("ghost")));

    // Parquet input, text input, CSV input, each through the same path.
    let pin = format!("{}/pin", b.root);
    put(&reg, &format!("{pin}/p.parquet"), parquet_bytes(&docs("p", 30))).await;
    let pout = format!("{}/pout", b.root);
    let ps = spec(b, &format!("{pin}/"), &pout, "");
    let sum = millrace_engine::run(&ps, Default::default()).await.unwrap();
    assert_eq!((sum.rows_read, sum.rows_written), (30, 30), "{}: parquet", b.name);

    let tin = format!("{}/tin", b.root);
    put(&reg, &format!("{tin}/one.txt"), "first document\nstill the first".as_bytes().to_vec()).await;
    put(&reg, &format!("{tin}/two.txt.zst"), zstd::encode_all("second document".as_bytes(), 3).unwrap()).await;
    let tout = format!("{}/tout", b.root);
    let text = format!(
        "name: t\nsource:\n  files: {tin}/*\n  format: text\nsinks:\n  - parquet: {tout}\n{}",
        b.storage_yaml
    );
    let ts = millrace_spec::load_str(&text, "t.yaml", &[]).unwrap();
    let sum = millrace_engine::run(&ts, Default::default()).await.unwrap();
    assert_eq!((sum.rows_read, sum.rows_written), (2, 2), "{}: text", b.name);

    let cin = format!("{}/cin", b.root);
    put(&reg, &format!("{cin}/c.csv"), b"id,text,score\nc1,hello world,1.5\nc2,\"quoted, text\",2\n".to_vec()).await;
    let cout = format!("{}/cout", b.root);
    let text = format!("name: c\nsource:\n  files: {cin}/c.csv\nsinks:\n  - jsonl: {cout}\n    compression: zstd\n{}", b.storage_yaml);
    let cs = millrace_spec::load_str(&text, "c.yaml", &[]).unwrap();
    let sum = millrace_engine::run(&cs, Default::default()).await.unwrap();
    assert_eq!((sum.rows_read, sum.rows_written), (2, 2), "{}: csv", b.name);
    let cbase = reg.resolve(&cout).unwrap();
    let m = commit::read_manifests(&cbase).await.unwrap();
    let f = &m[0].files[0];
    assert!(f.path.ends_with(".jsonl.zst"));
    let l = cbase.child(&f.path);
    let body = l.store.get(&l.path).await.unwrap().bytes().await.unwrap();
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&body)), f.sha256, "manifest checksum matches the object");
    let plain = String::from_utf8(zstd::decode_all(&body[..]).unwrap()).unwrap();
    assert!(plain.contains("quoted, text"), "{plain}");
}

/// Rejected rows of a sink's committed rejects, by id: (reason, the row's `duplicate_of`).
async fn rejected(reg: &StoreRegistry, out: &str) -> std::collections::BTreeMap<String, (String, String)> {
    let base = reg.resolve(&format!("{out}/_rejects")).unwrap();
    let mut got = std::collections::BTreeMap::new();
    for m in commit::read_manifests(&base).await.unwrap() {
        for f in m.files {
            let l = base.child(&f.path);
            let bytes = l.store.get(&l.path).await.unwrap().bytes().await.unwrap();
            for line in bytes.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                let r: serde_json::Value = serde_json::from_slice(line).unwrap();
                let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                // A stage reject holds its row as JSON; a source reject, the raw record.
                let row: serde_json::Value = serde_json::from_str(&s("record")).unwrap_or_default();
                got.insert(s("id"), (s("reason"), row["duplicate_of"].as_str().unwrap_or_default().to_string()));
            }
        }
    }
    got
}

/// The persistent dedupe index on the backend: segments are streamed to and from the store (read
/// where they lie on local disk), and a later run drops copies of what an earlier run kept.
async fn dedupe_index(b: &Backend) {
    let reg = StoreRegistry::new(spec(b, "x.jsonl", "y", "").spec.storage.clone());
    let index = format!("{}/dedupe-index", b.root);
    let run = |input: String, out: String| {
        let text = format!(
            "name: dx\nsource:\n  files: {input}\n  id_field: id\n  epoch_bytes: 2KiB\n  split_bytes: 1500\nstages:\n  - dedupe: {{ method: exact, index: {index} }}\nsinks:\n  - jsonl: {out}\n{}",
            b.storage_yaml
        );
        millrace_spec::load_str(&text, "dx.yaml", &[]).unwrap_or_else(|e| panic!("{e}\n{text}"))
    };
    let first = docs("first", 120);
    let mut with_copy = first.clone();
    with_copy.push(serde_json::json!({"id": "first-copy", "text": first[7]["text"]}));
    put(&reg, &format!("{}/dx1/a.jsonl", b.root), jsonl(&with_copy)).await;
    let out1 = format!("{}/dx1-out", b.root);
    let r1 = millrace_engine::run(&run(format!("{}/dx1/*.jsonl", b.root), out1.clone()), Default::default()).await.unwrap();
    assert_eq!((r1.rows_read, r1.rows_written), (121, 120), "{}: {r1:?}", b.name);
    assert!(r1.epochs_committed >= 4, "{}: a segment per epoch: {r1:?}", b.name);
    let manifest = reg.resolve(&format!("{index}/manifest.json")).unwrap();
    let m = millrace_dedupe::IndexManifest::from_bytes(&manifest.store.get(&manifest.path).await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(m.segments.iter().map(|s| s.docs).sum::<u64>(), 120, "{}: kept documents are indexed", b.name);
    // Newer segments are merged into older ones until each holds more documents than all newer
    // ones together (so at most log2(documents) + 1 stay), and what a merge replaced is deleted.
    assert!(m.segments.len() < r1.epochs_committed as usize, "{}: {} segments after {} epochs", b.name, m.segments.len(), r1.epochs_committed);
    for (i, s) in m.segments.iter().enumerate() {
        let newer: u64 = m.segments[i + 1..].iter().map(|s| s.docs.max(1)).sum();
        assert!(i + 1 == m.segments.len() || s.docs > newer, "{}: {:?}", b.name, m.segments);
    }
    let segs = reg.resolve(&format!("{index}/segments")).unwrap();
    let mut stored: Vec<String> = segs.store.list(Some(&segs.path)).map_ok(|o| o.location.filename().unwrap_or_default().to_string()).try_collect().await.unwrap();
    stored.sort();
    let mut listed: Vec<String> = m.segments.iter().map(|s| s.name.clone()).collect();
    listed.sort();
    assert_eq!(stored, listed, "{}: only listed segments are stored", b.name);

    // A second pipeline: five exact copies of first-run documents (new ids) and five new ones.
    let mut second: Vec<serde_json::Value> =
        (0..5).map(|i| serde_json::json!({"id": format!("again-{i}"), "text": first[i * 5]["text"]})).collect();
    second.extend(docs("new", 5));
    put(&reg, &format!("{}/dx2/a.jsonl", b.root), jsonl(&second)).await;
    let out2 = format!("{}/dx2-out", b.root);
    let r2 = millrace_engine::run(&run(format!("{}/dx2/*.jsonl", b.root), out2.clone()), Default::default()).await.unwrap();
    assert_eq!(r2.rows_written, 5, "{}: {r2:?}", b.name);
    let got = rejected(&reg, &out2).await;
    let want: std::collections::BTreeMap<String, (String, String)> =
        (0..5).map(|i| (format!("again-{i}"), ("dedupe:index".to_string(), format!("first-{}", i * 5)))).collect();
    assert_eq!(got, want, "{}: each copy names the document the first run kept", b.name);
}

/// Rows of a Parquet sink through its manifests: id -> (text, charset).
async fn rows_by_id(reg: &StoreRegistry, out: &str) -> std::collections::BTreeMap<String, (String, Option<String>)> {
    use arrow::array::{Array, StringArray};
    let base: Location = reg.resolve(out).unwrap();
    let mut got = std::collections::BTreeMap::new();
    for m in commit::read_manifests(&base).await.unwrap() {
        for f in m.files {
            let l = base.child(&f.path);
            let bytes = l.store.get(&l.path).await.unwrap().bytes().await.unwrap();
            for b in parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 1024).unwrap() {
                let b = b.unwrap();
                let col = |n: &str| b.column_by_name(n).map(|c| c.as_any().downcast_ref::<StringArray>().unwrap().clone());
                let (ids, texts, cs) = (col("id").unwrap(), col("text").unwrap(), col("charset"));
                for i in 0..b.num_rows() {
                    let charset = cs.as_ref().and_then(|c| c.is_valid(i).then(|| c.value(i).to_string()));
                    got.insert(ids.value(i).to_string(), (texts.value(i).to_string(), charset));
                }
            }
        }
    }
    got
}

/// Web archives on the backend: the bundled WARC (one gzip member per record) and WET samples are
/// read a record at a time; every record is accounted for (read = written + rejected + skipped),
/// each document's text equals the source document (SHA-256 from the sample's own description, so
/// charset decoding is checked against the original, not against the reader).
async fn web_archives(b: &Backend) {
    use sha2::Digest;
    let reg = StoreRegistry::new(spec(b, "x.jsonl", "y", "").spec.storage.clone());
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/data");
    let expect: serde_json::Value = serde_json::from_slice(&std::fs::read(data.join("sample.warc.json")).unwrap()).unwrap();
    for name in ["sample.warc.gz", "sample.wet.gz"] {
        put(&reg, &format!("{}/cc/{name}", b.root), std::fs::read(data.join(name)).unwrap()).await;
    }
    // The same records in one gzip member for the whole file: ranges then find no member of their
    // own, and the first range reads it all.
    let whole = {
        let gz = std::fs::read(data.join("sample.warc.gz")).unwrap();
        let raw = flate2::read::MultiGzDecoder::new(&gz[..]);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::copy(&mut std::io::BufReader::new(raw), &mut e).unwrap();
        e.finish().unwrap()
    };
    put(&reg, &format!("{}/cc/one-member.warc.gz", b.root), whole).await;
    let run = |file: &str, out: &str, extra: &str| {
        let text = format!("name: cc\nsource:\n  files: {}/cc/{file}\n{extra}sinks:\n  - parquet: {out}\n{}", b.root, b.storage_yaml);
        millrace_spec::load_str(&text, "cc.yaml", &[]).unwrap_or_else(|e| panic!("{e}\n{text}"))
    };
    let docs = expect["documents"].as_object().unwrap();
    let records: u64 = expect["records"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    // Whole, then in byte ranges at gzip member boundaries (read on both cores, several epochs).
    let split = "  split_bytes: 8KiB\n  epoch_bytes: 96KiB\n";
    for (k, (file, extra)) in [("sample.warc.gz", ""), ("sample.warc.gz", split), ("one-member.warc.gz", split)].into_iter().enumerate() {
        let out = format!("{}/cc-warc-{k}", b.root);
        let sum = millrace_engine::run(&run(file, &out, extra), Default::default()).await.unwrap_or_else(|e| panic!("{}: {e}", b.name));
        assert_eq!(sum.rows_written as usize, docs.len(), "{} {file} {extra}: {sum:?}", b.name);
        assert_eq!(sum.records_skipped, expect["skipped"].as_u64().unwrap(), "{}: {sum:?}", b.name);
        assert_eq!(sum.rows_read + sum.records_skipped, records, "{}: every record accounted for", b.name);
        if !extra.is_empty() && file == "sample.warc.gz" {
            assert!(sum.epochs_committed >= 3, "{}: ranges over several epochs: {sum:?}", b.name);
        }
        let rows = rows_by_id(&reg, &out).await;
        assert_eq!(rows.len(), docs.len(), "{}: each document once", b.name);
        for (id, want) in docs {
            let (text, charset) = rows.get(id).unwrap_or_else(|| panic!("{}: {id} missing", b.name));
            assert_eq!(hex::encode(sha2::Sha256::digest(text.as_bytes())), want["sha256"].as_str().unwrap(), "{}: {id}", b.name);
            assert_eq!(charset.as_deref().map(str::to_ascii_lowercase).as_deref(), want["charset"].as_str(), "{}: {id}", b.name);
        }
        let rej = rejected(&reg, &out).await;
        let mut want: Vec<&str> = expect["rejected"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        want.sort_unstable();
        assert_eq!(rej.keys().map(String::as_str).collect::<Vec<_>>(), want, "{}: rejected by record id", b.name);
        assert!(rej.values().all(|(r, _)| r.starts_with("undecodable")), "{}: {rej:?}", b.name);
    }

    let out = format!("{}/cc-wet", b.root);
    let sum = millrace_engine::run(&run("sample.wet.gz", &out, ""), Default::default()).await.unwrap();
    let wet = expect["wet"]["documents"].as_object().unwrap();
    assert_eq!((sum.rows_written as usize, sum.records_skipped), (wet.len(), 1), "{}: {sum:?}", b.name);
    for (id, (text, _)) in rows_by_id(&reg, &out).await {
        assert_eq!(hex::encode(sha2::Sha256::digest(text.as_bytes())), wet[&id].as_str().unwrap(), "{}: {id}", b.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_all_backends() {
    for b in backends() {
        eprintln!("conformance: {}", b.name);
        conformance(&b).await;
        dedupe_index(&b).await;
        web_archives(&b).await;
    }
}

/// Publishing moves the staged bytes into place exactly and leaves no staged object, both through
/// the store's own copy (checked whole before the source goes) and through the streamed copy that
/// files above the copy limit take (S3's 5 GiB, here one byte). Local disk renames either way.
async fn publish_paths(b: &Backend) {
    let reg = StoreRegistry::new(spec(b, "x.jsonl", "y", "").spec.storage.clone());
    let base = reg.resolve(&format!("{}/publish", b.root)).unwrap();
    let default = match b.name {
        "s3" => commit::S3_COPY_LIMIT,
        "azure" => 0,
        _ => u64::MAX,
    };
    assert_eq!(commit::server_copy_limit(&base), default, "{}", b.name);
    // Past one upload part (10 MiB), so the streamed copy is a multipart upload of two parts.
    let big: Vec<u8> = (0..(10u32 << 20) + 12_345).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let small = b"a small staged file".to_vec();
    let cases = [("server copy", u64::MAX, &small), ("server copy", u64::MAX, &big), ("streamed", 1, &small), ("streamed", 1, &big)];
    for (epoch, (how, limit, body)) in (1u64..).zip(cases) {
        let rel = millrace_connectors::sink::file_name(epoch, 0, 0, "bin");
        let staging = base.child(&format!("{}/{rel}", millrace_connectors::sink::staging_dir(epoch)));
        staging.store.put(&staging.path, PutPayload::from(body.clone())).await.unwrap();
        let f = millrace_connectors::sink::StagedFile {
            path: rel.clone(),
            staging: Some(staging.path.clone()),
            rows: 1,
            bytes: body.len() as u64,
            sha256: String::new(),
            delta_stats: None,
        };
        let m = commit::publish_with(&base, "p", None, "run", epoch, vec![f], None, limit)
            .await
            .unwrap_or_else(|e| panic!("{} {how} of {} bytes: {e}", b.name, body.len()));
        assert_eq!(m.files.len(), 1);
        let dest = base.child(&rel);
        let got = dest.store.get(&dest.path).await.unwrap().bytes().await.unwrap();
        assert!(got[..] == body[..], "{} {how} of {} bytes: published {} bytes that differ", b.name, body.len(), got.len());
        assert!(
            matches!(staging.store.head(&staging.path).await, Err(object_store::Error::NotFound { .. })),
            "{} {how}: the staged object is left behind",
            b.name
        );
    }
    let listed: Vec<_> = base.store.list(Some(&base.path)).try_collect().await.unwrap();
    assert!(!listed.iter().any(|m| m.location.as_ref().contains("_staging/")), "{}: staging left behind", b.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_copies_exactly_on_all_backends() {
    for b in backends() {
        eprintln!("publish: {}", b.name);
        publish_paths(&b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_by_writes_hive_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_string_lossy().to_string();
    let reg = StoreRegistry::default();
    put(&reg, &format!("{root}/in/a.jsonl"), jsonl(&docs("h", 9))).await;
    let text = format!(
        "name: h\nsource:\n  files: {root}/in/a.jsonl\nsinks:\n  - parquet: {root}/out\n    partition_by: [lang]\n"
    );
    let s = millrace_spec::load_str(&text, "h.yaml", &[]).unwrap();
    let sum = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert_eq!(sum.rows_written, 9);
    let base = reg.resolve(&format!("{root}/out")).unwrap();
    let m = &commit::read_manifests(&base).await.unwrap()[0];
    let mut dirs: Vec<&str> = m.files.iter().map(|f| f.path.split('/').next().unwrap()).collect();
    dirs.dedup();
    assert_eq!(dirs, vec!["lang=de", "lang=en"]);
}
