//! Peer-to-peer messages (DESIGN §1 core `wire`): one struct per kind inside [`Message`], framed
//! by [`codec`] as magic | version | length | payload. Raft's own messages travel inside as
//! protobuf bytes, so the raft crate's format stays its own business.

pub mod codec;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::health::{ClusterView, Usage};

pub use codec::{
    decode, decode_payload, encode, parse_header, FRAME_BYTES_MAX_DEFAULT, HEADER_BYTES, KEEPALIVE,
    MAGIC, WIRE_VERSION,
};

/// Every message one node sends another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// A raft consensus message (append, vote, heartbeat, snapshot and their responses).
    Raft(RaftMessage),
    /// A node's liveness and usage report to the leader (DESIGN §2 "heartbeats").
    Heartbeat(Usage),
    /// The leader's answer to a heartbeat: what it knows of every member.
    View(ClusterView),
}

/// A raft message, carried as its protobuf encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct RaftMessage(pub raft::eraftpb::Message);

impl RaftMessage {
    /// A short, stable description for traces: type, term, and what it carries.
    pub fn summary(&self) -> String {
        use raft::eraftpb::MessageType as T;
        let m = &self.0;
        let kind = format!("{:?}", m.get_msg_type());
        let kind = kind.trim_start_matches("Msg");
        match m.get_msg_type() {
            T::MsgAppend => format!(
                "{kind} term={} prev={}/{} entries={} commit={}",
                m.term,
                m.index,
                m.log_term,
                m.entries.len(),
                m.commit
            ),
            T::MsgAppendResponse => format!(
                "{kind} term={} index={}{}",
                m.term,
                m.index,
                if m.reject { " reject" } else { "" }
            ),
            T::MsgRequestVote | T::MsgRequestPreVote => {
                format!("{kind} term={} last={}/{}", m.term, m.index, m.log_term)
            }
            T::MsgRequestVoteResponse | T::MsgRequestPreVoteResponse => {
                format!("{kind} term={}{}", m.term, if m.reject { " reject" } else { " grant" })
            }
            T::MsgSnapshot => {
                format!("{kind} term={} index={}", m.term, m.get_snapshot().get_metadata().index)
            }
            _ => format!("{kind} term={} commit={}", m.term, m.commit),
        }
    }
}

impl Serialize for RaftMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes =
            protobuf::Message::write_to_bytes(&self.0).map_err(serde::ser::Error::custom)?;
        serializer.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for RaftMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl serde::de::Visitor<'_> for BytesVisitor {
            type Value = RaftMessage;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("protobuf-encoded raft message bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<RaftMessage, E> {
                let mut message: raft::eraftpb::Message =
                    protobuf::Message::parse_from_bytes(bytes)
                        .map_err(|_| E::custom("invalid raft protobuf"))?;
                strip_unknown_fields(&mut message);
                Ok(RaftMessage(message))
            }
        }
        deserializer.deserialize_bytes(BytesVisitor)
    }
}

/// Drops protobuf fields this build does not know. They mean nothing to raft here, and protobuf
/// re-encodes them in hash-map order, which would make relayed bytes nondeterministic (found by
/// the wire_decode fuzzer).
fn strip_unknown_fields(message: &mut raft::eraftpb::Message) {
    use protobuf::Message as _;
    *message.mut_unknown_fields() = protobuf::UnknownFields::new();
    for entry in message.mut_entries().iter_mut() {
        *entry.mut_unknown_fields() = protobuf::UnknownFields::new();
    }
    // `mut_*` would create absent submessages: touch only those present.
    if !message.has_snapshot() {
        return;
    }
    let snapshot = message.mut_snapshot();
    *snapshot.mut_unknown_fields() = protobuf::UnknownFields::new();
    if !snapshot.has_metadata() {
        return;
    }
    let metadata = snapshot.mut_metadata();
    *metadata.mut_unknown_fields() = protobuf::UnknownFields::new();
    if metadata.has_conf_state() {
        *metadata.mut_conf_state().mut_unknown_fields() = protobuf::UnknownFields::new();
    }
}
