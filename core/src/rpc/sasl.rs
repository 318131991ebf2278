//! Alluxio's channel authentication, served by masters and workers. A stock Alluxio client opens
//! `SaslAuthenticationService.authenticate` on each new channel before its first call: SIMPLE
//! sends one SASL PLAIN message (`authzid NUL user NUL password`) under a fresh channel id, the
//! server answers SUCCESS and both keep the stream open; every later call carries the channel id
//! in its `channel-id` header, which names the caller for as long as the stream lives. A NOSASL
//! client skips the stream and its calls name nobody.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::alluxio::grpc::sasl::sasl_authentication_service_server::{
    SaslAuthenticationService, SaslAuthenticationServiceServer,
};
use super::alluxio::grpc::sasl::{ChannelAuthenticationScheme, SaslMessage, SaslMessageType};

/// The header in which Alluxio's client sends its channel id with every call.
pub const CHANNEL_ID_HEADER: &str = "channel-id";
/// The longest user name a client may authenticate as.
const MAX_USER_LENGTH: usize = 255;

/// Which user each authenticated channel is, shared by the services of one server.
#[derive(Debug, Clone, Default)]
pub struct AuthenticatedChannels {
    inner: Arc<Channels>,
}

#[derive(Debug, Default)]
struct Channels {
    /// Channel id → (user, which authentication stream registered it).
    users: Mutex<HashMap<String, (String, u64)>>,
    next_stream: AtomicU64,
}

impl AuthenticatedChannels {
    /// An empty registry.
    pub fn new() -> AuthenticatedChannels {
        AuthenticatedChannels::default()
    }

    /// The user the caller's channel authenticated as, if it did.
    pub fn user_of<T>(&self, request: &Request<T>) -> Option<String> {
        let channel = request.metadata().get(CHANNEL_ID_HEADER)?.to_str().ok()?;
        self.inner.users.lock().get(channel).map(|(user, _)| user.clone())
    }

    /// How many channels are authenticated now.
    pub fn len(&self) -> usize {
        self.inner.users.lock().len()
    }

    /// Whether no channel is authenticated.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The gRPC service that authenticates channels into this registry.
    pub fn service(&self) -> SaslAuthenticationServiceServer<SaslService> {
        SaslAuthenticationServiceServer::new(SaslService { channels: self.clone() })
    }

    fn register(&self, channel: &str, user: String) -> u64 {
        let stream = self.inner.next_stream.fetch_add(1, Ordering::Relaxed);
        self.inner.users.lock().insert(channel.to_string(), (user, stream));
        stream
    }

    /// Forgets `channel` unless a newer stream has authenticated it again since.
    fn unregister(&self, channel: &str, stream: u64) {
        let mut users = self.inner.users.lock();
        if users.get(channel).is_some_and(|(_, s)| *s == stream) {
            users.remove(channel);
        }
    }
}

/// `alluxio.grpc.sasl.SaslAuthenticationService`, serving SIMPLE (SASL PLAIN).
#[derive(Debug, Clone)]
pub struct SaslService {
    channels: AuthenticatedChannels,
}

/// The user a SIMPLE client's first message authenticates, or why it cannot.
pub fn plain_user(message: &SaslMessage) -> Result<String, String> {
    let scheme = message.authentication_scheme();
    if scheme == ChannelAuthenticationScheme::Nosasl {
        return Err("a NOSASL client does not authenticate its channel".into());
    }
    if message.message_type() != SaslMessageType::Challenge {
        return Err("the first SASL message must be the client's CHALLENGE".into());
    }
    let bytes = message.message.as_deref().unwrap_or_default();
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "the SASL PLAIN message is not UTF-8".to_string())?;
    let mut parts = text.split('\0');
    let (Some(acting_as), Some(user), Some(_password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the SASL PLAIN message is not `authzid NUL user NUL password`".into());
    };
    if user.is_empty() || user.len() > MAX_USER_LENGTH || user.chars().any(char::is_control) {
        return Err(format!(
            "the user name {user:?} is empty, longer than {MAX_USER_LENGTH} bytes or holds control characters"
        ));
    }
    if !acting_as.is_empty() && acting_as != user {
        return Err(format!(
            "{user} asked to act as {acting_as}: Lode does not support impersonation"
        ));
    }
    Ok(user.to_string())
}

type SaslStream = Pin<Box<dyn Stream<Item = Result<SaslMessage, Status>> + Send>>;

#[tonic::async_trait]
impl SaslAuthenticationService for SaslService {
    #[allow(non_camel_case_types)] // tonic names it after the lower-case RPC.
    type authenticateStream = SaslStream;

    async fn authenticate(
        &self,
        request: Request<Streaming<SaslMessage>>,
    ) -> Result<Response<SaslStream>, Status> {
        let mut inbound = request.into_inner();
        let (answers, answered) = mpsc::channel(1);
        let channels = self.channels.clone();
        tokio::spawn(async move {
            let Ok(Some(first)) = inbound.message().await else { return };
            let channel = first.client_id.clone().unwrap_or_default();
            let user = match plain_user(&first) {
                Ok(_) if channel.is_empty() => Err("the SASL message names no channel".into()),
                other => other,
            };
            let user = match user {
                Ok(user) => user,
                Err(why) => {
                    tracing::debug!(%channel, %why, "refused a channel's authentication");
                    let _ = answers.send(Err(Status::unauthenticated(why))).await;
                    return;
                }
            };
            let stream = channels.register(&channel, user);
            let success = SaslMessage {
                message_type: Some(SaslMessageType::Success as i32),
                client_id: Some(channel.clone()),
                ..SaslMessage::default()
            };
            if answers.send(Ok(success)).await.is_ok() {
                // The channel stays authenticated until its client ends the stream or goes away.
                while let Ok(Some(_)) = inbound.message().await {}
            }
            channels.unregister(&channel, stream);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(answered))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &[u8]) -> SaslMessage {
        SaslMessage {
            message_type: Some(SaslMessageType::Challenge as i32),
            message: Some(text.to_vec()),
            client_id: Some("3f1c".into()),
            authentication_scheme: Some(ChannelAuthenticationScheme::Simple as i32),
            channel_ref: None,
        }
    }

    #[test]
    fn plain_names_the_user_and_refuses_impersonation_and_garbage() {
        assert_eq!(plain_user(&plain(b"\0alice\0noPassword")).unwrap(), "alice");
        assert_eq!(plain_user(&plain(b"alice\0alice\0pw")).unwrap(), "alice");
        assert!(plain_user(&plain(b"bob\0alice\0pw")).unwrap_err().contains("impersonation"));
        assert!(plain_user(&plain(b"alice")).unwrap_err().contains("authzid NUL user"));
        assert!(plain_user(&plain(b"\0\0pw")).unwrap_err().contains("empty"));
        assert!(plain_user(&plain(b"\0a\x01b\0pw")).unwrap_err().contains("control"));
        assert!(plain_user(&plain(b"\0\xff\0pw")).unwrap_err().contains("UTF-8"));
        let mut nosasl = plain(b"\0alice\0pw");
        nosasl.authentication_scheme = Some(ChannelAuthenticationScheme::Nosasl as i32);
        assert!(plain_user(&nosasl).unwrap_err().contains("NOSASL"));
    }

    #[test]
    fn a_channel_is_forgotten_only_by_the_stream_that_registered_it() {
        let channels = AuthenticatedChannels::new();
        let first = channels.register("c1", "alice".into());
        let second = channels.register("c1", "alice".into());
        channels.unregister("c1", first);
        let mut request = Request::new(());
        request.metadata_mut().insert(CHANNEL_ID_HEADER, "c1".parse().unwrap());
        assert_eq!(channels.user_of(&request).as_deref(), Some("alice"));
        channels.unregister("c1", second);
        assert_eq!(channels.user_of(&request), None);
    }
}
