//! Unit tests of the namespace state machine: every command's success path and refusals (a refusal
//! changes nothing but the applied index), listings, snapshots and determinism.

use serde::Serialize;

use super::*;
use crate::command::{ChunkRef, IdempotencyKey, Precondition};
use crate::error::{CheckpointProblem, ContentProblem};
use crate::ids::{ChunkId, Hash};

mod access;
mod idempotency;
mod ownership;
mod reuse;
mod tree;

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

// ---- construction and log order ---------------------------------------------------------------

#[test]
fn new_namespace_holds_only_the_root() {
    let ns = Namespace::new();
    let root = ns.entry(&Path::root()).expect("root exists");
    assert_eq!(root.owner, user("admin"));
    assert!(root.is_folder() && root.grants.is_empty());
    assert_eq!(ns.applied_index(), LogIndex(0));
    assert!(ns.members().is_empty());
    assert_eq!(ns.file_count(), 0);
    assert_eq!(ns.children(&Path::root()), Ok(vec![]));
    assert_eq!(ns.entries().count(), 1);
    assert_eq!(Namespace::default(), ns);
    assert_eq!(ns.check_invariants(), Ok(()));
}

#[test]
fn bootstrap_adds_active_voters_at_index_one() {
    let ns = Namespace::bootstrap(&[NodeId(3), NodeId(1), NodeId(2)]);
    assert_eq!(ns.applied_index(), LogIndex(1));
    let voter = Member {
        role: MemberRole::Voter,
        state: DeclaredState::Active,
        added_at: LogIndex(1),
        health: crate::health::Health::Up,
    };
    let expected: BTreeMap<_, _> = [1, 2, 3].map(|id| (NodeId(id), voter)).into();
    assert_eq!(ns.members(), &expected);
    assert_eq!(ns.entries().count(), 1);
}

#[test]
#[should_panic(expected = "indexes must strictly increase")]
fn apply_refuses_a_replayed_index() {
    let mut ns = Namespace::new();
    ns.apply(LogIndex(5), &mkdir("/a", "alice")).expect("applies");
    let _ = ns.apply(LogIndex(5), &mkdir("/b", "alice"));
}

#[test]
#[should_panic(expected = "indexes must strictly increase")]
fn advance_refuses_an_older_index() {
    let mut ns = Namespace::bootstrap(&[NodeId(1)]);
    ns.advance(LogIndex(1));
}

#[test]
fn advance_only_moves_the_applied_index() {
    let mut ns = Namespace::new();
    let mut expected = ns.clone();
    ns.advance(LogIndex(4));
    assert_eq!(ns.applied_index(), LogIndex(4));
    expected.applied = LogIndex(4);
    assert_eq!(ns, expected);
}

// ---- folders ----------------------------------------------------------------------------------

#[test]
fn create_folder_makes_missing_parents() {
    let mut ns = Namespace::new();
    assert_eq!(
        run(&mut ns, &mkdir("/a", "root-user")),
        Ok(Change::FolderCreated { path: p("/a") })
    );
    let change = run(&mut ns, &mkdir("/a/b/c", "alice"));
    assert_eq!(change, Ok(Change::FolderCreated { path: p("/a/b/c") }));
    for (path, owner) in [("/a", "root-user"), ("/a/b", "alice"), ("/a/b/c", "alice")] {
        let entry = ns.entry(&p(path)).expect("created");
        assert!(entry.is_folder(), "{path}");
        assert_eq!(entry.owner, user(owner), "{path}");
    }
    assert_eq!(listing(&ns, "/a/b"), ["/a/b/c"]);
    assert_eq!(ns.file_count(), 0);
}

#[test]
fn create_folder_refusals() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[mkdir("/d", "alice"), put("/f", 1)]);
    let exists = |path: &str| CommandError::AlreadyExists { path: p(path) };
    assert_refused(&mut ns, &mkdir("/", "alice"), exists("/"));
    assert_refused(&mut ns, &mkdir("/d", "bob"), exists("/d"));
    assert_refused(&mut ns, &mkdir("/f", "bob"), exists("/f"));
    let not_a_folder = CommandError::NotAFolder { path: p("/f") };
    assert_refused(&mut ns, &mkdir("/f/x/y", "bob"), not_a_folder);
}

#[test]
fn a_folder_replaces_a_tombstoned_file_and_numbering_continues() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/x", 1), put("/x", 2), del("/x", Precondition::None)]);
    assert_eq!(run(&mut ns, &mkdir("/x", "bob")), Ok(Change::FolderCreated { path: p("/x") }));
    assert!(ns.entry(&p("/x")).is_some_and(Entry::is_folder));
    assert_eq!(ns.retired.get(&p("/x")), Some(&Version(2)));
    setup(&mut ns, &[del("/x", Precondition::None)]);
    let Ok(Change::FileWritten { version, .. }) = run(&mut ns, &put("/x", 3)) else {
        panic!("put after the folder is gone succeeds");
    };
    assert_eq!(version, Version(3));
    assert!(ns.retired.is_empty());
    assert_eq!(ns.check_invariants(), Ok(()));
}

#[test]
fn a_put_below_a_tombstoned_file_turns_it_into_a_folder() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/x", 1), del("/x", Precondition::None), put("/x/y", 2)]);
    let folder = ns.entry(&p("/x")).expect("folder made");
    assert!(folder.is_folder());
    // A new parent belongs to the region it is made in (the root's), not to the writer.
    assert_eq!(folder.owner, user("admin"));
    assert_eq!(ns.retired.get(&p("/x")), Some(&Version(1)));
    assert_eq!(ns.check_invariants(), Ok(()));
}

// ---- puts ---------------------------------------------------------------------------------------

#[test]
fn put_creates_the_file_and_its_parents() {
    let mut ns = Namespace::new();
    let body = content(7, &[1000, 24]);
    let change = run(&mut ns, &put_as("/a/b/f", Precondition::Absent, 7, "bob"));
    let written = Change::FileWritten {
        path: p("/a/b/f"),
        version: Version(1),
        size_bytes: 1024,
        hash: body.hash,
        created: true,
    };
    assert_eq!(change, Ok(written));
    for folder in ["/a", "/a/b"] {
        // New parents belong to the region they are made in (the root's); the file to its author.
        let entry = ns.entry(&p(folder)).expect("parent created");
        assert!(entry.is_folder() && entry.owner == user("admin"), "{folder}");
    }
    let entry = ns.entry(&p("/a/b/f")).expect("file created");
    assert_eq!(entry.owner, user("bob"));
    let latest = ns.latest(&p("/a/b/f")).expect("live");
    let expected = VersionRecord {
        version: Version(1),
        content: body,
        author: user("bob"),
        created_at: UnixMillis(1_007),
        index: LogIndex(1),
    };
    assert_eq!(latest, &expected);
    assert_eq!(ns.file_count(), 1);
}

#[test]
fn puts_append_versions_and_keep_the_owner() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1), put_as("/f", Precondition::None, 2, "bob")]);
    let change = run(&mut ns, &put("/f", 3));
    assert!(
        matches!(change, Ok(Change::FileWritten { created: false, .. })),
        "a new version of a live file is a change, not a creation: {change:?}"
    );
    let versions: Vec<u64> =
        ns.history(&p("/f")).expect("file").iter().map(|v| v.version.0).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(ns.latest(&p("/f")).map(|v| v.version), Ok(Version(3)));
    assert_eq!(ns.version(&p("/f"), Version(2)).map(|v| &v.author), Ok(&user("bob")));
    assert_eq!(ns.entry(&p("/f")).map(|e| &e.owner), Some(&user("alice")));
    assert_eq!(ns.file_count(), 1);
}

#[test]
fn put_accepts_an_empty_file() {
    let mut ns = Namespace::new();
    let empty = Content { chunks: vec![], size_bytes: 0, hash: Hash::of(b"") };
    let command = Command::PutVersion {
        path: p("/empty"),
        precondition: Precondition::None,
        content: empty.clone(),
        author: user("alice"),
        created_at: UnixMillis(1),
        replicas: Default::default(),
        idempotency_key: None,
    };
    assert!(run(&mut ns, &command).is_ok());
    assert_eq!(ns.latest(&p("/empty")).map(|v| &v.content), Ok(&empty));
}

#[test]
fn put_refuses_inconsistent_content() {
    let mut ns = Namespace::new();
    let with = |content: Content| Command::PutVersion {
        path: p("/f"),
        precondition: Precondition::None,
        content,
        author: user("alice"),
        created_at: UnixMillis(1),
        replicas: Default::default(),
        idempotency_key: None,
    };
    let mut short = content(1, &[10, 20]);
    short.size_bytes = 29;
    assert_refused(&mut ns, &with(short), CommandError::BadContent(ContentProblem::SizeMismatch));
    let mut none = content(1, &[]);
    none.size_bytes = 1;
    assert_refused(&mut ns, &with(none), CommandError::BadContent(ContentProblem::SizeMismatch));
    let hollow = content(1, &[10, 0, 5]);
    assert_refused(&mut ns, &with(hollow), CommandError::BadContent(ContentProblem::EmptyChunk));
    assert_eq!(ns.entries().count(), 1);
}

#[test]
fn put_refuses_root_folders_and_files_as_parents() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[mkdir("/d", "alice"), put("/f", 1)]);
    assert_refused(&mut ns, &put("/", 2), CommandError::RootImmutable);
    assert_refused(&mut ns, &put("/d", 2), CommandError::IsFolder { path: p("/d") });
    let not_a_folder = CommandError::NotAFolder { path: p("/f") };
    assert_refused(&mut ns, &put("/f/g/h", 2), not_a_folder);
    let is_folder = CommandError::IsFolder { path: p("/d") };
    assert_refused(&mut ns, &put_as("/d", Precondition::Absent, 2, "bob"), is_folder);
    // A refused put creates none of its missing parents.
    let stale = Precondition::Version(Version(1));
    assert_refused(
        &mut ns,
        &put_as("/new/dir/f", stale, 2, "bob"),
        conflict("/new/dir/f", stale, None),
    );
}

/// The state to set up, the precondition, and the new version or the `found` of the conflict.
type PutCase<'a> = (&'a [Command], Precondition, Result<u64, Option<u64>>);

#[test]
fn put_precondition_matrix() {
    use Precondition::{Absent, None as Always, Version as At};
    let absent: &[Command] = &[];
    let live = &[put("/f", 1), put("/f", 2)];
    let deleted = &[put("/f", 1), put("/f", 2), del("/f", Always)];
    let cases: &[PutCase<'_>] = &[
        (absent, Always, Ok(1)),
        (absent, Absent, Ok(1)),
        (absent, At(Version(1)), Err(None)),
        (live, Always, Ok(3)),
        (live, Absent, Err(Some(2))),
        (live, At(Version(2)), Ok(3)),
        (live, At(Version(1)), Err(Some(2))),
        (deleted, Always, Ok(3)),
        (deleted, Absent, Ok(3)),
        (deleted, At(Version(2)), Err(None)),
    ];
    for (state, precondition, expected) in cases {
        let mut ns = Namespace::new();
        setup(&mut ns, state);
        let command = put_as("/f", *precondition, 9, "carol");
        match expected {
            Ok(version) => {
                let change = run(&mut ns, &command).expect("precondition holds");
                assert!(
                    matches!(change, Change::FileWritten { version: v, .. } if v.0 == *version),
                    "{precondition:?} on {state:?}: {change:?}"
                );
            }
            Err(found) => assert_refused(&mut ns, &command, conflict("/f", *precondition, *found)),
        }
    }
}

#[test]
fn version_numbers_continue_across_delete_and_recreate() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1), put("/f", 2), checkpoint("/f", "keep", Some(1))]);
    setup(
        &mut ns,
        &[
            bootstrap("root"),
            add_user("dave", false),
            grant("/f", "dave", Some(Access::Write)),
            del("/f", Precondition::None),
        ],
    );
    assert_eq!(ns.file_count(), 0);
    let change = run(&mut ns, &put_as("/f", Precondition::Absent, 3, "carol"));
    assert!(
        matches!(change, Ok(Change::FileWritten { version: Version(3), created: true, .. })),
        "a file recreated after a delete is new again: {change:?}"
    );
    let entry = ns.entry(&p("/f")).expect("revived");
    assert_eq!(entry.owner, user("carol"), "the reviver owns the new file");
    assert!(entry.grants.is_empty(), "grants of the deleted file do not carry over");
    let record = file(&ns, "/f");
    assert_eq!(record.deleted, None);
    assert_eq!(record.checkpoints.get("keep"), Some(&Version(1)));
    assert_eq!(record.versions.len(), 3);
    assert_eq!(ns.file_count(), 1);
}

// ---- deletes ------------------------------------------------------------------------------------

#[test]
fn delete_tombstones_a_file_and_keeps_its_history() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/d/f", 1), put("/d/f", 2)]);
    let change = ns.apply(LogIndex(10), &del("/d/f", Precondition::Version(Version(2))));
    assert_eq!(change, Ok(Change::FileDeleted { path: p("/d/f"), version: Version(2) }));
    let tombstone =
        Tombstone { version: Version(2), deleted_at: UnixMillis(9_000), index: LogIndex(10) };
    assert_eq!(file(&ns, "/d/f").deleted, Some(tombstone));
    assert_eq!(file(&ns, "/d/f").versions.len(), 2);
    assert_eq!(ns.latest(&p("/d/f")), Err(not_found("/d/f")));
    assert_eq!(ns.version(&p("/d/f"), Version(1)).map(|v| v.version), Ok(Version(1)));
    assert_eq!(ns.children(&p("/d")), Ok(vec![]));
    assert_eq!(ns.file_count(), 0);
}

#[test]
fn delete_refusals() {
    let mut ns = Namespace::new();
    setup(
        &mut ns,
        &[put("/f", 1), put("/d/g", 2), put("/gone", 3), del("/gone", Precondition::None)],
    );
    assert_refused(&mut ns, &del("/", Precondition::None), CommandError::RootImmutable);
    assert_refused(&mut ns, &del("/nothing", Precondition::None), not_found("/nothing"));
    assert_refused(&mut ns, &del("/gone", Precondition::None), not_found("/gone"));
    let absent = Precondition::Absent;
    assert_refused(&mut ns, &del("/f", absent), conflict("/f", absent, Some(1)));
    let stale = Precondition::Version(Version(7));
    assert_refused(&mut ns, &del("/f", stale), conflict("/f", stale, Some(1)));
    assert_refused(&mut ns, &del("/d", stale), conflict("/d", stale, None));
    assert_refused(&mut ns, &del("/d", absent), conflict("/d", absent, None));
    let not_empty = CommandError::FolderNotEmpty { path: p("/d") };
    assert_refused(&mut ns, &del("/d", Precondition::None), not_empty);
    setup(&mut ns, &[mkdir("/e/sub", "alice")]);
    let not_empty = CommandError::FolderNotEmpty { path: p("/e") };
    assert_refused(&mut ns, &del("/e", Precondition::None), not_empty);
}

#[test]
fn delete_removes_an_empty_folder() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[mkdir("/a/b", "alice")]);
    let change = run(&mut ns, &del("/a/b", Precondition::None));
    assert_eq!(change, Ok(Change::FolderDeleted { path: p("/a/b") }));
    assert_eq!(ns.entry(&p("/a/b")), None);
    assert_eq!(listing(&ns, "/"), ["/a"]);
}

#[test]
fn deleting_a_folder_retires_its_tombstoned_files() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/d/f", 1), put("/d/f", 2), del("/d/f", Precondition::None)]);
    setup(&mut ns, &[put("/d/g", 3), del("/d/g", Precondition::None)]);
    assert_eq!(
        run(&mut ns, &del("/d", Precondition::None)),
        Ok(Change::FolderDeleted { path: p("/d") })
    );
    assert_eq!(ns.entries().count(), 1, "only the root remains");
    let retired: Vec<_> = ns.retired.iter().map(|(path, v)| (path.to_string(), v.0)).collect();
    assert_eq!(retired, [("/d/f".to_owned(), 2), ("/d/g".to_owned(), 1)]);
    let change = run(&mut ns, &put("/d/f", 4));
    assert!(matches!(change, Ok(Change::FileWritten { version: Version(3), .. })), "{change:?}");
    assert_eq!(ns.retired.keys().collect::<Vec<_>>(), [&p("/d/g")]);
    assert_eq!(ns.check_invariants(), Ok(()));
}

// ---- checkpoints and reverts --------------------------------------------------------------------

#[test]
fn checkpoint_names_a_version() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1), put("/f", 2)]);
    let named = |name: &str, v: u64| Change::CheckpointCreated {
        path: p("/f"),
        name: name.to_owned(),
        version: Version(v),
    };
    assert_eq!(run(&mut ns, &checkpoint("/f", "latest", None)), Ok(named("latest", 2)));
    assert_eq!(run(&mut ns, &checkpoint("/f", "first", Some(1))), Ok(named("first", 1)));
    let before = file(&ns, "/f").clone();
    assert_eq!(run(&mut ns, &checkpoint("/f", "first", Some(1))), Ok(named("first", 1)));
    assert_eq!(file(&ns, "/f"), &before, "naming the same version again changes nothing");
    let longest = "n".repeat(CHECKPOINT_NAME_BYTES_MAX);
    assert!(run(&mut ns, &checkpoint("/f", &longest, None)).is_ok());
    assert_eq!(ns.checkpoint(&p("/f"), "first").map(|v| v.version), Ok(Version(1)));
    let missing = CommandError::Checkpoint {
        path: p("/f"),
        name: "nope".to_owned(),
        problem: CheckpointProblem::NotFound,
    };
    assert_eq!(ns.checkpoint(&p("/f"), "nope"), Err(missing));
}

#[test]
fn checkpoint_refusals() {
    let mut ns = Namespace::new();
    setup(
        &mut ns,
        &[put("/f", 1), put("/f", 2), checkpoint("/f", "taken", Some(1)), mkdir("/d", "a")],
    );
    setup(&mut ns, &[put("/gone", 3), del("/gone", Precondition::None)]);
    let problem = |name: &str, problem| CommandError::Checkpoint {
        path: p("/f"),
        name: name.to_owned(),
        problem,
    };
    let too_long = "n".repeat(CHECKPOINT_NAME_BYTES_MAX + 1);
    for bad in ["", "a/b", "a\0b", too_long.as_str()] {
        let refused = problem(bad, CheckpointProblem::InvalidName);
        assert_refused(&mut ns, &checkpoint("/f", bad, None), refused);
    }
    let taken = problem("taken", CheckpointProblem::Taken);
    assert_refused(&mut ns, &checkpoint("/f", "taken", None), taken);
    let missing = CommandError::VersionNotFound { path: p("/f"), version: Version(5) };
    assert_refused(&mut ns, &checkpoint("/f", "x", Some(5)), missing);
    assert_refused(&mut ns, &checkpoint("/nothing", "x", None), not_found("/nothing"));
    assert_refused(&mut ns, &checkpoint("/gone", "x", None), not_found("/gone"));
    assert_refused(&mut ns, &checkpoint("/d", "x", None), CommandError::IsFolder { path: p("/d") });
}

#[test]
fn revert_writes_an_old_content_as_a_new_version() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1), put("/f", 2)]);
    let old = content(1, &[1000, 24]);
    let change = run(&mut ns, &revert("/f", 1));
    let written = Change::FileWritten {
        path: p("/f"),
        version: Version(3),
        size_bytes: 1024,
        hash: old.hash,
        created: false,
    };
    assert_eq!(change, Ok(written));
    let latest = ns.latest(&p("/f")).expect("live");
    assert_eq!((latest.version, &latest.content, &latest.author), (Version(3), &old, &user("bob")));
    assert_eq!((latest.created_at, latest.index), (UnixMillis(7), LogIndex(3)));
}

#[test]
fn revert_refusals() {
    let mut ns = Namespace::new();
    setup(
        &mut ns,
        &[put("/f", 1), mkdir("/d", "a"), put("/gone", 2), del("/gone", Precondition::None)],
    );
    let missing = CommandError::VersionNotFound { path: p("/f"), version: Version(2) };
    assert_refused(&mut ns, &revert("/f", 2), missing);
    assert_refused(&mut ns, &revert("/nothing", 1), not_found("/nothing"));
    // A deleted file comes back by a revert of a kept version (see tests/ownership.rs), not of
    // one it never had.
    let never = CommandError::VersionNotFound { path: p("/gone"), version: Version(9) };
    assert_refused(&mut ns, &revert("/gone", 9), never);
    assert_refused(&mut ns, &revert("/d", 1), CommandError::IsFolder { path: p("/d") });
}

// ---- grants and members ---------------------------------------------------------------------

#[test]
fn grants_are_set_overwritten_and_revoked() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[bootstrap("root"), add_user("eve", false), add_user("ops", false)]);
    setup(&mut ns, &[put("/d/f", 1)]);
    let change = run(&mut ns, &grant("/d/f", "eve", Some(Access::Read)));
    let expected =
        Change::GrantChanged { path: p("/d/f"), user: user("eve"), access: Some(Access::Read) };
    assert_eq!(change, Ok(expected));
    setup(
        &mut ns,
        &[grant("/d/f", "eve", Some(Access::Write)), grant("/d", "eve", Some(Access::Read))],
    );
    setup(&mut ns, &[grant("/", "ops", Some(Access::Write))]);
    assert_eq!(
        ns.entry(&p("/d/f")).map(|e| &e.grants),
        Some(&[(user("eve"), Access::Write)].into())
    );
    assert_eq!(ns.entry(&p("/d")).map(|e| e.grants.len()), Some(1));
    assert_eq!(ns.entry(&Path::root()).map(|e| e.grants.len()), Some(1));
    setup(&mut ns, &[grant("/d/f", "eve", None), grant("/d/f", "nobody", None)]);
    assert_eq!(ns.entry(&p("/d/f")).map(|e| e.grants.len()), Some(0));
}

#[test]
fn grant_refusals() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[bootstrap("root"), add_user("eve", false), put("/gone", 1)]);
    setup(&mut ns, &[del("/gone", Precondition::None)]);
    assert_refused(&mut ns, &grant("/nothing", "eve", Some(Access::Read)), not_found("/nothing"));
    let unknown = CommandError::UnknownUser { user: user("mallory") };
    assert_refused(&mut ns, &grant("/", "mallory", Some(Access::Read)), unknown);
    assert_refused(&mut ns, &grant("/gone", "eve", None), not_found("/gone"));
}

#[test]
fn membership_changes() {
    let mut ns = Namespace::bootstrap(&[NodeId(1)]);
    let add = |node, role| Command::AddNode { node: NodeId(node), role };
    let change = ns.apply(LogIndex(5), &add(4, MemberRole::Learner));
    assert_eq!(change, Ok(Change::NodeAdded { node: NodeId(4), role: MemberRole::Learner }));
    let learner = Member {
        role: MemberRole::Learner,
        state: DeclaredState::Active,
        added_at: LogIndex(5),
        health: crate::health::Health::Up,
    };
    assert_eq!(ns.members().get(&NodeId(4)), Some(&learner));

    let drain = Command::SetNodeState { node: NodeId(4), state: DeclaredState::Draining };
    let change = run(&mut ns, &drain);
    assert_eq!(
        change,
        Ok(Change::NodeStateChanged { node: NodeId(4), state: DeclaredState::Draining })
    );
    // Promotion changes only the role.
    assert!(run(&mut ns, &add(4, MemberRole::Voter)).is_ok());
    let promoted = Member {
        role: MemberRole::Voter,
        state: DeclaredState::Draining,
        added_at: LogIndex(5),
        health: crate::health::Health::Up,
    };
    assert_eq!(ns.members().get(&NodeId(4)), Some(&promoted));

    let remove = |node| Command::RemoveNode { node: NodeId(node) };
    assert_eq!(run(&mut ns, &remove(4)), Ok(Change::NodeRemoved { node: NodeId(4) }));
    assert_eq!(run(&mut ns, &remove(9)), Ok(Change::NodeRemoved { node: NodeId(9) }));
    assert_eq!(ns.members().keys().collect::<Vec<_>>(), [&NodeId(1)]);

    let unknown = Command::SetNodeState { node: NodeId(4), state: DeclaredState::Active };
    assert_refused(&mut ns, &unknown, CommandError::UnknownNode { node: NodeId(4) });
}

// ---- queries ------------------------------------------------------------------------------------

#[test]
fn children_lists_live_direct_children_in_path_order() {
    let mut ns = Namespace::new();
    let files = ["/a/b/c", "/a/b/d/e", "/a/b-c", "/a/b.c", "/a/b0", "/a/ba", "/a-b", "/a.b", "/a0"];
    for (seed, path) in (1..).zip(files) {
        setup(&mut ns, &[put(path, seed)]);
    }
    setup(
        &mut ns,
        &[mkdir("/a/empty", "alice"), put("/a/gone", 20), del("/a/gone", Precondition::None)],
    );
    assert_eq!(listing(&ns, "/"), ["/a", "/a-b", "/a.b", "/a0"]);
    assert_eq!(listing(&ns, "/a"), ["/a/b", "/a/b-c", "/a/b.c", "/a/b0", "/a/ba", "/a/empty"]);
    assert_eq!(listing(&ns, "/a/b"), ["/a/b/c", "/a/b/d"]);
    assert_eq!(listing(&ns, "/a/b/d"), ["/a/b/d/e"]);
    assert_eq!(listing(&ns, "/a/empty"), Vec::<String>::new());
    assert_eq!(ns.children(&p("/a/b0")), Err(CommandError::NotAFolder { path: p("/a/b0") }));
    assert_eq!(ns.children(&p("/a/gone")), Err(not_found("/a/gone")));
    assert_eq!(ns.children(&p("/zz")), Err(not_found("/zz")));
    assert_eq!(ns.file_count(), files.len());
}

#[test]
fn children_handles_names_too_long_to_skip_over() {
    // A child folder whose name is at the length limit cannot be skipped with `name0`; the listing
    // falls back to stepping through its subtree and must still be right.
    let long = "z".repeat(crate::path::NAME_BYTES_MAX);
    let mut ns = Namespace::new();
    let inner = format!("/top/{long}/{long}");
    setup(
        &mut ns,
        &[put(&format!("{inner}/f"), 1), put(&format!("{inner}/g"), 2), put("/top/~", 3)],
    );
    setup(&mut ns, &[put(&format!("/top/{long}/x"), 4)]);
    assert_eq!(listing(&ns, "/top"), [format!("/top/{long}"), "/top/~".to_owned()]);
    // `x` sorts before the long `zzz…` name.
    assert_eq!(listing(&ns, &format!("/top/{long}")), [format!("/top/{long}/x"), inner.clone()]);
}

#[test]
fn children_of_the_deepest_folder_is_empty() {
    let deepest = "/d".repeat(crate::path::PATH_DEPTH_MAX);
    let mut ns = Namespace::new();
    setup(&mut ns, &[mkdir(&deepest, "alice")]);
    assert_eq!(ns.children(&p(&deepest)), Ok(vec![]));
}

#[test]
fn file_queries_name_the_problem() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[mkdir("/d", "alice"), put("/f", 1)]);
    let is_folder = CommandError::IsFolder { path: p("/d") };
    assert_eq!(ns.latest(&p("/d")), Err(is_folder.clone()));
    assert_eq!(ns.version(&p("/d"), Version(1)), Err(is_folder.clone()));
    assert_eq!(ns.checkpoint(&p("/d"), "x"), Err(is_folder.clone()));
    assert_eq!(ns.history(&p("/d")), Err(is_folder));
    assert_eq!(ns.latest(&p("/nothing")), Err(not_found("/nothing")));
    assert_eq!(ns.version(&p("/nothing"), Version(1)), Err(not_found("/nothing")));
    let missing = CommandError::VersionNotFound { path: p("/f"), version: Version(2) };
    assert_eq!(ns.version(&p("/f"), Version(2)), Err(missing));
    assert_eq!(ns.entry(&p("/nothing")), None);
}

// ---- workload, snapshots, determinism -------------------------------------------------------

/// A tiny deterministic generator (xorshift64*), so workloads need no RNG crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A short path over a tiny alphabet, so commands collide on paths.
fn random_path(rng: &mut XorShift) -> String {
    let depth = 1 + rng.below(3);
    (0..depth).map(|_| ["/a", "/b", "/c"][rng.below(3) as usize]).collect()
}

fn random_precondition(rng: &mut XorShift) -> Precondition {
    match rng.below(4) {
        0 => Precondition::Absent,
        1 => Precondition::Version(Version(1 + rng.below(4))),
        _ => Precondition::None,
    }
}

fn random_command(rng: &mut XorShift) -> Command {
    let path = random_path(rng);
    match rng.below(25) {
        0..=7 => {
            let lens: Vec<u32> = (0..rng.below(3)).map(|_| 1 + rng.below(5000) as u32).collect();
            let precondition = random_precondition(rng);
            Command::PutVersion {
                path: p(&path),
                precondition,
                content: content(rng.next(), &lens),
                author: user(["alice", "bob"][rng.below(2) as usize]),
                created_at: UnixMillis(rng.below(1 << 40)),
                replicas: Default::default(),
                idempotency_key: None,
            }
        }
        8..=9 => mkdir(&path, "carol"),
        10..=12 => Command::Delete {
            path: p(&path),
            precondition: random_precondition(rng),
            deleted_at: UnixMillis(rng.below(1 << 40)),
        },
        13 => checkpoint(&path, ["x", "y"][rng.below(2) as usize], Some(rng.below(4))),
        14 => revert(&path, 1 + rng.below(3)),
        15..=16 => grant(
            &path,
            "eve",
            [None, Some(Access::Read), Some(Access::Write)][rng.below(3) as usize],
        ),
        19 if rng.below(2) == 0 => bootstrap("root"),
        19 => add_user(["eve", "ops"][rng.below(2) as usize], rng.below(2) == 0),
        17 => Command::AddNode { node: NodeId(1 + rng.below(5)), role: MemberRole::Voter },
        18 => Command::RemoveNode { node: NodeId(1 + rng.below(5)) },
        20 => Command::Move { from: p(&path), to: p(&random_path(rng)) },
        21 => Command::DeleteRecursive { path: p(&path), deleted_at: UnixMillis(rng.below(99)) },
        22 => Command::SetRetention { keep_versions: rng.below(4) as u32 },
        23 => Command::Barrier,
        _ => {
            Command::SetNodeState { node: NodeId(1 + rng.below(5)), state: DeclaredState::Draining }
        }
    }
}

fn workload(seed: u64, count: usize) -> Vec<Command> {
    let mut rng = XorShift(seed);
    (0..count).map(|_| random_command(&mut rng)).collect()
}

/// Applies `commands` (skipping every fifth index, as raft's empty entries do), checking the
/// invariants after each; returns the results.
fn replay(ns: &mut Namespace, commands: &[Command]) -> Vec<Result<Change, CommandError>> {
    let mut results = Vec::new();
    for (at, command) in commands.iter().enumerate() {
        if at % 5 == 0 {
            ns.advance(LogIndex(ns.applied_index().0 + 1));
        }
        results.push(run(ns, command));
        assert_eq!(ns.check_invariants(), Ok(()), "after command {at}: {command:?}");
    }
    results
}

#[test]
fn random_workload_keeps_invariants_and_round_trips_through_a_snapshot() {
    let mut ns = Namespace::bootstrap(&[NodeId(1), NodeId(2), NodeId(3)]);
    let results = replay(&mut ns, &workload(0x5eed, 400));
    let applied = results.iter().filter(|result| result.is_ok()).count();
    assert!(applied > 100 && applied < 390, "the workload mixes successes and refusals: {applied}");
    assert!(ns.file_count() > 3 && !ns.retired.is_empty(), "the workload exercises retiring");

    let bytes = ns.snapshot();
    let restored = Namespace::restore(&bytes).expect("a snapshot restores");
    assert_eq!(restored, ns);
    assert_eq!(restored.snapshot(), bytes);
    assert_eq!(restored.digest(), ns.digest());
    assert_eq!(restored.file_count(), ns.file_count());
}

#[test]
fn the_same_commands_give_the_same_digest() {
    let commands = workload(42, 300);
    let (mut first, mut second) = (Namespace::new(), Namespace::new());
    let first_results = replay(&mut first, &commands);
    let second_results = replay(&mut second, &commands);
    assert_eq!(first_results, second_results);
    assert_eq!(first.digest(), second.digest());
    assert_eq!(first, second);
    let mut other = Namespace::new();
    replay(&mut other, &workload(43, 300));
    assert_ne!(other.digest(), first.digest());
}

/// The snapshot layout, built by hand so tests can encode states `apply` never makes.
#[derive(Serialize)]
struct RawSnapshot<K: Serialize> {
    applied: LogIndex,
    entries: Vec<(K, Entry)>,
    retired: Vec<(Path, Version)>,
    members: Vec<(NodeId, Member)>,
    replicas: Vec<(ChunkId, BTreeSet<NodeId>)>,
    idempotency: Vec<(super::idempotency::KeyScope, super::idempotency::Remembered)>,
    settings: Settings,
    users: Vec<(UserName, User)>,
}

impl<K: Serialize> RawSnapshot<K> {
    fn encode(&self) -> Vec<u8> {
        postcard::to_extend(self, vec![SNAPSHOT_FORMAT]).expect("encodes")
    }
}

fn raw(ns: &Namespace) -> RawSnapshot<Path> {
    RawSnapshot {
        applied: ns.applied,
        entries: ns.entries.clone().into_iter().collect(),
        retired: ns.retired.clone().into_iter().collect(),
        members: ns.members.clone().into_iter().collect(),
        replicas: ns.replicas.clone().into_iter().collect(),
        idempotency: ns.idempotency.clone().into_iter().collect(),
        settings: ns.settings,
        users: ns.users.clone().into_iter().collect(),
    }
}

fn sample() -> Namespace {
    let mut ns = Namespace::bootstrap(&[NodeId(1)]);
    setup(&mut ns, &[put("/d/f", 1), put("/d/f", 2), checkpoint("/d/f", "v1", Some(1))]);
    setup(&mut ns, &[put("/g", 3), del("/g", Precondition::None), put("/x", 4)]);
    setup(&mut ns, &[del("/x", Precondition::None), mkdir("/x", "bob")]);
    setup(&mut ns, &[bootstrap("root"), add_user("eve", false)]);
    ns
}

#[test]
fn the_snapshot_layout_is_pinned() {
    let ns = sample();
    assert_eq!(raw(&ns).encode(), ns.snapshot());
    assert_eq!(ns.snapshot()[0], SNAPSHOT_FORMAT);
}

#[test]
fn restore_rejects_damaged_bytes() {
    let bytes = sample().snapshot();
    for len in 0..bytes.len() {
        assert_eq!(
            Namespace::restore(&bytes[..len]).err(),
            Some(SnapshotError::Truncated),
            "{len}"
        );
    }
    let mut trailing = bytes.clone();
    trailing.extend([0, 0]);
    assert_eq!(Namespace::restore(&trailing), Err(SnapshotError::TrailingBytes { extra_bytes: 2 }));
    for format in [0, SNAPSHOT_FORMAT + 1] {
        let mut other = bytes.clone();
        other[0] = format;
        let unknown = SnapshotError::UnknownFormat { found: format, supported: SNAPSHOT_FORMAT };
        assert_eq!(Namespace::restore(&other), Err(unknown));
    }
    let bad_path = RawSnapshot {
        entries: vec![("/a/../b".to_owned(), Entry::folder(user("a")))],
        ..raw_with(&[])
    };
    assert_eq!(Namespace::restore(&bad_path.encode()), Err(SnapshotError::Malformed));
}

#[test]
fn restore_never_panics_on_garbage() {
    let mut rng = XorShift(7);
    let valid = sample().snapshot();
    for round in 0..2_000 {
        let mut bytes: Vec<u8> = if round % 2 == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            valid.clone()
        };
        // Flip a few bytes (of the valid snapshot, or again of the garbage).
        for _ in 0..1 + rng.below(3) {
            if let Some(byte) = bytes.get_mut(rng.below(valid.len() as u64) as usize) {
                *byte ^= 1 + rng.next() as u8 % 255;
            }
        }
        if let Ok(ns) = Namespace::restore(&bytes) {
            assert_eq!(ns.check_invariants(), Ok(()));
        }
    }
    let garbage: Vec<u8> =
        [SNAPSHOT_FORMAT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff].into();
    assert_eq!(Namespace::restore(&garbage), Err(SnapshotError::Malformed));
}

/// A raw snapshot holding the root and `entries` (paths in order as given).
fn raw_with(entries: &[(&str, Entry)]) -> RawSnapshot<String> {
    let root = ("/".to_owned(), Entry::folder(user("admin")));
    let rest = entries.iter().map(|(path, entry)| ((*path).to_owned(), entry.clone()));
    RawSnapshot {
        applied: LogIndex(9),
        entries: std::iter::once(root).chain(rest).collect(),
        retired: vec![],
        members: vec![],
        replicas: vec![],
        idempotency: vec![],
        settings: Settings::default(),
        users: vec![],
    }
}

fn file_entry(versions: &[u64], deleted: Option<u64>, checkpoints: &[(&str, u64)]) -> Entry {
    let record = |v: u64| VersionRecord {
        version: Version(v),
        content: content(v, &[5]),
        author: user("alice"),
        created_at: UnixMillis(v),
        index: LogIndex(v),
    };
    let tombstone =
        |v: u64| Tombstone { version: Version(v), deleted_at: UnixMillis(1), index: LogIndex(8) };
    Entry {
        owner: user("alice"),
        grants: BTreeMap::new(),
        kind: EntryKind::File(FileRecord {
            versions: versions.iter().map(|&v| record(v)).collect(),
            deleted: deleted.map(tombstone),
            checkpoints: checkpoints
                .iter()
                .map(|&(name, v)| (name.to_owned(), Version(v)))
                .collect(),
        }),
    }
}

#[test]
fn restore_rejects_unordered_or_repeated_keys() {
    let folder = || Entry::folder(user("alice"));
    let unordered = raw_with(&[("/b", folder()), ("/a", folder())]);
    let repeated = raw_with(&[("/a", folder()), ("/a", folder())]);
    let retired = vec![(p("/b"), Version(1)), (p("/a"), Version(1))];
    let unordered_retired = RawSnapshot { retired, ..raw_with(&[]) };
    for snapshot in [unordered, repeated, unordered_retired] {
        assert_eq!(Namespace::restore(&snapshot.encode()), Err(SnapshotError::NotCanonical));
    }
}

#[test]
fn restore_rejects_inconsistent_states() {
    use InvariantViolation as V;
    let folder = || Entry::folder(user("alice"));
    let good = file_entry(&[1, 2], None, &[]);
    let cases: Vec<(RawSnapshot<String>, SnapshotError)> = vec![
        (
            RawSnapshot { entries: vec![("/a".to_owned(), folder())], ..raw_with(&[]) },
            V::MissingRoot.into(),
        ),
        (
            RawSnapshot { entries: vec![("/".to_owned(), good.clone())], ..raw_with(&[]) },
            V::RootNotAFolder.into(),
        ),
        (raw_with(&[("/a/b", folder())]), V::Orphan { path: p("/a/b") }.into()),
        (
            raw_with(&[("/f", good.clone()), ("/f/g", folder())]),
            V::ParentNotAFolder { path: p("/f/g") }.into(),
        ),
        (raw_with(&[("/f", file_entry(&[], None, &[]))]), V::EmptyHistory { path: p("/f") }.into()),
        (
            raw_with(&[("/f", file_entry(&[2, 2], None, &[]))]),
            V::VersionsNotIncreasing { path: p("/f") }.into(),
        ),
        (
            raw_with(&[("/f", file_entry(&[0, 1], None, &[]))]),
            V::VersionsNotIncreasing { path: p("/f") }.into(),
        ),
        (
            raw_with(&[("/f", file_entry(&[1, 2], Some(1), &[]))]),
            V::TombstoneMismatch { path: p("/f") }.into(),
        ),
        (
            raw_with(&[("/f", file_entry(&[1], None, &[("a/b", 1)]))]),
            V::BadCheckpointName { path: p("/f"), name: "a/b".to_owned() }.into(),
        ),
        (
            raw_with(&[("/f", file_entry(&[1, 3], None, &[("c", 2)]))]),
            V::DanglingCheckpoint { path: p("/f"), name: "c".to_owned() }.into(),
        ),
        (
            RawSnapshot {
                retired: vec![(p("/f"), Version(1))],
                ..raw_with(&[("/f", good.clone())])
            },
            V::RetiredFile { path: p("/f") }.into(),
        ),
    ];
    for (snapshot, expected) in cases {
        assert_eq!(Namespace::restore(&snapshot.encode()), Err(expected));
    }
    // The same layout with consistent contents restores, with the live files counted.
    let fine = raw_with(&[
        ("/d", folder()),
        ("/d/f", good),
        ("/g", file_entry(&[4], Some(4), &[("k", 4)])),
    ]);
    let restored = Namespace::restore(&fine.encode()).expect("consistent");
    assert_eq!((restored.file_count(), restored.applied_index()), (1, LogIndex(9)));
}

#[test]
fn check_invariants_catches_a_wrong_file_count() {
    let mut ns = sample();
    ns.live_files += 1;
    let counted = ns.live_files - 1;
    assert_eq!(
        ns.check_invariants(),
        Err(InvariantViolation::FileCount { recorded: counted + 1, counted })
    );
}

#[test]
fn writes_record_where_their_chunks_are_and_snapshots_keep_it() {
    let mut ns = Namespace::new();
    let Command::PutVersion { path, precondition, content, author, created_at, .. } = put("/r", 5)
    else {
        unreachable!("put builds a PutVersion")
    };
    let chunk = content.chunks[0].id;
    let stray = ChunkId(Hash::of(b"not in this file"));
    let replicas: BTreeMap<ChunkId, BTreeSet<NodeId>> = [
        (chunk, [NodeId(1), NodeId(2)].into_iter().collect()),
        (stray, [NodeId(3)].into_iter().collect()),
    ]
    .into_iter()
    .collect();
    let command = Command::PutVersion {
        path,
        precondition,
        content: content.clone(),
        author,
        created_at,
        replicas: replicas.clone(),
        idempotency_key: None,
    };
    ns.apply(LogIndex(1), &command).expect("applies");
    assert_eq!(ns.replicas(&chunk), replicas.get(&chunk));
    assert_eq!(ns.replicas(&stray), None, "chunks the file does not use are not recorded");
    let restored = Namespace::restore(&ns.snapshot()).expect("restores");
    assert_eq!(restored.replicas(&chunk), replicas.get(&chunk));
    // A refused write records nothing.
    let mut refused = command.clone();
    if let Command::PutVersion { precondition, replicas, .. } = &mut refused {
        *precondition = Precondition::Absent;
        replicas.insert(chunk, [NodeId(9)].into_iter().collect());
    }
    assert!(ns.apply(LogIndex(2), &refused).is_err());
    assert_eq!(ns.replicas(&chunk), replicas.get(&chunk));
}

fn keyed(mut command: Command, key: &str) -> Command {
    if let Command::PutVersion { idempotency_key, .. } = &mut command {
        *idempotency_key = IdempotencyKey::parse(key);
    }
    command
}

#[test]
fn a_retried_keyed_put_returns_the_first_outcome_and_writes_once() {
    let mut ns = Namespace::new();
    // The retry carries a precondition that no longer holds: it is the same write.
    let mut retry = keyed(put("/k", 1), "retry-me");
    if let Command::PutVersion { precondition, .. } = &mut retry {
        *precondition = Precondition::Absent;
    }
    let first = ns.apply(LogIndex(1), &retry).expect("writes");
    assert_eq!(ns.apply(LogIndex(2), &retry), Ok(first.clone()));
    assert_eq!(ns.history(&p("/k")).map(<[_]>::len), Ok(1), "one version, not two");
    let other = ns.apply(LogIndex(3), &keyed(put("/k", 2), "another-key")).expect("writes");
    assert_ne!(other, first);
    let restored = Namespace::restore(&ns.snapshot()).expect("restores");
    assert_eq!(restored.apply_clone(LogIndex(4), &retry), Ok(first), "keys survive snapshots");
}

#[test]
fn idempotency_keys_are_forgotten_after_the_window() {
    let mut ns = Namespace::new();
    ns.apply(LogIndex(1), &keyed(put("/w", 1), "old")).expect("writes");
    ns.advance(LogIndex(2 + IDEMPOTENCY_WINDOW));
    ns.apply(LogIndex(3 + IDEMPOTENCY_WINDOW), &keyed(put("/w", 2), "new")).expect("writes");
    assert_eq!(ns.idempotency.len(), 1, "the old key was dropped");
    assert_eq!(ns.idempotency_order.len(), 1);
    assert!(IdempotencyKey::parse("").is_none());
    assert!(IdempotencyKey::parse("has space").is_none());
    assert!(IdempotencyKey::parse(&"k".repeat(129)).is_none());
}

impl Namespace {
    /// Applies to a copy (tests only).
    fn apply_clone(&self, index: LogIndex, command: &Command) -> Result<Change, CommandError> {
        self.clone().apply(index, command)
    }
}
