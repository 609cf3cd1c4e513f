//! The S3 client (issue 18 point 11): SigV4-signed requests to the nodes' S3 listeners with a key
//! made through the API. Objects of bucket [`PLAIN`] are written only by multipart uploads
//! (Create, one or two parts, Complete) and never deleted, so every completed object must read
//! back byte-exact at the end (durability). Objects of bucket [`VERSIONED`] (versioning
//! enabled) see PutObject and DeleteObject, which leaves a delete marker; reads go through S3 or
//! the native API of random nodes. Every call lands in the same per-path history as the native
//! workload's, so the linearizability checker judges S3 writes, delete markers and reads
//! together: a marker must hide the object on every node. It draws from its own stream of the
//! seed.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderName, Method};
use bytes::Bytes;
use dfs_runtime::s3::sign::{self, Signer, UNSIGNED_PAYLOAD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::user::{self, pause};
use super::CALL_TIMEOUT;
use crate::client::{self, Answer};
use crate::history::{Call, History, Op, Return};
use crate::trace::Trace;

/// Port of every node's S3 listener.
pub const S3_PORT: u16 = 9000;
/// The bucket written by multipart uploads only (never deleted).
pub const PLAIN: &str = "sim-mp";
/// The versioned bucket: puts, deletes (markers) and reads.
pub const VERSIONED: &str = "sim-vb";
/// Objects per bucket.
const KEYS: usize = 2;
/// The client's number in the history.
pub const CLIENT: u32 = 100;
/// How long after the faults end an upload begun before may still finish (or be aborted), so
/// none is left holding part chunks the collector may not take.
const FINISH_GRACE: Duration = Duration::from_secs(20);

/// The dfs paths of every object the client touches.
pub fn paths() -> Vec<String> {
    [PLAIN, VERSIONED]
        .iter()
        .flat_map(|bucket| (0..KEYS).map(move |i| format!("/{bucket}/k{i}")))
        .collect()
}

/// Signs and sends S3 requests.
struct S3 {
    signer: Signer,
}

impl S3 {
    /// `method` on `path` (`/bucket/key`) with `query` at `node`'s S3 listener.
    async fn call(
        &self,
        node: SocketAddr,
        method: Method,
        path: &str,
        query: &str,
        body: Bytes,
    ) -> Result<Answer, String> {
        // s3s checks the signature's date against the real clock, not the simulated one.
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let amz_date = sign::amz_date(now);
        let host = node.to_string();
        let request = sign::Request {
            method: method.as_str(),
            path,
            query,
            headers: &[("host", &host), ("x-amz-content-sha256", UNSIGNED_PAYLOAD)],
            payload_hash: UNSIGNED_PAYLOAD,
            amz_date: &amz_date,
        };
        let headers = vec![
            (HeaderName::from_static("authorization"), self.signer.authorization(&request)),
            (HeaderName::from_static("x-amz-date"), amz_date),
            (HeaderName::from_static("x-amz-content-sha256"), UNSIGNED_PAYLOAD.to_owned()),
        ];
        let url = if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") };
        client::send(node, method, &url, headers, body, CALL_TIMEOUT).await
    }
}

/// The client's run: setup, then operations until `until`; an upload under way then finishes.
pub async fn client(
    seed: u64,
    nodes: Vec<SocketAddr>,
    until: Duration,
    history: Rc<RefCell<History>>,
    trace: Trace,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0053_335f_636c_6965);
    let s3_nodes: Vec<SocketAddr> =
        nodes.iter().map(|n| SocketAddr::new(n.ip(), S3_PORT)).collect();
    let Some(s3) = setup(&mut rng, &nodes, &s3_nodes, until, &trace).await else {
        trace.line("s3: setup did not finish before the faults ended");
        return;
    };
    let mut seq = 0u64;
    while crate::now() < until {
        seq += 1;
        let key = rng.gen_range(0..KEYS);
        let roll = rng.gen_range(0..100);
        let s3_node = s3_nodes[rng.gen_range(0..s3_nodes.len())];
        let op = match roll {
            0..=29 => multipart(&s3, &mut rng, &s3_nodes, &format!("/{PLAIN}/k{key}"), until).await,
            30..=54 => {
                let path = format!("/{VERSIONED}/k{key}");
                let body = user::random_body(&mut rng, 16 * 1024);
                put(&s3, s3_node, &path, body).await
            }
            55..=69 => remove(&s3, s3_node, &format!("/{VERSIONED}/k{key}")).await,
            _ => {
                let bucket = if rng.gen_bool(0.5) { PLAIN } else { VERSIONED };
                let path = format!("/{bucket}/k{key}");
                if rng.gen_bool(0.5) {
                    read(&s3, s3_node, &path).await
                } else {
                    native_read(nodes[rng.gen_range(0..nodes.len())], &path).await
                }
            }
        };
        if let Some((op, parts)) = op {
            if let Return::Written(version) = op.ret {
                judge(&history, &op.path, version, &parts);
            }
            let kind = if roll < 30 { "multipart " } else { "" };
            trace.line(format!(
                "s3 {kind}{} {} -> {}",
                super::call_name(&op.call),
                op.path,
                super::ret_text(&op.ret)
            ));
            history.borrow_mut().ops.push(op);
        }
        let think = Duration::from_millis(rng.gen_range(5..150));
        tokio::time::sleep(think).await;
    }
    trace.line(format!("s3: {seq} operations"));
}

/// A key for the admin (made through the native API), then both buckets, the second with
/// versioning enabled, retrying through random nodes; `None` if `until` came first.
async fn setup(
    rng: &mut ChaCha8Rng,
    nodes: &[SocketAddr],
    s3_nodes: &[SocketAddr],
    until: Duration,
    trace: &Trace,
) -> Option<S3> {
    let signer = loop {
        let node = nodes[rng.gen_range(0..nodes.len())];
        if let Ok(answer) = user::admin(node, Method::POST, "/keys", Bytes::new()).await {
            let json = answer.json();
            if let (201, Some(id), Some(secret)) =
                (answer.status, json["id"].as_str(), json["secret"].as_str())
            {
                let (key_id, secret) = (id.to_owned(), secret.to_owned());
                break Signer { key_id, secret, region: "dfs".to_owned() };
            }
        }
        pause(until).await?;
    };
    let s3 = S3 { signer };
    let versioning = Bytes::from_static(
        b"<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
          <Status>Enabled</Status></VersioningConfiguration>",
    );
    let steps = [
        (format!("/{PLAIN}"), "", Bytes::new()),
        (format!("/{VERSIONED}"), "", Bytes::new()),
        (format!("/{VERSIONED}"), "versioning", versioning),
    ];
    for (path, query, body) in steps {
        loop {
            let node = s3_nodes[rng.gen_range(0..s3_nodes.len())];
            let answer = s3.call(node, Method::PUT, &path, query, body.clone()).await;
            // An earlier attempt whose answer was lost made the bucket.
            let made = |a: &Answer| a.status == 200 || (a.status == 409 && query.is_empty());
            if answer.is_ok_and(|a| made(&a)) {
                break;
            }
            pause(until).await?;
        }
    }
    trace.line(format!("s3: key ready, buckets {PLAIN} and {VERSIONED} (versioned)"));
    Some(s3)
}

/// The version an S3 answer names (`x-amz-version-id`: a dfs version number).
fn version_of(answer: &Answer) -> Option<u64> {
    answer.header("x-amz-version-id").and_then(|v| v.parse().ok())
}

/// The text of the first `<tag>` element of an XML body.
fn element(body: &[u8], tag: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some(text[start..end].to_owned())
}

/// An operation on `path` sent at `invoked`, answered with `ret`.
fn op(path: &str, call: Call, invoked: Duration, ret: Return) -> Op {
    let completed = (ret != Return::Unknown).then(crate::now);
    Op { client: CLIENT, path: path.to_owned(), call, invoked, completed, ret }
}

/// The history's put of `body`.
fn put_call(body: &[u8]) -> Call {
    Call::Put { hash: blake3::hash(body).to_hex().to_string(), size: body.len() }
}

/// Records the write-quorum check of an acknowledged write whose parts are `parts`.
fn judge(history: &Rc<RefCell<History>>, path: &str, version: u64, parts: &[Bytes]) {
    let short = crate::check::quorum::judge_parts(path, version, parts);
    let mut history = history.borrow_mut();
    history.acks_judged += 1;
    history.short_acks.extend(short);
}

/// PutObject of `body` to `path`.
async fn put(s3: &S3, node: SocketAddr, path: &str, body: Bytes) -> Option<(Op, Vec<Bytes>)> {
    let (call, invoked) = (put_call(&body), crate::now());
    let ret = match s3.call(node, Method::PUT, path, "", body.clone()).await {
        Ok(answer) if answer.status == 200 => {
            version_of(&answer).map_or(Return::Unknown, Return::Written)
        }
        // An error answer may come after the write was proposed.
        _ => Return::Unknown,
    };
    Some((op(path, call, invoked, ret), vec![body]))
}

/// DeleteObject of `path` (a delete marker in the versioned bucket): 204 whether or not the
/// object was there.
async fn remove(s3: &S3, node: SocketAddr, path: &str) -> Option<(Op, Vec<Bytes>)> {
    let invoked = crate::now();
    let ret = match s3.call(node, Method::DELETE, path, "", Bytes::new()).await {
        Ok(answer) if answer.status == 204 || answer.status == 200 => Return::Deleted,
        _ => Return::Unknown,
    };
    Some((op(path, Call::Remove, invoked, ret), Vec::new()))
}

/// GetObject of `path`: the version and the hash of the bytes served, or absent (`NoSuchKey`,
/// a delete marker included).
async fn read(s3: &S3, node: SocketAddr, path: &str) -> Option<(Op, Vec<Bytes>)> {
    let invoked = crate::now();
    let ret = match s3.call(node, Method::GET, path, "", Bytes::new()).await {
        Ok(answer) if answer.status == 200 => match version_of(&answer) {
            Some(v) => Return::Value(v, blake3::hash(&answer.body).to_hex().to_string()),
            None => Return::Unknown,
        },
        Ok(answer) if answer.status == 404 => Return::Absent,
        _ => Return::Unknown,
    };
    Some((op(path, Call::Read, invoked, ret), Vec::new()))
}

/// A default read of `path` through the native API.
async fn native_read(node: SocketAddr, path: &str) -> Option<(Op, Vec<Bytes>)> {
    let invoked = crate::now();
    let ret = super::perform(node, path, &Call::Read, Bytes::new()).await;
    Some((op(path, Call::Read, invoked, ret), Vec::new()))
}

/// A multipart upload to `path`: one small part, or a full-size part and a small one. Parts
/// are retried; an upload whose parts did not all land is aborted. Only the Complete is an
/// operation on the path (retried until answered: a retry of an applied Complete gets the first
/// answer); `None` when no Complete was sent. With the operation, the parts written.
async fn multipart(
    s3: &S3,
    rng: &mut ChaCha8Rng,
    nodes: &[SocketAddr],
    path: &str,
    until: Duration,
) -> Option<(Op, Vec<Bytes>)> {
    let finish_by = until + FINISH_GRACE;
    let node = nodes[rng.gen_range(0..nodes.len())];
    let created = s3.call(node, Method::POST, path, "uploads", Bytes::new()).await.ok()?;
    let upload = element(&created.body, "UploadId").filter(|_| created.status == 200)?;
    let big = rng.gen_bool(0.15);
    let mut parts = Vec::new();
    if big {
        let mut first = vec![0u8; dfs_core::s3::multipart::PART_BYTES_MIN as usize];
        rng.fill(&mut first[..]);
        parts.push(Bytes::from(first));
    }
    parts.push(user::random_body(rng, 64 * 1024));
    let mut etags = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let query = format!("partNumber={}&uploadId={upload}", i + 1);
        let mut etag = None;
        for _ in 0..3 {
            let node = nodes[rng.gen_range(0..nodes.len())];
            if let Ok(answer) = s3.call(node, Method::PUT, path, &query, part.clone()).await {
                if answer.status == 200 {
                    etag = answer.header("etag").map(str::to_owned);
                    break;
                }
            }
        }
        let Some(etag) = etag else {
            abort(s3, rng, nodes, path, &upload, finish_by).await;
            return None;
        };
        etags.push(etag);
    }
    let listed: String = etags
        .iter()
        .enumerate()
        .map(|(i, etag)| {
            format!("<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>", i + 1)
        })
        .collect();
    let body = Bytes::from(format!("<CompleteMultipartUpload>{listed}</CompleteMultipartUpload>"));
    let whole: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let (call, invoked) = (put_call(&whole), crate::now());
    let query = format!("uploadId={upload}");
    let ret = loop {
        let node = nodes[rng.gen_range(0..nodes.len())];
        match s3.call(node, Method::POST, path, &query, body.clone()).await {
            Ok(answer) if answer.status == 200 && element(&answer.body, "Code").is_none() => {
                break version_of(&answer).map_or(Return::Unknown, Return::Written);
            }
            // The upload is gone and no first answer is remembered: nothing more to learn.
            Ok(answer) if answer.status == 404 => break Return::Unknown,
            _ if crate::now() >= finish_by => break Return::Unknown,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    Some((op(path, call, invoked, ret), parts))
}

/// Aborts `upload`, retrying until a node answers or `finish_by`.
async fn abort(
    s3: &S3,
    rng: &mut ChaCha8Rng,
    nodes: &[SocketAddr],
    path: &str,
    upload: &str,
    finish_by: Duration,
) {
    let query = format!("uploadId={upload}");
    while crate::now() < finish_by {
        let node = nodes[rng.gen_range(0..nodes.len())];
        let answer = s3.call(node, Method::DELETE, path, &query, Bytes::new()).await;
        if answer.is_ok_and(|a| a.status == 204 || a.status == 404) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
