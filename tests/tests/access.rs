//! Access control end to end (DESIGN §2 "access control") on a 3-node cluster of real
//! processes: an admin creates users with `dfs user add`; a user without a grant is refused
//! (403 with a clear message) reads, writes, listings and deletes; `dfs acl add/rm` grants and
//! revokes; requests without a valid token get 401; cluster operations need an admin; grants are
//! replicated and survive a restart of the leader.

use std::time::Duration;

use dfs_tests::{client_builder_with_token, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;

/// Creates user `name` with `dfs user add` (as the admin) and returns its token.
fn add_user(cluster: &TestCluster, name: &str) -> String {
    let (ok, out, err) = cluster.cli(&["--json", "user", "add", name]);
    assert!(ok, "user add {name}: {err}");
    let answer: Value = serde_json::from_str(out.trim()).expect("--json prints the answer");
    answer["token"].as_str().expect("the new token is shown once").to_owned()
}

/// Runs the CLI as `token`; `Ok(stdout)` or `Err(stderr)`.
fn run_as(cluster: &TestCluster, token: &str, args: &[&str]) -> Result<String, String> {
    let (code, out, err) = cluster.cli_as(token, args);
    if code == Some(0) {
        Ok(out)
    } else {
        Err(err)
    }
}

/// Asserts the CLI as `token` is refused with 403 `code`, naming `needle` in its message.
fn assert_refused(cluster: &TestCluster, token: &str, args: &[&str], code: &str, needle: &str) {
    let err = run_as(cluster, token, args).expect_err("must be refused");
    assert!(err.contains(&format!("({code})")), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
}

/// GET `path` on node `id` with `token` (none for `None`): status and JSON body.
async fn get(cluster: &TestCluster, id: u64, token: Option<&str>, path: &str) -> (u16, Value) {
    let http = match token {
        Some(token) => client_builder_with_token(token),
        None => dfs_runtime::tls::client_builder(),
    }
    .build()
    .expect("client");
    let response = http.get(format!("{}{path}", cluster.node(id).url())).send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POST `body` to `path` on node `id` with `token` (none for `None`): status and JSON body.
async fn post(
    cluster: &TestCluster,
    id: u64,
    token: Option<&str>,
    path: &str,
    body: &'static [u8],
) -> (u16, Value) {
    let http = match token {
        Some(token) => client_builder_with_token(token),
        None => dfs_runtime::tls::client_builder(),
    }
    .build()
    .expect("client");
    let url = format!("{}{path}", cluster.node(id).url());
    let response = http.post(url).body(body).send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn users_need_grants_and_grants_are_replicated() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let alice = add_user(&cluster, "alice");
    let bob = add_user(&cluster, "bob");
    let (ok, out, err) = cluster.cli(&["user", "list"]);
    assert!(
        ok && out.contains("alice") && out.contains("bob") && out.contains("admin"),
        "{out}{err}"
    );
    assert_eq!(run_as(&cluster, &alice, &["whoami"]).as_deref(), Ok("alice\n"));

    // The admin makes alice's folder; alice writes in it.
    let (ok, _, err) = cluster.cli(&["mkdir", "/alice", "--owner", "alice"]);
    assert!(ok, "{err}");
    let dir = tempfile::tempdir().expect("temp dir");
    let local = dir.path().join("notes.txt");
    std::fs::write(&local, b"alice's notes\n").expect("write");
    let local = local.to_str().expect("utf-8 path");
    run_as(&cluster, &alice, &["put", local, "/alice/notes.txt"]).expect("alice writes");
    assert_eq!(
        run_as(&cluster, &alice, &["get", "/alice/notes.txt", "-"]).as_deref(),
        Ok("alice's notes\n")
    );

    // bob has no grant: read, write, list and delete are refused with a clear 403.
    let read = "bob may not read /alice/notes.txt";
    assert_refused(&cluster, &bob, &["get", "/alice/notes.txt", "-"], "forbidden", read);
    assert_refused(
        &cluster,
        &bob,
        &["put", local, "/alice/bob.txt"],
        "forbidden",
        "bob may not write /alice/bob.txt",
    );
    assert_refused(&cluster, &bob, &["ls", "/alice"], "forbidden", "bob may not read /alice");
    assert_refused(
        &cluster,
        &bob,
        &["rm", "/alice/notes.txt"],
        "forbidden",
        "bob may not write /alice/notes.txt",
    );
    assert_refused(
        &cluster,
        &bob,
        &["acl", "add", "/alice", "bob", "w"],
        "forbidden",
        "bob may not manage",
    );
    let (status, body) = get(&cluster, 2, Some(&bob), "/files/alice/notes.txt").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(
        (body["error"]["path"].as_str(), body["error"]["need"].as_str()),
        (Some("/alice/notes.txt"), Some("read"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("dfs acl add /alice/notes.txt bob r")),
        "{body}"
    );
    // The chunk-level upload of dfs watch is refused the same way, before its body is read.
    let manifest = b"{\"size_bytes\":0,\"hash\":\"00\",\"chunks\":[]}\n";
    let (status, body) = post(&cluster, 1, Some(&bob), "/commit/alice/bob.txt", manifest).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
    let ask = b"{\"chunks\":[]}";
    let (status, body) = post(&cluster, 1, None, "/chunks/missing", ask).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthenticated")), "{body}");
    // Nothing changed.
    assert_eq!(
        run_as(&cluster, &alice, &["ls", "/alice"]).map(|o| o.contains("notes.txt")),
        Ok(true)
    );

    // r: bob reads and lists, but still cannot write or delete.
    run_as(&cluster, &alice, &["acl", "add", "/alice", "bob", "r"]).expect("alice shares");
    assert_eq!(
        run_as(&cluster, &bob, &["get", "/alice/notes.txt", "-"]).as_deref(),
        Ok("alice's notes\n")
    );
    assert!(run_as(&cluster, &bob, &["ls", "/alice"]).expect("bob lists").contains("notes.txt"));
    run_as(&cluster, &bob, &["history", "/alice/notes.txt"]).expect("r lets bob see history");
    assert_refused(&cluster, &bob, &["put", local, "/alice/bob.txt"], "forbidden", "may not write");
    assert_refused(&cluster, &bob, &["rm", "/alice/notes.txt"], "forbidden", "may not write");

    // w: bob writes (and owns what he creates).
    run_as(&cluster, &alice, &["acl", "add", "/alice", "bob", "w"]).expect("alice grants w");
    run_as(&cluster, &bob, &["put", local, "/alice/bob.txt"]).expect("w lets bob write");
    let shown = run_as(&cluster, &bob, &["acl", "show", "/alice/bob.txt"]).expect("acl show");
    assert!(
        shown.contains("owner  bob")
            && shown.contains("w      bob")
            && shown.contains("from /alice"),
        "{shown}"
    );
    let (ok, out, _) = cluster.cli(&["--json", "acl", "show", "/alice"]);
    let acl: Value = serde_json::from_str(out.trim()).expect("json");
    assert!(
        ok && acl["owner"] == "alice"
            && acl["grants"][0]["user"] == "bob"
            && acl["grants"][0]["access"] == "w",
        "{acl}"
    );

    // acl rm revokes.
    run_as(&cluster, &alice, &["acl", "rm", "/alice", "bob"]).expect("alice revokes");
    assert_refused(&cluster, &bob, &["get", "/alice/notes.txt", "-"], "forbidden", read);

    // Granting to an unknown user or with a bad access letter changes nothing.
    assert_refused(
        &cluster,
        &alice,
        &["acl", "add", "/alice", "mallory", "r"],
        "unknown_user",
        "mallory",
    );
    let bad =
        run_as(&cluster, &alice, &["acl", "add", "/alice", "bob", "x"]).expect_err("bad access");
    assert!(bad.contains("bad_access"), "{bad}");
    let bad = cluster.cli(&["user", "add", "Not.Valid"]);
    assert!(!bad.0 && bad.2.contains("invalid_user_name"), "{}", bad.2);

    // No token or an invalid one: 401 with a clear error.
    let (status, body) = get(&cluster, 1, None, "/list/alice").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthenticated")), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("Bearer")), "{body}");
    let (status, body) =
        get(&cluster, 1, Some("bob.not-the-right-secret-at-all"), "/list/alice").await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthenticated")), "{body}");
    let (status, _) = get(&cluster, 1, Some("garbage"), "/nodes").await;
    assert_eq!(status, 401);
    assert_refused(&cluster, "", &["ls", "/"], "unauthenticated", "no bearer token");
    let (status, _) = get(&cluster, 1, None, "/health/ready").await;
    assert_eq!(status, 200, "probes stay open");

    // Cluster operations and user management need an admin.
    assert_refused(&cluster, &bob, &["node", "drain", "3"], "admin_only", "bob is not an admin");
    assert_refused(&cluster, &bob, &["retention", "set", "3"], "admin_only", "bob is not an admin");
    assert_refused(&cluster, &bob, &["user", "add", "eve"], "admin_only", "bob is not an admin");
    assert_refused(&cluster, &bob, &["fsck"], "admin_only", "bob is not an admin");
    run_as(&cluster, &bob, &["status"]).expect("anyone may look at the nodes");

    // Grants are replicated: they survive a restart of the leader and hold on every node.
    run_as(&cluster, &alice, &["acl", "add", "/alice", "bob", "r"]).expect("grant again");
    let leader = cluster.wait_for_leader(1).await;
    cluster.kill9(leader);
    cluster.restart(leader).await;
    for id in 1..=3 {
        wait_for(Duration::from_secs(20), &format!("n{id} to let bob read"), || async {
            let (status, _) = get(&cluster, id, Some(&bob), "/files/alice/notes.txt").await;
            (status == 200).then_some(())
        })
        .await;
        let (status, _) = get(&cluster, id, Some(&bob), "/files/alice/bob.txt").await;
        assert_eq!(status, 200, "n{id}: inherited read");
        let (status, body) = get(&cluster, id, Some(&alice), "/users").await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("admin_only")), "n{id}");
    }
    // A removed user's token stops working everywhere.
    let (ok, _, err) = cluster.cli(&["user", "rm", "bob"]);
    assert!(ok, "{err}");
    let (status, _) = get(&cluster, 1, Some(&bob), "/files/alice/notes.txt").await;
    assert_eq!(status, 401);
}
