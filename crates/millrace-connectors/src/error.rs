/// Errors from storage and file formats; each names the URL or file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("invalid location `{url}`: {message}")]
    InvalidUrl { url: String, message: String },
    #[error("storage option `{key}` for {scheme}: {message}")]
    StorageOption { scheme: String, key: String, message: String },
    #[error("{op} {url}: {source}")]
    Storage {
        op: &'static str,
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("no input files match `{pattern}`")]
    NoInput { pattern: String },
    #[error("cannot tell the format of `{url}`; set `source.format`")]
    UnknownFormat { url: String },
    #[error("reading {url}: {message}")]
    Read { url: String, message: String },
    #[error("schema of {url}: {message}")]
    Schema { url: String, message: String },
    #[error("writing {url}: {message}")]
    Write { url: String, message: String },
    #[error("manifest {url}: {message}")]
    Manifest { url: String, message: String },
}

impl ConnectorError {
    pub(crate) fn read(url: &str, e: impl std::fmt::Display) -> Self {
        ConnectorError::Read { url: url.to_string(), message: e.to_string() }
    }
    pub(crate) fn write(url: &str, e: impl std::fmt::Display) -> Self {
        ConnectorError::Write { url: url.to_string(), message: e.to_string() }
    }
}
