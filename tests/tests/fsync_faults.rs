//! fsync failures under a real master ("fsyncgate"): an `LD_PRELOAD` shim (tests/fsync-eio)
//! makes the master's fsyncs fail with EIO. A write whose fsync failed is never acknowledged —
//! not even when the object reads back from the page cache — the leader stops serving, the
//! master's status names the failure, and the cluster serves again once fsyncs work. A hung
//! fsync makes the leader give up after the flush timeout and resign, so a standby serves.

use std::time::Duration;

use lode_client::master::{MasterClient, RetryPolicy};
use lode_tests::cluster::{Cluster, Election};
use lode_tests::faults::{trials, wait_caught_up_standby, wait_for_reported, FsyncShim, Load};

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// A client that gives up after `patience`.
fn client(cluster: &Cluster, patience: Duration) -> MasterClient {
    let retry = RetryPolicy {
        base_sleep: Duration::from_millis(10),
        max_sleep: Duration::from_millis(200),
        max_duration: patience,
    };
    MasterClient::from_config(&cluster.client_config()).unwrap().with_retry(retry)
}

/// With fsyncs of the journal's folder failing (the object is linked and reads back) and then
/// of its files, no create is acknowledged, the master says why, and it serves again after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_whose_fsync_failed_is_never_acknowledged() {
    let shim = FsyncShim::build();
    let election = Election::Embedded { lease_timeout: "30s".into() };
    let cluster = shim.cluster(1, election, &[], HELPER);
    cluster.leader(None).await;
    let patient = client(&cluster, Duration::from_secs(60));
    patient.create_directory("/before", false, false).await.unwrap();

    for (what, path) in [("dir", "/during-dir"), ("file", "/during-file")] {
        shim.set(what);
        let refused =
            client(&cluster, Duration::from_secs(3)).create_directory(path, false, false).await;
        assert!(refused.is_err(), "{path} acknowledged with {what} fsyncs failing: {refused:?}");
        let reported = wait_for_reported(&cluster, "not durable").await;
        assert!(reported.contains("fsync"), "{reported}");

        shim.clear();
        let after = format!("/after-{what}");
        patient.create_directory(&after, false, false).await.unwrap();
        assert!(patient.exists(&after).await.unwrap());
    }
    assert!(patient.exists("/before").await.unwrap(), "an acknowledged create was lost");
}

/// The flush timeout of the hung-fsync test: how long a leader waits on a store call.
const FLUSH_TIMEOUT: &str = "2s";

/// With the leader's fsyncs hung (not failing: a dying disk), under client load: the leader
/// gives its write up after the flush timeout, stops serving and resigns, a standby serves,
/// the old leader says why it stepped down and follows the new one once fsyncs work, and the
/// namespace equals what the clients were acknowledged. Each trial hangs the current leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_fsync_hands_leadership_to_a_standby() {
    let shim = FsyncShim::build();
    // The lease is long: only the journal's own bound can end a leadership here (the embedded
    // elector's renewals make no fsync, so they go on while the journal's hang).
    let election = Election::Embedded { lease_timeout: "30s".into() };
    let flush = [("alluxio.master.journal.flush.timeout".to_string(), FLUSH_TIMEOUT.to_string())];
    let cluster = shim.cluster(2, election, &flush, HELPER);
    let load = Load::start(&cluster, 4);
    for trial in 0..trials() {
        let hung = cluster.leader(None).await;
        load.progress(20, "before the leader's fsyncs hang").await;
        let pid = cluster.masters[hung].1.as_ref().unwrap().pid();
        shim.set(&format!("hang {pid}"));
        let took = load.progress(20, "with the old leader's fsyncs hung").await;
        let serving = cluster.leader(Some(hung)).await;
        println!("trial {trial}: master {serving} serves {took:?} after master {hung} hung");
        let status = cluster.statuses().await.into_iter().find(|(i, _)| *i == hung).unwrap().1;
        assert!(
            status.stepped_down.contains("did not return within"),
            "master {hung} does not say why it stepped down: {status:?}"
        );
        shim.clear();
        wait_caught_up_standby(&cluster, hung, serving, "after its fsyncs came back").await;
    }
    load.finish(&cluster).await;
}
