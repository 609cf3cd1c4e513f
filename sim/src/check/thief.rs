//! The chunk-theft checker (issue 22): judges the rounds of the chunk thief
//! ([`crate::workload::thief`]). A chunk hash is no read capability and a whole-file hash is
//! checked, so in a round whose secret was acknowledged before the thief began:
//! - `POST /chunks/missing` answered 200 lists the secret's chunk as missing (the cluster's
//!   holding it is not revealed to a caller who may not read it);
//! - the commit naming the secret's chunk unsent is never answered 201, and the admin's
//!   consistent read of its path never finds a file there.
//!
//! In every round the commit under a false whole-file hash is never answered 201.
//! Unanswered requests and other refusals (no leader, timeouts) judge nothing.

use crate::history::Theft;

/// What the check found.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Rounds judged.
    pub rounds: usize,
    /// Of them, rounds whose secret was acknowledged.
    pub secrets: usize,
    /// Theft commits refused with 409 (`chunks_missing`).
    pub refused: usize,
    /// What broke the rules, first first.
    pub violations: Vec<String>,
}

/// Judges the thief's rounds.
pub fn check(thefts: &[Theft]) -> Verdict {
    let mut verdict = Verdict { rounds: thefts.len(), ..Verdict::default() };
    for theft in thefts {
        let round = theft.round;
        if theft.stole == Some(409) {
            verdict.refused += 1;
        }
        if theft.forged == Some(201) {
            verdict.violations.push(format!(
                "round {round}: a commit under a false whole-file hash was answered 201"
            ));
        }
        if !theft.secret_acknowledged {
            continue;
        }
        verdict.secrets += 1;
        if theft.asked == Some((200, false)) {
            verdict.violations.push(format!(
                "round {round}: /chunks/missing told the thief the cluster holds a chunk of a \
                 file it may not read"
            ));
        }
        if theft.stole == Some(201) {
            verdict.violations.push(format!(
                "round {round}: a commit naming an unsent chunk of a file the thief may not \
                 read was answered 201"
            ));
        }
        if theft.read_back == Some(200) {
            verdict.violations.push(format!(
                "round {round}: the thief's manifest naming an unsent chunk it may not read was \
                 committed (its path reads back 200)"
            ));
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(round: u64) -> Theft {
        Theft {
            round,
            secret_acknowledged: true,
            asked: Some((200, true)),
            stole: Some(409),
            read_back: Some(404),
            forged: Some(400),
        }
    }

    #[test]
    fn refused_thefts_pass() {
        let unanswered =
            Theft { asked: None, stole: None, read_back: None, forged: None, ..refused(2) };
        // Before its secret is acknowledged, a reuse of the chunk judges nothing.
        let early = Theft { secret_acknowledged: false, stole: Some(201), ..refused(3) };
        let verdict = check(&[refused(1), unanswered, early]);
        assert_eq!(verdict.violations, Vec::<String>::new());
        assert_eq!((verdict.rounds, verdict.secrets, verdict.refused), (3, 2, 1));
    }

    #[test]
    fn every_leak_is_caught() {
        let cases = [
            Theft { asked: Some((200, false)), ..refused(1) },
            Theft { stole: Some(201), ..refused(1) },
            Theft { read_back: Some(200), ..refused(1) },
            Theft { forged: Some(201), ..refused(1) },
            Theft { secret_acknowledged: false, forged: Some(201), ..refused(1) },
        ];
        for case in cases {
            let verdict = check(std::slice::from_ref(&case));
            assert_eq!(verdict.violations.len(), 1, "{case:?}: {:?}", verdict.violations);
        }
    }
}
