//! A run: plan the epochs still to do, then for each epoch execute, write, commit sinks, checkpoint.

use crate::cut::{Mode, split_rejects, tap};
use crate::epochs::{Epochs, KafkaEpochs};
use crate::metrics::{CpuTimed, EpochCounters, resource_usage};
use crate::plan::{num_threads, plan_source, session};
use crate::profile::OutputProfile;
use crate::stages::{StageEnv, apply_stages};
use crate::summary::{EpochRecord, RunSummary, SinkSummary, funnel};
use crate::table::{UnitsPartition, streaming_table};
use crate::{EngineError, REJECT_COLUMN, Result};
use datafusion::physical_plan::execute_stream_partitioned;
use futures::StreamExt;
use millrace_connectors::commit::{self, ColumnSchema};
use millrace_connectors::delta;
use millrace_connectors::layout::RunLayout;
use millrace_connectors::ownership::{self, Lease};
use millrace_connectors::reject::{Reject, RejectSender};
use millrace_connectors::sink::{JsonlFile, LineCompression, PartitionWriter, SinkConfig, StagedFile, TopicWriter};
use millrace_connectors::source::{self, SourceMetrics, WorkUnit};
use millrace_connectors::store::StoreRegistry;
use millrace_spec::LoadedSpec;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after this many output rows (a preview: no checkpoint is written).
    pub limit: Option<usize>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Set on Ctrl-C: the run finishes nothing new and leaves the current epoch uncommitted.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Set on SIGTERM: the run commits the epoch in progress, plans no other, and ends.
    pub stop: Option<Arc<AtomicBool>>,
    /// Set by the run once it holds its lease and has opened its source (`/readyz`).
    pub ready: Option<Arc<AtomicBool>>,
    /// The run's id (manifests, checkpoints, report, lineage); a new UUID when absent.
    pub run_id: Option<String>,
}

pub async fn run(spec: &LoadedSpec, opts: RunOptions) -> Result<RunSummary> {
    size_thread_pool(spec.spec.engine.threads.unwrap_or_else(num_threads).max(1));
    if spec.spec.source.kafka.as_ref().is_some_and(|k| k.value.scale_out) {
        return crate::lanes::run_worker(spec, opts).await;
    }
    let run_id = opts.run_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let registry = Arc::new(StoreRegistry::new(spec.spec.storage.clone()));
    let sinks = RunLayout::resolve(&spec.spec, &registry)?;
    let mut opts = opts;
    // A stopped stream worker has `shutdown_timeout_seconds` to commit its open epoch; then the
    // epoch is abandoned uncommitted (and re-run by the next run).
    let deadline = match (&spec.spec.source.kafka, &opts.stop) {
        (Some(k), Some(stop)) => {
            let (stop, cancel) = (stop.clone(), opts.cancel.get_or_insert_with(Default::default).clone());
            let timeout = std::time::Duration::from_secs(k.value.shutdown_timeout_seconds);
            Some(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                tokio::time::sleep(timeout).await;
                tracing::warn!("the open epoch did not commit within shutdown_timeout_seconds; abandoning it");
                cancel.store(true, Ordering::SeqCst);
            }))
        }
        _ => None,
    };
    let r = run_with_layout(spec, opts, run_id, registry, sinks, None).await;
    if let Some(d) = deadline {
        d.abort();
    }
    r
}

/// A run over `sinks` (the spec's layout, or one lane's), reading `source` instead of the spec's
/// Kafka source when given (a lane's partition).
pub(crate) async fn run_with_layout(
    spec: &LoadedSpec,
    opts: RunOptions,
    run_id: String,
    registry: Arc<StoreRegistry>,
    sinks: RunLayout,
    source: Option<source::kafka::KafkaSource>,
) -> Result<RunSummary> {
    // One run per state at a time: the lease is held for the whole run and released on every exit
    // (a crash leaves it to lapse, or to be taken over at once when its process is gone).
    let ttl = std::time::Duration::from_secs(spec.spec.engine.lease_seconds.max(1));
    let lease = Lease::acquire(&sinks.state, &run_id, ttl).await?;
    // A persistent dedupe index may serve several pipelines one after another (a new corpus
    // deduplicated against an old one), but two runs writing it at once would overwrite each
    // other's manifest and lose segments: each run leases it too.
    let mut index_leases = Vec::new();
    for index in sinks.dedupe_indexes.values() {
        match Lease::acquire(index, &run_id, ttl).await {
            Ok(l) => index_leases.push(l),
            Err(e) => {
                release_all(index_leases.into_iter().chain(std::iter::once(lease))).await;
                return Err(e.into());
            }
        }
    }
    let result = run_leased(spec, opts, run_id, registry, sinks, &lease, source).await;
    release_all(index_leases.into_iter().chain(std::iter::once(lease))).await;
    result
}

async fn release_all(leases: impl Iterator<Item = Lease>) {
    for l in leases {
        if let Err(e) = l.release().await {
            tracing::warn!(error = %e, "could not release a lease; the next run waits until it lapses");
        }
    }
}

/// The stages' parallel loops (rayon) and DataFusion's partitions share `threads` cores: the first
/// run of a process sizes rayon's global pool to its `engine.threads` (a pool of all cores beside
/// `threads` partitions made `threads: 1` use every core, and more threads fight over them). Later
/// runs in the same process keep that pool.
fn size_thread_pool(threads: usize) {
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("millrace-stage-{i}")).build_global();
}

async fn run_leased(
    spec: &LoadedSpec,
    opts: RunOptions,
    run_id: String,
    registry: Arc<StoreRegistry>,
    mut sinks: RunLayout,
    lease: &Lease,
    source_override: Option<source::kafka::KafkaSource>,
) -> Result<RunSummary> {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let failed_requests = millrace_connectors::store::failed_requests();
    let threads = spec.spec.engine.threads.unwrap_or_else(num_threads).max(1);
    let batch_rows = spec.spec.engine.batch_rows;
    let mut env = StageEnv::new(spec)?;
    if let Some(dtype) = env.megatron_dtype() {
        for s in sinks.sinks.iter_mut() {
            Arc::make_mut(s).megatron_dtype = dtype;
        }
    }

    // Resume: what earlier runs committed is skipped, and what they left half-done is removed, but
    // only in locations this state owns.
    let checkpoints = commit::read_checkpoints(&sinks.state).await?;
    let last = checkpoints.iter().map(|c| c.epoch).max();
    // A Delta table is shared by its writers and arbitrated by its log: only the other outputs are
    // claimed.
    for s in sinks.outputs().filter(|s| s.delta.is_none()) {
        ownership::claim(&s.base, &sinks.owner, &spec.spec.name.value, &run_id, last.is_some()).await?;
    }
    let mut tables: Vec<Option<delta::Table>> = sinks.sinks.iter().map(|s| s.delta.as_ref().map(|_| delta::Table::open(&s.base)).transpose()).collect::<std::result::Result<_, _>>()?;
    let mut outputs = Vec::new();
    for (s, t) in sinks.sinks.iter().zip(tables.iter_mut()) {
        let record = match (t, &s.delta) {
            (Some(t), Some(d)) => commit::OutputRecord::Delta(t.txn_version(&d.app_id(s.lane.as_deref())).await?),
            _ => commit::OutputRecord::Manifests,
        };
        outputs.push(commit::Output { base: s.base.clone(), staging_root: s.staging_root(), record });
    }
    let r = &sinks.rejects;
    outputs.push(commit::Output { base: r.base.clone(), staging_root: r.staging_root(), record: commit::OutputRecord::Manifests });
    let removed = commit::repair(&sinks.state, &outputs, sinks.rejects.lane.as_deref(), last, |url| Ok(registry.resolve(url)?)).await?;
    if removed > 0 {
        tracing::warn!(removed, "removed files of an uncommitted epoch from an earlier run");
    }

    let mut sp = plan_source(spec, &registry, batch_rows).await?;
    if let Some(k) = source_override {
        sp.opts.kafka = Some(k);
    }
    for (i, st) in spec.spec.stages.iter().enumerate() {
        if let millrace_spec::Stage::Dedupe(d) = &st.value {
            let id_field = spec.spec.source.id_field.clone().unwrap_or_else(|| "id".into());
            let index = sinks.dedupe_indexes.get(&i);
            env.dedupe.insert(i, Arc::new(crate::dedupe::DedupeState::open(d, &id_field, index, &run_id).await?));
        }
    }
    let (mut epochs, skipped_units, changed, total_bytes) = match &sp.opts.kafka {
        None => {
            let consumed = source::Consumed::from_units(checkpoints.iter().flat_map(|c| c.units.iter()));
            let work = source::plan_remaining(&sp.files, &sp.opts, spec.spec.source.split_bytes.0, &consumed);
            for f in &work.changed {
                tracing::warn!(file = %f.url, "input changed after an earlier epoch consumed it; not read again (use a new state to re-read it)");
            }
            let epochs = source::plan_epochs(work.units, spec.spec.source.epoch_bytes.0);
            let total: u64 = epochs.iter().flatten().map(WorkUnit::bytes).sum();
            let watch = spec.spec.source.watch.map(|every| crate::epochs::Watch {
                every: every.0,
                registry: registry.clone(),
                pattern: spec.spec.source.files.value.clone(),
                opts: sp.opts.clone(),
                split_bytes: spec.spec.source.split_bytes.0,
                epoch_bytes: spec.spec.source.epoch_bytes.0,
                consumed,
                reported: work.changed.iter().map(|f| f.url.clone()).collect(),
            });
            (Epochs::Files(Box::new(crate::epochs::FileEpochs::new(epochs, watch))), work.skipped_files, work.changed, total)
        }
        Some(k) => {
            let k = KafkaEpochs::open(k.clone(), sinks.state.clone(), &checkpoints).await?;
            (Epochs::Kafka(Box::new(k)), 0, Vec::new(), 0)
        }
    };
    let mut schema = sp.schema.clone();
    // The run's columns come from its input: a file run's from the files sampled when it was
    // planned; a stream's (or a watcher's that started with nothing) from the first epoch it plans.
    // In `evolve` mode each later epoch adds what its new input brings.
    let evolving = sp.opts.schema.mode == millrace_spec::SchemaMode::Evolve;
    let mut input_sampled = sp.opts.kafka.is_none() && sp.files.iter().any(|f| f.size > 0);
    let mut sampled: std::collections::HashSet<String> =
        sp.opts.schema_sample(&sp.files).iter().map(|f| f.url.clone()).collect();
    if let Some(r) = &opts.ready {
        r.store(true, Ordering::SeqCst);
    }

    // A pipeline that redacts PII redacts it in what it rejects too (a row may be rejected before
    // the redact stage sees it).
    let pii: Option<Arc<millrace_text::PiiParams>> = spec.spec.stages.iter().find_map(|s| match &s.value {
        millrace_spec::Stage::RedactPii(p) => Some(Arc::new(p.clone())),
        _ => None,
    });
    let dead_letter = spec.spec.dead_letter.as_ref().map(|d| TopicWriter::new(&d.value, "source")).transpose()?;
    let topics: Vec<Option<TopicWriter>> = sinks.sinks.iter().map(|s| s.topic.as_ref().map(|t| TopicWriter::new(t, &sp.opts.id_field)).transpose()).collect::<std::result::Result<_, _>>()?;
    let metrics = Arc::new(SourceMetrics::default());
    let progress = opts.progress.then(|| crate::progress::Progress::start(total_bytes, metrics.clone()));
    let mut summary = RunSummary {
        run_id: run_id.clone(),
        pipeline: spec.spec.name.value.clone(),
        spec_sha256: spec.sha256.clone(),
        started_at,
        resumed_after_epoch: last,
        skipped_units: skipped_units as u64,
        changed_inputs: changed.iter().map(|f| f.url.clone()).collect(),
        files: sp.files.len() as u64,
        ..Default::default()
    };
    summary.sinks = sinks
        .sinks
        .iter()
        .map(|s| SinkSummary { name: s.name.clone(), url: s.base.url(), ..Default::default() })
        .collect();
    let read_opts = Arc::new(sp.opts.clone());
    let mut first_epoch = last.map(|l| l + 1).unwrap_or(0);
    let mut remaining_limit = opts.limit;
    let stops: Vec<&Arc<AtomicBool>> = opts.cancel.iter().chain(opts.stop.iter()).collect();
    loop {
        if stops.iter().any(|c| c.load(Ordering::SeqCst)) {
            break;
        }
        if remaining_limit == Some(0) {
            break;
        }
        let epoch = first_epoch;
        let (read, bytes) = (metrics.rows_read.load(Ordering::Relaxed), metrics.bytes_read.load(Ordering::Relaxed));
        let record_bytes = (read > 0).then(|| bytes / read);
        let Some(units) = epochs.next(epoch, &stops, record_bytes).await? else { break };
        first_epoch += 1;
        if !input_sampled || evolving {
            // Files of this epoch not sampled yet (a stream samples its planned records instead).
            let mut unseen = Vec::new();
            for u in &units {
                if sp.opts.kafka.is_none() && sampled.insert(u.file.url.clone()) {
                    unseen.push(u.file.clone());
                }
            }
            if !input_sampled {
                schema = match &sp.opts.kafka {
                    Some(k) => k.schema(&units, &sp.opts).await?,
                    None => source::infer_schema(&registry, &unseen, &mut sp.opts.clone()).await?,
                };
                input_sampled = true;
            } else {
                let grown = match &sp.opts.kafka {
                    Some(k) => source::schema::evolve(&schema, &*k.schema(&units, &sp.opts).await?).map(Arc::new),
                    None => source::evolve_schema(&registry, &unseen, &sp.opts, &schema).await?,
                };
                if let Some(g) = grown {
                    tracing::info!(epoch, columns = g.fields().len(), "new fields in this epoch's input: columns added");
                    schema = g;
                }
            }
        }
        let epoch_started = chrono::Utc::now();
        let before_read = metrics.rows_read.load(Ordering::Relaxed);
        let before_rej = metrics.rows_rejected.load(Ordering::Relaxed);
        let before_skipped = metrics.records_skipped.load(Ordering::Relaxed);
        let counters = Arc::new(EpochCounters::new(spec.spec.stages.len()));
        let (rejects_tx, rejects_rx) = RejectSender::new(1024);
        let reject_task = tokio::spawn(write_rejects(sinks.rejects.clone(), epoch, rejects_rx, pii.clone()));
        let reject_slot = Arc::new(std::sync::Mutex::new(Some(rejects_tx.clone())));

        let parts = source::assign_partitions(&units, threads)
            .into_iter()
            .map(|u| UnitsPartition {
                units: u,
                registry: registry.clone(),
                opts: read_opts.clone(),
                schema: schema.clone(),
                rejects: reject_slot.clone(),
                metrics: metrics.clone(),
                counters: Some(counters.clone()),
            })
            .collect();
        // Rows per DataFusion batch from the bytes per row seen so far (the schema sample's estimate
        // before the first batch): operators such as FilterExec coalesce up to this many rows.
        let rows = source::rows_per_batch(batch_rows, metrics.row_bytes().or(sp.opts.row_bytes_hint));
        let ctx = session(threads, rows);
        ctx.register_table("input", Arc::new(streaming_table(schema.clone(), parts)?))?;
        let mode = Mode::Run { rejects: &rejects_tx, counters: &counters, epoch };
        let input = tap(&ctx, ctx.table("input").await?, &mode, EpochCounters::READ_STEP).await?;
        let mut df = apply_stages(&ctx, input, spec, &env, &mode).await?;
        if let Some(l) = remaining_limit {
            df = df.limit(0, Some(l))?;
        }
        let out_schema = df.schema().as_arrow().clone();
        let plan = df.create_physical_plan().await?;
        let streams = execute_stream_partitioned(plan, ctx.task_ctx())?;
        let mut tasks = Vec::new();
        for (p, mut stream) in streams.into_iter().enumerate() {
            let writers: Vec<PartitionWriter> = sinks.sinks.iter().map(|s| PartitionWriter::new(s.clone(), epoch, p)).collect();
            let counters = counters.clone();
            let rejects = rejects_tx.clone();
            let cancel = opts.cancel.clone();
            let text_field = spec.spec.source.text_field.clone();
            let write_step = counters.write_step();
            let timing = counters.clone();
            tasks.push(tokio::spawn(CpuTimed::new(async move {
                let mut writers = writers;
                let mut profile = OutputProfile::default();
                while let Some(batch) = stream.next().await {
                    if cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) {
                        return Err(EngineError::Interrupted { epoch });
                    }
                    let batch = batch?;
                    let batch = split_rejects(batch, &rejects, &counters).await?;
                    counters.rows_out.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                    profile.observe(&batch, &text_field);
                    for w in writers.iter_mut() {
                        w.write(&batch).await?;
                    }
                }
                let mut staged = Vec::new();
                for w in writers {
                    staged.push(w.finish().await?);
                }
                Ok::<_, EngineError>((staged, profile))
            }, timing, write_step)));
        }
        drop(rejects_tx);
        let mut per_sink: Vec<Vec<StagedFile>> = vec![Vec::new(); sinks.sinks.len()];
        let mut failure = None;
        let mut epoch_profile = OutputProfile::default();
        for t in tasks {
            match t.await {
                Ok(Ok((staged, profile))) => {
                    for (i, files) in staged.into_iter().enumerate() {
                        per_sink[i].extend(files);
                    }
                    epoch_profile.merge(&profile);
                }
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(e) if e.is_panic() => {
                    let message = millrace_connectors::panic_message(e.into_panic().as_ref());
                    failure = failure.or(Some(EngineError::Panic { task: format!("writing epoch {epoch}"), message }));
                }
                Err(e) => failure = failure.or(Some(EngineError::Task { epoch, task: "writing", source: e })),
            }
        }
        // Readers end when their output channel closes; the table's copy of the sender goes here.
        if let Ok(mut g) = reject_slot.lock() {
            g.take();
        }
        drop(ctx);
        let (reject_files, by_reason) = match reject_task.await {
            Ok(r) => r?,
            Err(e) => return Err(EngineError::Task { epoch, task: "writing rejects", source: e }),
        };
        if let Some(e) = failure {
            if let Some(p) = &progress {
                p.finish();
            }
            return Err(e);
        }

        // Commit: every sink, then the rejects, then the Delta tables, then the checkpoint that marks
        // the source units done.
        let columns = Some(ColumnSchema::from_arrow(&out_schema, &[REJECT_COLUMN]));
        let committed = opts.limit.is_none();
        // A Delta table that already holds this epoch (its commit landed, the checkpoint did not)
        // keeps what it has: this attempt's files are dropped.
        let mut held = vec![None; sinks.sinks.len()];
        let data_schema = Arc::new(datafusion::arrow::datatypes::Schema::new(out_schema.fields().iter().filter(|f| f.name() != REJECT_COLUMN).cloned().collect::<Vec<_>>()));
        for (i, t) in tables.iter_mut().enumerate() {
            let s = &sinks.sinks[i];
            if let (Some(t), Some(d)) = (t.as_mut(), &s.delta) {
                held[i] = t.prepare(d, s.lane.as_deref(), epoch, &data_schema, &s.partition_by).await?;
                if held[i].is_some() {
                    commit::discard_staged(&s.base, &s.staging_dir(epoch)).await?;
                }
            }
        }
        // Nothing is published by a run that may have lost its lease; what is about to be published is
        // recorded first, so a crash in the middle is repaired from the record.
        lease.verify().await?;
        let pending = commit::PendingCommit {
            epoch,
            run_id: run_id.clone(),
            sinks: per_sink
                .iter()
                .zip(&sinks.sinks)
                .zip(&held)
                .filter(|(_, h)| h.is_none())
                .map(|((files, s), _)| (s.base.url(), files))
                .chain(std::iter::once((sinks.rejects.base.url(), &reject_files)))
                .map(|(url, files)| commit::PendingSink { url, files: files.iter().map(|f| f.path.clone()).collect() })
                .collect(),
        };
        commit::write_pending(&sinks.state, &pending).await?;
        let mut manifests = Vec::with_capacity(per_sink.len());
        let mut delta_files = Vec::new();
        for (i, files) in per_sink.into_iter().enumerate() {
            let s = &sinks.sinks[i];
            if s.delta.is_some() {
                // Published now, logged after the other sinks: the table is the last to learn of the epoch.
                let files = match held[i] {
                    Some(_) => files,
                    None => commit::publish_files(&s.base, &s.staging_dir(epoch), files, commit::server_copy_limit(&s.base)).await?,
                };
                manifests.push(commit::EpochManifest::new(epoch, &run_id, &s.name, files.clone(), columns.clone()));
                delta_files.push((i, files));
                continue;
            }
            let m = commit::publish(&s.base, &s.name, s.lane.as_deref(), &run_id, epoch, files, columns.clone()).await?;
            if let Some(t) = &topics[i] {
                t.send(&s.base, &m.files, epoch).await?;
            }
            manifests.push(m);
        }
        let rejects_manifest = commit::publish(&sinks.rejects.base, "rejects", sinks.rejects.lane.as_deref(), &run_id, epoch, reject_files, None).await?;
        if let Some(dl) = &dead_letter {
            dl.send(&sinks.rejects.base, &rejects_manifest.files, epoch).await?;
        }
        // `mode: overwrite` replaces a Delta table's contents once: with the state's first epoch.
        let overwrite = last.is_none() && epoch == 0;
        for (i, files) in delta_files {
            let s = &sinks.sinks[i];
            let (Some(table), Some(settings)) = (tables[i].as_mut(), s.delta.as_ref()) else { continue };
            let version = match held[i] {
                Some(v) => delta::Committed::Already(v),
                // A preview (`--limit`) publishes but never logs: the next run removes its files.
                None if !committed => continue,
                None => {
                    fail::fail_point!("before-delta-commit", |_| Err(EngineError::Epoch { epoch, source: "stopped before the Delta commit (failpoint)".into() }));
                    lease.verify().await?;
                    table
                        .commit_epoch(&delta::EpochCommit {
                            settings,
                            lane: s.lane.as_deref(),
                            epoch,
                            run_id: &run_id,
                            partition_by: &s.partition_by,
                            files: &files,
                            schema: &data_schema,
                            overwrite: overwrite && settings.mode == millrace_spec::DeltaMode::Overwrite,
                        })
                        .await?
                }
            };
            manifests[i].delta_version = Some(version.version());
            tracing::info!(epoch, sink = %s.name, version = version.version(), "Delta table committed");
        }

        let rows_read = metrics.rows_read.load(Ordering::Relaxed) - before_read;
        let source_rejected = metrics.rows_rejected.load(Ordering::Relaxed) - before_rej;
        let rows_out = counters.rows_out.load(Ordering::Relaxed);
        let stage_rejected = counters.stage_rejected.load(Ordering::Relaxed);
        let units_count = units.len();
        let bytes_in: u64 = units.iter().map(WorkUnit::bytes).sum();
        let mut cp = commit::new_checkpoint(epoch, &run_id, units);
        cp.rows_read = rows_read + source_rejected;
        cp.rows_written = rows_out;
        cp.rows_rejected = source_rejected + stage_rejected;
        cp.rows_filtered = rows_read.saturating_sub(rows_out + stage_rejected);
        if committed {
            // Tests stop here to leave an epoch published but not checkpointed, as a crash would.
            fail::fail_point!("before-checkpoint", |_| Err(EngineError::Epoch { epoch, source: "stopped before the checkpoint (failpoint)".into() }));
            lease.check()?;
            commit::write_checkpoint(&sinks.state, &cp).await?;
            for d in env.dedupe.values() {
                d.commit().await?;
            }
            epochs.committed(&cp.units).await;
        }
        summary.profile.merge(&epoch_profile);
        let record = EpochRecord {
            epoch,
            started_at: epoch_started,
            committed_at: chrono::Utc::now(),
            units: units_count,
            bytes_in,
            rows_read: cp.rows_read,
            rows_written: cp.rows_written,
            rows_filtered: cp.rows_filtered,
            rows_rejected: cp.rows_rejected,
            records_skipped: metrics.records_skipped.load(Ordering::Relaxed) - before_skipped,
            funnel: funnel(spec, &counters, rows_read, source_rejected, &by_reason),
            rejects_by_reason: by_reason,
            manifests,
            rejects_manifest,
            checkpoint: committed.then_some(cp),
            usage: resource_usage(),
        };
        record.export(&spec.spec.name.value);
        summary.add_epoch(record);
        if let Some(l) = remaining_limit.as_mut() {
            *l = l.saturating_sub(rows_out as usize);
        }
        tracing::info!(epoch, rows_out, "epoch committed");
    }
    if let Some(p) = &progress {
        p.finish();
    }
    summary.bytes_read = metrics.bytes_read.load(Ordering::Relaxed);
    summary.stages = crate::summary::StageCounts::from_metrics(&env.metrics, spec);
    summary.limited = opts.limit.is_some();
    summary.storage_request_failures = millrace_connectors::store::failed_requests() - failed_requests;
    summary.finish(started.elapsed(), resource_usage());
    Ok(summary)
}

/// Drains the epoch's reject channel into one JSONL file in staging; returns it and counts per reason.
async fn write_rejects(
    cfg: Arc<SinkConfig>,
    epoch: u64,
    mut rx: tokio::sync::mpsc::Receiver<Reject>,
    pii: Option<Arc<millrace_text::PiiParams>>,
) -> Result<(Vec<StagedFile>, BTreeMap<String, u64>)> {
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut file: Option<JsonlFile> = None;
    let mut buf = Vec::new();
    let mut rows = 0;
    while let Some(mut r) = rx.recv().await {
        if let Some(p) = &pii {
            if let std::borrow::Cow::Owned(t) = millrace_text::redact_pii(&r.record, p).text {
                r.record = t;
                // The raw bytes would carry what was just redacted.
                r.record_base64 = None;
            }
        }
        let key = r.reason.split(": ").next().unwrap_or("").to_string();
        *by_reason.entry(key).or_default() += 1;
        serde_json::to_writer(&mut buf, &r).map_err(|e| EngineError::Epoch { epoch, source: e.into() })?;
        buf.push(b'\n');
        rows += 1;
        if buf.len() >= 1 << 20 {
            let f = open_rejects(&cfg, epoch, &mut file)?;
            f.write_lines(std::mem::replace(&mut buf, Vec::with_capacity(1 << 20)), rows).await?;
            rows = 0;
        }
    }
    if !buf.is_empty() {
        let f = open_rejects(&cfg, epoch, &mut file)?;
        f.write_lines(buf, rows).await?;
    }
    let files = match file {
        Some(f) => vec![f.close().await?],
        None => vec![],
    };
    Ok((files, by_reason))
}

fn open_rejects<'a>(cfg: &SinkConfig, epoch: u64, file: &'a mut Option<JsonlFile>) -> Result<&'a mut JsonlFile> {
    if file.is_none() {
        let rel = cfg.file_name(epoch, 0, 0);
        let staging = cfg.base.child(&format!("{}/{}", cfg.staging_dir(epoch), rel));
        *file = Some(JsonlFile::create(staging, rel, LineCompression::None)?);
    }
    file.as_mut().ok_or_else(|| EngineError::Epoch { epoch, source: "rejects file not open".into() })
}
