//! The persistent, incremental dedupe index: immutable sorted segments plus a small manifest.
//!
//! ## Why this format
//! * **Object storage friendly.** Object stores write whole objects and have no cheap
//!   append or in-place update. Every dedupe run therefore produces one *new immutable
//!   segment* (the keys of the documents it kept) and a new *manifest* that lists all segments
//!   in order. Writing the manifest last is the commit point: a crashed run leaves at most an
//!   unreferenced segment object behind, never a half-updated index.
//! * **Queryable in place, in bounded memory.** Records are fixed-width and sorted by key, so a
//!   segment is queried straight from its file: one key per block of 1,024 records stays in
//!   memory, a lookup reads one block, and keys asked in ascending order (as the deduper's merge
//!   asks them) read each block at most once. No parsing, no hash table rebuild: an index far
//!   larger than memory costs 0.07 % of its size in RAM.
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

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh64::Xxh64;

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
        self.footer(n_docs, sketch_len)
    }

    /// Writes the footer and the checksum after everything else was put.
    fn footer(mut self, n_docs: u64, sketch_len: usize) -> Result<(u64, u64, u64, u64)> {
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

/// Folds contiguous segments (oldest first) into one segment written to `out`, streamed with
/// bounded memory: records are k-way merged with each segment's documents renumbered after the
/// documents of the segments before it, and ids and sketches are concatenated. A document keeps
/// its rank (segment order, then position), so lookups give the same answers as before.
pub fn merge_segments(segs: &[Segment], out: &mut dyn Write) -> Result<()> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let Some(first) = segs.first() else {
        return Err(DedupeError::InvalidManifest { reason: "nothing to merge".into() });
    };
    let total_docs: u64 = segs.iter().map(|s| s.n_docs as u64).sum();
    if total_docs > DOC_MASK as u64 + 1 {
        return Err(DedupeError::TooManyDocuments { limit: DOC_MASK as u64 + 1 });
    }
    for s in segs {
        if s.fingerprint != first.fingerprint {
            return Err(DedupeError::ParamsMismatch { index: first.fingerprint, run: s.fingerprint });
        }
        if s.sketch_len != first.sketch_len {
            return Err(DedupeError::SketchMismatch {
                reason: format!("segment `{}` stores sketches of another length than `{}`", s.name, first.name),
            });
        }
    }
    let mut w = SegmentWriter::new(out, first.fingerprint);
    // Records: one buffered reader per segment, a heap of their heads.
    let mut bases = Vec::with_capacity(segs.len());
    let mut base = 0u32;
    for s in segs {
        bases.push(base);
        base += s.n_docs as u32;
    }
    let mut readers: Vec<Chunks<'_>> = segs.iter().map(|s| Chunks::new(s, 0, (s.n_records * RECORD_BYTES) as u64, RECORD_BYTES)).collect();
    let mut heap = BinaryHeap::new();
    let head = |r: &mut Chunks<'_>, i: usize| -> Result<Option<Reverse<(u64, u32, usize)>>> {
        Ok(r.next(RECORD_BYTES)?.map(|b| {
            let d = rd_u32(b, 8);
            Reverse((rd_u64(b, 0), (d & EXACT_TAG) | (bases[i] + (d & DOC_MASK)), i))
        }))
    };
    for (i, r) in readers.iter_mut().enumerate() {
        heap.extend(head(r, i)?);
    }
    while let Some(Reverse((k, d, i))) = heap.pop() {
        w.record(k, d)?;
        heap.extend(head(&mut readers[i], i)?);
    }
    // Id offsets: each segment's, shifted by the id bytes before it (its leading 0 dropped but
    // for the first).
    let mut id_base = 0u64;
    w.put(&0u64.to_le_bytes())?;
    for s in segs {
        let mut r = Chunks::new(s, s.offsets_start + 8, s.n_docs as u64 * 8, 8);
        let mut last = 0;
        while let Some(b) = r.next(8)? {
            last = rd_u64(b, 0);
            w.put(&(id_base + last).to_le_bytes())?;
        }
        id_base += last;
    }
    for s in segs {
        let mut r = Chunks::new(s, s.ids_start, s.sketches_start - s.ids_start, 1);
        while let Some(b) = r.next_chunk()? {
            w.put(b)?;
        }
    }
    for s in segs {
        let mut r = Chunks::new(s, s.sketches_start, (s.n_docs * s.sketch_len * 2) as u64, 2);
        while let Some(b) = r.next_chunk()? {
            w.put(b)?;
        }
    }
    w.footer(total_docs, first.sketch_len)?;
    Ok(())
}

/// A sequential reader over a section of a segment file, in chunks of about 64 KiB.
struct Chunks<'s> {
    seg: &'s Segment,
    at: u64,
    end: u64,
    buf: Vec<u8>,
    pos: usize,
    unit: usize,
}

impl<'s> Chunks<'s> {
    fn new(seg: &'s Segment, at: u64, len: u64, unit: usize) -> Self {
        Self { seg, at, end: at + len, buf: Vec::new(), pos: 0, unit }
    }

    fn fill(&mut self) -> Result<bool> {
        if self.pos < self.buf.len() {
            return Ok(true);
        }
        if self.at >= self.end {
            return Ok(false);
        }
        let step = ((64 << 10) / self.unit).max(1) * self.unit;
        let n = (self.end - self.at).min(step as u64) as usize;
        self.buf.resize(n, 0);
        self.seg.read(self.at, &mut self.buf)?;
        self.at += n as u64;
        self.pos = 0;
        Ok(true)
    }

    /// The next `n` bytes (`n` divides the unit the reader was made with).
    fn next(&mut self, n: usize) -> Result<Option<&[u8]>> {
        if !self.fill()? {
            return Ok(None);
        }
        let p = self.pos;
        self.pos += n;
        Ok(Some(&self.buf[p..p + n]))
    }

    /// The rest of the current chunk.
    fn next_chunk(&mut self) -> Result<Option<&[u8]>> {
        if !self.fill()? {
            return Ok(None);
        }
        let p = self.pos;
        self.pos = self.buf.len();
        Ok(Some(&self.buf[p..]))
    }
}

/// Records per block of the in-memory fence index: a lookup reads one block (12 KiB) of the
/// segment file, and the fences cost 8 bytes per block (0.07 % of the records).
const BLOCK_RECORDS: usize = 1024;
/// Bytes read at a time while a segment is validated.
const SCAN_BYTES: usize = 1 << 20;

/// One validated, immutable segment, read from its file on demand: only the footer's counts and
/// one key per block stay in memory, so an index of any size costs a bounded, small fraction of
/// its bytes (the operating system's page cache holds what is read often).
#[derive(Debug, Clone)]
pub struct Segment {
    name: String,
    file: Arc<File>,
    fingerprint: u64,
    n_records: usize,
    n_docs: usize,
    sketch_len: usize,
    offsets_start: u64,
    ids_start: u64,
    sketches_start: u64,
    checksum: u64,
    /// Key of the first record of every block.
    fences: Vec<u64>,
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
    /// Validates a segment file in one sequential pass (checksum, footer, sizes, sort order, id
    /// offsets, UTF-8 ids) with bounded memory, and keeps the file open for lookups.
    pub fn open(name: &str, file: File) -> Result<Self> {
        let corrupt = |reason: String| DedupeError::CorruptSegment {
            segment: name.to_string(),
            reason,
        };
        let io = |source: std::io::Error| DedupeError::SegmentIo {
            segment: name.to_string(),
            source,
        };
        let len = file.metadata().map_err(io)?.len();
        if len < (FOOTER_BYTES + 8) as u64 {
            return Err(corrupt(format!("{len} bytes is shorter than the footer")));
        }
        let body = len - 8;
        let mut tail = [0u8; FOOTER_BYTES];
        file.read_exact_at(&mut tail, len - FOOTER_BYTES as u64).map_err(io)?;
        let checksum = rd_u64(&tail, FOOTER_BYTES - 8);
        let f = len - FOOTER_BYTES as u64;
        // A structural fault found before the checksum is known is reported only if the checksum
        // matches: a checksum mismatch is the better diagnosis of a damaged object.
        let mut fault: Option<String> = None;
        let footer_fault = if &tail[..8] != MAGIC {
            Some("bad magic".to_string())
        } else if rd_u32(&tail, 8) != VERSION {
            Some(format!("unsupported version {}", rd_u32(&tail, 8)))
        } else {
            None
        };
        let fingerprint = rd_u64(&tail, 16);
        let n_records = rd_u64(&tail, 24);
        let n_docs = rd_u64(&tail, 32);
        let sketch_len = rd_u32(&tail, 40) as u64;
        let sizes = (|| {
            let rec = n_records.checked_mul(RECORD_BYTES as u64)?;
            let off = n_docs.checked_add(1)?.checked_mul(8)?;
            let sk = n_docs.checked_mul(sketch_len)?.checked_mul(2)?;
            let fixed = rec.checked_add(off)?.checked_add(sk)?;
            (fixed <= f && n_docs <= DOC_MASK as u64 + 1).then_some((rec, off, sk))
        })();
        let mut hasher = Xxh64::new(0);
        let mut fences = Vec::new();
        let (offsets_start, ids_start, sketches_start) = match (&footer_fault, sizes) {
            (None, Some((rec, off, sk))) => {
                let (ids_start, sketches_start) = (rec + off, f - sk);
                let mut scan = Scan { file: &file, hasher: &mut hasher, buf: Vec::new() };
                // Records: sorted by (key, doc), each naming one of the segment's documents.
                let mut last: Option<(u64, u32)> = None;
                let mut i = 0usize;
                scan.section(0, rec, RECORD_BYTES, |chunk| {
                    for r in chunk.chunks_exact(RECORD_BYTES) {
                        let (k, d) = (rd_u64(r, 0), rd_u32(r, 8));
                        if i % BLOCK_RECORDS == 0 {
                            fences.push(k);
                        }
                        if fault.is_none() {
                            if (d & DOC_MASK) as u64 >= n_docs {
                                fault = Some(format!("record {i} names document {} of {n_docs}", d & DOC_MASK));
                            } else if last.is_some_and(|l| l >= (k, d)) {
                                fault = Some(format!("record {i} is out of order"));
                            }
                        }
                        last = Some((k, d));
                        i += 1;
                    }
                })
                .map_err(io)?;
                // Offsets start at 0, never decrease and end exactly at the id blob's length.
                let mut prev = 0u64;
                let mut first = true;
                scan.section(rec, off, 8, |chunk| {
                    for o in chunk.chunks_exact(8).map(|b| rd_u64(b, 0)) {
                        if fault.is_none() && ((first && o != 0) || o < prev) {
                            fault = Some("id offsets are not monotonic".into());
                        }
                        first = false;
                        prev = o;
                    }
                })
                .map_err(io)?;
                if fault.is_none() && prev != sketches_start - ids_start {
                    fault = Some("id offsets do not cover the id bytes".into());
                }
                // Ids: UTF-8, validated across chunk boundaries.
                let mut carry: Vec<u8> = Vec::new();
                scan.section(ids_start, sketches_start - ids_start, 1, |chunk| {
                    carry.extend_from_slice(chunk);
                    match std::str::from_utf8(&carry) {
                        Ok(_) => carry.clear(),
                        Err(e) if e.error_len().is_none() => {
                            let keep = carry.split_off(e.valid_up_to());
                            carry = keep;
                        }
                        Err(_) => {
                            fault.get_or_insert_with(|| "ids are not UTF-8".into());
                            carry.clear();
                        }
                    }
                })
                .map_err(io)?;
                if !carry.is_empty() {
                    fault.get_or_insert_with(|| "ids are not UTF-8".into());
                }
                scan.section(sketches_start, body - sketches_start, 1, |_| {}).map_err(io)?;
                (rec, ids_start, sketches_start)
            }
            _ => {
                let mut scan = Scan { file: &file, hasher: &mut hasher, buf: Vec::new() };
                scan.section(0, body, 1, |_| {}).map_err(io)?;
                (0, 0, 0)
            }
        };
        if hasher.digest() != checksum {
            return Err(corrupt("checksum mismatch (truncated or corrupted object)".into()));
        }
        if let Some(reason) = footer_fault {
            return Err(corrupt(reason));
        }
        if sizes.is_none() {
            return Err(corrupt("counts exceed the segment size".into()));
        }
        if let Some(reason) = fault {
            return Err(corrupt(reason));
        }
        Ok(Self {
            name: name.to_string(),
            file: Arc::new(file),
            fingerprint,
            n_records: n_records as usize,
            n_docs: n_docs as usize,
            sketch_len: sketch_len as usize,
            offsets_start,
            ids_start,
            sketches_start,
            checksum,
            fences,
        })
    }

    /// [`Self::open`] over bytes held in memory (moved to an unnamed temporary file first).
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self> {
        let io = |source: std::io::Error| DedupeError::SegmentIo {
            segment: name.to_string(),
            source,
        };
        let mut file = tempfile::tempfile().map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        Self::open(name, file)
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
    /// Fingerprint of the parameters the keys were built with.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
    /// Bytes the segment keeps in memory (its fence keys), whatever its size on disk.
    pub fn resident_bytes(&self) -> usize {
        self.fences.capacity() * 8 + self.name.len()
    }

    fn read(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        self.file.read_exact_at(buf, at).map_err(|source| DedupeError::SegmentIo {
            segment: self.name.clone(),
            source,
        })
    }

    /// Original id of local document `doc` (empty for a document the segment does not hold).
    pub fn id(&self, doc: u32) -> Result<String> {
        let d = doc as usize;
        if d >= self.n_docs {
            return Ok(String::new());
        }
        let mut o = [0u8; 16];
        self.read(self.offsets_start + 8 * d as u64, &mut o)?;
        let (a, b) = (rd_u64(&o, 0), rd_u64(&o, 8));
        let mut id = vec![0u8; b.saturating_sub(a) as usize];
        self.read(self.ids_start + a, &mut id)?;
        // Validated at open (monotonic offsets inside a UTF-8 blob); a split inside a char
        // would only come from a forged checksum, and then the id reads as empty.
        Ok(String::from_utf8(id).unwrap_or_default())
    }

    /// Verification sketch of local document `doc` (empty if the segment stores none).
    pub fn sketch(&self, doc: u32, out: &mut Vec<u16>) -> Result<()> {
        out.clear();
        let d = doc as usize;
        if self.sketch_len == 0 || d >= self.n_docs {
            return Ok(());
        }
        let mut b = vec![0u8; self.sketch_len * 2];
        self.read(self.sketches_start + (d * self.sketch_len * 2) as u64, &mut b)?;
        out.extend(b.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])));
        Ok(())
    }

    /// A reader for lookups; it keeps the last block it read, so keys asked in ascending order
    /// (as the deduper's merge asks them) read each block at most once.
    pub fn cursor(&self) -> SegmentCursor<'_> {
        SegmentCursor { seg: self, block: usize::MAX, buf: Vec::new() }
    }
}

/// Hashes a file section by section (in file order) and hands each chunk to a parser.
struct Scan<'a> {
    file: &'a File,
    hasher: &'a mut Xxh64,
    buf: Vec<u8>,
}

impl Scan<'_> {
    /// Reads `len` bytes from `at` in chunks of a multiple of `unit` bytes.
    fn section(&mut self, at: u64, len: u64, unit: usize, mut f: impl FnMut(&[u8])) -> std::io::Result<()> {
        let step = (SCAN_BYTES / unit).max(1) * unit;
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(step as u64) as usize;
            self.buf.resize(n, 0);
            self.file.read_exact_at(&mut self.buf, at + done)?;
            self.hasher.update(&self.buf);
            f(&self.buf);
            done += n as u64;
        }
        Ok(())
    }
}

/// Lookups in one segment, reading one block of records at a time.
pub struct SegmentCursor<'s> {
    seg: &'s Segment,
    block: usize,
    buf: Vec<u8>,
}

impl SegmentCursor<'_> {
    fn load(&mut self, block: usize) -> Result<usize> {
        let first = block * BLOCK_RECORDS;
        let n = (self.seg.n_records - first).min(BLOCK_RECORDS);
        if self.block != block {
            self.buf.resize(n * RECORD_BYTES, 0);
            self.seg.read((first * RECORD_BYTES) as u64, &mut self.buf)?;
            self.block = block;
        }
        Ok(n)
    }

    /// Appends the local documents holding `key` (of the given kind) to `out`.
    pub fn lookup(&mut self, key: u64, exact: bool, out: &mut Vec<u32>) -> Result<()> {
        let blocks = self.seg.fences.len();
        // The first block whose first key is >= `key`; records equal to `key` may end the block
        // before it.
        let mut block = self.seg.fences.partition_point(|&f| f < key).saturating_sub(1);
        let rec_key = |b: &[u8], i: usize| rd_u64(b, i * RECORD_BYTES);
        let mut i = None;
        while block < blocks {
            let n = self.load(block)?;
            let (mut lo, mut hi) = (0usize, n);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if rec_key(&self.buf, mid) < key {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            let at = lo;
            if at < n {
                i = Some(at);
                break;
            }
            block += 1;
        }
        let Some(mut i) = i else { return Ok(()) };
        loop {
            let n = self.load(block)?;
            if i == n {
                block += 1;
                if block >= blocks {
                    return Ok(());
                }
                i = 0;
                continue;
            }
            if rec_key(&self.buf, i) != key {
                return Ok(());
            }
            let d = rd_u32(&self.buf, i * RECORD_BYTES + 8);
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

    /// Rebuilds an index from its manifest and the segment files, given in manifest order.
    pub fn open(manifest: &[u8], segments: Vec<File>) -> Result<Self> {
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
        for (info, file) in m.segments.iter().zip(segments) {
            let seg = Segment::open(&info.name, file)?;
            if format!("{:016x}", seg.checksum) != info.checksum {
                return Err(DedupeError::InvalidManifest {
                    reason: format!("segment `{}` checksum differs", info.name),
                });
            }
            idx.push_segment(seg)?;
        }
        Ok(idx)
    }

    /// [`Self::push_segment`] for segment bytes held in memory.
    pub fn add_segment(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let seg = Segment::from_bytes(name, bytes)?;
        self.push_segment(seg)
    }

    /// Adds a segment produced by a dedupe run, opened (and so validated) with [`Segment::open`];
    /// appended last: its documents rank after all earlier ones when a new document matches
    /// several.
    pub fn push_segment(&mut self, seg: Segment) -> Result<()> {
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
    /// The newest segments that should be folded into one, so that the index holds at most
    /// about log2(documents) segments whatever the number of epochs: the run of newest segments
    /// grows backwards while the segment before it holds no more documents than the run (a binary
    /// counter: each document is rewritten about log2 times over the index's life).
    pub fn merge_candidates(&self) -> Option<std::ops::Range<usize>> {
        let n = self.segments.len();
        let size = |s: &Segment| s.n_docs.max(1) as u64;
        let mut start = n.checked_sub(1)?;
        let mut tail = size(&self.segments[start]);
        while start > 0 && size(&self.segments[start - 1]) <= tail {
            start -= 1;
            tail += size(&self.segments[start]);
        }
        (start + 1 < n).then_some(start..n)
    }

    /// Replaces the segments in `range` by `merged` (made from them by [`merge_segments`]);
    /// returns the names of the segments it replaced.
    pub fn replace_segments(&mut self, range: std::ops::Range<usize>, merged: Segment) -> Result<Vec<String>> {
        let docs: usize = self.segments.get(range.clone()).map(|s| s.iter().map(|s| s.n_docs).sum()).unwrap_or(usize::MAX);
        if docs != merged.n_docs || merged.fingerprint != self.fingerprint {
            return Err(DedupeError::InvalidManifest {
                reason: format!("merged segment `{}` does not hold the documents it replaces", merged.name),
            });
        }
        if self.segments.iter().enumerate().any(|(i, s)| !range.contains(&i) && s.name == merged.name) {
            return Err(DedupeError::DuplicateSegment { name: merged.name });
        }
        Ok(self.segments.splice(range, [merged]).map(|s| s.name).collect())
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment of `n_docs` documents whose records are `keys` (sorted, then numbered per doc).
    fn segment(keys: &[(u64, u32)], n_docs: u32) -> Segment {
        let mut bytes = Vec::new();
        let mut w = SegmentWriter::new(&mut bytes, 7);
        for &(k, d) in keys {
            w.record(k, d).unwrap();
        }
        let ids: Vec<String> = (0..n_docs).map(|d| format!("doc-{d}")).collect();
        w.finish(ids.iter().map(String::as_str), &[], 0).unwrap();
        Segment::from_bytes("t", &bytes).unwrap()
    }

    #[test]
    fn block_lookups_equal_a_full_scan_across_block_boundaries() {
        // Keys repeat in runs that straddle blocks (one run spans three), with gaps between
        // them, and both kinds (exact tag) under one key.
        let mut keys = Vec::new();
        let mut doc = 0u32;
        let mut key = 10u64;
        for run in [1usize, 5, 1023, 2, 3000, 1, 700, 1024, 1025, 9] {
            for _ in 0..run {
                let tag = if doc % 3 == 0 { EXACT_TAG } else { 0 };
                keys.push((key, (doc % 5000) | tag));
                doc += 1;
            }
            key += 1 + (run as u64 % 7) * 1000;
        }
        keys.sort_unstable();
        keys.dedup();
        let seg = segment(&keys, 5000);
        assert!(seg.fences.len() > 5, "the segment spans many blocks");
        let scan = |k: u64, exact: bool| -> Vec<u32> {
            keys.iter().filter(|(x, d)| *x == k && (d & EXACT_TAG != 0) == exact).map(|(_, d)| d & DOC_MASK).collect()
        };
        let mut probes: Vec<u64> = keys.iter().map(|k| k.0).collect();
        probes.dedup();
        probes.extend([0, 9, 11, u64::MAX, key + 5]);
        probes.sort_unstable();
        // Ascending (as the deduper asks), then descending: the cursor must not depend on order.
        for order in [false, true] {
            let mut c = seg.cursor();
            let it: Vec<u64> = if order { probes.iter().rev().copied().collect() } else { probes.clone() };
            for k in it {
                for exact in [false, true] {
                    let mut got = Vec::new();
                    c.lookup(k, exact, &mut got).unwrap();
                    assert_eq!(got, scan(k, exact), "key {k} exact {exact} descending {order}");
                }
            }
        }
        assert_eq!(seg.id(4999).unwrap(), "doc-4999");
        assert_eq!(seg.id(5000).unwrap(), "");
    }

    /// A segment with ids `<tag>-<d>` and a 2-value sketch per document.
    fn tagged(tag: &str, keys: &[(u64, u32)], n_docs: u32) -> Segment {
        let mut bytes = Vec::new();
        let mut w = SegmentWriter::new(&mut bytes, 7);
        for &(k, d) in keys {
            w.record(k, d).unwrap();
        }
        let ids: Vec<String> = (0..n_docs).map(|d| format!("{tag}-{d}")).collect();
        let sketches: Vec<u16> = (0..n_docs).flat_map(|d| [d as u16, tag.len() as u16]).collect();
        w.finish(ids.iter().map(String::as_str), &sketches, 2).unwrap();
        Segment::from_bytes(tag, &bytes).unwrap()
    }

    #[test]
    fn a_merged_segment_answers_as_its_inputs_did() {
        // Three segments sharing keys (exact and not), one of them empty; enough records that the
        // merge crosses chunk and block boundaries.
        let mk = |n_docs: u32, keys: u64, salt: u64| {
            let mut v: Vec<(u64, u32)> = (0..n_docs)
                .flat_map(|d| (0..keys).map(move |b| (((d as u64 * 7 + b * 13 + salt) % 5000), d | if b == 0 { EXACT_TAG } else { 0 })))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let segs = [tagged("a", &mk(3000, 4, 0), 3000), tagged("bb", &[], 0), tagged("ccc", &mk(2500, 5, 1), 2500)];
        let mut bytes = Vec::new();
        merge_segments(&segs, &mut bytes).unwrap();
        let m = Segment::from_bytes("m", &bytes).unwrap();
        assert_eq!((m.num_docs(), m.num_records()), (5500, segs.iter().map(Segment::num_records).sum()));
        let bases = [0u32, 3000, 3000];
        let (mut merged, mut inputs): (SegmentCursor<'_>, Vec<SegmentCursor<'_>>) = (m.cursor(), segs.iter().map(Segment::cursor).collect());
        for key in 0..5001u64 {
            for exact in [false, true] {
                let mut want = Vec::new();
                for (i, c) in inputs.iter_mut().enumerate() {
                    let mut got = Vec::new();
                    c.lookup(key, exact, &mut got).unwrap();
                    want.extend(got.into_iter().map(|d| bases[i] + d));
                }
                let mut got = Vec::new();
                merged.lookup(key, exact, &mut got).unwrap();
                assert_eq!(got, want, "key {key} exact {exact}");
            }
        }
        let mut sk = Vec::new();
        for (doc, id, sketch) in [(0u32, "a-0", [0u16, 1]), (2999, "a-2999", [2999, 1]), (3000, "ccc-0", [0, 3]), (5499, "ccc-2499", [2499, 3])] {
            assert_eq!(m.id(doc).unwrap(), id);
            m.sketch(doc, &mut sk).unwrap();
            assert_eq!(sk, sketch);
        }
    }

    #[test]
    fn merges_keep_the_segment_count_logarithmic() {
        let one = |i: usize| {
            let mut bytes = Vec::new();
            let mut w = SegmentWriter::new(&mut bytes, 7);
            w.record(i as u64, 0).unwrap();
            let id = format!("e{i}");
            w.finish([id.as_str()].into_iter(), &[], 0).unwrap();
            Segment::from_bytes(&format!("epoch-{i}"), &bytes).unwrap()
        };
        let mut ix = DedupeIndex::new(7);
        let mut most = 0;
        for i in 0..300 {
            ix.push_segment(one(i)).unwrap();
            if let Some(r) = ix.merge_candidates() {
                let mut bytes = Vec::new();
                merge_segments(&ix.segments()[r.clone()], &mut bytes).unwrap();
                let replaced = ix.replace_segments(r.clone(), Segment::from_bytes(&format!("m{i}"), &bytes).unwrap()).unwrap();
                assert_eq!(replaced.len(), r.len());
            }
            most = most.max(ix.segments().len());
            // A binary counter: one segment per set bit of the number of epochs.
            assert_eq!(ix.segments().len(), (i + 1).count_ones() as usize, "after {} epochs", i + 1);
        }
        assert!(most <= 9, "{most}");
        assert_eq!(ix.num_docs(), 300);
        // Ranks survive: the first epoch's document is still document 0 of the oldest segment.
        assert_eq!(ix.segments()[0].id(0).unwrap(), "e0");
        let mut hits = Vec::new();
        ix.segments()[0].cursor().lookup(255, false, &mut hits).unwrap();
        assert_eq!(hits, [255]);
    }

    #[test]
    fn an_index_keeps_a_small_fraction_of_its_bytes_in_memory() {
        let n_docs = 200_000u32;
        let keys: Vec<(u64, u32)> = {
            let mut v: Vec<(u64, u32)> =
                (0..n_docs).flat_map(|d| (0..15u64).map(move |b| ((d as u64 * 15 + b).wrapping_mul(0x9E37_79B9_7F4A_7C15), d))).collect();
            v.sort_unstable();
            v
        };
        let seg = segment(&keys, n_docs);
        let on_disk = seg.file.metadata().unwrap().len() as usize;
        assert!(on_disk > 36 << 20, "{on_disk}");
        assert!(seg.resident_bytes() * 500 < on_disk, "{} resident of {on_disk}", seg.resident_bytes());
        let mut c = seg.cursor();
        let mut got = Vec::new();
        c.lookup(keys[123_456].0, false, &mut got).unwrap();
        assert_eq!(got, vec![keys[123_456].1]);
    }
}
