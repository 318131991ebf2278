//! `JournalStore`: where the journal lives (DESIGN §2). A deliberately small storage
//! primitive whose one hard promise — `put_if_absent` is atomic and exclusive — is what fences
//! a deposed leader. Backends register themselves with [`inventory`]; the journal folder's
//! scheme selects one.

mod append;
mod local;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{name, Config};
pub use append::{AppendableStore, Appender};
pub use local::LocalStore;

/// What went wrong in a store operation; [`StoreError::kind`] says how to react.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// `put_if_absent` lost: the key already holds an object.
    #[error("{key} already exists in {store}")]
    AlreadyExists {
        /// The key.
        key: String,
        /// The store, for messages.
        store: String,
    },
    /// The outcome is unknown (timeout, connection reset after sending): the object may or may
    /// not have been written. The journal resolves this by reading the key back.
    #[error("{operation} {key} in {store} may or may not have taken effect: {message}")]
    Ambiguous {
        /// `put`, `delete`, ...
        operation: &'static str,
        /// The key.
        key: String,
        /// The store.
        store: String,
        /// The underlying error.
        message: String,
    },
    /// An fsync failed: what was written may be lost or may yet reach the disk, and reading it
    /// back proves nothing (the page cache answers). The writer must stop, never acknowledge.
    #[error("{operation} {key} in {store} is not durable (an fsync failed): {message}")]
    NotDurable {
        /// `put`, `delete`, ...
        operation: &'static str,
        /// The key.
        key: String,
        /// The store.
        store: String,
        /// The underlying error.
        message: String,
    },
    /// The operation failed without effect and may succeed if retried.
    #[error("{operation} {key} in {store} failed (retryable): {message}")]
    Unavailable {
        /// `put`, `get`, ...
        operation: &'static str,
        /// The key.
        key: String,
        /// The store.
        store: String,
        /// The underlying error.
        message: String,
    },
    /// The request itself is wrong (bad key, object too large); retrying will not help.
    #[error("invalid request to {store}: {message}")]
    Invalid {
        /// The store.
        store: String,
        /// What is wrong.
        message: String,
    },
    /// The store cannot be opened or used as configured.
    #[error("{message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// How a caller should react to a [`StoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Someone else's object is at the key.
    AlreadyExists,
    /// Unknown outcome: read back before deciding.
    Ambiguous,
    /// No effect; retry later.
    Retryable,
    /// An fsync failed: stop writing; neither retry nor read back (see
    /// [`StoreError::NotDurable`]).
    NotDurable,
    /// Retrying cannot help.
    Permanent,
}

impl StoreError {
    /// How to react to this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            StoreError::Ambiguous { .. } => ErrorKind::Ambiguous,
            StoreError::Unavailable { .. } => ErrorKind::Retryable,
            StoreError::NotDurable { .. } => ErrorKind::NotDurable,
            StoreError::Invalid { .. } | StoreError::Config { .. } => ErrorKind::Permanent,
        }
    }
}

/// What a store can do, so that callers and conformance tests decide by capability, never by
/// backend name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Whether `put_if_absent` is atomic and exclusive. A store without it is refused.
    pub exclusive_create: bool,
    /// The largest object the store accepts.
    pub max_object_size: u64,
    /// Whether `list` returns keys in ascending order (the journal sorts anyway).
    pub ordered_list: bool,
    /// How long a tailer should sleep when it finds nothing new: short for a local disk,
    /// longer for object stores that charge per request.
    pub poll_interval: Duration,
}

/// Storage for journal objects. Keys are relative `/`-separated paths made of ASCII letters,
/// digits, `.`, `_` and `-` (see [`validate_key`]).
#[async_trait]
pub trait JournalStore: Send + Sync + fmt::Debug {
    /// What this store can do.
    fn capabilities(&self) -> Capabilities;

    /// Where it is, for messages: `file:///var/alluxio/journal`, `hdfs://nn:8020/j`, ...
    fn location(&self) -> String;

    /// Writes `bytes` at `key` if nothing is there. The object appears whole or not at all,
    /// and of any number of concurrent writers of one key exactly one succeeds; the others get
    /// [`StoreError::AlreadyExists`].
    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError>;

    /// Reads the object at `key`; `Ok(None)` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Whether an object exists at `key`. The default reads it; stores with a cheaper check
    /// (a metadata lookup, an object HEAD) override this.
    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.get(key).await?.is_some())
    }

    /// The keys in folder `prefix` (such as `log/`, or `log/000` for the names in `log/`
    /// that start with `000`), without temporary objects. What is in a sub-folder is shown
    /// either by the sub-folder's key (`log/sub`, as a file system lists it) or by the keys in
    /// it (`log/sub/x`, for stores without folders); callers accept both.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Removes `key`; removing a missing key succeeds. Returns once the removal is durable.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Removes temporary objects left by writers that crashed mid-put and are older than
    /// `older_than`; returns how many it removed.
    async fn clean_temporary(&self, older_than: Duration) -> Result<usize, StoreError>;

    /// The `appendable` capability (DESIGN §3a), for stores that offer it: the journal then
    /// keeps its log as appended segments. Objects it creates are read, listed and deleted
    /// through this trait like any other.
    fn appendable(&self) -> Option<&dyn AppendableStore> {
        None
    }
}

/// Checks a journal key: non-empty, relative, no empty / `.` / `..` components, and only
/// ASCII letters, digits, `.`, `_`, `-` and `/`.
pub fn validate_key(store: &dyn JournalStore, key: &str) -> Result<(), StoreError> {
    let invalid = |message: String| StoreError::Invalid { store: store.location(), message };
    if key.is_empty() || key.len() > 512 {
        return Err(invalid(format!("key `{key}` must have 1 to 512 characters")));
    }
    if let Some(bad) =
        key.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
    {
        return Err(invalid(format!("key `{key}` contains `{bad}`")));
    }
    if key.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(invalid(format!(
            "key `{key}` must be relative with no empty, `.` or `..` components"
        )));
    }
    Ok(())
}

/// `alluxio.master.journal.request.timeout`: how long a remote store lets one request take.
pub fn request_timeout(config: &Config) -> Result<Duration, StoreError> {
    config
        .duration(name::MASTER_JOURNAL_REQUEST_TIMEOUT)
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| StoreError::Config {
            message: format!(
                "{} must be a positive duration",
                name::MASTER_JOURNAL_REQUEST_TIMEOUT
            ),
        })
}

/// A parsed journal folder: its scheme (empty for a plain path) and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLocation {
    /// `hdfs`, `s3`, `glusterfs`, `file`, or empty for a plain path.
    pub scheme: String,
    /// The folder as configured.
    pub uri: String,
}

impl JournalLocation {
    /// Splits `scheme://rest`; anything without `://` is a plain path.
    pub fn parse(uri: &str) -> JournalLocation {
        let scheme = match uri.split_once("://") {
            Some((scheme, _)) => scheme.to_ascii_lowercase(),
            None => String::new(),
        };
        JournalLocation { scheme, uri: uri.to_string() }
    }
}

/// Creates a store from configuration; validates without I/O (connections are lazy).
pub type OpenStore = fn(&JournalLocation, &Config) -> Result<Arc<dyn JournalStore>, StoreError>;

/// A journal store implementation, registered with `inventory::submit!`.
pub struct JournalStoreBackend {
    /// The backend's one name: folder, crate suffix, cargo feature, config values.
    pub name: &'static str,
    /// The journal folder schemes it serves; `""` means a plain path.
    pub schemes: &'static [&'static str],
    /// One line for `lode conf` and error messages.
    pub description: &'static str,
    /// Creates a store from configuration.
    pub open: OpenStore,
}

inventory::collect!(JournalStoreBackend);

/// Every journal store linked into this binary, sorted by name.
pub fn registered() -> Vec<&'static JournalStoreBackend> {
    let mut all: Vec<_> = inventory::iter::<JournalStoreBackend>.into_iter().collect();
    all.sort_by_key(|backend| backend.name);
    all
}

/// Opens the journal store that serves `alluxio.master.journal.folder`.
pub fn open(config: &Config) -> Result<Arc<dyn JournalStore>, StoreError> {
    let folder = config
        .require(name::MASTER_JOURNAL_FOLDER, "masters need a journal")
        .map_err(|e| StoreError::Config { message: e.to_string() })?;
    let location = JournalLocation::parse(folder);
    let backend = registered()
        .into_iter()
        .find(|backend| backend.schemes.contains(&location.scheme.as_str()))
        .ok_or_else(|| StoreError::Config { message: unknown_scheme_message(&location) })?;
    let store = (backend.open)(&location, config)?;
    if !store.capabilities().exclusive_create {
        return Err(StoreError::Config {
            message: format!(
                "journal store `{}` at {} cannot create objects exclusively; without that \
                 nothing fences a deposed leader, so Lode refuses to use it",
                backend.name,
                store.location()
            ),
        });
    }
    Ok(store)
}

fn unknown_scheme_message(location: &JournalLocation) -> String {
    let registered: Vec<String> = registered()
        .iter()
        .map(|backend| {
            let schemes: Vec<&str> = backend
                .schemes
                .iter()
                .map(|s| if s.is_empty() { "a plain path" } else { s })
                .collect();
            format!("{} ({})", backend.name, schemes.join(", "))
        })
        .collect();
    format!(
        "no journal store for scheme `{}` (alluxio.master.journal.folder={}) is linked into \
         this binary; registered: {}. Build with the cargo feature of the backend you need.",
        location.scheme,
        location.uri,
        registered.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_scheme_lists_what_is_registered() {
        let config =
            Config::from_pairs([(name::MASTER_JOURNAL_FOLDER, "nope://x/journal")]).unwrap();
        let err = open(&config).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no journal store for scheme `nope` (alluxio.master.journal.folder=nope://x/journal) \
             is linked into this binary; registered: local (file, a plain path). Build with the \
             cargo feature of the backend you need."
        );
    }

    #[test]
    fn locations_split_their_scheme() {
        assert_eq!(JournalLocation::parse("hdfs://nn:8020/j").scheme, "hdfs");
        assert_eq!(JournalLocation::parse("/var/journal").scheme, "");
        assert_eq!(JournalLocation::parse("S3://b/j").scheme, "s3");
    }
}
