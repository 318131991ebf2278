//! CACHE_THROUGH writes when the under-file-system fails or stalls: the write fails with the
//! UFS's error, nothing appears in the UFS (neither the file nor its temporary), the partial file
//! leaves the namespace and the blocks cached for it are discarded. A full tmpfs is the failing
//! UFS; a real HDFS whose DataNodes are stopped is the stalling one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lode_client::data;
use lode_client::master::{MasterClient, WriteType};
use lode_tests::cluster::{Cluster, Election};
use lode_tests::hdfs::{Daemon, Hdfs, DATANODES};
use lode_tests::object_content;
use rustix::process::Signal;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// One master (embedded elector) and a worker, with `site` added to the site properties.
async fn cluster(site: &[(&str, String)]) -> Cluster {
    let site: Vec<(String, String)> =
        site.iter().map(|(key, value)| (key.to_string(), value.clone())).collect();
    let election = Election::Embedded { lease_timeout: "2s".into() };
    let mut cluster = Cluster::start_on(1, election, &site, HELPER);
    cluster.start_worker();
    cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    cluster
}

/// Writes `length` bytes as `path` with CACHE_THROUGH in 1 MiB blocks; returns the error.
async fn failing_write(cluster: &Cluster, path: &str, length: usize) -> String {
    let client = cluster.client().with_write_type(WriteType::CacheThrough);
    let data = object_content(4, length);
    let mut source = &data[..];
    let written = data::write_file(&client, path, &mut source, Some(1 << 20), &|_| {}).await;
    written.expect_err("the write succeeded").to_string()
}

/// Waits (a minute at most) until the worker caches nothing.
async fn wait_cache_empty(client: &MasterClient) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let used = client.worker_infos().await.unwrap()[0].used_bytes();
        if used == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the worker still caches {used} bytes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A tmpfs of a few MiB mounted for the test, unmounted when dropped.
struct SmallTmpfs {
    dir: tempfile::TempDir,
}

impl SmallTmpfs {
    fn mount(size: &str) -> SmallTmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        SmallTmpfs { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Everything in `folder` (names), sorted.
fn listing(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A UFS that runs out of space in the middle of a CACHE_THROUGH write (a 4 MiB tmpfs, a
/// 16 MiB file): the write fails naming the UFS's error, the UFS holds nothing, the partial file
/// is gone from the namespace and its cached blocks from the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ufs_failing_mid_write_fails_the_write_and_keeps_nothing() {
    let ufs = SmallTmpfs::mount("4m");
    let cluster =
        cluster(&[("alluxio.master.mount.table.root.ufs", ufs.path().display().to_string())]).await;
    let client = cluster.client();
    let error = failing_write(&cluster, "/full", 16 << 20).await;
    assert!(error.contains("No space left on device"), "{error}");
    assert!(error.contains("the partial file was removed"), "{error}");
    assert_eq!(listing(&ufs.path()), Vec::<String>::new(), "left in the UFS");
    assert!(!client.exists("/full").await.unwrap());
    wait_cache_empty(&client).await;
}

/// An HDFS whose DataNodes stop answering during a CACHE_THROUGH write (a UFS request timeout
/// of 3 s as a mount option): the write fails with the timeout, no file nor temporary is left
/// in HDFS, the partial file is gone and its cached blocks too; once the DataNodes go on, the
/// same write succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ufs_stalling_mid_write_fails_the_write_within_the_timeout() {
    let hdfs = tokio::task::block_in_place(Hdfs::start);
    let root = format!("{}/root", hdfs.uri());
    let site = [
        ("alluxio.master.mount.table.root.ufs", root),
        (
            "alluxio.underfs.hdfs.configuration",
            hdfs.conf_dir().join("hdfs-site.xml").display().to_string(),
        ),
        ("alluxio.master.mount.table.root.option.alluxio.underfs.request.timeout", "3s".into()),
    ];
    let cluster = cluster(&site).await;
    let client = cluster.client();
    for n in 0..DATANODES {
        hdfs.signal(Daemon::DataNode(n), Signal::STOP);
    }
    let started = Instant::now();
    let error = failing_write(&cluster, "/stalled", 16 << 20).await;
    let took = started.elapsed();
    for n in 0..DATANODES {
        hdfs.signal(Daemon::DataNode(n), Signal::CONT);
    }
    assert!(
        error.contains(&hdfs.uri()) && error.contains("the partial file was removed"),
        "{error}"
    );
    eprintln!("the stalled write failed after {took:?}: {error}");
    assert!(!client.exists("/stalled").await.unwrap());
    wait_cache_empty(&client).await;
    let ls = lode_ufs::Ufs::open(
        &format!("{}/root", hdfs.uri()),
        &Default::default(),
        &lode_core::config::Config::from_pairs([(
            "alluxio.underfs.hdfs.configuration",
            hdfs.conf_dir().join("hdfs-site.xml").display().to_string(),
        )])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(ls.status("stalled").await.unwrap(), None, "the file appeared in HDFS");
    assert_eq!(ls.delete_temporaries("stalled").await.unwrap(), 0, "a temporary stayed in HDFS");

    let data = object_content(5, 3 << 20);
    let through = cluster.client().with_write_type(WriteType::CacheThrough);
    data::write_file(&through, "/stalled", &mut &data[..], Some(1 << 20), &|_| {}).await.unwrap();
    assert_eq!(ls.read("stalled", 0, 4 << 20).await.unwrap(), data);
}
