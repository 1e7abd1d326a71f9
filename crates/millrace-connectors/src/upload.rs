//! Writing one object of any size with bounded memory: a small object is one put; a larger one goes
//! up in fixed-size parts of a multipart upload, a few at a time.
//!
//! An incomplete multipart upload is invisible to listings yet billed on S3 until it is aborted, so
//! this writer aborts its upload whenever it will not complete it: when a put or the completion
//! fails, and when it is dropped unfinished (a failed epoch drops its open files). object_store's
//! `BufWriter` aborts only when asked, and not at all when a part fails during `shutdown` (the upload
//! is consumed by then). A killed process cannot abort; see the storage section of docs/spec.md.

use bytes::Bytes;
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload, PutPayloadMut};
use std::sync::Arc;
use tokio::task::JoinSet;

/// Default part size: objects up to this size are a single put.
pub const PART_SIZE: usize = 10 << 20;

/// Most part bytes being sent at once (at least one part).
const IN_FLIGHT_BYTES: usize = 8 * PART_SIZE;

/// S3 allows at most this many parts per upload.
const MAX_PARTS: u64 = 10_000;

pub struct Upload {
    store: Arc<dyn ObjectStore>,
    path: Path,
    part_size: usize,
    buffer: PutPayloadMut,
    /// The multipart upload, once the first part is sent; until it completes it is ours to abort.
    multipart: Option<Multipart>,
    done: bool,
}

struct Multipart {
    upload: Box<dyn MultipartUpload>,
    parts: JoinSet<object_store::Result<()>>,
}

impl Multipart {
    async fn abort(mut self, path: &Path) {
        self.parts.shutdown().await;
        if let Err(e) = self.upload.abort().await {
            tracing::warn!(path = %path, error = %crate::redact::text(&e.to_string()), "could not abort a multipart upload");
        }
    }
}

impl Upload {
    pub fn new(store: Arc<dyn ObjectStore>, path: Path) -> Self {
        Self::with_part_size(store, path, PART_SIZE)
    }

    /// A writer for an object of about `size` bytes: parts grow past [`PART_SIZE`] where needed to
    /// stay within S3's part count.
    pub fn for_size(store: Arc<dyn ObjectStore>, path: Path, size: u64) -> Self {
        let part = usize::try_from(size.div_ceil(MAX_PARTS)).unwrap_or(usize::MAX);
        Self::with_part_size(store, path, part.max(PART_SIZE))
    }

    pub fn with_part_size(store: Arc<dyn ObjectStore>, path: Path, part_size: usize) -> Self {
        Self { store, path, part_size: part_size.max(1), buffer: PutPayloadMut::new(), multipart: None, done: false }
    }

    /// Appends `bytes`; on failure the upload is aborted and the writer takes no more.
    pub async fn put(&mut self, bytes: Bytes) -> object_store::Result<()> {
        let r = self.put_inner(bytes).await;
        if r.is_err() {
            self.abort().await;
        }
        r
    }

    /// Writes what is buffered and completes the object; on failure the upload is aborted.
    pub async fn finish(&mut self) -> object_store::Result<()> {
        let r = self.finish_inner().await;
        if r.is_err() {
            self.abort().await;
        }
        self.done = true;
        r
    }

    /// Gives up the object: an upload in progress is aborted, so no part of it stays behind.
    pub async fn abort(&mut self) {
        self.done = true;
        self.buffer = PutPayloadMut::new();
        if let Some(m) = self.multipart.take() {
            m.abort(&self.path).await;
        }
    }

    async fn put_inner(&mut self, mut bytes: Bytes) -> object_store::Result<()> {
        if self.done {
            return Err(closed(&self.path));
        }
        // Parts of one size (but the last): some S3-compatible stores require it.
        while !bytes.is_empty() {
            let room = self.part_size - self.buffer.content_length();
            if bytes.len() < room {
                self.buffer.push(bytes);
                break;
            }
            self.buffer.push(bytes.split_to(room));
            let part = std::mem::take(&mut self.buffer).freeze();
            self.send(part).await?;
        }
        Ok(())
    }

    async fn send(&mut self, part: PutPayload) -> object_store::Result<()> {
        let m = match &mut self.multipart {
            Some(m) => m,
            None => {
                let upload = crate::store::retrying(|| self.store.put_multipart(&self.path)).await?;
                self.multipart.insert(Multipart { upload, parts: JoinSet::new() })
            }
        };
        // A part that failed already fails the upload now, not after the rest were sent.
        while let Some(r) = m.parts.try_join_next() {
            joined(Some(r))?;
        }
        let in_flight = (IN_FLIGHT_BYTES / self.part_size).max(1);
        while m.parts.len() >= in_flight {
            joined(m.parts.join_next().await)?;
        }
        m.parts.spawn(m.upload.put_part(part));
        Ok(())
    }

    async fn finish_inner(&mut self) -> object_store::Result<()> {
        if self.done {
            return Err(closed(&self.path));
        }
        let rest = std::mem::take(&mut self.buffer).freeze();
        let Some(m) = &mut self.multipart else {
            // A whole-object put can be repeated: it rides out an outage longer than the store
            // client's own retries, as bookkeeping requests do.
            crate::store::retrying(|| self.store.put(&self.path, rest.clone())).await?;
            return Ok(());
        };
        if rest.content_length() > 0 {
            m.parts.spawn(m.upload.put_part(rest));
        }
        while let Some(r) = m.parts.join_next().await {
            joined(Some(r))?;
        }
        m.upload.complete().await?;
        self.multipart = None;
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(m) = self.multipart.take() {
            // Drop cannot wait; the abort runs on as a task (lost only if the runtime stops first).
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let path = std::mem::take(&mut self.path);
                rt.spawn(async move { m.abort(&path).await });
            }
        }
    }
}

fn joined(r: Option<Result<object_store::Result<()>, tokio::task::JoinError>>) -> object_store::Result<()> {
    match r {
        None | Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(e))) => Err(e),
        Some(Err(e)) => Err(object_store::Error::Generic { store: "upload", source: Box::new(e) }),
    }
}

fn closed(path: &Path) -> object_store::Error {
    object_store::Error::Generic { store: "upload", source: format!("{path}: the upload was already finished or aborted").into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store::Tracking;
    use std::sync::atomic::Ordering;

    fn setup() -> (Arc<Tracking>, Upload) {
        let store = Arc::new(Tracking::default());
        let up = Upload::with_part_size(store.clone(), Path::from("out/part-0"), 4);
        (store, up)
    }

    async fn absent(store: &Tracking) -> bool {
        matches!(store.head(&Path::from("out/part-0")).await, Err(object_store::Error::NotFound { .. }))
    }

    #[tokio::test]
    async fn completes_in_parts_and_in_one_put() {
        let (store, mut up) = setup();
        for chunk in ["abc", "defgh", "ij", "klmnopq"] {
            up.put(Bytes::from(chunk)).await.unwrap();
        }
        assert_eq!(store.open.load(Ordering::SeqCst), 1, "past one part, a multipart upload is in progress");
        up.finish().await.unwrap();
        assert_eq!(store.open.load(Ordering::SeqCst), 0);
        let got = store.get(&Path::from("out/part-0")).await.unwrap().bytes().await.unwrap();
        assert_eq!(&got[..], b"abcdefghijklmnopq");

        let mut small = Upload::with_part_size(store.clone(), Path::from("out/small"), 100);
        small.put(Bytes::from_static(b"tiny")).await.unwrap();
        small.finish().await.unwrap();
        assert_eq!(&store.get(&Path::from("out/small")).await.unwrap().bytes().await.unwrap()[..], b"tiny");
    }

    #[tokio::test]
    async fn an_aborted_writer_leaves_nothing() {
        let (store, mut up) = setup();
        up.put(Bytes::from_static(b"0123456789")).await.unwrap();
        assert_eq!(store.open.load(Ordering::SeqCst), 1);
        up.abort().await;
        assert_eq!(store.open.load(Ordering::SeqCst), 0, "abort ends the multipart upload");
        assert!(up.put(Bytes::from_static(b"x")).await.is_err(), "an aborted writer takes no more");
        assert!(up.finish().await.is_err());
        assert!(absent(&store).await);
    }

    #[tokio::test]
    async fn a_failed_part_aborts_the_upload() {
        let (store, mut up) = setup();
        up.put(Bytes::from_static(b"0123456789")).await.unwrap();
        // The last part fails while finishing: the case object_store's BufWriter leaves behind.
        store.fail_parts.store(true, Ordering::SeqCst);
        assert!(up.finish().await.is_err());
        assert_eq!(store.open.load(Ordering::SeqCst), 0, "a failed finish aborts");
        assert!(absent(&store).await);

        let (store, mut up) = setup();
        store.fail_parts.store(true, Ordering::SeqCst);
        let mut failed = false;
        for _ in 0..20 {
            if up.put(Bytes::from_static(b"0123456789")).await.is_err() {
                failed = true;
                break;
            }
            // Lets the refused parts' tasks finish (the test runtime has one thread).
            tokio::task::yield_now().await;
        }
        assert!(failed, "a refused part surfaces through put");
        assert_eq!(store.open.load(Ordering::SeqCst), 0, "a failed put aborts");
        assert!(absent(&store).await);
    }

    #[tokio::test]
    async fn a_dropped_writer_aborts() {
        let (store, mut up) = setup();
        up.put(Bytes::from_static(b"0123456789")).await.unwrap();
        drop(up);
        for _ in 0..100 {
            if store.open.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(store.open.load(Ordering::SeqCst), 0, "dropping an unfinished writer aborts its upload");
        assert!(absent(&store).await);
    }
}
