//! The Wing–Gong search behind the linearizability checkers (DESIGN §1 sim, checker 3): look for
//! an order of the operations that respects real time (an operation goes before every operation
//! sent after its answer arrived) and that the object's model accepts, memoizing the (operations
//! placed, state) pairs already explored. Operations without an answer may act at any time after
//! they were sent, or never. What the object is comes from a [`Model`].

use std::collections::HashSet;
use std::hash::Hash;
use std::time::Duration;

use crate::history::Timed;

/// A sequential specification of one object.
pub trait Model {
    /// One recorded operation on the object.
    type Op: Timed;
    /// The object's state (kept small: every explored state is remembered).
    type State: Clone + Eq + Hash;

    /// The states `op`, with the outcome it recorded, can lead to from `state`; none if it
    /// cannot have happened there.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Vec<Self::State>;
}

/// How a search ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found<S> {
    /// An order exists.
    Linearizable,
    /// No order exists. `furthest` is a state reached with the most answered operations placed,
    /// and `stuck` the answered operations (indexes into the searched slice) that could have gone
    /// next in time there but that the model refuses: where the history goes wrong.
    Violation {
        /// The state with the most answered operations placed.
        furthest: S,
        /// The operations that could not go next from it.
        stuck: Vec<usize>,
    },
    /// The search visited `states_max` states without deciding.
    Inconclusive,
}

/// What a search found, and how much it looked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Searched<S> {
    /// The answer.
    pub found: Found<S>,
    /// Distinct (operations placed, state) pairs visited.
    pub states: usize,
}

/// Searches for an order of `ops` from `start`, visiting at most `states_max` states.
pub fn search<M: Model>(
    model: &M,
    start: M::State,
    ops: &[&M::Op],
    states_max: usize,
) -> Searched<M::State> {
    let mut seen = HashSet::new();
    let found = explore(model, start, ops, states_max, &mut seen);
    Searched { found, states: seen.len() }
}

/// The search itself; `seen` holds every visited (operations placed, state) pair.
fn explore<M: Model>(
    model: &M,
    start: M::State,
    ops: &[&M::Op],
    states_max: usize,
    seen: &mut HashSet<(Vec<u64>, M::State)>,
) -> Found<M::State> {
    let n = ops.len();
    let none_placed = vec![0u64; n.div_ceil(64)];
    // The explored point with the most answered operations placed (for the violation report).
    let mut furthest = (0, none_placed.clone(), start.clone());
    let mut stack = vec![(none_placed, start)];
    while let Some((done, state)) = stack.pop() {
        if seen.len() >= states_max {
            return Found::Inconclusive;
        }
        if !seen.insert((done.clone(), state.clone())) {
            continue;
        }
        let is_done = |i: usize| placed(&done, i);
        let answered = (0..n).filter(|&i| is_done(i) && ops[i].completed().is_some()).count();
        // Every answered operation placed: the rest are unanswered and may never have acted.
        if (0..n).all(|i| is_done(i) || ops[i].completed().is_none()) {
            return Found::Linearizable;
        }
        for i in candidates(ops, &done) {
            for next in model.step(&state, ops[i]) {
                let mut placed = done.clone();
                placed[i / 64] |= 1 << (i % 64);
                stack.push((placed, next));
            }
        }
        if answered > furthest.0 {
            furthest = (answered, done, state);
        }
    }
    let (_, done, state) = furthest;
    let stuck = candidates(ops, &done)
        .filter(|&i| ops[i].completed().is_some() && model.step(&state, ops[i]).is_empty())
        .collect();
    Found::Violation { furthest: state, stuck }
}

/// The unplaced operations that may go next: those sent before every unplaced answered operation
/// completed.
fn candidates<'a, O: Timed>(ops: &'a [&O], done: &'a [u64]) -> impl Iterator<Item = usize> + 'a {
    let is_done = move |i: usize| placed(done, i);
    let horizon = (0..ops.len())
        .filter(|&i| !is_done(i))
        .filter_map(|i| ops[i].completed())
        .min()
        .unwrap_or(Duration::MAX);
    (0..ops.len()).filter(move |&i| !is_done(i) && ops[i].invoked() <= horizon)
}

/// Whether operation `i` is placed in the bit set `done`.
fn placed(done: &[u64], i: usize) -> bool {
    done[i / 64] & (1 << (i % 64)) != 0
}
