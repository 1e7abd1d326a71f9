//! The source as a DataFusion streaming table: one partition per group of work units. A partition
//! starts reading only when DataFusion executes it, and sends through a small bounded channel, so a
//! slow stage holds the reader back instead of letting batches pile up.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use crate::EngineError;
use crate::metrics::{CpuTimed, EpochCounters};
use futures::{FutureExt, StreamExt};
use millrace_connectors::reject::{Reject, RejectSender};
use millrace_connectors::source::{ReadOptions, SourceMetrics, WorkUnit, read_unit};
use millrace_connectors::store::StoreRegistry;
use millrace_spec::OnError;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

pub struct UnitsPartition {
    pub units: Vec<WorkUnit>,
    pub registry: Arc<StoreRegistry>,
    pub opts: Arc<ReadOptions>,
    pub schema: SchemaRef,
    /// Shared with the engine, which empties it when the epoch's plan is done, so the rejects
    /// channel closes even while DataFusion still holds this partition.
    pub rejects: Arc<std::sync::Mutex<Option<RejectSender>>>,
    pub metrics: Arc<SourceMetrics>,
    /// The epoch's counters: readers charge their CPU time to the funnel's read step.
    pub counters: Option<Arc<EpochCounters>>,
}

impl std::fmt::Debug for UnitsPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UnitsPartition({} units)", self.units.len())
    }
}

impl PartitionStream for UnitsPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (tx, rx): (millrace_connectors::source::BatchSender, _) = mpsc::channel(2);
        let units = self.units.clone();
        let registry = self.registry.clone();
        let opts = self.opts.clone();
        let schema = self.schema.clone();
        let rejects = self.rejects.lock().ok().and_then(|g| g.clone());
        let metrics = self.metrics.clone();
        let task = async move {
            let Some(rejects) = rejects else {
                let _ = tx.send(Err(Box::new(EngineError::Epoch { epoch: 0, source: "a source partition was executed after its epoch ended".into() }))).await;
                return;
            };
            for u in &units {
                if tx.is_closed() {
                    break;
                }
                // A panic while reading must fail the epoch, naming the unit: a dropped task would
                // end the stream as if the unit were complete, and the checkpoint would mark rows
                // that were never read as consumed.
                let read = AssertUnwindSafe(async {
                    fail::fail_point!("read-unit");
                    read_unit(&registry, u, &opts, &schema, &tx, &rejects, &metrics).await
                })
                .catch_unwind()
                .await;
                let failure = match read {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) if e.is_data_error() && opts.on_error == OnError::Reject => {
                        quarantine(u, &e, &rejects, &metrics).await;
                        continue;
                    }
                    Ok(Err(e)) => EngineError::Unit { unit: u.key(), source: Box::new(e.into()) },
                    Err(panic) => EngineError::Panic { task: format!("reading {}", u.key()), message: millrace_connectors::panic_message(panic.as_ref()) },
                };
                let _ = tx.send(Err(Box::new(failure))).await;
                break;
            }
        };
        match &self.counters {
            Some(c) => drop(tokio::spawn(CpuTimed::new(task, c.clone(), EpochCounters::READ_STEP))),
            None => drop(tokio::spawn(task)),
        }
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
            .map(|r| r.map_err(DataFusionError::External));
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// Records an unreadable unit in the rejects and counts it, so `read = written + filtered + rejected`
/// still holds: the unit is one rejected record whatever it held.
async fn quarantine(u: &WorkUnit, e: &millrace_connectors::ConnectorError, rejects: &RejectSender, metrics: &SourceMetrics) {
    tracing::warn!(unit = %u.key(), error = %e, "unreadable unit sent to rejects");
    metrics.rows_rejected.fetch_add(1, Ordering::Relaxed);
    rejects
        .send(Reject {
            id: None,
            stage: "source".into(),
            reason: format!("unreadable_unit: {e}"),
            source: Some(u.key()),
            line: None,
            offset: u.range.map(|r| r.0),
            ..Default::default()
        })
        .await;
}

pub fn streaming_table(schema: SchemaRef, parts: Vec<UnitsPartition>) -> datafusion::error::Result<StreamingTable> {
    let parts: Vec<Arc<dyn PartitionStream>> = parts.into_iter().map(|p| Arc::new(p) as Arc<dyn PartitionStream>).collect();
    StreamingTable::try_new(schema, parts)
}
