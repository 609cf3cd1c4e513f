//! S3 access keys: each belongs to a dfs user. SigV4 needs the secret itself on every node, so
//! the replicated record holds it sealed with a key derived from the cluster secret (which
//! every member has and nothing outside the cluster does): a blake3 keystream (keyed by the
//! derived key, a per-key nonce and the key id) XORed with the secret, then a blake3 MAC over
//! nonce, id and ciphertext with a second derived key. A snapshot or log that leaks alone
//! gives no secret; a record moved to another key id, or altered, fails to open.

use serde::{Deserialize, Serialize};

use crate::ids::{UnixMillis, UserName};

/// Length of an access key id (`DFS` and 17 more characters, as AWS ids are 20).
pub const ID_LEN: usize = 20;

/// Longest secret accepted.
pub const SECRET_BYTES_MAX: usize = 128;

/// One access key as the namespace records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AccessKey {
    /// The id clients send (`AKID` in the SigV4 credential).
    pub id: String,
    /// The dfs user it acts as.
    pub user: UserName,
    /// The secret, sealed ([`seal`]).
    pub sealed: Sealed,
    /// When it was created (the receiving node's clock).
    pub created_at: UnixMillis,
}

/// A sealed secret: nonce, ciphertext and MAC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Sealed {
    /// Chosen at random per key by the node that creates it.
    pub nonce: [u8; 16],
    /// The secret XOR the keystream.
    pub ciphertext: Vec<u8>,
    /// blake3 MAC of nonce, id and ciphertext.
    pub mac: [u8; 32],
}

/// Whether `id` looks like an access key id this cluster makes: `DFS` then 17 uppercase letters
/// or digits.
pub fn is_valid_id(id: &str) -> bool {
    id.len() == ID_LEN
        && id.starts_with("DFS")
        && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Whether `secret` can be an S3 secret: 16 to [`SECRET_BYTES_MAX`] visible ASCII bytes.
pub fn is_valid_secret(secret: &str) -> bool {
    (16..=SECRET_BYTES_MAX).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_graphic())
}

fn keys(cluster_secret: &str) -> ([u8; 32], [u8; 32]) {
    let stream = blake3::derive_key("dfs 2026-12 s3 secret keystream", cluster_secret.as_bytes());
    let mac = blake3::derive_key("dfs 2026-12 s3 secret mac", cluster_secret.as_bytes());
    (stream, mac)
}

fn keystream(key: &[u8; 32], nonce: &[u8; 16], id: &str, len: usize) -> Vec<u8> {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(nonce);
    hasher.update(id.as_bytes());
    let mut out = vec![0u8; len];
    hasher.finalize_xof().fill(&mut out);
    out
}

fn mac(key: &[u8; 32], nonce: &[u8; 16], id: &str, ciphertext: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(nonce);
    hasher.update(&(id.len() as u64).to_le_bytes());
    hasher.update(id.as_bytes());
    hasher.update(ciphertext);
    *hasher.finalize().as_bytes()
}

/// Seals `secret` for the key `id` under `cluster_secret`, with a fresh random `nonce`.
pub fn seal(cluster_secret: &str, id: &str, secret: &str, nonce: [u8; 16]) -> Sealed {
    let (stream_key, mac_key) = keys(cluster_secret);
    let stream = keystream(&stream_key, &nonce, id, secret.len());
    let ciphertext: Vec<u8> = secret.bytes().zip(stream).map(|(a, b)| a ^ b).collect();
    let mac = mac(&mac_key, &nonce, id, &ciphertext);
    Sealed { nonce, ciphertext, mac }
}

/// The secret of key `id`, or `None` when the MAC does not match (another cluster secret, another
/// id, altered bytes) or the plaintext is not a valid secret.
pub fn open(cluster_secret: &str, id: &str, sealed: &Sealed) -> Option<String> {
    let (stream_key, mac_key) = keys(cluster_secret);
    let expected = mac(&mac_key, &sealed.nonce, id, &sealed.ciphertext);
    if !constant_time_eq(&expected, &sealed.mac) {
        return None;
    }
    let stream = keystream(&stream_key, &sealed.nonce, id, sealed.ciphertext.len());
    let plain: Vec<u8> = sealed.ciphertext.iter().zip(stream).map(|(a, b)| a ^ b).collect();
    String::from_utf8(plain).ok().filter(|secret| is_valid_secret(secret))
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn a_sealed_secret_opens_only_with_its_cluster_secret_and_id() {
        let id = "DFSABCDEFGHIJKLMNOP";
        let id = &format!("{id}Q");
        assert!(is_valid_id(id));
        let sealed = seal("cluster-one", id, SECRET, [7; 16]);
        assert!(!sealed
            .ciphertext
            .windows(8)
            .any(|w| SECRET.as_bytes().windows(8).any(|s| s == w)));
        assert_eq!(open("cluster-one", id, &sealed).as_deref(), Some(SECRET));
        assert_eq!(open("cluster-two", id, &sealed), None);
        assert_eq!(open("cluster-one", "DFSOTHERIDXXXXXXXXXX", &sealed), None);
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert_eq!(open("cluster-one", id, &altered), None);
        // Another nonce gives other bytes for the same secret.
        assert_ne!(seal("cluster-one", id, SECRET, [8; 16]).ciphertext, sealed.ciphertext);
    }

    #[test]
    fn ids_and_secrets_are_validated() {
        assert!(!is_valid_id("DFSabcdefghijklmnopq"));
        assert!(!is_valid_id("AKIAABCDEFGHIJKLMNOP"));
        assert!(!is_valid_id("DFS"));
        assert!(is_valid_secret(SECRET));
        assert!(!is_valid_secret("short"));
        assert!(!is_valid_secret("has a space in it, sixteen+"));
    }
}
