//! The `s3` journal store (DESIGN §2): `s3://bucket/prefix` journal folders on Amazon S3 or an
//! S3-compatible server, through [OpenDAL](https://opendal.apache.org)'s `services-s3`.
//!
//! Exclusive create: `PutObject` with `If-None-Match: *`. S3 stores an object whole or not at
//! all and answers `412 Precondition Failed` to every writer but the first, so exactly one of
//! any number of racing writers wins and there are no temporary objects to clean.
//!
//! Settings are Alluxio's: `s3a.accessKeyId`/`s3a.secretKey` (or the older `aws.*` names, or
//! the usual `AWS_*` environment variables), `alluxio.underfs.s3.endpoint`,
//! `alluxio.underfs.s3.region` and `alluxio.underfs.s3.disable.dns.buckets` (path-style
//! requests).

mod settings;
mod store;

pub use settings::Settings;
pub use store::S3Store;

use std::sync::Arc;

use lode_core::config::Config;
use lode_core::store::{JournalLocation, JournalStore, JournalStoreBackend};

inventory::submit! {
    JournalStoreBackend {
        name: "s3",
        schemes: &["s3", "s3a"],
        description: "a prefix in an S3 bucket through OpenDAL (PutObject with If-None-Match: *)",
        open: |location: &JournalLocation, config: &Config| {
            let settings = Settings::from_config(&location.uri, config)?;
            Ok(Arc::new(S3Store::new(settings)?) as Arc<dyn JournalStore>)
        },
    }
}
