//! `lode-master`: runs a Lode master.

use std::process::ExitCode;

use clap::Parser;
use lode_core::cli::{start_server, ServerArgs};
use lode_core::config::Process;

/// Runs a Lode master.
///
/// Configuration is Alluxio's: $ALLUXIO_CONF_DIR/alluxio-site.properties, alluxio-env.sh, the
/// environment (ALLUXIO_MASTER_HOSTNAME, ALLUXIO_JAVA_OPTS, ALLUXIO_MASTER_JAVA_OPTS) and
/// -Dkey=value here. The journal folder's scheme picks the journal store; the elector is
/// ZooKeeper when alluxio.zookeeper.enabled=true, else alluxio.master.election.type. Stop it
/// with Ctrl-C or SIGTERM.

// mimalloc: the RPC path is allocation-heavy (about a fifth of its CPU in malloc/free with
// the system allocator); see docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[derive(Parser)]
#[command(name = "lode-master", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    args: ServerArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match start_server("lode-master", Process::Master, Cli::parse().args) {
        Ok(config) => config,
        Err(code) => return code,
    };
    match lode_master::run(config, lode_core::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lode-master: {error}");
            ExitCode::FAILURE
        }
    }
}
