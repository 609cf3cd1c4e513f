//! The frame codec (DESIGN §1 core `wire`): `magic (4) | version (u16 BE) | length (u32 BE) |
//! payload (postcard)`. Decoding never panics: every malformed input is a typed [`WireError`].
//! Streams read [`HEADER_BYTES`], call [`parse_header`], read that many payload bytes, then call
//! [`decode_payload`]; a whole buffered frame goes to [`decode`].

use crate::error::WireError;

use super::Message;

/// The first four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"dfs\x01";
/// The protocol version this build speaks.
pub const WIRE_VERSION: u16 = 1;
/// Length of the frame header.
pub const HEADER_BYTES: usize = 10;
/// Default largest payload accepted or produced: 16 MiB.
pub const FRAME_BYTES_MAX_DEFAULT: u32 = 16 * 1024 * 1024;

/// The keepalive frame: a header announcing an empty payload, which carries no message. A link
/// sends it when it has been quiet for a while, so the other end can tell a silent peer from a
/// dead connection. Readers skip it (`parse_header` returns 0) instead of decoding it.
pub const KEEPALIVE: [u8; HEADER_BYTES] = {
    let v = WIRE_VERSION.to_be_bytes();
    [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], v[0], v[1], 0, 0, 0, 0]
};

/// Encodes `message` as one frame; refuses a payload over `frame_bytes_max`.
pub fn encode(message: &Message, frame_bytes_max: u32) -> Result<Vec<u8>, WireError> {
    let payload = postcard::to_allocvec(message).map_err(|_| WireError::BadPayload)?;
    let len = u32::try_from(payload.len()).ok().filter(|&len| len <= frame_bytes_max).ok_or(
        WireError::Oversized {
            len_bytes: payload.len() as u64,
            max_bytes: u64::from(frame_bytes_max),
        },
    )?;
    let mut frame = Vec::with_capacity(HEADER_BYTES + payload.len());
    frame.extend_from_slice(&MAGIC);
    frame.extend_from_slice(&WIRE_VERSION.to_be_bytes());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// Checks a frame header and returns the payload length that follows it.
pub fn parse_header(header: &[u8], frame_bytes_max: u32) -> Result<usize, WireError> {
    let Some(header) = header.get(..HEADER_BYTES) else {
        return Err(WireError::Short { needed_bytes: HEADER_BYTES, have_bytes: header.len() });
    };
    let magic: [u8; 4] = [header[0], header[1], header[2], header[3]];
    if magic != MAGIC {
        return Err(WireError::BadMagic { found: magic });
    }
    let version = u16::from_be_bytes([header[4], header[5]]);
    if version != WIRE_VERSION {
        return Err(WireError::UnknownVersion { found: version, supported: WIRE_VERSION });
    }
    let len = u32::from_be_bytes([header[6], header[7], header[8], header[9]]);
    if len > frame_bytes_max {
        return Err(WireError::Oversized {
            len_bytes: u64::from(len),
            max_bytes: u64::from(frame_bytes_max),
        });
    }
    // A u32 always fits in usize on the 32- and 64-bit targets we build for.
    usize::try_from(len).map_err(|_| WireError::Oversized {
        len_bytes: u64::from(len),
        max_bytes: u64::from(frame_bytes_max),
    })
}

/// Decodes a frame's payload into a message; the whole payload must be consumed.
pub fn decode_payload(payload: &[u8]) -> Result<Message, WireError> {
    match postcard::take_from_bytes::<Message>(payload) {
        Ok((message, [])) => Ok(message),
        Ok((_, rest)) => Err(WireError::TrailingBytes { extra_bytes: rest.len() }),
        Err(_) => Err(WireError::BadPayload),
    }
}

/// Decodes exactly one whole frame.
pub fn decode(frame: &[u8], frame_bytes_max: u32) -> Result<Message, WireError> {
    let len = parse_header(frame, frame_bytes_max)?;
    let body = &frame[HEADER_BYTES..];
    if body.len() < len {
        return Err(WireError::Short { needed_bytes: HEADER_BYTES + len, have_bytes: frame.len() });
    }
    if body.len() > len {
        return Err(WireError::TrailingBytes { extra_bytes: body.len() - len });
    }
    decode_payload(body)
}
