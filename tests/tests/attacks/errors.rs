//! Attacks: errors (issue 22, points 8 and 9). Every error answer is `{"error": {"code",
//! "message"}}` JSON with a stable code, whatever refused the request (router, extractor, header
//! limits, the handler); no Rust debug text reaches an answer or an event; one concept has one
//! field name everywhere; the CLI's `--json` failures are JSON too; a removed node says so.

use std::time::{Duration, Instant};

use dfs_tests::sse::SseStream;
use dfs_tests::{get_json, raw_http, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;

/// Sends `request`; asserts a JSON error with `status` and `code`; returns the response's
/// headers and the error object.
async fn expect_error(
    request: reqwest::RequestBuilder,
    status: u16,
    code: &str,
) -> (reqwest::header::HeaderMap, Value) {
    let response = request.send().await.expect("the node answers");
    let got = response.status().as_u16();
    let headers = response.headers().clone();
    let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let text = response.text().await.unwrap_or_default();
    assert_eq!(got, status, "expected {status} {code}, got {got}: {text}");
    assert!(kind.starts_with("application/json"), "{code}: content type {kind:?}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], code, "{text}");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "{code} says what happened: {text}");
    assert_no_debug_text(&text);
    (headers, body["error"].clone())
}

/// Fails on text that only Rust's `Debug` formatting (or a parser's internals) would write.
fn assert_no_debug_text(text: &str) {
    for leak in ["Some(", "None", "some(", "Cannot parse", "u64", "Err(", "Ok("] {
        assert!(!text.contains(leak), "debug text {leak:?} leaked: {text}");
    }
}

#[tokio::test]
async fn every_error_is_json_with_a_stable_code_and_names_agree() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let url = cluster.node(1).url();
    let http = &cluster.http;
    cluster.put(1, "/e/ten.txt", "0123456789").await;

    // The router: an unknown route and a wrong method.
    expect_error(http.get(format!("{url}/nope")), 404, "unknown_route").await;
    expect_error(http.get(format!("{url}/internal/nope")), 404, "unknown_route").await;
    let (headers, _) =
        expect_error(http.patch(format!("{url}/files/e/ten.txt")), 405, "method_not_allowed").await;
    let allow = headers.get("allow").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(allow.contains("GET") && allow.contains("PUT"), "Allow names the methods: {allow:?}");
    expect_error(http.delete(format!("{url}/health")), 405, "method_not_allowed").await;

    // Extractors: a bad query, a bad path parameter, a bad JSON body.
    expect_error(http.get(format!("{url}/files?limit=abc")), 400, "bad_query").await;
    expect_error(http.get(format!("{url}/files/e/ten.txt?version=x")), 400, "bad_query").await;
    expect_error(http.get(format!("{url}/replication-queue?limit=-1")), 400, "bad_query").await;
    let (_, error) =
        expect_error(http.get(format!("{url}/explain/node/abc")), 400, "bad_path_parameter").await;
    assert!(error["message"].as_str().unwrap_or("").contains("abc"), "{error}");
    expect_error(http.post(format!("{url}/nodes/abc/recover")), 400, "bad_path_parameter").await;
    let missing = format!("{url}/chunks/missing");
    let (_, error) = expect_error(
        http.post(&missing).header("content-type", "text/plain").body(r#"{"chunks":[]}"#),
        415,
        "unsupported_media_type",
    )
    .await;
    assert!(error["message"].as_str().unwrap_or("").contains("application/json"), "{error}");
    let json = |body: &'static str| {
        http.post(&missing).header("content-type", "application/json").body(body)
    };
    expect_error(json("{not json"), 400, "bad_json").await;
    expect_error(json(r#"{"chunks": 5}"#), 400, "bad_json").await;

    // Headers too large: refused by the node with a JSON answer, not a bare status line.
    let addr = cluster.node(1).config.http_listen;
    let big = "x".repeat(100 << 10);
    let request =
        format!("GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
    let (status, body) = raw_http(addr, &request).await;
    assert_eq!(status, 431, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], "headers_too_large", "{body}");
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let request = format!("GET /health HTTP/1.1\r\nHost: t\r\n{many}Connection: close\r\n\r\n");
    let (status, body) = raw_http(addr, &request).await;
    assert_eq!(status, 431, "{body}");
    assert!(body.contains("headers_too_large"), "{body}");

    // An unsatisfiable range says how long the file is.
    let (headers, _) = expect_error(
        http.get(format!("{url}/files/e/ten.txt")).header("range", "bytes=20-30"),
        416,
        "bad_range",
    )
    .await;
    let range = headers.get("content-range").and_then(|v| v.to_str().ok());
    assert_eq!(range, Some("bytes */10"));

    // No debug text in answers: a bad `access`, a missing one, a bad role.
    let (ok, _, err) = cluster.cli(&["user", "add", "bob"]);
    assert!(ok, "{err}");
    let acl = format!("{url}/acl/e");
    expect_error(http.post(format!("{acl}?user=bob&access=x")), 400, "bad_access").await;
    expect_error(http.post(format!("{acl}?user=bob")), 400, "bad_access").await;
    expect_error(http.post(format!("{url}/nodes/9?role=boss")), 400, "bad_query").await;
    // ... nor in events: `acl_changed` says read, write or none.
    let mut events = SseStream::open(http, &format!("{url}/events"), None).await;
    for (method, query) in [("POST", "access=r"), ("POST", "access=w"), ("DELETE", "")] {
        let request =
            http.request(method.parse().expect("method"), format!("{acl}?user=bob&{query}"));
        let response = request.send().await.expect("acl");
        assert_eq!(response.status(), 200, "{method} {query}");
    }
    let mut accesses = Vec::new();
    while accesses.len() < 3 {
        let event = events.next(Duration::from_secs(10)).await;
        if event.data["kind"] == "acl_changed" {
            assert_no_debug_text(&event.data.to_string());
            accesses.push(event.data["access"].as_str().unwrap_or("?").to_owned());
        }
    }
    assert_eq!(accesses, ["read", "write", "none"]);

    // One name per concept: `/stat` says `created_ms` and chunk `hash` like `/files`, `/history`.
    let stat: Value = get_json(http, format!("{url}/stat/e/ten.txt")).await;
    let files: Value = get_json(http, format!("{url}/files?prefix=/e/ten.txt")).await;
    let history: Value = get_json(http, format!("{url}/history/e/ten.txt")).await;
    let version = &stat["versions"][0];
    assert!(version["created_ms"].is_u64(), "{stat}");
    assert!(version.get("created_at_ms").is_none(), "{stat}");
    assert!(version["chunks"][0]["hash"].is_string(), "{stat}");
    assert!(version["chunks"][0].get("id").is_none(), "{stat}");
    assert!(history["versions"][0]["created_ms"].is_u64(), "{history}");
    let listed = &files["files"][0]["versions"][0];
    assert_eq!(listed["created_ms"], version["created_ms"], "{files}");
    assert_eq!(listed["chunks"][0]["hash"], version["chunks"][0]["hash"], "{files}");

    // The CLI: `get --json` prints the version as a number; a `--json` failure is one JSON
    // object on stderr, and the exit status is not 0.
    let dir = tempfile::tempdir().expect("temp dir");
    let local = dir.path().join("ten.txt");
    let local = local.to_str().expect("utf-8");
    let (ok, out, err) = cluster.cli(&["--json", "get", "/e/ten.txt", local]);
    assert!(ok, "{err}");
    let got: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(got["version"], 1, "{out}");
    let (code, out, err) = cluster.cli_code(&["--json", "get", "/e/missing.txt", local]);
    assert!(code.is_some_and(|c| c != 0), "exit status {code:?}");
    assert!(out.trim().is_empty(), "{out}");
    let error: Value = serde_json::from_str(err.trim()).unwrap_or(Value::Null);
    assert_eq!(error["error"]["code"], "not_found", "one JSON object on stderr: {err}");
    assert_eq!(error["error"]["exit_status"].as_i64(), code.map(i64::from), "{err}");
    assert!(error["error"]["message"].as_str().is_some_and(|m| m.contains("missing.txt")), "{err}");

    // Unknown nodes: recovery is 404 `unknown_node`, and `dfs explain 9` fails.
    expect_error(http.post(format!("{url}/nodes/9/recover")), 404, "unknown_node").await;
    expect_error(http.get(format!("{url}/explain/node/9")), 404, "unknown_node").await;
    let (code, _, err) = cluster.cli_code(&["explain", "9"]);
    assert!(code.is_some_and(|c| c != 0), "explain of a non-member fails: {err}");
    assert!(err.contains("unknown_node"), "{err}");
}

#[tokio::test]
async fn a_removed_node_says_so_and_refuses_client_writes() {
    let cluster = TestCluster::start(ClusterSpec::new(4)).await;
    cluster.put(1, "/r/file.bin", vec![7u8; 4096]).await;
    let stat: Value =
        get_json(&cluster.http, format!("{}/stat/r/file.bin", cluster.node(1).url())).await;
    let holders: Vec<u64> = stat["versions"][0]["chunks"][0]["replicas"]
        .as_array()
        .expect("replicas")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(holders.len(), 3, "{stat}");
    let victim = *holders.iter().max().expect("a holder");

    // The chunk has two other copies, so the refusal must not say the victim holds the only ones.
    let (ok, _, err) = cluster.cli(&["node", "remove", &victim.to_string()]);
    assert!(!ok, "removing an undrained holder is refused");
    assert!(!err.contains("only"), "the refusal is true: {err}");
    assert!(err.contains("fewer than 3"), "names what blocks: {err}");
    assert!(err.contains("drain"), "{err}");
    let (ok, _, err) = cluster.cli(&["node", "drain", &victim.to_string(), "--wait"]);
    assert!(ok, "{err}");
    let (ok, out, err) = cluster.cli(&["node", "remove", &victim.to_string()]);
    assert!(ok, "{out}{err}");

    // The removed node says so on its readiness probe...
    let url = cluster.node(victim).url();
    let ready = format!("{url}/health/ready");
    wait_for(Duration::from_secs(20), "the removed node to say so", || async {
        let response = cluster.http.get(&ready).send().await.ok()?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.ok()?;
        (status == 503 && body["error"]["code"] == "removed").then_some(())
    })
    .await;
    // ... and refuses client writes at once, instead of timing out on a commit it never sees.
    let started = Instant::now();
    expect_error(cluster.http.put(format!("{url}/files/r/after.bin")).body("x"), 503, "removed")
        .await;
    assert!(started.elapsed() < Duration::from_secs(2), "refused quickly: {:?}", started.elapsed());
    expect_error(cluster.http.post(format!("{url}/folders/r/sub")), 503, "removed").await;
    expect_error(
        cluster.http.get(format!("{url}/files/r/file.bin?consistent=true")),
        503,
        "removed",
    )
    .await;
    // The others still serve.
    let survivor = (1..=4).find(|&n| n != victim).expect("another node");
    cluster.put(survivor, "/r/after.bin", "x").await;
}
