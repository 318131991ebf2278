//! The raw gRPC message reader that the client's and the worker's block streams use never
//! panics, never reads past a message and always ends, however the bytes are framed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| lode_core::testkit::fuzz::messages(raw));
