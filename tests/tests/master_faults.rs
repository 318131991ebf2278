//! Masters as real processes under faults: a leader killed under client load, and a leader
//! paused past its lease.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lode_client::master::MasterClient;
use lode_core::rpc::alluxio::grpc::file::file_system_master_client_service_client::FileSystemMasterClientServiceClient;
use lode_core::rpc::alluxio::grpc::file::GetStatusPRequest;
use lode_core::rpc::lode::master::Role;
use lode_tests::cluster::Cluster;
use rustix::process::Signal;

fn trials() -> usize {
    std::env::var("LODE_FAULT_TRIALS").ok().and_then(|t| t.parse().ok()).unwrap_or(5)
}

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// One client's mixed mutations in its own folder, mirrored in a model of what was acknowledged.
async fn client_load(
    client: MasterClient,
    id: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
) -> BTreeSet<String> {
    let root = format!("/c{id}");
    client.create_directory(&root, false, false).await.unwrap();
    let mut model = BTreeSet::from([root.clone()]);
    let mut step = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let outcome = match step % 4 {
            0 => {
                let path = format!("{root}/d{step}");
                client.create_directory(&path, false, false).await.map(|()| {
                    model.insert(path);
                })
            }
            1 => {
                let path = format!("{root}/f{step}");
                let created = client.create_file(&path, false).await;
                match created {
                    Ok(_) => client.complete_file(&path, step).await.map(|()| {
                        model.insert(path);
                    }),
                    Err(e) => Err(e),
                }
            }
            2 => {
                let (src, dst) = (format!("{root}/d{}", step - 2), format!("{root}/r{step}"));
                client.rename(&src, &dst).await.map(|()| {
                    model.remove(&src);
                    model.insert(dst);
                })
            }
            _ => {
                let path = format!("{root}/f{}", step - 2);
                client.remove(&path, false).await.map(|()| {
                    model.remove(&path);
                })
            }
        };
        if let Err(error) = outcome {
            panic!("client {id} saw an error at step {step}: {error}");
        }
        acked.fetch_add(1, Ordering::Relaxed);
        step += 1;
    }
    model
}

/// Killing the leader with SIGKILL under load from several clients, trial after trial: clients
/// see no error (only latency), nothing acknowledged is lost, nothing applies twice, and the
/// final namespace equals the model built from the acknowledged operations.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_under_load_loses_nothing() {
    tokio::time::timeout(GUARD, kill_trials()).await.expect("the test hung");
}

/// Fails a hung run instead of stalling CI; far above how long a trial takes.
const GUARD: Duration = Duration::from_secs(600);

async fn kill_trials() {
    let mut cluster = Cluster::start(3, "2s", HELPER);
    cluster.leader(None).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|id| tokio::spawn(client_load(cluster.client(), id, stop.clone(), acked.clone())))
        .collect();

    let mut failovers = Vec::new();
    for trial in 0..trials() {
        let before = acked.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.load(Ordering::Relaxed) < before + 40 {
            assert!(Instant::now() < deadline, "trial {trial}: the load made no progress");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let leader = cluster.leader(None).await;
        let at_kill = acked.load(Ordering::Relaxed);
        cluster.kill(leader);
        let killed = Instant::now();
        while acked.load(Ordering::Relaxed) <= at_kill + 4 {
            assert!(
                killed.elapsed() < Duration::from_secs(60),
                "trial {trial}: no write after failover"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        failovers.push(killed.elapsed());
        cluster.restart(leader);
    }
    stop.store(true, Ordering::Relaxed);
    let mut expected = BTreeSet::new();
    for client in clients {
        expected.extend(client.await.expect("a client failed"));
    }
    let listed: BTreeSet<String> = cluster
        .client()
        .list_status("/", true)
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.path.unwrap_or_default())
        .collect();
    assert_eq!(listed, expected, "the namespace differs from the acknowledged history");
    failovers.sort();
    println!(
        "kill -9 of the leader -> 4 acknowledged writes on the new leader: median {:?}, max {:?} over {} trials ({} operations)",
        failovers[failovers.len() / 2],
        failovers.last().unwrap(),
        failovers.len(),
        acked.load(Ordering::Relaxed)
    );
}

/// A leader paused (SIGSTOP) until a standby has taken over acknowledges nothing after it
/// wakes and serves no stale read: it answers UNAVAILABLE, then rejoins as a standby.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_leader_serves_nothing_when_it_wakes() {
    tokio::time::timeout(GUARD, pause_trials()).await.expect("the test hung");
}

async fn pause_trials() {
    for trial in 0..trials().min(3) {
        let mut cluster = Cluster::start(2, "1s", HELPER);
        let old = cluster.leader(None).await;
        let client = cluster.client();
        client.create_directory("/before", false, false).await.unwrap();

        cluster.process(old).signal(Signal::STOP);
        let new = cluster.leader(Some(old)).await;
        client.create_directory("/fresh", false, false).await.unwrap();
        cluster.process(old).signal(Signal::CONT);

        let address = cluster.masters[old].0.clone();
        let mut on_old = FileSystemMasterClientServiceClient::connect(format!("http://{address}"))
            .await
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(500) {
            for path in ["/fresh", "/before"] {
                let answer = on_old
                    .get_status(GetStatusPRequest { path: Some(path.into()), options: None })
                    .await;
                let code = answer.as_ref().err().map(|status| status.code());
                assert_eq!(
                    code,
                    Some(tonic::Code::Unavailable),
                    "trial {trial}: the woken leader answered {answer:?} for {path}"
                );
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let statuses = cluster.statuses().await;
            let old_status = statuses.iter().find(|(i, _)| *i == old).map(|(_, s)| s.clone());
            let new_slot = statuses.iter().find(|(i, _)| *i == new).map(|(_, s)| s.journal_slot);
            if let (Some(status), Some(slot)) = (old_status, new_slot) {
                if status.role() == Role::Standby && status.journal_slot >= slot {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "trial {trial}: the old leader did not rejoin as a caught-up standby"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(client.exists("/fresh").await.unwrap() && client.exists("/before").await.unwrap());
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
