//! Unit tests of each namespace command's success path and refusals (a refusal changes nothing
//! but the applied index): construction and log order, folders, puts, deletes, checkpoints and
//! reverts, grants and members.

use super::*;

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

#[test]
fn node_addresses_are_recorded_checked_and_forgotten_with_the_member() {
    use crate::membership::{JoinRefused, MemberAddrs, ADDRESSES_MAX};
    let mut ns = Namespace::bootstrap(&[NodeId(1)]);
    let at = |port: u16| MemberAddrs {
        peer: ([127, 0, 0, 1], port).into(),
        http: ([127, 0, 0, 1], port + 1).into(),
    };
    let set = |node, addrs| Command::SetNodeAddrs { node: NodeId(node), addrs };
    // A joining node's addresses are recorded before it is a member.
    let change = run(&mut ns, &set(4, at(7000)));
    assert_eq!(change, Ok(Change::NodeAddrsSet { node: NodeId(4), addrs: at(7000) }));
    assert_eq!(run(&mut ns, &set(4, at(7100))).map(|_| ()), Ok(()));
    assert_eq!(ns.member_addrs().get(&NodeId(4)), Some(&at(7100)));

    let unspecified = MemberAddrs { peer: ([0, 0, 0, 0], 7000).into(), ..at(7000) };
    let refused = CommandError::BadNodeAddrs(JoinRefused::NotDialable(unspecified));
    assert_refused(&mut ns, &set(5, unspecified), refused);
    assert_refused(&mut ns, &set(0, at(7000)), CommandError::BadNodeAddrs(JoinRefused::ZeroId));

    let add = Command::AddNode { node: NodeId(4), role: MemberRole::Learner };
    setup(&mut ns, &[add, Command::RemoveNode { node: NodeId(4) }]);
    assert_eq!(ns.member_addrs().get(&NodeId(4)), None, "removal forgets the addresses");

    for node in 10..10 + ADDRESSES_MAX as u64 {
        setup(&mut ns, &[set(node, at(7000))]);
    }
    let full = CommandError::BadNodeAddrs(JoinRefused::TooMany);
    assert_refused(&mut ns, &set(5, at(7000)), full);
    // A recorded node may still move.
    assert!(run(&mut ns, &set(10, at(7200))).is_ok());
    let restored = Namespace::restore(&ns.snapshot()).expect("restores");
    assert_eq!(restored.member_addrs(), ns.member_addrs());
}
