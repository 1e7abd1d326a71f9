#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Spec(#[from] millrace_spec::SpecError),
    #[error(transparent)]
    Connector(#[from] millrace_connectors::ConnectorError),
    #[error("stage {index} ({kind}): {message}")]
    Stage { index: usize, kind: String, message: String },
    #[error("query: {0}")]
    Plan(#[from] datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("epoch {epoch}: {message}")]
    Epoch { epoch: u64, message: String },
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
