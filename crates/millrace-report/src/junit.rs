//! JUnit XML for data-quality checks, so CI systems show check outcomes as test results.
//!
//! Mapping: `pass` -> plain testcase; `fail` -> `<failure>`; `error` (the check could not
//! be evaluated) -> `<error>`; `warn` -> `<skipped>` with the warning as message, because a
//! warning must be visible without failing the CI job.

use std::fmt::Write as _;

use crate::format::escape_xml as esc;
use crate::model::{CheckResult, CheckStatus};

fn detail(c: &CheckResult) -> String {
    let mut d = String::new();
    let _ = writeln!(d, "kind: {}", c.kind);
    let _ = writeln!(d, "severity: {}", c.severity.as_str());
    if let Some(col) = &c.column {
        let _ = writeln!(d, "column: {col}");
    }
    let _ = writeln!(d, "observed: {}", c.observed);
    let _ = writeln!(d, "threshold: {}", c.threshold);
    if let Some(n) = c.failing_rows {
        let _ = writeln!(d, "failing_rows: {n}");
    }
    d
}

/// Renders `checks` as one JUnit `<testsuite>` (wrapped in `<testsuites>`).
pub fn render_junit(checks: &[CheckResult], suite_name: &str) -> String {
    let count = |s: CheckStatus| checks.iter().filter(|c| c.status == s).count();
    let (failures, errors, skipped) = (count(CheckStatus::Fail), count(CheckStatus::Error), count(CheckStatus::Warn));
    let mut x = String::with_capacity(256 + checks.len() * 256);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        r#"<testsuites name="{n}" tests="{t}" failures="{failures}" errors="{errors}" skipped="{skipped}">"#,
        n = esc(suite_name),
        t = checks.len(),
    );
    let _ = writeln!(
        x,
        r#"  <testsuite name="{n}" tests="{t}" failures="{failures}" errors="{errors}" skipped="{skipped}">"#,
        n = esc(suite_name),
        t = checks.len(),
    );
    for c in checks {
        let classname = if c.kind.is_empty() { suite_name.to_string() } else { format!("{suite_name}.{}", c.kind) };
        let _ = write!(x, r#"    <testcase name="{}" classname="{}""#, esc(&c.name), esc(&classname));
        let message = if c.message.is_empty() { c.status.as_str().to_string() } else { c.message.clone() };
        match c.status {
            CheckStatus::Pass => x.push_str("/>\n"),
            CheckStatus::Fail => {
                let _ = write!(
                    x,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                    esc(&message),
                    esc(&c.kind),
                    esc(&detail(c))
                );
            }
            CheckStatus::Error => {
                let _ = write!(
                    x,
                    ">\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>\n",
                    esc(&message),
                    esc(&c.kind),
                    esc(&detail(c))
                );
            }
            CheckStatus::Warn => {
                let _ = write!(
                    x,
                    ">\n      <skipped message=\"{}\"/>\n      <system-out>{}</system-out>\n    </testcase>\n",
                    esc(&format!("warning: {message}")),
                    esc(&detail(c))
                );
            }
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
