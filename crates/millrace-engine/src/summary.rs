//! The run summary: counts that reconcile (read = written + filtered + rejected), throughput, CPU and
//! peak memory; printed as a table or JSON.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Default, Serialize)]
pub struct SinkSummary {
    pub name: String,
    pub url: String,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub pipeline: String,
    pub spec_sha256: String,
    pub started_at: String,
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
    pub(crate) fn from_metrics(m: &crate::stages::StageMetrics, spec: &millrace_spec::LoadedSpec) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let has = |k: &str| spec.spec.stages.iter().any(|s| s.value.kind() == k);
        let mut c = StageCounts::default();
        if has("redact_pii") {
            for (i, k) in crate::stages::PII_KINDS.iter().enumerate() {
                c.pii_found.insert(k.to_string(), m.pii[i].load(Relaxed));
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

pub(crate) struct Usage {
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
}

pub(crate) fn resource_usage() -> Usage {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0;
    if !ok {
        return Usage { cpu_seconds: 0.0, peak_rss_bytes: 0 };
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Usage { cpu_seconds: tv(ru.ru_utime) + tv(ru.ru_stime), peak_rss_bytes: ru.ru_maxrss as u64 * 1024 }
}

impl RunSummary {
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
        row(&mut s, "reconciled", if self.reconciled { "yes (read = written + filtered + rejected)".into() } else { "NO".into() });
        for sk in &self.sinks {
            row(&mut s, &format!("sink {}", sk.name), format!("{} rows in {} files, {} -> {}", sk.rows, sk.files, human_bytes(sk.bytes), sk.url));
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

pub fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b} B")
    }
}
