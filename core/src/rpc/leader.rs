//! Finding the leading master, shared by clients and workers: the election service names it
//! (ZooKeeper, etcd, or the embedded elector on the masters' host), else `alluxio.master.rpc.addresses`
//! are tried in turn and a standby's "the leader is X" is followed.

use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::config::{name, Config};
use crate::elector::{self, LeaderElector};
use crate::rpc::alluxio::grpc::version::service_version_client_service_client::ServiceVersionClientServiceClient;
use crate::rpc::alluxio::grpc::version::{GetServiceVersionPRequest, ServiceType};

/// How often an idle or busy connection is pinged.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a ping may go unanswered before the connection is dropped.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);
/// HTTP/2 flow-control window per stream, so block streams keep several chunks in flight.
const STREAM_WINDOW: u32 = 8 << 20;
/// The longest one call may take before it is abandoned and retried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where to look for the leader.
#[derive(Clone)]
pub struct LeaderFinder {
    masters: Vec<String>,
    elector: Option<Arc<dyn LeaderElector>>,
}

impl std::fmt::Debug for LeaderFinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderFinder").field("masters", &self.masters).finish()
    }
}

impl LeaderFinder {
    /// From configuration. With an election service (ZooKeeper, etcd), it alone says who leads
    /// (Alluxio's rule: clients and workers need only its address); without one and without a
    /// list of masters, the elector knows (the embedded one, from its directory on this host).
    pub fn from_config(config: &Config) -> Result<LeaderFinder, String> {
        let service = elector::is_service(config);
        let listed = !config.list(name::MASTER_RPC_ADDRESSES).is_empty();
        let elector = if service {
            Some(elector::open(config).map_err(|e| e.to_string())?)
        } else if listed {
            None
        } else {
            elector::open(config).ok()
        };
        let masters = if service && !listed { Vec::new() } else { config.master_rpc_addresses() };
        Ok(LeaderFinder { masters, elector })
    }

    /// The masters tried besides the elector's answer.
    pub fn masters(&self) -> &[String] {
        &self.masters
    }

    /// The elector asked first, if any.
    pub fn elector(&self) -> Option<&Arc<dyn LeaderElector>> {
        self.elector.as_ref()
    }

    /// What is tried, for messages.
    pub fn describe(&self) -> String {
        match (&self.elector, self.masters.is_empty()) {
            (Some(_), true) => "the leader the election service names".into(),
            _ => self.masters.join(", "),
        }
    }

    /// A channel to `address` that notices a paused or partitioned peer within seconds.
    pub async fn connect(address: &str) -> Result<Channel, String> {
        Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| format!("{address}: {e}"))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(2 * STREAM_WINDOW)
            // A paused or partitioned master never answers: HTTP/2 pings notice within seconds
            // and fail the call, so the caller's retry moves on to the new leader.
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .timeout(REQUEST_TIMEOUT)
            .connect()
            .await
            .map_err(|e| format!("{address}: {e}"))
    }

    /// Finds the leader: the master whose version check succeeds without the standby flag.
    /// The error lists what each candidate said.
    pub async fn find(&self) -> Result<(String, Channel), String> {
        let mut errors = Vec::new();
        let mut candidates = self.masters.clone();
        if let Some(elector) = &self.elector {
            match elector.leader().await {
                Ok(Some(leader)) => candidates.insert(0, leader.address),
                Ok(None) => errors.push("the elector knows no leader".to_string()),
                Err(e) => errors.push(e.to_string()),
            }
        }
        let mut tried = 0;
        while tried < candidates.len() {
            let address = candidates[tried].clone();
            tried += 1;
            let channel = match Self::connect(&address).await {
                Ok(channel) => channel,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let request = GetServiceVersionPRequest {
                service_type: Some(ServiceType::FileSystemMasterClientService as i32),
                allowed_on_standby_masters: Some(false),
            };
            match ServiceVersionClientServiceClient::new(channel.clone())
                .get_service_version(request)
                .await
            {
                Ok(_) => return Ok((address, channel)),
                Err(status) => {
                    // A standby may name the leader: try it next.
                    if let Some(leader) = status.message().split("the leader is ").nth(1) {
                        let leader = leader.trim().to_string();
                        if !candidates.contains(&leader) {
                            candidates.push(leader);
                        }
                    }
                    errors.push(format!("{address}: {}", status.message()));
                }
            }
        }
        Err(errors.join("; "))
    }
}
