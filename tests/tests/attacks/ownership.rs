//! Attacks: ownership (issue 22).
