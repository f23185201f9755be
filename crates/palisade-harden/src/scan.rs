//! Running a profile against a root.
//!
//! Holds [`scan`] and [`scan_with_progress`]: select the profile's checks
//! from the catalogue, evaluate each once against a shared
//! [`crate::eval::Context`], and assemble a [`Report`]. No output here; the
//! progress callback lets the CLI draw on a terminal.

use std::path::Path;

use crate::catalogue::{self, Check};
use crate::error::Result;
use crate::eval::{self, Context, FixAction};
use crate::report::{Finding, Report, Status};
use crate::rootfs::RootFs;

/// Scan `root` with the named profile.
pub fn scan(root: &Path, profile: &str) -> Result<Report> {
    scan_with_progress(root, profile, |_, _, _| {})
}

/// Scan, calling `progress(done, total, check_id)` before each check.
pub fn scan_with_progress(
    root: &Path,
    profile: &str,
    progress: impl FnMut(usize, usize, &str),
) -> Result<Report> {
    let fs = RootFs::open(root)?;
    let (report, _) = scan_fs(&fs, profile, progress)?;
    Ok(report)
}

/// Fix actions of each fixable failing check.
pub(crate) type PlannedFixes = Vec<(&'static Check, Vec<FixAction>)>;

/// Scan an opened root; also return each failing check's fix actions.
pub(crate) fn scan_fs(
    fs: &RootFs,
    profile: &str,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<(Report, PlannedFixes)> {
    let checks = catalogue::profile(profile)?;
    let ctx = Context::new(fs);
    let total = checks.len();
    let mut findings = Vec::with_capacity(total);
    let mut fixes = Vec::new();
    for (i, check) in checks.into_iter().enumerate() {
        progress(i, total, &check.id);
        let outcome = eval::evaluate(&ctx, &check.eval);
        let fixable = outcome.status == Status::Fail && !outcome.fixes.is_empty();
        if fixable {
            fixes.push((check, outcome.fixes.clone()));
        }
        findings.push(Finding {
            id: check.id.clone(),
            title: check.title.clone(),
            level: check.level,
            references: check.references.clone(),
            status: outcome.status,
            message: outcome.message,
            evidence: outcome.evidence,
            fixable,
            remediation: check.remediation.clone(),
        });
    }
    progress(total, total, "");
    let report = Report::new(
        fs.root().to_string_lossy().into_owned(),
        fs.is_live(),
        profile.to_string(),
        findings,
    );
    Ok((report, fixes))
}
