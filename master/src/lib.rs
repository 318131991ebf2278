//! Lode's master: the journaled namespace and the leader/standby life cycle. The journal store
//! comes from `alluxio.master.journal.folder`, the elector from `alluxio.zookeeper.enabled` /
//! `alluxio.master.election.type`; a bad selection is refused with an error that names what is
//! registered.
#![warn(missing_docs)]

mod backends;

pub mod blocks;
pub mod namespace;
mod node;
pub mod persist;
pub mod rpc;
pub mod ufs;
mod web;

use std::future::Future;
use std::sync::Arc;

use lode_core::config::Config;
use lode_core::elector::{self, ElectorError, LeaderElector};
use lode_core::journal::JournalError;
use lode_core::store::{self, JournalStore, StoreError};
pub use node::{start, MasterNode, Role, RunningMaster, ServeError};

/// Why a master cannot start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// The journal store cannot be opened as configured.
    #[error("journal store: {0}")]
    Store(#[from] StoreError),
    /// The elector cannot be opened as configured.
    #[error("leader elector: {0}")]
    Elector(#[from] ElectorError),
    /// The journal is unusable (corrupt object, wrong format): refusing to serve a partial state.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// Leadership was lost and `alluxio.master.journal.exit.on.demotion` is set.
    #[error(
        "lost leadership of term {term}; exiting as alluxio.master.journal.exit.on.demotion asks"
    )]
    Demoted {
        /// The term that ended.
        term: u64,
    },
    /// The RPC port cannot be bound.
    #[error(
        "cannot listen on {address} (alluxio.master.bind.host, alluxio.master.rpc.port): {error}"
    )]
    Bind {
        /// The address.
        address: String,
        /// The OS error.
        error: String,
    },
    /// The web UI's port cannot be bound.
    #[error("{0}")]
    Web(String),
    /// The root under-file-system is configured with a URI or options it cannot use.
    #[error("root under-file-system (alluxio.master.mount.table.root.ufs): {0}")]
    Ufs(#[from] lode_ufs::UfsError),
    /// A property has a value the master cannot use.
    #[error("{key}: {message}")]
    Property {
        /// The property.
        key: &'static str,
        /// Its value and what is wrong with it.
        message: String,
    },
    /// The master's task failed unexpectedly.
    #[error("the master task failed: {0}")]
    Task(String),
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

/// Runs a master until `shutdown` resolves (a leader resigns first) or it must stop.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MasterError> {
    let running = start(config, shutdown).await?;
    running.task.await.map_err(|e| MasterError::Task(e.to_string()))?
}
