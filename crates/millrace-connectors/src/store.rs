//! Opens object stores from URLs. One store per (scheme, bucket/container), cached for the run.

use crate::{ConnectorError, Result};
use millrace_spec::StorageSpec;
use object_store::ObjectStore;
use object_store::ObjectStoreScheme;
use object_store::path::Path;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use url::Url;

/// A resolved location: the store, the path inside it, and the URL it came from (for messages).
#[derive(Clone, Debug)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    /// Path inside the store (no leading slash; for local files relative to `/`).
    pub path: Path,
    /// `scheme://authority` prefix used to render URLs of objects in this store.
    pub base: String,
}

/// What a URL path segment must escape so that `Path::from_url_path` gives back the object path
/// exactly (`%` included: an object named `lang=%3C` is the URL segment `lang=%253C`).
const URL_SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b'"').add(b'#').add(b'%').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}');

impl Location {
    /// The URL of an object of this store, for messages and manifests. Resolving it gives back `p`.
    pub fn url_of(&self, p: &Path) -> String {
        let mut s = self.base.clone();
        for part in p.parts() {
            s.push('/');
            s.extend(percent_encoding::utf8_percent_encode(part.as_ref(), URL_SEGMENT));
        }
        if p.as_ref().is_empty() {
            s.push('/');
        }
        s
    }
    pub fn url(&self) -> String {
        self.url_of(&self.path)
    }
    /// A path below this location. `name` is taken as object-path segments as they are (already
    /// encoded where needed, as hive partition directories are): nothing is escaped a second time.
    pub fn child(&self, name: &str) -> Location {
        let mut path = self.path.clone();
        for part in name.split('/').filter(|s| !s.is_empty()) {
            path = match object_store::path::PathPart::parse(part) {
                Ok(p) => path.join(p),
                Err(_) => path.join(part),
            };
        }
        Location { store: self.store.clone(), path, base: self.base.clone() }
    }
    /// The file on local disk, for `file://` locations (fsync needs it); `None` for object stores.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        (self.base == "file://").then(|| std::path::PathBuf::from(format!("/{}", self.path.as_ref())))
    }
}

#[derive(Default)]
pub struct StoreRegistry {
    options: StorageSpec,
    cache: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl StoreRegistry {
    pub fn new(options: StorageSpec) -> Self {
        Self { options, cache: Mutex::default() }
    }

    /// Parses a local path, `file://` or cloud URL into a [`Location`].
    pub fn resolve(&self, raw: &str) -> Result<Location> {
        let url = to_url(raw)?;
        let scheme = url.scheme().to_ascii_lowercase();
        // object_store's own reading of the URL: which store, and the path inside it (Azure's
        // container and the bucket of path-style S3 URLs are part of the store, not the path).
        let (kind, path) = store_path(&url).map_err(|e| bad(raw, e))?;
        // The key is also the rendered base of every URL of this store: no password in it.
        let plain = format!("{}://{}", scheme, url.authority());
        let key = match crate::redact::url(&plain) {
            same if same == plain => same,
            // A re-rendered URL gains a `/` path: the base must not end in one.
            masked => masked.trim_end_matches('/').to_string(),
        };
        let store = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let s = self.build(kind, &scheme, &url)?;
                    cache.insert(key.clone(), s.clone());
                    s
                }
            }
        };
        let base = if scheme == "file" { "file://".to_string() } else { key };
        Ok(Location { store, path, base })
    }

    fn build(&self, kind: ObjectStoreScheme, scheme: &str, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        install_crypto_provider();
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
        use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
        let opt_err = |key: &str, e: &dyn std::fmt::Display| ConnectorError::StorageOption {
            scheme: scheme.to_string(),
            key: key.to_string(),
            message: e.to_string(),
        };
        let store: Arc<dyn ObjectStore> = match kind {
            ObjectStoreScheme::Local => Arc::new(object_store::local::LocalFileSystem::new()),
            ObjectStoreScheme::Memory => Arc::new(object_store::memory::InMemory::new()),
            ObjectStoreScheme::AmazonS3 => {
                let mut b = AmazonS3Builder::from_env().with_url(url.as_str()).with_retry(retry(&self.options.s3, scheme)?).with_http_connector(Counting("s3"));
                for (k, v) in self.options.s3.iter().filter(|(k, _)| !is_retry_key(k)) {
                    let key: AmazonS3ConfigKey = k.to_ascii_lowercase().parse().map_err(|e| opt_err(k, &e))?;
                    b = b.with_config(key, v.to_string());
                }
                Arc::new(b.build().map_err(|e| storage("open", url.as_str(), e))?)
            }
            ObjectStoreScheme::MicrosoftAzure => {
                let mut b = MicrosoftAzureBuilder::from_env().with_url(url.as_str()).with_retry(retry(&self.options.azure, scheme)?).with_http_connector(Counting("azure"));
                for (k, v) in self.options.azure.iter().filter(|(k, _)| !is_retry_key(k)) {
                    let key: AzureConfigKey = k.to_ascii_lowercase().parse().map_err(|e| opt_err(k, &e))?;
                    b = b.with_config(key, v.to_string());
                }
                Arc::new(b.build().map_err(|e| storage("open", url.as_str(), e))?)
            }
            ObjectStoreScheme::GoogleCloudStorage => {
                let mut b = GoogleCloudStorageBuilder::from_env().with_url(url.as_str()).with_retry(retry(&self.options.gcs, scheme)?).with_http_connector(Counting("gcs"));
                for (k, v) in self.options.gcs.iter().filter(|(k, _)| !is_retry_key(k)) {
                    let key: GoogleConfigKey = k.to_ascii_lowercase().parse().map_err(|e| opt_err(k, &e))?;
                    b = b.with_config(key, v.to_string());
                }
                Arc::new(b.build().map_err(|e| storage("open", url.as_str(), e))?)
            }
            ObjectStoreScheme::Http => Arc::new(
                object_store::http::HttpBuilder::new()
                    .with_url(format!("{}://{}", url.scheme(), url.authority()))
                    .with_http_connector(Counting("http"))
                    .build()
                    .map_err(|e| storage("open", url.as_str(), e))?,
            ),
            other => {
                return Err(ConnectorError::InvalidUrl {
                    url: crate::redact::url(url.as_str()),
                    message: format!("unsupported store {other:?}"),
                });
            }
        };
        Ok(store)
    }
}

/// Storage requests that failed in this process: refused, cut or timed-out connections and 429/5xx
/// answers. object_store retries most of them itself, so without this count an outage it rides
/// out would be invisible; runs report it (`storage_request_failures`) and workers export it
/// (`millrace_storage_request_failures_total{store}`).
static FAILED_REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// [`FAILED_REQUESTS`] so far.
pub fn failed_requests() -> u64 {
    FAILED_REQUESTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// object_store's own HTTP client, with every failed attempt counted.
#[derive(Debug)]
struct Counting(&'static str);

impl object_store::client::HttpConnector for Counting {
    fn connect(&self, options: &object_store::ClientOptions) -> object_store::Result<object_store::client::HttpClient> {
        let inner = object_store::client::ReqwestConnector::default().connect(options)?;
        Ok(object_store::client::HttpClient::new(CountedClient { inner, store: self.0 }))
    }
}

#[derive(Debug)]
struct CountedClient {
    inner: object_store::client::HttpClient,
    store: &'static str,
}

#[async_trait::async_trait]
impl object_store::client::HttpService for CountedClient {
    async fn call(&self, req: object_store::client::HttpRequest) -> std::result::Result<object_store::client::HttpResponse, object_store::client::HttpError> {
        let r = self.inner.execute(req).await;
        let failed = match &r {
            Err(_) => true,
            Ok(resp) => resp.status().is_server_error() || resp.status().as_u16() == 429,
        };
        if failed {
            FAILED_REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            metrics::counter!("millrace_storage_request_failures_total", "store" => self.store).increment(1);
        }
        r
    }
}

/// How long bookkeeping requests (listing, reading and deleting state; copying staged files) are
/// retried after the store's own retries gave up. A store does not retry a request cut off
/// mid-flight unless it knows it to be idempotent (S3's bulk delete is a POST), nor a connection the
/// pool found closed; these requests are all safe to repeat, so an outage shorter than this delays a
/// commit and never fails it.
pub(crate) const COMMIT_RETRY: std::time::Duration = std::time::Duration::from_secs(180);

/// Runs a repeatable request until it succeeds, fails for a reason other than the service being
/// unreachable, or [`COMMIT_RETRY`] has passed.
pub(crate) async fn retrying<T, F, Fut>(mut op: F) -> object_store::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = object_store::Result<T>>,
{
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        match op().await {
            Err(object_store::Error::Generic { store, source }) if started.elapsed() < COMMIT_RETRY => {
                tracing::warn!(store, error = %crate::redact::text(&source.to_string()), "retrying a storage request");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

/// Every object below `loc`; none when the prefix does not exist (some stores list a missing
/// prefix as `NotFound`).
pub(crate) async fn list_all(loc: &Location) -> Result<Vec<object_store::ObjectMeta>> {
    use futures::TryStreamExt;
    match retrying(|| loc.store.list(Some(&loc.path)).try_collect::<Vec<_>>()).await {
        Ok(v) => Ok(v),
        Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(storage("list", &loc.url(), e)),
    }
}

/// A JSON object and its metadata; `None` when there is no such object.
pub async fn read_json<T: for<'de> serde::Deserialize<'de>>(loc: &Location) -> Result<Option<(T, object_store::ObjectMeta)>> {
    use object_store::ObjectStoreExt;
    let got = retrying(|| async {
        let got = loc.store.get(&loc.path).await?;
        let meta = got.meta.clone();
        Ok((meta, got.bytes().await?))
    })
    .await;
    match got {
        Ok((meta, bytes)) => {
            let v = serde_json::from_slice(&bytes).map_err(|e| ConnectorError::record(&loc.url(), e))?;
            Ok(Some((v, meta)))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(storage("get", &loc.url(), e)),
    }
}

/// An object's bytes; `None` when there is no such object. Retried through outages.
pub async fn read_bytes(loc: &Location) -> Result<Option<bytes::Bytes>> {
    use object_store::ObjectStoreExt;
    match retrying(|| async { loc.store.get(&loc.path).await?.bytes().await }).await {
        Ok(b) => Ok(Some(b)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(storage("get", &loc.url(), e)),
    }
}

/// Writes `bytes`, replacing what is there. Retried through outages.
pub async fn write_bytes(loc: &Location, bytes: impl Into<bytes::Bytes>) -> Result<()> {
    use object_store::ObjectStoreExt;
    let body = object_store::PutPayload::from(bytes.into());
    retrying(|| loc.store.put(&loc.path, body.clone())).await.map_err(|e| storage("put", &loc.url(), e))?;
    Ok(())
}

/// Streams an object into `file` (from its start, replacing what the file held) with bounded
/// memory; `false` when there is no such object. Retried through outages.
pub async fn read_to_file(loc: &Location, file: &std::fs::File) -> Result<bool> {
    use futures::StreamExt;
    use object_store::ObjectStoreExt;
    use std::os::unix::fs::FileExt;
    let local = |e: std::io::Error| ConnectorError::Read { url: loc.url(), source: e.into() };
    let got = retrying(|| async {
        let mut body = loc.store.get(&loc.path).await?.into_stream();
        let mut at = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            if let Err(e) = file.write_all_at(&chunk, at) {
                return Ok(Err(e));
            }
            at += chunk.len() as u64;
        }
        Ok(file.set_len(at))
    })
    .await;
    match got {
        Ok(r) => r.map(|()| true).map_err(local),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(storage("get", &loc.url(), e)),
    }
}

/// Writes the whole of `file` as the object, replacing what is there, in parts with bounded
/// memory. Retried through outages.
pub async fn write_from_file(loc: &Location, file: &std::fs::File) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let local = |e: std::io::Error| ConnectorError::Write { url: loc.url(), source: e.into() };
    let len = file.metadata().map_err(local)?.len();
    let r = retrying(|| async {
        let mut up = crate::upload::Upload::for_size(loc.store.clone(), loc.path.clone(), len);
        let mut at = 0u64;
        while at < len {
            let mut buf = vec![0u8; (len - at).min(crate::upload::PART_SIZE as u64) as usize];
            if let Err(e) = file.read_exact_at(&mut buf, at) {
                up.abort().await;
                return Ok(Err(e));
            }
            at += buf.len() as u64;
            up.put(buf.into()).await?;
        }
        up.finish().await.map(Ok)
    })
    .await;
    match r {
        Ok(r) => r.map_err(local),
        Err(e) => Err(storage("put", &loc.url(), e)),
    }
}

/// Whether the object exists (an error other than "not found" is an error).
pub async fn exists(loc: &Location) -> Result<bool> {
    use object_store::ObjectStoreExt;
    match retrying(|| loc.store.head(&loc.path)).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(storage("head", &loc.url(), e)),
    }
}

fn json_body<T: serde::Serialize>(loc: &Location, v: &T) -> Result<object_store::PutPayload> {
    serde_json::to_vec_pretty(v).map(Into::into).map_err(|e| ConnectorError::record(&loc.url(), e))
}

/// Writes `v` as JSON, replacing what is there.
pub(crate) async fn put_json<T: serde::Serialize>(loc: &Location, v: &T) -> Result<()> {
    use object_store::ObjectStoreExt;
    let body = json_body(loc, v)?;
    retrying(|| loc.store.put(&loc.path, body.clone())).await.map_err(|e| storage("put", &loc.url(), e))?;
    Ok(())
}

/// Writes `v` as JSON only if nothing is there yet; `Ok(false)` when something was (which may be an
/// earlier attempt of this very call whose answer was lost: callers that care read it back).
pub async fn put_new<T: serde::Serialize>(loc: &Location, v: &T) -> Result<bool> {
    let body = json_body(loc, v)?;
    match retrying(|| loc.store.put_opts(&loc.path, body.clone(), object_store::PutMode::Create.into())).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(storage("create", &loc.url(), e)),
    }
}

fn is_retry_key(k: &str) -> bool {
    matches!(k.to_ascii_lowercase().as_str(), "max_retries" | "retry_timeout")
}

/// Retries of failed requests (connection refused, timeouts, 5xx) with exponential backoff:
/// `max_retries` (default 100) and `retry_timeout` (seconds or `90s`/`3m`, default 3 minutes).
/// The backoff is jittered, so a count alone can run out within seconds of an outage; the default
/// count is high enough that the timeout decides.
fn retry<V: std::fmt::Display>(opts: &std::collections::BTreeMap<String, V>, scheme: &str) -> Result<object_store::RetryConfig> {
    let mut cfg = object_store::RetryConfig { max_retries: 100, ..Default::default() };
    for (k, v) in opts {
        let v = v.to_string();
        let bad = |m: &str| ConnectorError::StorageOption { scheme: scheme.to_string(), key: k.clone(), message: m.to_string() };
        match k.to_ascii_lowercase().as_str() {
            "max_retries" => cfg.max_retries = v.trim().parse().map_err(|_| bad("expected a whole number"))?,
            "retry_timeout" => {
                let t = v.trim();
                let secs: f64 = match t.strip_suffix('m') {
                    Some(m) => m.trim().parse::<f64>().map(|m| m * 60.0),
                    None => t.trim_end_matches('s').trim().parse::<f64>(),
                }
                .map_err(|_| bad("expected seconds, such as 90 or 90s or 3m"))?;
                cfg.retry_timeout = std::time::Duration::from_secs_f64(secs.max(0.0));
            }
            _ => {}
        }
    }
    Ok(cfg)
}

/// The kind of store a URL names and the path inside it, as object_store reads it:
/// `abfss://container@account.dfs.core.windows.net/a/b`, `az://container/a/b` and
/// `https://account.blob.core.windows.net/container/a/b` all map to `a/b`.
fn store_path(url: &Url) -> std::result::Result<(ObjectStoreScheme, Path), object_store::Error> {
    ObjectStoreScheme::parse(url).map_err(|e| object_store::Error::Generic { store: "url", source: Box::new(e) })
}

/// The kind of store a location is in (from the URL it was opened with).
pub(crate) fn kind(loc: &Location) -> Option<ObjectStoreScheme> {
    let url = Url::parse(&loc.base).ok()?;
    store_path(&url).ok().map(|(k, _)| k)
}

fn bad(raw: &str, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::InvalidUrl { url: crate::redact::url(raw), message: crate::redact::text(&e.to_string()) }
}

/// object_store's HTTP client takes TLS from the process-wide rustls provider, and rustls picks one
/// by itself only when a single provider is compiled in; the Delta kernel's client brings aws-lc
/// beside ring, so without this the first HTTPS (or HTTP) store would panic. Ring: the one
/// object_store was built and tested with.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err: a provider is installed already (by the embedding program); keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub(crate) fn storage(op: &'static str, url: &str, source: object_store::Error) -> ConnectorError {
    ConnectorError::Storage { op, url: crate::redact::url(url), source }
}

/// Local paths become absolute `file://` URLs; glob characters survive (they are escaped and restored).
pub fn to_url(raw: &str) -> Result<Url> {
    if raw.contains("://") {
        return Url::parse(raw).map_err(|e| bad(raw, e));
    }
    let p = std::path::Path::new(raw);
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| bad(raw, e))?.join(p)
    };
    let s = abs.to_string_lossy();
    // Normalise `./` and `..` lexically so that globs on not-yet-existing paths work too.
    let mut parts: Vec<&str> = Vec::new();
    for part in s.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let mut url = Url::parse("file:///").map_err(|e| bad(raw, e))?;
    url.path_segments_mut().map_err(|_| bad(raw, "not a path"))?.extend(parts);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn local_paths_resolve() {
        let r = StoreRegistry::default();
        let l = r.resolve("/tmp/a/../b/c.jsonl").unwrap();
        assert_eq!(l.path.as_ref(), "tmp/b/c.jsonl");
        assert_eq!(l.url(), "file:///tmp/b/c.jsonl");
    }
    #[test]
    fn urls_round_trip_object_paths() {
        let r = StoreRegistry::default();
        let l = r.resolve("/tmp/out").unwrap();
        let c = l.child("lang=%3Cx%3E/part 1.parquet");
        assert_eq!(c.path.as_ref(), "tmp/out/lang=%3Cx%3E/part 1.parquet", "encoded segments are kept as they are");
        let back = r.resolve(&c.url()).unwrap();
        assert_eq!(back.path, c.path);
        assert_eq!(c.local_path().unwrap(), std::path::PathBuf::from("/tmp/out/lang=%3Cx%3E/part 1.parquet"));
    }
    #[test]
    fn rendered_bases_hide_passwords() {
        let r = StoreRegistry::default();
        let l = r.resolve("http://user:SECRET@127.0.0.1:1/data/x.jsonl").unwrap();
        assert!(!l.url().contains("SECRET"), "{}", l.url());
        assert!(r.resolve(&l.url()).is_ok());
    }
    #[test]
    fn azure_paths() {
        let u = Url::parse("abfss://data@acct.dfs.core.windows.net/raw/x.jsonl").unwrap();
        assert_eq!(store_path(&u).unwrap().1.as_ref(), "raw/x.jsonl");
        let u = Url::parse("az://data/raw/x.jsonl").unwrap();
        assert_eq!(store_path(&u).unwrap().1.as_ref(), "raw/x.jsonl");
        let u = Url::parse("https://acct.blob.core.windows.net/data/raw/x.jsonl").unwrap();
        assert_eq!(store_path(&u).unwrap(), (ObjectStoreScheme::MicrosoftAzure, Path::from("raw/x.jsonl")));
    }
}
