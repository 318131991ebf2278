//! [`ZooKeeperElector`]: the latch, the leader znode, the lease monitor and discovery.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lode_core::elector::{
    monotonic_nanos, ElectorError, HeldByTerm, LeaderElector, Leadership, LeaseKeeper, Member,
};
use parking_lot::Mutex;
use tokio::sync::watch;
use zookeeper_client as zk;

use crate::Settings;

/// How long cleanup calls (resigning) may take before the session is abandoned instead.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause before a discovery watch retries after an error.
const WATCH_RETRY: Duration = Duration::from_millis(200);

/// A ZooKeeper-backed [`LeaderElector`] (see the crate docs).
#[derive(Debug)]
pub struct ZooKeeperElector {
    settings: Arc<Settings>,
    /// Who may do what with the nodes Lode creates.
    acls: Vec<zk::Acl>,
    /// The current session, replaced once it has expired or closed.
    session: tokio::sync::Mutex<Option<zk::Client>>,
    /// The latch this process holds while it leads.
    held: HeldByTerm<Held>,
    leader_watch: Mutex<Option<watch::Receiver<Option<Member>>>>,
}

/// What a leader holds: its latch node and its leader node, in its session.
#[derive(Debug)]
struct Held {
    client: zk::Client,
    latch: zk::OwnedLockClient,
    leader_node: String,
}

fn is_over(state: zk::SessionState) -> bool {
    matches!(
        state,
        zk::SessionState::Expired | zk::SessionState::Closed | zk::SessionState::AuthFailed
    )
}

impl ZooKeeperElector {
    /// An elector with `settings`; it connects on first use.
    pub fn new(settings: Settings) -> Self {
        let acls = if settings.digest.is_some() {
            // Writable only by the configured user; readable by anyone, so that clients and
            // operators (`zkCli.sh ls /alluxio/leader`) find the leader without credentials.
            vec![
                zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("auth", "")),
                zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone()),
            ]
        } else {
            zk::Acls::anyone_all().to_vec()
        };
        ZooKeeperElector {
            settings: Arc::new(settings),
            acls,
            session: tokio::sync::Mutex::new(None),
            held: HeldByTerm::default(),
            leader_watch: Mutex::new(None),
        }
    }

    fn acls(&self) -> zk::Acls<'_> {
        zk::Acls::new(&self.acls)
    }

    /// Maps a ZooKeeper error during `what` to an elector error that says what to do.
    fn error(&self, what: &str, error: zk::Error) -> ElectorError {
        let service = self.settings.describe();
        match error {
            zk::Error::NoAuth => ElectorError::Config {
                message: format!(
                    "{service} refused {what}: not authorized (NoAuth). The nodes' ACL belongs to \
                     other credentials: check alluxio.zookeeper.auth.digest"
                ),
            },
            zk::Error::AuthFailed => ElectorError::Config {
                message: format!(
                    "{service} rejected the credentials while {what} (alluxio.zookeeper.auth.digest)"
                ),
            },
            other => ElectorError::Unavailable { service, message: format!("{what}: {other}") },
        }
    }

    /// The live session, connecting (again) when there is none or it is over.
    async fn client(&self) -> Result<zk::Client, ElectorError> {
        let mut slot = self.session.lock().await;
        if let Some(client) = slot.as_ref() {
            if !is_over(client.state()) {
                return Ok(client.clone());
            }
        }
        let client = self.connect().await?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Forgets the session so the next call starts a new one (after its latch was lost).
    async fn abandon_session(&self, client: &zk::Client) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|c| c.session_id() == client.session_id()) {
            *slot = None;
        }
    }

    async fn connect(&self) -> Result<zk::Client, ElectorError> {
        let settings = &self.settings;
        let mut connector = zk::Client::connector()
            .with_session_timeout(settings.session_timeout)
            .with_connection_timeout(settings.connection_timeout);
        if let Some(digest) = &settings.digest {
            connector = connector.with_auth("digest", digest.as_bytes());
        }
        let client = match tokio::time::timeout(
            settings.connection_timeout,
            connector.connect(&settings.hosts),
        )
        .await
        {
            Ok(result) => result.map_err(|e| self.error("connecting", e))?,
            Err(_) => {
                return Err(ElectorError::Unavailable {
                    service: settings.describe(),
                    message: format!(
                        "no server answered within {}ms (alluxio.zookeeper.connection.timeout); \
                         check alluxio.zookeeper.address",
                        settings.connection_timeout.as_millis()
                    ),
                })
            }
        };
        let Some(chroot) = &settings.chroot else {
            return Ok(client);
        };
        // ZooKeeper does not create a chroot; Lode does, so a new site needs no manual step.
        let options = zk::CreateMode::Persistent.with_acls(self.acls());
        client
            .mkdir(chroot, &options)
            .await
            .map_err(|e| self.error(&format!("creating the chroot {chroot}"), e))?;
        client.chroot(chroot.as_str()).map_err(|_| ElectorError::Config {
            message: format!("alluxio.zookeeper.address has a bad chroot `{chroot}`"),
        })
    }

    /// Retries `lookup` on connection trouble, `alluxio.zookeeper.leader.inquiry.retry` times.
    async fn with_inquiry_retry<T, F, Fut>(&self, lookup: F) -> Result<T, ElectorError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ElectorError>>,
    {
        let mut pause = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            match lookup().await {
                Err(ElectorError::Unavailable { .. }) if attempt < self.settings.inquiry_retry => {
                    attempt += 1;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                outcome => return outcome,
            }
        }
    }

    /// The newest child of the leader path, as Alluxio clients pick it.
    async fn current_leader(&self, client: &zk::Client) -> Result<Option<Member>, ElectorError> {
        let path = &self.settings.leader_path;
        let children = match client.list_children(path).await {
            Ok(children) => children,
            Err(zk::Error::NoNode) => return Ok(None),
            Err(e) => return Err(self.error("listing the leader path", e)),
        };
        newest_child(client, path, children).await.map_err(|e| self.error("reading the leader", e))
    }

    /// Publishes `me` as leader: replaces any node of the same address a previous session of
    /// this address left behind, then creates ours, ephemeral.
    async fn publish(&self, client: &zk::Client, me: &Member) -> Result<String, ElectorError> {
        let node = format!("{}/{}", self.settings.leader_path, me.address);
        let options = zk::CreateMode::Ephemeral.with_acls(self.acls());
        let parents = zk::CreateMode::Persistent.with_acls(self.acls());
        client
            .mkdir(&self.settings.leader_path, &parents)
            .await
            .map_err(|e| self.error("creating the leader path", e))?;
        loop {
            match client.delete(&node, None).await {
                Ok(()) | Err(zk::Error::NoNode) => {}
                Err(e) => return Err(self.error(&format!("removing the stale {node}"), e)),
            }
            match client.create(&node, me.id.as_bytes(), &options).await {
                Ok(_) => return Ok(node),
                Err(zk::Error::NodeExists) => continue,
                Err(e) => return Err(self.error(&format!("creating {node}"), e)),
            }
        }
    }

    /// Starts the task that keeps `keeper`'s lease confirmed while the latch is ours.
    fn start_monitor(&self, client: zk::Client, latch: String, keeper: LeaseKeeper, term: u64) {
        let settings = self.settings.clone();
        tokio::spawn(async move {
            let outcome = monitor(&client, &latch, &keeper, &settings).await;
            if !keeper.is_lost() {
                tracing::warn!(term, reason = outcome, "zookeeper election: leadership lost");
                keeper.lose(format!("ZooKeeper: {outcome}"));
            }
        });
    }
}

/// What a disconnection does to the leadership: ends it under Alluxio's STANDARD connection
/// error policy (`Err` with the reason), else puts it in doubt until the session returns.
fn disconnected(keeper: &LeaseKeeper, settings: &Settings) -> Result<(), &'static str> {
    if settings.lose_on_disconnect {
        return Err("disconnected (connection error policy STANDARD)");
    }
    tracing::warn!("zookeeper election: disconnected; leadership in doubt");
    keeper.doubt();
    Ok(())
}

/// Confirms the latch now; `Err` with a reason when the leadership is over.
async fn confirm(
    client: &zk::Client,
    latch: &str,
    keeper: &LeaseKeeper,
    settings: &Settings,
) -> Result<(), &'static str> {
    let sent = monotonic_nanos();
    let lease = settings.lease(client.session_timeout());
    // A check can wait on a server that went away. Watch the session meanwhile: a disconnection
    // must put the leadership in doubt at once, and the monitor, busy here, would only see the
    // state the session is in when the check returns (connected again, perhaps).
    let mut states = client.state_watcher();
    let disconnection = async { while states.changed().await != zk::SessionState::Disconnected {} };
    let checked = tokio::select! {
        checked = tokio::time::timeout(lease, client.check_stat(latch)) => checked,
        () = disconnection => return disconnected(keeper, settings),
    };
    match checked {
        Ok(Ok(Some(stat))) if stat.ephemeral_owner == client.session_id().0 => {
            keeper.confirm(sent + lease.as_nanos() as u64);
            Ok(())
        }
        Ok(Ok(_)) => Err("our latch node is gone"),
        Ok(Err(zk::Error::SessionExpired)) => Err("the session expired"),
        Ok(Err(zk::Error::ClientClosed)) => Err("the session was closed"),
        // Connection trouble: no confirmation, so the lease runs out on its own.
        Ok(Err(_)) | Err(_) => Ok(()),
    }
}

/// Watches the session and confirms the latch until the leadership ends; returns why.
async fn monitor(
    client: &zk::Client,
    latch: &str,
    keeper: &LeaseKeeper,
    settings: &Settings,
) -> &'static str {
    let mut states = client.state_watcher();
    // Three tries per lease.
    let mut ticks = tokio::time::interval(settings.lease(client.session_timeout()) / 3);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if keeper.is_lost() {
            return "resigned";
        }
        tokio::select! {
            state = states.changed() => match state {
                zk::SessionState::Disconnected => {
                    if let Err(reason) = disconnected(keeper, settings) {
                        return reason;
                    }
                }
                zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                    if let Err(reason) = confirm(client, latch, keeper, settings).await {
                        return reason;
                    }
                    tracing::info!("zookeeper election: reconnected; leadership confirmed");
                }
                zk::SessionState::Expired => return "the session expired",
                zk::SessionState::AuthFailed => return "authentication failed",
                zk::SessionState::Closed => return "the session was closed",
            },
            _ = ticks.tick() => {
                if let Err(reason) = confirm(client, latch, keeper, settings).await {
                    return reason;
                }
            }
        }
    }
}

/// The member a leader-path child names; the newest by creation wins (Alluxio's rule).
async fn newest_child(
    client: &zk::Client,
    path: &str,
    children: Vec<String>,
) -> Result<Option<Member>, zk::Error> {
    let mut newest: Option<((i64, i64), Member)> = None;
    for child in children {
        let (data, stat) = match client.get_data(&format!("{path}/{child}")).await {
            Ok(found) => found,
            Err(zk::Error::NoNode) => continue, // Gone since the listing.
            Err(e) => return Err(e),
        };
        let created = (stat.ctime, stat.czxid);
        if newest.as_ref().is_none_or(|(seen, _)| created > *seen) {
            let id = String::from_utf8_lossy(&data).into_owned();
            newest = Some((created, Member { id, address: child }));
        }
    }
    Ok(newest.map(|(_, member)| member))
}

/// The term: the latch node's sequence number (unique, and higher for every later leader).
fn term_of(latch: &str) -> u64 {
    let digits = latch.len() - latch.bytes().rev().take_while(u8::is_ascii_digit).count();
    latch[digits..].parse().unwrap_or(0)
}

#[async_trait]
impl LeaderElector for ZooKeeperElector {
    async fn campaign(&self, me: &Member) -> Result<Leadership, ElectorError> {
        let client = self.client().await?;
        let parents = zk::CreateMode::Persistent.with_acls(self.acls());
        let options = zk::LockOptions::new(self.acls())
            .with_ancestor_options(parents)
            .map_err(|e| self.error("preparing the latch", e))?;
        let prefix = zk::LockPrefix::new_curator(&self.settings.election_path, "lock-")
            .map_err(|e| self.error("preparing the latch", e))?;
        let latch = match client.lock(prefix, me.address.as_bytes(), options).await {
            Ok(latch) => latch.into_owned(),
            Err(e) => {
                if matches!(e, zk::Error::SessionExpired) {
                    self.abandon_session(&client).await;
                }
                return Err(self.error("joining the election", e));
            }
        };
        let latch_path = latch.lock_path().to_string();
        let term = term_of(&latch_path);
        // The lease counts from before the check that proves the latch is ours.
        let sent = monotonic_nanos();
        match client.check_stat(&latch_path).await {
            Ok(Some(stat)) if stat.ephemeral_owner == client.session_id().0 => {}
            Ok(_) => {
                return Err(ElectorError::Unavailable {
                    service: self.settings.describe(),
                    message: "the latch was lost right after it was won".into(),
                })
            }
            Err(e) => return Err(self.error("confirming the latch", e)),
        }
        let leader_node = self.publish(&client, me).await?;
        let lease = self.settings.lease(client.session_timeout());
        let (leadership, keeper) = Leadership::new(term, sent + lease.as_nanos() as u64);
        self.start_monitor(client.clone(), latch_path, keeper, term);
        self.held.hold(term, Held { client, latch, leader_node });
        tracing::info!(term, member = %me.address, "zookeeper election: won");
        Ok(leadership)
    }

    async fn leader(&self) -> Result<Option<Member>, ElectorError> {
        self.with_inquiry_retry(|| async {
            let client = self.client().await?;
            self.current_leader(&client).await
        })
        .await
    }

    fn watch_leader(&self) -> watch::Receiver<Option<Member>> {
        let mut slot = self.leader_watch.lock();
        if let Some(receiver) = slot.as_ref() {
            return receiver.clone();
        }
        let (sender, receiver) = watch::channel(None);
        // Discovery runs in a session of its own, apart from the latch's.
        let watcher = Arc::new(ZooKeeperElector::new((*self.settings).clone()));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = sender.closed() => return,
                    () = watcher.follow_leader_once(&sender) => {}
                }
            }
        });
        *slot = Some(receiver.clone());
        receiver
    }

    async fn members(&self) -> Result<Vec<Member>, ElectorError> {
        // Each latch node holds its member's address (the campaign's lock data).
        let client = self.client().await?;
        let path = &self.settings.election_path;
        let children = match client.list_children(path).await {
            Ok(children) => children,
            Err(zk::Error::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(self.error("listing the election", e)),
        };
        let mut members = Vec::new();
        for child in children {
            match client.get_data(&format!("{path}/{child}")).await {
                Ok((data, _)) => members.push(Member {
                    id: child,
                    address: String::from_utf8_lossy(&data).into_owned(),
                }),
                Err(zk::Error::NoNode) => {} // Gone since the listing.
                Err(e) => return Err(self.error("reading the election", e)),
            }
        }
        Ok(members)
    }

    async fn resign(&self, leadership: &Leadership) -> Result<(), ElectorError> {
        leadership.mark_lost();
        let term = leadership.term();
        let Some(Held { client, latch, leader_node }) = self.held.take_for(term) else {
            return Ok(());
        };
        // Leader node first, so discovery never names us once a successor can exist.
        let cleanup = async {
            match client.delete(&leader_node, None).await {
                Ok(()) | Err(zk::Error::NoNode) => {}
                Err(e) => return Err(e),
            }
            match client.delete(latch.lock_path(), None).await {
                Ok(()) | Err(zk::Error::NoNode) => Ok(()),
                Err(e) => Err(e),
            }
        };
        let outcome = tokio::time::timeout(CLEANUP_TIMEOUT, cleanup).await;
        drop(latch);
        match outcome {
            Ok(Ok(())) => {
                tracing::info!(term, "zookeeper election: resigned");
                Ok(())
            }
            Ok(Err(e)) => {
                // The nodes go when the session does: drop it so ZooKeeper expires it.
                self.abandon_session(&client).await;
                Err(self.error("resigning", e))
            }
            Err(_) => {
                self.abandon_session(&client).await;
                Err(ElectorError::Unavailable {
                    service: self.settings.describe(),
                    message: "resigning timed out; the latch goes when the session expires".into(),
                })
            }
        }
    }
}

impl ZooKeeperElector {
    /// One round of discovery: read the leader, publish it, wait for the leader path to change.
    async fn follow_leader_once(&self, sender: &watch::Sender<Option<Member>>) {
        let round = async {
            let client = self.client().await?;
            let path = &self.settings.leader_path;
            let (children, _, watcher) = match client.get_and_watch_children(path).await {
                Ok(found) => found,
                Err(zk::Error::NoNode) => {
                    // No leader path yet: wait for it to appear.
                    sender.send_if_modified(|current| current.take().is_some());
                    match client.check_and_watch_stat(path).await {
                        Ok((None, watcher)) => {
                            watcher.changed().await;
                            return Ok(());
                        }
                        Ok((Some(_), _)) => return Ok(()), // Created meanwhile: list it.
                        Err(e) => return Err(self.error("watching the leader path", e)),
                    }
                }
                Err(e) => return Err(self.error("watching the leader path", e)),
            };
            let found = newest_child(&client, path, children)
                .await
                .map_err(|e| self.error("reading the leader", e))?;
            sender.send_if_modified(|current| {
                let changed = *current != found;
                *current = found;
                changed
            });
            watcher.changed().await;
            Ok::<(), ElectorError>(())
        };
        if let Err(error) = round.await {
            tracing::debug!(%error, "zookeeper discovery will retry");
            tokio::time::sleep(WATCH_RETRY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_term_is_the_latch_sequence() {
        assert_eq!(term_of("/alluxio/election/_c_1b4e-9f-lock-0000000042"), 42);
        assert_eq!(term_of("/x/_c_abc-lock-0000000000"), 0);
    }
}
