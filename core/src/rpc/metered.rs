//! [`MeteredLayer`]: counts and times every gRPC call a server answers, by service and method
//! (`lode_rpc_requests_total`, `lode_rpc_duration_seconds`), for the `/metrics` endpoint.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// A tower layer for tonic servers: `Server::builder().layer(MeteredLayer)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeteredLayer;

impl<S> tower::Layer<S> for MeteredLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Metered { inner }
    }
}

/// The service [`MeteredLayer`] wraps around a server's routes.
#[derive(Debug, Clone)]
pub struct Metered<S> {
    inner: S,
}

/// `("FileSystemMasterClientService", "CreateFile")` from
/// `/alluxio.grpc.file.FileSystemMasterClientService/CreateFile`.
fn service_and_method(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let service = service.rsplit('.').next().unwrap_or(service);
    (service.to_string(), parts.next().unwrap_or_default().to_string())
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
        let (service, method) = service_and_method(request.uri().path());
        let started = Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let outcome = answer.await;
            let labels = [("service", service), ("method", method)];
            metrics::counter!("lode_rpc_requests_total", &labels).increment(1);
            metrics::histogram!("lode_rpc_duration_seconds", &labels)
                .record(started.elapsed().as_secs_f64());
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
}
