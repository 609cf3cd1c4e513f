//! Reads through rot (issue 17 point 7): corruption faults must hit chunks that live files still
//! need, and something must read them before scrub replaces them, or a node that serves rotten
//! bytes goes unseen. This client keeps the fault driver told which chunks the latest versions of
//! the never-deleted paths use ([`Rot::live`]); when the driver rots one of them on a node, it
//! queues that node and path ([`Rot::reads`]) and the client reads the path through that node at
//! once, a default read recorded in the history like any other, so the linearizability checker
//! rejects rotten bytes.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use axum::http::Method;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{call_name, perform, ret_text, CALL_TIMEOUT, KEEP_PATHS};
use crate::client;
use crate::history::{Call, History, Op, Return};
use crate::trace::Trace;

/// The client id its reads carry in the history.
pub const CLIENT: u32 = 90;
/// How often it refreshes the chunks of the live files.
const REFRESH: Duration = Duration::from_millis(500);
/// How often it looks for a read to make.
const POLL: Duration = Duration::from_millis(20);

/// What the rot reader and the fault driver share.
#[derive(Debug, Default)]
pub struct Rot {
    /// Chunk (hex) → a never-deleted path whose latest version (last seen) uses it.
    pub live: BTreeMap<String, String>,
    /// (node index, path) to read through that node, queued when a chunk of the path rotted.
    pub reads: VecDeque<(usize, String)>,
}

/// Shared between the reader and the driver.
pub type Shared = Rc<RefCell<Rot>>;

/// The reader's run until simulated time `until`.
pub async fn client(
    seed: u64,
    nodes: Vec<SocketAddr>,
    until: Duration,
    rot: Shared,
    history: Rc<RefCell<History>>,
    trace: Trace,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x726f_745f_7265_6164);
    let mut refreshed: Option<Duration> = None;
    while crate::now() < until {
        let next = rot.borrow_mut().reads.pop_front();
        if let Some((node, path)) = next {
            let call = Call::Read;
            let invoked = crate::now();
            let ret = perform(nodes[node], &path, &call, Bytes::new()).await;
            let completed = (ret != Return::Unknown).then(crate::now);
            trace.line(format!(
                "rot {} {path} via n{} -> {}",
                call_name(&call),
                node + 1,
                ret_text(&ret)
            ));
            let op = Op { client: CLIENT, path, call, invoked, completed, ret };
            history.borrow_mut().ops.push(op);
            continue;
        }
        if refreshed.is_none_or(|at| crate::now() >= at + REFRESH) {
            refreshed = Some(crate::now());
            let node = nodes[rng.gen_range(0..nodes.len())];
            let live = live_chunks(node).await;
            if !live.is_empty() {
                rot.borrow_mut().live = live;
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The chunks of the latest version of every never-deleted path, as `node` knows them.
async fn live_chunks(node: SocketAddr) -> BTreeMap<String, String> {
    let mut live = BTreeMap::new();
    for i in 0..KEEP_PATHS {
        let path = format!("/sim/k{i}");
        let url = format!("/stat{path}?stale=true");
        let Ok(answer) =
            client::call(node, Method::GET, &url, &[], Bytes::new(), CALL_TIMEOUT).await
        else {
            continue;
        };
        let stat = answer.json();
        let latest = stat["versions"]
            .as_array()
            .and_then(|versions| versions.iter().max_by_key(|v| v["version"].as_u64()));
        let chunks = latest.and_then(|v| v["chunks"].as_array()).cloned().unwrap_or_default();
        for chunk in chunks.iter().filter_map(|c| c["hash"].as_str()) {
            live.insert(chunk.to_owned(), path.clone());
        }
    }
    live
}
