//! The idempotency checker (issue 22): judges the keyed puts of the replayer
//! ([`crate::workload::replay`]). Keys are scoped to (user, path) and bound to the request, so:
//! - a 201 names the request's own path and content hash (never another request's result);
//! - within one scope, every 201 names one version and one content: an identical retry gets the
//!   original answer, and a different request with the key is never written;
//! - on one path, two scopes never claim the same version (each is a write of its own);
//! - a 422 `idempotency_key_reused` only answers a request whose scope saw an earlier request
//!   with other content (a fresh key, or the same key elsewhere, is never refused as reused).
//!
//! Unanswered requests may have acted or not; the rules only use what answers say. No run of the
//! replayer comes near the key expiry ([`dfs_core::meta::IDEMPOTENCY_WINDOW`] log indexes).

use std::collections::BTreeMap;

use crate::history::{KeyedOp, KeyedReturn, Version};

/// What the check found.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Keyed puts judged.
    pub ops: usize,
    /// Of them, answered 201.
    pub written: usize,
    /// Of them, refused as a reused key.
    pub reused: usize,
    /// What broke the rules, first first.
    pub violations: Vec<String>,
}

/// Judges `ops`, in the order the (one, sequential) replayer sent them.
pub fn check(ops: &[KeyedOp]) -> Verdict {
    let mut verdict = Verdict { ops: ops.len(), ..Verdict::default() };
    // Per scope: the hashes sent so far, and the (version, hash) of its first 201.
    let mut sent: BTreeMap<(&str, &str, &str), Vec<&str>> = BTreeMap::new();
    let mut answered: BTreeMap<(&str, &str, &str), (Version, &str)> = BTreeMap::new();
    // Per path and version: the scope whose 201 named it.
    let mut claimed: BTreeMap<(&str, Version), (&str, &str)> = BTreeMap::new();
    for (n, op) in ops.iter().enumerate() {
        let scope = (op.user.as_str(), op.path.as_str(), op.key.as_str());
        let what = format!("keyed put #{n} ({} {} key {})", op.user, op.path, op.key);
        let earlier = sent.entry(scope).or_default();
        let other_content_before = earlier.iter().any(|hash| *hash != op.hash);
        earlier.push(&op.hash);
        match &op.ret {
            KeyedReturn::Unknown => {}
            KeyedReturn::Reused => {
                verdict.reused += 1;
                if !other_content_before {
                    verdict.violations.push(format!(
                        "{what} was refused as a reused key, but no other request used the key \
                         there before"
                    ));
                }
            }
            KeyedReturn::Written { path, version, hash } => {
                verdict.written += 1;
                if *path != op.path || *hash != op.hash {
                    verdict.violations.push(format!(
                        "{what} was answered with another request's result: {path} v{version} \
                         with content {hash}, it sent {}",
                        op.hash
                    ));
                    continue;
                }
                match answered.get(&scope) {
                    Some(&(first, first_hash)) if first != *version || first_hash != hash => {
                        verdict.violations.push(format!(
                            "{what} was answered v{version} with content {hash}, but the key's \
                             first answer was v{first} with content {first_hash}"
                        ));
                    }
                    Some(_) => {}
                    None => {
                        answered.insert(scope, (*version, hash));
                    }
                }
                let mine = (op.user.as_str(), op.key.as_str());
                match claimed.get(&(op.path.as_str(), *version)) {
                    Some(&owner) if owner != mine => verdict.violations.push(format!(
                        "{what} was answered v{version}, which answered {} key {} already",
                        owner.0, owner.1
                    )),
                    Some(_) => {}
                    None => {
                        claimed.insert((op.path.as_str(), *version), mine);
                    }
                }
            }
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(user: &str, path: &str, key: &str, hash: &str, ret: KeyedReturn) -> KeyedOp {
        let (user, path, key, hash) = (user.into(), path.into(), key.into(), hash.into());
        KeyedOp { user, path, key, hash, ret }
    }

    fn written(path: &str, version: Version, hash: &str) -> KeyedReturn {
        KeyedReturn::Written { path: path.into(), version, hash: hash.into() }
    }

    #[test]
    fn honest_answers_pass() {
        let ops = [
            op("admin", "/a", "k", "h1", written("/a", 1, "h1")),
            op("admin", "/a", "k", "h2", KeyedReturn::Reused),
            op("admin", "/b", "k", "h1", written("/b", 1, "h1")),
            op("bob", "/a", "k", "h1", written("/a", 2, "h1")),
            op("admin", "/a", "k", "h1", written("/a", 1, "h1")),
            op("admin", "/a", "k2", "h3", KeyedReturn::Unknown),
            op("admin", "/a", "k2", "h4", written("/a", 3, "h4")),
        ];
        let verdict = check(&ops);
        assert_eq!(verdict.violations, Vec::<String>::new());
        assert_eq!((verdict.ops, verdict.written, verdict.reused), (7, 5, 1));
    }

    #[test]
    fn global_keys_are_caught() {
        let first = op("admin", "/a", "k", "h1", written("/a", 1, "h1"));
        let cases = [
            // Another body on the same path answered with the first write.
            op("admin", "/a", "k", "h2", written("/a", 1, "h1")),
            // The same, with the answer echoing the request's hash.
            op("admin", "/a", "k", "h2", written("/a", 1, "h2")),
            // Another path answered naming the first path.
            op("admin", "/b", "k", "h1", written("/a", 1, "h1")),
            // Another user handed the first user's result.
            op("bob", "/a", "k", "h1", written("/a", 1, "h1")),
            // The same key elsewhere refused as reused.
            op("admin", "/b", "k", "h1", KeyedReturn::Reused),
            // An identical retry answered with a second version.
            op("admin", "/a", "k", "h1", written("/a", 2, "h1")),
        ];
        for case in cases {
            let verdict = check(&[first.clone(), case.clone()]);
            assert_eq!(verdict.violations.len(), 1, "{case:?}: {:?}", verdict.violations);
        }
    }
}
