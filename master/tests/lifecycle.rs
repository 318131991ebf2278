//! The master's leader/standby life cycle, with masters in this process sharing an embedded
//! election directory and a local journal.

use std::path::Path;
use std::time::{Duration, Instant};

use lode_core::config::Config;
use lode_core::journal::OpId;
use lode_master::namespace::{CreateDirectory, CreateFile, ErrorKind, Mutation, Namespace};
use lode_master::{start, MasterError, MasterNode, Role, RunningMaster, ServeError};
use tokio::sync::oneshot;

const LIMIT: Duration = Duration::from_secs(60);

struct Master {
    running: RunningMaster,
    stop: Option<oneshot::Sender<()>>,
}

impl Master {
    fn node(&self) -> &MasterNode {
        &self.running.node
    }

    async fn shutdown(mut self) -> Result<(), MasterError> {
        let _ = self.stop.take().unwrap().send(());
        self.running.task.await.unwrap()
    }
}

fn config(dir: &Path, port: u16, extra: &[(&str, &str)]) -> Config {
    let mut pairs = vec![
        ("alluxio.work.dir".to_string(), dir.display().to_string()),
        ("alluxio.master.hostname".to_string(), "localhost".to_string()),
        ("alluxio.master.rpc.port".to_string(), port.to_string()),
        ("alluxio.master.bind.host".to_string(), "127.0.0.1".to_string()),
        ("alluxio.master.web.port".to_string(), "0".to_string()),
        ("alluxio.master.election.lease.timeout".to_string(), "1s".to_string()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_pairs(pairs).unwrap()
}

async fn master(dir: &Path, port: u16, extra: &[(&str, &str)]) -> Master {
    let (stop, stopped) = oneshot::channel::<()>();
    let running = start(config(dir, port, extra), async move {
        let _ = stopped.await;
    })
    .await
    .expect("master starts");
    Master { running, stop: Some(stop) }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn is_leader(node: &MasterNode) -> bool {
    matches!(node.role(), Role::Leader { .. })
}

fn mkdir(path: &str) -> Mutation {
    Mutation::CreateDirectory(CreateDirectory {
        path: path.into(),
        recursive: true,
        allow_exists: false,
        owner: "alice".into(),
        group: "staff".into(),
        mode: 0o755,
        persisted: false,
    })
}

fn touch(path: &str) -> Mutation {
    Mutation::CreateFile(CreateFile {
        path: path.into(),
        recursive: true,
        owner: "alice".into(),
        group: "staff".into(),
        mode: 0o644,
        block_size: 1 << 20,
        persisted: false,
    })
}

fn listing(ns: &Namespace) -> Vec<String> {
    ns.list("/", true)
        .unwrap()
        .into_iter()
        .map(|s| format!("{} {} {}", s.path, s.id, s.mode))
        .collect()
}

/// A standby replays the leader's mutations as they happen, refuses to serve while it is a
/// standby (naming the leader), and takes over with the same namespace when the leader resigns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_standby_takes_over_with_the_same_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let first = master(dir.path(), 0, &[]).await;
    eventually("the first master leads", || is_leader(first.node())).await;
    let second = master(dir.path(), 0, &[]).await;
    first.node().mutate(None, mkdir("/a/b")).await.unwrap().into_result().unwrap();
    first.node().mutate(None, touch("/a/b/f")).await.unwrap().into_result().unwrap();

    eventually("the standby replays the file", || {
        second.node().read_replica(|ns| ns.status("/a/b/f").is_ok())
    })
    .await;
    eventually("the standby learns who leads", || {
        matches!(second.node().read(|_| ()), Err(ServeError::NotLeader { leader: Some(_) }))
    })
    .await;
    match second.node().mutate(None, mkdir("/x")).await {
        Err(ServeError::NotLeader { leader: Some(leader) }) => {
            assert_eq!(leader.address, first.node().member().address)
        }
        other => panic!("a standby accepted a write: {other:?}"),
    }

    let expected = first.node().read(listing).unwrap();
    first.shutdown().await.unwrap();
    eventually("the standby takes over", || is_leader(second.node())).await;
    assert_eq!(second.node().read(listing).unwrap(), expected);
    second.node().mutate(None, touch("/a/b/g")).await.unwrap().into_result().unwrap();
    assert!(second.node().read(|ns| ns.status("/a/b/g").is_ok()).unwrap());
    second.shutdown().await.unwrap();
}

/// A call retried on the new leader after a failover gets the first answer and applies once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_after_failover_returns_the_first_answer() {
    let dir = tempfile::tempdir().unwrap();
    let first = master(dir.path(), 0, &[]).await;
    eventually("the first master leads", || is_leader(first.node())).await;
    let second = master(dir.path(), 0, &[]).await;
    let id = OpId { client: 77, call: 1 };
    let created =
        first.node().mutate(Some(id), touch("/once")).await.unwrap().into_result().unwrap();
    first.shutdown().await.unwrap();
    eventually("the standby takes over", || is_leader(second.node())).await;
    let retried = second.node().mutate(Some(id), touch("/once")).await.unwrap().into_result();
    assert_eq!(retried, Ok(created));
    let fresh =
        second.node().mutate(Some(OpId { client: 77, call: 2 }), touch("/once")).await.unwrap();
    assert_eq!(fresh.into_result().unwrap_err().kind, ErrorKind::AlreadyExists);
    second.shutdown().await.unwrap();
}

/// Restarting every master from checkpoints plus the truncated log gives the same namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_from_checkpoints_gives_the_same_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let small_period = [("alluxio.master.journal.checkpoint.period.entries", "25")];
    let leader = master(dir.path(), 0, &small_period).await;
    eventually("the master leads", || is_leader(leader.node())).await;
    let standby = master(dir.path(), 0, &small_period).await;
    for i in 0..300 {
        let mutation = if i % 3 == 0 {
            mkdir(&format!("/d{}/e{i}", i % 7))
        } else {
            touch(&format!("/f/{i}"))
        };
        leader.node().mutate(None, mutation).await.unwrap().into_result().unwrap();
    }
    let journal = leader.node().journal().clone();
    let mut checkpoints = Vec::new();
    let deadline = Instant::now() + LIMIT;
    while checkpoints.len() < 2 {
        assert!(Instant::now() < deadline, "the standby wrote no checkpoints");
        tokio::time::sleep(Duration::from_millis(20)).await;
        checkpoints = journal.checkpoints().await.unwrap();
    }
    assert!(journal.truncate().await.unwrap() > 0, "truncation removed old slots");
    let expected = leader.node().read(listing).unwrap();
    standby.shutdown().await.unwrap();
    leader.shutdown().await.unwrap();

    let restarted = master(dir.path(), 0, &[]).await;
    eventually("the restarted master leads", || is_leader(restarted.node())).await;
    assert_eq!(restarted.node().read(listing).unwrap(), expected);
    restarted.shutdown().await.unwrap();
}

/// A corrupt checkpoint stops the master before it serves anything, naming the object.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupt_checkpoint_stops_the_master_before_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let first = master(dir.path(), 0, &[]).await;
    eventually("the master leads", || is_leader(first.node())).await;
    first.node().mutate(None, mkdir("/kept")).await.unwrap().into_result().unwrap();
    first.shutdown().await.unwrap();
    let checkpoint = dir.path().join("journal/checkpoint/00000000000000000009");
    std::fs::create_dir_all(checkpoint.parent().unwrap()).unwrap();
    std::fs::write(&checkpoint, b"LJC1 this is not a checkpoint").unwrap();
    let (_stop, stopped) = oneshot::channel::<()>();
    let err = start(config(dir.path(), 0, &[]), async move {
        let _ = stopped.await;
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("checkpoint/00000000000000000009"), "{err}");
}

/// A bad path is refused with an invalid-path answer and never reaches the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_paths_are_refused_without_journaling() {
    let dir = tempfile::tempdir().unwrap();
    let only = master(dir.path(), 0, &[]).await;
    eventually("the master leads", || is_leader(only.node())).await;
    let before = only.node().journal().position();
    for bad in ["no-slash", "/a//b", "/a/../b", "/nul\0"] {
        let reply = only.node().mutate(None, mkdir(bad)).await.unwrap();
        assert_eq!(reply.into_result().unwrap_err().kind, ErrorKind::InvalidPath, "{bad:?}");
    }
    assert_eq!(only.node().journal().position(), before);
    only.shutdown().await.unwrap();
}

/// A leader whose journal writer is deposed (here by a rogue writer's marker, as a split brain
/// would) gives up its term in the elector too, so a new term starts and the cluster serves
/// again, instead of every master waiting behind a lease that never lapses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deposed_leader_steps_down_so_a_new_term_starts() {
    use lode_core::journal::{Journal, JournalSettings};
    use lode_core::testkit::journal::lease;

    let dir = tempfile::tempdir().unwrap();
    let first = master(dir.path(), 0, &[]).await;
    eventually("the first master leads", || is_leader(first.node())).await;
    let second = master(dir.path(), 0, &[]).await;
    first.node().mutate(None, mkdir("/before")).await.unwrap().into_result().unwrap();

    let store = first.node().journal().store().clone();
    let rogue = std::sync::Arc::new(
        Journal::open(store, JournalSettings::for_tests(), Namespace::new).await.unwrap(),
    );
    let _rogue_writer = rogue.take_over(lease(1_000_000).0, "rogue").await.unwrap();

    let refused = first.node().mutate(None, mkdir("/after")).await;
    assert!(refused.is_err(), "the deposed leader acknowledged a write: {refused:?}");
    let old_term = 1;
    let leads_anew =
        |node: &MasterNode| matches!(node.role(), Role::Leader { term } if term > old_term);
    eventually("a new term starts", || leads_anew(first.node()) || leads_anew(second.node())).await;
    let leader = if leads_anew(first.node()) { first.node() } else { second.node() };
    leader.mutate(None, mkdir("/after")).await.unwrap().into_result().unwrap();
    assert!(leader.read(|ns| ns.status("/before").is_ok() && ns.status("/after").is_ok()).unwrap());
    first.shutdown().await.unwrap();
    second.shutdown().await.unwrap();
}
