//! The namespace's journal entries and replies, as protobuf messages (prost), so the journal
//! stays readable as fields are added. Every mutation carries the leader's clock: replicas apply
//! the same times, so they stay identical.

use lode_core::journal::Codec;
use prost::Message;

/// One journaled namespace mutation.
#[derive(Clone, PartialEq, Message)]
pub struct NamespaceOp {
    /// The leader's clock (ms since the epoch) when it accepted the mutation.
    #[prost(int64, tag = "1")]
    pub time_ms: i64,
    /// What to do.
    #[prost(oneof = "Mutation", tags = "2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15")]
    pub mutation: Option<Mutation>,
}

/// The mutations.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Mutation {
    /// Create a directory.
    #[prost(message, tag = "2")]
    CreateDirectory(CreateDirectory),
    /// Create an incomplete file.
    #[prost(message, tag = "3")]
    CreateFile(CreateFile),
    /// Mark a file complete with its length.
    #[prost(message, tag = "4")]
    CompleteFile(CompleteFile),
    /// Remove a file or directory.
    #[prost(message, tag = "5")]
    Delete(Delete),
    /// Move a file or directory.
    #[prost(message, tag = "6")]
    Rename(Rename),
    /// Change mode, owner or group.
    #[prost(message, tag = "7")]
    SetAttribute(SetAttribute),
    /// Allocate the next block of an incomplete file.
    #[prost(message, tag = "8")]
    NewBlock(NewBlock),
    /// Mount an under-file-system at a new folder.
    #[prost(message, tag = "9")]
    Mount(Mount),
    /// Remove a mount and the folder it made.
    #[prost(message, tag = "10")]
    Unmount(Unmount),
    /// Change a mount's options.
    #[prost(message, tag = "11")]
    UpdateMount(UpdateMount),
    /// A file's data was written whole to its under-file-system.
    #[prost(message, tag = "12")]
    PersistFile(PersistFile),
    /// Schedule a complete file's persistence (Alluxio's `ScheduleAsyncPersistence`).
    #[prost(message, tag = "13")]
    SchedulePersist(SchedulePersist),
    /// A file's persistence was given up.
    #[prost(message, tag = "14")]
    PersistFailed(PersistFailed),
    /// Files and folders found in an under-file-system, made known (Alluxio's metadata load).
    #[prost(message, tag = "15")]
    LoadMetadata(LoadMetadata),
}

/// Create a directory.
#[derive(Clone, PartialEq, Message)]
pub struct CreateDirectory {
    /// Where.
    #[prost(string, tag = "1")]
    pub path: String,
    /// Create missing parents too.
    #[prost(bool, tag = "2")]
    pub recursive: bool,
    /// Succeed if the directory already exists.
    #[prost(bool, tag = "3")]
    pub allow_exists: bool,
    /// Owner of what is created.
    #[prost(string, tag = "4")]
    pub owner: String,
    /// Group of what is created.
    #[prost(string, tag = "5")]
    pub group: String,
    /// Permission bits (masked to 0o7777).
    #[prost(uint32, tag = "6")]
    pub mode: u32,
    /// Made in the under-file-system too (CACHE_THROUGH, THROUGH): PERSISTED, its missing
    /// parents with it.
    #[prost(bool, tag = "7")]
    pub persisted: bool,
}

/// Create an incomplete file.
#[derive(Clone, PartialEq, Message)]
pub struct CreateFile {
    /// Where.
    #[prost(string, tag = "1")]
    pub path: String,
    /// Create missing parent directories too.
    #[prost(bool, tag = "2")]
    pub recursive: bool,
    /// Owner.
    #[prost(string, tag = "3")]
    pub owner: String,
    /// Group.
    #[prost(string, tag = "4")]
    pub group: String,
    /// Permission bits (masked to 0o7777).
    #[prost(uint32, tag = "5")]
    pub mode: u32,
    /// Block size in bytes.
    #[prost(uint64, tag = "6")]
    pub block_size: u64,
    /// Written through to its under-file-system as it is written (Alluxio's CACHE_THROUGH and
    /// THROUGH): PERSISTED from the start, as in Alluxio.
    #[prost(bool, tag = "7")]
    pub persisted: bool,
}

/// Mark a file complete.
#[derive(Clone, PartialEq, Message)]
pub struct CompleteFile {
    /// Which file.
    #[prost(string, tag = "1")]
    pub path: String,
    /// Its final length in bytes.
    #[prost(uint64, tag = "2")]
    pub length: u64,
    /// It is to be written to its under-file-system (Alluxio's ASYNC_THROUGH): it completes
    /// TO_BE_PERSISTED rather than NOT_PERSISTED.
    #[prost(bool, tag = "3")]
    pub to_be_persisted: bool,
    /// With `to_be_persisted`: persist no earlier than this many ms after completion
    /// (Alluxio's `persistenceWaitTime`; -1: only when scheduled again).
    #[prost(int64, tag = "4")]
    pub persist_wait_ms: i64,
    /// For a file written through to its under-file-system: what the UFS says of the file the
    /// write left there (checked by the leader to be the length completed).
    #[prost(string, tag = "5")]
    pub ufs_fingerprint: String,
}

/// Remove a file or directory.
#[derive(Clone, PartialEq, Message)]
pub struct Delete {
    /// What.
    #[prost(string, tag = "1")]
    pub path: String,
    /// Remove a non-empty directory with everything below it.
    #[prost(bool, tag = "2")]
    pub recursive: bool,
    /// Also remove mount points at or below the path (Alluxio's `deleteMountPoint`).
    #[prost(bool, tag = "3")]
    pub delete_mount_point: bool,
}

/// Mount an under-file-system at a folder that does not exist yet (its parent must).
#[derive(Clone, PartialEq, Message)]
pub struct Mount {
    /// The new folder.
    #[prost(string, tag = "1")]
    pub path: String,
    /// The under-file-system's URI, as `lode_ufs::UfsUri` normalises it.
    #[prost(string, tag = "2")]
    pub ufs_uri: String,
    /// The options it is mounted with.
    #[prost(message, optional, tag = "3")]
    pub options: Option<MountOptions>,
    /// Owner of the folder.
    #[prost(string, tag = "4")]
    pub owner: String,
    /// Group of the folder.
    #[prost(string, tag = "5")]
    pub group: String,
    /// Permission bits of the folder.
    #[prost(uint32, tag = "6")]
    pub mode: u32,
}

/// How an under-file-system is mounted (Alluxio's `MountPOptions`).
#[derive(Clone, PartialEq, Eq, Message)]
pub struct MountOptions {
    /// Nothing below the mount is written to it.
    #[prost(bool, tag = "1")]
    pub read_only: bool,
    /// Shared with every user.
    #[prost(bool, tag = "2")]
    pub shared: bool,
    /// Its own properties (credentials, endpoints), over the site's.
    #[prost(btree_map = "string, string", tag = "3")]
    pub properties: std::collections::BTreeMap<String, String>,
}

/// Remove the mount at a folder, and the folder with everything Lode holds below it (the
/// under-file-system keeps its files).
#[derive(Clone, PartialEq, Message)]
pub struct Unmount {
    /// The mount point.
    #[prost(string, tag = "1")]
    pub path: String,
}

/// Replace a mount's options.
#[derive(Clone, PartialEq, Message)]
pub struct UpdateMount {
    /// The mount point.
    #[prost(string, tag = "1")]
    pub path: String,
    /// The new options.
    #[prost(message, optional, tag = "2")]
    pub options: Option<MountOptions>,
}

/// A file's data is in its under-file-system: it becomes PERSISTED. By id, not path: the file
/// may have been renamed while a worker copied it; a file since deleted or rewritten refuses.
#[derive(Clone, PartialEq, Message)]
pub struct PersistFile {
    /// The file's inode id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The length persisted; a file of another length is not the one that was copied.
    #[prost(uint64, tag = "2")]
    pub length: u64,
    /// What the under-file-system said of the file it wrote (`lode_ufs::UfsStatus::fingerprint`).
    #[prost(string, tag = "3")]
    pub ufs_fingerprint: String,
    /// The file's path when the leader put its copy in place: a file at another path now
    /// refuses (its copy is not where it is). Empty: not checked (the worker wrote the copy in
    /// place, and the leader checked the place when it heard).
    #[prost(string, tag = "4")]
    pub path: String,
}

/// Make a complete file TO_BE_PERSISTED (nothing for one already persisted or pending).
#[derive(Clone, PartialEq, Message)]
pub struct SchedulePersist {
    /// Which file.
    #[prost(string, tag = "1")]
    pub path: String,
    /// Persist no earlier than this many ms from now (-1: only when scheduled again).
    #[prost(int64, tag = "2")]
    pub wait_ms: i64,
}

/// A file's persistence ended without a copy in its under-file-system.
#[derive(Clone, PartialEq, Message)]
pub struct PersistFailed {
    /// The file's inode id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Its blocks are gone from every worker (LOST; it is persisted still if they come back);
    /// otherwise the attempts ran out of time (NOT_PERSISTED, as Alluxio leaves it).
    #[prost(bool, tag = "2")]
    pub lost: bool,
}

/// Files and folders its under-file-system has below a folder, which Lode did not know: they
/// become PERSISTED inodes, complete files with their UFS fingerprint. An entry whose name is
/// taken already (Lode made it, or an earlier load did), whose parent is missing or a file, or
/// whose name breaks Lode's path rules is skipped, so a load repeated after a failover, or two
/// loads of one folder at once, make each inode once.
#[derive(Clone, PartialEq, Message)]
pub struct LoadMetadata {
    /// The folder the entries are below (it must exist).
    #[prost(string, tag = "1")]
    pub path: String,
    /// What was found, parents before their children.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<LoadedEntry>,
    /// Folders (relative to `path`; empty: `path` itself) whose every entry is now known: an
    /// ONCE load does not list them again.
    #[prost(string, repeated, tag = "3")]
    pub listed: Vec<String>,
    /// Owner of what is made.
    #[prost(string, tag = "4")]
    pub owner: String,
    /// Group of what is made.
    #[prost(string, tag = "5")]
    pub group: String,
    /// What a sync found changed or gone in the UFS, removed before `entries` are made (a
    /// changed file comes back among them as a new inode, so no block of its old content is
    /// read again).
    #[prost(message, repeated, tag = "6")]
    pub removed: Vec<RemovedEntry>,
}

/// A file or folder a sync found changed or gone in its under-file-system. It is removed only
/// if it is still what the leader saw: a PERSISTED file with that fingerprint, or a PERSISTED
/// folder with nothing below it but PERSISTED files and folders (nothing only Lode holds).
#[derive(Clone, PartialEq, Message)]
pub struct RemovedEntry {
    /// Its path relative to the load's folder.
    #[prost(string, tag = "1")]
    pub path: String,
    /// A file's UFS fingerprint as Lode had it; empty for a folder.
    #[prost(string, tag = "2")]
    pub fingerprint: String,
}

/// One file or folder found in an under-file-system.
#[derive(Clone, PartialEq, Message)]
pub struct LoadedEntry {
    /// Its path relative to the load's folder (`a/b.csv`).
    #[prost(string, tag = "1")]
    pub path: String,
    /// A folder, not a file.
    #[prost(bool, tag = "2")]
    pub directory: bool,
    /// A file's length in bytes.
    #[prost(uint64, tag = "3")]
    pub length: u64,
    /// Its modification time in the UFS, ms since the epoch (its creation and modification
    /// time in Lode).
    #[prost(int64, tag = "4")]
    pub modified_ms: i64,
    /// A file's UFS fingerprint (`lode_ufs::UfsStatus::fingerprint`).
    #[prost(string, tag = "5")]
    pub fingerprint: String,
    /// A file's block size, chosen by the leader.
    #[prost(uint64, tag = "6")]
    pub block_size: u64,
    /// Permission bits.
    #[prost(uint32, tag = "7")]
    pub mode: u32,
}

/// Move a file or directory to a path that does not exist yet.
#[derive(Clone, PartialEq, Message)]
pub struct Rename {
    /// From.
    #[prost(string, tag = "1")]
    pub src: String,
    /// To.
    #[prost(string, tag = "2")]
    pub dst: String,
}

/// Change attributes; unset fields stay as they are.
#[derive(Clone, PartialEq, Message)]
pub struct SetAttribute {
    /// What.
    #[prost(string, tag = "1")]
    pub path: String,
    /// New permission bits.
    #[prost(uint32, optional, tag = "2")]
    pub mode: Option<u32>,
    /// New owner.
    #[prost(string, optional, tag = "3")]
    pub owner: Option<String>,
    /// New group.
    #[prost(string, optional, tag = "4")]
    pub group: Option<String>,
    /// Apply to everything below a directory too.
    #[prost(bool, tag = "5")]
    pub recursive: bool,
}

/// Allocate the next block of an incomplete file.
#[derive(Clone, PartialEq, Message)]
pub struct NewBlock {
    /// Which file.
    #[prost(string, tag = "1")]
    pub path: String,
}

/// What a namespace error is, for callers to map (the RPC layer maps these to Alluxio's codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum ErrorKind {
    /// The path or an ancestor does not exist.
    NotFound = 0,
    /// Something already exists at the path.
    AlreadyExists = 1,
    /// The path breaks a path rule.
    InvalidPath = 2,
    /// A directory was expected.
    NotADirectory = 3,
    /// A file was expected.
    IsADirectory = 4,
    /// A non-recursive delete of a non-empty directory.
    DirectoryNotEmpty = 5,
    /// The file is already complete (no more blocks, no second completion).
    AlreadyComplete = 6,
    /// The request cannot apply (renaming into itself, deleting the root, too many blocks).
    InvalidArgument = 7,
    /// The file's data is not in its under-file-system (it cannot be freed).
    NotPersisted = 8,
}

/// The answer to a mutation.
#[derive(Clone, PartialEq, Message)]
pub struct NamespaceReply {
    /// The id of the inode created or changed, or the block id for `NewBlock`; 0 on error.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Set when the mutation was refused.
    #[prost(message, optional, tag = "2")]
    pub error: Option<ReplyError>,
}

/// A refused mutation.
#[derive(Clone, PartialEq, Message)]
pub struct ReplyError {
    /// What kind of failure.
    #[prost(enumeration = "ErrorKind", tag = "1")]
    pub kind: i32,
    /// A message naming the path and the rule.
    #[prost(string, tag = "2")]
    pub message: String,
}

impl NamespaceReply {
    /// A success carrying `id`.
    pub fn ok(id: u64) -> Self {
        NamespaceReply { id, error: None }
    }

    /// A refusal.
    pub fn err(kind: ErrorKind, message: impl Into<String>) -> Self {
        NamespaceReply {
            id: 0,
            error: Some(ReplyError { kind: kind as i32, message: message.into() }),
        }
    }
}

macro_rules! prost_codec {
    ($($message:ty),*) => {$(
        impl Codec for $message {
            fn encode(&self, out: &mut Vec<u8>) {
                // Writing into a Vec cannot run out of space.
                self.encode_raw(out);
            }

            fn decode(bytes: &[u8]) -> Result<Self, String> {
                <$message as Message>::decode(bytes).map_err(|e| e.to_string())
            }

            fn encoded_len(&self) -> usize {
                <$message as Message>::encoded_len(self)
            }
        }
    )*};
}

prost_codec!(NamespaceOp, NamespaceReply);
