//! OpenLineage (spec 2-0-2) run events built from a [`RunReport`], and their transports.
//!
//! Millrace emits START when a run begins, optionally RUNNING after each committed
//! epoch, and COMPLETE or FAIL at the end. Facets used (each with `_producer` and
//! `_schemaURL`):
//! - run: `processing_engine`, `errorMessage` (FAIL only)
//! - job: `jobType`
//! - inputs: `schema`; `inputFacets.dataQualityMetrics`, `inputFacets.inputStatistics`
//! - outputs: `schema`, `columnLineage`, `dataQualityMetrics`, `dataQualityAssertions`;
//!   `outputFacets.outputStatistics`
//!
//! Millrace's checks run on the rows it writes, so `dataQualityAssertions` is attached to
//! each output dataset (as a dataset facet) rather than to inputs.
//!
//! HTTP delivery is left to the engine (which already owns an HTTP client): this module
//! produces the exact request to send, so this crate needs no network dependency.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ReportError;
use crate::model::{CheckStatus, ColumnMetrics, RunReport, RunStatus, SchemaField};

/// `schemaURL` of a RunEvent in OpenLineage 2-0-2.
pub const RUN_EVENT_SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

/// Facet schema URLs (versions match the vendored spec files in `tests/data/openlineage`).
pub mod facet_schema {
    /// `schema` dataset facet.
    pub const SCHEMA: &str =
        "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
    /// `dataQualityMetrics` input dataset facet.
    pub const DQ_METRICS_INPUT: &str = "https://openlineage.io/spec/facets/1-0-3/DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet";
    /// `dataQualityMetrics` dataset facet (used on outputs).
    pub const DQ_METRICS: &str = "https://openlineage.io/spec/facets/1-0-0/DataQualityMetricsDatasetFacet.json#/$defs/DataQualityMetricsDatasetFacet";
    /// `dataQualityAssertions` facet.
    pub const DQ_ASSERTIONS: &str = "https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet";
    /// `columnLineage` dataset facet.
    pub const COLUMN_LINEAGE: &str = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet";
    /// `errorMessage` run facet.
    pub const ERROR_MESSAGE: &str =
        "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
    /// `outputStatistics` output dataset facet.
    pub const OUTPUT_STATISTICS: &str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";
    /// `inputStatistics` input dataset facet.
    pub const INPUT_STATISTICS: &str = "https://openlineage.io/spec/facets/1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet";
    /// `jobType` job facet.
    pub const JOB_TYPE: &str = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
    /// `processing_engine` run facet.
    pub const PROCESSING_ENGINE: &str = "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet";
}

/// Default `producer` URI: identifies this Millrace version.
pub const DEFAULT_PRODUCER: &str =
    concat!("https://github.com/millrace/millrace/releases/tag/v", env!("CARGO_PKG_VERSION"));

// ---------------------------------------------------------------------------------------------
// Configuration

/// Where lineage events go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Append one JSON event per line to a file.
    #[default]
    File,
    /// POST each event to an OpenLineage HTTP endpoint (e.g. Marquez).
    Http,
}

/// `lineage:` section of the pipeline spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LineageConfig {
    /// Emit events at all (default `true` when the section is present).
    pub enabled: bool,
    /// `file` (default) or `http`.
    #[serde(alias = "type")]
    pub transport: TransportKind,
    /// File transport: JSON-lines file to append to. `None` lets the engine place
    /// `openlineage.jsonl` next to `run.json`.
    #[serde(alias = "file")]
    pub path: Option<String>,
    /// HTTP transport: base URL of the lineage server (e.g. `http://marquez:5000`).
    pub url: Option<String>,
    /// HTTP transport: endpoint path appended to `url` (default `api/v1/lineage`).
    pub endpoint: String,
    /// HTTP transport: sent as `Authorization: Bearer <api_key>`.
    #[serde(alias = "apiKey")]
    pub api_key: Option<String>,
    /// HTTP transport: request timeout in milliseconds (default 5000).
    pub timeout_ms: u64,
    /// Job namespace (default `millrace`); also used for datasets without a URL.
    pub namespace: String,
    /// Job name; `None` uses the pipeline name.
    #[serde(alias = "job")]
    pub job_name: Option<String>,
    /// Emit a RUNNING event after each committed epoch (default `false`).
    #[serde(alias = "emit_on_epoch")]
    pub emit_every_epoch: bool,
    /// `producer` / `_producer` URI (default: this Millrace release).
    pub producer: String,
}

impl Default for LineageConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            transport: TransportKind::File,
            path: None,
            url: None,
            endpoint: "api/v1/lineage".into(),
            api_key: None,
            timeout_ms: 5000,
            namespace: "millrace".into(),
            job_name: None,
            emit_every_epoch: false,
            producer: DEFAULT_PRODUCER.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Event model (field names follow the OpenLineage JSON spelling)

/// Run state transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    /// The run started.
    Start,
    /// Progress (after an epoch commit).
    Running,
    /// The run finished successfully.
    Complete,
    /// The run was aborted on purpose.
    Abort,
    /// The run failed.
    Fail,
    /// Extra metadata.
    Other,
}

/// `_producer` and `_schemaURL`, required on every facet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetBase {
    /// Producer URI.
    #[serde(rename = "_producer")]
    pub producer: String,
    /// JSON-pointer URL of the facet's schema.
    #[serde(rename = "_schemaURL")]
    pub schema_url: String,
}

/// An OpenLineage RunEvent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// START, RUNNING, COMPLETE, FAIL, ...
    #[serde(rename = "eventType")]
    pub event_type: EventType,
    /// When the transition happened.
    #[serde(rename = "eventTime")]
    pub event_time: DateTime<Utc>,
    /// Producer URI.
    pub producer: String,
    /// Schema of this event.
    #[serde(rename = "schemaURL")]
    pub schema_url: String,
    /// The run.
    pub run: Run,
    /// The job (pipeline).
    pub job: Job,
    /// Datasets read.
    pub inputs: Vec<InputDataset>,
    /// Datasets written.
    pub outputs: Vec<OutputDataset>,
}

/// `run` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Run id (same as `run.json`).
    #[serde(rename = "runId")]
    pub run_id: Uuid,
    /// Run facets.
    pub facets: RunFacets,
}

/// Run facets Millrace emits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFacets {
    /// Engine name/version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_engine: Option<ProcessingEngineFacet>,
    /// Error of a failed run.
    #[serde(rename = "errorMessage", skip_serializing_if = "Option::is_none")]
    pub error_message: Option<ErrorMessageFacet>,
}

/// `processing_engine` run facet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessingEngineFacet {
    /// Base fields.
    #[serde(flatten)]
    pub base: FacetBase,
    /// Engine version.
    pub version: String,
    /// Engine name.
    pub name: String,
}

/// `errorMessage` run facet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessageFacet {
    /// Base fields.
    #[serde(flatten)]
    pub base: FacetBase,
    /// Error text.
    pub message: String,
    /// Always `rust`.
    #[serde(rename = "programmingLanguage")]
    pub programming_language: String,
}

/// `job` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Job namespace.
    pub namespace: String,
    /// Job name.
    pub name: String,
    /// Job facets.
    pub facets: JobFacets,
}

/// Job facets Millrace emits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobFacets {
    /// Batch pipeline marker.
    #[serde(rename = "jobType", skip_serializing_if = "Option::is_none")]
    pub job_type: Option<JobTypeFacet>,
}

/// `jobType` job facet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobTypeFacet {
    /// Base fields.
    #[serde(flatten)]
    pub base: FacetBase,
    /// `BATCH`.
    #[serde(rename = "processingType")]
    pub processing_type: String,
    /// `MILLRACE`.
    pub integration: String,
    /// `PIPELINE`.
    #[serde(rename = "jobType")]
    pub job_type: String,
}

/// An input dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputDataset {
    /// Dataset namespace (e.g. `s3://bucket`, `file`).
    pub namespace: String,
    /// Dataset name (e.g. object key or path).
    pub name: String,
    /// Dataset facets.
    pub facets: DatasetFacets,
    /// Input-specific facets.
    #[serde(rename = "inputFacets")]
    pub input_facets: InputFacets,
}

/// An output dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputDataset {
    /// Dataset namespace.
    pub namespace: String,
    /// Dataset name.
    pub name: String,
    /// Dataset facets.
    pub facets: DatasetFacets,
    /// Output-specific facets.
    #[serde(rename = "outputFacets")]
    pub output_facets: OutputFacets,
}

/// Dataset facets Millrace emits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetFacets {
    /// Columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaFacet>,
    /// Output column -> input columns.
    #[serde(rename = "columnLineage", skip_serializing_if = "Option::is_none")]
    pub column_lineage: Option<ColumnLineageFacet>,
    /// Row/byte/column metrics of the written data.
    #[serde(rename = "dataQualityMetrics", skip_serializing_if = "Option::is_none")]
    pub data_quality_metrics: Option<DataQualityMetricsFacet>,
    /// Check outcomes.
    #[serde(rename = "dataQualityAssertions", skip_serializing_if = "Option::is_none")]
    pub data_quality_assertions: Option<DataQualityAssertionsFacet>,
}

/// Input dataset facets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputFacets {
    /// Metrics of the rows read.
    #[serde(rename = "dataQualityMetrics", skip_serializing_if = "Option::is_none")]
    pub data_quality_metrics: Option<DataQualityMetricsFacet>,
    /// Read statistics.
    #[serde(rename = "inputStatistics", skip_serializing_if = "Option::is_none")]
    pub input_statistics: Option<StatisticsFacet>,
}

/// Output dataset facets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputFacets {
    /// Write statistics.
    #[serde(rename = "outputStatistics", skip_serializing_if = "Option::is_none")]
    pub output_statistics: Option<StatisticsFacet>,
}

/// `schema` facet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaFacet {
    /// Base fields.
    #[serde(flatten)]
    pub base: FacetBase,
    /// Columns.
    pub fields: Vec<SchemaFacetField>,
}

/// One column of a `schema` facet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaFacetField {
    /// Column name.
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `dataQualityMetrics` facet (input or dataset flavour; same shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataQualityMetricsFacet {
    /// Base fields.
    #[serde(flatten)]
    pub base: FacetBase,
    /// Rows evaluated.
    #[serde(rename = "rowCount")]
    pub row_count: u64,
    /// Bytes.
    pub bytes: u64,
    /// Files.
    #[serde(rename = "fileCount")]
    pub file_count: u64,
    /// Per-column metrics (required by the spec, may be empty).
    #[serde(rename = "columnMetrics")]
    pub column_metrics: BTreeMap<String, ColumnMetricsFacet>,
}

/// Per-column entry of `dataQualityMetrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMetricsFacet {
    /// Nulls.
    #[serde(rename = "nullCount", skip_serializing_if = "Option::is_none")]
    pub null_count: Option<u64>,
    /// Distinct values.
    #[serde(rename = "distinctCount", skip_serializing_if = "Option::is_none")]
    pub distinct_count: Option<u64>,
}

/// `dataQualityAssertions` facet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataQualityAssertionsFacet {
    /// Base fields.
    #[serde(flatten)]
    pub base: FacetBase,
    /// One entry per check.
    pub assertions: Vec<Assertion>,
}

/// One assertion (check outcome).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assertion {
    /// Check kind (e.g. `not_null`).
    pub assertion: String,
    /// True when the check passed.
    pub success: bool,
    /// Column, if the check targets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// `error` or `warn`.
    pub severity: String,
    /// Check name.
    pub name: String,
    /// Check message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Threshold as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Observed value as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

/// `columnLineage` facet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnLineageFacet {
    /// Base fields.
    #[serde(flatten)]
    pub base: FacetBase,
    /// Output column -> its inputs.
    pub fields: BTreeMap<String, ColumnLineageField>,
}

/// Lineage of one output column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnLineageField {
    /// Input columns.
    #[serde(rename = "inputFields")]
    pub input_fields: Vec<LineageInputField>,
    /// Deprecated in the spec but still read by older consumers (Marquez).
    #[serde(rename = "transformationDescription", skip_serializing_if = "Option::is_none")]
    pub transformation_description: Option<String>,
    /// Deprecated twin of the above (`IDENTITY`/`MASKED`); only set for identity copies.
    #[serde(rename = "transformationType", skip_serializing_if = "Option::is_none")]
    pub transformation_type: Option<String>,
}

/// An input column of a lineage entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageInputField {
    /// Input dataset namespace.
    pub namespace: String,
    /// Input dataset name.
    pub name: String,
    /// Input column.
    pub field: String,
    /// How the input contributes.
    pub transformations: Vec<Transformation>,
}

/// A transformation step in column lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transformation {
    /// `DIRECT` or `INDIRECT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Human description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `inputStatistics` / `outputStatistics` facet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatisticsFacet {
    /// Base fields.
    #[serde(flatten)]
    pub base: FacetBase,
    /// Rows.
    #[serde(rename = "rowCount")]
    pub row_count: u64,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Files.
    #[serde(rename = "fileCount", skip_serializing_if = "Option::is_none")]
    pub file_count: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Building events

/// Splits a location into an OpenLineage dataset `(namespace, name)` following the
/// OpenLineage naming conventions: `s3://bucket/key` -> (`s3://bucket`, `key`), local
/// paths -> (`file`, path). Credentials and query strings are dropped because lineage
/// servers are widely readable and URLs may carry secrets (e.g. SAS tokens).
pub fn dataset_identity(url: &str, fallback_namespace: &str, fallback_name: &str) -> (String, String) {
    let url = url.trim();
    if url.is_empty() {
        return (fallback_namespace.to_string(), fallback_name.to_string());
    }
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    let Some((scheme, rest)) = without_query.split_once("://") else {
        return ("file".to_string(), without_query.to_string());
    };
    let scheme_ok = !scheme.is_empty()
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return ("file".to_string(), without_query.to_string());
    }
    if scheme.eq_ignore_ascii_case("file") {
        // file:///abs/path and file://localhost/abs/path
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        return ("file".to_string(), path.to_string());
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let name = if path.is_empty() { "/" } else { path };
    (format!("{}://{}", scheme.to_ascii_lowercase(), host), name.to_string())
}

/// Builds OpenLineage events for runs described by [`RunReport`]s.
#[derive(Debug, Clone)]
pub struct LineageBuilder<'a> {
    cfg: &'a LineageConfig,
}

impl<'a> LineageBuilder<'a> {
    /// Uses `cfg` for namespace, job name and producer.
    pub fn new(cfg: &'a LineageConfig) -> Self {
        Self { cfg }
    }

    fn base(&self, schema_url: &str) -> FacetBase {
        FacetBase { producer: self.cfg.producer.clone(), schema_url: schema_url.to_string() }
    }

    fn schema_facet(&self, fields: &[SchemaField]) -> Option<SchemaFacet> {
        if fields.is_empty() {
            return None;
        }
        Some(SchemaFacet {
            base: self.base(facet_schema::SCHEMA),
            fields: fields
                .iter()
                .map(|f| SchemaFacetField {
                    name: f.name.clone(),
                    data_type: f.data_type.clone(),
                    description: f.description.clone(),
                })
                .collect(),
        })
    }

    fn metrics_facet(
        &self,
        schema_url: &str,
        rows: u64,
        bytes: u64,
        files: u64,
        cols: &BTreeMap<String, ColumnMetrics>,
    ) -> DataQualityMetricsFacet {
        DataQualityMetricsFacet {
            base: self.base(schema_url),
            row_count: rows,
            bytes,
            file_count: files,
            column_metrics: cols
                .iter()
                .filter(|(_, m)| m.null_count.is_some() || m.distinct_count.is_some())
                .map(|(k, m)| {
                    (k.clone(), ColumnMetricsFacet { null_count: m.null_count, distinct_count: m.distinct_count })
                })
                .collect(),
        }
    }

    fn source_identity(&self, report: &RunReport, source: &str) -> (String, String) {
        match report.sources.iter().find(|s| s.name == source) {
            Some(s) => dataset_identity(&s.url, &self.cfg.namespace, &s.name),
            None => (self.cfg.namespace.clone(), source.to_string()),
        }
    }

    /// Builds an event of `event_type` describing `report` as it stands.
    ///
    /// START carries schemas only; later events add metrics, statistics, lineage and
    /// (COMPLETE/FAIL) check assertions. FAIL adds `errorMessage`.
    pub fn event(&self, report: &RunReport, event_type: EventType, event_time: DateTime<Utc>) -> RunEvent {
        let with_stats = event_type != EventType::Start;
        let is_final = matches!(event_type, EventType::Complete | EventType::Fail | EventType::Abort);
        let inputs = report
            .sources
            .iter()
            .map(|s| {
                let (namespace, name) = dataset_identity(&s.url, &self.cfg.namespace, &s.name);
                InputDataset {
                    namespace,
                    name,
                    facets: DatasetFacets { schema: self.schema_facet(&s.schema), ..Default::default() },
                    input_facets: if with_stats {
                        InputFacets {
                            data_quality_metrics: Some(self.metrics_facet(
                                facet_schema::DQ_METRICS_INPUT,
                                s.rows,
                                s.bytes,
                                s.files,
                                &s.column_metrics,
                            )),
                            input_statistics: Some(StatisticsFacet {
                                base: self.base(facet_schema::INPUT_STATISTICS),
                                row_count: s.rows,
                                size: Some(s.bytes),
                                file_count: Some(s.files),
                            }),
                        }
                    } else {
                        InputFacets::default()
                    },
                }
            })
            .collect();
        let assertions: Vec<Assertion> = report
            .checks
            .iter()
            .map(|c| Assertion {
                assertion: if c.kind.is_empty() { c.name.clone() } else { c.kind.clone() },
                success: c.status == CheckStatus::Pass,
                column: c.column.clone(),
                severity: c.severity.as_str().to_string(),
                name: c.name.clone(),
                description: (!c.message.is_empty()).then(|| c.message.clone()),
                expected: json_as_string(&c.threshold),
                actual: json_as_string(&c.observed),
            })
            .collect();
        let outputs = report
            .sinks
            .iter()
            .map(|s| {
                let (namespace, name) = dataset_identity(&s.url, &self.cfg.namespace, &s.name);
                let lineage = (!s.column_lineage.is_empty()).then(|| ColumnLineageFacet {
                    base: self.base(facet_schema::COLUMN_LINEAGE),
                    fields: s
                        .column_lineage
                        .iter()
                        .map(|cl| {
                            let kind = if cl.transformation_type.is_empty() {
                                "DIRECT".to_string()
                            } else {
                                cl.transformation_type.to_ascii_uppercase()
                            };
                            let description = (!cl.transformation.is_empty()).then(|| cl.transformation.clone());
                            let input_fields = cl
                                .inputs
                                .iter()
                                .map(|i| {
                                    let (namespace, name) = self.source_identity(report, &i.source);
                                    LineageInputField {
                                        namespace,
                                        name,
                                        field: i.field.clone(),
                                        transformations: vec![Transformation {
                                            kind: kind.clone(),
                                            description: description.clone(),
                                        }],
                                    }
                                })
                                .collect();
                            (
                                cl.output_field.clone(),
                                ColumnLineageField {
                                    input_fields,
                                    transformation_description: description.clone(),
                                    transformation_type: None,
                                },
                            )
                        })
                        .collect(),
                });
                let (rows, bytes, files) = (s.rows(), s.bytes(), s.files.len() as u64);
                OutputDataset {
                    namespace,
                    name,
                    facets: DatasetFacets {
                        schema: self.schema_facet(&s.schema),
                        column_lineage: if with_stats { lineage } else { None },
                        data_quality_metrics: with_stats.then(|| {
                            self.metrics_facet(facet_schema::DQ_METRICS, rows, bytes, files, &s.column_metrics)
                        }),
                        data_quality_assertions: (is_final && !assertions.is_empty()).then(|| {
                            DataQualityAssertionsFacet {
                                base: self.base(facet_schema::DQ_ASSERTIONS),
                                assertions: assertions.clone(),
                            }
                        }),
                    },
                    output_facets: OutputFacets {
                        output_statistics: with_stats.then(|| StatisticsFacet {
                            base: self.base(facet_schema::OUTPUT_STATISTICS),
                            row_count: rows,
                            size: Some(bytes),
                            file_count: Some(files),
                        }),
                    },
                }
            })
            .collect();
        let error_message = (event_type == EventType::Fail).then(|| ErrorMessageFacet {
            base: self.base(facet_schema::ERROR_MESSAGE),
            message: report.error.clone().unwrap_or_else(|| "run failed".to_string()),
            programming_language: "rust".to_string(),
        });
        RunEvent {
            event_type,
            event_time,
            producer: self.cfg.producer.clone(),
            schema_url: RUN_EVENT_SCHEMA_URL.to_string(),
            run: Run {
                run_id: report.run_id,
                facets: RunFacets {
                    processing_engine: Some(ProcessingEngineFacet {
                        base: self.base(facet_schema::PROCESSING_ENGINE),
                        version: env!("CARGO_PKG_VERSION").to_string(),
                        name: "millrace".to_string(),
                    }),
                    error_message,
                },
            },
            job: Job {
                namespace: self.cfg.namespace.clone(),
                name: self.cfg.job_name.clone().unwrap_or_else(|| report.pipeline.clone()),
                facets: JobFacets {
                    job_type: Some(JobTypeFacet {
                        base: self.base(facet_schema::JOB_TYPE),
                        processing_type: "BATCH".to_string(),
                        integration: "MILLRACE".to_string(),
                        job_type: "PIPELINE".to_string(),
                    }),
                },
            },
            inputs,
            outputs,
        }
    }

    /// START event, timed at `report.started_at` (or now).
    pub fn start(&self, report: &RunReport) -> RunEvent {
        self.event(report, EventType::Start, report.started_at.unwrap_or_else(Utc::now))
    }

    /// RUNNING event after `epoch` committed (timed at its commit, or now). Output
    /// statistics reflect the report as filled so far.
    pub fn epoch(&self, report: &RunReport, epoch: u64) -> Result<RunEvent, ReportError> {
        let e = report
            .epochs
            .iter()
            .find(|e| e.epoch == epoch)
            .ok_or(ReportError::UnknownEpoch(epoch))?;
        Ok(self.event(report, EventType::Running, e.committed_at.unwrap_or_else(Utc::now)))
    }

    /// COMPLETE or FAIL according to `report.status`, timed at `finished_at` (or now).
    pub fn finish(&self, report: &RunReport) -> Result<RunEvent, ReportError> {
        let t = match report.status {
            RunStatus::Succeeded => EventType::Complete,
            RunStatus::Failed => EventType::Fail,
            RunStatus::Running => return Err(ReportError::RunNotFinished),
        };
        Ok(self.event(report, t, report.finished_at.unwrap_or_else(Utc::now)))
    }
}

/// Strings stay as they are; other JSON is printed compactly; null means "not known".
fn json_as_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Transports

/// Appends events as JSON lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTransport {
    path: PathBuf,
}

impl FileTransport {
    /// Appends to `path` (created if missing).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file events are appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` as one line. The line is written with a single `write_all`
    /// on an `O_APPEND` handle so concurrent writers do not interleave within a line.
    pub fn emit(&self, event: &RunEvent) -> Result<(), ReportError> {
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        let io = |source| ReportError::Io { path: self.path.display().to_string(), source };
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        f.write_all(&line).map_err(io)?;
        f.flush().map_err(io)
    }
}

/// A ready-to-send HTTP request; the engine performs it with its own client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Always `POST`.
    pub method: &'static str,
    /// Full endpoint URL.
    pub url: String,
    /// Headers, including `Content-Type` and, when configured, `Authorization`.
    pub headers: Vec<(String, String)>,
    /// JSON body (one RunEvent).
    pub body: String,
    /// Timeout to apply, milliseconds.
    pub timeout_ms: u64,
}

/// OpenLineage HTTP transport settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTransport {
    url: String,
    api_key: Option<String>,
    timeout_ms: u64,
}

impl HttpTransport {
    /// `base_url` joined with `endpoint` (one slash between them).
    pub fn new(base_url: &str, endpoint: &str, api_key: Option<String>, timeout_ms: u64) -> Result<Self, ReportError> {
        let base = base_url.trim();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ReportError::InvalidConfig(format!(
                "lineage.url must start with http:// or https://, got {base:?}"
            )));
        }
        let endpoint = endpoint.trim().trim_start_matches('/');
        let url = if endpoint.is_empty() {
            base.to_string()
        } else {
            format!("{}/{}", base.trim_end_matches('/'), endpoint)
        };
        Ok(Self { url, api_key: api_key.filter(|k| !k.is_empty()), timeout_ms })
    }

    /// Endpoint URL events are POSTed to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The request that delivers `event`.
    pub fn request(&self, event: &RunEvent) -> Result<HttpRequest, ReportError> {
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if let Some(k) = &self.api_key {
            headers.push(("Authorization".to_string(), format!("Bearer {k}")));
        }
        Ok(HttpRequest {
            method: "POST",
            url: self.url.clone(),
            headers,
            body: serde_json::to_string(event)?,
            timeout_ms: self.timeout_ms,
        })
    }
}

/// A configured transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// JSON-lines file.
    File(FileTransport),
    /// HTTP endpoint.
    Http(HttpTransport),
}

/// What [`Transport::deliver`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Appended to the file.
    Written,
    /// The engine must send this request.
    Send(HttpRequest),
}

impl Transport {
    /// Builds the transport from `cfg`; `default_path` is used for the file transport
    /// when `cfg.path` is unset (the engine passes `<report dir>/openlineage.jsonl`).
    pub fn from_config(cfg: &LineageConfig, default_path: &Path) -> Result<Self, ReportError> {
        match cfg.transport {
            TransportKind::File => Ok(Transport::File(FileTransport::new(
                cfg.path.as_deref().map(PathBuf::from).unwrap_or_else(|| default_path.to_path_buf()),
            ))),
            TransportKind::Http => {
                let url = cfg
                    .url
                    .as_deref()
                    .ok_or_else(|| ReportError::InvalidConfig("lineage.transport is http but lineage.url is not set".into()))?;
                Ok(Transport::Http(HttpTransport::new(url, &cfg.endpoint, cfg.api_key.clone(), cfg.timeout_ms)?))
            }
        }
    }

    /// Writes (file) or prepares (HTTP) the delivery of `event`.
    pub fn deliver(&self, event: &RunEvent) -> Result<Delivery, ReportError> {
        match self {
            Transport::File(f) => f.emit(event).map(|()| Delivery::Written),
            Transport::Http(h) => h.request(event).map(Delivery::Send),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities() {
        assert_eq!(dataset_identity("s3://bucket/a/b.parquet", "m", "x"), ("s3://bucket".into(), "a/b.parquet".into()));
        assert_eq!(dataset_identity("/data/in", "m", "x"), ("file".into(), "/data/in".into()));
        assert_eq!(dataset_identity("file:///data/in", "m", "x"), ("file".into(), "/data/in".into()));
        assert_eq!(
            dataset_identity("https://user:secret@host:9000/p/q?sig=abc", "m", "x"),
            ("https://host:9000".into(), "p/q".into())
        );
        assert_eq!(dataset_identity("", "m", "x"), ("m".into(), "x".into()));
        assert_eq!(dataset_identity("gs://b", "m", "x"), ("gs://b".into(), "/".into()));
    }

    #[test]
    fn config_defaults_and_aliases() {
        let c: LineageConfig = serde_json::from_str(r#"{"type":"http","url":"http://m:5000","apiKey":"k"}"#).unwrap();
        assert_eq!(c.transport, TransportKind::Http);
        assert_eq!(c.api_key.as_deref(), Some("k"));
        assert_eq!(c.namespace, "millrace");
        assert!(serde_json::from_str::<LineageConfig>(r#"{"bogus":1}"#).is_err());
        let t = Transport::from_config(&c, Path::new("x.jsonl")).unwrap();
        let Transport::Http(h) = t else { panic!("expected http") };
        assert_eq!(h.url(), "http://m:5000/api/v1/lineage");
        let missing = LineageConfig { transport: TransportKind::Http, ..Default::default() };
        assert!(matches!(Transport::from_config(&missing, Path::new("x")), Err(ReportError::InvalidConfig(_))));
    }
}
