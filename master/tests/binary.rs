//! The `lode-master` binary: its backends, its configuration errors, its life until a signal.

use std::process::{Command, Stdio};
use std::time::Duration;

use lode_tests::{isolated_command, registered_backend_names};

fn master() -> Command {
    isolated_command(env!("CARGO_BIN_EXE_lode-master"))
}

/// The master registers exactly the backends it is built with.
#[test]
fn the_master_registers_exactly_its_backends() {
    let output = master().arg("--backends").output().unwrap();
    assert_eq!(
        registered_backend_names(&String::from_utf8_lossy(&output.stdout)),
        ["local", "embedded"]
    );
}

/// A journal folder whose store is not linked fails start-up naming what is registered.
#[test]
fn an_unlinked_journal_store_is_refused_with_the_registered_ones() {
    let output = master()
        .arg("-Dalluxio.master.journal.folder=hdfs://nn:8020/alluxio/journal")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no journal store for scheme `hdfs`")
            && stderr.contains("registered: local"),
        "{stderr}"
    );
}

/// With valid configuration the master starts and stops cleanly on SIGTERM.
#[test]
fn the_master_starts_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = master()
        .arg(format!("-Dalluxio.work.dir={}", dir.path().display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the master exited early");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("master configured"), "{stderr}");
}
