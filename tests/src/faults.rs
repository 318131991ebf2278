//! Fault scenarios shared by the fault tests of every elector: client load mirrored in a model
//! of what was acknowledged, kill -9 trials, and a paused leader waking up.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lode_client::master::MasterClient;
use lode_core::rpc::alluxio::grpc::file::file_system_master_client_service_client::FileSystemMasterClientServiceClient;
use lode_core::rpc::alluxio::grpc::file::{CreateDirectoryPRequest, GetStatusPRequest};
use lode_core::rpc::lode::master::Role;
use rustix::process::Signal;
use tokio::task::JoinHandle;

use crate::cluster::Cluster;

/// Kill/pause trials per fault test: `LODE_FAULT_TRIALS`, 5 by default (the campaign uses 20).
pub fn trials() -> usize {
    std::env::var("LODE_FAULT_TRIALS").ok().and_then(|t| t.parse().ok()).unwrap_or(5)
}

/// One client's mixed mutations in its own folder, mirrored in a model of what was acknowledged.
pub async fn client_load(
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

/// Several clients running [`client_load`] until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    /// Operations acknowledged so far, across clients.
    pub acked: Arc<AtomicU64>,
    clients: Vec<JoinHandle<BTreeSet<String>>>,
}

impl Load {
    /// Starts `count` clients of `cluster`.
    pub fn start(cluster: &Cluster, count: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let clients = (0..count)
            .map(|id| tokio::spawn(client_load(cluster.client(), id, stop.clone(), acked.clone())))
            .collect();
        Load { stop, acked, clients }
    }

    /// Operations acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Waits until `more` operations beyond now are acknowledged (a minute at most).
    pub async fn progress(&self, more: u64, what: &str) -> Duration {
        let (before, started) = (self.acked(), Instant::now());
        while self.acked() < before + more {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: the load made no progress"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        started.elapsed()
    }

    /// Stops the clients and checks the namespace equals what they were acknowledged.
    pub async fn finish(self, cluster: &Cluster) {
        self.stop.store(true, Ordering::Relaxed);
        let mut expected = BTreeSet::new();
        for client in self.clients {
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
    }
}

/// kill -9 of the leader under load, `trials` times, restarting it as a standby each time:
/// clients see no error, and the final namespace equals the acknowledged history. Returns the
/// time from each kill to 4 acknowledged writes on the new leader, sorted.
pub async fn kill_trials(cluster: &mut Cluster, trials: usize) -> Vec<Duration> {
    cluster.leader(None).await;
    let load = Load::start(cluster, 4);
    let mut failovers = Vec::new();
    for trial in 0..trials {
        load.progress(40, &format!("trial {trial}")).await;
        let leader = cluster.leader(None).await;
        cluster.kill(leader);
        failovers.push(load.progress(4, &format!("trial {trial} after the kill")).await);
        cluster.restart(leader);
    }
    let operations = load.acked();
    load.finish(cluster).await;
    failovers.sort();
    println!(
        "kill -9 of the leader -> 4 acknowledged writes on the new leader: median {:?}, max {:?} \
         over {} trials ({operations} operations)",
        failovers[failovers.len() / 2],
        failovers.last().unwrap(),
        failovers.len(),
    );
    failovers
}

/// How master `index` answers a read of `/`: `Ok` when it serves it, else the status code.
pub async fn read_answer(cluster: &Cluster, index: usize) -> Result<(), tonic::Code> {
    let address = &cluster.masters[index].0;
    let mut master = FileSystemMasterClientServiceClient::connect(format!("http://{address}"))
        .await
        .map_err(|_| tonic::Code::Unavailable)?;
    let request = GetStatusPRequest { path: Some("/".into()), options: None };
    master.get_status(request).await.map(|_| ()).map_err(|status| status.code())
}

/// How master `index` answers a request to create directory `path`, sent to it alone.
pub async fn direct_write(cluster: &Cluster, index: usize, path: &str) -> Result<(), tonic::Code> {
    direct_write_at(&cluster.masters[index].0, path).await
}

/// How the master at `address` answers a request to create directory `path`, sent to it
/// alone and waited for as long as it takes.
pub async fn direct_write_at(address: &str, path: &str) -> Result<(), tonic::Code> {
    let mut master = FileSystemMasterClientServiceClient::connect(format!("http://{address}"))
        .await
        .map_err(|_| tonic::Code::Unavailable)?;
    let request = CreateDirectoryPRequest { path: Some(path.into()), options: None };
    master.create_directory(request).await.map(|_| ()).map_err(|status| status.code())
}

/// Asserts master `index` answers every read with UNAVAILABLE for half a second: it serves no
/// stale read.
pub async fn assert_serves_no_reads(cluster: &Cluster, index: usize, what: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(500) {
        let answer = read_answer(cluster, index).await;
        assert_eq!(answer, Err(tonic::Code::Unavailable), "{what}: master {index} answered");
    }
}

/// Waits until master `index` is a standby that has applied the journal up to `slot` (a fixed
/// target, unlike [`wait_caught_up_standby`]'s, which a leader under load keeps moving).
pub async fn wait_standby_past(cluster: &Cluster, index: usize, slot: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let statuses = cluster.statuses().await;
        let status = statuses.iter().find(|(i, _)| *i == index).map(|(_, s)| s);
        if status.is_some_and(|s| s.role() == Role::Standby && s.journal_slot >= slot) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: master {index} did not follow to slot {slot}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until master `index` is a standby caught up with master `leader`'s journal position.
pub async fn wait_caught_up_standby(cluster: &Cluster, index: usize, leader: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let statuses = cluster.statuses().await;
        let status = statuses.iter().find(|(i, _)| *i == index).map(|(_, s)| s.clone());
        let slot = statuses.iter().find(|(i, _)| *i == leader).map(|(_, s)| s.journal_slot);
        if let (Some(status), Some(slot)) = (status, slot) {
            if status.role() == Role::Standby && status.journal_slot >= slot {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: master {index} did not rejoin as a caught-up standby"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The leader paused (SIGSTOP) until a standby took over: after SIGCONT it serves no stale
/// read, acknowledges nothing, and rejoins as a caught-up standby; nothing is lost.
pub async fn pause_trial(cluster: &mut Cluster, what: &str) {
    let old = cluster.leader(None).await;
    let client = cluster.client();
    client.create_directory("/before", true, true).await.unwrap();

    cluster.process(old).signal(Signal::STOP);
    let new = cluster.leader(Some(old)).await;
    client.create_directory("/fresh", true, true).await.unwrap();
    cluster.process(old).signal(Signal::CONT);

    assert_serves_no_reads(cluster, old, what).await;
    let write = direct_write(cluster, old, "/on-the-woken-leader").await;
    assert_eq!(write, Err(tonic::Code::Unavailable), "{what}: the woken leader took a write");
    wait_caught_up_standby(cluster, old, new, what).await;
    assert!(client.exists("/fresh").await.unwrap() && client.exists("/before").await.unwrap());
    assert!(!client.exists("/on-the-woken-leader").await.unwrap());
}

/// Waits until some master reports a journal error containing `words` (30 s at most); returns
/// what it reported.
pub async fn wait_for_reported(cluster: &Cluster, words: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let statuses = cluster.statuses().await;
        if let Some((_, status)) = statuses.iter().find(|(_, s)| s.journal_error.contains(words)) {
            return status.journal_error.clone();
        }
        assert!(Instant::now() < deadline, "no master reported {words:?}: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until master `index` reports its journal store failing (`Some(error)`) or working
/// (`None`), and returns what it reported.
pub async fn wait_journal_health(
    cluster: &Cluster,
    index: usize,
    failing: bool,
    limit: Duration,
) -> Option<String> {
    let started = Instant::now();
    loop {
        let reported = cluster
            .statuses()
            .await
            .into_iter()
            .find(|(i, _)| *i == index)
            .map(|(_, status)| status.journal_error);
        match reported {
            Some(error) if failing && !error.is_empty() => return Some(error),
            Some(error) if !failing && error.is_empty() => return None,
            _ => {}
        }
        assert!(started.elapsed() < limit, "master {index} never reported failing = {failing}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An election service of several servers that a fault test can take down one at a time.
pub trait ElectionService {
    /// How many servers it has.
    fn servers(&self) -> usize;
    /// SIGKILLs server `index`.
    fn kill_server(&mut self, index: usize);
    /// Starts server `index` again on its data and waits until it serves.
    fn restart_server(&mut self, index: usize);
    /// The ports clients reach it on (what a partition cuts).
    fn client_ports(&self) -> Vec<u16>;
}

/// The leader's index and term, as its own status says (asked again, for a minute at most,
/// while its status does not answer in time or answers from a role that just changed: a term of
/// 0 would be no term at all).
pub async fn leader_and_term(cluster: &Cluster) -> (usize, u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let leader = cluster.leader(None).await;
        let statuses = cluster.statuses().await;
        let leading = statuses.iter().find(|(i, s)| *i == leader && s.role() == Role::Leader);
        if let Some((_, status)) = leading {
            return (leader, status.term);
        }
        assert!(Instant::now() < deadline, "no leader's status named its term");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Losing any one server of `service`, each in turn for `down` (longer than the session or
/// lease), causes no failover: the same leader keeps the same term and the load goes on.
pub async fn losing_one_server_causes_no_failover(
    cluster: &Cluster,
    service: &mut impl ElectionService,
    down: Duration,
) {
    let before = leader_and_term(cluster).await;
    let load = Load::start(cluster, 2);
    for server in 0..service.servers() {
        load.progress(20, &format!("before stopping server {server}")).await;
        service.kill_server(server);
        tokio::time::sleep(down).await;
        load.progress(20, &format!("while server {server} is down")).await;
        service.restart_server(server);
        assert_eq!(
            leader_and_term(cluster).await,
            before,
            "losing server {server} of the election service changed the leader or its term"
        );
    }
    load.finish(cluster).await;
}

/// A leader cut off from the election service by a firewall (its own network namespace;
/// clients still reach it) is replaced; it acknowledges no write and serves no read meanwhile,
/// and rejoins as a standby when the partition heals. Runs on a thread that called
/// [`crate::netns::isolate_this_thread`].
pub async fn partitioned_leader_trials(cluster: &Cluster, service_ports: &[u16], trials: usize) {
    for trial in 0..trials {
        let old = cluster.leader(None).await;
        let client = cluster.client();
        client.create_directory(&format!("/before-{trial}"), false, false).await.unwrap();

        let partition =
            crate::netns::Partition::group_from_ports(Cluster::group_of(old), service_ports);
        let new = cluster.leader(Some(old)).await;
        client.create_directory(&format!("/during-{trial}"), false, false).await.unwrap();
        assert_serves_no_reads(cluster, old, "partitioned").await;
        let write = direct_write(cluster, old, &format!("/on-old-{trial}")).await;
        assert_eq!(write, Err(tonic::Code::Unavailable), "the partitioned leader wrote");

        partition.heal();
        wait_caught_up_standby(cluster, old, new, "after healing").await;
        for path in [format!("/before-{trial}"), format!("/during-{trial}")] {
            assert!(client.exists(&path).await.unwrap(), "{path} was lost");
        }
        assert!(!client.exists(&format!("/on-old-{trial}")).await.unwrap());
    }
}

/// The fsync shim (`tests/fsync-eio`, an `LD_PRELOAD` library) built for one test, and the
/// trigger file that tells it to make fsyncs fail or hang.
pub struct FsyncShim {
    dir: tempfile::TempDir,
    library: std::path::PathBuf,
}

impl FsyncShim {
    /// Builds the shim; panics naming the compiler's complaint.
    pub fn build() -> FsyncShim {
        let dir = tempfile::tempdir().expect("temporary directory");
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fsync-eio/fsync_eio.c");
        let library = dir.path().join("fsync_eio.so");
        let output = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&library)
            .arg(&source)
            .arg("-ldl")
            .output()
            .expect("running cc (a C compiler comes with Rust's toolchain requirements)");
        assert!(output.status.success(), "cc: {}", String::from_utf8_lossy(&output.stderr));
        FsyncShim { dir, library }
    }

    /// Starts `count` masters (as [`Cluster::start_on`]) with the shim preloaded into each.
    pub fn cluster(
        &self,
        count: usize,
        election: crate::cluster::Election,
        extra: &[(String, String)],
        sibling_binary: &str,
    ) -> Cluster {
        let mut cluster = Cluster::start_on(count, election, extra, sibling_binary);
        cluster.master_env = vec![
            ("LD_PRELOAD".into(), self.library.display().to_string()),
            ("LODE_FSYNC_EIO_TRIGGER".into(), self.trigger().display().to_string()),
        ];
        for index in 0..count {
            cluster.kill(index);
            cluster.restart(index);
        }
        cluster
    }

    fn trigger(&self) -> std::path::PathBuf {
        self.dir.path().join("trigger")
    }

    /// From now on fsyncs fail with EIO (`"dir"`, `"file"`, `"all"`) or block (`"hang"`,
    /// `"hang <pid>"` for one process), as the shim's header describes.
    pub fn set(&self, what: &str) {
        std::fs::write(self.trigger(), what).expect("writing the shim's trigger");
    }

    /// From now on fsyncs work again, and the ones held are made.
    pub fn clear(&self) {
        std::fs::remove_file(self.trigger()).expect("removing the shim's trigger");
    }
}
