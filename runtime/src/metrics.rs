//! Counters for `GET /metrics` (DESIGN §2 "monitoring"): what the HTTP layer and the job runner
//! count as they go. Gauges (raft state, queue, store usage, peers, scrub) are read from their
//! owners when scraped; see `http/metrics.rs` for the exposition.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the request latency histogram, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Routes tracked at most (routes are templates, so this only guards against a bug).
const ROUTES_MAX: usize = 256;

/// Everything counted on one node; shared by the HTTP layer and the job runner.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(String, String), Arc<RouteStats>>>,
    /// Chunk bytes this node pulled from peers for repair (re-replication, drain, rebalance,
    /// recovery sync).
    pub repair_bytes: AtomicU64,
    /// Chunk copies this node pulled for repair.
    pub repair_copies: AtomicU64,
}

/// Counters of one route and method.
#[derive(Debug, Default)]
pub struct RouteStats {
    /// Responses by status code.
    statuses: Mutex<BTreeMap<u16, u64>>,
    /// Requests whose time to response headers fell at or under each bucket bound (not
    /// cumulative; the exposition sums them).
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    /// Requests slower than the last bound.
    over: AtomicU64,
    /// Sum of latencies, in microseconds.
    micros: AtomicU64,
    /// Request body bytes read.
    pub bytes_in: AtomicU64,
    /// Response body bytes written.
    pub bytes_out: AtomicU64,
}

/// A snapshot of one route's counters, for the exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteSnapshot {
    /// The route template (`/files/{*path}`).
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Cumulative counts at each of [`LATENCY_BUCKETS`].
    pub cumulative: Vec<u64>,
    /// All requests timed.
    pub count: u64,
    /// Sum of latencies in seconds.
    pub sum_secs: f64,
    /// Request body bytes read.
    pub bytes_in: u64,
    /// Response body bytes written.
    pub bytes_out: u64,
}

impl Metrics {
    /// The counters of `route` and `method` (created on first use).
    pub fn route(&self, route: &str, method: &str) -> Arc<RouteStats> {
        let mut routes = self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (route.to_owned(), method.to_owned());
        if let Some(stats) = routes.get(&key) {
            return stats.clone();
        }
        let key = if routes.len() < ROUTES_MAX { key } else { ("other".into(), "other".into()) };
        routes.entry(key).or_default().clone()
    }

    /// Every route's counters, in route order.
    pub fn routes(&self) -> Vec<RouteSnapshot> {
        let routes = self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        routes.iter().map(|((route, method), stats)| stats.snapshot(route, method)).collect()
    }

    /// Counts a chunk pulled from a peer for repair.
    pub fn repaired(&self, bytes: u64) {
        self.repair_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.repair_copies.fetch_add(1, Ordering::Relaxed);
    }
}

impl RouteStats {
    /// Counts one response.
    pub fn observe(&self, status: u16, latency: Duration) {
        let secs = latency.as_secs_f64();
        match LATENCY_BUCKETS.iter().position(|bound| secs <= *bound) {
            Some(i) => self.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
        let mut statuses = self.statuses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *statuses.entry(status).or_default() += 1;
    }

    fn snapshot(&self, route: &str, method: &str) -> RouteSnapshot {
        let mut running = 0;
        let cumulative: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect();
        let statuses =
            self.statuses.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        RouteSnapshot {
            route: route.to_owned(),
            method: method.to_owned(),
            statuses,
            count: running + self.over.load(Ordering::Relaxed),
            cumulative,
            // Microseconds to seconds: precision loss only past 2^53 µs (285 years).
            #[allow(clippy::cast_precision_loss)]
            sum_secs: self.micros.load(Ordering::Relaxed) as f64 / 1e6,
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_land_in_cumulative_buckets() {
        let metrics = Metrics::default();
        let stats = metrics.route("/files/{*path}", "GET");
        stats.observe(200, Duration::from_micros(500));
        stats.observe(200, Duration::from_millis(20));
        stats.observe(404, Duration::from_secs(30));
        let snap = &metrics.routes()[0];
        assert_eq!(snap.count, 3);
        assert_eq!(snap.cumulative[0], 1, "0.5 ms is under the 1 ms bound");
        assert_eq!(snap.cumulative[4], 2, "20 ms is under the 25 ms bound");
        assert_eq!(snap.cumulative.last().copied(), Some(2), "30 s is over every bound");
        assert_eq!(snap.statuses, BTreeMap::from([(200, 2), (404, 1)]));
        assert!((snap.sum_secs - 30.0205).abs() < 1e-9, "{}", snap.sum_secs);
    }

    #[test]
    fn the_same_route_shares_its_counters() {
        let metrics = Metrics::default();
        metrics.route("/a", "GET").observe(200, Duration::ZERO);
        metrics.route("/a", "GET").observe(200, Duration::ZERO);
        metrics.route("/a", "PUT").observe(201, Duration::ZERO);
        let counts: Vec<(String, u64)> =
            metrics.routes().into_iter().map(|r| (r.method, r.count)).collect();
        assert_eq!(counts, [("GET".into(), 2), ("PUT".into(), 1)]);
    }
}
