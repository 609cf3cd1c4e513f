//! Starting and stopping one node (DESIGN §2 "cluster of N nodes"): open the stores, recover the
//! core node from disk, bind the listeners, start the transport, driver and HTTP API, and record
//! the bound addresses in `<data_dir>/endpoints.json` (useful when a port was 0). Everything that
//! touches the outside world comes from a [`Platform`]: the real one ([`start`]) or the
//! simulation's ([`start_on`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dfs_core::ids::NodeId;
use dfs_core::Node;
use rand::RngCore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::blocking::Blocking;
use crate::clock::Clock;
use crate::config::NodeConfig;
use crate::driver::{self, DriverChannels, DriverHandle, DriverInput};
use crate::fsck::FsckSlots;
use crate::gc::{self, GcSettings};
use crate::handshake::ClusterKey;
use crate::http::limits::RateLimiter;
use crate::http::serve::ServeSettings;
use crate::http::{self, ApiState, WriteSettings};
use crate::metrics::Metrics;
use crate::net::{Net, TokioNet};
use crate::peers::net_http::NetClient;
use crate::peers::Peers;
use crate::repair::JobRunner;
use crate::store::chunks::{ChunkStore, Disk, StdDisk, StoreError};
use crate::store::raft_log::{RaftStore, RaftStoreError};
use crate::tls::{self, PeerHttp, TlsError};
use crate::transport::{self, TransportSetup};

/// Why a node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The data directory could not be prepared.
    #[error("cannot use data dir {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The chunk store failed.
    #[error("chunk store failed")]
    Chunks(#[from] StoreError),
    /// The raft store failed.
    #[error("raft store failed")]
    RaftStore(#[from] RaftStoreError),
    /// The core refused the configuration or the recovered state.
    #[error("node refused its configuration or stored state: {0}")]
    Core(#[from] dfs_core::ConfigError),
    /// Discovery (`--discover`) could not open its multicast socket.
    #[error("peer discovery could not start")]
    Discovery(#[from] crate::discovery::DiscoveryError),
    /// The TLS certificate, key or trusted roots are unusable.
    #[error("TLS setup failed")]
    Tls(#[from] TlsError),
    /// The HTTP client for other nodes could not be built.
    #[error("cannot build the HTTP client for other nodes")]
    HttpClient(#[source] reqwest::Error),
    /// A background task died.
    #[error("a node task failed")]
    Task,
}

/// A running node.
pub struct NodeHandle {
    /// The node's id.
    pub id: NodeId,
    /// Where peers reach it.
    pub peer_addr: SocketAddr,
    /// Where clients reach it.
    pub http_addr: SocketAddr,
    /// Cancel to stop the node.
    pub shutdown: CancellationToken,
    task: JoinHandle<Result<(), RuntimeError>>,
}

impl NodeHandle {
    /// Waits until the node stops; `Err` if it stopped because something failed.
    pub async fn wait(self) -> Result<(), RuntimeError> {
        self.task.await.map_err(|_| RuntimeError::Task)?
    }
}

/// What a node runs on: sockets, disks, randomness and the way it calls other nodes.
pub struct Platform<N: Net> {
    /// Listeners, peer links and (with [`PeerCalls::OverNet`]) node-to-node HTTP.
    pub net: Arc<N>,
    /// The chunk store's file system.
    pub disk: Arc<dyn Disk>,
    /// Opens (or creates) the raft store at a path.
    pub open_raft: fn(&Path) -> Result<RaftStore, RaftStoreError>,
    /// Where opening and recovering the raft store runs.
    pub blocking: Blocking,
    /// How this node calls other nodes' HTTP listeners.
    pub peer_calls: PeerCalls,
    /// Seed of the core's randomness (election timeouts); `None` draws one from the OS.
    pub seed: Option<u64>,
}

/// How a node calls other nodes' HTTP listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerCalls {
    /// reqwest, pooled, over HTTPS when TLS is configured (production).
    Reqwest,
    /// Plain HTTP over the platform's [`Net`] (the simulation).
    OverNet,
}

impl Platform<TokioNet> {
    /// The real machine: tokio's TCP, `std::fs`, redb on a file, reqwest, OS randomness.
    pub fn real() -> Self {
        Self {
            net: Arc::new(TokioNet),
            disk: Arc::new(StdDisk),
            open_raft: RaftStore::open,
            blocking: Blocking::Pool,
            peer_calls: PeerCalls::Reqwest,
            seed: None,
        }
    }
}

/// Starts a node from its config on the real machine.
pub async fn start(config: NodeConfig) -> Result<NodeHandle, RuntimeError> {
    start_on(config, Platform::real()).await
}

/// Starts a node from its config on `platform`.
pub async fn start_on<N: Net>(
    config: NodeConfig,
    platform: Platform<N>,
) -> Result<NodeHandle, RuntimeError> {
    let data_dir = config.data_dir.clone();
    let disk = platform.disk.clone();
    disk.create_dir_all(&data_dir).map_err(|source| RuntimeError::DataDir {
        path: data_dir.clone(),
        source: std::io::Error::other(source),
    })?;
    let db_path = data_dir.join("raft.redb");
    let open_raft = platform.open_raft;
    let store = platform
        .blocking
        .run(move || open_raft(&db_path))
        .await
        .map_err(|_| RuntimeError::Task)??;
    let store = Arc::new(store);
    // The store file's directory entry (and the data dir's own) must survive a crash too: a
    // node that lost its raft log after voting or acknowledging would break raft's promises.
    let parent = data_dir.parent().filter(|p| !p.as_os_str().is_empty());
    for dir in parent.into_iter().chain([data_dir.as_path()]) {
        disk.sync_dir(dir).map_err(|source| RuntimeError::DataDir {
            path: dir.to_path_buf(),
            source: std::io::Error::other(source),
        })?;
    }
    let recovered = {
        let store = store.clone();
        platform.blocking.run(move || store.recover()).await.map_err(|_| RuntimeError::Task)??
    };
    let seed = platform.seed.unwrap_or_else(|| rand::rngs::OsRng.next_u64());
    let id = NodeId(config.id);
    tracing::info!(node = %id, seed, fresh = recovered.is_empty(), "node starting");
    let clock = Clock::start();
    let node = Node::new(config.core_config(), recovered, seed, clock.now())?;
    let (serve_settings, peer_http) = tls_setup(&config)?;
    let net = platform.net.clone();
    let peer_listener = bind(&*net, config.peer_listen).await?;
    let http_listener = bind(&*net, config.http_listen).await?;
    let peer_addr = local_addr(&*net, &peer_listener, config.peer_listen)?;
    let http_addr = local_addr(&*net, &http_listener, config.http_listen)?;
    let s3_listener = match &config.s3 {
        Some(s3) => Some(bind(&*net, s3.listen).await?),
        None => None,
    };
    let s3_addr = match (&s3_listener, &config.s3) {
        (Some(listener), Some(s3)) => Some(local_addr(&*net, listener, s3.listen)?),
        _ => None,
    };
    let shutdown = CancellationToken::new();
    let channels = DriverChannels::new(node.status().applied);
    let key = ClusterKey::from_secret(&config.cluster_secret);
    let book = crate::discovery::AddressBook::default();
    let transport = transport::start_with_addresses(
        TransportSetup {
            net: net.clone(),
            me: id,
            key: key.clone(),
            listener: peer_listener,
            peers: config.link_peers(),
            inbound: channels.handle.clone_inputs(),
            frame_bytes_max: config.limits.frame_bytes_max,
            handshakes_per_ip_max: config.limits.peer_handshakes_per_ip_max,
            shutdown: shutdown.clone(),
        },
        Some(book.clone()),
    );
    let chunks = ChunkStore::open_on(disk.clone(), &data_dir).await?;
    let mut http_addrs: BTreeMap<NodeId, SocketAddr> =
        config.peers.iter().map(|p| (NodeId(p.id), p.http_addr)).collect();
    http_addrs.insert(id, http_addr);
    let peers = match platform.peer_calls {
        PeerCalls::Reqwest => {
            Peers::new(id, key.clone(), http_addrs, &peer_http).map_err(RuntimeError::HttpClient)?
        }
        PeerCalls::OverNet => {
            Peers::with_client(id, key.clone(), http_addrs, Arc::new(NetClient::new(net.clone())))
        }
    };
    let peers = Arc::new(peers.with_addresses(book.clone()));
    let (member_book, member_peers) = (book.clone(), peers.clone());
    if let Some(config) = config.discovery {
        let addrs = crate::discovery::PeerAddrs { peer: peer_addr, http: http_addr };
        let discovery = crate::discovery::Discovery {
            config,
            me: id,
            addrs,
            key,
            book,
            shutdown: shutdown.clone(),
        };
        crate::discovery::start(discovery)?;
    }
    let metrics = Arc::new(Metrics::default());
    let jobs = JobRunner::new(
        peers.clone(),
        chunks.clone(),
        channels.handle.clone_inputs(),
        metrics.clone(),
    );
    let usage_every = config.core_config().health.heartbeat_interval;
    tokio::spawn(report_usage(
        channels.handle.clone(),
        chunks.clone(),
        usage_every,
        shutdown.clone(),
    ));
    let settings = WriteSettings {
        replication_factor: config.replication_factor,
        body_bytes_max: config.body_bytes_max,
    };
    let gc_settings = GcSettings {
        interval: Duration::from_secs(config.gc_interval_secs),
        grace: Duration::from_secs(config.gc_grace_secs),
        multipart_expire: Duration::from_secs(
            config.s3.as_ref().map_or_else(crate::config::default_multipart_expire_secs, |s3| {
                s3.multipart_expire_secs
            }),
        ),
    };
    tokio::spawn(gc::run(channels.handle.clone(), gc_settings, shutdown.clone()));
    let limiter = RateLimiter::new(config.limits.requests_per_sec, config.limits.request_burst);
    let admin_token = config.admin_token();
    tokio::spawn(crate::admin_bootstrap::run(
        channels.handle.clone(),
        admin_token.clone(),
        shutdown.clone(),
    ));
    let state = ApiState {
        driver: channels.handle.clone(),
        chunks,
        peers,
        settings,
        fsck: Arc::new(FsckSlots::new()),
        shutdown: shutdown.clone(),
        metrics,
        links: transport.link_states(),
        admin_token,
        cluster_secret: Arc::from(config.cluster_secret.as_str()),
    };
    let s3_router =
        config.s3.as_ref().map(|s3| crate::s3::router(state.clone(), s3, &config.cluster_secret));
    let api = http::router(state, limiter);
    let scheme = peer_http.scheme();
    if let (Some(listener), Some(router)) = (s3_listener, s3_router) {
        let settings = serve_settings.clone();
        tokio::spawn(http::serve::serve(net.clone(), listener, router, settings, shutdown.clone()));
    }
    let http =
        tokio::spawn(http::serve::serve(net, http_listener, api, serve_settings, shutdown.clone()));
    tokio::spawn(crate::membership::run(crate::membership::Membership {
        driver: channels.handle.clone(),
        transport: transport.clone(),
        book: member_book,
        peers: member_peers,
        addrs: dfs_core::membership::MemberAddrs { peer: peer_addr, http: http_addr },
        seeds: config.seeds.clone(),
        shutdown: shutdown.clone(),
    }));
    let driver =
        tokio::spawn(driver::run(node, clock, channels, transport, jobs, store, shutdown.clone()));
    write_endpoints(&*disk, &data_dir, id, (peer_addr, http_addr, s3_addr), scheme);
    tracing::info!(node = %id, %peer_addr, %http_addr, s3_addr = ?s3_addr, scheme, "node listening");
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let driven = driver.await;
        stop.cancel();
        let _ = http.await;
        match driven {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(RuntimeError::RaftStore(error)),
            Err(_) => Err(RuntimeError::Task),
        }
    });
    Ok(NodeHandle { id, peer_addr, http_addr, shutdown, task })
}

/// Tells core this node's chunk store usage once per heartbeat (it travels in heartbeats).
async fn report_usage(
    driver: DriverHandle,
    chunks: ChunkStore,
    every: Duration,
    shutdown: CancellationToken,
) {
    let inputs = driver.clone_inputs();
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let usage = chunks.usage();
        let space = chunks.space().await.unwrap_or_default();
        let report = dfs_core::health::Usage {
            used_bytes: usage.bytes,
            chunk_count: usage.chunks,
            free_bytes: space.free_bytes,
            capacity_bytes: space.capacity_bytes,
        };
        if inputs.send(DriverInput::Core(dfs_core::Input::Usage(report))).await.is_err() {
            return;
        }
    }
}

/// The HTTP listener's settings and how this node calls other nodes, from the TLS and limits
/// options: HTTPS everywhere when a certificate is configured, plain HTTP otherwise.
fn tls_setup(config: &NodeConfig) -> Result<(ServeSettings, PeerHttp), RuntimeError> {
    let (tls, peer_http) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let server = tls::server_config(cert, key)?;
            let ca = config.tls_ca.as_deref().unwrap_or(cert);
            (Some(tokio_rustls::TlsAcceptor::from(server)), PeerHttp::tls(ca)?)
        }
        _ => (None, PeerHttp::plain()),
    };
    let settings = ServeSettings {
        tls,
        connections_per_ip_max: config.limits.connections_per_ip_max,
        header_read_timeout: config.limits.header_read_timeout(),
        body_read_timeout: config.limits.body_read_timeout(),
    };
    Ok((settings, peer_http))
}

async fn bind<N: Net>(net: &N, addr: SocketAddr) -> Result<N::Listener, RuntimeError> {
    net.bind(addr).await.map_err(|source| RuntimeError::Bind { addr, source })
}

fn local_addr<N: Net>(
    net: &N,
    listener: &N::Listener,
    asked: SocketAddr,
) -> Result<SocketAddr, RuntimeError> {
    net.local_addr(listener).map_err(|source| RuntimeError::Bind { addr: asked, source })
}

fn write_endpoints(
    disk: &dyn Disk,
    data_dir: &Path,
    id: NodeId,
    (peer, http, s3): (SocketAddr, SocketAddr, Option<SocketAddr>),
    scheme: &str,
) {
    let text = serde_json::json!({
        "scheme": scheme,
        "id": id.0,
        "pid": std::process::id(),
        "peer_addr": peer.to_string(),
        "http_addr": http.to_string(),
        "s3_addr": s3.map(|a| a.to_string()),
    });
    let (path, tmp) = (data_dir.join("endpoints.json"), data_dir.join("endpoints.json.tmp"));
    let _ = disk.remove_file(&tmp);
    let written = disk.write_synced(&tmp, text.to_string().as_bytes());
    if let Err(error) = written.and_then(|()| disk.rename(&tmp, &path)) {
        tracing::warn!(%error, "could not write endpoints.json");
    }
}
