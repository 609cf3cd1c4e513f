//! Removing single versions (`RemoveVersion`, S3 DeleteObject with a `versionId`, issue 18
//! point 5) and the version scan behind ListObjectVersions.
//!
//! Rules:
//! - **A kept version** is removed from the file's history; its chunks become garbage unless
//!   another kept version shares them. A version a checkpoint names is refused
//!   (`VersionCheckpointed`): checkpoints keep their versions. Removing the latest version of a
//!   live file makes the one before it current (what reads return); of a deleted file, the one
//!   before it becomes the version its tombstone names.
//! - **Numbers never repeat.** When the removed version was the newest number at the path, the
//!   path remembers it (the `retired` map, which for a path that still holds a file records a
//!   number above its latest), so the next write skips it.
//! - **The last version** of a file going removes the file, its tombstone (the S3 delete marker)
//!   included: dfs keeps no file without a version.
//! - **The delete marker** is the file's current tombstone, named by the log index of its
//!   delete. Removing it makes the file live again at its latest version, owned by whoever asked
//!   and with no grants (the rule for every revived file: a new life does not inherit the access
//!   list of a deleted one). A marker that is not the current tombstone is `NoDeleteMarker`.

use std::ops::Bound;

use super::{EntryKind, FileRecord, Namespace};
use crate::command::{Change, VersionTarget};
use crate::error::CommandError;
use crate::ids::{LogIndex, UserName, Version};
use crate::path::Path;

impl Namespace {
    /// `RemoveVersion`.
    pub(super) fn remove_version(
        &mut self,
        path: &Path,
        target: VersionTarget,
        author: &UserName,
    ) -> Result<Change, CommandError> {
        match target {
            VersionTarget::DeleteMarker(index) => self.remove_marker(path, index, author),
            VersionTarget::Version(version) => self.remove_kept(path, version),
        }
    }

    /// Removes the tombstone deleted at `index`: the file is live again.
    fn remove_marker(
        &mut self,
        path: &Path,
        index: LogIndex,
        author: &UserName,
    ) -> Result<Change, CommandError> {
        let Some(entry) = self.entries.get_mut(path) else {
            return Err(CommandError::NotFound { path: path.clone() });
        };
        let EntryKind::File(record) = &mut entry.kind else {
            return Err(CommandError::IsFolder { path: path.clone() });
        };
        if record.deleted.is_none_or(|tombstone| tombstone.index != index) {
            return Err(CommandError::NoDeleteMarker { path: path.clone() });
        }
        let Some(latest) = record.latest() else {
            return Err(CommandError::NoDeleteMarker { path: path.clone() });
        };
        let (version, size_bytes, hash) =
            (latest.version, latest.content.size_bytes, latest.content.hash);
        record.deleted = None;
        entry.owner = author.clone();
        entry.grants.clear();
        self.live_files += 1;
        Ok(Change::Undeleted { path: path.clone(), version, size_bytes, hash })
    }

    /// Removes kept version `version` of the file at `path`.
    fn remove_kept(&mut self, path: &Path, version: Version) -> Result<Change, CommandError> {
        let record = match self.entries.get(path).map(|entry| &entry.kind) {
            Some(EntryKind::File(record)) => record,
            Some(EntryKind::Folder) => return Err(CommandError::IsFolder { path: path.clone() }),
            None => return Err(CommandError::NotFound { path: path.clone() }),
        };
        let Ok(at) = record.versions.binary_search_by_key(&version, |kept| kept.version) else {
            return Err(CommandError::VersionNotFound { path: path.clone(), version });
        };
        if let Some((name, _)) = record.checkpoints.iter().find(|(_, &named)| named == version) {
            let name = name.clone();
            return Err(CommandError::VersionCheckpointed { path: path.clone(), version, name });
        }
        // Nothing can fail from here on.
        let live = !record.is_deleted();
        let newest = record.latest_version();
        let was_current = live && version == newest;
        if record.versions.len() == 1 {
            self.entries.remove(path);
            self.live_files -= usize::from(live);
            self.remember_number(path, newest);
            self.prune_object_meta(path);
            return Ok(Change::VersionRemoved {
                path: path.clone(),
                version,
                was_current,
                current: None,
            });
        }
        if version == newest {
            self.remember_number(path, newest);
        }
        let Some(EntryKind::File(record)) = self.entries.get_mut(path).map(|e| &mut e.kind) else {
            unreachable!("meta: the file at {path} was found a moment ago");
        };
        record.versions.remove(at);
        let latest = record.latest().map(|kept| (kept.version, kept.content.clone()));
        if let (Some(tombstone), Some((latest, _))) = (record.deleted.as_mut(), &latest) {
            tombstone.version = *latest;
        }
        let current = latest
            .filter(|_| live)
            .map(|(version, content)| (version, content.size_bytes, content.hash));
        self.prune_object_meta(path);
        Ok(Change::VersionRemoved { path: path.clone(), version, was_current, current })
    }

    /// Records that `version` was used at `path`, so no later write there reuses it (keeps the
    /// higher of this and what was already remembered).
    pub(super) fn remember_number(&mut self, path: &Path, version: Version) {
        let remembered = self.retired.entry(path.clone()).or_insert(version);
        *remembered = (*remembered).max(version);
    }

    /// The number the next version at `path` gets after its file's `latest`: past every
    /// number used there.
    pub(super) fn next_number(&mut self, path: &Path, latest: Version) -> Version {
        let used = self.retired.remove(path).map_or(latest, |retired| retired.max(latest));
        Version(used.0 + 1)
    }

    /// Every file below `folder` (live and deleted) whose path sorts at or after `folder/` +
    /// `start`, in path order, each with its path below the folder: what ListObjectVersions
    /// scans. Lazy, like [`Namespace::files_from`].
    pub fn file_records_from<'a>(
        &'a self,
        folder: &'a Path,
        start: &str,
    ) -> impl Iterator<Item = (&'a str, &'a Path, &'a FileRecord)> + 'a {
        let prefix = format!("{}/", folder.as_str());
        let from = Path::bound(format!("{prefix}{start}"));
        self.entries
            .range((Bound::Included(from), Bound::Unbounded))
            .map_while(move |(path, entry)| {
                let key = path.as_str().strip_prefix(prefix.as_str())?;
                Some((key, path, entry))
            })
            .filter_map(|(key, path, entry)| entry.file().map(|record| (key, path, record)))
    }
}
