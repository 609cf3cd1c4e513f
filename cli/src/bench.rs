//! `dfs bench` (DESIGN §4): starts a local 3-node cluster (separate processes, RF 3, majority
//! quorum) in a temp dir and measures it against baselines taken in the same run on the same
//! disk: sequential fsync'd write throughput, and fsync'd small-file creates per second. Prints
//! each figure with its ratio to the baseline (or the DESIGN target); `--json` prints one object.
//! `dfs bench failover` measures leader failover instead ([`failover`]); `dfs bench s3` the S3
//! listener against the native API ([`s3`]).

mod failover;
mod heal;
mod load;
mod mount;
mod s3;
mod sync;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};

use crate::dev_cluster::{self, Started};

/// Options of `dfs bench`: the data-path benchmark, or another one named by a subcommand.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// Which benchmark (default: the data path).
    #[command(subcommand)]
    pub mode: Option<BenchMode>,
    /// Options of the data-path benchmark.
    #[command(flatten)]
    pub data: DataArgs,
}

/// The benchmarks other than the data path.
#[derive(Debug, clap::Subcommand)]
pub enum BenchMode {
    /// Write unavailability and failed reads while the raft leader is killed with SIGKILL.
    Failover(failover::FailoverArgs),
    /// Recovery sync of a node back from an outage, and re-replication of a killed node's chunks.
    Heal(heal::HealArgs),
    /// Live sync propagation: save in a watched folder -> identical file in a mirror (p50/p99).
    Sync(sync::SyncArgs),
    /// `dfs mount` vs the native API in the same run: sequential read/write, cp -r, ls -l.
    Mount(mount::MountBenchArgs),
    /// The S3 listener vs the native API in the same run: small and large PUT/GET, LIST.
    S3(s3::S3BenchArgs),
}

/// Options of the data-path benchmark.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Size of the large file, in MiB.
    #[arg(long, default_value_t = 256)]
    pub large_mib: usize,
    /// How many 4 KiB files to put and get.
    #[arg(long, default_value_t = 2000)]
    pub small_files: usize,
    /// Requests in flight for the small-file runs.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

/// Runs the chosen benchmark and prints its figures.
pub async fn run(args: BenchArgs, json_out: bool) -> anyhow::Result<()> {
    match args.mode {
        Some(BenchMode::Failover(failover)) => failover::run(failover, json_out).await,
        Some(BenchMode::Heal(heal)) => heal::run(heal, json_out).await,
        Some(BenchMode::Sync(sync)) => sync::run(sync, json_out).await,
        Some(BenchMode::Mount(mount)) => mount::run(mount, json_out).await,
        Some(BenchMode::S3(s3)) => s3::run(s3, json_out).await,
        None => run_data(args.data, json_out).await,
    }
}

/// The data-path benchmark.
async fn run_data(args: DataArgs, json_out: bool) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let disk_mbps = disk_write_mbps(&dir.join("baseline.bin"), args.large_mib)?;
    let disk_small = disk_small_files_per_sec(&dir.join("baseline-small"), 500)?;
    let configs = dev_cluster::configs(&dir.join("cluster"), 3)?;
    let token = configs.first().map(|c| c.admin_token().expose()).unwrap_or_default();
    let exe = std::env::current_exe()?;
    let mut nodes = Vec::new();
    for config in configs {
        let child = dev_cluster::spawn(&exe, &config)?;
        nodes.push(Started { config, child });
    }
    let result = measure(&mut nodes, &args, &token, disk_mbps, disk_small).await;
    dev_cluster::stop(&mut nodes).await;
    let _ = std::fs::remove_dir_all(&dir);
    let report = result?;
    crate::commands::print(json_out, &report, |out| print_table(out, &report))
}

/// `/proc/loadavg`'s 1, 5 and 15 minute figures (the machine may be shared).
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// A duration in milliseconds, for figures.
fn millis(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A fresh directory for one benchmark run's cluster and baselines.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("dfs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn measure(
    nodes: &mut [Started],
    args: &DataArgs,
    token: &str,
    disk_mbps: f64,
    disk_small: f64,
) -> anyhow::Result<Value> {
    dev_cluster::wait_ready(nodes).await?;
    let urls: Vec<String> =
        nodes.iter().map(|n| format!("http://{}", n.config.http_listen)).collect();
    let http = dfs_runtime::tls::client_builder()
        .timeout(Duration::from_secs(600))
        .default_headers(crate::client::bearer(Some(token))?)
        .build()?;
    wait_for_leader(&http, &urls).await?;
    let large = Bytes::from(random(args.large_mib << 20));
    let started = Instant::now();
    let response =
        http.put(format!("{}/files/bench/large", urls[0])).body(large.clone()).send().await?;
    if !response.status().is_success() {
        bail!("large put failed: {}", response.text().await.unwrap_or_default());
    }
    let write_mbps = mb(large.len()) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let body = http.get(format!("{}/files/bench/large", urls[1])).send().await?.bytes().await?;
    let read_mbps = mb(body.len()) / started.elapsed().as_secs_f64();
    if body != large {
        bail!("the large file read back differently");
    }
    let (put_rate, put_lat) = small_run(&http, &urls, args, Small::Put).await?;
    // Default (linearizable) and stale reads, interleaved twice so neither gets the warmer turn.
    let mut runs = Vec::new();
    for mode in [Small::Get, Small::GetStale, Small::Get, Small::GetStale] {
        runs.push(small_run(&http, &urls, args, mode).await?);
    }
    let (get_rate, get_lat) = mean_run(&runs[0], &runs[2]);
    let (stale_rate, stale_lat) = mean_run(&runs[1], &runs[3]);
    let rss: Vec<u64> = nodes.iter().filter_map(|n| n.child.id()).map(peak_rss_kib).collect();
    let target_write = 0.7 * disk_mbps / 3.0;
    Ok(json!({
        "baseline": { "disk_write_mb_per_s": disk_mbps, "disk_small_files_per_s": disk_small },
        "large_write": { "mb_per_s": write_mbps, "ratio_to_disk_over_3": write_mbps / (disk_mbps / 3.0), "target_ratio": 0.7, "target_mb_per_s": target_write },
        "large_read": { "mb_per_s": read_mbps, "ratio_to_target": read_mbps / 1200.0, "target_mb_per_s": 1200.0 },
        "small_put": { "files_per_s": put_rate, "ratio_to_disk_small": put_rate / disk_small, "ratio_to_target": put_rate / 3000.0, "p50_ms": put_lat.0, "p99_ms": put_lat.1 },
        "small_get": { "files_per_s": get_rate, "ratio_to_target": get_rate / 10000.0, "ratio_to_stale": get_rate / stale_rate, "target_ratio_to_stale": 0.8, "p50_ms": get_lat.0, "p99_ms": get_lat.1 },
        "small_get_stale": { "files_per_s": stale_rate, "p50_ms": stale_lat.0, "p99_ms": stale_lat.1 },
        "peak_node_rss_mib": rss.iter().map(|k| *k as f64 / 1024.0).collect::<Vec<_>>(),
        "setup": { "nodes": 3, "replication_factor": 3, "write_quorum": "majority", "large_mib": args.large_mib, "small_files": args.small_files, "concurrency": args.concurrency },
    }))
}

/// Waits until every node in `urls` knows a leader.
async fn wait_for_leader(http: &reqwest::Client, urls: &[String]) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    for url in urls {
        loop {
            let health: Option<Value> = match http.get(format!("{url}/health")).send().await {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            if health.is_some_and(|h| h["leader"].is_u64()) {
                break;
            }
            if Instant::now() > deadline {
                bail!("{url} did not learn a leader");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// What a small-file run does to each file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Small {
    /// `PUT` it.
    Put,
    /// `GET` it (linearizable, the default).
    Get,
    /// `GET` it with `stale=true` (the answering node's replica, no ReadIndex).
    GetStale,
}

/// The mean rate and latencies of two runs of the same kind.
fn mean_run(a: &(f64, (f64, f64)), b: &(f64, (f64, f64))) -> (f64, (f64, f64)) {
    ((a.0 + b.0) / 2.0, ((a.1 .0 + b.1 .0) / 2.0, (a.1 .1 + b.1 .1) / 2.0))
}

/// Puts (or gets) the small files, `concurrency` at a time; returns files/s and (p50, p99) ms.
async fn small_run(
    http: &reqwest::Client,
    urls: &[String],
    args: &DataArgs,
    mode: Small,
) -> anyhow::Result<(f64, (f64, f64))> {
    let put = mode == Small::Put;
    let query = if mode == Small::GetStale { "?stale=true" } else { "" };
    let started = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    let mut latencies: Vec<f64> = stream::iter(0..args.small_files)
        .map(|i| {
            let url = format!("{}/files/bench/small/f{i}{query}", urls[i % urls.len()]);
            async move {
                let begun = Instant::now();
                let response = if put {
                    http.put(url).body(random_seeded(4096, i as u64)).send().await
                } else {
                    http.get(url).send().await
                };
                let outcome = match response {
                    Ok(r) if r.status().is_success() => {
                        r.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                    }
                    Ok(r) => Err(format!("{} {}", r.status(), r.text().await.unwrap_or_default())),
                    Err(error) => Err(error.to_string()),
                };
                (outcome, begun.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(args.concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .filter_map(|(outcome, ms)| match outcome {
            Ok(()) => Some(ms),
            Err(error) => {
                failures.push(error);
                None
            }
        })
        .collect();
    if let Some(first) = failures.first() {
        bail!(
            "{} of {} small {} failed, e.g. {first}",
            failures.len(),
            args.small_files,
            if put { "puts" } else { "gets" }
        );
    }
    let rate = args.small_files as f64 / started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    Ok((rate, (at(0.5), at(0.99))))
}

/// Sequential write of `mib` MiB in 8 MiB blocks, then fsync: MB/s.
fn disk_write_mbps(path: &Path, mib: usize) -> anyhow::Result<f64> {
    let block = random(8 << 20);
    let started = Instant::now();
    let mut file = std::fs::File::create(path).context("creating the baseline file")?;
    for _ in 0..mib.div_ceil(8) {
        file.write_all(&block)?;
    }
    file.sync_all()?;
    let secs = started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(path)?;
    Ok(mb(mib.div_ceil(8) * (8 << 20)) / secs)
}

/// 4 KiB files written, fsynced and renamed into place one after another: files/s.
fn disk_small_files_per_sec(dir: &Path, count: usize) -> anyhow::Result<f64> {
    std::fs::create_dir_all(dir)?;
    let body = random(4096);
    let started = Instant::now();
    for i in 0..count {
        let temp = dir.join(format!("{i}.tmp"));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(&body)?;
        file.sync_all()?;
        std::fs::rename(&temp, dir.join(i.to_string()))?;
    }
    std::fs::File::open(dir)?.sync_all()?;
    let rate = count as f64 / started.elapsed().as_secs_f64();
    std::fs::remove_dir_all(dir)?;
    Ok(rate)
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1_000_000.0
}

fn random(len: usize) -> Vec<u8> {
    random_seeded(len, 0x5eed)
}

/// `len` pseudo-random bytes from `seed` (blake3 in counter mode).
fn random_seeded(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut counter = 0u64;
    while out.len() < len {
        let block = blake3::hash(&[seed.to_le_bytes(), counter.to_le_bytes()].concat());
        out.extend_from_slice(block.as_bytes());
        counter += 1;
    }
    out.truncate(len);
    out
}

fn print_table(out: &mut dyn Write, r: &Value) -> std::io::Result<()> {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    writeln!(
        out,
        "baseline: disk sequential fsync'd write {:.0} MB/s; fsync'd 4 KiB creates {:.0}/s",
        f(&r["baseline"]["disk_write_mb_per_s"]),
        f(&r["baseline"]["disk_small_files_per_s"])
    )?;
    writeln!(
        out,
        "large write  {:>8.1} MB/s   {:.2} x (disk/3)   target 0.70 x",
        f(&r["large_write"]["mb_per_s"]),
        f(&r["large_write"]["ratio_to_disk_over_3"])
    )?;
    writeln!(
        out,
        "large read   {:>8.1} MB/s   {:.2} x target (1200 MB/s)",
        f(&r["large_read"]["mb_per_s"]),
        f(&r["large_read"]["ratio_to_target"])
    )?;
    writeln!(out, "small put    {:>8.0} /s     {:.2} x target (3000/s), {:.2} x disk creates; p50 {:.1} ms p99 {:.1} ms", f(&r["small_put"]["files_per_s"]), f(&r["small_put"]["ratio_to_target"]), f(&r["small_put"]["ratio_to_disk_small"]), f(&r["small_put"]["p50_ms"]), f(&r["small_put"]["p99_ms"]))?;
    writeln!(
        out,
        "small get    {:>8.0} /s     {:.2} x target (10000/s), linearizable; p50 {:.1} ms p99 {:.1} ms",
        f(&r["small_get"]["files_per_s"]),
        f(&r["small_get"]["ratio_to_target"]),
        f(&r["small_get"]["p50_ms"]),
        f(&r["small_get"]["p99_ms"])
    )?;
    writeln!(
        out,
        "small get, stale {:>4.0} /s     linearizable = {:.2} x stale (target 0.80 x); p50 {:.1} ms p99 {:.1} ms",
        f(&r["small_get_stale"]["files_per_s"]),
        f(&r["small_get"]["ratio_to_stale"]),
        f(&r["small_get_stale"]["p50_ms"]),
        f(&r["small_get_stale"]["p99_ms"])
    )?;
    writeln!(out, "peak node RSS (MiB): {}", r["peak_node_rss_mib"])
}
