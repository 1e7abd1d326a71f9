//! The crate's single error type.

use std::path::PathBuf;

/// Boxed error as returned by the `tokenizers` crate.
pub type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in `millrace-tokenise`.
#[derive(Debug, thiserror::Error)]
pub enum TokeniseError {
    /// The tokenizer file could not be read from disk.
    #[error("cannot read tokenizer file {path}: {source}")]
    ReadTokenizer {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The bytes are not a tokenizer.json the `tokenizers` crate understands.
    #[error("cannot parse tokenizer {origin}: {source}")]
    ParseTokenizer {
        origin: String,
        #[source]
        source: BoxedError,
    },

    /// The tokenizer failed on a document.
    #[error("tokenizer failed to encode a document: {source}")]
    Encode {
        #[source]
        source: BoxedError,
    },

    /// A configured BOS/EOS token is not in the tokenizer's vocabulary.
    #[error("{role} token {token:?} is not in the tokenizer's vocabulary")]
    UnknownSpecialToken { role: &'static str, token: String },

    /// BOS/EOS was asked for but none was configured and none could be detected.
    #[error(
        "add_{role} is set but the tokenizer has no recognisable {role} token; \
         set {role}_token explicitly or turn add_{role} off"
    )]
    MissingSpecialToken { role: &'static str },

    /// Parameters that contradict each other or are out of range.
    #[error("invalid parameters: {0}")]
    InvalidParams(String),

    /// A token id does not fit the shard's on-disk dtype.
    #[error("token id {id} does not fit the shard dtype {dtype:?}")]
    TokenOutOfRange {
        id: u32,
        dtype: crate::megatron::MegatronDtype,
    },

    /// A document is longer than the Megatron index can describe (int32 lengths).
    #[error("document of {len} tokens exceeds the Megatron limit of {max} tokens per sequence")]
    SequenceTooLong { len: usize, max: usize },

    /// Writing a shard failed; the shard writer refuses further use afterwards.
    #[error("shard I/O failed: {0}")]
    ShardIo(#[from] std::io::Error),

    /// A previous write failed, so the shard's .bin may hold a partial document.
    #[error("shard writer is unusable after an earlier I/O error")]
    WriterPoisoned,

    /// Bytes that are not a valid Megatron `.idx` (or do not match the `.bin`).
    #[error("invalid Megatron index: {0}")]
    InvalidIndex(String),
}

/// Crate-wide result alias.
pub type Result<T, E = TokeniseError> = std::result::Result<T, E>;
