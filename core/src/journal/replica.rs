//! A replica: the state machine, the exactly-once table and the journal position, advanced
//! only by applying journal batches in slot order — on the leader and on standbys alike.
//!
//! **Terms only grow along the log.** A leader lands its `Leader` marker only after applying
//! every slot before it, and its journal term is above every term it applied (see
//! `Journal::take_over`), so on the real history a batch's term is never older than the newest
//! marker before it, and a batch of a newer term starts with that term's marker. A batch that
//! breaks either rule was put by a deposed leader into a slot truncation had re-opened (DESIGN
//! §3), or this replica already applied such a batch; either way it is off the real history and
//! must start again from a checkpoint ([`OutOfOrder::off_history`]).

use std::collections::{HashMap, VecDeque};

use super::format::{Batch, CheckpointImage, Codec, Entry, OpId};

/// The journaled state (the master's namespace). Implementations must be deterministic:
/// the same operations in the same order give the same replies and the same snapshot bytes.
pub trait StateMachine: Send + Sync + 'static {
    /// A journaled mutation.
    type Op: Codec + Clone + Send + Sync + 'static;
    /// The answer to a mutation (errors such as "already exists" are answers too).
    type Reply: Codec + Clone + Send + Sync + 'static;

    /// Applies one mutation.
    fn apply(&mut self, op: &Self::Op) -> Self::Reply;

    /// Appends a snapshot of the whole state to `out`.
    fn encode_snapshot(&self, out: &mut Vec<u8>);

    /// Rebuilds the state from snapshot bytes; the error says what is wrong.
    fn decode_snapshot(bytes: &[u8]) -> Result<Self, String>
    where
        Self: Sized;
}

/// Where a replica stands in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// The next slot to apply.
    pub slot: u64,
    /// The sequence number of the next entry.
    pub seq: u64,
    /// The latest leader term applied.
    pub term: u64,
}

/// Recent replies by operation id, bounded, oldest evicted first. Part of the replicated
/// state: rebuilt by replay and carried in checkpoints.
#[derive(Debug, Clone)]
pub struct DedupTable<R> {
    capacity: usize,
    replies: HashMap<OpId, R>,
    order: VecDeque<OpId>,
}

impl<R: Clone> DedupTable<R> {
    /// An empty table holding at most `capacity` replies.
    pub fn new(capacity: usize) -> Self {
        DedupTable { capacity: capacity.max(1), replies: HashMap::new(), order: VecDeque::new() }
    }

    /// The first answer to `id`, if it is remembered.
    pub fn get(&self, id: &OpId) -> Option<&R> {
        self.replies.get(id)
    }

    /// Remembers the answer to `id`.
    pub fn insert(&mut self, id: OpId, reply: R) {
        if self.replies.insert(id, reply).is_none() {
            self.order.push_back(id);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.replies.remove(&old);
                }
            }
        }
    }

    /// How many replies it holds.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// A state machine at a journal position.
#[derive(Debug)]
pub struct Replica<S: StateMachine> {
    state: S,
    dedup: DedupTable<S::Reply>,
    position: Position,
    /// Entries and payload bytes applied since the last checkpoint.
    since_checkpoint: (u64, u64),
}

/// Why a batch cannot be applied here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct OutOfOrder {
    /// The object.
    pub key: String,
    /// What does not line up.
    pub reason: String,
    /// The batch's term breaks the term rule (module doc): the replica must reload from a
    /// checkpoint newer than its position; a gap in slots or sequence numbers is corruption.
    pub off_history: bool,
}

impl<S: StateMachine> Replica<S> {
    /// A replica of `state` at the start of the journal.
    pub fn new(state: S, dedup_capacity: usize) -> Self {
        Replica {
            state,
            dedup: DedupTable::new(dedup_capacity),
            position: Position::default(),
            since_checkpoint: (0, 0),
        }
    }

    /// The state machine.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Where this replica stands.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The exactly-once table.
    pub fn dedup(&self) -> &DedupTable<S::Reply> {
        &self.dedup
    }

    /// Entries, and bytes of their payloads, applied since the last checkpoint was taken or
    /// loaded.
    pub fn applied_since_checkpoint(&self) -> (u64, u64) {
        self.since_checkpoint
    }

    /// Applies the batch of the next slot and returns one reply per operation entry (leader
    /// markers have none). An operation whose id is already in the table is not applied again:
    /// it gets the first answer.
    ///
    /// A batch off the real history (module doc) is refused with
    /// [`OutOfOrder::off_history`] and changes nothing.
    pub fn apply(&mut self, key: &str, batch: &Batch<S::Op>) -> Result<Vec<S::Reply>, OutOfOrder> {
        if batch.slot != self.position.slot || batch.first_seq != self.position.seq {
            return Err(OutOfOrder {
                key: key.into(),
                reason: format!(
                    "holds slot {} from sequence {}, but the replica expects slot {} from sequence {}",
                    batch.slot, batch.first_seq, self.position.slot, self.position.seq
                ),
                off_history: false,
            });
        }
        let opens_its_term = matches!(
            batch.entries.first(),
            Some(Entry::Leader { term, .. }) if *term == batch.term
        );
        let off_history = if batch.term < self.position.term {
            Some("is older than")
        } else if batch.term > self.position.term && !opens_its_term {
            Some("is newer than, without its leader marker,")
        } else {
            None
        };
        if let Some(relation) = off_history {
            return Err(OutOfOrder {
                key: key.into(),
                reason: format!(
                    "term {} {relation} the newest leader term applied ({}): a deposed leader's \
                     batch in a re-opened slot, or one applied before",
                    batch.term, self.position.term
                ),
                off_history: true,
            });
        }
        let mut replies = Vec::with_capacity(batch.entries.len());
        for entry in &batch.entries {
            match entry {
                Entry::Leader { term, .. } => {
                    self.position.term = self.position.term.max(*term);
                }
                Entry::LogMoved => {}
                Entry::Op { id, payload } => {
                    self.since_checkpoint.1 += payload.encoded_len() as u64;
                    let remembered = id.and_then(|id| self.dedup.get(&id).cloned());
                    let reply = match remembered {
                        Some(reply) => reply,
                        None => {
                            let reply = self.state.apply(payload);
                            if let Some(id) = id {
                                self.dedup.insert(*id, reply.clone());
                            }
                            reply
                        }
                    };
                    replies.push(reply);
                }
            }
        }
        self.position.slot += 1;
        self.position.seq += batch.entries.len() as u64;
        self.since_checkpoint.0 += batch.entries.len() as u64;
        Ok(replies)
    }

    /// The checkpoint image of this replica (deterministic for a given journal prefix).
    pub fn checkpoint_image(&self) -> CheckpointImage {
        let mut state = Vec::new();
        self.state.encode_snapshot(&mut state);
        let dedup = self
            .dedup
            .order
            .iter()
            .map(|id| {
                let mut reply = Vec::new();
                self.dedup.replies[id].encode(&mut reply);
                (*id, reply)
            })
            .collect();
        CheckpointImage {
            slot: self.position.slot,
            next_seq: self.position.seq,
            term: self.position.term,
            state,
            dedup,
        }
    }

    /// Marks the current position as checkpointed.
    pub fn checkpointed(&mut self) {
        self.since_checkpoint = (0, 0);
    }

    /// Rebuilds a replica from a checkpoint image; the error says which part is bad.
    pub fn from_image(image: &CheckpointImage, dedup_capacity: usize) -> Result<Self, String> {
        let state = S::decode_snapshot(&image.state).map_err(|e| format!("state snapshot: {e}"))?;
        let mut dedup = DedupTable::new(dedup_capacity);
        for (id, reply) in &image.dedup {
            let reply = S::Reply::decode(reply)
                .map_err(|e| format!("reply of operation {}:{}: {e}", id.client, id.call))?;
            dedup.insert(*id, reply);
        }
        Ok(Replica {
            state,
            dedup,
            position: Position { slot: image.slot, seq: image.next_seq, term: image.term },
            since_checkpoint: (0, 0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_table_evicts_oldest_first() {
        let mut table = DedupTable::new(2);
        for call in 0..3 {
            table.insert(OpId { client: 1, call }, call);
        }
        assert_eq!(table.get(&OpId { client: 1, call: 0 }), None);
        assert_eq!(table.get(&OpId { client: 1, call: 2 }), Some(&2));
        assert_eq!(table.len(), 2);
    }

    #[derive(Debug, Default)]
    struct Count(u64);

    impl StateMachine for Count {
        type Op = u64;
        type Reply = u64;
        fn apply(&mut self, op: &u64) -> u64 {
            self.0 += op;
            self.0
        }
        fn encode_snapshot(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0.to_le_bytes());
        }
        fn decode_snapshot(bytes: &[u8]) -> Result<Self, String> {
            Ok(Count(u64::from_le_bytes(bytes.try_into().map_err(|_| "8 bytes")?)))
        }
    }

    fn batch(replica: &Replica<Count>, term: u64, entries: Vec<Entry<u64>>) -> Batch<u64> {
        let Position { slot, seq, .. } = replica.position();
        Batch { term, slot, first_seq: seq, entries }
    }

    fn marker(term: u64) -> Entry<u64> {
        Entry::Leader { term, member: format!("leader-{term}") }
    }

    fn op(value: u64) -> Entry<u64> {
        Entry::Op { id: None, payload: value }
    }

    /// Batches of the real history apply; one of an older term, or of a newer term without its
    /// marker, is refused as off the history and changes nothing.
    #[test]
    fn terms_only_grow_along_the_log() {
        let mut replica = Replica::new(Count::default(), 10);
        replica.apply("m1", &batch(&replica, 1, vec![marker(1)])).unwrap();
        replica.apply("a", &batch(&replica, 1, vec![op(1), op(2)])).unwrap();
        replica.apply("m3", &batch(&replica, 3, vec![marker(3)])).unwrap();
        let before = replica.position();

        for (term, entries) in [
            (1, vec![op(5)]),
            (2, vec![marker(2)]),
            (4, vec![op(5)]),
            (4, vec![marker(3)]),
            (4, vec![op(5), marker(4)]),
        ] {
            let refused = replica.apply("x", &batch(&replica, term, entries)).unwrap_err();
            assert!(refused.off_history, "{refused}");
            assert!(refused.reason.contains(&format!("term {term}")), "{refused}");
        }
        assert_eq!(replica.position(), before);
        assert_eq!(replica.state().0, 3);

        replica.apply("b", &batch(&replica, 3, vec![op(4)])).unwrap();
        replica.apply("m4", &batch(&replica, 4, vec![marker(4), op(1)])).unwrap();
        assert_eq!(replica.state().0, 8);
        assert_eq!(replica.position().term, 4);
    }

    /// A gap in slots or sequence numbers is corruption, not something a checkpoint mends.
    #[test]
    fn a_gap_is_out_of_order_but_not_off_history() {
        let mut replica = Replica::new(Count::default(), 10);
        let mut next = batch(&replica, 1, vec![marker(1)]);
        next.slot = 1;
        let refused = replica.apply("gap", &next).unwrap_err();
        assert!(!refused.off_history);
        assert!(refused.reason.contains("expects slot 0"), "{refused}");
    }
}
