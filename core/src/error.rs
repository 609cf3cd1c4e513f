//! Errors, split by who is at fault (STYLE "Errors", after rustls): [`WireError`] when a peer sent
//! garbage, [`CommandError`] for a client (each variant says what to do), [`ConfigError`] for the
//! operator. No `io::Error` here: disk trouble reaches core as a `JobFault`.

use serde::{Deserialize, Serialize};

use crate::auth::Need;
use crate::command::Precondition;
use crate::ids::{ChunkId, LogIndex, NodeId, UserName, Version};
use crate::path::{Path, PathError};

/// A frame or message from a peer could not be decoded. The connection's bytes are dropped and
/// counted; the node never panics on them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than the header or the declared payload length.
    #[error("frame is short: need {needed_bytes} bytes, have {have_bytes}")]
    Short {
        /// Bytes needed to make progress.
        needed_bytes: usize,
        /// Bytes available.
        have_bytes: usize,
    },
    /// The frame does not start with the dfs magic.
    #[error("bad magic {found:02x?}: not a dfs peer")]
    BadMagic {
        /// The first four bytes received.
        found: [u8; 4],
    },
    /// A protocol version this build does not speak.
    #[error("unknown wire version {found} (this node speaks {supported})")]
    UnknownVersion {
        /// The version in the frame.
        found: u16,
        /// The version this build speaks.
        supported: u16,
    },
    /// The declared payload is larger than the configured maximum.
    #[error("frame of {len_bytes} bytes exceeds the maximum of {max_bytes}")]
    Oversized {
        /// The declared payload length.
        len_bytes: u64,
        /// The maximum accepted.
        max_bytes: u64,
    },
    /// The payload is not a valid message.
    #[error("payload is not a valid message")]
    BadPayload,
    /// Bytes remain after a complete frame passed to a whole-frame decoder.
    #[error("{extra_bytes} bytes after the end of the frame")]
    TrailingBytes {
        /// How many.
        extra_bytes: usize,
    },
}

/// Why a client command was refused or did not complete. Client-visible; each variant says what
/// the client should do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CommandError {
    /// This node cannot take the command; send it to the leader.
    #[error("{}", not_leader_message(*leader_hint))]
    NotLeader {
        /// The leader as this node last knew it.
        leader_hint: Option<NodeId>,
    },
    /// No leader is known (an election is running); retry shortly.
    #[error("no leader is known; retry shortly")]
    NoLeader,
    /// The command was not seen to commit in time. It may still apply: retry with the same
    /// idempotency key, or read before retrying.
    #[error("not committed in time; the outcome is unknown, retry idempotently")]
    Timeout,
    /// Too many commands are waiting for commit on this node; retry after a back-off.
    #[error("too many commands in flight (max {max}); retry later")]
    Overloaded {
        /// The node's limit.
        max: usize,
    },
    /// The path is malformed.
    #[error("invalid path: {0}")]
    InvalidPath(PathError),
    /// Nothing lives at this path.
    #[error("{path}: not found")]
    NotFound {
        /// The path.
        path: Path,
    },
    /// Something already lives at this path.
    #[error("{path}: already exists")]
    AlreadyExists {
        /// The path.
        path: Path,
    },
    /// The precondition did not hold; re-read and retry with the current version.
    #[error("{}", conflict_message(path, expected, found))]
    VersionConflict {
        /// The path.
        path: Path,
        /// What the command required.
        expected: Precondition,
        /// The live version, `None` when absent.
        found: Option<Version>,
    },
    /// A file operation named a folder.
    #[error("{path}: is a folder")]
    IsFolder {
        /// The path.
        path: Path,
    },
    /// A folder operation named a file, or a parent of the path is a file.
    #[error("{path}: is a file, not a folder")]
    NotAFolder {
        /// The path.
        path: Path,
    },
    /// Only empty folders can be deleted.
    #[error("{path}: folder is not empty")]
    FolderNotEmpty {
        /// The path.
        path: Path,
    },
    /// The root folder cannot be deleted or replaced.
    #[error(
        "the root folder / cannot be deleted, moved or written; delete or move what is in it \
         instead"
    )]
    RootImmutable,
    /// The file has no such version (never written, or removed by retention).
    #[error("{path}: no version {version}")]
    VersionNotFound {
        /// The path.
        path: Path,
        /// The missing version.
        version: Version,
    },
    /// The file has no checkpoint of that name, or the name is already taken.
    #[error("{path}: checkpoint {name:?} {problem}")]
    Checkpoint {
        /// The path.
        path: Path,
        /// The checkpoint's name.
        name: String,
        /// What is wrong with it.
        problem: CheckpointProblem,
    },
    /// The chunk list does not add up to the declared size, or is malformed.
    #[error("content is inconsistent: {0}")]
    BadContent(ContentProblem),
    /// The node is not a cluster member.
    #[error("{node} is not a member")]
    UnknownNode {
        /// The node.
        node: NodeId,
    },
    /// The node is already a member with that role.
    #[error("{node} is already a member")]
    AlreadyMember {
        /// The node.
        node: NodeId,
    },
    /// The membership change would leave the cluster without a voter, or raft refused it.
    #[error("membership change refused: it would leave no voter or conflicts with the current configuration")]
    MembershipRefused,
    /// Removing the node would leave chunks below the replication factor: drain it first.
    #[error("{}", not_drained_message(*node, *chunks, *sole, *replication_factor))]
    NotDrained {
        /// The node.
        node: NodeId,
        /// Chunks it holds that would have fewer than `replication_factor` counted copies
        /// (on active members) without it.
        chunks: usize,
        /// Of those, the chunks with no counted copy anywhere else.
        sole: usize,
        /// Copies kept of every chunk.
        replication_factor: usize,
    },
    /// This node was removed from the cluster: it takes no client commands.
    #[error("{node} was removed from the cluster: it takes no writes and no consistent reads; use another node")]
    Removed {
        /// This node.
        node: NodeId,
    },
    /// Another membership change has not finished; retry after it commits.
    #[error("another membership change is in progress; retry shortly")]
    MembershipChangeInProgress,
    /// A move's destination is the source itself or lies inside it.
    #[error("cannot move {from} into itself ({to})")]
    MoveIntoItself {
        /// The source.
        from: Path,
        /// The destination, inside the source.
        to: Path,
    },
    /// The user lacks the permission on the path (no owner, admin or grant gives it).
    #[error("{}", forbidden_message(user, path, need))]
    Forbidden {
        /// The user.
        user: UserName,
        /// The path.
        path: Path,
        /// What was missing.
        need: Need,
    },
    /// A cluster operation or user management by a user who is not an admin.
    #[error("{user} is not an admin: {what} needs an admin token")]
    AdminOnly {
        /// The user.
        user: UserName,
        /// What was asked (e.g. "adding a node").
        what: String,
    },
    /// No (current) user has this name.
    #[error("no user is named {user}; see dfs user list")]
    UnknownUser {
        /// The name.
        user: UserName,
    },
    /// The name is taken, now or by a removed user (names are never reused).
    #[error("user {user} already exists or existed (names are never reused); pick another name")]
    UserExists {
        /// The name.
        user: UserName,
    },
    /// Not a valid user name.
    #[error("{name:?} is not a valid user name: 1 to 32 of a-z 0-9 _ -, starting with a letter or digit")]
    InvalidUserName {
        /// What was given.
        name: String,
    },
    /// Removing this user would leave no admin.
    #[error("{user} is the last admin; add another admin before removing it")]
    LastAdmin {
        /// The user.
        user: UserName,
    },
    /// No user can be added before the first admin is recorded (it is, within moments of the
    /// first leader's election); retry shortly.
    #[error("the first admin is not recorded yet; retry shortly")]
    NotBootstrapped,
    /// The first admin is already recorded (a bootstrap raced another one).
    #[error("the user table is not empty; the first admin is already recorded")]
    AlreadyBootstrapped,
    /// The idempotency key was already used by this user on this path for a different request
    /// (other content or conditions); nothing was written. Use a fresh key for a new write.
    #[error("idempotency key {key:?} was already used by {user} on {path} for a different request (other content or conditions); nothing was written. Use a fresh key for each new write: a key is remembered for {window} log indexes")]
    IdempotencyKeyReused {
        /// The user.
        user: UserName,
        /// The path.
        path: Path,
        /// The key.
        key: String,
        /// How many log indexes a key is remembered for.
        window: u64,
    },
    /// Some chunk of an upload cannot have `needed` durable copies; nothing was committed.
    #[error("{chunks} chunk(s) short of the write quorum of {needed} durable copies (e.g. {example} has {copies}); nothing was committed")]
    InsufficientReplicas {
        /// Chunks short of the quorum.
        chunks: usize,
        /// Durable copies the quorum asks for.
        needed: usize,
        /// One of them.
        example: ChunkId,
        /// Its durable copies.
        copies: usize,
    },
    /// No member can receive chunks (none is active, up and known).
    #[error("no member can receive chunks yet")]
    NoStorageNodes,
    /// A linearizable read could not confirm with the leader in time (a partition, a slow
    /// leader); nothing was read. Retry, or read with `stale=true` to accept this node's replica.
    #[error(
        "the read could not be confirmed with the leader in time; retry (or read with stale=true)"
    )]
    ReadTimeout,
    /// This node stopped applying the log at `index`: a committed entry it cannot decode (a
    /// divergence from its peers). It serves no reads and takes no commands; use another node.
    #[error("this node stopped applying at log index {index}: a committed entry it cannot decode; use another node")]
    Halted {
        /// The entry it could not apply.
        index: LogIndex,
    },
    /// No S3 access key has this id.
    #[error("no access key {id:?}")]
    UnknownAccessKey {
        /// The id.
        id: String,
    },
    /// An S3 access key with this id exists already (or the id or secret is malformed).
    #[error("access key {id:?} exists already or is malformed")]
    BadAccessKey {
        /// The id.
        id: String,
    },
    /// S3 object metadata over its limits; nothing was written.
    #[error("object metadata refused: {0}")]
    BadObjectMeta(crate::s3::MetaProblem),
    /// An S3 multipart operation refused (no such upload, a bad part list...); nothing changed.
    #[error("multipart upload refused: {0}")]
    Multipart(crate::s3::multipart::MultipartProblem),
    /// A command that no node proposes in this shape (a `PutObject` wrapping something other
    /// than a `PutVersion`).
    #[error("malformed command")]
    MalformedCommand,
    /// A node's addresses were refused (`crate::membership`).
    #[error("node addresses refused: {0}")]
    BadNodeAddrs(crate::membership::JoinRefused),
    /// The version is named by a checkpoint, which keeps it: it cannot be removed.
    #[error("{path}: version {} is kept by checkpoint {name:?} and cannot be removed", version.0)]
    VersionCheckpointed {
        /// The file.
        path: Path,
        /// The version.
        version: Version,
        /// A checkpoint naming it.
        name: String,
    },
    /// The file is not deleted, or was deleted by another delete than the one named (its
    /// tombstone, the S3 delete marker, is not that one).
    #[error("{path} has no such delete marker")]
    NoDeleteMarker {
        /// The file.
        path: Path,
    },
}

/// The message of a `NotLeader`: where to retry.
fn not_leader_message(leader_hint: Option<NodeId>) -> String {
    match leader_hint {
        Some(leader) => format!("not the leader; retry on {leader}"),
        None => "not the leader, and no leader is known yet; retry shortly".to_owned(),
    }
}

/// The message of a `NotDrained`: what removing the node would leave short, and what to do.
fn not_drained_message(node: NodeId, chunks: usize, sole: usize, rf: usize) -> String {
    let others = match sole {
        0 => format!("each has other copies, but fewer than {rf} without {node}"),
        n if n == chunks => format!("{node} holds their only copies on active members"),
        n => format!("{n} of them have no copy on another active member"),
    };
    format!(
        "removing {node} would leave {chunks} chunk(s) with fewer than {rf} copies on active members ({others}); drain it first (dfs node drain {id}), which copies them to the other members",
        id = node.0
    )
}

/// The message of a `Forbidden`: who lacks what on which path, and how to get it.
fn forbidden_message(user: &UserName, path: &Path, need: &Need) -> String {
    let how = match need {
        Need::Read => format!("an owner or admin can grant it: dfs acl add {path} {user} r"),
        Need::Write => format!("an owner or admin can grant it: dfs acl add {path} {user} w"),
        Need::Manage => {
            return format!(
                "{user} may not {need} {path}: only its owner (or the owner of the folders above \
                 it, up to a folder owned by someone else) or an admin can"
            )
        }
        Need::Move => {
            return format!(
                "{user} may not {need} {path}: moving needs ownership of what moves (its owner, \
                 or the owner of the folders above it up to a folder owned by someone else) or \
                 an admin"
            )
        }
    };
    format!("{user} may not {need} {path}: no grant on it or on a folder above it; {how}")
}

/// The message of a `VersionConflict`: what was expected and what the path holds now.
fn conflict_message(path: &Path, expected: &Precondition, found: &Option<Version>) -> String {
    let wanted = match expected {
        Precondition::None => "anything".to_owned(),
        Precondition::Absent => "nothing there".to_owned(),
        Precondition::Version(version) => format!("version {}", version.0),
    };
    let current = match found {
        Some(version) => format!("the current version is {}", version.0),
        None => "there is no live file (current version: none)".to_owned(),
    };
    format!("{path}: version conflict: expected {wanted}, but {current}; re-read and retry")
}

/// What is wrong with a checkpoint name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CheckpointProblem {
    /// No checkpoint has that name.
    #[error("does not exist")]
    NotFound,
    /// Another version already has that name.
    #[error("already names another version")]
    Taken,
    /// Empty, too long, or holding `/` or NUL.
    #[error("is not a valid name")]
    InvalidName,
}

/// What is wrong with a version's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ContentProblem {
    /// The chunk lengths do not add up to `size_bytes`.
    #[error("chunk lengths do not add up to the declared size")]
    SizeMismatch,
    /// A chunk of length zero.
    #[error("a chunk is empty")]
    EmptyChunk,
}

/// A configuration value is out of range or inconsistent; the message names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A node id of 0 (raft reserves it).
    #[error("node id must not be 0")]
    ZeroNodeId,
    /// A field is out of its allowed range.
    #[error("{field} must be {requirement}")]
    OutOfRange {
        /// The config field.
        field: &'static str,
        /// What it must be.
        requirement: &'static str,
    },
    /// The recovered state cannot be used (corrupt snapshot, log gap).
    #[error("recovered state is unusable: {0}")]
    Recovered(&'static str),
}
