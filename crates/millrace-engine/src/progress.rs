//! Progress bar on stderr: bytes of input consumed (ETA against the planned total) and docs per second.

use indicatif::{ProgressBar, ProgressStyle};
use millrace_connectors::source::SourceMetrics;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub(crate) struct Progress {
    bar: ProgressBar,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Progress {
    pub fn start(total: u64, metrics: Arc<SourceMetrics>) -> Self {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (b, s) = (bar.clone(), stop.clone());
        tokio::spawn(async move {
            let t0 = Instant::now();
            while !s.load(Ordering::Relaxed) {
                let docs = metrics.rows_read.load(Ordering::Relaxed) + metrics.rows_rejected.load(Ordering::Relaxed);
                b.set_position(metrics.bytes_read.load(Ordering::Relaxed));
                let secs = t0.elapsed().as_secs_f64().max(1e-3);
                b.set_message(format!("{docs} docs ({:.0}/s)", docs as f64 / secs));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self { bar, stop }
    }
    pub fn finish(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.bar.finish_and_clear();
    }
}
