//! What every Lode binary does the same way: `-Dkey=value` and `--backends` arguments, logging,
//! loading configuration and reporting its warnings.

use std::process::ExitCode;

use crate::config::{parse_define, Config, ConfigError, LoadOptions, Process};

/// The arguments every server binary takes.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Set a property, e.g. -Dalluxio.master.journal.folder=/var/lib/lode/journal (repeatable;
    /// highest precedence).
    #[arg(short = 'D', value_name = "KEY=VALUE", value_parser = parse_define)]
    pub define: Vec<(String, String)>,

    /// Print the journal stores and leader electors linked into this binary, then exit.
    #[arg(long)]
    pub backends: bool,
}

/// Logs to stderr at `default_level` unless `RUST_LOG` says otherwise; colours only on a terminal.
pub fn init_logging(default_level: &str) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_level.into()),
        )
        .init();
}

/// Loads configuration for `process` from this process's environment and `define`, logging
/// its warnings.
pub fn load_config(process: Process, define: Vec<(String, String)>) -> Result<Config, ConfigError> {
    let loaded = Config::load(&LoadOptions::from_process(process, define))?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded.config)
}

/// Handles the common start of a server binary: logging, `--backends`, configuration. Returns
/// the configuration to run with, or the exit code to leave with.
pub fn start_server(program: &str, process: Process, args: ServerArgs) -> Result<Config, ExitCode> {
    init_logging("info");
    if args.backends {
        print!("{}", crate::registered_backends_report());
        return Err(ExitCode::SUCCESS);
    }
    load_config(process, args.define).map_err(|error| {
        eprintln!("{program}: {error}");
        ExitCode::FAILURE
    })
}
