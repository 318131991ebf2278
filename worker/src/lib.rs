//! Lode's worker: caches file blocks in a memory tier ([`store`]), serves them over Alluxio's
//! `BlockWorker` protocol, and registers with the leading master, following it through failovers
//! (DESIGN §5).
#![warn(missing_docs)]

mod backends;
mod master_link;
mod persist;
mod service;
pub mod store;
mod streams;
mod ufs;
mod web;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lode_core::config::{name, Config};
use lode_core::rpc::alluxio::grpc::block::block_worker_server::BlockWorkerServer;
use lode_core::rpc::alluxio::grpc::WorkerNetAddress;
use lode_core::rpc::leader::LeaderFinder;

use crate::service::BlockService;
use crate::store::{BlockStore, StoreError, Tier};

/// HTTP/2 flow-control window per stream: several chunks in flight on a block stream.
const WINDOW: u32 = 8 << 20;
/// The largest HTTP/2 frame a worker accepts (the protocol's maximum is 16 MiB - 1).
const MAX_FRAME: u32 = 1 << 20;
/// The largest message a worker accepts: a chunk of a block and its framing.
const MAX_MESSAGE: usize = 16 << 20;

/// Why a worker cannot start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The memory tier cannot be used.
    #[error("memory tier: {0}")]
    Store(#[from] StoreError),
    /// The RPC port cannot be bound.
    #[error(
        "cannot listen on {address} (alluxio.worker.bind.host, alluxio.worker.rpc.port): {error}"
    )]
    Bind {
        /// The address.
        address: String,
        /// The OS error.
        error: String,
    },
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
    /// The configuration says no way to find the masters.
    #[error("finding the masters: {0}")]
    Discovery(String),
    /// The web UI's port cannot be bound.
    #[error("{0}")]
    Web(String),
    /// The RPC server failed.
    #[error("the RPC server failed: {0}")]
    Server(String),
}

/// How a worker or client finds the leading master, as the configuration says.
pub fn master_discovery(config: &Config) -> String {
    if config.bool(name::ZOOKEEPER_ENABLED) {
        format!(
            "ZooKeeper {} (leader path {})",
            config.string(name::ZOOKEEPER_ADDRESS).unwrap_or("(alluxio.zookeeper.address unset)"),
            config.string(name::ZOOKEEPER_LEADER_PATH).unwrap_or_default()
        )
    } else if lode_core::elector::is_service(config) {
        format!("the {} election service", lode_core::elector::selected_name(config))
    } else {
        format!("any of {}", config.master_rpc_addresses().join(", "))
    }
}

/// The tiers the configuration asks for: memory (`alluxio.worker.ramdisk.size` in
/// `alluxio.worker.tieredstore.level0.dirs.path`), then with two levels a disk tier; each in a
/// `lodeworker-<port>` folder so that workers on one host keep apart.
fn tiers(config: &Config, port: u16) -> Result<Vec<Tier>, WorkerError> {
    let folder = |root: &str| Path::new(root).join(format!("lodeworker-{port}"));
    let memory = config.string(name::WORKER_TIEREDSTORE_LEVEL0_DIRS_PATH).unwrap_or("/dev/shm");
    let mut tiers = vec![Tier {
        alias: "MEM".into(),
        dir: folder(memory),
        capacity: config.size(name::WORKER_RAMDISK_SIZE).unwrap_or(1 << 30),
    }];
    match config.int(name::WORKER_TIEREDSTORE_LEVELS).unwrap_or(1) {
        1 => {}
        2 => {
            let path = config
                .require(name::WORKER_TIEREDSTORE_LEVEL1_DIRS_PATH, "two tiers need a disk folder")
                .map_err(|e| WorkerError::Config(e.to_string()))?;
            let capacity =
                config.size(name::WORKER_TIEREDSTORE_LEVEL1_DIRS_QUOTA).ok_or_else(|| {
                    WorkerError::Config(format!(
                        "{} is unset: two tiers need the disk tier's capacity",
                        name::WORKER_TIEREDSTORE_LEVEL1_DIRS_QUOTA
                    ))
                })?;
            let alias = config.string(name::WORKER_TIEREDSTORE_LEVEL1_ALIAS).unwrap_or("SSD");
            tiers.push(Tier { alias: alias.to_string(), dir: folder(path), capacity });
        }
        other => {
            return Err(WorkerError::Config(format!(
                "{}={other}: Lode workers have 1 tier (memory) or 2 (memory and disk)",
                name::WORKER_TIEREDSTORE_LEVELS
            )))
        }
    }
    Ok(tiers)
}

/// Runs a worker until `shutdown` resolves: binds its port, opens its tiers (see [`tiers`]),
/// registers with the leader and serves blocks.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let bind = format!(
        "{}:{}",
        config.string(name::WORKER_BIND_HOST).unwrap_or("0.0.0.0"),
        config.int(name::WORKER_RPC_PORT).unwrap_or(29999)
    );
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| WorkerError::Bind { address: bind.clone(), error: e.to_string() })?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let host = config.string(name::WORKER_HOSTNAME).unwrap_or("localhost").to_string();
    let store = Arc::new(BlockStore::open(tiers(&config, port)?)?);
    let finder = LeaderFinder::from_config(&config).map_err(WorkerError::Discovery)?;
    let web_host = config.string(name::WORKER_WEB_BIND_HOST).unwrap_or("0.0.0.0");
    let web_port = config.int(name::WORKER_WEB_PORT).unwrap_or(30000) as u16;
    let web_listener = lode_core::web::bind(web_host, web_port, name::WORKER_WEB_PORT)
        .await
        .map_err(WorkerError::Web)?;
    let address = WorkerNetAddress {
        host: Some(host.clone()),
        rpc_port: Some(i32::from(port)),
        data_port: Some(i32::from(port)),
        web_port: Some(i32::from(lode_core::web::local_port(&web_listener))),
        domain_socket_path: Some(String::new()),
        tiered_identity: Some(lode_core::rpc::tiered_identity(&host)),
    };
    let heartbeat =
        config.duration(name::WORKER_BLOCK_HEARTBEAT_INTERVAL).unwrap_or(Duration::from_secs(1));
    let ufses = Arc::new(ufs::WorkerUfses::new(config.clone()));
    let persister = persist::Persister::new(store.clone(), ufses.clone());
    let link = master_link::start(finder, address, store.clone(), persister, heartbeat);
    lode_core::web::metrics();
    lode_core::web::serve(
        web_listener,
        web::router(format!("{host}:{port}"), store.clone(), link.clone()),
    );
    tracing::info!(
        address = %format!("{host}:{port}"),
        tiers = %store
            .tiers()
            .iter()
            .map(|t| format!("{} {} ({} bytes)", t.alias, t.dir.display(), t.capacity))
            .collect::<Vec<_>>()
            .join(", "),
        capacity = store.capacity(),
        cached = store.report().len(),
        masters = %master_discovery(&config),
        "worker serving"
    );
    let follower = follow_leader(&config);
    let max_connections =
        lode_core::rpc::connection_cap(config.int(name::WORKER_NETWORK_MAX_CONNECTIONS));
    let service = BlockService::new(store, link, ufses);
    let tonic = BlockWorkerServer::new(service.clone())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let service = streams::BlockWorkerService::new(service, tonic);
    let max_streams =
        lode_core::rpc::stream_cap(config.int(name::WORKER_NETWORK_MAX_CONCURRENT_STREAMS));
    let server = tonic::transport::Server::builder()
        .max_concurrent_streams(max_streams)
        .initial_stream_window_size(WINDOW)
        .initial_connection_window_size(2 * WINDOW)
        // Clients may send a block's chunks in large frames rather than HTTP/2's default 16 KiB.
        .max_frame_size(MAX_FRAME)
        .add_service(service)
        // Stock Alluxio clients authenticate every channel before reading or writing blocks.
        .add_service(lode_core::rpc::sasl::AuthenticatedChannels::new().service());
    // Without TCP_NODELAY, HTTP/2 window updates wait on delayed ACKs and uploads crawl.
    let incoming = lode_core::rpc::limit_connections(
        tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
        max_connections,
        name::WORKER_NETWORK_MAX_CONNECTIONS,
    );
    let grace = config.duration(name::NETWORK_CONNECTION_SERVER_SHUTDOWN_TIMEOUT);
    let served = lode_core::rpc::serve_with_bounded_shutdown(
        |signal| server.serve_with_incoming_shutdown(incoming, signal),
        shutdown,
        grace.unwrap_or(Duration::from_secs(60)),
        "worker",
    )
    .await;
    if let Some(follower) = follower {
        follower.abort();
    }
    served.map_err(|e| WorkerError::Server(e.to_string()))
}

/// Follows the leading master through the elector's watch (an election service, or the
/// embedded elector when no master addresses are listed), logging each change as it happens: the hook
/// registration with the leader hangs on. `None` without an elector to ask.
fn follow_leader(config: &Config) -> Option<tokio::task::JoinHandle<()>> {
    let listed = !config.list(name::MASTER_RPC_ADDRESSES).is_empty();
    if listed && !lode_core::elector::is_service(config) {
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
