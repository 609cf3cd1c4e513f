//! A small server-sent-events reader for tests of `GET /events`.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

/// One event: its id (if it had one) and its JSON data.
#[derive(Clone, Debug)]
pub struct SseEvent {
    /// The `id:` field.
    pub id: Option<String>,
    /// The `data:` field, parsed.
    pub data: Value,
}

/// An open event stream.
pub struct SseStream {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: Vec<u8>,
}

impl SseStream {
    /// Opens `url` (a node's `/events`), resuming after `last_id` if given; panics unless the
    /// node answers 200 with `text/event-stream`.
    pub async fn open(http: &reqwest::Client, url: &str, last_id: Option<&str>) -> Self {
        let mut request = http.get(url);
        if let Some(id) = last_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("events request");
        assert_eq!(response.status(), 200, "GET {url}");
        let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok());
        assert_eq!(kind, Some("text/event-stream"), "content type of {url}");
        Self { body: response.bytes_stream().boxed(), buffer: Vec::new() }
    }

    /// The next event (keep-alive comments skipped); panics if none comes within `limit`.
    pub async fn next(&mut self, limit: Duration) -> SseEvent {
        tokio::time::timeout(limit, self.read())
            .await
            .unwrap_or_else(|_| panic!("no event within {limit:?}"))
    }

    /// Events until one satisfies `wanted` (returned with those before it); panics after `limit`.
    pub async fn until(
        &mut self,
        limit: Duration,
        mut wanted: impl FnMut(&SseEvent) -> bool,
    ) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = tokio::time::timeout(left, self.read()).await.unwrap_or_else(|_| {
                let kinds: Vec<&Value> = seen.iter().map(|e: &SseEvent| &e.data["kind"]).collect();
                panic!("the awaited event did not come within {limit:?}; saw {kinds:?}")
            });
            let done = wanted(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    async fn read(&mut self) -> SseEvent {
        loop {
            if let Some(end) = find_blank_line(&self.buffer) {
                let block: Vec<u8> = self.buffer.drain(..end).collect();
                if let Some(event) = parse(&String::from_utf8_lossy(&block)) {
                    return event;
                }
                continue;
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.buffer.extend_from_slice(&bytes),
                Some(Err(error)) => panic!("event stream failed: {error}"),
                None => panic!("event stream ended"),
            }
        }
    }
}

/// The end (past the blank line) of the first complete event block.
fn find_blank_line(buffer: &[u8]) -> Option<usize> {
    buffer.windows(2).position(|w| w == b"\n\n").map(|at| at + 2)
}

fn parse(block: &str) -> Option<SseEvent> {
    let mut id = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("id:") {
            id = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim_start());
        }
    }
    if data.is_empty() {
        return None;
    }
    let data = serde_json::from_str(&data).unwrap_or_else(|e| panic!("event data {data:?}: {e}"));
    Some(SseEvent { id, data })
}
