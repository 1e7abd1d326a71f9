//! Governance outputs of a Millrace run.
//!
//! This crate owns everything a run leaves behind for people and tools to audit it:
//! - [`RunReport`], the `run.json` model the engine fills while a run progresses;
//! - [`render_html`], a self-contained HTML report (inline CSS and SVG charts, no scripts);
//! - [`lineage`], OpenLineage 2-0-2 run events with schema, data-quality, assertion,
//!   column-lineage and error facets, plus file and HTTP transports;
//! - [`render_junit`], JUnit XML of the data-quality checks for CI systems.
//!
//! It has no engine, Arrow or network dependency: the engine passes plain data in and
//! performs any HTTP delivery itself.

mod format;
mod html;
mod junit;
pub mod lineage;
mod model;
mod svg;

pub use format::{escape_html, fmt_bytes, fmt_count, fmt_duration_ms, fmt_int, fmt_pct};
pub use html::render_html;
pub use junit::render_junit;
pub use lineage::{
    Delivery, EventType, FileTransport, HttpRequest, HttpTransport, LineageBuilder, LineageConfig, RunEvent,
    Transport, TransportKind,
};
pub use model::*;

/// Errors of the report crate.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a report or lineage file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File involved.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `run.json` or an event could not be (de)serialised.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// A histogram's edges and counts do not fit together.
    #[error("invalid histogram: {0}")]
    InvalidHistogram(String),
    /// The lineage configuration is unusable.
    #[error("invalid lineage configuration: {0}")]
    InvalidConfig(String),
    /// A final lineage event was requested for a run that is still running.
    #[error("run has not finished; no COMPLETE/FAIL event can be built")]
    RunNotFinished,
    /// A RUNNING event was requested for an epoch the report does not contain.
    #[error("epoch {0} is not in the run report")]
    UnknownEpoch(u64),
}
