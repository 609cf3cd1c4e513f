//! Handshake tests: the right secret passes both ways; a wrong secret, a tampered byte, a
//! replayed proof and a wrong peer id each fail with their own error.

use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

const SECRET: &str = "correct horse battery staple";

async fn pair(
    dial_key: ClusterKey,
    accept_key: ClusterKey,
) -> (Result<(), HandshakeError>, Result<NodeId, HandshakeError>) {
    let (mut a, mut b) = duplex(4096);
    let dialer = async move { dial(&mut a, &dial_key, NodeId(1), NodeId(2)).await };
    let accepter = async move { accept(&mut b, &accept_key, NodeId(2)).await };
    tokio::join!(dialer, accepter)
}

#[tokio::test]
async fn the_right_secret_authenticates_both_sides() {
    let key = ClusterKey::from_secret(SECRET);
    let (dialed, accepted) = pair(key.clone(), key).await;
    assert!(dialed.is_ok(), "{dialed:?}");
    assert_eq!(accepted.ok(), Some(NodeId(1)));
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_both_sides() {
    let (dialed, accepted) =
        pair(ClusterKey::from_secret("not the cluster secret"), ClusterKey::from_secret(SECRET))
            .await;
    assert!(matches!(dialed, Err(HandshakeError::BadMac)), "{dialed:?}");
    // The dialer hung up without a proof: the accepter sees a failed read, never success.
    assert!(accepted.is_err());
}

#[tokio::test]
async fn an_accepter_with_a_wrong_secret_is_refused_by_the_dialer() {
    let (dialed, _) =
        pair(ClusterKey::from_secret(SECRET), ClusterKey::from_secret("impostor secret!!")).await;
    assert!(matches!(dialed, Err(HandshakeError::BadMac)), "{dialed:?}");
}

/// Plays the dialer by hand: sends `hello`, reads the accepter's reply, sends `proof(reply)`.
async fn manual_dial(
    stream: &mut DuplexStream,
    hello_nonce: [u8; NONCE_BYTES],
    proof: impl FnOnce(&[u8; NONCE_BYTES]) -> [u8; 32],
) {
    let mut hello = Vec::from(HELLO);
    hello.extend_from_slice(&1u64.to_be_bytes());
    hello.extend_from_slice(&hello_nonce);
    stream.write_all(&hello).await.expect("write hello");
    let mut reply = [0; HELLO.len() + 8 + NONCE_BYTES + 32];
    stream.read_exact(&mut reply).await.expect("read reply");
    let mut accepter_nonce = [0; NONCE_BYTES];
    accepter_nonce.copy_from_slice(&reply[HELLO.len() + 8..HELLO.len() + 8 + NONCE_BYTES]);
    stream.write_all(&proof(&accepter_nonce)).await.expect("write proof");
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let key = ClusterKey::from_secret(SECRET);
    let dialer_nonce = [7; NONCE_BYTES];
    // A genuine session, recorded by an eavesdropper.
    let (mut a, mut b) = duplex(4096);
    let recorded = std::sync::Arc::new(std::sync::Mutex::new([0u8; 32]));
    let (tap, k) = (recorded.clone(), key.clone());
    let honest = manual_dial(&mut a, dialer_nonce, move |theirs| {
        let proof = *k.mac(b"dialer", (NodeId(1), NodeId(2)), (theirs, &dialer_nonce)).as_bytes();
        *tap.lock().expect("lock") = proof;
        proof
    });
    let (_, first) = tokio::join!(honest, accept(&mut b, &key, NodeId(2)));
    assert_eq!(first.ok(), Some(NodeId(1)));
    // The replay: same hello, same proof, but the accepter drew a fresh nonce.
    let (mut a, mut b) = duplex(4096);
    let old = *recorded.lock().expect("lock");
    let replay = manual_dial(&mut a, dialer_nonce, move |_| old);
    let (_, second) = tokio::join!(replay, accept(&mut b, &key, NodeId(2)));
    assert!(matches!(second, Err(HandshakeError::BadMac)), "{second:?}");
}

#[tokio::test]
async fn a_tampered_proof_is_refused() {
    let key = ClusterKey::from_secret(SECRET);
    let (mut a, mut b) = duplex(4096);
    let k = key.clone();
    let tampered = manual_dial(&mut a, [3; NONCE_BYTES], move |theirs| {
        let mut proof =
            *k.mac(b"dialer", (NodeId(1), NodeId(2)), (theirs, &[3; NONCE_BYTES])).as_bytes();
        proof[0] ^= 1;
        proof
    });
    let (_, accepted) = tokio::join!(tampered, accept(&mut b, &key, NodeId(2)));
    assert!(matches!(accepted, Err(HandshakeError::BadMac)), "{accepted:?}");
}

#[tokio::test]
async fn reaching_the_wrong_node_is_refused() {
    let key = ClusterKey::from_secret(SECRET);
    let (mut a, mut b) = duplex(4096);
    let (k1, k2) = (key.clone(), key);
    let (dialed, _) =
        tokio::join!(async move { dial(&mut a, &k1, NodeId(1), NodeId(3)).await }, async move {
            accept(&mut b, &k2, NodeId(2)).await
        });
    assert!(matches!(
        dialed,
        Err(HandshakeError::WrongPeer { expected: NodeId(3), found: NodeId(2) })
    ));
}

#[tokio::test]
async fn a_non_dfs_client_is_refused() {
    let key = ClusterKey::from_secret(SECRET);
    let (mut a, mut b) = duplex(4096);
    a.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let accepted = accept(&mut b, &key, NodeId(2)).await;
    assert!(matches!(accepted, Err(HandshakeError::NotDfs)), "{accepted:?}");
}
