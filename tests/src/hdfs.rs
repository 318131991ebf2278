//! A real HDFS for tests (DESIGN §7): one NameNode and [`DATANODES`] DataNodes from the Hadoop jars that
//! `tests/fetch-jars tests/hadoop` copies from Maven Central, as plain `java` processes on free loopback
//! ports, which this harness kills and restarts by PID.
//!
//! [`Hdfs::shared`] is one instance for every test of a process (started on first use, killed
//! when the process exits); [`Hdfs::start`] is a private one for tests that kill its parts.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lode_client::local::free_ports;

/// The folder with the harness's `pom.xml`; the jars go to `lib/` in it.
pub const HADOOP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/hadoop");

/// How many DataNodes the harness runs, and so each block's replication. Two, because a
/// NameNode closes a file whose last block is not yet reported only when more than one
/// replica is expected (`dfs.namenode.file.close.num-committed-allowed`), as in production.
pub const DATANODES: usize = 2;

/// Which HDFS daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// The NameNode: metadata, renames.
    NameNode,
    /// DataNode `n` (from 0): block contents.
    DataNode(usize),
}

impl Daemon {
    fn class(self) -> &'static str {
        match self {
            Daemon::NameNode => "org.apache.hadoop.hdfs.server.namenode.NameNode",
            Daemon::DataNode(_) => "org.apache.hadoop.hdfs.server.datanode.DataNode",
        }
    }

    fn log(self) -> String {
        match self {
            Daemon::NameNode => "namenode.log".into(),
            Daemon::DataNode(n) => format!("datanode{n}.log"),
        }
    }

    fn all() -> impl Iterator<Item = Daemon> {
        std::iter::once(Daemon::NameNode).chain((0..DATANODES).map(Daemon::DataNode))
    }
}

/// A running NameNode and its DataNodes; all are killed when this is dropped.
pub struct Hdfs {
    dir: tempfile::TempDir,
    /// `hdfs-site.xml` properties beyond the defaults (a test's limits).
    extra: Vec<(String, String)>,
    rpc_port: u16,
    http_port: u16,
    /// Each DataNode's data-transfer port, fixed so that a test can cut a process off from HDFS.
    datanode_ports: Vec<u16>,
    namenode: Option<Child>,
    datanodes: Vec<Option<Child>>,
}

/// The Hadoop jars, fetched with Maven unless they are there.
fn ensure_jars() -> PathBuf {
    crate::jars::ensure(HADOOP_DIR)
}

impl Hdfs {
    /// One HDFS for every test in this process, started on first use by a thread that lives as
    /// long as the process, so its daemons die with the process.
    pub fn shared() -> &'static Hdfs {
        static SHARED: OnceLock<Hdfs> = OnceLock::new();
        SHARED.get_or_init(|| crate::process::start_for_the_process(Hdfs::start))
    }

    /// Formats and starts a new NameNode and its DataNodes and waits until HDFS takes writes.
    /// The daemons die with the *thread* that started them (`PR_SET_PDEATHSIG`): call this on
    /// a thread that outlives their use — a test's own thread (the body of its `block_on`), or
    /// through [`Hdfs::shared`] — never in `spawn_blocking`, whose idle threads exit after
    /// seconds and take the daemons with them.
    pub fn start() -> Hdfs {
        Hdfs::start_with(&[])
    }

    /// [`Hdfs::start`] with `properties` added to (or overriding) the site configuration,
    /// such as a NameNode limit a test needs (the same thread rule applies).
    pub fn start_with(properties: &[(&str, &str)]) -> Hdfs {
        let lib = ensure_jars();
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports = free_ports(2 + DATANODES).expect("free ports");
        let hdfs = Hdfs {
            dir,
            extra: properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            rpc_port: ports[0],
            http_port: ports[1],
            datanode_ports: ports[2..].to_vec(),
            namenode: None,
            datanodes: (0..DATANODES).map(|_| None).collect(),
        };
        hdfs.write_configuration(&lib);
        let mut format = hdfs.java(Daemon::NameNode);
        format.args(["-format", "-force", "-nonInteractive"]);
        let status = format.status().expect("running java (is a JDK installed?)");
        assert!(
            status.success(),
            "formatting the NameNode failed:\n{}",
            hdfs.log_tail(Daemon::NameNode)
        );
        let mut hdfs = hdfs;
        for daemon in Daemon::all() {
            hdfs.launch(daemon);
        }
        hdfs.wait_ready();
        hdfs
    }

    /// `hdfs://127.0.0.1:<port>`: the file system's URI.
    pub fn uri(&self) -> String {
        format!("hdfs://127.0.0.1:{}", self.rpc_port)
    }

    /// The NameNode's RPC port.
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The ports a client of this HDFS talks to: the NameNode's RPC port and every DataNode's
    /// data-transfer port (a firewall rule on them cuts a process off from HDFS).
    pub fn ports(&self) -> Vec<u16> {
        std::iter::once(self.rpc_port).chain(self.datanode_ports.iter().copied()).collect()
    }

    /// A `core-site.xml`/`hdfs-site.xml` directory for clients of this HDFS.
    pub fn conf_dir(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    fn write_configuration(&self, lib: &Path) {
        let root = self.dir.path();
        let properties = [
            ("fs.defaultFS", self.uri()),
            ("hadoop.tmp.dir", root.join("data").display().to_string()),
            ("dfs.namenode.rpc-address", format!("127.0.0.1:{}", self.rpc_port)),
            ("dfs.namenode.http-address", format!("127.0.0.1:{}", self.http_port)),
            ("dfs.namenode.name.dir", root.join("data/name").display().to_string()),
            ("dfs.datanode.address", "127.0.0.1:0".into()),
            ("dfs.datanode.http.address", "127.0.0.1:0".into()),
            ("dfs.datanode.ipc.address", "127.0.0.1:0".into()),
            ("dfs.datanode.hostname", "127.0.0.1".into()),
            ("dfs.replication", DATANODES.to_string()),
            ("dfs.namenode.safemode.threshold-pct", "0".into()),
            ("dfs.blocksize", "1048576".into()),
            ("dfs.namenode.fs-limits.min-block-size", "4096".into()),
            ("dfs.permissions.enabled", "false".into()),
            ("dfs.namenode.datanode.registration.ip-hostname-check", "false".into()),
            // Close a file without waiting for the DataNodes' block reports (hdfs-native
            // retries `complete` after 500 ms): what docs/operations.md asks of a journal's
            // NameNode.
            ("dfs.namenode.file.close.num-committed-allowed", "1".into()),
            // A DataNode that was killed is declared dead within seconds, not ten minutes.
            ("dfs.namenode.heartbeat.recheck-interval", "2000".into()),
            ("dfs.heartbeat.interval", "1".into()),
        ];
        let xml: String = properties
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .chain(self.extra.iter().map(|(name, value)| (name.as_str(), value.as_str())))
            .map(|(name, value)| {
                format!("  <property><name>{name}</name><value>{value}</value></property>\n")
            })
            .collect();
        let xml = format!("<?xml version=\"1.0\"?>\n<configuration>\n{xml}</configuration>\n");
        let conf = self.conf_dir();
        // The daemons' web servers want these resource folders on the class path; the
        // published jars do not carry them.
        for webapp in ["hdfs", "datanode", "static"] {
            std::fs::create_dir_all(conf.join("webapps").join(webapp)).expect("webapps folder");
            std::fs::write(conf.join("webapps").join(webapp).join(".keep"), "").expect("webapp");
        }
        std::fs::write(conf.join("core-site.xml"), &xml).expect("core-site.xml");
        std::fs::write(conf.join("hdfs-site.xml"), &xml).expect("hdfs-site.xml");
        std::fs::write(
            conf.join("log4j.properties"),
            "log4j.rootLogger=INFO,out\nlog4j.appender.out=org.apache.log4j.ConsoleAppender\n\
             log4j.appender.out.layout=org.apache.log4j.PatternLayout\n\
             log4j.appender.out.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n\n",
        )
        .expect("log4j.properties");
        std::fs::write(root.join("classpath"), crate::jars::class_path(&conf, lib))
            .expect("class path");
    }

    fn java(&self, daemon: Daemon) -> Command {
        let classpath =
            std::fs::read_to_string(self.dir.path().join("classpath")).expect("class path");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join(daemon.log()))
            .expect("daemon log");
        let mut command = Command::new("java");
        command
            .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", &classpath])
            .arg(daemon.class())
            .args(match daemon {
                Daemon::NameNode => Vec::new(),
                Daemon::DataNode(n) => vec![
                    "-D".to_string(),
                    format!(
                        "dfs.datanode.data.dir={}",
                        self.dir.path().join(format!("data/datanode{n}")).display()
                    ),
                    "-D".to_string(),
                    format!("dfs.datanode.address=127.0.0.1:{}", self.datanode_ports[n]),
                ],
            })
            .env("HADOOP_USER_NAME", "lode")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        crate::process::die_with_parent(&mut command);
        command
    }

    fn launch(&mut self, daemon: Daemon) {
        let child = self.java(daemon).spawn().expect("starting java (is a JDK installed?)");
        *self.slot(daemon) = Some(child);
    }

    fn slot(&mut self, daemon: Daemon) -> &mut Option<Child> {
        match daemon {
            Daemon::NameNode => &mut self.namenode,
            Daemon::DataNode(n) => &mut self.datanodes[n],
        }
    }

    /// SIGKILLs `daemon`.
    pub fn kill(&mut self, daemon: Daemon) {
        if let Some(mut child) = self.slot(daemon).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` to `daemon` (SIGSTOP to stall it, SIGCONT to let it go on).
    pub fn signal(&self, daemon: Daemon, signal: rustix::process::Signal) {
        let child = match daemon {
            Daemon::NameNode => self.namenode.as_ref(),
            Daemon::DataNode(n) => self.datanodes[n].as_ref(),
        };
        let pid = child.and_then(|c| rustix::process::Pid::from_raw(c.id() as i32));
        rustix::process::kill_process(pid.expect("a running daemon"), signal)
            .expect("signalling the daemon");
    }

    /// Starts `daemon` again (its data is kept) without waiting for it.
    pub fn restart(&mut self, daemon: Daemon) {
        self.kill(daemon);
        self.launch(daemon);
    }

    /// The last lines of `daemon`'s log, for failure messages.
    pub fn log_tail(&self, daemon: Daemon) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(daemon.log())).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Whether the NameNode is out of safe mode with every DataNode live.
    pub fn is_ready(&self) -> bool {
        let Some(state) = self.jmx("Hadoop:service=NameNode,name=FSNamesystemState") else {
            return false;
        };
        let number = |field: &str| {
            let after = state.split(&format!("\"{field}\" : ")).nth(1)?;
            after.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u64>().ok()
        };
        state.contains("\"FSState\" : \"Operational\"")
            && number("NumLiveDataNodes") >= Some(DATANODES as u64)
    }

    /// Waits until the NameNode is operational with every DataNode live and a file written
    /// through every DataNode closes (a broken run fails after two minutes). The write matters:
    /// the NameNode counts a DataNode live as soon as it registered, a moment before the
    /// DataNode itself knows it did and serves writes, and hdfs-native does not retry a block
    /// whose first DataNode closes the connection — the first write of a test could fail.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !(self.is_ready() && self.takes_a_write()) {
            for daemon in Daemon::all() {
                let exited = self.slot(daemon).as_mut().and_then(|c| c.try_wait().ok()?);
                if let Some(status) = exited {
                    panic!("the {daemon:?} exited ({status}):\n{}", self.log_tail(daemon));
                }
            }
            assert!(
                Instant::now() < deadline,
                "HDFS was not ready within two minutes:\n{}",
                self.log_tail(Daemon::NameNode)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether a small file, replicated to every DataNode, can be written, closed and deleted
    /// (on a thread of its own: callers may be inside a runtime).
    fn takes_a_write(&self) -> bool {
        let folder = format!("{}/.lode-ready-probe", self.uri());
        let site = self.conf_dir().join("hdfs-site.xml");
        let probe = move || -> Result<(), lode_ufs::UfsError> {
            let config = lode_core::config::Config::from_pairs([(
                lode_core::config::name::UNDERFS_HDFS_CONFIGURATION,
                site.display().to_string(),
            )])
            .expect("HDFS client configuration");
            let quick = std::collections::BTreeMap::from([(
                lode_core::config::name::UNDERFS_REQUEST_TIMEOUT.to_string(),
                "10s".to_string(),
            )]);
            let ufs = lode_ufs::Ufs::open(&folder, &quick, &config)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut file = ufs.create("probe").await?;
                file.write(bytes::Bytes::from_static(b"ready")).await?;
                file.finish().await?;
                ufs.delete("probe").await
            })
        };
        match std::thread::spawn(probe).join().expect("probe thread") {
            Ok(()) => true,
            Err(error) => {
                eprintln!("HDFS does not take a write yet: {error}");
                false
            }
        }
    }

    /// One JMX bean from the NameNode's web server, as JSON text.
    fn jmx(&self, bean: &str) -> Option<String> {
        crate::http_get(self.http_port, &format!("/jmx?qry={bean}"))
    }
}

impl Drop for Hdfs {
    fn drop(&mut self) {
        for daemon in Daemon::all() {
            self.kill(daemon);
        }
    }
}
