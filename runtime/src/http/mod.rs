//! The client HTTP API (DESIGN §2, axum): health and status, folders, listings and deletes now;
//! file bodies with the chunk store. Any node serves any path; writes go through raft from
//! whichever node received them.

mod acl;
pub mod auth;
mod cluster;
mod dashboard;
mod error;
mod events;
mod explain;
mod extract;
mod files;
pub(crate) mod folders;
mod fsck;
pub(crate) mod internal;
mod join;
pub(crate) mod keys;
pub mod limits;
mod manifest;
mod metrics;
pub(crate) mod read;
pub mod serve;
mod users;
mod versions;
pub(crate) mod write;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use dfs_core::command::{Command, Reply};
use dfs_core::path::PathError;
use dfs_core::{CommandError, Path};
use serde_json::{json, Value};

use tokio_util::sync::CancellationToken;

use crate::driver::DriverHandle;
use crate::fsck::FsckSlots;
use crate::peers::Peers;
use crate::store::chunks::ChunkStore;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The node's driver.
    pub driver: DriverHandle,
    /// This node's chunk store.
    pub chunks: ChunkStore,
    /// The other members, for chunk transfer.
    pub peers: Arc<Peers>,
    /// Write settings.
    pub settings: WriteSettings,
    /// Limits on fsck work on this node.
    pub fsck: Arc<FsckSlots>,
    /// Cancelled when the node stops (ends long-lived responses such as the event stream).
    pub shutdown: CancellationToken,
    /// Request and repair counters for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Which peers the raft transport is connected to.
    pub links: crate::transport::LinkStates,
    /// This node's configured admin token (accepted while the cluster has no users).
    pub admin_token: dfs_core::auth::Token,
    /// The cluster secret, which S3 access key secrets are sealed under.
    pub cluster_secret: Arc<str>,
}

/// How writes are replicated and bounded on this node.
#[derive(Clone, Copy, Debug)]
pub struct WriteSettings {
    /// Copies kept of every chunk.
    pub replication_factor: usize,
    /// Largest body accepted.
    pub body_bytes_max: u64,
}

/// The router for the client API, with `limiter` (if any) bounding each client's request rate.
/// Layers, outermost first: authentication (finds the caller), the rate limiter (per caller,
/// else per IP), the refusal of unauthenticated requests, metrics, the routes.
pub fn router(state: ApiState, limiter: Option<Arc<limits::RateLimiter>>) -> Router {
    let auth = auth::AuthState::new(state.driver.clone(), state.admin_token.clone());
    Router::new()
        .merge(dashboard::routes())
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/folders/{*path}", post(folders::create_folder))
        .route("/list", get(folders::list_root))
        .route("/list/{*path}", get(folders::list))
        .route("/move", post(folders::move_entry))
        .route("/files", get(files::files).delete(folders::delete_root))
        .route(
            "/files/{*path}",
            get(read::get_file).put(write::put_file).delete(folders::delete_file),
        )
        .route("/chunks/missing", post(manifest::missing))
        .route("/commit/{*path}", post(manifest::commit))
        .route("/stat/{*path}", get(read::stat))
        .route("/history/{*path}", get(versions::history))
        .route("/checkpoints/{*path}", post(versions::checkpoint))
        .route("/revert/{*path}", post(versions::revert))
        .route("/settings/retention", get(versions::get_retention).put(versions::put_retention))
        .route("/nodes", get(cluster::nodes))
        .route("/nodes/{id}", post(cluster::add).delete(cluster::remove))
        .route("/nodes/{id}/recover", post(cluster::recover))
        .route("/nodes/{id}/drain", post(cluster::drain))
        .route("/replication-queue", get(cluster::replication_queue))
        .route("/events", get(events::events))
        .route("/metrics", get(metrics::metrics))
        .route("/explain/file/{*path}", get(explain::file))
        .route("/explain/node/{id}", get(explain::node))
        .route("/internal/replicate/{hash}", post(internal::replicate))
        .route("/fsck", get(fsck::fsck))
        .route("/internal/verify", post(fsck::verify))
        .route("/internal/join", post(join::join))
        .route("/users", get(users::list).post(users::add))
        .route("/users/{name}", axum::routing::delete(users::remove))
        .route("/whoami", get(users::whoami))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", axum::routing::delete(keys::remove))
        .route("/acl/{*path}", get(acl::show).post(acl::set).delete(acl::revoke))
        .route("/acl", get(acl::show_root).post(acl::set_root).delete(acl::revoke_root))
        .route(
            "/internal/chunks/{hash}",
            get(internal::get_chunk)
                .put(internal::put_chunk)
                .layer(DefaultBodyLimit::max(crate::store::chunks::CHUNK_BYTES_MAX + 1)),
        )
        .method_not_allowed_fallback(extract::method_not_allowed)
        .fallback(extract::unknown_route)
        .layer(axum::middleware::from_fn_with_state(state.clone(), refuse_if_removed))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
        .layer(axum::middleware::from_fn(auth::require))
        .layer(axum::middleware::from_fn_with_state(limiter, limits::rate_limit))
        .layer(axum::middleware::from_fn_with_state(auth, auth::authenticate))
        .layer(axum::middleware::from_fn(extract::json_errors))
}

/// Middleware: a node removed from the cluster answers client writes `503 removed` before reading
/// their bodies (core refuses their commands too, and linearizable reads); peers' `/internal`
/// requests still pass, so the others can copy its chunks off.
async fn refuse_if_removed(
    State(state): State<ApiState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse;
    let reads = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if reads || request.uri().path().starts_with("/internal/") {
        return next.run(request).await;
    }
    match state.driver.query(|node| node.is_removed().then(|| node.config().id)).await {
        Ok(Some(me)) => ApiError::from(CommandError::Removed { node: me }).into_response(),
        Ok(None) => next.run(request).await,
        Err(_) => ApiError::stopping().into_response(),
    }
}

/// The path in a URL (`a/b` after the route prefix) as a namespace path.
pub fn parse_path(raw: &str) -> Result<Path, ApiError> {
    Path::parse(&format!("/{raw}")).map_err(|e| ApiError::from(CommandError::InvalidPath(e)))
}

/// Encodes a namespace path for a URL (each segment percent-encoded, `/` kept, no leading `/`).
/// It takes a parsed [`Path`], so no segment is `.` or `..`: HTTP clients collapse those (and
/// their `%2E` spellings) before sending, which would aim the request at another route.
pub fn url_path(path: &Path) -> String {
    let trimmed = path.as_str().trim_start_matches('/');
    trimmed.split('/').map(encode_segment).collect::<Vec<_>>().join("/")
}

/// Encodes one URL segment (a user name, say), refusing what a URL cannot carry as a plain
/// name: empty, `.` and `..` (clients collapse them before sending).
pub fn url_segment(segment: &str) -> Result<String, PathError> {
    match segment {
        "" => Err(PathError::EmptySegment),
        "." | ".." => Err(PathError::DotSegment),
        _ => Ok(encode_segment(segment)),
    }
}

fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect::<String>()
}

/// Fuzz body (`fuzz/`, target `http_path`): a URL path tail is accepted by [`parse_path`]
/// exactly when core accepts it with a leading `/`, as that same text, and every refusal is a
/// `400 invalid_path`.
pub fn fuzz_http_path(bytes: &[u8]) {
    let Ok(raw) = std::str::from_utf8(bytes) else { return };
    let core = Path::parse(&format!("/{raw}"));
    match parse_path(raw) {
        Ok(path) => {
            assert_eq!(path.as_str().strip_prefix('/'), Some(raw), "kept as given");
            assert_eq!(core.as_ref(), Ok(&path), "the same rule as core");
        }
        Err(error) => {
            assert!(core.is_err(), "refused what core accepts: {raw:?}");
            assert_eq!(
                (error.status, error.code.as_ref()),
                (StatusCode::BAD_REQUEST, "invalid_path")
            );
        }
    }
}

/// Wall-clock milliseconds, stamped into commands by the node that receives them.
pub use crate::wall::now_millis;

pub(crate) async fn submit(state: &ApiState, command: Command) -> Result<Reply, ApiError> {
    let outcome = state.driver.submit(command).await.map_err(|_| ApiError::stopping())?;
    outcome.map_err(ApiError::from)
}

/// How fresh a read must be (the query of every read route): linearizable by default.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
pub struct Freshness {
    /// Serve from this node's replica as it is, without asking the leader: faster, and
    /// possibly behind the latest acknowledged write (docs/consistency.md "Stale reads").
    #[serde(default)]
    pub stale: bool,
    /// Accepted for compatibility: reads are linearizable by default.
    #[serde(default)]
    pub consistent: bool,
}

/// Before a read: unless `freshness.stale`, waits until this node's replica reflects every write
/// acknowledged before the call began, on any node (a raft ReadIndex round shared with every read
/// waiting on the node, docs/consistency.md). A node that cannot confirm with a leader answers an
/// error (`no_leader`, `read_timeout`, `halted`), never its possibly stale replica. The planted
/// [`StaleRead`](crate::planted::Bug::StaleRead) bug skips the wait.
pub(crate) async fn linearize(state: &ApiState, freshness: Freshness) -> Result<(), ApiError> {
    if freshness.stale || crate::planted::active(crate::planted::Bug::StaleRead) {
        return Ok(());
    }
    match state.driver.read().await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.into()),
        Err(_) => Err(ApiError::stopping()),
    }
}

/// `GET /health`: liveness, readiness (with the reason when not ready) and this node's raft view.
async fn health(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let view = state
        .driver
        .query(|node| {
            let s = node.status();
            let not_ready = node.not_ready();
            json!({
                "status": if s.leader.is_some() { "ok" } else { "no_leader" },
                "live": true,
                "ready": not_ready.is_none(),
                "reason": not_ready,
                "node": s.id.0,
                "role": s.role.as_str(),
                "term": s.term.0,
                "leader": s.leader.map(|l| l.0),
                "commit_index": s.commit.0,
                "applied_index": s.applied.0,
                "voters": s.voters.iter().map(|v| v.0).collect::<Vec<_>>(),
                "learners": s.learners.iter().map(|v| v.0).collect::<Vec<_>>(),
                "files": s.namespace.file_count(),
                "version": env!("CARGO_PKG_VERSION"),
                "time_ms": crate::wall::now_millis().0,
            })
        })
        .await
        .map_err(|_| ApiError::stopping())?;
    Ok(Json(view))
}

/// `GET /health/live`: 200 while the node's core answers (503 once it is stopping).
async fn live(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let id =
        state.driver.query(|node| node.status().id.0).await.map_err(|_| ApiError::stopping())?;
    Ok(Json(json!({ "live": true, "node": id })))
}

/// `GET /health/ready`: 200 when this node can serve reads and writes, else 503 with the reason
/// (`halted` once it stopped applying at an entry it cannot decode, `removed` once it was removed
/// from the cluster, else `not_ready`).
async fn ready(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let (id, removed, halted, not_ready) = state
        .driver
        .query(|node| {
            let status = node.status();
            (status.id.0, node.is_removed(), status.halted.is_some(), node.not_ready())
        })
        .await
        .map_err(|_| ApiError::stopping())?;
    let code = match (halted, removed) {
        (true, _) => "halted",
        (false, true) => "removed",
        (false, false) => "not_ready",
    };
    match not_ready {
        None => Ok(Json(json!({ "ready": true, "node": id }))),
        Some(reason) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, reason)),
    }
}
#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_path_fuzz_body_holds_on_edge_cases_and_seeded_input() {
        for raw in ["", "a", "a/b", "a/../b", "a//b", "a/", "..", "a\0b", "é/ü"] {
            super::fuzz_http_path(raw.as_bytes());
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let alphabet = b"/.b%\0";
        for _ in 0..20_000 {
            let len = rng.gen_range(0..16);
            let bytes: Vec<u8> =
                (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
            super::fuzz_http_path(&bytes);
        }
    }
}
