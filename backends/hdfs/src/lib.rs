//! The `hdfs` journal store (DESIGN §2): `hdfs://` journal folders on a real HDFS, through
//! [`hdfs_native`] (no JVM on the Lode side).
//!
//! Exclusive create: write the object to a temporary file under `<folder>/.tmp/`, `hsync` and
//! close it, then `rename(tmp, key, overwrite = false)`. The NameNode renames atomically and
//! refuses an existing target, so exactly one of any number of writers wins and a reader sees
//! nothing or the whole object. A writer killed mid-put leaves only a temporary file, which
//! `clean_temporary` removes later.
//!
//! The folder may name one NameNode (`hdfs://nn:8020/alluxio/journal`) or an HA nameservice
//! (`hdfs://mycluster/alluxio/journal`) described by the Hadoop files that
//! `alluxio.underfs.hdfs.configuration` lists, as in Alluxio.

mod settings;
mod store;

pub use settings::Settings;
pub use store::HdfsStore;

use std::sync::Arc;

use lode_core::config::Config;
use lode_core::store::{JournalLocation, JournalStore, JournalStoreBackend};

inventory::submit! {
    JournalStoreBackend {
        name: "hdfs",
        schemes: &["hdfs"],
        description: "a folder on HDFS through hdfs-native (temp file + hsync + rename without \
                      overwrite)",
        open: |location: &JournalLocation, config: &Config| {
            let settings = Settings::from_config(&location.uri, config)?;
            Ok(Arc::new(HdfsStore::new(settings)?) as Arc<dyn JournalStore>)
        },
    }
}
