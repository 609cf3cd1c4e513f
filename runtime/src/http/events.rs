//! `GET /events` (DESIGN §2 "change feed"): the node's change feed as server-sent events.
//!
//! Each event is one `data:` line of JSON with a `kind`; committed events carry the raft index as
//! their SSE id, so `Last-Event-ID` (or `?after=ID`) resumes exactly where a client left off, on
//! any node. A `reset` event says events were missed (the node no longer holds them): list again.
//!
//! Access control: admins get every event. Other users get the events about paths they may read
//! (judged when the event is sent; a move when either end is readable) and the cluster events
//! (nodes, repairs, leader), but not `acl_changed` on paths they cannot read nor `user_*` events.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use super::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{ApiError, ApiState};
use crate::driver::DriverHandle;
use crate::feed::{Feed, FeedEvent, Position, Read};
use dfs_core::auth::{Caller, Need};

/// Events read from the feed at a time.
const BATCH: usize = 256;
/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Query of `GET /events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Resume after this event id (as `Last-Event-ID`, which wins if both are given).
    after: Option<String>,
    /// Without a resume id: start with up to this many of the latest held events.
    recent: Option<usize>,
}

/// `GET /events[?after=ID][?recent=N]`: the change feed from now on (after the last `N` events),
/// or from after `Last-Event-ID`.
pub async fn events(
    State(state): State<ApiState>,
    super::auth::Authed(caller): super::auth::Authed,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let raw = match headers.get("last-event-id") {
        Some(value) => Some(value.to_str().map_err(|_| bad_id("not text"))?.to_owned()),
        None => query.after.clone(),
    };
    let resume = match raw.as_deref().map(str::trim).filter(|raw| !raw.is_empty()) {
        Some(raw) => Some(Position::parse(raw).ok_or_else(|| bad_id(raw))?),
        None => None,
    };
    let feed = state.driver.feed().clone();
    let changed = feed.watch();
    let (cursor, gap) = match (resume, query.recent) {
        (None, Some(recent)) => (feed.recent(recent), None),
        _ => match feed.cursor(resume) {
            Read::Events(_, next) => (next, None),
            Read::Gap { next, held_from } => (next, Some(held_from)),
        },
    };
    let shutdown = state.shutdown.clone();
    let viewer = (!caller.admin).then(|| (caller, state.driver.clone()));
    let reader = Reader { feed, changed, pending: VecDeque::new(), cursor, gap, shutdown, viewer };
    let stream = futures_util::stream::unfold(reader, |mut reader| async move {
        let event = reader.next().await?;
        Some((Ok(event), reader))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn bad_id(raw: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "bad_event_id",
        format!("event id {raw:?} is not an index (\"1234\") or index.sub (\"1234.2\")"),
    )
}

/// One client's place in the feed.
struct Reader {
    feed: Arc<Feed>,
    changed: watch::Receiver<u64>,
    pending: VecDeque<FeedEvent>,
    cursor: u64,
    /// A gap to report before anything else: the lowest index still held.
    gap: Option<u64>,
    shutdown: CancellationToken,
    /// A caller who is not an admin, whose events are filtered; `None` for admins.
    viewer: Option<(Caller, DriverHandle)>,
}

impl Reader {
    /// The next SSE event; `None` ends the stream (the node is stopping).
    async fn next(&mut self) -> Option<Event> {
        if let Some(held_from) = self.gap.take() {
            return Some(reset(held_from));
        }
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(to_sse(&event));
            }
            // Seen before reading, so a push after the read wakes us.
            self.changed.borrow_and_update();
            match self.feed.read(self.cursor, BATCH) {
                Read::Gap { next, held_from } => {
                    self.cursor = next;
                    return Some(reset(held_from));
                }
                Read::Events(events, next) if events.is_empty() => {
                    self.cursor = next;
                    tokio::select! {
                        biased;
                        () = self.shutdown.cancelled() => return None,
                        changed = self.changed.changed() => changed.ok()?,
                    }
                }
                Read::Events(events, next) => {
                    self.cursor = next;
                    let events = self.visible(events).await?;
                    self.pending.extend(events);
                }
            }
        }
    }
}

impl Reader {
    /// The events of `events` the viewer may see (all for an admin); `None` if the node stops.
    async fn visible(&self, events: Vec<FeedEvent>) -> Option<Vec<FeedEvent>> {
        let Some((caller, driver)) = &self.viewer else { return Some(events) };
        let caller = caller.clone();
        driver
            .query(move |node| {
                let namespace = node.status().namespace;
                let readable = |field: &serde_json::Value| {
                    let path = field.as_str().and_then(|raw| dfs_core::Path::parse(raw).ok());
                    path.is_some_and(|path| namespace.level(&caller, &path).allows(Need::Read))
                };
                events
                    .into_iter()
                    .filter(|event| {
                        let body = &event.body;
                        let kind = body["kind"].as_str().unwrap_or("");
                        if kind.starts_with("user_") {
                            return false;
                        }
                        if body.get("path").is_some() {
                            return readable(&body["path"]);
                        }
                        if kind == "moved" {
                            return readable(&body["from"]) || readable(&body["to"]);
                        }
                        true
                    })
                    .collect()
            })
            .await
            .ok()
    }
}

fn to_sse(event: &FeedEvent) -> Event {
    let sse = Event::default().data(event.body.to_string());
    match event.id() {
        Some(id) => sse.id(id),
        None => sse,
    }
}

fn reset(held_from: u64) -> Event {
    let body = json!({
        "kind": "reset",
        "held_from": held_from,
        "reason": format!("events before index {held_from} are no longer held here; list the namespace again"),
    });
    Event::default().data(body.to_string())
}
