//! Attacks: chunks (issue 22, points 1 and 6). A chunk hash must not be a read capability: bob,
//! with no grant on `/archive`, names a chunk of an admin's `/archive` file in a `POST /commit`
//! manifest without sending it, and must be answered as if the cluster lacked it (409
//! `chunks_missing`; `/chunks/missing` lists it) instead of getting the admin's bytes. And a
//! manifest whose whole-file hash does not match its chunks (all sent, or partly reused) is
//! refused with 400 `hash_mismatch`, committing nothing.

use dfs_tests::{client_builder_with_token, random_bytes, ClusterSpec, TestCluster};
use serde_json::{json, Value};

/// Creates user `name` (as the admin) and returns its token.
fn add_user(cluster: &TestCluster, name: &str) -> String {
    let (ok, out, err) = cluster.cli(&["--json", "user", "add", name]);
    assert!(ok, "user add {name}: {err}");
    let answer: Value = serde_json::from_str(out.trim()).expect("--json prints the answer");
    answer["token"].as_str().expect("the new token is shown once").to_owned()
}

/// Sends `method` `path` with `body` to node 1 as `token`: status, JSON answer (or `Null`) and the
/// raw bytes of the answer.
async fn call(
    cluster: &TestCluster,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Vec<u8>,
) -> (u16, Value, Vec<u8>) {
    let http = client_builder_with_token(token).build().expect("client");
    let url = format!("{}{path}", cluster.node(1).url());
    let request = http.request(method, url).header("content-type", "application/json");
    let response = request.body(body).send().await.expect("request");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("answer").to_vec();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), bytes)
}

/// One chunk of a manifest: its bytes and whether they are sent.
struct Part<'a> {
    bytes: &'a [u8],
    sent: bool,
}

fn hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// A `POST /commit` body for `parts` with the whole-file hash `whole` (hex).
fn commit_body(parts: &[Part<'_>], whole: &str) -> Vec<u8> {
    let size: usize = parts.iter().map(|p| p.bytes.len()).sum();
    let chunks: Vec<Value> = parts
        .iter()
        .map(|p| json!({ "hash": hex(p.bytes), "len_bytes": p.bytes.len(), "sent": p.sent }))
        .collect();
    let mut body = json!({ "size_bytes": size, "hash": whole, "chunks": chunks }).to_string();
    body.push('\n');
    let mut body = body.into_bytes();
    for part in parts.iter().filter(|p| p.sent) {
        body.extend_from_slice(part.bytes);
    }
    body
}

/// The correct whole-file hash of `parts`.
fn whole_hash(parts: &[Part<'_>]) -> String {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(part.bytes);
    }
    hasher.finalize().to_hex().to_string()
}

async fn commit(cluster: &TestCluster, token: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let (status, answer, _) =
        call(cluster, token, reqwest::Method::POST, &format!("/commit{path}"), body).await;
    (status, answer)
}

/// The chunks `/chunks/missing` reports to `token` among `asked`.
async fn missing(cluster: &TestCluster, token: &str, asked: &[&[u8]]) -> Vec<String> {
    let ask = json!({ "chunks": asked.iter().map(|b| hex(b)).collect::<Vec<_>>() });
    let (status, answer, _) = call(
        cluster,
        token,
        reqwest::Method::POST,
        "/chunks/missing",
        ask.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let list = answer["missing"].as_array().cloned().unwrap_or_default();
    list.iter().filter_map(|h| h.as_str().map(str::to_owned)).collect()
}

/// GET `path` as `token`: status and bytes.
async fn get(cluster: &TestCluster, token: &str, path: &str) -> (u16, Vec<u8>) {
    let (status, _, bytes) =
        call(cluster, token, reqwest::Method::GET, &format!("/files{path}"), Vec::new()).await;
    (status, bytes)
}

#[tokio::test]
async fn chunk_hashes_are_no_read_capability_and_whole_file_hashes_are_checked() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let admin = dfs_tests::admin_token();
    let bob = add_user(&cluster, "bob");
    for args in [
        &["mkdir", "/archive"][..],
        &["mkdir", "/home/bob"],
        &["acl", "add", "/home/bob", "bob", "w"],
    ] {
        let (ok, _, err) = cluster.cli(args);
        assert!(ok, "{args:?}: {err}");
    }
    // The admin's secret, several chunks long.
    let secret = random_bytes(12_000_000, 22);
    let put = cluster.put(1, "/archive/secret.bin", secret.clone()).await;
    let stat: Value = {
        let (status, answer, _) =
            call(&cluster, &admin, reqwest::Method::GET, "/stat/archive/secret.bin", Vec::new())
                .await;
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let first_len = stat["versions"][0]["chunks"][0]["len_bytes"].as_u64().expect("len") as usize;
    let stolen = &secret[..first_len];
    assert!(first_len < secret.len(), "the secret spans several chunks: {put}");

    // (1) Bob names the admin's chunk without sending it: as if the cluster lacked it.
    let steal = commit_body(&[Part { bytes: stolen, sent: false }], &hex(stolen));
    let (status, answer) = commit(&cluster, &bob, "/home/bob/steal.bin", steal.clone()).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("chunks_missing")),
        "{answer}"
    );
    assert_eq!(answer["error"]["missing"], json!([hex(stolen)]), "{answer}");
    let (status, bytes) = get(&cluster, &bob, "/home/bob/steal.bin").await;
    assert_eq!(status, 404, "nothing committed: {}", String::from_utf8_lossy(&bytes));
    assert_eq!(
        missing(&cluster, &bob, &[stolen]).await,
        [hex(stolen)],
        "bob may not learn it exists"
    );
    assert_eq!(missing(&cluster, &admin, &[stolen]).await, Vec::<String>::new(), "the admin may");

    // Sending the bytes proves possession; a read grant on /archive allows reuse.
    let (ok, _, err) = cluster.cli(&["acl", "add", "/archive", "bob", "r"]);
    assert!(ok, "{err}");
    assert_eq!(missing(&cluster, &bob, &[stolen]).await, Vec::<String>::new(), "now readable");
    let (status, answer) = commit(&cluster, &bob, "/home/bob/steal.bin", steal).await;
    assert_eq!((status, answer["reused_chunks"].as_u64()), (201, Some(1)), "{answer}");
    assert_eq!(get(&cluster, &bob, "/home/bob/steal.bin").await, (200, stolen.to_vec()));

    // (6) A false whole-file hash, every chunk sent: refused, nothing at the path.
    let fresh = random_bytes(40_000, 6);
    let sent = [Part { bytes: &fresh, sent: true }];
    let body = commit_body(&sent, &hex(b"something else"));
    let (status, answer) = commit(&cluster, &bob, "/home/bob/lie.bin", body).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("hash_mismatch")),
        "{answer}"
    );
    assert_eq!(get(&cluster, &bob, "/home/bob/lie.bin").await.0, 404);
    // A false hash with a reused chunk and a sent one: the old version stays.
    let (status, answer) =
        commit(&cluster, &bob, "/home/bob/lie.bin", commit_body(&sent, &whole_hash(&sent))).await;
    assert_eq!((status, answer["version"].as_u64()), (201, Some(1)), "{answer}");
    let mixed = [Part { bytes: stolen, sent: false }, Part { bytes: &fresh, sent: true }];
    let swapped = [Part { bytes: &fresh, sent: true }, Part { bytes: stolen, sent: false }];
    for lie in [hex(b"something else"), whole_hash(&swapped)] {
        let (status, answer) =
            commit(&cluster, &bob, "/home/bob/lie.bin", commit_body(&mixed, &lie)).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("hash_mismatch")),
            "{answer}"
        );
        assert_eq!(get(&cluster, &bob, "/home/bob/lie.bin").await, (200, fresh.clone()));
    }
    // The true hash of the same manifest commits, and reads back whole.
    let (status, answer) =
        commit(&cluster, &bob, "/home/bob/lie.bin", commit_body(&mixed, &whole_hash(&mixed))).await;
    assert_eq!((status, answer["version"].as_u64()), (201, Some(2)), "{answer}");
    let expected: Vec<u8> = stolen.iter().chain(&fresh).copied().collect();
    assert_eq!(get(&cluster, &bob, "/home/bob/lie.bin").await, (200, expected));
    // A size that is not the sum of the chunk lengths is refused too.
    let mut body = commit_body(&sent, &whole_hash(&sent));
    let line_end = body.iter().position(|&b| b == b'\n').expect("a manifest line");
    let line = String::from_utf8_lossy(&body[..line_end])
        .replace(&format!("\"size_bytes\":{}", fresh.len()), "\"size_bytes\":1");
    body.splice(..line_end, line.into_bytes());
    let (status, answer) = commit(&cluster, &bob, "/home/bob/lie.bin", body).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("bad_manifest")), "{answer}");
}
