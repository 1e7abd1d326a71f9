//! The single error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in Millrace deduplication.
#[derive(Debug, thiserror::Error)]
pub enum DedupeError {
    /// A parameter is outside its valid range (e.g. zero bands, threshold above 1).
    #[error("invalid dedupe parameter `{name}`: {reason}")]
    InvalidParams { name: &'static str, reason: String },

    /// Reading or writing a spill run file failed.
    #[error("spill file I/O error on {path}: {source}")]
    SpillIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// More documents were fed than the 31-bit document index space allows.
    #[error("too many documents in one dedupe run (limit {limit})")]
    TooManyDocuments { limit: u64 },

    /// An index segment's bytes are truncated, corrupt or of an unknown format.
    #[error("corrupt dedupe index segment `{segment}`: {reason}")]
    CorruptSegment { segment: String, reason: String },

    /// Reading an index segment's file failed.
    #[error("I/O error on dedupe index segment `{segment}`: {source}")]
    SegmentIo {
        segment: String,
        #[source]
        source: std::io::Error,
    },

    /// The index manifest cannot be parsed or does not match the given segments.
    #[error("invalid dedupe index manifest: {reason}")]
    InvalidManifest { reason: String },

    /// The index was built with hashing parameters different from the current run, so its keys
    /// cannot be compared with the new ones.
    #[error(
        "dedupe index was built with different parameters (index fingerprint {index:016x}, run fingerprint {run:016x})"
    )]
    ParamsMismatch { index: u64, run: u64 },

    /// A segment name is already present in the index.
    #[error("dedupe index already holds a segment named `{name}`")]
    DuplicateSegment { name: String },

    /// A precomputed sketch does not fit the deduper's parameters.
    #[error("document sketch does not match the dedupe parameters: {reason}")]
    SketchMismatch { reason: String },
}

/// Crate result alias.
pub type Result<T> = std::result::Result<T, DedupeError>;
