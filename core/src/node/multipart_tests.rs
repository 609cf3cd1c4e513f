//! S3 multipart uploads across a leader change in the in-memory cluster: parts stored at the
//! write quorum through the leader survive its crash (they are replicated namespace state), and
//! the upload completes through another node into one version made of the parts' chunks, the
//! same on every replica.

use std::time::Duration;

use crate::command::{Change, ChunkRef, Command, Content, Reply};
use crate::error::CommandError;
use crate::ids::{ChunkId, Hash, NodeId, UnixMillis, UserName};
use crate::path::Path;
use crate::s3::multipart::{CompletedPart, UploadHeaders, UploadId};
use crate::testing::Cluster;

use super::tests::elect;

const MIB: u32 = 1024 * 1024;

fn path() -> Path {
    Path::parse("/b/object").expect("valid")
}

fn commit(cluster: &mut Cluster, node: NodeId, command: Command) -> Result<Reply, CommandError> {
    let request = cluster.submit(node, command);
    let answered = |c: &Cluster| c.reply(node, request).is_some();
    assert!(cluster.run_until(Duration::from_secs(10), answered), "no reply within 10 s");
    cluster.reply(node, request).cloned().expect("just checked")
}

fn store_part(
    cluster: &mut Cluster,
    via: NodeId,
    id: UploadId,
    number: u32,
    chunks: &[(ChunkId, u32)],
) {
    let upload = cluster.upload_part(via, "/b/object", id, number, chunks);
    let done = |c: &Cluster| c.uploaded(via, upload).is_some();
    assert!(cluster.run_until(Duration::from_secs(10), done), "part {number} answered");
    let answer = cluster.uploaded(via, upload).cloned().expect("just checked");
    assert!(
        matches!(answer, Ok(ref w) if matches!(w.change, Change::PartStored { .. })),
        "{answer:?}"
    );
}

#[test]
fn a_multipart_upload_survives_the_leader_and_completes_through_another_node() {
    let mut cluster = Cluster::new(11, 3);
    let leader = elect(&mut cluster);
    let create = Command::CreateMultipartUpload {
        path: path(),
        initiator: UserName("test".into()),
        created_at: UnixMillis(1),
        headers: UploadHeaders::default(),
    };
    let Ok(Reply::Applied { change: Change::MultipartCreated { upload, .. }, .. }) =
        commit(&mut cluster, leader, create)
    else {
        panic!("the upload is created");
    };
    let first: Vec<(ChunkId, u32)> = (0..5u8).map(|i| (ChunkId(Hash::of(&[1, i])), MIB)).collect();
    let last = vec![(ChunkId(Hash::of(b"tail")), 100)];
    store_part(&mut cluster, leader, upload, 1, &first);
    store_part(&mut cluster, leader, upload, 2, &last);

    cluster.crash(leader);
    let next = elect(&mut cluster);
    assert_ne!(next, leader);
    let survivors: Vec<NodeId> = cluster.ids().into_iter().filter(|&n| n != leader).collect();
    for &id in &survivors {
        let namespace = cluster.node(id).expect("up").status().namespace;
        let parts = namespace.multipart_upload(&path(), upload).map(|u| u.parts.len());
        assert_eq!(parts, Some(2), "{id} holds both parts");
    }
    let via = survivors.iter().copied().find(|&n| n != next).expect("a follower survives");
    let chunks: Vec<ChunkRef> =
        first.iter().chain(&last).map(|&(id, len_bytes)| ChunkRef { id, len_bytes }).collect();
    let complete = Command::CompleteMultipartUpload {
        path: path(),
        upload,
        parts: (1..=2u8)
            .map(|n| CompletedPart { number: u32::from(n), etag: crate::s3::hex(&[n; 16]) })
            .collect(),
        content: Content {
            chunks: chunks.clone(),
            size_bytes: u64::from(5 * MIB + 100),
            hash: Hash::of(b"whole"),
        },
        etag: format!("{}-2", "ab".repeat(16)),
        author: UserName("test".into()),
        created_at: UnixMillis(2),
    };
    let answer = commit(&mut cluster, via, complete);
    assert!(
        matches!(answer, Ok(Reply::Applied { change: Change::FileWritten { .. }, .. })),
        "{answer:?}"
    );
    let caught_up = |c: &Cluster| {
        survivors
            .iter()
            .all(|&id| c.node(id).is_some_and(|n| n.status().namespace.latest(&path()).is_ok()))
    };
    assert!(cluster.run_until(Duration::from_secs(5), caught_up), "every replica applies it");
    for &id in &survivors {
        let namespace = cluster.node(id).expect("up").status().namespace;
        let latest = namespace.latest(&path()).expect("written");
        assert_eq!(latest.content.chunks, chunks, "{id}: the parts' chunks, in order");
        assert_eq!(namespace.multipart_upload(&path(), upload), None);
    }
    cluster.check_invariants().expect("invariants hold");
}
