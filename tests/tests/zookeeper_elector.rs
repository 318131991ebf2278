//! The `zookeeper` elector against a real ZooKeeper server: election, discovery, resignation,
//! doubt on disconnection, chroot, digest ACLs and bad input.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lode_core::config::Config;
use lode_core::elector::{self, LeaderElector};
use lode_tests::election::{member, one_leader_at_a_time_and_resign_hands_over_in};
use lode_tests::zookeeper::ZooKeeper;

// Linked here so that its registration exists in this test binary.
use lode_backend_zookeeper as _;

fn elector(address: &str, extra: &[(&str, &str)]) -> Arc<dyn LeaderElector> {
    let mut pairs = vec![
        ("alluxio.zookeeper.enabled", "true"),
        ("alluxio.zookeeper.address", address),
        ("alluxio.zookeeper.session.timeout", "2s"),
        ("alluxio.zookeeper.connection.timeout", "2s"),
    ];
    pairs.extend_from_slice(extra);
    elector::open(&Config::from_pairs(pairs).unwrap()).expect("the zookeeper elector opens")
}

/// Exactly one of three campaigners leads; discovery names it; resigning hands over to another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_resign_hands_over() {
    let zookeeper = ZooKeeper::standalone();
    let address = zookeeper.connect_string();
    let electors: Vec<_> = (0..3).map(|_| elector(&address, &[])).collect();
    one_leader_at_a_time_and_resign_hands_over_in(&electors, elector(&address, &[]), |leader| {
        let listing = zookeeper.cli(&["ls", "/alluxio/leader"]);
        assert!(listing.contains(&format!("[{}]", leader.address)), "{listing}");
    })
    .await;
}

/// A leader whose server goes away is in doubt at once (not valid), and is confirmed again when
/// the same session reconnects; nobody else leads meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnection_puts_leadership_in_doubt_until_the_session_returns() {
    let mut zookeeper = ZooKeeper::standalone();
    let address = zookeeper.connect_string();
    let leader = elector(&address, &[("alluxio.zookeeper.session.timeout", "8s")]);
    let leadership = leader.campaign(&member(0)).await.unwrap();
    assert!(leadership.is_valid());

    zookeeper.restart(0); // Kills the server, keeping its data (and sessions).
    let deadline = Instant::now() + Duration::from_secs(30);
    while leadership.is_valid() {
        assert!(Instant::now() < deadline, "leadership stays valid without a server");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    zookeeper.wait_serving(0);
    let settled = tokio::time::timeout(Duration::from_secs(60), leadership.settled())
        .await
        .expect("doubt ends");
    assert!(settled, "the same session came back owning the latch, so it still leads");
    assert!(leadership.is_valid());
    assert_eq!(elector(&address, &[]).leader().await.unwrap(), Some(member(0)));
}

/// A chroot in the address is created and everything lives under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chroot_is_created_and_used() {
    let zookeeper = ZooKeeper::standalone();
    let address = format!("{}/lode/site-a", zookeeper.connect_string());
    let elector = elector(&address, &[]);
    let _leadership = elector.campaign(&member(7)).await.unwrap();
    let listing = zookeeper.cli(&["ls", "/lode/site-a/alluxio/leader"]);
    assert!(listing.contains(&format!("[{}]", member(7).address)), "{listing}");
    let root = zookeeper.cli(&["ls", "/"]);
    assert!(!root.contains("alluxio"), "nothing outside the chroot: {root}");
}

/// With digest credentials, Lode's nodes are writable only by that user (readable by anyone);
/// other credentials get a clear error naming the key to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acls_keep_other_credentials_out_with_a_clear_error() {
    let zookeeper = ZooKeeper::standalone();
    let address = zookeeper.connect_string();
    let owner = elector(&address, &[("alluxio.zookeeper.auth.digest", "lode:right")]);
    let leadership = owner.campaign(&member(1)).await.unwrap();
    let acl = zookeeper.cli(&["getAcl", "/alluxio/election"]);
    assert!(acl.contains("'digest,'lode:") && acl.contains("'world,'anyone"), "{acl}");
    assert!(!acl.contains("right"), "the password never appears: {acl}");

    let intruder = elector(&address, &[("alluxio.zookeeper.auth.digest", "lode:wrong")]);
    let error = intruder.campaign(&member(2)).await.unwrap_err().to_string();
    assert!(error.contains("NoAuth") && error.contains("alluxio.zookeeper.auth.digest"), "{error}");
    assert!(!error.contains("wrong"), "the password never appears: {error}");
    // Anyone may still find the leader.
    assert_eq!(elector(&address, &[]).leader().await.unwrap(), Some(member(1)));
    assert!(leadership.is_valid());
}

/// An address where no ZooKeeper listens fails with a clear error within the connection
/// timeout, instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_ensemble_is_a_clear_error_not_a_hang() {
    let port = lode_client::local::free_ports(1).unwrap()[0];
    let address = format!("127.0.0.1:{port}");
    let elector = elector(
        &address,
        &[
            ("alluxio.zookeeper.connection.timeout", "1s"),
            ("alluxio.zookeeper.leader.inquiry.retry", "1"),
        ],
    );
    // The generous bound only catches a hang; the error itself is the assertion.
    let error = tokio::time::timeout(Duration::from_secs(30), elector.campaign(&member(0)))
        .await
        .expect("campaign returns instead of hanging")
        .unwrap_err()
        .to_string();
    assert!(error.contains(&address) && error.contains("connection.timeout"), "{error}");
    let error = elector.leader().await.unwrap_err().to_string();
    assert!(error.contains(&address), "{error}");
}

/// A server that grants shorter sessions than asked for shortens the lease with them: a
/// leader's lease never outlasts half the session ZooKeeper actually keeps, or a paused leader
/// could still serve after its session expired and another master was elected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_follows_the_negotiated_session_timeout() {
    let granted = Duration::from_secs(1);
    let zookeeper = ZooKeeper::standalone_with_max_session(granted);
    let asked = [("alluxio.zookeeper.session.timeout", "20s")];
    let leader = elector(&zookeeper.connect_string(), &asked);
    let leadership = leader.campaign(&member(1)).await.unwrap();
    let left = leadership.valid_until().saturating_sub(elector::monotonic_nanos());
    let left = Duration::from_nanos(left);
    assert!(left <= granted / 2, "a lease of {left:?} left under a granted session of {granted:?}");
    assert!(leadership.is_valid());
    leader.resign(&leadership).await.unwrap();
}
