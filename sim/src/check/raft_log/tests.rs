use dfs_core::RaftWrite;
use raft::eraftpb::{Entry, HardState};

use super::LogWatch;

fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
    Entry { index, term, data: data.to_vec().into(), ..Entry::default() }
}

fn write(entries: Vec<Entry>, commit: Option<u64>) -> RaftWrite {
    let hard_state = commit.map(|commit| HardState { commit, ..HardState::default() });
    RaftWrite { entries, hard_state, ..RaftWrite::default() }
}

#[test]
fn nodes_that_commit_the_same_entries_agree() {
    let mut watch = LogWatch::default();
    for node in 1..=3 {
        watch.persisted(node, &[write(vec![entry(1, 1, b"a"), entry(2, 1, b"b")], None)]);
        watch.persisted(node, &[write(vec![], Some(2))]);
    }
    assert!(watch.violations.is_empty(), "{:?}", watch.violations);
    assert_eq!(watch.committed(), 2);
    assert_eq!(watch.confirmed, 4);
}

#[test]
fn an_uncommitted_tail_may_be_replaced() {
    let mut watch = LogWatch::default();
    watch.persisted(1, &[write(vec![entry(1, 1, b"a"), entry(2, 1, b"b")], Some(1))]);
    watch.persisted(1, &[write(vec![entry(2, 2, b"c")], Some(2))]);
    watch.persisted(2, &[write(vec![entry(1, 1, b"a"), entry(2, 2, b"c")], Some(2))]);
    assert!(watch.violations.is_empty(), "{:?}", watch.violations);
}

#[test]
fn two_nodes_committing_different_entries_at_one_index_is_a_violation() {
    let mut watch = LogWatch::default();
    watch.persisted(1, &[write(vec![entry(1, 1, b"a"), entry(2, 1, b"b")], Some(2))]);
    watch.persisted(2, &[write(vec![entry(1, 1, b"a"), entry(2, 2, b"x")], Some(2))]);
    assert_eq!(watch.violations.len(), 1, "{:?}", watch.violations);
    assert!(watch.violations[0].starts_with("index 2 committed in term 1 on n1 and in term 2"));
}

#[test]
fn same_term_other_contents_is_a_violation() {
    let mut watch = LogWatch::default();
    watch.persisted(1, &[write(vec![entry(1, 1, b"a")], Some(1))]);
    watch.persisted(2, &[write(vec![entry(1, 1, b"z")], Some(1))]);
    assert!(watch.violations[0].ends_with("with other contents"), "{:?}", watch.violations);
}

#[test]
fn replacing_a_committed_entry_is_a_violation() {
    let mut watch = LogWatch::default();
    watch.persisted(1, &[write(vec![entry(1, 1, b"a"), entry(2, 1, b"b")], Some(2))]);
    watch.persisted(1, &[write(vec![entry(2, 3, b"c")], None)]);
    assert_eq!(watch.violations, vec!["n1 replaced its committed entry 2".to_owned()]);
}
