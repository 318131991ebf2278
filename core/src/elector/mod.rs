//! `LeaderElector`: who should lead (DESIGN §2, §4). Liveness only — safety comes from the
//! journal fence — but a leader must stop serving as soon as its leadership is lost or in
//! doubt, so a [`Leadership`] carries a lease that the backend keeps renewed.

mod embedded;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::config::{name, Config};
pub use embedded::EmbeddedElector;

/// A master taking part in the election.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    /// Unique per master process (survives nothing: a restart is a new member).
    pub id: String,
    /// The `host:port` clients and workers use to reach it.
    pub address: String,
}

/// What went wrong in the elector.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ElectorError {
    /// The election service cannot be reached or answered with an error; retry later.
    #[error("election service {service} is unavailable: {message}")]
    Unavailable {
        /// The service, for messages.
        service: String,
        /// What happened.
        message: String,
    },
    /// The elector cannot be used as configured.
    #[error("{message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The state of a leadership, as its watch channel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderState {
    /// Leading, as far as the elector knows.
    Leading,
    /// The elector cannot tell right now (ZooKeeper `Disconnected`): stop serving, but the
    /// leadership may still come back as `Leading` if the elector confirms it in time.
    InDoubt,
    /// Lost for good: another member may be leading. Never returns to `Leading`.
    Lost,
}

/// Nanoseconds on the system-wide monotonic clock, comparable across processes on one host.
pub fn monotonic_nanos() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (now.tv_sec as u64) * 1_000_000_000 + now.tv_nsec as u64
}

/// The shared state between a [`Leadership`] and the backend task that renews it.
#[derive(Debug)]
struct Lease {
    valid_until: AtomicU64,
    state: watch::Sender<LeaderState>,
    /// Why it was lost, as the backend said when it declared the loss (the first one counts).
    lost_because: parking_lot::Mutex<Option<String>>,
    /// Wakes [`Leadership::lost`]'s waiters, in the order they began to wait: every caller of
    /// a leader waits on it, and a watch channel wakes its waiters in a random order, which
    /// would make the seeded simulation (`verify/`) unrepeatable.
    lost_notify: tokio::sync::Notify,
}

/// Proof of leadership for one term, returned by [`LeaderElector::campaign`].
#[derive(Debug, Clone)]
pub struct Leadership {
    term: u64,
    lease: Arc<Lease>,
}

/// The backend's side of a [`Leadership`]: it extends the lease and declares it lost.
#[derive(Debug, Clone)]
pub struct LeaseKeeper {
    lease: Arc<Lease>,
}

impl Leadership {
    /// A new leadership for `term`, valid until `valid_until` ([`monotonic_nanos`]), and the
    /// keeper the backend uses to renew it.
    pub fn new(term: u64, valid_until: u64) -> (Leadership, LeaseKeeper) {
        let (state, _) = watch::channel(LeaderState::Leading);
        let lease = Arc::new(Lease {
            valid_until: AtomicU64::new(valid_until),
            state,
            lost_because: parking_lot::Mutex::new(None),
            lost_notify: tokio::sync::Notify::new(),
        });
        (Leadership { term, lease: lease.clone() }, LeaseKeeper { lease })
    }

    /// The term: unique per leadership, increasing with each new leader.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// Whether this member may act as leader right now: not lost, and the lease has not run
    /// out. A leader checks this before answering a read and after each journal write.
    pub fn is_valid(&self) -> bool {
        *self.lease.state.borrow() == LeaderState::Leading
            && monotonic_nanos() < self.lease.valid_until.load(Ordering::Acquire)
    }

    /// Until when ([`monotonic_nanos`]) the latest confirmation keeps it valid.
    pub fn valid_until(&self) -> u64 {
        self.lease.valid_until.load(Ordering::Acquire)
    }

    /// Watches the state: `Leading` and `InDoubt` may alternate; `Lost` is final.
    pub fn watch(&self) -> watch::Receiver<LeaderState> {
        self.lease.state.subscribe()
    }

    /// Whether the elector currently reports this leadership in doubt.
    pub fn is_in_doubt(&self) -> bool {
        *self.lease.state.borrow() == LeaderState::InDoubt
    }

    /// Waits until the leadership is either valid again (`true`) or lost (`false`). A writer
    /// whose put landed while leadership was in doubt uses it to decide whether to answer.
    /// Backends guarantee that doubt ends: they confirm or lose within their session bound.
    pub async fn settled(&self) -> bool {
        let mut watch = self.watch();
        loop {
            if self.is_valid() {
                return true;
            }
            if *watch.borrow_and_update() == LeaderState::Lost {
                return false;
            }
            // A renewal extends the lease without a state change, so look again shortly.
            let _ = tokio::time::timeout(POLL_INTERVAL, watch.changed()).await;
        }
    }

    /// Marks this leadership lost for good (after resigning it).
    pub fn mark_lost(&self) {
        LeaseKeeper { lease: self.lease.clone() }.lose("it was resigned");
    }

    /// Why the leadership was lost, in the backend's words (`None` while it is not lost), for
    /// status pages: an operator asking why a master stepped down gets the elector's reason.
    pub fn lost_reason(&self) -> Option<String> {
        self.lease.lost_because.lock().clone()
    }

    /// Resolves when leadership is lost.
    pub async fn lost(&self) {
        let notified = self.lease.lost_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable(); // Waiting from here on: a loss after the check wakes us.
        if *self.lease.state.borrow() != LeaderState::Lost {
            notified.await;
        }
    }
}

impl LeaseKeeper {
    /// Extends the lease to `valid_until` ([`monotonic_nanos`]).
    pub fn renew(&self, valid_until: u64) {
        self.lease.valid_until.fetch_max(valid_until, Ordering::AcqRel);
    }

    /// The current end of the lease.
    pub fn valid_until(&self) -> u64 {
        self.lease.valid_until.load(Ordering::Acquire)
    }

    /// Puts the leadership in doubt: it stops counting as valid until [`LeaseKeeper::confirm`].
    pub fn doubt(&self) {
        self.lease.state.send_if_modified(|state| {
            let changed = *state == LeaderState::Leading;
            if changed {
                *state = LeaderState::InDoubt;
            }
            changed
        });
    }

    /// Confirms the leadership until `valid_until` ([`monotonic_nanos`]) and ends any doubt;
    /// a lost leadership stays lost.
    pub fn confirm(&self, valid_until: u64) {
        self.renew(valid_until);
        self.lease.state.send_if_modified(|state| {
            let changed = *state == LeaderState::InDoubt;
            if changed {
                *state = LeaderState::Leading;
            }
            changed
        });
    }

    /// Declares the leadership lost, for good, saying why (`"the session expired"`): the
    /// master shows the first reason given as the reason it stepped down.
    pub fn lose(&self, reason: impl Into<String>) {
        self.lease.lost_because.lock().get_or_insert_with(|| reason.into());
        self.lease.valid_until.store(0, Ordering::Release);
        self.lease.state.send_replace(LeaderState::Lost);
        self.lease.lost_notify.notify_waiters();
    }

    /// Whether it was declared lost.
    pub fn is_lost(&self) -> bool {
        *self.lease.state.borrow() == LeaderState::Lost
    }
}

/// What a backend holds while it leads (its lock, its session, its key), filed under the
/// term: resigning an older leadership must never release a newer one's.
#[derive(Debug)]
pub struct HeldByTerm<T> {
    slot: parking_lot::Mutex<Option<(u64, T)>>,
}

impl<T> Default for HeldByTerm<T> {
    fn default() -> Self {
        HeldByTerm { slot: parking_lot::Mutex::new(None) }
    }
}

impl<T> HeldByTerm<T> {
    /// Holds `value` for `term`, returning whatever was held before.
    pub fn hold(&self, term: u64, value: T) -> Option<T> {
        self.slot.lock().replace((term, value)).map(|(_, old)| old)
    }

    /// Takes what is held for exactly `term`; anything else stays.
    pub fn take_for(&self, term: u64) -> Option<T> {
        let mut slot = self.slot.lock();
        match slot.take() {
            Some((held, value)) if held == term => Some(value),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Takes whatever is held.
    pub fn take(&self) -> Option<T> {
        self.slot.lock().take().map(|(_, value)| value)
    }
}

/// Leader election and discovery.
#[async_trait]
pub trait LeaderElector: Send + Sync + fmt::Debug {
    /// Waits until `me` becomes leader. The returned leadership stays valid while the backend
    /// keeps confirming it; watch it and stop serving the moment it is lost.
    async fn campaign(&self, me: &Member) -> Result<Leadership, ElectorError>;

    /// The current leader, if any (discovery for standbys, workers and clients).
    async fn leader(&self) -> Result<Option<Member>, ElectorError>;

    /// A channel that follows the current leader.
    fn watch_leader(&self) -> watch::Receiver<Option<Member>>;

    /// Gives leadership up at once so that a standby takes over without waiting for a lease
    /// to lapse (used on SIGTERM).
    async fn resign(&self, leadership: &Leadership) -> Result<(), ElectorError>;

    /// Every member campaigning right now, leader and standbys, for status pages and
    /// `masterInfo`. Electors that cannot list them return none (the default), and callers
    /// fall back to `alluxio.master.rpc.addresses`.
    async fn members(&self) -> Result<Vec<Member>, ElectorError> {
        Ok(Vec::new())
    }
}

/// A leader elector implementation, registered with `inventory::submit!`.
pub struct LeaderElectorBackend {
    /// The backend's one name (`alluxio.master.election.type` value).
    pub name: &'static str,
    /// One line for `lode conf` and error messages.
    pub description: &'static str,
    /// Creates an elector from configuration, validating without I/O.
    pub open: fn(&Config) -> Result<Arc<dyn LeaderElector>, ElectorError>,
}

inventory::collect!(LeaderElectorBackend);

/// Every elector linked into this binary, sorted by name.
pub fn registered() -> Vec<&'static LeaderElectorBackend> {
    let mut all: Vec<_> = inventory::iter::<LeaderElectorBackend>.into_iter().collect();
    all.sort_by_key(|backend| backend.name);
    all
}

/// The elector the configuration selects: `zookeeper` when `alluxio.zookeeper.enabled`, else
/// `alluxio.master.election.type`.
pub fn selected_name(config: &Config) -> String {
    if config.bool(name::ZOOKEEPER_ENABLED) {
        "zookeeper".into()
    } else {
        config.string(name::MASTER_ELECTION_TYPE).unwrap_or("embedded").to_ascii_lowercase()
    }
}

/// Whether the selected elector is an election service reachable from any host (ZooKeeper,
/// etcd, ...) rather than the embedded one, which only masters on its host can use. Clients
/// and workers of a service need only its address, as Alluxio's guide says.
pub fn is_service(config: &Config) -> bool {
    selected_name(config) != "embedded"
}

/// Opens the elector the configuration selects.
pub fn open(config: &Config) -> Result<Arc<dyn LeaderElector>, ElectorError> {
    let wanted = selected_name(config);
    let backend =
        registered().into_iter().find(|backend| backend.name == wanted).ok_or_else(|| {
            let names: Vec<&str> = registered().iter().map(|b| b.name).collect();
            ElectorError::Config {
                message: format!(
                    "no leader elector named `{wanted}` is linked into this binary; registered: \
                     {}. Build with the cargo feature of the backend you need.",
                    names.join(", ")
                ),
            }
        })?;
    (backend.open)(config)
}

/// Sleeps between polls of a local resource.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zookeeper_enabled_selects_zookeeper_and_says_what_is_linked() {
        let config = Config::from_pairs([(name::ZOOKEEPER_ENABLED, "true")]).unwrap();
        assert_eq!(selected_name(&config), "zookeeper");
        let err = open(&config).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no leader elector named `zookeeper` is linked into this binary; registered: \
             embedded. Build with the cargo feature of the backend you need."
        );
    }

    #[test]
    fn held_values_are_released_only_for_their_own_term() {
        let held = HeldByTerm::default();
        assert_eq!(held.hold(4, "lock-4"), None);
        assert_eq!(held.take_for(3), None, "an older term's resign releases nothing");
        assert_eq!(held.take_for(4), Some("lock-4"));
        assert_eq!(held.take(), None);
    }

    #[test]
    fn a_lost_lease_is_never_valid_again() {
        let (leadership, keeper) = Leadership::new(7, monotonic_nanos() + 1_000_000_000);
        assert!(leadership.is_valid());
        assert_eq!(leadership.lost_reason(), None);
        keeper.lose("the session expired");
        keeper.lose("a later reason");
        assert_eq!(leadership.lost_reason().as_deref(), Some("the session expired"));
        keeper.renew(u64::MAX);
        assert!(!leadership.is_valid());
        assert_eq!(leadership.term(), 7);
    }

    #[tokio::test]
    async fn a_doubted_lease_is_invalid_until_confirmed_and_lost_is_final() {
        let (leadership, keeper) = Leadership::new(3, monotonic_nanos() + 1_000_000_000);
        keeper.doubt();
        assert!(!leadership.is_valid());
        assert!(leadership.is_in_doubt());
        let waiter = tokio::spawn({
            let leadership = leadership.clone();
            async move { leadership.settled().await }
        });
        keeper.confirm(monotonic_nanos() + 1_000_000_000);
        assert!(waiter.await.unwrap(), "a confirmed leadership settles as valid");
        assert!(leadership.is_valid());

        keeper.doubt();
        let waiter = tokio::spawn({
            let leadership = leadership.clone();
            async move { leadership.settled().await }
        });
        keeper.lose("lost in doubt");
        assert!(!waiter.await.unwrap(), "a lost leadership settles as lost");
        keeper.confirm(u64::MAX);
        assert!(!leadership.is_valid(), "confirming cannot revive a lost leadership");
    }
}
