//! A running master: its journal and namespace, its role, and the loop that moves it between
//! hot standby and leader (DESIGN §3–4).
//!
//! - **Standby**: replays the journal continuously, writes a checkpoint when enough entries
//!   piled up, and campaigns for leadership.
//! - **Leader**: after [`Journal::take_over`] lands its marker, serves mutations through the
//!   group-commit writer and reads while its lease is valid; truncates the journal behind the
//!   checkpoints. The moment the writer is deposed or the leadership is lost or in doubt, it stops
//!   serving and becomes a standby again (or exits, with `alluxio.master.journal.exit.on.demotion`).
//! - **Shutdown** (SIGTERM): a leader resigns so a standby takes over at once.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lode_core::config::{name, Config};
use lode_core::elector::{LeaderElector, Leadership, Member};
use lode_core::journal::{Journal, JournalError, JournalSettings, JournalWriter, OpId};
use lode_core::store::StoreError;
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::blocks::BlockMap;
use crate::namespace::{FsPath, Mutation, Namespace, NamespaceOp, NamespaceReply, NsError};
use crate::persist::{PersistQueue, PersistSettings};
use crate::rpc::{ServerInfo, Services};
use crate::ufs::Ufses;
use crate::{open_backends, MasterError};

/// How often the leader truncates the journal and cleans temporary objects.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(5);
/// How often a standby looks for a checkpoint newer than its position.
const CHECKPOINT_LOOK_INTERVAL: Duration = Duration::from_secs(1);

/// This master's role, as operators and clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Replaying the journal; `leader` is who leads, when known.
    Standby {
        /// The current leader, if the elector knows one.
        leader: Option<Member>,
    },
    /// Leading in `term`.
    Leader {
        /// The leadership term.
        term: u64,
    },
}

/// Why a request was not served.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServeError {
    /// This master does not lead (or its lease is in doubt); `leader` is who does, if known.
    #[error("this master is not the leader{}", .leader.as_ref().map(|m| format!("; the leader is {}", m.address)).unwrap_or_default())]
    NotLeader {
        /// Where clients should go.
        leader: Option<Member>,
    },
    /// The journal could not make the mutation durable; it was not acknowledged.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
}

struct Leading {
    writer: JournalWriter<Namespace>,
    leadership: Leadership,
}

/// One change of leader as this master saw it: its own takeovers, and leaders it followed.
#[derive(Debug, Clone)]
pub struct Takeover {
    /// When the new leader began to serve (or was first seen, for another master's).
    pub at: SystemTime,
    /// The leader before, when known.
    pub from: Option<String>,
    /// The new leader.
    pub to: String,
    /// The new term, when this master took over.
    pub term: Option<u64>,
    /// From winning the election to serving, when this master took over.
    pub took: Option<Duration>,
}

/// How many leader changes each master remembers.
const HISTORY: usize = 100;

/// A master's shared state: what the RPC services call into.
pub struct MasterNode {
    journal: Arc<Journal<Namespace>>,
    elector: Arc<dyn LeaderElector>,
    me: Member,
    leading: RwLock<Option<Leading>>,
    role: watch::Sender<Role>,
    /// Block locations: soft state, kept by the leader only (see [`crate::blocks`]).
    blocks: RwLock<BlockMap>,
    /// The leader's persistence work: soft state like `blocks` (see [`crate::persist`]).
    pub(crate) persists: parking_lot::Mutex<PersistQueue>,
    /// Workers silent for longer are dropped with their blocks (`alluxio.master.worker.timeout`).
    worker_timeout: Duration,
    /// How long a new leader waits for workers before reporting none
    /// (`alluxio.master.worker.connect.wait.time`).
    worker_connect_wait: Duration,
    /// Leader changes, oldest first.
    history: parking_lot::Mutex<std::collections::VecDeque<Takeover>>,
    /// When this master started.
    started: Instant,
    /// When a standby last found nothing new in the journal (caught up), if ever.
    caught_up_at: parking_lot::Mutex<Option<Instant>>,
    /// Why this master last stopped leading (or gave up taking over) because of its journal,
    /// and when: what `masterInfo` reports after the store itself works for reads again.
    stepped_down: parking_lot::Mutex<Option<(Instant, String)>>,
    /// The root mount and the site configuration mounts start from.
    ufses: Ufses,
    /// Held shared by a rename or delete from its UFS side to its journal entry, and alone by
    /// the leader while it puts a persisted copy at its file's place and journals it: so the
    /// place it read is still the file's when the entry is written (see
    /// [`crate::persist::Placement`]).
    pub ufs_moves: tokio::sync::RwLock<()>,
}

impl std::fmt::Debug for MasterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterNode")
            .field("me", &self.me)
            .field("role", &*self.role.borrow())
            .finish()
    }
}

/// The name of the user this process runs as (its OS account's name, as Alluxio shows it).
fn process_user() -> String {
    whoami::username().or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "unknown".to_string())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The paths a mutation names, to validate before anything is journaled.
fn paths_of(mutation: &Mutation) -> Vec<&str> {
    match mutation {
        Mutation::CreateDirectory(m) => vec![&m.path],
        Mutation::CreateFile(m) => vec![&m.path],
        Mutation::CompleteFile(m) => vec![&m.path],
        Mutation::Delete(m) => vec![&m.path],
        Mutation::Rename(m) => vec![&m.src, &m.dst],
        Mutation::SetAttribute(m) => vec![&m.path],
        Mutation::NewBlock(m) => vec![&m.path],
        Mutation::Mount(m) => vec![&m.path],
        Mutation::Unmount(m) => vec![&m.path],
        Mutation::UpdateMount(m) => vec![&m.path],
        Mutation::SchedulePersist(m) => vec![&m.path],
        Mutation::LoadMetadata(m) => vec![&m.path],
        Mutation::PersistFile(_) | Mutation::PersistFailed(_) => Vec::new(),
    }
}

impl MasterNode {
    /// A standby at `address` over `journal`, electing through `elector`.
    fn new(
        journal: Arc<Journal<Namespace>>,
        elector: Arc<dyn LeaderElector>,
        address: String,
        config: &Config,
        ufses: Ufses,
    ) -> MasterNode {
        MasterNode {
            journal,
            elector,
            me: Member { id: uuid::Uuid::new_v4().to_string(), address },
            leading: RwLock::new(None),
            role: watch::channel(Role::Standby { leader: None }).0,
            blocks: RwLock::new(BlockMap::default()),
            persists: parking_lot::Mutex::new(PersistQueue::new(PersistSettings::from_config(
                config,
            ))),
            worker_timeout: config
                .duration(name::MASTER_WORKER_TIMEOUT)
                .unwrap_or(Duration::from_secs(300)),
            worker_connect_wait: config
                .duration(name::MASTER_WORKER_CONNECT_WAIT_TIME)
                .unwrap_or(Duration::from_secs(5)),
            history: Default::default(),
            started: Instant::now(),
            caught_up_at: Default::default(),
            stepped_down: Default::default(),
            ufses,
            ufs_moves: tokio::sync::RwLock::new(()),
        }
    }

    /// The root mount and how to open under-file-systems.
    pub fn ufses(&self) -> &Ufses {
        &self.ufses
    }

    /// Records why this master stopped leading (or gave up taking over).
    fn stepped_down(&self, reason: &dyn std::fmt::Display) {
        *self.stepped_down.lock() = Some((Instant::now(), reason.to_string()));
    }

    /// Why this master last stepped down (its journal or its election), and how long ago;
    /// `None` if never.
    pub fn last_step_down(&self) -> Option<(Duration, String)> {
        self.stepped_down.lock().as_ref().map(|(at, why)| (at.elapsed(), why.clone()))
    }

    /// This master's identity.
    pub fn member(&self) -> &Member {
        &self.me
    }

    /// The current role, as the lease has it: a leader whose lease ran out or is in doubt (a
    /// paused process that just woke up, before its role loop has noticed) is no leader, and
    /// says so in every status it reports.
    pub fn role(&self) -> Role {
        let role = self.role.borrow().clone();
        match role {
            Role::Leader { .. } if !self.leads() => Role::Standby { leader: self.other_leader() },
            role => role,
        }
    }

    /// The leader the elector names, unless that is this master (it may still be named just
    /// after it stopped leading).
    fn other_leader(&self) -> Option<Member> {
        self.elector.watch_leader().borrow().clone().filter(|m| m.id != self.me.id)
    }

    /// Whether this master leads with a valid lease.
    fn leads(&self) -> bool {
        self.leading.read().as_ref().is_some_and(|l| l.leadership.is_valid())
    }

    /// Follows role changes.
    pub fn watch_role(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// The journal (position, checkpoints) for status reporting.
    pub fn journal(&self) -> &Arc<Journal<Namespace>> {
        &self.journal
    }

    /// Becomes (or stays) a standby following `leader`, remembering a new leader it sees. A
    /// `leader` that is this master (see [`Self::other_leader`]) means none is known yet, rather
    /// than a standby that calls itself the leader (and links to its own UI).
    fn set_standby(&self, leader: Option<Member>) {
        let leader = leader.filter(|m| m.id != self.me.id);
        if let Some(new) = &leader {
            let previous = self.last_leader();
            if previous.as_deref() != Some(new.address.as_str()) {
                self.remember(Takeover {
                    at: SystemTime::now(),
                    from: previous,
                    to: new.address.clone(),
                    term: None,
                    took: None,
                });
            }
        }
        self.role.send_replace(Role::Standby { leader });
    }

    /// The newest leader in the history.
    fn last_leader(&self) -> Option<String> {
        self.history.lock().back().map(|t| t.to.clone())
    }

    fn not_leader(&self) -> ServeError {
        let leader = match &*self.role.borrow() {
            Role::Standby { leader } => leader.clone(),
            // Leading no more, though the role loop has not noticed yet.
            Role::Leader { .. } => self.other_leader(),
        };
        ServeError::NotLeader { leader }
    }

    /// Journals `mutation` and returns its reply once durable. Bad paths are refused without
    /// touching the journal. With `id`, a retried call gets the first attempt's answer.
    pub async fn mutate(
        &self,
        id: Option<OpId>,
        mutation: Mutation,
    ) -> Result<NamespaceReply, ServeError> {
        for path in paths_of(&mutation) {
            if let Err(e) = FsPath::parse(path) {
                return Ok(NsError::from(e).into());
            }
        }
        let writer = match &*self.leading.read() {
            Some(leading) if leading.leadership.is_valid() => leading.writer.clone(),
            _ => return Err(self.not_leader()),
        };
        let op = NamespaceOp { time_ms: now_ms(), mutation: Some(mutation) };
        Ok(writer.submit(id, op).await?)
    }

    /// Reads the namespace, only while this master leads with a valid lease: a paused or
    /// deposed leader never serves a stale read.
    pub fn read<T>(&self, read: impl FnOnce(&Namespace) -> T) -> Result<T, ServeError> {
        if !self.leads() {
            return Err(self.not_leader());
        }
        let replica = self.journal.replica().read();
        let answer = read(replica.state());
        // Check again: the lease may have lapsed while reading.
        if self.leads() {
            Ok(answer)
        } else {
            Err(self.not_leader())
        }
    }

    /// Works on the block map with the namespace at hand, only while this master leads with a
    /// valid lease: standbys keep no block locations.
    pub fn with_blocks<T>(
        &self,
        work: impl FnOnce(&mut BlockMap, &Namespace) -> T,
    ) -> Result<T, ServeError> {
        self.read(|namespace| work(&mut self.blocks.write(), namespace))
    }

    /// Works on the block map and the persistence work with the namespace at hand, on the same
    /// terms as [`Self::with_blocks`].
    pub fn with_persists<T>(
        &self,
        work: impl FnOnce(&mut PersistQueue, &mut BlockMap, &Namespace) -> T,
    ) -> Result<T, ServeError> {
        self.read(|namespace| work(&mut self.persists.lock(), &mut self.blocks.write(), namespace))
    }

    /// Journals persistence outcomes (from workers' reports or the leader's sweep) in the
    /// background, telling the queue how each went.
    pub fn journal_persists(self: &Arc<Self>, entries: Vec<Mutation>) {
        for entry in entries {
            let id = match &entry {
                Mutation::PersistFile(m) => m.id,
                Mutation::PersistFailed(m) => m.id,
                _ => continue,
            };
            let node = self.clone();
            tokio::spawn(async move {
                let outcome = match node.mutate(None, entry).await {
                    Ok(reply) => match reply.error {
                        None => Ok(()),
                        Some(refused) => Err(refused.message),
                    },
                    Err(error) => Err(error.to_string()),
                };
                match &outcome {
                    Err(error) => {
                        tracing::warn!(file = id, %error, "journaling a persistence outcome failed")
                    }
                    Ok(()) => node.note_persisted(id),
                }
                node.persists.lock().journaled(id, outcome);
            });
        }
    }

    /// What the leader's persister is doing; `None` on a standby.
    pub fn persist_summary(&self) -> Option<crate::persist::PersistSummary> {
        self.read(|_| self.persists.lock().summary()).ok()
    }

    /// Tells the workers holding blocks of file `id` that it is PERSISTED (if it is), so they
    /// may drop them to make room.
    pub fn note_persisted(&self, id: u64) {
        let _ = self.with_blocks(|blocks, namespace| {
            if let Some(status) = namespace.status_by_id(id) {
                if status.persistence == crate::namespace::Persistence::Persisted && status.complete
                {
                    blocks.note_persisted(&status.block_ids);
                }
            }
        });
    }

    /// Reads the block map with the namespace at hand, on the same terms as [`Self::with_blocks`].
    pub fn read_blocks<T>(
        &self,
        read: impl FnOnce(&BlockMap, &Namespace) -> T,
    ) -> Result<T, ServeError> {
        self.read(|namespace| read(&self.blocks.read(), namespace))
    }

    /// The addresses of every master the elector lists as campaigning (none when it cannot
    /// list them, or does not answer within a second).
    pub async fn election_members(&self) -> Vec<String> {
        let listed = tokio::time::timeout(Duration::from_secs(1), self.elector.members()).await;
        match listed {
            Ok(Ok(members)) => members.into_iter().map(|m| m.address).collect(),
            _ => Vec::new(),
        }
    }

    /// How long after its takeover a leader waits for workers to register before telling a
    /// client there are none (`alluxio.master.worker.connect.wait.time`).
    pub fn worker_connect_wait(&self) -> Duration {
        self.worker_connect_wait
    }

    /// Leader changes this master saw, oldest first.
    pub fn history(&self) -> Vec<Takeover> {
        self.history.lock().iter().cloned().collect()
    }

    fn remember(&self, takeover: Takeover) {
        let mut history = self.history.lock();
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(takeover);
    }

    /// How long this master has been running.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ready to serve: a leader whose lease is valid, or a standby that found nothing new in
    /// the journal within `within` (caught up).
    pub fn is_ready(&self, within: Duration) -> bool {
        match *self.role.borrow() {
            Role::Leader { .. } => self.leads(),
            Role::Standby { .. } => {
                self.caught_up_at.lock().is_some_and(|at| at.elapsed() < within)
            }
        }
    }

    /// Reads this master's replica whatever its role (for status pages and tests; may be behind).
    pub fn read_replica<T>(&self, read: impl FnOnce(&Namespace) -> T) -> T {
        read(self.journal.replica().read().state())
    }
}

/// A master started in this process: its node, and the task that runs it.
#[derive(Debug)]
pub struct RunningMaster {
    /// The node, for RPC services and tests.
    pub node: Arc<MasterNode>,
    /// Resolves when the master stops, with why.
    pub task: tokio::task::JoinHandle<Result<(), MasterError>>,
}

/// Opens the journal (refusing to start on a corrupt checkpoint), binds the RPC port, and starts
/// the role loop and the gRPC services. On `shutdown` a leader resigns first; the services stop
/// after the role loop has.
pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningMaster, MasterError> {
    let backends = open_backends(&config)?;
    let settings = JournalSettings::from_config(&config, backends.store.as_ref());
    let journal = Arc::new(Journal::open(backends.store.clone(), settings, Namespace::new).await?);
    let bind = format!(
        "{}:{}",
        config.string(name::MASTER_BIND_HOST).unwrap_or("0.0.0.0"),
        config.int(name::MASTER_RPC_PORT).unwrap_or(19998)
    );
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| MasterError::Bind { address: bind.clone(), error: e.to_string() })?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let web_host = config.string(name::MASTER_WEB_BIND_HOST).unwrap_or("0.0.0.0");
    let web_port = config.int(name::MASTER_WEB_PORT).unwrap_or(19999) as u16;
    let web_listener = lode_core::web::bind(web_host, web_port, name::MASTER_WEB_PORT)
        .await
        .map_err(MasterError::Web)?;
    let address = format!("{}:{port}", config.string(name::MASTER_HOSTNAME).unwrap_or("localhost"));
    let ufses = Ufses::from_config(&config)?;
    let node =
        Arc::new(MasterNode::new(journal, backends.elector.clone(), address, &config, ufses));
    tokio::spawn({
        let node = node.clone();
        async move { node.ufses.check_root().await }
    });
    tracing::info!(
        journal = %backends.store.location(),
        elector = %backends.elector_name,
        member = %node.me.address,
        position = ?node.journal.position(),
        "master starting"
    );
    let info = ServerInfo {
        default_block_size: config.size(name::USER_BLOCK_SIZE_BYTES_DEFAULT).unwrap_or(64 << 20),
        max_blocks_per_file: config.int(name::MASTER_FILE_BLOCKS_MAX).unwrap_or(100_000).max(1)
            as u64,
        master_addresses: config.list(name::MASTER_RPC_ADDRESSES),
        zookeeper_addresses: if config.bool(name::ZOOKEEPER_ENABLED) {
            config.string(name::ZOOKEEPER_ADDRESS).map(|a| vec![a.to_string()]).unwrap_or_default()
        } else {
            Vec::new()
        },
        web_port: i32::from(lode_core::web::local_port(&web_listener)),
        start_time_ms: now_ms(),
        elector: backends.elector_name.clone(),
        journal: backends.store.location(),
        configuration: crate::rpc::ClusterConfiguration::of(&config),
        load_type: config
            .string(name::USER_FILE_METADATA_LOAD_TYPE)
            .and_then(crate::rpc::LoadType::from_name)
            .unwrap_or(crate::rpc::LoadType::Once),
        sync_interval: match config.string(name::USER_FILE_METADATA_SYNC_INTERVAL) {
            None => crate::rpc::SyncInterval::Never,
            Some(text) => {
                crate::rpc::SyncInterval::parse(text).map_err(|e| MasterError::Property {
                    key: name::USER_FILE_METADATA_SYNC_INTERVAL,
                    message: format!("{text:?}: {e}"),
                })?
            }
        },
        ufs_owner: process_user(),
    };
    let info = Arc::new(info);
    lode_core::web::metrics();
    lode_core::web::serve(
        web_listener,
        crate::web::router(node.clone(), info.clone(), config.clone()),
    );
    let routes = Services::new(node.clone(), info).router();
    let exit_on_demotion = config.bool(name::MASTER_JOURNAL_EXIT_ON_DEMOTION);
    let (roles_done, roles_finished) = tokio::sync::oneshot::channel::<()>();
    let roles = tokio::spawn({
        let node = node.clone();
        async move {
            let outcome = run_roles(node, exit_on_demotion, shutdown).await;
            let _ = roles_done.send(());
            outcome
        }
    });
    let max_connections =
        lode_core::rpc::connection_cap(config.int(name::MASTER_NETWORK_MAX_CONNECTIONS));
    let grace = config.duration(name::NETWORK_CONNECTION_SERVER_SHUTDOWN_TIMEOUT);
    let max_streams =
        lode_core::rpc::stream_cap(config.int(name::MASTER_NETWORK_MAX_CONCURRENT_STREAMS));
    let server = tokio::spawn(async move {
        // TCP_NODELAY: small HTTP/2 frames (replies, window updates) must not wait for ACKs.
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let incoming = lode_core::rpc::limit_connections(
            incoming,
            max_connections,
            name::MASTER_NETWORK_MAX_CONNECTIONS,
        );
        let server = tonic::transport::Server::builder()
            .max_concurrent_streams(max_streams)
            .layer(lode_core::rpc::MeteredLayer::default())
            .add_routes(routes);
        let roles_finished = async {
            let _ = roles_finished.await;
        };
        lode_core::rpc::serve_with_bounded_shutdown(
            |signal| server.serve_with_incoming_shutdown(incoming, signal),
            roles_finished,
            grace.unwrap_or(Duration::from_secs(60)),
            "master",
        )
        .await
    });
    let task = tokio::spawn(async move {
        let outcome = roles.await.map_err(|e| MasterError::Task(e.to_string()))?;
        if let Err(error) = server.await.map_err(|e| MasterError::Task(e.to_string()))? {
            tracing::warn!(%error, "the RPC server stopped with an error");
        }
        outcome
    });
    Ok(RunningMaster { node, task })
}

async fn run_roles(
    node: Arc<MasterNode>,
    exit_on_demotion: bool,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MasterError> {
    tokio::pin!(shutdown);
    let mut leader_watch = node.elector.watch_leader();
    loop {
        node.set_standby(leader_watch.borrow().clone());
        let leadership = tokio::select! {
            leadership = campaign(&node) => leadership,
            error = follow(&node, &mut leader_watch) => return Err(error),
            () = &mut shutdown => return Ok(()),
        };
        let won = Instant::now();
        let Some(writer) = take_over(&node, &leadership).await? else {
            // Give the term up, so that another master (or this one, afresh) can start one.
            if let Err(error) = node.elector.resign(&leadership).await {
                tracing::warn!(%error, "resigning after a failed takeover failed");
            }
            continue;
        };
        let term = leadership.term();
        let from = node.last_leader();
        node.remember(Takeover {
            at: SystemTime::now(),
            from,
            to: node.me.address.clone(),
            term: Some(term),
            took: Some(won.elapsed()),
        });
        metrics::counter!("lode_master_leadership_changes_total", "event" => "won").increment(1);
        metrics::histogram!("lode_master_takeover_seconds").record(won.elapsed().as_secs_f64());
        metrics::gauge!("lode_master_is_leader").set(1.0);
        metrics::gauge!("lode_master_term").set(term as f64);
        node.blocks.write().clear(); // Workers re-register with every new leader.
        node.persists.lock().clear();
        *node.leading.write() =
            Some(Leading { writer: writer.clone(), leadership: leadership.clone() });
        node.role.send_replace(Role::Leader { term });
        tracing::info!(term, position = ?node.journal.position(), "leading");

        let resigning = tokio::select! {
            error = writer.stopped() => {
                tracing::warn!(term, %error, "journal writer stopped");
                node.stepped_down(&error);
                false
            }
            () = leadership.lost() => {
                let reason = leadership.lost_reason().unwrap_or_default();
                tracing::warn!(term, reason, "leadership lost");
                node.stepped_down(&format_args!("the election ended the leadership: {reason}"));
                false
            }
            error = maintain(&node.journal) => {
                tracing::error!(term, %error, "journal maintenance failed");
                node.stepped_down(&error);
                false
            }
            () = watch_workers(&node) => false,
            () = &mut shutdown => true,
        };
        *node.leading.write() = None;
        metrics::counter!("lode_master_leadership_changes_total", "event" => "lost").increment(1);
        metrics::gauge!("lode_master_is_leader").set(0.0);
        // A segment closed now is sealed at once by the next leader. Only on a chosen step-down:
        // a leader that lost its term must not delay the next one with a store call.
        if resigning {
            node.journal.close_active_segment().await;
        }
        // Step down in the elector too, whatever ended the term: a master that stopped serving
        // but kept renewing its lease would keep every standby from taking over.
        if let Err(error) = node.elector.resign(&leadership).await {
            tracing::warn!(%error, "resigning failed; standbys take over when the lease lapses");
        }
        if resigning {
            tracing::info!(term, "resigned");
            return Ok(());
        }
        if exit_on_demotion {
            return Err(MasterError::Demoted { term });
        }
        // Its last write may sit in a slot truncation had re-opened, never part of the history:
        // start again from the newest checkpoint rather than replay on from where it stood.
        if let Err(error) = node.journal.rebuild().await {
            tracing::warn!(%error, "rebuilding the replica after leading failed; the standby retries");
        }
    }
}

/// Lands this leader's marker, retrying while the journal store fails and the leadership
/// holds. `None` when the leadership ended first (back to standby); an error only for what must
/// stop the master (corruption, a journal of another format).
async fn take_over(
    node: &MasterNode,
    leadership: &Leadership,
) -> Result<Option<JournalWriter<Namespace>>, MasterError> {
    loop {
        match node.journal.take_over(leadership.clone(), &node.me.address).await {
            Ok(writer) => return Ok(Some(writer)),
            Err(JournalError::Deposed { slot, reason }) => {
                tracing::warn!(slot, %reason, "takeover lost; back to standby");
                return Ok(None);
            }
            // The store cannot say what it holds, or could not take a write in the flush timeout:
            // stand down, so another master (or this one, later) tries with a fresh term.
            Err(
                error @ (JournalError::Hung { .. }
                | JournalError::Timeout { .. }
                | JournalError::Store(StoreError::NotDurable { .. })),
            ) => {
                tracing::error!(%error, "the journal store cannot take the marker; standing down");
                node.stepped_down(&error);
                tokio::time::sleep(node.journal.settings().retry_interval).await;
                return Ok(None);
            }
            Err(error @ JournalError::Store(_)) if leadership.is_valid() => {
                tracing::warn!(%error, "takeover cannot use the journal yet; retrying");
                tokio::time::sleep(node.journal.settings().retry_interval).await;
            }
            Err(JournalError::Store(_)) => return Ok(None),
            Err(error) => return Err(error.into()),
        }
    }
}

/// Campaigns until elected, retrying while the election service is unavailable.
async fn campaign(node: &MasterNode) -> Leadership {
    loop {
        match node.elector.campaign(&node.me).await {
            Ok(leadership) => return leadership,
            Err(error) => {
                tracing::warn!(%error, "campaign failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The standby's work: replay the journal as it grows, checkpoint when due, and keep the role's
/// idea of the leader current. Returns only on an error that must stop the master (corruption).
async fn follow(
    node: &MasterNode,
    leader_watch: &mut watch::Receiver<Option<Member>>,
) -> MasterError {
    let journal = &node.journal;
    let mut last_look = Instant::now();
    loop {
        let step = async {
            let mut applied = journal.poll().await?;
            if last_look.elapsed() >= CHECKPOINT_LOOK_INTERVAL {
                last_look = Instant::now();
                applied += journal.catch_up().await?;
            }
            journal.checkpoint_if_due().await?;
            Ok::<u64, JournalError>(applied)
        };
        match step.await {
            Ok(0) => {
                tokio::select! {
                    () = tokio::time::sleep(journal.settings().poll_interval) => {}
                    Ok(()) = leader_watch.changed() => {
                        node.set_standby(leader_watch.borrow().clone());
                    }
                }
                *node.caught_up_at.lock() = Some(Instant::now());
            }
            Ok(_) => {}
            Err(error @ (JournalError::Store(_) | JournalError::Hung { .. })) => {
                tracing::warn!(%error, "journal read failed; retrying");
                tokio::time::sleep(journal.settings().retry_interval).await;
            }
            Err(error) => return error.into(),
        }
    }
}

/// The leader's worker housekeeping, forever: drop workers silent for longer than the worker
/// timeout, and queue blocks whose files are gone for removal on their workers.
async fn watch_workers(node: &Arc<MasterNode>) {
    let period = (node.worker_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        tokio::time::sleep(period).await;
        let swept = node.with_blocks(|blocks, namespace| {
            for worker in blocks.expire(node.worker_timeout) {
                tracing::warn!(
                    worker = %worker.address(),
                    blocks = worker.block_count(),
                    "worker lost: no heartbeat within alluxio.master.worker.timeout"
                );
            }
            let workers = blocks.workers();
            metrics::gauge!("lode_master_workers").set(workers.len() as f64);
            let capacity: u64 = workers.iter().map(|w| w.capacity).sum();
            let used: u64 = workers.iter().map(|w| w.used).sum();
            metrics::gauge!("lode_master_workers_capacity_bytes").set(capacity as f64);
            metrics::gauge!("lode_master_workers_used_bytes").set(used as f64);
            blocks.sweep(|block| namespace.block_owner(block).is_some())
        });
        if let Ok(orphans) = swept {
            if orphans > 0 {
                tracing::debug!(orphans, "blocks of deleted files queued for removal");
            }
        }
        if let Ok(entries) = node.with_persists(|queue, blocks, namespace| {
            metrics::gauge!("lode_master_files_awaiting_persist")
                .set(namespace.awaiting_persist_count() as f64);
            metrics::gauge!("lode_master_persists_running").set(queue.running() as f64);
            queue.sweep(blocks, namespace)
        }) {
            node.journal_persists(entries);
        }
    }
}

/// The leader's housekeeping: truncate behind the checkpoints, write a checkpoint when no
/// standby did (twice the period went by), clean temporary objects. Returns only on error.
async fn maintain(journal: &Journal<Namespace>) -> JournalError {
    let mut newest_seen = None;
    loop {
        tokio::time::sleep(MAINTENANCE_INTERVAL).await;
        let round = async {
            let newest = journal.checkpoints().await?.last().copied();
            if newest != newest_seen {
                newest_seen = newest;
                journal.replica().write().checkpointed(); // A standby checkpointed recently.
            }
            if journal.checkpoint_due(2) {
                newest_seen = Some(journal.write_checkpoint().await?);
            }
            journal.truncate().await?;
            journal.clean_temporary().await?;
            Ok::<(), JournalError>(())
        };
        match round.await {
            Ok(()) => {}
            Err(JournalError::Store(error)) => {
                tracing::warn!(%error, "journal maintenance will retry")
            }
            Err(error) => return error,
        }
    }
}

#[cfg(test)]
mod tests {
    use lode_core::elector::{monotonic_nanos, EmbeddedElector};
    use lode_core::journal::JournalSettings;
    use lode_core::store::LocalStore;

    use super::*;

    /// A leader whose lease ran out reports itself a standby at once, before its role loop
    /// notices (a SIGSTOPped leader that was just continued), and serves nothing.
    #[tokio::test]
    async fn a_lapsed_lease_is_reported_as_standby_before_the_role_loop_notices() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path().join("journal")));
        let journal = Journal::open(store, JournalSettings::for_tests(), Namespace::new);
        let journal = Arc::new(journal.await.unwrap());
        let elector = EmbeddedElector::new(dir.path().join("election"), Duration::from_secs(5));
        let config = Config::default();
        let node =
            MasterNode::new(journal.clone(), Arc::new(elector.unwrap()), "m:1".into(), &config, {
                Ufses::from_config(&config).unwrap()
            });
        let lease = Duration::from_millis(200);
        let (leadership, _keeper) = Leadership::new(7, monotonic_nanos() + lease.as_nanos() as u64);
        let writer = journal.take_over(leadership.clone(), "m:1").await.unwrap();
        *node.leading.write() = Some(Leading { writer, leadership });
        node.role.send_replace(Role::Leader { term: 7 });
        assert_eq!(node.role(), Role::Leader { term: 7 });

        tokio::time::sleep(lease * 2).await; // Nobody renews: the lease lapses.
        assert_eq!(node.role(), Role::Standby { leader: None });
        assert!(node.read(|ns| ns.len()).is_err(), "a lapsed leader served a read");
        assert!(!node.is_ready(Duration::from_secs(60)));

        // Back as a standby while the elector still names it: no leader known, not itself.
        node.set_standby(Some(node.member().clone()));
        assert_eq!(node.role(), Role::Standby { leader: None });
    }
}
