//! Delivering events: appending JSON lines to a file, or preparing the HTTP request for
//! an OpenLineage endpoint.
//!
//! The HTTP transport stops at a ready-to-send [`HttpRequest`]: the engine already owns an
//! HTTP client and performs the call, which keeps this crate free of network dependencies.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::config::{LineageConfig, TransportKind};
use super::facets::RunEvent;
use crate::ReportError;

/// Appends events as JSON lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTransport {
    path: PathBuf,
}

impl FileTransport {
    /// Appends to `path` (created if missing).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file events are appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` as one line. The line is written with a single `write_all`
    /// on an `O_APPEND` handle so concurrent writers do not interleave within a line.
    pub fn emit(&self, event: &RunEvent) -> Result<(), ReportError> {
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        let io = |source| ReportError::Io { path: self.path.display().to_string(), source };
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        f.write_all(&line).map_err(io)?;
        f.flush().map_err(io)
    }
}

/// A ready-to-send HTTP request; the engine performs it with its own client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Always `POST`.
    pub method: &'static str,
    /// Full endpoint URL.
    pub url: String,
    /// Headers, including `Content-Type` and, when configured, `Authorization`.
    pub headers: Vec<(String, String)>,
    /// JSON body (one RunEvent).
    pub body: String,
    /// Timeout to apply, milliseconds.
    pub timeout_ms: u64,
}

/// OpenLineage HTTP transport settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTransport {
    url: String,
    api_key: Option<String>,
    timeout_ms: u64,
}

impl HttpTransport {
    /// `base_url` joined with `endpoint` (one slash between them).
    pub fn new(base_url: &str, endpoint: &str, api_key: Option<String>, timeout_ms: u64) -> Result<Self, ReportError> {
        let base = base_url.trim();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ReportError::InvalidConfig(format!(
                "lineage.url must start with http:// or https://, got {base:?}"
            )));
        }
        let endpoint = endpoint.trim().trim_start_matches('/');
        let url = if endpoint.is_empty() {
            base.to_string()
        } else {
            format!("{}/{}", base.trim_end_matches('/'), endpoint)
        };
        Ok(Self { url, api_key: api_key.filter(|k| !k.is_empty()), timeout_ms })
    }

    /// Endpoint URL events are POSTed to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The request that delivers `event`.
    pub fn request(&self, event: &RunEvent) -> Result<HttpRequest, ReportError> {
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if let Some(k) = &self.api_key {
            headers.push(("Authorization".to_string(), format!("Bearer {k}")));
        }
        Ok(HttpRequest {
            method: "POST",
            url: self.url.clone(),
            headers,
            body: serde_json::to_string(event)?,
            timeout_ms: self.timeout_ms,
        })
    }
}

/// A configured transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// JSON-lines file.
    File(FileTransport),
    /// HTTP endpoint.
    Http(HttpTransport),
}

/// What [`Transport::deliver`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Appended to the file.
    Written,
    /// The engine must send this request.
    Send(HttpRequest),
}

impl Transport {
    /// Builds the transport from `cfg`; `default_path` is used for the file transport
    /// when `cfg.path` is unset (the engine passes `<report dir>/openlineage.jsonl`).
    pub fn from_config(cfg: &LineageConfig, default_path: &Path) -> Result<Self, ReportError> {
        match cfg.transport {
            TransportKind::File => Ok(Transport::File(FileTransport::new(
                cfg.path.as_deref().map(PathBuf::from).unwrap_or_else(|| default_path.to_path_buf()),
            ))),
            TransportKind::Http => {
                let url = cfg
                    .url
                    .as_deref()
                    .ok_or_else(|| ReportError::InvalidConfig("lineage.transport is http but lineage.url is not set".into()))?;
                Ok(Transport::Http(HttpTransport::new(url, &cfg.endpoint, cfg.api_key.clone(), cfg.timeout_ms)?))
            }
        }
    }

    /// Writes (file) or prepares (HTTP) the delivery of `event`.
    pub fn deliver(&self, event: &RunEvent) -> Result<Delivery, ReportError> {
        match self {
            Transport::File(f) => f.emit(event).map(|()| Delivery::Written),
            Transport::Http(h) => h.request(event).map(Delivery::Send),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_transport_from_config() {
        let c: LineageConfig = serde_json::from_str(r#"{"type":"http","url":"http://m:5000","apiKey":"k"}"#).unwrap();
        let t = Transport::from_config(&c, Path::new("x.jsonl")).unwrap();
        let Transport::Http(h) = t else { panic!("expected http") };
        assert_eq!(h.url(), "http://m:5000/api/v1/lineage");
        let missing = LineageConfig { transport: TransportKind::Http, ..Default::default() };
        assert!(matches!(Transport::from_config(&missing, Path::new("x")), Err(ReportError::InvalidConfig(_))));
    }
}
