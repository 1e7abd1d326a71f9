//! A Kafka source against librdkafka's own mock cluster (in process, real protocol): offset ranges
//! planned and written to the state before they are read, exactly-once output across a crash
//! between publishing and the checkpoint (the rerun reads the same planned ranges even though new
//! records arrived), malformed messages in the rejects with partition and offset, offsets
//! committed to the group, and a following run that stops gracefully.

mod common;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const PARTITIONS: i32 = 4;

fn produce(bootstrap: &str, topic: &str, from: usize, to: usize, bad_every: usize) {
    let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().unwrap();
    for i in from..to {
        let payload = if bad_every > 0 && i % bad_every == 7 {
            format!("{{not json {i}")
        } else {
            serde_json::json!({"id": format!("d{i}"), "text": format!("document {i} about mills"), "n": i}).to_string()
        };
        let key = format!("k{i}");
        let rec = BaseRecord::to(topic).partition((i % PARTITIONS as usize) as i32).key(&key).payload(&payload);
        p.send(rec).map_err(|(e, _)| e).unwrap();
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

fn spec(bootstrap: &str, topic: &str, out: &Path, follow: bool, max_records: u64) -> millrace_spec::LoadedSpec {
    let text = format!(
        "name: stream\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [{topic}]\n    group: millrace-test\n    follow: {follow}\n    read_timeout_seconds: 20\n    epoch: {{ max_records: {max_records} }}\nsinks:\n  - jsonl: {}\n",
        out.display()
    );
    millrace_spec::load_str(&text, "stream.yaml", &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// Every committed row's id, with how often it appears.
fn ids(out: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(out).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            for l in std::fs::read_to_string(&p).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                *m.entry(v["id"].as_str().unwrap().to_string()).or_default() += 1;
            }
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_ranges_give_exactly_once_output_across_a_crash() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("docs", PARTITIONS, 1).unwrap();
    produce(&bootstrap, "docs", 0, 1000, 100);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Epoch 0 takes 600 records; epoch 1 the 400 left (bounded by what the topic holds).
    let s = spec(&bootstrap, "docs", &out, false, 600);

    // The second epoch publishes its files and dies before its checkpoint.
    let scenario = fail::FailScenario::setup();
    fail::cfg("before-checkpoint", "1*off->return").unwrap();
    let e = millrace_engine::run(&s, Default::default()).await.err().expect("stopped before the checkpoint");
    assert!(e.to_string().contains("failpoint"), "{e}");
    fail::remove("before-checkpoint");
    scenario.teardown();
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("_millrace/plans/epoch-000001.json")).unwrap()).unwrap();
    let planned: u64 = plan["units"].as_array().unwrap().iter().map(|u| u["range"][1].as_u64().unwrap() - u["range"][0].as_u64().unwrap()).sum();
    assert_eq!(planned, 400, "{plan}");

    // New records arrive before the rerun: epoch 1 is still read exactly as planned (planning it
    // again would now take 600).
    produce(&bootstrap, "docs", 1000, 1200, 100);
    let summary = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert!(summary.reconciled);
    let plan_again: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("_millrace/plans/epoch-000001.json")).unwrap()).unwrap();
    assert_eq!(plan, plan_again);

    let got = ids(&out);
    let bad: Vec<usize> = (0..1200).filter(|i| i % 100 == 7).collect();
    assert_eq!(got.len(), 1200 - bad.len(), "every good message once");
    assert!(got.values().all(|n| *n == 1), "no duplicates");
    assert!(bad.iter().all(|i| !got.contains_key(&format!("d{i}"))));

    // Malformed messages are in the rejects with their partition and offset.
    let rejects = common::read_rejects(&out);
    assert_eq!(rejects.len(), bad.len());
    for r in &rejects {
        assert!(r["reason"].as_str().unwrap().starts_with("not_an_object") || r["reason"].as_str().unwrap().starts_with("invalid_json"), "{r}");
        assert!(r["source"].as_str().unwrap().starts_with("kafka://docs/"), "{r}");
        assert!(r["offset"].is_u64(), "{r}");
    }

    // The group's committed offsets are the ends of what was checkpointed.
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &bootstrap).set("group.id", "millrace-test").create().unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition("docs", p);
    }
    let committed = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    let total: i64 = committed.elements().iter().map(|e| e.offset().to_raw().unwrap_or(0)).sum();
    assert_eq!(total, 1200);

    // Nothing new: a third run reads nothing and commits nothing.
    let again = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert_eq!((again.epochs_committed, again.rows_read), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_options_never_show_in_plans_reports_or_errors() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("secret", PARTITIONS, 1).unwrap();
    produce(&bootstrap, "secret", 0, 10, 0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let text = format!(
        "name: s\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [secret]\n    group: g\n    follow: false\n    options: {{ sasl.password: \"${{KAFKA_SECRET_FOR_TEST}}\", sasl.username: app }}\nsinks:\n  - jsonl: {}\n",
        out.display()
    );
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("KAFKA_SECRET_FOR_TEST", "hunter2-do-not-print") };
    let s = millrace_spec::load_str(&text, "s.yaml", &[]).unwrap();
    let plan = millrace_engine::explain(&s).await.unwrap();
    assert!(!plan.contains("hunter2"), "{plan}");
    let summary = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert_eq!(summary.rows_written, 10);
    assert!(!format!("{summary:?}").contains("hunter2"));
    let mut state = Vec::new();
    for e in walk(&out) {
        state.extend(std::fs::read(e).unwrap());
    }
    assert!(!String::from_utf8_lossy(&state).contains("hunter2"), "a secret was written under the output");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { v.extend(walk(&p)) } else { v.push(p) }
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_following_run_reads_new_records_and_stops_gracefully() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("live", PARTITIONS, 1).unwrap();
    produce(&bootstrap, "live", 0, 100, 0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let s = spec(&bootstrap, "live", &out, true, 1000);
    let stop = Arc::new(AtomicBool::new(false));
    let opts = millrace_engine::RunOptions { stop: Some(stop.clone()), ..Default::default() };
    let worker = tokio::spawn(async move { millrace_engine::run(&s, opts).await });
    // Records produced while the worker runs are picked up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    produce(&bootstrap, "live", 100, 250, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ids(&out).len() < 250 {
        assert!(std::time::Instant::now() < deadline, "worker did not catch up: {} rows", ids(&out).len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let summary = tokio::time::timeout(Duration::from_secs(30), worker).await.expect("stops").unwrap().unwrap();
    assert_eq!(summary.rows_written, 250);
    let got = ids(&out);
    assert_eq!(got.len(), 250);
    assert!(got.values().all(|n| *n == 1));
}

/// Whether a manifest of run `run_id` with rows in it was committed in any lane.
fn committed_by(out: &Path, run_id: &str) -> bool {
    let Ok(lanes) = std::fs::read_dir(out.join("_manifest")) else { return false };
    lanes.flatten().filter(|l| l.path().is_dir()).flat_map(|l| std::fs::read_dir(l.path()).into_iter().flatten().flatten()).any(|m| {
        let m: serde_json::Value = std::fs::read(m.path()).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        m["run_id"] == run_id && m["rows"].as_u64().unwrap_or(0) > 0
    })
}

/// Committed rows of every lane, read through the manifests (`_manifest/<lane>/epoch-N.json`):
/// ids with how often they appear.
fn committed(out: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for id in common::committed_ids(out) {
        *m.entry(id).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_scale_out_workers_split_the_partitions_and_commit_each_record_once() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("docs", PARTITIONS, 1).unwrap();
    produce(&bootstrap, "docs", 0, 2000, 0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Beside the files, one Delta table all lanes of both workers append to, one appId per lane.
    let table = dir.path().join("table");
    let text = format!(
        "name: stream\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [docs]\n    group: scale-test\n    scale_out: true\n    shutdown_timeout_seconds: 20\n    read_timeout_seconds: 20\n    epoch: {{ max_records: 40 }}\nsinks:\n  - jsonl: {}\n  - delta: {}\n",
        out.display(),
        table.display()
    );
    let s = millrace_spec::load_str(&text, "stream.yaml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let stops: Vec<Arc<AtomicBool>> = (0..2).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let worker = |i: usize| {
        let s = s.clone();
        let stop = stops[i].clone();
        let run_id = Some(format!("worker-{i}"));
        tokio::spawn(async move { millrace_engine::run(&s, millrace_engine::RunOptions { stop: Some(stop), run_id, ..Default::default() }).await })
    };
    let a = worker(0);
    // The second worker joins while the first is reading: the group moves partitions to it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let b = worker(1);
    // More records arrive while both work, until the second worker has committed some: how soon
    // the group rebalances depends on the machine's load, so no fixed sleep decides it.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut produced = 2000;
    while !committed_by(&out, "worker-1") && std::time::Instant::now() < deadline {
        if produced < 2000 + 100 * 50 {
            produce(&bootstrap, "docs", produced, produced + 100, 0);
            produced += 100;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while committed(&out).len() < produced && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for s in &stops {
        s.store(true, Ordering::SeqCst);
    }
    let ra = a.await.unwrap().unwrap();
    let rb = b.await.unwrap().unwrap();

    let got = committed(&out);
    assert_eq!(got.len(), produced, "every record committed");
    assert!(got.values().all(|n| *n == 1), "no record twice: {:?}", got.iter().filter(|(_, n)| **n > 1).take(5).collect::<Vec<_>>());
    assert!(ra.reconciled && rb.reconciled);
    assert_eq!(ra.rows_written + rb.rows_written, produced as u64, "the workers' summaries add up");
    assert!(ra.rows_written > 0 && rb.rows_written > 0, "both workers worked: {} and {}", ra.rows_written, rb.rows_written);
    // Every partition is a lane with its own state; files and manifests carry the lane.
    for p in 0..PARTITIONS {
        assert!(out.join(format!("_millrace/lanes/docs-{p}/checkpoints")).is_dir(), "lane {p} has checkpoints");
        assert!(out.join(format!("_manifest/docs-{p}")).is_dir(), "lane {p} has manifests");
    }
    assert!(std::fs::read_dir(&out).unwrap().all(|e| {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        !n.starts_with("part-") || n.starts_with("part-docs-")
    }));
    let apps: Vec<String> = (0..PARTITIONS).map(|p| format!("millrace:stream:delta-1:docs-{p}")).collect();
    let t = millrace_test_fixtures::read_delta_table(&table, &apps.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert_eq!((t["rows"].as_u64(), t["ids"].as_u64()), (Some(produced as u64), Some(produced as u64)), "the Delta table holds every record once: {t}");
    for a in &apps {
        assert!(t["txn"][a].as_u64().is_some(), "every lane commits under its own appId: {t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_worker_abandons_an_epoch_that_outlasts_the_shutdown_timeout() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("slow", PARTITIONS, 1).unwrap();
    produce(&bootstrap, "slow", 0, 200, 0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let text = format!(
        "name: stream\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [slow]\n    group: slow\n    shutdown_timeout_seconds: 1\n    read_timeout_seconds: 20\nsinks:\n  - jsonl: {}\n",
        out.display()
    );
    let s = millrace_spec::load_str(&text, "stream.yaml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let scenario = fail::FailScenario::setup();
    // Every unit's read stalls for 4 s: longer than the shutdown timeout.
    fail::cfg("read-unit", "sleep(4000)").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let run = {
        let (s, stop) = (s.clone(), stop.clone());
        tokio::spawn(async move { millrace_engine::run(&s, millrace_engine::RunOptions { stop: Some(stop), ..Default::default() }).await })
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::SeqCst);
    let r = run.await.unwrap();
    fail::remove("read-unit");
    scenario.teardown();
    assert!(matches!(r, Err(millrace_engine::EngineError::Interrupted { .. })), "{r:?}");
    assert!(!out.join("_millrace/checkpoints/epoch-000000.json").exists(), "the abandoned epoch is not checkpointed");
    assert!(committed(&out).is_empty());
    // The next run reads the same planned epoch and commits it.
    let text2 = text.replace("group: slow", "group: slow\n    follow: false");
    let s2 = millrace_spec::load_str(&text2, "stream.yaml", &[]).unwrap();
    let r2 = millrace_engine::run(&s2, Default::default()).await.unwrap();
    assert_eq!(r2.rows_written, 200);
    assert_eq!(committed(&out).len(), 200);
}

/// The third reliability proof: the object store (moto) is unreachable for 30 s while a stream
/// worker commits epochs to it; the worker rides the outage out and loses nothing (checked by
/// pyarrow reading the store directly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_worker_rides_out_a_30_second_object_store_outage() {
    let Ok(ep) = std::env::var("MILLRACE_TEST_S3_ENDPOINT") else {
        assert!(std::env::var("MILLRACE_REQUIRE_SERVICES").is_err(), "MILLRACE_TEST_S3_ENDPOINT is required");
        return;
    };
    let target: std::net::SocketAddr = ep.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    let down = Arc::new(AtomicBool::new(false));
    let proxy = common::outage_proxy(target, down.clone()).await;
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("docs", PARTITIONS, 1).unwrap();
    produce(&bootstrap, "docs", 0, 6000, 0);
    let root = format!("s3://millrace-test/stream-outage-{}", uuid::Uuid::new_v4());
    let text = format!(
        "name: stream\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [docs]\n    group: outage\n    follow: false\n    read_timeout_seconds: 60\n    epoch: {{ max_records: 200 }}\nsinks:\n  - jsonl: {root}/out\nengine:\n  lease_seconds: 120\nstorage:\n  s3:\n    endpoint: http://{proxy}\n    allow_http: true\n    region: us-east-1\n    access_key_id: test\n    secret_access_key: test\n    virtual_hosted_style_request: false\n    retry_timeout: 120s\n"
    );
    let s = millrace_spec::load_str(&text, "stream.yaml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let run = tokio::spawn(async move { millrace_engine::run(&s, Default::default()).await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!run.is_finished(), "the outage must begin mid-run");
    down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    down.store(false, Ordering::SeqCst);
    let r = run.await.unwrap().expect("the worker rides out the outage");
    assert!(r.reconciled, "{r:?}");
    assert_eq!(r.rows_written, 6000);
    assert!(r.epochs_committed >= 30, "{} epochs", r.epochs_committed);
    // The store's own retries rode the outage out; the run still reports them.
    assert!(r.storage_request_failures > 0, "the outage is reported: {r:?}");
    let v = common::check_exactly_once("jsonl", &format!("{root}/out"), &ep);
    assert_eq!((v["rows"].as_u64(), v["unique_ids"].as_u64()), (Some(6000), Some(6000)), "{v}");
}

/// Batched producers (many records per batch, so epochs of 111 records start fetching inside a
/// batch), fetch errors injected at the start, and the broker down for 3 s in the middle: every
/// record is committed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batched_records_request_errors_and_a_broker_outage_lose_nothing() {
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("flaky", PARTITIONS, 1).unwrap();
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "200")
        .set("batch.num.messages", "500")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for i in 0..2000usize {
        let payload = serde_json::json!({"id": format!("f{i}"), "text": format!("document {i}")}).to_string();
        p.send(BaseRecord::<(), _>::to("flaky").partition((i % PARTITIONS as usize) as i32).payload(&payload)).map_err(|(e, _)| e).unwrap();
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(10)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let text = format!(
        "name: stream\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [flaky]\n    group: flaky\n    follow: false\n    read_timeout_seconds: 60\n    epoch: {{ max_records: 111 }}\nsinks:\n  - jsonl: {}\n",
        out.display()
    );
    let s = millrace_spec::load_str(&text, "stream.yaml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let errs = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 6];
    cluster.request_errors(RDKafkaApiKey::Fetch, &errs);
    let run = tokio::spawn(async move { millrace_engine::run(&s, Default::default()).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!run.is_finished(), "the outage must begin mid-run");
    cluster.broker_down(1).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.broker_up(1).unwrap();
    let r = run.await.unwrap().expect("the run rides out the errors and the outage");
    assert!(r.reconciled, "{r:?}");
    assert!(r.epochs_committed >= 2000 / 111, "{} epochs", r.epochs_committed);
    let got = committed(&out);
    assert_eq!(got.len(), 2000, "every record committed");
    assert!(got.values().all(|n| *n == 1), "none twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_topic_pattern_and_a_byte_cap_shape_the_epochs() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    for t in ["logs-a", "logs-b", "other"] {
        cluster.create_topic(t, PARTITIONS, 1).unwrap();
        produce(&bootstrap, t, 0, 1000, 0);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let text = format!(
        "name: stream\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topic_pattern: \"logs-\"\n    group: pattern\n    follow: false\n    epoch: {{ max_records: 1000, max_bytes: 4KiB }}\nsinks:\n  - jsonl: {}\n",
        out.display()
    );
    let s = millrace_spec::load_str(&text, "stream.yaml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    let got = committed(&out);
    // The ids repeat across topics (each topic has d0..d999): count rows, and check the topics.
    assert_eq!(r.rows_written, 2000, "both matching topics, not `other`");
    assert_eq!(got.len(), 1000);
    let rows = common::committed_rows(&out);
    assert!(rows.iter().all(|v| v["_kafka_topic"].as_str().is_some_and(|t| t.starts_with("logs-"))));
    // The first epoch has no size estimate and takes max_records; later ones hold about 4 KiB.
    assert!(r.epochs_committed >= 10, "{} epochs", r.epochs_committed);
    let plans = std::fs::read_dir(out.join("_millrace/plans")).unwrap().count();
    assert_eq!(plans as u64, r.epochs_committed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_following_worker_collects_for_max_interval_before_a_small_epoch() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("trickle", PARTITIONS, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let text = format!(
        "name: stream\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [trickle]\n    group: trickle\n    epoch: {{ max_records: 1000, max_interval: 5s }}\nsinks:\n  - jsonl: {}\n",
        out.display()
    );
    let s = millrace_spec::load_str(&text, "stream.yaml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let stop = Arc::new(AtomicBool::new(false));
    let run = {
        let stop = stop.clone();
        tokio::spawn(async move { millrace_engine::run(&s, millrace_engine::RunOptions { stop: Some(stop), ..Default::default() }).await })
    };
    // Three trickles well inside the interval: one epoch takes them all.
    for k in 0..3 {
        produce(&bootstrap, "trickle", k * 10, k * 10 + 10, 0);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while committed(&out).len() < 30 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let r = run.await.unwrap().unwrap();
    assert_eq!(r.rows_written, 30);
    assert_eq!(r.epochs_committed, 1, "one epoch collected every trickle");
}

/// Rejected records also go to a dead-letter topic once their epoch's rejects are published:
/// every malformed message there once, as the reject record (reason, partition and offset).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejects_are_produced_to_the_dead_letter_topic() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("docs", PARTITIONS, 1).unwrap();
    cluster.create_topic("dlq", 1, 1).unwrap();
    produce(&bootstrap, "docs", 0, 1000, 100);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let text = format!(
        "name: stream\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [docs]\n    group: dl\n    follow: false\n    epoch: {{ max_records: 300 }}\nsinks:\n  - jsonl: {}\ndead_letter:\n  brokers: \"{bootstrap}\"\n  topic: dlq\n",
        out.display()
    );
    let s = millrace_spec::load_str(&text, "stream.yaml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let r = millrace_engine::run(&s, Default::default()).await.unwrap();
    assert_eq!(r.rows_rejected, 10, "{r:?}");
    let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &bootstrap).set("group.id", "dlq-reader").set("auto.offset.reset", "earliest").create().unwrap();
    c.subscribe(&["dlq"]).unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 10 && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            use rdkafka::message::{Headers, Message};
            let v: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            assert_eq!(m.key().map(|k| String::from_utf8_lossy(k).into_owned()), v["source"].as_str().map(str::to_string));
            assert!(m.headers().is_some_and(|h| h.iter().any(|h| h.key == "millrace-epoch")));
            got.push(v);
        }
    }
    assert_eq!(got.len(), 10, "every reject on the topic");
    let mut offsets: Vec<String> = got.iter().map(|v| v["source"].as_str().unwrap().to_string()).collect();
    offsets.sort();
    offsets.dedup();
    assert_eq!(offsets.len(), 10, "each once");
    assert!(got.iter().all(|v| v["reason"].as_str().is_some_and(|r| r.starts_with("not_an_object") || r.starts_with("invalid_json"))));
}

/// A `kafka:` sink chains workers: the rows of each epoch are produced to the topic, keyed by id,
/// after they are published under the state; a second worker reads that topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kafka_sink_chains_two_workers() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("raw", PARTITIONS, 1).unwrap();
    cluster.create_topic("clean", PARTITIONS, 1).unwrap();
    produce(&bootstrap, "raw", 0, 800, 100);
    let dir = tempfile::tempdir().unwrap();
    let first = format!(
        "name: first\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [raw]\n    group: first\n    follow: false\n    epoch: {{ max_records: 300 }}\nstages:\n  - sql: SELECT id, text, n FROM input\nsinks:\n  - kafka: {{ brokers: \"{bootstrap}\", topic: clean }}\nstate: {0}/state1\nrejects: {0}/rejects1\n",
        dir.path().display()
    );
    let s1 = millrace_spec::load_str(&first, "first.yaml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let r1 = millrace_engine::run(&s1, Default::default()).await.unwrap();
    assert_eq!(r1.rows_written, 792, "{r1:?}");
    let out = dir.path().join("out");
    let second = format!(
        "name: second\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [clean]\n    group: second\n    follow: false\nsinks:\n  - jsonl: {}\n",
        out.display()
    );
    let s2 = millrace_spec::load_str(&second, "second.yaml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let r2 = millrace_engine::run(&s2, Default::default()).await.unwrap();
    assert_eq!(r2.rows_written, 792);
    let got = committed(&out);
    assert_eq!(got.len(), 792);
    assert!(got.values().all(|n| *n == 1));
    // Keys are the ids.
    let rows = common::committed_rows(&out);
    assert!(rows.iter().all(|v| v["_kafka_key"] == v["id"]), "{:?}", rows.first());
}
