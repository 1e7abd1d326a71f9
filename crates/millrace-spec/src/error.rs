use std::fmt;

/// One problem in a spec, located by 1-based line and column (0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: u64,
    pub column: u64,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid spec {file}:\n{}", render(file, diagnostics))]
    Invalid { file: String, diagnostics: Vec<Diagnostic> },
    #[error("invalid --set {path}: {message}")]
    Override { path: String, message: String },
}

fn render(file: &str, diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("  {file}:{d}")).collect::<Vec<_>>().join("\n")
}

/// Turns serde's "unknown field `x`, expected one of `a`, `b`" into "did you mean `a`?".
pub(crate) fn did_you_mean(message: &str) -> Option<String> {
    let unknown = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| message.find(p).map(|i| i + p.len()))?;
    let rest = &message[unknown..];
    let end = rest.find('`')?;
    let bad = &rest[..end];
    let tail = &rest[end + 1..];
    let list = tail
        .find("expected one of ")
        .map(|i| &tail[i + "expected one of ".len()..])
        .or_else(|| tail.find("expected ").map(|i| &tail[i + "expected ".len()..]))?;
    let candidates: Vec<&str> = list.split(", ").map(|c| c.trim().trim_matches('`')).filter(|c| !c.is_empty()).collect();
    suggest(bad, &candidates)
}

pub(crate) fn suggest(bad: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(bad, c), *c))
        .filter(|(s, _)| *s > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn hint_from_unknown_field() {
        let m = "unknown field `fiels`, expected one of `files`, `format`, `text_field`";
        assert_eq!(did_you_mean(m).as_deref(), Some("did you mean `files`?"));
        let m = "unknown variant `jsnl`, expected one of json, jsonl, ndjson, parquet";
        assert_eq!(did_you_mean(m).as_deref(), Some("did you mean `jsonl`?"));
        assert_eq!(did_you_mean("unknown field `zzzzzz`, expected `files`"), None);
    }
}
