//! `dfs dev-cluster`: N local nodes, each its own OS process with its own data dir and free
//! ports. Each node's config is written to `<dir>/n<id>/node.toml` and reused on the next run
//! (same ports, same data), so a node can also be stopped and started by hand with
//! `dfs node --config`. A node that exits is reported and the others keep serving, so failover can
//! be tried; nothing is restarted behind the operator's back: `dfs dev-cluster restart N` starts
//! it again through the [`control`] socket. Ctrl-C (or SIGTERM) stops every node with SIGTERM and
//! waits for it.

pub mod control;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use dfs_runtime::config::{NodeConfig, PeerConfig};
use dfs_runtime::core::WriteQuorum;
use rand::RngCore;
use tokio::process::{Child, Command};

use crate::client::Client;
use crate::node_cmd::wait_for_signal;

/// Longest a node may take to answer `/health` after starting.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest a node may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `dfs dev-cluster`.
#[derive(Debug, clap::Args)]
pub struct DevClusterArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Where the nodes' data dirs go (`<dir>/n1`, `<dir>/n2`, ...).
    #[arg(long, default_value = "dfs-dev")]
    pub dir: PathBuf,
    /// Print one JSON object per node instead of a table.
    #[arg(long)]
    pub json: bool,
    /// What to do with a running dev cluster (none: run one).
    #[command(subcommand)]
    pub action: Option<DevClusterAction>,
}

/// Requests to a running `dfs dev-cluster`.
#[derive(Debug, clap::Subcommand)]
pub enum DevClusterAction {
    /// Start node ID of the dev cluster running in --dir again (stopping it first if it runs);
    /// answers once it serves.
    Restart {
        /// The node.
        id: u64,
        /// The running dev cluster's dir.
        #[arg(long, default_value = "dfs-dev")]
        dir: PathBuf,
        /// Print `{"id", "pid"}` instead of a sentence.
        #[arg(long)]
        json: bool,
    },
}

/// A node process started by dev-cluster or bench.
pub struct Started {
    /// Its config.
    pub config: NodeConfig,
    /// Its process.
    pub child: Child,
}

/// Starts the nodes, prints them, and serves until Ctrl-C: reports nodes that exit and restarts
/// them on request; or, with an action, sends it to the running dev cluster.
pub async fn run(args: DevClusterArgs, json: bool) -> anyhow::Result<()> {
    if let Some(DevClusterAction::Restart { id, dir, json: restart_json }) = args.action {
        let pid = control::restart(&dir, id).await?;
        let value = serde_json::json!({ "id": id, "pid": pid });
        let json = json || args.json || restart_json;
        return crate::commands::print(json, &value, |out| {
            writeln!(out, "node {id} restarted (pid {pid})")
        });
    }
    if args.nodes == 0 || args.nodes > 64 {
        bail!("--nodes must be between 1 and 64");
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let control = control::listen(&args.dir).await?;
    let configs = configs(&args.dir, args.nodes)?;
    let exe = std::env::current_exe().context("locating the dfs binary")?;
    let mut started = Vec::new();
    for config in configs {
        let child = spawn(&exe, &config)?;
        started.push(Started { config, child });
    }
    let ready = wait_ready(&mut started).await;
    if let Err(error) = ready {
        stop(&mut started).await;
        let _ = std::fs::remove_file(control::socket_path(&args.dir));
        return Err(error);
    }
    let s3_key = match s3_key(&started).await {
        Ok(key) => Some(key),
        Err(error) => {
            eprintln!("could not create an S3 access key: {error:#}");
            None
        }
    };
    print(&mut started, s3_key.as_ref(), args.json)?;
    let signal = wait_for_signal();
    tokio::pin!(signal);
    // Nodes that exited and were reported; they stay down until restarted.
    let mut down = BTreeSet::new();
    loop {
        tokio::select! {
            () = &mut signal => break,
            (id, status) = next_exit(&mut started, &down) => {
                eprintln!(
                    "node {id} exited ({status}); the others keep serving. Start it again with: \
                     dfs dev-cluster restart {id} --dir {}",
                    args.dir.display()
                );
                down.insert(id);
            }
            accepted = control.accept() => {
                let Ok((mut stream, _)) = accepted else { continue };
                let answer = match control::read_request(&mut stream).await {
                    Ok(control::Request::Restart(id)) => {
                        let restarted = restart(&exe, &mut started, id).await;
                        match &restarted {
                            Ok(pid) => {
                                down.remove(&id);
                                eprintln!("node {id} restarted (pid {pid})");
                            }
                            // Stopped and not serving: reported once, here.
                            Err(_) => {
                                down.insert(id);
                            }
                        }
                        restarted
                    }
                    Err(message) => Err(message),
                };
                control::answer(&mut stream, answer).await;
            }
        }
    }
    stop(&mut started).await;
    let _ = std::fs::remove_file(control::socket_path(&args.dir));
    Ok(())
}

/// Stops node `id` if it runs, starts it again and waits until it answers `/health`; its pid,
/// or what went wrong.
async fn restart(exe: &Path, started: &mut [Started], id: u64) -> Result<u32, String> {
    let Some(node) = started.iter_mut().find(|n| n.config.id == id) else {
        return Err(format!("no node {id} in this dev cluster"));
    };
    stop(std::slice::from_mut(node)).await;
    node.child = spawn(exe, &node.config).map_err(|e| format!("starting node {id}: {e:#}"))?;
    wait_ready(std::slice::from_mut(node)).await.map_err(|e| format!("{e:#}"))?;
    node.child.id().ok_or_else(|| format!("node {id} exited as it started"))
}

/// Reads each node's config if it exists, else makes one with free ports.
pub fn configs(dir: &Path, nodes: u64) -> anyhow::Result<Vec<NodeConfig>> {
    let existing: Vec<Option<NodeConfig>> =
        (1..=nodes).map(|id| NodeConfig::load(&config_path(dir, id)).ok()).collect();
    if existing.iter().all(Option::is_some) {
        return Ok(existing.into_iter().flatten().collect());
    }
    let addrs = dfs_runtime::ports::free_loopback_addrs(3 * nodes as usize)?;
    let secret = new_secret();
    let admin_token = format!("admin.{}", new_secret().trim_start_matches("dev-cluster-"));
    let peer = |id: u64| PeerConfig {
        id,
        peer_addr: addrs[2 * (id as usize - 1)],
        http_addr: addrs[2 * (id as usize - 1) + 1],
    };
    let mut out = Vec::new();
    for id in 1..=nodes {
        let me = peer(id);
        let config = NodeConfig {
            id,
            peer_listen: me.peer_addr,
            http_listen: me.http_addr,
            data_dir: std::path::absolute(dir.join(format!("n{id}")))?,
            cluster_secret: secret.clone(),
            peers: (1..=nodes).filter(|&p| p != id).map(peer).collect(),
            initial_voters: (1..=nodes).collect(),
            replication_factor: nodes.min(3) as usize,
            write_quorum: WriteQuorum::Majority,
            body_bytes_max: 64 * 1024 * 1024 * 1024,
            gc_interval_secs: 60,
            gc_grace_secs: 3600,
            healing: Default::default(),
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            limits: Default::default(),
            admin_token: Some(admin_token.clone()),
            discovery: None,
            seeds: Vec::new(),
            s3: Some(dfs_runtime::config::S3Config {
                listen: addrs[2 * nodes as usize + id as usize - 1],
                region: dfs_runtime::config::default_s3_region(),
                domain: None,
                multipart_expire_secs: dfs_runtime::config::default_multipart_expire_secs(),
            }),
        };
        std::fs::create_dir_all(&config.data_dir)?;
        std::fs::write(config_path(dir, id), config.to_toml())?;
        out.push(config);
    }
    Ok(out)
}

fn config_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("n{id}")).join("node.toml")
}

/// A secret for a new local cluster, from OS randomness.
fn new_secret() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("dev-cluster-{hex}")
}

/// Starts `exe node` for `config`, its output appended to `<data_dir>/node.log` (a restarted
/// node keeps its earlier lives' lines).
pub fn spawn(exe: &Path, config: &NodeConfig) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.data_dir.join("node.log"))?;
    let child = Command::new(exe)
        .arg("node")
        .arg("--config")
        .arg(config.data_dir.join("node.toml"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting node {}", config.id))?;
    Ok(child)
}

/// Waits until every node answers `/health`; fails if one exits or takes over [`START_TIMEOUT`].
pub async fn wait_ready(started: &mut [Started]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    for node in started.iter_mut() {
        let client = Client::new(vec![format!("http://{}", node.config.http_listen)], None, None)?;
        loop {
            if client.get_json("/health").await.is_ok() {
                break;
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                let log = node.config.data_dir.join("node.log");
                bail!(
                    "node {} exited during start ({status}); see {}",
                    node.config.id,
                    log.display()
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!("node {} did not answer /health within {:?}", node.config.id, START_TIMEOUT);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// An S3 access key pair for the admin, made through the first node's `POST /keys` (a new
/// pair each run; `dfs key list` shows the earlier ones).
pub(crate) async fn s3_key(started: &[Started]) -> anyhow::Result<(String, String)> {
    let first = started.first().context("no node")?;
    let token = first.config.admin_token().expose().to_owned();
    let node = format!("http://{}", first.config.http_listen);
    let client = Client::new(vec![node], None, Some(&token))?;
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        // The first leader records the admin moments after the nodes answer /health.
        let sent = client.send(|http, node| http.post(format!("{node}/keys"))).await;
        let answer = match sent {
            Ok(response) => crate::client::json_or_error(response).await,
            Err(error) => Err(error),
        };
        match answer {
            Ok(value) => {
                let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
                return Ok((field("id"), field("secret")));
            }
            Err(error) if tokio::time::Instant::now() > deadline => return Err(error),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A node's S3 endpoint, if it serves S3.
fn s3_endpoint(config: &NodeConfig) -> Option<String> {
    config.s3.as_ref().map(|s3| format!("http://{}", s3.listen))
}

fn print(
    started: &mut [Started],
    s3_key: Option<&(String, String)>,
    json: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if !json {
        writeln!(out, "{:<4} {:<8} {:<24} {:<24} data dir", "id", "pid", "http", "s3")?;
    }
    for node in started.iter() {
        let pid = node.child.id().unwrap_or(0);
        let (id, http, dir) =
            (node.config.id, node.config.http_listen, node.config.data_dir.display());
        let s3 = s3_endpoint(&node.config);
        if json {
            let token = node.config.admin_token().expose();
            let (key_id, secret) = s3_key.cloned().unzip();
            let line = serde_json::json!({
                "id": id, "pid": pid, "http": format!("http://{http}"), "data_dir": dir.to_string(),
                "token": token, "s3": s3, "s3_access_key_id": key_id, "s3_secret_access_key": secret,
            });
            writeln!(out, "{line}")?;
        } else {
            let s3 = s3.unwrap_or_else(|| "-".to_owned());
            writeln!(out, "{id:<4} {pid:<8} {:<24} {s3:<24} {dir}", format!("http://{http}"))?;
        }
    }
    if !json {
        let nodes: Vec<String> =
            started.iter().map(|n| format!("http://{}", n.config.http_listen)).collect();
        let token = started.first().map(|n| n.config.admin_token().expose()).unwrap_or_default();
        writeln!(out, "\nDFS_NODES={}    (Ctrl-C stops the cluster)", nodes.join(","))?;
        writeln!(
            out,
            "a node that dies is reported and the others keep serving; dfs dev-cluster restart N starts it again"
        )?;
        writeln!(out, "DFS_TOKEN={token}    (the admin's token; dfs user add makes more)")?;
        if let Some(first) = nodes.first() {
            writeln!(out, "dashboard: {first}/#token={token}")?;
        }
        if let Some((id, secret)) = s3_key {
            writeln!(
                out,
                "S3 (path style, region dfs): AWS_ACCESS_KEY_ID={id} AWS_SECRET_ACCESS_KEY={secret}"
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The first node not in `down` that has exited, with its exit status.
async fn next_exit(started: &mut [Started], down: &BTreeSet<u64>) -> (u64, String) {
    loop {
        for node in started.iter_mut().filter(|n| !down.contains(&n.config.id)) {
            if let Ok(Some(status)) = node.child.try_wait() {
                return (node.config.id, status.to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stops every node with SIGTERM, killing any that takes over [`STOP_TIMEOUT`] to exit.
pub async fn stop(started: &mut [Started]) {
    for node in started.iter() {
        if let Some(pid) = node.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGTERM);
        }
    }
    for node in started.iter_mut() {
        if tokio::time::timeout(STOP_TIMEOUT, node.child.wait()).await.is_err() {
            let _ = node.child.kill().await;
        }
    }
}
