//! The replicated namespace (DESIGN §1 `meta`; §2 "single namespace", "versions", "delete",
//! "access control", "cluster of N nodes"): folders, files with immutable versions, tombstones,
//! owners, grants and cluster members. Every replica applies the same committed [`Command`]s in log
//! order with [`Namespace::apply`] and reaches the same state, byte for byte ([`Namespace::digest`]).
//!
//! Rules (each decided the way a production file store would; the tests pin them down):
//! - **Determinism.** No clock, RNG or I/O; only `BTreeMap`s. Timestamps come in with the command.
//! - **All or nothing.** A command is validated completely before anything changes, so an `Err`
//!   changes nothing but the applied index (every replica records the same refusal).
//! - **Log order.** `apply`/`advance` assert that indexes strictly increase: a replayed index is a
//!   bug in the caller, not input.
//! - **Folders** are created with their missing parents (`mkdir -p`). `CreateFolderIn` (what nodes
//!   propose) gives each new folder the owner of the folder it is made in, except the leaf an
//!   admin names an owner for; the older `CreateFolder` gives them all to its owner (kept for old
//!   log entries). A put's or a move's missing parents also take the owner of the folder above.
//!   Only folders with no live children can be deleted; the root can never be deleted or written.
//! - **Access** follows ownership *regions* (see `access`): an owner's rights and the grants set
//!   above stop at a folder owned by someone else.
//! - **Versions** of a path are numbered from 1 and never repeat, even across delete and re-create:
//!   a put on a tombstoned file continues its numbering. A file keeps its versions as the replicated
//!   retention setting says ([`Settings::keep_versions`], set by `SetRetention`; 0, the default,
//!   keeps all): each put or revert drops the versions older than the newest K that no checkpoint
//!   names. A delete tombstones a file ([`Tombstone`]), keeping its history readable by
//!   [`Namespace::version`]/[`Namespace::checkpoint`] (like a versioned object store), while
//!   [`Namespace::latest`], [`Namespace::children`] and every write treat it as absent.
//! - **Reviving** a tombstoned file by a put, or by a revert to one of its kept versions, makes the
//!   author its owner and clears its grants: the new file must not inherit the access list of a
//!   deleted one. Its checkpoints are kept.
//! - **Retiring.** A tombstoned file whose path is needed for a folder (an explicit `CreateFolder`,
//!   a missing parent of a put, or a folder delete that would orphan it) is dropped, history and
//!   checkpoints included (its chunks become garbage for GC); only its last version number is
//!   remembered so the numbering still never repeats if a file comes back there.
//! - **Removing a version** (`RemoveVersion`, S3's DeleteObject with a version id) drops one
//!   kept version for good, or a deleted file's tombstone (making it live again); the rules are
//!   in the `versions` module. Numbers of removed versions are never given out again.
//! - **Moves** re-key a live file (with its versions and checkpoints) or a folder with everything
//!   under it in one command, creating the missing parents of the destination. Refused for the
//!   root, a missing source, a live destination, or a destination inside the source. A tombstoned
//!   file at the destination is retired; the moved history keeps its numbers, and the old paths
//!   remember their last version numbers (a file put there later continues them).
//! - **Recursive deletes** tombstone a live file, or remove a folder with everything under it in
//!   one command: its live files are tombstoned and, like every file under a removed folder,
//!   retired (their history goes with the folder).
//! - **Preconditions.** `None` always holds; `Absent` holds when no live file or folder is at the
//!   path; `Version(v)` holds when a live file's latest version is `v`. A folder has no version:
//!   a delete of a folder with any precondition but `None` is a `VersionConflict` with `found: None`.
//! - **Membership** commands mirror raft conf changes that have already happened, so `AddNode` and
//!   `RemoveNode` never fail. `AddNode` on a member changes only its role (state and `added_at` stay).
//! - **Idempotency keys** of puts are scoped to (author, path) and bound to the request's
//!   fingerprint: an identical retry gets the first outcome, any other reuse is refused
//!   (`IdempotencyKeyReused`); a key is remembered for [`IDEMPOTENCY_WINDOW`] log indexes.
//! - **Snapshots** are postcard, prefixed by a format byte; [`Namespace::restore`] re-checks every
//!   structural invariant ([`Namespace::check_invariants`]) and never panics on bad bytes.

mod access;
mod addresses;
mod apply;
mod idempotency;
mod multipart;
mod query;
mod retention;
mod reuse;
mod s3;
mod snapshot;
#[cfg(test)]
mod tests;
mod tree;
mod users;
mod versions;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::command::{Access, Change, Command, Content, DeclaredState, MemberRole};
use crate::error::CommandError;
use crate::health::Health;
use crate::ids::{ChunkId, LogIndex, NodeId, UnixMillis, UserName, Version};
use crate::path::Path;

pub use access::{GrantLine, Level};
pub use apply::is_valid_checkpoint_name;
pub use query::ChildrenPage;
pub use snapshot::{InvariantViolation, SnapshotError, SNAPSHOT_FORMAT, SNAPSHOT_FORMAT_OLDEST};
pub use tree::TreeCounts;
pub use users::User;

/// How many log indexes an idempotency key is remembered for: a retry must arrive within this
/// many commands of the first attempt. Keys are scoped to (author, path) and bound to the request
/// (see the `idempotency` module).
pub const IDEMPOTENCY_WINDOW: u64 = 100_000;

/// Longest accepted checkpoint name, in bytes.
pub const CHECKPOINT_NAME_BYTES_MAX: usize = 128;

/// The replicated namespace: folders, files with immutable versions, tombstones, owners, grants,
/// members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    // INVARIANT: holds the root, which is a folder; every other entry's parent is in the map and is
    // a folder (so folders are never tombstoned and tombstoned files never have children).
    entries: BTreeMap<Path, Entry>,
    // INVARIANT: the last version number used by each path whose file record was retired, or,
    // for a path that holds a file, a number above its latest (versions removed from the top of
    // its history, see `versions`); a put there removes the path from this map.
    retired: BTreeMap<Path, Version>,
    members: BTreeMap<NodeId, Member>,
    // Where durable copies of each chunk are, as recorded by the writes (and later repairs).
    replicas: BTreeMap<ChunkId, BTreeSet<NodeId>>,
    // INVARIANT: the same scopes as `idempotency_order`; only keys applied within the last
    // IDEMPOTENCY_WINDOW log indexes are kept.
    idempotency: BTreeMap<idempotency::KeyScope, idempotency::Remembered>,
    idempotency_order: BTreeMap<LogIndex, idempotency::KeyScope>,
    // INVARIANT: strictly increases with every apply/advance.
    applied: LogIndex,
    // INVARIANT: the number of entries that are live files; derived, recomputed by `restore`.
    live_files: usize,
    // Cluster-wide settings changed by commands (retention).
    settings: Settings,
    // INVARIANT: every key is a valid user name; removed users stay (their names are never
    // reused).
    users: BTreeMap<UserName, User>,
    // S3 access keys and object metadata (snapshot format 6), multipart uploads (format 7).
    s3: s3::S3Tables,
    // Where nodes listen, recorded through raft (snapshot format 7); a removed member's entry
    // goes with it.
    addresses: BTreeMap<NodeId, crate::membership::MemberAddrs>,
}

/// Cluster-wide namespace settings, replicated like everything else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Versions kept per file, the latest included, besides checkpointed ones; 0 keeps all.
    pub keep_versions: u32,
}

/// A folder or a file (live or tombstoned), with its owner and grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Who owns it: the creator of a folder, the author of a file's first version.
    pub owner: UserName,
    /// Access granted to other users.
    pub grants: BTreeMap<UserName, Access>,
    /// Folder or file.
    pub kind: EntryKind,
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// A folder; its children are the entries whose parent is its path.
    Folder,
    /// A file and its history.
    File(FileRecord),
}

/// A file's history: its versions, its checkpoints and whether it is deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Every kept version, oldest first; never empty, version numbers strictly increasing.
    pub versions: Vec<VersionRecord>,
    /// Set while the file is deleted.
    pub deleted: Option<Tombstone>,
    /// Named versions, by name; each names a version in `versions`.
    pub checkpoints: BTreeMap<String, Version>,
}

/// The record that a file was deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// The last version before the delete.
    pub version: Version,
    /// When the receiving node accepted the delete.
    pub deleted_at: UnixMillis,
    /// The log index of the delete.
    pub index: LogIndex,
}

/// One immutable version of a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Its number, unique per path.
    pub version: Version,
    /// Its chunks, size and hash.
    pub content: Content,
    /// Who wrote it (or asked for the revert that made it).
    pub author: UserName,
    /// When the receiving node accepted the write.
    pub created_at: UnixMillis,
    /// The log index of the command that created it.
    pub index: LogIndex,
}

/// A cluster member as the namespace records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Voter or learner.
    pub role: MemberRole,
    /// What an operator declared for it.
    pub state: DeclaredState,
    /// The log index at which it joined.
    pub added_at: LogIndex,
    /// Its liveness as last committed by a leader.
    pub health: Health,
}

impl Entry {
    /// Whether this is a folder or a file that is not deleted.
    pub fn is_live(&self) -> bool {
        match &self.kind {
            EntryKind::Folder => true,
            EntryKind::File(record) => record.deleted.is_none(),
        }
    }

    /// Whether this is a folder.
    pub fn is_folder(&self) -> bool {
        matches!(self.kind, EntryKind::Folder)
    }

    /// The file record, if this is a file (live or tombstoned).
    pub fn file(&self) -> Option<&FileRecord> {
        match &self.kind {
            EntryKind::Folder => None,
            EntryKind::File(record) => Some(record),
        }
    }

    /// A new folder entry.
    fn folder(owner: UserName) -> Self {
        Self { owner, grants: BTreeMap::new(), kind: EntryKind::Folder }
    }
}

impl FileRecord {
    /// The newest version; `None` only for a record not built by a [`Namespace`].
    pub fn latest(&self) -> Option<&VersionRecord> {
        self.versions.last()
    }

    /// The newest version's number (0 only for a record not built by a [`Namespace`]).
    pub fn latest_version(&self) -> Version {
        self.latest().map_or(Version(0), |record| record.version)
    }

    /// The record of version `version`, if kept.
    pub fn version(&self, version: Version) -> Option<&VersionRecord> {
        // Versions are strictly increasing, so a binary search finds it.
        let at = self.versions.binary_search_by_key(&version, |record| record.version).ok()?;
        self.versions.get(at)
    }

    /// Whether the file is deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self::new()
    }
}

impl Namespace {
    /// An empty namespace: just the root folder (owner `UserName("admin")`), no members, applied
    /// index 0.
    pub fn new() -> Self {
        let mut entries = BTreeMap::new();
        entries.insert(Path::root(), Entry::folder(UserName("admin".to_owned())));
        Self {
            entries,
            retired: BTreeMap::new(),
            members: BTreeMap::new(),
            replicas: BTreeMap::new(),
            idempotency: BTreeMap::new(),
            idempotency_order: BTreeMap::new(),
            applied: LogIndex(0),
            live_files: 0,
            settings: Settings::default(),
            users: BTreeMap::new(),
            s3: s3::S3Tables::default(),
            addresses: BTreeMap::new(),
        }
    }

    /// The namespace every initial member of a new cluster starts from: the root folder and these
    /// voters (`Voter`, `Active`, added at index 1), applied index `LogIndex(1)`.
    pub fn bootstrap(voters: &[NodeId]) -> Self {
        let mut namespace = Self::new();
        let added_at = LogIndex(1);
        for &node in voters {
            let member = Member {
                role: MemberRole::Voter,
                state: DeclaredState::Active,
                added_at,
                health: Health::Up,
            };
            namespace.members.insert(node, member);
        }
        namespace.applied = added_at;
        namespace
    }

    /// Applies the command committed at `index`. Deterministic: the same state and the same
    /// `(index, command)` give the same result and the same new state on every replica. An `Err`
    /// changes nothing but the applied index.
    ///
    /// # Panics
    /// If `index` is not greater than [`Namespace::applied_index`] (the caller replayed the log).
    pub fn apply(&mut self, index: LogIndex, command: &Command) -> Result<Change, CommandError> {
        self.advance(index);
        match command {
            Command::CreateFolder { path, owner } => self.create_folder(path, owner),
            Command::PutVersion { .. } => self.apply_put(index, command),
            Command::Delete { path, precondition, deleted_at } => {
                self.delete(index, path, *precondition, *deleted_at)
            }
            Command::Checkpoint { path, name, version } => {
                self.checkpoint_version(path, name, *version)
            }
            Command::Revert { path, to, author, created_at } => {
                self.revert(index, path, *to, author, *created_at)
            }
            Command::SetGrant { path, user, access } => self.set_grant(path, user, *access),
            Command::AddNode { node, role } => Ok(self.add_node(index, *node, *role)),
            Command::RemoveNode { node } => Ok(self.remove_node(*node)),
            Command::SetNodeState { node, state } => self.set_node_state(*node, *state),
            Command::SetHealth { node, health } => self.set_health(*node, *health),
            Command::UpdateReplicas { add, remove } => Ok(self.update_replicas(add, remove)),
            Command::Move { from, to } => self.move_entry(from, to),
            Command::DeleteRecursive { path, deleted_at } => {
                self.delete_recursive(index, path, *deleted_at)
            }
            Command::SetRetention { keep_versions } => Ok(self.set_retention(*keep_versions)),
            Command::Barrier => Ok(Change::Barrier),
            Command::AddUser { user, credential, admin } => {
                self.add_user(user, *credential, *admin)
            }
            Command::RemoveUser { user } => self.remove_user(user),
            Command::BootstrapAdmin { user, credential } => self.bootstrap_admin(user, *credential),
            Command::CreateFolderIn { path, owner } => self.create_folder_in(path, owner.as_ref()),
            Command::PutObject { put, meta } => self.put_object(index, put, meta),
            Command::AddAccessKey { key } => self.add_access_key(key),
            Command::RemoveAccessKey { id } => self.remove_access_key(id),
            Command::SetNodeAddrs { node, addrs } => self.set_node_addrs(*node, *addrs),
            Command::RemoveVersion { path, target, author } => {
                self.remove_version(path, *target, author)
            }
            Command::CreateMultipartUpload { path, initiator, created_at, headers } => {
                self.create_upload(index, path, initiator, *created_at, headers)
            }
            Command::PutPart { path, upload, number, part, replicas } => {
                self.put_part(path, *upload, *number, part, replicas)
            }
            Command::CompleteMultipartUpload {
                path,
                upload,
                parts,
                content,
                etag,
                author,
                created_at,
            } => {
                let done = multipart::Completion {
                    path,
                    upload: *upload,
                    parts,
                    content,
                    etag,
                    author,
                    created_at: *created_at,
                };
                self.complete_upload(index, &done)
            }
            Command::AbortMultipartUpload { path, upload } => self.abort_upload(path, *upload),
        }
    }

    /// Applies a `PutVersion` (on its own or inside a `PutObject`); anything else is refused.
    fn apply_put(&mut self, index: LogIndex, command: &Command) -> Result<Change, CommandError> {
        match command {
            Command::PutVersion {
                path,
                precondition,
                content,
                author,
                created_at,
                replicas,
                idempotency_key,
            } => {
                let keyed = idempotency_key.as_ref().map(|key| {
                    let scope = (author.clone(), path.clone(), key.clone());
                    (scope, idempotency::fingerprint(path, *precondition, content))
                });
                if let Some(first) =
                    keyed.as_ref().and_then(|(scope, print)| self.recall(scope, *print))
                {
                    return first;
                }
                let write = apply::Write { index, content, author, created_at: *created_at };
                let change = self.put_version(path, *precondition, write)?;
                self.record_replicas(content, replicas);
                if let Some((scope, fingerprint)) = keyed {
                    let change = change.clone();
                    self.remember(scope, idempotency::Remembered { index, fingerprint, change });
                }
                Ok(change)
            }
            _ => Err(CommandError::MalformedCommand),
        }
    }

    /// Adds the copies a write made of its chunks to the chunk index (chunks it does not
    /// reference are ignored).
    fn record_replicas(
        &mut self,
        content: &Content,
        replicas: &BTreeMap<ChunkId, BTreeSet<NodeId>>,
    ) {
        for chunk in &content.chunks {
            if let Some(nodes) = replicas.get(&chunk.id) {
                self.replicas.entry(chunk.id).or_default().extend(nodes.iter().copied());
            }
        }
    }

    /// Records that `index` was applied without a command (raft's empty entries).
    ///
    /// # Panics
    /// If `index` is not greater than [`Namespace::applied_index`].
    pub fn advance(&mut self, index: LogIndex) {
        assert!(
            index > self.applied,
            "meta: log index {index} applied after {} (indexes must strictly increase)",
            self.applied
        );
        self.applied = index;
    }

    /// The last applied log index.
    pub fn applied_index(&self) -> LogIndex {
        self.applied
    }
}
