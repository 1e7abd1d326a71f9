//! Delta Lake tables: the `delta:` sink's commit and the snapshot that checks read.
//!
//! A `delta:` sink stages Parquet files like a `parquet:` sink and publishes them under the table
//! root; the epoch is then one Delta commit: the files' add actions (statistics from the footers
//! the writer produced), an application transaction `txn(appId, version = epoch)` and commitInfo
//! naming the run. Readers see only what the log lists, so the table has no `_manifest`.
//!
//! Exactly-once, as kafka-delta-ingest does it: the table's txn version for the sink's appId says
//! which epochs the table already holds. A rerun of an epoch the table holds discards its staged
//! files instead of committing again; an epoch whose commit did not happen is repaired like any
//! other (its published files, which the pending record lists, are deleted). The table root is
//! shared (two pipelines, or the lanes of a scale-out worker, append to one table), so nothing in it
//! is claimed: staging and file names carry the writer (a hash of the appId), and the log decides.
//!
//! Commits are `PutMode::Create` of the next log entry (delta-rs' default log store over the object
//! store Millrace built): atomic on local disk, S3 (conditional put) and Azure.

use crate::sink::StagedFile;
use crate::store::Location;
use crate::{ConnectorError, Result};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake_core::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, MetadataExt, StructType, Transaction};
use deltalake_core::logstore::{LogStore, LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError};
use millrace_spec::{DeltaMode, DeltaSchemaMode, SinkSpec};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// How a `delta:` sink commits, from the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaSettings {
    /// `millrace:<pipeline>:<sink>`; a lane appends `:<lane>`.
    pub app_id: String,
    /// A short hash of the appId: the namespace of this writer's staging area and file names in a
    /// table other writers share.
    pub writer: String,
    pub mode: DeltaMode,
    pub merge_schema: bool,
    /// A Delta checkpoint every this many versions.
    pub checkpoint_interval: u64,
    /// Set when this run creates the table.
    pub properties: BTreeMap<String, String>,
}

/// Default of `checkpoint_interval` (Spark's default).
pub const CHECKPOINT_INTERVAL: u64 = 10;

/// Commit attempts when concurrent writers keep moving the table (delta-rs retries plain appends
/// itself; a schema change by another writer needs a fresh look at the table).
const COMMIT_ATTEMPTS: usize = 8;

impl DeltaSettings {
    pub fn from_spec(pipeline: &str, sink_name: &str, spec: &SinkSpec) -> Self {
        let app_id = format!("millrace:{pipeline}:{sink_name}");
        let writer = hex::encode(&xxhash_rust::xxh3::xxh3_64(app_id.as_bytes()).to_be_bytes()[..5]);
        DeltaSettings {
            app_id,
            writer,
            mode: spec.mode.as_ref().map(|m| m.value).unwrap_or_default(),
            merge_schema: spec.schema_mode.as_ref().is_some_and(|m| m.value == DeltaSchemaMode::Merge),
            checkpoint_interval: spec.checkpoint_interval.unwrap_or(CHECKPOINT_INTERVAL).max(1),
            properties: spec.properties.clone(),
        }
    }

    /// The appId of the table's txn entries for this writer (a scale-out lane has its own).
    pub fn app_id(&self, lane: Option<&str>) -> String {
        match lane {
            None => self.app_id.clone(),
            Some(l) => format!("{}:{l}", self.app_id),
        }
    }
}

/// Arrow types a Delta table has no equivalent for, written as the nearest type that holds every
/// value (Delta has no unsigned integers: the kernel would map UInt32 to a 32-bit INTEGER).
pub fn compatible_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::UInt8 => Some(DataType::Int16),
        DataType::UInt16 => Some(DataType::Int32),
        DataType::UInt32 | DataType::UInt64 => Some(DataType::Int64),
        _ => None,
    }
}

/// The schema files of a Delta sink are written with (see [`compatible_type`]).
pub fn compatible_schema(schema: &SchemaRef) -> SchemaRef {
    if !schema.fields().iter().any(|f| compatible_type(f.data_type()).is_some()) {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match compatible_type(f.data_type()) {
            Some(t) => f.as_ref().clone().with_data_type(t),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// One Delta table, opened over a store Millrace built; the log is read when asked.
pub struct Table {
    location: Location,
    table: DeltaTable,
    loaded: bool,
}

/// What an epoch's commit did to the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Committed {
    /// The epoch's commit made this version.
    Version(i64),
    /// The table already held the epoch (a rerun after a crash between the Delta commit and the
    /// checkpoint); nothing was committed. The table's version when this was found.
    Already(i64),
}

impl Committed {
    pub fn version(self) -> i64 {
        match self {
            Committed::Version(v) | Committed::Already(v) => v,
        }
    }
}

impl Table {
    pub fn open(location: &Location) -> Result<Self> {
        let log_store = log_store(location)?;
        Ok(Table { location: location.clone(), table: DeltaTable::new(log_store), loaded: false })
    }

    fn err(&self, e: DeltaTableError) -> ConnectorError {
        ConnectorError::Delta { url: crate::redact::url(&self.location.url()), source: Box::new(e) }
    }

    /// Reads the log up to its newest version; `None` while there is no table.
    async fn refresh(&mut self) -> Result<Option<i64>> {
        let r = self.newest().await;
        r.map_err(|e| self.err(e))
    }

    async fn newest(&mut self) -> std::result::Result<Option<i64>, DeltaTableError> {
        // The kernel reports a missing local directory as a bad location, not as "no table".
        if !self.loaded && !self.table.log_store().is_delta_table_location().await? {
            return Ok(None);
        }
        let r = if self.loaded { self.table.update_state().await } else { self.table.load().await };
        match r {
            Ok(()) => {
                self.loaded = true;
                Ok(self.table.version().map(|v| v as i64))
            }
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The txn version of `app_id` in the state read last (`None` before a table was read).
    async fn held(&self, app_id: &str) -> std::result::Result<Option<i64>, DeltaTableError> {
        if !self.loaded {
            return Ok(None);
        }
        self.table.snapshot()?.transaction_version(self.table.log_store().as_ref(), app_id).await
    }

    /// The newest epoch the table holds for `app_id` (its txn version).
    pub async fn txn_version(&mut self, app_id: &str) -> Result<Option<u64>> {
        let r = match self.newest().await {
            Ok(_) => self.held(app_id).await,
            Err(e) => Err(e),
        };
        r.map(|v| v.and_then(|v| u64::try_from(v).ok())).map_err(|e| self.err(e))
    }

    /// Before an epoch publishes, with one read of the log: `Some(version)` when the table already
    /// holds the epoch for this writer (its commit landed, the checkpoint did not); otherwise
    /// `None`, once the output is found to fit the table: an output with other partition columns,
    /// a column of another type, or a new column without `schema_mode: merge` is refused before
    /// anything is published.
    pub async fn prepare(&mut self, settings: &DeltaSettings, lane: Option<&str>, epoch: u64, schema: &SchemaRef, partition_by: &[String]) -> Result<Option<i64>> {
        let r = self.prepared(settings, lane, epoch, schema, partition_by).await;
        r.map_err(|e| self.err(e))
    }

    async fn prepared(&mut self, settings: &DeltaSettings, lane: Option<&str>, epoch: u64, schema: &SchemaRef, partition_by: &[String]) -> std::result::Result<Option<i64>, DeltaTableError> {
        let Some(version) = self.newest().await? else { return Ok(None) };
        if self.held(&settings.app_id(lane)).await?.is_some_and(|t| t >= epoch as i64) {
            return Ok(Some(version));
        }
        schema_change(self.table.snapshot()?, schema, partition_by, settings.merge_schema)?;
        Ok(None)
    }

    /// Commits one epoch's published `files` (paths relative to the table root) with the output
    /// `schema` (partition columns included). Idempotent per (appId, epoch).
    pub async fn commit_epoch(&mut self, c: &EpochCommit<'_>) -> Result<Committed> {
        let mut wait = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_commit(c).await {
                Ok(done) => {
                    if let Committed::Version(v) = done {
                        self.checkpoint_if_due(v, c.settings.checkpoint_interval).await;
                    }
                    return Ok(done);
                }
                Err(e) if attempt < COMMIT_ATTEMPTS && is_conflict(&e) => {
                    tracing::info!(table = %self.location.url(), attempt, error = %e, "Delta commit conflicted with another writer; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    async fn try_commit(&mut self, c: &EpochCommit<'_>) -> std::result::Result<Committed, DeltaTableError> {
        let app_id = c.settings.app_id(c.lane);
        // An earlier attempt whose answer was lost, or a run that crashed after this commit.
        let current = self.newest().await?;
        if let Some(v) = current {
            if self.held(&app_id).await?.is_some_and(|t| t >= c.epoch as i64) {
                return Ok(Committed::Already(v));
            }
        }
        let adds = c.files.iter().map(|f| add_action(f, c.partition_by)).collect::<std::result::Result<Vec<_>, _>>()?;
        let txn = Transaction::new(&app_id, c.epoch as i64);
        let props = CommitProperties::default()
            .with_application_transaction(txn)
            .with_metadata([
                ("millrace.run_id".to_string(), json!(c.run_id)),
                ("millrace.epoch".to_string(), json!(c.epoch)),
                ("millrace.version".to_string(), json!(env!("CARGO_PKG_VERSION"))),
            ])
            // Checkpoints follow `checkpoint_interval`; old log entries stay for time travel.
            .with_create_checkpoint(false)
            .with_cleanup_expired_logs(Some(false));
        let Some(_) = current else {
            let schema: StructType = compatible_schema(c.schema).as_ref().try_into_kernel()?;
            let created = deltalake_core::operations::create::CreateBuilder::new()
                .with_log_store(self.table.log_store())
                .with_columns(schema.fields().cloned())
                .with_partition_columns(c.partition_by.to_vec())
                .with_configuration(c.settings.properties.iter().map(|(k, v)| (k.clone(), Some(v.clone()))))
                .with_save_mode(SaveMode::ErrorIfExists)
                .with_actions(adds.into_iter().map(Action::Add))
                .with_commit_properties(props)
                .await;
            return match created {
                Ok(t) => {
                    let v = t.version().unwrap_or(0) as i64;
                    self.table = t;
                    self.loaded = true;
                    Ok(Committed::Version(v))
                }
                // Another writer created it first: append to theirs.
                // (delta-rs reports a table found while creating as a generic error.)
                Err(e) if is_conflict(&e) || e.to_string().contains("table already exists") => {
                    Err(DeltaTableError::VersionAlreadyExists(0))
                }
                Err(e) => Err(e),
            };
        };
        let state = self.table.snapshot()?;
        let mut actions = Vec::with_capacity(adds.len() + 1);
        if let Some(merged) = schema_change(state, c.schema, c.partition_by, c.settings.merge_schema)? {
            actions.push(Action::Metadata(state.metadata().clone().with_schema(&merged)?));
        }
        let overwrite = c.overwrite;
        if overwrite {
            actions.extend(state.snapshot().log_data().iter().map(|f| Action::Remove(f.remove_action(true))));
        }
        actions.extend(adds.into_iter().map(Action::Add));
        let operation = DeltaOperation::Write {
            mode: if overwrite { SaveMode::Overwrite } else { SaveMode::Append },
            partition_by: (!c.partition_by.is_empty()).then(|| c.partition_by.to_vec()),
            predicate: None,
        };
        let done = CommitBuilder::from(props).with_actions(actions).build(Some(state), self.table.log_store(), operation).await?;
        Ok(Committed::Version(done.version() as i64))
    }

    async fn checkpoint_if_due(&mut self, version: i64, interval: u64) {
        if version <= 0 || version as u64 % interval != 0 {
            return;
        }
        // A checkpoint only speeds up readers: failing one leaves the table correct.
        // At `version` itself, not the newest: another writer may have committed since, and the
        // checkpoint's name is the promise readers look for.
        let r = async {
            self.table.load_version(version as _).await?;
            deltalake_core::checkpoints::create_checkpoint(&self.table, None).await
        }
        .await;
        if let Err(e) = r {
            tracing::warn!(table = %self.location.url(), version, error = %e, "could not write a Delta checkpoint; readers replay the log instead");
        }
    }

    /// The table's current snapshot: its version, files (paths relative to the table root, rows
    /// from their statistics) and schema.
    pub async fn snapshot(&mut self) -> Result<Option<Snapshot>> {
        self.snapshot_at(None, None).await
    }

    /// The snapshot of `version`, or of the newest version committed at or before `timestamp`, or
    /// the current one; `None` while there is no table.
    pub async fn snapshot_at(&mut self, version: Option<u64>, timestamp: Option<chrono::DateTime<chrono::Utc>>) -> Result<Option<Snapshot>> {
        let Some(newest) = self.refresh().await? else { return Ok(None) };
        let r = match (version, timestamp) {
            (Some(v), _) => self.table.load_version(v).await,
            (None, Some(t)) => self.table.load_with_datetime(t).await,
            (None, None) => Ok(()),
        };
        r.map_err(|e| self.err(e))?;
        // An older version is loaded: the next refresh reads the log from the start again.
        self.loaded &= version.is_none() && timestamp.is_none();
        let version = self.table.version().map(|v| v as i64).unwrap_or(newest);
        let state = self.table.snapshot().map_err(|e| self.err(e))?;
        let schema: Schema = state.schema().as_ref().try_into_arrow().map_err(|e| self.err(e.into()))?;
        let partition_by = state.metadata().partition_columns().to_vec();
        let files = state
            .snapshot()
            .log_data()
            .iter()
            .map(|f| SnapshotFile {
                path: f.object_store_path().to_string(),
                rows: f.num_records().map(|n| n as u64),
                bytes: f.size().max(0) as u64,
                partition: f.partition_values_map().into_iter().collect(),
            })
            .collect();
        Ok(Some(Snapshot { version, files, schema, partition_by }))
    }
}

/// One data file of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotFile {
    /// Object path relative to the table root.
    pub path: String,
    /// From the file's statistics, when the writer recorded them.
    pub rows: Option<u64>,
    pub bytes: u64,
    pub partition: BTreeMap<String, Option<String>>,
}

/// What `optimize` did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Optimized {
    /// The version of the compaction commit; `None` when nothing needed compacting.
    pub version: Option<i64>,
    pub files_removed: usize,
    pub files_added: usize,
    pub bytes_removed: u64,
    pub bytes_added: u64,
}

/// What `vacuum` removed (or would remove, in a dry run).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Vacuumed {
    pub dry_run: bool,
    pub files: Vec<String>,
}

impl Table {
    /// Compacts small files: per partition, files smaller than the sink's `target_file_size` are
    /// rewritten into files of about that size, in one commit that removes them and adds the new
    /// files (`dataChange: false`: readers of later versions see the same rows). Rows stream
    /// through with bounded memory. The new files have fresh names; if the commit fails (another
    /// writer removed a file first) they are deleted.
    pub async fn optimize(&mut self, cfg: &crate::sink::SinkConfig) -> Result<Optimized> {
        let Some(snapshot) = self.snapshot().await? else { return Ok(Optimized::default()) };
        let data_schema: SchemaRef = Arc::new(Schema::new(
            snapshot.schema.fields().iter().filter(|f| !snapshot.partition_by.contains(f.name())).cloned().collect::<Vec<_>>(),
        ));
        let mut groups: BTreeMap<Vec<(String, Option<String>)>, Vec<&SnapshotFile>> = BTreeMap::new();
        for f in snapshot.files.iter().filter(|f| f.bytes < cfg.target_file_size) {
            let key = snapshot.partition_by.iter().map(|p| (p.clone(), f.partition.get(p).cloned().flatten())).collect();
            groups.entry(key).or_default().push(f);
        }
        let mut bins: Vec<(Vec<(String, Option<String>)>, Vec<&SnapshotFile>)> = Vec::new();
        for (key, files) in groups {
            let mut bin: Vec<&SnapshotFile> = Vec::new();
            let mut size = 0;
            for f in files {
                bin.push(f);
                size += f.bytes;
                if size >= cfg.target_file_size {
                    bins.push((key.clone(), std::mem::take(&mut bin)));
                    size = 0;
                }
            }
            bins.push((key, bin));
        }
        bins.retain(|(_, b)| b.len() > 1);
        if bins.is_empty() {
            return Ok(Optimized::default());
        }
        let mut added: Vec<StagedFile> = Vec::new();
        let mut out = Optimized::default();
        let result = async {
            for (key, bin) in &bins {
                let dir = crate::hive::encode_dir(key.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
                let name = format!("part-optimized-{}.parquet", uuid::Uuid::new_v4());
                let rel = if dir.is_empty() { name } else { format!("{dir}/{name}") };
                let mut w = crate::sink::ParquetFile::create(cfg, self.location.child(&rel), rel.clone(), data_schema.clone())?;
                for f in bin {
                    self.copy_rows(f, &data_schema, &mut w).await?;
                }
                let mut staged = w.close().await?;
                staged.staging = None;
                out.files_removed += bin.len();
                out.bytes_removed += bin.iter().map(|f| f.bytes).sum::<u64>();
                out.bytes_added += staged.bytes;
                added.push(staged);
            }
            let state = self.table.snapshot().map_err(|e| self.err(e))?;
            let removed: std::collections::HashSet<&str> = bins.iter().flat_map(|(_, b)| b.iter().map(|f| f.path.as_str())).collect();
            let mut actions: Vec<Action> = state
                .snapshot()
                .log_data()
                .iter()
                .filter(|f| removed.contains(f.object_store_path().as_ref()))
                .map(|f| Action::Remove(f.remove_action(false)))
                .collect();
            for f in &added {
                let mut add = add_action(f, &snapshot.partition_by).map_err(|e| self.err(e))?;
                add.data_change = false;
                actions.push(Action::Add(add));
            }
            let operation = DeltaOperation::Optimize { predicate: None, target_size: cfg.target_file_size as i64 };
            let props = CommitProperties::default().with_create_checkpoint(false).with_cleanup_expired_logs(Some(false));
            let done = CommitBuilder::from(props).with_actions(actions).build(Some(state), self.table.log_store(), operation).await.map_err(|e| self.err(e))?;
            Ok::<i64, ConnectorError>(done.version() as i64)
        }
        .await;
        match result {
            Ok(v) => {
                out.version = Some(v);
                out.files_added = added.len();
                self.checkpoint_if_due(v, cfg.delta.as_ref().map(|d| d.checkpoint_interval).unwrap_or(CHECKPOINT_INTERVAL)).await;
                Ok(out)
            }
            Err(e) => {
                // Ours alone (fresh names, never logged): nothing else can refer to them.
                for f in &added {
                    let loc = self.location.child(&f.path);
                    let _ = object_store::ObjectStoreExt::delete(&loc.store, &loc.path).await;
                }
                Err(e)
            }
        }
    }

    /// Streams one data file's rows, conformed to the table's data columns, into `w`.
    async fn copy_rows(&self, f: &SnapshotFile, schema: &SchemaRef, w: &mut crate::sink::ParquetFile) -> Result<()> {
        use futures::StreamExt;
        let loc = self.location.child(&f.path);
        #[allow(deprecated)]
        let reader = parquet::arrow::async_reader::ParquetObjectReader::new(loc.store.clone(), loc.path.clone()).with_file_size(f.bytes);
        let mut stream = parquet::arrow::ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .and_then(|b| b.build())
            .map_err(|e| ConnectorError::read(&loc.url(), e))?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| ConnectorError::read(&loc.url(), e))?;
            // Files written before a schema merge lack the newer columns: they read as NULL.
            let batch = crate::source::conform(&batch, schema).map_err(|e| ConnectorError::schema(&loc.url(), e))?;
            w.write(&batch).await?;
        }
        Ok(())
    }

    /// Deletes data files the log no longer lists (removed by overwrite or optimize; with `full`,
    /// also files never logged, such as those of a crashed commit) that are older than `retention`
    /// (default: the table's `delta.deletedFileRetentionDuration`, 7 days). A retention shorter
    /// than the table's is refused unless `force`: readers of older versions still need the files.
    pub async fn vacuum(&mut self, retention: Option<Duration>, dry_run: bool, full: bool, force: bool) -> Result<Vacuumed> {
        if self.refresh().await?.is_none() {
            return Ok(Vacuumed { dry_run, files: Vec::new() });
        }
        let mut b = self
            .table
            .clone()
            .vacuum()
            .with_dry_run(dry_run)
            .with_enforce_retention_duration(!force)
            .with_mode(if full { deltalake_core::operations::vacuum::VacuumMode::Full } else { deltalake_core::operations::vacuum::VacuumMode::Lite });
        if let Some(r) = retention {
            b = b.with_retention_period(chrono::Duration::from_std(r).unwrap_or(chrono::Duration::MAX));
        }
        let (table, metrics) = b.await.map_err(|e| self.err(e))?;
        self.table = table;
        Ok(Vacuumed { dry_run, files: metrics.files_deleted })
    }
}

/// A table as of one version.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub version: i64,
    pub files: Vec<SnapshotFile>,
    /// All columns, partition columns included.
    pub schema: Schema,
    pub partition_by: Vec<String>,
}

/// One epoch's commit to a table.
pub struct EpochCommit<'a> {
    pub settings: &'a DeltaSettings,
    pub lane: Option<&'a str>,
    pub epoch: u64,
    pub run_id: &'a str,
    pub partition_by: &'a [String],
    pub files: &'a [StagedFile],
    pub schema: &'a SchemaRef,
    /// Replace the table's files (`mode: overwrite`, on the state's first epoch).
    pub overwrite: bool,
}

/// The table schema after an epoch with `output` (partition columns included): `None` when it is
/// unchanged; an error when the output does not fit (see [`merge_schema`]) or is partitioned
/// otherwise.
fn schema_change(
    state: &deltalake_core::table::state::DeltaTableState,
    output: &SchemaRef,
    partition_by: &[String],
    merge: bool,
) -> std::result::Result<Option<StructType>, DeltaTableError> {
    let table = state.metadata().partition_columns();
    if table != partition_by {
        return Err(DeltaTableError::Generic(format!("the table is partitioned by {table:?}, the sink by {partition_by:?}; set `partition_by` to the table's")));
    }
    let output: StructType = compatible_schema(output).as_ref().try_into_kernel()?;
    merge_schema(&state.schema(), &output, merge)
}

fn is_conflict(e: &DeltaTableError) -> bool {
    use deltalake_core::kernel::transaction::TransactionError;
    matches!(e, DeltaTableError::VersionAlreadyExists(_) | DeltaTableError::Transaction { source: TransactionError::CommitConflict(_) | TransactionError::VersionAlreadyExists(_) | TransactionError::MaxCommitAttempts(_) })
}

fn log_store(location: &Location) -> Result<LogStoreRef> {
    let raw = location.url();
    let url = url::Url::parse(&format!("{}/", raw.trim_end_matches('/')))
        .map_err(|e| ConnectorError::InvalidUrl { url: crate::redact::url(&raw), message: e.to_string() })?;
    let prefixed: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::prefix::PrefixStore::new(location.store.clone(), location.path.clone()));
    Ok(default_logstore(prefixed, location.store.clone(), &url, &StorageConfig::default()))
}

/// The table schema after this epoch: `None` when it is unchanged. New columns of the output are
/// added (nullable) with `merge`, else they are an error; a column whose type differs is an error.
fn merge_schema(table: &StructType, output: &StructType, merge: bool) -> std::result::Result<Option<StructType>, DeltaTableError> {
    let mut added = Vec::new();
    for f in output.fields() {
        match table.field(f.name()) {
            Some(t) if t.data_type() != f.data_type() => {
                return Err(DeltaTableError::Generic(format!(
                    "column `{}` is {} in the table and {} in this run's output; nothing was written to the table",
                    f.name(),
                    t.data_type(),
                    f.data_type()
                )));
            }
            Some(_) => {}
            None => added.push(deltalake_core::kernel::StructField::new(f.name().clone(), f.data_type().clone(), true)),
        }
    }
    if added.is_empty() {
        return Ok(None);
    }
    if !merge {
        let names: Vec<&str> = added.iter().map(|f| f.name().as_str()).collect();
        return Err(DeltaTableError::Generic(format!(
            "this run's output has columns the table lacks ({}); set `schema_mode: merge` on the sink to add them",
            names.join(", ")
        )));
    }
    Ok(Some(StructType::try_new(table.fields().cloned().chain(added))?))
}

fn add_action(f: &StagedFile, partition_by: &[String]) -> std::result::Result<Add, DeltaTableError> {
    let mut partition_values = HashMap::new();
    let dirs: Vec<&str> = f.path.split('/').collect();
    for seg in &dirs[..dirs.len().saturating_sub(1)] {
        if let Some((k, v)) = seg.split_once('=') {
            if partition_by.iter().any(|p| p == k) {
                partition_values.insert(k.to_string(), crate::hive::decode_value(v));
            }
        }
    }
    if partition_values.len() != partition_by.len() {
        return Err(DeltaTableError::Generic(format!("{} does not name every partition column {partition_by:?}", f.path)));
    }
    Ok(Add {
        // The object path: delta-rs writes it to the log URI-encoded (a `%` of a hive-encoded
        // value becomes `%25` there, as Spark writes it) and readers decode it once.
        path: f.path.clone(),
        partition_values,
        size: f.bytes as i64,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change: true,
        stats: f.delta_stats.clone(),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    })
}

/// Delta file statistics (`numRecords`, and per top-level column `minValues`, `maxValues`,
/// `nullCount`) from the footer the writer produced. A column gets min/max only when every row
/// group has exact ones of a type Delta compares the same way (numbers, strings); a missing
/// statistic only means readers cannot skip the file.
pub fn file_stats(meta: &ParquetMetaData, schema: &Schema) -> String {
    let descr = meta.file_metadata().schema_descr();
    let mut mins = Map::new();
    let mut maxs = Map::new();
    let mut nulls = Map::new();
    for field in schema.fields() {
        let Some(col) = (0..descr.num_columns()).find(|&i| {
            let c = descr.column(i);
            let p = c.path().parts();
            p.len() == 1 && p[0] == *field.name()
        }) else {
            continue;
        };
        let mut null_count = Some(0u64);
        let mut min: Option<Value> = None;
        let mut max: Option<Value> = None;
        let mut bounded = comparable(field.data_type());
        for rg in meta.row_groups() {
            let Some(st) = rg.column(col).statistics() else {
                null_count = None;
                bounded = false;
                break;
            };
            null_count = null_count.zip(st.null_count_opt()).map(|(a, b)| a + b);
            if !bounded {
                continue;
            }
            if rg.num_rows() as u64 == st.null_count_opt().unwrap_or(0) {
                continue; // all NULL: no bound from this group
            }
            match bounds(st) {
                Some((lo, hi)) => {
                    min = Some(match min.take() {
                        Some(m) if less(&m, &lo) => m,
                        _ => lo,
                    });
                    max = Some(match max.take() {
                        Some(m) if less(&hi, &m) => m,
                        _ => hi,
                    });
                }
                None => bounded = false,
            }
        }
        if let Some(n) = null_count {
            nulls.insert(field.name().clone(), json!(n));
        }
        if bounded {
            if let (Some(lo), Some(hi)) = (min, max) {
                mins.insert(field.name().clone(), lo);
                maxs.insert(field.name().clone(), hi);
            }
        }
    }
    json!({
        "numRecords": meta.file_metadata().num_rows(),
        "minValues": mins,
        "maxValues": maxs,
        "nullCount": nulls,
    })
    .to_string()
}

fn comparable(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64 | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn bounds(st: &Statistics) -> Option<(Value, Value)> {
    if !st.min_is_exact() || !st.max_is_exact() {
        return None;
    }
    let finite = |v: f64| v.is_finite().then_some(json!(v));
    match st {
        Statistics::Int32(s) => Some((json!(*s.min_opt()?), json!(*s.max_opt()?))),
        Statistics::Int64(s) => Some((json!(*s.min_opt()?), json!(*s.max_opt()?))),
        Statistics::Float(s) => Some((finite(*s.min_opt()? as f64)?, finite(*s.max_opt()? as f64)?)),
        Statistics::Double(s) => Some((finite(*s.min_opt()?)?, finite(*s.max_opt()?)?)),
        Statistics::ByteArray(s) => {
            let text = |b: &parquet::data_type::ByteArray| std::str::from_utf8(b.data()).ok().map(|s| json!(s));
            Some((text(s.min_opt()?)?, text(s.max_opt()?)?))
        }
        _ => None,
    }
}

fn less(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x < y,
            _ => x.as_f64().unwrap_or(f64::NAN) < y.as_f64().unwrap_or(f64::NAN),
        },
        (Value::String(x), Value::String(y)) => x < y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_actions_carry_the_object_path_and_decoded_partition_values() {
        let f = StagedFile {
            path: "lang=%3Cb%3E/tag=a b/part-x.parquet".into(),
            staging: None,
            rows: 1,
            bytes: 10,
            sha256: String::new(),
            delta_stats: None,
        };
        let add = add_action(&f, &["lang".into(), "tag".into()]).unwrap();
        assert_eq!(add.path, "lang=%3Cb%3E/tag=a b/part-x.parquet");
        assert_eq!(add.partition_values.get("lang"), Some(&Some("<b>".to_string())));
        assert_eq!(add.partition_values.get("tag"), Some(&Some("a b".to_string())));
        assert!(add_action(&f, &["lang".into(), "missing".into()]).is_err());
    }

    #[test]
    fn a_new_column_needs_merge_and_a_type_change_is_refused() {
        let table: StructType = (&Schema::new(vec![Field::new("id", DataType::Utf8, true)])).try_into_kernel().unwrap();
        let more: StructType = (&Schema::new(vec![Field::new("id", DataType::Utf8, true), Field::new("n", DataType::Int64, false)])).try_into_kernel().unwrap();
        let retyped: StructType = (&Schema::new(vec![Field::new("id", DataType::Int64, true)])).try_into_kernel().unwrap();
        assert!(merge_schema(&table, &table, false).unwrap().is_none());
        assert!(merge_schema(&table, &more, false).unwrap_err().to_string().contains("schema_mode: merge"));
        let merged = merge_schema(&table, &more, true).unwrap().unwrap();
        assert!(merged.field("n").unwrap().is_nullable());
        assert!(merge_schema(&table, &retyped, true).unwrap_err().to_string().contains("column `id`"));
    }
}
