//! Web archives: WARC files (`format: warc`, one row per `response` record, its HTTP payload
//! decoded to UTF-8) and WET files (`format: wet`, one row per `conversion` record, the text as
//! extracted), plain or gzip-compressed (`.warc.gz`, as Common Crawl ships them: one gzip member
//! per record). A `.warc.gz` larger than `split_bytes` is read as byte ranges, each owning the
//! members that start in it, so one large file is read on every core and resumes by member offset.
//!
//! Records are read one at a time with bounded memory: the header block is capped, a body over
//! `max_record_bytes` is skipped (streamed past, not held) and rejected with its offset, so a
//! hostile `Content-Length` costs nothing. Header blocks (WARC's and the HTTP response's) are
//! parsed by `httparse`, the charset is decoded by `encoding_rs`: the declared one (HTTP
//! `Content-Type`), else the page's `<meta charset>`, else UTF-8; a payload that does not decode
//! is rejected with its record id and its offset (in the decompressed stream). Other record types (`warcinfo`, `request`, `metadata`, ...) and
//! responses that are not text are skipped and counted.
//!
//! The `warc` crate was not used: it reads synchronously from a `BufRead` and reports no record
//! offsets, while every source here streams asynchronously from object storage and names the
//! offset of what it rejects.

use super::UnitCtx;
use crate::{ConnectorError, Result};
use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray, new_null_array};
use arrow::datatypes::{DataType, Field, Schema};
use millrace_spec::Format;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Largest WARC or HTTP header block read (Common Crawl's are about 1 KiB).
const MAX_HEADER_BYTES: usize = 64 << 10;

/// The columns a web archive gives, besides the run's id and text columns.
pub(crate) fn columns() -> Schema {
    Schema::new(vec![
        Field::new("url", DataType::Utf8, true),
        Field::new("date", DataType::Utf8, true),
        Field::new("content_type", DataType::Utf8, true),
        Field::new("charset", DataType::Utf8, true),
        Field::new("status", DataType::Int32, true),
    ])
}

/// One record's WARC header fields that rows use.
#[derive(Default)]
struct Head {
    kind: String,
    id: Option<String>,
    url: Option<String>,
    date: Option<String>,
    length: Option<u64>,
}

/// A row in the making.
#[derive(Default)]
struct Rows {
    ids: Vec<String>,
    texts: Vec<String>,
    urls: Vec<Option<String>>,
    dates: Vec<Option<String>>,
    types: Vec<Option<String>>,
    charsets: Vec<Option<String>>,
    statuses: Vec<Option<i32>>,
    bytes: usize,
}

/// Reads the next record's header block (skipping the blank lines between records): `None` at the
/// end of the stream, `Err` with a reason for a malformed block.
async fn read_head<R: AsyncBufRead + Unpin + ?Sized>(r: &mut R, pos: &mut u64, start: &mut u64) -> std::io::Result<std::result::Result<Option<Head>, String>> {
    let mut block = Vec::new();
    // Blank lines before the version line.
    loop {
        let mut line = Vec::new();
        let n = (&mut *r).take(MAX_HEADER_BYTES as u64).read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Ok(Ok(None));
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            *pos += n as u64;
            continue;
        }
        *start = *pos;
        *pos += n as u64;
        if !line.starts_with(b"WARC/1.") {
            let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).trim_end().to_string();
            return Ok(Err(format!("not_a_warc_record: expected a WARC/1.x version line, found {shown:?}")));
        }
        break;
    }
    // Header lines up to the blank line that ends them.
    loop {
        let before = block.len();
        let n = (&mut *r).take((MAX_HEADER_BYTES - block.len().min(MAX_HEADER_BYTES)) as u64).read_until(b'\n', &mut block).await?;
        *pos += n as u64;
        if n == 0 || !block.ends_with(b"\n") {
            return Ok(Err(if block.len() >= MAX_HEADER_BYTES {
                format!("header_too_large: over {MAX_HEADER_BYTES} bytes")
            } else {
                "truncated_record: the header block ends early".to_string()
            }));
        }
        if block[before..].iter().all(|b| *b == b'\r' || *b == b'\n') {
            break;
        }
    }
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let parsed = match httparse::parse_headers(&block, &mut fields) {
        Ok(httparse::Status::Complete((_, parsed))) => parsed,
        Ok(httparse::Status::Partial) => return Ok(Err("truncated_record: the header block ends early".into())),
        Err(e) => return Ok(Err(format!("malformed_header: {e}"))),
    };
    let mut head = Head::default();
    for h in parsed.iter() {
        let v = || String::from_utf8_lossy(h.value).trim().to_string();
        match h.name.to_ascii_lowercase().as_str() {
            "warc-type" => head.kind = v().to_ascii_lowercase(),
            "warc-record-id" => head.id = Some(v()),
            "warc-target-uri" => head.url = Some(v()),
            "warc-date" => head.date = Some(v()),
            "content-length" => head.length = v().parse().ok(),
            _ => {}
        }
    }
    if head.length.is_none() {
        return Ok(Err("malformed_header: no valid Content-Length".into()));
    }
    Ok(Ok(Some(head)))
}

/// The payload of an HTTP response: status, media type, declared charset and the body's offset.
fn http_head(block: &[u8]) -> std::result::Result<(u16, Option<String>, Option<String>, usize), String> {
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut fields);
    let body_at = match resp.parse(block) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("malformed_http: the response head ends early".into()),
        Err(e) => return Err(format!("malformed_http: {e}")),
    };
    let content_type = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .map(|h| String::from_utf8_lossy(h.value).trim().to_string());
    let (mime, charset) = match &content_type {
        Some(ct) => {
            let mut parts = ct.split(';');
            let mime = parts.next().map(|m| m.trim().to_ascii_lowercase());
            let charset = parts.filter_map(|p| p.trim().split_once('=')).find(|(k, _)| k.trim().eq_ignore_ascii_case("charset")).map(|(_, v)| v.trim().trim_matches('"').to_string());
            (mime, charset)
        }
        None => (None, None),
    };
    Ok((resp.code.unwrap_or(0), mime, charset, body_at))
}

/// Whether a response's media type is text a pipeline can use (no media type: sniffed as text).
fn is_text(mime: Option<&str>) -> bool {
    match mime {
        None => true,
        Some(m) => m.starts_with("text/") || m.contains("html") || m.contains("xml") || m == "application/json",
    }
}

/// The charset a page declares in its first KiB (`<meta charset=..>` or `http-equiv` content).
fn meta_charset(body: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = &body[..body.len().min(1024)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let at = lower.windows(8).position(|w| w == b"charset=")? + 8;
    let rest = &head[at..];
    let rest = rest.strip_prefix(b"\"").or_else(|| rest.strip_prefix(b"'")).unwrap_or(rest);
    let end = rest.iter().position(|b| matches!(b, b'"' | b'\'' | b' ' | b';' | b'>' | b'/')).unwrap_or(rest.len());
    encoding_rs::Encoding::for_label(&rest[..end])
}

/// Decodes a payload: `Ok((text, charset name))`, or `Err` with the reason.
fn decode(body: &[u8], declared: Option<&str>) -> std::result::Result<(String, &'static str), String> {
    let enc = match declared {
        Some(label) => encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| format!("unknown_charset: {label}"))?,
        None => meta_charset(body).unwrap_or(encoding_rs::UTF_8),
    };
    // A byte-order mark overrides what was declared, as browsers do.
    let (enc, bom) = encoding_rs::Encoding::for_bom(body).unwrap_or((enc, 0));
    match enc.decode_without_bom_handling_and_without_replacement(&body[bom..]) {
        Some(text) => Ok((text.into_owned(), enc.name())),
        None => Err(format!("undecodable: not valid {}", enc.name())),
    }
}

pub(super) async fn read(ctx: &UnitCtx<'_>) -> Result<()> {
    let mut rows = Rows::default();
    let go = match ctx.unit.range {
        // A byte range of a `.warc.gz`: the records of the gzip members that start inside it.
        Some((start, end)) => read_members(ctx, start, end, &mut rows).await?,
        None => {
            let mut r = ctx.open(0).await?;
            read_stream(ctx, &mut r, None, &mut rows).await?
        }
    };
    if go && !rows.texts.is_empty() {
        let b = batch(ctx, rows)?;
        ctx.emit(b).await;
    }
    Ok(())
}

/// Counts the bytes taken from a buffered reader, so a gzip member's offset in the object is known.
struct Counting<R> {
    inner: R,
    pos: u64,
}

impl<R: AsyncBufRead + Unpin> tokio::io::AsyncRead for Counting<R> {
    fn poll_read(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        let got = match std::pin::Pin::new(&mut this.inner).poll_fill_buf(cx) {
            std::task::Poll::Ready(Ok(b)) => b,
            std::task::Poll::Ready(Err(e)) => return std::task::Poll::Ready(Err(e)),
            std::task::Poll::Pending => return std::task::Poll::Pending,
        };
        let n = got.len().min(buf.remaining());
        buf.put_slice(&got[..n]);
        std::pin::Pin::new(&mut this.inner).consume(n);
        this.pos += n as u64;
        std::task::Poll::Ready(Ok(()))
    }
}

impl<R: AsyncBufRead + Unpin> AsyncBufRead for Counting<R> {
    fn poll_fill_buf(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<&[u8]>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_fill_buf(cx)
    }
    fn consume(mut self: std::pin::Pin<&mut Self>, amt: usize) {
        self.pos += amt as u64;
        std::pin::Pin::new(&mut self.inner).consume(amt);
    }
}

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Reads the records of every gzip member that starts in `[start, end)`. A member is found by its
/// magic bytes and proven by its first decompressed bytes (`WARC/1.`): a false match inside
/// compressed data is passed over, so a range reads exactly the members that start in it, and
/// the members of a file split into ranges are read once in all.
async fn read_members(ctx: &UnitCtx<'_>, start: u64, end: u64, rows: &mut Rows) -> Result<bool> {
    use async_compression::tokio::bufread::GzipDecoder;
    let io = |e: std::io::Error| ConnectorError::read(ctx.url(), e);
    let mut c = Counting { inner: ctx.open_raw(start).await?, pos: start };
    if start > 0 {
        // The first member at or after `start`.
        loop {
            let mut reopened: Option<u64> = None;
            let found = loop {
                let pos = c.pos;
                let buf = c.fill_buf().await.map_err(io)?;
                if buf.is_empty() {
                    break None;
                }
                let (len, at) = (buf.len(), buf.windows(3).position(|w| w == GZIP_MAGIC));
                match at {
                    Some(i) => {
                        c.consume(i);
                        break Some(c.pos);
                    }
                    // Keep the last two bytes unread: a magic may straddle two reads.
                    None if len > 2 => c.consume(len - 2),
                    None => {
                        // The two bytes kept are all that is buffered: read again from them, so
                        // a magic that starts in them is seen whole; twice here means the end.
                        if reopened == Some(pos) {
                            break None;
                        }
                        reopened = Some(pos);
                        c = Counting { inner: ctx.open_raw(pos).await?, pos };
                    }
                }
                if c.pos >= end {
                    break None;
                }
            };
            let Some(at) = found else { return Ok(true) };
            if at >= end {
                return Ok(true);
            }
            let mut probe = [0u8; 7];
            let proven = {
                let mut d = GzipDecoder::new(&mut c);
                matches!(d.read_exact(&mut probe).await, Ok(_)) && &probe == b"WARC/1."
            };
            // The probe consumed part of the candidate: read it again from its start, as a member
            // (proven) or to look past it (not).
            let from = if proven { at } else { at + 1 };
            c = Counting { inner: ctx.open_raw(from).await?, pos: from };
            if proven {
                break;
            }
        }
    }
    loop {
        let member = c.pos;
        if member >= end {
            return Ok(true);
        }
        if c.fill_buf().await.map_err(io)?.is_empty() {
            return Ok(true);
        }
        let mut d = tokio::io::BufReader::with_capacity(1 << 20, GzipDecoder::new(&mut c));
        if !read_stream(ctx, &mut d, Some(member), rows).await? {
            return Ok(false);
        }
        if c.pos == member {
            return Err(io(std::io::Error::other(format!("no gzip member could be read at offset {member}"))));
        }
    }
}

/// Reads the records of one stream (a whole file, or one gzip member). Rejects name `member`, the
/// member's offset in the object, when given; else the record's offset in the stream. False when
/// the run is stopping.
async fn read_stream<R: AsyncBufRead + Unpin + ?Sized>(ctx: &UnitCtx<'_>, r: &mut R, member: Option<u64>, rows: &mut Rows) -> Result<bool> {
    let wet = ctx.opts.format == Format::Wet;
    let want = if wet { "conversion" } else { "response" };
    let max = ctx.opts.max_record_bytes;
    let io = |e: std::io::Error| ConnectorError::read(ctx.url(), e);
    let (mut pos, mut start) = (0u64, 0u64);
    loop {
        let head = read_head(r, &mut pos, &mut start).await.map_err(io)?;
        let at = member.unwrap_or(start);
        let head = match head {
            Ok(None) => break,
            Ok(Some(h)) => h,
            Err(reason) => {
                // The stream cannot be resynchronised after a broken header block: the rest of
                // the stream is rejected as one record, with the offset where it broke.
                ctx.reject(None, Some(at), reason, b"").await;
                break;
            }
        };
        let len = head.length.unwrap_or(0);
        if len > max || head.kind != want {
            // Streamed past, never held.
            let skipped = tokio::io::copy(&mut (&mut *r).take(len), &mut tokio::io::sink()).await.map_err(io)?;
            pos += skipped;
            if skipped < len {
                ctx.reject_as(head.id, None, Some(at), format!("truncated_record: {skipped} of {len} body bytes"), b"", None).await;
                break;
            }
            if len > max && head.kind == want {
                ctx.reject_as(head.id, None, Some(at), format!("record_too_large: {len} bytes, over max_record_bytes ({max})"), b"", None).await;
            } else {
                ctx.metrics.records_skipped.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        }
        let mut body = Vec::with_capacity(len as usize);
        (&mut *r).take(len).read_to_end(&mut body).await.map_err(io)?;
        pos += body.len() as u64;
        if (body.len() as u64) < len {
            ctx.reject_as(head.id, None, Some(at), format!("truncated_record: {} of {len} body bytes", body.len()), &body, None).await;
            break;
        }
        let decoded = if wet {
            std::str::from_utf8(&body).map(|t| (t.to_string(), None, None, "UTF-8")).map_err(|e| format!("invalid_utf8: {e}"))
        } else {
            match http_head(&body) {
                Err(reason) => Err(reason),
                Ok((_, mime, _, _)) if !is_text(mime.as_deref()) => {
                    ctx.metrics.records_skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Ok((status, mime, charset, body_at)) => decode(&body[body_at..], charset.as_deref()).map(|(t, cs)| (t, mime, Some(status), cs)),
            }
        };
        match decoded {
            Ok((text, mime, status, charset)) => {
                rows.bytes += text.len();
                rows.ids.push(head.id.clone().unwrap_or_else(|| ctx.generated_id(at)));
                rows.texts.push(text);
                rows.urls.push(head.url.clone());
                rows.dates.push(head.date.clone());
                rows.types.push(mime);
                rows.charsets.push(Some(charset.to_string()));
                rows.statuses.push(status.map(i32::from));
            }
            Err(reason) => ctx.reject_as(head.id, None, Some(at), reason, &body, None).await,
        }
        if rows.texts.len() >= ctx.opts.batch_rows || rows.bytes >= ctx.opts.batch_bytes {
            let b = batch(ctx, std::mem::take(rows))?;
            if !ctx.emit(b).await {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn batch(ctx: &UnitCtx<'_>, rows: Rows) -> Result<RecordBatch> {
    let n = rows.ids.len();
    let Rows { ids, texts, urls, dates, types, charsets, statuses, .. } = rows;
    let (mut ids, mut texts, mut urls, mut dates, mut types, mut charsets, mut statuses) =
        (Some(ids), Some(texts), Some(urls), Some(dates), Some(types), Some(charsets), Some(statuses));
    let mut cols: Vec<ArrayRef> = Vec::new();
    for f in ctx.schema.fields() {
        let name = f.name().as_str();
        let col: Option<ArrayRef> = if name == ctx.opts.id_field {
            ids.take().map(|v| Arc::new(StringArray::from(v)) as ArrayRef)
        } else if name == ctx.opts.text_field {
            texts.take().map(|v| Arc::new(StringArray::from(v)) as ArrayRef)
        } else {
            match name {
                "url" => urls.take().map(|v| Arc::new(StringArray::from(v)) as ArrayRef),
                "date" => dates.take().map(|v| Arc::new(StringArray::from(v)) as ArrayRef),
                "content_type" => types.take().map(|v| Arc::new(StringArray::from(v)) as ArrayRef),
                "charset" => charsets.take().map(|v| Arc::new(StringArray::from(v)) as ArrayRef),
                "status" => statuses.take().map(|v| Arc::new(Int32Array::from(v)) as ArrayRef),
                _ => None,
            }
        };
        cols.push(match col {
            Some(c) if c.data_type() == f.data_type() => c,
            _ => new_null_array(f.data_type(), n),
        });
    }
    RecordBatch::try_new(ctx.schema.clone(), cols).map_err(|e| ConnectorError::read(ctx.url(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_decode_with_the_declared_the_meta_or_the_default_charset() {
        let latin1 = b"caf\xe9";
        assert_eq!(decode(latin1, Some("iso-8859-1")).unwrap(), ("café".to_string(), "windows-1252"));
        let meta = b"<html><head><meta charset=\"windows-1251\"></head>\xcf\xf0\xe8";
        assert_eq!(decode(meta, None).unwrap().1, "windows-1251");
        assert!(decode(meta, None).unwrap().0.ends_with("При"));
        assert_eq!(decode("日本".as_bytes(), None).unwrap(), ("日本".to_string(), "UTF-8"));
        assert!(decode(latin1, None).unwrap_err().starts_with("undecodable"));
        assert!(decode(b"x", Some("no-such-charset")).unwrap_err().starts_with("unknown_charset"));
        let resp = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html; Charset=\"UTF-8\"\r\n\r\nbody";
        let (status, mime, cs, at) = http_head(resp).unwrap();
        assert_eq!((status, mime.as_deref(), cs.as_deref(), &resp[at..]), (404, Some("text/html"), Some("UTF-8"), &b"body"[..]));
        assert!(!is_text(Some("image/png")) && is_text(Some("application/xhtml+xml")) && is_text(None));
    }
}
