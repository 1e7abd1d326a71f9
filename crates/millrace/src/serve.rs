//! The run's HTTP endpoints (`metrics: { listen: host:port }`): Prometheus `/metrics` from the
//! metrics the engine records, `/healthz` (the process answers) and `/readyz` (the run holds its
//! lease and has opened its source; 503 before that and after the run).

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// The process's one recorder: installed by the first run that asks for metrics.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "another metrics recorder is installed; /metrics stays empty");
                None
            }
        })
        .clone()
}

/// Serving endpoints until the returned task is aborted.
pub struct Endpoints {
    task: tokio::task::JoinHandle<()>,
    pub ready: Arc<AtomicBool>,
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start(listen: &str) -> std::io::Result<Endpoints> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let ready = Arc::new(AtomicBool::new(false));
    let handle = handle();
    let r = ready.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (handle, ready) = (handle.clone(), r.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let body = respond(req.uri().path(), handle.as_ref(), &ready);
                    async move { Ok::<_, Infallible>(body) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    Ok(Endpoints { task, ready })
}

fn respond(path: &str, handle: Option<&PrometheusHandle>, ready: &AtomicBool) -> Response<Full<Bytes>> {
    let (status, body) = match path {
        "/metrics" => (StatusCode::OK, handle.map(PrometheusHandle::render).unwrap_or_default()),
        "/healthz" => (StatusCode::OK, "ok\n".to_string()),
        "/readyz" if ready.load(Ordering::SeqCst) => (StatusCode::OK, "ready\n".to_string()),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_string()),
        _ => (StatusCode::NOT_FOUND, "not found: /metrics, /healthz, /readyz\n".to_string()),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}
