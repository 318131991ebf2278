//! The `JournalStore` contract, as checks any backend must pass.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Fixture;
use crate::store::{ErrorKind, JournalStore};

/// Distinct, recognisable content for writer `writer` in round `round`.
fn content(round: usize, writer: usize, len: usize) -> Vec<u8> {
    let mut bytes = format!("round {round} writer {writer};").into_bytes();
    bytes.resize(len.max(bytes.len()), (writer % 251) as u8);
    bytes
}

/// A stored object reads back byte for byte; a missing key reads as `None`.
pub async fn put_then_get_returns_the_bytes(fixture: Fixture) {
    let store = fixture.store;
    assert_eq!(store.get("log/00000000000000000000").await.unwrap(), None);
    assert!(!store.exists("log/00000000000000000000").await.unwrap());
    let bytes = content(0, 0, 100_000);
    store.put_if_absent("log/00000000000000000000", bytes.clone()).await.unwrap();
    assert!(store.exists("log/00000000000000000000").await.unwrap());
    assert_eq!(store.get("log/00000000000000000000").await.unwrap(), Some(bytes));
    store.put_if_absent("FORMAT", b"top level".to_vec()).await.unwrap();
    assert_eq!(store.get("FORMAT").await.unwrap(), Some(b"top level".to_vec()));
}

/// Of 32 concurrent writers of one key exactly one wins and its bytes are stored; 200 rounds.
pub async fn exclusive_create_has_exactly_one_winner(fixture: Fixture) {
    const ROUNDS: usize = 200;
    const WRITERS: usize = 32;
    let store = fixture.store;
    for round in 0..ROUNDS {
        let key = format!("race/{round:06}");
        let tasks: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = store.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    let result = store.put_if_absent(&key, content(round, writer, 512)).await;
                    (writer, result)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (writer, result) = task.await.unwrap();
            match result {
                Ok(()) => winners.push(writer),
                Err(e) => assert_eq!(e.kind(), ErrorKind::AlreadyExists, "round {round}: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let stored = store.get(&key).await.unwrap();
        assert_eq!(stored, Some(content(round, winners[0], 512)), "round {round}");
    }
}

/// Once any racer's put returns, every racer reads the winner's bytes whole at once: no
/// store may show a landed object short or empty, even for a moment. 100 rounds of 3.
pub async fn a_landed_object_reads_whole_at_once(fixture: Fixture) {
    let store = fixture.store;
    for round in 0..100 {
        let key = format!("fresh/{round}/FORMAT");
        let racers: Vec<_> = (0..3)
            .map(|writer| {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move {
                    let put = store.put_if_absent(&key, content(round, writer, 64)).await;
                    (writer, put.is_ok(), store.get(&key).await.unwrap())
                })
            })
            .collect();
        let mut seen = Vec::new();
        for racer in racers {
            seen.push(racer.await.unwrap());
        }
        let winner = seen.iter().find(|(_, won, _)| *won).expect("someone wins").0;
        for (writer, _, read) in seen {
            assert_eq!(read, Some(content(round, winner, 64)), "round {round}, reader {writer}");
        }
    }
}

/// A reader polling a key while a large object is written sees nothing or all of it.
pub async fn readers_never_see_partial_objects(fixture: Fixture) {
    let store = fixture.store;
    for round in 0..5 {
        let key = format!("big/{round}");
        let bytes = content(round, 1, 8 << 20);
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (store, key, bytes, done) =
                (store.clone(), key.clone(), bytes.clone(), done.clone());
            tokio::spawn(async move {
                let mut reads = 0;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    if let Some(seen) = store.get(&key).await.unwrap() {
                        assert_eq!(seen.len(), bytes.len(), "partial object visible");
                        assert!(seen == bytes, "object visible with wrong content");
                    }
                    reads += 1;
                    if finished {
                        return reads;
                    }
                }
            })
        };
        store.put_if_absent(&key, bytes.clone()).await.unwrap();
        done.store(true, Ordering::Release);
        assert!(reader.await.unwrap() > 0);
    }
}

/// `list` returns exactly the keys under the prefix, without temporary objects.
pub async fn listing_returns_exactly_the_written_keys(fixture: Fixture) {
    let store = fixture.store;
    assert!(store.list("log/").await.unwrap().is_empty());
    let mut expected = Vec::new();
    for slot in [3u64, 1, 2, 10, 0] {
        let key = format!("log/{slot:020}");
        store.put_if_absent(&key, vec![slot as u8]).await.unwrap();
        expected.push(key);
    }
    store.put_if_absent("checkpoint/00000000000000000002", vec![1]).await.unwrap();
    expected.sort();
    let mut listed = store.list("log/").await.unwrap();
    if !store.capabilities().ordered_list {
        listed.sort();
    }
    assert_eq!(listed, expected);
    assert_eq!(store.list("checkpoint/").await.unwrap(), vec!["checkpoint/00000000000000000002"]);
}

/// Listing a folder shows what is in its sub-folders, by the sub-folder's key or by the keys
/// in it (the journal finds its log folders this way), and listing a sub-folder shows exactly
/// its objects.
pub async fn listing_a_folder_shows_its_sub_folders(fixture: Fixture) {
    let store = fixture.store;
    let nested = "log/00000000000000000016/00000000000000000017";
    store.put_if_absent(nested, vec![17]).await.unwrap();
    store.put_if_absent("log/00000000000000000032/00000000000000000040", vec![40]).await.unwrap();
    let listed = store.list("log/").await.unwrap();
    for folder in ["log/00000000000000000016", "log/00000000000000000032"] {
        let shown = |key: &String| key == folder || key.starts_with(&format!("{folder}/"));
        assert!(listed.iter().any(shown), "{folder} is not in {listed:?}");
    }
    assert_eq!(store.list("log/00000000000000000016/").await.unwrap(), vec![nested]);
}

/// Deleting removes the object; deleting a missing key succeeds; the key can be reused.
pub async fn deletes_are_idempotent(fixture: Fixture) {
    let store = fixture.store;
    store.put_if_absent("log/a", b"1".to_vec()).await.unwrap();
    store.delete("log/a").await.unwrap();
    assert_eq!(store.get("log/a").await.unwrap(), None);
    assert!(!store.exists("log/a").await.unwrap());
    store.delete("log/a").await.unwrap();
    store.delete("log/never-written").await.unwrap();
    assert!(store.list("log/").await.unwrap().is_empty());
    store.put_if_absent("log/a", b"2".to_vec()).await.unwrap();
    assert_eq!(store.get("log/a").await.unwrap(), Some(b"2".to_vec()));
}

/// Keys that could escape the journal folder or are malformed are refused, not written.
pub async fn bad_keys_are_refused(fixture: Fixture) {
    let store = fixture.store;
    for bad in ["", "/abs", "../escape", "log/../../x", "a//b", "a b", "log/\0", "log/./x", "ü"] {
        let err = store.put_if_absent(bad, b"x".to_vec()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Permanent, "{bad:?}: {err}");
        assert!(store.get(bad).await.is_err(), "{bad:?} was readable");
    }
}

/// A put abandoned mid-way leaves nothing or the whole object, and cleaning removes its
/// temporary garbage (a second clean finds nothing).
pub async fn temporary_garbage_is_cleaned(fixture: Fixture) {
    let store: Arc<dyn JournalStore> = fixture.store;
    let bytes = content(0, 0, 16 << 20);
    for round in 0..5 {
        let key = format!("abandoned/{round}");
        let task = {
            let (store, key, bytes) = (store.clone(), key.clone(), bytes.clone());
            tokio::spawn(async move { store.put_if_absent(&key, bytes).await })
        };
        tokio::time::sleep(Duration::from_millis(round)).await;
        task.abort();
        let _ = task.await;
        // The abandoned work may still be running on a blocking thread: give it time.
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(seen) = store.get(&key).await.unwrap() {
            assert!(seen == bytes, "abandoned put left a partial object");
        }
    }
    store.clean_temporary(Duration::ZERO).await.unwrap();
    assert_eq!(store.clean_temporary(Duration::ZERO).await.unwrap(), 0);
}
