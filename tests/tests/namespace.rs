//! The namespace as users see it (issue 7, points 1–3), on 3-node clusters of real processes:
//! history, checkpoints and revert; retention pruning with GC deleting only the chunk files no
//! kept version uses; conditional writes naming the current version and `dfs edit` with and
//! without a conflicting write; moving files and folders (readable at the new path through every
//! node, gone at the old one); `dfs rm -r` with `--yes` and its refusal without; paged listings.

use std::process::{Command, Stdio};
use std::time::Duration;

use dfs_runtime::core::ids::{ChunkId, Hash};
use dfs_tests::sse::SseStream;
use dfs_tests::{chunk_file, dfs_bin, random_bytes, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// `dfs put` of `body` to `path` through the CLI; returns the version written.
fn put(cluster: &TestCluster, path: &str, body: &[u8]) -> u64 {
    let local = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(local.path(), body).expect("write local file");
    let (ok, out, err) = cluster.cli(&["put", &local.path().display().to_string(), path, "--json"]);
    assert!(ok, "dfs put {path}: {err}");
    let reply: Value = serde_json::from_str(&out).expect("put prints json");
    reply["version"].as_u64().expect("a version")
}

/// `dfs get PATH - ARGS...`: the bytes, or the error output.
fn cli_get(cluster: &TestCluster, path: &str, args: &[&str]) -> Result<Vec<u8>, String> {
    let nodes = cluster.urls().join(",");
    let output = Command::new(dfs_bin())
        .args(["get", path, "-"])
        .args(args)
        .env("DFS_NODES", nodes)
        .env("DFS_TOKEN", dfs_tests::admin_token())
        .stdin(Stdio::null())
        .output()
        .expect("run dfs get");
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// GET of a file through node `node`: (status, body, `x-dfs-version`).
async fn http_get(cluster: &TestCluster, node: u64, route: &str) -> (u16, Vec<u8>, Option<u64>) {
    let url = format!("{}{route}", cluster.node(node).url());
    let response = cluster.http.get(url).send().await.expect("get reaches the node");
    let status = response.status().as_u16();
    let version = response
        .headers()
        .get("x-dfs-version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, response.bytes().await.expect("body").to_vec(), version)
}

/// The JSON answer of `GET route` on node 1 (any status).
async fn json_at(cluster: &TestCluster, route: &str) -> (u16, Value) {
    let url = format!("{}{route}", cluster.node(1).url());
    let response = cluster.http.get(url).send().await.expect("request reaches the node");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until every node serves `route` with status `status` (and `body`, when given).
async fn every_node_serves(cluster: &TestCluster, route: &str, status: u16, body: Option<&[u8]>) {
    for node in 1..=3 {
        wait_for(WAIT, &format!("n{node} to answer {status} for {route}"), || async move {
            let (got, bytes, _) = http_get(cluster, node, route).await;
            (got == status && body.is_none_or(|b| b == bytes.as_slice())).then_some(())
        })
        .await;
    }
}

fn versions_of(history: &Value) -> Vec<u64> {
    history["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_u64())
        .collect()
}

// ---- history, checkpoints, revert, conditional writes, edit ----------------------------------

#[tokio::test]
async fn history_checkpoints_revert_and_conditional_edits() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    for (n, body) in [b"one\n", b"two\n", b"six\n"].iter().enumerate() {
        assert_eq!(put(&cluster, "/doc.txt", *body), n as u64 + 1);
    }
    let (ok, _, err) = cluster.cli(&["checkpoint", "/doc.txt", "first", "--version", "1"]);
    assert!(ok, "checkpoint: {err}");
    let (ok, _, err) = cluster.cli(&["checkpoint", "/doc.txt", "newest"]);
    assert!(ok, "checkpoint of the latest: {err}");

    // History: every version with its size, hash, author and checkpoint names.
    let (ok, out, err) = cluster.cli(&["history", "/doc.txt", "--json"]);
    assert!(ok, "history: {err}");
    let history: Value = serde_json::from_str(&out).expect("history prints json");
    assert_eq!(versions_of(&history), [1, 2, 3]);
    assert_eq!(history["versions"][0]["checkpoints"], serde_json::json!(["first"]));
    assert_eq!(history["versions"][2]["checkpoints"], serde_json::json!(["newest"]));
    assert_eq!(history["versions"][1]["size_bytes"], 4);
    assert_eq!(history["versions"][1]["hash"], blake3::hash(b"two\n").to_hex().as_str());
    assert_eq!(history["versions"][1]["author"], "admin");
    let (ok, human, _) = cluster.cli(&["history", "/doc.txt"]);
    assert!(ok && human.contains("first") && human.contains("v3"), "{human}");

    // Reads by checkpoint and by version.
    assert_eq!(cli_get(&cluster, "/doc.txt", &["--checkpoint", "first"]), Ok(b"one\n".to_vec()));
    assert_eq!(cli_get(&cluster, "/doc.txt", &["--version", "2"]), Ok(b"two\n".to_vec()));
    let missing = cli_get(&cluster, "/doc.txt", &["--checkpoint", "nope"]).expect_err("no such");
    assert!(missing.contains("checkpoint_not_found"), "{missing}");
    let (status, body) = json_at(&cluster, "/files/doc.txt?checkpoint=nope").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("checkpoint_not_found")));

    // Revert: a new version with the old content; the old versions stay.
    let (ok, _, err) = cluster.cli(&["revert", "/doc.txt", "1"]);
    assert!(ok, "revert: {err}");
    every_node_serves(&cluster, "/files/doc.txt", 200, Some(b"one\n")).await;
    let (_, _, version) = http_get(&cluster, 1, "/files/doc.txt").await;
    assert_eq!(version, Some(4));
    let (ok, _, err) = cluster.cli(&["revert", "/doc.txt", "99"]);
    assert!(!ok && err.contains("version_not_found"), "{err}");
    let (ok, _, err) = cluster.cli(&["checkpoint", "/doc.txt", "first", "--version", "2"]);
    assert!(!ok && err.contains("checkpoint_taken"), "a name is not moved silently: {err}");

    // A conditional write that lost names the current version, in the JSON and the message.
    let url = format!("{}/files/doc.txt", cluster.node(2).url());
    for (header, value) in [("if-match", "2"), ("if-none-match", "*")] {
        let response =
            cluster.http.put(&url).header(header, value).body("x").send().await.expect("put");
        assert_eq!(response.status(), 412, "{header}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "version_conflict");
        assert_eq!(body["error"]["current_version"], 4, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("current version is 4"), "{message}");
    }
    let local = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(local.path(), b"late").expect("write");
    let (ok, _, err) =
        cluster.cli(&["put", &local.path().display().to_string(), "/doc.txt", "--if-version", "3"]);
    assert!(!ok && err.contains("current version is 4"), "{err}");

    // dfs edit: an editor that appends a line makes one new version.
    let edited = edit(&cluster, "/doc.txt", "echo more >> \"$1\"");
    assert!(edited.status.success(), "edit: {}", stderr(&edited));
    assert_eq!(cli_get(&cluster, "/doc.txt", &[]), Ok(b"one\nmore\n".to_vec()));
    let (_, _, version) = http_get(&cluster, 1, "/files/doc.txt").await;
    assert_eq!(version, Some(5));
    // An editor that changes nothing uploads nothing.
    let unchanged = edit(&cluster, "/doc.txt", "true");
    assert!(unchanged.status.success(), "edit: {}", stderr(&unchanged));
    assert!(stderr(&unchanged).contains("unchanged"), "{}", stderr(&unchanged));
    let (_, _, version) = http_get(&cluster, 1, "/files/doc.txt").await;
    assert_eq!(version, Some(5));

    // Someone else writes while the editor is open: the edit is refused and kept.
    let other = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(other.path(), b"theirs\n").expect("write");
    let script = format!(
        "{} put {} /doc.txt >/dev/null && echo mine >> \"$1\"",
        dfs_bin().display(),
        other.path().display()
    );
    let conflict = edit(&cluster, "/doc.txt", &script);
    let message = stderr(&conflict);
    assert!(!conflict.status.success(), "a conflicting edit must fail");
    assert!(message.contains("changed by someone else"), "{message}");
    assert!(message.contains("version 6"), "names the current version: {message}");
    assert_eq!(cli_get(&cluster, "/doc.txt", &[]), Ok(b"theirs\n".to_vec()), "not overwritten");
    let kept = message.rsplit("kept in ").next().expect("names the kept file").trim();
    assert_eq!(std::fs::read(kept).expect("the edit is kept"), b"one\nmore\nmine\n");
    let _ = std::fs::remove_dir_all(std::path::Path::new(kept).parent().expect("its dir"));
}

/// Runs `dfs edit PATH` with `EDITOR` set to a shell script (its `$1` is the file).
fn edit(cluster: &TestCluster, path: &str, script: &str) -> std::process::Output {
    let editor = format!("sh -c '{}' --", script.replace('\'', "'\\''"));
    Command::new(dfs_bin())
        .args(["edit", path])
        .env("DFS_NODES", cluster.urls().join(","))
        .env("DFS_TOKEN", dfs_tests::admin_token())
        .env("EDITOR", editor)
        .stdin(Stdio::null())
        .output()
        .expect("run dfs edit")
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

// ---- move, recursive delete, listings --------------------------------------------------------

#[tokio::test]
async fn move_files_and_folders_and_delete_folders_recursively() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mut events =
        SseStream::open(&cluster.http, &format!("{}/events", cluster.node(3).url()), None).await;
    put(&cluster, "/a/x.txt", b"x1");
    put(&cluster, "/a/x.txt", b"x2");
    put(&cluster, "/a/sub/y.txt", b"y");
    put(&cluster, "/b.txt", b"b");

    // A file moves with its history; missing parents are made.
    let (ok, _, err) = cluster.cli(&["mv", "/b.txt", "/c/d/b.txt"]);
    assert!(ok, "mv file: {err}");
    every_node_serves(&cluster, "/files/c/d/b.txt", 200, Some(b"b")).await;
    every_node_serves(&cluster, "/files/b.txt", 404, None).await;

    // A folder moves with everything under it, versions included.
    let (ok, _, err) = cluster.cli(&["mv", "/a", "/z"]);
    assert!(ok, "mv folder: {err}");
    every_node_serves(&cluster, "/files/z/x.txt", 200, Some(b"x2")).await;
    every_node_serves(&cluster, "/files/z/x.txt?version=1", 200, Some(b"x1")).await;
    every_node_serves(&cluster, "/files/z/sub/y.txt", 200, Some(b"y")).await;
    every_node_serves(&cluster, "/files/a/x.txt", 404, None).await;
    every_node_serves(&cluster, "/list/a", 404, None).await;

    // Refusals name the problem and change nothing.
    for (args, code) in [
        (["mv", "/z", "/z/inner"], "move_into_itself"),
        (["mv", "/z/x.txt", "/c/d/b.txt"], "already_exists"),
        (["mv", "/nothing", "/q"], "not_found"),
        (["mv", "/", "/q"], "root_immutable"),
    ] {
        let (ok, _, err) = cluster.cli(&args);
        assert!(!ok && err.contains(code), "{args:?}: {err}");
    }
    assert_eq!(cli_get(&cluster, "/z/x.txt", &[]), Ok(b"x2".to_vec()));
    let base = cluster.node(1).url();
    for (route, code) in [
        ("/move?from=/z", "bad_move"),
        ("/move?from=/z&to=relative", "invalid_path"),
        ("/checkpoints/z/x.txt", "missing_name"),
        ("/checkpoints/z/x.txt?name=a%2Fb", "invalid_checkpoint_name"),
        ("/revert/z/x.txt", "missing_version"),
    ] {
        let response = cluster.http.post(format!("{base}{route}")).send().await.expect("post");
        assert_eq!(response.status(), 400, "{route}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], code, "{route}");
    }
    every_node_serves(&cluster, "/files/z/x.txt", 200, Some(b"x2")).await;

    // rm -r refuses without a terminal to ask on and without --yes, saying what would go.
    let (ok, _, err) = cluster.cli(&["rm", "-r", "/z"]);
    assert!(!ok && err.contains("--yes"), "{err}");
    assert!(err.contains("2 file(s) and 2 folder(s)"), "{err}");
    assert_eq!(cli_get(&cluster, "/z/sub/y.txt", &[]), Ok(b"y".to_vec()), "nothing deleted");
    let (ok, out, err) = cluster.cli(&["rm", "-r", "/z", "--yes"]);
    assert!(ok, "rm -r --yes: {err}");
    assert!(out.contains("2 file(s), 2 folder(s)"), "{out}");
    every_node_serves(&cluster, "/list/z", 404, None).await;
    every_node_serves(&cluster, "/files/z/sub/y.txt", 404, None).await;
    every_node_serves(&cluster, "/files/c/d/b.txt", 200, Some(b"b")).await;

    // The change feed tells watchers what moved and what a recursive delete removed.
    let mut seen: Vec<(String, Value)> = Vec::new();
    let wanted = |seen: &[(String, Value)]| {
        let has = |kind: &str, field: &str, value: &str| {
            seen.iter().any(|(k, data)| k == kind && data[field] == value)
        };
        has("moved", "from", "/a")
            && has("moved", "to", "/c/d/b.txt")
            && has("file_removed", "path", "/z/x.txt")
            && has("file_removed", "path", "/z/sub/y.txt")
            && has("folder_removed", "path", "/z/sub")
            && has("folder_removed", "path", "/z")
    };
    while !wanted(&seen) {
        let event = events.next(WAIT).await;
        let kind = event.data["kind"].as_str().unwrap_or("").to_owned();
        seen.push((kind, event.data));
    }

    // A listing comes a page at a time; dfs ls follows the pages.
    for i in 0..25 {
        put(&cluster, &format!("/many/f{i:02}"), b"m");
    }
    let (status, first) = json_at(&cluster, "/list/many?limit=10").await;
    assert_eq!(status, 200);
    assert_eq!(first["entries"].as_array().map(Vec::len), Some(10));
    assert_eq!(first["next"], "f09");
    let (_, last) = json_at(&cluster, "/list/many?limit=10&after=f19").await;
    assert_eq!(last["entries"].as_array().map(Vec::len), Some(5));
    assert_eq!(last["next"], Value::Null);
    let (ok, out, err) = cluster.cli(&["ls", "/many", "--page-size", "7", "--json"]);
    assert!(ok, "ls: {err}");
    let listed: Value = serde_json::from_str(&out).expect("ls prints json");
    let names: Vec<&str> = listed["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["path"].as_str())
        .collect();
    let expected: Vec<String> = (0..25).map(|i| format!("/many/f{i:02}")).collect();
    assert_eq!(names, expected);
}

// ---- retention and GC ------------------------------------------------------------------------

/// The chunks of version `version` of `path`, from node 1's `/stat`.
async fn version_chunks(cluster: &TestCluster, path: &str, version: u64) -> Vec<ChunkId> {
    let (_, stat) = json_at(cluster, &format!("/stat{path}")).await;
    let record = stat["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["version"] == version)
        .cloned()
        .unwrap_or(Value::Null);
    let parse = |hex: &str| blake3::Hash::from_hex(hex).map(|h| ChunkId(Hash(*h.as_bytes())));
    let chunks = record["chunks"].as_array().cloned().unwrap_or_default();
    let ids: Vec<ChunkId> = chunks.iter().filter_map(|c| parse(c["hash"].as_str()?).ok()).collect();
    assert!(!ids.is_empty(), "{path} v{version} has chunks");
    ids
}

fn on_every_node(cluster: &TestCluster, chunks: &[ChunkId]) -> bool {
    (1..=3).all(|node| chunks.iter().all(|&id| chunk_file(cluster, node, id).exists()))
}

fn on_no_node(cluster: &TestCluster, chunks: &[ChunkId]) -> bool {
    (1..=3).all(|node| chunks.iter().all(|&id| !chunk_file(cluster, node, id).exists()))
}

#[tokio::test]
async fn retention_prunes_old_versions_and_gc_deletes_only_their_own_chunks() {
    let spec = ClusterSpec { gc_interval_secs: 1, gc_grace_secs: 2, ..ClusterSpec::new(3) };
    let cluster = TestCluster::start(spec).await;
    let (ok, _, err) = cluster.cli(&["retention", "set", "2"]);
    assert!(ok, "retention set: {err}");
    // Bad settings are refused and change nothing.
    for bad in
        ["{\"keep_versions\": -1}", "{\"keep\": 3}", "not json", "{\"keep_versions\": 5000000000}"]
    {
        let url = format!("{}/settings/retention", cluster.node(2).url());
        let response = cluster.http.put(url).body(bad).send().await.expect("put");
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "bad_retention", "{bad}");
    }
    let (_, setting) = json_at(&cluster, "/settings/retention").await;
    assert_eq!(setting["keep_versions"], 2);
    let body = |seed: u64| random_bytes(2 << 20, seed);

    // /shared has the same content as /r's v2: those chunks are stored once and stay.
    put(&cluster, "/shared", &body(2));
    let shared = version_chunks(&cluster, "/shared", 1).await;
    let mut v3 = Vec::new();
    for seed in 1..=5 {
        assert_eq!(put(&cluster, "/r", &body(seed)), seed);
        if seed == 1 {
            let (ok, _, err) = cluster.cli(&["checkpoint", "/r", "keep"]);
            assert!(ok, "checkpoint: {err}");
        }
        if seed == 3 {
            // The chunks of v2 and v3, read before retention drops the versions.
            assert_eq!(version_chunks(&cluster, "/r", 2).await, shared, "stored once");
            v3 = version_chunks(&cluster, "/r", 3).await;
            assert!(on_every_node(&cluster, &v3));
        }
    }

    // v1 is checkpointed, v4 and v5 are the newest two: v2 and v3 are gone.
    let (_, history) = json_at(&cluster, "/history/r").await;
    assert_eq!(versions_of(&history), [1, 4, 5]);
    for pruned in [2, 3] {
        let (status, body) = json_at(&cluster, &format!("/files/r?version={pruned}")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("version_not_found")));
    }

    // GC deletes v3's chunk files everywhere, and keeps the ones /shared still uses.
    wait_for(WAIT, "GC to delete the pruned version's chunks on every node", || async {
        on_no_node(&cluster, &v3).then_some(())
    })
    .await;
    assert!(on_every_node(&cluster, &shared), "chunks another file uses stay");
    let mut kept = Vec::new();
    for version in [1, 4, 5] {
        kept.extend(version_chunks(&cluster, "/r", version).await);
    }
    assert!(on_every_node(&cluster, &kept), "chunks of kept versions stay");
    assert_eq!(cli_get(&cluster, "/r", &["--checkpoint", "keep"]), Ok(body(1)));
    assert_eq!(cli_get(&cluster, "/r", &[]), Ok(body(5)));
    assert_eq!(cli_get(&cluster, "/shared", &[]), Ok(body(2)));
}
