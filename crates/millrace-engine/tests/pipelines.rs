//! Whole pipelines through the engine: the FineWeb-style example ending in Megatron shards (read back
//! by numpy and compared with Python `tokenizers`), and dedupe determinism and its persistent index.

mod common;

use std::path::Path;
use std::process::Command;

use millrace_test_fixtures::repo_root;

fn load(text: &str) -> millrace_spec::LoadedSpec {
    millrace_spec::load_str(text, "test.yaml", &[]).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fineweb_example_ends_in_megatron_shards_equal_to_hf_tokenizers() {
    std::env::set_current_dir(repo_root()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let set = vec![
        ("sinks.0.parquet".to_string(), format!("{}/parquet", out.path().display())),
        ("sinks.1.jsonl".to_string(), format!("{}/jsonl", out.path().display())),
        ("sinks.2.megatron".to_string(), format!("{}/megatron", out.path().display())),
        ("rejects".to_string(), format!("{}/rejects", out.path().display())),
    ];
    let spec = millrace_spec::load(repo_root().join("pipelines/fineweb.yaml"), &set).unwrap();
    let s = millrace_engine::run(&spec, Default::default()).await.unwrap();
    assert!(s.reconciled, "{s:?}");
    assert_eq!(s.rows_read, 303);
    assert!(s.rows_written > 10, "{s:?}");
    assert!(s.rejects_by_reason.keys().any(|k| k.starts_with("gopher_quality:")), "{:?}", s.rejects_by_reason);
    let tokens = s.stages.tokens.as_ref().unwrap();
    assert_eq!(tokens.documents, s.rows_written);
    let o = Command::new("python3")
        .arg(repo_root().join("tests/e2e/check_megatron.py"))
        .arg(out.path().join("megatron"))
        .arg(out.path().join("parquet"))
        .arg(repo_root().join("pipelines/tokenizers/gpt2.tokenizer.json"))
        .arg("50256")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["documents"].as_u64(), Some(s.rows_written));
    assert_eq!(r["tokens"].as_u64(), Some(tokens.tokens));
}

fn dedupe_spec(input: &Path, out: &Path, threads: usize, index: Option<&Path>) -> millrace_spec::LoadedSpec {
    let index = index.map(|i| format!(", index: {}", i.display())).unwrap_or_default();
    load(&format!(
        "name: d\nsource:\n  files: {}\n  id_field: id\n  epoch_bytes: 2MiB\nstages:\n  - dedupe: {{ method: both{index} }}\nsinks:\n  - jsonl: {}\nengine:\n  threads: {threads}\n",
        input.display(),
        out.display()
    ))
}

use common::committed_ids as kept_ids;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedupe_is_deterministic_across_threads_and_uses_its_index_across_runs() {
    // The labelled corpus split into 4 files, so that small epochs make several epochs.
    let dir = tempfile::tempdir().unwrap();
    let raw = millrace_test_fixtures::read_zst(repo_root().join("crates/millrace-dedupe/tests/data/corpus-8mb.jsonl.zst"));
    let lines: Vec<&[u8]> = raw.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for (k, chunk) in lines.chunks(lines.len().div_ceil(4)).enumerate() {
        let mut body = chunk.join(&b'\n');
        body.push(b'\n');
        std::fs::write(src.join(format!("part-{k}.jsonl")), body).unwrap();
    }
    let input = src.join("*.jsonl");
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    let a = millrace_engine::run(&dedupe_spec(&input, &one, 1, None), Default::default()).await.unwrap();
    let b = millrace_engine::run(&dedupe_spec(&input, &two, 2, None), Default::default()).await.unwrap();
    assert!(a.epochs_committed >= 3, "several epochs: {}", a.epochs_committed);
    assert!(a.rows_rejected > 30, "{a:?}");
    assert_eq!(kept_ids(&one), kept_ids(&two), "same kept set with 1 and 2 threads");
    assert_eq!((a.rows_written, a.rows_rejected), (b.rows_written, b.rows_rejected));
    assert!(a.stages.duplicates_exact > 0 && a.stages.duplicates_minhash > 0, "{:?}", a.stages);

    // With an index, a second run over the same corpus (as new files) removes every document as a
    // duplicate of the first run's.
    let index = dir.path().join("index");
    let first = dir.path().join("first");
    let r1 = millrace_engine::run(&dedupe_spec(&input, &first, 2, Some(&index)), Default::default()).await.unwrap();
    assert_eq!(r1.rows_written, a.rows_written, "index does not change a first run");
    let again = dir.path().join("again");
    std::fs::create_dir_all(&again).unwrap();
    for k in 0..4 {
        std::fs::copy(src.join(format!("part-{k}.jsonl")), again.join(format!("part-{k}.jsonl"))).unwrap();
    }
    let second = dir.path().join("second");
    let r2 = millrace_engine::run(&dedupe_spec(&again.join("*.jsonl"), &second, 2, Some(&index)), Default::default()).await.unwrap();
    assert_eq!(r2.rows_written, 0, "{r2:?}");
    assert_eq!(r2.stages.duplicates_of_earlier_runs, r2.rows_read, "{:?}", r2.stages);
}

/// A Parquet sink closes row groups at `row_group_bytes` (the writer's memory bound), whatever the
/// row count; pyarrow reads the row groups back and every row is there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_row_groups_close_at_their_byte_size() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.jsonl");
    let mut text = String::new();
    let mut x: u64 = 7;
    for i in 0..600 {
        // ~6 KB of pseudo-random words per document, so zstd cannot shrink a row group to nothing.
        let words: Vec<String> = (0..800)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                format!("w{:x}", x >> 44)
            })
            .collect();
        text.push_str(&serde_json::json!({"id": format!("d{i}"), "text": words.join(" ")}).to_string());
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();
    let out = dir.path().join("out");
    let spec = load(&format!(
        "name: rg\nsource:\n  files: {}\n  id_field: id\nsinks:\n  - parquet: {}\n    row_group_size: 256KiB\nengine:\n  threads: 1\n  batch_rows: 50\n",
        input.display(),
        out.display()
    ));
    let s = millrace_engine::run(&spec, Default::default()).await.unwrap();
    assert_eq!(s.rows_written, 600);
    let script = r#"
import glob, json, sys, pyarrow.parquet as pq
files = [f for f in glob.glob(sys.argv[1] + "/**/*.parquet", recursive=True) if "/_" not in f]
groups = [pq.ParquetFile(f).metadata.row_group(i) for f in files for i in range(pq.ParquetFile(f).metadata.num_row_groups)]
ids = [i for f in files for i in pq.read_table(f).column("id").to_pylist()]
print(json.dumps({"groups": len(groups), "max_bytes": max(sum(g.column(c).total_compressed_size for c in range(g.num_columns)) for g in groups), "rows": len(ids), "unique": len(set(ids))}))
"#;
    let o = Command::new("python3").arg("-c").arg(script).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["rows"], 600);
    assert_eq!(r["unique"], 600);
    // ~1.6 MB of compressed text in 256 KiB row groups: several groups, none past the limit by
    // more than a batch of 50 rows (the writer splits a batch by the group's mean row size, but
    // the first batch of a group goes in whole).
    assert!(r["groups"].as_u64().unwrap() >= 4, "{r}");
    assert!(r["max_bytes"].as_u64().unwrap() < 2 * 256 * 1024 + 512 * 1024, "{r}");
}

/// The Common Crawl example on S3 (moto; local disk without services): the bundled `.warc.gz`
/// through clean, language ID, the quality filters and dedupe into Parquet, every record accounted
/// for (read = written + filtered + rejected + skipped) and the output read back by pyarrow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commoncrawl_example_accounts_for_every_record() {
    std::env::set_current_dir(repo_root()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sample = repo_root().join("pipelines/data/sample.warc.gz");
    let (root, endpoint, mut set) = match std::env::var("MILLRACE_TEST_S3_ENDPOINT") {
        Ok(ep) => {
            let root = format!("s3://millrace-test/cc-{}", uuid::Uuid::new_v4());
            let set: Vec<(String, String)> = [
                ("storage.s3.endpoint", ep.as_str()),
                ("storage.s3.allow_http", "true"),
                ("storage.s3.region", "us-east-1"),
                ("storage.s3.access_key_id", "test"),
                ("storage.s3.secret_access_key", "test"),
                ("storage.s3.virtual_hosted_style_request", "false"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            (root, ep, set)
        }
        Err(_) => {
            assert!(std::env::var("MILLRACE_REQUIRE_SERVICES").is_err(), "MILLRACE_TEST_S3_ENDPOINT is required");
            (dir.path().display().to_string(), String::new(), Vec::new())
        }
    };
    let input = format!("{root}/crawl/CC-SAMPLE-00000.warc.gz");
    let probe = millrace_spec::load(repo_root().join("pipelines/commoncrawl.yaml"), &set).unwrap();
    let reg = millrace_connectors::store::StoreRegistry::new(probe.spec.storage.clone());
    let l = reg.resolve(&input).unwrap();
    object_store::ObjectStoreExt::put(&*l.store, &l.path, std::fs::read(&sample).unwrap().into()).await.unwrap();
    set.push(("source.files".into(), input));
    set.push(("sinks.0.parquet".into(), format!("{root}/out/parquet")));
    set.push(("rejects".into(), format!("{root}/out/_rejects")));
    let spec = millrace_spec::load(repo_root().join("pipelines/commoncrawl.yaml"), &set).unwrap();
    let s = millrace_engine::run(&spec, Default::default()).await.unwrap();
    let expect: serde_json::Value = serde_json::from_slice(&std::fs::read(repo_root().join("pipelines/data/sample.warc.json")).unwrap()).unwrap();
    let records: u64 = expect["records"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert!(s.reconciled, "{s:?}");
    assert_eq!(s.rows_read + s.records_skipped, records, "every record accounted for: {s:?}");
    assert_eq!(s.rows_read, s.rows_written + s.rows_filtered + s.rows_rejected, "{s:?}");
    assert_eq!(s.records_skipped, expect["skipped"].as_u64().unwrap());
    assert_eq!(s.rejects_by_reason.get("undecodable"), Some(&2), "{:?}", s.rejects_by_reason);
    assert!(s.rows_written > 10, "{s:?}");
    let py = Command::new("python3")
        .arg(repo_root().join("tests/e2e/check_exactly_once.py"))
        .args(["parquet", &format!("{root}/out/parquet"), &endpoint])
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let r: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(r["rows"].as_u64(), Some(s.rows_written), "{r}");
    assert_eq!(r["unique_ids"].as_u64(), Some(s.rows_written), "{r}");
}
