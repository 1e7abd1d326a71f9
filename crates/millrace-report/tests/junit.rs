//! JUnit XML output is well-formed and maps check outcomes correctly.

mod common;

use millrace_report::{CheckResult, CheckStatus, Severity, render_junit};

#[test]
fn junit_is_well_formed_and_counts_outcomes() {
    let report = common::realistic_report();
    let xml = render_junit(&report.checks, "millrace <cc> & co");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suite = root.children().find(|n| n.has_tag_name("testsuite")).expect("testsuite");
    assert_eq!(suite.attribute("name"), Some("millrace <cc> & co"));
    assert_eq!(suite.attribute("tests"), Some("6"));
    assert_eq!(suite.attribute("failures"), Some("1"));
    assert_eq!(suite.attribute("errors"), Some("1"));
    assert_eq!(suite.attribute("skipped"), Some("1"));
    let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 6);
    let by_name = |n: &str| cases.iter().find(|c| c.attribute("name") == Some(n)).copied().expect(n);
    let fail = by_name("dedupe_rate_max");
    let failure = fail.children().find(|n| n.has_tag_name("failure")).expect("failure element");
    assert_eq!(
        failure.attribute("message"),
        Some("near-duplicate rate 20.4% > 20% <check crawl overlap & seed list>")
    );
    assert!(failure.text().unwrap_or("").contains("failing_rows: 331827"));
    assert_eq!(fail.attribute("classname"), Some("millrace <cc> & co.expression"));
    assert!(by_name("pii_scan").children().any(|n| n.has_tag_name("error")));
    let warn = by_name("url_not_null");
    assert!(warn.children().any(|n| n.has_tag_name("skipped")));
    assert!(!warn.children().any(|n| n.has_tag_name("failure")));
    let pass = by_name("min_rows_written");
    assert_eq!(pass.children().filter(|n| n.is_element()).count(), 0);
}

#[test]
fn junit_survives_hostile_strings() {
    let checks = vec![CheckResult {
        name: "quote\" apos' lt< gt> amp& ctrl\u{1}\u{8} end".into(),
        kind: "k]]>".into(),
        severity: Severity::Error,
        status: CheckStatus::Fail,
        message: "</failure><injected/>".into(),
        observed: serde_json::json!("<x>"),
        ..Default::default()
    }];
    let xml = render_junit(&checks, "s");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML despite hostile input");
    assert!(!doc.descendants().any(|n| n.has_tag_name("injected")));
    let case = doc.descendants().find(|n| n.has_tag_name("testcase")).expect("testcase");
    assert_eq!(case.attribute("name"), Some("quote\" apos' lt< gt> amp& ctrl\u{FFFD}\u{FFFD} end"));
}

#[test]
fn junit_empty_suite() {
    let xml = render_junit(&[], "empty");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed");
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).expect("suite");
    assert_eq!(suite.attribute("tests"), Some("0"));
}
