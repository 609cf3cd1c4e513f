//! Repair rules on the in-memory cluster (issue 4, points 1 and 3–7): failure detection,
//! re-replication, the queue, recovery sync, scrub, read repair, drain and rebalance.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::command::{Command, DeclaredState, MemberRole, Reply};
use crate::config::Config;
use crate::error::CommandError;
use crate::health::Health;
use crate::ids::{ChunkId, Hash, NodeId, RequestId};
use crate::input::Input;
use crate::testing::Cluster;

use super::{backoff, RepairConfig, TaskState};

const MIB: u32 = 1 << 20;

fn ids(n: u64) -> Vec<NodeId> {
    (1..=n).map(NodeId).collect()
}

fn chunks(name: &str, count: u32, len: u32) -> Vec<(ChunkId, u32)> {
    (0..count).map(|i| (ChunkId(Hash::of(format!("{name}/{i}").as_bytes())), len)).collect()
}

/// A cluster of `n` founding voters with `tune` applied to every config.
fn cluster_with(seed: u64, n: u64, tune: impl Fn(&mut Config)) -> Cluster {
    let configs = ids(n)
        .into_iter()
        .map(|id| {
            let mut config = Config::new(id, ids(n));
            tune(&mut config);
            config
        })
        .collect();
    Cluster::with_configs(seed, configs, false)
}

fn elect(cluster: &mut Cluster) -> NodeId {
    let known = |c: &Cluster| {
        c.leader().is_some_and(|l| {
            c.ids().iter().filter_map(|&id| c.node(id)).all(|n| n.status().leader == Some(l))
        })
    };
    assert!(cluster.run_until(Duration::from_secs(5), known), "a leader within 5 s");
    cluster.leader().expect("just checked")
}

fn answered(cluster: &mut Cluster, via: NodeId, request: RequestId) -> Result<Reply, CommandError> {
    let done = cluster.run_until(Duration::from_secs(10), |c| c.reply(via, request).is_some());
    assert!(done, "no reply to {request}");
    cluster.reply(via, request).cloned().expect("just checked")
}

fn write(cluster: &mut Cluster, path: &str, data: &[(ChunkId, u32)], on: &[NodeId]) {
    let via = cluster.leader().expect("a leader");
    let request = cluster.place_file(via, path, data, on);
    assert!(answered(cluster, via, request).is_ok(), "write of {path} committed");
}

fn commit(cluster: &mut Cluster, command: Command) -> Result<Reply, CommandError> {
    let via = cluster.leader().expect("a leader");
    let request = cluster.submit(via, command);
    answered(cluster, via, request)
}

/// The committed health of `member` as every up node in `observers` reports it, if they agree.
fn agreed_health(cluster: &Cluster, observers: &[NodeId], member: NodeId) -> Option<Health> {
    let seen: BTreeSet<Health> = observers
        .iter()
        .filter_map(|&id| cluster.node(id))
        .filter_map(|n| n.status().namespace.members().get(&member).map(|m| m.health))
        .collect();
    (seen.len() == 1).then(|| *seen.iter().next().expect("one"))
}

/// Every chunk in `data` has `rf` intact copies, all on nodes in `allowed`, and the leader's index
/// lists exactly those.
fn fully_replicated(
    cluster: &Cluster,
    data: &[(ChunkId, u32)],
    rf: usize,
    allowed: &[NodeId],
) -> bool {
    let Some(leader) = cluster.leader().and_then(|l| cluster.node(l)) else { return false };
    let namespace = leader.status().namespace;
    data.iter().all(|(chunk, _)| {
        let holders: Vec<NodeId> =
            cluster.intact_holders(*chunk).into_iter().filter(|n| allowed.contains(n)).collect();
        let listed: Vec<NodeId> =
            namespace.replicas(chunk).map(|s| s.iter().copied().collect()).unwrap_or_default();
        holders.len() >= rf && listed.len() == rf && listed.iter().all(|n| holders.contains(n))
    })
}

#[test]
fn silence_makes_a_member_suspect_then_down_and_every_node_agrees() {
    let mut cluster = Cluster::new(11, 3);
    elect(&mut cluster);
    let n3 = NodeId(3);
    let others = [NodeId(1), NodeId(2)];
    cluster.crash(n3);
    let start = cluster.now();
    let suspect = cluster.run_until(Duration::from_secs(4), |c| {
        agreed_health(c, &others, n3) == Some(Health::Suspect)
    });
    assert!(suspect, "suspect within 3 s (default suspect_after 2 s)");
    let took = cluster.now().saturating_duration_since(start);
    assert!(took <= Duration::from_secs(3), "suspect after {took:?}");
    let down = cluster.run_until(Duration::from_secs(12), |c| {
        agreed_health(c, &others, n3) == Some(Health::Down)
    });
    assert!(down, "down after down_after");
    cluster.restart(n3);
    let up = cluster
        .run_until(Duration::from_secs(3), |c| agreed_health(c, &ids(3), n3) == Some(Health::Up));
    assert!(up, "up again, and the returning node agrees");
    // The leader's view carries usage and silence of every member to every node.
    let view = cluster.node(n3).expect("up").cluster_view().clone();
    assert_eq!(view.nodes.len(), 3);
    assert!(view.nodes.iter().all(|r| r.last_heard_ms.is_some_and(|ms| ms < 2_000)), "{view:?}");
    cluster.check_invariants().expect("safety held");
}

#[test]
fn a_new_leader_does_not_mark_live_members_down() {
    let mut cluster = Cluster::new(12, 3);
    let leader = elect(&mut cluster);
    cluster.crash(leader);
    let others: Vec<NodeId> = ids(3).into_iter().filter(|&n| n != leader).collect();
    let next = elect(&mut cluster);
    assert_ne!(next, leader);
    cluster.run_for(Duration::from_secs(5));
    for &n in &others {
        assert_eq!(agreed_health(&cluster, &others, n), Some(Health::Up), "live {n} stays up");
    }
    assert_eq!(agreed_health(&cluster, &others, leader), Some(Health::Suspect));
}

#[test]
fn a_node_down_past_reassign_after_has_its_chunks_copied_elsewhere_and_dropped_on_return() {
    let mut cluster = cluster_with(13, 4, |c| c.repair.rebalance_tolerance_pct = 0);
    elect(&mut cluster);
    let data = chunks("a", 6, MIB);
    write(&mut cluster, "/a", &data, &ids(3));
    let n3 = NodeId(3);
    cluster.crash(n3);
    let survivors = [NodeId(1), NodeId(2), NodeId(4)];
    // Before reassign_after (30 s) nothing moves: the node may come back.
    cluster.run_for(Duration::from_secs(20));
    assert!(data.iter().all(|(c, _)| !cluster.intact_holders(*c).contains(&NodeId(4))));
    let healed =
        cluster.run_until(Duration::from_secs(20), |c| fully_replicated(c, &data, 3, &survivors));
    assert!(healed, "every chunk back at 3 copies on up nodes");
    cluster.restart(n3);
    let dropped = cluster.run_until(Duration::from_secs(10), |c| {
        data.iter().all(|(chunk, _)| !c.intact_holders(*chunk).contains(&n3))
    });
    assert!(dropped, "the returning node dropped copies nobody needs");
    assert!(fully_replicated(&cluster, &data, 3, &survivors));
    cluster.check_invariants().expect("safety held");
}

#[test]
fn a_write_missed_while_down_reaches_the_node_soon_after_it_returns() {
    let mut cluster = Cluster::new(14, 3);
    elect(&mut cluster);
    let n3 = NodeId(3);
    cluster.crash(n3);
    cluster.run_for(Duration::from_secs(3));
    let data = chunks("b", 4, MIB);
    write(&mut cluster, "/b", &data, &[NodeId(1), NodeId(2)]);
    // With every other node holding a copy there is no target until n3 is back.
    let leader = cluster.leader().expect("leader");
    let queue = cluster
        .node(leader)
        .and_then(|n| n.replication_queue().cloned())
        .expect("leader has a queue");
    cluster.run_for(Duration::from_secs(1));
    let queue_now =
        cluster.node(leader).and_then(|n| n.replication_queue().cloned()).expect("queue");
    assert_eq!(queue_now.total, 4, "{queue:?}");
    assert!(queue_now.entries.iter().all(|e| e.state == TaskState::Pending && e.target.is_none()));
    cluster.restart(n3);
    let back = cluster.now();
    let caught_up =
        cluster.run_until(Duration::from_secs(5), |c| fully_replicated(c, &data, 3, &ids(3)));
    assert!(caught_up);
    let took = cluster.now().saturating_duration_since(back);
    assert!(took < Duration::from_secs(2), "caught up {took:?} after returning");
    let empty = |c: &Cluster| {
        c.node(leader).and_then(|n| n.replication_queue()).is_some_and(|q| q.total == 0)
    };
    assert!(cluster.run_until(Duration::from_secs(2), empty), "the next pass finds nothing to do");
    let queue = cluster.node(leader).and_then(|n| n.replication_queue().cloned()).expect("queue");
    assert_eq!(queue.done.len(), 4);
    assert!(queue.done.iter().all(|d| d.target == n3 && d.attempts == 1));
}

#[test]
fn the_queue_survives_a_leader_change() {
    // Slow copies (2 MiB/s), so the queue is still long when the leader dies.
    let mut cluster = cluster_with(15, 5, |c| {
        c.repair.rebalance_tolerance_pct = 0;
        c.repair.bytes_per_sec = 2 * u64::from(MIB);
    });
    let leader = elect(&mut cluster);
    let holders: Vec<NodeId> = ids(5).into_iter().filter(|&n| n != leader).take(3).collect();
    let data = chunks("q", 20, MIB);
    write(&mut cluster, "/q", &data, &holders);
    let lost = holders[2];
    cluster.crash(lost);
    let copying = cluster.run_until(Duration::from_secs(40), |c| {
        c.node(leader).and_then(|n| n.replication_queue()).is_some_and(|q| q.done_total > 0)
    });
    assert!(copying, "re-replication started after reassign_after");
    let before = cluster.node(leader).and_then(|n| n.replication_queue().cloned()).expect("queue");
    assert!(before.total > 5, "{before:?}");
    cluster.crash(leader);
    let next = elect(&mut cluster);
    let rebuilt = cluster.run_until(Duration::from_secs(1), |c| {
        c.node(next).and_then(|n| n.replication_queue()).is_some_and(|q| q.total > 0)
    });
    assert!(rebuilt, "the new leader derived the same queue from committed state");
    let alive: Vec<NodeId> = ids(5).into_iter().filter(|&n| n != leader && n != lost).collect();
    // The old leader's silence also has to pass reassign_after before its copies stop counting.
    let healed =
        cluster.run_until(Duration::from_secs(60), |c| fully_replicated(c, &data, 3, &alive));
    assert!(healed, "the new leader finished the queue");
}

#[test]
fn failed_copies_back_off_exponentially() {
    let config = RepairConfig::default();
    assert_eq!(backoff(&config, 1), Duration::from_secs(1));
    assert_eq!(backoff(&config, 2), Duration::from_secs(2));
    assert_eq!(backoff(&config, 5), Duration::from_secs(16));
    assert_eq!(backoff(&config, 30), Duration::from_secs(60));
    // In the cluster: a source whose copy is corrupt fails the copy, and the entry shows it.
    let mut cluster = cluster_with(16, 3, |c| c.repair.scrub_bytes_per_sec = 0);
    elect(&mut cluster);
    cluster.crash(NodeId(3));
    let data = chunks("f", 1, MIB);
    write(&mut cluster, "/f", &data, &[NodeId(1), NodeId(2)]);
    cluster.store_mut(NodeId(1)).corrupt(data[0].0);
    cluster.store_mut(NodeId(2)).corrupt(data[0].0);
    cluster.restart(NodeId(3));
    let leader = cluster.leader().expect("leader");
    let failed = cluster.run_until(Duration::from_secs(5), |c| {
        c.node(leader).and_then(|n| n.replication_queue()).is_some_and(|q| {
            q.entries.iter().any(|e| {
                e.attempts >= 2 && e.last_error.as_deref().is_some_and(|m| m.contains("corrupt"))
            })
        })
    });
    assert!(failed, "the entry records attempts and the last error");
    let queue = cluster.node(leader).and_then(|n| n.replication_queue()).cloned().expect("queue");
    assert!(queue.failed_recent >= 2 && queue.failed_total >= queue.failed_recent, "{queue:?}");
    // With the target down again nothing is attempted; past the window the recent failures are
    // forgotten while the counter keeps them.
    cluster.crash(NodeId(3));
    let quiet = cluster.run_until(crate::repair::FAILURES_RECENT + Duration::from_secs(60), |c| {
        c.node(leader).and_then(|n| n.replication_queue()).is_some_and(|q| q.failed_recent == 0)
    });
    let after = cluster.node(leader).and_then(|n| n.replication_queue()).cloned().expect("queue");
    assert!(quiet, "old failures age out of failed_recent: {after:?}");
    assert!(after.failed_total >= queue.failed_total, "the counter never goes down");
}

#[test]
fn scrub_replaces_a_corrupt_copy_from_a_good_one() {
    let mut cluster = cluster_with(17, 3, |c| c.repair.scrub_rest = Duration::from_secs(5));
    elect(&mut cluster);
    let data = chunks("s", 3, MIB);
    write(&mut cluster, "/s", &data, &ids(3));
    let n2 = NodeId(2);
    cluster.store_mut(n2).corrupt(data[1].0);
    // The first pass already went by before the corruption; the next starts after the rest.
    let repaired = cluster.run_until(Duration::from_secs(10), |c| {
        c.store(n2).is_some_and(|s| s.has_intact(data[1].0))
            && fully_replicated(c, &data, 3, &ids(3))
    });
    assert!(repaired, "scrub found the corrupt copy and it was replaced");
    let progress = cluster.node(n2).expect("n2").scrub_progress();
    assert_eq!(progress.corrupt_found, 1, "{progress:?}");
    assert!(progress.passes >= 1, "a whole pass went by before the corruption: {progress:?}");
    assert!(progress.bytes_verified >= 3 * u64::from(MIB), "{progress:?}");
}

#[test]
fn scrub_walks_past_a_long_run_of_other_nodes_chunks_without_resting() {
    use std::collections::{BTreeMap, BTreeSet};

    use crate::command::{ChunkRef, Content, Precondition};
    use crate::ids::{LogIndex, UnixMillis, UserName};
    use crate::meta::Namespace;
    use crate::path::Path;
    use crate::time::Instant;

    // Node 4 holds one chunk, which sorts after 12,000 chunks it does not hold.
    let mut ns = Namespace::bootstrap(&ids(4));
    let mut all: Vec<(ChunkId, u32)> = chunks("o", 12_001, 1);
    all.sort();
    let (mine, _) = *all.last().expect("chunks");
    let on = |chunk: ChunkId| -> BTreeSet<NodeId> {
        if chunk == mine {
            [2, 3, 4].map(NodeId).into()
        } else {
            ids(3).into_iter().collect()
        }
    };
    let refs: Vec<ChunkRef> =
        all.iter().map(|&(id, len_bytes)| ChunkRef { id, len_bytes }).collect();
    let replicas: BTreeMap<ChunkId, BTreeSet<NodeId>> =
        all.iter().map(|&(c, _)| (c, on(c))).collect();
    let put = Command::PutVersion {
        path: Path::parse("/all").expect("path"),
        precondition: Precondition::None,
        content: Content { chunks: refs, size_bytes: 12_001, hash: Hash::of(b"all") },
        author: UserName("a".into()),
        created_at: UnixMillis(1),
        replicas,
        idempotency_key: None,
    };
    ns.apply(LogIndex(2), &put).expect("put");
    let config = RepairConfig { scrub_rest: Duration::from_secs(3600), ..RepairConfig::default() };
    let now = Instant::ZERO;
    let mut scrub = super::Scrub::new(NodeId(4), &config, now);
    let mut next_job = 1;
    let found = (0..3).find_map(|_| scrub.step(now, &ns, &mut next_job));
    assert_eq!(
        found.map(|(_, chunk)| chunk),
        Some(mine),
        "the copy past the first 10,000 index entries is reached without resting an hour"
    );
}

#[test]
fn a_read_that_finds_a_bad_copy_gets_it_repaired() {
    let mut cluster = cluster_with(18, 3, |c| c.repair.scrub_bytes_per_sec = 0);
    elect(&mut cluster);
    let data = chunks("r", 2, MIB);
    write(&mut cluster, "/r", &data, &ids(3));
    let n1 = NodeId(1);
    cluster.store_mut(n1).remove(data[0].0);
    cluster.run_for(Duration::from_secs(3));
    assert!(
        !cluster.store(n1).is_some_and(|s| s.has_intact(data[0].0)),
        "scrub is off: nothing notices"
    );
    cluster.input(n1, Input::ChunkDamaged { chunk: data[0].0 });
    let repaired = cluster.run_until(Duration::from_secs(5), |c| {
        c.store(n1).is_some_and(|s| s.has_intact(data[0].0))
            || fully_replicated(c, &data, 3, &ids(3))
    });
    assert!(repaired);
    assert!(cluster.run_until(Duration::from_secs(5), |c| fully_replicated(c, &data, 3, &ids(3))));
}

#[test]
fn recovery_sync_pulls_what_is_missing_and_reports_it() {
    let mut cluster = Cluster::new(19, 3);
    elect(&mut cluster);
    let data = chunks("m", 5, MIB);
    write(&mut cluster, "/m", &data, &ids(3));
    let n2 = NodeId(2);
    cluster.store_mut(n2).remove(data[0].0);
    cluster.store_mut(n2).remove(data[3].0);
    let request = cluster.recover(n2);
    assert!(cluster.run_until(Duration::from_secs(5), |c| c.recovered(n2, request).is_some()));
    let summary = *cluster.recovered(n2, request).expect("just checked");
    assert_eq!((summary.inventory, summary.expected, summary.missing), (3, 5, 2));
    assert_eq!(
        (summary.pulled, summary.pull_failed, summary.bytes_pulled),
        (2, 0, 2 * u64::from(MIB))
    );
    assert!(data.iter().all(|(c, _)| cluster.store(n2).is_some_and(|s| s.has_intact(*c))));
}

#[test]
fn recovery_sync_claims_a_useful_copy_the_index_forgot() {
    let mut cluster = cluster_with(20, 3, |c| c.repair.rebalance_tolerance_pct = 0);
    elect(&mut cluster);
    let n3 = NodeId(3);
    cluster.crash(n3);
    let data = chunks("c", 1, MIB);
    write(&mut cluster, "/c", &data, &[NodeId(1), NodeId(2)]);
    // n3 is down, so nothing can be copied; it has the bytes, though (say, the write reached
    // its disk but its answer to the coordinator was lost), yet is not listed.
    let now = cluster.now();
    cluster.store_mut(n3).store(data[0].0, MIB, now);
    cluster.restart(n3);
    let request = cluster.recover(n3);
    assert!(cluster.run_until(Duration::from_secs(5), |c| c.recovered(n3, request).is_some()));
    let summary = *cluster.recovered(n3, request).expect("just checked");
    let leader = cluster.leader().expect("leader");
    let copied =
        cluster.node(leader).and_then(|n| n.replication_queue()).map_or(0, |q| q.done_total);
    // The copy is recorded by a claim (this sync's, or the automatic one after the restart),
    // never by copying the bytes again.
    assert_eq!(
        (summary.claimed + summary.expected, summary.pulled, copied),
        (1, 0, 0),
        "{summary:?}"
    );
    assert!(cluster.run_until(Duration::from_secs(3), |c| fully_replicated(c, &data, 3, &ids(3))));
}

#[test]
fn drain_moves_everything_off_and_removal_waits_for_it() {
    let mut cluster = Cluster::new(21, 4);
    elect(&mut cluster);
    let data = chunks("d", 6, MIB);
    write(&mut cluster, "/d", &data, &ids(3));
    let n3 = NodeId(3);
    let refused = commit(&mut cluster, Command::RemoveNode { node: n3 });
    // Each chunk has two other copies, just not the three wanted: the message says so.
    let expected = CommandError::NotDrained { node: n3, chunks: 6, sole: 0, replication_factor: 3 };
    assert_eq!(refused.as_ref().err(), Some(&expected), "{refused:?}");
    let message = expected.to_string();
    assert!(!message.contains("only"), "{message}");
    assert!(message.contains("6 chunk(s) with fewer than 3 copies"), "{message}");
    let drained =
        commit(&mut cluster, Command::SetNodeState { node: n3, state: DeclaredState::Draining });
    assert!(drained.is_ok());
    let rest = [NodeId(1), NodeId(2), NodeId(4)];
    let moved = cluster.run_until(Duration::from_secs(10), |c| {
        fully_replicated(c, &data, 3, &rest)
            && c.store(n3).is_some_and(|s| s.ids().next().is_none())
    });
    assert!(moved, "every chunk moved off the draining node, which dropped its copies");
    let removed = commit(&mut cluster, Command::RemoveNode { node: n3 });
    assert!(removed.is_ok(), "{removed:?}");
    // The removed node knows it, says so, and refuses client commands at once.
    let knows =
        cluster.run_until(Duration::from_secs(2), |c| c.node(n3).is_some_and(|n| n.is_removed()));
    assert!(knows, "the removed node learns it was removed");
    let reason = cluster.node(n3).and_then(|n| n.not_ready()).unwrap_or_default();
    assert!(reason.contains("removed"), "{reason}");
    assert!(!cluster.node(NodeId(1)).is_some_and(|n| n.is_removed()), "the others are members");
    let asked = cluster.now();
    let request = cluster.submit(n3, Command::Barrier);
    let refused = answered(&mut cluster, n3, request);
    assert_eq!(refused, Err(CommandError::Removed { node: n3 }));
    assert_eq!(cluster.now(), asked, "refused at once, not after a commit timeout");
}

#[test]
fn rebalance_fills_a_node_that_joined() {
    let mut cluster = Cluster::new(22, 3);
    let leader = elect(&mut cluster);
    let data = chunks("e", 40, MIB);
    write(&mut cluster, "/e", &data, &ids(3));
    let n4 = NodeId(4);
    cluster.add_host(Config::new(n4, vec![]));
    let added = commit(&mut cluster, Command::AddNode { node: n4, role: MemberRole::Voter });
    assert!(added.is_ok(), "{added:?}");
    let _ = leader;
    // 40 chunks x 3 copies over 4 nodes is 30 each; within the 10 % tolerance of the mean.
    let even = cluster.run_until(Duration::from_secs(60), |c| {
        let counts: Vec<usize> =
            ids(4).iter().map(|&n| c.store(n).map_or(0, |s| s.ids().count())).collect();
        counts.iter().all(|&k| (27..=33).contains(&k))
    });
    let counts: Vec<usize> =
        ids(4).iter().map(|&n| cluster.store(n).map_or(0, |s| s.ids().count())).collect();
    let q =
        cluster.leader().and_then(|l| cluster.node(l)).and_then(|n| n.replication_queue().cloned());
    let view = cluster.leader().and_then(|l| cluster.node(l)).map(|n| n.cluster_view().clone());
    let own = cluster.node(n4).map(|n| (n.usage, n.status().leader));
    assert!(even, "usage evened out: {counts:?} {q:?} {view:?} n4 own {own:?}");
    assert!(
        fully_replicated(&cluster, &data, 3, &ids(4)),
        "moves never dropped a chunk below 3 copies"
    );
}

/// The decisions of one re-replication, as a readable trace: n3 falls silent, is judged suspect,
/// down and lost; its two chunks are copied to n4 and it leaves the index.
#[test]
fn re_replication_decision_trace() {
    let configs = ids(4)
        .into_iter()
        .map(|id| {
            let mut config = Config::new(id, ids(4));
            config.repair.rebalance_tolerance_pct = 0;
            config
        })
        .collect();
    let mut cluster = Cluster::with_configs(23, configs, true);
    elect(&mut cluster);
    let data = chunks("t", 2, MIB);
    write(&mut cluster, "/t", &data, &ids(3));
    cluster.crash(NodeId(3));
    let rest = [NodeId(1), NodeId(2), NodeId(4)];
    assert!(cluster.run_until(Duration::from_secs(40), |c| fully_replicated(c, &data, 3, &rest)));
    cluster.run_for(Duration::from_millis(100));
    let leader = cluster.leader().expect("leader");
    let decisions: Vec<&String> = cluster
        .trace()
        .lines()
        .iter()
        .filter(|line| {
            let on_leader = line.contains(&format!(" {leader} "));
            let decision = ["CopyChunk", "ChunkStored", "applied i", "crashed"];
            let noise = ["mkdir", "write /", "ChunkVerified"];
            (on_leader || line.contains("crashed"))
                && decision.iter().any(|k| line.contains(k))
                && !noise.iter().any(|k| line.contains(k))
        })
        .collect();
    let text = decisions.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!("re_replication_decisions", text);
}
