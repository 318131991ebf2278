//! The `local` journal store: a POSIX directory (a local disk, or any POSIX mount).
//!
//! Exclusive create: write a file that has no name yet (`O_TMPFILE`) in the target's folder,
//! fsync it, `link(2)` it to the final name (which fails with `EEXIST` when the name is taken),
//! fsync the folder. A reader sees either nothing or the whole fsynced file; a writer killed at
//! any point leaves nothing behind (the unnamed file dies with it). Where the file system cannot
//! make unnamed files (FUSE mounts, old kernels), the file is first written under `.tmp/` with a
//! name and unlinked after the link: a writer killed there leaves at most that temporary file,
//! which `clean_temporary` removes later. A failed fsync is [`StoreError::NotDurable`], never
//! retried or settled by reading back: after one, the page cache may hold bytes the disk never
//! will ("fsyncgate").

use std::fs::{self, File};
use std::io::{ErrorKind as IoKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{
    validate_key, Capabilities, JournalLocation, JournalStore, JournalStoreBackend, StoreError,
};
use crate::config::Config;

const TEMP_DIR: &str = ".tmp";

/// A journal store in a local directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: Arc<PathBuf>,
    /// The scheme its location shows: `file`, or a mount's (`glusterfs`).
    scheme: &'static str,
    poll_interval: Duration,
}

inventory::submit! {
    JournalStoreBackend {
        name: "local",
        schemes: &["file", ""],
        description: "a directory on a local disk or POSIX mount (file + fsync + exclusive link)",
        open: |location: &JournalLocation, _config: &Config| {
            let path = location.uri.strip_prefix("file://").unwrap_or(&location.uri);
            if !path.starts_with('/') && location.scheme == "file" {
                return Err(StoreError::Config {
                    message: format!("journal folder {} must be an absolute file:// path", location.uri),
                });
            }
            Ok(Arc::new(LocalStore::new(path)) as Arc<dyn JournalStore>)
        },
    }
}

impl LocalStore {
    /// A store rooted at `root`; the directory is created on first write.
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore::on_mount(root, "file", Duration::from_millis(2))
    }

    /// A store rooted at `root` on a shared POSIX mount (a GlusterFS volume, say): the same
    /// exclusive create, shown as `<scheme>://<root>`, with standbys polling every
    /// `poll_interval` so that they do not load the network file system.
    pub fn on_mount(
        root: impl Into<PathBuf>,
        scheme: &'static str,
        poll_interval: Duration,
    ) -> LocalStore {
        LocalStore { root: Arc::new(root.into()), scheme, poll_interval }
    }

    /// The directory this store writes to.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn unavailable(&self, operation: &'static str, key: &str, e: std::io::Error) -> StoreError {
        StoreError::Unavailable {
            operation,
            key: key.into(),
            store: self.location(),
            message: e.to_string(),
        }
    }

    /// Runs blocking file I/O off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        key: &str,
        work: impl FnOnce(&Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        validate_key(self, key)?;
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || work(&root)).await.map_err(|e| {
            StoreError::Unavailable {
                operation,
                key: key.into(),
                store: self.location(),
                message: format!("I/O task failed: {e}"),
            }
        })?
    }

    fn not_durable(&self, key: &str, e: std::io::Error) -> StoreError {
        StoreError::NotDurable {
            operation: "put",
            key: key.into(),
            store: self.location(),
            message: e.to_string(),
        }
    }

    fn put_blocking(&self, root: &Path, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let target = root.join(key);
        let parent = target.parent().unwrap_or(root);
        let linked = match unnamed_file(root, parent, bytes)
            .map_err(|e| self.unavailable("put", key, e))?
        {
            Some(file) => {
                file.sync_all().map_err(|e| self.not_durable(key, e))?;
                match name_unnamed(&file, &target) {
                    // No /proc to name the file through: write it again the other way.
                    Err(e) if e.kind() == IoKind::NotFound => self.link_named(root, key, bytes)?,
                    other => other,
                }
            }
            None => self.link_named(root, key, bytes)?,
        };
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == IoKind::AlreadyExists => {
                return Err(StoreError::AlreadyExists { key: key.into(), store: self.location() })
            }
            Err(e) => return Err(self.unavailable("put", key, e)),
        }
        // The name is visible now; if making it durable fails, nobody knows whether it stays.
        sync_dir(parent).map_err(|e| self.not_durable(key, e))
    }

    /// Writes and fsyncs `bytes` as a named temporary file under `.tmp/`, links it to `key`
    /// and unlinks it: the outcome of the link, or the error that stopped the write.
    fn link_named(
        &self,
        root: &Path,
        key: &str,
        bytes: &[u8],
    ) -> Result<std::io::Result<()>, StoreError> {
        let target = root.join(key);
        let temp_dir = root.join(TEMP_DIR);
        let temp = temp_dir.join(format!("{}.{}", key.replace('/', "_"), uuid::Uuid::new_v4()));
        let write_temp = || -> Result<(), StoreError> {
            let create = || match File::create_new(&temp) {
                Err(e) if e.kind() == IoKind::NotFound => {
                    fs::create_dir_all(&temp_dir)?;
                    File::create_new(&temp)
                }
                other => other,
            };
            let written = create().and_then(|mut file| file.write_all(bytes).map(|()| file));
            let file = written.map_err(|e| self.unavailable("put", key, e))?;
            file.sync_all().map_err(|e| self.not_durable(key, e))
        };
        if let Err(e) = write_temp() {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        let linked = match fs::hard_link(&temp, &target) {
            Err(e) if e.kind() == IoKind::NotFound => {
                make_folder(root, target.parent().unwrap_or(root))
                    .and_then(|()| fs::hard_link(&temp, &target))
            }
            other => other,
        };
        let _ = fs::remove_file(&temp);
        Ok(linked)
    }
}

/// Writes `bytes` to a new file without a name in `folder` (`O_TMPFILE`), making the folder
/// first when it is missing; `None` when the file system cannot make such files. The caller
/// fsyncs it.
fn unnamed_file(root: &Path, folder: &Path, bytes: &[u8]) -> std::io::Result<Option<File>> {
    use rustix::fs::{openat, Mode, OFlags, CWD};
    use rustix::io::Errno;
    let flags = OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC;
    let open = || openat(CWD, folder, flags, Mode::from_raw_mode(0o666));
    let descriptor = match open() {
        Err(Errno::NOENT) => {
            make_folder(root, folder)?;
            open()
        }
        other => other,
    };
    let mut file = match descriptor {
        Ok(descriptor) => File::from(descriptor),
        // What kernels and file systems without unnamed files answer.
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    file.write_all(bytes)?;
    Ok(Some(file))
}

/// Links the unnamed `file` to `target` (through `/proc`, which needs no privilege, unlike
/// `AT_EMPTY_PATH`); fails with `AlreadyExists` when the name is taken.
fn name_unnamed(file: &File, target: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let by_descriptor = format!("/proc/self/fd/{}", file.as_raw_fd());
    let (cwd, follow) = (rustix::fs::CWD, rustix::fs::AtFlags::SYMLINK_FOLLOW);
    rustix::fs::linkat(cwd, by_descriptor.as_str(), cwd, target, follow).map_err(Into::into)
}

/// Makes `folder` (under `root`, with any folders between them) and fsyncs the folder that
/// holds each one, up to the one holding `root`, so that every name made lasts: a log slot's
/// folder and `log/` may both be new.
fn make_folder(root: &Path, folder: &Path) -> std::io::Result<()> {
    fs::create_dir_all(folder)?;
    for made in folder.ancestors().take_while(|dir| dir.starts_with(root)) {
        if let Some(holder) = made.parent() {
            sync_dir(holder)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[async_trait]
impl JournalStore for LocalStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            exclusive_create: true,
            max_object_size: 1 << 30,
            ordered_list: true,
            poll_interval: self.poll_interval,
        }
    }

    fn location(&self) -> String {
        format!("{}://{}", self.scheme, self.root.display())
    }

    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let max = self.capabilities().max_object_size;
        if bytes.len() as u64 > max {
            return Err(StoreError::Invalid {
                store: self.location(),
                message: format!("object {key} has {} bytes; the most is {max}", bytes.len()),
            });
        }
        let this = self.clone();
        let owned_key = key.to_string();
        self.blocking("put", key, move |root| this.put_blocking(root, &owned_key, &bytes)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let this = self.clone();
        let owned_key = key.to_string();
        self.blocking("get", key, move |root| match fs::read(root.join(&owned_key)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == IoKind::NotFound => Ok(None),
            Err(e) => Err(this.unavailable("get", &owned_key, e)),
        })
        .await
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let this = self.clone();
        let owned_key = key.to_string();
        self.blocking("exists", key, move |root| {
            match fs::symlink_metadata(root.join(&owned_key)) {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == IoKind::NotFound => Ok(false),
                Err(e) => Err(this.unavailable("exists", &owned_key, e)),
            }
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        // The prefix is a folder (`log/`) or a folder plus the start of a name (`log/000`).
        let (folder, name_prefix) = match prefix.rsplit_once('/') {
            Some((folder, name)) => (folder.to_string(), name.to_string()),
            None => (String::new(), prefix.to_string()),
        };
        if !folder.is_empty() {
            validate_key(self, &folder)?;
        }
        let root = self.root.clone();
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let dir = root.join(&folder);
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == IoKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(this.unavailable("list", &folder, e)),
            };
            let mut keys = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| this.unavailable("list", &folder, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(&name_prefix) && name != TEMP_DIR {
                    keys.push(if folder.is_empty() { name } else { format!("{folder}/{name}") });
                }
            }
            keys.sort();
            Ok(keys)
        })
        .await
        .map_err(|e| StoreError::Unavailable {
            operation: "list",
            key: prefix.into(),
            store: self.location(),
            message: e.to_string(),
        })?
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let this = self.clone();
        let owned_key = key.to_string();
        self.blocking("delete", key, move |root| {
            let path = root.join(&owned_key);
            match fs::remove_file(&path) {
                Ok(()) => {
                    sync_dir(path.parent().unwrap_or(root)).map_err(|e| StoreError::Ambiguous {
                        operation: "delete",
                        key: owned_key.clone(),
                        store: this.location(),
                        message: e.to_string(),
                    })
                }
                Err(e) if e.kind() == IoKind::NotFound => Ok(()),
                Err(e) => Err(this.unavailable("delete", &owned_key, e)),
            }
        })
        .await
    }

    async fn clean_temporary(&self, older_than: Duration) -> Result<usize, StoreError> {
        let this = self.clone();
        self.blocking("clean", TEMP_DIR, move |root| {
            let entries = match fs::read_dir(root.join(TEMP_DIR)) {
                Ok(entries) => entries,
                Err(e) if e.kind() == IoKind::NotFound => return Ok(0),
                Err(e) => return Err(this.unavailable("clean", TEMP_DIR, e)),
            };
            let now = SystemTime::now();
            let mut removed = 0;
            for entry in entries.flatten() {
                let old_enough = entry
                    .metadata()
                    .and_then(|meta| meta.modified())
                    .map(|modified| now.duration_since(modified).unwrap_or_default() >= older_than)
                    .unwrap_or(false);
                if old_enough && fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names under `folder`, sorted (none when it does not exist).
    fn names(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(folder)
            .map(|entries| {
                entries.flatten().map(|e| e.file_name().to_string_lossy().into()).collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn puts_through_unnamed_files_leave_no_temporary_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        store.put_blocking(dir.path(), "log/00000001", b"first").unwrap();
        let again = store.put_blocking(dir.path(), "log/00000001", b"second");
        assert!(matches!(again, Err(StoreError::AlreadyExists { .. })), "{again:?}");
        assert_eq!(fs::read(dir.path().join("log/00000001")).unwrap(), b"first");
        assert_eq!(names(dir.path()), ["log"], "no {TEMP_DIR} folder: the file had no name");
    }

    #[test]
    fn named_temporary_files_are_linked_exclusively_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        store.link_named(dir.path(), "log/00000001", b"first").unwrap().unwrap();
        let again = store.link_named(dir.path(), "log/00000001", b"second").unwrap();
        assert_eq!(again.unwrap_err().kind(), IoKind::AlreadyExists);
        assert_eq!(fs::read(dir.path().join("log/00000001")).unwrap(), b"first");
        assert_eq!(names(&dir.path().join(TEMP_DIR)), Vec::<String>::new());
    }
}
