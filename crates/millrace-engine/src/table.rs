//! The source as a DataFusion streaming table: one partition per group of work units. A partition
//! starts reading only when DataFusion executes it, and sends through a small bounded channel, so a
//! slow stage holds the reader back instead of letting batches pile up.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;
use millrace_connectors::reject::RejectSender;
use millrace_connectors::source::{ReadOptions, SourceMetrics, WorkUnit, read_unit};
use millrace_connectors::store::StoreRegistry;
use std::sync::Arc;
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
        let (tx, rx) = mpsc::channel(2);
        let units = self.units.clone();
        let registry = self.registry.clone();
        let opts = self.opts.clone();
        let schema = self.schema.clone();
        let rejects = self.rejects.lock().ok().and_then(|g| g.clone());
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            let Some(rejects) = rejects else {
                let _ = tx.send(Err(millrace_connectors::ConnectorError::Read { url: "partition".into(), message: "executed after its epoch ended".into() })).await;
                return;
            };
            for u in &units {
                if tx.is_closed() {
                    break;
                }
                if let Err(e) = read_unit(&registry, u, &opts, &schema, &tx, &rejects, &metrics).await {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
            .map(|r| r.map_err(|e| DataFusionError::External(Box::new(e))));
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

pub fn streaming_table(schema: SchemaRef, parts: Vec<UnitsPartition>) -> datafusion::error::Result<StreamingTable> {
    let parts: Vec<Arc<dyn PartitionStream>> = parts.into_iter().map(|p| Arc::new(p) as Arc<dyn PartitionStream>).collect();
    StreamingTable::try_new(schema, parts)
}
