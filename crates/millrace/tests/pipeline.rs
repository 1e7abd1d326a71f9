//! The library entry point does the whole job: a run returns typed epoch records with a per-step
//! funnel that reconciles with what is on disk, and the report is built from those records alone.

use millrace::{Exit, Pipeline, RunOptions};
use std::collections::BTreeMap;
use std::io::Write;

fn corpus(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("in.jsonl");
    let mut f = std::fs::File::create(&p).unwrap();
    for i in 0..60 {
        // Every 10th document repeats document 0 (dedupe), every 7th is short (the SQL stage drops
        // it), and one line is not JSON (the source rejects it).
        let text = if i % 10 == 0 && i > 0 {
            "the very first document of the corpus, with enough words to be kept".to_string()
        } else if i % 7 == 3 {
            "tiny".to_string()
        } else if i == 0 {
            "the very first document of the corpus, with enough words to be kept".to_string()
        } else {
            format!("document number {i} talks about rivers, mills and water in several words")
        };
        writeln!(f, "{}", serde_json::json!({"id": format!("d{i}"), "text": text})).unwrap();
    }
    writeln!(f, "{{not json").unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_funnel_reconciles_with_the_output_and_the_report_needs_no_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path());
    let out = tmp.path().join("out");
    let yaml = format!(
        "name: funnel\nsource:\n  files: {}\n  format: jsonl\n  epoch_bytes: 2KB\n  split_bytes: 1KB\nstages:\n  - clean: {{}}\n  - sql: \"SELECT * FROM input WHERE length(text) > 10\"\n  - dedupe: {{ method: exact }}\n  - filter: {{ where: \"id <> 'd1'\" }}\nsinks:\n  - jsonl: {}\nchecks:\n  - row_count: {{ min: 1 }}\n",
        input.display(),
        out.display()
    );
    let spec = millrace_spec::load_str(&yaml, "funnel.yaml", &[]).unwrap();
    let outcome = Pipeline::from_spec(spec).run(RunOptions { checks: Some(Default::default()), ..Default::default() }).await.unwrap();
    assert_eq!(outcome.exit(false), Exit::Success, "{:?}", outcome.error);
    let summary = outcome.summary.as_ref().unwrap();
    assert!(summary.epochs.len() > 1, "several epochs: {}", summary.epochs.len());

    // Steps: read, four stages, write; each step's rows in are the previous step's rows out.
    let names: Vec<&str> = summary.funnel.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["read", "1 clean", "2 sql", "3 dedupe", "4 filter", "write"]);
    for w in summary.funnel.windows(2) {
        assert_eq!(w[1].rows_in, w[0].rows_out, "{:?} -> {:?}", w[0].name, w[1].name);
    }
    for s in &summary.funnel {
        assert_eq!(s.rows_in, s.rows_out + s.rows_rejected + s.rows_filtered, "{s:?}");
    }
    let step = |n: &str| summary.funnel.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!((step("read").rows_in, step("read").rows_rejected), (61, 1));
    let short = (0..60).filter(|i| i % 7 == 3 && !(i % 10 == 0 && *i > 0) && *i != 0).count() as u64;
    assert_eq!(step("2 sql").rows_filtered, short);
    assert_eq!(step("3 dedupe").rows_rejected, 5);
    // Duplicates within an epoch are `exact`, of an earlier epoch `index`.
    let dedupe = step("3 dedupe").rejects_by_reason;
    assert!(dedupe.keys().all(|k| k == "dedupe:exact" || k == "dedupe:index"), "{dedupe:?}");
    assert_eq!(dedupe.values().sum::<u64>(), 5);
    assert_eq!(step("4 filter").rows_rejected, 1);
    assert_eq!(step("4 filter").rejects_by_reason, BTreeMap::from([("filter:where".to_string(), 1)]));
    assert!(summary.funnel.iter().any(|s| s.cpu_ns > 0), "CPU time is measured");

    // The funnel agrees with what is on disk: committed rows and rejects by reason.
    let committed: usize = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert_eq!(committed as u64, step("write").rows_out);
    assert_eq!(committed as u64, summary.rows_written);
    let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
    for e in std::fs::read_dir(out.join("_rejects")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            for l in std::fs::read_to_string(p).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let reason = v["reason"].as_str().unwrap().split(": ").next().unwrap().to_string();
                *rejected.entry(reason).or_default() += 1;
            }
        }
    }
    let from_funnel: u64 = summary.funnel.iter().map(|s| s.rows_rejected).sum();
    assert_eq!(rejected.values().sum::<u64>(), from_funnel, "{rejected:?}");
    assert_eq!(rejected.iter().filter(|(k, _)| k.starts_with("dedupe:")).map(|(_, v)| v).sum::<u64>(), 5);
    assert_eq!(rejected.get("filter:where"), Some(&1));

    // Epoch records carry what each epoch published and consumed.
    for e in &summary.epochs {
        let cp = e.checkpoint.as_ref().expect("checkpointed");
        assert_eq!(cp.epoch, e.epoch);
        assert_eq!(e.manifests[0].rows, e.rows_written);
        assert!(e.committed_at >= e.started_at);
    }
    assert_eq!(summary.epochs.iter().map(|e| e.units).sum::<usize>(), summary.epochs.iter().map(|e| e.checkpoint.as_ref().unwrap().units.len()).sum::<usize>());

    // The report shows every step with its own counts.
    let report = &outcome.governance.report;
    let stages: Vec<(&str, u64, u64, u64)> = report.stages.iter().map(|s| (s.name.as_str(), s.rows_in, s.rows_out, s.rows_rejected)).collect();
    let want: Vec<(&str, u64, u64, u64)> = summary.funnel.iter().map(|s| (s.name.as_str(), s.rows_in, s.rows_out, s.rows_rejected)).collect();
    assert_eq!(stages, want);
    assert_eq!(report.sinks[0].files.len(), summary.epochs.iter().map(|e| e.manifests[0].files.len()).sum::<usize>());
    assert_eq!(report.epochs.len(), summary.epochs.len());
    assert_eq!(outcome.governance.checks.as_ref().unwrap().results.len(), 1);
    let html = std::fs::read_to_string(outcome.governance.html.as_ref().unwrap().trim_start_matches("file://")).unwrap();
    assert!(html.contains("3 dedupe") && html.contains("4 filter"), "every stage in the report");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_start_maps_to_one_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!("name: none\nsource:\n  files: {}/nothing-*.jsonl\nsinks:\n  - jsonl: {}/out\n", tmp.path().display(), tmp.path().display());
    let spec = millrace_spec::load_str(&yaml, "none.yaml", &[]).unwrap();
    let outcome = Pipeline::from_spec(spec).run(RunOptions::default()).await.unwrap();
    assert!(outcome.summary.is_none());
    assert!(outcome.error.as_ref().unwrap().to_string().contains("no input files"), "{:?}", outcome.error);
    assert_eq!(outcome.exit(false), Exit::Runtime);
    assert_eq!(outcome.governance.report.status, millrace_report::RunStatus::Failed);
    let missing = Pipeline::load(tmp.path().join("missing.yaml"), &[]).err().expect("no such spec");
    assert_eq!(missing.exit(), Exit::Invalid);
}

fn get(addr: &str, path: &str) -> (u16, String) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// A stream worker serves Prometheus metrics (records per step, sink bytes, epoch durations,
/// consumer lag), `/healthz` and `/readyz` while it runs, and stops gracefully when asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_worker_serves_metrics_health_and_readiness() {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("m", 2, 1).unwrap();
    let p: BaseProducer = rdkafka::ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
    for i in 0..50 {
        let payload = serde_json::json!({"id": format!("m{i}"), "text": format!("doc {i}")}).to_string();
        p.send(BaseRecord::<(), _>::to("m").partition(i % 2).payload(&payload)).map_err(|(e, _)| e).unwrap();
    }
    p.flush(std::time::Duration::from_secs(10)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!(
        "name: metered\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [m]\n    group: g\nsinks:\n  - jsonl: {}\nmetrics:\n  listen: \"{addr}\"\n",
        tmp.path().join("out").display()
    );
    let spec = millrace_spec::load_str(&yaml, "m.yaml", &[]).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opts = RunOptions { run: millrace_engine::RunOptions { stop: Some(stop.clone()), ..Default::default() }, ..Default::default() };
    let worker = tokio::spawn(async move { Pipeline::from_spec(spec).run(opts).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let metrics = loop {
        assert!(std::time::Instant::now() < deadline, "no metrics for the written rows");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let a = addr.clone();
        let Ok((200, body)) = tokio::task::spawn_blocking(move || std::panic::catch_unwind(|| get(&a, "/metrics"))).await.unwrap() else { continue };
        if body.lines().any(|l| l.starts_with("millrace_records_total") && l.contains("step=\"write\"") && l.contains("outcome=\"out\"") && l.ends_with(" 50")) {
            break body;
        }
    };
    assert!(metrics.contains("millrace_sink_bytes_total"), "{metrics}");
    assert!(metrics.contains("millrace_epoch_duration_seconds"), "{metrics}");
    assert!(metrics.contains("millrace_kafka_lag_records{topic=\"m\",partition=\"0\"} 0"), "{metrics}");
    let a = addr.clone();
    let (ready, health, missing) = tokio::task::spawn_blocking(move || (get(&a, "/readyz").0, get(&a, "/healthz").0, get(&a, "/nope").0)).await.unwrap();
    assert_eq!((ready, health, missing), (200, 200, 404));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), worker).await.expect("stops").unwrap().unwrap();
    assert_eq!(outcome.exit(false), Exit::Success, "{:?}", outcome.error);
    assert_eq!(outcome.summary.unwrap().rows_written, 50);
    // The endpoints go with the run.
    // (The freed port may be taken by another process at once; what must be gone is our server.)
    let a = addr.clone();
    let ours = tokio::task::spawn_blocking(move || std::panic::catch_unwind(|| get(&a, "/healthz")).is_ok_and(|(c, _)| c == 200)).await.unwrap();
    assert!(!ours, "still serving after the run");
}
