//! Counters a run fills while it executes: per epoch (rows out, rows rejected by stages, and one
//! [`StageCounter`] per step of the funnel) and per run (PII found, tokens, duplicates by kind), plus
//! CPU time and peak memory. Every other module writes here; none of them owns a counter.

use millrace_text::PiiKind;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Counters of one step of the funnel in one epoch: the source read, each spec stage, the write.
#[derive(Debug, Default)]
pub struct StageCounter {
    /// Live rows the step passed on.
    pub rows_out: AtomicU64,
    /// Rows the step rejected (sent to the rejects sink with a reason).
    pub rows_rejected: AtomicU64,
    /// CPU time of the step alone, in nanoseconds: see [`timed`].
    pub cpu_ns: AtomicU64,
    pub reasons: Mutex<BTreeMap<String, u64>>,
}

impl StageCounter {
    pub fn reject_reason(&self, reason: &str, n: u64) {
        if let Ok(mut g) = self.reasons.lock() {
            *g.entry(reason_key(reason).to_string()).or_default() += n;
        }
    }
}

/// The reason's kind, without its detail: `dedupe:exact: duplicate of 7` -> `dedupe:exact`.
pub fn reason_key(reason: &str) -> &str {
    reason.split(": ").next().unwrap_or("")
}

/// Counters of one epoch, filled by the readers, the stage taps and the writer tasks.
#[derive(Debug)]
pub struct EpochCounters {
    pub rows_out: AtomicU64,
    pub stage_rejected: AtomicU64,
    /// `[read, stage 1, ..., stage N, write]`.
    pub steps: Vec<StageCounter>,
}

impl EpochCounters {
    pub fn new(stages: usize) -> Self {
        Self { rows_out: AtomicU64::new(0), stage_rejected: AtomicU64::new(0), steps: (0..stages + 2).map(|_| StageCounter::default()).collect() }
    }

    pub const READ_STEP: usize = 0;

    pub fn write_step(&self) -> usize {
        self.steps.len() - 1
    }
}

/// Counters of stages that a run reports as totals, shared by every epoch of a run.
#[derive(Default)]
pub struct StageMetrics {
    /// PII found, indexed like [`PiiKind::REPORTED`].
    pub pii: [AtomicU64; 5],
    pub tokens: Mutex<millrace_tokenise::TokenStats>,
    pub dedupe_exact: AtomicU64,
    pub dedupe_minhash: AtomicU64,
    pub dedupe_cross_run: AtomicU64,
}

impl StageMetrics {
    pub fn add_pii(&self, counts: &millrace_text::PiiCounts) {
        for (i, k) in PiiKind::REPORTED.iter().enumerate() {
            self.pii[i].fetch_add(counts.get(*k) as u64, Ordering::Relaxed);
        }
    }
}

/// CPU time of the calling thread, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    // SAFETY: clock_gettime only writes into the struct we pass.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

thread_local! {
    /// CPU time spent in [`timed`] calls nested in the one running on this thread.
    static NESTED_NS: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` and adds the thread CPU time it took to `counter`, minus the time of `timed` calls
/// nested inside it (steps are pulled through each other on one thread: a stage's poll polls the
/// stage before it). So each step is charged only its own work, whichever task or thread runs it.
pub fn timed<R>(counter: &AtomicU64, f: impl FnOnce() -> R) -> R {
    let outer = NESTED_NS.with(|n| n.replace(0));
    let t0 = thread_cpu_ns();
    let r = f();
    let elapsed = thread_cpu_ns().saturating_sub(t0);
    let nested = NESTED_NS.with(|n| n.replace(outer + elapsed));
    counter.fetch_add(elapsed.saturating_sub(nested), Ordering::Relaxed);
    r
}

/// A task's future whose CPU time is charged to one funnel step (readers, writers).
pub struct CpuTimed<F> {
    inner: Pin<Box<F>>,
    counters: Arc<EpochCounters>,
    step: usize,
}

impl<F: Future> CpuTimed<F> {
    pub fn new(inner: F, counters: Arc<EpochCounters>, step: usize) -> Self {
        Self { inner: Box::pin(inner), counters, step }
    }
}

impl<F: Future> Future for CpuTimed<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let counters = self.counters.clone();
        let step = self.step;
        timed(&counters.steps[step].cpu_ns, || self.inner.as_mut().poll(cx))
    }
}

/// Process CPU time and peak resident memory so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
}

pub fn resource_usage() -> Usage {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0;
    if !ok {
        return Usage::default();
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Usage { cpu_seconds: tv(ru.ru_utime) + tv(ru.ru_stime), peak_rss_bytes: ru.ru_maxrss as u64 * 1024 }
}
