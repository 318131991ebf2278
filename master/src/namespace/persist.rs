//! Persistence state (DESIGN §9): which files wait to be written to their under-file-system,
//! and the journaled outcomes of that work. The leader's persister (`crate::persist`) reads
//! [`Namespace::awaiting_persist`] and [`Namespace::persist_target`]; every replica applies the
//! same [`PersistFile`], [`SchedulePersist`] and [`PersistFailed`] entries, so a new leader
//! resumes exactly the files the old one had not finished.

use super::ops::{PersistFailed, PersistFile, SchedulePersist};
use super::{
    block_id, Body, ErrorKind, FsPath, MountOptions, Namespace, NsError, Persistence, ROOT_ID,
};

/// Where a file or folder is in its under-file-system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UfsPlace {
    /// The nested mount it is in (URI and options); `None` under the root mount.
    pub mount: Option<(String, MountOptions)>,
    /// Its path below the mount's URI (`a/b/file`).
    pub path: String,
}

/// What a worker needs to write one file to its under-file-system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistTarget {
    /// The file's path in Lode.
    pub path: FsPath,
    /// Its length.
    pub length: u64,
    /// Its block size.
    pub block_size: u64,
    /// Its blocks, in order.
    pub block_ids: Vec<u64>,
    /// Where it goes in its under-file-system.
    pub place: UfsPlace,
    /// Not to be persisted before this time, ms since the epoch (Alluxio's persistence wait
    /// time after completion; `i64::MAX`: not until scheduled again).
    pub not_before_ms: i64,
    /// Whether it is LOST (its blocks were gone) rather than TO_BE_PERSISTED.
    pub lost: bool,
}

impl Namespace {
    /// The files to persist: TO_BE_PERSISTED, and LOST ones (persisted still if their blocks
    /// come back), by id.
    pub fn awaiting_persist(&self) -> impl Iterator<Item = u64> + '_ {
        self.awaiting_persist.keys().copied()
    }

    /// How many files wait to be persisted.
    pub fn awaiting_persist_count(&self) -> usize {
        self.awaiting_persist.len()
    }

    /// The persistence work for file `id`, if it is a complete file that waits for it.
    pub fn persist_target(&self, id: u64) -> Option<PersistTarget> {
        let inode = self.lookup(id)?;
        let Body::File { length, block_size, blocks, complete: true, persistence } = &inode.body
        else {
            return None;
        };
        if !matches!(persistence, Persistence::ToBePersisted | Persistence::Lost) {
            return None;
        }
        let (path, place) = self.ufs_place(id)?;
        Some(PersistTarget {
            place,
            length: *length,
            block_size: u64::from(*block_size),
            block_ids: (0..u64::from(*blocks)).map(|i| block_id(id, i)).collect(),
            not_before_ms: self.awaiting_persist.get(&id).copied().unwrap_or(i64::MAX),
            lost: *persistence == Persistence::Lost,
            path,
        })
    }

    /// The path of inode `id` and where it is in its under-file-system.
    pub fn ufs_place(&self, id: u64) -> Option<(FsPath, UfsPlace)> {
        self.lookup(id)?;
        let path = self.path_of(id)?;
        let components: Vec<&str> = path.components().collect();
        let (mount, levels) = match self.mount_of(id) {
            Some((_, mount, levels)) => {
                (Some((mount.ufs_uri.clone(), mount.options.clone())), levels)
            }
            None => (None, components.len()),
        };
        let place = UfsPlace { mount, path: components[components.len() - levels..].join("/") };
        Some((path, place))
    }

    /// The fingerprint its under-file-system gave file `id` when it was persisted.
    pub(super) fn fingerprint_of(&self, id: u64) -> &str {
        self.fingerprints.get(&id).map_or("", |f| f)
    }

    /// Sets file `id`'s persistence state, keeping the files awaiting persistence in step; a
    /// file that comes to await it may be persisted from `not_before_ms` on.
    pub(super) fn set_persistence(&mut self, id: u64, state: Persistence, not_before_ms: i64) {
        if let Body::File { persistence, .. } = &mut self.inode_mut(id).body {
            *persistence = state;
        }
        if matches!(state, Persistence::ToBePersisted | Persistence::Lost) {
            self.awaiting_persist.entry(id).or_insert(not_before_ms);
        } else {
            self.awaiting_persist.remove(&id);
        }
    }

    /// Forgets persistence bookkeeping of a removed inode.
    pub(super) fn forget_persistence(&mut self, id: u64) {
        self.awaiting_persist.remove(&id);
        self.fingerprints.remove(&id);
        self.persisted_dirs.remove(&id);
        self.listed_dirs.remove(&id);
    }

    /// Whether folder `id` is in its under-file-system (PERSISTED).
    pub(super) fn dir_persisted(&self, id: u64) -> bool {
        self.persisted_dirs.contains(&id) || self.mounts.contains_key(&id)
    }

    /// Marks the folders above inode `id` PERSISTED, up to its mount point: putting a file or
    /// folder into an under-file-system makes the folders above it there.
    pub(super) fn note_folders_in_ufs(&mut self, id: u64) {
        let mut current = self.id_of(self.inode(id).parent);
        while current != ROOT_ID && !self.mounts.contains_key(&current) {
            self.persisted_dirs.insert(current);
            current = self.id_of(self.inode(current).parent);
        }
    }

    pub(super) fn persist_file(&mut self, op: &PersistFile) -> Result<u64, NsError> {
        let Some(inode) = self.lookup(op.id) else {
            return Err(NsError::new(
                ErrorKind::NotFound,
                format!("file {} no longer exists (deleted while it was persisted)", op.id),
            ));
        };
        let Body::File { length, complete, persistence, .. } = &inode.body else {
            return Err(NsError::new(ErrorKind::IsADirectory, format!("{} is a directory", op.id)));
        };
        if !complete || *length != op.length {
            return Err(NsError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "file {} is {} bytes{}, not the {} bytes persisted",
                    op.id,
                    length,
                    if *complete { "" } else { " and incomplete" },
                    op.length
                ),
            ));
        }
        if *persistence == Persistence::Persisted {
            return Ok(op.id); // A second copy of the same bytes (a retried command) changes nothing.
        }
        if !op.path.is_empty() {
            let path = self.path_of(op.id).map(|path| path.to_string()).unwrap_or_default();
            if path != op.path {
                return Err(NsError::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "file {} moved from {} to {path} while it was persisted",
                        op.id, op.path
                    ),
                ));
            }
        }
        self.set_persistence(op.id, Persistence::Persisted, 0);
        self.fingerprints.insert(op.id, op.ufs_fingerprint.as_str().into());
        self.note_folders_in_ufs(op.id);
        Ok(op.id)
    }

    pub(super) fn schedule_persist(
        &mut self,
        op: &SchedulePersist,
        time_ms: i64,
    ) -> Result<u64, NsError> {
        let (id, path) = self.file_at(&op.path)?;
        let Body::File { complete, persistence, .. } = &self.inode(id).body else {
            unreachable!("file_at returns files")
        };
        if !complete {
            return Err(NsError::new(
                ErrorKind::InvalidArgument,
                format!("Cannot persist an incomplete Alluxio file: {path}"),
            ));
        }
        match persistence {
            Persistence::NotPersisted => {
                let not_before = not_before(time_ms, op.wait_ms);
                self.set_persistence(id, Persistence::ToBePersisted, not_before);
            }
            // Scheduled again: from the new wait on (a -1 wait is waiting for this call).
            Persistence::ToBePersisted | Persistence::Lost => {
                self.awaiting_persist.insert(id, not_before(time_ms, op.wait_ms.max(0)));
            }
            Persistence::Persisted => {}
        }
        Ok(id)
    }

    pub(super) fn persist_failed(&mut self, op: &PersistFailed) -> Result<u64, NsError> {
        let waiting = self.lookup(op.id).is_some_and(|inode| {
            matches!(
                inode.body,
                Body::File { persistence: Persistence::ToBePersisted | Persistence::Lost, .. }
            )
        });
        if !waiting {
            return Err(NsError::new(
                ErrorKind::NotFound,
                format!("file {} does not wait to be persisted", op.id),
            ));
        }
        let state = if op.lost { Persistence::Lost } else { Persistence::NotPersisted };
        self.set_persistence(op.id, state, 0);
        Ok(op.id)
    }
}

/// When a file scheduled at `time_ms` with Alluxio's persistence wait `wait_ms` may be
/// persisted (a negative wait: not until scheduled again).
pub(super) fn not_before(time_ms: i64, wait_ms: i64) -> i64 {
    if wait_ms < 0 {
        i64::MAX
    } else {
        time_ms.saturating_add(wait_ms)
    }
}
