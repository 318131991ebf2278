//! The master's gRPC services: Lode's subset of Alluxio 2.9's client protocol, plus Lode's own
//! status service. A standby answers the Alluxio services with UNAVAILABLE naming the leader,
//! so clients go and find it; Lode's status service answers on every master.

mod blocks;
mod configuration;
mod consistency;
mod convert;
mod listing;
mod metadata;
mod mounts;
mod through;
mod ufs_effects;

use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lode_core::rpc::alluxio::grpc::block::block_master_client_service_server::BlockMasterClientServiceServer;
use lode_core::rpc::alluxio::grpc::file::file_system_master_client_service_server::{
    FileSystemMasterClientService, FileSystemMasterClientServiceServer,
};
use lode_core::rpc::alluxio::grpc::file::*;
use lode_core::rpc::alluxio::grpc::meta::meta_master_client_service_server::{
    MetaMasterClientService, MetaMasterClientServiceServer,
};
use lode_core::rpc::alluxio::grpc::meta::meta_master_configuration_service_server::MetaMasterConfigurationServiceServer;
use lode_core::rpc::alluxio::grpc::meta::{
    GetMasterInfoPOptions, GetMasterInfoPResponse, MasterInfo,
};
use lode_core::rpc::alluxio::grpc::version::service_version_client_service_server::{
    ServiceVersionClientService, ServiceVersionClientServiceServer,
};
use lode_core::rpc::alluxio::grpc::version::{
    GetServiceVersionPRequest, GetServiceVersionPResponse, ServiceType,
};
use lode_core::rpc::alluxio::grpc::NetAddress;
use lode_core::rpc::lode::master::lode_master_service_server::{
    LodeMasterService, LodeMasterServiceServer,
};
use lode_core::rpc::lode::master::{
    CheckpointRequest, CheckpointResponse, GetMasterStatusRequest, MasterStatus, Role as WireRole,
};
use lode_core::rpc::lode::worker::lode_block_master_worker_service_server::LodeBlockMasterWorkerServiceServer;
use lode_core::rpc::sasl::AuthenticatedChannels;
use lode_core::rpc::service_version;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub use configuration::{ClusterConfiguration, ALLUXIO_VERSION};
pub use convert::file_info;
use convert::{missing, op_id, status_from_ns, status_from_serve};
pub use lode_core::rpc::{mode_from_pmode, pmode_from_mode};
pub use metadata::{LoadType, Loads, SyncInterval};

use crate::namespace::{self as ns, ErrorKind, Mutation};
use crate::{MasterNode, Role};

/// The metadata key in which Lode's own client names its user; what its creations are owned by
/// (stock Alluxio clients authenticate their channel instead).
pub const USER_METADATA_KEY: &str = "lode-user";
/// Entries per ListStatus message.
const LIST_BATCH: usize = 1000;

/// What the services need besides the node: static facts for `GetMasterInfo` and defaults.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// The block size of files created without one.
    pub default_block_size: u64,
    /// The most blocks one file may have (`alluxio.master.file.blocks.max`).
    pub max_blocks_per_file: u64,
    /// Every master's `host:port`, when configured.
    pub master_addresses: Vec<String>,
    /// The ZooKeeper ensemble, when enabled.
    pub zookeeper_addresses: Vec<String>,
    /// The web UI's port, as bound.
    pub web_port: i32,
    /// When this master started, ms since the epoch.
    pub start_time_ms: i64,
    /// The registered name of the elector in use.
    pub elector: String,
    /// Where the journal lives.
    pub journal: String,
    /// The cluster defaults clients load.
    pub configuration: ClusterConfiguration,
    /// How paths missing from Lode are looked up in under-file-systems when a call does not
    /// say (`alluxio.user.file.metadata.load.type`).
    pub load_type: LoadType,
    /// How stale what Lode knows of under-file-systems may be when a call does not say
    /// (`alluxio.user.file.metadata.sync.interval`).
    pub sync_interval: SyncInterval,
    /// Who owns what is loaded from under-file-systems (OpenDAL reports no owners): the user
    /// the master runs as.
    pub ufs_owner: String,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The Alluxio and Lode services of one master, ready to serve.
#[derive(Clone)]
pub struct Services {
    node: Arc<MasterNode>,
    info: Arc<ServerInfo>,
    channels: AuthenticatedChannels,
    loads: Arc<Loads>,
}

impl Services {
    /// Services for `node`.
    pub fn new(node: Arc<MasterNode>, info: Arc<ServerInfo>) -> Services {
        Services { node, info, channels: AuthenticatedChannels::new(), loads: Arc::default() }
    }

    /// A tonic router with every service added.
    pub fn router(self) -> tonic::service::Routes {
        tonic::service::Routes::new(FileSystemMasterClientServiceServer::new(self.clone()))
            .add_service(self.channels.service())
            .add_service(MetaMasterConfigurationServiceServer::new(self.clone()))
            .add_service(BlockMasterClientServiceServer::new(self.clone()))
            .add_service(LodeBlockMasterWorkerServiceServer::new(self.clone()))
            .add_service(ServiceVersionClientServiceServer::new(self.clone()))
            .add_service(MetaMasterClientServiceServer::new(self.clone()))
            .add_service(LodeMasterServiceServer::new(self))
    }

    async fn mutate(
        &self,
        id: Option<lode_core::journal::OpId>,
        mutation: Mutation,
    ) -> Result<u64, Status> {
        let reply = self.node.mutate(id, mutation).await.map_err(status_from_serve)?;
        reply.into_result().map_err(status_from_ns)
    }

    fn read<T>(
        &self,
        read: impl FnOnce(&ns::Namespace) -> Result<T, ns::NsError>,
    ) -> Result<T, Status> {
        self.node.read(read).map_err(status_from_serve)?.map_err(status_from_ns)
    }

    /// How a call asks for its paths to be found in under-file-systems: the metadata load
    /// type and sync interval it gives, else the master's.
    fn finding(
        &self,
        load: Option<i32>,
        common: Option<FileSystemMasterCommonPOptions>,
    ) -> (LoadType, SyncInterval) {
        let sync = common.and_then(|c| c.sync_interval_ms).map(SyncInterval::from_ms);
        (LoadType::requested(load, self.info.load_type), sync.unwrap_or(self.info.sync_interval))
    }

    /// UNAVAILABLE naming the leader unless this master leads (what a standby answers).
    fn refuse_unless_leading(&self) -> Result<(), Status> {
        self.node.read(|_| ()).map_err(status_from_serve)
    }

    /// The length of the file at `path` as its blocks were committed by workers; refused when
    /// a block was never committed (its write did not finish) or is gone with its worker.
    fn committed_length(&self, path: &str) -> Result<u64, Status> {
        let lengths = self
            .node
            .read_blocks(|blocks, ns| {
                let status = ns.status(path)?;
                Ok(status
                    .block_ids
                    .iter()
                    .map(|&block| (block, blocks.locations(block).map(|(length, _)| length)))
                    .collect::<Vec<_>>())
            })
            .map_err(status_from_serve)?
            .map_err(status_from_ns)?;
        let mut total = 0;
        for (block, length) in lengths {
            let length = length.ok_or_else(|| {
                Status::failed_precondition(format!(
                    "cannot complete {path}: no worker holds its block {block} (the block's write \
                     did not finish, or its worker is gone)"
                ))
            })?;
            total += length;
        }
        Ok(total)
    }

    /// Who is calling: the user its channel authenticated as, else the user Lode's own client
    /// names, else nobody (a NOSASL client).
    fn user<T>(&self, request: &Request<T>) -> String {
        self.channels.user_of(request).unwrap_or_else(|| {
            request
                .metadata()
                .get(USER_METADATA_KEY)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string()
        })
    }
}

fn path(path: Option<String>) -> Result<String, Status> {
    path.filter(|p| !p.is_empty()).ok_or_else(|| missing("path"))
}

/// `path` checked against Lode's path rules.
fn parse(path: &str) -> Result<ns::FsPath, Status> {
    ns::FsPath::parse(path).map_err(|e| status_from_ns(e.into()))
}

fn refuse_ttl(common: Option<&FileSystemMasterCommonPOptions>) -> Result<(), Status> {
    match common.and_then(|c| c.ttl) {
        Some(ttl) if ttl > 0 => Err(Status::unimplemented("Lode does not support file TTLs yet")),
        _ => Ok(()),
    }
}

type ListStream = Pin<Box<dyn Stream<Item = Result<ListStatusPResponse, Status>> + Send>>;

#[tonic::async_trait]
impl FileSystemMasterClientService for Services {
    async fn check_consistency(
        &self,
        request: Request<CheckConsistencyPRequest>,
    ) -> Result<Response<CheckConsistencyPResponse>, Status> {
        let path = path(request.into_inner().path)?;
        let inconsistent_paths = self.inconsistent_paths(&path).await?;
        Ok(Response::new(CheckConsistencyPResponse { inconsistent_paths }))
    }

    async fn exists(
        &self,
        request: Request<ExistsPRequest>,
    ) -> Result<Response<ExistsPResponse>, Status> {
        let request = request.into_inner();
        let path = path(request.path)?;
        let options = request.options.unwrap_or_default();
        let (load, sync) = self.finding(options.load_metadata_type, options.common_options);
        let exists = || {
            self.read(|ns| match ns.status(&path) {
                Ok(_) => Ok(true),
                Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                    Ok(false)
                }
                Err(e) => Err(e),
            })
        };
        let parsed = parse(&path)?;
        let exists = self
            .answer_path(&parsed, load, sync, || exists().map(|found| found.then_some(true)))
            .await?
            .is_some();
        Ok(Response::new(ExistsPResponse { exists: Some(exists) }))
    }

    async fn complete_file(
        &self,
        request: Request<CompleteFilePRequest>,
    ) -> Result<Response<CompleteFilePResponse>, Status> {
        let request = request.into_inner();
        let options = request.options.unwrap_or_default();
        let path = path(request.path)?;
        let length = match options.ufs_length {
            // Lode's own client says how much it wrote.
            Some(length) => length.max(0) as u64,
            // Alluxio's leaves it to the master: the sum of what workers committed.
            None => self.committed_length(&path)?,
        };
        // Alluxio's ASYNC_THROUGH (the stock client's default write type) asks for the file to
        // be persisted: it completes TO_BE_PERSISTED when its mount has an under-file-system,
        // and stays cache-only (NOT_PERSISTED) when there is none to write to.
        let to_be_persisted = options.async_persist_options.is_some() && self.under_ufs(&path)?;
        // Written through (CACHE_THROUGH, THROUGH): the UFS must hold what was written.
        let ufs_fingerprint = self.written_through(&path, length).await?.unwrap_or_default();
        let persist_wait_ms = options
            .async_persist_options
            .as_ref()
            .and_then(|o| o.persistence_wait_time)
            .unwrap_or(0);
        let through = !ufs_fingerprint.is_empty();
        let mutation = Mutation::CompleteFile(ns::CompleteFile {
            path,
            length,
            to_be_persisted,
            persist_wait_ms,
            ufs_fingerprint,
        });
        let id = self.mutate(op_id(options.common_options.as_ref()), mutation).await?;
        if through {
            self.node.note_persisted(id); // Its cached blocks (CACHE_THROUGH) may be dropped.
        }
        Ok(Response::new(CompleteFilePResponse {}))
    }

    async fn create_directory(
        &self,
        request: Request<CreateDirectoryPRequest>,
    ) -> Result<Response<CreateDirectoryPResponse>, Status> {
        let owner = self.user(&request);
        let request = request.into_inner();
        let options = request.options.unwrap_or_default();
        refuse_ttl(options.common_options.as_ref())?;
        let path = path(request.path)?;
        self.check_writable(&path)?;
        let write_type = options.write_type.and_then(|t| WritePType::try_from(t).ok());
        let persisted = matches!(write_type, Some(WritePType::CacheThrough | WritePType::Through));
        let allow_exists = options.allow_exists.unwrap_or(false);
        // Made in the UFS first (a UFS failure leaves the namespace as it was), unless the
        // namespace is going to refuse the path.
        if persisted && (allow_exists || self.read(|ns| Ok(ns.status(&path).is_err()))?) {
            self.refuse_through_without_ufs(&path, write_type)?;
            self.make_ufs_folder(&path).await?;
        }
        let mutation = Mutation::CreateDirectory(ns::CreateDirectory {
            path,
            persisted,
            recursive: options.recursive.unwrap_or(false),
            allow_exists,
            group: owner.clone(),
            owner,
            mode: options.mode.as_ref().map_or(0o755, mode_from_pmode),
        });
        self.mutate(op_id(options.common_options.as_ref()), mutation).await?;
        Ok(Response::new(CreateDirectoryPResponse {}))
    }

    async fn create_file(
        &self,
        request: Request<CreateFilePRequest>,
    ) -> Result<Response<CreateFilePResponse>, Status> {
        let owner = self.user(&request);
        let request = request.into_inner();
        let options = request.options.unwrap_or_default();
        refuse_ttl(options.common_options.as_ref())?;
        let block_size = match options.block_size_bytes {
            Some(size) if size <= 0 => {
                return Err(Status::invalid_argument(format!("block size {size} must be positive")))
            }
            Some(size) => size as u64,
            None => self.info.default_block_size,
        };
        let path = path(request.path)?;
        self.check_writable(&path)?;
        let write_type = options.write_type.and_then(|t| WritePType::try_from(t).ok());
        let persisted = matches!(write_type, Some(WritePType::CacheThrough | WritePType::Through));
        if persisted {
            self.refuse_through_without_ufs(&path, write_type)?;
        }
        let mutation = Mutation::CreateFile(ns::CreateFile {
            path,
            recursive: options.recursive.unwrap_or(false),
            group: owner.clone(),
            owner,
            mode: options.mode.as_ref().map_or(0o644, mode_from_pmode),
            block_size,
            persisted,
        });
        let id = self.mutate(op_id(options.common_options.as_ref()), mutation).await?;
        let info = self
            .read(|ns| Ok(ns.status_by_id(id)))?
            .map(|status| file_info(status, self.node.ufses().root_uri()))
            .unwrap_or_else(|| FileInfo { file_id: Some(id as i64), ..FileInfo::default() });
        Ok(Response::new(CreateFilePResponse { file_info: Some(info) }))
    }

    async fn get_new_block_id_for_file(
        &self,
        request: Request<GetNewBlockIdForFilePRequest>,
    ) -> Result<Response<GetNewBlockIdForFilePResponse>, Status> {
        let request = request.into_inner();
        let options = request.options.unwrap_or_default();
        let path = path(request.path)?;
        // Checked on the leader, not in the journaled op: replaying a journal must never depend
        // on a setting. Concurrent calls for one file may pass it together, by a few blocks.
        let blocks = self.read(|ns| ns.block_count(&path))?;
        let most = self.info.max_blocks_per_file;
        if blocks >= most {
            return Err(Status::resource_exhausted(format!(
                "{path} already has {blocks} blocks, the most a file may have \
                 ({} = {most}): write it with a larger block size",
                lode_core::config::name::MASTER_FILE_BLOCKS_MAX
            )));
        }
        let mutation = Mutation::NewBlock(ns::NewBlock { path });
        let block = self.mutate(op_id(options.common_options.as_ref()), mutation).await?;
        Ok(Response::new(GetNewBlockIdForFilePResponse { id: Some(block as i64) }))
    }

    async fn get_status(
        &self,
        request: Request<GetStatusPRequest>,
    ) -> Result<Response<GetStatusPResponse>, Status> {
        let request = request.into_inner();
        let path = path(request.path)?;
        let options = request.options.unwrap_or_default();
        let (load, sync) = self.finding(options.load_metadata_type, options.common_options);
        let info = || {
            let found = self.node.read_blocks(|blocks, ns| match ns.status(&path) {
                Ok(status) => {
                    let block_infos = blocks::file_block_infos(blocks, &status);
                    let cached = blocks::in_alluxio_percentage(blocks, &status);
                    Ok(Some(FileInfo {
                        file_block_infos: block_infos,
                        in_alluxio_percentage: Some(cached),
                        ..file_info(status, self.node.ufses().root_uri())
                    }))
                }
                Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            });
            found.map_err(status_from_serve)?.map_err(status_from_ns)
        };
        let parsed = parse(&path)?;
        let Some(info) = self.answer_path(&parsed, load, sync, info).await? else {
            // Read again for the namespace's own message naming what is missing.
            return Err(self
                .read(|ns| ns.status(&path).map(|_| ()))
                .err()
                .unwrap_or_else(|| Status::not_found(format!("path {path} does not exist"))));
        };
        Ok(Response::new(GetStatusPResponse { file_info: Some(info) }))
    }

    async fn get_mount_table(
        &self,
        _request: Request<GetMountTablePRequest>,
    ) -> Result<Response<GetMountTablePResponse>, Status> {
        // `checkUfs` asks for capacity figures, which no UFS reports through OpenDAL: the
        // answer is the same either way (-1, as Alluxio's for a UFS that cannot tell).
        Ok(Response::new(self.mount_table()?))
    }

    async fn mount(
        &self,
        request: Request<MountPRequest>,
    ) -> Result<Response<MountPResponse>, Status> {
        let user = self.user(&request);
        self.mount_ufs(user, request.into_inner()).await?;
        Ok(Response::new(MountPResponse {}))
    }

    async fn unmount(
        &self,
        request: Request<UnmountPRequest>,
    ) -> Result<Response<UnmountPResponse>, Status> {
        self.unmount_ufs(request.into_inner()).await?;
        Ok(Response::new(UnmountPResponse {}))
    }

    async fn update_mount(
        &self,
        request: Request<UpdateMountPRequest>,
    ) -> Result<Response<UpdateMountPResponse>, Status> {
        self.update_mount_options(request.into_inner()).await?;
        Ok(Response::new(UpdateMountPResponse {}))
    }

    async fn schedule_async_persistence(
        &self,
        request: Request<ScheduleAsyncPersistencePRequest>,
    ) -> Result<Response<ScheduleAsyncPersistencePResponse>, Status> {
        let request = request.into_inner();
        let options = request.options.unwrap_or_default();
        let path = path(request.path)?;
        self.check_writable(&path)?;
        if !self.under_ufs(&path)? {
            return Err(Status::failed_precondition(format!(
                "Cannot persist {path}: no under-file-system is mounted at / (set {})",
                lode_core::config::name::MASTER_MOUNT_TABLE_ROOT_UFS
            )));
        }
        let wait_ms = options.persistence_wait_time.unwrap_or(0);
        let mutation = Mutation::SchedulePersist(ns::SchedulePersist { path, wait_ms });
        self.mutate(op_id(options.common_options.as_ref()), mutation).await?;
        Ok(Response::new(ScheduleAsyncPersistencePResponse {}))
    }

    type ListStatusStream = ListStream;

    async fn list_status(
        &self,
        request: Request<ListStatusPRequest>,
    ) -> Result<Response<ListStream>, Status> {
        let request = request.into_inner();
        let options = request.options.unwrap_or_default();
        let recursive = options.recursive.unwrap_or(false);
        let path = path(request.path)?;
        let (load, sync) = self.finding(options.load_metadata_type, options.common_options);
        self.find_folder(&parse(&path)?, load, sync, recursive).await?;
        if options.load_metadata_only.unwrap_or(false) {
            // Alluxio's `loadMetadata`: the path must exist, and nothing is listed.
            self.read(|ns| ns.status(&path))?;
            return Ok(Response::new(Box::pin(tokio_stream::empty())));
        }
        let listing = listing::list(self.node.clone(), &path, recursive)?;
        Ok(Response::new(listing))
    }

    async fn list_status_partial(
        &self,
        request: Request<ListStatusPartialPRequest>,
    ) -> Result<Response<ListStatusPartialPResponse>, Status> {
        let request = request.into_inner();
        let options = request.options.unwrap_or_default();
        let path = path(request.path)?;
        if options.offset_type.is_none() {
            // The first page loads what the folder's UFS has; later pages list what it loaded.
            let listing = options.options.unwrap_or_default();
            let (load, sync) = self.finding(listing.load_metadata_type, listing.common_options);
            let recursive = listing.recursive.unwrap_or(false);
            self.find_folder(&parse(&path)?, load, sync, recursive).await?;
        }
        let page = listing::list_partial(&self.node, &path, options)?;
        Ok(Response::new(page))
    }

    async fn remove(
        &self,
        request: Request<DeletePRequest>,
    ) -> Result<Response<DeletePResponse>, Status> {
        let request = request.into_inner();
        let options = request.options.unwrap_or_default();
        let path = path(request.path)?;
        // A mount point itself goes as an unmount does, read-only or not (with
        // deleteMountPoint); what is below one is its UFS's.
        let mount_point = self.read(|ns| {
            Ok(ns::FsPath::parse(&path).ok().is_some_and(|p| ns.mount_at(&p).is_some()))
        })?;
        if !options.alluxio_only.unwrap_or(false) && !mount_point {
            self.check_writable(&path)?;
        }
        let (recursive, delete_mount_point) =
            (options.recursive.unwrap_or(false), options.delete_mount_point.unwrap_or(false));
        // Persisted files go from the UFS too (unless alluxioOnly), first: a UFS failure leaves
        // the namespace as it was. A delete the namespace will refuse touches nothing.
        let skip =
            options.alluxio_only.unwrap_or(false) || path == "/" || !self.under_ufs(&path)?;
        // From the plan to the journal entry, no persisted copy is put in place below the path.
        let moves = self.node.ufs_moves.read().await;
        let plan = match skip {
            true => None,
            false => self.ufs_delete_plan(&path).ok().filter(|plan| {
                (recursive || !plan.has_children) && (delete_mount_point || !plan.has_mount_points)
            }),
        };
        if let Some(plan) = &plan {
            self.delete_ufs_files(plan).await?;
        }
        let mutation = Mutation::Delete(ns::Delete { path, recursive, delete_mount_point });
        self.mutate(op_id(options.common_options.as_ref()), mutation).await?;
        drop(moves);
        if let Some(plan) = &plan {
            self.delete_empty_ufs_folders(plan).await;
        }
        Ok(Response::new(DeletePResponse {}))
    }

    async fn free(
        &self,
        request: Request<FreePRequest>,
    ) -> Result<Response<FreePResponse>, Status> {
        let request = request.into_inner();
        let recursive = request.options.unwrap_or_default().recursive.unwrap_or(false);
        let path = path(request.path)?;
        let freed = listing::free(&self.node, &path, recursive)?;
        tracing::debug!(%path, freed, "freed block copies");
        Ok(Response::new(FreePResponse {}))
    }

    async fn rename(
        &self,
        request: Request<RenamePRequest>,
    ) -> Result<Response<RenamePResponse>, Status> {
        let request = request.into_inner();
        let options = request.options.unwrap_or_default();
        let dst = request.dst_path.filter(|p| !p.is_empty()).ok_or_else(|| missing("dstPath"))?;
        let src = path(request.path)?;
        self.check_writable(&src)?;
        self.check_writable(&dst)?;
        // A persisted file (or a folder the UFS has) moves in the UFS too, first.
        let moves = self.node.ufs_moves.read().await;
        self.rename_in_ufs(&src, &dst).await?;
        let mutation = Mutation::Rename(ns::Rename { src, dst });
        self.mutate(op_id(options.common_options.as_ref()), mutation).await?;
        drop(moves);
        Ok(Response::new(RenamePResponse {}))
    }

    async fn set_attribute(
        &self,
        request: Request<SetAttributePRequest>,
    ) -> Result<Response<SetAttributePResponse>, Status> {
        let request = request.into_inner();
        let options = request.options.unwrap_or_default();
        refuse_ttl(options.common_options.as_ref())?;
        if options.pinned.is_some()
            || options.persisted.is_some()
            || options.replication_max.is_some()
            || options.replication_min.is_some()
        {
            return Err(Status::unimplemented(
                "Lode supports setting mode, owner and group; not pinning, persistence or replication",
            ));
        }
        let mutation = Mutation::SetAttribute(ns::SetAttribute {
            path: path(request.path)?,
            mode: options.mode.as_ref().map(mode_from_pmode),
            owner: principal("owner", options.owner)?,
            group: principal("group", options.group)?,
            recursive: options.recursive.unwrap_or(false),
        });
        self.mutate(op_id(options.common_options.as_ref()), mutation).await?;
        Ok(Response::new(SetAttributePResponse {}))
    }
}

#[tonic::async_trait]
impl ServiceVersionClientService for Services {
    async fn get_service_version(
        &self,
        request: Request<GetServiceVersionPRequest>,
    ) -> Result<Response<GetServiceVersionPResponse>, Status> {
        let request = request.into_inner();
        let leading = matches!(self.node.role(), Role::Leader { .. });
        if !leading && !request.allowed_on_standby_masters.unwrap_or(false) {
            // How Alluxio's polling clients tell the primary from standbys.
            return Err(status_from_serve(crate::ServeError::NotLeader { leader: None }));
        }
        let service = request.service_type();
        let version = match service {
            ServiceType::FileSystemMasterClientService => {
                service_version::FILE_SYSTEM_MASTER_CLIENT
            }
            ServiceType::MetaMasterClientService => service_version::META_MASTER_CLIENT,
            ServiceType::MetaMasterConfigService => service_version::META_MASTER_CONFIG,
            ServiceType::BlockMasterClientService => service_version::BLOCK_MASTER_CLIENT,
            other => {
                return Err(Status::unimplemented(format!(
                    "{} is not served by Lode",
                    other.as_str_name()
                )))
            }
        };
        Ok(Response::new(GetServiceVersionPResponse { version: Some(version) }))
    }
}

fn net_address(address: &str) -> NetAddress {
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "0"));
    NetAddress { host: Some(host.to_string()), rpc_port: Some(port.parse().unwrap_or(0)) }
}

#[tonic::async_trait]
impl MetaMasterClientService for Services {
    async fn get_master_info(
        &self,
        _request: Request<GetMasterInfoPOptions>,
    ) -> Result<Response<GetMasterInfoPResponse>, Status> {
        self.refuse_unless_leading()?;
        let me = &self.node.member().address;
        let mut masters = self.info.master_addresses.clone();
        if !masters.contains(me) {
            masters.insert(0, me.clone());
        }
        // With an election service the masters may be listed nowhere else.
        for member in self.node.election_members().await {
            if !masters.contains(&member) {
                masters.push(member);
            }
        }
        let info = MasterInfo {
            leader_master_address: Some(me.clone()),
            master_addresses: masters.iter().map(|a| net_address(a)).collect(),
            rpc_port: net_address(me).rpc_port,
            safe_mode: Some(false),
            start_time_ms: Some(self.info.start_time_ms),
            up_time_ms: Some(now_ms() - self.info.start_time_ms),
            version: Some(format!("lode-{}", env!("CARGO_PKG_VERSION"))),
            web_port: Some(self.info.web_port),
            worker_addresses: Vec::new(),
            zookeeper_addresses: self.info.zookeeper_addresses.clone(),
        };
        Ok(Response::new(GetMasterInfoPResponse { master_info: Some(info) }))
    }
}

#[tonic::async_trait]
impl LodeMasterService for Services {
    async fn get_master_status(
        &self,
        _request: Request<GetMasterStatusRequest>,
    ) -> Result<Response<MasterStatus>, Status> {
        let me = self.node.member().address.clone();
        let (role, term, leader) = match self.node.role() {
            Role::Leader { term } => (WireRole::Leader, term, me.clone()),
            Role::Standby { leader } => {
                (WireRole::Standby, 0, leader.map(|m| m.address).unwrap_or_default())
            }
        };
        let position = self.node.journal().position();
        let outage = self.node.journal().outage();
        let stepped_down = self.node.last_step_down();
        Ok(Response::new(MasterStatus {
            address: me,
            role: role as i32,
            term,
            leader_address: leader,
            journal_slot: position.slot,
            journal_seq: position.seq,
            inodes: self.node.read_replica(|ns| ns.len() as u64),
            journal_error: outage.as_ref().map(|o| o.error.clone()).unwrap_or_default(),
            journal_failing_ms: outage.map_or(0, |o| o.for_how_long.as_millis() as u64),
            elector: self.info.elector.clone(),
            journal: self.info.journal.clone(),
            web_port: self.info.web_port as u32,
            stepped_down_ago_ms: stepped_down.as_ref().map_or(0, |(ago, _)| ago.as_millis() as u64),
            stepped_down: stepped_down.map(|(_, why)| why).unwrap_or_default(),
        }))
    }

    async fn checkpoint(
        &self,
        _request: Request<CheckpointRequest>,
    ) -> Result<Response<CheckpointResponse>, Status> {
        self.refuse_unless_leading()?;
        let slot = self
            .node
            .journal()
            .write_checkpoint()
            .await
            .map_err(|e| Status::unavailable(format!("writing the checkpoint failed: {e}")))?;
        Ok(Response::new(CheckpointResponse { slot }))
    }
}

/// The longest owner or group name a request may set, in bytes: a login name's limit
/// (`LOGIN_NAME_MAX`), since the namespace keeps every name it was given for its whole life.
const MAX_PRINCIPAL_BYTES: usize = 255;

/// An owner or group name from a request (`None` when unset or empty), bounded by
/// [`MAX_PRINCIPAL_BYTES`] and free of control characters.
fn principal(field: &str, name: Option<String>) -> Result<Option<String>, Status> {
    let Some(name) = name.filter(|name| !name.is_empty()) else {
        return Ok(None);
    };
    if name.len() > MAX_PRINCIPAL_BYTES || name.chars().any(char::is_control) {
        return Err(Status::invalid_argument(format!(
            "the {field} name ({} bytes) must be at most {MAX_PRINCIPAL_BYTES} bytes, without \
             control characters",
            name.len()
        )));
    }
    Ok(Some(name))
}
