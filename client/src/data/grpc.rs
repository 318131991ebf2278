//! Block reads as raw gRPC calls (see `lode_core::rpc::messages`): chunk bytes go from the
//! HTTP/2 frames they arrive in straight to the sink.

use lode_core::rpc::messages::Messages;

use super::WorkerChannel;

/// A call's response stream.
pub(super) type Replies = Messages<hyper::body::Incoming>;

/// Starts `method` (`/package.Service/Method`) on `channel` to `worker` with `body` as the
/// request stream, and returns the response stream once the worker has accepted the call.
pub(super) async fn call(
    channel: &mut WorkerChannel,
    worker: &str,
    method: &str,
    body: tonic::body::Body,
) -> Result<(Replies, bool), String> {
    let request = http::Request::post(format!("http://{worker}{method}"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .body(body)
        .map_err(|e| format!("{worker}: {e}"))?;
    let response = channel.0.send_request(request).await;
    let (head, body) = response.map_err(|e| format!("the call failed: {e}"))?.into_parts();
    if head.status != http::StatusCode::OK {
        return Err(format!("the worker answered HTTP {}", head.status));
    }
    // A call refused at once is answered with headers alone, carrying the status.
    let ended = status(&head.headers)?;
    Ok((Messages::new(body), ended))
}

/// Whether `headers` carry a gRPC status: `Ok(true)` for success, the worker's message for a
/// failure, `Ok(false)` when there is none.
pub(super) fn status(headers: &http::HeaderMap) -> Result<bool, String> {
    if !headers.contains_key("grpc-status") {
        return Ok(false);
    }
    // tonic panics on undecodable status details, which Lode's client does not use anyway.
    let mut headers = headers.clone();
    headers.remove("grpc-status-details-bin");
    match tonic::Status::from_header_map(&headers) {
        Some(status) if status.code() == tonic::Code::Ok => Ok(true),
        Some(status) => Err(status.message().to_string()),
        None => Ok(false),
    }
}

/// The call's outcome once its messages are read: `Ok` when the worker ended it with success
/// (`ended`: in the response's headers already).
pub(super) fn outcome(replies: &Replies, ended: bool) -> Result<(), String> {
    let ended = match replies.trailers() {
        Some(trailers) => ended | status(trailers)?,
        None => ended,
    };
    if ended {
        Ok(())
    } else {
        Err("the stream ended without a status".into())
    }
}

/// `error`, met while reading, or the worker's own reason when its trailers give one.
pub(super) fn explain(replies: &Replies, error: String) -> String {
    let failure = replies.trailers().and_then(|trailers| status(trailers).err());
    failure.unwrap_or(error)
}
