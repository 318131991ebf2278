//! What each fuzz target checks, shared by the libFuzzer targets in `fuzz/` (nightly) and by the
//! stable test that replays their corpora and seeded mutations (`tests/tests/fuzz_corpora.rs`),
//! so CI exercises the same checks without a nightly toolchain. Each check panics only when the
//! code under test breaks its promise: never panic, and what decodes re-encodes to the same bytes.

use crate::journal::format::{
    decode_batch, decode_checkpoint, decode_manifest, encode_batch, encode_checkpoint,
    encode_manifest,
};

/// Batch decoding never panics; a batch that decodes re-encodes to the same bytes.
pub fn batch(raw: &[u8]) {
    for data in with_checksum(raw) {
        // Slot 0 and the slot the header claims, so valid-looking inputs pass the slot check.
        let claimed = data.get(16..24).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
        for slot in [Some(0), claimed].into_iter().flatten() {
            if let Ok(batch) = decode_batch::<Vec<u8>>("log/fuzz", &data, slot) {
                assert_eq!(encode_batch(&batch), data, "decoding is not the inverse of encoding");
            }
        }
    }
}

/// Checkpoint and checkpoint-manifest decoding never panic (both sit at `checkpoint/<slot>`,
/// with the slot at the same offset); what decodes re-encodes to the same bytes.
pub fn checkpoint(raw: &[u8]) {
    for data in with_checksum(raw) {
        let claimed = data.get(8..16).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
        for slot in [Some(0), claimed].into_iter().flatten() {
            if let Ok(image) = decode_checkpoint("checkpoint/fuzz", &data, slot) {
                assert_eq!(encode_checkpoint(&image), data, "decoding is not the inverse");
            }
            if let Ok(manifest) = decode_manifest("checkpoint/fuzz", &data, slot) {
                assert_eq!(encode_manifest(&manifest), data, "decoding is not the inverse");
            }
        }
    }
}

/// The input as given, and with a valid crc32c appended so the parser behind the check runs.
fn with_checksum(raw: &[u8]) -> [Vec<u8>; 2] {
    let mut sealed = raw.to_vec();
    sealed.extend_from_slice(&crc32c::crc32c(raw).to_le_bytes());
    [raw.to_vec(), sealed]
}

/// The raw gRPC message reader (`rpc::messages`), walked the way the client's `ReadBlock`
/// reader and the worker's `WriteBlock` parser walk it, never panics, never reads a field past
/// its message, and always ends. The first byte sets the size of the HTTP/2 data frames the
/// rest arrives in (0: one frame).
#[cfg(feature = "rpc")]
pub fn messages(raw: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    runtime.block_on(walk_messages(raw));
}

#[cfg(feature = "rpc")]
async fn walk_messages(raw: &[u8]) {
    use crate::rpc::messages::{MessageError, Messages};
    use bytes::Bytes;
    use http_body_util::StreamBody;

    let Some((&frame, stream)) = raw.split_first() else { return };
    let frame = if frame == 0 { stream.len().max(1) } else { usize::from(frame) };
    let frames: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> = stream
        .chunks(frame)
        .map(|piece| Ok(http_body::Frame::data(Bytes::copy_from_slice(piece))))
        .collect();
    let mut messages = Messages::new(StreamBody::new(tokio_stream::iter(frames)));
    let mut sink = tokio::io::sink();
    for index in 0.. {
        let Ok(Some(end)) = messages.next_message().await else { return };
        let walked: Result<(), MessageError> = async {
            if index % 2 == 0 {
                // The client's reader: field 1 holding fields 1, copied out.
                while let Some(outer) = messages.next_field(1, end).await? {
                    assert!(outer <= end, "a field ends past its message");
                    while let Some(inner) = messages.next_field(1, outer).await? {
                        assert!(inner <= outer, "a field ends past its parent");
                        let left = inner - messages.consumed();
                        messages.copy_to(left, &mut sink).await?;
                    }
                }
            } else if messages.consumed() < end {
                // The worker's parser: a key, then a length-delimited field or the rest whole.
                let key = messages.varint_within(end).await?;
                assert!(messages.consumed() <= end, "a key read past its message");
                if key & 7 == 2 {
                    let field = messages.length_within(end).await?;
                    messages.skip_to(field).await?;
                }
                messages.rest(end).await?;
            }
            messages.skip_to(end).await
        }
        .await;
        if walked.is_err() {
            return;
        }
        assert_eq!(messages.consumed(), end, "a walked message ends where its header said");
    }
}
