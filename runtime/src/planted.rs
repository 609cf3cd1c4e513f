//! Bugs planted on purpose, so the simulation can prove its checkers catch them (issue 5: the
//! checkers must bite). The switch exists only with the `sim-hooks` feature, which only the
//! simulator turns on, and even then every bug is off until the simulator plants one; without the
//! feature [`active`] is `false` and compiles away.

/// A bug the simulator can plant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Bug {
    /// The raft log commits without fsync, so acknowledged entries die with a crash.
    AckBeforeFsync = 1,
    /// A put is acknowledged before its raft entry commits (and may never commit).
    SkipRaftCommit = 2,
    /// Copies that repair should make are never made.
    NoReReplication = 3,
    /// Default (linearizable) reads and listings are served from the local, possibly stale,
    /// replica without waiting for the read index.
    StaleRead = 4,
    /// A chunk's hash is taken as a right to read it: chunk-level commits may reuse any held chunk.
    ChunkHashReadsAnything = 5,
    /// A chunk-level commit's whole-file hash is the client's word, never checked.
    TrustWholeFileHash = 6,
    /// Chunk reads skip the blake3 check, from the local store and from peers, so a rotten copy
    /// is served as if it were good.
    SkipChunkVerify = 7,
    /// The node acknowledges a write once one copy of each chunk is durable, whatever the
    /// configured `write_quorum` says.
    QuorumOfOne = 8,
    /// S3 reads of an object whose delete marker is current serve its last version instead of
    /// `NoSuchKey`.
    S3IgnoresDeleteMarker = 9,
}

// Per thread: a simulation runs every node on the thread that drives it, so runs on other
// threads (parallel tests) keep their own switch.
#[cfg(feature = "sim-hooks")]
thread_local! {
    static PLANTED: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

/// Plants `bug` in the nodes this thread runs (or none); the simulator's switch.
#[cfg(feature = "sim-hooks")]
pub fn plant(bug: Option<Bug>) {
    PLANTED.with(|planted| planted.set(bug.map_or(0, |b| b as u8)));
}

/// Whether `bug` is planted.
#[inline]
pub fn active(bug: Bug) -> bool {
    #[cfg(feature = "sim-hooks")]
    {
        PLANTED.with(|planted| planted.get() == bug as u8)
    }
    #[cfg(not(feature = "sim-hooks"))]
    {
        let _ = bug;
        false
    }
}
