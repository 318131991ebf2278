//! The leader's persister (DESIGN §9): hands the files that await persistence to workers
//! holding all their blocks, retries failures with backoff, and turns outcomes into journal
//! entries. Which files await persistence is journaled (the namespace's TO_BE_PERSISTED and
//! LOST files); everything here is soft state, like block locations: a new leader starts it
//! empty and rebuilds it from the namespace and the workers' heartbeats, which report what
//! they are still copying and what they finished — even for commands an earlier leader sent.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lode_core::config::{name, Config};
use lode_core::rpc::lode::worker::{PersistCommand, PersistResult};

use crate::blocks::BlockMap;
use crate::namespace::{
    FsPath, LoadMetadata, MountOptions, Mutation, Namespace, PersistFailed, PersistFile,
    PersistTarget, Persistence, RemovedEntry,
};
use crate::ufs::Ufses;
use crate::MasterNode;

/// The most persist commands one worker runs at once: enough that small files, each a few
/// round trips to the UFS, keep it busy between heartbeats.
pub const PER_WORKER: usize = 32;

/// How the leader paces persistence.
#[derive(Debug, Clone)]
pub struct PersistSettings {
    /// The first retry's wait (`alluxio.master.persistence.initial.interval`).
    pub initial_interval: Duration,
    /// The longest wait between attempts (`alluxio.master.persistence.max.interval`).
    pub max_interval: Duration,
    /// How long to keep trying before giving up (`alluxio.master.persistence.max.total.wait.time`).
    pub max_total_wait: Duration,
    /// How long blocks may have no holder before their file is LOST: a new leader's workers
    /// register within it (`alluxio.master.worker.connect.wait.time`).
    pub lost_after: Duration,
}

impl PersistSettings {
    /// The settings `config` gives, with Alluxio's defaults.
    pub fn from_config(config: &Config) -> PersistSettings {
        let duration = |key, default| config.duration(key).unwrap_or(default);
        PersistSettings {
            initial_interval: duration(name::MASTER_PERSISTENCE_INITIAL_INTERVAL, secs(1)),
            max_interval: duration(name::MASTER_PERSISTENCE_MAX_INTERVAL, secs(3600)),
            max_total_wait: duration(name::MASTER_PERSISTENCE_MAX_TOTAL_WAIT_TIME, secs(86_400)),
            lost_after: duration(name::MASTER_WORKER_CONNECT_WAIT_TIME, secs(5)),
        }
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// One file's persistence, as this leader follows it.
#[derive(Debug)]
struct Task {
    /// When this leader first tried it.
    first_try: Instant,
    /// Failed attempts so far.
    failures: u32,
    /// Commands this leader sent for it.
    attempts: u32,
    /// Not to be tried again before.
    next_try: Instant,
    /// The worker copying it now.
    running_on: Option<i64>,
    /// Its outcome is being journaled: hand it to nobody meanwhile.
    journaling: bool,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// Since when some block of it has had no holder.
    missing_since: Option<Instant>,
}

impl Task {
    fn new(now: Instant) -> Task {
        Task {
            first_try: now,
            failures: 0,
            attempts: 0,
            next_try: now,
            running_on: None,
            journaling: false,
            last_error: None,
            missing_since: None,
        }
    }
}

/// What the web UI and `fsadmin report` show of persistence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersistSummary {
    /// Files being copied by a worker now.
    pub running: usize,
    /// The newest failures: (file id, why), a few at most.
    pub recent_failures: Vec<(u64, String)>,
}

/// The leader's persistence work (see the module docs).
#[derive(Debug)]
pub struct PersistQueue {
    settings: PersistSettings,
    tasks: HashMap<u64, Task>,
    /// Copies written where their file no longer is (it was renamed while it was copied), to
    /// be deleted from their UFS (see [`StaleCopy`]).
    stale: Vec<StaleCopy>,
    /// Copies in a staging folder, to be put at their files' places (see [`Placement`]).
    placements: Vec<Placement>,
    /// When this leader started: blocks count as missing only after workers had time to register.
    since: Instant,
    /// The same, as wall-clock ms: a file due before it may have been sent by an earlier leader.
    since_ms: i64,
}

impl PersistQueue {
    /// An empty queue.
    pub fn new(settings: PersistSettings) -> PersistQueue {
        PersistQueue {
            settings,
            tasks: HashMap::new(),
            stale: Vec::new(),
            placements: Vec::new(),
            since: Instant::now(),
            since_ms: now_ms(),
        }
    }

    /// The copies found written where their file no longer is, since the last call.
    pub fn take_stale_copies(&mut self) -> Vec<StaleCopy> {
        std::mem::take(&mut self.stale)
    }

    /// The staged copies reported since the last call, to put in place; each, once journaled
    /// (or not), is passed to [`Self::journaled`].
    pub fn take_placements(&mut self) -> Vec<Placement> {
        std::mem::take(&mut self.placements)
    }

    /// Forgets everything: a new term starts afresh.
    pub fn clear(&mut self) {
        self.tasks.clear();
        self.since = Instant::now();
        self.since_ms = now_ms();
    }

    /// Takes a worker's report: the files it is still copying, and the outcomes since its last
    /// heartbeat. Returns the journal entries to make; each, once journaled (or refused), is
    /// passed to [`Self::journaled`].
    pub fn report(
        &mut self,
        worker: i64,
        (running, results): (&[i64], &[PersistResult]),
        namespace: &Namespace,
        ufses: &Ufses,
    ) -> Vec<Mutation> {
        let now = Instant::now();
        let running: HashSet<u64> = running.iter().map(|id| *id as u64).collect();
        let mut entries = Vec::new();
        for result in results {
            let id = result.file_id as u64;
            let task = self.tasks.entry(id).or_insert_with(|| Task::new(now));
            task.running_on = None;
            if result.error.is_empty() && !result.staging_path.is_empty() {
                task.journaling = true;
                self.placements.push(Placement {
                    id,
                    length: result.length.max(0) as u64,
                    ufs_uri: result.ufs_uri.clone(),
                    staging_path: result.staging_path.clone(),
                });
                continue;
            }
            // Written in place, but renamed meanwhile: the copy is at the old place; persist it
            // again.
            let place = namespace.persist_target(id).and_then(|t| command(id, t, ufses));
            let moved = place.is_some_and(|c| {
                (c.ufs_uri, c.ufs_path) != (result.ufs_uri.clone(), result.ufs_path.clone())
            });
            if result.error.is_empty() && moved {
                let error = format!(
                    "renamed while it was persisted (its copy at {} in {} is deleted)",
                    result.ufs_path, result.ufs_uri
                );
                tracing::warn!(file = id, %error, "persisting again");
                self.failed(id, error, now);
                self.stale.push(StaleCopy {
                    ufs_uri: result.ufs_uri.clone(),
                    ufs_path: result.ufs_path.clone(),
                    fingerprint: result.ufs_fingerprint.clone(),
                });
            } else if result.error.is_empty() {
                task.journaling = true;
                entries.push(Mutation::PersistFile(PersistFile {
                    id,
                    length: result.length.max(0) as u64,
                    ufs_fingerprint: result.ufs_fingerprint.clone(),
                    path: String::new(),
                }));
            } else {
                tracing::warn!(file = id, worker, error = %result.error, "persisting failed");
                self.failed(id, result.error.clone(), now);
            }
        }
        for (&id, task) in &mut self.tasks {
            match task.running_on {
                // A command the worker no longer runs and did not report: its answer was lost
                // (or the worker restarted); try again.
                Some(on) if on == worker && !running.contains(&id) => task.running_on = None,
                // A command from an earlier leader that this worker still runs.
                _ if running.contains(&id) => task.running_on = Some(worker),
                _ => {}
            }
        }
        for id in running {
            self.tasks.entry(id).or_insert_with(|| Task::new(now)).running_on = Some(worker);
        }
        entries
    }

    fn failed(&mut self, id: u64, error: String, now: Instant) {
        let Some(task) = self.tasks.get_mut(&id) else { return };
        task.failures = task.failures.saturating_add(1);
        let backoff = self
            .settings
            .initial_interval
            .saturating_mul(1 << task.failures.saturating_sub(1).min(20))
            .min(self.settings.max_interval);
        task.next_try = now + backoff;
        task.last_error = Some(error);
    }

    /// The journal entry for file `id` was written (or refused, the file having changed): the
    /// namespace says what is left to do.
    pub fn journaled(&mut self, id: u64, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                self.tasks.remove(&id);
            }
            Err(error) => {
                if let Some(task) = self.tasks.get_mut(&id) {
                    task.journaling = false;
                }
                self.failed(id, error, Instant::now());
            }
        }
    }

    /// Persist commands for `worker`: due files whose blocks it holds, up to [`PER_WORKER`]
    /// running on it at once.
    pub fn assign(
        &mut self,
        worker: i64,
        blocks: &BlockMap,
        namespace: &Namespace,
        ufses: &Ufses,
    ) -> Vec<PersistCommand> {
        let mut free = PER_WORKER
            .saturating_sub(self.tasks.values().filter(|t| t.running_on == Some(worker)).count());
        let (now, wall_ms) = (Instant::now(), now_ms());
        let mut commands = Vec::new();
        for id in namespace.awaiting_persist() {
            if free == 0 {
                break;
            }
            let busy = self
                .tasks
                .get(&id)
                .is_some_and(|t| t.running_on.is_some() || t.journaling || t.next_try > now);
            if busy {
                continue;
            }
            let Some(target) = namespace.persist_target(id) else { continue };
            if target.not_before_ms > wall_ms
                || !target.block_ids.iter().all(|b| blocks.holds(worker, *b))
            {
                continue;
            }
            if let Some(task) = self.refuse_read_only(id, &target, ufses, now) {
                task.last_error.get_or_insert_with(|| {
                    "its mount is read-only: it is persisted once the mount is writable".into()
                });
                continue;
            }
            // Due before this leader started: an earlier leader may have sent it already.
            let due_before_us = target.not_before_ms < self.since_ms;
            let Some(mut command) = command(id, target, ufses) else { continue };
            let task = self.tasks.entry(id).or_insert_with(|| Task::new(now));
            task.running_on = Some(worker);
            task.attempts = task.attempts.saturating_add(1);
            command.tried_before = task.attempts > 1 || due_before_us;
            commands.push(command);
            free -= 1;
        }
        commands
    }

    /// The task of file `id` when its target is under a read-only mount (nothing is written
    /// there), else `None`.
    fn refuse_read_only(
        &mut self,
        id: u64,
        target: &PersistTarget,
        ufses: &Ufses,
        now: Instant,
    ) -> Option<&mut Task> {
        let read_only = match &target.place.mount {
            Some((_, options)) => options.read_only,
            None => ufses.root().is_some_and(|root| root.options.read_only),
        };
        read_only.then(|| self.tasks.entry(id).or_insert_with(|| Task::new(now)))
    }

    /// Gives up what cannot be persisted: a file some of whose blocks no worker has held for
    /// `lost_after` becomes LOST (and is persisted still if they come back), and one this leader
    /// has tried for longer than the total wait goes back to NOT_PERSISTED. Returns the entries.
    pub fn sweep(&mut self, blocks: &BlockMap, namespace: &Namespace) -> Vec<Mutation> {
        let now = Instant::now();
        // A worker that restarted (it registers under a new id) or was lost runs nothing it
        // was given: hand its files out again.
        for task in self.tasks.values_mut() {
            if task.running_on.is_some_and(|worker| !blocks.is_registered(worker)) {
                task.running_on = None;
            }
        }
        if now.duration_since(self.since) < self.settings.lost_after {
            return Vec::new(); // Workers are still registering with this leader.
        }
        let mut entries = Vec::new();
        for id in namespace.awaiting_persist() {
            let Some(target) = namespace.persist_target(id) else { continue };
            let task = self.tasks.entry(id).or_insert_with(|| Task::new(now));
            if task.running_on.is_some() || task.journaling {
                continue;
            }
            let missing = target.block_ids.iter().any(|b| !blocks.is_cached(*b));
            task.missing_since =
                if missing { Some(task.missing_since.unwrap_or(now)) } else { None };
            let lost_for = task.missing_since.map(|since| now.duration_since(since));
            if !target.lost && lost_for.is_some_and(|d| d >= self.settings.lost_after) {
                tracing::error!(file = %target.path, "a block of a file to be persisted is on no worker: LOST");
                task.journaling = true;
                entries.push(Mutation::PersistFailed(PersistFailed { id, lost: true }));
            } else if task.failures > 0
                && now.duration_since(task.first_try) > self.settings.max_total_wait
            {
                tracing::error!(
                    file = %target.path,
                    error = task.last_error.as_deref().unwrap_or(""),
                    "giving up persisting after alluxio.master.persistence.max.total.wait.time"
                );
                task.journaling = true;
                entries.push(Mutation::PersistFailed(PersistFailed { id, lost: false }));
            }
        }
        // Tasks of files no longer awaiting persistence (deleted, persisted) go.
        self.tasks.retain(|id, task| {
            task.journaling || task.running_on.is_some() || namespace.persist_target(*id).is_some()
        });
        entries
    }

    /// What to show of it.
    pub fn summary(&self) -> PersistSummary {
        let mut failures: Vec<(&u64, &Task)> =
            self.tasks.iter().filter(|(_, t)| t.last_error.is_some()).collect();
        failures.sort_by_key(|(_, t)| std::cmp::Reverse(t.next_try));
        PersistSummary {
            running: self.running(),
            recent_failures: failures
                .into_iter()
                .take(5)
                .map(|(id, t)| (*id, t.last_error.clone().unwrap_or_default()))
                .collect(),
        }
    }

    /// How many files workers are copying now.
    pub fn running(&self) -> usize {
        self.tasks.values().filter(|t| t.running_on.is_some()).count()
    }

    /// Why the last attempt to persist file `id` failed, if one did.
    pub fn last_error(&self, id: u64) -> Option<&str> {
        self.tasks.get(&id).and_then(|t| t.last_error.as_deref())
    }
}

/// The command that persists file `id`; `None` when its mount has no under-file-system.
/// A file's copy that a worker wrote at the place the file had when the copy began, and no
/// longer has (it was renamed meanwhile; it is persisted again at its new place). Left there, it
/// would be a file Lode never made, which a metadata load would show as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleCopy {
    /// The UFS it is in.
    pub ufs_uri: String,
    /// Its path there.
    pub ufs_path: String,
    /// What the UFS said of it when the worker finished it.
    pub fingerprint: String,
}

impl StaleCopy {
    /// Deletes the copy if it is still what the worker wrote (the same fingerprint) and Lode
    /// has nothing else at that place: nothing, or the copy itself, loaded from the UFS as a
    /// file by a metadata load that came first (removed from the namespace then, on the same
    /// condition). Anything else there is not ours to delete. Failures are logged: the copy
    /// stays, nothing worse.
    pub async fn delete(self, node: &MasterNode) {
        let found = node.read(|ns| {
            let root = node.ufses().root_uri().map(|uri| uri.to_string());
            let (point, options) = match root.as_deref() == Some(self.ufs_uri.as_str()) {
                true => (FsPath::root(), None),
                false => ns.mounts().into_iter().find_map(|(point, mount)| {
                    let point = FsPath::parse(&point).ok()?;
                    (mount.ufs_uri == self.ufs_uri).then(|| (point, Some(mount.options.clone())))
                })?,
            };
            let names = self.ufs_path.split('/').filter(|name| !name.is_empty());
            let path = names.fold(point, |path, name| path.join(name));
            let loaded = match ns.status(path.as_str()) {
                Err(_) => None,
                Ok(status) => Some(
                    !status.is_directory
                        && status.persistence == Persistence::Persisted
                        && status.ufs_fingerprint == self.fingerprint,
                ),
            };
            Some((path, loaded, options))
        });
        let Ok(Some((path, loaded, options))) = found else { return };
        match (loaded, path.parent(), path.name()) {
            (None, _, _) => {}
            (Some(true), Some(parent), Some(name)) => {
                let removed = RemovedEntry { path: name.into(), fingerprint: self.fingerprint };
                let forget = LoadMetadata {
                    path: parent.to_string(),
                    removed: vec![removed.clone()],
                    ..LoadMetadata::default()
                };
                if node.mutate(None, Mutation::LoadMetadata(forget)).await.is_err() {
                    return;
                }
                let gone = node.read(|ns| ns.status(path.as_str()).is_err()).unwrap_or(false);
                if !gone {
                    return;
                }
                return StaleCopy { fingerprint: removed.fingerprint, ..self }
                    .delete_from_ufs(node, options)
                    .await;
            }
            _ => return, // Another file or folder is there now.
        }
        self.delete_from_ufs(node, options).await
    }

    async fn delete_from_ufs(self, node: &MasterNode, options: Option<MountOptions>) {
        let ufs = match options {
            None => node.ufses().of_mount(None),
            Some(options) => Some(node.ufses().open(&self.ufs_uri, &options.properties)),
        };
        let Some(Ok(ufs)) = ufs else { return };
        let unchanged = match ufs.status(&self.ufs_path).await {
            Ok(Some(status)) => status.fingerprint() == self.fingerprint,
            _ => false,
        };
        if unchanged {
            if let Err(error) = ufs.delete(&self.ufs_path).await {
                tracing::warn!(%error, "a stale persisted copy stays in the UFS");
            }
        }
    }
}

/// A copy a worker wrote to a mount's staging folder, to be renamed to its file's place as it
/// is now and journaled PERSISTED there (Alluxio's async persistence): a file renamed or
/// deleted while it was copied leaves nothing at its old place. The leader holds
/// [`MasterNode::ufs_moves`] alone from reading the place to journaling, so no rename or
/// delete changes the place in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The file's inode id.
    pub id: u64,
    /// The length copied.
    pub length: u64,
    /// The under-file-system of the copy.
    pub ufs_uri: String,
    /// The copy, below `ufs_uri`.
    pub staging_path: String,
}

impl Placement {
    /// Puts the copy in place and journals it, or discards it; tells the queue how it went.
    pub async fn place(self, node: &std::sync::Arc<MasterNode>) {
        let id = self.id;
        let moves = node.ufs_moves.write().await;
        let outcome = self.put_in_place(node).await;
        drop(moves);
        match &outcome {
            Ok(()) => node.note_persisted(id),
            Err(error) => {
                tracing::warn!(file = id, %error, "a persisted copy was not put in place")
            }
        }
        node.persists.lock().journaled(id, outcome);
    }

    async fn put_in_place(&self, node: &MasterNode) -> Result<(), String> {
        let ufs = ufs_for_uri(node, &self.ufs_uri)
            .ok_or_else(|| format!("{} is no longer mounted", self.ufs_uri))?;
        let target = match node.read(|ns| ns.persist_target(self.id)) {
            Ok(target) => target,
            Err(not_leading) => {
                // The next leader persists the file again, cleaning up earlier attempts' copies.
                self.discard(&ufs).await;
                return Err(not_leading.to_string());
            }
        };
        let in_this_ufs = |target: &PersistTarget| match &target.place.mount {
            Some((uri, _)) => *uri == self.ufs_uri,
            None => node.ufses().root_uri().is_some_and(|root| root.to_string() == self.ufs_uri),
        };
        let target = match target {
            Some(target) if target.length == self.length && in_this_ufs(&target) => target,
            _ => {
                self.discard(&ufs).await;
                return Err("deleted, rewritten or moved to another under-file-system while \
                            it was persisted"
                    .into());
            }
        };
        let place = target.place.path.clone();
        if let Err(error) = ufs.rename(&self.staging_path, &place).await {
            self.discard(&ufs).await;
            return Err(error.to_string());
        }
        let fingerprint = match ufs.status(&place).await {
            Ok(Some(status)) => status.fingerprint(),
            Ok(None) => return Err(format!("{} vanished once in place", ufs.full_path(&place))),
            Err(error) => return Err(error.to_string()),
        };
        let entry = PersistFile {
            id: self.id,
            length: self.length,
            ufs_fingerprint: fingerprint.clone(),
            path: target.path.to_string(),
        };
        let refused = match node.mutate(None, Mutation::PersistFile(entry)).await {
            Ok(reply) => reply.error.map(|refused| refused.message),
            // Not leading any more: the next leader persists it again, over this copy.
            Err(error) => return Err(error.to_string()),
        };
        let Some(refused) = refused else { return Ok(()) };
        // Rewritten meanwhile (an overwriting create takes no lock): the copy is not the file's.
        if let Ok(Some(status)) = ufs.status(&place).await {
            if status.fingerprint() == fingerprint {
                let _ = ufs.delete(&place).await;
            }
        }
        Err(refused)
    }

    async fn discard(&self, ufs: &lode_ufs::Ufs) {
        if let Err(error) = ufs.delete(&self.staging_path).await {
            tracing::warn!(%error, "a staged persisted copy stays in the UFS");
        }
    }
}

/// The under-file-system at `uri`: the root mount's, or a nested mount's with its options.
fn ufs_for_uri(node: &MasterNode, uri: &str) -> Option<lode_ufs::Ufs> {
    if node.ufses().root_uri().is_some_and(|root| root.to_string() == uri) {
        return node.ufses().of_mount(None)?.ok();
    }
    let options = node
        .read(|ns| {
            ns.mounts()
                .into_iter()
                .find_map(|(_, mount)| (mount.ufs_uri == uri).then(|| mount.options.clone()))
        })
        .ok()
        .flatten()?;
    node.ufses().open(uri, &options.properties).ok()
}

fn command(id: u64, target: PersistTarget, ufses: &Ufses) -> Option<PersistCommand> {
    let (ufs_uri, mount_properties) = match target.place.mount {
        Some((uri, options)) => (uri, options.properties.into_iter().collect()),
        None => {
            let root = ufses.root()?;
            (root.uri().to_string(), root.options.properties.clone().into_iter().collect())
        }
    };
    // Object stores have no rename (a copy instead): the worker writes there in place.
    let object_store =
        lode_ufs::UfsUri::parse(&ufs_uri).is_ok_and(|u| u.scheme().is_object_store());
    let staging_path = if object_store { String::new() } else { lode_ufs::staging_path(id) };
    Some(PersistCommand {
        file_id: id as i64,
        path: target.path.to_string(),
        ufs_uri,
        mount_properties,
        ufs_path: target.place.path,
        block_ids: target.block_ids.into_iter().map(|b| b as i64).collect(),
        length: target.length as i64,
        tried_before: false,
        staging_path,
    })
}

#[cfg(test)]
mod tests {
    use lode_core::journal::StateMachine;

    use super::*;
    use crate::blocks::Registration;
    use crate::namespace::{CompleteFile, CreateFile, NamespaceOp, NewBlock, Persistence};

    /// A leader's view: a root UFS folder, a namespace with `/f` (two blocks, 15 bytes)
    /// completed to be persisted, a block map and a queue.
    struct Leader {
        _dir: tempfile::TempDir,
        ufses: Ufses,
        namespace: Namespace,
        blocks: BlockMap,
        queue: PersistQueue,
        id: u64,
        block_ids: Vec<u64>,
    }

    impl Leader {
        fn new() -> Leader {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().display().to_string();
            let config =
                Config::from_pairs([("alluxio.master.mount.table.root.ufs", root)]).unwrap();
            let settings = PersistSettings {
                initial_interval: Duration::from_secs(60),
                max_interval: Duration::from_secs(600),
                max_total_wait: Duration::from_secs(3600),
                lost_after: Duration::ZERO,
            };
            let mut leader = Leader {
                _dir: dir,
                ufses: Ufses::from_config(&config).unwrap(),
                namespace: Namespace::new(),
                blocks: BlockMap::default(),
                queue: PersistQueue::new(settings),
                id: 0,
                block_ids: Vec::new(),
            };
            let create =
                CreateFile { path: "/f".into(), mode: 0o644, block_size: 10, ..Default::default() };
            leader.id = leader.apply(Mutation::CreateFile(create));
            leader.block_ids = (0..2)
                .map(|_| leader.apply(Mutation::NewBlock(NewBlock { path: "/f".into() })))
                .collect();
            let complete = CompleteFile {
                path: "/f".into(),
                length: 15,
                to_be_persisted: true,
                ..Default::default()
            };
            leader.apply(Mutation::CompleteFile(complete));
            leader.queue.since_ms = 0; // This leader saw the file become due.
            leader
        }

        fn apply(&mut self, mutation: Mutation) -> u64 {
            let op = NamespaceOp { time_ms: 1, mutation: Some(mutation) };
            let reply = self.namespace.apply(&op);
            assert!(reply.error.is_none(), "{reply:?}");
            reply.id
        }

        /// Registers a worker at `port` holding the file's blocks `held`.
        fn worker(&mut self, port: u16, held: std::ops::Range<usize>) -> i64 {
            let registration = Registration {
                host: "w".into(),
                port,
                web_port: None,
                capacity: 100,
                used: Default::default(),
                blocks: self.block_ids[held].iter().map(|b| (*b, 10)).collect(),
                start_time_ms: 0,
            };
            self.blocks.register(registration, |_| true).0
        }

        fn assign(&mut self, worker: i64) -> Vec<PersistCommand> {
            self.queue.assign(worker, &self.blocks, &self.namespace, &self.ufses)
        }

        /// Journals `entry` as the leader would, and tells the queue.
        fn journal(&mut self, entry: Mutation) {
            self.apply(entry);
            self.queue.journaled(self.id, Ok(()));
        }

        fn persistence(&self) -> Persistence {
            self.namespace.status("/f").unwrap().persistence
        }
    }

    /// A file goes to a worker holding all its blocks, once, with the root UFS and its path.
    #[test]
    fn a_file_goes_to_a_worker_holding_every_block_once() {
        let mut leader = Leader::new();
        let partial = leader.worker(1, 0..1);
        let whole = leader.worker(2, 0..2);
        assert!(leader.assign(partial).is_empty());
        let commands = leader.assign(whole);
        assert_eq!(commands.len(), 1);
        let command = &commands[0];
        assert_eq!(
            (command.file_id as u64, command.length, command.ufs_path.as_str()),
            (leader.id, 15, "f")
        );
        assert_eq!(command.ufs_uri, leader.ufses.root_uri().unwrap().to_string());
        let expected: Vec<i64> = leader.block_ids.iter().map(|b| *b as i64).collect();
        assert_eq!(command.block_ids, expected);
        // A local folder renames: the copy goes to the staging folder first.
        let prefix = lode_ufs::staging_prefix(leader.id);
        assert!(command.staging_path.starts_with(&prefix), "{}", command.staging_path);
        assert!(lode_ufs::is_temporary(&command.staging_path), "{}", command.staging_path);
        assert!(leader.assign(whole).is_empty(), "sent twice");
        assert_eq!(leader.queue.summary().running, 1);
    }

    /// A copy in the staging folder is handed over to be put in place, whatever the worker
    /// thought the file's place was (it may have moved since), and is not sent again meanwhile.
    #[test]
    fn a_staged_copy_is_handed_over_to_be_put_in_place() {
        let mut leader = Leader::new();
        let (w, id) = (leader.worker(1, 0..2), leader.id);
        let command = leader.assign(w).remove(0);
        let staged = PersistResult {
            file_id: id as i64,
            length: 15,
            ufs_fingerprint: "fp".into(),
            ufs_uri: command.ufs_uri.clone(),
            ufs_path: "old-name".into(),
            staging_path: command.staging_path.clone(),
            ..Default::default()
        };
        let reports = (&[][..], &[staged][..]);
        assert!(leader.queue.report(w, reports, &leader.namespace, &leader.ufses).is_empty());
        assert!(leader.queue.take_stale_copies().is_empty(), "a staged copy is not stale");
        let placements = leader.queue.take_placements();
        let expected = Placement {
            id,
            length: 15,
            ufs_uri: command.ufs_uri,
            staging_path: command.staging_path,
        };
        assert_eq!(placements, vec![expected]);
        assert!(leader.assign(w).is_empty(), "sent while being put in place");
        leader.queue.journaled(id, Err("moved".into()));
        assert!(leader.queue.last_error(id).is_some_and(|e| e == "moved"));
    }

    /// A failure waits out the backoff before the file is handed out again; a command the
    /// worker no longer runs nor reported is handed out again at once, saying an earlier
    /// attempt may have left a temporary file; a success is journaled.
    #[test]
    fn failures_back_off_lost_commands_are_retried_and_successes_are_journaled() {
        let mut leader = Leader::new();
        let (w, id) = (leader.worker(1, 0..2), leader.id);
        assert_eq!(leader.assign(w).len(), 1);
        let failure =
            PersistResult { file_id: id as i64, error: "disk full".into(), ..Default::default() };
        assert!(leader
            .queue
            .report(w, (&[], &[failure]), &leader.namespace, &leader.ufses)
            .is_empty());
        assert_eq!(leader.queue.last_error(id), Some("disk full"));
        assert!(leader.assign(w).is_empty(), "retried within the backoff");

        let mut leader = Leader::new();
        let w = leader.worker(1, 0..2);
        assert!(!leader.assign(w)[0].tried_before);
        assert!(leader.queue.report(w, (&[], &[]), &leader.namespace, &leader.ufses).is_empty()); // Neither running nor reported.
        assert!(leader.assign(w)[0].tried_before);
        let success = PersistResult {
            file_id: id as i64,
            length: 15,
            ufs_fingerprint: "fp".into(),
            ufs_uri: leader.ufses.root_uri().unwrap().to_string(),
            ufs_path: "f".into(),
            ..Default::default()
        };
        let entries = leader.queue.report(w, (&[], &[success]), &leader.namespace, &leader.ufses);
        let persisted =
            PersistFile { id, length: 15, ufs_fingerprint: "fp".into(), ..Default::default() };
        assert_eq!(entries, vec![Mutation::PersistFile(persisted)]);
        assert!(leader.assign(w).is_empty(), "sent while journaling");
        leader.journal(entries[0].clone());
        assert_eq!(leader.persistence(), Persistence::Persisted);
        assert!(leader.assign(w).is_empty());
    }

    /// A copy written where the file no longer is (it was renamed meanwhile) is not taken: the
    /// file is persisted again at its new place, and the copy is to be deleted.
    #[test]
    fn a_copy_at_a_place_the_file_left_is_not_taken() {
        let mut leader = Leader::new();
        let (w, id) = (leader.worker(1, 0..2), leader.id);
        assert_eq!(leader.assign(w).len(), 1);
        let stale = PersistResult {
            file_id: id as i64,
            length: 15,
            ufs_fingerprint: "fp".into(),
            ufs_uri: leader.ufses.root_uri().unwrap().to_string(),
            ufs_path: "old-name".into(),
            ..Default::default()
        };
        let reports = (&[][..], &[stale][..]);
        assert!(leader.queue.report(w, reports, &leader.namespace, &leader.ufses).is_empty());
        let error = leader.queue.last_error(id).unwrap();
        assert!(error.contains("renamed while it was persisted"), "{error}");
        // The copy at the old name is handed over for deletion, once.
        let stale = leader.queue.take_stale_copies();
        assert_eq!(stale.iter().map(|c| c.ufs_path.as_str()).collect::<Vec<_>>(), ["old-name"]);
        assert!(leader.queue.take_stale_copies().is_empty());
    }

    /// A new leader adopts a command an earlier leader sent and the worker still runs, rather
    /// than sending it again.
    #[test]
    fn a_new_leader_adopts_commands_still_running() {
        let mut leader = Leader::new();
        let w = leader.worker(1, 0..2);
        leader.queue.report(w, (&[leader.id as i64], &[]), &leader.namespace, &leader.ufses);
        assert!(leader.assign(w).is_empty());
    }

    /// A file under a read-only mount is handed to nobody (the reason is shown), and goes out
    /// once the mount is writable.
    #[test]
    fn nothing_is_persisted_into_a_read_only_mount() {
        let mut leader = Leader::new();
        let writable = std::mem::replace(&mut leader.ufses, {
            let root = leader._dir.path().display().to_string();
            let config = Config::from_pairs([
                ("alluxio.master.mount.table.root.ufs", root),
                ("alluxio.master.mount.table.root.readonly", "true".into()),
            ])
            .unwrap();
            Ufses::from_config(&config).unwrap()
        });
        let w = leader.worker(1, 0..2);
        assert!(leader.assign(w).is_empty(), "sent into a read-only mount");
        assert!(leader.queue.last_error(leader.id).is_some_and(|e| e.contains("read-only")));
        leader.ufses = writable;
        assert_eq!(leader.assign(w).len(), 1);
    }

    /// A new leader's first command for a file that was due before it took over says an earlier
    /// attempt may have left a temporary file (an earlier leader may have sent it).
    #[test]
    fn a_new_leaders_first_command_for_an_old_file_cleans_up() {
        let mut leader = Leader::new();
        leader.queue.clear();
        let w = leader.worker(1, 0..2);
        assert!(leader.assign(w)[0].tried_before);
    }

    /// A command given to a worker that then restarted (it registers under a new id) is handed
    /// out again to its new registration, saying an earlier attempt may have left a file.
    #[test]
    fn a_restarted_workers_commands_are_handed_out_again() {
        let mut leader = Leader::new();
        let before = leader.worker(1, 0..2);
        assert_eq!(leader.assign(before).len(), 1);
        let after = leader.worker(1, 0..2);
        assert!(leader.assign(after).is_empty(), "still counted as running on the old id");
        leader.queue.sweep(&leader.blocks, &leader.namespace);
        let again = leader.assign(after);
        assert_eq!(again.len(), 1, "never handed out again");
        assert!(again[0].tried_before);
        assert_eq!(leader.queue.summary().running, 1);
    }

    /// A file some of whose blocks no worker holds becomes LOST (once), and is handed out again
    /// when a worker with every block registers.
    #[test]
    fn a_file_whose_blocks_are_gone_is_lost_until_they_return() {
        let mut leader = Leader::new();
        leader.worker(1, 0..1);
        let entries = leader.queue.sweep(&leader.blocks, &leader.namespace);
        let lost = PersistFailed { id: leader.id, lost: true };
        assert_eq!(entries, vec![Mutation::PersistFailed(lost)]);
        leader.journal(entries[0].clone());
        assert_eq!(leader.persistence(), Persistence::Lost);
        assert!(leader.queue.sweep(&leader.blocks, &leader.namespace).is_empty(), "LOST twice");
        let back = leader.worker(2, 0..2);
        assert_eq!(leader.assign(back).len(), 1);
    }
}
