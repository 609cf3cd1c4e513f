//! Hardening (issue 8, points 1 and 2) on real processes: HTTPS on the client API with chunk
//! transfer between nodes over TLS, and each client limit (slow headers, stalled bodies,
//! connections per address, request rate, path length and depth) answered with a clear error
//! while the node keeps serving everyone else. (Peer frame size and peer handshakes per address
//! are tested on the transport itself, `runtime/src/transport/tests.rs`; body size in
//! `bad_input.rs`.)

use std::net::SocketAddr;
use std::time::Duration;

use dfs_runtime::config::LimitsConfig;
use dfs_tests::{random_bytes, raw_http, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Connects to `to` from the loopback address `from` (so a test can be two different clients).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::from((from, 0))).expect("bind a loopback address");
    socket.connect(to).await.expect("connect")
}

/// Whether the server closes `stream` within `limit` (reads until end of stream, discarding).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut sink = [0u8; 1024];
    let drained = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    drained.await.is_ok()
}

async fn health_status(cluster: &TestCluster) -> u16 {
    let url = format!("{}/health", cluster.node(1).url());
    cluster.http.get(url).send().await.map_or(0, |r| r.status().as_u16())
}

#[tokio::test]
async fn https_carries_client_and_node_to_node_traffic_and_plain_http_gets_a_clear_error() {
    let cluster = TestCluster::start(ClusterSpec { tls: true, ..ClusterSpec::new(3) }).await;
    let url = cluster.node(1).url();
    assert!(url.starts_with("https://"), "{url}");
    // A put stores every chunk on all three nodes: node-to-node transfer runs over HTTPS too.
    let bytes = random_bytes(3 * 1024 * 1024 + 5, 8);
    let put = cluster.http.put(format!("{url}/files/tls/a.bin")).body(bytes.clone());
    let answer: Value = put.send().await.expect("put").json().await.expect("json");
    let replicas = answer["replicas"].as_object().cloned().unwrap_or_default();
    assert_eq!(replicas.len(), 3, "{answer}");
    assert!(replicas.values().all(|r| r == "stored"), "{answer}");
    for id in 1..=3 {
        let get = cluster.http.get(format!("{}/files/tls/a.bin", cluster.node(id).url()));
        let body = get.send().await.expect("get").bytes().await.expect("body");
        assert!(body == bytes, "n{id} serves the file byte-exact over https");
    }
    // The CLI trusts the cluster's certificate through DFS_CA_CERT.
    let (ok, out, err) = cluster.cli(&["ls", "/tls"]);
    assert!(ok && out.contains("a.bin"), "{out}{err}");
    // Plain HTTP on the TLS port: a clear error in plain HTTP, then the node serves https.
    let addr = cluster.node(1).config.http_listen;
    let (status, body) =
        raw_http(addr, "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("https_required"), "{body}");
    // A client that trusts nothing cannot be fooled into plain text or an unknown certificate.
    let untrusting = dfs_runtime::tls::client_builder().build().expect("client");
    assert!(untrusting.get(format!("{url}/health")).send().await.is_err());
    assert_eq!(health_status(&cluster).await, 200, "the node still serves https clients");
}

fn limits(edit: impl FnOnce(&mut LimitsConfig)) -> LimitsConfig {
    let mut limits = LimitsConfig::default();
    edit(&mut limits);
    limits
}

#[tokio::test]
async fn slow_headers_and_stalled_bodies_are_cut_off_while_others_are_served() {
    let limits = limits(|l| {
        l.header_read_timeout_ms = 1_000;
        l.body_read_timeout_ms = 1_000;
    });
    let cluster = TestCluster::start(ClusterSpec { limits, ..ClusterSpec::new(1) }).await;
    let addr = cluster.node(1).config.http_listen;
    // Slow loris: one header byte every 100 ms, for ever.
    let mut loris = connect_from([127, 0, 0, 1], addr).await;
    let started = tokio::time::Instant::now();
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    let head =
        b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a'));
    let mut others_served = 0;
    for byte in head.take(200) {
        pace.tick().await;
        if loris.write_all(&[*byte]).await.is_err() {
            break;
        }
        if others_served < 3 && health_status(&cluster).await == 200 {
            others_served += 1;
        }
    }
    assert!(closed_within(&mut loris, Duration::from_secs(1)).await, "slow headers cut off");
    let held = started.elapsed();
    assert!(held < Duration::from_secs(4), "cut off {held:?} after connecting, limit 1 s");
    assert_eq!(others_served, 3, "other clients were served meanwhile");
    // A body that stops moving: 408 body_timeout.
    let mut stalled = connect_from([127, 0, 0, 1], addr).await;
    let head = format!(
        "PUT /files/stalled HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 100\r\n\r\n0123456789",
        dfs_tests::admin_token()
    );
    stalled.write_all(head.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stalled.read_to_end(&mut answer));
    assert!(read.await.is_ok(), "the stalled request is answered");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert_eq!(health_status(&cluster).await, 200);
    let listed = cluster.http.get(format!("{}/list", cluster.node(1).url())).send().await;
    let listed: Value = listed.expect("list").json().await.expect("json");
    assert_eq!(listed["entries"], serde_json::json!([]), "the stalled put stored nothing");
    // Paths: at most 64 levels and 4096 bytes (rules of the namespace, the same on every node).
    let url = cluster.node(1).url();
    for (path, why) in [("d/".repeat(65) + "f", "deeper"), ("n/".repeat(2100) + "f", "longer")] {
        let response = cluster.http.put(format!("{url}/files/{path}")).body("x").send().await;
        let response = response.expect("answered");
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "invalid_path", "{body}");
        assert!(body["error"]["message"].as_str().unwrap_or("").contains(why), "{body}");
    }
    let fine = cluster.http.put(format!("{url}/files/{}f", "d/".repeat(63))).body("x");
    assert_eq!(fine.send().await.expect("put").status(), 201, "64 levels are fine");
}

#[tokio::test]
async fn connections_over_the_per_address_limit_get_429_and_other_addresses_are_served() {
    let limits = limits(|l| l.connections_per_ip_max = 4);
    let cluster = TestCluster::start(ClusterSpec { limits, ..ClusterSpec::new(1) }).await;
    let addr = cluster.node(1).config.http_listen;
    let from: [u8; 4] = [127, 0, 0, 7];
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from(from, addr).await);
    }
    // The server counts a connection once it accepts it: wait until a fifth is refused.
    let refused = wait_for(Duration::from_secs(10), "a fifth connection to be refused", || async {
        let mut extra = connect_from(from, addr).await;
        let request = "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        extra.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        extra.read_to_end(&mut answer).await.ok()?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        answer.starts_with("HTTP/1.1 429").then_some(answer)
    })
    .await;
    assert!(refused.contains("too_many_connections"), "{refused}");
    assert!(refused.to_ascii_lowercase().contains("retry-after: 1"), "{refused}");
    let mut other = connect_from([127, 0, 0, 8], addr).await;
    let request = "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    other.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    other.read_to_end(&mut answer).await.expect("read");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "another address is served");
    drop(held);
    wait_for(Duration::from_secs(10), "the address to be served again", || async {
        let mut again = connect_from(from, addr).await;
        again.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        again.read_to_end(&mut answer).await.ok()?;
        answer.starts_with(b"HTTP/1.1 200").then_some(())
    })
    .await;
}

#[tokio::test]
async fn requests_over_a_clients_rate_get_429_with_retry_after_and_other_clients_are_served() {
    let limits = limits(|l| {
        l.requests_per_sec = 2;
        l.request_burst = 20;
    });
    let cluster = TestCluster::start(ClusterSpec { limits, ..ClusterSpec::new(1) }).await;
    let base = cluster.node(1).url();
    let mut tokens = Vec::new();
    for name in ["alice", "bob"] {
        let made =
            cluster.http.post(format!("{base}/users")).json(&serde_json::json!({ "name": name }));
        let made: Value = made.send().await.expect("user add").json().await.expect("json");
        tokens.push(made["token"].as_str().expect("token").to_owned());
    }
    let url = format!("{base}/whoami");
    let as_client = |token: &str| cluster.http.get(&url).bearer_auth(token).send();
    let mut served = 0;
    let limited = loop {
        let response = as_client(&tokens[0]).await.expect("answered");
        if response.status() == 429 {
            break response;
        }
        assert_eq!(response.status(), 200);
        served += 1;
        assert!(served <= 30, "alice was never limited");
    };
    assert!(served >= 20, "the burst of 20 is served first, got {served}");
    let retry_after = limited.headers().get("retry-after").and_then(|v| v.to_str().ok());
    assert!(retry_after.and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| s >= 1));
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let bob = as_client(&tokens[1]).await.expect("answered");
    assert_eq!(bob.status(), 200, "another client is served");
    // Invented tokens are not clients of their own: they share their IP's bucket.
    let mut statuses = Vec::new();
    for n in 0..30 {
        let invented = format!("mallory{n}.0123456789abcdef0123");
        statuses.push(as_client(&invented).await.expect("answered").status().as_u16());
    }
    assert!(statuses.iter().all(|&s| s == 401 || s == 429), "{statuses:?}");
    assert!(statuses.contains(&429), "invented tokens were never limited: {statuses:?}");
}
