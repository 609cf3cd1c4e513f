//! A server-sent-events reader for tests of `GET /events`, on the runtime's one decoder.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use dfs_runtime::sse::SseDecoder;
pub use dfs_runtime::sse::SseEvent;

/// An open event stream.
pub struct SseStream {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: SseDecoder,
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
        Self { body: response.bytes_stream().boxed(), decoder: SseDecoder::default() }
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
            match self.decoder.next_event() {
                Ok(Some(event)) => return event,
                Ok(None) => {}
                Err(error) => panic!("unreadable event stream: {error}"),
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.decoder.push(&bytes),
                Some(Err(error)) => panic!("event stream failed: {error}"),
                None => panic!("event stream ended"),
            }
        }
    }
}
