//! `WriteBlock`: each chunk's bytes go from the HTTP/2 frames they arrive in straight into the
//! block's file. Commands (the first message, flushes) are small and decoded whole.

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

/// One `WriteRequest`, as far as the worker needs to tell: a chunk (its bytes already stored)
/// or a command.
enum Request {
    Chunk,
    Command(WriteRequestCommand),
    Other,
}

impl BlockService {
    /// Writes one block from `messages`, answering each flush command on `replies` with the
    /// bytes received so far (Alluxio's client flushes before it moves on to the next block);
    /// returns the block's length once it is committed to the master.
    async fn write(&self, messages: &mut Messages<Body>, replies: &Frames) -> Result<u64, Status> {
        let first = match next_request(messages, None).await? {
            Some(Request::Command(command)) => command,
            Some(_) => {
                return Err(Status::invalid_argument("a write stream starts with a command"))
            }
            None => {
                return Err(Status::invalid_argument("the write stream ended before its command"))
            }
        };
        if first.r#type.unwrap_or(0) != RequestType::AlluxioBlock as i32 {
            return Err(Status::unimplemented("Lode workers write Alluxio blocks only"));
        }
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
        while let Some(request) = next_request(messages, Some((&mut pending, block))).await? {
            if let Request::Command(command) = request {
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
/// `pending`'s file as they arrive (a chunk before the block is open is refused).
async fn next_request(
    messages: &mut Messages<Body>,
    mut pending: Option<(&mut PendingWrite<'_>, u64)>,
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
            Some(WriteValue::Command(command)) => Request::Command(command),
            Some(WriteValue::Chunk(_)) => Request::Chunk,
            None => Request::Other,
        }));
    }
    // `chunk` (field 2) holding `data` (field 1).
    let Some((pending, block)) = pending.as_mut() else {
        return Err(Status::invalid_argument("a write stream starts with a command"));
    };
    let chunk_end = messages.length_within(end).await.map_err(bad_message)?;
    while let Some(data_end) = messages.next_field(1, chunk_end).await.map_err(bad_message)? {
        while messages.consumed() < data_end {
            let piece =
                messages.piece(data_end - messages.consumed()).await.map_err(bad_message)?;
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
    // Whatever follows the chunk in its message is not Lode's to know.
    messages.skip_to(end).await.map_err(bad_message)?;
    Ok(Some(Request::Chunk))
}
