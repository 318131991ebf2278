//! Lode's master. This first cut loads configuration and opens the backends it selects (the
//! journal store from `alluxio.master.journal.folder`, the elector from
//! `alluxio.zookeeper.enabled` / `alluxio.master.election.type`), refusing bad selections with
//! an error that names what is registered. The journaled namespace builds on this.
#![warn(missing_docs)]

pub mod namespace;

use std::future::Future;
use std::sync::Arc;

use lode_core::config::{name, Config};
use lode_core::elector::{self, ElectorError, LeaderElector};
use lode_core::store::{self, JournalStore, StoreError};

/// Why a master cannot start.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// The journal store cannot be opened as configured.
    #[error("journal store: {0}")]
    Store(#[from] StoreError),
    /// The elector cannot be opened as configured.
    #[error("leader elector: {0}")]
    Elector(#[from] ElectorError),
}

/// The backends a master runs on.
#[derive(Debug)]
pub struct Backends {
    /// Where the journal lives.
    pub store: Arc<dyn JournalStore>,
    /// How the leader is chosen.
    pub elector: Arc<dyn LeaderElector>,
    /// The elector's registered name.
    pub elector_name: String,
}

/// Opens the journal store and elector the configuration selects (no I/O yet).
pub fn open_backends(config: &Config) -> Result<Backends, MasterError> {
    Ok(Backends {
        store: store::open(config)?,
        elector: elector::open(config)?,
        elector_name: elector::selected_name(config),
    })
}

/// Runs a master until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), MasterError> {
    let backends = open_backends(&config)?;
    tracing::info!(
        journal = %backends.store.location(),
        elector = %backends.elector_name,
        hostname = config.string(name::MASTER_HOSTNAME).unwrap_or_default(),
        rpc_port = config.int(name::MASTER_RPC_PORT).unwrap_or_default(),
        "master configured"
    );
    shutdown.await;
    Ok(())
}
