//! A cluster of real `lode-master` processes on loopback, for fault tests: start, find the
//! leader, kill -9, pause, restart.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lode_client::local::{free_ports, write_site};
use lode_client::master::{MasterClient, RetryPolicy};
use lode_core::config::Config;
use lode_core::rpc::lode::master::{MasterStatus, Role};

use crate::process::Proc;

/// How the masters of a [`Cluster`] elect their leader.
#[derive(Debug, Clone)]
pub enum Election {
    /// The embedded elector in the shared directory, with this lease timeout (`2s`).
    Embedded {
        /// `alluxio.master.election.lease.timeout`.
        lease_timeout: String,
    },
    /// ZooKeeper: masters elect through it, and clients are given only its address.
    ZooKeeper {
        /// `alluxio.zookeeper.address`.
        address: String,
        /// `alluxio.zookeeper.session.timeout`.
        session_timeout: String,
    },
    /// etcd: masters elect through it, and clients are given only its endpoints.
    Etcd {
        /// `alluxio.etcd.endpoints`.
        endpoints: String,
        /// `alluxio.etcd.lease.ttl`.
        lease_ttl: String,
    },
    /// Whatever these site lines select (a whole example site: elector and journal); clients
    /// are given only its election service lines.
    Site {
        /// `key=value` lines for the masters' site file.
        site: Vec<(String, String)>,
    },
}

/// The keys that tell clients and workers where the election service is.
const SERVICE_KEYS: [&str; 4] = [
    "alluxio.zookeeper.enabled",
    "alluxio.zookeeper.address",
    "alluxio.master.election.type",
    "alluxio.etcd.endpoints",
];

impl Election {
    /// What clients and workers are told: only the election service, when there is one.
    fn client_properties(&self) -> Vec<(String, String)> {
        let pairs = |pairs: &[(&str, &str)]| {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()
        };
        match self {
            Election::Embedded { .. } => Vec::new(),
            Election::ZooKeeper { address, .. } => pairs(&[
                ("alluxio.zookeeper.enabled", "true"),
                ("alluxio.zookeeper.address", address),
            ]),
            Election::Etcd { endpoints, .. } => pairs(&[
                ("alluxio.master.election.type", "etcd"),
                ("alluxio.etcd.endpoints", endpoints),
            ]),
            Election::Site { site } => site
                .iter()
                .filter(|(key, _)| SERVICE_KEYS.contains(&key.as_str()))
                .cloned()
                .collect(),
        }
    }

    /// What the masters' site file says about the election, beyond what clients are told.
    fn master_properties(&self) -> Vec<(String, String)> {
        let mut properties = self.client_properties();
        let mut add = |key: &str, value: &str| properties.push((key.into(), value.into()));
        match self {
            Election::Embedded { .. } => {}
            Election::ZooKeeper { session_timeout, .. } => {
                add("alluxio.zookeeper.session.timeout", session_timeout);
            }
            Election::Etcd { lease_ttl, .. } => add("alluxio.etcd.lease.ttl", lease_ttl),
            Election::Site { site } => return site.clone(),
        }
        properties
    }
}

/// A `lode-worker` of a [`Cluster`].
pub struct WorkerProcess {
    /// `127.0.0.1:port`.
    pub address: String,
    port: u16,
    /// Its memory tier's folder (kept across restarts).
    pub tier: PathBuf,
    /// Its memory tier's capacity (`256MB`).
    capacity: String,
    /// More `-Dkey=value` arguments.
    extra: Vec<String>,
    /// The process (None while stopped).
    pub process: Option<Proc>,
}

/// Masters (and workers) on loopback sharing a data directory (local journal).
pub struct Cluster {
    binary: PathBuf,
    conf_dir: PathBuf,
    election: Election,
    /// The workers started with [`Cluster::start_worker`].
    pub workers: Vec<WorkerProcess>,
    /// Where workers keep their memory tiers: a tmpfs, as in production.
    tiers: tempfile::TempDir,
    /// Each master's address and process (None while stopped).
    pub masters: Vec<(String, Option<Proc>)>,
    /// Environment variables for masters started from now on (an `LD_PRELOAD` fault shim).
    pub master_env: Vec<(String, String)>,
    /// The open-file limit (soft and hard) of masters started from now on, if not inherited.
    pub master_open_files: Option<u64>,
    _dir: tempfile::TempDir,
}

/// The most lines of each master's log a failed test prints.
const LOG_LINES_ON_FAILURE: usize = 80;

impl Drop for Cluster {
    /// A test that failed prints the end of each master's log (warnings and errors): a rare
    /// failure in CI is then explained by its own run.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for (index, (address, process)) in self.masters.iter_mut().enumerate() {
            let Some(process) = process else { continue };
            process.drain();
            let from = process.seen.len().saturating_sub(LOG_LINES_ON_FAILURE);
            eprintln!("--- master {index} ({address}): the last lines of its log");
            for line in &process.seen[from..] {
                eprintln!("{line}");
            }
        }
    }
}

/// A tmpfs for the workers' memory tiers.
const TIER_ROOT: &str = "/dev/shm";

/// The `lode-master` binary beside this test's own helper binaries.
pub fn master_binary(sibling_binary: &str) -> PathBuf {
    let path = Path::new(sibling_binary).with_file_name("lode-master");
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

impl Cluster {
    /// Starts `count` masters on the embedded elector; `sibling_binary` is any binary in the
    /// same target folder.
    pub fn start(count: usize, lease_timeout: &str, sibling_binary: &str) -> Cluster {
        let election = Election::Embedded { lease_timeout: lease_timeout.into() };
        Cluster::start_with(count, election, sibling_binary)
    }

    /// Starts `count` masters electing through `election`, with the journal in the shared
    /// data directory.
    pub fn start_with(count: usize, election: Election, sibling_binary: &str) -> Cluster {
        Cluster::start_on(count, election, &[], sibling_binary)
    }

    /// Starts `count` masters electing through `election`, with the `extra` lines in the site
    /// file: the journal folder and what its store needs (without, the journal is in the
    /// shared data directory), or any other setting.
    pub fn start_on(
        count: usize,
        election: Election,
        extra: &[(String, String)],
        sibling_binary: &str,
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("temporary directory");
        let addresses: Vec<String> =
            free_ports(count).unwrap().iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let lease_timeout = match &election {
            Election::Embedded { lease_timeout } => lease_timeout.as_str(),
            _ => "2s",
        };
        let site = write_site(dir.path(), &addresses, lease_timeout, &[]).unwrap();
        // Lost workers are noticed within seconds, not Alluxio's five minutes.
        let mut text = std::fs::read_to_string(&site).unwrap();
        text.push_str("alluxio.master.worker.timeout=3s\n");
        std::fs::write(&site, text).unwrap();
        let mut text = std::fs::read_to_string(&site).unwrap();
        for (key, value) in extra {
            text.push_str(&format!("{key}={value}\n"));
        }
        std::fs::write(&site, text).unwrap();
        // Later lines win, so these replace the embedded elector `write_site` chose.
        let mut text = std::fs::read_to_string(&site).unwrap();
        for (key, value) in election.master_properties() {
            text.push_str(&format!("{key}={value}\n"));
        }
        std::fs::write(&site, text).unwrap();
        let mut cluster = Cluster {
            binary: master_binary(sibling_binary),
            conf_dir: site.parent().unwrap().to_path_buf(),
            election,
            workers: Vec::new(),
            tiers: tempfile::tempdir_in(TIER_ROOT).expect("a folder on the tmpfs"),
            masters: addresses.into_iter().map(|a| (a, None)).collect(),
            master_env: Vec::new(),
            master_open_files: None,
            _dir: dir,
        };
        for index in 0..count {
            cluster.restart(index);
        }
        cluster
    }

    /// The data directory the masters share (journal, election files, configuration).
    pub fn work_dir(&self) -> &Path {
        self._dir.path()
    }

    /// Starts master `index` (again).
    pub fn restart(&mut self, index: usize) {
        let port = self.masters[index].0.rsplit_once(':').unwrap().1.to_string();
        let mut command = Command::new(&self.binary);
        command
            .arg(format!("-Dalluxio.master.rpc.port={port}"))
            .env_clear()
            .env("ALLUXIO_CONF_DIR", &self.conf_dir)
            // Warnings, and who won and lost which term: what a failed test prints (Drop).
            .env("RUST_LOG", "warn,lode_core::elector=info,lode_master::node=info")
            .envs(self.master_env.iter().map(|(k, v)| (k, v)));
        if rustix::process::geteuid().is_root() {
            // A group per master, so a partition test can firewall one master's traffic.
            std::os::unix::process::CommandExt::gid(&mut command, Cluster::group_of(index));
        }
        if let Some(files) = self.master_open_files {
            let limit = rustix::process::Rlimit { current: Some(files), maximum: Some(files) };
            // SAFETY: the closure only makes one async-signal-safe system call.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit)
                        .map_err(std::io::Error::from)
                });
            }
        }
        self.masters[index].1 = Some(Proc::start(command, true));
    }

    /// The group id master `index` runs with (when the tests run as root).
    pub fn group_of(index: usize) -> u32 {
        40_000 + index as u32
    }

    /// Configuration for clients of this cluster: the masters' addresses, or with an election
    /// service only its address, as Alluxio's guide configures clients.
    pub fn client_config(&self) -> Config {
        let service = self.election.client_properties();
        if !service.is_empty() {
            return Config::from_pairs(service).unwrap();
        }
        let addresses: Vec<&str> = self.masters.iter().map(|(a, _)| a.as_str()).collect();
        Config::from_pairs([("alluxio.master.rpc.addresses", addresses.join(","))]).unwrap()
    }

    /// A client that retries for up to a minute.
    pub fn client(&self) -> MasterClient {
        MasterClient::from_config(&self.client_config()).unwrap().with_retry(RetryPolicy {
            base_sleep: Duration::from_millis(10),
            max_sleep: Duration::from_millis(200),
            max_duration: Duration::from_secs(60),
        })
    }

    /// Each running master's status, by index.
    pub async fn statuses(&self) -> Vec<(usize, MasterStatus)> {
        let mut out = Vec::new();
        for (index, (address, process)) in self.masters.iter().enumerate() {
            if process.is_some() {
                if let Ok(status) = MasterClient::master_status(address).await {
                    out.push((index, status));
                }
            }
        }
        out
    }

    /// Waits until some master other than `not` leads; returns its index.
    pub async fn leader(&self, not: Option<usize>) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for (index, status) in self.statuses().await {
                if status.role() == Role::Leader && Some(index) != not {
                    return index;
                }
            }
            assert!(Instant::now() < deadline, "no leader within a minute");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILLs master `index`.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut process) = self.masters[index].1.take() {
            process.kill();
        }
    }

    /// Stops master `index` with SIGTERM (a leader resigns) and waits for it to exit.
    pub fn terminate(&mut self, index: usize) {
        if let Some(mut process) = self.masters[index].1.take() {
            process.signal(rustix::process::Signal::TERM);
            process.wait();
        }
    }

    /// Starts a worker with a 256 MB memory tier of its own; returns its index.
    pub fn start_worker(&mut self) -> usize {
        self.start_worker_with_capacity("256MB")
    }

    /// Starts a worker with a memory tier of `capacity` (`1GB`); returns its index.
    pub fn start_worker_with_capacity(&mut self, capacity: &str) -> usize {
        self.start_worker_with(capacity, Vec::new())
    }

    /// Starts a worker with a memory tier of `capacity` and more `-Dkey=value` arguments
    /// (`extra`); returns its index.
    pub fn start_worker_with(&mut self, capacity: &str, extra: Vec<String>) -> usize {
        let port = free_ports(1).unwrap()[0];
        let tier = self.tiers.path().join(format!("tier-{}", self.workers.len()));
        self.workers.push(WorkerProcess {
            address: format!("127.0.0.1:{port}"),
            port,
            tier,
            capacity: capacity.to_string(),
            extra,
            process: None,
        });
        let index = self.workers.len() - 1;
        self.restart_worker(index);
        index
    }

    /// Starts worker `index` (again), on the same port and memory tier.
    pub fn restart_worker(&mut self, index: usize) {
        let binary = self.binary.with_file_name("lode-worker");
        let worker = &mut self.workers[index];
        let mut command = Command::new(binary);
        command
            .arg(format!("-Dalluxio.worker.rpc.port={}", worker.port))
            .arg("-Dalluxio.worker.hostname=127.0.0.1")
            .arg("-Dalluxio.worker.bind.host=127.0.0.1")
            .arg(format!("-Dalluxio.worker.tieredstore.level0.dirs.path={}", worker.tier.display()))
            .arg(format!("-Dalluxio.worker.ramdisk.size={}", worker.capacity))
            .args(&worker.extra)
            .arg("-Dalluxio.worker.block.heartbeat.interval=200ms")
            .env_clear()
            .env("ALLUXIO_CONF_DIR", &self.conf_dir)
            .env("RUST_LOG", "info");
        worker.process = Some(Proc::start(command, true));
    }

    /// The memory tier folder of worker `index`.
    pub fn worker_tier(&self, index: usize) -> &Path {
        &self.workers[index].tier
    }

    /// The process of worker `index`, if it runs.
    pub fn worker_process(&mut self, index: usize) -> Option<&mut Proc> {
        self.workers[index].process.as_mut()
    }

    /// SIGKILLs worker `index`.
    pub fn kill_worker(&mut self, index: usize) {
        if let Some(mut process) = self.workers[index].process.take() {
            process.kill();
        }
    }

    /// Waits until the leader lists exactly the running workers (a minute at most).
    pub async fn wait_workers_registered(&self) {
        let client = self.client();
        let mut expected: Vec<String> = self
            .workers
            .iter()
            .filter(|w| w.process.is_some())
            .map(|w| w.address.clone())
            .collect();
        expected.sort();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut listed: Vec<String> = client
                .worker_infos()
                .await
                .map(|infos| {
                    infos
                        .iter()
                        .filter_map(|w| w.address.as_ref())
                        .map(|a| format!("{}:{}", a.host(), a.rpc_port()))
                        .collect()
                })
                .unwrap_or_default();
            listed.sort();
            if listed == expected {
                return;
            }
            assert!(Instant::now() < deadline, "workers {expected:?} not registered: {listed:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process of master `index`.
    pub fn process(&mut self, index: usize) -> &mut Proc {
        self.masters[index].1.as_mut().expect("a running master")
    }
}

/// Runs `lode-master` (beside `sibling_binary`) with `defines` (`key=value`) in a fresh work
/// directory, expects it to stop at start-up, and returns what it printed on stderr.
pub fn master_start_up_error(sibling_binary: &str, defines: &[(String, String)]) -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut command = crate::isolated_command(&master_binary(sibling_binary).display().to_string());
    for (key, value) in defines {
        command.arg(format!("-D{key}={value}"));
    }
    let output = command
        .arg(format!("-Dalluxio.work.dir={}", dir.path().display()))
        .arg("-Dalluxio.master.rpc.port=0")
        .output()
        .expect("running lode-master");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "the master started: {stderr}");
    stderr
}
