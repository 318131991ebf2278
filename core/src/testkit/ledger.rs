//! `Ledger`: the smallest useful state machine. Each operation appends a number; its reply is
//! the position it landed at. Enough to check ordering, exactly-once and snapshots.

use crate::journal::{Codec, StateMachine};

/// An append-only list of numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// The numbers, in journal order.
    pub values: Vec<u64>,
}

impl StateMachine for Ledger {
    type Op = u64;
    type Reply = u64;

    fn apply(&mut self, op: &u64) -> u64 {
        self.values.push(*op);
        self.values.len() as u64 - 1
    }

    fn encode_snapshot(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.values.len() as u64).to_le_bytes());
        for value in &self.values {
            value.encode(out);
        }
    }

    fn decode_snapshot(bytes: &[u8]) -> Result<Self, String> {
        let (count, rest) = bytes.split_at_checked(8).ok_or("snapshot shorter than 8 bytes")?;
        let count = u64::decode(count)? as usize;
        if rest.len() != count.checked_mul(8).ok_or("count overflows")? {
            return Err(format!("snapshot claims {count} values in {} bytes", rest.len()));
        }
        let values = rest.chunks_exact(8).map(u64::decode).collect::<Result<Vec<_>, _>>()?;
        Ok(Ledger { values })
    }
}
