//! The `run.json` data model.
//!
//! Everything here is plain data with `Default`, so the engine can create an empty
//! [`RunReport`] when a run starts and fill fields in as stages, sinks and checks
//! report. Every struct is `#[serde(default)]` so that a `run.json` written by an
//! older Millrace (missing newer fields) still loads.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ReportError;

/// Everything Millrace records about one pipeline run; serialised as `run.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunReport {
    /// Unique id of this run (also the OpenLineage `runId`).
    pub run_id: Uuid,
    /// Pipeline name from the spec.
    pub pipeline: String,
    /// Path of the spec file the run was started from.
    pub spec_path: String,
    /// sha256 (hex) of the raw spec text.
    pub spec_sha256: String,
    /// When the run started (RFC 3339 in JSON).
    pub started_at: Option<DateTime<Utc>>,
    /// When the run finished (RFC 3339 in JSON); `None` while running.
    pub finished_at: Option<DateTime<Utc>>,
    /// Final state of the run.
    pub status: RunStatus,
    /// Error message when `status` is `failed`.
    pub error: Option<String>,
    /// Run-wide counters.
    pub totals: Totals,
    /// Datasets the run read.
    pub sources: Vec<SourceReport>,
    /// Per-stage counters, in pipeline order.
    pub stages: Vec<StageReport>,
    /// Per-sink outputs.
    pub sinks: Vec<SinkReport>,
    /// Committed epochs (checkpoints), in commit order.
    pub epochs: Vec<EpochReport>,
    /// Peak resident set size of the process, bytes.
    pub peak_rss_bytes: u64,
    /// User + system CPU time of the run, seconds.
    pub cpu_seconds: f64,
    /// Distribution histograms of the written documents.
    pub histograms: Histograms,
    /// Documents per detected language code (e.g. `"en" -> 812345`).
    pub language_mix: BTreeMap<String, u64>,
    /// Cumulative progress samples over time, ascending `t_ms`.
    pub throughput: Vec<ThroughputSample>,
    /// Data-quality check outcomes.
    pub checks: Vec<CheckResult>,
}

/// Lifecycle state of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Not finished yet (the state of a fresh report and of START/RUNNING lineage events).
    #[default]
    Running,
    /// Finished and every sink committed.
    Succeeded,
    /// Aborted with an error (see [`RunReport::error`]).
    Failed,
}

impl RunStatus {
    /// Lower-case label used in HTML and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }
}

/// Run-wide row and byte counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Rows read from all sources.
    pub rows_read: u64,
    /// Rows written to sinks (counted once, not per sink).
    pub rows_written: u64,
    /// Rows dropped by filters (quality, dedupe, ...).
    pub rows_filtered: u64,
    /// Rows rejected as malformed (parse errors, schema violations).
    pub rows_rejected: u64,
    /// Bytes read from sources (compressed, as stored).
    pub bytes_read: u64,
    /// Bytes written to sinks (as stored).
    pub bytes_written: u64,
}

/// One column of a dataset schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchemaField {
    /// Column name.
    pub name: String,
    /// Type as the engine names it (e.g. `Utf8`, `Int64`).
    #[serde(rename = "type")]
    pub data_type: String,
    /// Optional human description.
    pub description: Option<String>,
}

/// Per-column data-quality metrics, where the engine knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ColumnMetrics {
    /// Number of null values.
    pub null_count: Option<u64>,
    /// Number of distinct values (exact or estimated).
    pub distinct_count: Option<u64>,
}

/// A dataset the run read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceReport {
    /// Source name from the spec.
    pub name: String,
    /// Connector kind (e.g. `jsonl`, `parquet`).
    pub kind: String,
    /// Location (`s3://bucket/prefix`, `/data/in`, ...).
    pub url: String,
    /// Rows read from this source.
    pub rows: u64,
    /// Bytes read from this source.
    pub bytes: u64,
    /// Number of files read.
    pub files: u64,
    /// Columns of the source as read.
    pub schema: Vec<SchemaField>,
    /// Column metrics keyed by column name.
    pub column_metrics: BTreeMap<String, ColumnMetrics>,
}

/// Counters of one pipeline stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageReport {
    /// Stage name from the spec.
    pub name: String,
    /// Stage kind (e.g. `quality_filter`, `minhash_dedupe`).
    pub kind: String,
    /// Rows entering the stage.
    pub rows_in: u64,
    /// Rows leaving the stage.
    pub rows_out: u64,
    /// Rows the stage rejected or dropped.
    pub rows_rejected: u64,
    /// Dropped rows keyed by reason.
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// CPU time spent in the stage, if measured.
    pub cpu_ms: Option<u64>,
    /// Wall time spent in the stage.
    pub wall_ms: u64,
}

/// One file a sink wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SinkFile {
    /// Path or object key of the file.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// sha256 (hex) of the file contents.
    pub sha256: String,
}

/// How an output column derives from input columns (for OpenLineage `columnLineage`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ColumnLineage {
    /// Output column name.
    pub output_field: String,
    /// Input columns it is computed from.
    pub inputs: Vec<InputFieldRef>,
    /// Human description of the transformation (e.g. `NFC normalise, strip boilerplate`).
    pub transformation: String,
    /// `DIRECT` (value derives from the input) or `INDIRECT` (input only filters/sorts).
    pub transformation_type: String,
}

/// Reference to a column of a source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InputFieldRef {
    /// Name of the source (matches [`SourceReport::name`]).
    pub source: String,
    /// Column name in that source.
    pub field: String,
}

/// Outputs of one sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SinkReport {
    /// Sink name from the spec.
    pub name: String,
    /// Connector kind (e.g. `parquet`, `jsonl`, `delta`).
    pub kind: String,
    /// Location written to.
    pub url: String,
    /// Files written.
    pub files: Vec<SinkFile>,
    /// Table version for table formats (Delta/Iceberg), if any.
    pub version: Option<u64>,
    /// Last committed epoch for this sink, if epochs are used.
    pub epoch: Option<u64>,
    /// Columns written.
    pub schema: Vec<SchemaField>,
    /// Column metrics keyed by column name.
    pub column_metrics: BTreeMap<String, ColumnMetrics>,
    /// Column-level lineage of the written columns.
    pub column_lineage: Vec<ColumnLineage>,
}

impl SinkReport {
    /// Rows across all files of this sink.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Bytes across all files of this sink.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// One committed epoch (checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EpochReport {
    /// Epoch number, starting at 0.
    pub epoch: u64,
    /// Rows committed in this epoch.
    pub rows: u64,
    /// Bytes committed in this epoch.
    pub bytes: u64,
    /// Wall time of the epoch.
    pub wall_ms: u64,
    /// Commit time (RFC 3339 in JSON).
    pub committed_at: Option<DateTime<Utc>>,
}

/// A bucketed distribution: `counts[i]` values fell in `[edges[i], edges[i+1])`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Histogram {
    /// Bucket edges, ascending; one more than `counts`.
    pub edges: Vec<f64>,
    /// Count per bucket.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Checks the shape invariants the renderers rely on.
    pub fn validate(&self) -> Result<(), ReportError> {
        if self.counts.is_empty() && self.edges.is_empty() {
            return Ok(());
        }
        if self.edges.len() != self.counts.len() + 1 {
            return Err(ReportError::InvalidHistogram(format!(
                "{} edges for {} buckets (need buckets + 1)",
                self.edges.len(),
                self.counts.len()
            )));
        }
        if self.edges.iter().any(|e| !e.is_finite()) {
            return Err(ReportError::InvalidHistogram("non-finite edge".into()));
        }
        if self.edges.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ReportError::InvalidHistogram(
                "edges must be strictly ascending".into(),
            ));
        }
        Ok(())
    }

    /// Total number of observations.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Approximate `q`-quantile (0..=1), interpolating linearly inside the bucket.
    /// `None` when the histogram is empty or malformed.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.validate().is_err() || self.is_empty() || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let total = self.total() as f64;
        let target = q * total;
        let mut seen = 0.0;
        for (i, &c) in self.counts.iter().enumerate() {
            let c = c as f64;
            if c > 0.0 && seen + c >= target {
                let frac = ((target - seen) / c).clamp(0.0, 1.0);
                let (lo, hi) = (self.edges[i], self.edges[i + 1]);
                return Some(lo + frac * (hi - lo));
            }
            seen += c;
        }
        self.edges.last().copied()
    }

    /// True when there is nothing to plot.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }
}

/// Histograms of the written documents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Histograms {
    /// Document length in Unicode scalar values.
    pub doc_length_chars: Histogram,
    /// Tokens per document (when a tokeniser stage ran).
    pub tokens_per_doc: Histogram,
}

/// Cumulative progress at `t_ms` milliseconds after the run started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThroughputSample {
    /// Milliseconds since run start.
    pub t_ms: u64,
    /// Rows read so far.
    pub rows: u64,
    /// Bytes read so far.
    pub bytes: u64,
}

/// Configured severity of a check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A failure fails the run.
    #[default]
    Error,
    /// A failure is reported but the run continues.
    Warn,
}

impl Severity {
    /// Lower-case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
        }
    }
}

/// Outcome of a check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Threshold met.
    #[default]
    Pass,
    /// Threshold missed on a `warn` check.
    Warn,
    /// Threshold missed on an `error` check.
    Fail,
    /// The check itself could not be evaluated.
    Error,
}

impl CheckStatus {
    /// Lower-case label.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
            CheckStatus::Error => "error",
        }
    }
}

/// Result of one data-quality check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckResult {
    /// Check name from the spec.
    pub name: String,
    /// Check kind (e.g. `row_count`, `not_null`, `unique`, `expression`).
    pub kind: String,
    /// Configured severity.
    pub severity: Severity,
    /// Outcome.
    pub status: CheckStatus,
    /// Column the check applies to, if any.
    pub column: Option<String>,
    /// Observed value (any JSON).
    pub observed: serde_json::Value,
    /// Threshold the value was compared with (any JSON).
    pub threshold: serde_json::Value,
    /// Human-readable explanation.
    pub message: String,
    /// Number of rows violating the check, where known.
    pub failing_rows: Option<u64>,
}

impl RunReport {
    /// Wall duration in milliseconds, when both timestamps are known and ordered.
    pub fn duration_ms(&self) -> Option<u64> {
        let (s, f) = (self.started_at?, self.finished_at?);
        u64::try_from((f - s).num_milliseconds()).ok()
    }

    /// Serialises as pretty `run.json`.
    pub fn to_json_pretty(&self) -> Result<String, ReportError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Parses `run.json`.
    pub fn from_json(text: &str) -> Result<Self, ReportError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Writes pretty `run.json` to `path`.
    pub fn write_json(&self, path: &std::path::Path) -> Result<(), ReportError> {
        let text = self.to_json_pretty()?;
        std::fs::write(path, text).map_err(|source| ReportError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}
