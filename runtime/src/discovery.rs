//! Peer discovery on one LAN (DESIGN §2 "discovery"): with `--discover`, a node announces
//! itself by UDP multicast every `interval_ms` (and at once when it learns a new peer) and learns
//! the other members' addresses from their announcements into an [`AddressBook`] that the peer
//! transport and chunk transfer consult; static `peers` keep working beside it.
//!
//! An announcement is one JSON datagram: `{"v":1,"id","peer","http","mac"}`, the MAC being the
//! cluster key's keyed blake3 over the id and both addresses ([`ClusterKey::discovery_mac`]), so
//! it proves knowledge of the cluster secret without revealing it. Announcements with a bad MAC
//! (another cluster, a wrong secret, tampering) are ignored and logged once per sender. A
//! replayed announcement can only repeat addresses a member really announced, and every
//! connection still passes the authenticated handshake ([`crate::handshake`]). An announced
//! unspecified IP (a node listening on `0.0.0.0`) is replaced by the datagram's source IP.
//!
//! Which ids a node links to is fixed at start: those in `peers` and `initial_voters`;
//! discovery supplies their addresses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use dfs_core::ids::NodeId;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::handshake::ClusterKey;

/// Largest announcement sent or read.
pub const ANNOUNCEMENT_BYTES_MAX: usize = 512;
/// The address a peer has until discovery finds it: the transport does not dial it.
pub const UNKNOWN_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
/// Senders of bad announcements remembered (each is logged once).
const BAD_SENDERS_MAX: usize = 256;

/// Where and how often a node announces itself (`[discovery]` in the config, `--discover`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// The IPv4 multicast group.
    pub group: Ipv4Addr,
    /// The UDP port announcements go to.
    pub port: u16,
    /// Milliseconds between announcements.
    pub interval_ms: u64,
    /// The interface (its IPv4 address) to announce and listen on; default: the peer listener's
    /// address, or the system's choice when that is `0.0.0.0`. Use `127.0.0.1` for loopback.
    pub interface: Option<Ipv4Addr>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            group: Ipv4Addr::new(239, 255, 77, 1),
            port: 7946,
            interval_ms: 500,
            interface: None,
        }
    }
}

/// A member's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddrs {
    /// Raft traffic.
    pub peer: SocketAddr,
    /// Client API and chunk transfer.
    pub http: SocketAddr,
}

/// Addresses learned at run time, shared by discovery (writer), the transport and chunk
/// transfer (readers); cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct AddressBook(Arc<RwLock<BTreeMap<NodeId, PeerAddrs>>>);

impl AddressBook {
    /// Records `node`'s addresses; whether they are new or changed.
    pub fn learn(&self, node: NodeId, addrs: PeerAddrs) -> bool {
        let mut map = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(node, addrs) != Some(addrs)
    }

    /// `node`'s peer (raft) address, if known.
    pub fn peer_addr(&self, node: NodeId) -> Option<SocketAddr> {
        self.get(node).map(|a| a.peer)
    }

    /// `node`'s HTTP address, if known.
    pub fn http_addr(&self, node: NodeId) -> Option<SocketAddr> {
        self.get(node).map(|a| a.http)
    }

    fn get(&self, node: NodeId) -> Option<PeerAddrs> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&node).copied()
    }
}

/// Why discovery could not start.
#[derive(Debug, thiserror::Error)]
#[error("discovery on {group}:{port} via {interface}: {source}")]
pub struct DiscoveryError {
    group: Ipv4Addr,
    port: u16,
    interface: Ipv4Addr,
    #[source]
    source: std::io::Error,
}

/// What [`start`] needs.
pub struct Discovery {
    /// Settings.
    pub config: DiscoveryConfig,
    /// This node.
    pub me: NodeId,
    /// This node's addresses, as bound.
    pub addrs: PeerAddrs,
    /// The cluster key (MACs).
    pub key: ClusterKey,
    /// Where learned addresses go.
    pub book: AddressBook,
    /// Stops the task.
    pub shutdown: CancellationToken,
}

/// Opens the multicast socket and spawns the announce/listen task.
pub fn start(discovery: Discovery) -> Result<(), DiscoveryError> {
    let config = discovery.config;
    let interface = config.interface.unwrap_or(match discovery.addrs.peer.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    });
    let error =
        |source| DiscoveryError { group: config.group, port: config.port, interface, source };
    let socket = open(config.group, config.port, interface).map_err(error)?;
    tokio::spawn(run(discovery, socket));
    Ok(())
}

/// A UDP socket bound to the group's port (shared with other nodes on this host) that has joined
/// the group on `interface`, sends there with TTL 1, and hears its own host (loop on).
fn open(group: Ipv4Addr, port: u16, interface: Ipv4Addr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::V4(SocketAddrV4::new(group, port)).into())?;
    socket.join_multicast_v4(&group, &interface)?;
    socket.set_multicast_if_v4(&interface)?;
    socket.set_multicast_loop_v4(true)?;
    socket.set_multicast_ttl_v4(1)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

async fn run(discovery: Discovery, socket: UdpSocket) {
    let Discovery { config, me, addrs, key, book, shutdown } = discovery;
    let target = SocketAddr::V4(SocketAddrV4::new(config.group, config.port));
    let announcement = announce(&key, me, addrs);
    let mut ticks = tokio::time::interval(Duration::from_millis(config.interval_ms.max(10)));
    let mut buffer = [0u8; ANNOUNCEMENT_BYTES_MAX];
    let mut bad_senders = BTreeSet::new();
    tracing::info!(node = %me, group = %config.group, port = config.port, "discovery started");
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {
                if let Err(error) = socket.send_to(&announcement, target).await {
                    tracing::debug!(node = %me, %error, "announcement not sent");
                }
            }
            received = socket.recv_from(&mut buffer) => {
                let Ok((len, from)) = received else { continue };
                match heard(&key, &buffer[..len], from) {
                    Some((node, _)) if node == me => {}
                    Some((node, peer)) => {
                        if book.learn(node, peer) {
                            tracing::info!(node = %me, peer = %node, peer_addr = %peer.peer, http_addr = %peer.http, "peer discovered");
                            let _ = socket.send_to(&announcement, target).await;
                        }
                    }
                    None => {
                        if bad_senders.len() < BAD_SENDERS_MAX && bad_senders.insert(from) {
                            tracing::warn!(node = %me, %from, "discovery announcement refused: bad MAC or format (another cluster or a wrong secret?)");
                        }
                    }
                }
            }
        }
    }
}

/// This node's announcement datagram.
pub fn announce(key: &ClusterKey, me: NodeId, addrs: PeerAddrs) -> Vec<u8> {
    let (peer, http) = (addrs.peer.to_string(), addrs.http.to_string());
    let mac = key.discovery_mac(me, &peer, &http);
    json!({ "v": 1, "id": me.0, "peer": peer, "http": http, "mac": mac.to_hex().as_str() })
        .to_string()
        .into_bytes()
}

/// An announcement's node and addresses, if its MAC is right (unspecified IPs become `from`'s).
pub fn heard(key: &ClusterKey, bytes: &[u8], from: SocketAddr) -> Option<(NodeId, PeerAddrs)> {
    #[derive(Deserialize)]
    struct Wire {
        v: u32,
        id: u64,
        peer: String,
        http: String,
        mac: String,
    }
    let wire: Wire = serde_json::from_slice(bytes).ok()?;
    let mac = blake3::Hash::from_hex(&wire.mac).ok()?;
    let node = NodeId(wire.id);
    // blake3::Hash compares in constant time.
    if wire.v != 1 || wire.id == 0 || mac != key.discovery_mac(node, &wire.peer, &wire.http) {
        return None;
    }
    let fill = |addr: SocketAddr| {
        if addr.ip().is_unspecified() {
            SocketAddr::new(from.ip(), addr.port())
        } else {
            addr
        }
    };
    let peer = fill(wire.peer.parse().ok()?);
    let http = fill(wire.http.parse().ok()?);
    Some((node, PeerAddrs { peer, http }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> PeerAddrs {
        PeerAddrs { peer: ([127, 0, 0, 1], 7001).into(), http: ([0, 0, 0, 0], 8001).into() }
    }

    #[test]
    fn an_announcement_is_heard_only_with_the_right_secret_and_untampered() {
        let key = ClusterKey::from_secret("the right secret, long enough");
        let from: SocketAddr = ([10, 0, 0, 7], 5000).into();
        let bytes = announce(&key, NodeId(3), addrs());
        let (node, heard_addrs) = heard(&key, &bytes, from).expect("heard");
        assert_eq!(node, NodeId(3));
        assert_eq!(heard_addrs.peer, addrs().peer);
        assert_eq!(heard_addrs.http, ([10, 0, 0, 7], 8001).into(), "0.0.0.0 -> sender's IP");
        let other = ClusterKey::from_secret("another cluster's secret!!");
        assert!(heard(&other, &bytes, from).is_none(), "wrong secret");
        let text = String::from_utf8(bytes).expect("json");
        let tampered = text.replace("7001", "7002");
        assert!(heard(&key, tampered.as_bytes(), from).is_none(), "tampered address");
        let renamed = text.replace("\"id\":3", "\"id\":4");
        assert!(heard(&key, renamed.as_bytes(), from).is_none(), "tampered id");
        assert!(heard(&key, b"\xff garbage", from).is_none());
        assert!(!text.contains("right secret"), "the secret is never sent");
    }

    #[test]
    fn the_book_reports_new_and_changed_addresses() {
        let book = AddressBook::default();
        assert!(book.learn(NodeId(2), addrs()));
        assert!(!book.learn(NodeId(2), addrs()), "the same again is not news");
        let moved = PeerAddrs { peer: ([127, 0, 0, 1], 7009).into(), ..addrs() };
        assert!(book.learn(NodeId(2), moved));
        assert_eq!(book.peer_addr(NodeId(2)), Some(moved.peer));
        assert_eq!(book.http_addr(NodeId(9)), None);
    }
}
