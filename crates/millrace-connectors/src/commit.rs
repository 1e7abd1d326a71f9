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
use crate::store::{COMMIT_RETRY, Location, put_json, put_new, read_json, storage};
use crate::upload::Upload;
use crate::{ConnectorError, Result};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, ObjectStoreScheme};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::sync::Arc;

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
    /// A `delta:` sink's table version that holds the epoch (such a sink writes no manifest file:
    /// this record exists only in the run's summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_version: Option<i64>,
}

impl EpochManifest {
    /// The record of an epoch's published files (written as the manifest, or, for a Delta sink,
    /// kept in the run's summary only: the table's log lists them).
    pub fn new(epoch: u64, run_id: &str, sink: &str, files: Vec<StagedFile>, schema: Option<Vec<ColumnSchema>>) -> Self {
        EpochManifest {
            epoch,
            run_id: run_id.to_string(),
            sink: sink.to_string(),
            committed_at: Utc::now(),
            rows: files.iter().map(|f| f.rows).sum(),
            bytes: files.iter().map(|f| f.bytes).sum(),
            files,
            schema,
            delta_version: None,
        }
    }
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

fn manifest_path(base: &Location, lane: Option<&str>, epoch: u64) -> Location {
    base.child(&format!("{}/epoch-{epoch:06}.json", crate::sink::manifest_dir(lane)))
}

/// Moves staged files into place and writes the epoch manifest.
pub async fn publish(
    base: &Location,
    sink: &str,
    lane: Option<&str>,
    run_id: &str,
    epoch: u64,
    files: Vec<StagedFile>,
    schema: Option<Vec<ColumnSchema>>,
) -> Result<EpochManifest> {
    publish_with(base, sink, lane, run_id, epoch, files, schema, server_copy_limit(base)).await
}

/// S3's CopyObject copies at most 5 GiB in one request.
pub const S3_COPY_LIMIT: u64 = 5 << 30;

/// The largest staged file an object store copies into place by itself; larger ones are streamed
/// through this process. Azure's Copy Blob may answer before the copy is done (202 with
/// `x-ms-copy-status: pending`), and object_store neither waits for it nor shows that status (a
/// pending destination may already show the full size): deleting the staged source then fails the
/// copy. So on Azure every file is streamed, which is known complete when its upload completes.
pub fn server_copy_limit(base: &Location) -> u64 {
    match crate::store::kind(base) {
        Some(ObjectStoreScheme::AmazonS3) => S3_COPY_LIMIT,
        Some(ObjectStoreScheme::MicrosoftAzure) => 0,
        _ => u64::MAX,
    }
}

/// [`publish`], copying files larger than `copy_limit` bytes by streaming them (object stores only;
/// local files are renamed).
#[allow(clippy::too_many_arguments)]
pub async fn publish_with(
    base: &Location,
    sink: &str,
    lane: Option<&str>,
    run_id: &str,
    epoch: u64,
    files: Vec<StagedFile>,
    schema: Option<Vec<ColumnSchema>>,
    copy_limit: u64,
) -> Result<EpochManifest> {
    let published = publish_files(base, &crate::sink::lane_staging_dir(lane, epoch), files, copy_limit).await?;
    let m = EpochManifest::new(epoch, run_id, sink, published, schema);
    let manifest = manifest_path(base, lane, epoch);
    put_json(&manifest, &m).await?;
    if manifest.local_path().is_some() {
        fsync_local(std::slice::from_ref(&manifest)).await?;
    }
    Ok(m)
}

/// Moves an epoch's staged files into place (sorted by path) and empties the epoch's staging
/// area `staging_dir` (of what a crashed attempt may have left); on local disk the files are
/// fsynced. A Delta sink's files then go into the table's log; every other sink's into a manifest.
pub async fn publish_files(base: &Location, staging_dir: &str, files: Vec<StagedFile>, copy_limit: u64) -> Result<Vec<StagedFile>> {
    let mut published = Vec::with_capacity(files.len());
    for mut f in files {
        if let Some(staging) = f.staging.take() {
            let dest = base.child(&f.path);
            rename(base, &staging, &dest.path, copy_limit).await.map_err(|e| match e {
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
    // Staging of this epoch is now empty of our files; remove what a crashed attempt may have left.
    delete_prefix(&base.child(staging_dir)).await?;
    if base.local_path().is_some() {
        let paths: Vec<Location> = published.iter().map(|f| base.child(&f.path)).collect();
        fsync_local(&paths).await?;
    }
    Ok(published)
}

/// Deletes what is staged for one epoch: a Delta sink's files for an epoch its table already holds.
pub async fn discard_staged(base: &Location, staging_dir: &str) -> Result<usize> {
    delete_prefix(&base.child(staging_dir)).await
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

/// An output location as repair sees it.
#[derive(Debug, Clone)]
pub struct Output {
    pub base: Location,
    /// This state's staging area there (emptied by repair).
    pub staging_root: String,
    /// What records the location's committed epochs.
    pub record: OutputRecord,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutputRecord {
    /// `_manifest/epoch-N.json` per epoch.
    Manifests,
    /// A Delta table's log: the newest epoch it holds for this writer (its txn version).
    Delta(Option<u64>),
}

/// Removes what runs of this state left half-done: the files that pending records of epochs after
/// `last_committed` list, with those epochs' manifests and the records themselves, and the staging
/// area of every output (for a scale-out `lane`, that lane's manifests and staging only). The files
/// of an epoch a Delta table already holds stay: that epoch is committed there, and its rerun will
/// not commit it again. `resolve` opens a recorded sink URL. Returns the objects removed.
///
/// A manifest (or a Delta txn) of an epoch after the last checkpoint that no pending record covers
/// cannot be proven uncommitted: the state was deleted or replaced (or a crash of a version that
/// wrote no pending records). Nothing is deleted then, and the run stops with
/// [`ConnectorError::Conflict`].
pub async fn repair(
    state: &Location,
    outputs: &[Output],
    lane: Option<&str>,
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
    let key = |l: &Location| l.url().trim_end_matches('/').to_string();
    let since = || last_committed.map(|l| format!("after its last checkpoint (epoch {l})")).unwrap_or_else(|| "and has no checkpoints".into());
    for out in outputs {
        let base = &out.base;
        if let OutputRecord::Delta(Some(v)) = out.record {
            if after(v) && !covered.contains(&(key(base), v)) {
                return Err(ConnectorError::Conflict {
                    url: base.url(),
                    message: format!(
                        "the Delta table holds epoch {v} of this sink's writer, but this pipeline's state {} {} and no record of that epoch: the state was deleted or replaced. Restore it, or give the sink another name; nothing was deleted",
                        state.url(),
                        since()
                    ),
                });
            }
            continue;
        }
        // Only this state's manifests: a scale-out lane's, not its neighbours'.
        for m in read_all::<EpochManifest>(&base.child(&crate::sink::manifest_dir(lane))).await? {
            if after(m.epoch) && !covered.contains(&(key(base), m.epoch)) {
                return Err(ConnectorError::Conflict {
                    url: base.url(),
                    message: format!(
                        "epoch {} is committed here (its manifest lists {} files), but this pipeline's state {} {} and no record of that epoch: the state was deleted or replaced. Restore it, or empty this location to start over; nothing was deleted",
                        m.epoch,
                        m.files.len(),
                        state.url(),
                        since()
                    ),
                });
            }
        }
    }
    let mut removed = 0;
    for p in &pendings {
        if after(p.epoch) {
            for s in &p.sinks {
                let delta = outputs.iter().find(|o| key(&o.base) == s.url.trim_end_matches('/')).and_then(|o| match o.record {
                    OutputRecord::Delta(v) => Some(v),
                    OutputRecord::Manifests => None,
                });
                if delta.is_some_and(|v| v.is_some_and(|v| v >= p.epoch)) {
                    continue; // committed in the table
                }
                let base = resolve(&s.url)?;
                for f in &s.files {
                    removed += delete_if_present(&base.child(f)).await?;
                }
                if delta.is_none() {
                    let manifest = manifest_path(&base, lane, p.epoch);
                    removed += delete_if_present(&manifest).await?;
                    removed += remove_local_partial_writes(&manifest).await;
                }
            }
        }
        delete_pending(state, p.epoch).await?;
    }
    for out in outputs {
        let staging = out.base.child(&out.staging_root);
        removed += delete_prefix(&staging).await?;
        if let Some(dir) = staging.local_path() {
            // Local listings skip some names (`part-…#1`); the directory itself is ours to empty.
            let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        }
    }
    Ok(removed)
}

/// On local disk, object_store writes `<name>#<n>` and renames it to `<name>`; a process killed in
/// between leaves the partial `<name>#<n>`, which object_store's own listing hides but any other
/// reader of the directory sees. Only names of the object being repaired are touched.
async fn remove_local_partial_writes(loc: &Location) -> usize {
    let Some(path) = loc.local_path() else { return 0 };
    let (Some(dir), Some(name)) = (path.parent().map(std::path::Path::to_path_buf), path.file_name().map(|n| n.to_string_lossy().into_owned())) else { return 0 };
    tokio::task::spawn_blocking(move || {
        let mut n = 0;
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            let partial = f.strip_prefix(&name).and_then(|r| r.strip_prefix('#')).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            if partial && std::fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        n
    })
    .await
    .unwrap_or(0)
}

/// Deletes one object if it is there; how many it deleted (0 or 1).
pub async fn delete_if_present(loc: &Location) -> Result<usize> {
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
/// rename-if-absent on local disk; elsewhere a check, then a copy (repeatable), a check that the copy
/// is whole, and a delete of the source, each retried through outages (the lease makes this run the
/// only writer, so the check cannot race). Files above `copy_limit` bytes are copied by streaming.
async fn rename(base: &Location, from: &Path, to: &Path, copy_limit: u64) -> object_store::Result<()> {
    if base.local_path().is_some() {
        return base.store.rename_if_not_exists(from, to).await;
    }
    match crate::store::retrying(|| base.store.head(to)).await {
        Ok(_) => return Err(object_store::Error::AlreadyExists { path: to.to_string(), source: "published file exists".into() }),
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    let size = crate::store::retrying(|| base.store.head(from)).await?.size;
    if size > copy_limit {
        // A completed upload is the whole object.
        crate::store::retrying(|| stream_copy(&base.store, from, to, size)).await?;
    } else {
        crate::store::retrying(|| base.store.copy(from, to)).await?;
        await_copy(&base.store, to, size).await?;
    }
    match delete(&base.store, from).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Copies an object through this process with bounded memory; a failed attempt aborts its upload.
async fn stream_copy(store: &Arc<dyn ObjectStore>, from: &Path, to: &Path, size: u64) -> object_store::Result<()> {
    use futures::TryStreamExt;
    let mut body = store.get(from).await?.into_stream();
    let mut out = Upload::for_size(store.clone(), to.clone(), size);
    loop {
        match body.try_next().await {
            Ok(Some(chunk)) => out.put(chunk).await?,
            Ok(None) => return out.finish().await,
            Err(e) => {
                out.abort().await;
                return Err(e);
            }
        }
    }
}

/// Waits until the destination of a copy holds `size` bytes, for at most [`COMMIT_RETRY`]: a store
/// may report a copy done before its destination is whole, and the source must outlive the copy.
async fn await_copy(store: &Arc<dyn ObjectStore>, to: &Path, size: u64) -> object_store::Result<()> {
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        let seen = match crate::store::retrying(|| store.head(to)).await {
            Ok(m) => Some(m.size),
            // Not there yet, or (Azure, 409) a copy still pending.
            Err(object_store::Error::NotFound { .. } | object_store::Error::AlreadyExists { .. }) => None,
            Err(e) => return Err(e),
        };
        if seen == Some(size) {
            return Ok(());
        }
        if started.elapsed() >= COMMIT_RETRY {
            let seen = seen.map(|n| format!("{n} bytes")).unwrap_or_else(|| "no object".into());
            return Err(object_store::Error::Generic {
                store: "publish",
                source: format!("the copy to {to} is not whole after {}s: {seen} of {size}", COMMIT_RETRY.as_secs()).into(),
            });
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(std::time::Duration::from_secs(10));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store::Tracking;
    use std::sync::atomic::Ordering;

    fn location(store: Tracking) -> (Arc<Tracking>, Location) {
        let store = Arc::new(store);
        (store.clone(), Location { store, path: Path::from("out"), base: "memory://".into() })
    }

    /// Stages `body` for epoch 1 and returns the file as a sink hands it over.
    async fn stage(base: &Location, body: &[u8]) -> (Location, StagedFile) {
        let rel = crate::sink::file_name(1, 0, 0, "bin");
        let staging = base.child(&format!("{}/{rel}", crate::sink::staging_dir(1)));
        staging.store.put(&staging.path, body.to_vec().into()).await.unwrap();
        let f = StagedFile { path: rel, staging: Some(staging.path.clone()), rows: 1, bytes: body.len() as u64, sha256: String::new(), delta_stats: None };
        (staging, f)
    }

    async fn bytes(l: &Location) -> Option<Vec<u8>> {
        crate::store::read_bytes(l).await.unwrap().map(|b| b.to_vec())
    }

    #[tokio::test]
    async fn a_copy_that_lands_late_is_waited_for_before_the_source_goes() {
        let (_, base) = location(Tracking { copy_delay: Some(std::time::Duration::from_millis(300)), ..Default::default() });
        let (staging, f) = stage(&base, b"copied by the store, later").await;
        let dest = base.child(&f.path);
        publish_with(&base, "s", None, "r", 1, vec![f], None, u64::MAX).await.unwrap();
        assert_eq!(bytes(&dest).await.as_deref(), Some(&b"copied by the store, later"[..]));
        assert_eq!(bytes(&staging).await, None);
    }

    #[tokio::test]
    async fn files_above_the_copy_limit_are_streamed_and_a_failed_stream_is_aborted() {
        let body: Vec<u8> = (0..crate::upload::PART_SIZE + 4321).map(|i| (i % 251) as u8).collect();
        let (store, base) = location(Tracking::default());
        let (staging, f) = stage(&base, &body).await;
        let dest = base.child(&f.path);
        publish_with(&base, "s", None, "r", 1, vec![f], None, 1000).await.unwrap();
        assert!(bytes(&dest).await == Some(body.clone()), "streamed bytes differ");
        assert_eq!(bytes(&staging).await, None);
        assert_eq!(store.open.load(Ordering::SeqCst), 0);

        let (store, base) = location(Tracking::default());
        let (staging, f) = stage(&base, &body).await;
        let dest = base.child(&f.path);
        store.fail_parts.store(true, Ordering::SeqCst);
        assert!(publish_with(&base, "s", None, "r", 1, vec![f], None, 1000).await.is_err());
        assert_eq!(store.open.load(Ordering::SeqCst), 0, "the failed copy's upload is aborted");
        assert_eq!(bytes(&dest).await, None);
        assert!(bytes(&staging).await == Some(body), "the staged file stays for the next attempt");
    }
}
