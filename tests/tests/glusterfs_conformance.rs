//! The `JournalStore` and journal protocol conformance suites on the `glusterfs` store,
//! unchanged, on a real GlusterFS volume mounted with FUSE.

use lode_backend_glusterfs as _;
use lode_core::config::{name, Config};
use lode_core::testkit::Fixture;
use lode_tests::glusterfs::GlusterFs;

/// A fresh journal folder on the process's shared volume.
async fn glusterfs_fixture() -> Fixture {
    let gluster = tokio::task::block_in_place(GlusterFs::shared);
    let config =
        Config::from_pairs([(name::MASTER_JOURNAL_FOLDER, gluster.new_folder("conformance"))])
            .unwrap();
    let store = lode_core::store::open(&config).expect("opening the glusterfs store");
    Fixture { store, guard: Box::new(()) }
}

lode_core::journal_store_conformance!(glusterfs_fixture);
lode_core::journal_protocol_conformance!(glusterfs_fixture);
