//! The reference deployment script's own walk-through passes: ZooKeeper ensemble, HDFS journal,
//! three masters and two workers configured as Alluxio's guide says; a file written, the
//! leader killed with SIGKILL, a standby takes over and the file reads back whole; persisted to
//! the root under-file-system (HDFS beside an HDFS journal), freed, it reads back from there.

use std::process::Command;

/// `reference-deployment --check` succeeds end to end (it fails on any step it cannot do).
#[test]
fn the_reference_deployment_walk_through_passes() {
    let stdout = check(&[]);
    assert!(stdout.contains("journal     hdfs://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("root UFS    hdfs://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("and from hdfs://127.0.0.1:"), "{stdout}");
}

/// The same walk-through with the journal in S3, selected by one setting.
#[test]
fn the_walk_through_passes_with_the_journal_in_s3() {
    let stdout = check(&["--journal", "s3"]);
    assert!(stdout.contains("journal     s3://lode-journal/alluxio/journal"), "{stdout}");
}

/// The same walk-through with the journal on a FUSE-mounted GlusterFS volume.
#[test]
fn the_walk_through_passes_with_the_journal_on_glusterfs() {
    let stdout = check(&["--journal", "glusterfs"]);
    assert!(stdout.contains("journal     glusterfs:///"), "{stdout}");
}

fn check(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_reference-deployment"))
        .arg("--check")
        .args(args)
        .output()
        .expect("running reference-deployment");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "reference-deployment --check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("check passed"), "{stdout}");
    stdout.into_owned()
}
