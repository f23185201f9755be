//! Scan results and their renderings.
//!
//! Holds [`Report`], [`Finding`] and [`Status`] (the stable, documented
//! machine-readable model; see the crate README for the JSON schema) and the
//! renderers: [`render_table`], [`render_json`], [`render_junit`] (JUnit
//! XML, escaped with [`xml_escape`]) and [`render_sarif`] (SARIF 2.1.0).
//! Renderers are pure functions of a report.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::catalogue::{Check, Reference};
use crate::error::Result;

/// Version of the JSON report schema. Bumped on incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Compliant.
    Pass,
    /// Not compliant.
    Fail,
    /// Could not be decided fully, or compliant with a caveat.
    Warn,
    /// The check could not run (unreadable or malformed input).
    Error,
    /// The check does not apply to this root (e.g. no Kubernetes files).
    NotApplicable,
}

impl Status {
    /// Upper-case label as in the JSON.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
            Self::NotApplicable => "N/A",
        }
    }

    /// True for FAIL, WARN and ERROR.
    pub fn is_finding(self) -> bool {
        matches!(self, Self::Fail | Self::Warn | Self::Error)
    }
}

/// Result of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Check id.
    pub id: String,
    /// Check title.
    pub title: String,
    /// CIS level.
    pub level: u8,
    /// Benchmark references.
    pub references: Vec<Reference>,
    /// Outcome.
    pub status: Status,
    /// One-line explanation of the outcome.
    pub message: String,
    /// Supporting detail (values seen, files, offending paths).
    pub evidence: Vec<String>,
    /// True when `palisade harden fix` can remediate this finding.
    pub fixable: bool,
    /// Remediation text from the catalogue.
    pub remediation: String,
}

/// Counts per status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Checks evaluated.
    pub total: usize,
    /// PASS.
    pub pass: usize,
    /// FAIL.
    pub fail: usize,
    /// WARN.
    pub warn: usize,
    /// ERROR.
    pub error: usize,
    /// NOT_APPLICABLE.
    pub not_applicable: usize,
    /// FAIL findings `fix` can remediate.
    pub fixable: usize,
}

/// A whole scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `palisade-harden`.
    pub tool: String,
    /// Crate version.
    pub tool_version: String,
    /// Root scanned.
    pub root: String,
    /// True when the root was the live system.
    pub live: bool,
    /// Profile used.
    pub profile: String,
    /// Counts.
    pub summary: Summary,
    /// One entry per check, in catalogue order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Build a report and its summary.
    pub fn new(root: String, live: bool, profile: String, findings: Vec<Finding>) -> Self {
        let mut s = Summary {
            total: findings.len(),
            ..Summary::default()
        };
        for f in &findings {
            match f.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Warn => s.warn += 1,
                Status::Error => s.error += 1,
                Status::NotApplicable => s.not_applicable += 1,
            }
            if f.fixable && f.status == Status::Fail {
                s.fixable += 1;
            }
        }
        Self {
            schema_version: SCHEMA_VERSION,
            tool: "palisade-harden".to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            root,
            live,
            profile,
            summary: s,
            findings,
        }
    }

    /// True when any check is FAIL, WARN or ERROR.
    pub fn has_findings(&self) -> bool {
        self.findings.iter().any(|f| f.status.is_finding())
    }
}

fn refs(f: &Finding) -> String {
    f.references
        .iter()
        .map(|r| r.section.as_str())
        .next()
        .unwrap_or("")
        .to_string()
}

/// Plain-text table, one line per check plus a summary.
pub fn render_table(r: &Report) -> String {
    let idw = r
        .findings
        .iter()
        .map(|f| f.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} {:<idw$} {:<9} {:<3} MESSAGE",
        "STATUS", "ID", "CIS", "FIX"
    );
    for f in &r.findings {
        let _ = writeln!(
            out,
            "{:<6} {:<idw$} {:<9} {:<3} {}",
            f.status.label(),
            f.id,
            refs(f),
            if f.fixable { "yes" } else { "" },
            f.message
        );
    }
    let s = &r.summary;
    let _ = writeln!(
        out,
        "\n{} checks ({}): {} pass, {} fail ({} fixable), {} warn, {} error, {} not applicable",
        s.total, r.profile, s.pass, s.fail, s.fixable, s.warn, s.error, s.not_applicable
    );
    out
}

/// Pretty JSON (schema in the README).
pub fn render_json(r: &Report) -> Result<String> {
    Ok(serde_json::to_string_pretty(r)?)
}

/// Escape text for XML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                out.push('\u{FFFD}');
            }
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one test case per check; FAIL → failure, ERROR → error,
/// N/A → skipped, WARN → passed with the message in system-out.
pub fn render_junit(r: &Report) -> String {
    let s = &r.summary;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"palisade-harden\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        s.total, s.fail, s.error, s.not_applicable
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        xml_escape(&format!("palisade-harden {} {}", r.profile, r.root)),
        s.total,
        s.fail,
        s.error,
        s.not_applicable
    );
    for f in &r.findings {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\"",
            xml_escape(&format!("harden.{}", refs(f))),
            xml_escape(&format!("{} {}", f.id, f.title))
        );
        let body = format!("{}\n{}", f.message, f.evidence.join("\n"));
        match f.status {
            Status::Pass => out.push_str("/>\n"),
            Status::Fail => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    xml_escape(&f.message),
                    xml_escape(&body)
                );
            }
            Status::Error => {
                let _ = writeln!(
                    out,
                    ">\n      <error message=\"{}\">{}</error>\n    </testcase>",
                    xml_escape(&f.message),
                    xml_escape(&body)
                );
            }
            Status::NotApplicable => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    xml_escape(&f.message)
                );
            }
            Status::Warn => {
                let _ = writeln!(
                    out,
                    ">\n      <system-out>{}</system-out>\n    </testcase>",
                    xml_escape(&format!("WARN: {body}"))
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// SARIF 2.1.0: one rule per check, one result per FAIL/WARN/ERROR.
pub fn render_sarif(r: &Report) -> Result<String> {
    use serde_json::json;
    let rules: Vec<_> = r
        .findings
        .iter()
        .map(|f| {
            json!({
                "id": f.id,
                "name": f.id,
                "shortDescription": { "text": f.title },
                "help": { "text": f.remediation },
                "properties": {
                    "level": f.level,
                    "references": f.references,
                }
            })
        })
        .collect();
    let results: Vec<_> = r
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.status.is_finding())
        .map(|(i, f)| {
            let level = match f.status {
                Status::Fail => "error",
                _ => "warning",
            };
            json!({
                "ruleId": f.id,
                "ruleIndex": i,
                "level": level,
                "kind": "fail",
                "message": { "text": if f.evidence.is_empty() {
                    f.message.clone()
                } else {
                    format!("{} ({})", f.message, f.evidence.join("; "))
                } },
                "properties": { "status": f.status, "fixable": f.fixable },
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "palisade-harden",
                "version": r.tool_version,
                "rules": rules,
            }},
            "properties": { "root": r.root, "profile": r.profile },
            "results": results,
        }]
    });
    Ok(serde_json::to_string_pretty(&doc)?)
}

/// SARIF 2.1.0 for `palisade harden checks`: the catalogue as
/// `tool.driver.rules` and no results (nothing was evaluated).
pub fn render_catalogue_sarif(checks: &[Check]) -> Result<String> {
    use serde_json::json;
    let rules: Vec<_> = checks
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.id,
                "shortDescription": { "text": c.title },
                "fullDescription": { "text": c.rationale },
                "help": { "text": format!("Audit: {}\nRemediation: {}", c.audit, c.remediation) },
                "properties": {
                    "level": c.level,
                    "references": c.references,
                    "profiles": c.profiles,
                    "breaks_k8s_node": c.breaks_k8s_node,
                }
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "palisade-harden",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "properties": { "listing": true },
            "results": [],
        }]
    });
    Ok(serde_json::to_string_pretty(&doc)?)
}

/// JUnit XML for `palisade harden checks`: one test case per check, each
/// `skipped` (listed, not evaluated), with the same classname and name as
/// [`render_junit`] gives a scan.
pub fn render_catalogue_junit(checks: &[Check]) -> String {
    let n = checks.len();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"palisade-harden\" tests=\"{n}\" failures=\"0\" errors=\"0\" skipped=\"{n}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"palisade-harden catalogue\" tests=\"{n}\" failures=\"0\" errors=\"0\" skipped=\"{n}\">"
    );
    for c in checks {
        let section = c.references.first().map_or("", |r| r.section.as_str());
        let _ = writeln!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\">\n      <skipped message=\"{}\"/>\n    </testcase>",
            xml_escape(&format!("harden.{section}")),
            xml_escape(&format!("{} {}", c.id, c.title)),
            xml_escape(&format!(
                "catalogue listing, not evaluated (level {}, profiles {})",
                c.level,
                c.profiles.join(",")
            ))
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_listings() {
        let all = crate::catalogue::catalogue().unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&render_catalogue_sarif(all).unwrap()).unwrap();
        let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), all.len());
        assert_eq!(rules[0]["id"], all[0].id.as_str());
        assert_eq!(v["runs"][0]["results"].as_array().unwrap().len(), 0);
        let j = render_catalogue_junit(all);
        assert_eq!(j.matches("<testcase ").count(), all.len());
        assert_eq!(j.matches("<skipped ").count(), all.len());
        assert!(j.contains(&format!("skipped=\"{}\"", all.len())));
    }

    fn sample() -> Report {
        let f = |id: &str, status| Finding {
            id: id.to_string(),
            title: "t <&>".to_string(),
            level: 1,
            references: vec![Reference {
                benchmark: "b".to_string(),
                section: "1.1".to_string(),
            }],
            status,
            message: "m \"q\"\u{1}".to_string(),
            evidence: vec!["e".to_string()],
            fixable: true,
            remediation: "r".to_string(),
        };
        Report::new(
            "/r".to_string(),
            false,
            "level1".to_string(),
            vec![
                f("a", Status::Pass),
                f("b", Status::Fail),
                f("c", Status::Warn),
                f("d", Status::Error),
                f("e", Status::NotApplicable),
            ],
        )
    }

    #[test]
    fn summary_counts() {
        let r = sample();
        assert_eq!(r.summary.pass, 1);
        assert_eq!(r.summary.fail, 1);
        assert_eq!(r.summary.fixable, 1);
        assert!(r.has_findings());
    }

    #[test]
    fn junit_is_escaped() {
        let x = render_junit(&sample());
        assert!(x.contains("t &lt;&amp;&gt;"));
        assert!(x.contains("&quot;q&quot;"));
        assert!(!x.contains('\u{1}'));
        assert!(x.contains("<failure"));
        assert!(x.contains("<skipped"));
        assert!(x.contains("<error"));
    }

    #[test]
    fn sarif_has_results_for_findings_only() {
        let v: serde_json::Value = serde_json::from_str(&render_sarif(&sample()).unwrap()).unwrap();
        assert_eq!(v["version"], "2.1.0");
        assert_eq!(v["runs"][0]["results"].as_array().unwrap().len(), 3);
        assert_eq!(
            v["runs"][0]["tool"]["driver"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
    }

    #[test]
    fn json_round_trips() {
        let r = sample();
        let back: Report = serde_json::from_str(&render_json(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert!(render_json(&r).unwrap().contains("\"NOT_APPLICABLE\""));
    }

    #[test]
    fn table_lists_everything() {
        let t = render_table(&sample());
        assert_eq!(t.lines().count(), 1 + 5 + 2);
    }
}
