//! `dfs-sim`: replay one seed of the real runtime under turmoil (`--seed N`, writing its trace and
//! printing its hash) or sweep a range (`--seeds A..B`, with a progress bar, in one worker
//! process per core), printing each failing seed with the command that replays it. `--model`
//! runs the older core-only sweep.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use dfs_sim::run::Settings;
use dfs_sim::sweep::{self, replay_command, SeedResult};

/// Seeded fault simulation of a dfs cluster.
#[derive(Debug, Parser)]
#[command(name = "dfs-sim", version)]
struct Args {
    /// Replay one seed, write its trace and print its hash.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Sweep a range of seeds, e.g. `0..200`, or a list, e.g. `1,4,6`.
    #[arg(long)]
    seeds: Option<String>,
    /// Simulated seconds of faults (and workload) per seed; the settle time comes on top.
    #[arg(long, default_value_t = 20)]
    fault_secs: u64,
    /// Longest the cluster may take to converge once faults stop, in simulated seconds.
    #[arg(long, default_value_t = 40)]
    settle_secs: u64,
    /// Where `--seed` writes its trace (default: sim-trace-<seed>.txt).
    #[arg(long)]
    trace: Option<std::path::PathBuf>,
    /// Run the older model sweep: core nodes on the core's in-memory harness.
    #[arg(long)]
    model: bool,
    /// Plant a bug in the nodes, to see the checkers catch it: ack-before-fsync,
    /// skip-raft-commit, no-re-replication, stale-read, chunk-hash-reads-anything,
    /// trust-whole-file-hash, skip-chunk-verify, quorum-of-one or s3-ignores-delete-marker.
    #[arg(long, value_parser = parse_bug)]
    plant: Option<dfs_runtime::planted::Bug>,
    /// Worker processes a sweep runs in (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run the seeds and print one JSON line per seed (what a sweep's workers do).
    #[arg(long, hide = true, requires = "seeds")]
    worker: bool,
}

fn parse_bug(name: &str) -> Result<dfs_runtime::planted::Bug, String> {
    dfs_sim::run::bug_named(name).ok_or_else(|| {
        let names: Vec<_> = dfs_sim::run::BUGS.into_iter().map(dfs_sim::run::bug_name).collect();
        format!("expected one of {}", names.join(", "))
    })
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    // `DFS_SIM_LOG=info` (or any filter) prints the nodes' logs, on simulated time.
    if let Ok(filter) = std::env::var("DFS_SIM_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .without_time()
            .init();
    }
    if args.model {
        return model(&args);
    }
    let settings = Settings {
        faults_for: Duration::from_secs(args.fault_secs),
        settle_max: Duration::from_secs(args.settle_secs),
        plant: args.plant,
        ..Settings::default()
    };
    let mut out = std::io::stdout().lock();
    if let Some(seed) = args.seed {
        let (outcome, trace) = dfs_sim::run::run(seed, &settings);
        let path = args.trace.unwrap_or_else(|| format!("sim-trace-{seed}.txt").into());
        std::fs::write(&path, trace.lines().join("\n") + "\n")
            .with_context(|| format!("writing the trace to {}", path.display()))?;
        writeln!(
            out,
            "seed {seed}: {} nodes, {} ops, {} acknowledged writes",
            outcome.nodes, outcome.ops, outcome.acknowledged
        )?;
        writeln!(out, "faults fired: {:?}", outcome.faults)?;
        writeln!(out, "simulated {:.1} s", outcome.simulated.as_secs_f64())?;
        writeln!(
            out,
            "trace: {} ({} lines) hash={}",
            path.display(),
            outcome.trace_lines,
            outcome.trace_hash
        )?;
        return Ok(match outcome.failure {
            None => ExitCode::SUCCESS,
            Some(reason) => {
                writeln!(out, "FAILED: {reason}\nreplay: {}", replay_command(seed, &settings))?;
                ExitCode::FAILURE
            }
        });
    }
    let Some(range) = &args.seeds else { bail!("give --seed N or --seeds A..B") };
    let seeds = parse_seeds(range)?;
    if args.worker {
        for seed in seeds {
            let result = SeedResult::of(seed, &sweep::run_caught(seed, &settings));
            writeln!(out, "{}", result.to_line())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let bar = indicatif::ProgressBar::new(seeds.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut failures = 0;
    let progress = |result: &SeedResult| {
        if let Some(reason) = &result.failure {
            failures += 1;
            bar.println(format!(
                "seed {} FAILED: {reason}\n  replay: {}",
                result.seed,
                replay_command(result.seed, &settings)
            ));
        }
        bar.set_message(format!("{failures} failed"));
        bar.inc(1);
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, seeds.len().max(1));
    let sweep = if jobs == 1 {
        sweep::sweep(seeds.into_iter(), &settings, progress)
    } else {
        let exe = std::env::current_exe().context("finding dfs-sim's own executable")?;
        sweep::in_workers(&exe, &seeds, jobs, &settings, progress)
            .context("running the sweep's worker processes")?
    };
    bar.finish();
    writeln!(out, "faults fired: {:?}", sweep.fired)?;
    let minutes = sweep.simulated.as_secs_f64() / 60.0;
    let wall = sweep.wall.as_secs_f64() / 60.0;
    writeln!(
        out,
        "{} seeds, {} failed; {minutes:.1} simulated cluster-minutes in {wall:.2} wall-minutes ({:.0} per wall-minute, {jobs} worker{})",
        sweep.seeds,
        sweep.failed.len(),
        minutes / wall.max(1e-9),
        if jobs == 1 { "" } else { "s" }
    )?;
    let mut failed = sweep.failed.clone();
    failed.sort();
    for (seed, reason) in &failed {
        writeln!(
            out,
            "FAILED seed {seed}: {reason}\n  replay: {}",
            replay_command(*seed, &settings)
        )?;
    }
    let silent = sweep.silent_kinds();
    if !silent.is_empty() && sweep.seeds >= 20 {
        writeln!(out, "FAILED: fault kinds that never fired: {silent:?}")?;
        return Ok(ExitCode::FAILURE);
    }
    Ok(if sweep.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `A..B` or a comma-separated list.
fn parse_seeds(text: &str) -> anyhow::Result<Vec<u64>> {
    if text.contains("..") {
        let (start, end) = parse_range(text)?;
        return Ok((start..end).collect());
    }
    text.split(',')
        .map(|seed| seed.trim().parse().with_context(|| format!("{seed:?} is not a seed")))
        .collect()
}

fn parse_range(range: &str) -> anyhow::Result<(u64, u64)> {
    let (start, end) = range.split_once("..").context("--seeds takes A..B")?;
    let (start, end): (u64, u64) = (start.parse()?, end.parse()?);
    if end <= start {
        bail!("--seeds A..B needs A < B");
    }
    Ok((start, end))
}

/// The model sweep (core nodes on the in-memory harness).
fn model(args: &Args) -> anyhow::Result<ExitCode> {
    let faults_for = Duration::from_secs(args.fault_secs);
    let mut out = std::io::stdout().lock();
    let seeds = match (args.seed, &args.seeds) {
        (Some(seed), _) => (seed, seed + 1),
        (None, Some(range)) => parse_range(range)?,
        (None, None) => bail!("give --seed N or --seeds A..B"),
    };
    let mut failed = 0;
    for seed in seeds.0..seeds.1 {
        let (outcome, _) = dfs_sim::model::run(seed, faults_for, false);
        if let Some(reason) = outcome.failure {
            failed += 1;
            writeln!(
                out,
                "seed {seed} FAILED: {reason}\n  replay: {}",
                dfs_sim::model::replay_command(seed)
            )?;
        }
    }
    writeln!(out, "{} model seeds, {failed} failed", seeds.1 - seeds.0)?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
