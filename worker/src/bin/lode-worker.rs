//! `lode-worker`: runs a Lode worker.

use std::process::ExitCode;

use clap::Parser;
use lode_core::cli::{start_server, ServerArgs};
use lode_core::config::Process;

/// Runs a Lode worker.
///
/// Configuration is Alluxio's: $ALLUXIO_CONF_DIR/alluxio-site.properties, alluxio-env.sh, the
/// environment (ALLUXIO_JAVA_OPTS, ALLUXIO_WORKER_JAVA_OPTS) and -Dkey=value here. The worker
/// finds the leading master through ZooKeeper when alluxio.zookeeper.enabled=true, else through
/// alluxio.master.rpc.addresses. Stop it with Ctrl-C or SIGTERM.

// mimalloc: the RPC path is allocation-heavy (about a fifth of its CPU in malloc/free with
// the system allocator); see docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[derive(Parser)]
#[command(name = "lode-worker", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    args: ServerArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    match start_server("lode-worker", Process::Worker, Cli::parse().args) {
        Ok(config) => match lode_worker::run(config, lode_core::shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(%error, "lode-worker stopped");
                eprintln!("lode-worker: {error}");
                ExitCode::FAILURE
            }
        },
        Err(code) => code,
    }
}
