//! The fuzz targets' checks (`lode_core::testkit::fuzz`, run by libFuzzer in `fuzz/` on a
//! nightly toolchain) run here on stable Rust: over every input saved in `fuzz/corpus/<target>/`
//! and over seeded mutations of valid inputs, so CI holds the decoders and the raw gRPC reader
//! to the same promises without nightly.

use std::path::Path;

use lode_core::journal::format::{
    encode_batch, encode_checkpoint, encode_manifest, Batch, CheckpointImage, Entry, Manifest,
    PartInfo,
};
use lode_core::journal::OpId;
use lode_core::rpc::messages::framed;
use lode_core::testkit::fuzz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Mutations per seed; `LODE_FUZZ_MUTATIONS` raises it for a longer campaign.
fn mutations() -> usize {
    std::env::var("LODE_FUZZ_MUTATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(3_000)
}

/// `seed` with a few bytes flipped, set to a varint's edge values, inserted, removed or cut off.
fn mutate(random: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..random.random_range(1..=4) {
        let at = random.random_range(0..=data.len());
        match random.random_range(0..5) {
            0 if at < data.len() => data[at] ^= 1 << random.random_range(0..8),
            1 if at < data.len() => data[at] = [0, 0x7f, 0x80, 0xff][random.random_range(0..4)],
            2 => data.insert(at, random.random()),
            3 if at < data.len() => drop(data.remove(at)),
            _ => data.truncate(at),
        }
    }
    data
}

/// Runs `check` over the saved corpus of `target` and over mutations of `seeds`; returns how
/// many inputs it ran.
fn run(target: &str, seeds: &[Vec<u8>], check: fn(&[u8])) -> usize {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut inputs = 0;
    if let Ok(entries) = std::fs::read_dir(&corpus) {
        for entry in entries {
            let path = entry.expect("listing the corpus").path();
            let data = std::fs::read(&path).expect("reading a corpus input");
            let caught = std::panic::catch_unwind(|| check(&data));
            assert!(caught.is_ok(), "{target} broke on {}", path.display());
            inputs += 1;
        }
    }
    // Seeded: the same mutations on every run, so a failure reproduces.
    let mut random = StdRng::seed_from_u64(0x9e37_79b9_7f4a_7c15);
    for seed in seeds {
        check(seed);
        for _ in 0..mutations() {
            let data = mutate(&mut random, seed);
            let caught = std::panic::catch_unwind(|| check(&data));
            assert!(caught.is_ok(), "{target} broke on {data:02x?}");
        }
        inputs += 1 + mutations();
    }
    inputs
}

/// Journal batch decoding never panics and re-encodes what it decodes.
#[test]
fn batch_decoding_holds_on_the_corpus_and_mutations() {
    let batch = Batch::<Vec<u8>> {
        term: 3,
        slot: 7,
        first_seq: 40,
        entries: vec![
            Entry::Leader { term: 3, member: "master-1:19998".into() },
            Entry::Op { id: Some(OpId { client: 9, call: 2 }), payload: b"mkdir /a".to_vec() },
            Entry::Op { id: None, payload: vec![] },
        ],
    };
    assert!(run("decode_batch", &[encode_batch(&batch)], fuzz::batch) > 0);
}

/// Checkpoint and manifest decoding never panic and re-encode what they decode.
#[test]
fn checkpoint_decoding_holds_on_the_corpus_and_mutations() {
    let image = CheckpointImage {
        slot: 12,
        next_seq: 99,
        term: 3,
        state: b"a namespace".to_vec(),
        dedup: vec![(OpId { client: 1, call: 2 }, b"reply".to_vec())],
    };
    let manifest = Manifest {
        slot: 3,
        part_size: 64,
        parts: vec![PartInfo { len: 64, crc: 0xdead_beef }, PartInfo { len: 5, crc: 1 }],
    };
    let seeds = [encode_checkpoint(&image), encode_manifest(&manifest)];
    assert!(run("decode_checkpoint", &seeds, fuzz::checkpoint) > 0);
}

/// The raw gRPC reader never panics, never reads past a message and always ends.
#[test]
fn grpc_message_reading_holds_on_the_corpus_and_mutations() {
    // Read replies (chunk { data }) and write requests (command, chunk), in frames of 1, 3, 7
    // bytes and whole; an unknown varint field; a key that runs into the next message.
    let reply = framed(&[0x0a, 0x05, 0x0a, 0x03, 1, 2, 3, 0x10, 0x01]);
    let command = framed(&[0x0a, 0x04, 0x08, 0x4d, 0x10, 0x01]);
    let chunk = framed(&[0x12, 0x04, 0x0a, 0x02, 9, 9]);
    let runaway = [&framed(&[0x8a])[..], &framed(&[0x01, 0x02])].concat();
    let streams = [
        [&reply[..], &reply].concat(),
        [&command[..], &chunk, &chunk].concat(),
        [&framed(&[])[..], &runaway].concat(),
    ];
    let seeds: Vec<Vec<u8>> = streams
        .iter()
        .flat_map(|stream| [0u8, 1, 3, 7].map(|frame| [&[frame][..], stream].concat()))
        .collect();
    assert!(run("grpc_messages", &seeds, fuzz::messages) > 0);
}
