//! S3 access keys (issue 18, docs/s3.md): `GET /keys`, `POST /keys`, `DELETE /keys/{id}`. A
//! key belongs to a dfs user and acts with that user's grants. Its secret is made here from OS
//! entropy, answered once, and replicated only sealed under the cluster secret
//! (`dfs_core::s3::keys`): SigV4 needs the secret itself on every node.

use super::extract::{Query, UrlPath};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use dfs_core::command::{Command, Reply};
use dfs_core::ids::UserName;
use dfs_core::s3::keys::{self, AccessKey};
use dfs_core::CommandError;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{require_admin, Authed};
use super::{now_millis, submit, ApiError, ApiState};

/// Query of `POST /keys`.
#[derive(Debug, Deserialize)]
pub struct NewKey {
    /// The user the key acts as (admins only, for another user; default: the caller).
    user: Option<String>,
}

/// `n` characters drawn from `alphabet` with OS entropy.
fn random_text(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n).map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())])).collect()
}

/// `GET /keys`: the caller's keys (an admin's: every key), without secrets.
pub async fn list(
    State(state): State<ApiState>,
    Authed(caller): Authed,
) -> Result<Json<Value>, ApiError> {
    let keys = state
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            namespace
                .access_keys()
                .filter(|key| caller.admin || key.user == caller.user)
                .map(|key| json!({ "id": key.id, "user": key.user.0, "created_ms": key.created_at.0 }))
                .collect::<Vec<Value>>()
        })
        .await
        .map_err(|_| ApiError::stopping())?;
    Ok(Json(json!({ "keys": keys })))
}

/// `POST /keys[?user=U]`: a new key for the caller (or, for an admin, for user U); answers the
/// id and the secret, shown this once.
pub async fn create(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    Query(query): Query<NewKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = match query.user {
        None => caller.user.clone(),
        Some(name) => {
            let user = UserName::parse(&name)
                .ok_or(CommandError::InvalidUserName { name: name.clone() })?;
            if user != caller.user {
                require_admin(&caller, "creating an access key for another user")?;
            }
            user
        }
    };
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let id = format!("DFS{}", random_text(UPPER, keys::ID_LEN - 3));
    let secret = random_text(SECRET, 40);
    let nonce: [u8; 16] = rand::rngs::OsRng.gen();
    let sealed = keys::seal(&state.cluster_secret, &id, &secret, nonce);
    let key = AccessKey { id: id.clone(), user: user.clone(), sealed, created_at: now_millis() };
    let Reply::Applied { index, .. } = submit(&state, Command::AddAccessKey { key }).await?;
    tracing::info!(%user, key = %id, "s3 access key created");
    let answer = json!({ "id": id, "secret": secret, "user": user.0, "index": index.0 });
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `DELETE /keys/{id}`: removes a key (its owner's, or any for an admin); requests signed with
/// it are refused from then on.
pub async fn remove(
    State(state): State<ApiState>,
    Authed(caller): Authed,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let lookup = id.clone();
    let owner = state
        .driver
        .query(move |node| node.status().namespace.access_key(&lookup).map(|k| k.user.clone()))
        .await
        .map_err(|_| ApiError::stopping())?;
    match owner {
        Some(owner) if owner == caller.user || caller.admin => {}
        // Another user's key is reported as unknown: ids are not for others to probe.
        _ => return Err(CommandError::UnknownAccessKey { id }.into()),
    }
    let Reply::Applied { index, .. } =
        submit(&state, Command::RemoveAccessKey { id: id.clone() }).await?;
    Ok(Json(json!({ "removed": id, "index": index.0 })))
}
