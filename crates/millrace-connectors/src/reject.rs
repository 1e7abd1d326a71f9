//! Rejected records: what was wrong, where it came from, and the record itself, so nothing is lost.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
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
    /// The raw record (source rejects) or the row as JSON (stage rejects); at most
    /// [`MAX_PAYLOAD`] bytes of it.
    pub record: String,
    /// Set when `record` is not the whole record: the full record's size in bytes and SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_sha256: Option<String>,
    /// The raw bytes (base64) when they are not valid UTF-8, so the record survives exactly;
    /// `record` then holds a lossy copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_base64: Option<String>,
}

/// The id of a rejected JSON record, when the record parses as far as its `id_field` (a string or
/// a number at the top level): a record rejected for a missing text field, a bad value later in
/// the line or a truncated tail can still be traced to its document.
pub fn readable_id(raw: &[u8], id_field: &str) -> Option<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Find<'a> {
        key: &'a str,
        // Kept outside the visitor's result: serde_json checks the closing brace after the visit,
        // and a record broken after its id fails that check.
        found: &'a std::cell::RefCell<Option<String>>,
    }
    impl<'de> Visitor<'de> for Find<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            // Entries are read in order and the search stops at the id: what follows may be broken.
            while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if k == self.key {
                    *self.found.borrow_mut() = match map.next_value::<serde_json::Value>()? {
                        serde_json::Value::String(s) => Some(s),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    };
                    return Ok(());
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let found = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(raw);
    let _ = (&mut de).deserialize_map(Find { key: id_field, found: &found });
    found.into_inner()
}

/// Most bytes of a record kept in a reject: a flood of huge bad records must not grow memory.
pub const MAX_PAYLOAD: usize = 64 << 10;

impl Reject {
    /// A reject of raw source bytes: kept whole when small and valid UTF-8; otherwise capped at
    /// [`MAX_PAYLOAD`] with the size and hash of `full_len` bytes (`full_hash` when the caller
    /// hashed more than it kept), and base64 when not UTF-8.
    pub fn with_raw(mut self, raw: &[u8], full: Option<(u64, String)>) -> Self {
        use base64::Engine;
        use sha2::Digest;
        let kept = &raw[..raw.len().min(MAX_PAYLOAD)];
        let truncated = kept.len() < raw.len() || full.is_some();
        match std::str::from_utf8(kept) {
            Ok(s) => self.record = s.to_string(),
            Err(e) if truncated && e.error_len().is_none() => {
                // Cut inside a character: keep the valid prefix.
                self.record = String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned();
            }
            Err(_) => {
                self.record = String::from_utf8_lossy(kept).into_owned();
                self.record_base64 = Some(base64::engine::general_purpose::STANDARD.encode(kept));
            }
        }
        if truncated {
            let (n, h) = full.unwrap_or_else(|| (raw.len() as u64, hex::encode(sha2::Sha256::digest(raw))));
            self.record_bytes = Some(n);
            self.record_sha256 = Some(h);
        }
        self
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn payloads_are_capped_and_kept_exactly() {
        let r = Reject::default().with_raw(b"{\"a\":1}", None);
        assert_eq!(r.record, "{\"a\":1}");
        assert!(r.record_bytes.is_none() && r.record_base64.is_none());
        let big = vec![b'x'; MAX_PAYLOAD * 2];
        let r = Reject::default().with_raw(&big, None);
        assert_eq!(r.record.len(), MAX_PAYLOAD);
        assert_eq!(r.record_bytes, Some(big.len() as u64));
        assert_eq!(r.record_sha256.as_deref().map(str::len), Some(64));
        let r = Reject::default().with_raw(b"ok \xff\xfe bytes", None);
        assert_eq!(r.record_base64.as_deref(), Some("b2sg//4gYnl0ZXM="));
    }
}

/// Every row of `batch` as JSON, in order: one encoder pass over the batch instead of one per row
/// (a batch of rejected rows is often most of a batch: a quality filter drops most documents).
pub fn rows_json(batch: &arrow::record_batch::RecordBatch) -> Vec<String> {
    let mut w = arrow::json::LineDelimitedWriter::new(Vec::with_capacity(batch.get_array_memory_size()));
    if w.write(batch).is_err() || w.finish().is_err() {
        return (0..batch.num_rows()).map(|i| row_json(batch, i)).collect();
    }
    let out = w.into_inner();
    // JSON text escapes newlines inside strings, so each line is one row.
    let rows: Vec<String> = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| String::from_utf8_lossy(l).into_owned()).collect();
    if rows.len() == batch.num_rows() {
        rows
    } else {
        (0..batch.num_rows()).map(|i| row_json(batch, i)).collect()
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

#[cfg(test)]
mod row_tests {
    use super::{row_json, rows_json};
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn a_batch_encodes_as_its_rows_one_by_one() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("two\nlines"), None, Some("quote \" and \\"), Some("")]));
        let n: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(4)]));
        let b = arrow::record_batch::RecordBatch::try_from_iter([("text", text), ("n", n)]).unwrap();
        let each: Vec<String> = (0..b.num_rows()).map(|i| row_json(&b, i)).collect();
        assert_eq!(rows_json(&b), each);
        assert_eq!(each[0], r#"{"text":"two\nlines","n":1}"#);
    }
}

#[cfg(test)]
mod id_tests {
    use super::readable_id;

    #[test]
    fn the_id_is_read_as_far_as_the_record_parses() {
        assert_eq!(readable_id(br#"{"id": "missing-text-1", "title": "x"}"#, "id").as_deref(), Some("missing-text-1"));
        assert_eq!(readable_id(br#"{"n": {"id": "nested"}, "id": 42, "text": 7}"#, "id").as_deref(), Some("42"));
        // Broken after the id: still read. Broken before it, or no object: none.
        assert_eq!(readable_id(br#"{"id": "broken", "text": "#, "id").as_deref(), Some("broken"));
        assert_eq!(readable_id(br#"{"text": , "id": "after"}"#, "id"), None);
        assert_eq!(readable_id(b"[1, 2]", "id"), None);
        assert_eq!(readable_id(br#"{"doc_id": "d1"}"#, "doc_id").as_deref(), Some("d1"));
        assert_eq!(readable_id(br#"{"id": null}"#, "id"), None);
    }
}
