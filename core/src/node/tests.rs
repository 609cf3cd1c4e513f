//! Node tests on the in-memory cluster (issue: foundation, point 7 a–d) and single-node units.

use std::time::Duration;

use crate::command::{ChunkRef, Command, Content, MemberRole, Precondition, Reply};
use crate::config::Config;
use crate::error::CommandError;
use crate::ids::{ChunkId, Hash, LogIndex, NodeId, RequestId, UnixMillis, UserName, Version};
use crate::input::Input;
use crate::output::{Output, Role};
use crate::path::Path;
use crate::testing::Cluster;
use crate::time::Instant;

use super::{Node, Recovered};

const N1: NodeId = NodeId(1);

pub(super) fn put(path: &str, body: &[u8]) -> Command {
    let hash = Hash::of(body);
    let chunks = if body.is_empty() {
        vec![]
    } else {
        vec![ChunkRef { id: ChunkId(hash), len_bytes: body.len() as u32 }]
    };
    Command::PutVersion {
        path: Path::parse(path).expect("test paths are valid"),
        precondition: Precondition::None,
        content: Content { chunks, size_bytes: body.len() as u64, hash },
        author: UserName("alice".into()),
        created_at: UnixMillis(1_700_000_000_000),
        replicas: Default::default(),
        idempotency_key: None,
    }
}

/// Runs until one node leads and every up node knows it (followers learn on its first append).
pub(super) fn elect(cluster: &mut Cluster) -> NodeId {
    let known = |c: &Cluster| {
        c.leader().is_some_and(|l| {
            c.ids().iter().filter_map(|&id| c.node(id)).all(|n| n.status().leader == Some(l))
        })
    };
    assert!(cluster.run_until(Duration::from_secs(5), known), "a leader known to all within 5 s");
    cluster.leader().expect("just checked")
}

/// Submits `command` to `node` and runs until it is answered.
fn commit(cluster: &mut Cluster, node: NodeId, command: Command) -> Result<Reply, CommandError> {
    let request = cluster.submit(node, command);
    assert!(
        cluster.run_until(Duration::from_secs(10), |c| c.reply(node, request).is_some()),
        "no reply to {request} within 10 s"
    );
    cluster.reply(node, request).cloned().expect("just checked")
}

fn digests(cluster: &Cluster) -> Vec<(NodeId, LogIndex, Hash)> {
    cluster
        .ids()
        .into_iter()
        .filter_map(|id| cluster.node(id))
        .map(|n| (n.status().id, n.status().applied, n.status().namespace.digest()))
        .collect()
}

fn assert_converged(cluster: &mut Cluster) {
    let settled = cluster.run_until(Duration::from_secs(10), |c| {
        let all = digests(c);
        all.windows(2).all(|w| w[0].1 == w[1].1 && w[0].2 == w[1].2)
    });
    assert!(settled, "replicas did not converge: {:?}", digests(cluster));
    cluster.check_invariants().expect("safety held");
}

#[test]
fn three_nodes_elect_one_leader_and_commit_a_thousand_commands() {
    let mut cluster = Cluster::new(1, 3);
    let leader = elect(&mut cluster);
    let leaders: Vec<_> = cluster
        .ids()
        .into_iter()
        .filter(|&id| cluster.node(id).is_some_and(|n| n.status().role == Role::Leader))
        .collect();
    assert_eq!(leaders, vec![leader], "exactly one leader");
    // 1,000 commands, 50 in flight at a time, sent to every node (followers forward).
    let mut sent = Vec::new();
    for batch in 0..20 {
        let mut requests = Vec::new();
        for i in 0..50 {
            let n = batch * 50 + i;
            let node = NodeId(n % 3 + 1);
            requests.push((
                node,
                cluster.submit(node, put(&format!("/d{}/f{n}", n % 7), &n.to_be_bytes())),
            ));
        }
        let all = cluster.run_until(Duration::from_secs(10), |c| {
            requests.iter().all(|&(n, r)| c.reply(n, r).is_some())
        });
        assert!(all, "batch {batch} answered");
        sent.extend(requests);
    }
    for (node, request) in &sent {
        let reply = cluster.reply(*node, *request).expect("answered");
        assert!(matches!(reply, Ok(Reply::Applied { .. })), "{node} {request}: {reply:?}");
    }
    assert_converged(&mut cluster);
    for id in cluster.ids() {
        let namespace = cluster.node(id).expect("up").status().namespace;
        assert_eq!(namespace.file_count(), 1000, "{id} holds every file");
        let latest = namespace.latest(&Path::parse("/d3/f500").expect("valid")).expect("written");
        assert_eq!(latest.version, Version(1));
    }
    assert_eq!(cluster.checker().leaders().len(), 1, "no re-election on a quiet network");
}

#[test]
fn isolated_leader_is_replaced_and_steps_down_on_reconnect() {
    let mut cluster = Cluster::new(2, 3);
    let old = elect(&mut cluster);
    for i in 0..10 {
        commit(&mut cluster, old, put(&format!("/before{i}"), b"x")).expect("committed");
    }
    let old_term = cluster.node(old).expect("up").status().term;
    cluster.isolate(old);
    // A write to the isolated leader cannot commit: it times out rather than lying.
    let stranded = cluster.submit(old, put("/stranded", b"lost"));
    let replaced =
        cluster.run_until(Duration::from_secs(5), |c| c.leader().is_some_and(|l| l != old));
    assert!(replaced, "a new leader among the majority");
    let new = cluster.leader().expect("just checked");
    assert!(cluster.node(new).expect("up").status().term > old_term);
    commit(&mut cluster, new, put("/after", b"y")).expect("majority commits");
    // check_quorum: the isolated leader steps down on its own.
    let stepped = cluster.run_until(Duration::from_secs(5), |c| {
        c.node(old).is_some_and(|n| n.status().role != Role::Leader)
    });
    assert!(stepped, "the isolated leader steps down");
    cluster.heal();
    let caught_up = cluster.run_until(Duration::from_secs(5), |c| {
        c.node(old).is_some_and(|n| {
            n.status().leader == Some(new)
                && n.status().namespace.entry(&Path::parse("/after").expect("valid")).is_some()
        })
    });
    assert!(caught_up, "the old leader follows the new one and catches up");
    assert!(cluster.run_until(Duration::from_secs(10), |c| c.reply(old, stranded).is_some()));
    assert_eq!(cluster.reply(old, stranded), Some(&Err(CommandError::Timeout)));
    assert_converged(&mut cluster);
    let namespace = cluster.node(new).expect("up").status().namespace;
    assert!(
        namespace.entry(&Path::parse("/stranded").expect("valid")).is_none(),
        "uncommitted write is gone"
    );
    assert!(
        namespace.entry(&Path::parse("/before9").expect("valid")).is_some(),
        "committed write stays"
    );
}

fn small_log_cluster(seed: u64) -> Cluster {
    let voters: Vec<NodeId> = (1..=3).map(NodeId).collect();
    let configs = voters
        .iter()
        .map(|&id| Config { log_entries_max: 20, ..Config::new(id, voters.clone()) })
        .collect();
    Cluster::with_configs(seed, configs, false)
}

#[test]
fn restarted_follower_recovers_from_its_log_and_snapshot() {
    let mut cluster = small_log_cluster(3);
    let leader = elect(&mut cluster);
    for i in 0..50 {
        commit(&mut cluster, leader, put(&format!("/a{i}"), b"1")).expect("committed");
    }
    let follower = cluster.ids().into_iter().find(|&id| id != leader).expect("two followers");
    let disk = cluster.disk(follower).expect("host").recovered();
    assert!(
        disk.snapshot.as_ref().is_some_and(|s| s.get_metadata().index > 1),
        "the follower compacted its log"
    );
    assert!(disk.entries.len() <= 40, "the stored log is bounded: {}", disk.entries.len());
    cluster.crash(follower);
    for i in 0..50 {
        commit(&mut cluster, leader, put(&format!("/b{i}"), b"2")).expect("committed while down");
    }
    cluster.restart(follower);
    let restored_at = cluster.node(follower).expect("up").status().applied;
    assert!(restored_at.0 > 1, "restarted from its own snapshot, not from scratch");
    assert_converged(&mut cluster);
    assert_eq!(cluster.node(follower).expect("up").status().namespace.file_count(), 100);
}

#[test]
fn whole_cluster_restart_keeps_every_acknowledged_write() {
    let mut cluster = small_log_cluster(4);
    let leader = elect(&mut cluster);
    for i in 0..30 {
        commit(&mut cluster, leader, put(&format!("/k{i}"), &[i as u8])).expect("committed");
    }
    for id in cluster.ids() {
        cluster.crash(id);
    }
    for id in cluster.ids() {
        cluster.restart(id);
    }
    let leader = elect(&mut cluster);
    commit(&mut cluster, leader, put("/after-restart", b"z")).expect("writes resume");
    assert_converged(&mut cluster);
    for id in cluster.ids() {
        assert_eq!(cluster.node(id).expect("up").status().namespace.file_count(), 31, "{id}");
    }
}

#[test]
fn a_node_joining_with_an_empty_log_gets_a_snapshot_that_names_it() {
    // Nothing compacted yet: the only snapshot is the bootstrap one, whose membership lacks
    // the joiner, which raft refuses to restore; the leader must take a fresh one.
    let mut cluster = Cluster::new(11, 3);
    let leader = elect(&mut cluster);
    for i in 0..3 {
        commit(&mut cluster, leader, put(&format!("/j{i}"), b"j")).expect("committed");
    }
    let n4 = NodeId(4);
    cluster.add_host(Config::new(n4, vec![]));
    let added =
        commit(&mut cluster, leader, Command::AddNode { node: n4, role: MemberRole::Learner });
    assert!(matches!(added, Ok(Reply::Applied { .. })), "{added:?}");
    let caught_up = cluster.run_until(Duration::from_secs(10), |c| {
        c.node(n4).is_some_and(|n| n.status().namespace.file_count() == 3)
    });
    assert!(caught_up, "the joiner installed a snapshot holding the files");
    let status = cluster.node(n4).expect("up").status();
    assert_eq!(status.learners, vec![n4]);
}

#[test]
fn a_node_added_later_gets_the_snapshot_and_the_same_state() {
    let mut cluster = small_log_cluster(5);
    let leader = elect(&mut cluster);
    for i in 0..40 {
        commit(&mut cluster, leader, put(&format!("/s{i}"), b"s")).expect("committed");
    }
    let n4 = NodeId(4);
    cluster.add_host(Config { log_entries_max: 20, ..Config::new(n4, vec![]) });
    let added =
        commit(&mut cluster, leader, Command::AddNode { node: n4, role: MemberRole::Learner });
    assert!(matches!(added, Ok(Reply::Applied { .. })), "{added:?}");
    let promoted =
        commit(&mut cluster, leader, Command::AddNode { node: n4, role: MemberRole::Voter });
    assert!(matches!(promoted, Ok(Reply::Applied { .. })), "{promoted:?}");
    assert_converged(&mut cluster);
    let status = cluster.node(n4).expect("up").status();
    assert_eq!(status.voters, vec![NodeId(1), NodeId(2), NodeId(3), n4]);
    assert_eq!(status.namespace.file_count(), 40);
    assert!(status.namespace.members().contains_key(&n4));
    // Removing a voter commits too (the leader itself included: it hands over first and points
    // the client at its successor), and the cluster keeps working without it.
    let mut target = leader;
    let removed = loop {
        match commit(&mut cluster, target, Command::RemoveNode { node: leader }) {
            Err(CommandError::NotLeader { leader_hint: Some(next) }) => {
                cluster.run_until(Duration::from_secs(2), |c| c.leader() == Some(next));
                target = next;
            }
            other => break other,
        }
    };
    assert!(matches!(removed, Ok(Reply::Applied { .. })), "{removed:?}");
    assert_ne!(target, leader, "leadership moved before the removal");
    let mut expected: Vec<NodeId> =
        [NodeId(1), NodeId(2), NodeId(3), n4].into_iter().filter(|&id| id != leader).collect();
    expected.sort();
    let remaining = expected.clone();
    let applied = cluster.run_until(Duration::from_secs(5), |c| {
        remaining.iter().all(|&id| c.node(id).is_some_and(|n| n.status().voters == expected))
    });
    assert!(applied, "every remaining member applied the removal");
    cluster.crash(leader); // the removed node is shut down, as an operator would
    let leader = elect(&mut cluster);
    commit(&mut cluster, leader, put("/after-removal", b"r"))
        .expect("the cluster keeps committing");
}

#[test]
fn membership_commands_are_checked_before_proposing() {
    let mut cluster = Cluster::new(6, 3);
    let leader = elect(&mut cluster);
    let follower = cluster.ids().into_iter().find(|&id| id != leader).expect("a follower");
    assert_eq!(
        commit(
            &mut cluster,
            follower,
            Command::AddNode { node: NodeId(9), role: MemberRole::Voter }
        ),
        Err(CommandError::NotLeader { leader_hint: Some(leader) })
    );
    assert_eq!(
        commit(&mut cluster, leader, Command::AddNode { node: NodeId(2), role: MemberRole::Voter }),
        Err(CommandError::AlreadyMember { node: NodeId(2) })
    );
    assert_eq!(
        commit(&mut cluster, leader, Command::RemoveNode { node: NodeId(8) }),
        Err(CommandError::UnknownNode { node: NodeId(8) })
    );
}

#[test]
fn same_seed_same_trace_and_different_seed_different_trace() {
    let run = |seed: u64| {
        let mut cluster = Cluster::new(seed, 3);
        cluster.net.options.drop_per_mille = 50;
        cluster.net.options.duplicate_per_mille = 50;
        let leader = elect(&mut cluster);
        for i in 0..20 {
            cluster.submit(NodeId(i % 3 + 1), put(&format!("/r{i}"), b"r"));
        }
        cluster.isolate(leader);
        cluster.run_for(Duration::from_secs(2));
        cluster.heal();
        cluster.run_for(Duration::from_secs(2));
        cluster.check_invariants().expect("safety held");
        (cluster.trace().hash(), cluster.trace().line_count())
    };
    let first = run(11);
    assert!(first.1 > 100, "the run did something");
    assert_eq!(first, run(11), "same seed, same trace");
    assert_ne!(first.0, run(12).0, "another seed takes another path");
}

#[test]
fn election_and_first_commit_trace() {
    let voters: Vec<NodeId> = (1..=3).map(NodeId).collect();
    let configs = voters.iter().map(|&id| Config::new(id, voters.clone())).collect();
    let mut cluster = Cluster::with_configs(42, configs, true);
    let leader = elect(&mut cluster);
    let reply = commit(&mut cluster, leader, put("/hello.txt", b"hello, dfs"));
    assert!(matches!(reply, Ok(Reply::Applied { .. })));
    cluster.run_for(Duration::from_millis(20));
    cluster.check_invariants().expect("safety held");
    let mut text = cluster.trace().lines().join("\n");
    text.push('\n');
    text.push_str(&cluster.state_table());
    insta::assert_snapshot!("election_and_first_commit", text);
}

#[test]
fn election_timeouts_come_from_the_seed() {
    let config = |id| Config::new(NodeId(id), vec![NodeId(1), NodeId(2), NodeId(3)]);
    let timeout = |id, seed| {
        Node::new(config(id), Recovered::default(), seed, Instant::ZERO)
            .expect("valid")
            .election_timeout_ticks()
    };
    let draws: Vec<usize> = (0..20).map(|seed| timeout(1, seed)).collect();
    assert_eq!(draws, (0..20).map(|seed| timeout(1, seed)).collect::<Vec<_>>(), "replayable");
    assert!(draws.iter().all(|t| (15..30).contains(t)), "within [min, max)");
    assert!(draws.iter().any(|&t| t != draws[0]), "seeds spread the timeouts");
}

fn lone_node() -> Node {
    let mut node = Node::new(
        Config::new(N1, vec![N1, NodeId(2), NodeId(3)]),
        Recovered::default(),
        1,
        Instant::ZERO,
    )
    .expect("valid config");
    while node.poll_output().is_some() {}
    node
}

#[test]
fn founding_voter_persists_the_bootstrap_snapshot_first() {
    let mut node =
        Node::new(Config::new(N1, vec![N1, NodeId(2)]), Recovered::default(), 1, Instant::ZERO)
            .expect("valid");
    match node.poll_output() {
        Some(Output::Persist { ready, write }) => {
            assert_eq!(ready.0, 0);
            let snapshot = write.snapshot.expect("bootstrap snapshot");
            assert_eq!(snapshot.get_metadata().index, 1);
            assert_eq!(snapshot.get_metadata().get_conf_state().voters, vec![1, 2]);
        }
        other => panic!("expected the bootstrap persist first, got {other:?}"),
    }
    let joiner =
        Node::new(Config::new(NodeId(5), vec![N1]), Recovered::default(), 1, Instant::ZERO)
            .expect("valid");
    assert_eq!(joiner.status().voters, Vec::<NodeId>::new(), "a joining node waits to be added");
}

#[test]
fn a_node_without_a_leader_refuses_commands_clearly() {
    let mut node = lone_node();
    node.handle(Instant::ZERO, Input::Client { request: RequestId(1), command: put("/x", b"x") });
    assert_eq!(
        node.poll_output(),
        Some(Output::Reply { request: RequestId(1), result: Err(CommandError::NoLeader) })
    );
    assert_eq!(node.status().pending_requests, 0, "nothing left waiting");
}

#[test]
fn pending_commands_are_bounded_and_time_out() {
    let mut cluster = Cluster::new(7, 3);
    let leader = elect(&mut cluster);
    // Cut the leader off so nothing commits; its table fills, then refuses.
    cluster.isolate(leader);
    let max = cluster.node(leader).expect("up").config().proposals_pending_max;
    let mut first = None;
    for i in 0..=max {
        let request = cluster.submit(leader, put(&format!("/p{i}"), b"p"));
        first.get_or_insert(request);
    }
    let last = RequestId(first.expect("sent").0 + max as u64);
    assert_eq!(cluster.reply(leader, last), Some(&Err(CommandError::Overloaded { max })));
    assert_eq!(cluster.node(leader).expect("up").status().pending_requests, max);
    cluster.run_for(Duration::from_secs(6));
    assert_eq!(cluster.reply(leader, first.expect("sent")), Some(&Err(CommandError::Timeout)));
    assert_eq!(cluster.node(leader).expect("up").status().pending_requests, 0);
}

#[test]
fn misaddressed_peer_messages_change_nothing() {
    let mut node = lone_node();
    let mut message = raft::eraftpb::Message::default();
    message.set_msg_type(raft::eraftpb::MessageType::MsgHeartbeat);
    message.from = 3; // claims to be n3 ...
    message.to = 1;
    message.term = 99;
    // ... but arrives from n2.
    let input = Input::Peer {
        from: NodeId(2),
        message: crate::wire::Message::Raft(crate::wire::RaftMessage(message)),
    };
    node.handle(Instant::ZERO, input);
    assert_eq!(node.status().term.0, 1, "term unchanged");
    assert_eq!(node.poll_output(), None);
}

#[test]
#[should_panic(expected = "time went backwards")]
fn time_never_goes_backwards() {
    let mut node = lone_node();
    node.handle(Instant::from_micros(10), Input::Timeout);
    node.handle(Instant::from_micros(5), Input::Timeout);
}

#[test]
fn recovered_state_that_does_not_fit_is_refused() {
    let config = Config::new(N1, vec![N1]);
    let entry = raft::eraftpb::Entry { index: 5, term: 1, ..Default::default() };
    let gap = Recovered { entries: vec![entry], ..Recovered::default() };
    assert!(matches!(
        Node::new(config.clone(), gap, 1, Instant::ZERO),
        Err(crate::error::ConfigError::Recovered(_))
    ));
    let hard_state = raft::eraftpb::HardState { commit: 3, term: 1, ..Default::default() };
    let beyond = Recovered { hard_state, ..Recovered::default() };
    assert!(matches!(
        Node::new(config, beyond, 1, Instant::ZERO),
        Err(crate::error::ConfigError::Recovered(_))
    ));
}

#[test]
fn fuzz_schedules_on_seeded_input_keep_safety() {
    use rand::{Rng, SeedableRng};
    for seed in 0..24u64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let bytes: Vec<u8> = (0..4096).map(|_| rng.gen()).collect();
        let mut input = arbitrary::Unstructured::new(&bytes);
        let steps: Vec<crate::testing::fuzz::Step> =
            arbitrary::Arbitrary::arbitrary(&mut input).unwrap_or_default();
        crate::testing::fuzz::node_inputs(&steps);
    }
}

#[test]
fn a_request_forwarded_to_a_vanished_leader_is_answered_after_the_election() {
    let mut cluster = Cluster::new(8, 3);
    let leader = elect(&mut cluster);
    let follower = cluster.ids().into_iter().find(|&id| id != leader).expect("a follower");
    cluster.isolate(leader);
    // The follower still believes in the old leader and forwards the proposal into the void.
    let request = cluster.submit(follower, put("/lost-in-forwarding", b"x"));
    let started = cluster.now();
    let answered =
        cluster.run_until(Duration::from_secs(10), |c| c.reply(follower, request).is_some());
    assert!(answered);
    assert_eq!(
        cluster.reply(follower, request),
        Some(&Err(CommandError::Timeout)),
        "outcome unknown"
    );
    let waited = cluster.now().saturating_duration_since(started);
    assert!(waited < Duration::from_secs(2), "answered at the new term, not after 5 s: {waited:?}");
    let replaced =
        cluster.run_until(Duration::from_secs(5), |c| c.leader().is_some_and(|l| l != leader));
    assert!(replaced, "a new leader takes over");
}

#[test]
fn a_restarted_node_has_applied_its_committed_log_before_any_input() {
    let mut cluster = Cluster::new(9, 3);
    let leader = elect(&mut cluster);
    for i in 0..5 {
        commit(&mut cluster, leader, put(&format!("/r{i}"), b"1")).expect("committed");
    }
    assert_converged(&mut cluster);
    // Heartbeats carry the last commit index to the followers' stored hard state.
    cluster.run_for(Duration::from_secs(1));
    let follower = cluster.ids().into_iter().find(|&id| id != leader).expect("a follower");
    let recovered = cluster.disk(follower).expect("host").recovered();
    let committed = LogIndex(recovered.hard_state.commit);
    let voters: Vec<NodeId> = cluster.ids();
    let node = Node::new(Config::new(follower, voters), recovered, 1, cluster.now())
        .expect("restarts from its disk");
    let status = node.status();
    assert_eq!(status.applied, committed, "applied what it had committed, before any input");
    assert_eq!(status.namespace.file_count(), 5, "and serves every file it held");
}
