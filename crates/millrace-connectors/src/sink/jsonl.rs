//! JSONL sink files (also used for rejects): lines are compressed in memory chunk by chunk and
//! streamed to a multipart upload, so a file of any size needs a bounded buffer.

use super::StagedFile;
use crate::store::Location;
use crate::upload::Upload;
use crate::{ConnectorError, Result};
use sha2::Digest;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineCompression {
    None,
    Zstd,
    Gzip,
}

impl LineCompression {
    pub fn parse(s: &str) -> Self {
        match s {
            "zstd" | "zst" => LineCompression::Zstd,
            "gzip" | "gz" => LineCompression::Gzip,
            _ => LineCompression::None,
        }
    }
}

enum Enc {
    None,
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
}

pub struct JsonlFile {
    out: Upload,
    enc: Enc,
    hash: sha2::Sha256,
    pub bytes: u64,
    pub rows: u64,
    pub url: String,
    rel: String,
    staging: Location,
}

impl JsonlFile {
    pub fn create(staging: Location, rel: String, comp: LineCompression) -> Result<Self> {
        let url = staging.url();
        let enc = match comp {
            LineCompression::None => Enc::None,
            LineCompression::Zstd => {
                Enc::Zstd(zstd::stream::write::Encoder::new(Vec::new(), 3).map_err(|e| ConnectorError::write(&url, e))?)
            }
            LineCompression::Gzip => Enc::Gzip(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default())),
        };
        let out = Upload::new(staging.store.clone(), staging.path.clone());
        Ok(Self { out, enc, hash: sha2::Sha256::new(), bytes: 0, rows: 0, url, rel, staging })
    }

    /// Appends complete lines (each ending in `\n`).
    pub async fn write_lines(&mut self, lines: Vec<u8>, rows: u64) -> Result<()> {
        self.rows += rows;
        let url = self.url.clone();
        let chunk = match &mut self.enc {
            Enc::None => lines,
            Enc::Zstd(e) => {
                e.write_all(&lines).map_err(|x| ConnectorError::write(&url, x))?;
                std::mem::take(e.get_mut())
            }
            Enc::Gzip(e) => {
                e.write_all(&lines).map_err(|x| ConnectorError::write(&url, x))?;
                std::mem::take(e.get_mut())
            }
        };
        self.push(chunk).await
    }

    async fn push(&mut self, chunk: Vec<u8>) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.hash.update(&chunk);
        self.bytes += chunk.len() as u64;
        self.out.put(chunk.into()).await.map_err(|e| ConnectorError::write(&self.url, e))
    }

    pub async fn close(mut self) -> Result<StagedFile> {
        let url = self.url.clone();
        let tail = match std::mem::replace(&mut self.enc, Enc::None) {
            Enc::None => Vec::new(),
            Enc::Zstd(e) => e.finish().map_err(|x| ConnectorError::write(&url, x))?,
            Enc::Gzip(e) => e.finish().map_err(|x| ConnectorError::write(&url, x))?,
        };
        self.push(tail).await?;
        self.out.finish().await.map_err(|e| ConnectorError::write(&url, e))?;
        Ok(StagedFile {
            path: self.rel,
            staging: Some(self.staging.path),
            rows: self.rows,
            bytes: self.bytes,
            sha256: hex::encode(self.hash.finalize()),
            delta_stats: None,
        })
    }
}
