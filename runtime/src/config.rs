//! A node's configuration file (DESIGN §2 "cluster of N nodes"): identity, listen addresses, data
//! directory, peers, cluster secret and replication settings, as TOML. Every option can also be
//! given on the command line (`dfs node --help`); flags override the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use dfs_core::ids::NodeId;
use dfs_core::WriteQuorum;
use serde::{Deserialize, Serialize};

mod limits;

pub use limits::LimitsConfig;

/// Everything `dfs node` needs to start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's id (not 0).
    pub id: u64,
    /// Where peers connect (raft traffic). Port 0 picks a free port.
    pub peer_listen: SocketAddr,
    /// Where clients connect (HTTP API). Port 0 picks a free port.
    pub http_listen: SocketAddr,
    /// Where this node keeps its raft log, chunks and state.
    pub data_dir: PathBuf,
    /// The secret every member shares; peers without it are refused.
    pub cluster_secret: String,
    /// The other members and their addresses.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// Founding voters of a new cluster; empty means this node and every peer listed.
    #[serde(default)]
    pub initial_voters: Vec<u64>,
    /// Copies kept of every chunk.
    #[serde(default = "default_replication_factor")]
    pub replication_factor: usize,
    /// Durable copies needed before a write is acknowledged.
    #[serde(default)]
    pub write_quorum: WriteQuorum,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_body_bytes_max")]
    pub body_bytes_max: u64,
    /// Seconds between garbage-collection passes.
    #[serde(default = "default_gc_interval_secs")]
    pub gc_interval_secs: u64,
    /// Seconds a deleted file's chunks (and chunks of unfinished writes) are kept. A node knows
    /// only its own open uploads, so this must outlast the longest upload: a copy stored here
    /// for an upload open on another node is protected by this grace alone.
    #[serde(default = "default_gc_grace_secs")]
    pub gc_grace_secs: u64,
    /// Failure detection and self-healing (the `[healing]` table).
    #[serde(default)]
    pub healing: HealingConfig,
    /// PEM certificate chain: with [`Self::tls_key`], the HTTP listener speaks only HTTPS. It
    /// must name the addresses clients and peers dial (IP SANs for `http_addr`s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of [`Self::tls_cert`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// PEM certificates this node trusts when it calls other nodes' HTTPS listeners (chunk
    /// transfer, forwarding); default: [`Self::tls_cert`] (one certificate or CA for the cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// Limits on clients and peers (the `[limits]` table).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The first admin's bearer token, `NAME.SECRET` (secret: 16 to 256 visible bytes). The
    /// first leader records it, hashed, while the cluster has no users; until then this node
    /// accepts it as an admin. Default: `admin.` + a secret derived from `cluster_secret`
    /// ([`Self::admin_token`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// Find the other members by UDP multicast on the LAN (the `[discovery]` table,
    /// `--discover`); static `peers` keep working beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<crate::discovery::DiscoveryConfig>,
    /// HTTP addresses of members to join through (`--seed`, issue 23): a node with seeds and
    /// no data asks them to add it (a learner first, a voter once caught up) and never founds a
    /// cluster itself; every member learns its addresses through raft, so no other member's
    /// config changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeds: Vec<SocketAddr>,
    /// The S3-compatible listener (the `[s3]` table, `--s3-listen`); off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Config>,
}

/// The S3 listener's settings (docs/s3.md). TLS and the client limits of the node apply to it
/// as to the HTTP API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Where S3 clients connect. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// The region the node reports and clients sign for.
    #[serde(default = "default_s3_region")]
    pub region: String,
    /// Base domain for virtual-host-style buckets (`bucket.DOMAIN`); path style always works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Seconds after its creation a multipart upload nobody completed or aborted is aborted
    /// (its parts' chunks collected); 7 days unless set.
    #[serde(default = "default_multipart_expire_secs")]
    pub multipart_expire_secs: u64,
}

/// How long an abandoned multipart upload is kept unless configured: 7 days.
pub fn default_multipart_expire_secs() -> u64 {
    dfs_core::s3::multipart::EXPIRE_DEFAULT.as_secs()
}

/// The region an S3 listener reports unless configured: `dfs`.
pub fn default_s3_region() -> String {
    "dfs".to_owned()
}

/// The default bootstrap admin token of a cluster: `admin.` and 64 hex digits derived (blake3
/// derive-key) from the cluster secret. Anyone holding the cluster secret can compute it, which
/// gives them nothing new: the secret already lets a node join and vote.
pub fn derived_admin_token(cluster_secret: &str) -> dfs_core::auth::Token {
    let secret = blake3::derive_key("dfs 2026-01 default admin token", cluster_secret.as_bytes());
    let raw = format!("admin.{}", blake3::Hash::from_bytes(secret).to_hex());
    dfs_core::auth::Token::parse(&raw).expect("admin and 64 hex digits form a valid token")
}

/// Failure detection, re-replication, recovery sync, scrub and rebalance settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealingConfig {
    /// Milliseconds between heartbeats to the leader.
    pub heartbeat_interval_ms: u64,
    /// Milliseconds of silence before a node is suspect (no new chunks go to it).
    pub suspect_after_ms: u64,
    /// Seconds of silence before a node is down.
    pub down_after_secs: u64,
    /// Seconds of silence before a down node's chunks are copied to other nodes.
    pub reassign_after_secs: u64,
    /// Bandwidth limit of repair, rebalance and recovery copies, in bytes per second.
    pub repair_bytes_per_sec: u64,
    /// Copies in flight at once.
    pub repair_jobs_max: usize,
    /// Scrub's read rate, in bytes per second (0 turns scrub off).
    pub scrub_bytes_per_sec: u64,
    /// Seconds between two scrub passes.
    pub scrub_rest_secs: u64,
    /// Rebalance when node usage differs by more than this percent of the mean (0: never).
    pub rebalance_tolerance_pct: u64,
    /// Seconds before a copy the index does not list may be dropped.
    pub extra_copy_min_age_secs: u64,
}

impl Default for HealingConfig {
    fn default() -> Self {
        let health = dfs_core::health::HealthConfig::default();
        let repair = dfs_core::repair::RepairConfig::default();
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            heartbeat_interval_ms: ms(health.heartbeat_interval),
            suspect_after_ms: ms(health.suspect_after),
            down_after_secs: health.down_after.as_secs(),
            reassign_after_secs: health.reassign_after.as_secs(),
            repair_bytes_per_sec: repair.bytes_per_sec,
            repair_jobs_max: repair.jobs_max,
            scrub_bytes_per_sec: repair.scrub_bytes_per_sec,
            scrub_rest_secs: repair.scrub_rest.as_secs(),
            rebalance_tolerance_pct: repair.rebalance_tolerance_pct,
            extra_copy_min_age_secs: repair.extra_copy_min_age.as_secs(),
        }
    }
}

impl HealingConfig {
    /// Writes these settings into core's config (core validates them).
    fn apply(&self, config: &mut dfs_core::Config) {
        use std::time::Duration;
        config.health.heartbeat_interval = Duration::from_millis(self.heartbeat_interval_ms);
        config.health.suspect_after = Duration::from_millis(self.suspect_after_ms);
        config.health.down_after = Duration::from_secs(self.down_after_secs);
        config.health.reassign_after = Duration::from_secs(self.reassign_after_secs);
        config.repair.bytes_per_sec = self.repair_bytes_per_sec;
        config.repair.jobs_max = self.repair_jobs_max;
        config.repair.scrub_bytes_per_sec = self.scrub_bytes_per_sec;
        config.repair.scrub_rest = Duration::from_secs(self.scrub_rest_secs);
        config.repair.rebalance_tolerance_pct = self.rebalance_tolerance_pct;
        config.repair.extra_copy_min_age = Duration::from_secs(self.extra_copy_min_age_secs);
    }
}

fn default_gc_interval_secs() -> u64 {
    60
}

fn default_gc_grace_secs() -> u64 {
    3600
}

/// One other member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Its id.
    pub id: u64,
    /// Its peer (raft) address.
    pub peer_addr: SocketAddr,
    /// Its HTTP address (for chunk transfer and client redirects).
    pub http_addr: SocketAddr,
}

fn default_replication_factor() -> usize {
    3
}

fn default_body_bytes_max() -> u64 {
    64 * 1024 * 1024 * 1024
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("cannot read config {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for a node config.
    #[error("config {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said (line and field).
        message: String,
    },
    /// A value is out of range.
    #[error("config is invalid: {0}")]
    Invalid(&'static str),
}

impl NodeConfig {
    /// Reads and checks a TOML config file.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigFileError::Read { path: path.to_owned(), source })?;
        let config: NodeConfig = toml::from_str(&text).map_err(|e| ConfigFileError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    /// The config as TOML text (what `dev-cluster` writes into each data dir).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), ConfigFileError> {
        if self.id == 0 {
            return Err(ConfigFileError::Invalid("id must not be 0"));
        }
        if self.cluster_secret.len() < 16 {
            return Err(ConfigFileError::Invalid("cluster_secret must be at least 16 bytes"));
        }
        if self.peers.iter().any(|p| p.id == self.id || p.id == 0) {
            return Err(ConfigFileError::Invalid("peers must not list this node or id 0"));
        }
        if self.gc_interval_secs == 0 {
            return Err(ConfigFileError::Invalid("gc_interval_secs must be at least 1"));
        }
        if self.replication_factor == 0 {
            return Err(ConfigFileError::Invalid("replication_factor must be at least 1"));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigFileError::Invalid("tls_cert and tls_key must be given together"));
        }
        if self.discovery.is_some() && self.peers.is_empty() && self.initial_voters.is_empty() {
            return Err(ConfigFileError::Invalid(
                "with discovery and no peers, initial_voters must name the founding members",
            ));
        }
        if !self.seeds.is_empty() && !self.initial_voters.is_empty() {
            return Err(ConfigFileError::Invalid(
                "a node joining through seeds founds no cluster: give seeds or initial_voters",
            ));
        }
        if self.tls_ca.is_some() && self.tls_cert.is_none() {
            return Err(ConfigFileError::Invalid("tls_ca needs tls_cert and tls_key"));
        }
        if self.admin_token.as_deref().is_some_and(|t| dfs_core::auth::Token::parse(t).is_none()) {
            return Err(ConfigFileError::Invalid(
                "admin_token must be NAME.SECRET: a user name (a-z 0-9 _ -) and 16 to 256 \
                 visible characters",
            ));
        }
        self.limits.check()
    }

    /// The bootstrap admin token: [`Self::admin_token`] if set, else [`derived_admin_token`] of
    /// the cluster secret (so every node of a cluster agrees on it without more config).
    pub fn admin_token(&self) -> dfs_core::auth::Token {
        self.admin_token
            .as_deref()
            .and_then(dfs_core::auth::Token::parse)
            .unwrap_or_else(|| derived_admin_token(&self.cluster_secret))
    }

    /// The founding voters: as configured, none for a node joining through seeds, or else this
    /// node and every peer.
    pub fn founding_voters(&self) -> Vec<NodeId> {
        let mut voters: Vec<u64> = if !self.seeds.is_empty() {
            Vec::new()
        } else if self.initial_voters.is_empty() {
            self.peers.iter().map(|p| p.id).chain([self.id]).collect()
        } else {
            self.initial_voters.clone()
        };
        voters.sort_unstable();
        voters.dedup();
        voters.into_iter().map(NodeId).collect()
    }

    /// Every other member this node links to: the static peers, and with discovery every
    /// founding voter too (at [`crate::discovery::UNKNOWN_ADDR`] until announced).
    pub fn link_peers(&self) -> Vec<(NodeId, SocketAddr)> {
        let mut peers: Vec<(NodeId, SocketAddr)> =
            self.peers.iter().map(|p| (NodeId(p.id), p.peer_addr)).collect();
        if self.discovery.is_some() {
            for voter in self.founding_voters() {
                if voter.0 != self.id && !peers.iter().any(|(id, _)| *id == voter) {
                    peers.push((voter, crate::discovery::UNKNOWN_ADDR));
                }
            }
        }
        peers
    }

    /// The core's config for this node.
    pub fn core_config(&self) -> dfs_core::Config {
        let mut config = dfs_core::Config::new(NodeId(self.id), self.founding_voters());
        config.replication_factor = self.replication_factor;
        config.write_quorum = if crate::planted::active(crate::planted::Bug::QuorumOfOne) {
            WriteQuorum::One
        } else {
            self.write_quorum
        };
        self.healing.apply(&mut config);
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeConfig {
        NodeConfig {
            id: 1,
            peer_listen: "127.0.0.1:0".parse().expect("addr"),
            http_listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: "/tmp/x".into(),
            cluster_secret: "0123456789abcdef".into(),
            peers: vec![PeerConfig {
                id: 2,
                peer_addr: "127.0.0.1:1".parse().expect("addr"),
                http_addr: "127.0.0.1:2".parse().expect("addr"),
            }],
            initial_voters: vec![],
            replication_factor: 3,
            write_quorum: WriteQuorum::Majority,
            body_bytes_max: 1024,
            gc_interval_secs: 60,
            gc_grace_secs: 3600,
            healing: HealingConfig { reassign_after_secs: 45, ..HealingConfig::default() },
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            limits: LimitsConfig::default(),
            admin_token: None,
            discovery: None,
            seeds: Vec::new(),
            s3: None,
        }
    }

    #[test]
    fn toml_round_trips_and_founders_default_to_everyone() {
        let config = sample();
        let back: NodeConfig = toml::from_str(&config.to_toml()).expect("parses");
        assert_eq!(back, config);
        assert_eq!(config.founding_voters(), vec![NodeId(1), NodeId(2)]);
    }

    #[test]
    fn bad_values_are_named() {
        let mut short = sample();
        short.cluster_secret = "short".into();
        assert!(matches!(short.check(), Err(ConfigFileError::Invalid(m)) if m.contains("secret")));
        let mut me = sample();
        me.peers[0].id = 1;
        assert!(me.check().is_err());
        assert!(toml::from_str::<NodeConfig>("id = 1\nbogus = 2").is_err());
        let mut half_tls = sample();
        half_tls.tls_cert = Some("cert.pem".into());
        assert!(
            matches!(half_tls.check(), Err(ConfigFileError::Invalid(m)) if m.contains("tls_key"))
        );
        let mut tiny_frames = sample();
        tiny_frames.limits.frame_bytes_max = 1000;
        assert!(
            matches!(tiny_frames.check(), Err(ConfigFileError::Invalid(m)) if m.contains("frame_bytes_max"))
        );
    }

    #[test]
    fn tls_and_limits_round_trip_through_toml() {
        let mut config = sample();
        config.tls_cert = Some("/etc/dfs/cert.pem".into());
        config.tls_key = Some("/etc/dfs/key.pem".into());
        config.limits.requests_per_sec = 50;
        let text = config.to_toml();
        assert!(text.contains("[limits]"), "{text}");
        let back: NodeConfig = toml::from_str(&text).expect("parses");
        assert_eq!(back, config);
        assert_eq!(back.check().ok(), Some(()));
        let limits: LimitsConfig = toml::from_str("connections_per_ip_max = 7").expect("parses");
        assert_eq!(limits, LimitsConfig { connections_per_ip_max: 7, ..LimitsConfig::default() });
    }

    #[test]
    fn healing_settings_reach_core_and_bad_ones_are_refused_by_name() {
        let config = sample();
        let core = config.core_config();
        assert_eq!(core.health.reassign_after, std::time::Duration::from_secs(45));
        assert_eq!(core.validate(), Ok(()));
        let text = config.to_toml().replace("reassign_after_secs = 45", "reassign_after_secs = 1");
        let parsed: NodeConfig = toml::from_str(&text).expect("parses");
        let refused = parsed.core_config().validate();
        assert!(
            matches!(
                refused,
                Err(dfs_core::ConfigError::OutOfRange { field: "reassign_after", .. })
            ),
            "{refused:?}"
        );
        assert!(
            toml::from_str::<NodeConfig>(&text.replace("scrub_rest_secs", "scrub_nap")).is_err()
        );
    }
}
