//! Unit tests of the chunk store: each test opens a store in its own temp dir.

use std::error::Error;
use std::fs;
use std::path::Path;

use bytes::Bytes;
use dfs_core::ids::{ChunkId, Hash};
use tempfile::TempDir;

use super::*;

type TestResult = Result<(), Box<dyn Error>>;

/// A chunk of `len` bytes derived from `seed`, with its id.
fn chunk(seed: u8, len: usize) -> (ChunkId, Bytes) {
    let bytes: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    (ChunkId(Hash::of(&bytes)), Bytes::from(bytes))
}

async fn open(dir: &TempDir) -> Result<ChunkStore, StoreError> {
    ChunkStore::open_with(Arc::new(StdDisk), dir.path(), Failpoint::Off).await
}

fn tmp_entries(dir: &TempDir) -> Result<Vec<String>, Box<dyn Error>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir.path().join("chunks").join("tmp"))? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

fn flip_first_byte(path: &Path) -> TestResult {
    let mut bytes = fs::read(path)?;
    bytes[0] ^= 0xff;
    fs::write(path, bytes)?;
    Ok(())
}

#[tokio::test]
async fn put_then_get_round_trips_and_file_sits_at_ab_cd_hex() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let (id, bytes) = chunk(1, 70_000);

    assert_eq!(store.put(id, bytes.clone()).await?, PutOutcome::Stored);

    assert_eq!(store.get(id).await?, bytes);
    let hex = id.0.to_hex();
    let expected = dir.path().join("chunks").join(&hex[0..2]).join(&hex[2..4]).join(&hex);
    assert_eq!(chunk_path(dir.path(), id), expected);
    assert_eq!(fs::read(&expected)?, bytes.as_ref());
    assert!(store.contains(id).await);
    assert!(store.verify(id).await?);
    assert_eq!(store.usage(), Usage { chunks: 1, bytes: 70_000 });
    assert!(tmp_entries(&dir)?.is_empty(), "temp file renamed away");
    Ok(())
}

#[tokio::test]
async fn put_with_wrong_hash_is_refused_and_writes_nothing() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let (id, _) = chunk(1, 1000);
    let (other_id, other_bytes) = chunk(2, 1000);

    let result = store.put(id, other_bytes).await;

    assert!(
        matches!(result, Err(StoreError::HashMismatch { expected, actual })
            if expected == id && actual == other_id),
        "got {result:?}"
    );
    assert!(!chunk_path(dir.path(), id).exists());
    assert!(!chunk_path(dir.path(), other_id).exists());
    assert!(tmp_entries(&dir)?.is_empty());
    assert_eq!(store.usage(), Usage::default());
    assert!(store.inventory().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn put_over_the_size_limit_is_refused() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let (id, bytes) = chunk(3, CHUNK_BYTES_MAX + 1);

    let result = store.put(id, bytes).await;

    assert!(matches!(result, Err(StoreError::TooLarge { .. })), "got {result:?}");
    assert!(!chunk_path(dir.path(), id).exists());
    assert_eq!(store.usage(), Usage::default());
    Ok(())
}

#[tokio::test]
async fn second_put_is_already_present_and_counted_once() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let (id, bytes) = chunk(1, 4096);

    assert_eq!(store.put(id, bytes.clone()).await?, PutOutcome::Stored);
    assert_eq!(store.put(id, bytes).await?, PutOutcome::AlreadyPresent);

    assert_eq!(store.usage(), Usage { chunks: 1, bytes: 4096 });
    assert_eq!(store.inventory().await?, vec![id]);
    Ok(())
}

#[tokio::test]
async fn concurrent_puts_of_one_chunk_count_once() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let (id, bytes) = chunk(9, 100_000);

    let puts: Vec<_> = (0..8)
        .map(|_| {
            let (store, bytes) = (store.clone(), bytes.clone());
            tokio::spawn(async move { store.put(id, bytes).await })
        })
        .collect();
    for put in puts {
        put.await??;
    }

    assert_eq!(store.usage(), Usage { chunks: 1, bytes: 100_000 });
    assert_eq!(store.get(id).await?, bytes);
    assert!(tmp_entries(&dir)?.is_empty());
    Ok(())
}

#[tokio::test]
async fn corrupt_file_is_refused_on_get_and_repaired_by_put() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let (id, bytes) = chunk(4, 5000);
    store.put(id, bytes.clone()).await?;

    flip_first_byte(&chunk_path(dir.path(), id))?;

    let result = store.get(id).await;
    assert!(matches!(result, Err(StoreError::Corrupt { id: bad }) if bad == id), "got {result:?}");
    assert!(!store.verify(id).await?);
    assert!(store.contains(id).await, "contains checks presence, not content");

    assert_eq!(store.put(id, bytes.clone()).await?, PutOutcome::Stored);
    assert_eq!(store.get(id).await?, bytes);
    assert!(store.verify(id).await?);
    assert_eq!(store.usage(), Usage { chunks: 1, bytes: 5000 });
    Ok(())
}

#[tokio::test]
async fn truncated_or_oversized_file_is_corrupt() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let (id, bytes) = chunk(5, 300);
    store.put(id, bytes).await?;
    let path = chunk_path(dir.path(), id);

    fs::write(&path, b"short")?;
    assert!(matches!(store.get(id).await, Err(StoreError::Corrupt { .. })));

    fs::write(&path, vec![0u8; CHUNK_BYTES_MAX + 10])?;
    assert!(matches!(store.get(id).await, Err(StoreError::Corrupt { .. })));
    assert!(!store.verify(id).await?);
    Ok(())
}

#[tokio::test]
async fn absent_chunk_is_not_found() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let (id, _) = chunk(6, 10);

    assert!(
        matches!(store.get(id).await, Err(StoreError::NotFound { id: missing }) if missing == id)
    );
    assert!(matches!(store.verify(id).await, Err(StoreError::NotFound { .. })));
    assert!(!store.contains(id).await);
    assert!(!store.delete(id).await?);
    Ok(())
}

#[tokio::test]
async fn delete_removes_the_file_and_the_count() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let (kept, kept_bytes) = chunk(1, 100);
    let (gone, gone_bytes) = chunk(2, 200);
    store.put(kept, kept_bytes).await?;
    store.put(gone, gone_bytes.clone()).await?;

    assert!(store.delete(gone).await?);
    assert!(!store.delete(gone).await?, "second delete finds nothing");

    assert!(!chunk_path(dir.path(), gone).exists());
    assert!(!store.contains(gone).await);
    assert!(matches!(store.get(gone).await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.usage(), Usage { chunks: 1, bytes: 100 });
    assert_eq!(store.inventory().await?, vec![kept]);
    assert_eq!(store.put(gone, gone_bytes).await?, PutOutcome::Stored, "can be stored again");
    Ok(())
}

#[tokio::test]
async fn reopen_removes_temp_leftovers_and_rebuilds_usage() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let (a, a_bytes) = chunk(1, 1000);
    let (b, b_bytes) = chunk(2, 2500);
    store.put(a, a_bytes.clone()).await?;
    store.put(b, b_bytes).await?;
    drop(store);
    let leftover = dir.path().join("chunks").join("tmp").join(format!("{}.7.tmp", a.0.to_hex()));
    fs::write(&leftover, b"partial")?;

    let store = open(&dir).await?;

    assert!(tmp_entries(&dir)?.is_empty(), "leftover removed");
    assert_eq!(store.usage(), Usage { chunks: 2, bytes: 3500 });
    assert_eq!(store.get(a).await?, a_bytes);
    Ok(())
}

#[tokio::test]
async fn inventory_is_sorted() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let mut ids = Vec::new();
    for seed in 0..20 {
        let (id, bytes) = chunk(seed, 64 + usize::from(seed));
        store.put(id, bytes).await?;
        ids.push(id);
    }
    ids.sort();

    let inventory = store.inventory().await?;

    assert_eq!(inventory, ids);
    Ok(())
}

#[tokio::test]
async fn stray_and_misnamed_files_are_ignored() -> TestResult {
    let dir = TempDir::new()?;
    let store = open(&dir).await?;
    let (id, bytes) = chunk(1, 123);
    store.put(id, bytes).await?;
    let (other, _) = chunk(2, 50);
    let chunks = dir.path().join("chunks");
    let hex = id.0.to_hex();
    let cd = chunks.join(&hex[0..2]).join(&hex[2..4]);
    fs::write(chunks.join("README"), b"x")?;
    fs::create_dir_all(chunks.join("zz").join("00"))?;
    fs::write(chunks.join("zz").join("00").join(&hex), b"x")?;
    fs::write(cd.join("not-a-chunk"), b"x")?;
    fs::write(cd.join(hex.to_uppercase()), b"x")?;
    fs::write(cd.join(other.0.to_hex()), b"x")?; // valid id, wrong folder
    fs::create_dir(cd.join("0".repeat(64)))?; // a folder with a chunk's name
    drop(store);

    let store = open(&dir).await?;

    assert_eq!(store.usage(), Usage { chunks: 1, bytes: 123 });
    assert_eq!(store.inventory().await?, vec![id]);
    assert!(chunks.join("README").exists(), "strays are left alone, not deleted");
    Ok(())
}

#[tokio::test]
async fn failpoint_leaves_only_a_temp_file_that_reopen_removes() -> TestResult {
    let dir = TempDir::new()?;
    let store =
        ChunkStore::open_with(Arc::new(StdDisk), dir.path(), Failpoint::AfterTempWrite).await?;
    let (id, bytes) = chunk(8, 777);

    let result = store.put(id, bytes.clone()).await;

    assert!(matches!(result, Err(StoreError::Io { .. })), "got {result:?}");
    assert_eq!(tmp_entries(&dir)?.len(), 1);
    assert!(!store.contains(id).await);
    assert!(matches!(store.get(id).await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.usage(), Usage::default());
    drop(store);

    let store = open(&dir).await?;

    assert!(tmp_entries(&dir)?.is_empty());
    assert!(store.inventory().await?.is_empty());
    assert_eq!(store.usage(), Usage::default());
    assert_eq!(store.put(id, bytes).await?, PutOutcome::Stored);
    Ok(())
}

#[test]
fn chunk_id_hex_parses_back_and_rejects_malformed_names() {
    let (id, _) = chunk(1, 10);
    let hex = id.0.to_hex();

    assert_eq!(parse_chunk_id(&hex), Some(id));
    assert_eq!(parse_chunk_id(&hex.to_uppercase()), None);
    assert_eq!(parse_chunk_id(&hex[..63]), None);
    assert_eq!(parse_chunk_id(&format!("{hex}0")), None);
    assert_eq!(parse_chunk_id(&format!("g{}", &hex[1..])), None);
    assert_eq!(parse_chunk_id(&format!("é{}", &hex[2..])), None);
}

#[test]
fn disk_full_is_recognised() {
    let full = StoreError::Io {
        op: "write",
        path: "x".into(),
        source: std::io::Error::from(std::io::ErrorKind::StorageFull),
    };
    let other = StoreError::Io {
        op: "write",
        path: "x".into(),
        source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    };

    assert!(full.is_disk_full());
    assert!(!other.is_disk_full());
    assert!(!StoreError::NotFound { id: chunk(1, 1).0 }.is_disk_full());
}

/// The real disk, except that every synced write fails as if the disk were full.
#[derive(Debug)]
struct FullDisk;

impl Disk for FullDisk {
    fn read_bounded(&self, path: &Path, limit: u64) -> Result<Option<Vec<u8>>, StoreError> {
        StdDisk.read_bounded(path, limit)
    }
    fn write_synced(&self, path: &Path, _bytes: &[u8]) -> Result<(), StoreError> {
        let source = std::io::Error::from(std::io::ErrorKind::StorageFull);
        Err(StoreError::Io { op: "write", path: path.to_owned(), source })
    }
    fn rename(&self, from: &Path, to: &Path) -> Result<(), StoreError> {
        StdDisk.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> Result<(), StoreError> {
        StdDisk.remove_file(path)
    }
    fn file_len(&self, path: &Path) -> Result<Option<u64>, StoreError> {
        StdDisk.file_len(path)
    }
    fn age(&self, path: &Path) -> Option<std::time::Duration> {
        StdDisk.age(path)
    }
    fn create_dir(&self, path: &Path) -> Result<(), StoreError> {
        StdDisk.create_dir(path)
    }
    fn create_dir_all(&self, path: &Path) -> Result<(), StoreError> {
        StdDisk.create_dir_all(path)
    }
    fn sync_dir(&self, path: &Path) -> Result<(), StoreError> {
        StdDisk.sync_dir(path)
    }
    fn list_dir(&self, path: &Path) -> Result<Vec<disk::Entry>, StoreError> {
        StdDisk.list_dir(path)
    }
    fn space(&self, path: &Path) -> Option<disk::Space> {
        StdDisk.space(path)
    }
}

#[tokio::test]
async fn a_full_disk_refuses_the_put_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ChunkStore::open_on(Arc::new(FullDisk), dir.path()).await.expect("opens");
    let bytes = Bytes::from_static(b"no room for me");
    let id = ChunkId(Hash::of(&bytes));
    let error = store.put(id, bytes).await.expect_err("the disk is full");
    assert!(error.is_disk_full(), "{error}");
    assert!(!store.contains(id).await);
    assert_eq!(store.usage(), Usage::default());
    assert!(matches!(store.get(id).await, Err(StoreError::NotFound { .. })));
}
