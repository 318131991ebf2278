//! A real S3-compatible server for tests (DESIGN §7): moto's S3 backend, served by
//! `tests/s3/moto_server.py` from the virtualenv `tests/s3/fetch` installs, on a free loopback
//! port, with every request serialised (moto's conditional PUT is atomic only that way), a
//! required access key, and a fault switch that makes it fail or stall.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use lode_core::config::name;

/// The folder with the server script, its requirements and the `fetch` script.
pub const S3_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/s3");
/// The bucket the server creates.
pub const BUCKET: &str = "lode-journal";
/// The credentials the server accepts.
pub const ACCESS_KEY_ID: &str = "lode-test-key";
/// The secret that goes with [`ACCESS_KEY_ID`].
pub const SECRET_KEY: &str = "lode-test-secret";

/// What the server does with requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Serve them.
    None,
    /// Answer every one with 503.
    Errors,
    /// Wait this many seconds, then serve it.
    Stall(f64),
}

/// A running server; killed when dropped.
pub struct S3Server {
    port: u16,
    process: Child,
}

/// Installs the server's virtualenv unless it is there; panics saying what is missing.
fn ensure_installed() -> std::path::PathBuf {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        let status = Command::new(Path::new(S3_DIR).join("fetch"))
            .status()
            .map_err(|e| format!("running {S3_DIR}/fetch: {e}"))?;
        status.success().then_some(()).ok_or_else(|| {
            format!("{S3_DIR}/fetch failed ({status}); are python3-venv and PyPI reachable?")
        })
    });
    if let Err(why) = installed {
        panic!("the S3 server for the S3 tests is missing: {why}");
    }
    Path::new(S3_DIR).join("venv/bin/python")
}

impl S3Server {
    /// One server for every test in this process, dying with the process.
    pub fn shared() -> &'static S3Server {
        static SHARED: OnceLock<S3Server> = OnceLock::new();
        SHARED.get_or_init(|| crate::process::start_for_the_process(S3Server::start))
    }

    /// Starts a new server with the bucket [`BUCKET`] and waits until it serves.
    pub fn start() -> S3Server {
        let python = ensure_installed();
        let mut command = Command::new(python);
        command
            .arg(Path::new(S3_DIR).join("moto_server.py"))
            .args(["--bucket", BUCKET, "--access-key", ACCESS_KEY_ID, "--secret-key", SECRET_KEY])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        crate::process::die_with_parent(&mut command);
        let mut process = command.spawn().expect("starting the S3 server");
        let stdout = process.stdout.take().expect("piped stdout");
        let ready = BufReader::new(stdout).lines().map_while(Result::ok).find_map(|line| {
            line.strip_prefix("ready ").and_then(|port| port.trim().parse::<u16>().ok())
        });
        let port = ready.unwrap_or_else(|| panic!("the S3 server exited before serving"));
        S3Server { port, process }
    }

    /// The port it listens on (what a partition cuts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`: where clients reach it.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The configuration a master needs for a journal in `folder` (`s3://lode-journal/...`),
    /// as `key=value` pairs.
    pub fn journal_properties(&self, folder: &str) -> Vec<(String, String)> {
        [
            (name::MASTER_JOURNAL_FOLDER, folder.to_string()),
            (name::UNDERFS_S3_ENDPOINT, self.endpoint()),
            (name::UNDERFS_S3_DISABLE_DNS_BUCKETS, "true".into()),
            (name::S3A_ACCESS_KEY_ID, ACCESS_KEY_ID.into()),
            (name::S3A_SECRET_KEY, SECRET_KEY.into()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
    }

    /// A new, empty journal folder in the bucket.
    pub fn new_folder(&self, what: &str) -> String {
        format!("s3://{BUCKET}/{what}/{}", uuid::Uuid::new_v4())
    }

    /// Makes the server fail, stall or serve from now on.
    pub fn set_fault(&self, fault: Fault) {
        let path = match fault {
            Fault::None => "/__lode_fault__/none".to_string(),
            Fault::Errors => "/__lode_fault__/errors".to_string(),
            Fault::Stall(seconds) => format!("/__lode_fault__/stall/{seconds}"),
        };
        crate::http_get(self.port, &path).expect("the S3 server's fault switch answers");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
