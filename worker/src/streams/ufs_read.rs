//! `ReadBlock` of a block this worker does not hold, for a persisted file (Alluxio's
//! `OpenUfsBlockOptions`): the worker reads the block from the file's under-file-system and
//! sends the asked range as the pieces arrive, while it writes the whole block to its cache and
//! commits it to the master — unless the client says `no_cache` or there is no room, when only
//! the asked range is read and nothing is kept. One fetch per block at a time: a reader of a
//! block being fetched waits for it, then reads the cached copy.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Frame;
use lode_core::rpc::alluxio::grpc::block::OpenUfsBlockOptions;
use lode_core::rpc::messages::chunk_header;
use tonic::Status;

use super::read::BlockRead;
use super::Frames;
use crate::service::BlockService;

/// How much is read from the under-file-system per request.
const UFS_CHUNK: u64 = 8 << 20;
/// Alluxio's id of the root mount, when a client names none.
const ROOT_MOUNT_ID: i64 = 1;

/// One lock per block being fetched.
pub(crate) type Fetching =
    Arc<parking_lot::Mutex<std::collections::HashMap<u64, Arc<tokio::sync::Mutex<()>>>>>;

/// A read of a range of a block to be fetched from its UFS.
pub(super) struct UfsRead {
    pub(super) block: u64,
    pub(super) options: OpenUfsBlockOptions,
    /// The block's length (`options.block_size`).
    pub(super) block_length: u64,
    pub(super) offset: u64,
    pub(super) length: u64,
    pub(super) chunk: usize,
}

/// The block's place in its UFS: the file's path below the mount, and where the block starts.
struct Source {
    ufs: lode_ufs::Ufs,
    relative: String,
    offset_in_file: u64,
    mount_id: i64,
}

impl BlockService {
    /// Sends `read`'s range on `frames` (see the module docs); returns the status ending the call.
    pub(super) async fn send_from_ufs(&self, read: UfsRead, frames: &Frames) -> Status {
        let lock = self.fetching.lock().entry(read.block).or_default().clone();
        let _one_at_a_time = lock.lock().await;
        let status = match self.store.open_block(read.block) {
            // Fetched by another reader meanwhile: sent from the cache.
            Some((path, _)) => {
                let cached = BlockRead::new(read.block, path, read.offset, read.length, read.chunk);
                let frames = frames.clone();
                tokio::task::spawn_blocking(move || cached.send(&frames))
                    .await
                    .unwrap_or_else(|e| Status::internal(format!("the read failed: {e}")))
            }
            None => match self.fetch(&read, Some(frames)).await {
                Ok(()) => Status::ok(""),
                Err(status) => status,
            },
        };
        self.fetching.lock().remove(&read.block);
        status
    }

    /// Caches block `block` from its UFS (`options`) unless it is cached already: Alluxio's
    /// `Cache`. Refused when the worker has no room for it.
    pub(crate) async fn cache_from_ufs(
        &self,
        block: u64,
        options: OpenUfsBlockOptions,
    ) -> Result<(), Status> {
        let block_length = u64::try_from(options.block_size.unwrap_or(-1))
            .map_err(|_| Status::invalid_argument("no block_size, or a negative one"))?;
        if block_length > lode_core::rpc::MAX_BLOCK_BYTES {
            return Err(lode_core::rpc::block_too_long(block, block_length));
        }
        let options = OpenUfsBlockOptions { no_cache: Some(false), ..options };
        let read = UfsRead { block, options, block_length, offset: 0, length: 0, chunk: 1 };
        let lock = self.fetching.lock().entry(block).or_default().clone();
        let _one_at_a_time = lock.lock().await;
        let outcome = match self.store.open_block(block) {
            Some(_) => Ok(()),
            None => self.fetch(&read, None).await,
        };
        self.fetching.lock().remove(&block);
        outcome
    }

    async fn source(&self, options: &OpenUfsBlockOptions) -> Result<Source, Status> {
        let ufs_path = options.ufs_path.as_deref().filter(|p| !p.is_empty());
        let ufs_path = ufs_path.ok_or_else(|| Status::invalid_argument("no ufs_path"))?;
        let offset_in_file = u64::try_from(options.offset_in_file.unwrap_or(0))
            .map_err(|_| Status::invalid_argument("a negative offset_in_file"))?;
        let mount_id = options.mount_id.unwrap_or(ROOT_MOUNT_ID);
        let ufs = self.ufses.for_mount(mount_id, &self.link).await.map_err(|error| {
            Status::unavailable(format!(
                "cannot reach the under-file-system of mount {mount_id}: {error}"
            ))
        })?;
        let relative = ufs.uri().relative(ufs_path).ok_or_else(|| {
            let uri = ufs.uri();
            Status::invalid_argument(format!("{ufs_path} is not in mount {mount_id} ({uri})"))
        })?;
        Ok(Source { ufs, relative, offset_in_file, mount_id })
    }

    /// Reads the block from its UFS, caching it unless the reader says `no_cache` or there is
    /// no room, and sends the asked range on `frames`; with no `frames`, caching is the point,
    /// and no room is an error.
    async fn fetch(&self, read: &UfsRead, frames: Option<&Frames>) -> Result<(), Status> {
        let source = self.source(&read.options).await?;
        let length = read.block_length;
        let reserved = match read.options.no_cache.unwrap_or(false) {
            true => Ok(false),
            false => self.store.reserve(length).map(|()| true),
        };
        let cache = match (reserved, frames) {
            (Ok(cache), _) => cache,
            (Err(_), Some(_)) => false, // The reader still gets its bytes.
            (Err(full), None) => return Err(crate::service::store_status(full)),
        };
        let temp = self.store.temp_path(read.block);
        // What the UFS says of the file before and after the block is read: a file changed
        // meanwhile gave bytes of both contents, which are neither sent as whole nor kept.
        let fingerprint = self.fingerprint(&source).await;
        let mut copied = self.copy(read, &source, cache.then_some(&temp), frames).await;
        if copied.is_ok() {
            let after = self.fingerprint(&source).await;
            if let (Ok(before), Ok(after)) = (&fingerprint, &after) {
                if before != after {
                    copied = Err(Status::failed_precondition(format!(
                        "{} changed while block {} was read from it; read it again",
                        source.ufs.full_path(&source.relative),
                        read.block
                    )));
                }
            }
            copied = copied.and(after.map(|_| ()));
        }
        if let Err(status) = copied {
            if cache {
                self.store.release(length);
                let _ = std::fs::remove_file(&temp);
            }
            self.ufses.forget_mount(source.mount_id);
            return Err(status);
        }
        metrics::counter!("lode_worker_ufs_read_bytes_total").increment(if cache {
            length
        } else {
            read.length
        });
        if !cache {
            return Ok(());
        }
        // The commit takes the reservation over (and gives it back if it fails).
        let block = read.block;
        self.store.commit(block, &temp, length).map_err(crate::service::store_status)?;
        let fingerprint = fingerprint.unwrap_or_default();
        if let Err(refused) = self.link.commit_read(block, length, fingerprint).await {
            self.store.remove(block);
            tracing::warn!(block, error = %refused.message(), "a block read from the UFS was not kept");
            // The file changed outside Lode: what the reader got is not the file Lode knows.
            if refused.code() == tonic::Code::FailedPrecondition {
                return Err(refused);
            }
            return Ok(()); // The reader has its bytes.
        }
        self.store.mark_persisted([block]); // Read from its UFS: it may be dropped again.
        Ok(())
    }

    /// What the UFS says of the block's file now (its fingerprint).
    async fn fingerprint(&self, source: &Source) -> Result<String, Status> {
        match source.ufs.status(&source.relative).await {
            Ok(Some(status)) => Ok(status.fingerprint()),
            Ok(None) => Err(Status::not_found(format!(
                "{} is gone from its under-file-system (deleted outside Lode?)",
                source.ufs.full_path(&source.relative)
            ))),
            Err(error) => Err(Status::unavailable(error.to_string())),
        }
    }

    /// Reads the block (only the asked range when not caching) from the UFS; writes it to
    /// `cache_file` when given and sends the asked range as it arrives. Three things overlap:
    /// the next piece is read from the UFS and this one written to the cache on blocking
    /// threads while this one is sent.
    async fn copy(
        &self,
        read: &UfsRead,
        source: &Source,
        cache_file: Option<&std::path::PathBuf>,
        frames: Option<&Frames>,
    ) -> Result<(), Status> {
        let (from, to) = (read.offset, read.offset + read.length);
        let (start, end) = if cache_file.is_some() { (0, read.block_length) } else { (from, to) };
        let written = |e: std::io::Error| Status::internal(format!("writing the block: {e}"));
        let mut file = cache_file.map(std::fs::File::create_new).transpose().map_err(written)?;
        let mut reader_gone = false;
        let read_piece = |at: u64| {
            let (ufs, relative) = (source.ufs.clone(), source.relative.clone());
            let (offset, want) = (source.offset_in_file + at, UFS_CHUNK.min(end - at));
            tokio::spawn(async move { ufs.read_pieces(&relative, offset, want).await })
        };
        let mut next = (start < end).then(|| read_piece(start));
        let mut at = start;
        while let Some(reading) = next.take() {
            let want = UFS_CHUNK.min(end - at);
            let pieces = reading
                .await
                .map_err(|e| Status::internal(format!("reading the UFS: {e}")))?
                .map_err(|e| Status::unavailable(e.to_string()))?;
            next = (at + want < end).then(|| read_piece(at + want));
            let got: u64 = pieces.iter().map(|p| p.len() as u64).sum();
            if got < want {
                return Err(Status::failed_precondition(format!(
                    "{} ends at byte {}, before the {} bytes at {} Lode's metadata says are \
                     there (was it changed outside Lode?)",
                    source.ufs.full_path(&source.relative),
                    source.offset_in_file + at + got,
                    read.block_length,
                    source.offset_in_file
                )));
            }
            let caching = file.take().map(|mut file| {
                let pieces = pieces.clone();
                tokio::task::spawn_blocking(move || {
                    pieces.iter().try_for_each(|piece| file.write_all(piece)).map(|()| file)
                })
            });
            // The part of this piece the reader asked for, in chunks: each a header frame and
            // the slices of the pieces it covers, which are not copied.
            let (mut a, b) = (from.max(at), to.min(at + want));
            while let (true, false, Some(frames)) = (a < b, reader_gone, frames) {
                let n = (read.chunk as u64).min(b - a);
                let header = Bytes::from(chunk_header(n as usize, 1));
                // A reader gone away still leaves a whole block cached.
                reader_gone = frames.send(Ok(Frame::data(header))).await.is_err();
                for slice in slices(&pieces, a - at, n) {
                    reader_gone = reader_gone || frames.send(Ok(Frame::data(slice))).await.is_err();
                }
                a += n;
            }
            if let Some(caching) = caching {
                let cached = caching.await.map_err(|e| Status::internal(e.to_string()))?;
                file = Some(cached.map_err(written)?);
            }
            if reader_gone && file.is_none() {
                break; // Nobody for the rest, and nothing to cache.
            }
            at += want;
        }
        if reader_gone && file.is_none() {
            return Err(Status::cancelled("the reader went away"));
        }
        Ok(())
    }
}

/// The bytes `offset..offset + length` of `pieces` laid end to end, as slices of them.
fn slices(pieces: &[Bytes], offset: u64, length: u64) -> Vec<Bytes> {
    let (mut skip, mut left) = (offset as usize, length as usize);
    let mut out = Vec::new();
    for piece in pieces {
        if left == 0 {
            break;
        }
        if skip >= piece.len() {
            skip -= piece.len();
            continue;
        }
        let take = (piece.len() - skip).min(left);
        out.push(piece.slice(skip..skip + take));
        left -= take;
        skip = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A range across pieces comes back as slices that join to exactly that range.
    #[test]
    fn slices_cover_a_range_across_pieces() {
        let pieces: Vec<Bytes> =
            [&b"abc"[..], b"", b"defg", b"h"].iter().map(|p| Bytes::copy_from_slice(p)).collect();
        let joined = |offset, length| slices(&pieces, offset, length).concat();
        assert_eq!(joined(0, 8), b"abcdefgh");
        assert_eq!(joined(2, 3), b"cde");
        assert_eq!(joined(3, 4), b"defg");
        assert_eq!(joined(7, 1), b"h");
        assert_eq!(joined(5, 0), b"");
        assert!(slices(&pieces, 2, 3).iter().all(|s| !s.is_empty()));
    }
}
