//! A real compute engine against Lode: Spark (PySpark, local mode) with Alluxio 2.9.6's shaded
//! client jar and nothing else from Alluxio reads a CSV data set another tool put in the UFS
//! through `alluxio://`, writes its result back as Parquet, and the result reaches the UFS —
//! with the leader master killed in the middle of the job.

use std::time::{Duration, Instant};

use lode_tests::cluster::{Cluster, Election};
use lode_tests::spark::{write_sales, SparkJob};

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// A Spark job over `alluxio://` finishes with the right totals, read back through Lode and
/// straight from the UFS, though the leader was killed (kill -9) between reading the input and
/// writing the output; Spark's committer leaves nothing behind in the UFS (no `_temporary`, no
/// half-written copies).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spark_job_reads_ufs_data_and_writes_back_through_lode_across_a_leader_kill() {
    let ufs = tempfile::tempdir().unwrap();
    let expected = write_sales(&ufs.path().join("sales"), 4, 5_000);
    let site = [
        ("alluxio.master.mount.table.root.ufs".to_string(), ufs.path().display().to_string()),
        ("alluxio.master.worker.connect.wait.time".to_string(), "1s".to_string()),
    ];
    let election = Election::Embedded { lease_timeout: "2s".into() };
    let mut cluster = Cluster::start_on(3, election, &site, HELPER);
    cluster.start_worker();
    let leader = cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    let addresses =
        cluster.client_config().string("alluxio.master.rpc.addresses").unwrap().to_string();

    let pause = tempfile::tempdir().unwrap();
    let pause_file = pause.path().join("go");
    let job = SparkJob {
        input: "alluxio:///sales".into(),
        output: "alluxio:///totals".into(),
        ufs_output: Some(ufs.path().join("totals")),
        pause_file: Some(pause_file.clone()),
        defines: vec![("alluxio.master.rpc.addresses".into(), addresses)],
    };
    let mut running = job.start();
    let read = running.wait_for_line("READ");
    assert_eq!(read, "READ 20000", "the job read other rows than the UFS holds");
    cluster.kill(leader);
    std::fs::write(&pause_file, b"").unwrap();
    let report = running.finish();
    assert_ne!(cluster.leader(None).await, leader);

    assert_eq!(report.through_alluxio, expected, "totals read back through alluxio://");
    assert_eq!(report.in_ufs, expected, "totals read straight from the UFS");
    let names: Vec<&str> = report.files.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.contains(&"_SUCCESS"), "{names:?}");
    assert!(names.iter().any(|name| name.ends_with(".parquet")), "{names:?}");
    // What the committer left in Lode: no `_temporary`, no task attempt's copy.
    let others: Vec<&&str> =
        names.iter().filter(|name| **name != "_SUCCESS" && !name.ends_with(".parquet")).collect();
    assert!(others.is_empty(), "the output folder holds {others:?} too");
    // Spark deletes `_temporary` once it commits; copies persisted under a task's temporary
    // name are deleted by the leader once the worker reports them.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut left: Vec<String> = std::fs::read_dir(ufs.path().join("totals"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !names.contains(&name.as_str()))
            .collect();
        if left.is_empty() {
            break;
        }
        left.sort();
        assert!(Instant::now() < deadline, "left behind in the UFS: {left:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
