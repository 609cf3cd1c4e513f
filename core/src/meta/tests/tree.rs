//! Unit tests of the subtree commands (`Move`, `DeleteRecursive`), version retention
//! (`SetRetention`), the snapshot format that carries the setting, and conflict messages.

use super::*;

fn mv(from: &str, to: &str) -> Command {
    Command::Move { from: p(from), to: p(to) }
}

fn rm_r(path: &str) -> Command {
    Command::DeleteRecursive { path: p(path), deleted_at: UnixMillis(5_000) }
}

fn retention(keep_versions: u32) -> Command {
    Command::SetRetention { keep_versions }
}

fn versions(ns: &Namespace, path: &str) -> Vec<u64> {
    let history = ns.history(&p(path)).expect("a file is there");
    history.iter().map(|record| record.version.0).collect()
}

// ---- move -----------------------------------------------------------------------------------

#[test]
fn move_carries_a_files_versions_and_checkpoints_and_makes_parents() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/a", 1), put("/a", 2), checkpoint("/a", "first", Some(1))]);
    let before = ns.history(&p("/a")).expect("file").to_vec();

    let change = run(&mut ns, &mv("/a", "/x/y/b")).expect("moves");

    assert_eq!(change, Change::Moved { from: p("/a"), to: p("/x/y/b"), folder: false });
    assert_eq!(ns.history(&p("/x/y/b")).expect("moved"), before.as_slice());
    assert_eq!(ns.checkpoint(&p("/x/y/b"), "first").map(|v| v.version), Ok(Version(1)));
    assert_eq!(ns.entry(&p("/a")), None);
    assert_eq!(listing(&ns, "/x"), ["/x/y"]);
    assert_eq!(ns.file_count(), 1);
    // A new file at the old path continues its numbering.
    let Ok(Change::FileWritten { version, .. }) = run(&mut ns, &put("/a", 3)) else {
        panic!("a put at the old path works")
    };
    assert_eq!(version, Version(3));
}

#[test]
fn move_of_a_folder_moves_its_whole_subtree_and_nothing_else() {
    let mut ns = Namespace::new();
    setup(
        &mut ns,
        &[
            put("/d/f1", 1),
            put("/d/e/f2", 2),
            put("/d/gone", 3),
            del("/d/gone", Precondition::None),
            put("/d b", 4),
            put("/d.x/f", 5),
        ],
    );
    let change = run(&mut ns, &mv("/d", "/n")).expect("moves");

    assert_eq!(change, Change::Moved { from: p("/d"), to: p("/n"), folder: true });
    assert_eq!(listing(&ns, "/"), ["/d b", "/d.x", "/n"]);
    assert_eq!(listing(&ns, "/n"), ["/n/e", "/n/f1"]);
    assert_eq!(versions(&ns, "/n/e/f2"), [1]);
    assert!(file(&ns, "/n/gone").is_deleted(), "tombstones move with their folder");
    assert_eq!(ns.latest(&p("/d b")).map(|v| v.version), Ok(Version(1)));
    assert_eq!(ns.latest(&p("/d.x/f")).map(|v| v.version), Ok(Version(1)));
    assert!(ns.entries().all(|(path, _)| !path.starts_with(&p("/d"))));
    assert_eq!(ns.file_count(), 4);
    assert_eq!(ns.check_invariants(), Ok(()));
}

#[test]
fn move_onto_a_tombstoned_file_retires_it() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/old", 1), put("/old", 2), del("/old", Precondition::None)]);
    setup(&mut ns, &[put("/new", 3)]);
    run(&mut ns, &mv("/new", "/old")).expect("moves over a tombstone");
    assert_eq!(versions(&ns, "/old"), [1]);
    assert!(!file(&ns, "/old").is_deleted());
    assert_eq!(ns.check_invariants(), Ok(()));
}

#[test]
fn move_refusals_change_nothing() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/d/f", 1), put("/g", 2), put("/t", 3), del("/t", Precondition::None)]);
    let into = |from: &str, to: &str| CommandError::MoveIntoItself { from: p(from), to: p(to) };
    let deep = format!("/x{}", "/y".repeat(63));
    let too_deep = CommandError::InvalidPath(crate::path::PathError::TooDeep);
    let cases = [
        (mv("/", "/z"), CommandError::RootImmutable),
        (mv("/g", "/"), CommandError::RootImmutable),
        (mv("/nope", "/z"), not_found("/nope")),
        (mv("/t", "/z"), not_found("/t")),
        (mv("/g", "/d/f"), CommandError::AlreadyExists { path: p("/d/f") }),
        (mv("/g", "/d"), CommandError::AlreadyExists { path: p("/d") }),
        (mv("/d", "/d"), into("/d", "/d")),
        (mv("/d", "/d/sub"), into("/d", "/d/sub")),
        (mv("/d", "/g/sub"), CommandError::NotAFolder { path: p("/g") }),
        (mv("/d", &deep), too_deep),
    ];
    for (command, expected) in cases {
        assert_refused(&mut ns, &command, expected);
    }
}

// ---- recursive delete ------------------------------------------------------------------------

#[test]
fn recursive_delete_removes_a_folder_and_everything_under_it() {
    let mut ns = Namespace::new();
    setup(
        &mut ns,
        &[
            put("/d/a", 1),
            put("/d/a", 2),
            put("/d/e/b", 3),
            put("/d/t", 4),
            del("/d/t", Precondition::None),
            mkdir("/d/e/empty", "bob"),
            put("/d b", 5),
        ],
    );
    assert_eq!(ns.tree_counts(&p("/d")), Ok(TreeCounts { files: 2, folders: 3 }));

    let change = run(&mut ns, &rm_r("/d")).expect("deletes");

    let files = vec![(p("/d/a"), Version(2)), (p("/d/e/b"), Version(1))];
    let folders = vec![p("/d/e/empty"), p("/d/e"), p("/d")];
    assert_eq!(change, Change::TreeDeleted { path: p("/d"), files, folders });
    assert_eq!(listing(&ns, "/"), ["/d b"]);
    assert_eq!(ns.file_count(), 1);
    assert_eq!(ns.check_invariants(), Ok(()));
    // Numbering never repeats at a removed file's path.
    let Ok(Change::FileWritten { version, .. }) = run(&mut ns, &put("/d/a", 6)) else {
        panic!("a put at the removed path works")
    };
    assert_eq!(version, Version(3));
}

#[test]
fn recursive_delete_of_a_file_tombstones_it() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1)]);
    let change = run(&mut ns, &rm_r("/f")).expect("deletes");
    let files = vec![(p("/f"), Version(1))];
    assert_eq!(change, Change::TreeDeleted { path: p("/f"), files, folders: vec![] });
    assert!(file(&ns, "/f").is_deleted());
    assert_eq!(versions(&ns, "/f"), [1], "a deleted file's history stays readable");
    assert_eq!(ns.file_count(), 0);
}

#[test]
fn recursive_delete_refusals_change_nothing() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/d/f", 1), put("/t", 2), del("/t", Precondition::None)]);
    assert_refused(&mut ns, &rm_r("/"), CommandError::RootImmutable);
    assert_refused(&mut ns, &rm_r("/nope"), not_found("/nope"));
    assert_refused(&mut ns, &rm_r("/t"), not_found("/t"));
    assert_eq!(ns.tree_counts(&p("/t")), Err(not_found("/t")));
}

// ---- retention -------------------------------------------------------------------------------

#[test]
fn retention_keeps_the_newest_versions_and_every_checkpoint() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1), checkpoint("/f", "one", Some(1)), put("/f", 2)]);
    assert_eq!(run(&mut ns, &retention(2)), Ok(Change::RetentionSet { keep_versions: 2 }));
    setup(&mut ns, &[put("/other", 9), put("/other", 9), put("/other", 9)]);
    assert_eq!(versions(&ns, "/f"), [1, 2], "the setting applies at a file's next write");
    setup(&mut ns, &[put("/f", 3), put("/f", 4), put("/f", 5)]);
    assert_eq!(versions(&ns, "/f"), [1, 4, 5], "v1 is checkpointed, v4 and v5 are the newest two");
    assert_eq!(versions(&ns, "/other"), [2, 3]);
    // A pruned version is gone for reads, reverts and checkpoints alike.
    let missing = CommandError::VersionNotFound { path: p("/f"), version: Version(3) };
    assert_eq!(ns.version(&p("/f"), Version(3)).err(), Some(missing.clone()));
    assert_refused(&mut ns, &revert("/f", 3), missing.clone());
    assert_refused(&mut ns, &checkpoint("/f", "three", Some(3)), missing);
    // A revert is a write and prunes too.
    setup(&mut ns, &[revert("/f", 1)]);
    assert_eq!(versions(&ns, "/f"), [1, 5, 6]);
    // 0 keeps everything again.
    setup(&mut ns, &[retention(0), put("/f", 7), put("/f", 8)]);
    assert_eq!(versions(&ns, "/f"), [1, 5, 6, 7, 8]);
}

#[test]
fn retention_is_deterministic_and_survives_a_snapshot() {
    let commands = [retention(1), put("/f", 1), put("/f", 2), put("/f", 3)];
    let (mut first, mut second) = (Namespace::new(), Namespace::new());
    setup(&mut first, &commands);
    setup(&mut second, &commands);
    assert_eq!(first.digest(), second.digest());
    assert_eq!(versions(&first, "/f"), [3]);
    let restored = Namespace::restore(&first.snapshot()).expect("restores");
    assert_eq!(restored.settings(), Settings { keep_versions: 1 });
    assert_eq!(restored, first);
}

/// The format 2 layout: format 3 without the settings.
#[derive(Serialize)]
struct FormatTwo {
    applied: LogIndex,
    entries: Vec<(Path, Entry)>,
    retired: Vec<(Path, Version)>,
    members: Vec<(NodeId, Member)>,
    replicas: Vec<(ChunkId, BTreeSet<NodeId>)>,
    idempotency: Vec<(IdempotencyKey, (LogIndex, Change))>,
}

#[test]
fn a_format_two_snapshot_restores_with_default_settings() {
    // Format 2 has no users.
    let mut ns = sample();
    ns.users.clear();
    let full = raw(&ns);
    let old = FormatTwo {
        applied: full.applied,
        entries: full.entries,
        retired: full.retired,
        members: full.members,
        replicas: full.replicas,
        idempotency: vec![],
    };
    let bytes = postcard::to_extend(&old, vec![SNAPSHOT_FORMAT_OLDEST]).expect("encodes");
    let restored = Namespace::restore(&bytes).expect("format 2 restores");
    assert_eq!(restored, ns);
    assert_eq!(restored.settings(), Settings::default());
    // The later encodings of the same namespace (no keys) are the format 2 body plus more.
    assert_eq!(ns.snapshot()[1..bytes.len()], bytes[1..]);
    // Global keys of an old format are dropped: they were not bound to a request.
    let change = Change::FolderCreated { path: p("/x") };
    let global = (IdempotencyKey::parse("k1").expect("valid"), (LogIndex(3), change));
    let old = FormatTwo { idempotency: vec![global], ..old };
    let bytes = postcard::to_extend(&old, vec![SNAPSHOT_FORMAT_OLDEST]).expect("encodes");
    assert_eq!(Namespace::restore(&bytes), Ok(ns));
}

#[test]
fn a_format_three_snapshot_restores_with_no_users() {
    let mut ns = sample();
    ns.users.clear();
    let current = ns.snapshot();
    // Format 3 is format 4 without the (here empty: one zero length byte) user table, and
    // format 4 (like 5) has no S3 tables (two more zero length bytes), nor the multipart
    // tables of format 7 (two more), nor the member addresses of format 8 (one more).
    let mut old = current[..current.len() - 6].to_vec();
    old[0] = 3;
    assert_eq!(current[current.len() - 6..], [0, 0, 0, 0, 0, 0]);
    let restored = Namespace::restore(&old).expect("format 3 restores");
    assert_eq!(restored, ns);
    assert!(restored.has_no_users());
}

// ---- conflicts -------------------------------------------------------------------------------

#[test]
fn a_version_conflict_names_the_current_version() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1), put("/f", 2)]);
    let error = run(&mut ns, &put_as("/f", Precondition::Version(Version(1)), 3, "bob"))
        .expect_err("v1 is no longer the latest");
    let message = error.to_string();
    assert!(message.contains("expected version 1"), "{message}");
    assert!(message.contains("current version is 2"), "{message}");
    let absent = run(&mut ns, &put_as("/f", Precondition::Absent, 3, "bob")).expect_err("exists");
    assert!(absent.to_string().contains("current version is 2"), "{absent}");
}

// ---- paged listings --------------------------------------------------------------------------

#[test]
fn children_page_lists_live_children_a_page_at_a_time() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/d/a", 1), put("/d/b/deep", 2), put("/d/c", 3), put("/d/e", 4)]);
    setup(&mut ns, &[del("/d/c", Precondition::None), put("/d-x", 5)]);
    let names = |page: &[(&Path, &Entry)]| -> Vec<String> {
        page.iter().map(|(path, _)| path.to_string()).collect()
    };
    let (first, more) = ns.children_page(&p("/d"), None, 2).expect("a folder");
    assert_eq!((names(&first), more), (vec!["/d/a".to_owned(), "/d/b".to_owned()], true));
    // After a folder, its subtree is skipped; the tombstoned /d/c is not listed.
    let (second, more) = ns.children_page(&p("/d"), Some("b"), 2).expect("a folder");
    assert_eq!((names(&second), more), (vec!["/d/e".to_owned()], false));
    // A full page with only tombstones after it has no next page.
    let (exact, more) = ns.children_page(&p("/d"), Some("a"), 2).expect("a folder");
    assert_eq!((names(&exact), more), (vec!["/d/b".to_owned(), "/d/e".to_owned()], false));
    assert_eq!(
        ns.children_page(&p("/d/a"), None, 5).err(),
        Some(CommandError::NotAFolder { path: p("/d/a") })
    );
    assert_eq!(ns.children_page(&p("/nope"), None, 5).err(), Some(not_found("/nope")));
    assert!(matches!(ns.children_page(&p("/d"), Some(".."), 5), Err(CommandError::InvalidPath(_))));
}
