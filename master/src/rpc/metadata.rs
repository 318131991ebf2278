//! Metadata loading (DESIGN §9, Alluxio's `loadMetadataType`): a path Lode does not know but
//! its mount's under-file-system has is made known when a client asks for it — `GetStatus`,
//! `Exists`, `ListStatus` (recursive too) and the first page of `ListStatusPartial`.
//!
//! - `NEVER`: the UFS is not asked.
//! - `ONCE` (Alluxio's default): a missing path is looked up unless the folder it would be in
//!   was listed whole before; a folder is listed whole once.
//! - `ALWAYS`: a missing path is always looked up, and a folder is listed again for entries
//!   added since. Nothing Lode knows is changed by a load.
//!
//! A *sync* (Alluxio's `syncIntervalMs`: -1 never, 0 every call, else when the path's last
//! sync is older) also compares what Lode holds from the UFS with what the UFS has now: what is
//! gone there is removed, what changed there (another fingerprint, or another kind) is removed
//! and loaded again as a new inode, so no block of its old content is read again. What only
//! Lode holds (not persisted, or being written) is never touched, and a removal is journaled
//! with what the leader saw, so it does nothing if the inode changed in between.
//!
//! The UFS is asked with no lock held; what it has is journaled as [`ns::LoadMetadata`]
//! entries of at most [`LOAD_BATCH`] files and folders, each applied under one short hold of
//! the replica lock, so other clients go on between them. A load that fails half way (the UFS
//! or the leader went away) leaves what it journaled, all of it true, and its folders not
//! marked listed: the next load finishes it, and no inode is made twice.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lode_core::rpc::alluxio::grpc::file::LoadMetadataPType;
use lode_ufs::{Ufs, UfsStatus};
use tonic::Status;

use super::mounts::status_from_ufs;
use super::Services;
use crate::namespace::{self as ns, name_problem, FsPath, LoadedEntry, Mutation, UfsPlace};

/// Files and folders one journaled load entry holds at most.
pub(super) const LOAD_BATCH: usize = 1000;

/// How a call asks for paths missing from Lode to be found in under-file-systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadType {
    /// Never.
    Never,
    /// Once per folder.
    Once,
    /// Every time.
    Always,
}

impl LoadType {
    /// The type Alluxio's name (`alluxio.user.file.metadata.load.type`) stands for.
    pub fn from_name(name: &str) -> Option<LoadType> {
        match name.to_ascii_uppercase().as_str() {
            "NEVER" => Some(LoadType::Never),
            "ONCE" => Some(LoadType::Once),
            "ALWAYS" => Some(LoadType::Always),
            _ => None,
        }
    }

    /// What a request asks for (`loadMetadataType`), else `default` (the master's setting).
    pub(super) fn requested(wire: Option<i32>, default: LoadType) -> LoadType {
        match wire.and_then(|t| LoadMetadataPType::try_from(t).ok()) {
            Some(LoadMetadataPType::Never) => LoadType::Never,
            Some(LoadMetadataPType::Once) => LoadType::Once,
            Some(LoadMetadataPType::Always) => LoadType::Always,
            None => default,
        }
    }
}

/// How stale a call lets what Lode knows of a path's under-file-system be (Alluxio's
/// `syncIntervalMs`, `alluxio.user.file.metadata.sync.interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncInterval {
    /// Never synced (-1, the default).
    Never,
    /// Synced when the last sync of the path (or of a folder above it, recursively) is older.
    Within(Duration),
}

impl SyncInterval {
    /// The interval a call gives in ms (negative: never).
    pub fn from_ms(ms: i64) -> SyncInterval {
        match u64::try_from(ms) {
            Ok(ms) => SyncInterval::Within(Duration::from_millis(ms)),
            Err(_) => SyncInterval::Never,
        }
    }

    /// Parses Alluxio's form: `-1` (never), or a duration (`0`, `500ms`, `5min`).
    pub fn parse(text: &str) -> Result<SyncInterval, String> {
        match text.trim() {
            "-1" => Ok(SyncInterval::Never),
            text => lode_core::config::parse_duration(text)
                .map(SyncInterval::Within)
                .map_err(|e| format!("{e}, or -1 for never")),
        }
    }
}

/// The leader's bookkeeping of loads and syncs: one lock per folder being listed, so clients
/// listing one folder at once list it once (the second waits, then finds it listed), and when
/// each path was last synced. Kept in memory only, as Alluxio's sync path cache: a new leader
/// syncs again once.
#[derive(Debug, Default)]
pub struct Loads {
    folders: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// When each path was synced, and whether everything below it was too.
    synced: Mutex<HashMap<String, (Instant, bool)>>,
}

/// Paths whose sync time is kept at most; past it the times are forgotten (each path is then
/// synced once more, which a sync interval allows).
const SYNC_TIMES_KEPT: usize = 100_000;

impl Loads {
    async fn hold(&self, folder: &str) -> LoadGuard<'_> {
        let lock = self
            .folders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(folder.to_string())
            .or_default()
            .clone();
        let guard = lock.clone().lock_owned().await;
        LoadGuard { loads: self, folder: folder.to_string(), lock, _guard: guard }
    }

    /// Whether `path` is due a sync under `interval`.
    fn sync_due(&self, path: &FsPath, interval: SyncInterval) -> bool {
        let SyncInterval::Within(interval) = interval else { return false };
        let synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = |key: &str, needs_below: bool| {
            synced
                .get(key)
                .is_some_and(|(at, below)| (*below || !needs_below) && at.elapsed() < interval)
        };
        let depth = path.components().count();
        !(fresh(path.as_str(), false)
            || (0..depth).any(|level| fresh(path.prefix(level).as_str(), true)))
    }

    fn note_synced(&self, path: &FsPath, at: Instant, below: bool) {
        let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        if synced.len() >= SYNC_TIMES_KEPT {
            synced.clear();
        }
        synced.insert(path.to_string(), (at, below));
    }
}

struct LoadGuard<'a> {
    loads: &'a Loads,
    folder: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for LoadGuard<'_> {
    fn drop(&mut self) {
        let mut folders = self.loads.folders.lock().unwrap_or_else(|e| e.into_inner());
        // The map's copy, this guard's and the guard's own: nobody else waits.
        if Arc::strong_count(&self.lock) <= 3 {
            folders.remove(&self.folder);
        }
    }
}

/// A folder a load lists.
struct Pending {
    /// Its path below the load's folder (empty: that folder).
    relative: String,
    /// Made by this load (maybe not journaled yet): nothing of it is known to Lode.
    fresh: Option<(Ufs, String)>,
}

/// Entries found and not journaled yet.
struct Batch {
    op: ns::LoadMetadata,
    loaded: usize,
    removed: usize,
}

/// What a walk of a folder does.
#[derive(Debug, Clone, Copy)]
struct Walk {
    load: LoadType,
    recursive: bool,
    /// Also remove what the UFS no longer has, and reload what changed there.
    sync: bool,
}

impl Services {
    /// Answers a call about `path` with `answer` (a read of the namespace; `None`: no such
    /// path), syncing `path` with its under-file-system first when `sync` says it is due, or
    /// looking it up there when the read finds nothing and `load` allows it (then reading
    /// again): a path Lode knows costs the one read it cost before loading existed.
    pub(super) async fn answer_path<T>(
        &self,
        path: &FsPath,
        load: LoadType,
        sync: SyncInterval,
        answer: impl Fn() -> Result<Option<T>, Status>,
    ) -> Result<Option<T>, Status> {
        if self.loads.sync_due(path, sync) {
            self.find_path(path, load, sync).await?;
            return answer();
        }
        match answer()? {
            None if load != LoadType::Never => {
                self.load_path(path, load).await?;
                answer()
            }
            found => Ok(found),
        }
    }

    /// What `GetStatus` and `Exists` do before they answer: sync `path` with its
    /// under-file-system if `sync` says it is due, else load it if Lode does not know it.
    pub(super) async fn find_path(
        &self,
        path: &FsPath,
        load: LoadType,
        sync: SyncInterval,
    ) -> Result<(), Status> {
        if self.loads.sync_due(path, sync) {
            let started = Instant::now();
            self.sync_path(path).await?;
            self.loads.note_synced(path, started, false);
            return Ok(());
        }
        self.load_path(path, load).await
    }

    /// What `ListStatus` does before it lists: syncs folder `path` (and every folder below it
    /// when `recursive`) if `sync` says it is due, else loads what Lode does not know of it.
    pub(super) async fn find_folder(
        &self,
        path: &FsPath,
        load: LoadType,
        sync: SyncInterval,
        recursive: bool,
    ) -> Result<(), Status> {
        if self.loads.sync_due(path, sync) {
            let started = Instant::now();
            self.sync_path(path).await?;
            self.walk(path, Walk { load: LoadType::Always, recursive, sync: true }).await?;
            self.loads.note_synced(path, started, recursive);
            return Ok(());
        }
        if load == LoadType::Never {
            return Ok(());
        }
        self.load_path(path, load).await?;
        self.walk(path, Walk { load, recursive, sync: false }).await
    }

    /// Makes `path` known if Lode does not know it and its under-file-system has it (with the
    /// folders on its way), as `load` allows.
    pub(super) async fn load_path(&self, path: &FsPath, load: LoadType) -> Result<(), Status> {
        if load == LoadType::Never {
            return Ok(());
        }
        let wanted: Vec<String> = path.components().map(str::to_string).collect();
        let known = self.read(|ns| {
            let (depth, id) = ns.deepest_known(path);
            if depth == wanted.len() || !ns.is_directory(id) {
                return Ok(None); // Known, or below a file: nothing to find.
            }
            if load == LoadType::Once && ns.is_listed(id) {
                return Ok(None); // Its folder was listed whole: the UFS has no such name.
            }
            Ok(ns.ufs_place(id).map(|(folder, place)| (depth, folder, place)))
        })?;
        let Some((depth, folder, place)) = known else { return Ok(()) };
        let Some(ufs) = self.ufs_at(&place)? else { return Ok(()) };
        let mut batch = self.batch(&folder);
        let mut ufs_path = place.path.clone();
        for (level, name) in wanted.iter().enumerate().skip(depth) {
            ufs_path = join(&ufs_path, name);
            let Some(status) = ufs.status(&ufs_path).await.map_err(status_from_ufs)? else {
                break;
            };
            let is_file = !status.is_directory;
            let relative = wanted[depth..=level].join("/");
            batch.op.entries.push(self.entry(relative, &status));
            if is_file {
                break; // Nothing is below a file.
            }
        }
        self.flush(&mut batch).await
    }

    /// Syncs `path` itself with its under-file-system: found there and not known, it is
    /// loaded; known as the UFS had it but gone there, it is removed; changed there (another
    /// fingerprint, or a file where a folder was), it is loaded again as a new inode. What
    /// only Lode holds is left alone.
    async fn sync_path(&self, path: &FsPath) -> Result<(), Status> {
        let (Some(parent), Some(name)) = (path.parent(), path.name()) else {
            return Ok(()); // The root: a listing syncs what is in it.
        };
        let known = self.read(|ns| {
            let Ok(folder) = ns.resolve(&parent) else { return Ok(None) };
            if !ns.is_directory(folder) {
                return Ok(Some((Some(None), None)));
            }
            Ok(Some((ns.ufs_entry(folder, name), ns.ufs_place(folder))))
        })?;
        let fingerprint = match known {
            // Not known here: a load with ALWAYS looks for it and the folders on its way.
            None | Some((None, _)) => return self.load_path(path, LoadType::Always).await,
            Some((Some(None), _)) | Some((_, None)) => return Ok(()), // Only Lode holds it.
            Some((Some(Some(fingerprint)), Some((_, place)))) => (fingerprint, place),
        };
        let (fingerprint, place) = fingerprint;
        let Some(ufs) = self.ufs_at(&place)? else { return Ok(()) };
        let status = ufs.status(&join(&place.path, name)).await.map_err(status_from_ufs)?;
        let mut batch = self.batch(&parent);
        if let Some(changed) = compare(name.to_string(), &fingerprint, status.as_ref()) {
            batch.op.removed.push(changed);
            if let Some(status) = &status {
                batch.op.entries.push(self.entry(name.to_string(), status));
            }
        }
        self.flush(&mut batch).await
    }

    /// Walks folder `path` (and with `recursive` every folder below it) as `walk` says:
    /// makes known what its under-file-system has that Lode does not, and when syncing
    /// removes what it no longer has and reloads what changed there.
    async fn walk(&self, path: &FsPath, walk: Walk) -> Result<(), Status> {
        let _held = self.loads.hold(path.as_str()).await;
        let started = Instant::now();
        let mut batch = self.batch(path);
        let mut pending = VecDeque::from([Pending { relative: String::new(), fresh: None }]);
        while let Some(folder) = pending.pop_front() {
            let (ufs, ufs_path, mut persisted) = match folder.fresh {
                Some((ufs, ufs_path)) => (ufs, ufs_path, HashMap::new()),
                None => {
                    let Some(known) = self.known_folder(path, &folder.relative, walk)? else {
                        continue;
                    };
                    pending.extend(
                        known.below.into_iter().map(|relative| Pending { relative, fresh: None }),
                    );
                    match known.ufs {
                        Some((ufs, ufs_path)) => (ufs, ufs_path, known.persisted),
                        None => continue,
                    }
                }
            };
            let fresh = self
                .list_into(&mut batch, path, &folder.relative, (&ufs, &ufs_path), &mut persisted)
                .await?;
            if walk.sync {
                // What Lode had from the UFS and the UFS no longer has.
                batch.op.removed.extend(persisted.into_iter().map(|(name, fingerprint)| {
                    ns::RemovedEntry { path: join(&folder.relative, &name), fingerprint }
                }));
            }
            if walk.recursive {
                pending.extend(fresh.into_iter().map(|(relative, ufs_path)| Pending {
                    relative,
                    fresh: Some((ufs.clone(), ufs_path)),
                }));
            }
            batch.op.listed.push(folder.relative);
            if batch.op.entries.len() + batch.op.removed.len() >= LOAD_BATCH {
                self.flush(&mut batch).await?;
            }
        }
        self.flush(&mut batch).await?;
        if batch.loaded + batch.removed > 0 {
            tracing::info!(
                path = %path,
                loaded = batch.loaded,
                removed = batch.removed,
                seconds = started.elapsed().as_secs_f64(),
                "metadata loaded from the under-file-system"
            );
        }
        Ok(())
    }

    /// What a walk needs of a folder Lode knows: where it is in its under-file-system (`None`
    /// when it is not to be listed), with `recursive` the folders below it that Lode knows,
    /// and when syncing what it holds from the UFS (name to fingerprint). `None` when it is
    /// gone or a file.
    fn known_folder(
        &self,
        root: &FsPath,
        relative: &str,
        walk: Walk,
    ) -> Result<Option<KnownFolder>, Status> {
        let path = join_path(root, relative);
        let found = self.read(|ns| {
            let Ok(id) = ns.resolve(&path) else { return Ok(None) };
            if !ns.is_directory(id) {
                return Ok(None);
            }
            let below = match walk.recursive {
                true => ns.child_folders(id).into_iter().map(|n| join(relative, &n)).collect(),
                false => Vec::new(),
            };
            let list = walk.sync || !(walk.load == LoadType::Once && ns.is_listed(id));
            let persisted = match walk.sync {
                true => ns.persisted_entries(id).into_iter().collect(),
                false => HashMap::new(),
            };
            Ok(Some((below, list.then(|| ns.ufs_place(id)).flatten(), persisted)))
        })?;
        let Some((below, place, persisted)) = found else { return Ok(None) };
        let ufs = match place {
            Some((_, place)) => self.ufs_at(&place)?.map(|ufs| (ufs, place.path)),
            None => None,
        };
        Ok(Some(KnownFolder { below, ufs, persisted }))
    }

    /// Lists the UFS folder `ufs_path` (the folder `relative` below the load's `root`) into
    /// `batch`, journaling each full batch: the entries Lode does not know, and those of
    /// `persisted` (what Lode holds from the UFS, when syncing) that changed there. Takes the
    /// names the UFS has out of `persisted`. Returns the new folders found, as (path below
    /// `root`, UFS path).
    async fn list_into(
        &self,
        batch: &mut Batch,
        root: &FsPath,
        relative: &str,
        (ufs, ufs_path): (&Ufs, &str),
        persisted: &mut HashMap<String, String>,
    ) -> Result<Vec<(String, String)>, Status> {
        let path = join_path(root, relative);
        let mut lister = ufs.list(ufs_path).await.map_err(status_from_ufs)?;
        let mut fresh = Vec::new();
        loop {
            let mut page = lister.next_page(LOAD_BATCH).await.map_err(status_from_ufs)?;
            if page.is_empty() {
                return Ok(fresh);
            }
            page.retain(|entry| match name_problem(&entry.name) {
                None => true,
                Some(problem) => {
                    let ufs_path = ufs.full_path(&join(ufs_path, &entry.name));
                    tracing::warn!(%ufs_path, %problem, "a UFS entry Lode cannot name is skipped");
                    false
                }
            });
            // Names Lode knows (it made them, or an earlier load did) stay as they are, unless
            // a sync finds them changed.
            let known = self.read(|ns| {
                Ok(match ns.resolve(&path) {
                    Ok(id) => ns.entries_named(id, page.iter().map(|e| e.name.as_str())),
                    Err(_) => vec![None; page.len()],
                })
            })?;
            for (entry, known) in page.into_iter().zip(known) {
                let below = join(relative, &entry.name);
                let had = persisted.remove(&entry.name);
                if known.is_some() {
                    let Some(fingerprint) = had else { continue };
                    let Some(changed) = compare(below.clone(), &fingerprint, Some(&entry.status))
                    else {
                        continue;
                    };
                    batch.op.removed.push(changed);
                }
                if entry.status.is_directory {
                    fresh.push((below.clone(), join(ufs_path, &entry.name)));
                }
                batch.op.entries.push(self.entry(below, &entry.status));
                if batch.op.entries.len() + batch.op.removed.len() >= LOAD_BATCH {
                    self.flush(batch).await?;
                }
            }
        }
    }

    fn batch(&self, folder: &FsPath) -> Batch {
        let owner = self.info.ufs_owner.clone();
        let op = ns::LoadMetadata {
            path: folder.to_string(),
            group: owner.clone(),
            owner,
            ..ns::LoadMetadata::default()
        };
        Batch { op, loaded: 0, removed: 0 }
    }

    /// The journal entry of one file or folder found at `relative`.
    fn entry(&self, relative: String, status: &UfsStatus) -> LoadedEntry {
        // A file takes at most the most blocks a file may have: a huge one gets bigger blocks.
        let most = self.info.max_blocks_per_file.max(1);
        let block_size = self.info.default_block_size.max(status.length.div_ceil(most));
        LoadedEntry {
            path: relative,
            directory: status.is_directory,
            length: status.length,
            modified_ms: status.modified_ms.unwrap_or_else(super::now_ms),
            fingerprint: if status.is_directory { String::new() } else { status.fingerprint() },
            block_size: block_size.min(u64::from(u32::MAX)),
            mode: 0,
        }
    }

    /// Journals what `batch` holds, if anything.
    async fn flush(&self, batch: &mut Batch) -> Result<(), Status> {
        if batch.op.entries.is_empty() && batch.op.listed.is_empty() {
            return Ok(());
        }
        let op = ns::LoadMetadata {
            entries: std::mem::take(&mut batch.op.entries),
            listed: std::mem::take(&mut batch.op.listed),
            removed: std::mem::take(&mut batch.op.removed),
            path: batch.op.path.clone(),
            owner: batch.op.owner.clone(),
            group: batch.op.group.clone(),
        };
        let removed = op.removed.len();
        // Loading is idempotent (a name taken is skipped, a removal checks what it removes):
        // no operation id is needed.
        let made = self.mutate(None, Mutation::LoadMetadata(op)).await?;
        batch.loaded += made as usize;
        batch.removed += removed;
        metrics::counter!("lode_master_metadata_loaded_total").increment(made);
        metrics::counter!("lode_master_metadata_sync_removed_total").increment(removed as u64);
        Ok(())
    }

    /// The under-file-system a place is in, when there is one.
    fn ufs_at(&self, place: &UfsPlace) -> Result<Option<Ufs>, Status> {
        self.node.ufses().of_mount(place.mount.as_ref()).transpose().map_err(status_from_ufs)
    }
}

/// What a walk needs of a folder Lode knows (see [`Services::known_folder`]).
struct KnownFolder {
    /// The folders below it Lode knows, as paths below the walk's folder.
    below: Vec<String>,
    /// Its under-file-system and its path there, when it is to be listed.
    ufs: Option<(Ufs, String)>,
    /// When syncing, what it holds from its UFS: name to fingerprint (empty for a folder).
    persisted: HashMap<String, String>,
}

/// The removal a sync journals for what Lode holds from its UFS at `path` (fingerprint
/// `fingerprint`; empty for a folder) when the UFS now has `status` there; `None` when it is
/// the same (a folder still a folder, a file of the same fingerprint).
fn compare(
    path: String,
    fingerprint: &str,
    status: Option<&UfsStatus>,
) -> Option<ns::RemovedEntry> {
    let same = match status {
        None => false,
        Some(status) if status.is_directory => fingerprint.is_empty(),
        Some(status) => !fingerprint.is_empty() && status.fingerprint() == fingerprint,
    };
    (!same).then(|| ns::RemovedEntry { path, fingerprint: fingerprint.to_string() })
}

/// `relative` below `root`.
fn join_path(root: &FsPath, relative: &str) -> FsPath {
    relative
        .split('/')
        .filter(|name| !name.is_empty())
        .fold(root.clone(), |path, name| path.join(name))
}

/// `name` below the relative path `folder` (either may be empty).
fn join(folder: &str, name: &str) -> String {
    match (folder.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => folder.to_string(),
        _ => format!("{folder}/{name}"),
    }
}
