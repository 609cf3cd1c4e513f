//! Orphan collection (DESIGN §1 sim, checker 2: "orphans collected"): once the cluster has
//! settled, no node keeps a chunk nothing needs. A chunk is needed while a kept version of a live
//! file references it, or a version of a file deleted less than the collector's grace (plus its
//! pass interval) ago. Anything else on a node's disk (an abandoned upload, a replaced or pruned
//! version, a file deleted long ago) is garbage the collector must have removed.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

/// The chunks (hex ids) a `GET /files?deleted=true` listing says some node must keep at
/// `now_ms`, when deleted files keep theirs for `keep_deleted`.
pub fn needed(listing: &Value, now_ms: u64, keep_deleted: Duration) -> BTreeSet<String> {
    let keep_ms = u64::try_from(keep_deleted.as_millis()).unwrap_or(u64::MAX);
    let mut needed = BTreeSet::new();
    for file in listing["files"].as_array().into_iter().flatten() {
        let deleted_long_ago =
            file["deleted_ms"].as_u64().is_some_and(|at| now_ms.saturating_sub(at) >= keep_ms);
        if deleted_long_ago {
            continue;
        }
        for version in file["versions"].as_array().into_iter().flatten() {
            for chunk in version["chunks"].as_array().into_iter().flatten() {
                if let Some(hash) = chunk["hash"].as_str() {
                    needed.insert(hash.to_owned());
                }
            }
        }
    }
    needed
}

/// The garbage among what each node stores (`stored[i]`: node index `i`'s chunk ids), as
/// `(node index, chunk id)`.
pub fn garbage(needed: &BTreeSet<String>, stored: &[Vec<String>]) -> Vec<(usize, String)> {
    let mut garbage = Vec::new();
    for (node, chunks) in stored.iter().enumerate() {
        for chunk in chunks.iter().filter(|c| !needed.contains(*c)) {
            garbage.push((node, chunk.clone()));
        }
    }
    garbage
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn file(path: &str, deleted_ms: Option<u64>, chunks: &[&str]) -> Value {
        let chunks: Vec<Value> = chunks.iter().map(|c| json!({ "hash": c })).collect();
        json!({ "path": path, "deleted_ms": deleted_ms, "versions": [{ "chunks": chunks }] })
    }

    #[test]
    fn live_and_recently_deleted_files_keep_their_chunks_and_nothing_else_is_kept() {
        let keep = Duration::from_secs(20);
        let listing = json!({ "files": [
            file("/live", None, &["a", "b"]),
            file("/just-deleted", Some(95_000), &["c"]),
            file("/deleted-long-ago", Some(10_000), &["d", "a"]),
        ]});
        let needed = needed(&listing, 100_000, keep);
        assert_eq!(needed, ["a", "b", "c"].map(str::to_owned).into());
        let stored = vec![
            vec!["a".to_owned(), "c".to_owned()],
            vec!["b".to_owned(), "d".to_owned(), "orphan".to_owned()],
        ];
        assert_eq!(garbage(&needed, &stored), vec![(1, "d".to_owned()), (1, "orphan".to_owned())]);
    }
}
