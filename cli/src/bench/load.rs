//! The client load of `dfs bench failover` (DESIGN §2 "failover"): one writer putting small files
//! back to back and one reader getting a seed file over and over. Each is a client given every
//! node's address that moves to the next node on a connection error, a 503 or a 504 (a write is
//! replayed with the same `Idempotency-Key`, so a retry never makes a second version). The writer
//! reports the first acknowledgement of an attempt begun after a mark (the kill); the reader
//! counts reads that no node could serve in one pass over all of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use bytes::Bytes;
use tokio::task::JoinHandle;

/// Longest one request may take before the client moves on to the next node.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest a connection attempt may take (loopback: a dead node refuses at once).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);
/// Pause after every node turned one request away, before the next pass over them.
pub const PASS_PAUSE: Duration = Duration::from_millis(10);
/// Pause between two reads.
pub const READ_PAUSE: Duration = Duration::from_millis(5);
/// Size of each written file.
pub const WRITE_BYTES: usize = 1024;

/// What the load has seen so far.
#[derive(Clone, Debug, Default)]
pub struct LoadCounts {
    /// Writes acknowledged (201).
    pub writes_acked: u64,
    /// Write attempts turned away (connection error, 503, 504, timeout) and replayed elsewhere.
    pub write_retries: u64,
    /// Reads done (served or failed).
    pub reads: u64,
    /// Read attempts that failed on one node and moved on to the next.
    pub read_failovers: u64,
    /// Reads that no node served in one pass over all of them.
    pub reads_failed: u64,
    /// Why the last failed read failed, node by node.
    pub last_read_failure: Option<String>,
}

#[derive(Default)]
struct State {
    tally: LoadCounts,
    mark: Option<Instant>,
    first_ack_after_mark: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a load task panicked; its counters are still meaningful.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A running writer and reader.
pub struct Load {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl Load {
    /// Starts writing under `/bench/failover/w/` and reading `seed_path` (which holds `seed`)
    /// through the nodes at `urls`.
    pub fn start(
        urls: Vec<String>,
        token: &str,
        seed_path: String,
        seed: Bytes,
    ) -> anyhow::Result<Self> {
        let http = dfs_runtime::tls::client_builder()
            .default_headers(crate::client::bearer(Some(token))?)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        let shared =
            Arc::new(Shared { state: Mutex::new(State::default()), stop: AtomicBool::new(false) });
        let writer = tokio::spawn(write_loop(shared.clone(), http.clone(), urls.clone()));
        let reader = tokio::spawn(read_loop(shared.clone(), http, urls, seed_path, seed));
        Ok(Self { shared, tasks: vec![writer, reader] })
    }

    /// From now on, remembers the first write acknowledged for an attempt begun at or after `at`.
    pub fn mark(&self, at: Instant) {
        let mut state = self.shared.state();
        state.mark = Some(at);
        state.first_ack_after_mark = None;
    }

    /// When the first write attempt begun after the mark was acknowledged, once it has been.
    pub fn first_ack_after_mark(&self) -> Option<Instant> {
        self.shared.state().first_ack_after_mark
    }

    /// The counters so far.
    pub fn tally(&self) -> LoadCounts {
        self.shared.state().tally.clone()
    }

    /// Fails if the writer or reader stopped early (a write answered with an unexpected error).
    pub fn check_running(&self) -> anyhow::Result<()> {
        if self.tasks.iter().any(JoinHandle::is_finished) {
            bail!("the bench load stopped early; see the error of `stop`");
        }
        Ok(())
    }

    /// Stops the writer and reader and returns the final counters.
    pub async fn stop(self) -> anyhow::Result<LoadCounts> {
        self.shared.stop.store(true, Ordering::Relaxed);
        let shared = self.shared.clone();
        for task in self.tasks {
            task.await.map_err(|e| anyhow!("a load task failed: {e}"))??;
        }
        let tally = shared.state().tally.clone();
        Ok(tally)
    }
}

/// Puts small files one after another, each until some node acknowledges it.
async fn write_loop(
    shared: Arc<Shared>,
    http: reqwest::Client,
    urls: Vec<String>,
) -> anyhow::Result<()> {
    // A random run id, not the pid (which repeats in containers): a key names one write of
    // one run, replayed only by that write's retries.
    let run = crate::client::fresh_idempotency_key("bench-failover")?;
    let mut node = 0;
    let mut seq = 0u64;
    while !shared.stopped() {
        seq += 1;
        let key = format!("{run}-{seq}");
        let body = Bytes::from(super::random_seeded(WRITE_BYTES, seq));
        let mut turned_away = 0usize;
        loop {
            if shared.stopped() {
                return Ok(());
            }
            let begun = Instant::now();
            let url = format!("{}/files/bench/failover/w/{seq}", urls[node]);
            let sent =
                http.put(&url).header("idempotency-key", key.as_str()).body(body.clone()).send();
            match sent.await {
                Ok(response) if response.status().is_success() => {
                    acked(&shared, begun, Instant::now());
                    let _ = response.bytes().await;
                    break;
                }
                Ok(response) if matches!(response.status().as_u16(), 503 | 504) => {}
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    bail!("write {seq} refused by {url}: {status} {text}");
                }
                Err(_) => {}
            }
            shared.state().tally.write_retries += 1;
            node = (node + 1) % urls.len();
            turned_away += 1;
            if turned_away % urls.len() == 0 {
                tokio::time::sleep(PASS_PAUSE).await;
            }
        }
    }
    Ok(())
}

fn acked(shared: &Shared, begun: Instant, at: Instant) {
    let mut state = shared.state();
    state.tally.writes_acked += 1;
    let after_mark = state.mark.is_some_and(|mark| begun >= mark);
    if after_mark && state.first_ack_after_mark.is_none() {
        state.first_ack_after_mark = Some(at);
    }
}

/// Reads the seed over and over, each read starting at the next node and moving on past any
/// node that fails it.
async fn read_loop(
    shared: Arc<Shared>,
    http: reqwest::Client,
    urls: Vec<String>,
    seed_path: String,
    seed: Bytes,
) -> anyhow::Result<()> {
    let mut first = 0;
    while !shared.stopped() {
        let mut failures = Vec::new();
        for k in 0..urls.len() {
            let url = format!("{}/files{seed_path}", urls[(first + k) % urls.len()]);
            match read_once(&http, &url, &seed).await {
                Ok(()) => break,
                Err(error) => failures.push(format!("{url}: {error}")),
            }
        }
        count_read(&shared, &failures, urls.len());
        first = (first + 1) % urls.len();
        tokio::time::sleep(READ_PAUSE).await;
    }
    Ok(())
}

fn count_read(shared: &Shared, failures: &[String], nodes: usize) {
    let tally = &mut shared.state().tally;
    tally.reads += 1;
    tally.read_failovers += failures.len() as u64;
    if failures.len() == nodes {
        tally.reads_failed += 1;
        tally.last_read_failure = Some(failures.join("; "));
    }
}

async fn read_once(http: &reqwest::Client, url: &str, seed: &Bytes) -> anyhow::Result<()> {
    let response = http.get(url).send().await?;
    if !response.status().is_success() {
        bail!("status {}", response.status());
    }
    let body = response.bytes().await?;
    if body != *seed {
        bail!("served {} bytes that differ from the seed", body.len());
    }
    Ok(())
}
