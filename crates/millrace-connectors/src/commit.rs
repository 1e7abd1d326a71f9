//! The epoch commit protocol.
//!
//! Sink files are staged under `_staging/epoch-N/` with names that depend only on (epoch, partition,
//! sequence). To commit, the run first records in its state `pending/epoch-N.json`: every file each
//! sink is about to publish. Then each sink renames its staged files into place and writes
//! `_manifest/epoch-N.json` (the manifest is what makes an epoch's files part of the table); on local
//! disk files and directories are fsynced. Last, the checkpoint `checkpoints/epoch-N.json` records
//! which source units the epoch consumed, written create-if-absent so that a run that lost its lease
//! cannot overwrite a newer run's; only then is the epoch done, and the pending record goes.
//!
//! A crash at any point is repaired by the next run holding the lease: the files named in pending
//! records (and manifests) of epochs after the last checkpoint are deleted, and the staging areas of
//! the locations this state owns are emptied; those epochs then re-run with the same names. Nothing
//! is deleted by name pattern: only what a record of this state lists, or staging in a location whose
//! owner record names this state (see [`crate::ownership`]).

use crate::sink::StagedFile;
use crate::source::WorkUnit;
use crate::store::{Location, put_json, put_new, read_json, storage};
use crate::{ConnectorError, Result};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use object_store::ObjectStoreExt;
use std::str::FromStr;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

/// `<sink>/_manifest/epoch-N.json`: the files that make up one epoch of a sink. Written and read by
/// this struct only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochManifest {
    pub epoch: u64,
    pub run_id: String,
    pub sink: String,
    #[serde(with = "timestamp")]
    pub committed_at: DateTime<Utc>,
    pub rows: u64,
    pub bytes: u64,
    pub files: Vec<StagedFile>,
    /// Schema of the files, for readers that want it without opening a file.
    #[serde(default)]
    pub schema: Option<Vec<ColumnSchema>>,
}

/// One column of a manifest's schema: its name, the Arrow type's display name, and nullability.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnSchema {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
}

impl ColumnSchema {
    /// The columns of `schema`, except those `skip` names.
    pub fn from_arrow(schema: &Schema, skip: &[&str]) -> Vec<ColumnSchema> {
        schema
            .fields()
            .iter()
            .filter(|f| !skip.contains(&f.name().as_str()))
            .map(|f| ColumnSchema { name: f.name().clone(), data_type: f.data_type().to_string(), nullable: f.is_nullable() })
            .collect()
    }

    /// The Arrow schema back; `None` when a type name does not parse (written by another version).
    pub fn to_arrow(columns: &[ColumnSchema]) -> Option<Schema> {
        let fields = columns
            .iter()
            .map(|c| Some(Field::new(&c.name, DataType::from_str(&c.data_type).ok()?, c.nullable)))
            .collect::<Option<Vec<_>>>()?;
        Some(Schema::new(fields))
    }
}

/// Timestamps in records as RFC 3339 with milliseconds and `Z`; any RFC 3339 offset reads back.
pub(crate) mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }

    /// For informational timestamps of records other runs or people may have written: one that does
    /// not parse reads as absent instead of making the record unreadable.
    pub mod informational {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            Ok(s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc)))
        }
    }
}

/// `<state>/checkpoints/epoch-N.json`: the source units an epoch consumed; its existence makes the
/// epoch done.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub epoch: u64,
    pub run_id: String,
    #[serde(with = "timestamp")]
    pub committed_at: DateTime<Utc>,
    pub units: Vec<WorkUnit>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_filtered: u64,
    pub rows_rejected: u64,
}

/// `<state>/pending/epoch-N.json`: what an epoch is about to publish, written before the first rename.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingCommit {
    pub epoch: u64,
    pub run_id: String,
    pub sinks: Vec<PendingSink>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingSink {
    /// The sink's root URL.
    pub url: String,
    /// Paths relative to the root, as in the manifest.
    pub files: Vec<String>,
}

fn pending_path(state: &Location, epoch: u64) -> Location {
    state.child(&format!("pending/epoch-{epoch:06}.json"))
}

/// Records what the epoch is about to publish; must precede [`publish`].
pub async fn write_pending(state: &Location, p: &PendingCommit) -> Result<()> {
    put_json(&pending_path(state, p.epoch), p).await
}

fn manifest_path(base: &Location, epoch: u64) -> Location {
    base.child(&format!("_manifest/epoch-{epoch:06}.json"))
}

/// Moves staged files into place and writes the epoch manifest.
pub async fn publish(
    base: &Location,
    sink: &str,
    run_id: &str,
    epoch: u64,
    files: Vec<StagedFile>,
    schema: Option<Vec<ColumnSchema>>,
) -> Result<EpochManifest> {
    let mut published = Vec::with_capacity(files.len());
    for mut f in files {
        if let Some(staging) = f.staging.take() {
            let dest = base.child(&f.path);
            rename(base, &staging, &dest.path).await.map_err(|e| match e {
                // Repair removed every file this state's records list, so what is in the way is not ours.
                object_store::Error::AlreadyExists { .. } => ConnectorError::Conflict {
                    url: dest.url(),
                    message: "a file this pipeline did not write is in the way of a published file; move it away (nothing was overwritten)".into(),
                },
                e => storage("publish", &base.url_of(&staging), e),
            })?;
        }
        published.push(f);
    }
    published.sort_by(|a, b| a.path.cmp(&b.path));
    let m = EpochManifest {
        epoch,
        run_id: run_id.to_string(),
        sink: sink.to_string(),
        committed_at: Utc::now(),
        rows: published.iter().map(|f| f.rows).sum(),
        bytes: published.iter().map(|f| f.bytes).sum(),
        files: published,
        schema,
    };
    let manifest = manifest_path(base, epoch);
    put_json(&manifest, &m).await?;
    // Staging of this epoch is now empty of our files; remove what a crashed attempt may have left.
    delete_prefix(&base.child(&crate::sink::staging_dir(epoch))).await?;
    if base.local_path().is_some() {
        let paths: Vec<Location> = m.files.iter().map(|f| base.child(&f.path)).chain(std::iter::once(manifest)).collect();
        fsync_local(&paths).await?;
    }
    Ok(m)
}

/// Flushes published files and their directories to disk before the checkpoint is written, so a
/// power loss cannot keep a checkpoint whose data was still in the page cache.
async fn fsync_local(paths: &[Location]) -> Result<()> {
    let files: Vec<(String, std::path::PathBuf)> = paths.iter().filter_map(|l| Some((l.url(), l.local_path()?))).collect();
    tokio::task::spawn_blocking(move || {
        let mut dirs = std::collections::BTreeSet::new();
        for (url, p) in &files {
            std::fs::File::open(p).and_then(|f| f.sync_all()).map_err(|e| ConnectorError::write(url, e))?;
            if let Some(d) = p.parent() {
                dirs.insert(d.to_path_buf());
            }
        }
        for d in dirs {
            // Directories cannot be fsynced on every platform; where they can, a failure matters.
            if let Ok(f) = std::fs::File::open(&d) {
                f.sync_all().map_err(|e| ConnectorError::write(&d.display().to_string(), e))?;
            }
        }
        Ok(())
    })
    .await
    .map_err(|e| ConnectorError::write("fsync", e))?
}

/// Writes the checkpoint that makes the epoch done. Create-if-absent: when the epoch's checkpoint
/// already exists another run committed it, and this run is fenced out.
pub async fn write_checkpoint(state: &Location, cp: &Checkpoint) -> Result<()> {
    let loc = state.child(&format!("checkpoints/epoch-{:06}.json", cp.epoch));
    if !put_new(&loc, cp).await? {
        // Our own earlier attempt may have landed before its answer was lost.
        let theirs = read_json::<Checkpoint>(&loc).await?.map(|(c, _)| c);
        if !theirs.is_some_and(|t| t.run_id == cp.run_id && t.epoch == cp.epoch) {
            return Err(ConnectorError::Fenced {
                url: loc.url(),
                message: format!("epoch {} was already committed by another run; this run stops", cp.epoch),
            });
        }
    }
    if loc.local_path().is_some() {
        fsync_local(std::slice::from_ref(&loc)).await?;
    }
    delete_pending(state, cp.epoch).await
}

async fn delete_pending(state: &Location, epoch: u64) -> Result<()> {
    delete_if_present(&pending_path(state, epoch)).await.map(|_| ())
}

pub fn new_checkpoint(epoch: u64, run_id: &str, units: Vec<WorkUnit>) -> Checkpoint {
    Checkpoint {
        epoch,
        run_id: run_id.to_string(),
        committed_at: Utc::now(),
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
    let metas = crate::store::list_all(dir).await?;
    let mut paths: Vec<Path> = metas.into_iter().map(|m| m.location).filter(|p| p.as_ref().ends_with(".json")).collect();
    paths.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    let mut out = Vec::new();
    for p in paths {
        let loc = Location { store: dir.store.clone(), path: p, base: dir.base.clone() };
        match read_json(&loc).await? {
            Some((v, _)) => out.push(v),
            None => return Err(ConnectorError::record(&loc.url(), "listed, then not found")),
        }
    }
    Ok(out)
}

/// Removes what runs of this state left half-done: the files that pending records of epochs after
/// `last_committed` list, with those epochs' manifests and the records themselves, and the staging
/// area of every owned output location in `outputs`. `resolve` opens a recorded sink URL. Returns the
/// objects removed.
///
/// A manifest of an epoch after the last checkpoint that no pending record covers cannot be proven
/// uncommitted: the state was deleted or replaced (or a crash of a version that wrote no pending
/// records). Nothing is deleted then, and the run stops with [`ConnectorError::Conflict`].
pub async fn repair(
    state: &Location,
    outputs: &[Location],
    last_committed: Option<u64>,
    resolve: impl Fn(&str) -> Result<Location>,
) -> Result<usize> {
    let after = |e: u64| last_committed.is_none_or(|l| e > l);
    let pendings: Vec<PendingCommit> = read_all(&state.child("pending")).await?;
    let covered: std::collections::HashSet<(String, u64)> = pendings
        .iter()
        .filter(|p| after(p.epoch))
        .flat_map(|p| p.sinks.iter().map(move |s| (s.url.trim_end_matches('/').to_string(), p.epoch)))
        .collect();
    for base in outputs {
        for m in read_all::<EpochManifest>(&base.child("_manifest")).await? {
            if after(m.epoch) && !covered.contains(&(base.url().trim_end_matches('/').to_string(), m.epoch)) {
                let since = last_committed.map(|l| format!("after its last checkpoint (epoch {l})")).unwrap_or_else(|| "and has no checkpoints".into());
                return Err(ConnectorError::Conflict {
                    url: base.url(),
                    message: format!(
                        "epoch {} is committed here (its manifest lists {} files), but this pipeline's state {} {since} and no record of that epoch: the state was deleted or replaced. Restore it, or empty this location to start over; nothing was deleted",
                        m.epoch,
                        m.files.len(),
                        state.url()
                    ),
                });
            }
        }
    }
    let mut removed = 0;
    for p in &pendings {
        if after(p.epoch) {
            for s in &p.sinks {
                let base = resolve(&s.url)?;
                for f in &s.files {
                    removed += delete_if_present(&base.child(f)).await?;
                }
                removed += delete_if_present(&manifest_path(&base, p.epoch)).await?;
            }
        }
        delete_pending(state, p.epoch).await?;
    }
    for base in outputs {
        removed += delete_prefix(&base.child("_staging")).await?;
        if let Some(dir) = base.child("_staging").local_path() {
            // Local listings skip some names (`part-…#1`); the directory itself is ours to empty.
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        }
    }
    Ok(removed)
}

async fn delete_if_present(loc: &Location) -> Result<usize> {
    match delete(&loc.store, &loc.path).await {
        Ok(()) => Ok(1),
        Err(object_store::Error::NotFound { .. }) => Ok(0),
        Err(e) => Err(storage("delete", &loc.url(), e)),
    }
}

/// Deletes one object, retrying through outages (deleting twice is harmless).
async fn delete(store: &std::sync::Arc<dyn object_store::ObjectStore>, path: &Path) -> object_store::Result<()> {
    crate::store::retrying(|| store.delete(path)).await
}

/// Moves a staged file into place, never over an existing file (`AlreadyExists`): an atomic
/// rename-if-absent on local disk; elsewhere a check, then a copy (repeatable) and a delete, each
/// retried through outages (the lease makes this run the only writer, so the check cannot race).
async fn rename(base: &Location, from: &Path, to: &Path) -> object_store::Result<()> {
    if base.local_path().is_some() {
        return base.store.rename_if_not_exists(from, to).await;
    }
    match crate::store::retrying(|| base.store.head(to)).await {
        Ok(_) => return Err(object_store::Error::AlreadyExists { path: to.to_string(), source: "published file exists".into() }),
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    crate::store::retrying(|| base.store.copy(from, to)).await?;
    match delete(&base.store, from).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn delete_prefix(dir: &Location) -> Result<usize> {
    let metas = crate::store::list_all(dir).await?;
    let n = metas.len();
    for m in metas {
        match delete(&dir.store, &m.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(storage("delete", &dir.url_of(&m.location), e)),
        }
    }
    Ok(n)
}
