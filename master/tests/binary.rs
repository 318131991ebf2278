//! The `lode-master` binary: its backends, its configuration errors, its life until a signal.

use std::process::Command;
use std::time::Duration;

use lode_tests::{isolated_command, registered_backend_names};

fn master() -> Command {
    isolated_command(env!("CARGO_BIN_EXE_lode-master"))
}

/// The master registers exactly the backends it is built with.
#[test]
fn the_master_registers_exactly_its_backends() {
    let output = master().arg("--backends").output().unwrap();
    let mut expected = vec!["glusterfs", "hdfs", "local"];
    if cfg!(feature = "s3") {
        expected.push("s3");
    }
    expected.push("embedded");
    if cfg!(feature = "etcd") {
        expected.push("etcd");
    }
    expected.push("zookeeper");
    assert_eq!(registered_backend_names(&String::from_utf8_lossy(&output.stdout)), expected);
}

/// A journal folder whose store is not linked fails start-up naming what is registered.
#[test]
fn an_unlinked_journal_store_is_refused_with_the_registered_ones() {
    let output = master()
        .arg("-Dalluxio.master.journal.folder=gs://bucket/alluxio/journal")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no journal store for scheme `gs`")
            && stderr.contains("registered: glusterfs (glusterfs); hdfs (hdfs); local"),
        "{stderr}"
    );
}

/// A lone master becomes leader, and on SIGTERM resigns and exits cleanly.
#[test]
fn a_lone_master_leads_and_resigns_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = master();
    command.arg(format!("-Dalluxio.work.dir={}", dir.path().display()));
    command.arg("-Dalluxio.master.rpc.port=0");
    let mut process = lode_tests::process::Proc::start(command, true);
    let limit = Duration::from_secs(60);
    process.wait_for_text("leading", limit).expect("the master leads");
    process.signal(rustix::process::Signal::TERM);
    assert!(process.wait(), "the master failed: {:?}", process.seen);
    assert!(process.seen.iter().any(|line| line.contains("resigned")), "{:?}", process.seen);
}
