//! Clustering: documents sharing an exact hash or any MinHash band key are linked, union-find
//! builds the components, and exactly one document per component is kept.
//!
//! ## How links are formed (and why the result is order independent)
//! All postings `(key, doc)` are sorted (in memory, or as spilled runs merged k-way). For each
//! group of documents sharing a key, the group's *leader* is the member that ranks first under
//! the keep rule; every other member is linked to the leader. Exact-hash groups always link.
//! MinHash groups link unconditionally, or, with `verify_threshold` set, only when the
//! estimated Jaccard similarity of the member's and the leader's signatures reaches the
//! threshold. Because the leader is defined by the rank (not by arrival order), the set of
//! links, the components and the kept documents are the same for any batch order and any
//! thread count under `smallest_id` and `longest`; `first_seen` ranks by arrival order.
//!
//! Documents from a [`DedupeIndex`] (earlier runs) rank before every new document, oldest
//! segment first, so a new document that matches an indexed one reports the *original* id.
//!
//! ## Memory
//! Per document the deduper keeps its id (in one string arena), a u64 offset, the text length
//! when `keep: longest`, and a 2-byte-per-hash sketch only when verification is on. Postings
//! (16 bytes each, `bands + 1` per document) live in a buffer bounded by
//! `memory_budget_mb`; when it is full the buffer is sorted and spilled as a run file into the
//! caller's directory, so the posting memory stays at the budget however many documents come.
//! `finish` streams the merged runs twice (cluster, then write the index segment) and needs
//! one u32 parent and one u32 "best member" per document for the union-find.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh64::xxh64;

use crate::error::{DedupeError, Result};
use crate::exact::{ExactParams, text_hash};
use crate::index::{DedupeIndex, SegmentWriter};
use crate::minhash::{MinHashParams, MinHasher, compact_sketch, sketch_similarity};
use crate::spill::{DOC_MASK, EXACT_TAG, Entry, SpillSet};

/// Which member of a duplicate cluster survives.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeepRule {
    /// The document with the lexicographically smallest id (bytewise).
    #[default]
    #[serde(alias = "smallest", alias = "min_id")]
    SmallestId,
    /// The longest text (in bytes); ties go to the smallest id.
    #[serde(alias = "largest")]
    Longest,
    /// The document fed first.
    #[serde(alias = "first")]
    FirstSeen,
}

/// Parameters of a dedupe run (YAML: `dedupe:`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DedupeParams {
    /// Exact (hash) dedup.
    pub exact: ExactParams,
    /// Near-duplicate dedup with MinHash LSH.
    #[serde(alias = "near")]
    pub minhash: MinHashParams,
    /// Which document of a cluster is kept.
    #[serde(alias = "keep_rule")]
    pub keep: KeepRule,
    /// If set, a MinHash band collision only links two documents when their estimated Jaccard
    /// similarity (fraction of equal signature values) is at least this. `None` links on any
    /// shared band, like datatrove. Default `None` (see the crate docs for the measurement).
    #[serde(alias = "verify", alias = "similarity_threshold")]
    pub verify_threshold: Option<f64>,
    /// Memory for the posting buffer before it spills to disk, in MiB. Default 256.
    #[serde(alias = "memory_budget", alias = "memory_mb")]
    pub memory_budget_mb: u64,
}

impl Default for DedupeParams {
    fn default() -> Self {
        Self {
            exact: ExactParams::default(),
            minhash: MinHashParams::default(),
            keep: KeepRule::default(),
            verify_threshold: None,
            memory_budget_mb: 256,
        }
    }
}

/// Version of the tokenisation and key derivation; part of the fingerprint so that an index
/// built by an older, incompatible version is rejected instead of silently never matching.
const KEY_SCHEME_VERSION: u32 = 1;

impl DedupeParams {
    /// Checks all parameters.
    pub fn validate(&self) -> Result<()> {
        if self.minhash.enabled {
            self.minhash.validate()?;
        }
        if let Some(t) = self.verify_threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(DedupeError::InvalidParams {
                name: "verify_threshold",
                reason: format!("{t} is not in [0, 1]"),
            });
        }
        if !self.exact.enabled && !self.minhash.enabled {
            return Err(DedupeError::InvalidParams {
                name: "exact",
                reason: "both exact and minhash are disabled".into(),
            });
        }
        Ok(())
    }

    /// Fingerprint of everything that determines the keys; an index only matches runs with
    /// the same fingerprint.
    pub fn fingerprint(&self) -> u64 {
        let m = &self.minhash;
        let s = format!(
            "v{KEY_SCHEME_VERSION};exact={},{};minhash={},{},{},{},{}",
            self.exact.enabled, self.exact.normalise, m.enabled, m.ngram, m.bands, m.rows, m.seed
        );
        xxh64(s.as_bytes(), 0)
    }
}

/// Everything the deduper needs to know about one document, computed from its text.
/// The engine may compute sketches in its own parallel operators and feed them with
/// [`Deduper::add_sketch`].
#[derive(Debug, Clone, PartialEq)]
pub struct DocSketch {
    /// Exact hash (when exact dedup is on).
    pub exact: Option<u128>,
    /// One key per non-empty band (when MinHash is on).
    pub band_keys: Vec<u64>,
    /// Verification sketch (when `verify_threshold` is set).
    pub verify: Option<Vec<u16>>,
    /// Text length in bytes (used by `keep: longest`).
    pub len: u64,
}

/// Computes [`DocSketch`]es for a parameter set; cheap to share across threads.
#[derive(Debug, Clone)]
pub struct Sketcher {
    params: DedupeParams,
    hasher: Option<MinHasher>,
}

impl Sketcher {
    /// Validates the parameters and precomputes the MinHash permutations.
    pub fn new(params: &DedupeParams) -> Result<Self> {
        params.validate()?;
        let hasher = if params.minhash.enabled {
            Some(MinHasher::new(&params.minhash)?)
        } else {
            None
        };
        Ok(Self {
            params: params.clone(),
            hasher,
        })
    }

    /// Sketch of one text.
    pub fn sketch(&self, text: &str) -> DocSketch {
        let exact = self
            .params
            .exact
            .enabled
            .then(|| text_hash(text, self.params.exact.normalise));
        let (band_keys, verify) = match &self.hasher {
            Some(h) => {
                let sig = h.signature(text);
                let keys = h.band_keys(&sig);
                let verify = self.params.verify_threshold.map(|_| compact_sketch(&sig));
                (keys, verify)
            }
            None => (Vec::new(), None),
        };
        DocSketch {
            exact,
            band_keys,
            verify,
            len: text.len() as u64,
        }
    }

    /// Sketches of many texts, in input order, computed in parallel.
    pub fn sketch_batch(&self, texts: &[&str]) -> Vec<DocSketch> {
        texts.par_iter().map(|t| self.sketch(t)).collect()
    }
}

/// Counters of a finished run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DedupeStats {
    pub docs: u64,
    pub kept: u64,
    pub duplicates: u64,
    /// Duplicates whose kept document comes from the index (an earlier run).
    pub duplicates_of_indexed: u64,
    /// Links made by exact-hash groups.
    pub exact_links: u64,
    /// Links made by MinHash band groups.
    pub minhash_links: u64,
    /// Band collisions rejected by verification.
    pub rejected_by_verification: u64,
    /// Sorted runs spilled to disk.
    pub spilled_runs: u64,
    /// Postings processed.
    pub postings: u64,
}

/// The verdict for one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Kept,
    DupOfNew(u32),
    DupOfIndexed(u32),
}

/// Result of a dedupe run: for every document fed (in feed order), whether it is kept or the
/// id of the document it duplicates.
#[derive(Debug, Clone)]
pub struct DedupeOutcome {
    ids: IdArena,
    verdicts: Vec<Verdict>,
    indexed_ids: Vec<String>,
    stats: DedupeStats,
}

impl DedupeOutcome {
    /// Number of documents fed.
    pub fn len(&self) -> usize {
        self.verdicts.len()
    }
    /// True when no document was fed.
    pub fn is_empty(&self) -> bool {
        self.verdicts.is_empty()
    }
    /// Id of document `i` (feed order); empty for an out-of-range index.
    pub fn id(&self, i: usize) -> &str {
        self.ids.get(i).unwrap_or("")
    }
    /// The id of the kept document that `i` duplicates, or `None` if `i` is kept. The id may
    /// belong to this run or to an earlier one (from the index).
    pub fn duplicate_of(&self, i: usize) -> Option<&str> {
        match self.verdicts.get(i)? {
            Verdict::Kept => None,
            Verdict::DupOfNew(k) => self.ids.get(*k as usize),
            Verdict::DupOfIndexed(k) => self.indexed_ids.get(*k as usize).map(String::as_str),
        }
    }
    /// Whether the kept document of `i`'s cluster comes from an earlier run.
    pub fn is_duplicate_of_indexed(&self, i: usize) -> bool {
        matches!(self.verdicts.get(i), Some(Verdict::DupOfIndexed(_)))
    }
    /// `(id, duplicate_of)` for every document in feed order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        (0..self.len()).map(|i| (self.id(i), self.duplicate_of(i)))
    }
    /// Run counters.
    pub fn stats(&self) -> &DedupeStats {
        &self.stats
    }
}

/// Document ids in one string arena (one allocation for all ids).
#[derive(Debug, Clone, Default)]
struct IdArena {
    bytes: String,
    ends: Vec<u64>,
}

impl IdArena {
    fn push(&mut self, id: &str) {
        self.bytes.push_str(id);
        self.ends.push(self.bytes.len() as u64);
    }
    fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.bytes.get(start..end)
    }
    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Accumulates documents (ids and keys, never texts) and clusters them in `finish`.
#[derive(Debug)]
pub struct Deduper {
    params: DedupeParams,
    sketcher: Sketcher,
    ids: IdArena,
    lens: Vec<u64>,
    sketch_len: usize,
    sketches: Vec<u16>,
    entries: Vec<Entry>,
    max_entries: usize,
    spill: SpillSet,
    spilled_runs: u64,
}

/// The largest number of documents one run can hold (document indices are 31-bit).
pub const MAX_DOCS_PER_RUN: u64 = DOC_MASK as u64;

impl Deduper {
    /// A deduper that spills into `spill_dir` (or the system temp dir when `None`) once the
    /// posting buffer exceeds `params.memory_budget_mb`.
    pub fn new(params: &DedupeParams, spill_dir: Option<PathBuf>) -> Result<Self> {
        let sketcher = Sketcher::new(params)?;
        let sketch_len = if params.verify_threshold.is_some() && params.minhash.enabled {
            params.minhash.num_hashes()
        } else {
            0
        };
        let mut d = Self {
            params: params.clone(),
            sketcher,
            ids: IdArena::default(),
            lens: Vec::new(),
            sketch_len,
            sketches: Vec::new(),
            entries: Vec::new(),
            max_entries: 0,
            spill: SpillSet::new(spill_dir.unwrap_or_else(std::env::temp_dir)),
            spilled_runs: 0,
        };
        d.set_memory_budget_bytes(params.memory_budget_mb.saturating_mul(1 << 20));
        Ok(d)
    }

    /// Overrides the posting-buffer budget with a byte count (tests and fine tuning).
    pub fn set_memory_budget_bytes(&mut self, bytes: u64) {
        let per = std::mem::size_of::<Entry>() as u64;
        self.max_entries = (bytes / per).clamp(16, usize::MAX as u64 / 2) as usize;
    }

    /// The sketcher matching this deduper's parameters.
    pub fn sketcher(&self) -> &Sketcher {
        &self.sketcher
    }

    /// Number of documents fed so far.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// True when no document was fed.
    pub fn is_empty(&self) -> bool {
        self.ids.len() == 0
    }

    /// Feeds one document.
    pub fn add(&mut self, id: &str, text: &str) -> Result<()> {
        let s = self.sketcher.sketch(text);
        self.add_sketch(id, &s)
    }

    /// Feeds a batch of `(id, text)` documents; sketches are computed in parallel, documents are
    /// registered in the given order.
    pub fn add_batch(&mut self, docs: &[(&str, &str)]) -> Result<()> {
        let sketches: Vec<DocSketch> = docs
            .par_iter()
            .map(|(_, t)| self.sketcher.sketch(t))
            .collect();
        for ((id, _), s) in docs.iter().zip(&sketches) {
            self.add_sketch(id, s)?;
        }
        Ok(())
    }

    /// Feeds a precomputed sketch (must come from a [`Sketcher`] with the same parameters).
    pub fn add_sketch(&mut self, id: &str, sketch: &DocSketch) -> Result<()> {
        let idx = self.ids.len() as u64;
        if idx >= MAX_DOCS_PER_RUN {
            return Err(DedupeError::TooManyDocuments {
                limit: MAX_DOCS_PER_RUN,
            });
        }
        if self.params.exact.enabled != sketch.exact.is_some() {
            return Err(DedupeError::SketchMismatch {
                reason: "exact hash presence differs from `exact.enabled`".into(),
            });
        }
        if sketch.band_keys.len() > self.params.minhash.bands
            || (!self.params.minhash.enabled && !sketch.band_keys.is_empty())
        {
            return Err(DedupeError::SketchMismatch {
                reason: "more band keys than bands".into(),
            });
        }
        if self.sketch_len > 0 {
            match &sketch.verify {
                Some(v) if v.len() == self.sketch_len => self.sketches.extend_from_slice(v),
                _ => {
                    return Err(DedupeError::SketchMismatch {
                        reason: "verification sketch missing or of wrong length".into(),
                    });
                }
            }
        }
        let idx = idx as u32;
        self.ids.push(id);
        if self.params.keep == KeepRule::Longest {
            self.lens.push(sketch.len);
        }
        if let Some(h) = sketch.exact {
            self.push_entry(Entry {
                key: fold_u128(h),
                doc: idx | EXACT_TAG,
            })?;
        }
        for &k in &sketch.band_keys {
            self.push_entry(Entry { key: k, doc: idx })?;
        }
        Ok(())
    }

    fn push_entry(&mut self, e: Entry) -> Result<()> {
        if self.entries.len() >= self.max_entries {
            self.entries.par_sort_unstable();
            self.spill.write_run(&self.entries)?;
            self.spilled_runs += 1;
            self.entries.clear();
        }
        self.entries.push(e);
        Ok(())
    }

    /// Clusters everything fed so far. With `index`, documents matching an earlier run's kept
    /// documents become their duplicates. With `segment_out`, the keys of this run's kept
    /// documents are written there as a new index segment (see [`crate::index`]); add it to
    /// the index with [`DedupeIndex::add_segment`] and store it with the new manifest.
    pub fn finish(
        mut self,
        index: Option<&DedupeIndex>,
        segment_out: Option<&mut dyn Write>,
    ) -> Result<DedupeOutcome> {
        let fingerprint = self.params.fingerprint();
        if let Some(ix) = index
            && ix.fingerprint() != fingerprint
        {
            return Err(DedupeError::ParamsMismatch {
                index: ix.fingerprint(),
                run: fingerprint,
            });
        }
        self.entries.par_sort_unstable();
        let n = self.ids.len();
        let mut ctx = Cluster {
            parent: (0..n as u32).collect(),
            indexed: Vec::new(),
            indexed_map: HashMap::new(),
            stats: DedupeStats {
                docs: n as u64,
                spilled_runs: self.spilled_runs,
                ..Default::default()
            },
        };
        let verify = self.params.verify_threshold.filter(|_| self.sketch_len > 0);
        let mut hits: Vec<u32> = Vec::new();
        let mut members: Vec<u32> = Vec::new();
        let mut idx_sketch: Vec<u16> = Vec::new();
        let mut leader_sketch: Vec<u16> = Vec::new();
        {
            let mut merger = self.spill.merge(&self.entries)?;
            let me = &self;
            let mut cursors: Vec<_> = index.map(|ix| ix.segments().iter().map(|s| s.cursor()).collect()).unwrap_or_default();
            merger.for_each_group(|key, exact, docs| {
                ctx.stats.postings += docs.len() as u64;
                members.clear();
                for (s, cursor) in cursors.iter_mut().enumerate() {
                    hits.clear();
                    cursor.lookup(key, exact, &mut hits)?;
                    for &h in &hits {
                        members.push(ctx.indexed_node(n, s as u32, h));
                    }
                }
                if members.is_empty() && docs.len() < 2 {
                    return Ok(());
                }
                members.extend_from_slice(docs);
                let leader = members
                    .iter()
                    .copied()
                    .reduce(|a, b| if me.ranks_before(&ctx, n, b, a) { b } else { a });
                let Some(leader) = leader else { return Ok(()) };
                if verify.is_some() {
                    me.node_sketch(&ctx, index, n, leader, &mut leader_sketch)?;
                }
                for &m in members.iter() {
                    if m == leader {
                        continue;
                    }
                    if let (Some(t), false) = (verify, exact) {
                        me.node_sketch(&ctx, index, n, m, &mut idx_sketch)?;
                        // Indexed documents from runs without sketches cannot be verified; a
                        // band collision with them is accepted as is.
                        if !leader_sketch.is_empty()
                            && !idx_sketch.is_empty()
                            && sketch_similarity(&leader_sketch, &idx_sketch) < t
                        {
                            ctx.stats.rejected_by_verification += 1;
                            continue;
                        }
                    }
                    if ctx.union(leader, m) {
                        if exact {
                            ctx.stats.exact_links += 1;
                        } else {
                            ctx.stats.minhash_links += 1;
                        }
                    }
                }
                Ok(())
            })?;
        }

        // Best-ranked member of every component.
        let total = ctx.parent.len();
        let mut best = vec![u32::MAX; total];
        for v in 0..total as u32 {
            let r = ctx.find(v) as usize;
            if best[r] == u32::MAX || self.ranks_before(&ctx, n, v, best[r]) {
                best[r] = v;
            }
        }
        let mut verdicts = Vec::with_capacity(n);
        let mut kept_local: Vec<u32> = vec![u32::MAX; n];
        let mut kept_count = 0u32;
        let mut indexed_ids: Vec<String> = Vec::new();
        let mut indexed_pos: HashMap<u32, u32> = HashMap::new();
        for d in 0..n as u32 {
            let k = best[ctx.find(d) as usize];
            let v = if k == d {
                kept_local[d as usize] = kept_count;
                kept_count += 1;
                Verdict::Kept
            } else if (k as usize) < n {
                Verdict::DupOfNew(k)
            } else {
                let pos = match indexed_pos.entry(k) {
                    std::collections::hash_map::Entry::Occupied(e) => *e.get(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        let (s, local) = ctx.indexed[k as usize - n];
                        let id = match index.and_then(|ix| ix.segments().get(s as usize)) {
                            Some(seg) => seg.id(local)?,
                            None => String::new(),
                        };
                        indexed_ids.push(id);
                        *e.insert((indexed_ids.len() - 1) as u32)
                    }
                };
                Verdict::DupOfIndexed(pos)
            };
            verdicts.push(v);
        }
        let mut stats = ctx.stats;
        stats.kept = kept_count as u64;
        stats.duplicates = n as u64 - stats.kept;
        stats.duplicates_of_indexed = verdicts
            .iter()
            .filter(|v| matches!(v, Verdict::DupOfIndexed(_)))
            .count() as u64;

        if let Some(out) = segment_out {
            let mut w = SegmentWriter::new(out, fingerprint);
            let mut merger = self.spill.merge(&self.entries)?;
            while let Some(e) = merger.next_entry()? {
                let local = kept_local[(e.doc & DOC_MASK) as usize];
                if local != u32::MAX {
                    w.record(e.key, local | (e.doc & EXACT_TAG))?;
                }
            }
            let kept_ids = (0..n)
                .filter(|&d| kept_local[d] != u32::MAX)
                .map(|d| self.ids.get(d).unwrap_or(""));
            let mut kept_sketches = Vec::new();
            if self.sketch_len > 0 {
                for d in (0..n).filter(|&d| kept_local[d] != u32::MAX) {
                    kept_sketches.extend_from_slice(
                        &self.sketches[d * self.sketch_len..(d + 1) * self.sketch_len],
                    );
                }
            }
            w.finish(kept_ids, &kept_sketches, self.sketch_len)?;
        }
        Ok(DedupeOutcome {
            ids: std::mem::take(&mut self.ids),
            verdicts,
            indexed_ids,
            stats,
        })
    }

    /// Whether node `a` ranks before node `b` (is preferred as the kept document).
    /// Indexed nodes (>= n) come first, by segment then local index.
    fn ranks_before(&self, ctx: &Cluster, n: usize, a: u32, b: u32) -> bool {
        let (ai, bi) = (a as usize >= n, b as usize >= n);
        match (ai, bi) {
            (true, true) => ctx.indexed[a as usize - n] < ctx.indexed[b as usize - n],
            (true, false) => true,
            (false, true) => false,
            (false, false) => {
                let id = |x: u32| self.ids.get(x as usize).unwrap_or("");
                match self.params.keep {
                    KeepRule::FirstSeen => a < b,
                    KeepRule::SmallestId => (id(a), a) < (id(b), b),
                    KeepRule::Longest => {
                        let (la, lb) = (self.lens[a as usize], self.lens[b as usize]);
                        la > lb || (la == lb && (id(a), a) < (id(b), b))
                    }
                }
            }
        }
    }

    fn node_sketch(
        &self,
        ctx: &Cluster,
        index: Option<&DedupeIndex>,
        n: usize,
        node: u32,
        out: &mut Vec<u16>,
    ) -> Result<()> {
        out.clear();
        if (node as usize) < n {
            let s = node as usize * self.sketch_len;
            if let Some(v) = self.sketches.get(s..s + self.sketch_len) {
                out.extend_from_slice(v);
            }
        } else if let Some(&(seg, local)) = ctx.indexed.get(node as usize - n)
            && let Some(seg) = index.and_then(|ix| ix.segments().get(seg as usize))
        {
            seg.sketch(local, out)?;
            if out.len() != self.sketch_len {
                out.clear();
            }
        }
        Ok(())
    }
}

/// Folds an exact 128-bit hash to a 64-bit posting key.
fn fold_u128(h: u128) -> u64 {
    (h as u64) ^ ((h >> 64) as u64).rotate_left(17)
}

struct Cluster {
    parent: Vec<u32>,
    /// (segment, local doc) for node `n + i`.
    indexed: Vec<(u32, u32)>,
    indexed_map: HashMap<(u32, u32), u32>,
    stats: DedupeStats,
}

impl Cluster {
    fn indexed_node(&mut self, n: usize, seg: u32, local: u32) -> u32 {
        if let Some(&v) = self.indexed_map.get(&(seg, local)) {
            return v;
        }
        let v = (n + self.indexed.len()) as u32;
        self.indexed.push((seg, local));
        self.parent.push(v);
        self.indexed_map.insert((seg, local), v);
        v
    }

    fn find(&mut self, mut x: u32) -> u32 {
        // Path halving keeps trees shallow without recursion.
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    /// Joins the components of `a` and `b`; false if they were already one.
    fn union(&mut self, a: u32, b: u32) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[hi as usize] = lo;
        true
    }
}

/// Dedupes an in-memory batch of `(id, text)` in one call (no index, no spill directory
/// beyond the system temp dir). Returns `duplicate_of` per document, in input order.
pub fn dedupe_batch(docs: &[(&str, &str)], params: &DedupeParams) -> Result<Vec<Option<String>>> {
    let mut d = Deduper::new(params, None)?;
    d.add_batch(docs)?;
    let out = d.finish(None, None)?;
    Ok((0..out.len())
        .map(|i| out.duplicate_of(i).map(str::to_string))
        .collect())
}
