//! Masters with their journal on a real GlusterFS volume, as processes under faults: the
//! leader killed under load, a folder that is not on a GlusterFS mount at start-up. (The brick
//! test has its own file: it breaks the volume, which every test of a process shares.)

use std::time::Duration;

use lode_tests::cluster::{master_start_up_error, Cluster, Election};
use lode_tests::faults::{kill_trials, trials};
use lode_tests::glusterfs::GlusterFs;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// Fails a hung run instead of stalling CI; far above how long a test takes.
const GUARD: Duration = Duration::from_secs(600);

fn embedded() -> Election {
    Election::Embedded { lease_timeout: "2s".into() }
}

fn journal_in(folder: String) -> Vec<(String, String)> {
    vec![("alluxio.master.journal.folder".into(), folder)]
}

/// Killing the leader with SIGKILL under load, trial after trial, with the journal on
/// GlusterFS: clients see no error, nothing acknowledged is lost, nothing applies twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_with_the_journal_on_glusterfs_loses_nothing() {
    let gluster = tokio::task::block_in_place(GlusterFs::shared);
    let journal = journal_in(gluster.new_folder("failover"));
    let mut cluster = Cluster::start_on(3, embedded(), &journal, HELPER);
    tokio::time::timeout(GUARD, kill_trials(&mut cluster, trials())).await.expect("the test hung");
}

/// A glusterfs:// folder that is not on a GlusterFS mount stops the master at start-up with
/// an error naming it, so that a missing mount cannot put the journal on a local disk.
#[test]
fn a_folder_off_the_mount_fails_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let folder = format!("glusterfs://{}/journal", dir.path().display());
    let stderr = master_start_up_error(HELPER, &journal_in(folder.clone()));
    assert!(stderr.contains(&folder) && stderr.contains("not on a mounted GlusterFS"), "{stderr}");
}
