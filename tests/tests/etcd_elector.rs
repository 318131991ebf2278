//! The `etcd` elector against a real etcd cluster: election, discovery, resignation, doubt
//! when etcd is unreachable, loss once the lease has lapsed, one member of three lost, and bad
//! input.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lode_core::config::Config;
use lode_core::elector::{self, LeaderElector, Leadership};
use lode_tests::election::{member, one_leader_at_a_time_and_resign_hands_over_in};
use lode_tests::etcd::Etcd;
use lode_tests::faults::ElectionService;

// Linked here so that its registration exists in this test binary.
use lode_backend_etcd as _;

fn elector(endpoints: &str, extra: &[(&str, &str)]) -> Arc<dyn LeaderElector> {
    let mut pairs = vec![
        ("alluxio.master.election.type", "etcd"),
        ("alluxio.etcd.endpoints", endpoints),
        ("alluxio.etcd.lease.ttl", "2s"),
        ("alluxio.etcd.request.timeout", "1s"),
    ];
    pairs.extend_from_slice(extra);
    elector::open(&Config::from_pairs(pairs).unwrap()).expect("the etcd elector opens")
}

/// Waits until `leadership` is no longer valid (a minute at most).
async fn wait_invalid(leadership: &Leadership, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while leadership.is_valid() {
        assert!(Instant::now() < deadline, "{what}: the leadership stays valid");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Exactly one of three campaigners leads; discovery names it, and so does etcdctl; resigning
/// hands over to another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_resign_hands_over() {
    let etcd = Etcd::cluster(1);
    let endpoints = etcd.endpoints();
    let electors: Vec<_> = (0..3).map(|_| elector(&endpoints, &[])).collect();
    one_leader_at_a_time_and_resign_hands_over_in(&electors, elector(&endpoints, &[]), |leader| {
        // The oldest key under the election's prefix leads; its value is the leader's address.
        let oldest = etcd.ctl(&[
            "get",
            "--prefix",
            "/alluxio/election/",
            "--sort-by=CREATE",
            "--order=ASCEND",
            "--print-value-only",
            "--limit=1",
        ]);
        assert_eq!(oldest.trim(), leader.address, "etcdctl shows another leader");
    })
    .await;
}

/// A leader whose etcd goes away is in doubt within a keep-alive (not valid), and is confirmed
/// again when etcd returns before the lease lapses; nobody else leads meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_etcd_puts_leadership_in_doubt_until_it_returns() {
    let mut etcd = Etcd::cluster(1);
    let endpoints = etcd.endpoints();
    // A long TTL: etcd is back well before the lease could lapse.
    let leader = elector(&endpoints, &[("alluxio.etcd.lease.ttl", "30s")]);
    let leadership = leader.campaign(&member(0)).await.unwrap();
    let term = leadership.term();
    assert!(leadership.is_valid());

    etcd.kill_server(0);
    wait_invalid(&leadership, "without etcd").await;
    etcd.restart_server(0);
    let settled = tokio::time::timeout(Duration::from_secs(60), leadership.settled())
        .await
        .expect("doubt ends");
    assert!(settled, "etcd came back with the lease alive, so it still leads");
    assert!(leadership.is_valid());
    assert_eq!(leadership.term(), term);
    let found = elector(&endpoints, &[]).leader().await.unwrap();
    assert_eq!(found.map(|m| m.address), Some(member(0).address));
}

/// A leader that cannot renew its lease for a whole TTL loses its leadership for good, and a
/// standby elected meanwhile has a higher term.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_lapses_ends_the_leadership() {
    let mut etcd = Etcd::cluster(1);
    let endpoints = etcd.endpoints();
    let leader = elector(&endpoints, &[]);
    let leadership = leader.campaign(&member(0)).await.unwrap();
    etcd.kill_server(0);
    let lost = tokio::time::timeout(Duration::from_secs(60), leadership.lost()).await;
    assert!(lost.is_ok(), "the leadership outlived its lease");
    assert!(!leadership.is_valid());

    etcd.restart_server(0);
    let successor = elector(&endpoints, &[]).campaign(&member(1)).await.unwrap();
    assert!(successor.term() > leadership.term());
    assert!(!leadership.is_valid(), "a lost leadership never comes back");
}

/// Killing any one etcd member of three, each in turn for longer than the TTL, neither ends
/// nor changes the leadership: requests fail over to the other endpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_one_etcd_member_keeps_the_leadership() {
    let mut etcd = Etcd::cluster(3);
    let endpoints = etcd.endpoints();
    let leader = elector(&endpoints, &[]);
    let observer = elector(&endpoints, &[]);
    let leadership = leader.campaign(&member(0)).await.unwrap();
    for index in 0..etcd.servers() {
        etcd.kill_server(index);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let settled = tokio::time::timeout(Duration::from_secs(30), leadership.settled())
            .await
            .expect("doubt ends");
        assert!(settled, "losing etcd member {index} ended the leadership");
        let found = observer.leader().await.unwrap();
        assert_eq!(found.map(|m| m.address), Some(member(0).address));
        etcd.restart_server(index);
    }
}

/// Endpoints where no etcd listens fail with a clear error naming them, instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoints_are_a_clear_error_not_a_hang() {
    let port = lode_client::local::free_ports(1).unwrap()[0];
    let endpoints = format!("127.0.0.1:{port}");
    let elector = elector(&endpoints, &[]);
    // The generous bound only catches a hang; the error itself is the assertion.
    let error = tokio::time::timeout(Duration::from_secs(30), elector.campaign(&member(0)))
        .await
        .expect("campaign returns instead of hanging")
        .unwrap_err()
        .to_string();
    assert!(error.contains(&format!("etcd at http://{endpoints}")), "{error}");
    let error = elector.leader().await.unwrap_err().to_string();
    assert!(error.contains(&endpoints), "{error}");
}

/// A bad endpoint is refused when the elector opens, naming the key.
#[test]
fn a_bad_endpoint_is_refused_naming_the_key() {
    let config = Config::from_pairs([
        ("alluxio.master.election.type", "etcd"),
        ("alluxio.etcd.endpoints", "127.0.0.1"),
    ])
    .unwrap();
    let error = elector::open(&config).unwrap_err().to_string();
    assert!(error.contains("alluxio.etcd.endpoints") && error.contains("127.0.0.1"), "{error}");
}

/// A leader lookup answers while one of its endpoints is dead: requests are spread over the
/// endpoints and one sent to the killed member fails at once, so a lookup retries for as long as
/// a request may take (it gave up after four tries that all went to a killed member once, in a
/// full-suite run). Fifty lookups with one member of three down, every one answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_costs_a_lookup_retries_not_its_answer() {
    let mut etcd = Etcd::cluster(3);
    let live = elector(&etcd.endpoints(), &[]);
    let _leadership = live.campaign(&member(0)).await.unwrap();
    let observer = elector(&etcd.endpoints(), &[]);
    observer.leader().await.unwrap(); // Connected to every member.
    etcd.kill_server(0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    for lookup in 0..50 {
        let found = observer.leader().await.unwrap_or_else(|e| panic!("lookup {lookup}: {e}"));
        assert_eq!(found.map(|m| m.address), Some(member(0).address));
    }
}
