//! A cap on open connections per server. Each connection holds a file descriptor, and a master
//! whose descriptors are all held by clients cannot open its journal: a leader would step down
//! for want of a file. A connection over the cap is closed as soon as it is accepted, with a
//! warning (at most one a second) naming the key to raise and a counter
//! (`lode_rpc_connections_refused_total`); the connections already open are unaffected. Unless
//! configured, the cap is half the process's open-file limit, after raising its soft limit to
//! the hard one (as the JVM does for Alluxio's processes).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The connection cap: `configured` (at least 1), else half the open-file limit; either way
/// the soft open-file limit is first raised to the hard one.
pub fn connection_cap(configured: Option<i64>) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut files = getrlimit(Resource::Nofile);
    if files.current < files.maximum {
        let raised = rustix::process::Rlimit { current: files.maximum, ..files };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => files = raised,
            Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
        }
    }
    let half =
        files.current.map_or(usize::MAX, |limit| usize::try_from(limit / 2).unwrap_or(usize::MAX));
    match configured {
        Some(max) => usize::try_from(max.max(1)).unwrap_or(usize::MAX),
        None => half.max(1),
    }
}

/// The calls one connection may have in flight at once (HTTP/2's
/// `SETTINGS_MAX_CONCURRENT_STREAMS`): `configured`, at least 1, else 1024.
pub fn stream_cap(configured: Option<i64>) -> u32 {
    u32::try_from(configured.unwrap_or(1024).max(1)).unwrap_or(u32::MAX)
}

/// A connection counted against its server's cap until it closes.
#[derive(Debug)]
pub struct CountedConnection {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

/// Admits at most `max` connections from `incoming` at once (see the module doc); `key` is the
/// property that sets `max`, for the warning.
pub fn limit_connections(
    incoming: impl Stream<Item = io::Result<TcpStream>> + Send + 'static,
    max: usize,
    key: &'static str,
) -> impl Stream<Item = io::Result<CountedConnection>> + Send + 'static {
    let open = Arc::new(Semaphore::new(max));
    let last_warning = AtomicU64::new(0);
    incoming.filter_map(move |accepted| {
        let stream = match accepted {
            Ok(stream) => stream,
            Err(error) => return Some(Err(error)),
        };
        match open.clone().try_acquire_owned() {
            Ok(permit) => Some(Ok(CountedConnection { stream, _permit: permit })),
            Err(_) => {
                metrics::counter!("lode_rpc_connections_refused_total").increment(1);
                let now = crate::elector::monotonic_nanos() / 1_000_000_000;
                if last_warning.swap(now, Ordering::Relaxed) != now {
                    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                    tracing::warn!(
                        peer,
                        "refusing a connection: {max} are open, the most this server takes ({key})"
                    );
                }
                None // Dropping the stream closes it.
            }
        }
    })
}

impl Connected for CountedConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for CountedConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
