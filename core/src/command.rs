//! What clients ask the replicated namespace to do (DESIGN §2 "single namespace", "write",
//! "versions", "delete", "access control", "cluster of N nodes"), and what each change was.
//! A [`Command`] is proposed through raft; every replica applies it with `meta::Namespace::apply`
//! and gets the same [`Change`] or the same `CommandError`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::auth::Credential;
use crate::health::Health;
use crate::ids::{ChunkId, Hash, LogIndex, NodeId, UnixMillis, UserName, Version};
use crate::membership::MemberAddrs;
use crate::path::Path;

/// A request to change the namespace or the cluster membership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Command {
    /// Create a folder (and any missing parent folders), all owned by `owner`. Kept for the log
    /// entries written before [`Command::CreateFolderIn`]; nodes no longer propose it.
    CreateFolder {
        /// The folder to create.
        path: Path,
        /// Who will own it and its missing parents.
        owner: UserName,
    },
    /// Commit a new immutable version of a file whose chunks are already stored.
    PutVersion {
        /// The file.
        path: Path,
        /// What must hold for the write to apply; otherwise `VersionConflict`.
        precondition: Precondition,
        /// The chunks, size and whole-file hash.
        content: Content,
        /// Who wrote it.
        author: UserName,
        /// When the receiving node accepted the request.
        created_at: UnixMillis,
        /// Where each chunk is durable as the write commits (recorded in the chunk index).
        replicas: BTreeMap<ChunkId, BTreeSet<NodeId>>,
        /// The client's key for this write: a retry with the same key (say, on another node
        /// after a lost reply) returns the first outcome instead of writing a second version.
        idempotency_key: Option<IdempotencyKey>,
    },
    /// Tombstone a file, or remove an empty folder.
    Delete {
        /// The file or folder.
        path: Path,
        /// What must hold for the delete to apply.
        precondition: Precondition,
        /// When the receiving node accepted the request.
        deleted_at: UnixMillis,
    },
    /// Give a version of a file a name that retention never removes.
    Checkpoint {
        /// The file.
        path: Path,
        /// The checkpoint's name, unique per file.
        name: String,
        /// The version to name; the latest when `None`.
        version: Option<Version>,
    },
    /// Make an earlier version's content the newest version again (a new version number).
    Revert {
        /// The file.
        path: Path,
        /// The version whose content comes back.
        to: Version,
        /// Who asked.
        author: UserName,
        /// When the receiving node accepted the request.
        created_at: UnixMillis,
    },
    /// Grant (or, with `None`, revoke) a user's access to a file or folder.
    SetGrant {
        /// The file or folder.
        path: Path,
        /// The user.
        user: UserName,
        /// The access granted; `None` revokes.
        access: Option<Access>,
    },
    /// Add a node to the cluster (a raft membership change).
    AddNode {
        /// The new member.
        node: NodeId,
        /// Voter, or learner (receives the log, does not vote).
        role: MemberRole,
    },
    /// Remove a node from the cluster (a raft membership change).
    RemoveNode {
        /// The member to remove.
        node: NodeId,
    },
    /// Record an operator's intent for a node (drain before leaving).
    SetNodeState {
        /// The member.
        node: NodeId,
        /// The declared state.
        state: DeclaredState,
    },
    /// Record a member's liveness as the leader's failure detector judged it.
    SetHealth {
        /// The member.
        node: NodeId,
        /// Its health now.
        health: Health,
    },
    /// Record copies made or dropped by repair, recovery sync, scrub or rebalance.
    UpdateReplicas {
        /// Copies now durable: (chunk, node). Chunks the index does not know are ignored.
        add: Vec<(ChunkId, NodeId)>,
        /// Copies gone or no longer wanted: (chunk, node).
        remove: Vec<(ChunkId, NodeId)>,
    },
    /// Move (rename) a file, with all its versions and checkpoints, or a folder with everything
    /// under it, in one step. Missing parents of `to` are created.
    Move {
        /// The live file or folder to move.
        from: Path,
        /// Where it goes; nothing live may be there, and it may not lie inside `from`.
        to: Path,
    },
    /// Delete a folder and everything under it (or a single file): every live file under it is
    /// tombstoned and every folder removed, in one step.
    DeleteRecursive {
        /// The folder (or file).
        path: Path,
        /// When the receiving node accepted the request.
        deleted_at: UnixMillis,
    },
    /// Set the cluster's version retention: how many of the newest versions of each file are kept
    /// (checkpointed versions are always kept). Applies to a file the next time it is written.
    SetRetention {
        /// Versions kept per file, the latest included; 0 keeps every version.
        keep_versions: u32,
    },
    /// Changes nothing. Earlier builds passed one through the log before a consistent read;
    /// reads now use raft's ReadIndex (`Input::Read`), and nodes no longer propose it, but entries
    /// already in logs still apply.
    Barrier,
    /// Create a user, with the credential of its token (the secret itself is never replicated).
    AddUser {
        /// The new user; the name must be valid and never used before.
        user: UserName,
        /// Salt and digest of its token's secret.
        credential: Credential,
        /// Whether it is an admin.
        admin: bool,
    },
    /// Remove a user: its token stops working and its grants are dropped. Entries it owns keep
    /// its name as owner, and the name is never given to a new user.
    RemoveUser {
        /// The user.
        user: UserName,
    },
    /// Record the first admin from a node's configured admin token; applies only while the user
    /// table is empty (a second leader's attempt is refused and changes nothing).
    BootstrapAdmin {
        /// The admin's name (the token's name part).
        user: UserName,
        /// Salt and digest of the token's secret.
        credential: Credential,
    },
    /// Create a folder and its missing parents, each owned by the owner of the folder it is
    /// created in (the region's owner, see `meta::access`), except the folder at `path` when
    /// `owner` names someone (an admin's `mkdir --owner`). Nodes propose this instead of
    /// [`Command::CreateFolder`], whose missing parents went to the named owner too.
    CreateFolderIn {
        /// The folder to create.
        path: Path,
        /// Who owns the new folder at `path`; `None`: the owner of the folder above.
        owner: Option<UserName>,
    },
    /// An S3 PutObject (issue 18): `put` (a [`Command::PutVersion`]; anything else is refused)
    /// with the object metadata recorded with the version it makes, in the same entry.
    PutObject {
        /// The write.
        put: Box<Command>,
        /// ETag, content headers and user metadata.
        meta: crate::s3::ObjectMeta,
    },
    /// Record an S3 access key for a user (its secret sealed, see `s3::keys`).
    AddAccessKey {
        /// The key.
        key: crate::s3::keys::AccessKey,
    },
    /// Forget an S3 access key: requests signed with it are refused from then on.
    RemoveAccessKey {
        /// The key's id.
        id: String,
    },
    /// Record where a node listens (issue 23, `crate::membership`): every member dials it
    /// there. Proposed by the leader for a node that joins or moved to new ports.
    SetNodeAddrs {
        /// The node.
        node: NodeId,
        /// Its peer and HTTP addresses.
        addrs: MemberAddrs,
    },
    /// Remove one version of a file for good, or its delete marker (S3 DeleteObject with a
    /// `versionId`; the rules are in `meta::versions`). Needs the same grant as a delete.
    RemoveVersion {
        /// The file (live or deleted).
        path: Path,
        /// The version, or the tombstone.
        target: VersionTarget,
        /// Who asked: a file brought back by removing its marker is theirs, like a revived one.
        author: UserName,
    },
    /// S3 CreateMultipartUpload: a new upload at `path` (see `s3::multipart`); its id is the
    /// log index of this entry.
    CreateMultipartUpload {
        /// The object's path.
        path: Path,
        /// Who starts it.
        initiator: UserName,
        /// When the receiving node accepted the request (expiry counts from here).
        created_at: UnixMillis,
        /// Headers for the completed object.
        headers: crate::s3::multipart::UploadHeaders,
    },
    /// S3 UploadPart or UploadPartCopy: records part `number` of an upload, its chunks already
    /// stored at the write quorum (a part uploaded again replaces the earlier one).
    PutPart {
        /// The object's path.
        path: Path,
        /// The upload.
        upload: crate::s3::multipart::UploadId,
        /// The part number.
        number: u32,
        /// Its chunks, size, blake3 and MD5.
        part: crate::s3::multipart::PartRecord,
        /// Where each chunk is durable (recorded in the chunk index).
        replicas: BTreeMap<ChunkId, BTreeSet<NodeId>>,
    },
    /// S3 CompleteMultipartUpload: one version made of the named parts' chunks (no byte is
    /// copied), with the multipart ETag and the upload's headers; the upload is removed.
    CompleteMultipartUpload {
        /// The object's path.
        path: Path,
        /// The upload.
        upload: crate::s3::multipart::UploadId,
        /// The parts, as the client named them.
        parts: Vec<crate::s3::multipart::CompletedPart>,
        /// The object: must be exactly the named parts' chunks; `hash` is the whole blake3,
        /// computed by the proposing node in a read of the parts.
        content: Content,
        /// The multipart ETag (`md5-of-part-md5s-N`); N must be the number of parts.
        etag: String,
        /// Who completes it.
        author: UserName,
        /// When the receiving node accepted the request.
        created_at: UnixMillis,
    },
    /// S3 AbortMultipartUpload, or the expiry of an abandoned upload: it and its parts are
    /// forgotten (their chunks become garbage).
    AbortMultipartUpload {
        /// The object's path.
        path: Path,
        /// The upload.
        upload: crate::s3::multipart::UploadId,
    },
}

/// What a [`Command::RemoveVersion`] removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum VersionTarget {
    /// A kept version, by number.
    Version(Version),
    /// The tombstone of a deleted file (its S3 delete marker), by the log index of the delete:
    /// it must be the file's current tombstone.
    DeleteMarker(LogIndex),
}

impl Command {
    /// Whether this command changes raft membership (applied through a raft conf change).
    pub fn is_membership(&self) -> bool {
        matches!(self, Command::AddNode { .. } | Command::RemoveNode { .. })
    }
}

/// A client-chosen name for one logical write (1 to 128 visible ASCII bytes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Longest accepted key.
    pub const BYTES_MAX: usize = 128;

    /// Validates a key; `None` if empty, too long, or not visible ASCII.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::BYTES_MAX
            && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(raw.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A condition on the current version of a path, checked when the command applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Precondition {
    /// No condition.
    None,
    /// The path must not hold a live file or folder (`--if-absent`, `If-None-Match: *`).
    Absent,
    /// The live file's latest version must be exactly this (`--if-version`, `If-Match`).
    Version(Version),
}

/// The content of one file version: its chunks in order, total size and whole-file hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Content {
    /// The chunks, in file order.
    pub chunks: Vec<ChunkRef>,
    /// Total length in bytes; must equal the sum of the chunk lengths.
    pub size_bytes: u64,
    /// blake3 of the whole file.
    pub hash: Hash,
}

/// One chunk of a version: its address and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ChunkRef {
    /// blake3 of the chunk's bytes.
    pub id: ChunkId,
    /// Length in bytes.
    pub len_bytes: u32,
}

/// A user's access to a file or folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Access {
    /// May read and list.
    Read,
    /// May read, list, write and delete.
    Write,
}

/// How a member takes part in raft.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum MemberRole {
    /// Votes and counts toward the commit quorum.
    Voter,
    /// Receives the log; does not vote.
    Learner,
}

/// What an operator declared for a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum DeclaredState {
    /// Serving and receiving new data.
    Active,
    /// Data is being moved off before the node leaves; it receives no new chunks.
    Draining,
}

/// What one applied command changed: the reply to its client and the change-feed record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A folder now exists (with any parents it needed).
    FolderCreated {
        /// The folder.
        path: Path,
    },
    /// A file has a new latest version (a put or a revert).
    FileWritten {
        /// The file.
        path: Path,
        /// The new version.
        version: Version,
        /// Its size.
        size_bytes: u64,
        /// Its whole-file hash.
        hash: Hash,
        /// Whether the path held no live file before (a new file rather than a new version).
        created: bool,
    },
    /// A file was tombstoned.
    FileDeleted {
        /// The file.
        path: Path,
        /// The last version before the tombstone.
        version: Version,
    },
    /// An empty folder was removed.
    FolderDeleted {
        /// The folder.
        path: Path,
    },
    /// A version was given a checkpoint name.
    CheckpointCreated {
        /// The file.
        path: Path,
        /// The checkpoint's name.
        name: String,
        /// The version named.
        version: Version,
    },
    /// A grant was set or revoked.
    GrantChanged {
        /// The file or folder.
        path: Path,
        /// The user.
        user: UserName,
        /// The new access, `None` when revoked.
        access: Option<Access>,
    },
    /// A node joined the membership.
    NodeAdded {
        /// The member.
        node: NodeId,
        /// Its raft role.
        role: MemberRole,
    },
    /// A node left the membership.
    NodeRemoved {
        /// The former member.
        node: NodeId,
    },
    /// A member's declared state changed.
    NodeStateChanged {
        /// The member.
        node: NodeId,
        /// The new declared state.
        state: DeclaredState,
    },
    /// A member's committed health changed.
    NodeHealthChanged {
        /// The member.
        node: NodeId,
        /// Its health now.
        health: Health,
    },
    /// The chunk replica index changed.
    ReplicasUpdated {
        /// Copies recorded that the index did not list: (chunk, node).
        added: Vec<(ChunkId, NodeId)>,
        /// Copies dropped that the index did list: (chunk, node).
        removed: Vec<(ChunkId, NodeId)>,
    },
    /// A file or folder moved (a folder with everything under it).
    Moved {
        /// Where it was.
        from: Path,
        /// Where it is now.
        to: Path,
        /// Whether it is a folder.
        folder: bool,
    },
    /// A folder and everything under it was deleted (or a single file, by a recursive delete).
    TreeDeleted {
        /// The folder (or file) named by the command.
        path: Path,
        /// Every file tombstoned, with its last version, in path order.
        files: Vec<(Path, Version)>,
        /// Every folder removed, deepest first.
        folders: Vec<Path>,
    },
    /// The retention setting changed.
    RetentionSet {
        /// Versions kept per file; 0 keeps every version.
        keep_versions: u32,
    },
    /// A [`Command::Barrier`] applied.
    Barrier,
    /// A user was created (by an admin, or the first admin at bootstrap).
    UserAdded {
        /// The user.
        user: UserName,
        /// Whether it is an admin.
        admin: bool,
    },
    /// A user was removed.
    UserRemoved {
        /// The user.
        user: UserName,
        /// How many grants naming it were dropped.
        grants_removed: u64,
    },
    /// An S3 access key was recorded.
    AccessKeyAdded {
        /// Its id.
        id: String,
        /// The user it acts as.
        user: UserName,
    },
    /// An S3 access key was removed.
    AccessKeyRemoved {
        /// Its id.
        id: String,
        /// The user it acted as.
        user: UserName,
    },
    /// A node's addresses were recorded (it joined, or moved to new ports).
    NodeAddrsSet {
        /// The node.
        node: NodeId,
        /// Where it listens now.
        addrs: MemberAddrs,
    },
    /// One version of a file was removed for good.
    VersionRemoved {
        /// The file.
        path: Path,
        /// The version removed.
        version: Version,
        /// Whether it was the latest version of a live file (what reads returned).
        was_current: bool,
        /// The live file's latest version now, with its size and hash; `None` when no live file
        /// is left there (the file was deleted, or this was its only version).
        current: Option<(Version, u64, Hash)>,
    },
    /// A deleted file's tombstone was removed: the file is live again at its latest version.
    Undeleted {
        /// The file.
        path: Path,
        /// Its latest version, live again.
        version: Version,
        /// Its size.
        size_bytes: u64,
        /// Its whole-file hash.
        hash: Hash,
    },
    /// An S3 multipart upload was created.
    MultipartCreated {
        /// The object's path.
        path: Path,
        /// The new upload's id.
        upload: crate::s3::multipart::UploadId,
    },
    /// A part of an S3 multipart upload was recorded.
    PartStored {
        /// The object's path.
        path: Path,
        /// The upload.
        upload: crate::s3::multipart::UploadId,
        /// The part number.
        number: u32,
        /// The part's size.
        size_bytes: u64,
    },
    /// An S3 multipart upload was aborted (or expired).
    MultipartAborted {
        /// The object's path.
        path: Path,
        /// The upload.
        upload: crate::s3::multipart::UploadId,
        /// How many parts it had.
        parts: usize,
    },
}

/// A successful reply to a client command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The command committed at `index` and changed this.
    Applied {
        /// The raft log index of the command; also the change-feed position.
        index: LogIndex,
        /// What changed.
        change: Change,
    },
}
