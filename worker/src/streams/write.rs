//! `WriteBlock`: each chunk's bytes go from the HTTP/2 frames they arrive in straight into the
//! block's file. Commands (the first message, flushes) are small and decoded whole. A stream
//! whose first command is a `UFS_FILE` write (Alluxio's CACHE_THROUGH and THROUGH) writes a file
//! in an under-file-system instead: under a temporary name, renamed into place when the client
//! ends the stream, so a write that fails or is cancelled leaves nothing under the file's name.
//! Besides chunks, such a stream takes Lode's `append_cached_block` commands: the whole of a
//! block cached here (a Lode client on this host wrote it in place) is appended from its file.

use std::io::Write;

use bytes::Bytes;
use hyper::body::Frame;
use lode_core::rpc::alluxio::grpc::block::write_request::Value as WriteValue;
use lode_core::rpc::alluxio::grpc::block::{
    RequestType, WriteRequest, WriteRequestCommand, WriteResponse,
};
use lode_core::rpc::messages::{bytes_key, framed, MessageError, Messages};
use lode_core::rpc::{block_too_long, MAX_BLOCK_BYTES};
use prost::Message;
use tokio::sync::mpsc;
use tonic::body::Body;
use tonic::Status;

use super::{response, trailers, Frames, MAX_REQUEST};
use crate::service::{store_status, BlockService, PendingWrite};
use crate::store::StoreError;

/// Answers a `WriteBlock` call: its replies (one per flush, and the stored length at the end)
/// and its status follow as the write goes.
pub(super) fn write_block(service: BlockService, body: Body) -> http::Response<Body> {
    let (frames, receiver) = mpsc::channel(4);
    tokio::spawn(async move {
        let written = service.write(&mut Messages::new(body), &frames).await;
        let status = match written {
            Ok(offset) => {
                metrics::counter!("lode_worker_block_writes_total", "path" => "stream")
                    .increment(1);
                metrics::counter!("lode_worker_block_write_bytes_total").increment(offset);
                let _ = frames.send(Ok(Frame::data(reply(offset)))).await;
                Status::ok("")
            }
            Err(status) => status,
        };
        let _ = frames.send(Ok(Frame::trailers(trailers(&status)))).await;
    });
    response(receiver)
}

/// `WriteResponse { offset }`, framed.
fn reply(offset: u64) -> Bytes {
    let message = WriteResponse { offset: Some(offset as i64) }.encode_to_vec();
    framed(&message)
}

fn bad_message(error: MessageError) -> Status {
    Status::invalid_argument(format!("a write stream with {error}"))
}

/// One `WriteRequest`, as far as the worker needs to tell: a chunk (its bytes already in the
/// sink) or a command.
enum Request {
    Chunk,
    Command(Box<WriteRequestCommand>),
    Other,
}

/// Where a chunk's bytes go as they arrive.
enum ChunkSink<'p, 'a> {
    /// Nowhere yet: a chunk before the first command is refused.
    None,
    /// Into a block's file.
    Block(&'p mut PendingWrite<'a>, u64),
    /// Kept, for a UFS file the caller writes.
    Kept(&'p mut Vec<Bytes>),
}

fn ufs_status(error: lode_ufs::UfsError) -> Status {
    if error.is_temporary() {
        Status::unavailable(error.to_string())
    } else {
        Status::failed_precondition(error.to_string())
    }
}

impl BlockService {
    /// Writes one block from `messages`, answering each flush command on `replies` with the
    /// bytes received so far (Alluxio's client flushes before it moves on to the next block);
    /// returns the block's length once it is committed to the master.
    async fn write(&self, messages: &mut Messages<Body>, replies: &Frames) -> Result<u64, Status> {
        let first = match next_request(messages, ChunkSink::None).await? {
            Some(Request::Command(command)) => *command,
            Some(_) => {
                return Err(Status::invalid_argument("a write stream starts with a command"))
            }
            None => {
                return Err(Status::invalid_argument("the write stream ended before its command"))
            }
        };
        match RequestType::try_from(first.r#type.unwrap_or(0)) {
            Ok(RequestType::AlluxioBlock) => self.write_block(first, messages, replies).await,
            Ok(RequestType::UfsFile) => self.write_ufs_file(first, messages, replies).await,
            _ => Err(Status::unimplemented(
                "Lode workers write Alluxio blocks and UFS files, not UFS fallback blocks",
            )),
        }
    }

    /// Writes the UFS file a `UFS_FILE` command names; returns its length once it is in place.
    async fn write_ufs_file(
        &self,
        first: WriteRequestCommand,
        messages: &mut Messages<Body>,
        replies: &Frames,
    ) -> Result<u64, Status> {
        let options = first.create_ufs_file_options.ok_or_else(|| {
            Status::invalid_argument("a UFS_FILE write without create_ufs_file_options")
        })?;
        let ufs_path = options.ufs_path.filter(|p| !p.is_empty());
        let ufs_path = ufs_path.ok_or_else(|| Status::invalid_argument("no ufs_path"))?;
        let mount_id = options.mount_id.unwrap_or(1);
        let ufs = self.ufses.for_mount(mount_id, &self.link).await.map_err(|error| {
            Status::unavailable(format!("the under-file-system of mount {mount_id}: {error}"))
        })?;
        let relative = ufs.uri().relative(&ufs_path).ok_or_else(|| {
            Status::invalid_argument(format!(
                "{ufs_path} is not in mount {mount_id} ({})",
                ufs.uri()
            ))
        })?;
        let mut file = ufs.create(&relative).await.map_err(ufs_status)?;
        let (mut written, mut pieces) = (0u64, Vec::new());
        let outcome = async {
            while let Some(request) = next_request(messages, ChunkSink::Kept(&mut pieces)).await? {
                for piece in pieces.drain(..) {
                    written += piece.len() as u64;
                    file.write(piece).await.map_err(ufs_status)?;
                }
                let appended = match &request {
                    Request::Command(command) => command.append_cached_block,
                    _ => None,
                };
                if let Some(block) = appended {
                    let bytes = self.cached_block(block, &ufs_path).await?;
                    written += bytes.len() as u64;
                    file.write(bytes).await.map_err(ufs_status)?;
                    metrics::counter!("lode_worker_ufs_cached_block_appends_total").increment(1);
                }
                let flush = matches!(&request, Request::Command(c) if c.flush.unwrap_or(false));
                if flush && replies.send(Ok(Frame::data(reply(written)))).await.is_err() {
                    return Err(Status::cancelled("the writer went away"));
                }
            }
            Ok(())
        }
        .await;
        if let Err(status) = outcome {
            file.abort().await;
            return Err(status);
        }
        file.finish().await.map_err(ufs_status)?;
        metrics::counter!("lode_worker_ufs_write_bytes_total").increment(written);
        Ok(written)
    }

    /// Cached block `block`'s bytes, to append to the UFS file `ufs_path`.
    async fn cached_block(&self, block: i64, ufs_path: &str) -> Result<Bytes, Status> {
        let id = u64::try_from(block)
            .map_err(|_| Status::invalid_argument(format!("append_cached_block {block}")))?;
        let store = self.store.clone();
        let mapped = tokio::task::spawn_blocking(move || store.map_block(id))
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        match mapped {
            Some(Ok(bytes)) => Ok(bytes),
            Some(Err(error)) => {
                Err(Status::internal(format!("reading block {id} for {ufs_path}: {error}")))
            }
            None => Err(Status::failed_precondition(format!(
                "block {id} is not cached on this worker, so it cannot be appended to {ufs_path}"
            ))),
        }
    }

    /// Writes the block a `ALLUXIO_BLOCK` command names; returns its length once committed.
    async fn write_block(
        &self,
        first: WriteRequestCommand,
        messages: &mut Messages<Body>,
        replies: &Frames,
    ) -> Result<u64, Status> {
        let block = first.id.ok_or_else(|| Status::invalid_argument("the command has no id"))?;
        let block = u64::try_from(block).map_err(|_| Status::invalid_argument("a negative id"))?;
        if first.offset.unwrap_or(0) != 0 {
            return Err(Status::unimplemented("Lode workers write blocks from offset 0 only"));
        }
        if self.store.open_block(block).is_some() {
            return Err(store_status(StoreError::Exists(block)));
        }
        let path = self.store.temp_path(block);
        let file = std::fs::File::create_new(&path)
            .map_err(|e| Status::internal(format!("creating {}: {e}", path.display())))?;
        let mut pending = PendingWrite::new(&self.store, path, file);
        while let Some(request) =
            next_request(messages, ChunkSink::Block(&mut pending, block)).await?
        {
            if let Request::Command(command) = request {
                if command.append_cached_block.is_some() {
                    return Err(Status::invalid_argument(
                        "append_cached_block belongs in a UFS_FILE stream, not a block's",
                    ));
                }
                if command.flush.unwrap_or(false) {
                    // Every chunk is already in the (memory-backed) file.
                    if replies.send(Ok(Frame::data(reply(pending.written)))).await.is_err() {
                        return Err(Status::cancelled("the writer went away"));
                    }
                }
            }
        }
        let length = pending.written;
        self.store.commit(block, &pending.path, length).map_err(store_status)?;
        pending.done = true;
        drop(pending);
        if let Err(error) = self.link.commit(block, length).await {
            self.store.remove(block);
            return Err(Status::failed_precondition(format!(
                "block {block} was written but the master refused it: {error}"
            )));
        }
        Ok(length)
    }
}

/// Reads the next `WriteRequest`; `None` at the end of the stream. A chunk's bytes go into
/// `sink` as they arrive (a chunk before the first command is refused).
async fn next_request(
    messages: &mut Messages<Body>,
    mut sink: ChunkSink<'_, '_>,
) -> Result<Option<Request>, Status> {
    let Some(end) = messages.next_message().await.map_err(bad_message)? else {
        return Ok(None);
    };
    if messages.consumed() == end {
        return Ok(Some(Request::Other)); // An empty message: no command, no chunk.
    }
    let key = messages.varint_within(end).await.map_err(bad_message)?;
    if key != u64::from(bytes_key(2)) {
        // A command (field 1), small: decode it whole, key included.
        if end - messages.consumed() > MAX_REQUEST {
            return Err(Status::invalid_argument(format!(
                "a write command of {} bytes (at most {MAX_REQUEST})",
                end - messages.consumed()
            )));
        }
        let mut whole = Vec::new();
        prost::encoding::encode_varint(key, &mut whole);
        whole.extend(messages.rest(end).await.map_err(bad_message)?);
        let request = WriteRequest::decode(&whole[..])
            .map_err(|e| Status::invalid_argument(format!("a malformed write request: {e}")))?;
        return Ok(Some(match request.value {
            Some(WriteValue::Command(command)) => Request::Command(Box::new(command)),
            Some(WriteValue::Chunk(_)) => Request::Chunk,
            None => Request::Other,
        }));
    }
    // `chunk` (field 2) holding `data` (field 1).
    if matches!(sink, ChunkSink::None) {
        return Err(Status::invalid_argument("a write stream starts with a command"));
    }
    let chunk_end = messages.length_within(end).await.map_err(bad_message)?;
    while let Some(data_end) = messages.next_field(1, chunk_end).await.map_err(bad_message)? {
        while messages.consumed() < data_end {
            let piece =
                messages.piece(data_end - messages.consumed()).await.map_err(bad_message)?;
            match &mut sink {
                ChunkSink::None => unreachable!("refused above"),
                ChunkSink::Kept(pieces) => pieces.push(piece),
                ChunkSink::Block(pending, block) => {
                    let length = pending.written + piece.len() as u64;
                    if length > MAX_BLOCK_BYTES {
                        return Err(block_too_long(*block, length));
                    }
                    pending.store.reserve(piece.len() as u64).map_err(store_status)?;
                    pending.written += piece.len() as u64;
                    pending
                        .file
                        .write_all(&piece)
                        .map_err(|e| Status::internal(format!("writing block {block}: {e}")))?;
                }
            }
        }
    }
    // Whatever follows the chunk in its message is not Lode's to know.
    messages.skip_to(end).await.map_err(bad_message)?;
    Ok(Some(Request::Chunk))
}
