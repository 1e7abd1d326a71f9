//! The dedupe stage: a blocking step inside an epoch, with bounded memory.
//!
//! Pass 1 executes the plan so far; every live row is appended to a per-partition Arrow IPC spill
//! file on local disk while its sketch (exact hash, MinHash band keys) goes to one `Deduper`, which
//! itself spills postings past its memory budget. Clustering then decides, deterministically, which
//! row of each cluster stays. Pass 2 replays the spill files: duplicates go to the rejects sink with
//! `duplicate_of` and reason `dedupe:exact`, `dedupe:minhash` or `dedupe:index` (a match with a
//! document kept by an earlier epoch or run, through the persistent index); the rest flow on.
//!
//! The index (`index:` URL) is a manifest plus one immutable segment per epoch (named by run and
//! epoch), written right after the epoch's checkpoint. A crash between the two leaves that epoch's
//! documents out of the index, so later duplicates of them may pass; the opposite order could make a
//! re-run epoch find itself in the index and drop every row, so it is not used. Without `index:`
//! the index lives in memory for the run, so epochs still dedupe against each other.

use crate::cut::{OnceStream, send_reject};
use crate::metrics::{CpuTimed, EpochCounters, StageMetrics, timed};
use crate::udf::strings;
use millrace_connectors::reject::row_json;
use crate::{EngineError, Result};
use datafusion::arrow::array::{Array, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::execute_stream_partitioned;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use millrace_connectors::reject::RejectSender;
use millrace_connectors::store::{Location, read_bytes, read_to_file, write_bytes, write_from_file};
use millrace_dedupe::{DedupeIndex, DedupeOutcome, Deduper, IndexManifest, Segment, Sketcher};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// A dedupe stage's state across the epochs of a run.
pub struct DedupeState {
    pub params: millrace_dedupe::DedupeParams,
    pub id_field: String,
    run_id: String,
    index_loc: Option<Location>,
    index: Mutex<Option<DedupeIndex>>,
    /// The epoch's new segment, in an unnamed temporary file until the epoch commits.
    pending: Mutex<Option<(String, std::fs::File)>>,
}

fn err(e: impl Into<millrace_connectors::BoxError>) -> EngineError {
    EngineError::Dedupe { source: e.into() }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> EngineError {
    err("a dedupe task panicked while holding the stage's state")
}

impl DedupeState {
    pub async fn open(
        stage: &millrace_spec::DedupeStage,
        id_field: &str,
        index_loc: Option<&Location>,
        run_id: &str,
    ) -> Result<Self> {
        let params = stage.params();
        // Without `index:` the index lives in memory for the run, so epochs dedupe against each other.
        let (index_loc, index) = match index_loc {
            None => (None, Some(DedupeIndex::new(params.fingerprint()))),
            Some(loc) => {
                let loc = loc.clone();
                let m = loc.child("manifest.json");
                let index = match read_bytes(&m).await? {
                    None => DedupeIndex::new(params.fingerprint()),
                    Some(bytes) => {
                        let manifest = IndexManifest::from_bytes(&bytes).map_err(err)?;
                        let mut files = Vec::new();
                        for name in manifest.segment_names() {
                            let s = loc.child(&format!("segments/{name}"));
                            let missing = || err(format!("segment {} listed in the index manifest is missing", s.url()));
                            // Segments are immutable: one on local disk is read where it is; any
                            // other is streamed to an unnamed temporary file (gone with the
                            // process, even after `kill -9`). Either way only its fence keys stay
                            // in memory.
                            files.push(match s.local_path() {
                                Some(p) => match std::fs::File::open(&p) {
                                    Ok(f) => f,
                                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
                                    Err(e) => return Err(err(format!("{}: {e}", s.url()))),
                                },
                                None => {
                                    let f = tempfile::tempfile().map_err(err)?;
                                    if !read_to_file(&s, &f).await? {
                                        return Err(missing());
                                    }
                                    f
                                }
                            });
                        }
                        let index = tokio::task::spawn_blocking(move || DedupeIndex::open(&bytes, files)).await.map_err(err)?.map_err(err)?;
                        if index.segments().is_empty() {
                            DedupeIndex::new(params.fingerprint())
                        } else if index.fingerprint() != params.fingerprint() {
                            return Err(err(millrace_dedupe::DedupeError::ParamsMismatch { index: index.fingerprint(), run: params.fingerprint() }));
                        } else {
                            index
                        }
                    }
                };
                (Some(loc), Some(index))
            }
        };
        Ok(Self {
            params,
            id_field: id_field.to_string(),
            run_id: run_id.to_string(),
            index_loc,
            index: Mutex::new(index),
            pending: Mutex::new(None),
        })
    }

    /// Stores the epoch's segment and the new manifest; the manifest write is the index's commit.
    pub async fn commit(&self) -> Result<()> {
        let Some((name, file)) = self.pending.lock().map_err(poisoned)?.take() else { return Ok(()) };
        let seg = self.store_segment(&name, file).await?;
        let manifest = {
            let mut g = self.index.lock().map_err(poisoned)?;
            let idx = g.get_or_insert_with(|| DedupeIndex::new(self.params.fingerprint()));
            idx.push_segment(seg).map_err(err)?;
            idx.manifest_bytes()
        };
        if let Some(loc) = &self.index_loc {
            write_bytes(&loc.child("manifest.json"), manifest).await?;
        }
        self.compact(&name).await
    }

    /// Stores a segment written to `file` under the index (when it has a location) and opens it.
    async fn store_segment(&self, name: &str, file: std::fs::File) -> Result<Segment> {
        if let Some(loc) = &self.index_loc {
            write_from_file(&loc.child(&format!("segments/{name}")), &file).await?;
        }
        let name = name.to_string();
        tokio::task::spawn_blocking(move || Segment::open(&name, file)).await.map_err(err)?.map_err(err)
    }

    /// Folds the newest segments into one when the merge rule asks for it, so a long run (a stream
    /// worker adds a segment per epoch) keeps about log2(documents) segments open and searched,
    /// not one per epoch. The merged segment is stored under a new name, the manifest that lists
    /// it in place of its inputs is the commit, and only then are the inputs deleted: segments
    /// this index's manifest listed, under the index lease this run holds. A crash in between
    /// leaves an unlisted object, never a broken index.
    async fn compact(&self, last: &str) -> Result<()> {
        let picked = {
            let g = self.index.lock().map_err(poisoned)?;
            g.as_ref().and_then(|ix| ix.merge_candidates().map(|r| (r.clone(), ix.segments()[r].to_vec())))
        };
        let Some((range, inputs)) = picked else { return Ok(()) };
        let name = format!("{last}-merged");
        let file = tempfile::tempfile().map_err(err)?;
        let out = file.try_clone().map_err(err)?;
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut w = std::io::BufWriter::new(&out);
            millrace_dedupe::merge_segments(&inputs, &mut w).map_err(err)?;
            w.flush().map_err(err)
        })
        .await
        .map_err(err)??;
        let seg = self.store_segment(&name, file).await?;
        let (replaced, manifest) = {
            let mut g = self.index.lock().map_err(poisoned)?;
            let Some(ix) = g.as_mut() else { return Ok(()) };
            (ix.replace_segments(range, seg).map_err(err)?, ix.manifest_bytes())
        };
        if let Some(loc) = &self.index_loc {
            write_bytes(&loc.child("manifest.json"), manifest).await?;
            for old in replaced {
                millrace_connectors::commit::delete_if_present(&loc.child(&format!("segments/{old}"))).await?;
            }
        }
        Ok(())
    }
}

struct Shared {
    outcome: DedupeOutcome,
    exact: Vec<Option<u128>>,
    /// Add-order index of each kept document that some duplicate points to.
    target_index: HashMap<String, usize>,
}

/// Spill files live in `<tmp>/millrace-spill/<pid>-<random>/`. A process killed with `kill -9`
/// cannot remove its own, so each new spill directory first removes those of processes that no
/// longer exist.
fn spill_dir() -> std::io::Result<tempfile::TempDir> {
    let base = std::env::temp_dir().join("millrace-spill");
    std::fs::create_dir_all(&base)?;
    if cfg!(target_os = "linux") {
        for e in std::fs::read_dir(&base)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid {
                if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    tempfile::Builder::new().prefix(&format!("{}-", std::process::id())).tempdir_in(base)
}

/// Where in the epoch a dedupe stage runs: its rejects, the epoch's counters and its funnel step.
pub struct At<'a> {
    pub rejects: &'a RejectSender,
    pub counters: &'a Arc<EpochCounters>,
    pub epoch: u64,
    pub step: usize,
}

pub async fn dedupe(
    ctx: &SessionContext,
    df: DataFrame,
    text: &str,
    state: Arc<DedupeState>,
    at: At<'_>,
    metrics: &Arc<StageMetrics>,
) -> Result<DataFrame> {
    let At { rejects, counters, epoch, step } = at;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let text_idx = schema.index_of(text).map_err(err)?;
    let id_idx = schema.index_of(&state.id_field).unwrap_or(0);
    let dir = spill_dir().map_err(err)?;
    let mut deduper = Deduper::new(&state.params, Some(dir.path().join("postings"))).map_err(err)?;
    deduper.set_memory_budget_bytes(state.params.memory_budget_mb << 20);
    let sketcher = Arc::new(Sketcher::new(&state.params).map_err(err)?);
    let deduper = Arc::new(Mutex::new((deduper, Vec::<Option<u128>>::new())));
    let plan = df.create_physical_plan().await?;
    let streams = execute_stream_partitioned(plan, ctx.task_ctx())?;
    let mut tasks = Vec::new();
    for (p, mut stream) in streams.into_iter().enumerate() {
        let path = dir.path().join(format!("part-{p}.arrow"));
        let schema = schema.clone();
        let sketcher = sketcher.clone();
        let deduper = deduper.clone();
        tasks.push(tokio::spawn(CpuTimed::new(async move {
            let file = std::fs::File::create(&path).map_err(err)?;
            let mut w = datafusion::arrow::ipc::writer::FileWriter::try_new(std::io::BufWriter::new(file), &schema)?;
            let mut order: Vec<u32> = Vec::new();
            while let Some(b) = stream.next().await {
                let b = b?;
                w.write(&b)?;
                let texts = strings(b.column(text_idx))?;
                let ids = strings(b.column(id_idx))?;
                let t: Vec<&str> = (0..texts.len()).map(|i| if texts.is_valid(i) { texts.value(i) } else { "" }).collect();
                let sketches = tokio::task::block_in_place(|| sketcher.sketch_batch(&t));
                let mut g = deduper.lock().map_err(poisoned)?;
                for (i, s) in sketches.iter().enumerate() {
                    order.push(g.1.len() as u32);
                    g.1.push(s.exact);
                    let id = if ids.is_valid(i) { ids.value(i) } else { "" };
                    g.0.add_sketch(id, s).map_err(err)?;
                }
            }
            w.finish()?;
            Ok::<_, EngineError>((path, order))
        }, counters.clone(), step)));
    }
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.map_err(err)??);
    }
    let (deduper, exact) = Arc::try_unwrap(deduper)
        .map_err(|_| err("dedupe state still shared"))?
        .into_inner()
        .map_err(err)?;
    let segment = tempfile::tempfile().map_err(err)?;
    let outcome = {
        let index = state.index.lock().map_err(poisoned)?;
        timed(&counters.steps[step].cpu_ns, || {
            tokio::task::block_in_place(|| {
                use std::io::Write;
                let mut w = std::io::BufWriter::new(&segment);
                let out = deduper.finish(index.as_ref(), Some(&mut w as &mut dyn Write)).map_err(err)?;
                w.flush().map_err(err)?;
                Ok::<_, EngineError>(out)
            })
        })?
    };
    *state.pending.lock().map_err(poisoned)? = Some((format!("{}-epoch-{epoch:06}", state.run_id), segment));
    let targets: HashSet<&str> = outcome.iter().filter_map(|(_, d)| d).collect();
    let mut target_index = HashMap::new();
    for (i, (id, _)) in outcome.iter().enumerate() {
        if targets.contains(id) {
            target_index.entry(id.to_string()).or_insert(i);
        }
    }
    let shared = Arc::new(Shared { outcome, exact, target_index });

    // Each replay task holds the spill directory until it has read its file.
    let dir = Arc::new(dir);
    let mut streams: Vec<Arc<dyn PartitionStream>> = Vec::new();
    for (path, order) in parts {
        let dir = dir.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let shared = shared.clone();
        let rejects = rejects.clone();
        let metrics = metrics.clone();
        let counters = counters.clone();
        let timing = counters.clone();
        tokio::spawn(CpuTimed::new(async move {
            let run = async {
                let file = std::fs::File::open(&path).map_err(err)?;
                let reader = datafusion::arrow::ipc::reader::FileReader::try_new(std::io::BufReader::new(file), None)?;
                let mut pos = 0usize;
                for b in reader {
                    let b = b?;
                    let n = b.num_rows();
                    let mut keep = Vec::with_capacity(n);
                    for r in 0..n {
                        let doc = order.get(pos + r).copied().unwrap_or(0) as usize;
                        match shared.outcome.duplicate_of(doc) {
                            None => keep.push(true),
                            Some(of) => {
                                keep.push(false);
                                let reason = if shared.outcome.is_duplicate_of_indexed(doc) {
                                    metrics.dedupe_cross_run.fetch_add(1, Ordering::Relaxed);
                                    "dedupe:index"
                                } else {
                                    let same = shared.target_index.get(of).and_then(|k| shared.exact.get(*k)).copied().flatten();
                                    match (same, shared.exact.get(doc).copied().flatten()) {
                                        (Some(a), Some(b)) if a == b => {
                                            metrics.dedupe_exact.fetch_add(1, Ordering::Relaxed);
                                            "dedupe:exact"
                                        }
                                        _ => {
                                            metrics.dedupe_minhash.fetch_add(1, Ordering::Relaxed);
                                            "dedupe:minhash"
                                        }
                                    }
                                };
                                let mut rec: serde_json::Value = serde_json::from_str(&row_json(&b, r)).unwrap_or(serde_json::Value::Null);
                                if let Some(o) = rec.as_object_mut() {
                                    o.insert("duplicate_of".into(), serde_json::Value::String(of.to_string()));
                                }
                                counters.stage_rejected.fetch_add(1, Ordering::Relaxed);
                                counters.steps[step].rows_rejected.fetch_add(1, Ordering::Relaxed);
                                counters.steps[step].reject_reason(reason, 1);
                                send_reject(&rejects, Some(shared.outcome.id(doc).to_string()), reason.into(), rec.to_string()).await;
                            }
                        }
                    }
                    pos += n;
                    let live = filter_record_batch(&b, &BooleanArray::from(keep))?;
                    if tx.send(Ok(live)).await.is_err() {
                        break;
                    }
                }
                Ok::<_, EngineError>(())
            };
            let failure = match futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(panic) => Some(EngineError::Panic { task: "replaying deduplicated rows".into(), message: millrace_connectors::panic_message(panic.as_ref()) }),
            };
            if let Some(e) = failure {
                let _ = tx.send(Err(DataFusionError::External(Box::new(e)))).await;
            }
            drop(dir);
        }, timing, step));
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        let s = Box::pin(RecordBatchStreamAdapter::new(schema.clone(), stream.map(|r: std::result::Result<RecordBatch, DataFusionError>| r)));
        streams.push(Arc::new(OnceStream::new(schema.clone(), s)));
    }
    let table = StreamingTable::try_new(schema.clone(), streams)?;
    Ok(ctx.read_table(Arc::new(table))?)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn spill_dirs_of_killed_processes_are_removed_and_live_ones_kept() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let base = std::env::temp_dir().join("millrace-spill");
        let left = base.join(format!("{dead}-left"));
        std::fs::create_dir_all(&left).unwrap();
        std::fs::write(left.join("run-0.bin"), b"spilled").unwrap();
        let live = tempfile::Builder::new().prefix(&format!("{}-", std::process::id())).tempdir_in(&base).unwrap();
        let mine = super::spill_dir().unwrap();
        assert!(!left.exists(), "a killed process's spill dir is removed");
        assert!(live.path().exists(), "a live process's spill dir is kept");
        assert!(mine.path().starts_with(&base) && mine.path().exists());
    }
}
