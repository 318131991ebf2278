//! A real GlusterFS volume for tests (DESIGN §7): Debian's `glusterd` bound to 127.0.0.1 (it
//! always listens on port 24007, so one per machine), a single-brick volume on a host name that
//! resolves to 127.0.0.1 (the CLI refuses a literal address), mounted with FUSE. One volume
//! serves every test of a process and is torn down when the process exits.

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The daemon Debian's `glusterfs-server` package installs.
pub const GLUSTERD: &str = "/usr/sbin/glusterd";

/// A running glusterd with one started, mounted volume.
pub struct GlusterFs {
    root: PathBuf,
    volume: String,
    brick: String,
}

fn gluster(args: &[&str]) -> Result<String, String> {
    let output = Command::new("gluster")
        .arg("--mode=script")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running gluster: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!("gluster {}: {}", args.join(" "), text.trim()))
    }
}

/// This host's name if it resolves to a loopback address (the volume's brick host).
fn loopback_host_name() -> String {
    let name = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let loopback = (name.as_str(), 0)
        .to_socket_addrs()
        .map(|mut addresses| addresses.all(|a| a.ip().is_loopback()))
        .unwrap_or(false);
    assert!(
        loopback,
        "this host's name `{name}` does not resolve to 127.0.0.1 only; the GlusterFS tests need \
         it to (add `127.0.0.1 {name}` to /etc/hosts)"
    );
    name
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what} did not happen within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl GlusterFs {
    /// The volume every test of this process shares, torn down when the process exits.
    pub fn shared() -> &'static GlusterFs {
        static SHARED: OnceLock<GlusterFs> = OnceLock::new();
        SHARED.get_or_init(|| {
            let started = GlusterFs::start();
            extern "C" fn tear_down() {
                if let Some(gluster) = SHARED.get() {
                    gluster.stop();
                }
            }
            // SAFETY: registering a plain function to run at exit.
            unsafe { libc::atexit(tear_down) };
            started
        })
    }

    fn start() -> GlusterFs {
        assert!(
            Path::new(GLUSTERD).is_file(),
            "GlusterFS is not installed ({GLUSTERD} is missing): install Debian's \
             glusterfs-server package (scripts/test does this)"
        );
        assert!(
            std::net::TcpListener::bind("127.0.0.1:24007").is_ok(),
            "port 24007 is taken: another glusterd runs on this machine; stop it first"
        );
        let root = std::env::temp_dir().join(format!("lode-glusterfs-{}", std::process::id()));
        for folder in ["state", "brick", "mount", "run"] {
            std::fs::create_dir_all(root.join(folder)).expect("GlusterFS folders");
        }
        std::fs::write(
            root.join("glusterd.vol"),
            format!(
                "volume management\n    type mgmt/glusterd\n    option working-directory {}\n    \
                 option transport-type socket\n    option transport.socket.bind-address 127.0.0.1\n    \
                 option transport.socket.listen-port 24007\n    option ping-timeout 0\n    \
                 option event-threads 1\nend-volume\n",
                root.join("state").display()
            ),
        )
        .expect("glusterd.vol");
        let status = Command::new(GLUSTERD)
            .arg("-f")
            .arg(root.join("glusterd.vol"))
            .arg("-p")
            .arg(root.join("run/glusterd.pid"))
            .arg(format!("--log-file={}", root.join("glusterd.log").display()))
            .status()
            .expect("starting glusterd");
        assert!(status.success(), "glusterd failed to start; see {}/glusterd.log", root.display());
        let volume = format!("lode{}", std::process::id());
        let brick = format!("{}:{}", loopback_host_name(), root.join("brick").display());
        wait_until("glusterd answering", Duration::from_secs(60), || {
            gluster(&["volume", "list"]).is_ok()
        });
        gluster(&["volume", "create", &volume, &brick, "force"]).expect("creating the volume");
        gluster(&["volume", "start", &volume]).expect("starting the volume");
        let gluster_fs = GlusterFs { root, volume, brick };
        let mount = gluster_fs.mount();
        let source = format!("{}:/{}", loopback_host_name(), gluster_fs.volume);
        let status = Command::new("mount")
            .args(["-t", "glusterfs", &source])
            .arg(&mount)
            .status()
            .expect("running mount");
        assert!(status.success(), "mounting {source} on {} failed", mount.display());
        gluster_fs
    }

    /// Where the volume is mounted.
    pub fn mount(&self) -> PathBuf {
        self.root.join("mount")
    }

    /// A new, empty journal folder on the volume: `glusterfs:///.../<what>/<uuid>`.
    pub fn new_folder(&self, what: &str) -> String {
        format!("glusterfs://{}/{what}/{}", self.mount().display(), uuid::Uuid::new_v4())
    }

    /// SIGKILLs the volume's brick process: the mount fails every operation until it is back.
    pub fn kill_brick(&self) {
        let pids = self.brick_pids();
        assert!(!pids.is_empty(), "no running brick process for volume {}", self.volume);
        for pid in pids {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
    }

    /// SIGSTOPs the volume's brick process (a brick server that hangs): every operation on the
    /// mount blocks until [`GlusterFs::resume_brick`] (or the client's ping timeout, 42 s).
    pub fn pause_brick(&self) {
        self.signal_brick("-STOP");
    }

    /// SIGCONTs the brick paused by [`GlusterFs::pause_brick`].
    pub fn resume_brick(&self) {
        self.signal_brick("-CONT");
    }

    fn signal_brick(&self, signal: &str) {
        let pids = self.brick_pids();
        assert!(!pids.is_empty(), "no running brick process for volume {}", self.volume);
        for pid in pids {
            let _ = Command::new("kill").args([signal, &pid]).status();
        }
    }

    /// The PIDs `gluster volume status` gives for online bricks.
    fn brick_pids(&self) -> Vec<String> {
        let status = gluster(&["volume", "status", &self.volume]).unwrap_or_default();
        status
            .lines()
            .filter(|line| line.starts_with("Brick "))
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let online = fields.len() >= 2 && fields[fields.len() - 2] == "Y";
                let pid = fields.last()?;
                (online && pid.chars().all(|c| c.is_ascii_digit())).then(|| pid.to_string())
            })
            .collect()
    }

    /// Starts the killed brick again and waits until the mount works. glusterd ignores a
    /// restart until it has noticed the brick died, so this asks until the brick is online.
    pub fn restart_brick(&self) {
        wait_until("the brick back online", Duration::from_secs(120), || {
            let _ = gluster(&["volume", "start", &self.volume, "force"]);
            std::thread::sleep(Duration::from_millis(500));
            !self.brick_pids().is_empty()
        });
        let probe = self.mount().join(".lode-probe");
        wait_until("the mount working again", Duration::from_secs(120), || {
            std::fs::write(&probe, b"probe").is_ok()
        });
    }

    fn stop(&self) {
        let _ = Command::new("umount").arg("-l").arg(self.mount()).status();
        let _ = gluster(&["volume", "stop", &self.volume, "force"]);
        let _ = gluster(&["volume", "delete", &self.volume]);
        if let Ok(pid) = std::fs::read_to_string(self.root.join("run/glusterd.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = Command::new("pkill").args(["-f", &self.brick]).status();
        let client = format!("volfile-id=/{}", self.volume);
        let _ = Command::new("pkill").args(["-f", &client]).status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
