//! Under-file-systems on real services: a real HDFS (NameNode and DataNodes from the Hadoop
//! jars) and an S3 server (moto), through the same OpenDAL code as a local folder. A written
//! file appears under its name only once finished, reads take ranges, rename and delete
//! follow, and an unreachable service is an error naming its URI. And a cluster whose root
//! under-file-system is S3 persists, writes through and reads back from it.

use std::collections::BTreeMap;

use bytes::Bytes;
use lode_client::data;
use lode_client::master::WriteType;
use lode_core::config::{name, Config};
use lode_tests::cluster::{Cluster, Election};
use lode_tests::hdfs::Hdfs;
use lode_tests::s3::{S3Server, ACCESS_KEY_ID, BUCKET, SECRET_KEY};
use lode_ufs::{Ufs, UfsError};

/// Writes, reads, renames and deletes under `ufs`, and checks what each step shows.
async fn exercise(ufs: &Ufs) {
    ufs.check().await.unwrap();
    let mut file = ufs.create("dir/data").await.unwrap();
    file.write(Bytes::from_static(b"0123456789")).await.unwrap();
    assert_eq!(ufs.status("dir/data").await.unwrap(), None, "visible while being written");
    let written = file.finish().await.unwrap();
    assert_eq!((written.is_directory, written.length), (false, 10));
    assert_eq!(ufs.read("dir/data", 3, 4).await.unwrap(), Bytes::from_static(b"3456"));
    assert_eq!(ufs.read("dir/data", 8, 100).await.unwrap(), Bytes::from_static(b"89"));
    assert!(ufs.status("dir").await.unwrap().is_some_and(|s| s.is_directory));

    let mut gone = ufs.create("dir/aborted").await.unwrap();
    gone.write(Bytes::from_static(b"partial")).await.unwrap();
    gone.abort().await;
    assert_eq!(ufs.status("dir/aborted").await.unwrap(), None);

    ufs.rename("dir/data", "moved/data").await.unwrap();
    assert_eq!(ufs.status("dir/data").await.unwrap(), None);
    assert_eq!(ufs.read("moved/data", 0, 10).await.unwrap(), Bytes::from_static(b"0123456789"));
    ufs.delete("moved").await.unwrap();
    assert_eq!(ufs.status("moved/data").await.unwrap(), None);
    let missing = ufs.read("moved/data", 0, 1).await.unwrap_err();
    assert!(matches!(missing, UfsError::NotFound { .. }), "{missing}");
}

/// HDFS: the full cycle, and a NameNode nobody listens on is reported as unreachable within
/// the request timeout (a mount option here).
#[test]
fn hdfs_under_file_system() {
    let hdfs = Hdfs::shared();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let folder = format!("{}/ufs-{}", hdfs.uri(), uuid::Uuid::new_v4());
        let none = BTreeMap::new();
        let config = Config::from_pairs([(
            name::UNDERFS_HDFS_CONFIGURATION,
            format!("{}/hdfs-site.xml", hdfs.conf_dir().display()),
        )])
        .unwrap();
        let ufs = Ufs::open(&folder, &none, &config).unwrap();
        ufs.create_dir("").await.unwrap();
        exercise(&ufs).await;

        let port = lode_client::local::free_ports(1).unwrap()[0];
        let quick = BTreeMap::from([(name::UNDERFS_REQUEST_TIMEOUT.to_string(), "3s".to_string())]);
        let nowhere = Ufs::open(&format!("hdfs://127.0.0.1:{port}/x"), &quick, &config).unwrap();
        let error = nowhere.check().await.unwrap_err();
        assert!(matches!(error, UfsError::Unreachable { .. }), "{error}");
        assert!(error.to_string().contains(&format!("hdfs://127.0.0.1:{port}/x")), "{error}");
    });
}

/// S3: the full cycle with a mount's own credentials and endpoint (no site configuration),
/// and half a credential is refused naming what is missing.
#[test]
fn s3_under_file_system() {
    let server = S3Server::shared();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let options = |secret: &str| {
            BTreeMap::from([
                (name::UNDERFS_S3_ENDPOINT.to_string(), server.endpoint()),
                (name::UNDERFS_S3_DISABLE_DNS_BUCKETS.to_string(), "true".to_string()),
                (name::S3A_ACCESS_KEY_ID.to_string(), ACCESS_KEY_ID.to_string()),
                (name::S3A_SECRET_KEY.to_string(), secret.to_string()),
            ])
        };
        let folder = format!("s3://{BUCKET}/ufs-{}", uuid::Uuid::new_v4());
        let config = Config::default();
        let ufs = Ufs::open(&folder, &options(SECRET_KEY), &config).unwrap();
        exercise(&ufs).await;

        let half = BTreeMap::from([(name::S3A_ACCESS_KEY_ID.to_string(), "id".to_string())]);
        let refused = Ufs::open(&folder, &half, &config).unwrap_err();
        assert!(refused.to_string().contains("half a credential"), "{refused}");
    });
}

/// Frees `path` and waits (a minute at most) until the worker caches nothing.
async fn free_all(client: &lode_client::master::MasterClient, path: &str) {
    client.free(path, false).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while client.worker_infos().await.unwrap()[0].used_bytes() != 0 {
        assert!(std::time::Instant::now() < deadline, "{path}: freed blocks stay cached");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A cluster whose root UFS is an S3 bucket (credentials and endpoint as the root mount's
/// options): a default (ASYNC_THROUGH) write is persisted whole, a CACHE_THROUGH one is in the
/// bucket when it returns, and both read back from S3 once freed from the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_persists_to_and_reads_back_from_s3() {
    let server = S3Server::shared();
    let folder = format!("s3://{BUCKET}/cluster-{}", uuid::Uuid::new_v4());
    let options = [
        (name::UNDERFS_S3_ENDPOINT, server.endpoint()),
        (name::UNDERFS_S3_DISABLE_DNS_BUCKETS, "true".to_string()),
        (name::S3A_ACCESS_KEY_ID, ACCESS_KEY_ID.to_string()),
        (name::S3A_SECRET_KEY, SECRET_KEY.to_string()),
    ];
    let mut site = vec![
        (name::MASTER_MOUNT_TABLE_ROOT_UFS.to_string(), folder.clone()),
        ("alluxio.master.persistence.initial.interval".to_string(), "100ms".to_string()),
    ];
    for (key, value) in &options {
        site.push((format!("{}{key}", name::MASTER_MOUNT_TABLE_ROOT_OPTION), value.clone()));
    }
    let election = Election::Embedded { lease_timeout: "2s".into() };
    let mut cluster = Cluster::start_on(1, election, &site, env!("CARGO_BIN_EXE_journal-writer"));
    cluster.start_worker();
    cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    let ufs_options = options.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    let bucket = Ufs::open(&folder, &ufs_options, &Config::default()).unwrap();

    let client = cluster.client();
    let files = [("async", WriteType::AsyncThrough, 5), ("through", WriteType::CacheThrough, 6)];
    for (name, write_type, seed) in files {
        let data = lode_tests::object_content(seed, (5 << 20) / 2);
        let writer = cluster.client().with_write_type(write_type);
        let path = format!("/{name}");
        data::write_file(&writer, &path, &mut &data[..], Some(1 << 20), &|_| {}).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while client.get_status(&path).await.unwrap().persistence_state() != "PERSISTED" {
            assert!(std::time::Instant::now() < deadline, "{path} was never persisted");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let in_bucket = bucket.read(name, 0, 10 << 20).await.unwrap();
        assert!(in_bucket == data, "{name}: the bucket holds other bytes");
        free_all(&client, &path).await;
        let mut back = Vec::new();
        data::read_file(&client, &path, 0, None, &mut back, &|_| {}).await.unwrap();
        assert!(back == data, "{name}: read back other bytes from S3");
        free_all(&client, &path).await;
    }
    for name in ["async", "through"] {
        assert_eq!(bucket.delete_temporaries(name).await.unwrap(), 0, "{name}: temporaries left");
    }
}
