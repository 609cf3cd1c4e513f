//! Linearizable reads (issue 17 point 1) and the halt on an undecodable entry (point 6), on the
//! in-memory cluster.

use std::time::Duration;

use crate::command::{Command, Reply};
use crate::error::CommandError;
use crate::ids::{LogIndex, NodeId, RequestId};
use crate::testing::Cluster;

use super::tests::{elect, put};

fn commit(cluster: &mut Cluster, node: NodeId, command: Command) -> LogIndex {
    let request = cluster.submit(node, command);
    assert!(cluster.run_until(Duration::from_secs(10), |c| c.reply(node, request).is_some()));
    match cluster.reply(node, request) {
        Some(Ok(Reply::Applied { index, .. })) => *index,
        other => panic!("not committed: {other:?}"),
    }
}

fn answer(
    cluster: &mut Cluster,
    node: NodeId,
    request: RequestId,
) -> (Result<LogIndex, CommandError>, LogIndex) {
    let limit = Duration::from_secs(10);
    assert!(cluster.run_until(limit, |c| c.readable(node, request).is_some()), "read answered");
    cluster.readable(node, request).cloned().expect("just checked")
}

#[test]
fn a_read_through_any_node_sees_every_write_acknowledged_before_it() {
    let mut cluster = Cluster::new(7, 3);
    cluster.net.options.drop_per_mille = 20;
    let leader = elect(&mut cluster);
    for i in 0..60u64 {
        let written = commit(&mut cluster, leader, put("/f", &i.to_be_bytes()));
        let node = NodeId(i % 3 + 1);
        let request = cluster.read(node);
        let (result, applied) = answer(&mut cluster, node, request);
        let index = result.unwrap_or_else(|e| panic!("read {i} on {node} failed: {e}"));
        assert!(index >= written, "read {i} on {node}: read index {index} < write {written}");
        assert!(applied >= index, "read {i} on {node} answered at {applied} before {index}");
    }
    cluster.check_invariants().expect("safety held");
}

#[test]
fn one_round_serves_a_burst_of_reads_on_a_follower() {
    let mut cluster = Cluster::new(8, 3);
    let leader = elect(&mut cluster);
    commit(&mut cluster, leader, put("/f", b"x"));
    let follower = cluster.ids().into_iter().find(|&id| id != leader).expect("a follower");
    let before = cluster.node(follower).expect("up").reads.rounds_asked();
    let requests: Vec<RequestId> = (0..200).map(|_| cluster.read(follower)).collect();
    let done = |c: &Cluster| requests.iter().all(|&r| c.readable(follower, r).is_some());
    assert!(cluster.run_until(Duration::from_secs(5), done), "all answered");
    for &request in &requests {
        let (result, _) = cluster.readable(follower, request).expect("answered");
        assert!(result.is_ok(), "{request}: {result:?}");
    }
    let rounds = cluster.node(follower).expect("up").reads.rounds_asked() - before;
    assert!(rounds <= 2, "200 reads took {rounds} raft rounds");
}

#[test]
fn a_cut_off_follower_answers_reads_with_an_error_never_with_its_stale_replica() {
    let mut cluster = Cluster::new(9, 3);
    let leader = elect(&mut cluster);
    commit(&mut cluster, leader, put("/f", b"1"));
    let follower = cluster.ids().into_iter().find(|&id| id != leader).expect("a follower");
    cluster.isolate(follower);
    let written = commit(&mut cluster, leader, put("/f", b"2"));
    let request = cluster.read(follower);
    let (result, _) = answer(&mut cluster, follower, request);
    assert!(
        matches!(result, Err(CommandError::NoLeader | CommandError::ReadTimeout)),
        "{result:?}"
    );
    cluster.heal();
    elect(&mut cluster);
    let request = cluster.read(follower);
    let (result, applied) = answer(&mut cluster, follower, request);
    assert!(
        result.as_ref().is_ok_and(|&index| index >= written) && applied >= written,
        "{result:?}"
    );
}

#[test]
fn an_undecodable_committed_entry_halts_applying_on_every_replica() {
    let mut cluster = Cluster::new(10, 3);
    let leader = elect(&mut cluster);
    let before = commit(&mut cluster, leader, put("/f", b"1"));
    cluster.propose_raw(leader, vec![0xff; 16]);
    let halted = |c: &Cluster| {
        c.ids().iter().all(|&id| c.node(id).is_some_and(|n| n.status().halted.is_some()))
    };
    assert!(cluster.run_until(Duration::from_secs(5), halted), "every replica halts");
    for id in cluster.ids() {
        let node = cluster.node(id).expect("up");
        let index = node.status().halted.expect("halted");
        assert!(index > before);
        assert_eq!(node.status().applied, LogIndex(index.0 - 1), "{id} applied nothing from there");
        let reason = node.not_ready().expect("not ready");
        assert!(reason.contains("halted") && reason.contains(&index.to_string()), "{reason}");
    }
    let index = cluster.node(leader).expect("up").status().halted.expect("halted");
    let request = cluster.submit(leader, put("/g", b"2"));
    assert_eq!(cluster.reply(leader, request), Some(&Err(CommandError::Halted { index })));
    let request = cluster.read(leader);
    let answered = cluster.readable(leader, request).map(|(result, _)| result.clone());
    assert_eq!(answered, Some(Err(CommandError::Halted { index })));
    // A restart replays the same log and halts at the same entry, never past it.
    cluster.crash(leader);
    cluster.restart(leader);
    let node = cluster.node(leader).expect("up");
    assert_eq!((node.status().halted, node.status().applied), (Some(index), LogIndex(index.0 - 1)));
}
