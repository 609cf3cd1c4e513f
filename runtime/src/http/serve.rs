//! The HTTP listener's connection loop (issue 8, hardening): accepts TCP connections, bounds them
//! per client IP, optionally speaks TLS, and serves each with hyper's HTTP/1.1 under a header
//! read timeout, so a slow-loris client loses its connection instead of holding it.
//!
//! Rules:
//! - **Connections per IP.** At most `connections_per_ip_max` open connections per client IP
//!   (peers included). One more is answered `429 too_many_connections` (after its TLS handshake,
//!   if any) and closed; while [`REJECTING_MAX`] such answers are already in flight, it is closed
//!   at once. The count is held by a guard for the connection's life.
//! - **Timeouts.** The TLS handshake and every request's headers must arrive within
//!   `header_read_timeout` (an idle keep-alive connection is closed after it too); a body that
//!   pauses longer than `body_read_timeout` fails its request (`408 body_timeout`, see
//!   [`super::limits`]).
//! - **Plain text on a TLS port.** A connection whose first byte is not a TLS handshake record
//!   is answered, in plain HTTP, `400 https_required`, and closed.
//! - **Client address.** Every request carries a [`ClientAddr`] extension (rate limiting keys on
//!   it when there is no token).
//! - **Shutdown.** Cancelling stops accepting; open connections finish their current request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::limits::{ClientAddr, TimedBody};
use super::ApiError;
use crate::conns::ConnCounter;
use crate::net::Net;

/// Over-limit connections being answered at once; beyond this they are closed unanswered.
pub const REJECTING_MAX: usize = 64;

/// Largest request head (request line and headers) answered: a larger one is refused with
/// `431 headers_too_large`, as JSON. hyper's own limit, far above, cuts a head it cannot
/// buffer with a bare 431.
pub const HEAD_BYTES_MAX: usize = 64 << 10;

/// Most headers in a request; more are refused with `431 headers_too_large`, as JSON.
pub const HEADERS_MAX: usize = 100;

/// Headers hyper parses before it gives up with a bare 431 (above [`HEADERS_MAX`], so that
/// limit answers first, in JSON).
const HEADERS_PARSED_MAX: usize = 4 * HEADERS_MAX;

/// How the listener serves connections.
#[derive(Clone)]
pub struct ServeSettings {
    /// TLS, or plain HTTP when `None`.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Open connections per client IP.
    pub connections_per_ip_max: u32,
    /// Longest a TLS handshake or a request's headers may take.
    pub header_read_timeout: Duration,
    /// Longest a request body may pause.
    pub body_read_timeout: Duration,
}

/// Serves `router` on `listener` (of `net`) until `shutdown` is cancelled.
pub async fn serve<N: Net>(
    net: Arc<N>,
    listener: N::Listener,
    router: Router,
    settings: ServeSettings,
    shutdown: CancellationToken,
) {
    let counter = Arc::new(ConnCounter::default());
    let rejecting = Arc::new(Semaphore::new(REJECTING_MAX));
    loop {
        let (stream, addr) = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            accepted = net.accept(&listener) => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(%error, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // `Net::accept` turns Nagle off: small responses must not wait out delayed ACKs.
        let settings = settings.clone();
        let shutdown = shutdown.clone();
        match counter.try_open(addr.ip(), settings.connections_per_ip_max) {
            Some(guard) => {
                let (router, net) = (router.clone(), net.clone());
                tokio::spawn(async move {
                    let _guard = guard;
                    let answer = Answer::Api(router);
                    connection(&*net, stream, addr, answer, settings, shutdown).await;
                });
            }
            None => {
                let Ok(permit) = rejecting.clone().try_acquire_owned() else {
                    tracing::debug!(%addr, "connection over the per-ip limit closed unanswered");
                    continue;
                };
                tracing::debug!(%addr, "connection over the per-ip limit refused");
                let net = net.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let answer = Answer::TooManyConnections;
                    connection(&*net, stream, addr, answer, settings, shutdown).await;
                });
            }
        }
    }
}

/// What a connection's requests get.
#[derive(Clone)]
enum Answer {
    /// The client API.
    Api(Router),
    /// `429 too_many_connections`, then close.
    TooManyConnections,
    /// `400 https_required` (plain HTTP on the TLS port), then close.
    HttpsRequired,
}

/// The first byte of a TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Runs one connection: TLS if configured, then HTTP/1.1 answering as `answer` says.
async fn connection<N: Net>(
    net: &N,
    mut stream: N::Stream,
    addr: SocketAddr,
    answer: Answer,
    settings: ServeSettings,
    shutdown: CancellationToken,
) {
    let Some(acceptor) = settings.tls.clone() else {
        return http(stream, addr, answer, &settings, shutdown).await;
    };
    let mut first = [0u8; 1];
    match tokio::time::timeout(settings.header_read_timeout, net.peek(&mut stream, &mut first))
        .await
    {
        Ok(Ok(1)) if first[0] != TLS_HANDSHAKE_RECORD => {
            tracing::debug!(%addr, "plain text on the tls listener");
            return http(stream, addr, Answer::HttpsRequired, &settings, shutdown).await;
        }
        Ok(Ok(1)) => {}
        _ => return,
    }
    let handshake = acceptor.accept(stream);
    match tokio::time::timeout(settings.header_read_timeout, handshake).await {
        Ok(Ok(tls)) => http(tls, addr, answer, &settings, shutdown).await,
        Ok(Err(error)) => tracing::debug!(%addr, %error, "tls handshake failed"),
        Err(_) => tracing::debug!(%addr, "tls handshake timed out"),
    }
}

async fn http<S>(
    stream: S,
    addr: SocketAddr,
    answer: Answer,
    settings: &ServeSettings,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let body_timeout = settings.body_read_timeout;
    let keep_alive = matches!(answer, Answer::Api(_));
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let answer = answer.clone();
        async move {
            let router = match answer {
                Answer::Api(router) => router,
                Answer::TooManyConnections => return Ok(too_many_connections()),
                Answer::HttpsRequired => return Ok(https_required()),
            };
            if let Some(refusal) = head_too_large(&request) {
                return Ok(closing(refusal));
            }
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(ClientAddr(addr));
            let body = Body::new(TimedBody::new(body, body_timeout));
            router.oneshot(Request::from_parts(parts, body)).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_headers(HEADERS_PARSED_MAX)
        .keep_alive(keep_alive);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let outcome = tokio::select! {
        biased;
        outcome = connection.as_mut() => outcome,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = outcome {
        tracing::debug!(%addr, %error, "http connection ended with an error");
    }
}

/// `431 headers_too_large` when the request's head is over [`HEAD_BYTES_MAX`] or it has more
/// than [`HEADERS_MAX`] headers.
fn head_too_large<B>(request: &Request<B>) -> Option<ApiError> {
    let headers = request.headers();
    // Each header line is `name: value\r\n`.
    let bytes = request.uri().to_string().len()
        + headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>();
    if bytes <= HEAD_BYTES_MAX && headers.len() <= HEADERS_MAX {
        return None;
    }
    Some(ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
        format!(
            "the request's headers are too large ({} headers, about {bytes} bytes; at most {HEADERS_MAX} headers and {HEAD_BYTES_MAX} bytes)",
            headers.len()
        ),
    ))
}

/// The answer to plain HTTP on the TLS listener.
fn https_required() -> Response<Body> {
    closing(ApiError::new(
        StatusCode::BAD_REQUEST,
        "https_required",
        "this node serves HTTPS only: use an https:// URL",
    ))
}

/// The answer to a connection over the per-IP limit.
fn too_many_connections() -> Response<Body> {
    let mut response = closing(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_connections",
        "too many open connections from your address; close some, or retry later",
    ));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// `error` as a response that closes the connection.
fn closing(error: ApiError) -> Response<Body> {
    let mut response = error.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
