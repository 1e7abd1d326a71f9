//! CSV with a header. Records are found by a CSV state machine (`csv-core`), so a quoted newline
//! is part of its record wherever the read buffer ends; records are decoded in bulk by arrow-csv.
//! A record with the wrong number of fields, a value that does not fit the run's schema, or no text
//! is rejected by itself with its line and offset; the rest of the file is read.
//!
//! The run's schema comes from the first file; every file is read by its own header (columns
//! matched by name), with the run's types, so one file cannot change another's types.

use super::UnitCtx;
use crate::listing::InputFile;
use crate::store::Location;
use crate::{ConnectorError, Result};
use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format as CsvFormat;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use csv_core::ReadRecordResult;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// Splits a byte stream into CSV records, keeping each record's raw bytes.
struct Splitter {
    rdr: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    nout: usize,
    nend: usize,
    /// The current record's raw bytes (bounded by `max_record_bytes`).
    raw: super::Capture,
    /// Byte offset and line where the current record started.
    start: u64,
    start_line: u64,
    pos: u64,
}

/// One record: its raw bytes (or their first 64 KiB), where it started, and its fields.
struct Record {
    raw: Vec<u8>,
    offset: u64,
    line: u64,
    fields: usize,
    /// Size and SHA-256 of a record longer than the bound.
    oversized: Option<(u64, String)>,
}

impl Splitter {
    fn new(delimiter: u8, max: u64) -> Self {
        Splitter {
            rdr: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            out: vec![0; 1 << 16],
            ends: vec![0; 64],
            nout: 0,
            nend: 0,
            raw: super::Capture::new(Vec::new(), max),
            start: 0,
            start_line: 1,
            pos: 0,
        }
    }

    /// Feeds `input` (empty at the end of the stream); returns the bytes consumed and the record
    /// completed, if any. Call again with the rest until nothing is consumed and no record comes.
    fn feed(&mut self, input: &[u8]) -> (usize, Option<Record>, bool) {
        let mut used = 0;
        loop {
            let inp = &input[used..];
            let (res, nin, nout, nend) = self.rdr.read_record(inp, &mut self.out[self.nout..], &mut self.ends[self.nend..]);
            self.raw.push(&inp[..nin]);
            used += nin;
            self.pos += nin as u64;
            self.nout += nout;
            self.nend += nend;
            match res {
                ReadRecordResult::InputEmpty => return (used, None, false),
                ReadRecordResult::OutputFull => {
                    if self.raw.oversized() {
                        self.nout = 0;
                    } else {
                        self.out.resize(self.out.len() * 2, 0);
                    }
                }
                ReadRecordResult::OutputEndsFull => {
                    if self.raw.oversized() {
                        self.nend = 0;
                    } else {
                        self.ends.resize(self.ends.len() * 2, 0);
                    }
                }
                ReadRecordResult::Record => {
                    let (raw, oversized) = self.raw.take();
                    let rec = Record { raw, offset: self.start, line: self.start_line, fields: self.nend, oversized };
                    self.nout = 0;
                    self.nend = 0;
                    self.start = self.pos;
                    self.start_line = self.rdr.line();
                    return (used, Some(rec), false);
                }
                ReadRecordResult::End => return (used, None, true),
            }
        }
    }

    /// The fields of the record just returned (valid until the next `feed`), as text.
    fn fields_of(&self, rec: &Record) -> Vec<String> {
        let mut v = Vec::with_capacity(rec.fields);
        let mut at = 0;
        for &end in &self.ends[..rec.fields.min(self.ends.len())] {
            v.push(String::from_utf8_lossy(&self.out[at..end.min(self.out.len())]).into_owned());
            at = end;
        }
        v
    }
}

/// Blank lines are not records.
fn is_blank(rec: &Record) -> bool {
    rec.fields <= 1 && rec.raw.iter().all(u8::is_ascii_whitespace)
}

pub(super) async fn infer(loc: &Location, file: &InputFile, opts: &super::ReadOptions) -> Result<Schema> {
    let r = super::open_sample(loc, file, opts).await?;
    let mut head = Vec::new();
    r.take(1 << 20).read_to_end(&mut head).await.map_err(|e| ConnectorError::read(&file.url, e))?;
    // Sample whole records that have the header's number of fields: a ragged row is rejected when
    // read, and must not make the schema impossible to infer.
    let mut sp = Splitter::new(opts.csv_delimiter, 1 << 20);
    let mut sample = Vec::new();
    let mut expected = None;
    let mut at = 0;
    loop {
        let eof = at >= head.len();
        let (used, rec, end) = sp.feed(&head[at..]);
        at += used;
        if let Some(rec) = rec {
            // The last record of a cut sample may be incomplete.
            if !(eof && !head.ends_with(b"\n")) && !is_blank(&rec) && *expected.get_or_insert(rec.fields) == rec.fields {
                sample.extend_from_slice(&rec.raw);
                if !rec.raw.ends_with(b"\n") {
                    sample.push(b'\n');
                }
            }
        }
        if end {
            break;
        }
    }
    let fmt = CsvFormat::default().with_header(opts.csv_header).with_delimiter(opts.csv_delimiter);
    let (schema, _) = fmt
        .infer_schema(std::io::Cursor::new(sample), Some(1000))
        .map_err(|e| ConnectorError::schema(&file.url, e))?;
    Ok(schema)
}

/// Good records waiting to be decoded.
struct Chunk {
    raw: Vec<u8>,
    recs: Vec<(u64, u64)>,
}

pub(super) async fn read(ctx: &UnitCtx<'_>) -> Result<()> {
    let mut r = ctx.open(0).await?;
    let mut sp = Splitter::new(ctx.opts.csv_delimiter, ctx.opts.max_record_bytes);
    let mut header: Option<Vec<String>> = None;
    let mut own: Option<SchemaRef> = None;
    let mut chunk = Chunk { raw: Vec::with_capacity(1 << 20), recs: Vec::new() };
    let limit = ctx.opts.batch_bytes.min(4 << 20);
    loop {
        let buf = r.fill_buf().await.map_err(|e| ConnectorError::read(ctx.url(), e))?;
        let (used, rec, end) = sp.feed(buf);
        r.consume(used);
        if let Some(rec) = rec {
            if !is_blank(&rec) {
                if let Some((n, hash)) = rec.oversized.clone() {
                    let reason = format!("record_too_large: {n} bytes, over max_record_bytes ({})", ctx.opts.max_record_bytes);
                    ctx.reject_full(Some(rec.line), Some(rec.offset), reason, &rec.raw, Some((n, hash))).await;
                } else if ctx.opts.csv_header && header.is_none() {
                    let names = sp.fields_of(&rec);
                    own = Some(file_schema(&names, ctx.schema));
                    header = Some(names);
                } else {
                    let own = own.get_or_insert_with(|| ctx.schema.clone());
                    let want = own.fields().len();
                    if rec.fields != want {
                        let reason = format!("invalid_csv: expected {want} fields, found {}", rec.fields);
                        ctx.reject(Some(rec.line), Some(rec.offset), reason, &rec.raw).await;
                    } else {
                        chunk.raw.extend_from_slice(&rec.raw);
                        if !rec.raw.ends_with(b"\n") {
                            chunk.raw.push(b'\n');
                        }
                        chunk.recs.push((rec.line, rec.offset));
                        if chunk.raw.len() >= limit || chunk.recs.len() >= ctx.opts.batch_rows {
                            if !flush(ctx, own, &mut chunk).await? {
                                return Ok(());
                            }
                        }
                    }
                }
            }
            continue;
        }
        if end {
            break;
        }
    }
    if let Some(own) = &own {
        flush(ctx, own, &mut chunk).await?;
    }
    Ok(())
}

/// The schema a file is decoded with: its own columns in its own order (CSV is positional), typed
/// as the run's schema says; columns the run does not have are read as text (and dropped later).
fn file_schema(names: &[String], run: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = names
        .iter()
        .map(|n| match run.field_with_name(n) {
            Ok(f) => Field::new(n, f.data_type().clone(), true),
            Err(_) => Field::new(n, DataType::Utf8, true),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn decode(own: &SchemaRef, delimiter: u8, raw: &[u8], rows: usize) -> std::result::Result<RecordBatch, String> {
    let mut d = ReaderBuilder::new(own.clone()).with_header(false).with_delimiter(delimiter).with_batch_size(rows.max(1)).build_decoder();
    super::decode_all(&mut d, raw, own)
}

/// Decodes the chunk (record by record when the bulk decode fails, so only bad records are
/// rejected), conforms it to the run's schema, rejects rows without text, and emits the rest.
async fn flush(ctx: &UnitCtx<'_>, own: &SchemaRef, chunk: &mut Chunk) -> Result<bool> {
    if chunk.recs.is_empty() {
        return Ok(true);
    }
    let recs = std::mem::take(&mut chunk.recs);
    let raw = std::mem::take(&mut chunk.raw);
    let (batch, kept) = match decode(own, ctx.opts.csv_delimiter, &raw, recs.len()) {
        Ok(b) => (b, recs),
        Err(_) => {
            let mut good = Vec::new();
            let mut kept = Vec::new();
            let lines = split_records(&raw, recs.len(), ctx.opts.csv_delimiter);
            for (rec_raw, pos) in lines.iter().zip(recs.iter()) {
                match decode(own, ctx.opts.csv_delimiter, rec_raw, 1) {
                    Ok(b) => {
                        good.push(b);
                        kept.push(*pos);
                    }
                    Err(e) => ctx.reject(Some(pos.0), Some(pos.1), format!("schema_mismatch: {e}"), rec_raw).await,
                }
            }
            (arrow::compute::concat_batches(own, &good).map_err(|e| ConnectorError::read(ctx.url(), e))?, kept)
        }
    };
    chunk.raw = raw;
    chunk.raw.clear();
    let batch = ctx.conform(&batch)?;
    let batch = super::fill_ids(batch, 0, |i| ctx.generated_id(kept.get(i).map(|p| p.1).unwrap_or(0)))?;
    // A row without text is not a document: reject it, as the JSONL reader does.
    let text = batch.column_by_name(&ctx.opts.text_field).map(|c| c.logical_nulls());
    let batch = match text.flatten() {
        Some(nulls) if nulls.null_count() > 0 => {
            for i in 0..batch.num_rows() {
                if nulls.is_null(i) {
                    let json = crate::reject::row_json(&batch, i);
                    let (line, offset) = kept.get(i).copied().unwrap_or((0, 0));
                    ctx.reject(Some(line), Some(offset), format!("missing_text_field: `{}` is empty", ctx.opts.text_field), json.as_bytes()).await;
                }
            }
            let keep = BooleanArray::from((0..batch.num_rows()).map(|i| nulls.is_valid(i)).collect::<Vec<_>>());
            arrow::compute::filter_record_batch(&batch, &keep).map_err(|e| ConnectorError::read(ctx.url(), e))?
        }
        _ => batch,
    };
    if batch.num_rows() == 0 {
        return Ok(true);
    }
    Ok(ctx.emit(batch).await)
}

/// The raw bytes of each of the `n` records in `raw` (records found again by the state machine).
fn split_records(raw: &[u8], n: usize, delimiter: u8) -> Vec<Vec<u8>> {
    let mut sp = Splitter::new(delimiter, u64::MAX);
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    loop {
        let (used, rec, end) = sp.feed(&raw[at..]);
        at += used;
        if let Some(rec) = rec {
            out.push(rec.raw);
            continue;
        }
        if end {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &[u8], step: usize) -> Vec<(u64, u64, usize, Vec<u8>)> {
        let mut sp = Splitter::new(b',', 1 << 20);
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let end_of = (at + step).min(input.len());
            let (used, rec, end) = sp.feed(&input[at..end_of]);
            at += used;
            if let Some(r) = rec {
                out.push((r.line, r.offset, r.fields, r.raw));
                continue;
            }
            if end {
                break;
            }
        }
        out
    }

    #[test]
    fn quoted_newlines_stay_in_their_record_whatever_the_buffer() {
        let input = b"id,text\n1,\"two\nlines\"\n2,plain\n3,\"a,b\"";
        for step in [1, 3, 7, 64] {
            let r = records(input, step);
            assert_eq!(r.len(), 4, "step {step}: {r:?}");
            assert_eq!(r[1].3, b"1,\"two\nlines\"\n".to_vec());
            assert_eq!((r[1].0, r[1].1, r[1].2), (2, 8, 2));
            assert_eq!((r[2].0, r[2].1), (4, 22));
            assert_eq!(r[3].3, b"3,\"a,b\"".to_vec());
        }
    }

    #[test]
    fn ragged_records_keep_their_field_count() {
        let r = records(b"a,b\n1,2,3\n4\n", 5);
        assert_eq!(r.iter().map(|x| x.2).collect::<Vec<_>>(), vec![2, 3, 1]);
    }
}
