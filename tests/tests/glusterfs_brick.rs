//! A GlusterFS volume's brick process killed, or paused, under a master's load. In a file of its
//! own: it breaks the volume, which every test of a process shares (one glusterd per machine);
//! its tests take turns through [`VOLUME`].

use std::time::{Duration, Instant};

use lode_core::rpc::lode::master::MasterStatus;
use lode_tests::cluster::{Cluster, Election};
use lode_tests::faults::{trials, wait_journal_health, Load};
use lode_tests::glusterfs::GlusterFs;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// Fails a hung run instead of stalling CI; far above how long the test takes.
const GUARD: Duration = Duration::from_secs(600);

/// Held by each test while it breaks the shared volume.
static VOLUME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The volume's brick process killed mid-load, then started again: the leader acknowledges
/// nothing while the volume cannot store, reports the journal unavailable, and carries on
/// with nothing lost or applied twice once the brick is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_brick_killed_mid_load_loses_nothing() {
    let _volume = VOLUME.lock().await;
    let gluster = tokio::task::block_in_place(GlusterFs::shared);
    let folder = gluster.new_folder("brick");
    let journal = vec![("alluxio.master.journal.folder".to_string(), folder.clone())];
    let election = Election::Embedded { lease_timeout: "2s".into() };
    let cluster = Cluster::start_on(2, election, &journal, HELPER);
    let leader = cluster.leader(None).await;
    let load = Load::start(&cluster, 4);
    let run = async {
        load.progress(40, "before the brick is killed").await;
        gluster.kill_brick();
        let error = wait_journal_health(&cluster, leader, true, GUARD).await.unwrap();
        assert!(error.contains(&folder), "the reported error names no folder: {error}");
        let stuck = load.acked();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(load.acked(), stuck, "writes were acknowledged with the brick dead");
        tokio::task::block_in_place(|| gluster.restart_brick());
        load.progress(40, "after the brick came back").await;
        wait_journal_health(&cluster, leader, false, GUARD).await;
    };
    tokio::time::timeout(GUARD, run).await.expect("the test hung");
    load.finish(&cluster).await;
}

/// The volume's brick process paused (SIGSTOP, not killed: every call on the mount hangs) under
/// load: within the flush timeout the leader gives its write up, acknowledges nothing, stops
/// serving and says why (before, it froze silently for as long as the brick slept, its lease
/// renewing on other threads); after SIGCONT the cluster serves again with nothing lost or
/// applied twice. Every master hangs on the one brick, so none can serve while it sleeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_brick_ends_the_leadership_within_the_flush_timeout() {
    let _volume = VOLUME.lock().await;
    let gluster = tokio::task::block_in_place(GlusterFs::shared);
    let folder = gluster.new_folder("paused-brick");
    let settings = vec![
        ("alluxio.master.journal.folder".to_string(), folder.clone()),
        ("alluxio.master.journal.flush.timeout".to_string(), "2s".to_string()),
    ];
    // A lease far longer than the flush timeout: only the journal's own bound ends the term.
    let election = Election::Embedded { lease_timeout: "30s".into() };
    let cluster = Cluster::start_on(2, election, &settings, HELPER);
    let load = Load::start(&cluster, 4);
    for number in 0..trials() {
        let trial = paused_brick_trial(number, &cluster, &load, gluster, &folder);
        let outcome = tokio::time::timeout(Duration::from_secs(120), trial).await;
        outcome.expect("the leader never stepped down with the brick paused");
    }
    load.finish(&cluster).await;
}

/// Wakes the brick however a trial ends, or every later test would hang on the volume.
struct WakeOnDrop<'a>(&'a GlusterFs);

impl Drop for WakeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.resume_brick();
    }
}

/// One trial of the paused-brick test: pauses the brick under the load until the leader steps
/// down for it, then wakes it and waits for the load to go on.
async fn paused_brick_trial(
    trial: usize,
    cluster: &Cluster,
    load: &Load,
    gluster: &GlusterFs,
    folder: &str,
) {
    let leader = cluster.leader(None).await;
    load.progress(40, "before the brick is paused").await;
    let paused = Instant::now();
    gluster.pause_brick();
    let wake = WakeOnDrop(gluster);
    // Its newest step-down, once it is younger than the pause.
    let why = loop {
        let statuses = cluster.statuses().await;
        let status = statuses.into_iter().find(|(i, _)| *i == leader).map(|(_, s)| s);
        let since_pause = paused.elapsed().as_millis() as u64;
        let fresh =
            |s: &MasterStatus| !s.stepped_down.is_empty() && s.stepped_down_ago_ms < since_pause;
        if let Some(status) = status.filter(fresh) {
            break status.stepped_down;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("trial {trial}: master {leader} stepped down {:?} after the pause", paused.elapsed());
    assert!(why.contains("did not return within"), "stepped down for another reason: {why}");
    let path = folder.trim_start_matches("glusterfs://");
    assert!(why.contains(path), "names no folder: {why}");
    let stuck = load.acked();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(load.acked(), stuck, "writes were acknowledged with the brick paused");
    drop(wake);
    load.progress(40, "after the brick woke").await;
}
