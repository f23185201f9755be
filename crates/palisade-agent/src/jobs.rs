//! Running a job into a [`JobResult`]: `ping` answers `{}`, `hardenScan`
//! runs the `palisade-harden` scanner on the agent's host (off the async
//! runtime) and reports the same JSON as `palisade harden scan --output
//! json`. A result that would not fit in one bus message becomes a failed
//! result saying so. This module must not publish or write files.

use std::path::{Path, PathBuf};

use palisade_bus::protocol::{self, Job, JobKind, JobResult, JobStatus, MAX_MESSAGE_BYTES};
use palisade_core::Uid;

/// Largest result body: one message less room for the three UID headers
/// (nats-server counts headers against `max_payload`).
pub const MAX_RESULT_BYTES: usize = MAX_MESSAGE_BYTES - 1024;

/// Longest error text in a failed result (the protocol's bound).
const MAX_ERROR: usize = 4096;

/// Runs `job` and returns its result under `message_uid`. Scans run on
/// the blocking pool; `root` is the root directory they scan (`/` in
/// production).
pub async fn run(job: &Job, message_uid: Uid, root: &Path) -> JobResult {
    let outcome = match &job.kind {
        JobKind::Ping {} => Ok(serde_json::json!({})),
        JobKind::HardenScan { profile } => {
            let root: PathBuf = root.to_path_buf();
            let profile = profile.clone();
            let span = tracing::Span::current();
            match tokio::task::spawn_blocking(move || {
                let _g = span.enter();
                harden_scan(&root, &profile)
            })
            .await
            {
                Ok(r) => r,
                Err(e) => Err(format!("the scan task failed: {e}")),
            }
        }
    };
    finish(message_uid, job.job_uid, outcome)
}

/// Runs a scan and returns its JSON report (blocking).
pub fn harden_scan(root: &Path, profile: &str) -> Result<serde_json::Value, String> {
    let report =
        palisade_harden::scan(root, profile).map_err(|e| format!("harden scan failed: {e}"))?;
    let text = palisade_harden::report::render_json(&report)
        .map_err(|e| format!("rendering the scan report failed: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("the scan report is not JSON: {e}"))
}

/// The result of a job outcome; a report too large for one message (or
/// one the protocol refuses) becomes a failed result that says why.
pub fn finish(
    message_uid: Uid,
    job_uid: Uid,
    outcome: Result<serde_json::Value, String>,
) -> JobResult {
    let result = match outcome {
        Ok(report) => JobResult {
            message_uid,
            job_uid,
            status: JobStatus::Succeeded,
            report: Some(report),
            error: None,
        },
        Err(e) => return failed(message_uid, job_uid, &e),
    };
    match protocol::encode(&result) {
        Ok(body) if body.len() <= MAX_RESULT_BYTES => result,
        Ok(body) => failed(
            message_uid,
            job_uid,
            &format!(
                "the report is {} bytes, larger than the {MAX_MESSAGE_BYTES}-byte message limit \
                 (less room for headers)",
                body.len()
            ),
        ),
        Err(e) => {
            let size = serde_json::to_vec(&result).map(|v| v.len()).unwrap_or(0);
            let why = if size > MAX_MESSAGE_BYTES {
                format!(
                    "the report is {size} bytes, larger than the {MAX_MESSAGE_BYTES}-byte message limit"
                )
            } else {
                format!("the report was refused: {e}")
            };
            failed(message_uid, job_uid, &why)
        }
    }
}

/// A failed result with `error` made printable and bounded.
pub fn failed(message_uid: Uid, job_uid: Uid, error: &str) -> JobResult {
    let mut text: String = error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.len() > MAX_ERROR {
        let mut cut = MAX_ERROR;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    if text.trim().is_empty() {
        text = "the job failed".to_owned();
    }
    JobResult {
        message_uid,
        job_uid,
        status: JobStatus::Failed,
        report: None,
        error: Some(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ping_answers_an_empty_object() {
        let j = Job {
            job_uid: Uid::from_u64(1),
            kind: JobKind::Ping {},
        };
        let r = run(&j, Uid::from_u64(2), Path::new("/nonexistent")).await;
        assert_eq!(r.status, JobStatus::Succeeded);
        assert_eq!(r.report, Some(serde_json::json!({})));
        assert_eq!(r.job_uid, Uid::from_u64(1));
    }

    #[tokio::test]
    async fn scans_report_json_or_fail_clearly() {
        let d = tempfile::tempdir().unwrap();
        let j = Job {
            job_uid: Uid::from_u64(1),
            kind: JobKind::HardenScan {
                profile: "level1".into(),
            },
        };
        let r = run(&j, Uid::from_u64(2), d.path()).await;
        assert_eq!(r.status, JobStatus::Succeeded, "{:?}", r.error);
        let want = harden_scan(d.path(), "level1").unwrap();
        assert_eq!(r.report.unwrap()["profile"], want["profile"]);
        let j = Job {
            job_uid: Uid::from_u64(1),
            kind: JobKind::HardenScan {
                profile: "nope".into(),
            },
        };
        let r = run(&j, Uid::from_u64(2), d.path()).await;
        assert_eq!(r.status, JobStatus::Failed);
        assert!(r.error.unwrap().starts_with("harden scan failed"));
    }

    #[test]
    fn oversize_reports_fail_the_job() {
        let big = serde_json::json!({ "x": "a".repeat(MAX_MESSAGE_BYTES) });
        let r = finish(Uid::from_u64(1), Uid::from_u64(2), Ok(big));
        assert_eq!(r.status, JobStatus::Failed);
        assert!(
            r.error
                .unwrap()
                .contains("larger than the 1048576-byte message limit")
        );
        let near = serde_json::json!({ "x": "a".repeat(MAX_RESULT_BYTES) });
        let r = finish(Uid::from_u64(1), Uid::from_u64(2), Ok(near));
        assert_eq!(r.status, JobStatus::Failed);
        let fits = serde_json::json!({ "x": "a".repeat(MAX_RESULT_BYTES - 200) });
        let r = finish(Uid::from_u64(1), Uid::from_u64(2), Ok(fits));
        assert_eq!(r.status, JobStatus::Succeeded);
        let r = failed(Uid::from_u64(1), Uid::from_u64(2), &"é\n".repeat(5000));
        assert!(r.error.as_ref().unwrap().len() <= MAX_ERROR);
        assert!(protocol::encode(&r).is_ok());
    }
}
