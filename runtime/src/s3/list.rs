//! ListObjectsV2 and ListObjects: one page at a time from a range scan of the namespace
//! starting at the page's first possible key; paging and delimiter grouping are core's
//! (`dfs_core::s3::list`), so a page costs memory for its own items only.

use dfs_core::auth::Need;
use dfs_core::s3::list::{self as rules, Item, ListRequest};
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

use super::errors::{self, error};
use super::Dfs;

/// What a listing shows of one object.
#[derive(Clone, Debug)]
struct Listed {
    size: u64,
    etag: String,
    modified: dfs_core::ids::UnixMillis,
}

/// One page: objects and common prefixes, whether more follow and where.
struct Page {
    objects: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    truncated: bool,
    next: Option<String>,
}

/// Lists one page of `bucket` for `caller` (who needs read access on the bucket).
async fn page(
    dfs: &Dfs,
    caller: &dfs_core::auth::Caller,
    bucket: &str,
    prefix: String,
    delimiter: Option<String>,
    after: Option<String>,
    max_keys: Option<i32>,
) -> S3Result<Page> {
    let max_keys = match max_keys {
        None => rules::MAX_KEYS,
        Some(n) => usize::try_from(n)
            .map_err(|_| error(S3ErrorCode::InvalidArgument, "max-keys must not be negative"))?,
    };
    dfs.linearize().await?;
    let folder = dfs.bucket(caller, bucket, Need::Read).await?;
    let page = dfs
        .api
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let request = ListRequest {
                prefix: &prefix,
                delimiter: delimiter.as_deref(),
                after: after.as_deref(),
                max_keys,
            };
            let keys = namespace.files_from(&folder, request.start()).map(|(key, path, record)| {
                let etag = match namespace.object_meta(path, record) {
                    Some(meta) => meta.etag.clone(),
                    None => format!("b3-{}", &record.content.hash.to_hex()[..32]),
                };
                let listed =
                    Listed { size: record.content.size_bytes, etag, modified: record.created_at };
                (key.to_owned(), listed)
            });
            rules::page(keys, &request)
        })
        .await
        .map_err(errors::stopped)?;
    let (mut objects, mut prefixes) = (Vec::new(), Vec::new());
    for item in page.items {
        match item {
            Item::Object { key, value } => objects.push(Object {
                key: Some(key),
                size: i64::try_from(value.size).ok(),
                e_tag: Some(ETag::Strong(value.etag)),
                last_modified: Some(super::objects::timestamp(value.modified)),
                storage_class: Some(ObjectStorageClass::from("STANDARD".to_owned())),
                ..Default::default()
            }),
            Item::Prefix(prefix) => prefixes.push(CommonPrefix { prefix: Some(prefix) }),
        }
    }
    Ok(Page { objects, prefixes, truncated: page.truncated, next: page.next })
}

/// ListObjectsV2: `start-after` and the continuation token (the last key or prefix of the
/// previous page) both mean "after this".
pub async fn v2(
    dfs: &Dfs,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let after = match (&input.continuation_token, &input.start_after) {
        (Some(token), Some(start)) => Some(token.clone().max(start.clone())),
        (Some(token), None) => Some(token.clone()),
        (None, start) => start.clone(),
    };
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let page = page(dfs, &caller, &input.bucket, prefix, delimiter, after, input.max_keys).await?;
    let count = page.objects.len() + page.prefixes.len();
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: input.prefix,
        delimiter: input.delimiter,
        max_keys: Some(input.max_keys.unwrap_or(rules::MAX_KEYS as i32)),
        key_count: i32::try_from(count).ok(),
        continuation_token: input.continuation_token,
        start_after: input.start_after,
        is_truncated: Some(page.truncated),
        next_continuation_token: page.next,
        contents: Some(page.objects),
        common_prefixes: Some(page.prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

/// ListObjects (v1): `marker` means "after this"; `NextMarker` is the last key or prefix.
pub async fn v1(
    dfs: &Dfs,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let prefix = input.prefix.clone().unwrap_or_default();
    let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
    let after = input.marker.clone().filter(|m| !m.is_empty());
    let page = page(dfs, &caller, &input.bucket, prefix, delimiter, after, input.max_keys).await?;
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: input.prefix,
        delimiter: input.delimiter,
        marker: input.marker,
        max_keys: Some(input.max_keys.unwrap_or(rules::MAX_KEYS as i32)),
        is_truncated: Some(page.truncated),
        next_marker: page.next,
        contents: Some(page.objects),
        common_prefixes: Some(page.prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}
