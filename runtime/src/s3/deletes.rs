//! DeleteObject and DeleteObjects on dfs's deletes (docs/s3.md "Versions"): without a
//! `versionId` the file is tombstoned, and the tombstone is the key's delete marker (id
//! `dm-<log index of the delete>`); with one, that version, or the delete marker, is removed
//! for good through core's `RemoveVersion` (the rules are `dfs_core::meta`'s). Both need the
//! grant a delete needs (write access to the path). Deleting what is not there succeeds and
//! changes nothing, as in S3, so retries are safe.

use dfs_core::auth::{Caller, Need};
use dfs_core::command::{Command, Precondition, Reply, VersionTarget};
use dfs_core::ids::LogIndex;
use dfs_core::meta::EntryKind;
use dfs_core::s3::versions::VersionId;
use dfs_core::{Change, Path};
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result};

use super::errors::{self, error};
use super::objects::version_id;
use super::Dfs;
use crate::http::now_millis;

/// What a delete did, as S3 reports it.
#[derive(Debug, Default)]
struct Deleted {
    /// The version id the response names: the new (or current) delete marker, or the version
    /// removed.
    version_id: Option<String>,
    /// Whether that id is a delete marker's.
    delete_marker: bool,
}

/// Deletes `key`, or the version `raw_version` names.
async fn delete_one(
    dfs: &Dfs,
    caller: &Caller,
    bucket: &str,
    key: &str,
    raw_version: Option<&str>,
) -> S3Result<Deleted> {
    let version = version_id(raw_version)?;
    let (_, path) = dfs.object(caller, bucket, key, Need::Write).await?;
    match version {
        None => tombstone(dfs, path).await,
        Some(id) => remove(dfs, caller, path, id).await,
    }
}

/// Tombstones the live file at `path`: its delete marker is the tombstone. A key already
/// deleted keeps its marker (dfs keeps one per key) and reports it; a missing key has none.
async fn tombstone(dfs: &Dfs, path: Path) -> S3Result<Deleted> {
    let command = Command::Delete {
        path: path.clone(),
        precondition: Precondition::None,
        deleted_at: now_millis(),
    };
    let index = match crate::http::submit(&dfs.api, command).await {
        Ok(Reply::Applied { index, .. }) => Some(index),
        Err(e) if e.code == "not_found" => current_marker(dfs, path).await?,
        Err(e) => return Err(errors::api(e)),
    };
    Ok(match index {
        Some(index) => Deleted {
            version_id: Some(VersionId::DeleteMarker(index).to_string()),
            delete_marker: true,
        },
        None => Deleted::default(),
    })
}

/// The log index of the tombstone of the deleted file at `path`, if it is one.
async fn current_marker(dfs: &Dfs, path: Path) -> S3Result<Option<LogIndex>> {
    dfs.api
        .driver
        .query(move |node| match node.status().namespace.entry(&path).map(|e| &e.kind) {
            Some(EntryKind::File(record)) => record.deleted.map(|tombstone| tombstone.index),
            _ => None,
        })
        .await
        .map_err(errors::stopped)
}

/// Removes the version `id` names at `path` for good.
async fn remove(dfs: &Dfs, caller: &Caller, path: Path, id: VersionId) -> S3Result<Deleted> {
    let target = match id {
        VersionId::Version(version) => VersionTarget::Version(version),
        VersionId::DeleteMarker(index) => VersionTarget::DeleteMarker(index),
        // Names nothing in dfs: nothing to delete.
        VersionId::Null => {
            return Ok(Deleted { version_id: Some(id.to_string()), ..Default::default() })
        }
    };
    let command = Command::RemoveVersion { path, target, author: caller.user.clone() };
    let removed = match crate::http::submit(&dfs.api, command).await {
        Ok(Reply::Applied { change, index }) => {
            tracing::info!(index = %index, version = %id, "s3 version removed");
            matches!(change, Change::VersionRemoved { .. } | Change::Undeleted { .. })
        }
        // Already gone (a retry, or never there): S3 answers success.
        Err(e)
            if matches!(
                e.code.as_ref(),
                "not_found" | "version_not_found" | "no_delete_marker"
            ) =>
        {
            false
        }
        Err(e) if e.code == "version_checkpointed" => {
            return Err(error(S3ErrorCode::InvalidRequest, e.message));
        }
        Err(e) => return Err(errors::api(e)),
    };
    let delete_marker = removed && matches!(id, VersionId::DeleteMarker(_));
    Ok(Deleted { version_id: Some(id.to_string()), delete_marker })
}

/// DeleteObject.
pub async fn delete(
    dfs: &Dfs,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let deleted =
        delete_one(dfs, &caller, &input.bucket, &input.key, input.version_id.as_deref()).await?;
    Ok(S3Response::new(DeleteObjectOutput {
        delete_marker: deleted.delete_marker.then_some(true),
        version_id: deleted.version_id,
        ..Default::default()
    }))
}

/// DeleteObjects: each key (or version) deleted on its own, with its own result.
pub async fn delete_many(
    dfs: &Dfs,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    dfs.bucket(&caller, &input.bucket, Need::Read).await?;
    let quiet = input.delete.quiet.unwrap_or(false);
    let (mut deleted, mut failed) = (Vec::new(), Vec::new());
    for object in input.delete.objects {
        let asked = object.version_id.as_deref();
        match delete_one(dfs, &caller, &input.bucket, &object.key, asked).await {
            Ok(_) if quiet => {}
            Ok(done) => deleted.push(if object.version_id.is_some() {
                DeletedObject {
                    key: Some(object.key),
                    version_id: done.version_id,
                    delete_marker: done.delete_marker.then_some(true),
                    ..Default::default()
                }
            } else {
                DeletedObject {
                    key: Some(object.key),
                    delete_marker: done.delete_marker.then_some(true),
                    delete_marker_version_id: done.version_id,
                    ..Default::default()
                }
            }),
            Err(e) => failed.push(Error {
                code: Some(e.code().as_str().to_owned()),
                key: Some(object.key),
                message: e.message().map(str::to_owned),
                version_id: object.version_id,
            }),
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: Some(failed),
        ..Default::default()
    }))
}
