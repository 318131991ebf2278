//! `lode`: Lode's command-line shell.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lode_client::conf::{self, Unit};
use lode_client::local::{self, LocalOptions};
use lode_client::master::MasterClient;
use lode_client::{copy, fs, fsadmin};
use lode_core::cli::{init_logging, load_config};
use lode_core::config::{parse_define, Config, Process};

/// Lode's shell: file system commands, cluster information, configuration, and a one-command
/// local cluster.
///
/// Configuration is Alluxio's: $ALLUXIO_CONF_DIR/alluxio-site.properties, alluxio-env.sh,
/// the environment (ALLUXIO_JAVA_OPTS, ALLUXIO_USER_JAVA_OPTS, ...) and -Dkey=value here.

// mimalloc: the RPC path is allocation-heavy (about a fifth of its CPU in malloc/free with
// the system allocator); see docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[derive(Parser)]
#[command(name = "lode", version, about, long_about)]
struct Cli {
    /// Set a property for this command, e.g. -Dalluxio.master.rpc.addresses=m1:19998,m2:19998
    /// (repeatable; highest precedence).
    #[arg(short = 'D', value_name = "KEY=VALUE", value_parser = parse_define, global = true)]
    define: Vec<(String, String)>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// File system commands against the leading master.
    #[command(subcommand)]
    Fs(FsCommand),
    /// Show the effective configuration and where each value came from.
    #[command(subcommand)]
    Conf(ConfCommand),
    /// Administration: the cluster's state.
    #[command(subcommand)]
    Fsadmin(FsadminCommand),
    /// Run a local fault-tolerant cluster in the foreground (masters on the embedded elector,
    /// data under --dir) until Ctrl-C; -Dkey=value properties configure its masters and worker.
    Local {
        /// The data directory: journal, election files, logs and the generated configuration.
        #[arg(long, default_value = "lode-data")]
        dir: PathBuf,
        /// How many masters to run.
        #[arg(long, default_value_t = 2)]
        masters: usize,
        /// How long a hung (not dead) leader keeps its term before a standby takes over.
        #[arg(long, default_value = "3s")]
        lease_timeout: String,
    },
}

#[derive(Subcommand)]
enum FsadminCommand {
    /// The leader, every master with its journal position and lag, every worker with its
    /// capacity and usage.
    Report,
    /// Journal operations.
    #[command(subcommand)]
    Journal(JournalCommand),
}

#[derive(Subcommand)]
enum JournalCommand {
    /// Ask the leader to write a checkpoint of the namespace now (standbys replay from it, and
    /// the journal behind it can be truncated).
    Checkpoint,
}

#[derive(Subcommand)]
enum FsCommand {
    /// Create directories.
    Mkdir {
        /// Create parents as needed, and succeed if the directory exists.
        #[arg(short = 'p')]
        parents: bool,
        /// The directories.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// List a directory (or show a file).
    Ls {
        /// List every level below the directory.
        #[arg(short = 'R')]
        recursive: bool,
        /// Look in the under-file-system for entries the masters do not know, even in folders
        /// listed before (Alluxio's `ls -f`: load type ALWAYS).
        #[arg(short = 'f')]
        force: bool,
        /// Sync with the under-file-system first: what it no longer has goes, what changed
        /// there is loaded again (sync interval 0).
        #[arg(long)]
        sync: bool,
        /// The path.
        #[arg(default_value = "/")]
        path: String,
    },
    /// Cache every block of a persisted file (or of each file below a folder) that no worker
    /// holds, from its under-file-system, ahead of use.
    Load {
        /// The file or folder.
        path: String,
    },
    /// Load what the under-file-system has at a path (and below it with -R) that the masters
    /// do not know, without listing it.
    #[command(name = "loadMetadata")]
    LoadMetadata {
        /// Every level below the path too.
        #[arg(short = 'R')]
        recursive: bool,
        /// Also sync what the masters know: remove what the UFS no longer has, load again
        /// what changed there (Alluxio's -F).
        #[arg(short = 'F')]
        sync: bool,
        /// The path.
        path: String,
    },
    /// Show a path's status.
    Stat {
        /// The path.
        path: String,
    },
    /// Create empty files.
    Touch {
        /// The files.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Remove files or directories.
    Rm {
        /// Remove directories and everything below them.
        #[arg(short = 'R', visible_short_alias = 'r')]
        recursive: bool,
        /// Also remove mount points at or below the path (their under-file-systems keep their
        /// files).
        #[arg(short = 'm', long = "deleteMountPoint")]
        delete_mount_point: bool,
        /// The paths.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Mount an under-file-system (a folder, hdfs://, s3://) at a new folder; without
    /// arguments, list the mount table.
    Mount {
        /// Nothing below the mount point is written to the under-file-system.
        #[arg(long)]
        readonly: bool,
        /// Share the mount with every user.
        #[arg(long)]
        shared: bool,
        /// A property for this mount only, e.g. --option s3a.accessKeyId=... (repeatable).
        #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse_define)]
        options: Vec<(String, String)>,
        /// The new folder.
        #[arg(requires = "ufs")]
        path: Option<String>,
        /// The under-file-system's URI.
        ufs: Option<String>,
    },
    /// Remove a mount point and the folder it made (its under-file-system keeps its files).
    Unmount {
        /// The mount point.
        path: String,
    },
    /// Move a file or directory to a path that does not exist yet.
    Mv {
        /// From.
        src: String,
        /// To.
        dst: String,
    },
    /// Change permission bits (octal, e.g. 755).
    Chmod {
        /// Apply to everything below a directory too.
        #[arg(short = 'R')]
        recursive: bool,
        /// The mode.
        mode: String,
        /// The path.
        path: String,
    },
    /// Change owner (and group, as OWNER:GROUP).
    Chown {
        /// Apply to everything below a directory too.
        #[arg(short = 'R')]
        recursive: bool,
        /// OWNER or OWNER:GROUP.
        owner: String,
        /// The path.
        path: String,
    },
    /// Print the leading master and every master with its role.
    #[command(name = "masterInfo")]
    MasterInfo,
    /// Print the leading master's host:port.
    Leader,
    /// Copy a local file into a new Lode file, through a worker.
    #[command(name = "copyFromLocal", visible_alias = "put")]
    CopyFromLocal {
        /// The block size of the new file (e.g. 64MB; the master's default when unset).
        #[arg(long, value_parser = parse_size)]
        block_size: Option<u64>,
        /// The local file.
        src: PathBuf,
        /// The Lode path.
        dst: String,
    },
    /// Copy a Lode file to a local file.
    #[command(name = "copyToLocal", visible_alias = "get")]
    CopyToLocal {
        /// The Lode file.
        src: String,
        /// The local file (replaced if it exists).
        dst: PathBuf,
    },
    /// Print a file.
    Cat {
        /// The file.
        path: String,
    },
    /// Print the first bytes of a file.
    Head {
        /// How many bytes (e.g. 1KB).
        #[arg(short = 'c', default_value = "1KB", value_parser = parse_size)]
        bytes: u64,
        /// The file.
        path: String,
    },
    /// Print the last bytes of a file.
    Tail {
        /// How many bytes (e.g. 1KB).
        #[arg(short = 'c', default_value = "1KB", value_parser = parse_size)]
        bytes: u64,
        /// The file.
        path: String,
    },
    /// Drop a persisted file's blocks from the workers' memory (the file stays listed); a file
    /// that is not persisted is refused, its blocks being its only copy.
    Free {
        /// Free every file below a directory.
        #[arg(short = 'R', visible_short_alias = 'r')]
        recursive: bool,
        /// The path.
        path: String,
    },
    /// Write files to their under-file-system now and wait until each is PERSISTED (a folder:
    /// every file below it).
    Persist {
        /// How long to wait in all (e.g. 20min).
        #[arg(short = 't', long = "timeout", default_value = "20min", value_parser = parse_duration)]
        timeout: std::time::Duration,
        /// The files or folders.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Show the bytes of every file under a path.
    Du {
        /// One total instead of a line per file.
        #[arg(short = 's')]
        summarize: bool,
        /// The path.
        #[arg(default_value = "/")]
        path: String,
    },
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    lode_core::config::parse_duration(text)
}

fn parse_size(text: &str) -> Result<u64, String> {
    lode_core::config::parse_size(text)
}

#[derive(Clone, Copy, ValueEnum)]
enum ProcessKind {
    Master,
    Worker,
    Client,
}

#[derive(Subcommand)]
enum ConfCommand {
    /// Print one property's effective value.
    Get {
        /// The property, e.g. alluxio.master.journal.folder.
        key: String,
        /// Also print where the value came from (default, a file, a variable, command line).
        #[arg(long)]
        source: bool,
        /// Print a duration or size in this unit: MS, S, MIN, H, D, B, KB, MB, GB, TB.
        #[arg(long)]
        unit: Option<Unit>,
        /// Whose view: its *_JAVA_OPTS variable applies.
        #[arg(long, value_enum, default_value = "client")]
        process: ProcessKind,
    },
    /// Print every property with a value, sorted.
    List {
        /// Also print where each value came from.
        #[arg(long)]
        source: bool,
        /// Whose view: its *_JAVA_OPTS variable applies.
        #[arg(long, value_enum, default_value = "client")]
        process: ProcessKind,
    },
    /// Print the property reference (Markdown) generated from the key table.
    Docs,
    /// Print the journal stores and leader electors linked into this binary.
    Backends,
}

/// Loads configuration as `process` would.
fn load(process: ProcessKind, define: Vec<(String, String)>) -> Result<Config, String> {
    let process = match process {
        ProcessKind::Master => Process::Master,
        ProcessKind::Worker => Process::Worker,
        ProcessKind::Client => Process::Client,
    };
    load_config(process, define).map_err(|error| error.to_string())
}

async fn run_fs(command: FsCommand, client: &MasterClient) -> Result<String, String> {
    let fail = |e: lode_client::master::ClientError| e.to_string();
    let mut out = String::new();
    match command {
        FsCommand::Mkdir { parents, paths } => {
            for path in paths {
                client.create_directory(&path, parents, parents).await.map_err(fail)?;
                out.push_str(&format!("Successfully created directory {path}\n"));
            }
        }
        FsCommand::Ls { recursive, force, sync, path } => {
            out = fs::ls(client, &path, recursive, force, sync).await.map_err(fail)?
        }
        FsCommand::Load { path } => out = copy::load(client, &path).await?,
        FsCommand::LoadMetadata { recursive, sync, path } => {
            client.load_metadata(&path, recursive, sync).await.map_err(fail)?;
        }
        FsCommand::Stat { path } => out = fs::stat(client, &path).await.map_err(fail)?,
        FsCommand::Touch { paths } => {
            for path in paths {
                out.push_str(&fs::touch(client, &path).await.map_err(fail)?);
            }
        }
        FsCommand::Rm { recursive, delete_mount_point, paths } => {
            for path in paths {
                client.remove_with(&path, recursive, delete_mount_point).await.map_err(fail)?;
                out.push_str(&format!("{path} has been removed\n"));
            }
        }
        FsCommand::Mount { readonly, shared, options, path, ufs } => match (path, ufs) {
            (Some(path), Some(ufs)) => {
                let options = lode_core::rpc::alluxio::grpc::file::MountPOptions {
                    read_only: Some(readonly),
                    shared: Some(shared),
                    properties: options.into_iter().collect(),
                    ..Default::default()
                };
                client.mount(&path, &ufs, options).await.map_err(fail)?;
                out = format!("Mounted {ufs} at {path}\n");
            }
            _ => out = fs::mount_table(client).await.map_err(fail)?,
        },
        FsCommand::Unmount { path } => {
            client.unmount(&path).await.map_err(fail)?;
            out = format!("Unmounted {path}\n");
        }
        FsCommand::Mv { src, dst } => {
            client.rename(&src, &dst).await.map_err(fail)?;
            out = format!("Renamed {src} to {dst}\n");
        }
        FsCommand::Chmod { recursive, mode, path } => {
            let mode = fs::parse_mode(&mode)?;
            client.set_attribute(&path, Some(mode), None, None, recursive).await.map_err(fail)?;
            out = format!("Changed permission of {path} to {mode:o}\n");
        }
        FsCommand::Chown { recursive, owner, path } => {
            let (owner, group) = match owner.split_once(':') {
                Some((owner, group)) => (owner.to_string(), Some(group.to_string())),
                None => (owner, None),
            };
            if owner.is_empty() {
                return Err("chown needs an owner (OWNER or OWNER:GROUP)".into());
            }
            client
                .set_attribute(&path, None, Some(owner.clone()), group, recursive)
                .await
                .map_err(fail)?;
            out = format!("Changed owner of {path} to {owner}\n");
        }
        FsCommand::MasterInfo => out = fs::master_info(client).await.map_err(fail)?,
        FsCommand::Leader => {
            let info = client.master_info().await.map_err(fail)?;
            out = format!("{}\n", info.leader_master_address.unwrap_or_default());
        }
        FsCommand::CopyFromLocal { block_size, src, dst } => {
            out = copy::copy_from_local(client, &src, &dst, block_size).await?
        }
        FsCommand::CopyToLocal { src, dst } => {
            out = copy::copy_to_local(client, &src, &dst).await?
        }
        FsCommand::Cat { path } => copy::print(client, &path, 0, None).await.map_err(fail)?,
        FsCommand::Head { bytes, path } => {
            copy::print(client, &path, 0, Some(bytes)).await.map_err(fail)?
        }
        FsCommand::Tail { bytes, path } => copy::tail(client, &path, bytes).await.map_err(fail)?,
        FsCommand::Free { recursive, path } => {
            client.free(&path, recursive).await.map_err(fail)?;
            out = format!("{path} was successfully freed from the workers' memory\n");
        }
        FsCommand::Persist { timeout, paths } => {
            out = lode_client::persist::persist(client, &paths, timeout).await?
        }
        FsCommand::Du { summarize, path } => {
            out = copy::du(client, &path, summarize).await.map_err(fail)?
        }
    }
    Ok(out)
}

async fn run(cli: Cli) -> Result<String, String> {
    match cli.command {
        Command::Fs(command) => {
            let config = load(ProcessKind::Client, cli.define)?;
            let client = MasterClient::from_config(&config).map_err(|e| e.to_string())?;
            run_fs(command, &client).await
        }
        Command::Fsadmin(FsadminCommand::Report) => {
            let config = load(ProcessKind::Client, cli.define)?;
            let client = MasterClient::from_config(&config).map_err(|e| e.to_string())?;
            fsadmin::report(&client).await.map_err(|e| e.to_string())
        }
        Command::Fsadmin(FsadminCommand::Journal(JournalCommand::Checkpoint)) => {
            let config = load(ProcessKind::Client, cli.define)?;
            let client = MasterClient::from_config(&config).map_err(|e| e.to_string())?;
            let slot = client.checkpoint().await.map_err(|e| e.to_string())?;
            Ok(format!("Successfully took a checkpoint of the journal at slot {slot}\n"))
        }
        Command::Conf(ConfCommand::Get { key, source, unit, process }) => {
            conf::get(&load(process, cli.define)?, &key, source, unit).map(|line| line + "\n")
        }
        Command::Conf(ConfCommand::List { source, process }) => {
            Ok(conf::list(&load(process, cli.define)?, source))
        }
        Command::Conf(ConfCommand::Docs) => Ok(conf::reference()),
        Command::Conf(ConfCommand::Backends) => Ok(lode_core::registered_backends_report()),
        Command::Local { dir, masters, lease_timeout } => {
            lode_core::config::parse_duration(&lease_timeout)
                .map_err(|e| format!("--lease-timeout {lease_timeout}: {e}"))?;
            // Checked here, where a bad value names its -D, not in a master's log.
            Config::from_pairs(cli.define.clone()).map_err(|e| format!("-D: {e}"))?;
            let options = LocalOptions { dir, masters, lease_timeout, properties: cli.define };
            local::run(options, lode_core::shutdown_signal()).await.map(|()| String::new())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging("warn");
    match run(Cli::parse()).await {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("lode: {error}");
            ExitCode::FAILURE
        }
    }
}
