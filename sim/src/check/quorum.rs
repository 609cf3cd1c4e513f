//! The write-quorum check (issue 17 point 7): at every acknowledged write the workload sees, each
//! chunk of the written content must already have at least `write_quorum` durable copies on the
//! simulated disks ([`crate::durable`]). Copies only grow between the node's acknowledgement and
//! the client's receipt of it (repair runs seconds later), so a shortfall seen at receipt was
//! there at the acknowledgement: the check cannot accuse a correct node.

use bytes::Bytes;
use dfs_core::WriteQuorum;
use dfs_runtime::chunker::Chunker;

/// One acknowledged write short of its quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// The path written.
    pub path: String,
    /// The version acknowledged.
    pub version: u64,
    /// A chunk (hex, short) short of copies.
    pub chunk: String,
    /// Nodes (indexes) holding a durable copy of it at the acknowledgement.
    pub holders: Vec<usize>,
    /// Copies the quorum needs.
    pub needed: usize,
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let holders: Vec<String> = self.holders.iter().map(|n| format!("n{}", n + 1)).collect();
        write!(
            f,
            "{} v{} acknowledged with chunk {} durable on [{}], {} copies needed",
            self.path,
            self.version,
            self.chunk,
            holders.join(", "),
            self.needed
        )
    }
}

/// Durable copies a write needs before its acknowledgement, as the simulated cluster is set up.
pub fn needed() -> usize {
    WriteQuorum::Majority.copies_needed(crate::run::REPLICATION_FACTOR)
}

/// The first chunk of `body` (as a node chunks a `PUT /files`) short of the quorum when version
/// `version` of `path` was acknowledged.
pub fn judge(path: &str, version: u64, body: &Bytes) -> Option<Shortfall> {
    judge_parts(path, version, std::slice::from_ref(body))
}

/// [`judge`] for content written as `parts`, each chunked on its own (S3 multipart parts).
pub fn judge_parts(path: &str, version: u64, parts: &[Bytes]) -> Option<Shortfall> {
    let mut chunks = Vec::new();
    for part in parts {
        let mut chunker = Chunker::new();
        chunks.extend(chunker.push(part));
        chunks.extend(chunker.finish());
    }
    let needed = needed();
    chunks.iter().find_map(|chunk| {
        let hex = blake3::hash(chunk).to_hex().to_string();
        let holders: Vec<usize> = crate::durable::holders(&hex).into_iter().collect();
        (holders.len() < needed).then(|| Shortfall {
            path: path.to_owned(),
            version,
            chunk: hex[..12].to_owned(),
            holders,
            needed,
        })
    })
}
