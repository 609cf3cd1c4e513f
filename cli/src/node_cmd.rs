//! `dfs node`: runs one cluster member until SIGINT or SIGTERM. Options come from `--config`
//! (TOML) and can each be given or overridden by a flag or environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use dfs_runtime::config::{NodeConfig, PeerConfig};
use dfs_runtime::core::WriteQuorum;

/// Options of `dfs node`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NodeArgs {
    /// Manage a member instead of running one.
    #[command(subcommand)]
    pub action: Option<NodeAction>,
    /// The node's TOML config file; flags below override its values.
    #[arg(long, env = "DFS_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id (a positive integer, unique in the cluster).
    #[arg(long, env = "DFS_ID")]
    pub id: Option<u64>,
    /// Address peers connect to for raft traffic, e.g. 127.0.0.1:7001 (port 0: any free port).
    #[arg(long, env = "DFS_PEER_LISTEN")]
    pub peer_listen: Option<SocketAddr>,
    /// Address clients connect to for the HTTP API, e.g. 127.0.0.1:8001.
    #[arg(long, env = "DFS_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// Directory for this node's raft log, chunks and state.
    #[arg(long, env = "DFS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Secret shared by every member (at least 16 bytes); peers without it are refused.
    #[arg(long, env = "DFS_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<String>,
    /// Another member, as ID=PEER_ADDR,HTTP_ADDR (repeat for each); replaces the file's list.
    #[arg(long = "peer", value_parser = parse_peer)]
    pub peers: Vec<PeerConfig>,
    /// Copies kept of every chunk.
    #[arg(long, env = "DFS_REPLICATION_FACTOR")]
    pub replication_factor: Option<usize>,
    /// Durable copies needed before a write is acknowledged: one, majority or all.
    #[arg(long, env = "DFS_WRITE_QUORUM", value_parser = parse_quorum)]
    pub write_quorum: Option<WriteQuorum>,
    /// PEM certificate chain: serve the HTTP API over HTTPS only (needs --tls-key).
    #[arg(long, env = "DFS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "DFS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM certificates to trust when calling other nodes over HTTPS (default: --tls-cert).
    #[arg(long, env = "DFS_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// The first admin's token, NAME.SECRET, recorded (hashed) while the cluster has no users
    /// (default: admin. and a secret derived from the cluster secret).
    #[arg(long, env = "DFS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Founding voters of a new cluster, e.g. 1,2,3 (needed with --discover and no --peer).
    #[arg(long, env = "DFS_INITIAL_VOTERS", value_delimiter = ',')]
    pub initial_voters: Vec<u64>,
    /// Join the cluster through this member's HTTP address, e.g. 10.0.0.5:8001 (repeat for
    /// more; `http://` or `https://` is allowed): a node with no data asks to be added, first
    /// as a learner, then as a voter once caught up; no other member's config changes.
    #[arg(long = "seed", env = "DFS_SEEDS", value_delimiter = ',', value_parser = parse_seed)]
    pub seeds: Vec<SocketAddr>,
    /// Serve the S3-compatible API on this address too, e.g. 127.0.0.1:9001 (the `[s3]` table).
    #[arg(long, env = "DFS_S3_LISTEN")]
    pub s3_listen: Option<SocketAddr>,
    /// The region the S3 listener reports (default dfs).
    #[arg(long, env = "DFS_S3_REGION")]
    pub s3_region: Option<String>,
    /// Find the other members on the LAN by UDP multicast (static peers keep working).
    #[arg(long, env = "DFS_DISCOVER")]
    pub discover: bool,
    /// Multicast group of --discover (default 239.255.77.1).
    #[arg(long, env = "DFS_DISCOVER_GROUP")]
    pub discover_group: Option<std::net::Ipv4Addr>,
    /// UDP port of --discover (default 7946).
    #[arg(long, env = "DFS_DISCOVER_PORT")]
    pub discover_port: Option<u16>,
    /// Interface address for --discover (default: the peer listener's; 127.0.0.1 for loopback).
    #[arg(long, env = "DFS_DISCOVER_INTERFACE")]
    pub discover_interface: Option<std::net::Ipv4Addr>,
}

/// What `dfs node ACTION` does to a member of a running cluster.
#[derive(Debug, clap::Subcommand)]
pub enum NodeAction {
    /// Add node ID to the cluster (its addresses from --addr, its own join request, or every
    /// member's peer list); once it is up, rebalance moves chunks onto it.
    Add {
        /// The node.
        id: u64,
        /// Add it as a learner (receives the log, does not vote).
        #[arg(long)]
        learner: bool,
        /// Where it listens, PEER_ADDR,HTTP_ADDR: recorded through raft, so every member
        /// dials it without a config change.
        #[arg(long, value_parser = parse_addr_pair)]
        addr: Option<(SocketAddr, SocketAddr)>,
    },
    /// Move every chunk copy off node ID (it gets no new ones), so it can be removed.
    Drain {
        /// The node.
        id: u64,
        /// Wait, showing progress, until nothing is left on it.
        #[arg(long)]
        wait: bool,
    },
    /// Remove node ID from the cluster (refused while copies only it holds would be lost).
    Remove {
        /// The node.
        id: u64,
    },
}

fn parse_peer(raw: &str) -> Result<PeerConfig, String> {
    let usage = || format!("{raw:?}: expected ID=PEER_ADDR,HTTP_ADDR");
    let (id, addrs) = raw.split_once('=').ok_or_else(usage)?;
    let (peer, http) = addrs.split_once(',').ok_or_else(usage)?;
    Ok(PeerConfig {
        id: id.parse().map_err(|_| usage())?,
        peer_addr: peer.parse().map_err(|_| usage())?,
        http_addr: http.parse().map_err(|_| usage())?,
    })
}

fn parse_seed(raw: &str) -> Result<SocketAddr, String> {
    let bare = raw.strip_prefix("http://").or_else(|| raw.strip_prefix("https://")).unwrap_or(raw);
    bare.trim_end_matches('/')
        .parse()
        .map_err(|_| format!("{raw:?}: expected a member's HTTP address, IP:PORT"))
}

fn parse_addr_pair(raw: &str) -> Result<(SocketAddr, SocketAddr), String> {
    let usage = || format!("{raw:?}: expected PEER_ADDR,HTTP_ADDR");
    let (peer, http) = raw.split_once(',').ok_or_else(usage)?;
    Ok((peer.parse().map_err(|_| usage())?, http.parse().map_err(|_| usage())?))
}

fn parse_quorum(raw: &str) -> Result<WriteQuorum, String> {
    match raw {
        "one" => Ok(WriteQuorum::One),
        "majority" => Ok(WriteQuorum::Majority),
        "all" => Ok(WriteQuorum::All),
        _ => Err(format!("{raw:?}: expected one, majority or all")),
    }
}

impl NodeArgs {
    /// The config file (if any) with every flag applied on top.
    pub fn resolve(self) -> anyhow::Result<NodeConfig> {
        let mut config = match &self.config {
            Some(path) => NodeConfig::load(path)?,
            None => {
                let (Some(id), Some(data_dir), Some(secret)) =
                    (self.id, self.data_dir.clone(), self.cluster_secret.clone())
                else {
                    bail!("give --config, or at least --id, --data-dir and --cluster-secret");
                };
                NodeConfig {
                    id,
                    peer_listen: ([127, 0, 0, 1], 0).into(),
                    http_listen: ([127, 0, 0, 1], 0).into(),
                    data_dir,
                    cluster_secret: secret,
                    peers: Vec::new(),
                    initial_voters: Vec::new(),
                    replication_factor: 3,
                    write_quorum: WriteQuorum::Majority,
                    body_bytes_max: 64 * 1024 * 1024 * 1024,
                    gc_interval_secs: 60,
                    gc_grace_secs: 3600,
                    healing: Default::default(),
                    tls_cert: None,
                    tls_key: None,
                    tls_ca: None,
                    limits: Default::default(),
                    admin_token: None,
                    discovery: None,
                    seeds: Vec::new(),
                    s3: None,
                }
            }
        };
        if let Some(v) = self.id {
            config.id = v;
        }
        if let Some(v) = self.peer_listen {
            config.peer_listen = v;
        }
        if let Some(v) = self.http_listen {
            config.http_listen = v;
        }
        if let Some(v) = self.data_dir {
            config.data_dir = v;
        }
        if let Some(v) = self.cluster_secret {
            config.cluster_secret = v;
        }
        if !self.peers.is_empty() {
            config.peers = self.peers;
        }
        if !self.seeds.is_empty() {
            config.seeds = self.seeds;
        }
        if let Some(v) = self.replication_factor {
            config.replication_factor = v;
        }
        if let Some(v) = self.write_quorum {
            config.write_quorum = v;
        }
        if let Some(v) = self.tls_cert {
            config.tls_cert = Some(v);
        }
        if let Some(v) = self.tls_key {
            config.tls_key = Some(v);
        }
        if let Some(v) = self.tls_ca {
            config.tls_ca = Some(v);
        }
        if let Some(v) = self.admin_token {
            config.admin_token = Some(v);
        }
        if !self.initial_voters.is_empty() {
            config.initial_voters = self.initial_voters;
        }
        if let Some(listen) = self.s3_listen {
            let s3 = config.s3.get_or_insert_with(|| dfs_runtime::config::S3Config {
                listen,
                region: dfs_runtime::config::default_s3_region(),
                domain: None,
                multipart_expire_secs: dfs_runtime::config::default_multipart_expire_secs(),
            });
            s3.listen = listen;
        }
        if let Some(region) = self.s3_region {
            match config.s3.as_mut() {
                Some(s3) => s3.region = region,
                None => bail!("--s3-region needs --s3-listen (or an [s3] table)"),
            }
        }
        let tuned = self.discover_group.is_some()
            || self.discover_port.is_some()
            || self.discover_interface.is_some();
        if self.discover || tuned {
            let discovery = config.discovery.get_or_insert_with(Default::default);
            discovery.group = self.discover_group.unwrap_or(discovery.group);
            discovery.port = self.discover_port.unwrap_or(discovery.port);
            discovery.interface = self.discover_interface.or(discovery.interface);
        }
        config.check()?;
        Ok(config)
    }
}

/// Runs the node until a signal asks it to stop.
pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let node = dfs_runtime::server::start(config).await.context("starting the node")?;
    let shutdown = node.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received; stopping");
        shutdown.cancel();
    });
    node.wait().await.context("the node stopped with an error")?;
    tracing::info!("node stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
