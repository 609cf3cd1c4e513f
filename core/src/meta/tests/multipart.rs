//! Multipart uploads in the namespace: create, parts, complete (one version from the parts'
//! chunks), abort, refusals that change nothing, GC and repair references, snapshots.

use super::*;
use crate::s3::multipart::{CompletedPart, MultipartProblem, PartRecord, UploadHeaders, UploadId};

const MIB: u32 = 1024 * 1024;

fn create(path: &str) -> Command {
    let headers = UploadHeaders {
        content_type: Some("video/mp4".into()),
        content_disposition: None,
        user: [("camera".to_owned(), "7".to_owned())].into(),
    };
    Command::CreateMultipartUpload {
        path: p(path),
        initiator: user("alice"),
        created_at: UnixMillis(1_000),
        headers,
    }
}

fn part_record(seed: u64, lens: &[u32]) -> PartRecord {
    PartRecord { content: content(seed, lens), md5: [seed as u8; 16], uploaded_at: UnixMillis(2) }
}

fn put_part(path: &str, upload: UploadId, number: u32, part: &PartRecord) -> Command {
    let replicas = part
        .content
        .chunks
        .iter()
        .map(|c| (c.id, [NodeId(1), NodeId(2)].into_iter().collect()))
        .collect();
    Command::PutPart { path: p(path), upload, number, part: part.clone(), replicas }
}

fn complete(path: &str, upload: UploadId, parts: &[(u32, &PartRecord)]) -> Command {
    let named = parts
        .iter()
        .map(|(number, part)| CompletedPart { number: *number, etag: part.etag() })
        .collect();
    let chunks: Vec<ChunkRef> =
        parts.iter().flat_map(|(_, part)| part.content.chunks.iter().copied()).collect();
    let size_bytes = parts.iter().map(|(_, part)| part.content.size_bytes).sum();
    let etag = format!("{}-{}", "ab".repeat(16), parts.len());
    Command::CompleteMultipartUpload {
        path: p(path),
        upload,
        parts: named,
        content: Content { chunks, size_bytes, hash: Hash::of(b"whole object") },
        etag,
        author: user("alice"),
        created_at: UnixMillis(3_000),
    }
}

fn created(ns: &mut Namespace, path: &str) -> UploadId {
    match run(ns, &create(path)) {
        Ok(Change::MultipartCreated { upload, .. }) => upload,
        other => panic!("create failed: {other:?}"),
    }
}

fn problem(problem: MultipartProblem) -> CommandError {
    CommandError::Multipart(problem)
}

#[test]
fn complete_makes_one_version_from_the_parts_chunks_with_the_multipart_etag() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[mkdir("/b", "alice")]);
    let upload = created(&mut ns, "/b/movie");
    assert_eq!(upload, UploadId(ns.applied_index()));
    let one = part_record(1, &[4 * MIB, MIB]);
    let two = part_record(2, &[300]);
    let stale = part_record(9, &[5 * MIB]);
    // Part 1 uploaded twice: the second replaces the first.
    setup(
        &mut ns,
        &[put_part("/b/movie", upload, 1, &stale), put_part("/b/movie", upload, 1, &one)],
    );
    setup(&mut ns, &[put_part("/b/movie", upload, 2, &two)]);
    // Uploads are not files: nothing at the key yet; the parts' chunks are referenced.
    assert!(ns.latest(&p("/b/movie")).is_err());
    let held = crate::gc::referenced(&ns, UnixMillis(0), std::time::Duration::ZERO);
    assert!(one.content.chunks.iter().all(|c| held.contains(&c.id)));
    assert!(!held.contains(&stale.content.chunks[0].id), "a replaced part is garbage");
    let live = crate::repair::live_chunks(&ns);
    assert!(two.content.chunks.iter().all(|c| live.contains_key(&c.id)), "parts are repaired");
    assert_eq!(ns.replicas(&one.content.chunks[0].id).map(|r| r.len()), Some(2));
    // The snapshot keeps the upload in progress.
    assert_eq!(Namespace::restore(&ns.snapshot()).as_ref(), Ok(&ns));

    let command = complete("/b/movie", upload, &[(1, &one), (2, &two)]);
    let change = run(&mut ns, &command).expect("completes");
    assert!(matches!(change, Change::FileWritten { version: Version(1), created: true, .. }));
    let latest = ns.latest(&p("/b/movie")).expect("written").clone();
    let chunks: Vec<ChunkRef> =
        one.content.chunks.iter().chain(&two.content.chunks).copied().collect();
    assert_eq!(latest.content.chunks, chunks);
    assert_eq!(latest.content.size_bytes, u64::from(5 * MIB + 300));
    let meta = ns.object_meta(&p("/b/movie"), &latest).expect("S3 metadata recorded");
    assert!(meta.etag.ends_with("-2"));
    let meta_etag = meta.etag.clone();
    assert_eq!(meta.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(meta.user["camera"], "7");
    assert_eq!(ns.multipart_upload(&p("/b/movie"), upload), None);
    // Completing again (a retry after a lost reply) answers what the first did; another part
    // list finds no upload.
    let again = run(&mut ns, &command).expect("a retry answers");
    assert_eq!(again, change);
    assert_eq!(ns.latest(&p("/b/movie")).map(|v| v.version), Ok(Version(1)), "no second version");
    assert_eq!(
        ns.completed_upload(&p("/b/movie"), upload).map(|c| c.etag.clone()),
        Some(meta_etag)
    );
    let other = complete("/b/movie", upload, &[(1, &one)]);
    assert_refused(&mut ns, &other, problem(MultipartProblem::NoSuchUpload));
    assert_eq!(Namespace::restore(&ns.snapshot()).as_ref(), Ok(&ns));
}

#[test]
fn bad_part_lists_and_unknown_uploads_are_refused_and_change_nothing() {
    let mut ns = Namespace::new();
    let upload = created(&mut ns, "/b/k");
    let (small, last) = (part_record(1, &[MIB]), part_record(2, &[10]));
    setup(&mut ns, &[put_part("/b/k", upload, 1, &small), put_part("/b/k", upload, 2, &last)]);
    let too_small = complete("/b/k", upload, &[(1, &small), (2, &last)]);
    assert_refused(&mut ns, &too_small, problem(MultipartProblem::EntityTooSmall { number: 1 }));
    let other = part_record(3, &[10]);
    let wrong = complete("/b/k", upload, &[(2, &other)]);
    assert_refused(&mut ns, &wrong, problem(MultipartProblem::InvalidPart { number: 2 }));
    let order = complete("/b/k", upload, &[(2, &last), (1, &small)]);
    assert_refused(&mut ns, &order, problem(MultipartProblem::InvalidPartOrder));
    // The proposed content must be the parts' chunks (a part replaced meanwhile).
    let mut changed = complete("/b/k", upload, &[(2, &last)]);
    if let Command::CompleteMultipartUpload { content, .. } = &mut changed {
        content.chunks = other.content.chunks.clone();
    }
    assert_refused(&mut ns, &changed, problem(MultipartProblem::PartsChanged));
    // An upload id only names an upload at its own key.
    let elsewhere = put_part("/b/other", upload, 1, &small);
    assert_refused(&mut ns, &elsewhere, problem(MultipartProblem::NoSuchUpload));
    let zero = put_part("/b/k", upload, 0, &small);
    assert_refused(&mut ns, &zero, problem(MultipartProblem::InvalidPartNumber));
    let unknown =
        Command::AbortMultipartUpload { path: p("/b/k"), upload: UploadId(LogIndex(999)) };
    assert_refused(&mut ns, &unknown, problem(MultipartProblem::NoSuchUpload));
    // Only the last part may be small: completing with the last alone works.
    assert!(run(&mut ns, &complete("/b/k", upload, &[(2, &last)])).is_ok());
}

#[test]
fn abort_forgets_the_upload_and_its_parts_become_garbage() {
    let mut ns = Namespace::new();
    let upload = created(&mut ns, "/b/k");
    let one = part_record(1, &[100]);
    setup(&mut ns, &[put_part("/b/k", upload, 1, &one)]);
    let listed: Vec<(String, UploadId)> =
        ns.uploads_from(&p("/b"), "").map(|(key, id, _)| (key.to_owned(), id)).collect();
    assert_eq!(listed, vec![("k".to_owned(), upload)]);
    let abort = Command::AbortMultipartUpload { path: p("/b/k"), upload };
    let change = run(&mut ns, &abort).expect("aborts");
    assert_eq!(change, Change::MultipartAborted { path: p("/b/k"), upload, parts: 1 });
    let held = crate::gc::referenced(&ns, UnixMillis(0), std::time::Duration::ZERO);
    assert!(!held.contains(&one.content.chunks[0].id));
    assert_eq!(ns.uploads_from(&p("/b"), "").count(), 0);
    assert_refused(
        &mut ns,
        &put_part("/b/k", upload, 2, &one),
        problem(MultipartProblem::NoSuchUpload),
    );
}

#[test]
fn older_snapshots_restore_with_no_uploads() {
    let mut ns = Namespace::new();
    created(&mut ns, "/b/k");
    let bytes = ns.snapshot();
    assert_eq!(bytes[0], SNAPSHOT_FORMAT);
    // A format 6 snapshot is the current body without the trailing upload and completion
    // tables (format 7) and member addresses (format 8): an empty table is a single zero byte
    // in postcard.
    let empty = Namespace::new();
    let mut old = empty.snapshot();
    assert_eq!((old.pop(), old.pop(), old.pop()), (Some(0), Some(0), Some(0)));
    old[0] = 6;
    assert_eq!(Namespace::restore(&old), Ok(empty));
}
