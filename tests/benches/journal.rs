//! Journal throughput on the `local` store: committed entries/s with 1, 16 and 64 concurrent
//! appenders (group commit: each appender waits for its entry to be durable before the next),
//! and replay entries/s of a fresh standby. Prints the median of several runs, and with each
//! commit rate the store's put latency during it: one put is in flight at a time, so entries
//! per batch ÷ put latency bounds the rate.
//!
//! `cargo bench -p lode-tests --bench journal` (the journal goes under `target/`; set
//! `LODE_BENCH_DIR` to measure another disk; `LODE_BENCH_RUNS` and `LODE_BENCH_SECONDS` to change the sampling).
//!
//! `LODE_BENCH_JOURNAL=hdfs` measures on a real HDFS the bench starts (NameNode + 2 DataNodes)
//! instead: the commit rates of the log in appended segments and in one object per slot, side
//! by side in the same run, and one raw durable append (write + hsync) beside them.

use lode_backend_hdfs as _;
use lode_tests::bench::{env_or, journal_write_totals, median};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lode_core::journal::{Journal, JournalSettings};
use lode_core::store::{JournalStore, LocalStore};
use lode_core::testkit::journal::lease;
use lode_core::testkit::Ledger;

/// Where a bench's journals go: a local folder, or new folders on an HDFS.
#[derive(Clone)]
enum Target {
    Local(std::path::PathBuf),
    /// An `hdfs://` URI, and whether the log goes into segments.
    Hdfs(String, bool),
}

fn store_in(target: &Target) -> (Option<tempfile::TempDir>, Arc<dyn JournalStore>) {
    match target {
        Target::Local(parent) => {
            let dir = tempfile::tempdir_in(parent).expect("temporary directory");
            let store: Arc<dyn JournalStore> =
                Arc::new(LocalStore::new(dir.path().join("journal")));
            (Some(dir), store)
        }
        Target::Hdfs(uri, _) => {
            let folder = format!("{uri}/bench/{}", uuid::Uuid::new_v4());
            let config =
                lode_core::config::Config::from_pairs([("alluxio.master.journal.folder", folder)])
                    .unwrap();
            (None, lode_core::store::open(&config).unwrap())
        }
    }
}

fn bench_settings(target: &Target) -> JournalSettings {
    JournalSettings {
        // The default folder size: the test settings' 16 slots a folder would add a folder
        // creation every 16 batches; and the default segment size.
        log_folder_slots: 100_000,
        segments: matches!(target, Target::Hdfs(_, true)),
        segment_roll_bytes: 10 << 20,
        ..JournalSettings::for_tests()
    }
}

async fn open_on(store: &Arc<dyn JournalStore>, target: &Target) -> Arc<Journal<Ledger>> {
    Arc::new(Journal::open(store.clone(), bench_settings(target), Ledger::default).await.unwrap())
}

async fn open(store: &Arc<dyn JournalStore>) -> Arc<Journal<Ledger>> {
    open_on(store, &Target::Local(std::path::PathBuf::new())).await
}

/// One commit-rate sample.
struct CommitSample {
    entries_per_second: f64,
    entries_per_batch: f64,
    put_micros: f64,
}

/// Committed entries per second with `appenders` concurrent appenders for `seconds`.
async fn commit_rate(target: &Target, appenders: usize, seconds: f64) -> CommitSample {
    let (_dir, store) = store_in(target);
    let journal = open_on(&store, target).await;
    let (puts_before, seconds_before) = journal_write_totals();
    let writer = journal.take_over(lease(1).0, "bench").await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..appenders)
        .map(|client| {
            let (writer, stop, committed) = (writer.clone(), stop.clone(), committed.clone());
            tokio::spawn(async move {
                let mut value = client as u64;
                while !stop.load(Ordering::Relaxed) {
                    writer.submit(None, value).await.unwrap();
                    committed.fetch_add(1, Ordering::Relaxed);
                    value += 1_000;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let entries = committed.load(Ordering::Relaxed) as f64;
    let batches = journal.position().slot as f64;
    let (puts, put_seconds) = journal_write_totals();
    CommitSample {
        entries_per_second: entries / elapsed,
        entries_per_batch: entries / batches.max(1.0),
        put_micros: (put_seconds - seconds_before) * 1e6 / (puts - puts_before).max(1.0),
    }
}

/// Replayed entries per second for a standby reading `entries` entries in batches of `batch`.
async fn replay_rate(parent: &std::path::Path, entries: u64, batch: u64) -> f64 {
    let (_dir, store) = store_in(&Target::Local(parent.to_path_buf()));
    let journal = open(&store).await;
    let writer = journal.take_over(lease(1).0, "bench").await.unwrap();
    // Fill with concurrent appenders so batches are as large as group commit makes them.
    let tasks: Vec<_> = (0..batch)
        .map(|client| {
            let writer = writer.clone();
            tokio::spawn(async move {
                for i in 0..entries / batch {
                    writer.submit(None, client * entries + i).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let standby = open(&store).await;
    let started = Instant::now();
    let applied = standby.catch_up().await.unwrap();
    assert_eq!(applied, entries - entries % batch + 1, "replayed everything plus the marker");
    applied as f64 / started.elapsed().as_secs_f64()
}

/// Replayed slots per second for a standby reading `slots` slots of one entry each (the small
/// batches of a lightly loaded leader): what bounds how fast a lagging standby, or a demoted
/// leader rebuilding its replica, catches up. The slots are written straight to the store.
async fn small_slot_replay_rate(parent: &std::path::Path, slots: u64) -> f64 {
    use lode_core::journal::format::encode_batch;
    use lode_core::journal::{Batch, Entry};
    let (_dir, store) = store_in(&Target::Local(parent.to_path_buf()));
    let journal = open(&store).await;
    let writer = journal.take_over(lease(1).0, "bench").await.unwrap();
    let start = journal.position();
    let numbers: Vec<u64> = (0..slots).collect();
    for run in numbers.chunks(256) {
        let puts = run.iter().map(|&n| {
            let entries = vec![Entry::Op { id: None, payload: n }];
            let (slot, first_seq) = (start.slot + n, start.seq + n);
            let batch = Batch { term: writer.term(), slot, first_seq, entries };
            let (store, key) = (store.clone(), journal.log_key(slot));
            async move { store.put_if_absent(&key, encode_batch(&batch)).await }
        });
        for put in futures_util::future::join_all(puts).await {
            put.unwrap();
        }
    }
    let standby = open(&store).await;
    let started = Instant::now();
    let applied = standby.catch_up().await.unwrap();
    assert_eq!(applied, slots + 1, "replayed every slot plus the marker");
    (slots + 1) as f64 / started.elapsed().as_secs_f64()
}

/// The disk's own cost of one exclusive create (temp file, fsync, link, directory fsync), with
/// no Lode code in the way: group commit with N waiting appenders cannot beat N per this.
fn raw_exclusive_create_micros(parent: &std::path::Path) -> f64 {
    use std::io::Write;
    let dir = tempfile::tempdir_in(parent).expect("temporary directory");
    let count = 500;
    let started = Instant::now();
    for i in 0..count {
        let temp = dir.path().join(format!(".t{i}"));
        let mut file = std::fs::File::create_new(&temp).unwrap();
        file.write_all(&[7; 512]).unwrap();
        file.sync_all().unwrap();
        std::fs::hard_link(&temp, dir.path().join(format!("k{i}"))).unwrap();
        std::fs::remove_file(&temp).unwrap();
        std::fs::File::open(dir.path()).unwrap().sync_all().unwrap();
    }
    started.elapsed().as_secs_f64() * 1e6 / count as f64
}

fn main() {
    let runs: usize = env_or("LODE_BENCH_RUNS", 5);
    let seconds: f64 = env_or("LODE_BENCH_SECONDS", 2.0);
    // Default to the build directory: on these machines /tmp can fsync three times slower
    // than the disk the project lives on, which would measure the wrong thing.
    let default_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../target");
    let parent = std::path::PathBuf::from(env_or("LODE_BENCH_DIR", default_dir.to_string()));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if env_or("LODE_BENCH_JOURNAL", "local".to_string()) == "hdfs" {
        hdfs_figures(&runtime, runs, seconds);
        return;
    }
    let target = Target::Local(parent.clone());
    println!("journal bench on the local store in {} ({runs} runs each, median)", parent.display());
    let raw = median((0..runs).map(|_| raw_exclusive_create_micros(&parent)).collect());
    println!(
        "disk     raw exclusive create: {raw:.0} µs (ceiling with 64 waiting appenders: {:.0} entries/s)",
        64e6 / raw
    );
    for appenders in [1usize, 16, 64] {
        let samples: Vec<CommitSample> =
            (0..runs).map(|_| runtime.block_on(commit_rate(&target, appenders, seconds))).collect();
        let rate = median(samples.iter().map(|s| s.entries_per_second).collect());
        let per_batch = median(samples.iter().map(|s| s.entries_per_batch).collect());
        let put = median(samples.iter().map(|s| s.put_micros).collect());
        println!(
            "commit   {appenders:>3} appenders: {rate:>12.0} entries/s  ({per_batch:.1} entries per \
             batch; puts took {put:.0} µs: at most {:.0} entries/s)",
            per_batch * 1e6 / put
        );
    }
    let entries: u64 = env_or("LODE_BENCH_REPLAY_ENTRIES", 1_000_000);
    let samples: Vec<f64> =
        (0..runs).map(|_| runtime.block_on(replay_rate(&parent, entries, 512))).collect();
    println!("replay   {entries} entries: {:>12.0} entries/s", median(samples));
    let slots: u64 = env_or("LODE_BENCH_REPLAY_SLOTS", 20_000);
    let samples: Vec<f64> =
        (0..runs).map(|_| runtime.block_on(small_slot_replay_rate(&parent, slots))).collect();
    println!("replay   {slots} one-entry slots: {:>8.0} slots/s", median(samples));
}

/// The HDFS figures: one raw durable append, then commit rates in segments and in slots, each
/// appender count measured both ways back to back.
fn hdfs_figures(runtime: &tokio::runtime::Runtime, runs: usize, seconds: f64) {
    let hdfs = lode_tests::hdfs::Hdfs::start();
    println!("journal bench on a real HDFS at {} ({runs} runs each, median)", hdfs.uri());
    let raw = runtime.block_on(async {
        let (_, store) = store_in(&Target::Hdfs(hdfs.uri(), true));
        let appendable = store.appendable().expect("HDFS appends");
        let mut samples = Vec::new();
        for run in 0..runs {
            let mut appender =
                appendable.create_exclusive(&format!("seg/{run:020}")).await.unwrap();
            let record = vec![7u8; 64 * 24];
            for _ in 0..20 {
                appender.append_durable(&record).await.unwrap(); // warm-up
            }
            let started = Instant::now();
            for _ in 0..200 {
                appender.append_durable(&record).await.unwrap();
            }
            samples.push(started.elapsed().as_secs_f64() * 1e6 / 200.0);
            appender.close().await.unwrap();
        }
        median(samples)
    });
    println!(
        "hdfs     raw append + hsync: {raw:.0} µs (ceiling with 64 waiting appenders: {:.0} entries/s)",
        64e6 / raw
    );
    for appenders in [1usize, 16, 64] {
        for segments in [true, false] {
            let target = Target::Hdfs(hdfs.uri(), segments);
            let samples: Vec<CommitSample> = (0..runs)
                .map(|_| runtime.block_on(commit_rate(&target, appenders, seconds)))
                .collect();
            let rate = median(samples.iter().map(|s| s.entries_per_second).collect());
            let per_batch = median(samples.iter().map(|s| s.entries_per_batch).collect());
            let put = median(samples.iter().map(|s| s.put_micros).collect());
            println!(
                "commit   {appenders:>3} appenders, {:<8}: {rate:>9.0} entries/s  ({per_batch:.1} \
                 entries per batch; appends took {put:.0} µs)",
                if segments { "segments" } else { "slots" }
            );
        }
    }
}
