//! [`EtcdElector`]: campaigns through etcd's election API on a [`LeaseSession`], and follows
//! the leader with `Observe`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client as etcd;
use lode_core::elector::{ElectorError, HeldByTerm, LeaderElector, Leadership, Member};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::lease::LeaseSession;
use crate::Settings;

/// The pause before a failed campaign, lookup or discovery round tries again.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// An etcd-backed [`LeaderElector`] (see the crate docs).
#[derive(Debug)]
pub struct EtcdElector {
    shared: Arc<Shared>,
    /// The lease and election key this process leads with.
    held: HeldByTerm<Held>,
    leader_watch: Mutex<Option<watch::Receiver<Option<Member>>>>,
}

/// What discovery shares with the campaign.
struct Shared {
    settings: Arc<Settings>,
    client: tokio::sync::Mutex<Option<etcd::Client>>,
    /// This process's election key and member id: discovery names this process by its id.
    own: Mutex<Option<(Vec<u8>, String)>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// A won election.
struct Held {
    leader_key: etcd::LeaderKey,
    lease: LeaseSession,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").field("lease", &self.lease.id).finish_non_exhaustive()
    }
}

/// Whether etcd answered that the election has no leader (not an error for discovery).
pub(crate) fn is_no_leader(error: &etcd::Error) -> bool {
    matches!(error, etcd::Error::GRpcStatus(status) if status.message().contains("no leader"))
}

impl Shared {
    fn unavailable(&self, what: &str, error: impl std::fmt::Display) -> ElectorError {
        ElectorError::Unavailable {
            service: self.settings.describe(),
            message: format!("{what}: {error}"),
        }
    }

    /// The client, created on first use (it connects to the endpoints lazily).
    async fn client(&self) -> Result<etcd::Client, ElectorError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let settings = &self.settings;
        let options = etcd::ConnectOptions::new()
            .with_connect_timeout(settings.request_timeout)
            // HTTP/2 pings find a dead connection under a blocked campaign or observe.
            .with_keep_alive(settings.keep_alive_interval(), settings.request_timeout)
            .with_keep_alive_while_idle(true)
            // A member cut off from its cluster's quorum refuses instead of answering stale.
            .with_require_leader(true);
        let client = etcd::Client::connect(&settings.endpoints, Some(options))
            .await
            .map_err(|e| self.unavailable("connecting", e))?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// The member a leader key-value names: the value is its address; the id is ours when the
    /// key is ours, else the key.
    fn member(&self, kv: &etcd::KeyValue) -> Member {
        let address = String::from_utf8_lossy(kv.value()).into_owned();
        let id = match &*self.own.lock() {
            Some((key, id)) if key.as_slice() == kv.key() => id.clone(),
            _ => String::from_utf8_lossy(kv.key()).into_owned(),
        };
        Member { id, address }
    }

    /// The current leader, asking once.
    async fn leader_once(&self) -> Result<Option<Member>, ElectorError> {
        let mut client = self.client().await?;
        let lookup = client.leader(self.settings.prefix.as_bytes());
        match tokio::time::timeout(self.settings.request_timeout, lookup).await {
            Ok(Ok(response)) => Ok(response.kv().map(|kv| self.member(kv))),
            Ok(Err(error)) if is_no_leader(&error) => Ok(None),
            Ok(Err(error)) => Err(self.unavailable("looking up the leader", error)),
            Err(_) => Err(self.unavailable("looking up the leader", "timed out")),
        }
    }

    /// One round of discovery: publish the leader, then follow `Observe` (new leaders) and a
    /// watch on the leader's key (its deletion means no leader until the next one).
    async fn follow_leader(
        &self,
        sender: &watch::Sender<Option<Member>>,
    ) -> Result<Infallible, ElectorError> {
        let publish = |found: Option<Member>| {
            sender.send_if_modified(|current| {
                let changed = *current != found;
                *current = found;
                changed
            });
        };
        publish(self.leader_once().await?);
        let mut client = self.client().await?;
        let mut observed = client
            .observe(self.settings.prefix.as_bytes())
            .await
            .map_err(|e| self.unavailable("observing the election", e))?;
        let mut deletions: Option<etcd::WatchStream> = None;
        loop {
            tokio::select! {
                message = observed.message() => {
                    let message = message.map_err(|e| self.unavailable("observing", e))?;
                    let Some(kv) = message.as_ref().and_then(|m| m.kv()) else {
                        return Err(self.unavailable("observing", "the stream ended"));
                    };
                    publish(Some(self.member(kv)));
                    // From the key's creation on, so that a deletion in between is seen.
                    let options =
                        etcd::WatchOptions::new().with_start_revision(kv.create_revision());
                    let watched = client
                        .watch(kv.key(), Some(options))
                        .await
                        .map_err(|e| self.unavailable("watching the leader key", e))?;
                    deletions = Some(watched);
                }
                deleted = next_deletion(&mut deletions) => {
                    deleted.map_err(|e| self.unavailable("watching the leader key", e))?;
                    publish(None);
                    deletions = None;
                }
            }
        }
    }
}

/// Resolves when `watched` reports a deletion (never when there is no watch).
async fn next_deletion(watched: &mut Option<etcd::WatchStream>) -> Result<(), etcd::Error> {
    let Some(stream) = watched.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        let Some(response) = stream.message().await? else {
            return Err(etcd::Error::WatchError("the watch ended".into()));
        };
        if response.events().iter().any(|e| e.event_type() == etcd::EventType::Delete) {
            return Ok(());
        }
    }
}

impl EtcdElector {
    /// An elector with `settings`; it connects on first use.
    pub fn new(settings: Settings) -> Self {
        EtcdElector {
            shared: Arc::new(Shared {
                settings: Arc::new(settings),
                client: tokio::sync::Mutex::new(None),
                own: Mutex::new(None),
            }),
            held: HeldByTerm::default(),
            leader_watch: Mutex::new(None),
        }
    }

    /// Campaigns on `lease` until elected, retrying the call while the lease lives (a retried
    /// campaign on the same lease keeps its place in the queue).
    async fn campaign_on(
        &self,
        client: &etcd::Client,
        lease: &mut LeaseSession,
        me: &Member,
    ) -> Result<etcd::LeaderKey, ElectorError> {
        let shared = &self.shared;
        loop {
            let mut client = client.clone();
            let call =
                client.campaign(shared.settings.prefix.as_bytes(), me.address.as_bytes(), lease.id);
            let error = tokio::select! {
                result = call => match result {
                    Ok(response) => match response.leader() {
                        Some(key) => return Ok(key.clone()),
                        None => "etcd answered the campaign without a leader key".to_string(),
                    },
                    Err(error) => error.to_string(),
                },
                reason = lease.ended() => {
                    return Err(shared.unavailable("campaigning", format!("the lease ended: {reason}")));
                }
            };
            tracing::debug!(%error, "etcd election: campaign call failed; retrying");
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

#[async_trait]
impl LeaderElector for EtcdElector {
    async fn campaign(&self, me: &Member) -> Result<Leadership, ElectorError> {
        let shared = &self.shared;
        // A leadership lost earlier: stop its lease before starting over.
        drop(self.held.take());
        let client = shared.client().await?;
        let mut lease = LeaseSession::grant(&client, &shared.settings)
            .await
            .map_err(|e| shared.unavailable("joining the election", e))?;
        let own_key = format!("{}/{:x}", shared.settings.prefix, lease.id).into_bytes();
        *shared.own.lock() = Some((own_key, me.id.clone()));
        let leader_key = self.campaign_on(&client, &mut lease, me).await?;
        // The create revision of our key: unique, and higher for every later leader, since the
        // oldest key leads and revisions only grow.
        let term = leader_key.rev() as u64;
        // Not valid until the lease task confirms, right now, that our key leads.
        let (leadership, keeper) = Leadership::new(term, 0);
        lease.lead(leader_key.key().to_vec(), keeper);
        if !leadership.settled().await {
            return Err(
                shared.unavailable("campaigning", "the leadership was lost right after it was won")
            );
        }
        self.held.hold(term, Held { leader_key, lease });
        tracing::info!(term, member = %me.address, "etcd election: won");
        Ok(leadership)
    }

    async fn leader(&self) -> Result<Option<Member>, ElectorError> {
        // Requests are spread over the endpoints, and one sent to a dead member fails at once,
        // however long that member has been down (four tries in a row once all went there):
        // retry for as long as one request may take, so a dead endpoint costs retries, not the
        // answer.
        let deadline = tokio::time::Instant::now() + self.shared.settings.request_timeout;
        loop {
            match self.shared.leader_once().await {
                Err(ElectorError::Unavailable { .. })
                    if tokio::time::Instant::now() + RETRY_PAUSE < deadline =>
                {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                outcome => return outcome,
            }
        }
    }

    fn watch_leader(&self) -> watch::Receiver<Option<Member>> {
        let mut slot = self.leader_watch.lock();
        if let Some(receiver) = slot.as_ref() {
            return receiver.clone();
        }
        let (sender, receiver) = watch::channel(None);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = sender.closed() => return,
                    outcome = shared.follow_leader(&sender) => {
                        let Err(error) = outcome;
                        tracing::debug!(%error, "etcd discovery will retry");
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            }
        });
        *slot = Some(receiver.clone());
        receiver
    }

    async fn members(&self) -> Result<Vec<Member>, ElectorError> {
        // Every campaigning member's key under the prefix holds its address.
        let shared = &self.shared;
        let mut client = shared.client().await?;
        let prefix = format!("{}/", shared.settings.prefix);
        let lookup = client.get(prefix, Some(etcd::GetOptions::new().with_prefix()));
        match tokio::time::timeout(shared.settings.request_timeout, lookup).await {
            Ok(Ok(response)) => Ok(response.kvs().iter().map(|kv| shared.member(kv)).collect()),
            Ok(Err(error)) => Err(shared.unavailable("listing the election", error)),
            Err(_) => Err(shared.unavailable("listing the election", "timed out")),
        }
    }

    async fn resign(&self, leadership: &Leadership) -> Result<(), ElectorError> {
        leadership.mark_lost();
        let term = leadership.term();
        let Some(Held { leader_key, mut lease }) = self.held.take_for(term) else {
            return Ok(());
        };
        let shared = &self.shared;
        let mut client = shared.client().await?;
        // Resigning deletes our key, so the next key's campaign returns at once; the lease
        // task then revokes the lease on its way out.
        let resign = client.resign(Some(etcd::ResignOptions::new().with_leader(leader_key)));
        let outcome = tokio::time::timeout(shared.settings.request_timeout, resign).await;
        lease.stop();
        match outcome {
            Ok(Ok(_)) => {
                tracing::info!(term, "etcd election: resigned");
                Ok(())
            }
            Ok(Err(error)) => Err(shared.unavailable("resigning", error)),
            Err(_) => {
                Err(shared.unavailable("resigning", "timed out; the lease is revoked instead"))
            }
        }
    }
}
