use millrace_report::ReportError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors of checks, reports and lineage. Checks that cannot be evaluated are not errors here: they
/// are results with status `error`. These are the failures that stop the governance step itself.
#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    #[error("no sink named `{target}` (sinks: {})", available.join(", "))]
    NoSuchSink { target: String, available: Vec<String> },
    #[error("sink `{sink}` is a {kind} sink; checks read parquet, jsonl or delta sinks")]
    UnsupportedSink { sink: String, kind: String },
    #[error("sink `{sink}` has no committed output at {url} (no _manifest/epoch-*.json); run the pipeline first")]
    NothingCommitted { sink: String, url: String },
    #[error("{url} is listed in a committed manifest but unreadable: it does not exist")]
    MissingFile { url: String },
    #[error(transparent)]
    Storage(#[from] millrace_connectors::ConnectorError),
    #[error("query: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    #[error("writing {url}: {source}")]
    Write {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error("reading {url}: {source}")]
    Read {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("lineage delivery to {url}: {source}")]
    Lineage {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("lineage delivery to {url}: HTTP {status}: {body}")]
    LineageRefused { url: String, status: u16, body: String },
    #[error("configuration: {0}")]
    Config(String),
}

impl GovernanceError {
    pub(crate) fn write(url: impl Into<String>, e: impl Into<BoxError>) -> Self {
        GovernanceError::Write { url: url.into(), source: e.into() }
    }

    pub(crate) fn read(url: impl Into<String>, e: impl Into<BoxError>) -> Self {
        GovernanceError::Read { url: url.into(), source: e.into() }
    }
}
