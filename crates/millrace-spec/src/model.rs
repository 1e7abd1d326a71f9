use crate::ByteSize;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// The whole pipeline: one source, a list of stages, one or more sinks.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub source: SourceSpec,
    #[serde(default)]
    #[schemars(with = "Vec<Stage>")]
    pub stages: Vec<Spanned<Stage>>,
    #[schemars(with = "Vec<SinkSpec>")]
    pub sinks: Vec<Spanned<SinkSpec>>,
    /// Where rejected rows go (JSONL); default `<first sink>/_rejects/`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub rejects: Option<Spanned<String>>,
    /// Where run state (epoch checkpoints) lives; default `<first sink>/_millrace/`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub state: Option<Spanned<String>>,
    #[serde(default)]
    pub storage: StorageSpec,
    #[serde(default)]
    pub engine: EngineSpec,
    /// Data-quality checks run on what the run wrote (and by `pipeline check`).
    #[serde(default)]
    #[schemars(with = "Vec<crate::checks::CheckSpec>")]
    pub checks: Vec<Spanned<crate::checks::CheckSpec>>,
    /// Where `run.json` and `report.html` go.
    #[serde(default)]
    pub report: ReportSpec,
    /// OpenLineage events; off unless given.
    #[serde(default)]
    pub lineage: Option<millrace_report::lineage::LineageConfig>,
    /// Prometheus `/metrics`, `/healthz` and `/readyz` while the run lasts; off unless given.
    #[serde(default)]
    #[schemars(with = "Option<MetricsSpec>")]
    pub metrics: Option<Spanned<MetricsSpec>>,
    /// A dead-letter topic: every rejected record is also produced to it, once its epoch's
    /// rejects are published (the `rejects` location stays the record the run reconciles against).
    #[serde(default)]
    #[schemars(with = "Option<TopicSpec>")]
    pub dead_letter: Option<Spanned<TopicSpec>>,
}

/// A Kafka topic that a run produces to: a `kafka:` sink (the written rows as JSON) or the
/// `dead_letter` topic (the rejects).
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    /// Bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    pub topic: String,
    /// The column (sink) or reject field whose value keys each record; default: the id column
    /// for a sink, `source` for the dead-letter topic.
    #[serde(default)]
    pub key_field: Option<String>,
    /// librdkafka producer settings, passed through; never printed.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsSpec {
    /// `host:port` to serve on, e.g. `127.0.0.1:9464`.
    pub listen: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSpec {
    /// Directory (local path or URL) for `<run_id>/run.json` and `report.html`; default
    /// `<state>/runs/`.
    pub dir: Option<String>,
    /// Also render the HTML report after each run.
    pub html: bool,
}

impl Default for ReportSpec {
    fn default() -> Self {
        Self { dir: None, html: true }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[serde(alias = "json", alias = "ndjson")]
    Jsonl,
    Parquet,
    Csv,
    #[serde(alias = "txt")]
    Text,
    /// Web archive: one row per `response` record (`.warc`, `.warc.gz`).
    Warc,
    /// Web archive text: one row per `conversion` record (`.wet`, `.wet.gz`).
    Wet,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TextUnit {
    #[default]
    File,
    Line,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A path, URL or glob: `data/*.jsonl.zst`, `s3://bucket/crawl/**/*.jsonl`, `az://container/x/`.
    /// Exactly one of `files` and `kafka` is set.
    #[serde(alias = "path", alias = "url", alias = "glob", default = "no_files")]
    #[schemars(with = "String")]
    pub files: Spanned<String>,
    /// Records from Kafka topics instead of files.
    #[serde(default)]
    #[schemars(with = "Option<KafkaSourceSpec>")]
    pub kafka: Option<Spanned<KafkaSourceSpec>>,
    /// A Delta Lake table instead of files: the files of one of its versions are the work units.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub delta: Option<Spanned<String>>,
    /// delta: the table version to read (default: the newest when the run starts).
    #[serde(default)]
    pub version: Option<u64>,
    /// delta: read the newest version committed at or before this time (RFC 3339).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timestamp: Option<Spanned<String>>,
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
    /// What an unreadable unit (truncated archive, corrupt footer, conflicting column types) does:
    /// `reject` sends it to the rejects sink with its reason and the run goes on; `fail` stops.
    #[serde(default)]
    pub on_error: OnError,
    /// A source that matches no input is an error unless this is set (a gate must not pass on nothing).
    #[serde(default)]
    pub allow_empty: bool,
    /// A record (a line, or a whole text file) larger than this is rejected with its offset
    /// instead of being read into memory.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: ByteSize,
    /// How JSON records (JSONL files, Kafka JSON payloads) meet the run's columns.
    #[serde(default)]
    pub schema: SchemaSpec,
    /// Keep listing `files` at this interval and read new files as they land, once each, until
    /// stopped (SIGTERM); without it a file run ends when the listing is read.
    #[serde(default)]
    pub watch: Option<crate::size::Interval>,
}

/// `source.schema`: where the run's columns come from and what happens to a field outside them.
/// Nothing is dropped silently in any mode.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaSpec {
    pub mode: SchemaMode,
    /// Files whose first records are sampled for the columns (the first file and others spread
    /// over the listing; in `evolve` mode also per epoch).
    pub sample_files: usize,
}

impl Default for SchemaSpec {
    fn default() -> Self {
        Self { mode: SchemaMode::default(), sample_files: 8 }
    }
}

/// See [`SchemaSpec`].
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SchemaMode {
    /// The columns are fixed once from the sample; a record with a field outside them is rejected
    /// (`unexpected_field`).
    Strict,
    /// As `strict`, but each epoch samples its own new input first and adds the columns it finds
    /// (existing columns keep their type), so later files and messages can bring new fields.
    #[default]
    Evolve,
    /// The columns are fixed once from the sample; fields outside them are kept, as one JSON
    /// object per record, in the string column `_extra`.
    CaptureExtra,
}

impl SourceSpec {
    /// What the source reads, as reports and plans show it (no credentials: Kafka options are left
    /// out).
    pub fn describe(&self) -> String {
        match (&self.kafka, &self.delta) {
            (Some(k), _) => format!("kafka://{}/{}", k.value.brokers, k.value.topic_pattern.clone().unwrap_or_else(|| k.value.topics.join(","))),
            (None, Some(d)) => match (self.version, &self.timestamp) {
                (Some(v), _) => format!("{} (Delta version {v})", d.value),
                (None, Some(t)) => format!("{} (Delta as of {})", d.value, t.value),
                (None, None) => d.value.clone(),
            },
            (None, None) => self.files.value.clone(),
        }
    }
}

fn no_files() -> Spanned<String> {
    Spanned::new(String::new(), serde_saphyr::Location::UNKNOWN, serde_saphyr::Location::UNKNOWN)
}

/// `source.kafka`: topics read as offset ranges, one range per partition and epoch.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceSpec {
    /// Bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    #[serde(default)]
    pub topics: Vec<String>,
    /// Instead of `topics`: every topic whose name matches this regular expression (new matching
    /// topics join when the worker next looks at the brokers).
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// Consumer group: offsets are committed to it after each checkpoint, for lag tooling.
    pub group: String,
    #[serde(default)]
    pub format: KafkaFormat,
    /// Where a partition starts when no checkpoint covers it.
    #[serde(default)]
    pub start: KafkaStart,
    /// librdkafka settings (`security.protocol`, `sasl.password: ${KAFKA_PASSWORD}`, ...), passed
    /// through; never printed.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub epoch: KafkaEpochSpec,
    /// Keep reading new records until stopped (SIGTERM: after the epoch in progress commits); with
    /// `false` the run ends once it has read what the topics held when it started.
    #[serde(default = "yes")]
    pub follow: bool,
    /// Stop waiting for a partition's planned records after this many seconds without progress.
    #[serde(default = "default_kafka_timeout")]
    pub read_timeout_seconds: u64,
    /// Workers with this spec split the partitions through the consumer group: each partition is
    /// a lane with its own state (`<state>/lanes/<topic>-<partition>/`, its own lease, plans and
    /// checkpoints), held by one worker at a time, and the lane names its sink files and manifests.
    #[serde(default)]
    pub scale_out: bool,
    /// A lane whose partition is revoked (or a worker told to stop) finishes its open epoch within
    /// this many seconds, else abandons it uncommitted.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_seconds: u64,
}

fn default_shutdown_timeout() -> u64 {
    30
}

fn yes() -> bool {
    true
}

fn default_kafka_timeout() -> u64 {
    60
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KafkaFormat {
    /// A JSON object per message: its fields become columns.
    #[default]
    Json,
    /// The message value is the text.
    Text,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KafkaStart {
    #[default]
    Earliest,
    Latest,
}

/// How much one epoch takes from the topics.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaEpochSpec {
    /// Records per epoch over all partitions.
    pub max_records: u64,
    /// Payload bytes per epoch, estimated from the records read so far (a plan is made of offsets,
    /// before the records' sizes are known).
    pub max_bytes: Option<crate::ByteSize>,
    /// A following worker that finds fewer than `max_records` waiting collects for up to this long
    /// before it plans the epoch (bigger epochs, fewer files); without it an epoch takes what is there.
    pub max_interval: Option<crate::size::Interval>,
}

impl Default for KafkaEpochSpec {
    fn default() -> Self {
        Self { max_records: 100_000, max_bytes: None, max_interval: None }
    }
}

/// See [`SourceSpec::on_error`].
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    #[default]
    Reject,
    Fail,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
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
fn default_max_record_bytes() -> ByteSize {
    ByteSize(64 << 20)
}

/// One step of the pipeline. Written as a one-key map: `- sql: SELECT ...`, `- clean: {}`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Stage {
    /// A SQL query over the table `input` (the previous stage's output).
    Sql(String),
    /// HTML to text, control characters, whitespace, C4-style line rules.
    Clean(millrace_text::CleanParams),
    /// Unicode normalisation and canonical punctuation.
    #[serde(alias = "normalize")]
    Normalise(millrace_text::NormaliseParams),
    /// Quality filters; rejected rows go to the rejects sink with a reason.
    Filter(FilterStage),
    /// PII redaction or tagging.
    #[serde(alias = "pii")]
    RedactPii(millrace_text::PiiParams),
    /// Adds `lang` and `lang_score` columns.
    #[serde(alias = "language", alias = "langid")]
    DetectLanguage(millrace_text::LangIdParams),
    /// Exact and MinHash near-duplicate removal.
    #[serde(alias = "dedup")]
    Dedupe(DedupeStage),
    /// Adds `n_tokens` (and `token_ids` when asked or when a megatron sink needs them).
    #[serde(alias = "tokenize")]
    Tokenise(TokeniseStage),
}

impl Stage {
    pub fn kind(&self) -> &'static str {
        match self {
            Stage::Sql(_) => "sql",
            Stage::Clean(_) => "clean",
            Stage::Normalise(_) => "normalise",
            Stage::Filter(_) => "filter",
            Stage::RedactPii(_) => "redact_pii",
            Stage::DetectLanguage(_) => "detect_language",
            Stage::Dedupe(_) => "dedupe",
            Stage::Tokenise(_) => "tokenise",
        }
    }
}

/// `filter:` runs the configured rules in this order: length, languages, gopher_repetition,
/// gopher_quality, c4_quality, fineweb_quality, then `where`. The first rule that drops a row names
/// the reason (`gopher_quality:gopher_short_doc`).
#[derive(Debug, Clone, Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FilterStage {
    pub length: Option<millrace_quality::LengthParams>,
    #[serde(alias = "language")]
    pub languages: Option<millrace_text::LangFilterParams>,
    pub gopher_repetition: Option<millrace_quality::GopherRepetitionParams>,
    #[serde(alias = "gopher")]
    pub gopher_quality: Option<millrace_quality::GopherQualityParams>,
    #[serde(alias = "c4")]
    pub c4_quality: Option<millrace_quality::C4QualityParams>,
    #[serde(alias = "fineweb")]
    pub fineweb_quality: Option<millrace_quality::FineWebQualityParams>,
    /// A SQL predicate over the row; rows for which it is not true are rejected (`filter:where`).
    #[serde(rename = "where", alias = "predicate")]
    pub predicate: Option<String>,
}

impl FilterStage {
    /// The quality rules in their fixed order.
    pub fn quality_specs(&self) -> Vec<millrace_quality::FilterSpec> {
        use millrace_quality::FilterSpec as F;
        let mut v = Vec::new();
        if let Some(p) = &self.length {
            v.push(F::Length(p.clone()));
        }
        if let Some(p) = &self.gopher_repetition {
            v.push(F::GopherRepetition(p.clone()));
        }
        if let Some(p) = &self.gopher_quality {
            v.push(F::GopherQuality(p.clone()));
        }
        if let Some(p) = &self.c4_quality {
            v.push(F::C4Quality(p.clone()));
        }
        if let Some(p) = &self.fineweb_quality {
            v.push(F::FineWebQuality(p.clone()));
        }
        v
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DedupeMethod {
    Exact,
    Minhash,
    /// Exact and MinHash together (default).
    #[default]
    #[serde(alias = "all")]
    Both,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DedupeStage {
    pub method: DedupeMethod,
    pub exact: millrace_dedupe::ExactParams,
    #[serde(alias = "near")]
    pub minhash: millrace_dedupe::MinHashParams,
    #[serde(alias = "keep_rule")]
    pub keep: millrace_dedupe::KeepRule,
    #[serde(alias = "verify")]
    pub verify_threshold: Option<f64>,
    #[serde(alias = "memory_mb")]
    pub memory_budget_mb: u64,
    /// Persistent index URL: dedupe against everything kept by earlier runs/epochs.
    pub index: Option<String>,
}

impl Default for DedupeStage {
    fn default() -> Self {
        let d = millrace_dedupe::DedupeParams::default();
        Self {
            method: DedupeMethod::Both,
            exact: d.exact,
            minhash: d.minhash,
            keep: d.keep,
            verify_threshold: d.verify_threshold,
            memory_budget_mb: d.memory_budget_mb,
            index: None,
        }
    }
}

impl DedupeStage {
    pub fn params(&self) -> millrace_dedupe::DedupeParams {
        let mut exact = self.exact.clone();
        let mut minhash = self.minhash.clone();
        exact.enabled = exact.enabled && self.method != DedupeMethod::Minhash;
        minhash.enabled = minhash.enabled && self.method != DedupeMethod::Exact;
        millrace_dedupe::DedupeParams {
            exact,
            minhash,
            keep: self.keep,
            verify_threshold: self.verify_threshold,
            memory_budget_mb: self.memory_budget_mb,
        }
    }
}

/// The tokenise stage's keys: `TokeniseParams`' plus `token_ids`. Spelled out rather than
/// `#[serde(flatten)]`ed because serde cannot combine flatten with `deny_unknown_fields`, and unknown
/// keys must stay errors with a location.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TokeniseStage {
    /// Path (or URL of a local file) of a Hugging Face `tokenizer.json`.
    #[serde(alias = "tokenizer_path", alias = "tokenizer_file")]
    pub tokenizer: String,
    pub add_bos: bool,
    #[serde(alias = "append_eos", alias = "append_eod")]
    pub add_eos: bool,
    #[serde(alias = "max_length")]
    pub max_tokens: Option<usize>,
    pub bos_token: Option<String>,
    #[serde(alias = "eod_token")]
    pub eos_token: Option<String>,
    pub add_special_tokens: bool,
    /// Also add `token_ids` (List<UInt32>); implied by a `megatron` sink.
    pub token_ids: bool,
}

impl Default for TokeniseStage {
    fn default() -> Self {
        let d = millrace_tokenise::TokeniseParams::default();
        Self {
            tokenizer: d.tokenizer,
            add_bos: d.add_bos,
            add_eos: d.add_eos,
            max_tokens: d.max_tokens,
            bos_token: d.bos_token,
            eos_token: d.eos_token,
            add_special_tokens: d.add_special_tokens,
            token_ids: false,
        }
    }
}

impl TokeniseStage {
    pub fn params(&self) -> millrace_tokenise::TokeniseParams {
        millrace_tokenise::TokeniseParams {
            tokenizer: self.tokenizer.clone(),
            add_bos: self.add_bos,
            add_eos: self.add_eos,
            max_tokens: self.max_tokens,
            bos_token: self.bos_token.clone(),
            eos_token: self.eos_token.clone(),
            add_special_tokens: self.add_special_tokens,
        }
    }
}

/// A sink: exactly one of the kind keys (`parquet`, `jsonl`) with the destination URL.
#[derive(Debug, Clone, Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    #[serde(default)]
    pub parquet: Option<String>,
    #[serde(default)]
    pub jsonl: Option<String>,
    /// Megatron-LM indexed dataset shards (`.bin` + `.idx`) of the `token_ids` column.
    #[serde(default)]
    pub megatron: Option<String>,
    /// JSON rows to a Kafka topic (see `docs/spec.md` for the guarantee).
    #[serde(default)]
    pub kafka: Option<TopicSpec>,
    /// A Delta Lake table: one Delta commit per epoch (see `docs/spec.md`).
    #[serde(default)]
    pub delta: Option<String>,
    /// delta: `append` (default) adds to the table; `overwrite` replaces its contents with the
    /// first epoch this pipeline's state commits, then appends.
    #[serde(default)]
    #[schemars(with = "Option<DeltaMode>")]
    pub mode: Option<Spanned<DeltaMode>>,
    /// delta: `merge` adds new columns of the output to the table's schema (as nullable); without
    /// it a column the table lacks is an error. A type conflict is always an error.
    #[serde(default)]
    #[schemars(with = "Option<DeltaSchemaMode>")]
    pub schema_mode: Option<Spanned<DeltaSchemaMode>>,
    /// delta: write a Delta checkpoint every this many table versions (default 10).
    #[serde(default)]
    pub checkpoint_interval: Option<u64>,
    /// delta: table properties set when this run creates the table (`delta.appendOnly`, ...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// megatron: tokens per shard before a new one is started.
    #[serde(default, alias = "shard_tokens")]
    pub target_tokens: Option<u64>,
    /// A name for reports and `check --target`; default: the kind.
    #[serde(default)]
    pub name: Option<String>,
    /// parquet: zstd (default), snappy, lz4, gzip, none; jsonl: none (default), zstd, gzip.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub compression: Option<Spanned<String>>,
    #[serde(default)]
    pub target_file_size: Option<ByteSize>,
    #[serde(default)]
    pub partition_by: Vec<String>,
    #[serde(default)]
    pub row_group_rows: Option<usize>,
    /// parquet: a row group is closed once its encoded size reaches this. The open row group is
    /// held in memory by each writer, so this bounds a sink's memory per output partition.
    #[serde(default, alias = "row_group_size")]
    pub row_group_bytes: Option<ByteSize>,
    /// Most files one writer keeps open (one per hive partition directory); past it the least
    /// recently written is closed, so memory and file handles stay bounded.
    #[serde(default)]
    pub max_open_files: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Parquet,
    Jsonl,
    Megatron,
    /// Rows to a Kafka topic; the target is the topic name, not a URL.
    Kafka,
    /// Parquet files committed to a Delta Lake table's log.
    Delta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeltaMode {
    #[default]
    Append,
    Overwrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeltaSchemaMode {
    Merge,
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
        if let Some(u) = &self.megatron {
            v.push((SinkKind::Megatron, u.as_str()));
        }
        if let Some(t) = &self.kafka {
            v.push((SinkKind::Kafka, t.topic.as_str()));
        }
        if let Some(u) = &self.delta {
            v.push((SinkKind::Delta, u.as_str()));
        }
        v
    }
    /// The sink's kind and URL (a Kafka sink's topic); `validate` guarantees exactly one.
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
#[derive(Debug, Clone, Deserialize, Serialize, Default, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSpec {
    /// Worker threads and DataFusion partitions; default: all cores.
    pub threads: Option<usize>,
    /// Rows per Arrow RecordBatch.
    pub batch_rows: usize,
    /// Seconds a run's lease on its state location lasts without renewal. A run renews it every
    /// third of this; another run may take the state over only after it lapses (or at once when
    /// the holder was a process on the same host that no longer exists).
    pub lease_seconds: u64,
}

impl Default for EngineSpec {
    fn default() -> Self {
        Self { threads: None, batch_rows: 4096, lease_seconds: 60 }
    }
}

#[cfg(test)]
mod tokenise_settings {
    use super::TokeniseStage;
    use millrace_tokenise::TokeniseParams;

    /// The stage spells out `TokeniseParams`' keys (see its comment): both must keep the same keys,
    /// and a value must survive the trip through the stage unchanged.
    #[test]
    fn the_stage_and_the_params_have_the_same_keys_and_round_trip() {
        let p = TokeniseParams {
            tokenizer: "t.json".into(),
            add_bos: true,
            add_eos: false,
            max_tokens: Some(7),
            bos_token: Some("<s>".into()),
            eos_token: Some("</s>".into()),
            add_special_tokens: true,
        };
        let mut v = serde_json::to_value(&p).unwrap();
        let params_keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        v.as_object_mut().unwrap().insert("token_ids".into(), true.into());
        let stage: TokeniseStage = serde_json::from_value(v).unwrap();
        assert_eq!(stage.params(), p);
        let mut back = serde_json::to_value(&stage).unwrap();
        back.as_object_mut().unwrap().remove("token_ids");
        let stage_keys: Vec<String> = back.as_object().unwrap().keys().cloned().collect();
        assert_eq!(stage_keys, params_keys);
        assert_eq!(serde_json::from_value::<TokeniseParams>(back).unwrap(), p);
        assert_eq!(TokeniseStage::default().params(), TokeniseParams::default());
        // The aliases of one are aliases of the other.
        for (alias, value) in [("tokenizer_path", "\"x\""), ("append_eod", "true"), ("max_length", "3"), ("eod_token", "\"e\"")] {
            let json = format!("{{\"{alias}\": {value}}}");
            let a: TokeniseStage = serde_json::from_str(&json).unwrap();
            let b: TokeniseParams = serde_json::from_str(&json).unwrap();
            assert_eq!(a.params(), b, "{alias}");
        }
    }
}
