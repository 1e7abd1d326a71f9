//! Credentials never leave the process in text: URLs are rendered without their password and with
//! their query (SAS tokens, signed-URL signatures) masked, in errors, manifests, reports and logs.

use std::sync::LazyLock;

const MASK: &str = "***";

/// `http://user:PW@host/p?sig=X` → `http://user:***@host/p?***`. Text that does not parse as a URL
/// with a scheme is returned unchanged.
pub fn url(raw: &str) -> String {
    if !raw.contains("://") {
        return raw.to_string();
    }
    let Ok(mut u) = url::Url::parse(raw) else {
        return scrub_unparsed(raw);
    };
    let mut changed = false;
    if u.password().is_some() {
        changed |= u.set_password(Some(MASK)).is_ok();
    }
    if u.query().is_some() {
        u.set_query(Some(MASK));
        changed = true;
    }
    if changed { u.to_string() } else { raw.to_string() }
}

/// Redacts every URL inside free text (an error message from a library may quote the URL it was given).
pub fn text(s: &str) -> String {
    static URL: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r#"[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>`)\]]+"#).expect("static regex"));
    if !s.contains("://") {
        return s.to_string();
    }
    URL.replace_all(s, |c: &regex::Captures<'_>| url(&c[0])).into_owned()
}

/// A URL that does not parse may still carry `user:pass@` or a query: mask both by hand.
fn scrub_unparsed(raw: &str) -> String {
    let (scheme, rest) = raw.split_once("://").unwrap_or(("", raw));
    let (auth_end, _) = rest.char_indices().find(|(_, c)| *c == '/' || *c == '?').unwrap_or((rest.len(), ' '));
    let (authority, tail) = rest.split_at(auth_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((p, _)) => format!("{p}?{MASK}"),
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_and_queries_are_masked() {
        assert_eq!(super::url("http://user:PW@host/a/b.jsonl"), "http://user:***@host/a/b.jsonl");
        assert_eq!(super::url("https://acct.blob.core.windows.net/c/x?sv=1&sig=SECRET"), "https://acct.blob.core.windows.net/c/x?***");
        assert_eq!(super::url("s3://bucket/key.parquet"), "s3://bucket/key.parquet");
        assert_eq!(super::url("/local/path"), "/local/path");
        let t = super::text("GET http://u:PW@h:8/x failed; see https://a/b?sig=S.");
        assert!(!t.contains("PW") && !t.contains("sig=S"), "{t}");
        assert!(super::scrub_unparsed("http://u:PW@h%zz/x?sig=1").contains("u:***@"));
        assert!(!super::url("http://u:PW@[bad/x").contains("PW"));
    }
}
