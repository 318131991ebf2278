//! Between Alluxio's wire types and the namespace's: modes, operation ids, file infos, and
//! errors as Alluxio's gRPC status codes.

use lode_core::journal::OpId;
use lode_core::rpc::alluxio::grpc::file::{FileInfo, FileSystemMasterCommonPOptions};
use tonic::{Code, Status};

use lode_ufs::UfsUri;

use crate::namespace::{join_uri, ErrorKind, FileStatus, NsError, Persistence};
use crate::ServeError;

/// The exactly-once id a client put in the call's common options (Alluxio's `operationId`).
pub fn op_id(common: Option<&FileSystemMasterCommonPOptions>) -> Option<OpId> {
    let id = common?.operation_id.as_ref()?;
    Some(OpId {
        client: id.most_significant_bits.unwrap_or(0) as u64,
        call: id.least_significant_bits.unwrap_or(0) as u64,
    })
}

/// Alluxio's `FileInfo` for a namespace status; `root_ufs` is the root mount's URI, if any (a
/// file under it has that URI plus its path as its UFS path).
pub fn file_info(mut status: FileStatus, root_ufs: Option<&UfsUri>) -> FileInfo {
    // `/` is the root UFS's own folder (the namespace does not know the root mount).
    if status.path == "/" && root_ufs.is_some() {
        status.persistence = Persistence::Persisted;
    }
    let ufs_path = match (status.nested_ufs_path, root_ufs) {
        (Some(nested), _) => nested,
        (None, Some(root)) => join_uri(&root.to_string(), status.path.trim_start_matches('/')),
        (None, None) => String::new(),
    };
    FileInfo {
        file_id: Some(status.id as i64),
        name: Some(status.name),
        path: Some(status.path),
        ufs_path: Some(ufs_path),
        length: Some(status.length as i64),
        block_size_bytes: Some(status.block_size as i64),
        creation_time_ms: Some(status.created_ms),
        completed: Some(status.complete),
        folder: Some(status.is_directory),
        pinned: Some(false),
        cacheable: Some(true),
        persisted: Some(status.persistence == Persistence::Persisted),
        block_ids: status.block_ids.into_iter().map(|id| id as i64).collect(),
        last_modification_time_ms: Some(status.modified_ms),
        ttl: Some(-1),
        owner: Some(status.owner),
        group: Some(status.group),
        mode: Some(status.mode as i32),
        persistence_state: Some(status.persistence.name().to_string()),
        mount_point: Some(status.mount_point),
        mount_id: Some(status.mount_id as i64),
        file_block_infos: Vec::new(),
        ttl_action: None,
        in_alluxio_percentage: Some(if status.is_directory || status.length == 0 {
            100
        } else {
            0
        }),
        in_memory_percentage: Some(0),
        ufs_fingerprint: Some(status.ufs_fingerprint),
    }
}

/// Alluxio's status code for a namespace error (as its exceptions map: a missing file is
/// NOT_FOUND, an existing one ALREADY_EXISTS, a bad path INVALID_ARGUMENT, a state conflict
/// FAILED_PRECONDITION).
pub fn status_from_ns(error: NsError) -> Status {
    let code = match error.kind {
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::AlreadyExists => Code::AlreadyExists,
        ErrorKind::InvalidPath
        | ErrorKind::NotADirectory
        | ErrorKind::IsADirectory
        | ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::DirectoryNotEmpty | ErrorKind::AlreadyComplete | ErrorKind::NotPersisted => {
            Code::FailedPrecondition
        }
    };
    Status::new(code, error.message)
}

/// A request this master cannot serve: UNAVAILABLE, so clients look for the leader and retry
/// (the message names the leader when known, as Alluxio's standbys do).
pub fn status_from_serve(error: ServeError) -> Status {
    Status::unavailable(error.to_string())
}

/// A required request field that is missing.
pub fn missing(field: &str) -> Status {
    Status::invalid_argument(format!("the request has no {field}"))
}
