//! Building OpenLineage events from a [`RunReport`]: which facets each event type
//! carries, and how source and sink URLs become dataset identities.
//!
//! The builder only reads the report, so the engine can call it at any point of a run
//! (START, after each epoch, at the end) and get an event describing the run as it stands.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::config::LineageConfig;
use super::facets::{
    Assertion, ColumnLineageFacet, ColumnLineageField, ColumnMetricsFacet, DataQualityAssertionsFacet, DatasetVersionFacet,
    DataQualityMetricsFacet, DatasetFacets, ErrorMessageFacet, EventType, FacetBase, InputDataset, InputFacets, Job,
    JobFacets, JobTypeFacet, LineageInputField, OutputDataset, OutputFacets, ProcessingEngineFacet,
    RUN_EVENT_SCHEMA_URL, Run, RunEvent, RunFacets, SchemaFacet, SchemaFacetField, StatisticsFacet, Transformation,
    facet_schema,
};
use crate::ReportError;
use crate::model::{CheckStatus, ColumnMetrics, RunReport, RunStatus, SchemaField};

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
                        version: s.version.map(|v| DatasetVersionFacet { base: self.base(facet_schema::DATASET_VERSION), dataset_version: v.to_string() }),
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
}
