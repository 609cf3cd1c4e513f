//! Unit tests of the namespace's queries (listings, lookups), and of a whole workload: snapshots
//! round-trip and application is deterministic.

use super::*;

// ---- queries ------------------------------------------------------------------------------------

#[test]
fn children_lists_live_direct_children_in_path_order() {
    let mut ns = Namespace::new();
    let files = ["/a/b/c", "/a/b/d/e", "/a/b-c", "/a/b.c", "/a/b0", "/a/ba", "/a-b", "/a.b", "/a0"];
    for (seed, path) in (1..).zip(files) {
        setup(&mut ns, &[put(path, seed)]);
    }
    setup(
        &mut ns,
        &[mkdir("/a/empty", "alice"), put("/a/gone", 20), del("/a/gone", Precondition::None)],
    );
    assert_eq!(listing(&ns, "/"), ["/a", "/a-b", "/a.b", "/a0"]);
    assert_eq!(listing(&ns, "/a"), ["/a/b", "/a/b-c", "/a/b.c", "/a/b0", "/a/ba", "/a/empty"]);
    assert_eq!(listing(&ns, "/a/b"), ["/a/b/c", "/a/b/d"]);
    assert_eq!(listing(&ns, "/a/b/d"), ["/a/b/d/e"]);
    assert_eq!(listing(&ns, "/a/empty"), Vec::<String>::new());
    assert_eq!(ns.children(&p("/a/b0")), Err(CommandError::NotAFolder { path: p("/a/b0") }));
    assert_eq!(ns.children(&p("/a/gone")), Err(not_found("/a/gone")));
    assert_eq!(ns.children(&p("/zz")), Err(not_found("/zz")));
    assert_eq!(ns.file_count(), files.len());
}

#[test]
fn children_handles_names_too_long_to_skip_over() {
    // A child folder whose name is at the length limit cannot be skipped with `name0`; the listing
    // falls back to stepping through its subtree and must still be right.
    let long = "z".repeat(crate::path::NAME_BYTES_MAX);
    let mut ns = Namespace::new();
    let inner = format!("/top/{long}/{long}");
    setup(
        &mut ns,
        &[put(&format!("{inner}/f"), 1), put(&format!("{inner}/g"), 2), put("/top/~", 3)],
    );
    setup(&mut ns, &[put(&format!("/top/{long}/x"), 4)]);
    assert_eq!(listing(&ns, "/top"), [format!("/top/{long}"), "/top/~".to_owned()]);
    // `x` sorts before the long `zzz…` name.
    assert_eq!(listing(&ns, &format!("/top/{long}")), [format!("/top/{long}/x"), inner.clone()]);
}

#[test]
fn children_of_the_deepest_folder_is_empty() {
    let deepest = "/d".repeat(crate::path::PATH_DEPTH_MAX);
    let mut ns = Namespace::new();
    setup(&mut ns, &[mkdir(&deepest, "alice")]);
    assert_eq!(ns.children(&p(&deepest)), Ok(vec![]));
}

#[test]
fn file_queries_name_the_problem() {
    let mut ns = Namespace::new();
    setup(&mut ns, &[mkdir("/d", "alice"), put("/f", 1)]);
    let is_folder = CommandError::IsFolder { path: p("/d") };
    assert_eq!(ns.latest(&p("/d")), Err(is_folder.clone()));
    assert_eq!(ns.version(&p("/d"), Version(1)), Err(is_folder.clone()));
    assert_eq!(ns.checkpoint(&p("/d"), "x"), Err(is_folder.clone()));
    assert_eq!(ns.history(&p("/d")), Err(is_folder));
    assert_eq!(ns.latest(&p("/nothing")), Err(not_found("/nothing")));
    assert_eq!(ns.version(&p("/nothing"), Version(1)), Err(not_found("/nothing")));
    let missing = CommandError::VersionNotFound { path: p("/f"), version: Version(2) };
    assert_eq!(ns.version(&p("/f"), Version(2)), Err(missing));
    assert_eq!(ns.entry(&p("/nothing")), None);
}

// ---- workload, snapshots, determinism -------------------------------------------------------

/// A tiny deterministic generator (xorshift64*), so workloads need no RNG crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A short path over a tiny alphabet, so commands collide on paths.
fn random_path(rng: &mut XorShift) -> String {
    let depth = 1 + rng.below(3);
    (0..depth).map(|_| ["/a", "/b", "/c"][rng.below(3) as usize]).collect()
}

fn random_precondition(rng: &mut XorShift) -> Precondition {
    match rng.below(4) {
        0 => Precondition::Absent,
        1 => Precondition::Version(Version(1 + rng.below(4))),
        _ => Precondition::None,
    }
}

fn random_command(rng: &mut XorShift) -> Command {
    let path = random_path(rng);
    match rng.below(25) {
        0..=7 => {
            let lens: Vec<u32> = (0..rng.below(3)).map(|_| 1 + rng.below(5000) as u32).collect();
            let precondition = random_precondition(rng);
            Command::PutVersion {
                path: p(&path),
                precondition,
                content: content(rng.next(), &lens),
                author: user(["alice", "bob"][rng.below(2) as usize]),
                created_at: UnixMillis(rng.below(1 << 40)),
                replicas: Default::default(),
                idempotency_key: None,
            }
        }
        8..=9 => mkdir(&path, "carol"),
        10..=12 => Command::Delete {
            path: p(&path),
            precondition: random_precondition(rng),
            deleted_at: UnixMillis(rng.below(1 << 40)),
        },
        13 => checkpoint(&path, ["x", "y"][rng.below(2) as usize], Some(rng.below(4))),
        14 => revert(&path, 1 + rng.below(3)),
        15..=16 => grant(
            &path,
            "eve",
            [None, Some(Access::Read), Some(Access::Write)][rng.below(3) as usize],
        ),
        19 if rng.below(2) == 0 => bootstrap("root"),
        19 => add_user(["eve", "ops"][rng.below(2) as usize], rng.below(2) == 0),
        17 => Command::AddNode { node: NodeId(1 + rng.below(5)), role: MemberRole::Voter },
        18 => Command::RemoveNode { node: NodeId(1 + rng.below(5)) },
        20 => Command::Move { from: p(&path), to: p(&random_path(rng)) },
        21 => Command::DeleteRecursive { path: p(&path), deleted_at: UnixMillis(rng.below(99)) },
        22 => Command::SetRetention { keep_versions: rng.below(4) as u32 },
        23 => Command::Barrier,
        _ => {
            Command::SetNodeState { node: NodeId(1 + rng.below(5)), state: DeclaredState::Draining }
        }
    }
}

fn workload(seed: u64, count: usize) -> Vec<Command> {
    let mut rng = XorShift(seed);
    (0..count).map(|_| random_command(&mut rng)).collect()
}

/// Applies `commands` (skipping every fifth index, as raft's empty entries do), checking the
/// invariants after each; returns the results.
fn replay(ns: &mut Namespace, commands: &[Command]) -> Vec<Result<Change, CommandError>> {
    let mut results = Vec::new();
    for (at, command) in commands.iter().enumerate() {
        if at % 5 == 0 {
            ns.advance(LogIndex(ns.applied_index().0 + 1));
        }
        results.push(run(ns, command));
        assert_eq!(ns.check_invariants(), Ok(()), "after command {at}: {command:?}");
    }
    results
}

#[test]
fn random_workload_keeps_invariants_and_round_trips_through_a_snapshot() {
    let mut ns = Namespace::bootstrap(&[NodeId(1), NodeId(2), NodeId(3)]);
    let results = replay(&mut ns, &workload(0x5eed, 400));
    let applied = results.iter().filter(|result| result.is_ok()).count();
    assert!(applied > 100 && applied < 390, "the workload mixes successes and refusals: {applied}");
    assert!(ns.file_count() > 3 && !ns.retired.is_empty(), "the workload exercises retiring");

    let bytes = ns.snapshot();
    let restored = Namespace::restore(&bytes).expect("a snapshot restores");
    assert_eq!(restored, ns);
    assert_eq!(restored.snapshot(), bytes);
    assert_eq!(restored.digest(), ns.digest());
    assert_eq!(restored.file_count(), ns.file_count());
}

#[test]
fn the_same_commands_give_the_same_digest() {
    let commands = workload(42, 300);
    let (mut first, mut second) = (Namespace::new(), Namespace::new());
    let first_results = replay(&mut first, &commands);
    let second_results = replay(&mut second, &commands);
    assert_eq!(first_results, second_results);
    assert_eq!(first.digest(), second.digest());
    assert_eq!(first, second);
    let mut other = Namespace::new();
    replay(&mut other, &workload(43, 300));
    assert_ne!(other.digest(), first.digest());
}

/// The snapshot layout, built by hand so tests can encode states `apply` never makes.
#[derive(Serialize)]
pub(super) struct RawSnapshot<K: Serialize> {
    pub(super) applied: LogIndex,
    pub(super) entries: Vec<(K, Entry)>,
    pub(super) retired: Vec<(Path, Version)>,
    pub(super) members: Vec<(NodeId, Member)>,
    pub(super) replicas: Vec<(ChunkId, BTreeSet<NodeId>)>,
    pub(super) idempotency:
        Vec<(crate::meta::idempotency::KeyScope, crate::meta::idempotency::Remembered)>,
    pub(super) settings: Settings,
    pub(super) users: Vec<(UserName, User)>,
    pub(super) s3_keys: Vec<(String, crate::s3::keys::AccessKey)>,
    pub(super) s3_objects: Vec<((Path, Version), crate::s3::ObjectMeta)>,
    pub(super) s3_uploads:
        Vec<((Path, crate::s3::multipart::UploadId), crate::s3::multipart::MultipartUpload)>,
    pub(super) s3_completed:
        Vec<((Path, crate::s3::multipart::UploadId), crate::s3::multipart::Completed)>,
    pub(super) addresses: Vec<(NodeId, crate::membership::MemberAddrs)>,
}

impl<K: Serialize> RawSnapshot<K> {
    pub(super) fn encode(&self) -> Vec<u8> {
        postcard::to_extend(self, vec![SNAPSHOT_FORMAT]).expect("encodes")
    }
}

pub(super) fn raw(ns: &Namespace) -> RawSnapshot<Path> {
    RawSnapshot {
        applied: ns.applied,
        entries: ns.entries.clone().into_iter().collect(),
        retired: ns.retired.clone().into_iter().collect(),
        members: ns.members.clone().into_iter().collect(),
        replicas: ns.replicas.clone().into_iter().collect(),
        idempotency: ns.idempotency.clone().into_iter().collect(),
        settings: ns.settings,
        users: ns.users.clone().into_iter().collect(),
        s3_keys: ns.s3.keys.clone().into_iter().collect(),
        s3_objects: ns.s3.objects.clone().into_iter().collect(),
        s3_uploads: ns.s3.uploads.clone().into_iter().collect(),
        s3_completed: ns.s3.completed.clone().into_iter().collect(),
        addresses: ns.addresses.clone().into_iter().collect(),
    }
}

pub(super) fn sample() -> Namespace {
    let mut ns = Namespace::bootstrap(&[NodeId(1)]);
    setup(&mut ns, &[put("/d/f", 1), put("/d/f", 2), checkpoint("/d/f", "v1", Some(1))]);
    setup(&mut ns, &[put("/g", 3), del("/g", Precondition::None), put("/x", 4)]);
    setup(&mut ns, &[del("/x", Precondition::None), mkdir("/x", "bob")]);
    setup(&mut ns, &[bootstrap("root"), add_user("eve", false)]);
    ns
}

#[test]
fn a_format_six_snapshot_restores_with_no_uploads_or_addresses_and_addresses_round_trip() {
    let ns = sample();
    let current = ns.snapshot();
    // Format 6 ends before the multipart tables (two zero length bytes) and the addresses (one).
    let mut old = current[..current.len() - 3].to_vec();
    old[0] = 6;
    assert_eq!(Namespace::restore(&old), Ok(ns.clone()));
    let mut moved = ns;
    let addrs = crate::membership::MemberAddrs {
        peer: ([10, 0, 0, 1], 7001).into(),
        http: ([10, 0, 0, 1], 8001).into(),
    };
    setup(&mut moved, &[Command::SetNodeAddrs { node: NodeId(1), addrs }]);
    assert_eq!(raw(&moved).encode(), moved.snapshot());
    assert_eq!(Namespace::restore(&moved.snapshot()), Ok(moved.clone()));
    let mut unspecified = raw(&moved);
    unspecified.addresses[0].1.http = ([0, 0, 0, 0], 8001).into();
    assert_eq!(Namespace::restore(&unspecified.encode()), Err(SnapshotError::Malformed));
}

#[test]
fn the_snapshot_layout_is_pinned() {
    let ns = sample();
    assert_eq!(raw(&ns).encode(), ns.snapshot());
    assert_eq!(ns.snapshot()[0], SNAPSHOT_FORMAT);
}

#[test]
fn restore_rejects_damaged_bytes() {
    let bytes = sample().snapshot();
    for len in 0..bytes.len() {
        assert_eq!(
            Namespace::restore(&bytes[..len]).err(),
            Some(SnapshotError::Truncated),
            "{len}"
        );
    }
    let mut trailing = bytes.clone();
    trailing.extend([0, 0]);
    assert_eq!(Namespace::restore(&trailing), Err(SnapshotError::TrailingBytes { extra_bytes: 2 }));
    for format in [0, SNAPSHOT_FORMAT + 1] {
        let mut other = bytes.clone();
        other[0] = format;
        let unknown = SnapshotError::UnknownFormat { found: format, supported: SNAPSHOT_FORMAT };
        assert_eq!(Namespace::restore(&other), Err(unknown));
    }
    let bad_path = RawSnapshot {
        entries: vec![("/a/../b".to_owned(), Entry::folder(user("a")))],
        ..raw_with(&[])
    };
    assert_eq!(Namespace::restore(&bad_path.encode()), Err(SnapshotError::Malformed));
}

#[test]
fn restore_never_panics_on_garbage() {
    let mut rng = XorShift(7);
    let valid = sample().snapshot();
    for round in 0..2_000 {
        let mut bytes: Vec<u8> = if round % 2 == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            valid.clone()
        };
        // Flip a few bytes (of the valid snapshot, or again of the garbage).
        for _ in 0..1 + rng.below(3) {
            if let Some(byte) = bytes.get_mut(rng.below(valid.len() as u64) as usize) {
                *byte ^= 1 + rng.next() as u8 % 255;
            }
        }
        if let Ok(ns) = Namespace::restore(&bytes) {
            assert_eq!(ns.check_invariants(), Ok(()));
        }
    }
    let garbage: Vec<u8> =
        [SNAPSHOT_FORMAT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff].into();
    assert_eq!(Namespace::restore(&garbage), Err(SnapshotError::Malformed));
}

/// A raw snapshot holding the root and `entries` (paths in order as given).
fn raw_with(entries: &[(&str, Entry)]) -> RawSnapshot<String> {
    let root = ("/".to_owned(), Entry::folder(user("admin")));
    let rest = entries.iter().map(|(path, entry)| ((*path).to_owned(), entry.clone()));
    RawSnapshot {
        applied: LogIndex(9),
        entries: std::iter::once(root).chain(rest).collect(),
        retired: vec![],
        members: vec![],
        replicas: vec![],
        idempotency: vec![],
        settings: Settings::default(),
        users: vec![],
        s3_keys: vec![],
        s3_objects: vec![],
        s3_uploads: vec![],
        s3_completed: vec![],
        addresses: vec![],
    }
}

fn file_entry(versions: &[u64], deleted: Option<u64>, checkpoints: &[(&str, u64)]) -> Entry {
    let record = |v: u64| VersionRecord {
        version: Version(v),
        content: content(v, &[5]),
        author: user("alice"),
        created_at: UnixMillis(v),
        index: LogIndex(v),
    };
    let tombstone =
        |v: u64| Tombstone { version: Version(v), deleted_at: UnixMillis(1), index: LogIndex(8) };
    Entry {
        owner: user("alice"),
        grants: BTreeMap::new(),
        kind: EntryKind::File(FileRecord {
            versions: versions.iter().map(|&v| record(v)).collect(),
            deleted: deleted.map(tombstone),
            checkpoints: checkpoints
                .iter()
                .map(|&(name, v)| (name.to_owned(), Version(v)))
                .collect(),
        }),
    }
}

#[test]
fn restore_rejects_unordered_or_repeated_keys() {
    let folder = || Entry::folder(user("alice"));
    let unordered = raw_with(&[("/b", folder()), ("/a", folder())]);
    let repeated = raw_with(&[("/a", folder()), ("/a", folder())]);
    let retired = vec![(p("/b"), Version(1)), (p("/a"), Version(1))];
    let unordered_retired = RawSnapshot { retired, ..raw_with(&[]) };
    for snapshot in [unordered, repeated, unordered_retired] {
        assert_eq!(Namespace::restore(&snapshot.encode()), Err(SnapshotError::NotCanonical));
    }
}

#[test]
fn restore_rejects_inconsistent_states() {
    use InvariantViolation as V;
    let folder = || Entry::folder(user("alice"));
    let good = file_entry(&[1, 2], None, &[]);
    let cases: Vec<(RawSnapshot<String>, SnapshotError)> = vec![
        (
            RawSnapshot { entries: vec![("/a".to_owned(), folder())], ..raw_with(&[]) },
            V::MissingRoot.into(),
        ),
        (
            RawSnapshot { entries: vec![("/".to_owned(), good.clone())], ..raw_with(&[]) },
            V::RootNotAFolder.into(),
        ),
        (raw_with(&[("/a/b", folder())]), V::Orphan { path: p("/a/b") }.into()),
        (
            raw_with(&[("/f", good.clone()), ("/f/g", folder())]),
            V::ParentNotAFolder { path: p("/f/g") }.into(),
        ),
        (raw_with(&[("/f", file_entry(&[], None, &[]))]), V::EmptyHistory { path: p("/f") }.into()),
        (
            raw_with(&[("/f", file_entry(&[2, 2], None, &[]))]),
            V::VersionsNotIncreasing { path: p("/f") }.into(),
        ),
        (
            raw_with(&[("/f", file_entry(&[0, 1], None, &[]))]),
            V::VersionsNotIncreasing { path: p("/f") }.into(),
        ),
        (
            raw_with(&[("/f", file_entry(&[1, 2], Some(1), &[]))]),
            V::TombstoneMismatch { path: p("/f") }.into(),
        ),
        (
            raw_with(&[("/f", file_entry(&[1], None, &[("a/b", 1)]))]),
            V::BadCheckpointName { path: p("/f"), name: "a/b".to_owned() }.into(),
        ),
        (
            raw_with(&[("/f", file_entry(&[1, 3], None, &[("c", 2)]))]),
            V::DanglingCheckpoint { path: p("/f"), name: "c".to_owned() }.into(),
        ),
        (
            RawSnapshot {
                retired: vec![(p("/f"), Version(1))],
                ..raw_with(&[("/f", good.clone())])
            },
            V::RetiredFile { path: p("/f") }.into(),
        ),
    ];
    for (snapshot, expected) in cases {
        assert_eq!(Namespace::restore(&snapshot.encode()), Err(expected));
    }
    // The same layout with consistent contents restores, with the live files counted.
    let fine = raw_with(&[
        ("/d", folder()),
        ("/d/f", good),
        ("/g", file_entry(&[4], Some(4), &[("k", 4)])),
    ]);
    let restored = Namespace::restore(&fine.encode()).expect("consistent");
    assert_eq!((restored.file_count(), restored.applied_index()), (1, LogIndex(9)));
}

#[test]
fn check_invariants_catches_a_wrong_file_count() {
    let mut ns = sample();
    ns.live_files += 1;
    let counted = ns.live_files - 1;
    assert_eq!(
        ns.check_invariants(),
        Err(InvariantViolation::FileCount { recorded: counted + 1, counted })
    );
}

#[test]
fn writes_record_where_their_chunks_are_and_snapshots_keep_it() {
    let mut ns = Namespace::new();
    let Command::PutVersion { path, precondition, content, author, created_at, .. } = put("/r", 5)
    else {
        unreachable!("put builds a PutVersion")
    };
    let chunk = content.chunks[0].id;
    let stray = ChunkId(Hash::of(b"not in this file"));
    let replicas: BTreeMap<ChunkId, BTreeSet<NodeId>> = [
        (chunk, [NodeId(1), NodeId(2)].into_iter().collect()),
        (stray, [NodeId(3)].into_iter().collect()),
    ]
    .into_iter()
    .collect();
    let command = Command::PutVersion {
        path,
        precondition,
        content: content.clone(),
        author,
        created_at,
        replicas: replicas.clone(),
        idempotency_key: None,
    };
    ns.apply(LogIndex(1), &command).expect("applies");
    assert_eq!(ns.replicas(&chunk), replicas.get(&chunk));
    assert_eq!(ns.replicas(&stray), None, "chunks the file does not use are not recorded");
    let restored = Namespace::restore(&ns.snapshot()).expect("restores");
    assert_eq!(restored.replicas(&chunk), replicas.get(&chunk));
    // A refused write records nothing.
    let mut refused = command.clone();
    if let Command::PutVersion { precondition, replicas, .. } = &mut refused {
        *precondition = Precondition::Absent;
        replicas.insert(chunk, [NodeId(9)].into_iter().collect());
    }
    assert!(ns.apply(LogIndex(2), &refused).is_err());
    assert_eq!(ns.replicas(&chunk), replicas.get(&chunk));
}

pub(super) fn keyed(mut command: Command, key: &str) -> Command {
    if let Command::PutVersion { idempotency_key, .. } = &mut command {
        *idempotency_key = IdempotencyKey::parse(key);
    }
    command
}

#[test]
fn a_retried_keyed_put_returns_the_first_outcome_and_writes_once() {
    let mut ns = Namespace::new();
    // The retry carries a precondition that no longer holds: it is the same write.
    let mut retry = keyed(put("/k", 1), "retry-me");
    if let Command::PutVersion { precondition, .. } = &mut retry {
        *precondition = Precondition::Absent;
    }
    let first = ns.apply(LogIndex(1), &retry).expect("writes");
    assert_eq!(ns.apply(LogIndex(2), &retry), Ok(first.clone()));
    assert_eq!(ns.history(&p("/k")).map(<[_]>::len), Ok(1), "one version, not two");
    let other = ns.apply(LogIndex(3), &keyed(put("/k", 2), "another-key")).expect("writes");
    assert_ne!(other, first);
    let restored = Namespace::restore(&ns.snapshot()).expect("restores");
    assert_eq!(restored.apply_clone(LogIndex(4), &retry), Ok(first), "keys survive snapshots");
}

#[test]
fn idempotency_keys_are_forgotten_after_the_window() {
    let mut ns = Namespace::new();
    ns.apply(LogIndex(1), &keyed(put("/w", 1), "old")).expect("writes");
    ns.advance(LogIndex(2 + IDEMPOTENCY_WINDOW));
    ns.apply(LogIndex(3 + IDEMPOTENCY_WINDOW), &keyed(put("/w", 2), "new")).expect("writes");
    assert_eq!(ns.idempotency.len(), 1, "the old key was dropped");
    assert_eq!(ns.idempotency_order.len(), 1);
    assert!(IdempotencyKey::parse("").is_none());
    assert!(IdempotencyKey::parse("has space").is_none());
    assert!(IdempotencyKey::parse(&"k".repeat(129)).is_none());
}

impl Namespace {
    /// Applies to a copy (tests only).
    fn apply_clone(&self, index: LogIndex, command: &Command) -> Result<Change, CommandError> {
        self.clone().apply(index, command)
    }
}
