//! Three real `lode-master` processes electing through a real 3-node ZooKeeper ensemble, with
//! clients configured with nothing but ZooKeeper's address: kill -9 and SIGSTOP of the leader,
//! the loss of one ZooKeeper server and of the quorum, and the leader's session expired by
//! ZooKeeper while a journal write is in flight.

use std::time::{Duration, Instant};

use lode_core::rpc::lode::master::Role;
use lode_tests::cluster::{Cluster, Election};
use lode_tests::faults::{
    assert_serves_no_reads, direct_write_at, kill_trials, leader_and_term,
    losing_one_server_causes_no_failover, partitioned_leader_trials, pause_trial, read_answer,
    trials, wait_caught_up_standby, FsyncShim, Load,
};
use lode_tests::zookeeper::ZooKeeper;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");
/// Fails a hung run instead of stalling CI; far above how long the test takes.
const GUARD: Duration = Duration::from_secs(900);
/// Short sessions keep the tests quick; the default (10s) is measured by the bench.
const SESSION_TIMEOUT: &str = "2s";

fn cluster(zookeeper: &ZooKeeper) -> Cluster {
    let election = Election::ZooKeeper {
        address: zookeeper.connect_string(),
        session_timeout: SESSION_TIMEOUT.into(),
    };
    Cluster::start_with(3, election, HELPER)
}

/// kill -9 of the leader under client load, trial after trial: a standby takes over, clients
/// see no error, every acknowledged mutation survives and nothing applies twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_under_load_loses_nothing() {
    let zookeeper = ZooKeeper::ensemble(3);
    let mut cluster = cluster(&zookeeper);
    tokio::time::timeout(GUARD, kill_trials(&mut cluster, trials())).await.expect("hung");
}

/// A leader paused past its session timeout is replaced; when it wakes it serves no stale read,
/// acknowledges nothing and rejoins as a standby.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_leader_is_replaced_and_rejoins_as_a_standby() {
    let zookeeper = ZooKeeper::ensemble(3);
    let mut cluster = cluster(&zookeeper);
    for trial in 0..trials().min(3) {
        let what = format!("trial {trial}");
        tokio::time::timeout(GUARD, pause_trial(&mut cluster, &what)).await.expect("hung");
    }
}

/// Losing any one ZooKeeper server, each in turn for longer than the session timeout, causes
/// no failover: the same leader keeps the same term and clients see no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_one_zookeeper_server_causes_no_failover() {
    let mut zookeeper = ZooKeeper::ensemble(3);
    let cluster = cluster(&zookeeper);
    losing_one_server_causes_no_failover(&cluster, &mut zookeeper, Duration::from_secs(3)).await;
}

/// Without a ZooKeeper quorum the leader cannot prove it leads, so it stops serving; service
/// resumes once the quorum is back, with nothing acknowledged lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_quorum_stops_the_leader_until_it_returns() {
    let mut zookeeper = ZooKeeper::ensemble(3);
    let cluster = cluster(&zookeeper);
    let (leader, _) = leader_and_term(&cluster).await;
    let client = cluster.client();
    client.create_directory("/before-quorum-loss", false, false).await.unwrap();

    zookeeper.kill(0);
    zookeeper.kill(1);
    // The surviving server may act for its lost quorum until ZooKeeper's own sync limit runs
    // out (no other quorum can exist meanwhile); after that no master may serve anything.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(1) {
        let mut answers = Vec::new();
        for index in 0..cluster.masters.len() {
            answers.push(read_answer(&cluster, index).await);
        }
        if answers.iter().any(|a| *a != Err(tonic::Code::Unavailable)) {
            quiet_since = Instant::now();
        }
        assert!(Instant::now() < deadline, "a master kept serving without a quorum: {answers:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_serves_no_reads(&cluster, leader, "without a quorum").await;

    zookeeper.restart(0);
    zookeeper.restart(1);
    client.create_directory("/after-quorum-returns", false, false).await.unwrap();
    assert!(client.exists("/before-quorum-loss").await.unwrap());
    let leaders = cluster.statuses().await;
    let leading = leaders.iter().filter(|(_, s)| s.role() == Role::Leader).count();
    assert_eq!(leading, 1, "exactly one leader once the quorum is back");
}

/// `zkCli.sh ls /alluxio/leader` shows exactly one host:port, the leader's, also after a
/// failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zkcli_lists_exactly_the_leader() {
    let zookeeper = ZooKeeper::ensemble(3);
    let mut cluster = cluster(&zookeeper);
    for round in 0..2 {
        let leader = cluster.leader(None).await;
        let expected = format!("[{}]", cluster.masters[leader].0);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let listing = zookeeper.cli(&["ls", "/alluxio/leader"]);
            if listing.lines().any(|line| line.trim() == expected) {
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: zkCli.sh shows {listing}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        cluster.kill(leader);
        cluster.leader(Some(leader)).await;
    }
}

/// A leader cut off from ZooKeeper by a firewall (its own network namespace; clients still
/// reach it) is replaced; it acknowledges no write and serves no read meanwhile, and rejoins as
/// a standby when the partition heals.
#[test]
fn a_leader_partitioned_from_zookeeper_is_replaced_and_rejoins() {
    lode_tests::netns::run_isolated(async {
        let zookeeper = ZooKeeper::ensemble(3);
        let cluster = cluster(&zookeeper);
        partitioned_leader_trials(&cluster, &zookeeper.client_ports(), trials().min(3)).await;
    });
}

/// ZooKeeper expires the leader's session while the leader has a journal write in flight (its
/// fsyncs held by the fsync shim, so the write cannot finish first; the session closed with its
/// own id and password, so nothing is paused or cut off): a standby takes over, the old leader
/// acknowledges nothing from that write when it finishes, says the session expired, and follows
/// the new leader; under client load nothing acknowledged is lost or applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_expired_with_a_write_in_flight_hands_over_and_loses_nothing() {
    let zookeeper = ZooKeeper::standalone();
    let shim = FsyncShim::build();
    let election = Election::ZooKeeper {
        address: zookeeper.connect_string(),
        session_timeout: SESSION_TIMEOUT.into(),
    };
    // Only the session may end these leaderships: the flush timeout is far longer than a trial.
    let flush = [("alluxio.master.journal.flush.timeout".to_string(), "60s".to_string())];
    let cluster = shim.cluster(2, election, &flush, HELPER);
    let load = Load::start(&cluster, 4);
    for trial in 0..trials() {
        let old = cluster.leader(None).await;
        load.progress(20, "before the write is held").await;
        let pid = cluster.masters[old].1.as_ref().unwrap().pid();
        shim.set(&format!("hang {pid}"));
        // The load stalls: a write is in flight and cannot finish. One more caller, who never
        // gives up on its own, waits behind it.
        let in_flight = format!("/in-flight-{trial}");
        let waiting = tokio::spawn({
            let (address, path) = (cluster.masters[old].0.clone(), in_flight.clone());
            async move { direct_write_at(&address, &path).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stalled = load.acked();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(load.acked(), stalled, "trial {trial}: writes were acknowledged while held");
        assert!(!waiting.is_finished(), "trial {trial}: a write was answered while held");

        let node = format!("/alluxio/leader/{}", cluster.masters[old].0);
        let session = zookeeper.session_owning(0, &node).expect("the leader's session");
        zookeeper.expire_session(0, session).unwrap();
        // The waiting caller is told to go elsewhere while the write is still held: the old
        // leader does not keep callers until its store answers.
        let answer = tokio::time::timeout(GUARD, waiting).await.expect("the caller was kept");
        assert_eq!(answer.unwrap(), Err(tonic::Code::Unavailable), "trial {trial}");
        let took = load.progress(20, "after the old leader's session expired").await;
        let serving = cluster.leader(Some(old)).await;
        println!("trial {trial}: master {serving} serves {took:?} after master {old}'s expiry");
        shim.clear();

        let status = cluster.statuses().await.into_iter().find(|(i, _)| *i == old).unwrap().1;
        assert!(
            status.stepped_down.contains("session expired"),
            "master {old} does not say why it stepped down: {status:?}"
        );
        wait_caught_up_standby(&cluster, old, serving, "after its write was released").await;
        // Its outcome was never told: it may or may not have landed. Out of the load's way.
        let client = cluster.client();
        if client.exists(&in_flight).await.unwrap() {
            client.remove(&in_flight, false).await.unwrap();
        }
    }
    load.finish(&cluster).await;
}
