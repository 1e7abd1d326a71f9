//! Checks and the run report through the engine API: hive partitions with null values read back as
//! nulls, only committed files are checked, and the report profiles what the run wrote.

use millrace_governance::checks::{self, CheckOptions, Verdict};
use millrace_governance::{RunGovernance, RunOutcome};
use millrace_report::{CheckStatus, RunStatus};
use std::path::Path;

fn write_corpus(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("in.jsonl");
    let rows = [
        r#"{"id": "a", "text": "first document here", "lang": "en"}"#,
        r#"{"id": "b", "text": "second document, mail me at a.b@example.com", "lang": "en"}"#,
        r#"{"id": "c", "text": "troisième document", "lang": "fr"}"#,
        r#"{"id": "d", "text": "no language", "lang": null}"#,
        r#"{"id": "e", "text": "no language either"}"#,
    ];
    std::fs::write(&p, rows.join("\n") + "\n").unwrap();
    p
}

fn spec(dir: &Path, input: &Path, checks: &str) -> millrace_spec::LoadedSpec {
    let text = format!(
        "name: gov\nsource:\n  files: {}\n  format: jsonl\nsinks:\n  - parquet: {}\n    partition_by: [lang]\nchecks:\n{checks}",
        input.display(),
        dir.join("out").display()
    );
    millrace_spec::load_str(&text, "gov.yaml", &[]).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn null_partitions_committed_files_and_the_report_profile() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write_corpus(tmp.path());
    let s = spec(
        tmp.path(),
        &input,
        "  - not_null: [lang, id]\n  - accepted_values: { column: lang, values: [en, fr] }\n  - row_count: { min: 5, max: 5 }\n  - sql: { name: emails, query: \"SELECT id FROM output WHERE text ~ '@'\" }\n",
    );

    // Before any run there is nothing to check.
    let err = checks::run_checks(&s, &CheckOptions::default()).await.err().expect("nothing committed");
    assert!(err.to_string().contains("no committed output"), "{err}");

    let gov = RunGovernance::new(&s, uuid::Uuid::new_v4()).unwrap();
    let summary = millrace_engine::run(&s, millrace_engine::RunOptions::default()).await.unwrap();
    assert_eq!(summary.rows_written, 5);
    assert!(tmp.path().join("out/lang=__HIVE_DEFAULT_PARTITION__").is_dir());

    // A stray file that no manifest lists (as a crashed epoch would leave) is not part of `output`.
    std::fs::copy(
        std::fs::read_dir(tmp.path().join("out/lang=en")).unwrap().next().unwrap().unwrap().path(),
        tmp.path().join("out/lang=en/part-000099-000-0000.parquet"),
    )
    .unwrap();

    let run = checks::run_checks(&s, &CheckOptions::default()).await.unwrap();
    let by = |n: &str| run.results.iter().find(|r| r.name == n).unwrap_or_else(|| panic!("{n}: {:?}", run.results)).clone();
    let lang = by("not_null(lang)");
    assert_eq!((lang.status, lang.failing_rows), (CheckStatus::Fail, Some(2)), "{lang:?}");
    assert_eq!(by("not_null(id)").status, CheckStatus::Pass);
    assert_eq!(by("accepted_values(lang)").status, CheckStatus::Pass, "nulls are not checked by accepted_values");
    assert_eq!(by("row_count").status, CheckStatus::Pass, "the stray file must not be counted");
    let emails = by("emails");
    assert_eq!((emails.status, emails.failing_rows), (CheckStatus::Fail, Some(1)));
    assert_eq!(checks::verdict(&run.results), Verdict::Fail);

    // --store-failures keeps the failing rows, with partition columns restored.
    let store = tmp.path().join("failures");
    let opts = CheckOptions { store_failures: Some(store.display().to_string()), failure_rows: 1, ..Default::default() };
    let run = checks::run_checks(&s, &opts).await.unwrap();
    assert_eq!(run.failure_files.len(), 2, "{:?}", run.failure_files);
    assert!(store.join("00-not_null_lang.parquet").is_file());

    // The report profiles what this run committed.
    let fin = gov.finish(RunOutcome::Completed(&summary), Some(&CheckOptions::default())).await;
    assert!(fin.report_error.is_none() && fin.check_error.is_none(), "{:?} {:?}", fin.report_error, fin.check_error);
    assert_eq!(fin.report.status, RunStatus::Failed, "error-severity checks failed");
    assert!(fin.checks_failed(false));
    assert_eq!(fin.report.language_mix.get("unknown"), Some(&2));
    assert_eq!(fin.report.language_mix.get("en"), Some(&2));
    assert_eq!(fin.report.histograms.doc_length_chars.total(), 5);
    assert_eq!(fin.report.sinks[0].files.len(), 3, "this run's files only, not the stray one");
    assert_eq!(fin.report.totals.rows_written, 5);
    let run_json = fin.run_json.expect("run.json written");
    assert!(Path::new(run_json.trim_start_matches("file://")).is_file());
}

/// A `sql` check is a query: `COPY … TO`, DDL and `SET` are refused and write nothing.
#[tokio::test(flavor = "multi_thread")]
async fn sql_checks_cannot_write_files_or_change_the_session() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write_corpus(tmp.path());
    let target = tmp.path().join("exfiltrated.csv");
    let s = spec(
        tmp.path(),
        &input,
        &format!(
            "  - sql: {{ name: copy, query: \"COPY (SELECT * FROM output) TO '{}'\" }}\n  - sql: {{ name: ddl, query: \"CREATE TABLE t AS SELECT 1\" }}\n  - sql: {{ name: set, query: \"SET datafusion.execution.batch_size = 1\" }}\n  - row_count: {{ min: 5, max: 5 }}\n",
            target.display()
        ),
    );
    millrace_engine::run(&s, millrace_engine::RunOptions::default()).await.unwrap();
    let run = checks::run_checks(&s, &CheckOptions::default()).await.unwrap();
    for name in ["copy", "ddl", "set"] {
        let r = run.results.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("{name}: {:?}", run.results));
        assert_eq!(r.status, CheckStatus::Error, "{name} is refused: {r:?}");
    }
    assert!(!target.exists(), "no file written by a check");
    assert_eq!(run.results.iter().find(|r| r.name == "row_count").unwrap().status, CheckStatus::Pass);
}
