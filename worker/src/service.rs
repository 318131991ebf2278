//! Alluxio's `BlockWorker` service: streaming block writes (committed to the master when the
//! client ends the stream) and reads, and the short-circuit calls that hand a client on this host
//! the path of a block's file.
//!
//! One block write takes at most [`MAX_BLOCK_BYTES`], reserved or written, checked before
//! anything is reserved (so a reservation no block could need evicts nothing), and the master
//! refuses to commit a block longer than its own file's block size. The worker does not ask
//! the master for each block's size before reserving: anyone who may create a file may give it
//! the largest block size, so that bound stops nobody this one does not, and it would cost every
//! block write a round trip to the master. Who may write at all is DESIGN §10's concern.

use std::pin::Pin;
use std::sync::Arc;

use lode_core::rpc::alluxio::grpc::block::block_worker_server::BlockWorker;
use lode_core::rpc::alluxio::grpc::block::*;
use lode_core::rpc::{block_too_long, MAX_BLOCK_BYTES};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::master_link::MasterLink;
use crate::store::{BlockStore, StoreError};
use crate::streams::Fetching;
use crate::ufs::WorkerUfses;

type Stream_<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The block service of one worker.
#[derive(Debug, Clone)]
pub struct BlockService {
    pub(crate) store: Arc<BlockStore>,
    pub(crate) link: MasterLink,
    /// For blocks of persisted files that are not cached (see `streams::ufs_read`).
    pub(crate) ufses: Arc<WorkerUfses>,
    pub(crate) fetching: Fetching,
}

impl BlockService {
    /// A service over `store`, committing through `link`, reading uncached blocks of persisted
    /// files through `ufses`.
    pub fn new(store: Arc<BlockStore>, link: MasterLink, ufses: Arc<WorkerUfses>) -> BlockService {
        BlockService { store, link, ufses, fetching: Fetching::default() }
    }
}

pub(crate) fn store_status(error: StoreError) -> Status {
    match error {
        StoreError::Full { .. } => Status::resource_exhausted(error.to_string()),
        StoreError::Exists(_) => Status::already_exists(error.to_string()),
        StoreError::Io { .. } => Status::internal(error.to_string()),
    }
}

pub(crate) fn not_cached(block: u64) -> Status {
    Status::not_found(format!("block {block} is not cached on this worker"))
}

/// A write in progress: its temp file and the bytes reserved for it. Dropped unfinished (the
/// client went away), it gives the space back and removes the file.
pub(crate) struct PendingWrite<'a> {
    pub(crate) store: &'a BlockStore,
    pub(crate) path: std::path::PathBuf,
    pub(crate) file: std::fs::File,
    pub(crate) written: u64,
    pub(crate) done: bool,
}

impl<'a> PendingWrite<'a> {
    /// A write into `file`, at `path`, nothing reserved yet.
    pub(crate) fn new(
        store: &'a BlockStore,
        path: std::path::PathBuf,
        file: std::fs::File,
    ) -> Self {
        PendingWrite { store, path, file, written: 0, done: false }
    }
}

impl Drop for PendingWrite<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.store.release(self.written);
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The block a `Cache` request names and where in its UFS to read it: Lode's workers cache
/// from under-file-systems, not from other workers.
fn cache_source(request: &CacheRequest) -> Result<(u64, OpenUfsBlockOptions), Status> {
    let block = request.block_id.ok_or_else(|| Status::invalid_argument("no block_id"))?;
    let block = u64::try_from(block).map_err(|_| Status::invalid_argument("a negative id"))?;
    let from_worker = request.source_host.as_ref().is_some_and(|host| !host.is_empty());
    match request.open_ufs_block_options.clone() {
        // The block's length is in the options, or else the request's.
        Some(options) => {
            let block_size = options.block_size.or(request.length);
            Ok((block, OpenUfsBlockOptions { block_size, ..options }))
        }
        None if from_worker => Err(Status::unimplemented(
            "Lode workers cache blocks from their under-file-system \
             (open_ufs_block_options), not from another worker",
        )),
        None => Err(Status::invalid_argument(format!(
            "caching block {block} needs open_ufs_block_options: where in its UFS to read it"
        ))),
    }
}

impl BlockService {
    fn cache_in_background(&self, block: u64, options: OpenUfsBlockOptions) {
        let service = self.clone();
        tokio::spawn(async move {
            if let Err(status) = service.cache_from_ufs(block, options).await {
                tracing::warn!(block, error = %status.message(), "caching a block failed");
            }
        });
    }
}

#[tonic::async_trait]
impl BlockWorker for BlockService {
    type ReadBlockStream = Stream_<ReadResponse>;
    type WriteBlockStream = Stream_<WriteResponse>;
    type OpenLocalBlockStream = Stream_<OpenLocalBlockResponse>;
    type CreateLocalBlockStream = Stream_<CreateLocalBlockResponse>;

    /// Served raw, by `streams::BlockWorkerService`, which hands tonic every other call.
    async fn read_block(
        &self,
        _: Request<Streaming<ReadRequest>>,
    ) -> Result<Response<Self::ReadBlockStream>, Status> {
        Err(Status::unimplemented("ReadBlock is served by BlockWorkerService"))
    }

    /// Served raw, by `streams::BlockWorkerService`, which hands tonic every other call.
    async fn write_block(
        &self,
        _: Request<Streaming<WriteRequest>>,
    ) -> Result<Response<Self::WriteBlockStream>, Status> {
        Err(Status::unimplemented("WriteBlock is served by BlockWorkerService"))
    }

    async fn open_local_block(
        &self,
        request: Request<Streaming<OpenLocalBlockRequest>>,
    ) -> Result<Response<Self::OpenLocalBlockStream>, Status> {
        let mut requests = request.into_inner();
        let open = requests
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("the stream ended before its request"))?;
        let block = open.block_id.ok_or_else(|| Status::invalid_argument("no block_id"))? as u64;
        let (path, length) = self.store.open_existing(block).ok_or_else(|| not_cached(block))?;
        metrics::counter!("lode_worker_block_reads_total", "path" => "short-circuit").increment(1);
        metrics::counter!("lode_worker_block_read_bytes_total").increment(length);
        let reply = OpenLocalBlockResponse { path: Some(path.display().to_string()) };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(reply)))))
    }

    /// Short-circuit write: the first request names the block and the space to reserve, and
    /// the answer is the path of a fresh file the client writes itself; later requests reserve
    /// more space; when the client ends its stream the file becomes the block and is committed
    /// to the master, and the answer stream ends (with an error if that failed).
    async fn create_local_block(
        &self,
        request: Request<Streaming<CreateLocalBlockRequest>>,
    ) -> Result<Response<Self::CreateLocalBlockStream>, Status> {
        let mut requests = request.into_inner();
        let first = requests
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("the stream ended before its request"))?;
        let block = first.block_id.ok_or_else(|| Status::invalid_argument("no block_id"))?;
        let block = u64::try_from(block).map_err(|_| Status::invalid_argument("a negative id"))?;
        if self.store.open_block(block).is_some() {
            return Err(store_status(StoreError::Exists(block)));
        }
        let mut reserved = first.space_to_reserve.unwrap_or(0).max(0) as u64;
        // Checked before reserving: a reservation no block could need evicts nothing.
        if reserved > MAX_BLOCK_BYTES {
            return Err(block_too_long(block, reserved));
        }
        self.store.reserve(reserved).map_err(store_status)?;
        let path = self.store.temp_path(block);
        if let Err(e) = std::fs::File::create_new(&path) {
            self.store.release(reserved);
            return Err(Status::internal(format!("creating {}: {e}", path.display())));
        }
        let (sender, receiver) = mpsc::channel(4);
        let reply = CreateLocalBlockResponse { path: Some(path.display().to_string()) };
        let _ = sender.send(Ok(reply)).await;
        let (store, link) = (self.store.clone(), self.link.clone());
        tokio::spawn(async move {
            let outcome = async {
                while let Some(more) = requests.message().await? {
                    let bytes = more.space_to_reserve.unwrap_or(0).max(0) as u64;
                    if reserved.saturating_add(bytes) > MAX_BLOCK_BYTES {
                        return Err(block_too_long(block, reserved.saturating_add(bytes)));
                    }
                    store.reserve(bytes).map_err(store_status)?;
                    reserved += bytes;
                }
                // The client is done: the file's length is the block's.
                let length = std::fs::metadata(&path)
                    .map_err(|e| Status::internal(format!("{}: {e}", path.display())))?
                    .len();
                if length > MAX_BLOCK_BYTES {
                    return Err(block_too_long(block, length));
                }
                if length > reserved {
                    store.reserve(length - reserved).map_err(store_status)?;
                } else {
                    store.release(reserved - length);
                }
                // The commit takes the reservation over, and gives it back if it fails.
                reserved = 0;
                store.commit(block, &path, length).map_err(store_status)?;
                link.commit(block, length).await.map_err(|error| {
                    store.remove(block);
                    Status::failed_precondition(format!(
                        "block {block} was written but the master refused it: {error}"
                    ))
                })
            }
            .await;
            if let Err(status) = outcome {
                // Unfinished: give the space back and drop the file.
                store.release(reserved);
                let _ = std::fs::remove_file(&path);
                let _ = sender.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    /// Caches a block from its under-file-system (Alluxio's `alluxio fs load` asks this), at
    /// once or, with `async`, in the background.
    async fn cache(
        &self,
        request: Request<CacheRequest>,
    ) -> Result<Response<CacheResponse>, Status> {
        let request = request.into_inner();
        let (block, options) = cache_source(&request)?;
        if request.r#async.unwrap_or(false) {
            self.cache_in_background(block, options);
        } else {
            self.cache_from_ufs(block, options).await?;
        }
        Ok(Response::new(CacheResponse {}))
    }

    /// Alluxio's older asynchronous `Cache`.
    async fn async_cache(
        &self,
        request: Request<AsyncCacheRequest>,
    ) -> Result<Response<AsyncCacheResponse>, Status> {
        let old = request.into_inner();
        let request = CacheRequest {
            block_id: old.block_id,
            source_host: old.source_host,
            source_port: old.source_port,
            open_ufs_block_options: old.open_ufs_block_options,
            length: old.length,
            r#async: Some(true),
        };
        self.cache(Request::new(request)).await?;
        Ok(Response::new(AsyncCacheResponse {}))
    }

    /// Refused, whoever asks: a block may be the only copy of a file's data, so only the master
    /// orders removals (in its answers to this worker's heartbeats, over the worker's own
    /// connection), never a caller of this service (DESIGN §10). Alluxio's callers are its job
    /// service's evict and replicate tasks, which Lode does not run.
    async fn remove_block(
        &self,
        request: Request<RemoveBlockRequest>,
    ) -> Result<Response<RemoveBlockResponse>, Status> {
        let block = request.into_inner().block_id.unwrap_or_default();
        Err(Status::permission_denied(format!(
            "block {block} is not removed: only the master orders a worker to drop blocks; to \
             drop a file's cached blocks, free the file (alluxio fs free <path>)"
        )))
    }
}
