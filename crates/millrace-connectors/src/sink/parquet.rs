//! Parquet sink files: async writer over an object-store multipart upload, hashing bytes as they go.

use super::{SinkConfig, StagedFile};
use crate::store::Location;
use crate::{ConnectorError, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use futures::future::BoxFuture;
use crate::upload::Upload;
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::Digest;
use std::sync::{Arc, Mutex};

/// Counts and hashes bytes on their way to storage.
struct Hashing {
    inner: Upload,
    state: Arc<Mutex<(sha2::Sha256, u64)>>,
}

impl AsyncFileWriter for Hashing {
    fn write(&mut self, bs: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        if let Ok(mut s) = self.state.lock() {
            s.0.update(&bs);
            s.1 += bs.len() as u64;
        }
        Box::pin(async move { self.inner.put(bs).await.map_err(|e| parquet::errors::ParquetError::External(Box::new(e))) })
    }
    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        Box::pin(async move { self.inner.finish().await.map_err(|e| parquet::errors::ParquetError::External(Box::new(e))) })
    }
}

pub(crate) struct ParquetFile {
    writer: AsyncArrowWriter<Hashing>,
    state: Arc<Mutex<(sha2::Sha256, u64)>>,
    rows: u64,
    rel: String,
    staging: Location,
    /// A Delta sink's files carry their statistics to the add action.
    delta: bool,
    schema: SchemaRef,
}

impl ParquetFile {
    pub fn create(cfg: &SinkConfig, staging: Location, rel: String, schema: SchemaRef) -> Result<Self> {
        let compression = match cfg.compression.as_str() {
            "snappy" => Compression::SNAPPY,
            "lz4" => Compression::LZ4_RAW,
            "gzip" => Compression::GZIP(Default::default()),
            "none" | "uncompressed" => Compression::UNCOMPRESSED,
            _ => Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()),
        };
        let props = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(cfg.row_group_rows))
            // A row group is buffered until it is flushed: capping it by bytes as well as rows keeps
            // the writer's memory flat however large the documents are.
            .set_max_row_group_bytes(Some(cfg.row_group_bytes.max(1)))
            .set_created_by(format!("millrace {}", env!("CARGO_PKG_VERSION")))
            .build();
        let state = Arc::new(Mutex::new((sha2::Sha256::new(), 0)));
        let inner = Upload::new(staging.store.clone(), staging.path.clone());
        let writer = AsyncArrowWriter::try_new(Hashing { inner, state: state.clone() }, schema.clone(), Some(props))
            .map_err(|e| ConnectorError::write(&staging.url(), e))?;
        Ok(Self { writer, state, rows: 0, rel, staging, delta: cfg.kind == millrace_spec::SinkKind::Delta, schema })
    }

    pub async fn write(&mut self, b: &RecordBatch) -> Result<()> {
        self.rows += b.num_rows() as u64;
        self.writer.write(b).await.map_err(|e| ConnectorError::write(&self.staging.url(), e))
    }

    /// Bytes written so far plus what is buffered, so rolling happens near the target size.
    pub fn bytes(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    pub async fn close(self) -> Result<StagedFile> {
        let url = self.staging.url();
        let schema = self.schema;
        let meta = self.writer.close().await.map_err(|e| ConnectorError::write(&url, e))?;
        let delta_stats = self.delta.then(|| crate::delta::file_stats(&meta, &schema));
        let (hash, bytes) = {
            let s = self.state.lock().map_err(|_| ConnectorError::write(&url, "hash state poisoned"))?;
            (hex::encode(s.0.clone().finalize()), s.1)
        };
        Ok(StagedFile { path: self.rel, staging: Some(self.staging.path), rows: self.rows, bytes, sha256: hash, delta_stats })
    }
}
