//! Architecture invariants, checked against `cargo metadata` and the member
//! manifests, so that a layering mistake fails `cargo test` instead of review.
//!
//! - Domain crates (`*-engine`, plus [`EXTRA_DOMAIN_CRATES`]) do no I/O: no
//!   normal or build dependency, direct or transitive, on a cloud, database,
//!   cache, broker, HTTP or async-runtime crate ([`is_io_crate`]).
//! - Crates under `functions/` do not depend on each other. The local runner
//!   `hive` may depend on all of them, and the app `X` on its domain crate
//!   `X-engine`. Crates under `shared/` depend on no crate under `functions/`.
//! - Every workspace crate sits in a folder named after it.
//! - Every dependency in a member manifest is `name.workspace = true`, so its
//!   version and features are fixed once, in the root manifest.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Domain crates whose names do not end with `-engine`. Keep them pure too.
const EXTRA_DOMAIN_CRATES: &[&str] = &[];

/// The local runner: it links every function into one process.
const LOCAL_RUNNER: &str = "hive";

#[test]
fn domain_crates_do_no_io() {
    let workspace = Workspace::load();
    let domain: Vec<&Member> = workspace
        .members
        .iter()
        .filter(|m| is_domain_crate(&m.name))
        .collect();
    for name in EXTRA_DOMAIN_CRATES {
        assert!(
            workspace.member(name).is_some(),
            "EXTRA_DOMAIN_CRATES names `{name}`, which is not a workspace crate; remove it"
        );
    }
    assert!(
        !domain.is_empty(),
        "no domain crate (`*-engine`) found; the check would pass vacuously"
    );

    let violations: Vec<String> = domain
        .iter()
        .flat_map(|member| {
            workspace.io_paths_from(&member.id).into_iter().map(|path| {
                format!(
                    "domain crate `{}` depends on I/O crate `{}`: {}",
                    member.name,
                    path.last().unwrap(),
                    path.join(" -> ")
                )
            })
        })
        .collect();
    assert!(
        violations.is_empty(),
        "domain crates must not do I/O (through normal or build dependencies); move the I/O behind a port in `infra`:\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn function_crates_do_not_depend_on_each_other() {
    let workspace = Workspace::load();
    assert!(
        workspace
            .member(LOCAL_RUNNER)
            .is_some_and(|m| m.dir.starts_with("functions")),
        "the local runner `{LOCAL_RUNNER}` is not a crate under functions/"
    );

    let mut violations = Vec::new();
    for member in &workspace.members {
        for (dependency, kind) in workspace.direct_member_dependencies(&member.id) {
            if !dependency.dir.starts_with("functions") || dependency.name == member.name {
                continue;
            }
            if let Some(rule) = function_dependency_rule(member, dependency) {
                violations.push(format!(
                    "`{}` ({}) has a {kind} dependency on `{}` ({}): {rule}",
                    member.name,
                    member.dir.display(),
                    dependency.name,
                    dependency.dir.display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "forbidden dependencies between crates:\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn crate_names_match_folder_names() {
    let workspace = Workspace::load();
    let violations: Vec<String> = workspace
        .members
        .iter()
        .filter(|m| m.dir.file_name().and_then(|f| f.to_str()) != Some(m.name.as_str()))
        .map(|m| {
            format!(
                "crate `{}` lives in `{}`; rename the folder or the crate",
                m.name,
                m.dir.display()
            )
        })
        .collect();
    assert!(
        violations.is_empty(),
        "crate names must equal their folder names:\n  {}",
        violations.join("\n  ")
    );
}

#[test]
fn dependencies_come_from_the_workspace() {
    let workspace = Workspace::load();
    let mut violations = Vec::new();
    for member in &workspace.members {
        let manifest = workspace.root.join(&member.dir).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
        let relative = member.dir.join("Cargo.toml");
        violations.extend(
            non_workspace_dependencies(&text)
                .into_iter()
                .map(|v| format!("{}: {v}", relative.display())),
        );
    }
    assert!(
        violations.is_empty(),
        "every dependency must be `name.workspace = true`; declare its version and features once in the root \
         [workspace.dependencies]:\n  {}",
        violations.join("\n  ")
    );
}

/// The manifest checker itself, on small manifests, so a silent parser bug
/// cannot make the check above pass vacuously.
#[test]
fn non_workspace_dependencies_are_found() {
    check(
        "[package]\nname = \"x\"\nversion = \"0.1.0\"\n\n[dependencies]\nserde.workspace = true\ninfra = { workspace = true }\n",
        &[],
    );
    check(
        "[dependencies]\nserde = \"1\"\n# tokio = \"1\"\nrand = { version = \"0.9\" }\n",
        &[
            "[dependencies] serde: `serde = \"1\"`",
            "[dependencies] rand: sets `version`; versions and features are fixed in the root manifest",
        ],
    );
    check(
        "[dev-dependencies]\nclap = { workspace = true, features = [\n  \"env\",\n] }\n",
        &[
            "[dev-dependencies] clap: sets `features`; versions and features are fixed in the root manifest",
        ],
    );
    check(
        "[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n[build-dependencies]\ncc.workspace = true\ncc.features = [\"parallel\"]\n",
        &[
            "[target.'cfg(unix)'.dependencies] libc: `libc = \"0.2\"`",
            "[build-dependencies] cc: sets `features`; versions and features are fixed in the root manifest",
        ],
    );
    check(
        "[dependencies.tokio]\nversion = \"1\"\n\n[dependencies.serde]\nworkspace = true\noptional = true\n[lints]\nworkspace = true\n",
        &[
            "[dependencies] tokio: sets `version`; versions and features are fixed in the root manifest",
        ],
    );
}

fn check(manifest: &str, expected: &[&str]) {
    let found = non_workspace_dependencies(manifest);
    assert_eq!(found, expected, "manifest:\n{manifest}");
}

/// A domain crate: every `*-engine` crate and the ones listed by name.
fn is_domain_crate(name: &str) -> bool {
    name.ends_with("-engine") || EXTRA_DOMAIN_CRATES.contains(&name)
}

/// Crates that do I/O or bring an async runtime; a domain crate reaches none.
fn is_io_crate(name: &str) -> bool {
    const PREFIXES: &[&str] = &["aws-", "aws_", "lambda_", "lambda-"];
    const NAMES: &[&str] = &[
        "tokio-postgres",
        "deadpool-postgres",
        "redis",
        "lapin",
        "rusqlite",
        "axum",
        "tokio",
        "reqwest",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// Why `member` may not depend on `dependency` (a crate under functions/), or
/// `None` when it may.
fn function_dependency_rule(member: &Member, dependency: &Member) -> Option<String> {
    if member.name == LOCAL_RUNNER {
        return None;
    }
    if member.dir.starts_with("shared") {
        return Some("shared crates sit below the functions and never depend on them".to_owned());
    }
    if !member.dir.starts_with("functions") {
        // The end-to-end `tests` crate drives the functions from outside.
        return None;
    }
    if is_domain_crate(&dependency.name) {
        if dependency.name.strip_suffix("-engine") == Some(member.name.as_str()) {
            return None;
        }
        return Some(format!(
            "a domain crate is used only by its own app{} and by `{LOCAL_RUNNER}`",
            dependency
                .name
                .strip_suffix("-engine")
                .map(|app| format!(" `{app}`"))
                .unwrap_or_default()
        ));
    }
    Some(format!(
        "function crates are independent; only `{LOCAL_RUNNER}` links them together"
    ))
}

/// Every dependency entry in `manifest` that is not plain `workspace = true`,
/// as `[section] name: reason`. A line-based reading of the TOML that covers
/// what Cargo manifests use: `[dependencies]`-like sections (also under
/// `target.…`), inline tables (possibly spanning lines), dotted keys and
/// `[dependencies.name]` tables.
fn non_workspace_dependencies(manifest: &str) -> Vec<String> {
    let mut entries: Vec<DependencyEntry> = Vec::new();
    // The current dependency section: its header's line, its kind and, for
    // `[dependencies.name]`, the dependency's name.
    let mut section: Option<(usize, String, Option<String>)> = None;
    let mut lines = manifest.lines().map(strip_comment).enumerate();
    while let Some((index, line)) = lines.next() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            section = dependency_section(header).map(|(kind, table)| (index, kind, table));
            continue;
        }
        let Some((header_line, kind, table)) = &section else {
            continue;
        };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, mut value) = (key.trim().trim_matches('"'), value.trim().to_owned());
        // An inline table or an array may continue over several lines.
        while brackets_open(&value) {
            let Some((_, next)) = lines.next() else { break };
            value.push(' ');
            value.push_str(next.trim());
        }
        let (name, field) = match table {
            Some(name) => (name.clone(), Some(key.to_owned())),
            None => match key.split_once('.') {
                Some((name, field)) => (name.trim().to_owned(), Some(field.trim().to_owned())),
                None => (key.to_owned(), None),
            },
        };
        let position = entries
            .iter()
            .position(|e| e.header_line == *header_line && e.name == name);
        let entry = match position {
            Some(position) => &mut entries[position],
            None => {
                entries.push(DependencyEntry {
                    header_line: *header_line,
                    section: kind.clone(),
                    name,
                    workspace: false,
                    problem: None,
                });
                entries.last_mut().expect("just pushed")
            }
        };
        match field {
            Some(field) => entry.field(&field, &value),
            None if value.starts_with('{') => {
                for (field, value) in inline_table_fields(&value) {
                    entry.field(&field, &value);
                }
            }
            None => {
                entry.problem.get_or_insert(format!("`{key} = {value}`"));
            }
        }
    }
    entries
        .into_iter()
        .filter_map(|e| {
            let problem = e
                .problem
                .or_else(|| (!e.workspace).then(|| "lacks `workspace = true`".to_owned()))?;
            Some(format!("[{}] {}: {problem}", e.section, e.name))
        })
        .collect()
}

struct DependencyEntry {
    header_line: usize,
    section: String,
    name: String,
    workspace: bool,
    problem: Option<String>,
}

impl DependencyEntry {
    fn field(&mut self, field: &str, value: &str) {
        match field {
            "workspace" if value == "true" => self.workspace = true,
            // Whether a dependency is optional is the member's own feature wiring.
            "optional" => {}
            other => {
                self.problem.get_or_insert(format!(
                    "sets `{other}`; versions and features are fixed in the root manifest"
                ));
            }
        }
    }
}

/// For a section header, the dependency kind it declares (`dependencies`,
/// `dev-dependencies`, `build-dependencies`, possibly under `target.…`) and,
/// for `[dependencies.name]`, the dependency's name.
fn dependency_section(header: &str) -> Option<(String, Option<String>)> {
    let header = header.trim();
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    for kind in kinds {
        if header == kind
            || (header.starts_with("target.") && header.ends_with(&format!(".{kind}")))
        {
            return Some((header.to_owned(), None));
        }
        if let Some(name) = header.strip_prefix(&format!("{kind}.")) {
            return Some((
                kind.to_owned(),
                Some(name.trim().trim_matches('"').to_owned()),
            ));
        }
    }
    None
}

/// `{ a = 1, b = [2, 3] }` -> [("a", "1"), ("b", "[2, 3]")].
fn inline_table_fields(table: &str) -> Vec<(String, String)> {
    let inner = table.trim().trim_start_matches('{').trim_end_matches('}');
    let mut fields = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    let bytes = inner.as_bytes();
    for i in 0..=bytes.len() {
        let at_end = i == bytes.len();
        match if at_end { b',' } else { bytes[i] } {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                if let Some((key, value)) = inner[start..i].split_once('=') {
                    fields.push((
                        key.trim().trim_matches('"').to_owned(),
                        value.trim().to_owned(),
                    ));
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    fields
}

fn brackets_open(value: &str) -> bool {
    let depth: i32 = value
        .chars()
        .map(|c| match c {
            '[' | '{' => 1,
            ']' | '}' => -1,
            _ => 0,
        })
        .sum();
    depth > 0
}

/// The line without a trailing `# comment` (a `#` outside a string).
fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '#' if !in_string => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The workspace as `cargo metadata` resolves it.
struct Workspace {
    root: PathBuf,
    members: Vec<Member>,
    /// Package id -> package name, for every package in the resolve.
    names: HashMap<String, String>,
    /// Package id -> its direct dependencies.
    dependencies: HashMap<String, Vec<Dependency>>,
}

struct Member {
    id: String,
    name: String,
    /// The crate's folder, relative to the workspace root.
    dir: PathBuf,
}

struct Dependency {
    id: String,
    /// The dependency kinds of this edge: "normal", "dev" and/or "build".
    kinds: Vec<&'static str>,
}

impl Workspace {
    fn load() -> Workspace {
        // Cargo sets CARGO_MANIFEST_DIR when it runs the test too; reading it
        // at run time lets the built test check a copy of the workspace.
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let output = Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(manifest_dir.join("Cargo.toml"))
            .output()
            .expect("cannot run `cargo metadata`");
        assert!(
            output.status.success(),
            "`cargo metadata` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: Value =
            serde_json::from_slice(&output.stdout).expect("`cargo metadata` printed invalid JSON");
        Workspace::from_metadata(&metadata)
    }

    fn from_metadata(metadata: &Value) -> Workspace {
        let root = PathBuf::from(text(&metadata["workspace_root"]));
        let member_ids: Vec<&str> = array(&metadata["workspace_members"])
            .iter()
            .map(text)
            .collect();
        let mut names = HashMap::new();
        let mut members = Vec::new();
        for package in array(&metadata["packages"]) {
            let (id, name) = (text(&package["id"]), text(&package["name"]));
            names.insert(id.to_owned(), name.to_owned());
            if member_ids.contains(&id) {
                let manifest = Path::new(text(&package["manifest_path"]));
                let dir = manifest.parent().expect("a manifest path has a folder");
                let dir = dir.strip_prefix(&root).unwrap_or(dir).to_path_buf();
                members.push(Member {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    dir,
                });
            }
        }
        members.sort_by(|a, b| a.name.cmp(&b.name));

        let mut dependencies = HashMap::new();
        for node in array(&metadata["resolve"]["nodes"]) {
            let edges = array(&node["deps"])
                .iter()
                .map(|dep| Dependency {
                    id: text(&dep["pkg"]).to_owned(),
                    kinds: array(&dep["dep_kinds"])
                        .iter()
                        .map(|k| match k["kind"].as_str() {
                            None => "normal",
                            Some("dev") => "dev",
                            Some("build") => "build",
                            Some(other) => {
                                panic!("unknown dependency kind {other:?} in `cargo metadata`")
                            }
                        })
                        .collect(),
                })
                .collect();
            dependencies.insert(text(&node["id"]).to_owned(), edges);
        }
        Workspace {
            root,
            members,
            names,
            dependencies,
        }
    }

    fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// The workspace crates `id` depends on directly, each with the kinds of
    /// the dependency ("normal", "dev, build", ...).
    fn direct_member_dependencies(&self, id: &str) -> Vec<(&Member, String)> {
        self.dependencies[id]
            .iter()
            .filter_map(|dep| {
                let member = self.members.iter().find(|m| m.id == dep.id)?;
                Some((member, dep.kinds.join(", ")))
            })
            .collect()
    }

    /// For each I/O crate reachable from `start` through normal and build
    /// dependencies, the shortest path to it, as crate names. The search
    /// stops at the first I/O crate on each path.
    fn io_paths_from(&self, start: &str) -> Vec<Vec<String>> {
        let mut parent: HashMap<&str, &str> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut found = Vec::new();
        while let Some(id) = queue.pop_front() {
            for dep in &self.dependencies[id] {
                let linked = dep.kinds.iter().any(|k| *k != "dev");
                if !linked || dep.id == start || parent.contains_key(dep.id.as_str()) {
                    continue;
                }
                parent.insert(&dep.id, id);
                if is_io_crate(&self.names[&dep.id]) {
                    found.push(dep.id.as_str());
                } else {
                    queue.push_back(&dep.id);
                }
            }
        }
        found
            .into_iter()
            .map(|end| {
                let mut path = vec![self.names[end].clone()];
                let mut at = end;
                while let Some(&up) = parent.get(at) {
                    path.push(self.names[up].clone());
                    at = up;
                }
                path.reverse();
                path
            })
            .collect()
    }
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("`cargo metadata`: expected a string, found {value}"))
}

fn array(value: &Value) -> &[Value] {
    value
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("`cargo metadata`: expected an array, found {value}"))
}
