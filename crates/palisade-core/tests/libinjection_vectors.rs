//! The pure-Rust port of libinjection (`libinjectionrs`) checked against
//! libinjection's own published vectors, so the screening in
//! `palisade_core::screen` rests on proven ground:
//!
//! - `data/libinjection/unit/`: the C library's unit tests (`tests/test-*.txt`):
//!   SQL tokenizer output, folding output, `libinjection_sqli` fingerprints and
//!   HTML5 tokenizer output, each compared byte for byte with what the C test
//!   driver (`src/testdriver.c`) prints.
//! - `data/libinjection/samples/`: the C library's sample inputs (`data/*.txt`:
//!   known SQLi and XSS attacks, and former false positives), one URL-encoded
//!   input a line. `reference.tsv` holds the C library's verdicts for every
//!   line (is-SQLi, fingerprint, is-XSS); the port must agree on each.
//!
//! The files are copied unchanged from libinjection (BSD-3-Clause; see
//! `data/libinjection/COPYING` and `README.md` there).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use libinjectionrs::sqli::{SqliFlags, SqliState, SqliTokenizer, Token, TokenType};
use libinjectionrs::xss::{Html5Flags, Html5State, XssDetector};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/libinjection")
}

/// One unit test file, split as the C test driver splits it.
struct UnitTest {
    input: Vec<u8>,
    expected: Vec<u8>,
}

/// `modp_rtrim`: strips trailing spaces, tabs, CRs and LFs.
fn rtrim(mut v: Vec<u8>) -> Vec<u8> {
    while matches!(v.last(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
        v.pop();
    }
    v
}

/// Parses a `--TEST--` / `--INPUT--` / `--EXPECTED--` file like
/// `read_file` in libinjection's `src/testdriver.c`.
fn parse_unit(raw: &[u8]) -> Option<UnitTest> {
    let mut section = 0;
    let (mut input, mut expected) = (Vec::new(), Vec::new());
    for line in raw.split_inclusive(|&b| b == b'\n') {
        match (section, line) {
            (0, b"--TEST--\n") => section = 1,
            (1, b"--INPUT--\n") => section = 2,
            (2, b"--EXPECTED--\n") => section = 3,
            (2, l) => input.extend_from_slice(l),
            (3, l) => expected.extend_from_slice(l),
            _ => {}
        }
    }
    (section == 3).then(|| UnitTest {
        input: rtrim(input),
        expected: rtrim(expected),
    })
}

/// A token's value as C prints it with `%s`: up to the first NUL.
fn token_val(t: &Token) -> &[u8] {
    let end = t.val.iter().position(|&b| b == 0).unwrap_or(t.val.len());
    &t.val[..end]
}

/// `print_token` of the C test driver.
fn print_token(out: &mut Vec<u8>, t: &Token) {
    out.push(t.token_type.to_char() as u8);
    out.push(b' ');
    let print_string = |out: &mut Vec<u8>| {
        if t.str_open != 0 {
            out.push(t.str_open);
        }
        out.extend_from_slice(token_val(t));
        if t.str_close != 0 {
            out.push(t.str_close);
        }
    };
    match t.token_type {
        TokenType::String => print_string(out),
        TokenType::Variable => {
            // C keeps the `@` signs out of the value and counts them; the port
            // keeps them in the value. Print both the C way. (No detection
            // code reads a variable's value: folding and the whitelist look at
            // token types only, checked in both sources.)
            let count = usize::try_from(t.count).unwrap();
            out.extend(std::iter::repeat_n(b'@', count));
            let ats = token_val(t)
                .iter()
                .take_while(|&&b| b == b'@')
                .count()
                .min(count);
            if t.str_open != 0 {
                out.push(t.str_open);
            }
            out.extend_from_slice(&token_val(t)[ats..]);
            if t.str_close != 0 {
                out.push(t.str_close);
            }
        }
        _ => out.extend_from_slice(token_val(t)),
    }
    out.push(b'\n');
}

/// What the C test driver would print for this file's kind.
fn actual_output(kind: &str, input: &[u8]) -> Vec<u8> {
    let ansi = SqliFlags::FLAG_QUOTE_NONE | SqliFlags::FLAG_SQL_ANSI;
    let mut out = Vec::new();
    match kind {
        "tokens" => {
            let mut tokenizer = SqliTokenizer::new(input, ansi);
            while let Some(t) = tokenizer.next_token() {
                print_token(&mut out, &t);
            }
        }
        "folding" => {
            let mut state = SqliState::new(input, ansi);
            let n = state.fold_tokens();
            for t in state.tokens.iter().take(n) {
                print_token(&mut out, t);
            }
        }
        "sqli" => {
            let mut state = SqliState::new(input, SqliFlags::FLAG_NONE);
            if state.detect() {
                out.extend_from_slice(state.fingerprint_string().as_bytes());
            }
        }
        "html5" => {
            let mut h5 = Html5State::new(input, Html5Flags::DataState);
            while h5.next() {
                out.extend_from_slice(h5.token_type.to_string().as_bytes());
                out.extend_from_slice(format!(",{},", h5.token_len).as_bytes());
                out.extend_from_slice(&h5.token_start[..h5.token_len]);
                out.push(b'\n');
            }
        }
        other => panic!("unknown unit test kind {other}"),
    }
    rtrim(out)
}

fn unit_kind(name: &str) -> &'static str {
    if name.starts_with("test-tokens-") {
        "tokens"
    } else if name.starts_with("test-folding-") {
        "folding"
    } else if name.starts_with("test-sqli-") {
        "sqli"
    } else if name.starts_with("test-html5-") {
        "html5"
    } else {
        panic!("unexpected unit test file {name}")
    }
}

#[test]
fn port_passes_every_libinjection_unit_test() {
    let mut files: Vec<_> = fs::read_dir(data_dir().join("unit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let kind = unit_kind(name);
        let test = parse_unit(&fs::read(path).unwrap())
            .unwrap_or_else(|| panic!("{name}: not a --TEST--/--INPUT--/--EXPECTED-- file"));
        *counts.entry(kind).or_default() += 1;
        let actual = actual_output(kind, &test.input);
        if actual != test.expected {
            failures.push(format!(
                "{name}\n  input:    {:?}\n  expected: {:?}\n  actual:   {:?}",
                String::from_utf8_lossy(&test.input),
                String::from_utf8_lossy(&test.expected),
                String::from_utf8_lossy(&actual),
            ));
        }
    }
    // Every kind present, in the numbers libinjection ships.
    assert_eq!(
        counts,
        BTreeMap::from([
            ("folding", 118),
            ("html5", 63),
            ("sqli", 50),
            ("tokens", 249)
        ])
    );
    assert!(
        failures.is_empty(),
        "{} of {} unit tests differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// `modp_url_decode` of libinjection's `src/reader.c`, including its quirk that
/// a `%XX` ending exactly at the end of the line is not decoded.
fn url_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// One sample input with libinjection's (C) verdicts.
struct Sample {
    file: String,
    line: usize,
    input: Vec<u8>,
    sqli: bool,
    fingerprint: String,
    xss: bool,
}

/// Every sample line, decoded, with its reference verdicts.
fn samples() -> Vec<Sample> {
    let reference = fs::read_to_string(data_dir().join("reference.tsv")).unwrap();
    let mut expected: BTreeMap<(String, usize), (bool, String, bool)> = BTreeMap::new();
    for line in reference.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 5, "bad reference line {line:?}");
        expected.insert(
            (f[0].to_owned(), f[1].parse().unwrap()),
            (f[2] == "1", f[3].to_owned(), f[4] == "1"),
        );
    }
    let mut files: Vec<_> = fs::read_dir(data_dir().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in &files {
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        let raw = fs::read(path).unwrap();
        for (n, line) in raw.split(|&b| b == b'\n').enumerate() {
            let line = rtrim(line.to_vec());
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let (sqli, fingerprint, xss) = expected
                .remove(&(file.clone(), n + 1))
                .unwrap_or_else(|| panic!("{file}:{} has no reference verdict", n + 1));
            out.push(Sample {
                file: file.clone(),
                line: n + 1,
                input: url_decode(&line),
                sqli,
                fingerprint,
                xss,
            });
        }
    }
    assert!(
        expected.is_empty(),
        "reference lines without a sample: {:?}",
        expected.keys()
    );
    assert_eq!(out.len(), 19_216);
    out
}

/// The samples on which the unmodified port and libinjection disagree, with
/// the port's defect that explains each (see `palisade_core::screen`):
/// `into` = case-sensitive `INTO OUTFILE` test, `merge` = multi-word keyword
/// with a bare-word prefix not merged, `nul` = NUL inside a comment.
const RAW_PORT_DIFFERENCES: &[(&str, usize, &str)] = &[
    ("sqli-forums.txt", 6802, "nul"),
    ("sqli-hackers.txt", 236, "into"),
    ("sqli-hackers.txt", 237, "into"),
    ("sqli-hackers.txt", 242, "into"),
    ("sqli-hackers.txt", 244, "into"),
    ("sqli-hackers.txt", 245, "into"),
    ("sqli-hackers.txt", 246, "into"),
    ("sqli-hackers.txt", 248, "into"),
    ("sqli-hackers.txt", 250, "into"),
    ("sqli-hackers.txt", 252, "into"),
    ("sqli-hackers.txt", 259, "into"),
    ("sqli-misc.txt", 226, "into"),
    ("sqli-misc.txt", 228, "into"),
    ("sqli-misc.txt", 230, "into"),
    ("sqli-misc.txt", 311, "merge"),
    ("sqli-rsalgado-bhusa2013.txt", 142, "merge"),
    ("sqli-sqlmap-20160724.txt", 61, "merge"),
    ("sqli-sqlmap-20160724.txt", 62, "merge"),
    ("sqli-sqlmap-20160724.txt", 63, "merge"),
];

#[test]
fn raw_port_differs_from_libinjection_only_on_known_samples() {
    let mut differences = Vec::new();
    for s in samples() {
        let mut state = SqliState::new(&s.input, SqliFlags::FLAG_NONE);
        let sqli = state.detect();
        let fingerprint = state.fingerprint_string();
        let xss = XssDetector::new().detect(&s.input).is_injection();
        if (sqli, fingerprint.as_str(), xss) != (s.sqli, s.fingerprint.as_str(), s.xss) {
            differences.push((s.file.clone(), s.line));
            // Every difference is a missed or differently explained SQLi, never an XSS one.
            assert_eq!(xss, s.xss, "{}:{}", s.file, s.line);
            assert!(
                s.sqli,
                "{}:{}: the port flags what C does not",
                s.file, s.line
            );
        }
    }
    let known: Vec<(String, usize)> = RAW_PORT_DIFFERENCES
        .iter()
        .map(|(f, l, _)| ((*f).to_owned(), *l))
        .collect();
    assert_eq!(differences, known);
}

#[test]
fn corrected_detectors_agree_with_libinjection_on_every_sample() {
    use palisade_core::screen::{detect_sqli, detect_xss};
    let mut differences = Vec::new();
    let all = samples();
    for s in &all {
        let sqli = detect_sqli(&s.input).unwrap();
        let xss = detect_xss(&s.input).unwrap();
        let want_fp = s.sqli.then_some(s.fingerprint.as_str());
        let got_fp = sqli.as_ref().map(|f| f.as_str());
        // The one NUL sample: both flag it, with different fingerprints.
        let nul_in_comment = s.input.contains(&0) && s.sqli && sqli.is_some();
        if (got_fp != want_fp && !nul_in_comment) || xss != s.xss {
            differences.push(format!(
                "{}:{}: {:?}: C ({want_fp:?}, xss {}), corrected ({got_fp:?}, xss {xss})",
                s.file,
                s.line,
                String::from_utf8_lossy(&s.input),
                s.xss
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} samples differ:\n{}",
        differences.len(),
        all.len(),
        differences.join("\n")
    );
}

/// The screen on libinjection's sample files: the former false positives are
/// refused only where listed, and the attack samples are refused at least as
/// often as measured.
#[test]
fn screen_on_libinjection_samples() {
    use palisade_core::screen::check;
    let all = samples();
    let mut refused_benign = Vec::new();
    let (mut attacks, mut refused_attacks, mut not_utf8) = (0, 0, 0);
    for s in &all {
        let Ok(value) = std::str::from_utf8(&s.input) else {
            not_utf8 += 1; // cannot reach the screen: JSON refuses invalid UTF-8
            continue;
        };
        let refused = check(value).is_err();
        if s.file == "false_positives.txt" {
            if refused {
                refused_benign.push(value);
            }
        } else if s.file.starts_with("sqli-") || s.file.starts_with("xss-") {
            attacks += 1;
            refused_attacks += usize::from(refused);
        }
    }
    // libinjection itself flags 21 of the 421. The screen refuses these 8:
    // 7 libinjection matches its prose rules keep, and one of its own rules
    // (a quote, then `#` at the end).
    assert_eq!(
        refused_benign,
        [
            "BAMBOO CHARCOAL SOAP 1 '#",
            "1611-IioXXIG1ti8rspL2vbXFy--",
            "1611/IioXXIG1ti8rspL2vbXFy--",
            "'countdown calendar\" and \"disney:",
            "1,1--",
            "select 'and'",
            "select x from y where",
            "x/*",
        ]
    );
    println!(
        "attack samples: {refused_attacks} of {attacks} refused; {not_utf8} samples not UTF-8"
    );
    // Measured: 18,577 of the 18,789 UTF-8 attack samples. libinjection flags
    // 18,771 of all 18,794; the difference is its `sos` and numbers-only
    // matches (169 and 27 samples, such as `"LIKE" STAMP` and
    // `SMALL "&" SIGN` from forum posts), which the screen reads as prose.
    assert!(refused_attacks >= 18_577, "{refused_attacks}");
}
