//! The `JournalStore`, journal protocol and `appendable` conformance suites on the `hdfs` store, unchanged,
//! against a real NameNode and DataNode.

use lode_backend_hdfs as _;
use lode_core::config::{name, Config};
use lode_core::testkit::Fixture;
use lode_tests::hdfs::Hdfs;

/// A fresh journal folder on the process's shared HDFS.
async fn hdfs_fixture() -> Fixture {
    let hdfs = tokio::task::block_in_place(Hdfs::shared);
    let folder = format!("{}/conformance/{}", hdfs.uri(), uuid::Uuid::new_v4());
    let config = Config::from_pairs([(name::MASTER_JOURNAL_FOLDER, folder)]).unwrap();
    let store = lode_core::store::open(&config).expect("opening the hdfs store");
    Fixture { store, guard: Box::new(()) }
}

lode_core::journal_store_conformance!(hdfs_fixture);
lode_core::journal_protocol_conformance!(hdfs_fixture);
lode_core::appendable_store_conformance!(hdfs_fixture);
