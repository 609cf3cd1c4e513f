//! The upload machine's decisions, action by action.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);
const UP: RequestId = RequestId(7);
const COPY_TIMEOUT: Duration = Duration::from_secs(45);

fn rules(quorum: WriteQuorum) -> Rules {
    Rules {
        replication_factor: 3,
        quorum,
        copy_timeout: COPY_TIMEOUT,
        propose_timeout: Duration::from_secs(5),
        uploads_max: 2,
    }
}

fn candidates() -> Vec<Candidate> {
    [N1, N2, N3].into_iter().map(|node| Candidate { node, used_bytes: 0 }).collect()
}

fn chunk(i: u8) -> ChunkRef {
    ChunkRef { id: ChunkId(Hash::of(&[i])), len_bytes: 100 }
}

fn start() -> UploadStart {
    UploadStart {
        path: Path::parse("/f").expect("valid"),
        precondition: Precondition::None,
        idempotency_key: None,
        author: UserName("ann".into()),
    }
}

fn at(secs: u64) -> Instant {
    Instant::from_micros(secs * 1_000_000)
}

fn sealed(size_bytes: u64) -> UploadStep {
    UploadStep::Sealed {
        size_bytes,
        hash: Hash::of(b"file"),
        created_at: UnixMillis(9),
        meta: None,
    }
}

/// An open upload with one chunk placed on every candidate; the store jobs in placement order.
fn one_chunk(quorum: WriteQuorum) -> (Uploads, Vec<(JobId, NodeId)>) {
    let mut uploads = Uploads::new(rules(quorum));
    assert_eq!(uploads.start(UP, start(), candidates()), vec![]);
    let mut next_job = 1;
    let actions = uploads.step(UP, UploadStep::Chunk(chunk(1)), at(0), &mut next_job);
    let order = placement::targets(chunk(1).id, &candidates(), 3);
    let expected: Vec<UploadAction> = order
        .iter()
        .enumerate()
        .map(|(i, &to)| UploadAction::Store {
            job: JobId(i as u64 + 1),
            upload: UP,
            chunk: chunk(1).id,
            to,
        })
        .collect();
    assert_eq!(actions, expected, "one store job per copy, in placement order");
    assert_eq!(next_job, 4);
    let jobs = order.iter().enumerate().map(|(i, &n)| (JobId(i as u64 + 1), n)).collect();
    (uploads, jobs)
}

#[test]
fn quorum_met_proposes_the_version_with_the_copies_that_landed() {
    let (mut uploads, jobs) = one_chunk(WriteQuorum::Majority);
    assert_eq!(uploads.step(UP, sealed(100), at(1), &mut 4), vec![]);
    assert_eq!(uploads.job_done(jobs[0].0, true, at(1)), vec![]);
    assert_eq!(uploads.job_done(jobs[1].0, true, at(1)), vec![]);
    assert!(uploads.ready().is_empty(), "waits for the last copy to settle");
    assert_eq!(
        uploads.job_done(jobs[2].0, true, at(2)),
        vec![UploadAction::QuorumMet { upload: UP }]
    );
    let ready = uploads.ready();
    let expected = Command::PutVersion {
        path: Path::parse("/f").expect("valid"),
        precondition: Precondition::None,
        content: Content { chunks: vec![chunk(1)], size_bytes: 100, hash: Hash::of(b"file") },
        author: UserName("ann".into()),
        created_at: UnixMillis(9),
        replicas: BTreeMap::from([(chunk(1).id, [N1, N2, N3].into_iter().collect())]),
        idempotency_key: None,
    };
    assert_eq!(ready, vec![(UP, expected)]);
    uploads.proposed(UP);
    assert!(uploads.ready().is_empty());
    assert!(uploads.references(chunk(1).id), "referenced until answered");
    let report = uploads.answered(UP).expect("an upload");
    assert_eq!(
        report,
        BTreeMap::from([
            (N1, ReplicaOutcome::Stored),
            (N2, ReplicaOutcome::Stored),
            (N3, ReplicaOutcome::Stored)
        ])
    );
    assert!(!uploads.references(chunk(1).id));
    assert_eq!(uploads.answered(UP), None);
}

#[test]
fn quorum_unreachable_is_refused_at_once_and_nothing_is_proposed() {
    let (mut uploads, jobs) = one_chunk(WriteQuorum::Majority);
    assert_eq!(uploads.job_done(jobs[0].0, false, at(1)), vec![]);
    let refused = uploads.job_done(jobs[1].0, false, at(1));
    let error = CommandError::InsufficientReplicas {
        chunks: 1,
        needed: 2,
        example: chunk(1).id,
        copies: 0,
    };
    assert_eq!(refused, vec![UploadAction::Refuse { upload: UP, error: error.clone() }]);
    assert_eq!(
        error.to_string(),
        format!("1 chunk(s) short of the write quorum of 2 durable copies (e.g. {} has 0); nothing was committed", chunk(1).id)
    );
    // The body may still be streaming: later steps and the last job change nothing.
    assert_eq!(uploads.step(UP, UploadStep::Chunk(chunk(2)), at(1), &mut 4), vec![]);
    assert_eq!(uploads.step(UP, sealed(200), at(1), &mut 4), vec![]);
    assert_eq!(uploads.job_done(jobs[2].0, true, at(1)), vec![]);
    assert!(uploads.ready().is_empty());
    assert!(!uploads.references(chunk(1).id), "its chunks are orphans for the collector");
}

#[test]
fn a_copy_failing_after_the_quorum_is_reported_and_left_to_repair() {
    let (mut uploads, jobs) = one_chunk(WriteQuorum::Majority);
    let mut next_job = 4;
    let second = uploads.step(UP, UploadStep::Chunk(chunk(2)), at(0), &mut next_job);
    assert_eq!(second.len(), 3);
    let second: Vec<(JobId, NodeId)> = second
        .into_iter()
        .map(|a| match a {
            UploadAction::Store { job, to, .. } => (job, to),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(uploads.step(UP, sealed(200), at(1), &mut next_job), vec![]);
    let failing = jobs[2].1;
    for (job, node) in jobs.iter().chain(&second) {
        let stored = !(*node == failing && *job == jobs[2].0);
        if (*job, *node) == *second.last().expect("three") {
            continue;
        }
        assert_eq!(uploads.job_done(*job, stored, at(1)), vec![]);
    }
    // The last copy (chunk 2) lands after chunk 1's third copy failed: the quorum holds.
    let (last, _) = *second.last().expect("three");
    assert_eq!(uploads.job_done(last, true, at(2)), vec![UploadAction::QuorumMet { upload: UP }]);
    let ready = uploads.ready();
    let [(_, Command::PutVersion { replicas, .. })] = ready.as_slice() else {
        panic!("one ready put");
    };
    assert_eq!(replicas[&chunk(1).id].len(), 2, "only copies that landed are recorded");
    assert_eq!(replicas[&chunk(2).id].len(), 3);
    uploads.proposed(UP);
    let report = uploads.answered(UP).expect("an upload");
    assert_eq!(report[&failing], ReplicaOutcome::Queued, "missed one chunk of two");
    assert_eq!(report.values().filter(|o| **o == ReplicaOutcome::Stored).count(), 2);
}

#[test]
fn a_copy_that_never_answers_counts_as_failed_at_its_deadline() {
    let (mut uploads, jobs) = one_chunk(WriteQuorum::Majority);
    assert_eq!(uploads.step(UP, sealed(100), at(0), &mut 4), vec![]);
    uploads.job_done(jobs[0].0, true, at(1));
    uploads.job_done(jobs[1].0, true, at(1));
    assert_eq!(uploads.next_deadline(), Some(at(0).saturating_add(COPY_TIMEOUT)));
    assert_eq!(uploads.expire(at(44)), vec![]);
    assert_eq!(uploads.expire(at(45)), vec![UploadAction::QuorumMet { upload: UP }]);
    assert!(!uploads.owns(jobs[2].0), "a late answer is ignored");
    assert_eq!(uploads.job_done(jobs[2].0, true, at(46)), vec![]);
    uploads.proposed(UP);
    assert_eq!(uploads.answered(UP).expect("an upload")[&jobs[2].1], ReplicaOutcome::Failed);
}

#[test]
fn a_ready_upload_that_finds_no_leader_in_time_is_refused() {
    let (mut uploads, jobs) = one_chunk(WriteQuorum::One);
    uploads.step(UP, sealed(100), at(0), &mut 4);
    for (job, _) in &jobs {
        uploads.job_done(*job, true, at(1));
    }
    assert_eq!(uploads.ready().len(), 1);
    assert_eq!(uploads.next_deadline(), Some(at(6)));
    assert_eq!(
        uploads.expire(at(6)),
        vec![UploadAction::Refuse { upload: UP, error: CommandError::NoLeader }]
    );
    assert!(uploads.ready().is_empty());
}

#[test]
fn refusals_before_any_chunk_and_aborts() {
    let mut uploads = Uploads::new(rules(WriteQuorum::All));
    let refuse = |error| vec![UploadAction::Refuse { upload: UP, error }];
    assert_eq!(uploads.start(UP, start(), vec![]), refuse(CommandError::NoStorageNodes));
    // Two members for a quorum of all three: the first chunk already cannot make it.
    let two = candidates()[..2].to_vec();
    assert_eq!(uploads.start(UP, start(), two), vec![]);
    let actions = uploads.step(UP, UploadStep::Chunk(chunk(1)), at(0), &mut 1);
    let error = CommandError::InsufficientReplicas {
        chunks: 1,
        needed: 3,
        example: chunk(1).id,
        copies: 0,
    };
    assert_eq!(actions.len(), 3);
    assert_eq!(actions[2], UploadAction::Refuse { upload: UP, error });
    // The table is bounded; an abort frees a slot and forgets the chunks.
    let mut uploads = Uploads::new(rules(WriteQuorum::Majority));
    assert_eq!(uploads.start(RequestId(1), start(), candidates()), vec![]);
    assert_eq!(uploads.start(RequestId(2), start(), candidates()), vec![]);
    let full = uploads.start(UP, start(), candidates());
    assert_eq!(full, refuse(CommandError::Overloaded { max: 2 }));
    uploads.step(RequestId(1), UploadStep::Reused(chunk(5)), at(0), &mut 1);
    assert!(uploads.references(chunk(5).id), "a reused chunk is referenced too");
    assert_eq!(uploads.step(RequestId(1), UploadStep::Abort, at(0), &mut 1), vec![]);
    assert!(!uploads.references(chunk(5).id));
    assert_eq!(uploads.start(UP, start(), candidates()), vec![]);
}

#[test]
fn an_empty_file_is_ready_once_sealed() {
    let mut uploads = Uploads::new(rules(WriteQuorum::All));
    uploads.start(UP, start(), candidates());
    assert_eq!(
        uploads.step(UP, sealed(0), at(0), &mut 1),
        vec![UploadAction::QuorumMet { upload: UP }]
    );
    uploads.proposed(UP);
    assert_eq!(uploads.answered(UP), Some(BTreeMap::new()));
}

#[test]
fn an_upload_abandoned_after_its_body_ended_commits_nothing_unless_already_proposed() {
    let (mut uploads, jobs) = one_chunk(WriteQuorum::Majority);
    uploads.step(UP, sealed(100), at(0), &mut 4);
    uploads.job_done(jobs[0].0, true, at(1));
    // The client went away while the last copy was still running: forgotten, no proposal.
    assert_eq!(uploads.step(UP, UploadStep::Abort, at(2), &mut 4), vec![]);
    assert_eq!(uploads.job_done(jobs[1].0, true, at(3)), vec![]);
    assert_eq!(uploads.job_done(jobs[2].0, true, at(3)), vec![]);
    assert!(uploads.ready().is_empty() && !uploads.references(chunk(1).id));
    // Once proposed, the entry may commit: an abort then changes nothing.
    let (mut uploads, jobs) = one_chunk(WriteQuorum::Majority);
    uploads.step(UP, sealed(100), at(0), &mut 4);
    for (job, _) in &jobs {
        uploads.job_done(*job, true, at(1));
    }
    uploads.proposed(UP);
    assert_eq!(uploads.step(UP, UploadStep::Abort, at(2), &mut 4), vec![]);
    assert!(uploads.answered(UP).is_some(), "still answered when its entry applies");
}

#[test]
fn a_sealed_part_proposes_a_put_part_with_the_copies_that_landed() {
    let (mut uploads, jobs) = one_chunk(WriteQuorum::Majority);
    let upload = crate::s3::multipart::UploadId(crate::ids::LogIndex(40));
    let seal = PartSeal {
        upload,
        number: 3,
        size_bytes: 100,
        hash: Hash::of(b"part"),
        md5: [5; 16],
        uploaded_at: UnixMillis(11),
    };
    assert_eq!(uploads.step(UP, UploadStep::SealedPart(Box::new(seal)), at(1), &mut 4), vec![]);
    assert_eq!(uploads.job_done(jobs[0].0, true, at(1)), vec![]);
    assert_eq!(uploads.job_done(jobs[1].0, false, at(1)), vec![]);
    assert_eq!(
        uploads.job_done(jobs[2].0, true, at(2)),
        vec![UploadAction::QuorumMet { upload: UP }]
    );
    let stored: BTreeSet<NodeId> = [jobs[0].1, jobs[2].1].into_iter().collect();
    let expected = Command::PutPart {
        path: Path::parse("/f").expect("valid"),
        upload,
        number: 3,
        part: crate::s3::multipart::PartRecord {
            content: Content { chunks: vec![chunk(1)], size_bytes: 100, hash: Hash::of(b"part") },
            md5: [5; 16],
            uploaded_at: UnixMillis(11),
        },
        replicas: BTreeMap::from([(chunk(1).id, stored)]),
    };
    assert_eq!(uploads.ready(), vec![(UP, expected)]);
    assert!(uploads.references(chunk(1).id), "its chunk is referenced until it is answered");
}
