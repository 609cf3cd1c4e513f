//! "Why is this not converged?" (DESIGN §2 "monitoring"): for the chunks of a file or a node, which
//! copies count, which are missing or stale, what the leader's queue is doing about each, and
//! what blocks it. Pure: built from the committed namespace and the leader's queue view.

use std::collections::BTreeMap;

use crate::command::DeclaredState;
use crate::health::Health;
use crate::ids::{ChunkId, NodeId};
use crate::meta::Namespace;

use super::{assess, QueueEntry, QueueView, TaskState};

/// One copy the index lists, and what it is worth now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    /// The node holding it.
    pub node: NodeId,
    /// `counted` (toward the replication factor), `leaving` (draining node) or `stale`
    /// (lost node or not a member: to be dropped).
    pub standing: &'static str,
    /// The holder's committed health (`gone` if it is no longer a member).
    pub health: &'static str,
}

/// One chunk's replication, as an operator needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkExplanation {
    /// The chunk.
    pub chunk: ChunkId,
    /// Every copy the index lists.
    pub copies: Vec<Copy>,
    /// Copies wanted.
    pub wanted: usize,
    /// Copies that count.
    pub counted: usize,
    /// Counted copies that can be read now (on up nodes).
    pub readable: usize,
    /// Whether the chunk has all its copies and nothing to drop.
    pub converged: bool,
    /// What the leader's queue holds for this chunk.
    pub queue: Vec<QueueEntry>,
    /// One sentence: what is wrong, what is being done, what blocks it.
    pub summary: String,
}

/// Explains `chunks` against the committed `namespace`, wanting `rf` copies of each. `queue` is
/// the leader's view (`None` when it could not be had).
pub fn explain_chunks(
    namespace: &Namespace,
    chunks: impl IntoIterator<Item = ChunkId>,
    rf: usize,
    queue: Option<&QueueView>,
) -> Vec<ChunkExplanation> {
    let mut queued: BTreeMap<ChunkId, Vec<QueueEntry>> = BTreeMap::new();
    for entry in queue.map(|q| q.entries.as_slice()).unwrap_or_default() {
        queued.entry(entry.chunk).or_default().push(entry.clone());
    }
    let members = namespace.members();
    let empty = Default::default();
    chunks
        .into_iter()
        .map(|chunk| {
            let holders = namespace.replicas(&chunk).unwrap_or(&empty);
            let a = assess(holders, members);
            let copies = holders
                .iter()
                .map(|node| {
                    let member = members.get(node);
                    let standing = if a.counted.contains(node) {
                        "counted"
                    } else if a.leaving.contains(node) {
                        "leaving"
                    } else {
                        "stale"
                    };
                    let health = member.map_or("gone", |m| m.health.as_str());
                    Copy { node: *node, standing, health }
                })
                .collect();
            let readable = a.counted.iter().filter(|n| a.sources.contains(n)).count();
            let entries = queued.remove(&chunk).unwrap_or_default();
            let converged =
                readable >= rf && a.leaving.is_empty() && a.stale.is_empty() && entries.is_empty();
            let summary = summarize(&a, rf, readable, &entries, queue.is_some(), namespace);
            ChunkExplanation {
                chunk,
                copies,
                wanted: rf,
                counted: a.counted.len(),
                readable,
                converged,
                queue: entries,
                summary,
            }
        })
        .collect()
}

fn summarize(
    a: &super::Assessment,
    rf: usize,
    readable: usize,
    entries: &[QueueEntry],
    have_queue: bool,
    namespace: &Namespace,
) -> String {
    let counted = a.counted.len();
    let mut parts = vec![format!("{counted} of {rf} copies count, {readable} readable now")];
    let members = namespace.members();
    let unreadable: Vec<String> = a
        .counted
        .iter()
        .filter(|n| !a.sources.contains(n))
        .map(|n| format!("{n} is {}", members.get(n).map_or("gone", |m| m.health.as_str())))
        .collect();
    if !unreadable.is_empty() {
        parts.push(format!(
            "{} (its copy still counts until it is declared lost)",
            unreadable.join(", ")
        ));
    }
    if !a.stale.is_empty() {
        let stale: Vec<String> = a.stale.iter().map(ToString::to_string).collect();
        parts.push(format!(
            "stale copies on {} are dropped once enough others exist",
            stale.join(", ")
        ));
    }
    if !a.leaving.is_empty() {
        let leaving: Vec<String> = a.leaving.iter().map(ToString::to_string).collect();
        parts.push(format!("copies on draining {} are moving off", leaving.join(", ")));
    }
    for entry in entries {
        parts.push(describe_entry(entry));
    }
    let short = counted < rf || !a.leaving.is_empty();
    if short && entries.is_empty() {
        parts.push(if have_queue {
            "not queued yet: the leader plans on its next pass".into()
        } else {
            "the leader's queue could not be read".into()
        });
    }
    if readable >= rf && a.leaving.is_empty() && a.stale.is_empty() && entries.is_empty() {
        return format!("converged: {counted} of {rf} copies count, {readable} readable now");
    }
    parts.join("; ")
}

fn describe_entry(entry: &QueueEntry) -> String {
    let route = match (entry.source, entry.target) {
        (Some(from), Some(to)) => format!("{from} → {to}"),
        (None, Some(to)) => format!("? → {to}"),
        (Some(from), None) => format!("{from} → ?"),
        (None, None) => "? → ?".into(),
    };
    let kind = format!("{:?}", entry.kind).to_lowercase();
    let mut text = match entry.state {
        TaskState::InProgress => format!("{kind} copy {route} in progress"),
        TaskState::Pending => format!("{kind} copy {route} pending"),
        TaskState::Failed => format!("{kind} copy {route} failed {} time(s)", entry.attempts),
        TaskState::Done => format!("{kind} copy {route} done"),
    };
    if let Some(blocked) = entry.blocked {
        text.push_str(&format!(", blocked: {}", blocked.describe()));
    }
    if let Some(error) = &entry.last_error {
        text.push_str(&format!(" (last error: {error})"));
    }
    text
}

/// A member's standing in a node explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeExplanation {
    /// The node.
    pub node: NodeId,
    /// Its committed health (`gone` if not a member).
    pub health: &'static str,
    /// `active` or `draining` (`gone` if not a member).
    pub state: &'static str,
    /// Copies the index lists on it.
    pub copies_indexed: usize,
    /// Those of its chunks that are not converged, explained.
    pub chunks: Vec<ChunkExplanation>,
    /// Queue entries copying to or from it.
    pub queue: Vec<QueueEntry>,
    /// One sentence for people.
    pub summary: String,
}

/// Explains `node`: its health and state, and every chunk of it that is not converged (at most
/// `chunks_max` explained).
pub fn explain_node(
    namespace: &Namespace,
    node: NodeId,
    rf: usize,
    queue: Option<&QueueView>,
    chunks_max: usize,
) -> NodeExplanation {
    let member = namespace.members().get(&node);
    let health = member.map_or("gone", |m| m.health.as_str());
    let state = member.map_or("gone", |m| match m.state {
        DeclaredState::Active => "active",
        DeclaredState::Draining => "draining",
    });
    let on_node: Vec<ChunkId> = namespace.chunks_on(node).collect();
    let copies_indexed = on_node.len();
    let live = super::live_chunks(namespace);
    let all =
        explain_chunks(namespace, on_node.into_iter().filter(|c| live.contains_key(c)), rf, queue);
    let unconverged: Vec<ChunkExplanation> = all.into_iter().filter(|c| !c.converged).collect();
    let short = unconverged.len();
    let entries: Vec<QueueEntry> = queue
        .map(|q| q.entries.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|e| e.source == Some(node) || e.target == Some(node))
        .cloned()
        .collect();
    let summary = match (member.map(|m| m.health), short) {
        (None, _) => format!("{node} is not a member; {copies_indexed} copies still listed on it"),
        (Some(Health::Up), 0) if state == "active" => {
            format!("{node} is up and active; all {copies_indexed} of its copies are converged")
        }
        (Some(h), 0) => format!(
            "{node} is {} and {state}; all {copies_indexed} of its chunks are converged",
            h.as_str()
        ),
        (Some(h), n) => {
            let blocked =
                unconverged.iter().filter(|c| c.queue.iter().any(|e| e.blocked.is_some())).count();
            let moving = unconverged
                .iter()
                .filter(|c| c.queue.iter().any(|e| e.state == TaskState::InProgress))
                .count();
            format!(
                "{node} is {} and {state}; {n} of its {copies_indexed} chunks are not converged: {moving} being copied, {blocked} blocked",
                h.as_str()
            )
        }
    };
    let chunks = unconverged.into_iter().take(chunks_max).collect();
    NodeExplanation { node, health, state, copies_indexed, chunks, queue: entries, summary }
}

#[cfg(test)]
mod tests;
