//! Checkpoint decoding never panics, whatever the bytes.
#![no_main]

use lode_core::journal::format::{decode_checkpoint, encode_checkpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    // As given, and with a valid checksum appended so the parser behind it is exercised too.
    let mut sealed = raw.to_vec();
    sealed.extend_from_slice(&crc32c::crc32c(raw).to_le_bytes());
    for data in [raw, sealed.as_slice()] {
        check(data);
    }
});

fn check(data: &[u8]) {
    let claimed = data.get(8..16).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    for slot in [Some(0), claimed].into_iter().flatten() {
        if let Ok(image) = decode_checkpoint("checkpoint/fuzz", data, slot) {
            assert_eq!(encode_checkpoint(&image), data);
        }
    }
}
