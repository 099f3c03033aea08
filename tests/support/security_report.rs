//! `security-report SECURITY.md RESULTS [--partial]`: for each promise of SECURITY.md, whether
//! every test it cites ran and passed in the `cargo test` run whose output is RESULTS
//! (infra/local/test.sh keeps it). Exits 1 when a cited test failed, when one did not run
//! (unless `--partial`: a filtered run), or when the page cites what does not exist.
use std::path::Path;
use std::process::ExitCode;

use fieldvault_system_tests::security::{page_problems, promises, results, verdict, Verdict};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let partial = args.iter().any(|a| a == "--partial");
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let (Some(page), Some(log)) = (files.first(), files.get(1)) else {
        eprintln!("usage: security-report SECURITY.md RESULTS [--partial]");
        return ExitCode::from(2);
    };
    let (Ok(markdown), Ok(log)) = (std::fs::read_to_string(page), std::fs::read_to_string(log))
    else {
        eprintln!("security-report: cannot read {page} or {log}");
        return ExitCode::from(2);
    };
    let root = Path::new(page.as_str())
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let ran = results(&log);
    let mut failed = false;
    let (mut proven, mut untested, mut incomplete) = (0, 0, 0);
    for problem in page_problems(root, &markdown) {
        println!("[PAGE] {problem}");
        failed = true;
    }
    for p in promises(&markdown) {
        let tests: Vec<_> = p.citations.iter().filter(|c| c.is_test()).collect();
        if tests.is_empty() {
            untested += 1;
            println!("[--]   {} — no test cited ({})", p.label(), p.status);
            continue;
        }
        let mut notes = Vec::new();
        let mut bad = false;
        let mut not_run = false;
        for c in &tests {
            match verdict(&ran, c) {
                Verdict::Passed(_) => {}
                Verdict::Failed(names) => {
                    bad = true;
                    notes.push(format!("`{c}` FAILED ({})", names.join(", ")));
                }
                Verdict::NotRun => {
                    not_run = true;
                    notes.push(format!("`{c}` did not run"));
                }
                Verdict::Ignored => {
                    not_run = true;
                    notes.push(format!("`{c}` was ignored"));
                }
            }
        }
        if bad || (not_run && !partial) {
            failed = true;
            println!("[FAIL] {} — {}", p.label(), notes.join("; "));
        } else if not_run {
            incomplete += 1;
            println!("[part] {} — {}", p.label(), notes.join("; "));
        } else {
            proven += 1;
            println!("[ok]   {} ({} tests)", p.label(), tests.len());
        }
    }
    println!(
        "security report: {proven} promises proven in this run, {incomplete} only in part (filtered run), {untested} cite no test{}",
        if failed { "; FAILED" } else { "" }
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
