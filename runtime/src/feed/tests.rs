use dfs_core::command::Change;
use dfs_core::health::Health;
use dfs_core::ids::{ChunkId, Hash, LogIndex, NodeId, Term, Version};
use dfs_core::output::JobSpec;
use dfs_core::{Event, Path, Role};

use super::*;

fn written(index: u64, path: &str, created: bool) -> Event {
    let change = Change::FileWritten {
        path: Path::parse(path).expect("path"),
        version: Version(1),
        size_bytes: 3,
        hash: Hash::of(b"abc"),
        created,
    };
    Event::Applied { index: LogIndex(index), change }
}

fn events(feed: &Feed, cursor: u64) -> Vec<FeedEvent> {
    match feed.read(cursor, usize::MAX) {
        Read::Events(events, _) => events,
        Read::Gap { .. } => panic!("unexpected gap"),
    }
}

fn kinds(events: &[FeedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{}@{:?}", e.body["kind"].as_str().unwrap_or("?"), e.id()))
        .collect()
}

#[test]
fn committed_changes_become_events_numbered_by_raft_index() {
    let feed = Feed::new(LogIndex(4));
    feed.record(&written(5, "/a", true), 1);
    feed.record(&written(6, "/a", false), 2);
    let chunk = ChunkId(Hash::of(b"c"));
    let change = Change::ReplicasUpdated {
        added: vec![(chunk, NodeId(2)), (chunk, NodeId(3))],
        removed: vec![(chunk, NodeId(1))],
    };
    feed.record(&Event::Applied { index: LogIndex(7), change }, 3);
    let health = Change::NodeHealthChanged { node: NodeId(2), health: Health::Down };
    feed.record(&Event::Applied { index: LogIndex(8), change: health }, 4);
    let got = events(&feed, 0);
    assert_eq!(
        kinds(&got),
        [
            "file_added@Some(\"5\")",
            "file_changed@Some(\"6\")",
            "repair_finished@Some(\"7\")",
            "repair_finished@Some(\"7.1\")",
            "copy_dropped@Some(\"7.2\")",
            "node_down@Some(\"8\")",
        ]
    );
    assert_eq!(got[0].body["path"], "/a");
    assert_eq!(got[3].body["node"], 3);
    assert_eq!(got[3].body["chunk"], chunk.0.to_hex());
}

#[test]
fn local_events_have_no_id_and_follow_the_last_applied_entry() {
    let feed = Feed::new(LogIndex(0));
    let leader = |term, leader: Option<u64>| Event::RoleChanged {
        term: Term(term),
        role: Role::Follower,
        leader: leader.map(NodeId),
    };
    feed.record(&leader(1, Some(1)), 0);
    feed.record(&leader(1, Some(1)), 0);
    feed.record(&leader(2, None), 0);
    feed.record(&written(3, "/x", true), 0);
    feed.record(&leader(2, Some(2)), 0);
    let spec =
        JobSpec::CopyChunk { chunk: ChunkId(Hash::of(b"c")), from: NodeId(1), to: NodeId(2) };
    feed.record_job(&spec, 0);
    feed.record_job(&JobSpec::ScanInventory, 0);
    let got = events(&feed, 0);
    assert_eq!(
        kinds(&got),
        [
            "leader_changed@None",
            "file_added@Some(\"3\")",
            "leader_changed@None",
            "repair_started@None"
        ],
        "one event per leader actually changing; scans are not reported"
    );
    assert_eq!(got[2].body["leader"], 2);
    assert_eq!(got[2].body["index"], 3, "a local event sits after the entry applied before it");
}

#[test]
fn resuming_after_an_id_replays_exactly_what_followed_it() {
    let feed = Feed::new(LogIndex(0));
    for index in 1..=5 {
        feed.record(&written(index, "/f", index == 1), 0);
    }
    let Read::Events(_, cursor) = feed.cursor(Position::parse("3")) else { panic!("gap") };
    assert_eq!(
        kinds(&events(&feed, cursor)),
        ["file_changed@Some(\"4\")", "file_changed@Some(\"5\")"]
    );
    let Read::Events(_, cursor) = feed.cursor(Position::parse("5")) else { panic!("gap") };
    assert!(events(&feed, cursor).is_empty(), "nothing after the newest event");
    let Read::Events(_, cursor) = feed.cursor(None) else { panic!("gap") };
    feed.record(&written(6, "/f", false), 0);
    assert_eq!(
        kinds(&events(&feed, cursor)),
        ["file_changed@Some(\"6\")"],
        "a fresh reader sees new events only"
    );
}

#[test]
fn an_entry_with_several_events_resumes_inside_it() {
    let feed = Feed::new(LogIndex(0));
    let chunk = ChunkId(Hash::of(b"c"));
    let change = Change::ReplicasUpdated {
        added: vec![(chunk, NodeId(1)), (chunk, NodeId(2)), (chunk, NodeId(3))],
        removed: vec![],
    };
    feed.record(&Event::Applied { index: LogIndex(9), change }, 0);
    let Read::Events(_, cursor) = feed.cursor(Position::parse("9.1")) else { panic!("gap") };
    let rest = events(&feed, cursor);
    assert_eq!(kinds(&rest), ["repair_finished@Some(\"9.2\")"]);
}

#[test]
fn resuming_from_before_what_is_held_is_a_gap() {
    let feed = Feed::new(LogIndex(10));
    feed.record(&written(11, "/f", true), 0);
    assert!(
        matches!(feed.cursor(Position::parse("7")), Read::Gap { held_from: 11, .. }),
        "events up to the recovered index are not held"
    );
    assert!(matches!(feed.cursor(Position::parse("10")), Read::Events(..)));
    let total = u64::try_from(FEED_EVENTS_MAX).expect("fits") + 50;
    for index in 12..12 + total {
        feed.record(&written(index, "/f", false), 0);
    }
    match feed.cursor(Position::parse("20")) {
        Read::Gap { held_from, .. } => assert!(held_from > 20, "held from {held_from}"),
        other => panic!("evicted events must be a gap: {other:?}"),
    }
    assert!(matches!(feed.read(0, 10), Read::Gap { .. }), "a reader left behind is told");
    feed.record(&Event::SnapshotRestored { index: LogIndex(1_000_000) }, 0);
    assert!(matches!(
        feed.cursor(Position::parse("20000")),
        Read::Gap { held_from: 1_000_001, .. }
    ));
}

#[test]
fn event_ids_parse_back() {
    assert_eq!(Position::parse("12").map(|p| p.to_string()), Some("12".into()));
    assert_eq!(Position::parse("12.3").map(|p| p.to_string()), Some("12.3".into()));
    for bad in ["", "x", "1.", ".1", "-1", "1.2.3"] {
        assert_eq!(Position::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn a_new_reader_can_start_with_the_latest_events() {
    let feed = Feed::new(LogIndex(0));
    for index in 1..=5 {
        feed.record(&written(index, "/f", index == 1), 0);
    }
    let ids: Vec<Option<String>> =
        events(&feed, feed.recent(2)).iter().map(FeedEvent::id).collect();
    assert_eq!(ids, [Some("4".to_owned()), Some("5".to_owned())]);
    assert_eq!(events(&feed, feed.recent(100)).len(), 5, "no more than are held");
}

#[test]
fn moves_and_recursive_deletes_become_one_event_per_entry() {
    let p = |raw: &str| Path::parse(raw).expect("path");
    let feed = Feed::new(LogIndex(1));
    let moved = Change::Moved { from: p("/a"), to: p("/b"), folder: true };
    feed.record(&Event::Applied { index: LogIndex(2), change: moved }, 1);
    let deleted = Change::TreeDeleted {
        path: p("/b"),
        files: vec![(p("/b/f"), Version(2)), (p("/b/s/g"), Version(1))],
        folders: vec![p("/b/s"), p("/b")],
    };
    feed.record(&Event::Applied { index: LogIndex(3), change: deleted }, 2);
    let got = events(&feed, 0);
    assert_eq!(
        kinds(&got),
        [
            "moved@Some(\"2\")",
            "file_removed@Some(\"3\")",
            "file_removed@Some(\"3.1\")",
            "folder_removed@Some(\"3.2\")",
            "folder_removed@Some(\"3.3\")",
        ]
    );
    assert_eq!(
        (got[0].body["from"].as_str(), got[0].body["to"].as_str()),
        (Some("/a"), Some("/b"))
    );
    assert_eq!(got[0].body["folder"], true);
    assert_eq!(
        (got[1].body["path"].as_str(), got[1].body["version"].as_u64()),
        (Some("/b/f"), Some(2))
    );
    assert_eq!(got[4].body["path"], "/b");
}
