//! Client workload for fault tests (`tests/chaos.rs`): writers that PUT seeded random files with
//! an `Idempotency-Key`, failing over across every node and retrying while the cluster is in
//! trouble, and readers that GET acknowledged versions back. Everything acknowledged goes into a
//! shared [`Ledger`] (path, version, length, blake3 and the seed that regenerates the bytes, so no
//! body is kept in memory); anything that must never happen is recorded as a violation.
//!
//! A write is *acknowledged* when a node answers 201 with its version. A write that could not get
//! an answer within [`WRITE_RETRY_FOR`] has an unknown outcome (it may have committed). Reads are
//! of a fixed version, so the expected bytes are known; a 200 with other bytes is a violation,
//! while a node that is down, lagging (404) or cannot reach a good copy just sends the reader on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::random_bytes;

/// How long one write keeps retrying (every node, again and again) before its outcome is
/// declared unknown.
pub const WRITE_RETRY_FOR: Duration = Duration::from_secs(60);
/// Pause between two rounds over every node, for writes and reads alike.
pub const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Rounds over every node a reader makes before counting a read as unavailable.
pub const READ_ROUNDS: usize = 2;
/// Smallest and largest file written, as powers of two (1 KiB to ~3 MiB, log-uniform).
pub const SIZE_LOG2_RANGE: std::ops::Range<f64> = 10.0..21.58;
/// A writer's pause between two writes, in milliseconds (seeded): paces the data volume, so a
/// run stores a few hundred MiB a minute rather than whatever the disk takes, and fsck and the
/// final read-back stay quick.
pub const WRITE_THINK_MS: std::ops::Range<u64> = 0..200;

/// One acknowledged write.
#[derive(Clone, Debug)]
pub struct Acked {
    /// The file.
    pub path: String,
    /// The version the cluster acknowledged.
    pub version: u64,
    /// Its length.
    pub len: usize,
    /// Regenerates its bytes with [`random_bytes`].
    pub content_seed: u64,
    /// blake3 of its bytes.
    pub hash: blake3::Hash,
}

impl Acked {
    /// The bytes that were written.
    pub fn bytes(&self) -> Vec<u8> {
        random_bytes(self.len, self.content_seed)
    }
}

/// Counters for the run's summary.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Writes acknowledged.
    pub writes_acked: u64,
    /// Bytes in acknowledged writes.
    pub bytes_acked: u64,
    /// Write attempts that had to be retried.
    pub write_retries: u64,
    /// Reads served byte-exact.
    pub reads_ok: u64,
    /// Reads no node could serve at the time.
    pub reads_unavailable: u64,
}

/// Everything the workload saw.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Acknowledged writes, in acknowledgement order.
    pub acked: Vec<Acked>,
    /// Writes whose outcome is unknown: (path, blake3 of the bytes).
    pub unknown: Vec<(String, blake3::Hash)>,
    /// Things that must never happen.
    pub violations: Vec<String>,
    /// Counters.
    pub stats: Stats,
}

/// A ledger shared by the workload's tasks.
pub type SharedLedger = Arc<Mutex<Ledger>>;

/// Locks the ledger (a panicked task cannot leave it half-written: each update is one push).
pub fn lock(ledger: &SharedLedger) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the workload needs to run.
#[derive(Clone)]
pub struct Workload {
    /// Every node's base URL.
    pub urls: Arc<Vec<String>>,
    /// The run's seed.
    pub seed: u64,
    /// Where results go.
    pub ledger: SharedLedger,
    /// Set (with [`Workload::stop`]) when no new request should start.
    stopping: Arc<AtomicBool>,
    /// Woken on every acknowledged write and on stop.
    changed: Arc<tokio::sync::Notify>,
    /// Woken on stop only.
    halted: Arc<tokio::sync::Notify>,
    /// The HTTP client.
    pub http: reqwest::Client,
}

/// How a write ended.
enum Written {
    Acked(u64),
    Unknown(String),
    Refused(String),
}

impl Workload {
    /// A workload against `urls`.
    pub fn new(urls: Vec<String>, seed: u64) -> Self {
        let http = crate::admin_client_builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self {
            urls: Arc::new(urls),
            seed,
            ledger: SharedLedger::default(),
            stopping: Arc::new(AtomicBool::new(false)),
            changed: Arc::new(tokio::sync::Notify::new()),
            halted: Arc::new(tokio::sync::Notify::new()),
            http,
        }
    }

    /// Stops the workload: no new request starts, and pausing writers wake up at once.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.changed.notify_waiters();
        self.halted.notify_waiters();
    }

    fn stopped(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Waits until a write is acknowledged or the workload stops.
    async fn next_change(&self) {
        let changed = self.changed.notified();
        if !self.stopped() {
            changed.await;
        }
    }

    /// Waits until the workload stops.
    async fn halt(&self) {
        let halted = self.halted.notified();
        if !self.stopped() {
            halted.await;
        }
    }

    /// Writer `id`: writes seeded files to `paths` paths of its own until stopped.
    pub async fn writer(self, id: u64, paths: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(1000 + id);
        // Keys name one write of this run: the seed and counter repeat across runs, so a random
        // run id keeps two runs' writes apart (only a write's own retries share its key).
        let run: u128 = rand::random();
        let mut n = 0u64;
        while !self.stopped() {
            let path = format!("/chaos/w{id}/f{}", rng.gen_range(0..paths));
            let len = 2f64.powf(rng.gen_range(SIZE_LOG2_RANGE)) as usize;
            let content_seed = rng.gen::<u64>();
            let body = Bytes::from(random_bytes(len, content_seed));
            let hash = blake3::hash(&body);
            let key = format!("chaos-{}-w{id}-{n}-{run:032x}", self.seed);
            let first = rng.gen_range(0..self.urls.len());
            let think = Duration::from_millis(rng.gen_range(WRITE_THINK_MS));
            n += 1;
            let written = self.put(&path, body, hash, &key, first).await;
            self.record(written, Acked { path, version: 0, len, content_seed, hash }, &key);
            // Think time paces the data volume; a stop ends it early.
            let _ = tokio::time::timeout(think, self.halt()).await;
        }
    }

    /// Records how the write of `write` (its version still unset) ended.
    fn record(&self, written: Written, mut write: Acked, key: &str) {
        let mut ledger = lock(&self.ledger);
        match written {
            Written::Acked(version) => {
                ledger.stats.writes_acked += 1;
                ledger.stats.bytes_acked += write.len as u64;
                write.version = version;
                ledger.acked.push(write);
                self.changed.notify_waiters();
            }
            Written::Unknown(why) => {
                eprintln!("chaos: write {key} of {} has an unknown outcome: {why}", write.path);
                ledger.unknown.push((write.path, write.hash));
            }
            Written::Refused(why) => {
                ledger.violations.push(format!("write {key} of {} refused: {why}", write.path));
            }
        }
    }

    /// PUTs `body` to `path`, starting at node `first` and failing over; retries with the same
    /// idempotency key on connection errors and 5xx until acknowledged or [`WRITE_RETRY_FOR`].
    async fn put(
        &self,
        path: &str,
        body: Bytes,
        hash: blake3::Hash,
        key: &str,
        first: usize,
    ) -> Written {
        let deadline = tokio::time::Instant::now() + WRITE_RETRY_FOR;
        let mut last = String::from("never tried");
        let mut rounds = tokio::time::interval(RETRY_PAUSE);
        let mut attempt = 0;
        loop {
            attempt += 1;
            if (attempt - 1) % self.urls.len() == 0 {
                if tokio::time::Instant::now() >= deadline {
                    return Written::Unknown(last);
                }
                // A new round over every node, at most one per RETRY_PAUSE (the first at once).
                rounds.tick().await;
            }
            let url = &self.urls[(first + attempt - 1) % self.urls.len()];
            let request = self
                .http
                .put(format!("{url}/files{path}"))
                .header("idempotency-key", key)
                .header("x-dfs-blake3", hash.to_hex().as_str())
                .body(body.clone());
            match request.send().await {
                Ok(response) if response.status() == 201 => {
                    let reply: Value = match response.json().await {
                        Ok(reply) => reply,
                        Err(error) => {
                            last = format!("{url}: reply lost: {error}");
                            continue;
                        }
                    };
                    return match reply["version"].as_u64() {
                        Some(version) => Written::Acked(version),
                        None => Written::Refused(format!("201 without a version: {reply}")),
                    };
                }
                Ok(response) if response.status().is_server_error() => {
                    last = format!("{url}: {}", response.text().await.unwrap_or_default());
                }
                Ok(response) => {
                    let status = response.status();
                    return Written::Refused(format!(
                        "{url}: {status} {}",
                        response.text().await.unwrap_or_default()
                    ));
                }
                Err(error) => last = format!("{url}: {error}"),
            }
            lock(&self.ledger).stats.write_retries += 1;
        }
    }

    /// Reader `id`: reads random acknowledged versions back until stopped.
    pub async fn reader(self, id: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(2000 + id);
        while !self.stopped() {
            let pick = {
                let ledger = lock(&self.ledger);
                let count = ledger.acked.len();
                (count > 0).then(|| ledger.acked[rng.gen_range(0..count)].clone())
            };
            let Some(acked) = pick else {
                self.next_change().await;
                continue;
            };
            let first = rng.gen_range(0..self.urls.len());
            let read = self.read_version(&acked, first, READ_ROUNDS).await;
            let mut ledger = lock(&self.ledger);
            match read {
                Read::Exact => ledger.stats.reads_ok += 1,
                Read::Unavailable(_) => ledger.stats.reads_unavailable += 1,
                Read::Wrong(why) => ledger.violations.push(why),
            }
        }
    }

    /// GETs `acked`'s version from node `first` on, failing over, for `rounds` rounds.
    pub async fn read_version(&self, acked: &Acked, first: usize, rounds: usize) -> Read {
        let route = format!("/files{}?version={}", acked.path, acked.version);
        let outcome = self
            .get_failing_over(&route, first, rounds, |target, response| async move {
                let body =
                    response.bytes().await.map_err(|e| format!("{target}: body cut off: {e}"))?;
                if body.len() == acked.len && blake3::hash(&body) == acked.hash {
                    return Ok(Read::Exact);
                }
                Ok(Read::Wrong(format!(
                    "{target} served {} bytes hashing to {}, not the {} acknowledged bytes hashing to {}",
                    body.len(),
                    blake3::hash(&body),
                    acked.len,
                    acked.hash
                )))
            })
            .await;
        outcome.unwrap_or_else(Read::Unavailable)
    }

    /// The latest version of `path` and the blake3 of its bytes, from the first node (starting
    /// at `first`) that serves it within `rounds` rounds.
    pub async fn read_latest(
        &self,
        path: &str,
        first: usize,
        rounds: usize,
    ) -> Result<(u64, blake3::Hash), String> {
        let route = format!("/files{path}");
        self.get_failing_over(&route, first, rounds, |target, response| async move {
            let version = response
                .headers()
                .get("x-dfs-version")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{target}: no x-dfs-version header"))?;
            let body =
                response.bytes().await.map_err(|e| format!("{target}: body cut off: {e}"))?;
            Ok((version, blake3::hash(&body)))
        })
        .await
    }

    /// GETs `route` from node `first` on, failing over, for `rounds` rounds over every node (at
    /// most one round per [`RETRY_PAUSE`]); the first 200 that `take` accepts is the answer, else
    /// the last reason it failed.
    async fn get_failing_over<T, F, Fut>(
        &self,
        route: &str,
        first: usize,
        rounds: usize,
        take: F,
    ) -> Result<T, String>
    where
        F: Fn(String, reqwest::Response) -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let mut last = String::from("never tried");
        let mut pace = tokio::time::interval(RETRY_PAUSE);
        for attempt in 0..rounds * self.urls.len() {
            if attempt % self.urls.len() == 0 {
                pace.tick().await;
            }
            let target = format!("{}{route}", self.urls[(first + attempt) % self.urls.len()]);
            match self.http.get(&target).send().await {
                Ok(response) if response.status() == 200 => match take(target, response).await {
                    Ok(value) => return Ok(value),
                    Err(why) => last = why,
                },
                Ok(response) => last = format!("{target}: {}", response.status()),
                Err(error) => last = format!("{target}: {error}"),
            }
        }
        Err(last)
    }
}

/// How a read of an acknowledged version ended.
#[derive(Debug)]
pub enum Read {
    /// Served byte-exact.
    Exact,
    /// No node served it (down, lagging, or no good copy reachable); the last reason.
    Unavailable(String),
    /// A node answered 200 with other bytes: must never happen.
    Wrong(String),
}

/// The last acknowledged write of each path.
pub fn latest_acked(acked: &[Acked]) -> BTreeMap<&str, &Acked> {
    let mut latest: BTreeMap<&str, &Acked> = BTreeMap::new();
    for write in acked {
        let newer = latest.get(write.path.as_str()).is_none_or(|seen| seen.version < write.version);
        if newer {
            latest.insert(&write.path, write);
        }
    }
    latest
}
