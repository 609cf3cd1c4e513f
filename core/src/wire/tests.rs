//! Codec properties (issue: "codec round-trip properties and a test per malformed-frame error").

use raft::eraftpb::{Entry, EntryType, Message as RaftMsg, MessageType};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::error::WireError;

const MAX: u32 = FRAME_BYTES_MAX_DEFAULT;

fn random_message(rng: &mut ChaCha8Rng) -> Message {
    let types = [
        MessageType::MsgAppend,
        MessageType::MsgAppendResponse,
        MessageType::MsgRequestVote,
        MessageType::MsgRequestPreVoteResponse,
        MessageType::MsgHeartbeat,
        MessageType::MsgSnapshot,
    ];
    let mut m = RaftMsg::default();
    m.set_msg_type(types[rng.gen_range(0..types.len())]);
    m.from = rng.gen_range(1..10);
    m.to = rng.gen_range(1..10);
    m.term = rng.gen();
    m.log_term = rng.gen();
    m.index = rng.gen();
    m.commit = rng.gen();
    m.reject = rng.gen();
    for i in 0..rng.gen_range(0..5u64) {
        let mut e = Entry::default();
        e.set_entry_type(if rng.gen() {
            EntryType::EntryNormal
        } else {
            EntryType::EntryConfChangeV2
        });
        e.index = m.index + i + 1;
        e.term = m.term;
        let len = rng.gen_range(0..300);
        e.data = (0..len).map(|_| rng.gen::<u8>()).collect::<Vec<u8>>().into();
        m.mut_entries().push(e);
    }
    if m.get_msg_type() == MessageType::MsgSnapshot {
        m.mut_snapshot().mut_metadata().index = rng.gen();
        m.mut_snapshot().set_data(vec![7; rng.gen_range(0..2000)].into());
    }
    Message::Raft(RaftMessage(m))
}

#[test]
fn random_messages_round_trip_whole_and_streamed() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..2_000 {
        let message = random_message(&mut rng);
        let frame = encode(&message, MAX).expect("encodes");
        assert_eq!(decode(&frame, MAX).as_ref(), Ok(&message));
        let len = parse_header(&frame[..HEADER_BYTES], MAX).expect("header parses");
        assert_eq!(len, frame.len() - HEADER_BYTES);
        assert_eq!(decode_payload(&frame[HEADER_BYTES..]).as_ref(), Ok(&message));
        // Re-encoding a decoded message gives the same frame.
        let again = encode(&decode(&frame, MAX).expect("decodes"), MAX).expect("encodes");
        assert_eq!(again, frame);
    }
}

fn sample_frame() -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    encode(&random_message(&mut rng), MAX).expect("encodes")
}

#[test]
fn short_header_is_short() {
    let frame = sample_frame();
    assert_eq!(
        decode(&frame[..HEADER_BYTES - 1], MAX),
        Err(WireError::Short { needed_bytes: HEADER_BYTES, have_bytes: HEADER_BYTES - 1 })
    );
    assert!(matches!(decode(&[], MAX), Err(WireError::Short { .. })));
}

#[test]
fn short_body_is_short() {
    let frame = sample_frame();
    let cut = frame.len() - 1;
    assert_eq!(
        decode(&frame[..cut], MAX),
        Err(WireError::Short { needed_bytes: frame.len(), have_bytes: cut })
    );
}

#[test]
fn bad_magic_is_refused() {
    let mut frame = sample_frame();
    frame[0] = b'X';
    assert_eq!(decode(&frame, MAX), Err(WireError::BadMagic { found: *b"Xfs\x01" }));
    assert!(matches!(decode(b"GET / HTTP/1.1\r\n", MAX), Err(WireError::BadMagic { .. })));
}

#[test]
fn unknown_version_is_refused() {
    let mut frame = sample_frame();
    frame[4..6].copy_from_slice(&2u16.to_be_bytes());
    assert_eq!(
        decode(&frame, MAX),
        Err(WireError::UnknownVersion { found: 2, supported: WIRE_VERSION })
    );
}

#[test]
fn oversized_is_refused_on_both_sides() {
    let mut header = Vec::from(MAGIC);
    header.extend_from_slice(&WIRE_VERSION.to_be_bytes());
    header.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        parse_header(&header, 1024),
        Err(WireError::Oversized { len_bytes: u64::from(u32::MAX), max_bytes: 1024 })
    );
    let frame = sample_frame();
    let payload = (frame.len() - HEADER_BYTES) as u32;
    assert!(matches!(
        encode(&decode(&frame, MAX).expect("decodes"), payload - 1),
        Err(WireError::Oversized { .. })
    ));
}

#[test]
fn bad_payload_is_refused() {
    let mut frame = Vec::from(MAGIC);
    frame.extend_from_slice(&WIRE_VERSION.to_be_bytes());
    frame.extend_from_slice(&3u32.to_be_bytes());
    frame.extend_from_slice(&[9, 9, 9]); // enum variant 9 does not exist
    assert_eq!(decode(&frame, MAX), Err(WireError::BadPayload));
    // Variant 0 (Raft) followed by bytes that are not protobuf.
    let mut raft = Vec::from(MAGIC);
    raft.extend_from_slice(&WIRE_VERSION.to_be_bytes());
    raft.extend_from_slice(&4u32.to_be_bytes());
    raft.extend_from_slice(&[0, 2, 0xff, 0xff]);
    assert_eq!(decode(&raft, MAX), Err(WireError::BadPayload));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut frame = sample_frame();
    frame.push(0);
    assert_eq!(decode(&frame, MAX), Err(WireError::TrailingBytes { extra_bytes: 1 }));
    let mut payload = frame[HEADER_BYTES..].to_vec();
    payload.push(0);
    assert_eq!(decode_payload(&payload), Err(WireError::TrailingBytes { extra_bytes: 2 }));
}

#[test]
fn garbage_never_panics() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let frame = sample_frame();
    for _ in 0..20_000 {
        let mut bytes = frame.clone();
        for _ in 0..rng.gen_range(1..8) {
            let at = rng.gen_range(0..bytes.len());
            bytes[at] = rng.gen();
        }
        bytes.truncate(rng.gen_range(0..=bytes.len()));
        crate::testing::fuzz::wire_decode(&bytes);
    }
}

#[test]
fn fuzz_found_unknown_protobuf_field_reaches_a_fixpoint() {
    // A snapshot field carrying an unknown field 7, then a truncated repeat of the field
    // (found by cargo fuzz wire_decode). It decodes; its re-encoding must be stable.
    let frame = [
        0x64, 0x66, 0x73, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x08, 0x20, 0x0a, 0x4a,
        0x02, 0x3a, 0x00, 0x4a, 0x02,
    ];
    assert!(decode(&frame, MAX).is_ok());
    crate::testing::fuzz::wire_decode(&frame);
}

#[test]
fn fuzz_found_unknown_fields_are_dropped_not_reordered() {
    // Two unknown fields (7 and 9) in a snapshot: protobuf would re-emit them in hash order.
    let frame = [
        0x64, 0x66, 0x73, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x08, 0x3a, 0x59, 0x40,
        0xb2, 0x00, 0x48, 0xb2, 0x3a,
    ];
    let Ok(Message::Raft(message)) = decode(&frame, MAX) else { panic!("decodes") };
    assert!(protobuf::Message::get_unknown_fields(&message.0).fields.is_none());
    crate::testing::fuzz::wire_decode(&frame);
}

#[test]
fn the_keepalive_frame_is_a_valid_header_with_an_empty_payload() {
    assert_eq!(parse_header(&KEEPALIVE, FRAME_BYTES_MAX_DEFAULT), Ok(0));
}
