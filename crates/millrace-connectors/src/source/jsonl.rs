//! JSON Lines: each line is checked without allocating (UTF-8, an object, a string text field), good
//! lines are decoded in bulk by arrow-json's tape decoder, and bad ones are rejected with line/offset.

use super::schema::Known;
use super::{UnitCtx, fill_ids};
use crate::listing::InputFile;
use crate::store::Location;
use crate::{ConnectorError, Result};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::json::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

const SAMPLE_LINES: usize = 1000;

/// The schema of the first records of `files` (conflicts widened, see [`super::schema`]), and the
/// mean line length of the first file's sample (a JSON line is about its row's size).
pub(super) async fn infer(registry: &crate::store::StoreRegistry, files: &[&InputFile], opts: &super::ReadOptions) -> Result<(Schema, Option<u64>)> {
    let mut values = Vec::new();
    let mut row_bytes = None;
    for (i, file) in files.iter().enumerate() {
        let loc = registry.resolve(&file.url)?;
        let (bytes, seen) = sample(&loc, file, opts, &mut values).await?;
        if i == 0 {
            row_bytes = (seen > 0).then(|| bytes / seen);
        }
    }
    Ok((super::schema::infer_values(&values), row_bytes))
}

/// Appends up to [`SAMPLE_LINES`] objects from the start of `file` to `values`; returns the bytes
/// and lines looked at.
async fn sample(loc: &Location, file: &InputFile, opts: &super::ReadOptions, values: &mut Vec<serde_json::Value>) -> Result<(u64, u64)> {
    let mut r = super::open_sample(loc, file, opts).await?;
    let mut line = Vec::new();
    let (mut seen, mut taken, mut bytes) = (0u64, 0, 0u64);
    while taken < SAMPLE_LINES && seen < SAMPLE_LINES as u64 * 10 {
        let l = super::read_line_bounded(&mut r, &mut line, opts.max_record_bytes).await.map_err(|e| ConnectorError::read(&file.url, e))?;
        if l.consumed == 0 {
            break;
        }
        seen += 1;
        bytes += l.consumed;
        if l.oversized.is_some() {
            continue;
        }
        if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_slice::<serde_json::Value>(&line) {
            values.push(v);
            taken += 1;
        }
    }
    Ok((bytes, seen))
}

struct Pending {
    buf: Vec<u8>,
    /// (line number if known, byte offset) of each buffered record.
    pos: Vec<(Option<u64>, u64)>,
    decoder: Option<arrow::json::reader::Decoder>,
}

pub(super) async fn read(ctx: &UnitCtx<'_>) -> Result<()> {
    let (start, end) = ctx.unit.range.unwrap_or((0, u64::MAX));
    let whole = ctx.unit.range.is_none();
    let open_at = start.saturating_sub(1);
    let mut r = ctx.open(open_at).await?;
    let mut pos = open_at;
    let mut line = Vec::with_capacity(64 << 10);
    if start > 0 {
        // The line that straddles `start` belongs to the previous range; reading from `start - 1`
        // makes a line that begins exactly at `start` ours. It is skipped without being held.
        let l = super::read_line_bounded(&mut r, &mut line, 0).await.map_err(|e| ConnectorError::read(ctx.url(), e))?;
        pos += l.consumed;
    }
    let max = ctx.opts.max_record_bytes;
    // arrow-json casts 1.9 to 1 in an integer column: such values are checked here and rejected.
    let ints: Vec<&str> = ctx.schema.fields().iter().filter(|f| f.data_type().is_integer()).map(|f| f.name().as_str()).collect();
    let known = super::schema::Known::of(ctx.schema, ctx.opts.schema.mode);
    let mut line_no = 0u64;
    let mut p = Pending { buf: Vec::with_capacity(ctx.opts.batch_bytes.min(64 << 20)), pos: Vec::new(), decoder: None };
    while pos < end {
        let l = super::read_line_bounded(&mut r, &mut line, max).await.map_err(|e| ConnectorError::read(ctx.url(), format!("at byte {pos}: {e}")))?;
        if l.consumed == 0 {
            break;
        }
        let offset = pos;
        pos += l.consumed;
        line_no += 1;
        let ln = whole.then_some(line_no);
        if let Some((n, hash)) = l.oversized {
            let reason = format!("record_too_large: {n} bytes, over max_record_bytes ({max})");
            ctx.reject_full(ln, Some(offset), reason, &line, Some((n, hash))).await;
            continue;
        }
        let mut rec: &[u8] = &line;
        while let [rest @ .., b'\n' | b'\r'] = rec {
            rec = rest;
        }
        if rec.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Err(e) = std::str::from_utf8(rec) {
            ctx.reject(ln, Some(offset), format!("invalid_utf8: {e}"), rec).await;
            continue;
        }
        let admitted = match admit(rec, &ctx.opts.text_field, &ints, &known) {
            Ok(r) => r,
            Err(reason) => {
                ctx.reject(ln, Some(offset), reason, rec).await;
                continue;
            }
        };
        let rec: &[u8] = &admitted;
        // Flushing before a record that would overflow the batch keeps the buffer within its
        // preallocated size, so it never doubles.
        if !p.pos.is_empty() && (p.pos.len() >= ctx.opts.batch_rows || p.buf.len() + rec.len() >= ctx.opts.batch_bytes) {
            if !flush(ctx, &mut p).await? {
                return Ok(());
            }
        }
        p.buf.extend_from_slice(rec);
        p.buf.push(b'\n');
        p.pos.push((ln, offset));
    }
    flush(ctx, &mut p).await?;
    Ok(())
}

/// Decodes the buffered lines; if the batch fails (a value of the wrong type for the run's schema),
/// decodes line by line so that only the offending records are rejected.
async fn flush(ctx: &UnitCtx<'_>, p: &mut Pending) -> Result<bool> {
    if p.pos.is_empty() {
        return Ok(true);
    }
    let positions = std::mem::take(&mut p.pos);
    let buf = std::mem::take(&mut p.buf);
    // One decoder for the unit: its buffers are kept between batches instead of allocated (and
    // page-faulted in) for each.
    let decoded = match p.decoder.take() {
        Some(d) => Ok(d),
        None => decoder(ctx.schema, ctx.opts.batch_rows),
    }
    .and_then(|mut d| {
        let b = super::decode_all(&mut d, &buf, ctx.schema)?;
        p.decoder = Some(d);
        Ok(b)
    });
    let batch = match decoded {
        Ok(b) => with_ids(ctx, b, &positions)?,
        // A failed decoder is dropped (its state is not known); the next batch gets a new one.
        Err(_) => {
            let mut good = Vec::new();
            let mut good_pos = Vec::new();
            for (rec, pos) in buf.split(|b| *b == b'\n').zip(positions.iter()) {
                match decode(ctx, rec, 1) {
                    Ok(b) => {
                        good.push(b);
                        good_pos.push(*pos);
                    }
                    Err(e) => {
                        ctx.reject(pos.0, Some(pos.1), format!("schema_mismatch: {e}"), rec)
                            .await
                    }
                }
            }
            let b = arrow::compute::concat_batches(ctx.schema, &good).map_err(|e| ConnectorError::read(ctx.url(), e))?;
            with_ids(ctx, b, &good_pos)?
        }
    };
    p.buf = buf;
    p.buf.clear();
    if batch.num_rows() == 0 {
        return Ok(true);
    }
    Ok(ctx.emit(batch).await)
}

fn with_ids(ctx: &UnitCtx<'_>, b: RecordBatch, pos: &[(Option<u64>, u64)]) -> Result<RecordBatch> {
    let id_idx = 0;
    fill_ids(b, id_idx, |i| ctx.generated_id(pos.get(i).map(|p| p.1).unwrap_or(0)))
}

fn decode(ctx: &UnitCtx<'_>, buf: &[u8], rows: usize) -> std::result::Result<RecordBatch, String> {
    decode_with(ctx.schema, buf, rows)
}

/// Decodes `rows` newline-separated JSON objects, already checked by [`probe_with`], into `schema`.
pub(super) fn decode_with(schema: &SchemaRef, buf: &[u8], rows: usize) -> std::result::Result<RecordBatch, String> {
    super::decode_all(&mut decoder(schema, rows)?, buf, schema)
}

/// A decoder of up to `rows` JSON objects per batch into `schema`.
fn decoder(schema: &SchemaRef, rows: usize) -> std::result::Result<arrow::json::reader::Decoder, String> {
    ReaderBuilder::new(schema.clone()).with_coerce_primitive(true).with_batch_size(rows.max(1)).build_decoder().map_err(|e| e.to_string())
}

/// A JSON record as it goes to the decoder: checked by [`probe_with`], and with its fields outside
/// the run's columns dealt with as the schema mode says (moved into `_extra`, or the reject reason).
/// Borrowed unless it had such fields.
pub(crate) fn admit<'a>(rec: &'a [u8], field: &str, ints: &[&str], known: &Known) -> std::result::Result<std::borrow::Cow<'a, [u8]>, String> {
    let unknown = probe_with(rec, field, ints, Some(known))?;
    if unknown.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(rec));
    }
    super::schema::outside(rec, &unknown, known).map(std::borrow::Cow::Owned)
}

/// Checks that a line is one JSON object whose `field` is a string, without building a value tree.
#[cfg(test)]
pub(crate) fn probe(rec: &[u8], field: &str) -> std::result::Result<(), String> {
    probe_with(rec, field, &[], None).map(|_| ())
}

/// [`probe`], also checking that the fields in `ints` hold whole numbers (or null); returns the
/// record's top-level fields that `known` lacks (none when `known` is not given).
pub(crate) fn probe_with(rec: &[u8], field: &str, ints: &[&str], known: Option<&Known>) -> std::result::Result<Vec<String>, String> {
    let first = rec.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err("not_an_object: a JSONL record must be a JSON object".into());
    }
    let mut de = serde_json::Deserializer::from_slice(rec);
    let (state, not_int, unknown) = ProbeSeed { field, ints, known }.deserialize(&mut de).map_err(|e| format!("invalid_json: {e}"))?;
    de.end().map_err(|e| format!("invalid_json: {e}"))?;
    if let Some(name) = not_int {
        return Err(format!("schema_mismatch: `{name}` is not a whole number, and the column is an integer column"));
    }
    match state {
        TextState::Ok => Ok(unknown),
        TextState::Missing => Err(format!("missing_text_field: no `{field}`")),
        TextState::Null => Err(format!("missing_text_field: `{field}` is null")),
        TextState::NotString => Err(format!("text_not_a_string: `{field}` is not a string")),
    }
}

enum TextState {
    Ok,
    Missing,
    Null,
    NotString,
}

struct ProbeSeed<'a> {
    field: &'a str,
    ints: &'a [&'a str],
    known: Option<&'a Known>,
}

impl<'de> DeserializeSeed<'de> for ProbeSeed<'_> {
    type Value = (TextState, Option<String>, Vec<String>);
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ProbeSeed<'_> {
    type Value = (TextState, Option<String>, Vec<String>);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let mut state = TextState::Missing;
        let mut not_int = None;
        let mut unknown = Vec::new();
        while let Some(key) = map.next_key_seed(KeyIs(self.field, self.ints, self.known))? {
            match key {
                Key::Text => state = map.next_value::<StrCheck>()?.0,
                Key::Int(i) => {
                    if !map.next_value::<IntCheck>()?.0 && not_int.is_none() {
                        not_int = Some(self.ints[i].to_string());
                    }
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    if !unknown.contains(&name) {
                        unknown.push(name);
                    }
                }
            }
        }
        Ok((state, not_int, unknown))
    }
}

enum Key {
    Text,
    Int(usize),
    Other,
    /// Not a column of the run's schema.
    Unknown(String),
}

struct KeyIs<'a>(&'a str, &'a [&'a str], Option<&'a Known>);
impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = Key;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}
impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Key, E> {
        Ok(if v == self.0 {
            Key::Text
        } else {
            match self.1.iter().position(|k| *k == v) {
                Some(i) => Key::Int(i),
                None if self.2.is_some_and(|k| !k.contains(v)) => Key::Unknown(v.to_string()),
                None => Key::Other,
            }
        })
    }
}

/// Whether a value can go into an integer column unchanged: a whole number, null, or anything that
/// is not a number (arrow-json then decides, and a string that is no integer fails decoding).
struct IntCheck(bool);
impl<'de> serde::Deserialize<'de> for IntCheck {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(IntVisitor)
    }
}
struct IntVisitor;
impl<'de> Visitor<'de> for IntVisitor {
    type Value = IntCheck;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<IntCheck, E> {
        Ok(IntCheck(v.fract() == 0.0 && v.abs() < 9.0e15))
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<IntCheck, E> {
        Ok(IntCheck(true))
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<IntCheck, E> {
        Ok(IntCheck(true))
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<IntCheck, E> {
        Ok(IntCheck(true))
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<IntCheck, E> {
        Ok(IntCheck(true))
    }
    fn visit_unit<E>(self) -> std::result::Result<IntCheck, E> {
        Ok(IntCheck(true))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<IntCheck, A::Error> {
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(IntCheck(true))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> std::result::Result<IntCheck, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(IntCheck(true))
    }
}

struct StrCheck(TextState);
impl<'de> serde::Deserialize<'de> for StrCheck {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrVisitor)
    }
}
struct StrVisitor;
impl<'de> Visitor<'de> for StrVisitor {
    type Value = StrCheck;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<StrCheck, E> {
        Ok(StrCheck(TextState::Ok))
    }
    fn visit_unit<E>(self) -> std::result::Result<StrCheck, E> {
        Ok(StrCheck(TextState::Null))
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<StrCheck, E> {
        Ok(StrCheck(TextState::NotString))
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<StrCheck, E> {
        Ok(StrCheck(TextState::NotString))
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<StrCheck, E> {
        Ok(StrCheck(TextState::NotString))
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<StrCheck, E> {
        Ok(StrCheck(TextState::NotString))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<StrCheck, A::Error> {
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(StrCheck(TextState::NotString))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> std::result::Result<StrCheck, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(StrCheck(TextState::NotString))
    }
}

#[cfg(test)]
mod tests {
    use super::probe;
    #[test]
    fn probe_classifies() {
        assert!(probe(br#"{"id":1,"text":"hi","x":{"a":[1,2]}}"#, "text").is_ok());
        assert!(probe(br#"{"te\u0078t":"escaped key"}"#, "text").is_ok());
        assert!(probe(br#"{"id":1}"#, "text").unwrap_err().starts_with("missing_text_field"));
        assert!(probe(br#"{"text":null}"#, "text").unwrap_err().starts_with("missing_text_field"));
        assert!(probe(br#"{"text":5}"#, "text").unwrap_err().starts_with("text_not_a_string"));
        assert!(probe(br#"{"text":"a""#, "text").unwrap_err().starts_with("invalid_json"));
        assert!(probe(br#"{"text":"a"} x"#, "text").unwrap_err().starts_with("invalid_json"));
        assert!(probe(br#"[1,2]"#, "text").unwrap_err().starts_with("not_an_object"));
        // A fraction in an integer column would be truncated by the decoder: rejected instead.
        assert!(super::probe_with(br#"{"text":"a","n":1.9}"#, "text", &["n"], None).unwrap_err().starts_with("schema_mismatch"));
        assert!(super::probe_with(br#"{"text":"a","n":2.0,"m":1.5}"#, "text", &["n"], None).is_ok());
        assert!(super::probe_with(br#"{"text":"a","n":null}"#, "text", &["n"], None).is_ok());
        // Fields outside the schema are named (once each, escaped keys decoded).
        let schema = arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("text", arrow::datatypes::DataType::Utf8, true),
            arrow::datatypes::Field::new("n", arrow::datatypes::DataType::Int64, true),
        ]);
        let known = super::Known::of(&schema, millrace_spec::SchemaMode::Strict);
        let got = super::probe_with(br#"{"text":"a","n":1,"url":"x","m":{"n":2},"m":3}"#, "text", &["n"], Some(&known));
        assert_eq!(got.unwrap(), ["url", "m"]);
    }
}
