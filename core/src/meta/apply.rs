//! The command handlers behind [`Namespace::apply`]; the rules are listed in the `meta` module
//! docs. Each handler validates everything first and mutates only once nothing can fail, so a
//! refused command leaves the namespace as it was.

use std::collections::btree_map::Entry as Slot;
use std::collections::BTreeMap;

use super::{
    Entry, EntryKind, FileRecord, Member, Namespace, Tombstone, VersionRecord,
    CHECKPOINT_NAME_BYTES_MAX,
};
use crate::command::{Access, Change, Content, DeclaredState, MemberRole, Precondition};
use crate::error::{CheckpointProblem, CommandError, ContentProblem};
use crate::health::Health;
use crate::ids::{ChunkId, LogIndex, NodeId, UnixMillis, UserName, Version};
use crate::path::Path;

/// The parts of a put or revert that become the new [`VersionRecord`].
pub(super) struct Write<'a> {
    /// The log index of the command.
    pub(super) index: LogIndex,
    /// The new version's content.
    pub(super) content: &'a Content,
    /// Who wrote it.
    pub(super) author: &'a UserName,
    /// When the receiving node accepted it.
    pub(super) created_at: UnixMillis,
}

impl Write<'_> {
    fn record(&self, version: Version) -> VersionRecord {
        VersionRecord {
            version,
            content: self.content.clone(),
            author: self.author.clone(),
            created_at: self.created_at,
            index: self.index,
        }
    }
}

/// Whether `name` can name a checkpoint: 1 to [`CHECKPOINT_NAME_BYTES_MAX`] bytes, no `/` or NUL.
pub fn is_valid_checkpoint_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= CHECKPOINT_NAME_BYTES_MAX && !name.contains(['/', '\0'])
}

impl Namespace {
    /// `CreateFolder`: `mkdir -p`, refusing an existing live entry at `path`.
    pub(super) fn create_folder(
        &mut self,
        path: &Path,
        owner: &UserName,
    ) -> Result<Change, CommandError> {
        if path.is_root() {
            return Err(CommandError::AlreadyExists { path: path.clone() });
        }
        let mut missing = self.missing_ancestors(path)?;
        if self.entries.get(path).is_some_and(Entry::is_live) {
            return Err(CommandError::AlreadyExists { path: path.clone() });
        }
        missing.push(path.clone());
        self.make_folders(&missing, owner);
        Ok(Change::FolderCreated { path: path.clone() })
    }

    /// `CreateFolderIn`: `mkdir -p` where each new folder gets the owner of the folder above
    /// it, except the one at `path` when `owner` names someone; refuses an existing live entry.
    pub(super) fn create_folder_in(
        &mut self,
        path: &Path,
        owner: Option<&UserName>,
    ) -> Result<Change, CommandError> {
        if path.is_root() {
            return Err(CommandError::AlreadyExists { path: path.clone() });
        }
        let missing = self.missing_ancestors(path)?;
        if self.entries.get(path).is_some_and(Entry::is_live) {
            return Err(CommandError::AlreadyExists { path: path.clone() });
        }
        let region_owner = self.region_owner(path);
        let leaf_owner = owner.unwrap_or(&region_owner).clone();
        self.make_folders(&missing, &region_owner);
        self.make_folders(std::slice::from_ref(path), &leaf_owner);
        Ok(Change::FolderCreated { path: path.clone() })
    }

    /// `PutVersion`: a new version of a file, creating it (and its missing parents) if needed.
    pub(super) fn put_version(
        &mut self,
        path: &Path,
        precondition: Precondition,
        write: Write<'_>,
    ) -> Result<Change, CommandError> {
        check_content(write.content)?;
        if path.is_root() {
            return Err(CommandError::RootImmutable);
        }
        let missing = self.missing_ancestors(path)?;
        let found = match self.entries.get(path).map(|entry| &entry.kind) {
            Some(EntryKind::Folder) => return Err(CommandError::IsFolder { path: path.clone() }),
            Some(EntryKind::File(record)) if !record.is_deleted() => Some(record.latest_version()),
            _ => None,
        };
        check_precondition(path, precondition, found)?;
        // Nothing can fail from here on. New parents belong to the region they are made in.
        let region_owner = self.region_owner(path);
        self.make_folders(&missing, &region_owner);
        let version = self.write_version(path, &write);
        Ok(Change::FileWritten {
            path: path.clone(),
            version,
            size_bytes: write.content.size_bytes,
            hash: write.content.hash,
            created: found.is_none(),
        })
    }

    /// Appends the next version at `path`, which the caller checked is not a folder.
    fn write_version(&mut self, path: &Path, write: &Write<'_>) -> Version {
        let retired = self.retired.remove(path);
        let keep = self.settings.keep_versions;
        match self.entries.entry(path.clone()) {
            Slot::Vacant(slot) => {
                let version = retired.map_or(Version(1), next_version);
                slot.insert(Entry {
                    owner: write.author.clone(),
                    grants: BTreeMap::new(),
                    kind: EntryKind::File(FileRecord {
                        versions: vec![write.record(version)],
                        deleted: None,
                        checkpoints: BTreeMap::new(),
                    }),
                });
                self.live_files += 1;
                version
            }
            Slot::Occupied(slot) => {
                let entry = slot.into_mut();
                let EntryKind::File(record) = &mut entry.kind else {
                    unreachable!("meta: put_version refused the folder at {path} before writing");
                };
                // Past the latest and past any number removed from the top of its history.
                let used =
                    retired.map_or(record.latest_version(), |r| r.max(record.latest_version()));
                let version = next_version(used);
                if record.deleted.take().is_some() {
                    // A revived file is a new file: its author owns it and old grants do not apply.
                    entry.owner = write.author.clone();
                    entry.grants.clear();
                    self.live_files += 1;
                }
                record.versions.push(write.record(version));
                record.prune(keep);
                version
            }
        }
    }

    /// `Delete`: tombstones a live file or removes an empty folder.
    pub(super) fn delete(
        &mut self,
        index: LogIndex,
        path: &Path,
        precondition: Precondition,
        deleted_at: UnixMillis,
    ) -> Result<Change, CommandError> {
        if path.is_root() {
            return Err(CommandError::RootImmutable);
        }
        match self.entries.get_mut(path).map(|entry| &mut entry.kind) {
            Some(EntryKind::Folder) => self.delete_folder(path, precondition),
            Some(EntryKind::File(record)) if !record.is_deleted() => {
                let version = record.latest_version();
                check_precondition(path, precondition, Some(version))?;
                record.deleted = Some(Tombstone { version, deleted_at, index });
                self.live_files -= 1;
                Ok(Change::FileDeleted { path: path.clone(), version })
            }
            _ => Err(CommandError::NotFound { path: path.clone() }),
        }
    }

    /// Removes the folder at `path` if it has no live children, retiring its tombstoned files.
    fn delete_folder(
        &mut self,
        path: &Path,
        precondition: Precondition,
    ) -> Result<Change, CommandError> {
        if precondition != Precondition::None {
            // A folder has no version: neither `Absent` nor `Version(_)` can hold.
            return Err(CommandError::VersionConflict {
                path: path.clone(),
                expected: precondition,
                found: None,
            });
        }
        let children = self.direct_children(path);
        if children.iter().any(|(_, entry)| entry.is_live()) {
            return Err(CommandError::FolderNotEmpty { path: path.clone() });
        }
        // Only tombstoned files remain; they would be orphaned, so they are retired.
        let tombstoned: Vec<Path> = children.into_iter().map(|(child, _)| child.clone()).collect();
        for child in &tombstoned {
            self.retire(child);
        }
        self.entries.remove(path);
        Ok(Change::FolderDeleted { path: path.clone() })
    }

    /// `Checkpoint`: names a version of a live file; naming the same version again is a no-op.
    pub(super) fn checkpoint_version(
        &mut self,
        path: &Path,
        name: &str,
        version: Option<Version>,
    ) -> Result<Change, CommandError> {
        let refuse = |problem| CommandError::Checkpoint {
            path: path.clone(),
            name: name.to_owned(),
            problem,
        };
        if !is_valid_checkpoint_name(name) {
            return Err(refuse(CheckpointProblem::InvalidName));
        }
        let record = self.live_file_mut(path)?;
        let version = match version {
            None => record.latest_version(),
            Some(wanted) if record.version(wanted).is_some() => wanted,
            Some(wanted) => {
                return Err(CommandError::VersionNotFound { path: path.clone(), version: wanted })
            }
        };
        match record.checkpoints.get(name) {
            Some(&named) if named != version => return Err(refuse(CheckpointProblem::Taken)),
            Some(_) => {}
            None => {
                record.checkpoints.insert(name.to_owned(), version);
            }
        }
        Ok(Change::CheckpointCreated { path: path.clone(), name: name.to_owned(), version })
    }

    /// `Revert`: a new version of a file with the content of version `to`. A deleted file whose
    /// version `to` is kept comes back to life this way, like a put would revive it (its new
    /// author owns it, old grants are dropped).
    pub(super) fn revert(
        &mut self,
        index: LogIndex,
        path: &Path,
        to: Version,
        author: &UserName,
        created_at: UnixMillis,
    ) -> Result<Change, CommandError> {
        let keep = self.settings.keep_versions;
        let Some(entry) = self.entries.get_mut(path) else {
            return Err(CommandError::NotFound { path: path.clone() });
        };
        let EntryKind::File(record) = &mut entry.kind else {
            return Err(CommandError::IsFolder { path: path.clone() });
        };
        let Some(source) = record.version(to) else {
            return Err(CommandError::VersionNotFound { path: path.clone(), version: to });
        };
        let content = source.content.clone();
        let latest = record.latest_version();
        let version = self.next_number(path, latest);
        let Some(entry) = self.entries.get_mut(path) else {
            unreachable!("meta: the file at {path} was found a moment ago");
        };
        let EntryKind::File(record) = &mut entry.kind else {
            unreachable!("meta: {path} was a file a moment ago");
        };
        let revived = record.deleted.take().is_some();
        let write = Write { index, content: &content, author, created_at };
        record.versions.push(write.record(version));
        record.prune(keep);
        if revived {
            entry.owner = author.clone();
            entry.grants.clear();
            self.live_files += 1;
        }
        Ok(Change::FileWritten {
            path: path.clone(),
            version,
            size_bytes: content.size_bytes,
            hash: content.hash,
            created: revived,
        })
    }

    /// `SetGrant`: sets (`Some`) or revokes (`None`) a user's access to a live entry. Granting
    /// needs a current user; revoking works for any name (cleaning up is always allowed).
    pub(super) fn set_grant(
        &mut self,
        path: &Path,
        user: &UserName,
        access: Option<Access>,
    ) -> Result<Change, CommandError> {
        if access.is_some() && self.user(user).is_none() {
            return Err(CommandError::UnknownUser { user: user.clone() });
        }
        let Some(entry) = self.entries.get_mut(path).filter(|entry| entry.is_live()) else {
            return Err(CommandError::NotFound { path: path.clone() });
        };
        match access {
            Some(access) => entry.grants.insert(user.clone(), access),
            None => entry.grants.remove(user),
        };
        Ok(Change::GrantChanged { path: path.clone(), user: user.clone(), access })
    }

    /// `AddNode`: inserts an active member, or changes an existing member's role.
    pub(super) fn add_node(&mut self, index: LogIndex, node: NodeId, role: MemberRole) -> Change {
        self.members.entry(node).and_modify(|member| member.role = role).or_insert(Member {
            role,
            state: DeclaredState::Active,
            added_at: index,
            health: Health::Up,
        });
        Change::NodeAdded { node, role }
    }

    /// `RemoveNode`: forgets the member and its addresses, if present.
    pub(super) fn remove_node(&mut self, node: NodeId) -> Change {
        self.members.remove(&node);
        self.addresses.remove(&node);
        Change::NodeRemoved { node }
    }

    /// `SetNodeState`: records an operator's declared state for a member.
    pub(super) fn set_node_state(
        &mut self,
        node: NodeId,
        state: DeclaredState,
    ) -> Result<Change, CommandError> {
        let Some(member) = self.members.get_mut(&node) else {
            return Err(CommandError::UnknownNode { node });
        };
        member.state = state;
        Ok(Change::NodeStateChanged { node, state })
    }

    /// `SetHealth`: records the leader's judgement of a member's liveness.
    pub(super) fn set_health(
        &mut self,
        node: NodeId,
        health: Health,
    ) -> Result<Change, CommandError> {
        let Some(member) = self.members.get_mut(&node) else {
            return Err(CommandError::UnknownNode { node });
        };
        member.health = health;
        Ok(Change::NodeHealthChanged { node, health })
    }

    /// `UpdateReplicas`: adds copies of chunks the index knows, then removes copies. A chunk
    /// keeps its (possibly empty) entry, so a copy found later can still be recorded.
    pub(super) fn update_replicas(
        &mut self,
        add: &[(ChunkId, NodeId)],
        remove: &[(ChunkId, NodeId)],
    ) -> Change {
        let mut added = Vec::new();
        for (chunk, node) in add {
            if self.replicas.get_mut(chunk).is_some_and(|nodes| nodes.insert(*node)) {
                added.push((*chunk, *node));
            }
        }
        let mut removed = Vec::new();
        for (chunk, node) in remove {
            if self.replicas.get_mut(chunk).is_some_and(|nodes| nodes.remove(node)) {
                removed.push((*chunk, *node));
            }
        }
        Change::ReplicasUpdated { added, removed }
    }

    /// The ancestors of `path` (root first) that must become folders: absent ones and tombstoned
    /// files. A live file on the way is `NotAFolder`.
    pub(super) fn missing_ancestors(&self, path: &Path) -> Result<Vec<Path>, CommandError> {
        let mut missing = Vec::new();
        for ancestor in path.ancestors() {
            match self.entries.get(&ancestor) {
                Some(entry) if entry.is_folder() => {}
                Some(entry) if entry.is_live() => {
                    return Err(CommandError::NotAFolder { path: ancestor });
                }
                _ => missing.push(ancestor),
            }
        }
        Ok(missing)
    }

    /// Creates folders at `paths` (parents first), retiring tombstoned files in the way.
    pub(super) fn make_folders(&mut self, paths: &[Path], owner: &UserName) {
        for path in paths {
            self.retire(path);
            self.entries.insert(path.clone(), Entry::folder(owner.clone()));
        }
    }

    /// The owner of the region `path` is in: the owner of the nearest existing folder at or
    /// above it (see `meta::access`).
    pub(super) fn region_owner(&self, path: &Path) -> UserName {
        std::iter::once(path.clone())
            .chain(path.ancestors().into_iter().rev())
            .find_map(|at| self.entries.get(&at).filter(|entry| entry.is_folder()))
            .map_or_else(|| self.root_owner(), |folder| folder.owner.clone())
    }

    /// The owner name recorded on the root folder.
    fn root_owner(&self) -> UserName {
        self.entries.get(&Path::root()).map_or(UserName("admin".to_owned()), |e| e.owner.clone())
    }

    /// Drops the tombstoned file at `path`, if any, remembering its last version number.
    pub(super) fn retire(&mut self, path: &Path) {
        if let Some(Entry { kind: EntryKind::File(record), .. }) = self.entries.get(path) {
            assert!(record.is_deleted(), "meta: only a tombstoned file is retired ({path})");
            let latest = record.latest_version();
            self.remember_number(path, latest);
            self.entries.remove(path);
        }
    }

    /// The live file at `path`, for changing it.
    fn live_file_mut(&mut self, path: &Path) -> Result<&mut FileRecord, CommandError> {
        match self.entries.get_mut(path).map(|entry| &mut entry.kind) {
            Some(EntryKind::File(record)) if !record.is_deleted() => Ok(record),
            Some(EntryKind::Folder) => Err(CommandError::IsFolder { path: path.clone() }),
            _ => Err(CommandError::NotFound { path: path.clone() }),
        }
    }
}

/// Chunk lengths must be non-zero and add up to the declared size (an empty file has no chunks).
pub(super) fn check_content(content: &Content) -> Result<(), CommandError> {
    if content.chunks.iter().any(|chunk| chunk.len_bytes == 0) {
        return Err(CommandError::BadContent(ContentProblem::EmptyChunk));
    }
    let total_bytes = content
        .chunks
        .iter()
        .try_fold(0_u64, |sum, chunk| sum.checked_add(u64::from(chunk.len_bytes)));
    if total_bytes != Some(content.size_bytes) {
        return Err(CommandError::BadContent(ContentProblem::SizeMismatch));
    }
    Ok(())
}

/// Checks `precondition` against the live latest version `found` (`None`: nothing live there).
fn check_precondition(
    path: &Path,
    precondition: Precondition,
    found: Option<Version>,
) -> Result<(), CommandError> {
    let holds = match precondition {
        Precondition::None => true,
        Precondition::Absent => found.is_none(),
        Precondition::Version(expected) => found == Some(expected),
    };
    if holds {
        Ok(())
    } else {
        Err(CommandError::VersionConflict { path: path.clone(), expected: precondition, found })
    }
}

/// The version after `version`. A path cannot reach `u64::MAX` versions (one per log entry).
fn next_version(version: Version) -> Version {
    Version(version.0 + 1)
}
