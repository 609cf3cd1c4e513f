//! Per-request limits of the client API (issue 8, hardening): a body that stalls fails its
//! request ([`TimedBody`], `408 body_timeout`), and each client has a token bucket of requests
//! ([`RateLimiter`], `429 rate_limited` with `Retry-After`). Connection limits and the header
//! timeout are in [`super::serve`]; the body size limit in `write.rs`.
//!
//! Rules:
//! - **Who is a client.** The user of a request whose bearer token is valid (set by
//!   [`super::auth::authenticate`], which runs first), else its IP address: invented or wrong
//!   tokens share their IP's bucket, so they cannot multiply a client's rate.
//! - **Bounded.** At most [`RATE_CLIENTS_MAX`] clients are tracked; when full, clients whose
//!   bucket has refilled are forgotten first (they lose nothing), then arbitrary ones.
//! - **Stalled bodies.** The wait for the next piece of a body is bounded, not the whole body:
//!   a large upload may take as long as it keeps moving (nginx's `client_body_timeout`).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::ApiError;

/// Clients whose request rate is tracked at once.
pub const RATE_CLIENTS_MAX: usize = 65_536;

/// The body stalled for longer than the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled for more than {} ms", .0.as_millis())]
pub struct BodyStalled(pub Duration);

/// The address of the client that sent a request (a request extension the listener adds,
/// [`super::serve`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// A request body whose every wait for more bytes is bounded.
pub struct TimedBody<B> {
    inner: B,
    idle_max: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<B> TimedBody<B> {
    /// Wraps `inner`; it fails with [`BodyStalled`] if no bytes arrive for `idle_max`.
    pub fn new(inner: B, idle_max: Duration) -> Self {
        Self { inner, idle_max, deadline: Box::pin(tokio::time::sleep(idle_max)) }
    }
}

impl<B> HttpBody for TimedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = Instant::now() + this.idle_max;
                this.deadline.as_mut().reset(next);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled(this.idle_max))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a body error is a stall (so the answer is 408, not 400).
pub fn is_stall(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<BodyStalled>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// A client's identity for rate limiting.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ClientKey {
    User(blake3::Hash),
    Ip(std::net::IpAddr),
    Unknown,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets of requests, one per client.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<ClientKey, Bucket>>,
}

impl RateLimiter {
    /// `per_sec` sustained requests and `burst` at once per client; `None` when `per_sec` is 0.
    pub fn new(per_sec: u32, burst: u32) -> Option<Arc<Self>> {
        (per_sec > 0).then(|| {
            Arc::new(Self {
                per_sec: f64::from(per_sec),
                burst: f64::from(burst.max(1)),
                buckets: Mutex::new(HashMap::new()),
            })
        })
    }

    /// Takes one request from `key`'s bucket; `Err(wait)` when it is empty.
    fn take(&self, key: ClientKey, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= RATE_CLIENTS_MAX && !buckets.contains_key(&key) {
            self.forget_idle(&mut buckets, now);
        }
        let fresh = Bucket { tokens: self.burst, at: now };
        let bucket = buckets.entry(key).or_insert(fresh);
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_sec;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_sec))
    }

    /// Makes room: drops every client whose bucket is full again, or else arbitrary ones.
    fn forget_idle(&self, buckets: &mut HashMap<ClientKey, Bucket>, now: Instant) {
        let full_after = Duration::from_secs_f64(self.burst / self.per_sec);
        buckets.retain(|_, b| now.saturating_duration_since(b.at) < full_after);
        // Still full: forget an eighth at once, so the sweep above runs rarely under churn.
        if buckets.len() >= RATE_CLIENTS_MAX {
            let excess = buckets.len() - RATE_CLIENTS_MAX * 7 / 8;
            let victims: Vec<ClientKey> = buckets.keys().take(excess).cloned().collect();
            for key in victims {
                buckets.remove(&key);
            }
        }
    }
}

fn client_key(request: &Request) -> ClientKey {
    let caller = request.extensions().get::<dfs_core::auth::Caller>();
    match (caller, request.extensions().get::<ClientAddr>()) {
        (Some(caller), _) => ClientKey::User(blake3::hash(caller.user.0.as_bytes())),
        (None, Some(addr)) => ClientKey::Ip(addr.0.ip()),
        (None, None) => ClientKey::Unknown,
    }
}

/// Middleware: answers `429 rate_limited` when the client's bucket is empty.
pub async fn rate_limit(
    State(limiter): State<Option<Arc<RateLimiter>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limiter) = limiter else { return next.run(request).await };
    match limiter.take(client_key(&request), Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let secs = wait.as_secs().max(1);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from this client; retry in {secs} s"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_the_burst_then_the_rate_and_clients_are_separate() {
        let limiter = RateLimiter::new(10, 3).expect("on");
        let t0 = Instant::now();
        let alice = ClientKey::Ip([10, 0, 0, 1].into());
        for _ in 0..3 {
            assert_eq!(limiter.take(alice.clone(), t0), Ok(()));
        }
        let wait = limiter.take(alice.clone(), t0).expect_err("burst spent");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert_eq!(limiter.take(ClientKey::Ip([10, 0, 0, 2].into()), t0), Ok(()), "others served");
        assert_eq!(limiter.take(alice, t0 + Duration::from_millis(100)), Ok(()), "refilled");
        assert!(RateLimiter::new(0, 5).is_none(), "0 turns it off");
    }

    #[test]
    fn the_client_table_stays_bounded() {
        let limiter = RateLimiter::new(1, 1).expect("on");
        let t0 = Instant::now();
        for n in 0..(RATE_CLIENTS_MAX as u64 + 10) {
            let key = ClientKey::User(blake3::hash(&n.to_be_bytes()));
            assert_eq!(limiter.take(key, t0), Ok(()));
        }
        let held = limiter.buckets.lock().map(|b| b.len()).unwrap_or(0);
        assert!(held <= RATE_CLIENTS_MAX, "{held}");
    }
}
