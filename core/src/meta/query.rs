//! Read-only queries on a [`Namespace`]: entries, folder listings, versions, checkpoints, members.
//!
//! Listing a folder is a range scan of the path-ordered entry map. A folder's descendants all
//! start with `folder/`, so they are contiguous; but siblings such as `/a-b` or `/a.b` sort
//! *between* `/a` and `/a/…`, and a child folder's own descendants sit among the children. The
//! scan therefore starts at the smallest possible child (`folder/ `: no control character is a
//! valid path character) and jumps over each child folder's subtree (`child0` is the first path
//! after every `child/…`, since `'0'` follows `'/'`), so a listing costs O(children · log n).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::{Entry, EntryKind, FileRecord, Member, Namespace, VersionRecord};
use crate::error::{CheckpointProblem, CommandError};
use crate::ids::{ChunkId, NodeId, Version};
use crate::path::Path;

/// One page of a folder listing: the children (path order) and whether more follow.
pub type ChildrenPage<'a> = (Vec<(&'a Path, &'a Entry)>, bool);

impl Namespace {
    /// The entry at `path`: `None` when absent; a tombstoned file is `Some`, with `deleted` set.
    pub fn entry(&self, path: &Path) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// The live direct children of the folder at `path`, sorted by path. Tombstoned files and
    /// deeper descendants are left out. `NotFound` when nothing live is there, `NotAFolder` for a
    /// live file.
    pub fn children(&self, folder: &Path) -> Result<Vec<(&Path, &Entry)>, CommandError> {
        match self.entries.get(folder) {
            Some(entry) if entry.is_folder() => {}
            Some(entry) if entry.is_live() => {
                return Err(CommandError::NotAFolder { path: folder.clone() });
            }
            _ => return Err(CommandError::NotFound { path: folder.clone() }),
        }
        let mut children = self.direct_children(folder);
        children.retain(|(_, entry)| entry.is_live());
        Ok(children)
    }

    /// At most `limit` live direct children of the folder at `folder` whose names sort after
    /// `after` (all from the first when `None`), in path order, and whether more follow. Costs
    /// O(returned · log n) whatever the folder's size, so a huge folder is listed page by page.
    /// `NotFound`, `NotAFolder` or `InvalidPath` (an `after` that cannot be a name).
    pub fn children_page(
        &self,
        folder: &Path,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ChildrenPage<'_>, CommandError> {
        match self.entries.get(folder) {
            Some(entry) if entry.is_folder() => {}
            Some(entry) if entry.is_live() => {
                return Err(CommandError::NotAFolder { path: folder.clone() });
            }
            _ => return Err(CommandError::NotFound { path: folder.clone() }),
        }
        let start = match after {
            Some(name) => Bound::Excluded(folder.join(name).map_err(CommandError::InvalidPath)?),
            None => match folder.join(" ") {
                Ok(first) => Bound::Included(first),
                // Too long or too deep to have a child.
                Err(_) => return Ok((Vec::new(), false)),
            },
        };
        let mut page = Vec::new();
        let more = self.walk_children(folder, start, |path, entry| {
            if !entry.is_live() {
                return true;
            }
            if page.len() == limit {
                return false;
            }
            page.push((path, entry));
            true
        });
        Ok((page, more))
    }

    /// The newest version of the live file at `path`. `NotFound` when absent or deleted,
    /// `IsFolder` for a folder.
    pub fn latest(&self, path: &Path) -> Result<&VersionRecord, CommandError> {
        let record = self.file(path)?;
        match (&record.deleted, record.latest()) {
            (None, Some(latest)) => Ok(latest),
            _ => Err(CommandError::NotFound { path: path.clone() }),
        }
    }

    /// Version `version` of the file at `path`. Works on a deleted file too: its history stays
    /// readable until it is retired. `NotFound`, `IsFolder` or `VersionNotFound`.
    pub fn version(&self, path: &Path, version: Version) -> Result<&VersionRecord, CommandError> {
        self.file(path)?
            .version(version)
            .ok_or_else(|| CommandError::VersionNotFound { path: path.clone(), version })
    }

    /// The version that checkpoint `name` names in the file at `path` (deleted files included).
    /// `NotFound`, `IsFolder`, or `Checkpoint` with `CheckpointProblem::NotFound`.
    pub fn checkpoint(&self, path: &Path, name: &str) -> Result<&VersionRecord, CommandError> {
        let record = self.file(path)?;
        record.checkpoints.get(name).and_then(|&version| record.version(version)).ok_or_else(|| {
            CommandError::Checkpoint {
                path: path.clone(),
                name: name.to_owned(),
                problem: CheckpointProblem::NotFound,
            }
        })
    }

    /// Every version kept for the file at `path`, oldest first (deleted files included).
    /// `NotFound` or `IsFolder`.
    pub fn history(&self, path: &Path) -> Result<&[VersionRecord], CommandError> {
        Ok(&self.file(path)?.versions)
    }

    /// Every entry, live and tombstoned, in path order: what GC and repair walk to find the
    /// chunks still referenced.
    pub fn entries(&self) -> impl Iterator<Item = (&Path, &Entry)> + '_ {
        self.entries.iter()
    }

    /// Entries in path order from `start` on: for paged listings.
    pub fn entries_from(
        &self,
        start: std::ops::Bound<&Path>,
    ) -> impl Iterator<Item = (&Path, &Entry)> + '_ {
        self.entries.range::<Path, _>((start, std::ops::Bound::Unbounded))
    }

    /// Where the index says each chunk has copies, in chunk order after `after` (all from the
    /// start when `None`).
    pub fn replicas_after(
        &self,
        after: Option<ChunkId>,
    ) -> impl Iterator<Item = (&ChunkId, &BTreeSet<NodeId>)> + '_ {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.replicas.range((from, Bound::Unbounded))
    }

    /// Every chunk the index lists on `node`.
    pub fn chunks_on(&self, node: NodeId) -> impl Iterator<Item = ChunkId> + '_ {
        self.replicas.iter().filter(move |(_, nodes)| nodes.contains(&node)).map(|(c, _)| *c)
    }

    /// The nodes recorded as holding a durable copy of `chunk`.
    pub fn replicas(&self, chunk: &ChunkId) -> Option<&BTreeSet<NodeId>> {
        self.replicas.get(chunk)
    }

    /// The cluster members.
    pub fn members(&self) -> &BTreeMap<NodeId, Member> {
        &self.members
    }

    /// How many live (not deleted) files the namespace holds.
    pub fn file_count(&self) -> usize {
        self.live_files
    }

    /// The file record at `path`, live or tombstoned.
    fn file(&self, path: &Path) -> Result<&FileRecord, CommandError> {
        match self.entries.get(path).map(|entry| &entry.kind) {
            Some(EntryKind::File(record)) => Ok(record),
            Some(EntryKind::Folder) => Err(CommandError::IsFolder { path: path.clone() }),
            None => Err(CommandError::NotFound { path: path.clone() }),
        }
    }

    /// The direct children of `folder` (live and tombstoned), sorted by path.
    pub(super) fn direct_children(&self, folder: &Path) -> Vec<(&Path, &Entry)> {
        let mut children = Vec::new();
        // A folder too long or too deep to have a child has no smallest child path.
        let Ok(first) = folder.join(" ") else {
            return children;
        };
        self.walk_children(folder, Bound::Included(first), |path, entry| {
            children.push((path, entry));
            true
        });
        children
    }

    /// Calls `visit` on each direct child of `folder` (live and tombstoned) from `start` on, in
    /// path order, until it returns `false`; returns whether it stopped early (a child was left).
    fn walk_children<'a>(
        &'a self,
        folder: &Path,
        start: Bound<Path>,
        mut visit: impl FnMut(&'a Path, &'a Entry) -> bool,
    ) -> bool {
        let prefix = if folder.is_root() { "/".to_owned() } else { format!("{folder}/") };
        let mut cursor = start;
        // Each step either visits a child or skips a child's subtree, so this ends.
        while let Some((path, entry)) =
            self.entries.range((cursor.clone(), Bound::Unbounded)).next()
        {
            let Some(rest) = path.as_str().strip_prefix(prefix.as_str()) else {
                break;
            };
            cursor = match rest.split_once('/') {
                None => {
                    if !visit(path, entry) {
                        return true;
                    }
                    Bound::Excluded(path.clone())
                }
                Some((child, _)) => skip_subtree(&prefix, child, path),
            };
        }
        false
    }
}

/// Where to continue after finding `descendant` inside the child folder `prefix` + `child`: at
/// `prefix` + `child` + `0`, the first path after the child's whole subtree. When that name is too
/// long to be a path, just step past `descendant`.
fn skip_subtree(prefix: &str, child: &str, descendant: &Path) -> Bound<Path> {
    match Path::parse(&format!("{prefix}{child}0")) {
        Ok(after) => Bound::Included(after),
        Err(_) => Bound::Excluded(descendant.clone()),
    }
}
