//! What a run did, as the run returns it: one [`EpochRecord`] per committed epoch (units consumed,
//! manifests written, checkpoint, the funnel of every step) and the [`RunSummary`] over them: counts
//! that reconcile (read = written + filtered + rejected), throughput, CPU and peak memory. Reports
//! and lineage are built from these records, never by reading storage back.

use crate::metrics::{EpochCounters, Usage};
use chrono::{DateTime, Utc};
use millrace_connectors::commit::{Checkpoint, EpochManifest};
use millrace_text::PiiKind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// One step of the funnel (the source read, a spec stage, the write) over an epoch or a run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StepRecord {
    /// `read`, `<n> <kind>` for spec stage n (1-based), `write`.
    pub name: String,
    pub kind: String,
    /// Index of the spec stage (0-based); none for read and write.
    pub stage: Option<usize>,
    pub rows_in: u64,
    pub rows_out: u64,
    /// Rows sent to the rejects sink with a reason.
    pub rows_rejected: u64,
    /// Rows dropped without a reason (a `sql:` stage's WHERE, a `--limit`).
    pub rows_filtered: u64,
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// CPU time of the step alone, measured on the threads that ran it.
    pub cpu_ns: u64,
}

impl StepRecord {
    fn add(&mut self, o: &StepRecord) {
        self.rows_in += o.rows_in;
        self.rows_out += o.rows_out;
        self.rows_rejected += o.rows_rejected;
        self.rows_filtered += o.rows_filtered;
        self.cpu_ns += o.cpu_ns;
        for (k, v) in &o.rejects_by_reason {
            *self.rejects_by_reason.entry(k.clone()).or_default() += v;
        }
    }
}

/// What one committed epoch did.
#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    pub epoch: u64,
    pub started_at: DateTime<Utc>,
    /// When its checkpoint was written (for a `--limit` preview, when its sinks were published).
    pub committed_at: DateTime<Utc>,
    pub units: usize,
    pub bytes_in: u64,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_filtered: u64,
    pub rows_rejected: u64,
    /// Input records that are no documents by design (web archive `request`, `metadata`, ...
    /// records and non-text responses): read = written + filtered + rejected + skipped.
    pub records_skipped: u64,
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// One per data sink, in spec order.
    pub manifests: Vec<EpochManifest>,
    pub rejects_manifest: EpochManifest,
    /// None for a `--limit` preview, which writes no checkpoint.
    pub checkpoint: Option<Checkpoint>,
    pub funnel: Vec<StepRecord>,
    /// The process's CPU time and peak memory when the epoch committed.
    pub usage: Usage,
}

impl EpochRecord {
    /// Records the epoch to the process's metrics (Prometheus when the library serves them; no-ops
    /// otherwise).
    pub(crate) fn export(&self, pipeline: &str) {
        let p = pipeline.to_string();
        for s in &self.funnel {
            let step = s.name.clone();
            for (what, n) in [("in", s.rows_in), ("out", s.rows_out), ("rejected", s.rows_rejected), ("filtered", s.rows_filtered)] {
                metrics::counter!("millrace_records_total", "pipeline" => p.clone(), "step" => step.clone(), "outcome" => what).increment(n);
            }
            metrics::counter!("millrace_step_cpu_milliseconds_total", "pipeline" => p.clone(), "step" => step).increment(s.cpu_ns / 1_000_000);
        }
        for m in &self.manifests {
            metrics::counter!("millrace_sink_bytes_total", "pipeline" => p.clone(), "sink" => m.sink.clone()).increment(m.bytes);
            metrics::counter!("millrace_sink_rows_total", "pipeline" => p.clone(), "sink" => m.sink.clone()).increment(m.rows);
        }
        let secs = (self.committed_at - self.started_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("millrace_epoch_duration_seconds", "pipeline" => p.clone()).record(secs);
        metrics::gauge!("millrace_last_committed_epoch", "pipeline" => p.clone()).set(self.epoch as f64);
        metrics::counter!("millrace_epochs_committed_total", "pipeline" => p).increment(1);
    }
}

/// The funnel of one epoch from its counters: rows in of each step are the rows out of the one
/// before it; what a step neither passed on nor rejected, it filtered.
pub(crate) fn funnel(
    spec: &millrace_spec::LoadedSpec,
    c: &EpochCounters,
    rows_read: u64,
    source_rejected: u64,
    by_reason: &BTreeMap<String, u64>,
) -> Vec<StepRecord> {
    let n = c.steps.len();
    let mut steps = Vec::with_capacity(n);
    let mut rows_in = rows_read + source_rejected;
    let mut stage_reasons: BTreeMap<String, u64> = BTreeMap::new();
    for (i, sc) in c.steps.iter().enumerate() {
        let (name, kind, stage) = if i == 0 {
            ("read".to_string(), "source".to_string(), None)
        } else if i == n - 1 {
            ("write".to_string(), "sinks".to_string(), None)
        } else {
            let kind = spec.spec.stages[i - 1].value.kind();
            (format!("{i} {kind}"), kind.to_string(), Some(i - 1))
        };
        let (rows_out, rows_rejected) = if i == 0 {
            (sc.rows_out.load(Relaxed), source_rejected)
        } else if i == n - 1 {
            (c.rows_out.load(Relaxed), 0)
        } else {
            (sc.rows_out.load(Relaxed), sc.rows_rejected.load(Relaxed))
        };
        let rejects_by_reason = if i == 0 { BTreeMap::new() } else { sc.reasons.lock().map(|g| g.clone()).unwrap_or_default() };
        for (k, v) in &rejects_by_reason {
            *stage_reasons.entry(k.clone()).or_default() += v;
        }
        steps.push(StepRecord {
            name,
            kind,
            stage,
            rows_in,
            rows_out,
            rows_rejected,
            rows_filtered: rows_in.saturating_sub(rows_out + rows_rejected),
            rejects_by_reason,
            cpu_ns: sc.cpu_ns.load(Relaxed),
        });
        rows_in = rows_out;
    }
    // What the source rejected is every reason the stages did not give.
    steps[0].rejects_by_reason = by_reason
        .iter()
        .filter_map(|(k, v)| {
            let left = v.saturating_sub(stage_reasons.get(k).copied().unwrap_or(0));
            (left > 0).then(|| (k.clone(), left))
        })
        .collect();
    steps
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SinkSummary {
    pub name: String,
    pub url: String,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    /// A `delta:` sink's newest table version this run committed (or found holding its epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_version: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub pipeline: String,
    pub spec_sha256: String,
    pub started_at: DateTime<Utc>,
    pub resumed_after_epoch: Option<u64>,
    pub skipped_units: u64,
    /// Input files that changed after an earlier epoch consumed them; not read again.
    pub changed_inputs: Vec<String>,
    pub files: u64,
    pub epochs_committed: u64,
    pub bytes_read: u64,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_filtered: u64,
    pub rows_rejected: u64,
    /// See [`EpochRecord::records_skipped`].
    pub records_skipped: u64,
    /// Storage requests that failed during the run and were retried (refused or cut connections,
    /// timeouts, 429/5xx answers): an outage the run rode out shows here.
    pub storage_request_failures: u64,
    pub rejects_by_reason: BTreeMap<String, u64>,
    pub sinks: Vec<SinkSummary>,
    pub limited: bool,
    pub wall_seconds: f64,
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
    pub mb_per_second: f64,
    pub docs_per_second: f64,
    pub mb_per_cpu_second: f64,
    /// read == written + filtered + rejected
    pub reconciled: bool,
    pub stages: StageCounts,
    /// Every step's rows and CPU time over the whole run.
    pub funnel: Vec<StepRecord>,
    /// The epochs this run committed, in order.
    #[serde(skip)]
    pub epochs: Vec<EpochRecord>,
    /// Profile of the committed rows, for the report.
    #[serde(skip)]
    pub profile: crate::profile::OutputProfile,
}

/// What stages counted beyond rows: PII found, tokens, duplicates by kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageCounts {
    pub pii_found: BTreeMap<String, u64>,
    pub tokens: Option<millrace_tokenise::TokenStatsSummary>,
    pub duplicates_exact: u64,
    pub duplicates_minhash: u64,
    pub duplicates_of_earlier_runs: u64,
}

impl StageCounts {
    pub(crate) fn from_metrics(m: &crate::metrics::StageMetrics, spec: &millrace_spec::LoadedSpec) -> Self {
        let has = |k: &str| spec.spec.stages.iter().any(|s| s.value.kind() == k);
        let mut c = StageCounts::default();
        if has("redact_pii") {
            for (i, k) in PiiKind::REPORTED.iter().enumerate() {
                c.pii_found.insert(k.name().to_string(), m.pii[i].load(Relaxed));
            }
        }
        if has("tokenise") {
            c.tokens = m.tokens.lock().ok().map(|t| t.summary());
        }
        c.duplicates_exact = m.dedupe_exact.load(Relaxed);
        c.duplicates_minhash = m.dedupe_minhash.load(Relaxed);
        c.duplicates_of_earlier_runs = m.dedupe_cross_run.load(Relaxed);
        c
    }
}

impl RunSummary {
    /// Adds a committed epoch to the totals.
    pub(crate) fn add_epoch(&mut self, e: EpochRecord) {
        self.epochs_committed += 1;
        self.rows_read += e.rows_read;
        self.rows_written += e.rows_written;
        self.rows_filtered += e.rows_filtered;
        self.rows_rejected += e.rows_rejected;
        self.records_skipped += e.records_skipped;
        for (k, v) in &e.rejects_by_reason {
            *self.rejects_by_reason.entry(k.clone()).or_default() += v;
        }
        for (ss, m) in self.sinks.iter_mut().zip(&e.manifests) {
            ss.files += m.files.len() as u64;
            ss.rows += m.rows;
            ss.bytes += m.bytes;
            ss.delta_version = ss.delta_version.max(m.delta_version);
        }
        if self.funnel.is_empty() {
            self.funnel = e.funnel.iter().map(|s| StepRecord { name: s.name.clone(), kind: s.kind.clone(), stage: s.stage, ..Default::default() }).collect();
        }
        for (t, s) in self.funnel.iter_mut().zip(&e.funnel) {
            t.add(s);
        }
        self.epochs.push(e);
    }

    pub(crate) fn finish(&mut self, wall: Duration, usage: Usage) {
        self.wall_seconds = wall.as_secs_f64();
        self.cpu_seconds = usage.cpu_seconds;
        self.peak_rss_bytes = usage.peak_rss_bytes;
        let mb = self.bytes_read as f64 / 1e6;
        self.mb_per_second = if self.wall_seconds > 0.0 { mb / self.wall_seconds } else { 0.0 };
        self.docs_per_second = if self.wall_seconds > 0.0 { self.rows_read as f64 / self.wall_seconds } else { 0.0 };
        self.mb_per_cpu_second = if self.cpu_seconds > 0.0 { mb / self.cpu_seconds } else { 0.0 };
        self.reconciled = self.rows_read == self.rows_written + self.rows_filtered + self.rows_rejected;
    }

    /// A plain-text table for terminals and logs.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let row = |s: &mut String, k: &str, v: String| s.push_str(&format!("  {k:<22} {v}\n"));
        s.push_str(&format!("Run {} of `{}`\n", self.run_id, self.pipeline));
        if let Some(e) = self.resumed_after_epoch {
            row(&mut s, "resumed after epoch", format!("{e} ({} units already done)", self.skipped_units));
        }
        row(&mut s, "epochs committed", self.epochs_committed.to_string());
        row(&mut s, "input", format!("{} files, {}", self.files, human_bytes(self.bytes_read)));
        row(&mut s, "rows read", self.rows_read.to_string());
        row(&mut s, "rows written", self.rows_written.to_string());
        row(&mut s, "rows filtered", self.rows_filtered.to_string());
        row(&mut s, "rows rejected", self.rows_rejected.to_string());
        for (k, v) in &self.rejects_by_reason {
            row(&mut s, &format!("  {k}"), v.to_string());
        }
        for (k, v) in &self.stages.pii_found {
            row(&mut s, &format!("pii {k}"), v.to_string());
        }
        if let Some(t) = &self.stages.tokens {
            row(&mut s, "tokens", format!("{} in {} docs (p50 {}, p90 {}, p99 {}, max {})", t.tokens, t.documents, t.p50, t.p90, t.p99, t.max));
        }
        if !self.funnel.is_empty() {
            row(&mut s, "funnel", "rows in -> out, CPU time".into());
        }
        for st in &self.funnel {
            let mut v = format!("{} -> {}", st.rows_in, st.rows_out);
            if st.rows_rejected > 0 {
                v.push_str(&format!(", {} rejected", st.rows_rejected));
            }
            if st.rows_filtered > 0 {
                v.push_str(&format!(", {} filtered", st.rows_filtered));
            }
            v.push_str(&format!(", {:.2} s", st.cpu_ns as f64 / 1e9));
            row(&mut s, &format!("  {}", st.name), v);
        }
        row(&mut s, "reconciled", if self.reconciled { "yes (read = written + filtered + rejected)".into() } else { "NO".into() });
        for sk in &self.sinks {
            let version = sk.delta_version.map(|v| format!(" (Delta version {v})")).unwrap_or_default();
            row(&mut s, &format!("sink {}", sk.name), format!("{} rows in {} files, {} -> {}{version}", sk.rows, sk.files, human_bytes(sk.bytes), sk.url));
        }
        row(&mut s, "wall time", format!("{:.2} s", self.wall_seconds));
        row(&mut s, "throughput", format!("{:.1} MB/s, {:.0} docs/s, {:.1} MB per CPU-second", self.mb_per_second, self.docs_per_second, self.mb_per_cpu_second));
        row(&mut s, "CPU time", format!("{:.2} s", self.cpu_seconds));
        row(&mut s, "peak RSS", human_bytes(self.peak_rss_bytes));
        if self.limited {
            s.push_str("  (--limit run: output is a preview, no checkpoint was written)\n");
        }
        s
    }
}

use millrace_report::fmt_bytes as human_bytes;
