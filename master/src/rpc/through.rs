//! Alluxio's write types as the master sees them: CACHE_THROUGH and THROUGH files are created
//! PERSISTED, the client's worker writes the UFS file as the client writes, and completing the
//! file checks that the UFS holds what was written. Without an under-file-system to write
//! through to, those write types are refused rather than taken as MUST_CACHE.

use lode_core::rpc::alluxio::grpc::file::WritePType;
use tonic::Status;

use super::mounts::status_from_ufs;
use super::{status_from_ns, Services};
use crate::namespace::{FsPath, Persistence};

impl Services {
    /// Whether `path` (which may not exist yet) is under a mount with an under-file-system: its
    /// nearest existing ancestor's mount is nested, or there is a root UFS.
    pub(super) fn under_ufs(&self, path: &str) -> Result<bool, Status> {
        if self.node.ufses().root().is_some() {
            return Ok(true);
        }
        let path = FsPath::parse(path).map_err(|e| status_from_ns(e.into()))?;
        self.read(|ns| Ok(ns.mount_containing(&path).is_some()))
    }

    /// Refuses a change at `path` when it is under a read-only mount, with Alluxio's message
    /// (Alluxio's `AccessControlException`: PERMISSION_DENIED).
    pub(super) fn check_writable(&self, path: &str) -> Result<(), Status> {
        let parsed = FsPath::parse(path).map_err(|e| status_from_ns(e.into()))?;
        let read_only_point = self.read(|ns| {
            Ok(match ns.mount_containing(&parsed) {
                Some((point, mount)) => mount.options.read_only.then(|| point.to_string()),
                None => {
                    let root = self.node.ufses().root();
                    root.filter(|root| root.options.read_only).map(|_| "/".to_string())
                }
            })
        })?;
        match read_only_point {
            None => Ok(()),
            Some(point) => Err(Status::permission_denied(format!(
                "A write operation on {path} under a readonly mount point {point} is not allowed"
            ))),
        }
    }

    /// Refuses CACHE_THROUGH and THROUGH (`write_type`) for `path` when no under-file-system
    /// is mounted there, rather than taking them as MUST_CACHE.
    pub(super) fn refuse_through_without_ufs(
        &self,
        path: &str,
        write_type: Option<WritePType>,
    ) -> Result<(), Status> {
        if self.under_ufs(path)? {
            return Ok(());
        }
        Err(Status::failed_precondition(format!(
            "Cannot create {path} with write type {}: no under-file-system is mounted there \
             (set {} or mount one); write it MUST_CACHE or ASYNC_THROUGH instead",
            write_type.map_or("", |t| t.as_str_name()),
            lode_core::config::name::MASTER_MOUNT_TABLE_ROOT_UFS
        )))
    }

    /// Makes the folder `path` (not in Lode yet) in the under-file-system of the mount it will
    /// be in, with any missing parents: a folder created CACHE_THROUGH or THROUGH.
    pub(super) async fn make_ufs_folder(&self, path: &str) -> Result<(), Status> {
        let parsed = FsPath::parse(path).map_err(|e| status_from_ns(e.into()))?;
        let place = self.read(|ns| {
            Ok(match ns.mount_containing(&parsed) {
                None => (None, parsed.components().collect::<Vec<_>>().join("/")),
                Some((point, mount)) => {
                    let below: Vec<&str> =
                        parsed.components().skip(point.components().count()).collect();
                    (Some((mount.ufs_uri.clone(), mount.options.clone())), below.join("/"))
                }
            })
        })?;
        let (mount, relative) = place;
        let ufs = self.node.ufses().of_mount(mount.as_ref()).ok_or_else(|| {
            Status::failed_precondition(format!("{path} has no under-file-system to be made in"))
        })?;
        ufs.map_err(status_from_ufs)?.create_dir(&relative).await.map_err(status_from_ufs)
    }

    /// For a file being written through to its UFS (created CACHE_THROUGH or THROUGH, not yet
    /// complete): the UFS's fingerprint of the file the write left, which must be `length`
    /// bytes. `None` for any other file.
    pub(super) async fn written_through(
        &self,
        path: &str,
        length: u64,
    ) -> Result<Option<String>, Status> {
        let place = self.read(|ns| {
            let status = ns.status(path)?;
            let through = status.persistence == Persistence::Persisted && !status.complete;
            Ok(through.then(|| ns.ufs_place(status.id)).flatten())
        })?;
        let Some((_, place)) = place else { return Ok(None) };
        let ufs = self.node.ufses().of_mount(place.mount.as_ref()).ok_or_else(|| {
            Status::failed_precondition(format!("{path} has no under-file-system to complete in"))
        })?;
        let ufs = ufs.map_err(status_from_ufs)?;
        let full = ufs.full_path(&place.path);
        let status = ufs.status(&place.path).await.map_err(status_from_ufs)?.ok_or_else(|| {
            Status::failed_precondition(format!(
                "{path} was written through to {full}, which does not exist: the write through \
                 to the under-file-system did not finish"
            ))
        })?;
        if status.length != length {
            return Err(Status::failed_precondition(format!(
                "{path} is {length} bytes, but {full} holds {} bytes",
                status.length
            )));
        }
        Ok(Some(status.fingerprint()))
    }
}
