//! The pipeline spec: the YAML model users write, parsed with line/column errors, `${VAR}` interpolation,
//! and validation that does not need any service. Everything the engine knows about a pipeline comes
//! from the types in this crate; nothing here performs I/O beyond reading the spec file.

mod checks;
mod error;
mod interpolate;
mod model;
mod schema;
mod size;
mod validate;

pub use checks::*;
pub use error::{Diagnostic, SpecError};
pub use interpolate::interpolate;
pub use model::*;
pub use schema::json_schema;
pub use serde_saphyr::Spanned;
pub use size::{ByteSize, Interval};

use std::path::Path;

/// A parsed, interpolated and validated pipeline spec, with the text it came from (for diagnostics).
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub spec: PipelineSpec,
    pub path: String,
    /// The spec text after interpolation (what was parsed). Never printed: it may hold secrets.
    pub text: String,
    /// sha256 of the raw spec text before interpolation, for run reports and lineage.
    pub sha256: String,
}

/// Reads, interpolates, parses and validates a spec file.
pub fn load(path: impl AsRef<Path>, overrides: &[(String, String)]) -> Result<LoadedSpec, SpecError> {
    let path = path.as_ref();
    let raw = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.display().to_string(),
        source,
    })?;
    load_str(&raw, &path.display().to_string(), overrides)
}

/// Like [`load`], from text already in memory; `origin` names it in diagnostics.
pub fn load_str(raw: &str, origin: &str, overrides: &[(String, String)]) -> Result<LoadedSpec, SpecError> {
    let sha256 = sha256_hex(raw.as_bytes());
    let text = interpolate(raw, &|k| std::env::var(k).ok())
        .map_err(|d| SpecError::Invalid { file: origin.to_string(), diagnostics: vec![d] })?;
    let mut spec: PipelineSpec = parse(&text, origin)?;
    for (path, value) in overrides {
        apply_override(&mut spec, path, value)
            .map_err(|msg| SpecError::Override { path: path.clone(), message: msg })?;
    }
    let diags = validate::validate(&spec);
    if !diags.is_empty() {
        return Err(SpecError::Invalid { file: origin.to_string(), diagnostics: diags });
    }
    Ok(LoadedSpec { spec, path: origin.to_string(), text, sha256 })
}

fn parse(text: &str, origin: &str) -> Result<PipelineSpec, SpecError> {
    serde_saphyr::from_str::<PipelineSpec>(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        let message = e.without_snippet().to_string();
        let message = first_line(&message);
        let hint = error::did_you_mean(&message);
        SpecError::Invalid {
            file: origin.to_string(),
            diagnostics: vec![Diagnostic { line, column, message, hint }],
        }
    })
}

fn first_line(s: &str) -> String {
    // The library message may carry its own location suffix/snippet; we print our own.
    let l = s.lines().next().unwrap_or("").trim();
    match l.find(" at line ") {
        Some(i) => l[..i].to_string(),
        None => l.to_string(),
    }
}

/// `--set path=value` overrides: a dotted path into the spec, re-parsed through YAML so types are checked.
fn apply_override(spec: &mut PipelineSpec, path: &str, value: &str) -> Result<(), String> {
    let mut tree = serde_json::to_value(&*spec).map_err(|e| e.to_string())?;
    let new: serde_json::Value = serde_saphyr::from_str(value).map_err(|e| e.without_snippet().to_string())?;
    let mut cur = &mut tree;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        cur = match cur {
            serde_json::Value::Object(map) => {
                if last {
                    map.insert(p.to_string(), new);
                    break;
                }
                map.entry(p.to_string()).or_insert_with(|| serde_json::Value::Object(Default::default()))
            }
            serde_json::Value::Array(items) => {
                let idx: usize = p.parse().map_err(|_| format!("`{p}` is not a list index"))?;
                let len = items.len();
                let slot = items.get_mut(idx).ok_or_else(|| format!("index {idx} out of range (len {len})"))?;
                if last {
                    *slot = new;
                    break;
                }
                slot
            }
            _ => return Err(format!("cannot descend into `{p}`")),
        };
    }
    // Round-trip through YAML text so the same typed parser (and its errors) apply.
    let yaml = serde_json::to_string(&tree).map_err(|e| e.to_string())?;
    *spec = serde_saphyr::from_str(&yaml).map_err(|e| first_line(&e.without_snippet().to_string()))?;
    Ok(())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
