//! The journal protocol (DESIGN §3), written once for every [`JournalStore`]:
//!
//! ```text
//! FORMAT                          format version, cluster id, slots per log folder
//! log/<first slot>/<slot>         one batch per slot, written with put_if_absent (the fence)
//! checkpoint/<slot>               a snapshot covering every slot below <slot>, or the
//!                                 manifest of one written in parts:
//! checkpoint/<slot>.parts-<size>/<n>   part n of it (every part `size` bytes but the last)
//! ```
//!
//! A checkpoint bigger than the largest object the journal writes (the batch limit, at most
//! the store's) is written in parts, each with `put_if_absent`, and then its manifest at
//! `checkpoint/<slot>` naming their lengths and checksums: the manifest appears only when every
//! part is durable, and truncation deletes a manifest before its parts.
//!
//! Slot numbers are 20 digits. The log is spread over folders of `slots-per-folder`
//! consecutive slots (`alluxio.master.journal.log.folder.slots` when the journal is formatted,
//! then fixed by `FORMAT`), so that no folder outgrows a store's limit (HDFS refuses the
//! 1,048,577th item of a folder). Journals formatted before folders existed (`version: 1`)
//! keep their flat `log/<slot>` layout: a slot's key must never depend on who writes it, or
//! two writers would not meet at one key and the fence would be gone.
//!
//! A [`Journal`] holds a [`Replica`] and moves it forward: [`Journal::catch_up`] replays (a
//! standby), [`Journal::take_over`] lands a leader marker and returns a group-commit
//! [`JournalWriter`] (a leader). Whoever lands slot *n* decides what it means; a deposed
//! writer learns so from `AlreadyExists` and never acknowledges.
//!
//! A deposed writer may still leave a batch behind in a slot truncation had re-opened. So a
//! master that stops leading [`rebuild`](Journal::rebuild)s its replica from the newest
//! checkpoint, and replay refuses batches whose term breaks the term rule (see
//! [`Replica::apply`]): a replica that meets one reloads the newest checkpoint. The term rule
//! alone cannot tell a stale batch of the very term a lagging standby knows, so a tailer also
//! lists the checkpoints after each round of reads and loads the newest instead of any batch
//! it covers: a re-opened slot is below the newest checkpoint from the moment truncation
//! deleted it (rule found by the model checker, `verify/`).
//!
//! Every store call is bounded by the flush timeout (`alluxio.master.journal.flush.timeout`),
//! and so is a whole append with its retries: a leader whose write cannot finish in it stops
//! (its lease may still renew on other threads, so without the bound a hung disk would freeze
//! the cluster). A call that did not return is [`JournalError::Hung`] — its outcome unknown and
//! still able to change — so it is never settled by reading back, like a failed fsync.

pub mod format;
mod replica;
mod segments;
mod writer;

use std::sync::Arc;
use std::time::Duration;

// tokio's clock, not std's: deadlines then follow a paused test clock (the simulation in
// `verify/`) as well as real time.
use tokio::time::Instant;

use parking_lot::RwLock;

use crate::config::{name, Config};
use crate::elector::Leadership;
use crate::store::{ErrorKind, JournalStore, StoreError};
pub use format::{Batch, Codec, Corrupt, Entry, Manifest, OpId, PartInfo};
pub use replica::{DedupTable, OutOfOrder, Position, Replica, StateMachine};
pub use segments::segment_key;
pub use writer::JournalWriter;

const FORMAT_KEY: &str = "FORMAT";
const LOG_PREFIX: &str = "log/";
const CHECKPOINT_PREFIX: &str = "checkpoint/";
/// The `FORMAT` version of journals whose log is spread over folders.
const FOLDERS_VERSION: u16 = 2;
/// The `FORMAT` version of journals with every slot directly in `log/`, still read.
const FLAT_VERSION: u16 = 1;

/// The most slots a tailer reads before it lists the checkpoints and applies them (see
/// `Journal::apply_read`): one listing per round of reads, and at most this many batches held.
const READ_AHEAD: usize = 16;

/// Where a journal keeps its log slots: fixed by its `FORMAT` object when it is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Slots per folder of `log/`; `None` for a flat journal of format version 1.
    slots_per_folder: Option<u64>,
}

impl Layout {
    /// Slots spread over folders of `slots_per_folder` consecutive slots (at least 1).
    pub fn folders(slots_per_folder: u64) -> Layout {
        Layout { slots_per_folder: Some(slots_per_folder.max(1)) }
    }

    /// Every slot directly in `log/`: journals formatted before folders existed.
    pub fn flat() -> Layout {
        Layout { slots_per_folder: None }
    }

    /// The key of log slot `slot`.
    pub fn log_key(&self, slot: u64) -> String {
        match self.slots_per_folder {
            Some(per_folder) => format!("{}{slot:020}", self.folder_of(slot, per_folder)),
            None => format!("{LOG_PREFIX}{slot:020}"),
        }
    }

    /// The folder (`log/<first slot>/`) that holds `slot`.
    fn folder_of(&self, slot: u64, per_folder: u64) -> String {
        format!("{LOG_PREFIX}{:020}/", slot - slot % per_folder)
    }
}

/// The key of the checkpoint covering slots below `slot`.
pub fn checkpoint_key(slot: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{slot:020}")
}

/// The folder of the parts of the checkpoint at `slot` written in parts of `part_size` bytes.
fn parts_folder(slot: u64, part_size: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{slot:020}.parts-{part_size}/")
}

/// The key of part `index` in `folder`.
fn part_key(folder: &str, index: usize) -> String {
    format!("{folder}{index:08}")
}

/// What `checkpoint/` holds: checkpoint (or manifest) slots, and parts folders by slot.
#[derive(Debug, Default)]
pub(crate) struct CheckpointListing {
    pub(crate) slots: std::collections::BTreeSet<u64>,
    pub(crate) parts_folders: std::collections::BTreeSet<(u64, String)>,
}

impl CheckpointListing {
    /// Sorts listed keys; a parts folder shows as its key or as the keys of its parts.
    fn of(keys: &[String]) -> CheckpointListing {
        let mut listing = CheckpointListing::default();
        for key in keys {
            let Some(name) = key.strip_prefix(CHECKPOINT_PREFIX).and_then(|r| r.split('/').next())
            else {
                continue;
            };
            if let Ok(slot) = name.parse() {
                listing.slots.insert(slot);
            } else if let Some((slot, size)) = name.split_once(".parts-") {
                if let (Ok(slot), Ok(_)) = (slot.parse(), size.parse::<u64>()) {
                    listing.parts_folders.insert((slot, format!("{CHECKPOINT_PREFIX}{name}/")));
                }
            }
        }
        listing
    }
}

fn slot_of(key: &str, prefix: &str) -> Option<u64> {
    key.strip_prefix(prefix).and_then(|digits| digits.parse().ok())
}

/// What went wrong in the journal; every variant names the object or slot involved.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JournalError {
    /// This writer is no longer the leader: another one landed the slot, its lease ran out,
    /// or its slot had been truncated away. Nothing it did not acknowledge is durable *as its*.
    #[error("deposed at slot {slot}: {reason}")]
    Deposed {
        /// The slot it lost.
        slot: u64,
        /// How it found out.
        reason: String,
    },
    /// The leadership ended while this call's batch was still being written: the batch may
    /// or may not be in the journal. The caller retries at the new leader, with its operation
    /// id so the retry applies at most once.
    #[error("the leadership ended while this write was in flight ({reason}); it may or may not have landed: retry at the new leader")]
    Abandoned {
        /// Why the leadership ended, as the elector said.
        reason: String,
    },
    /// An object's bytes are invalid.
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
    /// An object does not fit the journal's sequence (a gap or overlap).
    #[error("journal out of order: {0}")]
    OutOfOrder(#[from] OutOfOrder),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The journal was written by an incompatible version or belongs to another cluster.
    #[error("journal format: {0}")]
    Format(String),
    /// A write could not be completed within `alluxio.master.journal.flush.timeout`.
    #[error("journal write of slot {slot} failed for {waited:?}: {last_error}")]
    Timeout {
        /// The slot.
        slot: u64,
        /// How long it tried.
        waited: Duration,
        /// The last store error.
        last_error: String,
    },
    /// A store call did not return within `alluxio.master.journal.flush.timeout` (a hung fsync,
    /// a stopped GlusterFS brick). Its outcome is unknown and may still change, so a write that
    /// hung is never settled by reading back: the writer stops and the leader resigns.
    #[error(
        "{operation} {key} in {store} did not return within {waited:?} \
         (alluxio.master.journal.flush.timeout): the store hangs; the outcome is unknown"
    )]
    Hung {
        /// `put`, `get`, `list`, ...
        operation: &'static str,
        /// The key or prefix.
        key: String,
        /// The store.
        store: String,
        /// How long it waited.
        waited: Duration,
    },
    /// The writer has stopped.
    #[error("the journal writer has stopped")]
    Closed,
}

/// Journal tuning, from configuration and the store's capabilities.
#[derive(Debug, Clone)]
pub struct JournalSettings {
    /// Most entries in one batch.
    pub batch_max_entries: usize,
    /// Most bytes in one batch object.
    pub batch_max_bytes: usize,
    /// Sleep between polls when a standby finds nothing new.
    pub poll_interval: Duration,
    /// Entries after which a caught-up standby writes a checkpoint.
    pub checkpoint_period: u64,
    /// Bytes of log after which a caught-up standby writes a checkpoint, whatever the entry
    /// count: big entries would otherwise make a long replay.
    pub checkpoint_period_bytes: u64,
    /// Slots per folder of `log/` in a journal formatted now (an existing journal keeps what
    /// its `FORMAT` says).
    pub log_folder_slots: u64,
    /// How long to keep retrying a journal write, and the longest any one store call may take
    /// before the journal calls the store hung ([`JournalError::Hung`]).
    pub flush_timeout: Duration,
    /// Sleep between retries of a failed write.
    pub retry_interval: Duration,
    /// Size of the exactly-once table.
    pub dedup_capacity: usize,
    /// Temporary objects older than this are a crashed writer's leftovers and are removed.
    pub temporary_gc_threshold: Duration,
    /// Whether a leader on a store with the `appendable` capability moves the log into
    /// segments (DESIGN §3a). Once moved, a journal stays in segments whatever this says.
    pub segments: bool,
    /// Bytes after which a leader starts a new segment.
    pub segment_roll_bytes: u64,
}

impl JournalSettings {
    /// Settings from configuration, with the store's capabilities for what is left unset.
    pub fn from_config(config: &Config, store: &dyn JournalStore) -> JournalSettings {
        let caps = store.capabilities();
        let int = |key: &str, fallback: i64| config.int(key).unwrap_or(fallback).max(1);
        let max_bytes = config
            .size(name::MASTER_JOURNAL_LOG_SIZE_BYTES_MAX)
            .unwrap_or(10 << 20)
            .min(caps.max_object_size);
        JournalSettings {
            batch_max_entries: int(name::MASTER_JOURNAL_FLUSH_BATCH_ENTRIES, 8192) as usize,
            batch_max_bytes: max_bytes.max(4096) as usize,
            poll_interval: config
                .duration(name::MASTER_JOURNAL_TAILER_SLEEP_TIME)
                .unwrap_or(caps.poll_interval),
            checkpoint_period: int(name::MASTER_JOURNAL_CHECKPOINT_PERIOD_ENTRIES, 2_000_000)
                as u64,
            checkpoint_period_bytes: config
                .size(name::MASTER_JOURNAL_CHECKPOINT_PERIOD_BYTES)
                .unwrap_or(1 << 30)
                .max(1),
            log_folder_slots: int(name::MASTER_JOURNAL_LOG_FOLDER_SLOTS, 100_000) as u64,
            flush_timeout: config
                .duration(name::MASTER_JOURNAL_FLUSH_TIMEOUT)
                .unwrap_or(Duration::from_secs(300)),
            retry_interval: config
                .duration(name::MASTER_JOURNAL_FLUSH_RETRY_INTERVAL)
                .unwrap_or(Duration::from_secs(1)),
            dedup_capacity: int(name::MASTER_JOURNAL_DEDUP_CAPACITY, 100_000) as usize,
            temporary_gc_threshold: config
                .duration(name::MASTER_JOURNAL_TEMPORARY_FILE_GC_THRESHOLD)
                .unwrap_or(Duration::from_secs(30 * 60)),
            segments: true,
            // Alluxio's "largest journal log file before a new one is started".
            segment_roll_bytes: max_bytes.max(4096),
        }
    }

    /// Defaults suited to tests and benchmarks on a local store.
    pub fn for_tests() -> JournalSettings {
        JournalSettings {
            batch_max_entries: 8192,
            batch_max_bytes: 10 << 20,
            poll_interval: Duration::from_millis(2),
            checkpoint_period: u64::MAX,
            checkpoint_period_bytes: u64::MAX,
            // Small, so that every conformance run crosses folder boundaries.
            log_folder_slots: 16,
            flush_timeout: Duration::from_secs(10),
            retry_interval: Duration::from_millis(20),
            dedup_capacity: 100_000,
            temporary_gc_threshold: Duration::from_secs(30 * 60),
            // The slot protocol's suite checks slots on every store; the segment suite turns
            // this on.
            segments: false,
            // Small, so that every segment conformance run rolls.
            segment_roll_bytes: 4096,
        }
    }

    /// [`for_tests`](Self::for_tests) with segments on appendable stores.
    pub fn for_segment_tests() -> JournalSettings {
        JournalSettings { segments: true, ..JournalSettings::for_tests() }
    }
}

/// The outcome of writing one slot.
#[derive(Debug)]
pub(crate) enum Append {
    /// Our bytes are durable in the slot, and the slot is live.
    Landed,
    /// Another writer's batch is in the slot.
    Taken(Vec<u8>),
    /// Our put landed on a slot that had been truncated away (its predecessor is gone).
    TruncatedAway,
}

/// A journal in a store, and the replica it advances.
pub struct Journal<S: StateMachine> {
    store: Arc<dyn JournalStore>,
    settings: JournalSettings,
    /// The empty state, for a replica that starts again before any checkpoint.
    initial: Box<dyn Fn() -> S + Send + Sync>,
    replica: Arc<RwLock<Replica<S>>>,
    cluster_id: String,
    layout: Layout,
    /// With folders: every log slot below this is deleted (as far as this process knows);
    /// `None` until truncation first looked.
    swept_below: parking_lot::Mutex<Option<u64>>,
    outage: parking_lot::Mutex<Option<(Instant, String)>>,
    /// The first slot of the log in segments, once known (see `segments`): a property of the
    /// journal, kept when the replica is rebuilt.
    segments_from: parking_lot::Mutex<Option<u64>>,
    /// Where a reader of the segments stands.
    cursor: parking_lot::Mutex<Option<segments::Cursor>>,
    /// The segment this journal appends to as leader.
    active: tokio::sync::Mutex<Option<segments::ActiveSegment>>,
}

/// Why the journal store is failing and for how long: what `masterInfo` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOutage {
    /// The newest error from the store.
    pub error: String,
    /// How long writes (or a standby's reads) have been failing.
    pub for_how_long: Duration,
}

impl<S: StateMachine> std::fmt::Debug for Journal<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("store", &self.store.location())
            .field("position", &self.replica.read().position())
            .finish()
    }
}

impl<S: StateMachine> Journal<S> {
    /// Opens the journal in `store`: formats it if it is new, checks its format otherwise,
    /// and loads the newest checkpoint (a corrupt one is an error naming it: better to refuse
    /// to start than to serve a partial state). `initial` is the empty state.
    pub async fn open(
        store: Arc<dyn JournalStore>,
        settings: JournalSettings,
        initial: impl Fn() -> S + Send + Sync + 'static,
    ) -> Result<Journal<S>, JournalError> {
        // Bounded like every store call: a store that hangs at start-up is an error, not a
        // master that never starts.
        let deadline = Instant::now() + settings.flush_timeout;
        let format = ensure_format(store.as_ref(), Layout::folders(settings.log_folder_slots));
        let (cluster_id, layout) =
            within(deadline, "put or get", FORMAT_KEY, store.as_ref(), format).await??;
        let replica = Arc::new(RwLock::new(Replica::new(initial(), settings.dedup_capacity)));
        let initial = Box::new(initial);
        let journal = Journal {
            store,
            settings,
            initial,
            replica,
            cluster_id,
            layout,
            swept_below: Default::default(),
            outage: Default::default(),
            segments_from: Default::default(),
            cursor: Default::default(),
            active: Default::default(),
        };
        journal.load_newest_checkpoint_if_ahead().await?;
        Ok(journal)
    }

    /// The replica this journal advances; readers take its read lock.
    pub fn replica(&self) -> &Arc<RwLock<Replica<S>>> {
        &self.replica
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn JournalStore> {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &JournalSettings {
        &self.settings
    }

    /// The id this journal's `FORMAT` object gives the cluster.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// Where this journal keeps its log slots.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The key of log slot `slot` in this journal.
    pub fn log_key(&self, slot: u64) -> String {
        self.layout.log_key(slot)
    }

    /// Whether the store is failing: set by a failed write or read, cleared by the next
    /// success.
    pub fn outage(&self) -> Option<JournalOutage> {
        self.outage.lock().as_ref().map(|(since, error)| JournalOutage {
            error: error.clone(),
            for_how_long: since.elapsed(),
        })
    }

    fn note_failure(&self, error: &dyn std::fmt::Display) {
        let mut outage = self.outage.lock();
        let since = outage.as_ref().map_or_else(Instant::now, |(since, _)| *since);
        *outage = Some((since, error.to_string()));
    }

    fn note_success(&self) {
        if self.outage.lock().take().is_some() {
            tracing::info!(store = %self.store.location(), "the journal store works again");
        }
    }

    /// Runs one store call on `key`, giving up at `deadline`: a call still running then is
    /// [`JournalError::Hung`] (recorded as the outage). The call's own result is the inner one.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        key: &str,
        deadline: Instant,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<Result<T, StoreError>, JournalError> {
        within(deadline, operation, key, self.store.as_ref(), call).await.inspect_err(|error| {
            tracing::error!(%error, "journal store call hung");
            self.note_failure(error);
        })
    }

    /// The deadline of a store call that starts now.
    fn call_deadline(&self) -> Instant {
        Instant::now() + self.settings.flush_timeout
    }

    /// Removes the temporary objects of crashed writers (see
    /// [`JournalStore::clean_temporary`]), bounded like every store call; returns how many.
    pub async fn clean_temporary(&self) -> Result<usize, JournalError> {
        let older_than = self.settings.temporary_gc_threshold;
        let call = self.store.clean_temporary(older_than);
        Ok(self.bounded("clean temporary objects", "", self.call_deadline(), call).await??)
    }

    /// Where the replica stands.
    pub fn position(&self) -> Position {
        self.replica.read().position()
    }

    /// Slots of the checkpoints in the store, ascending.
    pub async fn checkpoints(&self) -> Result<Vec<u64>, JournalError> {
        Ok(self.list_checkpoints().await?.slots.into_iter().collect())
    }

    pub(crate) async fn list_checkpoints(&self) -> Result<CheckpointListing, JournalError> {
        let listed = self.store.list(CHECKPOINT_PREFIX);
        let keys = self.bounded("list", CHECKPOINT_PREFIX, self.call_deadline(), listed).await??;
        Ok(CheckpointListing::of(&keys))
    }

    /// Loads the newest checkpoint if it is ahead of the replica; returns whether it did.
    pub async fn load_newest_checkpoint_if_ahead(&self) -> Result<bool, JournalError> {
        let Some(&newest) = self.checkpoints().await?.last() else {
            return Ok(false);
        };
        if newest <= self.position().slot {
            return Ok(false);
        }
        let key = checkpoint_key(newest);
        let Some(bytes) =
            self.bounded("get", &key, self.call_deadline(), self.store.get(&key)).await??
        else {
            return Ok(false); // Deleted under us by truncation; a newer one exists.
        };
        let bytes = if format::is_manifest(&bytes) {
            let manifest = format::decode_manifest(&key, &bytes, newest)?;
            match self.read_parts(&key, &manifest).await? {
                Some(whole) => whole,
                None => return Ok(false), // Deleted under us, manifest first.
            }
        } else {
            bytes
        };
        let image = format::decode_checkpoint(&key, &bytes, newest)?;
        let replica = Replica::from_image(&image, self.settings.dedup_capacity)
            .map_err(|reason| Corrupt { key: key.clone(), offset: 0, reason })?;
        *self.replica.write() = replica;
        tracing::info!(checkpoint = %key, "loaded checkpoint");
        Ok(true)
    }

    /// Reads the parts `manifest` (at `key`) names, checking each against it; `None` when one
    /// is gone because truncation deleted the manifest and is deleting its parts.
    async fn read_parts(
        &self,
        key: &str,
        manifest: &Manifest,
    ) -> Result<Option<Vec<u8>>, JournalError> {
        let folder = parts_folder(manifest.slot, manifest.part_size);
        let total: u64 = manifest.parts.iter().map(|part| part.len).sum();
        let mut whole = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for (index, expected) in manifest.parts.iter().enumerate() {
            let part = part_key(&folder, index);
            let get = self.store.get(&part);
            let Some(bytes) = self.bounded("get", &part, self.call_deadline(), get).await?? else {
                let exists = self.store.exists(key);
                if self.bounded("exists", key, self.call_deadline(), exists).await?? {
                    let reason = format!("missing, though the manifest {key} names it");
                    return Err(Corrupt { key: part, offset: 0, reason }.into());
                }
                return Ok(None);
            };
            let crc = crc32c::crc32c(&bytes);
            if bytes.len() as u64 != expected.len || crc != expected.crc {
                let reason = format!(
                    "{} bytes with crc32c {crc:#010x}, but the manifest {key} says {} bytes \
                     with {:#010x}",
                    bytes.len(),
                    expected.len,
                    expected.crc
                );
                return Err(Corrupt { key: part, offset: 0, reason }.into());
            }
            whole.extend_from_slice(&bytes);
        }
        Ok(Some(whole))
    }

    /// Throws the replica away and builds it again from the newest checkpoint and the log: what
    /// a master does when it stops leading, since its last write may have left a batch that is
    /// not history in a re-opened slot (module doc). On an error the replica is left empty at
    /// slot 0, and the next [`catch_up`](Self::catch_up) finishes the job.
    pub async fn rebuild(&self) -> Result<u64, JournalError> {
        self.drop_active_segment().await;
        *self.cursor.lock() = None;
        *self.replica.write() = Replica::new((self.initial)(), self.settings.dedup_capacity);
        self.load_newest_checkpoint_if_ahead().await?;
        self.catch_up().await
    }

    /// Reads the batch in `slot`, if there is one.
    async fn read_batch(&self, slot: u64) -> Result<Option<Batch<S::Op>>, JournalError> {
        let key = self.log_key(slot);
        let found = self
            .bounded("get", &key, self.call_deadline(), self.store.get(&key))
            .await?
            .inspect_err(|e| self.note_failure(e))?;
        match found {
            Some(bytes) => Ok(Some(format::decode_batch(&key, &bytes, slot)?)),
            None => Ok(None),
        }
    }

    fn apply(&self, batch: &Batch<S::Op>) -> Result<Vec<S::Reply>, JournalError> {
        let replies = self.replica.write().apply(&self.log_key(batch.slot), batch)?;
        self.note_log_moved(batch);
        metrics::gauge!("lode_journal_slot").set(batch.slot as f64 + 1.0);
        metrics::gauge!("lode_journal_seq")
            .set((batch.first_seq + batch.entries.len() as u64) as f64);
        Ok(replies)
    }

    /// Applies a batch read from the log. One off the real history (see [`Replica::apply`])
    /// sends the replica to the newest checkpoint instead, which is past it whenever the batch
    /// came from truncation's re-opened slots; if there is none, the refusal is the error.
    /// Returns the number of entries applied.
    async fn replay(&self, batch: &Batch<S::Op>) -> Result<u64, JournalError> {
        match self.apply(batch) {
            Ok(_) => Ok(batch.entries.len() as u64),
            Err(JournalError::OutOfOrder(refused)) if refused.off_history => {
                tracing::warn!(%refused, "a batch off the real history; reloading the checkpoint");
                if self.load_newest_checkpoint_if_ahead().await? {
                    Ok(0)
                } else {
                    Err(refused.into())
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Applies batches read from the log, in slot order from the replica's position, except
    /// those a checkpoint covers: the checkpoints are listed *after* the reads, and the newest
    /// is loaded instead of any batch below it. A batch in a slot truncation re-opened (a
    /// deposed writer's, refused as truncated away) is always below the newest checkpoint from
    /// the moment it can be read, so this never applies one — whatever its term (found by the
    /// protocol model in `verify/`: a standby that lagged behind truncation applied a stale
    /// batch of the term it knew). Returns the number of entries applied.
    async fn apply_read(&self, batches: Vec<Batch<S::Op>>) -> Result<u64, JournalError> {
        if batches.is_empty() {
            return Ok(0);
        }
        let newest = self.checkpoints().await?.last().copied();
        if newest.is_some_and(|newest| newest > self.position().slot) {
            self.load_newest_checkpoint_if_ahead().await?;
        }
        let mut applied = 0;
        for batch in batches {
            let position = self.position().slot;
            if batch.slot < position {
                continue; // Covered by the checkpoint just loaded.
            }
            if batch.slot > position || newest.is_some_and(|newest| newest > batch.slot) {
                break; // The covering checkpoint could not be loaded: read again later.
            }
            applied += self.replay(&batch).await?;
        }
        Ok(applied)
    }

    /// Reads the slots from the replica's position on until the first missing one, at most
    /// [`READ_AHEAD`] of them, and applies them (see [`Self::apply_read`]). Returns the entries
    /// applied, the slots read, and whether to stop: the replica stands at the missing slot
    /// the reads found (the log's end), or the round could not move it (a covering checkpoint
    /// vanished as it was loaded). A missing slot the replica has passed is no end: it was a
    /// hole truncation left below the checkpoint just loaded, and the log goes on after it.
    ///
    /// The first slot is read alone, so a standby at the log's end makes one read a poll; when
    /// it is there, the rest of the run is read at once: a replica catching up (a standby that
    /// lagged, a demoted leader rebuilding) waits for one round trip per run, not per slot.
    async fn read_and_apply(&self) -> Result<(u64, u64, bool), JournalError> {
        let start = self.position().slot;
        let in_segments = self.segments_from().is_some_and(|from| start >= from);
        let first = match in_segments {
            true => None,
            false => self.read_batch(start).await?,
        };
        if first.is_none() && (in_segments || self.segments_exist().await?) {
            let batches = self.read_segments(start).await?;
            if batches.first().is_some_and(|batch| batch.slot == start) {
                self.note_segments_from(start);
            }
            let slots = batches.len() as u64;
            let applied = self.apply_read(batches).await?;
            return Ok((applied, slots, slots == 0 || self.position().slot == start));
        }
        let mut batches = Vec::new();
        let mut missing = Some(start);
        if let Some(first) = first {
            batches.push(first);
            let rest = (start + 1..start + READ_AHEAD as u64).map(|slot| self.read_batch(slot));
            missing = None;
            // In slot order up to the first missing slot, as reading one by one would stop.
            for (slot, read) in (start + 1..).zip(futures_util::future::join_all(rest).await) {
                match read? {
                    Some(batch) => batches.push(batch),
                    None => {
                        missing = Some(slot);
                        break;
                    }
                }
            }
        }
        let slots = batches.len() as u64;
        let applied = self.apply_read(batches).await?;
        let position = self.position().slot;
        // A run that applied the move into segments goes on there, not at the missing slot.
        let end = position == start || missing.is_some_and(|slot| position <= slot);
        let moved = self.segments_from().is_some_and(|from| position >= from);
        Ok((applied, slots, end && !(moved && position > start)))
    }

    /// Replays every slot after the replica's position until the first missing one. If the
    /// next slot was truncated away, reloads from the newest checkpoint first. Returns the
    /// number of entries applied.
    pub async fn catch_up(&self) -> Result<u64, JournalError> {
        let mut applied = 0;
        let mut reloaded = false;
        loop {
            let (entries, _, end) = self.read_and_apply().await?;
            applied += entries;
            if end && !reloaded {
                reloaded = true;
                if self.load_newest_checkpoint_if_ahead().await? {
                    continue;
                }
            }
            if end {
                self.note_success();
                return Ok(applied);
            }
        }
    }

    /// Replays only what exists now, without looking for a newer checkpoint unless a batch was
    /// found: the cheap poll of a standby that is known to be current.
    pub async fn poll(&self) -> Result<u64, JournalError> {
        let (mut applied, mut slots) = (0, 0u64);
        loop {
            let (entries, read, end) = self.read_and_apply().await?;
            applied += entries;
            slots += read;
            if end {
                break;
            }
        }
        // How far behind this tailer was when it looked: 0 once it has caught up.
        metrics::gauge!("lode_journal_standby_lag_slots").set(slots as f64);
        self.note_success();
        Ok(applied)
    }

    /// Writes a checkpoint of the replica at its position (a no-op if one exists there:
    /// checkpoints are deterministic, so a loser just moves on). Returns its slot.
    pub async fn write_checkpoint(&self) -> Result<u64, JournalError> {
        let started = Instant::now();
        let (slot, bytes) = {
            let replica = self.replica.read();
            let image = replica.checkpoint_image();
            (image.slot, format::encode_checkpoint(&image))
        };
        let key = checkpoint_key(slot);
        // In parts when bigger than the largest object this journal writes (the store's limit).
        let object = if bytes.len() <= self.settings.batch_max_bytes {
            bytes
        } else {
            self.write_parts(slot, &bytes).await?
        };
        let put = self.store.put_if_absent(&key, object);
        match self.bounded("put", &key, self.call_deadline(), put).await? {
            Ok(()) => {
                tracing::info!(slot, "wrote checkpoint");
                metrics::histogram!("lode_journal_checkpoint_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.replica.write().checkpointed();
        Ok(slot)
    }

    /// Writes `bytes`, the checkpoint at `slot`, in parts of the batch limit, and returns the
    /// manifest naming them. A part that exists is another writer's copy of the same bytes
    /// (checkpoints are deterministic; readers check each part against the manifest anyway).
    async fn write_parts(&self, slot: u64, bytes: &[u8]) -> Result<Vec<u8>, JournalError> {
        let part_size = self.settings.batch_max_bytes;
        let folder = parts_folder(slot, part_size as u64);
        let mut parts = Vec::with_capacity(bytes.len().div_ceil(part_size));
        for (index, chunk) in bytes.chunks(part_size).enumerate() {
            let key = part_key(&folder, index);
            let put = self.store.put_if_absent(&key, chunk.to_vec());
            match self.bounded("put", &key, self.call_deadline(), put).await? {
                Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            parts.push(PartInfo { len: chunk.len() as u64, crc: crc32c::crc32c(chunk) });
        }
        let manifest = Manifest { slot, part_size: part_size as u64, parts };
        Ok(format::encode_manifest(&manifest))
    }

    /// Whether `times` checkpoint periods went by since the last checkpoint, counted in
    /// entries or in log bytes, whichever is first.
    pub fn checkpoint_due(&self, times: u64) -> bool {
        let (entries, bytes) = self.replica.read().applied_since_checkpoint();
        entries >= self.settings.checkpoint_period.saturating_mul(times)
            || bytes >= self.settings.checkpoint_period_bytes.saturating_mul(times)
    }

    /// Writes a checkpoint if a checkpoint period went by since the last one.
    pub async fn checkpoint_if_due(&self) -> Result<Option<u64>, JournalError> {
        if !self.checkpoint_due(1) {
            return Ok(None);
        }
        self.write_checkpoint().await.map(Some)
    }

    /// Deletes log slots below the second-newest checkpoint, one at a time in ascending order
    /// (each delete durable before the next), then checkpoints older than it, then their parts.
    /// Run by the leader. Returns the number of objects deleted.
    pub async fn truncate(&self) -> Result<usize, JournalError> {
        let listing = self.list_checkpoints().await?;
        let checkpoints: Vec<u64> = listing.slots.iter().copied().collect();
        let [.., keep_from, _newest] = checkpoints.as_slice() else {
            return Ok(0);
        };
        let keep_from = *keep_from;
        let mut deleted = match self.layout.slots_per_folder {
            None => self.delete_slots_below(LOG_PREFIX, keep_from).await?,
            Some(per_folder) => self.sweep_log_folders(per_folder, keep_from).await?,
        };
        if self.in_segments() {
            deleted += self.truncate_segments(keep_from).await?;
        }
        for old in checkpoints.iter().filter(|slot| **slot < keep_from) {
            let key = checkpoint_key(*old);
            self.bounded("delete", &key, self.call_deadline(), self.store.delete(&key)).await??;
            deleted += 1;
        }
        // Parts after their manifests (a reader that finds a part gone and no manifest knows
        // it lost a race with truncation), and parts a crashed writer left without one.
        for (_, folder) in listing.parts_folders.iter().filter(|(slot, _)| *slot < keep_from) {
            let listed = self.store.list(folder);
            let parts = self.bounded("list", folder, self.call_deadline(), listed).await??;
            for part in parts.iter().filter(|key| key.starts_with(folder.as_str())) {
                let delete = self.store.delete(part);
                self.bounded("delete", part, self.call_deadline(), delete).await??;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Deletes the log slots below `keep_from` folder by folder, listing only the folders that
    /// may still hold some: after the first pass, the ones truncation has not swept yet.
    async fn sweep_log_folders(
        &self,
        per_folder: u64,
        keep_from: u64,
    ) -> Result<usize, JournalError> {
        let swept = *self.swept_below.lock();
        let from = match swept {
            Some(swept) => swept,
            None => self.lowest_log_folder().await?.unwrap_or(keep_from),
        };
        let mut deleted = 0;
        // Nothing below `from` is left; folders from its own up to `keep_from`'s may be.
        let mut folder = from - from % per_folder;
        while from < keep_from && folder < keep_from {
            let prefix = format!("{LOG_PREFIX}{folder:020}/");
            deleted += self.delete_slots_below(&prefix, keep_from).await?;
            folder += per_folder;
        }
        *self.swept_below.lock() = Some(keep_from.max(swept.unwrap_or(0)));
        Ok(deleted)
    }

    /// Deletes the slots below `keep_from` that `list(folder)` shows, ascending, each delete
    /// durable before the next. Returns how many.
    async fn delete_slots_below(
        &self,
        folder: &str,
        keep_from: u64,
    ) -> Result<usize, JournalError> {
        let listed = self.store.list(folder);
        let mut slots: Vec<u64> = self
            .bounded("list", folder, self.call_deadline(), listed)
            .await??
            .iter()
            .filter_map(|key| slot_of(key, folder))
            .filter(|slot| *slot < keep_from)
            .collect();
        slots.sort_unstable();
        for slot in &slots {
            let key = self.log_key(*slot);
            self.bounded("delete", &key, self.call_deadline(), self.store.delete(&key)).await??;
        }
        Ok(slots.len())
    }

    /// The first slot of the lowest folder in `log/`, if there is one. Stores list a folder's
    /// sub-folders either by name (`log/<first slot>`) or by the keys in them: both parse.
    async fn lowest_log_folder(&self) -> Result<Option<u64>, JournalError> {
        let listed = self.store.list(LOG_PREFIX);
        let keys = self.bounded("list", LOG_PREFIX, self.call_deadline(), listed).await??;
        Ok(keys
            .iter()
            .filter_map(|key| key.strip_prefix(LOG_PREFIX)?.split('/').next()?.parse().ok())
            .min())
    }

    /// Writes `bytes` as the batch of `slot`: in segments, appended to the active one (see
    /// `segments`); else to the slot's object with the fence and both extra rules of DESIGN §3: an
    /// ambiguous put is settled by reading the slot back, and a put that lands where the
    /// predecessor is gone was truncated away. The whole append, every store call included, is
    /// bounded by the flush timeout; a put that hangs is never settled by reading back.
    pub(crate) async fn append(&self, slot: u64, bytes: Vec<u8>) -> Result<Append, JournalError> {
        if self.in_segments() {
            return self.append_record(slot, bytes).await;
        }
        self.append_slot(slot, bytes).await
    }

    /// [`append`](Self::append) to the slot's own object.
    async fn append_slot(&self, slot: u64, bytes: Vec<u8>) -> Result<Append, JournalError> {
        let key = self.log_key(slot);
        let started = Instant::now();
        let deadline = started + self.settings.flush_timeout;
        // Short blips (a DataNode restarting) cost little; a long outage is retried at most
        // every `retry_interval`.
        let mut backoff = Duration::from_millis(10).min(self.settings.retry_interval);
        // A retry cut off by the deadline is the failure before it running out of time, not a
        // store that hangs: the error names that failure (either way nothing is acknowledged).
        let mut failed_before: Option<StoreError> = None;
        let cut_off = |error: JournalError, failed_before: Option<&StoreError>| match failed_before
        {
            Some(last) if matches!(error, JournalError::Hung { .. }) => JournalError::Timeout {
                slot,
                waited: started.elapsed(),
                last_error: format!("{last} (the retry in flight then was cut off)"),
            },
            _ => error,
        };
        loop {
            let put = self.store.put_if_absent(&key, bytes.clone());
            let put = self.bounded("put", &key, deadline, put).await;
            let last_error = match put.map_err(|e| cut_off(e, failed_before.as_ref()))? {
                Ok(()) => {
                    self.note_success();
                    return self.check_live(slot, deadline).await;
                }
                // An fsync failure is never settled by reading back: the page cache would
                // answer with bytes the disk may never hold.
                Err(e) if matches!(e.kind(), ErrorKind::Permanent | ErrorKind::NotDurable) => {
                    self.note_failure(&e);
                    return Err(e.into());
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => e,
                Err(e) => {
                    self.note_failure(&e);
                    e
                }
            };
            // AlreadyExists, ambiguous or failed: whatever is in the slot now decides.
            let read = self.bounded("get", &key, deadline, self.store.get(&key)).await;
            match read.map_err(|e| cut_off(e, Some(&last_error)))? {
                Ok(Some(found)) if found == bytes => {
                    self.note_success();
                    return self.check_live(slot, deadline).await;
                }
                Ok(Some(found)) => return Ok(Append::Taken(found)),
                Ok(None) if last_error.kind() == ErrorKind::AlreadyExists => {
                    // Existed, then vanished: truncated under us, so we are far behind.
                    return Ok(Append::TruncatedAway);
                }
                Ok(None) | Err(_) => {}
            }
            if started.elapsed() >= self.settings.flush_timeout {
                return Err(JournalError::Timeout {
                    slot,
                    waited: started.elapsed(),
                    last_error: last_error.to_string(),
                });
            }
            tracing::warn!(slot, error = %last_error, "journal write failed; retrying");
            failed_before = Some(last_error);
            tokio::time::sleep(backoff.min(deadline.saturating_duration_since(Instant::now())))
                .await;
            backoff = (backoff * 2).min(self.settings.retry_interval);
        }
    }

    /// After our put landed: is the slot live, or had it been truncated away? The put is
    /// durable, so a failing store is retried until the append's `deadline`, not given up on.
    async fn check_live(&self, slot: u64, deadline: Instant) -> Result<Append, JournalError> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(10).min(self.settings.retry_interval);
        loop {
            let live = if slot == 0 {
                self.checkpoints().await.map(|slots| slots.is_empty())
            } else {
                let key = self.log_key(slot - 1);
                self.bounded("exists", &key, deadline, self.store.exists(&key))
                    .await?
                    .map_err(JournalError::from)
            };
            match live {
                Ok(live) => return Ok(if live { Append::Landed } else { Append::TruncatedAway }),
                Err(JournalError::Store(error))
                    if !matches!(error.kind(), ErrorKind::Permanent | ErrorKind::NotDurable) =>
                {
                    self.note_failure(&error);
                    if Instant::now() >= deadline {
                        return Err(JournalError::Timeout {
                            slot,
                            waited: started.elapsed(),
                            last_error: error.to_string(),
                        });
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.settings.retry_interval);
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Becomes the writer for `leadership`: finishes the tail, lands a `Leader` marker at the
    /// next free slot (applying any batch an old leader got in first), and returns the
    /// group-commit writer. Fails with [`JournalError::Deposed`] if leadership lapses first.
    pub async fn take_over(
        self: &Arc<Self>,
        leadership: Leadership,
        member: &str,
    ) -> Result<JournalWriter<S>, JournalError> {
        self.catch_up().await?;
        if self.settings.segments && self.store.appendable().is_some() || self.in_segments() {
            while !self.in_segments() {
                if !leadership.is_valid() {
                    return Err(JournalError::Deposed {
                        slot: self.position().slot,
                        reason: "leadership ended during takeover".into(),
                    });
                }
                if !self.move_log_to_segments(&leadership, member).await? {
                    self.catch_up().await?;
                }
            }
            let term = self.take_over_segments(&leadership, member).await?;
            return Ok(JournalWriter::start(self.clone(), leadership, term));
        }
        loop {
            let position = self.position();
            if !leadership.is_valid() {
                return Err(JournalError::Deposed {
                    slot: position.slot,
                    reason: "leadership ended during takeover".into(),
                });
            }
            let marker = self.leader_marker(&leadership, member, Vec::new());
            let term = marker.term;
            match self.append(position.slot, format::encode_batch(&marker)).await? {
                Append::Landed => {
                    self.apply(&marker)?;
                    tracing::info!(
                        term,
                        elector_term = leadership.term(),
                        slot = position.slot,
                        "leader marker landed"
                    );
                    return Ok(JournalWriter::start(self.clone(), leadership, term));
                }
                Append::Taken(bytes) => {
                    let key = self.log_key(position.slot);
                    let batch = format::decode_batch(&key, &bytes, position.slot)?;
                    self.apply_read(vec![batch]).await?;
                    self.catch_up().await?;
                }
                Append::TruncatedAway => {
                    // Our marker is in a re-opened slot: never replay it.
                    self.rebuild().await?;
                }
            }
        }
    }
}

impl<S: StateMachine> Journal<S> {
    /// The batch a new leader lands at the replica's position: its `Leader` marker, then
    /// `more`. Its term is above every term applied, whatever the elector counts (a site that
    /// moved from one elector to another starts counting again): terms only grow along the log.
    fn leader_marker(
        &self,
        leadership: &Leadership,
        member: &str,
        more: Vec<Entry<S::Op>>,
    ) -> Batch<S::Op> {
        let position = self.position();
        let term = leadership.term().max(position.term + 1);
        let mut entries = vec![Entry::Leader { term, member: member.into() }];
        entries.extend(more);
        Batch { term, slot: position.slot, first_seq: position.seq, entries }
    }
}

/// Runs `call` (`operation` on `key` in `store`) until `deadline`: still running then, it is
/// [`JournalError::Hung`]; else its own result.
async fn within<T, E>(
    deadline: Instant,
    operation: &'static str,
    key: &str,
    store: &dyn JournalStore,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<Result<T, E>, JournalError> {
    let started = Instant::now();
    tokio::time::timeout_at(deadline, call).await.map_err(|_| JournalError::Hung {
        operation,
        key: key.to_string(),
        store: store.location(),
        waited: started.elapsed(),
    })
}

/// Writes `FORMAT` if the journal is new (with `layout`'s folders), else checks it. Returns
/// the cluster id and the journal's layout: `FORMAT`'s, whatever `layout` asked for.
async fn ensure_format(
    store: &dyn JournalStore,
    layout: Layout,
) -> Result<(String, Layout), JournalError> {
    let per_folder = layout.slots_per_folder.unwrap_or(1);
    let ours = format!(
        "lode-journal\nversion: {FOLDERS_VERSION}\ncluster-id: {}\nslots-per-folder: {per_folder}\n",
        uuid::Uuid::new_v4()
    );
    match store.put_if_absent(FORMAT_KEY, ours.clone().into_bytes()).await {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
        Err(e) if e.kind() == ErrorKind::Ambiguous => {}
        Err(e) => return Err(e.into()),
    }
    let bytes = store.get(FORMAT_KEY).await?.ok_or_else(|| {
        JournalError::Format(format!(
            "{}/{FORMAT_KEY} vanished after it was written",
            store.location()
        ))
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let field = |name: &str| {
        text.lines().find_map(|line| line.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let version = field("version:");
    if !text.starts_with("lode-journal\n") || version.is_none() {
        return Err(JournalError::Format(format!(
            "{}/{FORMAT_KEY} is not a Lode journal format file",
            store.location()
        )));
    }
    let layout = match version.as_deref().and_then(|v| v.parse::<u16>().ok()) {
        Some(FLAT_VERSION) => Layout::flat(),
        Some(FOLDERS_VERSION) => {
            match field("slots-per-folder:").and_then(|n| n.parse::<u64>().ok()) {
                Some(per_folder) if per_folder > 0 => Layout::folders(per_folder),
                _ => {
                    return Err(JournalError::Format(format!(
                        "{}/{FORMAT_KEY} has no valid slots-per-folder line (a positive \
                         number): the file is damaged",
                        store.location()
                    )))
                }
            }
        }
        _ => {
            return Err(JournalError::Format(format!(
                "{}/{FORMAT_KEY} says version {}, but this build reads versions \
                 {FLAT_VERSION} and {FOLDERS_VERSION}",
                store.location(),
                version.unwrap_or_default(),
            )))
        }
    };
    Ok((field("cluster-id:").unwrap_or_default(), layout))
}
