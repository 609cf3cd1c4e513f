//! HTTP from a simulated client host to a node: the runtime's own node-to-node client
//! ([`NetClient`]) on turmoil's TCP, as the cluster's admin (or a given user), bounded in time and in the size of
//! what it reads back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, Method};
use bytes::Bytes;
use dfs_core::ids::NodeId;
use dfs_runtime::peers::net_http::NetClient;
use dfs_runtime::peers::{Call, PeerClient};

use crate::platform::TurmoilNet;

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
    call_as(ADMIN_TOKEN, addr, method, path, headers, body, timeout).await
}

/// [`call`] with `token` instead of the admin's.
pub async fn call_as(
    token: &str,
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&'static str, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<Answer, String> {
    let mut all = vec![(header::AUTHORIZATION, format!("Bearer {token}"))];
    all.extend(headers.iter().map(|(name, value)| (HeaderName::from_static(name), value.clone())));
    send(addr, method, path, all, body, timeout).await
}

/// One request with exactly `headers` (an S3 client signs its own `Authorization`).
pub async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: Vec<(HeaderName, String)>,
    body: Bytes,
    timeout: Duration,
) -> Result<Answer, String> {
    let call = Call {
        method,
        path: path.to_owned(),
        headers,
        body,
        timeout,
        answer_bytes_max: ANSWER_BYTES_MAX,
    };
    let client = NetClient::new(Arc::new(TurmoilNet));
    // The node id only labels errors.
    let relayed = client.exchange(NodeId(0), addr, call).await.map_err(|e| e.to_string())?;
    Ok(Answer { status: relayed.status, headers: relayed.headers, body: relayed.body })
}
