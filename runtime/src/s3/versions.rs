//! ListObjectVersions: one page from a range scan of the bucket's files, live and deleted, each
//! file giving its delete marker (when deleted) and then its kept versions, newest first.
//! Paging and grouping are core's (`dfs_core::s3::versions`), so a page costs memory for its own
//! items only.

use dfs_core::auth::Need;
use dfs_core::ids::{UnixMillis, UserName};
use dfs_core::meta::FileRecord;
use dfs_core::s3::list::MAX_KEYS;
use dfs_core::s3::versions::{self as rules, VersionId, VersionItem, VersionsRequest};
use dfs_core::Path;
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

use super::errors::{self, error};
use super::objects::{etag_of, timestamp};
use super::Dfs;

/// What a listing shows of one version or delete marker.
#[derive(Clone, Debug)]
struct Listed {
    /// `None` for a delete marker.
    object: Option<(u64, String)>,
    /// Who wrote it (a marker records no author).
    author: Option<UserName>,
    modified: UnixMillis,
    latest: bool,
}

/// The versions of one file, newest first, as the pager takes them.
fn versions_of<'a>(
    namespace: &'a dfs_core::meta::Namespace,
    key: &'a str,
    path: &'a Path,
    record: &'a FileRecord,
) -> impl Iterator<Item = (String, VersionId, Listed)> + 'a {
    let marker = record.deleted.map(|tombstone| {
        let listed =
            Listed { object: None, author: None, modified: tombstone.deleted_at, latest: true };
        (key.to_owned(), VersionId::DeleteMarker(tombstone.index), listed)
    });
    let live = !record.is_deleted();
    let newest = record.latest_version();
    let kept = record.versions.iter().rev().map(move |kept| {
        let etag = etag_of(namespace.object_meta(path, kept), kept);
        let listed = Listed {
            object: Some((kept.content.size_bytes, etag)),
            author: Some(kept.author.clone()),
            modified: kept.created_at,
            latest: live && kept.version == newest,
        };
        (key.to_owned(), VersionId::Version(kept.version), listed)
    });
    marker.into_iter().chain(kept)
}

fn owner(author: Option<UserName>) -> Option<Owner> {
    author.map(|user| Owner { display_name: Some(user.0.clone()), id: Some(user.0) })
}

/// ListObjectVersions: prefix, delimiter, key-marker, version-id-marker and max-keys, as S3.
pub async fn list(
    dfs: &Dfs,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let max_keys = match input.max_keys {
        None => MAX_KEYS,
        Some(n) => usize::try_from(n)
            .map_err(|_| error(S3ErrorCode::InvalidArgument, "max-keys must not be negative"))?,
    };
    let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
    let version_marker = match input.version_id_marker.as_deref().filter(|m| !m.is_empty()) {
        None => None,
        Some(_) if key_marker.is_none() => {
            let message = "a version-id-marker needs a key-marker";
            return Err(error(S3ErrorCode::InvalidArgument, message));
        }
        Some(raw) => Some(
            VersionId::parse(raw)
                .ok_or_else(|| error(S3ErrorCode::InvalidArgument, "invalid version-id-marker"))?,
        ),
    };
    dfs.linearize().await?;
    let folder = dfs.bucket(&caller, &input.bucket, Need::Read).await?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let marker = key_marker.clone();
    let page = dfs
        .api
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let request = VersionsRequest {
                prefix: &prefix,
                delimiter: delimiter.as_deref(),
                key_marker: marker.as_deref(),
                version_marker,
                max_keys,
            };
            let versions = namespace
                .file_records_from(&folder, request.start())
                .flat_map(|(key, path, record)| versions_of(namespace, key, path, record));
            rules::page(versions, &request)
        })
        .await
        .map_err(errors::stopped)?;
    let (mut versions, mut markers, mut prefixes) = (Vec::new(), Vec::new(), Vec::new());
    for item in page.items {
        match item {
            VersionItem::Version { key, id, value } => match value.object {
                Some((size, etag)) => versions.push(ObjectVersion {
                    key: Some(key),
                    version_id: Some(id.to_string()),
                    is_latest: Some(value.latest),
                    last_modified: Some(timestamp(value.modified)),
                    e_tag: Some(ETag::Strong(etag)),
                    size: i64::try_from(size).ok(),
                    storage_class: Some(ObjectVersionStorageClass::from("STANDARD".to_owned())),
                    owner: owner(value.author),
                    ..Default::default()
                }),
                None => markers.push(DeleteMarkerEntry {
                    key: Some(key),
                    version_id: Some(id.to_string()),
                    is_latest: Some(value.latest),
                    last_modified: Some(timestamp(value.modified)),
                    owner: None,
                }),
            },
            VersionItem::Prefix(prefix) => prefixes.push(CommonPrefix { prefix: Some(prefix) }),
        }
    }
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: input.prefix,
        delimiter: input.delimiter,
        key_marker: input.key_marker,
        version_id_marker: input.version_id_marker,
        max_keys: Some(input.max_keys.unwrap_or(MAX_KEYS as i32)),
        is_truncated: Some(page.truncated),
        next_key_marker: page.next_key,
        next_version_id_marker: page.next_version.map(|id| id.to_string()),
        versions: Some(versions),
        delete_markers: Some(markers),
        common_prefixes: Some(prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}
