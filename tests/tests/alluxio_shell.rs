//! Alluxio's own, unmodified 2.9 shell (`alluxio fs`, from Maven Central's jars) against a Lode
//! cluster, configured exactly as the fault-tolerance guide's client section says: ZooKeeper
//! enabled and its address, nothing else. It must behave as against Alluxio — output, errors,
//! checksums, owners — with SIMPLE and NOSASL authentication and across kill -9 of the leader.

use std::path::Path;

use lode_tests::alluxio::AlluxioClient;
use lode_tests::cluster::{Cluster, Election};
use lode_tests::object_content;
use lode_tests::zookeeper::ZooKeeper;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");
/// More than one block at Alluxio's default block size (64 MB).
const TWO_BLOCKS: usize = (64 << 20) + 12_345;

/// Two masters electing through `zookeeper` with `site` lines more, and a worker.
fn cluster(zookeeper: &ZooKeeper, site: &[(&str, &str)]) -> Cluster {
    let election =
        Election::ZooKeeper { address: zookeeper.connect_string(), session_timeout: "3s".into() };
    let site: Vec<(String, String)> =
        site.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut cluster = Cluster::start_on(2, election, &site, HELPER);
    cluster.start_worker_with_capacity("1GB");
    cluster
}

/// The guide's client section, plus `more` lines.
fn guide_client(zookeeper: &ZooKeeper, more: &[(&str, &str)]) -> AlluxioClient {
    let address = zookeeper.connect_string();
    let mut site =
        vec![("alluxio.zookeeper.enabled", "true"), ("alluxio.zookeeper.address", &address)];
    site.extend_from_slice(more);
    AlluxioClient::new(&site)
}

fn whoami() -> String {
    let output = std::process::Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn write_local(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

/// Runs the guide's shell commands under `dir` and checks their output: `mkdir`,
/// `copyFromLocal` of a two-block file, `ls` (mode, owner, size, fully cached), `cat` and
/// `copyToLocal` (byte for byte), `mv`, `stat`, `masterInfo` (naming `cluster`'s leader, index
/// `leader`, and every running master) and `rm -R`.
fn guide_commands(shell: &AlluxioClient, cluster: &Cluster, leader: usize, dir: &str) {
    let local = tempfile::tempdir().unwrap();
    let data = object_content(1, TWO_BLOCKS);
    let source = write_local(local.path(), "data.bin", &data);
    let me = whoami();
    let file = format!("{dir}/data.bin");
    let moved = format!("{dir}/moved.bin");

    let out = shell.fs(&["mkdir", dir]).expect_ok("mkdir");
    assert!(out.contains(&format!("Successfully created directory {dir}")), "{out}");
    let out = shell.fs(&["copyFromLocal", &source, &file]).expect_ok("copyFromLocal");
    assert!(out.contains("Copied file://") && out.contains(&file), "{out}");

    let out = shell.fs(&["ls", dir]).expect_ok("ls");
    let line = out.lines().find(|l| l.ends_with(&file)).unwrap_or_else(|| panic!("{out}"));
    assert!(line.starts_with("-rw-r--r--"), "{line}");
    assert!(line.contains(&format!(" {me} ")), "owned by {me}: {line}");
    assert!(line.contains(&TWO_BLOCKS.to_string()), "{line}");
    assert!(line.contains("100%"), "cached in full: {line}");

    let cat = shell.fs(&["cat", &file]);
    assert!(cat.expect_bytes("cat") == data.as_slice(), "cat printed other bytes");
    let copy = local.path().join("back.bin");
    shell.fs(&["copyToLocal", &file, copy.to_str().unwrap()]).expect_ok("copyToLocal");
    assert!(std::fs::read(&copy).unwrap() == data, "copyToLocal wrote other bytes");

    let out = shell.fs(&["mv", &file, &moved]).expect_ok("mv");
    assert!(out.contains(&format!("Renamed {file} to {moved}")), "{out}");
    let out = shell.fs(&["stat", &moved]).expect_ok("stat");
    assert!(out.contains(&format!("{moved} is a file path")), "{out}");
    assert!(out.contains(&format!("length={TWO_BLOCKS}")), "{out}");
    assert!(out.contains(&format!("owner={me}")), "{out}");
    assert_eq!(out.matches("BlockInfo{id=").count(), 2 * 2, "two blocks, each listed twice: {out}");

    let out = shell.fs(&["masterInfo"]).expect_ok("masterInfo");
    let leader_address = &cluster.masters[leader].0;
    let (_, port) = leader_address.rsplit_once(':').unwrap();
    let current = out.lines().find(|l| l.starts_with("Current leader master:")).unwrap_or_default();
    assert!(current.ends_with(&format!(":{port}")), "the leader is {leader_address}: {out}");
    for (address, _) in cluster.masters.iter().filter(|(_, process)| process.is_some()) {
        let (_, port) = address.rsplit_once(':').unwrap();
        assert!(out.contains(&format!(":{port}")), "{address} listed: {out}");
    }

    let out = shell.fs(&["rm", "-R", dir]).expect_ok("rm -R");
    assert!(out.contains(&format!("{dir} has been removed")), "{out}");
    let out = shell.fs(&["ls", "/"]).expect_ok("ls /");
    assert!(!out.lines().any(|l| l.ends_with(dir)), "{out}");
}

/// `mkdir`, `ls`, `copyFromLocal`, `cat`, `copyToLocal`, `mv`, `stat`, `masterInfo` and `rm -R`
/// of the stock shell work against Lode with SIMPLE authentication, and what it creates is owned
/// by the user it authenticated as.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stock_shell_runs_against_lode_with_only_the_guides_client_lines() {
    let zookeeper = ZooKeeper::standalone();
    let cluster = cluster(&zookeeper, &[]);
    let leader = cluster.leader(None).await;
    let shell = guide_client(&zookeeper, &[]);
    guide_commands(&shell, &cluster, leader, "/interop");
}

/// The shell's failures read as against Alluxio: a missing path, an existing one, a non-empty
/// directory without -R, an invalid path.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stock_shell_reports_lodes_refusals_as_alluxios_exceptions() {
    let zookeeper = ZooKeeper::standalone();
    let _cluster = cluster(&zookeeper, &[]);
    let shell = guide_client(&zookeeper, &[]);
    shell.fs(&["mkdir", "/d/e"]).expect_ok("mkdir");

    let out = shell.fs(&["cat", "/missing"]).expect_failure("cat of a missing file");
    assert!(out.contains("does not exist"), "{out}");
    let out = shell.fs(&["mkdir", "/d"]).expect_failure("mkdir of an existing directory");
    assert!(out.contains("already exists"), "{out}");
    let out = shell.fs(&["rm", "/d"]).expect_failure("rm of a non-empty directory");
    assert!(out.contains("is a directory") || out.contains("not empty"), "{out}");
    let out = shell.fs(&["mv", "/d", "/d/e/inside"]).expect_failure("mv into itself");
    assert!(out.contains("/d"), "{out}");
}

/// The stock shell's `mount`, mount listing and `unmount` against a cluster whose root
/// under-file-system is a folder: the nested mount is listed beside the root, changes under a
/// read-only mount and a missing UFS folder are refused with Alluxio's messages, and unmount
/// leaves the UFS's files alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stock_shell_mounts_and_unmounts_under_file_systems() {
    let zookeeper = ZooKeeper::standalone();
    let ufs = tempfile::tempdir().unwrap();
    let (root, other) = (ufs.path().join("root"), ufs.path().join("other"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(other.join("kept")).unwrap();
    let (root, other) = (root.display().to_string(), other.display().to_string());
    let _cluster = cluster(&zookeeper, &[("alluxio.master.mount.table.root.ufs", &root)]);
    // Files wait an hour before they are persisted: the state below is TO_BE_PERSISTED still.
    let shell = guide_client(&zookeeper, &[(PERSIST_WAIT, "1h")]);

    let out = shell.fs(&["mount", "--readonly", "/mnt", &other]).expect_ok("mount");
    assert!(out.contains(&format!("Mounted {other} at /mnt")), "{out}");
    let out = shell.fs(&["mount"]).expect_ok("the mount table");
    let line = |path: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" on  {path} ")))
            .unwrap_or_else(|| panic!("{out}"))
    };
    assert!(line("/").starts_with(&root) && line("/").contains("not read-only"), "{out}");
    assert!(line("/mnt").starts_with(&other) && line("/mnt").contains("(local"), "{out}");
    assert!(!line("/mnt").contains("not read-only"), "{out}");
    for change in [&["touch", "/mnt/new"][..], &["mkdir", "/mnt/d"]] {
        let out = shell.fs(change).expect_failure("a change under a read-only mount");
        let refused =
            format!("A write operation on {} under a readonly mount point /mnt", change[1]);
        assert!(out.contains(&refused), "{out}");
    }

    // A write with Alluxio's default write type (ASYNC_THROUGH) under a root UFS completes
    // TO_BE_PERSISTED, and ls and stat say so.
    let local = tempfile::tempdir().unwrap();
    let source = write_local(local.path(), "small.txt", b"persist me\n");
    shell.fs(&["copyFromLocal", &source, "/small.txt"]).expect_ok("copyFromLocal");
    let out = shell.fs(&["ls", "/small.txt"]).expect_ok("ls");
    assert!(out.contains("TO_BE_PERSISTED"), "{out}");
    let out = shell.fs(&["stat", "/small.txt"]).expect_ok("stat");
    assert!(out.contains("TO_BE_PERSISTED"), "{out}");

    let missing = format!("{root}-missing");
    let out = shell.fs(&["mount", "/m2", &missing]).expect_failure("a mount of a missing folder");
    assert!(out.contains(&format!("Ufs path {missing} does not exist")), "{out}");
    let out = shell.fs(&["unmount", "/mnt"]).expect_ok("unmount");
    assert!(out.contains("Unmounted /mnt"), "{out}");
    assert!(std::path::Path::new(&other).join("kept").is_dir(), "unmount touched the UFS");
    let out = shell.fs(&["ls", "/"]).expect_ok("ls after unmount");
    assert!(!out.contains("/mnt"), "{out}");
}

/// Alluxio's client key for how long a file written ASYNC_THROUGH waits before it is persisted.
const PERSIST_WAIT: &str = "alluxio.user.file.persistence.initial.wait.time";

/// Waits (two minutes at most) until the root UFS folder `ufs` holds each of `files`' bytes,
/// whole, under its name, and the stock shell lists every one PERSISTED.
fn wait_persisted(shell: &AlluxioClient, ufs: &Path, files: &[(String, Vec<u8>)]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    for (file, data) in files {
        while std::fs::read(ufs.join(file.trim_start_matches('/'))).ok().as_deref()
            != Some(data.as_slice())
        {
            assert!(std::time::Instant::now() < deadline, "{file} not in the UFS in time");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    // The UFS file is in place a heartbeat before the leader journals PERSISTED.
    let parent = |file: &str| match file.rsplit_once('/').unwrap().0 {
        "" => "/".to_string(),
        folder => folder.to_string(),
    };
    let mut folders: Vec<String> = files.iter().map(|(file, _)| parent(file)).collect();
    folders.dedup();
    for folder in folders {
        loop {
            let out = shell.fs(&["ls", &folder]).expect_ok("ls");
            let persisted = |file: &str| {
                out.lines().any(|l| l.ends_with(&format!(" {file}")) && l.contains(" PERSISTED "))
            };
            if files.iter().filter(|(file, _)| parent(file) == folder).all(|(f, _)| persisted(f)) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "not all PERSISTED in time: {out}");
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

/// Every file name in `dir` and below, relative to it.
fn names_within(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        if entry.file_type().unwrap().is_dir() {
            names.extend(names_within(&entry.path()).into_iter().map(|n| format!("{name}/{n}")));
        } else {
            names.push(name);
        }
    }
    names.sort();
    names
}

/// With only the guide's client lines and Alluxio's defaults (ASYNC_THROUGH), the stock
/// shell's writes appear whole in the root under-file-system and `stat` says PERSISTED; files
/// still waiting to be persisted when the leader is killed -9 are persisted by the new leader,
/// each once and whole, with no temporary file left beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stock_shells_default_writes_are_persisted_across_a_leader_kill() {
    let zookeeper = ZooKeeper::standalone();
    let ufs = tempfile::tempdir().unwrap();
    let root = ufs.path().display().to_string();
    let mut cluster = cluster(&zookeeper, &[("alluxio.master.mount.table.root.ufs", &root)]);
    let shell = guide_client(&zookeeper, &[]);
    let local = tempfile::tempdir().unwrap();
    let big = object_content(4, TWO_BLOCKS);
    let source = write_local(local.path(), "big.bin", &big);
    shell.fs(&["mkdir", "/data"]).expect_ok("mkdir");
    shell.fs(&["copyFromLocal", &source, "/data/big.bin"]).expect_ok("copyFromLocal");
    wait_persisted(&shell, ufs.path(), &[("/data/big.bin".into(), big.clone())]);
    // Freed from the workers, it reads back from the UFS, and is cached again by that read.
    shell.fs(&["free", "/data/big.bin"]).expect_ok("free");
    wait_cached_percent(&shell, "/data/big.bin", "0%");
    let cat = shell.fs(&["cat", "/data/big.bin"]);
    assert!(cat.expect_bytes("cat after free") == big.as_slice(), "cat printed other bytes");
    wait_cached_percent(&shell, "/data/big.bin", "100%");

    // 200 files wait 30 s before being persisted: the leader dies with all of them pending.
    let batch = local.path().join("batch");
    std::fs::create_dir(&batch).unwrap();
    let mut files = Vec::new();
    for i in 0..200 {
        let data = object_content(10 + i, 1000 + i as usize * 777);
        write_local(&batch, &format!("f{i}"), &data);
        files.push((format!("/batch/f{i}"), data));
    }
    let waiting = guide_client(&zookeeper, &[(PERSIST_WAIT, "30s")]);
    waiting.fs(&["copyFromLocal", batch.to_str().unwrap(), "/batch"]).expect_ok("copyFromLocal");
    let out = waiting.fs(&["ls", "/batch"]).expect_ok("ls");
    assert_eq!(out.matches("TO_BE_PERSISTED").count(), 200, "{out}");
    let leader = cluster.leader(None).await;
    cluster.kill(leader);
    cluster.leader(Some(leader)).await;
    wait_persisted(&shell, ufs.path(), &files);

    // A MUST_CACHE write stays NOT_PERSISTED until the stock `persist` writes it.
    let cached = guide_client(&zookeeper, &[("alluxio.user.file.writetype.default", "MUST_CACHE")]);
    let data = object_content(99, 4321);
    let source = write_local(local.path(), "cached.bin", &data);
    cached.fs(&["copyFromLocal", &source, "/cached.bin"]).expect_ok("copyFromLocal");
    let out = shell.fs(&["stat", "/cached.bin"]).expect_ok("stat");
    assert!(out.contains("NOT_PERSISTED"), "{out}");
    let out = shell.fs(&["persist", "/cached.bin"]).expect_ok("persist");
    assert!(out.contains("Successfully persisted file: /cached.bin"), "{out}");
    assert!(std::fs::read(ufs.path().join("cached.bin")).unwrap() == data, "other bytes");

    let mut expected: Vec<String> =
        files.iter().map(|(f, _)| f.trim_start_matches('/').to_string()).collect();
    expected.push("cached.bin".into());
    expected.push("data/big.bin".into());
    expected.sort();
    assert_eq!(names_within(ufs.path()), expected, "files in the UFS besides the persisted ones");

    // A file that is not persisted, whose block file is deleted from under the running worker:
    // the stock client gets Alluxio's error for a block with no copy (the worker drops the
    // block when asked for it, so the master stops listing it there) once its block read
    // retries end, as against Alluxio (2min by default; 3 s here).
    let shell = guide_client(&zookeeper, &[("alluxio.user.block.read.retry.max.duration", "3s")]);
    let unpersisted = |name: &str| {
        let source = write_local(local.path(), name, name.as_bytes());
        cached.fs(&["copyFromLocal", &source, &format!("/{name}")]).expect_ok("copyFromLocal");
    };
    unpersisted("deleted-under-the-worker");
    let lode = cluster.client();
    let block = lode.get_status("/deleted-under-the-worker").await.unwrap().block_ids[0];
    let block_file = std::fs::read_dir(cluster.worker_tier(0))
        .unwrap()
        .map(|dir| dir.unwrap().path().join(block.to_string()))
        .find(|path| path.exists())
        .expect("the block's file in the worker's tier");
    std::fs::remove_file(block_file).unwrap();
    let out = shell.fs(&["cat", "/deleted-under-the-worker"]).expect_failure("cat of a lost block");
    // Alluxio formats the id with thousands separators.
    let id = block.to_string().as_bytes().rchunks(3).rev().collect::<Vec<_>>().join(&b","[..]);
    let id = String::from_utf8(id).unwrap();
    assert!(out.contains(&format!("Block {id} is unavailable in both Alluxio and UFS")), "{out}");

    // The worker replaced by one with an empty cache: every persisted file still reads back
    // whole, and one that was not persisted gets the same error.
    unpersisted("cached-only");
    cluster.kill_worker(0);
    std::fs::remove_dir_all(cluster.worker_tier(0)).unwrap();
    cluster.restart_worker(0);
    cluster.wait_workers_registered().await;
    for (file, data) in files.iter().take(3) {
        let cat = shell.fs(&["cat", file]);
        assert!(cat.expect_bytes("cat from the UFS") == data.as_slice(), "{file}: other bytes");
    }
    let out = shell.fs(&["cat", "/cached-only"]).expect_failure("cat of a lost file");
    assert!(out.contains("is unavailable in both Alluxio and UFS"), "{out}");
}

/// Waits (a minute at most) until `ls` of `file` shows it `percent` cached.
fn wait_cached_percent(shell: &AlluxioClient, file: &str, percent: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = shell.fs(&["ls", file]).expect_ok("ls");
        if out.contains(&format!(" {percent} ")) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{file} not {percent} cached: {out}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// The stock shell's CACHE_THROUGH and THROUGH writes are in the root UFS, whole, when the
/// command returns, and PERSISTED: CACHE_THROUGH cached too, THROUGH not cached and read back
/// through a worker from the UFS; `mkdir` with THROUGH makes the UFS folder. Without a UFS both
/// are refused, naming what is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stock_shell_writes_through_to_the_ufs() {
    let zookeeper = ZooKeeper::standalone();
    let ufs = tempfile::tempdir().unwrap();
    let root = ufs.path().display().to_string();
    let _cluster = cluster(&zookeeper, &[("alluxio.master.mount.table.root.ufs", &root)]);
    let shell = guide_client(&zookeeper, &[]);
    let no_cache = guide_client(&zookeeper, &[("alluxio.user.file.readtype.default", "NO_CACHE")]);
    let local = tempfile::tempdir().unwrap();
    for (write_type, cached) in [("CACHE_THROUGH", "100%"), ("THROUGH", "0%")] {
        let through =
            guide_client(&zookeeper, &[("alluxio.user.file.writetype.default", write_type)]);
        let data = object_content(write_type.len() as u64, TWO_BLOCKS);
        let source = write_local(local.path(), write_type, &data);
        let file = format!("/{write_type}");
        through.fs(&["copyFromLocal", &source, &file]).expect_ok("copyFromLocal");
        let in_ufs = std::fs::read(ufs.path().join(write_type)).unwrap();
        assert!(in_ufs == data, "{write_type}: the UFS holds other bytes");
        let out = shell.fs(&["stat", &file]).expect_ok("stat");
        assert!(out.contains("persisted=true") && out.contains("PERSISTED"), "{out}");
        assert!(out.contains("ufsFingerprint=TYPE:FILE"), "{out}");
        let out = shell.fs(&["ls", &file]).expect_ok("ls");
        assert!(out.contains(&format!(" {cached} ")), "{write_type} cached {cached}: {out}");
        // Read NO_CACHE, a block no worker holds is read from the UFS and not kept.
        let cat = no_cache.fs(&["cat", &file]);
        assert!(
            cat.expect_bytes("cat") == data.as_slice(),
            "{write_type}: NO_CACHE read other bytes"
        );
        let out = shell.fs(&["ls", &file]).expect_ok("ls");
        assert!(out.contains(&format!(" {cached} ")), "{write_type} cached by NO_CACHE: {out}");
        let cat = shell.fs(&["cat", &file]);
        assert!(
            cat.expect_bytes("cat") == data.as_slice(),
            "{write_type}: cat printed other bytes"
        );
    }
    assert_eq!(names_within(ufs.path()), vec!["CACHE_THROUGH", "THROUGH"], "temporary files left");

    // mv moves a persisted file in the UFS too; rm deletes it there, unless --alluxioOnly.
    shell.fs(&["mkdir", "/dir"]).expect_ok("mkdir");
    shell.fs(&["mv", "/CACHE_THROUGH", "/dir/moved"]).expect_ok("mv");
    assert_eq!(names_within(ufs.path()), vec!["THROUGH", "dir/moved"]);
    shell.fs(&["rm", "-R", "/dir"]).expect_ok("rm -R");
    assert_eq!(names_within(ufs.path()), vec!["THROUGH"], "rm left the UFS file");
    assert!(!ufs.path().join("dir").exists(), "the emptied UFS folder stays");
    shell.fs(&["rm", "--alluxioOnly", "/THROUGH"]).expect_ok("rm --alluxioOnly");
    assert_eq!(names_within(ufs.path()), vec!["THROUGH"], "--alluxioOnly deleted the UFS file");

    // mkdir with THROUGH makes the folder (and its parents) in the UFS: PERSISTED.
    let through = guide_client(&zookeeper, &[("alluxio.user.file.writetype.default", "THROUGH")]);
    through.fs(&["mkdir", "/made/deep"]).expect_ok("mkdir THROUGH");
    assert!(ufs.path().join("made/deep").is_dir(), "mkdir THROUGH made no UFS folder");
    for folder in ["/made", "/made/deep"] {
        let out = shell.fs(&["stat", folder]).expect_ok("stat");
        assert!(out.contains("persisted=true") && out.contains("PERSISTED"), "{out}");
    }
    // A folder Lode has already is refused, and the UFS is left alone.
    shell.fs(&["mkdir", "/only-cached"]).expect_ok("mkdir");
    let out = through.fs(&["mkdir", "/only-cached"]).expect_failure("mkdir of an existing folder");
    assert!(out.contains("already exists"), "{out}");
    assert!(!ufs.path().join("only-cached").exists(), "a refused mkdir made a UFS folder");

    let bare = ZooKeeper::standalone();
    let _bare = cluster(&bare, &[]);
    let through = guide_client(&bare, &[("alluxio.user.file.writetype.default", "CACHE_THROUGH")]);
    let source = write_local(local.path(), "refused", b"no ufs");
    let out = through.fs(&["copyFromLocal", &source, "/refused"]).expect_failure("no UFS");
    assert!(out.contains("no under-file-system is mounted there"), "{out}");
}

/// With NOSASL on the cluster and the client, the shell runs unauthenticated: it writes and
/// reads back files as with SIMPLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stock_shell_runs_with_nosasl() {
    let nosasl = [("alluxio.security.authentication.type", "NOSASL")];
    let zookeeper = ZooKeeper::standalone();
    let _cluster = cluster(&zookeeper, &nosasl);
    let shell = guide_client(&zookeeper, &nosasl);
    let local = tempfile::tempdir().unwrap();
    let data = object_content(2, 3 << 20);
    let source = write_local(local.path(), "small.bin", &data);

    shell.fs(&["mkdir", "/open"]).expect_ok("mkdir");
    shell.fs(&["copyFromLocal", &source, "/open/small.bin"]).expect_ok("copyFromLocal");
    let cat = shell.fs(&["cat", "/open/small.bin"]);
    assert!(cat.expect_bytes("cat") == data.as_slice(), "cat printed other bytes");
    let out = shell.fs(&["ls", "/open"]).expect_ok("ls");
    assert!(out.contains(&format!("{}", 3 << 20)) && out.contains("/open/small.bin"), "{out}");
}

/// With short-circuit off, the stock client streams blocks to the worker (`WriteBlock`) and
/// back (`ReadBlock`): a two-block file and an empty one read back byte for byte, and the
/// worker counts the blocks as streamed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stock_shell_streams_blocks_through_the_worker() {
    let streamed = [("alluxio.user.short.circuit.enabled", "false")];
    let zookeeper = ZooKeeper::standalone();
    let election =
        Election::ZooKeeper { address: zookeeper.connect_string(), session_timeout: "3s".into() };
    let mut cluster = Cluster::start_on(2, election, &[], HELPER);
    let web = lode_client::local::free_ports(1).unwrap()[0];
    cluster.start_worker_with("1GB", vec![format!("-Dalluxio.worker.web.port={web}")]);
    let shell = guide_client(&zookeeper, &streamed);
    let local = tempfile::tempdir().unwrap();
    for (name, data) in [("two-blocks.bin", object_content(3, TWO_BLOCKS)), ("empty", vec![])] {
        let source = write_local(local.path(), name, &data);
        let file = format!("/{name}");
        shell.fs(&["copyFromLocal", &source, &file]).expect_ok("copyFromLocal");
        let cat = shell.fs(&["cat", &file]);
        assert!(cat.expect_bytes("cat") == data.as_slice(), "cat of {file} printed other bytes");
    }
    let metrics = lode_tests::http_get(web, "/metrics").expect("the worker's /metrics");
    let count = |name: &str| {
        let line =
            metrics.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}"));
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap()
    };
    // Two blocks, and the empty file's none.
    assert_eq!(count("lode_worker_block_writes_total{path=\"stream\"}"), 2.0, "{metrics}");
    assert!(count("lode_worker_block_reads_total{path=\"stream\"}") >= 2.0, "{metrics}");
}

/// A multi-block copyFromLocal that is running when the leader is killed with SIGKILL
/// finishes, its bytes read back whole, and the shell's next commands work on the new leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stock_shell_keeps_working_across_kill_9_of_the_leader() {
    let zookeeper = ZooKeeper::standalone();
    let mut cluster = cluster(&zookeeper, &[]);
    let leader = cluster.leader(None).await;
    let shell = std::sync::Arc::new(guide_client(&zookeeper, &[]));
    let local = tempfile::tempdir().unwrap();
    let data = object_content(3, 4 * (64 << 20) + 777);
    let source = write_local(local.path(), "big.bin", &data);
    shell.fs(&["mkdir", "/ha"]).expect_ok("mkdir");

    let copying = std::thread::spawn({
        let shell = shell.clone();
        move || shell.fs(&["copyFromLocal", &source, "/ha/big.bin"])
    });
    // Kill the leader once the copy has allocated its first block, so that it dies mid-write.
    let client = cluster.client();
    loop {
        if let Ok(status) = client.get_status("/ha/big.bin").await {
            if !status.block_ids.is_empty() {
                break;
            }
        }
        assert!(!copying.is_finished(), "the copy ended before the leader could be killed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    cluster.kill(leader);
    let new_leader = cluster.leader(Some(leader)).await;
    copying.join().unwrap().expect_ok("copyFromLocal across the failover");

    let cat = shell.fs(&["cat", "/ha/big.bin"]);
    assert!(cat.expect_bytes("cat after the failover") == data.as_slice(), "torn file");
    shell.fs(&["rm", "-R", "/ha"]).expect_ok("rm -R");
    // Every command of the guide works on the new leader.
    guide_commands(&shell, &cluster, new_leader, "/after");
}
