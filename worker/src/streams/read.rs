//! `ReadBlock`: each chunk is read from the block's file into a buffer that leaves room before it
//! for the headers framing it as `ReadResponse { chunk: Chunk { data } }`, and goes out as it is.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;
use hyper::body::Frame;
use lode_core::rpc::alluxio::grpc::block::ReadRequest;
use lode_core::rpc::messages::{chunk_framed, Messages, CHUNK_HEADROOM};
use prost::Message;
use tokio::sync::mpsc;
use tonic::body::Body;
use tonic::Status;

use super::ufs_read::UfsRead;
use super::{response, small_message, trailers, Frames};
use crate::service::{not_cached, BlockService};

/// Chunk size when a read request names none.
const DEFAULT_CHUNK: usize = 1 << 20;
/// The largest chunk a reader may ask for.
const MAX_CHUNK: usize = 8 << 20;
/// Room before a chunk's bytes for its headers.
const HEADROOM: usize = CHUNK_HEADROOM;

/// Answers a `ReadBlock` call: the chunks of the range its first message asks for, then the
/// status. Later messages (read receipts) need no answer: flow control paces the stream.
pub(super) fn read_block(service: BlockService, body: Body) -> http::Response<Body> {
    let (frames, receiver) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut messages = Messages::new(body);
        let status = match service.open_read(&mut messages).await {
            Ok(Opened::Cached(read)) => {
                tokio::spawn(drain(messages));
                let sender = frames.clone();
                match tokio::task::spawn_blocking(move || read.send(&sender)).await {
                    Ok(status) => status,
                    Err(error) => Status::internal(format!("the read failed: {error}")),
                }
            }
            Ok(Opened::FromUfs(read)) => {
                tokio::spawn(drain(messages));
                service.send_from_ufs(read, &frames).await
            }
            Err(status) => status,
        };
        let _ = frames.send(Ok(Frame::trailers(trailers(&status)))).await;
    });
    response(receiver)
}

/// Reads the rest of the request stream (read receipts) and drops it, so the client's flow
/// control never stalls on unread receipts.
async fn drain(mut messages: Messages<Body>) {
    while let Ok(Some(end)) = messages.next_message().await {
        let left = end - messages.consumed();
        if messages.copy_to(left, &mut tokio::io::sink()).await.is_err() {
            return;
        }
    }
}

/// A range of a block's file to send.
pub(super) struct BlockRead {
    block: u64,
    path: std::path::PathBuf,
    offset: u64,
    length: u64,
    chunk: usize,
}

/// What a read request asks for: a range of a cached block, or of one to fetch from its UFS.
enum Opened {
    Cached(BlockRead),
    FromUfs(UfsRead),
}

impl BlockService {
    /// Reads the call's request and finds the range it asks for.
    async fn open_read(&self, messages: &mut Messages<Body>) -> Result<Opened, Status> {
        let request = small_message(messages, "read")
            .await?
            .ok_or_else(|| Status::invalid_argument("the read stream ended before its request"))?;
        let read = ReadRequest::decode(&request[..])
            .map_err(|e| Status::invalid_argument(format!("a malformed read request: {e}")))?;
        let block = read.block_id.ok_or_else(|| Status::invalid_argument("no block_id"))?;
        let block = u64::try_from(block).map_err(|_| Status::invalid_argument("a negative id"))?;
        // Alluxio's client sends empty options for a file that is not persisted: no UFS read.
        let from_ufs = read
            .open_ufs_block_options
            .as_ref()
            .filter(|options| options.ufs_path.as_deref().is_some_and(|path| !path.is_empty()));
        let (path, block_length) = match (self.store.open_existing(block), from_ufs) {
            (Some((path, length)), _) => (Some(path), length),
            (None, Some(options)) => {
                let length = u64::try_from(options.block_size.unwrap_or(-1))
                    .map_err(|_| Status::invalid_argument("no block_size, or a negative one"))?;
                if length > lode_core::rpc::MAX_BLOCK_BYTES {
                    return Err(lode_core::rpc::block_too_long(block, length));
                }
                (None, length)
            }
            (None, None) => return Err(not_cached(block)),
        };
        let offset = read.offset.unwrap_or(0);
        let offset =
            u64::try_from(offset).ok().filter(|o| *o <= block_length).ok_or_else(|| {
                Status::out_of_range(format!(
                    "offset {offset} is outside block {block} of {block_length} bytes"
                ))
            })?;
        let length = match read.length {
            Some(length) if length >= 0 => (length as u64).min(block_length - offset),
            _ => block_length - offset,
        };
        let chunk = match read.chunk_size {
            Some(size) if size > 0 => (size as usize).min(MAX_CHUNK),
            _ => DEFAULT_CHUNK,
        };
        metrics::counter!("lode_worker_block_reads_total", "path" => "stream").increment(1);
        metrics::counter!("lode_worker_block_read_bytes_total").increment(length);
        Ok(match path {
            Some(path) => Opened::Cached(BlockRead { block, path, offset, length, chunk }),
            None => Opened::FromUfs(UfsRead {
                block,
                options: read.open_ufs_block_options.unwrap_or_default(),
                block_length,
                offset,
                length,
                chunk,
            }),
        })
    }
}

impl BlockRead {
    /// A read of `length` bytes from `offset` of `block`'s file `path`, in `chunk`s.
    pub(super) fn new(
        block: u64,
        path: std::path::PathBuf,
        offset: u64,
        length: u64,
        chunk: usize,
    ) -> BlockRead {
        BlockRead { block, path, offset, length, chunk }
    }

    /// Sends the range as framed chunks on `frames` (blocking: file reads); returns the
    /// status that ends the call.
    pub(super) fn send(self, frames: &Frames) -> Status {
        let BlockRead { block, path, offset, length, chunk } = self;
        let Ok(mut file) = std::fs::File::open(&path) else { return not_cached(block) };
        if let Err(e) = file.seek(SeekFrom::Start(offset)) {
            return Status::internal(format!("reading block {block}: {e}"));
        }
        let mut left = length;
        while left > 0 {
            let want = chunk.min(left as usize);
            // Room for the headers, then the bytes read into fresh capacity (not zero-filled).
            let mut buffer = Vec::with_capacity(HEADROOM + want);
            buffer.resize(HEADROOM, 0);
            match (&mut file).take(want as u64).read_to_end(&mut buffer) {
                Ok(n) if n == want => {}
                Ok(n) => {
                    return Status::internal(format!(
                        "block {block} ended {} bytes early",
                        want - n
                    ))
                }
                Err(e) => return Status::internal(format!("reading block {block}: {e}")),
            }
            left -= want as u64;
            if frames.blocking_send(Ok(Frame::data(framed(buffer)))).is_err() {
                return Status::cancelled("the reader went away");
            }
        }
        Status::ok("")
    }
}

/// `buffer`'s bytes after [`HEADROOM`] as a framed `ReadResponse { chunk (1): Chunk { data (1) } }`,
/// the headers written into the room before them.
fn framed(buffer: Vec<u8>) -> Bytes {
    chunk_framed(buffer, 1)
}
