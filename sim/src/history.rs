//! What the workload clients did: every operation with when it was invoked, when it completed and
//! what it returned, for the checkers. Operations on single paths ([`Op`]) are judged per path;
//! operations on the folder tree ([`TreeOp`]) are judged together, the tree being one object.

use std::time::Duration;

/// A version number as the cluster assigns it.
pub type Version = u64;

/// A content hash (blake3, hex).
pub type ContentHash = String;

/// What an operation asked for (`hash` and `size` describe the content a put sends).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Call {
    /// Unconditional put of content with this hash and size.
    Put { hash: ContentHash, size: usize },
    /// Put only if the path is absent (`If-None-Match: *`).
    PutIfAbsent { hash: ContentHash, size: usize },
    /// Put only if the current version is `expect` (`If-Match`).
    PutIfVersion { expect: Version, hash: ContentHash, size: usize },
    /// Delete the file.
    Delete,
    /// An S3 DeleteObject: answered as done whether or not the object was there (in a
    /// versioned bucket it leaves a delete marker).
    Remove,
    /// A default (linearizable) read: `GET /files/{path}`.
    Read,
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Return {
    /// A write took effect as this version.
    Written(Version),
    /// A delete took effect.
    Deleted,
    /// A read saw this version and content.
    Value(Version, ContentHash),
    /// Nothing is there (a read, or a delete of an absent file).
    Absent,
    /// The precondition did not hold; nothing changed.
    Conflict,
    /// No answer, or an error that does not say whether it acted.
    Unknown,
}

/// One operation on one path.
#[derive(Clone, Debug)]
pub struct Op {
    /// The client that ran it.
    pub client: u32,
    /// The path.
    pub path: String,
    /// What it asked.
    pub call: Call,
    /// Simulated time it was sent.
    pub invoked: Duration,
    /// Simulated time its answer arrived (`None` with [`Return::Unknown`]).
    pub completed: Option<Duration>,
    /// What it returned.
    pub ret: Return,
}

/// When an operation ran, for the linearizability search ([`crate::check::search`]).
pub trait Timed {
    /// Simulated time it was sent.
    fn invoked(&self) -> Duration;
    /// Simulated time its answer arrived; `None` when none did (it may have acted or not).
    fn completed(&self) -> Option<Duration>;
}

impl Timed for Op {
    fn invoked(&self) -> Duration {
        self.invoked
    }
    fn completed(&self) -> Option<Duration> {
        self.completed
    }
}

/// An operation on the folder tree (every path absolute).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum TreeCall {
    /// `POST /folders/{path}`: the folder and its missing parents.
    CreateFolder { path: String },
    /// `PUT /files/{path}` of content with this hash and size.
    Put { path: String, hash: ContentHash, size: usize },
    /// `GET /files/{path}` (a default, linearizable read).
    Read { path: String },
    /// `GET /list/{path}` (a default, linearizable listing).
    List { path: String },
    /// `POST /move?from=&to=`.
    Move { from: String, to: String },
    /// `DELETE /files/{path}?recursive=true`.
    DeleteRecursive { path: String },
    /// `DELETE /files/{path}`: a file, or an empty folder.
    Delete { path: String },
}

impl TreeCall {
    /// Whether it only looks (an unanswered look says nothing and is left out of the check).
    pub fn is_read(&self) -> bool {
        matches!(self, Self::Read { .. } | Self::List { .. })
    }
}

/// What one child in a listing is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Child {
    /// A folder.
    Folder,
    /// A file whose latest version has this content.
    File(ContentHash),
}

/// Why a tree operation was refused (the API's error codes the workload can provoke); a refused
/// operation changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// 404 `not_found`: nothing live at the path (or the move's source).
    NotFound,
    /// 409 `already_exists`: a live entry is already at the path (or the move's target).
    AlreadyExists,
    /// 409 `is_folder`: a put or read of a folder.
    IsFolder,
    /// 409 `not_a_folder`: a file where a folder is needed (a parent, or a listed path).
    NotAFolder,
    /// 409 `folder_not_empty`: a plain delete of a folder with live children.
    FolderNotEmpty,
    /// 409 `move_into_itself`: the move's target is its source or inside it.
    MoveIntoItself,
}

impl Refusal {
    /// The refusal an error code names; `None` for codes that do not say the operation was
    /// refused by the namespace (e.g. `no_leader`, `commit_timeout`).
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "not_found" => Self::NotFound,
            "already_exists" => Self::AlreadyExists,
            "is_folder" => Self::IsFolder,
            "not_a_folder" => Self::NotAFolder,
            "folder_not_empty" => Self::FolderNotEmpty,
            "move_into_itself" => Self::MoveIntoItself,
            _ => return None,
        })
    }

    /// The error code.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::IsFolder => "is_folder",
            Self::NotAFolder => "not_a_folder",
            Self::FolderNotEmpty => "folder_not_empty",
            Self::MoveIntoItself => "move_into_itself",
        }
    }
}

/// What a tree operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeReturn {
    /// A change took effect.
    Done,
    /// Refused; nothing changed.
    Refused(Refusal),
    /// A read saw a file with this content.
    File(ContentHash),
    /// A listing: every child's name and kind, in name order.
    Listing(Vec<(String, Child)>),
    /// No answer, or an error that does not say whether it acted.
    Unknown,
}

/// One operation on the folder tree.
#[derive(Clone, Debug)]
pub struct TreeOp {
    /// The client that ran it (0: the probe).
    pub client: u32,
    /// What it asked.
    pub call: TreeCall,
    /// Simulated time it was sent.
    pub invoked: Duration,
    /// Simulated time its answer arrived (`None` with [`TreeReturn::Unknown`]).
    pub completed: Option<Duration>,
    /// What it returned.
    pub ret: TreeReturn,
}

impl Timed for TreeOp {
    fn invoked(&self) -> Duration {
        self.invoked
    }
    fn completed(&self) -> Option<Duration> {
        self.completed
    }
}

/// A keyed put of the idempotency replayer ([`crate::workload::replay`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedOp {
    /// Who sent it.
    pub user: String,
    /// The path it wrote.
    pub path: String,
    /// Its `Idempotency-Key`.
    pub key: String,
    /// The hash of the content it sent.
    pub hash: ContentHash,
    /// What it returned.
    pub ret: KeyedReturn,
}

/// What a keyed put returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyedReturn {
    /// 201: the path, version and content hash the answer names.
    Written {
        /// The answer's path.
        path: String,
        /// The answer's version.
        version: Version,
        /// The answer's content hash.
        hash: ContentHash,
    },
    /// 422 `idempotency_key_reused`.
    Reused,
    /// No answer, or an error that does not say whether it acted.
    Unknown,
}

/// What the chunk thief ([`crate::workload::thief`]) tried in one round, and what it was told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Theft {
    /// The round (its files are named after it).
    pub round: u64,
    /// Whether the admin's secret file of the round was acknowledged (201) before the attempts.
    pub secret_acknowledged: bool,
    /// `POST /chunks/missing` naming the secret's chunk, as the thief: `None` without an answer,
    /// else the status and whether the chunk was listed as missing.
    pub asked: Option<(u16, bool)>,
    /// `POST /commit` of a manifest that sends the thief's own chunk and names the secret's
    /// chunk without sending it: the status, if answered.
    pub stole: Option<u16>,
    /// The admin's consistent read of the path that commit named: the status, if answered.
    pub read_back: Option<u16>,
    /// `POST /commit` sending every chunk but naming a false whole-file hash: the status.
    pub forged: Option<u16>,
}

/// Everything the clients and the probe did in one run.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Operations on single paths.
    pub ops: Vec<Op>,
    /// Operations on the folder tree.
    pub tree: Vec<TreeOp>,
    /// Keyed puts of the idempotency replayer, in the order it sent them.
    pub keyed: Vec<KeyedOp>,
    /// The chunk thief's rounds.
    pub thefts: Vec<Theft>,
    /// Acknowledged writes judged by the write-quorum check.
    pub acks_judged: usize,
    /// Acknowledged writes short of their quorum ([`crate::check::quorum`]).
    pub short_acks: Vec<crate::check::quorum::Shortfall>,
}

impl History {
    /// Operations of both kinds.
    pub fn len(&self) -> usize {
        self.ops.len() + self.tree.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
