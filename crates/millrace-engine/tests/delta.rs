//! The `delta:` sink: one Delta commit per epoch, exactly once across crashes, shared by concurrent
//! writers, on every storage backend. Every table is read back by the Python `deltalake` package
//! (`tests/e2e/check_delta.py`), an independent reader, not by the engine.

mod common;

use common::{Backend, backends};
use millrace_connectors::store::StoreRegistry;
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::Value;
use std::path::Path;

/// The table as the `deltalake` package reads it (see `check_delta.py` for the fields).
fn read_back(uri: &str, apps: &[&str], at: &[i64]) -> Value {
    millrace_test_fixtures::read_delta_table(uri, apps, at)
}

fn lines(prefix: &str, n: usize, extra: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let lang = ["en", "de", "<fr>"][i % 3];
        out.extend(format!(r#"{{"id":"{prefix}{i}","text":"document {i} of {prefix} {}","lang":"{lang}"{extra}}}"#, "x".repeat(i % 40)).bytes());
        out.push(b'\n');
    }
    out
}

async fn put(reg: &StoreRegistry, url: &str, bytes: Vec<u8>) {
    let l = reg.resolve(url).unwrap();
    l.store.put(&l.path, PutPayload::from(bytes)).await.unwrap();
}

fn spec(name: &str, b: &Backend, input: &str, table: &str, sql: &str, sink_extra: &str) -> millrace_spec::LoadedSpec {
    let text = format!(
        "name: {name}\nsource:\n  files: {input}\n  id_field: id\n  epoch_bytes: 4KiB\n  split_bytes: 1500\nstages:\n  - sql: {sql}\nsinks:\n  - delta: {table}\n    partition_by: [lang]\n{sink_extra}{}",
        b.storage_yaml
    );
    millrace_spec::load_str(&text, "delta.yaml", &[]).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

const SQL: &str = "SELECT id, text, lang FROM input";

async fn delta_sink(b: &Backend) {
    let reg = StoreRegistry::new(spec("d", b, "x", "y", SQL, "").spec.storage.clone());
    let table = format!("{}/table", b.root);
    put(&reg, &format!("{}/in/a.jsonl", b.root), lines("a", 300, "")).await;
    let s = spec("d", b, &format!("{}/in/*.jsonl", b.root), &table, SQL, "");
    let r = millrace_engine::run(&s, Default::default()).await.unwrap_or_else(|e| panic!("{}: {e}", b.name));
    assert!(r.epochs_committed >= 3, "{}: {r:?}", b.name);
    let last = r.epochs.last().unwrap();
    let version = last.manifests[0].delta_version.expect("the summary names the Delta version");
    let t = read_back(&table, &["millrace:d:delta"], &[0]);
    assert_eq!(t["rows"], 300, "{}: {t}", b.name);
    assert_eq!(t["ids"], 300, "{}: {t}", b.name);
    assert_eq!(t["version"], version, "{}: {t}", b.name);
    assert_eq!(t["partition_columns"], serde_json::json!(["lang"]), "{}", b.name);
    // The hive-encoded `<fr>` directory reads back as the value itself.
    assert_eq!(t["langs"], serde_json::json!(["<fr>", "de", "en"]), "{}: {t}", b.name);
    assert_eq!(t["txn"]["millrace:d:delta"], last.epoch, "{}: {t}", b.name);
    // One commit per epoch; version 0 (the first epoch) holds only its own rows.
    assert_eq!(t["operations"].as_array().unwrap().len() as u64, r.epochs_committed, "{}: {t}", b.name);
    let first = r.epochs[0].rows_written;
    assert_eq!(t["rows_at"]["0"], first, "{}: time travel to version 0: {t}", b.name);

    // A second run appends only the new file's rows.
    put(&reg, &format!("{}/in/b.jsonl", b.root), lines("b", 50, "")).await;
    let r2 = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert_eq!(r2.rows_read, 50, "{}: {r2:?}", b.name);
    let t = read_back(&table, &[], &[]);
    assert_eq!((t["rows"].as_u64(), t["ids"].as_u64()), (Some(350), Some(350)), "{}: {t}", b.name);
    assert!(t["duplicates"].as_array().unwrap().is_empty(), "{}: {t}", b.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_sink_on_all_backends() {
    for b in backends() {
        delta_sink(&b).await;
    }
}

fn local(dir: &Path) -> Backend {
    Backend { name: "local", root: dir.display().to_string(), storage_yaml: String::new() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_on_either_side_of_the_delta_commit_leaves_every_row_once() {
    for point in ["before-delta-commit", "before-checkpoint"] {
        let dir = tempfile::tempdir().unwrap();
        let b = local(dir.path());
        std::fs::create_dir_all(dir.path().join("in")).unwrap();
        std::fs::write(dir.path().join("in/a.jsonl"), lines("a", 400, "")).unwrap();
        let table = dir.path().join("table");
        let s = spec("c", &b, &format!("{}/in/*.jsonl", b.root), &table.display().to_string(), SQL, "");
        let scenario = fail::FailScenario::setup();
        // Epochs 0 and 1 commit; epoch 2 stops just before its Delta commit, or just after it.
        fail::cfg(point, "2*off->return").unwrap();
        millrace_engine::run(&s, Default::default()).await.expect_err("injected crash");
        fail::remove(point);
        let before = read_back(&table.display().to_string(), &["millrace:c:delta"], &[]);
        let expect_txn = if point == "before-checkpoint" { 2 } else { 1 };
        assert_eq!(before["txn"]["millrace:c:delta"], expect_txn, "{point}: {before}");
        let r = millrace_engine::run(&s, Default::default()).await.unwrap_or_else(|e| panic!("{point}: {e}"));
        assert!(r.reconciled, "{point}: {r:?}");
        let t = read_back(&table.display().to_string(), &["millrace:c:delta"], &[]);
        assert_eq!((t["rows"].as_u64(), t["ids"].as_u64()), (Some(400), Some(400)), "{point}: {t}");
        assert!(t["missing_files"].as_array().unwrap().is_empty(), "{point}: {t}");
        assert_eq!(Some(millrace_test_fixtures::table_data_files(&table) as u64), t["files"].as_u64(), "{point}: no orphan file: {t}");
        // Each epoch is in the log once, the crashed one included.
        assert_eq!(t["operations"].as_array().unwrap().len() as u64, t["txn"]["millrace:c:delta"].as_u64().unwrap() + 1, "{point}: {t}");
        scenario.teardown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_column_is_merged_only_when_asked_and_old_files_read_back_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let b = local(dir.path());
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("in/a.jsonl"), lines("a", 60, r#","score":1.5"#)).unwrap();
    let table = dir.path().join("table").display().to_string();
    let glob = format!("{}/in/*.jsonl", b.root);
    millrace_engine::run(&spec("m", &b, &glob, &table, SQL, ""), Default::default()).await.unwrap();
    let v1 = read_back(&table, &[], &[])["version"].clone();

    std::fs::write(dir.path().join("in/b.jsonl"), lines("b", 30, r#","score":2.5"#)).unwrap();
    let wider = "SELECT id, text, lang, score FROM input";
    let e = millrace_engine::run(&spec("m", &b, &glob, &table, wider, ""), Default::default()).await.expect_err("a new column without merge");
    assert!(e.to_string().contains("schema_mode: merge"), "{e}");
    assert_eq!(read_back(&table, &[], &[])["version"], v1, "nothing was committed");

    millrace_engine::run(&spec("m", &b, &glob, &table, wider, "    schema_mode: merge\n"), Default::default()).await.unwrap();
    let t = read_back(&table, &[], &[]);
    assert_eq!(t["rows"], 90, "{t}");
    assert!(t["columns"].as_array().unwrap().iter().any(|c| c == "score"), "{t}");

    // A column whose type changes is refused whatever the mode.
    std::fs::write(dir.path().join("in/c.jsonl"), lines("c", 10, "")).unwrap();
    let retyped = "SELECT id, text, lang, CAST(length(text) AS VARCHAR) AS score FROM input";
    let e = millrace_engine::run(&spec("m", &b, &glob, &table, retyped, "    schema_mode: merge\n"), Default::default()).await.expect_err("a type change");
    assert!(e.to_string().contains("column `score`"), "{e}");

    // `mode: overwrite` replaces what the table holds with this state's first epoch, then appends.
    let fresh = format!("{}/other-in/*.jsonl", b.root);
    std::fs::create_dir_all(dir.path().join("other-in")).unwrap();
    std::fs::write(dir.path().join("other-in/z.jsonl"), lines("z", 200, r#","score":0.5"#)).unwrap();
    let over = spec("o", &b, &fresh, &table, wider, "    mode: overwrite\n");
    let r = millrace_engine::run(&over, Default::default()).await.unwrap();
    assert!(r.epochs_committed >= 2, "{r:?}");
    let t = read_back(&table, &[], &[]);
    assert_eq!((t["rows"].as_u64(), t["ids"].as_u64()), (Some(200), Some(200)), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_append_to_one_table_at_once_and_every_commit_lands() {
    for b in backends() {
        let reg = StoreRegistry::new(spec("w", &b, "x", "y", SQL, "").spec.storage.clone());
        let table = format!("{}/shared", b.root);
        put(&reg, &format!("{}/one/a.jsonl", b.root), lines("one", 600, "")).await;
        put(&reg, &format!("{}/two/a.jsonl", b.root), lines("two", 600, "")).await;
        // Small epochs: 20 commits or more each, interleaved.
        let small = |name: &str, dir: &str| {
            let s = spec(name, &b, &format!("{}/{dir}/*.jsonl", b.root), &table, SQL, "    checkpoint_interval: 10\n");
            let text = s.text.replace("epoch_bytes: 4KiB\n  split_bytes: 1500", "epoch_bytes: 1500\n  split_bytes: 700");
            millrace_spec::load_str(&text, "delta.yaml", &[]).unwrap()
        };
        let (s1, s2) = (small("w1", "one"), small("w2", "two"));
        let (r1, r2) = tokio::join!(millrace_engine::run(&s1, Default::default()), millrace_engine::run(&s2, Default::default()));
        let (r1, r2) = (r1.unwrap_or_else(|e| panic!("{}: {e}", b.name)), r2.unwrap_or_else(|e| panic!("{}: {e}", b.name)));
        assert!(r1.epochs_committed >= 20 && r2.epochs_committed >= 20, "{}: {} and {}", b.name, r1.epochs_committed, r2.epochs_committed);
        let t = read_back(&table, &["millrace:w1:delta", "millrace:w2:delta"], &[]);
        assert_eq!((t["rows"].as_u64(), t["ids"].as_u64()), (Some(1200), Some(1200)), "{}: {t}", b.name);
        assert_eq!(t["operations"].as_array().unwrap().len() as u64, r1.epochs_committed + r2.epochs_committed, "{}: every commit is in the log: {t}", b.name);
        assert_eq!(t["txn"]["millrace:w1:delta"].as_u64(), Some(r1.epochs_committed - 1), "{}: {t}", b.name);
        assert_eq!(t["txn"]["millrace:w2:delta"].as_u64(), Some(r2.epochs_committed - 1), "{}: {t}", b.name);
        if b.name == "local" {
            let log = Path::new(&table).join("_delta_log");
            assert!(log.join("00000000000000000010.checkpoint.parquet").exists(), "a Delta checkpoint every 10 versions");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_table_is_read_as_of_a_version_or_a_time_with_its_partition_values() {
    let dir = tempfile::tempdir().unwrap();
    let b = local(dir.path());
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    let table = dir.path().join("table").display().to_string();
    let glob = format!("{}/in/*.jsonl", b.root);
    let writer = millrace_spec::load_str(
        &format!("name: w\nsource:\n  files: {glob}\n  id_field: id\nstages:\n  - sql: {SQL}\nsinks:\n  - delta: {table}\n    partition_by: [lang]\n"),
        "w.yaml",
        &[],
    )
    .unwrap();
    // Versions 0, 1, 2 hold 60, 90 and 110 rows; `after_v0` falls between the first two commits.
    std::fs::write(dir.path().join("in/a.jsonl"), lines("a", 60, "")).unwrap();
    millrace_engine::run(&writer, Default::default()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after_v0 = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    std::fs::write(dir.path().join("in/b.jsonl"), lines("b", 30, "")).unwrap();
    millrace_engine::run(&writer, Default::default()).await.unwrap();
    std::fs::write(dir.path().join("in/c.jsonl"), lines("c", 20, "")).unwrap();
    millrace_engine::run(&writer, Default::default()).await.unwrap();
    assert_eq!(read_back(&table, &[], &[])["version"], 2);

    let reader = |name: &str, at: &str| {
        let out = dir.path().join(name);
        let text = format!("name: {name}\nsource:\n  delta: {table}\n{at}  id_field: id\nsinks:\n  - jsonl: {}\n", out.display());
        (millrace_spec::load_str(&text, "r.yaml", &[]).unwrap_or_else(|e| panic!("{e}")), out)
    };
    for (name, at, rows) in [("v1", "  version: 1\n", 90), ("t0", &format!("  timestamp: {after_v0}\n") as &str, 60), ("newest", "", 110)] {
        let (s, out) = reader(name, at);
        let r = millrace_engine::run(&s, Default::default()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(r.reconciled, "{name}: {r:?}");
        let got = common::committed_rows(&out);
        assert_eq!(got.len(), rows, "{name}");
        let mut ids: Vec<&str> = got.iter().map(|v| v["id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), rows, "{name}: every row once");
        // The partition column comes back from the log, `<fr>` exactly.
        for v in &got {
            let i: usize = v["id"].as_str().unwrap()[1..].parse().unwrap();
            assert_eq!(v["lang"].as_str(), Some(["en", "de", "<fr>"][i % 3]), "{name}: {v}");
        }
        // Its files are the work units: a rerun has nothing left to read.
        let again = millrace_engine::run(&s, Default::default()).await.unwrap();
        assert_eq!(again.rows_read, 0, "{name}: {again:?}");
    }
    let (s, _) = reader("missing", "  version: 7\n");
    let e = millrace_engine::run(&s, Default::default()).await.expect_err("no version 7");
    assert!(e.to_string().contains("version"), "{e}");
}
