//! Millrace's tokenisation stage, free of any DataFusion/Arrow types:
//!
//! * [`Tokeniser`]: loads any Hugging Face `tokenizer.json` (byte-level BPE, WordPiece,
//!   Unigram, …), frames documents with BOS/EOS, and encodes batches in parallel with ids
//!   identical to the Python `tokenizers` package;
//! * [`megatron`]: Megatron-LM indexed-dataset (`.bin`/`.idx`) writing, rolling into shards of
//!   a target token count, and reading the index back;
//! * [`TokenStats`]: tokens-per-document totals and percentiles, mergeable across threads.

pub mod error;
pub mod megatron;
pub mod stats;
pub mod tokeniser;

pub use error::{Result, TokeniseError};
pub use megatron::{
    FinishedShard, MegatronDtype, MegatronIndex, ShardName, ShardParams, ShardRoller, ShardWriter,
    read_idx,
};
pub use stats::{TokenStats, TokenStatsSummary};
pub use tokeniser::{TokeniseParams, Tokeniser};
