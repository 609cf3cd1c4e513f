//! ListMultipartUploads and ListParts: one page at a time out of the replicated upload table,
//! paged and grouped by core's rules (`dfs_core::s3::multipart`).

use dfs_core::auth::Need;
use dfs_core::ids::UnixMillis;
use dfs_core::s3::multipart::{self as rules, UploadId, UploadItem, UploadsRequest};
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

use super::errors::{self, error};
use super::multipart::{find_upload, upload_id};
use super::objects::timestamp;
use super::Dfs;

/// A `max-*` parameter: at most [`rules::PAGE_MAX`], never negative.
fn page_size(raw: Option<i32>, what: &str) -> S3Result<usize> {
    match raw {
        None => Ok(rules::PAGE_MAX),
        Some(n) => usize::try_from(n).map_err(|_| {
            error(S3ErrorCode::InvalidArgument, format!("{what} must not be negative"))
        }),
    }
}

fn someone(name: &str) -> (Initiator, Owner) {
    let initiator = Initiator { display_name: Some(name.to_owned()), id: Some(name.to_owned()) };
    let owner = Owner { display_name: Some(name.to_owned()), id: Some(name.to_owned()) };
    (initiator, owner)
}

/// ListMultipartUploads: the uploads in progress in a bucket, by key then upload id.
pub async fn list_uploads(
    dfs: &Dfs,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let max = page_size(input.max_uploads, "max-uploads")?;
    let id_marker = match (&input.key_marker, input.upload_id_marker.as_deref()) {
        (Some(_), Some(raw)) if !raw.is_empty() => Some(upload_id(raw)?),
        _ => None,
    };
    dfs.linearize().await?;
    let folder = dfs.bucket(&caller, &input.bucket, Need::Read).await?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let (delimiter, key_marker) = (input.delimiter.clone(), input.key_marker.clone());
    let page = dfs
        .api
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let request = UploadsRequest {
                prefix: &prefix,
                delimiter: delimiter.as_deref(),
                key_marker: key_marker.as_deref(),
                upload_id_marker: id_marker,
                max_uploads: max,
            };
            let uploads = namespace
                .uploads_from(&folder, request.start())
                .map(|(key, id, up)| (key.to_owned(), id, (up.created_at, up.initiator.0.clone())));
            rules::uploads_page(uploads, &request)
        })
        .await
        .map_err(errors::stopped)?;
    let (mut uploads, mut prefixes) = (Vec::new(), Vec::new());
    for item in page.items {
        match item {
            UploadItem::Upload { key, id, value: (created_at, who) } => {
                uploads.push(listed_upload(key, id, created_at, &who))
            }
            UploadItem::Prefix(prefix) => prefixes.push(CommonPrefix { prefix: Some(prefix) }),
        }
    }
    let (next_key, next_id) = match page.next {
        Some((key, id)) => (Some(key), id.map(|id| id.to_string())),
        None => (None, None),
    };
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        common_prefixes: Some(prefixes),
        delimiter: input.delimiter,
        is_truncated: Some(page.truncated),
        key_marker: input.key_marker,
        max_uploads: i32::try_from(max.min(rules::PAGE_MAX)).ok(),
        next_key_marker: next_key,
        next_upload_id_marker: next_id,
        prefix: input.prefix,
        upload_id_marker: input.upload_id_marker,
        uploads: Some(uploads),
        ..Default::default()
    }))
}

fn listed_upload(key: String, id: UploadId, created_at: UnixMillis, who: &str) -> MultipartUpload {
    let (initiator, owner) = someone(who);
    MultipartUpload {
        initiated: Some(timestamp(created_at)),
        initiator: Some(initiator),
        key: Some(key),
        owner: Some(owner),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        upload_id: Some(id.to_string()),
        ..Default::default()
    }
}

/// ListParts: the parts of one upload, by number.
pub async fn list_parts(
    dfs: &Dfs,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let max = page_size(input.max_parts, "max-parts")?;
    let marker = match input.part_number_marker {
        None => None,
        Some(n) => Some(u32::try_from(n).map_err(|_| {
            error(S3ErrorCode::InvalidArgument, "part-number-marker must not be negative")
        })?),
    };
    let id = upload_id(&input.upload_id)?;
    dfs.linearize().await?;
    let (_, path) = dfs.object(&caller, &input.bucket, &input.key, Need::Read).await?;
    let upload = find_upload(dfs, &path, id).await?;
    let (page, next) = rules::parts_page(&upload.parts, marker, max);
    let parts: Vec<Part> = page
        .iter()
        .map(|(number, part)| Part {
            e_tag: Some(ETag::Strong(part.etag())),
            last_modified: Some(timestamp(part.uploaded_at)),
            part_number: i32::try_from(*number).ok(),
            size: i64::try_from(part.content.size_bytes).ok(),
            ..Default::default()
        })
        .collect();
    let (initiator, owner) = someone(&upload.initiator.0);
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        initiator: Some(initiator),
        is_truncated: Some(next.is_some()),
        key: Some(input.key),
        max_parts: i32::try_from(max.min(rules::PAGE_MAX)).ok(),
        next_part_number_marker: next.and_then(|n| i32::try_from(n).ok()),
        owner: Some(owner),
        part_number_marker: input.part_number_marker,
        parts: Some(parts),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        upload_id: Some(input.upload_id),
        ..Default::default()
    }))
}
