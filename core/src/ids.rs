//! Typed identifiers (DESIGN §1 core): nodes, chunks, versions, requests, jobs, raft terms and
//! indexes. No bare `u64` crosses a public signature; each prints short (`n1`, `c3f2a1b`).

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_u64 {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_u64!(
    /// A cluster member. Never 0 (raft reserves 0 for "none").
    NodeId, "n"
);
id_u64!(
    /// A file version number; the first version of a path is 1 and numbers never repeat.
    Version, "v"
);
id_u64!(
    /// A client request as numbered by the driver that received it; unique per node incarnation.
    RequestId, "req"
);
id_u64!(
    /// A disk or transfer job handed to the driver with `Output::StartJob`.
    JobId, "job"
);
id_u64!(
    /// A raft term.
    Term, "term"
);
id_u64!(
    /// A position in the raft log.
    LogIndex, "i"
);
id_u64!(
    /// A raft `Ready` batch number; `Output::Persist` and `Input::Persisted` are matched by it.
    ReadyNumber, "ready"
);

/// A blake3 digest: of a chunk (its address) or of a whole file.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The blake3 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Full lowercase hex, as used in chunk file names and the HTTP API.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }
}

impl fmt::Display for Hash {
    /// The first 7 hex digits: enough to tell chunks apart in logs and traces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        f.write_str(&hex[..7])
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// A chunk's address: the blake3 of its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ChunkId(pub Hash);

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Milliseconds since the Unix epoch, stamped by the driver that received a request (core never
/// reads a clock); replicated inside the command so every replica stores the same value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct UnixMillis(pub u64);

/// A user name: the author of a version, the owner of an entry, the subject of a grant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct UserName(pub String);

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
