//! Node-to-node HTTP over any [`Net`]: plain HTTP/1.1, one connection per request, with the same
//! routes, tokens and limits as [`HttpTransfer`](super::HttpTransfer). The simulation moves
//! chunks and forwards requests with it over turmoil's network; production uses reqwest, which
//! pools connections and speaks TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request};
use bytes::Bytes;
use dfs_core::ids::{ChunkId, NodeId};
use hyper_util::rt::TokioIo;

use super::{
    chunk_route, ChunkTransfer, Forward, Relayed, TransferError, TransferFuture, FROM_HEADER,
    NODE_HEADER, RELAYED_BYTES_MAX, TOKEN_HEADER, TRANSFER_TIMEOUT, VERIFY_ANSWER_BYTES_MAX,
    VERIFY_TIMEOUT,
};
use crate::handshake::ClusterKey;
use crate::net::Net;
use crate::store::chunks::CHUNK_BYTES_MAX;

/// Chunk transfer and forwarding for node `me` over `net`.
pub struct NetTransfer<N: Net> {
    net: Arc<N>,
    me: NodeId,
    key: ClusterKey,
}

impl<N: Net> NetTransfer<N> {
    /// A transfer client for node `me` on `net`, signing with `key`.
    pub fn new(net: Arc<N>, me: NodeId, key: ClusterKey) -> Self {
        Self { net, me, key }
    }

    /// A signed request for `chunk` to `node`, with `body` and the `from` node of a replicate.
    fn chunk_request(
        &self,
        node: NodeId,
        method: Method,
        addr: SocketAddr,
        chunk: ChunkId,
        body: Body,
        from: Option<NodeId>,
    ) -> Result<Request<Body>, TransferError> {
        let (path, token) = chunk_route(self.me, &self.key, method.as_str(), chunk);
        let mut request = self.request(method, addr, &path).header(TOKEN_HEADER, token);
        if let Some(from) = from {
            request = request.header(FROM_HEADER, from.0.to_string());
        }
        request.body(body).map_err(|_| TransferError::BadAnswer { node })
    }

    fn request(
        &self,
        method: Method,
        addr: SocketAddr,
        path: &str,
    ) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, addr.to_string())
            .header(NODE_HEADER, self.me.0.to_string())
    }

    /// Sends `request` to `node` at `addr` on a new connection; its status and body (at most
    /// `limit` bytes), all within `timeout`.
    async fn exchange(
        &self,
        node: NodeId,
        addr: SocketAddr,
        request: Request<Body>,
        timeout: Duration,
        limit: usize,
    ) -> Result<Relayed, TransferError> {
        let unreachable = |source: Box<dyn std::error::Error + Send + Sync>| {
            TransferError::Unreachable { node, source }
        };
        let exchange = async {
            let stream = self.net.connect(addr).await.map_err(|e| unreachable(e.into()))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| unreachable(e.into()))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            let response = sender.send_request(request).await.map_err(|e| unreachable(e.into()))?;
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(Body::new(response.into_body()), limit)
                .await
                .map_err(|_| TransferError::BadAnswer { node })?;
            Ok(Relayed { status, body })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(elapsed) => Err(unreachable(elapsed.into())),
        }
    }

    /// Like [`Self::exchange`], with an error status as `Refused`.
    async fn send(
        &self,
        node: NodeId,
        addr: SocketAddr,
        request: Request<Body>,
        timeout: Duration,
        limit: usize,
    ) -> Result<Bytes, TransferError> {
        let relayed = self.exchange(node, addr, request, timeout, limit).await?;
        if !(200..300).contains(&relayed.status) {
            return Err(TransferError::Refused { node, status: relayed.status });
        }
        Ok(relayed.body)
    }
}

impl<N: Net> ChunkTransfer for NetTransfer<N> {
    fn put(
        &self,
        node: NodeId,
        addr: SocketAddr,
        chunk: ChunkId,
        bytes: Bytes,
    ) -> TransferFuture<'_, ()> {
        Box::pin(async move {
            let request =
                self.chunk_request(node, Method::PUT, addr, chunk, Body::from(bytes), None)?;
            self.send(node, addr, request, TRANSFER_TIMEOUT, 64 * 1024).await?;
            Ok(())
        })
    }

    fn get(&self, node: NodeId, addr: SocketAddr, chunk: ChunkId) -> TransferFuture<'_, Bytes> {
        Box::pin(async move {
            let request =
                self.chunk_request(node, Method::GET, addr, chunk, Body::empty(), None)?;
            self.send(node, addr, request, TRANSFER_TIMEOUT, CHUNK_BYTES_MAX).await
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
            let request =
                self.chunk_request(node, Method::POST, addr, chunk, Body::empty(), Some(from))?;
            self.send(node, addr, request, TRANSFER_TIMEOUT, 64 * 1024).await?;
            Ok(())
        })
    }

    fn verify(&self, node: NodeId, addr: SocketAddr, body: Bytes) -> TransferFuture<'_, Bytes> {
        Box::pin(async move {
            let token = self.key.verify_token(self.me, &body).to_hex().to_string();
            let request = self
                .request(Method::POST, addr, "/internal/verify")
                .header(TOKEN_HEADER, token)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .map_err(|_| TransferError::BadAnswer { node })?;
            self.send(node, addr, request, VERIFY_TIMEOUT, VERIFY_ANSWER_BYTES_MAX).await
        })
    }

    fn forward(
        &self,
        node: NodeId,
        addr: SocketAddr,
        forward: Forward,
    ) -> TransferFuture<'_, Relayed> {
        Box::pin(async move {
            let mut request = self.request(forward.method, addr, &forward.path);
            if let Some(token) = &forward.token {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let request =
                request.body(Body::empty()).map_err(|_| TransferError::BadAnswer { node })?;
            self.exchange(node, addr, request, forward.timeout, RELAYED_BYTES_MAX).await
        })
    }
}
