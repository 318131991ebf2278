//! [`LeaseSession`]: one etcd lease, kept alive by a task of its own, that confirms (or ends)
//! the leadership campaigning on it.

use std::sync::Arc;
use std::time::Duration;

use etcd_client as etcd;
use lode_core::elector::{monotonic_nanos, LeaseKeeper};
use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use crate::Settings;

/// The first pause after a failed keep-alive; it doubles up to the keep-alive interval.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// A granted lease and the task that keeps it alive until the session is dropped or stopped.
pub(crate) struct LeaseSession {
    /// etcd's lease id.
    pub id: i64,
    /// The leadership to confirm on each keep-alive, once the campaign is won.
    leading: Arc<Mutex<Option<Leading>>>,
    /// Asks the task for a keep-alive now.
    wake: Arc<Notify>,
    /// Dropping it stops the task.
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<&'static str>,
}

/// A won campaign: the election key that must keep leading, and the lease to confirm.
#[derive(Clone)]
struct Leading {
    key: Vec<u8>,
    keeper: LeaseKeeper,
}

/// How one keep-alive went.
enum Renewal {
    Renewed,
    /// etcd no longer knows the lease: its keys, and any leadership, are gone.
    Expired,
    Failed(String),
}

impl LeaseSession {
    /// Grants a lease of the configured TTL and starts keeping it alive.
    pub async fn grant(client: &etcd::Client, settings: &Arc<Settings>) -> Result<Self, String> {
        let granted = monotonic_nanos();
        let response = tokio::time::timeout(
            settings.request_timeout,
            client.clone().lease_grant(settings.ttl_seconds(), None),
        )
        .await
        .map_err(|_| "granting a lease timed out".to_string())?
        .map_err(|e| format!("granting a lease: {e}"))?;
        let id = response.id();
        let leading = Arc::new(Mutex::new(None));
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(keep_alive(
            client.clone(),
            id,
            settings.clone(),
            leading.clone(),
            wake.clone(),
            stopped,
            granted,
        ));
        Ok(LeaseSession { id, leading, wake, stop: Some(stop), task })
    }

    /// From now on each keep-alive also checks that `key` leads the election and confirms
    /// `keeper` (or loses it); the first such check starts at once.
    pub fn lead(&self, key: Vec<u8>, keeper: LeaseKeeper) {
        *self.leading.lock() = Some(Leading { key, keeper });
        self.wake.notify_one();
    }

    /// Resolves with the reason once the lease can no longer be kept alive.
    pub async fn ended(&mut self) -> &'static str {
        (&mut self.task).await.unwrap_or("the keep-alive task failed")
    }

    /// Stops keeping the lease alive (the task revokes it on its way out).
    pub fn stop(&mut self) {
        self.stop.take();
    }
}

impl Drop for LeaseSession {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Keeps lease `id` alive every third of its TTL until stopped, confirming the leadership in
/// `leading` after each renewal; returns why it ended. A leadership it cannot confirm is put in
/// doubt, and lost once nothing was renewed for a whole TTL.
async fn keep_alive(
    client: etcd::Client,
    id: i64,
    settings: Arc<Settings>,
    leading: Arc<Mutex<Option<Leading>>>,
    wake: Arc<Notify>,
    mut stopped: oneshot::Receiver<()>,
    mut last_renewed: u64,
) -> &'static str {
    let interval = settings.keep_alive_interval();
    let attempt_timeout = interval.min(settings.request_timeout);
    let mut stream = None;
    let mut pause = interval;
    let reason = loop {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = wake.notified() => {}
            _ = &mut stopped => break "stopped",
        }
        let sent = monotonic_nanos();
        let renewal = renew(&client, id, &mut stream, attempt_timeout).await;
        let current = leading.lock().clone();
        match renewal {
            Renewal::Renewed => {
                last_renewed = sent;
                pause = interval;
                let Some(Leading { key, keeper }) = current else { continue };
                match still_leads(&client, &settings, &key).await {
                    Ok(true) => keeper.confirm(sent + settings.lease().as_nanos() as u64),
                    Ok(false) => {
                        let reason = "another key leads the election (ours was deleted)";
                        keeper.lose(format!("etcd: {reason}"));
                        break reason;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "etcd election: cannot confirm the leadership");
                        keeper.doubt();
                        pause = RETRY_PAUSE;
                    }
                }
            }
            Renewal::Expired => {
                if let Some(Leading { keeper, .. }) = current {
                    keeper.lose("etcd: the lease expired");
                }
                return "the lease expired";
            }
            Renewal::Failed(error) => {
                stream = None;
                if let Some(Leading { keeper, .. }) = &current {
                    keeper.doubt();
                }
                if monotonic_nanos().saturating_sub(last_renewed) > settings.ttl.as_nanos() as u64 {
                    let reason = "no keep-alive was answered for a whole TTL";
                    if let Some(Leading { keeper, .. }) = current {
                        keeper.lose(format!("etcd: {reason}"));
                    }
                    return reason;
                }
                tracing::warn!(%error, lease = id, "etcd election: keep-alive failed; retrying");
                pause = if pause >= interval { RETRY_PAUSE } else { (pause * 2).min(interval) };
            }
        }
    };
    if let Some(Leading { keeper, .. }) = leading.lock().take() {
        keeper.lose(format!("etcd: {reason}"));
    }
    // Revoking deletes our election key now rather than a TTL from now.
    let mut client = client;
    let revoke = client.lease_revoke(id);
    if let Err(error) = tokio::time::timeout(settings.request_timeout, revoke).await {
        tracing::debug!(%error, lease = id, "etcd election: revoking the lease timed out");
    }
    reason
}

/// One keep-alive on the lease's stream, opening it first when needed (which renews too).
async fn renew(
    client: &etcd::Client,
    id: i64,
    stream: &mut Option<(etcd::LeaseKeeper, etcd::LeaseKeepAliveStream)>,
    timeout: Duration,
) -> Renewal {
    let attempt = async {
        let Some((keeper, responses)) = stream.as_mut() else {
            return match client.clone().lease_keep_alive(id).await {
                Ok(opened) => {
                    *stream = Some(opened);
                    Renewal::Renewed
                }
                Err(etcd::Error::LeaseKeepAliveError(message)) if message.contains("not found") => {
                    Renewal::Expired
                }
                Err(error) => Renewal::Failed(format!("opening the keep-alive stream: {error}")),
            };
        };
        if let Err(error) = keeper.keep_alive().await {
            return Renewal::Failed(format!("sending a keep-alive: {error}"));
        }
        match responses.message().await {
            Ok(Some(response)) if response.ttl() > 0 => Renewal::Renewed,
            Ok(Some(_)) => Renewal::Expired,
            Ok(None) => Renewal::Failed("the keep-alive stream ended".into()),
            Err(error) => Renewal::Failed(format!("reading the keep-alive answer: {error}")),
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Renewal::Failed(format!("no answer within {}ms", timeout.as_millis())))
}

/// Whether `key` is the election's leader key right now.
async fn still_leads(
    client: &etcd::Client,
    settings: &Settings,
    key: &[u8],
) -> Result<bool, String> {
    let mut client = client.clone();
    let lookup = client.leader(settings.prefix.as_bytes());
    match tokio::time::timeout(settings.request_timeout, lookup).await {
        Ok(Ok(response)) => Ok(response.kv().is_some_and(|kv| kv.key() == key)),
        Ok(Err(error)) if crate::elector::is_no_leader(&error) => Ok(false),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("the leader lookup timed out".into()),
    }
}
