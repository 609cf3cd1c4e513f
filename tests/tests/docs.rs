//! The reference pages agree with the code (issue 16 point 9): `docs/http-api.md` documents every
//! route the node's router serves and no route it does not, and `docs/cli.md` every `dfs`
//! command and no command the binary lacks. The README only links to them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use dfs_tests::dfs_bin;

/// The workspace root (this crate lives in `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `/files/{*path}` and `/files/{path}` alike: every parameter as `{}`.
fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "head"];

/// The `(METHOD, path)` pairs a router definition in `source` serves: every `.route("PATH", ...)`
/// with the method functions named inside its parentheses (`get(..).put(..)`,
/// `axum::routing::delete(..)`). Test modules are left out.
fn routes_in(source: &str) -> BTreeSet<(String, String)> {
    let source = source.split("#[cfg(test)]").next().unwrap_or(source);
    let mut routes = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(open) = rest.find('"') else { break };
        let Some(len) = rest[open + 1..].find('"') else { break };
        let path = normalize(&rest[open + 1..open + 1 + len]);
        // The call's arguments: up to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = i;
                break;
            }
        }
        let call = &rest[..end];
        for method in METHODS {
            let named = call.match_indices(&format!("{method}(")).any(|(i, _)| {
                let before = call[..i].chars().last();
                matches!(before, Some(' ' | '.' | ':' | '(' | '\n'))
            });
            if named {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
        rest = &rest[end..];
    }
    routes
}

/// The `(METHOD, path)` pairs the first column of `docs/http-api.md`'s table names.
fn documented_routes(page: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for line in page.lines().filter(|l| l.starts_with("| `")) {
        // The first cell ends at the first `|` not escaped as `\|`.
        let cell_end = line[1..]
            .char_indices()
            .find(|&(i, c)| c == '|' && !line[1..].get(..i).is_some_and(|s| s.ends_with('\\')))
            .map_or(line.len(), |(i, _)| i + 1);
        let cell = &line[1..cell_end];
        for (n, span) in cell.split('`').enumerate() {
            if n % 2 == 0 {
                continue;
            }
            let Some((method, target)) = span.split_once(' ') else { continue };
            if !METHODS.contains(&method.to_lowercase().as_str()) {
                continue;
            }
            let path = target.split(['[', '?', ' ']).next().unwrap_or(target);
            routes.insert((method.to_owned(), normalize(path)));
        }
    }
    routes
}

#[test]
fn the_http_reference_documents_exactly_the_routes_of_the_router() {
    let mut served = routes_in(&read("runtime/src/http/mod.rs"));
    served.extend(routes_in(&read("runtime/src/http/dashboard.rs")));
    assert!(served.len() > 30, "the router parse found too little: {served:?}");
    // axum answers HEAD for every GET route.
    let heads: Vec<_> = served.iter().filter(|(m, _)| m == "GET").cloned().collect();
    served.extend(heads.into_iter().map(|(_, path)| ("HEAD".to_owned(), path)));
    let documented = documented_routes(&read("docs/http-api.md"));
    let undocumented: Vec<_> =
        served.iter().filter(|r| r.0 != "HEAD" && !documented.contains(r)).collect();
    assert!(undocumented.is_empty(), "routes missing from docs/http-api.md: {undocumented:?}");
    let phantom: Vec<_> = documented.iter().filter(|r| !served.contains(r)).collect();
    assert!(phantom.is_empty(), "docs/http-api.md documents routes that do not exist: {phantom:?}");
}

/// The commands `dfs ARGS --help` lists under "Commands:" (without `help`).
fn commands(args: &[&str]) -> Vec<String> {
    let out = Command::new(dfs_bin()).args(args).arg("--help").output().expect("run dfs --help");
    assert!(out.status.success(), "dfs {args:?} --help");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some((_, listed)) = text.split_once("Commands:\n") else { return Vec::new() };
    let listed = listed.split("\n\n").next().unwrap_or("");
    let names = listed.lines().filter_map(|line| line.split_whitespace().next());
    names.filter(|&name| name != "help").map(str::to_owned).collect()
}

#[test]
fn the_cli_reference_documents_exactly_the_commands_of_the_binary() {
    let mut binary = BTreeSet::new();
    let mut leaves = BTreeSet::new();
    for command in commands(&[]) {
        binary.insert(command.clone());
        let subs = commands(&[command.as_str()]);
        if subs.is_empty() {
            leaves.insert(command.clone());
        }
        for sub in subs {
            let path = format!("{command} {sub}");
            binary.insert(path.clone());
            leaves.insert(path);
        }
    }
    assert!(leaves.len() > 25, "the help parse found too little: {leaves:?}");
    let page = read("docs/cli.md");
    let mut documented = BTreeSet::new();
    for line in page.lines().filter(|l| l.starts_with("| `dfs ")) {
        let span = line.split('`').nth(1).unwrap_or("");
        let words: Vec<&str> = span
            .split_whitespace()
            .skip(1)
            .take_while(|w| !w.starts_with(['<', '[', '-']))
            .collect();
        documented.insert(words.join(" "));
    }
    let undocumented: Vec<_> = leaves.iter().filter(|c| !documented.contains(*c)).collect();
    assert!(undocumented.is_empty(), "commands missing from docs/cli.md: {undocumented:?}");
    let phantom: Vec<_> = documented.iter().filter(|c| !binary.contains(*c)).collect();
    assert!(phantom.is_empty(), "docs/cli.md documents commands that do not exist: {phantom:?}");
}

#[test]
fn the_readme_is_a_front_door_that_links_every_reference_page() {
    let readme = read("README.md");
    assert!(readme.lines().count() <= 150, "the README grew past a front door");
    assert_eq!(readme.matches("./scripts/test").count(), 1, "one test command");
    for page in std::fs::read_dir(root().join("docs")).expect("docs/") {
        let name = page.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            assert!(readme.contains(&format!("](docs/{name})")), "README links docs/{name}");
        }
    }
}
