//! The idempotency replayer (issue 22): one client that puts with a fresh `Idempotency-Key`
//! and then replays that key the ways a careless or hostile client would: with another body on
//! the same path, on another path, under another user's token, and as an identical retry. Its
//! files live in [`ROOT`], which no other client touches; the checker
//! ([`crate::check::replay`]) fails the seed if a replay is answered with another request's
//! result. It draws from its own stream of the seed.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use axum::http::Method;
use bytes::Bytes;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::user::{self, As};
use super::CALL_TIMEOUT;
use crate::client::{self, ADMIN_TOKEN};
use crate::history::{History, KeyedOp, KeyedReturn};
use crate::trace::Trace;

/// The folder the replayer writes in.
pub const ROOT: &str = "/sim/i";
/// The files it writes.
pub const PATHS: [&str; 2] = ["/sim/i/p0", "/sim/i/p1"];
/// The second user (its name gets a number if an earlier attempt's answer was lost).
const USER: &str = "replayer";
/// Largest body it writes.
const BODY_BYTES_MAX: usize = 4096;

/// The replayer's run until simulated time `until`.
pub async fn client(
    seed: u64,
    nodes: Vec<SocketAddr>,
    until: Duration,
    history: Rc<RefCell<History>>,
    trace: Trace,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6964_656d_706f_7465);
    let admin = As { user: "admin".to_owned(), token: ADMIN_TOKEN.to_owned() };
    let Some(other) = user::setup(&mut rng, &nodes, until, USER, ROOT, "replay", &trace).await
    else {
        trace.line("replay: setup did not finish before the faults ended");
        return;
    };
    let mut round = 0u64;
    while crate::now() < until {
        round += 1;
        let key = format!("replay-{round}");
        let at = rng.gen_range(0..PATHS.len());
        let (path, elsewhere) = (PATHS[at], PATHS[(at + 1) % PATHS.len()]);
        let body = user::random_body(&mut rng, BODY_BYTES_MAX);
        let mut other_body = body.clone();
        while other_body == body {
            other_body = user::random_body(&mut rng, BODY_BYTES_MAX);
        }
        let mut sends = vec![
            (admin.clone(), path, other_body),
            (admin.clone(), elsewhere, body.clone()),
            (other.clone(), path, body.clone()),
            (admin.clone(), path, body.clone()),
        ];
        sends.shuffle(&mut rng);
        sends.insert(0, (admin.clone(), path, body));
        for (who, path, body) in sends {
            if crate::now() >= until {
                break;
            }
            let node = nodes[rng.gen_range(0..nodes.len())];
            let op = put(node, &who, path, &key, body).await;
            trace.line(format!(
                "replay {} {} {} -> {}",
                op.user,
                op.path,
                op.key,
                ret_text(&op.ret)
            ));
            history.borrow_mut().keyed.push(op);
            tokio::time::sleep(Duration::from_millis(rng.gen_range(5..100))).await;
        }
    }
}

/// One keyed put of `body` to `path` by `who` through `node`.
async fn put(node: SocketAddr, who: &As, path: &str, key: &str, body: Bytes) -> KeyedOp {
    let hash = blake3::hash(&body).to_hex().to_string();
    let headers = [("idempotency-key", key.to_owned())];
    let url = format!("/files{path}");
    let answer =
        client::call_as(&who.token, node, Method::PUT, &url, &headers, body, CALL_TIMEOUT).await;
    let ret = match answer {
        Ok(answer) if answer.status == 201 => {
            let json = answer.json();
            match (json["path"].as_str(), json["version"].as_u64(), json["hash"].as_str()) {
                (Some(path), Some(version), Some(hash)) => {
                    KeyedReturn::Written { path: path.to_owned(), version, hash: hash.to_owned() }
                }
                _ => KeyedReturn::Unknown,
            }
        }
        Ok(answer)
            if answer.status == 422
                && answer.json()["error"]["code"] == "idempotency_key_reused" =>
        {
            KeyedReturn::Reused
        }
        // Anything else (no leader, timeout, cut off) may still have acted.
        _ => KeyedReturn::Unknown,
    };
    KeyedOp { user: who.user.clone(), path: path.to_owned(), key: key.to_owned(), hash, ret }
}

/// A short text of a keyed put's return for the trace.
fn ret_text(ret: &KeyedReturn) -> String {
    match ret {
        KeyedReturn::Written { path, version, hash } => {
            format!("{path} v{version}:{}", hash.get(..8).unwrap_or(hash))
        }
        KeyedReturn::Reused => "idempotency_key_reused".to_owned(),
        KeyedReturn::Unknown => "unknown".to_owned(),
    }
}
