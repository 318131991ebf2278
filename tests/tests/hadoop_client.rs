//! Hadoop's `FileSystem` API over `alluxio://` against Lode: Alluxio's own 2.9 Hadoop client
//! (`alluxio.hadoop.FileSystem`, as a site's `core-site.xml` maps the scheme) under Hadoop's
//! `hadoop fs` (`FsShell`), with no Alluxio configuration but the URI. Data another tool put in
//! the UFS is listed and read; `-mkdir`, `-put`, `-cat`, `-mv`, `-du`, `-rm` work on the
//! leader's address and on the fault-tolerant `alluxio://zk@<ensemble>/` form, across kill -9
//! of the leader.

use lode_tests::alluxio::AlluxioClient;
use lode_tests::cluster::{Cluster, Election};
use lode_tests::zookeeper::ZooKeeper;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hadoop_fs_works_on_alluxio_paths_through_lode_and_across_a_leader_kill() {
    let zookeeper = ZooKeeper::standalone();
    let ufs = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ufs.path().join("data")).unwrap();
    std::fs::write(ufs.path().join("data/x.csv"), b"id,name\n1,lode\n").unwrap();
    let election =
        Election::ZooKeeper { address: zookeeper.connect_string(), session_timeout: "3s".into() };
    let site =
        [("alluxio.master.mount.table.root.ufs".to_string(), ufs.path().display().to_string())];
    let mut cluster = Cluster::start_on(2, election, &site, HELPER);
    cluster.start_worker();
    let leader = cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    let hadoop = AlluxioClient::new(&[]);

    let direct = format!("alluxio://{}", cluster.masters[leader].0);
    let out = hadoop.hadoop_fs(&["-ls", "-R", &format!("{direct}/")]).expect_ok("-ls -R");
    assert!(out.contains(&format!("{direct}/data/x.csv")), "{out}");
    let cat = hadoop.hadoop_fs(&["-cat", &format!("{direct}/data/x.csv")]);
    assert_eq!(cat.expect_bytes("-cat"), b"id,name\n1,lode\n");

    let ha = format!("alluxio://zk@{}", zookeeper.connect_string());
    let local = tempfile::tempdir().unwrap();
    let source = local.path().join("part.txt");
    std::fs::write(&source, b"written through hadoop fs\n").unwrap();
    hadoop.hadoop_fs(&["-mkdir", "-p", &format!("{ha}/out/deep")]).expect_ok("-mkdir -p");
    let put = [&source.display().to_string(), &format!("{ha}/out/deep/part.txt")];
    hadoop.hadoop_fs(&["-put", put[0], put[1]]).expect_ok("-put");
    let moved = format!("{ha}/out/deep/moved.txt");
    hadoop.hadoop_fs(&["-mv", &format!("{ha}/out/deep/part.txt"), &moved]).expect_ok("-mv");
    // `-put` writes `part.txt._COPYING_` and renames it: a persist of it that finished before
    // the rename leaves a copy under the old name, which a metadata load may show for a moment;
    // the leader deletes it (and forgets it) once the worker reports it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = hadoop.hadoop_fs(&["-du", "-s", &format!("{ha}/out")]).expect_ok("-du -s");
        if out.starts_with("26 ") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "a stale copy stays: {out}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let stale = ufs.path().join("out/deep/part.txt._COPYING_");
    while stale.exists() {
        assert!(std::time::Instant::now() < deadline, "the stale copy stays in the UFS");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    cluster.kill(leader);
    cluster.leader(Some(leader)).await;
    let cat = hadoop.hadoop_fs(&["-cat", &moved]);
    assert_eq!(
        cat.expect_bytes("-cat after kill -9 of the leader"),
        b"written through hadoop fs\n"
    );
    hadoop.hadoop_fs(&["-rm", &moved]).expect_ok("-rm");
    let out = hadoop.hadoop_fs(&["-ls", "-R", &format!("{ha}/out")]).expect_ok("-ls -R");
    assert!(out.contains("/out/deep") && !out.contains("moved.txt"), "{out}");
    let out = hadoop.hadoop_fs(&["-ls", &format!("{ha}/missing")]).expect_failure("-ls of nothing");
    assert!(out.contains("No such file or directory") || out.contains("does not exist"), "{out}");
}
