//! The file source: plans work units (files or byte ranges), infers one schema for the run, and reads
//! units into Arrow RecordBatches of that schema. Malformed records become [`Reject`]s, never errors.

mod csv;
mod jsonl;
pub mod kafka;
mod parquet;
pub mod schema;
mod text;
mod warc;

use crate::listing::InputFile;
use crate::reject::{Reject, RejectSender};
use crate::store::{Location, StoreRegistry, storage};
use crate::{ConnectorError, Result};
use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use millrace_spec::{Compression, Format, SourceSpec, TextUnit};
use object_store::{GetOptions, GetRange};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncBufRead, BufReader};
use tokio::sync::mpsc;

/// A piece of input read by one task: a whole file, or a byte range of an uncompressed line file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkUnit {
    pub file: InputFile,
    /// `[start, end)`; `None` for the whole file.
    #[serde(default)]
    pub range: Option<(u64, u64)>,
}

impl WorkUnit {
    pub fn bytes(&self) -> u64 {
        self.range.map(|(a, b)| b - a).unwrap_or(self.file.size)
    }
    pub fn key(&self) -> String {
        match self.range {
            Some((a, b)) => format!("{}#{}-{}", self.file.url, a, b),
            None => self.file.url.clone(),
        }
    }
}

/// Where a reader sends its batches. Readers send only batches; the error side is the consumer's, so
/// that whoever drives the reader can fail the stream with its own error (a panic, a bad unit).
pub type BatchSender = mpsc::Sender<std::result::Result<RecordBatch, Box<dyn std::error::Error + Send + Sync>>>;

/// Everything a reader needs besides the unit.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    pub format: Format,
    pub compression: Compression,
    pub id_field: String,
    pub text_field: String,
    pub text_unit: TextUnit,
    pub batch_rows: usize,
    /// A batch is emitted once its raw input reaches this many bytes, whatever its row count.
    pub batch_bytes: usize,
    /// Bytes of one row in memory, estimated from the first file while its schema is inferred;
    /// `None` until then or when the format gives no estimate.
    pub row_bytes_hint: Option<u64>,
    pub csv_delimiter: u8,
    pub csv_header: bool,
    /// Larger records are rejected (with their offset) instead of read.
    pub max_record_bytes: u64,
    pub on_error: millrace_spec::OnError,
    /// How JSON records meet the run's columns.
    pub schema: millrace_spec::SchemaSpec,
    /// Set for a Kafka source: units are offset ranges of its partitions.
    pub kafka: Option<kafka::KafkaSource>,
}

/// Counters shared by every reader of a run (progress bars and the run summary read them).
#[derive(Debug, Default)]
pub struct SourceMetrics {
    pub bytes_read: AtomicU64,
    pub rows_read: AtomicU64,
    pub rows_rejected: AtomicU64,
    /// Records a source passes over by design (web archive records that are not documents).
    pub records_skipped: AtomicU64,
    /// Arrow memory of the batches emitted, so later epochs can size batches from what was seen.
    pub arrow_bytes: AtomicU64,
}

impl SourceMetrics {
    /// Mean Arrow bytes per row read so far; `None` before the first batch.
    pub fn row_bytes(&self) -> Option<u64> {
        let rows = self.rows_read.load(Ordering::Relaxed);
        (rows > 0).then(|| self.arrow_bytes.load(Ordering::Relaxed) / rows)
    }
}

/// Target memory of one RecordBatch anywhere in a run: sources cut their batches at this size, and
/// DataFusion's row-counted batch size is derived from it (see [`rows_per_batch`]).
pub const BATCH_BYTES: usize = 8 << 20;

/// Rows per batch so that a batch of rows of `row_bytes` each stays near [`BATCH_BYTES`]: DataFusion
/// and the Parquet reader cut batches by rows, and 4096 rows of 10 KB documents would make memory
/// grow with document length. Never more than `batch_rows`, never fewer than 64 (or `batch_rows`
/// when that is smaller).
pub fn rows_per_batch(batch_rows: usize, row_bytes: Option<u64>) -> usize {
    let configured = batch_rows.max(1);
    let Some(per_row) = row_bytes.filter(|b| *b > 0) else {
        return configured;
    };
    let fit = usize::try_from(BATCH_BYTES as u64 / per_row).unwrap_or(usize::MAX);
    fit.clamp(64.min(configured), configured)
}

/// The format of a file from its name, ignoring a compression suffix.
pub fn format_of(url: &str) -> Option<Format> {
    let base = strip_compression(url).to_ascii_lowercase();
    let ext = base.rsplit('.').next()?;
    Some(match ext {
        "jsonl" | "ndjson" | "json" => Format::Jsonl,
        "parquet" | "pq" => Format::Parquet,
        "csv" | "tsv" => Format::Csv,
        "txt" | "text" | "md" | "rst" | "html" | "htm" => Format::Text,
        "warc" => Format::Warc,
        "wet" => Format::Wet,
        _ => return None,
    })
}

fn strip_compression(url: &str) -> &str {
    for s in [".gz", ".zst", ".zstd"] {
        if let Some(b) = url.strip_suffix(s) {
            return b;
        }
    }
    url
}

pub fn compression_of(url: &str, configured: Compression) -> Compression {
    match configured {
        Compression::Auto => {
            let l = url.to_ascii_lowercase();
            if l.ends_with(".gz") {
                Compression::Gzip
            } else if l.ends_with(".zst") || l.ends_with(".zstd") {
                Compression::Zstd
            } else {
                Compression::None
            }
        }
        other => other,
    }
}

impl ReadOptions {
    pub fn from_spec(spec: &SourceSpec, files: &[InputFile], batch_rows: usize) -> Result<Self> {
        let kafka = spec.kafka.as_ref().map(|k| kafka::KafkaSource::new(&k.value));
        let format = match (spec.format, &spec.kafka) {
            (_, Some(k)) if k.value.format == millrace_spec::KafkaFormat::Text => Format::Text,
            (_, Some(_)) => Format::Jsonl,
            (Some(f), None) => f,
            // Nothing to read (an allowed empty source): any format reads nothing.
            (None, None) if files.is_empty() => Format::Jsonl,
            (None, None) => {
                let first = files.first().map(|f| f.url.as_str()).unwrap_or("");
                format_of(first).ok_or_else(|| ConnectorError::UnknownFormat { url: first.to_string() })?
            }
        };
        Ok(ReadOptions {
            format,
            compression: spec.compression,
            id_field: spec.id_field.clone().unwrap_or_else(|| "id".into()),
            text_field: spec.text_field.clone(),
            text_unit: spec.text_unit,
            batch_rows,
            batch_bytes: BATCH_BYTES,
            row_bytes_hint: None,
            csv_delimiter: u8::try_from(spec.csv.delimiter).unwrap_or(b','),
            csv_header: spec.csv.header,
            max_record_bytes: spec.max_record_bytes.0,
            on_error: spec.on_error,
            schema: spec.schema.clone(),
            kafka,
        })
    }

    /// The files [`infer_schema`] samples for a run's columns: several JSONL files, the first file
    /// of the other formats.
    pub fn schema_sample<'a>(&self, files: &'a [InputFile]) -> Vec<&'a InputFile> {
        sample_files(files, if self.format == Format::Jsonl { self.schema.sample_files } else { 1 })
    }

    fn compression_of(&self, file: &InputFile) -> Compression {
        compression_of(&file.url, self.compression)
    }

    fn splittable(&self, file: &InputFile) -> bool {
        match (self.format, self.compression_of(file)) {
            (Format::Jsonl, Compression::None) => true,
            (Format::Text, Compression::None) => self.text_unit == TextUnit::Line,
            // Web archives split at gzip member boundaries (one member per record, as crawls ship them).
            (Format::Warc | Format::Wet, Compression::Gzip) => true,
            _ => false,
        }
    }
}

/// Splits files into work units: large uncompressed line files become byte ranges.
pub fn plan_units(files: &[InputFile], opts: &ReadOptions, split_bytes: u64) -> Vec<WorkUnit> {
    let mut units = Vec::new();
    for f in files {
        if opts.splittable(f) && split_bytes > 0 && f.size > split_bytes {
            let mut start = 0;
            while start < f.size {
                let end = (start + split_bytes).min(f.size);
                units.push(WorkUnit { file: f.clone(), range: Some((start, end)) });
                start = end;
            }
        } else {
            units.push(WorkUnit { file: f.clone(), range: None });
        }
    }
    units
}

/// What the checkpoints of earlier epochs consumed: per file URL, the version read and the byte
/// ranges done. A unit's identity is its content (URL, size and ETag), not how it was split, so a
/// different `split_bytes` on resume reads exactly the bytes not yet done.
#[derive(Debug, Default)]
pub struct Consumed {
    files: std::collections::HashMap<String, (InputFile, Vec<(u64, u64)>)>,
}

impl Consumed {
    pub fn from_units<'a>(units: impl IntoIterator<Item = &'a WorkUnit>) -> Self {
        let mut c = Consumed::default();
        c.add(units);
        c
    }

    /// Records `units` as consumed (a watching run adds what it planned, so a later listing does
    /// not plan them again).
    pub fn add<'a>(&mut self, units: impl IntoIterator<Item = &'a WorkUnit>) {
        for u in units {
            let e = self.files.entry(u.file.url.clone()).or_insert_with(|| (u.file.clone(), Vec::new()));
            e.1.push(u.range.unwrap_or((0, u.file.size)));
        }
    }
}

/// The units still to read, and what was left out.
#[derive(Debug, Default)]
pub struct RemainingWork {
    pub units: Vec<WorkUnit>,
    /// Units (whole files or ranges) skipped because earlier epochs consumed them.
    pub skipped_files: usize,
    /// Files consumed (wholly or partly) by earlier epochs that have changed since: reported, not
    /// read again (a re-read would duplicate what was committed).
    pub changed: Vec<InputFile>,
}

/// Like [`plan_units`], leaving out what `consumed` records.
pub fn plan_remaining(files: &[InputFile], opts: &ReadOptions, split_bytes: u64, consumed: &Consumed) -> RemainingWork {
    let mut out = RemainingWork::default();
    for f in files {
        let Some((old, ranges)) = consumed.files.get(&f.url) else {
            out.units.extend(plan_units(std::slice::from_ref(f), opts, split_bytes));
            continue;
        };
        let etag_differs = matches!((&old.etag, &f.etag), (Some(a), Some(b)) if a != b);
        if old.size != f.size || etag_differs {
            out.changed.push(f.clone());
            continue;
        }
        let gaps = uncovered(ranges, f.size);
        if gaps.is_empty() {
            out.skipped_files += 1;
            continue;
        }
        for (a, b) in gaps {
            let mut start = a;
            while start < b {
                let end = if split_bytes > 0 { (start + split_bytes).min(b) } else { b };
                out.units.push(WorkUnit { file: f.clone(), range: Some((start, end)) });
                start = end;
            }
        }
    }
    out
}

/// The parts of `[0, size)` that no range covers.
fn uncovered(ranges: &[(u64, u64)], size: u64) -> Vec<(u64, u64)> {
    let mut r = ranges.to_vec();
    r.sort_unstable();
    let mut gaps = Vec::new();
    let mut at = 0;
    for (a, b) in r {
        if a > at {
            gaps.push((at, a.min(size)));
        }
        at = at.max(b);
        if at >= size {
            break;
        }
    }
    if at < size {
        gaps.push((at, size));
    }
    gaps.retain(|(a, b)| a < b);
    gaps
}

/// Groups units into epochs of about `epoch_bytes` each, in order.
pub fn plan_epochs(units: Vec<WorkUnit>, epoch_bytes: u64) -> Vec<Vec<WorkUnit>> {
    let mut epochs = Vec::new();
    let mut cur = Vec::new();
    let mut size = 0;
    for u in units {
        size += u.bytes();
        cur.push(u);
        if size >= epoch_bytes {
            epochs.push(std::mem::take(&mut cur));
            size = 0;
        }
    }
    if !cur.is_empty() {
        epochs.push(cur);
    }
    epochs
}

/// Spreads an epoch's units over `n` partitions, largest first onto the least loaded.
pub fn assign_partitions(units: &[WorkUnit], n: usize) -> Vec<Vec<WorkUnit>> {
    let n = n.max(1);
    let mut parts: Vec<(u64, Vec<WorkUnit>)> = (0..n).map(|_| (0, Vec::new())).collect();
    let mut sorted: Vec<&WorkUnit> = units.iter().collect();
    sorted.sort_by(|a, b| b.bytes().cmp(&a.bytes()).then_with(|| a.key().cmp(&b.key())));
    for u in sorted {
        if let Some(p) = parts.iter_mut().min_by_key(|p| p.0) {
            p.0 += u.bytes();
            p.1.push(u.clone());
        }
    }
    parts.into_iter().map(|p| p.1).filter(|p| !p.is_empty()).collect()
}

/// The files whose first records give a run's columns: the first file with bytes, then others
/// spread evenly over the listing, `n` in all.
pub fn sample_files(files: &[InputFile], n: usize) -> Vec<&InputFile> {
    let with_bytes: Vec<&InputFile> = files.iter().filter(|f| f.size > 0).collect();
    let pool = if with_bytes.is_empty() { files.iter().take(1).collect() } else { with_bytes };
    let n = n.max(1).min(pool.len());
    let mut picked: Vec<&InputFile> = (0..n).map(|i| pool[i * pool.len() / n]).collect();
    picked.dedup_by(|a, b| a.url == b.url);
    picked
}

/// Infers the run's schema: for JSONL from the first records of [`sample_files`] of `files`, for
/// the other formats from the first of them. `id` and the text field are always Utf8; fields whose
/// sampled values were all null become Utf8.
pub async fn infer_schema(registry: &StoreRegistry, files: &[InputFile], opts: &mut ReadOptions) -> Result<SchemaRef> {
    let sampled = opts.schema_sample(files);
    let Some(first) = sampled.first().copied() else {
        return Ok(Arc::new(Schema::new(run_fields(&Schema::empty(), &opts.id_field, &opts.text_field))));
    };
    let loc = registry.resolve(&first.url)?;
    let inferred = match opts.format {
        Format::Jsonl => {
            let (schema, row_bytes) = jsonl::infer(registry, &sampled, opts).await?;
            opts.row_bytes_hint = row_bytes;
            schema
        }
        Format::Parquet => {
            let (schema, row_bytes) = decoder_guard(&first.url, parquet::infer(&loc, first)).await?;
            opts.row_bytes_hint = row_bytes;
            schema
        }
        Format::Csv => csv::infer(&loc, first, opts).await?,
        Format::Text => {
            // A whole file is one row; a line is unknown until read.
            if opts.text_unit == TextUnit::File && opts.compression_of(first) == Compression::None {
                opts.row_bytes_hint = Some(first.size.max(1));
            }
            Schema::new(vec![Field::new("source", DataType::Utf8, true)])
        }
        Format::Warc | Format::Wet => warc::columns(),
    };
    run_schema(&inferred, &first.url, opts)
}

/// The run's columns from the columns of its input (`inferred`, read from `url`).
pub fn run_schema(inferred: &Schema, url: &str, opts: &ReadOptions) -> Result<SchemaRef> {
    let fields = columns(inferred, opts);
    let has_text = inferred.fields().iter().any(|f| f.name() == &opts.text_field) || matches!(opts.format, Format::Text | Format::Warc | Format::Wet);
    if !has_text {
        return Err(ConnectorError::schema(
            url,
            format!(
                "no `{}` field in the sampled records; set `source.text_field` (fields seen: {})",
                opts.text_field,
                inferred.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// In `evolve` mode, `current` with the columns that `files` (an epoch's new input: the first
/// records of JSONL files, the footers of Parquet files, the headers of CSV files) add; `None` when
/// the mode is another, the format has no columns of its own (text), or nothing is new.
pub async fn evolve_schema(registry: &StoreRegistry, files: &[InputFile], opts: &ReadOptions, current: &Schema) -> Result<Option<SchemaRef>> {
    if opts.schema.mode != millrace_spec::SchemaMode::Evolve || opts.format == Format::Text || files.is_empty() {
        return Ok(None);
    }
    let inferred = match opts.format {
        Format::Jsonl => jsonl::infer(registry, &sample_files(files, opts.schema.sample_files), opts).await?.0,
        _ => {
            let mut seen = Schema::empty();
            // A footer or a header is cheap: every new file is looked at.
            for f in files {
                let loc = registry.resolve(&f.url)?;
                // A file that cannot be read adds nothing here; reading it quarantines it.
                let s = match opts.format {
                    Format::Parquet => decoder_guard(&f.url, parquet::infer(&loc, f)).await.map(|(s, _)| s),
                    _ => csv::infer(&loc, f, opts).await,
                };
                match s {
                    Ok(s) => seen = schema::evolve(&seen, &s).unwrap_or(seen),
                    Err(e) if e.is_data_error() => {}
                    Err(e) => return Err(e),
                }
            }
            seen
        }
    };
    Ok(schema::evolve(current, &Schema::new(columns(&inferred, opts))).map(Arc::new))
}

/// The run's columns from an inferred schema: [`run_fields`], then `_extra` in `capture_extra` mode.
pub(crate) fn columns(inferred: &Schema, opts: &ReadOptions) -> Vec<Field> {
    let mut fields = run_fields(inferred, &opts.id_field, &opts.text_field);
    if opts.schema.mode == millrace_spec::SchemaMode::CaptureExtra {
        fields.retain(|f| f.name() != schema::EXTRA_COLUMN);
        fields.push(Field::new(schema::EXTRA_COLUMN, DataType::Utf8, true));
    }
    fields
}

/// The run's columns from an inferred schema: the id and the text first, always strings, then the
/// other columns, nullable, with null and large/view strings read as plain strings.
pub(crate) fn run_fields(inferred: &Schema, id_field: &str, text_field: &str) -> Vec<Field> {
    let mut fields = vec![Field::new(id_field, DataType::Utf8, true), Field::new(text_field, DataType::Utf8, true)];
    for f in inferred.fields() {
        if f.name() == id_field || f.name() == text_field {
            continue;
        }
        let dt = match f.data_type() {
            DataType::Null => DataType::Utf8,
            DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
            other => other.clone(),
        };
        fields.push(Field::new(f.name(), dt, true));
    }
    fields
}

/// The first file's bytes from the start (decompressed), for schema sampling: no batches or rejects
/// leave a sample, so the context's channels go nowhere.
pub(crate) async fn open_sample(loc: &Location, file: &InputFile, opts: &ReadOptions) -> Result<Box<dyn AsyncBufRead + Send + Unpin>> {
    let metrics = Arc::new(SourceMetrics::default());
    let (tx, _rx) = mpsc::channel(1);
    let (rejects, ()) = RejectSender::detached();
    let unit = WorkUnit { file: file.clone(), range: None };
    let schema = Arc::new(Schema::empty());
    let ctx = UnitCtx { unit: &unit, opts, schema: &schema, tx: &tx, rejects: &rejects, metrics: &metrics, loc };
    ctx.open(0).await
}

/// Reads one unit, sending batches of `schema` to `tx` and bad records to `rejects`.
pub async fn read_unit(
    registry: &StoreRegistry,
    unit: &WorkUnit,
    opts: &ReadOptions,
    schema: &SchemaRef,
    tx: &BatchSender,
    rejects: &RejectSender,
    metrics: &Arc<SourceMetrics>,
) -> Result<()> {
    if let Some(k) = &opts.kafka {
        // A Kafka unit has no object store; the context's location is never used for it.
        let loc = registry.resolve("memory:///kafka")?;
        let ctx = UnitCtx { unit, opts, schema, tx, rejects, metrics, loc: &loc };
        return kafka::read(&ctx, k).await;
    }
    let loc = registry.resolve(&unit.file.url)?;
    let ctx = UnitCtx { unit, opts, schema, tx, rejects, metrics, loc: &loc };
    match opts.format {
        Format::Jsonl => jsonl::read(&ctx).await?,
        Format::Parquet => decoder_guard(&unit.file.url, parquet::read(&ctx)).await?,
        Format::Csv => csv::read(&ctx).await?,
        Format::Text => text::read(&ctx).await?,
        Format::Warc | Format::Wet => warc::read(&ctx).await?,
    }
    Ok(())
}

/// A decoder of another crate may panic on a malformed file (arrow-ipc reaches `unimplemented!`
/// for a corrupt Arrow schema embedded in a Parquet footer; found by the `parquet` fuzz target).
/// Such a panic is the file's fault: it becomes a read error of that file, which `on_error`
/// quarantines, instead of ending the process.
async fn decoder_guard<T>(url: &str, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(p) => Err(ConnectorError::read(url, format!("malformed file: the decoder gave up ({})", crate::panic_message(p.as_ref())))),
    }
}

pub(crate) struct UnitCtx<'a> {
    pub unit: &'a WorkUnit,
    pub opts: &'a ReadOptions,
    pub schema: &'a SchemaRef,
    pub tx: &'a BatchSender,
    pub rejects: &'a RejectSender,
    pub metrics: &'a Arc<SourceMetrics>,
    pub loc: &'a Location,
}

impl UnitCtx<'_> {
    pub fn url(&self) -> &str {
        &self.unit.file.url
    }
    /// Sends a batch downstream; false when the consumer has gone (the run is stopping).
    pub async fn emit(&self, batch: RecordBatch) -> bool {
        self.metrics.rows_read.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        self.metrics.arrow_bytes.fetch_add(batch.get_array_memory_size() as u64, Ordering::Relaxed);
        self.tx.send(Ok(batch)).await.is_ok()
    }
    /// Rejects a record given by its raw bytes (capped, hashed and base64-kept as [`Reject::with_raw`] says).
    pub async fn reject(&self, line: Option<u64>, offset: Option<u64>, reason: String, raw: &[u8]) {
        self.reject_full(line, offset, reason, raw, None).await
    }
    /// As [`Self::reject`] for a record of which only `raw` was kept: `full` is its size and SHA-256.
    pub async fn reject_full(&self, line: Option<u64>, offset: Option<u64>, reason: String, raw: &[u8], full: Option<(u64, String)>) {
        let id = match self.opts.format {
            // JSON lines, and the rows of Parquet and CSV files as the rejects hold them (JSON).
            Format::Jsonl | Format::Parquet | Format::Csv => crate::reject::readable_id(raw, &self.opts.id_field),
            _ => None,
        };
        self.reject_as(id, line, offset, reason, raw, full).await
    }
    /// As [`Self::reject_full`] for a record whose id the source read itself.
    pub async fn reject_as(&self, id: Option<String>, line: Option<u64>, offset: Option<u64>, reason: String, raw: &[u8], full: Option<(u64, String)>) {
        self.metrics.rows_rejected.fetch_add(1, Ordering::Relaxed);
        let r = Reject { id, stage: "source".into(), reason, source: Some(self.url().to_string()), line, offset, ..Default::default() };
        self.rejects.send(r.with_raw(raw, full)).await;
    }
    pub fn generated_id(&self, offset: u64) -> String {
        generated_id(self.url(), offset)
    }
    /// The object's bytes as a stream from `start` (decompressed if needed).
    pub async fn open(&self, start: u64) -> Result<Box<dyn AsyncBufRead + Send + Unpin>> {
        let reader = self.open_raw(start).await?;
        Ok(match compression_of(self.url(), self.opts.compression) {
            Compression::Gzip => {
                let mut d = async_compression::tokio::bufread::GzipDecoder::new(reader);
                d.multiple_members(true);
                Box::new(BufReader::with_capacity(1 << 20, d))
            }
            Compression::Zstd => {
                let mut d = async_compression::tokio::bufread::ZstdDecoder::new(reader);
                d.multiple_members(true);
                Box::new(BufReader::with_capacity(1 << 20, d))
            }
            _ => Box::new(reader),
        })
    }

    /// The object's stored bytes (not decompressed) as a stream from `start`.
    pub async fn open_raw(&self, start: u64) -> Result<BufReader<Box<dyn tokio::io::AsyncRead + Send + Unpin>>> {
        let opts = GetOptions { range: (start > 0).then_some(GetRange::Offset(start)), ..Default::default() };
        let got = self.loc.store.get_opts(&self.loc.path, opts).await.map_err(|e| storage("get", self.url(), e))?;
        let url = self.url().to_string();
        let metrics = self.metrics.clone();
        // A local file is read in 1 MiB blocking reads: object_store's stream of it reads 8 KiB per
        // blocking task, and handing thousands of those between threads cost more CPU (most of it
        // in the kernel) than decoding what they read.
        let (range, payload) = (got.range.clone(), got.payload);
        let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match payload {
            object_store::GetResultPayload::File(file, _) => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let mut file = tokio::fs::File::from_std(file);
                file.set_max_buf_size(LOCAL_READ_BYTES);
                file.seek(std::io::SeekFrom::Start(range.start)).await.map_err(|e| ConnectorError::read(&url, e))?;
                Box::new(CountedRead { inner: file.take(range.end - range.start), metrics })
            }
            object_store::GetResultPayload::Stream(stream) => {
                let stream = stream
                    .map_ok(move |b| {
                        metrics.bytes_read.fetch_add(b.len() as u64, Ordering::Relaxed);
                        b
                    })
                    .map_err(move |e| std::io::Error::other(crate::error::StreamBroken(format!("{url}: {e}"))));
                Box::new(tokio_util::io::StreamReader::new(stream))
            }
        };
        Ok(BufReader::with_capacity(LOCAL_READ_BYTES, reader))
    }

    /// Pads a batch decoded with a subset of the schema's columns (or different types) to the
    /// schema; its columns outside the schema go as `source.schema.mode` says.
    pub fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let extra = schema::outside_columns(batch, self.schema, self.opts.schema.mode).map_err(|m| ConnectorError::schema(self.url(), m))?;
        conform(extra.as_ref().unwrap_or(batch), self.schema).map_err(|m| ConnectorError::schema(self.url(), m))
    }
}

/// Bytes per read of a local file (and the read buffer of every object).
const LOCAL_READ_BYTES: usize = 1 << 20;

/// A reader that adds what it reads to the source's `bytes_read`.
struct CountedRead<R> {
    inner: R,
    metrics: Arc<SourceMetrics>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for CountedRead<R> {
    fn poll_read(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &r {
            self.metrics.bytes_read.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        }
        r
    }
}

/// One line read by [`read_line_bounded`].
pub(crate) struct Line {
    /// Bytes taken from the stream, newline included.
    pub consumed: u64,
    /// Set when the line was longer than the bound: its full length and SHA-256 (the buffer holds
    /// only its first [`crate::reject::MAX_PAYLOAD`] bytes).
    pub oversized: Option<(u64, String)>,
}

/// The raw bytes of one record as it is read: kept whole up to `max` bytes; past that only the
/// first [`crate::reject::MAX_PAYLOAD`] bytes are kept and the whole record is hashed, so a huge
/// record is never held in memory.
pub(crate) struct Capture {
    pub buf: Vec<u8>,
    len: u64,
    max: u64,
    hasher: Option<sha2::Sha256>,
}

impl Capture {
    pub fn new(buf: Vec<u8>, max: u64) -> Self {
        Capture { buf, len: 0, max, hasher: None }
    }

    pub fn push(&mut self, part: &[u8]) {
        use sha2::Digest;
        self.len += part.len() as u64;
        if self.hasher.is_none() && self.len > self.max {
            let mut h = sha2::Sha256::new();
            h.update(&self.buf);
            self.buf.truncate(crate::reject::MAX_PAYLOAD);
            self.hasher = Some(h);
        }
        match self.hasher.as_mut() {
            Some(h) => {
                h.update(part);
                let room = crate::reject::MAX_PAYLOAD.saturating_sub(self.buf.len());
                self.buf.extend_from_slice(&part[..part.len().min(room)]);
            }
            None => self.buf.extend_from_slice(part),
        }
    }

    /// Whether the record has passed `max` (its bytes are being hashed, not kept).
    pub fn oversized(&self) -> bool {
        self.hasher.is_some()
    }

    /// Bytes pushed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Ends the record: its kept bytes, and its size and SHA-256 when it was over `max`. The capture
    /// is empty again afterwards.
    pub fn take(&mut self) -> (Vec<u8>, Option<(u64, String)>) {
        use sha2::Digest;
        let oversized = self.hasher.take().map(|h| (self.len, hex::encode(h.finalize())));
        self.len = 0;
        (std::mem::take(&mut self.buf), oversized)
    }
}

/// Reads through the next `\n` into `buf` (cleared first), never holding more than `max` bytes of
/// one line: a longer line is skipped through to its end, hashed on the way, and reported.
pub(crate) async fn read_line_bounded<R: AsyncBufRead + Unpin + ?Sized>(r: &mut R, buf: &mut Vec<u8>, max: u64) -> std::io::Result<Line> {
    use tokio::io::AsyncBufReadExt;
    buf.clear();
    let mut cap = Capture::new(std::mem::take(buf), max);
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            break;
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        cap.push(&chunk[..take]);
        r.consume(take);
        if done {
            break;
        }
    }
    let consumed = cap.len();
    let (kept, oversized) = cap.take();
    *buf = kept;
    Ok(Line { consumed, oversized })
}

/// arrow's push decoders (JSON, CSV) share this shape; [`decode_all`] drives either.
pub(crate) trait PushDecoder {
    fn decode(&mut self, buf: &[u8]) -> std::result::Result<usize, arrow::error::ArrowError>;
    fn flush(&mut self) -> std::result::Result<Option<RecordBatch>, arrow::error::ArrowError>;
}

impl PushDecoder for arrow::json::reader::Decoder {
    fn decode(&mut self, buf: &[u8]) -> std::result::Result<usize, arrow::error::ArrowError> {
        arrow::json::reader::Decoder::decode(self, buf)
    }
    fn flush(&mut self) -> std::result::Result<Option<RecordBatch>, arrow::error::ArrowError> {
        arrow::json::reader::Decoder::flush(self)
    }
}

impl PushDecoder for arrow::csv::reader::Decoder {
    fn decode(&mut self, buf: &[u8]) -> std::result::Result<usize, arrow::error::ArrowError> {
        arrow::csv::reader::Decoder::decode(self, buf)
    }
    fn flush(&mut self) -> std::result::Result<Option<RecordBatch>, arrow::error::ArrowError> {
        arrow::csv::reader::Decoder::flush(self)
    }
}

/// Feeds all of `buf` to `d` and returns one batch of `schema`.
pub(crate) fn decode_all(d: &mut impl PushDecoder, buf: &[u8], schema: &SchemaRef) -> std::result::Result<RecordBatch, String> {
    let mut off = 0;
    let mut out = Vec::new();
    while off < buf.len() {
        let n = d.decode(&buf[off..]).map_err(|e| e.to_string())?;
        if n == 0 {
            match d.flush().map_err(|e| e.to_string())? {
                Some(b) => out.push(b),
                None => break,
            }
        }
        off += n;
    }
    if let Some(b) = d.flush().map_err(|e| e.to_string())? {
        out.push(b);
    }
    arrow::compute::concat_batches(schema, &out).map_err(|e| e.to_string())
}

pub fn generated_id(url: &str, offset: u64) -> String {
    format!("{:016x}-{offset}", xxhash_rust::xxh3::xxh3_64(url.as_bytes()))
}

/// Reorders/casts columns to `schema` by name; missing columns become nulls.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> std::result::Result<RecordBatch, String> {
    let n = batch.num_rows();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let col = match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => c.clone(),
            Some(c) => arrow::compute::cast(c, f.data_type())
                .map_err(|e| format!("column `{}` ({}) cannot be read as {}: {e}", f.name(), c.data_type(), f.data_type()))?,
            None => new_null_array(f.data_type(), n),
        };
        cols.push(col);
    }
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())
}

/// Fills null ids with generated ones.
pub fn fill_ids(batch: RecordBatch, id_idx: usize, ids: impl Fn(usize) -> String) -> Result<RecordBatch> {
    let col = batch.column(id_idx);
    if col.null_count() == 0 {
        return Ok(batch);
    }
    let s = col.as_any().downcast_ref::<StringArray>();
    let filled: StringArray = (0..batch.num_rows())
        .map(|i| match s {
            Some(s) if s.is_valid(i) => Some(s.value(i).to_string()),
            _ => Some(ids(i)),
        })
        .collect();
    let mut cols = batch.columns().to_vec();
    cols[id_idx] = Arc::new(filled);
    RecordBatch::try_new(batch.schema(), cols).map_err(|e| ConnectorError::read("batch", e))
}

/// Runs the real readers over bytes held in memory: the entry point of the fuzz targets
/// (`fuzz/`) and of the corpus test that replays their committed inputs in every test run. Errors
/// are expected answers to bad input; a panic is a bug.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Rows emitted and records rejected, or the error that stopped the unit.
    pub fn read(format: Format, compression: Compression, data: &[u8]) -> std::result::Result<(u64, u64), String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(read_async(format, compression, data))
    }

    async fn read_async(format: Format, compression: Compression, data: &[u8]) -> std::result::Result<(u64, u64), String> {
        use object_store::ObjectStoreExt;
        let ext = match (format, compression) {
            (Format::Jsonl, Compression::Zstd) => "jsonl.zst",
            (Format::Jsonl, Compression::Gzip) => "jsonl.gz",
            (Format::Jsonl, _) => "jsonl",
            (Format::Csv, _) => "csv",
            (Format::Parquet, _) => "parquet",
            (Format::Text, _) => "txt",
            (Format::Warc, Compression::Gzip) => "warc.gz",
            (Format::Warc, _) => "warc",
            (Format::Wet, _) => "wet",
        };
        let registry = StoreRegistry::default();
        let loc = registry.resolve(&format!("memory:///input.{ext}")).map_err(|e| e.to_string())?;
        loc.store.put(&loc.path, data.to_vec().into()).await.map_err(|e| e.to_string())?;
        let file = InputFile { url: loc.url(), size: data.len() as u64, etag: None, partition: None };
        let mut opts = ReadOptions {
            format,
            compression,
            id_field: "id".into(),
            text_field: "text".into(),
            text_unit: TextUnit::Line,
            batch_rows: 64,
            batch_bytes: 1 << 16,
            row_bytes_hint: None,
            csv_delimiter: b',',
            csv_header: true,
            max_record_bytes: 1 << 16,
            on_error: millrace_spec::OnError::Reject,
            schema: millrace_spec::SchemaSpec::default(),
            kafka: None,
        };
        let schema = infer_schema(&registry, std::slice::from_ref(&file), &mut opts).await.map_err(|e| e.to_string())?;
        // Two byte ranges where the format allows, so the range logic is exercised too.
        let units = plan_units(std::slice::from_ref(&file), &opts, (data.len() as u64 / 2).max(1));
        let metrics = Arc::new(SourceMetrics::default());
        for u in &units {
            let (tx, mut rx): (BatchSender, _) = mpsc::channel(4);
            let (rejects, mut rrx) = RejectSender::new(16);
            let read = async {
                let r = read_unit(&registry, u, &opts, &schema, &tx, &rejects, &metrics).await;
                drop(tx);
                drop(rejects);
                r
            };
            let drain = async { while rx.recv().await.is_some() {} };
            let drain_rejects = async { while rrx.recv().await.is_some() {} };
            let (r, (), ()) = tokio::join!(read, drain, drain_rejects);
            r.map_err(|e| e.to_string())?;
        }
        Ok((metrics.rows_read.load(Ordering::Relaxed), metrics.rows_rejected.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_shrink_with_row_size() {
        // 10 KB rows: ~840 make 8 MiB.
        assert_eq!(rows_per_batch(4096, Some(10_000)), 838);
        // Short rows: the configured row count wins.
        assert_eq!(rows_per_batch(4096, Some(100)), 4096);
        // Huge rows: never below 64, or below a smaller configured count.
        assert_eq!(rows_per_batch(4096, Some(1 << 30)), 64);
        assert_eq!(rows_per_batch(16, Some(1 << 30)), 16);
        // No estimate: the configured count.
        assert_eq!(rows_per_batch(4096, None), 4096);
        assert_eq!(rows_per_batch(4096, Some(0)), 4096);
    }

    #[tokio::test]
    async fn long_lines_are_bounded_and_hashed() {
        use sha2::Digest;
        let long = vec![b'a'; 300_000];
        let mut input = b"short\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\nlast");
        let mut r = tokio::io::BufReader::with_capacity(4096, &input[..]);
        let mut buf = Vec::new();
        let l = read_line_bounded(&mut r, &mut buf, 1000).await.unwrap();
        assert_eq!((l.consumed, buf.as_slice(), l.oversized.is_none()), (6, &b"short\n"[..], true));
        let l = read_line_bounded(&mut r, &mut buf, 1000).await.unwrap();
        assert_eq!(l.consumed, 300_001);
        assert_eq!(buf.len(), crate::reject::MAX_PAYLOAD);
        let mut whole = long.clone();
        whole.push(b'\n');
        assert_eq!(l.oversized, Some((300_001, hex::encode(sha2::Sha256::digest(&whole)))));
        let l = read_line_bounded(&mut r, &mut buf, 1000).await.unwrap();
        assert_eq!((l.consumed, buf.as_slice()), (4, &b"last"[..]));
        assert_eq!(read_line_bounded(&mut r, &mut buf, 1000).await.unwrap().consumed, 0);
    }

    /// Every committed fuzz input (fuzz/corpus/) through the real readers and record parsers: the
    /// fuzz targets' findings stay fixed in every test run, without the fuzzing toolchain.
    #[test]
    fn fuzz_corpus_replays_without_panics() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        let files = |d: &str| -> Vec<Vec<u8>> {
            let mut v: Vec<_> = std::fs::read_dir(root.join(d)).unwrap().map(|e| e.unwrap().path()).collect();
            v.sort();
            v.iter().map(|p| std::fs::read(p).unwrap()).collect()
        };
        let mut read = 0;
        for (dir, format) in [("jsonl", Format::Jsonl), ("csv", Format::Csv), ("parquet", Format::Parquet)] {
            for data in files(dir) {
                if let Ok((rows, _)) = fuzzing::read(format, Compression::None, &data) {
                    read += rows;
                }
            }
        }
        assert!(read > 20, "the corpus's good inputs are read ({read} rows)");
        for data in files("state_records") {
            let ok = serde_json::from_slice::<crate::commit::EpochManifest>(&data).is_ok()
                || serde_json::from_slice::<crate::commit::Checkpoint>(&data).is_ok()
                || serde_json::from_slice::<crate::commit::PendingCommit>(&data).is_ok()
                || serde_json::from_slice::<crate::ownership::OwnerRecord>(&data).is_ok();
            assert!(ok, "{}", String::from_utf8_lossy(&data));
        }
    }

    #[test]
    fn coverage_gaps() {
        assert_eq!(uncovered(&[(0, 10)], 10), vec![]);
        assert_eq!(uncovered(&[(0, 4), (6, 10)], 10), vec![(4, 6)]);
        assert_eq!(uncovered(&[(6, 10), (0, 3)], 12), vec![(3, 6), (10, 12)]);
        assert_eq!(uncovered(&[], 5), vec![(0, 5)]);
        assert_eq!(uncovered(&[(0, 5), (2, 8)], 8), vec![]);
    }

    #[test]
    fn row_bytes_is_the_running_mean() {
        let m = SourceMetrics::default();
        assert_eq!(m.row_bytes(), None);
        m.rows_read.store(4, Ordering::Relaxed);
        m.arrow_bytes.store(4000, Ordering::Relaxed);
        assert_eq!(m.row_bytes(), Some(1000));
    }
}
