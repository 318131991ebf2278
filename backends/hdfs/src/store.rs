//! The HDFS journal store: objects are files under the journal folder.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use hdfs_native::file::FileWriter;
use hdfs_native::{Client, ClientBuilder, HdfsError, WriteOptions};
use lode_core::store::{
    validate_key, AppendableStore, Appender, Capabilities, JournalStore, StoreError,
};

use crate::settings::Settings;

/// Where writers stage objects before renaming them into place.
const TEMP_DIR: &str = ".tmp";

/// How often a seal asks the NameNode again whether lease recovery has closed the file.
const SEAL_RETRY: Duration = Duration::from_millis(100);

/// A journal store in a folder on HDFS.
#[derive(Debug)]
pub struct HdfsStore {
    client: Client,
    settings: Settings,
}

/// What an HDFS error means for the journal.
#[derive(Debug, PartialEq, Eq)]
enum Meaning {
    /// The target exists.
    Exists,
    /// The path (or its parent folder) does not exist.
    Missing,
    /// The NameNode answered and refused: the operation did not happen.
    Refused,
    /// No answer (connection lost, timeout): it may or may not have happened.
    NoAnswer,
}

fn meaning(error: &HdfsError) -> Meaning {
    match error {
        HdfsError::AlreadyExists(_) => Meaning::Exists,
        HdfsError::FileNotFound(_) => Meaning::Missing,
        HdfsError::RPCError(class, _) | HdfsError::FatalRPCError(class, _) => {
            if class.ends_with("FileAlreadyExistsException") {
                Meaning::Exists
            } else if class.ends_with("FileNotFoundException") {
                Meaning::Missing
            } else {
                Meaning::Refused
            }
        }
        HdfsError::IOError(_) | HdfsError::DataTransferError(_) | HdfsError::InternalError(_) => {
            Meaning::NoAnswer
        }
        _ => Meaning::Refused,
    }
}

impl HdfsStore {
    /// A store for `settings`; connects lazily, on the first operation.
    pub fn new(settings: Settings) -> Result<HdfsStore, StoreError> {
        let client = ClientBuilder::new()
            .with_url(&settings.filesystem)
            .with_config(settings.hadoop.clone())
            .build()
            .map_err(|e| StoreError::Config {
                message: format!("cannot use the journal folder {}: {e}", settings.location()),
            })?;
        Ok(HdfsStore { client, settings })
    }

    fn path(&self, key: &str) -> String {
        format!("{}/{key}", self.settings.folder)
    }

    fn unavailable(&self, operation: &'static str, key: &str, e: impl ToString) -> StoreError {
        StoreError::Unavailable {
            operation,
            key: key.into(),
            store: self.location(),
            message: e.to_string(),
        }
    }

    fn ambiguous(&self, operation: &'static str, key: &str, e: impl ToString) -> StoreError {
        StoreError::Ambiguous {
            operation,
            key: key.into(),
            store: self.location(),
            message: e.to_string(),
        }
    }

    /// Runs one HDFS exchange, giving up after the request timeout: a DataNode that dies
    /// mid-write leaves hdfs-native waiting forever.
    async fn bounded<T>(
        &self,
        exchange: impl std::future::Future<Output = Result<T, HdfsError>>,
    ) -> Result<T, HdfsError> {
        let timeout = self.settings.request_timeout;
        tokio::time::timeout(timeout, exchange).await.unwrap_or_else(|_| {
            Err(HdfsError::IOError(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?} (alluxio.master.journal.request.timeout)"),
            )))
        })
    }

    fn already_exists(&self, key: &str) -> StoreError {
        StoreError::AlreadyExists { key: key.into(), store: self.location() }
    }

    /// Writes `bytes` to a new temporary file, durable on the DataNodes and readable whole
    /// when this returns.
    async fn write_temporary(&self, temp: &str, bytes: Vec<u8>) -> Result<(), HdfsError> {
        let length = bytes.len();
        self.bounded(async {
            let mut writer = self.client.create(temp, WriteOptions::default()).await?;
            writer.write_bytes(Bytes::from(bytes)).await?;
            writer.hsync().await?;
            writer.close().await?;
            // A NameNode with `dfs.namenode.file.close.num-committed-allowed` closes the file
            // before a DataNode reports its last block, and until then tells readers the file
            // is shorter. Only a file that reads whole may be renamed into place.
            while self.client.read(temp).await?.file_length() < length {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        })
        .await
    }

    /// Renames the staged `temp` to `key` unless `key` exists; creates the key's folder the
    /// first time.
    async fn rename_into_place(&self, temp: &str, key: &str) -> Result<(), StoreError> {
        let target = self.path(key);
        let mut created_parent = false;
        loop {
            let error = match self.bounded(self.client.rename(temp, &target, false)).await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            match meaning(&error) {
                Meaning::Missing if !created_parent => {
                    let parent = target.rsplit_once('/').map_or("/", |(parent, _)| parent);
                    self.bounded(self.client.mkdirs(parent, 0o755, true))
                        .await
                        .map_err(|e| self.unavailable("put", key, e))?;
                    created_parent = true;
                }
                // A retried rename that had landed also says "exists": the staged file is
                // gone only if it was moved into place, which makes the object ours.
                Meaning::Exists | Meaning::NoAnswer => {
                    return match self.bounded(self.client.get_file_info(temp)).await {
                        Err(e) if meaning(&e) == Meaning::Missing => {
                            match self.bounded(self.client.get_file_info(&target)).await {
                                Ok(_) => Ok(()),
                                Err(e) => Err(self.ambiguous("put", key, e)),
                            }
                        }
                        Ok(_) if meaning(&error) == Meaning::Exists => {
                            Err(self.already_exists(key))
                        }
                        Ok(_) => Err(self.unavailable("put", key, error)),
                        Err(e) => Err(self.ambiguous("put", key, format!("{error}; then {e}"))),
                    };
                }
                _ => return Err(self.unavailable("put", key, error)),
            }
        }
    }
}

#[async_trait]
impl JournalStore for HdfsStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            exclusive_create: true,
            max_object_size: 256 << 20,
            ordered_list: true,
            // One NameNode lookup per poll: cheap, and keeps standby lag near 10 ms.
            poll_interval: Duration::from_millis(10),
        }
    }

    fn location(&self) -> String {
        self.settings.location()
    }

    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        validate_key(self, key)?;
        let max = self.capabilities().max_object_size;
        if bytes.len() as u64 > max {
            return Err(StoreError::Invalid {
                store: self.location(),
                message: format!("object {key} has {} bytes; the most is {max}", bytes.len()),
            });
        }
        let temp = format!(
            "{}/{TEMP_DIR}/{}.{}",
            self.settings.folder,
            key.replace('/', "_"),
            uuid::Uuid::new_v4()
        );
        if let Err(e) = self.write_temporary(&temp, bytes).await {
            let _ = self.bounded(self.client.delete(&temp, false)).await;
            return Err(self.unavailable("put", key, e));
        }
        let placed = self.rename_into_place(&temp, key).await;
        if placed.is_err() {
            let _ = self.bounded(self.client.delete(&temp, false)).await;
        }
        placed
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(self, key)?;
        let reader = match self.bounded(self.client.read(&self.path(key))).await {
            Ok(reader) => reader,
            Err(e) if meaning(&e) == Meaning::Missing => return Ok(None),
            Err(e) => return Err(self.unavailable("get", key, e)),
        };
        match self.bounded(reader.read_range(0, reader.file_length())).await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            // Deleted between the lookup and the read (truncation).
            Err(e) if meaning(&e) == Meaning::Missing => Ok(None),
            Err(e) => Err(self.unavailable("get", key, e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        validate_key(self, key)?;
        match self.bounded(self.client.get_file_info(&self.path(key))).await {
            Ok(_) => Ok(true),
            Err(e) if meaning(&e) == Meaning::Missing => Ok(false),
            Err(e) => Err(self.unavailable("exists", key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let (folder, name_prefix) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        if !folder.is_empty() {
            validate_key(self, folder)?;
        }
        let path = if folder.is_empty() { self.settings.folder.clone() } else { self.path(folder) };
        let statuses = match self.bounded(self.client.list_status(&path, false)).await {
            Ok(statuses) => statuses,
            Err(e) if meaning(&e) == Meaning::Missing => return Ok(Vec::new()),
            Err(e) => return Err(self.unavailable("list", prefix, e)),
        };
        let mut keys: Vec<String> = statuses
            .iter()
            .filter_map(|status| status.path.rsplit('/').next())
            .filter(|name| name.starts_with(name_prefix) && *name != TEMP_DIR)
            .map(
                |name| {
                    if folder.is_empty() {
                        name.to_string()
                    } else {
                        format!("{folder}/{name}")
                    }
                },
            )
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(self, key)?;
        match self.bounded(self.client.delete(&self.path(key), false)).await {
            Ok(_) => Ok(()),
            Err(e) if meaning(&e) == Meaning::Missing => Ok(()),
            Err(e) if meaning(&e) == Meaning::NoAnswer => Err(self.ambiguous("delete", key, e)),
            Err(e) => Err(self.unavailable("delete", key, e)),
        }
    }

    fn appendable(&self) -> Option<&dyn AppendableStore> {
        Some(self)
    }

    async fn clean_temporary(&self, older_than: Duration) -> Result<usize, StoreError> {
        let folder = format!("{}/{TEMP_DIR}", self.settings.folder);
        let statuses = match self.bounded(self.client.list_status(&folder, false)).await {
            Ok(statuses) => statuses,
            Err(e) if meaning(&e) == Meaning::Missing => return Ok(0),
            Err(e) => return Err(self.unavailable("clean", TEMP_DIR, e)),
        };
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        let mut removed = 0;
        for status in statuses {
            let age = Duration::from_millis(
                now_ms.saturating_sub(u128::from(status.modification_time)) as u64,
            );
            if age >= older_than
                && matches!(self.bounded(self.client.delete(&status.path, false)).await, Ok(true))
            {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Segments (DESIGN §3a): `create` without overwrite, `write` + `hsync` (which also tells the
/// NameNode the synced length, so readers see it), lease recovery as the seal, reads bounded by
/// the synced length.
#[async_trait]
impl AppendableStore for HdfsStore {
    async fn create_exclusive(&self, key: &str) -> Result<Box<dyn Appender>, StoreError> {
        validate_key(self, key)?;
        let options = WriteOptions::default().overwrite(false).create_parent(true);
        match self.bounded(self.client.create(&self.path(key), options)).await {
            Ok(writer) => Ok(Box::new(HdfsAppender {
                writer,
                key: key.to_string(),
                store: self.location(),
                request_timeout: self.settings.request_timeout,
            })),
            Err(e) if meaning(&e) == Meaning::Exists => Err(self.already_exists(key)),
            Err(e) if meaning(&e) == Meaning::NoAnswer => Err(self.ambiguous("create", key, e)),
            Err(e) => Err(self.unavailable("create", key, e)),
        }
    }

    async fn seal(&self, key: &str) -> Result<Option<u64>, StoreError> {
        validate_key(self, key)?;
        let path = self.path(key);
        // Lease recovery: the NameNode takes the writer's lease away and has a DataNode settle
        // the last block's length; it answers `true` once the file is closed.
        loop {
            match self.bounded(self.client.recover_lease(&path)).await {
                Ok(true) => break,
                Ok(false) => tokio::time::sleep(SEAL_RETRY).await,
                Err(e) if meaning(&e) == Meaning::Missing => return Ok(None),
                Err(e) => return Err(self.unavailable("seal", key, e)),
            }
        }
        match self.bounded(self.client.get_file_info(&path)).await {
            Ok(status) => Ok(Some(status.length as u64)),
            Err(e) if meaning(&e) == Meaning::Missing => Ok(None),
            Err(e) => Err(self.unavailable("seal", key, e)),
        }
    }

    async fn read_from(
        &self,
        key: &str,
        offset: u64,
        max_len: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(self, key)?;
        // A block being finalized as its writer closes the file (a roll) can refuse one read
        // of the state it was in a moment before: look the file up again, as Java's client does.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let reader = match self.bounded(self.client.read(&self.path(key))).await {
                Ok(reader) => reader,
                Err(e) if meaning(&e) == Meaning::Missing => return Ok(None),
                Err(e) => return Err(self.unavailable("read", key, e)),
            };
            let length = reader.file_length() as u64;
            let Some(available) = length.checked_sub(offset).filter(|n| *n > 0) else {
                return Ok(Some(Vec::new()));
            };
            let len = available.min(max_len) as usize;
            match self.bounded(reader.read_range(offset as usize, len)).await {
                Ok(bytes) => return Ok(Some(bytes.to_vec())),
                Err(e) if meaning(&e) == Meaning::Missing => return Ok(None),
                Err(e) if matches!(e, HdfsError::DataTransferError(_)) && attempts < 3 => {
                    tracing::debug!(key, error = %e, "segment read refused; looking it up again");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => return Err(self.unavailable("read", key, e)),
            }
        }
    }
}

/// The open end of a segment on HDFS.
struct HdfsAppender {
    writer: FileWriter,
    key: String,
    store: String,
    request_timeout: Duration,
}

impl HdfsAppender {
    fn failed(&self, operation: &'static str, e: impl ToString) -> StoreError {
        StoreError::Unavailable {
            operation,
            key: self.key.clone(),
            store: self.store.clone(),
            message: e.to_string(),
        }
    }
}

#[async_trait]
impl Appender for HdfsAppender {
    async fn append_durable(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        // Bounded by the request timeout, which pipeline recovery after a DataNode loss (done
        // inside hsync) must fit in; a DataNode that stops answering would otherwise hang it.
        let timeout = self.request_timeout;
        let append = async {
            self.writer.write_bytes(Bytes::copy_from_slice(bytes)).await?;
            self.writer.hsync().await
        };
        match tokio::time::timeout(timeout, append).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.failed("append", e)),
            Err(_) => Err(self.failed(
                "append",
                format!("no answer within {timeout:?} (alluxio.master.journal.request.timeout)"),
            )),
        }
    }

    async fn close(&mut self) -> Result<(), StoreError> {
        match tokio::time::timeout(self.request_timeout, self.writer.close()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.failed("close", e)),
            Err(_) => Err(self.failed("close", "no answer within the request timeout")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_read_by_what_they_mean() {
        let rpc = |class: &str| HdfsError::RPCError(class.into(), "message".into());
        assert_eq!(
            meaning(&rpc("org.apache.hadoop.fs.FileAlreadyExistsException")),
            Meaning::Exists
        );
        assert_eq!(meaning(&rpc("java.io.FileNotFoundException")), Meaning::Missing);
        assert_eq!(
            meaning(&rpc("org.apache.hadoop.hdfs.server.namenode.SafeModeException")),
            Meaning::Refused
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(meaning(&HdfsError::IOError(reset)), Meaning::NoAnswer);
        assert_eq!(meaning(&HdfsError::FileNotFound("/x".into())), Meaning::Missing);
    }
}
