//! Plain text: a whole file is one document (id = its URL), or every line is one.

use super::UnitCtx;
use crate::{ConnectorError, Result};
use arrow::array::{ArrayRef, RecordBatch, StringArray, new_null_array};
use millrace_spec::TextUnit;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

pub(super) async fn read(ctx: &UnitCtx<'_>) -> Result<()> {
    match ctx.opts.text_unit {
        TextUnit::File => {
            let max = ctx.opts.max_record_bytes;
            let too_large = |n: u64| format!("record_too_large: {n} bytes or more, over max_record_bytes ({max})");
            if ctx.unit.file.size > max && super::compression_of(ctx.url(), ctx.opts.compression) == millrace_spec::Compression::None {
                ctx.reject(None, Some(0), too_large(ctx.unit.file.size), b"").await;
                return Ok(());
            }
            let r = ctx.open(0).await?;
            let mut buf = Vec::new();
            r.take(max.saturating_add(1)).read_to_end(&mut buf).await.map_err(|e| ConnectorError::read(ctx.url(), e))?;
            if buf.len() as u64 > max {
                ctx.reject(None, Some(0), too_large(buf.len() as u64), &buf[..buf.len().min(crate::reject::MAX_PAYLOAD)]).await;
                return Ok(());
            }
            match String::from_utf8(buf) {
                Ok(text) => {
                    let id = ctx.url().to_string();
                    let b = batch(ctx, vec![id], vec![text])?;
                    ctx.emit(b).await;
                }
                Err(e) => {
                    let at = e.utf8_error().valid_up_to();
                    ctx.reject(None, Some(at as u64), format!("invalid_utf8: at byte {at}"), e.as_bytes()).await;
                }
            }
        }
        TextUnit::Line => {
            let (start, end) = ctx.unit.range.unwrap_or((0, u64::MAX));
            let open_at = start.saturating_sub(1);
            let mut r = ctx.open(open_at).await?;
            let mut pos = open_at;
            let mut line = Vec::new();
            if start > 0 {
                pos += super::read_line_bounded(&mut r, &mut line, 0).await.map_err(|e| ConnectorError::read(ctx.url(), e))?.consumed;
            }
            let max = ctx.opts.max_record_bytes;
            let (mut ids, mut texts) = (Vec::new(), Vec::new());
            let mut bytes = 0;
            let mut n_line = 0u64;
            while pos < end {
                let l = super::read_line_bounded(&mut r, &mut line, max).await.map_err(|e| ConnectorError::read(ctx.url(), e))?;
                if l.consumed == 0 {
                    break;
                }
                let offset = pos;
                pos += l.consumed;
                n_line += 1;
                if let Some((n, hash)) = l.oversized {
                    let ln = ctx.unit.range.is_none().then_some(n_line);
                    ctx.reject_full(ln, Some(offset), format!("record_too_large: {n} bytes, over max_record_bytes ({max})"), &line, Some((n, hash))).await;
                    continue;
                }
                let t = line.strip_suffix(b"\n").unwrap_or(&line);
                let t = t.strip_suffix(b"\r").unwrap_or(t);
                if t.is_empty() {
                    continue;
                }
                match std::str::from_utf8(t) {
                    Ok(s) => {
                        ids.push(ctx.generated_id(offset));
                        texts.push(s.to_string());
                        bytes += s.len();
                    }
                    Err(e) => {
                        let ln = ctx.unit.range.is_none().then_some(n_line);
                        ctx.reject(ln, Some(offset), format!("invalid_utf8: {e}"), t).await;
                    }
                }
                if texts.len() >= ctx.opts.batch_rows || bytes >= ctx.opts.batch_bytes {
                    let b = batch(ctx, std::mem::take(&mut ids), std::mem::take(&mut texts))?;
                    bytes = 0;
                    if !ctx.emit(b).await {
                        return Ok(());
                    }
                }
            }
            if !texts.is_empty() {
                let b = batch(ctx, ids, texts)?;
                ctx.emit(b).await;
            }
        }
    }
    Ok(())
}

fn batch(ctx: &UnitCtx<'_>, ids: Vec<String>, texts: Vec<String>) -> Result<RecordBatch> {
    let n = ids.len();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for f in ctx.schema.fields() {
        if f.name() == &ctx.opts.id_field {
            cols.push(Arc::new(StringArray::from(ids.clone())));
        } else if f.name() == &ctx.opts.text_field {
            cols.push(Arc::new(StringArray::from(texts.clone())));
        } else if f.name() == "source" {
            cols.push(Arc::new(StringArray::from(vec![ctx.url().to_string(); n])));
        } else {
            cols.push(new_null_array(f.data_type(), n));
        }
    }
    RecordBatch::try_new(ctx.schema.clone(), cols).map_err(|e| ConnectorError::read(ctx.url(), e))
}
