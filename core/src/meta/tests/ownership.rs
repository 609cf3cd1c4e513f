//! Unit tests of ownership regions (issue 22, point 5): a mkdir for someone gives them only the
//! leaf; an owner's rights and the grants above stop at a folder owned by someone else; folders
//! made under a grant join the region they are made in; moves need write on both parents and
//! ownership of what moves; recursive deletes need write on all they remove. And (point 9) a
//! revert brings a deleted file back.

use super::*;
use crate::auth::{Caller, Need};

fn caller(name: &str, admin: bool) -> Caller {
    Caller { user: user(name), admin }
}

/// `CreateFolderIn`: owned by the folder above, or the leaf by `owner`.
fn mkdir_in(path: &str, owner: Option<&str>) -> Command {
    Command::CreateFolderIn { path: p(path), owner: owner.map(user) }
}

fn forbidden(who: &str, path: &str, need: Need) -> CommandError {
    CommandError::Forbidden { user: user(who), path: p(path), need }
}

/// root (admin), alice, bob, carol; /home/alice and /home/bob made by the admin for them, with
/// a file each; /home/alice/for-bob made by the admin for bob inside alice's home, with a file.
fn homes() -> Namespace {
    let mut ns = Namespace::new();
    setup(
        &mut ns,
        &[
            bootstrap("root"),
            add_user("alice", false),
            add_user("bob", false),
            add_user("carol", false),
        ],
    );
    setup(
        &mut ns,
        &[
            mkdir_in("/home/alice", Some("alice")),
            mkdir_in("/home/bob", Some("bob")),
            put_as("/home/alice/notes.txt", Precondition::None, 1, "alice"),
            put_as("/home/bob/diary.txt", Precondition::None, 2, "bob"),
            mkdir_in("/home/alice/for-bob", Some("bob")),
            put_as("/home/alice/for-bob/b.txt", Precondition::None, 3, "bob"),
        ],
    );
    ns
}

fn owner_of(ns: &Namespace, path: &str) -> String {
    ns.entry(&p(path)).map(|entry| entry.owner.0.clone()).unwrap_or_default()
}

#[test]
fn a_mkdir_for_someone_gives_them_only_the_leaf() {
    let ns = homes();
    assert_eq!(owner_of(&ns, "/home"), "admin", "a missing parent: the root's region");
    assert_eq!(owner_of(&ns, "/home/alice"), "alice");
    assert_eq!(owner_of(&ns, "/home/bob"), "bob");
    let alice = caller("alice", false);
    assert_eq!(ns.level(&alice, &p("/home")), Level::None);
    assert_eq!(ns.level(&alice, &p("/home/bob")), Level::None);
    assert_eq!(ns.level(&alice, &p("/home/bob/diary.txt")), Level::None);
    assert_eq!(ns.level(&alice, &p("/home/alice/new/deeper")), Level::Full);
    // The attack: alice may not grant herself anything on bob's home or on /home.
    let refused = ns.check_access(&alice, &p("/home/bob"), Need::Manage);
    assert_eq!(refused, Err(forbidden("alice", "/home/bob", Need::Manage)));
    assert!(ns.check_access(&alice, &p("/home"), Need::Manage).is_err());
    // A mkdir without an owner, by an admin inside alice's home: hers, like its parents.
    let mut ns = ns;
    setup(&mut ns, &[mkdir_in("/home/alice/a/b", None)]);
    assert_eq!(
        (owner_of(&ns, "/home/alice/a"), owner_of(&ns, "/home/alice/a/b")),
        ("alice".into(), "alice".into())
    );
    let refused = run(&mut ns, &mkdir_in("/home/alice/a", Some("bob")));
    assert_eq!(refused, Err(CommandError::AlreadyExists { path: p("/home/alice/a") }));
    assert_eq!(ns.check_invariants(), Ok(()));
}

#[test]
fn owner_rights_and_grants_stop_at_a_folder_owned_by_someone_else() {
    let mut ns = homes();
    let (alice, carol) = (caller("alice", false), caller("carol", false));
    let inside = p("/home/alice/for-bob/b.txt");
    assert_eq!(ns.level(&alice, &p("/home/alice/notes.txt")), Level::Full);
    assert_eq!(ns.level(&alice, &p("/home/alice/for-bob")), Level::None);
    assert_eq!(ns.level(&alice, &inside), Level::None);
    assert_eq!(ns.level(&caller("bob", false), &inside), Level::Full);
    // Grants alice sets on her home (even to herself) do not reach into bob's folder.
    setup(
        &mut ns,
        &[
            grant("/home/alice", "alice", Some(Access::Write)),
            grant("/home/alice", "carol", Some(Access::Read)),
            grant("/", "carol", Some(Access::Write)),
        ],
    );
    assert_eq!(ns.level(&alice, &inside), Level::None);
    assert_eq!(ns.level(&carol, &inside), Level::None);
    assert_eq!(ns.level(&carol, &p("/home/alice/notes.txt")), Level::Read);
    assert_eq!(
        ns.level(&carol, &p("/home/alice")),
        Level::Read,
        "not the root's w: another region"
    );
    assert_eq!(ns.level(&carol, &p("/home")), Level::Write, "the root's region");
    assert!(ns.check_access(&alice, &p("/home/alice/for-bob"), Need::Manage).is_err());
    // A grant inside bob's folder, by bob, does count.
    setup(&mut ns, &[grant("/home/alice/for-bob", "alice", Some(Access::Read))]);
    assert_eq!(ns.level(&alice, &inside), Level::Read);
    // The access list starts at the top of the path's region.
    let lines = ns.access_list(&inside).expect("live");
    let shown: Vec<String> =
        lines.iter().map(|l| format!("{} {} {:?}", l.on, l.user, l.access)).collect();
    assert_eq!(
        shown,
        [
            "/home/alice/for-bob bob None",
            "/home/alice/for-bob alice Some(Read)",
            "/home/alice/for-bob/b.txt bob None",
        ]
    );
}

#[test]
fn the_root_owner_name_gives_nobody_rights() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[bootstrap("ops"), add_user("admin", false)]);
    setup(&mut ns, &[mkdir_in("/data/x", None)]);
    assert_eq!(owner_of(&ns, "/data"), "admin");
    let named_admin = caller("admin", false);
    assert_eq!(ns.level(&named_admin, &p("/")), Level::None);
    assert_eq!(ns.level(&named_admin, &p("/data/x")), Level::None);
    assert_eq!(ns.level(&caller("ops", true), &p("/data/x")), Level::Full);
}

#[test]
fn folders_made_under_a_grant_join_the_region_they_are_made_in() {
    let mut ns = homes();
    setup(&mut ns, &[grant("/home/alice", "bob", Some(Access::Write))]);
    setup(
        &mut ns,
        &[
            put_as("/home/alice/shared/deep/f.txt", Precondition::None, 4, "bob"),
            mkdir_in("/home/alice/made-by-bob", None),
        ],
    );
    for folder in ["/home/alice/shared", "/home/alice/shared/deep", "/home/alice/made-by-bob"] {
        assert_eq!(owner_of(&ns, folder), "alice", "{folder}");
    }
    assert_eq!(owner_of(&ns, "/home/alice/shared/deep/f.txt"), "bob", "a file: its author");
    let file = p("/home/alice/shared/deep/f.txt");
    assert_eq!(ns.level(&caller("alice", false), &file), Level::Full, "still alice's region");
    assert_eq!(ns.level(&caller("bob", false), &file), Level::Full, "his own file");
    assert_eq!(ns.level(&caller("bob", false), &p("/home/alice/shared")), Level::Write);
    // Revoking bob's grant leaves him his file, not the folders.
    setup(&mut ns, &[grant("/home/alice", "bob", None)]);
    assert_eq!(ns.level(&caller("bob", false), &file), Level::Full);
    assert_eq!(ns.level(&caller("bob", false), &p("/home/alice/shared")), Level::None);
}

#[test]
fn a_move_needs_write_on_both_parents_and_ownership_of_what_moves() {
    let mut ns = homes();
    let (alice, bob) = (caller("alice", false), caller("bob", false));
    let check =
        |ns: &Namespace, who: &Caller, from: &str, to: &str| ns.check_move(who, &p(from), &p(to));
    // The attack: alice moves bob's home into hers.
    let refused = check(&ns, &alice, "/home/bob", "/home/alice/bob");
    assert_eq!(refused, Err(forbidden("alice", "/home", Need::Write)));
    // The target's parent: bob may not drop his file into alice's home.
    let refused = check(&ns, &bob, "/home/bob/diary.txt", "/home/alice/diary.txt");
    assert_eq!(refused, Err(forbidden("bob", "/home/alice", Need::Write)));
    // The source's parent: bob's own file in alice's home, without a grant there.
    let refused = check(&ns, &bob, "/home/alice/for-bob", "/home/bob/back");
    assert_eq!(refused, Err(forbidden("bob", "/home/alice", Need::Write)));
    // Ownership: w on both ends does not let bob move alice's file.
    setup(&mut ns, &[grant("/home/alice", "bob", Some(Access::Write))]);
    let refused = check(&ns, &bob, "/home/alice/notes.txt", "/home/alice/mine.txt");
    assert_eq!(refused, Err(forbidden("bob", "/home/alice/notes.txt", Need::Move)));
    assert_eq!(check(&ns, &bob, "/home/alice/for-bob", "/home/bob/back"), Ok(()), "his own");
    // Ownership of everything that moves: alice's folder holds bob's.
    setup(&mut ns, &[mkdir_in("/home/alice/keep", None)]);
    assert_eq!(check(&ns, &alice, "/home/alice/keep", "/home/alice/kept"), Ok(()));
    let refused = check(&ns, &alice, "/home/alice", "/home/alice2");
    assert_eq!(refused, Err(forbidden("alice", "/home", Need::Write)));
    setup(
        &mut ns,
        &[
            mkdir_in("/home/alice/box", None),
            Command::Move { from: p("/home/alice/for-bob"), to: p("/home/alice/box/for-bob") },
        ],
    );
    let refused = check(&ns, &alice, "/home/alice/box", "/home/alice/crate");
    assert_eq!(refused, Err(forbidden("alice", "/home/alice/box/for-bob", Need::Move)));
    // Admins move anything; the root never moves.
    let admin = caller("root", true);
    assert_eq!(check(&ns, &admin, "/home/alice/box", "/elsewhere"), Ok(()));
    assert_eq!(check(&ns, &admin, "/", "/x"), Err(CommandError::RootImmutable));
    assert_eq!(check(&ns, &alice, "/home/alice/keep", "/"), Err(CommandError::RootImmutable));
}

#[test]
fn a_moves_new_parents_belong_to_the_target_region_not_to_the_owner_of_what_moves() {
    let mut ns = homes();
    let moved = run(
        &mut ns,
        &Command::Move { from: p("/home/bob/diary.txt"), to: p("/new/deep/diary.txt") },
    );
    assert!(moved.is_ok(), "{moved:?}");
    assert_eq!(
        (owner_of(&ns, "/new"), owner_of(&ns, "/new/deep")),
        ("admin".into(), "admin".into())
    );
    assert_eq!(owner_of(&ns, "/new/deep/diary.txt"), "bob", "what moves keeps its owner");
    assert_eq!(ns.level(&caller("bob", false), &p("/new/deep")), Level::None);
    assert_eq!(ns.check_invariants(), Ok(()));
}

#[test]
fn a_recursive_delete_needs_write_on_everything_it_removes() {
    let mut ns = homes();
    let alice = caller("alice", false);
    let refused = ns.check_delete_tree(&alice, &p("/home/alice"));
    assert_eq!(refused, Err(forbidden("alice", "/home/alice/for-bob", Need::Write)));
    let refused = ns.check_delete_tree(&alice, &p("/home/bob"));
    assert_eq!(refused, Err(forbidden("alice", "/home/bob", Need::Write)));
    assert_eq!(ns.check_delete_tree(&alice, &p("/home/alice/notes.txt")), Ok(()));
    // Unless bob granted it.
    setup(&mut ns, &[grant("/home/alice/for-bob", "alice", Some(Access::Write))]);
    assert_eq!(ns.check_delete_tree(&alice, &p("/home/alice")), Ok(()));
    assert_eq!(
        ns.check_delete_tree(&caller("root", true), &p("/")),
        Err(CommandError::RootImmutable)
    );
}

#[test]
fn a_revert_brings_a_deleted_file_back_as_its_new_latest_version() {
    let mut ns = homes();
    setup(
        &mut ns,
        &[
            grant("/home/bob/diary.txt", "alice", Some(Access::Read)),
            put_as("/home/bob/diary.txt", Precondition::None, 5, "bob"),
            del("/home/bob/diary.txt", Precondition::None),
        ],
    );
    let files = ns.file_count();
    let back = Command::Revert {
        path: p("/home/bob/diary.txt"),
        to: Version(1),
        author: user("bob"),
        created_at: UnixMillis(9),
    };
    let written = Change::FileWritten {
        path: p("/home/bob/diary.txt"),
        version: Version(3),
        size_bytes: content(2, &[1000, 24]).size_bytes,
        hash: content(2, &[1000, 24]).hash,
        created: true,
    };
    assert_eq!(run(&mut ns, &back), Ok(written));
    let latest = ns.latest(&p("/home/bob/diary.txt")).expect("live again");
    assert_eq!((latest.version, latest.content.hash), (Version(3), content(2, &[1000, 24]).hash));
    assert_eq!(ns.file_count(), files + 1);
    let entry = ns.entry(&p("/home/bob/diary.txt")).expect("entry");
    assert!(entry.grants.is_empty(), "a revived file drops the old grants, as a put does");
    assert_eq!(ns.check_invariants(), Ok(()));
    assert_eq!(Namespace::restore(&ns.snapshot()).expect("restores"), ns);
}
