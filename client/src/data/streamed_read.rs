//! Reading a block streamed from a worker (`ReadBlock`) as a raw gRPC call (see `grpc`): each
//! chunk's bytes go from the frames they arrive in straight to the sink. The reply is
//! `ReadResponse { Chunk chunk = 1 { bytes data = 1 } }`; other fields are skipped.

use lode_core::rpc::alluxio::grpc::block::{OpenUfsBlockOptions, ReadRequest};
use prost::Message;
use tokio::io::AsyncWrite;

use lode_core::rpc::messages::{framed, MessageError};

use super::grpc::{self, Replies};
use super::worker_connection;

const READ_BLOCK: &str = "/alluxio.grpc.block.BlockWorker/ReadBlock";

/// Copies `length` bytes of `block` from `offset` into `sink`, streamed from `worker` in
/// messages of `chunk` bytes; with `from_ufs`, a worker that does not hold the block reads it
/// from the file's under-file-system.
pub(super) async fn read_streamed<W: AsyncWrite + Unpin>(
    worker: &str,
    block: u64,
    (offset, length): (u64, u64),
    chunk: usize,
    from_ufs: Option<OpenUfsBlockOptions>,
    sink: &mut W,
) -> Result<(), String> {
    let (mut channel, _) = worker_connection(worker).await?;
    let request = ReadRequest {
        block_id: Some(block as i64),
        offset: Some(offset as i64),
        length: Some(length as i64),
        chunk_size: Some(chunk as i64),
        open_ufs_block_options: from_ufs,
        ..Default::default()
    };
    let message = request.encode_to_vec();
    let body = tonic::body::Body::new(http_body_util::Full::new(framed(&message)));
    let (mut replies, ended) = grpc::call(&mut channel, worker, READ_BLOCK, body).await?;
    let copied = match read_chunks(&mut replies, length, sink).await {
        Ok(copied) => copied,
        Err(error) => return Err(grpc::explain(&replies, error)),
    };
    grpc::outcome(&replies, ended)?;
    if copied != length {
        return Err(format!("the stream ended after {copied} of {length} bytes"));
    }
    Ok(())
}

/// What went wrong reading the replies, in words naming the culprit.
fn malformed(error: MessageError) -> String {
    match error {
        MessageError::Malformed(_) => format!("the worker sent {error}"),
        other => other.to_string(),
    }
}

/// Hands the data of every reply to `sink`, at most `length` bytes in all, and returns how
/// many there were.
async fn read_chunks<W: AsyncWrite + Unpin>(
    replies: &mut Replies,
    length: u64,
    sink: &mut W,
) -> Result<u64, String> {
    let mut copied = 0u64;
    while let Some(end) = replies.next_message().await.map_err(malformed)? {
        // `chunk` (field 1) holds `data` (field 1).
        while let Some(chunk_end) = replies.next_field(1, end).await.map_err(malformed)? {
            while let Some(data_end) = replies.next_field(1, chunk_end).await.map_err(malformed)? {
                let bytes = data_end - replies.consumed();
                if copied + bytes > length {
                    return Err(format!("the worker sent more than the {length} bytes asked for"));
                }
                replies.copy_to(bytes, sink).await.map_err(malformed)?;
                copied += bytes;
            }
        }
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use lode_core::rpc::messages::{bytes_key, message_header};

    use super::*;

    /// A worker stand-in that answers any call with `frames` and then trailers with `status`
    /// (a gRPC code) and `message`.
    async fn worker(frames: Vec<Bytes>, status: u8, message: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(move |_| {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", status.to_string().parse().unwrap());
                trailers.insert("grpc-message", message.parse().unwrap());
                let body = frames
                    .clone()
                    .into_iter()
                    .map(Frame::data)
                    .chain([Frame::trailers(trailers)])
                    .map(Ok::<_, Infallible>);
                let body = StreamBody::new(tokio_stream::iter(body));
                let response = http::Response::builder()
                    .header(http::header::CONTENT_TYPE, "application/grpc")
                    .body(body)
                    .unwrap();
                async move { Ok::<_, Infallible>(response) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(io, service)
                .await;
        });
        address
    }

    /// `ReadResponse { chunk: Chunk { data } }` framed as gRPC sends it, with `extra` (an
    /// unknown field) ahead of the chunk.
    fn reply(data: &[u8], extra: &[u8]) -> Vec<u8> {
        let chunk = [&[bytes_key(1), data.len() as u8][..], data].concat();
        let message = [extra, &[bytes_key(1), chunk.len() as u8], &chunk].concat();
        framed(&message).to_vec()
    }

    async fn read(frames: Vec<Bytes>, length: u64) -> Result<Vec<u8>, String> {
        read_with(frames, length, 0, "").await
    }

    async fn read_with(
        frames: Vec<Bytes>,
        length: u64,
        status: u8,
        message: &'static str,
    ) -> Result<Vec<u8>, String> {
        let address = worker(frames, status, message).await;
        let mut sink = Vec::new();
        read_streamed(&address, 7, (0, length), 1 << 20, None, &mut sink).await.map(|()| sink)
    }

    /// Chunks arrive whole however the frames cut them, even one byte per frame, and unknown
    /// fields of every wire type are skipped.
    #[tokio::test]
    async fn chunks_survive_any_framing() {
        // Field 2 as a varint, field 3 fixed64, field 4 length-delimited, field 5 fixed32.
        let unknown =
            [&[2 << 3, 0x96, 0x01][..], &[3 << 3 | 1], &[9; 8], &[4 << 3 | 2, 2, 1, 2]].concat();
        let unknown = [&unknown[..], &[5 << 3 | 5], &[7; 4]].concat();
        let stream = [reply(b"hello, ", &[]), reply(b"world", &unknown)].concat();
        for cut in [1, 2, 3, 5, 7, 11, stream.len()] {
            let frames = stream.chunks(cut).map(Bytes::copy_from_slice).collect();
            assert_eq!(read(frames, 12).await.unwrap(), b"hello, world", "frames of {cut}");
        }
    }

    /// A worker's failure is reported in its own words, whether it comes before any data or
    /// after some.
    #[tokio::test]
    async fn a_failing_worker_is_quoted() {
        let error = read_with(vec![], 5, 5, "block 7 is not cached here").await.unwrap_err();
        assert_eq!(error, "block 7 is not cached here");
        let some = Bytes::from(reply(b"abc", &[]));
        let error = read_with(vec![some], 5, 13, "the disk broke").await.unwrap_err();
        assert_eq!(error, "the disk broke");
    }

    /// Malformed or short replies fail with an error saying what was wrong, never a panic
    /// and never a short read taken for a whole one.
    #[tokio::test]
    async fn bad_replies_are_refused() {
        let whole = reply(b"abcdef", &[]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            // The chunk claims more bytes than its message holds.
            ([&message_header(4)[..], &[bytes_key(1), 9, bytes_key(1), 7]].concat(), "malformed"),
            // A compressed message.
            ([&[1][..], &whole[1..]].concat(), "compressed"),
            // A message cut short by the end of the stream.
            (whole[..whole.len() - 2].to_vec(), "ended inside a message"),
            // Wire type 3 (groups), which Alluxio never sends.
            ([&message_header(1)[..], &[2 << 3 | 3]].concat(), "wire type 3"),
            // A varint that never ends.
            ([&message_header(11)[..], &[0xff; 11]].concat(), "varint"),
            // Fewer bytes than asked for.
            (reply(b"abc", &[]), "after 3 of 6 bytes"),
            // More bytes than asked for.
            ([reply(b"abcdef", &[]), reply(b"g", &[])].concat(), "more than the 6 bytes"),
        ];
        for (stream, expected) in cases {
            let error = read(vec![Bytes::from(stream)], 6).await.unwrap_err();
            assert!(error.contains(expected), "{error:?} lacks {expected:?}");
        }
    }
}
