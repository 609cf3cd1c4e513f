//! Attacks: errors (issue 22).
