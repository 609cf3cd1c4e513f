//! Folder-tree operations of the workload (DESIGN §2 "single namespace"): folders created, files
//! put, read, moved and deleted, folders moved, listed and deleted with everything under them,
//! all inside [`ROOT`], which the checker ([`crate::check::tree`]) treats as one object.
//!
//! The names are few so the checker stays cheap: first-level names [`TOP`] (folders or files),
//! and inside a first-level folder the names [`INNER`]. Moves keep depth (first level to first
//! level, second to second), so every path ever made is one of these; the only move that
//! changes depth moves a path into itself, which is always refused. Reads and listings are the
//! default ones (linearizable through a raft ReadIndex on whichever node answers; issue 17).

use std::cell::RefCell;
use std::net::SocketAddr;

use axum::http::Method;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::CALL_TIMEOUT;
use crate::client::{self, Answer};
use crate::history::{Child, History, Refusal, TreeCall, TreeOp, TreeReturn};

/// The folder every tree operation stays in (the workload never touches it otherwise).
pub const ROOT: &str = "/sim/t";
/// Names in [`ROOT`].
pub const TOP: [&str; 3] = ["a", "b", "x"];
/// Names in a first-level folder.
pub const INNER: [&str; 2] = ["x", "y"];
/// Percent of a client's operations that go to the tree.
pub const SHARE_PERCENT: u32 = 25;
/// Largest file the tree operations write (small: the tree is about the namespace).
const FILE_BYTES_MAX: usize = 2048;

/// Every folder that can hold something: [`ROOT`] and each first-level name (the probe lists
/// each at the end, which shows the whole tree).
pub fn folders() -> Vec<String> {
    std::iter::once(ROOT.to_owned()).chain(TOP.iter().map(|name| top(name))).collect()
}

fn top(name: &str) -> String {
    format!("{ROOT}/{name}")
}

/// A random first-level path.
fn any_top(rng: &mut ChaCha8Rng) -> String {
    top(TOP[rng.gen_range(0..TOP.len())])
}

/// A random second-level path.
fn any_inner(rng: &mut ChaCha8Rng) -> String {
    format!("{}/{}", any_top(rng), INNER[rng.gen_range(0..INNER.len())])
}

/// A random path of either level.
fn any_path(rng: &mut ChaCha8Rng) -> String {
    if rng.gen_bool(0.5) {
        any_top(rng)
    } else {
        any_inner(rng)
    }
}

/// Two different paths drawn by `draw` (at most a few tries; the same path twice is a move into
/// itself, which the API refuses, so a rare repeat is still a valid operation).
fn two(rng: &mut ChaCha8Rng, draw: fn(&mut ChaCha8Rng) -> String) -> (String, String) {
    let from = draw(rng);
    let to = (0..4).map(|_| draw(rng)).find(|to| *to != from).unwrap_or_else(|| draw(rng));
    (from, to)
}

/// The next tree operation (a put's hash and size are filled in by the caller, see
/// [`with_content`]).
pub fn pick(rng: &mut ChaCha8Rng) -> TreeCall {
    match rng.gen_range(0..100) {
        0..=14 => {
            let path = if rng.gen_range(0..4) == 0 { any_inner(rng) } else { any_top(rng) };
            TreeCall::CreateFolder { path }
        }
        15..=39 => {
            let path = if rng.gen_range(0..4) == 0 { any_top(rng) } else { any_inner(rng) };
            TreeCall::Put { path, hash: String::new(), size: 0 }
        }
        40..=49 => TreeCall::Read { path: any_path(rng) },
        50..=69 => {
            let path = if rng.gen_range(0..5) < 2 { ROOT.to_owned() } else { any_top(rng) };
            TreeCall::List { path }
        }
        70..=84 => {
            let (from, to) = match rng.gen_range(0..10) {
                0..=5 => two(rng, any_top),
                6..=8 => two(rng, any_inner),
                _ => {
                    let from = any_top(rng);
                    let to = format!("{from}/{}", INNER[rng.gen_range(0..INNER.len())]);
                    (from, to)
                }
            };
            TreeCall::Move { from, to }
        }
        85..=91 => {
            let path = if rng.gen_range(0..7) == 0 { ROOT.to_owned() } else { any_top(rng) };
            TreeCall::DeleteRecursive { path }
        }
        _ => TreeCall::Delete { path: any_path(rng) },
    }
}

/// The content of tree write `seq` of `client` (small; a different stream from the path writes).
pub fn content(seed: u64, client: u32, seq: u64) -> Bytes {
    let stream = seed ^ 0x7472_6565_0000_0000 ^ (u64::from(client) << 40) ^ seq;
    let mut rng = ChaCha8Rng::seed_from_u64(stream);
    let mut bytes = vec![0u8; rng.gen_range(1..=FILE_BYTES_MAX)];
    rng.fill(&mut bytes[..]);
    Bytes::from(bytes)
}

/// `call` with a put's hash and size taken from `body`.
pub fn with_content(call: TreeCall, body: &Bytes) -> TreeCall {
    match call {
        TreeCall::Put { path, .. } => {
            TreeCall::Put { path, hash: blake3::hash(body).to_hex().to_string(), size: body.len() }
        }
        other => other,
    }
}

/// Runs one tree operation of `client` through `node` (`body`: a put's content) and records it
/// in `history`; what it did, as a line for the trace.
pub async fn perform_and_record(
    client: u32,
    node: SocketAddr,
    call: TreeCall,
    body: Bytes,
    history: &RefCell<History>,
) -> String {
    let call = with_content(call, &body);
    let invoked = crate::now();
    let ret = perform(node, &call, body).await;
    let completed = (ret != TreeReturn::Unknown).then(crate::now);
    let text = format!("{} -> {}", call_text(&call), ret_text(&ret));
    history.borrow_mut().tree.push(TreeOp { client, call, invoked, completed, ret });
    text
}

/// Sends `call` to `node` and interprets the answer.
pub async fn perform(node: SocketAddr, call: &TreeCall, body: Bytes) -> TreeReturn {
    let (method, url) = match call {
        TreeCall::CreateFolder { path } => (Method::POST, format!("/folders{path}")),
        TreeCall::Put { path, .. } => (Method::PUT, format!("/files{path}")),
        TreeCall::Read { path } => (Method::GET, format!("/files{path}")),
        TreeCall::List { path } => (Method::GET, format!("/list{path}")),
        // The workload's paths are plain lowercase names: nothing to escape in a query.
        TreeCall::Move { from, to } => (Method::POST, format!("/move?from={from}&to={to}")),
        TreeCall::DeleteRecursive { path } => {
            (Method::DELETE, format!("/files{path}?recursive=true"))
        }
        TreeCall::Delete { path } => (Method::DELETE, format!("/files{path}")),
    };
    let Ok(answer) = client::call(node, method, &url, &[], body, CALL_TIMEOUT).await else {
        return TreeReturn::Unknown;
    };
    match answer.status {
        200 | 201 | 204 => match call {
            TreeCall::Read { .. } => file(&answer),
            TreeCall::List { path } => listing(path, &answer),
            _ => TreeReturn::Done,
        },
        404 | 409 => answer.json()["error"]["code"]
            .as_str()
            .and_then(Refusal::from_code)
            .map_or(TreeReturn::Unknown, TreeReturn::Refused),
        // Reads that failed say nothing; writes that failed may still commit.
        _ => TreeReturn::Unknown,
    }
}

/// A read's answer: the content's hash, or a hash no write made if the bytes are not what the
/// node says the version holds.
fn file(answer: &Answer) -> TreeReturn {
    let hash = blake3::hash(&answer.body).to_hex().to_string();
    match answer.header("x-dfs-blake3") {
        Some(said) if said == hash => TreeReturn::File(hash),
        Some(_) => TreeReturn::File(format!("corrupt:{hash}")),
        None => TreeReturn::Unknown,
    }
}

/// A listing's answer: each child's name and kind, in name order. An answer that cannot be
/// read, or that has more pages, says nothing (`Unknown`).
fn listing(folder: &str, answer: &Answer) -> TreeReturn {
    let body = answer.json();
    let (Some(entries), true) = (body["entries"].as_array(), body["next"].is_null()) else {
        return TreeReturn::Unknown;
    };
    let prefix = format!("{folder}/");
    let mut children = Vec::with_capacity(entries.len());
    for entry in entries {
        let Some(name) = entry["path"].as_str().and_then(|p| p.strip_prefix(&prefix)) else {
            return TreeReturn::Unknown;
        };
        let child = match (entry["kind"].as_str(), entry["hash"].as_str()) {
            (Some("folder"), _) => Child::Folder,
            (Some("file"), Some(hash)) => Child::File(hash.to_owned()),
            _ => return TreeReturn::Unknown,
        };
        children.push((name.to_owned(), child));
    }
    children.sort();
    TreeReturn::Listing(children)
}

/// A short text of a tree call for the trace.
pub fn call_text(call: &TreeCall) -> String {
    match call {
        TreeCall::CreateFolder { path } => format!("mkdir {path}"),
        TreeCall::Put { path, size, .. } => format!("put({size}) {path}"),
        TreeCall::Read { path } => format!("read {path}"),
        TreeCall::List { path } => format!("list {path}"),
        TreeCall::Move { from, to } => format!("mv {from} {to}"),
        TreeCall::DeleteRecursive { path } => format!("rm -r {path}"),
        TreeCall::Delete { path } => format!("rm {path}"),
    }
}

/// A short text of a tree return for the trace.
pub fn ret_text(ret: &TreeReturn) -> String {
    let short = |hash: &str| hash.get(..8).unwrap_or(hash).to_owned();
    match ret {
        TreeReturn::Done => "done".to_owned(),
        TreeReturn::Refused(refusal) => refusal.code().to_owned(),
        TreeReturn::File(hash) => short(hash),
        TreeReturn::Listing(children) => {
            let names: Vec<String> = children
                .iter()
                .map(|(name, child)| match child {
                    Child::Folder => format!("{name}/"),
                    Child::File(hash) => format!("{name}:{}", short(hash)),
                })
                .collect();
            format!("[{}]", names.join(" "))
        }
        TreeReturn::Unknown => "unknown".to_owned(),
    }
}
