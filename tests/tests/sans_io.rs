//! DESIGN §1 core: dfs-core stays sans-IO. These checks read the sources, so a change that reaches
//! for the clock, the global RNG, the filesystem, the network or tokio fails CI.

use std::path::{Path, PathBuf};

fn core_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../core")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("core/src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_sources_use_no_clock_rng_or_io() {
    let forbidden = [
        "Instant::now",
        "SystemTime::now",
        "thread_rng",
        "rand::random",
        "std::fs",
        "std::net",
        "tokio",
    ];
    let mut files = Vec::new();
    rust_files(&core_dir().join("src"), &mut files);
    assert!(files.len() > 10, "found the core sources");
    let mut hits = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source is utf-8");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in forbidden {
                if code.contains(word) {
                    hits.push(format!("{}:{}: {word}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(hits.is_empty(), "core must stay sans-IO:\n{}", hits.join("\n"));
}

#[test]
fn core_does_not_depend_on_tokio() {
    let manifest = std::fs::read_to_string(core_dir().join("Cargo.toml")).expect("core manifest");
    assert!(!manifest.contains("tokio"), "core/Cargo.toml must not depend on tokio");
}

#[test]
fn clippy_config_forbids_clock_rng_and_std_maps() {
    let config = std::fs::read_to_string(core_dir().join("clippy.toml")).expect("core/clippy.toml");
    for item in [
        "std::time::Instant::now",
        "std::time::SystemTime::now",
        "rand::thread_rng",
        "rand::random",
        "std::collections::HashMap",
        "std::collections::HashSet",
    ] {
        assert!(config.contains(item), "core/clippy.toml must forbid {item}");
    }
}
