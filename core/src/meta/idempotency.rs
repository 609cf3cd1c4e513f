//! Idempotency keys of puts (DESIGN §2 "failover": a client replays a request with its key).
//!
//! Rules (issue 22, "idempotency keys are global"):
//! - **Scope.** A key is remembered per (author, path, key): two users, or two paths, using the
//!   same key string never collide. The same string under another user or on another path is a
//!   different key and does its own write.
//! - **Binding.** With the key, the namespace remembers a [`fingerprint`] of the request (the
//!   command kind, path, precondition and the content's size and hash). A retry with the same
//!   fingerprint gets the first outcome again and writes nothing; a reuse with a different
//!   fingerprint is refused with [`CommandError::IdempotencyKeyReused`] and changes nothing, so a
//!   request is never answered with another request's result.
//! - **Expiry.** A key set by the write at index `i` is remembered while commands at indexes
//!   below `i + IDEMPOTENCY_WINDOW` apply; from then on the same key is a fresh key (and writes
//!   again). Expired keys are dropped by the next keyed write.

use serde::{Deserialize, Serialize};

use super::{Namespace, IDEMPOTENCY_WINDOW};
use crate::command::{Change, Content, IdempotencyKey, Precondition};
use crate::error::CommandError;
use crate::ids::{Hash, LogIndex, UserName};
use crate::path::Path;

/// Whose write a key names: the author, the path and the client's key string.
pub(super) type KeyScope = (UserName, Path, IdempotencyKey);

/// What the namespace remembers of a keyed write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Remembered {
    /// The log index of the write (its key expires [`IDEMPOTENCY_WINDOW`] indexes later).
    pub index: LogIndex,
    /// The [`fingerprint`] of the request that set the key.
    pub fingerprint: Hash,
    /// The write's outcome, answered again to an identical retry.
    pub change: Change,
}

/// blake3 over what makes a put the same request: the command kind, the path, the precondition
/// and the content's size and hash. Not the time, the receiving node or the chunk placement,
/// which differ between a request and its retry on another node.
pub(super) fn fingerprint(path: &Path, precondition: Precondition, content: &Content) -> Hash {
    let fields = ("PutVersion", path.as_str(), precondition, content.size_bytes, content.hash);
    let bytes = postcard::to_extend(&fields, Vec::new())
        .expect("meta: a fingerprint always encodes (fixed-shape fields)");
    Hash::of(&bytes)
}

impl Namespace {
    /// The first outcome of the write this key names, if the key is remembered (set less than
    /// [`IDEMPOTENCY_WINDOW`] indexes before the one being applied): `Ok` for an identical retry,
    /// `Err(IdempotencyKeyReused)` when the key was used for another request.
    pub(super) fn recall(
        &self,
        scope: &KeyScope,
        fingerprint: Hash,
    ) -> Option<Result<Change, CommandError>> {
        let remembered = self.idempotency.get(scope)?;
        if self.applied.0.saturating_sub(remembered.index.0) >= IDEMPOTENCY_WINDOW {
            return None;
        }
        if remembered.fingerprint == fingerprint {
            return Some(Ok(remembered.change.clone()));
        }
        let (user, path, key) = scope;
        Some(Err(CommandError::IdempotencyKeyReused {
            user: user.clone(),
            path: path.clone(),
            key: key.as_str().to_owned(),
            window: IDEMPOTENCY_WINDOW,
        }))
    }

    /// Remembers a keyed write's outcome, forgetting keys older than [`IDEMPOTENCY_WINDOW`].
    pub(super) fn remember(&mut self, scope: KeyScope, remembered: Remembered) {
        let index = remembered.index;
        if let Some(expired) = self.idempotency.insert(scope.clone(), remembered) {
            // The scope's earlier key had expired; its place in the order goes with it.
            self.idempotency_order.remove(&expired.index);
        }
        self.idempotency_order.insert(index, scope);
        let horizon = LogIndex(index.0.saturating_sub(IDEMPOTENCY_WINDOW));
        while let Some(entry) = self.idempotency_order.first_entry() {
            if *entry.key() > horizon {
                break;
            }
            let scope = entry.remove();
            self.idempotency.remove(&scope);
        }
    }
}
