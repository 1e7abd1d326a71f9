//! What `pipeline` prints and writes besides the pipeline's own outputs: the JSON documents of
//! `run --json` and `check --json`, and JUnit files.

use millrace::{CheckRun, Finished, RunSummary, Verdict};
use millrace_report::{CheckResult, RunStatus};
use serde::Serialize;
use std::path::Path;

/// `pipeline run --json`: the run summary with the gate's results and the report's location.
#[derive(Serialize)]
pub struct RunJson<'a> {
    #[serde(flatten)]
    pub summary: &'a RunSummary,
    pub status: RunStatus,
    pub report: Option<&'a str>,
    pub report_html: Option<&'a str>,
    pub checks: Option<&'a [CheckResult]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_files: Option<&'a [String]>,
}

impl<'a> RunJson<'a> {
    pub fn new(summary: &'a RunSummary, fin: &'a Finished) -> Self {
        Self {
            summary,
            status: fin.report.status,
            report: fin.run_json.as_deref(),
            report_html: fin.html.as_deref(),
            checks: fin.checks.as_ref().map(|c| c.results.as_slice()),
            failure_files: fin.checks.as_ref().map(|c| c.failure_files.as_slice()),
        }
    }
}

/// `pipeline check --json`.
#[derive(Serialize)]
pub struct CheckJson<'a> {
    pub pipeline: &'a str,
    pub sink: &'a str,
    pub url: &'a str,
    pub committed_rows: u64,
    pub sampled_rows: Option<u64>,
    pub verdict: Verdict,
    pub checks: &'a [CheckResult],
    pub failure_files: &'a [String],
}

impl<'a> CheckJson<'a> {
    pub fn new(pipeline: &'a str, run: &'a CheckRun, verdict: Verdict) -> Self {
        Self {
            pipeline,
            sink: &run.sink,
            url: &run.url,
            committed_rows: run.committed_rows,
            sampled_rows: run.sampled_rows,
            verdict,
            checks: &run.results,
            failure_files: &run.failure_files,
        }
    }
}

/// Prints `value` as pretty JSON on stdout; false when it cannot be serialised.
pub fn print_json(value: &impl Serialize) -> bool {
    match serde_json::to_string_pretty(value) {
        Ok(j) => {
            println!("{j}");
            true
        }
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}

/// Writes the check results as JUnit XML; false (after saying why) when the file cannot be written.
pub fn write_junit(path: &Path, c: &CheckRun, pipeline: &str) -> bool {
    let xml = millrace::render_junit(&c.results, &format!("{pipeline}.{}", c.sink));
    write_file(path, xml.as_bytes())
}

pub fn write_file(path: &Path, bytes: &[u8]) -> bool {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(parent) {
            eprintln!("error: cannot create {}: {e}", parent.display());
            return false;
        }
    }
    match std::fs::write(path, bytes) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            false
        }
    }
}

/// Prints where the report went and any governance problem; writes JUnit. False when something that
/// was asked for could not be written.
pub fn report_finish(fin: &Finished, junit: Option<&Path>, pipeline: &str, quiet: bool) -> bool {
    let mut ok = true;
    if !quiet {
        for w in &fin.warnings {
            eprintln!("warning: {w}");
        }
    }
    if let Some(e) = &fin.check_error {
        eprintln!("error: checks could not run: {e}");
    }
    match (&fin.run_json, &fin.report_error) {
        (Some(j), _) if !quiet => {
            eprintln!("report: {j}");
            if let Some(h) = &fin.html {
                eprintln!("report: {h}");
            }
        }
        (None, Some(e)) => eprintln!("error: run report not written: {e}"),
        _ => {}
    }
    if let (Some(path), Some(c)) = (junit, &fin.checks) {
        ok &= write_junit(path, c, pipeline);
    }
    if let Some(c) = fin.checks.as_ref().filter(|_| !quiet) {
        for f in &c.failure_files {
            eprintln!("failing rows: {f}");
        }
    }
    ok
}

/// The one line `--quiet` prints at the end of a run: the outcome, rows, epochs, checks and where
/// the output went.
pub fn status_line(summary: &millrace::RunSummary, fin: &Finished, code: millrace::Exit) -> String {
    let state = match code {
        millrace::Exit::Success => "ok",
        millrace::Exit::GateFailed => "checks failed",
        millrace::Exit::Interrupted => "interrupted",
        _ => "failed",
    };
    let checks = match &fin.checks {
        Some(c) => {
            let passed = c.results.iter().filter(|r| r.status == millrace_report::CheckStatus::Pass).count();
            format!(", checks {passed}/{} passed", c.results.len())
        }
        None => String::new(),
    };
    let warnings = match fin.warnings.len() {
        0 => String::new(),
        1 => ", 1 warning not shown (--quiet)".to_string(),
        n => format!(", {n} warnings not shown (--quiet)"),
    };
    let to = summary.sinks.first().map(|s| format!(" -> {}", s.url)).unwrap_or_default();
    let epochs = if summary.epochs_committed == 1 { "epoch" } else { "epochs" };
    format!(
        "{state}: {} rows written, {} filtered, {} rejected in {} {epochs} ({:.1} s){checks}{warnings}{to}",
        summary.rows_written, summary.rows_filtered, summary.rows_rejected, summary.epochs_committed, summary.wall_seconds
    )
}

/// The error and its chain of causes, with credentials scrubbed.
pub fn print_error(e: &dyn std::error::Error) {
    eprintln!("error: {}", millrace_connectors::redact::text(&e.to_string()));
    let mut src = e.source();
    while let Some(s) = src {
        eprintln!("  caused by: {}", millrace_connectors::redact::text(&s.to_string()));
        src = s.source();
    }
}
