//! The layers import one way. This test reads `src/` and fails when a module imports a layer
//! it must not, or when modules import each other in a cycle. The table below is the rule,
//! written to be read (docs/ARCHITECTURE.md explains each layer):
//!
//! ```text
//!  cli ─┐                      (argv → config::Flags; the built-in target's options)
//!       ▼
//!  config → plan → transport → record → engine → aggregate → results → verdict
//!                                                    └───────────┴──→ compare, sink
//!  cmd wires them all; target_server stands alone.
//! ```
//!
//! A module may import only the modules listed for it. There are no exceptions in this
//! table; a change that needs one should move code instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it may import.
const RULES: &[(&str, &[&str])] = &[
    // Raw input: files, flags as plain values, environment interpolation. Imports nothing.
    ("config", &[]),
    // The validated description of a test: built from config alone.
    ("plan", &["config"]),
    // Bytes on the wire: connectors, codecs, encoders compiled from the plan.
    ("transport", &["plan"]),
    // Per-thread histograms and counters of outcomes and error kinds.
    ("record", &["transport"]),
    // Threads, load models, VUs and the command channel: drives the transport contract.
    ("engine", &["plan", "transport", "record"]),
    // Merges the engine's per-thread intervals into snapshots and a timeline.
    ("aggregate", &["engine", "record", "transport"]),
    // The versioned result, assembled from the plan and the aggregate.
    ("results", &["aggregate", "plan", "record", "transport"]),
    // Thresholds judged on results and live snapshots.
    ("verdict", &["aggregate", "plan", "results"]),
    // Two results compared; works from files alone.
    ("compare", &["results", "record"]),
    // Outputs: reports, summary, TUI, Prometheus, SQLite. `engine` only for its command
    // channel (the TUI's pause key).
    ("sink", &["aggregate", "engine", "plan", "results"]),
    // The built-in target server: independent of the load generator.
    ("target_server", &[]),
    // clap definitions; they turn into config::Flags and the target's options.
    ("cli", &["config", "target_server"]),
    // Glue, one file per subcommand.
    (
        "cmd",
        &[
            "aggregate",
            "cli",
            "compare",
            "config",
            "engine",
            "plan",
            "record",
            "results",
            "sink",
            "target_server",
            "transport",
            "verdict",
        ],
    ),
];

/// Whether top-level module `from` may import `to` by the table.
fn allowed(from: &str, to: &str) -> bool {
    from == to || RULES.iter().any(|(m, may)| *m == from && may.contains(&to))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `src/sink/tui/view.rs` → `["sink", "tui", "view"]`.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).expect("a file under src/");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Whether `crate::a::b` names a module that exists (a file or a directory).
fn is_module(path: &[String]) -> bool {
    let mut p = src();
    for part in path {
        p.push(part);
    }
    p.is_dir() || p.with_extension("rs").is_file()
}

/// A node of the cycle graph: the first two levels of a module path that exist as modules.
fn node(path: &[String]) -> String {
    let depth = if path.len() >= 2 && is_module(&path[..2]) {
        2
    } else {
        1
    };
    path[..depth.min(path.len())].join("::")
}

/// Paths (as segments) that a line of code names: `crate::a::b…`, `super::x…`, and the
/// parts of `use crate::{a::x, b}`. Comments are skipped: doc links are not imports.
fn paths_in(line: &str, module: &[String]) -> Vec<Vec<String>> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return Vec::new();
    }
    let code = code.split(" //").next().unwrap_or(code);
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|seg| {
                seg.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|seg| !seg.is_empty())
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        // `foo_crate::` is not ours.
        if code[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let p = ident(item.trim());
                if !p.is_empty() {
                    out.push(p);
                }
            }
        } else {
            let p = ident(rest);
            if !p.is_empty() {
                out.push(p);
            }
        }
    }
    // `super::x` from a file whose module is `a::b::c` names `a::b::x`.
    for (i, _) in code.match_indices("super::") {
        if code[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            continue;
        }
        let mut base = module.to_vec();
        let mut rest = &code[i..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        let tail = ident(rest);
        if !tail.is_empty() {
            base.extend(tail);
            out.push(base);
        }
    }
    out
}

struct Import {
    file: PathBuf,
    line: usize,
    from: Vec<String>,
    to: Vec<String>,
}

fn imports() -> Vec<Import> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let module = module_of(&file);
        if module.is_empty() || module == ["main"] || module == ["lib"] {
            continue; // the crate root and the binary wire modules together by design
        }
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        for (n, line) in text.lines().enumerate() {
            for to in paths_in(line, &module) {
                out.push(Import {
                    file: file.clone(),
                    line: n + 1,
                    from: module.clone(),
                    to,
                });
            }
        }
    }
    out
}

#[test]
fn every_module_is_in_the_table() {
    let rules: BTreeSet<&str> = RULES.iter().map(|(m, _)| *m).collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut missing = BTreeSet::new();
    for f in files {
        let m = module_of(&f);
        if let Some(top) = m.first()
            && top != "main"
            && top != "lib"
            && !rules.contains(top.as_str())
        {
            missing.insert(top.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a layering rule: {missing:?}; add them to RULES"
    );
}

#[test]
fn layers_import_one_way() {
    let mut bad = Vec::new();
    for i in imports() {
        let (from, to) = (i.from[0].as_str(), i.to[0].as_str());
        if !allowed(from, to) {
            bad.push(format!(
                "{}:{}: {from} imports {}",
                i.file.strip_prefix(src()).unwrap().display(),
                i.line,
                i.to.join("::")
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "imports against the layering rule:\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_module_cycles() {
    // Edges between modules two levels deep (`sink::summary`, `cmd::run`...), so a cycle
    // inside a layer is caught too.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in imports() {
        let (from, to) = (node(&i.from), node(&i.to));
        // A submodule using its parent's items (`super::Exit`) is containment, not a peer
        // import: only edges between siblings or across layers count.
        if from != to && !from.starts_with(&format!("{to}::")) {
            edges.entry(from).or_default().insert(to);
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        panic!("modules import each other: {}", cycle.join(" → "));
    }
}

/// A cycle in the graph, if there is one (depth-first search for a back edge).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let start = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if !state.contains_key(n.as_str())
            && let Some(cycle) = visit(n, edges, &mut state, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

/// The checker itself: it must see the import forms the rule is about, or the tests above
/// would pass on a tree that breaks the rule.
#[test]
fn the_scanner_sees_every_import_form() {
    let m: Vec<String> = ["cmd", "run"].iter().map(|s| s.to_string()).collect();
    let seen = |line: &str| -> Vec<String> {
        paths_in(line, &m)
            .into_iter()
            .map(|p| p.join("::"))
            .collect()
    };
    assert_eq!(seen("use crate::plan::Plan;"), ["plan::Plan"]);
    assert_eq!(
        seen("use crate::{cli::RunArgs, sink};"),
        ["cli::RunArgs", "sink"]
    );
    assert_eq!(
        seen("    let x = crate::results::redact::url(u);"),
        ["results::redact::url"]
    );
    assert_eq!(seen("use super::debug::debug;"), ["cmd::debug::debug"]);
    assert_eq!(seen("use super::super::plan::Plan;"), ["plan::Plan"]);
    assert!(seen("/// see [`X`](crate::sink::summary)").is_empty());
    assert!(seen("use my_crate::thing;").is_empty());
    // Planted backward imports are refused by the rule, forward ones allowed.
    assert!(!allowed("plan", "cli"));
    assert!(!allowed("results", "verdict"));
    assert!(!allowed("transport", "engine"));
    assert!(allowed("engine", "transport") && allowed("cmd", "plan"));
    // The table itself is acyclic, so any cycle between top-level modules (which the
    // two-level graph can miss when it runs through submodules) breaks a rule above.
    let table: BTreeMap<String, BTreeSet<String>> = RULES
        .iter()
        .map(|(m, may)| (m.to_string(), may.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(find_cycle(&table), None);
    // A planted cycle is found, and a chain is not one.
    let graph = |pairs: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            g.entry(a.to_string()).or_default().insert(b.to_string());
        }
        g
    };
    assert!(find_cycle(&graph(&[("a", "b"), ("b", "c")])).is_none());
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).unwrap(),
        ["a", "b", "c", "a"]
    );
}
