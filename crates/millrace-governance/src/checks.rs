//! The gate: which checks a spec asks for, run on a sink's committed output, and the verdict over
//! their results (with the terminal table of them).

use crate::GovernanceError;
use millrace_connectors::store::StoreRegistry;
use millrace_report::{CheckResult, CheckStatus};
use millrace_spec::{CheckSpec, LoadedSpec};
use crate::evaluate::evaluate;
use crate::output::{CommittedOutput, open_output};

/// Failing rows kept per check by `--store-failures` unless told otherwise.
pub const DEFAULT_FAILURE_ROWS: usize = 1000;

/// How `pipeline check` (and the checks at the end of `pipeline run`) are run.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Sink to check, by name (`sinks[].name`, default the kind) or URL; default the first sink.
    pub target: Option<String>,
    /// Check only the first N committed rows (row_count still uses the committed total).
    pub sample: Option<usize>,
    /// Directory (path or URL) for one Parquet file of failing rows per failed check.
    pub store_failures: Option<String>,
    /// Rows kept per check in `store_failures`.
    pub failure_rows: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self { target: None, sample: None, store_failures: None, failure_rows: DEFAULT_FAILURE_ROWS }
    }
}

/// What one `pipeline check` produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckRun {
    pub sink: String,
    pub url: String,
    pub committed_rows: u64,
    /// Rows checked, when fewer than `committed_rows` (`--sample`).
    pub sampled_rows: Option<u64>,
    pub results: Vec<CheckResult>,
    /// Parquet files written by `--store-failures`.
    pub failure_files: Vec<String>,
}

/// The gate's verdict over a set of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// Only warnings.
    Warn,
    /// At least one `fail` or `error`.
    Fail,
}

pub fn verdict(results: &[CheckResult]) -> Verdict {
    if results.iter().any(|r| matches!(r.status, CheckStatus::Fail | CheckStatus::Error)) {
        Verdict::Fail
    } else if results.iter().any(|r| r.status == CheckStatus::Warn) {
        Verdict::Warn
    } else {
        Verdict::Pass
    }
}

/// Opens the target sink and evaluates every check of the spec on it.
pub async fn run_checks(spec: &LoadedSpec, opts: &CheckOptions) -> Result<CheckRun, GovernanceError> {
    let registry = StoreRegistry::new(spec.spec.storage.clone());
    let out = open_output(spec, &registry, opts.target.as_deref(), opts.sample).await?;
    check_output(spec, &registry, &out, opts).await
}

/// Evaluates the spec's checks on an output already opened, storing failing rows when asked.
pub async fn check_output(
    spec: &LoadedSpec,
    registry: &StoreRegistry,
    out: &CommittedOutput,
    opts: &CheckOptions,
) -> Result<CheckRun, GovernanceError> {
    let store = match &opts.store_failures {
        Some(u) => Some(registry.resolve(u)?),
        None => None,
    };
    let checks: Vec<CheckSpec> = spec.spec.checks.iter().map(|c| c.value.clone()).collect();
    let (results, failure_files) = evaluate(out, &checks, store.as_ref(), opts.failure_rows).await?;
    Ok(CheckRun {
        sink: out.sink.clone(),
        url: out.url.clone(),
        committed_rows: out.committed_rows,
        sampled_rows: out.sampled_rows,
        results,
        failure_files,
    })
}

fn clip(s: &str, w: usize) -> String {
    if s.chars().count() <= w { s.to_string() } else { format!("{}…", s.chars().take(w.saturating_sub(1)).collect::<String>()) }
}

/// Compact text of a result value for the terminal table: `{"min": 5, "max": 9}` -> `>= 5, <= 9`.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let v = cell(v);
                match k.as_str() {
                    "min" => format!(">= {v}"),
                    "max" => format!("<= {v}"),
                    _ => format!("{k} {v}"),
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Renders results as an aligned plain-text table.
pub fn results_table(results: &[CheckResult]) -> String {
    use comfy_table::{ContentArrangement, Table, presets};
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(["STATUS", "SEVERITY", "CHECK", "OBSERVED", "THRESHOLD", "MESSAGE"]);
    for r in results {
        table.add_row([
            r.status.as_str().to_uppercase(),
            r.severity.as_str().to_string(),
            // Long observed values (a schema's types) and rules are clipped; the message never is.
            clip(&r.name, 40),
            clip(&cell(&r.observed), 12),
            clip(&cell(&r.threshold), 30),
            r.message.clone(),
        ]);
    }
    for c in table.column_iter_mut() {
        c.set_padding((0, 2));
    }
    let mut s: String = table.lines().map(|l| l.trim_end().to_string() + "\n").collect();
    let count = |st: CheckStatus| results.iter().filter(|r| r.status == st).count();
    s.push_str(&format!(
        "{} checks: {} passed, {} warned, {} failed, {} errored\n",
        results.len(),
        count(CheckStatus::Pass),
        count(CheckStatus::Warn),
        count(CheckStatus::Fail),
        count(CheckStatus::Error)
    ));
    s
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let r = |s| CheckResult { status: s, ..Default::default() };
        assert_eq!(verdict(&[r(CheckStatus::Pass)]), Verdict::Pass);
        assert_eq!(verdict(&[r(CheckStatus::Pass), r(CheckStatus::Warn)]), Verdict::Warn);
        assert_eq!(verdict(&[r(CheckStatus::Warn), r(CheckStatus::Error)]), Verdict::Fail);
        assert_eq!(verdict(&[]), Verdict::Pass);
    }

    #[test]
    fn results_table_aligns_clips_and_counts() {
        let r = |name: &str, status, observed: serde_json::Value| CheckResult {
            name: name.into(),
            status,
            observed,
            message: format!("message of {name}"),
            ..Default::default()
        };
        let long = "x".repeat(60);
        let t = results_table(&[r("short", CheckStatus::Pass, 3.into()), r(&long, CheckStatus::Fail, serde_json::json!({"min": 5}))]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("STATUS  SEVERITY"), "{t}");
        let col = |l: &str| l[..l.find("message of").unwrap()].chars().count();
        assert_eq!(col(lines[1]), col(lines[2]), "messages start in one column:\n{t}");
        let cells = &lines[2][..lines[2].find("message of").unwrap()];
        assert!(cells.contains(&format!("{}…", "x".repeat(39))) && !cells.contains(&"x".repeat(40)), "{t}");
        assert!(lines[2].contains(">= 5"), "{t}");
        assert_eq!(lines[3], "2 checks: 1 passed, 0 warned, 1 failed, 0 errored");
    }
}
