//! Attacks: paths (issue 22).
