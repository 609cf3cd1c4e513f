//! A reader of the change feed (`GET /events`, server-sent events) for `dfs mirror`: opens the
//! stream on any node (failing over), resumes after the last id it saw, and yields each event's
//! id and JSON data. Lines are bounded; a broken stream is reported so the caller reconnects.

use anyhow::{anyhow, bail};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde_json::Value;

use crate::client::{failure, Client};

/// Longest event block accepted from a node.
pub const EVENT_BYTES_MAX: usize = 1024 * 1024;

/// One event of the feed.
#[derive(Clone, Debug)]
pub struct FeedEvent {
    /// Its SSE id (committed events only), e.g. `1234` or `1234.2`.
    pub id: Option<String>,
    /// Its JSON body (`kind`, `path`, ...).
    pub data: Value,
}

/// An open event stream.
pub struct EventStream {
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: Vec<u8>,
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
        Ok(Self { body: response.bytes_stream().boxed(), buffer: Vec::new() })
    }

    /// The next event; an error when the stream broke or ended (reconnect with the last id).
    pub async fn next(&mut self) -> anyhow::Result<FeedEvent> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n").map(|at| at + 2) {
                let block: Vec<u8> = self.buffer.drain(..end).collect();
                if let Some(event) = parse(&String::from_utf8_lossy(&block)) {
                    return Ok(event);
                }
                continue;
            }
            if self.buffer.len() > EVENT_BYTES_MAX {
                bail!("an event of more than {EVENT_BYTES_MAX} bytes");
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.buffer.extend_from_slice(&bytes),
                Some(Err(error)) => return Err(anyhow!(error).context("the event stream broke")),
                None => bail!("the event stream ended"),
            }
        }
    }
}

/// One event block (keep-alive comments and unreadable data give `None`).
fn parse(block: &str) -> Option<FeedEvent> {
    let mut id = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("id:") {
            id = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim_start());
        }
    }
    let data = serde_json::from_str(&data).ok()?;
    Some(FeedEvent { id, data })
}
