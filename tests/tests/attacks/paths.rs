//! Attacks: paths (issue 22, points 4 and 7). A namespace path with a `..` segment once left
//! the CLI as `/files/../users/victim`, which the HTTP client collapsed to `/users/victim`: `dfs
//! rm` deleted a user (or a node). And names holding control characters (a newline, ESC, a
//! right-to-left override) were stored and printed raw. Now the CLI refuses such paths before
//! sending anything, the server refuses them (400 `invalid_path`) however they are spelled, and
//! every node refuses names with control characters.

use std::time::Duration;

use dfs_tests::{admin_client_builder, raw_http, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;

/// Whether `dfs user list` (as the admin) names `user`.
fn lists_user(cluster: &TestCluster, user: &str) -> bool {
    let (ok, out, err) = cluster.cli(&["--json", "user", "list"]);
    assert!(ok, "user list: {err}");
    let answer: Value = serde_json::from_str(out.trim()).expect("--json prints the answer");
    answer["users"].as_array().into_iter().flatten().any(|u| u["name"] == user)
}

/// The ids in `GET /nodes` of node 1.
async fn node_ids(cluster: &TestCluster, http: &reqwest::Client) -> Vec<u64> {
    let url = format!("{}/nodes", cluster.node(1).url());
    let nodes: Value = http.get(url).send().await.expect("nodes").json().await.expect("json");
    let list = nodes["nodes"].as_array().cloned().unwrap_or_default();
    list.iter().filter_map(|n| n["id"].as_u64()).collect()
}

#[tokio::test]
async fn dot_segments_and_control_characters_are_refused_everywhere() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    cluster.wait_for_leader(1).await;
    cluster.wait_for_first_admin(1).await;
    let http = admin_client_builder().build().expect("client");
    let (ok, _, err) = cluster.cli(&["user", "add", "victim"]);
    assert!(ok, "user add victim: {err}");
    assert!(lists_user(&cluster, "victim"));

    // Point 4: the CLI refuses a dot segment locally, with a clear error, and sends nothing.
    for args in [
        &["rm", "/../users/victim"][..],
        &["rm", "-r", "--yes", "/a/../../users/victim"],
        &["stat", "/../users/victim"],
        &["mkdir", "/./x"],
        &["mv", "/a/../x", "/y"],
        &["mv", "/y", "/x\nforged log line"],
    ] {
        let (code, out, err) = cluster.cli_code(args);
        assert_ne!(code, Some(0), "{args:?} must fail: {out}");
        assert!(err.contains("invalid path"), "{args:?} says why: {err}");
    }
    assert!(lists_user(&cluster, "victim"), "dfs rm /../users/victim deleted the user");
    let (code, _, err) = cluster.cli_code(&["rm", "/../nodes/1"]);
    assert_ne!(code, Some(0), "rm /../nodes/1 must fail");
    assert!(err.contains("invalid path"), "{err}");
    assert!(node_ids(&cluster, &http).await.contains(&1), "rm /../nodes/1 removed node 1");

    // The server refuses dot segments however they are spelled (sent raw: no client folding).
    let addr = cluster.node(1).config.http_listen;
    for target in ["/files/%2e%2e/users/victim", "/files/a/%2E/b", "/files/%2e%2E/nodes/1"] {
        let request = format!("DELETE {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (status, body) = raw_http(addr, &request).await;
        assert_eq!(status, 400, "{target}: {body}");
        let body: Value = serde_json::from_str(&body).expect("errors are json");
        assert_eq!(body["error"]["code"], "invalid_path", "{target}: {body}");
    }
    // `%2e%2e%2f` decodes to `../`, a dot segment: refused as well.
    let request =
        "DELETE /files/%2e%2e%2fusers/victim HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (status, body) = raw_http(addr, request).await;
    assert_eq!(status, 400, "%2e%2e%2f: {body}");
    assert!(lists_user(&cluster, "victim"), "raw DELETE /files/%2e%2e/users/victim");
    assert!(node_ids(&cluster, &http).await.contains(&1));

    // Point 7: each node refuses names with control characters, as 400 invalid_path.
    for id in 1..=3 {
        for name in ["a%0Ab", "esc%1B%5B2J", "evil%E2%80%AEtxt.exe", "c1%C2%9B", "del%7F"] {
            let url = format!("{}/files/{name}", cluster.node(id).url());
            let response = http.put(&url).body("x").send().await.expect("put reaches the node");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(status, 400, "n{id} PUT {name}: {body}");
            assert_eq!(body["error"]["code"], "invalid_path", "n{id} PUT {name}: {body}");
        }
    }
    // The CLI refuses them locally too, and ordinary Unicode names still work.
    let dir = tempfile::tempdir().expect("temp dir");
    let local = dir.path().join("f");
    std::fs::write(&local, b"hello").expect("write");
    let local = local.to_str().expect("utf-8 temp path");
    let (code, _, err) = cluster.cli_code(&["put", local, "/evil\u{202E}txt.exe"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("invalid path") && err.contains("\\u{202e}"), "escaped: {err}");
    let (ok, _, err) = cluster.cli(&["put", local, "/café-日本"]);
    assert!(ok, "put /café-日本: {err}");
    wait_for(Duration::from_secs(10), "the unicode name to list", || async {
        let (ok, out, _) = cluster.cli(&["ls", "/"]);
        (ok && out.contains("café-日本")).then_some(())
    })
    .await;
    let (ok, out, _) = cluster.cli(&["ls", "/"]);
    assert!(ok && !out.contains("evil"), "nothing refused was stored: {out}");
}
