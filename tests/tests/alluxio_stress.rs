//! Alluxio's own `StressMasterBench` (the tool the side-by-side bench measures with) runs every
//! operation it is compared on against a Lode master without a single error. The bench
//! (`cargo bench -p lode-tests --bench alluxio`) reports the rates; this test checks only that
//! the operations succeed, so that the bench's figures are of work done.

use lode_tests::alluxio::{AlluxioClient, StressRun};
use lode_tests::cluster::Cluster;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// CreateFile, GetFileStatus, ListDir, RenameFile and DeleteFile, each on 8 threads, report no
/// errors and a positive rate, and the files they create end up in Lode's namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stress_master_bench_runs_every_compared_operation_against_lode() {
    let cluster = Cluster::start(2, "3s", HELPER);
    cluster.leader(None).await;
    let addresses: Vec<&str> = cluster.masters.iter().map(|(a, _)| a.as_str()).collect();
    let client = AlluxioClient::new(&[("alluxio.master.rpc.addresses", &addresses.join(","))]);
    let timed = StressRun::For { warmup: "1s".into(), duration: "2s".into() };
    let steps = [
        ("CreateFile", timed.clone()),
        ("GetFileStatus", timed.clone()),
        ("ListDir", timed),
        ("CreateFile", StressRun::Paths(500)),
        ("RenameFile", StressRun::Paths(400)),
        ("CreateFile", StressRun::Paths(500)),
        ("DeleteFile", StressRun::Paths(400)),
    ];
    for (operation, how_long) in steps {
        let result = client.stress_master_bench(operation, 8, &how_long);
        assert!(result.errors.is_empty(), "{operation} ({how_long:?}): {:?}", result.errors);
        assert!(result.throughput > 0.0, "{operation} ({how_long:?}) did nothing");
    }
    // DeleteFile removed 400 of the last 500 files (the first 100 live in the fixed folder).
    let out = client.fs(&["count", "/stress-master-base"]).expect_ok("count");
    let counts: Vec<u64> = out
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|field| field.parse().ok())
        .collect();
    assert_eq!(counts.first(), Some(&100), "files left after deleting 400 of 500: {out}");
}
