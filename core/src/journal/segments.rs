//! The log as appended segments, for stores with the `appendable` capability (DESIGN §3a):
//!
//! ```text
//! seg/<segment no., 20 digits>   records of consecutive batches: length (u32 LE), batch bytes
//! ```
//!
//! Slots stay the protocol's unit: each record is one batch (same format, term, slot, crc) and
//! segment k + 1 starts at the slot after segment k's last whole record. A leader seals the
//! newest segment (no earlier writer can add a byte after that), reads it to its end and creates
//! the next one exclusively: its first record is the leader marker. A record cut short at the
//! end of a segment that has a successor (or that the reader sealed) is a torn write, not
//! history. Any append error stops the writer (the leader resigns); the next leader's seal
//! decides what is in.
//!
//! A journal starts in one object per slot (`log/`). The first leader of a build that knows
//! segments, on an appendable store, lands a batch `[Leader, LogMoved]` in the next slot with
//! `put_if_absent` — the fence against writers of slots — and from the slot after it the log
//! is in `seg/`. Older builds stop at that batch (they cannot decode `LogMoved`).

use tokio::time::Instant;

use super::format::{self, Batch, Corrupt, Entry};
use super::{Append, Journal, JournalError, StateMachine};
use crate::elector::Leadership;
use crate::store::{AppendableStore, Appender, StoreError};

/// The folder of the segments.
pub(crate) const SEGMENT_PREFIX: &str = "seg/";
/// Bytes before each record: its length.
const RECORD_HEADER: usize = 4;
/// Enough of a segment's start to read the first batch's slot.
const FIRST_SLOT_PROBE: u64 = (RECORD_HEADER + 24) as u64;

/// The key of segment `number`.
pub fn segment_key(number: u64) -> String {
    format!("{SEGMENT_PREFIX}{number:020}")
}

/// Frames one encoded batch as a record.
fn record(batch: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER + batch.len());
    out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    out.extend_from_slice(batch);
    out
}

/// Where a reader is in the segments: the record of `slot` starts at byte `offset` of segment
/// `segment` (or the segment ends there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    segment: u64,
    offset: u64,
    slot: u64,
}

/// The segment a leader appends to.
pub(crate) struct ActiveSegment {
    number: u64,
    appender: Box<dyn Appender>,
    bytes: u64,
}

/// The whole records at the start of `bytes` (read from `offset` of `key`): each batch with its
/// record's end offset. Stops at the first record cut short.
fn whole_records<P: format::Codec>(
    key: &str,
    offset: u64,
    bytes: &[u8],
) -> Result<Vec<(Batch<P>, u64)>, Corrupt> {
    let mut records = Vec::new();
    let mut at = 0usize;
    while let Some(length) = bytes.get(at..at + RECORD_HEADER) {
        let length = u32::from_le_bytes(length.try_into().expect("four bytes")) as usize;
        let start = at + RECORD_HEADER;
        let Some(body) = start.checked_add(length).and_then(|end| bytes.get(start..end)) else {
            break;
        };
        let record_at = offset as usize + at;
        let relocate = |mut corrupt: Corrupt| {
            corrupt.offset += record_at + RECORD_HEADER;
            corrupt
        };
        let slot = format::peek_slot(body).ok_or_else(|| Corrupt {
            key: key.to_string(),
            offset: record_at,
            reason: format!("record of {length} bytes is too short for a batch header"),
        })?;
        let batch = format::decode_batch(key, body, slot).map_err(relocate)?;
        at = start + length;
        records.push((batch, offset + at as u64));
    }
    Ok(records)
}

impl<S: StateMachine> Journal<S> {
    /// Whether the log has moved into segments (see the module doc): a leader appends there.
    pub fn in_segments(&self) -> bool {
        self.segments_from().is_some()
    }

    /// The first slot in segments, once this process has seen the move (or read a slot there).
    pub(crate) fn segments_from(&self) -> Option<u64> {
        *self.segments_from.lock()
    }

    /// Notes that slot `slot` is in segments, and so every slot after it.
    pub(crate) fn note_segments_from(&self, slot: u64) {
        let mut from = self.segments_from.lock();
        *from = Some(from.map_or(slot, |from| from.min(slot)));
    }

    fn appendable(&self) -> Result<&dyn AppendableStore, JournalError> {
        self.store.appendable().ok_or_else(|| {
            JournalError::Format(format!(
                "the journal at {} continues in segments, but its store cannot append",
                self.store.location()
            ))
        })
    }

    /// Notes that the log moved into segments after `batch` if it says so.
    pub(crate) fn note_log_moved(&self, batch: &Batch<S::Op>) {
        if batch.entries.iter().any(|entry| matches!(entry, Entry::LogMoved)) {
            self.note_segments_from(batch.slot + 1);
        }
    }

    /// Whether `seg/` holds anything: a journal whose slot log ends at an empty slot then goes
    /// on in segments (the batch that moved it may be truncated away).
    pub(crate) async fn segments_exist(&self) -> Result<bool, JournalError> {
        if self.store.appendable().is_none() {
            return Ok(false);
        }
        let listed = self.store.list(SEGMENT_PREFIX);
        let keys = self.bounded("list", SEGMENT_PREFIX, self.call_deadline(), listed).await??;
        Ok(!keys.is_empty())
    }

    /// The segment numbers in the store, ascending.
    pub(crate) async fn segment_numbers(&self) -> Result<Vec<u64>, JournalError> {
        let listed = self.store.list(SEGMENT_PREFIX);
        let keys = self.bounded("list", SEGMENT_PREFIX, self.call_deadline(), listed).await??;
        let mut numbers: Vec<u64> =
            keys.iter().filter_map(|key| key.strip_prefix(SEGMENT_PREFIX)?.parse().ok()).collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Reads up to `max_len` bytes of segment `number` from `offset`; `None` if it is gone.
    async fn read_segment(
        &self,
        number: u64,
        offset: u64,
        max_len: u64,
    ) -> Result<Option<Vec<u8>>, JournalError> {
        let key = segment_key(number);
        let read = self.appendable()?.read_from(&key, offset, max_len);
        Ok(self
            .bounded("read", &key, self.call_deadline(), read)
            .await?
            .inspect_err(|e| self.note_failure(e))?)
    }

    /// The slot of segment `number`'s first whole record, if it has one.
    async fn first_slot(&self, number: u64) -> Result<Option<u64>, JournalError> {
        let bytes = self.read_segment(number, 0, FIRST_SLOT_PROBE).await?.unwrap_or_default();
        Ok(bytes.get(RECORD_HEADER..).and_then(format::peek_slot))
    }

    /// Where the record of `slot` is: the start of the newest segment whose first record is at
    /// or below it. `None` when no segment is (the log has not reached segments, or `slot` was
    /// truncated away and a checkpoint covers it).
    async fn locate(&self, slot: u64) -> Result<Option<Cursor>, JournalError> {
        for number in self.segment_numbers().await?.into_iter().rev() {
            match self.first_slot(number).await? {
                Some(first) if first <= slot => {
                    return Ok(Some(Cursor { segment: number, offset: 0, slot: first }))
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// The batches from slot `start` on that the segments hold now (at most about one batch
    /// limit of bytes), in slot order; empty at the log's end. Moves past a segment only once its
    /// successor exists, reading it to its final end first: the successor's creator sealed it or
    /// its writer closed it, so what is cut short at its end is torn, never history.
    pub(crate) async fn read_segments(
        &self,
        start: u64,
    ) -> Result<Vec<Batch<S::Op>>, JournalError> {
        let cursor = *self.cursor.lock();
        let mut cursor = match cursor {
            Some(cursor) if cursor.slot == start => cursor,
            _ => match self.locate(start).await? {
                Some(cursor) => cursor,
                None => return Ok(Vec::new()),
            },
        };
        let max_len = (self.settings.batch_max_bytes + RECORD_HEADER) as u64 * 2;
        let mut final_segment = false;
        loop {
            let key = segment_key(cursor.segment);
            let bytes = self.read_segment(cursor.segment, cursor.offset, max_len).await?;
            let records = match bytes {
                Some(bytes) => whole_records::<S::Op>(&key, cursor.offset, &bytes)?,
                None => Vec::new(), // Truncated away: the caller loads the checkpoint.
            };
            let mut batches = Vec::with_capacity(records.len());
            for (batch, end) in records {
                cursor.offset = end;
                cursor.slot = batch.slot + 1;
                if batch.slot >= start {
                    batches.push(batch);
                }
            }
            if !batches.is_empty() {
                *self.cursor.lock() = Some(cursor);
                return Ok(batches);
            }
            if final_segment {
                cursor = Cursor { segment: cursor.segment + 1, offset: 0, slot: cursor.slot };
                final_segment = false;
                continue;
            }
            // Nothing new here: the segment is over if the next one exists. Read it once more
            // after seeing that, since its end is final only from then on.
            let next = segment_key(cursor.segment + 1);
            let exists = self.store.exists(&next);
            if !self.bounded("exists", &next, self.call_deadline(), exists).await?? {
                *self.cursor.lock() = Some(cursor);
                return Ok(Vec::new());
            }
            final_segment = true;
        }
    }

    /// Makes this journal's log go on in segments if its store can append and it has not yet:
    /// lands `[Leader, LogMoved]` at the next slot. Returns `Ok(false)` if another writer's batch
    /// took the slot (it was applied; look again).
    pub(crate) async fn move_log_to_segments(
        &self,
        leadership: &Leadership,
        member: &str,
    ) -> Result<bool, JournalError> {
        let position = self.position();
        let batch = self.leader_marker(leadership, member, vec![Entry::LogMoved]);
        match self.append_slot(position.slot, format::encode_batch(&batch)).await? {
            Append::Landed => {
                self.apply(&batch)?;
                tracing::info!(slot = position.slot, "the journal log continues in segments");
                Ok(true)
            }
            Append::Taken(bytes) => {
                let key = self.log_key(position.slot);
                let batch = format::decode_batch(&key, &bytes, position.slot)?;
                self.apply_read(vec![batch]).await?;
                Ok(false)
            }
            Append::TruncatedAway => {
                self.rebuild().await?;
                Ok(false)
            }
        }
    }

    /// The segment half of a takeover: seals the newest segment, reads it to its end, creates
    /// the next one and lands the leader marker as its first record. Returns the marker's term.
    pub(crate) async fn take_over_segments(
        &self,
        leadership: &Leadership,
        member: &str,
    ) -> Result<u64, JournalError> {
        let store = self.appendable()?;
        loop {
            if !leadership.is_valid() {
                return Err(JournalError::Deposed {
                    slot: self.position().slot,
                    reason: "leadership ended during takeover".into(),
                });
            }
            let newest = self.segment_numbers().await?.last().copied();
            if let Some(newest) = newest {
                let key = segment_key(newest);
                self.bounded("seal", &key, self.call_deadline(), store.seal(&key)).await??;
            }
            self.catch_up().await?;
            let number = newest.map_or(0, |newest| newest + 1);
            let key = segment_key(number);
            let created = store.create_exclusive(&key);
            let mut appender =
                match self.bounded("create", &key, self.call_deadline(), created).await? {
                    Ok(appender) => appender,
                    // Its writer was rolling, or a rival got here first: seal that one too.
                    Err(StoreError::AlreadyExists { .. }) => continue,
                    Err(error) => return Err(error.into()),
                };
            if !self.predecessor_exists(number).await? {
                // Truncated under us: we are far behind. The empty segment is below the newest
                // checkpoint, and truncation deletes it.
                self.rebuild().await?;
                continue;
            }
            let marker = self.leader_marker(leadership, member, Vec::new());
            let (term, position) = (marker.term, self.position());
            let bytes = record(&format::encode_batch(&marker));
            let append = appender.append_durable(&bytes);
            self.bounded("append", &key, Instant::now() + self.settings.flush_timeout, append)
                .await??;
            self.apply(&marker)?;
            *self.cursor.lock() = Some(Cursor {
                segment: number,
                offset: bytes.len() as u64,
                slot: position.slot + 1,
            });
            *self.active.lock().await =
                Some(ActiveSegment { number, appender, bytes: bytes.len() as u64 });
            tracing::info!(term, segment = number, slot = position.slot, "leader marker landed");
            return Ok(term);
        }
    }

    async fn predecessor_exists(&self, number: u64) -> Result<bool, JournalError> {
        let Some(before) = number.checked_sub(1) else {
            return Ok(true);
        };
        let key = segment_key(before);
        let exists = self.store.exists(&key);
        Ok(self.bounded("exists", &key, self.call_deadline(), exists).await??)
    }

    /// Appends the batch of `slot` to the active segment, rolling to a new one past the size
    /// limit. Any failure is final for this writer (DESIGN §3a: the leader resigns and the next
    /// leader's seal decides); a roll that finds the next segment taken, or its predecessor
    /// truncated away, is deposed.
    pub(crate) async fn append_record(
        &self,
        slot: u64,
        batch: Vec<u8>,
    ) -> Result<Append, JournalError> {
        let mut active = self.active.lock().await;
        let Some(segment) = active.as_mut() else {
            return Err(JournalError::Closed);
        };
        let deadline = Instant::now() + self.settings.flush_timeout;
        if segment.bytes >= self.settings.segment_roll_bytes {
            let key = segment_key(segment.number);
            self.bounded("close", &key, deadline, segment.appender.close()).await??;
            let number = segment.number + 1;
            let key = segment_key(number);
            let store = self.appendable()?;
            *active = None;
            let appender =
                match self.bounded("create", &key, deadline, store.create_exclusive(&key)).await? {
                    Ok(appender) => appender,
                    Err(StoreError::AlreadyExists { .. }) => {
                        return Err(JournalError::Deposed {
                            slot,
                            reason: format!("another leader created {key}"),
                        })
                    }
                    Err(error) => return Err(error.into()),
                };
            if !self.predecessor_exists(number).await? {
                return Ok(Append::TruncatedAway);
            }
            *active = Some(ActiveSegment { number, appender, bytes: 0 });
        }
        let segment = active.as_mut().expect("set above");
        let key = segment_key(segment.number);
        let bytes = record(&batch);
        let append = segment.appender.append_durable(&bytes);
        match self.bounded("append", &key, deadline, append).await? {
            Ok(()) => {
                segment.bytes += bytes.len() as u64;
                self.note_success();
                Ok(Append::Landed)
            }
            Err(error) => {
                self.note_failure(&error);
                *active = None;
                Err(error.into())
            }
        }
    }

    /// Appends `bytes` as they are to the active segment: a test's torn record.
    #[cfg(any(test, feature = "testkit"))]
    pub async fn append_raw_for_tests(&self, bytes: &[u8]) -> Result<(), JournalError> {
        let mut active = self.active.lock().await;
        let segment = active.as_mut().ok_or(JournalError::Closed)?;
        Ok(segment.appender.append_durable(bytes).await?)
    }

    /// Closes the segment this journal appended to as leader, if any: a leader that steps down
    /// on purpose (SIGTERM) lets the next one seal at once, not after HDFS's block recovery. A
    /// failure changes nothing (the next leader's seal decides); it is only logged.
    pub async fn close_active_segment(&self) {
        let Some(mut segment) = self.active.lock().await.take() else {
            return;
        };
        let key = segment_key(segment.number);
        let close = segment.appender.close();
        match self.bounded("close", &key, self.call_deadline(), close).await {
            Ok(Ok(())) => tracing::info!(segment = %key, "closed the segment on stepping down"),
            Ok(Err(error)) => {
                tracing::debug!(%error, "closing the segment on stepping down failed")
            }
            Err(error) => tracing::debug!(%error, "closing the segment on stepping down hung"),
        }
    }

    /// Drops the segment this journal appended to as leader (the next leader seals it).
    pub(crate) async fn drop_active_segment(&self) {
        *self.active.lock().await = None;
    }

    /// Deletes whole segments every slot of which is below `keep_from`, one at a time in
    /// ascending order; never the newest. Returns how many.
    pub(crate) async fn truncate_segments(&self, keep_from: u64) -> Result<usize, JournalError> {
        let numbers = self.segment_numbers().await?;
        let mut firsts = Vec::with_capacity(numbers.len());
        for number in &numbers {
            firsts.push(self.first_slot(*number).await?);
        }
        let mut deleted = 0;
        for (index, number) in numbers.iter().enumerate() {
            // Slots ascend along the segments: the next non-empty one's first slot bounds this one's.
            let next_first = firsts[index + 1..].iter().flatten().next();
            if next_first.is_none_or(|first| *first > keep_from) {
                break;
            }
            let key = segment_key(*number);
            self.bounded("delete", &key, self.call_deadline(), self.store.delete(&key)).await??;
            deleted += 1;
        }
        Ok(deleted)
    }
}
