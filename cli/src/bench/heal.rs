//! `dfs bench heal` (DESIGN §2 "recovery sync", "re-replication"; §4 "a node back after a short
//! outage starts catching up within 1 s of rejoining", "recovery sync of a node that missed 1 GiB:
//! ≥ 0.5 × disk throughput"). Two measurements, each on its own local cluster of separate
//! `dfs node` processes, against a sequential fsync'd disk write baseline taken in the same run:
//! - **Recovery**: 3 nodes, RF 3, default settings (`--repair-mib-per-sec` aside). A follower is
//!   killed (SIGKILL), `--gib` GiB of random files is written through the other two, the node is
//!   started again, and the bench times how long until its chunk files first grow (catch-up
//!   start) and until it holds everything again; throughput is the bytes it received over that
//!   time.
//! - **Re-replication**: 4 nodes, RF 3, short failure timings and rebalance off (`[healing]`,
//!   printed). About `--gib` GiB per node is written (4/3 × `--gib` in all), the follower
//!   holding the most is killed, and the bench times how long until every chunk has 3 copies on
//!   live nodes again; the copying time is that minus `reassign_after`.
//!
//! Rules: "holds everything" / "back at 3 copies" is exact: the leader's replication queue is
//! empty and `GET /fsck?verify=false` finds `replication_factor` copies of every live chunk on
//! reachable nodes. Every wait polls every [`POLL_EVERY`] under a deadline, never a fixed sleep
//! (fsck only while the queue is empty, see [`FSCK_IDLE_EVERY`]).
//! Bytes received are measured on the node's disk (its chunk files). To show where the time
//! goes, each run also prints when the leader's view changed (the node's committed health, the
//! queue non-empty, the first copy done) and the CPU the machine and each node used meanwhile.
//! Uploads stream: one [`BLOCK_BYTES`] block per request in flight is in memory, never a file.

mod meter;
mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use dfs_runtime::config::HealingConfig;
use futures_util::{stream, StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::{load_average, millis};
use crate::dev_cluster::{self, Started};
use meter::{disk_usage, CpuMeter, Usage};
use report::print_table;

/// How often conditions are re-checked while waiting for them.
pub const POLL_EVERY: Duration = Duration::from_millis(50);
/// How often fsck runs while the queue is empty and no copy has finished since the last run
/// (with a copy finished since, it runs at the next poll).
pub const FSCK_IDLE_EVERY: Duration = Duration::from_secs(1);
/// Longest wait for a cluster to heal before the run is abandoned as broken.
pub const HEAL_LIMIT: Duration = Duration::from_secs(900);
/// Longest a restarted node may take to start catching up (DESIGN §4).
pub const TARGET_START: Duration = Duration::from_secs(1);
/// Recovery sync throughput the DESIGN asks for, as a fraction of disk write throughput.
pub const TARGET_RECOVERY_RATIO: f64 = 0.5;
/// Bytes generated and sent at a time by one upload.
pub const BLOCK_BYTES: usize = 1 << 20;
/// Uploads in flight at once.
pub const UPLOADS_INFLIGHT: usize = 2;

/// Options of `dfs bench heal`.
#[derive(Debug, clap::Args)]
pub struct HealArgs {
    /// GiB the stopped node misses (recovery), and about what the killed node holds
    /// (re-replication).
    #[arg(long, default_value_t = 1.0)]
    pub gib: f64,
    /// Size of each written file, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub file_mib: u64,
    /// Which measurement to run.
    #[arg(long, value_enum, default_value_t = Part::Both)]
    pub part: Part,
    /// Seconds of silence before the killed node's chunks are copied elsewhere (re-replication).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub reassign_after_secs: u64,
    /// `repair_bytes_per_sec` of both clusters, in MiB/s (default: the node default).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub repair_mib_per_sec: Option<u64>,
    /// Keep the clusters' data dirs and node logs (their path is printed) instead of removing
    /// them.
    #[arg(long)]
    pub keep: bool,
}

/// The measurements `dfs bench heal` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// Recovery sync and re-replication.
    Both,
    /// Only the recovery sync of a node back from an outage.
    Recovery,
    /// Only the re-replication of a killed node's chunks.
    Rereplication,
}

/// Runs the healing benchmark and prints its figures.
pub async fn run(args: HealArgs, json_out: bool) -> anyhow::Result<()> {
    if !(args.gib > 0.0 && args.gib <= 64.0) {
        bail!("--gib must be more than 0 and at most 64");
    }
    let dir = super::tempfile_dir()?;
    let load_before = load_average();
    let baseline_mib = ((args.gib * 1024.0) as usize).clamp(256, 1024);
    let disk_mbps = super::disk_write_mbps(&dir.join("baseline.bin"), baseline_mib)?;
    let bar = spinner();
    let mut report = json!({
        "baseline": { "disk_write_mb_per_s": disk_mbps, "disk_write_mib": baseline_mib },
    });
    let mut healing = HealingConfig::default();
    if let Some(mib) = args.repair_mib_per_sec {
        healing.repair_bytes_per_sec = mib << 20;
    }
    if args.part != Part::Rereplication {
        let dir = dir.join("recovery");
        let body = async |c: &mut Cluster| recovery(c, &args, healing, disk_mbps, &bar).await;
        report["recovery"] = with_cluster(&dir, 3, healing, args.keep, body).await?;
    }
    if args.part != Part::Recovery {
        let healing = short_timings(healing, args.reassign_after_secs);
        let dir = dir.join("rereplication");
        let body = async |c: &mut Cluster| rereplication(c, &args, healing, disk_mbps, &bar).await;
        report["rereplication"] = with_cluster(&dir, 4, healing, args.keep, body).await?;
    }
    bar.finish_and_clear();
    if args.keep {
        report["kept_dir"] = json!(dir.display().to_string());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    report["machine"] = json!({
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        "load_average_before": load_before, "load_average_after": load_average(),
    });
    report["setup"] = json!({ "gib": args.gib, "file_mib": args.file_mib });
    crate::commands::print(json_out, &report, |out| print_table(out, &report))
}

/// The `[healing]` settings of the re-replication run: heartbeat 250 ms, suspect 1 s, down 2 s,
/// and rebalance off, so that no rebalance move competes with (or is counted as) a repair copy.
fn short_timings(base: HealingConfig, reassign_after_secs: u64) -> HealingConfig {
    HealingConfig {
        heartbeat_interval_ms: 250,
        suspect_after_ms: 1000,
        down_after_secs: 2,
        reassign_after_secs,
        rebalance_tolerance_pct: 0,
        ..base
    }
}

/// A running local cluster and a client for it.
struct Cluster {
    nodes: Vec<Started>,
    exe: PathBuf,
    http: reqwest::Client,
}

impl Cluster {
    fn url(&self, id: u64) -> String {
        let node = self.nodes.iter().find(|n| n.config.id == id);
        node.map(|n| format!("http://{}", n.config.http_listen)).unwrap_or_default()
    }

    fn urls_except(&self, id: u64) -> Vec<String> {
        let others = self.nodes.iter().filter(|n| n.config.id != id);
        others.map(|n| format!("http://{}", n.config.http_listen)).collect()
    }

    fn node(&mut self, id: u64) -> anyhow::Result<&mut Started> {
        self.nodes.iter_mut().find(|n| n.config.id == id).ok_or_else(|| anyhow!("no node n{id}"))
    }

    /// SIGKILLs node `id` and reaps it.
    async fn kill(&mut self, id: u64) -> anyhow::Result<()> {
        let node = self.node(id)?;
        node.child.start_kill().context("sending SIGKILL")?;
        node.child.wait().await.context("reaping the killed node")?;
        Ok(())
    }

    /// Starts node `id` again from its data dir.
    fn restart(&mut self, id: u64) -> anyhow::Result<()> {
        let exe = self.exe.clone();
        let node = self.node(id)?;
        node.child = dev_cluster::spawn(&exe, &node.config)?;
        Ok(())
    }

    /// The leader every node knows (after waiting until each knows one).
    async fn leader(&self) -> anyhow::Result<u64> {
        let urls = self.urls_except(u64::MAX);
        super::wait_for_leader(&self.http, &urls).await?;
        let health = get_json(&self.http, &format!("{}/health", urls[0])).await;
        health.and_then(|h| h["leader"].as_u64()).ok_or_else(|| anyhow!("no leader is known"))
    }
}

/// Starts `count` nodes in `dir` (`healing` is their `[healing]` table), runs `body`, stops
/// them; removes `dir` on success unless `keep`, and keeps it (for the node logs) on failure.
async fn with_cluster<F>(
    dir: &Path,
    count: u64,
    healing: HealingConfig,
    keep: bool,
    body: F,
) -> anyhow::Result<Value>
where
    F: AsyncFnOnce(&mut Cluster) -> anyhow::Result<Value>,
{
    let mut configs = dev_cluster::configs(dir, count)?;
    for config in &mut configs {
        config.healing = healing;
        std::fs::write(config.data_dir.join("node.toml"), config.to_toml())?;
    }
    let exe = std::env::current_exe().context("locating the dfs binary")?;
    let token = configs.first().map(|c| c.admin_token().expose()).unwrap_or_default();
    let http = dfs_runtime::tls::client_builder()
        .timeout(Duration::from_secs(600))
        .default_headers(crate::client::bearer(Some(&token))?)
        .build()?;
    let mut cluster = Cluster { nodes: Vec::new(), exe, http };
    for config in configs {
        let child = dev_cluster::spawn(&cluster.exe, &config)?;
        cluster.nodes.push(Started { config, child });
    }
    let result = match dev_cluster::wait_ready(&mut cluster.nodes).await {
        Ok(()) => body(&mut cluster).await,
        Err(error) => Err(error),
    };
    dev_cluster::stop(&mut cluster.nodes).await;
    match result {
        Ok(value) => {
            if !keep {
                let _ = std::fs::remove_dir_all(dir);
            }
            Ok(value)
        }
        Err(error) => Err(error.context(format!("node logs kept in {}", dir.display()))),
    }
}

/// Recovery: kill a follower, write `--gib` GiB, restart it, time its catch-up.
async fn recovery(
    cluster: &mut Cluster,
    args: &HealArgs,
    healing: HealingConfig,
    disk_mbps: f64,
    bar: &ProgressBar,
) -> anyhow::Result<Value> {
    let leader = cluster.leader().await?;
    let victim = (1..=3).rev().find(|&id| id != leader).unwrap_or(3);
    cluster.kill(victim).await?;
    let killed_at = Instant::now();
    let total = (args.gib * f64::from(1u32 << 30)) as u64;
    bar.set_message(format!("recovery: n{victim} killed; writing {} MB", total / 1_000_000));
    let live = cluster.urls_except(victim);
    let files = write_files(&cluster.http, &live, "recovery", total, args.file_mib << 20).await?;
    let write_secs = killed_at.elapsed().as_secs_f64();
    let chunk_dir = cluster.node(victim)?.config.data_dir.join("chunks");
    let before = disk_usage(&chunk_dir);
    let (ask, victim_url) = (cluster.url(leader), cluster.url(victim));
    let mut watch = Watch::new(&cluster.http, &ask, victim).await;
    cluster.restart(victim)?;
    let restarted = Instant::now();
    let cpu = CpuMeter::start(cluster);
    bar.set_message(format!("recovery: n{victim} restarted; waiting until it holds everything"));
    let healed = watch.wait_healed(&cluster.http, Some((&chunk_dir, &victim_url))).await?;
    let cpu = cpu.finish(cluster);
    let after = disk_usage(&chunk_dir);
    let done = healed.at.saturating_duration_since(restarted);
    let received = after.bytes.saturating_sub(before.bytes);
    let mbps = super::mb(received as usize) / done.as_secs_f64();
    let start_ms = watch.first.get("first_chunk_file").map(|t| since(restarted, *t));
    Ok(json!({
        "node": victim, "leader": leader, "files": files, "written_bytes": total,
        "outage_s": restarted.saturating_duration_since(killed_at).as_secs_f64(),
        "write_s": write_secs,
        "catch_up_start_ms": start_ms,
        "catch_up_start_ratio_to_target": start_ms.map(|ms| ms / millis(TARGET_START)),
        "target_catch_up_start_ms": millis(TARGET_START),
        "last_chunk_file_ms": watch.last_growth.map(|t| since(restarted, t)),
        "holds_everything_ms": millis(done),
        "bytes_received": received, "chunks_received": after.chunks.saturating_sub(before.chunks),
        "live_chunks": healed.chunks, "chunks_indexed_on_node": healed.indexed,
        "mb_per_s": mbps, "ratio_to_disk": mbps / disk_mbps, "target_ratio": TARGET_RECOVERY_RATIO,
        "events_ms": watch.events(restarted), "polls": watch.polls, "cpu": cpu,
        "healing": serde_json::to_value(healing).unwrap_or_default(),
    }))
}

/// Re-replication: write 4/3 × `--gib` GiB on 4 nodes, kill the fullest follower, time the
/// copies that bring every chunk back to 3 copies.
async fn rereplication(
    cluster: &mut Cluster,
    args: &HealArgs,
    healing: HealingConfig,
    disk_mbps: f64,
    bar: &ProgressBar,
) -> anyhow::Result<Value> {
    let leader = cluster.leader().await?;
    let total = (args.gib * f64::from(1u32 << 30) * 4.0 / 3.0) as u64;
    bar.set_message(format!("re-replication: writing {} MB on 4 nodes", total / 1_000_000));
    let all = cluster.urls_except(u64::MAX);
    let files =
        write_files(&cluster.http, &all, "rereplication", total, args.file_mib << 20).await?;
    bar.set_message("re-replication: waiting for 3 copies of everything before the kill");
    let ask = cluster.url(leader);
    let mut watch = Watch::new(&cluster.http, &ask, leader).await;
    watch.wait_healed(&cluster.http, None).await?;
    let mut fullest = (0, Usage::default());
    for node in cluster.nodes.iter().filter(|n| n.config.id != leader) {
        let usage = disk_usage(&node.config.data_dir.join("chunks"));
        if usage.bytes >= fullest.1.bytes {
            fullest = (node.config.id, usage);
        }
    }
    let (victim, held) = fullest;
    watch = Watch::new(&cluster.http, &ask, victim).await;
    cluster.kill(victim).await?;
    let killed_at = Instant::now();
    let cpu = CpuMeter::start(cluster);
    bar.set_message(format!("re-replication: n{victim} killed; waiting for 3 copies again"));
    let healed = watch.wait_healed(&cluster.http, None).await?;
    let cpu = cpu.finish(cluster);
    let done = healed.at.saturating_duration_since(killed_at);
    let reassign = Duration::from_secs(healing.reassign_after_secs);
    let copying = done.saturating_sub(reassign);
    let lost = watch.first.get("health_lost");
    let from_lost = lost.map(|t| healed.at.saturating_duration_since(*t));
    let mbps = |d: Duration| super::mb(held.bytes as usize) / d.as_secs_f64().max(1e-3);
    Ok(json!({
        "node": victim, "leader": leader, "files": files, "written_bytes": total,
        "held_bytes": held.bytes, "held_chunks": held.chunks, "live_chunks": healed.chunks,
        "all_copies_back_ms": millis(done),
        "minus_reassign_after_ms": millis(copying),
        "after_lost_seen_ms": from_lost.map(millis),
        "copy_mb_per_s": mbps(copying),
        "copy_mb_per_s_after_lost_seen": from_lost.map(mbps),
        "ratio_to_disk": mbps(copying) / disk_mbps,
        "events_ms": watch.events(killed_at), "polls": watch.polls, "cpu": cpu,
        "healing": serde_json::to_value(healing).unwrap_or_default(),
    }))
}

/// Polls one node's view of the cluster and remembers when things were first seen: the watched
/// node's health changes (`health_<state>`), the queue non-empty, the first copy done.
struct Watch {
    /// The node asked (the leader).
    url: String,
    /// The node whose health is followed.
    node: u64,
    /// Its health at the last poll.
    health: Option<String>,
    /// The queue's `done_total` when the watch began.
    done_before: Option<u64>,
    /// When each event was first seen.
    first: BTreeMap<String, Instant>,
    /// When the watched node's chunk files last grew (recovery only).
    last_growth: Option<Instant>,
    /// When fsck last ran, and the queue's `done_total` then.
    fsck_last: Option<(Instant, Option<u64>)>,
    /// Polls made.
    polls: u64,
}

/// A poll that found the cluster healed: the queue empty and fsck ok in the same poll.
struct Healed {
    /// When the answers that showed it had arrived.
    at: Instant,
    /// Live chunks fsck checked.
    chunks: u64,
    /// Chunks the index lists on the watched node.
    indexed: Option<u64>,
}

impl Watch {
    async fn new(http: &reqwest::Client, url: &str, node: u64) -> Self {
        let (health, _) = node_view(http, url, node).await;
        let queue = get_json(http, &format!("{url}/replication-queue?limit=1")).await;
        Self {
            url: url.to_owned(),
            node,
            health,
            done_before: queue.and_then(|q| q["done_total"].as_u64()),
            first: BTreeMap::new(),
            last_growth: None,
            fsck_last: None,
            polls: 0,
        }
    }

    fn mark(&mut self, event: &str, at: Instant) {
        self.first.entry(event.to_owned()).or_insert(at);
    }

    /// One poll: the watched node's health, the queue and, only when the queue is empty,
    /// `fsck?verify=false`. `Some` once both say healed.
    async fn poll(&mut self, http: &reqwest::Client) -> Option<Healed> {
        self.polls += 1;
        let (health, indexed) = node_view(http, &self.url, self.node).await;
        let now = Instant::now();
        if let Some(state) = health.as_deref().filter(|_| health != self.health) {
            self.mark(&format!("health_{state}"), now);
            self.health = health;
        }
        let queue = get_json(http, &format!("{}/replication-queue?limit=1", self.url)).await?;
        let now = Instant::now();
        let total = queue["total"].as_u64();
        if total.is_some_and(|t| t > 0) {
            self.mark("queue_nonempty", now);
        }
        let done = queue["done_total"].as_u64();
        if done > self.done_before {
            self.mark("first_copy_done", now);
        }
        let idle =
            self.fsck_last.is_some_and(|(at, seen)| seen == done && at.elapsed() < FSCK_IDLE_EVERY);
        if total != Some(0) || idle {
            return None;
        }
        self.fsck_last = Some((Instant::now(), done));
        let fsck = get_json(http, &format!("{}/fsck?verify=false", self.url)).await?;
        let chunks = fsck["chunks"].as_u64().unwrap_or(0);
        (fsck["ok"].as_bool() == Some(true)).then(|| Healed { at: Instant::now(), chunks, indexed })
    }

    /// Polls every [`POLL_EVERY`] until healed, at most [`HEAL_LIMIT`]. With `restarted` (its
    /// chunk dir and URL), also notes when the watched node answers and its chunk files grow.
    async fn wait_healed(
        &mut self,
        http: &reqwest::Client,
        restarted: Option<(&Path, &str)>,
    ) -> anyhow::Result<Healed> {
        let started = Instant::now();
        let mut last = restarted.map(|(dir, _)| disk_usage(dir)).unwrap_or_default();
        let mut ticks = interval();
        loop {
            ticks.tick().await;
            if let Some((dir, url)) = restarted {
                let usage = disk_usage(dir);
                if usage.bytes > last.bytes {
                    self.mark("first_chunk_file", Instant::now());
                    self.last_growth = Some(Instant::now());
                }
                last = usage;
                let answering = self.first.contains_key("answering");
                if !answering && get_json(http, &format!("{url}/health")).await.is_some() {
                    self.mark("answering", Instant::now());
                }
            }
            if let Some(healed) = self.poll(http).await {
                return Ok(healed);
            }
            if started.elapsed() > HEAL_LIMIT {
                bail!("not healed within {HEAL_LIMIT:?} (watching n{}; {last:?})", self.node);
            }
        }
    }

    /// Each event's time in ms after `zero`, in the order they happened.
    fn events(&self, zero: Instant) -> Value {
        let mut events: Vec<(&String, &Instant)> = self.first.iter().collect();
        events.sort_by_key(|(_, at)| **at);
        let list = events.iter().map(|(name, at)| json!([name, since(zero, **at)]));
        Value::Array(list.collect())
    }
}

/// `node`'s committed health and the chunks the index lists on it, as `url` sees them.
async fn node_view(http: &reqwest::Client, url: &str, node: u64) -> (Option<String>, Option<u64>) {
    let Some(view) = get_json(http, &format!("{url}/nodes")).await else { return (None, None) };
    let nodes = view["nodes"].as_array().cloned().unwrap_or_default();
    let Some(entry) = nodes.iter().find(|n| n["id"].as_u64() == Some(node)) else {
        return (None, None);
    };
    (entry["health"].as_str().map(str::to_owned), entry["chunks_indexed"].as_u64())
}

fn since(zero: Instant, at: Instant) -> f64 {
    millis(at.saturating_duration_since(zero))
}

/// The JSON answer of a successful GET, or `None` (an error or a refusal is "not yet").
async fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    let response = http.get(url).timeout(Duration::from_secs(30)).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

fn interval() -> tokio::time::Interval {
    let mut ticks = tokio::time::interval(POLL_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// Writes `total` bytes of random files of `file_bytes` each under `/bench/heal/<prefix>/`,
/// spread over `urls`, [`UPLOADS_INFLIGHT`] at a time; returns how many files.
async fn write_files(
    http: &reqwest::Client,
    urls: &[String],
    prefix: &str,
    total: u64,
    file_bytes: u64,
) -> anyhow::Result<u64> {
    let count = total.div_ceil(file_bytes);
    stream::iter(0..count)
        .map(Ok)
        .try_for_each_concurrent(UPLOADS_INFLIGHT, |i| {
            let len = file_bytes.min(total - i * file_bytes);
            let node = &urls[i as usize % urls.len()];
            let url = format!("{node}/files/bench/heal/{prefix}/f{i}");
            let seed = blake3::hash(format!("{prefix}-{i}-{}", std::process::id()).as_bytes());
            put_random(http, url, len, seed)
        })
        .await?;
    Ok(count)
}

/// PUTs `len` pseudo-random bytes (blake3 XOF of `seed`), streamed one block at a time.
async fn put_random(
    http: &reqwest::Client,
    url: String,
    len: u64,
    seed: blake3::Hash,
) -> anyhow::Result<()> {
    let reader = blake3::Hasher::new().update(seed.as_bytes()).finalize_xof();
    let blocks = stream::unfold((reader, len), |(mut reader, left)| async move {
        if left == 0 {
            return None;
        }
        let mut block = vec![0u8; left.min(BLOCK_BYTES as u64) as usize];
        reader.fill(&mut block);
        let sent = block.len() as u64;
        Some((Ok::<_, std::io::Error>(Bytes::from(block)), (reader, left - sent)))
    });
    let body = reqwest::Body::wrap_stream(blocks);
    let response = http.put(&url).header("content-length", len).body(body).send().await?;
    if !response.status().is_success() {
        let status = response.status();
        bail!("put {url} failed: {status} {}", response.text().await.unwrap_or_default());
    }
    Ok(())
}

fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
