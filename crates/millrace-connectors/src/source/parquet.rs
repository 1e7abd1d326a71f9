//! Parquet input: streamed row groups, cast by name to the run's schema; rows without text rejected.

use super::UnitCtx;
use crate::reject::row_json;
use crate::listing::InputFile;
use crate::store::Location;
use crate::{ConnectorError, Result};
use arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use std::sync::Arc;
use futures::StreamExt;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
// `ParquetObjectReader` is deprecated upstream in favour of a hand-written `AsyncFileReader`; it still
// does exactly what a source needs (ranged GETs with footer prefetch), so it is kept until then.
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;

#[allow(deprecated)]
fn reader(loc: &Location, file: &InputFile) -> ParquetObjectReader {
    ParquetObjectReader::new(loc.store.clone(), loc.path.clone()).with_file_size(file.size)
}

/// The file's schema and its uncompressed bytes per row (from the footer, nothing else is read).
pub(super) async fn infer(loc: &Location, file: &InputFile) -> Result<(Schema, Option<u64>)> {
    let b = ParquetRecordBatchStreamBuilder::new(reader(loc, file))
        .await
        .map_err(|e| ConnectorError::read(&file.url, e))?;
    Ok((b.schema().as_ref().clone(), uncompressed_row_bytes(b.metadata())))
}

fn uncompressed_row_bytes(meta: &parquet::file::metadata::ParquetMetaData) -> Option<u64> {
    let (rows, bytes) = meta
        .row_groups()
        .iter()
        .fold((0i64, 0i64), |(r, b), g| (r + g.num_rows(), b + g.total_byte_size()));
    (rows > 0 && bytes > 0).then(|| (bytes / rows) as u64)
}

/// A Delta table's data files leave the partition columns out: they come back as constant
/// columns of the values the log records (as strings; the run's schema casts them to their type).
fn with_partition_values(batch: RecordBatch, file: &InputFile) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let Some(values) = &file.partition else { return Ok(batch) };
    let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut cols = batch.columns().to_vec();
    for (k, v) in values {
        if batch.schema().index_of(k).is_ok() {
            continue;
        }
        fields.push(Field::new(k, DataType::Utf8, true));
        cols.push(Arc::new(StringArray::from(vec![v.as_deref(); batch.num_rows()])));
    }
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), cols, &options)
}

pub(super) async fn read(ctx: &UnitCtx<'_>) -> Result<()> {
    let file = &ctx.unit.file;
    let b = ParquetRecordBatchStreamBuilder::new(reader(ctx.loc, file))
        .await
        .map_err(|e| ConnectorError::read(ctx.url(), e))?;
    // Row groups of long documents would otherwise come out as 4096-row batches of any size.
    let rows = super::rows_per_batch(ctx.opts.batch_rows, uncompressed_row_bytes(b.metadata()));
    let mut stream = b.with_batch_size(rows).build().map_err(|e| ConnectorError::read(ctx.url(), e))?;
    let text_field = &ctx.opts.text_field;
    let mut row = 0u64;
    ctx.metrics.bytes_read.fetch_add(file.size, std::sync::atomic::Ordering::Relaxed);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| ConnectorError::read(ctx.url(), format!("row {row}: {e}")))?;
        let batch = with_partition_values(batch, file).map_err(|e| ConnectorError::read(ctx.url(), e))?;
        let first_row = row;
        row += batch.num_rows() as u64;
        let text_ok: Option<Vec<bool>> = match batch.column_by_name(text_field) {
            None => None,
            Some(c) => match c.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some((0..c.len()).map(|i| c.is_valid(i)).collect()),
                _ => None,
            },
        };
        let Some(text_ok) = text_ok else {
            for i in 0..batch.num_rows() {
                ctx.reject(None, Some(first_row + i as u64), format!("missing_text_field: no string column `{text_field}`"), row_json(&batch, i).as_bytes()).await;
            }
            continue;
        };
        let conformed = ctx.conform(&batch)?;
        let keep = BooleanArray::from(text_ok.clone());
        for (i, ok) in text_ok.iter().enumerate() {
            if !ok {
                ctx.reject(None, Some(first_row + i as u64), format!("missing_text_field: `{text_field}` is null"), row_json(&batch, i).as_bytes()).await;
            }
        }
        let kept = arrow::compute::filter_record_batch(&conformed, &keep).map_err(|e| ConnectorError::read(ctx.url(), e))?;
        let ids: Vec<u64> = text_ok.iter().enumerate().filter(|(_, ok)| **ok).map(|(i, _)| first_row + i as u64).collect();
        let kept = super::fill_ids(kept, 0, |i| ctx.generated_id(ids.get(i).copied().unwrap_or(0)))?;
        if kept.num_rows() > 0 && !ctx.emit(kept).await {
            return Ok(());
        }
    }
    Ok(())
}
