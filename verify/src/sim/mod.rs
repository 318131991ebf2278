//! A seeded, deterministic simulation of the *real* `lode-core` journal code: three masters
//! (each a [`Journal`] over its own view of one in-memory store), an elector that grants terms
//! and sometimes pauses the leader past its lease first, clients that retry with operation ids,
//! standbys that tail and checkpoint, leaders that truncate. The store delays every call, loses
//! requests and answers, fails reads and lets puts hang and land later ([`SimStore`]). All of it
//! runs on one thread under tokio's paused clock, so a seed replays exactly.
//!
//! After each run, with the faults off and every hung put landed, it checks what the model in
//! [`crate::slots`] checks: every acknowledged mutation is in the history exactly once (nothing
//! lost, no retry applied twice), and every master's replica comes to equal that history.

mod store;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lode_core::elector::{Leadership, LeaseKeeper};
use lode_core::journal::{Journal, JournalError, JournalSettings, JournalWriter, OpId};
use lode_core::testkit::Ledger;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
pub use store::{MasterView, SimStore};

/// Masters in a run.
const MASTERS: usize = 3;
/// Clients in a run, each making [`CALLS`] mutations.
const CLIENTS: u64 = 4;
/// Mutations per client.
const CALLS: u64 = 40;
/// Terms granted at least (more while clients still wait); the leader of each may be paused
/// past its lease before the next is granted.
const TERMS: u64 = 10;
/// A run that has not finished its clients' calls in this much virtual time is stuck.
const STUCK: Duration = Duration::from_secs(600);

/// What one run did: enough to tell two runs of one seed apart if they differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Terms granted.
    pub terms: u64,
    /// Mutations acknowledged, in the order the clients were answered.
    pub acked: Vec<u64>,
    /// The final history: the values a fresh replica replays.
    pub history: Vec<u64>,
}

/// Journal settings of the run: a short flush timeout, so hung puts end leaderships.
fn settings() -> JournalSettings {
    JournalSettings {
        flush_timeout: Duration::from_secs(2),
        retry_interval: Duration::from_millis(50),
        poll_interval: Duration::from_millis(2),
        ..JournalSettings::for_tests()
    }
}

struct Cluster {
    store: Arc<SimStore>,
    views: Vec<Arc<MasterView>>,
    journals: Vec<Arc<Journal<Ledger>>>,
    /// Held by a master's tailer for each poll and by its leader role for the whole term: the
    /// two never run at once, as in `lode-master`.
    roles: Vec<tokio::sync::Mutex<()>>,
    /// Where clients send their mutations: the newest leader's writer.
    writer: Mutex<Option<JournalWriter<Ledger>>>,
    acked: Mutex<Vec<u64>>,
    /// What must never happen but did (a replica refusing the history, a corrupt object).
    violations: Mutex<Vec<String>>,
    done: AtomicBool,
}

/// Runs the simulation of `seed` and checks it; `Err` says what broke, with the seed.
pub fn run(seed: u64) -> Result<Outcome, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(simulate(seed)).map_err(|e| format!("seed {seed}: {e}"))
}

/// Retries `open` until the store lets it read (reads fail now and then).
async fn open(store: Arc<dyn lode_core::store::JournalStore>) -> Arc<Journal<Ledger>> {
    loop {
        if let Ok(journal) = Journal::open(store.clone(), settings(), Ledger::default).await {
            return Arc::new(journal);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn simulate(seed: u64) -> Result<Outcome, String> {
    let store = SimStore::new(seed);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_5eed);
    let views: Vec<_> = (0..MASTERS).map(|_| MasterView::new(store.clone())).collect();
    let mut journals = Vec::new();
    for view in &views {
        journals.push(open(view.clone()).await);
    }
    let cluster = Arc::new(Cluster {
        store: store.clone(),
        views,
        journals,
        roles: (0..MASTERS).map(|_| tokio::sync::Mutex::new(())).collect(),
        writer: Mutex::new(None),
        acked: Mutex::new(Vec::new()),
        violations: Mutex::new(Vec::new()),
        done: AtomicBool::new(false),
    });
    for m in 0..MASTERS {
        tokio::spawn(tail(cluster.clone(), m, seed));
    }
    let clients: Vec<_> =
        (0..CLIENTS).map(|c| tokio::spawn(client(cluster.clone(), c, seed))).collect();

    let started = tokio::time::Instant::now();
    let mut term = 0;
    while term < TERMS || clients.iter().any(|c| !c.is_finished()) {
        if started.elapsed() > STUCK {
            let violations = cluster.violations.lock().join("; ");
            return Err(format!("the clients were not all answered in {STUCK:?} ({violations})"));
        }
        term += 1;
        let m = rng.random_range(0..MASTERS);
        let (leadership, keeper) = Leadership::new(term, u64::MAX);
        let mut leader = tokio::spawn(lead(cluster.clone(), m, leadership, seed ^ term));
        let term_length = Duration::from_millis(rng.random_range(30..250));
        tokio::select! {
            biased;
            _ = &mut leader => {}
            () = tokio::time::sleep(term_length) => {}
        }
        if term <= TERMS && rng.random_bool(0.5) {
            // Paused past its lease: the next term is granted while it sleeps.
            cluster.views[m].pause(Duration::from_millis(rng.random_range(0..3_000)));
        }
        end_term(&keeper, leader).await;
    }
    cluster.done.store(true, Ordering::Relaxed);
    check(&cluster, term).await
}

/// The elector moves on: the lease ends (the old leader may not notice until it wakes).
async fn end_term(keeper: &LeaseKeeper, leader: tokio::task::JoinHandle<()>) {
    keeper.lose("the simulation ended the term");
    // The old leader's task ends in its own time; it must not hold up the next term.
    drop(leader);
}

/// Faults off, hung puts landed, every master caught up: the checks.
async fn check(cluster: &Cluster, terms: u64) -> Result<Outcome, String> {
    cluster.store.calm();
    tokio::time::sleep(Duration::from_secs(30)).await;
    if let Some(violation) = cluster.violations.lock().first() {
        return Err(violation.clone());
    }
    let fresh = open(cluster.store.clone()).await;
    fresh.catch_up().await.map_err(|e| format!("replaying the final journal: {e}"))?;
    let history = fresh.replica().read().state().values.clone();
    let acked = cluster.acked.lock().clone();
    for value in &acked {
        let copies = history.iter().filter(|v| *v == value).count();
        if copies != 1 {
            return Err(format!("acknowledged value {value} is in the history {copies} times"));
        }
    }
    let mut sorted = history.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(format!("a mutation was applied twice: {history:?}"));
    }
    for (m, journal) in cluster.journals.iter().enumerate() {
        let _role = cluster.roles[m].lock().await;
        journal.catch_up().await.map_err(|e| format!("master {m} catching up: {e}"))?;
        let values = journal.replica().read().state().values.clone();
        if values != history {
            return Err(format!("master {m}'s replica {values:?} differs from {history:?}"));
        }
    }
    Ok(Outcome { terms, acked, history })
}

/// A store that fails or hangs is the simulation's doing; anything else is a violation.
fn expected(error: &JournalError) -> bool {
    matches!(
        error,
        JournalError::Store(_)
            | JournalError::Hung { .. }
            | JournalError::Timeout { .. }
            | JournalError::Deposed { .. }
            | JournalError::Abandoned { .. }
            | JournalError::Closed
    )
}

/// Master `m`'s standby work: poll the journal, look for checkpoints, write some.
async fn tail(cluster: Arc<Cluster>, m: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ ((m as u64 + 1) << 32));
    let journal = &cluster.journals[m];
    while !cluster.done.load(Ordering::Relaxed) {
        {
            let _role = cluster.roles[m].lock().await;
            let step = async {
                journal.poll().await?;
                if rng.random_bool(0.05) {
                    journal.catch_up().await?;
                }
                if rng.random_bool(0.02) {
                    journal.write_checkpoint().await?;
                }
                Ok::<(), JournalError>(())
            };
            if let Err(error) = step.await {
                if !expected(&error) {
                    cluster.violations.lock().push(format!("master {m} tailing: {error}"));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Master `m` leads `leadership` until it ends or its writer stops: takes over, serves the
/// clients, checkpoints and truncates; then rebuilds its replica as a standby.
async fn lead(cluster: Arc<Cluster>, m: usize, leadership: Leadership, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let journal = &cluster.journals[m];
    let _role = cluster.roles[m].lock().await;
    match journal.take_over(leadership.clone(), &format!("master-{m}")).await {
        Ok(writer) => {
            *cluster.writer.lock() = Some(writer.clone());
            loop {
                let pause = Duration::from_millis(rng.random_range(10..80));
                tokio::select! {
                    biased;
                    _ = writer.stopped() => break,
                    () = leadership.lost() => break,
                    () = tokio::time::sleep(pause) => {}
                }
                let housekeeping = async {
                    if rng.random_bool(0.3) {
                        journal.write_checkpoint().await?;
                    }
                    journal.truncate().await?;
                    Ok::<(), JournalError>(())
                };
                if let Err(error) = housekeeping.await {
                    if !expected(&error) {
                        cluster.violations.lock().push(format!("master {m} leading: {error}"));
                    }
                }
            }
        }
        Err(error) if !expected(&error) => {
            cluster.violations.lock().push(format!("master {m} taking over: {error}"));
        }
        Err(_) => {}
    }
    // Back to standby: start again from the newest checkpoint and the log.
    while let Err(error) = journal.rebuild().await {
        if !expected(&error) {
            cluster.violations.lock().push(format!("master {m} rebuilding: {error}"));
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Client `c`: its calls in turn, a few milliseconds apart, each retried (same operation id)
/// until acknowledged.
async fn client(cluster: Arc<Cluster>, c: u64, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ ((c + 1) << 48));
    for call in 0..CALLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
        let value = c * 1_000 + call;
        let id = OpId { client: c + 1, call: call + 1 };
        loop {
            let writer = cluster.writer.lock().clone();
            if let Some(writer) = writer {
                if writer.submit(Some(id), value).await.is_ok() {
                    cluster.acked.lock().push(value);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
