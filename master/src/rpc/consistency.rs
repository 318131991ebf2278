//! `CheckConsistency` (Alluxio's `alluxio fs checkConsistency`): which paths at or below one
//! differ from their under-file-system, by Alluxio's rule — what Lode holds as PERSISTED must
//! be there as the same kind (a file with the fingerprint, or at least the length, it had when
//! it was persisted or loaded), and what it holds as not persisted must not be there. Files
//! still being written, and mount points, are not compared. The tree is read [`LIST_BATCH`]
//! entries per hold of the replica lock, the UFS asked with no lock held.

use tonic::Status;

use super::mounts::status_from_ufs;
use super::{parse, Services, LIST_BATCH};
use crate::namespace::{FileStatus, Persistence, TreeWalk, UfsPlace};

impl Services {
    /// The paths at or below `path` that differ from their under-file-system.
    pub(super) async fn inconsistent_paths(&self, path: &str) -> Result<Vec<String>, Status> {
        let root = parse(path)?;
        let top = self.read(|ns| {
            let status = ns.status(root.as_str())?;
            let place = ns.ufs_place(status.id).map(|(_, place)| place);
            Ok((status, place))
        })?;
        let mut inconsistent = Vec::new();
        self.check_entries(vec![top], &mut inconsistent).await?;
        let mut walk = TreeWalk::new(root, true);
        while !walk.is_done() {
            let entries = self.read(|ns| {
                let entries = walk.step(ns, LIST_BATCH)?;
                Ok(entries
                    .into_iter()
                    .map(|status| {
                        let place = ns.ufs_place(status.id).map(|(_, place)| place);
                        (status, place)
                    })
                    .collect::<Vec<_>>())
            })?;
            self.check_entries(entries, &mut inconsistent).await?;
        }
        Ok(inconsistent)
    }

    async fn check_entries(
        &self,
        entries: Vec<(FileStatus, Option<UfsPlace>)>,
        inconsistent: &mut Vec<String>,
    ) -> Result<(), Status> {
        for (status, place) in entries {
            let compared = status.path != "/" && !status.mount_point && status.complete;
            let Some(place) = place.filter(|_| compared) else { continue };
            let Some(ufs) = self.node.ufses().of_mount(place.mount.as_ref()) else { continue };
            let ufs = ufs.map_err(status_from_ufs)?;
            let found = ufs.status(&place.path).await.map_err(status_from_ufs)?;
            let consistent = match (status.persistence, found) {
                (Persistence::Persisted, Some(there)) if status.is_directory => there.is_directory,
                (Persistence::Persisted, Some(there)) => {
                    !there.is_directory
                        && match status.ufs_fingerprint.is_empty() {
                            true => there.length == status.length,
                            false => there.fingerprint() == status.ufs_fingerprint,
                        }
                }
                (Persistence::Persisted, None) => false,
                (_, there) => there.is_none(),
            };
            if !consistent {
                inconsistent.push(status.path);
            }
        }
        Ok(())
    }
}
