//! The `flatdir` journal store: Lode's template for a new backend (see
//! `docs/writing-a-backend.md`). Every object is one file in a single directory, named by its
//! key with `/` written as `%2F` (`log/00000042` is `log%2F00000042`). The exclusive create is
//! a temporary file, written and fsynced, then renamed into place with `RENAME_NOREPLACE`
//! (which fails if the name exists) and the directory fsynced: the object appears whole or not
//! at all, and of concurrent writers exactly one rename succeeds.
//!
//! Selected by `alluxio.master.journal.folder=flatdir:///absolute/path`. It needs nothing
//! from Lode but `lode-core`'s public API: the trait, the registry and the conformance suites.

use std::io::{ErrorKind as IoKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use lode_core::config::Config;
use lode_core::store::{
    validate_key, Capabilities, JournalLocation, JournalStore, JournalStoreBackend, StoreError,
};

/// Temporary files start with `#`, which no key contains, so they never list as objects.
const TEMPORARY_PREFIX: &str = "#tmp-";
/// How a key's `/` is written in a file name.
const SLASH: &str = "%2F";

inventory::submit! {
    JournalStoreBackend {
        name: "flatdir",
        schemes: &["flatdir"],
        description: "the template backend: one file per object in a flat directory \
                      (temp file + fsync + rename without replace)",
        open,
    }
}

/// Opens `flatdir:///absolute/path`, validating without I/O (the directory is created on the
/// first write).
fn open(location: &JournalLocation, _config: &Config) -> Result<Arc<dyn JournalStore>, StoreError> {
    let path = location.uri.strip_prefix("flatdir://").unwrap_or(&location.uri);
    if !path.starts_with('/') {
        return Err(StoreError::Config {
            message: format!(
                "alluxio.master.journal.folder={} must be flatdir:///absolute/path",
                location.uri
            ),
        });
    }
    Ok(Arc::new(FlatDirStore::new(path)))
}

/// A journal store in one flat directory (see the crate docs).
#[derive(Debug, Clone)]
pub struct FlatDirStore {
    dir: PathBuf,
}

impl FlatDirStore {
    /// A store in `dir`, created on the first write.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FlatDirStore { dir: dir.into() }
    }

    fn file(&self, key: &str) -> PathBuf {
        self.dir.join(key.replace('/', SLASH))
    }

    fn unavailable(&self, operation: &'static str, key: &str, error: impl ToString) -> StoreError {
        StoreError::Unavailable {
            operation,
            key: key.to_string(),
            store: self.location(),
            message: error.to_string(),
        }
    }

    /// Runs blocking file system work off the async runtime's threads.
    async fn blocking<T: Send + 'static>(
        &self,
        operation: &'static str,
        key: &str,
        work: impl FnOnce(FlatDirStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(store))
            .await
            .map_err(|e| self.unavailable(operation, key, e))?
    }

    /// Makes the directory's entries durable (a rename or a removal in it).
    fn sync_dir(&self) -> std::io::Result<()> {
        std::fs::File::open(&self.dir)?.sync_all()
    }

    fn put_blocking(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let fail = |e: std::io::Error| self.unavailable("put", key, e);
        std::fs::create_dir_all(&self.dir).map_err(fail)?;
        let temporary = self.dir.join(format!("{TEMPORARY_PREFIX}{}", uuid::Uuid::new_v4()));
        // A failed fsync is NotDurable, not retryable: the page cache may hold what the disk
        // never will, so neither a retry nor a read-back can say the bytes are safe.
        let not_durable = |e: std::io::Error| StoreError::NotDurable {
            operation: "put",
            key: key.to_string(),
            store: self.location(),
            message: e.to_string(),
        };
        let written = std::fs::File::create_new(&temporary)
            .and_then(|mut file| file.write_all(bytes).map(|()| file))
            .map_err(fail)
            .and_then(|file| file.sync_all().map_err(not_durable));
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(error);
        }
        let renamed = rustix::fs::renameat_with(
            rustix::fs::CWD,
            &temporary,
            rustix::fs::CWD,
            self.file(key),
            rustix::fs::RenameFlags::NOREPLACE,
        );
        match renamed {
            Ok(()) => self.sync_dir().map_err(not_durable),
            Err(error) => {
                let _ = std::fs::remove_file(&temporary);
                if error == rustix::io::Errno::EXIST {
                    Err(StoreError::AlreadyExists { key: key.to_string(), store: self.location() })
                } else {
                    Err(fail(error.into()))
                }
            }
        }
    }

    /// Every file name in the directory (none when it does not exist yet).
    fn names(&self) -> std::io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        entries.map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned())).collect()
    }
}

/// Whether `path` was last modified more than `age` ago.
fn older_than(path: &Path, age: Duration) -> bool {
    let modified = std::fs::metadata(path).and_then(|m| m.modified());
    modified.is_ok_and(|at| SystemTime::now().duration_since(at).unwrap_or_default() > age)
}

#[async_trait]
impl JournalStore for FlatDirStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            exclusive_create: true,
            max_object_size: 1 << 30,
            ordered_list: true,
            poll_interval: Duration::from_millis(10),
        }
    }

    fn location(&self) -> String {
        format!("flatdir://{}", self.dir.display())
    }

    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        validate_key(self, key)?;
        let owned = key.to_string();
        self.blocking("put", key, move |store| store.put_blocking(&owned, &bytes)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(self, key)?;
        let owned = key.to_string();
        self.blocking("get", key, move |store| match std::fs::read(store.file(&owned)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == IoKind::NotFound => Ok(None),
            Err(e) => Err(store.unavailable("get", &owned, e)),
        })
        .await
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        validate_key(self, key)?;
        let owned = key.to_string();
        self.blocking("exists", key, move |store| {
            store.file(&owned).try_exists().map_err(|e| store.unavailable("exists", &owned, e))
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let owned = prefix.to_string();
        self.blocking("list", prefix, move |store| {
            let names = store.names().map_err(|e| store.unavailable("list", &owned, e))?;
            let mut keys: Vec<String> = names
                .into_iter()
                .filter(|name| !name.starts_with(TEMPORARY_PREFIX))
                .map(|name| name.replace(SLASH, "/"))
                .filter(|key| key.starts_with(&owned))
                .collect();
            keys.sort();
            Ok(keys)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(self, key)?;
        let owned = key.to_string();
        self.blocking("delete", key, move |store| match std::fs::remove_file(store.file(&owned)) {
            Ok(()) => store.sync_dir().map_err(|e| store.unavailable("delete", &owned, e)),
            Err(e) if e.kind() == IoKind::NotFound => Ok(()),
            Err(e) => Err(store.unavailable("delete", &owned, e)),
        })
        .await
    }

    async fn clean_temporary(&self, age: Duration) -> Result<usize, StoreError> {
        self.blocking("clean", TEMPORARY_PREFIX, move |store| {
            let fail = |e: std::io::Error| store.unavailable("clean", TEMPORARY_PREFIX, e);
            let mut removed = 0;
            for name in store.names().map_err(fail)? {
                let path = store.dir.join(&name);
                if name.starts_with(TEMPORARY_PREFIX) && older_than(&path, age) {
                    match std::fs::remove_file(&path) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == IoKind::NotFound => {}
                        Err(e) => return Err(fail(e)),
                    }
                }
            }
            Ok(removed)
        })
        .await
    }
}
