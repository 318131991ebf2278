//! The journal protocol's promises (DESIGN §3), as checks run on top of any store.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::{Fault, FaultyStore, Fixture, Ledger};
use crate::elector::{monotonic_nanos, Leadership, LeaseKeeper};
use crate::journal::format::{encode_batch, Batch, Entry};
use crate::journal::{
    checkpoint_key, Journal, JournalError, JournalSettings, JournalWriter, Layout, OpId,
};
use crate::store::{ErrorKind, JournalStore};

/// The key of `slot` in a journal formatted with [`JournalSettings::for_tests`].
fn log_key(slot: u64) -> String {
    Layout::folders(JournalSettings::for_tests().log_folder_slots).log_key(slot)
}

/// Opens a journal of [`Ledger`] over `store`.
pub async fn open(store: &Arc<dyn JournalStore>) -> Arc<Journal<Ledger>> {
    let journal = Journal::open(store.clone(), JournalSettings::for_tests(), Ledger::default)
        .await
        .expect("opening the journal");
    Arc::new(journal)
}

/// A leadership for `term` that stays valid for an hour unless its keeper ends it.
pub fn lease(term: u64) -> (Leadership, LeaseKeeper) {
    Leadership::new(term, monotonic_nanos() + 3_600_000_000_000)
}

/// Opens a journal and takes it over as leader of `term`.
pub async fn leader(
    store: &Arc<dyn JournalStore>,
    term: u64,
) -> (Arc<Journal<Ledger>>, JournalWriter<Ledger>) {
    let journal = open(store).await;
    let writer =
        journal.take_over(lease(term).0, &format!("leader-{term}")).await.expect("taking over");
    (journal, writer)
}

/// What a fresh replica replays from the store: the values and the leader terms in order.
pub async fn replay(store: &Arc<dyn JournalStore>) -> (Vec<u64>, Vec<u64>) {
    let journal = open(store).await;
    journal.catch_up().await.expect("replaying");
    let values = journal.replica().read().state().values.clone();
    // Leader markers are not in the state; read them from the log that is left.
    let mut terms = Vec::new();
    let mut slot = journal.checkpoints().await.unwrap().last().copied().unwrap_or(0);
    while let Some(bytes) = store.get(&log_key(slot)).await.unwrap() {
        let batch =
            crate::journal::format::decode_batch::<u64>(&log_key(slot), &bytes, slot).unwrap();
        for entry in batch.entries {
            if let Entry::Leader { term, .. } = entry {
                terms.push(term);
            }
        }
        slot += 1;
    }
    (values, terms)
}

/// A refusal because the writer no longer leads: deposed, or abandoned when the leadership
/// ended while the call waited.
fn is_deposed(result: &Result<u64, JournalError>) -> bool {
    matches!(result, Err(JournalError::Deposed { .. } | JournalError::Abandoned { .. }))
}

/// Once a newer leader's marker landed, the old writer's appends fail as deposed, are never
/// acknowledged, and never appear in the journal.
pub async fn a_deposed_writer_never_acknowledges(fixture: Fixture) {
    let store = fixture.store;
    let (_a, old) = leader(&store, 1).await;
    for value in 0..10 {
        old.submit(None, value).await.unwrap();
    }
    let (_b, new) = leader(&store, 2).await;
    new.submit(None, 100).await.unwrap();
    let late = old.submit(None, 999).await;
    assert!(is_deposed(&late), "old writer answered {late:?}");
    assert!(is_deposed(&old.submit(None, 998).await), "deposition must stick");
    new.submit(None, 101).await.unwrap();
    let (values, terms) = replay(&store).await;
    assert_eq!(values, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100, 101]);
    assert_eq!(terms, [1, 2]);
}

/// Leaders taking over at the same moment each land their marker in a slot of their own, and
/// only the newest one's writes are acknowledged; 20 rounds of 4 racers.
pub async fn racing_leaders_never_share_a_slot(fixture: Fixture) {
    let store = fixture.store;
    let mut acknowledged = Vec::new();
    let mut term = 0;
    for round in 0..20u64 {
        let mut journals = Vec::new();
        for _ in 0..4 {
            let journal = open(&store).await;
            journal.catch_up().await.unwrap();
            journals.push(journal);
        }
        let takeovers: Vec<_> = journals
            .into_iter()
            .map(|journal| {
                term += 1;
                let term = term;
                tokio::spawn(async move {
                    let writer = journal.take_over(lease(term).0, &format!("racer-{term}")).await;
                    (journal, writer.expect("takeover"))
                })
            })
            .collect();
        let mut writers = Vec::new();
        for task in takeovers {
            writers.push(task.await.unwrap());
        }
        let submits: Vec<_> = writers
            .iter()
            .enumerate()
            .map(|(index, (_, writer))| {
                let writer = writer.clone();
                let value = round * 10 + index as u64;
                tokio::spawn(async move { (value, writer.submit(None, value).await) })
            })
            .collect();
        let mut winners = 0;
        for task in submits {
            let (value, result) = task.await.unwrap();
            match result {
                Ok(_) => {
                    winners += 1;
                    acknowledged.push(value);
                }
                Err(e) => assert!(matches!(e, JournalError::Deposed { .. }), "{e}"),
            }
        }
        assert_eq!(winners, 1, "round {round}: {winners} writers acknowledged");
    }
    let (values, terms) = replay(&store).await;
    assert_eq!(values, acknowledged);
    let distinct: BTreeSet<u64> = terms.iter().copied().collect();
    assert_eq!((terms.len(), distinct.len()), (80, 80), "every racer's marker lands exactly once");
}

/// A standby tailing while 16 clients write sees exactly the acknowledged entries, each once,
/// at the position its reply named.
pub async fn a_tailer_sees_exactly_the_committed_sequence(fixture: Fixture) {
    let store = fixture.store;
    let (_journal, writer) = leader(&store, 1).await;
    tail_while_clients_write(writer, open(&store).await, 150).await;
}

/// Tails with `tailer` while 16 clients write `calls` entries each through `writer`, and checks
/// that the tailer applied exactly the acknowledged entries, each once, at the position its
/// reply named.
pub(crate) async fn tail_while_clients_write(
    writer: JournalWriter<Ledger>,
    tailer: Arc<Journal<Ledger>>,
    calls: u64,
) {
    let tailing = {
        let tailer = tailer.clone();
        tokio::spawn(async move {
            for _ in 0..200 {
                tailer.poll().await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let clients: Vec<_> = (0..16u64)
        .map(|client| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let mut acks = Vec::new();
                for call in 0..calls {
                    let value = client * 1_000 + call;
                    let id = OpId { client, call };
                    acks.push((value, writer.submit(Some(id), value).await.unwrap()));
                }
                acks
            })
        })
        .collect();
    let mut acks = Vec::new();
    for client in clients {
        acks.extend(client.await.unwrap());
    }
    tailing.await.unwrap();
    tailer.catch_up().await.unwrap();
    let seen = tailer.replica().read().state().values.clone();
    assert_eq!(seen.len(), acks.len(), "entries applied more or less than once");
    for (value, index) in &acks {
        assert_eq!(seen[*index as usize], *value, "reply named the wrong position");
    }
}

/// A leader over a [`FaultyStore`] that has written the value 1.
struct FaultyLeader {
    faulty: Arc<FaultyStore>,
    store: Arc<dyn JournalStore>,
    writer: JournalWriter<Ledger>,
    journal: Arc<Journal<Ledger>>,
    _fixture: Fixture,
}

async fn faulty_leader(fixture: Fixture) -> FaultyLeader {
    faulty_leader_with(fixture, JournalSettings::for_tests()).await
}

/// A leader over a [`FaultyStore`] whose appends give up after 300 ms.
async fn short_fused_faulty_leader(fixture: Fixture) -> FaultyLeader {
    let flush_timeout = Duration::from_millis(300);
    faulty_leader_with(fixture, JournalSettings { flush_timeout, ..JournalSettings::for_tests() })
        .await
}

async fn faulty_leader_with(fixture: Fixture, settings: JournalSettings) -> FaultyLeader {
    let faulty = FaultyStore::new(fixture.store.clone());
    let store: Arc<dyn JournalStore> = faulty.clone();
    let journal = Arc::new(Journal::open(store.clone(), settings, Ledger::default).await.unwrap());
    let writer = journal.take_over(lease(1).0, "leader-1").await.expect("taking over");
    writer.submit(None, 1).await.unwrap();
    FaultyLeader { faulty, store, writer, journal, _fixture: fixture }
}

/// A retry still running when the flush timeout ends the append is not called a hung store:
/// the writer stops with a timeout naming the failure that made it retry, and acknowledges
/// nothing.
pub async fn a_retry_cut_off_by_the_deadline_names_the_failure_before_it(fixture: Fixture) {
    let FaultyLeader { faulty, writer, _fixture, .. } = short_fused_faulty_leader(fixture).await;
    faulty.inject(Fault::Refuse);
    faulty.inject(Fault::LandThenHang);
    let refused = writer.submit(None, 2).await;
    match &refused {
        Err(JournalError::Timeout { last_error, .. }) => {
            assert!(last_error.contains("injected: refused"), "{last_error}")
        }
        other => panic!("answered {other:?}"),
    }
    assert!(writer.submit(None, 3).await.is_err(), "the writer went on after the timeout");
}

/// A caller whose batch is still being written when the leadership ends is answered then,
/// with `Abandoned` naming the elector's reason, not when (or if) the store returns: it can
/// retry at the new leader at once.
pub async fn a_write_in_flight_when_the_leadership_ends_is_answered_then(fixture: Fixture) {
    let faulty = FaultyStore::new(fixture.store.clone());
    let store: Arc<dyn JournalStore> = faulty.clone();
    // Only the leadership may end this write: the store call is allowed an hour.
    let flush_timeout = Duration::from_secs(3600);
    let settings = JournalSettings { flush_timeout, ..JournalSettings::for_tests() };
    let journal = Arc::new(Journal::open(store, settings, Ledger::default).await.unwrap());
    let (leadership, keeper) = lease(1);
    let writer = journal.take_over(leadership, "leader-1").await.unwrap();
    writer.submit(None, 1).await.unwrap();
    let slot = journal.position().slot;
    faulty.inject(Fault::LandThenHang);
    let in_flight = tokio::spawn(async move { writer.submit(None, 2).await });
    while faulty.get(&log_key(slot)).await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    keeper.lose("the session expired");
    let answer = tokio::time::timeout(Duration::from_secs(60), in_flight)
        .await
        .expect("the caller waited for the hung put")
        .unwrap();
    assert!(
        matches!(&answer, Err(JournalError::Abandoned { reason }) if reason == "the session expired"),
        "answered {answer:?}"
    );
}

/// A put whose answer was lost after it landed is recognised by reading back: acknowledged,
/// and present exactly once.
pub async fn an_ambiguous_put_that_landed_is_acknowledged_once(fixture: Fixture) {
    let FaultyLeader { faulty, store, writer, _fixture, .. } = faulty_leader(fixture).await;
    faulty.inject(Fault::LandThenAmbiguous);
    assert_eq!(writer.submit(None, 2).await.unwrap(), 1);
    assert_eq!(writer.submit(None, 3).await.unwrap(), 2);
    assert_eq!(replay(&store).await.0, [1, 2, 3]);
}

/// A put whose fsync failed is never acknowledged, though its object reads back (from the
/// page cache, perhaps): the writer stops, and so does every later submission to it.
pub async fn a_put_whose_fsync_failed_is_never_acknowledged(fixture: Fixture) {
    let FaultyLeader { faulty, writer, journal, _fixture, .. } = faulty_leader(fixture).await;
    let slot = journal.position().slot;
    faulty.inject(Fault::LandThenNotDurable);
    let refused = writer.submit(None, 2).await;
    assert!(
        matches!(&refused, Err(JournalError::Store(e)) if e.kind() == ErrorKind::NotDurable),
        "answered {refused:?}"
    );
    assert!(faulty.get(&log_key(slot)).await.unwrap().is_some(), "the object reads back");
    assert!(writer.submit(None, 3).await.is_err(), "the writer went on after an fsync failure");
    assert!(matches!(writer.stopped().await, JournalError::Store(_)));
}

/// A put that hangs (its object reads back, its call never returns) is given up after the flush
/// timeout and never acknowledged: the writer stops with [`JournalError::Hung`] naming the key.
pub async fn a_put_that_hangs_is_never_acknowledged(fixture: Fixture) {
    let FaultyLeader { faulty, writer, journal, _fixture, .. } =
        short_fused_faulty_leader(fixture).await;
    let slot = journal.position().slot;
    faulty.inject(Fault::LandThenHang);
    let refused = writer.submit(None, 2).await;
    assert!(
        matches!(&refused, Err(JournalError::Hung { key, .. }) if *key == log_key(slot)),
        "answered {refused:?}"
    );
    assert!(faulty.get(&log_key(slot)).await.unwrap().is_some(), "the object reads back");
    assert!(writer.submit(None, 3).await.is_err(), "the writer went on after a hung put");
    assert!(journal.outage().is_some_and(|o| o.error.contains("did not return within")));
}

/// A put that failed ambiguously without landing is put again: acknowledged once.
pub async fn an_ambiguous_put_that_did_not_land_is_retried(fixture: Fixture) {
    let FaultyLeader { faulty, store, writer, _fixture, .. } = faulty_leader(fixture).await;
    faulty.inject(Fault::DropThenAmbiguous);
    faulty.inject(Fault::DropThenAmbiguous);
    assert_eq!(writer.submit(None, 2).await.unwrap(), 1);
    assert_eq!(replay(&store).await.0, [1, 2]);
}

/// A put that failed ambiguously while another leader took the slot deposes the writer,
/// which acknowledges nothing.
pub async fn an_ambiguous_put_that_lost_the_slot_deposes(fixture: Fixture) {
    let FaultyLeader { faulty, store, writer, journal, _fixture } = faulty_leader(fixture).await;
    let position = journal.position();
    let rival = Batch::<u64> {
        term: 99,
        slot: position.slot,
        first_seq: position.seq,
        entries: vec![Entry::Leader { term: 99, member: "rival".into() }],
    };
    faulty.inject(Fault::OtherWriterThenAmbiguous(encode_batch(&rival)));
    assert!(is_deposed(&writer.submit(None, 2).await));
    let (values, terms) = replay(&store).await;
    assert_eq!(values, [1]);
    assert_eq!(terms, [1, 99]);
}

/// A leader paused while a newer leader wrote, checkpointed twice and truncated wakes up to a
/// re-opened slot key: its put lands, but it sees the slot was truncated away and never
/// acknowledges — even with a lease that still looks valid.
pub async fn a_writer_paused_across_truncation_never_acknowledges(fixture: Fixture) {
    let store = fixture.store;
    let (_a, paused) = leader(&store, 1).await;
    for value in 0..5 {
        paused.submit(None, value).await.unwrap();
    }
    let (newer, writer) = leader(&store, 2).await;
    for value in 100..120 {
        writer.submit(None, value).await.unwrap();
    }
    newer.write_checkpoint().await.unwrap();
    for value in 120..130 {
        writer.submit(None, value).await.unwrap();
    }
    newer.write_checkpoint().await.unwrap();
    assert!(newer.truncate().await.unwrap() > 5, "truncation deleted the old slots");
    assert_eq!(store.get(&log_key(6)).await.unwrap(), None);

    let woken = paused.submit(None, 666).await;
    assert!(is_deposed(&woken), "paused writer answered {woken:?}");
    writer.submit(None, 130).await.unwrap();
    let (values, _) = replay(&store).await;
    let expected: Vec<u64> = (0..5).chain(100..131).collect();
    assert_eq!(values, expected);
}

/// A leader paused across truncation leaves its refused batch in the re-opened slot; neither
/// its own replica (back as a standby) nor a standby that lagged at that slot replays it into
/// a state of its own: both end equal to the newer leader's.
pub async fn replicas_never_follow_a_deposed_writers_stale_batch(fixture: Fixture) {
    let store = fixture.store;
    let (paused_journal, paused) = leader(&store, 1).await;
    for value in 0..5 {
        paused.submit(None, value).await.unwrap();
    }
    let lagging = open(&store).await;
    lagging.catch_up().await.unwrap();
    let stale_slot = paused_journal.position().slot;

    // The newer leader's marker takes the paused leader's next slot; a checkpoint right after
    // it makes that slot the last one truncation deletes, so the slot after it stays.
    let (newer, writer) = leader(&store, 2).await;
    newer.write_checkpoint().await.unwrap();
    for value in 100..120 {
        writer.submit(None, value).await.unwrap();
    }
    newer.write_checkpoint().await.unwrap();
    newer.truncate().await.unwrap();
    assert_eq!(store.get(&log_key(stale_slot)).await.unwrap(), None);
    assert!(store.get(&log_key(stale_slot + 1)).await.unwrap().is_some());

    // One entry, like the marker it replaces: the sequence numbers after it still line up.
    let woken = paused.submit(None, 666).await;
    assert!(is_deposed(&woken), "paused writer answered {woken:?}");
    assert!(store.get(&log_key(stale_slot)).await.unwrap().is_some(), "the stale batch is there");
    writer.submit(None, 120).await.unwrap();
    let expected = newer.replica().read().state().clone();

    paused_journal.rebuild().await.unwrap();
    assert_eq!(paused_journal.replica().read().state(), &expected, "the deposed leader's replica");
    assert_eq!(paused_journal.position(), newer.position());
    lagging.catch_up().await.unwrap();
    assert_eq!(lagging.replica().read().state(), &expected, "the standby that lagged");
    assert_eq!(lagging.position(), newer.position());
}

/// A standby that lagged behind truncation never applies a deposed leader's stale batch, not
/// even one of the term it knows whose slot's successor is gone too (found by the protocol
/// model, verify/): a poll lists the checkpoints after its reads and loads the newest instead
/// of any batch it covers, and reads on past it in the same poll.
pub async fn a_lagging_standby_never_applies_a_stale_batch(fixture: Fixture) {
    let store = fixture.store;
    let (_paused_journal, paused) = leader(&store, 1).await;
    for value in 0..5 {
        paused.submit(None, value).await.unwrap();
    }
    let lagging = open(&store).await;
    lagging.catch_up().await.unwrap();
    let stale_slot = lagging.position().slot;

    // The newer leader writes on, checkpoints twice, and truncation deletes the paused leader's
    // next slot and the one after it.
    let (newer, writer) = leader(&store, 2).await;
    for value in 100..120 {
        writer.submit(None, value).await.unwrap();
    }
    newer.write_checkpoint().await.unwrap();
    writer.submit(None, 120).await.unwrap();
    newer.write_checkpoint().await.unwrap();
    newer.truncate().await.unwrap();
    assert_eq!(store.get(&log_key(stale_slot + 1)).await.unwrap(), None);

    let woken = paused.submit(None, 666).await;
    assert!(is_deposed(&woken), "paused writer answered {woken:?}");
    assert!(store.get(&log_key(stale_slot)).await.unwrap().is_some(), "the stale batch is there");
    // Slots past the newest checkpoint: one poll reads on to them after loading it (a poll
    // that took the hole after the stale batch for the log's end stopped at the checkpoint).
    for value in 121..124 {
        writer.submit(None, value).await.unwrap();
    }
    lagging.poll().await.unwrap();
    let values = lagging.replica().read().state().values.clone();
    assert!(!values.contains(&666), "the lagging standby applied the stale batch: {values:?}");
    assert_eq!(lagging.replica().read().state(), newer.replica().read().state());
    assert_eq!(lagging.position(), newer.position());
}

/// A leader whose elector counts lower than the journal's newest term (a site that moved to
/// another elector) writes above it, so its batches are never taken for a deposed leader's.
pub async fn a_lower_elector_term_still_writes_above_the_journal(fixture: Fixture) {
    let store = fixture.store;
    let (_old, old) = leader(&store, 5).await;
    old.submit(None, 1).await.unwrap();
    let (_new, new) = leader(&store, 1).await;
    assert_eq!(new.term(), 6);
    new.submit(None, 2).await.unwrap();
    let (values, terms) = replay(&store).await;
    assert_eq!(values, [1, 2]);
    assert_eq!(terms, [5, 6]);
}

/// A leader whose lease has run out stops acknowledging, even when nobody took its slot.
pub async fn an_expired_lease_stops_acknowledgement(fixture: Fixture) {
    let store = fixture.store;
    let journal = open(&store).await;
    let (leadership, keeper) = Leadership::new(1, monotonic_nanos() + 60_000_000_000);
    let writer = journal.take_over(leadership, "short-lived").await.unwrap();
    writer.submit(None, 1).await.unwrap();
    keeper.lose("the test ended the lease");
    assert!(is_deposed(&writer.submit(None, 2).await));
    let (values, _) = replay(&store).await;
    assert_eq!(values, [1]);
}

/// A call retried on a new leader after failover gets the first attempt's answer and is not
/// applied twice.
pub async fn retries_after_failover_return_the_first_answer(fixture: Fixture) {
    let store = fixture.store;
    let (_a, old) = leader(&store, 1).await;
    let id = OpId { client: 7, call: 1 };
    let first = old.submit(Some(id), 42).await.unwrap();
    old.submit(Some(OpId { client: 7, call: 2 }), 43).await.unwrap();
    let (_b, new) = leader(&store, 2).await;
    assert_eq!(new.submit(Some(id), 42).await.unwrap(), first);
    assert_eq!(replay(&store).await.0, [42, 43]);
}

/// A new replica restarted from checkpoint plus log has the leader's exact state, including
/// the exactly-once table, after truncation.
pub async fn restart_from_checkpoint_gives_the_same_state(fixture: Fixture) {
    let store = fixture.store;
    let (journal, writer) = leader(&store, 1).await;
    for call in 0..300u64 {
        writer.submit(Some(OpId { client: 1, call }), call).await.unwrap();
        if call == 100 || call == 200 {
            journal.write_checkpoint().await.unwrap();
        }
    }
    journal.truncate().await.unwrap();
    let expected = journal.replica().read().state().clone();

    let restarted = open(&store).await;
    restarted.catch_up().await.unwrap();
    assert_eq!(restarted.replica().read().state(), &expected);
    assert_eq!(restarted.position(), journal.position());
    let writer = restarted.take_over(lease(2).0, "restarted").await.unwrap();
    let retried = writer.submit(Some(OpId { client: 1, call: 150 }), 150).await.unwrap();
    assert_eq!(retried, 150, "exactly-once table survived the checkpoint");
}

/// Corrupt log and checkpoint objects are errors naming the object and offset, never a panic
/// and never a silently partial state.
pub async fn corrupt_objects_are_reported_with_key_and_offset(fixture: Fixture) {
    let store = fixture.store;
    let (journal, writer) = leader(&store, 1).await;
    writer.submit(None, 1).await.unwrap();
    let next = journal.position().slot;
    store.put_if_absent(&log_key(next), b"LJB1 definitely not a batch".to_vec()).await.unwrap();
    let reader = open(&store).await;
    let err = reader.catch_up().await.unwrap_err();
    match &err {
        JournalError::Corrupt(corrupt) => assert_eq!(corrupt.key, log_key(next)),
        other => panic!("expected corruption, got {other}"),
    }
    assert!(err.to_string().contains("byte offset"), "{err}");

    store.put_if_absent(&checkpoint_key(1_000), vec![0xAB; 100]).await.unwrap();
    let err = Journal::open(store.clone(), JournalSettings::for_tests(), Ledger::default)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&checkpoint_key(1_000)), "{err}");
}

/// The log is spread over folders of the configured number of slots, so no folder of the store
/// grows past it; truncation empties the folders below the checkpoints, and a fresh replica
/// reads the rest across folder boundaries.
pub async fn the_log_is_spread_over_folders(fixture: Fixture) {
    let store = fixture.store;
    let per_folder = JournalSettings::for_tests().log_folder_slots;
    let (journal, writer) = leader(&store, 1).await;
    for value in 0..3 * per_folder {
        writer.submit(None, value).await.unwrap();
        if value == per_folder + 3 || value == 2 * per_folder + 5 {
            journal.write_checkpoint().await.unwrap();
        }
    }
    let slot = per_folder + 1;
    let key = format!("log/{:020}/{slot:020}", per_folder);
    assert_eq!(journal.log_key(slot), key);
    assert!(store.get(&key).await.unwrap().is_some(), "{key} holds slot {slot}");
    for folder in [0, per_folder, 2 * per_folder, 3 * per_folder] {
        let prefix = format!("log/{folder:020}/");
        let listed = store.list(&prefix).await.unwrap();
        assert!(listed.len() as u64 <= per_folder, "{prefix} holds {}", listed.len());
        assert!(listed.iter().all(|key| key.starts_with(&prefix)), "{listed:?}");
    }

    let keep_from = journal.checkpoints().await.unwrap()[0];
    assert!(journal.truncate().await.unwrap() as u64 >= keep_from, "slots below were deleted");
    for slot in [0, per_folder - 1, per_folder, keep_from - 1] {
        assert_eq!(store.get(&log_key(slot)).await.unwrap(), None, "slot {slot} is left");
    }
    assert!(store.get(&log_key(keep_from)).await.unwrap().is_some());
    // A second pass finds nothing more to delete, and a new process's first pass neither.
    assert_eq!(journal.truncate().await.unwrap(), 0);
    assert_eq!(open(&store).await.truncate().await.unwrap(), 0);

    writer.submit(None, 1_000).await.unwrap();
    let (values, _) = replay(&store).await;
    let expected: Vec<u64> = (0..3 * per_folder).chain([1_000]).collect();
    assert_eq!(values, expected);
}

/// A journal formatted before log folders existed (`FORMAT` version 1) is read and continued
/// in its flat `log/<slot>` layout: a slot's key never depends on the build that writes it.
pub async fn a_flat_journal_of_version_1_stays_flat(fixture: Fixture) {
    let store = fixture.store;
    let format = b"lode-journal\nversion: 1\ncluster-id: before-folders\n".to_vec();
    store.put_if_absent("FORMAT", format).await.unwrap();
    let (journal, writer) = leader(&store, 1).await;
    assert_eq!(journal.layout(), Layout::flat());
    assert_eq!(journal.cluster_id(), "before-folders");
    for value in 0..40 {
        writer.submit(None, value).await.unwrap();
        if value == 10 || value == 30 {
            journal.write_checkpoint().await.unwrap();
        }
    }
    assert!(store.get("log/00000000000000000039").await.unwrap().is_some(), "flat slot 39");
    assert!(journal.truncate().await.unwrap() >= 10);
    assert_eq!(store.get("log/00000000000000000005").await.unwrap(), None);

    let reader = open(&store).await;
    reader.catch_up().await.unwrap();
    assert_eq!(reader.replica().read().state().values, (0..40).collect::<Vec<u64>>());
}

/// A `FORMAT` this build cannot read is refused with what it says and what is read, never
/// guessed at: a wrong layout would put a writer's slots where nobody else looks.
pub async fn an_unknown_format_is_refused_by_name(fixture: Fixture) {
    let store = fixture.store;
    store.put_if_absent("FORMAT", b"lode-journal\nversion: 3\n".to_vec()).await.unwrap();
    let err = Journal::open(store.clone(), JournalSettings::for_tests(), Ledger::default)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("says version 3"), "{err}");
    assert!(err.to_string().contains("FORMAT"), "{err}");
}

/// A checkpoint falls due after a period of entries or of entry bytes, whichever comes first,
/// and writing one starts both counts again.
pub async fn checkpoints_fall_due_by_entries_or_by_bytes(fixture: Fixture) {
    let store = fixture.store;
    let settings = JournalSettings {
        checkpoint_period: 20,
        checkpoint_period_bytes: 64, // Eight values of 8 bytes.
        ..JournalSettings::for_tests()
    };
    let journal = Arc::new(Journal::open(store, settings, Ledger::default).await.unwrap());
    let writer = journal.take_over(lease(1).0, "leader-1").await.unwrap();
    for value in 0..7 {
        writer.submit(None, value).await.unwrap();
    }
    assert!(!journal.checkpoint_due(1), "56 bytes in 7 entries");
    writer.submit(None, 7).await.unwrap();
    assert!(journal.checkpoint_due(1), "64 bytes");
    assert!(!journal.checkpoint_due(2), "not twice the period");
    assert!(journal.checkpoint_if_due().await.unwrap().is_some());
    assert!(!journal.checkpoint_due(1), "a checkpoint starts the counts again");
    assert_eq!(journal.checkpoint_if_due().await.unwrap(), None);
}

/// A checkpoint bigger than the store's largest object (1 MiB here) is written in parts under
/// a manifest, loads whole into a new replica, and truncation deletes its parts with it.
pub async fn a_checkpoint_bigger_than_the_largest_object_is_written_in_parts(fixture: Fixture) {
    const LIMIT: u64 = 1 << 20;
    let store: Arc<dyn JournalStore> = FaultyStore::limited(fixture.store.clone(), LIMIT);
    let open_limited = || async {
        let settings = JournalSettings::from_config(&crate::config::Config::default(), &*store);
        assert_eq!(settings.batch_max_bytes as u64, LIMIT, "batches follow the store's limit");
        let settings = JournalSettings { log_folder_slots: 1_000, ..settings };
        Arc::new(Journal::open(store.clone(), settings, Ledger::default).await.unwrap())
    };
    let journal = open_limited().await;
    let writer = journal.take_over(lease(1).0, "leader-1").await.unwrap();
    // 40,000 values with operation ids: ~1.4 MB of state and exactly-once table.
    let mut calls = 0..40_000u64;
    let mut first_answer_of_5 = None;
    loop {
        let wave: Vec<u64> = calls.by_ref().take(2_000).collect();
        if wave.is_empty() {
            break;
        }
        let mut submits = tokio::task::JoinSet::new();
        for call in wave {
            let writer = writer.clone();
            let id = OpId { client: 9, call };
            submits.spawn(async move { (call, writer.submit(Some(id), call).await.unwrap()) });
        }
        while let Some(done) = submits.join_next().await {
            if let (5, answer) = done.unwrap() {
                first_answer_of_5 = Some(answer);
            }
        }
    }
    let first = journal.write_checkpoint().await.unwrap();
    let folders = journal.list_checkpoints().await.unwrap().parts_folders;
    assert_eq!(folders.len(), 1, "one checkpoint in parts: {folders:?}");
    let (_, folder) = folders.first().unwrap().clone();
    assert!(store.list(&folder).await.unwrap().len() >= 2, "{folder} holds its parts");

    let restarted = open_limited().await;
    restarted.catch_up().await.unwrap();
    assert_eq!(restarted.position(), journal.position());
    assert_eq!(restarted.replica().read().state(), journal.replica().read().state());
    let retried = restarted.take_over(lease(2).0, "leader-2").await.unwrap();
    let again = retried.submit(Some(OpId { client: 9, call: 5 }), 5).await.unwrap();
    assert_eq!(Some(again), first_answer_of_5, "the exactly-once table came from the parts");

    for value in 0..2 {
        retried.submit(None, value).await.unwrap();
        restarted.write_checkpoint().await.unwrap();
    }
    restarted.truncate().await.unwrap();
    assert!(restarted.checkpoints().await.unwrap()[0] > first, "{first} was truncated");
    assert!(store.list(&folder).await.unwrap().is_empty(), "parts of {first} are left");

    // A damaged part stops a new replica with the part's key, never a partial state.
    let (_, newest) = restarted.list_checkpoints().await.unwrap().parts_folders.pop_last().unwrap();
    let part = format!("{newest}00000000");
    store.delete(&part).await.unwrap();
    store.put_if_absent(&part, vec![7; 100]).await.unwrap();
    let refused = Journal::open(store.clone(), JournalSettings::for_tests(), Ledger::default).await;
    let error = refused.expect_err("a damaged part was loaded").to_string();
    assert!(error.contains(&part) && error.contains("the manifest"), "{error}");
}

/// Two masters writing the checkpoint of one slot at once (parts and manifest included) both
/// succeed, and what they leave loads into the same state.
pub async fn concurrent_checkpoint_writers_at_one_slot_agree(fixture: Fixture) {
    let store: Arc<dyn JournalStore> = FaultyStore::limited(fixture.store.clone(), 64 << 10);
    let open_limited = || async {
        let settings = JournalSettings::from_config(&crate::config::Config::default(), &*store);
        let settings = JournalSettings { log_folder_slots: 1_000, ..settings };
        Arc::new(Journal::open(store.clone(), settings, Ledger::default).await.unwrap())
    };
    let leader = open_limited().await;
    let writer = leader.take_over(lease(1).0, "leader-1").await.unwrap();
    let standby = open_limited().await;
    let mut values = 0..12_000u64; // ~96 KB of state: two parts of 64 KiB.
    for round in 0..3 {
        let mut submits = tokio::task::JoinSet::new();
        for value in values.by_ref().take(4_000) {
            let writer = writer.clone();
            submits.spawn(async move { writer.submit(None, value).await.unwrap() });
        }
        while submits.join_next().await.is_some() {}
        standby.catch_up().await.unwrap();
        assert_eq!(standby.position(), leader.position());
        let (a, b) = tokio::join!(leader.write_checkpoint(), standby.write_checkpoint());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b, "round {round}: both wrote the checkpoint of one slot");
        let fresh = open_limited().await;
        assert_eq!(fresh.position().slot, a, "round {round}: the checkpoint loads");
        assert_eq!(fresh.replica().read().state(), leader.replica().read().state());
    }
}

/// Truncation lists only what may hold slots it has not deleted: a pass after a new checkpoint
/// lists the folders between the old and the new bound, and a pass with nothing new lists no
/// log folder at all (it once listed all of `log/` every five seconds).
pub async fn truncation_lists_only_the_folders_it_has_not_swept(fixture: Fixture) {
    let faulty = FaultyStore::new(fixture.store.clone());
    let store: Arc<dyn JournalStore> = faulty.clone();
    let per_folder = JournalSettings::for_tests().log_folder_slots;
    let (journal, writer) = leader(&store, 1).await;
    for round in 0..3 {
        for value in 0..2 * per_folder {
            writer.submit(None, value).await.unwrap();
        }
        journal.write_checkpoint().await.unwrap();
        if round == 1 {
            journal.truncate().await.unwrap(); // The first pass looks for the lowest folder.
        }
    }
    faulty.take_listed();
    journal.truncate().await.unwrap();
    let listed = faulty.take_listed();
    let folders: Vec<&String> = listed.iter().filter(|p| p.starts_with("log/")).collect();
    assert!(!listed.contains(&"log/".to_string()), "listed all of log/: {listed:?}");
    assert!(folders.len() as u64 <= 3, "listed {folders:?} for 2 folders of new slots");
    journal.truncate().await.unwrap();
    let listed = faulty.take_listed();
    assert!(listed.iter().all(|p| !p.starts_with("log/")), "an idle pass listed {listed:?}");
}
