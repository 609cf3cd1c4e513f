//! Bad input (issue: data path, point 8): each gets a clear 4xx with a stable code, and nothing
//! changes (the commit index and the listing stay as they were). The node keeps serving.

use dfs_tests::{get_json, raw_http, raw_http_with_body, ClusterSpec, TestCluster};
use serde_json::Value;

async fn commit_index(cluster: &TestCluster) -> u64 {
    cluster.health(1).await.and_then(|h| h["commit_index"].as_u64()).expect("commit index")
}

async fn expect_error(
    cluster: &TestCluster,
    request: reqwest::RequestBuilder,
    status: u16,
    code: &str,
) {
    let before = commit_index(cluster).await;
    let response = request.send().await.expect("the node answers");
    assert_eq!(response.status().as_u16(), status, "expected {code}");
    let body: Value = response.json().await.expect("errors are json");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "errors say what happened"
    );
    assert_eq!(commit_index(cluster).await, before, "{code} changed nothing");
}

#[tokio::test]
async fn each_bad_input_is_a_clear_error_that_changes_nothing() {
    let spec = ClusterSpec { body_bytes_max: 1024 * 1024, ..ClusterSpec::new(1) };
    let cluster = TestCluster::start(spec).await;
    let url = cluster.node(1).url();
    let http = &cluster.http;
    let put = |path: &str| http.put(format!("{url}/files/{path}"));

    // Raw requests: an HTTP client would normalise these paths before sending them.
    let addr = cluster.node(1).config.http_listen;
    let before = commit_index(&cluster).await;
    for path in ["a/../b", "a/%2E%2E/b", "..", "a/./b", "a//b", "a/b%00c", "a/"] {
        let request = format!("PUT /files/{path} HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
        let (status, body) = raw_http(addr, &request).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("invalid_path"), "{path}: {body}");
    }
    assert_eq!(commit_index(&cluster).await, before, "bad paths changed nothing");
    expect_error(&cluster, put(&"n".repeat(300)).body("x"), 400, "invalid_path").await;
    // Over the 1 MiB limit: refused from the declared length before the body is read, and, with
    // no declared length, as soon as the streamed body passes the limit.
    let declared = "PUT /files/big HTTP/1.1\r\nHost: t\r\nContent-Length: 2097152\r\nConnection: close\r\n\r\n";
    let (status, body) = raw_http(addr, declared).await;
    assert_eq!((status, body.contains("body_too_large")), (413, true), "{body}");
    let chunked = "PUT /files/big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let piece = [b"10000\r\n".as_slice(), &[7u8; 0x10000], b"\r\n"].concat();
    let (status, body) = raw_http_with_body(addr, chunked, &piece.repeat(40)).await;
    assert_eq!((status, body.contains("body_too_large")), (413, true), "{body}");
    assert_eq!(commit_index(&cluster).await, before, "oversized bodies changed nothing");
    let wrong = blake3::hash(b"something else").to_hex().to_string();
    expect_error(
        &cluster,
        put("hashed").header("x-dfs-blake3", wrong).body("payload"),
        400,
        "hash_mismatch",
    )
    .await;
    expect_error(
        &cluster,
        put("hashed").header("x-dfs-blake3", "nothex").body("payload"),
        400,
        "bad_hash",
    )
    .await;
    expect_error(&cluster, http.get(format!("{url}/files/nowhere")), 404, "not_found").await;
    // A delete is decided in log order (the path may exist on a node ahead of this one), so the
    // log records the refusal; the namespace stays empty (checked below).
    let missing = http.delete(format!("{url}/files/nowhere")).send().await.expect("delete");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
    expect_error(&cluster, http.get(format!("{url}/list/nowhere")), 404, "not_found").await;

    // Nothing from the refused requests is visible, and the node still takes good writes.
    let listing: Value = get_json(http, format!("{url}/list")).await;
    assert_eq!(listing["entries"], Value::Array(vec![]), "the namespace is still empty");
    let ok = put("fine")
        .header("x-dfs-blake3", blake3::hash(b"payload").to_hex().as_str())
        .body("payload");
    assert_eq!(ok.send().await.expect("put").status(), 201);
}

#[tokio::test]
async fn conditional_writes_and_range_reads() {
    let cluster = TestCluster::start(ClusterSpec::new(1)).await;
    let url = cluster.node(1).url();
    let http = &cluster.http;
    let put = || http.put(format!("{url}/files/doc"));
    assert_eq!(
        put().header("if-none-match", "*").body("v1").send().await.expect("put").status(),
        201
    );
    // A precondition is decided when the entry applies, in log order (that is what makes it a
    // linearizable compare-and-set), so the log records the refusal; the file does not change.
    for (header, value) in [("if-none-match", "*"), ("if-match", "7")] {
        let response = put().header(header, value).body("clobber").send().await.expect("put");
        assert_eq!(response.status(), 412, "{header}: {value}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "version_conflict");
        assert!(
            body["error"]["message"].as_str().unwrap_or("").contains("the current version is 1"),
            "{body}"
        );
        assert_eq!(body["error"]["current_version"], 1, "{body}");
        let current = http.get(format!("{url}/files/doc")).send().await.expect("get");
        assert_eq!(current.headers()["x-dfs-version"], "1");
        assert_eq!(current.bytes().await.expect("body").as_ref(), b"v1", "the file is untouched");
    }
    assert_eq!(
        put().header("if-match", "1").body("0123456789").send().await.expect("put").status(),
        201
    );
    let range = http
        .get(format!("{url}/files/doc"))
        .header("range", "bytes=2-5")
        .send()
        .await
        .expect("get");
    assert_eq!(range.status(), 206);
    assert_eq!(range.headers()["content-range"], "bytes 2-5/10");
    assert_eq!(range.bytes().await.expect("body").as_ref(), b"2345");
    let head = http.head(format!("{url}/files/doc")).send().await.expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "10");
    assert_eq!(head.headers()["x-dfs-version"], "2");
    assert_eq!(head.headers()["x-dfs-blake3"], blake3::hash(b"0123456789").to_hex().as_str());
    assert!(head.bytes().await.expect("body").is_empty(), "HEAD has no body");
    let old = http.get(format!("{url}/files/doc?version=1")).send().await.expect("get");
    assert_eq!(old.bytes().await.expect("body").as_ref(), b"v1");
    expect_error(
        &cluster,
        http.get(format!("{url}/files/doc")).header("range", "bytes=50-60"),
        416,
        "bad_range",
    )
    .await;
}

#[tokio::test]
async fn a_retried_put_with_the_same_idempotency_key_makes_one_version() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mut versions = Vec::new();
    for node in 1..=3 {
        let url = format!("{}/files/retried", cluster.node(node).url());
        let response = cluster
            .http
            .put(url)
            .header("idempotency-key", "put-42")
            .body("same bytes")
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        versions.push(body["version"].as_u64());
    }
    assert_eq!(versions, vec![Some(1); 3], "every retry is told about the same version");
    let stat: Value =
        get_json(&cluster.http, format!("{}/stat/retried", cluster.node(1).url())).await;
    assert_eq!(stat["versions"].as_array().map(Vec::len), Some(1));
    let bad = cluster
        .http
        .put(format!("{}/files/x", cluster.node(1).url()))
        .header("idempotency-key", "has space");
    expect_error(&cluster, bad.body("x"), 400, "bad_idempotency_key").await;
}
