//! Unit tests of the namespace state machine: every command's success path and refusals (a refusal
//! changes nothing but the applied index), listings, snapshots and determinism.

use serde::Serialize;

use super::*;
use crate::command::{ChunkRef, IdempotencyKey, Precondition};
use crate::error::{CheckpointProblem, ContentProblem};
use crate::ids::{ChunkId, Hash};

mod access;
mod commands;
mod idempotency;
mod multipart;
mod ownership;
mod queries;
mod reuse;
mod s3;
mod tree;
mod versions;

use queries::{keyed, raw, sample};

// ---- helpers ----------------------------------------------------------------------------------

fn p(raw: &str) -> Path {
    Path::parse(raw).expect("test paths are valid")
}

fn user(name: &str) -> UserName {
    UserName(name.to_owned())
}

/// Content of `chunk_lens` chunks whose ids and whole-file hash derive from `seed`.
fn content(seed: u64, chunk_lens: &[u32]) -> Content {
    let chunks = chunk_lens
        .iter()
        .enumerate()
        .map(|(at, &len_bytes)| ChunkRef {
            id: ChunkId(Hash::of(format!("{seed}/{at}").as_bytes())),
            len_bytes,
        })
        .collect();
    let size_bytes = chunk_lens.iter().map(|&len| u64::from(len)).sum();
    Content { chunks, size_bytes, hash: Hash::of(&seed.to_le_bytes()) }
}

fn mkdir(path: &str, owner: &str) -> Command {
    Command::CreateFolder { path: p(path), owner: user(owner) }
}

fn put_as(path: &str, precondition: Precondition, seed: u64, author: &str) -> Command {
    Command::PutVersion {
        path: p(path),
        precondition,
        content: content(seed, &[1000, 24]),
        author: user(author),
        created_at: UnixMillis(1_000 + seed),
        replicas: Default::default(),
        idempotency_key: None,
    }
}

fn put(path: &str, seed: u64) -> Command {
    put_as(path, Precondition::None, seed, "alice")
}

fn del(path: &str, precondition: Precondition) -> Command {
    Command::Delete { path: p(path), precondition, deleted_at: UnixMillis(9_000) }
}

fn checkpoint(path: &str, name: &str, version: Option<u64>) -> Command {
    Command::Checkpoint { path: p(path), name: name.to_owned(), version: version.map(Version) }
}

fn revert(path: &str, to: u64) -> Command {
    Command::Revert {
        path: p(path),
        to: Version(to),
        author: user("bob"),
        created_at: UnixMillis(7),
    }
}

fn bootstrap(name: &str) -> Command {
    let credential = crate::auth::Credential::derive([8; 16], &format!("{name}-secret-secret"));
    Command::BootstrapAdmin { user: user(name), credential }
}

fn add_user(name: &str, admin: bool) -> Command {
    let credential = crate::auth::Credential::derive([7; 16], &format!("{name}-secret-secret"));
    Command::AddUser { user: user(name), credential, admin }
}

fn grant(path: &str, who: &str, access: Option<Access>) -> Command {
    Command::SetGrant { path: p(path), user: user(who), access }
}

/// Applies `command` at the next log index.
fn run(ns: &mut Namespace, command: &Command) -> Result<Change, CommandError> {
    let index = LogIndex(ns.applied_index().0 + 1);
    ns.apply(index, command)
}

/// Applies commands that must all succeed.
fn setup(ns: &mut Namespace, commands: &[Command]) {
    for command in commands {
        if let Err(error) = run(ns, command) {
            panic!("setup command {command:?} failed: {error}");
        }
    }
}

/// Applies `command`, asserts it is refused with `expected`, and that only the applied index moved.
fn assert_refused(ns: &mut Namespace, command: &Command, expected: CommandError) {
    let mut before = ns.clone();
    let index = LogIndex(ns.applied_index().0 + 1);
    assert_eq!(ns.apply(index, command), Err(expected), "command {command:?}");
    before.advance(index);
    assert_eq!(*ns, before, "a refused command changed the namespace");
    assert_eq!(ns.snapshot(), before.snapshot());
    assert_eq!(ns.applied_index(), index);
}

fn file<'a>(ns: &'a Namespace, path: &str) -> &'a FileRecord {
    ns.entry(&p(path)).and_then(Entry::file).expect("a file is there")
}

fn listing(ns: &Namespace, folder: &str) -> Vec<String> {
    let children = ns.children(&p(folder)).expect("a folder is there");
    children.into_iter().map(|(path, _)| path.to_string()).collect()
}

fn not_found(path: &str) -> CommandError {
    CommandError::NotFound { path: p(path) }
}

fn conflict(path: &str, expected: Precondition, found: Option<u64>) -> CommandError {
    CommandError::VersionConflict { path: p(path), expected, found: found.map(Version) }
}
