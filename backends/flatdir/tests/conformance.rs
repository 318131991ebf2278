//! The `JournalStore` and journal protocol conformance suites on the `flatdir` store, as any
//! backend crate runs them: a fixture that returns a fresh, empty store, and two macros.

use std::sync::Arc;

use lode_backend_flatdir::FlatDirStore;
use lode_core::config::Config;
use lode_core::testkit::Fixture;

/// A fresh store in a new temporary directory, removed when the test ends.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let store = Arc::new(FlatDirStore::new(dir.path().join("journal")));
    Fixture { store, guard: Box::new(dir) }
}

lode_core::journal_store_conformance!(fixture);
lode_core::journal_protocol_conformance!(fixture);

/// The registration serves `flatdir://` journal folders, and a relative one is refused naming
/// the key.
#[test]
fn flatdir_folders_open_through_the_registry() {
    let open = |folder: &str| {
        let config = Config::from_pairs([("alluxio.master.journal.folder", folder)]).unwrap();
        lode_core::store::open(&config)
    };
    let store = open("flatdir:///var/lib/lode/journal").expect("the flatdir store opens");
    assert_eq!(store.location(), "flatdir:///var/lib/lode/journal");
    let error = open("flatdir://relative/journal").unwrap_err().to_string();
    assert!(error.contains("alluxio.master.journal.folder=flatdir://relative/journal"), "{error}");
}
