//! The reference deployment's journal under faults (DESIGN §3a): `lode-master` processes
//! electing through a real ZooKeeper, their journal appended segments on a real HDFS (NameNode
//! and two DataNodes). A leader paused past its session wakes to a sealed segment; a leader cut
//! off from HDFS but not from ZooKeeper resigns. kill -9 mid-append, a DataNode lost and the
//! NameNode restarted are in `hdfs_journal.rs`, which runs on segments too.

use std::time::Duration;

use rustix::process::Signal;

use lode_tests::cluster::{Cluster, Election};
use lode_tests::faults::{
    assert_serves_no_reads, direct_write, trials, wait_caught_up_standby, Load,
};
use lode_tests::hdfs::Hdfs;
use lode_tests::zookeeper::ZooKeeper;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");
/// Fails a hung run instead of stalling CI; far above how long a test takes.
const GUARD: Duration = Duration::from_secs(900);

/// Three masters electing through `zookeeper` (2 s sessions) with their journal in a new
/// folder on `hdfs`; a journal request that takes 3 s fails.
fn cluster(zookeeper: &ZooKeeper, hdfs: &Hdfs, what: &str) -> Cluster {
    let election =
        Election::ZooKeeper { address: zookeeper.connect_string(), session_timeout: "2s".into() };
    let folder = format!("{}/{what}/{}", hdfs.uri(), uuid::Uuid::new_v4());
    let extra = [
        ("alluxio.master.journal.folder".to_string(), folder),
        ("alluxio.master.journal.request.timeout".to_string(), "3s".to_string()),
    ];
    Cluster::start_on(3, election, &extra, HELPER)
}

/// A leader paused (SIGSTOP) past its ZooKeeper session under client load, and woken (SIGCONT)
/// once the new leader sealed its segment and acknowledged writes: it acknowledges nothing
/// (its appends fail on the sealed segment), serves no read, rejoins as a caught-up standby
/// (its replica rebuilt), and the namespace equals the acknowledged history.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_leader_wakes_to_a_sealed_segment_and_acknowledges_nothing() {
    let zookeeper = ZooKeeper::standalone();
    let hdfs = tokio::task::block_in_place(Hdfs::shared);
    let mut cluster = cluster(&zookeeper, hdfs, "paused");
    cluster.leader(None).await;
    let load = Load::start(&cluster, 4);
    let run = async {
        for trial in 0..trials().min(3) {
            let what = format!("pause {trial}");
            load.progress(20, &format!("before {what}")).await;
            let old = cluster.leader(None).await;
            cluster.process(old).signal(Signal::STOP);
            let new = cluster.leader(Some(old)).await;
            load.progress(20, &format!("{what}: with the old leader paused")).await;
            cluster.process(old).signal(Signal::CONT);
            assert_serves_no_reads(&cluster, old, &what).await;
            let write = direct_write(&cluster, old, "/on-the-woken-leader").await;
            assert_eq!(write, Err(tonic::Code::Unavailable), "{what}: the woken leader wrote");
            wait_caught_up_standby(&cluster, old, new, &what).await;
        }
        load.progress(20, "after the last pause").await;
    };
    tokio::time::timeout(GUARD, run).await.expect("the test hung");
    load.finish(&cluster).await;
}

/// A leader cut off from HDFS (a firewall in the test's own network namespace) but not from
/// ZooKeeper or its clients: its next append fails within the request timeout, it stops
/// serving and resigns, a standby seals its segment and takes over, the clients carry on with
/// nothing lost or applied twice, and once the partition heals the old leader is a caught-up
/// standby.
#[test]
fn a_leader_cut_off_from_hdfs_resigns_and_loses_nothing() {
    lode_tests::netns::run_isolated(async {
        let zookeeper = ZooKeeper::standalone();
        let hdfs = Hdfs::start();
        let cluster = cluster(&zookeeper, &hdfs, "partitioned");
        let run = async {
            let old = cluster.leader(None).await;
            let load = Load::start(&cluster, 4);
            load.progress(40, "before the partition").await;
            let partition = lode_tests::netns::Partition::group_from_ports(
                Cluster::group_of(old),
                &hdfs.ports(),
            );
            let new = cluster.leader(Some(old)).await;
            load.progress(40, "with the old leader cut off from HDFS").await;
            assert_serves_no_reads(&cluster, old, "cut off from HDFS").await;
            let write = direct_write(&cluster, old, "/on-the-cut-off-leader").await;
            assert_eq!(write, Err(tonic::Code::Unavailable), "the cut-off leader took a write");
            partition.heal();
            wait_caught_up_standby(&cluster, old, new, "after healing").await;
            load.progress(20, "after healing").await;
            load.finish(&cluster).await;
        };
        tokio::time::timeout(GUARD, run).await.expect("the test hung");
    });
}
