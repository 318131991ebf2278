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
    shutdown.await;
}
