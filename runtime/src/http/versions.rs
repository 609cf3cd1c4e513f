//! Version history, checkpoints, revert and retention (DESIGN §2 "versions"):
//! `GET /history/{path}`, `POST /checkpoints/{path}?name=NAME[&version=N]`,
//! `POST /revert/{path}?version=N`, `GET|PUT /settings/retention`. Each change is one raft
//! command; reads answer from this node's namespace replica.

use super::extract::{Query, UrlPath};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use dfs_core::command::{Command, Reply};
use dfs_core::ids::Version;
use dfs_core::{Change, CommandError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{check, Authed};
use super::{now_millis, parse_path, submit, ApiError, ApiState};
use dfs_core::auth::Need;

/// `GET /history/{path}`: every kept version (oldest first) with its size, hash, author,
/// creation time and checkpoint names; works on a deleted file too. Linearizable unless
/// `stale=true`.
pub async fn history(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
    Query(freshness): Query<super::Freshness>,
) -> Result<Json<Value>, ApiError> {
    let path = parse_path(&raw)?;
    super::linearize(&state, freshness).await?;
    check(&state, &caller, &path, Need::Read).await?;
    let view = state
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let file = namespace
                .entry(&path)
                .ok_or_else(|| CommandError::NotFound { path: path.clone() })?
                .file()
                .ok_or_else(|| CommandError::IsFolder { path: path.clone() })?;
            let names = |version: Version| -> Vec<&str> {
                file.checkpoints
                    .iter()
                    .filter(|(_, &named)| named == version)
                    .map(|(name, _)| name.as_str())
                    .collect()
            };
            let versions: Vec<Value> = file
                .versions
                .iter()
                .map(|v| {
                    json!({
                        "version": v.version.0, "size_bytes": v.content.size_bytes,
                        "hash": v.content.hash.to_hex(), "author": v.author.0,
                        "created_ms": v.created_at.0, "index": v.index.0,
                        "checkpoints": names(v.version),
                    })
                })
                .collect();
            let checkpoints: serde_json::Map<String, Value> =
                file.checkpoints.iter().map(|(name, v)| (name.clone(), json!(v.0))).collect();
            Ok::<_, CommandError>(json!({
                "path": path.as_str(),
                "deleted": file.is_deleted(),
                "latest_version": file.latest_version().0,
                "keep_versions": namespace.settings().keep_versions,
                "checkpoints": checkpoints,
                "versions": versions,
            }))
        })
        .await
        .map_err(|_| ApiError::stopping())??;
    Ok(Json(view))
}

/// Query of `POST /checkpoints/{path}`.
#[derive(Debug, Deserialize)]
pub struct CheckpointQuery {
    /// The checkpoint's name.
    name: Option<String>,
    /// The version to name (default: the latest).
    version: Option<u64>,
}

/// `POST /checkpoints/{path}?name=NAME[&version=N]`: names a version; retention never drops it.
pub async fn checkpoint(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
    Query(query): Query<CheckpointQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let path = parse_path(&raw)?;
    check(&state, &caller, &path, Need::Write).await?;
    let Some(name) = query.name else {
        return Err(bad_request("missing_name", "name=NAME is required"));
    };
    let command = Command::Checkpoint { path, name, version: query.version.map(Version) };
    let Reply::Applied { index, change } = submit(&state, command).await?;
    let Change::CheckpointCreated { path, name, version } = change else {
        return Err(committed_as_something_else());
    };
    let body =
        json!({ "path": path.as_str(), "name": name, "version": version.0, "index": index.0 });
    Ok((StatusCode::CREATED, Json(body)))
}

/// Query of `POST /revert/{path}`.
#[derive(Debug, Deserialize)]
pub struct RevertQuery {
    /// The version whose content comes back.
    version: Option<u64>,
}

/// `POST /revert/{path}?version=N`: a new version with version N's content.
pub async fn revert(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
    Query(query): Query<RevertQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let path = parse_path(&raw)?;
    check(&state, &caller, &path, Need::Write).await?;
    let Some(to) = query.version else {
        return Err(bad_request("missing_version", "version=N is required"));
    };
    let command =
        Command::Revert { path, to: Version(to), author: caller.user, created_at: now_millis() };
    let Reply::Applied { index, change } = submit(&state, command).await?;
    let Change::FileWritten { path, version, size_bytes, hash, .. } = change else {
        return Err(committed_as_something_else());
    };
    let body = json!({
        "path": path.as_str(), "version": version.0, "reverted_to": to,
        "size_bytes": size_bytes, "hash": hash.to_hex(), "index": index.0,
    });
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /settings/retention`: `{"keep_versions": K}` (0: every version is kept).
pub async fn get_retention(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let keep = state
        .driver
        .query(|node| node.status().namespace.settings().keep_versions)
        .await
        .map_err(|_| ApiError::stopping())?;
    Ok(Json(json!({ "keep_versions": keep })))
}

/// `PUT /settings/retention` with body `{"keep_versions": K}`: the cluster keeps the newest K
/// versions of each file (and every checkpointed one) from each file's next write on.
pub async fn put_retention(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    super::auth::require_admin(&caller, "changing the retention setting")?;
    let bad = || {
        bad_request(
            "bad_retention",
            "body must be {\"keep_versions\": K} with K a whole number from 0 (keep all) to 4294967295",
        )
    };
    let value: Value = serde_json::from_slice(&body).map_err(|_| bad())?;
    let keep =
        value["keep_versions"].as_u64().and_then(|k| u32::try_from(k).ok()).ok_or_else(bad)?;
    let command = Command::SetRetention { keep_versions: keep };
    let Reply::Applied { index, .. } = submit(&state, command).await?;
    Ok(Json(json!({ "keep_versions": keep, "index": index.0 })))
}

fn bad_request(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

fn committed_as_something_else() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the command committed as a different change",
    )
}
