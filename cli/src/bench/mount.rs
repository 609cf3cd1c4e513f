//! `dfs bench mount` (issue 19 point 7): a local 3-node cluster and a `dfs mount` of it as its
//! own process, measured against native-API baselines taken in the same run: sequential read and
//! write of a large file through the mount vs native `GET`/`PUT`, `cp -r` of small files into
//! the mount vs native small `PUT`s at one client, and `ls -l` of a large folder.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};

use crate::dev_cluster::{self, Started};

/// Options of `dfs bench mount`.
#[derive(Debug, clap::Args)]
pub struct MountBenchArgs {
    /// Size of the large file, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub large_mib: usize,
    /// How many 4 KiB files `cp -r` copies (and native PUTs write).
    #[arg(long, default_value_t = 1000)]
    pub small_files: usize,
    /// Entries of the folder `ls -l` lists.
    #[arg(long, default_value_t = 10_000)]
    pub ls_entries: usize,
}

/// Runs the benchmark and prints each figure with its ratio to the same-run baseline.
pub async fn run(args: MountBenchArgs, json_out: bool) -> anyhow::Result<()> {
    let dir = super::tempfile_dir()?;
    let configs = dev_cluster::configs(&dir.join("cluster"), 3)?;
    let token = configs.first().map(|c| c.admin_token().expose()).unwrap_or_default();
    let exe = std::env::current_exe().context("locating the dfs binary")?;
    let mut nodes = Vec::new();
    for config in configs {
        let child = dev_cluster::spawn(&exe, &config)?;
        nodes.push(Started { config, child });
    }
    let mut mount: Option<Child> = None;
    let result = measure(&mut nodes, &exe, &dir, &token, &args, &mut mount).await;
    let mountpoint = dir.join("mnt");
    let _ = crate::mount::umount(&mountpoint);
    if let Some(mut child) = mount {
        let _ = child.wait();
    }
    dev_cluster::stop(&mut nodes).await;
    let report = result.map_err(|e| e.context(format!("logs kept in {}", dir.display())))?;
    let _ = std::fs::remove_dir_all(&dir);
    crate::commands::print(json_out, &report, |out| print_table(out, &report))
}

fn is_mounted(dir: &Path) -> bool {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let wanted = dir.display().to_string();
    table.lines().any(|line| line.split(' ').nth(4) == Some(wanted.as_str()))
}

async fn measure(
    nodes: &mut [Started],
    exe: &Path,
    dir: &Path,
    token: &str,
    args: &MountBenchArgs,
    mount: &mut Option<Child>,
) -> anyhow::Result<Value> {
    dev_cluster::wait_ready(nodes).await?;
    let urls: Vec<String> =
        nodes.iter().map(|n| format!("http://{}", n.config.http_listen)).collect();
    let http = dfs_runtime::tls::client_builder()
        .timeout(Duration::from_secs(600))
        .default_headers(crate::client::bearer(Some(token))?)
        .build()?;
    super::wait_for_leader(&http, &urls).await?;
    let mountpoint = dir.join("mnt");
    std::fs::create_dir_all(&mountpoint)?;
    let mountpoint = std::fs::canonicalize(&mountpoint)?;
    let log = std::fs::File::create(dir.join("mount.log"))?;
    *mount = Some(
        Command::new(exe)
            .arg("mount")
            .arg(&mountpoint)
            .arg("--cache-dir")
            .arg(dir.join("mount-cache"))
            .env("DFS_NODES", urls.join(","))
            .env("DFS_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting dfs mount")?,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !is_mounted(&mountpoint) {
        if Instant::now() > deadline {
            bail!("the mount did not appear (is fuse3 installed?)");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Large file: native PUT and GET, then the mount's write (cp-like) and read.
    let large = Bytes::from(super::random(args.large_mib << 20));
    let started = Instant::now();
    let response =
        http.put(format!("{}/files/native/large", urls[0])).body(large.clone()).send().await?;
    if !response.status().is_success() {
        bail!("native put failed: {}", response.text().await.unwrap_or_default());
    }
    let native_put = super::mb(large.len()) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let got = http.get(format!("{}/files/native/large", urls[0])).send().await?.bytes().await?;
    let native_get = super::mb(got.len()) / started.elapsed().as_secs_f64();
    drop(got);
    drop(large);
    // Other bytes than the native file's, so the mount's upload cannot reuse its chunks.
    let local = dir.join("large.bin");
    std::fs::write(&local, super::random_seeded(args.large_mib << 20, 99))?;
    let started = Instant::now();
    std::fs::copy(&local, mountpoint.join("large-mount.bin"))
        .context("writing through the mount")?;
    let mount_write = super::mb(args.large_mib << 20) / started.elapsed().as_secs_f64();
    std::fs::remove_file(&local)?;
    let started = Instant::now();
    let read = read_all(&mountpoint.join("native/large"))?;
    let mount_read = super::mb(read) / started.elapsed().as_secs_f64();

    // Small files: native PUTs at one client (one at a time), then `cp -r` into the mount.
    let body = Bytes::from(super::random_seeded(4096, 7));
    let started = Instant::now();
    for i in 0..args.small_files {
        let response = http
            .put(format!("{}/files/native/small/f{i}", urls[0]))
            .body(body.clone())
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("native small put failed: {}", response.text().await.unwrap_or_default());
        }
    }
    let native_small = args.small_files as f64 / started.elapsed().as_secs_f64();
    let source = dir.join("small");
    std::fs::create_dir_all(&source)?;
    for i in 0..args.small_files {
        std::fs::write(source.join(format!("f{i}")), &body)?;
    }
    let started = Instant::now();
    let status =
        Command::new("cp").arg("-r").arg(&source).arg(mountpoint.join("small")).status()?;
    if !status.success() {
        bail!("cp -r into the mount failed");
    }
    let mount_small = args.small_files as f64 / started.elapsed().as_secs_f64();

    // ls -l of a large folder (filled natively, 32 requests in flight).
    let puts = stream::iter(0..args.ls_entries)
        .map(|i| {
            let (http, url, body) = (http.clone(), urls[i % urls.len()].clone(), body.clone());
            async move { http.put(format!("{url}/files/wide/e{i:06}")).body(body).send().await }
        })
        .buffer_unordered(32);
    let failed = puts
        .filter(|r| std::future::ready(!r.as_ref().is_ok_and(|r| r.status().is_success())))
        .count()
        .await;
    if failed > 0 {
        bail!("{failed} puts filling the wide folder failed");
    }
    let started = Instant::now();
    let output = Command::new("ls").arg("-l").arg(mountpoint.join("wide")).output()?;
    let ls_secs = started.elapsed().as_secs_f64();
    let listed =
        String::from_utf8_lossy(&output.stdout).lines().filter(|l| l.starts_with('-')).count();
    if !output.status.success() || listed != args.ls_entries {
        bail!("ls -l listed {listed} of {} entries", args.ls_entries);
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Ok(json!({
        "seq_read": { "mount_mb_per_s": mount_read, "native_get_mb_per_s": native_get, "ratio": ratio(mount_read, native_get), "target_ratio": 0.5 },
        "seq_write": { "mount_mb_per_s": mount_write, "native_put_mb_per_s": native_put, "ratio": ratio(mount_write, native_put), "target_ratio": 0.5 },
        "cp_r_small": { "mount_files_per_s": mount_small, "native_put_files_per_s": native_small, "ratio": ratio(mount_small, native_small), "target_ratio": 0.5 },
        "ls_l": { "entries": args.ls_entries, "seconds": ls_secs, "target_seconds": 1.0 },
        "setup": { "nodes": 3, "replication_factor": 3, "large_mib": args.large_mib, "small_files": args.small_files, "small_kib": 4, "load_average": super::load_average() },
    }))
}

fn read_all(path: &Path) -> anyhow::Result<usize> {
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

fn print_table(out: &mut dyn Write, r: &Value) -> std::io::Result<()> {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let (read, write, small, ls) = (&r["seq_read"], &r["seq_write"], &r["cp_r_small"], &r["ls_l"]);
    writeln!(
        out,
        "dfs mount vs the native API, same run ({} MiB file, {} x 4 KiB)",
        r["setup"]["large_mib"], r["setup"]["small_files"]
    )?;
    writeln!(
        out,
        "sequential read   {:>8.1} MB/s  native GET {:>8.1} MB/s  ratio {:.2} (target >= 0.5)",
        f(&read["mount_mb_per_s"]),
        f(&read["native_get_mb_per_s"]),
        f(&read["ratio"])
    )?;
    writeln!(
        out,
        "sequential write  {:>8.1} MB/s  native PUT {:>8.1} MB/s  ratio {:.2} (target >= 0.5)",
        f(&write["mount_mb_per_s"]),
        f(&write["native_put_mb_per_s"]),
        f(&write["ratio"])
    )?;
    writeln!(
        out,
        "cp -r small files {:>8.1} /s    native PUT {:>8.1} /s    ratio {:.2} (target >= 0.5)",
        f(&small["mount_files_per_s"]),
        f(&small["native_put_files_per_s"]),
        f(&small["ratio"])
    )?;
    writeln!(out, "ls -l of {} entries: {:.2} s (target < 1 s)", ls["entries"], f(&ls["seconds"]))
}
