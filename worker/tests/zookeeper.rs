//! A worker configured with nothing but ZooKeeper's address follows the leading master as it
//! changes, by watch.

use std::time::Duration;

use lode_core::config::Config;
use lode_core::elector::{self, Member};
use lode_tests::isolated_command;
use lode_tests::process::Proc;
use lode_tests::zookeeper::ZooKeeper;

// Links the worker's backends (the zookeeper elector) into this test.
use lode_worker as _;

/// Each new leader ZooKeeper names shows up in the worker's log, the old one replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_follows_each_new_leader() {
    let zookeeper = ZooKeeper::standalone();
    let address = zookeeper.connect_string();
    let config = Config::from_pairs([
        ("alluxio.zookeeper.enabled", "true"),
        ("alluxio.zookeeper.address", address.as_str()),
    ])
    .unwrap();
    let first = elector::open(&config).unwrap();
    let member =
        |port: u16| Member { id: format!("m{port}"), address: format!("127.0.0.1:{port}") };
    let leadership = first.campaign(&member(41001)).await.unwrap();

    let tier = tempfile::tempdir().unwrap();
    let mut command = isolated_command(env!("CARGO_BIN_EXE_lode-worker"));
    command
        .arg("-Dalluxio.zookeeper.enabled=true")
        .arg(format!("-Dalluxio.zookeeper.address={address}"))
        .arg("-Dalluxio.worker.rpc.port=0")
        .arg("-Dalluxio.worker.web.port=0")
        .arg("-Dalluxio.worker.bind.host=127.0.0.1")
        .arg(format!("-Dalluxio.worker.tieredstore.level0.dirs.path={}", tier.path().display()));
    let mut worker = Proc::start(command, true);
    let limit = Duration::from_secs(60);
    assert!(worker.wait_for_text("leader=127.0.0.1:41001", limit).is_some(), "{:?}", worker.seen);

    first.resign(&leadership).await.unwrap();
    let second = elector::open(&config).unwrap();
    let _leadership = second.campaign(&member(41002)).await.unwrap();
    assert!(worker.wait_for_text("leader=127.0.0.1:41002", limit).is_some(), "{:?}", worker.seen);
}
