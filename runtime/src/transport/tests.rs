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

struct MemListener(tokio::sync::Mutex<mpsc::Receiver<(DuplexStream, SocketAddr)>>);

impl MemNet {
    fn bind(&self, addr: SocketAddr) -> MemListener {
        let (tx, rx) = mpsc::channel(16);
        self.listeners.lock().expect("lock").insert(addr, tx);
        MemListener(tokio::sync::Mutex::new(rx))
    }
}

impl Net for MemNet {
    type Stream = DuplexStream;
    type Listener = MemListener;

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
            listener: net.bind(addrs[i]),
            peers: vec![(NodeId(other as u64 + 1), addrs[other])],
            inbound: tx,
            frame_bytes_max: dfs_core::wire::FRAME_BYTES_MAX_DEFAULT,
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
