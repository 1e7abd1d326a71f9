//! HTML escaping for the SVG charts and human-readable number formatting for the report.

/// Escapes text for HTML/XML element content and double- or single-quoted attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Formats with up to three significant digits and a trailing `.0` removed.
fn sig3(v: f64) -> String {
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Compact count: `999`, `1.2k`, `3.45M`, `1.2B`.
pub fn fmt_count(n: u64) -> String {
    fmt_count_f(n as f64)
}

/// Compact count for fractional values (rates, axis ticks).
pub fn fmt_count_f(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    let sign = if v < 0.0 { "-" } else { "" };
    // Rounding can push e.g. 999_950 to "1000k"; compare against the rounded value.
    const UNITS: [(f64, &str); 4] = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")];
    for (i, (scale, unit)) in UNITS.iter().enumerate() {
        if a >= *scale * 0.9995 {
            let scaled = a / scale;
            if scaled >= 999.5 && i > 0 {
                let (bigger, bu) = UNITS[i - 1];
                return format!("{sign}{}{bu}", sig3(a / bigger));
            }
            return format!("{sign}{}{unit}", sig3(scaled));
        }
    }
    if a == a.trunc() {
        format!("{sign}{a:.0}")
    } else {
        format!("{sign}{}", sig3(a))
    }
}

/// Thousands-separated integer: `1,234,567`.
pub fn fmt_int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Decimal (SI) byte size: `512 B`, `3.4 MB`, `1.25 GB`.
pub fn fmt_bytes(n: u64) -> String {
    fmt_bytes_f(n as f64)
}

/// Decimal (SI) byte size for fractional values (rates).
pub fn fmt_bytes_f(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return "–".into();
    }
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut x = v;
    let mut u = 0;
    while x >= 999.5 && u + 1 < UNITS.len() {
        x /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{x:.0} B")
    } else {
        format!("{} {}", sig3(x), UNITS[u])
    }
}

/// Duration: `850 ms`, `12.3 s`, `4m 05s`, `2h 03m`.
pub fn fmt_duration_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let secs = ms as f64 / 1000.0;
    if secs < 60.0 {
        return format!("{} s", sig3(secs));
    }
    let total = ms / 1000;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// Percentage of `part` in `whole` with one decimal, `–` when `whole` is zero.
pub fn fmt_pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p > 0.0 && p < 0.1 {
        "<0.1%".into()
    } else {
        format!("{p:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(1_000), "1k");
        assert_eq!(fmt_count(1_234), "1.23k");
        assert_eq!(fmt_count(1_200_000), "1.2M");
        assert_eq!(fmt_count(12_345_678), "12.3M");
        assert_eq!(fmt_count(999_999), "1M");
        assert_eq!(fmt_count(3_400_000_000), "3.4B");
        assert_eq!(fmt_count_f(2.5), "2.5");
    }

    #[test]
    fn bytes() {
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(3_400_000), "3.4 MB");
        assert_eq!(fmt_bytes(1_250_000_000), "1.25 GB");
        assert_eq!(fmt_bytes(999_999), "1 MB");
    }

    #[test]
    fn ints_durations_pct() {
        assert_eq!(fmt_int(1_234_567), "1,234,567");
        assert_eq!(fmt_int(12), "12");
        assert_eq!(fmt_int(123_456), "123,456");
        assert_eq!(fmt_duration_ms(850), "850 ms");
        assert_eq!(fmt_duration_ms(12_340), "12.3 s");
        assert_eq!(fmt_duration_ms(245_000), "4m 05s");
        assert_eq!(fmt_duration_ms(7_380_000), "2h 03m");
        assert_eq!(fmt_pct(1, 4), "25.0%");
        assert_eq!(fmt_pct(1, 0), "–");
        assert_eq!(fmt_pct(1, 100_000), "<0.1%");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
