//! A watching file run (`source.watch`): new files are read as they land, once each, until the run
//! is stopped; a file that changes after it was read is reported, not read again; a watcher can
//! start before the first file lands; a restarted watcher reads only what is new.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Lands a file at once (written beside, then renamed in), as an object store put would.
fn land(dir: &Path, name: &str, prefix: &str, n: usize, extra: &str) {
    let tmp = dir.parent().unwrap().join(format!(".{name}.tmp"));
    let body: String = (0..n).map(|i| format!("{{\"id\":\"{prefix}{i}\",\"text\":\"doc {i}\"{extra}}}\n")).collect();
    std::fs::write(&tmp, body).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

async fn wait_for(out: &Path, rows: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while common::committed_ids(out).len() < rows && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(common::committed_ids(out).len(), rows, "rows committed");
}

fn spec(input: &Path, out: &Path, extra: &str) -> millrace_spec::LoadedSpec {
    let text = format!(
        "name: watch\nsource:\n  files: {}/*.jsonl\n  format: jsonl\n  watch: 200ms\n{extra}sinks:\n  - jsonl: {}\n",
        input.display(),
        out.display()
    );
    millrace_spec::load_str(&text, "watch.yaml", &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn start(s: &millrace_spec::LoadedSpec) -> (Arc<AtomicBool>, tokio::task::JoinHandle<millrace_engine::Result<millrace_engine::RunSummary>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (s, st) = (s.clone(), stop.clone());
    (stop, tokio::spawn(async move { millrace_engine::run(&s, millrace_engine::RunOptions { stop: Some(st), ..Default::default() }).await }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_files_are_read_as_they_land_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let out = dir.path().join("out");
    land(&input, "a.jsonl", "a", 50, "");
    let s = spec(&input, &out, "");
    let (stop, run) = start(&s);
    wait_for(&out, 50).await;
    // A later file brings a field the first did not have: the epoch that reads it adds the column.
    land(&input, "b.jsonl", "b", 30, ",\"url\":\"https://x\"");
    wait_for(&out, 80).await;
    // A file already read that changes is reported, not read again.
    land(&input, "a.jsonl", "a", 51, "");
    land(&input, "c.jsonl", "c", 5, "");
    wait_for(&out, 85).await;
    stop.store(true, Ordering::SeqCst);
    let r = run.await.unwrap().unwrap();
    assert!(r.reconciled, "{r:?}");
    assert_eq!(r.rows_written, 85);
    let rows = common::committed_rows(&out);
    assert_eq!(rows.iter().filter(|v| v["url"] == "https://x").count(), 30);
    let ids = common::committed_ids(&out);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no row twice");
    assert!(!ids.contains(&"a50".to_string()), "the changed file was not read again");

    // A restarted watcher reads only what landed since.
    land(&input, "d.jsonl", "d", 7, "");
    let (stop, run) = start(&s);
    wait_for(&out, 92).await;
    stop.store(true, Ordering::SeqCst);
    let r = run.await.unwrap().unwrap();
    assert_eq!(r.rows_written, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_can_start_before_the_first_file_lands() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let out = dir.path().join("out");
    // Strict: the columns come from the first file that lands, not from the empty start.
    let s = spec(&input, &out, "  schema: {mode: strict}\n");
    let (stop, run) = start(&s);
    tokio::time::sleep(Duration::from_millis(500)).await;
    land(&input, "a.jsonl", "a", 20, ",\"lang\":\"en\"");
    wait_for(&out, 20).await;
    stop.store(true, Ordering::SeqCst);
    let r = run.await.unwrap().unwrap();
    assert!(r.rejects_by_reason.is_empty(), "{:?}", r.rejects_by_reason);
    assert!(common::committed_rows(&out).iter().all(|v| v["lang"] == "en"));
}
