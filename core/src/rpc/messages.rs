//! gRPC messages read straight from the HTTP/2 frames they arrive in, a field at a time,
//! without tonic's codec. The block streams use it: tonic's codec copies every message into a
//! buffer of its own first, which at gigabytes per second costs a large part of the machine
//! (docs/benchmarks.md). gRPC frames each message as a flag byte (0: not compressed), a
//! big-endian 4-byte length, and the protobuf message.

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The key of a length-delimited field (protobuf wire type 2) with number `field`.
pub const fn bytes_key(field: u8) -> u8 {
    field << 3 | 2
}

/// gRPC's header of an uncompressed message of `length` bytes.
pub fn message_header(length: usize) -> [u8; 5] {
    let [a, b, c, d] = (length as u32).to_be_bytes();
    [0, a, b, c, d]
}

/// `message` with gRPC's framing in front: one whole message of a call's stream.
pub fn framed(message: &[u8]) -> Bytes {
    Bytes::from([&message_header(message.len())[..], message].concat())
}

/// Room to leave before a chunk's bytes for [`chunk_framed`]: gRPC's 5, and two keys with
/// their lengths.
pub const CHUNK_HEADROOM: usize = 5 + 2 * (1 + 10);

/// What goes before a chunk of `length` bytes to make one framed message `{ outer (field
/// number): Chunk { data (1) } }` (Alluxio's `ReadResponse` has its chunk at 1, `WriteRequest`
/// at 2): gRPC's prefix and the two keys with their lengths, at most [`CHUNK_HEADROOM`] bytes.
/// Sent as a body frame of its own before the bytes, it frames bytes that are already in a
/// buffer without copying them.
pub fn chunk_header(length: usize, outer: u8) -> Vec<u8> {
    let mut chunk_head = vec![bytes_key(1)];
    prost::encoding::encode_varint(length as u64, &mut chunk_head);
    let mut head = vec![bytes_key(outer)];
    prost::encoding::encode_varint((chunk_head.len() + length) as u64, &mut head);
    head.extend_from_slice(&chunk_head);
    let mut header = message_header(head.len() + length).to_vec();
    header.extend_from_slice(&head);
    header
}

/// `buffer`'s bytes after [`CHUNK_HEADROOM`] as one framed chunk message (see
/// [`chunk_header`]), the header written into the room before them: the bytes, read straight
/// into the buffer, are never copied again on their way out.
pub fn chunk_framed(mut buffer: Vec<u8>, outer: u8) -> Bytes {
    let header = chunk_header(buffer.len() - CHUNK_HEADROOM, outer);
    let start = CHUNK_HEADROOM - header.len();
    buffer[start..CHUNK_HEADROOM].copy_from_slice(&header);
    Bytes::from(buffer).slice(start..)
}

/// Why a stream of messages cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The HTTP/2 stream broke.
    #[error("the stream broke: {0}")]
    Broken(String),
    /// The stream ended inside a message.
    #[error("the stream ended inside a message")]
    Truncated,
    /// A message breaks protobuf's or gRPC's rules.
    #[error("a malformed message ({0})")]
    Malformed(String),
    /// The sink refused the bytes.
    #[error("{0}")]
    Sink(String),
}

fn overrun() -> MessageError {
    MessageError::Malformed("a field overruns it".into())
}

/// A stream of gRPC messages (a request's or a response's body), read a field at a time.
pub struct Messages<B> {
    body: B,
    /// What is left of the latest data frame.
    current: Bytes,
    /// Bytes of the body taken so far.
    consumed: u64,
    /// The trailers, once the body has ended.
    trailers: Option<http::HeaderMap>,
}

impl<B> Messages<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    /// Reads the messages of `body`.
    pub fn new(body: B) -> Self {
        Messages { body, current: Bytes::new(), consumed: 0, trailers: None }
    }

    /// Bytes of the body taken so far: where in the stream the next field starts.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The trailers, once the body has ended with them.
    pub fn trailers(&self) -> Option<&http::HeaderMap> {
        self.trailers.as_ref()
    }

    /// Makes `current` non-empty; `false` when the body has ended.
    async fn fill(&mut self) -> Result<bool, MessageError> {
        while self.current.is_empty() {
            let Some(frame) = self.body.frame().await else { return Ok(false) };
            let frame = frame.map_err(|e| MessageError::Broken(e.to_string()))?;
            match frame.into_data() {
                Ok(data) => self.current = data,
                Err(frame) => self.trailers = frame.into_trailers().ok(),
            }
        }
        Ok(true)
    }

    /// The next byte, `None` at the end of the body.
    async fn byte(&mut self) -> Result<Option<u8>, MessageError> {
        if !self.fill().await? {
            return Ok(None);
        }
        self.consumed += 1;
        Ok(Some(self.current.get_u8()))
    }

    /// The next byte of a message that must go on.
    async fn next_byte(&mut self) -> Result<u8, MessageError> {
        self.byte().await?.ok_or(MessageError::Truncated)
    }

    /// Reads the next message's header and returns where the message ends (in
    /// [`consumed`](Self::consumed) terms); `None` when the stream has no more messages.
    pub async fn next_message(&mut self) -> Result<Option<u64>, MessageError> {
        let Some(compressed) = self.byte().await? else { return Ok(None) };
        if compressed != 0 {
            return Err(MessageError::Malformed("compressed, which Lode never asks for".into()));
        }
        let mut length = [0; 4];
        for byte in &mut length {
            *byte = self.next_byte().await?;
        }
        Ok(Some(self.consumed + u64::from(u32::from_be_bytes(length))))
    }

    /// A protobuf varint.
    pub async fn varint(&mut self) -> Result<u64, MessageError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.next_byte().await?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(MessageError::Malformed("a varint of more than 10 bytes".into()))
    }

    /// A protobuf varint that must end no later than `limit` (the end of the enclosing
    /// message): a key or value running past its message is malformed, and a reader can then
    /// count on `consumed() <= limit`.
    pub async fn varint_within(&mut self, limit: u64) -> Result<u64, MessageError> {
        let value = self.varint().await?;
        match self.consumed <= limit {
            true => Ok(value),
            false => Err(overrun()),
        }
    }

    /// Reads a length prefix and returns where the field it announces ends, which must be no
    /// later than `limit` (the end of the enclosing message).
    pub async fn length_within(&mut self, limit: u64) -> Result<u64, MessageError> {
        let length = self.varint_within(limit).await?;
        match self.consumed.checked_add(length) {
            Some(end) if end <= limit => Ok(end),
            _ => Err(overrun()),
        }
    }

    /// Skips the value of the field `key` announces, inside a message ending at `limit`.
    pub async fn skip_field(&mut self, key: u64, limit: u64) -> Result<(), MessageError> {
        let end = match key & 7 {
            0 => return self.varint_within(limit).await.map(drop),
            1 => self.consumed + 8,
            2 => self.length_within(limit).await?,
            5 => self.consumed + 4,
            wire => return Err(MessageError::Malformed(format!("wire type {wire}"))),
        };
        if end > limit {
            return Err(overrun());
        }
        self.copy_to(end - self.consumed, &mut tokio::io::sink()).await
    }

    /// The end of the next length-delimited field `number` before `end`, skipping any other
    /// field on the way; `None` once `end` is reached.
    pub async fn next_field(&mut self, number: u8, end: u64) -> Result<Option<u64>, MessageError> {
        let wanted = u64::from(bytes_key(number));
        while self.consumed < end {
            let key = self.varint_within(end).await?;
            if key == wanted {
                return self.length_within(end).await.map(Some);
            }
            self.skip_field(key, end).await?;
        }
        match self.consumed == end {
            true => Ok(None),
            false => Err(overrun()),
        }
    }

    /// Skips every field up to `end` (what follows the fields a reader knows).
    pub async fn skip_to(&mut self, end: u64) -> Result<(), MessageError> {
        while self.consumed < end {
            let key = self.varint_within(end).await?;
            self.skip_field(key, end).await?;
        }
        match self.consumed == end {
            true => Ok(()),
            false => Err(overrun()),
        }
    }

    /// The next piece of at most `most` bytes, as it arrived (no copy).
    pub async fn piece(&mut self, most: u64) -> Result<Bytes, MessageError> {
        if !self.fill().await? {
            return Err(MessageError::Truncated);
        }
        let piece = self.current.split_to(most.min(self.current.len() as u64) as usize);
        self.consumed += piece.len() as u64;
        Ok(piece)
    }

    /// Hands the next `bytes` bytes to `sink`, a frame's piece at a time.
    pub async fn copy_to<W: AsyncWrite + Unpin>(
        &mut self,
        bytes: u64,
        sink: &mut W,
    ) -> Result<(), MessageError> {
        let mut left = bytes;
        while left > 0 {
            let piece = self.piece(left).await?;
            sink.write_all(&piece).await.map_err(|e| MessageError::Sink(e.to_string()))?;
            left -= piece.len() as u64;
        }
        Ok(())
    }

    /// The rest of a message ending at `end`, whole (for small messages).
    pub async fn rest(&mut self, end: u64) -> Result<Vec<u8>, MessageError> {
        let mut message = Vec::new();
        self.copy_to(end.saturating_sub(self.consumed), &mut message).await?;
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::alluxio::grpc::block::{ReadResponse, WriteRequest};
    use prost::Message;

    /// A chunk framed in place, or sent as a header before its bytes, is one gRPC message that
    /// decodes as Alluxio's `ReadResponse` (chunk at 1) or `WriteRequest` (chunk at 2) holding
    /// exactly those bytes, at lengths whose varints take one, two and three bytes.
    #[test]
    fn framed_chunks_decode_as_alluxio_messages() {
        for length in [0usize, 1, 127, 128, 16_383, 16_384, 1 << 20] {
            let data: Vec<u8> = (0..length).map(|i| (i % 251) as u8).collect();
            let mut buffer = vec![0u8; CHUNK_HEADROOM];
            buffer.extend_from_slice(&data);
            for outer in [1u8, 2] {
                let in_place = chunk_framed(buffer.clone(), outer);
                let mut sent = chunk_header(length, outer);
                sent.extend_from_slice(&data);
                assert_eq!(in_place[..], sent[..], "length {length}");
                assert!(sent.len() - length <= CHUNK_HEADROOM);
                assert_eq!(sent[0], 0, "not compressed");
                let declared = u32::from_be_bytes(sent[1..5].try_into().unwrap()) as usize;
                assert_eq!(declared, sent.len() - 5, "gRPC's length, {length}");
                let message = &sent[5..];
                let chunk = if outer == 1 {
                    ReadResponse::decode(message).unwrap().chunk
                } else {
                    match WriteRequest::decode(message).unwrap().value {
                        Some(crate::rpc::alluxio::grpc::block::write_request::Value::Chunk(c)) => {
                            Some(c)
                        }
                        other => panic!("not a chunk: {other:?}"),
                    }
                };
                assert!(chunk.unwrap().data.unwrap_or_default()[..] == data[..], "{length}");
            }
        }
    }
}
