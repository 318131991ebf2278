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

/// Masters on loopback sharing a data directory (embedded elector, local journal).
pub struct Cluster {
    binary: PathBuf,
    conf_dir: PathBuf,
    /// Each master's address and process (None while stopped).
    pub masters: Vec<(String, Option<Proc>)>,
    _dir: tempfile::TempDir,
}

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
    /// Starts `count` masters; `sibling_binary` is any binary in the same target folder.
    pub fn start(count: usize, lease_timeout: &str, sibling_binary: &str) -> Cluster {
        let dir = tempfile::tempdir().expect("temporary directory");
        let addresses: Vec<String> =
            free_ports(count).unwrap().iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let site = write_site(dir.path(), &addresses, lease_timeout).unwrap();
        let mut cluster = Cluster {
            binary: master_binary(sibling_binary),
            conf_dir: site.parent().unwrap().to_path_buf(),
            masters: addresses.into_iter().map(|a| (a, None)).collect(),
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
            .env("RUST_LOG", "warn");
        self.masters[index].1 = Some(Proc::start(command, true));
    }

    /// Configuration for clients of this cluster.
    pub fn client_config(&self) -> Config {
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

    /// The process of master `index`.
    pub fn process(&mut self, index: usize) -> &mut Proc {
        self.masters[index].1.as_mut().expect("a running master")
    }
}
