//! Sink files: Parquet and JSONL writers that stage files under `_staging/epoch-N/` with deterministic
//! names, roll at a target size, split hive-style by `partition_by`, and hash what they write so the
//! epoch manifest can list checksums. Publishing is in [`crate::commit`].

mod jsonl;
mod megatron;
mod parquet;
mod topic;

pub use jsonl::{JsonlFile, LineCompression};
pub use megatron::{MegatronFile, TOKEN_IDS};
pub use topic::TopicWriter;
pub(crate) use parquet::ParquetFile;

use crate::store::Location;
use crate::{ConnectorError, Result};
use arrow::array::{Array, RecordBatch, UInt32Array};
use arrow::datatypes::SchemaRef;
use millrace_spec::{SinkKind, SinkSpec};
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A sink as the engine uses it: resolved location and writer settings.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub name: String,
    pub kind: SinkKind,
    pub base: Location,
    pub compression: String,
    pub target_file_size: u64,
    pub partition_by: Vec<String>,
    pub row_group_rows: usize,
    pub row_group_bytes: usize,
    /// Most files one partition writer keeps open at once (hive partitions).
    pub max_open_files: usize,
    /// megatron: tokens per shard, and the token id width (from the tokenizer's vocabulary).
    pub target_tokens: u64,
    pub megatron_dtype: millrace_tokenise::MegatronDtype,
    /// A scale-out lane writes beside other lanes: its staging area, file names and manifests
    /// carry the lane, so lanes never touch each other's files.
    pub lane: Option<String>,
    /// A `kafka:` sink's topic: its published files are produced there.
    pub topic: Option<millrace_spec::TopicSpec>,
    /// A `delta:` sink's commit settings (the layout sets them: the appId names the pipeline).
    pub delta: Option<Arc<crate::delta::DeltaSettings>>,
}

impl SinkConfig {
    pub fn from_spec(spec: &SinkSpec, index: usize, base: Location) -> Self {
        let (kind, _) = spec.target();
        let default_comp = match kind {
            SinkKind::Parquet | SinkKind::Delta => "zstd",
            SinkKind::Jsonl | SinkKind::Megatron | SinkKind::Kafka => "none",
        };
        SinkConfig {
            name: spec.display_name(index),
            kind,
            base,
            compression: spec.compression.as_ref().map(|c| c.value.clone()).unwrap_or_else(|| default_comp.into()),
            target_file_size: spec.target_file_size.map(|b| b.0).unwrap_or(256 << 20),
            partition_by: spec.partition_by.clone(),
            row_group_rows: spec.row_group_rows.unwrap_or(64 * 1024),
            row_group_bytes: spec.row_group_bytes.map(|b| usize::try_from(b.0).unwrap_or(usize::MAX)).unwrap_or(ROW_GROUP_BYTES),
            max_open_files: spec.max_open_files.unwrap_or(MAX_OPEN_FILES),
            target_tokens: spec.target_tokens.unwrap_or(100_000_000),
            megatron_dtype: millrace_tokenise::MegatronDtype::for_vocab_size(u16::MAX as usize + 1),
            lane: None,
            topic: spec.kafka.clone(),
            delta: None,
        }
    }

    /// The namespace of this writer's staging and file names: a Delta table is shared by writers,
    /// every other location is owned by one state.
    fn writer(&self) -> Option<&str> {
        self.delta.as_deref().map(|d| d.writer.as_str())
    }

    /// The staging namespace below `_staging`: the Delta writer and the lane, as they apply.
    fn staging_scope(&self) -> Option<String> {
        match (self.writer(), self.lane.as_deref()) {
            (None, None) => None,
            (Some(w), None) => Some(w.to_string()),
            (None, Some(l)) => Some(l.to_string()),
            (Some(w), Some(l)) => Some(format!("{w}/{l}")),
        }
    }

    /// Where staged files wait (repair empties it).
    pub fn staging_root(&self) -> String {
        staging_root(self.staging_scope().as_deref())
    }

    /// Where `epoch`'s files are staged.
    pub fn staging_dir(&self, epoch: u64) -> String {
        lane_staging_dir(self.staging_scope().as_deref(), epoch)
    }

    /// The name of a published file: it depends only on (writer, lane, epoch, partition,
    /// sequence), so a re-run epoch writes the same names.
    pub fn file_name(&self, epoch: u64, partition: usize, seq: usize) -> String {
        let scope: Vec<&str> = self.writer().into_iter().chain(self.lane.as_deref()).collect();
        match scope.is_empty() {
            true => file_name(epoch, partition, seq, self.extension()),
            false => format!("part-{}-{epoch:06}-{partition:03}-{seq:04}.{}", scope.join("-"), self.extension()),
        }
    }

    pub fn extension(&self) -> &'static str {
        match (self.kind, self.compression.as_str()) {
            (SinkKind::Parquet | SinkKind::Delta, _) => "parquet",
            (SinkKind::Jsonl, "zstd") => "jsonl.zst",
            (SinkKind::Jsonl, "gzip") => "jsonl.gz",
            (SinkKind::Jsonl, _) | (SinkKind::Kafka, _) => "jsonl",
            (SinkKind::Megatron, _) => "bin",
        }
    }
}

/// A file written to staging, waiting for its epoch to commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StagedFile {
    /// Path relative to the sink root where it is published.
    pub path: String,
    #[serde(skip)]
    pub staging: Option<Path>,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    /// A `delta:` sink's file statistics for its add action (JSON), from the footer written.
    #[serde(skip)]
    pub delta_stats: Option<String>,
}

/// Default encoded size at which a Parquet row group is closed: the open row group is buffered by
/// its writer, so this (times partitions and sinks) is what Parquet output holds in memory; 16 MiB of
/// zstd-compressed text is still a row group of several thousand documents for readers.
pub const ROW_GROUP_BYTES: usize = 16 << 20;

/// Default of `max_open_files`: with 16 MiB row groups, at most 512 MiB of Parquet buffers per
/// writer even when a batch holds thousands of partition values.
pub const MAX_OPEN_FILES: usize = 32;

/// Where staged files wait: `_staging`, or `_staging/<lane>` for a scale-out lane.
pub fn staging_root(lane: Option<&str>) -> String {
    match lane {
        None => "_staging".into(),
        Some(l) => format!("_staging/{l}"),
    }
}

/// Where `epoch`'s files are staged.
pub fn lane_staging_dir(lane: Option<&str>, epoch: u64) -> String {
    format!("{}/epoch-{epoch:06}", staging_root(lane))
}

/// Where a run's (or a lane's) epoch manifests are: `_manifest`, or `_manifest/<lane>`.
pub fn manifest_dir(lane: Option<&str>) -> String {
    match lane {
        None => "_manifest".into(),
        Some(l) => format!("_manifest/{l}"),
    }
}

pub fn staging_dir(epoch: u64) -> String {
    lane_staging_dir(None, epoch)
}

pub fn file_name(epoch: u64, partition: usize, seq: usize, ext: &str) -> String {
    format!("part-{epoch:06}-{partition:03}-{seq:04}.{ext}")
}

/// Writes one output partition of one epoch to one sink.
pub struct PartitionWriter {
    cfg: Arc<SinkConfig>,
    epoch: u64,
    partition: usize,
    seq: usize,
    /// Open files by partition directory, with the tick of their last write.
    open: BTreeMap<String, (OpenFile, u64)>,
    tick: u64,
    done: Vec<StagedFile>,
    /// Schema of written rows (partition columns removed).
    data_schema: Option<SchemaRef>,
}

enum OpenFile {
    Parquet(parquet::ParquetFile),
    Jsonl(JsonlFile),
    Megatron(MegatronFile),
}

impl OpenFile {
    /// How full the file is against its roll target (bytes, or tokens for megatron shards).
    fn full(&self, cfg: &SinkConfig) -> bool {
        match self {
            OpenFile::Parquet(f) => f.bytes() >= cfg.target_file_size,
            OpenFile::Jsonl(f) => f.bytes >= cfg.target_file_size,
            OpenFile::Megatron(f) => f.tokens() >= cfg.target_tokens,
        }
    }
}

impl PartitionWriter {
    pub fn new(cfg: Arc<SinkConfig>, epoch: u64, partition: usize) -> Self {
        Self { cfg, epoch, partition, seq: 0, open: BTreeMap::new(), tick: 0, done: Vec::new(), data_schema: None }
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.cfg.kind == SinkKind::Delta {
            let schema = crate::delta::compatible_schema(&batch.schema());
            if schema != batch.schema() {
                let cols = batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| self.err(e))?;
                let batch = RecordBatch::try_new(schema, cols).map_err(|e| self.err(e))?;
                return self.write_split(&batch).await;
            }
        }
        self.write_split(batch).await
    }

    async fn write_split(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.cfg.partition_by.is_empty() {
            return self.write_to("", batch.clone()).await;
        }
        for (dir, part) in split_by_keys(batch, &self.cfg.partition_by).map_err(|m| self.err(m))? {
            self.write_to(&dir, part).await?;
        }
        Ok(())
    }

    fn err(&self, m: impl Into<crate::BoxError>) -> ConnectorError {
        ConnectorError::write(&self.cfg.base.url(), m)
    }

    async fn write_to(&mut self, dir: &str, batch: RecordBatch) -> Result<()> {
        if !self.open.contains_key(dir) {
            // Many distinct partition values must not mean as many open files (each Parquet file
            // buffers a row group): the least recently written one is closed to make room.
            if self.open.len() >= self.cfg.max_open_files.max(1) {
                let lru = self.open.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| k.clone());
                if let Some((f, _)) = lru.and_then(|k| self.open.remove(&k)) {
                    let staged = close(f).await?;
                    self.done.extend(staged);
                }
            }
            let f = self.new_file(dir, batch.schema()).await?;
            self.open.insert(dir.to_string(), (f, 0));
        }
        self.tick += 1;
        let tick = self.tick;
        let Some((f, t)) = self.open.get_mut(dir) else { return Ok(()) };
        *t = tick;
        match f {
            OpenFile::Parquet(p) => p.write(&batch).await?,
            OpenFile::Jsonl(j) => {
                // JSON text is about as long as the batch's buffers: sized once, not doubled up to it.
                let mut w = arrow::json::LineDelimitedWriter::new(Vec::with_capacity(batch.get_array_memory_size() + (1 << 16)));
                w.write(&batch).map_err(|e| ConnectorError::write(&j.url, e))?;
                w.finish().map_err(|e| ConnectorError::write(&j.url, e))?;
                j.write_lines(w.into_inner(), batch.num_rows() as u64).await?;
            }
            OpenFile::Megatron(m) => m.write(&batch)?,
        }
        if f.full(&self.cfg) {
            if let Some((f, _)) = self.open.remove(dir) {
                let staged = close(f).await?;
                self.done.extend(staged);
            }
        }
        Ok(())
    }

    async fn new_file(&mut self, dir: &str, schema: SchemaRef) -> Result<OpenFile> {
        let name = self.cfg.file_name(self.epoch, self.partition, self.seq);
        self.seq += 1;
        let rel = if dir.is_empty() { name } else { format!("{dir}/{name}") };
        let staging = self.cfg.base.child(&format!("{}/{}", self.cfg.staging_dir(self.epoch), rel));
        self.data_schema.get_or_insert(schema.clone());
        Ok(match self.cfg.kind {
            SinkKind::Parquet | SinkKind::Delta => OpenFile::Parquet(parquet::ParquetFile::create(&self.cfg, staging, rel, schema)?),
            // A Kafka sink stages its rows as JSON lines, produced once they are published.
            SinkKind::Jsonl | SinkKind::Kafka => {
                let comp = LineCompression::parse(&self.cfg.compression);
                OpenFile::Jsonl(JsonlFile::create(staging, rel, comp)?)
            }
            SinkKind::Megatron => OpenFile::Megatron(MegatronFile::create(staging, rel, self.cfg.megatron_dtype)?),
        })
    }

    /// Closes open files; returns everything this partition staged.
    pub async fn finish(mut self) -> Result<Vec<StagedFile>> {
        let open = std::mem::take(&mut self.open);
        for (_, (f, _)) in open {
            let staged = close(f).await?;
            self.done.extend(staged);
        }
        Ok(self.done)
    }
}

async fn close(f: OpenFile) -> Result<Vec<StagedFile>> {
    Ok(match f {
        OpenFile::Parquet(p) => vec![p.close().await?],
        OpenFile::Jsonl(j) => vec![j.close().await?],
        OpenFile::Megatron(m) => m.close().await?,
    })
}

/// Groups rows by the values of `keys`; returns (`k1=v1/k2=v2`, rows without the key columns).
fn split_by_keys(batch: &RecordBatch, keys: &[String]) -> std::result::Result<Vec<(String, RecordBatch)>, String> {
    let schema = batch.schema();
    let mut key_cols = Vec::new();
    for k in keys {
        let idx = schema.index_of(k).map_err(|_| format!("partition column `{k}` is not in the output"))?;
        let c = arrow::compute::cast(batch.column(idx), &arrow::datatypes::DataType::Utf8).map_err(|e| e.to_string())?;
        key_cols.push((k.clone(), idx, c));
    }
    let mut groups: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let strings: Vec<Option<&arrow::array::StringArray>> =
        key_cols.iter().map(|(_, _, c)| c.as_any().downcast_ref::<arrow::array::StringArray>()).collect();
    for row in 0..batch.num_rows() {
        let dir = crate::hive::encode_dir(key_cols.iter().zip(&strings).map(|((name, _, _), s)| {
            let v = s.filter(|s| s.is_valid(row)).map(|s| s.value(row));
            (name.as_str(), v)
        }));
        groups.entry(dir).or_default().push(row as u32);
    }
    let drop: Vec<usize> = key_cols.iter().map(|k| k.1).collect();
    let keep: Vec<usize> = (0..schema.fields().len()).filter(|i| !drop.contains(i)).collect();
    let projected = batch.project(&keep).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (dir, rows) in groups {
        let idx = UInt32Array::from(rows);
        let cols = projected
            .columns()
            .iter()
            .map(|c| arrow::compute::take(c.as_ref(), &idx, None))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        out.push((dir, RecordBatch::try_new(projected.schema(), cols).map_err(|e| e.to_string())?));
    }
    Ok(out)
}
