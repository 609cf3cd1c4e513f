//! `RemoveVersion`: removing kept versions and delete markers (S3 DeleteObject with a
//! version id), and the version scan behind ListObjectVersions.

use super::*;
use crate::command::VersionTarget;

fn remove(path: &str, version: u64) -> Command {
    Command::RemoveVersion {
        path: p(path),
        target: VersionTarget::Version(Version(version)),
        author: user("bob"),
    }
}

fn unmark(path: &str, index: u64) -> Command {
    Command::RemoveVersion {
        path: p(path),
        target: VersionTarget::DeleteMarker(LogIndex(index)),
        author: user("bob"),
    }
}

fn kept(ns: &Namespace, path: &str) -> Vec<u64> {
    file(ns, path).versions.iter().map(|v| v.version.0).collect()
}

/// The log index of the current tombstone at `path`.
fn marker(ns: &Namespace, path: &str) -> u64 {
    file(ns, path).deleted.expect("deleted").index.0
}

#[test]
fn an_older_version_goes_and_reads_are_unchanged() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1), put("/f", 2), put("/f", 3)]);
    let change = run(&mut ns, &remove("/f", 2)).expect("removed");
    let latest = ns.latest(&p("/f")).expect("live").clone();
    let current = Some((Version(3), latest.content.size_bytes, latest.content.hash));
    assert_eq!(
        change,
        Change::VersionRemoved { path: p("/f"), version: Version(2), was_current: false, current }
    );
    assert_eq!(kept(&ns, "/f"), [1, 3]);
    assert_eq!(
        ns.version(&p("/f"), Version(2)),
        Err(CommandError::VersionNotFound { path: p("/f"), version: Version(2) })
    );
    assert_eq!(ns.check_invariants(), Ok(()));
}

#[test]
fn removing_the_latest_makes_the_one_before_current_and_its_number_is_never_reused() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1), put("/f", 2)]);
    let change = run(&mut ns, &remove("/f", 2)).expect("removed");
    assert!(matches!(
        change,
        Change::VersionRemoved { was_current: true, current: Some((Version(1), ..)), .. }
    ));
    assert_eq!(ns.latest(&p("/f")).expect("live").version, Version(1));
    assert_eq!(ns.check_invariants(), Ok(()));
    // The snapshot keeps the remembered number.
    let restored = Namespace::restore(&ns.snapshot()).expect("restores");
    assert_eq!(restored, ns);
    let written = run(&mut ns, &put("/f", 3)).expect("written");
    assert!(matches!(written, Change::FileWritten { version: Version(3), .. }));
    // A revert skips removed numbers too.
    setup(&mut ns, &[remove("/f", 3)]);
    let reverted = run(&mut ns, &revert("/f", 1)).expect("reverted");
    assert!(matches!(reverted, Change::FileWritten { version: Version(4), .. }));
    assert_eq!(ns.check_invariants(), Ok(()));
}

#[test]
fn the_only_version_going_removes_the_file_and_numbering_continues() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1)]);
    let files = ns.file_count();
    let change = run(&mut ns, &remove("/f", 1)).expect("removed");
    assert_eq!(
        change,
        Change::VersionRemoved {
            path: p("/f"),
            version: Version(1),
            was_current: true,
            current: None
        }
    );
    assert!(ns.entry(&p("/f")).is_none());
    assert_eq!(ns.file_count(), files - 1);
    let written = run(&mut ns, &put("/f", 2)).expect("written");
    assert!(matches!(written, Change::FileWritten { version: Version(2), created: true, .. }));
    assert_eq!(ns.check_invariants(), Ok(()));
}

#[test]
fn a_deleted_file_loses_versions_behind_its_tombstone_and_with_the_last_the_tombstone() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1), put("/f", 2), del("/f", Precondition::None)]);
    let change = run(&mut ns, &remove("/f", 2)).expect("removed");
    assert_eq!(
        change,
        Change::VersionRemoved {
            path: p("/f"),
            version: Version(2),
            was_current: false,
            current: None
        }
    );
    assert_eq!(file(&ns, "/f").deleted.expect("still deleted").version, Version(1));
    assert_eq!(ns.check_invariants(), Ok(()));
    setup(&mut ns, &[remove("/f", 1)]);
    assert!(ns.entry(&p("/f")).is_none(), "no versions: the marker goes with the file");
    let written = run(&mut ns, &put("/f", 3)).expect("written");
    assert!(matches!(written, Change::FileWritten { version: Version(3), .. }));
}

#[test]
fn removing_the_marker_brings_the_file_back_as_the_askers() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/f", 1), grant("/f", "carol", None), del("/f", Precondition::None)]);
    let index = marker(&ns, "/f");
    let files = ns.file_count();
    assert_refused(
        &mut ns,
        &unmark("/f", index + 1),
        CommandError::NoDeleteMarker { path: p("/f") },
    );
    let change = run(&mut ns, &unmark("/f", index)).expect("undeleted");
    let hash = content(1, &[1000, 24]).hash;
    assert_eq!(
        change,
        Change::Undeleted { path: p("/f"), version: Version(1), size_bytes: 1024, hash }
    );
    assert_eq!(ns.latest(&p("/f")).expect("live").version, Version(1));
    assert_eq!(ns.file_count(), files + 1);
    assert_eq!(ns.entry(&p("/f")).expect("there").owner, user("bob"));
    assert_eq!(ns.check_invariants(), Ok(()));
    // A live file has no marker.
    assert_refused(&mut ns, &unmark("/f", index), CommandError::NoDeleteMarker { path: p("/f") });
}

#[test]
fn refusals_change_nothing() {
    let mut ns = Namespace::new();
    setup(
        &mut ns,
        &[mkdir("/d", "alice"), put("/f", 1), put("/f", 2), checkpoint("/f", "keep", Some(1))],
    );
    let named = CommandError::VersionCheckpointed {
        path: p("/f"),
        version: Version(1),
        name: "keep".to_owned(),
    };
    assert_refused(&mut ns, &remove("/f", 1), named);
    let missing = CommandError::VersionNotFound { path: p("/f"), version: Version(9) };
    assert_refused(&mut ns, &remove("/f", 9), missing);
    assert_refused(&mut ns, &remove("/g", 1), not_found("/g"));
    assert_refused(&mut ns, &remove("/d", 1), CommandError::IsFolder { path: p("/d") });
    assert_refused(&mut ns, &unmark("/g", 1), not_found("/g"));
}

#[test]
fn a_moved_file_leaves_its_highest_number_behind() {
    let mut ns = Namespace::new();
    setup(
        &mut ns,
        &[
            put("/f", 1),
            put("/f", 2),
            remove("/f", 2),
            Command::Move { from: p("/f"), to: p("/g") },
        ],
    );
    assert_eq!(ns.check_invariants(), Ok(()));
    let written = run(&mut ns, &put("/f", 3)).expect("written");
    assert!(matches!(written, Change::FileWritten { version: Version(3), .. }));
}

#[test]
fn the_version_scan_sees_deleted_files_in_path_order() {
    let mut ns = Namespace::new();
    setup(
        &mut ns,
        &[
            put("/b/x", 1),
            put("/b/y", 2),
            del("/b/y", Precondition::None),
            put("/b/z/1", 3),
            put("/c", 4),
        ],
    );
    let folder = p("/b");
    let keys: Vec<(&str, bool)> = ns
        .file_records_from(&folder, "")
        .map(|(key, _, record)| (key, record.is_deleted()))
        .collect();
    assert_eq!(keys, [("x", false), ("y", true), ("z/1", false)]);
    let from: Vec<&str> = ns.file_records_from(&folder, "y").map(|(key, ..)| key).collect();
    assert_eq!(from, ["y", "z/1"]);
}
