//! The bytes of journal objects: batches (one per log slot) and checkpoints.
//!
//! Batch: `LJB1` magic, version (u16), flags (u16, 0), term, slot, first sequence number
//! (u64 each), entry count (u32), then per entry its length (u32) and bytes, then a crc32c of
//! everything before it. Entry: a tag byte — 1 leader marker (term u64, member name as u16
//! length + UTF-8), 2 operation, 3 operation with an id (client u64, call u64), 4 "the log
//! continues in segments" (no payload) — then the payload bytes. All integers little-endian.
//!
//! Decoding never panics: every problem is a [`Corrupt`] naming the object and byte offset.

use std::fmt;

/// Current format version of batches and checkpoints.
pub const FORMAT_VERSION: u16 = 1;
const BATCH_MAGIC: &[u8; 4] = b"LJB1";
const CHECKPOINT_MAGIC: &[u8; 4] = b"LJC1";
const MANIFEST_MAGIC: &[u8; 4] = b"LJM1";
const TAG_LEADER: u8 = 1;
const TAG_OP: u8 = 2;
const TAG_OP_WITH_ID: u8 = 3;
const TAG_LOG_MOVED: u8 = 4;

/// Encoding of journaled payloads and replies, supplied by the state machine.
pub trait Codec: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Decodes a value from exactly `bytes`; the error says what is wrong.
    fn decode(bytes: &[u8]) -> Result<Self, String>;

    /// How many bytes `encode` appends. The default encodes to find out; override it when the
    /// length is cheaper to compute (the group-commit writer asks for every entry).
    fn encoded_len(&self) -> usize {
        let mut out = Vec::new();
        self.encode(&mut out);
        out.len()
    }
}

/// The exactly-once identity of a mutating call: Alluxio's 128-bit operation id, which Lode's
/// client fills with (client id, call id). A retry carries the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId {
    /// The client (Alluxio: most significant bits).
    pub client: u64,
    /// The call within the client (Alluxio: least significant bits).
    pub call: u64,
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<P> {
    /// A new leader's first entry: from here on, term `term` writes.
    Leader {
        /// The leader's term.
        term: u64,
        /// The leader's address, for operators.
        member: String,
    },
    /// The log goes on in appended segments (`seg/`, DESIGN §3a) from the next slot: the
    /// one-object-per-slot log ends here. Builds that predate segments cannot decode it, so they
    /// stop at it with an error naming the slot instead of writing past it.
    LogMoved,
    /// A mutation of the state machine.
    Op {
        /// The call's identity, when the caller wants exactly-once.
        id: Option<OpId>,
        /// The mutation.
        payload: P,
    },
}

/// The contents of one log slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<P> {
    /// The writer's term.
    pub term: u64,
    /// The slot it was written to.
    pub slot: u64,
    /// The sequence number of its first entry (entries are numbered across the journal).
    pub first_seq: u64,
    /// The entries.
    pub entries: Vec<Entry<P>>,
}

/// A journal object whose bytes are not a valid batch or checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal object {key} is corrupt at byte offset {offset}: {reason}")]
pub struct Corrupt {
    /// The object's key.
    pub key: String,
    /// Where in the object the problem is.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

/// A bounds-checked little-endian reader that reports offsets.
struct Reader<'a> {
    key: &'a str,
    bytes: &'a [u8],
    at: usize,
    /// Where `bytes` starts in the whole object, so offsets in errors are absolute.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(key: &'a str, bytes: &'a [u8], base: usize) -> Self {
        Reader { key, bytes, at: 0, base }
    }

    fn fail<T>(&self, offset: usize, reason: impl fmt::Display) -> Result<T, Corrupt> {
        Err(Corrupt {
            key: self.key.to_string(),
            offset: self.base + offset,
            reason: reason.to_string(),
        })
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], Corrupt> {
        let end = self.at.checked_add(len).filter(|end| *end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.at..end];
                self.at = end;
                Ok(slice)
            }
            None => self.fail(
                self.at,
                format!("{what} needs {len} bytes, {} remain", self.bytes.len() - self.at),
            ),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8, Corrupt> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, Corrupt> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, Corrupt> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, Corrupt> {
        let b = self.take(8, what)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(b);
        Ok(u64::from_le_bytes(array))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }
}

/// Checks the crc32c trailer and returns the body before it.
fn verify_checksum<'a>(key: &str, bytes: &'a [u8], min_body: usize) -> Result<&'a [u8], Corrupt> {
    if bytes.len() < min_body + 4 {
        return Err(Corrupt {
            key: key.into(),
            offset: bytes.len(),
            reason: format!("object has {} bytes, fewer than the smallest valid one", bytes.len()),
        });
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(Corrupt {
            key: key.into(),
            offset: body.len(),
            reason: format!("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"),
        });
    }
    Ok(body)
}

/// Checks an object's checksum, magic, version and flags, and returns a reader positioned
/// after them.
fn open_object<'a>(
    key: &'a str,
    bytes: &'a [u8],
    min_body: usize,
    magic: &[u8; 4],
) -> Result<Reader<'a>, Corrupt> {
    let body = verify_checksum(key, bytes, min_body)?;
    let mut reader = Reader::new(key, body, 0);
    check_magic_and_version(&mut reader, magic)?;
    let flags = reader.u16("flags")?;
    if flags != 0 {
        return reader.fail(6, format!("unknown flags {flags:#06x}"));
    }
    Ok(reader)
}

fn check_magic_and_version(reader: &mut Reader, magic: &[u8; 4]) -> Result<(), Corrupt> {
    if reader.take(4, "magic")? != magic {
        return reader.fail(
            0,
            format!(
                "not a Lode journal object (expected magic {:?})",
                String::from_utf8_lossy(magic)
            ),
        );
    }
    let version = reader.u16("format version")?;
    if version != FORMAT_VERSION {
        return reader.fail(
            4,
            format!("format version {version}, but this build reads version {FORMAT_VERSION}"),
        );
    }
    Ok(())
}

const BATCH_HEADER: usize = 4 + 2 + 2 + 8 + 8 + 8 + 4;

/// Encodes a batch.
pub fn encode_batch<P: Codec>(batch: &Batch<P>) -> Vec<u8> {
    let mut out = Vec::with_capacity(BATCH_HEADER + 64 * batch.entries.len() + 4);
    out.extend_from_slice(BATCH_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&batch.term.to_le_bytes());
    out.extend_from_slice(&batch.slot.to_le_bytes());
    out.extend_from_slice(&batch.first_seq.to_le_bytes());
    out.extend_from_slice(&(batch.entries.len() as u32).to_le_bytes());
    for entry in &batch.entries {
        let length_at = out.len();
        out.extend_from_slice(&[0; 4]);
        match entry {
            Entry::Leader { term, member } => {
                out.push(TAG_LEADER);
                out.extend_from_slice(&term.to_le_bytes());
                let name = &member.as_bytes()[..member.len().min(u16::MAX as usize)];
                out.extend_from_slice(&(name.len() as u16).to_le_bytes());
                out.extend_from_slice(name);
            }
            Entry::LogMoved => out.push(TAG_LOG_MOVED),
            Entry::Op { id: None, payload } => {
                out.push(TAG_OP);
                payload.encode(&mut out);
            }
            Entry::Op { id: Some(id), payload } => {
                out.push(TAG_OP_WITH_ID);
                out.extend_from_slice(&id.client.to_le_bytes());
                out.extend_from_slice(&id.call.to_le_bytes());
                payload.encode(&mut out);
            }
        }
        let length = (out.len() - length_at - 4) as u32;
        out[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The slot a batch's header names, if `bytes` is long enough to hold one (nothing else is
/// checked: [`decode_batch`] does that).
pub fn peek_slot(bytes: &[u8]) -> Option<u64> {
    let slot = bytes.get(16..24)?;
    Some(u64::from_le_bytes(slot.try_into().ok()?))
}

/// Decodes the batch stored at `key`; `expected_slot` must match the slot in its header.
pub fn decode_batch<P: Codec>(
    key: &str,
    bytes: &[u8],
    expected_slot: u64,
) -> Result<Batch<P>, Corrupt> {
    let mut reader = open_object(key, bytes, BATCH_HEADER, BATCH_MAGIC)?;
    let term = reader.u64("term")?;
    let slot = reader.u64("slot")?;
    if slot != expected_slot {
        return reader
            .fail(16, format!("header says slot {slot}, but the object is slot {expected_slot}"));
    }
    let first_seq = reader.u64("first sequence number")?;
    let count = reader.u32("entry count")? as usize;
    // Each entry takes at least 5 bytes, which bounds the allocation by the object's size.
    if count > reader.remaining() / 5 {
        return reader
            .fail(32, format!("entry count {count} cannot fit in {} bytes", reader.remaining()));
    }
    let mut entries = Vec::with_capacity(count);
    for index in 0..count {
        let length = reader.u32("entry length")? as usize;
        let base = reader.at;
        let body = reader.take(length, "entry")?;
        entries.push(decode_entry(Reader::new(key, body, base), index)?);
    }
    if reader.remaining() != 0 {
        return reader.fail(
            reader.at,
            format!("{} unexpected bytes after the last entry", reader.remaining()),
        );
    }
    Ok(Batch { term, slot, first_seq, entries })
}

/// Decodes one entry's bytes (after its length).
fn decode_entry<P: Codec>(mut entry: Reader, index: usize) -> Result<Entry<P>, Corrupt> {
    let tag = entry.u8("entry tag")?;
    match tag {
        TAG_LEADER => {
            let term = entry.u64("leader term")?;
            let length = entry.u16("member length")? as usize;
            let name_at = entry.at;
            let name = entry.take(length, "member name")?;
            let Ok(member) = String::from_utf8(name.to_vec()) else {
                return entry.fail(name_at, format!("entry {index}: member name is not UTF-8"));
            };
            if entry.remaining() != 0 {
                return entry.fail(
                    entry.at,
                    format!(
                        "entry {index}: {} unexpected bytes after the leader marker",
                        entry.remaining()
                    ),
                );
            }
            Ok(Entry::Leader { term, member })
        }
        TAG_LOG_MOVED if entry.remaining() == 0 => Ok(Entry::LogMoved),
        TAG_LOG_MOVED => entry.fail(
            entry.at,
            format!(
                "entry {index}: {} unexpected bytes after the log-moved marker",
                entry.remaining()
            ),
        ),
        TAG_OP | TAG_OP_WITH_ID => {
            let id = if tag == TAG_OP_WITH_ID {
                let client = entry.u64("client id")?;
                let call = entry.u64("call id")?;
                Some(OpId { client, call })
            } else {
                None
            };
            match P::decode(&entry.bytes[entry.at..]) {
                Ok(payload) => Ok(Entry::Op { id, payload }),
                Err(reason) => entry.fail(entry.at, format!("entry {index} payload: {reason}")),
            }
        }
        other => entry.fail(0, format!("entry {index} has unknown tag {other}")),
    }
}

/// The contents of a checkpoint: everything needed to resume after slot `slot - 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointImage {
    /// The first slot *not* covered.
    pub slot: u64,
    /// The next sequence number.
    pub next_seq: u64,
    /// The latest leader term seen.
    pub term: u64,
    /// The state machine's snapshot bytes.
    pub state: Vec<u8>,
    /// The dedup table: operation id and encoded reply, oldest first.
    pub dedup: Vec<(OpId, Vec<u8>)>,
}

const CHECKPOINT_HEADER: usize = 4 + 2 + 2 + 8 + 8 + 8 + 8;

/// Encodes a checkpoint (deterministically: the same state gives the same bytes).
pub fn encode_checkpoint(image: &CheckpointImage) -> Vec<u8> {
    let dedup_bytes: usize = image.dedup.iter().map(|(_, r)| 20 + r.len()).sum();
    let mut out = Vec::with_capacity(CHECKPOINT_HEADER + image.state.len() + dedup_bytes + 8);
    out.extend_from_slice(CHECKPOINT_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&image.slot.to_le_bytes());
    out.extend_from_slice(&image.next_seq.to_le_bytes());
    out.extend_from_slice(&image.term.to_le_bytes());
    out.extend_from_slice(&(image.state.len() as u64).to_le_bytes());
    out.extend_from_slice(&image.state);
    out.extend_from_slice(&(image.dedup.len() as u32).to_le_bytes());
    for (id, reply) in &image.dedup {
        out.extend_from_slice(&id.client.to_le_bytes());
        out.extend_from_slice(&id.call.to_le_bytes());
        out.extend_from_slice(&(reply.len() as u32).to_le_bytes());
        out.extend_from_slice(reply);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes the checkpoint stored at `key`, which must cover slots below `expected_slot`.
pub fn decode_checkpoint(
    key: &str,
    bytes: &[u8],
    expected_slot: u64,
) -> Result<CheckpointImage, Corrupt> {
    let mut reader = open_object(key, bytes, CHECKPOINT_HEADER + 4, CHECKPOINT_MAGIC)?;
    let slot = reader.u64("slot")?;
    if slot != expected_slot {
        return reader
            .fail(8, format!("header says slot {slot}, but the object is {expected_slot}"));
    }
    let next_seq = reader.u64("next sequence number")?;
    let term = reader.u64("term")?;
    let state_len = reader.u64("state length")?;
    let state_len = usize::try_from(state_len).unwrap_or(usize::MAX);
    let state = reader.take(state_len, "state")?.to_vec();
    let count = reader.u32("dedup count")? as usize;
    if count > reader.remaining() / 20 {
        return reader.fail(reader.at - 4, format!("dedup count {count} cannot fit"));
    }
    let mut dedup = Vec::with_capacity(count);
    for _ in 0..count {
        let client = reader.u64("dedup client id")?;
        let call = reader.u64("dedup call id")?;
        let length = reader.u32("dedup reply length")? as usize;
        let reply = reader.take(length, "dedup reply")?.to_vec();
        dedup.push((OpId { client, call }, reply));
    }
    if reader.remaining() != 0 {
        return reader.fail(reader.at, "unexpected bytes after the dedup table");
    }
    Ok(CheckpointImage { slot, next_seq, term, state, dedup })
}

/// One part of a checkpoint too big for one object: its length and crc32c.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartInfo {
    /// Bytes in the part.
    pub len: u64,
    /// crc32c of the part.
    pub crc: u32,
}

/// A checkpoint written in parts: the object at `checkpoint/<slot>` names them, and is written
/// last, so that it appears only once every part is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The slot the checkpoint covers up to.
    pub slot: u64,
    /// The most bytes in one part (every part but the last has exactly this many): it names
    /// the parts' folder, so writers with other part sizes never meet.
    pub part_size: u64,
    /// The parts, in order; their bytes concatenated are the checkpoint.
    pub parts: Vec<PartInfo>,
}

const MANIFEST_HEADER: usize = 4 + 2 + 2 + 8 + 8 + 4;

/// Whether `bytes` are a [`Manifest`] (rather than a whole checkpoint).
pub fn is_manifest(bytes: &[u8]) -> bool {
    bytes.starts_with(MANIFEST_MAGIC)
}

/// Encodes a manifest.
pub fn encode_manifest(manifest: &Manifest) -> Vec<u8> {
    let mut out = Vec::with_capacity(MANIFEST_HEADER + 12 * manifest.parts.len() + 4);
    out.extend_from_slice(MANIFEST_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&manifest.slot.to_le_bytes());
    out.extend_from_slice(&manifest.part_size.to_le_bytes());
    out.extend_from_slice(&(manifest.parts.len() as u32).to_le_bytes());
    for part in &manifest.parts {
        out.extend_from_slice(&part.len.to_le_bytes());
        out.extend_from_slice(&part.crc.to_le_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes the manifest stored at `key`, which must be for slot `expected_slot`.
pub fn decode_manifest(key: &str, bytes: &[u8], expected_slot: u64) -> Result<Manifest, Corrupt> {
    let mut reader = open_object(key, bytes, MANIFEST_HEADER, MANIFEST_MAGIC)?;
    let slot = reader.u64("slot")?;
    if slot != expected_slot {
        return reader
            .fail(8, format!("header says slot {slot}, but the object is {expected_slot}"));
    }
    let part_size = reader.u64("part size")?;
    let count = reader.u32("part count")? as usize;
    if count == 0 || reader.remaining() != count * 12 {
        return reader.fail(reader.at - 4, format!("{count} parts do not fit the manifest"));
    }
    let mut parts = Vec::with_capacity(count);
    for index in 0..count {
        let at = reader.at;
        let len = reader.u64("part length")?;
        let crc = reader.u32("part crc32c")?;
        if len == 0 || len > part_size || (index + 1 < count && len != part_size) {
            return reader.fail(at, format!("part {index} has {len} bytes, part size {part_size}"));
        }
        parts.push(PartInfo { len, crc });
    }
    Ok(Manifest { slot, part_size, parts })
}

/// Plain byte payloads, for tests and tools.
impl Codec for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        Ok(bytes.to_vec())
    }

    fn encoded_len(&self) -> usize {
        self.len()
    }
}

/// Fixed-width integers, for tests, tools and simple replies.
impl Codec for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let array: [u8; 8] =
            bytes.try_into().map_err(|_| format!("expected 8 bytes, got {}", bytes.len()))?;
        Ok(u64::from_le_bytes(array))
    }

    fn encoded_len(&self) -> usize {
        8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Batch<u64> {
        Batch {
            term: 3,
            slot: 9,
            first_seq: 100,
            entries: vec![
                Entry::Leader { term: 3, member: "m1:19998".into() },
                Entry::Op { id: None, payload: 7 },
                Entry::Op { id: Some(OpId { client: 1, call: 2 }), payload: 8 },
            ],
        }
    }

    #[test]
    fn batches_round_trip() {
        let bytes = encode_batch(&sample());
        assert_eq!(decode_batch::<u64>("log/9", &bytes, 9), Ok(sample()));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_reported_not_panicked() {
        let bytes = encode_batch(&sample());
        for len in 0..bytes.len() {
            let err = decode_batch::<u64>("log/9", &bytes[..len], 9).unwrap_err();
            assert_eq!(err.key, "log/9");
        }
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let err = decode_batch::<u64>("log/9", &flipped, 9).unwrap_err();
            assert!(err.offset <= bytes.len(), "{err}");
        }
    }

    #[test]
    fn a_leader_marker_with_trailing_bytes_is_corrupt() {
        let batch = Batch::<u64> {
            term: 1,
            slot: 0,
            first_seq: 0,
            entries: vec![Entry::Leader { term: 1, member: "m".into() }],
        };
        let mut bytes = encode_batch(&batch);
        bytes.truncate(bytes.len() - 4);
        bytes[BATCH_HEADER] += 3; // The entry claims 3 more bytes...
        bytes.extend_from_slice(b"xyz"); // ...which follow the member name.
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        let err = decode_batch::<u64>("log/0", &bytes, 0).unwrap_err();
        assert!(err.reason.contains("3 unexpected bytes after the leader marker"), "{err}");
        assert_eq!(err.offset, BATCH_HEADER + 4 + 1 + 8 + 2 + 1);
    }

    #[test]
    fn a_batch_in_the_wrong_slot_is_corrupt() {
        let bytes = encode_batch(&sample());
        let err = decode_batch::<u64>("log/10", &bytes, 10).unwrap_err();
        assert_eq!(err.offset, 16);
        assert!(err.to_string().contains("header says slot 9"), "{err}");
    }

    #[test]
    fn manifests_round_trip_and_every_damage_is_reported() {
        let manifest = Manifest {
            slot: 7,
            part_size: 100,
            parts: vec![PartInfo { len: 100, crc: 1 }, PartInfo { len: 3, crc: 2 }],
        };
        let bytes = encode_manifest(&manifest);
        assert!(is_manifest(&bytes));
        assert_eq!(decode_manifest("checkpoint/7", &bytes, 7), Ok(manifest));
        for len in 0..bytes.len() {
            assert!(decode_manifest("checkpoint/7", &bytes[..len], 7).is_err(), "{len}");
        }
        let short_middle = Manifest {
            slot: 7,
            part_size: 100,
            parts: vec![PartInfo { len: 99, crc: 1 }, PartInfo { len: 3, crc: 2 }],
        };
        let err = decode_manifest("checkpoint/7", &encode_manifest(&short_middle), 7).unwrap_err();
        assert!(err.reason.contains("part 0 has 99 bytes"), "{err}");
    }

    #[test]
    fn checkpoints_round_trip_and_detect_damage() {
        let image = CheckpointImage {
            slot: 5,
            next_seq: 42,
            term: 2,
            state: b"state".to_vec(),
            dedup: vec![(OpId { client: 1, call: 1 }, 9u64.to_le_bytes().to_vec())],
        };
        let bytes = encode_checkpoint(&image);
        assert_eq!(decode_checkpoint("checkpoint/5", &bytes, 5), Ok(image));
        for len in 0..bytes.len() {
            assert!(decode_checkpoint("checkpoint/5", &bytes[..len], 5).is_err());
        }
    }
}
