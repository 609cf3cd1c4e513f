//! What the workload clients did: every operation with when it was invoked, when it completed and
//! what it returned, for the checkers.

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
    /// Read through the log (`?consistent=true`).
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
