#!/usr/bin/env python3
"""Counts and verdict comparison for bench/harden/compare.sh.

  verdicts.py ours-counts OURS.json
  verdicts.py oscap-counts OSCAP-RESULTS.xml
  verdicts.py diff OURS.json OSCAP-RESULTS.xml
  verdicts.py categories OURS.json OSCAP-RESULTS.xml LYNIS.log

`diff` maps OpenSCAP (ComplianceAsCode, CIS Ubuntu 22.04 L1 server) rule ids
to palisade-harden check ids and prints every pair whose verdicts differ.
A palisade check covering several OpenSCAP rules is compared with each.
"""
import collections
import json
import re
import sys

# OpenSCAP rule id (without the xccdf_org.ssgproject.content_rule_ prefix)
# -> palisade-harden check id.
MAP = {
    "package_aide_installed": "aide-installed",
    "package_sudo_installed": "sudo-installed",
    "sudo_add_use_pty": "sudo-use-pty",
    "sudo_custom_logfile": "sudo-logfile",
    "file_owner_grub2_cfg": "perm-grub-cfg",
    "file_permissions_grub2_cfg": "perm-grub-cfg",
    "package_iptables_installed": "firewall",
    "dir_perms_world_writable_sticky_bits": "world-writable",
    "file_permissions_unauthorized_world_writable": "world-writable",
    "no_files_unowned_by_user": "unowned-files",
    "service_autofs_disabled": "service-autofs",
    "service_avahi-daemon_disabled": "service-avahi",
    "service_cron_enabled": "cron-enabled",
    "package_nis_removed": "client-nis-client",
    "package_dhcp_removed": "service-dhcp-server",
    "package_bind_removed": "service-dns-server",
    "package_vsftpd_removed": "service-ftp-server",
    "package_httpd_removed": "service-web-server",
    "package_dovecot_removed": "service-mail-access",
    "package_openldap-clients_removed": "client-ldap-client",
    "package_openldap-servers_removed": "service-ldap-server",
    "package_chrony_installed": "time-sync",
    "service_chronyd_or_ntpd_enabled": "time-sync",
    "package_xinetd_removed": "service-xinetd",
    "package_rsh_removed": "client-rsh-client",
    "package_talk_removed": "client-talk-client",
    "package_telnet_removed": "client-telnet-client",
    "service_cups_disabled": "service-print-server",
    "package_squid_removed": "service-web-proxy",
    "package_samba_removed": "service-samba",
    "package_net-snmp_removed": "service-snmp",
    "package_xorg-x11-server-common_removed": "gui-x-server",
    "package_gdm_removed": "gui-display-manager",
    "file_owner_sshd_config": "ssh-config-perms",
    "file_groupowner_sshd_config": "ssh-config-perms",
    "file_permissions_sshd_config": "ssh-config-perms",
    "file_permissions_sshd_private_key": "ssh-private-host-keys",
    "file_permissions_sshd_pub_key": "ssh-public-host-keys",
    "sshd_set_keepalive": "ssh-client-alive-count-max",
    "sshd_set_idle_timeout": "ssh-client-alive-interval",
    "disable_host_auth": "ssh-hostbased",
    "sshd_disable_empty_passwords": "ssh-permit-empty-passwords",
    "sshd_disable_rhosts": "ssh-ignore-rhosts",
    "sshd_disable_root_login": "ssh-permit-root-login",
    "sshd_do_not_permit_user_env": "ssh-permit-user-environment",
    "sshd_set_loglevel_info": "ssh-log-level",
    "sshd_set_max_auth_tries": "ssh-max-auth-tries",
    "sshd_set_max_sessions": "ssh-max-sessions",
    "sshd_use_approved_ciphers": "ssh-ciphers",
    "sshd_use_approved_macs": "ssh-macs",
    "sysctl_fs_suid_dumpable": "sysctl-suid-dumpable",
    "sysctl_kernel_randomize_va_space": "sysctl-aslr",
    "sysctl_net_ipv4_ip_forward": "sysctl-ip-forward",
    "sysctl_net_ipv6_conf_all_forwarding": "sysctl-ip-forward",
    "sysctl_net_ipv4_tcp_syncookies": "sysctl-syncookies",
    "sysctl_net_ipv4_icmp_echo_ignore_broadcasts": "sysctl-icmp-broadcast",
    "sysctl_net_ipv4_icmp_ignore_bogus_error_responses": "sysctl-icmp-bogus",
    "file_permissions_crontab": "perm-crontab",
    "file_owner_crontab": "perm-crontab",
    "file_groupowner_crontab": "perm-crontab",
    "file_permissions_at_allow": "perm-at-allow",
    "file_permissions_cron_allow": "perm-cron-allow",
}
for kind in ["accept_ra", "accept_redirects", "accept_source_route"]:
    for scope in ["all", "default"]:
        MAP[f"sysctl_net_ipv6_conf_{scope}_{kind}"] = {
            "accept_ra": "sysctl-accept-ra",
            "accept_redirects": "sysctl-accept-redirects",
            "accept_source_route": "sysctl-source-route",
        }[kind]
for kind, cid in [("accept_redirects", "sysctl-accept-redirects"), ("accept_source_route", "sysctl-source-route"),
                  ("log_martians", "sysctl-log-martians"), ("rp_filter", "sysctl-rp-filter"),
                  ("secure_redirects", "sysctl-secure-redirects"), ("send_redirects", "sysctl-send-redirects")]:
    for scope in ["all", "default"]:
        MAP[f"sysctl_net_ipv4_conf_{scope}_{kind}"] = cid
for m in ["cramfs", "freevxfs", "hfs", "hfsplus", "jffs2", "udf", "usb-storage", "squashfs"]:
    MAP[f"kernel_module_{m}_disabled"] = f"module-{m}"
for d in ["d", "daily", "hourly", "monthly", "weekly"]:
    for k in ["permissions", "owner", "groupowner"]:
        MAP[f"file_{k}_cron_{d}"] = f"perm-cron-{d}"
for f, cid in [("passwd", "perm-passwd"), ("group", "perm-group"), ("shadow", "perm-shadow"), ("gshadow", "perm-gshadow")]:
    for k in ["permissions", "owner", "groupowner"]:
        MAP[f"file_{k}_etc_{f}"] = cid
        MAP[f"file_{k}_backup_etc_{f}"] = cid + "-backup"

VERDICT = {"pass": "PASS", "fail": "FAIL", "notapplicable": "N/A", "notchecked": "NOTCHECKED",
           "unknown": "UNKNOWN", "error": "ERROR", "notselected": None}


def oscap_results(path):
    text = open(path).read()
    return {m.group(1): m.group(2) for m in re.finditer(
        r'<rule-result idref="xccdf_org\.ssgproject\.content_rule_([^"]+)"[^>]*>\s*<result>(\w+)</result>', text)}


CATEGORIES = ["security updates", "SSH parameters", "sysctl", "file permissions",
              "legacy services", "GUI packages", "CIS Kubernetes"]


def ours_category(cid):
    if cid in ("auto-security-updates", "security-updates-pending"):
        return "security updates"
    if cid.startswith("ssh-"):
        return "SSH parameters"
    if cid.startswith("sysctl-"):
        return "sysctl"
    if cid.startswith("perm-") or cid in ("world-writable", "unowned-files"):
        return "file permissions"
    if cid.startswith("service-") or cid.startswith("client-"):
        return "legacy services"
    if cid.startswith("gui-"):
        return "GUI packages"
    if cid.startswith("k8s-"):
        return "CIS Kubernetes"
    return None


def oscap_category(rule):
    if rule in ("security_patches_up_to_date",) or "unattended" in rule:
        return "security updates"
    if rule.startswith("sshd_") or rule == "disable_host_auth" or "sshd" in rule:
        return "SSH parameters"
    if rule.startswith("sysctl_"):
        return "sysctl"
    if rule.startswith(("file_permissions", "file_owner", "file_groupowner", "dir_perms")) or rule in (
            "no_files_unowned_by_user",):
        return "file permissions"
    if "xorg" in rule or "gdm" in rule:
        return "GUI packages"
    if rule.startswith("package_") and rule.endswith("_removed") or rule.startswith("service_") and rule.endswith("_disabled"):
        return "legacy services"
    return None


def lynis_category(test):
    prefix = test.split("-")[0]
    if test in ("PKGS-7392", "PKGS-7390"):
        return "security updates"
    if prefix == "SSH":
        return "SSH parameters"
    if test in ("KRNL-6000",):
        return "sysctl"
    if test in ("FILE-7524", "FILE-6362", "FILE-6363", "AUTH-9252", "BOOT-5184", "HOME-9304", "HOME-9306"):
        return "file permissions"
    if prefix in ("INSE", "PRNT", "SNMP", "SQD", "LDAP", "HTTP", "NAME", "MAIL"):
        return "legacy services"
    return None


def categories(ours_path, oscap_path, lynis_path):
    ours = json.load(open(ours_path))["findings"]
    oc = collections.Counter()
    oc_app = collections.Counter()
    for f in ours:
        c = ours_category(f["id"])
        if c:
            oc[c] += 1
            if f["status"] != "NOT_APPLICABLE":
                oc_app[c] += 1
    sc = collections.Counter()
    sc_eval = collections.Counter()
    for rule, res in oscap_results(oscap_path).items():
        if res == "notselected":
            continue
        c = oscap_category(rule)
        if c:
            sc[c] += 1
            if res in ("pass", "fail", "error"):
                sc_eval[c] += 1
    performed = set(re.findall(r"Performing test ID ([A-Z]+-[0-9]+)", open(lynis_path, errors="replace").read()))
    lc = collections.Counter(lynis_category(t) for t in performed)
    print("| category | palisade-harden (checks / applicable here) | OpenSCAP CIS L1 (rules selected / evaluated pass-fail) | Lynis (tests performed) |")
    print("|---|---|---|---|")
    for c in CATEGORIES:
        print(f"| {c} | {oc[c]} / {oc_app[c]} | {sc[c]} / {sc_eval[c]} | {lc[c]} |")
    print(f"| all checks | {len(ours)} / {sum(1 for f in ours if f['status'] != 'NOT_APPLICABLE')} | "
          f"{sum(1 for v in oscap_results(oscap_path).values() if v != 'notselected')} / "
          f"{sum(1 for v in oscap_results(oscap_path).values() if v in ('pass', 'fail', 'error'))} | {len(performed)} |")


def main():
    cmd = sys.argv[1]
    if cmd == "ours-counts":
        s = json.load(open(sys.argv[2]))["summary"]
        print("evaluated={} applicable={} pass={} fail={} warn={} error={} n/a={}".format(
            s["total"], s["total"] - s["not_applicable"], s["pass"], s["fail"], s["warn"], s["error"], s["not_applicable"]))
    elif cmd == "oscap-counts":
        c = collections.Counter(v for v in oscap_results(sys.argv[2]).values() if v != "notselected")
        evaluated = c["pass"] + c["fail"] + c["error"] + c["unknown"]
        print("selected={} evaluated={} ".format(sum(c.values()), evaluated) + " ".join(f"{k}={v}" for k, v in sorted(c.items())))
    elif cmd == "diff":
        ours = {f["id"]: f for f in json.load(open(sys.argv[2]))["findings"]}
        theirs = oscap_results(sys.argv[3])
        # Aggregate OpenSCAP's rules per palisade check: FAIL if any rule
        # fails, PASS if all pass, N/A if none applies, else the odd one out.
        per_check = collections.defaultdict(list)
        for rule, cid in sorted(MAP.items()):
            v = VERDICT.get(theirs.get(rule, "notselected"))
            if v is not None and cid in ours:
                per_check[cid].append((rule, v))
        same = 0
        rows = []
        for cid, pairs in sorted(per_check.items()):
            vs = [v for _, v in pairs]
            if "FAIL" in vs:
                o = "FAIL"
            elif all(v == "PASS" for v in vs):
                o = "PASS"
            elif all(v == "N/A" for v in vs):
                o = "N/A"
            else:
                o = next(v for v in vs if v not in ("PASS", "N/A"))
            p = ours[cid]["status"].replace("NOT_APPLICABLE", "N/A")
            if p == o:
                same += 1
            else:
                rules = ", ".join(f"{r}={v}" for r, v in pairs)
                rows.append(f"| {cid} | {p} | {o} | {rules} | {ours[cid]['message'][:80]} |")
        print(f"checks compared: {same + len(rows)} (covering {sum(len(p) for p in per_check.values())} OpenSCAP rules), "
              f"same verdict: {same}, different: {len(rows)}")
        print("| palisade check | ours | OpenSCAP | OpenSCAP rules | our message |")
        print("|---|---|---|---|---|")
        print("\n".join(rows))
    elif cmd == "categories":
        categories(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
