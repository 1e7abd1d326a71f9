//! JUnit XML for data-quality checks, so CI systems show check outcomes as test results.
//!
//! Mapping: `pass` -> plain testcase; `fail` -> `<failure>`; `error` (the check could not
//! be evaluated) -> `<error>`; `warn` -> `<skipped>` with the warning as message, because a
//! warning must be visible without failing the CI job.
//!
//! The document is built and serialised by `quick-junit` (which escapes every attribute and
//! text node through `quick-xml`); this module only maps checks onto its data model.

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::model::{CheckResult, CheckStatus};

/// Replaces the characters XML 1.0 cannot carry at all, not even escaped (most C0 controls,
/// U+FFFE, U+FFFF), with U+FFFD, so a hostile check name still yields a parsable document and
/// the reader sees that something was there. (`quick-junit` would silently drop the C0
/// controls and pass U+FFFE/U+FFFF through; escaping itself is left to it.)
fn xml_chars(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 => '\u{FFFD}',
            '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
            _ => c,
        })
        .collect()
}

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
    xml_chars(&d)
}

fn test_case(c: &CheckResult, suite_name: &str) -> TestCase {
    let message = xml_chars(if c.message.is_empty() { c.status.as_str() } else { &c.message });
    let problem = |kind: NonSuccessKind| {
        let mut s = TestCaseStatus::non_success(kind);
        s.set_message(message.as_str()).set_type(xml_chars(&c.kind)).set_description(detail(c));
        s
    };
    let status = match c.status {
        CheckStatus::Pass => TestCaseStatus::success(),
        CheckStatus::Fail => problem(NonSuccessKind::Failure),
        CheckStatus::Error => problem(NonSuccessKind::Error),
        CheckStatus::Warn => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("warning: {message}"));
            s
        }
    };
    let mut case = TestCase::new(xml_chars(&c.name), status);
    let classname = if c.kind.is_empty() { suite_name.to_string() } else { format!("{suite_name}.{}", c.kind) };
    case.set_classname(xml_chars(&classname));
    if c.status == CheckStatus::Warn {
        case.set_system_out(detail(c));
    }
    case
}

/// Renders `checks` as one JUnit `<testsuite>` (wrapped in `<testsuites>`).
pub fn render_junit(checks: &[CheckResult], suite_name: &str) -> String {
    let mut suite = TestSuite::new(xml_chars(suite_name));
    suite.add_test_cases(checks.iter().map(|c| test_case(c, suite_name)));
    let mut report = Report::new(xml_chars(suite_name));
    report.add_test_suite(suite);
    // Serialising into memory has no I/O to fail, and every input is already a valid `String`.
    report.to_string().expect("JUnit serialisation into memory cannot fail")
}
