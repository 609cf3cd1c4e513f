//! `dfs bench failover` (DESIGN §2 "failover", §4 "write unavailability after `kill -9` of the
//! raft leader: median ≤ 0.5 s, never over 1 s; reads: no failed request with client failover").
//!
//! It starts a local 3-node cluster (separate processes, default timeouts), writes a seed file,
//! and starts the [`Load`]: a writer of small files and a reader of the seed, both failing over
//! between all nodes. Then, `--kills` times: find the leader, SIGKILL it, and time how long it
//! takes until a write attempt begun after the kill is acknowledged; restart the node from its
//! data dir and wait until it has caught up with the new leader. It prints the median, p90 and
//! max unavailability and the failed reads, each against its target; `--json` prints one object.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::load::{self, Load, LoadCounts};
use super::{load_average, millis};
use crate::dev_cluster::{self, Started};

/// Median write unavailability the DESIGN asks for.
pub const TARGET_MEDIAN: Duration = Duration::from_millis(500);
/// Longest write unavailability the DESIGN allows.
pub const TARGET_MAX: Duration = Duration::from_secs(1);
/// Longest wait for writes to resume after a kill before the run is abandoned as broken.
pub const RESUME_LIMIT: Duration = Duration::from_secs(30);
/// Longest wait for the cluster to settle: one leader everyone knows, a restarted node caught up.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(60);
/// How often conditions are re-checked while waiting for them.
pub const POLL_EVERY: Duration = Duration::from_millis(5);
/// Where the seed file the reader reads lives.
pub const SEED_PATH: &str = "/bench/failover/seed";

/// Options of `dfs bench failover`.
#[derive(Debug, clap::Args)]
pub struct FailoverArgs {
    /// How many times the leader is killed (SIGKILL) and restarted.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub kills: u32,
    /// Size of the seed file the reader reads, in KiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub seed_kib: u32,
}

/// What one kill measured.
struct Round {
    killed: u64,
    term: u64,
    new_leader: u64,
    new_term: u64,
    unavailable: Duration,
    caught_up: Duration,
}

/// Runs the failover benchmark and prints its figures.
pub async fn run(args: FailoverArgs, json_out: bool) -> anyhow::Result<()> {
    let dir = super::tempfile_dir()?;
    let configs = dev_cluster::configs(&dir.join("cluster"), 3)?;
    let exe = std::env::current_exe().context("locating the dfs binary")?;
    let mut nodes = Vec::new();
    for config in configs {
        let child = dev_cluster::spawn(&exe, &config)?;
        nodes.push(Started { config, child });
    }
    let result = measure(&mut nodes, &exe, &args).await;
    dev_cluster::stop(&mut nodes).await;
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            // Keep the nodes' logs for whoever looks into the failure.
            return Err(error.context(format!("node logs kept in {}", dir.display())));
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    crate::commands::print(json_out, &report, |out| print_table(out, &report))
}

async fn measure(nodes: &mut [Started], exe: &Path, args: &FailoverArgs) -> anyhow::Result<Value> {
    dev_cluster::wait_ready(nodes).await?;
    let urls: Vec<String> =
        nodes.iter().map(|n| format!("http://{}", n.config.http_listen)).collect();
    let token = nodes[0].config.admin_token().expose();
    let http = dfs_runtime::tls::client_builder()
        .timeout(Duration::from_secs(10))
        .default_headers(crate::client::bearer(Some(&token))?)
        .build()?;
    let load_before = load_average();
    let (leader, _) = stable_leader(&http, &urls).await?;
    let seed = Bytes::from(super::random_seeded(args.seed_kib as usize * 1024, 7));
    let put = http.put(format!("{}/files{SEED_PATH}", urls[leader as usize - 1]));
    let reply: Value = crate::client::json_or_error(put.body(seed.clone()).send().await?).await?;
    let index = reply["index"].as_u64().ok_or_else(|| anyhow!("the seed put has no index"))?;
    for url in &urls {
        applied(&http, url, index).await?;
    }
    let load = Load::start(urls.clone(), &token, SEED_PATH.into(), seed)?;
    let bar = progress(args.kills);
    let mut rounds = Vec::new();
    for _ in 0..args.kills {
        match one_round(nodes, exe, &http, &urls, &load).await {
            Ok(round) => {
                bar.set_message(format!("last: {} ms", round.unavailable.as_millis()));
                bar.inc(1);
                rounds.push(round);
            }
            Err(error) => {
                bar.abandon();
                let stopped = load.stop().await;
                return Err(stopped.err().unwrap_or(error));
            }
        }
    }
    bar.finish_and_clear();
    let tally = load.stop().await?;
    let core = nodes[0].config.core_config();
    let setup = json!({
        "nodes": nodes.len(), "replication_factor": nodes[0].config.replication_factor,
        "write_quorum": "majority", "seed_kib": args.seed_kib, "write_bytes": load::WRITE_BYTES,
        "client_request_timeout_ms": load::REQUEST_TIMEOUT.as_millis() as u64,
        "tick_ms": core.tick_interval.as_millis() as u64, "heartbeat_ticks": core.heartbeat_ticks,
        "election_ticks": [core.election_ticks_min, core.election_ticks_max],
        "pre_vote": true, "check_quorum": true,
    });
    let machine = json!({
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        "load_average_before": load_before, "load_average_after": load_average(),
    });
    Ok(report(&rounds, &tally, setup, machine))
}

/// One kill: the leader dies, writes resume elsewhere, the node comes back and catches up.
async fn one_round(
    nodes: &mut [Started],
    exe: &Path,
    http: &reqwest::Client,
    urls: &[String],
    load: &Load,
) -> anyhow::Result<Round> {
    let (leader, term) = stable_leader(http, urls).await?;
    let acked = load.tally().writes_acked;
    poll_until(SETTLE_LIMIT, "writes to flow", || async {
        load.check_running().map(|()| (load.tally().writes_acked > acked).then_some(()))
    })
    .await?;
    let node = nodes
        .iter_mut()
        .find(|n| n.config.id == leader)
        .ok_or_else(|| anyhow!("the leader n{leader} is not one of ours"))?;
    let killed_at = Instant::now();
    load.mark(killed_at);
    node.child.start_kill().context("sending SIGKILL to the leader")?;
    node.child.wait().await.context("reaping the killed leader")?;
    let resumed = poll_until(RESUME_LIMIT, "a write acknowledged after the kill", || async {
        load.check_running().map(|()| load.first_ack_after_mark())
    })
    .await?;
    let unavailable = resumed.saturating_duration_since(killed_at);
    let survivors: Vec<&String> =
        urls.iter().enumerate().filter(|(i, _)| *i as u64 + 1 != leader).map(|(_, u)| u).collect();
    let (new_leader, new_term) = poll_until(SETTLE_LIMIT, "a new leader", || async {
        for url in &survivors {
            let Some(h) = health(http, url).await else { continue };
            let (Some(l), Some(t)) = (h["leader"].as_u64(), h["term"].as_u64()) else { continue };
            if l != leader && t > term {
                return Ok(Some((l, t)));
            }
        }
        Ok(None)
    })
    .await?;
    let restarted_at = Instant::now();
    node.child = dev_cluster::spawn(exe, &node.config)?;
    let url = format!("http://{}", node.config.http_listen);
    caught_up(http, &url, &urls[new_leader as usize - 1]).await?;
    let caught_up = restarted_at.elapsed();
    Ok(Round { killed: leader, term, new_leader, new_term, unavailable, caught_up })
}

/// Re-checks `check` every [`POLL_EVERY`] until it gives `Some` (or fails), at most `limit`.
async fn poll_until<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    let mut ticks = tokio::time::interval(POLL_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("gave up after {limit:?} waiting for {what}");
        }
    }
}

async fn health(http: &reqwest::Client, url: &str) -> Option<Value> {
    let response = http.get(format!("{url}/health")).send().await.ok()?;
    response.json().await.ok()
}

/// The leader every node agrees on (and that says it leads), and its term.
async fn stable_leader(http: &reqwest::Client, urls: &[String]) -> anyhow::Result<(u64, u64)> {
    poll_until(SETTLE_LIMIT, "one leader every node knows", || async {
        let mut views = Vec::new();
        for url in urls {
            let Some(h) = health(http, url).await else { return Ok(None) };
            views.push((
                h["node"].as_u64(),
                h["leader"].as_u64(),
                h["term"].as_u64(),
                h["role"].clone(),
            ));
        }
        let Some(&(_, Some(leader), Some(term), _)) = views.first() else { return Ok(None) };
        let agreed = views.iter().all(|v| v.1 == Some(leader) && v.2 == Some(term));
        let leads = views.iter().any(|v| v.0 == Some(leader) && v.3 == "leader");
        let ours = (1..=urls.len() as u64).contains(&leader);
        Ok((agreed && leads && ours).then_some((leader, term)))
    })
    .await
}

/// Waits until the node at `url` has applied `index`.
async fn applied(http: &reqwest::Client, url: &str, index: u64) -> anyhow::Result<()> {
    poll_until(SETTLE_LIMIT, &format!("{url} to apply {index}"), || async {
        let h = health(http, url).await;
        Ok(h.and_then(|h| (h["applied_index"].as_u64()? >= index).then_some(())))
    })
    .await
}

/// Waits until the (restarted) node at `url` knows a leader and has applied what `leader_url`
/// had committed once the node answered.
async fn caught_up(http: &reqwest::Client, url: &str, leader_url: &str) -> anyhow::Result<()> {
    poll_until(SETTLE_LIMIT, &format!("{url} to come back"), || async {
        Ok(health(http, url).await.and_then(|h| h["leader"].as_u64()))
    })
    .await?;
    let commit = health(http, leader_url)
        .await
        .and_then(|h| h["commit_index"].as_u64())
        .ok_or_else(|| anyhow!("the leader at {leader_url} did not say its commit index"))?;
    applied(http, url, commit).await
}

fn progress(kills: u32) -> ProgressBar {
    let bar = ProgressBar::new(u64::from(kills));
    if let Ok(style) = ProgressStyle::with_template("kills {pos}/{len} {bar:30} {msg}") {
        bar.set_style(style);
    }
    bar
}

/// The nearest-rank `q` quantile of sorted `values`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn report(rounds: &[Round], tally: &LoadCounts, setup: Value, machine: Value) -> Value {
    let sorted = |f: fn(&Round) -> Duration| {
        let mut v: Vec<f64> = rounds.iter().map(|r| millis(f(r))).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let down = sorted(|r| r.unavailable);
    let back = sorted(|r| r.caught_up);
    let (down_median, down_max) = (median(&down), down.last().copied().unwrap_or(0.0));
    let each: Vec<Value> = rounds
        .iter()
        .map(|r| json!({
            "killed": r.killed, "term": r.term, "new_leader": r.new_leader, "new_term": r.new_term,
            "write_unavailable_ms": millis(r.unavailable), "catch_up_ms": millis(r.caught_up),
        }))
        .collect();
    json!({
        "failover": {
            "kills": rounds.len(),
            "write_unavailable_ms": {
                "median": down_median, "p90": quantile(&down, 0.9), "max": down_max,
                "min": down.first().copied().unwrap_or(0.0),
            },
            "median_ratio_to_target": down_median / millis(TARGET_MEDIAN),
            "max_ratio_to_target": down_max / millis(TARGET_MAX),
            "target_median_ms": millis(TARGET_MEDIAN), "target_max_ms": millis(TARGET_MAX),
            "reads": tally.reads, "failed_reads": tally.reads_failed,
            "read_failovers": tally.read_failovers, "last_read_failure": tally.last_read_failure,
            "writes_acked": tally.writes_acked, "write_retries": tally.write_retries,
            "catch_up_ms": { "median": median(&back), "max": back.last().copied().unwrap_or(0.0) },
            "rounds": each,
        },
        "machine": machine,
        "setup": setup,
    })
}

fn print_table(out: &mut dyn Write, r: &Value) -> std::io::Result<()> {
    let f = &r["failover"];
    let n = |v: &Value| v.as_f64().unwrap_or(0.0);
    let down = &f["write_unavailable_ms"];
    writeln!(
        out,
        "leader failover: {} kills of the leader (SIGKILL), 3 nodes, RF 3; load average {} before, {} after ({} cpus)",
        f["kills"], r["machine"]["load_average_before"].as_str().unwrap_or("?"),
        r["machine"]["load_average_after"].as_str().unwrap_or("?"), r["machine"]["cpus"]
    )?;
    writeln!(
        out,
        "write unavailability  median {:>6.0} ms   {:.2} x target (500 ms)",
        n(&down["median"]),
        n(&f["median_ratio_to_target"])
    )?;
    writeln!(out, "                      p90    {:>6.0} ms", n(&down["p90"]))?;
    writeln!(
        out,
        "                      max    {:>6.0} ms   {:.2} x target (1000 ms)",
        n(&down["max"]),
        n(&f["max_ratio_to_target"])
    )?;
    writeln!(
        out,
        "reads                 {} done, {} failed (target 0); {} attempts moved on to another node",
        f["reads"], f["failed_reads"], f["read_failovers"]
    )?;
    if let Some(why) = f["last_read_failure"].as_str() {
        writeln!(out, "                      last failed read: {why}")?;
    }
    writeln!(
        out,
        "writes                {} acknowledged; {} attempts replayed on another node",
        f["writes_acked"], f["write_retries"]
    )?;
    writeln!(
        out,
        "restart to caught up  median {:.0} ms, max {:.0} ms",
        n(&f["catch_up_ms"]["median"]),
        n(&f["catch_up_ms"]["max"])
    )?;
    writeln!(out, "\nkill  leader  term  new leader  term  unavailable  caught up")?;
    for (i, round) in f["rounds"].as_array().into_iter().flatten().enumerate() {
        writeln!(
            out,
            "{:<5} n{:<6} {:<5} n{:<10} {:<5} {:>8.0} ms  {:>6.0} ms",
            i + 1,
            round["killed"].as_u64().unwrap_or(0),
            round["term"].as_u64().unwrap_or(0),
            round["new_leader"].as_u64().unwrap_or(0),
            round["new_term"].as_u64().unwrap_or(0),
            n(&round["write_unavailable_ms"]),
            n(&round["catch_up_ms"])
        )?;
    }
    Ok(())
}
