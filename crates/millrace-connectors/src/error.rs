/// A cause of any type, kept as the error's source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors from storage and file formats; each names the URL or file it concerns (with credentials
/// scrubbed, see [`crate::redact`]) and keeps its cause as `source`.
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
    #[error("no input files match `{pattern}` (set `source.allow_empty: true` if an empty run is expected)")]
    NoInput { pattern: String },
    #[error("cannot tell the format of `{url}`; set `source.format`")]
    UnknownFormat { url: String },
    #[error("reading {url}: {source}")]
    Read {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error("schema of {url}: {source}")]
    Schema {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error("writing {url}: {source}")]
    Write {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error("record {url}: {source}")]
    Manifest {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error("Delta table {url}: {source}")]
    Delta {
        url: String,
        #[source]
        source: Box<deltalake_core::DeltaTableError>,
    },
    /// Another pipeline state owns this location, or another run holds this state's lease.
    #[error("conflict at {url}: {message}")]
    Conflict { url: String, message: String },
    /// This run lost its lease (another run took the state over): it must stop without committing.
    #[error("fenced out at {url}: {message}")]
    Fenced { url: String, message: String },
}

impl ConnectorError {
    /// A read error; an I/O error that carries a storage error (a stream broken mid-read) stays a
    /// storage error, so it is not mistaken for bad data.
    pub(crate) fn read<E: Into<BoxError> + 'static>(url: &str, e: E) -> Self {
        let any = &e as &dyn std::any::Any;
        if let Some(io) = any.downcast_ref::<std::io::Error>() {
            if io.get_ref().is_some_and(|inner| inner.is::<StreamBroken>()) {
                return ConnectorError::Storage {
                    op: "get",
                    url: crate::redact::url(url),
                    source: object_store::Error::Generic { store: "stream", source: e.into() },
                };
            }
        }
        ConnectorError::Read { url: crate::redact::url(url), source: e.into() }
    }
    pub(crate) fn write(url: &str, e: impl Into<BoxError>) -> Self {
        ConnectorError::Write { url: crate::redact::url(url), source: e.into() }
    }
    pub(crate) fn schema(url: &str, e: impl Into<BoxError>) -> Self {
        ConnectorError::Schema { url: crate::redact::url(url), source: e.into() }
    }
    pub(crate) fn record(url: &str, e: impl Into<BoxError>) -> Self {
        ConnectorError::Manifest { url: crate::redact::url(url), source: e.into() }
    }

    /// True when the data itself is at fault (corrupt, truncated, or of a conflicting schema), so the
    /// unit can be quarantined; false for storage, configuration and ownership errors.
    pub fn is_data_error(&self) -> bool {
        matches!(self, ConnectorError::Read { .. } | ConnectorError::Schema { .. } | ConnectorError::UnknownFormat { .. })
    }
}

/// Marks an I/O error raised by the object store's byte stream (as opposed to a decoder).
#[derive(Debug)]
pub(crate) struct StreamBroken(pub String);

impl std::fmt::Display for StreamBroken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StreamBroken {}

/// The message of a caught panic (`panic!` with a literal or a formatted string).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}
