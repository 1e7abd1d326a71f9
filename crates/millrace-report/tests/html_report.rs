//! Structure of the rendered HTML report.

mod common;

use millrace_report::{fmt_duration_ms, fmt_int, render_html, Histogram, RunReport, RunStatus, StageReport};

/// Checks that every `<svg>` is closed and tags inside it balance (a cheap well-formedness
/// test for the generated charts; they are XML).
fn svg_blocks_balanced(html: &str) -> usize {
    let mut count = 0;
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("unclosed <svg>") + start + "</svg>".len();
        let block = &rest[start..end];
        assert!(block.contains("viewBox=\""), "svg without viewBox");
        assert!(block.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        // Every opening tag is self-closed or has a matching close tag.
        let mut stack: Vec<&str> = Vec::new();
        let mut i = 0;
        while let Some(off) = block[i..].find('<') {
            let s = i + off;
            let e = block[s..].find('>').expect("unterminated tag") + s;
            let tag = &block[s + 1..e];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().expect("close without open");
                assert_eq!(open, name.trim(), "mismatched tag in svg");
            } else if !tag.ends_with('/') {
                let name = tag.split(|c: char| c.is_whitespace()).next().unwrap_or("");
                stack.push(name);
            }
            // Attribute values must be quoted and free of raw '<'.
            assert!(!tag.contains('<'), "raw < inside tag: {tag}");
            i = e + 1;
        }
        assert!(stack.is_empty(), "unclosed tags in svg: {stack:?}");
        // Coordinates must be finite numbers.
        assert!(!block.contains("NaN") && !block.contains("inf"), "non-finite coordinate in svg");
        count += 1;
        rest = &rest[end..];
    }
    count
}

#[test]
fn realistic_report_has_every_section() {
    let r = common::realistic_report();
    let html = render_html(&r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.ends_with("</html>"));
    for id in [
        "summary", "kpis", "funnel", "drop-reasons", "languages", "doc-length", "tokens-per-doc", "throughput",
        "checks", "sinks", "epochs",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "missing section {id}");
    }
    // Self-contained: no scripts, no external fetches.
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\"http"));
    assert!(!html.contains("<link"));
    assert!(!html.contains("@import"));
    // Header facts and formatted numbers.
    assert!(html.contains("badge-failed"));
    assert!(html.contains("3m 03s"), "duration");
    assert!(html.contains("2.48M"), "rows in KPI");
    assert!(html.contains("1.29M"), "rows out KPI");
    assert!(html.contains("6.84 GB"), "peak RSS");
    assert!(html.contains("41.2 MB/s"), "throughput KPI: 7.564 GB / 183.42 s");
    assert!(html.contains("3f8a1c0d9b7e"), "spec hash prefix");
    // Charts: funnel, 2 bar charts, 2 histograms, 2 line charts.
    assert_eq!(svg_blocks_balanced(&html), 7);
    // Check statuses are coloured.
    for s in ["st-pass", "st-warn", "st-fail", "st-error"] {
        assert!(html.contains(s), "missing status class {s}");
    }
    // Failing checks are listed before passing ones.
    let fail = html.find("dedupe_rate_max").expect("fail row");
    let pass = html.find("min_rows_written").expect("pass row");
    assert!(fail < pass);
    // Language mix collapses the tail into "other".
    assert!(html.contains("other (2)"));
}

#[test]
fn user_strings_are_escaped() {
    let r = common::realistic_report();
    let html = render_html(&r);
    // Pipeline name, sink name and check message carry markup characters.
    assert!(!html.contains("<clean>"));
    assert!(html.contains("cc-2025-06 &lt;clean&gt; &amp; dedupe"));
    assert!(!html.contains("shards <tokenised>"));
    assert!(html.contains("shards &lt;tokenised&gt;"));
    assert!(html.contains("&lt;check crawl overlap &amp; seed list&gt;"));

    let mut evil = RunReport {
        pipeline: r#"</title><script>alert("x")</script>"#.into(),
        error: Some("<img src=x onerror=alert(1)>".into()),
        status: RunStatus::Failed,
        ..Default::default()
    };
    evil.language_mix.insert("<svg onload=alert(1)>".into(), 5);
    let html = render_html(&evil);
    assert!(!html.contains("<script"));
    assert!(!html.contains("<img"));
    assert!(!html.contains("<svg onload"));
    assert!(html.contains("&lt;script&gt;"));
}

/// The part of `html` from the element with `id="{id}"` to the end of its section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..].find("</section>").expect("section closed") + start;
    &html[start..end]
}

#[test]
fn funnel_has_one_row_per_stage_with_counts_and_escaped_names() {
    // (name, kind, rows in, rows out, rejected, cpu ms): one StageReport per spec stage, as
    // the engine sends them; "2 filter" drops rows without rejecting them (filtered).
    let specs = [
        ("read", "source", 1_250_000, 1_250_000, 0, Some(4_100)),
        ("1 clean", "text_clean", 1_250_000, 1_231_977, 18_023, Some(61_250)),
        ("2 filter", "quality_filter", 1_231_977, 903_114, 1_207, Some(15_900)),
        ("3 dedupe", "near_dedupe", 903_114, 811_006, 92_108, None),
        ("4 <script>alert(1)</script>", "tokenise", 811_006, 811_006, 0, Some(750)),
    ];
    let report = RunReport {
        pipeline: "stages".into(),
        stages: specs
            .iter()
            .map(|&(name, kind, rows_in, rows_out, rows_rejected, cpu_ms)| StageReport {
                name: name.into(),
                kind: kind.into(),
                rows_in,
                rows_out,
                rows_rejected,
                cpu_ms,
                wall_ms: 2_000,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let html = render_html(&report);
    assert!(!html.contains("<script"), "stage name must be escaped");
    let funnel = section(&html, "funnel");
    // The funnel chart: one group per stage plus the "input" row.
    assert_eq!(funnel.matches("<g><title>").count(), specs.len() + 1);
    assert!(funnel.contains("<title>4 &lt;script&gt;alert(1)&lt;/script&gt;: 811,006 in, 811,006 kept</title>"));
    // The per-stage table: one row per stage, in spec order, with every count.
    let tbody_start = funnel.find("<tbody>").expect("stage table") + "<tbody>".len();
    let tbody = &funnel[tbody_start..funnel.find("</tbody>").expect("tbody closed")];
    let rows: Vec<&str> = tbody.split("<tr>").filter(|r| !r.is_empty()).collect();
    assert_eq!(rows.len(), specs.len());
    let num = |v: String| format!("<td class=\"num\">{v}</td>");
    for (row, &(name, kind, rows_in, rows_out, rejected, cpu_ms)) in rows.iter().zip(&specs) {
        let escaped = name.replace('<', "&lt;").replace('>', "&gt;");
        assert!(row.contains(&format!(">{escaped}</td>")), "stage name {escaped} in {row}");
        assert!(row.contains(&format!(">{kind}</td>")), "kind {kind} in {row}");
        let filtered = rows_in - rows_out - rejected;
        let cpu = cpu_ms.map(fmt_duration_ms).unwrap_or_else(|| "–".into());
        let cells = [fmt_int(rows_in), fmt_int(rows_out), fmt_int(rejected), fmt_int(filtered), cpu];
        let mut at = 0;
        for cell in cells {
            let cell = num(cell);
            let off = row[at..].find(&cell).unwrap_or_else(|| panic!("{cell} in order in row {row}"));
            at += off + cell.len();
        }
    }
    assert!(rows[2].contains(&num("327,656".into())), "filtered rows of '2 filter'");
    assert!(rows[3].contains(&num("–".into())), "no CPU time measured for '3 dedupe'");

    // Ten stages still make one chart row and one table row each, and well-formed SVG.
    let mut ten = report.clone();
    ten.stages = (0..10)
        .map(|i| StageReport {
            name: format!("{i} stage with a rather long descriptive name"),
            kind: "filter".into(),
            rows_in: 1_000_000 - i * 50_000,
            rows_out: 950_000 - i * 50_000,
            rows_rejected: 50_000,
            ..Default::default()
        })
        .collect();
    let html = render_html(&ten);
    let funnel = section(&html, "funnel");
    assert_eq!(funnel.matches("<g><title>").count(), 11);
    assert_eq!(funnel.matches("<tr>").count(), 11, "header row plus ten stage rows");
    assert_eq!(svg_blocks_balanced(funnel), 1);
}

#[test]
fn empty_report_renders_placeholders() {
    let html = render_html(&RunReport::default());
    assert!(html.contains("badge-running"));
    assert!(html.contains("No stages recorded."));
    assert!(html.contains("No checks configured."));
    assert!(!html.contains("id=\"throughput\""), "no samples, no throughput chart");
    assert_eq!(svg_blocks_balanced(&html), 0);
}

#[test]
fn malformed_histogram_is_reported_not_panicking() {
    let mut r = common::realistic_report();
    r.histograms.doc_length_chars = Histogram { edges: vec![0.0, 10.0], counts: vec![1, 2, 3] };
    r.histograms.tokens_per_doc = Histogram { edges: vec![5.0, 1.0], counts: vec![1] };
    let html = render_html(&r);
    assert!(html.contains("Histogram not shown: invalid histogram: 2 edges for 3 buckets"));
    assert!(html.contains("edges must be strictly ascending"));
    assert_eq!(svg_blocks_balanced(&html), 5);
}

#[test]
fn run_json_round_trips() {
    let r = common::realistic_report();
    let text = r.to_json_pretty().expect("serialise");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["started_at"], "2025-06-03T14:02:11Z");
    assert_eq!(v["checks"][3]["severity"], "error");
    assert_eq!(v["checks"][3]["status"], "fail");
    assert_eq!(v["sinks"][0]["schema"][0]["type"], "Utf8");
    let back = RunReport::from_json(&text).expect("parse");
    assert_eq!(back, r);
    // Older/partial run.json files still load.
    let partial = RunReport::from_json(r#"{"pipeline":"p","status":"succeeded"}"#).expect("partial");
    assert_eq!(partial.status, RunStatus::Succeeded);
    assert!(RunReport::from_json(r#"{"status":"exploded"}"#).is_err());
}
