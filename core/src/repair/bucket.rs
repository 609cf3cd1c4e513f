//! A token bucket over bytes: the bandwidth limit of repair copies, pulls and scrub reads.

use std::time::Duration;

use crate::time::Instant;

/// Bytes that may be spent now, refilled at a fixed rate up to one second's worth (never less
/// than one largest chunk, so every chunk can pass).
#[derive(Clone, Debug)]
pub struct Bucket {
    rate: u64,
    // Tokens are counted in byte-microseconds (bytes x 1e6), so refills never round away.
    capacity: i128,
    // May go negative: a job charged after the fact (scrub) pays its debt before the next.
    tokens: i128,
    at: Instant,
}

const SCALE: i128 = 1_000_000;

impl Bucket {
    /// A full bucket refilling at `bytes_per_sec`, holding at least `min_capacity` bytes.
    pub fn new(bytes_per_sec: u64, min_capacity: u64, now: Instant) -> Self {
        let capacity = i128::from(bytes_per_sec.max(min_capacity)) * SCALE;
        Self { rate: bytes_per_sec.max(1), capacity, tokens: capacity, at: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = i128::from(now.saturating_duration_since(self.at).as_micros() as u64);
        self.at = self.at.max(now);
        let earned = elapsed.saturating_mul(i128::from(self.rate));
        self.tokens = self.tokens.saturating_add(earned).min(self.capacity);
    }

    /// Spends `bytes` if the bucket holds them.
    pub fn take(&mut self, bytes: u64, now: Instant) -> bool {
        self.refill(now);
        let cost = i128::from(bytes) * SCALE;
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Spends `bytes` whether or not the bucket holds them (the work is already done).
    pub fn charge(&mut self, bytes: u64, now: Instant) {
        self.refill(now);
        self.tokens = self.tokens.saturating_sub(i128::from(bytes) * SCALE);
    }

    /// Whether at least one byte may be spent now.
    pub fn has_tokens(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= SCALE
    }

    /// When `bytes` will be available (the last refill instant if they already are).
    pub fn ready_at(&self, bytes: u64) -> Instant {
        let missing = i128::from(bytes) * SCALE - self.tokens;
        if missing <= 0 {
            return self.at;
        }
        let rate = i128::from(self.rate);
        let micros = u64::try_from((missing + rate - 1) / rate).unwrap_or(u64::MAX);
        self.at.saturating_add(Duration::from_micros(micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_refills_and_caps() {
        let t0 = Instant::ZERO;
        let mut bucket = Bucket::new(1_000, 100, t0);
        assert!(bucket.take(1_000, t0));
        assert!(!bucket.take(1, t0));
        let half = t0.saturating_add(Duration::from_millis(500));
        assert!(bucket.take(500, half));
        assert!(!bucket.take(1, half));
        // Never more than capacity, however long it rests.
        let later = half.saturating_add(Duration::from_secs(100));
        assert!(!bucket.take(1_001, later));
        assert!(bucket.take(1_000, later));
    }

    #[test]
    fn charges_past_zero_and_says_when_ready() {
        let t0 = Instant::ZERO;
        let mut bucket = Bucket::new(1_000, 1_000, t0);
        bucket.charge(3_000, t0);
        assert!(!bucket.has_tokens(t0));
        assert_eq!(bucket.ready_at(1), t0.saturating_add(Duration::from_micros(2_001_000)));
        assert!(!bucket.has_tokens(t0.saturating_add(Duration::from_micros(2_000_999))));
        assert!(bucket.has_tokens(t0.saturating_add(Duration::from_micros(2_001_000))));
        // A chunk bigger than a second's worth still passes once the bucket is at capacity.
        let mut big = Bucket::new(10, 8 << 20, t0);
        assert!(big.take(8 << 20, t0));
    }
}
