//! Governance of a run: what happens after the records are committed. Finding a sink's committed
//! output ([`output`]), compiling the spec's data-quality checks ([`compile`]), evaluating them
//! ([`evaluate`]), storing failing rows ([`failures`]), the gate's verdict ([`checks`]), assembling
//! the run report from the run's own records ([`report`]) and delivering lineage events
//! ([`lineage`]). The record path (connectors → engine) never depends on this crate.

pub mod checks;
mod compile;
mod error;
mod evaluate;
mod failures;
pub mod lineage;
pub mod output;
pub mod report;

pub use checks::{CheckOptions, CheckRun, DEFAULT_FAILURE_ROWS, Verdict, check_output, results_table, run_checks, verdict};
pub use error::GovernanceError;
pub use output::{CommittedOutput, open_output};
pub use report::{Finished, RunGovernance, RunOutcome, read_report, report_dir, write_report};
