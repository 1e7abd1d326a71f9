use millrace_connectors::BoxError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Spec(#[from] millrace_spec::SpecError),
    #[error(transparent)]
    Connector(#[from] millrace_connectors::ConnectorError),
    /// A stage failed; `index` is 1-based, as people count the spec's stages.
    #[error("stage {index} ({kind}): {source}")]
    Stage {
        index: usize,
        kind: String,
        #[source]
        source: BoxError,
    },
    #[error("stage {index} (sql) at spec line {line}, column {column}: {source}")]
    Sql {
        index: usize,
        line: u64,
        column: u64,
        #[source]
        source: datafusion::error::DataFusionError,
    },
    #[error("dedupe: {source}")]
    Dedupe {
        #[source]
        source: BoxError,
    },
    #[error("query: {0}")]
    Plan(#[from] datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("epoch {epoch}: {source}")]
    Epoch {
        epoch: u64,
        #[source]
        source: BoxError,
    },
    /// A task of the epoch could not be joined (cancelled by the runtime).
    #[error("epoch {epoch}: {task}: {source}")]
    Task {
        epoch: u64,
        task: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("interrupted: epoch {epoch} was not committed and will be re-run on the next run")]
    Interrupted { epoch: u64 },
    /// A source unit could not be read (and `on_error: fail`, or the error is not the data's fault).
    #[error("reading {unit}: {source}")]
    Unit {
        unit: String,
        #[source]
        source: Box<EngineError>,
    },
    /// A task panicked: the epoch fails and nothing of it is checkpointed.
    #[error("internal error (panic) while {task}: {message}; the epoch was not committed")]
    Panic { task: String, message: String },
}
