//! The engine: turns a [`millrace_spec::PipelineSpec`] into DataFusion plans and runs them as a
//! sequence of epochs. Each epoch reads its share of the source through a streaming table, flows
//! RecordBatches through the stages, writes every sink, commits the sinks, and only then writes the
//! checkpoint that marks the epoch's source units done. Owns run state, counters and the run summary.

pub mod checks;
mod dedupe;
pub mod governance;
mod error;
mod plan;
mod profile;
mod progress;
mod run;
pub mod stages;
pub mod udf;
mod summary;
mod table;

pub use error::EngineError;
pub use plan::explain;
pub use run::{RunOptions, run};
pub use profile::OutputProfile;
pub use summary::{RunSummary, SinkSummary, StageCounts};

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Column that stages set to a reason to reject a row; never written to sinks.
pub const REJECT_COLUMN: &str = "_reject";
