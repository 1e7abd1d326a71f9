//! The `lineage:` section of a pipeline spec: whether to emit, where events go and how
//! jobs are named.
//!
//! `millrace-spec` embeds [`LineageConfig`] directly, so its serde attributes (aliases,
//! defaults, `deny_unknown_fields`) are the user-facing configuration format; changing
//! them changes what pipeline files are accepted.
//!
//! Parsing settles only shape and defaults. Whether the chosen transport has what it needs
//! (an `http(s)` URL for HTTP) is checked by
//! [`Transport::from_config`](super::Transport::from_config), where the config meets the
//! engine-supplied default file path and becomes a transport.

use serde::{Deserialize, Serialize};

/// Default `producer` URI: identifies this Millrace version.
pub const DEFAULT_PRODUCER: &str =
    concat!("https://github.com/millrace/millrace/releases/tag/v", env!("CARGO_PKG_VERSION"));

/// Where lineage events go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Append one JSON event per line to a file.
    #[default]
    File,
    /// POST each event to an OpenLineage HTTP endpoint (e.g. Marquez).
    Http,
}

/// `lineage:` section of the pipeline spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LineageConfig {
    /// Emit events at all (default `true` when the section is present).
    pub enabled: bool,
    /// `file` (default) or `http`.
    #[serde(alias = "type")]
    pub transport: TransportKind,
    /// File transport: JSON-lines file to append to. `None` lets the engine place
    /// `openlineage.jsonl` next to `run.json`.
    #[serde(alias = "file")]
    pub path: Option<String>,
    /// HTTP transport: base URL of the lineage server (e.g. `http://marquez:5000`).
    pub url: Option<String>,
    /// HTTP transport: endpoint path appended to `url` (default `api/v1/lineage`).
    pub endpoint: String,
    /// HTTP transport: sent as `Authorization: Bearer <api_key>`.
    #[serde(alias = "apiKey")]
    pub api_key: Option<String>,
    /// HTTP transport: request timeout in milliseconds (default 5000).
    pub timeout_ms: u64,
    /// Job namespace (default `millrace`); also used for datasets without a URL.
    pub namespace: String,
    /// Job name; `None` uses the pipeline name.
    #[serde(alias = "job")]
    pub job_name: Option<String>,
    /// Emit a RUNNING event after each committed epoch (default `false`).
    #[serde(alias = "emit_on_epoch")]
    pub emit_every_epoch: bool,
    /// `producer` / `_producer` URI (default: this Millrace release).
    pub producer: String,
}

impl Default for LineageConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            transport: TransportKind::File,
            path: None,
            url: None,
            endpoint: "api/v1/lineage".into(),
            api_key: None,
            timeout_ms: 5000,
            namespace: "millrace".into(),
            job_name: None,
            emit_every_epoch: false,
            producer: DEFAULT_PRODUCER.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_aliases() {
        let c: LineageConfig = serde_json::from_str(r#"{"type":"http","url":"http://m:5000","apiKey":"k"}"#).unwrap();
        assert_eq!(c.transport, TransportKind::Http);
        assert_eq!(c.api_key.as_deref(), Some("k"));
        assert_eq!(c.namespace, "millrace");
        assert!(serde_json::from_str::<LineageConfig>(r#"{"bogus":1}"#).is_err());
    }
}
