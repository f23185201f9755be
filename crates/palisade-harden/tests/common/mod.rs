//! Fixture root trees shared by the integration tests.
// Test-support code: panicking on a broken fixture is the right failure.
#![allow(
    dead_code,
    missing_docs,
    clippy::unwrap_used,
    clippy::new_without_default,
    clippy::type_complexity
)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn host(&self, p: &str) -> PathBuf {
        self.root().join(p.trim_start_matches('/'))
    }
    pub fn write(&self, p: &str, content: &str, mode: u32) -> &Self {
        let h = self.host(p);
        std::fs::create_dir_all(h.parent().unwrap()).unwrap();
        std::fs::write(&h, content).unwrap();
        std::fs::set_permissions(&h, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }
    pub fn dir(&self, p: &str, mode: u32) -> &Self {
        let h = self.host(p);
        std::fs::create_dir_all(&h).unwrap();
        std::fs::set_permissions(&h, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }
    pub fn link(&self, target: &str, p: &str) -> &Self {
        let h = self.host(p);
        std::fs::create_dir_all(h.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&h);
        symlink(target, h).unwrap();
        self
    }
    pub fn chmod(&self, p: &str, mode: u32) -> &Self {
        std::fs::set_permissions(self.host(p), std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }
    pub fn chown(&self, p: &str, uid: u32, gid: u32) {
        std::os::unix::fs::chown(self.host(p), Some(uid), Some(gid)).unwrap();
    }
    /// Every path under the root: (content or None for dirs, mode, uid, gid, link target).
    pub fn snapshot(&self) -> BTreeMap<String, (Option<Vec<u8>>, u32, u32, u32, Option<PathBuf>)> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.root().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                let m = std::fs::symlink_metadata(&p).unwrap();
                let rel = p
                    .strip_prefix(self.root())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let ft = m.file_type();
                let content = if ft.is_file() {
                    Some(std::fs::read(&p).unwrap())
                } else {
                    None
                };
                let link = if ft.is_symlink() {
                    Some(std::fs::read_link(&p).unwrap())
                } else {
                    None
                };
                out.insert(rel, (content, m.mode() & 0o7777, m.uid(), m.gid(), link));
                if ft.is_dir() {
                    stack.push(p);
                }
            }
        }
        out
    }
}

/// True when the tests run as root (chown to other ids possible).
pub fn is_root() -> bool {
    let d = tempfile::tempdir().unwrap();
    std::fs::metadata(d.path()).unwrap().uid() == 0
}

/// (uid, gid) new files get.
pub fn my_ids() -> (u32, u32) {
    let d = tempfile::tempdir().unwrap();
    let m = std::fs::metadata(d.path()).unwrap();
    (m.uid(), m.gid())
}

pub const PASSWD: &str = "root:x:{uid}:{gid}:root:/root:/bin/bash\n\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n\
etcd:x:4242:4242::/var/lib/etcd:/usr/sbin/nologin\n\
admin:x:1000:1000:admin:/home/admin:/bin/bash\n";
pub const GROUP: &str =
    "root:x:{gid}:\nshadow:x:42:\ncrontab:x:107:\nnogroup:x:65534:\netcd:x:4242:\nadmin:x:1000:\n";

pub fn dpkg_entry(name: &str, version: &str) -> String {
    format!(
        "Package: {name}\nStatus: install ok installed\nPriority: optional\nVersion: {version}\nDescription: test\n multi-line\n\n"
    )
}

/// The base every host fixture shares: account databases owned by "root".
pub fn base(f: &Fixture) {
    let (uid, gid) = my_ids();
    let sub = |s: &str| {
        s.replace("{uid}", &uid.to_string())
            .replace("{gid}", &gid.to_string())
    };
    f.write("/etc/passwd", &sub(PASSWD), 0o644)
        .write("/etc/group", &sub(GROUP), 0o644);
}

pub const GOOD_SSHD: &str = "Include /etc/ssh/sshd_config.d/*.conf\n\
PermitRootLogin no\nPermitEmptyPasswords no\nMaxAuthTries 4\nLoginGraceTime 60\n\
ClientAliveInterval 15\nClientAliveCountMax 3\nHostbasedAuthentication no\nIgnoreRhosts yes\n\
PermitUserEnvironment no\nUsePAM yes\nLogLevel VERBOSE\nMaxStartups 10:30:60\nMaxSessions 10\n\
Banner /etc/issue.net\nCiphers aes256-gcm@openssh.com,aes128-ctr\nMACs hmac-sha2-512-etm@openssh.com\n\
KexAlgorithms curve25519-sha256\nDisableForwarding yes\nGSSAPIAuthentication no\nAllowGroups admin\n\
Match User admin\n  PermitRootLogin yes\n";

pub const BAD_SSHD: &str = "# defaults mostly\nPermitRootLogin yes\nPermitEmptyPasswords yes\n\
MaxAuthTries 10\nHostbasedAuthentication yes\nIgnoreRhosts no\nPermitUserEnvironment yes\n\
LogLevel QUIET\nCiphers +3des-cbc\nKexAlgorithms +diffie-hellman-group1-sha1\nGSSAPIAuthentication yes\n\
MaxSessions 20\nClientAliveCountMax 0\nUsePAM no\n\
Include /etc/ssh/sshd_config.d/*.conf\n";

pub const SYSCTL_GOOD: &str = "net.ipv4.ip_forward = 0\nnet.ipv6.conf.all.forwarding = 0\n\
net.ipv4.conf.all.send_redirects = 0\nnet.ipv4.conf.default.send_redirects = 0\n\
net.ipv4.icmp_ignore_bogus_error_responses = 1\nnet.ipv4.icmp_echo_ignore_broadcasts = 1\n\
net.ipv4.conf.all.accept_redirects = 0\nnet.ipv4.conf.default.accept_redirects = 0\n\
net.ipv6.conf.all.accept_redirects = 0\nnet.ipv6.conf.default.accept_redirects = 0\n\
net.ipv4.conf.all.secure_redirects = 0\nnet.ipv4.conf.default.secure_redirects = 0\n\
net.ipv4.conf.all.rp_filter = 1\nnet.ipv4.conf.default.rp_filter = 1\n\
net.ipv4.conf.all.accept_source_route = 0\nnet.ipv4.conf.default.accept_source_route = 0\n\
net.ipv6.conf.all.accept_source_route = 0\nnet.ipv6.conf.default.accept_source_route = 0\n\
net.ipv4.conf.all.log_martians = 1\nnet.ipv4.conf.default.log_martians = 1\n\
net.ipv4.tcp_syncookies = 1\nnet.ipv6.conf.all.accept_ra = 0\nnet.ipv6.conf.default.accept_ra = 0\n\
kernel.randomize_va_space = 2\nkernel.yama.ptrace_scope = 1\nfs.suid_dumpable = 0\n";

pub const MODULES: &[&str] = &[
    "cramfs",
    "freevxfs",
    "hfs",
    "hfsplus",
    "jffs2",
    "overlay",
    "squashfs",
    "udf",
    "usb-storage",
];

/// A host root that passes every host check of the level2 profile.
pub fn compliant_host() -> Fixture {
    let f = Fixture::new();
    base(&f);
    f.write("/etc/shadow", "root:*:1::::::\n", 0o640)
        .write("/etc/shadow-", "root:*:1::::::\n", 0o600)
        .write("/etc/gshadow", "root:*::\n", 0o640)
        .write("/etc/gshadow-", "root:*::\n", 0o640)
        .write("/etc/passwd-", "root:x:0:0::/root:/bin/sh\n", 0o644)
        .write("/etc/group-", "root:x:0:\n", 0o644)
        .write("/etc/shells", "/bin/sh\n", 0o644)
        .write("/etc/security/opasswd", "", 0o600)
        .write("/etc/crontab", "# cron\n", 0o600)
        .write("/etc/cron.allow", "root\n", 0o640)
        .write("/etc/at.allow", "root\n", 0o640)
        .write("/boot/grub/grub.cfg", "menuentry\n", 0o400)
        .write("/etc/issue.net", "Authorised use only\n", 0o644)
        .write("/etc/ssh/sshd_config", GOOD_SSHD, 0o600)
        .write(
            "/etc/ssh/sshd_config.d/10-site.conf",
            "MaxAuthTries 3\n",
            0o600,
        )
        .write("/etc/ssh/ssh_host_ed25519_key", "KEY", 0o600)
        .write("/etc/ssh/ssh_host_ed25519_key.pub", "PUB", 0o644)
        .write("/etc/sysctl.d/60-site.conf", SYSCTL_GOOD, 0o644)
        .write(
            "/usr/lib/sysctl.d/50-vendor.conf",
            "net.ipv4.ip_forward = 1\n",
            0o644,
        );
    let mut mp = String::new();
    for m in MODULES {
        mp.push_str(&format!("install {m} /bin/false\nblacklist {m}\n"));
    }
    f.write("/etc/modprobe.d/site.conf", &mp, 0o644);
    for d in ["hourly", "daily", "weekly", "monthly", "d"] {
        f.dir(&format!("/etc/cron.{d}"), 0o700);
    }
    let mut status = String::new();
    for (p, v) in [
        ("openssh-server", "1:9.2p1-2+deb12u3"),
        ("cron", "3.0pl1-162"),
        ("sudo", "1.9.13p3-1+deb12u1"),
        ("chrony", "4.3-2+deb12u1"),
        ("nftables", "1.0.6-2+deb12u2"),
        ("apparmor", "3.0.8-3"),
        ("aide", "0.18.3-1+deb12u3"),
        ("unattended-upgrades", "2.9.1+nmu3"),
        ("auditd", "1:3.0.9-1"),
    ] {
        status.push_str(&dpkg_entry(p, v));
    }
    // A removed package must not count as installed.
    status.push_str("Package: telnet\nStatus: deinstall ok config-files\nVersion: 0.17\n\n");
    f.write("/var/lib/dpkg/status", &status, 0o644)
        .write(
            "/var/lib/apt/lists/deb.example_debian-security_dists_bookworm-security_main_binary-amd64_Packages",
            "Package: sudo\nVersion: 1.9.13p3-1+deb12u1\n\nPackage: openssh-server\nVersion: 1:9.2p1-2+deb12u3\n\n",
            0o644,
        )
        .write("/lib/systemd/system/cron.service", "[Unit]\n", 0o644)
        .write("/lib/systemd/system/nftables.service", "[Unit]\n", 0o644)
        .write("/lib/systemd/system/auditd.service", "[Unit]\n", 0o644)
        .link("/lib/systemd/system/auditd.service", "/etc/systemd/system/multi-user.target.wants/auditd.service")
        .link("/lib/systemd/system/cron.service", "/etc/systemd/system/multi-user.target.wants/cron.service")
        .link("/lib/systemd/system/nftables.service", "/etc/systemd/system/sysinit.target.wants/nftables.service")
        .write(
            "/etc/nftables.conf",
            "table inet filter {\n  chain input {\n    type filter hook input priority 0; policy drop;\n  }\n}\n",
            0o644,
        )
        .write("/etc/sudoers", "Defaults env_reset\nDefaults use_pty\n@includedir /etc/sudoers.d\n", 0o440)
        .write("/etc/sudoers.d/logging", "Defaults logfile=\"/var/log/sudo.log\"\n", 0o440)
        .write("/etc/sudoers.d/ignored.conf", "Defaults !use_pty\n", 0o440)
        .write("/etc/apt/apt.conf.d/20auto-upgrades", "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n", 0o644)
        .dir("/tmp", 0o1777);
    level2_breadth(&f, true);
    f
}

pub const FSTAB_GOOD: &str = "# <file system> <mount point> <type> <options> <dump> <pass>\n\
UUID=1 / ext4 errors=remount-ro 0 1\n\
tmpfs /tmp tmpfs defaults,nodev,nosuid,noexec 0 0\n\
tmpfs /dev/shm tmpfs defaults,nodev,nosuid,noexec 0 0\n\
UUID=2 /home ext4 defaults,nodev,nosuid 0 2\n\
UUID=3 /var ext4 defaults,nodev,nosuid 0 2\n\
UUID=4 /var/tmp ext4 defaults,nodev,nosuid,noexec 0 2\n\
UUID=5 /var/log ext4 defaults,nodev,nosuid,noexec 0 2\n\
UUID=6 /var/log/audit/ ext4 nodev,nosuid,noexec 0 2\n\
UUID=7 none swap sw 0 0\n";

/// Separate mounts without the options: every mount-option check fails.
pub const FSTAB_BARE: &str = "UUID=1 / ext4 errors=remount-ro 0 1\n\
tmpfs /tmp tmpfs defaults 0 0\ntmpfs /dev/shm tmpfs defaults 0 0\nUUID=2 /home ext4 defaults 0 2\n\
UUID=3 /var ext4 defaults 0 2\nUUID=4 /var/tmp ext4 defaults 0 2\nUUID=5 /var/log ext4 defaults 0 2\n\
UUID=6 /var/log/audit ext4 defaults 0 2\n";

pub const AUDIT_RULES_GOOD: &str = "-D\n-b 8192\n\
-w /etc/sudoers -p wa -k scope\n-w /etc/sudoers.d -p wa -k scope\n\
-a always,exit -F arch=b64 -S adjtimex,settimeofday -k time-change\n\
-a always,exit -F arch=b64 -S clock_settime -F a0=0x0 -k time-change\n\
-a always,exit -F arch=b32 -S adjtimex,settimeofday,clock_settime -k time-change\n\
-w /etc/localtime -p wa -k time-change\n\
-w /etc/group -p wa -k identity\n-w /etc/passwd -p wa -k identity\n-w /etc/gshadow -p wa -k identity\n\
-w /etc/shadow -p wa -k identity\n-w /etc/security/opasswd -p wa -k identity\n-w /etc/nsswitch.conf -p wa -k identity\n\
-w /etc/pam.conf -p wa -k identity\n-w /etc/pam.d -p wa -k identity\n\
-a always,exit -F arch=b64 -S chmod,fchmod,fchmodat -F auid>=1000 -F auid!=unset -k perm_mod\n\
-a always,exit -F arch=b64 -S chown,fchown,lchown,fchownat -F auid>=1000 -F auid!=unset -k perm_mod\n\
-a always,exit -F arch=b64 -S setxattr,lsetxattr,fsetxattr,removexattr,lremovexattr,fremovexattr -F auid>=1000 -k perm_mod\n\
-a always,exit -F arch=b32 -S chmod,fchmod,fchmodat,chown,fchown,lchown,fchownat -k perm_mod\n\
-a always,exit -F arch=b32 -S setxattr,lsetxattr,fsetxattr,removexattr,lremovexattr,fremovexattr -k perm_mod\n\
-w /var/run/utmp -p wa -k session\n-w /var/log/wtmp -p wa -k session\n-w /var/log/btmp -p wa -k session\n\
-w /var/log/lastlog -p wa -k logins\n-w /var/run/faillock -p wa -k logins\n\
-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -F auid>=1000 -F auid!=unset -k kernel_modules\n\
-a always,exit -F path=/usr/bin/kmod -F perm=x -F auid>=1000 -F auid!=unset -k kernel_modules\n-e 2\n";

/// The Level 1/2 breadth items (mounts, PAM, login.defs, audit, journald,
/// rsyslog, banners, AppArmor, GRUB), compliant or not.
pub fn level2_breadth(f: &Fixture, good: bool) {
    f.write(
        "/etc/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
        0o644,
    );
    if good {
        f.write("/etc/fstab", FSTAB_GOOD, 0o644)
            .write("/etc/pam.d/common-password",
                "password requisite pam_pwquality.so retry=3\npassword [success=1 default=ignore] pam_unix.so obscure use_authtok try_first_pass yescrypt\n", 0o644)
            .write("/etc/pam.d/common-auth",
                "auth required pam_faillock.so preauth\nauth [success=1 default=ignore] pam_unix.so nullok\nauth [default=die] pam_faillock.so authfail\n", 0o644)
            .write("/etc/security/pwquality.conf", "# minlen = 8\nminlen = 10\n", 0o644)
            .write("/etc/security/pwquality.conf.d/50-site.conf", "minlen = 14\nminclass = 4\n", 0o644)
            .write("/etc/security/faillock.conf", "# deny = 3\ndeny = 5\nunlock_time = 0\nsilent\n", 0o644)
            .write("/etc/login.defs", "MAIL_DIR /var/mail\nPASS_MAX_DAYS\t365\nPASS_MIN_DAYS\t1\nPASS_WARN_AGE\t7\nENCRYPT_METHOD SHA512\n", 0o644)
            .write("/etc/audit/rules.d/50-cis.rules", AUDIT_RULES_GOOD, 0o640)
            .write("/etc/audit/auditd.conf", "log_file = /var/log/audit/audit.log\nmax_log_file_action = keep_logs\nspace_left_action = email\nadmin_space_left_action = halt\n", 0o640)
            .write("/etc/systemd/journald.conf", "[Journal]\n#Storage=auto\n", 0o644)
            .write("/etc/systemd/journald.conf.d/50-site.conf", "[Journal]\nStorage=persistent\nCompress=yes\n", 0o644)
            .write("/etc/rsyslog.conf", "$FileOwner root\n$FileCreateMode 0640\n", 0o644)
            .write("/etc/issue", "Authorised use only.\n", 0o644)
            .write("/etc/motd", "Authorised use only.\n", 0o644)
            .write("/etc/apparmor.d/usr.sbin.chronyd", "#include <tunables/global>\n/usr/sbin/chronyd {\n  /etc/chrony/** r,\n}\n", 0o644)
            .write("/etc/apparmor.d/abstractions/base", "  /etc/ld.so.cache r,\n", 0o644)
            .write("/boot/grub/grub.cfg", "set superusers=\"root\"\npassword_pbkdf2 root grub.pbkdf2.sha512.10000.AB.CD\nmenuentry\n", 0o400);
        let mut st = std::fs::read_to_string(f.host("/var/lib/dpkg/status")).unwrap();
        st.push_str(&dpkg_entry("rsyslog", "8.2302.0-1"));
        f.write("/var/lib/dpkg/status", &st, 0o644);
    } else {
        f.write("/etc/fstab", "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n", 0o644)
            .write("/etc/pam.d/common-password",
                "password [success=1 default=ignore] pam_unix.so obscure md5\n", 0o644)
            .write("/etc/pam.d/common-auth", "auth [success=1 default=ignore] pam_unix.so nullok\n", 0o644)
            .write("/etc/security/pwquality.conf.d/50-site.conf", "minlen = 14\n", 0o644)
            .write("/etc/security/pwquality.conf.d/90-late.conf", "minlen = 8\n", 0o644)
            .write("/etc/security/faillock.conf", "deny = 0\n# unlock_time = 900\n", 0o644)
            .write("/etc/login.defs", "PASS_MAX_DAYS\t99999\nPASS_MIN_DAYS\t0\nPASS_WARN_AGE\t3\n", 0o644)
            .write("/etc/audit/rules.d/50-partial.rules",
                "-w /etc/sudoers -p w -k scope\n-a always,exit -F arch=b64 -S adjtimex -k time-change\n-w /etc/passwd -p wa -k identity\n", 0o640)
            .write("/etc/systemd/journald.conf", "[Journal]\nStorage=volatile\nCompress=no\n", 0o644)
            .write("/etc/issue", "Debian GNU/Linux 12 \\n \\l\n", 0o644)
            .write("/etc/motd", "Welcome to \\s \\r\n", 0o666)
            .write("/etc/apparmor.d/usr.bin.man", "/usr/bin/man flags=(complain) {\n}\n", 0o644)
            .write("/etc/apparmor.d/usr.sbin.x", "/usr/sbin/x {\n}\n", 0o644)
            .link("/etc/apparmor.d/usr.sbin.x", "/etc/apparmor.d/disable/usr.sbin.x");
        // Mode checks of the banners fail too.
        f.chmod("/etc/issue.net", 0o664).chmod("/etc/issue", 0o666);
        let mut st = std::fs::read_to_string(f.host("/var/lib/dpkg/status")).unwrap();
        st.push_str(&dpkg_entry("rsyslog", "1.0-1"));
        f.write("/var/lib/dpkg/status", &st, 0o644)
            .write(
                "/etc/rsyslog.d/50-default.conf",
                "$FileCreateMode 0644\n",
                0o644,
            )
            .write(
                "/etc/audit/auditd.conf",
                "max_log_file_action = ROTATE\nspace_left_action = SYSLOG\n",
                0o640,
            );
    }
}

pub fn noncompliant_host() -> Fixture {
    let f = Fixture::new();
    base(&f);
    f.chmod("/etc/passwd", 0o666).chmod("/etc/group", 0o664);
    f.write("/etc/shadow", "root:*:1::::::\n", 0o644)
        .write("/etc/shadow-", "root:*:1::::::\n", 0o644)
        .write("/etc/gshadow", "root:*::\n", 0o644)
        .write("/etc/gshadow-", "root:*::\n", 0o644)
        .write("/etc/passwd-", "root:x:0:0::/root:/bin/sh\n", 0o666)
        .write("/etc/group-", "root:x:0:\n", 0o664)
        .write("/etc/shells", "/bin/sh\n", 0o664)
        .write("/etc/security/opasswd", "", 0o644)
        .write("/etc/crontab", "# cron\n", 0o644)
        .write("/etc/cron.allow", "root\n", 0o644)
        .write("/etc/at.deny", "", 0o644)
        .write("/boot/grub/grub.cfg", "menuentry\n", 0o644)
        .write("/etc/issue.net", "Debian\n", 0o644)
        .write("/etc/ssh/sshd_config", BAD_SSHD, 0o644)
        .write("/etc/ssh/ssh_host_ed25519_key", "KEY", 0o640)
        .write("/etc/ssh/ssh_host_ed25519_key.pub", "PUB", 0o666)
        .write("/etc/sysctl.d/60-site.conf", "net.ipv4.ip_forward = 1\nkernel.randomize_va_space = 0\n", 0o644)
        .write("/etc/sysctl.conf", "net.ipv4.tcp_syncookies = 0\nkernel.yama.ptrace_scope = 0\nnet.ipv4.conf.all.rp_filter = 2\n", 0o644)
        .write("/etc/modprobe.d/site.conf", "install hfs /sbin/modprobe --ignore-install hfs\n# blacklist udf\n", 0o644)
        .write("/var/tmp/open", "x", 0o666)
        .dir("/srv/share", 0o777);
    for d in ["hourly", "daily", "weekly", "monthly", "d"] {
        f.dir(&format!("/etc/cron.{d}"), 0o755);
    }

    let mut status = String::new();
    for p in [
        "autofs",
        "avahi-daemon",
        "isc-dhcp-server",
        "bind9",
        "dnsmasq",
        "vsftpd",
        "slapd",
        "dovecot-imapd",
        "nfs-kernel-server",
        "ypserv",
        "cups",
        "rpcbind",
        "rsync",
        "samba",
        "snmpd",
        "tftpd-hpa",
        "squid",
        "nginx",
        "xinetd",
        "xserver-xorg",
        "gdm3",
        "nis",
        "rsh-client",
        "talk",
        "telnet",
        "ldap-utils",
        "ftp",
        "chrony",
        "ntp",
        "ufw",
        "openssh-server",
    ] {
        status.push_str(&dpkg_entry(p, "1.0-1"));
    }
    f.write("/var/lib/dpkg/status", &status, 0o644)
        .write(
            "/var/lib/apt/lists/deb.example_debian-security_dists_bookworm-security_main_binary-amd64_Packages",
            "Package: openssh-server\nVersion: 1.0-1+deb12u1\n\n",
            0o644,
        )
        .write("/lib/systemd/system/cups.service", "[Unit]\n", 0o644)
        .link("/lib/systemd/system/cups.service", "/etc/systemd/system/multi-user.target.wants/cups.service")
        .write("/etc/ufw/ufw.conf", "ENABLED=yes\n", 0o644)
        .write("/etc/default/ufw", "DEFAULT_INPUT_POLICY=\"ACCEPT\"\n", 0o644);
    level2_breadth(&f, false);
    if is_root() {
        f.write("/srv/orphan", "x", 0o644);
        f.chown("/srv/orphan", 54321, 54321);
    }
    f
}

pub const APISERVER_GOOD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - name: kube-apiserver
    image: registry.k8s.io/kube-apiserver:v1.31.0
    command:
    - kube-apiserver
    - --authorization-mode=Node,RBAC
    - --enable-admission-plugins=NodeRestriction
    - --kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt
    - --kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key
    - --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt
    - --profiling=false
    - --audit-log-path=/var/log/kubernetes/audit.log
    - --audit-log-maxage=30
    - --audit-log-maxbackup=10
    - --audit-log-maxsize=100
    - --service-account-key-file=/etc/kubernetes/pki/sa.pub
    - --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt
    - --etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key
    - --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt
    - --tls-cert-file=/etc/kubernetes/pki/apiserver.crt
    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key
    - --client-ca-file=/etc/kubernetes/pki/ca.crt
    - --service-account-extend-token-expiration=false
"#;

pub const APISERVER_BAD: &str = r#"apiVersion: v1
kind: Pod
spec:
  containers:
  - name: kube-apiserver
    command: ["kube-apiserver", "--authorization-mode=AlwaysAllow", "--token-auth-file=/tokens.csv",
      "--enable-admission-plugins=AlwaysAdmit", "--disable-admission-plugins=ServiceAccount,NamespaceLifecycle",
      "--audit-log-maxage=7", "--audit-log-maxbackup=1", "--audit-log-maxsize=10",
      "--service-account-lookup=false", "--profiling=true"]
"#;

pub fn pod(name: &str, flags: &[&str]) -> String {
    let mut s = format!(
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: {name}\n    command:\n    - {name}\n"
    );
    for f in flags {
        s.push_str(&format!("    - \"{f}\"\n"));
    }
    s
}

/// A control-plane + worker node root; `good` selects compliant content.
pub fn k8s_node(good: bool) -> Fixture {
    let f = Fixture::new();
    base(&f);
    let m = "/etc/kubernetes/manifests";
    let mode = if good { 0o600 } else { 0o644 };
    if good {
        f.write(&format!("{m}/kube-apiserver.yaml"), APISERVER_GOOD, mode);
        f.write(
            &format!("{m}/kube-controller-manager.yaml"),
            &pod(
                "kube-controller-manager",
                &[
                    "--profiling=false",
                    "--use-service-account-credentials=true",
                    "--service-account-private-key-file=/etc/kubernetes/pki/sa.key",
                    "--root-ca-file=/etc/kubernetes/pki/ca.crt",
                    "--bind-address=127.0.0.1",
                ],
            ),
            mode,
        );
        f.write(
            &format!("{m}/kube-scheduler.yaml"),
            &pod(
                "kube-scheduler",
                &["--profiling=false", "--bind-address=127.0.0.1"],
            ),
            mode,
        );
        f.write(
            &format!("{m}/etcd.yaml"),
            &pod(
                "etcd",
                &[
                    "--cert-file=/p/s.crt",
                    "--key-file=/p/s.key",
                    "--client-cert-auth=true",
                    "--peer-cert-file=/p/p.crt",
                    "--peer-key-file=/p/p.key",
                    "--peer-client-cert-auth=true",
                    "--data-dir=/var/lib/etcd",
                ],
            ),
            mode,
        );
        f.write("/var/lib/kubelet/config.yaml",
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: false\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\nauthorization:\n  mode: Webhook\nrotateCertificates: true\n",
            0o600);
    } else {
        f.write(&format!("{m}/kube-apiserver.yaml"), APISERVER_BAD, mode);
        f.write(
            &format!("{m}/kube-controller-manager.yaml"),
            &pod(
                "kube-controller-manager",
                &[
                    "--profiling=true",
                    "--use-service-account-credentials=false",
                    "--feature-gates=RotateKubeletServerCertificate=false",
                    "--bind-address=0.0.0.0",
                ],
            ),
            mode,
        );
        f.write(
            &format!("{m}/kube-scheduler.yaml"),
            &pod("kube-scheduler", &["--bind-address=0.0.0.0"]),
            mode,
        );
        f.write(
            &format!("{m}/etcd.yaml"),
            &pod(
                "etcd",
                &[
                    "--auto-tls=true",
                    "--peer-auto-tls=true",
                    "--client-cert-auth=false",
                ],
            ),
            mode,
        );
        f.write("/var/lib/kubelet/config.yaml",
            "kind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: true\nauthorization:\n  mode: AlwaysAllow\nmakeIPTablesUtilChains: false\nrotateCertificates: false\nfeatureGates:\n  RotateKubeletServerCertificate: false\n",
            0o644);
    }
    f.dir("/var/lib/etcd", if good { 0o700 } else { 0o755 });
    if good && is_root() {
        f.chown("/var/lib/etcd", 4242, 4242);
    }
    for p in [
        "admin.conf",
        "super-admin.conf",
        "scheduler.conf",
        "controller-manager.conf",
        "kubelet.conf",
    ] {
        f.write(&format!("/etc/kubernetes/{p}"), "apiVersion: v1\n", mode);
    }
    f.write("/etc/kubernetes/pki/ca.crt", "CERT", 0o644);
    f.write(
        "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--kubeconfig=/etc/kubernetes/kubelet.conf\"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_KUBEADM_ARGS\n",
        mode,
    );
    f.write(
        "/lib/systemd/system/kubelet.service",
        "[Service]\nExecStart=/usr/bin/kubelet\n",
        mode,
    );
    if !good && is_root() {
        // Wrong owners (admin:admin) for the ownership checks.
        for p in [
            "/etc/kubernetes/manifests/kube-apiserver.yaml",
            "/etc/kubernetes/manifests/kube-controller-manager.yaml",
            "/etc/kubernetes/manifests/kube-scheduler.yaml",
            "/etc/kubernetes/manifests/etcd.yaml",
            "/etc/kubernetes/admin.conf",
            "/etc/kubernetes/scheduler.conf",
            "/etc/kubernetes/controller-manager.conf",
            "/etc/kubernetes/kubelet.conf",
            "/etc/kubernetes/pki/ca.crt",
            "/var/lib/kubelet/config.yaml",
            "/lib/systemd/system/kubelet.service",
        ] {
            f.chown(p, 1000, 1000);
        }
    }
    f
}
