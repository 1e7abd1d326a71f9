//! Megatron-LM indexed dataset shards: `.bin` token ids written to a local spool file as documents
//! arrive (so a shard of any size needs no memory), then uploaded with its `.idx` when the shard is
//! closed. Both files are staged and published with the epoch like any sink file.

use super::StagedFile;
use crate::store::Location;
use crate::{ConnectorError, Result};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, UInt32Type};
use millrace_tokenise::{MegatronDtype, ShardWriter};
use crate::upload::Upload;
use object_store::{ObjectStoreExt, PutPayload};
use sha2::Digest;
use std::io::{Read, Seek};

/// The column a megatron sink reads.
pub const TOKEN_IDS: &str = "token_ids";

pub struct MegatronFile {
    writer: ShardWriter<std::fs::File>,
    /// Staging location of the `.bin`; the `.idx` sits beside it.
    staging: Location,
    rel: String,
    url: String,
}

impl MegatronFile {
    pub fn create(staging: Location, rel: String, dtype: MegatronDtype) -> Result<Self> {
        let url = staging.url();
        let spool = tempfile::tempfile().map_err(|e| ConnectorError::write(&url, e))?;
        let writer = ShardWriter::new(spool, dtype).map_err(|e| ConnectorError::write(&url, e))?;
        Ok(Self { writer, staging, rel, url })
    }

    pub fn tokens(&self) -> u64 {
        self.writer.tokens()
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let col = batch.column_by_name(TOKEN_IDS).ok_or_else(|| {
            ConnectorError::write(&self.url, format!("no `{TOKEN_IDS}` column: add `token_ids: true` to the tokenise stage"))
        })?;
        let list = match col.data_type() {
            DataType::List(f) if f.data_type() == &DataType::UInt32 => col.as_list::<i32>(),
            other => return Err(ConnectorError::write(&self.url, format!("`{TOKEN_IDS}` must be List<UInt32>, not {other}"))),
        };
        for i in 0..list.len() {
            if list.is_null(i) {
                continue;
            }
            let v = list.value(i);
            let ids = v.as_primitive::<UInt32Type>();
            self.writer.add_document(ids.values()).map_err(|e| ConnectorError::write(&self.url, e))?;
        }
        Ok(())
    }

    /// Uploads `.bin` (streamed from the spool) and `.idx`; returns both as staged files.
    pub async fn close(self) -> Result<Vec<StagedFile>> {
        let url = self.url.clone();
        let docs = self.writer.documents() as u64;
        let (mut spool, idx) = self.writer.finish().map_err(|e| ConnectorError::write(&url, e))?;
        spool.rewind().map_err(|e| ConnectorError::write(&url, e))?;
        let mut out = Upload::new(self.staging.store.clone(), self.staging.path.clone());
        let mut hash = sha2::Sha256::new();
        let mut buf = vec![0u8; 4 << 20];
        let mut bytes = 0u64;
        loop {
            let n = spool.read(&mut buf).map_err(|e| ConnectorError::write(&url, e))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            bytes += n as u64;
            out.put(bytes::Bytes::copy_from_slice(&buf[..n])).await.map_err(|e| ConnectorError::write(&url, e))?;
        }
        out.finish().await.map_err(|e| ConnectorError::write(&url, e))?;
        let idx_rel = self.rel.replace(".bin", ".idx");
        let idx_path = match self.staging.path.filename() {
            Some(name) => {
                let parent = self.staging.path.as_ref().strip_suffix(name).unwrap_or("").trim_end_matches('/');
                object_store::path::Path::from(format!("{parent}/{}", name.replace(".bin", ".idx")))
            }
            None => return Err(ConnectorError::write(&url, "staging path has no file name")),
        };
        let idx_sha = hex::encode(sha2::Sha256::digest(&idx));
        let idx_len = idx.len() as u64;
        self.staging.store.put(&idx_path, PutPayload::from(idx)).await.map_err(|e| crate::store::storage("put", &url, e))?;
        Ok(vec![
            StagedFile { path: self.rel, staging: Some(self.staging.path), rows: docs, bytes, sha256: hex::encode(hash.finalize()), delta_stats: None },
            StagedFile { path: idx_rel, staging: Some(idx_path), rows: 0, bytes: idx_len, sha256: idx_sha, delta_stats: None },
        ])
    }
}
