//! Writes through the upload machine on the in-memory cluster (issue 16 point 1): the node that
//! takes the upload places the copies, counts them against the quorum, commits, and answers with
//! the per-node report; the collector never takes a chunk of an open upload (point 2).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::command::{Change, ChunkRef, IdempotencyKey, Precondition};
use crate::config::{Config, WriteQuorum};
use crate::error::CommandError;
use crate::ids::{ChunkId, Hash, NodeId, RequestId, UnixMillis, UserName, Version};
use crate::input::Input;
use crate::path::Path;
use crate::testing::Cluster;

use super::{ReplicaOutcome, UploadStart, UploadStep, Written};

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

fn cluster(seed: u64, quorum: WriteQuorum, keep_trace: bool) -> Cluster {
    let voters = vec![N1, N2, N3];
    let configs = voters
        .iter()
        .map(|&id| {
            let mut config = Config::new(id, voters.clone());
            config.write_quorum = quorum;
            config
        })
        .collect();
    let mut cluster = Cluster::with_configs(seed, configs, keep_trace);
    let agreed = |c: &Cluster| {
        c.leader().is_some_and(|l| {
            c.ids().iter().all(|&id| c.node(id).is_some_and(|n| n.status().leader == Some(l)))
        })
    };
    assert!(cluster.run_until(Duration::from_secs(5), agreed), "a leader within 5 s");
    cluster
}

fn data(name: &str, count: u32) -> Vec<(ChunkId, u32)> {
    (0..count).map(|i| (ChunkId(Hash::of(format!("{name}/{i}").as_bytes())), 1000)).collect()
}

fn answer(cluster: &mut Cluster, via: NodeId, upload: RequestId) -> Result<Written, CommandError> {
    let done = cluster.run_until(Duration::from_secs(10), |c| c.uploaded(via, upload).is_some());
    assert!(done, "no answer to {upload}");
    cluster.uploaded(via, upload).cloned().expect("just checked")
}

fn latest(cluster: &Cluster, id: NodeId, path: &str) -> Option<Version> {
    let path = Path::parse(path).expect("valid");
    cluster.node(id)?.status().namespace.latest(&path).ok().map(|r| r.version)
}

fn all_stored() -> BTreeMap<NodeId, ReplicaOutcome> {
    [N1, N2, N3].into_iter().map(|n| (n, ReplicaOutcome::Stored)).collect()
}

#[test]
fn quorum_met_commits_and_reports_every_copy() {
    let mut cluster = cluster(1, WriteQuorum::Majority, false);
    let via = cluster.leader().expect("leader");
    let chunks = data("a", 2);
    let upload = cluster.upload(via, "/a", &chunks);
    let written = answer(&mut cluster, via, upload).expect("committed");
    assert_eq!(written.replicas, all_stored());
    let Change::FileWritten { version, size_bytes, .. } = written.change else {
        panic!("a write: {:?}", written.change);
    };
    assert_eq!((version, size_bytes), (Version(1), 2000));
    let index = cluster.node(via).expect("up").status().namespace;
    for (chunk, _) in &chunks {
        assert_eq!(index.replicas(chunk).map(|r| r.len()), Some(3), "the index lists every copy");
    }
}

#[test]
fn quorum_unreachable_refuses_the_write_and_commits_nothing() {
    let mut cluster = cluster(2, WriteQuorum::Majority, true);
    let via = cluster.leader().expect("leader");
    let chunks = data("u", 1);
    let upload = cluster.write_file(via, "/u", &chunks, &[via]);
    let refused = answer(&mut cluster, via, upload);
    let expected = CommandError::InsufficientReplicas {
        chunks: 1,
        needed: 2,
        example: chunks[0].0,
        copies: 0,
    };
    assert_eq!(refused, Err(expected));
    cluster.run_for(Duration::from_millis(200));
    for id in cluster.ids() {
        assert_eq!(latest(&cluster, id, "/u"), None, "nothing committed on {id}");
    }
    assert!(
        !cluster.trace().lines().iter().any(|l| l.contains("write /u") || l.contains("quorum met")),
        "no version was proposed"
    );
}

#[test]
fn a_copy_failing_after_the_quorum_commits_and_is_queued_for_repair() {
    let mut cluster = cluster(3, WriteQuorum::Majority, true);
    let via = cluster.leader().expect("leader");
    let other = [N1, N2, N3].into_iter().find(|&n| n != via).expect("a follower");
    let chunks = data("q", 1);
    let accepting: Vec<NodeId> = [N1, N2, N3].into_iter().filter(|&n| n != other).collect();
    let upload = cluster.write_file(via, "/q", &chunks, &accepting);
    let written = answer(&mut cluster, via, upload).expect("committed on two copies");
    let mut expected = all_stored();
    expected.insert(other, ReplicaOutcome::Failed);
    assert_eq!(written.replicas, expected);
    // The repair queue brings the missing copies.
    let repaired = |c: &Cluster| {
        chunks.iter().all(|(chunk, _)| {
            c.node(via).and_then(|n| n.status().namespace.replicas(chunk).map(|r| r.len()))
                == Some(3)
        })
    };
    assert!(cluster.run_until(Duration::from_secs(30), repaired), "repaired to three copies");
    let snapshot: Vec<&str> = cluster
        .trace()
        .lines()
        .iter()
        .filter(|l| {
            l.contains(&format!("{upload} "))
                || l.ends_with(&upload.to_string())
                || l.contains(" /q ")
        })
        .map(String::as_str)
        .collect();
    insta::assert_snapshot!("write_with_one_failed_copy", snapshot.join("\n"));
}

#[test]
fn a_leader_change_mid_upload_commits_through_the_new_leader() {
    let mut cluster = cluster(4, WriteQuorum::Majority, false);
    let old = cluster.leader().expect("leader");
    let via = [N1, N2, N3].into_iter().find(|&n| n != old).expect("a follower");
    let upload = RequestId(1_000);
    let start = UploadStart {
        path: Path::parse("/l").expect("valid"),
        precondition: Precondition::None,
        idempotency_key: None,
        author: UserName("test".into()),
    };
    cluster.upload_step(via, upload, UploadStep::Start(start));
    let chunk = ChunkRef { id: ChunkId(Hash::of(b"l/0")), len_bytes: 1000 };
    cluster.set_chunk_len(chunk.id, chunk.len_bytes);
    cluster.upload_step(via, upload, UploadStep::Chunk(chunk));
    // The leader dies before its copy lands; the rest of the body arrives during the election.
    cluster.crash(old);
    let elected = |c: &Cluster| c.leader().is_some_and(|l| l != old);
    assert!(cluster.run_until(Duration::from_secs(10), elected), "a new leader");
    let sealed = UploadStep::Sealed {
        size_bytes: 1000,
        hash: Hash::of(b"l"),
        created_at: UnixMillis(0),
        meta: None,
    };
    cluster.upload_step(via, upload, sealed);
    let written = answer(&mut cluster, via, upload).expect("committed after the election");
    let mut expected = all_stored();
    expected.insert(old, ReplicaOutcome::Failed);
    assert_eq!(written.replicas, expected);
    let new = cluster.leader().expect("leader");
    assert_eq!(latest(&cluster, new, "/l"), Some(Version(1)));
}

#[test]
fn a_retried_idempotent_upload_answers_the_first_version() {
    let mut cluster = cluster(5, WriteQuorum::Majority, false);
    let chunks = data("i", 1);
    let key = IdempotencyKey::parse("k-1").expect("valid");
    let first_via = cluster.leader().expect("leader");
    let second_via = [N1, N2, N3].into_iter().find(|&n| n != first_via).expect("another node");
    let mut written = Vec::new();
    for (via, upload) in [(first_via, RequestId(2_000)), (second_via, RequestId(2_001))] {
        let start = UploadStart {
            path: Path::parse("/i").expect("valid"),
            precondition: Precondition::Absent,
            idempotency_key: Some(key.clone()),
            author: UserName("test".into()),
        };
        cluster.upload_step(via, upload, UploadStep::Start(start));
        for &(id, len_bytes) in &chunks {
            cluster.set_chunk_len(id, len_bytes);
            cluster.upload_step(via, upload, UploadStep::Chunk(ChunkRef { id, len_bytes }));
        }
        let sealed = UploadStep::Sealed {
            size_bytes: 1000,
            hash: Hash::of(b"i"),
            created_at: UnixMillis(0),
            meta: None,
        };
        cluster.upload_step(via, upload, sealed);
        written.push(answer(&mut cluster, via, upload).expect("committed"));
    }
    assert_eq!(written[0].change, written[1].change, "the retry answers the first write");
    assert_eq!(written[1].replicas, all_stored());
    assert_eq!(latest(&cluster, first_via, "/i"), Some(Version(1)), "one version");
}

#[test]
fn the_collector_never_takes_a_chunk_of_an_open_upload() {
    let mut cluster = cluster(6, WriteQuorum::Majority, true);
    let via = cluster.leader().expect("leader");
    let upload = RequestId(3_000);
    let start = UploadStart {
        path: Path::parse("/g").expect("valid"),
        precondition: Precondition::None,
        idempotency_key: None,
        author: UserName("test".into()),
    };
    cluster.upload_step(via, upload, UploadStep::Start(start));
    let chunk = ChunkRef { id: ChunkId(Hash::of(b"g/0")), len_bytes: 1000 };
    cluster.set_chunk_len(chunk.id, chunk.len_bytes);
    cluster.upload_step(via, upload, UploadStep::Chunk(chunk));
    let orphan = ChunkId(Hash::of(b"orphan"));
    let now = cluster.now();
    cluster.store_mut(via).store(orphan, 10, now);
    // Long past the grace period, the body still streaming.
    let grace = Duration::from_secs(1);
    cluster.run_for(Duration::from_secs(3));
    let collect = |c: &mut Cluster| {
        c.input(via, Input::CollectGarbage { now: UnixMillis(1_000_000), grace });
        c.run_for(Duration::from_millis(100));
    };
    collect(&mut cluster);
    let store = cluster.store(via).expect("a store");
    assert!(store.has_intact(chunk.id), "the open upload's chunk is kept");
    assert!(!store.has_intact(orphan), "an old orphan goes");
    let deletes: Vec<&String> =
        cluster.trace().lines().iter().filter(|l| l.contains("delete ")).collect();
    assert_eq!(deletes.len(), 1, "one delete job, in the trace: {deletes:?}");
    assert!(deletes[0].contains(&orphan.to_string()));
    // Once the upload is gone its chunk is an orphan like any other.
    cluster.upload_step(via, upload, UploadStep::Abort);
    collect(&mut cluster);
    assert!(!cluster.store(via).expect("a store").has_intact(chunk.id));
}
