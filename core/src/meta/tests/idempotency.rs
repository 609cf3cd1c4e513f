//! Unit tests of idempotency keys (issue 22): scoped to (author, path), bound to the request's
//! fingerprint, remembered for [`IDEMPOTENCY_WINDOW`] log indexes, kept by snapshots.

use super::*;

/// A put of `seed`'s content to `path` by `author` with key `key`.
fn keyed_put(path: &str, seed: u64, author: &str, key: &str) -> Command {
    keyed(put_as(path, Precondition::None, seed, author), key)
}

fn reused(author: &str, path: &str, key: &str) -> CommandError {
    CommandError::IdempotencyKeyReused {
        user: user(author),
        path: p(path),
        key: key.to_owned(),
        window: IDEMPOTENCY_WINDOW,
    }
}

fn versions(ns: &Namespace, path: &str) -> usize {
    ns.history(&p(path)).map(<[_]>::len).unwrap_or(0)
}

#[test]
fn the_same_key_with_other_content_on_the_same_path_is_refused_and_writes_nothing() {
    let mut ns = Namespace::new();
    let first = run(&mut ns, &keyed_put("/f", 1, "alice", "k1")).expect("writes");
    assert_refused(&mut ns, &keyed_put("/f", 2, "alice", "k1"), reused("alice", "/f", "k1"));
    assert_eq!(versions(&ns, "/f"), 1);
    assert_eq!(ns.latest(&p("/f")).map(|v| v.content.hash), Ok(content(1, &[1]).hash));
    // Another precondition with the same content is another request too.
    let mut conditional = keyed_put("/f", 1, "alice", "k1");
    if let Command::PutVersion { precondition, .. } = &mut conditional {
        *precondition = Precondition::Version(Version(1));
    }
    assert_refused(&mut ns, &conditional, reused("alice", "/f", "k1"));
    // The identical request still gets its first answer.
    assert_eq!(run(&mut ns, &keyed_put("/f", 1, "alice", "k1")), Ok(first));
    assert_eq!(versions(&ns, "/f"), 1);
}

#[test]
fn the_same_key_on_another_path_or_by_another_user_is_its_own_write() {
    let mut ns = Namespace::new();
    let first = run(&mut ns, &keyed_put("/a", 1, "alice", "k1")).expect("writes");
    // Same key string, same content, another path: a write of its own, naming its own path.
    let other_path = run(&mut ns, &keyed_put("/b", 1, "alice", "k1")).expect("writes");
    assert!(
        matches!(&other_path, Change::FileWritten { path, version: Version(1), created: true, .. } if *path == p("/b")),
        "{other_path:?}"
    );
    assert_eq!(versions(&ns, "/b"), 1);
    // Same key, same path, another user: a new version by bob, not alice's answer.
    let other_user = run(&mut ns, &keyed_put("/a", 2, "bob", "k1")).expect("writes");
    assert!(
        matches!(&other_user, Change::FileWritten { version: Version(2), created: false, .. }),
        "{other_user:?}"
    );
    assert_eq!(ns.latest(&p("/a")).map(|v| v.author.clone()), Ok(user("bob")));
    // Each scope still answers its own retry.
    assert_eq!(run(&mut ns, &keyed_put("/a", 1, "alice", "k1")), Ok(first));
    assert_eq!(run(&mut ns, &keyed_put("/b", 1, "alice", "k1")), Ok(other_path));
    assert_eq!(run(&mut ns, &keyed_put("/a", 2, "bob", "k1")), Ok(other_user));
    assert_eq!((versions(&ns, "/a"), versions(&ns, "/b")), (2, 1));
}

#[test]
fn an_identical_retry_gets_the_first_answer_whatever_node_and_time_it_comes_through() {
    let mut ns = Namespace::new();
    let first = run(&mut ns, &keyed_put("/r", 1, "alice", "once")).expect("writes");
    run(&mut ns, &put("/r", 5)).expect("a later unkeyed write");
    // The retry arrives through another node: another time, other copies recorded.
    let mut retry = keyed_put("/r", 1, "alice", "once");
    if let Command::PutVersion { created_at, replicas, content, .. } = &mut retry {
        *created_at = UnixMillis(99_999);
        let chunk = content.chunks[0].id;
        replicas.insert(chunk, [NodeId(3)].into_iter().collect());
    }
    assert_eq!(run(&mut ns, &retry), Ok(first.clone()));
    assert_eq!(versions(&ns, "/r"), 2, "the retry wrote nothing");
    // Keys, with their binding, survive a snapshot.
    let mut restored = Namespace::restore(&ns.snapshot()).expect("restores");
    assert_eq!(restored, ns);
    assert_eq!(run(&mut restored, &retry), Ok(first));
    assert_refused(
        &mut restored,
        &keyed_put("/r", 2, "alice", "once"),
        reused("alice", "/r", "once"),
    );
}

#[test]
fn a_key_is_remembered_for_the_window_and_then_is_fresh() {
    let mut ns = Namespace::new();
    run(&mut ns, &keyed_put("/w", 1, "alice", "old")).expect("writes at 1");
    run(&mut ns, &keyed_put("/x", 3, "alice", "gone")).expect("writes at 2");
    // The last index inside the window: another request with the key is still refused.
    ns.advance(LogIndex(IDEMPOTENCY_WINDOW - 1));
    assert_refused(&mut ns, &keyed_put("/w", 2, "alice", "old"), reused("alice", "/w", "old"));
    // One index later the key is fresh: the same request now writes.
    let again = run(&mut ns, &keyed_put("/w", 2, "alice", "old")).expect("a fresh write");
    assert!(matches!(again, Change::FileWritten { version: Version(2), .. }), "{again:?}");
    assert_eq!(ns.idempotency.len(), 2, "the expired key was replaced, /x is kept");
    assert_eq!(ns.idempotency_order.len(), 2);
    // The next keyed write drops /x's key, whose window ended.
    run(&mut ns, &keyed_put("/y", 4, "alice", "new")).expect("writes");
    let kept: Vec<&str> = ns.idempotency.keys().map(|(_, path, _)| path.as_str()).collect();
    assert_eq!(kept, ["/w", "/y"]);
    assert_eq!(ns.idempotency_order.len(), 2);
    assert_eq!(Namespace::restore(&ns.snapshot()).as_ref(), Ok(&ns));
}

#[test]
fn a_snapshot_with_two_keys_at_one_index_is_refused() {
    let mut ns = Namespace::new();
    run(&mut ns, &keyed_put("/a", 1, "alice", "k")).expect("writes");
    let mut bytes = raw(&ns);
    let (scope, remembered) = bytes.idempotency[0].clone();
    let (author, _, key) = scope;
    bytes.idempotency.push(((author, p("/b"), key), remembered));
    assert_eq!(Namespace::restore(&bytes.encode()), Err(SnapshotError::NotCanonical));
}
