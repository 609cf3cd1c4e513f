//! Attacks: idempotency (issue 22, points 2 and 3). Keys were global: reusing `Idempotency-Key:
//! k1` with another body answered 201 with the first request's result while nothing new was
//! stored, on another path it answered naming the first path, under another user's token it
//! returned the first user's path and hash. And the CLI derived its key from the pid, the
//! content hash and the path, so in a container (same pid every run) `put A`, `put B`, `put A`
//! answered the third put with the first one's version while the latest stayed B.
//!
//! Now keys are scoped to (user, path) and bound to the request: a reuse with another request is
//! refused with 422 `idempotency_key_reused` and changes nothing, the same key on another path or
//! by another user is a write of its own, an identical retry gets the original answer; the CLI
//! draws a fresh random key per invocation.

use std::process::Command;

use dfs_tests::{
    admin_client_builder, client_builder_with_token, dfs_bin, ClusterSpec, TestCluster,
};
use serde_json::{json, Value};

/// A PUT of `body` to `path` on node `via` with `Idempotency-Key: key`: status and JSON.
async fn put_keyed(
    http: &reqwest::Client,
    cluster: &TestCluster,
    via: u64,
    path: &str,
    key: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let url = format!("{}/files{path}", cluster.node(via).url());
    let response =
        http.put(url).header("idempotency-key", key).body(body).send().await.expect("put");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A chunk-level `POST /commit` of `bytes` (one chunk, sent) to `path` with key `key`.
async fn commit_keyed(
    http: &reqwest::Client,
    cluster: &TestCluster,
    path: &str,
    key: &str,
    bytes: &[u8],
) -> (u16, Value) {
    let hash = blake3::hash(bytes).to_hex().to_string();
    let manifest = json!({
        "size_bytes": bytes.len(), "hash": hash,
        "chunks": [{ "hash": hash, "len_bytes": bytes.len(), "sent": true }],
    });
    let mut body = serde_json::to_vec(&manifest).expect("encodes");
    body.push(b'\n');
    body.extend_from_slice(bytes);
    let url = format!("{}/commit{path}", cluster.node(1).url());
    let response =
        http.post(url).header("idempotency-key", key).body(body).send().await.expect("commit");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The versions `/history` lists for `path`, as (version, hash, author).
async fn history(
    http: &reqwest::Client,
    cluster: &TestCluster,
    path: &str,
) -> Vec<(u64, String, String)> {
    let url = format!("{}/history{path}", cluster.node(1).url());
    let view: Value = http.get(url).send().await.expect("history").json().await.expect("json");
    view["versions"]
        .as_array()
        .expect("a file's history lists versions")
        .iter()
        .map(|v| {
            let text = |field: &str| v[field].as_str().unwrap_or_default().to_owned();
            (v["version"].as_u64().unwrap_or(0), text("hash"), text("author"))
        })
        .collect()
}

/// The latest content of `path` (read through the log).
async fn content(http: &reqwest::Client, cluster: &TestCluster, path: &str) -> Vec<u8> {
    let url = format!("{}/files{path}?consistent=true", cluster.node(2).url());
    let response = http.get(url).send().await.expect("get");
    assert_eq!(response.status().as_u16(), 200, "{path} reads");
    response.bytes().await.expect("body").to_vec()
}

fn hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Asserts a 201 that answers *this* request: its path, its content's hash, this version.
fn assert_own_answer(answer: &(u16, Value), path: &str, body: &[u8], version: u64) {
    let (status, value) = answer;
    assert_eq!(*status, 201, "{path}: {value}");
    assert_eq!(value["path"], path, "the answer names this request's path: {value}");
    assert_eq!(value["hash"], hex(body), "the answer names this request's content: {value}");
    assert_eq!(value["size_bytes"], body.len(), "{value}");
    assert_eq!(value["version"], version, "{value}");
}

fn assert_reused(answer: &(u16, Value)) {
    let (status, value) = answer;
    assert_eq!(*status, 422, "a reused key with another request is refused: {value}");
    assert_eq!(value["error"]["code"], "idempotency_key_reused", "{value}");
    let message = value["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("fresh key") && message.contains("log indexes"), "{message}");
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_user_and_path_and_bound_to_the_request() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let admin = admin_client_builder().build().expect("client");
    let (ok, out, err) = cluster.cli(&["--json", "user", "add", "bob"]);
    assert!(ok, "user add bob: {err}");
    let answer: Value = serde_json::from_str(out.trim()).expect("--json prints the answer");
    let bob_token = answer["token"].as_str().expect("the token is shown once").to_owned();
    let bob = client_builder_with_token(&bob_token).build().expect("client");
    for args in [&["mkdir", "/shared"][..], &["acl", "add", "/shared", "bob", "w"]] {
        let (ok, _, err) = cluster.cli(args);
        assert!(ok, "{args:?}: {err}");
    }

    // The first write with k1: 10 bytes.
    let small = b"ten bytes!".to_vec();
    let first = put_keyed(&admin, &cluster, 1, "/shared/a.txt", "k1", small.clone()).await;
    assert_own_answer(&first, "/shared/a.txt", &small, 1);

    // Same key, same path, a different 3 MB body: refused, the file keeps its 10 bytes.
    let big = dfs_tests::random_bytes(3_000_000, 22);
    let replay = put_keyed(&admin, &cluster, 2, "/shared/a.txt", "k1", big.clone()).await;
    assert_reused(&replay);
    // The same through the chunk-level commit.
    assert_reused(&commit_keyed(&admin, &cluster, "/shared/a.txt", "k1", b"another body").await);
    assert_eq!(content(&admin, &cluster, "/shared/a.txt").await, small);
    assert_eq!(history(&admin, &cluster, "/shared/a.txt").await.len(), 1, "nothing was stored");

    // The identical request, retried through another node: the original answer, one version.
    let retry = put_keyed(&admin, &cluster, 3, "/shared/a.txt", "k1", small.clone()).await;
    assert_own_answer(&retry, "/shared/a.txt", &small, 1);
    assert_eq!(history(&admin, &cluster, "/shared/a.txt").await.len(), 1, "one version only");

    // Same key on another path: a write of its own, naming its own path.
    let other = b"another path".to_vec();
    let elsewhere = put_keyed(&admin, &cluster, 1, "/shared/b.txt", "k1", other.clone()).await;
    assert_own_answer(&elsewhere, "/shared/b.txt", &other, 1);
    assert_eq!(content(&admin, &cluster, "/shared/b.txt").await, other);

    // Same key, same path, another user: bob's own write, not the admin's answer.
    let bobs = b"bob's own bytes".to_vec();
    let by_bob = put_keyed(&bob, &cluster, 2, "/shared/a.txt", "k1", bobs.clone()).await;
    assert_own_answer(&by_bob, "/shared/a.txt", &bobs, 2);
    assert_eq!(content(&admin, &cluster, "/shared/a.txt").await, bobs);
    let versions = history(&admin, &cluster, "/shared/a.txt").await;
    let authors: Vec<&str> = versions.iter().map(|(_, _, author)| author.as_str()).collect();
    assert_eq!(authors, ["admin", "bob"], "{versions:?}");
}

#[tokio::test]
async fn the_cli_draws_a_fresh_key_per_invocation() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let admin = admin_client_builder().build().expect("client");
    // The CLI: put A, put B, put A, each from a process with the same pid (as in a container)
    // when a pid namespace can be made, makes three versions and the latest is A.
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, b"content A").expect("writes");
    std::fs::write(&b, b"content B, longer").expect("writes");
    let same_pid = Command::new("unshare")
        .args(["--pid", "--fork", "true"])
        .status()
        .is_ok_and(|status| status.success());
    if !same_pid {
        eprintln!("no pid namespace here: the CLI puts run with their own pids");
    }
    let mut said = Vec::new();
    for (n, local) in [&a, &b, &a].into_iter().enumerate() {
        let local = local.to_str().expect("utf-8 temp path");
        let out = cli_same_pid(&cluster, same_pid, &["put", local, "/cli.txt"]);
        assert!(out.contains(&format!("v{}", n + 1)), "put {n} said: {out}");
        said.push(out);
    }
    let versions = history(&admin, &cluster, "/cli.txt").await;
    let hashes: Vec<&str> = versions.iter().map(|(_, hash, _)| hash.as_str()).collect();
    let (ha, hb) = (hex(b"content A"), hex(b"content B, longer"));
    assert_eq!(hashes, [ha.as_str(), hb.as_str(), ha.as_str()], "{said:?}");
    assert_eq!(content(&admin, &cluster, "/cli.txt").await, b"content A");
}

/// Runs `dfs args` as the admin against every node, inside a fresh pid namespace when
/// `same_pid` (so every run gets pid 1, as in a container); its stdout, or a panic.
fn cli_same_pid(cluster: &TestCluster, same_pid: bool, args: &[&str]) -> String {
    let mut command = if same_pid {
        let mut command = Command::new("unshare");
        command.args(["--pid", "--fork"]).arg(dfs_bin());
        command
    } else {
        Command::new(dfs_bin())
    };
    let nodes = cluster.urls().join(",");
    command.args(args).env("DFS_NODES", nodes).env("DFS_TOKEN", dfs_tests::admin_token());
    let output = command.output().expect("run dfs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(output.status.success(), "dfs {args:?}: {}", text(&output.stderr));
    text(&output.stdout)
}
