//! Chunk transfer between nodes (DESIGN §1: chunk bytes never pass through core; the runtime
//! moves them). A node sends chunks to, and fetches them from, other members over their HTTP
//! listener at `/internal/chunks/{hash}`, each request carrying a token keyed by the cluster
//! secret. The receiver verifies the hash before storing; the fetcher verifies before using.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use dfs_core::ids::{ChunkId, Hash, NodeId};

use crate::handshake::ClusterKey;

/// Header naming the node that makes a chunk request.
pub const NODE_HEADER: &str = "x-dfs-node";
/// Header carrying the request's token.
pub const TOKEN_HEADER: &str = "x-dfs-token";
/// Longest one chunk transfer may take.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

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
        source: reqwest::Error,
    },
    /// The node answered with an error status.
    #[error("{node} answered {status}")]
    Refused {
        /// The node.
        node: NodeId,
        /// Its status.
        status: u16,
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

/// The other members' HTTP addresses and a client to reach them.
pub struct Peers {
    me: NodeId,
    key: ClusterKey,
    http_addrs: BTreeMap<NodeId, SocketAddr>,
    client: reqwest::Client,
}

impl Peers {
    /// A directory of `http_addrs` (this node's own included) for node `me`.
    pub fn new(me: NodeId, key: ClusterKey, http_addrs: BTreeMap<NodeId, SocketAddr>) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(TRANSFER_TIMEOUT)
            .pool_max_idle_per_host(16)
            .build()
            .unwrap_or_default();
        Self { me, key, http_addrs, client }
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
        self.http_addrs.contains_key(&node)
    }

    fn url(&self, node: NodeId, chunk: ChunkId) -> Result<(String, String), TransferError> {
        let addr = self.http_addrs.get(&node).ok_or(TransferError::UnknownNode(node))?;
        let hex = chunk.0.to_hex();
        Ok((format!("http://{addr}/internal/chunks/{hex}"), hex))
    }

    /// Stores `bytes` as `chunk` on `node`; returns once it is durable there.
    pub async fn put_chunk(
        &self,
        node: NodeId,
        chunk: ChunkId,
        bytes: Bytes,
    ) -> Result<(), TransferError> {
        let (url, hex) = self.url(node, chunk)?;
        let token = self.key.chunk_token(self.me, "PUT", &hex);
        let response = self
            .client
            .put(url)
            .header(NODE_HEADER, self.me.0.to_string())
            .header(TOKEN_HEADER, token.to_hex().as_str())
            .body(bytes)
            .send()
            .await
            .map_err(|source| TransferError::Unreachable { node, source })?;
        if !response.status().is_success() {
            return Err(TransferError::Refused { node, status: response.status().as_u16() });
        }
        Ok(())
    }

    /// Fetches `chunk` from `node` and checks its hash.
    pub async fn get_chunk(&self, node: NodeId, chunk: ChunkId) -> Result<Bytes, TransferError> {
        let (url, hex) = self.url(node, chunk)?;
        let token = self.key.chunk_token(self.me, "GET", &hex);
        let response = self
            .client
            .get(url)
            .header(NODE_HEADER, self.me.0.to_string())
            .header(TOKEN_HEADER, token.to_hex().as_str())
            .send()
            .await
            .map_err(|source| TransferError::Unreachable { node, source })?;
        if !response.status().is_success() {
            return Err(TransferError::Refused { node, status: response.status().as_u16() });
        }
        let bytes =
            response.bytes().await.map_err(|source| TransferError::Unreachable { node, source })?;
        if Hash::of(&bytes) != chunk.0 {
            return Err(TransferError::Corrupt { node, chunk });
        }
        Ok(bytes)
    }
}
