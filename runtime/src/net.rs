//! The network seam (DESIGN §1 runtime: network and disk behind small traits). The peer
//! transport, the HTTP listener and node-to-node HTTP run on any [`Net`]: tokio's TCP in
//! production ([`TokioNet`]), turmoil's simulated TCP in the simulation. Streams must deliver
//! bytes in order or fail, like TCP.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// Connecting and accepting byte streams.
pub trait Net: Send + Sync + 'static {
    /// A connected stream.
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    /// A bound listener.
    type Listener: Send + Sync + 'static;

    /// Binds a listener to `addr` (port 0 picks a free port).
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// The address `listener` is bound to.
    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr>;

    /// Reads into `buf` without consuming (to tell TLS from plain text on the HTTP listener).
    fn peek<'a>(
        &self,
        stream: &'a mut Self::Stream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;

    /// Opens a stream to `addr` (with Nagle off: raft messages are small and latency-bound).
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Waits for the next incoming stream.
    fn accept(
        &self,
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
}

/// tokio's real TCP.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioNet;

impl Net for TokioNet {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }

    fn local_addr(&self, listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    fn peek<'a>(
        &self,
        stream: &'a mut Self::Stream,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        stream.peek(buf)
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn accept(&self, listener: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, addr) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, addr))
    }
}
