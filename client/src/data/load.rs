//! Warming the cache ahead of use (Alluxio's `load`): every block of a persisted file that no
//! worker holds is cached by a worker from the file's under-file-system through Alluxio's
//! `Cache` call, so later reads are cached ones.

use lode_core::rpc::alluxio::grpc::file::FileInfo;
use tonic::Code;

use super::{cache_block, failed, host_port, is_local, ufs_block_options};
use crate::master::{ClientError, MasterClient};

/// Has every block of the complete file `info` that no worker holds cached from its
/// under-file-system: by this host's worker when it runs one, else by the workers in turn.
/// `progress` hears how many of the file's bytes are cached so far. Returns the bytes it had
/// cached (0 when every block was cached already).
pub async fn load_file(
    master: &MasterClient,
    info: &FileInfo,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, ClientError> {
    let path = info.path();
    if !info.completed() {
        return Err(failed(
            Code::FailedPrecondition,
            format!("{path} is incomplete: it is still being written, or its writer failed"),
        ));
    }
    let mut workers: Vec<_> =
        master.worker_infos().await?.into_iter().filter_map(|worker| worker.address).collect();
    workers.sort_by_key(|address| !is_local(address.host()));
    let local = workers.first().is_some_and(|address| is_local(address.host()));
    let (mut done, mut cached) = (0, 0);
    for (index, block) in info.file_block_infos.iter().enumerate() {
        let block_info = block.block_info.clone().unwrap_or_default();
        let (start, size) = (block.offset().max(0) as u64, block_info.length().max(0) as u64);
        let id = block_info.block_id() as u64;
        if block_info.locations.is_empty() {
            if !info.persisted() {
                return Err(failed(
                    Code::FailedPrecondition,
                    format!(
                        "no worker holds block {id} of {path}, and it is {}: there is no copy \
                         to load it from",
                        info.persistence_state()
                    ),
                ));
            }
            let worker = match local {
                true => workers.first(),
                false => workers.get(index % workers.len().max(1)),
            };
            let worker = worker.ok_or_else(|| {
                failed(Code::Unavailable, "no worker is registered with the leader".into())
            })?;
            let worker = host_port(worker);
            cache_block(worker.clone(), id, ufs_block_options(info, (start, size))).await.map_err(
                |e| {
                    failed(
                        Code::Unavailable,
                        format!("caching block {id} of {path} on {worker}: {e}"),
                    )
                },
            )?;
            cached += size;
        }
        done += size;
        progress(done);
    }
    Ok(cached)
}
