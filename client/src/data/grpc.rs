//! Block reads as raw gRPC calls, without tonic's codec: chunk bytes go from the HTTP/2 frames
//! they arrive in straight to the sink. tonic's decoder copies every message into a buffer of
//! its own first, which at gigabytes per second costs a large part of the machine
//! (docs/benchmarks.md). The framing is gRPC's: a flag byte (0: not compressed), a big-endian
//! 4-byte length, the protobuf message.

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::WorkerChannel;

/// The key of a length-delimited field (protobuf wire type 2) with number `field`.
pub(super) const fn bytes_key(field: u8) -> u8 {
    field << 3 | 2
}

/// What a message that breaks protobuf's rules is reported as.
pub(super) const MALFORMED: &str = "the worker sent a malformed message (a field overruns it)";

/// gRPC's header of an uncompressed message of `length` bytes.
pub(super) fn message_header(length: usize) -> [u8; 5] {
    let [a, b, c, d] = (length as u32).to_be_bytes();
    [0, a, b, c, d]
}

/// Starts `method` (`/package.Service/Method`) on `channel` to `worker` with `body` as the
/// request stream, and returns the response stream once the worker has accepted the call.
pub(super) async fn call(
    channel: &mut WorkerChannel,
    worker: &str,
    method: &str,
    body: tonic::body::Body,
) -> Result<Replies, String> {
    let request = http::Request::post(format!("http://{worker}{method}"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .body(body)
        .map_err(|e| format!("{worker}: {e}"))?;
    let response = channel.0.send_request(request).await;
    let (head, body) = response.map_err(|e| format!("the call failed: {e}"))?.into_parts();
    if head.status != http::StatusCode::OK {
        return Err(format!("the worker answered HTTP {}", head.status));
    }
    // A call refused at once is answered with headers alone, carrying the status.
    let ended = status(&head.headers)?;
    Ok(Replies { body, current: Bytes::new(), consumed: 0, trailers: None, ended })
}

/// Whether `headers` carry a gRPC status: `Ok(true)` for success, the worker's message for a
/// failure, `Ok(false)` when there is none.
fn status(headers: &http::HeaderMap) -> Result<bool, String> {
    if !headers.contains_key("grpc-status") {
        return Ok(false);
    }
    // tonic panics on undecodable status details, which Lode's client does not use anyway.
    let mut headers = headers.clone();
    headers.remove("grpc-status-details-bin");
    match tonic::Status::from_header_map(&headers) {
        Some(status) if status.code() == tonic::Code::Ok => Ok(true),
        Some(status) => Err(status.message().to_string()),
        None => Ok(false),
    }
}

/// A call's response stream, read a field at a time.
pub(super) struct Replies {
    body: hyper::body::Incoming,
    /// What is left of the latest data frame.
    current: Bytes,
    /// Bytes of the body taken so far.
    pub(super) consumed: u64,
    /// The trailers, once the body has ended.
    trailers: Option<http::HeaderMap>,
    /// Whether a success status has been seen.
    ended: bool,
}

impl Replies {
    /// Makes `current` non-empty; `false` when the body has ended.
    async fn fill(&mut self) -> Result<bool, String> {
        while self.current.is_empty() {
            let Some(frame) = self.body.frame().await else { return Ok(false) };
            let frame = frame.map_err(|e| format!("the stream broke: {e}"))?;
            match frame.into_data() {
                Ok(data) => self.current = data,
                Err(frame) => self.trailers = frame.into_trailers().ok(),
            }
        }
        Ok(true)
    }

    /// The next byte, `None` at the end of the body.
    async fn byte(&mut self) -> Result<Option<u8>, String> {
        if !self.fill().await? {
            return Ok(None);
        }
        self.consumed += 1;
        Ok(Some(self.current.get_u8()))
    }

    /// The next byte of a message that must go on.
    async fn next_byte(&mut self) -> Result<u8, String> {
        self.byte().await?.ok_or_else(|| "the stream ended inside a message".to_string())
    }

    /// Reads the next message's header and returns where the message ends (in `consumed`
    /// terms); `None` when the stream has no more messages.
    pub(super) async fn next_message(&mut self) -> Result<Option<u64>, String> {
        let Some(compressed) = self.byte().await? else { return Ok(None) };
        if compressed != 0 {
            return Err("the worker sent a compressed message, which Lode never asks for".into());
        }
        let mut length = [0; 4];
        for byte in &mut length {
            *byte = self.next_byte().await?;
        }
        Ok(Some(self.consumed + u64::from(u32::from_be_bytes(length))))
    }

    /// A protobuf varint.
    pub(super) async fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.next_byte().await?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("the worker sent a malformed message (a varint of more than 10 bytes)".into())
    }

    /// Reads a length prefix and returns where the field it announces ends, which must be no
    /// later than `limit` (the end of the enclosing message).
    pub(super) async fn length_within(&mut self, limit: u64) -> Result<u64, String> {
        let length = self.varint().await?;
        match self.consumed.checked_add(length) {
            Some(end) if end <= limit => Ok(end),
            _ => Err(MALFORMED.into()),
        }
    }

    /// Skips the value of the field `key` announces, inside a message ending at `limit`.
    pub(super) async fn skip_field(&mut self, key: u64, limit: u64) -> Result<(), String> {
        let end = match key & 7 {
            0 => return self.varint().await.map(drop),
            1 => self.consumed + 8,
            2 => self.length_within(limit).await?,
            5 => self.consumed + 4,
            wire => return Err(format!("the worker sent a malformed message (wire type {wire})")),
        };
        if end > limit {
            return Err(MALFORMED.into());
        }
        self.copy_to(end - self.consumed, &mut tokio::io::sink()).await
    }

    /// Hands the next `bytes` bytes to `sink`, a frame's piece at a time.
    pub(super) async fn copy_to<W: AsyncWrite + Unpin>(
        &mut self,
        bytes: u64,
        sink: &mut W,
    ) -> Result<(), String> {
        let mut left = bytes;
        while left > 0 {
            if !self.fill().await? {
                return Err("the stream ended inside a message".into());
            }
            let piece = self.current.split_to(left.min(self.current.len() as u64) as usize);
            sink.write_all(&piece).await.map_err(|e| e.to_string())?;
            left -= piece.len() as u64;
            self.consumed += piece.len() as u64;
        }
        Ok(())
    }

    /// The call's outcome once its messages are read: `Ok` when the worker ended it with
    /// success.
    pub(super) fn outcome(&self) -> Result<(), String> {
        let ended = match &self.trailers {
            Some(trailers) => self.ended | status(trailers)?,
            None => self.ended,
        };
        if ended {
            Ok(())
        } else {
            Err("the stream ended without a status".into())
        }
    }

    /// `error`, met while reading, or the worker's own reason when its trailers give one.
    pub(super) fn explain(&self, error: String) -> String {
        let failure = self.trailers.as_ref().and_then(|trailers| status(trailers).err());
        failure.unwrap_or(error)
    }
}
