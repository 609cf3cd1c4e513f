//! Counting open connections per remote IP address (issue 8, hardening: "max concurrent
//! connections per peer and per client"). The HTTP listener ([`crate::http::serve`]) counts
//! every connection; the peer listener ([`crate::transport`]) counts connections still in their
//! handshake. Entries exist only while their count is above zero, so the map never holds more
//! entries than there are open connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Open connections per remote IP.
#[derive(Debug, Default)]
pub struct ConnCounter {
    open: Mutex<HashMap<IpAddr, u32>>,
}

impl ConnCounter {
    /// Counts a new connection from `ip` unless `ip` already has `max` open.
    pub fn try_open(self: &Arc<Self>, ip: IpAddr, max: u32) -> Option<ConnGuard> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= max {
            if *count == 0 {
                open.remove(&ip);
            }
            return None;
        }
        *count += 1;
        Some(ConnGuard { counter: self.clone(), ip })
    }

    /// Open connections from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> u32 {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&ip).copied().unwrap_or(0)
    }
}

/// One counted connection; dropping it uncounts it.
#[derive(Debug)]
pub struct ConnGuard {
    counter: Arc<ConnCounter>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut open = self.counter.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}
