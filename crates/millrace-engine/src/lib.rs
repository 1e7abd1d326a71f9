//! The engine: turns a [`millrace_spec::PipelineSpec`] into DataFusion plans and runs them as a
//! sequence of epochs. Each epoch reads its share of the source through a streaming table, flows
//! RecordBatches through the stages, writes every sink, commits the sinks, and only then writes the
//! checkpoint that marks the epoch's source units done. Returns what it did as typed records
//! ([`RunSummary`], one [`EpochRecord`] per epoch); checks, reports and lineage are built from them
//! by `millrace-governance`.
//!
//! Modules, each depending only on those listed before it: `metrics` (counters), `udf` (text
//! functions as UDFs), `sql`, `cut` (execution boundaries and taps), `table` (the source as a
//! streaming table), `plan` (session, source), `epochs` (files or Kafka), `dedupe`, `stages`, `profile`, `summary`, `explain`,
//! `progress`, `run`, `lanes` (scale-out stream workers: one run per partition lane).

mod cut;
mod dedupe;
mod epochs;
mod error;
mod explain;
mod lanes;
mod metrics;
mod plan;
mod profile;
mod progress;
mod run;
pub mod sql;
mod stages;
mod summary;
mod table;
pub mod udf;

pub use error::EngineError;
pub use explain::explain;
pub use metrics::Usage;
pub use profile::OutputProfile;
pub use run::{RunOptions, run};
pub use summary::{EpochRecord, RunSummary, SinkSummary, StageCounts, StepRecord};

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Column that stages set to a reason to reject a row; never written to sinks.
pub const REJECT_COLUMN: &str = "_reject";
