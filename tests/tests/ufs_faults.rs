//! CACHE_THROUGH writes when the under-file-system fails or stalls: the write fails with the
//! UFS's error, nothing appears in the UFS (neither the file nor its temporary), the partial file
//! leaves the namespace and the blocks cached for it are discarded. A full tmpfs is the failing
//! UFS; a real HDFS whose DataNodes are stopped is the stalling one. Metadata loads when the UFS
//! (a real S3 server made to fail) cannot be reached: the call fails naming the UFS path, and
//! what was loaded stays as it was.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lode_client::data;
use lode_client::master::{MasterClient, RetryPolicy, WriteType};
use lode_core::config::{name, Config};
use lode_core::rpc::alluxio::grpc::file::{ListStatusPOptions, LoadMetadataPType};
use lode_tests::cluster::{Cluster, Election};
use lode_tests::hdfs::{Daemon, Hdfs, DATANODES};
use lode_tests::object_content;
use lode_tests::s3::{Fault, S3Server, ACCESS_KEY_ID, BUCKET, SECRET_KEY};
use lode_ufs::Ufs;
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

/// The names `client` lists at `path`, sorted; with `never`, from what the masters know alone
/// (Alluxio's load type NEVER).
async fn names(client: &MasterClient, path: &str, never: bool) -> Vec<String> {
    let load = never.then_some(LoadMetadataPType::Never as i32);
    let options = ListStatusPOptions { load_metadata_type: load, ..Default::default() };
    let entries = client.list_status_with(path, options).await.unwrap();
    let mut names: Vec<String> = entries.into_iter().map(|info| info.name().to_string()).collect();
    names.sort();
    names
}

/// A UFS that cannot be reached during a metadata load (a real S3 server answering every
/// request with an error) fails the listing with an error naming the folder's UFS path; what was
/// loaded before stays and nothing of the failed load is journaled; once the UFS answers again,
/// the folder loads whole, each entry once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ufs_unreachable_during_a_metadata_load_fails_it_and_keeps_what_was_loaded() {
    let server = S3Server::start();
    let folder = format!("s3://{BUCKET}/load-{}", uuid::Uuid::new_v4());
    let options = [
        (name::UNDERFS_S3_ENDPOINT, server.endpoint()),
        (name::UNDERFS_S3_DISABLE_DNS_BUCKETS, "true".to_string()),
        (name::S3A_ACCESS_KEY_ID, ACCESS_KEY_ID.to_string()),
        (name::S3A_SECRET_KEY, SECRET_KEY.to_string()),
    ];
    let mut site = vec![(name::MASTER_MOUNT_TABLE_ROOT_UFS, folder.clone())];
    let keys: Vec<String> = options
        .iter()
        .map(|(key, _)| format!("{}{key}", name::MASTER_MOUNT_TABLE_ROOT_OPTION))
        .collect();
    site.extend(keys.iter().map(String::as_str).zip(options.iter().map(|(_, v)| v.clone())));
    let cluster = cluster(&site).await;
    let ufs_options = options.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let bucket = Ufs::open(&folder, &ufs_options, &Config::default()).unwrap();
    for path in ["old/a", "old/b", "new/a", "new/b", "new/c"] {
        let mut file = bucket.create(path).await.unwrap();
        file.write(bytes::Bytes::from_static(b"put there by another tool\n")).await.unwrap();
        file.finish().await.unwrap();
    }
    let client = cluster.client();
    assert_eq!(names(&client, "/old", false).await, ["a", "b"]);

    server.set_fault(Fault::Errors);
    let quick =
        MasterClient::from_config(&cluster.client_config()).unwrap().with_retry(RetryPolicy {
            base_sleep: Duration::from_millis(10),
            max_sleep: Duration::from_millis(100),
            max_duration: Duration::from_secs(3),
        });
    let error = quick.list_status("/new", false).await.unwrap_err().to_string();
    assert!(error.contains(&format!("{folder}/new")), "the error names no UFS path: {error}");
    // What was loaded stays (listed once: no UFS call), and nothing of /new was journaled.
    assert_eq!(names(&quick, "/old", false).await, ["a", "b"]);
    assert_eq!(names(&quick, "/", true).await, ["old"]);

    server.set_fault(Fault::None);
    assert_eq!(names(&client, "/new", false).await, ["a", "b", "c"]);
    assert_eq!(names(&client, "/", false).await, ["new", "old"]);
}
