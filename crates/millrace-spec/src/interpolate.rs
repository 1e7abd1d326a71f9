use crate::Diagnostic;

/// Expands `${VAR}` and `${VAR:-default}` in spec text; `$${` is a literal `${`.
/// Runs on the raw text so that line numbers of later parse errors are unchanged.
pub fn interpolate(raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Diagnostic> {
    let mut out = String::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let mut i = 0;
    let (mut line, mut col) = (1u64, 1u64);
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'$') && bytes.get(i + 2) == Some(&b'{') {
            out.push_str("${");
            i += 3;
            col += 3;
            continue;
        }
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            let Some(close) = raw[i + 2..].find('}') else {
                return Err(Diagnostic { line, column: col, message: "unterminated `${`".into(), hint: None });
            };
            let inner = &raw[i + 2..i + 2 + close];
            let (name, default) = match inner.find(":-") {
                Some(p) => (&inner[..p], Some(&inner[p + 2..])),
                None => (inner, None),
            };
            let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Diagnostic {
                    line,
                    column: col,
                    message: format!("invalid variable name `{name}` in `${{{inner}}}`"),
                    hint: None,
                });
            }
            match lookup(name).filter(|v| !v.is_empty()).or_else(|| default.map(str::to_string)) {
                Some(v) => {
                    let line_start = out.rfind('\n').map(|p| p + 1).unwrap_or(0);
                    let rest = raw[i + 2 + close + 1..].split('\n').next().unwrap_or("");
                    let text = substitute(&v, &out[line_start..], rest).map_err(|why| Diagnostic {
                        line,
                        column: col,
                        message: format!("the value of `{name}` {why}"),
                        hint: Some("quote the value in the spec (\"${NAME}\"), or change the variable".replace("NAME", name)),
                    })?;
                    out.push_str(&text);
                }
                None => {
                    return Err(Diagnostic {
                        line,
                        column: col,
                        message: format!("environment variable `{name}` is not set"),
                        hint: Some(format!("set it, or give a default: ${{{name}:-value}}")),
                    });
                }
            }
            col += (close + 3) as u64;
            i += close + 3;
            continue;
        }
        let ch = raw[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
        i += ch.len_utf8().max(1);
    }
    Ok(out)
}

/// How a value enters the YAML text: it may only ever become (part of) one scalar, never new
/// keys, items or documents. Inside quotes it is escaped; as a whole plain scalar it is quoted when
/// it holds YAML syntax; inside a larger plain scalar, syntax that would end the scalar is refused.
fn substitute(v: &str, before: &str, after: &str) -> Result<String, &'static str> {
    if v.contains(['\n', '\r']) {
        return Err("contains a line break, which would change the spec's structure");
    }
    let ctx = context(before);
    if ctx.comment {
        return Ok(v.to_string());
    }
    if ctx.double {
        let mut s = String::with_capacity(v.len());
        for c in v.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                c if c.is_control() => s.push_str(&format!("\\u{:04x}", c as u32)),
                c => s.push(c),
            }
        }
        return Ok(s);
    }
    if ctx.single {
        return Ok(v.replace('\'', "''"));
    }
    let flow_stops: &[char] = if ctx.flow { &[',', '[', ']', '{', '}'] } else { &[] };
    let ends_scalar = v.contains(": ") || v.contains(" #") || v.ends_with(':') || v.contains(flow_stops) || v.contains('\t');
    let lead = before.trim_end();
    let whole = lead.is_empty() || (lead.ends_with([':', '-']) && before.ends_with(char::is_whitespace)) || lead.ends_with(['{', '[', ',']);
    let tail = after.trim_start();
    let whole = whole && (tail.is_empty() || tail.starts_with([',', '}', ']']) || after.starts_with(" #"));
    let starts_with_indicator = v.starts_with(['-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ']) || v.ends_with(' ');
    if whole && (ends_scalar || starts_with_indicator) {
        // A JSON string is a valid YAML double-quoted scalar.
        return Ok(serde_json::to_string(v).unwrap_or_default());
    }
    if ends_scalar || (starts_with_indicator && whole) {
        return Err("holds YAML syntax (`: `, ` #`, or a flow separator) inside an unquoted value");
    }
    Ok(v.to_string())
}

struct Ctx {
    double: bool,
    single: bool,
    comment: bool,
    flow: bool,
}

/// Whether the end of `line` is inside quotes, a comment or a flow collection.
fn context(line: &str) -> Ctx {
    let mut c = Ctx { double: false, single: false, comment: false, flow: false };
    let mut depth = 0i32;
    let mut prev = ' ';
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        if c.double {
            match ch {
                '\\' => {
                    chars.next();
                }
                '"' => c.double = false,
                _ => {}
            }
        } else if c.single {
            if ch == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                } else {
                    c.single = false;
                }
            }
        } else {
            match ch {
                '"' if prev.is_whitespace() || "[{,:-".contains(prev) => c.double = true,
                '\'' if prev.is_whitespace() || "[{,:-".contains(prev) => c.single = true,
                '#' if prev.is_whitespace() => {
                    c.comment = true;
                    return c;
                }
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                _ => {}
            }
        }
        prev = ch;
    }
    c.flow = depth > 0;
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    fn env(k: &str) -> Option<String> {
        (k == "HOME_DIR").then(|| "/data".to_string())
    }
    #[test]
    fn expands_and_defaults() {
        assert_eq!(interpolate("a: ${HOME_DIR}/x", &env).unwrap(), "a: /data/x");
        assert_eq!(interpolate("a: ${NOPE:-d}", &env).unwrap(), "a: d");
        assert_eq!(interpolate("a: $${HOME_DIR}", &env).unwrap(), "a: ${HOME_DIR}");
        assert_eq!(interpolate("é: ${HOME_DIR}", &env).unwrap(), "é: /data");
    }
    #[test]
    fn values_cannot_inject_yaml() {
        let v = |val: &'static str| move |_: &str| Some(val.to_string());
        // A line break would add keys: refused, naming the variable, not the value.
        let e = interpolate("a: ${X}\n", &v("x\nstate: /tmp/evil")).unwrap_err();
        assert!(e.message.contains("`X`") && !e.message.contains("evil"), "{}", e.message);
        // A whole plain scalar with YAML syntax is quoted, so it stays one string.
        assert_eq!(interpolate("a: ${X}\n", &v("p: w #c")).unwrap(), "a: \"p: w #c\"\n");
        assert_eq!(interpolate("s: { endpoint: ${X}, b: 1 }", &v("http://h:9000, evil: 1")).unwrap(), "s: { endpoint: \"http://h:9000, evil: 1\", b: 1 }");
        // URLs and plain values are left as they are.
        assert_eq!(interpolate("a: ${X}/k\n", &v("s3://b")).unwrap(), "a: s3://b/k\n");
        assert_eq!(interpolate("n: ${X}\n", &v("4")).unwrap(), "n: 4\n");
        // Inside quotes: escaped.
        assert_eq!(interpolate("a: \"x ${X}\"\n", &v("q\"\\")).unwrap(), "a: \"x q\\\"\\\\\"\n");
        assert_eq!(interpolate("a: 'x ${X}'\n", &v("it's")).unwrap(), "a: 'x it''s'\n");
        // Inside a larger plain scalar, syntax that would end it is refused.
        assert!(interpolate("a: x${X}y\n", &v("1: 2")).is_err());
    }
    #[test]
    fn missing_variable_is_located() {
        let d = interpolate("name: x\nsource:\n  files: ${MISSING}\n", &env).unwrap_err();
        assert_eq!((d.line, d.column), (3, 10));
        assert!(d.message.contains("MISSING"));
    }
}
