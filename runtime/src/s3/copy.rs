//! CopyObject, server side: the new version references the source version's chunks (each
//! reused through the upload machine, which keeps them referenced until the commit), so no byte
//! is read or copied. The metadata is the source's (`COPY`, the default) or the request's
//! (`REPLACE`); the ETag stays the content's MD5.

use dfs_core::auth::Need;
use dfs_core::s3::ObjectMeta;
use dfs_core::write::UploadStart;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::errors::{self, error};
use super::objects::{find, timestamp, user_meta};
use super::Dfs;
use crate::http::now_millis;
use crate::http::write::upload_error;
use crate::upload::Upload;

/// CopyObject within the cluster.
pub async fn copy(
    dfs: &Dfs,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let (source_bucket, source_key) = match &input.copy_source {
        CopySource::Bucket { bucket, key, version_id: None } => (bucket.clone(), key.clone()),
        CopySource::Bucket { .. } => {
            return Err(errors::not_implemented("CopyObject from a versionId"))
        }
        _ => return Err(errors::not_implemented("CopyObject from an access point or outpost")),
    };
    dfs.linearize().await?;
    let (_, source) = dfs.object(&caller, &source_bucket, &source_key, Need::Read).await?;
    let (_, target) = dfs.object(&caller, &input.bucket, &input.key, Need::Write).await?;
    let found = find(dfs, &source, &source_key).await?;
    if let Some(ETagCondition::ETag(tag)) = &input.copy_source_if_match {
        if tag.value() != found.etag() {
            let message = "x-amz-copy-source-if-match does not hold";
            return Err(error(s3s::S3ErrorCode::PreconditionFailed, message));
        }
    }
    let replace = input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == "REPLACE");
    let content = found.record.content.clone();
    let meta = match (&found.meta, replace) {
        (Some(meta), false) => Some(meta.clone()),
        (source, true) => source.as_ref().map(|meta| ObjectMeta {
            etag: meta.etag.clone(),
            content_type: input.content_type.clone(),
            content_disposition: input.content_disposition.clone(),
            user: user_meta(input.metadata.as_ref()),
            hash: content.hash,
        }),
        (None, false) => None,
    };
    let start = UploadStart {
        path: target,
        precondition: dfs_core::command::Precondition::None,
        idempotency_key: None,
        author: caller.user.clone(),
    };
    let mut upload = Upload::open(&dfs.api.driver, start).await.map_err(errors::stopped)?;
    for chunk in &content.chunks {
        upload.reuse(*chunk).await.map_err(|e| errors::api(upload_error(e)))?;
    }
    let etag = meta.as_ref().map(|m| m.etag.clone()).unwrap_or_else(|| found.etag());
    let written = upload
        .seal_with(content.size_bytes, content.hash, now_millis(), meta)
        .await
        .map_err(|e| errors::api(upload_error(e)))?;
    tracing::info!(index = %written.index, chunks = content.chunks.len(), "s3 object copied");
    let result = CopyObjectResult {
        e_tag: Some(ETag::Strong(etag)),
        last_modified: Some(timestamp(now_millis())),
        ..Default::default()
    };
    Ok(S3Response::new(CopyObjectOutput { copy_object_result: Some(result), ..Default::default() }))
}
