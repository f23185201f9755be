//! The `palisade harden …` command line.
//!
//! Holds [`HardenCommand`] (clap 4 derive) and [`run`], which the
//! `palisade` binary calls with one line. Exit codes: 0 every check passed
//! (or not applicable), 1 findings (FAIL, WARN or ERROR), 2 could not run.
//! Reports go to stdout; progress and errors go to stderr, progress only
//! when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::catalogue;
use crate::fix::{FixOptions, Journal};
use crate::report::{self, Report};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable table.
    Table,
    /// JSON (schema in the crate README).
    Json,
    /// JUnit XML.
    Junit,
    /// SARIF 2.1.0.
    Sarif,
}

/// `palisade harden` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum HardenCommand {
    /// Evaluate the check catalogue against a root.
    Scan {
        /// Root directory to scan (`/` for the running system).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Profile: level1, level2 or k8s-node.
        #[arg(long, default_value = "level1")]
        profile: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Remediate fixable findings idempotently (journaled).
    Fix {
        /// Root directory to fix.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Profile whose findings are fixed.
        #[arg(long, default_value = "level1")]
        profile: String,
        /// Show what would change without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Undo every change recorded in the journal.
    Rollback {
        /// Root directory.
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// List the check catalogue.
    Checks {
        /// Output format: table, json, sarif (the catalogue as
        /// `tool.driver.rules`, no results) or junit (one skipped test case
        /// per check).
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

/// Exit code: every check passed or was not applicable.
pub const EXIT_PASS: u8 = 0;
/// Exit code: at least one FAIL, WARN or ERROR.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: the command could not run.
pub const EXIT_ERROR: u8 = 2;

struct Io<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

impl Io<'_> {
    fn fail(&mut self, e: impl std::fmt::Display) -> ExitCode {
        let _ = writeln!(self.err, "palisade harden: {e}");
        ExitCode::from(EXIT_ERROR)
    }

    fn emit(&mut self, text: &str) -> ExitCode {
        match self
            .out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
        {
            Ok(()) => ExitCode::from(EXIT_PASS),
            Err(e) => self.fail(e),
        }
    }
}

/// Render a report in a format.
pub fn render(r: &Report, output: Output) -> crate::Result<String> {
    match output {
        Output::Table => Ok(report::render_table(r)),
        Output::Json => report::render_json(r),
        Output::Junit => Ok(report::render_junit(r)),
        Output::Sarif => report::render_sarif(r),
    }
}

fn journal_text(j: &Journal) -> String {
    let mut s = String::new();
    let verb = if j.dry_run { "would change" } else { "changed" };
    for c in &j.changes {
        s.push_str(&format!(
            "{verb}: {} [{}]\n",
            c.description,
            c.checks.join(", ")
        ));
    }
    if j.changes.is_empty() {
        s.push_str("nothing to fix\n");
    }
    for m in &j.manual {
        s.push_str(&format!("manual: {m}\n"));
    }
    s
}

/// Run a `palisade harden` subcommand on the process's stdout and stderr.
pub fn run(cmd: HardenCommand) -> ExitCode {
    let tty = std::io::stderr().is_terminal();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    run_with(cmd, &mut out, &mut err, tty)
}

/// Run a subcommand writing the report to `out` and errors (and, when
/// `progress` is true, progress lines) to `err`.
pub fn run_with(
    cmd: HardenCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
    progress: bool,
) -> ExitCode {
    let mut io = Io { out, err };
    match cmd {
        HardenCommand::Scan {
            root,
            profile,
            output,
        } => {
            let err = &mut *io.err;
            let on_progress = |done: usize, total: usize, id: &str| {
                if progress {
                    if done < total {
                        let _ = write!(err, "\r\x1b[K[{done}/{total}] {id}");
                    } else {
                        let _ = write!(err, "\r\x1b[K");
                    }
                    let _ = err.flush();
                }
            };
            let report = match crate::scan_with_progress(&root, &profile, on_progress) {
                Ok(r) => r,
                Err(e) => return io.fail(e),
            };
            let text = match render(&report, output) {
                Ok(t) => t,
                Err(e) => return io.fail(e),
            };
            let code = io.emit(&text);
            if code != ExitCode::from(EXIT_PASS) {
                return code;
            }
            ExitCode::from(if report.has_findings() {
                EXIT_FINDINGS
            } else {
                EXIT_PASS
            })
        }
        HardenCommand::Fix {
            root,
            profile,
            dry_run,
        } => match crate::fix(&root, &FixOptions { profile, dry_run }) {
            Ok(j) => io.emit(&journal_text(&j)),
            Err(e) => io.fail(e),
        },
        HardenCommand::Rollback { root } => match crate::rollback(&root) {
            Ok(j) => io.emit(&format!("restored {} recorded state(s)\n", j.entries.len())),
            Err(e) => io.fail(e),
        },
        HardenCommand::Checks { output } => {
            let checks = match catalogue::catalogue() {
                Ok(c) => c,
                Err(e) => return io.fail(e),
            };
            let text = match output {
                Output::Json => match serde_json::to_string_pretty(checks) {
                    Ok(t) => t,
                    Err(e) => return io.fail(e),
                },
                Output::Sarif => match report::render_catalogue_sarif(checks) {
                    Ok(t) => t,
                    Err(e) => return io.fail(e),
                },
                Output::Junit => report::render_catalogue_junit(checks),
                Output::Table => {
                    let mut s = String::new();
                    for c in checks {
                        let refs: Vec<String> = c
                            .references
                            .iter()
                            .map(|r| format!("{} {}", r.benchmark, r.section))
                            .collect();
                        s.push_str(&format!(
                            "{}  L{}  [{}]\n  {}\n  refs: {}\n  rationale: {}\n  audit: {}\n  remediation: {}\n\n",
                            c.id,
                            c.level,
                            c.profiles.join(","),
                            c.title,
                            refs.join("; "),
                            c.rationale,
                            c.audit,
                            c.remediation
                        ));
                    }
                    s
                }
            };
            io.emit(&text)
        }
    }
}
