//! A reader of the change feed (`GET /events`, server-sent events) for `dfs mirror`: opens the
//! stream on any node (failing over), resumes after the last id it saw, and yields each event's
//! id and JSON data (decoded by [`SseDecoder`], bounded per event); a broken stream is reported so
//! the caller reconnects.

use anyhow::{anyhow, bail};
use dfs_runtime::sse::SseDecoder;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use crate::client::{failure, Client};

/// One event of the feed.
pub use dfs_runtime::sse::SseEvent as FeedEvent;

/// An open event stream.
pub struct EventStream {
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: SseDecoder,
}

impl EventStream {
    /// Opens the feed on the first node that answers, after `last_id` if given.
    pub async fn open(client: &Client, last_id: Option<&str>) -> anyhow::Result<Self> {
        let response = client
            .send(|http, node| {
                let request = http.get(format!("{node}/events"));
                match last_id {
                    Some(id) => request.header("Last-Event-ID", id),
                    None => request,
                }
            })
            .await?;
        if !response.status().is_success() {
            return Err(failure(response).await.into());
        }
        Ok(Self { body: response.bytes_stream().boxed(), decoder: SseDecoder::default() })
    }

    /// The next event; an error when the stream broke or ended (reconnect with the last id) or
    /// sent something unreadable.
    pub async fn next(&mut self) -> anyhow::Result<FeedEvent> {
        loop {
            if let Some(event) = self.decoder.next_event()? {
                return Ok(event);
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.decoder.push(&bytes),
                Some(Err(error)) => return Err(anyhow!(error).context("the event stream broke")),
                None => bail!("the event stream ended"),
            }
        }
    }
}
