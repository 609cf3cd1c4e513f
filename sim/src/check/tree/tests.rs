//! The tree model follows the namespace's rules; the checker accepts valid histories (concurrent
//! operations, unanswered changes) and rejects stale listings, reads of deleted files and moves
//! that left their source behind.

use std::time::Duration;

use super::model::{Action, Fs, Node, Outcome, Tree};
use super::*;
use crate::history::Refusal::*;

const ROOT: &str = "/t";

fn p(rel: &str) -> String {
    format!("{ROOT}/{rel}")
}

fn answer(fs: &Fs, action: Action) -> Outcome {
    Tree::new(ROOT).answer(fs, &action)
}

fn changed(fs: &Fs, action: Action) -> Fs {
    match answer(fs, action.clone()) {
        Outcome::Changed(next) => next,
        other => panic!("{action:?} on {fs:?}: {other:?}"),
    }
}

fn paths(fs: &Fs) -> Vec<String> {
    fs.entries()
        .map(|(path, node)| match node {
            Node::Folder => format!("{path}/"),
            Node::File(id) => format!("{path}={id}"),
        })
        .collect()
}

#[test]
fn create_folder_makes_missing_parents_and_refuses_what_is_there() {
    let fs = changed(&Fs::default(), Action::CreateFolder(p("a/x")));
    assert_eq!(paths(&fs), ["/t/", "/t/a/", "/t/a/x/"]);
    assert_eq!(answer(&fs, Action::CreateFolder(p("a"))), Outcome::Refused(AlreadyExists));
    let fs = changed(&fs, Action::Put(p("b"), 1));
    assert_eq!(answer(&fs, Action::CreateFolder(p("b"))), Outcome::Refused(AlreadyExists));
    assert_eq!(answer(&fs, Action::CreateFolder(p("b/x"))), Outcome::Refused(NotAFolder));
}

#[test]
fn put_makes_parents_replaces_files_and_refuses_folders() {
    let fs = changed(&Fs::default(), Action::Put(p("a/x"), 1));
    assert_eq!(paths(&fs), ["/t/", "/t/a/", "/t/a/x=1"]);
    let fs = changed(&fs, Action::Put(p("a/x"), 2));
    assert_eq!(answer(&fs, Action::Read(p("a/x"))), Outcome::File(2));
    assert_eq!(answer(&fs, Action::Put(p("a"), 3)), Outcome::Refused(IsFolder));
    assert_eq!(answer(&fs, Action::Put(p("a/x/y"), 3)), Outcome::Refused(NotAFolder));
    assert_eq!(answer(&fs, Action::Read(p("a"))), Outcome::Refused(IsFolder));
    assert_eq!(answer(&fs, Action::Read(p("b"))), Outcome::Refused(NotFound));
}

#[test]
fn a_listing_shows_direct_children_with_their_kind() {
    let fs = Fs::of(&[
        ("/t", Node::Folder),
        ("/t/a", Node::Folder),
        ("/t/a/x", Node::File(1)),
        ("/t/b", Node::File(2)),
    ]);
    let listing = answer(&fs, Action::List(ROOT.to_owned()));
    let want = vec![("a".to_owned(), Node::Folder), ("b".to_owned(), Node::File(2))];
    assert_eq!(listing, Outcome::Listing(want));
    assert_eq!(answer(&fs, Action::List(p("b"))), Outcome::Refused(NotAFolder));
    assert_eq!(answer(&fs, Action::List(p("c"))), Outcome::Refused(NotFound));
}

#[test]
fn a_move_re_keys_the_subtree_and_refuses_as_the_namespace_does() {
    let fs = Fs::of(&[
        ("/t", Node::Folder),
        ("/t/a", Node::Folder),
        ("/t/a/x", Node::File(1)),
        ("/t/b", Node::File(2)),
    ]);
    let moved = changed(&fs, Action::Move { from: p("a"), to: p("c") });
    assert_eq!(paths(&moved), ["/t/", "/t/b=2", "/t/c/", "/t/c/x=1"]);
    let into = changed(&fs, Action::Move { from: p("b"), to: p("d/y") });
    assert_eq!(paths(&into), ["/t/", "/t/a/", "/t/a/x=1", "/t/d/", "/t/d/y=2"]);
    let refused = |from: &str, to: &str| answer(&fs, Action::Move { from: p(from), to: p(to) });
    assert_eq!(refused("c", "d"), Outcome::Refused(NotFound));
    assert_eq!(refused("a", "a"), Outcome::Refused(MoveIntoItself));
    assert_eq!(refused("a", "a/y"), Outcome::Refused(MoveIntoItself));
    assert_eq!(refused("a", "b"), Outcome::Refused(AlreadyExists));
    assert_eq!(refused("a/x", "b/x"), Outcome::Refused(NotAFolder));
    // `/t/ab` is not inside `/t/a`.
    assert!(matches!(refused("a", "ab"), Outcome::Changed(_)));
}

#[test]
fn deletes_remove_files_empty_folders_or_whole_subtrees() {
    let fs = Fs::of(&[("/t", Node::Folder), ("/t/a", Node::Folder), ("/t/a/x", Node::File(1))]);
    assert_eq!(answer(&fs, Action::Delete(p("a"))), Outcome::Refused(FolderNotEmpty));
    assert_eq!(answer(&fs, Action::Delete(p("b"))), Outcome::Refused(NotFound));
    assert_eq!(answer(&fs, Action::DeleteRecursive(p("b"))), Outcome::Refused(NotFound));
    assert_eq!(paths(&changed(&fs, Action::DeleteRecursive(p("a")))), ["/t/"]);
    let emptied = changed(&fs, Action::Delete(p("a/x")));
    assert_eq!(paths(&changed(&emptied, Action::Delete(p("a")))), ["/t/"]);
    assert_eq!(paths(&changed(&fs, Action::DeleteRecursive(p("a/x")))), ["/t/", "/t/a/"]);
}

fn op(client: u32, call: TreeCall, at: (u64, Option<u64>), ret: TreeReturn) -> TreeOp {
    TreeOp {
        client,
        call,
        invoked: Duration::from_millis(at.0),
        completed: at.1.map(Duration::from_millis),
        ret,
    }
}

fn mkdir(rel: &str) -> TreeCall {
    TreeCall::CreateFolder { path: p(rel) }
}

fn put(rel: &str, hash: &str) -> TreeCall {
    TreeCall::Put { path: p(rel), hash: hash.to_owned(), size: 1 }
}

fn list(rel: &str) -> TreeCall {
    let path = if rel.is_empty() { ROOT.to_owned() } else { p(rel) };
    TreeCall::List { path }
}

fn read(rel: &str) -> TreeCall {
    TreeCall::Read { path: p(rel) }
}

fn mv(from: &str, to: &str) -> TreeCall {
    TreeCall::Move { from: p(from), to: p(to) }
}

fn listing(children: &[(&str, Option<&str>)]) -> TreeReturn {
    let children = children
        .iter()
        .map(|(name, hash)| {
            let child = hash.map_or(Child::Folder, |h| Child::File(h.to_owned()));
            ((*name).to_owned(), child)
        })
        .collect();
    TreeReturn::Listing(children)
}

fn file(hash: &str) -> TreeReturn {
    TreeReturn::File(hash.to_owned())
}

fn linearizable(history: &[TreeOp]) -> bool {
    let verdict = check(ROOT, history);
    assert!(!verdict.inconclusive, "{verdict:?}");
    verdict.violation.is_none()
}

#[test]
fn a_sequential_history_is_linearizable() {
    let history = [
        op(1, mkdir("a"), (0, Some(10)), TreeReturn::Done),
        op(1, put("a/x", "h1"), (20, Some(30)), TreeReturn::Done),
        op(2, list(""), (40, Some(50)), listing(&[("a", None)])),
        op(2, list("a"), (60, Some(70)), listing(&[("x", Some("h1"))])),
        op(1, mv("a", "b"), (80, Some(90)), TreeReturn::Done),
        op(2, read("b/x"), (100, Some(110)), file("h1")),
        op(2, read("a/x"), (120, Some(130)), TreeReturn::Refused(NotFound)),
        op(
            1,
            TreeCall::Delete { path: p("b") },
            (140, Some(150)),
            TreeReturn::Refused(FolderNotEmpty),
        ),
        op(1, TreeCall::DeleteRecursive { path: p("b") }, (160, Some(170)), TreeReturn::Done),
        op(2, list(""), (180, Some(190)), listing(&[])),
    ];
    assert!(linearizable(&history));
}

#[test]
fn concurrent_operations_may_take_effect_in_either_order() {
    let with = |seen: TreeReturn| {
        [
            op(1, mkdir("a"), (0, Some(100)), TreeReturn::Done),
            op(2, list(""), (10, Some(90)), seen),
            op(2, list(""), (110, Some(120)), listing(&[("a", None)])),
        ]
    };
    assert!(linearizable(&with(listing(&[("a", None)]))));
    // Before the folder: the parent existed only if the folder's creation made it, so the root
    // was missing then.
    assert!(linearizable(&with(TreeReturn::Refused(NotFound))));
    assert!(!linearizable(&with(listing(&[("b", None)]))));
}

#[test]
fn an_unanswered_change_may_act_late_or_never() {
    let late = [
        op(1, put("x", "h1"), (0, None), TreeReturn::Unknown),
        op(2, read("x"), (50, Some(60)), TreeReturn::Refused(NotFound)),
        op(2, read("x"), (70, Some(80)), file("h1")),
    ];
    assert!(linearizable(&late));
    let never = [
        op(1, mv("a", "b"), (0, None), TreeReturn::Unknown),
        op(2, mkdir("a"), (10, Some(20)), TreeReturn::Done),
        op(2, list(""), (30, Some(40)), listing(&[("a", None)])),
    ];
    assert!(linearizable(&never));
    let once_only = [
        op(1, mkdir("a"), (0, Some(10)), TreeReturn::Done),
        op(1, mv("a", "b"), (20, None), TreeReturn::Unknown),
        op(2, list(""), (30, Some(40)), listing(&[("b", None)])),
        op(2, list(""), (50, Some(60)), listing(&[("a", None)])),
    ];
    assert!(!linearizable(&once_only), "a move cannot undo itself");
}

#[test]
fn unanswered_reads_and_listings_say_nothing() {
    let history = [
        op(1, mkdir("a"), (0, Some(10)), TreeReturn::Done),
        op(2, list(""), (20, None), TreeReturn::Unknown),
        op(2, read("a"), (30, None), TreeReturn::Unknown),
    ];
    let verdict = check(ROOT, &history);
    assert_eq!((verdict.violation, verdict.ops), (None, 1));
}

#[test]
fn a_listing_missing_a_folder_created_before_it_began_is_a_violation() {
    let history = [
        op(1, mkdir("a"), (0, Some(10)), TreeReturn::Done),
        op(1, mkdir("b"), (20, Some(30)), TreeReturn::Done),
        op(2, list(""), (40, Some(50)), listing(&[("a", None)])),
    ];
    let verdict = check(ROOT, &history);
    let violation = verdict.violation.expect("a stale listing");
    assert!(violation.contains("c2 list /t -> [a/]"), "{violation}");
    assert!(violation.contains("{/t/ /t/a/ /t/b/}"), "{violation}");
}

#[test]
fn a_read_after_a_completed_recursive_delete_is_a_violation() {
    let history = [
        op(1, put("a/x", "h1"), (0, Some(10)), TreeReturn::Done),
        op(1, TreeCall::DeleteRecursive { path: p("a") }, (20, Some(30)), TreeReturn::Done),
        op(2, read("a/x"), (40, Some(50)), file("h1")),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn a_move_that_completed_and_left_its_source_is_a_violation() {
    let history = [
        op(1, put("a/x", "h1"), (0, Some(10)), TreeReturn::Done),
        op(1, mv("a", "b"), (20, Some(30)), TreeReturn::Done),
        op(2, list(""), (40, Some(50)), listing(&[("a", None), ("b", None)])),
    ];
    assert!(!linearizable(&history));
    let read_back = [
        op(1, put("a/x", "h1"), (0, Some(10)), TreeReturn::Done),
        op(1, mv("a/x", "b/x"), (20, Some(30)), TreeReturn::Done),
        op(2, read("a/x"), (40, Some(50)), file("h1")),
    ];
    assert!(!linearizable(&read_back));
}

#[test]
fn a_refusal_must_have_its_reason() {
    let history = [
        op(1, put("a", "h1"), (0, Some(10)), TreeReturn::Done),
        op(2, mkdir("a/x"), (20, Some(30)), TreeReturn::Refused(NotAFolder)),
        op(2, mkdir("a"), (40, Some(50)), TreeReturn::Refused(AlreadyExists)),
    ];
    assert!(linearizable(&history));
    let wrong = [
        op(1, put("a", "h1"), (0, Some(10)), TreeReturn::Done),
        op(2, mkdir("a/x"), (20, Some(30)), TreeReturn::Refused(NotFound)),
    ];
    assert!(!linearizable(&wrong));
}

#[test]
fn content_no_write_made_fits_nowhere() {
    let history = [
        op(1, put("x", "h1"), (0, Some(10)), TreeReturn::Done),
        op(2, read("x"), (20, Some(30)), file("corrupt:zz")),
    ];
    assert!(!linearizable(&history));
}
