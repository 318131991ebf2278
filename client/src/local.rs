//! `lode local`: a fault-tolerant cluster on this machine, in the foreground — several
//! `lode-master` processes on the embedded elector and a journal under one data directory, and
//! a `lode-worker` caching blocks there.
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
    /// Properties for every process of the cluster (`lode local -Dkey=value`): written into
    /// the generated site file in place of the defaults it would write for the same keys.
    pub properties: Vec<(String, String)>,
}

/// A process `lode local` runs and restarts.
struct Supervised {
    /// "master 1", "worker".
    name: String,
    address: String,
    port: u16,
    binary: PathBuf,
    /// The property that sets its port.
    port_key: &'static str,
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

/// A Lode binary: `$<variable>`, else next to this executable.
fn sibling_binary(name: &str, variable: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(variable) {
        return Ok(PathBuf::from(path));
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot locate this executable: {e}"))?;
    let sibling = me.with_file_name(name);
    if sibling.is_file() {
        Ok(sibling)
    } else {
        Err(format!(
            "lode local runs {}, which does not exist; build it with `cargo build --release --bins`",
            sibling.display()
        ))
    }
}

/// Free loopback ports, chosen at random outside the kernel's ephemeral range and checked by
/// binding them.
///
/// Outside the ephemeral range, no outgoing connection can take a port between this check and
/// the server binding it; at random, concurrent processes rarely pick the same one; and a port
/// is handed out once per process.
pub fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    use rand::Rng;
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let ephemeral = ephemeral_port_range();
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut listeners = Vec::with_capacity(count);
    let mut attempts = 0;
    while listeners.len() < count {
        attempts += 1;
        if attempts > 10_000 {
            return Err(format!("cannot find {count} free loopback ports outside {ephemeral:?}"));
        }
        let port = rand::rng().random_range(10_000..=65_535u16);
        if ephemeral.contains(&port) || handed_out.contains(&port) {
            continue;
        }
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            handed_out.insert(port);
            listeners.push(listener);
        }
    }
    listeners.iter().map(|l| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())).collect()
}

/// The ports the kernel picks for outgoing connections (Linux's default if unreadable).
fn ephemeral_port_range() -> std::ops::RangeInclusive<u16> {
    let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut bounds = text.split_whitespace().filter_map(|n| n.parse::<u16>().ok());
    match (bounds.next(), bounds.next()) {
        (Some(low), Some(high)) if low <= high => low..=high,
        _ => 32_768..=60_999,
    }
}

fn spawn(
    binary: &Path,
    conf_dir: &Path,
    port_key: &str,
    port: u16,
    log: &Path,
) -> Result<Child, String> {
    let output = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let errors = output.try_clone().map_err(|e| e.to_string())?;
    Command::new(binary)
        .arg(format!("-D{port_key}={port}"))
        .env("ALLUXIO_CONF_DIR", conf_dir)
        .env_remove("ALLUXIO_JAVA_OPTS")
        .env_remove("ALLUXIO_MASTER_JAVA_OPTS")
        .env_remove("ALLUXIO_WORKER_JAVA_OPTS")
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))
}

fn terminate(master: &mut Supervised) {
    if let Ok(pid) = i32::try_from(master.child.id()) {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

/// The keys that name the root under-file-system (Alluxio's and its alias).
const ROOT_UFS_KEYS: [&str; 2] = ["alluxio.master.mount.table.root.ufs", "alluxio.underfs.address"];

/// Writes `<dir>/conf/alluxio-site.properties` for masters at `addresses` (loopback) sharing
/// `dir` for their journal and election, and a worker caching blocks in `<dir>/worker`, with
/// `properties` in place of the defaults for the same keys; returns the file's path.
pub fn write_site(
    dir: &Path,
    addresses: &[String],
    lease_timeout: &str,
    properties: &[(String, String)],
) -> Result<PathBuf, String> {
    let conf_dir = dir.join("conf");
    fs::create_dir_all(&conf_dir)
        .map_err(|e| format!("cannot create {}: {e}", conf_dir.display()))?;
    let given = |key: &str| properties.iter().any(|(k, _)| k == key);
    let defaults = [
        ("alluxio.work.dir", dir.display().to_string()),
        ("alluxio.master.hostname", "127.0.0.1".into()),
        ("alluxio.master.bind.host", "127.0.0.1".into()),
        ("alluxio.master.rpc.addresses", addresses.join(",")),
        ("alluxio.master.election.type", "embedded".into()),
        ("alluxio.master.election.lease.timeout", lease_timeout.into()),
        // Several masters and workers on one host: each web UI on a free port of its own.
        ("alluxio.master.web.port", "0".into()),
        ("alluxio.worker.web.port", "0".into()),
        ("alluxio.worker.hostname", "127.0.0.1".into()),
        ("alluxio.worker.bind.host", "127.0.0.1".into()),
        ("alluxio.worker.tieredstore.level0.dirs.path", dir.join("worker").display().to_string()),
        ("alluxio.worker.ramdisk.size", "512MB".into()),
    ];
    let mut site = String::from("# Written by `lode local`: a local fault-tolerant cluster.\n");
    for (key, value) in defaults.iter().filter(|(key, _)| !given(key)) {
        site.push_str(&format!("{key}={value}\n"));
    }
    for (key, value) in properties {
        site.push_str(&format!("{key}={value}\n"));
    }
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
    let master_binary = sibling_binary("lode-master", "LODE_MASTER_BIN")?;
    let worker_binary = sibling_binary("lode-worker", "LODE_WORKER_BIN")?;
    fs::create_dir_all(&options.dir)
        .map_err(|e| format!("cannot create {}: {e}", options.dir.display()))?;
    let dir = fs::canonicalize(&options.dir).map_err(|e| e.to_string())?;
    let (conf_dir, logs) = (dir.join("conf"), dir.join("logs"));
    for folder in [&conf_dir, &logs] {
        fs::create_dir_all(folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    }
    let ports = free_ports(options.masters + 1)?;
    let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut properties = options.properties;
    if !ROOT_UFS_KEYS.iter().any(|key| properties.iter().any(|(given, _)| given == key)) {
        // Alluxio's default place, under the work directory, so files persist on this host.
        let folder = dir.join("underFSStorage");
        fs::create_dir_all(&folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        properties.insert(0, (ROOT_UFS_KEYS[0].into(), folder.display().to_string()));
    }
    write_site(&dir, &addresses[..options.masters], &options.lease_timeout, &properties)?;

    let mut processes = Vec::new();
    for (index, port) in ports.iter().enumerate() {
        let is_worker = index == options.masters;
        let (name, binary, port_key, log) = if is_worker {
            ("worker".to_string(), &worker_binary, "alluxio.worker.rpc.port", "worker.log".into())
        } else {
            let n = index + 1;
            (
                format!("master {n}"),
                &master_binary,
                "alluxio.master.rpc.port",
                format!("master-{n}.log"),
            )
        };
        let log = logs.join(log);
        let child = spawn(binary, &conf_dir, port_key, *port, &log)?;
        processes.push(Supervised {
            name,
            address: addresses[index].clone(),
            port: *port,
            binary: binary.clone(),
            port_key,
            child,
            log,
            started: Instant::now(),
            quick_exits: 0,
        });
    }
    println!(
        "Lode local cluster: {} masters ({}) on the embedded elector and a worker ({}); data and \
         logs in {}",
        options.masters,
        addresses[..options.masters].join(", "),
        addresses[options.masters],
        dir.display()
    );
    println!("In another terminal, paste:  export ALLUXIO_CONF_DIR={}", conf_dir.display());
    println!(
        "then try `lode fs mkdir -p /demo`, `lode fs copyFromLocal README.md /demo/README.md`, \
         `lode fs cat /demo/README.md`, `lode fs masterInfo`. Ctrl-C stops the cluster."
    );

    tokio::pin!(shutdown);
    let mut leader = String::new();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        let mut failed = None;
        for process in processes.iter_mut() {
            if let Ok(Some(status)) = process.child.try_wait() {
                let quick = process.started.elapsed() < QUICK_EXIT;
                process.quick_exits = if quick { process.quick_exits + 1 } else { 0 };
                if process.quick_exits >= MAX_QUICK_EXITS {
                    failed = Some(format!(
                        "{} ({}) keeps exiting right after it starts ({status}); see {}",
                        process.name,
                        process.address,
                        process.log.display()
                    ));
                    break;
                }
                println!(
                    "{} ({}) exited ({status}); restarting it (log: {})",
                    process.name,
                    process.address,
                    process.log.display()
                );
                process.child = spawn(
                    &process.binary,
                    &conf_dir,
                    process.port_key,
                    process.port,
                    &process.log,
                )?;
                process.started = Instant::now();
            }
        }
        if let Some(error) = failed {
            stop_all(&mut processes).await;
            return Err(error);
        }
        let mut current = String::new();
        for master in &processes[..options.masters] {
            if let Ok(status) = MasterClient::master_status(&master.address).await {
                if status.role() == lode_core::rpc::lode::master::Role::Leader {
                    current = format!(
                        "{} (term {}), web UI http://127.0.0.1:{}/",
                        status.address, status.term, status.web_port
                    );
                }
            }
        }
        if !current.is_empty() && current != leader {
            println!("leader: {current}");
            leader = current;
        }
    }

    println!("stopping: leaders resign, standbys and the worker exit");
    stop_all(&mut processes).await;
    println!("stopped");
    Ok(())
}

/// SIGTERM to every process (leaders resign), then SIGKILL to any still running after 15 s.
async fn stop_all(masters: &mut [Supervised]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Free ports are distinct, outside the ephemeral range, never handed out twice, and bindable.
    #[test]
    fn free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
        let first = free_ports(50).unwrap();
        let second = free_ports(50).unwrap();
        let all: std::collections::BTreeSet<u16> = first.iter().chain(&second).copied().collect();
        assert_eq!(all.len(), 100, "a port was handed out twice: {first:?} {second:?}");
        let ephemeral = ephemeral_port_range();
        for port in all {
            assert!(!ephemeral.contains(&port), "{port} is in the ephemeral range {ephemeral:?}");
            std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }
}
