//! Alluxio's `BlockWorker` block streams, `ReadBlock` and `WriteBlock`, served as raw gRPC calls
//! (see `lode_core::rpc::messages`): chunk bytes go between the block files and the HTTP/2
//! frames without passing through tonic's codec, which copies every message into a buffer of its
//! own (docs/benchmarks.md). Every other `BlockWorker` call is tonic's.

mod read;
mod ufs_read;
mod write;

pub(crate) use ufs_read::Fetching;

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use lode_core::rpc::alluxio::grpc::block::block_worker_server::BlockWorkerServer;
use lode_core::rpc::messages::{MessageError, Messages};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service};
use tonic::server::NamedService;
use tonic::Status;

use crate::service::BlockService;

const READ_BLOCK: &str = "/alluxio.grpc.block.BlockWorker/ReadBlock";
const WRITE_BLOCK: &str = "/alluxio.grpc.block.BlockWorker/WriteBlock";
/// The largest request or command held whole: they are a few fields.
const MAX_REQUEST: u64 = 64 << 10;

/// The frames of a call's response body.
type Frames = mpsc::Sender<Result<Frame<Bytes>, Infallible>>;

/// Alluxio's `BlockWorker` service, with the block streams served raw.
#[derive(Debug, Clone)]
pub struct BlockWorkerService {
    tonic: BlockWorkerServer<BlockService>,
    service: BlockService,
}

impl BlockWorkerService {
    /// Serves `service`; `tonic` is the same service behind tonic's codec, for the other calls.
    pub fn new(service: BlockService, tonic: BlockWorkerServer<BlockService>) -> Self {
        BlockWorkerService { tonic, service }
    }
}

impl NamedService for BlockWorkerService {
    const NAME: &'static str = <BlockWorkerServer<BlockService> as NamedService>::NAME;
}

impl Service<http::Request<Body>> for BlockWorkerService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let service = self.service.clone();
        match request.uri().path() {
            READ_BLOCK => {
                Box::pin(async move { Ok(read::read_block(service, request.into_body())) })
            }
            WRITE_BLOCK => {
                Box::pin(async move { Ok(write::write_block(service, request.into_body())) })
            }
            _ => self.tonic.call(request),
        }
    }
}

/// A gRPC response whose body is what `frames` carries (messages, then the trailers).
fn response(frames: mpsc::Receiver<Result<Frame<Bytes>, Infallible>>) -> http::Response<Body> {
    let mut response = http::Response::new(Body::new(StreamBody::new(ReceiverStream::new(frames))));
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/grpc"));
    response
}

/// The trailers that end a call with `status`.
fn trailers(status: &Status) -> http::HeaderMap {
    let mut trailers = http::HeaderMap::new();
    if status.add_header(&mut trailers).is_err() {
        trailers.insert("grpc-status", http::HeaderValue::from(tonic::Code::Internal as i32));
    }
    trailers
}

/// The next message whole, at most [`MAX_REQUEST`] bytes; `None` at the end of the stream.
async fn small_message(
    messages: &mut Messages<Body>,
    what: &str,
) -> Result<Option<Vec<u8>>, Status> {
    let bad =
        |error: MessageError| Status::invalid_argument(format!("a {what} stream with {error}"));
    let Some(end) = messages.next_message().await.map_err(bad)? else { return Ok(None) };
    let length = end - messages.consumed();
    if length > MAX_REQUEST {
        return Err(Status::invalid_argument(format!(
            "a {what} request of {length} bytes (at most {MAX_REQUEST})"
        )));
    }
    messages.rest(end).await.map(Some).map_err(bad)
}
