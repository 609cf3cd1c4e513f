//! Chunk transfer between nodes (DESIGN §1: chunk bytes never pass through core; the runtime
//! moves them). A node sends chunks to, and fetches them from, other members over their HTTP
//! listener at `/internal/chunks/{hash}`, each request carrying a token keyed by the cluster
//! secret. The receiver verifies the hash before storing; the fetcher verifies before using.
//! The moving of bytes sits behind [`ChunkTransfer`] ([`HttpTransfer`] in production), so the
//! simulation can carry chunks over its own network. fsck asks members about their copies the
//! same way (`POST /internal/verify`, a token bound to the body).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dfs_core::ids::{ChunkId, Hash, NodeId};

use crate::fsck::verify::{CopyState, VerifyAnswer, VerifyRequest, VERIFY_CHUNKS_MAX};
use crate::handshake::ClusterKey;
use crate::tls::PeerHttp;

/// Header naming the node that makes a chunk request.
pub const NODE_HEADER: &str = "x-dfs-node";
/// Header carrying the request's token.
pub const TOKEN_HEADER: &str = "x-dfs-token";
/// Header naming the node a replicate request should copy from.
pub const FROM_HEADER: &str = "x-dfs-from";
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

/// A transfer in progress.
pub type TransferFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, TransferError>> + Send + 'a>>;

/// Moves one chunk's bytes to or from another node.
pub trait ChunkTransfer: Send + Sync + 'static {
    /// Stores `bytes` as `chunk` on `node` (at `addr`); resolves once it is durable there.
    fn put(
        &self,
        node: NodeId,
        addr: SocketAddr,
        chunk: ChunkId,
        bytes: Bytes,
    ) -> TransferFuture<'_, ()>;
    /// Fetches `chunk` from `node` (at `addr`), unverified.
    fn get(&self, node: NodeId, addr: SocketAddr, chunk: ChunkId) -> TransferFuture<'_, Bytes>;
    /// Asks `node` (at `addr`) to copy `chunk` from node `from` into its store; resolves once
    /// the copy is durable there.
    fn replicate(
        &self,
        node: NodeId,
        addr: SocketAddr,
        chunk: ChunkId,
        from: NodeId,
    ) -> TransferFuture<'_, ()>;
    /// Sends a verify request body (a [`VerifyRequest`] as JSON) to `node`; its answer's bytes.
    fn verify(&self, node: NodeId, addr: SocketAddr, body: Bytes) -> TransferFuture<'_, Bytes>;
}

/// Idle pooled connections to other nodes are dropped after this, well before the listeners'
/// header read timeout closes them (reusing a connection the server is closing fails a request).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Chunk transfer over the nodes' HTTP listeners, with a cluster token per request.
pub struct HttpTransfer {
    me: NodeId,
    key: ClusterKey,
    scheme: &'static str,
    client: reqwest::Client,
}

impl HttpTransfer {
    /// A transfer client for node `me`, reaching other nodes as `http` says.
    pub fn new(me: NodeId, key: ClusterKey, http: &PeerHttp) -> Result<Self, reqwest::Error> {
        let client = http
            .client_builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(TRANSFER_TIMEOUT)
            .pool_max_idle_per_host(16)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()?;
        Ok(Self { me, key, scheme: http.scheme(), client })
    }

    fn request(
        &self,
        method: reqwest::Method,
        addr: SocketAddr,
        chunk: ChunkId,
    ) -> reqwest::RequestBuilder {
        let hex = chunk.0.to_hex();
        let token = self.key.chunk_token(self.me, method.as_str(), &hex);
        let route = if method == reqwest::Method::POST { "replicate" } else { "chunks" };
        self.client
            .request(method, format!("{}://{addr}/internal/{route}/{hex}", self.scheme))
            .header(NODE_HEADER, self.me.0.to_string())
            .header(TOKEN_HEADER, token.to_hex().as_str())
    }
}

fn unreachable(node: NodeId) -> impl FnOnce(reqwest::Error) -> TransferError {
    move |error| TransferError::Unreachable { node, source: Box::new(error) }
}

/// Sends `request` to `node`; an error status is `Refused`.
async fn send(
    node: NodeId,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, TransferError> {
    let response = request.send().await.map_err(unreachable(node))?;
    if !response.status().is_success() {
        return Err(TransferError::Refused { node, status: response.status().as_u16() });
    }
    Ok(response)
}

impl ChunkTransfer for HttpTransfer {
    fn put(
        &self,
        node: NodeId,
        addr: SocketAddr,
        chunk: ChunkId,
        bytes: Bytes,
    ) -> TransferFuture<'_, ()> {
        Box::pin(async move {
            send(node, self.request(reqwest::Method::PUT, addr, chunk).body(bytes)).await?;
            Ok(())
        })
    }

    fn get(&self, node: NodeId, addr: SocketAddr, chunk: ChunkId) -> TransferFuture<'_, Bytes> {
        Box::pin(async move {
            let response = send(node, self.request(reqwest::Method::GET, addr, chunk)).await?;
            response.bytes().await.map_err(unreachable(node))
        })
    }

    fn replicate(
        &self,
        node: NodeId,
        addr: SocketAddr,
        chunk: ChunkId,
        from: NodeId,
    ) -> TransferFuture<'_, ()> {
        Box::pin(async move {
            let request = self.request(reqwest::Method::POST, addr, chunk);
            send(node, request.header(FROM_HEADER, from.0.to_string())).await?;
            Ok(())
        })
    }

    fn verify(&self, node: NodeId, addr: SocketAddr, body: Bytes) -> TransferFuture<'_, Bytes> {
        Box::pin(async move {
            let token = self.key.verify_token(self.me, &body);
            let request = self
                .client
                .post(format!("{}://{addr}/internal/verify", self.scheme))
                .timeout(VERIFY_TIMEOUT)
                .header(NODE_HEADER, self.me.0.to_string())
                .header(TOKEN_HEADER, token.to_hex().as_str())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
            let response = send(node, request).await?;
            if response.content_length().is_some_and(|n| n > VERIFY_ANSWER_BYTES_MAX as u64) {
                return Err(TransferError::BadAnswer { node });
            }
            let bytes = response.bytes().await.map_err(unreachable(node))?;
            if bytes.len() > VERIFY_ANSWER_BYTES_MAX {
                return Err(TransferError::BadAnswer { node });
            }
            Ok(bytes)
        })
    }
}

/// The other members' HTTP addresses and the way chunks reach them.
pub struct Peers {
    me: NodeId,
    key: ClusterKey,
    http_addrs: BTreeMap<NodeId, SocketAddr>,
    transfer: Arc<dyn ChunkTransfer>,
    scheme: &'static str,
    forwarder: reqwest::Client,
    book: Option<crate::discovery::AddressBook>,
}

impl Peers {
    /// The same directory, also looking up addresses discovery learns at run time.
    pub fn with_addresses(mut self, book: crate::discovery::AddressBook) -> Self {
        self.book = Some(book);
        self
    }

    fn lookup(&self, node: NodeId) -> Option<SocketAddr> {
        self.http_addrs.get(&node).copied().or_else(|| self.book.as_ref()?.http_addr(node))
    }

    /// A directory of `http_addrs` (this node's own included) for node `me`, moving chunks over
    /// HTTP(S) as `http` says.
    pub fn new(
        me: NodeId,
        key: ClusterKey,
        http_addrs: BTreeMap<NodeId, SocketAddr>,
        http: &PeerHttp,
    ) -> Result<Self, reqwest::Error> {
        let transfer = Arc::new(HttpTransfer::new(me, key.clone(), http)?);
        let forwarder = http.client_builder().pool_idle_timeout(POOL_IDLE_TIMEOUT).build()?;
        Ok(Self { me, key, http_addrs, transfer, scheme: http.scheme(), forwarder, book: None })
    }

    /// The same, moving chunks with `transfer` (the simulation's) and forwarding over plain HTTP.
    pub fn with_transfer(
        me: NodeId,
        key: ClusterKey,
        http_addrs: BTreeMap<NodeId, SocketAddr>,
        transfer: Arc<dyn ChunkTransfer>,
    ) -> Result<Self, reqwest::Error> {
        let forwarder = PeerHttp::plain().client_builder().build()?;
        Ok(Self { me, key, http_addrs, transfer, scheme: "http", forwarder, book: None })
    }

    /// The client and base URL (`http://addr` or `https://addr`) for forwarding a client
    /// request to `node`, if its address is known.
    pub fn forward_target(&self, node: NodeId) -> Option<(&reqwest::Client, String)> {
        let addr = self.lookup(node)?;
        Some((&self.forwarder, format!("{}://{addr}", self.scheme)))
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
        self.transfer.put(node, self.addr(node)?, chunk, bytes).await
    }

    /// Asks `node` to copy `chunk` from `from`; returns once it is durable there.
    pub async fn replicate_chunk(
        &self,
        node: NodeId,
        chunk: ChunkId,
        from: NodeId,
    ) -> Result<(), TransferError> {
        self.transfer.replicate(node, self.addr(node)?, chunk, from).await
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
        let answer = self.transfer.verify(node, self.addr(node)?, Bytes::from(body)).await?;
        let answer: VerifyAnswer =
            serde_json::from_slice(&answer).map_err(|_| TransferError::BadAnswer { node })?;
        if answer.node != node.0 || answer.states.len() != chunks.len() {
            return Err(TransferError::BadAnswer { node });
        }
        Ok(answer.states)
    }

    /// Fetches `chunk` from `node` and checks its hash.
    pub async fn get_chunk(&self, node: NodeId, chunk: ChunkId) -> Result<Bytes, TransferError> {
        let bytes = self.transfer.get(node, self.addr(node)?, chunk).await?;
        if Hash::of(&bytes) != chunk.0 {
            return Err(TransferError::Corrupt { node, chunk });
        }
        Ok(bytes)
    }
}
