//! What a delete or a rename does to the under-file-system, as Alluxio does it: the UFS files of
//! persisted files are deleted (unless `alluxioOnly`) or renamed with them, before the change is
//! journaled, so a UFS failure leaves the namespace as it was. Folders are deleted in the UFS
//! only when empty: one may hold files Lode never knew of. Nested mounts below the path keep
//! their files (removing a mount point unmounts, as `unmount` does).

use tonic::Status;

use super::mounts::status_from_ufs;
use super::Services;
use crate::namespace::{FileStatus, FsPath, Persistence, UfsPlace};

/// The UFS side of a delete: persisted files to delete first, folders to delete after if empty.
#[derive(Debug, Default)]
pub(super) struct UfsDelete {
    files: Vec<UfsPlace>,
    /// Deepest first.
    folders: Vec<UfsPlace>,
    /// The path is a folder with something in it.
    pub(super) has_children: bool,
    /// A mount point is at or below the path.
    pub(super) has_mount_points: bool,
}

impl Services {
    /// What deleting `path` removes from its under-file-system.
    pub(super) fn ufs_delete_plan(&self, path: &str) -> Result<UfsDelete, Status> {
        self.read(|ns| {
            let top = ns.status(path)?;
            let mut entries = if top.is_directory { ns.list(path, true)? } else { Vec::new() };
            entries.push(top.clone());
            let mut plan = UfsDelete {
                has_children: entries.len() > 1,
                has_mount_points: entries.iter().any(|e| e.mount_point),
                ..UfsDelete::default()
            };
            if top.mount_point {
                return Ok(plan); // Removing a mount point unmounts: its UFS keeps its files.
            }
            let mut folders: Vec<(usize, UfsPlace)> = Vec::new();
            let same_mount = |e: &FileStatus| e.mount_id == top.mount_id && !e.mount_point;
            for entry in entries.iter().filter(|e| same_mount(e)) {
                let Some((path, place)) = ns.ufs_place(entry.id) else { continue };
                if entry.is_directory {
                    folders.push((path.components().count(), place));
                } else if entry.persistence == Persistence::Persisted && entry.complete {
                    plan.files.push(place);
                }
            }
            folders.sort_by_key(|(depth, _)| std::cmp::Reverse(*depth));
            plan.folders = folders.into_iter().map(|(_, place)| place).collect();
            Ok(plan)
        })
    }

    /// Deletes the plan's files from their under-file-systems.
    pub(super) async fn delete_ufs_files(&self, plan: &UfsDelete) -> Result<(), Status> {
        for place in &plan.files {
            self.ufs_of(place)?.delete(&place.path).await.map_err(status_from_ufs)?;
        }
        Ok(())
    }

    /// Deletes the plan's folders that are empty now (after the delete was journaled: a failure
    /// here leaves an empty folder, nothing worse).
    pub(super) async fn delete_empty_ufs_folders(&self, plan: &UfsDelete) {
        for place in &plan.folders {
            let Ok(ufs) = self.ufs_of(place) else { continue };
            if let Err(error) = ufs.delete_empty_dir(&place.path).await {
                tracing::warn!(%error, "an empty UFS folder of a deleted one stays");
            }
        }
    }

    /// Renames `src`'s file or folder in its under-file-system to `dst`'s place, when it is there
    /// (a persisted file, or a folder the UFS has).
    pub(super) async fn rename_in_ufs(&self, src: &str, dst: &str) -> Result<(), Status> {
        let places = self.read(|ns| {
            let (src, dst) = (FsPath::parse(src)?, FsPath::parse(dst)?);
            let (id, dst_parent) = ns.check_rename(&src, &dst)?;
            let status = ns.status_by_id(id).expect("checked to exist");
            let persisted_file = status.persistence == Persistence::Persisted && status.complete;
            let (_, from) = ns.ufs_place(id).expect("a checked inode has a place");
            let (_, parent) = ns.ufs_place(dst_parent).expect("a checked folder has a place");
            Ok((status.is_directory, persisted_file, from, parent, dst))
        });
        // A rename the namespace refuses is refused by the journaled op with its own message,
        // having touched nothing in the UFS.
        let Ok((is_directory, persisted_file, from, parent, dst)) = places else { return Ok(()) };
        if !is_directory && !persisted_file {
            return Ok(());
        }
        let name = dst.name().unwrap_or_default();
        let to = if parent.path.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", parent.path)
        };
        // No UFS where it is (no root UFS configured): nothing of it can be there.
        let Some(ufs) = self.node.ufses().of_mount(from.mount.as_ref()) else { return Ok(()) };
        let ufs = ufs.map_err(status_from_ufs)?;
        if is_directory && ufs.status(&from.path).await.map_err(status_from_ufs)?.is_none() {
            return Ok(()); // Nothing below it was persisted yet.
        }
        ufs.rename(&from.path, &to).await.map_err(status_from_ufs)
    }

    fn ufs_of(&self, place: &UfsPlace) -> Result<lode_ufs::Ufs, Status> {
        let ufs =
            self.node.ufses().of_mount(place.mount.as_ref()).ok_or_else(|| {
                Status::failed_precondition("no under-file-system is mounted at /")
            })?;
        ufs.map_err(status_from_ufs)
    }
}
