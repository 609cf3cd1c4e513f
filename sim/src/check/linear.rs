//! Linearizability of the namespace operations on each path (DESIGN §1 sim, checker 3): a
//! register with compare-and-set, checked Wing–Gong style ([`super::search`]). Operations without
//! an answer may have acted at any time after they were sent, or never.

use std::collections::BTreeMap;

use super::search::{self, Found, Model};
use crate::history::{Call, ContentHash, Op, Return, Version};

/// States visited per path before the search gives up (the verdict is then "inconclusive").
pub const SEARCH_STATES_MAX: usize = 2_000_000;

/// The register: what the path holds, and the newest version number it ever had.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Register {
    /// The current content: its version (`None`: written by an unanswered put, number unknown)
    /// and hash; `None` when absent.
    current: Option<(Option<Version>, ContentHash)>,
    /// Every version number given out so far is at most this.
    newest: Version,
}

/// Verdict for a whole history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Paths whose operations have no valid order, with a description.
    pub violations: Vec<String>,
    /// Paths the search could not finish within [`SEARCH_STATES_MAX`].
    pub inconclusive: Vec<String>,
    /// Operations checked.
    pub ops: usize,
}

/// Checks every path's operations.
pub fn check(history: &[Op]) -> Verdict {
    let mut by_path: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in history {
        by_path.entry(op.path.as_str()).or_default().push(op);
    }
    let mut verdict = Verdict { ops: history.len(), ..Verdict::default() };
    for (path, ops) in by_path {
        match search(&ops) {
            Some(true) => {}
            Some(false) => verdict.violations.push(format!("{path}: {}", describe(&ops))),
            None => verdict.inconclusive.push(path.to_owned()),
        }
    }
    verdict
}

/// The operations of a path, briefly, for the failure message.
fn describe(ops: &[&Op]) -> String {
    let mut text: Vec<String> = ops
        .iter()
        .filter(|op| op.ret != Return::Unknown || !matches!(op.call, Call::Read))
        .map(|op| {
            let done = op.completed.map_or("?".to_owned(), |t| format!("{}", t.as_millis()));
            format!(
                "[{}..{}] c{} {} -> {}",
                op.invoked.as_millis(),
                done,
                op.client,
                crate::workload::call_name(&op.call),
                crate::workload::ret_text(&op.ret)
            )
        })
        .collect();
    if text.len() > 40 {
        let tail = text.split_off(text.len() - 40);
        text = tail;
    }
    text.join("; ")
}

/// `Some(true)` if an order exists, `Some(false)` if none does, `None` if the search ran out.
fn search(ops: &[&Op]) -> Option<bool> {
    // Unanswered reads say nothing: leave them out.
    let ops: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|op| !(op.ret == Return::Unknown && op.call == Call::Read))
        .collect();
    let start = Register { current: None, newest: 0 };
    match search::search(&CasRegister, start, &ops, SEARCH_STATES_MAX).found {
        Found::Linearizable => Some(true),
        Found::Violation { .. } => Some(false),
        Found::Inconclusive => None,
    }
}

/// The model: one path as a register with compare-and-set.
struct CasRegister;

impl Model for CasRegister {
    type Op = Op;
    type State = Register;

    fn step(&self, state: &Register, op: &Op) -> Vec<Register> {
        step(state, op)
    }
}

/// The states `op` can lead to from `state` (none if it cannot happen there).
fn step(state: &Register, op: &Op) -> Vec<Register> {
    let version = state.current.as_ref().map(|(v, _)| *v);
    let newer = |v: Version| v > state.newest;
    let written = |v: Option<Version>, hash: &ContentHash| Register {
        current: Some((v, hash.clone())),
        newest: v.unwrap_or(state.newest).max(state.newest),
    };
    match (&op.call, &op.ret) {
        (Call::Read, Return::Value(v, hash)) => match &state.current {
            Some((Some(have), h)) if have == v && h == hash => vec![state.clone()],
            Some((None, h)) if h == hash && newer(*v) => vec![written(Some(*v), hash)],
            _ => vec![],
        },
        (Call::Read, Return::Absent) => {
            if state.current.is_none() {
                vec![state.clone()]
            } else {
                vec![]
            }
        }
        (Call::Put { hash, .. }, Return::Written(v)) => {
            if newer(*v) {
                vec![written(Some(*v), hash)]
            } else {
                vec![]
            }
        }
        (Call::Put { hash, .. }, Return::Unknown) => vec![written(None, hash)],
        (Call::PutIfAbsent { hash, .. }, ret) => match (version, ret) {
            (None, Return::Written(v)) if newer(*v) => vec![written(Some(*v), hash)],
            (None, Return::Unknown) => vec![written(None, hash)],
            (Some(_), Return::Conflict) => vec![state.clone()],
            _ => vec![],
        },
        (Call::PutIfVersion { expect, hash, .. }, ret) => {
            // An unknown current version (from an unanswered put) may be any newer number.
            let matches = match version {
                Some(Some(v)) => v == *expect,
                Some(None) => *expect > state.newest,
                None => false,
            };
            let differs = match version {
                Some(Some(v)) => v != *expect,
                _ => true,
            };
            match ret {
                Return::Written(v) if matches && *v > *expect && newer(*v) => {
                    vec![written(Some(*v), hash)]
                }
                Return::Unknown if matches => {
                    let fixed = Register { newest: state.newest.max(*expect), ..state.clone() };
                    vec![Register { current: Some((None, hash.clone())), ..fixed }]
                }
                Return::Conflict if differs => vec![state.clone()],
                _ => vec![],
            }
        }
        (Call::Delete, Return::Deleted) | (Call::Delete, Return::Unknown)
            if state.current.is_some() =>
        {
            vec![Register { current: None, ..state.clone() }]
        }
        (Call::Delete, Return::Absent) if state.current.is_none() => vec![state.clone()],
        (Call::Remove, Return::Deleted | Return::Unknown) => {
            vec![Register { current: None, ..state.clone() }]
        }
        _ => vec![],
    }
}

#[cfg(test)]
mod tests;
