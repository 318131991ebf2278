//! The block services: Alluxio's `BlockMasterClientService` (clients choose workers and find
//! blocks) and Lode's own worker service (registration, heartbeats, commits). Only the leader
//! answers; standbys answer UNAVAILABLE naming the leader, so workers go and find it.

use std::time::{Duration, SystemTime};

use lode_core::rpc::alluxio::grpc::block::block_master_client_service_server::BlockMasterClientService;
use lode_core::rpc::alluxio::grpc::block::{
    GetBlockInfoPRequest, GetBlockInfoPResponse, GetWorkerInfoListPOptions,
    GetWorkerInfoListPResponse, WorkerInfo,
};
use lode_core::rpc::alluxio::grpc::file::FileBlockInfo;
use lode_core::rpc::alluxio::grpc::{BlockInfo, BlockLocation, WorkerNetAddress};
use lode_core::rpc::lode::worker::lode_block_master_worker_service_server::LodeBlockMasterWorkerService;
use lode_core::rpc::lode::worker::{
    CommitBlockRequest, CommitBlockResponse, GetMountRequest, GetMountResponse, HeartbeatRequest,
    HeartbeatResponse, RegisterWorkerRequest, RegisterWorkerResponse,
};
use tonic::{Request, Response, Status};

use super::{missing, status_from_serve, Services};
use crate::blocks::{BlockMap, Registration, Usage, Worker};
use crate::namespace::FileStatus;

/// The memory tier's alias, as Alluxio names it.
const MEMORY_TIER: &str = "MEM";

fn worker_address(worker: &Worker) -> WorkerNetAddress {
    WorkerNetAddress {
        host: Some(worker.host.clone()),
        rpc_port: Some(i32::from(worker.port)),
        data_port: Some(i32::from(worker.port)),
        web_port: worker.web_port.map(i32::from),
        domain_socket_path: Some(String::new()),
        tiered_identity: Some(lode_core::rpc::tiered_identity(&worker.host)),
    }
}

/// Alluxio's `BlockInfo` for `block`: its length (committed, else what the file says) and
/// where it is cached.
pub fn block_info(blocks: &BlockMap, block: u64, file_length: Option<u64>) -> BlockInfo {
    let (length, holders) = blocks.locations(block).unwrap_or((0, Vec::new()));
    BlockInfo {
        block_id: Some(block as i64),
        length: Some(file_length.unwrap_or(length) as i64),
        locations: holders
            .into_iter()
            .map(|worker| BlockLocation {
                worker_id: Some(worker.id),
                worker_address: Some(worker_address(worker)),
                tier_alias: Some(MEMORY_TIER.into()),
                medium_type: Some(MEMORY_TIER.into()),
            })
            .collect(),
    }
}

/// The `fileBlockInfos` of a file: each block with its offset and locations.
pub fn file_block_infos(blocks: &BlockMap, status: &FileStatus) -> Vec<FileBlockInfo> {
    status
        .block_ids
        .iter()
        .enumerate()
        .map(|(index, block)| {
            let offset = index as u64 * status.block_size;
            let length = status
                .complete
                .then(|| status.length.saturating_sub(offset).min(status.block_size));
            FileBlockInfo {
                block_info: Some(block_info(blocks, *block, length)),
                offset: Some(offset as i64),
            }
        })
        .collect()
}

/// How much of a file (percent of its bytes) some worker caches, as `ls` shows it.
pub fn in_alluxio_percentage(blocks: &BlockMap, status: &FileStatus) -> i32 {
    if status.is_directory || status.length == 0 {
        return 100;
    }
    let cached: u64 = status
        .block_ids
        .iter()
        .filter_map(|&block| blocks.locations(block))
        .filter(|(_, holders)| !holders.is_empty())
        .map(|(length, _)| length)
        .sum();
    (cached.min(status.length) * 100 / status.length) as i32
}

impl Services {
    /// Right after this master took over, waits until some worker has registered again, for at
    /// most `alluxio.master.worker.connect.wait.time` from the takeover: a stock client that
    /// finds no worker fails its write instead of retrying.
    async fn wait_for_workers_after_takeover(&self) {
        let wait = self.node.worker_connect_wait();
        let took_over = self.node.history().into_iter().rev().find(|t| t.term.is_some());
        let Some(deadline) = took_over.map(|t| t.at + wait) else { return };
        while SystemTime::now() < deadline
            && self.node.read_blocks(|blocks, _| blocks.workers().is_empty()).unwrap_or(false)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn not_registered(id: i64) -> Status {
    Status::not_found(format!("worker {id} is not registered with this leader; register again"))
}

#[tonic::async_trait]
impl BlockMasterClientService for Services {
    async fn get_block_info(
        &self,
        request: Request<GetBlockInfoPRequest>,
    ) -> Result<Response<GetBlockInfoPResponse>, Status> {
        let block = request.into_inner().block_id.ok_or_else(|| missing("blockId"))? as u64;
        let info = self
            .node
            .read_blocks(|blocks, namespace| {
                let owner = namespace.block_owner(block);
                owner.map(|length| block_info(blocks, block, length))
            })
            .map_err(status_from_serve)?
            .ok_or_else(|| Status::not_found(format!("block {block} belongs to no file")))?;
        Ok(Response::new(GetBlockInfoPResponse { block_info: Some(info) }))
    }

    async fn get_worker_info_list(
        &self,
        _request: Request<GetWorkerInfoListPOptions>,
    ) -> Result<Response<GetWorkerInfoListPResponse>, Status> {
        self.wait_for_workers_after_takeover().await;
        let infos = self
            .node
            .read_blocks(|blocks, _| {
                let workers = blocks.workers();
                workers
                    .into_iter()
                    .map(|worker| WorkerInfo {
                        id: Some(worker.id),
                        address: Some(worker_address(worker)),
                        last_contact_sec: Some(worker.last_contact.elapsed().as_secs() as i32),
                        state: Some("In Service".into()),
                        capacity_bytes: Some(worker.capacity as i64),
                        used_bytes: Some(worker.used as i64),
                        start_time_ms: Some(worker.start_time_ms),
                        capacity_bytes_on_tiers: [(MEMORY_TIER.into(), worker.capacity as i64)]
                            .into(),
                        used_bytes_on_tiers: [(MEMORY_TIER.into(), worker.used as i64)].into(),
                    })
                    .collect()
            })
            .map_err(status_from_serve)?;
        Ok(Response::new(GetWorkerInfoListPResponse { worker_infos: infos }))
    }
}

#[tonic::async_trait]
impl LodeBlockMasterWorkerService for Services {
    async fn register_worker(
        &self,
        request: Request<RegisterWorkerRequest>,
    ) -> Result<Response<RegisterWorkerResponse>, Status> {
        let request = request.into_inner();
        let address = request.address.ok_or_else(|| missing("address"))?;
        let host = address.host.filter(|h| !h.is_empty()).ok_or_else(|| missing("address.host"))?;
        let port = u16::try_from(address.rpc_port.unwrap_or(0))
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| Status::invalid_argument("the worker's rpcPort must be 1 to 65535"))?;
        let web_port = address.web_port.and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0);
        let registration = Registration {
            host,
            port,
            web_port,
            capacity: request.capacity_bytes.max(0) as u64,
            used: Usage { bytes: request.used_bytes.max(0) as u64, sample: request.used_sample },
            blocks: request
                .blocks
                .iter()
                .map(|b| (b.block_id as u64, b.length.max(0) as u64))
                .collect(),
            start_time_ms: request.start_time_ms,
        };
        let reported: Vec<u64> = registration.blocks.iter().map(|(block, _)| *block).collect();
        let (worker_id, removals, persisted) = self
            .node
            .with_blocks(|blocks, namespace| {
                let (id, removals) =
                    blocks.register(registration, |block| namespace.block_owner(block).is_some());
                let persisted: Vec<i64> = reported
                    .iter()
                    .filter(|block| namespace.block_persisted(**block))
                    .map(|block| *block as i64)
                    .collect();
                (id, removals, persisted)
            })
            .map_err(status_from_serve)?;
        Ok(Response::new(RegisterWorkerResponse {
            worker_id,
            remove_block_ids: removals.into_iter().map(|b| b as i64).collect(),
            persisted_block_ids: persisted,
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let request = request.into_inner();
        let removed: Vec<u64> = request.removed_block_ids.iter().map(|b| *b as u64).collect();
        let worker = request.worker_id;
        let outcome = self
            .node
            .with_persists(|queue, blocks, namespace| {
                let used =
                    Usage { bytes: request.used_bytes.max(0) as u64, sample: request.used_sample };
                let removals = blocks.heartbeat(worker, used, &removed)?;
                let reports = (&request.persisting_file_ids[..], &request.persisted[..]);
                let entries = queue.report(worker, reports, namespace, self.node.ufses());
                let commands = queue.assign(worker, blocks, namespace, self.node.ufses());
                let persisted = blocks.take_persisted(worker);
                let stale = queue.take_stale_copies();
                let placements = queue.take_placements();
                Some((removals, entries, commands, persisted, stale, placements))
            })
            .map_err(status_from_serve)?;
        let Some((removals, entries, persist, persisted, stale, placements)) = outcome else {
            return Ok(Response::new(HeartbeatResponse { register: true, ..Default::default() }));
        };
        self.node.journal_persists(entries);
        for placement in placements {
            let node = self.node.clone();
            tokio::spawn(async move { placement.place(&node).await });
        }
        if !stale.is_empty() {
            let node = self.node.clone();
            tokio::spawn(async move {
                for copy in stale {
                    copy.delete(&node).await;
                }
            });
        }
        Ok(Response::new(HeartbeatResponse {
            register: false,
            remove_block_ids: removals.into_iter().map(|b| b as i64).collect(),
            persist,
            persisted_block_ids: persisted.into_iter().map(|b| b as i64).collect(),
        }))
    }

    async fn commit_block(
        &self,
        request: Request<CommitBlockRequest>,
    ) -> Result<Response<CommitBlockResponse>, Status> {
        let request = request.into_inner();
        let block = request.block.ok_or_else(|| missing("block"))?;
        let (id, length) = (block.block_id as u64, block.length.max(0) as u64);
        let committed = self
            .node
            .with_blocks(|blocks, namespace| {
                let Some(block_size) = namespace.block_size_of(id) else {
                    return Err(Status::not_found(format!(
                        "block {id} belongs to no file (deleted while it was written?)"
                    )));
                };
                let known = namespace.ufs_fingerprint_of_block(id).unwrap_or_default();
                let read = request.ufs_fingerprint.as_str();
                if !read.is_empty() && !known.is_empty() && read != known {
                    return Err(Status::failed_precondition(format!(
                        "block {id} was read from a UFS file that changed since Lode persisted \
                         or loaded it ({read}, not {known}): sync its metadata (`ls -f`, \
                         `loadMetadata -F`) to read the new content"
                    )));
                }
                // Reads find block i at i × block size: a longer block would corrupt them.
                if length > block_size {
                    return Err(Status::invalid_argument(format!(
                        "block {id} is {length} bytes, more than its file's block size of \
                         {block_size}"
                    )));
                }
                let used =
                    Usage { bytes: request.used_bytes.max(0) as u64, sample: request.used_sample };
                if blocks.commit(request.worker_id, id, length, used) {
                    Ok(namespace.block_persisted(id))
                } else {
                    Err(not_registered(request.worker_id))
                }
            })
            .map_err(status_from_serve)?;
        Ok(Response::new(CommitBlockResponse { persisted: committed? }))
    }

    async fn get_mount(
        &self,
        request: Request<GetMountRequest>,
    ) -> Result<Response<GetMountResponse>, Status> {
        let mount_id = request.into_inner().mount_id;
        let found = if mount_id as u64 == crate::namespace::ROOT_MOUNT_ID {
            self.node.ufses().root().map(|root| {
                (root.uri().to_string(), root.options.properties.clone().into_iter().collect())
            })
        } else {
            self.node
                .read(|namespace| {
                    namespace.mount_by_id(mount_id as u64).map(|mount| {
                        let properties = mount.options.properties.clone().into_iter().collect();
                        (mount.ufs_uri.clone(), properties)
                    })
                })
                .map_err(status_from_serve)?
        };
        let (ufs_uri, mount_properties) = found.ok_or_else(|| {
            Status::not_found(format!("no under-file-system has mount id {mount_id}"))
        })?;
        Ok(Response::new(GetMountResponse { ufs_uri, mount_properties }))
    }
}
