//! Writing files: block by block to one worker — this host's own when it has one, and then, with
//! short-circuit on, into a file the worker names on this host (Alluxio's `CreateLocalBlock`)
//! instead of streaming the bytes through the network stack (`WriteBlock`). A file written
//! through (CACHE_THROUGH, THROUGH) is also streamed whole to that worker as Alluxio's
//! `UFS_FILE` write, which the worker writes to the file's under-file-system; a block written in
//! place goes into that stream as a command naming it (Lode's `append_cached_block`), and the
//! worker appends it from its cache while the next block is written, so on the worker's own
//! host a CACHE_THROUGH write sends no data through a socket at all. Streams are raw
//! gRPC calls: each piece of the source is read once into a buffer with room in front, framed
//! there as a `WriteRequest` chunk, and that one buffer goes to the block stream, the UFS stream
//! or the in-place file (tonic's encoder would copy every chunk: a third of the client's time).

use std::io::Write;

use bytes::{BufMut, Bytes};
use http_body_util::StreamBody;
use hyper::body::Frame;
use lode_core::rpc::alluxio::grpc::block::block_worker_client::BlockWorkerClient;
use lode_core::rpc::alluxio::grpc::block::write_request::Value as WriteValue;
use lode_core::rpc::alluxio::grpc::block::{
    CreateLocalBlockRequest, CreateLocalBlockResponse, CreateUfsFileOptions, RequestType,
    WorkerInfo, WriteRequest, WriteRequestCommand, WriteResponse,
};
use lode_core::rpc::alluxio::grpc::file::FileInfo;
use lode_core::rpc::messages::{chunk_framed, framed, CHUNK_HEADROOM};
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use super::{
    failed, grpc, host_port, is_local, named_file, worker_client, worker_connection, WorkerChannel,
};
use crate::master::{ClientError, MasterClient};

/// Space a short-circuit write asks the worker to reserve at a time.
const RESERVE_STEP: u64 = 8 << 20;

/// The worker to write to: this host's when there is one, else the one with the most free space.
struct Target {
    /// Its `host:port`.
    address: String,
    /// Whether it runs on this host, so blocks can be written in place.
    local: bool,
}

fn choose_worker(workers: &[WorkerInfo]) -> Option<Target> {
    let on_this_host = |w: &&WorkerInfo| is_local(w.address.as_ref().map_or("", |a| a.host()));
    if let Some(local) = workers.iter().find(on_this_host) {
        return local.address.as_ref().map(|a| Target { address: host_port(a), local: true });
    }
    let roomiest =
        workers.iter().max_by_key(|w| w.capacity_bytes().saturating_sub(w.used_bytes()))?;
    roomiest.address.as_ref().map(|a| Target { address: host_port(a), local: false })
}

/// A piece of the source, read once into a buffer that frames it as a `WriteRequest` chunk:
/// the same bytes go to a block stream, a UFS stream and an in-place block file uncopied.
struct FramedChunk {
    /// The framed message.
    frame: Bytes,
    /// Its data (the end of `frame`).
    data: Bytes,
}

/// Reads `want` bytes, or fewer where the source ends, into a buffer with room in front to
/// frame them as a `WriteRequest` chunk; `None` at the end of the source.
async fn fill<R: AsyncRead + Unpin>(
    source: &mut R,
    want: usize,
) -> std::io::Result<Option<FramedChunk>> {
    let mut buffer = Vec::with_capacity(CHUNK_HEADROOM + want);
    buffer.resize(CHUNK_HEADROOM, 0);
    while buffer.len() - CHUNK_HEADROOM < want {
        let room = want - (buffer.len() - CHUNK_HEADROOM);
        if source.read_buf(&mut (&mut buffer).limit(room)).await? == 0 {
            break;
        }
    }
    let length = buffer.len() - CHUNK_HEADROOM;
    if length == 0 {
        return Ok(None);
    }
    let frame = chunk_framed(buffer, 2);
    let data = frame.slice(frame.len() - length..);
    Ok(Some(FramedChunk { frame, data }))
}

/// Cuts a block write's worker connection when dropped. A write abandoned half-way (an error, a
/// cancelled copy) then reaches the worker as a broken stream, which discards the block, and not
/// as an ended one, which would commit what was sent so far. After a finished write, cutting
/// the connection (used by that write alone) costs nothing.
struct CutOnDrop(tokio::task::AbortHandle);

impl Drop for CutOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A client on a connection of its own to `worker`, cut when the returned guard is dropped.
async fn write_client(
    worker: &str,
) -> Result<(BlockWorkerClient<WorkerChannel>, CutOnDrop), String> {
    let (client, connection) = worker_client(worker).await?;
    Ok((client, CutOnDrop(connection)))
}

/// `WriteBlock`'s method path; the call is made raw (see `grpc`), its chunks framed in place.
const WRITE_BLOCK: &str = "/alluxio.grpc.block.BlockWorker/WriteBlock";

/// The longest `WriteResponse` taken from a worker.
const MAX_REPLY: u64 = 64;

/// The frames of a raw call's request body.
type BodyFrames = mpsc::Sender<Result<Frame<Bytes>, std::convert::Infallible>>;

/// One block, or one UFS file, streamed to a worker (`WriteBlock`).
struct StreamedBlock {
    frames: BodyFrames,
    /// The call: the offset the worker answered at the end, or why it failed.
    call: tokio::task::JoinHandle<Result<i64, String>>,
    written: u64,
    _connection: CutOnDrop,
}

impl StreamedBlock {
    async fn open(worker: &str, block: u64) -> Result<StreamedBlock, String> {
        let command = WriteRequestCommand {
            r#type: Some(RequestType::AlluxioBlock as i32),
            id: Some(block as i64),
            offset: Some(0),
            ..Default::default()
        };
        StreamedBlock::start(worker, command).await
    }

    /// The file `info` streamed whole to `worker`, which writes it to its under-file-system.
    async fn ufs_file(worker: &str, info: &FileInfo) -> Result<StreamedBlock, String> {
        let command = WriteRequestCommand {
            r#type: Some(RequestType::UfsFile as i32),
            id: Some(-1),
            offset: Some(0),
            create_ufs_file_options: Some(CreateUfsFileOptions {
                ufs_path: Some(info.ufs_path().to_string()),
                mount_id: Some(info.mount_id()),
                owner: Some(info.owner().to_string()),
                group: Some(info.group().to_string()),
                mode: Some(info.mode()),
            }),
            ..Default::default()
        };
        StreamedBlock::start(worker, command).await
    }

    async fn start(worker: &str, command: WriteRequestCommand) -> Result<StreamedBlock, String> {
        let (mut channel, connection) = worker_connection(worker).await?;
        let (frames, receiver) = mpsc::channel(4);
        let first = WriteRequest { value: Some(WriteValue::Command(command)) }.encode_to_vec();
        frames.send(Ok(Frame::data(framed(&first)))).await.map_err(|_| "the stream closed")?;
        let body = tonic::body::Body::new(StreamBody::new(ReceiverStream::new(receiver)));
        let worker = worker.to_string();
        let call = tokio::spawn(async move {
            let (mut replies, ended) = grpc::call(&mut channel, &worker, WRITE_BLOCK, body).await?;
            let mut offset = -1;
            loop {
                match replies.next_message().await {
                    // A `WriteResponse` is an offset: anything long is not one (and is not read).
                    Ok(Some(end)) if end - replies.consumed() > MAX_REPLY => {
                        return Err(format!(
                            "the worker sent a reply of {} bytes",
                            end - replies.consumed()
                        ));
                    }
                    Ok(Some(end)) => {
                        let message = match replies.rest(end).await {
                            Ok(message) => message,
                            Err(e) => return Err(grpc::explain(&replies, e.to_string())),
                        };
                        let reply = WriteResponse::decode(&message[..])
                            .map_err(|e| format!("the worker sent a malformed reply: {e}"))?;
                        offset = reply.offset.unwrap_or(-1);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(grpc::explain(&replies, e.to_string())),
                }
            }
            grpc::outcome(&replies, ended)?;
            Ok(offset)
        });
        Ok(StreamedBlock { frames, call, written: 0, _connection: CutOnDrop(connection) })
    }

    async fn send(&mut self, chunk: &FramedChunk) -> Result<(), String> {
        self.send_frame(chunk.frame.clone()).await?;
        self.written += chunk.data.len() as u64;
        Ok(())
    }

    /// Has the worker append block `block` (`length` bytes, cached on that worker) to this UFS
    /// file stream.
    async fn append_cached(&mut self, block: u64, length: u64) -> Result<(), String> {
        let command =
            WriteRequestCommand { append_cached_block: Some(block as i64), ..Default::default() };
        let message = WriteRequest { value: Some(WriteValue::Command(command)) }.encode_to_vec();
        self.send_frame(framed(&message)).await?;
        self.written += length;
        Ok(())
    }

    async fn send_frame(&mut self, frame: Bytes) -> Result<(), String> {
        if self.frames.send(Ok(Frame::data(frame))).await.is_err() {
            // The call ended early: its error says why.
            return Err(match (&mut self.call).await {
                Ok(Err(error)) => error,
                Ok(Ok(_)) => "the worker ended the stream early".into(),
                Err(e) => e.to_string(),
            });
        }
        Ok(())
    }

    /// Ends the stream; the worker commits the block to the master before it answers.
    async fn finish(self) -> Result<(), String> {
        let StreamedBlock { frames, call, written, _connection } = self;
        drop(frames);
        match call.await {
            Ok(Ok(offset)) if offset == written as i64 => Ok(()),
            Ok(Ok(offset)) => Err(format!("the worker stored {offset} of {written} bytes")),
            Ok(Err(error)) => Err(error),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// One block written in place (`CreateLocalBlock`): the worker reserves space and names a file
/// on this host, the client writes the file, and ending the stream makes it the block.
struct LocalBlock {
    requests: mpsc::Sender<CreateLocalBlockRequest>,
    replies: tonic::Streaming<CreateLocalBlockResponse>,
    file: std::fs::File,
    path: String,
    block: u64,
    reserved: u64,
    written: u64,
    _connection: CutOnDrop,
}

/// A `CreateLocalBlock` message asking the worker to reserve `bytes` more for `block`.
fn reserve(block: u64, bytes: u64) -> CreateLocalBlockRequest {
    CreateLocalBlockRequest {
        block_id: Some(block as i64),
        space_to_reserve: Some(bytes as i64),
        ..Default::default()
    }
}

/// Reads the worker's side of a `CreateLocalBlock` call to its end: `Ok` when it ended cleanly
/// (the block is committed), else the worker's error.
async fn drain(replies: &mut tonic::Streaming<CreateLocalBlockResponse>) -> Result<(), String> {
    loop {
        match replies.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => return Ok(()),
            Err(status) => return Err(status.message().to_string()),
        }
    }
}

impl LocalBlock {
    async fn open(worker: &str, block: u64) -> Result<LocalBlock, String> {
        let (mut client, connection) = write_client(worker).await?;
        let (requests, receiver) = mpsc::channel(4);
        requests.send(reserve(block, RESERVE_STEP)).await.map_err(|_| "the stream closed")?;
        let mut replies = client
            .create_local_block(ReceiverStream::new(receiver))
            .await
            .map_err(|s| s.message().to_string())?
            .into_inner();
        let path = named_file(&mut replies, |reply| reply.path).await?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| format!("opening {path}: {e}"))?;
        Ok(LocalBlock {
            requests,
            replies,
            file,
            path,
            block,
            reserved: RESERVE_STEP,
            written: 0,
            _connection: connection,
        })
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), String> {
        let needed = self.written + data.len() as u64;
        if needed > self.reserved {
            let more = (needed - self.reserved).max(RESERVE_STEP);
            if self.requests.send(reserve(self.block, more)).await.is_err() {
                // The worker ended the call: its error says why.
                let why = drain(&mut self.replies).await.err();
                return Err(why.unwrap_or_else(|| "the worker ended the stream early".into()));
            }
            self.reserved += more;
        }
        // The file is on the worker's memory tier (or its page cache): writing it is a memory
        // copy, not I/O worth a blocking thread.
        self.file.write_all(data).map_err(|e| format!("writing {}: {e}", self.path))?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// Ends the stream; the worker takes the file as the block and commits it to the master
    /// before it ends its side.
    async fn finish(self) -> Result<(), String> {
        let LocalBlock { requests, mut replies, _connection, .. } = self;
        drop(requests);
        drain(&mut replies).await
    }
}

/// A block being written, either way.
enum BlockSink {
    Streamed(StreamedBlock),
    Local(Box<LocalBlock>),
}

impl BlockSink {
    /// Opens block `block` on `worker`: in place when `short_circuit` and the worker is on this
    /// host, falling back to streaming when the worker's file cannot be written here (another
    /// user's, say). The abandoned in-place attempt is cut, so the worker discards it.
    async fn open(worker: &Target, block: u64, short_circuit: bool) -> Result<BlockSink, String> {
        if short_circuit && worker.local {
            match LocalBlock::open(&worker.address, block).await {
                Ok(local) => return Ok(BlockSink::Local(Box::new(local))),
                Err(error) => {
                    tracing::debug!(%error, block, "short-circuit write refused; streaming instead")
                }
            }
        }
        StreamedBlock::open(&worker.address, block).await.map(BlockSink::Streamed)
    }

    async fn send(&mut self, chunk: &FramedChunk) -> Result<(), String> {
        match self {
            BlockSink::Streamed(block) => block.send(chunk).await,
            BlockSink::Local(block) => block.send(&chunk.data).await,
        }
    }

    fn in_place(&self) -> bool {
        matches!(self, BlockSink::Local(_))
    }

    async fn finish(self) -> Result<(), String> {
        match self {
            BlockSink::Streamed(block) => block.finish().await,
            BlockSink::Local(block) => block.finish().await,
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
    let chunk = master.streaming_chunks().write as u64;
    let write_type = master.write_type();
    let no_worker = || {
        failed(
            Code::Unavailable,
            "no worker is registered with the leading master (start lode-worker)".into(),
        )
    };
    let mut ufs_file = None;
    if write_type.writes_through() {
        let target = choose_worker(&master.worker_infos().await?).ok_or_else(no_worker)?;
        let opened = StreamedBlock::ufs_file(&target.address, info).await.map_err(|e| {
            failed(Code::Unavailable, format!("worker {}, the UFS file: {e}", target.address))
        })?;
        ufs_file = Some(opened);
        worker = Some(target);
    }
    let ufs_failed = |e: String| failed(Code::Unavailable, format!("writing the UFS file: {e}"));
    loop {
        let mut block: Option<(u64, BlockSink)> = None;
        let mut in_block = 0u64;
        let mut ended = false;
        while in_block < block_size {
            let want = (block_size - in_block).min(chunk) as usize;
            let chunk = fill(source, want)
                .await
                .map_err(|e| failed(Code::Aborted, format!("reading the source: {e}")))?;
            let Some(chunk) = chunk else {
                ended = true;
                break;
            };
            let n = chunk.data.len();
            if write_type.caches() && block.is_none() {
                if worker.is_none() {
                    let workers = master.worker_infos().await?;
                    worker = Some(choose_worker(&workers).ok_or_else(no_worker)?);
                }
                let id = master.new_block_id(path).await?;
                let target = worker.as_ref().expect("chosen above");
                let opened = BlockSink::open(target, id, master.short_circuit()).await;
                block = Some((
                    id,
                    opened.map_err(|e| {
                        let address = &target.address;
                        failed(Code::Unavailable, format!("worker {address}, block {id}: {e}"))
                    })?,
                ));
            }
            // A block written in place reaches the UFS stream whole, once it is committed.
            let in_place = block.as_ref().is_some_and(|(_, sink)| sink.in_place());
            if let (Some(ufs_file), false) = (ufs_file.as_mut(), in_place) {
                ufs_file.send(&chunk).await.map_err(ufs_failed)?;
            }
            if let Some((_, sink)) = block.as_mut() {
                let target = worker.as_ref().map_or("", |t| t.address.as_str());
                sink.send(&chunk)
                    .await
                    .map_err(|e| failed(Code::Unavailable, format!("worker {target}: {e}")))?;
            }
            in_block += n as u64;
            total += n as u64;
            progress(total);
        }
        if let Some((id, sink)) = block {
            let target = worker.as_ref().map_or("", |t| t.address.as_str());
            let in_place = sink.in_place();
            sink.finish()
                .await
                .map_err(|e| failed(Code::Unavailable, format!("worker {target}: {e}")))?;
            if let (Some(ufs_file), true) = (ufs_file.as_mut(), in_place) {
                ufs_file.append_cached(id, in_block).await.map_err(ufs_failed)?;
            }
        }
        if ended {
            if let Some(ufs_file) = ufs_file {
                ufs_file.finish().await.map_err(ufs_failed)?;
            }
            return Ok(total);
        }
    }
}
