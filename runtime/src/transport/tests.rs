//! The transport on an in-memory [`Net`]: messages flow both ways over the one connection a pair
//! shares, which also shows the seam the simulation plugs its network into.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use dfs_core::wire::RaftMessage;
use tokio::io::DuplexStream;

use super::*;

/// Streams are tokio duplex pipes; listeners are channels of them.
#[derive(Default)]
struct MemNet {
    listeners: Mutex<BTreeMap<SocketAddr, mpsc::Sender<(DuplexStream, SocketAddr)>>>,
}

struct MemListener(tokio::sync::Mutex<mpsc::Receiver<(DuplexStream, SocketAddr)>>, SocketAddr);

impl MemNet {
    fn listen(&self, addr: SocketAddr) -> MemListener {
        let (tx, rx) = mpsc::channel(16);
        self.listeners.lock().expect("lock").insert(addr, tx);
        MemListener(tokio::sync::Mutex::new(rx), addr)
    }
}

impl Net for MemNet {
    type Stream = DuplexStream;
    type Listener = MemListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<MemListener> {
        Ok(self.listen(addr))
    }

    fn local_addr(&self, listener: &MemListener) -> io::Result<SocketAddr> {
        Ok(listener.1)
    }

    fn peek<'a>(
        &self,
        _: &'a mut DuplexStream,
        _: &'a mut [u8],
    ) -> impl std::future::Future<Output = io::Result<usize>> + Send + 'a {
        std::future::ready(Err(io::ErrorKind::Unsupported.into()))
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<DuplexStream> {
        let route = self.listeners.lock().expect("lock").get(&addr).cloned();
        let route = route.ok_or(io::ErrorKind::ConnectionRefused)?;
        let (mine, theirs) = tokio::io::duplex(64 * 1024);
        let from: SocketAddr = ([10, 0, 0, 1], 1).into();
        route.send((theirs, from)).await.map_err(|_| io::ErrorKind::ConnectionRefused)?;
        Ok(mine)
    }

    async fn accept(&self, listener: &MemListener) -> io::Result<(DuplexStream, SocketAddr)> {
        listener.0.lock().await.recv().await.ok_or_else(|| io::ErrorKind::BrokenPipe.into())
    }
}

fn raft_message(from: u64, to: u64, term: u64) -> Message {
    let mut message = raft::eraftpb::Message::default();
    message.set_msg_type(raft::eraftpb::MessageType::MsgHeartbeat);
    (message.from, message.to, message.term) = (from, to, term);
    Message::Raft(RaftMessage(message))
}

async fn next_peer_message(inbound: &mut mpsc::Receiver<DriverInput>) -> (NodeId, Message) {
    let input = tokio::time::timeout(Duration::from_secs(5), inbound.recv()).await;
    match input {
        Ok(Some(DriverInput::Core(Input::Peer { from, message }))) => (from, message),
        _ => panic!("no peer message within 5 s"),
    }
}

#[tokio::test]
async fn messages_flow_both_ways_over_an_authenticated_connection() {
    let net = Arc::new(MemNet::default());
    let addrs: [SocketAddr; 2] = [([10, 0, 0, 1], 7001).into(), ([10, 0, 0, 2], 7001).into()];
    let key = ClusterKey::from_secret("a shared cluster secret");
    let shutdown = CancellationToken::new();
    let mut inboxes = Vec::new();
    let mut transports = Vec::new();
    for (i, me) in [NodeId(1), NodeId(2)].into_iter().enumerate() {
        let (tx, rx) = mpsc::channel(16);
        inboxes.push(rx);
        let other = 1 - i;
        transports.push(start(TransportSetup {
            net: net.clone(),
            me,
            key: key.clone(),
            listener: net.listen(addrs[i]),
            peers: vec![(NodeId(other as u64 + 1), addrs[other])],
            inbound: tx,
            frame_bytes_max: dfs_core::wire::FRAME_BYTES_MAX_DEFAULT,
            handshakes_per_ip_max: 8,
            shutdown: shutdown.clone(),
        }));
    }
    transports[0].send(NodeId(2), raft_message(1, 2, 7));
    let (from, message) = next_peer_message(&mut inboxes[1]).await;
    assert_eq!((from, message), (NodeId(1), raft_message(1, 2, 7)));
    transports[1].send(NodeId(1), raft_message(2, 1, 8));
    let (from, message) = next_peer_message(&mut inboxes[0]).await;
    assert_eq!((from, message), (NodeId(2), raft_message(2, 1, 8)));
    assert_eq!(transports[0].dropped_count(), 0);
    shutdown.cancel();
}

/// Node 2 alone, accepting connections from node 1 (whose address nobody listens on).
struct Lone {
    net: Arc<MemNet>,
    addr: SocketAddr,
    key: ClusterKey,
    inbox: mpsc::Receiver<DriverInput>,
    shutdown: CancellationToken,
    /// Kept: a link whose sending half is gone closes its connection.
    _transport: Transport,
}

const LONE_FRAME_BYTES_MAX: u32 = 64 * 1024;
const LONE_HANDSHAKES_PER_IP_MAX: u32 = 4;

fn lone_node_2() -> Lone {
    let net = Arc::new(MemNet::default());
    let addr: SocketAddr = ([10, 0, 0, 2], 7001).into();
    let key = ClusterKey::from_secret("a shared cluster secret");
    let shutdown = CancellationToken::new();
    let (tx, inbox) = mpsc::channel(16);
    let transport = start(TransportSetup {
        net: net.clone(),
        me: NodeId(2),
        key: key.clone(),
        listener: net.listen(addr),
        peers: vec![(NodeId(1), ([10, 0, 0, 1], 7001).into())],
        inbound: tx,
        frame_bytes_max: LONE_FRAME_BYTES_MAX,
        handshakes_per_ip_max: LONE_HANDSHAKES_PER_IP_MAX,
        shutdown: shutdown.clone(),
    });
    Lone { net, addr, key, inbox, shutdown, _transport: transport }
}

impl Lone {
    /// A connection to node 2 authenticated as node 1.
    async fn dial_as_1(&self) -> DuplexStream {
        let mut stream = self.net.connect(self.addr).await.expect("connect");
        handshake::dial(&mut stream, &self.key, NodeId(1), NodeId(2)).await.expect("handshake");
        stream
    }
}

/// Whether node 2 closed `stream` (a read ends) within 5 s.
async fn closed_by_peer(stream: &mut DuplexStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn an_oversized_frame_disconnects_the_sender_and_the_next_connection_is_served() {
    let mut node = lone_node_2();
    let mut stream = node.dial_as_1().await;
    let mut header = Vec::from(wire::MAGIC);
    header.extend_from_slice(&wire::WIRE_VERSION.to_be_bytes());
    header.extend_from_slice(&(LONE_FRAME_BYTES_MAX + 1).to_be_bytes());
    stream.write_all(&header).await.expect("send header");
    assert!(closed_by_peer(&mut stream).await, "an oversized frame ends the connection");
    let mut again = node.dial_as_1().await;
    let frame = wire::encode(&raft_message(1, 2, 3), LONE_FRAME_BYTES_MAX).expect("encodes");
    again.write_all(&frame).await.expect("send frame");
    let (from, message) = next_peer_message(&mut node.inbox).await;
    assert_eq!((from, message), (NodeId(1), raft_message(1, 2, 3)));
    node.shutdown.cancel();
}

#[tokio::test]
async fn connections_stuck_in_their_handshake_are_bounded_per_address() {
    let mut node = lone_node_2();
    let mut peer = node.dial_as_1().await;
    let mut stuck = Vec::new();
    for _ in 0..LONE_HANDSHAKES_PER_IP_MAX {
        stuck.push(node.net.connect(node.addr).await.expect("connect"));
    }
    let mut one_more = node.net.connect(node.addr).await.expect("connect");
    assert!(closed_by_peer(&mut one_more).await, "over the per-address handshake limit");
    let frame = wire::encode(&raft_message(1, 2, 4), LONE_FRAME_BYTES_MAX).expect("encodes");
    peer.write_all(&frame).await.expect("send frame");
    let (from, message) = next_peer_message(&mut node.inbox).await;
    assert_eq!((from, message), (NodeId(1), raft_message(1, 2, 4)), "the peer is still served");
    drop(stuck);
    // Their handshakes fail as they close; then a reconnecting peer gets in again.
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    let reconnected = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            ticks.tick().await;
            let mut stream = node.net.connect(node.addr).await.expect("connect");
            if handshake::dial(&mut stream, &node.key, NodeId(1), NodeId(2)).await.is_ok() {
                return stream;
            }
        }
    })
    .await;
    let mut stream = reconnected.expect("a peer reconnects once the stuck connections are gone");
    let frame = wire::encode(&raft_message(1, 2, 5), LONE_FRAME_BYTES_MAX).expect("encodes");
    stream.write_all(&frame).await.expect("send frame");
    let (from, message) = next_peer_message(&mut node.inbox).await;
    assert_eq!((from, message), (NodeId(1), raft_message(1, 2, 5)));
    node.shutdown.cancel();
}

/// Reads `stream` until it ends; the keepalive frames seen on the way, or `None` if it did
/// not end within `within`.
async fn keepalives_until_closed(stream: &mut DuplexStream, within: Duration) -> Option<usize> {
    let mut header = [0u8; wire::HEADER_BYTES];
    let mut seen = 0;
    tokio::time::timeout(within, async {
        loop {
            if stream.read_exact(&mut header).await.is_err() {
                return seen;
            }
            assert_eq!(header, wire::KEEPALIVE, "nothing but keepalives on a quiet link");
            seen += 1;
        }
    })
    .await
    .ok()
}

#[tokio::test(start_paused = true)]
async fn a_quiet_link_sends_keepalives_and_a_silent_peer_is_disconnected() {
    let node = lone_node_2();
    let mut stream = node.dial_as_1().await;
    // Node 1 (this test) sends nothing at all: node 2 keeps the link alive from its side, then
    // gives up on the silent peer.
    let started = tokio::time::Instant::now();
    let seen = keepalives_until_closed(&mut stream, SILENCE_MAX * 3).await;
    let seen = seen.expect("node 2 closes a link that stays silent");
    let lasted = started.elapsed();
    assert!(seen >= 3, "a keepalive every {KEEPALIVE_EVERY:?} while quiet; saw {seen}");
    assert!(lasted >= SILENCE_MAX, "closed after {lasted:?}, before {SILENCE_MAX:?} of silence");
    node.shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn keepalives_keep_a_quiet_link_open() {
    let node = lone_node_2();
    let mut stream = node.dial_as_1().await;
    let mut header = [0u8; wire::HEADER_BYTES];
    // Three silence periods with only keepalives from node 1: node 2 keeps the link.
    let end = tokio::time::Instant::now() + SILENCE_MAX * 3;
    while tokio::time::Instant::now() < end {
        stream.write_all(&wire::KEEPALIVE).await.expect("send keepalive");
        let read = tokio::time::timeout(KEEPALIVE_EVERY * 2, stream.read_exact(&mut header)).await;
        assert!(matches!(read, Ok(Ok(_))), "node 2 closed a link that sent keepalives");
    }
    node.shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_dialer_whose_connection_goes_silent_dials_again() {
    // Node 1 dials node 2, whose "node" here is this test: it authenticates the connection,
    // then never sends a byte, like a peer behind a partition that ate its segments.
    let net = Arc::new(MemNet::default());
    let addr2: SocketAddr = ([10, 0, 0, 2], 7001).into();
    let listener2 = net.listen(addr2);
    let key = ClusterKey::from_secret("a shared cluster secret");
    let shutdown = CancellationToken::new();
    let (tx, _inbox) = mpsc::channel(16);
    let _transport = start(TransportSetup {
        net: net.clone(),
        me: NodeId(1),
        key: key.clone(),
        listener: net.listen(([10, 0, 0, 1], 7001).into()),
        peers: vec![(NodeId(2), addr2)],
        inbound: tx,
        frame_bytes_max: LONE_FRAME_BYTES_MAX,
        handshakes_per_ip_max: LONE_HANDSHAKES_PER_IP_MAX,
        shutdown: shutdown.clone(),
    });
    let (mut first, _) = net.accept(&listener2).await.expect("node 1 dials");
    assert_eq!(handshake::accept(&mut first, &key, NodeId(2)).await.expect("handshake"), NodeId(1));
    let started = tokio::time::Instant::now();
    let again = tokio::time::timeout(SILENCE_MAX * 3, net.accept(&listener2)).await;
    let (mut second, _) = again.expect("node 1 gives up on the silent link").expect("accept");
    assert!(started.elapsed() >= SILENCE_MAX, "redialed after {:?}", started.elapsed());
    assert_eq!(
        handshake::accept(&mut second, &key, NodeId(2)).await.expect("handshake"),
        NodeId(1)
    );
    drop(first);
    shutdown.cancel();
}
