//! The data path (DESIGN §5): files are written block by block to a worker — this host's own
//! when it has one — which commits each block to the master (see `write`); reads stream each
//! block from a worker that caches it, or, on the worker's own host, read the block's file in
//! place (short-circuit) without going through the network stack.

pub use load::load_file;
use lode_core::config::this_host_name;
use lode_core::rpc::alluxio::grpc::block::block_worker_client::BlockWorkerClient;
use lode_core::rpc::alluxio::grpc::block::{
    CacheRequest, OpenLocalBlockRequest, OpenUfsBlockOptions,
};
use lode_core::rpc::alluxio::grpc::file::FileInfo;
use lode_core::rpc::alluxio::grpc::{BlockLocation, WorkerNetAddress};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tonic::Code;

use crate::master::{ClientError, MasterClient};

mod grpc;
mod load;
mod streamed_read;
mod write;
use streamed_read::read_streamed;
pub use write::write_file;

/// The piece of a mapped block handed to the sink at a time.
const IN_PLACE_BUFFER: usize = 4 << 20;
/// The largest message accepted from a worker.
const MAX_MESSAGE: usize = 16 << 20;
/// How long a read waits for a block's locations to reappear: block locations are soft state
/// that a newly elected leader rebuilds as workers re-register (within a heartbeat or two).
const LOCATIONS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn failed(code: Code, message: String) -> ClientError {
    ClientError::Refused { code, message }
}

fn host_port(address: &WorkerNetAddress) -> String {
    format!("{}:{}", address.host(), address.rpc_port())
}

/// Whether `host` is this machine, so its block files can be read in place.
fn is_local(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1" || host == "::1" || host == this_host_name()
}

/// A channel to a worker: one HTTP/2 connection that accepts large frames, so a block streams
/// in few frames (tonic's own channel keeps HTTP/2's default 16 KiB).
#[derive(Clone)]
struct WorkerChannel(hyper::client::conn::http2::SendRequest<tonic::body::Body>);

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for WorkerChannel {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(request))
    }
}

/// HTTP/2 settings of a worker connection.
const WORKER_WINDOW: u32 = 8 << 20;
const WORKER_FRAME: u32 = 1 << 20;

/// A client on a connection of its own to the worker at `address`, and the handle of the task
/// that drives the connection: aborting it cuts the connection (see `write::CutOnDrop`).
async fn worker_client(
    address: &str,
) -> Result<(BlockWorkerClient<WorkerChannel>, tokio::task::AbortHandle), String> {
    let (channel, driver) = worker_connection(address).await?;
    let origin: http::Uri = format!("http://{address}").parse().map_err(|e| format!("{e}"))?;
    let client = BlockWorkerClient::with_origin(channel, origin)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    Ok((client, driver))
}

/// A connection of its own to the worker at `address`, and the handle of the task that drives
/// it.
async fn worker_connection(
    address: &str,
) -> Result<(WorkerChannel, tokio::task::AbortHandle), String> {
    let stream = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        tokio::net::TcpStream::connect(address),
    )
    .await
    .map_err(|_| format!("{address}: connecting timed out"))?
    .map_err(|e| format!("{address}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("{address}: {e}"))?;
    let (sender, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .initial_stream_window_size(WORKER_WINDOW)
            .initial_connection_window_size(2 * WORKER_WINDOW)
            .max_frame_size(WORKER_FRAME)
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(std::time::Duration::from_secs(1))
            .keep_alive_timeout(std::time::Duration::from_secs(3))
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("{address}: {e}"))?;
    let driver = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "worker connection ended");
        }
    });
    Ok((WorkerChannel(sender), driver.abort_handle()))
}

/// Copies `length` bytes of a block from `offset` into `sink`, from one of its locations.
async fn read_block<W: AsyncWrite + Unpin>(
    master: &MasterClient,
    block: u64,
    locations: &[BlockLocation],
    offset: u64,
    length: u64,
    sink: &mut W,
) -> Result<(), String> {
    let mut errors = Vec::new();
    // This host's copy first: read it in place.
    let mut ordered: Vec<&BlockLocation> = locations.iter().collect();
    ordered.sort_by_key(|l| !is_local(l.worker_address.as_ref().map_or("", |a| a.host())));
    for location in ordered {
        let Some(address) = location.worker_address.as_ref() else { continue };
        let worker = host_port(address);
        let outcome = if master.short_circuit() && is_local(address.host()) {
            read_in_place(&worker, block, offset, length, sink).await
        } else {
            let chunk = master.streaming_chunks().read;
            read_streamed(&worker, block, (offset, length), chunk, None, sink).await
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) => errors.push(format!("{worker}: {e}")),
        }
    }
    Err(errors.join("; "))
}

/// The file a worker names in its first reply to a short-circuit call.
async fn named_file<T>(
    replies: &mut tonic::Streaming<T>,
    path: fn(T) -> Option<String>,
) -> Result<String, String> {
    let reply = replies.message().await.map_err(|s| s.message().to_string())?;
    reply.and_then(path).ok_or_else(|| "the worker named no file".to_string())
}

async fn read_in_place<W: AsyncWrite + Unpin>(
    worker: &str,
    block: u64,
    offset: u64,
    length: u64,
    sink: &mut W,
) -> Result<(), String> {
    let mapped = map_in_place(worker, block, offset, length).await?;
    copy_mapped(mapped.as_deref().unwrap_or_default(), sink).await
}

/// `length` bytes of block `block` from `offset`, mapped from the file the worker at `worker`
/// (on this host) keeps it in; `None` for no bytes.
async fn map_in_place(
    worker: &str,
    block: u64,
    offset: u64,
    length: u64,
) -> Result<Option<memmap2::Mmap>, String> {
    let (mut client, _) = worker_client(worker).await?;
    let request = OpenLocalBlockRequest { block_id: Some(block as i64), promote: Some(false) };
    let mut replies = client
        .open_local_block(tokio_stream::once(request))
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    let path = named_file(&mut replies, |reply| reply.path).await?;
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let size = file.metadata().map_err(|e| format!("{path}: {e}"))?.len();
    if offset + length > size {
        return Err(format!("{path} has {size} bytes, fewer than {}", offset + length));
    }
    if length == 0 {
        return Ok(None);
    }
    // SAFETY: block files are written whole under another name, renamed into place and never
    // modified or truncated afterwards; eviction unlinks them, which leaves a mapping intact.
    let map = unsafe {
        memmap2::MmapOptions::new().offset(offset).len(length as usize).populate().map(&file)
    }
    .map_err(|e| format!("mapping {path}: {e}"))?;
    Ok(Some(map))
}

async fn copy_mapped<W: AsyncWrite + Unpin>(bytes: &[u8], sink: &mut W) -> Result<(), String> {
    for piece in bytes.chunks(IN_PLACE_BUFFER) {
        sink.write_all(piece).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Asks the leader again for the locations of block `index` of `path` until a worker holds it
/// or [`LOCATIONS_WAIT`] has passed (then none): right after a failover the new leader knows
/// only the workers that re-registered so far.
async fn wait_for_locations(
    master: &MasterClient,
    path: &str,
    index: usize,
) -> Result<Vec<BlockLocation>, ClientError> {
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(20);
    while started.elapsed() < LOCATIONS_WAIT {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(500));
        let info = master.get_status(path).await?;
        let locations = info
            .file_block_infos
            .get(index)
            .and_then(|block| block.block_info.as_ref())
            .map(|block| block.locations.clone())
            .unwrap_or_default();
        if !locations.is_empty() {
            return Ok(locations);
        }
    }
    Ok(Vec::new())
}

/// Where block `block` of the persisted file `info`, at `start` in the file and `size` long,
/// is in its UFS: what a worker that reads it there is told.
fn ufs_block_options(info: &FileInfo, (start, size): (u64, u64)) -> OpenUfsBlockOptions {
    OpenUfsBlockOptions {
        ufs_path: Some(info.ufs_path().to_string()),
        offset_in_file: Some(start as i64),
        block_size: Some(size as i64),
        mount_id: Some(info.mount_id()),
        no_cache: Some(false),
        ..Default::default()
    }
}

/// The worker that reads blocks no worker holds from their UFS: this host's if it runs one,
/// and whether it does.
async fn ufs_reader(master: &MasterClient) -> Result<(String, bool), String> {
    let workers = master.worker_infos().await.map_err(|e| e.to_string())?;
    let mut addresses: Vec<&WorkerNetAddress> =
        workers.iter().filter_map(|w| w.address.as_ref()).collect();
    addresses.sort_by_key(|a| !is_local(a.host()));
    let worker = addresses.first().ok_or("no worker is registered with the leader")?;
    Ok((host_port(worker), is_local(worker.host())))
}

/// Has the worker at `worker` cache block `block` from its UFS (Alluxio's `Cache`).
async fn cache_block(
    worker: String,
    block: u64,
    options: OpenUfsBlockOptions,
) -> Result<(), String> {
    let (mut client, _) = worker_client(&worker).await?;
    let request = CacheRequest {
        block_id: Some(block as i64),
        open_ufs_block_options: Some(options),
        r#async: Some(false),
        ..Default::default()
    };
    client.cache(request).await.map(|_| ()).map_err(|s| s.message().to_string())
}

/// A block being cached from its UFS by this host's worker ahead of its read.
type Prefetch = (u64, tokio::task::JoinHandle<Result<(), String>>);

/// Reads `range` (offset, length) of block `block` of a persisted file, which no worker held,
/// through `worker` (see [`ufs_reader`]), which reads it from its UFS (`options`, see
/// [`ufs_block_options`]) and caches it. A whole block read on this host with short-circuit
/// on is cached by the worker first (`cached`, when already asked) and read in place: its bytes
/// never cross a socket. Otherwise (a part is streamed as the worker reads it, the sooner to
/// arrive), or when that fails, it is streamed.
async fn read_from_ufs<W: AsyncWrite + Unpin>(
    master: &MasterClient,
    block: u64,
    (worker, local): &(String, bool),
    options: OpenUfsBlockOptions,
    range: (u64, u64),
    cached: Option<tokio::task::JoinHandle<Result<(), String>>>,
    sink: &mut W,
) -> Result<(), String> {
    let whole = range == (0, options.block_size.unwrap_or(-1).max(0) as u64);
    let keep = !options.no_cache.unwrap_or(false);
    if master.short_circuit() && *local && whole && keep {
        let cached = match cached {
            Some(caching) => caching.await.map_err(|e| e.to_string()).and_then(|done| done),
            None => cache_block(worker.clone(), block, options.clone()).await,
        };
        let mapped = match cached {
            Ok(()) => map_in_place(worker, block, range.0, range.1).await,
            Err(error) => Err(error),
        };
        match mapped {
            Ok(mapped) => return copy_mapped(mapped.as_deref().unwrap_or_default(), sink).await,
            Err(error) => tracing::debug!(block, %error, "not read in place; streaming instead"),
        }
    }
    let chunk = master.streaming_chunks().read;
    read_streamed(worker, block, range, chunk, Some(options), sink).await
}

/// Copies `length` bytes of the complete file `path` from `offset` (to the end when `None`)
/// into `sink`; `progress` hears the bytes copied so far. Returns the bytes copied.
pub async fn read_file<W: AsyncWrite + Unpin>(
    master: &MasterClient,
    path: &str,
    offset: u64,
    length: Option<u64>,
    sink: &mut W,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, ClientError> {
    let info = master.get_status(path).await?;
    if info.folder() {
        return Err(failed(Code::InvalidArgument, format!("{path} is a directory")));
    }
    if !info.completed() {
        return Err(failed(
            Code::FailedPrecondition,
            format!("{path} is incomplete: it is still being written, or its writer failed"),
        ));
    }
    let file_length = info.length().max(0) as u64;
    let end = offset.saturating_add(length.unwrap_or(u64::MAX)).min(file_length);
    let mut copied = 0u64;
    let (mut ufs_worker, mut prefetch): (Option<(String, bool)>, Option<Prefetch>) = (None, None);
    for (index, block) in info.file_block_infos.iter().enumerate() {
        let mut block_info = block.block_info.clone().unwrap_or_default();
        let (start, size) = (block.offset().max(0) as u64, block_info.length().max(0) as u64);
        let (from, to) = (offset.max(start), end.min(start + size));
        if from >= to {
            continue;
        }
        let id = block_info.block_id() as u64;
        let range = (from - start, to - from);
        if block_info.locations.is_empty() && info.persisted() {
            let from_ufs = |e: String| {
                failed(Code::Unavailable, format!("reading block {id} of {path} from its UFS: {e}"))
            };
            if ufs_worker.is_none() {
                ufs_worker = Some(ufs_reader(master).await.map_err(from_ufs)?);
            }
            let worker = ufs_worker.as_ref().expect("chosen above");
            let cached = prefetch.take().filter(|(block, _)| *block == id).map(|(_, c)| c);
            // The next block, if it is read from the UFS too, is cached while this one is read.
            let next = info.file_block_infos.get(index + 1).filter(|next| {
                let placed = next.block_info.as_ref().is_some_and(|b| !b.locations.is_empty());
                let next_end = next.offset().max(0) as u64
                    + next.block_info.as_ref().map_or(0, |b| b.length().max(0) as u64);
                !placed && next_end <= end
            });
            let in_place = worker.1 && master.short_circuit() && !master.no_cache();
            if let (Some(next), true) = (next, in_place) {
                let next_info = next.block_info.clone().unwrap_or_default();
                let place = (next.offset().max(0) as u64, next_info.length().max(0) as u64);
                let options = ufs_block_options(&info, place);
                let caching = cache_block(worker.0.clone(), next_info.block_id() as u64, options);
                prefetch = Some((next_info.block_id() as u64, tokio::spawn(caching)));
            }
            let options = OpenUfsBlockOptions {
                no_cache: Some(master.no_cache()),
                ..ufs_block_options(&info, (start, size))
            };
            read_from_ufs(master, id, worker, options, range, cached, sink)
                .await
                .map_err(from_ufs)?;
            copied += to - from;
            progress(copied);
            continue;
        }
        if block_info.locations.is_empty() {
            block_info.locations = wait_for_locations(master, path, index).await?;
        }
        if block_info.locations.is_empty() {
            return Err(failed(
                Code::NotFound,
                format!(
                    "no worker holds block {id} of {path}, and it is {} (its workers were lost \
                     before it was persisted)",
                    info.persistence_state()
                ),
            ));
        }
        read_block(master, id, &block_info.locations, range.0, range.1, sink)
            .await
            .map_err(|e| failed(Code::Unavailable, format!("reading block {id} of {path}: {e}")))?;
        copied += to - from;
        progress(copied);
    }
    sink.flush().await.map_err(|e| failed(Code::Aborted, e.to_string()))?;
    Ok(copied)
}
