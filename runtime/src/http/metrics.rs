//! `GET /metrics` in the Prometheus text format (DESIGN §2 "monitoring"), and the layer that counts
//! every request: count by status, time to response headers, and body bytes each way.

use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dfs_core::health::Health;
use http_body::{Frame, SizeHint};

use super::{ApiError, ApiState};
use crate::metrics::{RouteStats, LATENCY_BUCKETS};

/// Counts one request: its route's status, latency and body bytes.
pub async fn track(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
    let stats = state.metrics.route(route, request.method().as_str());
    let started = Instant::now();
    let counter = Arc::clone(&stats);
    let request = request.map(|body| Body::new(Counted::new(body, counter, Direction::In)));
    let response = next.run(request).await;
    stats.observe(response.status().as_u16(), started.elapsed());
    response.map(|body| Body::new(Counted::new(body, stats, Direction::Out)))
}

#[derive(Clone, Copy)]
enum Direction {
    In,
    Out,
}

/// A body that adds the bytes passing through it to its route's counters.
struct Counted {
    inner: Body,
    stats: Arc<RouteStats>,
    direction: Direction,
}

impl Counted {
    fn new(inner: Body, stats: Arc<RouteStats>, direction: Direction) -> Self {
        Self { inner, stats, direction }
    }

    fn counter(&self) -> &AtomicU64 {
        match self.direction {
            Direction::In => &self.stats.bytes_in,
            Direction::Out => &self.stats.bytes_out,
        }
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
                self.counter().fetch_add(len, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `GET /metrics`: this node's counters and gauges.
pub async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let view = state
        .driver
        .query(|node| {
            let status = node.status();
            let members: Vec<(u64, Health)> =
                status.namespace.members().iter().map(|(id, m)| (id.0, m.health)).collect();
            NodeGauges {
                node: status.id.0,
                term: status.term.0,
                commit: status.commit.0,
                applied: status.applied.0,
                leader: status.leader.map(|l| l.0),
                is_leader: status.leader == Some(status.id),
                halted_at: status.halted.map_or(0, |index| index.0),
                reads_waiting: status.pending_reads as u64,
                members,
                queue: node.replication_queue().cloned(),
                scrub: node.scrub_progress(),
            }
        })
        .await
        .map_err(|_| ApiError::stopping())?;
    let mut out = String::new();
    write_node(&mut out, &view);
    let space = state.chunks.space().await;
    write_local(&mut out, &state, space);
    write_http(&mut out, &state);
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response())
}

/// What the core node reports, read on the driver task.
struct NodeGauges {
    node: u64,
    term: u64,
    commit: u64,
    applied: u64,
    leader: Option<u64>,
    is_leader: bool,
    halted_at: u64,
    reads_waiting: u64,
    members: Vec<(u64, Health)>,
    queue: Option<dfs_core::repair::QueueView>,
    scrub: dfs_core::repair::ScrubProgress,
}

fn write_node(out: &mut String, g: &NodeGauges) {
    metric(
        out,
        "dfs_node_info",
        "gauge",
        "This node's id (value is always 1).",
        &[(format!("{{node=\"{}\"}}", g.node), 1.0)],
    );
    gauge(out, "dfs_raft_term", "The current raft term.", g.term);
    gauge(out, "dfs_raft_commit_index", "The highest raft index known committed.", g.commit);
    gauge(out, "dfs_raft_applied_index", "The last raft index applied here.", g.applied);
    gauge(
        out,
        "dfs_raft_leader_id",
        "The leader's node id (0: none known).",
        g.leader.unwrap_or(0),
    );
    gauge(out, "dfs_raft_is_leader", "1 if this node leads.", u64::from(g.is_leader));
    gauge(
        out,
        "dfs_apply_halted_index",
        "The committed entry this node could not decode and stopped applying at (0: applying).",
        g.halted_at,
    );
    gauge(
        out,
        "dfs_reads_waiting",
        "Linearizable reads waiting for a read index.",
        g.reads_waiting,
    );
    let members: Vec<(String, f64)> = g
        .members
        .iter()
        .flat_map(|(id, health)| {
            [Health::Up, Health::Suspect, Health::Down, Health::Lost].map(|h| {
                (format!("{{member=\"{id}\",health=\"{}\"}}", h.as_str()), flag(*health == h))
            })
        })
        .collect();
    metric(out, "dfs_member_health", "gauge", "1 for each member's committed health.", &members);
    let queue = g.queue.clone().unwrap_or_default();
    gauge(
        out,
        "dfs_replication_queue_depth",
        "Copies the leader's queue still needs.",
        usize_u64(queue.total),
    );
    gauge(
        out,
        "dfs_replication_queue_bytes",
        "Bytes the leader's queue still has to copy.",
        queue.bytes_pending,
    );
    #[allow(clippy::cast_precision_loss)]
    let oldest = queue.oldest_waiting_ms as f64 / 1000.0;
    metric(
        out,
        "dfs_replication_queue_oldest_seconds",
        "gauge",
        "How long the longest-waiting queued chunk has waited.",
        &[(String::new(), oldest)],
    );
    counter(
        out,
        "dfs_replication_copies_done_total",
        "Copies finished since this node became leader.",
        queue.done_total,
    );
    counter(
        out,
        "dfs_replication_copies_failed_total",
        "Copy attempts failed since this node became leader.",
        queue.failed_total,
    );
    counter(
        out,
        "dfs_scrub_passes_total",
        "Scrub passes finished over this node's copies.",
        g.scrub.passes,
    );
    gauge(
        out,
        "dfs_scrub_pass_chunks",
        "Copies verified in the scrub pass under way.",
        g.scrub.pass_chunks,
    );
    counter(
        out,
        "dfs_scrub_chunks_verified_total",
        "Copies re-hashed by scrub.",
        g.scrub.chunks_verified,
    );
    counter(
        out,
        "dfs_scrub_bytes_verified_total",
        "Bytes re-hashed by scrub.",
        g.scrub.bytes_verified,
    );
    counter(
        out,
        "dfs_scrub_corruptions_total",
        "Copies scrub found corrupt or missing.",
        g.scrub.corrupt_found,
    );
}

fn write_local(
    out: &mut String,
    state: &ApiState,
    space: Option<crate::store::chunks::disk::Space>,
) {
    let usage = state.chunks.usage();
    gauge(out, "dfs_chunk_store_bytes", "Bytes in this node's chunk store.", usage.bytes);
    gauge(out, "dfs_chunk_store_chunks", "Chunks in this node's chunk store.", usage.chunks);
    if let Some(space) = space {
        gauge(
            out,
            "dfs_node_capacity_bytes",
            "Size of the disk holding this node's data dir.",
            space.capacity_bytes,
        );
        gauge(
            out,
            "dfs_node_free_bytes",
            "Bytes still free for this node on the disk holding its data dir.",
            space.free_bytes,
        );
    }
    counter(
        out,
        "dfs_repair_bytes_total",
        "Chunk bytes this node pulled from peers for repair.",
        state.metrics.repair_bytes.load(Ordering::Relaxed),
    );
    counter(
        out,
        "dfs_repair_copies_total",
        "Chunk copies this node pulled from peers for repair.",
        state.metrics.repair_copies.load(Ordering::Relaxed),
    );
    let peers: Vec<(String, f64)> = state
        .links
        .snapshot()
        .into_iter()
        .map(|(peer, up)| (format!("{{peer=\"{peer}\"}}", peer = peer.0), flag(up)))
        .collect();
    metric(
        out,
        "dfs_peer_connected",
        "gauge",
        "1 while the raft connection to a peer is up.",
        &peers,
    );
}

fn write_http(out: &mut String, state: &ApiState) {
    let routes = state.metrics.routes();
    let mut requests = Vec::new();
    let mut histogram = Vec::new();
    let mut bytes_in = Vec::new();
    let mut bytes_out = Vec::new();
    for r in &routes {
        let base = format!("route=\"{}\",method=\"{}\"", escape(&r.route), escape(&r.method));
        for (status, count) in &r.statuses {
            requests.push((format!("{{{base},status=\"{status}\"}}"), u64_f64(*count)));
        }
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&r.cumulative) {
            histogram.push((format!("_bucket{{{base},le=\"{bound}\"}}"), u64_f64(*count)));
        }
        histogram.push((format!("_bucket{{{base},le=\"+Inf\"}}"), u64_f64(r.count)));
        histogram.push((format!("_sum{{{base}}}"), r.sum_secs));
        histogram.push((format!("_count{{{base}}}"), u64_f64(r.count)));
        bytes_in.push((format!("{{{base}}}"), u64_f64(r.bytes_in)));
        bytes_out.push((format!("{{{base}}}"), u64_f64(r.bytes_out)));
    }
    metric(
        out,
        "dfs_http_requests_total",
        "counter",
        "HTTP requests answered, by route, method and status.",
        &requests,
    );
    metric(
        out,
        "dfs_http_request_duration_seconds",
        "histogram",
        "Time to response headers, by route and method.",
        &histogram,
    );
    metric(
        out,
        "dfs_http_request_bytes_total",
        "counter",
        "Request body bytes read, by route and method.",
        &bytes_in,
    );
    metric(
        out,
        "dfs_http_response_bytes_total",
        "counter",
        "Response body bytes written, by route and method.",
        &bytes_out,
    );
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    metric(out, name, "gauge", help, &[(String::new(), u64_f64(value))]);
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    metric(out, name, "counter", help, &[(String::new(), u64_f64(value))]);
}

/// One metric family: `# HELP`, `# TYPE`, then `name<suffix> value` per sample.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (suffix, value) in samples {
        let _ = writeln!(out, "{name}{suffix} {value}");
    }
}

fn flag(on: bool) -> f64 {
    if on {
        1.0
    } else {
        0.0
    }
}

#[allow(clippy::cast_precision_loss)]
fn u64_f64(value: u64) -> f64 {
    value as f64
}

fn usize_u64(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
