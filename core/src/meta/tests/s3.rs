//! The S3 tables: object metadata recorded with a version, access keys, and their snapshot.

use super::*;
use crate::s3::keys::{seal, AccessKey};
use crate::s3::ObjectMeta;

fn meta_for(command: &Command, etag: &str) -> ObjectMeta {
    let Command::PutVersion { content, .. } = command else { unreachable!("a put") };
    ObjectMeta {
        etag: etag.to_owned(),
        content_type: Some("text/plain".to_owned()),
        content_disposition: None,
        user: [("color".to_owned(), "blue".to_owned())].into(),
        hash: content.hash,
    }
}

fn put_object(path: &str, seed: u64, etag: &str) -> Command {
    let put = put(path, seed);
    let meta = meta_for(&put, etag);
    Command::PutObject { put: Box::new(put), meta }
}

fn key(id: &str, owner: &str) -> AccessKey {
    let sealed = seal("cluster", id, "0123456789abcdef0123", [1; 16]);
    AccessKey { id: id.to_owned(), user: user(owner), sealed, created_at: UnixMillis(5) }
}

const ETAG: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn object_metadata_is_kept_with_its_version_and_only_while_it_describes_it() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put_object("/b/k", 1, ETAG)]);
    let latest = ns.latest(&p("/b/k")).expect("written").clone();
    let meta = ns.object_meta(&p("/b/k"), &latest).expect("recorded");
    assert_eq!((meta.etag.as_str(), meta.user["color"].as_str()), (ETAG, "blue"));
    // A native write makes a version without S3 metadata.
    setup(&mut ns, &[put("/b/k", 2)]);
    let v2 = ns.latest(&p("/b/k")).expect("written").clone();
    assert_eq!(ns.object_meta(&p("/b/k"), &v2), None);
    // Metadata naming other content is never shown (a path reused after a move, say).
    let mut stale = latest.clone();
    stale.content.hash = Hash::of(b"other");
    assert_eq!(ns.object_meta(&p("/b/k"), &stale), None);
    let restored = Namespace::restore(&ns.snapshot()).expect("restores");
    assert_eq!(restored, ns);
    assert!(restored.object_meta(&p("/b/k"), &latest).is_some());
}

#[test]
fn put_object_refuses_bad_metadata_and_wrapped_non_puts() {
    let mut ns = Namespace::new();
    let put = put("/b/k", 1);
    let mut meta = meta_for(&put, "not-an-etag");
    let bad = Command::PutObject { put: Box::new(put.clone()), meta: meta.clone() };
    assert!(matches!(run(&mut ns, &bad), Err(CommandError::BadObjectMeta(_))));
    meta.etag = ETAG.to_owned();
    let wrapped = Command::PutObject { put: Box::new(mkdir("/x", "alice")), meta };
    assert_eq!(run(&mut ns, &wrapped), Err(CommandError::MalformedCommand));
    assert_eq!(ns.entry(&p("/b/k")), None);
    assert_eq!(ns.entry(&p("/x")), None);
}

#[test]
fn retention_drops_the_metadata_of_removed_versions() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[Command::SetRetention { keep_versions: 1 }]);
    setup(&mut ns, &[put_object("/b/k", 1, ETAG), put_object("/b/k", 2, ETAG)]);
    assert_eq!(ns.s3.objects.len(), 1);
}

#[test]
fn access_keys_belong_to_existing_users() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[bootstrap("root"), add_user("alice", false)]);
    let id = "DFSAAAAAAAAAAAAAAAAA";
    let unknown = run(&mut ns, &Command::AddAccessKey { key: key(id, "nobody") });
    assert!(matches!(unknown, Err(CommandError::UnknownUser { .. })));
    setup(&mut ns, &[Command::AddAccessKey { key: key(id, "alice") }]);
    let again = run(&mut ns, &Command::AddAccessKey { key: key(id, "root") });
    assert!(matches!(again, Err(CommandError::BadAccessKey { .. })));
    let malformed = run(&mut ns, &Command::AddAccessKey { key: key("AKIA", "alice") });
    assert!(matches!(malformed, Err(CommandError::BadAccessKey { .. })));
    assert_eq!(ns.access_key(id).map(|k| k.user.clone()), Some(user("alice")));
    let restored = Namespace::restore(&ns.snapshot()).expect("restores");
    assert_eq!(restored, ns);
    // A removed user's keys stop working.
    setup(&mut ns, &[Command::RemoveUser { user: user("alice") }]);
    assert_eq!(ns.access_key(id), None);
    assert_eq!(ns.access_keys().count(), 0);
    let removed = run(&mut ns, &Command::RemoveAccessKey { id: id.to_owned() });
    assert!(matches!(removed, Ok(Change::AccessKeyRemoved { .. })));
    let twice = run(&mut ns, &Command::RemoveAccessKey { id: id.to_owned() });
    assert!(matches!(twice, Err(CommandError::UnknownAccessKey { .. })));
}

#[test]
fn a_listing_walks_live_files_below_a_folder_from_a_start() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[put("/b/a0", 1), put("/b/a-b", 2), put("/b/a/x", 3), put("/b/c", 4)]);
    setup(&mut ns, &[put("/bb/z", 5), del("/b/c", Precondition::None)]);
    let bucket = p("/b");
    let keys: Vec<&str> = ns.files_from(&bucket, "").map(|(key, ..)| key).collect();
    assert_eq!(keys, ["a-b", "a/x", "a0"]);
    let from: Vec<&str> = ns.files_from(&bucket, "a/").map(|(key, ..)| key).collect();
    assert_eq!(from, ["a/x", "a0"]);
}

#[test]
fn a_format_five_snapshot_restores_with_no_s3_tables() {
    let ns = sample();
    let current = ns.snapshot();
    // Formats 5 and older end before the S3 tables, the multipart tables and the member
    // addresses (all empty here: five zero length bytes).
    let mut old = current[..current.len() - 5].to_vec();
    old[0] = 5;
    assert_eq!(Namespace::restore(&old), Ok(ns));
}
