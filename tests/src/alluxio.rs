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
    pub fn java(&self, class: &str, defines: &[(&str, &str)]) -> Command {
        let mut command = Command::new("java");
        command
            .args(["-Xmx1g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!("-Dalluxio.conf.dir={}", self.conf.path().display()))
            .arg(format!("-Dlog4j.configurationFile={ALLUXIO_DIR}/log4j2.properties"))
            .args(defines.iter().map(|(key, value)| format!("-D{key}={value}")))
            .arg("-cp")
            .arg(crate::jars::class_path(self.conf.path(), &self.lib))
            .arg(class)
            .stdin(Stdio::null());
        crate::process::die_with_parent(&mut command);
        command
    }

    /// Runs `alluxio fs ARGS`.
    pub fn fs(&self, args: &[&str]) -> Output {
        self.fs_with(&[], args)
    }

    /// Runs `alluxio fs ARGS` with more `-D` options for this one command.
    pub fn fs_with(&self, defines: &[(&str, &str)], args: &[&str]) -> Output {
        let mut command = self.java("alluxio.cli.fs.FileSystemShell", defines);
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
