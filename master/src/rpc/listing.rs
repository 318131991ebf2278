//! Listings and frees of whole trees and big directories, at most [`LIST_BATCH`] entries per
//! hold of the replica lock ([`TreeWalk`]): `ListStatus` streams its answer as it walks, at the
//! pace the client reads it; `ListStatusPartial` answers one bounded page and the client asks
//! for the next; a recursive `Free` frees a batch of entries' blocks at a time.

use std::sync::Arc;

use lode_core::rpc::alluxio::grpc::file::list_status_partial_p_options::OffsetType;
use lode_core::rpc::alluxio::grpc::file::{
    FileInfo, ListStatusPResponse, ListStatusPartialPOptions, ListStatusPartialPResponse,
};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::blocks::in_alluxio_percentage;
use super::convert::{file_info, status_from_ns, status_from_serve};
use super::{ListStream, LIST_BATCH};
use crate::namespace::{ErrorKind, FileStatus, FsPath, NsError, Persistence, TreeWalk};
use crate::MasterNode;

/// Batches a listing keeps ready ahead of a client that reads slowly.
const BATCHES_AHEAD: usize = 2;
/// The most bytes of entries in one answer of a listing (Alluxio clients take up to 100 MB).
const LIST_BATCH_BYTES: usize = 4 << 20;
/// The most entries one `ListStatusPartial` answer holds, whatever batch size the client asks
/// for (Alluxio answers a partial listing without a batch size whole): a longer listing is
/// answered in pages, each marked truncated.
pub const PARTIAL_LIST_MAX: usize = 10_000;

/// The next step of `walk` as Alluxio's `FileInfo`s, read on the leader.
fn step(node: &MasterNode, walk: &mut TreeWalk) -> Result<Vec<FileInfo>, Status> {
    node.read_blocks(|blocks, ns| {
        let entries = walk.step(ns, LIST_BATCH)?;
        Ok(entries
            .into_iter()
            .map(|status| {
                let cached = in_alluxio_percentage(blocks, &status);
                FileInfo {
                    in_alluxio_percentage: Some(cached),
                    ..file_info(status, node.ufses().root_uri())
                }
            })
            .collect::<Vec<_>>())
    })
    .map_err(status_from_serve)?
    .map_err(status_from_ns)
}

/// `infos` in answers of at most [`LIST_BATCH`] entries and [`LIST_BATCH_BYTES`] (an entry
/// bigger than that alone): an entry carries its file's block ids, so a thousand entries of
/// huge files would otherwise make one answer of gigabytes.
fn batches(infos: Vec<FileInfo>) -> impl Iterator<Item = ListStatusPResponse> {
    let mut infos = infos.into_iter().peekable();
    std::iter::from_fn(move || {
        let mut batch = vec![infos.next()?];
        let mut bytes = batch[0].encoded_len();
        while let Some(next) = infos.peek() {
            let size = next.encoded_len();
            if batch.len() == LIST_BATCH || bytes + size > LIST_BATCH_BYTES {
                break;
            }
            bytes += size;
            batch.extend(infos.next());
        }
        Some(ListStatusPResponse { file_infos: batch })
    })
}

/// `ListStatus` of `path`: the first directory is listed before answering (so a missing path
/// is the call's error, as in Alluxio), the rest as the client reads; a later failure (this
/// master stopped leading) ends the stream with its status.
pub fn list(node: Arc<MasterNode>, path: &str, recursive: bool) -> Result<ListStream, Status> {
    let path = FsPath::parse(path).map_err(|e| status_from_ns(NsError::from(e)))?;
    let mut walk = TreeWalk::new(path, recursive);
    let first = step(&node, &mut walk)?;
    if walk.is_done() {
        let mut answers: Vec<_> = batches(first).map(Ok).collect();
        if answers.is_empty() {
            answers.push(Ok(ListStatusPResponse { file_infos: Vec::new() }));
        }
        return Ok(Box::pin(tokio_stream::iter(answers)));
    }
    let (sender, receiver) = mpsc::channel(BATCHES_AHEAD);
    tokio::spawn(async move {
        let mut infos = first;
        loop {
            for batch in batches(infos) {
                if sender.send(Ok(batch)).await.is_err() {
                    return; // The client went away: stop walking.
                }
            }
            if walk.is_done() {
                return;
            }
            infos = match step(&node, &mut walk) {
                Ok(infos) => infos,
                Err(status) => {
                    let _ = sender.send(Err(status)).await;
                    return;
                }
            };
        }
    });
    Ok(Box::pin(ReceiverStream::new(receiver)))
}

/// `ListStatusPartial`: one page of the listing of `path` (Alluxio's offsets, batch size and
/// prefix), read under one hold of the replica lock; skipping `offsetCount` entries takes a
/// hold per [`LIST_BATCH`].
pub fn list_partial(
    node: &MasterNode,
    path: &str,
    options: ListStatusPartialPOptions,
) -> Result<ListStatusPartialPResponse, Status> {
    let root = FsPath::parse(path).map_err(|e| status_from_ns(NsError::from(e)))?;
    let recursive = options.options.as_ref().and_then(|o| o.recursive).unwrap_or(false);
    let batch = match options.batch_size {
        None | Some(0) => PARTIAL_LIST_MAX,
        Some(size) if size < 0 => {
            return Err(Status::invalid_argument(format!(
                "batchSize {size} of a partial listing of {root} is negative"
            )))
        }
        Some(size) => (size as usize).min(PARTIAL_LIST_MAX),
    };
    let mut walk = TreeWalk::new(root.clone(), recursive);
    if let Some(prefix) = &options.prefix {
        walk = walk.with_prefix(prefix);
    }
    let mut skip = 0;
    match options.offset_type {
        None => {}
        Some(OffsetType::OffsetCount(count)) if count < 0 => {
            return Err(Status::invalid_argument(format!(
                "offsetCount {count} of a partial listing of {root} is negative"
            )))
        }
        Some(OffsetType::OffsetCount(count)) => skip = count as usize,
        Some(OffsetType::StartAfter(after)) => {
            walk = walk.starting_after(start_after(&root, &after)?)
        }
        Some(OffsetType::OffsetId(id)) => {
            let path =
                node.read_blocks(|_, ns| ns.path_of(id as u64)).map_err(status_from_serve)?;
            let Some(path) = path else {
                return Err(Status::not_found(format!(
                    "\"{id}\" Inode was not found during partial listing. It was likely removed \
                     across listing calls."
                )));
            };
            let Some(below) = components_below(&root, &path) else {
                return Err(Status::not_found(format!(
                    "Inode not found in root path \"{root}\" during partial listing. It was \
                     likely moved across listing calls."
                )));
            };
            walk = walk.starting_after(below);
        }
    }
    while skip > 0 && !walk.is_done() {
        let skipped = node
            .read_blocks(|_, ns| walk.step(ns, skip.min(LIST_BATCH)))
            .map_err(status_from_serve)?
            .map_err(status_from_ns)?;
        skip -= skipped.len();
    }
    let (infos, file_count) = node
        .read_blocks(|blocks, ns| {
            let count = match ns.status(root.as_str())? {
                _ if recursive => -1,
                status if status.is_directory => status.children as i64,
                _ => 1,
            };
            let entries = walk.step(ns, batch)?;
            let infos = entries.into_iter().map(|status| {
                let cached = in_alluxio_percentage(blocks, &status);
                FileInfo {
                    in_alluxio_percentage: Some(cached),
                    ..file_info(status, node.ufses().root_uri())
                }
            });
            Ok((infos.collect::<Vec<_>>(), count))
        })
        .map_err(status_from_serve)?
        .map_err(status_from_ns)?;
    // An answer stays under the byte bound too: the client resumes after its last entry.
    let mut bytes = 0;
    let kept = infos
        .iter()
        .position(|info| {
            bytes += info.encoded_len();
            bytes > LIST_BATCH_BYTES
        })
        .map_or(infos.len(), |cut| cut.max(1));
    let cut_short = kept < infos.len();
    let mut infos = infos;
    infos.truncate(kept);
    Ok(ListStatusPartialPResponse {
        file_infos: infos,
        is_truncated: Some(cut_short || !walk.is_done()),
        file_count: Some(file_count),
    })
}

/// The components below `root` of a `startAfter` option: an absolute path under `root`, or a
/// path relative to it.
fn start_after(root: &FsPath, after: &str) -> Result<Vec<String>, Status> {
    if !after.starts_with('/') {
        return Ok(after.split('/').filter(|c| !c.is_empty()).map(String::from).collect());
    }
    let refused = || {
        Status::invalid_argument(format!(
            "The start after partial listing option {after} is not a prefix of the listing path \
             {root}"
        ))
    };
    let path = FsPath::parse(after).map_err(|_| refused())?;
    components_below(root, &path).ok_or_else(refused)
}

/// The components of `path` below `root`, if it lies strictly below it.
fn components_below(root: &FsPath, path: &FsPath) -> Option<Vec<String>> {
    if !path.is_within(root) || path == root {
        return None;
    }
    let depth = root.components().count();
    Some(path.components().skip(depth).map(String::from).collect())
}

/// Frees the cached copies of every block under `path` (a directory only with `recursive`),
/// [`LIST_BATCH`] entries at a time; returns how many copies were dropped. A file that is not
/// persisted is refused with Alluxio's message, checked under the same hold of the lock as the
/// free: its cached blocks are its only copy, and dropping them would lose it.
pub fn free(node: &MasterNode, path: &str, recursive: bool) -> Result<usize, Status> {
    let parsed = FsPath::parse(path).map_err(|e| status_from_ns(NsError::from(e)))?;
    let mut walk = TreeWalk::new(parsed, true);
    let (mut freed, mut first) = (0, true);
    while !walk.is_done() {
        freed += node
            .with_blocks(|blocks, ns| {
                if first && !recursive && ns.status(path)?.is_directory {
                    return Err(NsError::new(
                        ErrorKind::DirectoryNotEmpty,
                        format!("{path} is a directory: free it recursively"),
                    ));
                }
                let entries = walk.step(ns, LIST_BATCH)?;
                let persisted = |e: &&FileStatus| e.persistence == Persistence::Persisted;
                if let Some(only_copy) = entries.iter().find(|e| !e.is_directory && !persisted(e)) {
                    return Err(NsError::new(
                        ErrorKind::NotPersisted,
                        format!("Cannot free file {} which is not persisted", only_copy.path),
                    ));
                }
                let ids: Vec<u64> =
                    entries.iter().flat_map(|e| e.block_ids.iter().copied()).collect();
                Ok(blocks.free(&ids))
            })
            .map_err(status_from_serve)?
            .map_err(status_from_ns)?;
        first = false;
    }
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(blocks: usize) -> FileInfo {
        FileInfo { block_ids: vec![i64::MAX; blocks], ..FileInfo::default() }
    }

    #[test]
    fn listing_answers_are_bounded_by_entries_and_by_bytes() {
        let sizes = |infos: Vec<FileInfo>| -> Vec<usize> {
            batches(infos).map(|b| b.file_infos.len()).collect()
        };
        assert_eq!(sizes((0..2500).map(|_| info(0)).collect()), [1000, 1000, 500]);
        // About 1.5 MB each: two fit in an answer, a third does not.
        assert_eq!(sizes((0..5).map(|_| info(150_000)).collect()), [2, 2, 1]);
        // One entry bigger than the bound goes alone.
        assert_eq!(sizes(vec![info(10), info(500_000), info(10)]), [1, 1, 1]);
        assert_eq!(sizes(Vec::new()), Vec::<usize>::new());
    }
}
