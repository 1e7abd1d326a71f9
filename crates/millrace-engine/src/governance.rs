//! What a run leaves behind for audit: `run.json` and `report.html` (written through object_store,
//! so a bucket works like a directory), the data-quality checks on what was committed, and
//! OpenLineage START / COMPLETE / FAIL / ABORT events (file or HTTP transport).
//!
//! The run report is filled from the [`RunSummary`], the sinks' epoch manifests and checkpoints of
//! this run (files, epochs, throughput over time), and the run's [`OutputProfile`] of the rows it
//! committed (document-length and tokens-per-document histograms, language mix, null counts).

use crate::{OutputProfile, RunSummary};
use crate::checks::{self, CheckOptions, CheckRun, CommittedOutput, Verdict};
use chrono::{DateTime, Utc};
use millrace_connectors::commit::{self, Checkpoint, EpochManifest};
use millrace_connectors::store::{Location, StoreRegistry};
use millrace_report::lineage::{Delivery, EventType, LineageBuilder, LineageConfig, RunEvent, Transport};
use millrace_report::{
    EpochReport, ReportError, RunReport, RunStatus, SchemaField, SinkFile, SinkReport,
    SourceReport, StageReport, ThroughputSample, Totals,
};
use millrace_spec::LoadedSpec;
use object_store::{ObjectStoreExt, PutPayload};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

/// Errors of checks, reports and lineage. Checks that cannot be evaluated are not errors here: they
/// are results with status `error`. These are the failures that stop the governance step itself.
#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    #[error("no sink named `{target}` (sinks: {})", available.join(", "))]
    NoSuchSink { target: String, available: Vec<String> },
    #[error("sink `{sink}` is a {kind} sink; checks read parquet or jsonl sinks")]
    UnsupportedSink { sink: String, kind: String },
    #[error("sink `{sink}` has no committed output at {url} (no _manifest/epoch-*.json); run the pipeline first")]
    NothingCommitted { sink: String, url: String },
    #[error(transparent)]
    Storage(#[from] millrace_connectors::ConnectorError),
    #[error("query: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    #[error("writing {url}: {message}")]
    Write { url: String, message: String },
    #[error("reading {url}: {message}")]
    Read { url: String, message: String },
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("lineage delivery to {url}: {message}")]
    Lineage { url: String, message: String },
    #[error("configuration: {0}")]
    Config(String),
}

/// How the pipeline itself ended, as the governance step sees it.
pub enum RunOutcome<'a> {
    Completed(&'a RunSummary),
    /// Stopped by Ctrl-C after committing what it had.
    Interrupted(&'a RunSummary),
    Failed(String),
}

/// What [`RunGovernance::finish`] did.
pub struct Finished {
    pub report: RunReport,
    /// Check results, when the spec has checks and they ran.
    pub checks: Option<CheckRun>,
    /// The checks could not run at all (no such sink, nothing committed, storage error).
    pub check_error: Option<GovernanceError>,
    /// URL of `run.json` and, when rendered, `report.html`.
    pub run_json: Option<String>,
    pub html: Option<String>,
    /// Problems that did not stop the run: a profile query or a lineage delivery that failed.
    pub warnings: Vec<String>,
    /// `run.json` could not be written.
    pub report_error: Option<GovernanceError>,
}

impl Finished {
    /// Did error-severity checks fail (or error)?
    pub fn checks_failed(&self, fail_on_warn: bool) -> bool {
        match &self.checks {
            Some(c) => match checks::verdict(&c.results) {
                Verdict::Fail => true,
                Verdict::Warn => fail_on_warn,
                Verdict::Pass => false,
            },
            None => false,
        }
    }
}

/// The governance of one `pipeline run`: created before the run (START), finished after it.
pub struct RunGovernance {
    run_id: Uuid,
    spec: LoadedSpec,
    registry: Arc<StoreRegistry>,
    started_at: DateTime<Utc>,
    report_dir: Location,
    html: bool,
    lineage: Option<LineageEmitter>,
}

/// `report.dir` (or `<state>/runs/`, state defaulting to `<first sink>/_millrace/`) joined with the
/// run id.
pub fn report_dir(spec: &LoadedSpec, registry: &StoreRegistry, run_id: Uuid) -> Result<Location, GovernanceError> {
    let base = match &spec.spec.report.dir {
        Some(d) => d.clone(),
        None => {
            let state = match &spec.spec.state {
                Some(s) => s.value.clone(),
                None => {
                    let first = spec.spec.sinks.first().map(|s| s.value.target().1.to_string()).unwrap_or_default();
                    format!("{}/_millrace", first.trim_end_matches('/'))
                }
            };
            format!("{}/runs", state.trim_end_matches('/'))
        }
    };
    Ok(registry.resolve(&base)?.child(&run_id.to_string()))
}

/// A local filesystem path for a `file://` location.
fn local_path(loc: &Location) -> Option<PathBuf> {
    (loc.base == "file://").then(|| PathBuf::from(format!("/{}", loc.path)))
}

impl RunGovernance {
    /// Resolves where the report goes and sets up lineage; fails on configuration that cannot work
    /// (before any data is touched).
    pub fn new(spec: &LoadedSpec, run_id: Uuid) -> Result<Self, GovernanceError> {
        let registry = Arc::new(StoreRegistry::new(spec.spec.storage.clone()));
        let report_dir = report_dir(spec, &registry, run_id)?;
        let lineage = match &spec.spec.lineage {
            Some(cfg) if cfg.enabled => {
                if cfg.emit_every_epoch {
                    // The engine has no per-epoch hook for governance yet; say so rather than
                    // silently emitting fewer events than configured.
                    tracing::warn!("lineage.emit_every_epoch is not supported yet: only START and the final event are emitted");
                }
                Some(LineageEmitter::new(cfg, &report_dir)?)
            }
            _ => None,
        };
        Ok(Self { run_id, spec: spec.clone(), registry, started_at: Utc::now(), report_dir, html: spec.spec.report.html, lineage })
    }

    pub fn run_id(&self) -> Uuid {
        self.run_id
    }

    /// Where `run.json` will be written.
    pub fn report_url(&self) -> String {
        self.report_dir.child("run.json").url()
    }

    /// The report as known before the run: identity, source and sinks.
    fn base_report(&self) -> RunReport {
        let s = &self.spec.spec;
        RunReport {
            run_id: self.run_id,
            pipeline: s.name.value.clone(),
            spec_path: self.spec.path.clone(),
            spec_sha256: self.spec.sha256.clone(),
            started_at: Some(self.started_at),
            status: RunStatus::Running,
            sources: vec![SourceReport {
                name: "source".into(),
                kind: source_kind(&self.spec),
                url: absolute_url(&s.source.files.value),
                ..Default::default()
            }],
            sinks: s
                .sinks
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let (kind, url) = k.value.target();
                    SinkReport { name: k.value.display_name(i), kind: kind_name(kind), url: absolute_url(url), ..Default::default() }
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Emits the START event (when lineage is configured).
    pub async fn start(&self) -> Result<(), GovernanceError> {
        if let Some(l) = &self.lineage {
            let report = self.base_report();
            l.emit(&LineageBuilder::new(&l.cfg).start(&report)).await?;
        }
        Ok(())
    }

    /// After the run: checks (when the run completed and `check` is given), the profile of what was
    /// written, `run.json` + `report.html`, and the final lineage event. Never fails: every problem
    /// is recorded in [`Finished`] so the caller decides the exit code.
    pub async fn finish(&self, outcome: RunOutcome<'_>, check: Option<&CheckOptions>) -> Finished {
        let mut report = self.base_report();
        let mut warnings = Vec::new();
        let mut check_run = None;
        let mut check_error = None;
        match &outcome {
            RunOutcome::Completed(summary) | RunOutcome::Interrupted(summary) => {
                if let Err(e) = self.fill_from_run(&mut report, summary).await {
                    warnings.push(format!("run details for the report: {e}"));
                }
                profile(&mut report, &summary.profile);
                let wants_checks = matches!(outcome, RunOutcome::Completed(_)) && !self.spec.spec.checks.is_empty();
                if let (true, Some(opts)) = (wants_checks, check) {
                    // Checks that should have run but cannot (nothing committed, a megatron-only
                    // pipeline) are a failure of the gate.
                    match checks::open_output(&self.spec, &self.registry, opts.target.as_deref(), None).await {
                        Ok(out) => match self.evaluate(&out, opts).await {
                            Ok(c) => check_run = Some(c),
                            Err(e) => check_error = Some(e),
                        },
                        Err(e) => check_error = Some(e),
                    }
                }
            }
            RunOutcome::Failed(_) => {}
        }
        if let Some(c) = &check_run {
            report.checks = c.results.clone();
        }
        report.finished_at = Some(Utc::now());
        let failed_checks: Vec<&str> = check_run
            .as_ref()
            .map(|c| {
                c.results
                    .iter()
                    .filter(|r| matches!(r.status, millrace_report::CheckStatus::Fail | millrace_report::CheckStatus::Error))
                    .map(|r| r.name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let event_type;
        match &outcome {
            RunOutcome::Failed(msg) => {
                report.status = RunStatus::Failed;
                report.error = Some(msg.clone());
                event_type = EventType::Fail;
            }
            RunOutcome::Interrupted(_) => {
                report.status = RunStatus::Failed;
                report.error = Some("interrupted: the epoch in progress was not committed".into());
                event_type = EventType::Abort;
            }
            RunOutcome::Completed(_) if !failed_checks.is_empty() => {
                report.status = RunStatus::Failed;
                report.error = Some(format!("data-quality checks failed: {}", failed_checks.join(", ")));
                event_type = EventType::Fail;
            }
            RunOutcome::Completed(_) if check_error.is_some() => {
                report.status = RunStatus::Failed;
                report.error = check_error.as_ref().map(|e| format!("checks could not run: {e}"));
                event_type = EventType::Fail;
            }
            RunOutcome::Completed(_) => {
                report.status = RunStatus::Succeeded;
                event_type = EventType::Complete;
            }
        }

        let (run_json, html, report_error) = match write_report(&report, &self.report_dir, self.html).await {
            Ok((j, h)) => (Some(j), h, None),
            Err(e) => (None, None, Some(e)),
        };
        if let Some(l) = &self.lineage {
            let event = LineageBuilder::new(&l.cfg).event(&report, event_type, report.finished_at.unwrap_or_else(Utc::now));
            if let Err(e) = l.emit(&event).await {
                warnings.push(e.to_string());
            }
        }
        Finished { report, checks: check_run, check_error, run_json, html, warnings, report_error }
    }

    async fn evaluate(&self, out: &CommittedOutput, opts: &CheckOptions) -> Result<CheckRun, GovernanceError> {
        checks::check_output(&self.spec, &self.registry, out, opts).await
    }

    /// Totals, stages, sinks, epochs and throughput from the summary, manifests and checkpoints.
    async fn fill_from_run(&self, report: &mut RunReport, summary: &RunSummary) -> Result<(), GovernanceError> {
        let spec = &self.spec.spec;
        report.totals = Totals {
            rows_read: summary.rows_read,
            rows_written: summary.rows_written,
            rows_filtered: summary.rows_filtered,
            rows_rejected: summary.rows_rejected,
            bytes_read: summary.bytes_read,
            bytes_written: summary.sinks.iter().map(|s| s.bytes).sum(),
        };
        report.peak_rss_bytes = summary.peak_rss_bytes;
        report.cpu_seconds = summary.cpu_seconds;
        if let Some(src) = report.sources.first_mut() {
            src.rows = summary.rows_read;
            src.bytes = summary.bytes_read;
            src.files = summary.files;
        }
        report.stages = stage_reports(&self.spec, summary);

        for (i, sink) in spec.sinks.iter().enumerate() {
            let (kind, url) = sink.value.target();
            let base = self.registry.resolve(url)?;
            let manifests: Vec<EpochManifest> =
                commit::read_manifests(&base).await?.into_iter().filter(|m| m.run_id == summary.run_id).collect();
            let Some(sr) = report.sinks.get_mut(i) else { continue };
            sr.kind = kind_name(kind);
            sr.files = manifests
                .iter()
                .flat_map(|m| &m.files)
                .map(|f| SinkFile { path: f.path.clone(), rows: f.rows, bytes: f.bytes, sha256: f.sha256.clone() })
                .collect();
            sr.epoch = manifests.iter().map(|m| m.epoch).max();
            if let Some(schema) = manifests.iter().rev().find_map(|m| m.schema.as_ref()) {
                sr.schema = schema_fields(schema);
            }
            if i == 0 {
                report.epochs = manifests
                    .iter()
                    .map(|m| EpochReport {
                        epoch: m.epoch,
                        rows: m.rows,
                        bytes: m.bytes,
                        wall_ms: 0,
                        committed_at: DateTime::parse_from_rfc3339(&m.committed_at).ok().map(|t| t.with_timezone(&Utc)),
                    })
                    .collect();
            }
        }

        // Checkpoints say what each epoch read and when it was done: throughput over time and
        // per-epoch wall time (commit to commit).
        let state_url = match &spec.state {
            Some(s) => s.value.clone(),
            None => format!("{}/_millrace", spec.sinks.first().map(|s| s.value.target().1).unwrap_or("").trim_end_matches('/')),
        };
        let mut cps: Vec<Checkpoint> =
            commit::read_checkpoints(&self.registry.resolve(&state_url)?).await?.into_iter().filter(|c| c.run_id == summary.run_id).collect();
        cps.sort_by_key(|c| c.epoch);
        let started = DateTime::parse_from_rfc3339(&summary.started_at).ok().map(|t| t.with_timezone(&Utc)).unwrap_or(self.started_at);
        let (mut rows, mut bytes, mut prev) = (0u64, 0u64, started);
        report.throughput.push(ThroughputSample { t_ms: 0, rows: 0, bytes: 0 });
        for cp in &cps {
            let Some(at) = DateTime::parse_from_rfc3339(&cp.committed_at).ok().map(|t| t.with_timezone(&Utc)) else { continue };
            rows += cp.rows_read;
            bytes += cp.units.iter().map(|u| u.bytes()).sum::<u64>();
            let t_ms = u64::try_from((at - started).num_milliseconds()).unwrap_or(0);
            report.throughput.push(ThroughputSample { t_ms, rows, bytes });
            if let Some(e) = report.epochs.iter_mut().find(|e| e.epoch == cp.epoch) {
                e.wall_ms = u64::try_from((at - prev).num_milliseconds()).unwrap_or(0);
            }
            prev = at;
        }
        // A rate needs two intervals to draw as a line; one epoch is better shown as "no samples"
        // than as an empty chart.
        if report.throughput.len() < 3 {
            report.throughput.clear();
        }
        Ok(())
    }
}

/// Histograms, language mix and null counts of the rows this run committed, profiled as they were
/// written (every data sink receives the same rows, so each gets the same null counts).
fn profile(report: &mut RunReport, p: &OutputProfile) {
    if p.rows == 0 {
        return;
    }
    report.histograms.doc_length_chars = p.doc_length_histogram();
    report.histograms.tokens_per_doc = p.tokens_histogram();
    report.language_mix = p.language_mix.clone();
    for sr in report.sinks.iter_mut().filter(|s| s.kind != "megatron") {
        for (name, present) in &p.non_null {
            sr.column_metrics.entry(name.clone()).or_default().null_count = Some(p.rows.saturating_sub(*present));
        }
    }
}

/// Local paths as absolute `file://` URLs, so lineage datasets and reports do not depend on the
/// directory the run was started from.
/// The URL as reports and lineage show it: absolute, and without credentials.
fn absolute_url(raw: &str) -> String {
    millrace_connectors::redact::url(&millrace_connectors::store::to_url(raw).map(|u| u.to_string()).unwrap_or_else(|_| raw.to_string()))
}

fn kind_name(k: millrace_spec::SinkKind) -> String {
    match k {
        millrace_spec::SinkKind::Parquet => "parquet",
        millrace_spec::SinkKind::Jsonl => "jsonl",
        millrace_spec::SinkKind::Megatron => "megatron",
    }
    .to_string()
}

fn source_kind(spec: &LoadedSpec) -> String {
    let f = spec.spec.source.format.or_else(|| millrace_connectors::source::format_of(&spec.spec.source.files.value));
    match f {
        Some(millrace_spec::Format::Jsonl) => "jsonl",
        Some(millrace_spec::Format::Parquet) => "parquet",
        Some(millrace_spec::Format::Csv) => "csv",
        Some(millrace_spec::Format::Text) => "text",
        None => "files",
    }
    .to_string()
}

fn schema_fields(v: &serde_json::Value) -> Vec<SchemaField> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| {
                    Some(SchemaField {
                        name: f.get("name")?.as_str()?.to_string(),
                        data_type: f.get("type")?.as_str()?.to_string(),
                        description: None,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reject reasons without a `stage:` prefix come from reading the source; the rest from stages. The
/// summary does not split filtered rows by stage, so the stages are reported as one step whose
/// counts reconcile with the run's totals.
fn stage_reports(spec: &LoadedSpec, s: &RunSummary) -> Vec<StageReport> {
    let (mut source_reasons, mut stage_reasons) = (BTreeMap::new(), BTreeMap::new());
    for (k, v) in &s.rejects_by_reason {
        if k.contains(':') {
            stage_reasons.insert(k.clone(), *v);
        } else {
            source_reasons.insert(k.clone(), *v);
        }
    }
    let source_rejected: u64 = source_reasons.values().sum();
    let parsed = s.rows_read.saturating_sub(source_rejected);
    let mut out = vec![StageReport {
        name: "read".into(),
        kind: source_kind(spec),
        rows_in: s.rows_read,
        rows_out: parsed,
        rows_rejected: source_rejected,
        rejects_by_reason: source_reasons,
        cpu_ms: None,
        wall_ms: 0,
    }];
    if !spec.spec.stages.is_empty() {
        let kinds: Vec<&str> = spec.spec.stages.iter().map(|st| st.value.kind()).collect();
        if s.rows_filtered > 0 {
            stage_reasons.insert("filtered".into(), s.rows_filtered);
        }
        out.push(StageReport {
            name: format!("stages ({})", kinds.len()),
            kind: kinds.join(" → "),
            rows_in: parsed,
            rows_out: s.rows_written,
            rows_rejected: parsed.saturating_sub(s.rows_written),
            rejects_by_reason: stage_reasons,
            cpu_ms: None,
            wall_ms: 0,
        });
    }
    out
}

/// Writes `run.json` (and `report.html`) into `dir`; returns their URLs.
pub async fn write_report(report: &RunReport, dir: &Location, html: bool) -> Result<(String, Option<String>), GovernanceError> {
    let json = dir.child("run.json");
    put(&json, report.to_json_pretty()?.into_bytes()).await?;
    let html_url = if html {
        let h = dir.child("report.html");
        put(&h, millrace_report::render_html(report).into_bytes()).await?;
        Some(h.url())
    } else {
        None
    };
    Ok((json.url(), html_url))
}

async fn put(loc: &Location, bytes: Vec<u8>) -> Result<(), GovernanceError> {
    loc.store.put(&loc.path, PutPayload::from(bytes)).await.map_err(|e| GovernanceError::Write { url: loc.url(), message: e.to_string() })?;
    Ok(())
}

/// Reads a `run.json` from a local path or URL.
pub async fn read_report(path_or_url: &str) -> Result<RunReport, GovernanceError> {
    let registry = StoreRegistry::default();
    let loc = registry.resolve(path_or_url)?;
    let bytes = loc
        .store
        .get(&loc.path)
        .await
        .map_err(|e| GovernanceError::Read { url: loc.url(), message: e.to_string() })?
        .bytes()
        .await
        .map_err(|e| GovernanceError::Read { url: loc.url(), message: e.to_string() })?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|e| GovernanceError::Read { url: loc.url(), message: e.to_string() })?;
    Ok(RunReport::from_json(&text)?)
}

// ---------------------------------------------------------------------------------------------
// Lineage delivery

/// Sends OpenLineage events through the configured transport.
pub struct LineageEmitter {
    cfg: LineageConfig,
    transport: Transport,
    client: Option<reqwest::Client>,
}

impl LineageEmitter {
    /// The file transport defaults to `openlineage.jsonl` beside `run.json`, which needs a local
    /// report directory; with a bucket, `lineage.path` must name a local file.
    pub fn new(cfg: &LineageConfig, report_dir: &Location) -> Result<Self, GovernanceError> {
        let default_path = match (&cfg.path, local_path(report_dir)) {
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
                std::fs::create_dir_all(parent).map_err(|e| GovernanceError::Write { url: parent.display().to_string(), message: e.to_string() })?;
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
                let resp = r.send().await.map_err(|e| GovernanceError::Lineage { url: req.url.clone(), message: e.without_url().to_string() })?;
                if !resp.status().is_success() {
                    let status = resp.status();
                    let body = resp.text().await.unwrap_or_default();
                    return Err(GovernanceError::Lineage {
                        url: req.url,
                        message: format!("HTTP {status}: {}", body.chars().take(200).collect::<String>()),
                    });
                }
                Ok(())
            }
        }
    }
}
