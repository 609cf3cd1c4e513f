//! Node-to-node HTTP over any [`Net`]: plain HTTP/1.1, one connection per request, opened within
//! [`CONNECT_TIMEOUT`] like production's. The
//! simulation moves chunks and forwards requests with it over turmoil's network; production uses
//! [`ReqwestClient`](super::ReqwestClient), which pools connections and speaks TLS.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request};
use dfs_core::ids::NodeId;
use hyper_util::rt::TokioIo;

use super::{Call, PeerClient, Relayed, TransferError, TransferFuture, CONNECT_TIMEOUT};
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
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, self.net.connect(addr))
                    .await
                    .map_err(|elapsed| unreachable(elapsed.into()))?
                    .map_err(|e| unreachable(e.into()))?;
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

#[cfg(test)]
mod tests {
    use std::io;
    use std::time::Duration;

    use axum::http::Method;
    use bytes::Bytes;
    use tokio::io::DuplexStream;

    use super::*;
    use crate::peers::TRANSFER_TIMEOUT;

    /// A network where a connection never opens (a peer behind a partition that drops SYNs).
    struct BlackHole;

    impl Net for BlackHole {
        type Stream = DuplexStream;
        type Listener = ();

        async fn bind(&self, _: SocketAddr) -> io::Result<()> {
            Ok(())
        }
        fn local_addr(&self, _: &()) -> io::Result<SocketAddr> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn peek<'a>(
            &self,
            _: &'a mut DuplexStream,
            _: &'a mut [u8],
        ) -> impl std::future::Future<Output = io::Result<usize>> + Send + 'a {
            std::future::ready(Err(io::ErrorKind::Unsupported.into()))
        }
        async fn connect(&self, _: SocketAddr) -> io::Result<DuplexStream> {
            std::future::pending().await
        }
        async fn accept(&self, _: &()) -> io::Result<(DuplexStream, SocketAddr)> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_opens_fails_after_the_connect_timeout() {
        let client = NetClient::new(Arc::new(BlackHole));
        let call = Call {
            method: Method::POST,
            path: "/internal/replicate/00".to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
            timeout: TRANSFER_TIMEOUT,
            answer_bytes_max: 1024,
        };
        let started = tokio::time::Instant::now();
        let result = client.exchange(NodeId(2), ([10, 0, 0, 2], 80).into(), call).await;
        assert!(matches!(result, Err(TransferError::Unreachable { .. })), "{result:?}");
        let waited = started.elapsed();
        assert!(waited >= CONNECT_TIMEOUT && waited < CONNECT_TIMEOUT + Duration::from_secs(1));
    }
}
