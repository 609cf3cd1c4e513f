//! `GET /list` (by default, and with the `consistent=true` alias) on a node that trails the
//! leader sees a folder whose creation was acknowledged before the listing began; a
//! `stale=true` listing there does not yet (so the trailing is real), and neither does a default
//! one with the read index skipped (the planted stale read).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use axum::http::Method;
use bytes::Bytes;

use super::*;
use crate::client;

/// The extra one-way delay between the leader and the trailing node: below the election timeout
/// (150 ms), so the follower keeps its leader, and far above the client's 1–2 ms.
const TRAILING: Duration = Duration::from_millis(80);

/// What the trailing node listed at the root: with `stale=true`, by default, then with
/// `consistent=true`.
#[derive(Debug, Default)]
struct Seen {
    stale: Vec<String>,
    default: Vec<String>,
    consistent: Vec<String>,
}

/// The names in a listing answer.
fn names(answer: &client::Answer) -> Vec<String> {
    let body = answer.json();
    let entries = body["entries"].as_array().cloned().unwrap_or_default();
    entries.iter().filter_map(|e| e["path"].as_str().map(str::to_owned)).collect()
}

async fn call(node: SocketAddr, method: Method, path: &str) -> client::Answer {
    let timeout = Duration::from_secs(10);
    let answer = client::call(node, method, path, &[], Bytes::new(), timeout).await;
    answer.unwrap_or_else(|error| panic!("{path}: no answer: {error}"))
}

/// The leader's index, once one of the nodes says it leads.
async fn leader(nodes: &[SocketAddr]) -> usize {
    loop {
        for (i, node) in nodes.iter().enumerate() {
            let timeout = Duration::from_secs(1);
            let health = client::call(*node, Method::GET, "/health", &[], Bytes::new(), timeout);
            if health.await.is_ok_and(|answer| answer.json()["role"] == "leader") {
                return i;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs three nodes; once a leader is known, slows its link to another node, creates `/fresh`
/// through the leader and lists the root through the trailing node.
fn scenario(plant: Option<Bug>) -> Seen {
    dfs_runtime::wall::install(turmoil::since_epoch);
    dfs_runtime::planted::plant(plant);
    let nodes = 3;
    let mut sim = turmoil::Builder::new()
        .rng_seed(7)
        .epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        .tick_duration(TICK)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(2))
        .simulation_duration(Duration::from_secs(60))
        .build();
    for i in 0..nodes {
        sim.host(node_name(i), move || async move {
            let config = node_config(i, nodes);
            let handle =
                dfs_runtime::server::start_on(config, platform::platform(i, 7, Arc::default()))
                    .await
                    .map_err(|e| chain(&e))?;
            handle.wait().await.map_err(|e| chain(&e))?;
            Ok(())
        });
    }
    let addrs: Vec<SocketAddr> =
        (0..nodes).map(|i| SocketAddr::new(sim.lookup(node_name(i)), HTTP_PORT)).collect();
    let (leading, slowed, seen) = (
        Rc::new(Cell::new(None)),
        Rc::new(Cell::new(false)),
        Rc::new(RefCell::new(Seen::default())),
    );
    {
        let (leading, slowed, seen) = (leading.clone(), slowed.clone(), seen.clone());
        sim.client("client", async move {
            tokio::time::sleep(WARMUP).await;
            let lead = leader(&addrs).await;
            leading.set(Some(lead));
            while !slowed.get() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Let messages sent before the change drain.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let created = call(addrs[lead], Method::POST, "/folders/fresh").await;
            assert_eq!(created.status, 201, "{:?}", created.body);
            let trailing = addrs[(lead + 1) % addrs.len()];
            let stale = names(&call(trailing, Method::GET, "/list?stale=true").await);
            let default = names(&call(trailing, Method::GET, "/list").await);
            let consistent = names(&call(trailing, Method::GET, "/list?consistent=true").await);
            *seen.borrow_mut() = Seen { stale, default, consistent };
            Ok(())
        });
    }
    loop {
        if let (Some(lead), false) = (leading.get(), slowed.get()) {
            sim.set_link_latency(node_name(lead), node_name((lead + 1) % nodes), TRAILING);
            slowed.set(true);
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(error) => panic!("the simulation failed: {error}"),
        }
    }
    dfs_runtime::planted::plant(None);
    seen.take()
}

#[test]
fn a_default_listing_on_a_trailing_node_sees_an_acknowledged_folder() {
    let seen = scenario(None);
    assert_eq!(seen.stale, Vec::<String>::new(), "the node does not trail: {seen:?}");
    assert_eq!(seen.default, ["/fresh"], "{seen:?}");
    assert_eq!(seen.consistent, ["/fresh"], "{seen:?}");
    let planted = scenario(Some(Bug::StaleRead));
    assert_eq!(planted.default, Vec::<String>::new(), "without the read index: {planted:?}");
}
