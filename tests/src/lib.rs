//! Workspace-level tests of dfs: rules about the code base itself (`tests/sans_io.rs`) and
//! end-to-end tests against real `dfs node` processes on loopback. This library is their harness:
//! a [`TestCluster`] of node processes (each with its own ports, temp data dir and S3 listener)
//! that can be killed with SIGKILL and restarted, helpers that wait on conditions with deadlines
//! instead of sleeping and that damage stored chunks, a client [`workload`] for fault tests, a
//! small [`webdriver`] client for the dashboard's browser test and the [`s3`] clients' helpers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dfs_runtime::config::{NodeConfig, PeerConfig};
use dfs_runtime::core::ids::{ChunkId, Hash};
use dfs_runtime::core::WriteQuorum;
use serde_json::Value;

pub mod join;
pub mod mount;
pub mod s3;
pub mod signals;
pub mod sse;
pub mod webdriver;
pub mod workload;

/// Cargo's target dir: `$CARGO_TARGET_DIR`, else the workspace's `target`.
pub fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Where tests leave files for people to look at (screenshots): `<target dir>/test-artifacts`.
pub fn artifact_dir() -> PathBuf {
    target_dir().join("test-artifacts")
}

/// The `dfs` binary under test: `$DFS_BIN`, else `target/debug/dfs` (built by `scripts/test`).
pub fn dfs_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("DFS_BIN") {
        return bin.into();
    }
    let bin = target_dir().join("debug/dfs");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p dfs-cli` (scripts/test does)",
        bin.display()
    );
    bin
}

/// The secret of every test cluster.
pub const CLUSTER_SECRET: &str = "the test cluster's secret";

/// The admin token of every test cluster (derived from [`CLUSTER_SECRET`], as a node does when
/// its config names no `admin_token`).
pub fn admin_token() -> String {
    dfs_runtime::config::derived_admin_token(CLUSTER_SECRET).expose()
}

/// An HTTP client builder whose requests carry `token` as their bearer token.
pub fn client_builder_with_token(token: &str) -> reqwest::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .expect("tokens are visible ASCII");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    dfs_runtime::tls::client_builder().default_headers(headers)
}

/// An HTTP client builder whose requests carry the admin token.
pub fn admin_client_builder() -> reqwest::ClientBuilder {
    client_builder_with_token(&admin_token())
}

/// How often conditions are re-checked while waiting for them.
pub const POLL_EVERY: Duration = Duration::from_millis(20);

/// Re-checks `check` every [`POLL_EVERY`] until it returns `Some`; fails the test if that takes
/// longer than `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let polled = poll_until(limit, check).await;
    polled.unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

/// Polls `check` every [`POLL_EVERY`] until it returns `Some` (that value) or `limit` passes
/// (`None`), for callers that explain a timeout themselves.
pub async fn poll_until<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let mut ticks = tokio::time::interval(POLL_EVERY);
    let polled = tokio::time::timeout(limit, async {
        loop {
            ticks.tick().await;
            if let Some(value) = check().await {
                return value;
            }
        }
    });
    polled.await.ok()
}

/// Failure-detection timings for tests that settle in seconds: heartbeats every 200 ms, suspect
/// after 1 s, down after 2 s, copies reassigned after 4 s.
pub fn quick_healing() -> dfs_runtime::config::HealingConfig {
    dfs_runtime::config::HealingConfig {
        heartbeat_interval_ms: 200,
        suspect_after_ms: 1_000,
        down_after_secs: 2,
        reassign_after_secs: 4,
        ..dfs_runtime::config::HealingConfig::default()
    }
}

/// One node process of a test cluster.
pub struct TestNode {
    /// Its config (ports, data dir).
    pub config: NodeConfig,
    child: Option<Child>,
    /// Extra environment variables of its next start (e.g. an armed failpoint).
    env: Vec<(String, String)>,
}

impl TestNode {
    /// Its HTTP base URL (`https://` when the cluster uses TLS).
    pub fn url(&self) -> String {
        let scheme = if self.config.tls_cert.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.config.http_listen)
    }

    /// Its log file.
    pub fn log(&self) -> PathBuf {
        self.config.data_dir.join("node.log")
    }

    /// Peak resident memory of the process so far (VmHWM), in bytes, while it runs.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    }
}

/// A cluster of real `dfs node` processes in a temp dir.
pub struct TestCluster {
    /// Its nodes, `nodes[i]` has id `i + 1`.
    pub nodes: Vec<TestNode>,
    /// An HTTP client (trusting the cluster's certificate when it uses TLS).
    pub http: reqwest::Client,
    /// The PEM certificate every node serves, when the cluster uses TLS.
    pub ca_cert: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

/// Writes a self-signed certificate for 127.0.0.1 and localhost and its key into `dir`; returns
/// their paths.
pub fn self_signed_cert(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let made = rcgen::generate_simple_self_signed(names).expect("self-signed certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write certificate");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write key");
    (cert, key)
}

/// How to build a test cluster.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Node count.
    pub nodes: u64,
    /// Replication factor.
    pub replication_factor: usize,
    /// Durable copies a write needs before it commits.
    pub write_quorum: WriteQuorum,
    /// Largest accepted body.
    pub body_bytes_max: u64,
    /// Per node id, a secret other than the cluster's.
    pub wrong_secret: Option<u64>,
    /// Seconds between GC passes and how long garbage is kept.
    pub gc_interval_secs: u64,
    /// Grace period of deleted and uncommitted chunks, in seconds.
    pub gc_grace_secs: u64,
    /// Failure detection and self-healing settings.
    pub healing: dfs_runtime::config::HealingConfig,
    /// How many of the last nodes are not founding voters: configured and running (listed as
    /// peers everywhere), waiting to be added with `dfs node add`.
    pub joiners: u64,
    /// Serve HTTPS with a self-signed certificate made for the test (see [`TestCluster::ca_cert`]).
    pub tls: bool,
    /// Limits on clients and peers.
    pub limits: dfs_runtime::config::LimitsConfig,
    /// `[s3] multipart_expire_secs`.
    pub multipart_expire_secs: u64,
}

impl ClusterSpec {
    /// `nodes` nodes, RF min(3, nodes), 1 GiB bodies, everyone with the right secret.
    pub fn new(nodes: u64) -> Self {
        Self {
            nodes,
            replication_factor: nodes.min(3) as usize,
            write_quorum: WriteQuorum::Majority,
            body_bytes_max: 1 << 30,
            wrong_secret: None,
            gc_interval_secs: 60,
            gc_grace_secs: 3600,
            healing: Default::default(),
            joiners: 0,
            tls: false,
            limits: Default::default(),
            multipart_expire_secs: dfs_runtime::config::default_multipart_expire_secs(),
        }
    }
}

fn free_addrs(count: usize) -> Vec<SocketAddr> {
    dfs_runtime::ports::free_loopback_addrs(count).expect("free loopback ports")
}

/// Attempts at starting a cluster before giving up (a port may be taken between picking and
/// binding it, by another process).
pub const START_ATTEMPTS: usize = 5;

impl TestCluster {
    /// Starts the cluster and waits until every node with the right secret knows a leader.
    pub async fn start(spec: ClusterSpec) -> Self {
        for attempt in 1..=START_ATTEMPTS {
            let mut cluster = Self::configure(&spec);
            for id in 1..=spec.nodes {
                cluster.spawn(id);
            }
            if cluster.all_listening().await {
                let members: Vec<u64> = (1..=spec.nodes - spec.joiners)
                    .filter(|&id| spec.wrong_secret != Some(id))
                    .collect();
                for &id in &members {
                    cluster.wait_for_leader(id).await;
                }
                // A new leader commits an empty entry for its term (index 2 in a new cluster)
                // just after it is known, then records the first admin; tests start once every
                // member has applied both, so nothing commits behind their back.
                for &id in &members {
                    cluster.wait_for_applied(id, 2).await;
                    cluster.wait_for_first_admin(id).await;
                }
                return cluster;
            }
            eprintln!("cluster start attempt {attempt} lost a port race; retrying with new ports");
        }
        panic!("could not start a test cluster in {START_ATTEMPTS} attempts");
    }

    /// Whether every node process is up and listening on its own ports.
    async fn all_listening(&mut self) -> bool {
        for id in 1..=self.nodes.len() as u64 {
            if !self.listening(id).await {
                return false;
            }
        }
        true
    }

    /// Whether node `id`'s process is up and listening on its own ports: its `endpoints.json`
    /// names its pid (so a port answered by some other process is not mistaken for it).
    async fn listening(&mut self, id: u64) -> bool {
        let limit = Duration::from_secs(20);
        let node = &mut self.nodes[id as usize - 1];
        let mut ticks = tokio::time::interval(POLL_EVERY);
        let listening = tokio::time::timeout(limit, async {
            loop {
                ticks.tick().await;
                let Some(child) = node.child.as_mut() else { return false };
                let endpoints =
                    std::fs::read_to_string(node.config.data_dir.join("endpoints.json"));
                let listed = endpoints
                    .ok()
                    .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                    .and_then(|v| v["pid"].as_u64());
                if listed == Some(u64::from(child.id())) {
                    return true;
                }
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return false;
                }
            }
        })
        .await;
        listening == Ok(true)
    }

    fn configure(spec: &ClusterSpec) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let tls = spec.tls.then(|| self_signed_cert(dir.path()));
        let addrs = free_addrs(2 * spec.nodes as usize);
        let peer = |id: u64| PeerConfig {
            id,
            peer_addr: addrs[2 * (id as usize - 1)],
            http_addr: addrs[2 * (id as usize - 1) + 1],
        };
        let mut nodes = Vec::new();
        for id in 1..=spec.nodes {
            let data_dir = dir.path().join(format!("n{id}"));
            std::fs::create_dir_all(&data_dir).expect("data dir");
            let secret = if spec.wrong_secret == Some(id) {
                "an impostor's secret!!"
            } else {
                CLUSTER_SECRET
            };
            let config = NodeConfig {
                id,
                peer_listen: peer(id).peer_addr,
                http_listen: peer(id).http_addr,
                data_dir,
                cluster_secret: secret.into(),
                peers: (1..=spec.nodes).filter(|&p| p != id).map(peer).collect(),
                initial_voters: (1..=spec.nodes - spec.joiners).collect(),
                replication_factor: spec.replication_factor,
                write_quorum: spec.write_quorum,
                body_bytes_max: spec.body_bytes_max,
                gc_interval_secs: spec.gc_interval_secs,
                gc_grace_secs: spec.gc_grace_secs,
                healing: spec.healing,
                tls_cert: tls.as_ref().map(|(cert, _)| cert.clone()),
                tls_key: tls.as_ref().map(|(_, key)| key.clone()),
                tls_ca: None,
                limits: spec.limits,
                admin_token: None,
                discovery: None,
                seeds: Vec::new(),
                s3: Some(dfs_runtime::config::S3Config {
                    multipart_expire_secs: spec.multipart_expire_secs,
                    ..s3::config()
                }),
            };
            std::fs::write(config.data_dir.join("node.toml"), config.to_toml())
                .expect("write config");
            nodes.push(TestNode { config, child: None, env: Vec::new() });
        }
        let mut http = admin_client_builder()
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(dfs_runtime::peers::POOL_IDLE_TIMEOUT);
        if let Some((cert, _)) = &tls {
            http = http.tls_certs_only(dfs_runtime::tls::load_roots(cert).expect("certificate"));
        }
        let http = http.build().expect("client");
        let ca_cert = tls.map(|(cert, _)| cert);
        Self { nodes, http, ca_cert, _dir: dir }
    }

    /// The node with this id.
    pub fn node(&self, id: u64) -> &TestNode {
        &self.nodes[id as usize - 1]
    }

    fn spawn(&mut self, id: u64) {
        let node = &mut self.nodes[id as usize - 1];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log())
            .expect("log file");
        // JSON logs: what operators ship to their log store, and what tests can parse.
        let child = Command::new(dfs_bin())
            .args(["--log-format", "json", "node", "--config"])
            .arg(node.config.data_dir.join("node.toml"))
            .env("RUST_LOG", "info")
            .envs(node.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start dfs node");
        node.child = Some(child);
    }

    /// `kill -9` of a node.
    pub fn kill9(&mut self, id: u64) {
        if let Some(mut child) = self.nodes[id as usize - 1].child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// Starts a killed node again from its data dir and waits until it knows a leader (other
    /// nodes may be down meanwhile).
    pub async fn restart(&mut self, id: u64) {
        self.spawn(id);
        assert!(self.listening(id).await, "n{id} did not come back on its ports");
        self.wait_for_leader(id).await;
    }

    /// Starts a killed node again with extra environment variables (e.g. `DFS_FAILPOINT`),
    /// and waits until it listens; `false` if it exited first (it may be meant to die). Later
    /// restarts drop the variables.
    pub async fn restart_with_env(&mut self, id: u64, env: &[(&str, &str)]) -> bool {
        let node = &mut self.nodes[id as usize - 1];
        node.env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.spawn(id);
        self.nodes[id as usize - 1].env.clear();
        self.listening(id).await
    }

    /// Whether node `id`'s process has exited by itself (it was started and is gone); reaps it.
    pub fn exited(&mut self, id: u64) -> bool {
        let node = &mut self.nodes[id as usize - 1];
        let gone = node.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
        if gone {
            node.child = None;
        }
        gone
    }

    /// Whether node `id`'s process is running (not killed).
    pub fn is_running(&self, id: u64) -> bool {
        self.node(id).child.is_some()
    }

    /// PUTs `body` at `path` through node `via`; fails the test unless it answers 201. Returns
    /// the node's JSON answer.
    pub async fn put(&self, via: u64, path: &str, body: impl Into<reqwest::Body>) -> Value {
        let url = format!("{}/files{path}", self.node(via).url());
        let response = self.http.put(url).body(body).send().await.expect("put reaches the node");
        let status = response.status();
        let answer: Value = response.json().await.expect("json");
        assert_eq!(status, 201, "put {path}: {answer}");
        answer
    }

    /// GET `/health` of a node, if it answers.
    pub async fn health(&self, id: u64) -> Option<Value> {
        let response =
            self.http.get(format!("{}/health", self.node(id).url())).send().await.ok()?;
        response.json().await.ok()
    }

    /// Waits until node `id` answers and knows a leader.
    pub async fn wait_for_leader(&self, id: u64) -> u64 {
        wait_for(Duration::from_secs(30), &format!("n{id} to know a leader"), || async {
            self.health(id).await.and_then(|h| h["leader"].as_u64())
        })
        .await
    }

    /// Waits until node `id` has applied the command recording the first admin.
    pub async fn wait_for_first_admin(&self, id: u64) {
        wait_for(Duration::from_secs(30), &format!("n{id} to record the first admin"), || async {
            let url = format!("{}/users", self.node(id).url());
            let users: Value = self.http.get(url).send().await.ok()?.json().await.ok()?;
            users["users"].as_array().is_some_and(|u| !u.is_empty()).then_some(())
        })
        .await
    }

    /// Waits until node `id` has applied at least `index`.
    pub async fn wait_for_applied(&self, id: u64, index: u64) {
        wait_for(Duration::from_secs(30), &format!("n{id} to apply {index}"), || async {
            self.health(id)
                .await
                .and_then(|h| (h["applied_index"].as_u64()? >= index).then_some(()))
        })
        .await
    }

    /// Runs the `dfs` CLI against every node; returns (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let (code, out, err) = self.cli_code(args);
        (code == Some(0), out, err)
    }

    /// Runs the `dfs` CLI against every node as the admin; returns (exit code, stdout, stderr).
    pub fn cli_code(&self, args: &[&str]) -> (Option<i32>, String, String) {
        self.cli_as(&admin_token(), args)
    }

    /// Runs the `dfs` CLI against every node with `token` (empty: none); returns (exit code,
    /// stdout, stderr).
    pub fn cli_as(&self, token: &str, args: &[&str]) -> (Option<i32>, String, String) {
        let nodes: Vec<String> = self.nodes.iter().map(TestNode::url).collect();
        let mut command = Command::new(dfs_bin());
        command.args(args).env("DFS_NODES", nodes.join(",")).env("DFS_TOKEN", token);
        if let Some(ca) = &self.ca_cert {
            command.env("DFS_CA_CERT", ca);
        }
        let output = command.output().expect("run dfs");
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (output.status.code(), text(output.stdout), text(output.stderr))
    }

    /// The HTTP base URLs of every node, in id order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(TestNode::url).collect()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The chunks of `path`'s first version, from node 1's `/stat`.
pub async fn chunk_ids(cluster: &TestCluster, path: &str) -> Vec<ChunkId> {
    let url = format!("{}/stat{path}", cluster.node(1).url());
    let stat: Value = cluster.http.get(url).send().await.expect("stat").json().await.expect("json");
    let chunks = stat["versions"][0]["chunks"].as_array().cloned().unwrap_or_default();
    let parse = |hex: &str| blake3::Hash::from_hex(hex).map(|h| ChunkId(Hash(*h.as_bytes())));
    chunks.iter().filter_map(|c| parse(c["hash"].as_str()?).ok()).collect()
}

/// Where node `node` keeps `chunk`.
pub fn chunk_file(cluster: &TestCluster, node: u64, chunk: ChunkId) -> PathBuf {
    dfs_runtime::store::chunks::chunk_path(&cluster.node(node).config.data_dir, chunk)
}

/// Every chunk file node `node` stores, sorted (temp files left out).
pub fn stored_chunk_files(cluster: &TestCluster, node: u64) -> Vec<PathBuf> {
    let root = cluster.node(node).config.data_dir.join("chunks");
    let mut files = Vec::new();
    let entries = |dir: &std::path::Path| -> Vec<PathBuf> {
        let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
        read.filter_map(|e| e.ok().map(|e| e.path())).collect()
    };
    for ab in entries(&root).into_iter().filter(|p| !p.ends_with("tmp")) {
        for cd in entries(&ab) {
            files.extend(entries(&cd).into_iter().filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

/// Silent disk corruption: flips one byte of the file at `path`, in place, at `offset` modulo
/// its length. `false` if the file is gone or empty.
pub fn flip_byte(path: &std::path::Path, offset: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(file) = std::fs::OpenOptions::new().read(true).write(true).open(path) else {
        return false;
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return false;
    }
    let at = offset % len;
    let mut byte = [0u8];
    if file.read_exact_at(&mut byte, at).is_err() {
        return false;
    }
    byte[0] ^= 0x5a;
    file.write_all_at(&byte, at).is_ok() && file.sync_all().is_ok()
}

/// `n` pseudo-random bytes from `seed`.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut bytes = vec![0; n];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// Sends `request` (a whole raw HTTP/1.1 request) to `addr` as written but for an added
/// `Authorization` header with the admin token (after the request line), so paths reach the
/// server without client-side normalisation; returns the status and the body.
pub async fn raw_http(addr: SocketAddr, request: &str) -> (u16, String) {
    raw_http_with_body(addr, request, &[]).await
}

/// Like [`raw_http`], then sends `body`; a server that answers early and closes is not an error.
pub async fn raw_http_with_body(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = match head.split_once("\r\n") {
        Some((line, rest)) => {
            format!("{line}\r\nAuthorization: Bearer {}\r\n{rest}", admin_token())
        }
        None => head.to_owned(),
    };
    stream.write_all(head.as_bytes()).await.expect("send");
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// GET `url` with `http` and parse the answer as JSON (panics with `url` when either fails).
pub async fn get_json(http: &reqwest::Client, url: String) -> Value {
    let response = http.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    response.json().await.unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}
