//! Megatron-LM indexed dataset (`MMIDIDX`) writer, shard roller and index reader.
//!
//! Layout, as read and written by Megatron-LM's `megatron/core/datasets/indexed_dataset.py`:
//!
//! * `.bin`: the token ids of all sequences back to back, little-endian, in the index dtype.
//! * `.idx`: `b"MMIDIDX\0\0"`, `u64` version (1), `u8` dtype code, `u64` sequence count,
//!   `u64` document-index count, then `int32` sequence lengths, `int64` byte pointers into the
//!   `.bin`, `int64` document indices. All little-endian.
//!
//! Millrace writes one sequence per document, so the document indices are `0, 1, …, n` and the
//! "document count" field (which Megatron sets to the length of that array) is `n + 1`.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TokeniseError};

/// Magic bytes opening every `.idx`.
pub const IDX_MAGIC: &[u8; 9] = b"MMIDIDX\x00\x00";
/// The only index version Megatron reads.
pub const IDX_VERSION: u64 = 1;
/// Bytes before the arrays: magic, version, dtype code, two counts.
pub const IDX_HEADER_LEN: usize = 9 + 8 + 1 + 8 + 8;

/// Megatron's dtype codes (`DType` in `indexed_dataset.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MegatronDtype {
    Uint8,
    Int8,
    Int16,
    Int32,
    Int64,
    Float64,
    Float32,
    Uint16,
}

impl MegatronDtype {
    /// Megatron's `DType.optimal_dtype`: uint16 when the vocabulary has fewer than 65,500 ids.
    pub fn for_vocab_size(vocab_size: usize) -> Self {
        if vocab_size < 65_500 {
            Self::Uint16
        } else {
            Self::Int32
        }
    }

    /// Numeric code stored in the `.idx`.
    pub fn code(self) -> u8 {
        match self {
            Self::Uint8 => 1,
            Self::Int8 => 2,
            Self::Int16 => 3,
            Self::Int32 => 4,
            Self::Int64 => 5,
            Self::Float64 => 6,
            Self::Float32 => 7,
            Self::Uint16 => 8,
        }
    }

    /// Inverse of [`MegatronDtype::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Uint8,
            2 => Self::Int8,
            3 => Self::Int16,
            4 => Self::Int32,
            5 => Self::Int64,
            6 => Self::Float64,
            7 => Self::Float32,
            8 => Self::Uint16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::Uint8 | Self::Int8 => 1,
            Self::Int16 | Self::Uint16 => 2,
            Self::Int32 | Self::Float32 => 4,
            Self::Int64 | Self::Float64 => 8,
        }
    }

    /// Largest token id the dtype stores exactly; `None` for float dtypes, which hold no ids.
    pub fn max_token_id(self) -> Option<u32> {
        match self {
            Self::Uint8 => Some(u8::MAX as u32),
            Self::Int8 => Some(i8::MAX as u32),
            Self::Int16 => Some(i16::MAX as u32),
            Self::Uint16 => Some(u16::MAX as u32),
            Self::Int32 => Some(i32::MAX as u32),
            Self::Int64 => Some(u32::MAX),
            Self::Float32 | Self::Float64 => None,
        }
    }

    fn encode_into(self, ids: &[u32], buf: &mut Vec<u8>) {
        buf.clear();
        buf.reserve(ids.len() * self.size());
        // Range was checked by the caller, so the narrowing casts are exact.
        match self {
            Self::Uint8 | Self::Int8 => buf.extend(ids.iter().map(|&id| id as u8)),
            Self::Int16 | Self::Uint16 => {
                for &id in ids {
                    buf.extend_from_slice(&(id as u16).to_le_bytes());
                }
            }
            Self::Int32 => {
                for &id in ids {
                    buf.extend_from_slice(&(id as i32).to_le_bytes());
                }
            }
            Self::Int64 => {
                for &id in ids {
                    buf.extend_from_slice(&i64::from(id).to_le_bytes());
                }
            }
            Self::Float32 | Self::Float64 => {
                unreachable!("float dtypes are rejected by ShardWriter::new")
            }
        }
    }

    fn decode(self, bytes: &[u8]) -> Result<Vec<u32>> {
        let bad =
            |v: i64| TokeniseError::InvalidIndex(format!("token value {v} is not a valid id"));
        let n = self.size();
        bytes
            .chunks_exact(n)
            .map(|c| {
                let v: i64 = match self {
                    Self::Uint8 => i64::from(c[0]),
                    Self::Int8 => i64::from(c[0] as i8),
                    Self::Int16 => i64::from(i16::from_le_bytes([c[0], c[1]])),
                    Self::Uint16 => i64::from(u16::from_le_bytes([c[0], c[1]])),
                    Self::Int32 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                    Self::Int64 => {
                        i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                    }
                    Self::Float32 | Self::Float64 => {
                        return Err(TokeniseError::InvalidIndex(
                            "float dtype holds no token ids".into(),
                        ));
                    }
                };
                u32::try_from(v).map_err(|_| bad(v))
            })
            .collect()
    }
}

/// Writes one Megatron shard: token ids to any `Write` (the `.bin`), the `.idx` at the end.
///
/// The index is kept in memory (12 bytes per document) because its arrays precede nothing but
/// must be complete before they are written.
#[derive(Debug)]
pub struct ShardWriter<W: Write> {
    out: W,
    dtype: MegatronDtype,
    max_id: u32,
    lengths: Vec<i32>,
    pointers: Vec<i64>,
    next_pointer: i64,
    tokens: u64,
    scratch: Vec<u8>,
    poisoned: bool,
}

impl<W: Write> ShardWriter<W> {
    /// A writer of token ids in `dtype` (integer dtypes only).
    pub fn new(out: W, dtype: MegatronDtype) -> Result<Self> {
        let max_id = dtype.max_token_id().ok_or_else(|| {
            TokeniseError::InvalidParams(format!("{dtype:?} cannot store token ids"))
        })?;
        Ok(Self {
            out,
            dtype,
            max_id,
            lengths: Vec::new(),
            pointers: Vec::new(),
            next_pointer: 0,
            tokens: 0,
            scratch: Vec::new(),
            poisoned: false,
        })
    }

    /// Appends one document as one sequence. Ids are range-checked before anything is written,
    /// so a rejected document leaves the shard unchanged.
    pub fn add_document(&mut self, ids: &[u32]) -> Result<()> {
        if self.poisoned {
            return Err(TokeniseError::WriterPoisoned);
        }
        let len = i32::try_from(ids.len()).map_err(|_| TokeniseError::SequenceTooLong {
            len: ids.len(),
            max: i32::MAX as usize,
        })?;
        if let Some(&id) = ids.iter().find(|&&id| id > self.max_id) {
            return Err(TokeniseError::TokenOutOfRange {
                id,
                dtype: self.dtype,
            });
        }
        let bytes = i64::from(len) * self.dtype.size() as i64;
        let end = self.next_pointer.checked_add(bytes).ok_or_else(|| {
            TokeniseError::InvalidParams("shard exceeds the int64 byte range".into())
        })?;
        self.dtype.encode_into(ids, &mut self.scratch);
        if let Err(e) = self.out.write_all(&self.scratch) {
            self.poisoned = true;
            return Err(e.into());
        }
        self.lengths.push(len);
        self.pointers.push(self.next_pointer);
        self.next_pointer = end;
        self.tokens += ids.len() as u64;
        Ok(())
    }

    /// Documents written so far.
    pub fn documents(&self) -> usize {
        self.lengths.len()
    }

    /// Tokens written so far.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Bytes written to the `.bin` so far.
    pub fn bin_bytes(&self) -> u64 {
        self.next_pointer as u64
    }

    /// The shard's dtype.
    pub fn dtype(&self) -> MegatronDtype {
        self.dtype
    }

    /// The `.idx` describing what has been written so far.
    pub fn idx_bytes(&self) -> Vec<u8> {
        let n = self.lengths.len();
        let mut idx = Vec::with_capacity(IDX_HEADER_LEN + n * 4 + n * 8 + (n + 1) * 8);
        idx.extend_from_slice(IDX_MAGIC);
        idx.extend_from_slice(&IDX_VERSION.to_le_bytes());
        idx.push(self.dtype.code());
        idx.extend_from_slice(&(n as u64).to_le_bytes());
        idx.extend_from_slice(&(n as u64 + 1).to_le_bytes());
        for len in &self.lengths {
            idx.extend_from_slice(&len.to_le_bytes());
        }
        for ptr in &self.pointers {
            idx.extend_from_slice(&ptr.to_le_bytes());
        }
        for doc in 0..=n as i64 {
            idx.extend_from_slice(&doc.to_le_bytes());
        }
        idx
    }

    /// Flushes the `.bin` and returns it with the `.idx` bytes.
    pub fn finish(mut self) -> Result<(W, Vec<u8>)> {
        if self.poisoned {
            return Err(TokeniseError::WriterPoisoned);
        }
        self.out.flush()?;
        let idx = self.idx_bytes();
        Ok((self.out, idx))
    }
}

/// Output-shard settings, as set in the pipeline spec.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShardParams {
    /// File-name prefix; shards are `<prefix>_<epoch:06>_<index:05>.{bin,idx}`.
    pub prefix: String,
    /// Tokens per shard before rolling to the next; a shard only exceeds it when a single
    /// document does.
    #[serde(alias = "max_tokens_per_file", alias = "shard_tokens")]
    pub target_tokens: u64,
    /// On-disk dtype; `None` picks Megatron's choice for the vocabulary size.
    pub dtype: Option<MegatronDtype>,
}

impl Default for ShardParams {
    fn default() -> Self {
        // 100 M tokens: 200 MB uint16 shards, big enough for few files, small enough to upload.
        Self {
            prefix: "tokens".into(),
            target_tokens: 100_000_000,
            dtype: None,
        }
    }
}

/// Name of one shard. Megatron addresses a dataset by the path without extension ([`stem`]).
///
/// [`stem`]: ShardName::stem
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShardName {
    pub prefix: String,
    pub epoch: u32,
    pub index: u32,
}

impl ShardName {
    /// `<prefix>_<epoch:06>_<index:05>`.
    pub fn stem(&self) -> String {
        format!("{}_{:06}_{:05}", self.prefix, self.epoch, self.index)
    }
    /// File name of the token data.
    pub fn bin_file_name(&self) -> String {
        format!("{}.bin", self.stem())
    }
    /// File name of the index.
    pub fn idx_file_name(&self) -> String {
        format!("{}.idx", self.stem())
    }
}

/// A completed shard, ready for the engine to publish (e.g. write `idx`, then rename both).
#[derive(Debug)]
pub struct FinishedShard<W> {
    pub name: ShardName,
    /// The `.bin` sink, flushed.
    pub bin: W,
    /// The full `.idx` contents.
    pub idx: Vec<u8>,
    pub documents: u64,
    pub tokens: u64,
}

/// Spreads documents over successive shards of about `target_tokens` tokens each.
///
/// Documents are never split across shards. `open` is called lazily with the next shard's name
/// when its first document arrives, so no empty shard is ever produced.
pub struct ShardRoller<W: Write, F: FnMut(&ShardName) -> std::io::Result<W>> {
    prefix: String,
    epoch: u32,
    next_index: u32,
    target_tokens: u64,
    dtype: MegatronDtype,
    open: F,
    current: Option<(ShardName, ShardWriter<W>)>,
}

impl<W: Write, F: FnMut(&ShardName) -> std::io::Result<W>> ShardRoller<W, F> {
    /// A roller writing `params` shards for `epoch`, numbering from `first_index`.
    /// `vocab_size` picks the dtype when `params.dtype` is unset.
    pub fn new(
        params: &ShardParams,
        epoch: u32,
        first_index: u32,
        vocab_size: usize,
        open: F,
    ) -> Result<Self> {
        if params.target_tokens == 0 {
            return Err(TokeniseError::InvalidParams(
                "target_tokens must be positive".into(),
            ));
        }
        let dtype = params
            .dtype
            .unwrap_or_else(|| MegatronDtype::for_vocab_size(vocab_size));
        match dtype.max_token_id() {
            None => {
                return Err(TokeniseError::InvalidParams(format!(
                    "{dtype:?} cannot store token ids"
                )));
            }
            Some(max) if vocab_size > 0 && (vocab_size - 1) as u64 > u64::from(max) => {
                return Err(TokeniseError::InvalidParams(format!(
                    "dtype {dtype:?} cannot hold a vocabulary of {vocab_size} ids"
                )));
            }
            Some(_) => {}
        }
        Ok(Self {
            prefix: params.prefix.clone(),
            epoch,
            next_index: first_index,
            target_tokens: params.target_tokens,
            dtype,
            open,
            current: None,
        })
    }

    /// The dtype every shard is written in.
    pub fn dtype(&self) -> MegatronDtype {
        self.dtype
    }

    /// Index the next shard to be opened will get.
    pub fn next_index(&self) -> u32 {
        self.next_index
    }

    /// Adds a document. When it would push a non-empty shard past the target, that shard is
    /// finished first and returned, and the document starts the next one.
    pub fn push(&mut self, ids: &[u32]) -> Result<Option<FinishedShard<W>>> {
        let mut finished = None;
        if let Some((_, w)) = &self.current
            && w.documents() > 0
            && w.tokens() + ids.len() as u64 > self.target_tokens
        {
            finished = self.finish_current()?;
        }
        if self.current.is_none() {
            let name = ShardName {
                prefix: self.prefix.clone(),
                epoch: self.epoch,
                index: self.next_index,
            };
            let out = (self.open)(&name)?;
            self.next_index = self
                .next_index
                .checked_add(1)
                .ok_or_else(|| TokeniseError::InvalidParams("shard index overflow".into()))?;
            self.current = Some((name, ShardWriter::new(out, self.dtype)?));
        }
        if let Some((_, w)) = &mut self.current {
            w.add_document(ids)?;
        }
        Ok(finished)
    }

    /// Finishes the open shard, if any.
    pub fn finish(mut self) -> Result<Option<FinishedShard<W>>> {
        self.finish_current()
    }

    fn finish_current(&mut self) -> Result<Option<FinishedShard<W>>> {
        let Some((name, writer)) = self.current.take() else {
            return Ok(None);
        };
        let documents = writer.documents() as u64;
        let tokens = writer.tokens();
        let (bin, idx) = writer.finish()?;
        Ok(Some(FinishedShard {
            name,
            bin,
            idx,
            documents,
            tokens,
        }))
    }
}

/// A parsed `.idx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MegatronIndex {
    pub dtype: MegatronDtype,
    pub sequence_lengths: Vec<i32>,
    pub sequence_pointers: Vec<i64>,
    pub document_indices: Vec<i64>,
}

impl MegatronIndex {
    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.sequence_lengths.len()
    }

    /// Whether the index holds no sequences.
    pub fn is_empty(&self) -> bool {
        self.sequence_lengths.is_empty()
    }

    /// Token ids of sequence `i`, read from the `.bin` contents.
    pub fn sequence(&self, bin: &[u8], i: usize) -> Result<Vec<u32>> {
        let (len, ptr) = match (self.sequence_lengths.get(i), self.sequence_pointers.get(i)) {
            (Some(&l), Some(&p)) => (l, p),
            _ => return Err(TokeniseError::InvalidIndex(format!("no sequence {i}"))),
        };
        let start = usize::try_from(ptr)
            .map_err(|_| TokeniseError::InvalidIndex(format!("negative pointer {ptr}")))?;
        let n = usize::try_from(len)
            .map_err(|_| TokeniseError::InvalidIndex(format!("negative length {len}")))?;
        let end = n
            .checked_mul(self.dtype.size())
            .and_then(|b| b.checked_add(start))
            .filter(|&e| e <= bin.len())
            .ok_or_else(|| {
                TokeniseError::InvalidIndex(format!("sequence {i} runs past the .bin"))
            })?;
        self.dtype.decode(&bin[start..end])
    }
}

/// Parses and checks a Megatron `.idx`: header, version, dtype, array sizes, contiguous
/// pointers, and document indices running from 0 to the sequence count. Trailing bytes are
/// allowed only as Megatron's multimodal per-sequence modes (one byte per sequence).
pub fn read_idx(bytes: &[u8]) -> Result<MegatronIndex> {
    let bad = |m: String| TokeniseError::InvalidIndex(m);
    if bytes.len() < IDX_HEADER_LEN {
        return Err(bad(format!(
            "{} bytes is shorter than the header",
            bytes.len()
        )));
    }
    if &bytes[..9] != IDX_MAGIC {
        return Err(bad("missing MMIDIDX magic".into()));
    }
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[o..o + 8]);
        u64::from_le_bytes(b)
    };
    let version = u64_at(9);
    if version != IDX_VERSION {
        return Err(bad(format!("unsupported version {version}")));
    }
    let dtype = MegatronDtype::from_code(bytes[17])
        .ok_or_else(|| bad(format!("unknown dtype code {}", bytes[17])))?;
    let seqs = u64_at(18);
    let docs = u64_at(26);
    // Check sizes before allocating anything sized by the header.
    let need = seqs
        .checked_mul(4 + 8)
        .and_then(|s| docs.checked_mul(8).and_then(|d| s.checked_add(d)))
        .and_then(|a| a.checked_add(IDX_HEADER_LEN as u64))
        .ok_or_else(|| bad("counts overflow".into()))?;
    let have = bytes.len() as u64;
    if have != need && have != need.saturating_add(seqs) {
        return Err(bad(format!(
            "expected {need} bytes for {seqs} sequences and {docs} document indices, found {have}"
        )));
    }
    let (seqs, docs) = (seqs as usize, docs as usize);
    let mut off = IDX_HEADER_LEN;
    let sequence_lengths: Vec<i32> = bytes[off..off + 4 * seqs]
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    off += 4 * seqs;
    let read_i64s = |start: usize, n: usize| -> Vec<i64> {
        bytes[start..start + 8 * n]
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    };
    let sequence_pointers = read_i64s(off, seqs);
    off += 8 * seqs;
    let document_indices = read_i64s(off, docs);

    let mut expected_ptr: i64 = 0;
    for (i, (&len, &ptr)) in sequence_lengths.iter().zip(&sequence_pointers).enumerate() {
        if len < 0 {
            return Err(bad(format!("sequence {i} has negative length {len}")));
        }
        if ptr != expected_ptr {
            return Err(bad(format!(
                "sequence {i} starts at byte {ptr}, expected {expected_ptr}"
            )));
        }
        expected_ptr = i64::from(len)
            .checked_mul(dtype.size() as i64)
            .and_then(|b| b.checked_add(expected_ptr))
            .ok_or_else(|| bad("byte pointers overflow".into()))?;
    }
    if document_indices.first() != Some(&0) {
        return Err(bad("document indices must start at 0".into()));
    }
    if document_indices.last() != Some(&(seqs as i64)) {
        return Err(bad(format!(
            "document indices must end at the sequence count {seqs}"
        )));
    }
    if document_indices.windows(2).any(|w| w[0] > w[1]) {
        return Err(bad("document indices are not non-decreasing".into()));
    }
    Ok(MegatronIndex {
        dtype,
        sequence_lengths,
        sequence_pointers,
        document_indices,
    })
}
