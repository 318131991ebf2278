//! The reference deployment on one machine: a 3-node ZooKeeper ensemble, HDFS (a NameNode and
//! two DataNodes), three masters with their journal on HDFS, and two workers, each process with
//! its own configuration directory written the way Alluxio's fault-tolerance guide says
//! (`alluxio-env.sh` with `ALLUXIO_JAVA_OPTS`, `alluxio-site.properties`). Everything listens on
//! free loopback ports. It prints how to use the cluster and runs until Ctrl-C.
//!
//! ```text
//! reference-deployment [--journal hdfs|s3|glusterfs|local] [--dir DIR] [--check]
//! ```
//!
//! `--journal s3` keeps the journal in an S3-compatible server (moto) instead of HDFS (the
//! masters must be built with the `s3` feature); `--journal glusterfs` on a GlusterFS volume
//! mounted with FUSE (needs root and Debian's glusterfs-server; one per machine, since glusterd
//! always listens on 24007); `--journal local` in a folder they share.
//! `--check` walks through the README's steps itself (find the leader, write a file, kill -9 the
//! leader, see a standby take over, read the file back) and exits.
//! `scripts/reference-deployment` builds the release binaries and runs this.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lode_client::local::free_ports;
use lode_tests::glusterfs::GlusterFs;
use lode_tests::hdfs::Hdfs;
use lode_tests::s3::S3Server;
use lode_tests::zookeeper::ZooKeeper;

const MASTERS: usize = 3;
const WORKERS: usize = 2;
const USAGE: &str =
    "usage: reference-deployment [--journal hdfs|s3|glusterfs|local] [--dir DIR] [--check]";

struct Options {
    journal: String,
    dir: Option<PathBuf>,
    check: bool,
}

fn options() -> Result<Options> {
    let mut options = Options { journal: "hdfs".into(), dir: None, check: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--journal" => options.journal = args.next().context(USAGE)?,
            "--dir" => options.dir = Some(args.next().context(USAGE)?.into()),
            "--check" => options.check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if !["hdfs", "s3", "glusterfs", "local"].contains(&options.journal.as_str()) {
        bail!("--journal must be hdfs, s3, glusterfs or local, not `{}`", options.journal);
    }
    Ok(options)
}

/// One Lode process of the deployment: its configuration directory and, while running, PID.
struct Node {
    name: String,
    binary: PathBuf,
    conf_dir: PathBuf,
    address: String,
    child: Option<Child>,
}

impl Node {
    fn start(&mut self) -> Result<()> {
        let log = fs::File::create(self.conf_dir.with_file_name("log"))?;
        let child = Command::new(&self.binary)
            .env_clear()
            .env("ALLUXIO_CONF_DIR", &self.conf_dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }
}

/// Writes a process's configuration directory: `alluxio-env.sh` and `alluxio-site.properties`.
fn write_conf(dir: &Path, env: &[String], site: &[String]) -> Result<PathBuf> {
    let conf = dir.join("conf");
    fs::create_dir_all(&conf)?;
    fs::write(conf.join("alluxio-env.sh"), env.join("\n") + "\n")?;
    fs::write(conf.join("alluxio-site.properties"), site.join("\n") + "\n")?;
    Ok(conf)
}

/// Runs the `lode` shell with the client configuration; returns its output or its error.
fn shell(lode: &Path, client_conf: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new(lode)
        .env_clear()
        .env("ALLUXIO_CONF_DIR", client_conf)
        .args(args)
        .output()
        .with_context(|| format!("running {}", lode.display()))?;
    if !output.status.success() {
        bail!("lode {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The leader's address as `lode fs masterInfo` reports it, waiting up to `limit`.
fn wait_leader(
    lode: &Path,
    client_conf: &Path,
    not: Option<&str>,
    limit: Duration,
) -> Result<String> {
    let started = Instant::now();
    loop {
        if let Ok(info) = shell(lode, client_conf, &["fs", "masterInfo"]) {
            let leader = info
                .lines()
                .find_map(|line| line.strip_prefix("Current leader master: "))
                .unwrap_or_default()
                .trim()
                .to_string();
            if !leader.is_empty() && Some(leader.as_str()) != not {
                return Ok(leader);
            }
        }
        if started.elapsed() > limit {
            bail!("no leader within {limit:?}; see the masters' logs");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the leader lists every worker as live (they register with each new leader).
fn wait_workers(lode: &Path, client_conf: &Path, limit: Duration) -> Result<()> {
    let started = Instant::now();
    let expected = format!("Workers: {WORKERS} live");
    while !shell(lode, client_conf, &["fsadmin", "report"]).is_ok_and(|r| r.contains(&expected)) {
        if started.elapsed() > limit {
            bail!("the workers did not register within {limit:?}; see the workers' logs");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn main() -> Result<()> {
    let options = options()?;
    let bin_dir = std::env::current_exe()?.parent().context("no binary folder")?.to_path_buf();
    let [master_bin, worker_bin, lode] =
        ["lode-master", "lode-worker", "lode"].map(|name| bin_dir.join(name));
    for binary in [&master_bin, &worker_bin, &lode] {
        if !binary.is_file() {
            bail!("{} is missing: build with `cargo build --release --bins`", binary.display());
        }
    }
    let temp = tempfile::tempdir()?;
    let dir = options.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    fs::create_dir_all(&dir)?;

    println!("starting a 3-node ZooKeeper ensemble ...");
    let zookeeper = ZooKeeper::ensemble(3);
    let zk = zookeeper.connect_string();
    let hdfs = (options.journal == "hdfs").then(|| {
        println!("starting HDFS (a NameNode and two DataNodes) ...");
        Hdfs::start()
    });
    let s3 = (options.journal == "s3").then(|| {
        println!("starting an S3-compatible server (moto) ...");
        S3Server::start()
    });
    let gluster = (options.journal == "glusterfs").then(|| {
        println!("starting GlusterFS (glusterd, a one-brick volume mounted with FUSE) ...");
        GlusterFs::shared()
    });
    // The journal's lines in every master's site file.
    let journal_lines: Vec<String> = match (&hdfs, &s3) {
        _ if gluster.is_some() => vec![format!(
            "alluxio.master.journal.folder={}",
            gluster.map(|g| g.new_folder("alluxio-journal")).unwrap_or_default()
        )],
        (Some(hdfs), _) => {
            vec![format!("alluxio.master.journal.folder={}/alluxio/journal", hdfs.uri())]
        }
        (_, Some(s3)) => s3
            .journal_properties(&format!("s3://{}/alluxio/journal", lode_tests::s3::BUCKET))
            .into_iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect(),
        _ => {
            vec![format!("alluxio.master.journal.folder={}", dir.join("shared-journal").display())]
        }
    };
    let journal = journal_lines[0].trim_start_matches("alluxio.master.journal.folder=").to_string();
    // The root under-file-system, where files are persisted: HDFS beside the journal, else a
    // folder every process on this machine shares.
    let root_ufs = match &hdfs {
        Some(hdfs) => format!("{}/alluxio/data", hdfs.uri()),
        None => {
            let folder = dir.join("underFSStorage");
            fs::create_dir_all(&folder)?;
            folder.display().to_string()
        }
    };
    // What the guide puts in every process's alluxio-env.sh.
    let java_opts = format!(
        "export ALLUXIO_JAVA_OPTS=\"-Dalluxio.zookeeper.enabled=true \
         -Dalluxio.zookeeper.address={zk}\""
    );

    let ports = free_ports(MASTERS + WORKERS).map_err(anyhow::Error::msg)?;
    let web_ports = free_ports(MASTERS + WORKERS).map_err(anyhow::Error::msg)?;
    let mut nodes = Vec::new();
    for (i, port) in ports[..MASTERS].iter().enumerate() {
        let home = dir.join(format!("master{}", i + 1));
        let conf = write_conf(
            &home,
            &["export ALLUXIO_MASTER_HOSTNAME=127.0.0.1".into(), java_opts.clone()],
            &[
                vec!["alluxio.master.journal.type=UFS".into()],
                journal_lines.clone(),
                vec![format!("alluxio.master.mount.table.root.ufs={root_ufs}")],
                vec![
                    format!("alluxio.master.rpc.port={port}"),
                    format!("alluxio.master.web.port={}", web_ports[i]),
                    "alluxio.master.bind.host=127.0.0.1".into(),
                    format!("alluxio.work.dir={}", home.display()),
                ],
            ]
            .concat(),
        )?;
        let address = format!("127.0.0.1:{port}");
        nodes.push(Node {
            name: format!("master{}", i + 1),
            binary: master_bin.clone(),
            conf_dir: conf,
            address,
            child: None,
        });
    }
    for (i, port) in ports[MASTERS..].iter().enumerate() {
        let home = dir.join(format!("worker{}", i + 1));
        let conf = write_conf(
            &home,
            std::slice::from_ref(&java_opts),
            &[
                format!("alluxio.worker.rpc.port={port}"),
                format!("alluxio.worker.web.port={}", web_ports[MASTERS + i]),
                "alluxio.worker.hostname=127.0.0.1".into(),
                "alluxio.worker.bind.host=127.0.0.1".into(),
                format!("alluxio.worker.tieredstore.level0.dirs.path={}", home.display()),
                "alluxio.worker.ramdisk.size=256MB".into(),
                format!("alluxio.work.dir={}", home.display()),
            ],
        )?;
        let address = format!("127.0.0.1:{port}");
        nodes.push(Node {
            name: format!("worker{}", i + 1),
            binary: worker_bin.clone(),
            conf_dir: conf,
            address,
            child: None,
        });
    }
    // Clients need only the ZooKeeper lines.
    let client_conf = write_conf(&dir.join("client"), std::slice::from_ref(&java_opts), &[])?;
    for node in &mut nodes {
        node.start()?;
    }
    let places = Places { zk: &zk, journal: &journal, root_ufs: &root_ufs, dir: &dir };
    let run = walk_through(&options, &mut nodes, &lode, &client_conf, &places);
    for node in &mut nodes {
        node.kill();
    }
    drop(hdfs);
    drop(s3);
    drop(zookeeper);
    run
}

/// Where the deployment keeps things, as the walk-through prints them.
struct Places<'a> {
    zk: &'a str,
    journal: &'a str,
    root_ufs: &'a str,
    dir: &'a Path,
}

fn walk_through(
    options: &Options,
    nodes: &mut [Node],
    lode: &Path,
    client_conf: &Path,
    places: &Places,
) -> Result<()> {
    let Places { zk, journal, root_ufs, dir } = places;
    let leader = wait_leader(lode, client_conf, None, Duration::from_secs(120))?;
    wait_workers(lode, client_conf, Duration::from_secs(120))?;
    println!("\nThe reference deployment is up (everything under {}):", dir.display());
    println!("  ZooKeeper   {zk}");
    println!("  journal     {journal}");
    println!("  root UFS    {root_ufs}");
    for node in nodes.iter() {
        println!(
            "  {:<10}  {:<16} pid {:<7} conf {}",
            node.name,
            node.address,
            node.pid(),
            node.conf_dir.display()
        );
    }
    println!("\n{}", shell(lode, client_conf, &["fs", "masterInfo"])?);
    let index = nodes.iter().position(|n| n.address == leader).context("leader is no master")?;
    if !options.check {
        println!(
            "Try it from another terminal:\n  export ALLUXIO_CONF_DIR={}\n  \
             {lode} fs masterInfo\n  {lode} fs copyFromLocal README.md /README.md\n  \
             kill -9 {}    # the leader, {}; a standby takes over\n  {lode} fs masterInfo\n\n\
             Ctrl-C stops everything.",
            client_conf.display(),
            nodes[index].pid(),
            nodes[index].name,
            lode = lode.display(),
        );
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(tokio::signal::ctrl_c())?;
        println!("\nstopping");
        return Ok(());
    }

    let sample = dir.join("sample.txt");
    let text: String =
        (0..20_000).map(|i| format!("line {i} of the reference deployment\n")).collect();
    fs::write(&sample, &text)?;
    shell(lode, client_conf, &["fs", "mkdir", "/walkthrough"])?;
    shell(
        lode,
        client_conf,
        &["fs", "copyFromLocal", &sample.display().to_string(), "/walkthrough/sample.txt"],
    )?;
    println!(
        "wrote /walkthrough/sample.txt; kill -9 of the leader {} ({leader})",
        nodes[index].name
    );
    let killed = Instant::now();
    nodes[index].kill();
    let new_leader = wait_leader(lode, client_conf, Some(&leader), Duration::from_secs(120))?;
    println!("{new_leader} leads {:.1?} after the kill", killed.elapsed());
    wait_workers(lode, client_conf, Duration::from_secs(120))?;
    let read = shell(lode, client_conf, &["fs", "cat", "/walkthrough/sample.txt"])?;
    if read != text {
        bail!("read back {} bytes that differ from the {} written", read.len(), text.len());
    }
    nodes[index].start()?;
    println!("{}", shell(lode, client_conf, &["fs", "masterInfo"])?);
    // Written with Alluxio's default write type, it is persisted to the root UFS; freed from
    // every worker, it reads back from there.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !shell(lode, client_conf, &["fs", "stat", "/walkthrough/sample.txt"])?
        .contains("persistenceState: PERSISTED")
    {
        if Instant::now() > deadline {
            bail!("/walkthrough/sample.txt was not persisted to {root_ufs} within 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    shell(lode, client_conf, &["fs", "free", "/walkthrough/sample.txt"])?;
    let read = shell(lode, client_conf, &["fs", "cat", "/walkthrough/sample.txt"])?;
    if read != text {
        bail!(
            "read back from {root_ufs}: {} bytes that differ from the {} written",
            read.len(),
            text.len()
        );
    }
    println!("check passed: the file reads back whole through the new leader, and from {root_ufs}");
    Ok(())
}
