//! `dfs bench sync` (DESIGN §4 "live sync propagation ≤ 250 ms p99"): a local 3-node cluster,
//! `dfs watch A --to /bench-sync` and `dfs mirror /bench-sync B` as their own processes (as on
//! two machines), then N saves one after another into A, alternating new files in nested
//! folders and edits of earlier ones. Each save is timed from just before the write until B
//! holds an identical file (B is checked every [`POLL`]; the figure is at most that much late).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::dev_cluster::{self, Started};

/// How often B is checked for the saved file.
pub const POLL: Duration = Duration::from_millis(1);
/// Longest one save may take to show up in B before the run fails.
const PROPAGATION_MAX: Duration = Duration::from_secs(10);
/// The cluster folder the benchmark syncs.
const ROOT: &str = "/bench-sync";

/// Options of `dfs bench sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Saves to time.
    #[arg(long, default_value_t = 200)]
    pub saves: usize,
    /// Size of each saved file, in KiB.
    #[arg(long, default_value_t = 64)]
    pub size_kib: usize,
}

/// Runs the benchmark and prints p50/p99/max propagation.
pub async fn run(args: SyncArgs, json_out: bool) -> anyhow::Result<()> {
    let dir = super::tempfile_dir()?;
    let configs = dev_cluster::configs(&dir.join("cluster"), 3)?;
    let exe = std::env::current_exe().context("locating the dfs binary")?;
    let mut nodes = Vec::new();
    for config in configs {
        let child = dev_cluster::spawn(&exe, &config)?;
        nodes.push(Started { config, child });
    }
    let mut children = Vec::new();
    let result = measure(&mut nodes, &exe, &dir, &args, &mut children).await;
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    dev_cluster::stop(&mut nodes).await;
    let report = result.map_err(|e| e.context(format!("logs kept in {}", dir.display())))?;
    let _ = std::fs::remove_dir_all(&dir);
    crate::commands::print(json_out, &report, |out| print_table(out, &report))
}

async fn measure(
    nodes: &mut [Started],
    exe: &Path,
    dir: &Path,
    args: &SyncArgs,
    children: &mut Vec<Child>,
) -> anyhow::Result<Value> {
    dev_cluster::wait_ready(nodes).await?;
    let urls: Vec<String> =
        nodes.iter().map(|n| format!("http://{}", n.config.http_listen)).collect();
    let http = dfs_runtime::tls::client_builder().timeout(Duration::from_secs(10)).build()?;
    super::wait_for_leader(&http, &urls).await?;
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&a)?;
    std::fs::create_dir_all(&b)?;
    let nodes_env = urls.join(",");
    let spawn = |args: &[&str], log: &str| -> anyhow::Result<Child> {
        let log = std::fs::File::create(dir.join(log))?;
        Command::new(exe)
            .args(args)
            .env("DFS_NODES", &nodes_env)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting a sync process")
    };
    let (a_text, b_text) = (a.display().to_string(), b.display().to_string());
    children.push(spawn(&["watch", &a_text, "--to", ROOT], "watch.log")?);
    children.push(spawn(&["mirror", ROOT, &b_text], "mirror.log")?);
    // Ready once a first file makes it across (not timed).
    save_and_wait(&a, &b, "warmup.bin", &super::random_seeded(1024, 1), Duration::from_secs(30))
        .await?;
    let mut latencies = Vec::with_capacity(args.saves);
    let bytes = args.size_kib * 1024;
    for i in 0..args.saves {
        let rel = if i % 2 == 0 {
            format!("d{}/sub/f{i}.bin", i % 7)
        } else {
            format!("d{}/sub/f{}.bin", (i - 1) % 7, i - 1)
        };
        let body = super::random_seeded(bytes, 100 + i as u64);
        latencies.push(save_and_wait(&a, &b, &rel, &body, PROPAGATION_MAX).await?);
    }
    let mut ms: Vec<f64> = latencies.iter().map(|d| super::millis(*d)).collect();
    ms.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        let rank = (q * ms.len() as f64).ceil() as usize;
        ms.get(rank.clamp(1, ms.len().max(1)) - 1).copied().unwrap_or(0.0)
    };
    Ok(json!({
        "propagation_ms": { "p50": quantile(0.5), "p99": quantile(0.99), "max": quantile(1.0), "target_p99": 250.0 },
        "setup": { "nodes": 3, "replication_factor": 3, "saves": args.saves, "size_kib": args.size_kib, "poll_ms": super::millis(POLL), "load_average": super::load_average() },
    }))
}

/// Writes `body` to `a/rel` and waits until `b/rel` holds the same bytes; returns how long.
async fn save_and_wait(
    a: &Path,
    b: &Path,
    rel: &str,
    body: &[u8],
    limit: Duration,
) -> anyhow::Result<Duration> {
    let (source, target): (PathBuf, PathBuf) = (a.join(rel), b.join(rel));
    if let Some(parent) = source.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let started = Instant::now();
    std::fs::write(&source, body).with_context(|| format!("saving {}", source.display()))?;
    loop {
        if std::fs::read(&target).is_ok_and(|got| got == body) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            bail!("{rel} did not reach the mirror within {limit:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

fn print_table(out: &mut dyn Write, r: &Value) -> std::io::Result<()> {
    let p = &r["propagation_ms"];
    writeln!(
        out,
        "live sync propagation (save in A -> identical file in B), {} saves of {} KiB",
        r["setup"]["saves"], r["setup"]["size_kib"]
    )?;
    writeln!(
        out,
        "p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms   (target p99 <= 250 ms; load {})",
        p["p50"].as_f64().unwrap_or(0.0),
        p["p99"].as_f64().unwrap_or(0.0),
        p["max"].as_f64().unwrap_or(0.0),
        r["setup"]["load_average"].as_str().unwrap_or("?")
    )
}
