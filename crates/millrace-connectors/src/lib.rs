//! Sources and sinks: everything that touches storage. Opening object stores (local disk, S3, Azure
//! Blob, GCS) from URLs and spec options, listing and reading files (JSONL, Parquet, CSV, text; gzip and
//! zstd streamed), writing Parquet and JSONL sink files, Delta Lake commits, and the epoch commit protocol (staging names,
//! manifests, checkpoints) that makes a run exactly-once. No query planning lives here.

pub mod commit;
pub mod delta;
mod error;
pub mod hive;
pub mod layout;
pub mod listing;
pub mod ownership;
pub mod redact;
pub mod reject;
pub mod sink;
pub mod source;
pub mod store;
mod upload;
#[cfg(test)]
mod test_store;

pub use error::{BoxError, ConnectorError, panic_message};
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;
