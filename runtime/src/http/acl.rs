//! Access lists (DESIGN §2 "access control"): `GET /acl/{path}` shows a file's or folder's
//! owner, its own grants and those inherited from the folders above it (needs read access);
//! `POST /acl/{path}?user=U&access=r|w` grants and `DELETE /acl/{path}?user=U` revokes (need
//! ownership of the path or a folder above it, or an admin).

use super::extract::{Query, UrlPath};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use dfs_core::auth::Need;
use dfs_core::command::{Access, Command, Reply};
use dfs_core::ids::UserName;
use dfs_core::{CommandError, Path};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{check, Authed};
use super::{parse_path, submit, ApiError, ApiState};

/// Query of `POST` and `DELETE /acl/{path}`.
#[derive(Debug, Deserialize)]
pub struct GrantQuery {
    /// The user granted to or revoked from.
    user: Option<String>,
    /// `r` or `w` (POST only).
    access: Option<String>,
}

fn access_name(access: Access) -> &'static str {
    match access {
        Access::Read => "r",
        Access::Write => "w",
    }
}

/// `GET /acl` (the root).
pub async fn show_root(state: State<ApiState>, caller: Authed) -> Result<Json<Value>, ApiError> {
    show(state, caller, UrlPath(String::new())).await
}

/// `GET /acl/{path}`: owner, explicit grants and inherited grants and owners.
pub async fn show(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let path = path_of(&raw)?;
    check(&state, &caller, &path, Need::Read).await?;
    let target = path.clone();
    let lines = state
        .driver
        .query(move |node| node.status().namespace.access_list(&target))
        .await
        .map_err(|_| ApiError::stopping())??;
    let mut owner = Value::Null;
    let (mut grants, mut inherited) = (Vec::new(), Vec::new());
    for line in lines {
        let own = line.on == path;
        match (own, line.access) {
            (true, None) => owner = json!(line.user.0),
            (true, Some(access)) => {
                grants.push(json!({ "user": line.user.0, "access": access_name(access) }));
            }
            (false, access) => inherited.push(json!({
                "from": line.on.as_str(),
                "user": line.user.0,
                "access": access.map_or("owner", access_name),
            })),
        }
    }
    Ok(Json(
        json!({ "path": path.as_str(), "owner": owner, "grants": grants, "inherited": inherited }),
    ))
}

/// `POST /acl`: grant on the root.
pub async fn set_root(
    state: State<ApiState>,
    caller: Authed,
    query: Query<GrantQuery>,
) -> Result<Json<Value>, ApiError> {
    set(state, caller, UrlPath(String::new()), query).await
}

/// `POST /acl/{path}?user=U&access=r|w`: grants U read or write access to the path and
/// everything below it.
pub async fn set(
    state: State<ApiState>,
    caller: Authed,
    raw: UrlPath<String>,
    Query(query): Query<GrantQuery>,
) -> Result<Json<Value>, ApiError> {
    let access = match query.access.as_deref() {
        Some("r" | "read") => Access::Read,
        Some("w" | "write") => Access::Write,
        other => {
            let given = other.map_or("nothing".to_owned(), |given| format!("`{given}`"));
            let message = format!("access must be r (read) or w (write), not {given}");
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_access", message));
        }
    };
    change_grant(state, caller, raw, query.user.as_deref(), Some(access)).await
}

/// `DELETE /acl`: revoke on the root.
pub async fn revoke_root(
    state: State<ApiState>,
    caller: Authed,
    query: Query<GrantQuery>,
) -> Result<Json<Value>, ApiError> {
    revoke(state, caller, UrlPath(String::new()), query).await
}

/// `DELETE /acl/{path}?user=U`: revokes U's grant on the path (grants on folders above stay).
pub async fn revoke(
    state: State<ApiState>,
    caller: Authed,
    raw: UrlPath<String>,
    Query(query): Query<GrantQuery>,
) -> Result<Json<Value>, ApiError> {
    change_grant(state, caller, raw, query.user.as_deref(), None).await
}

/// Sets (`Some`) or revokes (`None`) `user`'s grant on the path, if the caller may manage it.
async fn change_grant(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(raw): UrlPath<String>,
    user: Option<&str>,
    access: Option<Access>,
) -> Result<Json<Value>, ApiError> {
    let path = path_of(&raw)?;
    let user = user_of(user)?;
    check(&state, &caller, &path, Need::Manage).await?;
    let command = Command::SetGrant { path: path.clone(), user: user.clone(), access };
    let Reply::Applied { index, .. } = submit(&state, command).await?;
    let access = access.map(access_name);
    tracing::info!(path = %path, user = %user, ?access, by = %caller.user, "grant changed");
    Ok(Json(json!({ "path": path.as_str(), "user": user.0, "access": access, "index": index.0 })))
}

fn path_of(raw: &str) -> Result<Path, ApiError> {
    if raw.is_empty() {
        Ok(Path::root())
    } else {
        parse_path(raw)
    }
}

fn user_of(raw: Option<&str>) -> Result<UserName, ApiError> {
    let Some(raw) = raw else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_user",
            "user=NAME is required",
        ));
    };
    UserName::parse(raw)
        .ok_or_else(|| CommandError::InvalidUserName { name: raw.to_owned() }.into())
}
