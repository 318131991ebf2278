//! Real etcd clusters for tests (DESIGN §7): Debian's `etcd-server`, every member on free
//! loopback ports with a 10 ms heartbeat and a 100 ms election timeout, each an `etcd` process
//! this harness starts, kills, pauses and restarts by PID.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lode_client::local::free_ports;

use crate::faults::ElectionService;

/// The server Debian's `etcd-server` package installs.
pub const ETCD: &str = "/usr/bin/etcd";
/// Debian's etcd command-line client (package `etcd-client`).
pub const ETCDCTL: &str = "/usr/bin/etcdctl";

/// One member of the cluster.
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    dir: PathBuf,
    process: Option<Child>,
}

/// A running cluster; every member is killed when this is dropped.
pub struct Etcd {
    members: Vec<Member>,
    token: String,
    _dir: tempfile::TempDir,
}

/// Panics with what to install when etcd is missing: tests that need it fail, not skip.
fn require_installed() {
    for (binary, package) in [(ETCD, "etcd-server"), (ETCDCTL, "etcd-client")] {
        assert!(
            Path::new(binary).is_file(),
            "etcd is not installed ({binary} is missing): install Debian's {package} package \
             (`apt-get install {package}`; scripts/test does this)"
        );
    }
}

impl Etcd {
    /// Starts a cluster of `count` members and waits until each is healthy.
    pub fn cluster(count: usize) -> Etcd {
        require_installed();
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports = free_ports(2 * count).expect("free ports");
        let members = (0..count)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: ports[2 * i],
                peer_port: ports[2 * i + 1],
                dir: dir.path().join(format!("m{i}")),
                process: None,
            })
            .collect();
        let token = format!("lode-{}", uuid::Uuid::new_v4().simple());
        let mut etcd = Etcd { members, token, _dir: dir };
        for index in 0..count {
            std::fs::create_dir_all(&etcd.members[index].dir).expect("member directory");
            etcd.launch(index);
        }
        for index in 0..count {
            etcd.wait_healthy(index);
        }
        etcd
    }

    fn launch(&mut self, index: usize) {
        let cluster: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect();
        let member = &mut self.members[index];
        let client_url = format!("http://127.0.0.1:{}", member.client_port);
        let peer_url = format!("http://127.0.0.1:{}", member.peer_port);
        let log = File::options()
            .create(true)
            .append(true)
            .open(member.dir.join("etcd.log"))
            .expect("member log");
        let mut command = Command::new(ETCD);
        crate::process::die_with_parent(&mut command);
        let child = command
            .args(["--name", &member.name])
            .arg("--data-dir")
            .arg(member.dir.join("data"))
            .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &cluster.join(",")])
            .args(["--initial-cluster-state", "new", "--initial-cluster-token", &self.token])
            .args(["--heartbeat-interval", "10", "--election-timeout", "100"])
            .args(["--log-level", "warn", "--logger", "zap"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("starting etcd");
        member.process = Some(child);
    }

    /// The client endpoints, comma-separated (`alluxio.etcd.endpoints`).
    pub fn endpoints(&self) -> String {
        let all: Vec<String> =
            self.members.iter().map(|m| format!("http://127.0.0.1:{}", m.client_port)).collect();
        all.join(",")
    }

    /// Whether member `index` answers `/health` as healthy (it has a leader).
    pub fn is_healthy(&self, index: usize) -> bool {
        crate::http_get(self.members[index].client_port, "/health")
            .is_some_and(|body| body.contains("\"health\":\"true\""))
    }

    /// Waits until member `index` is healthy (a broken run fails after two minutes).
    pub fn wait_healthy(&mut self, index: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !self.is_healthy(index) {
            let log = self.members[index].dir.join("etcd.log");
            let exited = self.members[index].process.as_mut().and_then(|c| c.try_wait().ok()?);
            if let Some(status) = exited {
                panic!("etcd member {index} exited ({status}); see {}", log.display());
            }
            assert!(
                Instant::now() < deadline,
                "etcd member {index} was not healthy within two minutes; see {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `etcdctl` against the cluster with `command` and returns its output.
    pub fn ctl(&self, command: &[&str]) -> String {
        let output = Command::new(ETCDCTL)
            .arg(format!("--endpoints={}", self.endpoints()))
            .args(command)
            .env("ETCDCTL_API", "3")
            .output()
            .expect("running etcdctl");
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for index in 0..self.members.len() {
            self.kill_server(index);
        }
    }
}

/// Members are killed, restarted (on their data, waiting until healthy) and counted through
/// this trait.
impl ElectionService for Etcd {
    fn servers(&self) -> usize {
        self.members.len()
    }

    fn kill_server(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart_server(&mut self, index: usize) {
        self.kill_server(index);
        self.launch(index);
        self.wait_healthy(index);
    }

    fn client_ports(&self) -> Vec<u16> {
        self.members.iter().map(|m| m.client_port).collect()
    }
}
