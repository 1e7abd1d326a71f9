//! The governance half end to end, through the `pipeline` binary: the CI gate on a clean and a
//! defective corpus (exit codes, JUnit, JSON, stored failing rows), `pipeline check` alone, check
//! errors, run.json / report.html (rendered in headless Chromium when installed), and OpenLineage
//! events over the file and HTTP transports, validated against the OpenLineage JSON Schema.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use millrace_test_fixtures::repo_root;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pipeline"));
    c.current_dir(repo_root());
    // Lineage is posted to a loopback listener in these tests; a proxy from the environment would
    // swallow it.
    for v in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
        c.env_remove(v);
    }
    c.env_remove("MILLRACE_GATE_INPUT").env_remove("MILLRACE_OUT");
    c
}

const CLEAN: &str = "tests/data/ci-gate/clean.jsonl";
const DEFECTS: &str = "tests/data/ci-gate/defects.jsonl";

/// `pipeline <args>` on pipelines/ci-gate.yaml with `input` as the corpus and `out` as the sink.
fn gate(cmd: &str, input: &str, out: &Path, args: &[&str]) -> Output {
    bin()
        .env("MILLRACE_GATE_INPUT", input)
        .env("MILLRACE_OUT", out)
        .arg(cmd)
        .arg("pipelines/ci-gate.yaml")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), stderr(o)))
}

fn url_to_path(u: &str) -> PathBuf {
    PathBuf::from(u.strip_prefix("file://").unwrap_or(u))
}

/// The single run directory under `<sink>/_millrace/runs/`.
fn run_dirs(sink: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(sink.join("_millrace/runs")).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    v.sort();
    v
}

/// (tests, failures, errors, skipped, names of failed testcases) of a JUnit file.
fn junit(path: &Path) -> (usize, usize, usize, usize, BTreeSet<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("JUnit is not well-formed XML: {e}\n{text}"));
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).expect("a testsuite");
    let attr = |n: &str| suite.attribute(n).unwrap_or("0").parse::<usize>().unwrap();
    let failed = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase") && n.children().any(|c| c.has_tag_name("failure")))
        .map(|n| n.attribute("name").unwrap_or("").to_string())
        .collect();
    let cases = doc.descendants().filter(|n| n.has_tag_name("testcase")).count();
    assert_eq!(cases, attr("tests"));
    (attr("tests"), attr("failures"), attr("errors"), attr("skipped"), failed)
}

#[test]
fn ci_gate_passes_the_clean_corpus_and_fails_the_defective_one() {
    let tmp = tempfile::tempdir().unwrap();

    // Clean corpus: the run passes, every check passes, JUnit and JSON say so.
    let out = tmp.path().join("clean");
    let j1 = tmp.path().join("clean-run.xml");
    let o = gate("run", CLEAN, &out, &["--json", "--junit", j1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = json_out(&o);
    assert_eq!(s["status"], "succeeded");
    assert_eq!(s["rows_written"], 60);
    let checks = s["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 13, "{s}");
    assert!(checks.iter().all(|c| c["status"] == "pass"), "{s}");
    assert_eq!(junit(&j1), (13, 0, 0, 0, BTreeSet::new()));
    let run_json = url_to_path(s["report"].as_str().expect("report url"));
    assert!(run_json.starts_with(out.join("_millrace/runs")), "{}", run_json.display());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["checks"].as_array().map(Vec::len), Some(13));

    let j2 = tmp.path().join("clean-check.xml");
    let o = gate("check", CLEAN, &out, &["--json", "--junit", j2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = json_out(&o);
    assert_eq!(c["verdict"], "pass");
    assert_eq!(c["sink"], "corpus");
    assert_eq!(c["committed_rows"], 60);
    assert_eq!(junit(&j2).1, 0);

    // Defective corpus: the output is committed but the gate fails the build.
    let bad = tmp.path().join("defects");
    let j3 = tmp.path().join("defects-run.xml");
    let failures = tmp.path().join("failures");
    let o = gate("run", DEFECTS, &bad, &["--json", "--junit", j3.to_str().unwrap(), "--store-failures", failures.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("did not pass the gate"), "{}", stderr(&o));
    let s = json_out(&o);
    assert_eq!(s["status"], "failed");
    assert_eq!(s["rows_written"], 60, "the output is committed even though the gate failed");
    let expected: BTreeSet<String> =
        ["unique(id)", "accepted_values(lang)", "range(n_words)", "regex(url)", "duplicate_rate(text)", "empty_rate(text)", "no_pii_left"]
            .into_iter()
            .map(String::from)
            .collect();
    let (tests, failed, errors, skipped, names) = junit(&j3);
    assert_eq!((tests, failed, errors, skipped), (13, 7, 0, 1));
    assert_eq!(names, expected);
    let by_name = |n: &str| s["checks"].as_array().unwrap().iter().find(|c| c["name"] == n).cloned().unwrap_or_else(|| panic!("{n} missing"));
    assert_eq!(by_name("unique(id)")["failing_rows"], 1);
    assert_eq!(by_name("no_pii_left")["observed"], 1);
    assert_eq!(by_name("short_documents")["status"], "warn");
    assert_eq!(by_name("schema")["status"], "pass");
    let dup = by_name("duplicate_rate(text)");
    assert!((dup["observed"].as_f64().unwrap() - 1.0 / 60.0).abs() < 1e-4, "{dup}");
    assert_eq!(dup["threshold"], json!({"max": 0.01}));

    // Failing rows were stored, one Parquet file per failed row check; pyarrow reads them.
    let files: Vec<String> = s["failure_files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
    assert!(files.iter().any(|f| f.ends_with("unique_id.parquet")), "{files:?}");
    let unique_file = files.iter().find(|f| f.ends_with("unique_id.parquet")).map(|f| url_to_path(f)).unwrap();
    let py = Command::new("python3")
        .arg("-c")
        .arg("import sys, json, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1]); print(json.dumps(t.column('id').to_pylist()))")
        .arg(&unique_file)
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let ids: Vec<String> = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(ids, vec!["doc-0006", "doc-0006"]);

    // `check` alone reaches the same verdict, and `--sample` checks fewer rows.
    let o = gate("check", DEFECTS, &bad, &["--json"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(json_out(&o)["verdict"], "fail");
    let o = gate("check", DEFECTS, &bad, &["--json", "--sample", "10"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let c = json_out(&o);
    assert_eq!(c["sampled_rows"], 10);
    let rc = c["checks"].as_array().unwrap().iter().find(|c| c["name"] == "row_count").unwrap().clone();
    assert_eq!(rc["observed"], 60, "row_count counts every committed row even on a sample");

    // --no-checks runs the same corpus without the gate.
    let o = gate("run", DEFECTS, &tmp.path().join("nochecks"), &["--json", "--no-checks"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json_out(&o)["checks"], Value::Null);
}

/// Writes a spec over the clean corpus with the given sink and checks.
fn spec_with(dir: &Path, sink: &str, checks: &str) -> PathBuf {
    let p = dir.join(format!("spec-{}.yaml", dir.read_dir().map(|d| d.count()).unwrap_or(0)));
    std::fs::write(
        &p,
        format!(
            "name: gate-variant\nsource:\n  files: {}\n  format: jsonl\nstages:\n  - sql: SELECT id, text, url, lang, CAST(cardinality(string_to_array(btrim(text), ' ')) AS INT UNSIGNED) AS n_words FROM input\nsinks:\n{sink}\nchecks:\n{checks}",
            repo_root().join(CLEAN).display()
        ),
    )
    .unwrap();
    p
}

fn check_spec(spec: &Path, args: &[&str]) -> Output {
    bin().arg("check").arg(spec).args(args).output().unwrap()
}

#[test]
fn warnings_errors_thresholds_and_runtime_failures_have_their_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let sink = format!("  - parquet: {}\n    name: corpus\n", out.display());

    // Nothing committed yet: a runtime error, not a verdict.
    let spec = spec_with(tmp.path(), &sink, "  - row_count: {}\n");
    let o = check_spec(&spec, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no committed output"), "{}", stderr(&o));

    let o = bin().arg("run").arg(&spec).arg("--quiet").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = check_spec(&spec, &["--target", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no sink named `nosuch`") && stderr(&o).contains("corpus"), "{}", stderr(&o));

    // Warnings only: exit 0, or 1 with --fail-on-warn.
    let spec = spec_with(tmp.path(), &sink, "  - row_count: { min: 1000 }\n    severity: warn\n");
    let o = check_spec(&spec, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json_out(&o)["verdict"], "warn");
    assert_eq!(check_spec(&spec, &["--fail-on-warn"]).status.code(), Some(4));

    // dbt-style thresholds on the failing-row count: 57 repeated languages warn, not fail.
    let spec = spec_with(tmp.path(), &sink, "  - unique: [lang]\n    warn_if: \"> 0\"\n    error_if: \"> 100\"\n  - unique: lang\n    name: lang_mostly_unique\n    error_if: \"> 50%\"\n");
    let o = check_spec(&spec, &["--json"]);
    let c = json_out(&o);
    assert_eq!(c["checks"][0]["status"], "warn", "{c}");
    assert_eq!(c["checks"][0]["failing_rows"], 57);
    assert_eq!(c["checks"][0]["threshold"], json!({"error_if": "> 100", "warn_if": "> 0"}));
    assert_eq!(c["checks"][1]["status"], "fail", "57 of 60 is over 50%: {c}");
    assert_eq!(o.status.code(), Some(4));

    // Checks that cannot be evaluated are errors, never passes.
    let spec = spec_with(
        tmp.path(),
        &sink,
        "  - not_null: [no_such_column]\n  - sql: { name: broken, query: \"SELECT FROM WHERE\" }\n  - regex: { column: n_words, pattern: x }\n  - sql: { name: two_rows, query: \"SELECT id FROM output LIMIT 2\", max: 1 }\n  - schema: { n_words: Strng }\n",
    );
    let o = check_spec(&spec, &["--json"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let c = json_out(&o);
    let st: Vec<&str> = c["checks"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(st, ["error", "error", "error", "error", "fail"], "{c}");
    assert!(c["checks"][0]["message"].as_str().unwrap().contains("`no_such_column` is not in the output"), "{c}");
    assert!(c["checks"][2]["message"].as_str().unwrap().contains("needs a string column"), "{c}");
    assert!(c["checks"][4]["message"].as_str().unwrap().contains("not an Arrow type"), "{c}");
    let junit_path = tmp.path().join("errors.xml");
    let o = check_spec(&spec, &["--junit", junit_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4));
    let (tests, failures, errors, _, _) = junit(&junit_path);
    assert_eq!((tests, failures, errors), (5, 1, 4));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("ERROR") && table.contains("5 checks: 0 passed, 0 warned, 1 failed, 4 errored"), "{table}");
}

#[test]
fn malformed_checks_are_invalid_specs_with_locations() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = format!("  - parquet: {}\n", tmp.path().join("o").display());
    for (checks, want) in [
        ("  - not_nul: [id]\n", "did you mean `not_null`"),
        ("  - regex: { column: url, pattern: \"(\" }\n", "invalid regex"),
        ("  - unique: [id]\n    error_if: \"about 10\"\n", "must start with a comparison"),
        ("  - duplicate_rate: { column: text, max: 2 }\n", "between 0 and 1"),
    ] {
        let spec = spec_with(tmp.path(), &sink, checks);
        let name = spec.file_name().unwrap().to_string_lossy().to_string();
        let o = bin().arg("validate").arg(&spec).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{checks}");
        let err = stderr(&o);
        assert!(err.contains(want), "{checks}: {err}");
        // The located line is in the checks section (line 9 onwards), not 0:0.
        let line: u64 = err
            .split(&format!("{name}:"))
            .nth(2)
            .or_else(|| err.split(&format!("{name}:")).nth(1))
            .and_then(|rest| rest.split(':').next())
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0);
        assert!(line >= 9, "{checks}: no location in {err}");
        assert_eq!(check_spec(&spec, &[]).status.code(), Some(2));
    }
}

#[test]
fn partitioned_jsonl_sink_report_dir_url_and_report_command() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("j");
    let reports = tmp.path().join("reports");
    let sink = format!("  - jsonl: {}\n    compression: zstd\n    partition_by: [lang]\n", out.display());
    let spec = spec_with(
        tmp.path(),
        &sink,
        "  - accepted_values: { column: lang, values: [en, de, fr] }\n  - schema: { lang: Utf8, n_words: UInt32, id: string }\n  - row_count: { min: 60, max: 60 }\n  - unique: [id]\n  - range: { column: n_words, min: 5 }\n",
    );
    let text = std::fs::read_to_string(&spec).unwrap() + &format!("report:\n  dir: file://{}\n  html: false\n", reports.display());
    std::fs::write(&spec, text).unwrap();
    let o = bin().arg("run").arg(&spec).arg("--json").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = json_out(&o);
    assert!(s["checks"].as_array().unwrap().iter().all(|c| c["status"] == "pass"), "{s}");
    assert!(out.join("lang=de").is_dir(), "hive partitions expected");
    assert_eq!(s["report_html"], Value::Null);
    let run_json = url_to_path(s["report"].as_str().unwrap());
    assert!(run_json.starts_with(&reports), "{}", run_json.display());
    assert!(!run_json.with_file_name("report.html").exists(), "report.html: false");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
    assert_eq!(report["language_mix"], json!({"de": 20, "en": 20, "fr": 20}));
    let h = &report["histograms"]["doc_length_chars"];
    assert_eq!(h["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum::<u64>(), 60);
    assert_eq!(h["edges"].as_array().unwrap().len(), h["counts"].as_array().unwrap().len() + 1);
    assert_eq!(report["sinks"][0]["kind"], "jsonl");
    assert_eq!(report["sinks"][0]["files"].as_array().unwrap().len(), 3, "one file per language");
    assert_eq!(report["totals"]["rows_written"], 60);
    assert_eq!(report["sinks"][0]["column_metrics"]["id"]["null_count"], 0);

    // `pipeline report` renders any run.json.
    let html = tmp.path().join("out/rendered.html");
    let o = bin().arg("report").arg(&run_json).arg("-o").arg(&html).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("gate-variant") && page.contains("Data-quality checks") && page.contains("accepted_values(lang)"));
    let o = bin().arg("report").arg(tmp.path().join("missing.json")).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
}

// ---------------------------------------------------------------------------------------------
// OpenLineage

struct Schemas {
    registry: jsonschema::Registry<'static>,
    event: jsonschema::Validator,
}

fn load_schemas() -> Schemas {
    let dir = repo_root().join("crates/millrace-report/tests/data/openlineage");
    let mut files = vec![dir.join("OpenLineage.json")];
    files.extend(std::fs::read_dir(dir.join("facets")).unwrap().map(|e| e.unwrap().path()));
    let docs: Vec<(String, Value)> = files
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
            (v["$id"].as_str().unwrap().to_string(), v)
        })
        .collect();
    let main = docs.iter().find(|(id, _)| id.ends_with("/OpenLineage.json")).unwrap().1.clone();
    let registry = jsonschema::Registry::new().extend(docs).unwrap().prepare().unwrap();
    let event = jsonschema::options().should_validate_formats(true).build(&main).unwrap();
    Schemas { registry, event }
}

impl Schemas {
    /// Validates the event and every facet against the schema its `_schemaURL` names.
    fn assert_valid(&self, event: &Value) {
        let mut errs: Vec<String> = self.event.iter_errors(event).map(|e| format!("{e} at {}", e.instance_path())).collect();
        let mut maps = vec![&event["run"]["facets"], &event["job"]["facets"]];
        for side in ["inputs", "outputs"] {
            for d in event[side].as_array().into_iter().flatten() {
                maps.extend([&d["facets"], &d["inputFacets"], &d["outputFacets"]]);
            }
        }
        for map in maps {
            for (name, facet) in map.as_object().into_iter().flatten() {
                let url = facet["_schemaURL"].as_str().unwrap_or_else(|| panic!("{name} has no _schemaURL"));
                let v = jsonschema::options().with_registry(&self.registry).should_validate_formats(true).build(&json!({ "$ref": url })).unwrap();
                errs.extend(v.iter_errors(facet).map(|e| format!("{name}: {e} at {}", e.instance_path())));
            }
        }
        assert!(errs.is_empty(), "invalid OpenLineage event:\n{}\n{}", errs.join("\n"), serde_json::to_string_pretty(event).unwrap());
    }
}

fn read_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn file_lineage_of_real_runs_is_valid_openlineage() {
    let schemas = load_schemas();
    let tmp = tempfile::tempdir().unwrap();

    let out = tmp.path().join("clean");
    assert_eq!(gate("run", CLEAN, &out, &["--quiet"]).status.code(), Some(0));
    let dirs = run_dirs(&out);
    assert_eq!(dirs.len(), 1);
    let events = read_events(&dirs[0].join("openlineage.jsonl"));
    assert_eq!(events.iter().map(|e| e["eventType"].as_str().unwrap()).collect::<Vec<_>>(), ["START", "COMPLETE"]);
    for e in &events {
        schemas.assert_valid(e);
    }
    assert_eq!(events[0]["run"]["runId"], events[1]["run"]["runId"]);
    let run_id = dirs[0].file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(events[0]["run"]["runId"], run_id.as_str(), "run.json, its directory and lineage share the run id");
    let input = &events[1]["inputs"][0];
    assert_eq!(input["namespace"], "file");
    assert_eq!(input["name"], repo_root().join(CLEAN).display().to_string());
    let output = &events[1]["outputs"][0];
    assert_eq!(output["name"], out.display().to_string());
    let fields = output["facets"]["schema"]["fields"].as_array().unwrap();
    assert!(fields.iter().any(|f| f["name"] == "n_words" && f["type"] == "UInt32"), "{output}");
    let assertions = output["facets"]["dataQualityAssertions"]["assertions"].as_array().unwrap();
    assert_eq!(assertions.len(), 13);
    assert!(assertions.iter().all(|a| a["success"] == true));
    assert_eq!(output["outputFacets"]["outputStatistics"]["rowCount"], 60);

    let bad = tmp.path().join("bad");
    assert_eq!(gate("run", DEFECTS, &bad, &["--quiet"]).status.code(), Some(4));
    let events = read_events(&run_dirs(&bad)[0].join("openlineage.jsonl"));
    assert_eq!(events.iter().map(|e| e["eventType"].as_str().unwrap()).collect::<Vec<_>>(), ["START", "FAIL"]);
    for e in &events {
        schemas.assert_valid(e);
    }
    let msg = events[1]["run"]["facets"]["errorMessage"]["message"].as_str().unwrap();
    assert!(msg.contains("checks failed") && msg.contains("unique(id)"), "{msg}");
    let assertions = events[1]["outputs"][0]["facets"]["dataQualityAssertions"]["assertions"].as_array().unwrap();
    assert_eq!(assertions.iter().filter(|a| a["success"] == false).count(), 8, "7 failures and 1 warning are unsuccessful assertions");

    // A run that fails before writing anything still reports FAIL with the error.
    let missing = tmp.path().join("missing");
    let o = gate("run", &tmp.path().join("nope.jsonl").display().to_string(), &missing, &["--quiet"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let dirs = run_dirs(&missing);
    let events = read_events(&dirs[0].join("openlineage.jsonl"));
    assert_eq!(events[1]["eventType"], "FAIL");
    schemas.assert_valid(&events[1]);
    assert!(events[1]["run"]["facets"]["errorMessage"]["message"].as_str().unwrap().contains("nope.jsonl"));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(dirs[0].join("run.json")).unwrap()).unwrap();
    assert_eq!(report["status"], "failed");
}

/// A one-thread HTTP/1.1 server on loopback that answers 200 and hands back each request.
fn listener(n: usize) -> (u16, std::sync::mpsc::Receiver<(String, Vec<(String, String)>, String)>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in l.incoming().take(n) {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end().to_string();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len: usize = headers.iter().find(|(k, _)| k == "content-length").map(|(_, v)| v.parse().unwrap()).unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
            tx.send((request_line.trim_end().to_string(), headers, String::from_utf8(body).unwrap())).unwrap();
        }
    });
    (port, rx)
}

#[test]
fn http_lineage_posts_start_and_complete() {
    let schemas = load_schemas();
    let tmp = tempfile::tempdir().unwrap();
    let (port, rx) = listener(2);
    let url = format!("lineage.url=http://127.0.0.1:{port}");
    let o = gate("run", CLEAN, &tmp.path().join("o"), &["--quiet", "--set", "lineage.transport=http", "--set", &url, "--set", "lineage.api_key=s3cret"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got: Vec<_> = (0..2).map(|_| rx.recv_timeout(std::time::Duration::from_secs(10)).expect("a POST")).collect();
    for (line, headers, _) in &got {
        assert_eq!(line, "POST /api/v1/lineage HTTP/1.1");
        assert!(headers.contains(&("content-type".into(), "application/json".into())), "{headers:?}");
        assert!(headers.contains(&("authorization".into(), "Bearer s3cret".into())), "{headers:?}");
    }
    let events: Vec<Value> = got.iter().map(|(_, _, b)| serde_json::from_str(b).unwrap()).collect();
    assert_eq!(events[0]["eventType"], "START");
    assert_eq!(events[1]["eventType"], "COMPLETE");
    assert_eq!(events[0]["run"]["runId"], events[1]["run"]["runId"]);
    for e in &events {
        schemas.assert_valid(e);
    }
    assert!(!stderr(&o).contains("s3cret"), "the API key must not be printed");

    // An unreachable lineage server is reported but does not fail the run.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("lineage.url=http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let o = gate("run", CLEAN, &tmp.path().join("o2"), &["--set", "lineage.transport=http", "--set", &dead]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("lineage START not delivered"), "{}", stderr(&o));
    // `--quiet` prints errors only; the status line counts the warnings.
    let o = gate("run", CLEAN, &tmp.path().join("o3"), &["--quiet", "--set", "lineage.transport=http", "--set", &dead]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains(", 2 warnings"), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// The HTML report in a browser

fn chromium_available() -> bool {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .any(|b| Command::new("sh").arg("-c").arg(format!("command -v {b}")).output().map(|o| o.status.success()).unwrap_or(false))
}

#[test]
fn report_of_a_real_run_renders_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bad");
    assert_eq!(gate("run", DEFECTS, &out, &["--quiet"]).status.code(), Some(4));
    let html = run_dirs(&out)[0].join("report.html");
    let page = std::fs::read_to_string(&html).unwrap();
    for want in ["ci-gate", "FAILED", "Data-quality checks", "unique(id)", "Language mix", "Document length"] {
        assert!(page.to_lowercase().contains(&want.to_lowercase()), "{want} missing from report.html");
    }
    if !chromium_available() {
        println!("SKIPPED screenshot: chromium not installed (apt-get install -y chromium)");
        return;
    }
    let keep = std::env::var_os("MILLRACE_REPORT_OUT").map(PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&keep).unwrap();
    let png = keep.join("ci-gate-report.png");
    let _ = std::fs::remove_file(&png);
    let o = Command::new("bash")
        .arg(repo_root().join("crates/millrace-report/scripts/screenshot.sh"))
        .arg(&html)
        .arg(&png)
        .arg("1280,2600")
        .output()
        .unwrap();
    assert!(o.status.success(), "screenshot.sh: {}", stderr(&o));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    assert_eq!((w, h), (1280, 2600));
    // A blank page of this size compresses to a few kB; the rendered report with its charts and
    // check table is far larger.
    assert!(bytes.len() > 100_000, "PNG suspiciously small: {} bytes", bytes.len());
    println!("screenshot: {} ({} bytes)", png.display(), bytes.len());
}

/// The bundled Delta pipeline: the summary and run.json name the version committed, a rerun adds
/// nothing, and `check` reads the table's snapshot (rows another writer appended included), as the
/// `deltalake` package reads it.
#[test]
fn delta_pipeline_names_its_version_and_checks_read_the_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("table");
    let run = || bin().env("MILLRACE_OUT", &table).args(["run", "pipelines/delta.yaml"]).output().unwrap();
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("(Delta version 0)"), "{}", stderr(&o));
    let runs: Vec<PathBuf> = std::fs::read_dir(table.join("_millrace/delta/runs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 1);
    let report: Value = serde_json::from_slice(&std::fs::read(runs[0].join("run.json")).unwrap()).unwrap();
    assert_eq!(report["sinks"][0]["kind"], "delta");
    assert_eq!(report["sinks"][0]["version"], 0, "{}", report["sinks"][0]);
    let written = report["sinks"][0]["files"].as_array().unwrap().iter().map(|f| f["rows"].as_u64().unwrap()).sum::<u64>();

    let read = |t: &Path| millrace_test_fixtures::read_delta_table(t, &["millrace:delta:delta"], &[]);
    let t = read(&table);
    assert_eq!(t["rows"], written, "{t}");
    assert_eq!(t["txn"]["millrace:delta:delta"], 0, "{t}");
    assert_eq!(t["configuration"]["delta.logRetentionDuration"], "interval 30 days", "the sink's table properties: {t}");
    assert_eq!(t["partition_columns"], json!(["lang"]), "{t}");

    // Everything is committed: a rerun plans nothing and the table stays at its version.
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(read(&table)["version"], 0);

    // Another writer appends 5 rows; the checks see them, duplicates included.
    let py = "import sys\nfrom deltalake import DeltaTable, write_deltalake\nt = DeltaTable(sys.argv[1]).to_pyarrow_table().slice(0, 5)\nwrite_deltalake(sys.argv[1], t, mode='append')\nimport os; os._exit(0)\n";
    let o = Command::new("python3").args(["-c", py]).arg(&table).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = bin().env("MILLRACE_OUT", &table).args(["check", "pipelines/delta.yaml", "--json"]).output().unwrap();
    let c = json_out(&o);
    assert_eq!(c["committed_rows"], written + 5, "{c}");
    assert_eq!(c["checks"][1]["name"], "unique(id)");
    assert_eq!(c["checks"][1]["status"], "fail", "{c}");
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
}
