//! `lode`: Lode's command-line shell.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lode_client::conf::{self, Unit};
use lode_core::cli::{init_logging, load_config};
use lode_core::config::{parse_define, Config, Process};

/// Lode's shell: configuration now; file system and admin commands as the cluster grows.
///
/// Configuration is Alluxio's: $ALLUXIO_CONF_DIR/alluxio-site.properties, alluxio-env.sh,
/// the environment (ALLUXIO_JAVA_OPTS, ALLUXIO_USER_JAVA_OPTS, ...) and -Dkey=value here.
#[derive(Parser)]
#[command(name = "lode", version, about, long_about)]
struct Cli {
    /// Set a property for this command, e.g. -Dalluxio.zookeeper.enabled=true (repeatable;
    /// highest precedence).
    #[arg(short = 'D', value_name = "KEY=VALUE", value_parser = parse_define, global = true)]
    define: Vec<(String, String)>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the effective configuration and where each value came from.
    #[command(subcommand)]
    Conf(ConfCommand),
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

fn run(cli: Cli) -> Result<String, String> {
    match cli.command {
        Command::Conf(ConfCommand::Get { key, source, unit, process }) => {
            conf::get(&load(process, cli.define)?, &key, source, unit).map(|line| line + "\n")
        }
        Command::Conf(ConfCommand::List { source, process }) => {
            Ok(conf::list(&load(process, cli.define)?, source))
        }
        Command::Conf(ConfCommand::Docs) => Ok(conf::reference()),
        Command::Conf(ConfCommand::Backends) => Ok(lode_core::registered_backends_report()),
    }
}

fn main() -> ExitCode {
    init_logging("warn");
    match run(Cli::parse()) {
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
