//! Millrace as a library: the whole job of `pipeline run` behind one call.
//!
//! ```no_run
//! # async fn demo() -> Result<(), millrace::Error> {
//! let pipeline = millrace::Pipeline::load("pipelines/quickstart.yaml", &[])?;
//! let outcome = pipeline.run(millrace::RunOptions::default()).await?;
//! println!("{}", outcome.summary.as_ref().map(|s| s.rows_written).unwrap_or(0));
//! std::process::exit(outcome.exit(false).code());
//! # }
//! ```
//!
//! A run executes every epoch still to do ([`millrace_engine::run`]), then evaluates the spec's
//! checks on what was committed, writes `run.json` / `report.html` and emits lineage events
//! ([`millrace_governance`]). The command-line tool is a thin layer over this crate: it parses
//! arguments, prints, and exits with [`Exit::code`].

pub use millrace_engine::{EngineError, EpochRecord, RunSummary, StepRecord};
pub use millrace_governance::{CheckOptions, CheckRun, DEFAULT_FAILURE_ROWS, Finished, GovernanceError, Verdict, results_table, verdict};
pub use millrace_report::{RunReport, render_html, render_junit};
pub use millrace_spec::{LoadedSpec, SpecError, json_schema as spec_schema};
pub use millrace_engine as engine;
pub use millrace_governance as governance;

mod serve;

use millrace_connectors::ConnectorError;
use millrace_governance::{RunGovernance, RunOutcome};
use std::path::Path;
use std::sync::atomic::Ordering;

/// The one exit-code model of every `pipeline` subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done; for `run`, committed and every gate passed.
    Success = 0,
    /// A runtime error: storage, I/O, a report or JUnit file that could not be written, checks
    /// that could not run.
    Runtime = 1,
    /// The spec or the arguments are invalid (nothing was read or written).
    Invalid = 2,
    /// The data-quality gate failed: an error-severity check failed or errored, or a check warned
    /// with `fail_on_warn`. For `run` the output is committed.
    GateFailed = 4,
    /// Another run holds the state's lease or took it over mid-run, or an output location belongs
    /// to another pipeline's state.
    Conflict = 5,
    /// Interrupted (Ctrl-C / SIGINT); the epoch in progress was not committed.
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Why a pipeline could not run or check at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Governance(#[from] GovernanceError),
    /// The report location or lineage transport cannot work; checked before any data is read.
    #[error(transparent)]
    Setup(GovernanceError),
    /// `pipeline delta` was pointed at a sink that is not a `delta:` sink.
    #[error("sink `{sink}` is a {kind} sink; `pipeline delta` maintains `delta:` sinks")]
    NotDelta { sink: String, kind: String },
    /// The metrics endpoint could not listen.
    #[error("metrics.listen {listen}: {source}")]
    Serve {
        listen: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit(&self) -> Exit {
        match self {
            Error::Spec(_) => Exit::Invalid,
            Error::Engine(e) => engine_exit(e),
            Error::Setup(_) | Error::NotDelta { .. } => Exit::Invalid,
            Error::Serve { .. } => Exit::Runtime,
            Error::Governance(_) => Exit::Runtime,
        }
    }
}

fn engine_exit(e: &EngineError) -> Exit {
    match e {
        EngineError::Spec(_) => Exit::Invalid,
        EngineError::Interrupted { .. } => Exit::Interrupted,
        EngineError::Connector(ConnectorError::Conflict { .. } | ConnectorError::Fenced { .. }) => Exit::Conflict,
        _ => Exit::Runtime,
    }
}

/// How to run a pipeline: the engine's options (limit, progress, cancel, stop; the run id and
/// readiness flag are set here), and whether to evaluate the spec's checks afterwards.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub run: millrace_engine::RunOptions,
    /// Evaluate the spec's checks after the run (None: skip them).
    pub checks: Option<CheckOptions>,
}

/// What a run did: the engine's records, or its error, and what governance made of them.
pub struct Outcome {
    pub run_id: String,
    /// The run's records; `None` when it failed.
    pub summary: Option<RunSummary>,
    pub error: Option<EngineError>,
    pub interrupted: bool,
    /// Checks, report and lineage.
    pub governance: Finished,
}

impl Outcome {
    /// The exit code of this outcome; `fail_on_warn` makes warnings gate.
    pub fn exit(&self, fail_on_warn: bool) -> Exit {
        if let Some(e) = &self.error {
            return engine_exit(e);
        }
        if self.interrupted {
            return Exit::Interrupted;
        }
        if self.governance.check_error.is_some() || self.governance.report_error.is_some() {
            return Exit::Runtime;
        }
        if self.governance.checks_failed(fail_on_warn) {
            return Exit::GateFailed;
        }
        Exit::Success
    }
}

/// A loaded pipeline spec, ready to run, check or explain.
#[derive(Debug, Clone)]
pub struct Pipeline {
    spec: LoadedSpec,
}

impl Pipeline {
    pub fn from_spec(spec: LoadedSpec) -> Self {
        Self { spec }
    }

    /// Loads a spec file with `--set`-style overrides (`("source.files", "data/x.jsonl")`).
    pub fn load(path: impl AsRef<Path>, overrides: &[(String, String)]) -> Result<Self, Error> {
        Ok(Self::from_spec(millrace_spec::load(path, overrides)?))
    }

    pub fn spec(&self) -> &LoadedSpec {
        &self.spec
    }

    /// Runs every epoch still to do, then checks, report and lineage. `Err` only when nothing could
    /// start (governance configuration that cannot work); a failed run is an [`Outcome`] with its
    /// error, since it still gets a report and a FAIL event.
    pub async fn run(&self, opts: RunOptions) -> Result<Outcome, Error> {
        let gov = RunGovernance::new(&self.spec, uuid::Uuid::new_v4()).map_err(Error::Setup)?;
        let mut start_warning = None;
        if let Err(e) = gov.start().await {
            start_warning = Some(format!("lineage START not delivered: {e}"));
        }
        let run_id = gov.run_id().to_string();
        // Served for as long as the run lasts (a stream worker: until it is stopped).
        let endpoints = match &self.spec.spec.metrics {
            Some(m) => Some(serve::start(&m.value.listen).await.map_err(|source| Error::Serve { listen: m.value.listen.clone(), source })?),
            None => None,
        };
        let cancel = opts.run.cancel.clone();
        let engine_opts = millrace_engine::RunOptions {
            ready: endpoints.as_ref().map(|e| e.ready.clone()),
            run_id: Some(run_id.clone()),
            ..opts.run
        };
        let result = millrace_engine::run(&self.spec, engine_opts).await;
        drop(endpoints);
        let interrupted = cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst));
        let mut outcome = match result {
            Ok(summary) => {
                let o = if interrupted { RunOutcome::Interrupted(&summary) } else { RunOutcome::Completed(&summary) };
                let governance = gov.finish(o, opts.checks.as_ref()).await;
                Outcome { run_id, summary: Some(summary), error: None, interrupted, governance }
            }
            Err(e) => {
                let message = millrace_connectors::redact::text(&e.to_string());
                let governance = gov.finish(RunOutcome::Failed(message), None).await;
                Outcome { run_id, summary: None, error: Some(e), interrupted, governance }
            }
        };
        if let Some(w) = start_warning {
            outcome.governance.warnings.insert(0, w);
        }
        Ok(outcome)
    }

    /// Evaluates the spec's checks on a sink's committed output, without running the pipeline.
    pub async fn check(&self, opts: &CheckOptions) -> Result<CheckRun, Error> {
        Ok(millrace_governance::run_checks(&self.spec, opts).await?)
    }

    /// The `delta:` sink `target` names (by name or URL; default the first sink), opened.
    fn delta_table(&self, target: Option<&str>) -> Result<(millrace_connectors::delta::Table, std::sync::Arc<millrace_connectors::sink::SinkConfig>), Error> {
        let (index, sink, kind, _) = millrace_governance::output::select_sink(&self.spec, target)?;
        if kind != millrace_spec::SinkKind::Delta {
            let kind = format!("{kind:?}").to_lowercase();
            return Err(Error::NotDelta { sink, kind });
        }
        let registry = millrace_connectors::store::StoreRegistry::new(self.spec.spec.storage.clone());
        let layout = millrace_connectors::layout::RunLayout::resolve(&self.spec.spec, &registry).map_err(EngineError::from)?;
        let cfg = layout.sinks[index].clone();
        let table = millrace_connectors::delta::Table::open(&cfg.base).map_err(EngineError::from)?;
        Ok((table, cfg))
    }

    /// `pipeline delta optimize`: compacts the small files of a `delta:` sink's table (streaming
    /// appends leave many) into files of its `target_file_size`.
    pub async fn delta_optimize(&self, target: Option<&str>) -> Result<millrace_connectors::delta::Optimized, Error> {
        let (mut table, cfg) = self.delta_table(target)?;
        Ok(table.optimize(&cfg).await.map_err(EngineError::from)?)
    }

    /// `pipeline delta vacuum`: deletes files the table's log no longer lists, once they are older
    /// than the retention (see [`millrace_connectors::delta::Table::vacuum`]).
    pub async fn delta_vacuum(&self, target: Option<&str>, retention: Option<std::time::Duration>, dry_run: bool, full: bool, force: bool) -> Result<millrace_connectors::delta::Vacuumed, Error> {
        let (mut table, _) = self.delta_table(target)?;
        Ok(table.vacuum(retention, dry_run, full, force).await.map_err(EngineError::from)?)
    }

    /// The logical and physical plans, as `pipeline explain` prints them.
    pub async fn explain(&self) -> Result<String, Error> {
        Ok(millrace_engine::explain(&self.spec).await?)
    }
}
