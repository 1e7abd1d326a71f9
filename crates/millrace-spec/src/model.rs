use crate::ByteSize;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// The whole pipeline: one source, a list of stages, one or more sinks.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub source: SourceSpec,
    #[serde(default)]
    pub stages: Vec<Spanned<Stage>>,
    pub sinks: Vec<Spanned<SinkSpec>>,
    /// Where rejected rows go (JSONL); default `<first sink>/_rejects/`.
    #[serde(default)]
    pub rejects: Option<Spanned<String>>,
    /// Where run state (epoch checkpoints) lives; default `<first sink>/_millrace/`.
    #[serde(default)]
    pub state: Option<Spanned<String>>,
    #[serde(default)]
    pub storage: StorageSpec,
    #[serde(default)]
    pub engine: EngineSpec,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[serde(alias = "json", alias = "ndjson")]
    Jsonl,
    Parquet,
    Csv,
    #[serde(alias = "txt")]
    Text,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// From the file extension: `.gz`, `.zst`/`.zstd`, else none.
    #[default]
    Auto,
    None,
    #[serde(alias = "gz")]
    Gzip,
    #[serde(alias = "zst")]
    Zstd,
}

/// For `format: text`: is a file one document, or is every line one?
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TextUnit {
    #[default]
    File,
    Line,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A path, URL or glob: `data/*.jsonl.zst`, `s3://bucket/crawl/**/*.jsonl`, `az://container/x/`.
    #[serde(alias = "path", alias = "url", alias = "glob")]
    pub files: Spanned<String>,
    /// Default: from the file extension.
    #[serde(default)]
    pub format: Option<Format>,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default)]
    pub id_field: Option<String>,
    #[serde(default = "default_text_field")]
    pub text_field: String,
    #[serde(default)]
    pub text_unit: TextUnit,
    /// Work per epoch; an epoch is the unit of commit and resume.
    #[serde(default = "default_epoch_bytes")]
    pub epoch_bytes: ByteSize,
    /// Uncompressed JSONL/CSV/text files larger than this are read as several byte ranges in parallel.
    #[serde(default = "default_split_bytes")]
    pub split_bytes: ByteSize,
    /// CSV only.
    #[serde(default)]
    pub csv: CsvSpec,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvSpec {
    pub delimiter: char,
    pub header: bool,
}

impl Default for CsvSpec {
    fn default() -> Self {
        Self { delimiter: ',', header: true }
    }
}

fn default_text_field() -> String {
    "text".into()
}
fn default_epoch_bytes() -> ByteSize {
    ByteSize(1 << 30)
}
fn default_split_bytes() -> ByteSize {
    ByteSize(64 << 20)
}

/// One step of the pipeline. Written as a one-key map: `- sql: SELECT ...`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Stage {
    /// A SQL query over the table `input` (the previous stage's output).
    Sql(String),
}

impl Stage {
    pub fn kind(&self) -> &'static str {
        match self {
            Stage::Sql(_) => "sql",
        }
    }
}

/// A sink: exactly one of the kind keys (`parquet`, `jsonl`) with the destination URL.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    #[serde(default)]
    pub parquet: Option<String>,
    #[serde(default)]
    pub jsonl: Option<String>,
    /// A name for reports and `check --target`; default: the kind.
    #[serde(default)]
    pub name: Option<String>,
    /// parquet: zstd (default), snappy, lz4, gzip, none; jsonl: none (default), zstd, gzip.
    #[serde(default)]
    pub compression: Option<Spanned<String>>,
    #[serde(default)]
    pub target_file_size: Option<ByteSize>,
    #[serde(default)]
    pub partition_by: Vec<String>,
    #[serde(default)]
    pub row_group_rows: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Parquet,
    Jsonl,
}

impl SinkSpec {
    pub fn kinds(&self) -> Vec<(SinkKind, &str)> {
        let mut v = Vec::new();
        if let Some(u) = &self.parquet {
            v.push((SinkKind::Parquet, u.as_str()));
        }
        if let Some(u) = &self.jsonl {
            v.push((SinkKind::Jsonl, u.as_str()));
        }
        v
    }
    /// The sink's kind and URL; `validate` guarantees exactly one.
    pub fn target(&self) -> (SinkKind, &str) {
        self.kinds().first().copied().unwrap_or((SinkKind::Parquet, ""))
    }
    pub fn display_name(&self, index: usize) -> String {
        self.name.clone().unwrap_or_else(|| {
            let (k, _) = self.target();
            format!("{}{}", serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(), if index > 0 { format!("-{index}") } else { String::new() })
        })
    }
}

/// Per-scheme object store options; keys are object_store's (`endpoint`, `region`, `allow_http`,
/// `access_key_id`, `use_emulator`, ...) with their documented aliases (`aws_endpoint`, ...).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StorageSpec {
    #[serde(default, alias = "aws")]
    pub s3: BTreeMap<String, ScalarValue>,
    #[serde(default, alias = "azure_blob", alias = "abfs")]
    pub azure: BTreeMap<String, ScalarValue>,
    #[serde(default, alias = "gcp")]
    pub gcs: BTreeMap<String, ScalarValue>,
}

/// A YAML scalar kept as text, so `allow_http: true` and `allow_http: "true"` both work.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ScalarValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl std::fmt::Display for ScalarValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScalarValue::Bool(b) => write!(f, "{b}"),
            ScalarValue::Int(i) => write!(f, "{i}"),
            ScalarValue::Float(x) => write!(f, "{x}"),
            ScalarValue::Str(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSpec {
    /// Worker threads and DataFusion partitions; default: all cores.
    pub threads: Option<usize>,
    /// Rows per Arrow RecordBatch.
    pub batch_rows: usize,
    /// Bytes of raw input read ahead per partition (backpressure bound).
    pub read_ahead: ByteSize,
}

impl Default for EngineSpec {
    fn default() -> Self {
        Self { threads: None, batch_rows: 4096, read_ahead: ByteSize(16 << 20) }
    }
}
