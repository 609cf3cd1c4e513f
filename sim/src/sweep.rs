//! Many seeds (`dfs-sim --seeds A..B`): each run caught if it panics, failures listed with the
//! command that replays them, fault kinds counted across the sweep. A sweep runs in worker
//! processes, one per core by default ([`in_workers`]): each runs its share of the seeds in a row
//! and reports every seed as one JSON line ([`SeedResult`]).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

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

    /// Counts one seed's result.
    pub fn record(&mut self, result: &SeedResult) {
        self.seeds += 1;
        self.simulated += result.simulated;
        for (kind, count) in &result.faults {
            *self.fired.entry(kind).or_default() += count;
        }
        if let Some(reason) = &result.failure {
            self.failed.push((result.seed, reason.clone()));
        }
    }
}

/// One seed's result as a sweep counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Simulated time it covered.
    pub simulated: Duration,
    /// How often each fault kind fired.
    pub faults: FireCounts,
    /// Why it failed (a checker's verdict or a panic), if it did.
    pub failure: Option<String>,
}

impl SeedResult {
    /// The result of a run of `seed` (`Err`: it panicked).
    pub fn of(seed: u64, outcome: &Result<Outcome, String>) -> Self {
        match outcome {
            Ok(outcome) => Self {
                seed,
                simulated: outcome.simulated,
                faults: outcome.faults.clone(),
                failure: outcome.failure.clone(),
            },
            Err(panic) => Self {
                seed,
                simulated: Duration::ZERO,
                faults: FireCounts::new(),
                failure: Some(panic.clone()),
            },
        }
    }

    /// The one-line JSON a worker reports.
    pub fn to_line(&self) -> String {
        json!({
            "seed": self.seed,
            "simulated_ms": u64::try_from(self.simulated.as_millis()).unwrap_or(u64::MAX),
            "faults": self.faults,
            "failure": self.failure,
        })
        .to_string()
    }

    /// Parses a worker's line; `None` if it is not one (fault kinds it does not know are left
    /// out).
    pub fn from_line(line: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(line).ok()?;
        let mut faults = FireCounts::new();
        for (name, count) in value["faults"].as_object()? {
            let kind = KINDS.iter().copied().find(|k| k == name)?;
            faults.insert(kind, u32::try_from(count.as_u64()?).ok()?);
        }
        Some(Self {
            seed: value["seed"].as_u64()?,
            simulated: Duration::from_millis(value["simulated_ms"].as_u64()?),
            faults,
            failure: value["failure"].as_str().map(str::to_owned),
        })
    }
}

/// The command that replays `seed` as `settings` ran it.
pub fn replay_command(seed: u64, settings: &Settings) -> String {
    let args: String = command_args(settings).iter().map(|a| format!(" {a}")).collect();
    format!("cargo run -p dfs-sim --release -- --seed {seed}{args}")
}

/// The `dfs-sim` arguments that reproduce `settings`.
pub fn command_args(settings: &Settings) -> Vec<String> {
    let mut args = vec![
        "--fault-secs".to_owned(),
        settings.faults_for.as_secs().to_string(),
        "--settle-secs".to_owned(),
        settings.settle_max.as_secs().to_string(),
    ];
    if let Some(bug) = settings.plant {
        args.extend(["--plant".to_owned(), run::bug_name(bug).to_owned()]);
    }
    args
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

/// Runs `seeds` in a row in this process, calling `progress` after each.
pub fn sweep(
    seeds: impl Iterator<Item = u64>,
    settings: &Settings,
    mut progress: impl FnMut(&SeedResult),
) -> Sweep {
    let started = Instant::now();
    let mut sweep = Sweep::default();
    for seed in seeds {
        let result = SeedResult::of(seed, &run_caught(seed, settings));
        sweep.record(&result);
        progress(&result);
    }
    sweep.wall = started.elapsed();
    sweep
}

/// Runs `seeds` in `jobs` worker processes of the executable `exe` (`dfs-sim --worker`), seed
/// `i` of the list in worker `i % jobs`; `progress` is called as results arrive. A seed a worker
/// never reported (it died) is a failure.
pub fn in_workers(
    exe: &Path,
    seeds: &[u64],
    jobs: usize,
    settings: &Settings,
    mut progress: impl FnMut(&SeedResult),
) -> std::io::Result<Sweep> {
    let started = Instant::now();
    let (results, arrivals) = std::sync::mpsc::channel();
    let mut workers = Vec::new();
    for job in 0..jobs.max(1) {
        let share: Vec<String> =
            seeds.iter().skip(job).step_by(jobs.max(1)).map(u64::to_string).collect();
        if share.is_empty() {
            continue;
        }
        let mut worker = Command::new(exe)
            .arg("--worker")
            .arg("--seeds")
            .arg(share.join(","))
            .args(command_args(settings))
            .stdout(Stdio::piped())
            .spawn()?;
        let Some(stdout) = worker.stdout.take() else {
            return Err(std::io::Error::other("a worker's output was not captured"));
        };
        let results = results.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(result) = SeedResult::from_line(&line) {
                    if results.send(result).is_err() {
                        return;
                    }
                }
            }
        });
        workers.push(worker);
    }
    drop(results);
    let mut sweep = Sweep::default();
    let mut reported = BTreeSet::new();
    for result in arrivals {
        reported.insert(result.seed);
        sweep.record(&result);
        progress(&result);
    }
    for mut worker in workers {
        worker.wait()?;
    }
    for &seed in seeds.iter().filter(|seed| !reported.contains(seed)) {
        let lost = SeedResult {
            seed,
            simulated: Duration::ZERO,
            faults: FireCounts::new(),
            failure: Some("its worker process died before reporting it".to_owned()),
        };
        sweep.record(&lost);
        progress(&lost);
    }
    sweep.wall = started.elapsed();
    Ok(sweep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_result_survives_its_line() {
        let mut faults = FireCounts::new();
        faults.insert("power_loss", 1);
        faults.insert("crash", 3);
        let result = SeedResult {
            seed: 7,
            simulated: Duration::from_millis(31_250),
            faults,
            failure: Some("did not converge: \"quoted\"\nline".to_owned()),
        };
        assert_eq!(SeedResult::from_line(&result.to_line()), Some(result));
        assert_eq!(SeedResult::from_line("progress bar noise"), None);
    }
}
