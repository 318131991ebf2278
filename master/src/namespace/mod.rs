//! The namespace: the inode tree of directories and files that the master journals.
//!
//! It is a [`StateMachine`]: every mutation is a journaled [`NamespaceOp`] applied in journal
//! order on the leader and on every standby alike, so all replicas hold the same tree. Nothing
//! here reads a clock or a random source; times come in the ops. Ids follow Alluxio's layout: a
//! file or directory takes a new 40-bit container id `c`, its id is `c << 24 | 0xFFFFFF`, and its
//! blocks are `c << 24 | n` — so a file stores only how many blocks it has.
//!
//! Container ids are never reused (a deleted file's blocks may still be cached under its id),
//! so a namespace hands out up to 2^40 of them over its life. Inodes refer to each other by a
//! 32-bit *handle*, the container id's low 32 bits, with the high 8 bits (the epoch) kept in
//! the inode: a new container id whose handle a live inode still holds is skipped, so handles
//! are unique among live inodes and references stay 4 bytes.

mod load;
mod mount;
mod ops;
mod path;
mod persist;
mod slab;
mod snapshot;
mod walk;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use slab::Slab;

use lode_core::journal::StateMachine;
pub use mount::{join_uri, overlap, MountPoint, ROOT_MOUNT_ID};
pub use ops::{
    CompleteFile, CreateDirectory, CreateFile, Delete, ErrorKind, LoadMetadata, LoadedEntry, Mount,
    MountOptions, Mutation, NamespaceOp, NamespaceReply, NewBlock, PersistFailed, PersistFile,
    RemovedEntry, Rename, ReplyError, SchedulePersist, SetAttribute, Unmount, UpdateMount,
};
pub use path::{name_problem, FsPath, PathError, MAX_NAME_BYTES, MAX_PATH_BYTES};
pub use persist::{PersistTarget, UfsPlace};
pub use walk::TreeWalk;

const SEQUENCE_BITS: u32 = 24;
const MAX_SEQUENCE: u64 = (1 << SEQUENCE_BITS) - 1;
const CONTAINER_BITS: u32 = 40;
const CONTAINER_MASK: u64 = (1 << CONTAINER_BITS) - 1;
/// How many container ids a namespace hands out over its life: Alluxio's 2^40.
pub const MAX_CONTAINERS: u64 = 1 << CONTAINER_BITS;

/// The handle of `container`: its low 32 bits, the inode table's key (see the module doc).
fn handle(container: u64) -> u32 {
    container as u32
}

/// The epoch of `container`: its bits above the handle's.
fn epoch(container: u64) -> u8 {
    (container >> 32) as u8
}

/// The id of the inode in container `container` (Alluxio's file id layout).
pub fn inode_id(container: u64) -> u64 {
    ((container & CONTAINER_MASK) << SEQUENCE_BITS) | MAX_SEQUENCE
}

/// The container of inode `id`: its index in the inode table.
fn container(id: u64) -> u64 {
    id >> SEQUENCE_BITS
}

/// The id of block `index` of the file with id `file_id`.
pub fn block_id(file_id: u64, index: u64) -> u64 {
    (file_id & !MAX_SEQUENCE) | (index & MAX_SEQUENCE)
}

/// The root directory's id.
pub const ROOT_ID: u64 = MAX_SEQUENCE; // inode_id(0)

/// A refused namespace operation or lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NsError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Names the path and what is wrong.
    pub message: String,
}

impl NsError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        NsError { kind, message: message.into() }
    }

    fn not_found(path: &FsPath) -> Self {
        NsError::new(ErrorKind::NotFound, format!("path {path} does not exist"))
    }
}

impl From<PathError> for NsError {
    fn from(e: PathError) -> Self {
        NsError::new(ErrorKind::InvalidPath, e.to_string())
    }
}

impl From<NsError> for NamespaceReply {
    fn from(e: NsError) -> Self {
        NamespaceReply::err(e.kind, e.message)
    }
}

impl NamespaceReply {
    /// The outcome as a `Result`.
    pub fn into_result(self) -> Result<u64, NsError> {
        match self.error {
            None => Ok(self.id),
            Some(e) => Err(NsError {
                kind: ErrorKind::try_from(e.kind).unwrap_or(ErrorKind::InvalidArgument),
                message: e.message,
            }),
        }
    }
}

/// A directory's entries (containers, in no particular order: listings sort by name) or a
/// file's data layout.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::box_collection)] // The box keeps `Body`, so every inode, 8 bytes smaller.
enum Body {
    Directory { children: Box<Vec<u32>> },
    File { length: u64, block_size: u32, blocks: u32, complete: bool, persistence: Persistence },
}

/// Where a file's data is beside worker caches (Alluxio's `PersistenceState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Persistence {
    /// Only in worker caches.
    #[default]
    NotPersisted = 0,
    /// To be written to its under-file-system (ASYNC_THROUGH), not yet done.
    ToBePersisted = 1,
    /// In its under-file-system.
    Persisted = 2,
    /// Its blocks are gone and it was never persisted.
    Lost = 3,
}

impl Persistence {
    /// Alluxio's name, as `FileInfo.persistenceState` carries it.
    pub fn name(self) -> &'static str {
        match self {
            Persistence::NotPersisted => "NOT_PERSISTED",
            Persistence::ToBePersisted => "TO_BE_PERSISTED",
            Persistence::Persisted => "PERSISTED",
            Persistence::Lost => "LOST",
        }
    }

    /// The state a checkpoint stored as `code`, if it is one.
    fn from_code(code: u32) -> Option<Persistence> {
        [Self::NotPersisted, Self::ToBePersisted, Self::Persisted, Self::Lost]
            .into_iter()
            .find(|state| *state as u32 == code)
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Inode {
    /// The parent directory's handle (see [`handle`]).
    parent: u32,
    /// This inode's container id above its handle (see [`epoch`]).
    epoch: u8,
    /// Where this inode sits in its parent's `children`, for O(1) removal.
    slot: u32,
    owner: u32,
    group: u32,
    mode: u16,
    name: Box<str>,
    created_ms: i64,
    modified_ms: i64,
    body: Body,
}

/// What a lookup returns about a file or directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// Inode id.
    pub id: u64,
    /// Full path.
    pub path: String,
    /// Last component (empty for `/`).
    pub name: String,
    /// Whether it is a directory.
    pub is_directory: bool,
    /// Length in bytes (0 for directories and incomplete files without a length).
    pub length: u64,
    /// Block size in bytes (0 for directories).
    pub block_size: u64,
    /// Block ids, in order.
    pub block_ids: Vec<u64>,
    /// Whether a file is complete (directories always are).
    pub complete: bool,
    /// Owner.
    pub owner: String,
    /// Group.
    pub group: String,
    /// Permission bits.
    pub mode: u32,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last modification time, ms since the epoch.
    pub modified_ms: i64,
    /// Entries in a directory.
    pub children: usize,
    /// Where its data is beside worker caches (directories: NOT_PERSISTED; Lode does not yet
    /// make folders in under-file-systems). Only PERSISTED data has a copy beside the caches.
    pub persistence: Persistence,
    /// Whether it is a nested mount point.
    pub mount_point: bool,
    /// The id of the mount it is in (Alluxio's `mountId`; the root mount's is 1).
    pub mount_id: u64,
    /// Its path in its nested mount's under-file-system; `None` under the root mount, where
    /// the root UFS's URI plus `path` is its UFS path.
    pub nested_ufs_path: Option<String>,
    /// What its under-file-system said of it when it was persisted (empty otherwise).
    pub ufs_fingerprint: String,
}

/// Owner and group names, stored once each.
#[derive(Debug, Clone, Default, PartialEq)]
struct Names {
    by_index: Vec<Box<str>>,
    by_name: HashMap<Box<str>, u32>,
}

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&index) = self.by_name.get(name) {
            return index;
        }
        let index = self.by_index.len() as u32;
        self.by_index.push(name.into());
        self.by_name.insert(name.into(), index);
        index
    }

    fn get(&self, index: u32) -> &str {
        self.by_index.get(index as usize).map(|n| &**n).unwrap_or("")
    }
}

/// The inode tree: inodes in a slab by container id, and one hash table from (parent, name) to
/// child, so each name is stored once.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// Inodes by handle (the low 32 bits of the container id, `id >> 24`).
    inodes: Slab<Inode>,
    /// Every inode but the root, by (parent handle, name); holds the child's handle.
    entries: HashTable<u32>,
    hasher: RandomState,
    next_container: u64,
    names: Names,
    /// Nested mounts, by mount point (see `mount.rs`).
    mounts: mount::MountTable,
    /// The mount id the next mount takes.
    next_mount_id: u64,
    /// Files TO_BE_PERSISTED or LOST, by id, with the time (ms) from which they may be
    /// persisted (see `persist.rs`).
    awaiting_persist: BTreeMap<u64, i64>,
    /// The UFS fingerprint of each persisted file that has one, by id.
    fingerprints: HashMap<u64, Box<str>>,
    /// Folders known to be in their under-file-system (made through, or above a file written
    /// there); mount points are too, without being listed.
    persisted_dirs: HashSet<u64>,
    /// Folders whose every entry in their under-file-system was loaded (Alluxio's
    /// `directChildrenLoaded`): an ONCE load neither lists them nor looks up a name missing in
    /// them again.
    listed_dirs: HashSet<u64>,
}

impl Default for Namespace {
    fn default() -> Self {
        Namespace::new()
    }
}

/// Equal when they hold the same tree; the order of a directory's `children` (a by-product of
/// history) and the hash table's layout do not count.
impl PartialEq for Namespace {
    fn eq(&self, other: &Self) -> bool {
        let same_inode = |a: &Inode, b: &Inode| {
            let same_body = match (&a.body, &b.body) {
                (Body::Directory { children: x }, Body::Directory { children: y }) => {
                    let (mut x, mut y) = (x.to_vec(), y.to_vec());
                    x.sort_unstable();
                    y.sort_unstable();
                    x == y
                }
                (x, y) => x == y,
            };
            (a.parent, a.epoch, &a.name, a.mode, a.created_ms, a.modified_ms)
                == (b.parent, b.epoch, &b.name, b.mode, b.created_ms, b.modified_ms)
                && self.names.get(a.owner) == other.names.get(b.owner)
                && self.names.get(a.group) == other.names.get(b.group)
                && same_body
        };
        self.next_container == other.next_container
            && self.mounts == other.mounts
            && self.fingerprints == other.fingerprints
            && self.persisted_dirs == other.persisted_dirs
            && self.listed_dirs == other.listed_dirs
            && self.awaiting_persist == other.awaiting_persist
            && self.next_mount_id.max(ROOT_MOUNT_ID + 1)
                == other.next_mount_id.max(ROOT_MOUNT_ID + 1)
            && self.inodes.len() == other.inodes.len()
            && self.inodes.iter().all(|(key, inode)| {
                other.inodes.get(key).is_some_and(|theirs| same_inode(inode, theirs))
            })
    }
}

/// Who owns what an operation creates, its mode, and when: stamped on every new inode.
#[derive(Clone, Copy)]
struct Stamp<'a> {
    owner: &'a str,
    group: &'a str,
    mode: u32,
    time_ms: i64,
}

fn mask_mode(mode: u32) -> u16 {
    (mode & 0o7777) as u16
}

impl Namespace {
    /// An empty namespace: just `/`, mode 0755.
    pub fn new() -> Namespace {
        let mut names = Names::default();
        let nobody = names.intern("");
        let root = Inode {
            parent: 0,
            epoch: 0,
            slot: 0,
            name: "".into(),
            owner: nobody,
            group: nobody,
            mode: 0o755,
            created_ms: 0,
            modified_ms: 0,
            body: Body::Directory { children: Box::default() },
        };
        let mut inodes = Slab::default();
        inodes.insert(u64::from(handle(container(ROOT_ID))), root);
        Namespace {
            inodes,
            entries: HashTable::new(),
            hasher: RandomState::new(),
            next_container: 1,
            names,
            mounts: Default::default(),
            next_mount_id: ROOT_MOUNT_ID + 1,
            awaiting_persist: BTreeMap::new(),
            fingerprints: HashMap::new(),
            persisted_dirs: HashSet::new(),
            listed_dirs: HashSet::new(),
        }
    }

    /// How many files and directories there are, `/` included.
    pub fn len(&self) -> usize {
        self.inodes.len()
    }

    /// Whether only `/` exists.
    pub fn is_empty(&self) -> bool {
        self.inodes.len() == 1
    }

    /// The inode with id `id` (or of block `id`), if it lives: its handle's, if the epochs
    /// agree.
    fn lookup(&self, id: u64) -> Option<&Inode> {
        let container = container(id);
        let inode = self.inodes.get(u64::from(handle(container)))?;
        (inode.epoch == epoch(container)).then_some(inode)
    }

    fn inode(&self, id: u64) -> &Inode {
        // Ids handed out by this tree always resolve; a miss is a broken invariant.
        self.lookup(id).expect("inode ids in the tree resolve")
    }

    fn inode_mut(&mut self, id: u64) -> &mut Inode {
        self.by_handle_mut(handle(container(id)))
    }

    fn by_handle_mut(&mut self, handle: u32) -> &mut Inode {
        self.inodes.get_mut(u64::from(handle)).expect("handles in the tree resolve")
    }

    /// The id of the live inode with handle `handle`.
    fn id_of(&self, handle: u32) -> u64 {
        let inode = self.inodes.get(u64::from(handle)).expect("handles in the tree resolve");
        inode_id(u64::from(inode.epoch) << 32 | u64::from(handle))
    }

    fn entry_hash(&self, parent: u32, name: &str) -> u64 {
        self.hasher.hash_one((parent, name))
    }

    fn child(&self, directory: u64, name: &str) -> Option<u64> {
        let parent = handle(container(directory));
        let inodes = &self.inodes;
        self.entries
            .find(self.entry_hash(parent, name), |&child| {
                inodes.get(u64::from(child)).is_some_and(|c| c.parent == parent && &*c.name == name)
            })
            .map(|&child| self.id_of(child))
    }

    /// Makes inode `child` (already in the slab, with its parent and name set) an entry of its
    /// parent.
    fn link(&mut self, child: u32) {
        let inode = self.inodes.get(u64::from(child)).expect("linked inodes exist");
        let (parent, hash) = (inode.parent, self.entry_hash(inode.parent, &inode.name));
        let slot = match &mut self.inodes.get_mut(u64::from(parent)).expect("parent exists").body {
            Body::Directory { children } => {
                children.push(child);
                (children.len() - 1) as u32
            }
            Body::File { .. } => unreachable!("parents are directories"),
        };
        self.inodes.get_mut(u64::from(child)).expect("linked inodes exist").slot = slot;
        let (inodes, hasher) = (&self.inodes, &self.hasher);
        self.entries.insert_unique(hash, child, |&c| {
            let i = inodes.get(u64::from(c)).expect("entries point at inodes");
            hasher.hash_one((i.parent, &*i.name))
        });
    }

    /// Removes inode `child` from its parent's entries (the inode itself stays in the slab).
    fn unlink(&mut self, child: u32) {
        let inode = self.inodes.get(u64::from(child)).expect("unlinked inodes exist");
        let (parent, slot) = (inode.parent, inode.slot);
        let hash = self.entry_hash(parent, &inode.name);
        if let Ok(entry) = self.entries.find_entry(hash, |&c| c == child) {
            entry.remove();
        }
        let moved = match &mut self.inodes.get_mut(u64::from(parent)).expect("parent exists").body {
            Body::Directory { children } => {
                children.swap_remove(slot as usize);
                children.get(slot as usize).copied()
            }
            Body::File { .. } => None,
        };
        if let Some(moved) = moved {
            self.inodes.get_mut(u64::from(moved)).expect("children exist").slot = slot;
        }
    }

    /// Panics unless the entry table and the children lists agree with the inodes (tests).
    #[cfg(test)]
    fn check_invariants(&self) {
        assert_eq!(self.entries.len() + 1, self.inodes.len(), "one entry per non-root inode");
        for (key, inode) in self.inodes.iter() {
            if key == container(ROOT_ID) {
                continue;
            }
            let id = inode_id(u64::from(inode.epoch) << 32 | key);
            let parent = self.id_of(inode.parent);
            assert_eq!(self.child(parent, &inode.name), Some(id), "entry of {id}");
            let Body::Directory { children } = &self.inode(parent).body else {
                panic!("the parent of {id} is a file");
            };
            assert_eq!(children.get(inode.slot as usize), Some(&(key as u32)), "slot of {id}");
        }
    }

    /// A directory's children as (name, id), sorted by name.
    fn sorted_children(&self, directory: u64) -> Vec<(&str, u64)> {
        let Body::Directory { children } = &self.inode(directory).body else { return Vec::new() };
        let mut named: Vec<(&str, u64)> =
            children.iter().map(|&c| (&*self.inode(self.id_of(c)).name, self.id_of(c))).collect();
        named.sort_unstable_by(|a, b| a.0.cmp(b.0));
        named
    }

    /// The id at `path`.
    pub fn resolve(&self, path: &FsPath) -> Result<u64, NsError> {
        // Prefix paths are built only for error messages: lookups allocate nothing.
        let mut current = ROOT_ID;
        for (depth, name) in path.components().enumerate() {
            if matches!(self.inode(current).body, Body::File { .. }) {
                return Err(NsError::new(
                    ErrorKind::NotADirectory,
                    format!("{} is a file, so {path} cannot exist", path.prefix(depth)),
                ));
            }
            current = self
                .child(current, name)
                .ok_or_else(|| NsError::not_found(&path.prefix(depth + 1)))?;
        }
        Ok(current)
    }

    /// The full path of inode `id`.
    pub fn path_of(&self, id: u64) -> Option<FsPath> {
        if inode_id(container(id)) != id {
            return None; // Not an inode id (a block id, or made up).
        }
        let mut names = Vec::new();
        let mut current = id;
        while current != ROOT_ID {
            let inode = self.lookup(current)?;
            names.push(inode.name.clone());
            current = self.id_of(inode.parent);
        }
        let mut path = FsPath::root();
        for name in names.iter().rev() {
            path = path.join(name);
        }
        Some(path)
    }

    fn status_of(&self, id: u64, path: FsPath) -> FileStatus {
        let inode = self.inode(id);
        let (is_directory, length, block_size, block_ids, complete, children, persistence) =
            match &inode.body {
                Body::Directory { children } => {
                    let persistence = match self.dir_persisted(id) {
                        true => Persistence::Persisted,
                        false => Persistence::NotPersisted,
                    };
                    (true, 0, 0, Vec::new(), true, children.len(), persistence)
                }
                Body::File { length, block_size, blocks, complete, persistence } => (
                    false,
                    *length,
                    u64::from(*block_size),
                    (0..u64::from(*blocks)).map(|i| block_id(id, i)).collect(),
                    *complete,
                    0,
                    *persistence,
                ),
            };
        let (mount_point, mount_id, nested_ufs_path) = self.ufs_location(id, &path);
        FileStatus {
            id,
            persistence,
            ufs_fingerprint: self.fingerprint_of(id).to_string(),
            mount_point,
            mount_id,
            nested_ufs_path,
            name: inode.name.to_string(),
            path: path.to_string(),
            is_directory,
            length,
            block_size,
            block_ids,
            complete,
            owner: self.names.get(inode.owner).to_string(),
            group: self.names.get(inode.group).to_string(),
            mode: u32::from(inode.mode),
            created_ms: inode.created_ms,
            modified_ms: inode.modified_ms,
            children,
        }
    }

    /// The status of `path`.
    pub fn status(&self, path: &str) -> Result<FileStatus, NsError> {
        let path = FsPath::parse(path)?;
        let id = self.resolve(&path)?;
        Ok(self.status_of(id, path))
    }

    /// Whether block `block` belongs to a file that still has it, and if so the block's
    /// length once the file is complete (`None` while it is being written).
    pub fn block_owner(&self, block: u64) -> Option<Option<u64>> {
        let inode = self.lookup(block)?;
        let Body::File { length, block_size, blocks, complete, .. } = inode.body else {
            return None;
        };
        let index = block & MAX_SEQUENCE;
        if index >= u64::from(blocks) {
            return None;
        }
        let start = index * u64::from(block_size);
        Some(complete.then(|| length.saturating_sub(start).min(u64::from(block_size))))
    }

    /// How many blocks the file at `path` has.
    pub fn block_count(&self, path: &str) -> Result<u64, NsError> {
        let (id, _) = self.file_at(path)?;
        let Body::File { blocks, .. } = self.inode(id).body else { unreachable!() };
        Ok(u64::from(blocks))
    }

    /// Whether `block` belongs to a complete PERSISTED file: a worker may drop it, its data
    /// being in an under-file-system.
    pub fn block_persisted(&self, block: u64) -> bool {
        self.block_owner(block).is_some_and(|length| length.is_some())
            && self.lookup(block).is_some_and(|inode| {
                matches!(inode.body, Body::File { persistence: Persistence::Persisted, .. })
            })
    }

    /// What the under-file-system said of the file `block` belongs to when Lode persisted or
    /// loaded it (empty when it said nothing), if the block belongs to a file.
    pub fn ufs_fingerprint_of_block(&self, block: u64) -> Option<&str> {
        self.block_owner(block)?;
        // A file's id is its container's with every sequence bit set (Alluxio's layout).
        Some(self.fingerprint_of(block | MAX_SEQUENCE))
    }

    /// The block size of the file block `block` belongs to, if it belongs to one: no block of
    /// the file may be longer.
    pub fn block_size_of(&self, block: u64) -> Option<u64> {
        self.block_owner(block)?;
        let Body::File { block_size, .. } = self.lookup(block)?.body else { return None };
        Some(u64::from(block_size))
    }

    /// The status of inode `id`, if it exists.
    pub fn status_by_id(&self, id: u64) -> Option<FileStatus> {
        let path = self.path_of(id)?;
        Some(self.status_of(id, path))
    }

    /// The entries of a directory (every level below it when `recursive`, parents before their
    /// children), or the file itself for a file path — as Alluxio's ListStatus answers.
    pub fn list(&self, path: &str, recursive: bool) -> Result<Vec<FileStatus>, NsError> {
        let mut walk = TreeWalk::new(FsPath::parse(path)?, recursive);
        let mut entries = Vec::new();
        while !walk.is_done() {
            entries.extend(walk.step(self, usize::MAX)?);
        }
        Ok(entries)
    }

    fn new_inode(
        &mut self,
        parent: u64,
        name: &str,
        stamp: Stamp,
        body: Body,
    ) -> Result<u64, NsError> {
        // The next container id whose handle no live inode holds (module doc).
        let container = loop {
            if self.next_container >= MAX_CONTAINERS {
                return Err(NsError::new(
                    ErrorKind::InvalidArgument,
                    format!("the namespace ran out of ids: all {MAX_CONTAINERS} are used"),
                ));
            }
            let candidate = self.next_container;
            self.next_container += 1;
            if !self.inodes.contains(u64::from(handle(candidate))) {
                break candidate;
            }
        };
        let id = inode_id(container);
        let inode = Inode {
            parent: handle(self::container(parent)),
            epoch: epoch(container),
            slot: 0,
            name: name.into(),
            owner: self.names.intern(stamp.owner),
            group: self.names.intern(stamp.group),
            mode: mask_mode(stamp.mode),
            created_ms: stamp.time_ms,
            modified_ms: stamp.time_ms,
            body,
        };
        self.inodes.insert(u64::from(handle(container)), inode);
        self.link(handle(container));
        self.inode_mut(parent).modified_ms = stamp.time_ms;
        Ok(id)
    }

    /// Resolves `path`'s parent, creating missing directories when `recursive`.
    fn parent_for_create(
        &mut self,
        path: &FsPath,
        recursive: bool,
        stamp: Stamp,
    ) -> Result<u64, NsError> {
        let parent_path = path.parent().ok_or_else(|| {
            NsError::new(ErrorKind::AlreadyExists, "path / already exists".to_string())
        })?;
        // Check first, then create, so a refused operation changes nothing.
        let mut current = ROOT_ID;
        let mut missing = Vec::new();
        for (depth, name) in parent_path.components().enumerate() {
            if !missing.is_empty() {
                missing.push(name);
                continue;
            }
            match self.child(current, name) {
                Some(child) if matches!(self.inode(child).body, Body::File { .. }) => {
                    return Err(NsError::new(
                        ErrorKind::NotADirectory,
                        format!(
                            "{} is a file, so {path} cannot be created",
                            path.prefix(depth + 1)
                        ),
                    ));
                }
                Some(child) => current = child,
                None if recursive => missing.push(name),
                None => {
                    return Err(NsError::new(
                        ErrorKind::NotFound,
                        format!("parent {} of {path} does not exist", path.prefix(depth + 1)),
                    ))
                }
            }
        }
        for name in missing {
            let directory = Body::Directory { children: Box::default() };
            current = self.new_inode(current, name, stamp, directory)?;
        }
        Ok(current)
    }

    fn create_directory(&mut self, op: &CreateDirectory, time_ms: i64) -> Result<u64, NsError> {
        let path = FsPath::parse(&op.path)?;
        if let Ok(existing) = self.resolve(&path) {
            let is_directory = matches!(self.inode(existing).body, Body::Directory { .. });
            return if is_directory && op.allow_exists {
                if op.persisted && existing != ROOT_ID {
                    self.persisted_dirs.insert(existing);
                    self.note_folders_in_ufs(existing);
                }
                Ok(existing)
            } else {
                Err(NsError::new(ErrorKind::AlreadyExists, format!("path {path} already exists")))
            };
        }
        let stamp = Stamp { owner: &op.owner, group: &op.group, mode: op.mode, time_ms };
        let parent = self.parent_for_create(&path, op.recursive, stamp)?;
        let name = path.name().unwrap_or_default();
        let id =
            self.new_inode(parent, name, stamp, Body::Directory { children: Box::default() })?;
        if op.persisted {
            self.persisted_dirs.insert(id);
            self.note_folders_in_ufs(id);
        }
        Ok(id)
    }

    fn create_file(&mut self, op: &CreateFile, time_ms: i64) -> Result<u64, NsError> {
        let path = FsPath::parse(&op.path)?;
        if self.resolve(&path).is_ok() {
            return Err(NsError::new(
                ErrorKind::AlreadyExists,
                format!("path {path} already exists"),
            ));
        }
        let block_size = match u32::try_from(op.block_size) {
            Ok(size) if size > 0 => size,
            _ => {
                return Err(NsError::new(
                    ErrorKind::InvalidArgument,
                    format!("block size {} must be from 1 byte to 4 GiB", op.block_size),
                ))
            }
        };
        let stamp = Stamp { owner: &op.owner, group: &op.group, mode: op.mode, time_ms };
        // Parent directories made on the way get the usual directory mode.
        let parent = self.parent_for_create(&path, op.recursive, Stamp { mode: 0o755, ..stamp })?;
        let name = path.name().unwrap_or_default();
        let persistence =
            if op.persisted { Persistence::Persisted } else { Persistence::NotPersisted };
        let body = Body::File { length: 0, block_size, blocks: 0, complete: false, persistence };
        self.new_inode(parent, name, stamp, body)
    }

    fn file_at(&self, raw_path: &str) -> Result<(u64, FsPath), NsError> {
        let path = FsPath::parse(raw_path)?;
        let id = self.resolve(&path)?;
        if matches!(self.inode(id).body, Body::Directory { .. }) {
            return Err(NsError::new(ErrorKind::IsADirectory, format!("{path} is a directory")));
        }
        Ok((id, path))
    }

    fn complete_file(&mut self, op: &CompleteFile, time_ms: i64) -> Result<u64, NsError> {
        let (id, path) = self.file_at(&op.path)?;
        let inode = self.inode_mut(id);
        let Body::File { length, complete, block_size, blocks, persistence } = &mut inode.body
        else {
            unreachable!()
        };
        if *complete {
            return Err(NsError::new(
                ErrorKind::AlreadyComplete,
                format!("{path} is already complete"),
            ));
        }
        let written_through = *persistence == Persistence::Persisted;
        if written_through {
            // Blocks no worker cached (THROUGH, or a cache write that failed) are still blocks
            // of the file: they are read from the UFS.
            let needed = op.length.div_ceil(u64::from(*block_size).max(1));
            if needed > MAX_SEQUENCE {
                return Err(NsError::new(
                    ErrorKind::InvalidArgument,
                    format!("{path} would have too many blocks"),
                ));
            }
            *blocks = (*blocks).max(needed as u32);
        }
        *length = op.length;
        *complete = true;
        inode.modified_ms = time_ms;
        if written_through && !op.ufs_fingerprint.is_empty() {
            self.fingerprints.insert(id, op.ufs_fingerprint.as_str().into());
        }
        if written_through {
            self.note_folders_in_ufs(id);
        }
        if op.to_be_persisted {
            let not_before = persist::not_before(time_ms, op.persist_wait_ms);
            self.set_persistence(id, Persistence::ToBePersisted, not_before);
        }
        Ok(id)
    }

    fn new_block(&mut self, op: &NewBlock, time_ms: i64) -> Result<u64, NsError> {
        let (id, path) = self.file_at(&op.path)?;
        let inode = self.inode_mut(id);
        let Body::File { blocks, complete, .. } = &mut inode.body else { unreachable!() };
        if *complete {
            return Err(NsError::new(
                ErrorKind::AlreadyComplete,
                format!("{path} is complete: it takes no more blocks"),
            ));
        }
        if u64::from(*blocks) >= MAX_SEQUENCE {
            return Err(NsError::new(
                ErrorKind::InvalidArgument,
                format!("{path} has too many blocks"),
            ));
        }
        let block = block_id(id, u64::from(*blocks));
        *blocks += 1;
        inode.modified_ms = time_ms;
        Ok(block)
    }

    fn delete(&mut self, op: &Delete, time_ms: i64) -> Result<u64, NsError> {
        let path = FsPath::parse(&op.path)?;
        if path.is_root() {
            return Err(NsError::new(ErrorKind::InvalidArgument, "the root cannot be deleted"));
        }
        let id = self.resolve(&path)?;
        let mount_points = self.mount_points_within(&path);
        if !mount_points.is_empty() && !op.delete_mount_point {
            return Err(NsError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "Cannot delete path {path} which is or contains a mount point without \
                     --deleteMountPoint/-m option specified"
                ),
            ));
        }
        if let Body::Directory { children } = &self.inode(id).body {
            if !children.is_empty() && !op.recursive {
                return Err(NsError::new(
                    ErrorKind::DirectoryNotEmpty,
                    format!("directory {path} is not empty (delete it recursively)"),
                ));
            }
        }
        for (mount, _) in mount_points {
            self.mounts.remove(&mount);
        }
        let parent = self.inode(id).parent;
        self.unlink(handle(container(id)));
        self.by_handle_mut(parent).modified_ms = time_ms;
        let mut pending = vec![u64::from(handle(container(id)))];
        while let Some(gone) = pending.pop() {
            let inode = self.inodes.remove(gone).expect("the subtree's inodes exist");
            self.forget_persistence(inode_id(u64::from(inode.epoch) << 32 | gone));
            if let Body::Directory { children } = inode.body {
                for child in children.into_iter() {
                    // Their entries go with them; the parent is gone too, so no slot to fix.
                    let hash = {
                        let c = self.inodes.get(u64::from(child)).expect("children exist");
                        self.entry_hash(c.parent, &c.name)
                    };
                    if let Ok(entry) = self.entries.find_entry(hash, |&c| c == child) {
                        entry.remove();
                    }
                    pending.push(u64::from(child));
                }
            }
        }
        Ok(id)
    }

    /// Checks that `src` can be renamed to `dst`, changing nothing: the inode to move and the
    /// folder it goes to.
    pub fn check_rename(&self, src: &FsPath, dst: &FsPath) -> Result<(u64, u64), NsError> {
        if src.is_root() {
            return Err(NsError::new(ErrorKind::InvalidArgument, "the root cannot be renamed"));
        }
        let id = self.resolve(src)?;
        if dst.is_within(src) {
            return Err(NsError::new(
                ErrorKind::InvalidArgument,
                format!("cannot move {src} to {dst}, inside itself"),
            ));
        }
        if self.resolve(dst).is_ok() {
            return Err(NsError::new(
                ErrorKind::AlreadyExists,
                format!("path {dst} already exists"),
            ));
        }
        let dst_parent_path = dst.parent().expect("a non-root path has a parent");
        let dst_parent = self.resolve(&dst_parent_path)?;
        if matches!(self.inode(dst_parent).body, Body::File { .. }) {
            return Err(NsError::new(
                ErrorKind::NotADirectory,
                format!("{dst_parent_path} is a file, so {dst} cannot be created"),
            ));
        }
        if let Some((_, mount_point)) = self.mount_points_within(src).first() {
            return Err(NsError::new(
                ErrorKind::InvalidArgument,
                format!("cannot rename {src}: {mount_point} is a mount point (unmount it first)"),
            ));
        }
        let mount_id = |ns: &Namespace, id| ns.mount_of(id).map(|(mount, _, _)| mount);
        if mount_id(self, self.id_of(self.inode(id).parent)) != mount_id(self, dst_parent) {
            return Err(NsError::new(
                ErrorKind::InvalidArgument,
                format!("Renaming {src} to {dst} is a cross mount operation"),
            ));
        }
        Ok((id, dst_parent))
    }

    fn rename(&mut self, op: &Rename, time_ms: i64) -> Result<u64, NsError> {
        let src = FsPath::parse(&op.src)?;
        let dst = FsPath::parse(&op.dst)?;
        let (id, dst_parent) = self.check_rename(&src, &dst)?;
        let old_parent = self.inode(id).parent;
        self.unlink(handle(container(id)));
        let inode = self.inode_mut(id);
        inode.name = dst.name().unwrap_or_default().into();
        inode.parent = handle(container(dst_parent));
        inode.modified_ms = time_ms;
        self.link(handle(container(id)));
        self.by_handle_mut(old_parent).modified_ms = time_ms;
        self.inode_mut(dst_parent).modified_ms = time_ms;
        Ok(id)
    }

    fn set_attribute(&mut self, op: &SetAttribute, time_ms: i64) -> Result<u64, NsError> {
        let path = FsPath::parse(&op.path)?;
        let id = self.resolve(&path)?;
        let owner = op.owner.as_deref().map(|o| self.names.intern(o));
        let group = op.group.as_deref().map(|g| self.names.intern(g));
        let mut pending = vec![handle(container(id))];
        while let Some(current) = pending.pop() {
            let inode = self.by_handle_mut(current);
            if let Some(mode) = op.mode {
                inode.mode = mask_mode(mode);
            }
            inode.owner = owner.unwrap_or(inode.owner);
            inode.group = group.unwrap_or(inode.group);
            inode.modified_ms = time_ms;
            if let (true, Body::Directory { children }) = (op.recursive, &inode.body) {
                pending.extend(children.iter().copied());
            }
        }
        Ok(id)
    }
}

impl StateMachine for Namespace {
    type Op = NamespaceOp;
    type Reply = NamespaceReply;

    fn apply(&mut self, op: &NamespaceOp) -> NamespaceReply {
        let time = op.time_ms;
        let outcome = match &op.mutation {
            Some(Mutation::CreateDirectory(m)) => self.create_directory(m, time),
            Some(Mutation::CreateFile(m)) => self.create_file(m, time),
            Some(Mutation::CompleteFile(m)) => self.complete_file(m, time),
            Some(Mutation::Delete(m)) => self.delete(m, time),
            Some(Mutation::Rename(m)) => self.rename(m, time),
            Some(Mutation::SetAttribute(m)) => self.set_attribute(m, time),
            Some(Mutation::NewBlock(m)) => self.new_block(m, time),
            Some(Mutation::Mount(m)) => self.mount(m, time),
            Some(Mutation::Unmount(m)) => self.unmount(m, time),
            Some(Mutation::UpdateMount(m)) => self.update_mount(m, time),
            Some(Mutation::PersistFile(m)) => self.persist_file(m),
            Some(Mutation::SchedulePersist(m)) => self.schedule_persist(m, time),
            Some(Mutation::PersistFailed(m)) => self.persist_failed(m),
            Some(Mutation::LoadMetadata(m)) => self.load_metadata(m, time),
            None => Err(NsError::new(ErrorKind::InvalidArgument, "empty namespace operation")),
        };
        match outcome {
            Ok(id) => NamespaceReply::ok(id),
            Err(e) => e.into(),
        }
    }

    fn encode_snapshot(&self, out: &mut Vec<u8>) {
        snapshot::encode(self, out);
    }

    fn decode_snapshot(bytes: &[u8]) -> Result<Self, String> {
        snapshot::decode(bytes)
    }
}

#[cfg(test)]
mod tests;
