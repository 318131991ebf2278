//! The `appendable` capability's promises (DESIGN §3a), as checks run against any store that
//! offers it. A store without the capability fails every check: the suite is for those that
//! claim it.

use std::sync::Arc;
use std::time::Duration;

use super::Fixture;
use crate::store::{AppendableStore, ErrorKind, JournalStore};

fn appendable(store: &Arc<dyn JournalStore>) -> &dyn AppendableStore {
    store.appendable().expect("the store under test claims the appendable capability")
}

/// A record as these checks write it: its index (u32 LE) repeated over `len` bytes, so a
/// reader can tell whole records from torn ones and their order.
fn numbered_record(index: u32, len: usize) -> Vec<u8> {
    index.to_le_bytes().iter().copied().cycle().take(len.max(4)).collect()
}

/// Of concurrent `create_exclusive` calls on one key exactly one wins, and a key that exists
/// (written by `put_if_absent` or created before) is refused with `AlreadyExists`.
pub async fn concurrent_creators_have_exactly_one_winner(fixture: Fixture) {
    let store = fixture.store;
    let creators: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { appendable(&store).create_exclusive("seg/00000001").await })
        })
        .collect();
    let mut winners = Vec::new();
    for creator in creators {
        match creator.await.unwrap() {
            Ok(appender) => winners.push(appender),
            Err(e) => assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{} creators won", winners.len());
    winners[0].append_durable(b"first").await.unwrap();
    store.put_if_absent("seg/00000002", b"object".to_vec()).await.unwrap();
    let existing = appendable(&store).create_exclusive("seg/00000002").await.err();
    assert_eq!(existing.map(|e| e.kind()), Some(ErrorKind::AlreadyExists));
}

/// Once another party sealed the object, the writer's next append fails (and adds nothing),
/// and so does its close.
pub async fn an_append_after_a_seal_fails(fixture: Fixture) {
    let store = fixture.store;
    let mut writer = appendable(&store).create_exclusive("seg/00000001").await.unwrap();
    writer.append_durable(b"before").await.unwrap();
    let length = appendable(&store).seal("seg/00000001").await.unwrap();
    assert_eq!(length, Some(6));
    assert!(writer.append_durable(b"after").await.is_err(), "an append after the seal landed");
    let read = appendable(&store).read_from("seg/00000001", 0, 1 << 20).await.unwrap();
    assert_eq!(read.as_deref(), Some(&b"before"[..]));
    assert_eq!(appendable(&store).seal("seg/00000001").await.unwrap(), Some(6), "seal again");
    assert_eq!(appendable(&store).seal("seg/00000009").await.unwrap(), None, "missing key");
}

/// Every byte an append acknowledged before the seal is in the object after it, in order.
pub async fn acknowledged_bytes_survive_the_seal(fixture: Fixture) {
    let store = fixture.store;
    let mut writer = appendable(&store).create_exclusive("seg/00000001").await.unwrap();
    let mut acknowledged = Vec::new();
    for index in 0..50 {
        let record = numbered_record(index, 100 + index as usize * 37);
        writer.append_durable(&record).await.unwrap();
        acknowledged.extend_from_slice(&record);
    }
    let length = appendable(&store).seal("seg/00000001").await.unwrap();
    assert_eq!(length, Some(acknowledged.len() as u64));
    let read = appendable(&store).read_from("seg/00000001", 0, u64::MAX).await.unwrap();
    assert_eq!(read, Some(acknowledged.clone()));
    let tail = appendable(&store).read_from("seg/00000001", 1000, 10).await.unwrap();
    assert_eq!(tail.as_deref(), Some(&acknowledged[1000..1010]), "reads from an offset");
}

/// What a reader saw of an object being written is still there after the seal, and a reader
/// sees every acknowledged byte while the writer still holds the object.
pub async fn what_a_reader_saw_stays_after_the_seal(fixture: Fixture) {
    let store = fixture.store;
    let mut writer = appendable(&store).create_exclusive("seg/00000001").await.unwrap();
    let mut acknowledged = Vec::new();
    for index in 0..10 {
        let record = numbered_record(index, 300);
        writer.append_durable(&record).await.unwrap();
        acknowledged.extend_from_slice(&record);
    }
    let seen = appendable(&store).read_from("seg/00000001", 0, u64::MAX).await.unwrap().unwrap();
    assert_eq!(seen, acknowledged, "a reader sees every acknowledged byte of an open object");
    appendable(&store).seal("seg/00000001").await.unwrap();
    let after = appendable(&store).read_from("seg/00000001", 0, u64::MAX).await.unwrap().unwrap();
    assert!(after.starts_with(&seen), "the seal took back bytes a reader had seen");
    let missing = appendable(&store).read_from("seg/00000002", 0, 10).await.unwrap();
    assert_eq!(missing, None);
}

/// A writer cut off in the middle of appending leaves, after the seal, whole records in the
/// order it wrote them, at most one torn one at the end, and every acknowledged one.
pub async fn a_writer_cut_off_mid_append_leaves_whole_records(fixture: Fixture) {
    let store = fixture.store;
    let record_len = 64 << 10;
    let acknowledged = Arc::new(parking_lot::Mutex::new(0u32));
    let writing = {
        let store = store.clone();
        let acknowledged = acknowledged.clone();
        tokio::spawn(async move {
            let mut writer = appendable(&store).create_exclusive("seg/00000001").await.unwrap();
            for index in 0..2_000 {
                writer.append_durable(&numbered_record(index, record_len)).await.unwrap();
                *acknowledged.lock() = index + 1;
                // A store that answers at once must still let the abort in.
                tokio::task::yield_now().await;
            }
        })
    };
    while *acknowledged.lock() < 3 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    writing.abort();
    let _ = writing.await;
    let acknowledged = *acknowledged.lock();
    appendable(&store).seal("seg/00000001").await.unwrap();
    let bytes = appendable(&store).read_from("seg/00000001", 0, u64::MAX).await.unwrap().unwrap();
    let whole = bytes.len() / record_len;
    assert!(whole as u32 >= acknowledged, "{whole} whole records, {acknowledged} acknowledged");
    for (index, record) in bytes.chunks(record_len).enumerate() {
        let expected = numbered_record(index as u32, record_len);
        assert_eq!(record, &expected[..record.len()], "record {index} is not the one written");
    }
}
