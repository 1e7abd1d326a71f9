//! OpenLineage (spec 2-0-2) run events built from a [`RunReport`](crate::RunReport), and
//! their transports.
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
//!
//! The submodules (`config`, `facets`, `builder`, `transport`) are private and everything
//! public is re-exported here, so `millrace-spec`, `millrace-governance` and the tests
//! keep one stable path, `millrace_report::lineage::X`, whatever the file layout.

mod builder;
mod config;
mod facets;
mod transport;

pub use builder::{LineageBuilder, dataset_identity};
pub use config::{DEFAULT_PRODUCER, LineageConfig, TransportKind};
pub use facets::{
    Assertion, ColumnLineageFacet, ColumnLineageField, ColumnMetricsFacet, DataQualityAssertionsFacet,
    DataQualityMetricsFacet, DatasetFacets, ErrorMessageFacet, EventType, FacetBase, InputDataset, InputFacets, Job,
    JobFacets, JobTypeFacet, LineageInputField, OutputDataset, OutputFacets, ProcessingEngineFacet,
    RUN_EVENT_SCHEMA_URL, Run, RunEvent, RunFacets, SchemaFacet, SchemaFacetField, StatisticsFacet, Transformation,
    facet_schema,
};
pub use transport::{Delivery, FileTransport, HttpRequest, HttpTransport, Transport};
