//! CSV with a header: the schema is inferred from the first file; decoding is streamed. A chunk that
//! fails to parse is rejected with the error's position, and reading continues with the next chunk.

use super::UnitCtx;
use crate::listing::InputFile;
use crate::store::Location;
use crate::{ConnectorError, Result};
use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format as CsvFormat;
use arrow::datatypes::Schema;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

pub(super) async fn infer(loc: &Location, file: &InputFile, opts: &super::ReadOptions) -> Result<Schema> {
    let r = super::open_sample(loc, file, opts).await?;
    let mut head = Vec::new();
    r.take(1 << 20).read_to_end(&mut head).await.map_err(|e| ConnectorError::read(&file.url, e))?;
    if let Some(last_nl) = head.iter().rposition(|b| *b == b'\n') {
        head.truncate(last_nl + 1);
    }
    let fmt = CsvFormat::default().with_header(opts.csv_header).with_delimiter(opts.csv_delimiter);
    let (schema, _) = fmt.infer_schema(std::io::Cursor::new(head), Some(1000)).map_err(|e| ConnectorError::Schema {
        url: file.url.clone(),
        message: e.to_string(),
    })?;
    Ok(schema)
}

pub(super) async fn read(ctx: &UnitCtx<'_>) -> Result<()> {
    // Read with the file's own column order (CSV is positional), then conform by name.
    let own = infer(ctx.loc, &ctx.unit.file, ctx.opts).await?;
    let mut r = ctx.open(0).await?;
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut line = Vec::new();
    let mut header_skipped = !ctx.opts.csv_header;
    let mut line_no = 0u64;
    let mut chunk_first_line = 1u64;
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line).await.map_err(|e| ConnectorError::read(ctx.url(), e))?;
        if n > 0 {
            line_no += 1;
            if !header_skipped {
                header_skipped = true;
                chunk_first_line = line_no + 1;
                continue;
            }
            chunk.extend_from_slice(&line);
        }
        if (n == 0 && !chunk.is_empty()) || chunk.len() >= ctx.opts.batch_bytes.min(4 << 20) {
            let mut d = ReaderBuilder::new(std::sync::Arc::new(own.clone()))
                .with_header(false)
                .with_delimiter(ctx.opts.csv_delimiter)
                .with_batch_size(ctx.opts.batch_rows)
                .build_decoder();
            let mut off = 0;
            let mut batches = Vec::new();
            let mut failed = None;
            while off < chunk.len() {
                match d.decode(&chunk[off..]) {
                    Ok(0) => match d.flush() {
                        Ok(Some(b)) => batches.push(b),
                        Ok(None) => break,
                        Err(e) => {
                            failed = Some(e.to_string());
                            break;
                        }
                    },
                    Ok(k) => off += k,
                    Err(e) => {
                        failed = Some(e.to_string());
                        break;
                    }
                }
            }
            if failed.is_none() {
                match d.flush() {
                    Ok(Some(b)) => batches.push(b),
                    Ok(None) => {}
                    Err(e) => failed = Some(e.to_string()),
                }
            }
            match failed {
                Some(e) => {
                    ctx.reject(Some(chunk_first_line), None, format!("invalid_csv: {e} (chunk of lines {chunk_first_line}..={line_no})"), String::from_utf8_lossy(&chunk).into_owned()).await;
                }
                None => {
                    for b in batches {
                        let b = ctx.conform(&b)?;
                        let first = chunk_first_line;
                        let b = super::fill_ids(b, 0, |i| ctx.generated_id(first + i as u64))?;
                        if !ctx.emit(b).await {
                            return Ok(());
                        }
                    }
                }
            }
            chunk.clear();
            chunk_first_line = line_no + 1;
        }
        if n == 0 {
            break;
        }
    }
    Ok(())
}
