//! Unit tests of which held chunks a caller may reuse by hash ([`Namespace::reusable_chunks`]):
//! a chunk hash is a read capability only for callers who may read a live file referencing it.

use super::*;
use crate::auth::Caller;

fn caller(name: &str, admin: bool) -> Caller {
    Caller { user: user(name), admin }
}

/// A put of `content(seed, [1000, 24])` at `path` by `author`, with both chunks recorded on
/// nodes 1..=`copies`.
fn put_held(path: &str, seed: u64, author: &str, copies: u64) -> Command {
    let mut command = put_as(path, Precondition::None, seed, author);
    if let Command::PutVersion { content, replicas, .. } = &mut command {
        *replicas =
            content.chunks.iter().map(|c| (c.id, (1..=copies).map(NodeId).collect())).collect();
    }
    command
}

/// The chunk ids of `content(seed, ..)`.
fn chunks_of(seed: u64) -> Vec<ChunkId> {
    content(seed, &[1000, 24]).chunks.iter().map(|c| c.id).collect()
}

/// root (admin), alice and bob; root's /archive/a.bin (seed 1, three copies); bob's home.
fn archive() -> Namespace {
    let mut ns = Namespace::new();
    setup(&mut ns, &[bootstrap("root"), add_user("alice", false), add_user("bob", false)]);
    setup(&mut ns, &[mkdir("/archive", "root"), put_held("/archive/a.bin", 1, "root", 3)]);
    setup(&mut ns, &[mkdir("/home/bob", "bob")]);
    ns
}

fn reusable(ns: &Namespace, who: &Caller, wanted: &[ChunkId], copies: usize) -> Vec<ChunkId> {
    ns.reusable_chunks(who, wanted.iter().copied(), copies).into_iter().collect()
}

fn sorted(mut ids: Vec<ChunkId>) -> Vec<ChunkId> {
    ids.sort();
    ids
}

#[test]
fn only_callers_who_may_read_a_referencing_file_may_reuse_a_chunk() {
    let mut ns = archive();
    let archived = chunks_of(1);
    let (root, bob) = (caller("root", true), caller("bob", false));
    assert_eq!(reusable(&ns, &root, &archived, 2), sorted(archived.clone()), "admin reads all");
    assert_eq!(reusable(&ns, &bob, &archived, 2), [], "no grant: as if the cluster lacked them");
    setup(&mut ns, &[grant("/archive", "bob", Some(Access::Read))]);
    assert_eq!(reusable(&ns, &bob, &archived, 2), sorted(archived.clone()), "a read grant");
    setup(&mut ns, &[grant("/archive", "bob", None)]);
    assert_eq!(reusable(&ns, &bob, &archived, 2), [], "revoked");
    // A grant on the file alone is enough, inside a folder bob cannot list.
    setup(&mut ns, &[grant("/archive/a.bin", "bob", Some(Access::Read))]);
    assert_eq!(reusable(&ns, &bob, &archived, 2), sorted(archived));
}

#[test]
fn a_readable_reference_anywhere_counts_and_unreadable_ones_are_skipped() {
    let mut ns = archive();
    let bob = caller("bob", false);
    // The same content in /archive (first in path order, unreadable) and in bob's own home.
    setup(&mut ns, &[put_held("/home/bob/copy.bin", 1, "bob", 3)]);
    assert_eq!(reusable(&ns, &bob, &chunks_of(1), 2), sorted(chunks_of(1)));
    // Alice reads neither.
    assert_eq!(reusable(&ns, &caller("alice", false), &chunks_of(1), 2), []);
    // Once bob's copy is deleted, only the unreadable reference is left.
    setup(&mut ns, &[del("/home/bob/copy.bin", Precondition::None)]);
    assert_eq!(reusable(&ns, &bob, &chunks_of(1), 2), []);
}

#[test]
fn unheld_chunks_are_never_reusable_even_for_an_admin() {
    let mut ns = archive();
    let root = caller("root", true);
    // Too few copies for the quorum asked.
    assert_eq!(reusable(&ns, &root, &chunks_of(1), 4), []);
    // Copies recorded, but only a deleted file references them (the collector may take them).
    setup(&mut ns, &[put_held("/home/bob/gone.bin", 2, "bob", 3)]);
    setup(&mut ns, &[del("/home/bob/gone.bin", Precondition::None)]);
    assert_eq!(reusable(&ns, &root, &chunks_of(2), 2), []);
    // Referenced but without any recorded copy; and a chunk nobody ever wrote.
    setup(&mut ns, &[put("/home/bob/bare.bin", 3)]);
    let unknown = ChunkId(Hash::of(b"never written"));
    assert_eq!(reusable(&ns, &root, &[chunks_of(3)[0], unknown], 1), []);
    // Only the asked chunks come back.
    let asked = [chunks_of(1)[1]];
    assert_eq!(reusable(&ns, &root, &asked, 3), asked);
}

#[test]
fn older_kept_versions_count_as_references() {
    let mut ns = archive();
    let bob = caller("bob", false);
    setup(
        &mut ns,
        &[put_held("/home/bob/f.bin", 4, "bob", 3), put_held("/home/bob/f.bin", 5, "bob", 3)],
    );
    let both: Vec<ChunkId> = chunks_of(4).into_iter().chain(chunks_of(5)).collect();
    assert_eq!(reusable(&ns, &bob, &both, 3), sorted(both));
}
