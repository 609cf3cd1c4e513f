//! What fsck must find on disk, read from the namespace: every chunk of every kept version of
//! every live (not tombstoned) file, with the nodes the replica index records for it. Tombstoned
//! files are left out: their chunks are GC's, not fsck's. Pure functions over a [`Namespace`];
//! memory grows with the number of distinct chunks, never with file sizes.

use std::collections::{BTreeMap, BTreeSet};

use dfs_core::ids::{ChunkId, NodeId};
use dfs_core::meta::{EntryKind, Namespace, VersionRecord};

/// Paths recorded per problem chunk (a chunk shared by many files names the first few).
pub const PATHS_PER_CHUNK_MAX: usize = 8;

/// The chunks live files need, and who the index says holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Live files counted.
    pub files: u64,
    /// Versions of live files counted.
    pub versions: u64,
    /// Every distinct chunk of those versions, with the nodes recorded as holding it.
    pub chunks: BTreeMap<ChunkId, BTreeSet<NodeId>>,
    /// The cluster members, who are all asked what they hold.
    pub members: Vec<NodeId>,
}

/// Every version of every live file, in path order.
fn live_versions(namespace: &Namespace) -> impl Iterator<Item = (&str, &VersionRecord)> + '_ {
    namespace.entries().flat_map(|(path, entry)| {
        let versions = match &entry.kind {
            EntryKind::File(file) if !file.is_deleted() => file.versions.as_slice(),
            _ => &[],
        };
        versions.iter().map(move |version| (path.as_str(), version))
    })
}

impl Census {
    /// Counts what `namespace` says must be stored.
    pub fn take(namespace: &Namespace) -> Self {
        let mut census =
            Self { members: namespace.members().keys().copied().collect(), ..Self::default() };
        let mut last_path = None;
        for (path, version) in live_versions(namespace) {
            if last_path != Some(path) {
                census.files += 1;
                last_path = Some(path);
            }
            census.versions += 1;
            for chunk in &version.content.chunks {
                census
                    .chunks
                    .entry(chunk.id)
                    .or_insert_with(|| namespace.replicas(&chunk.id).cloned().unwrap_or_default());
            }
        }
        census
    }
}

/// For each of `wanted`, up to [`PATHS_PER_CHUNK_MAX`] live paths that use it.
pub fn paths_of(
    namespace: &Namespace,
    wanted: &BTreeSet<ChunkId>,
) -> BTreeMap<ChunkId, Vec<String>> {
    let mut paths: BTreeMap<ChunkId, Vec<String>> = BTreeMap::new();
    for (path, version) in live_versions(namespace) {
        for chunk in version.content.chunks.iter().filter(|c| wanted.contains(&c.id)) {
            let found = paths.entry(chunk.id).or_default();
            if found.len() < PATHS_PER_CHUNK_MAX && found.last().map(String::as_str) != Some(path) {
                found.push(path.to_owned());
            }
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfs_core::command::{ChunkRef, Command, Content, Precondition};
    use dfs_core::ids::{Hash, LogIndex, UnixMillis, UserName};
    use dfs_core::Path;

    fn chunk(byte: u8) -> ChunkId {
        ChunkId(Hash::of(&[byte]))
    }

    fn put(ns: &mut Namespace, index: u64, path: &str, chunks: &[u8], on: &[u64]) {
        let chunks: Vec<ChunkRef> =
            chunks.iter().map(|&b| ChunkRef { id: chunk(b), len_bytes: 1 }).collect();
        let replicas = chunks
            .iter()
            .map(|c| (c.id, on.iter().map(|&n| NodeId(n)).collect::<BTreeSet<_>>()))
            .collect();
        let content = Content { size_bytes: chunks.len() as u64, chunks, hash: Hash::of(b"") };
        let command = Command::PutVersion {
            path: Path::parse(path).expect("valid"),
            precondition: Precondition::None,
            content,
            author: UserName("t".into()),
            created_at: UnixMillis(0),
            replicas,
            idempotency_key: None,
        };
        ns.apply(LogIndex(index), &command).expect("applies");
    }

    #[test]
    fn every_version_of_live_files_counts_and_tombstoned_files_do_not() {
        let mut ns = Namespace::new();
        put(&mut ns, 1, "/a", &[1, 2], &[1, 2]);
        put(&mut ns, 2, "/a", &[2, 3], &[2, 3]);
        put(&mut ns, 3, "/b", &[3], &[3]);
        put(&mut ns, 4, "/gone", &[9], &[1]);
        let delete = Command::Delete {
            path: Path::parse("/gone").expect("valid"),
            precondition: Precondition::None,
            deleted_at: UnixMillis(0),
        };
        ns.apply(LogIndex(5), &delete).expect("applies");
        let census = Census::take(&ns);
        assert_eq!((census.files, census.versions), (2, 3));
        let ids: Vec<ChunkId> = census.chunks.keys().copied().collect();
        let mut expected = vec![chunk(1), chunk(2), chunk(3)];
        expected.sort();
        assert_eq!(ids, expected, "distinct chunks of live versions only");
        assert_eq!(census.chunks[&chunk(1)], BTreeSet::from([NodeId(1), NodeId(2)]));

        let paths = paths_of(&ns, &BTreeSet::from([chunk(3), chunk(9)]));
        assert_eq!(paths.get(&chunk(3)), Some(&vec!["/a".to_owned(), "/b".to_owned()]));
        assert_eq!(paths.get(&chunk(9)), None, "a tombstoned file's chunk has no live path");
    }
}
