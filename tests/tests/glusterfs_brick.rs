//! A GlusterFS volume's brick process killed under a master's load. In a file of its own:
//! it breaks the volume, which every test of a process shares (one glusterd per machine).

use std::time::Duration;

use lode_tests::cluster::{Cluster, Election};
use lode_tests::faults::{wait_journal_health, Load};
use lode_tests::glusterfs::GlusterFs;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// Fails a hung run instead of stalling CI; far above how long the test takes.
const GUARD: Duration = Duration::from_secs(600);

/// The volume's brick process killed mid-load, then started again: the leader acknowledges
/// nothing while the volume cannot store, reports the journal unavailable, and carries on
/// with nothing lost or applied twice once the brick is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_brick_killed_mid_load_loses_nothing() {
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
