//! The mount table (DESIGN §9): folders whose files live in an under-file-system of their own.
//!
//! `/` is the root mount, whose under-file-system comes from the site configuration on every
//! master (as Alluxio's does) and is not journaled. Nested mounts are journaled ([`Mount`],
//! [`Unmount`], [`UpdateMount`]) and checkpointed, keyed by the mount point's inode: a mount
//! point cannot be renamed, and no rename crosses from one mount into another, so a file's UFS
//! path is always its mount's URI plus its path below the mount point. Alluxio's rules: a mount
//! point is a new folder whose parent exists; two mounts never overlap in one under-file-system
//! (the root mount is checked by the leader, which knows it); `/` is never unmounted; a delete
//! takes mount points with it only when asked to.

use std::collections::BTreeMap;

use lode_ufs::UfsUri;

use super::ops::{Mount, MountOptions, Unmount, UpdateMount};
use super::{ErrorKind, FsPath, Namespace, NsError, Stamp, ROOT_ID};

/// The mount id of `/` (Alluxio's `ROOT_MOUNT_ID`); nested mounts count up from 2.
pub const ROOT_MOUNT_ID: u64 = 1;

/// A nested mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    /// The under-file-system's URI (normalised).
    pub ufs_uri: String,
    /// How it is mounted.
    pub options: MountOptions,
    /// Its id, for Alluxio's `MountPointInfo.mountId`.
    pub mount_id: u64,
}

/// The nested mounts of a namespace, by the inode id of their mount point.
pub(super) type MountTable = BTreeMap<u64, MountPoint>;

impl Namespace {
    /// The nested mounts with their mount points, by path.
    pub fn mounts(&self) -> Vec<(String, &MountPoint)> {
        let mut mounts: Vec<_> = self
            .mounts
            .iter()
            .filter_map(|(&id, mount)| Some((self.path_of(id)?.to_string(), mount)))
            .collect();
        mounts.sort_by(|a, b| a.0.cmp(&b.0));
        mounts
    }

    /// The nested mount whose mount point is `path`, if it is one.
    pub fn mount_at(&self, path: &FsPath) -> Option<&MountPoint> {
        self.resolve(path).ok().and_then(|id| self.mounts.get(&id))
    }

    /// The nested mount `path` is in (it may not exist yet: its nearest existing ancestor's)
    /// and that mount's point; `None` under the root mount.
    pub fn mount_containing(&self, path: &FsPath) -> Option<(FsPath, &MountPoint)> {
        let mut current = Some(path.clone());
        while let Some(at) = current {
            if let Ok(id) = self.resolve(&at) {
                let (point, mount, _) = self.mount_of(id)?;
                return Some((self.path_of(point)?, mount));
            }
            current = at.parent();
        }
        None
    }

    /// The nested mount inode `id` is in (itself or its nearest ancestor that is a mount point)
    /// and how many levels below that mount point it is; `None` under the root mount.
    pub(super) fn mount_of(&self, id: u64) -> Option<(u64, &MountPoint, usize)> {
        if self.mounts.is_empty() {
            return None;
        }
        let (mut current, mut levels) = (id, 0);
        loop {
            if let Some(mount) = self.mounts.get(&current) {
                return Some((current, mount, levels));
            }
            if current == ROOT_ID {
                return None;
            }
            current = self.id_of(self.inode(current).parent);
            levels += 1;
        }
    }

    /// Whether inode `id` is a mount point, the id of the mount it is in, and its UFS path when
    /// that is a nested mount (`None` under the root mount, whose URI the caller knows: the
    /// path maps as it is).
    pub(super) fn ufs_location(&self, id: u64, path: &FsPath) -> (bool, u64, Option<String>) {
        match self.mount_of(id) {
            None => (false, ROOT_MOUNT_ID, None),
            Some((_, mount, levels)) => {
                let components: Vec<&str> = path.components().collect();
                let relative = components[components.len() - levels..].join("/");
                (levels == 0, mount.mount_id, Some(join_uri(&mount.ufs_uri, &relative)))
            }
        }
    }

    /// The nested mount with Alluxio mount id `mount_id`.
    pub fn mount_by_id(&self, mount_id: u64) -> Option<&MountPoint> {
        self.mounts.values().find(|mount| mount.mount_id == mount_id)
    }

    /// The mount points at or below `path` (inode `id`).
    pub(super) fn mount_points_within(&self, path: &FsPath) -> Vec<(u64, FsPath)> {
        self.mounts
            .keys()
            .filter_map(|&mount| Some((mount, self.path_of(mount)?)))
            .filter(|(_, mount_path)| mount_path.is_within(path))
            .collect()
    }

    pub(super) fn mount(&mut self, op: &Mount, time_ms: i64) -> Result<u64, NsError> {
        let path = FsPath::parse(&op.path)?;
        if path.is_root() || self.resolve(&path).is_ok() {
            return Err(NsError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "Mount point target path {path} already exists in Alluxio namespace. Try \
                     mounting to another path."
                ),
            ));
        }
        let ufs = UfsUri::parse(&op.ufs_uri)
            .map_err(|e| NsError::new(ErrorKind::InvalidArgument, e.to_string()))?;
        for mount in self.mounts.values() {
            // Journaled mounts parsed when they were mounted; a failure here is not possible.
            let Ok(mounted) = UfsUri::parse(&mount.ufs_uri) else { continue };
            if ufs.overlaps(&mounted) {
                return Err(overlap(&ufs, &mounted));
            }
        }
        let stamp = Stamp { owner: &op.owner, group: &op.group, mode: op.mode, time_ms };
        let parent = self.parent_for_create(&path, false, stamp)?;
        let name = path.name().unwrap_or_default();
        let body = super::Body::Directory { children: Box::default() };
        let id = self.new_inode(parent, name, stamp, body)?;
        let mount_id = self.next_mount_id.max(ROOT_MOUNT_ID + 1);
        self.next_mount_id = mount_id + 1;
        let options = op.options.clone().unwrap_or_default();
        self.mounts.insert(id, MountPoint { ufs_uri: ufs.to_string(), options, mount_id });
        Ok(id)
    }

    pub(super) fn unmount(&mut self, op: &Unmount, time_ms: i64) -> Result<u64, NsError> {
        let path = FsPath::parse(&op.path)?;
        if path.is_root() {
            return Err(NsError::new(
                ErrorKind::InvalidArgument,
                "Cannot unmount the root mount point.",
            ));
        }
        let id = self.resolve(&path).map_err(|_| {
            NsError::new(
                ErrorKind::NotFound,
                format!("Failed to unmount: Path {path} does not exist"),
            )
        })?;
        self.mount_point(id, &path, "unmount")?;
        if let Some((_, nested)) =
            self.mount_points_within(&path).into_iter().find(|(m, _)| *m != id)
        {
            return Err(NsError::new(
                ErrorKind::InvalidArgument,
                format!("The path to unmount {path} contains another nested mount point {nested}"),
            ));
        }
        self.mounts.remove(&id);
        let delete =
            super::Delete { path: path.to_string(), recursive: true, delete_mount_point: true };
        self.delete(&delete, time_ms)
    }

    pub(super) fn update_mount(&mut self, op: &UpdateMount, time_ms: i64) -> Result<u64, NsError> {
        let path = FsPath::parse(&op.path)?;
        let id = self.resolve(&path)?;
        self.mount_point(id, &path, "update the mount point at")?;
        let options = op.options.clone().unwrap_or_default();
        self.mounts.get_mut(&id).expect("checked to be a mount point").options = options;
        self.inode_mut(id).modified_ms = time_ms;
        Ok(id)
    }

    /// Refuses unless inode `id` (at `path`) is a nested mount point.
    fn mount_point(&self, id: u64, path: &FsPath, doing: &str) -> Result<(), NsError> {
        if self.mounts.contains_key(&id) {
            return Ok(());
        }
        Err(NsError::new(
            ErrorKind::InvalidArgument,
            format!(
                "Failed to {doing} {path}. Please ensure the path is an existing mount point and \
                 not root."
            ),
        ))
    }
}

/// Alluxio's refusal of a mount whose under-file-system overlaps another's (`inner` is the one
/// inside the other, or equal).
pub fn overlap(new: &UfsUri, mounted: &UfsUri) -> NsError {
    let (outer, inner) =
        if new.root().len() <= mounted.root().len() { (new, mounted) } else { (mounted, new) };
    NsError::new(ErrorKind::InvalidArgument, format!("Mount point {outer} is a prefix of {inner}"))
}

/// The URI of `relative` below the URI `uri`.
pub fn join_uri(uri: &str, relative: &str) -> String {
    match (relative.is_empty(), uri.ends_with('/')) {
        (true, _) => uri.to_string(),
        (false, true) => format!("{uri}{relative}"),
        (false, false) => format!("{uri}/{relative}"),
    }
}
