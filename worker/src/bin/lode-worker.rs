//! `lode-worker`: runs a Lode worker.

use std::process::ExitCode;

use clap::Parser;
use lode_core::config::{parse_define, Config, LoadOptions, Process};

/// Runs a Lode worker.
///
/// Configuration is Alluxio's: $ALLUXIO_CONF_DIR/alluxio-site.properties, alluxio-env.sh, the
/// environment (ALLUXIO_JAVA_OPTS, ALLUXIO_WORKER_JAVA_OPTS) and -Dkey=value here. The worker
/// finds the leading master through ZooKeeper when alluxio.zookeeper.enabled=true, else through
/// alluxio.master.rpc.addresses. Stop it with Ctrl-C or SIGTERM.
#[derive(Parser)]
#[command(name = "lode-worker", version, about, long_about)]
struct Cli {
    /// Set a property, e.g. -Dalluxio.worker.rpc.port=29999 (repeatable; highest precedence).
    #[arg(short = 'D', value_name = "KEY=VALUE", value_parser = parse_define)]
    define: Vec<(String, String)>,

    /// Print the journal stores and leader electors linked into this binary, then exit.
    #[arg(long)]
    backends: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    if cli.backends {
        print!("{}", lode_core::registered_backends_report());
        return ExitCode::SUCCESS;
    }
    let loaded = match Config::load(&LoadOptions::from_process(Process::Worker, cli.define)) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("lode-worker: {error}");
            return ExitCode::FAILURE;
        }
    };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    lode_worker::run(loaded.config, lode_core::shutdown_signal()).await;
    ExitCode::SUCCESS
}
