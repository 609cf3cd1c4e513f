//! Peer authentication (DESIGN §1 runtime, §2 "access control": node-to-node traffic
//! authenticated). Mutual challenge–response over a fresh TCP connection, keyed by the cluster
//! secret, with blake3's keyed hash as the MAC:
//!
//! 1. dialer  -> `HELLO | dialer id | dialer nonce`
//! 2. accepter -> `HELLO | accepter id | accepter nonce | MAC("accepter", ids, dialer nonce, accepter nonce)`
//! 3. dialer  -> `MAC("dialer", ids, accepter nonce, dialer nonce)`
//!
//! Each side proves it knows the secret over a nonce the other just drew, so a recorded
//! handshake cannot be replayed, and a tampered one fails its MAC. The whole exchange must finish
//! within [`HANDSHAKE_TIMEOUT`].

use std::time::Duration;

use dfs_core::ids::NodeId;
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest a handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const HELLO: [u8; 6] = *b"dfsHS1";
const NONCE_BYTES: usize = 32;

/// The key every member derives from the cluster secret.
#[derive(Clone)]
pub struct ClusterKey([u8; 32]);

impl ClusterKey {
    /// Derives the MAC key from the operator's secret.
    pub fn from_secret(secret: &str) -> Self {
        Self(blake3::derive_key("dfs 2026-11 cluster handshake key", secret.as_bytes()))
    }

    /// The token a node sends with a chunk request, proving it holds the cluster secret.
    /// (A replayed token only repeats an idempotent, hash-checked transfer of that same chunk.)
    pub fn chunk_token(&self, node: NodeId, method: &str, chunk: &str) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(b"chunk-transfer");
        hasher.update(&node.0.to_be_bytes());
        hasher.update(method.as_bytes());
        hasher.update(chunk.as_bytes());
        hasher.finalize()
    }

    /// The token a node sends with a `POST /internal/verify` request, bound to its exact body.
    /// (A replayed token only repeats a read-only check of that same list of chunks.)
    pub fn verify_token(&self, node: NodeId, body: &[u8]) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(b"chunk-verify");
        hasher.update(&node.0.to_be_bytes());
        hasher.update(blake3::hash(body).as_bytes());
        hasher.finalize()
    }

    /// The token a node sends with a `POST /internal/join` request, bound to its exact body.
    /// (A replayed token only repeats a request to record addresses the node really had; a
    /// node whose recorded addresses are wrong asks again, and every link still passes the
    /// handshake.)
    pub fn join_token(&self, node: NodeId, body: &[u8]) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(b"member-join");
        hasher.update(&node.0.to_be_bytes());
        hasher.update(blake3::hash(body).as_bytes());
        hasher.finalize()
    }

    /// The MAC of a discovery announcement (`crate::discovery`): proves the announcer holds the
    /// cluster secret and binds its id to both addresses.
    pub fn discovery_mac(&self, node: NodeId, peer_addr: &str, http_addr: &str) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(b"discovery-announcement");
        hasher.update(&node.0.to_be_bytes());
        hasher.update(peer_addr.as_bytes());
        hasher.update(&[0]);
        hasher.update(http_addr.as_bytes());
        hasher.finalize()
    }

    fn mac(&self, role: &[u8], ids: (NodeId, NodeId), nonces: (&[u8], &[u8])) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(role);
        hasher.update(&ids.0 .0.to_be_bytes());
        hasher.update(&ids.1 .0.to_be_bytes());
        hasher.update(nonces.0);
        hasher.update(nonces.1);
        hasher.finalize()
    }
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The other side did not open with the dfs hello.
    #[error("peer did not speak the dfs handshake")]
    NotDfs,
    /// The other side's MAC is wrong: it does not hold the cluster secret, or the exchange was
    /// tampered with or replayed.
    #[error("peer failed authentication (wrong cluster secret, tampering or replay)")]
    BadMac,
    /// The accepter is not the node we meant to reach.
    #[error("reached {found} instead of {expected}")]
    WrongPeer {
        /// Who we dialed.
        expected: NodeId,
        /// Who answered.
        found: NodeId,
    },
    /// The exchange took longer than [`HANDSHAKE_TIMEOUT`].
    #[error("handshake timed out")]
    Timeout,
    /// The connection failed.
    #[error("connection failed during handshake")]
    Io(#[from] std::io::Error),
}

fn nonce() -> [u8; NONCE_BYTES] {
    let mut nonce = [0; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    nonce
}

async fn read_hello<S: AsyncReadExt + Unpin>(
    stream: &mut S,
) -> Result<(NodeId, [u8; NONCE_BYTES]), HandshakeError> {
    let mut hello = [0; HELLO.len()];
    stream.read_exact(&mut hello).await?;
    if hello != HELLO {
        return Err(HandshakeError::NotDfs);
    }
    let id = NodeId(stream.read_u64().await?);
    let mut nonce = [0; NONCE_BYTES];
    stream.read_exact(&mut nonce).await?;
    Ok((id, nonce))
}

async fn read_mac<S: AsyncReadExt + Unpin>(stream: &mut S) -> Result<blake3::Hash, HandshakeError> {
    let mut mac = [0; 32];
    stream.read_exact(&mut mac).await?;
    Ok(blake3::Hash::from_bytes(mac))
}

/// Authenticates an outgoing connection to `expected`; returns once both sides are proven.
pub async fn dial<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    stream: &mut S,
    key: &ClusterKey,
    me: NodeId,
    expected: NodeId,
) -> Result<(), HandshakeError> {
    let exchange = async {
        let mine = nonce();
        let mut hello = Vec::from(HELLO);
        hello.extend_from_slice(&me.0.to_be_bytes());
        hello.extend_from_slice(&mine);
        stream.write_all(&hello).await?;
        let (them, theirs) = read_hello(stream).await?;
        if them != expected {
            return Err(HandshakeError::WrongPeer { expected, found: them });
        }
        let their_mac = read_mac(stream).await?;
        // blake3::Hash compares in constant time.
        if their_mac != key.mac(b"accepter", (them, me), (&mine, &theirs)) {
            return Err(HandshakeError::BadMac);
        }
        let proof = key.mac(b"dialer", (me, them), (&theirs, &mine));
        stream.write_all(proof.as_bytes()).await?;
        stream.flush().await?;
        Ok(())
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange).await.map_err(|_| HandshakeError::Timeout)?
}

/// Authenticates an incoming connection; returns the proven id of the dialer.
pub async fn accept<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    stream: &mut S,
    key: &ClusterKey,
    me: NodeId,
) -> Result<NodeId, HandshakeError> {
    let exchange = async {
        let (them, theirs) = read_hello(stream).await?;
        let mine = nonce();
        let mut reply = Vec::from(HELLO);
        reply.extend_from_slice(&me.0.to_be_bytes());
        reply.extend_from_slice(&mine);
        reply.extend_from_slice(key.mac(b"accepter", (me, them), (&theirs, &mine)).as_bytes());
        stream.write_all(&reply).await?;
        stream.flush().await?;
        let their_mac = read_mac(stream).await?;
        if their_mac != key.mac(b"dialer", (them, me), (&mine, &theirs)) {
            return Err(HandshakeError::BadMac);
        }
        Ok(them)
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange).await.map_err(|_| HandshakeError::Timeout)?
}

#[cfg(test)]
mod tests;
