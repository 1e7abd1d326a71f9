//! Sorted runs of `(key, doc)` entries: in memory, spilled to temp files, and merged back.
//!
//! A run file is a flat sequence of 12-byte little-endian records `key: u64, doc: u32`,
//! sorted ascending by `(key, doc)`. Runs are written once and read sequentially (twice at
//! most: one pass to cluster, one to emit the index segment), so plain buffered `std::fs`
//! I/O is all that is needed. Files are deleted when the [`SpillSet`] is dropped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{DedupeError, Result};

/// One posting: a band key (or folded exact hash) and the tagged document index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry {
    pub key: u64,
    /// Bit 31 set: the key is an exact-hash key; bits 0..31: document index.
    pub doc: u32,
}

pub(crate) const EXACT_TAG: u32 = 1 << 31;
pub(crate) const DOC_MASK: u32 = EXACT_TAG - 1;
pub(crate) const RECORD_BYTES: usize = 12;
const READ_BUF: usize = 32 * 1024;

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_err(path: &Path, source: std::io::Error) -> DedupeError {
    DedupeError::SpillIo {
        path: path.to_path_buf(),
        source,
    }
}

/// The run files of one deduper.
#[derive(Debug)]
pub(crate) struct SpillSet {
    dir: PathBuf,
    pub runs: Vec<PathBuf>,
}

impl SpillSet {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            runs: Vec::new(),
        }
    }

    /// Writes `entries` (already sorted) as a new run file.
    pub fn write_run(&mut self, entries: &[Entry]) -> Result<()> {
        let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = self
            .dir
            .join(format!("millrace-dedupe-{}-{n}.run", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        // Register before writing so that a failed write still gets cleaned up on drop.
        self.runs.push(path.clone());
        let mut w = BufWriter::with_capacity(256 * 1024, file);
        let mut rec = [0u8; RECORD_BYTES];
        for e in entries {
            rec[..8].copy_from_slice(&e.key.to_le_bytes());
            rec[8..].copy_from_slice(&e.doc.to_le_bytes());
            w.write_all(&rec).map_err(|err| io_err(&path, err))?;
        }
        w.flush().map_err(|err| io_err(&path, err))?;
        Ok(())
    }

    /// A k-way merge over all run files plus the sorted in-memory tail.
    pub fn merge<'a>(&self, tail: &'a [Entry]) -> Result<Merger<'a>> {
        let mut sources = Vec::with_capacity(self.runs.len() + 1);
        for path in &self.runs {
            let f = File::open(path).map_err(|e| io_err(path, e))?;
            sources.push(Source::File {
                reader: BufReader::with_capacity(READ_BUF, f),
                path: path.clone(),
            });
        }
        sources.push(Source::Mem(tail.iter()));
        let mut m = Merger {
            sources,
            heap: BinaryHeap::new(),
        };
        for i in 0..m.sources.len() {
            if let Some(e) = m.sources[i].next()? {
                m.heap.push(Reverse((e, i)));
            }
        }
        Ok(m)
    }
}

impl Drop for SpillSet {
    fn drop(&mut self) {
        for p in &self.runs {
            // Best effort: a leftover temp file is not worth a panic or an error path in drop.
            let _ = std::fs::remove_file(p);
        }
    }
}

enum Source<'a> {
    File {
        reader: BufReader<File>,
        path: PathBuf,
    },
    Mem(std::slice::Iter<'a, Entry>),
}

impl Source<'_> {
    fn next(&mut self) -> Result<Option<Entry>> {
        match self {
            Source::Mem(it) => Ok(it.next().copied()),
            Source::File { reader, path } => {
                let mut rec = [0u8; RECORD_BYTES];
                let mut filled = 0;
                while filled < RECORD_BYTES {
                    match reader.read(&mut rec[filled..]) {
                        Ok(0) => break,
                        Ok(k) => filled += k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_err(path, e)),
                    }
                }
                if filled == 0 {
                    return Ok(None);
                }
                if filled < RECORD_BYTES {
                    return Err(io_err(
                        path,
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "truncated run record",
                        ),
                    ));
                }
                let mut k = [0u8; 8];
                k.copy_from_slice(&rec[..8]);
                let mut d = [0u8; 4];
                d.copy_from_slice(&rec[8..]);
                Ok(Some(Entry {
                    key: u64::from_le_bytes(k),
                    doc: u32::from_le_bytes(d),
                }))
            }
        }
    }
}

/// Yields entries of all sources in ascending `(key, doc)` order.
pub(crate) struct Merger<'a> {
    sources: Vec<Source<'a>>,
    heap: BinaryHeap<Reverse<(Entry, usize)>>,
}

impl Merger<'_> {
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        let Some(Reverse((e, i))) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(n) = self.sources[i].next()? {
            self.heap.push(Reverse((n, i)));
        }
        Ok(Some(e))
    }

    /// Calls `f(key, is_exact, docs)` once per group of entries with equal key and kind.
    pub fn for_each_group(
        &mut self,
        mut f: impl FnMut(u64, bool, &[u32]) -> Result<()>,
    ) -> Result<()> {
        let mut group: Vec<u32> = Vec::new();
        let mut cur: Option<(u64, bool)> = None;
        while let Some(e) = self.next_entry()? {
            let kind = (e.key, e.doc & EXACT_TAG != 0);
            if cur != Some(kind) {
                if let Some((k, x)) = cur {
                    f(k, x, &group)?;
                }
                group.clear();
                cur = Some(kind);
            }
            group.push(e.doc & DOC_MASK);
        }
        if let Some((k, x)) = cur {
            f(k, x, &group)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_of_runs_is_sorted_and_complete() {
        let dir = std::env::temp_dir();
        let mut s = SpillSet::new(dir);
        let mut all = Vec::new();
        for r in 0..4u64 {
            let mut run: Vec<Entry> = (0..100u64)
                .map(|i| Entry {
                    key: (i * 7 + r * 13) % 50,
                    doc: (i + r * 100) as u32,
                })
                .collect();
            run.sort_unstable();
            all.extend_from_slice(&run);
            s.write_run(&run).unwrap();
        }
        let mut tail: Vec<Entry> = (0..10)
            .map(|i| Entry {
                key: i,
                doc: 1000 + i as u32,
            })
            .collect();
        tail.sort_unstable();
        all.extend_from_slice(&tail);
        all.sort_unstable();
        let mut m = s.merge(&tail).unwrap();
        let mut got = Vec::new();
        while let Some(e) = m.next_entry().unwrap() {
            got.push(e);
        }
        assert_eq!(got, all);
        let paths = s.runs.clone();
        drop(m);
        drop(s);
        assert!(paths.iter().all(|p| !p.exists()));
    }
}
