//! Live directory sync (issue 7 point 5) on 3-node clusters of real processes, with `dfs watch`
//! and `dfs mirror` as their own processes: creates, binary edits, nested folders, renames and
//! deletes reach the mirror; a mirror that was offline catches up; a mass deletion is held until
//! `dfs sync-confirm`; two folders that each run watch + mirror stay equal without loops (version
//! counts stay exact); an edit inside a large file sends only the chunks around it.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dfs_tests::{dfs_bin, random_bytes, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// A `dfs watch` or `dfs mirror` process, killed when dropped; its output goes to a log file.
struct SyncProcess {
    child: Child,
    log: PathBuf,
}

impl SyncProcess {
    fn start(cluster: &TestCluster, args: &[&str], log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(dfs_bin())
            .args(args)
            .env("DFS_NODES", cluster.urls().join(","))
            .env("DFS_TOKEN", dfs_tests::admin_token())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start a dfs sync process");
        Self { child, log }
    }

    fn watch(cluster: &TestCluster, dir: &Path, to: &str, logs: &Path, name: &str) -> Self {
        let dir = dir.display().to_string();
        Self::start(cluster, &["watch", &dir, "--to", to, "--json"], logs.join(name))
    }

    fn mirror(cluster: &TestCluster, from: &str, dir: &Path, logs: &Path, name: &str) -> Self {
        let dir = dir.display().to_string();
        Self::start(cluster, &["mirror", from, &dir, "--json"], logs.join(name))
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SyncProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every synced file under `dir` (the state folder left out): relative path → content.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".dfs-sync") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                let rel = path.strip_prefix(dir).expect("inside").display().to_string();
                out.insert(rel, bytes);
            }
        }
    }
    out
}

/// Waits until `b` holds exactly the files of `a`; on timeout shows the sync processes' logs.
async fn wait_equal(a: &Path, b: &Path, what: &str, procs: &[&SyncProcess]) {
    let equal = || async { (tree(a) == tree(b)).then_some(()) };
    if dfs_tests::poll_until(WAIT, equal).await.is_none() {
        let logs: Vec<String> = procs.iter().map(|p| p.output()).collect();
        let names = |t: BTreeMap<String, Vec<u8>>| t.into_keys().collect::<Vec<_>>();
        panic!(
            "{what}: folders differ after {WAIT:?}: {:?} vs {:?}\nlogs:\n{}",
            names(tree(a)),
            names(tree(b)),
            logs.join("\n----\n")
        );
    }
}

fn write(dir: &Path, rel: &str, body: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, body).expect("write");
}

/// `GET /history/...` on node 1 (any status).
async fn history(cluster: &TestCluster, path: &str) -> (u16, Value) {
    let url = format!("{}/history{path}", cluster.node(1).url());
    let response = cluster.http.get(url).send().await.expect("history");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Whether the cluster serves `path` live with exactly `body`.
async fn cluster_has(cluster: &TestCluster, path: &str, body: &[u8]) -> bool {
    let url = format!("{}/files{path}", cluster.node(1).url());
    match cluster.http.get(url).send().await {
        Ok(r) if r.status() == 200 => r.bytes().await.is_ok_and(|b| b.as_ref() == body),
        _ => false,
    }
}

async fn is_live(cluster: &TestCluster, path: &str) -> bool {
    let (status, value) = history(cluster, path).await;
    status == 200 && value["deleted"] != Value::Bool(true)
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_and_mirror_carry_every_kind_of_change_and_hold_a_mass_delete() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let temp = tempfile::tempdir().expect("temp dir");
    let (a, b, logs) = (temp.path().join("a"), temp.path().join("b"), temp.path().to_path_buf());
    std::fs::create_dir_all(&a).expect("mkdir a");
    write(&a, "before-start.txt", b"already here when the watcher starts");
    let watch = SyncProcess::watch(&cluster, &a, "/s", &logs, "watch.log");
    let mirror = SyncProcess::mirror(&cluster, "/s", &b, &logs, "mirror.log");
    wait_equal(&a, &b, "initial scan", &[&watch, &mirror]).await;

    // Creates: text, binary, nested folders.
    write(&a, "notes.txt", b"hello\n");
    write(&a, "bin/blob.bin", &random_bytes(300_000, 1));
    write(&a, "nested/deep/er/file.bin", &random_bytes(5_000, 2));
    wait_equal(&a, &b, "creates", &[&watch, &mirror]).await;

    // A binary edit, an append.
    write(&a, "bin/blob.bin", &random_bytes(310_000, 3));
    std::fs::OpenOptions::new()
        .append(true)
        .open(a.join("notes.txt"))
        .and_then(|mut f| f.write_all(b"more\n"))
        .expect("append");
    wait_equal(&a, &b, "edits", &[&watch, &mirror]).await;

    // A rename keeps the history (one move in the cluster).
    std::fs::rename(a.join("notes.txt"), a.join("renamed.txt")).expect("rename");
    wait_equal(&a, &b, "file rename", &[&watch, &mirror]).await;
    let (_, moved) = history(&cluster, "/s/renamed.txt").await;
    assert!(moved["versions"].as_array().is_some_and(|v| v.len() >= 2), "history moved: {moved}");
    assert!(!is_live(&cluster, "/s/notes.txt").await, "the old name is gone");

    // A folder rename and a delete.
    std::fs::rename(a.join("bin"), a.join("binaries")).expect("rename folder");
    std::fs::remove_file(a.join("nested/deep/er/file.bin")).expect("delete");
    wait_equal(&a, &b, "folder rename and delete", &[&watch, &mirror]).await;
    let (status, deleted) = history(&cluster, "/s/nested/deep/er/file.bin").await;
    assert_eq!(
        (status, &deleted["deleted"]),
        (200, &Value::Bool(true)),
        "a tombstone keeps history"
    );

    // The mirror goes offline; changes meanwhile arrive when it is back.
    mirror.stop();
    write(&a, "while-offline.bin", &random_bytes(70_000, 4));
    write(&a, "binaries/blob.bin", &random_bytes(20_000, 5));
    std::fs::remove_file(a.join("before-start.txt")).expect("delete");
    wait_for(WAIT, "the watcher to push the offline changes", || async {
        let pushed = cluster_has(&cluster, "/s/while-offline.bin", &random_bytes(70_000, 4)).await
            && cluster_has(&cluster, "/s/binaries/blob.bin", &random_bytes(20_000, 5)).await
            && !is_live(&cluster, "/s/before-start.txt").await;
        pushed.then_some(())
    })
    .await;
    let mirror = SyncProcess::mirror(&cluster, "/s", &b, &logs, "mirror-2.log");
    wait_equal(&a, &b, "mirror catching up", &[&watch, &mirror]).await;

    // A mass deletion is held; confirming it deletes in the cluster.
    for i in 0..8 {
        write(&a, &format!("many/f{i}.txt"), format!("file {i}").as_bytes());
    }
    wait_equal(&a, &b, "many files", &[&watch, &mirror]).await;
    std::fs::remove_dir_all(a.join("many")).expect("rm -r");
    let held = a.join(".dfs-sync/held-deletes.json");
    wait_for(WAIT, "the deletion to be held", || async { held.exists().then_some(()) }).await;
    assert!(watch.output().contains("HELD"), "the watcher says it held deletions");
    assert!(is_live(&cluster, "/s/many/f0.txt").await, "nothing deleted in the cluster yet");
    assert!(b.join("many/f7.txt").exists(), "the mirror keeps the files");
    let (ok, out, err) = cluster.cli(&["sync-confirm", &a.display().to_string()]);
    assert!(ok, "sync-confirm: {out} {err}");
    wait_equal(&a, &b, "confirmed mass deletion", &[&watch, &mirror]).await;
    assert!(!is_live(&cluster, "/s/many/f3.txt").await, "deleted in the cluster");
    assert!(!held.exists(), "nothing held any more");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_folders_with_watch_and_mirror_each_stay_equal_without_loops() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let temp = tempfile::tempdir().expect("temp dir");
    let (a, b, logs) = (temp.path().join("a"), temp.path().join("b"), temp.path().to_path_buf());
    std::fs::create_dir_all(&a).expect("mkdir a");
    std::fs::create_dir_all(&b).expect("mkdir b");
    let procs = [
        SyncProcess::watch(&cluster, &a, "/t", &logs, "a-watch.log"),
        SyncProcess::mirror(&cluster, "/t", &a, &logs, "a-mirror.log"),
        SyncProcess::watch(&cluster, &b, "/t", &logs, "b-watch.log"),
        SyncProcess::mirror(&cluster, "/t", &b, &logs, "b-mirror.log"),
    ];
    let all: Vec<&SyncProcess> = procs.iter().collect();
    write(&a, "from-a.txt", b"written on a");
    write(&b, "dir/from-b.bin", &random_bytes(50_000, 9));
    wait_equal(&a, &b, "files from both sides", &all).await;
    write(&b, "from-a.txt", b"edited on b");
    wait_equal(&a, &b, "an edit on b", &all).await;
    write(&a, "dir/from-b.bin", &random_bytes(60_000, 10));
    wait_equal(&a, &b, "an edit on a", &all).await;
    std::fs::rename(b.join("from-a.txt"), b.join("renamed-on-b.txt")).expect("rename");
    wait_equal(&a, &b, "a rename on b", &all).await;
    std::fs::remove_file(a.join("renamed-on-b.txt")).expect("delete");
    wait_equal(&a, &b, "a delete on a", &all).await;

    // A last file through the whole pipeline: anything still echoing would have shown by then.
    write(&a, "marker.txt", b"last");
    wait_equal(&a, &b, "the marker", &all).await;
    let (_, renamed) = history(&cluster, "/t/renamed-on-b.txt").await;
    let (_, bin) = history(&cluster, "/t/dir/from-b.bin").await;
    let (_, marker) = history(&cluster, "/t/marker.txt").await;
    let count = |h: &Value| h["versions"].as_array().map_or(0, Vec::len);
    assert_eq!(count(&renamed), 2, "created on a, edited on b, nothing echoed: {renamed}");
    assert_eq!(count(&bin), 2, "created on b, edited on a, nothing echoed: {bin}");
    assert_eq!(count(&marker), 1, "{marker}");
    assert_eq!(renamed["deleted"], Value::Bool(true), "the delete on a reached the cluster");
}

/// Sum of `dfs_http_request_bytes_total` for the commit route over every node.
async fn commit_bytes(cluster: &TestCluster) -> u64 {
    let mut total = 0;
    for url in cluster.urls() {
        let text = cluster
            .http
            .get(format!("{url}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        for line in text.lines() {
            if line.starts_with("dfs_http_request_bytes_total") && line.contains("/commit/") {
                let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
                total += value.unwrap_or(0.0) as u64;
            }
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_inside_a_large_file_sends_only_the_chunks_around_it() {
    const SIZE: usize = 48 << 20;
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let temp = tempfile::tempdir().expect("temp dir");
    let (a, logs) = (temp.path().join("a"), temp.path().to_path_buf());
    std::fs::create_dir_all(&a).expect("mkdir a");
    let mut body = random_bytes(SIZE, 11);
    write(&a, "large.bin", &body);
    let watch = SyncProcess::watch(&cluster, &a, "/big", &logs, "watch.log");
    wait_for(WAIT, "the large file in the cluster", || async {
        cluster_has(&cluster, "/big/large.bin", &body).await.then_some(())
    })
    .await;
    let before = commit_bytes(&cluster).await;
    assert!(before >= SIZE as u64, "the first push sent the whole file ({before} bytes)");

    // Overwrite 1 MiB in the middle, in place.
    let edit = random_bytes(1 << 20, 12);
    body[20 << 20..21 << 20].copy_from_slice(&edit);
    let mut file = std::fs::OpenOptions::new().write(true).open(a.join("large.bin")).expect("open");
    file.seek(SeekFrom::Start(20 << 20)).expect("seek");
    file.write_all(&edit).expect("edit");
    drop(file);
    wait_for(WAIT, "the edited file in the cluster", || async {
        cluster_has(&cluster, "/big/large.bin", &body).await.then_some(())
    })
    .await;
    let sent = commit_bytes(&cluster).await - before;
    assert!(
        sent < (SIZE / 4) as u64,
        "an edit of 1 MiB in a 48 MiB file sent {sent} bytes; log:\n{}",
        watch.output()
    );
    let (_, h) = history(&cluster, "/big/large.bin").await;
    assert_eq!(h["versions"].as_array().map(Vec::len), Some(2), "{h}");
}
