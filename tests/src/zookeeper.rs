//! Real ZooKeeper servers for tests (DESIGN §7): a standalone server or an ensemble, from
//! Debian's `zookeeper` package, on free loopback ports, each a `java` process this harness
//! starts, kills and restarts by PID.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lode_client::local::free_ports;

/// The server jar Debian's `zookeeper` package installs.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Debian's ZooKeeper command-line client.
pub const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

/// One server of the ensemble.
struct Server {
    client_port: u16,
    dir: PathBuf,
    process: Option<Child>,
}

/// A running standalone server or ensemble; every server is killed when this is dropped.
pub struct ZooKeeper {
    servers: Vec<Server>,
    _dir: tempfile::TempDir,
}

/// Panics with what to install when ZooKeeper is missing: tests that need it fail, not skip.
fn require_installed() {
    assert!(
        Path::new(ZOOKEEPER_JAR).is_file(),
        "ZooKeeper is not installed ({ZOOKEEPER_JAR} is missing): install Debian's zookeeper \
         package (`apt-get install zookeeper`; scripts/test does this)"
    );
}

impl ZooKeeper {
    /// Starts one standalone server.
    pub fn standalone() -> ZooKeeper {
        ZooKeeper::start(1, Duration::from_secs(120))
    }

    /// Starts one standalone server that grants sessions of at most `max_session`
    /// (`maxSessionTimeout`), whatever a client asks for.
    pub fn standalone_with_max_session(max_session: Duration) -> ZooKeeper {
        ZooKeeper::start(1, max_session)
    }

    /// Starts an ensemble of `count` servers and waits until each serves.
    pub fn ensemble(count: usize) -> ZooKeeper {
        ZooKeeper::start(count, Duration::from_secs(120))
    }

    fn start(count: usize, max_session: Duration) -> ZooKeeper {
        require_installed();
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports = free_ports(3 * count).expect("free ports");
        let peers: String = (0..count)
            .map(|i| {
                format!("server.{}=127.0.0.1:{}:{}\n", i + 1, ports[3 * i + 1], ports[3 * i + 2])
            })
            .collect();
        let mut servers = Vec::new();
        for i in 0..count {
            let server_dir = dir.path().join(format!("zk{}", i + 1));
            std::fs::create_dir_all(server_dir.join("data")).expect("server directory");
            // A short tick so tests may use short sessions (2 ticks minimum).
            let mut config = format!(
                "tickTime=100\ninitLimit=100\nsyncLimit=20\ndataDir={}\nclientPort={}\n\
                 clientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=*\nminSessionTimeout=200\nmaxSessionTimeout={}\n",
                server_dir.join("data").display(),
                ports[3 * i],
                max_session.as_millis()
            );
            if count > 1 {
                config.push_str(&peers);
                std::fs::write(server_dir.join("data/myid"), format!("{}\n", i + 1)).expect("myid");
            }
            std::fs::write(server_dir.join("zoo.cfg"), config).expect("zoo.cfg");
            servers.push(Server { client_port: ports[3 * i], dir: server_dir, process: None });
        }
        let mut zookeeper = ZooKeeper { servers, _dir: dir };
        for i in 0..count {
            zookeeper.launch(i);
        }
        for i in 0..count {
            zookeeper.wait_serving(i);
        }
        zookeeper
    }

    fn launch(&mut self, index: usize) {
        let server = &mut self.servers[index];
        let log = File::options()
            .create(true)
            .append(true)
            .open(server.dir.join("server.log"))
            .expect("server log");
        let mut command = Command::new("java");
        crate::process::die_with_parent(&mut command);
        let child = command
            .args(["-Xmx64m", "-XX:+UseSerialGC", "-cp", ZOOKEEPER_JAR])
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(server.dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("starting java (is a JDK installed?)");
        server.process = Some(child);
    }

    /// The connect string: every server's `127.0.0.1:port`, comma-separated.
    pub fn connect_string(&self) -> String {
        let all: Vec<String> =
            self.servers.iter().map(|s| format!("127.0.0.1:{}", s.client_port)).collect();
        all.join(",")
    }

    /// Every server's client port.
    pub fn client_ports(&self) -> Vec<u16> {
        self.servers.iter().map(|s| s.client_port).collect()
    }

    /// How many servers there are.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Whether there are none (never, once started).
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// What `srvr` says about server `index`, if it answers.
    pub fn four_letter(&self, index: usize, word: &str) -> Option<String> {
        let address = format!("127.0.0.1:{}", self.servers[index].client_port);
        let mut stream =
            TcpStream::connect_timeout(&address.parse().ok()?, Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(word.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    }

    /// Whether server `index` serves clients (standalone, leader or follower).
    pub fn is_serving(&self, index: usize) -> bool {
        self.four_letter(index, "srvr").is_some_and(|answer| answer.contains("Mode:"))
    }

    /// Waits until server `index` serves (a broken run fails after two minutes).
    pub fn wait_serving(&mut self, index: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !self.is_serving(index) {
            let exited = self.servers[index].process.as_mut().and_then(|c| c.try_wait().ok()?);
            if let Some(status) = exited {
                panic!(
                    "ZooKeeper server {index} exited ({status}); see {}",
                    self.servers[index].dir.join("server.log").display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "ZooKeeper server {index} did not serve within two minutes; see {}",
                self.servers[index].dir.join("server.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs server `index`.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.servers[index].process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts server `index` again (its data directory is kept) without waiting.
    pub fn restart(&mut self, index: usize) {
        self.kill(index);
        self.launch(index);
    }

    /// The session that owns the ephemeral node `path`, from server `index`'s `dump`
    /// (answered by a standalone server or an ensemble's leader); `None` if no session does.
    pub fn session_owning(&self, index: usize, path: &str) -> Option<i64> {
        let dump = self.four_letter(index, "dump")?;
        let mut owner = None;
        for line in dump.lines() {
            if let Some(id) = line.strip_prefix("0x").and_then(|l| l.strip_suffix(':')) {
                owner = u64::from_str_radix(id, 16).ok();
            } else if line.trim() == path {
                return owner.map(|id| id as i64);
            }
        }
        None
    }

    /// Expires session `id` now, as ZooKeeper does when a session times out, without pausing
    /// or cutting off its owner: attaches to the session with its id and password (the server
    /// derives the password from the id, `ZooKeeperServer.generatePasswd`) on server `index`
    /// and closes it. The server deletes the session's ephemeral nodes at once, and the owner
    /// learns `Expired` when it reconnects.
    pub fn expire_session(&self, index: usize, id: i64) -> std::io::Result<()> {
        // ConnectRequest: protocol version, last zxid seen, timeout, session id, password.
        let mut connect = Vec::new();
        connect.extend_from_slice(&0i32.to_be_bytes());
        connect.extend_from_slice(&0i64.to_be_bytes());
        connect.extend_from_slice(&30_000i32.to_be_bytes());
        connect.extend_from_slice(&id.to_be_bytes());
        connect.extend_from_slice(&16i32.to_be_bytes());
        connect.extend_from_slice(&session_password(id));
        // closeSession (request header: xid 1, type -11) goes out with the attach: the owner
        // reconnects at once when its connection is taken over, and its reconnection closes
        // ours in turn. The server answers the close or just closes the connection, so only
        // its `dump` tells whether the session is gone; a close that lost the race is retried.
        let close = [1i32.to_be_bytes(), (-11i32).to_be_bytes()].concat();
        let requests = [frame(&connect), frame(&close)].concat();
        let address = format!("127.0.0.1:{}", self.servers[index].client_port);
        let open =
            || self.four_letter(index, "dump").is_none_or(|d| d.contains(&format!("{id:#x}")));
        for _ in 0..20 {
            let mut stream = TcpStream::connect(&address)?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(&requests)?;
            let _ = stream.read_to_end(&mut Vec::new()); // Until the server closes it.
            let deadline = Instant::now() + Duration::from_secs(2);
            while open() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if !open() {
                return Ok(());
            }
        }
        Err(std::io::Error::other(format!("session {id:#x} is still open after 20 closes")))
    }

    /// Runs `zkCli.sh` against the ensemble with `command` and returns its output.
    pub fn cli(&self, command: &[&str]) -> String {
        let output = Command::new(ZKCLI)
            .arg("-server")
            .arg(self.connect_string())
            .args(command)
            .env("ZOO_LOG4J_PROP", "ERROR,CONSOLE")
            .output()
            .expect("running zkCli.sh");
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr)
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        for index in 0..self.servers.len() {
            self.kill(index);
        }
    }
}

impl crate::faults::ElectionService for ZooKeeper {
    fn servers(&self) -> usize {
        self.len()
    }

    fn kill_server(&mut self, index: usize) {
        self.kill(index);
    }

    fn restart_server(&mut self, index: usize) {
        self.restart(index);
        self.wait_serving(index);
    }

    fn client_ports(&self) -> Vec<u16> {
        ZooKeeper::client_ports(self)
    }
}

/// The password ZooKeeper gives session `id`: 16 bytes of `java.util.Random` seeded with the id
/// XOR the server's fixed secret.
fn session_password(id: i64) -> [u8; 16] {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;
    let mut seed = ((id ^ 0xB341_5C00) as u64 ^ MULTIPLIER) & MASK;
    let mut password = [0u8; 16];
    for chunk in password.chunks_mut(4) {
        seed = seed.wrapping_mul(MULTIPLIER).wrapping_add(0xB) & MASK;
        let mut random = (seed >> 16) as u32; // Random.nextInt(): the high 32 of 48 bits.
        for byte in chunk {
            *byte = random as u8;
            random >>= 8;
        }
    }
    password
}

/// `body` with its length in front, as ZooKeeper frames every request.
fn frame(body: &[u8]) -> Vec<u8> {
    let length = i32::try_from(body.len()).expect("a small frame");
    [&length.to_be_bytes()[..], body].concat()
}
