//! Attacks: ownership (issue 22, points 5 and 9). `dfs mkdir /home/alice --owner alice` once made
//! `/home` alice's too; alice then granted herself `w` on `/home/bob`, moved it into her home and
//! bob lost his files. Now the missing parents of a mkdir belong to the caller (the admin), an
//! owner's rights stop at a folder owned by someone else, and a move needs write on both parents
//! and ownership of what moves. Also: reverting a deleted file's kept version brings it back, and
//! deleting the root is refused with a clear error.

use dfs_tests::{admin_client_builder, ClusterSpec, TestCluster};
use serde_json::Value;

/// Creates user `name` with `dfs user add` (as the admin) and returns its token.
fn add_user(cluster: &TestCluster, name: &str) -> String {
    let (ok, out, err) = cluster.cli(&["--json", "user", "add", name]);
    assert!(ok, "user add {name}: {err}");
    let answer: Value = serde_json::from_str(out.trim()).expect("--json prints the answer");
    answer["token"].as_str().expect("the new token is shown once").to_owned()
}

/// Runs the CLI as `token` (the admin's for `None`); `Ok(stdout)` or `Err(stderr)`.
fn run(cluster: &TestCluster, token: Option<&str>, args: &[&str]) -> Result<String, String> {
    let (code, out, err) = match token {
        Some(token) => cluster.cli_as(token, args),
        None => cluster.cli_code(args),
    };
    if code == Some(0) {
        Ok(out)
    } else {
        Err(err)
    }
}

/// Asserts the CLI as `token` is refused with `code`, naming `needle` in its message.
fn refused(cluster: &TestCluster, token: Option<&str>, args: &[&str], code: &str, needle: &str) {
    let err = run(cluster, token, args).expect_err(&format!("{args:?} must be refused"));
    assert!(err.contains(&format!("({code})")), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
}

/// `dfs --json acl show PATH` as the admin: the owner.
fn owner(cluster: &TestCluster, path: &str) -> String {
    let out = run(cluster, None, &["--json", "acl", "show", path]).expect("acl show");
    let acl: Value = serde_json::from_str(out.trim()).expect("json");
    acl["owner"].as_str().unwrap_or_default().to_owned()
}

/// Writes `body` to a local file and puts it at `path` as `token`.
fn put(cluster: &TestCluster, token: Option<&str>, path: &str, body: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let local = dir.path().join("body");
    std::fs::write(&local, body).expect("write");
    run(cluster, token, &["put", local.to_str().expect("utf-8"), path]).map(drop)
}

#[tokio::test]
async fn an_owner_cannot_take_over_a_neighbours_folder() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let alice = add_user(&cluster, "alice");
    let bob = add_user(&cluster, "bob");
    let (alice, bob) = (Some(alice.as_str()), Some(bob.as_str()));

    // The README's own example: the missing parent /home is the admin's, only the leaf alice's.
    run(&cluster, None, &["mkdir", "/home/alice", "--owner", "alice"]).expect("mkdir alice");
    run(&cluster, None, &["mkdir", "/home/bob", "--owner", "bob"]).expect("mkdir bob");
    assert_eq!(owner(&cluster, "/home"), "admin", "a missing parent belongs to the caller");
    assert_eq!(owner(&cluster, "/home/alice"), "alice");
    assert_eq!(owner(&cluster, "/home/bob"), "bob");
    put(&cluster, bob, "/home/bob/diary.txt", "bob's diary\n").expect("bob writes");
    put(&cluster, alice, "/home/alice/notes.txt", "alice's notes\n").expect("alice writes");

    // The attack chain: alice grants herself w on /home/bob (or on /home), moves bob's folder
    // into her home, deletes it. Every step is refused and changes nothing.
    let manage = "alice may not manage";
    refused(&cluster, alice, &["acl", "add", "/home/bob", "alice", "w"], "forbidden", manage);
    refused(&cluster, alice, &["acl", "add", "/home", "alice", "w"], "forbidden", manage);
    let mv = ["mv", "/home/bob", "/home/alice/bob"];
    refused(&cluster, alice, &mv, "forbidden", "alice may not");
    refused(&cluster, alice, &["rm", "-r", "/home/bob", "--yes"], "forbidden", "alice may not");
    refused(&cluster, alice, &["get", "/home/bob/diary.txt", "-"], "forbidden", "alice may not");
    assert_eq!(
        run(&cluster, bob, &["get", "/home/bob/diary.txt", "-"]).as_deref(),
        Ok("bob's diary\n"),
        "bob still reads his files"
    );
    let acl = run(&cluster, None, &["--json", "acl", "show", "/home/bob"]).expect("acl show");
    assert!(!acl.contains("alice"), "no grant for alice was recorded: {acl}");

    // A move needs write on the target's parent: bob may not drop his file into alice's home.
    let mv = ["mv", "/home/bob/diary.txt", "/home/alice/diary.txt"];
    refused(&cluster, bob, &mv, "forbidden", "bob may not write /home/alice");
    // ... and write on the source's parent: a file bob owns in a folder he may not write stays.
    run(&cluster, None, &["mkdir", "/drop"]).expect("mkdir /drop");
    run(&cluster, None, &["acl", "add", "/drop", "bob", "w"]).expect("grant");
    put(&cluster, bob, "/drop/bob.txt", "dropped\n").expect("bob writes in /drop");
    run(&cluster, None, &["acl", "rm", "/drop", "bob"]).expect("revoke");
    let mv = ["mv", "/drop/bob.txt", "/home/bob/bob.txt"];
    refused(&cluster, bob, &mv, "forbidden", "bob may not write /drop");
    // ... and ownership of what moves: w on both ends does not let bob move alice's file.
    run(&cluster, alice, &["acl", "add", "/home/alice", "bob", "w"]).expect("alice shares");
    let mv = ["mv", "/home/alice/notes.txt", "/home/alice/mine.txt"];
    refused(&cluster, bob, &mv, "forbidden", "bob may not move /home/alice/notes.txt");
    // With the grant, what bob writes in alice's home stays within alice's reach: the folders
    // he makes there are hers, and she reads his file.
    put(&cluster, bob, "/home/alice/shared/from-bob.txt", "hi\n").expect("bob writes");
    assert_eq!(owner(&cluster, "/home/alice/shared"), "alice");
    assert_eq!(
        run(&cluster, alice, &["get", "/home/alice/shared/from-bob.txt", "-"]).as_deref(),
        Ok("hi\n")
    );
    // The owner still moves what is hers (both parents are hers).
    run(&cluster, alice, &["mv", "/home/alice/notes.txt", "/home/alice/shared/notes.txt"])
        .expect("alice moves her own file");

    // A folder an admin gives bob inside alice's folder is bob's: alice's ownership of the
    // folder above gives her nothing in it, not even through a grant she sets above it.
    run(&cluster, None, &["mkdir", "/home/alice/for-bob", "--owner", "bob"]).expect("mkdir");
    put(&cluster, bob, "/home/alice/for-bob/b.txt", "bob's\n").expect("bob writes");
    run(&cluster, alice, &["acl", "add", "/home/alice", "alice", "w"]).expect("self grant");
    let read = "alice may not read /home/alice/for-bob/b.txt";
    refused(&cluster, alice, &["get", "/home/alice/for-bob/b.txt", "-"], "forbidden", read);
    let grant = ["acl", "add", "/home/alice/for-bob", "alice", "w"];
    refused(&cluster, alice, &grant, "forbidden", manage);
    let mv = ["mv", "/home/alice/for-bob", "/home/alice/taken"];
    refused(&cluster, alice, &mv, "forbidden", "alice may not");
    // Removing or moving her own folder would take bob's with it: refused too.
    refused(&cluster, alice, &["rm", "-r", "/home/alice", "--yes"], "forbidden", "alice may not");
    assert_eq!(
        run(&cluster, bob, &["get", "/home/alice/for-bob/b.txt", "-"]).as_deref(),
        Ok("bob's\n")
    );
}

#[tokio::test]
async fn a_deleted_file_comes_back_by_revert_and_the_root_cannot_be_removed() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    // Revert of a deleted file: its kept version becomes the new, live, latest version.
    put(&cluster, None, "/docs/r.txt", "first\n").expect("v1");
    put(&cluster, None, "/docs/r.txt", "second\n").expect("v2");
    run(&cluster, None, &["rm", "/docs/r.txt"]).expect("rm");
    refused(&cluster, None, &["get", "/docs/r.txt", "-"], "not_found", "/docs/r.txt");
    let out = run(&cluster, None, &["--json", "revert", "/docs/r.txt", "1"]).expect("revert");
    let answer: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!((answer["version"].as_u64(), answer["reverted_to"].as_u64()), (Some(3), Some(1)));
    assert_eq!(run(&cluster, None, &["get", "/docs/r.txt", "-"]).as_deref(), Ok("first\n"));
    let listed = run(&cluster, None, &["ls", "/docs"]).expect("ls");
    assert!(listed.contains("r.txt"), "the file is live again: {listed}");
    // A version that was never kept is still refused.
    run(&cluster, None, &["rm", "/docs/r.txt"]).expect("rm again");
    refused(&cluster, None, &["revert", "/docs/r.txt", "9"], "version_not_found", "9");

    // The root cannot be deleted, with or without -r: a clear refusal, nothing deleted.
    put(&cluster, None, "/keep.txt", "kept\n").expect("put");
    for args in [&["rm", "/"][..], &["rm", "-r", "/", "--yes"], &["rm", "-r", "/"]] {
        refused(&cluster, None, args, "root_immutable", "the root folder");
    }
    let http = admin_client_builder().build().expect("client");
    for query in ["", "?recursive=true"] {
        let url = format!("{}/files{query}", cluster.node(2).url());
        let response = http.delete(url).send().await.expect("delete");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("root_immutable")),
            "{body}"
        );
    }
    assert_eq!(run(&cluster, None, &["get", "/keep.txt", "-"]).as_deref(), Ok("kept\n"));
}
