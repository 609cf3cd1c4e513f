//! Damaged or foreign raft store files are typed errors at open and recovery, never a panic or
//! a silently different log.

use super::*;

/// Closes nothing: `store` must already be dropped. Runs `edit` in a write transaction on the
/// store's file through redb directly.
fn tamper(path: &Path, edit: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>) {
    let db = Database::create(path).expect("the store file opens with redb");
    let txn = db.begin_write().expect("a write transaction starts");
    edit(&txn).expect("the tampering applies");
    txn.commit().expect("the tampering commits");
}

fn set_meta(path: &Path, key: &str, value: &[u8]) {
    tamper(path, |txn| {
        txn.open_table(META)?.insert(key, value)?;
        Ok(())
    });
}

fn founded_store_file() -> Result<(TempDir, PathBuf), Box<dyn std::error::Error>> {
    let (dir, path, store) = temp_store()?;
    persist_all(&store, &founding_writes())?;
    Ok((dir, path))
}

fn recover_error(path: &Path) -> Result<RaftStoreError, Box<dyn std::error::Error>> {
    match RaftStore::open(path)?.recover() {
        Ok(recovered) => Err(format!("recovered a damaged store: {recovered:?}").into()),
        Err(error) => Ok(error),
    }
}

fn open_error(path: &Path) -> Result<RaftStoreError, Box<dyn std::error::Error>> {
    match RaftStore::open(path) {
        Ok(_) => Err("opened a store it should refuse".into()),
        Err(error) => Ok(error),
    }
}

#[test]
fn foreign_format_version_is_refused() -> TestResult {
    let (_dir, path) = founded_store_file()?;
    set_meta(&path, "format_version", &(FORMAT_VERSION + 1).to_le_bytes());
    let error = open_error(&path)?;
    assert!(
        matches!(error, RaftStoreError::UnsupportedFormat { found, supported }
            if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION),
        "{error:?}"
    );
    Ok(())
}

#[test]
fn garbage_format_version_is_corrupt() -> TestResult {
    let (_dir, path) = founded_store_file()?;
    set_meta(&path, "format_version", b"v1");
    let error = open_error(&path)?;
    assert!(matches!(error, RaftStoreError::Corrupt { what: "format version" }), "{error:?}");
    Ok(())
}

#[test]
fn data_without_format_version_is_corrupt() -> TestResult {
    let (_dir, path) = founded_store_file()?;
    tamper(&path, |txn| {
        txn.open_table(META)?.remove("format_version")?;
        Ok(())
    });
    let error = open_error(&path)?;
    assert!(matches!(error, RaftStoreError::Corrupt { what: "format version" }), "{error:?}");
    Ok(())
}

#[test]
fn a_file_that_is_not_redb_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("raft.redb");
    std::fs::write(&path, vec![0xA5; 64 * 1024])?;
    let error = open_error(&path)?;
    assert!(matches!(error, RaftStoreError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("raft.redb"), "the error names the file: {error}");
    Ok(())
}

#[test]
fn garbage_hard_state_is_corrupt() -> TestResult {
    let (_dir, path) = founded_store_file()?;
    set_meta(&path, "hard_state", &[0xFF; 7]);
    let error = recover_error(&path)?;
    assert!(matches!(error, RaftStoreError::Corrupt { what: "hard state" }), "{error:?}");
    Ok(())
}

#[test]
fn garbage_snapshot_is_corrupt() -> TestResult {
    let (_dir, path) = founded_store_file()?;
    set_meta(&path, "snapshot", &[0xFF; 7]);
    let error = recover_error(&path)?;
    assert!(matches!(error, RaftStoreError::Corrupt { what: "snapshot" }), "{error:?}");
    Ok(())
}

#[test]
fn snapshot_index_mismatch_is_corrupt() -> TestResult {
    let (_dir, path) = founded_store_file()?;
    set_meta(&path, "snapshot_index", &2_u64.to_le_bytes());
    let error = recover_error(&path)?;
    assert!(matches!(error, RaftStoreError::Corrupt { what: "snapshot index" }), "{error:?}");
    Ok(())
}

#[test]
fn garbage_entry_is_corrupt() -> TestResult {
    let (_dir, path) = founded_store_file()?;
    tamper(&path, |txn| {
        txn.open_table(ENTRIES)?.insert(3, [0xFF_u8; 5].as_slice())?;
        Ok(())
    });
    let error = recover_error(&path)?;
    assert!(matches!(error, RaftStoreError::Corrupt { what: "log entry" }), "{error:?}");
    Ok(())
}

#[test]
fn entry_under_another_index_is_corrupt() -> TestResult {
    let (_dir, path) = founded_store_file()?;
    let misplaced = entry(9, 2).write_to_bytes()?;
    tamper(&path, |txn| {
        txn.open_table(ENTRIES)?.insert(3, misplaced.as_slice())?;
        Ok(())
    });
    let error = recover_error(&path)?;
    assert!(matches!(error, RaftStoreError::Corrupt { what: "log entry index" }), "{error:?}");
    Ok(())
}

#[test]
fn gap_in_the_log_is_corrupt() -> TestResult {
    let (_dir, path) = founded_store_file()?;
    tamper(&path, |txn| {
        txn.open_table(ENTRIES)?.remove(4)?;
        Ok(())
    });
    let error = recover_error(&path)?;
    assert!(matches!(error, RaftStoreError::Corrupt { what: "log sequence" }), "{error:?}");
    Ok(())
}

#[test]
fn log_not_following_the_snapshot_is_corrupt() -> TestResult {
    let (_dir, path) = founded_store_file()?;
    // Entry 2 gone: the log starts at 3, but the snapshot ends at 1.
    tamper(&path, |txn| {
        txn.open_table(ENTRIES)?.remove(2)?;
        Ok(())
    });
    let error = recover_error(&path)?;
    assert!(matches!(error, RaftStoreError::Corrupt { what: "log sequence" }), "{error:?}");
    Ok(())
}
