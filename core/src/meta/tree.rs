//! The commands that change a whole subtree in one log entry: `Move` (rename a file or a folder
//! with everything under it) and `DeleteRecursive`. Like every handler, each validates everything
//! first (including every new path a move makes) and mutates only once nothing can fail.

use std::ops::Bound;

use super::{Entry, EntryKind, Namespace, Tombstone};
use crate::command::Change;
use crate::error::CommandError;
use crate::ids::{LogIndex, UnixMillis};
use crate::path::Path;

/// How many files and folders a recursive delete of a path would remove.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeCounts {
    /// Live files under it (the path itself when it is a file).
    pub files: usize,
    /// Folders under it, itself included when it is a folder.
    pub folders: usize,
}

impl Namespace {
    /// `Move`: re-keys the live file or folder at `from`, and everything under it, to `to`.
    pub(super) fn move_entry(&mut self, from: &Path, to: &Path) -> Result<Change, CommandError> {
        if from.is_root() || to.is_root() {
            return Err(CommandError::RootImmutable);
        }
        let Some(source) = self.entries.get(from).filter(|entry| entry.is_live()) else {
            return Err(CommandError::NotFound { path: from.clone() });
        };
        let folder = source.is_folder();
        if to.starts_with(from) {
            return Err(CommandError::MoveIntoItself { from: from.clone(), to: to.clone() });
        }
        let missing = self.missing_ancestors(to)?;
        if self.entries.get(to).is_some_and(Entry::is_live) {
            return Err(CommandError::AlreadyExists { path: to.clone() });
        }
        // Every new path is valid (not too long or too deep) before anything moves.
        let moves = self
            .subtree(from)
            .into_iter()
            .map(|old| {
                let suffix = &old.as_str()[from.as_str().len()..];
                let new =
                    Path::parse(&format!("{to}{suffix}")).map_err(CommandError::InvalidPath)?;
                Ok((old, new))
            })
            .collect::<Result<Vec<(Path, Path)>, CommandError>>()?;
        // Nothing can fail from here on. New parents belong to the region they are made in
        // (not to the owner of what moves, who may be someone an admin moves things for).
        let owner = self.region_owner(to);
        self.make_folders(&missing, &owner);
        // A tombstoned file at the destination gives way (as it would to a folder).
        self.retire(to);
        for (old, new) in moves {
            let Some(entry) = self.entries.remove(&old) else {
                unreachable!("meta: {old} was listed in the subtree of {from} a moment ago");
            };
            if let EntryKind::File(record) = &entry.kind {
                // A file that comes back at the old path continues the numbering there; the moved
                // history keeps its own numbers at the new path.
                self.remember_number(&old, record.latest_version());
                self.retired.remove(&new);
            }
            self.entries.insert(new, entry);
        }
        Ok(Change::Moved { from: from.clone(), to: to.clone(), folder })
    }

    /// `DeleteRecursive`: tombstones a live file, or removes a folder and everything under it.
    /// Files under a removed folder lose their history with it (they are retired, like the
    /// tombstoned files of an empty folder that is deleted).
    pub(super) fn delete_recursive(
        &mut self,
        index: LogIndex,
        path: &Path,
        deleted_at: UnixMillis,
    ) -> Result<Change, CommandError> {
        if path.is_root() {
            return Err(CommandError::RootImmutable);
        }
        match self.entries.get_mut(path).map(|entry| &mut entry.kind) {
            Some(EntryKind::Folder) => {}
            Some(EntryKind::File(record)) if !record.is_deleted() => {
                let version = record.latest_version();
                record.deleted = Some(Tombstone { version, deleted_at, index });
                self.live_files -= 1;
                let files = vec![(path.clone(), version)];
                return Ok(Change::TreeDeleted { path: path.clone(), files, folders: Vec::new() });
            }
            _ => return Err(CommandError::NotFound { path: path.clone() }),
        }
        let mut files = Vec::new();
        let mut folders = Vec::new();
        for below in self.subtree(path) {
            let Some(entry) = self.entries.remove(&below) else { continue };
            match entry.kind {
                EntryKind::Folder => folders.push(below),
                EntryKind::File(record) => {
                    let version = record.latest_version();
                    if !record.is_deleted() {
                        self.live_files -= 1;
                        files.push((below.clone(), version));
                    }
                    self.remember_number(&below, version);
                }
            }
        }
        // Children sort after their parents: reversed, the deepest folders come first.
        folders.reverse();
        Ok(Change::TreeDeleted { path: path.clone(), files, folders })
    }

    /// What a recursive delete of `path` would remove. `NotFound` when nothing live is there.
    pub fn tree_counts(&self, path: &Path) -> Result<TreeCounts, CommandError> {
        match self.entries.get(path) {
            Some(entry) if entry.is_live() => {}
            _ => return Err(CommandError::NotFound { path: path.clone() }),
        }
        let mut counts = TreeCounts::default();
        for (_, entry) in self.subtree_entries(path) {
            match &entry.kind {
                EntryKind::Folder => counts.folders += 1,
                EntryKind::File(record) => counts.files += usize::from(!record.is_deleted()),
            }
        }
        Ok(counts)
    }

    /// `path` and every entry under it, in path order.
    fn subtree(&self, path: &Path) -> Vec<Path> {
        self.subtree_entries(path).map(|(below, _)| below.clone()).collect()
    }

    /// `path` and every entry under it with the entry, in path order.
    pub(super) fn subtree_entries<'a>(
        &'a self,
        path: &'a Path,
    ) -> impl Iterator<Item = (&'a Path, &'a Entry)> {
        self.entries
            .range::<Path, _>((Bound::Included(path), Bound::Unbounded))
            // Every path that begins with `path`'s text sorts in one run; `/a b` is in it but not
            // under `/a`.
            .take_while(move |(below, _)| below.as_str().starts_with(path.as_str()))
            .filter(move |(below, _)| below.starts_with(path))
    }
}
