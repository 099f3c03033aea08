//! SECURITY.md read by machine: its promises (table rows with a Proof column), the tests each
//! cites, whether those tests exist in the source, and whether they ran and passed in a
//! `cargo test` run (from its output). The citation format is documented at the top of
//! SECURITY.md; `security::*` (tests/system/security.rs) and `security-report` (run by
//! infra/local/test.sh) use this module.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One backticked span of a Proof cell, as the format reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Citation {
    /// `file::test` or `file::*`: a system test in tests/system/<file>.rs.
    System { file: String, name: String },
    /// `<crate> path::to::test` or `<crate> module::*`: a unit test of a workspace crate.
    Unit { krate: String, path: String },
    /// `Type::method`: a test helper (tests/support or tests/system), used by the tests cited.
    Helper { ty: String, method: String },
    /// A file of the repository (a path under one of its folders, or a .rs/.yaml/.cedar/.md/
    /// .sh/.toml file name).
    File(String),
}

impl fmt::Display for Citation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Citation::System { file, name } => write!(f, "{file}::{name}"),
            Citation::Unit { krate, path } => write!(f, "{krate} {path}"),
            Citation::Helper { ty, method } => write!(f, "{ty}::{method}"),
            Citation::File(path) => f.write_str(path),
        }
    }
}

impl Citation {
    pub fn is_test(&self) -> bool {
        matches!(self, Citation::System { .. } | Citation::Unit { .. })
    }
}

/// One promise: a table row with a Proof column.
#[derive(Debug, Clone)]
pub struct Promise {
    pub section: String,
    /// 1-based line in SECURITY.md.
    pub line: usize,
    pub promise: String,
    pub status: String,
    pub citations: Vec<Citation>,
    /// Spans that look like test names but follow no citation style.
    pub malformed: Vec<String>,
}

impl Promise {
    /// "section, line N: first words of the promise".
    pub fn label(&self) -> String {
        let words: String = self.promise.chars().take(70).collect();
        let more = if self.promise.chars().count() > 70 {
            "…"
        } else {
            ""
        };
        format!("{} (line {}): {words}{more}", self.section, self.line)
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_crate_name(s: &str) -> bool {
    (s.starts_with("fieldvault-") || s.starts_with("fv-"))
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// What a backticked span is: a citation, `Err` for a test-like name in no known style, or
/// `Ok(None)` for ordinary code text (a header, a key, a policy name).
pub fn classify(span: &str) -> Result<Option<Citation>, String> {
    let span = span.trim();
    if let Some((krate, path)) = span.split_once(' ') {
        if is_crate_name(krate) {
            let segments: Vec<&str> = path.split("::").collect();
            let (last, modules) = segments.split_last().ok_or_else(|| span.to_owned())?;
            let ok = (*last == "*" || is_ident(last)) && modules.iter().all(|m| is_ident(m));
            return if ok {
                Ok(Some(Citation::Unit {
                    krate: krate.to_owned(),
                    path: path.to_owned(),
                }))
            } else {
                Err(span.to_owned())
            };
        }
        return Ok(None);
    }
    let in_repository = [
        "shared/",
        "functions/",
        "infra/",
        "tests/",
        "docs/",
        "bench/",
    ]
    .iter()
    .any(|dir| span.starts_with(dir));
    let named_file = [".rs", ".yaml", ".cedar", ".md", ".sh", ".toml"]
        .iter()
        .any(|ext| span.ends_with(ext));
    if in_repository || named_file {
        return Ok(Some(Citation::File(span.to_owned())));
    }
    let segments: Vec<&str> = span.split("::").collect();
    match segments.as_slice() {
        [ty, method] if ty.starts_with(|c: char| c.is_ascii_uppercase()) && is_ident(method) => {
            Ok(Some(Citation::Helper {
                ty: (*ty).to_owned(),
                method: (*method).to_owned(),
            }))
        }
        [file, name] if is_ident(file) && (is_ident(name) || *name == "*") => {
            Ok(Some(Citation::System {
                file: (*file).to_owned(),
                name: (*name).to_owned(),
            }))
        }
        // Three or more lower-case segments: a unit test, which must name its crate.
        [first, .., last]
            if segments.len() > 2 && is_ident(first) && (is_ident(last) || *last == "*") =>
        {
            Err(span.to_owned())
        }
        _ => Ok(None),
    }
}

/// Split a table row into cells at `|` outside backticks (a `|` inside code is text).
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = vec![String::new()];
    let mut code = false;
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                out.last_mut().expect("a cell").push('|');
                chars.next();
            }
            '`' => {
                code = !code;
                out.last_mut().expect("a cell").push(c);
            }
            '|' if !code => out.push(String::new()),
            _ => out.last_mut().expect("a cell").push(c),
        }
    }
    out.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// The backticked spans of a text.
pub fn spans(text: &str) -> Vec<String> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_owned())
        .collect()
}

/// Every promise of SECURITY.md: the rows of the tables that have a Proof column.
pub fn promises(markdown: &str) -> Vec<Promise> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut columns: Option<(usize, usize)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(heading) = trimmed.strip_prefix("## ") {
            section = heading.trim().to_owned();
            continue;
        }
        if !trimmed.starts_with('|') {
            columns = None;
            continue;
        }
        let row = cells(trimmed);
        if row
            .iter()
            .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
        {
            continue;
        }
        match columns {
            None => {
                let proof = row.iter().position(|c| c == "Proof");
                let status = row.iter().position(|c| c == "Status");
                columns = proof.map(|p| (status.unwrap_or(p), p));
                if columns.is_none() {
                    // A table without a Proof column: skip its rows.
                    columns = Some((usize::MAX, usize::MAX));
                }
            }
            Some((_, usize::MAX)) => {}
            Some((status, proof)) => {
                let mut citations = Vec::new();
                let mut malformed = Vec::new();
                for span in spans(row.get(proof).map(String::as_str).unwrap_or_default()) {
                    match classify(&span) {
                        Ok(Some(c)) => citations.push(c),
                        Ok(None) => {}
                        Err(bad) => malformed.push(bad),
                    }
                }
                out.push(Promise {
                    section: section.clone(),
                    line: i + 1,
                    promise: row.first().cloned().unwrap_or_default(),
                    status: row.get(status).cloned().unwrap_or_default(),
                    citations,
                    malformed,
                });
            }
        }
    }
    out
}

/// The citations of the page's prose (outside tables), where tests are named too.
pub fn prose_citations(markdown: &str) -> Vec<(usize, Result<Citation, String>)> {
    markdown
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('|'))
        .flat_map(|(i, l)| {
            spans(l)
                .into_iter()
                .filter_map(move |s| classify(&s).transpose().map(|c| (i + 1, c)))
        })
        .collect()
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// A test function `name` in `source`: `fn name(` with a test attribute just above it.
fn has_test(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    lines.iter().enumerate().any(|(i, l)| {
        let l = l.trim_start();
        let declares = [
            format!("fn {name}("),
            format!("async fn {name}("),
            format!("fn {name}<"),
        ]
        .iter()
        .any(|d| l.starts_with(d.as_str()) || l.starts_with(&format!("pub {d}")));
        declares
            && lines[i.saturating_sub(4)..i]
                .iter()
                .any(|a| is_test_attribute(a))
    })
}

fn is_test_attribute(line: &str) -> bool {
    let l = line.trim();
    l == "#[test]" || l.starts_with("#[tokio::test")
}

fn has_any_test(source: &str) -> bool {
    source.lines().any(is_test_attribute)
}

/// The directory of a workspace crate by its package name.
fn crate_dir(root: &Path, krate: &str) -> Option<PathBuf> {
    let mut candidates = vec![
        root.join("shared/core"),
        root.join("shared/aws"),
        root.join("infra/tools"),
        root.join("bench"),
    ];
    if let Ok(entries) = std::fs::read_dir(root.join("functions")) {
        candidates.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    candidates.into_iter().find(|dir| {
        read(&dir.join("Cargo.toml")).is_some_and(|t| {
            t.lines()
                .any(|l| l.replace(' ', "") == format!("name=\"{krate}\""))
        })
    })
}

/// Why a citation does not name something that exists, if it does not.
pub fn missing(root: &Path, citation: &Citation) -> Option<String> {
    match citation {
        Citation::File(path) => {
            (!root.join(path).exists()).then(|| format!("no file {path} in the repository"))
        }
        Citation::System { file, name } => {
            let path = root.join("tests/system").join(format!("{file}.rs"));
            let Some(source) = read(&path) else {
                return Some(format!("no tests/system/{file}.rs"));
            };
            if name == "*" {
                (!has_any_test(&source)).then(|| format!("tests/system/{file}.rs has no tests"))
            } else {
                (!has_test(&source, name))
                    .then(|| format!("no test `{name}` in tests/system/{file}.rs"))
            }
        }
        Citation::Unit { krate, path } => {
            let Some(dir) = crate_dir(root, krate) else {
                return Some(format!("no workspace crate named {krate}"));
            };
            let segments: Vec<&str> = path.split("::").collect();
            let (name, modules) = segments.split_last()?;
            let mut file = dir.join("src/lib.rs");
            if !file.exists() {
                file = dir.join("src/main.rs");
            }
            for module in modules {
                let stem = file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                let children = if ["lib", "main", "mod"].contains(&stem) {
                    file.parent().map(Path::to_path_buf).unwrap_or_default()
                } else {
                    file.with_extension("")
                };
                let flat = children.join(format!("{module}.rs"));
                let nested = children.join(module).join("mod.rs");
                if flat.exists() {
                    file = flat;
                } else if nested.exists() {
                    file = nested;
                } else {
                    let source = read(&file).unwrap_or_default();
                    let inline = source.lines().any(|l| {
                        let l = l.trim_start().trim_start_matches("pub ");
                        l.starts_with(&format!("mod {module} {{"))
                            || l.starts_with(&format!("mod {module}{{"))
                    });
                    if !inline {
                        return Some(format!(
                            "no module `{module}` of {krate} (looked in {})",
                            file.strip_prefix(root).unwrap_or(&file).display()
                        ));
                    }
                }
            }
            let source = read(&file).unwrap_or_default();
            let shown = file
                .strip_prefix(root)
                .unwrap_or(&file)
                .display()
                .to_string();
            if *name == "*" {
                // A module with a folder: its tests may live in its submodules.
                let folder = if file.file_stem().is_some_and(|s| s == "mod") {
                    file.parent().map(Path::to_path_buf)
                } else {
                    Some(file.with_extension(""))
                };
                let nested = folder
                    .and_then(|d| std::fs::read_dir(d).ok())
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.ok())
                    .filter_map(|e| read(&e.path()))
                    .any(|s| has_any_test(&s));
                (!has_any_test(&source) && !nested).then(|| format!("{shown} has no tests"))
            } else {
                (!has_test(&source, name)).then(|| format!("no test `{name}` in {shown}"))
            }
        }
        Citation::Helper { ty, method } => {
            let mut files = vec![root.join("tests/support/mod.rs")];
            if let Ok(entries) = std::fs::read_dir(root.join("tests/system")) {
                files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
            }
            let found = files.iter().filter_map(|f| read(f)).any(|s| {
                s.contains(&format!("impl {ty} ")) && s.contains(&format!("fn {method}("))
            });
            (!found).then(|| format!("no helper {ty}::{method} under tests/"))
        }
    }
}

/// A test's outcome in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Ignored,
}

/// The results of a `cargo test` run, by (crate, test path): crates as cargo names them
/// (`fieldvault-core`, `fv-list-users`; `system` for tests/system). A test run twice (by
/// two commands) failed if either run failed.
pub fn results(log: &str) -> BTreeMap<(String, String), Outcome> {
    let mut out = BTreeMap::new();
    let mut binary = String::new();
    for line in log.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Running ") {
            // `Running unittests src/lib.rs (target/debug/deps/fieldvault_core-0a1b2c)`
            let path = rest
                .rsplit_once('(')
                .map(|(_, p)| p.trim_end_matches(')'))
                .unwrap_or(rest);
            let file = path.rsplit('/').next().unwrap_or(path);
            let name = file.rsplit_once('-').map(|(n, _)| n).unwrap_or(file);
            binary = name.replace('_', "-");
            continue;
        }
        if line.starts_with("Doc-tests ") {
            binary = String::new();
            continue;
        }
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        let Some((name, result)) = rest.split_once(" ... ") else {
            continue;
        };
        if binary.is_empty() || name.contains(' ') {
            continue;
        }
        let outcome = if result.starts_with("ok") {
            Outcome::Passed
        } else if result.starts_with("FAILED") {
            Outcome::Failed
        } else if result.starts_with("ignored") {
            Outcome::Ignored
        } else {
            continue;
        };
        let key = (binary.clone(), name.to_owned());
        let merged = match (out.get(&key), outcome) {
            (Some(Outcome::Failed), _) | (_, Outcome::Failed) => Outcome::Failed,
            (Some(Outcome::Passed), _) => Outcome::Passed,
            _ => outcome,
        };
        out.insert(key, merged);
    }
    out
}

/// What happened to a cited test in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed(usize),
    Failed(Vec<String>),
    NotRun,
    Ignored,
}

/// The verdict for one cited test (a wildcard: every test under it, at least one).
pub fn verdict(results: &BTreeMap<(String, String), Outcome>, citation: &Citation) -> Verdict {
    let (krate, path) = match citation {
        Citation::System { file, name } => ("system".to_owned(), format!("{file}::{name}")),
        Citation::Unit { krate, path } => (krate.clone(), path.clone()),
        _ => return Verdict::Passed(0),
    };
    let matching: Vec<(&String, &Outcome)> = match path.strip_suffix('*') {
        Some(prefix) => results
            .iter()
            .filter(|((k, n), _)| *k == krate && n.starts_with(prefix))
            .map(|((_, n), o)| (n, o))
            .collect(),
        None => results
            .get_key_value(&(krate, path))
            .map(|((_, n), o)| (n, o))
            .into_iter()
            .collect(),
    };
    let failed: Vec<String> = matching
        .iter()
        .filter(|(_, o)| **o == Outcome::Failed)
        .map(|(n, _)| (*n).clone())
        .collect();
    let passed = matching
        .iter()
        .filter(|(_, o)| **o == Outcome::Passed)
        .count();
    if !failed.is_empty() {
        Verdict::Failed(failed)
    } else if passed > 0 {
        Verdict::Passed(passed)
    } else if matching.is_empty() {
        Verdict::NotRun
    } else {
        Verdict::Ignored
    }
}

/// Everything wrong with the page itself (independent of any run): malformed citations,
/// citations of things that do not exist, and "tested" promises that cite no test.
pub fn page_problems(root: &Path, markdown: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for p in promises(markdown) {
        for bad in &p.malformed {
            problems.push(format!(
                "{}: `{bad}` names a test in no known style (a unit test needs its crate: `fieldvault-core {bad}`)",
                p.label()
            ));
        }
        for c in &p.citations {
            if let Some(why) = missing(root, c) {
                problems.push(format!("{}: `{c}`: {why}", p.label()));
            }
        }
        if p.status.contains("tested") && !p.citations.iter().any(Citation::is_test) {
            problems.push(format!(
                "{}: the status says tested, but no test is cited",
                p.label()
            ));
        }
    }
    for (line, c) in prose_citations(markdown) {
        match c {
            Err(bad) => problems.push(format!(
                "line {line}: `{bad}` names a test in no known style"
            )),
            Ok(c) => {
                if let Some(why) = missing(root, &c) {
                    problems.push(format!("line {line}: `{c}`: {why}"));
                }
            }
        }
    }
    problems
}
