//! Masters on the embedded elector as real processes under faults: a leader killed under
//! client load, a leader paused past its lease, discovery through the elector.

use std::time::Duration;

use lode_client::master::MasterClient;
use lode_tests::cluster::Cluster;
use lode_tests::faults::{kill_trials, pause_trial, trials};

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// Fails a hung run instead of stalling CI; far above how long a trial takes.
const GUARD: Duration = Duration::from_secs(600);

/// Killing the leader with SIGKILL under load from several clients, trial after trial: clients
/// see no error (only latency), nothing acknowledged is lost, nothing applies twice, and the
/// final namespace equals the model built from the acknowledged operations.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_under_load_loses_nothing() {
    let mut cluster = Cluster::start(3, "2s", HELPER);
    tokio::time::timeout(GUARD, kill_trials(&mut cluster, trials())).await.expect("the test hung");
}

/// A leader paused (SIGSTOP) until a standby has taken over acknowledges nothing after it
/// wakes and serves no stale read: it answers UNAVAILABLE, then rejoins as a standby.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_leader_serves_nothing_when_it_wakes() {
    for trial in 0..trials().min(3) {
        let mut cluster = Cluster::start(2, "1s", HELPER);
        let what = format!("trial {trial}");
        tokio::time::timeout(GUARD, pause_trial(&mut cluster, &what)).await.expect("hung");
    }
}

/// Without `alluxio.master.rpc.addresses`, a client on the masters' host finds the leader through
/// the embedded elector, and follows it through a failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_finds_the_leader_through_the_elector() {
    let mut cluster = Cluster::start(2, "2s", HELPER);
    let first = cluster.leader(None).await;
    let config = lode_core::config::Config::from_pairs([
        ("alluxio.work.dir", cluster.work_dir().display().to_string()),
        // Nothing listens here: only the elector can point the client at the leader.
        ("alluxio.master.hostname", "127.0.0.1".to_string()),
        ("alluxio.master.rpc.port", "1".to_string()),
    ])
    .unwrap();
    let client = MasterClient::from_config(&config).unwrap();
    client.create_directory("/found", false, false).await.unwrap();
    cluster.kill(first);
    cluster.leader(Some(first)).await;
    client.create_directory("/found-again", false, false).await.unwrap();
    assert!(client.exists("/found").await.unwrap());
}
