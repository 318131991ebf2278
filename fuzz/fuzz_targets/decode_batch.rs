//! Batch decoding never panics, whatever the bytes; what decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| lode_core::testkit::fuzz::batch(raw));
