//! The change feed's wire format as a client reads it (`GET /events`, server-sent events): one
//! decoder for every reader (`dfs mirror`, the end-to-end tests), bounded per event. Blocks end
//! at a blank line; `id:` is the event id, `data:` its JSON; blocks without data (keep-alive
//! comments) are skipped.

use serde_json::Value;

/// Longest event block accepted.
pub const EVENT_BYTES_MAX: usize = 1024 * 1024;

/// One event of the feed.
#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    /// Its SSE id (committed events only), e.g. `1234` or `1234.2`.
    pub id: Option<String>,
    /// Its JSON body (`kind`, `path`, ...).
    pub data: Value,
}

/// Why a stream cannot be read on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SseError {
    /// An event block grew past [`EVENT_BYTES_MAX`].
    #[error("an event of more than {EVENT_BYTES_MAX} bytes")]
    TooLarge,
    /// An event's data is not JSON.
    #[error("an event's data is not JSON: {0}")]
    BadData(String),
}

/// Bytes in, events out.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
}

impl SseDecoder {
    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete event, `Ok(None)` until more bytes are pushed.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n").map(|at| at + 2) {
            let block: Vec<u8> = self.buffer.drain(..end).collect();
            if block.len() > EVENT_BYTES_MAX {
                return Err(SseError::TooLarge);
            }
            if let Some(event) = parse(&String::from_utf8_lossy(&block))? {
                return Ok(Some(event));
            }
        }
        if self.buffer.len() > EVENT_BYTES_MAX {
            return Err(SseError::TooLarge);
        }
        Ok(None)
    }
}

/// One block: `None` for a block without data.
fn parse(block: &str) -> Result<Option<SseEvent>, SseError> {
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
        return Ok(None);
    }
    let data = serde_json::from_str(&data).map_err(|e| SseError::BadData(e.to_string()))?;
    Ok(Some(SseEvent { id, data }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_reads_and_keep_alives_are_handled() {
        let mut decoder = SseDecoder::default();
        decoder.push(b": keep-alive\n\nid: 7\nda");
        assert_eq!(decoder.next_event(), Ok(None));
        decoder.push(b"ta: {\"kind\": \"file_added\"}\n\ndata: {\"kind\": \"reset\"}\n\n");
        let first = decoder.next_event().expect("readable").expect("an event");
        assert_eq!(first.id.as_deref(), Some("7"));
        assert_eq!(first.data["kind"], "file_added");
        let second = decoder.next_event().expect("readable").expect("an event");
        assert_eq!((second.id, second.data["kind"].clone()), (None, "reset".into()));
        assert_eq!(decoder.next_event(), Ok(None));
    }

    #[test]
    fn oversized_and_unreadable_events_are_errors() {
        let mut decoder = SseDecoder::default();
        decoder.push(b"data: not json\n\n");
        assert!(matches!(decoder.next_event(), Err(SseError::BadData(_))));
        let mut decoder = SseDecoder::default();
        decoder.push(&vec![b'x'; EVENT_BYTES_MAX + 1]);
        assert_eq!(decoder.next_event(), Err(SseError::TooLarge));
    }
}
