//! Alluxio's mount calls: `Mount`, `Unmount`, `UpdateMount`, `GetMountTable` (the stock
//! shell's `alluxio fs mount` and `unmount`). The leader checks what the journal cannot — that
//! the under-file-system answers with the given options and does not overlap the root mount —
//! before anything is journaled; the namespace applies Alluxio's path rules (`mount.rs`).

use std::collections::HashMap;

use lode_core::rpc::alluxio::grpc::file::{
    GetMountTablePResponse, MountPOptions, MountPRequest, MountPointInfo, UnmountPRequest,
    UpdateMountPRequest,
};
use lode_ufs::{UfsError, UfsUri};
use tonic::Status;

use super::{missing, op_id, Services};
use crate::namespace::{self as ns, Mutation, ROOT_MOUNT_ID};

/// The options Lode journals for Alluxio's `MountPOptions`; `remount` is refused (unmount
/// first), never ignored.
fn mount_options(options: &MountPOptions) -> Result<ns::MountOptions, Status> {
    if options.remount == Some(true) {
        return Err(Status::unimplemented(
            "Lode does not remount in one call: unmount the path, then mount it again",
        ));
    }
    Ok(ns::MountOptions {
        read_only: options.read_only.unwrap_or(false),
        shared: options.shared.unwrap_or(false),
        properties: options.properties.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    })
}

/// The status a UFS that cannot be used answers with: UNAVAILABLE when it does not answer
/// (try again), else INVALID_ARGUMENT (fix the URI or the options).
pub(super) fn status_from_ufs(error: UfsError) -> Status {
    match error {
        UfsError::NotFound { path, .. } => {
            Status::invalid_argument(format!("Ufs path {path} does not exist"))
        }
        error if error.is_temporary() => Status::unavailable(error.to_string()),
        error => Status::invalid_argument(error.to_string()),
    }
}

impl Services {
    /// Opens and checks the under-file-system at `uri` with `options`, and refuses one that
    /// overlaps the root mount's: what the leader makes sure of before journaling a mount.
    async fn checked_ufs(&self, uri: &str, options: &ns::MountOptions) -> Result<UfsUri, Status> {
        let ufs = self.node.ufses().open(uri, &options.properties).map_err(status_from_ufs)?;
        ufs.check().await.map_err(status_from_ufs)?;
        if let Some(root) = self.node.ufses().root() {
            if ufs.uri().overlaps(root.uri()) {
                let refused = ns::overlap(ufs.uri(), root.uri());
                return Err(Status::invalid_argument(refused.message));
            }
        }
        Ok(ufs.uri().clone())
    }

    pub(super) async fn mount_ufs(
        &self,
        user: String,
        request: MountPRequest,
    ) -> Result<(), Status> {
        self.refuse_unless_leading()?;
        let path =
            request.alluxio_path.filter(|p| !p.is_empty()).ok_or_else(|| missing("alluxioPath"))?;
        let uri = request.ufs_path.filter(|p| !p.is_empty()).ok_or_else(|| missing("ufsPath"))?;
        let options = request.options.unwrap_or_default();
        let mount_options = mount_options(&options)?;
        let ufs = self.checked_ufs(&uri, &mount_options).await?;
        let mutation = Mutation::Mount(ns::Mount {
            path,
            ufs_uri: ufs.to_string(),
            options: Some(mount_options),
            group: user.clone(),
            owner: user,
            mode: 0o755,
        });
        self.mutate(op_id(options.common_options.as_ref()), mutation).await?;
        Ok(())
    }

    pub(super) async fn unmount_ufs(&self, request: UnmountPRequest) -> Result<(), Status> {
        let path =
            request.alluxio_path.filter(|p| !p.is_empty()).ok_or_else(|| missing("alluxioPath"))?;
        let common = request.options.and_then(|o| o.common_options);
        self.mutate(op_id(common.as_ref()), Mutation::Unmount(ns::Unmount { path })).await?;
        Ok(())
    }

    pub(super) async fn update_mount_options(
        &self,
        request: UpdateMountPRequest,
    ) -> Result<(), Status> {
        self.refuse_unless_leading()?;
        let path =
            request.alluxio_path.filter(|p| !p.is_empty()).ok_or_else(|| missing("alluxioPath"))?;
        let options = request.options.unwrap_or_default();
        let mount_options = mount_options(&options)?;
        // The new options must work with the mounted URI (new credentials, a new endpoint).
        let uri = self.read(|ns| {
            Ok(ns.mount_at(&ns::FsPath::parse(&path)?).map(|mount| mount.ufs_uri.clone()))
        })?;
        if let Some(uri) = uri {
            let ufs =
                self.node.ufses().open(&uri, &mount_options.properties).map_err(status_from_ufs)?;
            ufs.check().await.map_err(status_from_ufs)?;
        }
        let mutation =
            Mutation::UpdateMount(ns::UpdateMount { path, options: Some(mount_options) });
        self.mutate(op_id(options.common_options.as_ref()), mutation).await?;
        Ok(())
    }

    pub(super) fn mount_table(&self) -> Result<GetMountTablePResponse, Status> {
        let info = |uri: &str, options: &ns::MountOptions, mount_id: u64| {
            let ufs_type = UfsUri::parse(uri).map(|u| u.scheme().ufs_type()).unwrap_or("unknown");
            MountPointInfo {
                ufs_uri: Some(uri.to_string()),
                ufs_type: Some(ufs_type.to_string()),
                // OpenDAL reports no capacity; Alluxio answers -1 when its UFS cannot tell.
                ufs_capacity_bytes: Some(-1),
                ufs_used_bytes: Some(-1),
                read_only: Some(options.read_only),
                properties: options
                    .properties
                    .iter()
                    .map(|(k, v)| (k.clone(), lode_core::config::shown(k, v).to_string()))
                    .collect(),
                shared: Some(options.shared),
                mount_id: Some(mount_id as i64),
            }
        };
        let mut mount_points = HashMap::new();
        if let Some(root) = self.node.ufses().root() {
            mount_points.insert(
                "/".to_string(),
                info(&root.uri().to_string(), &root.options, ROOT_MOUNT_ID),
            );
        }
        let nested = self.read(|ns| {
            Ok(ns
                .mounts()
                .into_iter()
                .map(|(path, mount)| (path, info(&mount.ufs_uri, &mount.options, mount.mount_id)))
                .collect::<Vec<_>>())
        })?;
        mount_points.extend(nested);
        Ok(GetMountTablePResponse { mount_points })
    }
}
