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
                Some(v) => out.push_str(&v),
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
    fn missing_variable_is_located() {
        let d = interpolate("name: x\nsource:\n  files: ${MISSING}\n", &env).unwrap_err();
        assert_eq!((d.line, d.column), (3, 10));
        assert!(d.message.contains("MISSING"));
    }
}
