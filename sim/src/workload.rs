//! Workload clients (DESIGN §1 sim): each runs on its own simulated host and drives the HTTP API
//! of random nodes with puts, conditional puts, deletes and default (linearizable) reads on a small shared
//! set of paths, recording every invocation and completion in the [`History`](crate::history).
//!
//! Paths `/sim/k*` are written and read but never deleted, so every version acknowledged on them
//! must read back byte-exact at the end (durability). Paths `/sim/d*` also see deletes and
//! conditional writes. Contents are drawn from the seed; sizes mostly small, sometimes several
//! chunks. About a quarter of the operations work on a small folder tree instead ([`tree`]:
//! folders, moves, listings, recursive deletes), drawn from their own stream of the seed, so the
//! path operations stay the sequence they were. One more client, the [`replay`]er, replays
//! idempotency keys across paths, users and bodies in a folder of its own; the [`rot`] reader
//! reads live files through nodes whose copies of them the fault driver has just rotted.

pub mod replay;
pub mod rot;
pub mod s3;
pub mod thief;
pub mod tree;
pub mod user;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use axum::http::Method;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::client;
use crate::history::{Call, History, Op, Return, TreeCall, Version};
use crate::trace::Trace;

/// Paths never deleted (durability is checked on every version written to them).
pub const KEEP_PATHS: usize = 3;
/// Paths also deleted and written conditionally.
pub const CHURN_PATHS: usize = 2;
/// Longest a client waits for one answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Every path of single-path operations: the native clients' and the S3 client's.
pub fn all_paths() -> Vec<String> {
    paths().into_iter().chain(s3::paths()).collect()
}

/// Every path the native clients touch.
pub fn paths() -> Vec<String> {
    let keep = (0..KEEP_PATHS).map(|i| format!("/sim/k{i}"));
    keep.chain((0..CHURN_PATHS).map(|i| format!("/sim/d{i}"))).collect()
}

/// The content of write `seq` of `client`: size and bytes drawn from both.
pub fn content(seed: u64, client: u32, seq: u64) -> Bytes {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (u64::from(client) << 48) ^ seq);
    let size = match rng.gen_range(0..100) {
        0..=69 => rng.gen_range(1..4 * 1024),
        70..=96 => rng.gen_range(4 * 1024..160 * 1024),
        _ => rng.gen_range(1024 * 1024..2 * 1024 * 1024),
    };
    let mut bytes = vec![0u8; size];
    rng.fill(&mut bytes[..]);
    Bytes::from(bytes)
}

/// One client's run: operations until simulated time `until`, then it stops.
pub async fn client(
    seed: u64,
    id: u32,
    nodes: Vec<SocketAddr>,
    until: Duration,
    history: Rc<RefCell<History>>,
    trace: Trace,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(u64::from(id)));
    let mut tree_rng = ChaCha8Rng::seed_from_u64(
        seed.wrapping_mul(37).wrapping_add(u64::from(id)) ^ 0x7472_6565_7472_6565,
    );
    let paths = paths();
    let mut seen: BTreeMap<String, Version> = BTreeMap::new();
    let (mut seq, mut tree_seq) = (0u64, 0u64);
    while crate::now() < until {
        if tree_rng.gen_range(0..100) < tree::SHARE_PERCENT {
            let node = nodes[tree_rng.gen_range(0..nodes.len())];
            let call = tree::pick(&mut tree_rng);
            let body = match call {
                TreeCall::Put { .. } => {
                    tree_seq += 1;
                    tree::content(seed, id, tree_seq)
                }
                _ => Bytes::new(),
            };
            let done = tree::perform_and_record(id, node, call, body, &history).await;
            trace.line(format!("c{id} {done}"));
            let think = Duration::from_millis(tree_rng.gen_range(5..150));
            tokio::time::sleep(think).await;
            continue;
        }
        let node = nodes[rng.gen_range(0..nodes.len())];
        let path = paths[rng.gen_range(0..paths.len())].clone();
        let churn = path.starts_with("/sim/d");
        let roll = rng.gen_range(0..100);
        seq += 1;
        let call = match roll {
            0..=34 => Call::Read,
            35..=69 => Call::Put { hash: String::new(), size: 0 },
            70..=79 if churn => Call::PutIfAbsent { hash: String::new(), size: 0 },
            80..=89 if churn => match seen.get(&path) {
                Some(v) => Call::PutIfVersion { expect: *v, hash: String::new(), size: 0 },
                None => Call::Read,
            },
            90..=99 if churn => Call::Delete,
            _ => Call::Put { hash: String::new(), size: 0 },
        };
        let body = match call {
            Call::Read | Call::Delete => Bytes::new(),
            _ => content(seed, id, seq),
        };
        let call = with_content(call, &body);
        let invoked = crate::now();
        let ret = perform(node, &path, &call, body.clone()).await;
        let completed = (ret != Return::Unknown).then(crate::now);
        if let Return::Written(version) = ret {
            let short = crate::check::quorum::judge(&path, version, &body);
            let mut history = history.borrow_mut();
            history.acks_judged += 1;
            history.short_acks.extend(short);
        }
        match &ret {
            Return::Written(v) | Return::Value(v, _) => {
                seen.insert(path.clone(), *v);
            }
            _ => {}
        }
        trace.line(format!("c{id} {} {path} -> {}", call_name(&call), ret_text(&ret)));
        history.borrow_mut().ops.push(Op { client: id, path, call, invoked, completed, ret });
        let think = Duration::from_millis(rng.gen_range(5..150));
        tokio::time::sleep(think).await;
    }
}

/// `call` with the hash and size of `body` filled in.
fn with_content(call: Call, body: &Bytes) -> Call {
    let (hash, size) = (blake3::hash(body).to_hex().to_string(), body.len());
    match call {
        Call::Put { .. } => Call::Put { hash, size },
        Call::PutIfAbsent { .. } => Call::PutIfAbsent { hash, size },
        Call::PutIfVersion { expect, .. } => Call::PutIfVersion { expect, hash, size },
        other => other,
    }
}

/// A short name of a call for the trace.
pub fn call_name(call: &Call) -> String {
    match call {
        Call::Put { size, .. } => format!("put({size})"),
        Call::PutIfAbsent { size, .. } => format!("put-if-absent({size})"),
        Call::PutIfVersion { expect, size, .. } => format!("put-if-v{expect}({size})"),
        Call::Delete => "delete".to_owned(),
        Call::Remove => "remove".to_owned(),
        Call::Read => "read".to_owned(),
    }
}

/// A short text of a return for the trace.
pub fn ret_text(ret: &Return) -> String {
    match ret {
        Return::Written(v) => format!("v{v}"),
        Return::Deleted => "deleted".to_owned(),
        Return::Value(v, hash) => format!("v{v}:{}", hash.get(..8).unwrap_or(hash)),
        Return::Absent => "absent".to_owned(),
        Return::Conflict => "conflict".to_owned(),
        Return::Unknown => "unknown".to_owned(),
    }
}

/// Sends `call` on `path` to `node` and interprets the answer.
pub async fn perform(node: SocketAddr, path: &str, call: &Call, body: Bytes) -> Return {
    let url = format!("/files{path}");
    let (method, url, headers) = match call {
        // A default read: linearizable on every node without asking (issue 17).
        Call::Read => (Method::GET, url, vec![]),
        Call::Delete | Call::Remove => (Method::DELETE, url, vec![]),
        Call::Put { .. } => (Method::PUT, url, vec![]),
        Call::PutIfAbsent { .. } => (Method::PUT, url, vec![("if-none-match", "*".to_owned())]),
        Call::PutIfVersion { expect, .. } => {
            (Method::PUT, url, vec![("if-match", format!("\"{expect}\""))])
        }
    };
    let Ok(answer) = client::call(node, method, &url, &headers, body, CALL_TIMEOUT).await else {
        return Return::Unknown;
    };
    match (call, answer.status) {
        (Call::Read, 200) => {
            let version = answer.header("x-dfs-version").and_then(|v| v.parse().ok());
            let hash = blake3::hash(&answer.body).to_hex().to_string();
            match version {
                Some(v) if answer.header("x-dfs-blake3") == Some(hash.as_str()) => {
                    Return::Value(v, hash)
                }
                // Served bytes that are not the version's content: recorded as a value no
                // write ever produced, which the checker rejects.
                Some(v) => Return::Value(v, format!("corrupt:{hash}")),
                None => Return::Unknown,
            }
        }
        (Call::Read | Call::Delete, 404) => Return::Absent,
        (Call::Delete, 200 | 204) => Return::Deleted,
        (_, 201 | 200) => match answer.json().get("version").and_then(|v| v.as_u64()) {
            Some(v) => Return::Written(v),
            None => Return::Unknown,
        },
        (Call::PutIfAbsent { .. } | Call::PutIfVersion { .. }, 412 | 409) => Return::Conflict,
        // Reads that failed say nothing; writes that failed may still commit.
        _ => Return::Unknown,
    }
}
