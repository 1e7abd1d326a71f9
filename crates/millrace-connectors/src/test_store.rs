//! An in-memory object store for unit tests that behaves as the cloud ones do where it matters:
//! like S3 it keeps every multipart upload until it is completed or aborted (`open` counts them),
//! it can refuse part uploads, and like Azure its copies can finish after the copy request answered.

use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, UploadPart,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub(crate) struct Tracking {
    pub inner: Arc<InMemory>,
    /// Multipart uploads neither completed nor aborted.
    pub open: Arc<AtomicUsize>,
    pub fail_parts: Arc<AtomicBool>,
    /// A copy answers at once and lands this much later (reading the source then).
    pub copy_delay: Option<Duration>,
}

impl std::fmt::Display for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracking")
    }
}

#[derive(Debug)]
struct TrackedUpload {
    inner: Box<dyn MultipartUpload>,
    open: Arc<AtomicUsize>,
    fail_parts: Arc<AtomicBool>,
    ended: bool,
}

impl TrackedUpload {
    fn end(&mut self) {
        if !std::mem::replace(&mut self.ended, true) {
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[async_trait::async_trait]
impl MultipartUpload for TrackedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        if self.fail_parts.load(Ordering::SeqCst) {
            // Not a transient error, so that callers retrying through outages give up at once.
            return Box::pin(async { Err(object_store::Error::PermissionDenied { path: "part".into(), source: "part refused".into() }) });
        }
        self.inner.put_part(data)
    }
    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let r = self.inner.complete().await?;
        self.end();
        Ok(r)
    }
    async fn abort(&mut self) -> object_store::Result<()> {
        self.end();
        self.inner.abort().await
    }
}

#[async_trait::async_trait]
impl ObjectStore for Tracking {
    async fn put_opts(&self, p: &Path, payload: PutPayload, opts: PutOptions) -> object_store::Result<PutResult> {
        self.inner.put_opts(p, payload, opts).await
    }
    async fn put_multipart_opts(&self, p: &Path, opts: PutMultipartOptions) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(p, opts).await?;
        self.open.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(TrackedUpload { inner, open: self.open.clone(), fail_parts: self.fail_parts.clone(), ended: false }))
    }
    async fn get_opts(&self, p: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(p, options).await
    }
    fn delete_stream(&self, locations: BoxStream<'static, object_store::Result<Path>>) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        let Some(delay) = self.copy_delay else { return self.inner.copy_opts(from, to, options).await };
        let (inner, from, to) = (self.inner.clone(), from.clone(), to.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // A source deleted meanwhile fails the copy, as on Azure.
            let _ = inner.copy(&from, &to).await;
        });
        Ok(())
    }
}
