//! The journal protocol over segments (DESIGN §3a), as checks run on any store with the
//! `appendable` capability.

use std::sync::Arc;

use super::journal::lease;
use super::{Fixture, Ledger};
use crate::journal::format::{encode_batch, Batch, Entry};
use crate::journal::{segment_key, Journal, JournalError, JournalSettings, JournalWriter, OpId};
use crate::store::JournalStore;

/// Opens a journal of [`Ledger`] over `store` with segments on.
pub async fn open(store: &Arc<dyn JournalStore>) -> Arc<Journal<Ledger>> {
    open_with(store, JournalSettings::for_segment_tests()).await
}

async fn open_with(
    store: &Arc<dyn JournalStore>,
    settings: JournalSettings,
) -> Arc<Journal<Ledger>> {
    Arc::new(Journal::open(store.clone(), settings, Ledger::default).await.expect("opening"))
}

/// Opens a journal with segments on and takes it over as leader of `term`.
pub async fn leader(
    store: &Arc<dyn JournalStore>,
    term: u64,
) -> (Arc<Journal<Ledger>>, JournalWriter<Ledger>) {
    let journal = open(store).await;
    let writer =
        journal.take_over(lease(term).0, &format!("leader-{term}")).await.expect("taking over");
    assert!(journal.in_segments(), "the leader of an appendable store writes segments");
    (journal, writer)
}

/// The values a fresh replica replays.
pub async fn replay(store: &Arc<dyn JournalStore>) -> Vec<u64> {
    let journal = open(store).await;
    journal.catch_up().await.expect("replaying");
    let values = journal.replica().read().state().values.clone();
    values
}

fn is_deposed(result: &Result<u64, JournalError>) -> bool {
    matches!(result, Err(JournalError::Deposed { .. } | JournalError::Abandoned { .. }))
}

async fn segments(store: &Arc<dyn JournalStore>) -> Vec<String> {
    store.list("seg/").await.unwrap()
}

/// The log is in segments, rolled past the size limit; once a newer leader took over, the old
/// writer's appends fail, are never acknowledged and never appear.
pub async fn a_deposed_writer_never_acknowledges_in_segments(fixture: Fixture) {
    let store = fixture.store;
    let (_a, old) = leader(&store, 1).await;
    for value in 0..100 {
        old.submit(None, value).await.unwrap();
    }
    assert!(segments(&store).await.len() > 1, "the writer rolled: {:?}", segments(&store).await);
    let (_b, new) = leader(&store, 2).await;
    new.submit(None, 1000).await.unwrap();
    let late = old.submit(None, 999).await;
    assert!(is_deposed(&late) || matches!(late, Err(JournalError::Store(_))), "{late:?}");
    assert!(old.submit(None, 998).await.is_err(), "the stopped writer must stay stopped");
    new.submit(None, 1001).await.unwrap();
    let expected: Vec<u64> = (0..100).chain([1000, 1001]).collect();
    assert_eq!(replay(&store).await, expected);
}

/// Leaders taking over at the same moment: only one ends up acknowledged per round, and the
/// journal holds exactly what was acknowledged; 10 rounds of 3 racers.
pub async fn racing_leaders_in_segments_acknowledge_one_history(fixture: Fixture) {
    let store = fixture.store;
    let mut acknowledged = Vec::new();
    let mut term = 0;
    for round in 0..10u64 {
        let mut takeovers = Vec::new();
        for _ in 0..3 {
            term += 1;
            let journal = open(&store).await;
            let term = term;
            takeovers.push(tokio::spawn(async move {
                let writer = journal.take_over(lease(term).0, &format!("racer-{term}")).await;
                (journal, writer)
            }));
        }
        let mut writers = Vec::new();
        for task in takeovers {
            let (journal, writer) = task.await.unwrap();
            if let Ok(writer) = writer {
                writers.push((journal, writer));
            }
        }
        for (index, (_, writer)) in writers.iter().enumerate() {
            let value = round * 10 + index as u64;
            if writer.submit(None, value).await.is_ok() {
                acknowledged.push(value);
            }
        }
    }
    assert!(!acknowledged.is_empty());
    assert_eq!(replay(&store).await, acknowledged);
}

/// A standby tailing while 16 clients write (the leader rolling segments all along) sees
/// exactly the acknowledged entries, each once, at the position its reply named.
pub async fn a_tailer_follows_the_segments_exactly(fixture: Fixture) {
    let store = fixture.store;
    let (_journal, writer) = leader(&store, 1).await;
    super::journal::tail_while_clients_write(writer, open(&store).await, 100).await;
}

/// A record cut short at a segment's end (a writer killed mid-append) is not history: the next
/// leader seals the segment, ignores the torn bytes, and its marker takes the torn batch's
/// slot in a new segment; every replica agrees.
pub async fn a_torn_record_at_a_segments_end_is_not_history(fixture: Fixture) {
    let store = fixture.store;
    let (journal, writer) = leader(&store, 1).await;
    for value in 0..3 {
        writer.submit(None, value).await.unwrap();
    }
    let position = journal.position();
    let newest = segments(&store).await.last().cloned().unwrap();
    // What a writer killed mid-append leaves: the length and half of the next batch.
    let torn = Batch {
        term: 1,
        slot: position.slot,
        first_seq: position.seq,
        entries: vec![Entry::Op { id: None, payload: 77u64 }],
    };
    let bytes = encode_batch(&torn);
    let mut record = (bytes.len() as u32).to_le_bytes().to_vec();
    record.extend_from_slice(&bytes[..bytes.len() / 2]);
    let appendable = store.appendable().unwrap();
    // Appended through a second handle of the same object would be refused; the test plays
    // the dying writer by sealing nothing and appending through the leader's own journal.
    drop(writer);
    journal.append_raw_for_tests(&record).await.unwrap();
    let tailer = open(&store).await;
    tailer.catch_up().await.unwrap();
    assert_eq!(tailer.replica().read().state().values, [0, 1, 2], "before the seal");

    let (next, writer) = leader(&store, 2).await;
    assert_eq!(next.replica().read().state().values, [0, 1, 2]);
    let sealed = appendable.read_from(&newest, 0, u64::MAX).await.unwrap().unwrap();
    assert!(sealed.ends_with(&record), "the torn bytes stay in the sealed segment");
    writer.submit(None, 3).await.unwrap();
    tailer.catch_up().await.unwrap();
    assert_eq!(tailer.replica().read().state().values, [0, 1, 2, 3], "the tailer moved on");
    assert_eq!(replay(&store).await, [0, 1, 2, 3]);
}

/// A journal written one object per slot (by a build before segments, or on a store without
/// them) goes on in segments under the first leader that knows them, with nothing lost; a
/// leader with segments turned off follows the journal into them.
pub async fn a_slot_journal_goes_on_in_segments(fixture: Fixture) {
    let store = fixture.store;
    let slots = open_with(&store, JournalSettings::for_tests()).await;
    let writer = slots.take_over(lease(1).0, "slots").await.unwrap();
    for value in 0..5 {
        writer.submit(None, value).await.unwrap();
    }
    assert!(!slots.in_segments() && segments(&store).await.is_empty());
    let (_b, writer) = leader(&store, 2).await;
    for value in 5..10 {
        writer.submit(None, value).await.unwrap();
    }
    assert!(!segments(&store).await.is_empty());
    slots.rebuild().await.unwrap();
    assert!(slots.in_segments(), "a replica that read the move follows it");
    assert_eq!(slots.replica().read().state().values, (0..10).collect::<Vec<_>>());
    let writer = slots.take_over(lease(3).0, "slots again").await.unwrap();
    writer.submit(None, 10).await.unwrap();
    let fresh = open_with(&store, JournalSettings::for_tests()).await;
    fresh.catch_up().await.unwrap();
    assert_eq!(fresh.replica().read().state().values, (0..11).collect::<Vec<_>>());
}

/// Truncation deletes whole segments below the checkpoints, and a replica started afterwards
/// has the leader's exact state, exactly-once table included.
pub async fn truncation_deletes_whole_segments_and_restart_agrees(fixture: Fixture) {
    let store = fixture.store;
    let (journal, writer) = leader(&store, 1).await;
    for call in 0..300u64 {
        writer.submit(Some(OpId { client: 1, call }), call).await.unwrap();
        if call == 100 || call == 200 {
            journal.write_checkpoint().await.unwrap();
        }
    }
    let before = segments(&store).await;
    let deleted = journal.truncate().await.unwrap();
    let after = segments(&store).await;
    assert!(after.len() < before.len() && deleted > 0, "{before:?} -> {after:?}");
    assert!(after.first() > before.first(), "the oldest segments went first");
    let expected = journal.replica().read().state().clone();
    let restarted = open(&store).await;
    restarted.catch_up().await.unwrap();
    assert_eq!(restarted.replica().read().state(), &expected);
    assert_eq!(restarted.position(), journal.position());
    let writer = restarted.take_over(lease(2).0, "restarted").await.unwrap();
    let retried = writer.submit(Some(OpId { client: 1, call: 150 }), 150).await.unwrap();
    assert_eq!(retried, 150, "exactly-once table survived the checkpoint");
}

/// A leader paused while newer leaders wrote, checkpointed and truncated its segments never
/// acknowledges again, whether its next append hits a sealed segment or a roll.
pub async fn a_writer_paused_across_segment_truncation_never_acknowledges(fixture: Fixture) {
    let store = fixture.store;
    let (_a, paused) = leader(&store, 1).await;
    for value in 0..5 {
        paused.submit(None, value).await.unwrap();
    }
    let (newer, writer) = leader(&store, 2).await;
    for value in 100..200 {
        writer.submit(None, value).await.unwrap();
    }
    newer.write_checkpoint().await.unwrap();
    for value in 200..300 {
        writer.submit(None, value).await.unwrap();
    }
    newer.write_checkpoint().await.unwrap();
    assert!(newer.truncate().await.unwrap() > 0);
    assert!(!store.exists(&segment_key(0)).await.unwrap(), "the paused leader's segment is gone");
    let woken = paused.submit(None, 666).await;
    assert!(woken.is_err(), "paused writer answered {woken:?}");
    writer.submit(None, 300).await.unwrap();
    let expected: Vec<u64> = (0..5).chain(100..301).collect();
    assert_eq!(replay(&store).await, expected);
}

/// A leader whose lease ended stops acknowledging, and a retry at the next leader returns the
/// first answer without applying twice.
pub async fn failover_in_segments_is_exactly_once(fixture: Fixture) {
    let store = fixture.store;
    let journal = open(&store).await;
    let (leadership, keeper) = lease(1);
    let old = journal.take_over(leadership, "short-lived").await.unwrap();
    let id = OpId { client: 7, call: 1 };
    let first = old.submit(Some(id), 42).await.unwrap();
    keeper.lose("the test ended the lease");
    assert!(is_deposed(&old.submit(None, 2).await));
    let (_b, new) = leader(&store, 2).await;
    assert_eq!(new.submit(Some(id), 42).await.unwrap(), first);
    assert_eq!(replay(&store).await, [42]);
}

/// A deposed leader rebuilds its replica and follows the new leader's segment as a standby,
/// polling while the new leader writes, until it has every entry.
pub async fn a_deposed_leader_rebuilds_and_follows(fixture: Fixture) {
    let store = fixture.store;
    let (old_journal, old) = leader(&store, 1).await;
    for value in 0..20 {
        old.submit(None, value).await.unwrap();
    }
    let (new_journal, new) = leader(&store, 2).await;
    assert!(old.submit(None, 999).await.is_err());
    old_journal.rebuild().await.unwrap();
    for value in 20..60 {
        new.submit(None, value).await.unwrap();
        old_journal.poll().await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while old_journal.position() != new_journal.position() {
        assert!(
            std::time::Instant::now() < deadline,
            "the deposed leader never caught up: at {:?}, the leader at {:?}; segments {:?}",
            old_journal.position(),
            new_journal.position(),
            segments(&store).await
        );
        old_journal.poll().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(old_journal.replica().read().state().values, (0..60).collect::<Vec<_>>());
}
