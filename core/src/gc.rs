//! Chunk garbage collection (DESIGN §2 "delete": tombstone, then GC after a grace period). A pure
//! rule over the namespace and one node's inventory: a stored chunk is garbage when no live file
//! version references it, no file deleted less than `grace` ago references it, and the chunk
//! itself is older than `grace` (so a write still streaming its chunks, not yet committed, keeps
//! them). A node whose namespace lags keeps everything young; the grace period must exceed how
//! far a replica can lag. The parts of S3 multipart uploads in progress are referenced too,
//! until their upload is completed (then its version references them), aborted or expired.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::ids::{ChunkId, UnixMillis};
use crate::meta::{EntryKind, Namespace};

/// Chunks still needed: every version of live files and of files deleted within `grace`, and
/// every part of a multipart upload in progress.
pub fn referenced(namespace: &Namespace, now: UnixMillis, grace: Duration) -> BTreeSet<ChunkId> {
    let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
    let mut keep = BTreeSet::new();
    for (_, entry) in namespace.entries() {
        let EntryKind::File(file) = &entry.kind else { continue };
        let recent = |deleted_at: UnixMillis| now.0.saturating_sub(deleted_at.0) < grace_ms;
        if file.deleted.as_ref().is_some_and(|t| !recent(t.deleted_at)) {
            continue;
        }
        for version in &file.versions {
            keep.extend(version.content.chunks.iter().map(|c| c.id));
        }
    }
    for (_, _, upload) in namespace.multipart_uploads() {
        for part in upload.parts.values() {
            keep.extend(part.content.chunks.iter().map(|c| c.id));
        }
    }
    keep
}

/// Which of a node's stored chunks (with their ages) may be deleted.
pub fn garbage(
    referenced: &BTreeSet<ChunkId>,
    inventory: &[(ChunkId, Duration)],
    grace: Duration,
) -> Vec<ChunkId> {
    inventory
        .iter()
        .filter(|(chunk, age)| *age >= grace && !referenced.contains(chunk))
        .map(|(chunk, _)| *chunk)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{ChunkRef, Command, Content, Precondition};
    use crate::ids::{Hash, LogIndex, UserName};
    use crate::path::Path;

    const GRACE: Duration = Duration::from_secs(60);

    fn put(ns: &mut Namespace, index: u64, path: &str, body: &[u8]) -> ChunkId {
        let id = ChunkId(Hash::of(body));
        let content = Content {
            chunks: vec![ChunkRef { id, len_bytes: body.len() as u32 }],
            size_bytes: body.len() as u64,
            hash: Hash::of(body),
        };
        let command = Command::PutVersion {
            path: Path::parse(path).expect("valid"),
            precondition: Precondition::None,
            content,
            author: UserName("t".into()),
            created_at: UnixMillis(0),
            replicas: Default::default(),
            idempotency_key: None,
        };
        ns.apply(LogIndex(index), &command).expect("applies");
        id
    }

    #[test]
    fn live_versions_and_recent_tombstones_are_kept_old_orphans_go() {
        let mut ns = Namespace::new();
        let v1 = put(&mut ns, 1, "/live", b"one");
        let v2 = put(&mut ns, 2, "/live", b"two");
        let gone = put(&mut ns, 3, "/gone", b"deleted file");
        let delete = Command::Delete {
            path: Path::parse("/gone").expect("valid"),
            precondition: Precondition::None,
            deleted_at: UnixMillis(1_000_000),
        };
        ns.apply(LogIndex(4), &delete).expect("deletes");
        let orphan = ChunkId(Hash::of(b"never committed"));
        let old = Duration::from_secs(3600);
        let inventory = [(v1, old), (v2, old), (gone, old), (orphan, old)];

        // Just after the delete: the deleted file's chunk is kept for the grace period.
        let soon = referenced(&ns, UnixMillis(1_000_000 + 1_000), GRACE);
        assert_eq!(garbage(&soon, &inventory, GRACE), vec![orphan]);
        // After the grace period it goes too; every version of a live file stays.
        let later = referenced(&ns, UnixMillis(1_000_000 + 61_000), GRACE);
        let mut expected = vec![gone, orphan];
        expected.sort();
        let mut found = garbage(&later, &inventory, GRACE);
        found.sort();
        assert_eq!(found, expected);
        // A young unreferenced chunk (a write still in flight) is never garbage.
        assert!(garbage(&later, &[(orphan, Duration::from_secs(5))], GRACE).is_empty());
    }
}
