//! Lode's core: Alluxio-compatible configuration, the [`elector::LeaderElector`] and
//! [`store::JournalStore`] traits with their registries, the journal protocol that makes a
//! shared journal safe under failover, and the embedded single-host backends.
//!
//! See `DESIGN.md` (§2 traits, §3 journal protocol, §6 configuration).
#![warn(missing_docs)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod elector;
pub mod journal;
#[cfg(feature = "rpc")]
pub mod rpc;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
#[cfg(feature = "web")]
pub mod web;

/// What this binary can run: the journal stores and leader electors linked into it, one per
/// line, as `lode conf backends` and `--backends` print it.
pub fn registered_backends_report() -> String {
    let mut out = String::from("journal stores:\n");
    for backend in store::registered() {
        let schemes: Vec<String> = backend
            .schemes
            .iter()
            .map(|s| if s.is_empty() { "plain path".into() } else { format!("{s}://") })
            .collect();
        out.push_str(&format!(
            "  {:<10} {} — {}\n",
            backend.name,
            schemes.join(", "),
            backend.description
        ));
    }
    out.push_str("leader electors:\n");
    for backend in elector::registered() {
        out.push_str(&format!("  {:<10} {}\n", backend.name, backend.description));
    }
    out
}

/// Resolves on Ctrl-C or SIGTERM: the shutdown signal of every Lode process. The handlers are
/// installed when this is called (inside a tokio runtime), not when the future is first polled,
/// so a signal that arrives early is not lost to the default action.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, "cannot watch SIGTERM/SIGINT; stop this process with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
    }
}
