//! Self-contained HTML run report (`report.html`).
//!
//! One page, inline CSS and inline SVG only: it must open from a bucket, an email
//! attachment or an air-gapped cluster without fetching anything.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::format::{
    escape_html as esc, fmt_bytes, fmt_bytes_f, fmt_count, fmt_count_f, fmt_duration_ms, fmt_int,
    fmt_pct,
};
use crate::model::{CheckStatus, Histogram, RunReport, RunStatus, SinkReport};
use crate::svg::{self, Bar, FunnelStep, PALETTE};

/// At most this many bars in the reasons and language charts; the rest is summed as "other".
const MAX_BARS: usize = 12;
/// At most this many file rows per sink and epoch rows, to keep huge runs' pages light.
const MAX_TABLE_ROWS: usize = 200;

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
        .unwrap_or_else(|| "–".into())
}

/// Compact rendering of a JSON value for table cells.
fn fmt_json_cell(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::Null => "–".to_string(),
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
    let mut h = String::with_capacity(64 * 1024);
    let title = if report.pipeline.is_empty() { "(unnamed pipeline)" } else { &report.pipeline };
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="generator" content="millrace-report {ver}"><title>{t} · Millrace run report</title><style>{CSS}</style></head><body><main class="page">"#,
        ver = env!("CARGO_PKG_VERSION"),
        t = esc(title),
    );
    header(&mut h, report, title);
    kpis(&mut h, report);
    funnel(&mut h, report);
    h.push_str(r#"<div class="grid2">"#);
    drop_reasons(&mut h, report);
    languages(&mut h, report);
    h.push_str("</div>");
    h.push_str(r#"<div class="grid2">"#);
    histogram_card(
        &mut h,
        "doc-length",
        "Document length",
        "Characters per written document.",
        &report.histograms.doc_length_chars,
        "characters per document",
        "chars",
        svg::ACCENT,
    );
    histogram_card(
        &mut h,
        "tokens-per-doc",
        "Tokens per document",
        "Tokens per written document, from the tokeniser stage.",
        &report.histograms.tokens_per_doc,
        "tokens per document",
        "tokens",
        "#0d9488",
    );
    h.push_str("</div>");
    throughput(&mut h, report);
    checks(&mut h, report);
    sinks(&mut h, &report.sinks);
    epochs(&mut h, report);
    let _ = write!(
        h,
        r#"<footer>Generated by millrace-report {ver} · run <span class="mono">{id}</span></footer></main></body></html>"#,
        ver = env!("CARGO_PKG_VERSION"),
        id = report.run_id,
    );
    h
}

fn header(h: &mut String, r: &RunReport, title: &str) {
    let status = r.status.as_str();
    let duration = r.duration_ms().map(fmt_duration_ms).unwrap_or_else(|| "–".into());
    let sha_short: String = r.spec_sha256.chars().take(12).collect();
    let _ = write!(
        h,
        r#"<header class="hero" id="summary"><div class="brand">Millrace · run report</div><h1>{t}<span class="badge badge-{status}">{status}</span></h1><dl class="meta"><div><dt>Started</dt><dd>{s}</dd></div><div><dt>Finished</dt><dd>{f}</dd></div><div><dt>Duration</dt><dd>{d}</dd></div><div><dt>Run id</dt><dd class="mono" title="{id}">{id}</dd></div><div><dt>Spec</dt><dd class="mono" title="{sp}">{sp}</dd></div><div><dt>Spec sha256</dt><dd class="mono" title="{sha}">{shs}</dd></div></dl>"#,
        t = esc(title),
        s = fmt_time(r.started_at),
        f = fmt_time(r.finished_at),
        d = duration,
        id = r.run_id,
        sp = esc(if r.spec_path.is_empty() { "–" } else { &r.spec_path }),
        sha = esc(&r.spec_sha256),
        shs = esc(if sha_short.is_empty() { "–" } else { &sha_short }),
    );
    if r.status == RunStatus::Failed || r.error.is_some() {
        let _ = write!(
            h,
            r#"<div class="error-box"><strong>Error:</strong> {}</div>"#,
            esc(r.error.as_deref().unwrap_or("run failed without an error message"))
        );
    }
    h.push_str("</header>");
}

/// Seconds the run (or, while running, the sampled part of it) has taken.
fn elapsed_secs(r: &RunReport) -> Option<f64> {
    r.duration_ms()
        .or_else(|| r.throughput.last().map(|s| s.t_ms))
        .filter(|ms| *ms > 0)
        .map(|ms| ms as f64 / 1000.0)
}

fn kpis(h: &mut String, r: &RunReport) {
    let t = &r.totals;
    let secs = elapsed_secs(r);
    let mbps = secs.map(|s| fmt_bytes_f(t.bytes_read as f64 / s) + "/s");
    let rps = secs.map(|s| fmt_count_f(t.rows_read as f64 / s) + " rows/s");
    let dropped = t.rows_filtered + t.rows_rejected;
    let tile = |h: &mut String, class: &str, label: &str, value: &str, sub: &str| {
        let _ = write!(
            h,
            r#"<div class="kpi {class}"><div class="label">{label}</div><div class="value">{value}</div><div class="sub">{sub}</div></div>"#,
            label = esc(label),
            value = esc(value),
            sub = esc(sub),
        );
    };
    h.push_str(r#"<section class="kpis" id="kpis">"#);
    tile(h, "slate", "Rows in", &fmt_count(t.rows_read), &format!("{} read", fmt_bytes(t.bytes_read)));
    tile(
        h,
        "good",
        "Rows out",
        &fmt_count(t.rows_written),
        &format!("{} kept · {}", fmt_pct(t.rows_written, t.rows_read), fmt_bytes(t.bytes_written)),
    );
    tile(
        h,
        "bad",
        "Dropped",
        &fmt_count(dropped),
        &format!("{} filtered · {} rejected", fmt_count(t.rows_filtered), fmt_count(t.rows_rejected)),
    );
    tile(
        h,
        "accent",
        "Throughput",
        mbps.as_deref().unwrap_or("–"),
        rps.as_deref().unwrap_or("duration unknown"),
    );
    tile(
        h,
        "amber",
        "Peak RSS",
        &if r.peak_rss_bytes > 0 { fmt_bytes(r.peak_rss_bytes) } else { "–".into() },
        "resident memory",
    );
    let cpu_sub = match secs {
        Some(s) if r.cpu_seconds > 0.0 => format!("{:.1} cores busy on average", r.cpu_seconds / s),
        _ => "user + system".into(),
    };
    tile(
        h,
        "teal",
        "CPU time",
        &if r.cpu_seconds > 0.0 { fmt_duration_ms((r.cpu_seconds * 1000.0) as u64) } else { "–".into() },
        &cpu_sub,
    );
    h.push_str("</section>");
}

fn card_open(h: &mut String, id: &str, title: &str, hint: &str) {
    let _ = write!(
        h,
        r#"<section class="card" id="{id}"><h2>{t}</h2><p class="hint">{hint}</p>"#,
        t = esc(title),
        hint = esc(hint),
    );
}

fn empty(h: &mut String, what: &str) {
    let _ = write!(h, r#"<div class="empty">{}</div>"#, esc(what));
}

fn funnel(h: &mut String, r: &RunReport) {
    card_open(
        h,
        "funnel",
        "Rows kept per stage",
        "Solid bars are rows each stage passed on; the faint red band is what it received.",
    );
    let input = if r.totals.rows_read > 0 {
        r.totals.rows_read
    } else {
        r.stages.first().map(|s| s.rows_in).unwrap_or(0)
    };
    if r.stages.is_empty() {
        empty(h, "No stages recorded.");
        h.push_str("</section>");
        return;
    }
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
    h.push_str(&svg::funnel_chart(&steps, input));
    h.push_str(r#"<details><summary>Stage details</summary><table><thead><tr><th>Stage</th><th class="num">Rows in</th><th class="num">Rows out</th><th class="num">Rejected</th><th class="num">Kept</th><th class="num">Wall</th><th class="num">CPU</th><th class="num">Rows/s</th></tr></thead><tbody>"#);
    for s in &r.stages {
        let rate = if s.wall_ms > 0 {
            fmt_count_f(s.rows_in as f64 * 1000.0 / s.wall_ms as f64)
        } else {
            "–".into()
        };
        let _ = write!(
            h,
            r#"<tr><td>{n}<span class="sub">{k}</span></td><td class="num">{ri}</td><td class="num">{ro}</td><td class="num">{rj}</td><td class="num">{kp}</td><td class="num">{w}</td><td class="num">{c}</td><td class="num">{rate}</td></tr>"#,
            n = esc(&s.name),
            k = esc(&s.kind),
            ri = fmt_int(s.rows_in),
            ro = fmt_int(s.rows_out),
            rj = fmt_int(s.rows_rejected),
            kp = fmt_pct(s.rows_out, s.rows_in),
            w = fmt_duration_ms(s.wall_ms),
            c = s.cpu_ms.map(fmt_duration_ms).unwrap_or_else(|| "–".into()),
        );
    }
    h.push_str("</tbody></table></details></section>");
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

fn drop_reasons(h: &mut String, r: &RunReport) {
    card_open(h, "drop-reasons", "Drop reasons", "Rows removed, by stage and reason.");
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
    if items.is_empty() {
        empty(h, "No rows were dropped.");
        h.push_str("</section>");
        return;
    }
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
    h.push_str(&svg::hbar_chart(&bars, 250.0, "Rows dropped by reason"));
    h.push_str("</section>");
}

fn languages(h: &mut String, r: &RunReport) {
    card_open(h, "languages", "Language mix", "Written documents by detected language.");
    let items: Vec<(String, String, u64)> = r
        .language_mix
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(l, n)| (l.clone(), String::new(), *n))
        .collect();
    let total: u64 = items.iter().map(|x| x.2).sum();
    if total == 0 {
        empty(h, "No language statistics recorded.");
        h.push_str("</section>");
        return;
    }
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
    h.push_str(&svg::hbar_chart(&bars, 90.0, "Documents by language"));
    h.push_str("</section>");
}

#[allow(clippy::too_many_arguments)]
fn histogram_card(
    h: &mut String,
    id: &str,
    title: &str,
    hint: &str,
    hist: &Histogram,
    x_title: &str,
    unit: &str,
    color: &str,
) {
    card_open(h, id, title, hint);
    if let Err(e) = hist.validate() {
        empty(h, &format!("Histogram not shown: {e}."));
    } else if hist.is_empty() {
        empty(h, "No documents recorded.");
    } else {
        let q = |p: f64| {
            hist.quantile(p)
                .map(|v| format!("{} {unit}", fmt_count_f(v.round())))
                .unwrap_or_else(|| "–".into())
        };
        let _ = write!(
            h,
            r#"<div class="stats"><span>documents <b>{n}</b></span><span>p10 <b>{p10}</b></span><span>median <b>{p50}</b></span><span>p90 <b>{p90}</b></span></div>"#,
            n = fmt_count(hist.total()),
            p10 = esc(&q(0.1)),
            p50 = esc(&q(0.5)),
            p90 = esc(&q(0.9)),
        );
        h.push_str(&svg::column_chart(&hist.edges, &hist.counts, x_title, "documents", color));
    }
    h.push_str("</section>");
}

fn throughput(h: &mut String, r: &RunReport) {
    if r.throughput.len() < 2 {
        // Nothing to draw a line through; the KPI tile still shows the average.
        return;
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
    card_open(
        h,
        "throughput",
        "Throughput over time",
        "Read rate between consecutive progress samples.",
    );
    if rows_pts.is_empty() {
        empty(h, "Samples carry no elapsed time.");
        h.push_str("</section>");
        return;
    }
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
    h.push_str(r#"<div class="grid2" style="gap:24px">"#);
    h.push_str("<div>");
    h.push_str(&svg::line_chart(
        "rows",
        &rows_pts,
        x_title,
        "rows / s",
        svg::ACCENT,
        &fmt_count_f,
        &fmt_count_f,
    ));
    h.push_str("</div><div>");
    h.push_str(&svg::line_chart(
        "bytes",
        &bytes_pts,
        x_title,
        "bytes read / s",
        "#0d9488",
        &fmt_count_f,
        &fmt_bytes_f,
    ));
    h.push_str("</div></div></section>");
}

fn status_rank(s: CheckStatus) -> u8 {
    match s {
        CheckStatus::Fail => 0,
        CheckStatus::Error => 1,
        CheckStatus::Warn => 2,
        CheckStatus::Pass => 3,
    }
}

fn checks(h: &mut String, r: &RunReport) {
    card_open(h, "checks", "Data-quality checks", "Problems first; then passing checks in spec order.");
    if r.checks.is_empty() {
        empty(h, "No checks configured.");
        h.push_str("</section>");
        return;
    }
    let mut counts: BTreeMap<u8, (CheckStatus, usize)> = BTreeMap::new();
    for c in &r.checks {
        counts.entry(status_rank(c.status)).or_insert((c.status, 0)).1 += 1;
    }
    h.push_str(r#"<div class="summary-line">"#);
    for (status, n) in counts.values() {
        let _ = write!(
            h,
            r#"<span class="pill st-{s}">{n} {s}</span>"#,
            s = status.as_str()
        );
    }
    h.push_str("</div>");
    h.push_str(r#"<table><thead><tr><th>Status</th><th>Check</th><th>Severity</th><th>Column</th><th class="num">Observed</th><th class="num">Threshold</th><th class="num">Failing rows</th><th>Message</th></tr></thead><tbody>"#);
    let mut ordered: Vec<_> = r.checks.iter().enumerate().collect();
    ordered.sort_by_key(|(i, c)| (status_rank(c.status), *i));
    for (_, c) in ordered {
        let s = c.status.as_str();
        let row_class = if matches!(c.status, CheckStatus::Fail | CheckStatus::Error) { " class=\"row-fail\"" } else { "" };
        let _ = write!(
            h,
            r#"<tr{row_class}><td><span class="pill st-{s}">{s}</span></td><td>{n}<span class="sub">{k}</span></td><td>{sev}</td><td class="mono">{col}</td><td class="num mono">{o}</td><td class="num mono">{t}</td><td class="num">{f}</td><td class="msg">{m}</td></tr>"#,
            n = esc(&c.name),
            k = esc(&c.kind),
            sev = c.severity.as_str(),
            col = esc(c.column.as_deref().unwrap_or("–")),
            o = esc(&fmt_json_cell(&c.observed)),
            t = esc(&fmt_json_cell(&c.threshold)),
            f = c.failing_rows.map(fmt_int).unwrap_or_else(|| "–".into()),
            m = esc(&c.message),
        );
    }
    h.push_str("</tbody></table></section>");
}

fn sinks(h: &mut String, sinks: &[SinkReport]) {
    card_open(h, "sinks", "Sinks", "Where the output went, with per-file checksums.");
    if sinks.is_empty() {
        empty(h, "No sinks recorded.");
        h.push_str("</section>");
        return;
    }
    h.push_str(r#"<table><thead><tr><th>Sink</th><th>Location</th><th class="num">Files</th><th class="num">Rows</th><th class="num">Size</th><th class="num">Version</th><th class="num">Epoch</th></tr></thead><tbody>"#);
    for s in sinks {
        let _ = write!(
            h,
            r#"<tr><td>{n}<span class="sub">{k}</span></td><td class="mono wrap">{u}</td><td class="num">{f}</td><td class="num">{r}</td><td class="num">{b}</td><td class="num">{v}</td><td class="num">{e}</td></tr>"#,
            n = esc(&s.name),
            k = esc(&s.kind),
            u = esc(&s.url),
            f = fmt_int(s.files.len() as u64),
            r = fmt_int(s.rows()),
            b = fmt_bytes(s.bytes()),
            v = s.version.map(|v| v.to_string()).unwrap_or_else(|| "–".into()),
            e = s.epoch.map(|v| v.to_string()).unwrap_or_else(|| "–".into()),
        );
    }
    h.push_str("</tbody></table>");
    for s in sinks.iter().filter(|s| !s.files.is_empty()) {
        let _ = write!(
            h,
            r#"<details><summary>Files of {n} ({c})</summary><table><thead><tr><th>Path</th><th class="num">Rows</th><th class="num">Size</th><th>sha256</th></tr></thead><tbody>"#,
            n = esc(&s.name),
            c = fmt_int(s.files.len() as u64),
        );
        for f in s.files.iter().take(MAX_TABLE_ROWS) {
            let short: String = f.sha256.chars().take(16).collect();
            let _ = write!(
                h,
                r#"<tr><td class="mono wrap">{p}</td><td class="num">{r}</td><td class="num">{b}</td><td class="mono" title="{sha}">{short}</td></tr>"#,
                p = esc(&f.path),
                r = fmt_int(f.rows),
                b = fmt_bytes(f.bytes),
                sha = esc(&f.sha256),
                short = esc(&short),
            );
        }
        if s.files.len() > MAX_TABLE_ROWS {
            let _ = write!(
                h,
                r#"<tr><td colspan="4" class="sub">… and {} more files (see run.json)</td></tr>"#,
                fmt_int((s.files.len() - MAX_TABLE_ROWS) as u64)
            );
        }
        h.push_str("</tbody></table></details>");
    }
    h.push_str("</section>");
}

fn epochs(h: &mut String, r: &RunReport) {
    if r.epochs.is_empty() {
        return;
    }
    card_open(h, "epochs", "Epochs", "Committed checkpoints; a resumed run continues after the last one.");
    h.push_str(r#"<table><thead><tr><th class="num">Epoch</th><th class="num">Rows</th><th class="num">Size</th><th class="num">Wall</th><th>Committed</th></tr></thead><tbody>"#);
    // Show the most recent epochs: they are what an operator resuming a run needs.
    let skip = r.epochs.len().saturating_sub(MAX_TABLE_ROWS);
    if skip > 0 {
        let _ = write!(
            h,
            r#"<tr><td colspan="5" class="sub">{} earlier epochs omitted (see run.json)</td></tr>"#,
            fmt_int(skip as u64)
        );
    }
    for e in r.epochs.iter().skip(skip) {
        let _ = write!(
            h,
            r#"<tr><td class="num">{ep}</td><td class="num">{r}</td><td class="num">{b}</td><td class="num">{w}</td><td>{c}</td></tr>"#,
            ep = e.epoch,
            r = fmt_int(e.rows),
            b = fmt_bytes(e.bytes),
            w = fmt_duration_ms(e.wall_ms),
            c = fmt_time(e.committed_at),
        );
    }
    h.push_str("</tbody></table></section>");
}
