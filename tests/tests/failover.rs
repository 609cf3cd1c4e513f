//! Leader failover end to end (issue 4, point 2; DESIGN §2 "failover"): while the raft leader of
//! a 3-node cluster is killed with SIGKILL, a reader given every node's address (over HTTP, and
//! through `dfs get`) never fails; a new leader with a higher term takes writes, from clients that
//! replay with an idempotency key; the old leader comes back and catches up. A download cut off by
//! a dying node resumes from another one. No timings are asserted (DESIGN §4 is `dfs bench
//! failover`'s job); every wait is on a condition with a generous deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dfs_tests::{dfs_bin, random_bytes, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SEED: &str = "/failover/seed.bin";
/// How long conditions that hinge on an election or a restart may take before the test fails.
const LIMIT: Duration = Duration::from_secs(30);

/// What a reader saw: reads served, and why each failed read failed.
#[derive(Default)]
struct Reads {
    served: usize,
    failed: Vec<String>,
}

/// A client's HTTP connection settings: a dead node refuses at once on loopback.
fn client() -> reqwest::Client {
    dfs_tests::admin_client_builder()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// One read of `path`, starting at node `first` and moving on past nodes that fail it.
async fn read_with_failover(
    http: &reqwest::Client,
    urls: &[String],
    first: usize,
    path: &str,
) -> Result<Vec<u8>, String> {
    let mut why = Vec::new();
    for k in 0..urls.len() {
        let url = format!("{}/files{path}", urls[(first + k) % urls.len()]);
        match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(body) => return Ok(body.to_vec()),
                Err(e) => why.push(format!("{url}: body cut off: {e}")),
            },
            Ok(r) => why.push(format!("{url}: status {}", r.status())),
            Err(e) => why.push(format!("{url}: {e}")),
        }
    }
    Err(why.join("; "))
}

/// One pass of a put over every node, as a failing-over client does it: the same
/// `Idempotency-Key` on each, moving on after a connection error, 503 or 504.
async fn put_with_failover(
    http: &reqwest::Client,
    urls: &[String],
    path: &str,
    body: &[u8],
) -> Option<Value> {
    for url in urls {
        let request = http
            .put(format!("{url}/files{path}"))
            .header("idempotency-key", format!("failover-test{path}"))
            .body(body.to_vec());
        match request.send().await {
            Ok(r) if r.status() == 201 => return r.json().await.ok(),
            Ok(r) if matches!(r.status().as_u16(), 503 | 504) => {}
            Ok(r) => panic!("put {path} through {url} refused: {}", r.status()),
            Err(_) => {}
        }
    }
    None
}

/// Reads the seed over HTTP, each read starting at the next node, until `stop`.
fn http_reader(
    urls: Vec<String>,
    seed: Arc<Vec<u8>>,
    stop: Arc<AtomicBool>,
    reads: Arc<Mutex<Reads>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = client();
        let mut first = 0;
        // At most one read per 5 ms, so the readers do not starve the nodes of CPU.
        let mut pace = tokio::time::interval(Duration::from_millis(5));
        while !stop.load(Ordering::Relaxed) {
            pace.tick().await;
            let read = read_with_failover(&http, &urls, first, SEED).await;
            record(
                &reads,
                match read {
                    Ok(body) if body == *seed => Ok(()),
                    Ok(body) => Err(format!("{} bytes that are not the seed", body.len())),
                    Err(why) => Err(why),
                },
            );
            first += 1;
        }
    })
}

/// Runs `dfs get SEED -` with every node's address (each time starting at the next node) until
/// `stop`.
fn cli_reader(
    urls: Vec<String>,
    seed: Arc<Vec<u8>>,
    stop: Arc<AtomicBool>,
    reads: Arc<Mutex<Reads>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut first = 0;
        while !stop.load(Ordering::Relaxed) {
            let order: Vec<&str> =
                (0..urls.len()).map(|k| urls[(first + k) % urls.len()].as_str()).collect();
            let read = match dfs_get(SEED, &order).await {
                Ok(out) if out == *seed => Ok(()),
                Ok(out) => Err(format!("dfs get wrote {} bytes that are not the seed", out.len())),
                Err(why) => Err(why),
            };
            record(&reads, read);
            first += 1;
        }
    })
}

/// `dfs get PATH -` with `nodes` as DFS_NODES: its stdout, or why it failed (or hung).
async fn dfs_get(path: &str, nodes: &[&str]) -> Result<Vec<u8>, String> {
    let run = tokio::process::Command::new(dfs_bin())
        .args(["get", path, "-"])
        .env("DFS_NODES", nodes.join(","))
        .env("DFS_TOKEN", dfs_tests::admin_token())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(LIMIT, run).await {
        Ok(Ok(output)) if output.status.success() => Ok(output.stdout),
        Ok(Ok(output)) => Err(format!(
            "dfs get failed ({} bytes out): {}",
            output.stdout.len(),
            String::from_utf8_lossy(&output.stderr)
        )),
        Ok(Err(error)) => panic!("cannot run dfs: {error}"),
        Err(_) => Err(format!("dfs get hung for {LIMIT:?}")),
    }
}

fn record(reads: &Mutex<Reads>, read: Result<(), String>) {
    let mut reads = reads.lock().expect("reads lock");
    match read {
        Ok(()) => reads.served += 1,
        Err(why) => reads.failed.push(why),
    }
}

fn served(reads: &Mutex<Reads>) -> usize {
    reads.lock().expect("reads lock").served
}

/// Waits until each reader has served `more` reads beyond what it had served before.
async fn readers_progress(readers: &[&Arc<Mutex<Reads>>], more: usize, what: &str) {
    let before: Vec<usize> = readers.iter().map(|r| served(r)).collect();
    wait_for(LIMIT, what, || async {
        readers.iter().zip(&before).all(|(r, b)| served(r) >= b + more).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_fails_no_read_and_a_new_leader_takes_writes() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    let http = client();
    let seed = Arc::new(random_bytes(300_000, 11));
    let reply =
        wait_for(LIMIT, "the seed to be written", || put_with_failover(&http, &urls, SEED, &seed))
            .await;
    let index = reply["index"].as_u64().expect("the put says its index");
    for id in 1..=3 {
        cluster.wait_for_applied(id, index).await;
    }
    let before = cluster.health(1).await.expect("n1 answers");
    let (old_leader, old_term) =
        (before["leader"].as_u64().expect("a leader"), before["term"].as_u64().expect("a term"));

    let stop = Arc::new(AtomicBool::new(false));
    let (http_reads, cli_reads) = (Arc::default(), Arc::default());
    let readers = [
        http_reader(urls.clone(), seed.clone(), stop.clone(), Arc::clone(&http_reads)),
        cli_reader(urls.clone(), seed.clone(), stop.clone(), Arc::clone(&cli_reads)),
    ];
    readers_progress(&[&http_reads, &cli_reads], 2, "both readers to be reading").await;

    cluster.kill9(old_leader);
    let survivors: Vec<u64> = (1..=3).filter(|&n| n != old_leader).collect();
    let (new_leader, new_term) = wait_for(LIMIT, "a new leader with a higher term", || async {
        for &id in &survivors {
            let health = cluster.health(id).await?;
            let (leader, term) = (health["leader"].as_u64()?, health["term"].as_u64()?);
            let leads = cluster
                .health(leader)
                .await
                .is_some_and(|h| h["role"] == "leader" && h["term"] == term);
            if leader != old_leader && term > old_term && leads {
                return Some((leader, term));
            }
        }
        None
    })
    .await;
    assert!(survivors.contains(&new_leader));

    // A write after the kill succeeds, through a client that still lists the dead node.
    let after = b"written after the leader died".to_vec();
    let reply = wait_for(LIMIT, "a write after the kill", || {
        put_with_failover(&http, &urls, "/failover/after-kill", &after)
    })
    .await;
    assert_eq!(reply["version"], 1, "one version, however many attempts it took");
    let local = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(local.path(), b"put by the cli after the kill").expect("write");
    let (ok, _, err) =
        cluster.cli(&["put", &local.path().display().to_string(), "/failover/after-kill-cli"]);
    assert!(ok, "dfs put with every node's address fails over past the dead leader: {err}");
    readers_progress(&[&http_reads, &cli_reads], 3, "both readers to read past the election").await;

    // The old leader comes back, learns the new term and catches up.
    cluster.restart(old_leader).await;
    let commit = cluster
        .health(new_leader)
        .await
        .and_then(|h| h["commit_index"].as_u64())
        .expect("commit index");
    cluster.wait_for_applied(old_leader, commit).await;
    let back = cluster.health(old_leader).await.expect("the old leader answers");
    assert!(back["term"].as_u64() >= Some(new_term), "it learned the new term: {back}");
    let read = read_with_failover(
        &http,
        &urls[old_leader as usize - 1..old_leader as usize],
        0,
        "/failover/after-kill",
    )
    .await;
    assert_eq!(
        read.as_deref(),
        Ok(&after[..]),
        "the old leader serves what was written while it was dead"
    );
    readers_progress(&[&http_reads, &cli_reads], 3, "both readers to read past the restart").await;

    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader task");
    }
    for (name, reads) in [("http", &http_reads), ("dfs get", &cli_reads)] {
        let reads = reads.lock().expect("reads lock");
        assert!(
            reads.failed.is_empty(),
            "{name} reader: {} of {} reads failed, e.g. {}",
            reads.failed.len(),
            reads.served + reads.failed.len(),
            reads.failed[0]
        );
    }
}

/// Serves one GET like a node that dies part way through the body: the real headers of version 1,
/// half of `body`, then a closed connection.
async fn dying_node(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let hash = blake3::hash(&body).to_hex().to_string();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-dfs-version: 1\r\nx-dfs-blake3: {hash}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body[..body.len() / 2]).await;
            let _ = stream.flush().await;
            drop(stream);
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_download_cut_off_by_a_dying_node_resumes_from_another() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let body = random_bytes(200_000, 12);
    let local = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(local.path(), &body).expect("write");
    let (ok, _, err) = cluster.cli(&["put", &local.path().display().to_string(), "/resume.bin"]);
    assert!(ok, "put: {err}");
    let dying = dying_node(body.clone()).await;
    let mut nodes = vec![dying];
    nodes.extend(cluster.nodes.iter().map(|n| n.url()));
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let out = dfs_get("/resume.bin", &nodes).await;
    assert!(out == Ok(body), "dfs get resumes byte-exact: {:?}", out.map(|o| o.len()));
}
