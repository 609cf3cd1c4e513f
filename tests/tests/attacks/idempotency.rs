//! Attacks: idempotency (issue 22).
