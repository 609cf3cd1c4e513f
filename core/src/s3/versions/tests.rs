use super::*;

fn v(n: u64) -> VersionId {
    VersionId::Version(Version(n))
}

fn dm(index: u64) -> VersionId {
    VersionId::DeleteMarker(LogIndex(index))
}

/// Keys with their versions newest first, as the namespace scan feeds them.
fn history() -> Vec<(String, VersionId, ())> {
    let keys: &[(&str, &[VersionId])] = &[
        ("a", &[dm(40), v(3), v(1)]),
        ("a-b", &[v(1)]),
        ("a/1", &[v(2), v(1)]),
        ("a/x/3", &[v(1)]),
        ("b", &[dm(9), v(5)]),
        ("c", &[v(7), v(6), v(4)]),
    ];
    keys.iter()
        .flat_map(|(key, ids)| ids.iter().map(move |id| ((*key).to_owned(), *id, ())))
        .collect()
}

fn names(page: &VersionsPage<()>) -> Vec<String> {
    page.items
        .iter()
        .map(|item| match item {
            VersionItem::Version { key, id, .. } => format!("{key}@{id}"),
            VersionItem::Prefix(p) => format!("P:{p}"),
        })
        .collect()
}

fn request<'a>(prefix: &'a str, delimiter: Option<&'a str>) -> VersionsRequest<'a> {
    VersionsRequest { prefix, delimiter, key_marker: None, version_marker: None, max_keys: 1000 }
}

#[test]
fn ids_round_trip_and_only_the_canonical_form_parses() {
    for id in [v(1), v(12_345), dm(7), VersionId::Null] {
        assert_eq!(VersionId::parse(&id.to_string()), Some(id));
    }
    assert_eq!(v(3).to_string(), "3");
    assert_eq!(dm(40).to_string(), "dm-40");
    for bad in
        ["", "0", "07", "dm-", "dm-0", "dm-07", "-1", "3.0", "x", "dm-x", "18446744073709551616"]
    {
        assert_eq!(VersionId::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn a_marker_is_the_newest_and_null_the_oldest() {
    assert!(dm(1).rank() > v(u64::MAX - 1).rank());
    assert!(VersionId::Null.rank() < v(1).rank());
}

#[test]
fn versions_list_newest_first_filtered_and_grouped() {
    let all = page(history(), &request("", None));
    assert_eq!(
        names(&all),
        [
            "a@dm-40", "a@3", "a@1", "a-b@1", "a/1@2", "a/1@1", "a/x/3@1", "b@dm-9", "b@5", "c@7",
            "c@6", "c@4"
        ]
    );
    assert!(!all.truncated && all.next_key.is_none() && all.next_version.is_none());
    let grouped = page(history(), &request("", Some("/")));
    assert_eq!(
        names(&grouped),
        ["a@dm-40", "a@3", "a@1", "a-b@1", "P:a/", "b@dm-9", "b@5", "c@7", "c@6", "c@4"]
    );
    let inside = page(history(), &request("a/", Some("/")));
    assert_eq!(names(&inside), ["a/1@2", "a/1@1", "P:a/x/"]);
}

#[test]
fn a_key_marker_alone_skips_the_whole_key() {
    let req = VersionsRequest { key_marker: Some("a/1"), ..request("", None) };
    assert_eq!(names(&page(history(), &req))[0], "a/x/3@1");
    assert_eq!(req.start(), "a/1");
    let req = VersionsRequest { key_marker: Some("0"), ..request("b", None) };
    assert_eq!(req.start(), "b");
}

#[test]
fn a_version_marker_resumes_inside_its_key_even_if_that_version_is_gone() {
    let after_marker = VersionsRequest {
        key_marker: Some("a"),
        version_marker: Some(dm(40)),
        ..request("a", None)
    };
    assert_eq!(names(&page(history(), &after_marker))[..2], ["a@3", "a@1"]);
    // Version 2 of "c" never existed (or was removed between pages): 4 still follows.
    let gone =
        VersionsRequest { key_marker: Some("c"), version_marker: Some(v(5)), ..request("", None) };
    assert_eq!(names(&page(history(), &gone)), ["c@4"]);
    let null = VersionsRequest {
        key_marker: Some("b"),
        version_marker: Some(VersionId::Null),
        ..request("", None)
    };
    assert_eq!(names(&page(history(), &null)), ["c@7", "c@6", "c@4"]);
}

#[test]
fn pages_resume_from_their_markers_without_repeats_or_gaps() {
    for delimiter in [None, Some("/")] {
        let whole = names(&page(history(), &request("", delimiter)));
        for max_keys in 1..=5 {
            let mut seen = Vec::new();
            let (mut key, mut version) = (None::<String>, None::<VersionId>);
            for _ in 0..100 {
                let req = VersionsRequest {
                    key_marker: key.as_deref(),
                    version_marker: version,
                    max_keys,
                    ..request("", delimiter)
                };
                let got = page(history(), &req);
                assert!(got.items.len() <= max_keys);
                seen.extend(names(&got));
                if !got.truncated {
                    break;
                }
                (key, version) = (got.next_key, got.next_version);
            }
            assert_eq!(seen, whole, "max_keys {max_keys}, delimiter {delimiter:?}");
        }
    }
}

#[test]
fn a_page_is_capped_at_a_thousand_items() {
    let many: Vec<(String, VersionId, ())> =
        (1..=1500).rev().map(|n| ("k".to_owned(), v(n), ())).collect();
    let got = page(many, &VersionsRequest { max_keys: 5000, ..request("", None) });
    assert_eq!(got.items.len(), MAX_KEYS);
    assert_eq!(got.next_key.as_deref(), Some("k"));
    assert_eq!(got.next_version, Some(v(501)));
}
