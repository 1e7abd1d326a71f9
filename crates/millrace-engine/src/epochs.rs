//! Where a run's epochs come from. Files: every epoch is planned up front, since the listing is
//! fixed for the run; a watching run (`source.watch`) lists again at that interval once they are
//! done and plans the files that landed since, once each (a file that changed after it was read
//! is reported, not read again). Kafka: each epoch is planned from where the previous one ended, and the plan
//! is written to the state (`plans/epoch-N.json`, create-if-absent) before it is read, so a rerun
//! after a crash reads exactly the same offset ranges. A Kafka run is a stream: it follows the
//! topics until stopped, or (`follow: false`) ends when it has read what was there when it started.

use crate::{EngineError, Result};
use millrace_connectors::commit::Checkpoint;
use millrace_connectors::listing;
use millrace_connectors::source::{self, Consumed, ReadOptions, WorkUnit};
use millrace_connectors::store::StoreRegistry;
use millrace_connectors::source::kafka::{KafkaSource, Partition, parse_unit_url};
use millrace_connectors::store::{Location, put_new, read_json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a following run asks the brokers for new records when it has caught up.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

pub(crate) enum Epochs {
    Files(Box<FileEpochs>),
    Kafka(Box<KafkaEpochs>),
}

impl Epochs {
    /// The units of epoch `epoch`, or `None` when the source has nothing more (or `stop` is set
    /// while waiting for records).
    /// `record_bytes`: the mean bytes of a record read so far (a Kafka epoch's `max_bytes`).
    pub async fn next(&mut self, epoch: u64, stop: &[&Arc<AtomicBool>], record_bytes: Option<u64>) -> Result<Option<Vec<WorkUnit>>> {
        match self {
            Epochs::Files(f) => f.next(stop).await,
            Epochs::Kafka(k) => k.next(epoch, stop, record_bytes).await,
        }
    }

    /// After the epoch's checkpoint: tell the source (Kafka: the group's offsets, for lag tooling).
    pub async fn committed(&self, units: &[WorkUnit]) {
        if let Epochs::Kafka(k) = self {
            if let Err(e) = k.source.commit_offsets(units).await {
                tracing::warn!(error = %e, "could not commit offsets to the consumer group (the checkpoint has them; lag tools show stale offsets)");
            }
        }
    }
}

/// A file run's epochs: planned from one listing, and from later ones when watching.
pub(crate) struct FileEpochs {
    planned: std::collections::VecDeque<Vec<WorkUnit>>,
    watch: Option<Watch>,
}

/// What a watching file run needs to list again and plan what is new.
pub(crate) struct Watch {
    pub every: Duration,
    pub registry: Arc<StoreRegistry>,
    pub pattern: String,
    pub opts: ReadOptions,
    pub split_bytes: u64,
    pub epoch_bytes: u64,
    /// What checkpoints and this run's plans cover.
    pub consumed: Consumed,
    /// Changed files already reported.
    pub reported: std::collections::HashSet<String>,
}

impl FileEpochs {
    pub fn new(epochs: Vec<Vec<WorkUnit>>, mut watch: Option<Watch>) -> Self {
        if let Some(w) = watch.as_mut() {
            w.consumed.add(epochs.iter().flatten());
        }
        Self { planned: epochs.into(), watch }
    }

    async fn next(&mut self, stop: &[&Arc<AtomicBool>]) -> Result<Option<Vec<WorkUnit>>> {
        if let Some(e) = self.planned.pop_front() {
            return Ok(Some(e));
        }
        let Some(w) = self.watch.as_mut() else { return Ok(None) };
        loop {
            let until = std::time::Instant::now() + w.every;
            while std::time::Instant::now() < until {
                if stop.iter().any(|s| s.load(Ordering::SeqCst)) {
                    return Ok(None);
                }
                tokio::time::sleep(FOLLOW_POLL.min(w.every)).await;
            }
            let (_, files) = listing::expand(&w.registry, &w.pattern).await?;
            let work = source::plan_remaining(&files, &w.opts, w.split_bytes, &w.consumed);
            for f in &work.changed {
                if w.reported.insert(f.url.clone()) {
                    tracing::warn!(file = %f.url, "input changed after an earlier epoch consumed it; not read again (use a new state to re-read it)");
                }
            }
            if work.units.is_empty() {
                continue;
            }
            tracing::info!(units = work.units.len(), "new input landed");
            w.consumed.add(&work.units);
            self.planned.extend(source::plan_epochs(work.units, w.epoch_bytes));
            if let Some(e) = self.planned.pop_front() {
                return Ok(Some(e));
            }
        }
    }
}

pub(crate) struct KafkaEpochs {
    source: KafkaSource,
    state: Location,
    /// The next offset to plan, per partition.
    next: BTreeMap<Partition, i64>,
    /// Where planning stops for now: the offsets seen at the last look at the brokers.
    bound: BTreeMap<Partition, i64>,
    /// When the last epoch was planned (`epoch.max_interval` counts from it).
    last_planned: std::time::Instant,
}

/// Moves each partition's next offset to the end of the units that read it.
fn advance<'a>(next: &mut BTreeMap<Partition, i64>, units: impl IntoIterator<Item = &'a WorkUnit>) {
    for u in units {
        if let (Some(p), Some((_, end))) = (parse_unit_url(&u.file.url), u.range) {
            let e = next.entry(p).or_insert(0);
            *e = (*e).max(end as i64);
        }
    }
}

/// `<state>/plans/epoch-N.json`.
#[derive(serde::Serialize, serde::Deserialize)]
struct EpochPlan {
    epoch: u64,
    units: Vec<WorkUnit>,
}

impl KafkaEpochs {
    /// Resumes where the checkpoints end; partitions no checkpoint covers start at `start`.
    pub async fn open(source: KafkaSource, state: Location, checkpoints: &[Checkpoint]) -> Result<Self> {
        let mut done: BTreeMap<Partition, i64> = BTreeMap::new();
        advance(&mut done, checkpoints.iter().flat_map(|c| &c.units));
        let mut k = Self { source, state, next: BTreeMap::new(), bound: BTreeMap::new(), last_planned: std::time::Instant::now() };
        k.refresh(&done).await?;
        Ok(k)
    }

    /// Looks at the brokers again: new partitions start where `start` says; the bound moves to the
    /// current ends.
    async fn refresh(&mut self, done: &BTreeMap<Partition, i64>) -> Result<()> {
        for (p, (low, high)) in self.source.watermarks().await? {
            let next = *self.next.entry(p.clone()).or_insert_with(|| done.get(&p).copied().unwrap_or_else(|| self.source.initial(low, high)));
            if next < low {
                tracing::warn!(topic = %p.0, partition = p.1, next, low, "records were deleted by retention before they were read");
                self.next.insert(p.clone(), low);
            }
            self.bound.insert(p, high);
        }
        Ok(())
    }

    async fn next(&mut self, epoch: u64, stop: &[&Arc<AtomicBool>], record_bytes: Option<u64>) -> Result<Option<Vec<WorkUnit>>> {
        let loc = self.state.child(&format!("plans/epoch-{epoch:06}.json"));
        // A plan an earlier attempt wrote is read again exactly.
        let units = match read_json::<EpochPlan>(&loc).await? {
            Some((p, _)) => p.units,
            None => {
                let cap = self.source.epoch_records(record_bytes);
                let stopping = |stop: &[&Arc<AtomicBool>]| stop.iter().any(|s| s.load(Ordering::SeqCst));
                let mut units = self.source.plan_epoch(&self.next, &self.bound, cap);
                // A following worker may collect for `max_interval` before taking a small epoch.
                let collect_until = self.source.spec().epoch.max_interval.filter(|_| self.source.spec().follow).map(|i| self.last_planned + i.0);
                loop {
                    let planned: u64 = units.iter().map(WorkUnit::bytes).sum();
                    let full = planned >= cap;
                    let waited = collect_until.is_none_or(|t| std::time::Instant::now() >= t);
                    if !units.is_empty() && (full || waited) {
                        break;
                    }
                    if units.is_empty() && (!self.source.spec().follow || stopping(stop)) {
                        return Ok(None);
                    }
                    if stopping(stop) {
                        break;
                    }
                    tokio::time::sleep(FOLLOW_POLL).await;
                    self.refresh(&BTreeMap::new()).await?;
                    units = self.source.plan_epoch(&self.next, &self.bound, cap);
                }
                let plan = EpochPlan { epoch, units };
                if !put_new(&loc, &plan).await? {
                    // Written between our read and our create: by a run that no longer holds the
                    // lease (it would be fenced before committing). Ours is the one to follow.
                    return Err(EngineError::Epoch { epoch, source: format!("the plan of epoch {epoch} was written by another run; stopping").into() });
                }
                self.last_planned = std::time::Instant::now();
                plan.units
            }
        };
        advance(&mut self.next, &units);
        // Records known to be in each partition and not planned yet.
        for (p, bound) in &self.bound {
            let lag = bound - self.next.get(p).copied().unwrap_or(*bound);
            metrics::gauge!("millrace_kafka_lag_records", "topic" => p.0.clone(), "partition" => p.1.to_string()).set(lag.max(0) as f64);
        }
        Ok(Some(units))
    }
}
