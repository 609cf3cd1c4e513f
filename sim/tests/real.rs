//! The real runtime under turmoil: a seed replays to the same trace, passing seeds pass, and the
//! checkers catch bugs planted in the nodes.

use std::time::Duration;

use dfs_runtime::planted::Bug;
use dfs_sim::run::Settings;

/// Seeds that pass today, run on every CI (a seed that fails is a finding: add it once fixed).
const PASSING: &[u64] = &[0, 2, 3];

/// One simulation at a time in this process. Two runs in one process can still trace differently
/// (an open finding: some process-wide state leaks between simulations), so replay is checked
/// the way a user replays, in fresh processes.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(seed: u64, settings: &Settings) -> (dfs_sim::run::Outcome, dfs_sim::trace::Trace) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    dfs_sim::run::run(seed, settings)
}

fn settings(plant: Option<Bug>) -> Settings {
    Settings {
        faults_for: Duration::from_secs(10),
        settle_max: Duration::from_secs(30),
        plant,
        ..Settings::default()
    }
}

/// `dfs-sim --seed N` in a fresh process, as a user replays a seed: the trace hash it prints.
fn replay(seed: u64) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = dir.path().join("trace.txt");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dfs-sim"))
        .args(["--seed", &seed.to_string(), "--fault-secs", "10", "--settle-secs", "30"])
        .arg("--trace")
        .arg(&trace)
        .output()
        .expect("dfs-sim runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let hash = stdout.lines().find_map(|l| l.split("hash=").nth(1)).expect("a trace hash");
    assert!(std::fs::metadata(&trace).is_ok_and(|m| m.len() > 0), "no trace written");
    hash.trim().to_owned()
}

#[test]
fn a_seed_replays_to_the_same_trace_and_another_seed_does_not() {
    let first = replay(2);
    assert_eq!(first, replay(2));
    assert_ne!(first, replay(3));
    let outcome = run(2, &settings(None)).0;
    assert!(outcome.acknowledged > 0, "the workload wrote nothing: {outcome:?}");
    assert!(!outcome.faults.is_empty(), "no fault fired: {outcome:?}");
}

#[test]
fn passing_seeds_pass_every_checker() {
    for &seed in PASSING {
        let outcome = run(seed, &settings(None)).0;
        assert_eq!(outcome.failure, None, "seed {seed}: {outcome:?}");
    }
}

/// The first failure a planted bug causes on seeds that pass without it.
fn caught(bug: Bug) -> String {
    for &seed in PASSING {
        if let Some(failure) = run(seed, &settings(Some(bug))).0.failure {
            return failure;
        }
    }
    panic!("{bug:?} planted, and no seed of {PASSING:?} failed");
}

#[test]
fn a_stale_read_is_caught_by_the_linearizability_checker() {
    assert!(caught(Bug::StaleRead).starts_with("not linearizable"));
}

#[test]
fn acknowledging_before_the_raft_commit_is_caught() {
    assert!(caught(Bug::SkipRaftCommit).starts_with("not linearizable"));
}

#[test]
fn forgetting_to_re_replicate_is_caught_by_the_convergence_checker() {
    assert!(caught(Bug::NoReReplication).starts_with("did not converge"));
}
