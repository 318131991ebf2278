//! Lode's worker. This first cut loads configuration and reports how it will find the leading
//! master; block caching and the data path build on this.
#![warn(missing_docs)]

mod backends;

use std::future::Future;

use lode_core::config::{name, Config};

/// How a worker or client finds the leading master, as the configuration says.
pub fn master_discovery(config: &Config) -> String {
    if config.bool(name::ZOOKEEPER_ENABLED) {
        format!(
            "ZooKeeper {} (leader path {})",
            config.string(name::ZOOKEEPER_ADDRESS).unwrap_or("(alluxio.zookeeper.address unset)"),
            config.string(name::ZOOKEEPER_LEADER_PATH).unwrap_or_default()
        )
    } else {
        format!("any of {}", config.master_rpc_addresses().join(", "))
    }
}

/// Runs a worker until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) {
    tracing::info!(
        hostname = config.string(name::WORKER_HOSTNAME).unwrap_or_default(),
        rpc_port = config.int(name::WORKER_RPC_PORT).unwrap_or_default(),
        masters = %master_discovery(&config),
        "worker configured"
    );
    let follower = follow_leader(&config);
    shutdown.await;
    if let Some(follower) = follower {
        follower.abort();
    }
}

/// Follows the leading master through the elector's watch (ZooKeeper, or the embedded
/// elector when no master addresses are listed), logging each change as it happens: the hook
/// registration with the leader hangs on. `None` without an elector to ask.
fn follow_leader(config: &Config) -> Option<tokio::task::JoinHandle<()>> {
    let listed = !config.list(name::MASTER_RPC_ADDRESSES).is_empty();
    if listed && !config.bool(name::ZOOKEEPER_ENABLED) {
        return None;
    }
    let elector = match lode_core::elector::open(config) {
        Ok(elector) => elector,
        Err(error) => {
            tracing::warn!(%error, "cannot follow the leading master");
            return None;
        }
    };
    let mut leader = elector.watch_leader();
    Some(tokio::spawn(async move {
        let _elector = elector; // Keeps the elector's sessions alive while following.
        loop {
            match leader.borrow_and_update().as_ref() {
                Some(member) => tracing::info!(leader = %member.address, "leading master"),
                None => tracing::info!("no leading master known"),
            }
            if leader.changed().await.is_err() {
                return;
            }
        }
    }))
}
