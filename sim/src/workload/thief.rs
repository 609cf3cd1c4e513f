//! The chunk thief (issue 22): a user with write access to [`ROOT`] only, who learns the hash of
//! a chunk of a file it may not read (an admin's secret in [`SECRETS`], written each round) and
//! tries to get its bytes without them: by asking `POST /chunks/missing` whether the cluster
//! holds it, by committing a manifest that names it unsent, and by committing a manifest with a
//! false whole-file hash. An admin then reads the path of the theft back. The checker
//! ([`crate::check::thief`]) fails the seed on any answer that leaks the chunk or commits the
//! theft. It draws from its own stream of the seed.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use axum::http::Method;
use bytes::{BufMut, Bytes, BytesMut};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::user::{self, As};
use super::CALL_TIMEOUT;
use crate::client;
use crate::history::{History, Theft};
use crate::trace::Trace;

/// The thief's own folder: the only place it may write (and read).
pub const ROOT: &str = "/sim/x";
/// The admin's folder of secrets, which the thief has no grant on.
pub const SECRETS: &str = "/sim/s";
/// The thief's user name.
const USER: &str = "thief";
/// Largest body it or the admin writes (one chunk each).
const BODY_BYTES_MAX: usize = 8192;

/// The thief's run until simulated time `until`.
pub async fn client(
    seed: u64,
    nodes: Vec<SocketAddr>,
    until: Duration,
    history: Rc<RefCell<History>>,
    trace: Trace,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7468_6965_665f_6368);
    let Some(thief) = user::setup(&mut rng, &nodes, until, USER, ROOT, "theft", &trace).await
    else {
        trace.line("theft: setup did not finish before the faults ended");
        return;
    };
    let mut round = 0u64;
    while crate::now() < until {
        round += 1;
        let mut node = || nodes[rng.gen_range(0..nodes.len())];
        let (n1, n2, n3, n4, n5) = (node(), node(), node(), node(), node());
        let secret = user::random_body(&mut rng, BODY_BYTES_MAX);
        let url = format!("/files{SECRETS}/s{round}");
        let put = user::admin(n1, Method::PUT, &url, secret.clone()).await;
        let secret_acknowledged = put.is_ok_and(|a| a.status == 201);
        let stolen = blake3::hash(&secret).to_hex().to_string();

        let asked = ask(n2, &thief, &stolen).await;
        let own = user::random_body(&mut rng, BODY_BYTES_MAX);
        let path = format!("{ROOT}/steal{round}");
        let chunks = [(&own, true), (&secret, false)];
        let stole = commit(n3, &thief, &path, &chunks, None).await;
        let read_back =
            user::admin(n4, Method::GET, &format!("/files{path}?consistent=true"), Bytes::new())
                .await
                .ok()
                .map(|a| a.status);
        let mine = user::random_body(&mut rng, BODY_BYTES_MAX);
        let forged_path = format!("{ROOT}/forged{round}");
        let forged = commit(n5, &thief, &forged_path, &[(&mine, true)], Some(&secret)).await;

        let theft = Theft { round, secret_acknowledged, asked, stole, read_back, forged };
        trace.line(format!(
            "theft r{round}: secret {} asked {} stole {} read back {} forged {}",
            if secret_acknowledged { "acked" } else { "unacked" },
            match asked {
                Some((status, listed)) =>
                    format!("{status}{}", if listed { " missing" } else { " held" }),
                None => "-".to_owned(),
            },
            status_text(stole),
            status_text(read_back),
            status_text(forged),
        ));
        history.borrow_mut().thefts.push(theft);
        tokio::time::sleep(Duration::from_millis(rng.gen_range(5..100))).await;
    }
}

/// `POST /chunks/missing` naming `chunk`, as `who`: the status and whether it was listed missing.
async fn ask(node: SocketAddr, who: &As, chunk: &str) -> Option<(u16, bool)> {
    let body = Bytes::from(json!({ "chunks": [chunk] }).to_string());
    let headers = [("content-type", "application/json".to_owned())];
    let url = "/chunks/missing";
    let answer = client::call_as(&who.token, node, Method::POST, url, &headers, body, CALL_TIMEOUT)
        .await
        .ok()?;
    let listed = answer.json()["missing"]
        .as_array()
        .is_some_and(|missing| missing.iter().any(|m| m.as_str() == Some(chunk)));
    Some((answer.status, listed))
}

/// `POST /commit{path}` as `who`, of a file made of `chunks` in order (each sent or only named),
/// under its true whole-file hash or, with `false_hash_of`, the hash of those bytes instead.
async fn commit(
    node: SocketAddr,
    who: &As,
    path: &str,
    chunks: &[(&Bytes, bool)],
    false_hash_of: Option<&Bytes>,
) -> Option<u16> {
    let mut whole = blake3::Hasher::new();
    for (bytes, _) in chunks {
        whole.update(bytes);
    }
    let hash = match false_hash_of {
        Some(other) => blake3::hash(other),
        None => whole.finalize(),
    };
    let listed: Vec<_> = chunks
        .iter()
        .map(|(bytes, sent)| {
            json!({ "hash": blake3::hash(bytes).to_hex().as_str(), "len_bytes": bytes.len(), "sent": sent })
        })
        .collect();
    let size: usize = chunks.iter().map(|(bytes, _)| bytes.len()).sum();
    let manifest = json!({ "size_bytes": size, "hash": hash.to_hex().as_str(), "chunks": listed });
    let mut body = BytesMut::new();
    body.put_slice(manifest.to_string().as_bytes());
    body.put_u8(b'\n');
    for (bytes, sent) in chunks {
        if *sent {
            body.put_slice(bytes);
        }
    }
    let url = format!("/commit{path}");
    client::call_as(&who.token, node, Method::POST, &url, &[], body.freeze(), CALL_TIMEOUT)
        .await
        .ok()
        .map(|a| a.status)
}

/// A status for the trace (`-` without an answer).
fn status_text(status: Option<u16>) -> String {
    status.map_or_else(|| "-".to_owned(), |s| s.to_string())
}
