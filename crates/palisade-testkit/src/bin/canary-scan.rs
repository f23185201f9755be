//! `canary-scan DIR`: after a test run with `PALISADE_CANARY_DIR=DIR`, looks
//! for every secret the tests handled (`DIR/secrets/*.txt`) in every log and
//! data file of the run (`DIR/logs`, `DIR/servers`), skipping the files that
//! hold a secret by design. Exit 0 when none is found, 1 when some is (the
//! file and the first characters of the secret are printed), 2 on misuse.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => files(&p, out),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

fn main() -> ExitCode {
    let Some(root) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: canary-scan DIR");
        return ExitCode::from(2);
    };
    let mut secret_files = Vec::new();
    files(&root.join("secrets"), &mut secret_files);
    let mut secrets = BTreeSet::new();
    for f in &secret_files {
        if let Ok(text) = std::fs::read_to_string(f) {
            secrets.extend(text.lines().map(str::to_owned));
        }
    }
    let secrets: Vec<String> = secrets.into_iter().collect();
    let mut targets = Vec::new();
    files(&root.join("logs"), &mut targets);
    files(&root.join("servers"), &mut targets);
    targets.retain(|p| !palisade_testkit::canary::skipped(p));
    if secrets.is_empty() || targets.is_empty() {
        eprintln!(
            "canary-scan: {} secrets and {} files under {}: nothing to compare (was PALISADE_CANARY_DIR set for the test run?)",
            secrets.len(),
            targets.len(),
            root.display()
        );
        return ExitCode::from(2);
    }
    let Ok(matcher) = aho_corasick::AhoCorasick::new(&secrets) else {
        eprintln!("canary-scan: cannot build the matcher");
        return ExitCode::from(2);
    };
    let (mut found, mut bytes) = (0usize, 0u64);
    for path in &targets {
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        bytes += data.len() as u64;
        let mut seen = BTreeSet::new();
        for m in matcher.find_overlapping_iter(&data) {
            if seen.insert(m.pattern()) {
                found += 1;
                let s = secrets
                    .get(m.pattern().as_usize())
                    .map(String::as_str)
                    .unwrap_or("");
                let shown: String = s.chars().take(12).collect();
                println!("FOUND {shown}… in {}", path.display());
            }
        }
    }
    println!(
        "canary-scan: {} secrets recorded by the tests, {} files ({} MiB) scanned, {found} found in clear",
        secrets.len(),
        targets.len(),
        bytes / (1024 * 1024)
    );
    if found > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
