//! Access keys belong to dfs users (`dfs key`, `/keys`), S3 requests are checked against the
//! native per-path grants, and unknown keys, wrong secrets and unsigned requests get S3's
//! errors (`access.py`). Secrets are never stored in the clear.

use dfs_tests::s3::{admin_key, boto, endpoint};
use dfs_tests::ClusterSpec;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn keys_act_as_their_user_with_its_grants_and_bad_credentials_are_refused() {
    let cluster = dfs_tests::s3::start(ClusterSpec::new(3)).await;
    cluster.wait_for_first_admin(1).await;
    let s3 = endpoint(&cluster, 2).await;
    let (ok, out, err) = cluster.cli(&["--json", "user", "add", "alice"]);
    assert!(ok, "{out}{err}");
    let alice: Value = serde_json::from_str(&out).expect("json");
    let alice_token = alice["token"].as_str().expect("token").to_owned();
    // Alice makes her own key with the CLI; she cannot make one for the admin.
    let (code, out, err) = cluster.cli_as(&alice_token, &["--json", "key", "create"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let made: Value = serde_json::from_str(&out).expect("json");
    let (id, secret) = (made["id"].as_str().expect("id"), made["secret"].as_str().expect("s"));
    assert_eq!(made["user"], "alice");
    let (code, _, err) = cluster.cli_as(&alice_token, &["key", "create", "--user", "admin"]);
    assert_ne!(code, Some(0), "alice made a key for the admin: {err}");
    // The admin's bucket, with one object.
    let (admin_id, admin_secret) = admin_key(&cluster).await;
    assert!(cluster.cli(&["mkdir", "/private"]).0);
    cluster.put(1, "/private/secret.txt", "top secret").await;
    let (ok, out, err) = boto("access.py", &["denied", &s3, id, secret]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cluster.cli(&["acl", "add", "/private", "alice", "r"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = boto("access.py", &["reader", &s3, id, secret]);
    assert!(ok, "{out}{err}");
    // Listed for her and the admin, without secrets; removed, the key stops working.
    let (code, listed, _) = cluster.cli_as(&alice_token, &["key", "list"]);
    assert!(code == Some(0) && listed.contains(id) && !listed.contains(&admin_id), "{listed}");
    let (_, all, _) = cluster.cli(&["key", "list"]);
    assert!(all.contains(id) && all.contains(&admin_id) && !all.contains(secret), "{all}");
    let (code, out, err) = cluster.cli_as(&alice_token, &["key", "rm", &admin_id]);
    assert_ne!(code, Some(0), "alice removed the admin's key: {out}{err}");
    let (code, out, err) = cluster.cli_as(&alice_token, &["key", "rm", id]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (ok, out, err) = boto("access.py", &["refused", &s3, id, secret, &admin_id]);
    assert!(ok, "{out}{err}");
    // The secrets are sealed in the replicated state: no node's raft store holds them.
    for node in 1..=3 {
        let store = std::fs::read(cluster.node(node).config.data_dir.join("raft.redb"))
            .expect("raft store");
        for plain in [secret, admin_secret.as_str()] {
            assert!(!store.windows(plain.len()).any(|w| w == plain.as_bytes()), "n{node}");
        }
    }
}
