//! Crash points (issue 8, hardening; `docs/durability.md`): places in the write path where a
//! node can be made to die, so a test can check that a crash at each leaves no partial chunk
//! and loses no acknowledged write.
//!
//! `DFS_FAILPOINT=<name>` arms one point for the process (read once); the node aborts
//! (`std::process::abort`, like `kill -9`: no destructors, no flushing) the first time it
//! passes it, or, with `DFS_FAILPOINT_SKIP=n`, the (n+1)th time. Unset, every check is one
//! relaxed atomic load. The names are in [`CrashPoint::ALL`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Environment variable naming the armed crash point.
pub const FAILPOINT_ENV: &str = "DFS_FAILPOINT";
/// Environment variable: passes of the armed point to let through before aborting.
pub const FAILPOINT_SKIP_ENV: &str = "DFS_FAILPOINT_SKIP";

/// A place in the write path where a node can be made to crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// Chunk store: the temp file is written and fsynced, not yet renamed.
    ChunkAfterTempWrite,
    /// Chunk store: renamed into place, the directory not yet fsynced.
    ChunkAfterRename,
    /// Chunk store: durable, `put` not yet returned (no ack sent).
    ChunkAfterDirSync,
    /// Raft log: the redb transaction is filled, not yet committed.
    RaftBeforeCommit,
    /// Raft log: committed (fsynced), `Persisted` not yet reported to the node.
    RaftAfterCommit,
    /// Client write: every chunk has its quorum of durable copies, the version is not yet
    /// proposed to raft.
    WriteAfterQuorum,
    /// Client write: the version is committed, the `201` not yet sent.
    WriteBeforeReply,
}

impl CrashPoint {
    /// Every crash point.
    pub const ALL: [CrashPoint; 7] = [
        Self::ChunkAfterTempWrite,
        Self::ChunkAfterRename,
        Self::ChunkAfterDirSync,
        Self::RaftBeforeCommit,
        Self::RaftAfterCommit,
        Self::WriteAfterQuorum,
        Self::WriteBeforeReply,
    ];

    /// Its name in [`FAILPOINT_ENV`].
    pub fn name(self) -> &'static str {
        match self {
            Self::ChunkAfterTempWrite => "chunk-after-temp-write",
            Self::ChunkAfterRename => "chunk-after-rename",
            Self::ChunkAfterDirSync => "chunk-after-dir-sync",
            Self::RaftBeforeCommit => "raft-before-commit",
            Self::RaftAfterCommit => "raft-after-commit",
            Self::WriteAfterQuorum => "write-after-quorum",
            Self::WriteBeforeReply => "write-before-reply",
        }
    }

    /// The point named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The armed point and how many passes it still lets through.
struct Armed {
    point: CrashPoint,
    skip: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let point = CrashPoint::parse(&std::env::var(FAILPOINT_ENV).ok()?)?;
            let skip = std::env::var(FAILPOINT_SKIP_ENV).ok().and_then(|s| s.parse().ok());
            tracing::warn!(failpoint = point.name(), skip = skip.unwrap_or(0), "crash point armed");
            Some(Armed { point, skip: AtomicU64::new(skip.unwrap_or(0)) })
        })
        .as_ref()
}

/// Aborts the process if `point` is armed and has no passes left to let through.
pub fn hit(point: CrashPoint) {
    let Some(armed) = armed() else { return };
    if armed.point != point {
        return;
    }
    let left = armed.skip.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if left.is_err() {
        // On stderr (the node's log), for the test to tell this crash from any other.
        eprintln!("failpoint {}: aborting", point.name());
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_exact_names_arm() {
        for point in CrashPoint::ALL {
            assert_eq!(CrashPoint::parse(point.name()), Some(point));
        }
        assert_eq!(CrashPoint::parse("chunk-after-temp"), None);
        assert_eq!(CrashPoint::parse(""), None);
    }
}
