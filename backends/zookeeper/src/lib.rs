//! The `zookeeper` leader elector (DESIGN §4), selected by `alluxio.zookeeper.enabled=true`.
//!
//! Layout, as Alluxio's:
//! - `alluxio.zookeeper.election.path` holds a Curator-compatible latch: every master creates an
//!   ephemeral sequential `_c_<uuid>-lock-<seq>` node, and the lowest sequence leads. The
//!   sequence number is the term.
//! - `alluxio.zookeeper.leader.path/<host:port>` is an ephemeral node the leader creates once it
//!   holds the latch; anyone finds the leader as the newest child there, and watches it.
//!
//! Session handling: `Disconnected` puts a leadership in doubt at once (the master stops serving);
//! it is confirmed again only if the same session reconnects and still owns its latch node, and
//! `Expired` ends it. Between confirmations the leader's lease is half the session timeout
//! (the one the server negotiated, when its `maxSessionTimeout` cut the requested one), counted
//! from when the last confirmation was *sent*: ZooKeeper cannot expire the session, and
//! so cannot elect anyone else, before the session timeout has passed since then.

mod elector;
mod settings;

pub use elector::ZooKeeperElector;
pub use settings::Settings;

use std::sync::Arc;

use lode_core::config::Config;
use lode_core::elector::{LeaderElector, LeaderElectorBackend};

inventory::submit! {
    LeaderElectorBackend {
        name: "zookeeper",
        description: "a Curator-compatible latch on a ZooKeeper ensemble; the leader's host:port \
                      under alluxio.zookeeper.leader.path, as Alluxio does",
        open: |config: &Config| {
            let settings = Settings::from_config(config)?;
            Ok(Arc::new(ZooKeeperElector::new(settings)) as Arc<dyn LeaderElector>)
        },
    }
}
