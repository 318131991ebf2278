//! The `embedded` elector: masters on one host elect a leader through a shared directory.
//!
//! Each term `N` has two files: `term-N.lock`, which the leader of term N holds with `flock`
//! for as long as it leads, and `term-N.lease`, which it rewrites with a heartbeat on the
//! system-wide monotonic clock. A standby takes term N+1 when term N is over:
//! - the lock is free — its holder died and the OS released it — so failover is immediate;
//! - or the heartbeat is older than the lease timeout — its holder hangs (SIGSTOP, a stall).
//!
//! Why a hung leader cannot keep leading: it counts itself valid only until its heartbeat plus
//! half the lease timeout and never renews once past that, so by the time any standby sees the
//! heartbeat as stale the old leader's own lease is over. A heartbeat write that was delayed
//! (taken before the standby looked, landed after) is caught from both sides: the new leader
//! re-reads the old heartbeat after landing its own lease and withdraws if it moved, and the
//! old leader looks for a higher term after every heartbeat and steps down if it finds one.
//! The journal fence keeps a woken-up old leader harmless even so.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind as IoKind;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::watch;

use super::{
    monotonic_nanos, ElectorError, LeaderElector, LeaderElectorBackend, Leadership, LeaseKeeper,
    Member, POLL_INTERVAL,
};
use crate::config::{name, Config};

inventory::submit! {
    LeaderElectorBackend {
        name: "embedded",
        description: "masters on one host: a flock the OS releases when the leader dies, plus a \
                      renewed lease that replaces a hung leader",
        open: |config: &Config| {
            let dir = config
                .require(name::MASTER_ELECTION_EMBEDDED_DIR, "the embedded elector needs a directory")
                .map_err(|e| ElectorError::Config { message: e.to_string() })?;
            let timeout = config
                .duration(name::MASTER_ELECTION_LEASE_TIMEOUT)
                .unwrap_or(Duration::from_secs(3));
            Ok(Arc::new(EmbeddedElector::new(dir, timeout)?) as Arc<dyn LeaderElector>)
        },
    }
}

/// The single-host elector described in the module docs.
#[derive(Debug)]
pub struct EmbeddedElector {
    dir: PathBuf,
    lease_timeout: Duration,
    /// The lock file of the term this process leads, kept open to hold the flock.
    held: Arc<Mutex<Option<(u64, File)>>>,
    leader_watch: Mutex<Option<watch::Receiver<Option<Member>>>>,
}

/// The content of a `term-N.lease` file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LeaseRecord {
    member: Member,
    heartbeat: u64,
}

impl LeaseRecord {
    fn encode(&self) -> String {
        format!("{}\n{}\n{}\n", self.member.id, self.member.address, self.heartbeat)
    }

    fn decode(text: &str) -> Option<LeaseRecord> {
        let mut lines = text.lines();
        let id = lines.next()?.to_string();
        let address = lines.next()?.to_string();
        let heartbeat = lines.next()?.parse().ok()?;
        Some(LeaseRecord { member: Member { id, address }, heartbeat })
    }
}

impl EmbeddedElector {
    /// An elector over `dir` (created if missing); `lease_timeout` is how long a silent leader
    /// keeps its term.
    pub fn new(dir: impl Into<PathBuf>, lease_timeout: Duration) -> Result<Self, ElectorError> {
        let dir = dir.into();
        if lease_timeout < Duration::from_millis(100) {
            return Err(ElectorError::Config {
                message: format!(
                    "{} must be at least 100ms, got {}ms",
                    name::MASTER_ELECTION_LEASE_TIMEOUT,
                    lease_timeout.as_millis()
                ),
            });
        }
        Ok(EmbeddedElector {
            dir,
            lease_timeout,
            held: Arc::new(Mutex::new(None)),
            leader_watch: Mutex::new(None),
        })
    }

    fn unavailable(&self, what: &str, e: std::io::Error) -> ElectorError {
        ElectorError::Unavailable {
            service: format!("embedded election in {}", self.dir.display()),
            message: format!("{what}: {e}"),
        }
    }

    /// How long a leader counts itself valid after a heartbeat (see the module docs).
    fn validity(&self) -> u64 {
        self.lease_timeout.as_nanos() as u64 / 2
    }
}

/// Everything that touches the directory; blocking and cheap, run on a blocking thread.
#[derive(Debug, Clone)]
struct Directory {
    dir: PathBuf,
    lease_timeout_nanos: u64,
}

/// What a campaign round found.
enum Round {
    Won { term: u64, lock: File, heartbeat: u64 },
    Wait,
}

impl Directory {
    fn lock_path(&self, term: u64) -> PathBuf {
        self.dir.join(format!("term-{term:020}.lock"))
    }

    fn lease_path(&self, term: u64) -> PathBuf {
        self.dir.join(format!("term-{term:020}.lease"))
    }

    /// The highest term with a lease file: the current or latest term (0: none yet).
    fn highest_term(&self) -> std::io::Result<u64> {
        let mut highest = 0;
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(term) = name
                .strip_prefix("term-")
                .and_then(|rest| rest.strip_suffix(".lease"))
                .and_then(|digits| digits.parse::<u64>().ok())
            {
                highest = highest.max(term);
            }
        }
        Ok(highest)
    }

    fn read_lease(&self, term: u64) -> std::io::Result<Option<LeaseRecord>> {
        match fs::read_to_string(self.lease_path(term)) {
            Ok(text) => Ok(LeaseRecord::decode(&text)),
            Err(e) if e.kind() == IoKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_lease(&self, term: u64, record: &LeaseRecord) -> std::io::Result<()> {
        let temp = self.dir.join(format!(".term-{term:020}.lease.{}", uuid::Uuid::new_v4()));
        fs::write(&temp, record.encode())?;
        fs::rename(&temp, self.lease_path(term))
    }

    /// Takes the flock of `term` without waiting; `None` when another process holds it.
    fn try_lock(&self, term: u64) -> std::io::Result<Option<File>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_path(term))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(file)),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether `term` is over, and the heartbeat that the decision rests on.
    fn is_over(&self, term: u64) -> std::io::Result<(bool, Option<u64>)> {
        if term == 0 {
            return Ok((true, None));
        }
        let record = self.read_lease(term)?;
        let heartbeat = record.as_ref().map(|r| r.heartbeat);
        if self.try_lock(term)?.is_some() {
            return Ok((true, heartbeat)); // The holder is gone; the OS released its lock.
        }
        let stale = match heartbeat {
            Some(beat) => monotonic_nanos().saturating_sub(beat) > self.lease_timeout_nanos,
            None => false,
        };
        Ok((stale, heartbeat))
    }

    fn campaign_round(&self, me: &Member) -> std::io::Result<Round> {
        let current = self.highest_term()?;
        let (over, seen) = self.is_over(current)?;
        if !over {
            return Ok(Round::Wait);
        }
        let next = current + 1;
        let Some(lock) = self.try_lock(next)? else {
            return Ok(Round::Wait);
        };
        if self.highest_term()? != current {
            return Ok(Round::Wait);
        }
        let heartbeat = monotonic_nanos();
        self.write_lease(next, &LeaseRecord { member: me.clone(), heartbeat })?;
        if current > 0 && self.read_lease(current)?.map(|r| r.heartbeat) != seen {
            // The old leader renewed after we looked: it is alive. Withdraw our lease; a
            // failed cleanup just leaves a term nobody holds, which the next round passes.
            let _ = fs::remove_file(self.lease_path(next));
            return Ok(Round::Wait);
        }
        Ok(Round::Won { term: next, lock, heartbeat })
    }

    /// One renewal; `Ok(Some(reason))` means leadership is lost.
    fn renew(
        &self,
        term: u64,
        me: &Member,
        keeper: &LeaseKeeper,
        validity: u64,
    ) -> std::io::Result<Option<&'static str>> {
        let heartbeat = monotonic_nanos();
        if heartbeat >= keeper.valid_until() {
            return Ok(Some("the lease ran out before it was renewed"));
        }
        self.write_lease(term, &LeaseRecord { member: me.clone(), heartbeat })?;
        if self.highest_term()? > term {
            return Ok(Some("a newer term was started (another master took over)"));
        }
        keeper.renew(heartbeat + validity);
        Ok(None)
    }

    /// The current leader: the holder of the highest term, if its term is not over.
    fn leader(&self) -> std::io::Result<Option<Member>> {
        let term = self.highest_term()?;
        if term == 0 {
            return Ok(None);
        }
        let record = self.read_lease(term)?;
        let (over, _) = self.is_over(term)?;
        Ok(record.filter(|_| !over).map(|r| r.member))
    }

    /// Removes files of terms older than `term - 2`; they decide nothing any more.
    fn remove_old_terms(&self, term: u64) {
        for old in term.saturating_sub(8)..term.saturating_sub(2) {
            let _ = fs::remove_file(self.lease_path(old));
            let _ = fs::remove_file(self.lock_path(old));
        }
    }
}

impl EmbeddedElector {
    fn directory(&self) -> Directory {
        Directory {
            dir: self.dir.clone(),
            lease_timeout_nanos: self.lease_timeout.as_nanos() as u64,
        }
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce(&Directory) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, ElectorError> {
        let directory = self.directory();
        tokio::task::spawn_blocking(move || work(&directory))
            .await
            .map_err(|e| self.unavailable(what, std::io::Error::other(e)))?
            .map_err(|e| self.unavailable(what, e))
    }

    /// Starts the renewal thread for a won term. A plain thread rather than a task, so that a
    /// busy async runtime cannot starve the heartbeat.
    fn start_renewal(&self, term: u64, me: Member, keeper: LeaseKeeper) {
        let directory = self.directory();
        let validity = self.validity();
        let interval = self.lease_timeout / 6;
        let held = self.held.clone();
        std::thread::Builder::new()
            .name(format!("lode-lease-{term}"))
            .spawn(move || {
                directory.remove_old_terms(term);
                loop {
                    std::thread::sleep(interval);
                    if keeper.is_lost() {
                        break;
                    }
                    match directory.renew(term, &me, &keeper, validity) {
                        Ok(None) => {}
                        Ok(Some(reason)) => {
                            tracing::warn!(term, reason, "embedded election: leadership lost");
                            keeper.lose(reason);
                        }
                        // A failed write is retried; if failures outlast the lease, the check
                        // at the top of `renew` ends the leadership.
                        Err(e) => tracing::warn!(term, error = %e, "lease renewal failed"),
                    }
                }
                let mut held = held.lock();
                if held.as_ref().is_some_and(|(t, _)| *t == term) {
                    *held = None; // Closing the file releases the flock.
                }
            })
            .expect("spawning the lease renewal thread");
    }
}

#[async_trait]
impl LeaderElector for EmbeddedElector {
    async fn campaign(&self, me: &Member) -> Result<Leadership, ElectorError> {
        fs::create_dir_all(&self.dir).map_err(|e| self.unavailable("creating the directory", e))?;
        loop {
            let candidate = me.clone();
            let round =
                self.run_blocking("campaigning", move |dir| dir.campaign_round(&candidate)).await?;
            if let Round::Won { term, lock, heartbeat } = round {
                let (leadership, keeper) = Leadership::new(term, heartbeat + self.validity());
                *self.held.lock() = Some((term, lock));
                self.start_renewal(term, me.clone(), keeper);
                tracing::info!(term, member = %me.address, "embedded election: won");
                return Ok(leadership);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn leader(&self) -> Result<Option<Member>, ElectorError> {
        if !self.dir.exists() {
            return Ok(None);
        }
        self.run_blocking("looking up the leader", |dir| dir.leader()).await
    }

    fn watch_leader(&self) -> watch::Receiver<Option<Member>> {
        let mut slot = self.leader_watch.lock();
        if let Some(receiver) = slot.as_ref() {
            return receiver.clone();
        }
        let (sender, receiver) = watch::channel(None);
        let directory = self.directory();
        tokio::spawn(async move {
            while !sender.is_closed() {
                let dir = directory.clone();
                let found = tokio::task::spawn_blocking(move || dir.leader().ok().flatten())
                    .await
                    .ok()
                    .flatten();
                sender.send_if_modified(|current| {
                    let changed = *current != found;
                    *current = found;
                    changed
                });
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        *slot = Some(receiver.clone());
        receiver
    }

    async fn resign(&self, leadership: &Leadership) -> Result<(), ElectorError> {
        let term = leadership.term();
        let lock = {
            let mut held = self.held.lock();
            match held.take() {
                Some((held_term, lock)) if held_term == term => lock,
                other => {
                    *held = other;
                    leadership.mark_lost();
                    return Ok(());
                }
            }
        };
        // Make the heartbeat stale and drop the lock: standbys see the term over at once.
        let directory = self.directory();
        if let Ok(Some(mut record)) = directory.read_lease(term) {
            record.heartbeat = 0;
            let _ = directory.write_lease(term, &record);
        }
        leadership.mark_lost();
        drop(lock);
        tracing::info!(term, "embedded election: resigned");
        Ok(())
    }
}
