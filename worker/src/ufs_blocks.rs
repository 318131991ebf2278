//! Blocks of persisted files that this worker does not hold: read from the file's
//! under-file-system when a client asks with Alluxio's `OpenUfsBlockOptions`, and cached as a
//! block of this worker (committed to the master) unless the client says `no_cache` or the
//! worker has no room — then kept only while it is sent. One read per block at a time: readers
//! of a block being fetched wait for it, then read the cached copy.

use std::path::PathBuf;
use std::sync::Arc;

use lode_core::rpc::alluxio::grpc::block::OpenUfsBlockOptions;
use lode_core::rpc::{block_too_long, MAX_BLOCK_BYTES};
use tokio::io::AsyncWriteExt;
use tonic::Status;

use crate::service::BlockService;

/// How much is read from the under-file-system per request.
const UFS_CHUNK: u64 = 8 << 20;
/// Alluxio's id of the root mount, when a client names none.
const ROOT_MOUNT_ID: i64 = 1;

/// Where a block read from the UFS is.
pub(crate) struct UfsBlock {
    /// Its file.
    pub(crate) path: PathBuf,
    /// Its length.
    pub(crate) length: u64,
    /// Not cached: the file goes once it is sent.
    pub(crate) temporary: bool,
}

impl BlockService {
    /// The block `block` read from its UFS as `options` say (see the module docs).
    pub(crate) async fn block_from_ufs(
        &self,
        block: u64,
        options: &OpenUfsBlockOptions,
    ) -> Result<UfsBlock, Status> {
        let lock = self.fetching.lock().entry(block).or_default().clone();
        let _one_at_a_time = lock.lock().await;
        let fetched = self.fetch(block, options).await;
        self.fetching.lock().remove(&block);
        fetched
    }

    async fn fetch(&self, block: u64, options: &OpenUfsBlockOptions) -> Result<UfsBlock, Status> {
        if let Some((path, length)) = self.store.open_block(block) {
            return Ok(UfsBlock { path, length, temporary: false }); // Fetched by another reader.
        }
        let ufs_path = options.ufs_path.as_deref().filter(|p| !p.is_empty());
        let ufs_path = ufs_path.ok_or_else(|| Status::invalid_argument("no ufs_path"))?;
        let offset = u64::try_from(options.offset_in_file.unwrap_or(0))
            .map_err(|_| Status::invalid_argument("a negative offset_in_file"))?;
        let length = u64::try_from(options.block_size.unwrap_or(-1))
            .map_err(|_| Status::invalid_argument("no block_size, or a negative one"))?;
        if length > MAX_BLOCK_BYTES {
            return Err(block_too_long(block, length));
        }
        let mount_id = options.mount_id.unwrap_or(ROOT_MOUNT_ID);
        let ufs = self.ufses.for_mount(mount_id, &self.link).await.map_err(|error| {
            Status::unavailable(format!(
                "cannot reach the under-file-system of mount {mount_id}: {error}"
            ))
        })?;
        let relative = ufs.uri().relative(ufs_path).ok_or_else(|| {
            Status::invalid_argument(format!(
                "{ufs_path} is not in mount {mount_id} ({})",
                ufs.uri()
            ))
        })?;
        let cache = !options.no_cache.unwrap_or(false) && self.store.reserve(length).is_ok();
        let path = self.store.temp_path(block);
        let copied = copy(&ufs, &relative, offset, length, &path).await;
        if let Err(status) = copied {
            if cache {
                self.store.release(length);
            }
            let _ = tokio::fs::remove_file(&path).await;
            self.ufses.forget_mount(mount_id);
            return Err(status);
        }
        metrics::counter!("lode_worker_ufs_read_bytes_total").increment(length);
        if !cache {
            return Ok(UfsBlock { path, length, temporary: true });
        }
        // The commit takes the reservation over (and gives it back if it fails).
        self.store.commit(block, &path, length).map_err(crate::service::store_status)?;
        if let Err(error) = self.link.commit(block, length).await {
            self.store.remove(block);
            return Err(Status::not_found(format!("block {block} is not cached: {error}")));
        }
        self.store.mark_persisted([block]); // Read from its UFS: it may be dropped again.
        let (path, length) =
            self.store.open_block(block).ok_or_else(|| crate::service::not_cached(block))?;
        Ok(UfsBlock { path, length, temporary: false })
    }
}

/// Copies `length` bytes at `offset` of the UFS file `relative` into the new file `path`.
async fn copy(
    ufs: &lode_ufs::Ufs,
    relative: &str,
    offset: u64,
    length: u64,
    path: &PathBuf,
) -> Result<(), Status> {
    let full = || ufs.full_path(relative);
    let mut file = tokio::fs::File::create_new(path)
        .await
        .map_err(|e| Status::internal(format!("creating {}: {e}", path.display())))?;
    let mut done = 0;
    while done < length {
        let want = UFS_CHUNK.min(length - done);
        let bytes = ufs
            .read(relative, offset + done, want)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        if (bytes.len() as u64) < want {
            return Err(Status::failed_precondition(format!(
                "{} ends at byte {}, before the {length} bytes at {offset} Lode's metadata says \
                 are there (was it changed outside Lode?)",
                full(),
                offset + done + bytes.len() as u64
            )));
        }
        file.write_all(&bytes)
            .await
            .map_err(|e| Status::internal(format!("writing {}: {e}", path.display())))?;
        done += want;
    }
    file.flush().await.map_err(|e| Status::internal(format!("writing {}: {e}", path.display())))
}

impl std::fmt::Debug for UfsBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UfsBlock").field("path", &self.path).field("length", &self.length).finish()
    }
}

/// One lock per block being fetched.
pub(crate) type Fetching =
    Arc<parking_lot::Mutex<std::collections::HashMap<u64, Arc<tokio::sync::Mutex<()>>>>>;
