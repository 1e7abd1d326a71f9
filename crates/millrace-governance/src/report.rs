//! What a run leaves behind for audit: `run.json` and `report.html` (written through object_store,
//! so a bucket works like a directory), the data-quality checks on what was committed, and
//! OpenLineage START / COMPLETE / FAIL / ABORT events.
//!
//! The run report is assembled from what the run returned: the [`RunSummary`] and its
//! [`EpochRecord`]s (files, epochs, throughput over time, every step of the funnel) and the
//! [`OutputProfile`] of the rows it committed. Nothing is read back from storage.

use crate::GovernanceError;
use crate::checks::{self, CheckOptions, CheckRun, Verdict};
use crate::lineage::LineageEmitter;
use crate::output::{CommittedOutput, open_output};
use chrono::{DateTime, Utc};
use millrace_connectors::commit::ColumnSchema;
use millrace_connectors::layout::RunLayout;
use millrace_connectors::store::{Location, StoreRegistry};
use millrace_engine::{EpochRecord, OutputProfile, RunSummary, StepRecord};
use millrace_report::lineage::{EventType, LineageBuilder};
use millrace_report::{
    EpochReport, RunReport, RunStatus, SchemaField, SinkFile, SinkReport, SourceReport, StageReport, ThroughputSample, Totals,
};
use millrace_spec::LoadedSpec;
use std::sync::Arc;
use uuid::Uuid;

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

/// `report.dir` (or `<state>/runs/`) joined with the run id.
pub fn report_dir(spec: &LoadedSpec, registry: &StoreRegistry, run_id: Uuid) -> Result<Location, GovernanceError> {
    Ok(RunLayout::resolve(&spec.spec, registry)?.report_dir(&run_id.to_string()))
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
                url: match &s.source.delta {
                    Some(t) => absolute_url(&t.value),
                    None if s.source.kafka.is_some() => s.source.describe(),
                    None => absolute_url(&s.source.files.value),
                },
                ..Default::default()
            }],
            sinks: s
                .sinks
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let (kind, url) = k.value.target();
                    let url = match &k.value.kafka {
                        Some(t) => format!("kafka://{}/{}", t.brokers, t.topic),
                        None => absolute_url(url),
                    };
                    SinkReport { name: k.value.display_name(i), kind: kind_name(kind), url, ..Default::default() }
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
                fill_from_run(&mut report, summary);
                profile(&mut report, &summary.profile);
                let wants_checks = matches!(outcome, RunOutcome::Completed(_)) && !self.spec.spec.checks.is_empty();
                if let (true, Some(opts)) = (wants_checks, check) {
                    // Checks that should have run but cannot (nothing committed, a megatron-only
                    // pipeline) are a failure of the gate.
                    match open_output(&self.spec, &self.registry, opts.target.as_deref(), None).await {
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
}

/// Totals, stages, sinks, epochs and throughput from the run's records.
fn fill_from_run(report: &mut RunReport, summary: &RunSummary) {
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
    report.stages = summary.funnel.iter().map(stage_report).collect();
    for (i, sr) in report.sinks.iter_mut().enumerate() {
        let manifests = summary.epochs.iter().filter_map(|e| e.manifests.get(i));
        sr.files = manifests
            .clone()
            .flat_map(|m| &m.files)
            .map(|f| SinkFile { path: f.path.clone(), rows: f.rows, bytes: f.bytes, sha256: f.sha256.clone() })
            .collect();
        sr.epoch = manifests.clone().map(|m| m.epoch).max();
        sr.version = manifests.clone().filter_map(|m| m.delta_version).max().and_then(|v| u64::try_from(v).ok());
        if let Some(schema) = manifests.filter_map(|m| m.schema.as_ref()).last() {
            sr.schema = schema_fields(schema);
        }
    }
    report.epochs = summary.epochs.iter().map(epoch_report).collect();

    // Throughput over time: rows and bytes read by the end of each epoch.
    let (mut rows, mut bytes) = (0u64, 0u64);
    report.throughput.push(ThroughputSample { t_ms: 0, rows: 0, bytes: 0 });
    for e in &summary.epochs {
        rows += e.rows_read;
        bytes += e.bytes_in;
        report.throughput.push(ThroughputSample { t_ms: millis(e.committed_at - summary.started_at), rows, bytes });
    }
    // A rate needs two intervals to draw as a line; one epoch is better shown as "no samples"
    // than as an empty chart.
    if report.throughput.len() < 3 {
        report.throughput.clear();
    }
}

fn millis(d: chrono::TimeDelta) -> u64 {
    u64::try_from(d.num_milliseconds()).unwrap_or(0)
}

fn epoch_report(e: &EpochRecord) -> EpochReport {
    let first = e.manifests.first();
    EpochReport {
        epoch: e.epoch,
        rows: first.map(|m| m.rows).unwrap_or(e.rows_written),
        bytes: first.map(|m| m.bytes).unwrap_or(0),
        wall_ms: millis(e.committed_at - e.started_at),
        committed_at: Some(e.committed_at),
    }
}

fn stage_report(s: &StepRecord) -> StageReport {
    StageReport {
        name: s.name.clone(),
        kind: s.kind.clone(),
        rows_in: s.rows_in,
        rows_out: s.rows_out,
        rows_rejected: s.rows_rejected,
        rejects_by_reason: s.rejects_by_reason.clone(),
        cpu_ms: Some(s.cpu_ns / 1_000_000),
        wall_ms: 0,
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
        millrace_spec::SinkKind::Kafka => "kafka",
        millrace_spec::SinkKind::Delta => "delta",
    }
    .to_string()
}

fn source_kind(spec: &LoadedSpec) -> String {
    if spec.spec.source.kafka.is_some() {
        return "kafka".into();
    }
    if spec.spec.source.delta.is_some() {
        return "delta".into();
    }
    let f = spec.spec.source.format.or_else(|| millrace_connectors::source::format_of(&spec.spec.source.files.value));
    match f {
        Some(millrace_spec::Format::Jsonl) => "jsonl",
        Some(millrace_spec::Format::Parquet) => "parquet",
        Some(millrace_spec::Format::Csv) => "csv",
        Some(millrace_spec::Format::Text) => "text",
        Some(millrace_spec::Format::Warc) => "warc",
        Some(millrace_spec::Format::Wet) => "wet",
        None => "files",
    }
    .to_string()
}

fn schema_fields(columns: &[ColumnSchema]) -> Vec<SchemaField> {
    columns.iter().map(|c| SchemaField { name: c.name.clone(), data_type: c.data_type.clone(), description: None }).collect()
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
    millrace_connectors::store::write_bytes(loc, bytes).await?;
    Ok(())
}

/// Reads a `run.json` from a local path or URL.
pub async fn read_report(path_or_url: &str) -> Result<RunReport, GovernanceError> {
    let registry = StoreRegistry::default();
    let loc = registry.resolve(path_or_url)?;
    let bytes = millrace_connectors::store::read_bytes(&loc).await?.ok_or_else(|| GovernanceError::read(loc.url(), "no such file"))?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|e| GovernanceError::read(loc.url(), e))?;
    Ok(RunReport::from_json(&text)?)
}

