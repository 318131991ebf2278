//! `lode local`, the README's first command: it starts a cluster (masters and a worker) the
//! shell can use at once and stops everything on Ctrl-C.

use std::process::Command;
use std::time::Duration;

use lode_tests::process::Proc;

const LIMIT: Duration = Duration::from_secs(60);

fn shell(conf_dir: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lode"))
        .env_clear()
        .env("ALLUXIO_CONF_DIR", conf_dir)
        .args(args)
        .output()
        .unwrap()
}

/// The line `lode local` prints points the shell at the cluster, whose worker stores files;
/// Ctrl-C stops every process.
#[test]
fn lode_local_serves_the_shell_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut command = Command::new(env!("CARGO_BIN_EXE_lode"));
    command.env_clear().arg("local").arg("--dir").arg(&data).arg("--masters").arg("3");
    let mut local = Proc::start(command, true);
    let export = local.wait_for_text("export ALLUXIO_CONF_DIR=", LIMIT).expect("the paste line");
    let conf_dir = export.split("ALLUXIO_CONF_DIR=").nth(1).unwrap().trim().to_string();
    local.wait_for_text("leader:", LIMIT).expect("a leader");

    let made = shell(&conf_dir, &["fs", "mkdir", "-p", "/readme/demo"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let listed = shell(&conf_dir, &["fs", "ls", "-R", "/"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("/readme/demo"));
    let info = String::from_utf8_lossy(&shell(&conf_dir, &["fs", "masterInfo"]).stdout).to_string();
    assert!(info.starts_with("Current leader master: 127.0.0.1:"), "{info}");
    let leader = String::from_utf8_lossy(&shell(&conf_dir, &["fs", "leader"]).stdout).to_string();
    assert!(leader.starts_with("127.0.0.1:"), "{leader}");
    assert!(info.starts_with(&format!("Current leader master: {}", leader.trim())), "{leader}");
    assert_eq!(info.matches("STANDBY").count(), 2, "{info}");

    // The worker `lode local` starts takes a file and gives it back.
    let source = dir.path().join("source.txt");
    std::fs::write(&source, "through the local worker\n").unwrap();
    let must_cache = "-Dalluxio.user.file.writetype.default=MUST_CACHE";
    let copy = ["fs", "copyFromLocal", source.to_str().unwrap(), "/f.txt", must_cache];
    let copied = shell(&conf_dir, &copy);
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
    let cat = shell(&conf_dir, &["fs", "cat", "/f.txt"]);
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "through the local worker\n");
    // Written MUST_CACHE (to the worker only): listed and shown NOT_PERSISTED, with its path in
    // the root under-file-system.
    let listed =
        String::from_utf8_lossy(&shell(&conf_dir, &["fs", "ls", "/f.txt"]).stdout).to_string();
    assert!(listed.contains(" NOT_PERSISTED "), "{listed}");
    let stat =
        String::from_utf8_lossy(&shell(&conf_dir, &["fs", "stat", "/f.txt"]).stdout).to_string();
    let root_ufs = std::fs::canonicalize(&data).unwrap().join("underFSStorage");
    assert!(stat.contains(&format!("ufsPath: {}/f.txt", root_ufs.display())), "{stat}");
    assert!(stat.contains("persistenceState: NOT_PERSISTED"), "{stat}");
    // `fs persist` writes it to the root UFS and waits: whole, under its name, PERSISTED.
    let persisted = shell(&conf_dir, &["fs", "persist", "/f.txt"]);
    let said = String::from_utf8_lossy(&persisted.stdout).to_string();
    let expected = "Found 1 files to persist.\n(1/1) Successfully persisted file: /f.txt\n";
    assert_eq!(said, expected, "{persisted:?}");
    let in_ufs = std::fs::read_to_string(root_ufs.join("f.txt")).unwrap();
    assert_eq!(in_ufs, "through the local worker\n");
    let stat =
        String::from_utf8_lossy(&shell(&conf_dir, &["fs", "stat", "/f.txt"]).stdout).to_string();
    assert!(stat.contains("persistenceState: PERSISTED"), "{stat}");
    // Freed from the worker, it reads back through the worker from the UFS.
    let freed = shell(&conf_dir, &["fs", "free", "/f.txt"]);
    assert!(freed.status.success(), "{}", String::from_utf8_lossy(&freed.stderr));
    let cat = shell(&conf_dir, &["fs", "cat", "/f.txt"]);
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "through the local worker\n", "{cat:?}");
    let again = shell(&conf_dir, &["fs", "persist", "/f.txt"]);
    assert_eq!(String::from_utf8_lossy(&again.stdout), "Found 0 files to persist.\n");

    // The root mount is a folder under the data directory; `fs mount` mounts another and
    // lists both, `fs unmount` takes it away again.
    let other = dir.path().join("other-ufs");
    std::fs::create_dir_all(&other).unwrap();
    let other = other.to_str().unwrap();
    let mounted = shell(&conf_dir, &["fs", "mount", "--readonly", "/mnt", other]);
    assert!(mounted.status.success(), "{}", String::from_utf8_lossy(&mounted.stderr));
    let table = String::from_utf8_lossy(&shell(&conf_dir, &["fs", "mount"]).stdout).to_string();
    let root_ufs = std::fs::canonicalize(&data).unwrap().join("underFSStorage");
    let line = |path: &str| {
        let on = format!("  on  {path} ");
        table.lines().find(|l| l.contains(&on)).unwrap_or_else(|| panic!("{table}")).to_string()
    };
    assert!(line("/").starts_with(&root_ufs.display().to_string()), "{table}");
    assert!(line("/mnt").starts_with(other) && line("/mnt").contains("(local"), "{table}");
    assert!(line("/mnt").contains(", read-only"), "{table}");
    let unmounted = shell(&conf_dir, &["fs", "unmount", "/mnt"]);
    assert!(unmounted.status.success(), "{}", String::from_utf8_lossy(&unmounted.stderr));

    // The report names the leader, both standbys with their lag, and the worker's usage.
    let report =
        String::from_utf8_lossy(&shell(&conf_dir, &["fsadmin", "report"]).stdout).to_string();
    assert!(report.starts_with("Leader: 127.0.0.1:"), "{report}");
    assert_eq!(report.matches(" lag ").count(), 2, "{report}");
    assert!(report.contains("Workers: 1 live"), "{report}");
    assert!(report.contains("Under-file-systems: 1 mounted"), "{report}");
    assert!(
        report.contains(&format!(
            "{}/underFSStorage (local, read-write)",
            std::fs::canonicalize(&data).unwrap().display()
        )),
        "{report}"
    );
    assert!(report.contains("used       25 B"), "{report}");
    assert!(report.contains("Metrics (leader):\n  RPCs answered"), "{report}");
    // Sampled once a second by the leader: the count itself may lag the persist just done.
    assert!(
        report.contains("files to persist    ") && report.contains(" being copied by workers)"),
        "{report}"
    );
    assert!(!report.contains("journal commits     0 "), "the leader committed: {report}");

    // Lode's shell writes as Alluxio's client does: ASYNC_THROUGH by default (persisted on its
    // own, soon), CACHE_THROUGH and THROUGH in the UFS when the command returns.
    for (write_type, file) in
        [("ASYNC_THROUGH", "async"), ("CACHE_THROUGH", "cache"), ("THROUGH", "ufs")]
    {
        let define = format!("-Dalluxio.user.file.writetype.default={write_type}");
        let dst = format!("/{file}");
        let copy = ["fs", "copyFromLocal", source.to_str().unwrap(), &dst, &define];
        let copied = shell(&conf_dir, &copy);
        assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            let in_ufs = std::fs::read(root_ufs.join(file)).ok();
            let stat = shell(&conf_dir, &["fs", "stat", &dst]);
            let stat = String::from_utf8_lossy(&stat.stdout).to_string();
            if in_ufs.as_deref() == Some(b"through the local worker\n")
                && stat.contains("persistenceState: PERSISTED")
            {
                break;
            }
            assert!(
                write_type == "ASYNC_THROUGH",
                "{write_type}: not persisted when written: {stat}"
            );
            assert!(std::time::Instant::now() < deadline, "{write_type}: never persisted: {stat}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let cat = shell(&conf_dir, &["fs", "cat", &dst]);
        assert_eq!(String::from_utf8_lossy(&cat.stdout), "through the local worker\n");
    }

    local.signal(rustix::process::Signal::INT);
    assert!(local.wait(), "lode local failed: {:?}", local.seen);
    assert!(local.seen.iter().any(|line| line == "stopped"), "{:?}", local.seen);
    let after = shell(&conf_dir, &["-Dalluxio.user.rpc.retry.max.duration=1s", "fs", "ls", "/"]);
    assert!(!after.status.success(), "a master still answers after Ctrl-C");
}

/// `lode local -Dkey=value` configures the cluster it starts: the worker's memory tier has the
/// size given and files persist in the root under-file-system given (no folder is made in the
/// data directory); a value that cannot be parsed is refused naming its key.
#[test]
fn lode_local_passes_its_properties_to_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (data, ufs) = (dir.path().join("data"), dir.path().join("my-ufs"));
    std::fs::create_dir_all(&ufs).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_lode"));
    command
        .env_clear()
        .arg("-Dalluxio.worker.ramdisk.size=64MB")
        .arg(format!("-Dalluxio.master.mount.table.root.ufs={}", ufs.display()))
        .args(["local", "--masters", "1", "--dir"])
        .arg(&data);
    let mut local = Proc::start(command, true);
    let export = local.wait_for_text("export ALLUXIO_CONF_DIR=", LIMIT).expect("the paste line");
    let conf_dir = export.split("ALLUXIO_CONF_DIR=").nth(1).unwrap().trim().to_string();
    local.wait_for_text("leader:", LIMIT).expect("a leader");
    let deadline = std::time::Instant::now() + LIMIT;
    let report = loop {
        let report = shell(&conf_dir, &["fsadmin", "report"]);
        let report = String::from_utf8_lossy(&report.stdout).to_string();
        if report.contains("Workers: 1 live") {
            break report;
        }
        assert!(std::time::Instant::now() < deadline, "no worker: {report}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(report.contains("capacity 64.00 MiB"), "{report}");
    let source = dir.path().join("source.txt");
    std::fs::write(&source, "given root\n").unwrap();
    let through = "-Dalluxio.user.file.writetype.default=CACHE_THROUGH";
    let copied =
        shell(&conf_dir, &["fs", "copyFromLocal", source.to_str().unwrap(), "/f", through]);
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
    assert_eq!(std::fs::read_to_string(ufs.join("f")).unwrap(), "given root\n");
    assert!(!data.join("underFSStorage").exists(), "the default root UFS was made anyway");
    local.signal(rustix::process::Signal::INT);
    assert!(local.wait(), "lode local failed: {:?}", local.seen);

    let output = Command::new(env!("CARGO_BIN_EXE_lode"))
        .env_clear()
        .args(["-Dalluxio.worker.ramdisk.size=lots", "local", "--dir"])
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("alluxio.worker.ramdisk.size"), "{stderr}");
}

/// A master that cannot start is not restarted forever: `lode local` stops with an error that
/// names the master's log.
#[test]
fn lode_local_gives_up_on_a_master_that_cannot_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lode"))
        .env_clear()
        .env("LODE_MASTER_BIN", "/bin/false")
        .arg("local")
        .arg("--dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("keeps exiting right after it starts") && stderr.contains("master-"),
        "{stderr}"
    );
}
