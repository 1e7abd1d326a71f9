//! The epoch commit protocol.
//!
//! Sink files are staged under `_staging/epoch-N/` with names that depend only on (epoch, partition,
//! sequence), then renamed into place, then `_manifest/epoch-N.json` is written: the manifest is what
//! makes an epoch's files part of the table. After every sink has committed, the run's checkpoint
//! `checkpoints/epoch-N.json` (in the state location) records which source units the epoch consumed;
//! only then is the epoch done. A crash at any point is repaired on the next run: files of epochs
//! after the last checkpoint are deleted and those epochs are re-run with the same names, so nothing
//! is lost and nothing is duplicated.

use crate::sink::StagedFile;
use crate::source::WorkUnit;
use crate::store::{Location, storage};
use crate::{ConnectorError, Result};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochManifest {
    pub epoch: u64,
    pub run_id: String,
    pub sink: String,
    pub committed_at: String,
    pub rows: u64,
    pub bytes: u64,
    pub files: Vec<StagedFile>,
    /// Arrow schema of the files, as JSON, for readers that want it without opening a file.
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub epoch: u64,
    pub run_id: String,
    pub committed_at: String,
    pub units: Vec<WorkUnit>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_filtered: u64,
    pub rows_rejected: u64,
}

fn manifest_path(base: &Location, epoch: u64) -> Location {
    base.child(&format!("_manifest/epoch-{epoch:06}.json"))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Moves staged files into place and writes the epoch manifest.
pub async fn publish(
    base: &Location,
    sink: &str,
    run_id: &str,
    epoch: u64,
    files: Vec<StagedFile>,
    schema: Option<serde_json::Value>,
) -> Result<EpochManifest> {
    let mut published = Vec::with_capacity(files.len());
    for mut f in files {
        if let Some(staging) = f.staging.take() {
            let dest = base.child(&f.path);
            base.store.rename(&staging, &dest.path).await.map_err(|e| storage("publish", &base.url_of(&staging), e))?;
        }
        published.push(f);
    }
    published.sort_by(|a, b| a.path.cmp(&b.path));
    let m = EpochManifest {
        epoch,
        run_id: run_id.to_string(),
        sink: sink.to_string(),
        committed_at: now(),
        rows: published.iter().map(|f| f.rows).sum(),
        bytes: published.iter().map(|f| f.bytes).sum(),
        files: published,
        schema,
    };
    put_json(&manifest_path(base, epoch), &m).await?;
    // Staging of this epoch is now empty of our files; remove what a crashed attempt may have left.
    delete_prefix(&base.child(&crate::sink::staging_dir(epoch))).await?;
    Ok(m)
}

pub async fn write_checkpoint(state: &Location, cp: &Checkpoint) -> Result<()> {
    put_json(&state.child(&format!("checkpoints/epoch-{:06}.json", cp.epoch)), cp).await
}

pub fn new_checkpoint(epoch: u64, run_id: &str, units: Vec<WorkUnit>) -> Checkpoint {
    Checkpoint {
        epoch,
        run_id: run_id.to_string(),
        committed_at: now(),
        units,
        rows_read: 0,
        rows_written: 0,
        rows_filtered: 0,
        rows_rejected: 0,
    }
}

pub async fn read_checkpoints(state: &Location) -> Result<Vec<Checkpoint>> {
    read_all(&state.child("checkpoints")).await
}

pub async fn read_manifests(base: &Location) -> Result<Vec<EpochManifest>> {
    read_all(&base.child("_manifest")).await
}

async fn read_all<T: for<'de> Deserialize<'de>>(dir: &Location) -> Result<Vec<T>> {
    let metas: Vec<_> = match dir.store.list(Some(&dir.path)).try_collect().await {
        Ok(v) => v,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(storage("list", &dir.url(), e)),
    };
    let mut paths: Vec<Path> = metas.into_iter().map(|m| m.location).filter(|p| p.as_ref().ends_with(".json")).collect();
    paths.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    let mut out = Vec::new();
    for p in paths {
        let url = dir.url_of(&p);
        let bytes = dir.store.get(&p).await.map_err(|e| storage("get", &url, e))?.bytes().await.map_err(|e| storage("get", &url, e))?;
        let v = serde_json::from_slice(&bytes).map_err(|e| ConnectorError::Manifest { url, message: e.to_string() })?;
        out.push(v);
    }
    Ok(out)
}

/// Removes everything a crashed run left behind in a sink: its staging area, and published files and
/// manifests of epochs after `last_committed` (whose checkpoint was never written).
pub async fn repair(base: &Location, last_committed: Option<u64>) -> Result<usize> {
    let mut removed = delete_prefix(&base.child("_staging")).await?;
    let metas: Vec<_> = match base.store.list(Some(&base.path)).try_collect().await {
        Ok(v) => v,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(storage("list", &base.url(), e)),
    };
    for m in metas {
        let name = m.location.filename().unwrap_or("");
        let epoch = epoch_of_name(name);
        if let Some(e) = epoch {
            if last_committed.is_none_or(|l| e > l) {
                base.store.delete(&m.location).await.map_err(|e| storage("delete", &base.url_of(&m.location), e))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// `part-000007-001-0000.parquet` and `epoch-000007.json` are epoch 7.
fn epoch_of_name(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("part-").or_else(|| name.strip_prefix("epoch-"))?;
    rest.get(..6)?.parse().ok()
}

async fn delete_prefix(dir: &Location) -> Result<usize> {
    let metas: Vec<_> = match dir.store.list(Some(&dir.path)).try_collect().await {
        Ok(v) => v,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(storage("list", &dir.url(), e)),
    };
    let n = metas.len();
    for m in metas {
        match dir.store.delete(&m.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(storage("delete", &dir.url_of(&m.location), e)),
        }
    }
    Ok(n)
}

async fn put_json<T: Serialize>(loc: &Location, v: &T) -> Result<()> {
    let body = serde_json::to_vec_pretty(v).map_err(|e| ConnectorError::Manifest { url: loc.url(), message: e.to_string() })?;
    loc.store.put(&loc.path, PutPayload::from(body)).await.map_err(|e| storage("put", &loc.url(), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn epoch_names() {
        assert_eq!(super::epoch_of_name("part-000007-001-0000.parquet"), Some(7));
        assert_eq!(super::epoch_of_name("epoch-000012.json"), Some(12));
        assert_eq!(super::epoch_of_name("data.parquet"), None);
    }
}
