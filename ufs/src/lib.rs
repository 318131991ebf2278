//! Under-file-systems (DESIGN §9): the storage a site already trusts, which Lode caches in
//! front of. A [`Ufs`] is one mount's storage — a local folder, HDFS or S3 — reached through
//! one OpenDAL operator chosen by the URI's scheme, so every kind is read and written by the
//! same code.
//!
//! Paths given to a [`Ufs`] are relative to its URI (`a/b/file`), as a mount resolves them.
//! Writes go to a temporary name beside the target and are renamed into place when complete,
//! so a half-written file never appears under its name; object stores, where an object
//! appears only once its upload completes, are written directly.

mod error;
mod list;
mod location;
mod services;

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use lode_core::config::Config;
use opendal::{ErrorKind, Operator};

pub use error::UfsError;
pub use list::{UfsEntry, UfsLister};
pub use location::{built_in, Scheme, UfsUri};

/// Bytes a file being written hands the storage at a time (and an S3 multipart upload's part).
const WRITE_CHUNK: usize = 8 << 20;

/// One under-file-system: a URI and the operator that reaches it.
#[derive(Debug, Clone)]
pub struct Ufs {
    uri: UfsUri,
    operator: Operator,
    /// How long one request may take (`alluxio.underfs.request.timeout`).
    timeout: std::time::Duration,
}

/// What the under-file-system says about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UfsStatus {
    /// Whether it is a folder.
    pub is_directory: bool,
    /// Length in bytes (0 for folders).
    pub length: u64,
    /// Last modification, ms since the epoch, when the storage reports one.
    pub modified_ms: Option<i64>,
    /// The content tag, when the storage reports one (S3's ETag).
    pub etag: Option<String>,
}

impl UfsStatus {
    /// What OpenDAL's `metadata` says, as a status.
    fn of(metadata: &opendal::Metadata) -> UfsStatus {
        UfsStatus {
            is_directory: metadata.is_dir(),
            length: if metadata.is_dir() { 0 } else { metadata.content_length() },
            modified_ms: metadata.last_modified().and_then(|time| {
                let time: std::time::SystemTime = time.into();
                time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_millis() as i64)
            }),
            etag: metadata.etag().map(str::to_string),
        }
    }

    /// What changes when the content does (length plus modification time or tag): stored
    /// with a persisted file, so a change made outside Lode can be noticed.
    pub fn fingerprint(&self) -> String {
        let kind = if self.is_directory { "DIRECTORY" } else { "FILE" };
        let version = match (&self.etag, self.modified_ms) {
            (Some(tag), _) => tag.trim_matches('"').to_string(),
            (None, Some(ms)) => ms.to_string(),
            (None, None) => "_".into(),
        };
        format!("TYPE:{kind} LENGTH:{} CONTENT_HASH:{version}", self.length)
    }
}

impl Ufs {
    /// The under-file-system at `uri`, configured by `options` (a mount's options, e.g.
    /// `s3a.accessKeyId`) over the site configuration `config`. Makes no request: see
    /// [`Ufs::check`].
    pub fn open(
        uri: &str,
        options: &BTreeMap<String, String>,
        config: &Config,
    ) -> Result<Ufs, UfsError> {
        let parsed = UfsUri::parse(uri)?;
        parsed.check_built_in(uri)?;
        // OpenDAL makes a missing local folder; a mount of one that does not exist is refused
        // instead, as Alluxio does, so a typo never becomes a new empty folder.
        if parsed.scheme() == Scheme::Local {
            match std::fs::metadata(parsed.root()) {
                Ok(metadata) if metadata.is_dir() => {}
                Ok(_) => {
                    return Err(UfsError::InvalidUri {
                        uri: parsed.to_string(),
                        reason: "it is a file, not a folder".into(),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(UfsError::NotFound {
                        uri: parsed.to_string(),
                        path: parsed.to_string(),
                    })
                }
                Err(e) => {
                    return Err(UfsError::Unreachable {
                        uri: parsed.to_string(),
                        cause: e.to_string(),
                    })
                }
            }
        }
        let settings = services::Settings { uri: &parsed, options, config };
        let operator = services::operator(&settings)?;
        let timeout = services::request_timeout(&settings)?;
        Ok(Ufs { uri: parsed, operator, timeout })
    }

    /// Its URI.
    pub fn uri(&self) -> &UfsUri {
        &self.uri
    }

    /// The full UFS path of `path` (relative to this under-file-system), for messages and
    /// `FileInfo.ufsPath`.
    pub fn full_path(&self, path: &str) -> String {
        self.uri.join(path)
    }

    /// Checks that the under-file-system answers and its folder exists: what a mount and a
    /// master's start-up check before relying on it. Makes a real request (a listing of the
    /// folder): a stat of the top answers without asking.
    pub async fn check(&self) -> Result<(), UfsError> {
        use futures_util::StreamExt;
        let unreachable = |e: opendal::Error| UfsError::Unreachable {
            uri: self.uri.to_string(),
            cause: e.to_string(),
        };
        let first = match self.operator.lister_with("/").limit(1).await {
            Ok(mut lister) => lister.next().await.transpose().map(|_| ()),
            Err(e) => Err(e),
        };
        match first {
            Ok(()) => Ok(()),
            // An object store has no folders: an empty prefix is a valid place to mount.
            Err(e) if e.kind() == ErrorKind::NotFound && self.uri.scheme().is_object_store() => {
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(UfsError::NotFound { uri: self.uri.to_string(), path: self.uri.to_string() })
            }
            Err(e) if e.kind() == ErrorKind::NotADirectory => Err(UfsError::InvalidUri {
                uri: self.uri.to_string(),
                reason: "it is a file, not a folder".into(),
            }),
            Err(e) => Err(unreachable(e)),
        }
    }

    /// What is at `path`, or `None` if nothing is.
    pub async fn status(&self, path: &str) -> Result<Option<UfsStatus>, UfsError> {
        let key = relative(path);
        let found = match self.operator.stat(&key).await {
            Err(e) if e.kind() == ErrorKind::NotFound && !key.ends_with('/') => {
                // An object store's folder exists only as a prefix: look for one.
                self.operator.stat(&format!("{key}/")).await
            }
            other => other,
        };
        match found {
            Ok(metadata) => Ok(Some(UfsStatus::of(&metadata))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.failed("stat", path, e)),
        }
    }

    /// `length` bytes of the file at `path` from `offset` (fewer at the end of the file), in
    /// one buffer.
    pub async fn read(&self, path: &str, offset: u64, length: u64) -> Result<Bytes, UfsError> {
        let mut pieces = self.read_pieces(path, offset, length).await?;
        Ok(match pieces.len() {
            0 => Bytes::new(),
            1 => pieces.pop().expect("one piece"),
            _ => pieces.concat().into(),
        })
    }

    /// [`Ufs::read`]'s bytes in the pieces the storage handed them over in, uncopied (a local
    /// folder reads a range in several).
    pub async fn read_pieces(
        &self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<Bytes>, UfsError> {
        let key = relative(path);
        let end = offset.saturating_add(length);
        let error = match self.operator.read_with(&key).range(offset..end).await {
            Ok(buffer) => return Ok(buffer.collect()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(UfsError::NotFound {
                    uri: self.uri.to_string(),
                    path: self.full_path(path),
                })
            }
            Err(e) => e,
        };
        // Stores refuse a range past the end in different ways: if that was it, read up to
        // the end; otherwise the error stands.
        let file_length = self.status(path).await?.map_or(0, |status| status.length);
        if end <= file_length {
            return Err(self.failed("read", path, error));
        }
        if offset >= file_length {
            return Ok(Vec::new());
        }
        let rest = self.operator.read_with(&key).range(offset..file_length).await;
        rest.map(|buffer| buffer.collect()).map_err(|e| self.failed("read", path, e))
    }

    /// Starts writing the file `path`; it appears under its name only when
    /// [`UfsFile::finish`] returns, replacing what was there.
    pub async fn create(&self, path: &str) -> Result<UfsFile, UfsError> {
        let target = relative(path);
        let temporary =
            if self.uri.scheme().is_object_store() { None } else { Some(temporary_name(&target)) };
        self.create_as(path, target, temporary).await
    }

    /// Starts writing the file `path` under that very name: for a name nobody reads until it is
    /// complete (a [`staging_path`]).
    pub async fn create_direct(&self, path: &str) -> Result<UfsFile, UfsError> {
        self.create_as(path, relative(path), None).await
    }

    async fn create_as(
        &self,
        path: &str,
        target: String,
        temporary: Option<String>,
    ) -> Result<UfsFile, UfsError> {
        let written = temporary.as_deref().unwrap_or(&target);
        let writer = self
            .operator
            .writer_with(written)
            .chunk(WRITE_CHUNK)
            .await
            .map_err(|e| self.failed("create", path, e))?;
        Ok(UfsFile {
            ufs: self.clone(),
            path: path.to_string(),
            target,
            temporary,
            writer,
            pending: Vec::new(),
            pending_bytes: 0,
        })
    }

    /// Deletes the file at `path`, or the folder with everything in it; nothing there is not an
    /// error.
    pub async fn delete(&self, path: &str) -> Result<(), UfsError> {
        let key = relative(path);
        match self.status(path).await? {
            None => Ok(()),
            Some(status) if status.is_directory => self
                .operator
                .delete_with(&format!("{key}/"))
                .recursive(true)
                .await
                .map_err(|e| self.failed("delete", path, e)),
            Some(_) => self.operator.delete(&key).await.map_err(|e| self.failed("delete", path, e)),
        }
    }

    /// Deletes the temporary files that writes of `path` left beside it (a writer killed
    /// before it could finish or abort); returns how many. Object stores have none: their
    /// files appear whole without one.
    pub async fn delete_temporaries(&self, path: &str) -> Result<usize, UfsError> {
        if self.uri.scheme().is_object_store() {
            return Ok(0);
        }
        let target = relative(path);
        let (folder, name) = match target.rsplit_once('/') {
            Some((folder, name)) => (format!("{folder}/"), name),
            None => (String::new(), target.as_str()),
        };
        let entries = match self.operator.list(&folder).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(self.failed("list", path, e)),
        };
        let mut removed = 0;
        for entry in entries.iter().filter(|entry| is_temporary_of(entry.name(), name)) {
            let key = format!("{folder}{}", entry.name());
            self.operator.delete(&key).await.map_err(|e| self.failed("delete", &key, e))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Deletes the folder `path` if it is empty, and says whether it did: a folder with
    /// anything in it stays, as it may hold files Lode never knew of. No folder is not an error.
    pub async fn delete_empty_dir(&self, path: &str) -> Result<bool, UfsError> {
        if !self.status(path).await?.is_some_and(|status| status.is_directory) {
            return Ok(false);
        }
        let key = format!("{}/", relative(path));
        let entries = match self.operator.list(&key).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.failed("list", path, e)),
        };
        if entries.iter().any(|entry| entry.path() != key) {
            return Ok(false);
        }
        self.operator.delete(&key).await.map_err(|e| self.failed("delete", path, e))?;
        Ok(true)
    }

    /// Renames the file `from` to `to`, making `to`'s folder if needed.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), UfsError> {
        let (source, target) = (relative(from), relative(to));
        if self.uri.scheme().is_object_store() {
            // No rename on an object store: copy, then delete the original.
            self.operator.copy(&source, &target).await.map_err(|e| self.failed("copy", from, e))?;
            return self.operator.delete(&source).await.map_err(|e| self.failed("delete", from, e));
        }
        self.operator.rename(&source, &target).await.map_err(|e| self.failed("rename", from, e))
    }

    /// Makes the folder `path` and any missing parents.
    pub async fn create_dir(&self, path: &str) -> Result<(), UfsError> {
        let key = format!("{}/", relative(path));
        self.operator.create_dir(&key).await.map_err(|e| self.failed("mkdir", path, e))
    }

    fn failed(&self, operation: &'static str, path: &str, error: opendal::Error) -> UfsError {
        let cause = match error.kind() {
            ErrorKind::PermissionDenied => format!("permission denied: {error}"),
            _ => error.to_string(),
        };
        UfsError::Failed {
            operation,
            path: self.full_path(path),
            cause,
            temporary: error.is_temporary(),
        }
    }
}

/// A file being written to an under-file-system (see [`Ufs::create`]).
pub struct UfsFile {
    ufs: Ufs,
    path: String,
    target: String,
    temporary: Option<String>,
    writer: opendal::Writer,
    /// Pieces not handed to the storage yet: callers write pieces as small as an HTTP/2 frame,
    /// and each one handed over costs more than copying them together.
    pending: Vec<Bytes>,
    pending_bytes: usize,
}

impl std::fmt::Debug for UfsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UfsFile").field("path", &self.ufs.full_path(&self.path)).finish()
    }
}

impl UfsFile {
    /// Appends `bytes`.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), UfsError> {
        self.pending_bytes += bytes.len();
        self.pending.push(bytes);
        if self.pending_bytes >= WRITE_CHUNK {
            self.hand_over().await?;
        }
        Ok(())
    }

    async fn hand_over(&mut self) -> Result<(), UfsError> {
        let mut pieces = std::mem::take(&mut self.pending);
        // One contiguous buffer: some services (a local folder) make a system call, through a
        // blocking pool, per piece they are given. A single piece (a whole cached block) goes
        // as it is.
        let whole = match pieces.len() {
            0 => Bytes::new(),
            1 => pieces.pop().expect("one piece"),
            _ => {
                let mut whole = bytes::BytesMut::with_capacity(self.pending_bytes);
                for piece in &pieces {
                    whole.extend_from_slice(piece);
                }
                whole.freeze()
            }
        };
        self.pending_bytes = 0;
        let path = &self.path;
        self.writer.write(whole).await.map_err(|e| self.ufs.failed("write", path, e))
    }

    /// Completes the file and puts it under its name; returns what the storage says of it.
    pub async fn finish(mut self) -> Result<UfsStatus, UfsError> {
        if let Err(error) = self.hand_over().await {
            self.discard().await;
            return Err(error);
        }
        if let Err(e) = self.writer.close().await {
            let error = self.ufs.failed("write", &self.path, e);
            self.discard().await;
            return Err(error);
        }
        if let Some(temporary) = &self.temporary {
            let renamed = self.ufs.operator.rename(temporary, &self.target).await;
            if let Err(e) = renamed {
                let error = self.ufs.failed("rename into place", &self.path, e);
                self.discard().await;
                return Err(error);
            }
        }
        self.ufs.status(&self.path).await?.ok_or_else(|| UfsError::NotFound {
            uri: self.ufs.uri.to_string(),
            path: self.ufs.full_path(&self.path),
        })
    }

    /// Gives the file up: nothing appears under its name, and the temporary file goes.
    pub async fn abort(mut self) {
        let _ = self.writer.abort().await;
        self.discard().await;
    }

    async fn discard(&mut self) {
        if let Some(temporary) = &self.temporary {
            if let Err(e) = self.ufs.operator.delete(temporary).await {
                tracing::warn!(file = temporary, error = %e, "a temporary UFS file stays behind");
            }
        }
    }
}

/// An OpenDAL path from a path relative to the UFS's folder.
fn relative(path: &str) -> String {
    path.trim_matches('/').to_string()
}

/// The temporary name a file is written under before it is renamed into place: beside it
/// (same folder, same file system), in Alluxio's pattern so tools that clean up after Alluxio
/// recognise it.
fn temporary_name(target: &str) -> String {
    format!("{target}.alluxio.0x{:016X}.tmp", rand::random::<u64>())
}

/// The folder, below a mount's UFS root, where workers write the copies of files they persist
/// before the leader renames each to its file's place (Alluxio's
/// `alluxio.underfs.persistence.async.temp.dir`): never a folder of the namespace, so a
/// listing leaves it out.
pub const STAGING_FOLDER: &str = ".alluxio_ufs_persistence";

/// A fresh name in [`STAGING_FOLDER`] for a copy of file `file_id` (an inode id).
pub fn staging_path(file_id: u64) -> String {
    temporary_name(&staging_prefix(file_id))
}

/// What every [`staging_path`] of file `file_id` starts with: [`Ufs::delete_temporaries`] of
/// it deletes the copies earlier attempts left.
pub fn staging_prefix(file_id: u64) -> String {
    format!("{STAGING_FOLDER}/{file_id}")
}

/// Whether `entry` (a name in a folder) is a [`temporary_name`] of the file `name`.
fn is_temporary_of(entry: &str, name: &str) -> bool {
    entry.strip_prefix(name).is_some_and(|rest| temporary_suffix(rest) == Some(rest))
}

/// Whether `name` is a file being written under a temporary name (Lode's or Alluxio's): never
/// a file of its own, so a listing leaves it out.
pub fn is_temporary(name: &str) -> bool {
    temporary_suffix(name).is_some_and(|suffix| suffix.len() < name.len())
}

/// The `.alluxio.0x<16 hex digits>.tmp` that `name` ends with, if it does.
fn temporary_suffix(name: &str) -> Option<&str> {
    const LENGTH: usize = ".alluxio.0x".len() + 16 + ".tmp".len();
    let suffix = name.get(name.len().checked_sub(LENGTH)?..)?;
    let nonce = suffix.strip_prefix(".alluxio.0x")?.strip_suffix(".tmp")?;
    nonce.bytes().all(|b| b.is_ascii_hexdigit()).then_some(suffix)
}

#[cfg(test)]
mod tests;
