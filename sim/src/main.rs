//! `dfs-sim`: replay one seed (`--seed N`, writing its trace) or sweep a range (`--seeds A..B`),
//! printing each failing seed with the command that replays it.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

/// Seeded fault simulation of a dfs cluster.
#[derive(Debug, Parser)]
#[command(name = "dfs-sim", version)]
struct Args {
    /// Replay one seed and print its trace hash.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Sweep a range of seeds, e.g. `0..200`.
    #[arg(long)]
    seeds: Option<String>,
    /// Simulated seconds of faults per seed (the settle time comes on top).
    #[arg(long, default_value_t = 60)]
    fault_secs: u64,
    /// Where `--seed` writes its trace (default: sim-trace-<seed>.txt).
    #[arg(long)]
    trace: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let faults_for = Duration::from_secs(args.fault_secs);
    let mut out = std::io::stdout().lock();
    if let Some(seed) = args.seed {
        let (outcome, lines) = dfs_sim::run(seed, faults_for, true);
        let path = args.trace.unwrap_or_else(|| format!("sim-trace-{seed}.txt").into());
        std::fs::write(&path, lines.join("\n") + "\n")
            .with_context(|| format!("writing the trace to {}", path.display()))?;
        writeln!(out, "SEED={seed} {:?}", outcome.options)?;
        writeln!(out, "faults fired: {:?}", outcome.faults)?;
        writeln!(out, "acknowledged writes: {}", outcome.acknowledged)?;
        writeln!(
            out,
            "trace: {} ({} lines) hash={}",
            path.display(),
            outcome.trace_lines,
            outcome.trace_hash.to_hex()
        )?;
        return Ok(match outcome.failure {
            None => ExitCode::SUCCESS,
            Some(reason) => {
                writeln!(out, "FAILED: {reason}\nreplay: {}", dfs_sim::replay_command(seed))?;
                ExitCode::FAILURE
            }
        });
    }
    let Some(range) = args.seeds else { bail!("give --seed N or --seeds A..B") };
    let (start, end) = range.split_once("..").context("--seeds takes A..B")?;
    let (start, end): (u64, u64) = (start.parse()?, end.parse()?);
    let started = std::time::Instant::now();
    let mut failed = Vec::new();
    let mut simulated = Duration::ZERO;
    for seed in start..end {
        let (outcome, _) = dfs_sim::run(seed, faults_for, false);
        simulated += outcome.simulated * outcome.options.nodes as u32;
        if let Some(reason) = outcome.failure {
            writeln!(
                out,
                "seed {seed} FAILED: {reason}\n  replay: {}",
                dfs_sim::replay_command(seed)
            )?;
            failed.push(seed);
        }
        eprint!("\r{}/{} seeds, {} failed", seed - start + 1, end - start, failed.len());
    }
    let wall = started.elapsed();
    eprintln!();
    writeln!(
        out,
        "{} seeds, {} failed; {:.0} simulated node-minutes in {:.1} s wall ({:.0}x)",
        end - start,
        failed.len(),
        simulated.as_secs_f64() / 60.0,
        wall.as_secs_f64(),
        simulated.as_secs_f64() / wall.as_secs_f64().max(1e-9)
    )?;
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
