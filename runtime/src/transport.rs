//! Peer transport (DESIGN §1 runtime): one authenticated TCP connection per peer pair, carrying
//! core's frames both ways. The lower id dials (reconnecting with backoff), the higher id
//! accepts; a newer accepted connection replaces an older one. Outbound queues are bounded and
//! drop when full (raft retransmits); inbound frames apply back-pressure to the socket. A peer
//! that fails the handshake, or sends a frame over `frame_bytes_max` or one that does not decode,
//! is logged and disconnected. At most `handshakes_per_ip_max` unauthenticated connections per IP
//! (and [`HANDSHAKES_INFLIGHT_MAX`] in all) may be in their handshake; more are closed at once,
//! so strangers cannot crowd out a peer that reconnects.
//!
//! A link that has sent nothing for [`KEEPALIVE_EVERY`] sends an empty keepalive frame; a link
//! whose reads or writes make no progress for [`SILENCE_MAX`] is closed and dialed again (a
//! large frame on a slow link is fine as long as its bytes keep moving). Without this, a connection that silently stopped delivering (a peer that
//! vanished behind a partition, a segment lost for good) would hold the pair apart until the
//! kernel gave up on it, minutes later.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use dfs_core::ids::NodeId;
use dfs_core::wire::{self, Message};
use dfs_core::Input;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::conns::ConnCounter;
use crate::driver::handle::DriverInput;
use crate::handshake::{self, ClusterKey};
use crate::net::Net;

/// Messages queued for one peer before new ones are dropped.
pub const OUTBOUND_QUEUE_MAX: usize = 4096;
/// Handshakes running at once; more connections are closed at once.
pub const HANDSHAKES_INFLIGHT_MAX: usize = 64;
/// Backoff between dial attempts: from the first to the largest. The largest is short because a
/// restarted peer waits for the lower id to dial it: its catch-up starts at most this late.
pub const DIAL_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(20), Duration::from_millis(250));

/// How long a link may send nothing before it sends a keepalive frame.
pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(1);
/// How long a link's reads or writes may make no progress before it is closed and redialed.
pub const SILENCE_MAX: Duration = Duration::from_secs(5);
/// Messages and bytes (besides the last frame) one write gathers from the queue.
const BATCH_MESSAGES_MAX: usize = 256;
const BATCH_BYTES_MAX: usize = 1024 * 1024;

/// Sends messages to peers; cheap to clone.
#[derive(Clone)]
pub struct Transport {
    routes: Arc<dyn Outbound>,
    dropped: Arc<AtomicU64>,
    states: LinkStates,
}

/// Whether each peer is connected now; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct LinkStates(Arc<RwLock<BTreeMap<NodeId, bool>>>);

impl LinkStates {
    /// Every peer and whether its connection is up, in id order.
    pub fn snapshot(&self) -> Vec<(NodeId, bool)> {
        let map = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.iter().map(|(peer, up)| (*peer, *up)).collect()
    }

    fn set(&self, peer: NodeId, up: bool) {
        let mut map = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(peer, up);
    }
}

impl Transport {
    /// Queues `message` for `to`, opening a link to it first if there is none (its address
    /// comes from the address book); drops it (counted) if the queue is full.
    pub fn send(&self, to: NodeId, message: Message) {
        let Some(link) = self.routes.outbound(to) else {
            tracing::debug!(peer = %to, "no link to peer; message dropped");
            return;
        };
        if link.try_send(message).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(peer = %to, "peer queue full; message dropped");
        }
    }

    /// Opens a link to `peer` if there is none yet (a member learned at run time).
    pub fn link(&self, peer: NodeId) {
        let _ = self.routes.outbound(peer);
    }

    /// Messages dropped because a queue was full.
    pub fn dropped_count(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Which peers are connected.
    pub fn link_states(&self) -> LinkStates {
        self.states.clone()
    }
}

/// Most links one node keeps (members it was configured with or learned, and authenticated
/// peers that dialed it).
pub const LINKS_MAX: usize = 1024;

/// The outbound queue of a peer's link, opened on first use.
trait Outbound: Send + Sync {
    fn outbound(&self, peer: NodeId) -> Option<mpsc::Sender<Message>>;
}

/// Both ends of one peer's link task: its outbound queue, and where accepted connections from
/// the peer are handed over.
struct Route<S> {
    outbound: mpsc::Sender<Message>,
    accepted: mpsc::Sender<S>,
}

impl<S> Clone for Route<S> {
    fn clone(&self) -> Self {
        Self { outbound: self.outbound.clone(), accepted: self.accepted.clone() }
    }
}

/// Every peer's link, opened on demand: for the configured peers at start, and later for any
/// member raft sends to or any authenticated peer that dials in.
struct LinkTable<N: Net> {
    link: Link<N>,
    routes: Mutex<BTreeMap<NodeId, Route<N::Stream>>>,
}

impl<N: Net> LinkTable<N> {
    /// `peer`'s route, spawning its link task (dialing `addr` unless the book knows better)
    /// if it has none; `None` for this node itself or when [`LINKS_MAX`] links exist.
    fn route(&self, peer: NodeId, addr: SocketAddr) -> Option<Route<N::Stream>> {
        if peer == self.link.me || peer.0 == 0 {
            return None;
        }
        let mut routes = self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(route) = routes.get(&peer) {
            return Some(route.clone());
        }
        if routes.len() >= LINKS_MAX {
            tracing::warn!(%peer, "too many peer links; not linking");
            return None;
        }
        let (outbound, rx) = mpsc::channel(OUTBOUND_QUEUE_MAX);
        // Every peer's route stays open (a closed one would wake its link forever); the
        // acceptor hands over only connections from lower ids, which are the ones that dial us.
        let (accepted, conn_rx) = mpsc::channel(4);
        let route = Route { outbound, accepted };
        routes.insert(peer, route.clone());
        self.link.states.set(peer, false);
        tokio::spawn(self.link.clone().run(peer, addr, rx, conn_rx));
        Some(route)
    }
}

impl<N: Net> Outbound for LinkTable<N> {
    fn outbound(&self, peer: NodeId) -> Option<mpsc::Sender<Message>> {
        self.route(peer, crate::discovery::UNKNOWN_ADDR).map(|route| route.outbound)
    }
}

/// What the transport needs to run.
pub struct TransportSetup<N: Net> {
    /// The network it runs on.
    pub net: Arc<N>,
    /// This node.
    pub me: NodeId,
    /// The cluster key.
    pub key: ClusterKey,
    /// The bound peer listener.
    pub listener: N::Listener,
    /// Every other member and its peer address.
    pub peers: Vec<(NodeId, SocketAddr)>,
    /// Where decoded peer messages go.
    pub inbound: mpsc::Sender<DriverInput>,
    /// Largest frame accepted or sent.
    pub frame_bytes_max: u32,
    /// Connections from one IP address that may be in their handshake at once.
    pub handshakes_per_ip_max: u32,
    /// Stops every task.
    pub shutdown: CancellationToken,
}

/// Starts the acceptor and one task per peer; returns the sending half.
pub fn start<N: Net>(setup: TransportSetup<N>) -> Transport {
    start_with_addresses(setup, None)
}

/// [`start`], dialing each peer at the address `book` has for it when it has one (discovery,
/// and the addresses recorded through raft; a peer listed at
/// [`crate::discovery::UNKNOWN_ADDR`] is not dialed until then).
pub fn start_with_addresses<N: Net>(
    setup: TransportSetup<N>,
    book: Option<crate::discovery::AddressBook>,
) -> Transport {
    let states = LinkStates::default();
    let link = Link {
        states: states.clone(),
        net: setup.net.clone(),
        me: setup.me,
        key: setup.key.clone(),
        inbound: setup.inbound,
        frame_bytes_max: setup.frame_bytes_max,
        shutdown: setup.shutdown.clone(),
        book,
    };
    let table = Arc::new(LinkTable { link, routes: Mutex::new(BTreeMap::new()) });
    for (peer, addr) in setup.peers {
        table.route(peer, addr);
    }
    tokio::spawn(accept_loop(
        setup.net,
        setup.listener,
        Acceptor {
            key: setup.key,
            me: setup.me,
            routes: table.clone(),
            handshakes_per_ip_max: setup.handshakes_per_ip_max,
        },
        setup.shutdown,
    ));
    Transport { routes: table, dropped: Arc::new(AtomicU64::new(0)), states }
}

/// What the accept loop needs besides the listener.
struct Acceptor<N: Net> {
    key: ClusterKey,
    me: NodeId,
    routes: Arc<LinkTable<N>>,
    handshakes_per_ip_max: u32,
}

async fn accept_loop<N: Net>(
    net: Arc<N>,
    listener: N::Listener,
    acceptor: Acceptor<N>,
    shutdown: CancellationToken,
) {
    let Acceptor { key, me, routes, handshakes_per_ip_max } = acceptor;
    let permits = Arc::new(Semaphore::new(HANDSHAKES_INFLIGHT_MAX));
    let per_ip = Arc::new(ConnCounter::default());
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            accepted = net.accept(&listener) => accepted,
        };
        let (mut stream, addr) = match accepted {
            Ok(ok) => ok,
            Err(error) => {
                tracing::warn!(%error, "peer accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(counted) = per_ip.try_open(addr.ip(), handshakes_per_ip_max) else {
            tracing::warn!(%addr, "too many peer handshakes from one address; connection closed");
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%addr, "too many peer handshakes at once; connection closed");
            continue;
        };
        let (key, routes) = (key.clone(), routes.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let result = handshake::accept(&mut stream, &key, me).await;
            drop(counted);
            match result {
                Ok(peer) => match (peer < me)
                    .then(|| routes.route(peer, crate::discovery::UNKNOWN_ADDR))
                    .flatten()
                {
                    Some(route) => {
                        let _ = route.accepted.send(stream).await;
                    }
                    None => {
                        tracing::warn!(%peer, %addr, "authenticated peer is not one we accept connections from")
                    }
                },
                Err(error) => tracing::warn!(%addr, %error, "peer refused at handshake"),
            }
        });
    }
}

struct Link<N: Net> {
    states: LinkStates,
    net: Arc<N>,
    me: NodeId,
    key: ClusterKey,
    inbound: mpsc::Sender<DriverInput>,
    frame_bytes_max: u32,
    shutdown: CancellationToken,
    book: Option<crate::discovery::AddressBook>,
}

impl<N: Net> Clone for Link<N> {
    fn clone(&self) -> Self {
        Self {
            states: self.states.clone(),
            net: self.net.clone(),
            me: self.me,
            key: self.key.clone(),
            inbound: self.inbound.clone(),
            frame_bytes_max: self.frame_bytes_max,
            shutdown: self.shutdown.clone(),
            book: self.book.clone(),
        }
    }
}

impl<N: Net> Link<N> {
    async fn run(
        self,
        peer: NodeId,
        addr: SocketAddr,
        mut outbound: mpsc::Receiver<Message>,
        mut accepted: mpsc::Receiver<N::Stream>,
    ) {
        let mut next: Option<N::Stream> = None;
        loop {
            let stream = match next.take() {
                Some(stream) => stream,
                None if peer > self.me => match self.dial(peer, addr).await {
                    Some(stream) => stream,
                    None => return,
                },
                None => tokio::select! {
                    biased;
                    () = self.shutdown.cancelled() => return,
                    stream = accepted.recv() => match stream { Some(s) => s, None => return },
                },
            };
            tracing::info!(node = %self.me, %peer, "peer connected");
            self.states.set(peer, true);
            next = self.serve(peer, stream, &mut outbound, &mut accepted).await;
            self.states.set(peer, false);
            if self.shutdown.is_cancelled() {
                return;
            }
            tracing::info!(node = %self.me, %peer, "peer disconnected");
        }
    }

    /// Dials until connected and authenticated, backing off; `None` on shutdown.
    async fn dial(&self, peer: NodeId, addr: SocketAddr) -> Option<N::Stream> {
        let mut backoff = DIAL_BACKOFF.0;
        loop {
            let addr = self.book.as_ref().and_then(|b| b.peer_addr(peer)).unwrap_or(addr);
            let attempt = async {
                if addr == crate::discovery::UNKNOWN_ADDR {
                    // Not discovered yet: wait and look again.
                    let unknown =
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no address yet");
                    return Err(handshake::HandshakeError::Io(unknown));
                }
                let mut stream = self.net.connect(addr).await?;
                handshake::dial(&mut stream, &self.key, self.me, peer).await?;
                Ok::<_, handshake::HandshakeError>(stream)
            };
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return None,
                result = attempt => match result {
                    Ok(stream) => return Some(stream),
                    Err(handshake::HandshakeError::Io(_)) => {}
                    Err(error) => tracing::warn!(node = %self.me, %peer, %error, "peer handshake failed"),
                },
            }
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return None,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(DIAL_BACKOFF.1);
        }
    }

    /// Runs one connection until it fails; returns a newer connection that replaced it, if any.
    async fn serve(
        &self,
        peer: NodeId,
        stream: N::Stream,
        outbound: &mut mpsc::Receiver<Message>,
        accepted: &mut mpsc::Receiver<N::Stream>,
    ) -> Option<N::Stream> {
        let (read, write) = tokio::io::split(stream);
        let mut reader =
            tokio::spawn(read_loop(read, peer, self.inbound.clone(), self.frame_bytes_max));
        let mut writer = write;
        let mut quiet_until = tokio::time::Instant::now() + KEEPALIVE_EVERY;
        let replaced = loop {
            let bytes = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break None,
                _ = &mut reader => break None,
                newer = accepted.recv() => break newer,
                message = outbound.recv() => {
                    let Some(message) = message else { break None };
                    self.batch(message, outbound)
                }
                () = tokio::time::sleep_until(quiet_until) => wire::KEEPALIVE.to_vec(),
            };
            if let Err(error) = write_progressing(&mut writer, &bytes).await {
                tracing::info!(node = %self.me, %peer, %error, "peer link write failed");
                break None;
            }
            quiet_until = tokio::time::Instant::now() + KEEPALIVE_EVERY;
        };
        reader.abort();
        replaced
    }

    /// The frames of `first` and of whatever else is queued, up to a batch.
    fn batch(&self, first: Message, outbound: &mut mpsc::Receiver<Message>) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut message = Some(first);
        let mut count = 0;
        while let Some(m) = message.take() {
            match wire::encode(&m, self.frame_bytes_max) {
                Ok(frame) => bytes.extend_from_slice(&frame),
                Err(error) => tracing::error!(%error, "outgoing message does not encode; dropped"),
            }
            count += 1;
            if count < BATCH_MESSAGES_MAX && bytes.len() < BATCH_BYTES_MAX {
                message = outbound.try_recv().ok();
            }
        }
        bytes
    }
}

/// Writes all of `bytes`, failing if the connection fails or accepts nothing for
/// [`SILENCE_MAX`].
async fn write_progressing<W: AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
) -> std::io::Result<()> {
    let stalled = || std::io::Error::new(std::io::ErrorKind::TimedOut, "peer accepts no bytes");
    let mut written = 0;
    while written < bytes.len() {
        let n = tokio::time::timeout(SILENCE_MAX, writer.write(&bytes[written..]))
            .await
            .map_err(|_| stalled())??;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        written += n;
    }
    tokio::time::timeout(SILENCE_MAX, writer.flush()).await.map_err(|_| stalled())?
}

async fn read_loop<S: tokio::io::AsyncRead>(
    read: ReadHalf<S>,
    peer: NodeId,
    inbound: mpsc::Sender<DriverInput>,
    max: u32,
) {
    let mut reader = BufReader::new(read);
    let mut header = [0u8; wire::HEADER_BYTES];
    loop {
        if !read_within(&mut reader, &mut header, peer).await {
            return;
        }
        let len = match wire::parse_header(&header, max) {
            Ok(0) => continue,
            Ok(len) => len,
            Err(error) => {
                tracing::warn!(%peer, %error, "bad frame from peer; disconnecting");
                return;
            }
        };
        let mut payload = vec![0; len];
        if !read_within(&mut reader, &mut payload, peer).await {
            return;
        }
        match wire::decode_payload(&payload) {
            Ok(message) => {
                let input = DriverInput::Core(Input::Peer { from: peer, message });
                if inbound.send(input).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(%peer, %error, "undecodable frame from peer; disconnecting");
                return;
            }
        }
    }
}

/// Fills `buf` unless the connection fails or delivers nothing for [`SILENCE_MAX`] (the peer
/// sends a keepalive at least every [`KEEPALIVE_EVERY`]); whether it did.
async fn read_within<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8], peer: NodeId) -> bool {
    let mut filled = 0;
    while filled < buf.len() {
        match tokio::time::timeout(SILENCE_MAX, reader.read(&mut buf[filled..])).await {
            Ok(Ok(0) | Err(_)) => return false,
            Ok(Ok(n)) => filled += n,
            Err(_) => {
                tracing::info!(%peer, "peer link silent too long; reconnecting");
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests;
