//! The metadata client: finds the leading master, follows a standby's "the leader is X",
//! retries through failover with exponential backoff until a deadline, and keeps each mutating
//! call's (client id, call id) the same across its retries so the master applies it once.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use lode_core::config::{name, Config};
use lode_core::rpc::alluxio::grpc::block::block_master_client_service_client::BlockMasterClientServiceClient as BlockMasterClient;
use lode_core::rpc::alluxio::grpc::block::{
    GetBlockInfoPRequest, GetWorkerInfoListPOptions, WorkerInfo,
};
use lode_core::rpc::alluxio::grpc::file::file_system_master_client_service_client::FileSystemMasterClientServiceClient as FsClient;
use lode_core::rpc::alluxio::grpc::file::*;
use lode_core::rpc::alluxio::grpc::meta::meta_master_client_service_client::MetaMasterClientServiceClient;
use lode_core::rpc::alluxio::grpc::meta::{GetMasterInfoPOptions, MasterInfo};
use lode_core::rpc::alluxio::grpc::BlockInfo;
use lode_core::rpc::leader::LeaderFinder;
use lode_core::rpc::lode::master::lode_master_service_client::LodeMasterServiceClient;
use lode_core::rpc::lode::master::{CheckpointRequest, GetMasterStatusRequest, MasterStatus};
use lode_core::rpc::pmode_from_mode;
use std::sync::Mutex;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// The metadata key carrying the calling user's name (see the master's RPC module).
const USER_METADATA_KEY: &str = "lode-user";

/// The largest answer taken from a master: a status carries every block id of its file and
/// each block's locations (up to `alluxio.master.file.blocks.max` blocks, 100,000 by default:
/// some 10 MB), beyond tonic's 4 MB default.
const MAX_ANSWER: usize = 64 << 20;

fn fs_client(channel: Channel) -> FsClient<Channel> {
    FsClient::new(channel).max_decoding_message_size(MAX_ANSWER)
}

/// A failed call: the master's answer, or why no master answered in time.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The master refused the call (not found, already exists, invalid path, ...).
    #[error("{message}")]
    Refused {
        /// The gRPC status code.
        code: Code,
        /// The master's message, naming the path and the rule.
        message: String,
    },
    /// No leading master answered before the retry deadline.
    #[error("no leading master answered within {waited:?} (tried {masters}): {last_error}")]
    Unavailable {
        /// How long it tried.
        waited: Duration,
        /// The masters it tried.
        masters: String,
        /// The last thing that went wrong.
        last_error: String,
    },
    /// The client cannot be set up from the configuration.
    #[error("{0}")]
    Config(String),
}

impl ClientError {
    /// The gRPC code of a refusal (`Unavailable` otherwise).
    pub fn code(&self) -> Code {
        match self {
            ClientError::Refused { code, .. } => *code,
            _ => Code::Unavailable,
        }
    }
}

/// How long and how often to retry (Alluxio's `alluxio.user.rpc.retry.*`).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// First back-off.
    pub base_sleep: Duration,
    /// Longest back-off.
    pub max_sleep: Duration,
    /// Give up after this long.
    pub max_duration: Duration,
}

/// How a file is written (Alluxio's write types that Lode's client supports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteType {
    /// To a worker only: NOT_PERSISTED.
    MustCache,
    /// To a worker and the under-file-system together: PERSISTED when written.
    CacheThrough,
    /// To the under-file-system only.
    Through,
    /// To a worker, persisted after (TO_BE_PERSISTED).
    AsyncThrough,
}

impl WriteType {
    /// The write type named `name` (`alluxio.user.file.writetype.default`'s values).
    pub fn from_name(name: &str) -> Option<WriteType> {
        match name {
            "MUST_CACHE" => Some(WriteType::MustCache),
            "CACHE_THROUGH" => Some(WriteType::CacheThrough),
            "THROUGH" => Some(WriteType::Through),
            "ASYNC_THROUGH" => Some(WriteType::AsyncThrough),
            _ => None,
        }
    }

    /// Whether the file's blocks are written to a worker.
    pub fn caches(self) -> bool {
        self != WriteType::Through
    }

    /// Whether the file is written to its under-file-system as it is written.
    pub fn writes_through(self) -> bool {
        matches!(self, WriteType::CacheThrough | WriteType::Through)
    }

    fn proto(self) -> WritePType {
        match self {
            WriteType::MustCache => WritePType::MustCache,
            WriteType::CacheThrough => WritePType::CacheThrough,
            WriteType::Through => WritePType::Through,
            WriteType::AsyncThrough => WritePType::AsyncThrough,
        }
    }
}

/// A client of the leading master.
pub struct MasterClient {
    finder: LeaderFinder,
    short_circuit: bool,
    chunks: StreamingChunks,
    write_type: WriteType,
    /// How long after completion an ASYNC_THROUGH file may be persisted.
    persistence_wait: Duration,
    /// Whether paths the masters do not know are looked up in under-file-systems
    /// (`alluxio.user.file.metadata.load.type`; unset: the masters' setting).
    load_type: Option<i32>,
    /// Blocks read from under-file-systems are not kept by workers (Alluxio's NO_CACHE read
    /// type, `alluxio.user.file.readtype.default`).
    no_cache: bool,
    /// How stale what the masters know of under-file-systems may be, in ms (-1: never;
    /// `alluxio.user.file.metadata.sync.interval`; unset: the masters' setting).
    sync_interval_ms: Option<i64>,
    retry: RetryPolicy,
    /// The login user sent with every call (none when it is not valid header text).
    user: Option<AsciiMetadataValue>,
    client_id: i64,
    next_call: AtomicI64,
    leader: Mutex<Option<(String, Channel)>>,
}

impl std::fmt::Debug for MasterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterClient").field("finder", &self.finder).finish()
    }
}

/// The bytes per message of a block streamed from a worker (`read`) and to one (`write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamingChunks {
    /// `alluxio.user.streaming.reader.chunk.size.bytes`.
    pub read: usize,
    /// `alluxio.user.streaming.writer.chunk.size.bytes`.
    pub write: usize,
}

/// The largest streaming chunk: the most a worker sends in one message.
pub const MAX_STREAMING_CHUNK: u64 = 8 << 20;

/// The chunk size `key` sets, from one byte to [`MAX_STREAMING_CHUNK`].
fn chunk_size(config: &Config, key: &str) -> Result<usize, ClientError> {
    let bytes = config.size(key).unwrap_or(1 << 20);
    if (1..=MAX_STREAMING_CHUNK).contains(&bytes) {
        return Ok(bytes as usize);
    }
    let entry = config.get(key);
    Err(ClientError::Config(format!(
        "invalid value `{}` for {key} (from {}): a chunk must be from 1B to 8MB",
        entry.map_or("", |e| e.text.as_str()),
        entry.map_or("", |e| e.source.as_str()),
    )))
}

fn retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
    )
}

impl MasterClient {
    /// A client for the masters the configuration names: the leader the election service names
    /// (ZooKeeper when `alluxio.zookeeper.enabled`, etcd when `alluxio.master.election.type=etcd`),
    /// else `alluxio.master.rpc.addresses`, else
    /// `alluxio.master.hostname:alluxio.master.rpc.port`.
    pub fn from_config(config: &Config) -> Result<MasterClient, ClientError> {
        let finder = LeaderFinder::from_config(config).map_err(ClientError::Config)?;
        let duration = |key: &str, fallback: u64| {
            config.duration(key).unwrap_or(Duration::from_millis(fallback))
        };
        let user = config
            .string(name::SECURITY_LOGIN_USERNAME)
            .map(str::to_string)
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("LOGNAME").ok())
            .unwrap_or_else(|| rustix::process::getuid().as_raw().to_string());
        Ok(MasterClient {
            finder,
            short_circuit: config.bool(name::USER_SHORT_CIRCUIT_ENABLED),
            chunks: StreamingChunks {
                read: chunk_size(config, name::USER_STREAMING_READER_CHUNK_SIZE_BYTES)?,
                write: chunk_size(config, name::USER_STREAMING_WRITER_CHUNK_SIZE_BYTES)?,
            },
            write_type: config
                .string(name::USER_FILE_WRITETYPE_DEFAULT)
                .and_then(WriteType::from_name)
                .unwrap_or(WriteType::AsyncThrough),
            persistence_wait: duration(name::USER_FILE_PERSISTENCE_INITIAL_WAIT_TIME, 0),
            no_cache: config.string(name::USER_FILE_READTYPE_DEFAULT) == Some("NO_CACHE"),
            // Sent only when the site sets it: otherwise the masters' setting holds.
            load_type: config
                .get(name::USER_FILE_METADATA_LOAD_TYPE)
                .filter(|entry| entry.source != "default")
                .and_then(|entry| {
                    LoadMetadataPType::from_str_name(&entry.text.to_ascii_uppercase())
                })
                .map(|load| load as i32),
            sync_interval_ms: match config
                .get(name::USER_FILE_METADATA_SYNC_INTERVAL)
                .filter(|entry| entry.source != "default")
            {
                None => None,
                Some(entry) if entry.text.trim() == "-1" => Some(-1),
                Some(entry) => Some(
                    lode_core::config::parse_duration(&entry.text)
                        .map_err(|e| {
                            ClientError::Config(format!(
                                "{}={}: {e}, or -1 for never",
                                name::USER_FILE_METADATA_SYNC_INTERVAL,
                                entry.text
                            ))
                        })?
                        .as_millis() as i64,
                ),
            },
            retry: RetryPolicy {
                base_sleep: duration(name::USER_RPC_RETRY_BASE_SLEEP, 50),
                max_sleep: duration(name::USER_RPC_RETRY_MAX_SLEEP, 1_000),
                max_duration: duration(name::USER_RPC_RETRY_MAX_DURATION, 120_000),
            },
            user: user.parse().ok(),
            client_id: rand::random::<i64>(),
            next_call: AtomicI64::new(1),
            leader: Mutex::new(None),
        })
    }

    /// How this client writes files (`alluxio.user.file.writetype.default`).
    pub fn write_type(&self) -> WriteType {
        self.write_type
    }

    /// Writes files `write_type` from now on.
    pub fn with_write_type(mut self, write_type: WriteType) -> Self {
        self.write_type = write_type;
        self
    }

    /// Overrides the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Whether blocks on this host's workers are read and written in place
    /// (`alluxio.user.short.circuit.enabled`).
    pub fn short_circuit(&self) -> bool {
        self.short_circuit
    }

    /// Whether blocks this client reads from under-file-systems are left uncached (NO_CACHE).
    pub fn no_cache(&self) -> bool {
        self.no_cache
    }

    /// The bytes per message when blocks are streamed to and from workers.
    pub fn streaming_chunks(&self) -> StreamingChunks {
        self.chunks
    }

    /// Overrides the streaming chunk sizes.
    pub fn with_streaming_chunks(mut self, chunks: StreamingChunks) -> Self {
        self.chunks = chunks;
        self
    }

    /// Turns short-circuit reads and writes on or off.
    pub fn with_short_circuit(mut self, enabled: bool) -> Self {
        self.short_circuit = enabled;
        self
    }

    /// The masters this client knows.
    pub fn masters(&self) -> &[String] {
        self.finder.masters()
    }

    /// Where this client looks for the leader.
    pub fn finder(&self) -> &LeaderFinder {
        &self.finder
    }

    /// Runs `call` against the leader, retrying through failovers until the deadline.
    async fn call<T, F, Fut>(&self, what: &str, call: F) -> Result<T, ClientError>
    where
        F: Fn(Channel) -> Fut,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        let started = Instant::now();
        let mut sleep = self.retry.base_sleep;
        loop {
            let cached = self.cached_leader().clone();
            let attempt = match cached {
                Some(leader) => Ok((leader, true)),
                None => self.finder.find().await.map(|leader| (leader, false)),
            };
            let last_error = match attempt {
                Ok(((address, channel), cached)) => match call(channel.clone()).await {
                    Ok(answer) => {
                        if !cached {
                            *self.cached_leader() = Some((address, channel));
                        }
                        return Ok(answer);
                    }
                    Err(status) if !retryable(&status) => {
                        if !cached {
                            *self.cached_leader() = Some((address, channel));
                        }
                        return Err(ClientError::Refused {
                            code: status.code(),
                            message: status.message().to_string(),
                        });
                    }
                    Err(status) => {
                        *self.cached_leader() = None;
                        format!("{address}: {}", status.message())
                    }
                },
                Err(error) => error,
            };
            if started.elapsed() + sleep > self.retry.max_duration {
                return Err(ClientError::Unavailable {
                    waited: started.elapsed(),
                    masters: self.finder.describe(),
                    last_error,
                });
            }
            tracing::debug!(what, %last_error, "retrying");
            metrics::counter!("lode_client_retries_total").increment(1);
            tokio::time::sleep(sleep).await;
            sleep = (sleep * 2).min(self.retry.max_sleep);
        }
    }

    /// The leader this client last reached (never held across an await).
    fn cached_leader(&self) -> std::sync::MutexGuard<'_, Option<(String, Channel)>> {
        // A poisoned lock only means a panic elsewhere; an `Option` is always whole.
        self.leader.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(user) = &self.user {
            request.metadata_mut().insert(USER_METADATA_KEY, user.clone());
        }
        request
    }

    /// Common options carrying a fresh operation id (kept across this call's retries).
    fn new_operation(&self) -> Option<FileSystemMasterCommonPOptions> {
        Some(FileSystemMasterCommonPOptions {
            operation_id: Some(FsOpPId {
                most_significant_bits: Some(self.client_id),
                least_significant_bits: Some(self.next_call.fetch_add(1, Ordering::Relaxed)),
            }),
            ..Default::default()
        })
    }

    /// Creates a directory.
    pub async fn create_directory(
        &self,
        path: &str,
        recursive: bool,
        allow_exists: bool,
    ) -> Result<(), ClientError> {
        let message = CreateDirectoryPRequest {
            path: Some(path.into()),
            options: Some(CreateDirectoryPOptions {
                recursive: Some(recursive),
                allow_exists: Some(allow_exists),
                common_options: self.new_operation(),
                ..Default::default()
            }),
        };
        self.call("create directory", |channel| {
            let request = self.request(message.clone());
            async move { fs_client(channel).create_directory(request).await }
        })
        .await
        .map(|_| ())
    }

    /// Creates an empty, incomplete file and returns its info.
    pub async fn create_file(&self, path: &str, recursive: bool) -> Result<FileInfo, ClientError> {
        self.create_file_with_block_size(path, recursive, None).await
    }

    /// Creates an empty, incomplete file with `block_size` (the master's default when `None`).
    pub async fn create_file_with_block_size(
        &self,
        path: &str,
        recursive: bool,
        block_size: Option<u64>,
    ) -> Result<FileInfo, ClientError> {
        let message = CreateFilePRequest {
            path: Some(path.into()),
            options: Some(CreateFilePOptions {
                recursive: Some(recursive),
                block_size_bytes: block_size.map(|size| size as i64),
                common_options: self.new_operation(),
                write_type: Some(self.write_type.proto() as i32),
                ..Default::default()
            }),
        };
        let response = self
            .call("create file", |channel| {
                let request = self.request(message.clone());
                async move { fs_client(channel).create_file(request).await }
            })
            .await?;
        Ok(response.into_inner().file_info.unwrap_or_default())
    }

    /// Marks a file complete with its length.
    pub async fn complete_file(&self, path: &str, length: u64) -> Result<(), ClientError> {
        let message = CompleteFilePRequest {
            path: Some(path.into()),
            options: Some(CompleteFilePOptions {
                ufs_length: Some(length as i64),
                async_persist_options: (self.write_type == WriteType::AsyncThrough).then_some(
                    ScheduleAsyncPersistencePOptions {
                        common_options: None,
                        persistence_wait_time: Some(self.persistence_wait.as_millis() as i64),
                    },
                ),
                common_options: self.new_operation(),
            }),
        };
        self.call("complete file", |channel| {
            let request = self.request(message.clone());
            async move { fs_client(channel).complete_file(request).await }
        })
        .await
        .map(|_| ())
    }

    /// The status of a path.
    pub async fn get_status(&self, path: &str) -> Result<FileInfo, ClientError> {
        let options = GetStatusPOptions {
            load_metadata_type: self.load_type,
            common_options: self.sync_options(),
            ..Default::default()
        };
        let message = GetStatusPRequest { path: Some(path.into()), options: Some(options) };
        let response = self
            .call("get status", |channel| {
                let request = self.request(message.clone());
                async move { fs_client(channel).get_status(request).await }
            })
            .await?;
        Ok(response.into_inner().file_info.unwrap_or_default())
    }

    /// Whether a path exists.
    pub async fn exists(&self, path: &str) -> Result<bool, ClientError> {
        let options = ExistsPOptions {
            load_metadata_type: self.load_type,
            common_options: self.sync_options(),
        };
        let message = ExistsPRequest { path: Some(path.into()), options: Some(options) };
        let response = self
            .call("exists", |channel| {
                let request = self.request(message.clone());
                async move { fs_client(channel).exists(request).await }
            })
            .await?;
        Ok(response.into_inner().exists.unwrap_or(false))
    }

    /// A directory's entries (or the file itself), every level below it when `recursive`.
    pub async fn list_status(
        &self,
        path: &str,
        recursive: bool,
    ) -> Result<Vec<FileInfo>, ClientError> {
        let options = ListStatusPOptions { recursive: Some(recursive), ..Default::default() };
        self.list_status_with(path, options).await
    }

    /// Loads what the under-file-system has at `path` (every level below it when `recursive`)
    /// that the masters do not know, listing nothing (Alluxio's `loadMetadata`); with `sync`,
    /// also what changed or went there (Alluxio's `loadMetadata -F`: sync interval 0).
    pub async fn load_metadata(
        &self,
        path: &str,
        recursive: bool,
        sync: bool,
    ) -> Result<(), ClientError> {
        let options = ListStatusPOptions {
            recursive: Some(recursive),
            load_metadata_type: Some(LoadMetadataPType::Always as i32),
            load_metadata_only: Some(true),
            common_options: sync.then(|| FileSystemMasterCommonPOptions {
                sync_interval_ms: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.list_status_with(path, options).await.map(|_| ())
    }

    /// The sync interval this client sends, when its site sets one.
    fn sync_options(&self) -> Option<FileSystemMasterCommonPOptions> {
        self.sync_interval_ms.map(|ms| FileSystemMasterCommonPOptions {
            sync_interval_ms: Some(ms),
            ..Default::default()
        })
    }

    /// [`MasterClient::list_status`] with Alluxio's options; the metadata load type is the
    /// client's (`alluxio.user.file.metadata.load.type`) unless `options` has one.
    pub async fn list_status_with(
        &self,
        path: &str,
        mut options: ListStatusPOptions,
    ) -> Result<Vec<FileInfo>, ClientError> {
        options.load_metadata_type = options.load_metadata_type.or(self.load_type);
        if options.common_options.is_none() {
            options.common_options = self.sync_options();
        }
        let message = ListStatusPRequest { path: Some(path.into()), options: Some(options) };
        self.call("list status", |channel| {
            let request = self.request(message.clone());
            async move {
                let mut stream = fs_client(channel).list_status(request).await?.into_inner();
                let mut entries = Vec::new();
                while let Some(batch) = stream.message().await? {
                    entries.extend(batch.file_infos);
                }
                Ok(entries)
            }
        })
        .await
    }

    /// Removes a path (a non-empty directory only when `recursive`).
    pub async fn remove(&self, path: &str, recursive: bool) -> Result<(), ClientError> {
        self.remove_with(path, recursive, false).await
    }

    /// Removes a path; with `delete_mount_point`, also mount points at or below it (Alluxio's
    /// `--deleteMountPoint`).
    pub async fn remove_with(
        &self,
        path: &str,
        recursive: bool,
        delete_mount_point: bool,
    ) -> Result<(), ClientError> {
        let message = DeletePRequest {
            path: Some(path.into()),
            options: Some(DeletePOptions {
                recursive: Some(recursive),
                delete_mount_point: Some(delete_mount_point),
                common_options: self.new_operation(),
                ..Default::default()
            }),
        };
        self.call("remove", |channel| {
            let request = self.request(message.clone());
            async move { fs_client(channel).remove(request).await }
        })
        .await
        .map(|_| ())
    }

    /// Mounts the under-file-system `ufs` at `path` (a new folder) with `options`.
    pub async fn mount(
        &self,
        path: &str,
        ufs: &str,
        options: MountPOptions,
    ) -> Result<(), ClientError> {
        let message = MountPRequest {
            alluxio_path: Some(path.into()),
            ufs_path: Some(ufs.into()),
            options: Some(MountPOptions { common_options: self.new_operation(), ..options }),
        };
        self.call("mount", |channel| {
            let request = self.request(message.clone());
            async move { fs_client(channel).mount(request).await }
        })
        .await
        .map(|_| ())
    }

    /// Removes the mount at `path` and the folder it made (the UFS keeps its files).
    pub async fn unmount(&self, path: &str) -> Result<(), ClientError> {
        let message = UnmountPRequest {
            alluxio_path: Some(path.into()),
            options: Some(UnmountPOptions { common_options: self.new_operation() }),
        };
        self.call("unmount", |channel| {
            let request = self.request(message.clone());
            async move { fs_client(channel).unmount(request).await }
        })
        .await
        .map(|_| ())
    }

    /// Every mount point with its under-file-system, by path.
    pub async fn mount_table(
        &self,
    ) -> Result<std::collections::HashMap<String, MountPointInfo>, ClientError> {
        self.call("get mount table", |channel| {
            let request = self.request(GetMountTablePRequest { check_ufs: Some(true) });
            async move { fs_client(channel).get_mount_table(request).await }
        })
        .await
        .map(|answer| answer.into_inner().mount_points)
    }

    /// Moves `src` to `dst` (which must not exist).
    pub async fn rename(&self, src: &str, dst: &str) -> Result<(), ClientError> {
        let message = RenamePRequest {
            path: Some(src.into()),
            dst_path: Some(dst.into()),
            options: Some(RenamePOptions { common_options: self.new_operation(), persist: None }),
        };
        self.call("rename", |channel| {
            let request = self.request(message.clone());
            async move { fs_client(channel).rename(request).await }
        })
        .await
        .map(|_| ())
    }

    /// Changes mode, owner and/or group.
    pub async fn set_attribute(
        &self,
        path: &str,
        mode: Option<u32>,
        owner: Option<String>,
        group: Option<String>,
        recursive: bool,
    ) -> Result<(), ClientError> {
        let message = SetAttributePRequest {
            path: Some(path.into()),
            options: Some(SetAttributePOptions {
                mode: mode.map(pmode_from_mode),
                owner,
                group,
                recursive: Some(recursive),
                common_options: self.new_operation(),
                ..Default::default()
            }),
        };
        self.call("set attribute", |channel| {
            let request = self.request(message.clone());
            async move { fs_client(channel).set_attribute(request).await }
        })
        .await
        .map(|_| ())
    }

    /// Drops the blocks of `path` (every file below it with `recursive`) from the workers; the
    /// files stay listed.
    pub async fn free(&self, path: &str, recursive: bool) -> Result<(), ClientError> {
        let message = FreePRequest {
            path: Some(path.into()),
            options: Some(FreePOptions { recursive: Some(recursive), ..Default::default() }),
        };
        self.call("free", |channel| {
            let request = self.request(message.clone());
            async move { fs_client(channel).free(request).await }
        })
        .await
        .map(|_| ())
    }

    /// Schedules a complete file to be written to its under-file-system (Alluxio's
    /// `ScheduleAsyncPersistence`); a persisted file is left as it is.
    pub async fn schedule_persist(&self, path: &str) -> Result<(), ClientError> {
        let message = ScheduleAsyncPersistencePRequest {
            path: Some(path.into()),
            options: Some(ScheduleAsyncPersistencePOptions {
                common_options: self.new_operation(),
                persistence_wait_time: Some(0),
            }),
        };
        self.call("schedule persistence", |channel| {
            let request = self.request(message.clone());
            async move { fs_client(channel).schedule_async_persistence(request).await }
        })
        .await
        .map(|_| ())
    }

    /// A new block for an incomplete file (appended to its block list).
    pub async fn new_block_id(&self, path: &str) -> Result<u64, ClientError> {
        let message = GetNewBlockIdForFilePRequest {
            path: Some(path.into()),
            options: Some(GetNewBlockIdForFilePOptions { common_options: self.new_operation() }),
        };
        let response = self
            .call("new block id", |channel| {
                let request = self.request(message.clone());
                async move { fs_client(channel).get_new_block_id_for_file(request).await }
            })
            .await?;
        Ok(response.into_inner().id.unwrap_or_default() as u64)
    }

    /// The workers registered with the leader.
    pub async fn worker_infos(&self) -> Result<Vec<WorkerInfo>, ClientError> {
        let response = self
            .call("worker list", |channel| async move {
                BlockMasterClient::new(channel)
                    .get_worker_info_list(GetWorkerInfoListPOptions {})
                    .await
            })
            .await?;
        Ok(response.into_inner().worker_infos)
    }

    /// A block's length and the workers caching it.
    pub async fn block_info(&self, block: u64) -> Result<BlockInfo, ClientError> {
        let message = GetBlockInfoPRequest { block_id: Some(block as i64), options: None };
        let response = self
            .call("block info", |channel| async move {
                BlockMasterClient::new(channel).get_block_info(message).await
            })
            .await?;
        Ok(response.into_inner().block_info.unwrap_or_default())
    }

    /// The leader's master info.
    pub async fn master_info(&self) -> Result<MasterInfo, ClientError> {
        let response = self
            .call("master info", |channel| async move {
                MetaMasterClientServiceClient::new(channel)
                    .get_master_info(GetMasterInfoPOptions { filter: vec![] })
                    .await
            })
            .await?;
        Ok(response.into_inner().master_info.unwrap_or_default())
    }

    /// Asks the leader to write a checkpoint now; returns the slot it covers.
    pub async fn checkpoint(&self) -> Result<u64, ClientError> {
        let response = self
            .call("checkpoint", |channel| async move {
                LodeMasterServiceClient::new(channel).checkpoint(CheckpointRequest {}).await
            })
            .await?;
        Ok(response.into_inner().slot)
    }

    /// Lode's status of the master at `address` (any role), without retries.
    pub async fn master_status(address: &str) -> Result<MasterStatus, String> {
        let channel = LeaderFinder::connect(address).await?;
        LodeMasterServiceClient::new(channel)
            .get_master_status(GetMasterStatusRequest {})
            .await
            .map(|r| r.into_inner())
            .map_err(|status| format!("{address}: {}", status.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(pairs: &[(&str, &str)]) -> Result<StreamingChunks, ClientError> {
        let config = Config::from_pairs(pairs.iter().copied()).expect("a valid configuration");
        MasterClient::from_config(&config).map(|client| client.streaming_chunks())
    }

    /// Streaming chunk sizes come from Alluxio's keys, with Lode's defaults when unset.
    #[test]
    fn streaming_chunks_follow_the_configuration() {
        assert_eq!(chunks(&[]).unwrap(), StreamingChunks { read: 1 << 20, write: 256 << 10 });
        let set = chunks(&[
            (name::USER_STREAMING_READER_CHUNK_SIZE_BYTES, "64KB"),
            (name::USER_STREAMING_WRITER_CHUNK_SIZE_BYTES, "8MB"),
        ]);
        assert_eq!(set.unwrap(), StreamingChunks { read: 64 << 10, write: 8 << 20 });
    }

    /// A chunk of no bytes or of more than a worker sends in one message is refused, naming
    /// the key, the value and where it came from.
    #[test]
    fn an_impossible_streaming_chunk_is_refused() {
        for (key, value) in [
            (name::USER_STREAMING_READER_CHUNK_SIZE_BYTES, "0"),
            (name::USER_STREAMING_WRITER_CHUNK_SIZE_BYTES, "9MB"),
        ] {
            let error = chunks(&[(key, value)]).unwrap_err().to_string();
            for part in [key, value, "command line", "from 1B to 8MB"] {
                assert!(error.contains(part), "{error:?} lacks {part:?}");
            }
        }
    }
}
