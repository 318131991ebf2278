//! The `JournalStore` and journal protocol conformance suites on the `s3` store, unchanged,
//! against a real S3-compatible server (moto).

use lode_backend_s3 as _;
use lode_core::config::Config;
use lode_core::testkit::Fixture;
use lode_tests::s3::S3Server;

/// A fresh journal folder in the process's shared S3 server.
async fn s3_fixture() -> Fixture {
    let server = tokio::task::block_in_place(S3Server::shared);
    let properties = server.journal_properties(&server.new_folder("conformance"));
    let config = Config::from_pairs(properties).unwrap();
    let store = lode_core::store::open(&config).expect("opening the s3 store");
    Fixture { store, guard: Box::new(()) }
}

lode_core::journal_store_conformance!(s3_fixture);
lode_core::journal_protocol_conformance!(s3_fixture);
