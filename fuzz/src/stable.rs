//! A fuzz loop for the stable toolchain (no coverage feedback): every corpus input, then, until
//! the time budget is spent, random inputs and mutations of corpus inputs (byte flips,
//! insertions, deletions, truncations, splices), all drawn from one seed. An input that panics
//! is saved under `fuzz/artifacts/<target>/` and reported with the seed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Target;

/// Longest generated input, in bytes.
pub const INPUT_BYTES_MAX: usize = 8 * 1024;

/// What one run did.
#[derive(Debug)]
pub struct Report {
    /// Inputs run (corpus included).
    pub inputs: u64,
    /// Corpus inputs among them.
    pub corpus: usize,
}

/// An input that made the target panic.
#[derive(Debug, thiserror::Error)]
#[error("{target} panicked on an input (seed {seed}); saved as {saved}: {message}")]
pub struct Crash {
    /// The target.
    pub target: &'static str,
    /// The run's seed.
    pub seed: u64,
    /// Where the input was saved.
    pub saved: String,
    /// The panic message.
    pub message: String,
}

/// The corpus of a target: every file in `dir`, sorted by name (none if `dir` is missing).
pub fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Runs `target` on its corpus, then on generated inputs until `budget` is spent (at least
/// `min_generated` of them).
pub fn run(
    target: Target,
    corpus_dir: &Path,
    artifacts: &Path,
    budget: Duration,
    min_generated: u64,
    seed: u64,
) -> Result<Report, Crash> {
    let seeds = corpus(corpus_dir);
    for input in &seeds {
        check(target, input, artifacts, seed)?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let mut generated = 0;
    while generated < min_generated || started.elapsed() < budget {
        let input = generate(&mut rng, &seeds);
        check(target, &input, artifacts, seed)?;
        generated += 1;
    }
    Ok(Report { inputs: seeds.len() as u64 + generated, corpus: seeds.len() })
}

fn check(target: Target, input: &[u8], artifacts: &Path, seed: u64) -> Result<(), Crash> {
    let outcome = std::panic::catch_unwind(|| (target.run)(input));
    let Err(panic) = outcome else { return Ok(()) };
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".into());
    let dir = artifacts.join(target.name);
    let file = dir.join(format!("crash-{}", &blake3::hash(input).to_hex()[..16]));
    let saved = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&file, input))
        .map_or_else(|e| format!("(not saved: {e})"), |()| file.display().to_string());
    Err(Crash { target: target.name, seed, saved, message })
}

/// A random input, or (when there is a corpus) usually a mutation of a corpus input.
fn generate(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if seeds.is_empty() || rng.gen_ratio(1, 4) {
        let len = rng.gen_range(0..=INPUT_BYTES_MAX);
        return (0..len).map(|_| rng.gen()).collect();
    }
    let mut input = seeds[rng.gen_range(0..seeds.len())].clone();
    for _ in 0..rng.gen_range(1..=4) {
        mutate(rng, &mut input, seeds);
    }
    input.truncate(INPUT_BYTES_MAX);
    input
}

fn mutate(rng: &mut ChaCha8Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let at = |rng: &mut ChaCha8Rng, len: usize| rng.gen_range(0..=len);
    match rng.gen_range(0..5) {
        0 if !input.is_empty() => {
            let i = rng.gen_range(0..input.len());
            input[i] ^= 1 << rng.gen_range(0..8);
        }
        1 => {
            let i = at(rng, input.len());
            let byte =
                *[0u8, 0xff, b'/', b'.', b'%', rng.gen()].get(rng.gen_range(0..6)).unwrap_or(&0);
            input.insert(i, byte);
        }
        2 if !input.is_empty() => {
            let i = rng.gen_range(0..input.len());
            input.remove(i);
        }
        3 => {
            let len = at(rng, input.len());
            input.truncate(len);
        }
        _ => {
            let other = &seeds[rng.gen_range(0..seeds.len())];
            let (i, j) = (at(rng, input.len()), at(rng, other.len()));
            input.truncate(i);
            input.extend_from_slice(&other[j..]);
        }
    }
}
