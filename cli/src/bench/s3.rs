//! `dfs bench s3` (issue 18 point 10): a local 3-node cluster (RF 3, majority quorum), the same
//! shapes through the native API and through the S3 listener in the same run, each S3 figure
//! printed with its ratio to the native one (DESIGN §4 target: ≥ 0.8 × on every shape):
//! small PUT and GET (1,000 × 4 KiB, 8 in flight), large PUT and GET (8 × 64 MiB, 4 in flight),
//! and LIST of 1,000 keys (one page; repeated). S3 requests are SigV4-signed ([`sigv4`],
//! `UNSIGNED-PAYLOAD` bodies) with an admin key made for the run. Both sides spread requests
//! over the three nodes the same way, and write different bytes (no chunk is shared).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};

use crate::dev_cluster::{self, Started};
use dfs_runtime::s3::sign::{self as sigv4, Signer, UNSIGNED_PAYLOAD};

/// Options of `dfs bench s3` (the defaults are the shapes).
#[derive(Debug, clap::Args)]
pub struct S3BenchArgs {
    /// How many 4 KiB objects to PUT and GET.
    #[arg(long, default_value_t = 1000)]
    pub small_files: usize,
    /// Requests in flight for the small objects.
    #[arg(long, default_value_t = 8)]
    pub small_concurrency: usize,
    /// How many large objects to PUT and GET.
    #[arg(long, default_value_t = 8)]
    pub large_files: usize,
    /// Size of each large object, in MiB.
    #[arg(long, default_value_t = 64)]
    pub large_mib: usize,
    /// Requests in flight for the large objects.
    #[arg(long, default_value_t = 4)]
    pub large_concurrency: usize,
    /// How many times the LIST of the small objects (one page, at most 1,000 keys) runs.
    #[arg(long, default_value_t = 20)]
    pub lists: usize,
}

/// The bucket (a top-level folder) the S3 side writes, and the folder of the native side.
const BUCKET: &str = "bench-s3";
const NATIVE: &str = "bench-native";

/// Runs the benchmark and prints each shape, native and S3, with the ratio.
pub async fn run(args: S3BenchArgs, json_out: bool) -> anyhow::Result<()> {
    if args.small_files == 0 || args.large_files == 0 || args.lists == 0 {
        bail!("--small-files, --large-files and --lists must be at least 1");
    }
    let dir = super::tempfile_dir()?;
    let configs = dev_cluster::configs(&dir.join("cluster"), 3)?;
    let exe = std::env::current_exe().context("locating the dfs binary")?;
    let mut nodes = Vec::new();
    for config in configs {
        let child = dev_cluster::spawn(&exe, &config)?;
        nodes.push(Started { config, child });
    }
    let result = measure(&mut nodes, &args).await;
    dev_cluster::stop(&mut nodes).await;
    let report = result.map_err(|e| e.context(format!("logs kept in {}", dir.display())))?;
    let _ = std::fs::remove_dir_all(&dir);
    crate::commands::print(json_out, &report, |out| print_table(out, &report))
}

/// Attempts per request: the first and up to two retries of a 503/504.
const ATTEMPTS_MAX: usize = 3;

/// The two sides' clients: the native API's and the S3 listener's.
#[derive(Clone)]
struct Sides {
    /// Requests retried after a 503/504 (each side counts its own).
    retries: Arc<AtomicUsize>,
    http: reqwest::Client,
    native: Vec<String>,
    s3: Vec<String>,
    signer: Signer,
}

/// One operation of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Put,
    Get,
}

impl Sides {
    /// A request to the S3 listener of node `at`, signed.
    fn s3(
        &self,
        at: usize,
        method: reqwest::Method,
        path: &str,
        query: &str,
    ) -> reqwest::RequestBuilder {
        let endpoint = &self.s3[at % self.s3.len()];
        let host = endpoint.trim_start_matches("http://");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let amz_date = sigv4::amz_date(now);
        let request = sigv4::Request {
            method: method.as_str(),
            path,
            query,
            headers: &[("host", host), ("x-amz-content-sha256", UNSIGNED_PAYLOAD)],
            payload_hash: UNSIGNED_PAYLOAD,
            amz_date: &amz_date,
        };
        let authorization = self.signer.authorization(&request);
        let url = if query.is_empty() {
            format!("{endpoint}{path}")
        } else {
            format!("{endpoint}{path}?{query}")
        };
        self.http
            .request(method, url)
            .header("x-amz-date", amz_date)
            .header("x-amz-content-sha256", UNSIGNED_PAYLOAD)
            .header("authorization", authorization)
    }

    /// The request for object `name` (below `kind/`) on one side.
    fn object(&self, s3: bool, at: usize, op: Op, name: &str) -> reqwest::RequestBuilder {
        let method = match op {
            Op::Put => reqwest::Method::PUT,
            Op::Get => reqwest::Method::GET,
        };
        if s3 {
            let path = format!("/{BUCKET}/{}", sigv4::uri_encode(name, true));
            self.s3(at, method, &path, "")
        } else {
            let url = format!("{}/files/{NATIVE}/{name}", self.native[at % self.native.len()]);
            self.http.request(method, url)
        }
    }
}

/// `count` requests, `in_flight` at a time, each PUT (with its body) or GET (read whole):
/// (requests/s, bytes moved/s in MB).
async fn run_shape(
    sides: &Sides,
    s3: bool,
    op: Op,
    names: &[String],
    bodies: &[Bytes],
    in_flight: usize,
) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let outcomes: Vec<Result<usize, String>> = stream::iter(names.iter().enumerate())
        .map(|(i, name)| async move {
            // A node that could not commit in time (503/504, "retry") gets the request again,
            // as S3 clients and the dfs CLI do; each retry is counted and reported.
            for attempt in 1..=ATTEMPTS_MAX {
                let mut request = sides.object(s3, i, op, name);
                if op == Op::Put {
                    request = request.body(bodies[i % bodies.len()].clone());
                }
                let response = request.send().await.map_err(|e| e.to_string())?;
                let status = response.status();
                let retry = matches!(status.as_u16(), 503 | 504) && attempt < ATTEMPTS_MAX;
                if retry {
                    sides.retries.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if !status.is_success() {
                    return Err(format!("{status} {}", response.text().await.unwrap_or_default()));
                }
                let mut moved = 0;
                let mut body = response.bytes_stream();
                while let Some(piece) = body.next().await {
                    moved += piece.map_err(|e| e.to_string())?.len();
                }
                return Ok(moved);
            }
            Err(format!("no answer after {ATTEMPTS_MAX} attempts"))
        })
        .buffer_unordered(in_flight.max(1))
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let mut moved = 0;
    for outcome in outcomes {
        match outcome {
            Ok(bytes) => moved += bytes,
            Err(error) => bail!("a {op:?} through {} failed: {error}", side(s3)),
        }
    }
    if op == Op::Put {
        moved = (0..names.len()).map(|i| bodies[i % bodies.len()].len()).sum();
    }
    Ok((names.len() as f64 / secs, super::mb(moved) / secs))
}

fn side(s3: bool) -> &'static str {
    if s3 {
        "S3"
    } else {
        "the native API"
    }
}

/// `lists` listings of the small objects on one side: listings/s and the keys of one listing.
async fn run_lists(sides: &Sides, s3: bool, lists: usize) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let mut keys = 0;
    for at in 0..lists {
        let response = if s3 {
            let path = format!("/{BUCKET}");
            let query =
                format!("list-type=2&max-keys=1000&prefix={}", sigv4::uri_encode("small/", false));
            sides.s3(at, reqwest::Method::GET, &path, &query).send().await?
        } else {
            let url =
                format!("{}/list/{NATIVE}/small?limit=1000", sides.native[at % sides.native.len()]);
            sides.http.get(url).send().await?
        };
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("a LIST through {} failed: {status} {text}", side(s3));
        }
        keys = if s3 {
            text.matches("<Key>").count()
        } else {
            let value: Value = serde_json::from_str(&text)?;
            value["entries"].as_array().map_or(0, Vec::len)
        };
    }
    Ok((lists as f64 / started.elapsed().as_secs_f64(), keys))
}

async fn measure(nodes: &mut [Started], args: &S3BenchArgs) -> anyhow::Result<Value> {
    dev_cluster::wait_ready(nodes).await?;
    let token =
        nodes.first().map(|n| n.config.admin_token().expose().to_owned()).unwrap_or_default();
    let native: Vec<String> =
        nodes.iter().map(|n| format!("http://{}", n.config.http_listen)).collect();
    let s3: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.config.s3.as_ref().map(|s3| format!("http://{}", s3.listen)))
        .collect();
    if s3.len() != nodes.len() {
        bail!("every node of the bench cluster must serve S3");
    }
    let http = dfs_runtime::tls::client_builder()
        .timeout(Duration::from_secs(600))
        .default_headers(crate::client::bearer(Some(&token))?)
        .build()?;
    super::wait_for_leader(&http, &native).await?;
    let (key_id, secret) = dev_cluster::s3_key(nodes).await?;
    let region = dfs_runtime::config::default_s3_region();
    // An S3 client sends no bearer token: a client of its own.
    let s3_http = dfs_runtime::tls::client_builder().timeout(Duration::from_secs(600)).build()?;
    let signer = Signer { key_id, secret, region };
    let retries = Arc::new(AtomicUsize::new(0));
    let sides = Sides { retries, http: s3_http, native: native.clone(), s3, signer };
    let created = sides.s3(0, reqwest::Method::PUT, &format!("/{BUCKET}"), "").send().await?;
    if !created.status().is_success() {
        bail!("CreateBucket failed: {}", created.text().await.unwrap_or_default());
    }
    let native_sides = Sides { http, retries: Arc::new(AtomicUsize::new(0)), ..sides.clone() };

    let small: Vec<String> = (0..args.small_files).map(|i| format!("small/f{i}")).collect();
    let small_native: Vec<Bytes> =
        (0..args.small_files).map(|i| Bytes::from(super::random_seeded(4096, i as u64))).collect();
    let small_s3: Vec<Bytes> = (0..args.small_files)
        .map(|i| Bytes::from(super::random_seeded(4096, (i + args.small_files) as u64)))
        .collect();
    let c = args.small_concurrency;
    let (native_put, _) =
        run_shape(&native_sides, false, Op::Put, &small, &small_native, c).await?;
    let (s3_put, _) = run_shape(&sides, true, Op::Put, &small, &small_s3, c).await?;
    let (native_get, _) = run_shape(&native_sides, false, Op::Get, &small, &[], c).await?;
    let (s3_get, _) = run_shape(&sides, true, Op::Get, &small, &[], c).await?;
    let (native_list, native_keys) = run_lists(&native_sides, false, args.lists).await?;
    let (s3_list, s3_keys) = run_lists(&sides, true, args.lists).await?;
    if native_keys != s3_keys || s3_keys != args.small_files.min(1000) {
        bail!("LIST returned {native_keys} keys natively and {s3_keys} through S3");
    }

    let large: Vec<String> = (0..args.large_files).map(|i| format!("large/f{i}")).collect();
    let bytes = args.large_mib << 20;
    let c = args.large_concurrency;
    let bodies: Vec<Bytes> = (0..args.large_files)
        .map(|i| Bytes::from(super::random_seeded(bytes, 1000 + i as u64)))
        .collect();
    let (_, native_large_put) =
        run_shape(&native_sides, false, Op::Put, &large, &bodies, c).await?;
    drop(bodies);
    let bodies: Vec<Bytes> = (0..args.large_files)
        .map(|i| Bytes::from(super::random_seeded(bytes, 2000 + i as u64)))
        .collect();
    let (_, s3_large_put) = run_shape(&sides, true, Op::Put, &large, &bodies, c).await?;
    drop(bodies);
    let (_, native_large_get) = run_shape(&native_sides, false, Op::Get, &large, &[], c).await?;
    let (_, s3_large_get) = run_shape(&sides, true, Op::Get, &large, &[], c).await?;

    let shape = |unit: &str, native: f64, s3: f64| json!({ "unit": unit, "native": native, "s3": s3, "ratio": s3 / native });
    Ok(json!({
        "small_put": shape("objects/s", native_put, s3_put),
        "small_get": shape("objects/s", native_get, s3_get),
        "large_put": shape("MB/s", native_large_put, s3_large_put),
        "large_get": shape("MB/s", native_large_get, s3_large_get),
        "list": shape("lists/s", native_list, s3_list),
        "target_ratio": 0.8,
        "retries": {
            "native": native_sides.retries.load(Ordering::Relaxed),
            "s3": sides.retries.load(Ordering::Relaxed),
        },
        "load_average": super::load_average(),
        "setup": {
            "nodes": 3, "replication_factor": 3, "write_quorum": "majority",
            "small_files": args.small_files, "small_bytes": 4096,
            "small_concurrency": args.small_concurrency, "large_files": args.large_files,
            "large_mib": args.large_mib, "large_concurrency": args.large_concurrency,
            "list_keys": s3_keys, "lists": args.lists, "signing": "SigV4, UNSIGNED-PAYLOAD",
        },
    }))
}

fn print_table(out: &mut dyn std::io::Write, r: &Value) -> std::io::Result<()> {
    let setup = &r["setup"];
    writeln!(
        out,
        "3 nodes, RF 3, majority quorum; S3 signed with SigV4; load average {}",
        r["load_average"].as_str().unwrap_or("?")
    )?;
    writeln!(out, "{:<34} {:>20} {:>10} {:>10}", "shape", "native", "S3", "S3/native")?;
    let rows = [
        (
            "small_put",
            format!(
                "{} x 4 KiB PUT, {} in flight",
                setup["small_files"], setup["small_concurrency"]
            ),
        ),
        (
            "small_get",
            format!(
                "{} x 4 KiB GET, {} in flight",
                setup["small_files"], setup["small_concurrency"]
            ),
        ),
        (
            "large_put",
            format!(
                "{} x {} MiB PUT, {} in flight",
                setup["large_files"], setup["large_mib"], setup["large_concurrency"]
            ),
        ),
        (
            "large_get",
            format!(
                "{} x {} MiB GET, {} in flight",
                setup["large_files"], setup["large_mib"], setup["large_concurrency"]
            ),
        ),
        ("list", format!("LIST of {} keys", setup["list_keys"])),
    ];
    for (name, label) in rows {
        let shape = &r[name];
        let f = |field: &str| shape[field].as_f64().unwrap_or(0.0);
        let unit = shape["unit"].as_str().unwrap_or("");
        writeln!(
            out,
            "{label:<34} {:>20} {:>10.1} {:>9.2}x",
            format!("{:.1} {unit}", f("native")),
            f("s3"),
            f("ratio")
        )?;
    }
    writeln!(
        out,
        "requests retried after a 503/504: native {}, S3 {}",
        r["retries"]["native"], r["retries"]["s3"]
    )?;
    writeln!(
        out,
        "target: S3 >= {:.2} x native on every shape",
        r["target_ratio"].as_f64().unwrap_or(0.8)
    )
}
