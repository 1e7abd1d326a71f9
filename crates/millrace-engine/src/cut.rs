//! Execution boundaries inside an epoch's plan. A *cut* executes the plan so far and continues from
//! its live rows, sending rejected rows (a `_reject` reason) to the rejects sink; a *barrier* does the
//! same without splitting; a *tap* counts a funnel step's rows and CPU time on the way through.
//! Each is lazy: it wraps the partitions' streams, so the epoch still streams end to end.

use crate::metrics::{EpochCounters, timed};
use crate::udf::strings;
use crate::{REJECT_COLUMN, Result};
use datafusion::arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::compute::{filter_record_batch, not};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::ident;
use datafusion::physical_plan::execute_stream_partitioned;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use millrace_connectors::reject::{Reject, RejectSender, rows_json};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// How stages run: for `explain`, cuts are expressed as plain filters and nothing executes.
pub enum Mode<'a> {
    Explain,
    Run { rejects: &'a RejectSender, counters: &'a Arc<EpochCounters>, epoch: u64 },
}

fn has_column(df: &DataFrame, name: &str) -> bool {
    df.schema().fields().iter().any(|f| f.name() == name)
}

/// Executes the plan so far and continues from its live rows; rejected rows leave for the rejects
/// sink. In explain mode it is the equivalent filter, so the printed plan stays whole.
pub async fn cut(ctx: &SessionContext, df: DataFrame, mode: &Mode<'_>) -> Result<DataFrame> {
    if !has_column(&df, REJECT_COLUMN) {
        return Ok(df);
    }
    match mode {
        Mode::Explain => Ok(df.filter(ident(REJECT_COLUMN).is_null())?.drop_columns(&[REJECT_COLUMN])?),
        Mode::Run { rejects, counters, .. } => {
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let keep: Vec<usize> = (0..schema.fields().len()).filter(|i| schema.field(*i).name() != REJECT_COLUMN).collect();
            let out_schema = Arc::new(schema.project(&keep)?);
            let plan = df.create_physical_plan().await?;
            let streams = execute_stream_partitioned(plan, ctx.task_ctx())?;
            let mut parts: Vec<Arc<dyn PartitionStream>> = Vec::new();
            for s in streams {
                let rejects = (*rejects).clone();
                let counters = (*counters).clone();
                let tapped = s.then(move |b| {
                    let rejects = rejects.clone();
                    let counters = counters.clone();
                    async move {
                        let b = b?;
                        split_rejects(b, &rejects, &counters).await.map_err(|e| DataFusionError::External(Box::new(e)))
                    }
                });
                let stream: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(out_schema.clone(), tapped));
                parts.push(Arc::new(OnceStream::new(out_schema.clone(), stream)));
            }
            let table = StreamingTable::try_new(out_schema, parts)?;
            Ok(ctx.read_table(Arc::new(table))?)
        }
    }
}

/// Executes the plan so far and continues from its output unchanged. Placed after a UDF that returns
/// a struct, so that the optimizer cannot inline the UDF into each field extraction above it (which
/// would run it once per extracted field).
pub async fn barrier(ctx: &SessionContext, df: DataFrame, mode: &Mode<'_>) -> Result<DataFrame> {
    if matches!(mode, Mode::Explain) {
        return Ok(df);
    }
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let plan = df.create_physical_plan().await?;
    let streams = execute_stream_partitioned(plan, ctx.task_ctx())?;
    let parts: Vec<Arc<dyn PartitionStream>> =
        streams.into_iter().map(|s| Arc::new(OnceStream::new(schema.clone(), s)) as Arc<dyn PartitionStream>).collect();
    Ok(ctx.read_table(Arc::new(StreamingTable::try_new(schema, parts)?))?)
}

/// A partition backed by a stream that already exists; it can be executed once.
pub struct OnceStream {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl OnceStream {
    pub fn new(schema: SchemaRef, stream: SendableRecordBatchStream) -> Self {
        Self { schema, stream: Mutex::new(Some(stream)) }
    }
}

impl std::fmt::Debug for OnceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnceStream")
    }
}

impl PartitionStream for OnceStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }
    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        match self.stream.lock().ok().and_then(|mut g| g.take()) {
            Some(s) => s,
            None => {
                let err = futures::stream::once(async { Err(DataFusionError::Internal("a cut partition was executed twice".into())) });
                Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), err))
            }
        }
    }
}

/// Rows whose `_reject` is set go to the rejects sink with their reason; the rest continue without
/// the column.
pub async fn split_rejects(batch: RecordBatch, rejects: &RejectSender, counters: &EpochCounters) -> Result<RecordBatch> {
    let Ok(idx) = batch.schema().index_of(REJECT_COLUMN) else {
        return Ok(batch);
    };
    let reasons = strings(batch.column(idx))?;
    let keep_cols: Vec<usize> = (0..batch.num_columns()).filter(|i| *i != idx).collect();
    let data = batch.project(&keep_cols)?;
    if reasons.null_count() == reasons.len() {
        return Ok(data);
    }
    let rejected_mask: BooleanArray = (0..reasons.len()).map(|i| Some(reasons.is_valid(i))).collect();
    let rejected = filter_record_batch(&data, &rejected_mask)?;
    let rejected_reasons = datafusion::arrow::compute::filter(&reasons, &rejected_mask)?;
    let rejected_reasons = strings(&rejected_reasons)?;
    let ids = rejected.column(0).as_any().downcast_ref::<StringArray>().cloned();
    for (i, record) in rows_json(&rejected).into_iter().enumerate() {
        let reason = rejected_reasons.value(i).to_string();
        send_reject(rejects, ids.as_ref().filter(|a| a.is_valid(i)).map(|a| a.value(i).to_string()), reason, record).await;
    }
    counters.stage_rejected.fetch_add(rejected.num_rows() as u64, Ordering::Relaxed);
    Ok(filter_record_batch(&data, &not(&rejected_mask)?)?)
}

pub async fn send_reject(rejects: &RejectSender, id: Option<String>, reason: String, record: String) {
    let stage = reason.split(':').next().unwrap_or("stage").to_string();
    let capped = record.len() > millrace_connectors::reject::MAX_PAYLOAD;
    let r = Reject { id, stage, reason, ..Default::default() };
    let r = if capped { r.with_raw(record.as_bytes(), None) } else { Reject { record, ..r } };
    rejects.send(r).await;
}

/// Counts funnel step `step` on the plan so far: live rows out, rows it marked rejected (with their
/// reasons), and the CPU time of producing them.
pub async fn tap(ctx: &SessionContext, df: DataFrame, mode: &Mode<'_>, step: usize) -> Result<DataFrame> {
    let Mode::Run { counters, .. } = mode else {
        return Ok(df);
    };
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let reject_idx = schema.index_of(REJECT_COLUMN).ok();
    let plan = df.create_physical_plan().await?;
    let streams = execute_stream_partitioned(plan, ctx.task_ctx())?;
    let mut parts: Vec<Arc<dyn PartitionStream>> = Vec::new();
    for mut inner in streams {
        let counters = (*counters).clone();
        let polled = futures::stream::poll_fn(move |cx| {
            let c = &counters.steps[step];
            let r = timed(&c.cpu_ns, || inner.poll_next_unpin(cx));
            if let std::task::Poll::Ready(Some(Ok(b))) = &r {
                count(c, b, reject_idx);
            }
            r
        });
        let stream: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(schema.clone(), polled));
        parts.push(Arc::new(OnceStream::new(schema.clone(), stream)));
    }
    Ok(ctx.read_table(Arc::new(StreamingTable::try_new(schema, parts)?))?)
}

fn count(c: &crate::metrics::StageCounter, b: &RecordBatch, reject_idx: Option<usize>) {
    let reasons = reject_idx.and_then(|i| strings(b.column(i)).ok());
    let rejected = reasons.as_ref().map(|r| r.len() - r.null_count()).unwrap_or(0);
    c.rows_out.fetch_add((b.num_rows() - rejected) as u64, Ordering::Relaxed);
    if let (Some(r), true) = (reasons, rejected > 0) {
        c.rows_rejected.fetch_add(rejected as u64, Ordering::Relaxed);
        let mut by_reason: std::collections::BTreeMap<&str, u64> = Default::default();
        for reason in r.iter().flatten() {
            *by_reason.entry(crate::metrics::reason_key(reason)).or_default() += 1;
        }
        for (k, n) in by_reason {
            c.reject_reason(k, n);
        }
    }
}
