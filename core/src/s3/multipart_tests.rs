//! The multipart rules: part lists, the layout Complete makes, expiry and paging.

use super::*;
use crate::ids::{ChunkId, Hash};

const MIB: u64 = 1024 * 1024;

fn part(seed: u8, size_bytes: u64) -> PartRecord {
    let id = ChunkId(Hash::of(&[seed]));
    let len_bytes = u32::try_from(size_bytes).expect("test parts fit a chunk");
    PartRecord {
        content: Content {
            chunks: vec![ChunkRef { id, len_bytes }],
            size_bytes,
            hash: Hash::of(&[seed, 1]),
        },
        md5: [seed; 16],
        uploaded_at: UnixMillis(10),
    }
}

fn upload(parts: &[(u32, PartRecord)]) -> MultipartUpload {
    MultipartUpload {
        initiator: UserName("alice".into()),
        created_at: UnixMillis(1_000),
        headers: UploadHeaders::default(),
        parts: parts.iter().cloned().collect(),
    }
}

fn named(number: u32, record: &PartRecord) -> CompletedPart {
    CompletedPart { number, etag: format!("\"{}\"", record.etag()) }
}

#[test]
fn upload_ids_round_trip_and_refuse_other_forms() {
    let id = UploadId(LogIndex(0x2a));
    assert_eq!(id.to_string(), "m000000000000002a");
    assert_eq!(UploadId::parse(&id.to_string()), Some(id));
    for bad in ["", "m", "m2a", "000000000000002a", "m000000000000002A", "m00000000000000zz"] {
        assert_eq!(UploadId::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn part_numbers_run_from_one_to_ten_thousand() {
    assert_eq!(check_part_number(1), Ok(()));
    assert_eq!(check_part_number(PART_NUMBER_MAX), Ok(()));
    assert_eq!(check_part_number(0), Err(MultipartProblem::InvalidPartNumber));
    assert_eq!(check_part_number(PART_NUMBER_MAX + 1), Err(MultipartProblem::InvalidPartNumber));
}

#[test]
fn complete_concatenates_the_named_parts_in_order() {
    let (one, two, three) = (part(1, 5 * MIB), part(2, 6 * MIB), part(3, 10));
    let up = upload(&[(1, one.clone()), (2, two.clone()), (4, three.clone())]);
    // Part 2 left out: it is dropped with the upload.
    let plan = plan_complete(&up, &[named(1, &one), named(4, &three)]).expect("valid");
    let chunks: Vec<ChunkRef> =
        one.content.chunks.iter().chain(&three.content.chunks).copied().collect();
    assert_eq!(plan.chunks, chunks);
    assert_eq!(plan.size_bytes, 5 * MIB + 10);
    assert_eq!(plan.md5s, vec![one.md5, three.md5]);
    let content = Content { chunks, size_bytes: plan.size_bytes, hash: Hash::of(b"whole") };
    assert!(content_matches(&plan, &content));
    let other = Content { chunks: two.content.chunks.clone(), ..content };
    assert!(!content_matches(&plan, &other));
}

#[test]
fn complete_refuses_bad_part_lists_as_s3_does() {
    let (one, two) = (part(1, 5 * MIB), part(2, MIB));
    let up = upload(&[(1, one.clone()), (2, two.clone()), (3, part(3, MIB))]);
    assert_eq!(plan_complete(&up, &[]), Err(MultipartProblem::NoParts));
    let order = [named(2, &two), named(1, &one)];
    assert_eq!(plan_complete(&up, &order), Err(MultipartProblem::InvalidPartOrder));
    let twice = [named(1, &one), named(1, &one)];
    assert_eq!(plan_complete(&up, &twice), Err(MultipartProblem::InvalidPartOrder));
    let missing = [named(1, &one), CompletedPart { number: 9, etag: two.etag() }];
    assert_eq!(plan_complete(&up, &missing), Err(MultipartProblem::InvalidPart { number: 9 }));
    let wrong_tag = [named(1, &one), CompletedPart { number: 2, etag: one.etag() }];
    assert_eq!(plan_complete(&up, &wrong_tag), Err(MultipartProblem::InvalidPart { number: 2 }));
    // Only the last part may be small.
    let small = [named(2, &two), CompletedPart { number: 3, etag: part(3, MIB).etag() }];
    assert_eq!(plan_complete(&up, &small), Err(MultipartProblem::EntityTooSmall { number: 2 }));
    assert!(plan_complete(&up, &[named(1, &one), named(2, &two)]).is_ok());
    // A missing part is reported before a small one ahead of it.
    let both = [named(2, &two), CompletedPart { number: 7, etag: two.etag() }];
    assert_eq!(plan_complete(&up, &both), Err(MultipartProblem::InvalidPart { number: 7 }));
    assert!(plan_complete(&up, &[named(2, &two)]).is_ok());
}

#[test]
fn the_etag_of_a_completed_upload_is_the_md5_of_the_part_md5s() {
    // A stand-in digest (the runtime passes MD5).
    let digest = |bytes: &[u8]| {
        let mut out = [0u8; 16];
        out.copy_from_slice(&blake3::hash(bytes).as_bytes()[..16]);
        out
    };
    let (one, two) = (part(1, 5 * MIB), part(2, 1));
    let plan = plan_complete(
        &upload(&[(1, one.clone()), (2, two.clone())]),
        &[named(1, &one), named(2, &two)],
    )
    .expect("valid");
    let etag = crate::s3::multipart_etag(&plan.md5s, digest);
    assert!(etag.ends_with("-2"));
    assert!(crate::s3::is_valid_etag(&etag));
}

#[test]
fn uploads_expire_a_full_period_after_they_were_created() {
    let day = Duration::from_secs(86_400);
    assert!(!expired(UnixMillis(1_000), UnixMillis(1_000 + 86_399_999), day));
    assert!(expired(UnixMillis(1_000), UnixMillis(1_000 + 86_400_000), day));
    // A clock behind the creation time never expires anything.
    assert!(!expired(UnixMillis(5_000), UnixMillis(1_000), Duration::from_millis(1)));
}

fn ids(page: &UploadsPage<()>) -> Vec<String> {
    page.items
        .iter()
        .map(|item| match item {
            UploadItem::Upload { key, id, .. } => format!("{key}#{}", id.0 .0),
            UploadItem::Prefix(prefix) => format!("P:{prefix}"),
        })
        .collect()
}

fn all_uploads() -> Vec<(String, UploadId, ())> {
    [("a", 1), ("a", 5), ("b/1", 2), ("b/2", 3), ("c", 4), ("c", 6)]
        .iter()
        .map(|(k, i)| ((*k).to_owned(), UploadId(LogIndex(*i)), ()))
        .collect()
}

fn uploads_request(max_uploads: usize) -> UploadsRequest<'static> {
    UploadsRequest {
        prefix: "",
        delimiter: None,
        key_marker: None,
        upload_id_marker: None,
        max_uploads,
    }
}

#[test]
fn upload_pages_resume_after_key_and_upload_markers() {
    let whole = ids(&uploads_page(all_uploads(), &uploads_request(100)));
    assert_eq!(whole, ["a#1", "a#5", "b/1#2", "b/2#3", "c#4", "c#6"]);
    for max in 1..=4 {
        let (mut seen, mut next) = (Vec::new(), None::<(String, Option<UploadId>)>);
        loop {
            let request = UploadsRequest {
                key_marker: next.as_ref().map(|(k, _)| k.as_str()),
                upload_id_marker: next.as_ref().and_then(|(_, id)| *id),
                ..uploads_request(max)
            };
            let page = uploads_page(all_uploads(), &request);
            assert!(page.items.len() <= max);
            seen.extend(ids(&page));
            if !page.truncated {
                break;
            }
            next = page.next;
        }
        assert_eq!(seen, whole, "max {max}");
    }
    // A key marker alone skips every upload of that key.
    let after_a = UploadsRequest { key_marker: Some("a"), ..uploads_request(100) };
    assert_eq!(ids(&uploads_page(all_uploads(), &after_a))[0], "b/1#2");
}

#[test]
fn upload_pages_filter_by_prefix_and_group_by_delimiter() {
    let grouped = UploadsRequest { delimiter: Some("/"), ..uploads_request(100) };
    assert_eq!(ids(&uploads_page(all_uploads(), &grouped)), ["a#1", "a#5", "P:b/", "c#4", "c#6"]);
    let inside = UploadsRequest { prefix: "b/", ..grouped };
    assert_eq!(inside.start(), "b/");
    assert_eq!(ids(&uploads_page(all_uploads(), &inside)), ["b/1#2", "b/2#3"]);
    let past_prefix = UploadsRequest { key_marker: Some("b/"), ..grouped };
    assert_eq!(ids(&uploads_page(all_uploads(), &past_prefix)), ["c#4", "c#6"]);
}

#[test]
fn part_pages_resume_after_the_marker_and_cap_at_a_thousand() {
    let parts: BTreeMap<u32, PartRecord> = (1..=1500).map(|n| (n, part(1, 1))).collect();
    let (first, next) = parts_page(&parts, None, 5000);
    assert_eq!(first.len(), PAGE_MAX);
    assert_eq!(next, Some(1000));
    let (rest, end) = parts_page(&parts, next, 5000);
    assert_eq!(rest.first().map(|(n, _)| *n), Some(1001));
    assert_eq!((rest.len(), end), (500, None));
    let (small, small_next) = parts_page(&parts, Some(1498), 2);
    assert_eq!(small.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1499, 1500]);
    assert_eq!(small_next, None);
}

#[test]
fn upload_headers_keep_object_metadata_limits() {
    let mut headers = UploadHeaders::default();
    assert_eq!(headers.check(), Ok(()));
    headers.user.insert("k".into(), "v".repeat(USER_META_BYTES_MAX));
    assert_eq!(headers.check(), Err(crate::s3::MetaProblem::TooLarge));
}

#[test]
fn the_parts_digest_ignores_quotes_and_tells_lists_apart() {
    let one = CompletedPart { number: 1, etag: "\"ab\"".into() };
    let bare = CompletedPart { number: 1, etag: "ab".into() };
    let two = CompletedPart { number: 2, etag: "ab".into() };
    let single = |part: &CompletedPart| parts_digest(std::slice::from_ref(part));
    assert_eq!(single(&one), single(&bare));
    assert_ne!(single(&bare), single(&two));
    assert_ne!(parts_digest(&[bare.clone(), two.clone()]), parts_digest(&[two, bare]));
}
