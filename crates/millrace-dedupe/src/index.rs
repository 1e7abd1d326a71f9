//! The persistent, incremental dedupe index: immutable sorted segments plus a small manifest.
//!
//! ## Why this format
//! * **Object storage friendly.** Object stores write whole objects and have no cheap
//!   append or in-place update. Every dedupe run therefore produces one *new immutable
//!   segment* (the keys of the documents it kept) and a new *manifest* that lists all segments
//!   in order. Writing the manifest last is the commit point: a crashed run leaves at most an
//!   unreferenced segment object behind, never a half-updated index.
//! * **Queryable as fetched.** Records are fixed-width and sorted by key, so lookups are binary
//!   searches directly on the fetched bytes: no parsing, no hash table rebuild, and the bytes
//!   could be memory-mapped or range-read unchanged.
//! * **Streamable to write.** All counts live in a fixed-size footer (as in Parquet), so the
//!   deduper writes a segment in one sequential pass straight out of its k-way merge, without
//!   holding the segment in memory.
//! * **Safe to read.** The footer carries a magic, a version, the fingerprint of the hashing
//!   parameters (keys built with other parameters are meaningless and are rejected) and an
//!   xxh64 checksum of the whole segment (catches truncated or corrupted objects).
//! * Many small segments can later be compacted by a k-way merge of their (sorted) records.
//!
//! ## Segment layout (all integers little-endian)
//! ```text
//! records    n_records x { key: u64, doc: u32 }   sorted by (key, doc); doc bit 31 = exact key
//! id_offsets (n_docs + 1) x u64                    byte offsets into id_bytes
//! id_bytes   UTF-8 original document ids, concatenated
//! sketches   n_docs x sketch_len x u16             verification sketches (sketch_len may be 0)
//! footer     56 bytes: magic "MRDDSEG1", version u32, flags u32, fingerprint u64,
//!            n_records u64, n_docs u64, sketch_len u32, reserved u32, xxh64 checksum u64
//!            (checksum of every byte before it, seed 0)
//! ```
//!
//! ## Manifest (JSON, UTF-8)
//! `{"format":"millrace-dedupe-index","version":1,"fingerprint":"<16 hex>","segments":
//! [{"name":..,"docs":..,"records":..,"checksum":"<16 hex>"}, ...]}`. Segment names are chosen by
//! the caller (e.g. the run or epoch id) and are the object names the engine stores them under.

use std::io::Write;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh64::{Xxh64, xxh64};

use crate::error::{DedupeError, Result};
use crate::spill::{DOC_MASK, EXACT_TAG, RECORD_BYTES};

const MAGIC: &[u8; 8] = b"MRDDSEG1";
const VERSION: u32 = 1;
const FOOTER_BYTES: usize = 56;
const MANIFEST_FORMAT: &str = "millrace-dedupe-index";

/// Streams one segment into any writer.
pub(crate) struct SegmentWriter<'w> {
    out: &'w mut dyn Write,
    hasher: Xxh64,
    fingerprint: u64,
    n_records: u64,
    last: Option<(u64, u32)>,
    bytes: u64,
}

impl<'w> SegmentWriter<'w> {
    pub fn new(out: &'w mut dyn Write, fingerprint: u64) -> Self {
        Self {
            out,
            hasher: Xxh64::new(0),
            fingerprint,
            n_records: 0,
            last: None,
            bytes: 0,
        }
    }

    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.hasher.update(b);
        self.bytes += b.len() as u64;
        self.out
            .write_all(b)
            .map_err(|source| DedupeError::SpillIo {
                path: "<segment writer>".into(),
                source,
            })
    }

    /// Appends a record; records must arrive in ascending `(key, doc)` order.
    pub fn record(&mut self, key: u64, doc: u32) -> Result<()> {
        if let Some(prev) = self.last
            && prev >= (key, doc)
        {
            return Err(DedupeError::CorruptSegment {
                segment: "<new>".into(),
                reason: "records written out of order".into(),
            });
        }
        self.last = Some((key, doc));
        let mut rec = [0u8; RECORD_BYTES];
        rec[..8].copy_from_slice(&key.to_le_bytes());
        rec[8..].copy_from_slice(&doc.to_le_bytes());
        self.n_records += 1;
        self.put(&rec)
    }

    /// Writes ids, sketches (flat, `sketch_len` per doc) and the footer. Returns
    /// `(n_docs, n_records, checksum, total bytes)`.
    pub fn finish<'a>(
        mut self,
        ids: impl Iterator<Item = &'a str> + Clone,
        sketches: &[u16],
        sketch_len: usize,
    ) -> Result<(u64, u64, u64, u64)> {
        let mut off = 0u64;
        let mut n_docs = 0u64;
        self.put(&off.to_le_bytes())?;
        for id in ids.clone() {
            off += id.len() as u64;
            n_docs += 1;
            self.put(&off.to_le_bytes())?;
        }
        for id in ids {
            self.put(id.as_bytes())?;
        }
        if sketch_len > 0 && sketches.len() as u64 != n_docs * sketch_len as u64 {
            return Err(DedupeError::SketchMismatch {
                reason: "sketch count does not match kept documents".into(),
            });
        }
        let mut buf = Vec::with_capacity(sketches.len().min(1 << 16) * 2);
        for chunk in sketches.chunks(1 << 16) {
            buf.clear();
            for v in chunk {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            self.put(&buf)?;
        }
        let mut footer = Vec::with_capacity(FOOTER_BYTES);
        footer.extend_from_slice(MAGIC);
        footer.extend_from_slice(&VERSION.to_le_bytes());
        footer.extend_from_slice(&0u32.to_le_bytes());
        footer.extend_from_slice(&self.fingerprint.to_le_bytes());
        footer.extend_from_slice(&self.n_records.to_le_bytes());
        footer.extend_from_slice(&n_docs.to_le_bytes());
        footer.extend_from_slice(&(sketch_len as u32).to_le_bytes());
        footer.extend_from_slice(&0u32.to_le_bytes());
        self.put(&footer)?;
        let checksum = self.hasher.digest();
        self.out
            .write_all(&checksum.to_le_bytes())
            .map_err(|source| DedupeError::SpillIo {
                path: "<segment writer>".into(),
                source,
            })?;
        Ok((n_docs, self.n_records, checksum, self.bytes + 8))
    }
}

/// One parsed, validated, immutable segment.
#[derive(Debug, Clone)]
pub struct Segment {
    name: String,
    bytes: Vec<u8>,
    fingerprint: u64,
    n_records: usize,
    n_docs: usize,
    sketch_len: usize,
    offsets_start: usize,
    ids_start: usize,
    sketches_start: usize,
    checksum: u64,
}

fn rd_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
fn rd_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

impl Segment {
    /// Parses and validates segment bytes (checksum, footer, sizes, sort order, id offsets).
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Self> {
        let corrupt = |reason: String| DedupeError::CorruptSegment {
            segment: name.to_string(),
            reason,
        };
        if bytes.len() < FOOTER_BYTES + 8 {
            return Err(corrupt(format!(
                "{} bytes is shorter than the footer",
                bytes.len()
            )));
        }
        let body = bytes.len() - 8;
        let checksum = rd_u64(&bytes, body);
        if xxh64(&bytes[..body], 0) != checksum {
            return Err(corrupt(
                "checksum mismatch (truncated or corrupted object)".into(),
            ));
        }
        let f = body - (FOOTER_BYTES - 8);
        if &bytes[f..f + 8] != MAGIC {
            return Err(corrupt("bad magic".into()));
        }
        let version = rd_u32(&bytes, f + 8);
        if version != VERSION {
            return Err(corrupt(format!("unsupported version {version}")));
        }
        let fingerprint = rd_u64(&bytes, f + 16);
        let n_records = rd_u64(&bytes, f + 24);
        let n_docs = rd_u64(&bytes, f + 32);
        let sketch_len = rd_u32(&bytes, f + 40) as u64;
        let too_big = || corrupt("counts exceed the segment size".into());
        let rec_bytes = n_records
            .checked_mul(RECORD_BYTES as u64)
            .ok_or_else(too_big)?;
        let off_bytes = n_docs
            .checked_add(1)
            .and_then(|d| d.checked_mul(8))
            .ok_or_else(too_big)?;
        let sk_bytes = n_docs
            .checked_mul(sketch_len)
            .and_then(|v| v.checked_mul(2))
            .ok_or_else(too_big)?;
        let fixed = rec_bytes
            .checked_add(off_bytes)
            .and_then(|v| v.checked_add(sk_bytes))
            .ok_or_else(too_big)?;
        if fixed > f as u64 || n_docs > DOC_MASK as u64 + 1 {
            return Err(too_big());
        }
        let (n_records, n_docs, sketch_len) =
            (n_records as usize, n_docs as usize, sketch_len as usize);
        let offsets_start = rec_bytes as usize;
        let ids_start = offsets_start + off_bytes as usize;
        let ids_len = f - ids_start - sk_bytes as usize;
        let sketches_start = ids_start + ids_len;
        // Offsets must start at 0, never decrease and end exactly at the id blob's length.
        let mut prev = 0u64;
        for i in 0..=n_docs {
            let o = rd_u64(&bytes, offsets_start + 8 * i);
            if (i == 0 && o != 0) || o < prev {
                return Err(corrupt("id offsets are not monotonic".into()));
            }
            prev = o;
        }
        if prev != ids_len as u64 {
            return Err(corrupt("id offsets do not cover the id bytes".into()));
        }
        std::str::from_utf8(&bytes[ids_start..sketches_start])
            .map_err(|_| corrupt("ids are not UTF-8".into()))?;
        let mut last: Option<(u64, u32)> = None;
        for i in 0..n_records {
            let k = rd_u64(&bytes, i * RECORD_BYTES);
            let d = rd_u32(&bytes, i * RECORD_BYTES + 8);
            if (d & DOC_MASK) as usize >= n_docs {
                return Err(corrupt(format!(
                    "record {i} names document {} of {n_docs}",
                    d & DOC_MASK
                )));
            }
            if last.is_some_and(|l| l >= (k, d)) {
                return Err(corrupt(format!("record {i} is out of order")));
            }
            last = Some((k, d));
        }
        Ok(Self {
            name: name.to_string(),
            bytes,
            fingerprint,
            n_records,
            n_docs,
            sketch_len,
            offsets_start,
            ids_start,
            sketches_start,
            checksum,
        })
    }

    /// Segment name (its object name in storage).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Documents whose keys the segment holds.
    pub fn num_docs(&self) -> usize {
        self.n_docs
    }
    /// Key records in the segment.
    pub fn num_records(&self) -> usize {
        self.n_records
    }
    /// The raw bytes (what the engine stores).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Fingerprint of the parameters the keys were built with.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Original id of local document `doc`.
    pub fn id(&self, doc: u32) -> &str {
        let d = doc as usize;
        if d >= self.n_docs {
            return "";
        }
        let a = rd_u64(&self.bytes, self.offsets_start + 8 * d) as usize;
        let b = rd_u64(&self.bytes, self.offsets_start + 8 * d + 8) as usize;
        // Validated at load (monotonic offsets inside a UTF-8 blob); a split inside a char
        // would only come from a forged checksum, and then the id reads as empty.
        std::str::from_utf8(&self.bytes[self.ids_start + a..self.ids_start + b]).unwrap_or("")
    }

    /// Verification sketch of local document `doc` (empty if the segment stores none).
    pub fn sketch(&self, doc: u32, out: &mut Vec<u16>) {
        out.clear();
        let d = doc as usize;
        if self.sketch_len == 0 || d >= self.n_docs {
            return;
        }
        let start = self.sketches_start + d * self.sketch_len * 2;
        for i in 0..self.sketch_len {
            let p = start + 2 * i;
            out.push(u16::from_le_bytes([self.bytes[p], self.bytes[p + 1]]));
        }
    }

    /// Appends the local documents holding `key` (of the given kind) to `out`.
    pub fn lookup(&self, key: u64, exact: bool, out: &mut Vec<u32>) {
        let rec_key = |i: usize| rd_u64(&self.bytes, i * RECORD_BYTES);
        let rec_doc = |i: usize| rd_u32(&self.bytes, i * RECORD_BYTES + 8);
        // First record with key >= `key`, by binary search straight on the bytes.
        let (mut lo, mut hi) = (0usize, self.n_records);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if rec_key(mid) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut i = lo;
        while i < self.n_records && rec_key(i) == key {
            let d = rec_doc(i);
            if (d & EXACT_TAG != 0) == exact {
                out.push(d & DOC_MASK);
            }
            i += 1;
        }
    }
}

/// One manifest line per segment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SegmentInfo {
    pub name: String,
    pub docs: u64,
    pub records: u64,
    /// xxh64 checksum of the segment, 16 hex digits.
    pub checksum: String,
}

/// The manifest: the ordered list of segments making up an index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IndexManifest {
    pub format: String,
    pub version: u32,
    /// Fingerprint of the hashing parameters, 16 hex digits.
    pub fingerprint: String,
    pub segments: Vec<SegmentInfo>,
}

impl IndexManifest {
    /// Parses manifest bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let m: IndexManifest =
            serde_json::from_slice(bytes).map_err(|e| DedupeError::InvalidManifest {
                reason: e.to_string(),
            })?;
        if m.format != MANIFEST_FORMAT || m.version != VERSION {
            return Err(DedupeError::InvalidManifest {
                reason: format!("unknown format {} v{}", m.format, m.version),
            });
        }
        Ok(m)
    }
    /// Segment names in index order (the objects to fetch).
    pub fn segment_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(|s| s.name.as_str())
    }
}

/// Keys and original ids of every document kept by previous runs.
#[derive(Debug, Clone)]
pub struct DedupeIndex {
    fingerprint: u64,
    segments: Vec<Segment>,
}

impl DedupeIndex {
    /// An empty index for keys with the given parameter fingerprint
    /// (see [`crate::DedupeParams::fingerprint`]).
    pub fn new(fingerprint: u64) -> Self {
        Self {
            fingerprint,
            segments: Vec::new(),
        }
    }

    /// Rebuilds an index from its manifest and the segment objects, given in manifest order.
    pub fn open(manifest: &[u8], segments: Vec<Vec<u8>>) -> Result<Self> {
        let m = IndexManifest::from_bytes(manifest)?;
        let fingerprint =
            u64::from_str_radix(&m.fingerprint, 16).map_err(|_| DedupeError::InvalidManifest {
                reason: "fingerprint is not hex".into(),
            })?;
        if m.segments.len() != segments.len() {
            return Err(DedupeError::InvalidManifest {
                reason: format!(
                    "manifest lists {} segments, {} given",
                    m.segments.len(),
                    segments.len()
                ),
            });
        }
        let mut idx = Self::new(fingerprint);
        for (info, bytes) in m.segments.iter().zip(segments) {
            let seg = Segment::from_bytes(&info.name, bytes)?;
            if format!("{:016x}", seg.checksum) != info.checksum {
                return Err(DedupeError::InvalidManifest {
                    reason: format!("segment `{}` checksum differs", info.name),
                });
            }
            idx.push(seg)?;
        }
        Ok(idx)
    }

    /// Adds a segment produced by a dedupe run (appended last: its documents rank after all
    /// earlier ones when a new document matches several).
    pub fn add_segment(&mut self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let seg = Segment::from_bytes(name, bytes)?;
        self.push(seg)
    }

    fn push(&mut self, seg: Segment) -> Result<()> {
        if seg.fingerprint != self.fingerprint {
            return Err(DedupeError::ParamsMismatch {
                index: self.fingerprint,
                run: seg.fingerprint,
            });
        }
        if self.segments.iter().any(|s| s.name == seg.name) {
            return Err(DedupeError::DuplicateSegment { name: seg.name });
        }
        if self.segments.len() >= u32::MAX as usize {
            return Err(DedupeError::InvalidManifest {
                reason: "too many segments".into(),
            });
        }
        self.segments.push(seg);
        Ok(())
    }

    /// The manifest describing the current segments, as JSON bytes.
    pub fn manifest(&self) -> IndexManifest {
        IndexManifest {
            format: MANIFEST_FORMAT.into(),
            version: VERSION,
            fingerprint: format!("{:016x}", self.fingerprint),
            segments: self
                .segments
                .iter()
                .map(|s| SegmentInfo {
                    name: s.name.clone(),
                    docs: s.n_docs as u64,
                    records: s.n_records as u64,
                    checksum: format!("{:016x}", s.checksum),
                })
                .collect(),
        }
    }

    /// [`Self::manifest`] serialised to JSON bytes.
    pub fn manifest_bytes(&self) -> Vec<u8> {
        // Serialising plain strings and integers cannot fail.
        serde_json::to_vec_pretty(&self.manifest()).unwrap_or_default()
    }

    /// Parameter fingerprint of the keys in this index.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
    /// The segments, oldest first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
    /// Documents across all segments.
    pub fn num_docs(&self) -> usize {
        self.segments.iter().map(|s| s.n_docs).sum()
    }
}
