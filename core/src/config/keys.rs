//! The one table of property keys: name, type, default, description, the processes that read
//! it, and the environment variable that sets it. It drives defaults, validation, `lode conf`
//! and the generated property reference (`docs/properties.md`).
//!
//! Keys and defaults are Alluxio 2.9's unless marked [`Origin::Lode`] (Lode's own additions) or
//! noted in the description as a deliberate difference.

use super::value::ValueType;

/// Which processes read a key (Alluxio's `Scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Masters only.
    Master,
    /// Workers only.
    Worker,
    /// Clients and the shell only.
    Client,
    /// Masters and workers.
    Server,
    /// Every process.
    All,
}

impl Scope {
    /// Whether a process of kind `process` reads keys of this scope.
    pub fn includes(self, process: Process) -> bool {
        matches!(
            (self, process),
            (Scope::All, _)
                | (Scope::Master, Process::Master)
                | (Scope::Worker, Process::Worker)
                | (Scope::Client, Process::Client)
                | (Scope::Server, Process::Master | Process::Worker)
        )
    }

    /// The name used in docs.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Master => "master",
            Scope::Worker => "worker",
            Scope::Client => "client",
            Scope::Server => "master, worker",
            Scope::All => "all",
        }
    }
}

/// The kind of process loading configuration; it decides which `*_JAVA_OPTS` variable applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// `lode-master`.
    Master,
    /// `lode-worker`.
    Worker,
    /// The `lode` shell and client library.
    Client,
}

impl Process {
    /// The process-specific Java options variable, read after `ALLUXIO_JAVA_OPTS`.
    pub fn java_opts_variable(self) -> &'static str {
        match self {
            Process::Master => "ALLUXIO_MASTER_JAVA_OPTS",
            Process::Worker => "ALLUXIO_WORKER_JAVA_OPTS",
            Process::Client => "ALLUXIO_USER_JAVA_OPTS",
        }
    }
}

/// Where a key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An Alluxio 2.9 property, same name and meaning.
    Alluxio,
    /// A Lode addition (election and journal details Alluxio does not have).
    Lode,
}

/// A key's built-in default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// No default: the key is unset unless configured.
    None,
    /// A literal, which may refer to other keys as `${alluxio.some.key}`.
    Literal(&'static str),
    /// This host's name, as the OS reports it.
    ThisHostName,
}

/// One property key.
#[derive(Debug, Clone, Copy)]
pub struct PropertyKey {
    /// Full name, e.g. `alluxio.zookeeper.enabled`.
    pub name: &'static str,
    /// How values are parsed.
    pub value_type: ValueType,
    /// The built-in default.
    pub default: DefaultValue,
    /// Which processes read it.
    pub scope: Scope,
    /// An environment variable (also read from `alluxio-env.sh`) that sets it.
    pub env: Option<&'static str>,
    /// Alluxio's or Lode's.
    pub origin: Origin,
    /// What it does, for docs and `lode conf`.
    pub description: &'static str,
}

/// Names of the keys that code reads, so a typo is a compile error rather than a missing value.
pub mod name {
    #![allow(missing_docs)]
    pub const HOME: &str = "alluxio.home";
    pub const CONF_DIR: &str = "alluxio.conf.dir";
    pub const WORK_DIR: &str = "alluxio.work.dir";
    pub const LOGS_DIR: &str = "alluxio.logs.dir";
    pub const ZOOKEEPER_ENABLED: &str = "alluxio.zookeeper.enabled";
    pub const ZOOKEEPER_ADDRESS: &str = "alluxio.zookeeper.address";
    pub const ZOOKEEPER_ELECTION_PATH: &str = "alluxio.zookeeper.election.path";
    pub const ZOOKEEPER_LEADER_PATH: &str = "alluxio.zookeeper.leader.path";
    pub const ZOOKEEPER_SESSION_TIMEOUT: &str = "alluxio.zookeeper.session.timeout";
    pub const ZOOKEEPER_CONNECTION_TIMEOUT: &str = "alluxio.zookeeper.connection.timeout";
    pub const ZOOKEEPER_LEADER_INQUIRY_RETRY: &str = "alluxio.zookeeper.leader.inquiry.retry";
    pub const ZOOKEEPER_AUTH_ENABLED: &str = "alluxio.zookeeper.auth.enabled";
    pub const ZOOKEEPER_AUTH_DIGEST: &str = "alluxio.zookeeper.auth.digest";
    pub const ZOOKEEPER_LEADER_CONNECTION_ERROR_POLICY: &str =
        "alluxio.zookeeper.leader.connection.error.policy";
    pub const MASTER_HOSTNAME: &str = "alluxio.master.hostname";
    pub const MASTER_BIND_HOST: &str = "alluxio.master.bind.host";
    pub const MASTER_WEB_BIND_HOST: &str = "alluxio.master.web.bind.host";
    pub const MASTER_RPC_PORT: &str = "alluxio.master.rpc.port";
    pub const MASTER_WEB_PORT: &str = "alluxio.master.web.port";
    pub const MASTER_RPC_ADDRESSES: &str = "alluxio.master.rpc.addresses";
    pub const MASTER_WORKER_TIMEOUT: &str = "alluxio.master.worker.timeout";
    pub const MASTER_WORKER_CONNECT_WAIT_TIME: &str = "alluxio.master.worker.connect.wait.time";
    pub const MASTER_JOURNAL_TYPE: &str = "alluxio.master.journal.type";
    pub const MASTER_JOURNAL_FOLDER: &str = "alluxio.master.journal.folder";
    pub const MASTER_JOURNAL_LOG_SIZE_BYTES_MAX: &str = "alluxio.master.journal.log.size.bytes.max";
    pub const MASTER_JOURNAL_FLUSH_BATCH_ENTRIES: &str =
        "alluxio.master.journal.flush.batch.entries";
    pub const MASTER_JOURNAL_FLUSH_TIMEOUT: &str = "alluxio.master.journal.flush.timeout";
    pub const MASTER_JOURNAL_FLUSH_RETRY_INTERVAL: &str =
        "alluxio.master.journal.flush.retry.interval";
    pub const MASTER_JOURNAL_TAILER_SLEEP_TIME: &str = "alluxio.master.journal.tailer.sleep.time";
    pub const MASTER_JOURNAL_CHECKPOINT_PERIOD_ENTRIES: &str =
        "alluxio.master.journal.checkpoint.period.entries";
    pub const MASTER_JOURNAL_CHECKPOINT_PERIOD_BYTES: &str =
        "alluxio.master.journal.checkpoint.period.bytes";
    pub const MASTER_JOURNAL_LOG_FOLDER_SLOTS: &str = "alluxio.master.journal.log.folder.slots";
    pub const MASTER_FILE_BLOCKS_MAX: &str = "alluxio.master.file.blocks.max";
    pub const MASTER_NETWORK_MAX_CONNECTIONS: &str = "alluxio.master.network.max.connections";
    pub const MASTER_NETWORK_MAX_CONCURRENT_STREAMS: &str =
        "alluxio.master.network.max.concurrent.streams";
    pub const WORKER_NETWORK_MAX_CONCURRENT_STREAMS: &str =
        "alluxio.worker.network.max.concurrent.streams";
    pub const NETWORK_CONNECTION_SERVER_SHUTDOWN_TIMEOUT: &str =
        "alluxio.network.connection.server.shutdown.timeout";
    pub const WORKER_NETWORK_MAX_CONNECTIONS: &str = "alluxio.worker.network.max.connections";
    pub const MASTER_JOURNAL_TEMPORARY_FILE_GC_THRESHOLD: &str =
        "alluxio.master.journal.temporary.file.gc.threshold";
    pub const MASTER_JOURNAL_EXIT_ON_DEMOTION: &str = "alluxio.master.journal.exit.on.demotion";
    pub const MASTER_JOURNAL_DEDUP_CAPACITY: &str = "alluxio.master.journal.dedup.capacity";
    pub const MASTER_JOURNAL_REQUEST_TIMEOUT: &str = "alluxio.master.journal.request.timeout";
    pub const MASTER_ELECTION_TYPE: &str = "alluxio.master.election.type";
    pub const MASTER_ELECTION_EMBEDDED_DIR: &str = "alluxio.master.election.embedded.dir";
    pub const MASTER_ELECTION_LEASE_TIMEOUT: &str = "alluxio.master.election.lease.timeout";
    pub const WORKER_BIND_HOST: &str = "alluxio.worker.bind.host";
    pub const WORKER_WEB_BIND_HOST: &str = "alluxio.worker.web.bind.host";
    pub const WORKER_HOSTNAME: &str = "alluxio.worker.hostname";
    pub const WORKER_RAMDISK_SIZE: &str = "alluxio.worker.ramdisk.size";
    pub const WORKER_TIEREDSTORE_LEVEL0_DIRS_PATH: &str =
        "alluxio.worker.tieredstore.level0.dirs.path";
    pub const WORKER_TIEREDSTORE_LEVEL1_ALIAS: &str = "alluxio.worker.tieredstore.level1.alias";
    pub const WORKER_TIEREDSTORE_LEVEL1_DIRS_PATH: &str =
        "alluxio.worker.tieredstore.level1.dirs.path";
    pub const WORKER_TIEREDSTORE_LEVEL1_DIRS_QUOTA: &str =
        "alluxio.worker.tieredstore.level1.dirs.quota";
    pub const WORKER_TIEREDSTORE_LEVELS: &str = "alluxio.worker.tieredstore.levels";
    pub const WORKER_RPC_PORT: &str = "alluxio.worker.rpc.port";
    pub const WORKER_WEB_PORT: &str = "alluxio.worker.web.port";
    pub const WORKER_BLOCK_HEARTBEAT_INTERVAL: &str = "alluxio.worker.block.heartbeat.interval";
    pub const USER_BLOCK_SIZE_BYTES_DEFAULT: &str = "alluxio.user.block.size.bytes.default";
    pub const USER_FILE_WRITETYPE_DEFAULT: &str = "alluxio.user.file.writetype.default";
    pub const USER_FILE_METADATA_LOAD_TYPE: &str = "alluxio.user.file.metadata.load.type";
    pub const USER_FILE_READTYPE_DEFAULT: &str = "alluxio.user.file.readtype.default";
    pub const USER_FILE_METADATA_SYNC_INTERVAL: &str = "alluxio.user.file.metadata.sync.interval";
    pub const USER_FILE_PERSISTENCE_INITIAL_WAIT_TIME: &str =
        "alluxio.user.file.persistence.initial.wait.time";
    pub const USER_RPC_RETRY_MAX_DURATION: &str = "alluxio.user.rpc.retry.max.duration";
    pub const USER_RPC_RETRY_BASE_SLEEP: &str = "alluxio.user.rpc.retry.base.sleep";
    pub const USER_RPC_RETRY_MAX_SLEEP: &str = "alluxio.user.rpc.retry.max.sleep";
    pub const USER_SHORT_CIRCUIT_ENABLED: &str = "alluxio.user.short.circuit.enabled";
    pub const USER_STREAMING_READER_CHUNK_SIZE_BYTES: &str =
        "alluxio.user.streaming.reader.chunk.size.bytes";
    pub const USER_STREAMING_WRITER_CHUNK_SIZE_BYTES: &str =
        "alluxio.user.streaming.writer.chunk.size.bytes";
    pub const SECURITY_AUTHENTICATION_TYPE: &str = "alluxio.security.authentication.type";
    pub const SECURITY_LOGIN_USERNAME: &str = "alluxio.security.login.username";
    pub const UNDERFS_ADDRESS: &str = "alluxio.underfs.address";
    pub const UNDERFS_REQUEST_TIMEOUT: &str = "alluxio.underfs.request.timeout";
    pub const UNDERFS_HDFS_CONFIGURATION: &str = "alluxio.underfs.hdfs.configuration";
    pub const MASTER_MOUNT_TABLE_ROOT_UFS: &str = "alluxio.master.mount.table.root.ufs";
    pub const MASTER_PERSISTENCE_INITIAL_INTERVAL: &str =
        "alluxio.master.persistence.initial.interval";
    pub const MASTER_PERSISTENCE_MAX_INTERVAL: &str = "alluxio.master.persistence.max.interval";
    pub const MASTER_PERSISTENCE_MAX_TOTAL_WAIT_TIME: &str =
        "alluxio.master.persistence.max.total.wait.time";
    pub const MASTER_MOUNT_TABLE_ROOT_READONLY: &str = "alluxio.master.mount.table.root.readonly";
    pub const MASTER_MOUNT_TABLE_ROOT_SHARED: &str = "alluxio.master.mount.table.root.shared";
    /// A prefix: `alluxio.master.mount.table.root.option.<ufs property>=<value>`.
    pub const MASTER_MOUNT_TABLE_ROOT_OPTION: &str = "alluxio.master.mount.table.root.option.";
    pub const UNDERFS_VERSION: &str = "alluxio.underfs.version";
    pub const GLUSTERFS_MOUNT_CHECK: &str = "alluxio.glusterfs.mount.check";
    pub const ETCD_ENDPOINTS: &str = "alluxio.etcd.endpoints";
    pub const ETCD_ELECTION_PREFIX: &str = "alluxio.etcd.election.prefix";
    pub const ETCD_LEASE_TTL: &str = "alluxio.etcd.lease.ttl";
    pub const ETCD_REQUEST_TIMEOUT: &str = "alluxio.etcd.request.timeout";
    pub const UNDERFS_S3_ENDPOINT: &str = "alluxio.underfs.s3.endpoint";
    pub const UNDERFS_S3_REGION: &str = "alluxio.underfs.s3.region";
    pub const UNDERFS_S3_DISABLE_DNS_BUCKETS: &str = "alluxio.underfs.s3.disable.dns.buckets";
    pub const S3A_ACCESS_KEY_ID: &str = "s3a.accessKeyId";
    pub const S3A_SECRET_KEY: &str = "s3a.secretKey";
    pub const AWS_ACCESS_KEY_ID: &str = "aws.accessKeyId";
    pub const AWS_SECRET_KEY: &str = "aws.secretKey";
}

use DefaultValue::{Literal, ThisHostName};
use Origin::{Alluxio, Lode};
use ValueType as T;

const fn key(
    name: &'static str,
    value_type: ValueType,
    default: DefaultValue,
    scope: Scope,
    origin: Origin,
    description: &'static str,
) -> PropertyKey {
    PropertyKey { name, value_type, default, scope, env: None, origin, description }
}

const fn with_env(mut key: PropertyKey, env: &'static str) -> PropertyKey {
    key.env = Some(env);
    key
}

/// Every property Lode knows, sorted by name.
#[rustfmt::skip]
pub static KEYS: &[PropertyKey] = &[
    with_env(key(name::CONF_DIR, T::String, Literal("${alluxio.home}/conf"), Scope::All, Alluxio,
        "The directory holding alluxio-site.properties and alluxio-env.sh. Only the command \
         line (-Dalluxio.conf.dir=...) and ALLUXIO_CONF_DIR can set it, since it locates the files."),
        "ALLUXIO_CONF_DIR"),
    key(name::ETCD_ELECTION_PREFIX, T::String, Literal("/alluxio/election"), Scope::All, Lode,
        "For the etcd elector: the election's name. Each master campaigns with a key under \
         <prefix>/ holding its host:port; the oldest key leads."),
    key(name::ETCD_ENDPOINTS, T::String, DefaultValue::None, Scope::All, Lode,
        "For the etcd elector (alluxio.master.election.type=etcd): the etcd cluster's client \
         endpoints, comma-separated, each host:port or http://host:port. Requests fail over \
         between them."),
    key(name::ETCD_LEASE_TTL, T::Duration, Literal("10s"), Scope::Master, Lode,
        "For the etcd elector: the TTL of each master's lease, in whole seconds. A leader killed \
         without a goodbye is replaced after about this long; the leader's own lease is half \
         of it, renewed every third of it."),
    key(name::ETCD_REQUEST_TIMEOUT, T::Duration, Literal("5s"), Scope::All, Lode,
        "For the etcd elector: how long one request to etcd (connecting included) may take \
         before it counts as failed and is tried again, possibly on another endpoint."),
    key(name::GLUSTERFS_MOUNT_CHECK, T::Bool, Literal("true"), Scope::Master, Lode,
        "For a glusterfs:// journal folder: refuse to start unless the folder is on a mounted \
         GlusterFS volume (fuse.glusterfs in /proc/self/mountinfo), so that a missing mount \
         cannot put the journal on a local disk."),
    with_env(key(name::HOME, T::String, Literal("/opt/alluxio"), Scope::All, Alluxio,
        "Alluxio's installation directory; other defaults derive from it."), "ALLUXIO_HOME"),
    with_env(key(name::LOGS_DIR, T::String, Literal("${alluxio.work.dir}/logs"), Scope::All, Alluxio,
        "The directory for log files."), "ALLUXIO_LOGS_DIR"),
    key(name::MASTER_BIND_HOST, T::String, Literal("0.0.0.0"), Scope::Master, Alluxio,
        "The address the master's RPC server binds to."),
    key(name::MASTER_ELECTION_EMBEDDED_DIR, T::String, Literal("${alluxio.work.dir}/election"),
        Scope::Master, Lode,
        "For the embedded elector: the local directory where masters on one host hold the \
         leader lock and lease. Every master on the host must name the same directory."),
    key(name::MASTER_ELECTION_LEASE_TIMEOUT, T::Duration, Literal("3s"), Scope::Master, Lode,
        "For the embedded elector: how long a leader that stops renewing (hung, paused) keeps \
         its lease before a standby may take over. A dead leader is replaced at once."),
    key(name::MASTER_ELECTION_TYPE, T::String, Literal("embedded"), Scope::All, Lode,
        "The leader elector when alluxio.zookeeper.enabled is false: a registered elector name \
         (`embedded` for masters on one host)."),
    key(name::MASTER_FILE_BLOCKS_MAX, T::Int, Literal("100000"), Scope::Master, Lode,
        "The most blocks one file may have (like HDFS's dfs.namenode.fs-limits.max-blocks-per-\
         file): a new block beyond it is refused, naming this key. Every block id is in the \
         file's status and every listing entry, and GetStatus adds each block's locations, so \
         this bounds those answers (100000 blocks: about 1 MB of ids, 6.4 TB at 64 MB blocks)."),
    with_env(key(name::MASTER_HOSTNAME, T::String, ThisHostName, Scope::All, Alluxio,
        "The externally visible host name of the master: what it advertises to workers and \
         clients. Defaults to this host's name."), "ALLUXIO_MASTER_HOSTNAME"),
    key(name::MASTER_JOURNAL_CHECKPOINT_PERIOD_BYTES, T::Size, Literal("1GB"), Scope::Master,
        Lode,
        "The bytes of journal entries after which a caught-up standby writes a checkpoint, \
         however few entries they are: bounds how much a new master replays."),
    key(name::MASTER_JOURNAL_CHECKPOINT_PERIOD_ENTRIES, T::Int, Literal("2000000"),
        Scope::Master, Alluxio,
        "The number of journal entries after which a caught-up standby writes a checkpoint."),
    key(name::MASTER_JOURNAL_DEDUP_CAPACITY, T::Int, Literal("100000"), Scope::Master, Lode,
        "How many recent mutating calls the master remembers by operation id, so that a client \
         retrying after a failover gets the first attempt's answer."),
    key(name::MASTER_JOURNAL_EXIT_ON_DEMOTION, T::Bool, Literal("false"), Scope::Master, Alluxio,
        "Whether a leader that loses leadership exits instead of becoming a standby again."),
    key(name::MASTER_JOURNAL_FLUSH_BATCH_ENTRIES, T::Int, Literal("8192"), Scope::Master, Lode,
        "The most entries one journal batch (one slot object) holds. Batches also stop at \
         alluxio.master.journal.log.size.bytes.max."),
    key(name::MASTER_JOURNAL_FLUSH_RETRY_INTERVAL, T::Duration, Literal("1sec"), Scope::Master,
        Alluxio, "The longest sleep between retries of a failed journal write: retries back off from \
         10ms, doubling up to this."),
    key(name::MASTER_JOURNAL_FLUSH_TIMEOUT, T::Duration, Literal("5min"), Scope::Master, Alluxio,
        "How long to keep retrying a journal write, and the longest one journal store call may \
         take (a hung disk or brick), before the leader gives its leadership up."),
    key(name::MASTER_JOURNAL_FOLDER, T::String, Literal("${alluxio.work.dir}/journal"),
        Scope::Master, Alluxio,
        "Where the shared journal lives. Its scheme picks the journal store: a plain path or \
         file:// (local), hdfs://, s3://, glusterfs://."),
    key(name::MASTER_JOURNAL_LOG_FOLDER_SLOTS, T::Int, Literal("100000"), Scope::Master, Lode,
        "How many consecutive journal slots share one folder of log/ in a journal formatted \
         from now on (its FORMAT object keeps the number; changing this later has no effect \
         on it). Keeps every folder below a store's limit: HDFS refuses more than \
         dfs.namenode.fs-limits.max-directory-items (1048576) items in a folder."),
    key(name::MASTER_JOURNAL_LOG_SIZE_BYTES_MAX, T::Size, Literal("10MB"), Scope::Master,
        Alluxio, "The largest journal object Lode writes (a batch of entries in one slot)."),
    key(name::MASTER_JOURNAL_REQUEST_TIMEOUT, T::Duration, Literal("10s"), Scope::Master, Lode,
        "How long one request to a remote journal store (HDFS, S3) may take before it is \
         abandoned and retried: a DataNode that dies mid-write would otherwise stall the \
         leader for the client's own socket timeout."),
    key(name::MASTER_JOURNAL_TAILER_SLEEP_TIME, T::Duration, DefaultValue::None, Scope::Master,
        Alluxio,
        "How long a standby sleeps when it finds no new journal slot. Unset (Lode's default), \
         each journal store suggests its own: 2ms for a local disk, longer for object stores. \
         Alluxio's default of 1sec would make standbys lag by up to a second."),
    key(name::MASTER_JOURNAL_TEMPORARY_FILE_GC_THRESHOLD, T::Duration, Literal("30min"),
        Scope::Master, Alluxio,
        "Temporary journal files older than this are leftovers of a crashed writer and are \
         removed."),
    key(name::MASTER_JOURNAL_TYPE, T::Enum(&["UFS"]), Literal("UFS"), Scope::Master, Alluxio,
        "The journal type. Lode keeps a shared journal on an under file system, so only UFS is \
         accepted (Alluxio 2.9 defaults to EMBEDDED, its Raft journal, which Lode does not have)."),
    key(name::MASTER_MOUNT_TABLE_ROOT_READONLY, T::Bool, Literal("false"), Scope::Master, Alluxio,
        "Whether the root mount's under-file-system is read-only: nothing under / is written \
         to it."),
    key(name::MASTER_MOUNT_TABLE_ROOT_SHARED, T::Bool, Literal("true"), Scope::Master, Alluxio,
        "Whether the root mount's under-file-system is shared with every user."),
    key(name::MASTER_MOUNT_TABLE_ROOT_UFS, T::String, DefaultValue::None, Scope::Master, Alluxio,
        "The under-file-system mounted at / (a folder, hdfs://, s3://): where persisted files \
         live. Unset, alluxio.underfs.address; both unset, there is none and files live only in \
         worker caches (Alluxio's default is a folder under its work directory, which would \
         differ between masters). Options for it: alluxio.master.mount.table.root.option.<key>."),
    key(name::MASTER_NETWORK_MAX_CONCURRENT_STREAMS, T::Int, Literal("1024"), Scope::Master, Lode,
        "The most calls one client connection may have in flight on a master at once (HTTP/2's \
         SETTINGS_MAX_CONCURRENT_STREAMS): clients queue the rest, and a stream a client opens \
         past it is refused, so one connection cannot start calls without bound."),
    key(name::MASTER_NETWORK_MAX_CONNECTIONS, T::Int, DefaultValue::None, Scope::Master, Lode,
        "The most client connections a master keeps open at once (unset: half its open-file \
         limit). One more is closed at once and logged, so clients can never take the file \
         descriptors the journal needs."),
    key(name::MASTER_PERSISTENCE_INITIAL_INTERVAL, T::Duration, Literal("1sec"), Scope::Master,
        Alluxio,
        "How long the leader waits before trying again to persist a file whose first attempt \
         failed; each further failure doubles the wait, up to \
         alluxio.master.persistence.max.interval."),
    key(name::MASTER_PERSISTENCE_MAX_INTERVAL, T::Duration, Literal("1hr"), Scope::Master, Alluxio,
        "The longest wait between two attempts to persist a file."),
    key(name::MASTER_PERSISTENCE_MAX_TOTAL_WAIT_TIME, T::Duration, Literal("1day"), Scope::Master,
        Alluxio,
        "How long the leader keeps trying to persist a file before it gives up: the file goes \
         back to NOT_PERSISTED (its data stays in worker caches, which never drop it) and the \
         leader logs why. `lode fs persist` schedules it again."),
    key(name::MASTER_RPC_ADDRESSES, T::HostPorts, DefaultValue::None, Scope::All, Alluxio,
        "Without an election service: the host:port of every master. Clients and workers try \
         them and follow a standby's answer naming the leader."),
    key(name::MASTER_RPC_PORT, T::Port, Literal("19998"), Scope::All, Alluxio,
        "The port of the master's RPC service."),
    key(name::MASTER_WEB_BIND_HOST, T::String, Literal("${alluxio.master.bind.host}"),
        Scope::Master, Alluxio,
        "The address the master's web UI binds to. Lode's default follows \
         alluxio.master.bind.host (Alluxio's is 0.0.0.0)."),
    key(name::MASTER_WEB_PORT, T::Port, Literal("19999"), Scope::Master, Alluxio,
        "The port of the master's web UI, /metrics, /healthz and /readyz (0 picks a free one; \
         `lode fs masterInfo` and the status RPC report it)."),
    key(name::MASTER_WORKER_CONNECT_WAIT_TIME, T::Duration, Literal("5sec"), Scope::Master,
        Alluxio,
        "How long a new leader waits, from its takeover, for some worker to register before \
         answering a worker list with none (a stock client fails a write when it finds no worker \
         rather than retrying). 0 answers at once."),
    key(name::MASTER_WORKER_TIMEOUT, T::Duration, Literal("5min"), Scope::Master, Alluxio,
        "How long a worker may go without a heartbeat before the master forgets it."),
    key(name::NETWORK_CONNECTION_SERVER_SHUTDOWN_TIMEOUT, T::Duration, Literal("60sec"),
        Scope::Server, Alluxio,
        "How long a stopping master or worker waits for its open client connections to finish \
         before it stops without them (a client that never closes cannot hold a stop up)."),
    key(name::SECURITY_AUTHENTICATION_TYPE, T::Enum(&["NOSASL", "SIMPLE", "CUSTOM"]),
        Literal("SIMPLE"), Scope::All, Alluxio, "The authentication mode of RPC connections."),
    key(name::SECURITY_LOGIN_USERNAME, T::String, DefaultValue::None, Scope::Client, Alluxio,
        "The user name a client acts as; the OS user when unset."),
    with_env(key(name::UNDERFS_ADDRESS, T::String, DefaultValue::None, Scope::Master, Alluxio,
        "The root under-file-system, when alluxio.master.mount.table.root.ufs is unset."),
        "ALLUXIO_UNDERFS_ADDRESS"),
    key(name::UNDERFS_HDFS_CONFIGURATION, T::String,
        Literal("${alluxio.conf.dir}/core-site.xml:${alluxio.conf.dir}/hdfs-site.xml"),
        Scope::Master, Alluxio,
        "The Hadoop configuration files (`:`-separated) an hdfs:// journal folder is read with: \
         where an HA nameservice's NameNodes are listed. Files the default names may be absent; \
         a file named explicitly must exist."),
    key(name::UNDERFS_REQUEST_TIMEOUT, T::Duration, Literal("30sec"), Scope::Server, Lode,
        "How long one request to an under-file-system may take (a listing, a rename, each \
         chunk of a read or write) before it fails: a stalled or unreachable UFS is an error \
         naming it, never a hang. Also a mount option."),
    key(name::UNDERFS_S3_DISABLE_DNS_BUCKETS, T::Bool, Literal("false"), Scope::Master, Alluxio,
        "For an s3:// journal folder: send path-style requests (endpoint/bucket/key), as most \
         S3-compatible servers want, instead of virtual-host style (bucket.endpoint/key)."),
    key(name::UNDERFS_S3_ENDPOINT, T::String, DefaultValue::None, Scope::Master, Alluxio,
        "For an s3:// journal folder: the S3 service's URL (http://host:port for an \
         S3-compatible server); AWS's endpoint for the region when unset."),
    key(name::UNDERFS_S3_REGION, T::String, Literal("us-east-1"), Scope::Master, Alluxio,
        "For an s3:// journal folder: the region requests are signed for."),
    key(name::UNDERFS_VERSION, T::String, Literal("3.3.4"), Scope::All, Alluxio,
        "The Hadoop version of the under file system. Lode does not use it; masters report it \
         to stock Alluxio clients, which expect it among the cluster defaults."),
    key(name::USER_BLOCK_SIZE_BYTES_DEFAULT, T::Size, Literal("64MB"), Scope::Client, Alluxio,
        "The block size of files a client creates."),
    key(name::USER_FILE_METADATA_LOAD_TYPE, T::Enum(&["NEVER", "ONCE", "ALWAYS"]),
        Literal("ONCE"), Scope::All, Alluxio,
        "Whether a path Lode does not know is looked up in its under-file-system (and a folder \
         listed there) when a client asks for it: NEVER; ONCE, unless the folder it would be in \
         was listed whole before (a folder is listed once); ALWAYS, every time (a listed folder \
         is listed again for new entries). Clients send it with each call; masters use theirs \
         for calls that do not say."),
    key(name::USER_FILE_METADATA_SYNC_INTERVAL, T::String, Literal("-1"), Scope::All, Alluxio,
        "How stale what Lode knows of a path's under-file-system may be when a client asks for \
         it: -1 never syncs; 0 syncs every call; a duration (5min) syncs a path whose last sync \
         is older. A sync loads what the UFS has and Lode does not, removes what Lode had from \
         the UFS and the UFS no longer has, and loads again (as a new file, so no cached block \
         of the old content is read) what changed there; what only Lode holds is never touched. \
         Clients send it with each call; masters use theirs for calls that do not say."),
    key(name::USER_FILE_PERSISTENCE_INITIAL_WAIT_TIME, T::Duration, Literal("0"), Scope::Client,
        Alluxio,
        "How long after an ASYNC_THROUGH file is completed its persistence may start (sent with \
         the completion; the leader journals it, so it holds across a failover)."),
    key(name::USER_FILE_READTYPE_DEFAULT, T::Enum(&["NO_CACHE", "CACHE", "CACHE_PROMOTE"]),
        Literal("CACHE"), Scope::Client, Alluxio,
        "How Lode's client reads a block no worker holds, of a file persisted in its \
         under-file-system: CACHE, a worker reads it from the UFS and keeps it (on the client's \
         host, cached first and read in place); NO_CACHE, a worker streams it from the UFS and \
         keeps nothing. CACHE_PROMOTE reads as CACHE: Lode's workers write every block to their \
         top tier and never move a block back up when it is read."),
    key(name::USER_FILE_WRITETYPE_DEFAULT,
        T::Enum(&["MUST_CACHE", "CACHE_THROUGH", "THROUGH", "ASYNC_THROUGH"]),
        Literal("ASYNC_THROUGH"), Scope::Client, Alluxio,
        "How Lode's client writes a file: MUST_CACHE to a worker only; CACHE_THROUGH to a worker \
         and the under-file-system together; THROUGH to the under-file-system only; \
         ASYNC_THROUGH to a worker, persisted after. Where no under-file-system is mounted, \
         CACHE_THROUGH and THROUGH are refused and ASYNC_THROUGH files stay NOT_PERSISTED."),
    key(name::USER_RPC_RETRY_BASE_SLEEP, T::Duration, Literal("50ms"), Scope::Client, Alluxio,
        "The first back-off between RPC retries (doubling up to the maximum)."),
    key(name::USER_RPC_RETRY_MAX_DURATION, T::Duration, Literal("2min"), Scope::Client, Alluxio,
        "How long a client keeps retrying an RPC, across failovers, before giving up."),
    key(name::USER_RPC_RETRY_MAX_SLEEP, T::Duration, Literal("1sec"), Scope::Client, Alluxio,
        "The longest back-off between RPC retries. Lode's default is 1sec, not Alluxio's 3sec: \
         a failover takes seconds, and a client sleeping up to 3s would add most of that again; \
         a retry costs one leader lookup and one connection attempt. Masters hand this to \
         stock Alluxio clients among the cluster defaults."),
    key(name::USER_SHORT_CIRCUIT_ENABLED, T::Bool, Literal("true"), Scope::Client, Alluxio,
        "Whether a client on a worker's host reads and writes that worker's block files in place \
         instead of streaming them over the network."),
    key(name::USER_STREAMING_READER_CHUNK_SIZE_BYTES, T::Size, Literal("1MB"), Scope::Client,
        Alluxio,
        "The bytes per message when a client streams a block from a worker (at most 8MB)."),
    key(name::USER_STREAMING_WRITER_CHUNK_SIZE_BYTES, T::Size, Literal("256KB"), Scope::Client,
        Alluxio,
        "The bytes per message when a client streams a block to a worker (at most 8MB). Lode's \
         default is 256KB, not Alluxio's 1MB: on loopback, writes of 256KB messages measured \
         about a quarter faster than of 1MB ones (docs/benchmarks.md)."),
    key(name::WORK_DIR, T::String, Literal("${alluxio.home}"), Scope::Server, Alluxio,
        "The working directory; by default the journal and logs live under it."),
    key(name::WORKER_BIND_HOST, T::String, Literal("0.0.0.0"), Scope::Worker, Alluxio,
        "The address the worker's RPC service listens on."),
    key(name::WORKER_BLOCK_HEARTBEAT_INTERVAL, T::Duration, Literal("1sec"), Scope::Worker,
        Alluxio, "How often a worker sends a heartbeat to the leading master."),
    key(name::WORKER_HOSTNAME, T::String, ThisHostName, Scope::Worker, Alluxio,
        "The externally visible host name of the worker. Defaults to this host's name."),
    key(name::WORKER_NETWORK_MAX_CONCURRENT_STREAMS, T::Int, Literal("1024"), Scope::Worker, Lode,
        "The most calls (block reads and writes among them) one client connection may have in \
         flight on a worker at once (HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS): clients queue \
         the rest, and a stream a client opens past it is refused."),
    key(name::WORKER_NETWORK_MAX_CONNECTIONS, T::Int, DefaultValue::None, Scope::Worker, Lode,
        "The most client connections a worker keeps open at once (unset: half its open-file \
         limit). One more is closed at once and logged, so clients can never take the file \
         descriptors its blocks need."),
    key(name::WORKER_RAMDISK_SIZE, T::Size, Literal("1GB"), Scope::Worker, Alluxio,
        "The capacity of the worker's memory tier. Lode's default is 1GB (Alluxio sizes it from \
         the host's memory); least recently used blocks are evicted to make room."),
    key(name::WORKER_RPC_PORT, T::Port, Literal("29999"), Scope::All, Alluxio,
        "The port of the worker's RPC service."),
    key(name::WORKER_TIEREDSTORE_LEVEL0_DIRS_PATH, T::String, Literal("/dev/shm"), Scope::Worker,
        Alluxio, "Where the memory tier keeps its block files: a tmpfs, so blocks live in memory \
         and clients on this host read them in place (short-circuit). The worker uses a \
         lodeworker-<port> folder inside. Lode's default is /dev/shm, a tmpfs every Linux host \
         has (Alluxio's is /mnt/ramdisk, which it mounts itself)."),
    key(name::WORKER_TIEREDSTORE_LEVEL1_ALIAS, T::String, Literal("SSD"), Scope::Worker, Alluxio,
        "The alias of the second tier (the disk tier)."),
    key(name::WORKER_TIEREDSTORE_LEVEL1_DIRS_PATH, T::String, DefaultValue::None, Scope::Worker,
        Alluxio, "Where the disk tier keeps its block files (the worker uses a \
         lodeworker-<port> folder inside); required with two tiers."),
    key(name::WORKER_TIEREDSTORE_LEVEL1_DIRS_QUOTA, T::Size, DefaultValue::None, Scope::Worker,
        Alluxio, "The disk tier's capacity; required with two tiers."),
    key(name::WORKER_TIEREDSTORE_LEVELS, T::Int, Literal("1"), Scope::Worker, Alluxio,
        "How many tiers a worker has: 1 (memory) or 2 (memory, then a disk tier that takes the \
         blocks memory evicts)."),
    key(name::WORKER_WEB_BIND_HOST, T::String, Literal("${alluxio.worker.bind.host}"),
        Scope::Worker, Alluxio,
        "The address the worker's web UI binds to. Lode's default follows \
         alluxio.worker.bind.host (Alluxio's is 0.0.0.0)."),
    key(name::WORKER_WEB_PORT, T::Port, Literal("30000"), Scope::Worker, Alluxio,
        "The port of the worker's web UI, /metrics, /healthz and /readyz (0 picks a free one)."),
    key(name::ZOOKEEPER_ADDRESS, T::ZkConnect, DefaultValue::None, Scope::All, Alluxio,
        "The ZooKeeper ensemble: host:port[,host:port...] with an optional /chroot."),
    key(name::ZOOKEEPER_AUTH_DIGEST, T::Secret, DefaultValue::None, Scope::All, Lode,
        "ZooKeeper digest credentials, user:password. When set (and auth is enabled), Lode \
         authenticates with them and creates its nodes readable by anyone but writable only by \
         this user; shown as ****** by lode conf."),
    key(name::ZOOKEEPER_AUTH_ENABLED, T::Bool, Literal("true"), Scope::All, Alluxio,
        "Whether to authenticate to ZooKeeper when credentials are configured."),
    key(name::ZOOKEEPER_CONNECTION_TIMEOUT, T::Duration, Literal("15s"), Scope::All, Alluxio,
        "How long to wait for a ZooKeeper connection."),
    key(name::ZOOKEEPER_ELECTION_PATH, T::String, Literal("/alluxio/election"), Scope::All,
        Alluxio, "The ZooKeeper path under which masters run the leader election."),
    key(name::ZOOKEEPER_ENABLED, T::Bool, Literal("false"), Scope::All, Alluxio,
        "Whether masters elect their leader, and everyone finds it, through ZooKeeper."),
    key(name::ZOOKEEPER_LEADER_CONNECTION_ERROR_POLICY, T::Enum(&["STANDARD", "SESSION"]),
        Literal("SESSION"), Scope::Master, Alluxio,
        "How a leader treats ZooKeeper connection errors: STANDARD gives up leadership on any \
         disconnection; SESSION keeps it while the same session reconnects in time."),
    key(name::ZOOKEEPER_LEADER_INQUIRY_RETRY, T::Int, Literal("10"), Scope::All, Alluxio,
        "How many times to ask ZooKeeper for the leader before failing."),
    key(name::ZOOKEEPER_LEADER_PATH, T::String, Literal("/alluxio/leader"), Scope::All, Alluxio,
        "The ZooKeeper path under which the leader publishes its host:port."),
    key(name::ZOOKEEPER_SESSION_TIMEOUT, T::Duration, Literal("10s"), Scope::All, Alluxio,
        "The ZooKeeper session timeout: a leader killed without a goodbye is replaced after \
         about this long. Lode's default is 10s, not Alluxio's 60s: a ZooKeeper server with the \
         default tickTime caps sessions at 40s anyway, Lode has no GC pauses to ride out, and a \
         leader stops serving the moment its connection drops, so a shorter session only \
         shortens failover. The leader's lease is half of it."),
    key(name::AWS_ACCESS_KEY_ID, T::Secret, DefaultValue::None, Scope::Master, Alluxio,
        "The older name of s3a.accessKeyId, still read when that is unset."),
    key(name::AWS_SECRET_KEY, T::Secret, DefaultValue::None, Scope::Master, Alluxio,
        "The older name of s3a.secretKey, still read when that is unset."),
    key(name::S3A_ACCESS_KEY_ID, T::Secret, DefaultValue::None, Scope::Master, Alluxio,
        "For an s3:// journal folder: the access key id. Unset, the AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY environment variables (or ~/.aws) are used. Shown as ******."),
    key(name::S3A_SECRET_KEY, T::Secret, DefaultValue::None, Scope::Master, Alluxio,
        "For an s3:// journal folder: the secret key. Shown as ******; never logged."),
];

/// Looks a key up by name.
pub fn find(name: &str) -> Option<&'static PropertyKey> {
    KEYS.binary_search_by(|key| key.name.cmp(name)).ok().map(|index| &KEYS[index])
}

/// How a value may be shown to people: credentials (type `Secret`) as `******`.
pub fn shown<'a>(name: &str, text: &'a str) -> &'a str {
    match find(name) {
        Some(key) if key.value_type == ValueType::Secret && !text.is_empty() => "******",
        _ => text,
    }
}

/// The known key nearest to an unknown name, to suggest in a warning.
pub fn nearest(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|key| (strsim::jaro_winkler(name, key.name), key.name))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in KEYS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} / {}", pair[0].name, pair[1].name);
        }
    }

    #[test]
    fn every_literal_default_parses_as_its_type() {
        for key in KEYS {
            if let DefaultValue::Literal(text) = key.default {
                if !text.contains("${") {
                    key.value_type
                        .parse(text)
                        .unwrap_or_else(|e| panic!("default of {}: {e}", key.name));
                }
            }
        }
    }

    #[test]
    fn nearest_key_suggests_a_fix_for_typos() {
        assert_eq!(nearest("alluxio.zookeper.enabled"), Some(name::ZOOKEEPER_ENABLED));
        assert_eq!(nearest("completely.unrelated"), None);
    }
}
