//! [`MeteredLayer`]: counts and times every gRPC call a server answers, by service and method
//! (`lode_rpc_requests_total`, `lode_rpc_duration_seconds`), for the `/metrics` endpoint.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use metrics::{Counter, Histogram};

/// A tower layer for tonic servers: `Server::builder().layer(MeteredLayer::default())`.
///
/// Create it after the process's recorder is installed: it keeps the handles it registers.
#[derive(Debug, Clone, Default)]
pub struct MeteredLayer {
    handles: Handles,
}

impl<S> tower::Layer<S> for MeteredLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Metered { inner, handles: self.handles.clone() }
    }
}

/// The counter and histogram of each request path, registered on its first call: a call then
/// costs a read lock and two atomic updates instead of two registry lookups keyed by labels.
type Handles = Arc<RwLock<HashMap<String, (Counter, Histogram)>>>;

/// The service [`MeteredLayer`] wraps around a server's routes.
#[derive(Debug, Clone)]
pub struct Metered<S> {
    inner: S,
    handles: Handles,
}

/// `("FileSystemMasterClientService", "CreateFile")` from
/// `/alluxio.grpc.file.FileSystemMasterClientService/CreateFile`.
fn service_and_method(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let service = service.rsplit('.').next().unwrap_or(service);
    (service.to_string(), parts.next().unwrap_or_default().to_string())
}

/// Distinct request paths with their own labels; calls to further paths (a client trying
/// made-up methods) are counted under `other`, so that they cannot grow the registry.
const MAX_PATHS: usize = 256;

/// The handles of `path`, registered with its service and method labels the first time.
fn handles_of(handles: &Handles, path: &str) -> (Counter, Histogram) {
    // A poisoned lock only means a panic elsewhere; the map itself is always whole.
    let known = handles.read().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = known.get(path) {
        return found.clone();
    }
    let full = known.len() >= MAX_PATHS;
    drop(known);
    let (path, (service, method)) = match full {
        false => (path, service_and_method(path)),
        true => ("other", ("other".to_string(), "other".to_string())),
    };
    let labels = [("service", service), ("method", method)];
    let registered = (
        metrics::counter!("lode_rpc_requests_total", &labels),
        metrics::histogram!("lode_rpc_duration_seconds", &labels),
    );
    let mut map = handles.write().unwrap_or_else(|e| e.into_inner());
    map.entry(path.to_string()).or_insert(registered).clone()
}

impl<S, B> tower::Service<http::Request<B>> for Metered<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (calls, durations) = handles_of(&self.handles, request.uri().path());
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let outcome = answer.await;
            calls.increment(1);
            durations.record(started.elapsed().as_secs_f64());
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_service_and_the_method() {
        assert_eq!(
            service_and_method("/alluxio.grpc.file.FileSystemMasterClientService/CreateFile"),
            ("FileSystemMasterClientService".to_string(), "CreateFile".to_string())
        );
        assert_eq!(service_and_method("/x"), ("x".to_string(), String::new()));
    }

    #[test]
    fn made_up_paths_cannot_grow_the_handles_without_bound() {
        let handles = Handles::default();
        for n in 0..MAX_PATHS * 2 {
            let _ = handles_of(&handles, &format!("/made.Up/Method{n}"));
            let _ =
                handles_of(&handles, "/alluxio.grpc.file.FileSystemMasterClientService/GetStatus");
        }
        let map = handles.read().unwrap();
        assert!(map.len() <= MAX_PATHS + 1, "{} handles", map.len());
        assert!(map.contains_key("/made.Up/Method0") && map.contains_key("other"));
    }
}
