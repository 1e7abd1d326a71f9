//! Self-contained HTML run report (`report.html`).
//!
//! One page, inline CSS and inline SVG only: it must open from a bucket, an email
//! attachment or an air-gapped cluster without fetching anything.
//!
//! The page is a `maud` template: every interpolated value is escaped by the template engine.
//! Only two things are inserted as [`PreEscaped`]: the [`CSS`] constant and the SVG charts
//! of [`crate::svg`], which escape every label they draw themselves.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::format::{fmt_bytes, fmt_bytes_f, fmt_count, fmt_count_f, fmt_duration_ms, fmt_int, fmt_pct};
use crate::model::{CheckStatus, Histogram, RunReport, RunStatus, SinkReport, StageReport};
use crate::svg::{self, Bar, FunnelStep, PALETTE};

/// At most this many bars in the reasons and language charts; the rest is summed as "other".
const MAX_BARS: usize = 12;
/// At most this many file rows per sink and epoch rows, to keep huge runs' pages light.
const MAX_TABLE_ROWS: usize = 200;
/// Version printed in the page's generator tag and footer.
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Placeholder for a value that is unknown or not applicable.
const NONE: &str = "–";

const CSS: &str = r#"
*{box-sizing:border-box}
html{background:#eef2f7}
body{margin:0;font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue","Liberation Sans",Arial,"DejaVu Sans",sans-serif;color:#0f172a;font-size:14px;line-height:1.45;-webkit-font-smoothing:antialiased}
.page{max-width:1200px;margin:0 auto;padding:24px 28px 40px}
.hero{background:linear-gradient(135deg,#1e1b4b 0%,#312e81 55%,#4338ca 100%);color:#e0e7ff;border-radius:16px;padding:26px 30px 22px;box-shadow:0 8px 24px rgba(30,27,75,.18)}
.brand{font-size:11.5px;letter-spacing:.14em;text-transform:uppercase;color:#a5b4fc;font-weight:600}
.hero h1{margin:6px 0 14px;font-size:28px;color:#fff;display:flex;align-items:center;gap:14px;flex-wrap:wrap;word-break:break-word}
.badge{display:inline-block;font-size:12px;font-weight:700;letter-spacing:.06em;text-transform:uppercase;padding:4px 11px;border-radius:999px;vertical-align:middle}
.badge-succeeded{background:#dcfce7;color:#166534}
.badge-failed{background:#fee2e2;color:#991b1b}
.badge-running{background:#e0e7ff;color:#3730a3}
.meta{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px 24px;margin:0}
.meta div{min-width:0}
.meta dt{font-size:11px;text-transform:uppercase;letter-spacing:.08em;color:#a5b4fc}
.meta dd{margin:2px 0 0;color:#fff;font-size:13.5px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12.5px}
.error-box{margin-top:16px;background:#fef2f2;color:#7f1d1d;border:1px solid #fecaca;border-radius:10px;padding:10px 14px;white-space:pre-wrap;word-break:break-word}
.error-box strong{color:#991b1b}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:14px;margin:20px 0}
.kpi{background:#fff;border:1px solid #e2e8f0;border-radius:12px;padding:14px 16px;box-shadow:0 1px 2px rgba(15,23,42,.04)}
.kpi .label{font-size:11.5px;text-transform:uppercase;letter-spacing:.07em;color:#64748b;font-weight:600}
.kpi .value{font-size:26px;font-weight:700;margin-top:4px;font-variant-numeric:tabular-nums;color:#0f172a}
.kpi .sub{font-size:12px;color:#64748b;margin-top:2px}
.kpi.accent{border-top:3px solid #4f46e5}
.kpi.good{border-top:3px solid #16a34a}
.kpi.bad{border-top:3px solid #e11d48}
.kpi.teal{border-top:3px solid #0d9488}
.kpi.amber{border-top:3px solid #d97706}
.kpi.slate{border-top:3px solid #475569}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:14px;padding:18px 20px 16px;margin:0 0 18px;box-shadow:0 1px 2px rgba(15,23,42,.04);min-width:0}
.card h2{font-size:16px;margin:0 0 2px;color:#0f172a}
.card .hint{color:#64748b;font-size:12.5px;margin:0 0 12px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px}
.grid2>.card{margin-bottom:18px}
.chart{display:block;max-width:100%;height:auto;font-family:inherit}
.empty{color:#94a3b8;font-style:italic;padding:18px 0;text-align:center}
table{width:100%;border-collapse:collapse;font-size:13px}
th{text-align:left;font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:#64748b;font-weight:600;border-bottom:1px solid #e2e8f0;padding:8px 10px;white-space:nowrap}
td{border-bottom:1px solid #f1f5f9;padding:8px 10px;vertical-align:top}
tr:last-child td{border-bottom:none}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.msg{color:#334155;max-width:340px;word-break:break-word}
td .sub{display:block;color:#64748b;font-size:11.5px}
.wrap{word-break:break-all}
.pill{display:inline-block;min-width:52px;text-align:center;font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.05em;padding:3px 8px;border-radius:999px}
.st-pass{background:#dcfce7;color:#166534}
.st-warn{background:#fef3c7;color:#92400e}
.st-fail{background:#fee2e2;color:#991b1b}
.st-error{background:#ede9fe;color:#5b21b6}
tr.row-fail td{background:#fffafa}
.summary-line{display:flex;gap:8px;flex-wrap:wrap;margin:0 0 12px}
details{margin-top:10px}
summary{cursor:pointer;color:#4338ca;font-size:13px;font-weight:600}
.stats{display:flex;gap:18px;flex-wrap:wrap;font-size:12.5px;color:#475569;margin:0 0 8px}
.stats b{color:#0f172a;font-variant-numeric:tabular-nums}
footer{color:#94a3b8;font-size:12px;text-align:center;margin-top:26px}
@media (max-width:1000px){.kpis{grid-template-columns:repeat(3,1fr)}.grid2{grid-template-columns:1fr}}
@media print{html{background:#fff}.card,.kpi{box-shadow:none}}
"#;

fn fmt_time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| NONE.into())
}

/// Compact rendering of a JSON value for table cells.
fn fmt_json_cell(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::Null => NONE.to_string(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => fmt_int(u),
            (None, Some(f)) if f.abs() < 1e15 && f != f.trunc() => {
                let s = format!("{f:.4}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
            _ => n.to_string(),
        },
        serde_json::Value::Object(m) if !m.is_empty() && m.values().all(|v| !v.is_object() && !v.is_array()) => m
            .iter()
            .map(|(k, v)| {
                let v = fmt_json_cell(v);
                match k.as_str() {
                    "min" => format!("≥ {v}"),
                    "max" => format!("≤ {v}"),
                    "eq" | "equals" => format!("= {v}"),
                    _ => format!("{k} {v}"),
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    if s.chars().count() > 120 {
        let mut t: String = s.chars().take(119).collect();
        t.push('…');
        t
    } else {
        s
    }
}

/// Renders `report` as one self-contained HTML page.
pub fn render_html(report: &RunReport) -> String {
    let title = if report.pipeline.is_empty() { "(unnamed pipeline)" } else { &report.pipeline };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                meta name="generator" content={ "millrace-report " (VERSION) };
                title { (title) " · Millrace run report" }
                style { (PreEscaped(CSS)) }
            }
            body {
                main class="page" {
                    (header(report, title))
                    (kpis(report))
                    (funnel(report))
                    div class="grid2" {
                        (drop_reasons(report))
                        (languages(report))
                    }
                    div class="grid2" {
                        (histogram_card(
                            "doc-length",
                            "Document length",
                            "Characters per written document.",
                            &report.histograms.doc_length_chars,
                            "characters per document",
                            "chars",
                            svg::ACCENT,
                        ))
                        (histogram_card(
                            "tokens-per-doc",
                            "Tokens per document",
                            "Tokens per written document, from the tokeniser stage.",
                            &report.histograms.tokens_per_doc,
                            "tokens per document",
                            "tokens",
                            "#0d9488",
                        ))
                    }
                    (throughput(report))
                    (checks(report))
                    (sinks(&report.sinks))
                    (epochs(report))
                    footer {
                        "Generated by millrace-report " (VERSION) " · run "
                        span class="mono" { (report.run_id) }
                    }
                }
            }
        }
    }
    .into_string()
}

fn header(r: &RunReport, title: &str) -> Markup {
    let status = r.status.as_str();
    let duration = r.duration_ms().map(fmt_duration_ms).unwrap_or_else(|| NONE.into());
    let sha_short: String = r.spec_sha256.chars().take(12).collect();
    let spec = if r.spec_path.is_empty() { NONE } else { &r.spec_path };
    html! {
        header class="hero" id="summary" {
            div class="brand" { "Millrace · run report" }
            h1 { (title) span class={ "badge badge-" (status) } { (status) } }
            dl class="meta" {
                div { dt { "Started" } dd { (fmt_time(r.started_at)) } }
                div { dt { "Finished" } dd { (fmt_time(r.finished_at)) } }
                div { dt { "Duration" } dd { (duration) } }
                div { dt { "Run id" } dd class="mono" title=(r.run_id) { (r.run_id) } }
                div { dt { "Spec" } dd class="mono" title=(spec) { (spec) } }
                div {
                    dt { "Spec sha256" }
                    dd class="mono" title=(r.spec_sha256) { (if sha_short.is_empty() { NONE } else { &sha_short }) }
                }
            }
            @if r.status == RunStatus::Failed || r.error.is_some() {
                div class="error-box" {
                    strong { "Error:" } " " (r.error.as_deref().unwrap_or("run failed without an error message"))
                }
            }
        }
    }
}

/// Seconds the run (or, while running, the sampled part of it) has taken.
fn elapsed_secs(r: &RunReport) -> Option<f64> {
    r.duration_ms()
        .or_else(|| r.throughput.last().map(|s| s.t_ms))
        .filter(|ms| *ms > 0)
        .map(|ms| ms as f64 / 1000.0)
}

fn kpi_tile(class: &str, label: &str, value: &str, sub: &str) -> Markup {
    html! {
        div class={ "kpi " (class) } {
            div class="label" { (label) }
            div class="value" { (value) }
            div class="sub" { (sub) }
        }
    }
}

fn kpis(r: &RunReport) -> Markup {
    let t = &r.totals;
    let secs = elapsed_secs(r);
    let mbps = secs.map(|s| fmt_bytes_f(t.bytes_read as f64 / s) + "/s");
    let rps = secs.map(|s| fmt_count_f(t.rows_read as f64 / s) + " rows/s");
    let dropped = t.rows_filtered + t.rows_rejected;
    let peak_rss = if r.peak_rss_bytes > 0 { fmt_bytes(r.peak_rss_bytes) } else { NONE.into() };
    let cpu = if r.cpu_seconds > 0.0 { fmt_duration_ms((r.cpu_seconds * 1000.0) as u64) } else { NONE.into() };
    let cpu_sub = match secs {
        Some(s) if r.cpu_seconds > 0.0 => format!("{:.1} cores busy on average", r.cpu_seconds / s),
        _ => "user + system".into(),
    };
    html! {
        section class="kpis" id="kpis" {
            (kpi_tile("slate", "Rows in", &fmt_count(t.rows_read), &format!("{} read", fmt_bytes(t.bytes_read))))
            (kpi_tile(
                "good",
                "Rows out",
                &fmt_count(t.rows_written),
                &format!("{} kept · {}", fmt_pct(t.rows_written, t.rows_read), fmt_bytes(t.bytes_written)),
            ))
            (kpi_tile(
                "bad",
                "Dropped",
                &fmt_count(dropped),
                &format!("{} filtered · {} rejected", fmt_count(t.rows_filtered), fmt_count(t.rows_rejected)),
            ))
            (kpi_tile(
                "accent",
                "Throughput",
                mbps.as_deref().unwrap_or(NONE),
                rps.as_deref().unwrap_or("duration unknown"),
            ))
            (kpi_tile("amber", "Peak RSS", &peak_rss, "resident memory"))
            (kpi_tile("teal", "CPU time", &cpu, &cpu_sub))
        }
    }
}

/// A report section: `<section class="card">` with a title, a hint line and `body`.
fn card(id: &str, title: &str, hint: &str, body: Markup) -> Markup {
    html! {
        section class="card" id=(id) {
            h2 { (title) }
            p class="hint" { (hint) }
            (body)
        }
    }
}

fn empty(what: &str) -> Markup {
    html! { div class="empty" { (what) } }
}

/// Rows a stage dropped without rejecting them (filters): what went in and neither came
/// out nor was counted as rejected.
fn rows_filtered(s: &StageReport) -> u64 {
    s.rows_in.saturating_sub(s.rows_out).saturating_sub(s.rows_rejected)
}

fn funnel(r: &RunReport) -> Markup {
    let body = if r.stages.is_empty() {
        empty("No stages recorded.")
    } else {
        let input = if r.totals.rows_read > 0 {
            r.totals.rows_read
        } else {
            r.stages.first().map(|s| s.rows_in).unwrap_or(0)
        };
        let steps: Vec<FunnelStep> = r
            .stages
            .iter()
            .map(|s| FunnelStep {
                name: s.name.clone(),
                kind: s.kind.clone(),
                rows_in: s.rows_in,
                rows_out: s.rows_out,
            })
            .collect();
        html! {
            (PreEscaped(svg::funnel_chart(&steps, input)))
            details {
                summary { "Stage details" }
                table {
                    thead {
                        tr {
                            th { "Stage" }
                            th { "Kind" }
                            th class="num" { "Rows in" }
                            th class="num" { "Rows out" }
                            th class="num" { "Rejected" }
                            th class="num" { "Filtered" }
                            th class="num" { "Kept" }
                            th class="num" { "CPU" }
                            th class="num" { "Wall" }
                            th class="num" { "Rows/s" }
                        }
                    }
                    tbody {
                        @for s in &r.stages {
                            tr {
                                td { (s.name) }
                                td class="mono" { (s.kind) }
                                td class="num" { (fmt_int(s.rows_in)) }
                                td class="num" { (fmt_int(s.rows_out)) }
                                td class="num" { (fmt_int(s.rows_rejected)) }
                                td class="num" { (fmt_int(rows_filtered(s))) }
                                td class="num" { (fmt_pct(s.rows_out, s.rows_in)) }
                                td class="num" { (s.cpu_ms.map(fmt_duration_ms).unwrap_or_else(|| NONE.into())) }
                                td class="num" { (fmt_duration_ms(s.wall_ms)) }
                                td class="num" {
                                    @if s.wall_ms > 0 {
                                        (fmt_count_f(s.rows_in as f64 * 1000.0 / s.wall_ms as f64))
                                    } @else {
                                        (NONE)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    card(
        "funnel",
        "Rows kept per stage",
        "Solid bars are rows each stage passed on; the faint red band is what it received.",
        body,
    )
}

/// Keeps the `MAX_BARS - 1` largest entries and sums the rest into one "other" bar.
fn top_with_other(mut items: Vec<(String, String, u64)>) -> Vec<(String, String, u64)> {
    items.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    if items.len() > MAX_BARS {
        let rest = items.split_off(MAX_BARS - 1);
        let n = rest.len();
        let sum = rest.iter().map(|x| x.2).sum();
        items.push((format!("other ({n})"), String::new(), sum));
    }
    items
}

fn drop_reasons(r: &RunReport) -> Markup {
    let items: Vec<(String, String, u64)> = r
        .stages
        .iter()
        .flat_map(|s| {
            s.rejects_by_reason
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(move |(reason, n)| (reason.clone(), s.name.clone(), *n))
        })
        .collect();
    let body = if items.is_empty() {
        empty("No rows were dropped.")
    } else {
        let input = r.totals.rows_read;
        let bars: Vec<Bar> = top_with_other(items)
            .into_iter()
            .map(|(reason, stage, n)| Bar {
                label: reason,
                sublabel: stage,
                value: n as f64,
                value_label: if input > 0 {
                    format!("{} · {}", fmt_count(n), fmt_pct(n, input))
                } else {
                    fmt_count(n)
                },
                color: svg::DROP.into(),
            })
            .collect();
        PreEscaped(svg::hbar_chart(&bars, 250.0, "Rows dropped by reason"))
    };
    card("drop-reasons", "Drop reasons", "Rows removed, by stage and reason.", body)
}

fn languages(r: &RunReport) -> Markup {
    let items: Vec<(String, String, u64)> = r
        .language_mix
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(l, n)| (l.clone(), String::new(), *n))
        .collect();
    let total: u64 = items.iter().map(|x| x.2).sum();
    let body = if total == 0 {
        empty("No language statistics recorded.")
    } else {
        let bars: Vec<Bar> = top_with_other(items)
            .into_iter()
            .enumerate()
            .map(|(i, (lang, _, n))| Bar {
                label: lang,
                sublabel: String::new(),
                value: n as f64,
                value_label: format!("{} · {}", fmt_pct(n, total), fmt_count(n)),
                color: PALETTE[i % PALETTE.len()].into(),
            })
            .collect();
        PreEscaped(svg::hbar_chart(&bars, 90.0, "Documents by language"))
    };
    card("languages", "Language mix", "Written documents by detected language.", body)
}

fn histogram_card(
    id: &str,
    title: &str,
    hint: &str,
    hist: &Histogram,
    x_title: &str,
    unit: &str,
    color: &str,
) -> Markup {
    let body = if let Err(e) = hist.validate() {
        empty(&format!("Histogram not shown: {e}."))
    } else if hist.is_empty() {
        empty("No documents recorded.")
    } else {
        let q = |p: f64| {
            hist.quantile(p)
                .map(|v| format!("{} {unit}", fmt_count_f(v.round())))
                .unwrap_or_else(|| NONE.into())
        };
        html! {
            div class="stats" {
                span { "documents " b { (fmt_count(hist.total())) } }
                span { "p10 " b { (q(0.1)) } }
                span { "median " b { (q(0.5)) } }
                span { "p90 " b { (q(0.9)) } }
            }
            (PreEscaped(svg::column_chart(&hist.edges, &hist.counts, x_title, "documents", color)))
        }
    };
    card(id, title, hint, body)
}

fn throughput(r: &RunReport) -> Markup {
    if r.throughput.len() < 2 {
        // Nothing to draw a line through; the KPI tile still shows the average.
        return html! {};
    }
    let mut rows_pts = Vec::with_capacity(r.throughput.len());
    let mut bytes_pts = Vec::with_capacity(r.throughput.len());
    for w in r.throughput.windows(2) {
        let dt = w[1].t_ms.saturating_sub(w[0].t_ms);
        if dt == 0 {
            continue;
        }
        let secs = dt as f64 / 1000.0;
        let x = w[1].t_ms as f64 / 1000.0;
        rows_pts.push((x, w[1].rows.saturating_sub(w[0].rows) as f64 / secs));
        bytes_pts.push((x, w[1].bytes.saturating_sub(w[0].bytes) as f64 / secs));
    }
    let body = if rows_pts.is_empty() {
        empty("Samples carry no elapsed time.")
    } else {
        // Axis in whole-number-friendly units: seconds, minutes or hours since start.
        let last = rows_pts.last().map(|p| p.0).unwrap_or(0.0);
        let (div, x_title) = if last >= 3.0 * 3600.0 {
            (3600.0, "hours since start")
        } else if last >= 180.0 {
            (60.0, "minutes since start")
        } else {
            (1.0, "seconds since start")
        };
        for p in rows_pts.iter_mut().chain(bytes_pts.iter_mut()) {
            p.0 /= div;
        }
        let rows_chart =
            svg::line_chart("rows", &rows_pts, x_title, "rows / s", svg::ACCENT, &fmt_count_f, &fmt_count_f);
        let bytes_chart =
            svg::line_chart("bytes", &bytes_pts, x_title, "bytes read / s", "#0d9488", &fmt_count_f, &fmt_bytes_f);
        html! {
            div class="grid2" style="gap:24px" {
                div { (PreEscaped(rows_chart)) }
                div { (PreEscaped(bytes_chart)) }
            }
        }
    };
    card("throughput", "Throughput over time", "Read rate between consecutive progress samples.", body)
}

fn status_rank(s: CheckStatus) -> u8 {
    match s {
        CheckStatus::Fail => 0,
        CheckStatus::Error => 1,
        CheckStatus::Warn => 2,
        CheckStatus::Pass => 3,
    }
}

fn checks(r: &RunReport) -> Markup {
    let hint = "Problems first; then passing checks in spec order.";
    if r.checks.is_empty() {
        return card("checks", "Data-quality checks", hint, empty("No checks configured."));
    }
    let mut counts: BTreeMap<u8, (CheckStatus, usize)> = BTreeMap::new();
    for c in &r.checks {
        counts.entry(status_rank(c.status)).or_insert((c.status, 0)).1 += 1;
    }
    let mut ordered: Vec<_> = r.checks.iter().enumerate().collect();
    ordered.sort_by_key(|(i, c)| (status_rank(c.status), *i));
    let body = html! {
        div class="summary-line" {
            @for (status, n) in counts.values() {
                span class={ "pill st-" (status.as_str()) } { (n) " " (status.as_str()) }
            }
        }
        table {
            thead {
                tr {
                    th { "Status" }
                    th { "Check" }
                    th { "Severity" }
                    th { "Column" }
                    th class="num" { "Observed" }
                    th class="num" { "Threshold" }
                    th class="num" { "Failing rows" }
                    th { "Message" }
                }
            }
            tbody {
                @for (_, c) in ordered {
                    @let s = c.status.as_str();
                    @let failed = matches!(c.status, CheckStatus::Fail | CheckStatus::Error);
                    tr class=[failed.then_some("row-fail")] {
                        td { span class={ "pill st-" (s) } { (s) } }
                        td { (c.name) span class="sub" { (c.kind) } }
                        td { (c.severity.as_str()) }
                        td class="mono" { (c.column.as_deref().unwrap_or(NONE)) }
                        td class="num mono" { (fmt_json_cell(&c.observed)) }
                        td class="num mono" { (fmt_json_cell(&c.threshold)) }
                        td class="num" { (c.failing_rows.map(fmt_int).unwrap_or_else(|| NONE.into())) }
                        td class="msg" { (c.message) }
                    }
                }
            }
        }
    };
    card("checks", "Data-quality checks", hint, body)
}

fn opt_num(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| NONE.into())
}

fn sinks(sinks: &[SinkReport]) -> Markup {
    let hint = "Where the output went, with per-file checksums.";
    if sinks.is_empty() {
        return card("sinks", "Sinks", hint, empty("No sinks recorded."));
    }
    let body = html! {
        table {
            thead {
                tr {
                    th { "Sink" }
                    th { "Location" }
                    th class="num" { "Files" }
                    th class="num" { "Rows" }
                    th class="num" { "Size" }
                    th class="num" { "Version" }
                    th class="num" { "Epoch" }
                }
            }
            tbody {
                @for s in sinks {
                    tr {
                        td { (s.name) span class="sub" { (s.kind) } }
                        td class="mono wrap" { (s.url) }
                        td class="num" { (fmt_int(s.files.len() as u64)) }
                        td class="num" { (fmt_int(s.rows())) }
                        td class="num" { (fmt_bytes(s.bytes())) }
                        td class="num" { (opt_num(s.version)) }
                        td class="num" { (opt_num(s.epoch)) }
                    }
                }
            }
        }
        @for s in sinks.iter().filter(|s| !s.files.is_empty()) {
            details {
                summary { "Files of " (s.name) " (" (fmt_int(s.files.len() as u64)) ")" }
                table {
                    thead {
                        tr {
                            th { "Path" }
                            th class="num" { "Rows" }
                            th class="num" { "Size" }
                            th { "sha256" }
                        }
                    }
                    tbody {
                        @for f in s.files.iter().take(MAX_TABLE_ROWS) {
                            tr {
                                td class="mono wrap" { (f.path) }
                                td class="num" { (fmt_int(f.rows)) }
                                td class="num" { (fmt_bytes(f.bytes)) }
                                td class="mono" title=(f.sha256) { (f.sha256.chars().take(16).collect::<String>()) }
                            }
                        }
                        @if s.files.len() > MAX_TABLE_ROWS {
                            tr {
                                td colspan="4" class="sub" {
                                    "… and " (fmt_int((s.files.len() - MAX_TABLE_ROWS) as u64)) " more files (see run.json)"
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    card("sinks", "Sinks", hint, body)
}

fn epochs(r: &RunReport) -> Markup {
    if r.epochs.is_empty() {
        return html! {};
    }
    // Show the most recent epochs: they are what an operator resuming a run needs.
    let skip = r.epochs.len().saturating_sub(MAX_TABLE_ROWS);
    let body = html! {
        table {
            thead {
                tr {
                    th class="num" { "Epoch" }
                    th class="num" { "Rows" }
                    th class="num" { "Size" }
                    th class="num" { "Wall" }
                    th { "Committed" }
                }
            }
            tbody {
                @if skip > 0 {
                    tr {
                        td colspan="5" class="sub" { (fmt_int(skip as u64)) " earlier epochs omitted (see run.json)" }
                    }
                }
                @for e in r.epochs.iter().skip(skip) {
                    tr {
                        td class="num" { (e.epoch) }
                        td class="num" { (fmt_int(e.rows)) }
                        td class="num" { (fmt_bytes(e.bytes)) }
                        td class="num" { (fmt_duration_ms(e.wall_ms)) }
                        td { (fmt_time(e.committed_at)) }
                    }
                }
            }
        }
    };
    card("epochs", "Epochs", "Committed checkpoints; a resumed run continues after the last one.", body)
}
