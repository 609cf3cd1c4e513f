use std::collections::{BTreeMap, BTreeSet};

use crate::command::{ChunkRef, Command, Content, Precondition};
use crate::health::Health;
use crate::ids::{ChunkId, Hash, LogIndex, NodeId, UnixMillis, UserName};
use crate::meta::Namespace;
use crate::path::Path;
use crate::repair::{Blocked, QueueEntry, QueueView, TaskKind, TaskState};

use super::{explain_chunks, explain_node};

fn chunk(name: &str) -> ChunkId {
    ChunkId(Hash::of(name.as_bytes()))
}

/// Four members; `/f` has chunks `a` and `b`, each on nodes 1, 2 and 3.
fn namespace() -> Namespace {
    let mut ns = Namespace::bootstrap(&[NodeId(1), NodeId(2), NodeId(3), NodeId(4)]);
    let on: BTreeSet<NodeId> = [1, 2, 3].map(NodeId).into();
    let chunks = vec![
        ChunkRef { id: chunk("a"), len_bytes: 10 },
        ChunkRef { id: chunk("b"), len_bytes: 10 },
    ];
    let replicas: BTreeMap<ChunkId, BTreeSet<NodeId>> =
        chunks.iter().map(|c| (c.id, on.clone())).collect();
    let put = Command::PutVersion {
        path: Path::parse("/f").expect("path"),
        precondition: Precondition::None,
        content: Content { chunks, size_bytes: 20, hash: Hash::of(b"f") },
        author: UserName("alice".into()),
        created_at: UnixMillis(1),
        replicas,
        idempotency_key: None,
    };
    ns.apply(LogIndex(2), &put).expect("put applies");
    ns
}

fn set_health(ns: &mut Namespace, index: u64, node: u64, health: Health) {
    let command = Command::SetHealth { node: NodeId(node), health };
    ns.apply(LogIndex(index), &command).expect("health applies");
}

fn entry(chunk: ChunkId, state: TaskState, blocked: Option<Blocked>) -> QueueEntry {
    QueueEntry {
        chunk,
        len_bytes: 10,
        kind: TaskKind::Repair,
        source: Some(NodeId(1)),
        target: None,
        state,
        attempts: 0,
        last_error: None,
        blocked,
        waiting_ms: 1500,
    }
}

#[test]
fn a_fully_replicated_chunk_is_converged() {
    let ns = namespace();
    let got = explain_chunks(&ns, [chunk("a")], 3, Some(&QueueView::default()));
    assert!(got[0].converged);
    assert_eq!((got[0].counted, got[0].readable), (3, 3));
    assert!(got[0].summary.starts_with("converged"), "{}", got[0].summary);
}

#[test]
fn a_down_holder_still_counts_but_cannot_be_read() {
    let mut ns = namespace();
    set_health(&mut ns, 3, 3, Health::Down);
    let got = explain_chunks(&ns, [chunk("a")], 3, Some(&QueueView::default()));
    assert!(!got[0].converged, "only two copies can be read");
    assert_eq!((got[0].counted, got[0].readable), (3, 2));
    assert!(got[0].summary.contains("n3 is down"), "{}", got[0].summary);
}

#[test]
fn a_lost_holder_is_stale_and_the_queue_says_what_blocks_the_copy() {
    let mut ns = namespace();
    set_health(&mut ns, 3, 3, Health::Lost);
    let queue = QueueView {
        entries: vec![entry(chunk("a"), TaskState::Pending, Some(Blocked::NoTarget))],
        total: 1,
        ..QueueView::default()
    };
    let got = explain_chunks(&ns, [chunk("a"), chunk("b")], 3, Some(&queue));
    assert_eq!(got[0].copies.iter().filter(|c| c.standing == "stale").count(), 1);
    assert!(got[0].summary.contains("2 of 3 copies count"), "{}", got[0].summary);
    assert!(got[0].summary.contains("blocked: no up, active node"), "{}", got[0].summary);
    assert!(got[1].summary.contains("not queued yet"), "{}", got[1].summary);
    let unknown = explain_chunks(&ns, [chunk("a")], 3, None);
    assert!(unknown[0].summary.contains("could not be read") || !unknown[0].queue.is_empty());
}

#[test]
fn a_node_explanation_lists_its_unconverged_chunks() {
    let mut ns = namespace();
    set_health(&mut ns, 3, 3, Health::Lost);
    let queue = QueueView {
        entries: vec![entry(chunk("a"), TaskState::InProgress, None)],
        total: 1,
        ..QueueView::default()
    };
    let lost = explain_node(&ns, NodeId(3), 3, Some(&queue), 100);
    assert_eq!((lost.health, lost.state, lost.copies_indexed), ("lost", "active", 2));
    assert_eq!(lost.chunks.len(), 2);
    assert!(
        lost.summary.contains("2 of its 2 chunks are not converged: 1 being copied"),
        "{}",
        lost.summary
    );
    let fine = explain_node(&ns, NodeId(4), 3, Some(&queue), 100);
    assert!(fine.summary.contains("up and active"), "{}", fine.summary);
    let gone = explain_node(&ns, NodeId(9), 3, Some(&queue), 100);
    assert_eq!(gone.health, "gone");
}
