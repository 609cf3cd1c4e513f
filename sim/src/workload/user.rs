//! A second, non-admin user for the clients that act as one (the idempotency replayer and the
//! chunk thief): made through the API, with a write grant on one folder of its own and no other
//! access, so everything else the workload writes is out of its reach.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::Method;
use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::CALL_TIMEOUT;
use crate::client;
use crate::trace::Trace;

/// Pause between two attempts of the setup.
const SETUP_PAUSE: Duration = Duration::from_millis(200);

/// Who sends a request: a name (for the checkers) and a token.
#[derive(Clone)]
pub struct As {
    /// The user's name.
    pub user: String,
    /// Its bearer token.
    pub token: String,
}

/// Makes user `name` (with a number appended if an earlier attempt's answer was lost), folder
/// `root` and the user's write grant on it, retrying through random nodes until each step is
/// answered; the user, or `None` if `until` came first. `label` names the client in the trace.
pub async fn setup(
    rng: &mut ChaCha8Rng,
    nodes: &[SocketAddr],
    until: Duration,
    name: &str,
    root: &str,
    label: &str,
    trace: &Trace,
) -> Option<As> {
    let mut attempt = 0u32;
    let user = loop {
        let name = if attempt == 0 { name.to_owned() } else { format!("{name}{attempt}") };
        let body = Bytes::from(format!("{{\"name\": \"{name}\"}}"));
        let node = nodes[rng.gen_range(0..nodes.len())];
        if let Ok(answer) = admin(node, Method::POST, "/users", body).await {
            match (answer.status, answer.json()["token"].as_str()) {
                (201, Some(token)) => break As { user: name, token: token.to_owned() },
                // An earlier attempt made the user but its answer (the token) was lost.
                (409, _) => attempt += 1,
                _ => {}
            }
        }
        pause(until).await?;
    };
    let steps = [format!("/folders{root}"), format!("/acl{root}?user={}&access=w", user.user)];
    for step in steps {
        loop {
            let node = nodes[rng.gen_range(0..nodes.len())];
            let answered = admin(node, Method::POST, &step, Bytes::new()).await;
            if answered
                .is_ok_and(|a| a.status < 300 || (a.status == 409 && step.contains("folders")))
            {
                break;
            }
            pause(until).await?;
        }
    }
    trace.line(format!("{label}: user {} may write {root}", user.user));
    Some(user)
}

/// Waits [`SETUP_PAUSE`]; `None` once `until` has come.
pub async fn pause(until: Duration) -> Option<()> {
    tokio::time::sleep(SETUP_PAUSE).await;
    (crate::now() < until).then_some(())
}

/// A random body of 1 to `max_bytes` bytes (one chunk for every size these clients use).
pub fn random_body(rng: &mut ChaCha8Rng, max_bytes: usize) -> Bytes {
    let mut bytes = vec![0u8; rng.gen_range(1..=max_bytes)];
    rng.fill(&mut bytes[..]);
    Bytes::from(bytes)
}

/// One request as the cluster's admin.
pub async fn admin(
    node: SocketAddr,
    method: Method,
    url: &str,
    body: Bytes,
) -> Result<client::Answer, String> {
    client::call(node, method, url, &[], body, CALL_TIMEOUT).await
}
