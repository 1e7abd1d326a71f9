//! Expands a source path, directory or glob into a sorted list of input files.

use crate::store::{Location, StoreRegistry, storage};
use crate::{ConnectorError, Result};
use futures::TryStreamExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

/// One input object with what identifies its version (so a changed file is not mistaken for a done one).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputFile {
    pub url: String,
    pub size: u64,
    #[serde(default)]
    pub etag: Option<String>,
    /// A Delta table's file: its partition values (the columns its data files leave out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<std::collections::BTreeMap<String, Option<String>>>,
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Lists the files a source names. A plain object is itself; a directory/prefix lists everything below
/// it (skipping `_` and `.` names, as Spark and pyarrow do); a glob filters that listing.
pub async fn expand(registry: &StoreRegistry, pattern: &str) -> Result<(Location, Vec<InputFile>)> {
    // Split at the first path segment that holds a glob character: list below the literal part.
    let (literal, glob_part) = match pattern.find(['*', '?', '[']) {
        Some(i) => {
            let cut = pattern[..i].rfind('/').map(|j| j + 1).unwrap_or(0);
            (&pattern[..cut], Some(&pattern[cut..]))
        }
        None => (pattern, None),
    };
    let literal = if literal.is_empty() { "." } else { literal };
    let base = registry.resolve(literal)?;
    let matcher = match glob_part {
        // `*` may cross `/` (as before), and `**/` also matches zero directories.
        Some(g) => Some(
            globset::GlobBuilder::new(g)
                .literal_separator(false)
                .build()
                .map_err(|e| ConnectorError::InvalidUrl { url: crate::redact::url(pattern), message: format!("bad glob: {e}") })?
                .compile_matcher(),
        ),
        None => None,
    };
    if glob_part.is_none() && !base.path.as_ref().is_empty() {
        use object_store::ObjectStoreExt;
        if let Ok(meta) = base.store.head(&base.path).await {
            return Ok((base.clone(), vec![to_input(&base, &meta.location, &meta)]));
        }
    }
    let prefix = if base.path.as_ref().is_empty() { None } else { Some(&base.path) };
    let listing: Vec<_> = match base.store.list(prefix).try_collect().await {
        Ok(v) => v,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(storage("list", &base.url(), e)),
    };
    let mut files = Vec::new();
    let plen = base.path.as_ref().len();
    for meta in listing {
        let full = meta.location.as_ref();
        let rel = if plen == 0 { full } else { full.get(plen..).unwrap_or("").trim_start_matches('/') };
        if rel.is_empty() {
            files.push(to_input(&base, &meta.location, &meta));
            continue;
        }
        if rel.split('/').any(|seg| seg.starts_with('_') || seg.starts_with('.')) {
            continue;
        }
        if matcher.as_ref().is_some_and(|m| !m.is_match(rel)) {
            continue;
        }
        files.push(to_input(&base, &meta.location, &meta));
    }
    files.sort_by(|a, b| a.url.cmp(&b.url));
    if files.is_empty() && !is_glob(pattern) && glob_part.is_none() {
        return Err(ConnectorError::NoInput { pattern: pattern.to_string() });
    }
    Ok((base, files))
}

fn to_input(base: &Location, p: &Path, meta: &object_store::ObjectMeta) -> InputFile {
    InputFile { url: base.url_of(p), size: meta.size, etag: meta.e_tag.clone(), partition: None }
}
