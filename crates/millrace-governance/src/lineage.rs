//! Lineage delivery: OpenLineage events (built by `millrace_report::lineage`) appended to a file or
//! POSTed over HTTP.

use crate::GovernanceError;
use millrace_connectors::store::Location;
use millrace_report::lineage::{Delivery, LineageConfig, RunEvent, Transport};
use std::path::PathBuf;


/// Sends OpenLineage events through the configured transport.
pub struct LineageEmitter {
    pub(crate) cfg: LineageConfig,
    transport: Transport,
    client: Option<reqwest::Client>,
}

impl LineageEmitter {
    /// The file transport defaults to `openlineage.jsonl` beside `run.json`, which needs a local
    /// report directory; with a bucket, `lineage.path` must name a local file.
    pub fn new(cfg: &LineageConfig, report_dir: &Location) -> Result<Self, GovernanceError> {
        let default_path = match (&cfg.path, report_dir.local_path()) {
            (_, Some(dir)) => dir.join("openlineage.jsonl"),
            (Some(p), None) => PathBuf::from(p),
            (None, None) => {
                if cfg.transport == millrace_report::TransportKind::File {
                    return Err(GovernanceError::Config(format!(
                        "lineage.path is needed: the report directory {} is not local, and the file transport appends to a local file",
                        report_dir.url()
                    )));
                }
                PathBuf::from("openlineage.jsonl")
            }
        };
        let transport = Transport::from_config(cfg, &default_path)?;
        let client = match &transport {
            Transport::Http(_) => Some(
                reqwest::Client::builder()
                    .timeout(std::time::Duration::from_millis(cfg.timeout_ms.max(1)))
                    .build()
                    .map_err(|e| GovernanceError::Config(format!("lineage HTTP client: {e}")))?,
            ),
            Transport::File(_) => None,
        };
        Ok(Self { cfg: cfg.clone(), transport, client })
    }

    pub async fn emit(&self, event: &RunEvent) -> Result<(), GovernanceError> {
        if let Transport::File(f) = &self.transport {
            if let Some(parent) = f.path().parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| GovernanceError::write(parent.display().to_string(), e))?;
            }
        }
        match self.transport.deliver(event)? {
            Delivery::Written => Ok(()),
            Delivery::Send(req) => {
                let Some(client) = &self.client else {
                    return Err(GovernanceError::Config("lineage HTTP client missing".into()));
                };
                let mut r = client.post(&req.url).body(req.body);
                for (k, v) in &req.headers {
                    r = r.header(k, v);
                }
                let resp = r.send().await.map_err(|e| GovernanceError::Lineage { url: req.url.clone(), source: e.without_url() })?;
                if !resp.status().is_success() {
                    let status = resp.status().as_u16();
                    let body = resp.text().await.unwrap_or_default();
                    return Err(GovernanceError::LineageRefused { url: req.url, status, body: body.chars().take(200).collect() });
                }
                Ok(())
            }
        }
    }
}
