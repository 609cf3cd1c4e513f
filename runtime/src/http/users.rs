//! User management (DESIGN §2 "access control"): `GET /users`, `POST /users`, `DELETE
//! /users/{name}` (admins only) and `GET /whoami`. A new user's token is made here from OS
//! entropy, returned once in the answer, and replicated only as a salted digest.

use super::extract::UrlPath;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use dfs_core::auth::Credential;
use dfs_core::command::{Change, Command, Reply};
use dfs_core::ids::UserName;
use dfs_core::CommandError;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{require_admin, Authed};
use super::{submit, ApiError, ApiState};

/// Body of `POST /users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// The name.
    name: String,
    /// Whether the user is an admin.
    #[serde(default)]
    admin: bool,
}

/// `GET /whoami`: the caller's name and whether it is an admin.
pub async fn whoami(Authed(caller): Authed) -> Json<Value> {
    Json(json!({ "user": caller.user.0, "admin": caller.admin }))
}

/// `GET /users`: every current user and whether it is an admin (admins only).
pub async fn list(
    State(state): State<ApiState>,
    Authed(caller): Authed,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller, "listing users")?;
    let users = state
        .driver
        .query(|node| {
            let namespace = node.status().namespace;
            let users: Vec<Value> = namespace
                .users()
                .map(|(name, user)| json!({ "name": name.0, "admin": user.admin }))
                .collect();
            users
        })
        .await
        .map_err(|_| ApiError::stopping())?;
    Ok(Json(json!({ "users": users })))
}

/// `POST /users` with `{"name": "alice", "admin": false}`: creates the user and answers its token
/// (shown this once; only its digest is kept).
pub async fn add(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&caller, "adding users")?;
    let request: NewUser = serde_json::from_slice(&body).map_err(|e| {
        let message = format!("body must be {{\"name\": NAME, \"admin\": false}}: {e}");
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    })?;
    let user = UserName::parse(&request.name)
        .ok_or(CommandError::InvalidUserName { name: request.name.clone() })?;
    // The bootstrap token works before the first leader has recorded it; record it now, so the
    // admin stays the first user (core refuses other users before it).
    let empty = state.driver.query(|node| node.status().namespace.has_no_users()).await;
    if empty.map_err(|_| ApiError::stopping())? {
        let first = crate::admin_bootstrap::command(&state.admin_token);
        let _ = submit(&state, first).await;
    }
    let mut secret = [0u8; 32];
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let secret = blake3::Hash::from_bytes(secret).to_hex().to_string();
    let credential = Credential::derive(salt, &secret);
    let command = Command::AddUser { user: user.clone(), credential, admin: request.admin };
    let Reply::Applied { index, .. } = submit(&state, command).await?;
    tracing::info!(user = %user, admin = request.admin, by = %caller.user, "user added");
    let token = format!("{user}.{secret}");
    let answer =
        json!({ "user": user.0, "admin": request.admin, "token": token, "index": index.0 });
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `DELETE /users/{name}`: removes the user (its token stops working, its grants go).
pub async fn remove(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&caller, "removing users")?;
    let user = UserName::parse(&name).ok_or(CommandError::InvalidUserName { name })?;
    let Reply::Applied { index, change } = submit(&state, Command::RemoveUser { user }).await?;
    let Change::UserRemoved { user, grants_removed } = change else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "a user removal committed as something else",
        ));
    };
    tracing::info!(user = %user, by = %caller.user, "user removed");
    Ok(Json(json!({ "removed": user.0, "grants_removed": grants_removed, "index": index.0 })))
}
