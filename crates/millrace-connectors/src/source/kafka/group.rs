//! Consumer-group membership for scale-out (`source.kafka.scale_out`): N workers with one spec and
//! group let Kafka's group protocol split the partitions between them. Membership is all this
//! consumer does: it pauses what it is assigned and never fetches, because each lane reads its
//! planned offset ranges with its own assigned consumer (see the module above). A partition being
//! revoked is handed to [`Lanes::revoke`] on the poll thread before librdkafka gives it up, so the
//! lane finishes (or abandons) its open epoch first; the lane's lease in the state then makes a
//! second holder impossible even if the group moves faster than the lane.

use super::{KafkaSource, Partition, kafka_err};
use crate::Result;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What a worker does when the group changes its share.
pub trait Lanes: Send + Sync + 'static {
    /// `partitions` are now this worker's.
    fn assign(&self, partitions: &[Partition]);
    /// `partitions` are being taken away: returns once their lanes have stopped.
    fn revoke(&self, partitions: &[Partition]);
}

pub struct GroupContext {
    lanes: Arc<dyn Lanes>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.lanes.revoke(&partitions(tpl));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            if let Err(e) = consumer.pause(tpl) {
                tracing::warn!(error = %e, "could not pause the group member's partitions; it fetches and drops records");
            }
            self.lanes.assign(&partitions(tpl));
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<Partition> {
    tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect()
}

/// This worker's membership of the source's group.
pub struct Member {
    consumer: Arc<BaseConsumer<GroupContext>>,
    quit: Arc<AtomicBool>,
    poller: Option<std::thread::JoinHandle<()>>,
}

impl Member {
    /// Joins the group and subscribes to the source's topics; `lanes` hears of every assignment.
    pub fn join(source: &KafkaSource, lanes: Arc<dyn Lanes>) -> Result<Self> {
        let mut config = source.config();
        // Not a reader: no end-of-partition events, nothing fetched ahead.
        config.set("enable.partition.eof", "false").set("queued.max.messages.kbytes", "1024");
        let consumer: BaseConsumer<GroupContext> = config.create_with_context(GroupContext { lanes }).map_err(|e| kafka_err("group member", e))?;
        let subscription = source.subscription();
        let topics: Vec<&str> = subscription.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| kafka_err("subscribe", e))?;
        let consumer = Arc::new(consumer);
        let quit = Arc::new(AtomicBool::new(false));
        let (c, q) = (consumer.clone(), quit.clone());
        // Polling keeps the membership alive and runs the rebalance callbacks.
        let poller = std::thread::Builder::new()
            .name("kafka-group".into())
            .spawn(move || {
                while !q.load(Ordering::SeqCst) {
                    let _ = c.poll(Duration::from_millis(100));
                }
            })
            .map_err(|e| crate::ConnectorError::read("kafka group member", e))?;
        Ok(Self { consumer, quit, poller: Some(poller) })
    }

    /// Commits offsets as the group member that owns them (a commit from outside an active group is
    /// refused by the broker). For lag tooling only, like [`KafkaSource::commit_offsets`].
    pub fn commit(&self, offsets: &[(Partition, i64)]) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in offsets {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o)).map_err(|e| kafka_err("offsets", e))?;
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        self.consumer.commit(&tpl, CommitMode::Async).map_err(|e| kafka_err("offset commit", e))
    }

    /// Leaves the group (its partitions go to the other workers at once). Call once every lane has
    /// stopped: leaving revokes the partitions, which waits for their lanes.
    pub fn leave(mut self) {
        self.consumer.unsubscribe();
        // The poll thread serves the revocation and the leave request.
        std::thread::sleep(Duration::from_millis(500));
        self.quit.store(true, Ordering::SeqCst);
        if let Some(p) = self.poller.take() {
            let _ = p.join();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(p) = self.poller.take() {
            let _ = p.join();
        }
    }
}
