//! `dfs mount` (issue 19) on 3-node clusters of real processes, through the kernel: `cp -r` of
//! a generated tree and `diff -r`, `tar c` equal on both sides, writes through the mount read
//! back with `dfs get` on another node and the reverse, the close-to-open conflict, `git` inside
//! the mount, rename and rmdir semantics, unsupported operations' errnos, and EACCES without a
//! grant. Every mount is unmounted when its guard drops, even on failure.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use dfs_tests::mount::Mount;
use dfs_tests::{random_bytes, wait_for, ClusterSpec, TestCluster};

const WAIT: Duration = Duration::from_secs(30);

/// Runs `program args` in `dir`; panics with its output unless it succeeds.
fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// A tree of `files` files of mixed sizes (empty, small, a few over a MiB) in nested folders.
fn generate_tree(root: &Path, files: usize) {
    for i in 0..files {
        let folder = root.join(format!("d{}", i % 7)).join(format!("e{}", i % 3));
        std::fs::create_dir_all(&folder).expect("folder");
        let size = match i % 50 {
            0 => 0,
            1 => 3 * 1024 * 1024 + 17,
            2 => 1024 * 1024,
            n => 100 * n * n,
        };
        std::fs::write(folder.join(format!("f{i}.bin")), random_bytes(size, i as u64))
            .expect("file");
    }
    std::fs::create_dir_all(root.join("empty")).expect("an empty folder");
}

/// `tar c` of `dir` with owners, modes and times normalized (the mount does not store them).
fn tar_of(dir: &Path) -> Vec<u8> {
    let output = Command::new("tar")
        .args([
            "c",
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mode=a=rX,u+w",
            "--format=gnu",
            "-C",
        ])
        .arg(dir)
        .arg(".")
        .output()
        .expect("tar");
    assert!(output.status.success(), "tar: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn cp_r_in_diff_r_and_tar_match_the_source() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mount = Mount::admin(&cluster, &[]);
    let files: usize =
        std::env::var("DFS_MOUNT_TREE_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let source = tempfile::tempdir().expect("temp dir");
    let src = source.path().join("tree");
    generate_tree(&src, files);
    let target = mount.path("tree");
    run(source.path(), "cp", &["-r", "tree", &target.display().to_string()]);
    run(source.path(), "diff", &["-r", "tree", &target.display().to_string()]);
    assert!(tar_of(&src) == tar_of(&target), "tar c of the mount equals tar c of the source");
    // The cluster has the same bytes: one file read back natively.
    let local = source.path().join("back.bin");
    let (ok, _, err) = cluster.cli(&["get", "/tree/d1/e1/f1.bin", &local.display().to_string()]);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(&local).expect("downloaded"),
        std::fs::read(src.join("d1/e1/f1.bin")).expect("source")
    );
    // statfs reports the cluster's capacity and free space.
    let nodes = dfs_tests::get_json(
        &dfs_tests::admin_client_builder().build().expect("client"),
        format!("{}/nodes", cluster.node(1).url()),
    )
    .await;
    let statfs = run(source.path(), "stat", &["-f", "-c", "%b %S", &target.display().to_string()]);
    let fields: Vec<u64> = statfs.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    let capacity = nodes["cluster"]["capacity_bytes"].as_u64().expect("capacity");
    assert_eq!(fields.len(), 2, "{statfs}");
    assert_eq!(fields[0] * fields[1], capacity / 4096 * 4096, "df shows the cluster's capacity");
    let listed = std::fs::read_dir(mount.path("tree/d0/e0")).expect("list").count();
    assert_eq!(listed, std::fs::read_dir(src.join("d0/e0")).expect("list").count());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_through_the_mount_reads_back_on_another_node_and_the_reverse() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mount = Mount::start(&[cluster.node(1).url()], &dfs_tests::admin_token(), &[]);
    let body = random_bytes(2 * 1024 * 1024 + 5, 7);
    std::fs::write(mount.path("written.bin"), &body).expect("write through the mount");
    let temp = tempfile::tempdir().expect("temp dir");
    let local = temp.path().join("got.bin");
    let mut command = Command::new(dfs_tests::dfs_bin());
    command
        .args(["get", "/written.bin"])
        .arg(&local)
        .env("DFS_NODES", cluster.node(2).url())
        .env("DFS_TOKEN", dfs_tests::admin_token());
    let output = command.output().expect("dfs get");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(std::fs::read(&local).expect("got") == body, "dfs get on n2 sees the mount's write");

    // The reverse: a put through node 3 reads back through the mount.
    let other = random_bytes(300_000, 8);
    let put = temp.path().join("put.bin");
    std::fs::write(&put, &other).expect("local file");
    let (ok, _, err) = cluster.cli(&["put", &put.display().to_string(), "/put.bin"]);
    assert!(ok, "{err}");
    let path = mount.path("put.bin");
    wait_for(WAIT, "the put shows in the mount", || {
        let path = path.clone();
        let other = other.clone();
        async move { (std::fs::read(&path).ok()? == other).then_some(()) }
    })
    .await;
    // A new version written elsewhere is what the next open reads (close-to-open).
    let newer = random_bytes(300_000, 9);
    std::fs::write(&put, &newer).expect("local file");
    let (ok, _, err) = cluster.cli(&["put", &put.display().to_string(), "/put.bin"]);
    assert!(ok, "{err}");
    wait_for(WAIT, "the new version shows in the mount", || {
        let path = path.clone();
        let newer = newer.clone();
        async move { (std::fs::read(&path).ok()? == newer).then_some(()) }
    })
    .await;
    // An edit in place (no O_TRUNC) keeps the rest of the file.
    {
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new().write(true).open(&path).expect("open rw");
        file.write_all_at(b"EDIT", 1000).expect("write in place");
        file.sync_all().expect("fsync commits");
    }
    let mut expected = newer.clone();
    expected[1000..1004].copy_from_slice(b"EDIT");
    let edited = temp.path().join("edited.bin");
    let (ok, _, err) = cluster.cli(&["get", "/put.bin", &edited.display().to_string()]);
    assert!(ok, "{err}");
    assert!(std::fs::read(&edited).expect("edited") == expected, "only the 4 bytes changed");
    // ftruncate on an open handle, committed at close.
    {
        let file = std::fs::OpenOptions::new().write(true).open(&path).expect("open rw");
        file.set_len(10).expect("ftruncate");
    }
    assert_eq!(std::fs::read(&path).expect("read").as_slice(), &expected[..10]);
    // Appends.
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(mount.path("written.bin"))
            .expect("append");
        file.write_all(b"tail").expect("append");
    }
    let appended = std::fs::read(mount.path("written.bin")).expect("read back");
    assert_eq!(appended.len(), body.len() + 4);
    assert!(appended.ends_with(b"tail"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflicting_close_keeps_both_and_fails() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mount = Mount::admin(&cluster, &[]);
    std::fs::write(mount.path("notes.txt"), b"first").expect("create");
    // The writer is its own process: a fork elsewhere in this test binary would close a copy
    // of the descriptor on exec, which is a FUSE flush, hence an early commit.
    let script = "import os,sys\n\
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)\n\
os.write(fd, b'mine')\n\
print('ready', flush=True)\n\
sys.stdin.readline()\n\
try:\n    os.fsync(fd); print('ok')\n\
except OSError as e:\n    print('errno', e.errno)\n";
    let mut writer = Command::new("python3")
        .args(["-c", script])
        .arg(mount.path("notes.txt"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut stdout = std::io::BufReader::new(writer.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("ready");
    assert_eq!(line.trim(), "ready");
    // Someone else writes the file meanwhile.
    let answer = cluster.put(2, "/notes.txt", "theirs").await;
    assert!(answer["version"].as_u64().is_some(), "{answer}");
    {
        use std::io::Write;
        writeln!(writer.stdin.take().expect("stdin"), "go").expect("go");
    }
    line.clear();
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("fsync result");
    assert!(writer.wait().expect("python3 ends").success());
    let eio = format!("errno {}", nix::errno::Errno::EIO as i32);
    assert_eq!(line.trim(), eio, "the commit is refused: someone else wrote\n{}", mount.output());
    let (ok, out, err) = cluster.cli(&["get", "/notes.txt", "-"]);
    assert!(ok, "{err}");
    assert_eq!(out, "theirs", "the other write is not clobbered");
    let (ok, out, err) = cluster.cli(&["--json", "ls", "/"]);
    assert!(ok, "{err}");
    let listing: serde_json::Value = serde_json::from_str(&out).expect("json");
    let kept: Vec<&str> = listing["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .filter(|p| p.starts_with("/notes.txt.conflict-admin-"))
        .collect();
    assert_eq!(kept.len(), 1, "the local content is kept aside: {out}");
    let (ok, out, err) = cluster.cli(&["get", kept[0], "-"]);
    assert!(ok, "{err}");
    assert_eq!(out, "mine");
}

#[tokio::test(flavor = "multi_thread")]
async fn git_works_inside_the_mount() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mount = Mount::admin(&cluster, &[]);
    let repo = mount.path("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    let git = |args: &[&str]| {
        let mut all = vec!["-c", "user.name=T", "-c", "user.email=t@example.com"];
        all.extend_from_slice(args);
        run(&repo, "git", &all)
    };
    git(&["init", "-q"]);
    std::fs::write(repo.join("a.txt"), b"hello\n").expect("write");
    std::fs::create_dir(repo.join("sub")).expect("mkdir");
    std::fs::write(repo.join("sub/b.txt"), b"world\n").expect("write");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    std::fs::write(repo.join("a.txt"), b"hello again\n").expect("write");
    git(&["commit", "-q", "-am", "second"]);
    let log = git(&["log", "--format=%s"]);
    assert_eq!(log, "second\nfirst\n");
    assert_eq!(git(&["status", "--porcelain"]), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn rename_rmdir_and_unsupported_operations() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mount = Mount::admin(&cluster, &[]);
    let errno = |r: std::io::Result<()>| r.expect_err("refused").raw_os_error();
    use nix::errno::Errno;
    std::fs::create_dir(mount.path("d")).expect("mkdir");
    std::fs::write(mount.path("d/f"), b"f").expect("write");
    assert_eq!(errno(std::fs::remove_dir(mount.path("d"))), Some(Errno::ENOTEMPTY as i32));
    assert_eq!(errno(std::fs::remove_file(mount.path("d"))), Some(Errno::EISDIR as i32));
    assert_eq!(errno(std::fs::create_dir(mount.path("d"))), Some(Errno::EEXIST as i32));
    // A rename replaces an existing file.
    std::fs::write(mount.path("a"), b"new").expect("write");
    std::fs::write(mount.path("b"), b"old").expect("write");
    std::fs::rename(mount.path("a"), mount.path("b")).expect("rename over");
    assert_eq!(std::fs::read(mount.path("b")).expect("read"), b"new");
    assert!(!mount.path("a").exists());
    let (ok, out, _) = cluster.cli(&["get", "/b", "-"]);
    assert!(ok && out == "new", "visible in the cluster: {out}");
    // Folders: onto an empty one replaces it, onto a non-empty one is ENOTEMPTY.
    std::fs::create_dir(mount.path("empty")).expect("mkdir");
    std::fs::rename(mount.path("d"), mount.path("empty")).expect("replace an empty folder");
    assert_eq!(std::fs::read(mount.path("empty/f")).expect("moved with it"), b"f");
    std::fs::create_dir(mount.path("d2")).expect("mkdir");
    assert_eq!(
        errno(std::fs::rename(mount.path("d2"), mount.path("empty"))),
        Some(Errno::ENOTEMPTY as i32)
    );
    assert_eq!(
        errno(std::fs::rename(mount.path("b"), mount.path("d2"))),
        Some(Errno::EISDIR as i32)
    );
    std::fs::remove_dir(mount.path("d2")).expect("rmdir of an empty folder");
    assert!(!mount.path("d2").exists());
    std::fs::remove_file(mount.path("b")).expect("unlink");
    assert!(!mount.path("b").exists());
    // Names, links, owners.
    let long = mount.path(&"x".repeat(300));
    assert_eq!(errno(std::fs::write(&long, b"x")), Some(Errno::ENAMETOOLONG as i32));
    assert_eq!(
        errno(std::os::unix::fs::symlink("empty/f", mount.path("link"))),
        Some(Errno::EOPNOTSUPP as i32)
    );
    assert_eq!(
        errno(std::fs::hard_link(mount.path("empty/f"), mount.path("hard"))),
        Some(Errno::EPERM as i32)
    );
    assert_eq!(
        errno(std::os::unix::fs::chown(mount.path("empty/f"), Some(12345), None)),
        Some(Errno::EPERM as i32)
    );
    let status = Command::new("mkfifo").arg(mount.path("fifo")).status().expect("mkfifo");
    assert!(!status.success(), "no device nodes or fifos");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_without_a_grant_gets_eacces() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let (ok, out, err) = cluster.cli(&["--json", "user", "add", "bob"]);
    assert!(ok, "{err}");
    let bob: serde_json::Value = serde_json::from_str(&out).expect("json");
    let bob = bob["token"].as_str().expect("token").to_owned();
    let (ok, _, err) = cluster.cli(&["mkdir", "/private"]);
    assert!(ok, "{err}");
    let temp = tempfile::tempdir().expect("temp dir");
    let local = temp.path().join("s");
    std::fs::write(&local, b"secret").expect("local");
    let (ok, _, err) = cluster.cli(&["put", &local.display().to_string(), "/private/s"]);
    assert!(ok, "{err}");
    let mount = Mount::start(&cluster.urls(), &bob, &[]);
    let refused = std::fs::read(mount.path("private/s")).expect_err("no grant");
    assert_eq!(refused.raw_os_error(), Some(nix::errno::Errno::EACCES as i32), "{refused}");
    let refused = std::fs::write(mount.path("private/t"), b"x").expect_err("no grant");
    assert_eq!(refused.raw_os_error(), Some(nix::errno::Errno::EACCES as i32), "{refused}");
}

#[tokio::test(flavor = "multi_thread")]
async fn umount_and_sigterm_end_the_mount_cleanly() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mut mount = Mount::admin(&cluster, &[]);
    let (ok, _, err) = cluster.cli(&["umount", &mount.dir.display().to_string()]);
    assert!(ok, "{err}");
    let status = wait_for(WAIT, "dfs mount exits after umount", || {
        let status = mount.exited();
        async move { status }
    })
    .await;
    assert!(status.success(), "{}", mount.output());
    let mut second = Mount::admin(&cluster, &["--read-only"]);
    let refused = std::fs::write(second.path("x"), b"x").expect_err("read-only");
    assert_eq!(refused.raw_os_error(), Some(nix::errno::Errno::EROFS as i32));
    let pid = nix::unistd::Pid::from_raw(second.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = wait_for(WAIT, "dfs mount exits on SIGTERM", || {
        let status = second.exited();
        async move { status }
    })
    .await;
    assert!(status.success(), "{}", second.output());
    assert!(!dfs_tests::mount::is_mounted(&second.dir), "unmounted");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_leader_is_eagain_after_the_retries_with_the_reason_logged() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mount = Mount::admin(&cluster, &[]);
    std::fs::write(mount.path("before.txt"), b"x").expect("a write while the cluster is whole");
    cluster.kill9(2);
    cluster.kill9(3);
    let refused = std::fs::create_dir(mount.path("after")).expect_err("no quorum");
    assert_eq!(refused.raw_os_error(), Some(nix::errno::Errno::EAGAIN as i32), "{refused}");
    let log = mount.output();
    assert!(
        log.contains("no_leader") || log.contains("not_leader"),
        "the reason is logged:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_cache_block_is_fetched_again_not_served() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let mount = Mount::admin(&cluster, &[]);
    // 6 blocks of 4 MiB: more than the mount keeps in memory, so the first are read from disk.
    let body = random_bytes(24 * 1024 * 1024, 11);
    let answer = cluster.put(1, "/cached.bin", body.clone()).await;
    assert!(answer["version"].as_u64().is_some(), "{answer}");
    assert!(std::fs::read(mount.path("cached.bin")).expect("first read") == body);
    let blocks = mount.cache.join("blocks");
    let mut damaged = 0;
    for entry in std::fs::read_dir(&blocks).expect("the cache holds blocks").flatten() {
        if dfs_tests::flip_byte(&entry.path(), 100) {
            damaged += 1;
        }
    }
    assert!(damaged >= 6, "every block was cached: {damaged}");
    assert!(std::fs::read(mount.path("cached.bin")).expect("second read") == body, "refetched");
    assert!(mount.output().contains("cached block damaged"), "{}", mount.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_returns_once_mounted_and_umount_ends_it() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("mnt");
    std::fs::create_dir(&dir).expect("mount point");
    let dir = std::fs::canonicalize(&dir).expect("canonical");
    let log = temp.path().join("daemon.log");
    let (dir_s, log_s) = (dir.display().to_string(), log.display().to_string());
    let (ok, _, err) = cluster.cli(&["--log-file", &log_s, "mount", &dir_s, "--daemon"]);
    assert!(ok, "{err}");
    // Unmounted on drop even if an assertion below fails.
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            if dfs_tests::mount::is_mounted(&self.0) {
                let _ = Command::new("fusermount3").arg("-u").arg("-z").arg(&self.0).status();
            }
        }
    }
    let _guard = Unmount(dir.clone());
    assert!(dfs_tests::mount::is_mounted(&dir), "mounted when --daemon returns");
    std::fs::write(dir.join("d.txt"), b"daemon").expect("write through the daemon");
    let (ok, out, err) = cluster.cli(&["get", "/d.txt", "-"]);
    assert!(ok && out == "daemon", "{err}");
    let (ok, _, err) = cluster.cli(&["umount", &dir_s]);
    assert!(ok, "{err}");
    wait_for(WAIT, "the daemon logs its end", || {
        let log = log.clone();
        async move { std::fs::read_to_string(&log).ok()?.contains("unmounted").then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_mounts_one_folder_of_the_cluster() {
    let cluster = TestCluster::start(ClusterSpec::new(3)).await;
    let (ok, _, err) = cluster.cli(&["mkdir", "/projects/x"]);
    assert!(ok, "{err}");
    let answer = cluster.put(1, "/projects/x/a.txt", "a").await;
    assert!(answer["version"].as_u64().is_some(), "{answer}");
    let mount = Mount::admin(&cluster, &["--remote", "/projects/x"]);
    assert_eq!(std::fs::read(mount.path("a.txt")).expect("read"), b"a");
    std::fs::write(mount.path("b.txt"), b"b").expect("write");
    let (ok, out, err) = cluster.cli(&["get", "/projects/x/b.txt", "-"]);
    assert!(ok && out == "b", "{err}");
    assert!(std::fs::read(mount.path("c.txt")).is_err(), "not there yet");
    let answer = cluster.put(2, "/projects/x/c.txt", "c").await;
    assert!(answer["version"].as_u64().is_some(), "{answer}");
    let path = mount.path("c.txt");
    wait_for(WAIT, "a put elsewhere shows under the remote folder", || {
        let path = path.clone();
        async move { (std::fs::read(&path).ok()? == b"c").then_some(()) }
    })
    .await;
    let mut names: Vec<String> = std::fs::read_dir(&mount.dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.txt", "b.txt", "c.txt"]);
}
