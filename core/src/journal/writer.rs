//! The leader's group-commit writer. Mutations queue while one `put_if_absent` is in flight;
//! the next batch takes everything queued (bounded by entries and bytes), after letting the
//! callers the last batch answered come back (see `CommitLoop::run`). A caller is
//! answered only after its batch is durable, its slot is live, and the leader's lease is still
//! valid.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};

use super::format::{self, Batch, Codec, Entry, OpId};
use super::{Append, Journal, JournalError, StateMachine};
use crate::elector::Leadership;

/// The longest a batch waits for callers to come back (see `CommitLoop::run`); at most a quarter
/// of the last put's latency, so a slow store never adds more than a quarter to anyone's wait.
const MAX_LINGER: Duration = Duration::from_millis(5);

/// How many times a batch yields to the callers the last batch answered before it is written
/// (see `CommitLoop::run`). Measured on a local disk with 64 appenders: 50 entries per batch
/// without yielding, 62.5 with one yield, all 64 with four.
const YIELDS_TO_CALLERS: usize = 4;

/// Puts faster than this do not wait for callers: the timer's millisecond resolution would turn
/// a wait of a fraction of the put into a whole millisecond whenever a caller is late, which
/// measured as a loss on a local disk (0.2–0.8 ms puts). Remote stores (HDFS, S3) are slower.
const MIN_PUT_TO_LINGER: Duration = Duration::from_millis(4);

type ReplySender<S> = oneshot::Sender<Result<<S as StateMachine>::Reply, JournalError>>;

struct Request<S: StateMachine> {
    id: Option<OpId>,
    op: S::Op,
    reply: ReplySender<S>,
}

/// Appends mutations to the journal as the leader. Cheap to clone.
pub struct JournalWriter<S: StateMachine> {
    requests: mpsc::Sender<Request<S>>,
    deposed: watch::Receiver<Option<JournalError>>,
    leadership: Leadership,
    term: u64,
}

impl<S: StateMachine> Clone for JournalWriter<S> {
    fn clone(&self) -> Self {
        JournalWriter {
            requests: self.requests.clone(),
            deposed: self.deposed.clone(),
            leadership: self.leadership.clone(),
            term: self.term,
        }
    }
}

impl<S: StateMachine> JournalWriter<S> {
    /// Starts the commit loop of a leader whose marker of journal term `term` landed.
    pub(crate) fn start(journal: Arc<Journal<S>>, leadership: Leadership, term: u64) -> Self {
        let (requests, receiver) = mpsc::channel(65_536);
        let (deposed_sender, deposed) = watch::channel(None);
        let task =
            CommitLoop { journal, leadership: leadership.clone(), term, deposed: deposed_sender };
        tokio::spawn(task.run(receiver));
        JournalWriter { requests, deposed, leadership, term }
    }

    /// Journals `op` and returns its reply once durable. With an `id`, a call that was already
    /// journaled (a retry) returns the first reply instead of applying again.
    pub async fn submit(&self, id: Option<OpId>, op: S::Op) -> Result<S::Reply, JournalError> {
        if let Some(error) = self.deposed.borrow().clone() {
            return Err(error);
        }
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request { id, op, reply }).await.map_err(|_| self.stopped_error())?;
        // A put can outlive the leadership by as long as the store takes (a hung disk, up to
        // the flush timeout): answer the caller when the leadership ends rather than then, so
        // it retries at the new leader at once. Whatever the put does later, the fence decides.
        tokio::select! {
            biased;
            answer = answer => answer.map_err(|_| self.stopped_error())?,
            () = self.leadership.lost() => Err(JournalError::Abandoned {
                reason: self.leadership.lost_reason().unwrap_or_default(),
            }),
        }
    }

    fn stopped_error(&self) -> JournalError {
        self.deposed.borrow().clone().unwrap_or(JournalError::Closed)
    }

    /// The leadership this writer writes under.
    pub fn leadership(&self) -> &Leadership {
        &self.leadership
    }

    /// The term of its batches in the journal: the elector's term, or one above the newest term
    /// applied if the elector counts lower (see [`Journal::take_over`]).
    pub fn term(&self) -> u64 {
        self.term
    }

    /// Resolves when the writer stops for good (deposed or failed), with the reason.
    pub async fn stopped(&self) -> JournalError {
        let mut deposed = self.deposed.clone();
        let reason = match deposed.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone(),
            Err(_) => None,
        };
        reason.unwrap_or(JournalError::Closed)
    }
}

struct CommitLoop<S: StateMachine> {
    journal: Arc<Journal<S>>,
    leadership: Leadership,
    term: u64,
    deposed: watch::Sender<Option<JournalError>>,
}

/// One batch being assembled: the entries, and who waits for which entry.
struct Pending<S: StateMachine> {
    entries: Vec<Entry<S::Op>>,
    /// Per entry, the callers waiting for its reply (a retry of an in-batch id joins).
    waiters: Vec<Vec<ReplySender<S>>>,
    by_id: HashMap<OpId, usize>,
    bytes: usize,
}

impl<S: StateMachine> Pending<S> {
    fn new() -> Self {
        Pending { entries: Vec::new(), waiters: Vec::new(), by_id: HashMap::new(), bytes: 0 }
    }

    fn add(&mut self, journal: &Journal<S>, request: Request<S>) {
        if let Some(id) = request.id {
            if let Some(reply) = journal.replica.read().dedup().get(&id) {
                let _ = request.reply.send(Ok(reply.clone()));
                return;
            }
            if let Some(&index) = self.by_id.get(&id) {
                self.waiters[index].push(request.reply);
                return;
            }
            self.by_id.insert(id, self.entries.len());
        }
        // Entry framing (length, tag, operation id) plus the payload.
        self.bytes += request.op.encoded_len() + 25;
        self.entries.push(Entry::Op { id: request.id, payload: request.op });
        self.waiters.push(vec![request.reply]);
    }
}

fn fail_all<S: StateMachine>(waiters: Vec<Vec<ReplySender<S>>>, error: &JournalError) {
    for waiter in waiters.into_iter().flatten() {
        let _ = waiter.send(Err(error.clone()));
    }
}

impl<S: StateMachine> CommitLoop<S> {
    async fn run(self, mut receiver: mpsc::Receiver<Request<S>>) {
        let settings = self.journal.settings().clone();
        // How many callers took part in the last round (answered plus already queued), and how
        // long its put took: they bound the wait for callers below.
        let (mut callers, mut last_put) = (0usize, Duration::ZERO);
        loop {
            let first = match receiver.recv().await {
                Some(request) => request,
                None => return, // Every writer handle is gone.
            };
            let mut pending = Pending::new();
            pending.add(&self.journal, first);
            let full = |pending: &Pending<S>| {
                pending.entries.len() >= settings.batch_max_entries
                    || pending.bytes >= settings.batch_max_bytes
            };
            while !full(&pending) {
                match receiver.try_recv() {
                    Ok(request) => pending.add(&self.journal, request),
                    Err(_) => break,
                }
            }
            // Callers answered by the last put come straight back with their next mutation.
            // Without waiting for them, a closed loop of N callers splits into two halves that
            // alternate (one queues while the other's put is in flight), and every put carries
            // N/2. So wait briefly until as many callers as last round are queued: one put then
            // carries them all. A lone caller never waits (it is the whole round). First yield
            // to them a few times: those woken on this thread run before this loop resumes, at
            // a cost of microseconds, and the others meanwhile run on theirs.
            for _ in 0..YIELDS_TO_CALLERS {
                if pending.entries.len() >= callers || full(&pending) {
                    break;
                }
                tokio::task::yield_now().await;
                while !full(&pending) {
                    match receiver.try_recv() {
                        Ok(request) => pending.add(&self.journal, request),
                        Err(_) => break,
                    }
                }
            }
            // Callers of a remote client come back over the network: after a slow put, wait
            // for them too, a fraction of the put.
            let linger = if last_put >= MIN_PUT_TO_LINGER {
                (last_put / 4).min(MAX_LINGER)
            } else {
                Duration::ZERO
            };
            let deadline = Instant::now() + linger;
            while !linger.is_zero() && pending.entries.len() < callers && !full(&pending) {
                match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(request)) => pending.add(&self.journal, request),
                    Ok(None) | Err(_) => break,
                }
            }
            if pending.entries.is_empty() {
                continue; // Everything was answered from the dedup table.
            }
            let batch = pending.entries.len();
            let started = Instant::now();
            match self.commit(pending, &receiver).await {
                Ok(queued) => {
                    last_put = started.elapsed();
                    callers = (batch + queued).min(settings.batch_max_entries);
                }
                Err(error) => {
                    tracing::warn!(%error, "journal writer stopped");
                    self.deposed.send_replace(Some(error.clone()));
                    receiver.close();
                    while let Some(request) = receiver.recv().await {
                        let _ = request.reply.send(Err(error.clone()));
                    }
                    return;
                }
            }
        }
    }

    /// Writes one batch and answers its callers; returns how many requests were queued when
    /// the batch became durable (before its callers could come back). An error means this
    /// writer must stop.
    async fn commit(
        &self,
        pending: Pending<S>,
        queue: &mpsc::Receiver<Request<S>>,
    ) -> Result<usize, JournalError> {
        let Pending { entries, waiters, .. } = pending;
        let position = self.journal.position();
        let deposed = |reason: &str| JournalError::Deposed {
            slot: position.slot,
            reason: reason.to_string(),
        };
        if !self.leadership.settled().await {
            let error = deposed("leadership lost before the write");
            fail_all::<S>(waiters, &error);
            return Err(error);
        }
        let batch =
            Batch { term: self.term, slot: position.slot, first_seq: position.seq, entries };
        let bytes = format::encode_batch(&batch);
        let started = Instant::now();
        let outcome = self.journal.append(position.slot, bytes).await;
        metrics::histogram!("lode_journal_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("lode_journal_batch_entries").record(batch.entries.len() as f64);
        let error = match outcome {
            Ok(Append::Landed) => {
                // Durable in the journal whatever happens next: apply it so this replica
                // stays in step, but answer only while the lease still holds.
                let replies = self.journal.apply(&batch)?;
                // In doubt (ZooKeeper disconnected) is not lost: wait for the elector to
                // confirm or end the leadership before answering either way.
                if !self.leadership.settled().await {
                    deposed("leadership lost during the write")
                } else {
                    let queued = queue.len();
                    for (reply, entry_waiters) in replies.into_iter().zip(waiters) {
                        for waiter in entry_waiters {
                            let _ = waiter.send(Ok(reply.clone()));
                        }
                    }
                    return Ok(queued);
                }
            }
            Ok(Append::Taken(_)) => deposed("another leader wrote this slot"),
            Ok(Append::TruncatedAway) => {
                deposed("the slot had been truncated away by a newer leader")
            }
            Err(error) => error,
        };
        fail_all::<S>(waiters, &error);
        Err(error)
    }
}
