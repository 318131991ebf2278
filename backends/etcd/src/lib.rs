//! The `etcd` leader elector (DESIGN §4), selected by `alluxio.master.election.type=etcd`.
//!
//! Each master grants itself a lease of `alluxio.etcd.lease.ttl` and campaigns with etcd v3's
//! election API under `alluxio.etcd.election.prefix`, its `host:port` as the value: the key
//! with the oldest create revision leads, and that revision is the term. Lode keeps the lease
//! alive itself, every third of the TTL, and after each renewal the leader checks that its key
//! still leads. A renewal counts from when it was *sent*, and keeps the leader valid for half
//! the TTL: etcd cannot expire the lease, and so cannot elect anyone else, before a whole TTL
//! after it received it. A failed keep-alive puts the leadership in doubt at once; nothing
//! renewed for a whole TTL, an expired lease or a deleted key ends it.
//!
//! Discovery (standbys, workers, clients) follows `Observe` for each new leader and a watch on
//! the leader's key for its deletion. Requests are spread over every endpoint in
//! `alluxio.etcd.endpoints` and retried, so losing one etcd member changes nothing.

mod elector;
mod lease;
mod settings;

pub use elector::EtcdElector;
pub use settings::Settings;

use std::sync::Arc;

use lode_core::config::Config;
use lode_core::elector::{LeaderElector, LeaderElectorBackend};

inventory::submit! {
    LeaderElectorBackend {
        name: "etcd",
        description: "etcd v3's election API on a lease Lode keeps alive; the leader's host:port \
                      as the election value, discovery by observe",
        open: |config: &Config| {
            let settings = Settings::from_config(config)?;
            Ok(Arc::new(EtcdElector::new(settings)) as Arc<dyn LeaderElector>)
        },
    }
}
