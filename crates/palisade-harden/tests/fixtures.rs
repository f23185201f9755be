//! Pass and fail fixture roots for every check, fix → scan, rollback.

mod common;

use std::collections::BTreeMap;

use common::*;
use palisade_harden::{FixOptions, Report, Status, catalogue, fix, rollback, scan};

fn statuses(r: &Report) -> BTreeMap<String, Status> {
    r.findings
        .iter()
        .map(|f| (f.id.clone(), f.status))
        .collect()
}

fn show(r: &Report, ids: &[&String]) -> String {
    r.findings
        .iter()
        .filter(|f| ids.contains(&&f.id))
        .map(|f| format!("{} {:?}: {} {:?}\n", f.id, f.status, f.message, f.evidence))
        .collect()
}

/// Checks whose verdict depends on ownership by other uids (root only).
const NEEDS_ROOT: &[&str] = &["unowned-files", "k8s-1.1.12"];

#[test]
fn compliant_host_passes_every_host_check() {
    let f = compliant_host();
    let r = scan(f.root(), "level2").unwrap();
    let bad: Vec<&String> = r
        .findings
        .iter()
        .filter(|x| !x.id.starts_with("k8s-") && x.status != Status::Pass)
        .map(|x| &x.id)
        .collect();
    assert!(bad.is_empty(), "{}", show(&r, &bad));
    // Kubernetes checks do not apply without Kubernetes files.
    assert!(
        r.findings
            .iter()
            .filter(|x| x.id.starts_with("k8s-"))
            .all(|x| x.status == Status::NotApplicable)
    );
}

/// Mount-option checks: not applicable without a separate mount, so they
/// fail only on [`bare_mounts_host`].
fn is_mount_option(id: &str) -> bool {
    id.starts_with("mount-")
        && ["-nodev", "-nosuid", "-noexec"]
            .iter()
            .any(|o| id.ends_with(o))
}

/// The noncompliant host with separate mounts that lack every option.
fn bare_mounts_host() -> Fixture {
    let f = noncompliant_host();
    f.write("/etc/fstab", FSTAB_BARE, 0o644);
    f
}

#[test]
fn mount_options_fail_on_bare_mounts_and_pass_when_set() {
    let r = scan(bare_mounts_host().root(), "level2").unwrap();
    let opts: Vec<&palisade_harden::Finding> = r
        .findings
        .iter()
        .filter(|x| is_mount_option(&x.id))
        .collect();
    assert_eq!(opts.len(), 19);
    let bad: Vec<&String> = opts
        .iter()
        .filter(|x| x.status != Status::Fail)
        .map(|x| &x.id)
        .collect();
    assert!(bad.is_empty(), "{}", show(&r, &bad));
    // Separate mounts pass there, even without options.
    let st = statuses(&r);
    assert_eq!(st["mount-var-log-audit"], Status::Pass);
    // systemd's tmp.mount counts for /tmp, with the unit's options.
    let f = noncompliant_host();
    f.write(
        "/lib/systemd/system/tmp.mount",
        "[Mount]\nWhat=tmpfs\nWhere=/tmp\nOptions=mode=1777,strictatime,nosuid,nodev,size=50%%\n",
        0o644,
    )
    .link(
        "/lib/systemd/system/tmp.mount",
        "/etc/systemd/system/local-fs.target.wants/tmp.mount",
    );
    let st = statuses(&scan(f.root(), "level1").unwrap());
    assert_eq!(st["mount-tmp"], Status::Pass);
    assert_eq!(st["mount-tmp-nodev"], Status::Pass);
    assert_eq!(st["mount-tmp-noexec"], Status::Fail);
}

#[test]
fn noncompliant_host_fails_every_host_check() {
    let f = noncompliant_host();
    let r = scan(f.root(), "level2").unwrap();
    let st = statuses(&r);
    assert!(
        st.iter()
            .filter(|(id, _)| is_mount_option(id))
            .all(|(_, s)| *s == Status::NotApplicable)
    );
    let bad: Vec<&String> = r
        .findings
        .iter()
        .filter(|x| !x.id.starts_with("k8s-") && x.status != Status::Fail)
        .filter(|x| !is_mount_option(&x.id))
        .filter(|x| is_root() || !NEEDS_ROOT.contains(&x.id.as_str()))
        .map(|x| &x.id)
        .collect();
    assert!(bad.is_empty(), "{}", show(&r, &bad));
    assert!(r.has_findings());
}

#[test]
fn kubernetes_checks_pass_and_fail() {
    let good = k8s_node(true);
    let r = scan(good.root(), "k8s-node").unwrap();
    let bad: Vec<&String> = r
        .findings
        .iter()
        .filter(|x| x.id.starts_with("k8s-") && x.status != Status::Pass)
        .filter(|x| is_root() || !NEEDS_ROOT.contains(&x.id.as_str()))
        .map(|x| &x.id)
        .collect();
    assert!(bad.is_empty(), "{}", show(&r, &bad));

    let badroot = k8s_node(false);
    let r = scan(badroot.root(), "k8s-node").unwrap();
    let st = statuses(&r);
    // Ownership checks fail only where the tests could chown (as root).
    let ownership = [
        "k8s-1.1.2",
        "k8s-1.1.4",
        "k8s-1.1.6",
        "k8s-1.1.8",
        "k8s-1.1.14",
        "k8s-1.1.16",
        "k8s-1.1.18",
        "k8s-1.1.19",
        "k8s-4.1.2",
        "k8s-4.1.6",
        "k8s-4.1.10",
    ];
    let unexpected: Vec<&String> = st
        .iter()
        .filter(|(id, _)| id.starts_with("k8s-"))
        .filter(|(id, s)| {
            if ownership.contains(&id.as_str()) && !is_root() {
                **s != Status::Pass
            } else {
                **s != Status::Fail && (is_root() || !NEEDS_ROOT.contains(&id.as_str()))
            }
        })
        .map(|(id, _)| id)
        .collect();
    assert!(unexpected.is_empty(), "{}", show(&r, &unexpected));
}

#[test]
fn every_catalogue_check_is_exercised_both_ways() {
    // The fixtures above cover each check id with a PASS and a FAIL case;
    // this guards against a new catalogue entry without fixtures.
    let good_host = scan(compliant_host().root(), "level2").unwrap();
    let bad_host = scan(noncompliant_host().root(), "level2").unwrap();
    let good_k8s = scan(k8s_node(true).root(), "level2").unwrap();
    let bad_k8s = scan(k8s_node(false).root(), "level2").unwrap();
    let bare = scan(bare_mounts_host().root(), "level2").unwrap();
    for c in catalogue::catalogue().unwrap() {
        let seen: Vec<Status> = [&good_host, &bad_host, &good_k8s, &bad_k8s, &bare]
            .iter()
            .filter_map(|r| r.findings.iter().find(|f| f.id == c.id).map(|f| f.status))
            .collect();
        if !is_root() && NEEDS_ROOT.contains(&c.id.as_str()) {
            continue;
        }
        assert!(
            seen.contains(&Status::Pass),
            "{} never passes: {seen:?}",
            c.id
        );
        // Ownership checks of Kubernetes files fail only with files owned
        // by another uid: covered when running as root.
        let ownership_only = matches!(c.eval, catalogue::Eval::KubeFile { mode: 0o7777, .. });
        assert!(
            seen.contains(&Status::Fail) || (ownership_only && !is_root()),
            "{} never fails: {seen:?}",
            c.id
        );
    }
}

#[test]
fn fix_then_scan_leaves_no_fixable_finding_and_rollback_restores() {
    let f = noncompliant_host();
    let before = f.snapshot();
    let j = fix(
        f.root(),
        &FixOptions {
            profile: "level2".into(),
            dry_run: false,
        },
    )
    .unwrap();
    assert!(!j.changes.is_empty());
    let r = scan(f.root(), "level2").unwrap();
    let fixable: Vec<&String> = r
        .findings
        .iter()
        .filter(|x| x.status == Status::Fail && x.fixable)
        .map(|x| &x.id)
        .collect();
    assert!(fixable.is_empty(), "{}", show(&r, &fixable));
    let st = statuses(&r);
    for id in [
        "ssh-permit-root-login",
        "ssh-ciphers",
        "ssh-kex",
        "ssh-max-auth-tries",
        "ssh-use-pam",
        "sysctl-ip-forward",
        "sysctl-syncookies",
        "sysctl-rp-filter",
        "module-udf",
        "module-hfs",
        "perm-shadow",
        "perm-crontab",
        "perm-cron-d",
        "perm-grub-cfg",
        "ssh-private-host-keys",
    ] {
        assert_eq!(
            st[id],
            Status::Pass,
            "{id}: {}",
            show(&r, &[&id.to_string()])
        );
    }
    // The main file did not start with the Include: one was added on top.
    let main = std::fs::read_to_string(f.host("/etc/ssh/sshd_config")).unwrap();
    assert!(
        main.lines()
            .any(|l| l == "Include /etc/ssh/sshd_config.d/*.conf")
    );
    assert!(main.find("Include").unwrap() < main.find("PermitRootLogin").unwrap());
    // /etc/sysctl.conf's conflicting lines were commented out.
    let sc = std::fs::read_to_string(f.host("/etc/sysctl.conf")).unwrap();
    assert!(sc.contains("# palisade-harden: net.ipv4.tcp_syncookies = 0"));

    // Idempotent: a second fix changes nothing.
    let again = fix(
        f.root(),
        &FixOptions {
            profile: "level2".into(),
            dry_run: false,
        },
    )
    .unwrap();
    assert_eq!(again.changes.len(), j.changes.len(), "{:?}", again.changes);
    let mid = f.snapshot();

    // Dry run writes nothing.
    let dry = fix(
        f.root(),
        &FixOptions {
            profile: "level2".into(),
            dry_run: true,
        },
    )
    .unwrap();
    assert!(dry.dry_run);
    assert_eq!(f.snapshot(), mid);

    rollback(f.root()).unwrap();
    assert_eq!(
        f.snapshot(),
        before,
        "rollback must restore byte-identical files and modes"
    );
    assert!(rollback(f.root()).is_err(), "no journal left");
}

#[test]
fn dry_run_on_a_fresh_root_writes_nothing() {
    let f = noncompliant_host();
    let before = f.snapshot();
    let j = fix(
        f.root(),
        &FixOptions {
            profile: "level1".into(),
            dry_run: true,
        },
    )
    .unwrap();
    assert!(!j.changes.is_empty());
    assert_eq!(f.snapshot(), before);
}

#[test]
fn never_locks_out_root_only_key_holder() {
    let f = noncompliant_host();
    f.write(
        "/root/.ssh/authorized_keys",
        "ssh-ed25519 AAAA root@x\n",
        0o600,
    );
    fix(f.root(), &FixOptions::default()).unwrap();
    let drop = std::fs::read_to_string(f.host("/etc/ssh/sshd_config.d/00-palisade-hardening.conf"))
        .unwrap();
    assert!(drop.contains("PermitRootLogin prohibit-password"), "{drop}");
    assert!(!drop.contains("AllowUsers") && !drop.contains("PasswordAuthentication"));
    let r = scan(f.root(), "level1").unwrap();
    let prl = r
        .findings
        .iter()
        .find(|x| x.id == "ssh-permit-root-login")
        .unwrap();
    assert_eq!(prl.status, Status::Fail);
    assert!(!prl.fixable, "left for a human: {prl:?}");

    // Once another admin has keys, `no` is safe.
    f.write(
        "/home/admin/.ssh/authorized_keys",
        "ssh-ed25519 AAAA admin@x\n",
        0o600,
    );
    let r = scan(f.root(), "level1").unwrap();
    assert!(
        r.findings
            .iter()
            .find(|x| x.id == "ssh-permit-root-login")
            .unwrap()
            .fixable
    );
}

#[test]
fn k8s_node_profile_keeps_forwarding_and_fix_spares_a_node() {
    let f = k8s_node(true);
    f.write(
        "/etc/sysctl.d/99-k8s.conf",
        "net.ipv4.ip_forward = 1\n",
        0o644,
    );
    let r = scan(f.root(), "k8s-node").unwrap();
    assert!(
        r.findings
            .iter()
            .all(|x| x.id != "sysctl-ip-forward" && x.id != "module-overlay")
    );
    let j = fix(
        f.root(),
        &FixOptions {
            profile: "level1".into(),
            dry_run: false,
        },
    )
    .unwrap();
    assert!(
        j.manual.iter().any(|m| m.starts_with("sysctl-ip-forward")),
        "{:?}",
        j.manual
    );
    let text = std::fs::read_to_string(f.host("/etc/sysctl.d/99-k8s.conf")).unwrap();
    assert_eq!(text, "net.ipv4.ip_forward = 1\n");
}

#[test]
fn malformed_and_unreadable_inputs_are_findings() {
    let f = k8s_node(true);
    f.write(
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "spec: [unclosed\n  - x: {",
        0o600,
    );
    f.write("/var/lib/kubelet/config.yaml", "authentication: [\n", 0o600);
    f.dir("/etc/ssh/sshd_config", 0o755);
    f.write(
        "/var/lib/dpkg/status",
        &dpkg_entry("openssh-server", "1"),
        0o644,
    );
    let r = scan(f.root(), "level1").unwrap();
    let st = statuses(&r);
    assert_eq!(st["k8s-1.2.6"], Status::Error);
    assert_eq!(st["k8s-4.2.1"], Status::Error);
    assert_eq!(st["ssh-permit-root-login"], Status::Error);
    let msg = &r
        .findings
        .iter()
        .find(|x| x.id == "k8s-1.2.6")
        .unwrap()
        .message;
    assert!(msg.contains("invalid YAML"), "{msg}");
}

#[test]
fn missing_dpkg_database_is_an_error_not_a_pass() {
    let f = Fixture::new();
    base(&f);
    let r = scan(f.root(), "level1").unwrap();
    let st = statuses(&r);
    assert_eq!(st["service-avahi"], Status::Error);
    assert_eq!(st["ssh-permit-root-login"], Status::NotApplicable);
}

#[test]
fn symlinks_never_leave_the_root() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.conf");
    std::fs::write(&victim, "untouched\n").unwrap();
    let f = noncompliant_host();
    // The drop-in path is a link to a host file: fix must refuse, not write there.
    f.link(
        victim.to_str().unwrap(),
        "/etc/sysctl.d/60-palisade-hardening.conf",
    );
    let _ = fix(f.root(), &FixOptions::default());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");
    // An absolute link is resolved inside the root when reading.
    f.link("/etc/ssh/sshd_config.real", "/etc/ssh/sshd_config");
    f.write("/etc/ssh/sshd_config.real", "PermitRootLogin no\n", 0o600);
    let r = scan(f.root(), "level1").unwrap();
    assert_eq!(statuses(&r)["ssh-permit-root-login"], Status::Pass);
}

#[test]
fn symlinked_config_files_are_edited_at_their_in_root_target() {
    let f = noncompliant_host();
    // sysctl.conf as a link (as on newer Debian), sshd_config as an absolute link.
    let sc = std::fs::read_to_string(f.host("/etc/sysctl.conf")).unwrap();
    f.write("/etc/sysctl.d/99-sysctl.conf", &sc, 0o644);
    std::fs::remove_file(f.host("/etc/sysctl.conf")).unwrap();
    f.link("sysctl.d/99-sysctl.conf", "/etc/sysctl.conf");
    let main = std::fs::read_to_string(f.host("/etc/ssh/sshd_config")).unwrap();
    f.write("/etc/ssh/real/sshd_config", &main, 0o600);
    f.link("/etc/ssh/real/sshd_config", "/etc/ssh/sshd_config");
    let before = f.snapshot();
    fix(f.root(), &FixOptions::default()).unwrap();
    let r = scan(f.root(), "level1").unwrap();
    assert!(
        r.findings
            .iter()
            .all(|x| !(x.status == Status::Fail && x.fixable))
    );
    // Links are still links; their targets were edited.
    assert!(
        std::fs::symlink_metadata(f.host("/etc/sysctl.conf"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(f.host("/etc/ssh/real/sshd_config"))
            .unwrap()
            .starts_with("# Added by palisade")
    );
    rollback(f.root()).unwrap();
    assert_eq!(f.snapshot(), before);
}

#[test]
fn json_output_is_stable() {
    let r = scan(compliant_host().root(), "level1").unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&palisade_harden::report::render_json(&r).unwrap()).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["tool"], "palisade-harden");
    for key in ["root", "live", "profile", "summary", "findings"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    let f0 = &v["findings"][0];
    for key in [
        "id",
        "title",
        "level",
        "references",
        "status",
        "message",
        "evidence",
        "fixable",
        "remediation",
    ] {
        assert!(f0.get(key).is_some(), "{key}");
    }
}

fn run_cli(
    cmd: palisade_harden::cli::HardenCommand,
    progress: bool,
) -> (std::process::ExitCode, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = palisade_harden::cli::run_with(cmd, &mut out, &mut err, progress);
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[test]
fn cli_exit_codes_and_outputs() {
    use palisade_harden::cli::{HardenCommand, Output};
    use std::process::ExitCode;
    let good = compliant_host();
    let (code, out, err) = run_cli(
        HardenCommand::Scan {
            root: good.root().to_path_buf(),
            profile: "level2".into(),
            output: Output::Json,
        },
        false,
    );
    if is_root() {
        assert_eq!(code, ExitCode::from(0), "{out}");
    }
    assert!(err.is_empty(), "no progress without a terminal: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["profile"], "level2");

    let bad = noncompliant_host();
    let (code, out, err) = run_cli(
        HardenCommand::Scan {
            root: bad.root().to_path_buf(),
            profile: "level1".into(),
            output: Output::Sarif,
        },
        true,
    );
    assert_eq!(code, ExitCode::from(1));
    assert!(err.contains("[0/"), "progress when asked: {err:?}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "2.1.0");

    let (code, out, _) = run_cli(
        HardenCommand::Scan {
            root: bad.root().to_path_buf(),
            profile: "level1".into(),
            output: Output::Junit,
        },
        false,
    );
    assert_eq!(code, ExitCode::from(1));
    assert!(out.starts_with("<?xml") && out.contains("<failure"));
    let (_, out, _) = run_cli(
        HardenCommand::Scan {
            root: bad.root().to_path_buf(),
            profile: "level1".into(),
            output: Output::Table,
        },
        false,
    );
    assert!(out.contains("FAIL   ssh-permit-root-login"), "{out}");

    let (code, _, err) = run_cli(
        HardenCommand::Scan {
            root: "/nonexistent/root".into(),
            profile: "level1".into(),
            output: Output::Table,
        },
        false,
    );
    assert_eq!(code, ExitCode::from(2));
    assert!(err.contains("palisade harden:"));
    let (code, _, err) = run_cli(
        HardenCommand::Scan {
            root: good.root().to_path_buf(),
            profile: "nope".into(),
            output: Output::Json,
        },
        false,
    );
    assert_eq!(code, ExitCode::from(2));
    assert!(err.contains("unknown profile"));

    let (code, out, _) = run_cli(
        HardenCommand::Checks {
            output: Output::Json,
        },
        false,
    );
    assert_eq!(code, ExitCode::from(0));
    assert!(
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
            > 150
    );
    let (code, out, _) = run_cli(
        HardenCommand::Checks {
            output: Output::Table,
        },
        false,
    );
    assert_eq!(code, ExitCode::from(0));
    assert!(out.contains("rationale:") && out.contains("CIS Kubernetes Benchmark v1.12 1.2.6"));
    let n = catalogue::catalogue().unwrap().len();
    let (code, out, _) = run_cli(
        HardenCommand::Checks {
            output: Output::Sarif,
        },
        false,
    );
    assert_eq!(code, ExitCode::from(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert_eq!(
        v["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        n
    );
    let (code, out, _) = run_cli(
        HardenCommand::Checks {
            output: Output::Junit,
        },
        false,
    );
    assert_eq!(code, ExitCode::from(0));
    assert!(out.starts_with("<?xml"));
    assert_eq!(out.matches("<skipped ").count(), n);

    let (code, out, _) = run_cli(
        HardenCommand::Fix {
            root: bad.root().to_path_buf(),
            profile: "level1".into(),
            dry_run: true,
        },
        false,
    );
    assert_eq!(code, ExitCode::from(0));
    assert!(
        out.contains("would change:") && out.contains("manual: firewall"),
        "{out}"
    );
    let (code, out, _) = run_cli(
        HardenCommand::Fix {
            root: bad.root().to_path_buf(),
            profile: "level1".into(),
            dry_run: false,
        },
        false,
    );
    assert_eq!(code, ExitCode::from(0));
    assert!(out.contains("changed:"));
    let (code, out, _) = run_cli(
        HardenCommand::Rollback {
            root: bad.root().to_path_buf(),
        },
        false,
    );
    assert_eq!(code, ExitCode::from(0));
    assert!(out.starts_with("restored "));
    let (code, _, err) = run_cli(
        HardenCommand::Rollback {
            root: good.root().to_path_buf(),
        },
        false,
    );
    assert_eq!(code, ExitCode::from(2));
    assert!(err.contains("journal"));
}

/// A compliant host with every newly fixable item broken.
// Fixture support: a broken fixture should fail loudly.
#[allow(clippy::unwrap_used)]
fn fixable_host() -> Fixture {
    let f = compliant_host();
    std::fs::remove_file(f.host("/etc/sudoers.d/logging")).unwrap();
    std::fs::remove_file(f.host("/etc/motd")).unwrap();
    f.write(
        "/etc/sudoers",
        "Defaults env_reset\n@includedir /etc/sudoers.d\n",
        0o440,
    )
    .write(
        "/etc/apt/apt.conf.d/20auto-upgrades",
        "// site\nAPT::Periodic::Update-Package-Lists \"1\";\n",
        0o644,
    )
    .write("/etc/issue", "\\S\nKernel \\r on an \\m\n", 0o644)
    .write("/etc/issue.net", "Debian GNU/Linux 12\n", 0o644)
    .write(
        "/etc/security/pwquality.conf.d/50-site.conf",
        "minlen = 14\n",
        0o644,
    )
    .write(
        "/etc/security/pwquality.conf.d/90-late.conf",
        "# late\nminlen = 8\n",
        0o644,
    )
    .write(
        "/etc/security/faillock.conf",
        "# faillock\ndeny = 0\n",
        0o644,
    )
    .write(
        "/etc/login.defs",
        "PASS_MAX_DAYS\t99999\nPASS_MIN_DAYS\t0\n#PASS_WARN_AGE 7\nENCRYPT_METHOD SHA512\n",
        0o644,
    )
    .write(
        "/etc/systemd/journald.conf",
        "[Journal]\nStorage=volatile\n",
        0o644,
    )
    .write(
        "/etc/systemd/journald.conf.d/50-site.conf",
        "[Journal]\n",
        0o644,
    )
    .write(
        "/etc/systemd/journald.conf.d/90-late.conf",
        "[Journal]\nCompress=no\n",
        0o644,
    );
    f
}

const NEW_FIXES: &[&str] = &[
    "sudo-use-pty",
    "sudo-logfile",
    "auto-security-updates",
    "banner-issue",
    "banner-issue-net",
    "pwquality-minlen",
    "pwquality-minclass",
    "faillock-deny",
    "faillock-unlock-time",
    "login-defs-pass-max-days",
    "login-defs-pass-min-days",
    "login-defs-pass-warn-age",
    "journald-storage",
    "journald-compress",
];

#[test]
fn new_remediations_fix_rescan_and_roll_back_byte_for_byte() {
    let f = fixable_host();
    let before = f.snapshot();
    let r = scan(f.root(), "level2").unwrap();
    let st = statuses(&r);
    for id in NEW_FIXES {
        assert_eq!(
            st[*id],
            Status::Fail,
            "{id}: {}",
            show(&r, &[&id.to_string()])
        );
        assert!(
            r.findings.iter().any(|x| x.id == *id && x.fixable),
            "{id} not fixable"
        );
    }
    let sudoers = std::fs::read(f.host("/etc/sudoers")).unwrap();
    let opts = FixOptions {
        profile: "level2".into(),
        dry_run: false,
    };
    let j = fix(f.root(), &opts).unwrap();
    let r = scan(f.root(), "level2").unwrap();
    let left: Vec<&String> = r
        .findings
        .iter()
        .filter(|x| x.status != Status::Pass && !x.id.starts_with("k8s-"))
        .map(|x| &x.id)
        .collect();
    assert!(left.is_empty(), "{}", show(&r, &left));
    // /etc/sudoers itself is untouched; the drop-in is 0440 and parses.
    assert_eq!(std::fs::read(f.host("/etc/sudoers")).unwrap(), sudoers);
    let drop = f.host("/etc/sudoers.d/60-palisade-hardening");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&drop).unwrap().permissions().mode() & 0o7777,
        0o440
    );
    let text = std::fs::read_to_string(&drop).unwrap();
    assert!(text.contains("Defaults use_pty\n"), "{text}");
    assert!(
        text.contains("Defaults logfile=\"/var/log/sudo.log\"\n"),
        "{text}"
    );
    // The later pwquality and journald files were overridden in place.
    let late =
        std::fs::read_to_string(f.host("/etc/security/pwquality.conf.d/90-late.conf")).unwrap();
    assert_eq!(late, "# late\nminlen = 14\n");
    let jd =
        std::fs::read_to_string(f.host("/etc/systemd/journald.conf.d/60-palisade.conf")).unwrap();
    assert!(
        jd.contains("[Journal]\n") && jd.contains("Storage = persistent\n"),
        "{jd}"
    );
    let apt = std::fs::read_to_string(f.host("/etc/apt/apt.conf.d/20auto-upgrades")).unwrap();
    assert!(
        apt.starts_with("// site\n") && apt.contains("APT::Periodic::Unattended-Upgrade \"1\";\n"),
        "{apt}"
    );

    // Idempotent: a second run changes nothing more.
    let mid = f.snapshot();
    let again = fix(f.root(), &opts).unwrap();
    assert_eq!(again.changes.len(), j.changes.len(), "{:?}", again.changes);
    assert_eq!(f.snapshot(), mid);

    rollback(f.root()).unwrap();
    assert_eq!(
        f.snapshot(),
        before,
        "rollback must restore byte-identical files and modes"
    );
}

#[test]
fn sudo_defaults_stay_manual_without_the_dropin_directory() {
    let f = fixable_host();
    f.write("/etc/sudoers", "Defaults env_reset\n", 0o440);
    let r = scan(f.root(), "level1").unwrap();
    for id in ["sudo-use-pty", "sudo-logfile"] {
        let x = r.findings.iter().find(|x| x.id == id).unwrap();
        assert_eq!(x.status, Status::Fail);
        assert!(!x.fixable, "{id} must stay manual");
    }
    let j = fix(
        f.root(),
        &FixOptions {
            profile: "level1".into(),
            dry_run: false,
        },
    )
    .unwrap();
    assert!(j.manual.iter().any(|m| m == "sudo-use-pty"));
    assert!(!f.host("/etc/sudoers.d/60-palisade-hardening").exists());
}

#[test]
fn auto_upgrades_are_not_configured_without_the_package() {
    let f = fixable_host();
    let st = std::fs::read_to_string(f.host("/var/lib/dpkg/status")).unwrap();
    let st = st.replace(
        "Package: unattended-upgrades\n",
        "Package: unattended-upgrades-not\n",
    );
    f.write("/var/lib/dpkg/status", &st, 0o644);
    let before = std::fs::read(f.host("/etc/apt/apt.conf.d/20auto-upgrades")).unwrap();
    fix(
        f.root(),
        &FixOptions {
            profile: "level1".into(),
            dry_run: false,
        },
    )
    .unwrap();
    assert_eq!(
        std::fs::read(f.host("/etc/apt/apt.conf.d/20auto-upgrades")).unwrap(),
        before
    );
}
