//! Inline SVG chart primitives for the HTML report.
//!
//! Charts are drawn in a fixed `viewBox` coordinate space and scale with the page
//! (`width="100%"`), so no script or external asset is needed. Every helper takes raw
//! strings and escapes them itself, so callers cannot forget to.

use std::fmt::Write as _;

use crate::format::{escape_html as esc, fmt_count_f};

/// Text colour for primary labels.
pub const INK: &str = "#0f172a";
/// Text colour for secondary labels.
pub const MUTED: &str = "#64748b";
/// Gridline colour.
pub const GRID: &str = "#e2e8f0";
/// Main series colour (indigo).
pub const ACCENT: &str = "#4f46e5";
/// Colour for dropped rows.
pub const DROP: &str = "#f43f5e";

/// A categorical series for the distinct colours of language bars and reasons.
pub const PALETTE: [&str; 10] = [
    "#4f46e5", "#0d9488", "#d97706", "#db2777", "#2563eb", "#65a30d", "#9333ea", "#0891b2",
    "#ea580c", "#475569",
];

/// Approximate rendered width of `s` at `font_px` in the page's sans-serif font.
fn text_width(s: &str, font_px: f64) -> f64 {
    s.chars().count() as f64 * font_px * 0.56
}

/// Shortens `s` to fit `max_px`, appending an ellipsis; the full text goes in a `<title>`.
fn fit(s: &str, max_px: f64, font_px: f64) -> String {
    if text_width(s, font_px) <= max_px {
        return s.to_string();
    }
    let keep = ((max_px / (font_px * 0.56)) as usize).saturating_sub(1).max(1);
    let mut t: String = s.chars().take(keep).collect();
    t.push('…');
    t
}

/// A "nice" tick step (1, 2, 2.5 or 5 times a power of ten) giving about `target` ticks.
pub fn nice_step(max: f64, target: usize) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let raw = max / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Ticks `0, step, ..` up to the first tick at or above `max`.
fn ticks(max: f64, target: usize) -> Vec<f64> {
    let step = nice_step(max, target);
    let mut out = vec![0.0];
    let mut v = 0.0;
    // Bounded loop: with a nice step there are at most ~2*target ticks.
    while v < max && out.len() < 4 * target + 2 {
        v += step;
        out.push(v);
    }
    out
}

/// One bar of a horizontal bar chart.
pub struct Bar {
    /// Category label (left).
    pub label: String,
    /// Secondary label under/after the category (muted), may be empty.
    pub sublabel: String,
    /// Bar length value.
    pub value: f64,
    /// Text printed after the bar.
    pub value_label: String,
    /// Fill colour.
    pub color: String,
}

/// Horizontal bars, longest first as given; for drop reasons and language mix.
/// `label_w` is the width (in the 560-wide viewBox) reserved for category labels.
pub fn hbar_chart(bars: &[Bar], label_w: f64, aria: &str) -> String {
    const W: f64 = 560.0;
    const ROW: f64 = 28.0;
    const VALUE_W: f64 = 110.0;
    #[allow(non_snake_case)]
    let LABEL_W = label_w.clamp(40.0, W - VALUE_W - 60.0);
    let bar_w = W - LABEL_W - VALUE_W;
    let h = (bars.len() as f64 * ROW + 8.0).max(40.0);
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {h}" width="100%" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(aria)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = 4.0 + i as f64 * ROW;
        let frac = if max > 0.0 { b.value.max(0.0) / max } else { 0.0 };
        let len = (frac * bar_w).max(if b.value > 0.0 { 2.0 } else { 0.0 });
        let label = fit(&b.label, LABEL_W - 12.0 - text_width(&b.sublabel, 11.0), 12.5);
        let _ = write!(
            s,
            r#"<g><title>{full}: {vl}</title><text x="{lx}" y="{ty}" text-anchor="end" font-size="12.5" fill="{INK}">{label}"#,
            full = esc(&b.label),
            vl = esc(&b.value_label),
            lx = LABEL_W - 10.0,
            ty = y + ROW / 2.0 + 4.0,
            label = esc(&label),
        );
        if !b.sublabel.is_empty() {
            let _ = write!(
                s,
                r#"<tspan fill="{MUTED}" font-size="11"> {}</tspan>"#,
                esc(&b.sublabel)
            );
        }
        let _ = write!(
            s,
            r##"</text><rect x="{LABEL_W}" y="{by}" width="{bar_w}" height="{bh}" rx="3" fill="#f1f5f9"/><rect x="{LABEL_W}" y="{by}" width="{len:.1}" height="{bh}" rx="3" fill="{c}"/><text x="{vx:.1}" y="{ty}" font-size="12" fill="{INK}" font-weight="600">{vl}</text></g>"##,
            by = y + 5.0,
            bh = ROW - 10.0,
            c = esc(&b.color),
            vx = LABEL_W + bar_w + 8.0,
            ty = y + ROW / 2.0 + 4.0,
            vl = esc(&b.value_label),
        );
    }
    s.push_str("</svg>");
    s
}

/// One level of the row funnel.
pub struct FunnelStep {
    /// Stage name.
    pub name: String,
    /// Stage kind (muted).
    pub kind: String,
    /// Rows entering.
    pub rows_in: u64,
    /// Rows kept.
    pub rows_out: u64,
}

/// Centered funnel: each stage's kept rows (solid) over the rows it received (faint red),
/// both scaled to the largest input so shrinkage through the pipeline is visible.
pub fn funnel_chart(steps: &[FunnelStep], input_rows: u64) -> String {
    const W: f64 = 760.0;
    const ROW: f64 = 40.0;
    const LABEL_W: f64 = 200.0;
    const RIGHT_W: f64 = 170.0;
    let area = W - LABEL_W - RIGHT_W;
    let cx = LABEL_W + area / 2.0;
    let top = 6.0;
    let rows = steps.len() + 1;
    let h = top + rows as f64 * ROW + 4.0;
    let max = steps
        .iter()
        .map(|s| s.rows_in.max(s.rows_out))
        .chain(std::iter::once(input_rows))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let width_of = |v: u64| ((v as f64 / max) * area).max(if v > 0 { 3.0 } else { 0.0 });
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {h}" width="100%" role="img" aria-label="Rows kept per stage" xmlns="http://www.w3.org/2000/svg">"#
    );
    let bar = |s: &mut String, y: f64, name: &str, kind: &str, rows_in: u64, rows_out: u64, first: bool| {
        let win = width_of(rows_in);
        let wout = width_of(rows_out);
        let by = y + 7.0;
        let bh = ROW - 14.0;
        let dropped = rows_in.saturating_sub(rows_out);
        let _ = write!(
            s,
            r#"<g><title>{t}: {ri} in, {ro} kept</title>"#,
            t = esc(name),
            ri = crate::format::fmt_int(rows_in),
            ro = crate::format::fmt_int(rows_out),
        );
        let _ = write!(
            s,
            r#"<text x="{lx}" y="{ny}" text-anchor="end" font-size="13" font-weight="600" fill="{INK}">{n}</text><text x="{lx}" y="{ky}" text-anchor="end" font-size="11" fill="{MUTED}">{k}</text>"#,
            lx = LABEL_W - 14.0,
            ny = y + ROW / 2.0 - 1.0,
            ky = y + ROW / 2.0 + 12.0,
            n = esc(&fit(name, LABEL_W - 20.0, 13.0)),
            k = esc(&fit(kind, LABEL_W - 20.0, 11.0)),
        );
        if !first && rows_in > 0 {
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{by}" width="{win:.1}" height="{bh}" rx="4" fill="{DROP}" fill-opacity="0.18"/>"#,
                x = cx - win / 2.0
            );
        }
        let fill = if first { "#94a3b8" } else { ACCENT };
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{by}" width="{wout:.1}" height="{bh}" rx="4" fill="{fill}"/>"#,
            x = cx - wout / 2.0
        );
        let rx = LABEL_W + area + 14.0;
        let _ = write!(
            s,
            r#"<text x="{rx}" y="{ny}" font-size="13" font-weight="600" fill="{INK}">{kept} <tspan font-weight="400" fill="{MUTED}" font-size="11.5">{pct}</tspan></text>"#,
            ny = y + ROW / 2.0 - 1.0,
            kept = fmt_count_f(rows_out as f64),
            pct = if input_rows > 0 { crate::format::fmt_pct(rows_out, input_rows) + " of input" } else { String::new() },
        );
        if !first {
            let text = if dropped > 0 {
                format!("−{} ({})", fmt_count_f(dropped as f64), crate::format::fmt_pct(dropped, rows_in))
            } else {
                "no drops".to_string()
            };
            let colour = if dropped > 0 { "#be123c" } else { MUTED };
            let _ = write!(
                s,
                r#"<text x="{rx}" y="{ky}" font-size="11" fill="{colour}">{text}</text>"#,
                ky = y + ROW / 2.0 + 12.0,
            );
        }
        s.push_str("</g>");
    };
    bar(&mut s, top, "input", "rows read", input_rows, input_rows, true);
    for (i, st) in steps.iter().enumerate() {
        let y = top + (i + 1) as f64 * ROW;
        bar(&mut s, y, &st.name, &st.kind, st.rows_in, st.rows_out, false);
    }
    s.push_str("</svg>");
    s
}

/// A vertical column chart over histogram buckets.
///
/// `edges` has one more element than `counts`; buckets are drawn with equal widths
/// because Millrace's length buckets are usually log-spaced, where proportional
/// widths would squash the interesting short end.
pub fn column_chart(
    edges: &[f64],
    counts: &[u64],
    x_title: &str,
    y_title: &str,
    color: &str,
) -> String {
    const W: f64 = 560.0;
    const H: f64 = 260.0;
    const L: f64 = 58.0;
    const R: f64 = 24.0;
    const T: f64 = 14.0;
    const B: f64 = 58.0;
    let pw = W - L - R;
    let ph = H - T - B;
    let n = counts.len().max(1);
    let max = counts.iter().copied().max().unwrap_or(0) as f64;
    let yt = ticks(max.max(1.0), 4);
    let ymax = yt.last().copied().unwrap_or(1.0).max(1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(x_title)
    );
    for t in &yt {
        let y = T + ph - t / ymax * ph;
        let _ = write!(
            s,
            r#"<line x1="{L}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="{GRID}"/><text x="{tx}" y="{ty:.1}" text-anchor="end" font-size="11" fill="{MUTED}">{lbl}</text>"#,
            x2 = W - R,
            tx = L - 6.0,
            ty = y + 4.0,
            lbl = fmt_count_f(*t),
        );
    }
    let slot = pw / n as f64;
    let gap = (slot * 0.14).min(4.0);
    for (i, c) in counts.iter().enumerate() {
        let bh = *c as f64 / ymax * ph;
        let x = L + i as f64 * slot + gap / 2.0;
        let (lo, hi) = (
            edges.get(i).copied().unwrap_or(0.0),
            edges.get(i + 1).copied().unwrap_or(0.0),
        );
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{bh:.1}" rx="2" fill="{c2}"><title>{lo}–{hi}: {cnt}</title></rect>"#,
            y = T + ph - bh,
            w = (slot - gap).max(1.0),
            c2 = esc(color),
            lo = fmt_count_f(lo),
            hi = fmt_count_f(hi),
            cnt = crate::format::fmt_int(*c),
        );
    }
    // Label at most ~9 edges so labels never collide.
    let every = edges.len().div_ceil(9).max(1);
    for (i, e) in edges.iter().enumerate() {
        let last = i + 1 == edges.len();
        if i % every != 0 && !last {
            continue;
        }
        if last && i % every != 0 && (i % every) * 2 < every {
            // Too close to the previous label.
            continue;
        }
        let x = L + i as f64 * slot;
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{y1}" y2="{y2}" stroke="{MUTED}"/><text x="{x:.1}" y="{ty}" text-anchor="middle" font-size="11" fill="{MUTED}">{lbl}</text>"#,
            y1 = T + ph,
            y2 = T + ph + 4.0,
            ty = T + ph + 17.0,
            lbl = fmt_count_f(*e),
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{L}" x2="{x2}" y1="{y}" y2="{y}" stroke="#94a3b8"/><text x="{cx}" y="{ty}" text-anchor="middle" font-size="12" fill="{INK}">{xt}</text><text transform="translate(14 {cy}) rotate(-90)" text-anchor="middle" font-size="12" fill="{INK}">{yt}</text></svg>"##,
        x2 = W - R,
        y = T + ph,
        cx = L + pw / 2.0,
        ty = H - 12.0,
        xt = esc(x_title),
        cy = T + ph / 2.0,
        yt = esc(y_title),
    );
    s
}

/// Line chart with a soft area fill; `points` are `(x, y)` with ascending x.
///
/// `id` must be unique within the page (it names the gradient). `x_fmt`/`y_fmt`
/// format tick labels.
pub fn line_chart(
    id: &str,
    points: &[(f64, f64)],
    x_title: &str,
    y_title: &str,
    color: &str,
    x_fmt: &dyn Fn(f64) -> String,
    y_fmt: &dyn Fn(f64) -> String,
) -> String {
    const W: f64 = 560.0;
    const H: f64 = 240.0;
    const L: f64 = 64.0;
    const R: f64 = 24.0;
    const T: f64 = 14.0;
    const B: f64 = 50.0;
    let pw = W - L - R;
    let ph = H - T - B;
    let xmax = points.iter().map(|p| p.0).fold(0.0_f64, f64::max);
    let ymax_raw = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let yt = ticks(ymax_raw.max(1e-9), 4);
    let ymax = yt.last().copied().unwrap_or(1.0);
    let xt = ticks(xmax.max(1e-9), 6);
    let xmax_axis = xt.last().copied().unwrap_or(1.0);
    let px = |x: f64| L + x / xmax_axis * pw;
    let py = |y: f64| T + ph - y / ymax * ph;
    let gid = format!("grad-{}", id.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>());
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{a}" xmlns="http://www.w3.org/2000/svg"><defs><linearGradient id="{gid}" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="{c}" stop-opacity="0.28"/><stop offset="1" stop-color="{c}" stop-opacity="0.02"/></linearGradient></defs>"#,
        a = esc(y_title),
        c = esc(color),
    );
    for t in &yt {
        let y = py(*t);
        let _ = write!(
            s,
            r#"<line x1="{L}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="{GRID}"/><text x="{tx}" y="{ty:.1}" text-anchor="end" font-size="11" fill="{MUTED}">{lbl}</text>"#,
            x2 = W - R,
            tx = L - 6.0,
            ty = y + 4.0,
            lbl = esc(&y_fmt(*t)),
        );
    }
    for t in &xt {
        let x = px(*t);
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{y1}" y2="{y2}" stroke="{MUTED}"/><text x="{x:.1}" y="{ty}" text-anchor="middle" font-size="11" fill="{MUTED}">{lbl}</text>"#,
            y1 = T + ph,
            y2 = T + ph + 4.0,
            ty = T + ph + 17.0,
            lbl = esc(&x_fmt(*t)),
        );
    }
    if !points.is_empty() {
        let mut line = String::new();
        for (i, (x, y)) in points.iter().enumerate() {
            let _ = write!(line, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, px(*x), py(*y));
        }
        let (fx, lx) = (points[0].0, points[points.len() - 1].0);
        let _ = write!(
            s,
            r#"<path d="{line} L{:.1},{b:.1} L{:.1},{b:.1} Z" fill="url(#{gid})"/><path d="{line}" fill="none" stroke="{c}" stroke-width="2" stroke-linejoin="round"/>"#,
            px(lx),
            px(fx),
            b = T + ph,
            c = esc(color),
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{L}" x2="{x2}" y1="{y}" y2="{y}" stroke="#94a3b8"/><text x="{cx}" y="{ty}" text-anchor="middle" font-size="12" fill="{INK}">{xt}</text><text transform="translate(14 {cy}) rotate(-90)" text-anchor="middle" font-size="12" fill="{INK}">{ytl}</text></svg>"##,
        x2 = W - R,
        y = T + ph,
        cx = L + pw / 2.0,
        ty = H - 10.0,
        xt = esc(x_title),
        cy = T + ph / 2.0,
        ytl = esc(y_title),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(100.0, 5), 20.0);
        assert_eq!(nice_step(7.0, 4), 2.0);
        assert_eq!(nice_step(0.0, 4), 1.0);
        assert_eq!(ticks(95.0, 5), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
    }

    #[test]
    fn labels_escaped_and_truncated() {
        let svg = hbar_chart(
            &[Bar {
                label: "<script>alert(1)</script> a very long reason name that will not fit".into(),
                sublabel: String::new(),
                value: 3.0,
                value_label: "3".into(),
                color: ACCENT.into(),
            }],
            190.0,
            "x",
        );
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains('…'));
    }
}
