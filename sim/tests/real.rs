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
        settle_max: Duration::from_secs(45),
        plant,
        ..Settings::default()
    }
}

/// Seeds that once failed, as `dfs-sim` arguments; CI runs them on every change, forever.
/// - 1, 4, 6, 8 at 10 s of faults: a node sat in precandidate with no leader after the faults: a
///   peer connection that silently stopped delivering held a pair apart (fixed by transport
///   keepalives and the silence limit).
/// - 4, 8 at 10 s: a repair copy to a node behind a partition waited out the 30 s transfer
///   timeout; a 30 s settle was too short for it (the simulation's peer client now gives up on a
///   connection that does not open within 2 s, as production's reqwest client does).
/// - 6, 11 at 20 s: a disk-model change that made renames non-durable lost acknowledged chunks
///   on crash (caught before it landed); 11 also once counted a 503 during a link's
///   re-establishment as a lost write (the durability pass now retries).
///
/// Changes to the simulation's timing (the step, the workload) replay a seed differently, so an
/// entry keeps its seed and arguments but may no longer rerun the exact schedule that failed.
const REGRESSIONS: &[&[&str]] = &[
    &["--seeds", "1,4,6,8", "--fault-secs", "10", "--settle-secs", "45"],
    &["--seeds", "6,11", "--fault-secs", "20", "--settle-secs", "45"],
];

/// Runs `dfs-sim` with `args` in a fresh process; its exit status and output.
fn dfs_sim(args: &[String]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dfs-sim"))
        .args(args)
        .output()
        .expect("dfs-sim runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The CI sweep: `DFS_SIM_SEEDS` seeds (default 200) with every fault kind, in two worker
/// processes, then the regression seeds. The sweep fails if a seed fails or a fault kind never
/// fired.
#[test]
fn the_seed_sweep_and_the_regression_seeds_pass() {
    let seeds: u64 =
        std::env::var("DFS_SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let range = format!("0..{seeds}");
    let args = ["--seeds", &range, "--jobs", "2", "--fault-secs", "10", "--settle-secs", "45"];
    let (ok, output) = dfs_sim(&args.map(str::to_owned));
    assert!(ok, "the sweep found failures:\n{output}");
    assert!(output.contains(&format!("{seeds} seeds, 0 failed")), "{output}");
    for args in REGRESSIONS {
        let (ok, output) = dfs_sim(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>());
        assert!(ok, "regression seeds {args:?} failed:\n{output}");
    }
}

/// The summary of a canonical seed's trace (elections, faults and heals, convergence, verdict),
/// for a person reviewing a change: a change in timing or behaviour shows up here as a diff.
#[test]
fn canonical_seed_trace_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = dir.path().join("trace.txt");
    let args = ["--seed", "2", "--fault-secs", "10", "--settle-secs", "45", "--trace"];
    let mut args: Vec<String> = args.map(str::to_owned).to_vec();
    args.push(trace.display().to_string());
    let (ok, output) = dfs_sim(&args);
    assert!(ok, "{output}");
    let text = std::fs::read_to_string(&trace).expect("trace written");
    let summary: Vec<&str> = text
        .lines()
        .filter(|line| {
            ["leads term", " fault ", " heal ", "corrupt ", "converged", "verdict"]
                .iter()
                .any(|word| line.contains(word))
        })
        .collect();
    insta::assert_snapshot!(summary.join("\n"));
}

/// `dfs-sim --seed N` in a fresh process, as a user replays a seed: the trace hash it prints.
fn replay(seed: u64) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = dir.path().join("trace.txt");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dfs-sim"))
        .args(["--seed", &seed.to_string(), "--fault-secs", "10", "--settle-secs", "45"])
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

/// Seeds a planted bug may take to show (each passes without it: the sweep runs them).
const PLANTED_SEEDS: std::ops::Range<u64> = 0..30;

/// The first failure a planted bug causes on seeds that pass without it.
fn caught(bug: Bug) -> String {
    for seed in PLANTED_SEEDS {
        if let Some(failure) = run(seed, &settings(Some(bug))).0.failure {
            eprintln!("{bug:?} caught on seed {seed}: {failure}");
            return failure;
        }
    }
    panic!("{bug:?} planted, and no seed of {PLANTED_SEEDS:?} failed");
}

/// Acknowledged entries lost in a power loss show as a safety violation: a lost or rolled-back
/// write, or two leaders of one term once nodes forget their votes.
#[test]
fn acknowledging_before_the_fsync_is_caught() {
    let failure = caught(Bug::AckBeforeFsync);
    let safety = ["raft logs disagree", "not linearizable", "acknowledged write lost", "term "];
    assert!(safety.iter().any(|s| failure.starts_with(s)), "{failure}");
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
fn reusing_a_chunk_by_its_hash_alone_is_caught_by_the_theft_checker() {
    let failure = caught(Bug::ChunkHashReadsAnything);
    assert!(failure.starts_with("chunk theft") && failure.contains("may not read"), "{failure}");
}

#[test]
fn trusting_a_whole_file_hash_is_caught_by_the_theft_checker() {
    let failure = caught(Bug::TrustWholeFileHash);
    assert!(
        failure.starts_with("chunk theft") && failure.contains("false whole-file hash"),
        "{failure}"
    );
}

#[test]
fn forgetting_to_re_replicate_is_caught_by_the_convergence_checker() {
    assert!(caught(Bug::NoReReplication).starts_with("did not converge"));
}

/// Corruption faults rot chunks of live files and the rot reader reads them through the rotten
/// node at once, so a node that serves a chunk without its blake3 check is caught.
#[test]
fn serving_a_chunk_without_its_hash_check_is_caught_by_reading_through_rot() {
    let failure = caught(Bug::SkipChunkVerify);
    assert!(failure.starts_with("not linearizable") && failure.contains("corrupt"), "{failure}");
}

/// Every acknowledged write is judged against the durable copies on the simulated disks.
#[test]
fn acknowledging_short_of_the_write_quorum_is_caught_by_counting_durable_copies() {
    let failure = caught(Bug::QuorumOfOne);
    assert!(failure.starts_with("short of the write quorum"), "{failure}");
}

/// The S3 client's reads join the per-path history: one that still sees an object after its
/// delete marker was acknowledged is not linearizable.
#[test]
fn an_s3_read_past_a_delete_marker_is_caught_by_the_linearizability_checker() {
    let failure = caught(Bug::S3IgnoresDeleteMarker);
    assert!(failure.starts_with("not linearizable") && failure.contains("/sim-vb/"), "{failure}");
}
