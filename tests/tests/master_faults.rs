//! Masters on the embedded elector as real processes under faults: a leader killed under
//! client load, a leader paused past its lease, discovery through the elector.

use std::time::Duration;

use lode_client::master::MasterClient;
use lode_tests::cluster::Cluster;
use lode_tests::faults::{kill_trials, pause_trial, trials};
use lode_tests::process::Proc;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// Fails a hung run instead of stalling CI; far above how long a trial takes.
const GUARD: Duration = Duration::from_secs(600);

/// Killing the leader with SIGKILL under load from several clients, trial after trial: clients
/// see no error (only latency), nothing acknowledged is lost, nothing applies twice, and the
/// final namespace equals the model built from the acknowledged operations.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_under_load_loses_nothing() {
    let mut cluster = Cluster::start(3, "2s", HELPER);
    tokio::time::timeout(GUARD, kill_trials(&mut cluster, trials())).await.expect("the test hung");
}

/// A leader paused (SIGSTOP) until a standby has taken over acknowledges nothing after it
/// wakes and serves no stale read: it answers UNAVAILABLE, then rejoins as a standby.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_leader_serves_nothing_when_it_wakes() {
    for trial in 0..trials().min(3) {
        let mut cluster = Cluster::start(2, "1s", HELPER);
        let what = format!("trial {trial}");
        tokio::time::timeout(GUARD, pause_trial(&mut cluster, &what)).await.expect("hung");
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

/// A client flooding a master with connections cannot take the file descriptors its journal
/// needs: with the master's open-file limit low and `alluxio.master.network.max.connections`
/// below it, connections over the cap are closed, the leader keeps leading, and a client
/// connected before the flood keeps writing; once the flood ends, new clients connect again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_flood_leaves_the_journal_its_files() {
    use lode_core::rpc::lode::master::Role;

    const CAP: usize = 64;
    let election = lode_tests::cluster::Election::Embedded { lease_timeout: "30s".into() };
    let cap = [("alluxio.master.network.max.connections".to_string(), CAP.to_string())];
    let mut cluster = Cluster::start_on(1, election, &cap, HELPER);
    // Room for what a master holds, the cap, and some to spare: not for 500 connections.
    cluster.master_open_files = Some(256);
    cluster.kill(0);
    cluster.restart(0);
    cluster.leader(None).await;
    let client = cluster.client();
    client.create_directory("/before", false, false).await.unwrap();

    let address: std::net::SocketAddr = cluster.masters[0].0.parse().unwrap();
    let connect = || std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2));
    let flood: Vec<_> = (0..500).map_while(|_| connect().ok()).collect();
    let writes = async {
        for n in 0..20 {
            client.create_directory(&format!("/during-{n}"), false, false).await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(120), writes)
        .await
        .expect("the master stopped serving its client during the flood");
    assert!(flood.len() > CAP, "only {} connections were made", flood.len());

    // The flood's connections close; their places are free again for new clients.
    drop(flood);
    let fresh = MasterClient::from_config(&cluster.client_config()).unwrap();
    fresh.create_directory("/after", false, false).await.unwrap();
    assert_eq!(fresh.list_status("/", false).await.unwrap().len(), 22);
    let status = cluster.statuses().await.into_iter().next().unwrap().1;
    assert_eq!(status.role(), Role::Leader, "{status:?}");
    assert!(status.stepped_down.is_empty(), "the leader stepped down: {status:?}");
}

/// The paths under `/`, recursively, sorted.
async fn namespace(client: &MasterClient) -> Vec<String> {
    let listed = client.list_status("/", true).await.unwrap();
    let mut paths: Vec<String> = listed.into_iter().filter_map(|info| info.path).collect();
    paths.sort();
    paths
}

/// Four processes checkpointing one journal at the same slot at the same moment, in parts (a
/// 4 KiB largest object), all succeed at that slot; a master started on the journal with the
/// log below the slot removed (as truncation would) loads that checkpoint, and its namespace is
/// the one the clients were acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checkpoint_writers_at_one_slot_agree() {
    const WRITER: &str = env!("CARGO_BIN_EXE_checkpoint-writer");
    let journal = tempfile::tempdir().unwrap();
    let folder = journal.path().display().to_string();
    let election = lode_tests::cluster::Election::Embedded { lease_timeout: "30s".into() };
    let site = [("alluxio.master.journal.folder".to_string(), folder.clone())];
    let mut cluster = Cluster::start_on(1, election, &site, HELPER);
    cluster.leader(None).await;
    let load = lode_tests::faults::Load::start(&cluster, 4);
    load.progress(2000, "before the checkpoint").await;
    load.finish(&cluster).await;
    let before = namespace(&cluster.client()).await;
    cluster.kill(0);
    let checkpoints = journal.path().join("checkpoint");
    let existing = std::fs::read_dir(&checkpoints).map(|d| d.count()).unwrap_or(0);
    assert_eq!(existing, 0, "a checkpoint was written before the test's");

    let go = tempfile::tempdir().unwrap();
    let go_file = go.path().join("go");
    let mut writers: Vec<Proc> = (0..4)
        .map(|_| {
            let mut command = std::process::Command::new(WRITER);
            command
                .arg(format!("-Dalluxio.master.journal.folder={folder}"))
                .arg("-Dalluxio.master.journal.log.size.bytes.max=4096")
                .env("LODE_GO_FILE", &go_file);
            Proc::start(command, true)
        })
        .collect();
    let slot_of = |line: Option<String>, what: &str| -> u64 {
        let line = line.unwrap_or_else(|| panic!("a writer never said {what}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let ready: Vec<u64> = writers
        .iter_mut()
        .map(|w| slot_of(w.wait_for("ready", Duration::from_secs(60)), "ready"))
        .collect();
    std::fs::write(&go_file, b"").unwrap();
    for (writer, ready) in writers.iter_mut().zip(&ready) {
        let wrote = slot_of(writer.wait_for("checkpoint", Duration::from_secs(60)), "checkpoint");
        assert_eq!(wrote, *ready);
        assert!(writer.wait(), "a checkpoint writer failed");
    }
    let slot = ready[0];
    assert!(ready.iter().all(|s| *s == slot), "the writers stood at different slots: {ready:?}");
    let parts = checkpoints.join(format!("{slot:020}.parts-4096"));
    assert!(parts.read_dir().unwrap().count() > 1, "the checkpoint was not written in parts");

    // Only the checkpoint holds what came before its slot now.
    let mut removed = 0;
    let mut folders = vec![journal.path().join("log")];
    while let Some(dir) = folders.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let number = path.file_name().unwrap().to_str().unwrap().parse::<u64>().ok();
            if path.is_dir() {
                folders.push(path);
            } else if number.is_some_and(|n| n < slot) {
                std::fs::remove_file(path).unwrap();
                removed += 1;
            }
        }
    }
    assert!(removed > 0);
    cluster.restart(0);
    cluster.leader(None).await;
    assert_eq!(namespace(&cluster.client()).await, before);
}
