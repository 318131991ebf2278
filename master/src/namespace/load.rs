//! Metadata loaded from under-file-systems (DESIGN §9, Alluxio's metadata load): files and
//! folders a mount's UFS has and Lode did not know become PERSISTED inodes through
//! [`LoadMetadata`]. The leader finds them (`crate::rpc::metadata`) without holding the
//! replica lock; every replica applies what it found alike.
//!
//! A load never replaces or removes anything: an entry whose name is taken is skipped, so
//! a load that ran twice (two clients at once, or a new leader redoing the load an old one
//! died in) makes each inode once, and a folder is marked *listed* only by the entry that
//! ends its listing, after all of its entries.

use super::ops::{Delete, LoadMetadata, LoadedEntry, RemovedEntry};
use super::{
    name_problem, Body, ErrorKind, FsPath, Namespace, NsError, Persistence, Stamp, MAX_SEQUENCE,
    ROOT_ID,
};

/// Permission bits of a loaded file when its UFS gives none.
pub const LOADED_FILE_MODE: u32 = 0o644;
/// Permission bits of a loaded folder when its UFS gives none.
pub const LOADED_DIR_MODE: u32 = 0o755;

impl Namespace {
    /// Whether every entry its under-file-system has of folder `id` is known (an ONCE load
    /// neither lists it again nor looks up a name missing from it).
    pub fn is_listed(&self, id: u64) -> bool {
        self.listed_dirs.contains(&id)
    }

    /// The deepest inode on `path`'s way that exists: how many of `path`'s components lead to
    /// it (all of them when `path` exists), and its id.
    pub fn deepest_known(&self, path: &FsPath) -> (usize, u64) {
        let mut current = ROOT_ID;
        for (depth, name) in path.components().enumerate() {
            match self.child(current, name) {
                Some(child) => current = child,
                None => return (depth, current),
            }
        }
        (path.components().count(), current)
    }

    /// For each of `names`, whether folder `id` has an entry of that name, and if so whether
    /// it is a folder.
    pub fn entries_named<'a>(
        &self,
        id: u64,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Option<bool>> {
        names
            .into_iter()
            .map(|name| self.child(id, name).map(|child| self.is_directory(child)))
            .collect()
    }

    /// The names of folder `id`'s entries that are folders.
    pub fn child_folders(&self, id: u64) -> Vec<String> {
        let Body::Directory { children } = &self.inode(id).body else { return Vec::new() };
        children
            .iter()
            .map(|&child| self.inode(self.id_of(child)))
            .filter(|child| matches!(child.body, Body::Directory { .. }))
            .map(|child| child.name.to_string())
            .collect()
    }

    /// What a sync compares of folder `id`'s entries that came from its under-file-system:
    /// the name of each and its [`Namespace::ufs_fingerprint`]. Entries only Lode holds are
    /// left out: a sync never removes them.
    pub fn persisted_entries(&self, id: u64) -> Vec<(String, String)> {
        let Body::Directory { children } = &self.inode(id).body else { return Vec::new() };
        children
            .iter()
            .map(|&child| self.id_of(child))
            .filter_map(|child| {
                let fingerprint = self.ufs_fingerprint(child)?;
                Some((self.inode(child).name.to_string(), fingerprint))
            })
            .collect()
    }

    /// What a sync compares of entry `name` of folder `id`: `None` when there is none,
    /// `Some(None)` when only Lode holds it, else its [`Namespace::ufs_fingerprint`].
    pub fn ufs_entry(&self, id: u64, name: &str) -> Option<Option<String>> {
        self.child(id, name).map(|child| self.ufs_fingerprint(child))
    }

    /// For an inode that is what its under-file-system has — a complete PERSISTED file, or a
    /// PERSISTED folder that is not a mount point — its UFS fingerprint (empty for a folder).
    fn ufs_fingerprint(&self, id: u64) -> Option<String> {
        match &self.inode(id).body {
            Body::File { complete: true, persistence: Persistence::Persisted, .. } => {
                Some(self.fingerprint_of(id).to_string())
            }
            Body::Directory { .. }
                if self.persisted_dirs.contains(&id) && !self.mounts.contains_key(&id) =>
            {
                Some(String::new())
            }
            _ => None,
        }
    }

    /// Applies a load; returns how many inodes it made.
    pub(super) fn load_metadata(
        &mut self,
        op: &LoadMetadata,
        time_ms: i64,
    ) -> Result<u64, NsError> {
        let path = FsPath::parse(&op.path)?;
        let base = self.resolve(&path)?;
        if !self.is_directory(base) {
            return Err(NsError::new(
                ErrorKind::NotADirectory,
                format!("{path} is a file: nothing is loaded below it"),
            ));
        }
        for removed in &op.removed {
            self.unload(base, removed, time_ms);
        }
        let mut made = 0;
        for entry in &op.entries {
            made += u64::from(self.load_entry(base, entry, &op.owner, &op.group));
        }
        for listed in &op.listed {
            if let Some(folder) = self.below(base, listed).filter(|&id| self.is_directory(id)) {
                self.listed_dirs.insert(folder);
            }
        }
        Ok(made)
    }

    /// Whether inode `id` is a folder.
    pub fn is_directory(&self, id: u64) -> bool {
        matches!(self.inode(id).body, Body::Directory { .. })
    }

    /// The inode at `relative` (`a/b`; empty: `base` itself) below folder `base`.
    fn below(&self, base: u64, relative: &str) -> Option<u64> {
        let mut current = base;
        for name in relative.split('/').filter(|name| !name.is_empty()) {
            if !self.is_directory(current) {
                return None;
            }
            current = self.child(current, name)?;
        }
        Some(current)
    }

    /// Removes what a sync found changed or gone, if it is still what the leader saw (see
    /// [`RemovedEntry`]).
    fn unload(&mut self, base: u64, removed: &RemovedEntry, time_ms: i64) {
        let Some(id) = self.below(base, &removed.path).filter(|&id| id != base) else { return };
        let unchanged = match &self.inode(id).body {
            Body::File { complete: true, persistence: Persistence::Persisted, .. } => {
                self.fingerprint_of(id) == removed.fingerprint
            }
            Body::File { .. } => false,
            Body::Directory { .. } => removed.fingerprint.is_empty() && self.only_persisted(id),
        };
        if !unchanged {
            return;
        }
        let Some(path) = self.path_of(id) else { return };
        let delete = Delete { path: path.to_string(), recursive: true, delete_mount_point: false };
        // Checked above: it exists and holds no mount point, so the delete cannot be refused.
        let _ = self.delete(&delete, time_ms);
    }

    /// Whether folder `id` and everything below it is in its under-file-system: PERSISTED
    /// folders (no mount point) and complete PERSISTED files only.
    fn only_persisted(&self, id: u64) -> bool {
        let mut pending = vec![id];
        while let Some(folder) = pending.pop() {
            if !self.persisted_dirs.contains(&folder) || self.mounts.contains_key(&folder) {
                return false;
            }
            let Body::Directory { children } = &self.inode(folder).body else { return false };
            for &child in children.iter() {
                let child = self.id_of(child);
                match &self.inode(child).body {
                    Body::Directory { .. } => pending.push(child),
                    Body::File { complete: true, persistence: Persistence::Persisted, .. } => {}
                    Body::File { .. } => return false,
                }
            }
        }
        true
    }

    /// Makes the inode `entry` describes, unless it cannot be or its name is taken; says
    /// whether it did.
    fn load_entry(&mut self, base: u64, entry: &LoadedEntry, owner: &str, group: &str) -> bool {
        let (parent, name) = match entry.path.rsplit_once('/') {
            Some((parent, name)) => (parent, name),
            None => ("", entry.path.as_str()),
        };
        if name_problem(name).is_some() {
            return false;
        }
        let Some(parent) = self.below(base, parent) else { return false };
        if !self.is_directory(parent) || self.child(parent, name).is_some() {
            return false;
        }
        let body = if entry.directory {
            Body::Directory { children: Box::default() }
        } else {
            let block_size = match u32::try_from(entry.block_size) {
                Ok(size) if size > 0 => size,
                _ => return false,
            };
            let blocks = entry.length.div_ceil(u64::from(block_size));
            if blocks > MAX_SEQUENCE {
                return false;
            }
            Body::File {
                length: entry.length,
                block_size,
                blocks: blocks as u32,
                complete: true,
                persistence: Persistence::Persisted,
            }
        };
        let mode = match entry.mode {
            0 if entry.directory => LOADED_DIR_MODE,
            0 => LOADED_FILE_MODE,
            mode => mode,
        };
        let stamp = Stamp { owner, group, mode, time_ms: entry.modified_ms };
        // Finding what was there already does not modify the folder it is in.
        let parent_modified = self.inode(parent).modified_ms;
        let Ok(id) = self.new_inode(parent, name, stamp, body) else { return false };
        self.inode_mut(parent).modified_ms = parent_modified;
        if entry.directory {
            self.persisted_dirs.insert(id);
        } else if !entry.fingerprint.is_empty() {
            self.fingerprints.insert(id, entry.fingerprint.as_str().into());
        }
        self.note_folders_in_ufs(id);
        true
    }
}
