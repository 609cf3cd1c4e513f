//! Users' names, bearer tokens and how their secrets are stored (DESIGN §2 "access control").
//!
//! Rules:
//! - **Names** are 1 to [`USER_NAME_BYTES_MAX`] bytes of `a-z 0-9 _ -`, starting with a letter or
//!   digit: safe in URLs, logs and tokens, and never containing the token separator `.`.
//! - **Tokens** are `NAME.SECRET` ([`Token`]): the name finds the user in O(log n), the secret
//!   proves it. A secret is [`SECRET_BYTES_MIN`] to [`SECRET_BYTES_MAX`] visible ASCII bytes; the
//!   nodes make 64 hex digits (256 random bits) for `dfs user add`.
//! - **Only hashes are replicated.** A user's [`Credential`] is a random salt and the keyed blake3
//!   of salt and secret; the secret itself is never stored or logged. Secrets are random, so a
//!   fast hash is enough (no password stretching). Comparisons are constant-time.
//! - Salts and secrets are drawn by the runtime (OS entropy) and arrive here inside commands:
//!   core stays deterministic.

use serde::{Deserialize, Serialize};

use crate::ids::{Hash, UserName};

/// Longest user name, in bytes.
pub const USER_NAME_BYTES_MAX: usize = 32;
/// Shortest accepted token secret, in bytes.
pub const SECRET_BYTES_MIN: usize = 16;
/// Longest accepted token secret, in bytes.
pub const SECRET_BYTES_MAX: usize = 256;

/// The blake3 key-derivation context of stored token digests.
const DIGEST_CONTEXT: &str = "dfs 2026-01 user token digest v1";

impl UserName {
    /// Validates a user name (see the module docs); `None` if it is not one.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= USER_NAME_BYTES_MAX
            && raw.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        ok.then(|| Self(raw.to_owned()))
    }
}

/// A bearer token, split into the user it names and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The user the token claims to be.
    pub user: UserName,
    secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "Token({}.***)", self.user)
    }
}

impl Token {
    /// Parses `NAME.SECRET`; `None` when the name or the secret is not valid.
    pub fn parse(raw: &str) -> Option<Self> {
        let (name, secret) = raw.split_once('.')?;
        let user = UserName::parse(name)?;
        let ok = (SECRET_BYTES_MIN..=SECRET_BYTES_MAX).contains(&secret.len())
            && secret.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self { user, secret: secret.to_owned() })
    }

    /// The whole token, `NAME.SECRET`, to send or show once (never log it).
    pub fn expose(&self) -> String {
        format!("{}.{}", self.user, self.secret)
    }

    /// The secret part (to derive a [`Credential`] from).
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

/// What is stored about a token: a salt and the salted, keyed blake3 digest of its secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Credential {
    /// Random bytes mixed into the digest (two users with the same secret store different
    /// digests).
    pub salt: [u8; 16],
    /// blake3 (derive-key mode, [`DIGEST_CONTEXT`]) of salt then secret.
    pub digest: Hash,
}

impl Credential {
    /// The credential of `secret` with `salt`.
    pub fn derive(salt: [u8; 16], secret: &str) -> Self {
        Self { salt, digest: digest(&salt, secret) }
    }

    /// Whether `secret` is the secret this credential was derived from (constant-time compare).
    pub fn matches(&self, secret: &str) -> bool {
        blake3::Hash::from_bytes(digest(&self.salt, secret).0)
            == blake3::Hash::from_bytes(self.digest.0)
    }
}

fn digest(salt: &[u8; 16], secret: &str) -> Hash {
    let mut hasher = blake3::Hasher::new_derive_key(DIGEST_CONTEXT);
    hasher.update(salt);
    hasher.update(secret.as_bytes());
    Hash(*hasher.finalize().as_bytes())
}

/// What a request needs on a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Need {
    /// Read a file or list a folder (also history, stat): an `r` or `w` grant, or ownership.
    Read,
    /// Write, delete, move, checkpoint or revert: a `w` grant, or ownership.
    Write,
    /// Change the access list or owner: ownership of the path or a folder above it.
    Manage,
    /// Move it elsewhere (with everything under it): ownership, like [`Need::Manage`].
    Move,
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Need::Read => "read",
            Need::Write => "write",
            Need::Manage => "manage (change the access list of)",
            Need::Move => "move",
        })
    }
}

/// Who makes a request, once its token was checked: the user and whether they are an admin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user: UserName,
    /// Admins have full access to every path and may run cluster operations.
    pub admin: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tokens_are_validated() {
        for good in ["alice", "a", "bob-2", "x_y", "9lives"] {
            assert!(UserName::parse(good).is_some(), "{good}");
        }
        for bad in ["", "Alice", "-a", "_a", "a.b", "a b", "é", &"a".repeat(33), "a/b"] {
            assert!(UserName::parse(bad).is_none(), "{bad:?}");
        }
        let token = Token::parse("alice.0123456789abcdef").expect("valid");
        assert_eq!((token.user.0.as_str(), token.secret()), ("alice", "0123456789abcdef"));
        assert!(!format!("{token:?}").contains("0123"), "Debug hides the secret");
        for bad in [
            "alice",
            "alice.short",
            ".0123456789abcdef",
            "Al.0123456789abcdef",
            "a.0123 56789abcdef",
        ] {
            assert!(Token::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_credential_matches_only_its_secret_and_salts_differ() {
        let one = Credential::derive([1; 16], "s3cret-s3cret-s3cret");
        assert!(one.matches("s3cret-s3cret-s3cret"));
        assert!(!one.matches("s3cret-s3cret-s3creT"));
        let two = Credential::derive([2; 16], "s3cret-s3cret-s3cret");
        assert_ne!(one.digest, two.digest, "the salt changes the digest");
    }
}
