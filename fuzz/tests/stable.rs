//! Runs every fuzz target (or `DFS_FUZZ_TARGET`) on its corpus and on generated inputs for
//! `DFS_FUZZ_SECS` seconds each (default 0: the corpus and 64 generated inputs, seed 0, so an
//! ordinary `cargo test` replays the corpus deterministically). `DFS_FUZZ_SEED` fixes the seed
//! of a timed run (default: drawn from the clock and printed). `scripts/fuzz` drives this on
//! machines without cargo-fuzz and nightly.

use std::path::PathBuf;
use std::time::Duration;

#[test]
fn every_target_survives_its_corpus_and_generated_inputs() {
    let secs: u64 = std::env::var("DFS_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let seed =
        std::env::var("DFS_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            if secs == 0 {
                0
            } else {
                clock.map_or(0, |d| d.as_nanos() as u64)
            }
        });
    let only = std::env::var("DFS_FUZZ_TARGET").ok();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut ran = 0;
    for target in dfs_fuzz::TARGETS {
        if only.as_deref().is_some_and(|o| o != target.name) {
            continue;
        }
        let corpus = root.join("corpus").join(target.name);
        let report = dfs_fuzz::stable::run(
            target,
            &corpus,
            &root.join("artifacts"),
            Duration::from_secs(secs),
            64,
            seed,
        )
        .unwrap_or_else(|crash| {
            panic!(
                "{crash}\nreplay: copy it into {} and run `cargo test -p dfs-fuzz`",
                corpus.display()
            )
        });
        eprintln!(
            "fuzz {}: {} inputs ({} from the corpus) in {secs} s budget, seed {seed}: no panic",
            target.name, report.inputs, report.corpus
        );
        ran += 1;
    }
    assert!(ran > 0, "no target named {only:?}");
}
