//! The data path (DESIGN §5): files are written block by block to a worker — this host's own
//! when it has one — which commits each block to the master; reads stream each block from a
//! worker that caches it, or, on the worker's own host, read the block's file in place
//! (short-circuit) without going through the network stack.

use lode_core::config::this_host_name;
use lode_core::rpc::alluxio::grpc::block::block_worker_client::BlockWorkerClient;
use lode_core::rpc::alluxio::grpc::block::write_request::Value as WriteValue;
use lode_core::rpc::alluxio::grpc::block::{
    Chunk, OpenLocalBlockRequest, ReadRequest, RequestType, WorkerInfo, WriteRequest,
    WriteRequestCommand,
};
use lode_core::rpc::alluxio::grpc::file::FileInfo;
use lode_core::rpc::alluxio::grpc::{BlockLocation, WorkerNetAddress};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::master::{ClientError, MasterClient};

/// Bytes per message on a block stream. Measured on loopback: 256 KiB beats 64 KiB and 1 MiB
/// in both directions (messages small enough to stay in cache, large enough to amortize).
const CHUNK: usize = 256 << 10;
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

async fn worker_client(address: &str) -> Result<BlockWorkerClient<WorkerChannel>, String> {
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
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "worker connection ended");
        }
    });
    let origin: http::Uri = format!("http://{address}").parse().map_err(|e| format!("{e}"))?;
    Ok(BlockWorkerClient::with_origin(WorkerChannel(sender), origin)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

/// The worker to write to: this host's when there is one, else the one with the most free space.
fn choose_worker(workers: &[WorkerInfo]) -> Option<String> {
    let local = workers.iter().find(|w| is_local(w.address.as_ref().map_or("", |a| a.host())));
    let chosen = local.or_else(|| {
        workers.iter().max_by_key(|w| w.capacity_bytes().saturating_sub(w.used_bytes()))
    })?;
    chosen.address.as_ref().map(host_port)
}

/// Reads until `buffer` is full or the source ends; returns how many bytes were read.
async fn fill<R: AsyncRead + Unpin>(source: &mut R, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let n = source.read(&mut buffer[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// One block being streamed to a worker.
struct BlockWrite {
    chunks: mpsc::Sender<WriteRequest>,
    call: tokio::task::JoinHandle<Result<i64, tonic::Status>>,
    written: u64,
}

impl BlockWrite {
    async fn open(worker: &str, block: u64) -> Result<BlockWrite, String> {
        let mut client = worker_client(worker).await?;
        let (chunks, receiver) = mpsc::channel(4);
        let command = WriteRequestCommand {
            r#type: Some(RequestType::AlluxioBlock as i32),
            id: Some(block as i64),
            offset: Some(0),
            ..Default::default()
        };
        chunks
            .send(WriteRequest { value: Some(WriteValue::Command(command)) })
            .await
            .map_err(|_| "the stream closed".to_string())?;
        let call = tokio::spawn(async move {
            let mut replies = client.write_block(ReceiverStream::new(receiver)).await?.into_inner();
            let reply = replies.message().await?;
            Ok(reply.and_then(|r| r.offset).unwrap_or(-1))
        });
        Ok(BlockWrite { chunks, call, written: 0 })
    }

    async fn send(&mut self, data: Vec<u8>) -> Result<(), String> {
        let length = data.len() as u64;
        let chunk =
            WriteRequest { value: Some(WriteValue::Chunk(Chunk { data: Some(data.into()) })) };
        if self.chunks.send(chunk).await.is_err() {
            // The call ended early: its error says why.
            return Err(match (&mut self.call).await {
                Ok(Err(status)) => status.message().to_string(),
                Ok(Ok(_)) => "the worker ended the stream early".into(),
                Err(e) => e.to_string(),
            });
        }
        self.written += length;
        Ok(())
    }

    /// Ends the stream; the worker commits the block to the master before it answers.
    async fn finish(self) -> Result<(), String> {
        let BlockWrite { chunks, call, written } = self;
        drop(chunks);
        match call.await {
            Ok(Ok(offset)) if offset == written as i64 => Ok(()),
            Ok(Ok(offset)) => Err(format!("the worker stored {offset} of {written} bytes")),
            Ok(Err(status)) => Err(status.message().to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Writes everything `source` yields as the new file `path`, block by block, and completes it.
/// `progress` hears the bytes written so far. On failure the partial file is removed, so no
/// complete file ever points at missing data.
pub async fn write_file<R: AsyncRead + Unpin>(
    master: &MasterClient,
    path: &str,
    source: &mut R,
    block_size: Option<u64>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, ClientError> {
    let info = master.create_file_with_block_size(path, false, block_size).await?;
    let outcome = write_blocks(master, path, &info, source, progress).await;
    match outcome {
        Ok(length) => {
            master.complete_file(path, length).await?;
            Ok(length)
        }
        Err(error) => {
            let cleanup = match master.remove(path, false).await {
                Ok(()) => "the partial file was removed".to_string(),
                Err(e) => format!("removing the partial file failed too: {e}"),
            };
            Err(failed(error.code(), format!("writing {path} failed: {error}; {cleanup}")))
        }
    }
}

async fn write_blocks<R: AsyncRead + Unpin>(
    master: &MasterClient,
    path: &str,
    info: &FileInfo,
    source: &mut R,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, ClientError> {
    let block_size = info.block_size_bytes().max(1) as u64;
    let mut worker = None;
    let mut total = 0u64;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let mut block: Option<BlockWrite> = None;
        let mut in_block = 0u64;
        let mut ended = false;
        while in_block < block_size {
            let want = (block_size - in_block).min(CHUNK as u64) as usize;
            let n = fill(source, &mut buffer[..want])
                .await
                .map_err(|e| failed(Code::Aborted, format!("reading the source: {e}")))?;
            if n == 0 {
                ended = true;
                break;
            }
            if block.is_none() {
                if worker.is_none() {
                    let workers = master.worker_infos().await?;
                    worker = Some(choose_worker(&workers).ok_or_else(|| {
                        failed(
                            Code::Unavailable,
                            "no worker is registered with the leading master (start lode-worker)"
                                .into(),
                        )
                    })?);
                }
                let id = master.new_block_id(path).await?;
                let target = worker.as_deref().unwrap_or_default();
                let opened = BlockWrite::open(target, id).await;
                block = Some(opened.map_err(|e| {
                    failed(Code::Unavailable, format!("worker {target}, block {id}: {e}"))
                })?);
            }
            let target = worker.as_deref().unwrap_or_default();
            let stream = block.as_mut().expect("opened above");
            stream
                .send(buffer[..n].to_vec())
                .await
                .map_err(|e| failed(Code::Unavailable, format!("worker {target}: {e}")))?;
            in_block += n as u64;
            total += n as u64;
            progress(total);
        }
        if let Some(block) = block {
            let target = worker.as_deref().unwrap_or_default();
            block
                .finish()
                .await
                .map_err(|e| failed(Code::Unavailable, format!("worker {target}: {e}")))?;
        }
        if ended {
            return Ok(total);
        }
    }
}

/// Copies `length` bytes of a block from `offset` into `sink`, from one of its locations.
async fn read_block<W: AsyncWrite + Unpin>(
    short_circuit: bool,
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
        let outcome = if short_circuit && is_local(address.host()) {
            read_in_place(&worker, block, offset, length, sink).await
        } else {
            read_streamed(&worker, block, offset, length, sink).await
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) => errors.push(format!("{worker}: {e}")),
        }
    }
    Err(errors.join("; "))
}

async fn read_in_place<W: AsyncWrite + Unpin>(
    worker: &str,
    block: u64,
    offset: u64,
    length: u64,
    sink: &mut W,
) -> Result<(), String> {
    let mut client = worker_client(worker).await?;
    let request = OpenLocalBlockRequest { block_id: Some(block as i64), promote: Some(false) };
    let mut replies = client
        .open_local_block(tokio_stream::once(request))
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    let path = replies
        .message()
        .await
        .map_err(|s| s.message().to_string())?
        .and_then(|r| r.path)
        .ok_or("the worker named no file")?;
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let size = file.metadata().map_err(|e| format!("{path}: {e}"))?.len();
    if offset + length > size {
        return Err(format!("{path} has {size} bytes, fewer than {}", offset + length));
    }
    if length == 0 {
        return Ok(());
    }
    // SAFETY: block files are written whole under another name, renamed into place and never
    // modified or truncated afterwards; eviction unlinks them, which leaves a mapping intact.
    let map = unsafe {
        memmap2::MmapOptions::new().offset(offset).len(length as usize).populate().map(&file)
    }
    .map_err(|e| format!("mapping {path}: {e}"))?;
    let mut copied = 0u64;
    for piece in map.chunks(IN_PLACE_BUFFER) {
        sink.write_all(piece).await.map_err(|e| e.to_string())?;
        copied += piece.len() as u64;
    }
    if copied != length {
        return Err(format!("{path} ended after {copied} of {length} bytes"));
    }
    Ok(())
}

async fn read_streamed<W: AsyncWrite + Unpin>(
    worker: &str,
    block: u64,
    offset: u64,
    length: u64,
    sink: &mut W,
) -> Result<(), String> {
    let mut client = worker_client(worker).await?;
    let request = ReadRequest {
        block_id: Some(block as i64),
        offset: Some(offset as i64),
        length: Some(length as i64),
        chunk_size: Some(CHUNK as i64),
        ..Default::default()
    };
    let mut chunks = client
        .read_block(tokio_stream::once(request))
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    let mut copied = 0u64;
    while let Some(response) = chunks.message().await.map_err(|s| s.message().to_string())? {
        let data = response.chunk.and_then(|c| c.data).unwrap_or_default();
        sink.write_all(&data).await.map_err(|e| e.to_string())?;
        copied += data.len() as u64;
    }
    if copied != length {
        return Err(format!("the stream ended after {copied} of {length} bytes"));
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
    for (index, block) in info.file_block_infos.iter().enumerate() {
        let mut block_info = block.block_info.clone().unwrap_or_default();
        let (start, size) = (block.offset().max(0) as u64, block_info.length().max(0) as u64);
        let (from, to) = (offset.max(start), end.min(start + size));
        if from >= to {
            continue;
        }
        let id = block_info.block_id() as u64;
        if block_info.locations.is_empty() {
            block_info.locations = wait_for_locations(master, path, index).await?;
        }
        if block_info.locations.is_empty() {
            return Err(failed(
                Code::NotFound,
                format!(
                    "no worker holds block {id} of {path} (its workers were lost, and Lode keeps \
                     no copy in an under-file-system yet)"
                ),
            ));
        }
        read_block(
            master.short_circuit(),
            id,
            &block_info.locations,
            from - start,
            to - from,
            sink,
        )
        .await
        .map_err(|e| failed(Code::Unavailable, format!("reading block {id} of {path}: {e}")))?;
        copied += to - from;
        progress(copied);
    }
    sink.flush().await.map_err(|e| failed(Code::Aborted, e.to_string()))?;
    Ok(copied)
}
