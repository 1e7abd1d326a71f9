//! Who may write where.
//!
//! - **The state location is leased.** A run creates `_lease/gen-N.json` (N one above the last
//!   generation) with create-if-absent, so of two runs only one gets generation N; it rewrites
//!   `_lease/beat-N.json` every third of the lease time. Another run may take the state over (create
//!   generation N+1) only when the holder released it, when its heartbeat is older than the lease
//!   time, or when the holder was a process on this host that no longer exists (a `kill -9`). A
//!   holder that sees a newer generation, or could not renew in time, is fenced: it stops before
//!   committing anything more.
//! - **Output locations are owned.** Each sink and the rejects location hold `_millrace_owner.json`
//!   naming the state that writes them. A run refuses to write into a location owned by another
//!   state, or into one that already holds files when it has nothing committed of its own, so it
//!   never deletes (repairs) what it did not write.

use crate::store::{Location, put_json, put_new, read_json, storage};
use crate::{ConnectorError, Result};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Leases held by live [`Lease`] values of this process, by generation URL: a record of this
/// process that is not here was left by a run that ended (returned an error, panicked) without
/// releasing it.
static HELD: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

fn held_here(key: &str) -> bool {
    HELD.lock().map(|h| h.contains(key)).unwrap_or(true)
}

pub const OWNER_FILE: &str = "_millrace_owner.json";

/// The record in every output location.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OwnerRecord {
    pub pipeline: String,
    /// URL of the state location that owns this output.
    pub state: String,
    pub claimed_by_run: String,
    #[serde(default, with = "crate::commit::timestamp::informational")]
    pub claimed_at: Option<DateTime<Utc>>,
}

fn now() -> Option<DateTime<Utc>> {
    Some(Utc::now())
}

/// Claims `out` for the state at `state_url`, or fails with [`ConnectorError::Conflict`].
/// `resuming` is true when the state already holds committed epochs (a location written by an
/// earlier version, before owner records existed, is then adopted).
pub async fn claim(out: &Location, state: &Location, pipeline: &str, run_id: &str, resuming: bool) -> Result<()> {
    let marker = out.child(OWNER_FILE);
    let state_url = state.url();
    let mine = OwnerRecord { pipeline: pipeline.to_string(), state: state_url.clone(), claimed_by_run: run_id.to_string(), claimed_at: now() };
    for _ in 0..2 {
        if let Some((rec, _)) = read_json::<OwnerRecord>(&marker).await? {
            if same_location(&rec.state, &state_url) {
                return Ok(());
            }
            return Err(ConnectorError::Conflict {
                url: out.url(),
                message: format!(
                    "owned by pipeline `{}` whose state is {}; this run's state is {}. Point `state:` back at that location, or write to another location",
                    rec.pipeline, rec.state, state_url
                ),
            });
        }
        if !resuming {
            if let Some(foreign) = first_foreign_object(out, state).await? {
                return Err(ConnectorError::Conflict {
                    url: out.url(),
                    message: format!(
                        "already holds {foreign}, which no committed epoch of this pipeline's state ({state_url}) wrote; refusing to write (and repair) there. Use an empty location"
                    ),
                });
            }
        }
        if put_new(&marker, &mine).await? {
            return Ok(());
        }
        // Another run claimed it between our read and our write: read what it wrote.
    }
    Err(ConnectorError::Conflict { url: out.url(), message: "owner record keeps changing".into() })
}

fn same_location(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Any object under `out` that is not this state's own bookkeeping (the default state lives inside
/// the first sink).
async fn first_foreign_object(out: &Location, state: &Location) -> Result<Option<String>> {
    let mut list = out.store.list(Some(&out.path));
    let state_prefix = state.path.as_ref().to_string();
    let same_store = out.base == state.base;
    while let Some(meta) = list.try_next().await.map_err(|e| storage("list", &out.url(), e))? {
        let p = meta.location.as_ref();
        if same_store && (p == state_prefix || p.starts_with(&format!("{state_prefix}/"))) {
            continue;
        }
        if meta.location.filename() == Some(OWNER_FILE) {
            continue;
        }
        return Ok(Some(out.url_of(&meta.location)));
    }
    Ok(None)
}

/// `_lease/gen-N.json`: who took generation N.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseRecord {
    generation: u64,
    run_id: String,
    host: String,
    pid: u32,
    #[serde(default, with = "crate::commit::timestamp::informational")]
    acquired_at: Option<DateTime<Utc>>,
}

/// `_lease/beat-N.json`: the holder of generation N is alive (or has let go).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Beat {
    run_id: String,
    #[serde(default, with = "crate::commit::timestamp::informational")]
    renewed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    released: bool,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| std::env::var("HOSTNAME").unwrap_or_default())
}

/// Whether a process of this host still exists; `None` where that cannot be told.
fn process_alive(pid: u32) -> Option<bool> {
    if cfg!(target_os = "linux") { Some(std::path::Path::new(&format!("/proc/{pid}")).exists()) } else { None }
}

/// A held lease on a state location, renewed in the background until released or dropped.
pub struct Lease {
    dir: Location,
    generation: u64,
    run_id: String,
    ttl: Duration,
    lost: Arc<AtomicBool>,
    last_renewed: Arc<Mutex<Instant>>,
    renewer: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lease({} gen {})", self.dir.url(), self.generation)
    }
}

fn gen_path(dir: &Location, g: u64) -> Location {
    dir.child(&format!("gen-{g:012}.json"))
}
fn beat_path(dir: &Location, g: u64) -> Location {
    dir.child(&format!("beat-{g:012}.json"))
}

async fn generations(dir: &Location) -> Result<Vec<u64>> {
    let metas = crate::store::list_all(dir).await?;
    let mut g: Vec<u64> = metas
        .iter()
        .filter_map(|m| m.location.filename()?.strip_prefix("gen-")?.strip_suffix(".json")?.parse().ok())
        .collect();
    g.sort_unstable();
    Ok(g)
}

/// The store's clock: the modification time it gives an object written now (heartbeats carry the
/// store's times too, so lease ages never compare two hosts' clocks).
async fn store_now(dir: &Location) -> Result<DateTime<Utc>> {
    use object_store::ObjectStoreExt;
    let probe = dir.child("clock.json");
    crate::store::write_bytes(&probe, b"{}".to_vec()).await?;
    let meta = crate::store::retrying(|| probe.store.head(&probe.path)).await.map_err(|e| crate::store::storage("head", &probe.url(), e))?;
    Ok(meta.last_modified)
}

async fn put_beat(dir: &Location, g: u64, run_id: &str, released: bool) -> Result<()> {
    put_json(&beat_path(dir, g), &Beat { run_id: run_id.to_string(), renewed_at: now(), released }).await
}

impl Lease {
    /// Takes the lease on `state`, or fails with [`ConnectorError::Conflict`] naming the holder.
    pub async fn acquire(state: &Location, run_id: &str, ttl: Duration) -> Result<Lease> {
        let dir = state.child("_lease");
        let gens = generations(&dir).await?;
        let next = match gens.last() {
            None => 0,
            Some(&g) => {
                if let Some(reason) = Self::held(&dir, g, ttl, true).await? {
                    return Err(ConnectorError::Conflict { url: state.url(), message: reason });
                }
                g + 1
            }
        };
        let rec = LeaseRecord { generation: next, run_id: run_id.to_string(), host: host_name(), pid: std::process::id(), acquired_at: now() };
        if !put_new(&gen_path(&dir, next), &rec).await? {
            return Err(ConnectorError::Conflict {
                url: state.url(),
                message: format!("another run took lease generation {next} at the same moment; only one run may write this state"),
            });
        }
        if let Ok(mut h) = HELD.lock() {
            h.insert(gen_path(&dir, next).url());
        }
        put_beat(&dir, next, run_id, false).await?;
        let lost = Arc::new(AtomicBool::new(false));
        let last_renewed = Arc::new(Mutex::new(Instant::now()));
        let renewer = tokio::spawn(renew_loop(dir.clone(), next, run_id.to_string(), ttl, lost.clone(), last_renewed.clone()));
        Ok(Lease { dir, generation: next, run_id: run_id.to_string(), ttl, lost, last_renewed, renewer })
    }

    /// Whether a run now holds `state`'s lease (a released lease, a lapsed one, or one whose process
    /// on this host is gone does not hold it).
    pub async fn is_held(state: &Location, ttl: Duration) -> Result<bool> {
        let dir = state.child("_lease");
        match generations(&dir).await?.last() {
            None => Ok(false),
            Some(&g) => Ok(Self::held(&dir, g, ttl, false).await?.is_some()),
        }
    }

    /// Why generation `g` still holds the state, or `None` when it may be taken over.
    async fn held(dir: &Location, g: u64, ttl: Duration, taking: bool) -> Result<Option<String>> {
        let Some((rec, rec_meta)) = read_json::<LeaseRecord>(&gen_path(dir, g)).await? else {
            return Ok(None);
        };
        let beat = read_json::<Beat>(&beat_path(dir, g)).await?;
        if beat.as_ref().is_some_and(|(b, _)| b.released) {
            return Ok(None);
        }
        let this_process = rec.pid == std::process::id();
        if rec.host == host_name() && this_process && !held_here(&gen_path(dir, g).url()) {
            return Ok(None);
        }
        if rec.host == host_name() && !this_process && process_alive(rec.pid) == Some(false) {
            if taking {
                tracing::warn!(run = %rec.run_id, pid = rec.pid, "taking over the lease of a run that ended without releasing it");
            }
            return Ok(None);
        }
        let last = beat.map(|(_, m)| m.last_modified).unwrap_or(rec_meta.last_modified);
        // Both times are the store's: a clock of this host that runs ahead cannot make a live
        // holder's heartbeat look old.
        let age = store_now(dir).await?.signed_duration_since(last).to_std().unwrap_or_default();
        if age > ttl {
            if taking {
                tracing::warn!(run = %rec.run_id, age_s = age.as_secs(), "taking over a lease that was not renewed in time");
            }
            return Ok(None);
        }
        Ok(Some(format!(
            "run {} (host {}, pid {}) holds this state's lease (renewed {}s ago; it lapses after {}s without renewal). Only one run may write a pipeline's state at a time",
            rec.run_id,
            rec.host,
            rec.pid,
            age.as_secs(),
            ttl.as_secs()
        )))
    }

    /// Fails when the lease was lost or could not be renewed recently: the caller must not commit.
    pub fn check(&self) -> Result<()> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(self.fenced("another run took over this state's lease"));
        }
        let since = self.last_renewed.lock().map(|t| t.elapsed()).unwrap_or(Duration::MAX);
        if since > self.ttl * 2 / 3 {
            return Err(self.fenced(&format!("the lease was last renewed {}s ago and may have lapsed", since.as_secs())));
        }
        Ok(())
    }

    /// [`Self::check`], then confirms with the store that no newer generation exists.
    pub async fn verify(&self) -> Result<()> {
        self.check()?;
        let gens = generations(&self.dir).await?;
        if gens.last().is_some_and(|&g| g > self.generation) {
            self.lost.store(true, Ordering::SeqCst);
            return Err(self.fenced("another run took over this state's lease"));
        }
        Ok(())
    }

    fn fenced(&self, why: &str) -> ConnectorError {
        ConnectorError::Fenced { url: self.dir.url(), message: format!("run {} (lease generation {}): {why}", self.run_id, self.generation) }
    }

    /// Lets the next run take the state at once.
    pub async fn release(mut self) -> Result<()> {
        // The renewer is stopped and joined first, so none of its heartbeats can land after (and
        // overwrite) the released one; a released lease is taken over at once, an unreleased one
        // only after it lapses.
        let renewer = std::mem::replace(&mut self.renewer, tokio::spawn(async {}));
        renewer.abort();
        let _ = renewer.await;
        if self.lost.load(Ordering::SeqCst) {
            return Ok(());
        }
        put_beat(&self.dir, self.generation, &self.run_id, true).await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
        if let Ok(mut h) = HELD.lock() {
            h.remove(&gen_path(&self.dir, self.generation).url());
        }
    }
}

async fn renew_loop(dir: Location, g: u64, run_id: String, ttl: Duration, lost: Arc<AtomicBool>, last: Arc<Mutex<Instant>>) {
    let every = (ttl / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        match generations(&dir).await {
            Ok(gens) if gens.last().is_some_and(|&x| x > g) => {
                lost.store(true, Ordering::SeqCst);
                tracing::error!(generation = g, "lease taken over by another run; this run stops before its next commit");
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not check the lease");
                continue;
            }
        }
        match put_beat(&dir, g, &run_id, false).await {
            Ok(()) => {
                if let Ok(mut t) = last.lock() {
                    *t = Instant::now();
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not renew the lease"),
        }
    }
}
