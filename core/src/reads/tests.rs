//! The read table's rules: one round at a time, late arrivals wait for the next round, retries
//! under a new number, release only once the read index is applied, deadlines.

use std::time::Duration;

use super::{context, round_of, Reads};
use crate::ids::{LogIndex, NodeId, RequestId};
use crate::time::Instant;

const RETRY: Duration = Duration::from_millis(100);

fn at(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

#[test]
fn one_round_serves_every_read_waiting_and_later_reads_wait_for_the_next() {
    let mut reads = Reads::default();
    for r in 1..=50 {
        reads.push(RequestId(r), at(5000));
    }
    let first = reads.next_round(at(0), RETRY).expect("reads wait");
    assert_eq!(reads.next_round(at(1), RETRY), None, "one round in flight at a time");
    reads.push(RequestId(51), at(5000));
    reads.answered(first, LogIndex(7));
    // Not applied yet: nothing may be served.
    assert!(reads.release(LogIndex(6)).is_empty());
    let released = reads.release(LogIndex(7));
    assert_eq!(released.len(), 50, "the whole batch, at the round's index");
    assert!(released.iter().all(|&(_, index)| index == LogIndex(7)));
    assert!(!released.iter().any(|&(r, _)| r == RequestId(51)), "a later read is not served");
    let second = reads.next_round(at(2), RETRY).expect("the late read gets its own round");
    assert_ne!(first, second);
    reads.answered(second, LogIndex(9));
    assert_eq!(reads.release(LogIndex(9)), vec![(RequestId(51), LogIndex(9))]);
    assert_eq!(reads.len(), 0);
}

#[test]
fn a_late_answer_to_a_retried_round_serves_only_the_reads_that_arrived_before_it_was_asked() {
    let mut reads = Reads::default();
    reads.push(RequestId(1), at(5000));
    let first = reads.next_round(at(0), RETRY).expect("asked");
    assert_eq!(reads.next_round(at(99), RETRY), None, "not yet due");
    assert_eq!(reads.next_deadline(), Some(at(100)), "the retry is a deadline");
    reads.push(RequestId(2), at(5000));
    let second = reads.next_round(at(100), RETRY).expect("retried");
    assert_ne!(first, second);
    // The first round's answer comes late (a slow link): it serves read 1, not read 2, which
    // arrived after the first round was asked.
    reads.answered(first, LogIndex(3));
    assert_eq!(reads.release(LogIndex(100)), vec![(RequestId(1), LogIndex(3))]);
    reads.answered(second, LogIndex(4));
    assert_eq!(reads.release(LogIndex(4)), vec![(RequestId(2), LogIndex(4))]);
    assert_eq!(reads.len(), 0);
}

#[test]
fn abandoning_a_round_re_asks_its_reads_first() {
    let mut reads = Reads::default();
    reads.push(RequestId(1), at(5000));
    let first = reads.next_round(at(0), RETRY).expect("asked");
    reads.push(RequestId(2), at(5000));
    reads.abandon_round();
    let second = reads.next_round(at(1), RETRY).expect("asked again at once");
    assert_ne!(first, second);
    reads.answered(second, LogIndex(2));
    assert_eq!(
        reads.release(LogIndex(2)),
        vec![(RequestId(1), LogIndex(2)), (RequestId(2), LogIndex(2))]
    );
}

#[test]
fn reads_past_their_deadline_are_answered_once_and_never_served() {
    let mut reads = Reads::default();
    reads.push(RequestId(1), at(50));
    reads.push(RequestId(2), at(500));
    let round = reads.next_round(at(0), RETRY).expect("asked");
    assert_eq!(reads.expire(at(50)), vec![RequestId(1)]);
    assert!(reads.expire(at(60)).is_empty(), "answered once");
    reads.answered(round, LogIndex(1));
    assert_eq!(reads.release(LogIndex(1)), vec![(RequestId(2), LogIndex(1))], "1 is not served");
    reads.push(RequestId(3), at(900));
    assert_eq!(reads.take_all(), vec![RequestId(3)]);
    assert_eq!((reads.len(), reads.next_deadline()), (0, None));
}

#[test]
fn a_context_names_one_round_of_one_node_in_one_life() {
    let bytes = context(NodeId(2), 77, 5);
    assert_eq!(round_of(&bytes, NodeId(2), 77), Some(5));
    assert_eq!(round_of(&bytes, NodeId(3), 77), None, "another node's round");
    assert_eq!(round_of(&bytes, NodeId(2), 78), None, "a previous life's round");
    assert_eq!(round_of(&bytes[..23], NodeId(2), 77), None, "not a context of ours");
}
