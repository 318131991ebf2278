//! Three real `lode-master` processes electing through a real 3-member etcd cluster, with
//! clients configured with nothing but etcd's endpoints: kill -9, SIGSTOP past the lease TTL,
//! a partition from etcd, and the loss of one etcd member.

use std::time::Duration;

use lode_tests::cluster::{Cluster, Election};
use lode_tests::etcd::Etcd;
use lode_tests::faults::{
    kill_trials, losing_one_server_causes_no_failover, partitioned_leader_trials, pause_trial,
    trials, ElectionService,
};

// Linked here so that the clients in this test binary find the leader through etcd.
use lode_backend_etcd as _;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");
/// Fails a hung run instead of stalling CI; far above how long the test takes.
const GUARD: Duration = Duration::from_secs(900);
/// A short TTL keeps the tests quick; the default (10s) is measured by the bench.
const LEASE_TTL: &str = "2s";

fn cluster(etcd: &Etcd) -> Cluster {
    let election = Election::Etcd { endpoints: etcd.endpoints(), lease_ttl: LEASE_TTL.into() };
    Cluster::start_with(3, election, HELPER)
}

/// kill -9 of the leader under client load, trial after trial: a standby takes over, clients
/// see no error, every acknowledged mutation survives and nothing applies twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_under_load_loses_nothing() {
    let etcd = Etcd::cluster(3);
    let mut cluster = cluster(&etcd);
    tokio::time::timeout(GUARD, kill_trials(&mut cluster, trials())).await.expect("hung");
}

/// A leader paused past its lease TTL is replaced; when it wakes it serves no stale read,
/// acknowledges nothing and rejoins as a standby.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_leader_is_replaced_and_rejoins_as_a_standby() {
    let etcd = Etcd::cluster(3);
    let mut cluster = cluster(&etcd);
    for trial in 0..trials().min(3) {
        let what = format!("trial {trial}");
        tokio::time::timeout(GUARD, pause_trial(&mut cluster, &what)).await.expect("hung");
    }
}

/// Losing any one etcd member, each in turn for longer than the lease TTL, causes no failover:
/// the same leader keeps the same term and clients see no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_one_etcd_member_causes_no_failover() {
    let mut etcd = Etcd::cluster(3);
    let cluster = cluster(&etcd);
    losing_one_server_causes_no_failover(&cluster, &mut etcd, Duration::from_secs(3)).await;
}

/// A leader cut off from etcd by a firewall (its own network namespace; clients still reach
/// it) is replaced; it acknowledges no write and serves no read meanwhile, and rejoins as a
/// standby when the partition heals.
#[test]
fn a_leader_partitioned_from_etcd_is_replaced_and_rejoins() {
    lode_tests::netns::run_isolated(async {
        let etcd = Etcd::cluster(3);
        let cluster = cluster(&etcd);
        partitioned_leader_trials(&cluster, &etcd.client_ports(), trials().min(3)).await;
    });
}
