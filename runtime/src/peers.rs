//! Chunk transfer between nodes (DESIGN §1: chunk bytes never pass through core; the runtime
//! moves them). A node sends chunks to, and fetches them from, other members over their HTTP
//! listener at `/internal/chunks/{hash}`, each request carrying a token keyed by the cluster
//! secret. The receiver verifies the hash before storing; the fetcher verifies before using.
//! fsck asks members about their copies the same way (`POST /internal/verify`, a token bound to
//! the body), and cluster requests only another node can answer are forwarded too. What each
//! request carries and what its answer means is decided here, once; sending it sits behind
//! [`PeerClient`] ([`ReqwestClient`] in production, [`NetClient`](net_http::NetClient) over any
//! [`Net`](crate::net::Net) in the simulation).

/// Node-to-node HTTP over any [`crate::net::Net`] (the simulation's).
pub mod net_http;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, Method};
use bytes::Bytes;
use dfs_core::ids::{ChunkId, Hash, NodeId};

use crate::fsck::verify::{CopyState, VerifyAnswer, VerifyRequest, VERIFY_CHUNKS_MAX};
use crate::handshake::ClusterKey;
use crate::store::chunks::CHUNK_BYTES_MAX;
use crate::tls::PeerHttp;

/// Header naming the node that makes a chunk request.
pub const NODE_HEADER: &str = "x-dfs-node";
/// Header carrying the request's token.
pub const TOKEN_HEADER: &str = "x-dfs-token";
/// Header naming the node a replicate request should copy from.
pub const FROM_HEADER: &str = "x-dfs-from";
/// Header marking a join request a follower passed on to the leader: it is not passed again.
pub const RELAYED_HEADER: &str = "x-dfs-relayed";
/// Longest a join request may take (the leader commits up to two entries for it).
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a node waits for a connection to another node to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest one chunk transfer may take.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest one fsck verify batch may take (a node re-hashes up to
/// [`FSCK_BATCH_CHUNKS`](crate::fsck::check::FSCK_BATCH_CHUNKS) chunks for it).
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest verify answer read back (a few bytes per chunk).
pub const VERIFY_ANSWER_BYTES_MAX: usize = 64 * 1024 + 16 * VERIFY_CHUNKS_MAX;

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// No HTTP address is known for the node.
    #[error("no address known for {0}")]
    UnknownNode(NodeId),
    /// The node could not be reached or the request failed.
    #[error("{node} unreachable")]
    Unreachable {
        /// The node.
        node: NodeId,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The node answered with an error status.
    #[error("{node} answered {status}")]
    Refused {
        /// The node.
        node: NodeId,
        /// Its status.
        status: u16,
    },
    /// The node's answer is not what was asked for.
    #[error("{node} sent an answer that is not a verify answer")]
    BadAnswer {
        /// The node.
        node: NodeId,
    },
    /// The bytes received do not match the chunk's hash.
    #[error("{node} sent bytes that do not match {chunk}")]
    Corrupt {
        /// The node.
        node: NodeId,
        /// The chunk.
        chunk: ChunkId,
    },
}

/// An exchange in progress.
pub type TransferFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, TransferError>> + Send + 'a>>;

/// One request to another node's HTTP listener.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// The path and query, e.g. `/internal/chunks/ab12...`.
    pub path: String,
    /// Extra headers (node, token, content type, bearer token).
    pub headers: Vec<(HeaderName, String)>,
    /// The body (empty for most calls).
    pub body: Bytes,
    /// Longest the whole exchange may take.
    pub timeout: Duration,
    /// Largest answer body read back; a longer one is a bad answer.
    pub answer_bytes_max: usize,
}

/// How requests reach other nodes' HTTP listeners: reqwest in production ([`ReqwestClient`]),
/// plain HTTP over any [`Net`](crate::net::Net) in the simulation
/// ([`NetClient`](net_http::NetClient)). What to send, and what an answer means, is decided once,
/// in [`Peers`].
pub trait PeerClient: Send + Sync + 'static {
    /// Sends `call` to `node` at `addr`; its status and body, whatever the status. `Err` when no
    /// answer came (unreachable, timed out) or the answer was too long.
    fn exchange(&self, node: NodeId, addr: SocketAddr, call: Call) -> TransferFuture<'_, Relayed>;
}

/// A client API request to pass on to another node.
#[derive(Clone, Debug)]
pub struct Forward {
    /// `GET`, `POST` or `DELETE`.
    pub method: Method,
    /// The path and query, e.g. `/nodes/3/recover`.
    pub path: String,
    /// Longest the answer may take.
    pub timeout: Duration,
    /// The client's bearer token, so the other node checks the same user.
    pub token: Option<String>,
}

/// Another node's answer.
#[derive(Clone, Debug)]
pub struct Relayed {
    /// Its HTTP status.
    pub status: u16,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

/// Largest forwarded answer read back.
pub const RELAYED_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Largest answer to a chunk put or replicate (a short JSON acknowledgement).
const ACK_BYTES_MAX: usize = 64 * 1024;

/// Idle pooled connections to other nodes are dropped after this, well before the listeners'
/// header read timeout closes them (reusing a connection the server is closing fails a request).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Node-to-node HTTP(S) with reqwest: pooled connections, TLS when configured.
pub struct ReqwestClient {
    scheme: &'static str,
    client: reqwest::Client,
}

impl ReqwestClient {
    /// A client reaching other nodes as `http` says.
    pub fn new(http: &PeerHttp) -> Result<Self, reqwest::Error> {
        let client = http
            .client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_max_idle_per_host(16)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()?;
        Ok(Self { scheme: http.scheme(), client })
    }
}

impl PeerClient for ReqwestClient {
    fn exchange(&self, node: NodeId, addr: SocketAddr, call: Call) -> TransferFuture<'_, Relayed> {
        Box::pin(async move {
            let unreachable = |error: reqwest::Error| TransferError::Unreachable {
                node,
                source: Box::new(error),
            };
            let url = format!("{}://{addr}{}", self.scheme, call.path);
            let mut request = self.client.request(call.method, url).timeout(call.timeout);
            for (name, value) in call.headers {
                request = request.header(name, value);
            }
            let response = request.body(call.body).send().await.map_err(unreachable)?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            if response.content_length().is_some_and(|n| n > call.answer_bytes_max as u64) {
                return Err(TransferError::BadAnswer { node });
            }
            let body = response.bytes().await.map_err(unreachable)?;
            if body.len() > call.answer_bytes_max {
                return Err(TransferError::BadAnswer { node });
            }
            Ok(Relayed { status, headers, body })
        })
    }
}

/// The path of a chunk request (`PUT`/`GET` on `/internal/chunks/{hash}`, `POST` on
/// `/internal/replicate/{hash}`) and the token `me` signs it with.
fn chunk_route(me: NodeId, key: &ClusterKey, method: &str, chunk: ChunkId) -> (String, String) {
    let hex = chunk.0.to_hex();
    let token = key.chunk_token(me, method, &hex).to_hex().to_string();
    let route = if method == "POST" { "replicate" } else { "chunks" };
    (format!("/internal/{route}/{hex}"), token)
}

/// The other members' HTTP addresses and the way chunks and forwarded requests reach them.
pub struct Peers {
    me: NodeId,
    key: ClusterKey,
    http_addrs: BTreeMap<NodeId, SocketAddr>,
    client: Arc<dyn PeerClient>,
    book: Option<crate::discovery::AddressBook>,
}

impl Peers {
    /// The same directory, also looking up addresses learned at run time (through raft, or
    /// announced by discovery).
    pub fn with_addresses(mut self, book: crate::discovery::AddressBook) -> Self {
        self.book = Some(book);
        self
    }

    /// `node`'s HTTP address: this node's own, else the one learned at run time (recorded
    /// through raft by the node itself, or announced), else the configured one.
    fn lookup(&self, node: NodeId) -> Option<SocketAddr> {
        let configured = self.http_addrs.get(&node).copied();
        if node == self.me {
            return configured;
        }
        self.book.as_ref().and_then(|book| book.http_addr(node)).or(configured)
    }

    /// A directory of `http_addrs` (this node's own included) for node `me`, moving chunks over
    /// HTTP(S) as `http` says.
    pub fn new(
        me: NodeId,
        key: ClusterKey,
        http_addrs: BTreeMap<NodeId, SocketAddr>,
        http: &PeerHttp,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self::with_client(me, key, http_addrs, Arc::new(ReqwestClient::new(http)?)))
    }

    /// The same, reaching other nodes with `client` (the simulation's).
    pub fn with_client(
        me: NodeId,
        key: ClusterKey,
        http_addrs: BTreeMap<NodeId, SocketAddr>,
        client: Arc<dyn PeerClient>,
    ) -> Self {
        Self { me, key, http_addrs, client, book: None }
    }

    /// Passes a client API request on to `node` (one only it can answer); its answer.
    pub async fn forward(&self, node: NodeId, forward: Forward) -> Result<Relayed, TransferError> {
        let mut headers = Vec::new();
        if let Some(token) = forward.token {
            headers.push((header::AUTHORIZATION, format!("Bearer {token}")));
        }
        let call = Call {
            method: forward.method,
            path: forward.path,
            headers,
            body: Bytes::new(),
            timeout: forward.timeout,
            answer_bytes_max: RELAYED_BYTES_MAX,
        };
        self.client.exchange(node, self.addr(node)?, call).await
    }

    /// Sends an internal request signed with `token`; its body, or `Refused` on an error status.
    async fn internal(
        &self,
        node: NodeId,
        call: Call,
        token: String,
    ) -> Result<Bytes, TransferError> {
        let mut call = call;
        call.headers.push((HeaderName::from_static(NODE_HEADER), self.me.0.to_string()));
        call.headers.push((HeaderName::from_static(TOKEN_HEADER), token));
        let relayed = self.client.exchange(node, self.addr(node)?, call).await?;
        if !(200..300).contains(&relayed.status) {
            return Err(TransferError::Refused { node, status: relayed.status });
        }
        Ok(relayed.body)
    }

    /// A chunk request to `node`: `method` on the chunk's route, signed.
    async fn chunk_call(
        &self,
        node: NodeId,
        method: Method,
        chunk: ChunkId,
        extra: Option<(HeaderName, String)>,
        body: Bytes,
        answer_bytes_max: usize,
    ) -> Result<Bytes, TransferError> {
        let (path, token) = chunk_route(self.me, &self.key, method.as_str(), chunk);
        let headers = extra.into_iter().collect();
        let call =
            Call { method, path, headers, body, timeout: TRANSFER_TIMEOUT, answer_bytes_max };
        self.internal(node, call, token).await
    }

    /// This node.
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// The cluster key (to check incoming tokens).
    pub fn key(&self) -> &ClusterKey {
        &self.key
    }

    /// Whether an address is known for `node`.
    pub fn knows(&self, node: NodeId) -> bool {
        self.lookup(node).is_some()
    }

    /// The client API address of `node`, if known.
    pub fn http_addr(&self, node: NodeId) -> Option<SocketAddr> {
        self.lookup(node)
    }

    fn addr(&self, node: NodeId) -> Result<SocketAddr, TransferError> {
        self.lookup(node).ok_or(TransferError::UnknownNode(node))
    }

    /// Stores `bytes` as `chunk` on `node`; returns once it is durable there.
    pub async fn put_chunk(
        &self,
        node: NodeId,
        chunk: ChunkId,
        bytes: Bytes,
    ) -> Result<(), TransferError> {
        self.chunk_call(node, Method::PUT, chunk, None, bytes, ACK_BYTES_MAX).await?;
        Ok(())
    }

    /// Asks `node` to copy `chunk` from `from`; returns once it is durable there.
    pub async fn replicate_chunk(
        &self,
        node: NodeId,
        chunk: ChunkId,
        from: NodeId,
    ) -> Result<(), TransferError> {
        let from = (HeaderName::from_static(FROM_HEADER), from.0.to_string());
        self.chunk_call(node, Method::POST, chunk, Some(from), Bytes::new(), ACK_BYTES_MAX).await?;
        Ok(())
    }

    /// Asks `node` for the state of its copy of each of `chunks` (at most
    /// [`VERIFY_CHUNKS_MAX`]), re-hashing them when `rehash`; one state per chunk, in order.
    pub async fn verify_chunks(
        &self,
        node: NodeId,
        chunks: &[ChunkId],
        rehash: bool,
    ) -> Result<Vec<CopyState>, TransferError> {
        let request =
            VerifyRequest { chunks: chunks.iter().map(|c| c.0.to_hex()).collect(), rehash };
        let body = serde_json::to_vec(&request).expect("a list of strings always serializes");
        let body = Bytes::from(body);
        let token = self.key.verify_token(self.me, &body).to_hex().to_string();
        let call = Call {
            method: Method::POST,
            path: "/internal/verify".to_owned(),
            headers: vec![(header::CONTENT_TYPE, "application/json".to_owned())],
            body,
            timeout: VERIFY_TIMEOUT,
            answer_bytes_max: VERIFY_ANSWER_BYTES_MAX,
        };
        let answer = self.internal(node, call, token).await?;
        let answer: VerifyAnswer =
            serde_json::from_slice(&answer).map_err(|_| TransferError::BadAnswer { node })?;
        if answer.node != node.0 || answer.states.len() != chunks.len() {
            return Err(TransferError::BadAnswer { node });
        }
        Ok(answer.states)
    }

    /// Sends a join request (`dfs_core::membership`) to `node`, or to the seed at `seed` when
    /// given (`node` then only names it in errors); the answer whatever its status.
    /// `relayed` marks a follower passing the request on to the leader.
    pub async fn join(
        &self,
        node: NodeId,
        seed: Option<SocketAddr>,
        request: &dfs_core::membership::JoinRequest,
        relayed: bool,
    ) -> Result<Relayed, TransferError> {
        let body = serde_json::to_vec(request).expect("a join request always serializes");
        let body = Bytes::from(body);
        let token = self.key.join_token(self.me, &body).to_hex().to_string();
        let mut headers = vec![
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (HeaderName::from_static(NODE_HEADER), self.me.0.to_string()),
            (HeaderName::from_static(TOKEN_HEADER), token),
        ];
        if relayed {
            headers.push((HeaderName::from_static(RELAYED_HEADER), "1".to_owned()));
        }
        let call = Call {
            method: Method::POST,
            path: "/internal/join".to_owned(),
            headers,
            body,
            timeout: JOIN_TIMEOUT,
            answer_bytes_max: ACK_BYTES_MAX,
        };
        let addr = match seed {
            Some(addr) => addr,
            None => self.addr(node)?,
        };
        self.client.exchange(node, addr, call).await
    }

    /// Fetches `chunk` from `node` and checks its hash.
    pub async fn get_chunk(&self, node: NodeId, chunk: ChunkId) -> Result<Bytes, TransferError> {
        let bytes =
            self.chunk_call(node, Method::GET, chunk, None, Bytes::new(), CHUNK_BYTES_MAX).await?;
        let unchecked = crate::planted::active(crate::planted::Bug::SkipChunkVerify);
        if Hash::of(&bytes) != chunk.0 && !unchecked {
            return Err(TransferError::Corrupt { node, chunk });
        }
        Ok(bytes)
    }
}
