//! The `[limits]` table of a node's config (issue 8, hardening): what one client or peer may
//! hold or send before it gets a clear error while the node keeps serving everyone else. Each
//! limit has a safe default; docs/operations.md lists them. Path length and depth are not here: they are
//! rules of the replicated namespace (`dfs_core::path`), the same on every node.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigFileError;

/// Limits on clients and peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest peer frame (one raft or control message) accepted or sent, in bytes.
    pub frame_bytes_max: u32,
    /// Open HTTP connections from one IP address (peers included); more get `429
    /// too_many_connections` and are closed.
    pub connections_per_ip_max: u32,
    /// Unauthenticated peer connections from one IP address still in their handshake; more are
    /// closed at once.
    pub peer_handshakes_per_ip_max: u32,
    /// Longest a client may take to send a request's headers (and its TLS handshake), in ms.
    pub header_read_timeout_ms: u64,
    /// Longest a client may pause while sending a request body, in ms (`408 body_timeout`).
    pub body_read_timeout_ms: u64,
    /// Sustained requests per second per client (its bearer token, else its IP); 0 turns the
    /// limit off. More get `429 rate_limited` with `Retry-After`.
    pub requests_per_sec: u32,
    /// Requests a client may make at once above the sustained rate.
    pub request_burst: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            frame_bytes_max: dfs_core::wire::FRAME_BYTES_MAX_DEFAULT,
            connections_per_ip_max: 256,
            peer_handshakes_per_ip_max: 8,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            requests_per_sec: 10_000,
            request_burst: 20_000,
        }
    }
}

/// Smallest accepted `frame_bytes_max`: raft appends of a few entries must fit.
pub const FRAME_BYTES_MAX_FLOOR: u32 = 64 * 1024;
/// Shortest accepted header or body read timeout, in ms.
pub const READ_TIMEOUT_MS_FLOOR: u64 = 100;

impl LimitsConfig {
    /// Checks the ranges serde cannot.
    pub fn check(&self) -> Result<(), ConfigFileError> {
        let invalid = |m| Err(ConfigFileError::Invalid(m));
        if self.frame_bytes_max < FRAME_BYTES_MAX_FLOOR {
            return invalid("limits.frame_bytes_max must be at least 65536");
        }
        if self.connections_per_ip_max == 0 || self.peer_handshakes_per_ip_max == 0 {
            return invalid(
                "limits.connections_per_ip_max and peer_handshakes_per_ip_max must be at least 1",
            );
        }
        if self.header_read_timeout_ms < READ_TIMEOUT_MS_FLOOR
            || self.body_read_timeout_ms < READ_TIMEOUT_MS_FLOOR
        {
            return invalid(
                "limits.header_read_timeout_ms and body_read_timeout_ms must be at least 100",
            );
        }
        if self.requests_per_sec > 0 && self.request_burst == 0 {
            return invalid("limits.request_burst must be at least 1 when requests_per_sec is set");
        }
        Ok(())
    }

    /// [`Self::header_read_timeout_ms`] as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// [`Self::body_read_timeout_ms`] as a duration.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }
}
