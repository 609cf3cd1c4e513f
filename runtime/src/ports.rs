//! Picking free loopback ports for local clusters (`dfs dev-cluster`, `dfs bench`, the end-to-end
//! tests). Ports are bound all at once (so they differ), then released for the nodes to bind; a
//! port is never handed out twice by one process, so concurrent tests cannot collide. Another
//! process may still take one in between: callers detect a node that fails to bind.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::sync::Mutex;

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// `count` free loopback addresses this process has not handed out before.
pub fn free_loopback_addrs(count: usize) -> std::io::Result<Vec<SocketAddr>> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let mut held = Vec::new();
    let mut addrs = Vec::new();
    while addrs.len() < count {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        if handed_out.insert(addr.port()) {
            addrs.push(addr);
        }
        held.push(listener);
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_and_never_repeat() {
        let first = free_loopback_addrs(20).expect("ports");
        let second = free_loopback_addrs(20).expect("ports");
        let all: BTreeSet<u16> = first.iter().chain(&second).map(SocketAddr::port).collect();
        assert_eq!(all.len(), 40);
    }
}
