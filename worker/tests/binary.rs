//! The `lode-worker` binary: its backends, its configuration errors, its life until a signal.

use std::process::{Command, Stdio};
use std::time::Duration;

use lode_tests::{isolated_command, registered_backend_names};

fn worker() -> Command {
    isolated_command(env!("CARGO_BIN_EXE_lode-worker"))
}

/// The worker registers exactly the backends it is built with.
#[test]
fn the_worker_registers_exactly_its_backends() {
    let output = worker().arg("--backends").output().unwrap();
    let mut expected = vec!["local", "embedded"];
    if cfg!(feature = "etcd") {
        expected.push("etcd");
    }
    expected.push("zookeeper");
    assert_eq!(registered_backend_names(&String::from_utf8_lossy(&output.stdout)), expected);
}

/// A bad value stops start-up with an error naming the key and where it came from.
#[test]
fn a_bad_port_is_refused() {
    let output = worker().arg("-Dalluxio.worker.rpc.port=99999").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value `99999` for alluxio.worker.rpc.port (from command line)"),
        "{stderr}"
    );
}

/// The worker reports how it finds masters, and stops cleanly on SIGTERM.
#[test]
fn the_worker_starts_and_stops_on_sigterm() {
    let tier = tempfile::tempdir().unwrap();
    let mut child = worker()
        .arg("-Dalluxio.master.rpc.addresses=m1:19998,m2:19998")
        .arg("-Dalluxio.worker.rpc.port=0")
        .arg("-Dalluxio.worker.web.port=0")
        .arg("-Dalluxio.worker.bind.host=127.0.0.1")
        .arg(format!("-Dalluxio.worker.tieredstore.level0.dirs.path={}", tier.path().display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the worker exited early");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("masters=any of m1:19998, m2:19998"), "{stderr}");
}

/// A tier configuration that cannot work stops the worker with the key to fix.
#[test]
fn an_unworkable_tier_configuration_is_refused() {
    let tier = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let output = worker()
            .arg("-Dalluxio.master.rpc.addresses=m1:19998")
            .arg("-Dalluxio.worker.rpc.port=0")
            .arg("-Dalluxio.worker.web.port=0")
            .arg("-Dalluxio.worker.bind.host=127.0.0.1")
            .arg(format!("-Dalluxio.worker.tieredstore.level0.dirs.path={}", tier.path().display()))
            .args(extra)
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    let stderr = run(&["-Dalluxio.worker.tieredstore.levels=3"]);
    assert!(stderr.contains("alluxio.worker.tieredstore.levels=3"), "{stderr}");
    let stderr = run(&["-Dalluxio.worker.tieredstore.levels=2"]);
    assert!(stderr.contains("alluxio.worker.tieredstore.level1.dirs.path"), "{stderr}");
}
