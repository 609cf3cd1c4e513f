//! `dfs fsck` (issue 4, point 8) on real processes: a healthy cluster is clean (exit 0); a
//! flipped byte in one copy, a deleted copy and a killed node are each reported per chunk with
//! their good-copy counts, and fsck exits 2. The node-to-node `POST /internal/verify` endpoint
//! refuses bad input with a clear error and keeps serving.

use dfs_runtime::core::ids::{ChunkId, NodeId};
use dfs_runtime::handshake::ClusterKey;
use dfs_runtime::peers::{NODE_HEADER, TOKEN_HEADER};
use dfs_tests::{
    chunk_file, chunk_ids, flip_byte, random_bytes, raw_http_with_body, ClusterSpec, TestCluster,
};
use serde_json::{json, Value};

/// `dfs fsck --json [extra]`: exit code and report.
fn fsck_json(cluster: &TestCluster, extra: &[&str]) -> (Option<i32>, Value) {
    let args = [&["fsck", "--json"], extra].concat();
    let (code, out, err) = cluster.cli_code(&args);
    let report = serde_json::from_str(&out).unwrap_or_else(|_| panic!("fsck prints json: {err}"));
    (code, report)
}

fn problem(report: &Value, chunk: ChunkId) -> &Value {
    let hex = chunk.0.to_hex().to_string();
    let problems = report["problems"].as_array().expect("problems");
    problems.iter().find(|p| p["chunk"] == hex.as_str()).unwrap_or_else(|| panic!("{report}"))
}

#[tokio::test]
async fn fsck_reports_corrupt_missing_and_unreachable_copies() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    cluster.put(1, "/docs/a", random_bytes(6 << 20, 1)).await;
    cluster.put(1, "/docs/b", b"first".to_vec()).await;
    cluster.put(1, "/docs/b", b"second".to_vec()).await;
    cluster.put(1, "/gone", random_bytes(1 << 20, 2)).await;
    let deleted = cluster.http.delete(format!("{}/files/gone", cluster.node(1).url()));
    assert_eq!(deleted.send().await.expect("delete").status(), 200);
    let a = chunk_ids(&cluster, "/docs/a").await;
    assert!(a.len() >= 2, "a 6 MiB file has several chunks");

    let (ok, out, err) = cluster.cli(&["fsck"]);
    assert!(ok, "a healthy cluster is clean: {out}{err}");
    assert!(out.contains("clean"), "{out}");
    let (code, report) = fsck_json(&cluster, &[]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["verify"], true);
    assert_eq!((report["files"].as_u64(), report["versions"].as_u64()), (Some(2), Some(3)));
    assert_eq!(report["chunks"].as_u64(), Some(a.len() as u64 + 2), "tombstoned files left out");
    assert_eq!(report["nodes_asked"], json!([1, 2, 3]));
    assert_eq!(report["problems_total"], 0);

    // Silent corruption of n2's copy of /docs/a's first chunk.
    assert!(flip_byte(&chunk_file(&cluster, 2, a[0]), 1000), "n2 holds the chunk");
    let (code, report) = fsck_json(&cluster, &[]);
    assert_eq!(code, Some(2), "problems exit 2: {report}");
    assert_eq!((report["ok"].as_bool(), report["problems_total"].as_u64()), (Some(false), Some(1)));
    let corrupt = problem(&report, a[0]);
    assert_eq!(corrupt["verified_copies"], 2);
    assert_eq!(corrupt["copies"], json!({ "1": "intact", "2": "corrupt", "3": "intact" }));
    assert_eq!(corrupt["paths"], json!(["/docs/a"]));
    assert_eq!(report["bad_copies"], 1);
    let (code, report) = fsck_json(&cluster, &["--no-verify"]);
    assert_eq!(code, Some(0), "an existence-only check cannot see a flipped byte: {report}");

    // n3 loses its copy of the second chunk.
    std::fs::remove_file(chunk_file(&cluster, 3, a[1])).expect("n3 holds the chunk");
    let (code, report) = fsck_json(&cluster, &[]);
    assert_eq!((code, report["problems_total"].as_u64()), (Some(2), Some(2)), "{report}");
    let missing = problem(&report, a[1]);
    assert_eq!(missing["verified_copies"], 2);
    assert_eq!(missing["copies"], json!({ "1": "intact", "2": "intact", "3": "missing" }));
    let (code, report) = fsck_json(&cluster, &["--no-verify"]);
    assert_eq!((code, report["problems_total"].as_u64()), (Some(2), Some(1)), "{report}");
    assert_eq!(problem(&report, a[1])["copies"]["3"], "missing");
    let (code, out, _) = cluster.cli_code(&["fsck"]);
    assert_eq!(code, Some(2));
    let a0 = a[0].0.to_hex().to_string();
    assert!(out.contains("NOT CLEAN") && out.contains(&a0) && out.contains("n2 corrupt"), "{out}");

    // A killed node's copies are unknown: every chunk is short of 3.
    cluster.kill9(3);
    let (code, report) = fsck_json(&cluster, &[]);
    assert_eq!(code, Some(2), "{report}");
    assert!(report["nodes_unreachable"]["3"].is_string(), "{report}");
    assert_eq!(report["problems_total"], report["chunks"], "{report}");
    assert_eq!(problem(&report, a[0])["copies"]["3"], "unreachable");
}

/// Sends `body` to `POST /internal/verify` on node 1 as node 2 (with a valid token unless
/// `token` says otherwise); returns the status and the JSON answer.
async fn verify(cluster: &TestCluster, body: Vec<u8>, token: Option<String>) -> (u16, Value) {
    let key = ClusterKey::from_secret(&cluster.node(1).config.cluster_secret);
    let token = token.unwrap_or_else(|| key.verify_token(NodeId(2), &body).to_hex().to_string());
    let response = cluster
        .http
        .post(format!("{}/internal/verify", cluster.node(1).url()))
        .header(NODE_HEADER, "2")
        .header(TOKEN_HEADER, token)
        .body(body)
        .send()
        .await
        .expect("the node answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("answers are json"))
}

fn request(chunks: &[String], rehash: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({ "chunks": chunks, "rehash": rehash })).expect("json")
}

#[tokio::test]
async fn the_verify_endpoint_refuses_bad_input_and_keeps_serving() {
    let cluster = TestCluster::start(ClusterSpec::new(1)).await;
    cluster.put(1, "/one", b"one chunk".to_vec()).await;
    let stored = chunk_ids(&cluster, "/one").await[0].0.to_hex().to_string();
    let absent = blake3::hash(b"never stored").to_hex().to_string();

    let (status, answer) =
        verify(&cluster, request(&[stored.clone(), absent.clone()], true), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({ "node": 1, "states": ["intact", "missing"] }));
    let (_, answer) =
        verify(&cluster, request(&[stored.clone(), absent.clone()], false), None).await;
    assert_eq!(answer["states"], json!(["present", "missing"]));

    let cases: Vec<(Vec<u8>, Option<String>, u16, &str)> = vec![
        (request(std::slice::from_ref(&stored), true), Some("0".repeat(64)), 403, "not_a_peer"),
        (request(std::slice::from_ref(&stored), true), Some("not hex".into()), 403, "not_a_peer"),
        (request(&vec![stored.clone(); 4097], true), None, 413, "too_many_chunks"),
        (request(&[stored.clone(), "zz".into()], true), None, 400, "bad_chunk_id"),
        (request(&["g".repeat(64)], true), None, 400, "bad_chunk_id"),
        (b"not json".to_vec(), None, 400, "bad_request"),
        (b"{\"chunks\": \"abc\"}".to_vec(), None, 400, "bad_request"),
    ];
    for (body, token, status, code) in cases {
        let (got, answer) = verify(&cluster, body, token).await;
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(code)), "{answer}");
        assert!(!answer["error"]["message"].as_str().unwrap_or("").is_empty(), "{answer}");
        let health = cluster.http.get(format!("{}/health", cluster.node(1).url())).send().await;
        assert!(health.is_ok_and(|r| r.status() == 200), "the node still answers after {code}");
    }
    // Over 1 MiB: refused once the body passes the limit. (Sent raw: the server answers early
    // and closes, which a client still writing the body may see as a broken pipe.)
    let head = "POST /internal/verify HTTP/1.1\r\nHost: t\r\nx-dfs-node: 2\r\nx-dfs-token: 00\r\nContent-Length: 2097152\r\nConnection: close\r\n\r\n";
    let addr = cluster.node(1).config.http_listen;
    let (status, body) = raw_http_with_body(addr, head, &vec![b' '; 2 << 20]).await;
    assert_eq!((status, body.contains("body_too_large")), (413, true), "{body}");
    let (status, answer) = verify(&cluster, request(&[stored, "zz".into()], true), None).await;
    assert!(
        answer["error"]["message"].as_str().is_some_and(|m| m.contains("chunk 1")),
        "{status} {answer}"
    );

    let bad_query = cluster.http.get(format!("{}/fsck?verify=maybe", cluster.node(1).url()));
    let response = bad_query.send().await.expect("the node answers");
    assert_eq!(response.status(), 400);
    let (ok, out, err) = cluster.cli(&["fsck"]);
    assert!(ok, "still clean: {out}{err}");
}
