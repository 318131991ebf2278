//! Checkpoint decoding never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| lode_core::testkit::fuzz::checkpoint(raw));
