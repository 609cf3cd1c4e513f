//! `GET /files` (DESIGN §2 "monitoring"): every file in path order, a page at a time, with its
//! versions, sizes, hashes and where each chunk's copies are.

use std::ops::Bound;

use super::extract::Query;
use axum::extract::State;
use axum::Json;
use dfs_core::auth::Need;
use dfs_core::meta::{Entry, EntryKind, Namespace};
use dfs_core::Path;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse_path, ApiError, ApiState};

/// Files listed when the query names no limit.
pub const PAGE_DEFAULT: usize = 100;
/// Most files listed in one page.
pub const PAGE_MAX: usize = 1000;

/// Query of `GET /files`.
#[derive(Debug, Deserialize)]
pub struct FilesQuery {
    /// Only files under this folder (or this exact file).
    prefix: Option<String>,
    /// Continue after this path (the previous page's `next`).
    after: Option<String>,
    /// Most files in this page (default 100, at most 1000).
    limit: Option<usize>,
    /// Also list deleted files (their versions are kept until GC).
    deleted: Option<bool>,
    /// List this node's replica as it is, without confirming with the leader (may be behind).
    #[serde(default)]
    stale: bool,
    /// Accepted for compatibility: listings are linearizable by default.
    #[serde(default)]
    consistent: bool,
}

/// `GET /files[?prefix=/dir][&after=/dir/x][&limit=N][&deleted=true][&stale=true]`: one page of
/// files, linearizable unless `stale=true`.
pub async fn files(
    State(state): State<ApiState>,
    super::auth::Authed(caller): super::auth::Authed,
    Query(query): Query<FilesQuery>,
) -> Result<Json<Value>, ApiError> {
    let prefix = optional_path(query.prefix.as_deref())?;
    let after = optional_path(query.after.as_deref())?;
    let limit = query.limit.unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_MAX);
    let deleted = query.deleted.unwrap_or(false);
    let freshness = super::Freshness { stale: query.stale, consistent: query.consistent };
    super::linearize(&state, freshness).await?;
    let page = state
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let readable = |path: &Path| namespace.level(&caller, path).allows(Need::Read);
            page(namespace, prefix.as_ref(), after.as_ref(), limit, deleted, readable)
        })
        .await
        .map_err(|_| ApiError::stopping())?;
    Ok(Json(page))
}

fn optional_path(raw: Option<&str>) -> Result<Option<Path>, ApiError> {
    match raw.map(|raw| raw.trim_start_matches('/')) {
        None => Ok(None),
        Some("") => Ok(Some(Path::root())),
        Some(raw) => parse_path(raw).map(Some),
    }
}

fn page(
    namespace: &Namespace,
    prefix: Option<&Path>,
    after: Option<&Path>,
    limit: usize,
    deleted: bool,
    readable: impl Fn(&Path) -> bool,
) -> Value {
    let root = Path::root();
    let prefix = prefix.unwrap_or(&root);
    let start = match after {
        Some(after) => Bound::Excluded(after),
        None if prefix.is_root() => Bound::Unbounded,
        None => Bound::Included(prefix),
    };
    let mut files = Vec::new();
    let mut next = None;
    for (path, entry) in namespace.entries_from(start) {
        // Every path that begins with the prefix's text sorts in one run; past it, stop.
        if !path.as_str().starts_with(prefix.as_str()) {
            break;
        }
        // In that run, `/a b` is not under `/a`.
        if !path.starts_with(prefix) {
            continue;
        }
        let EntryKind::File(record) = &entry.kind else { continue };
        if (record.is_deleted() && !deleted) || !readable(path) {
            continue;
        }
        if files.len() == limit {
            next = files.last().and_then(|f: &Value| f["path"].as_str().map(str::to_owned));
            break;
        }
        files.push(describe(namespace, path, entry));
    }
    json!({ "files": files, "next": next })
}

/// One file: owner, state, checkpoints and every kept version with its chunks' copies.
fn describe(namespace: &Namespace, path: &Path, entry: &Entry) -> Value {
    let Some(record) = entry.file() else { return Value::Null };
    let versions: Vec<Value> = record
        .versions
        .iter()
        .map(|v| {
            let chunks: Vec<Value> = v
                .content
                .chunks
                .iter()
                .map(|c| {
                    let replicas: Vec<u64> = namespace
                        .replicas(&c.id)
                        .map(|nodes| nodes.iter().map(|n| n.0).collect())
                        .unwrap_or_default();
                    json!({ "hash": c.id.0.to_hex(), "len_bytes": c.len_bytes, "replicas": replicas })
                })
                .collect();
            json!({
                "version": v.version.0,
                "size_bytes": v.content.size_bytes,
                "hash": v.content.hash.to_hex(),
                "author": v.author.0,
                "created_ms": v.created_at.0,
                "index": v.index.0,
                "chunks": chunks,
            })
        })
        .collect();
    json!({
        "path": path.as_str(),
        "owner": entry.owner.0,
        "deleted": record.is_deleted(),
        "deleted_ms": record.deleted.as_ref().map(|t| t.deleted_at.0),
        "latest_version": record.latest_version().0,
        "checkpoints": record.checkpoints.iter().map(|(name, v)| (name.clone(), json!(v.0))).collect::<serde_json::Map<_, _>>(),
        "versions": versions,
    })
}
