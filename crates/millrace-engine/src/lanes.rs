//! Scale-out stream workers (`source.kafka.scale_out`). Every partition is a lane: a run of its own
//! with its own state (`<state>/lanes/<topic>-<partition>/`: lease, plans, pending records,
//! checkpoints) and its name on every file it stages, publishes and lists in a manifest
//! (`_manifest/<lane>/`), so lanes of different workers share the sinks and never touch each
//! other's files. Kafka's group protocol decides which worker runs which lanes; the lane's lease
//! decides who may commit, so a worker that lost a partition cannot commit it even when the group
//! moved on faster than the worker: its next publish or checkpoint is fenced.
//!
//! The group decides balance, not safety, and a broker may keep a dead member in the group (one
//! that was killed does not leave; some brokers never expire it). So a worker also adopts
//! orphaned lanes: every [`ORPHAN_CHECK`] it looks at the lanes of partitions it was not given, and
//! one that no live run has held for [`ORPHAN_GRACE`] it runs too, until the group next changes its
//! share (then adopted lanes stop after their epoch and are looked at again).
//!
//! A revoked partition's lane is told to stop: it commits the epoch in progress within
//! `shutdown_timeout_seconds`, else abandons it uncommitted, and releases its lease. A new owner
//! whose lease request meets a live holder retries until the holder lets go (or its lease lapses;
//! at once when the holder's process on this host is gone).

use crate::run::{RunOptions, run_with_layout};
use crate::summary::RunSummary;
use crate::{EngineError, Result};
use millrace_connectors::ConnectorError;
use millrace_connectors::layout::RunLayout;
use millrace_connectors::source::kafka::group::{Lanes, Member};
use millrace_connectors::source::kafka::{KafkaSource, Partition};
use millrace_connectors::store::StoreRegistry;
use millrace_spec::LoadedSpec;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often the worker looks at its assignment and its lanes.
const TICK: Duration = Duration::from_millis(100);
/// How long a lane whose lease another worker still holds waits before asking again.
const RETRY: Duration = Duration::from_secs(1);
/// How often a worker looks for lanes nobody runs.
const ORPHAN_CHECK: Duration = Duration::from_secs(2);
/// How long a lane must have been seen unheld before a worker it was not assigned to adopts it.
const ORPHAN_GRACE: Duration = Duration::from_secs(8);

/// The name of a partition's lane (a path segment).
pub(crate) fn lane_name(p: &Partition) -> String {
    format!("{}-{}", p.0, p.1)
}

#[derive(Clone, Default)]
struct LaneFlags {
    stop: Arc<AtomicBool>,
    cancel: Arc<AtomicBool>,
    done: Arc<(Mutex<bool>, Condvar)>,
}

impl LaneFlags {
    fn finish(&self) {
        let (m, c) = &*self.done;
        if let Ok(mut d) = m.lock() {
            *d = true;
        }
        c.notify_all();
    }

    /// Waits up to `timeout` for the lane to end; true when it did.
    fn wait(&self, timeout: Duration) -> bool {
        let (m, c) = &*self.done;
        let Ok(g) = m.lock() else { return true };
        c.wait_timeout_while(g, timeout, |d| !*d).map(|(d, _)| *d).unwrap_or(true)
    }
}

/// What the group member's callbacks and the worker's loop share.
struct Shared {
    assigned: Mutex<BTreeSet<Partition>>,
    /// Bumped on every assignment: adopted lanes stop when the group changes this worker's share.
    generation: std::sync::atomic::AtomicU64,
    running: Mutex<BTreeMap<Partition, LaneFlags>>,
    shutdown: Duration,
}

impl Shared {
    fn assigned(&self) -> BTreeSet<Partition> {
        self.assigned.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Stops the lanes of `partitions`: each commits its open epoch within the shutdown time, else
    /// abandons it. Returns when all have ended.
    fn stop(&self, partitions: &[Partition]) {
        let lanes: Vec<(Partition, LaneFlags)> = match self.running.lock() {
            Ok(r) => partitions.iter().filter_map(|p| Some((p.clone(), r.get(p)?.clone()))).collect(),
            Err(_) => Vec::new(),
        };
        for (_, f) in &lanes {
            f.stop.store(true, Ordering::SeqCst);
        }
        let deadline = Instant::now() + self.shutdown;
        for (p, f) in &lanes {
            if !f.wait(deadline.saturating_duration_since(Instant::now())) {
                tracing::warn!(topic = %p.0, partition = p.1, "lane did not finish its epoch within shutdown_timeout_seconds; abandoning it uncommitted");
                f.cancel.store(true, Ordering::SeqCst);
                f.wait(Duration::from_secs(30));
            }
        }
    }
}

impl Lanes for Shared {
    fn assign(&self, partitions: &[Partition]) {
        tracing::info!(partitions = ?partitions, "partitions assigned");
        if let Ok(mut a) = self.assigned.lock() {
            a.extend(partitions.iter().cloned());
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn revoke(&self, partitions: &[Partition]) {
        tracing::info!(partitions = ?partitions, "partitions revoked");
        if let Ok(mut a) = self.assigned.lock() {
            for p in partitions {
                a.remove(p);
            }
        }
        self.stop(partitions);
    }
}

/// How a lane's run ended.
enum LaneEnd {
    Done(RunSummary),
    /// Another worker holds (or just took) the lane: not this worker's error, ask again later.
    HeldElsewhere(EngineError),
    /// Its open epoch was abandoned uncommitted (stopped past the shutdown timeout).
    Abandoned,
    Failed(EngineError),
}

fn lane_end(p: &Partition, r: std::result::Result<Result<RunSummary>, tokio::task::JoinError>) -> LaneEnd {
    match r {
        Ok(Ok(s)) => LaneEnd::Done(s),
        Ok(Err(e @ EngineError::Connector(ConnectorError::Conflict { .. } | ConnectorError::Fenced { .. }))) => LaneEnd::HeldElsewhere(e),
        Ok(Err(EngineError::Interrupted { .. })) => LaneEnd::Abandoned,
        Ok(Err(e)) => LaneEnd::Failed(e),
        Err(e) if e.is_panic() => {
            LaneEnd::Failed(EngineError::Panic { task: format!("running lane {}", lane_name(p)), message: millrace_connectors::panic_message(e.into_panic().as_ref()) })
        }
        Err(e) => LaneEnd::Failed(EngineError::Task { epoch: 0, task: "running a lane", source: e }),
    }
}

/// Runs this worker's share of the partitions until stopped (or, with `follow: false`, until its
/// lanes have read what their partitions held); returns what all its lanes did.
pub(crate) async fn run_worker(spec: &LoadedSpec, opts: RunOptions) -> Result<RunSummary> {
    let Some(k) = spec.spec.source.kafka.as_ref().map(|k| k.value.clone()) else {
        return Err(EngineError::Epoch { epoch: 0, source: "scale-out needs a Kafka source".into() });
    };
    if let Some(i) = spec.spec.stages.iter().position(|s| matches!(&s.value, millrace_spec::Stage::Dedupe(d) if d.index.is_some())) {
        return Err(EngineError::Stage {
            index: i + 1,
            kind: "dedupe".into(),
            source: "a persistent dedupe index cannot be shared by scale-out lanes (each lane would overwrite the others' index manifest); drop `index:` (lanes then dedupe within their partition) or set `scale_out: false`".into(),
        });
    }
    let run_id = opts.run_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let registry = Arc::new(StoreRegistry::new(spec.spec.storage.clone()));
    let layout = RunLayout::resolve(&spec.spec, &registry)?;
    let source = KafkaSource::new(&k);
    let shared = Arc::new(Shared {
        assigned: Mutex::default(),
        generation: Default::default(),
        running: Mutex::default(),
        shutdown: Duration::from_secs(k.shutdown_timeout_seconds),
    });
    let member = Arc::new(Member::join(&source, shared.clone())?);
    if let Some(r) = &opts.ready {
        r.store(true, Ordering::SeqCst);
    }
    let spec = Arc::new(spec.clone());
    let (started, started_at) = (Instant::now(), chrono::Utc::now());
    let mut tasks: BTreeMap<Partition, tokio::task::JoinHandle<Result<RunSummary>>> = BTreeMap::new();
    let mut drained: BTreeSet<Partition> = BTreeSet::new();
    let mut retry_at: BTreeMap<Partition, Instant> = BTreeMap::new();
    let mut summaries = Vec::new();
    let mut failure = None;
    let stops: Vec<Arc<AtomicBool>> = opts.cancel.iter().chain(opts.stop.iter()).cloned().collect();
    let ttl = Duration::from_secs(spec.spec.engine.lease_seconds.max(1));
    // Lanes this worker runs without being assigned them, and since which assignment.
    let mut adopted: BTreeMap<Partition, u64> = BTreeMap::new();
    let mut unheld_since: BTreeMap<Partition, Instant> = BTreeMap::new();
    let mut all: BTreeSet<Partition> = BTreeSet::new();
    let mut next_orphan_check = Instant::now() + ORPHAN_CHECK;
    while failure.is_none() && !stops.iter().any(|s| s.load(Ordering::SeqCst)) {
        let generation = shared.generation.load(Ordering::SeqCst);
        // A lane runs only while its partition is this worker's: assigned, or adopted since the
        // group last changed its share (a lane started just as its partition was revoked, or an
        // adopted one after a new assignment, stops after its epoch).
        {
            let assigned = shared.assigned();
            if let Ok(r) = shared.running.lock() {
                for (p, f) in r.iter() {
                    if !assigned.contains(p) && adopted.get(p) != Some(&generation) {
                        f.stop.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
        if Instant::now() >= next_orphan_check {
            next_orphan_check = Instant::now() + ORPHAN_CHECK;
            match source.watermarks().await {
                Ok(w) => all = w.into_keys().collect(),
                Err(e) => tracing::warn!(error = %e, "could not list the partitions"),
            }
            let assigned = shared.assigned();
            for p in all.iter().filter(|p| !assigned.contains(*p) && !tasks.contains_key(*p) && !drained.contains(*p)) {
                let held = millrace_connectors::ownership::Lease::is_held(&layout.lane_state(&lane_name(p)), ttl).await.unwrap_or(true);
                if held {
                    unheld_since.remove(p);
                    continue;
                }
                let since = *unheld_since.entry(p.clone()).or_insert_with(Instant::now);
                if since.elapsed() >= ORPHAN_GRACE {
                    tracing::warn!(topic = %p.0, partition = p.1, "no worker has run this lane for a while (its group member may be gone): adopting it");
                    adopted.insert(p.clone(), generation);
                    unheld_since.remove(p);
                }
            }
        }
        let assigned = shared.assigned();
        let mut wanted: BTreeSet<Partition> = assigned.clone();
        wanted.extend(adopted.iter().filter(|(_, g)| **g == generation).map(|(p, _)| p.clone()));
        for p in &wanted {
            if tasks.contains_key(p) || drained.contains(p) || retry_at.get(p).is_some_and(|t| *t > Instant::now()) {
                continue;
            }
            let flags = LaneFlags::default();
            if let Ok(mut r) = shared.running.lock() {
                r.insert(p.clone(), flags.clone());
            }
            let lane_opts = RunOptions { cancel: Some(flags.cancel.clone()), stop: Some(flags.stop.clone()), ..Default::default() };
            let (spec, registry) = (spec.clone(), registry.clone());
            let lane_layout = layout.lane(&lane_name(p));
            let lane_source = source.lane(p.clone(), Some(member.clone()));
            let shared = shared.clone();
            let part = p.clone();
            // Every lane of a worker writes under the worker's run id.
            let lane_run_id = run_id.clone();
            tasks.insert(
                p.clone(),
                tokio::spawn(async move {
                    let r = run_with_layout(&spec, lane_opts, lane_run_id, registry, lane_layout, Some(lane_source)).await;
                    if let Ok(mut running) = shared.running.lock() {
                        running.remove(&part);
                    }
                    flags.finish();
                    r
                }),
            );
        }
        let finished: Vec<Partition> = tasks.iter().filter(|(_, t)| t.is_finished()).map(|(p, _)| p.clone()).collect();
        for p in finished {
            let Some(t) = tasks.remove(&p) else { continue };
            match lane_end(&p, t.await) {
                LaneEnd::Done(s) => {
                    // A lane that ended on its own has read its partition; one that was stopped was
                    // revoked (and runs again if the partition comes back).
                    let was_adopted = adopted.remove(&p).is_some_and(|g| g == shared.generation.load(Ordering::SeqCst));
                    if !k.follow && (shared.assigned().contains(&p) || was_adopted) {
                        drained.insert(p);
                    }
                    summaries.push(s);
                }
                LaneEnd::HeldElsewhere(e) => {
                    tracing::info!(topic = %p.0, partition = p.1, reason = %e, "lane is held by another worker; asking again");
                    // An adopted lane that someone else runs is theirs.
                    adopted.remove(&p);
                    retry_at.insert(p, Instant::now() + RETRY);
                }
                // A revoked lane that could not commit in time: the worker goes on; the lane's
                // next holder re-runs the epoch.
                LaneEnd::Abandoned => tracing::warn!(topic = %p.0, partition = p.1, "the lane's open epoch was abandoned uncommitted"),
                LaneEnd::Failed(e) => failure = Some(e),
            }
        }
        // Done (`follow: false`) when every partition is drained here or run by a live worker.
        if !k.follow && !all.is_empty() && tasks.is_empty() && wanted.iter().all(|p| drained.contains(p)) && adopted.is_empty() {
            let mut rest_held = true;
            for p in all.iter().filter(|p| !drained.contains(*p)) {
                if !millrace_connectors::ownership::Lease::is_held(&layout.lane_state(&lane_name(p)), ttl).await.unwrap_or(true) {
                    rest_held = false;
                    break;
                }
            }
            if rest_held {
                break;
            }
        }
        tokio::time::sleep(TICK).await;
    }
    // Stop: every lane commits (or abandons) its open epoch; a Ctrl-C abandons at once.
    let cancelled = opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) || failure.is_some();
    if let Ok(r) = shared.running.lock() {
        for f in r.values() {
            f.stop.store(true, Ordering::SeqCst);
            if cancelled {
                f.cancel.store(true, Ordering::SeqCst);
            }
        }
    }
    let all: Vec<Partition> = tasks.keys().cloned().collect();
    let s2 = shared.clone();
    let _ = tokio::task::spawn_blocking(move || s2.stop(&all)).await;
    for (p, t) in tasks {
        match lane_end(&p, t.await) {
            LaneEnd::Done(s) => summaries.push(s),
            LaneEnd::HeldElsewhere(_) | LaneEnd::Abandoned => {}
            LaneEnd::Failed(e) => failure = failure.or(Some(e)),
        }
    }
    // Leaving hands the partitions to the other workers at once.
    if let Ok(m) = Arc::try_unwrap(member) {
        let _ = tokio::task::spawn_blocking(move || m.leave()).await;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(combine(&spec, run_id, started_at, summaries, started.elapsed()))
}

/// One summary of the worker from its lanes' (a lane may have run several times, after a revoke
/// and a new assignment).
fn combine(spec: &LoadedSpec, run_id: String, started_at: chrono::DateTime<chrono::Utc>, lanes: Vec<RunSummary>, wall: Duration) -> RunSummary {
    let mut out = RunSummary {
        run_id,
        pipeline: spec.spec.name.value.clone(),
        spec_sha256: spec.sha256.clone(),
        started_at,
        ..Default::default()
    };
    for mut l in lanes {
        if out.sinks.is_empty() {
            out.sinks = l.sinks.iter().map(|s| crate::summary::SinkSummary { name: s.name.clone(), url: s.url.clone(), ..Default::default() }).collect();
        }
        out.bytes_read += l.bytes_read;
        // Lanes share the process's count over overlapping times: the largest is a lower bound
        // that counts no failure twice.
        out.storage_request_failures = out.storage_request_failures.max(l.storage_request_failures);
        out.profile.merge(&l.profile);
        for e in std::mem::take(&mut l.epochs) {
            out.add_epoch(e);
        }
    }
    out.finish(wall, crate::metrics::resource_usage());
    out
}
