//! Attacks: chunks (issue 22).
