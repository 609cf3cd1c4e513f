//! HTTP from a simulated client host to a node: one request per connection over turmoil's TCP,
//! bounded in time and in the size of what it reads back.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request};
use bytes::Bytes;
use hyper_util::rt::TokioIo;

/// The cluster's bootstrap admin token, which every simulated client uses.
pub const ADMIN_TOKEN: &str = "admin.00112233445566778899aabbccddeeff";

/// Largest answer body read back (the largest file the workload writes, with room).
pub const ANSWER_BYTES_MAX: usize = 8 * 1024 * 1024;

/// A node's answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// A header as text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One request: `method` on `path` at `addr` with `headers` and `body`, within `timeout`. `Err`
/// when no answer came (refused, cut off, timed out): the request may or may not have acted.
pub async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&'static str, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<Answer, String> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, addr.to_string())
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"));
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let request = request.body(Body::from(body)).map_err(|e| format!("bad request: {e}"))?;
    let exchange = async {
        let stream =
            turmoil::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::task::spawn_local(async move {
            let _ = connection.await;
        });
        let response = sender.send_request(request).await.map_err(|e| format!("send: {e}"))?;
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(Body::new(body), ANSWER_BYTES_MAX)
            .await
            .map_err(|e| format!("body: {e}"))?;
        Ok(Answer { status, headers: parts.headers, body })
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| "timed out".to_owned())?
}
