//! Bucket operations: a bucket is a top-level folder, created, listed and removed like one
//! (DeleteBucket refuses while any object is left: `BucketNotEmpty`).

use dfs_core::auth::Need;
use dfs_core::command::Command;
use dfs_core::s3::names;
use dfs_core::CommandError;
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

use super::errors::{self, error};
use super::Dfs;
use crate::http::now_millis;

/// When a bucket was made: folders record no time, so every bucket reports the epoch.
fn creation_date() -> Timestamp {
    Timestamp::from(std::time::SystemTime::UNIX_EPOCH)
}

/// CreateBucket: a new top-level folder, made as `mkdir` would make it.
pub async fn create(
    dfs: &Dfs,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let caller = dfs.caller(&req).await?;
    let name = req.input.bucket;
    let path = names::bucket_path(&name).map_err(errors::bucket_name)?;
    dfs.linearize().await?;
    let at = path.clone();
    let owner = dfs
        .api
        .driver
        .query(move |node| node.status().namespace.entry(&at).map(|e| e.owner.clone()))
        .await
        .map_err(errors::stopped)?;
    if let Some(owner) = owner {
        return Err(if owner == caller.user {
            error(S3ErrorCode::BucketAlreadyOwnedByYou, format!("you own {name:?} already"))
        } else {
            error(S3ErrorCode::BucketAlreadyExists, format!("{name:?} exists"))
        });
    }
    dfs.check(&caller, &path, Need::Write).await?;
    let command = Command::CreateFolderIn { path, owner: None };
    crate::http::submit(&dfs.api, command).await.map_err(|e| match e.code.as_ref() {
        "already_exists" => error(S3ErrorCode::BucketAlreadyExists, format!("{name:?} exists")),
        _ => errors::api(e),
    })?;
    let output = CreateBucketOutput { location: Some(format!("/{name}")) };
    Ok(S3Response::new(output))
}

/// DeleteBucket: removes the folder (and empty folders below it) once no object is left.
pub async fn delete(
    dfs: &Dfs,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let caller = dfs.caller(&req).await?;
    dfs.linearize().await?;
    let path = dfs.bucket(&caller, &req.input.bucket, Need::Write).await?;
    let (who, at) = (caller.clone(), path.clone());
    let files = dfs
        .api
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            namespace.check_delete_tree(&who, &at)?;
            Ok::<_, CommandError>(namespace.tree_counts(&at)?.files)
        })
        .await
        .map_err(errors::stopped)?
        .map_err(errors::command)?;
    if files > 0 {
        let message = format!("bucket holds {files} object(s); delete them first");
        return Err(error(S3ErrorCode::BucketNotEmpty, message));
    }
    let command = Command::DeleteRecursive { path, deleted_at: now_millis() };
    crate::http::submit(&dfs.api, command).await.map_err(errors::api)?;
    Ok(S3Response::new(DeleteBucketOutput {}))
}

/// HeadBucket: the bucket exists and the caller may read it.
pub async fn head(
    dfs: &Dfs,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    let caller = dfs.caller(&req).await?;
    dfs.linearize().await?;
    dfs.bucket(&caller, &req.input.bucket, Need::Read).await?;
    Ok(S3Response::new(HeadBucketOutput::default()))
}

/// GetBucketLocation: the node's configured region.
pub async fn location(
    dfs: &Dfs,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let caller = dfs.caller(&req).await?;
    dfs.linearize().await?;
    dfs.bucket(&caller, &req.input.bucket, Need::Read).await?;
    let constraint = BucketLocationConstraint::from(dfs.region.clone());
    Ok(S3Response::new(GetBucketLocationOutput { location_constraint: Some(constraint) }))
}

/// ListBuckets: the top-level folders with valid bucket names the caller may read.
pub async fn list(
    dfs: &Dfs,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let caller = dfs.caller(&req).await?;
    dfs.linearize().await?;
    let region = dfs.region.clone();
    let names = dfs
        .api
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let children = namespace.children(&dfs_core::Path::root()).unwrap_or_default();
            children
                .into_iter()
                .filter(|(_, entry)| entry.is_folder())
                .filter_map(|(path, _)| names::bucket_of(path).map(|n| (n.to_owned(), path)))
                .filter(|(_, path)| {
                    caller.admin || namespace.check_access(&caller, path, Need::Read).is_ok()
                })
                .map(|(name, _)| name)
                .collect::<Vec<String>>()
        })
        .await
        .map_err(errors::stopped)?;
    let buckets = names
        .into_iter()
        .map(|name| Bucket {
            name: Some(name),
            creation_date: Some(creation_date()),
            bucket_region: Some(region.clone()),
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput { buckets: Some(buckets), ..Default::default() }))
}

/// GetBucketVersioning: dfs keeps every version of every file (within the cluster's retention),
/// so every bucket is versioned, always (`Enabled`).
pub async fn versioning(
    dfs: &Dfs,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let caller = dfs.caller(&req).await?;
    dfs.linearize().await?;
    dfs.bucket(&caller, &req.input.bucket, Need::Read).await?;
    let status = BucketVersioningStatus::from(BucketVersioningStatus::ENABLED.to_owned());
    Ok(S3Response::new(GetBucketVersioningOutput { status: Some(status), mfa_delete: None }))
}

/// PutBucketVersioning: `Enabled` is what every bucket is, so it succeeds and changes nothing.
/// `Suspended` is refused (`501 NotImplemented`): S3's suspended writes replace the key's
/// `null` version in place, and a dfs write always makes a new immutable version (DESIGN §2
/// "versions"), so no faithful mapping exists (docs/s3.md). MFA delete is refused likewise.
pub async fn put_versioning(
    dfs: &Dfs,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    dfs.linearize().await?;
    dfs.bucket(&caller, &input.bucket, Need::Manage).await?;
    let config = input.versioning_configuration;
    if config.mfa_delete.as_ref().is_some_and(|m| m.as_str() == MFADelete::ENABLED) {
        return Err(errors::not_implemented("MFA delete"));
    }
    match config.status.as_ref().map(BucketVersioningStatus::as_str) {
        Some(BucketVersioningStatus::ENABLED) => {
            Ok(S3Response::new(PutBucketVersioningOutput::default()))
        }
        Some(BucketVersioningStatus::SUSPENDED) => Err(errors::not_implemented(
            "Suspended versioning (dfs keeps every version: every write makes a new one)",
        )),
        _ => Err(errors::error(S3ErrorCode::MalformedXML, "Status must be Enabled or Suspended")),
    }
}
