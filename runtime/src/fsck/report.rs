//! fsck's verdict (the JSON of `GET /fsck`), tallied from the census and every member's answers.
//!
//! Rules:
//! - A chunk's `verified_copies` counts the members holding a good copy (`intact`, or `present`
//!   in an existence-only check), on any member, listed in the replica index or not.
//! - A chunk is a problem when it has fewer than `replication_factor` good copies, or when any
//!   member holds a corrupt or unreadable copy of it (that copy must be replaced).
//! - Each problem shows the state of every copy the index lists and of every other copy found.
//! - At most [`PROBLEMS_SHOWN_MAX`] problems are listed, fewest good copies first (lost chunks
//!   lead); `problems_total` counts them all. `ok` is true only when there are none.

use std::collections::{BTreeMap, BTreeSet};

use dfs_core::ids::{ChunkId, NodeId};
use serde::{Deserialize, Serialize};

use super::census::Census;
use super::verify::CopyState;

/// Most problems listed in one report.
pub const PROBLEMS_SHOWN_MAX: usize = 1000;

/// The result of one fsck run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsckReport {
    /// No chunk is under-replicated or has a bad copy.
    pub ok: bool,
    /// Copies were re-hashed (`false`: only their existence was checked).
    pub verify: bool,
    /// The node that ran the check.
    pub checked_by: u64,
    /// Good copies every chunk must have.
    pub replication_factor: usize,
    /// Live files checked.
    pub files: u64,
    /// Versions of live files checked.
    pub versions: u64,
    /// Distinct chunks checked.
    pub chunks: u64,
    /// Members asked for their copies.
    pub nodes_asked: Vec<u64>,
    /// Members that did not answer (all or part), with why.
    pub nodes_unreachable: BTreeMap<u64, String>,
    /// Chunks with a problem.
    pub problems_total: u64,
    /// Chunks with fewer than `replication_factor` good copies.
    pub under_replicated: u64,
    /// Chunks with no good copy at all.
    pub lost: u64,
    /// Corrupt or unreadable copies found.
    pub bad_copies: u64,
    /// The worst problems, at most [`PROBLEMS_SHOWN_MAX`].
    pub problems: Vec<Problem>,
}

/// One chunk that needs repair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The chunk id, 64 hex digits.
    pub chunk: String,
    /// Live files that use it (the first few).
    pub paths: Vec<String>,
    /// Members with a good copy.
    pub verified_copies: usize,
    /// Per node id, the state of its copy.
    pub copies: BTreeMap<u64, CopyState>,
    /// The nodes the replica index lists for it.
    pub listed: Vec<u64>,
}

/// Every member's states, one per census chunk in census order.
pub type Answers = BTreeMap<NodeId, Vec<CopyState>>;

/// What the answers say about the census, before paths are filled in.
pub struct Judged {
    /// The report, with every problem's `paths` still empty.
    pub report: FsckReport,
    /// The chunks of the listed problems, in report order.
    pub shown: Vec<ChunkId>,
}

/// How the check was run.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// The node running it.
    pub checked_by: NodeId,
    /// Whether copies were re-hashed.
    pub verify: bool,
    /// Good copies required.
    pub replication_factor: usize,
}

/// Judges every chunk of `census` from `answers` (a member absent from `answers` counts as
/// unreachable for every chunk).
pub fn tally(
    run: Run,
    census: &Census,
    answers: &Answers,
    unreachable: BTreeMap<u64, String>,
) -> Judged {
    let mut report = FsckReport {
        ok: true,
        verify: run.verify,
        checked_by: run.checked_by.0,
        replication_factor: run.replication_factor,
        files: census.files,
        versions: census.versions,
        chunks: census.chunks.len() as u64,
        nodes_asked: census.members.iter().map(|n| n.0).collect(),
        nodes_unreachable: unreachable,
        problems_total: 0,
        under_replicated: 0,
        lost: 0,
        bad_copies: 0,
        problems: Vec::new(),
    };
    // (good copies, position in census) of every problem: bounded by the chunk count.
    let mut problems: Vec<(usize, usize)> = Vec::new();
    for position in 0..census.chunks.len() {
        let states = census.members.iter().map(|node| state_of(answers, *node, position));
        let (good, bad) = states.fold((0, 0), |(good, bad), state| {
            (good + usize::from(state.is_good()), bad + u64::from(state.is_bad()))
        });
        report.bad_copies += bad;
        let under = good < run.replication_factor;
        report.under_replicated += u64::from(under);
        report.lost += u64::from(good == 0);
        if under || bad > 0 {
            problems.push((good, position));
        }
    }
    report.problems_total = problems.len() as u64;
    report.ok = problems.is_empty();
    problems.sort_unstable();
    problems.truncate(PROBLEMS_SHOWN_MAX);
    // One pass over the census finds every shown chunk; `rank` keeps the worst-first order.
    let rank: BTreeMap<usize, usize> =
        problems.iter().enumerate().map(|(rank, &(_, position))| (position, rank)).collect();
    let mut described: Vec<Option<(ChunkId, Problem)>> = vec![None; problems.len()];
    for (position, (chunk, listed)) in census.chunks.iter().enumerate() {
        let Some(&rank) = rank.get(&position) else { continue };
        let good = problems[rank].0;
        described[rank] = Some((*chunk, describe(census, answers, position, *chunk, listed, good)));
    }
    let (shown, listed): (Vec<ChunkId>, Vec<Problem>) = described.into_iter().flatten().unzip();
    report.problems = listed;
    Judged { report, shown }
}

fn state_of(answers: &Answers, node: NodeId, position: usize) -> CopyState {
    answers
        .get(&node)
        .and_then(|states| states.get(position))
        .copied()
        .unwrap_or(CopyState::Unreachable)
}

fn describe(
    census: &Census,
    answers: &Answers,
    position: usize,
    chunk: ChunkId,
    listed: &BTreeSet<NodeId>,
    good: usize,
) -> Problem {
    let copies = census
        .members
        .iter()
        .map(|&node| (node, state_of(answers, node, position)))
        .filter(|&(node, state)| listed.contains(&node) || state.is_held())
        .map(|(node, state)| (node.0, state))
        .collect();
    Problem {
        chunk: chunk.0.to_hex(),
        paths: Vec::new(),
        verified_copies: good,
        copies,
        listed: listed.iter().map(|n| n.0).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfs_core::ids::Hash;
    use CopyState::{Corrupt, Intact, Missing, Unreachable};

    fn census(listed: &[&[u64]]) -> Census {
        let chunks = listed
            .iter()
            .enumerate()
            .map(|(i, nodes)| {
                (ChunkId(Hash::of(&[i as u8])), nodes.iter().map(|&n| NodeId(n)).collect())
            })
            .collect();
        Census { files: 1, versions: 1, chunks, members: vec![NodeId(1), NodeId(2), NodeId(3)] }
    }

    const RUN: Run = Run { checked_by: NodeId(1), verify: true, replication_factor: 3 };

    #[test]
    fn all_copies_intact_is_ok() {
        let census = census(&[&[1, 2, 3], &[1, 2, 3]]);
        let answers: Answers = (1..=3).map(|n| (NodeId(n), vec![Intact, Intact])).collect();
        let tally = tally(RUN, &census, &answers, BTreeMap::new());
        assert!(tally.report.ok);
        assert_eq!((tally.report.problems_total, tally.report.chunks), (0, 2));
        assert!(tally.shown.is_empty());
    }

    #[test]
    fn corrupt_missing_and_unreachable_copies_are_problems_worst_first() {
        // Chunk order follows the census map (sorted by id), not the slice order above.
        let census = census(&[&[1, 2, 3], &[1, 2, 3], &[1, 2]]);
        let ids: Vec<ChunkId> = census.chunks.keys().copied().collect();
        let mut answers: Answers = BTreeMap::new();
        answers.insert(NodeId(1), vec![Intact, Intact, Intact]);
        answers.insert(NodeId(2), vec![Corrupt, Missing, Unreachable]);
        let tally = tally(RUN, &census, &answers, BTreeMap::from([(3, "down".to_owned())]));
        let report = &tally.report;
        assert!(!report.ok);
        assert_eq!((report.problems_total, report.under_replicated, report.lost), (3, 3, 0));
        assert_eq!(report.bad_copies, 1);
        assert!(report.problems.iter().all(|p| p.verified_copies == 1));
        let first = &report.problems[0];
        assert_eq!(first.chunk, ids[0].0.to_hex());
        assert_eq!(
            first.copies,
            BTreeMap::from([(1, Intact), (2, Corrupt), (3, Unreachable)]),
            "every listed copy is shown"
        );
        assert_eq!(tally.shown, ids);
    }

    #[test]
    fn an_unlisted_good_copy_counts_and_is_shown() {
        let census = census(&[&[1, 2]]);
        let answers: Answers = (1..=3).map(|n| (NodeId(n), vec![Intact])).collect();
        assert!(tally(RUN, &census, &answers, BTreeMap::new()).report.ok);
        let answers: Answers =
            [(1, Intact), (2, Missing), (3, Intact)].map(|(n, s)| (NodeId(n), vec![s])).into();
        let report = tally(RUN, &census, &answers, BTreeMap::new()).report;
        assert_eq!(
            report.problems[0].copies,
            BTreeMap::from([(1, Intact), (2, Missing), (3, Intact)])
        );
        assert_eq!(report.problems[0].listed, vec![1, 2]);
    }
}
