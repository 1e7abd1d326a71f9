//! The OpenLineage 2-0-2 event model: [`RunEvent`] and the facets Millrace emits, as
//! plain serde structs.
//!
//! Field names follow the spec's JSON spelling through `rename`s, and optional facets are
//! skipped rather than written as `null`, because consumers validate against the spec
//! schemas. The schema URLs here must match the vendored files in
//! `tests/data/openlineage`: `tests/openlineage.rs` validates every facet against the
//! schema its `_schemaURL` names.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
    /// `version` dataset facet.
    pub const DATASET_VERSION: &str =
        "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet";
    /// `outputStatistics` output dataset facet.
    pub const OUTPUT_STATISTICS: &str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";
    /// `inputStatistics` input dataset facet.
    pub const INPUT_STATISTICS: &str = "https://openlineage.io/spec/facets/1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet";
    /// `jobType` job facet.
    pub const JOB_TYPE: &str = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
    /// `processing_engine` run facet.
    pub const PROCESSING_ENGINE: &str = "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet";
}

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
    /// The table version written (table formats: Delta).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<DatasetVersionFacet>,
}

/// `version` dataset facet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetVersionFacet {
    /// Base fields.
    #[serde(flatten)]
    pub base: FacetBase,
    /// The version, as text.
    #[serde(rename = "datasetVersion")]
    pub dataset_version: String,
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
