//! The raft store against its contract: what was persisted comes back after a reopen, each
//! `RaftWrite` field has `testing::Disk`'s semantics (checked case by case and over random write
//! sequences), empty writes do not sync, and damaged or foreign files are typed errors.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dfs_core::testing::Disk;
use dfs_core::{RaftWrite, Recovered};
use protobuf::Message;
use raft::eraftpb::{Entry, HardState, Snapshot};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use redb::backends::InMemoryBackend;
use redb::{Database, StorageBackend};
use tempfile::TempDir;

use super::{RaftStore, RaftStoreError, ENTRIES, FORMAT_VERSION, META};

mod damaged;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn entry(index: u64, term: u64) -> Entry {
    Entry { index, term, data: format!("i{index}t{term}").into_bytes().into(), ..Entry::default() }
}

fn entries(indexes: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    indexes.map(|index| entry(index, term)).collect()
}

fn snapshot(index: u64, term: u64, data: &[u8]) -> Snapshot {
    let mut snapshot = Snapshot::default();
    snapshot.mut_metadata().index = index;
    snapshot.mut_metadata().term = term;
    snapshot.mut_metadata().mut_conf_state().voters = vec![1, 2, 3];
    snapshot.data = data.to_vec().into();
    snapshot
}

fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
    HardState { term, vote, commit, ..HardState::default() }
}

fn indexes(recovered: &Recovered) -> Vec<u64> {
    recovered.entries.iter().map(|e| e.index).collect()
}

fn snapshot_index(recovered: &Recovered) -> Option<u64> {
    recovered.snapshot.as_ref().map(|s| s.get_metadata().index)
}

/// A store in a fresh temporary directory; keep the `TempDir` alive while using it.
fn temp_store() -> Result<(TempDir, PathBuf, RaftStore), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("raft.redb");
    let store = RaftStore::open(&path)?;
    Ok((dir, path, store))
}

/// Applies `writes` to a store and to the reference model; checks they agree and returns both.
fn persist_all(store: &RaftStore, writes: &[RaftWrite]) -> Result<Disk, RaftStoreError> {
    let mut disk = Disk::default();
    for write in writes {
        store.persist(write)?;
        disk.apply(write);
    }
    assert_eq!(store.recover()?, disk.recovered(), "store and model disagree");
    Ok(disk)
}

/// The first writes of a founding node: bootstrap snapshot, then an election and appends.
fn founding_writes() -> Vec<RaftWrite> {
    vec![
        RaftWrite {
            snapshot: Some(snapshot(1, 1, b"bootstrap namespace")),
            hard_state: Some(hard_state(1, 0, 1)),
            ..RaftWrite::default()
        },
        RaftWrite { hard_state: Some(hard_state(2, 1, 1)), ..RaftWrite::default() },
        RaftWrite {
            entries: vec![entry(2, 2)],
            hard_state: Some(hard_state(2, 1, 1)),
            ..RaftWrite::default()
        },
        RaftWrite { entries: entries(3..=5, 2), ..RaftWrite::default() },
        RaftWrite { hard_state: Some(hard_state(2, 1, 5)), ..RaftWrite::default() },
    ]
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<RaftStore>();
}

#[test]
fn new_store_recovers_nothing() -> TestResult {
    let (_dir, _path, store) = temp_store()?;
    let recovered = store.recover()?;
    assert!(recovered.is_empty());
    assert_eq!(recovered, Recovered::default());
    assert_eq!(store.entry_count()?, 0);
    Ok(())
}

#[test]
fn persisted_writes_survive_reopen() -> TestResult {
    let (_dir, path, store) = temp_store()?;
    persist_all(&store, &founding_writes())?;
    drop(store);

    let store = RaftStore::open(&path)?;
    let recovered = store.recover()?;
    assert_eq!(recovered.snapshot, Some(snapshot(1, 1, b"bootstrap namespace")));
    assert_eq!(recovered.entries, [vec![entry(2, 2)], entries(3..=5, 2)].concat());
    assert_eq!(recovered.hard_state, hard_state(2, 1, 5));
    assert_eq!(store.entry_count()?, 4);
    Ok(())
}

#[test]
fn conflicting_suffix_is_replaced() -> TestResult {
    let (_dir, _path, store) = temp_store()?;
    let writes = [
        RaftWrite { entries: entries(1..=6, 1), ..RaftWrite::default() },
        RaftWrite { entries: entries(4..=4, 2), ..RaftWrite::default() },
    ];
    let recovered = persist_all(&store, &writes)?.recovered();
    assert_eq!(recovered.entries, [entries(1..=3, 1), entries(4..=4, 2)].concat());
    assert_eq!(store.entry_count()?, 4, "entries 5 and 6 went with the conflicting suffix");
    Ok(())
}

#[test]
fn leader_snapshot_drops_every_entry() -> TestResult {
    let (_dir, _path, store) = temp_store()?;
    let mut writes = founding_writes();
    writes.push(RaftWrite { snapshot: Some(snapshot(4, 2, b"leader")), ..RaftWrite::default() });
    let recovered = persist_all(&store, &writes)?.recovered();
    assert_eq!(snapshot_index(&recovered), Some(4));
    assert!(recovered.entries.is_empty(), "even entry 5, after the snapshot, is dropped");

    // A snapshot and the entries after it in one write.
    let write = RaftWrite {
        snapshot: Some(snapshot(9, 3, b"leader again")),
        entries: entries(10..=11, 3),
        ..RaftWrite::default()
    };
    store.persist(&write)?;
    let recovered = store.recover()?;
    assert_eq!(snapshot_index(&recovered), Some(9));
    assert_eq!(indexes(&recovered), [10, 11]);
    Ok(())
}

#[test]
fn compaction_drops_only_covered_entries() -> TestResult {
    let (_dir, path, store) = temp_store()?;
    let mut writes = founding_writes();
    writes.push(RaftWrite { compacted: Some(snapshot(3, 2, b"own")), ..RaftWrite::default() });
    let recovered = persist_all(&store, &writes)?.recovered();
    assert_eq!(snapshot_index(&recovered), Some(3));
    assert_eq!(indexes(&recovered), [4, 5]);
    drop(store);

    let store = RaftStore::open(&path)?;
    assert_eq!(indexes(&store.recover()?), [4, 5]);
    assert_eq!(store.entry_count()?, 2);
    Ok(())
}

#[test]
fn older_snapshot_is_ignored() -> TestResult {
    let (_dir, _path, store) = temp_store()?;
    let mut writes = founding_writes();
    writes.push(RaftWrite { compacted: Some(snapshot(4, 2, b"newest")), ..RaftWrite::default() });
    writes.push(RaftWrite { snapshot: Some(snapshot(3, 2, b"stale")), ..RaftWrite::default() });
    writes.push(RaftWrite { compacted: Some(snapshot(2, 2, b"staler")), ..RaftWrite::default() });
    let recovered = persist_all(&store, &writes)?.recovered();
    assert_eq!(recovered.snapshot, Some(snapshot(4, 2, b"newest")));
    assert_eq!(indexes(&recovered), [5], "stale snapshots drop no entries");
    Ok(())
}

#[test]
fn snapshot_at_the_stored_index_replaces_it() -> TestResult {
    let (_dir, _path, store) = temp_store()?;
    let mut writes = founding_writes();
    writes.push(RaftWrite { compacted: Some(snapshot(3, 2, b"first")), ..RaftWrite::default() });
    writes.push(RaftWrite { snapshot: Some(snapshot(3, 2, b"second")), ..RaftWrite::default() });
    let recovered = persist_all(&store, &writes)?.recovered();
    assert_eq!(recovered.snapshot, Some(snapshot(3, 2, b"second")));
    assert!(recovered.entries.is_empty());
    Ok(())
}

#[test]
fn one_write_applies_snapshot_entries_hard_state_then_compaction() -> TestResult {
    let (_dir, _path, store) = temp_store()?;
    let write = RaftWrite {
        snapshot: Some(snapshot(10, 4, b"leader")),
        entries: entries(11..=15, 4),
        hard_state: Some(hard_state(4, 2, 13)),
        compacted: Some(snapshot(13, 4, b"own")),
    };
    let recovered = persist_all(&store, &[write])?.recovered();
    assert_eq!(recovered.snapshot, Some(snapshot(13, 4, b"own")));
    assert_eq!(indexes(&recovered), [14, 15]);
    assert_eq!(recovered.hard_state, hard_state(4, 2, 13));
    Ok(())
}

/// A storage backend in memory that counts `sync_data` calls.
#[derive(Debug)]
struct CountingBackend {
    inner: InMemoryBackend,
    syncs: Arc<AtomicU64>,
}

impl StorageBackend for CountingBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.inner.write(offset, data)
    }
}

#[test]
fn every_write_syncs_and_an_empty_write_does_not() -> TestResult {
    let syncs = Arc::new(AtomicU64::new(0));
    let backend = CountingBackend { inner: InMemoryBackend::new(), syncs: Arc::clone(&syncs) };
    let store = RaftStore::open_backend(backend)?;
    for write in founding_writes() {
        let before = syncs.load(Ordering::SeqCst);
        store.persist(&write)?;
        assert!(syncs.load(Ordering::SeqCst) > before, "persist returned before an fsync");
    }
    let before = syncs.load(Ordering::SeqCst);
    let recovered = store.recover()?;
    store.persist(&RaftWrite::default())?;
    assert_eq!(syncs.load(Ordering::SeqCst), before, "an empty write must not sync");
    assert_eq!(store.recover()?, recovered, "an empty write changes nothing");
    Ok(())
}

/// Draws one write a node could emit, given what the model holds; `term` is the current term.
fn random_write(rng: &mut ChaCha8Rng, disk: &Disk, term: &mut u64) -> RaftWrite {
    let recovered = disk.recovered();
    let mut snap = snapshot_index(&recovered).unwrap_or(0);
    let mut last = recovered.entries.last().map_or(snap, |e| e.index);
    let mut write = RaftWrite::default();
    let mut may_append = true;
    if rng.gen_bool(0.08) {
        // A leader's snapshot: mostly newer than ours, sometimes stale (then ignored).
        *term += rng.gen_range(0..=1);
        let index = if rng.gen_bool(0.25) {
            rng.gen_range(0..=snap)
        } else {
            rng.gen_range(snap + 1..=last + 20)
        };
        write.snapshot = Some(random_snapshot(rng, index, *term));
        if index >= snap {
            (snap, last) = (index, index);
        } else {
            may_append = false;
        }
    }
    if may_append && rng.gen_bool(0.6) {
        let overlap = write.snapshot.is_none() && last > snap && rng.gen_bool(0.25);
        let first = if overlap {
            // A new leader overwrites an uncommitted suffix.
            *term += 1;
            rng.gen_range(snap + 1..=last)
        } else {
            last + 1
        };
        let count = rng.gen_range(1..=6);
        write.entries = (first..first + count).map(|i| random_entry(rng, i, *term)).collect();
        last = first + count - 1;
    }
    if rng.gen_bool(0.4) {
        let commit = rng.gen_range(snap..=last);
        write.hard_state = Some(hard_state(*term, rng.gen_range(0..=3), commit));
    }
    if rng.gen_bool(0.1) {
        // Our own compaction: usually covers part of the log, sometimes stale.
        let index = rng.gen_range(snap.saturating_sub(3)..=last);
        write.compacted = Some(random_snapshot(rng, index, *term));
    }
    write
}

fn random_entry(rng: &mut ChaCha8Rng, index: u64, term: u64) -> Entry {
    let mut entry = entry(index, term);
    let len = rng.gen_range(0..64);
    entry.data = (0..len).map(|_| rng.gen::<u8>()).collect::<Vec<u8>>().into();
    entry
}

fn random_snapshot(rng: &mut ChaCha8Rng, index: u64, term: u64) -> Snapshot {
    let len = rng.gen_range(0..256);
    let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
    snapshot(index, term, &data)
}

/// The generator's own check: the model holds a log a recovering node accepts.
fn assert_model_contiguous(recovered: &Recovered, seed: u64, step: usize) {
    let first = snapshot_index(recovered).unwrap_or(0) + 1;
    for (expected, entry) in (first..).zip(&recovered.entries) {
        assert_eq!(entry.index, expected, "generator bug: seed={seed} step={step}");
    }
}

const MODEL_STEPS: usize = 300;
const REOPEN_EVERY_STEPS: usize = 50;

/// How often the random writes hit each case, so the model test cannot pass vacuously.
#[derive(Debug, Default)]
struct Coverage {
    empty: usize,
    truncations: usize,
    snapshots_stored: usize,
    snapshots_ignored: usize,
    compactions_stored: usize,
    compactions_ignored: usize,
    entries_max: usize,
}

impl Coverage {
    fn count(&mut self, before: &Recovered, write: &RaftWrite, after: &Recovered) {
        let snap = snapshot_index(before).unwrap_or(0);
        let last = before.entries.last().map_or(snap, |e| e.index);
        self.empty += usize::from(write.is_empty());
        if let (None, Some(first)) = (&write.snapshot, write.entries.first()) {
            self.truncations += usize::from(first.index <= last);
        }
        if let Some(s) = &write.snapshot {
            let stored = s.get_metadata().index >= snap;
            self.snapshots_stored += usize::from(stored);
            self.snapshots_ignored += usize::from(!stored);
        }
        if let Some(c) = &write.compacted {
            let stored = after.snapshot.as_ref() == Some(c);
            self.compactions_stored += usize::from(stored);
            self.compactions_ignored += usize::from(!stored);
        }
        self.entries_max = self.entries_max.max(after.entries.len());
    }

    fn assert_covers_every_case(&self) {
        let Coverage { empty, truncations, snapshots_stored, snapshots_ignored, .. } = *self;
        let Coverage { compactions_stored, compactions_ignored, entries_max, .. } = *self;
        for (case, count) in [
            ("empty writes", empty),
            ("truncations", truncations),
            ("stored snapshots", snapshots_stored),
            ("ignored snapshots", snapshots_ignored),
            ("stored compactions", compactions_stored),
            ("ignored compactions", compactions_ignored),
        ] {
            assert!(count > 0, "the random writes never hit {case}: {self:?}");
        }
        assert!(entries_max >= 20, "the log never grew: {self:?}");
    }
}

#[test]
fn random_writes_match_the_model() -> TestResult {
    let mut coverage = Coverage::default();
    for seed in [1_u64, 2, 3, 7, 42] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("raft.redb");
        let mut store = RaftStore::open(&path)?;
        let mut disk = Disk::default();
        let mut term = 1;
        for step in 0..MODEL_STEPS {
            let before = disk.recovered();
            let write = random_write(&mut rng, &disk, &mut term);
            disk.apply(&write);
            store.persist(&write)?;
            if step % REOPEN_EVERY_STEPS == REOPEN_EVERY_STEPS - 1 {
                drop(store);
                store = RaftStore::open(&path)?;
            }
            let expected = disk.recovered();
            assert_model_contiguous(&expected, seed, step);
            assert_eq!(store.recover()?, expected, "seed={seed} step={step} write={write:?}");
            let count = u64::try_from(disk.entry_count())?;
            assert_eq!(store.entry_count()?, count, "seed={seed} step={step}");
            coverage.count(&before, &write, &expected);
        }
    }
    coverage.assert_covers_every_case();
    Ok(())
}

#[test]
fn a_batch_ends_where_writing_one_by_one_ends() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().expect("tempdir");
    let (one, batched) = (
        RaftStore::open(&dir.path().join("one.redb")).expect("opens"),
        RaftStore::open(&dir.path().join("batch.redb")).expect("opens"),
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut last = 0u64;
    let mut writes = Vec::new();
    for _ in 0..40 {
        let first = rng.gen_range(last.saturating_sub(2).max(1)..=last + 1);
        let count = rng.gen_range(0..4u64);
        let entries: Vec<raft::eraftpb::Entry> = (first..first + count)
            .map(|index| raft::eraftpb::Entry { index, term: 1 + index / 10, ..Default::default() })
            .collect();
        if count > 0 {
            last = first + count - 1;
        }
        let hard_state = rng.gen_bool(0.5).then(|| raft::eraftpb::HardState {
            term: 1 + last / 10,
            commit: last,
            ..Default::default()
        });
        writes.push(RaftWrite { entries, hard_state, ..RaftWrite::default() });
    }
    for write in &writes {
        one.persist(write).expect("persists");
    }
    for batch in writes.chunks(7) {
        batched.persist_batch(batch).expect("persists");
    }
    assert_eq!(one.recover().expect("recovers"), batched.recover().expect("recovers"));
}
