//! The checker accepts valid histories and rejects stale reads, lost writes and bad CAS.

use std::time::Duration;

use super::*;

fn op(client: u32, call: Call, at: (u64, Option<u64>), ret: Return) -> Op {
    Op {
        client,
        path: "/p".to_owned(),
        call,
        invoked: Duration::from_millis(at.0),
        completed: at.1.map(Duration::from_millis),
        ret,
    }
}

fn put(h: &str) -> Call {
    Call::Put { hash: h.to_owned(), size: 1 }
}

fn value(v: Version, h: &str) -> Return {
    Return::Value(v, h.to_owned())
}

#[test]
fn a_sequential_history_is_linearizable() {
    let history = [
        op(1, put("a"), (0, Some(10)), Return::Written(1)),
        op(2, Call::Read, (20, Some(30)), value(1, "a")),
        op(
            1,
            Call::PutIfVersion { expect: 1, hash: "b".into(), size: 1 },
            (40, Some(50)),
            Return::Written(2),
        ),
        op(
            2,
            Call::PutIfVersion { expect: 1, hash: "c".into(), size: 1 },
            (60, Some(70)),
            Return::Conflict,
        ),
        op(2, Call::Delete, (80, Some(90)), Return::Deleted),
        op(1, Call::Read, (100, Some(110)), Return::Absent),
    ];
    let verdict = check(&history);
    assert!(verdict.violations.is_empty(), "{verdict:?}");
}

#[test]
fn a_stale_read_after_an_acknowledged_write_is_a_violation() {
    let history = [
        op(1, put("a"), (0, Some(10)), Return::Written(1)),
        op(1, put("b"), (20, Some(30)), Return::Written(2)),
        op(2, Call::Read, (40, Some(50)), value(1, "a")),
    ];
    assert_eq!(check(&history).violations.len(), 1);
}

#[test]
fn concurrent_operations_may_take_effect_in_either_order() {
    let history = [
        op(1, put("a"), (0, Some(100)), Return::Written(2)),
        op(2, put("b"), (10, Some(90)), Return::Written(1)),
        op(3, Call::Read, (110, Some(120)), value(2, "a")),
    ];
    assert!(check(&history).violations.is_empty());
}

#[test]
fn an_unanswered_put_may_act_late_or_never() {
    let seen_later = [
        op(1, put("a"), (0, None), Return::Unknown),
        op(2, Call::Read, (50, Some(60)), Return::Absent),
        op(2, Call::Read, (70, Some(80)), value(4, "a")),
    ];
    assert!(check(&seen_later).violations.is_empty());
    let never = [
        op(1, put("a"), (0, None), Return::Unknown),
        op(2, Call::Read, (50, Some(60)), Return::Absent),
    ];
    assert!(check(&never).violations.is_empty());
}

#[test]
fn a_lost_acknowledged_write_is_a_violation() {
    let history = [
        op(1, put("a"), (0, Some(10)), Return::Written(1)),
        op(2, Call::Read, (20, Some(30)), Return::Absent),
    ];
    assert_eq!(check(&history).violations.len(), 1);
}

#[test]
fn a_read_of_content_nobody_wrote_is_a_violation() {
    let history = [
        op(1, put("a"), (0, Some(10)), Return::Written(1)),
        op(2, Call::Read, (20, Some(30)), value(1, "corrupt:zz")),
    ];
    assert_eq!(check(&history).violations.len(), 1);
}

#[test]
fn an_s3_remove_succeeds_on_an_absent_object_and_hides_the_object_from_later_reads() {
    let valid = [
        op(1, Call::Remove, (0, Some(10)), Return::Deleted),
        op(1, put("a"), (20, Some(30)), Return::Written(1)),
        op(2, Call::Remove, (40, Some(50)), Return::Deleted),
        op(1, Call::Read, (60, Some(70)), Return::Absent),
        op(1, put("b"), (80, Some(90)), Return::Written(2)),
        op(2, Call::Read, (100, Some(110)), value(2, "b")),
    ];
    let verdict = check(&valid);
    assert!(verdict.violations.is_empty(), "{verdict:?}");
    // A read after the delete marker was acknowledged that still sees the object.
    let marker_missed = [
        op(1, put("a"), (0, Some(10)), Return::Written(1)),
        op(2, Call::Remove, (20, Some(30)), Return::Deleted),
        op(1, Call::Read, (40, Some(50)), value(1, "a")),
    ];
    assert_eq!(check(&marker_missed).violations.len(), 1);
}
