//! The HTTP client behind every `dfs` client command (DESIGN §2 "failover"): it is given every
//! node's address and moves to the next one when a node cannot be reached or has no leader yet,
//! replaying the request. Errors from the API come back as their message and stable code.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

/// How long a command keeps retrying nodes that are down or leaderless.
pub const RETRY_FOR: Duration = Duration::from_secs(10);
/// Pause after a pass in which every node turned the request away: from the first to the largest,
/// doubling. Short at first, because a leader election takes a few hundred milliseconds and a
/// write should land as soon as it is over (DESIGN §4: writes resume within 0.5 s).
pub const RETRY_PAUSE: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_millis(200));

/// A client for a set of nodes.
pub struct Client {
    nodes: Vec<String>,
    http: reqwest::Client,
}

/// An error the API answered with.
#[derive(Debug, thiserror::Error)]
#[error("{message} ({code})")]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// Stable code, e.g. `not_found`.
    pub code: String,
    /// What the node said.
    pub message: String,
    /// The file's current version, when a conditional write found another one
    /// (`version_conflict`); `None` when nothing live is there or the error is another.
    pub current_version: Option<u64>,
}

impl Client {
    /// A client for these base URLs (`http://host:port` or `https://...`), tried in order.
    /// With `ca_cert` (a PEM file), HTTPS trusts exactly those certificates (a cluster CA or a
    /// self-signed node certificate); without it, the system's roots.
    /// Every request carries `token` (if any) as its bearer token.
    pub fn new(
        nodes: Vec<String>,
        ca_cert: Option<&Path>,
        token: Option<&str>,
    ) -> anyhow::Result<Self> {
        if nodes.is_empty() {
            bail!("no node given: use --node URL (repeatable) or DFS_NODES=url,url");
        }
        let mut builder = dfs_runtime::tls::client_builder()
            .connect_timeout(Duration::from_secs(2))
            .default_headers(bearer(token)?);
        if let Some(ca) = ca_cert {
            builder = builder.tls_certs_only(dfs_runtime::tls::load_roots(ca)?);
        }
        let http = builder.build().context("building the HTTP client")?;
        let nodes = nodes
            .into_iter()
            .map(|n| if n.contains("://") { n } else { format!("http://{n}") })
            .collect();
        Ok(Self { nodes, http })
    }

    /// The same client (same trust) for one of the nodes only.
    pub fn for_node(&self, node: &str) -> Self {
        Self { nodes: vec![node.to_owned()], http: self.http.clone() }
    }

    /// The nodes, in the order tried.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The underlying HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends the request `build` makes for a node's base URL, failing over between nodes.
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let order: Vec<&str> = self.nodes.iter().map(String::as_str).collect();
        self.send_in_order(&order, build).await
    }

    /// Like [`Client::send`], but tries the node that served `served` last (it just failed us).
    pub async fn send_avoiding(
        &self,
        served: &reqwest::Url,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let origin = served.origin().ascii_serialization();
        let (last, first): (Vec<&str>, Vec<&str>) =
            self.nodes.iter().map(String::as_str).partition(|n| n.trim_end_matches('/') == origin);
        let order: Vec<&str> = first.into_iter().chain(last).collect();
        self.send_in_order(&order, build).await
    }

    async fn send_in_order(
        &self,
        order: &[&str],
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let deadline = tokio::time::Instant::now() + RETRY_FOR;
        let mut last = anyhow!("no node answered");
        let mut pause = RETRY_PAUSE.0;
        loop {
            // A node that answered says why (e.g. `no_leader`): that beats "unreachable".
            let mut refused = None;
            for &node in order {
                match build(&self.http, node).send().await {
                    Ok(response) if is_retryable(response.status().as_u16()) => {
                        refused = Some(failure(response).await);
                    }
                    Ok(response) => return Ok(response),
                    Err(error) => last = anyhow!(error).context(format!("{node} unreachable")),
                }
            }
            if let Some(failure) = refused {
                last = failure.into();
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(last);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_PAUSE.1);
        }
    }

    /// GET `path` and parse the JSON answer.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.send(|http, node| http.get(format!("{node}{path}"))).await?;
        json_or_error(response).await
    }
}

/// Headers that send `token` as the bearer token (none for `None`).
pub fn bearer(token: Option<&str>) -> anyhow::Result<reqwest::header::HeaderMap> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token must be visible ASCII (NAME.SECRET)")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    Ok(headers)
}

/// A fresh idempotency key for one logical write: `prefix-` and 128 random bits from the OS, so
/// no two invocations share a key (a pid repeats in containers, contents and paths repeat on
/// purpose). Reuse it only for that write's own retries and failover.
pub fn fresh_idempotency_key(prefix: &str) -> anyhow::Result<String> {
    use rand::RngCore;
    let mut bits = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bits)
        .context("drawing a random idempotency key from the OS")?;
    Ok(format!("{prefix}-{:032x}", u128::from_le_bytes(bits)))
}

/// 503: no leader yet, or the node is stopping; 504: the outcome is unknown (e.g. the leader
/// died with the request in flight). Puts carry an idempotency key, so replaying them is safe.
fn is_retryable(status: u16) -> bool {
    status == 503 || status == 504
}

/// The JSON body of a success, or the API error it carries.
pub async fn json_or_error(response: reqwest::Response) -> anyhow::Result<Value> {
    if response.status().is_success() {
        return response.json().await.context("reading the answer");
    }
    Err(failure(response).await.into())
}

/// The API error an unsuccessful response carries.
pub async fn failure(response: reqwest::Response) -> ApiFailure {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let field = |name: &str| body["error"][name].as_str().map(str::to_owned);
    ApiFailure {
        status,
        code: field("code").unwrap_or_else(|| "http_error".into()),
        message: field("message").unwrap_or_else(|| format!("HTTP {status}")),
        current_version: body["error"]["current_version"].as_u64(),
    }
}

/// Whether an error says the path is already gone.
pub fn is_gone(error: &anyhow::Error) -> bool {
    error.downcast_ref::<ApiFailure>().is_some_and(|f| f.code == "not_found")
}

#[cfg(test)]
mod tests {
    use super::fresh_idempotency_key;

    #[test]
    fn every_invocation_draws_its_own_key() {
        let keys: std::collections::BTreeSet<String> = (0..64)
            .map(|_| fresh_idempotency_key("put").expect("the OS gives randomness"))
            .collect();
        assert_eq!(keys.len(), 64, "no key repeats");
        for key in &keys {
            assert!(key.starts_with("put-") && key.len() == 4 + 32, "{key}");
            assert!(key.bytes().all(|b| b.is_ascii_graphic()), "a valid header value: {key}");
        }
    }
}
