//! Folders and the namespace's shape (DESIGN §2 "folders"): `POST /folders/{path}`,
//! `GET /list/{path}` (a page at a time, so a huge folder never sits in one response; from the
//! local replica, or through the log with `consistent=true`),
//! `POST /move?from=&to=` (a file or a whole folder, one raft command) and
//! `DELETE /files/{path}[?recursive=true]`.

use super::extract::{Query, UrlPath};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use dfs_core::command::{Command, Precondition, Reply};
use dfs_core::ids::UserName;
use dfs_core::meta::{Entry, EntryKind};
use dfs_core::{Change, Path};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{check, Authed};
use super::{now_millis, parse_path, submit, ApiError, ApiState};
use dfs_core::auth::Need;

/// Children listed when the query names no limit.
pub const LIST_PAGE_DEFAULT: usize = 1000;
/// Most children listed in one page.
pub const LIST_PAGE_MAX: usize = 10_000;

/// Query of `POST /folders/{path}`.
#[derive(Debug, Deserialize)]
pub struct FolderQuery {
    /// The new folders' owner (admins only; default: the caller).
    owner: Option<String>,
}

/// `POST /folders/{path}[?owner=USER]`: creates a folder and its missing parents.
pub async fn create_folder(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
    Query(query): Query<FolderQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let path = parse_path(&raw)?;
    check(&state, &caller, &path, Need::Write).await?;
    let owner = match query.owner {
        None => None,
        Some(name) => {
            super::auth::require_admin(&caller, "creating a folder for another user")?;
            let owner = UserName::parse(&name)
                .ok_or(dfs_core::CommandError::InvalidUserName { name: name.clone() })?;
            let known = state
                .driver
                .query({
                    let owner = owner.clone();
                    move |node| node.status().namespace.user(&owner).is_some()
                })
                .await
                .map_err(|_| ApiError::stopping())?;
            if !known {
                return Err(dfs_core::CommandError::UnknownUser { user: owner }.into());
            }
            Some(owner)
        }
    };
    // Missing parents (and, without `owner`, the folder itself) belong to the folder above.
    let command = Command::CreateFolderIn { path, owner };
    let Reply::Applied { index, .. } = submit(&state, command).await?;
    Ok((StatusCode::CREATED, Json(json!({ "created": format!("/{raw}"), "index": index.0 }))))
}

/// Query of `DELETE /files/{path}`.
#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    /// Delete a folder with everything under it.
    recursive: Option<bool>,
}

/// `DELETE /files/{path}[?recursive=true]`: tombstones a file or removes an empty folder; with
/// `recursive=true`, removes a folder with every file and folder under it in one command.
pub async fn delete_file(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
    Query(query): Query<DeleteQuery>,
) -> Result<Json<Value>, ApiError> {
    let path = parse_path(&raw)?;
    if query.recursive != Some(true) {
        check(&state, &caller, &path, Need::Write).await?;
        let command =
            Command::Delete { path, precondition: Precondition::None, deleted_at: now_millis() };
        let Reply::Applied { index, .. } = submit(&state, command).await?;
        return Ok(Json(json!({ "deleted": format!("/{raw}"), "index": index.0 })));
    }
    let (who, target) = (caller.clone(), path.clone());
    query_check(&state, move |namespace| namespace.check_delete_tree(&who, &target)).await?;
    let command = Command::DeleteRecursive { path, deleted_at: now_millis() };
    let Reply::Applied { index, change } = submit(&state, command).await?;
    let Change::TreeDeleted { path, files, folders } = change else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "a recursive delete committed as something else",
        ));
    };
    Ok(Json(json!({
        "deleted": path.as_str(), "files": files.len(), "folders": folders.len(), "index": index.0,
    })))
}

/// Query of `POST /move`.
#[derive(Debug, Deserialize)]
pub struct MoveQuery {
    /// The file or folder to move.
    from: Option<String>,
    /// Where it goes.
    to: Option<String>,
}

/// `POST /move?from=/a&to=/b`: moves (renames) a file with its history, or a folder with
/// everything under it, in one raft command.
pub async fn move_entry(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    Query(query): Query<MoveQuery>,
) -> Result<Json<Value>, ApiError> {
    let (Some(from), Some(to)) = (query.from, query.to) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_move",
            "from=PATH and to=PATH are both required",
        ));
    };
    let (from, to) = (query_path(&from)?, query_path(&to)?);
    let (who, source, target) = (caller.clone(), from.clone(), to.clone());
    query_check(&state, move |namespace| namespace.check_move(&who, &source, &target)).await?;
    let Reply::Applied { index, change } = submit(&state, Command::Move { from, to }).await?;
    let Change::Moved { from, to, folder } = change else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "a move committed as something else",
        ));
    };
    Ok(Json(json!({
        "from": from.as_str(), "to": to.as_str(),
        "kind": if folder { "folder" } else { "file" }, "index": index.0,
    })))
}

/// `DELETE /files[?recursive=true]`: the root, which is never deleted: `400 root_immutable`.
pub async fn delete_root(Authed(_caller): Authed) -> ApiError {
    ApiError::from(dfs_core::CommandError::RootImmutable)
}

/// Runs an access check on this node's replica; its refusal as the answer.
async fn query_check(
    state: &ApiState,
    rule: impl FnOnce(&dfs_core::meta::Namespace) -> Result<(), dfs_core::CommandError> + Send + 'static,
) -> Result<(), ApiError> {
    let outcome = state
        .driver
        .query(move |node| rule(node.status().namespace))
        .await
        .map_err(|_| ApiError::stopping())?;
    outcome.map_err(ApiError::from)
}

/// A path given in a query: absolute (`/a/b`).
fn query_path(raw: &str) -> Result<Path, ApiError> {
    Path::parse(raw).map_err(|e| ApiError::from(dfs_core::CommandError::InvalidPath(e)))
}

/// Query of `GET /list/{path}`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Continue after this child name (the previous page's `next`).
    after: Option<String>,
    /// Most children in this page (default 1,000, at most 10,000).
    limit: Option<usize>,
    /// List this node's replica as it is, without confirming with the leader (may be behind).
    #[serde(default)]
    stale: bool,
    /// Accepted for compatibility: listings are linearizable by default.
    #[serde(default)]
    consistent: bool,
}

/// `GET /list[?after=NAME][&limit=N][&consistent=true]`: the root folder's children, a page at a
/// time.
pub async fn list_root(
    state: State<ApiState>,
    caller: Authed,
    query: Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    list(state, caller, UrlPath(String::new()), query).await
}

/// `GET /list/{path}[?after=NAME][&limit=N][&consistent=true]`: a folder's live children in name
/// order, a page at a time: `entries` and `next` (pass as `after`; `null` on the last page).
/// Served from this node's replica once it has applied the leader's read index, so the page
/// reflects every change acknowledged before the request, on any node (unless `stale=true`).
pub async fn list(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let folder = if raw.is_empty() { Path::root() } else { parse_path(&raw)? };
    let freshness = super::Freshness { stale: query.stale, consistent: query.consistent };
    super::linearize(&state, freshness).await?;
    check(&state, &caller, &folder, Need::Read).await?;
    let limit = query.limit.unwrap_or(LIST_PAGE_DEFAULT).clamp(1, LIST_PAGE_MAX);
    let after = query.after;
    let (entries, next) = state
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let (children, more) = namespace.children_page(&folder, after.as_deref(), limit)?;
            let next = children.last().filter(|_| more).map(|(path, _)| path.name().to_owned());
            let entries: Vec<Value> =
                children.into_iter().map(|(path, entry)| describe(path, entry)).collect();
            Ok::<_, dfs_core::CommandError>((entries, next))
        })
        .await
        .map_err(|_| ApiError::stopping())??;
    Ok(Json(json!({ "entries": entries, "next": next })))
}

/// One listing row: name, kind, and for files the latest version's size, hash and time.
fn describe(path: &Path, entry: &Entry) -> Value {
    match &entry.kind {
        EntryKind::Folder => {
            json!({ "path": path.as_str(), "kind": "folder", "owner": entry.owner.0 })
        }
        EntryKind::File(file) => {
            let latest = file.versions.last();
            json!({
                "path": path.as_str(),
                "kind": "file",
                "owner": entry.owner.0,
                "version": latest.map(|v| v.version.0),
                "size_bytes": latest.map(|v| v.content.size_bytes),
                "hash": latest.map(|v| v.content.hash.to_hex()),
                "chunks": latest.map(|v| v.content.chunks.len()),
                "created_ms": latest.map(|v| v.created_at.0),
            })
        }
    }
}
