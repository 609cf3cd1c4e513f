//! Node-to-node HTTP over any [`Net`]: plain HTTP/1.1, one connection per request. The
//! simulation moves chunks and forwards requests with it over turmoil's network; production uses
//! [`ReqwestClient`](super::ReqwestClient), which pools connections and speaks TLS.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request};
use dfs_core::ids::NodeId;
use hyper_util::rt::TokioIo;

use super::{Call, PeerClient, Relayed, TransferError, TransferFuture};
use crate::net::Net;

/// Plain HTTP to other nodes over `net`.
pub struct NetClient<N: Net> {
    net: Arc<N>,
}

impl<N: Net> NetClient<N> {
    /// A client on `net`.
    pub fn new(net: Arc<N>) -> Self {
        Self { net }
    }
}

impl<N: Net> PeerClient for NetClient<N> {
    fn exchange(&self, node: NodeId, addr: SocketAddr, call: Call) -> TransferFuture<'_, Relayed> {
        Box::pin(async move {
            let unreachable = |source: Box<dyn std::error::Error + Send + Sync>| {
                TransferError::Unreachable { node, source }
            };
            let mut request = Request::builder()
                .method(call.method)
                .uri(call.path)
                .header(header::HOST, addr.to_string());
            for (name, value) in call.headers {
                request = request.header(name, value);
            }
            let request = request
                .body(Body::from(call.body))
                .map_err(|_| TransferError::BadAnswer { node })?;
            let exchange = async {
                let stream = self.net.connect(addr).await.map_err(|e| unreachable(e.into()))?;
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(|e| unreachable(e.into()))?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                let response =
                    sender.send_request(request).await.map_err(|e| unreachable(e.into()))?;
                let status = response.status().as_u16();
                let (parts, body) = response.into_parts();
                let body = Body::new(body);
                let body = axum::body::to_bytes(body, call.answer_bytes_max)
                    .await
                    .map_err(|_| TransferError::BadAnswer { node })?;
                Ok(Relayed { status, headers: parts.headers, body })
            };
            match tokio::time::timeout(call.timeout, exchange).await {
                Ok(result) => result,
                Err(elapsed) => Err(unreachable(elapsed.into())),
            }
        })
    }
}
