//! A bounded stop for a gRPC server. Tonic's graceful shutdown waits for every open connection
//! to finish, and a client that never answers the server's GOAWAY (or hyper's own shutdown bug,
//! hyperium/hyper#4170) makes it wait forever: a master or worker asked to stop would hang. As
//! Alluxio does (`alluxio.network.connection.server.shutdown.timeout`), connections get a grace
//! period, then the server stops without them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// The shutdown signal handed to the server.
pub type ShutdownSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs the server `serve` builds around its shutdown signal until it stops, or until `grace`
/// after `shutdown` resolved, whichever comes first; `server` names it in the warning logged
/// when connections were still open at the deadline (they are dropped with the server).
pub async fn serve_with_bounded_shutdown<S, E>(
    serve: impl FnOnce(ShutdownSignal) -> S,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    server: &str,
) -> Result<(), E>
where
    S: Future<Output = Result<(), E>>,
{
    let stopping = Arc::new(Notify::new());
    let signal = {
        let stopping = stopping.clone();
        Box::pin(async move {
            shutdown.await;
            stopping.notify_one();
        })
    };
    let serving = serve(signal);
    tokio::pin!(serving);
    let deadline = async {
        stopping.notified().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        outcome = &mut serving => outcome,
        () = deadline => {
            tracing::warn!(
                server,
                ?grace,
                "connections were still open when the shutdown grace period \
                 (alluxio.network.connection.server.shutdown.timeout) ended: closed them"
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that never finishes its graceful stop is stopped `grace` after the signal; one
    /// that finishes on its own returns its own outcome.
    #[tokio::test(start_paused = true)]
    async fn a_stop_waits_for_connections_at_most_the_grace_period() {
        let started = tokio::time::Instant::now();
        let hung = serve_with_bounded_shutdown(
            |signal| async move {
                signal.await;
                std::future::pending::<Result<(), ()>>().await
            },
            tokio::time::sleep(Duration::from_secs(5)),
            Duration::from_secs(60),
            "test",
        );
        assert_eq!(hung.await, Ok(()));
        assert_eq!(started.elapsed(), Duration::from_secs(65));

        let clean = serve_with_bounded_shutdown(
            |signal| async move {
                signal.await;
                Err::<(), _>("its own outcome")
            },
            std::future::ready(()),
            Duration::from_secs(60),
            "test",
        );
        assert_eq!(clean.await, Err("its own outcome"));
    }
}
