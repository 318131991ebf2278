//! A full journal disk under a real cluster: the journal folder is a small tmpfs that a test
//! fills while clients write. No write is acknowledged while the disk is full, nothing
//! acknowledged before is lost or applied twice, the masters say why they cannot write (and
//! neither crashes), and once space is freed the cluster serves again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lode_tests::cluster::{Cluster, Election};
use lode_tests::faults::{trials, wait_for_reported, Load};

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// A tmpfs of `size` mounted on a fresh folder, unmounted when dropped.
struct SmallDisk {
    folder: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let folder = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "lode-disk-full"])
            .arg(folder.path())
            .status()
            .expect("running mount");
        assert!(status.success(), "mounting a tmpfs on {} (root needed)", folder.path().display());
        SmallDisk { folder }
    }

    fn path(&self) -> &Path {
        self.folder.path()
    }

    /// Writes a filler file until the disk is full; returns it.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0xF1; 64 << 10];
        loop {
            match file.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling {}: {e}", filler.display()),
            }
        }
        // Whatever a partial chunk left: the last pages too.
        while file.write_all(&[0xF1; 512]).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.folder.path()).status();
    }
}

/// With the journal's disk full (ENOSPC) under load, trial after trial: nothing is
/// acknowledged while it is full, a master reports "No space left on device" as its journal
/// error and the leader as why it stepped down, both masters live on, the cluster serves again
/// once space is freed, and the namespace equals the acknowledged history.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_journal_disk_loses_nothing_and_is_reported() {
    let disk = SmallDisk::mount("16m");
    let journal = disk.path().join("journal");
    let extra = [
        ("alluxio.master.journal.folder".to_string(), journal.display().to_string()),
        ("alluxio.master.journal.flush.timeout".to_string(), "2s".to_string()),
    ];
    let election = Election::Embedded { lease_timeout: "30s".into() };
    let cluster = Cluster::start_on(2, election, &extra, HELPER);
    cluster.leader(None).await;
    let load = Load::start(&cluster, 4);
    for trial in 0..trials() {
        load.progress(20, "before the disk filled").await;
        let filler = disk.fill();
        let reported = wait_for_reported(&cluster, "No space left on device").await;
        // Answers already on their way are counted; after that nothing may be acknowledged.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let while_full = load.acked();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(load.acked(), while_full, "trial {trial}: acknowledged with the disk full");
        let statuses = cluster.statuses().await;
        assert_eq!(statuses.len(), 2, "a master died of a full disk");
        assert!(
            statuses.iter().any(|(_, s)| s.stepped_down.contains("No space left on device")),
            "trial {trial}: no leader says it stepped down for the full disk: {statuses:?}"
        );
        std::fs::remove_file(&filler).unwrap();
        let took = load.progress(20, "after space was freed").await;
        println!("trial {trial}: reported {reported:?}; serving again {took:?} after freeing");
    }
    load.finish(&cluster).await;
}
