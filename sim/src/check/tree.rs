//! Linearizability of the folder-tree operations (DESIGN §1 sim, checker 3): the whole tree is one
//! object whose state is a small file system ([`model`]), checked Wing–Gong style
//! ([`super::search`]). Unanswered reads and listings say nothing and are left out; unanswered
//! changes may have acted at any time after they were sent, or never. Versions are ignored:
//! every write's content is different, so hashes tell writes apart.

pub mod model;

use std::collections::BTreeMap;
use std::time::Duration;

use self::model::{Action, ContentId, Fs, Node, Outcome, Tree};
use super::search::{self, Found, Model};
use crate::history::{Child, Refusal, Timed, TreeCall, TreeOp, TreeReturn};
use crate::workload::tree::{call_text, ret_text};

/// States visited before the search gives up (the verdict is then "inconclusive"). A tree state
/// is a few hundred bytes, so this bounds the search's memory to a few hundred MB.
pub const SEARCH_STATES_MAX: usize = 500_000;

/// Verdict for the tree's history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Why no valid order exists, if none does.
    pub violation: Option<String>,
    /// The search ran out of states before deciding.
    pub inconclusive: bool,
    /// Operations checked (unanswered reads and listings left out).
    pub ops: usize,
    /// States the search visited.
    pub states: usize,
}

/// Checks the tree operations of a run, on the tree at `root`.
pub fn check(root: &str, history: &[TreeOp]) -> Verdict {
    let mut contents = Contents::default();
    let kept: Vec<&TreeOp> =
        history.iter().filter(|op| !(op.ret == TreeReturn::Unknown && op.call.is_read())).collect();
    let steps: Vec<Step> = kept.iter().map(|op| Step::of(op, &mut contents)).collect();
    let refs: Vec<&Step> = steps.iter().collect();
    let spec = Spec { tree: Tree::new(root) };
    let searched = search::search(&spec, Fs::default(), &refs, SEARCH_STATES_MAX);
    let mut verdict = Verdict { ops: steps.len(), states: searched.states, ..Verdict::default() };
    match searched.found {
        Found::Linearizable => {}
        Found::Inconclusive => verdict.inconclusive = true,
        Found::Violation { furthest, stuck } => {
            let stuck: Vec<String> = stuck.iter().take(8).map(|&i| describe(kept[i])).collect();
            verdict.violation = Some(format!(
                "{root}: no order of {} tree operations fits; the furthest order reached {} and \
                 none of these can go next: {}",
                steps.len(),
                contents.show(&furthest),
                stuck.join("; ")
            ));
        }
    }
    verdict
}

/// One operation, in the model's terms, with what it must have returned.
struct Step {
    invoked: Duration,
    completed: Option<Duration>,
    action: Action,
    expect: Expect,
}

/// A recorded return in the model's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expect {
    Done,
    Refused(Refusal),
    File(ContentId),
    Listing(Vec<(String, Node)>),
    Unknown,
}

impl Step {
    fn of(op: &TreeOp, contents: &mut Contents) -> Self {
        let action = match &op.call {
            TreeCall::CreateFolder { path } => Action::CreateFolder(path.clone()),
            TreeCall::Put { path, hash, .. } => Action::Put(path.clone(), contents.id(hash)),
            TreeCall::Read { path } => Action::Read(path.clone()),
            TreeCall::List { path } => Action::List(path.clone()),
            TreeCall::Move { from, to } => Action::Move { from: from.clone(), to: to.clone() },
            TreeCall::DeleteRecursive { path } => Action::DeleteRecursive(path.clone()),
            TreeCall::Delete { path } => Action::Delete(path.clone()),
        };
        let expect = match &op.ret {
            TreeReturn::Done => Expect::Done,
            TreeReturn::Refused(refusal) => Expect::Refused(*refusal),
            TreeReturn::File(hash) => Expect::File(contents.id(hash)),
            TreeReturn::Listing(children) => Expect::Listing(
                children
                    .iter()
                    .map(|(name, child)| {
                        let node = match child {
                            Child::Folder => Node::Folder,
                            Child::File(hash) => Node::File(contents.id(hash)),
                        };
                        (name.clone(), node)
                    })
                    .collect(),
            ),
            TreeReturn::Unknown => Expect::Unknown,
        };
        Self { invoked: op.invoked, completed: op.completed, action, expect }
    }
}

impl Timed for Step {
    fn invoked(&self) -> Duration {
        self.invoked
    }
    fn completed(&self) -> Option<Duration> {
        self.completed
    }
}

/// The tree's rules as a model for the search.
struct Spec {
    tree: Tree,
}

impl Model for Spec {
    type Op = Step;
    type State = Fs;

    fn step(&self, state: &Fs, step: &Step) -> Vec<Fs> {
        match (&step.expect, self.tree.answer(state, &step.action)) {
            // An unanswered change that would be refused here is the same as one never made.
            (Expect::Unknown | Expect::Done, Outcome::Changed(next)) => vec![next],
            (Expect::Refused(said), Outcome::Refused(refusal)) if *said == refusal => {
                vec![state.clone()]
            }
            (Expect::File(said), Outcome::File(content)) if *said == content => vec![state.clone()],
            (Expect::Listing(said), Outcome::Listing(children)) if *said == children => {
                vec![state.clone()]
            }
            _ => vec![],
        }
    }
}

/// Content hashes numbered in order of first appearance (a hash only a read saw gets a number
/// no write has, so that read fits nowhere).
#[derive(Default)]
struct Contents {
    ids: BTreeMap<String, ContentId>,
}

impl Contents {
    fn id(&mut self, hash: &str) -> ContentId {
        let next = ContentId::try_from(self.ids.len()).unwrap_or(ContentId::MAX);
        *self.ids.entry(hash.to_owned()).or_insert(next)
    }

    /// `fs` with each content shown as its hash's first 8 characters.
    fn show(&self, fs: &Fs) -> String {
        let hashes: BTreeMap<ContentId, &str> =
            self.ids.iter().map(|(hash, id)| (*id, hash.as_str())).collect();
        let shown: Vec<String> = fs
            .entries()
            .map(|(path, node)| match node {
                Node::Folder => format!("{path}/"),
                Node::File(id) => {
                    let hash = hashes.get(&id).copied().unwrap_or("?");
                    format!("{path}={}", hash.get(..8).unwrap_or(hash))
                }
            })
            .collect();
        format!("{{{}}}", shown.join(" "))
    }
}

/// One operation, briefly, for the failure message.
fn describe(op: &TreeOp) -> String {
    let done = op.completed.map_or("?".to_owned(), |t| t.as_millis().to_string());
    format!(
        "[{}..{}] c{} {} -> {}",
        op.invoked.as_millis(),
        done,
        op.client,
        call_text(&op.call),
        ret_text(&op.ret)
    )
}

#[cfg(test)]
mod tests;
