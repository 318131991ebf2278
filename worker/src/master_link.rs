//! The worker's side of Lode's worker protocol: find the leader, register with a full block
//! report, heartbeat with usage, carry out the master's removals and persist commands (see
//! [`crate::persist`]), and commit finished blocks.
//! A leader change seen through the elector's watch, a heartbeat answered "register", or a
//! failed call makes the worker register again at once with whoever leads now.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lode_core::elector::Member;
use lode_core::rpc::alluxio::grpc::WorkerNetAddress;
use lode_core::rpc::leader::LeaderFinder;
use lode_core::rpc::lode::worker::lode_block_master_worker_service_client::LodeBlockMasterWorkerServiceClient as MasterLinkClient;
use lode_core::rpc::lode::worker::{
    CommitBlockRequest, GetMountRequest, HeartbeatRequest, HeldBlock, RegisterWorkerRequest,
};
use tokio::sync::watch;
use tonic::transport::Channel;

use crate::persist::Persister;
use crate::store::BlockStore;

/// The longest pause between attempts to reach a leader.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// The current registration: with which leader, under which id.
#[derive(Debug, Clone)]
struct Registered {
    leader: String,
    worker_id: i64,
    channel: Channel,
}

/// A handle the block service uses to commit blocks; cheap to clone.
#[derive(Debug, Clone)]
pub struct MasterLink {
    registered: watch::Receiver<Option<Registered>>,
    reregister: Arc<tokio::sync::Notify>,
    store: Arc<BlockStore>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl MasterLink {
    /// The leader this worker is registered with and the id it was given, if registered.
    pub fn registered_with(&self) -> Option<(String, i64)> {
        self.registered.borrow().as_ref().map(|r| (r.leader.clone(), r.worker_id))
    }

    /// The URI and properties of the under-file-system mounted with id `mount_id`, as the
    /// leader says.
    pub async fn mount(
        &self,
        mount_id: i64,
    ) -> Result<(String, std::collections::BTreeMap<String, String>), String> {
        let current = self.registered.borrow().clone();
        let current = current.ok_or("the worker is not registered with a leading master yet")?;
        let response = MasterLinkClient::new(current.channel)
            .get_mount(GetMountRequest { mount_id })
            .await
            .map_err(|status| format!("{}: {}", current.leader, status.message()))?
            .into_inner();
        Ok((response.ufs_uri, response.mount_properties.into_iter().collect()))
    }

    /// Tells the leader that `block` (already in the store) is cached here. If the call fails,
    /// the worker registers again — its full report then carries the block — and that counts.
    pub async fn commit(&self, block: u64, length: u64) -> Result<(), String> {
        let committed = self.commit_read(block, length, String::new()).await;
        committed.map_err(|refused| refused.message().to_string())
    }

    /// [`Self::commit`] of a block read from its file's UFS, whose fingerprint the UFS gave as
    /// `ufs_fingerprint`: the master refuses it (FAILED_PRECONDITION) if the file changed
    /// outside Lode since.
    pub async fn commit_read(
        &self,
        block: u64,
        length: u64,
        ufs_fingerprint: String,
    ) -> Result<(), tonic::Status> {
        let mut registered = self.registered.clone();
        let current = registered.borrow_and_update().clone();
        if let Some(current) = current {
            let (used, used_sample) = self.store.usage();
            let request = CommitBlockRequest {
                worker_id: current.worker_id,
                block: Some(HeldBlock { block_id: block as i64, length: length as i64 }),
                used_bytes: used as i64,
                used_sample,
                ufs_fingerprint: ufs_fingerprint.clone(),
            };
            match MasterLinkClient::new(current.channel).commit_block(request).await {
                Ok(response) => {
                    if response.into_inner().persisted {
                        self.store.mark_persisted([block]);
                    }
                    return Ok(());
                }
                // The master will never take this block: its file is gone, it is too long, or
                // it was read from a UFS file that changed.
                Err(status)
                    if (status.code() == tonic::Code::NotFound
                        && status.message().contains("belongs to no file"))
                        || status.code() == tonic::Code::InvalidArgument
                        || status.code() == tonic::Code::FailedPrecondition =>
                {
                    return Err(status);
                }
                Err(status) => {
                    tracing::info!(block, error = %status.message(), "commit failed; registering again");
                    self.reregister.notify_one();
                }
            }
        }
        // Wait for a registration made after the block was cached: its report includes it.
        loop {
            registered
                .changed()
                .await
                .map_err(|_| tonic::Status::cancelled("the worker is stopping"))?;
            if registered.borrow().is_some() {
                return Ok(());
            }
        }
    }
}

/// Starts the link: the returned handle commits blocks; the task registers and heartbeats until
/// the process stops.
pub fn start(
    finder: LeaderFinder,
    address: WorkerNetAddress,
    store: Arc<BlockStore>,
    persister: Arc<Persister>,
    heartbeat: Duration,
) -> MasterLink {
    let (registered, receiver) = watch::channel(None);
    let reregister = Arc::new(tokio::sync::Notify::new());
    let link =
        MasterLink { registered: receiver, reregister: reregister.clone(), store: store.clone() };
    tokio::spawn(async move {
        let mut leader_watch = finder.elector().map(|e| e.watch_leader());
        let mut pause = Duration::from_millis(20);
        loop {
            let session = Session {
                finder: &finder,
                address: &address,
                store: &store,
                persister: &persister,
            };
            match session.register().await {
                Ok(current) => {
                    pause = Duration::from_millis(20);
                    tracing::info!(leader = %current.leader, worker_id = current.worker_id, "registered with the leading master");
                    registered.send_replace(Some(current.clone()));
                    let why = session
                        .heartbeat_until_change(&current, heartbeat, &mut leader_watch, &reregister)
                        .await;
                    tracing::info!(reason = %why, "registering again");
                    registered.send_replace(None);
                }
                Err(error) => {
                    tracing::debug!(%error, "no leader to register with yet");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
            }
        }
    });
    link
}

struct Session<'a> {
    finder: &'a LeaderFinder,
    address: &'a WorkerNetAddress,
    store: &'a BlockStore,
    persister: &'a Arc<Persister>,
}

impl Session<'_> {
    async fn register(&self) -> Result<Registered, String> {
        let (leader, channel) = self.finder.find().await?;
        // Forget earlier drops *before* taking the report: a block dropped in between is then
        // reported dropped again, which the master ignores, rather than reported held.
        self.store.take_dropped();
        let (used, used_sample) = self.store.usage();
        let request = RegisterWorkerRequest {
            used_sample,
            address: Some(self.address.clone()),
            capacity_bytes: self.store.capacity() as i64,
            used_bytes: used as i64,
            blocks: self
                .store
                .report()
                .into_iter()
                .map(|(id, length)| HeldBlock { block_id: id as i64, length: length as i64 })
                .collect(),
            start_time_ms: now_ms(),
        };
        let response = MasterLinkClient::new(channel.clone())
            .register_worker(request)
            .await
            .map_err(|status| format!("{leader}: {}", status.message()))?
            .into_inner();
        self.remove(&response.remove_block_ids);
        self.store.mark_persisted(response.persisted_block_ids.iter().map(|b| *b as u64));
        Ok(Registered { leader, worker_id: response.worker_id, channel })
    }

    fn remove(&self, blocks: &[i64]) {
        for block in blocks {
            self.store.remove(*block as u64);
        }
    }

    /// Heartbeats until something says to register again; returns what.
    async fn heartbeat_until_change(
        &self,
        current: &Registered,
        every: Duration,
        leader_watch: &mut Option<watch::Receiver<Option<Member>>>,
        reregister: &tokio::sync::Notify,
    ) -> String {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if let Some(watch) = leader_watch.as_mut() {
            watch.borrow_and_update();
        }
        loop {
            let leader_changed = async {
                match leader_watch.as_mut() {
                    Some(watch) => {
                        while watch.changed().await.is_ok() {
                            let named = watch.borrow().as_ref().map(|m| m.address.clone());
                            if named.is_some_and(|a| a != current.leader) {
                                return;
                            }
                        }
                        std::future::pending::<()>().await
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = leader_changed => return "the elector names a new leader".into(),
                () = reregister.notified() => return "a commit failed".into(),
                _ = ticks.tick() => {}
            }
            metrics::gauge!("lode_worker_capacity_bytes").set(self.store.capacity() as f64);
            metrics::gauge!("lode_worker_used_bytes").set(self.store.used() as f64);
            metrics::gauge!("lode_worker_blocks").set(self.store.report().len() as f64);
            let (used, used_sample) = self.store.usage();
            let request = HeartbeatRequest {
                used_sample,
                worker_id: current.worker_id,
                used_bytes: used as i64,
                removed_block_ids: self
                    .store
                    .take_dropped()
                    .into_iter()
                    .map(|b| b as i64)
                    .collect(),
                persisting_file_ids: self.persister.running(),
                persisted: self.persister.take_finished(),
            };
            let persisted = request.persisted.clone();
            match MasterLinkClient::new(current.channel.clone()).heartbeat(request).await {
                Ok(response) => {
                    let response = response.into_inner();
                    if response.register {
                        self.persister.unreported(persisted);
                        return "the master does not know this worker".into();
                    }
                    self.remove(&response.remove_block_ids);
                    self.store
                        .mark_persisted(response.persisted_block_ids.iter().map(|b| *b as u64));
                    for command in response.persist {
                        self.persister.start(command);
                    }
                }
                Err(status) => {
                    self.persister.unreported(persisted);
                    return format!("heartbeat failed: {}", status.message());
                }
            }
        }
    }
}
