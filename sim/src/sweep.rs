//! Many seeds in a row (`dfs-sim --seeds A..B`): each run caught if it panics, failures listed
//! with the command that replays them, fault kinds counted across the sweep.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::faults::{FireCounts, KINDS};
use crate::run::{self, Outcome, Settings};

/// What a sweep found.
#[derive(Debug, Default)]
pub struct Sweep {
    /// Seeds run.
    pub seeds: u64,
    /// Failing seeds with the reason.
    pub failed: Vec<(u64, String)>,
    /// How often each fault kind fired, over every seed.
    pub fired: FireCounts,
    /// Simulated cluster time covered.
    pub simulated: Duration,
    /// Wall-clock time taken.
    pub wall: Duration,
}

impl Sweep {
    /// Fault kinds that never fired (a sweep that enables them must make each fire).
    pub fn silent_kinds(&self) -> Vec<&'static str> {
        KINDS.iter().copied().filter(|k| !self.fired.contains_key(k)).collect()
    }
}

/// The command that replays `seed`.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run -p dfs-sim --release -- --seed {seed}")
}

/// Runs one seed; a panic is a failure of that seed.
pub fn run_caught(seed: u64, settings: &Settings) -> Result<Outcome, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(|| run::run(seed, settings).0));
    std::panic::set_hook(hook);
    result.map_err(|panic| {
        let text = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "unknown panic".to_owned());
        format!("panicked: {text}")
    })
}

/// Runs `seeds`, calling `progress` after each with the outcome.
pub fn sweep(
    seeds: impl Iterator<Item = u64>,
    settings: &Settings,
    mut progress: impl FnMut(u64, &Result<Outcome, String>),
) -> Sweep {
    let started = Instant::now();
    let mut sweep = Sweep::default();
    for seed in seeds {
        let outcome = run_caught(seed, settings);
        match &outcome {
            Ok(outcome) => {
                sweep.simulated += outcome.simulated;
                for (kind, count) in &outcome.faults {
                    *sweep.fired.entry(kind).or_default() += count;
                }
                if let Some(reason) = &outcome.failure {
                    sweep.failed.push((seed, reason.clone()));
                }
            }
            Err(reason) => sweep.failed.push((seed, reason.clone())),
        }
        sweep.seeds += 1;
        progress(seed, &outcome);
    }
    sweep.wall = started.elapsed();
    sweep
}
