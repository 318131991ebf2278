//! `lode local`: a fault-tolerant cluster on this machine, in the foreground — several
//! `lode-master` processes on the embedded elector and a journal under one data directory.
//! It writes an `alluxio-site.properties` there, prints the line that points a second terminal
//! at it, reports who leads, restarts a master that dies (kill one to watch a failover), and
//! stops everything on Ctrl-C.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::master::MasterClient;

/// What `lode local` runs.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The data directory (created if missing).
    pub dir: PathBuf,
    /// How many masters.
    pub masters: usize,
    /// The embedded elector's lease timeout (how long a hung leader keeps its term).
    pub lease_timeout: String,
}

struct Master {
    address: String,
    port: u16,
    child: Child,
    log: PathBuf,
    started: Instant,
    /// Exits in a row that came soon after a start: a master that cannot start at all.
    quick_exits: u32,
}

/// An exit this soon after starting counts as a failure to start.
const QUICK_EXIT: Duration = Duration::from_secs(5);
/// After this many quick exits in a row, `lode local` stops and says why.
const MAX_QUICK_EXITS: u32 = 3;

/// The `lode-master` binary: `$LODE_MASTER_BIN`, else next to this executable.
fn master_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("LODE_MASTER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot locate this executable: {e}"))?;
    let sibling = me.with_file_name("lode-master");
    if sibling.is_file() {
        Ok(sibling)
    } else {
        Err(format!(
            "lode local runs {}, which does not exist; build it with `cargo build --release --bins`",
            sibling.display()
        ))
    }
}

/// Free loopback ports, chosen by binding and releasing them.
pub fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    listeners.iter().map(|l| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())).collect()
}

fn spawn(binary: &Path, conf_dir: &Path, port: u16, log: &Path) -> Result<Child, String> {
    let output = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let errors = output.try_clone().map_err(|e| e.to_string())?;
    Command::new(binary)
        .arg(format!("-Dalluxio.master.rpc.port={port}"))
        .env("ALLUXIO_CONF_DIR", conf_dir)
        .env_remove("ALLUXIO_JAVA_OPTS")
        .env_remove("ALLUXIO_MASTER_JAVA_OPTS")
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))
}

fn terminate(master: &mut Master) {
    if let Ok(pid) = i32::try_from(master.child.id()) {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

/// Writes `<dir>/conf/alluxio-site.properties` for masters at `addresses` (loopback) sharing
/// `dir` for their journal and election; returns the file's path.
pub fn write_site(
    dir: &Path,
    addresses: &[String],
    lease_timeout: &str,
) -> Result<PathBuf, String> {
    let conf_dir = dir.join("conf");
    fs::create_dir_all(&conf_dir)
        .map_err(|e| format!("cannot create {}: {e}", conf_dir.display()))?;
    let site = format!(
        "# Written by `lode local`: a local fault-tolerant cluster.\n\
         alluxio.work.dir={}\n\
         alluxio.master.hostname=127.0.0.1\n\
         alluxio.master.bind.host=127.0.0.1\n\
         alluxio.master.rpc.addresses={}\n\
         alluxio.master.election.type=embedded\n\
         alluxio.master.election.lease.timeout={lease_timeout}\n",
        dir.display(),
        addresses.join(","),
    );
    let site_file = conf_dir.join("alluxio-site.properties");
    fs::write(&site_file, site)
        .map_err(|e| format!("cannot write {}: {e}", site_file.display()))?;
    Ok(site_file)
}

/// Runs the cluster until `shutdown` resolves; returns a message on failure to start.
pub async fn run(
    options: LocalOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    if options.masters == 0 {
        return Err("a cluster needs at least one master (--masters)".into());
    }
    let binary = master_binary()?;
    fs::create_dir_all(&options.dir)
        .map_err(|e| format!("cannot create {}: {e}", options.dir.display()))?;
    let dir = fs::canonicalize(&options.dir).map_err(|e| e.to_string())?;
    let (conf_dir, logs) = (dir.join("conf"), dir.join("logs"));
    for folder in [&conf_dir, &logs] {
        fs::create_dir_all(folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    }
    let ports = free_ports(options.masters)?;
    let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    write_site(&dir, &addresses, &options.lease_timeout)?;

    let mut masters = Vec::new();
    for (index, port) in ports.iter().enumerate() {
        let log = logs.join(format!("master-{}.log", index + 1));
        let child = spawn(&binary, &conf_dir, *port, &log)?;
        masters.push(Master {
            address: addresses[index].clone(),
            port: *port,
            child,
            log,
            started: Instant::now(),
            quick_exits: 0,
        });
    }
    println!(
        "Lode local cluster: {} masters ({}) on the embedded elector; data and logs in {}",
        masters.len(),
        addresses.join(", "),
        dir.display()
    );
    println!("In another terminal, paste:  export ALLUXIO_CONF_DIR={}", conf_dir.display());
    println!("then try `lode fs mkdir -p /demo`, `lode fs ls /`, `lode fs masterInfo`. Ctrl-C stops the cluster.");

    tokio::pin!(shutdown);
    let mut leader = String::new();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        let mut failed = None;
        for (index, master) in masters.iter_mut().enumerate() {
            if let Ok(Some(status)) = master.child.try_wait() {
                let quick = master.started.elapsed() < QUICK_EXIT;
                master.quick_exits = if quick { master.quick_exits + 1 } else { 0 };
                if master.quick_exits >= MAX_QUICK_EXITS {
                    failed = Some(format!(
                        "master {} ({}) keeps exiting right after it starts ({status}); see {}",
                        index + 1,
                        master.address,
                        master.log.display()
                    ));
                    break;
                }
                println!(
                    "master {} ({}) exited ({status}); restarting it (log: {})",
                    index + 1,
                    master.address,
                    master.log.display()
                );
                master.child = spawn(&binary, &conf_dir, master.port, &master.log)?;
                master.started = Instant::now();
            }
        }
        if let Some(error) = failed {
            stop_all(&mut masters).await;
            return Err(error);
        }
        let mut current = String::new();
        for master in &masters {
            if let Ok(status) = MasterClient::master_status(&master.address).await {
                if status.role() == lode_core::rpc::lode::master::Role::Leader {
                    current = format!("{} (term {})", status.address, status.term);
                }
            }
        }
        if !current.is_empty() && current != leader {
            println!("leader: {current}");
            leader = current;
        }
    }

    println!("stopping: leaders resign, standbys exit");
    stop_all(&mut masters).await;
    println!("stopped");
    Ok(())
}

/// SIGTERM to every master (leaders resign), then SIGKILL to any still running after 15 s.
async fn stop_all(masters: &mut [Master]) {
    for master in masters.iter_mut() {
        terminate(master);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for master in masters.iter_mut() {
        while master.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = master.child.kill();
        let _ = master.child.wait();
    }
}
