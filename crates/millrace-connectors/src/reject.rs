//! Rejected records: what was wrong, where it came from, and the record itself, so nothing is lost.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reject {
    /// The document id when known (rejects from stages have one; unparsable source lines do not).
    pub id: Option<String>,
    /// `source`, or the stage that rejected the row (`filter`, `dedupe`, ...).
    pub stage: String,
    /// Machine-readable reason first (`invalid_json: ...`, `gopher_quality:gopher_short_doc`).
    pub reason: String,
    pub source: Option<String>,
    pub line: Option<u64>,
    pub offset: Option<u64>,
    /// The raw record (source rejects) or the row as JSON (stage rejects).
    pub record: String,
}

/// Cloneable handle that readers and stages send rejects through; a bounded channel, so a flood of
/// bad records applies backpressure instead of growing memory.
#[derive(Clone)]
pub struct RejectSender {
    tx: mpsc::Sender<Reject>,
}

impl RejectSender {
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Reject>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Self { tx }, rx)
    }
    /// A sender whose records go nowhere: for schema sampling, which rejects nothing for real.
    pub fn detached() -> (Self, ()) {
        let (tx, _rx) = mpsc::channel(1);
        (Self { tx }, ())
    }
    pub async fn send(&self, r: Reject) {
        if self.tx.send(r).await.is_err() {
            tracing::debug!("reject channel closed");
        }
    }
    pub fn blocking_send(&self, r: Reject) {
        if self.tx.blocking_send(r).is_err() {
            tracing::debug!("reject channel closed");
        }
    }
}

/// One row of a batch as a JSON object: the `record` of a reject that came from a table.
pub fn row_json(batch: &arrow::record_batch::RecordBatch, i: usize) -> String {
    let slice = batch.slice(i, 1);
    let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
    if w.write(&slice).is_err() || w.finish().is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&w.into_inner()).trim_end().to_string()
}
