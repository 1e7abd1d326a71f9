//! End-to-end runs of the `pipeline` binary, with outputs checked by pyarrow.

use std::path::Path;
use std::process::Command;

use millrace_test_fixtures::repo_root;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
}

#[test]
fn quickstart_runs_and_pyarrow_reads_the_output() {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("qs");
    let o = bin()
        .current_dir(repo_root())
        .env("MILLRACE_OUT", &dest)
        .args(["run", "pipelines/quickstart.yaml", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["rows_read"], 303, "{s}");
    assert_eq!(s["rows_written"], 300);
    assert_eq!(s["rows_rejected"], 3);
    assert_eq!(s["reconciled"], true);
    let py = Command::new("python3").arg(repo_root().join("tests/e2e/check_parquet.py")).arg(&dest).output().unwrap();
    assert!(py.status.success(), "pyarrow check failed: {}", String::from_utf8_lossy(&py.stderr));
    let r: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(r["rows"], 300, "{r}");
    assert_eq!(r["dataset_rows"], 300, "{r}");
    assert_eq!(r["unique_ids"], 300);
    let cols: Vec<&str> = r["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for c in ["id", "text", "url", "format", "n_chars", "lang"] {
        assert!(cols.contains(&c), "{cols:?}");
    }
    // A second run finds everything committed.
    let o = bin().current_dir(repo_root()).env("MILLRACE_OUT", &dest).args(["run", "pipelines/quickstart.yaml", "--json"]).output().unwrap();
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["rows_read"], 0, "{s}");
}

#[test]
fn validate_reports_line_and_column_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, "name: x\nsource:\n  files: a.jsonl\n  fromat: jsonl\nsinks:\n  - parquet: out/\n").unwrap();
    let o = bin().args(["validate", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.yaml:4:3"), "{err}");
    assert!(err.contains("did you mean `format`"), "{err}");
}

#[test]
fn validate_rejects_bad_url_scheme_and_missing_env() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(&p, "name: x\nsource:\n  files: s4://bucket/a.jsonl\nsinks:\n  - parquet: out/\n").unwrap();
    let o = bin().args(["validate", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(":3:10") && err.contains("s4://"), "{err}");
    std::fs::write(&p, "name: x\nsource:\n  files: ${MILLRACE_SURELY_UNSET_VAR}\nsinks:\n  - parquet: out/\n").unwrap();
    let o = bin().args(["validate", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("MILLRACE_SURELY_UNSET_VAR"));
}

#[test]
fn explain_prints_plans_and_runtime_errors_exit_1() {
    let o = bin().current_dir(repo_root()).args(["explain", "pipelines/quickstart.yaml"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("Logical plan") && s.contains("Physical plan") && s.contains("StreamingTableExec"), "{s}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("missing.yaml");
    std::fs::write(&p, format!("name: x\nsource:\n  files: {}/nope.jsonl\nsinks:\n  - parquet: {}/o\n", dir.path().display(), dir.path().display())).unwrap();
    let o = bin().args(["run", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.jsonl"));
}

#[test]
fn set_overrides_and_limit() {
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("lim");
    let o = bin()
        .current_dir(repo_root())
        .args(["run", "pipelines/quickstart.yaml", "--json", "--limit", "10", "--set"])
        .arg(format!("sinks.0.parquet={}", dest.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["rows_written"], 10, "{s}");
    assert_eq!(s["limited"], true);
    assert!(dest.join("_manifest").exists());
}

#[test]
fn secrets_in_urls_are_never_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let p = dir.path().join("secret.yaml");
    // Port 9 (discard) on loopback refuses the connection: the run fails and reports the URL.
    std::fs::write(
        &p,
        format!("name: s\nsource:\n  files: http://reader:SECRETPW@127.0.0.1:9/data/x.jsonl?sig=SASTOKEN\n  format: jsonl\nsinks:\n  - jsonl: {}\n", out.display()),
    )
    .unwrap();
    let o = bin().args(["run", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("127.0.0.1"), "the error names the location: {err}");
    assert!(!err.contains("SECRETPW") && !err.contains("SASTOKEN"), "{err}");
    let mut rendered = String::new();
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                rendered.push_str(&String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()));
            }
        }
    }
    assert!(rendered.contains("run_id"), "run.json was written");
    assert!(!rendered.contains("SECRETPW") && !rendered.contains("SASTOKEN"), "{rendered}");
}

#[test]
fn a_second_writer_exits_with_the_conflict_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jsonl"), "{\"id\":\"1\",\"text\":\"x\"}\n").unwrap();
    let lease = dir.path().join("out/_millrace/_lease");
    std::fs::create_dir_all(&lease).unwrap();
    std::fs::write(
        lease.join("gen-000000000000.json"),
        r#"{"generation":0,"run_id":"busy","host":"another-host","pid":1,"acquired_at":"2026-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let p = dir.path().join("s.yaml");
    std::fs::write(&p, format!("name: s\nsource:\n  files: {}/a.jsonl\nsinks:\n  - jsonl: {}/out\n", dir.path().display(), dir.path().display())).unwrap();
    let o = bin().args(["run", p.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("busy"));
}

/// A small deterministic generator, so a failing chaos run can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `kill -9` at random moments across resumed runs, with a Parquet (hive-partitioned) and a JSONL
/// sink, then one run to the end: every source id is committed exactly once in both sinks, every
/// malformed line is in the rejects exactly once, and no data file is outside a manifest. Checked
/// by pyarrow, not by the engine.
fn chaos(root: &str, storage: &str, s3_endpoint: &str, kills: usize, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (files, per_file, bad) = (6, 3000, 6);
    for k in 0..files {
        let mut body = String::new();
        for i in 0..per_file {
            body.push_str(&format!("{{\"id\":\"f{k}-{i}\",\"text\":\"document {i} of file {k} {}\",\"bucket\":\"b{}\"}}\n", "z".repeat(i % 40), i % 3));
        }
        body.push_str("this line is not json\n");
        std::fs::write(dir.path().join(format!("in-{k}.jsonl")), body).unwrap();
    }
    let spec = dir.path().join("chaos.yaml");
    std::fs::write(
        &spec,
        format!(
            "name: chaos\nsource:\n  files: {}/in-*.jsonl\n  id_field: id\n  epoch_bytes: 16KiB\n  split_bytes: 16KiB\nsinks:\n  - parquet: {root}/parquet\n    partition_by: [bucket]\n  - jsonl: {root}/jsonl\nengine:\n  threads: 2\n{storage}",
            dir.path().display()
        ),
    )
    .unwrap();
    let mut rng = Lcg(seed);
    let mut finished_early = 0;
    // A kill is timed by the run's own progress, not by the clock: after 0–2 committed epochs and
    // then 0–14 ms into the next, so it lands during startup/repair, mid-epoch or mid-commit however
    // fast the machine is (a whole run takes ~0.3 s here, less than a clock-timed kill waited).
    for _ in 0..kills {
        if kill_after_commits(&spec, &mut rng, 2, 15).is_none() {
            finished_early += 1;
        }
    }
    let o = bin().args(["run", spec.to_str().unwrap(), "--json", "--no-checks"]).output().unwrap();
    assert!(o.status.success(), "the final run completes: {}", String::from_utf8_lossy(&o.stderr));
    eprintln!("{} of {kills} kills landed mid-run", kills - finished_early);
    assert!(kills - finished_early >= kills / 2, "the kills must land mid-run: {finished_early} of {kills} runs had finished");
    for (kind, sub) in [("parquet", "parquet"), ("jsonl", "jsonl")] {
        let py = Command::new("python3")
            .arg(repo_root().join("tests/e2e/check_exactly_once.py"))
            .args([kind, &format!("{root}/{sub}"), s3_endpoint])
            .output()
            .unwrap();
        assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
        let r: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
        assert_eq!(r["rows"], files * per_file, "{kind}: {r}");
        assert_eq!(r["unique_ids"], files * per_file, "{kind}: {r}");
        assert_eq!(r["unlisted"].as_array().map(Vec::len), Some(0), "{kind}: {r}");
        if kind == "parquet" {
            assert_eq!(r["dataset_rows"], files * per_file, "the hive read sees each row once: {r}");
        }
    }
    // The rejects: each malformed line once.
    let py = Command::new("python3")
        .arg("-c")
        .arg(
            "import json,sys,pyarrow.fs as f\nroot=sys.argv[1].rstrip('/')\nfs=f.S3FileSystem(endpoint_override=sys.argv[2],scheme='http',access_key='test',secret_key='test',region='us-east-1') if root.startswith('s3://') else f.LocalFileSystem()\nroot=root[5:] if root.startswith('s3://') else root\nn=0\nfor m in fs.get_file_info(f.FileSelector(root+'/_manifest',allow_not_found=True)):\n  man=json.loads(fs.open_input_stream(m.path).read())\n  for e in man['files']:\n    n+=sum(1 for l in fs.open_input_stream(root+'/'+e['path']).read().splitlines() if l.strip())\nprint(n)",
        )
        .args([&format!("{root}/parquet/_rejects"), s3_endpoint])
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    assert_eq!(String::from_utf8_lossy(&py.stdout).trim(), bad.to_string(), "rejects committed exactly once");
}

#[test]
fn kill_9_chaos_on_local_disk_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    chaos(&dir.path().display().to_string(), "", "", 50, 7);
}

#[test]
fn kill_9_chaos_on_s3_loses_and_duplicates_nothing() {
    let Ok(ep) = std::env::var("MILLRACE_TEST_S3_ENDPOINT") else {
        assert!(std::env::var("MILLRACE_REQUIRE_SERVICES").is_err(), "MILLRACE_TEST_S3_ENDPOINT is required");
        return;
    };
    let root = format!("s3://millrace-test/chaos-{}", uuid::Uuid::new_v4());
    let storage = format!(
        "storage:\n  s3:\n    endpoint: {ep}\n    allow_http: true\n    region: us-east-1\n    access_key_id: test\n    secret_access_key: test\n    virtual_hosted_style_request: false\n"
    );
    chaos(&root, &storage, &ep, 50, 11);
}

/// The reliability proof of a stream worker, against a Kafka-protocol broker running in its own
/// process: while a producer writes documents over 4 partitions, `pipeline run` (following the
/// topic) is killed with SIGKILL at random points 20 times and restarted; a last run drains the
/// topic. The Parquet sink then holds every document exactly once (checked by pyarrow), and each
/// malformed message is in the rejects once.
/// A new 4-partition topic on the test broker, or `None` when no broker is configured.
fn kafka_topic(prefix: &str) -> Option<(String, String)> {
    use rdkafka::ClientConfig;
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let Ok(bootstrap) = std::env::var("MILLRACE_TEST_KAFKA") else {
        assert!(std::env::var("MILLRACE_REQUIRE_SERVICES").is_err(), "MILLRACE_TEST_KAFKA is required");
        return None;
    };
    let topic = format!("{prefix}-{}", uuid::Uuid::new_v4());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admin: AdminClient<_> = ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
    let created = rt.block_on(admin.create_topics(&[NewTopic::new(&topic, 4, TopicReplication::Fixed(1))], &AdminOptions::new())).unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    Some((bootstrap, topic))
}

/// Produces `docs` documents over 4 partitions (every `bad_every`-th malformed), spread over about
/// `docs / 100 * 0.2` seconds so that kills land while epochs are in flight.
fn produce_spread(bootstrap: &str, topic: &str, docs: usize, bad_every: usize) -> std::thread::JoinHandle<()> {
    use rdkafka::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    std::thread::spawn(move || {
        let p: BaseProducer = ClientConfig::new().set("bootstrap.servers", &bootstrap).set("enable.idempotence", "true").create().unwrap();
        for i in 0..docs {
            let payload = if i % bad_every == 500 {
                format!("{{broken {i}")
            } else {
                format!("{{\"id\":\"k{i}\",\"text\":\"document {i} {}\",\"n\":{i}}}", "w".repeat(i % 50))
            };
            let key = format!("k{i}");
            let rec = BaseRecord::to(&topic).partition((i % 4) as i32).key(&key).payload(&payload);
            p.send(rec).map_err(|(e, _)| e).unwrap();
            p.poll(std::time::Duration::ZERO);
            if i % 100 == 99 {
                p.flush(std::time::Duration::from_secs(30)).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
        p.flush(std::time::Duration::from_secs(30)).unwrap();
    })
}

/// pyarrow finds every good document once in the Parquet sink, and every malformed one once in the
/// rejects.
fn assert_stream_exactly_once(out: &Path, docs: usize, bad_every: usize) {
    let bad = docs / bad_every;
    let py = Command::new("python3").arg(repo_root().join("tests/e2e/check_exactly_once.py")).args(["parquet", out.to_str().unwrap()]).output().unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let r: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(r["rows"], docs - bad, "{r}");
    assert_eq!(r["unique_ids"], docs - bad, "{r}");
    assert_eq!(r["unlisted"].as_array().map(Vec::len), Some(0), "{r}");
    assert_eq!(r["dataset_rows"], docs - bad, "{r}");
    let rejects: usize = std::fs::read_dir(out.join("_rejects"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert_eq!(rejects, bad, "each malformed message rejected once");
    // The Delta table beside it, as the `deltalake` package reads it.
    let table = out.with_file_name("delta");
    let t = millrace_test_fixtures::read_delta_table(&table, &[], &[]);
    assert_eq!((t["rows"].as_u64(), t["ids"].as_u64()), (Some((docs - bad) as u64), Some((docs - bad) as u64)), "Delta: {t}");
    assert_eq!(t["missing_files"].as_array().map(Vec::len), Some(0), "Delta: {t}");
    // No data file a crashed attempt published is left outside the log.
    assert_eq!(Some(millrace_test_fixtures::table_data_files(&table) as u64), t["files"].as_u64(), "Delta: every data file is in the log: {t}");
}

/// A stream spec over `topic` (with more `source.kafka` keys) writing Parquet to `<dir>/parquet`
/// and a Delta table to `<dir>/delta`.
fn stream_spec(dir: &Path, bootstrap: &str, topic: &str, kafka_keys: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let out = dir.join("parquet");
    let spec = dir.join("stream.yaml");
    let text = format!(
        "name: stream\nsource:\n  kafka:\n    brokers: \"{bootstrap}\"\n    topics: [\"{topic}\"]\n    group: g-{topic}\n{kafka_keys}sinks:\n  - parquet: {}\n  - delta: {}\nengine:\n  threads: 2\n",
        out.display(),
        dir.join("delta").display()
    );
    std::fs::write(&spec, text).unwrap();
    (out, spec)
}

/// Runs `pipeline run SPEC -v` and kills it with SIGKILL after 0..=`commits` of its `epoch
/// committed` lines and then 0..`ms` milliseconds, so that the kill is timed by the run's own
/// progress and not by the clock. Returns the number of commits it waited for, or `None` when the
/// run had ended by itself first.
fn kill_after_commits(spec: &Path, rng: &mut Lcg, commits: u64, ms: u64) -> Option<u64> {
    let mut child = bin()
        .args(["run", spec.to_str().unwrap(), "--quiet", "--no-checks", "-v"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("epoch committed") {
                let _ = tx.send(());
            }
        }
    });
    let wanted = rng.next(commits + 1);
    let mut running = true;
    for _ in 0..wanted {
        if rx.recv_timeout(std::time::Duration::from_secs(120)).is_err() {
            running = false;
            break;
        }
    }
    if running {
        std::thread::sleep(std::time::Duration::from_millis(rng.next(ms)));
    }
    let killed = running && child.try_wait().unwrap().is_none();
    if killed {
        child.kill().unwrap();
    }
    child.wait().unwrap();
    reader.join().unwrap();
    killed.then_some(wanted)
}

#[test]
fn kafka_worker_kill_9_chaos_loses_and_duplicates_nothing() {
    let Some((bootstrap, topic)) = kafka_topic("chaos") else { return };
    let (docs, bad_every) = (8000usize, 1000usize);
    let producer = produce_spread(&bootstrap, &topic, docs, bad_every);
    let dir = tempfile::tempdir().unwrap();
    let (out, spec) = stream_spec(dir.path(), &bootstrap, &topic, "    epoch: { max_records: 400 }\n");
    let mut rng = Lcg(23);
    let kills = 20;
    let (mut finished_early, mut waited) = (0, 0);
    // Each worker is killed after 0-2 of its commits and then 0-300 ms: mid-epoch or mid-commit
    // however loaded the machine is.
    for _ in 0..kills {
        match kill_after_commits(&spec, &mut rng, 2, 300) {
            Some(n) => waited += n,
            None => finished_early += 1,
        }
    }
    producer.join().unwrap();
    assert_eq!(finished_early, 0, "a following worker runs until it is stopped");
    let o = bin().args(["run", spec.to_str().unwrap(), "--json", "--no-checks", "--set", "source.kafka.follow=false"]).output().unwrap();
    assert!(o.status.success(), "the draining run completes ({:?}): {}\n{}", o.status, String::from_utf8_lossy(&o.stderr), String::from_utf8_lossy(&o.stdout));
    // Readers kept between epochs wait at their partition's end: that is no error to report.
    assert!(!String::from_utf8_lossy(&o.stderr).contains("ERROR"), "{}", String::from_utf8_lossy(&o.stderr));
    // The killed workers committed most of the stream; the epochs of each are in the state.
    let checkpoints = std::fs::read_dir(out.join("_millrace/checkpoints")).unwrap().count();
    let plans = std::fs::read_dir(out.join("_millrace/plans")).unwrap().count();
    assert!(waited >= 10 && checkpoints as u64 >= waited && plans == checkpoints, "{checkpoints} checkpoints, {plans} plans, {waited} commits seen before kills");
    assert_stream_exactly_once(&out, docs, bad_every);
}

/// Two scale-out workers in one group against the out-of-process broker; one is killed with
/// SIGKILL and restarted again and again while the other keeps working (and takes the killed one's
/// lanes over), then the first is stopped with SIGTERM and a draining run reads what is left.
#[test]
fn kafka_two_scale_out_workers_one_killed_lose_and_duplicate_nothing() {
    let Some((bootstrap, topic)) = kafka_topic("scale") else { return };
    let (docs, bad_every) = (6000usize, 1000usize);
    let producer = produce_spread(&bootstrap, &topic, docs, bad_every);
    let dir = tempfile::tempdir().unwrap();
    let keys = "    scale_out: true\n    epoch: { max_records: 200 }\n    options: { session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }\n";
    let (out, spec) = stream_spec(dir.path(), &bootstrap, &topic, keys);
    let run = || bin().args(["run", spec.to_str().unwrap(), "--quiet", "--no-checks"]).stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut steady = run();
    let mut rng = Lcg(41);
    let mut killed_early = 0;
    for _ in 0..10 {
        let mut child = run();
        std::thread::sleep(std::time::Duration::from_millis(800 + rng.next(1500)));
        if child.try_wait().unwrap().is_some() {
            killed_early += 1;
            continue;
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    producer.join().unwrap();
    assert_eq!(killed_early, 0, "a following worker runs until it is stopped");
    assert!(steady.try_wait().unwrap().is_none(), "the steady worker is still running");
    // SIGTERM: the steady worker commits its open epochs and leaves the group.
    assert!(Command::new("kill").args(["-TERM", &steady.id().to_string()]).status().unwrap().success());
    let status = steady.wait().unwrap();
    assert!(status.success(), "a stopped worker exits 0: {status:?}");
    let o = bin().args(["run", spec.to_str().unwrap(), "--json", "--no-checks", "--set", "source.kafka.follow=false"]).output().unwrap();
    assert!(o.status.success(), "the draining run completes ({:?}): {}\n{}", o.status, String::from_utf8_lossy(&o.stderr), String::from_utf8_lossy(&o.stdout));
    for p in 0..4 {
        let lane = out.join(format!("_millrace/lanes/{topic}-{p}/checkpoints"));
        assert!(std::fs::read_dir(&lane).map(|d| d.count()).unwrap_or(0) > 0, "lane {p} committed epochs");
    }
    assert_stream_exactly_once(&out, docs, bad_every);
}

/// `pipeline delta optimize` compacts a streaming table's small files without changing a row;
/// `pipeline delta vacuum` keeps the removed files for the retention, refuses a shorter one without
/// `--force`, then deletes exactly the files the log no longer lists.
#[test]
fn delta_optimize_compacts_small_files_and_vacuum_deletes_them_after_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let mut text = String::new();
    for i in 0..400 {
        text.push_str(&format!("{{\"id\":\"d{i}\",\"text\":\"document number {i} {}\",\"lang\":\"{}\"}}\n", "y".repeat(i % 30), ["en", "de", "fr"][i % 3]));
    }
    std::fs::write(&input, text).unwrap();
    let table = dir.path().join("table");
    let spec = dir.path().join("d.yaml");
    std::fs::write(
        &spec,
        format!(
            "name: small\nsource:\n  files: {}\n  id_field: id\n  epoch_bytes: 4KiB\n  split_bytes: 1500\nsinks:\n  - delta: {}\n    partition_by: [lang]\n  - parquet: {}\n    name: plain\n",
            input.display(),
            table.display(),
            dir.path().join("plain").display()
        ),
    )
    .unwrap();
    let o = bin().args(["run", spec.to_str().unwrap(), "--quiet"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = || millrace_test_fixtures::read_delta_table(&table, &[], &[]);
    let before = read();
    let files_before = before["files"].as_u64().unwrap();
    assert!(files_before >= 12, "small epochs leave many files: {before}");
    let delta = |args: &[&str]| bin().arg("delta").args(args).arg(spec.to_str().unwrap()).output().unwrap();

    let o = delta(&["optimize", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let opt: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(opt["files_removed"], files_before, "{opt}");
    assert_eq!(opt["files_added"], 3, "one file per partition: {opt}");
    let after = read();
    assert_eq!((after["rows"].as_u64(), after["ids"].as_u64()), (Some(400), Some(400)), "{after}");
    assert_eq!(after["files"], 3, "{after}");
    assert_eq!(after["operations"].as_array().unwrap().last().unwrap(), "OPTIMIZE", "{after}");
    assert_eq!(after["version"].as_i64(), opt["version"].as_i64());
    // Nothing left to compact: no commit.
    let again: serde_json::Value = serde_json::from_slice(&delta(&["optimize", "--json"]).stdout).unwrap();
    assert_eq!(again["version"], serde_json::Value::Null, "{again}");

    let data_files = || millrace_test_fixtures::table_data_files(&table);
    assert_eq!(data_files(), files_before as usize + 3, "the removed files stay until vacuumed");
    let dry: serde_json::Value = serde_json::from_slice(&delta(&["vacuum", "--json", "--dry-run"]).stdout).unwrap();
    assert_eq!(dry["files"].as_array().unwrap().len(), 0, "within the 7-day retention: {dry}");
    let o = delta(&["vacuum", "--retention-hours", "0"]);
    assert!(!o.status.success(), "a retention below the table's needs --force");
    assert!(String::from_utf8_lossy(&o.stderr).to_lowercase().contains("retention"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = delta(&["vacuum", "--retention-hours", "0", "--force", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let vac: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(vac["files"].as_array().unwrap().len() as u64, files_before, "{vac}");
    assert_eq!(data_files(), 3);
    let last = read();
    assert_eq!((last["rows"].as_u64(), last["ids"].as_u64()), (Some(400), Some(400)), "{last}");

    let o = bin().args(["delta", "optimize", spec.to_str().unwrap(), "--target", "plain"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a parquet sink"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// HTML that makes the parser log a warning per document ("foster parenting not implemented"):
/// dependencies log errors only, so `--quiet` prints the one status line and nothing else; `-v`
/// with `--log-format json` gives Millrace's info logs as JSON lines.
#[test]
fn a_quiet_run_prints_only_its_status_line_and_json_logs_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pages.jsonl");
    let page = "<html><body><table>stray text<tr><td>cell</td></tr></table><p>A paragraph long enough to keep.</p></body></html>";
    let lines: Vec<String> = (0..20).map(|i| serde_json::json!({"id": format!("p{i}"), "text": page}).to_string()).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let spec = dir.path().join("html.yaml");
    let out = dir.path().join("out");
    std::fs::write(&spec, format!("name: html\nsource:\n  files: {}\n  id_field: id\nstages:\n  - clean: {{ mode: auto }}\nsinks:\n  - jsonl: {}\n", input.display(), out.display())).unwrap();
    let o = bin().args(["run", spec.to_str().unwrap(), "--quiet"]).env_remove("RUST_LOG").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "only the status line: {err}");
    assert!(err.starts_with("ok: 20 rows written, 0 filtered, 0 rejected in 1 epoch"), "{err}");
    assert!(o.stdout.is_empty());

    std::fs::remove_dir_all(&out).unwrap();
    let o = bin().args(["run", spec.to_str().unwrap(), "--quiet", "-v", "--log-format", "json"]).env_remove("RUST_LOG").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    let logs: Vec<serde_json::Value> = err.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(logs.iter().any(|l| l["fields"]["message"] == "epoch committed" && l["target"] == "millrace_engine::run"), "{err}");
    assert!(logs.iter().all(|l| l["target"].as_str().is_some_and(|t| t.starts_with("millrace"))), "no dependency logs: {err}");
}

/// Every `pipeline init` template writes a spec that `pipeline validate` accepts; an existing file
/// is kept unless `--force`.
#[test]
fn init_templates_validate_and_existing_files_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    for t in ["quickstart", "fineweb", "stream", "delta"] {
        let path = dir.path().join(format!("{t}.yaml"));
        let o = bin().args(["init", path.to_str().unwrap(), "--template", t]).output().unwrap();
        assert!(o.status.success(), "{t}: {}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with('#'), "{t}: a commented starter");
        assert!(!text.contains("$schema=../docs/"), "{t}: the repository-relative schema header is left out");
        let o = bin().current_dir(repo_root()).args(["validate", path.to_str().unwrap()]).output().unwrap();
        assert!(o.status.success(), "{t}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let path = dir.path().join("quickstart.yaml");
    std::fs::write(&path, "mine").unwrap();
    let o = bin().args(["init", path.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
    assert!(bin().args(["init", path.to_str().unwrap(), "--force"]).output().unwrap().status.success());
    assert_ne!(std::fs::read_to_string(&path).unwrap(), "mine");
}

/// `docs/spec.schema.json` is what `pipeline schema` prints, so editors pointed at the repository's
/// copy see the model the binary parses.
#[test]
fn the_committed_schema_is_the_generated_one() {
    let o = bin().arg("schema").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let generated = String::from_utf8(o.stdout).unwrap();
    let committed = std::fs::read_to_string(repo_root().join("docs/spec.schema.json")).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/spec.schema.json differs from the schema the spec model generates; regenerate it from the repository root:\n  pipeline schema > docs/spec.schema.json"
    );
}

/// The generated schema, checked by the Python `jsonschema` package: the example pipelines, the
/// golden tests' stages and every `pipeline init` starter validate; each invalid spec case the
/// schema can see (`# schema: invalid`: unknown key, wrong type, missing field) fails it, and the
/// cases only the parser's later checks find still pass it.
#[test]
fn specs_validate_against_the_schema_and_shape_errors_fail_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin().arg("schema").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let schema = dir.path().join("spec.schema.json");
    std::fs::write(&schema, &o.stdout).unwrap();
    let mut starters = Vec::new();
    for t in ["quickstart", "fineweb", "stream", "delta"] {
        let path = dir.path().join(format!("{t}.yaml"));
        assert!(bin().args(["init", path.to_str().unwrap(), "--template", t]).output().unwrap().status.success());
        starters.push(path);
    }
    let py = Command::new("python3")
        .arg(repo_root().join("tests/e2e/check_spec_schema.py"))
        .arg(repo_root())
        .arg(&schema)
        .args(&starters)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&py.stdout);
    assert!(py.status.success(), "schema check failed:\n{out}\n{}", String::from_utf8_lossy(&py.stderr));
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let count = |k: &str| r[k].as_array().map_or(0, Vec::len);
    assert!(count("valid") >= 20, "{r}");
    assert!(count("shape_errors") >= 6, "{r}");
    assert!(count("semantic_errors") >= 1, "{r}");
}

/// An editor completes spec keys from the generated schema: yaml-language-server (the server behind
/// the YAML support of VS Code and neovim; `scripts/setup` installs it) is asked for completions in
/// a spec whose first line is the README's `# yaml-language-server: $schema=...` header, at the top
/// level, inside `source:` and inside a sink.
#[test]
fn an_editor_completes_spec_keys_from_the_schema() {
    if Command::new("yaml-language-server").arg("--version").output().is_err() {
        assert!(std::env::var("MILLRACE_REQUIRE_SERVICES").is_err(), "yaml-language-server is required (scripts/setup installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = bin().arg("schema").output().unwrap();
    let schema = dir.path().join("spec.schema.json");
    std::fs::write(&schema, &o.stdout).unwrap();
    let spec = dir.path().join("spec.yaml");
    let text = format!("# yaml-language-server: $schema={}\nname: x\nsource:\n  files: in/*.jsonl\n  \nsinks:\n  - parquet: out\n    \n\n", schema.display());
    std::fs::write(&spec, text).unwrap();
    let node = Command::new("node")
        .arg(repo_root().join("tests/e2e/editor_completion.js"))
        .arg(&spec)
        .args(["8:0", "4:2", "7:4"])
        .output()
        .unwrap();
    assert!(node.status.success(), "{}", String::from_utf8_lossy(&node.stderr));
    let got: Vec<Vec<String>> = serde_json::from_slice(&node.stdout).unwrap();
    let offers = |at: usize, keys: &[&str]| {
        for k in keys {
            assert!(got[at].iter().any(|l| l == k), "`{k}` not offered at position {at}: {:?}", got[at]);
        }
    };
    // Every top-level key not yet written, every source key, the sink keys.
    offers(0, &["checks", "dead_letter", "engine", "lineage", "metrics", "rejects", "report", "stages", "state", "storage"]);
    assert!(!got[0].iter().any(|l| l == "name" || l == "source"), "keys already written are not offered: {:?}", got[0]);
    offers(1, &["format", "id_field", "text_field", "on_error", "schema", "max_record_bytes", "split_bytes", "watch", "kafka", "delta"]);
    offers(2, &["partition_by", "compression", "max_open_files", "schema_mode", "target_file_size"]);
}
