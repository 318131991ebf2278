//! Alluxio's own, unmodified Java programs for the interop tests and the side-by-side bench:
//! the `alluxio fs` shell (`alluxio.cli.fs.FileSystemShell`) and `StressMasterBench` from the
//! Alluxio 2.9 jars that `tests/fetch-jars tests/alluxio` copies from Maven Central, run on the
//! machine's JDK with a site file of exactly the lines a test gives.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The folder with the harness's `pom.xml` and log configuration; the jars go to `lib/`.
pub const ALLUXIO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/alluxio");
/// How long one shell command may run before the harness calls it hung and kills it.
const HANG_GUARD: Duration = Duration::from_secs(300);

/// Alluxio's Java client side, configured by one `alluxio-site.properties`.
#[derive(Debug)]
pub struct AlluxioClient {
    conf: tempfile::TempDir,
    lib: PathBuf,
}

/// What one run of an Alluxio program printed.
#[derive(Debug)]
pub struct Output {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its standard output, as bytes (`cat` prints file contents).
    pub stdout: Vec<u8>,
    /// Its standard error (Alluxio's log).
    pub stderr: String,
}

impl Output {
    /// The standard output as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The standard output of a run that must have succeeded; panics with its log otherwise.
    pub fn expect_ok(self, what: &str) -> String {
        self.expect_bytes(what);
        self.text()
    }

    /// The raw standard output of a run that must have succeeded; panics with its log otherwise.
    pub fn expect_bytes(&self, what: &str) -> &[u8] {
        assert!(self.success, "{what} failed:\n{}\n{}", self.text(), self.stderr);
        &self.stdout
    }

    /// The standard error of a run that must have failed; panics with its output otherwise.
    pub fn expect_failure(self, what: &str) -> String {
        assert!(!self.success, "{what} succeeded but should have failed:\n{}", self.text());
        format!("{}\n{}", self.text(), self.stderr)
    }
}

impl AlluxioClient {
    /// A client whose `alluxio-site.properties` holds exactly `site`.
    pub fn new(site: &[(&str, &str)]) -> AlluxioClient {
        let lib = crate::jars::ensure(ALLUXIO_DIR);
        let conf = tempfile::tempdir().expect("a configuration folder");
        let text: String = site.iter().map(|(key, value)| format!("{key}={value}\n")).collect();
        std::fs::write(conf.path().join("alluxio-site.properties"), text).expect("site file");
        AlluxioClient { conf, lib }
    }

    /// The configuration folder (`alluxio.conf.dir`).
    pub fn conf_dir(&self) -> &Path {
        self.conf.path()
    }

    /// A `java` command running `class` with this client's configuration and `-D` options.
    /// Long runs (benchmarks) get the JVM's full JIT; `quick` ones (shell commands) start fast.
    pub fn java(&self, class: &str, defines: &[(&str, &str)], quick: bool) -> Command {
        let class_path = crate::jars::class_path(self.conf.path(), &self.lib);
        self.java_on(&class_path, class, defines, quick)
    }

    fn java_on(
        &self,
        class_path: &str,
        class: &str,
        defines: &[(&str, &str)],
        quick: bool,
    ) -> Command {
        let mut command = Command::new("java");
        command.arg("-Xmx2g");
        if quick {
            command.args(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]);
        }
        command
            .arg(format!("-Dalluxio.conf.dir={}", self.conf.path().display()))
            .arg(format!("-Dlog4j.configurationFile={ALLUXIO_DIR}/log4j2.properties"))
            .args(defines.iter().map(|(key, value)| format!("-D{key}={value}")))
            .args(["-cp", class_path, class])
            .stdin(Stdio::null());
        crate::process::die_with_parent(&mut command);
        command
    }

    /// Runs `alluxio fs ARGS`.
    pub fn fs(&self, args: &[&str]) -> Output {
        self.fs_with(&[], args)
    }

    /// Runs `hadoop fs ARGS` (Hadoop's `FsShell`) with Alluxio's Hadoop client for
    /// `alluxio://` paths (`fs.alluxio.impl=alluxio.hadoop.FileSystem` in a `core-site.xml`, as
    /// a site sets it) and this client's Alluxio configuration.
    pub fn hadoop_fs(&self, args: &[&str]) -> Output {
        let core_site = self.conf.path().join("core-site.xml");
        if !core_site.exists() {
            let text = "<?xml version=\"1.0\"?>\n<configuration>\n  <property>\
                        <name>fs.alluxio.impl</name><value>alluxio.hadoop.FileSystem</value>\
                        </property>\n</configuration>\n";
            std::fs::write(&core_site, text).expect("core-site.xml");
        }
        let mut command = self.java("org.apache.hadoop.fs.FsShell", &[], true);
        command.args(args);
        run(command, &format!("hadoop fs {}", args.join(" ")))
    }

    /// Runs `alluxio fs ARGS` with more `-D` options for this one command.
    pub fn fs_with(&self, defines: &[(&str, &str)], args: &[&str]) -> Output {
        let mut command = self.java("alluxio.cli.fs.FileSystemShell", defines, true);
        command.args(args);
        run(command, &format!("alluxio fs {}", args.join(" ")))
    }
}

/// Runs `command` to its end, reading both pipes; kills it when it hangs past [`HANG_GUARD`].
pub fn run(mut command: Command, what: &str) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e} (is a JDK installed?)"));
    let pipe = |mut reader: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = reader.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = pipe(Box::new(child.stdout.take().expect("stdout")));
    let stderr = pipe(Box::new(child.stderr.take().expect("stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for java") {
            break status;
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            break child.wait().expect("waiting for java");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned(),
    }
}

/// Real Alluxio 2.9 masters from the same jars, for the side-by-side bench: a UFS journal and
/// root under-file-system on local disk, heap metastore, every port on 127.0.0.1; with
/// ZooKeeper for several masters, as Alluxio's own fault-tolerance guide sets them up.
#[derive(Debug)]
pub struct AlluxioMasters {
    dir: tempfile::TempDir,
    lib: PathBuf,
    /// Each master's RPC port, and its process while it runs.
    pub masters: Vec<(u16, Option<std::process::Child>)>,
    web_ports: Vec<u16>,
    /// Workers started with [`AlluxioMasters::start_worker`], and their memory tiers.
    workers: Vec<(std::process::Child, tempfile::TempDir)>,
}

impl AlluxioMasters {
    /// Formats a journal and starts `count` masters; with `zookeeper` (a connect string) they
    /// elect a leader through it. Returns once one of them serves.
    pub fn start(count: usize, zookeeper: Option<&str>) -> AlluxioMasters {
        AlluxioMasters::start_on_ufs(count, zookeeper, None)
    }

    /// [`AlluxioMasters::start`] with `ufs` (a local folder) as the root under-file-system
    /// instead of an empty one of their own.
    pub fn start_on_ufs(
        count: usize,
        zookeeper: Option<&str>,
        ufs: Option<&Path>,
    ) -> AlluxioMasters {
        let lib = crate::jars::ensure(ALLUXIO_DIR);
        let dir = tempfile::tempdir().expect("a folder for Alluxio");
        let root = dir.path();
        for sub in ["conf", "underfs", "logs"] {
            std::fs::create_dir_all(root.join(sub)).expect("Alluxio's folders");
        }
        let ufs = ufs.map_or_else(|| root.join("underfs"), Path::to_path_buf);
        let mut site = format!(
            "alluxio.master.hostname=127.0.0.1\nalluxio.master.bind.host=127.0.0.1\n\
             alluxio.master.web.bind.host=127.0.0.1\nalluxio.master.journal.type=UFS\n\
             alluxio.master.journal.folder={root}/journal\n\
             alluxio.master.mount.table.root.ufs={ufs}\n\
             alluxio.master.metastore=HEAP\nalluxio.home={root}\nalluxio.work.dir={root}\n",
            root = root.display(),
            ufs = ufs.display()
        );
        if let Some(address) = zookeeper {
            site.push_str(&format!(
                "alluxio.zookeeper.enabled=true\nalluxio.zookeeper.address={address}\n"
            ));
        }
        std::fs::write(root.join("conf/alluxio-site.properties"), site).expect("site file");
        let ports = lode_client::local::free_ports(2 * count).expect("free ports");
        let mut masters = AlluxioMasters {
            dir,
            lib,
            masters: ports[..count].iter().map(|port| (*port, None)).collect(),
            web_ports: ports[count..].to_vec(),
            workers: Vec::new(),
        };
        let mut format = masters.java("alluxio.cli.Format", &[]);
        run_checked(format.arg("master"), "formatting the Alluxio journal");
        for index in 0..count {
            masters.restart(index);
        }
        masters.wait_serving();
        masters
    }

    fn java(&self, class: &str, defines: &[(String, String)]) -> Command {
        let root = self.dir.path();
        let mut command = Command::new("java");
        command
            .args(["-Xmx2g", "-XX:+UseG1GC"])
            .arg(format!("-Dalluxio.conf.dir={}/conf", root.display()))
            .arg(format!("-Dalluxio.logs.dir={}/logs", root.display()))
            .arg(format!("-Dlog4j.configurationFile={ALLUXIO_DIR}/log4j2.properties"))
            .args(defines.iter().map(|(key, value)| format!("-D{key}={value}")))
            .arg("-cp")
            .arg(crate::jars::class_path(&root.join("conf"), &self.lib))
            .arg(class)
            .stdin(Stdio::null());
        crate::process::die_with_parent(&mut command);
        command
    }

    /// Starts master `index` (again), its log in `logs/master-<index>.log`.
    pub fn restart(&mut self, index: usize) {
        let defines = [
            ("alluxio.master.rpc.port".to_string(), self.masters[index].0.to_string()),
            ("alluxio.master.web.port".to_string(), self.web_ports[index].to_string()),
        ];
        let log = std::fs::File::create(self.dir.path().join(format!("logs/master-{index}.log")))
            .expect("a master log");
        let child = self
            .java("alluxio.master.AlluxioMaster", &defines)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("starting an Alluxio master (is a JDK installed?)");
        self.masters[index].1 = Some(child);
    }

    /// Starts a real Alluxio worker for these masters, with a memory tier of `capacity`
    /// (`2GB`) in a folder on /dev/shm of its own, every port on 127.0.0.1; returns once the
    /// first master lists it as active (`alluxio fsadmin report capacity`).
    pub fn start_worker(&mut self, capacity: &str) {
        let ports = lode_client::local::free_ports(2).expect("free ports");
        let tier = tempfile::Builder::new()
            .prefix("alluxio-worker-")
            .tempdir_in("/dev/shm")
            .expect("a memory tier on /dev/shm");
        let defines = [
            ("alluxio.worker.hostname", "127.0.0.1".to_string()),
            ("alluxio.worker.bind.host", "127.0.0.1".to_string()),
            ("alluxio.worker.web.bind.host", "127.0.0.1".to_string()),
            ("alluxio.worker.rpc.port", ports[0].to_string()),
            ("alluxio.worker.web.port", ports[1].to_string()),
            ("alluxio.worker.ramdisk.size", capacity.to_string()),
            ("alluxio.worker.tieredstore.levels", "1".to_string()),
            ("alluxio.worker.tieredstore.level0.alias", "MEM".to_string()),
            ("alluxio.worker.tieredstore.level0.dirs.mediumtype", "MEM".to_string()),
            ("alluxio.worker.tieredstore.level0.dirs.path", tier.path().display().to_string()),
            ("alluxio.worker.tieredstore.level0.dirs.quota", capacity.to_string()),
            ("alluxio.master.rpc.port", self.masters[0].0.to_string()),
        ];
        let defines: Vec<(String, String)> =
            defines.into_iter().map(|(key, value)| (key.to_string(), value)).collect();
        let log = std::fs::File::create(self.dir.path().join("logs/worker.log")).expect("a log");
        let child = self
            .java("alluxio.worker.AlluxioWorker", &defines)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("starting an Alluxio worker (is a JDK installed?)");
        self.workers.push((child, tier));
        let started = Instant::now();
        let master = [("alluxio.master.rpc.port".to_string(), self.masters[0].0.to_string())];
        loop {
            let mut report = self.java("alluxio.cli.fsadmin.FileSystemAdminShell", &master);
            report.args(["report", "capacity"]);
            let out = run(report, "alluxio fsadmin report capacity");
            let active = |line: &str| line.starts_with("127.0.0.1") && line.contains("ACTIVE");
            if out.text().lines().any(active) {
                return;
            }
            assert!(started.elapsed() < HANG_GUARD, "the Alluxio worker never registered");
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// kill -9 of master `index`.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.masters[index].1.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `host:port` of every master, as `alluxio.master.rpc.addresses` lists them.
    pub fn rpc_addresses(&self) -> String {
        let all: Vec<String> =
            self.masters.iter().map(|(port, _)| format!("127.0.0.1:{port}")).collect();
        all.join(",")
    }

    /// Waits until some master's web server answers (it starts once the master serves).
    fn wait_serving(&self) {
        let started = Instant::now();
        loop {
            let up = self
                .web_ports
                .iter()
                .any(|port| std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok());
            if up {
                return;
            }
            assert!(started.elapsed() < HANG_GUARD, "no Alluxio master served within 5 minutes");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for AlluxioMasters {
    fn drop(&mut self) {
        for (mut worker, _) in self.workers.drain(..) {
            let _ = worker.kill();
            let _ = worker.wait();
        }
        for index in 0..self.masters.len() {
            self.kill(index);
        }
    }
}

fn run_checked(command: &mut Command, what: &str) {
    let status = command.stdout(Stdio::null()).status().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(status.success(), "{what} failed ({status})");
}

/// One `StressMasterBench` run's figures.
#[derive(Debug, Clone)]
pub struct StressResult {
    /// Operations per second, as the summary reports it.
    pub throughput: f64,
    /// The errors the run reported (empty when every operation succeeded).
    pub errors: Vec<String>,
}

/// How long a `StressMasterBench` run lasts.
#[derive(Debug, Clone)]
pub enum StressRun {
    /// Warm up, then measure for a duration (Alluxio's forms: `5s`, `1m`).
    For {
        /// `--warmup`.
        warmup: String,
        /// `--duration`.
        duration: String,
    },
    /// Stop after this many paths (`--stop-count`), no warm-up: for operations that use up
    /// the files an earlier run created (rename, delete), and for creating them.
    Paths(u64),
}

impl AlluxioClient {
    /// Runs Alluxio's `StressMasterBench` in this JVM's process (`--in-process`) with the
    /// native client: `operation` on `threads` threads, as fast as it can
    /// (`--target-throughput` far above any master), files created MUST_CACHE.
    pub fn stress_master_bench(
        &self,
        operation: &str,
        threads: usize,
        how_long: &StressRun,
    ) -> StressResult {
        let mut command = self.java("alluxio.stress.cli.StressMasterBench", &[], false);
        command.args(["--in-process", "--client-type", "AlluxioNative", "--write-type"]);
        command.args(["MUST_CACHE", "--target-throughput", "100000000", "--operation", operation]);
        command.args(["--threads", &threads.to_string()]);
        match how_long {
            StressRun::For { warmup, duration } => {
                command.args(["--warmup", warmup, "--duration", duration])
            }
            StressRun::Paths(count) => {
                command.args(["--warmup", "0s", "--stop-count", &count.to_string()])
            }
        };
        let output = run(command, &format!("StressMasterBench {operation}"));
        let text = output.text();
        let summary = || -> Option<serde_json::Value> {
            let start = text.find('{')?;
            serde_json::from_str(&text[start..]).ok()
        };
        let summary = summary().unwrap_or_else(|| {
            panic!("StressMasterBench {operation} printed no summary:\n{text}\n{}", output.stderr)
        });
        let errors = summary["nodeResults"]
            .as_object()
            .into_iter()
            .flat_map(|nodes| nodes.values())
            .flat_map(|node| node["errors"].as_array().cloned().unwrap_or_default())
            .map(|error| error.to_string())
            .collect();
        StressResult { throughput: summary["throughput"].as_f64().unwrap_or(0.0), errors }
    }
}

/// A running `FailoverProbe` (tests/alluxio/FailoverProbe.java): Alluxio's client creating
/// directories without pause, each acknowledgement a line "ok <epoch ms>".
#[derive(Debug)]
pub struct FailoverProbe {
    child: std::process::Child,
    acks: std::sync::mpsc::Receiver<u64>,
    _classes: tempfile::TempDir,
}

impl AlluxioClient {
    /// Compiles and starts the failover probe, writing under `/failover-probe/<name>`.
    pub fn failover_probe(&self, name: &str) -> FailoverProbe {
        let classes = tempfile::tempdir().expect("a folder for the probe's class");
        let mut javac = Command::new("javac");
        javac.arg("-cp").arg(format!("{}/*", self.lib.display())).arg("-d").arg(classes.path());
        run_checked(javac.arg(format!("{ALLUXIO_DIR}/FailoverProbe.java")), "compiling the probe");
        // The probe's class first, then the configuration and Alluxio's jars.
        let class_path = format!(
            "{}:{}",
            classes.path().display(),
            crate::jars::class_path(self.conf.path(), &self.lib)
        );
        let mut probe = self.java_on(&class_path, "FailoverProbe", &[], false);
        let mut child = probe
            .arg(name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the failover probe");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let (sender, acks) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in stdout.lines().map_while(Result::ok) {
                let at = line.strip_prefix("ok ").and_then(|ms| ms.parse().ok());
                if at.is_some_and(|at| sender.send(at).is_ok()) {
                    continue;
                }
            }
        });
        FailoverProbe { child, acks, _classes: classes }
    }
}

/// A running `ReadProbe` (tests/alluxio/ReadProbe.java): reads whole files through Hadoop's
/// `FileSystem` API in one JVM, `alluxio://` ones through Alluxio's Hadoop client.
#[derive(Debug)]
pub struct ReadProbe {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    _classes: tempfile::TempDir,
}

impl AlluxioClient {
    /// Compiles and starts the read probe, with this client's configuration (which the JVM
    /// reads at its first `alluxio://` read: keep the client until the probe is done).
    pub fn read_probe(&self) -> ReadProbe {
        use std::io::BufRead;
        let classes = tempfile::tempdir().expect("a folder for the probe's class");
        let mut javac = Command::new("javac");
        javac.arg("-cp").arg(format!("{}/*", self.lib.display())).arg("-d").arg(classes.path());
        run_checked(javac.arg(format!("{ALLUXIO_DIR}/ReadProbe.java")), "compiling the probe");
        let class_path = format!(
            "{}:{}",
            classes.path().display(),
            crate::jars::class_path(self.conf.path(), &self.lib)
        );
        let mut child = self
            .java_on(&class_path, "ReadProbe", &[], false)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the read probe");
        let input = child.stdin.take().expect("stdin");
        let output = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        ReadProbe { child, input, output, _classes: classes }
    }
}

impl ReadProbe {
    /// Reads the file at `uri` whole; returns its length and how long the read took.
    pub fn read(&mut self, uri: &str) -> (u64, Duration) {
        use std::io::Write;
        writeln!(self.input, "{uri}").expect("asking the read probe");
        let line = self.output.next().and_then(Result::ok).unwrap_or_default();
        let mut words = line.split_whitespace().skip(1).map(|word| word.parse::<u64>().ok());
        match (words.next().flatten(), words.next().flatten()) {
            (Some(bytes), Some(nanos)) => (bytes, Duration::from_nanos(nanos)),
            _ => panic!("the read probe failed on {uri}: {line:?}"),
        }
    }
}

impl Drop for ReadProbe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Milliseconds since the Unix epoch, as the probe prints them.
pub fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl FailoverProbe {
    /// The first acknowledgement after `since_ms` (epoch ms), skipping older ones; panics when
    /// none comes within the hang guard.
    pub fn first_ack_after(&self, since_ms: u64) -> u64 {
        loop {
            match self.acks.recv_timeout(HANG_GUARD) {
                Ok(at) if at > since_ms => return at,
                Ok(_) => continue,
                Err(_) => panic!("the probe acknowledged nothing for 5 minutes"),
            }
        }
    }
}

impl Drop for FailoverProbe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
