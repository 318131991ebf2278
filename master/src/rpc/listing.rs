//! Listings and frees of whole trees, one directory per hold of the replica lock
//! ([`TreeWalk`]): `ListStatus -R` of a big tree streams its answer as it walks, at the pace
//! the client reads it, and a recursive `Free` frees one directory's blocks at a time.

use std::sync::Arc;

use lode_core::rpc::alluxio::grpc::file::{FileInfo, ListStatusPResponse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::blocks::in_alluxio_percentage;
use super::convert::{file_info, status_from_ns, status_from_serve};
use super::{ListStream, LIST_BATCH};
use crate::namespace::{ErrorKind, FsPath, NsError, TreeWalk};
use crate::MasterNode;

/// Batches a listing keeps ready ahead of a client that reads slowly.
const BATCHES_AHEAD: usize = 2;

/// The next step of `walk` as Alluxio's `FileInfo`s, read on the leader.
fn step(node: &MasterNode, walk: &mut TreeWalk) -> Result<Vec<FileInfo>, Status> {
    node.read_blocks(|blocks, ns| {
        let entries = walk.step(ns)?;
        Ok(entries
            .into_iter()
            .map(|status| {
                let cached = in_alluxio_percentage(blocks, &status);
                FileInfo { in_alluxio_percentage: Some(cached), ..file_info(status) }
            })
            .collect::<Vec<_>>())
    })
    .map_err(status_from_serve)?
    .map_err(status_from_ns)
}

fn batches(infos: Vec<FileInfo>) -> impl Iterator<Item = ListStatusPResponse> {
    let mut infos = infos.into_iter().peekable();
    std::iter::from_fn(move || {
        infos.peek()?;
        Some(ListStatusPResponse { file_infos: infos.by_ref().take(LIST_BATCH).collect() })
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

/// Frees the cached copies of every block under `path` (a directory only with `recursive`),
/// one directory at a time; returns how many copies were dropped.
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
                let entries = walk.step(ns)?;
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
