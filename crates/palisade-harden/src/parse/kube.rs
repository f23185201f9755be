//! Kubernetes node configuration: static-pod manifests and the kubelet.
//!
//! Holds [`Manifests`] (command-line flags of the control-plane containers
//! read from `/etc/kubernetes/manifests/*.yaml`) and [`Kubelet`] (the
//! kubelet's config file, by default `/var/lib/kubelet/config.yaml`, plus
//! the flags found in its systemd unit, drop-ins and environment files;
//! flags override the file, as in the kubelet). YAML is read with
//! `yaml-rust2`; malformed documents become problems, never panics.

use std::collections::BTreeMap;

use yaml_rust2::{Yaml, YamlLoader};

use crate::rootfs::RootFs;

/// Static-pod manifest directory.
pub const MANIFEST_DIR: &str = "/etc/kubernetes/manifests";
/// Default kubelet config file.
pub const KUBELET_CONFIG: &str = "/var/lib/kubelet/config.yaml";

/// Systemd files that may carry kubelet flags.
pub const KUBELET_UNIT_FILES: &[&str] = &[
    "/etc/systemd/system/kubelet.service",
    "/usr/lib/systemd/system/kubelet.service",
    "/lib/systemd/system/kubelet.service",
];
/// Drop-in directories of the kubelet unit.
pub const KUBELET_DROPIN_DIRS: &[&str] = &[
    "/etc/systemd/system/kubelet.service.d",
    "/usr/lib/systemd/system/kubelet.service.d",
    "/lib/systemd/system/kubelet.service.d",
];
/// Environment files kubeadm and distributions use for kubelet flags.
pub const KUBELET_ENV_FILES: &[&str] = &[
    "/var/lib/kubelet/kubeadm-flags.env",
    "/etc/default/kubelet",
    "/etc/sysconfig/kubelet",
];

/// Flags of one control-plane component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentFlags {
    /// Manifest file.
    pub file: String,
    /// Flag name (without dashes) → value (`"true"` for a bare flag).
    pub flags: BTreeMap<String, String>,
}

/// The control-plane manifests found.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    /// Component (`kube-apiserver`, `kube-controller-manager`,
    /// `kube-scheduler`, `etcd`) → flags.
    pub components: BTreeMap<String, ComponentFlags>,
    /// Malformed or unreadable manifests.
    pub problems: Vec<String>,
    /// File stem (component name) → why its manifest could not be read.
    pub broken: BTreeMap<String, String>,
}

/// Deepest YAML nesting accepted (flow brackets, indentation columns,
/// `- ` chains). yaml-rust2 recurses per level; a hostile file must not be
/// able to overflow the stack.
pub const MAX_YAML_DEPTH: usize = 128;

/// Reject text nested deeper than [`MAX_YAML_DEPTH`] before parsing.
fn check_depth(text: &str) -> Result<(), String> {
    let too_deep = || Err(format!("YAML nested deeper than {MAX_YAML_DEPTH} levels"));
    let mut flow = 0usize;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if indent > MAX_YAML_DEPTH * 4 {
            return too_deep();
        }
        let mut rest = line.trim_start();
        let mut dashes = 0usize;
        while let Some(r) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("? ")) {
            dashes += 1;
            rest = r.trim_start();
        }
        if dashes > MAX_YAML_DEPTH {
            return too_deep();
        }
        for c in line.chars() {
            match c {
                '[' | '{' => {
                    flow += 1;
                    if flow > MAX_YAML_DEPTH {
                        return too_deep();
                    }
                }
                ']' | '}' => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Parse YAML documents with the nesting bound and on a thread with a
/// generous stack, so no input can crash the scanner.
pub fn load_yaml(text: &str) -> Result<Vec<Yaml>, String> {
    check_depth(text)?;
    let owned = text.to_string();
    std::thread::Builder::new()
        .name("yaml".to_string())
        .stack_size(64 * 1024 * 1024)
        .spawn(move || YamlLoader::load_from_str(&owned).map_err(|e| format!("invalid YAML: {e}")))
        .map_err(|e| format!("cannot start YAML parser: {e}"))?
        .join()
        .map_err(|_| "YAML parser failed".to_string())?
}

/// Known control-plane components.
pub const COMPONENTS: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "etcd",
];

fn get<'a>(y: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    y.as_hash()?.get(&Yaml::String(key.to_string()))
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parse `--flag=value` / `--flag value` / `--flag` tokens.
pub fn parse_flags(tokens: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut i = 0usize;
    while let Some(tok) = tokens.get(i) {
        i += 1;
        let Some(body) = tok.strip_prefix("--").or_else(|| tok.strip_prefix('-')) else {
            continue;
        };
        if body.is_empty() {
            continue;
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => match tokens.get(i) {
                Some(next) if !next.starts_with('-') => {
                    i += 1;
                    (body.to_string(), next.clone())
                }
                _ => (body.to_string(), "true".to_string()),
            },
        };
        out.insert(name, value);
    }
    out
}

/// Parse one static-pod manifest; returns (component, flags of its first
/// container).
pub fn parse_manifest(text: &str) -> Result<(String, BTreeMap<String, String>), String> {
    let docs = load_yaml(text)?;
    let doc = docs.first().ok_or("empty document")?;
    let container = get(doc, "spec")
        .and_then(|s| get(s, "containers"))
        .and_then(Yaml::as_vec)
        .and_then(|v| v.first())
        .ok_or("no spec.containers[0]")?;
    let mut tokens: Vec<String> = Vec::new();
    for key in ["command", "args"] {
        if let Some(list) = get(container, key).and_then(Yaml::as_vec) {
            tokens.extend(list.iter().filter_map(scalar));
        }
    }
    let program = tokens
        .first()
        .map(|t| t.rsplit('/').next().unwrap_or(t).to_string())
        .unwrap_or_default();
    Ok((program, parse_flags(&tokens)))
}

/// Read every manifest in [`MANIFEST_DIR`].
pub fn load_manifests(fs: &RootFs) -> Manifests {
    let mut m = Manifests::default();
    let files = match fs.list_dir(MANIFEST_DIR) {
        Ok(f) => f,
        Err(e) => {
            m.problems.push(e.to_string());
            return m;
        }
    };
    for file in files {
        if !(file.ends_with(".yaml") || file.ends_with(".yml") || file.ends_with(".json")) {
            continue;
        }
        let stem = file
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(".yaml")
            .trim_end_matches(".yml")
            .trim_end_matches(".json")
            .to_string();
        let parsed = fs
            .read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|text| parse_manifest(&text));
        match parsed {
            Ok((program, flags)) => {
                let component = COMPONENTS
                    .iter()
                    .find(|c| **c == program || **c == stem)
                    .map(|c| (*c).to_string());
                if let Some(c) = component {
                    m.components.insert(c, ComponentFlags { file, flags });
                }
            }
            Err(e) => {
                m.problems.push(format!("{file}: {e}"));
                m.broken.insert(stem, format!("{file}: {e}"));
            }
        }
    }
    m
}

/// The kubelet as configured on this node.
#[derive(Debug, Clone, Default)]
pub struct Kubelet {
    /// Config file used (from `--config`, else the default) if it exists.
    pub config_path: Option<String>,
    /// Parsed config document.
    pub config: Option<Yaml>,
    /// Flags from the unit, drop-ins and environment files.
    pub flags: BTreeMap<String, String>,
    /// Unit and drop-in files found (for 4.1.1/4.1.2).
    pub service_files: Vec<String>,
    /// Problems met.
    pub problems: Vec<String>,
}

impl Kubelet {
    /// True when any kubelet configuration exists on the node.
    pub fn present(&self) -> bool {
        self.config_path.is_some() || !self.service_files.is_empty()
    }

    /// Effective value: the flag if given, else the config file's value at
    /// `path` (a dotted path such as `authentication.anonymous.enabled`).
    pub fn setting(&self, flag: &str, path: &str) -> Option<String> {
        if let Some(v) = self.flags.get(flag) {
            return Some(v.clone());
        }
        let mut node = self.config.as_ref()?;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            node = get(node, part)?;
        }
        scalar(node)
    }

    /// Kubeconfig path used by the kubelet.
    pub fn kubeconfig(&self) -> String {
        self.flags
            .get("kubeconfig")
            .cloned()
            .unwrap_or_else(|| "/etc/kubernetes/kubelet.conf".to_string())
    }
}

/// Split a shell-ish line into tokens, dropping quotes.
fn shell_tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut has = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                has = true;
            }
            (None, c) if c.is_whitespace() => {
                if has || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Flags found in a unit, drop-in or environment file's text.
pub fn flags_from_text(text: &str) -> BTreeMap<String, String> {
    let mut tokens = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line
            .strip_prefix("ExecStart=")
            .or_else(|| line.strip_prefix("Environment="))
            .unwrap_or(line);
        for t in shell_tokens(line) {
            // `KUBELET_ARGS=--a=b` → `--a=b`
            let t = match t.split_once('=') {
                Some((k, v)) if !k.starts_with('-') && v.starts_with('-') => v.to_string(),
                _ => t,
            };
            tokens.extend(shell_tokens(&t));
        }
    }
    parse_flags(&tokens)
}

/// Gather the kubelet's flags and config.
pub fn load_kubelet(fs: &RootFs) -> Kubelet {
    let mut k = Kubelet::default();
    let mut files: Vec<String> = KUBELET_UNIT_FILES
        .iter()
        .filter(|f| fs.exists(f))
        .map(|f| (*f).to_string())
        .collect();
    for dir in KUBELET_DROPIN_DIRS {
        if let Ok(list) = fs.list_dir(dir) {
            files.extend(list.into_iter().filter(|f| f.ends_with(".conf")));
        }
    }
    k.service_files = files.clone();
    files.extend(
        KUBELET_ENV_FILES
            .iter()
            .filter(|f| fs.exists(f))
            .map(|f| (*f).to_string()),
    );
    for f in &files {
        match fs.read_to_string(f) {
            Ok(t) => k.flags.extend(flags_from_text(&t)),
            Err(e) => k.problems.push(e.to_string()),
        }
    }
    let config = k
        .flags
        .get("config")
        .cloned()
        .unwrap_or_else(|| KUBELET_CONFIG.to_string());
    if fs.exists(&config) {
        match fs.read_to_string(&config) {
            Ok(text) => match load_yaml(&text) {
                Ok(docs) => k.config = docs.into_iter().next(),
                Err(e) => k.problems.push(format!("{config}: {e}")),
            },
            Err(e) => k.problems.push(e.to_string()),
        }
        k.config_path = Some(config);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const APISERVER: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
spec:
  containers:
  - name: kube-apiserver
    command:
    - kube-apiserver
    - --authorization-mode=Node,RBAC
    - --profiling=false
    - --enable-admission-plugins=NodeRestriction
    - --audit-log-maxage
    - "30"
"#;

    #[test]
    fn manifest_flags() {
        let (prog, f) = parse_manifest(APISERVER).unwrap();
        assert_eq!(prog, "kube-apiserver");
        assert_eq!(f["authorization-mode"], "Node,RBAC");
        assert_eq!(f["audit-log-maxage"], "30");
        assert_eq!(f["profiling"], "false");
    }

    #[test]
    fn malformed_manifest_is_an_error() {
        assert!(parse_manifest("spec: [unclosed").is_err());
        assert!(parse_manifest("").is_err());
        assert!(parse_manifest("spec: {}\n").is_err());
    }

    #[test]
    fn kubelet_flags_from_dropins_and_env() {
        let f = flags_from_text(
            "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--kubeconfig=/etc/kubernetes/kubelet.conf\"\n\
             ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS --read-only-port=0\n",
        );
        assert_eq!(f["kubeconfig"], "/etc/kubernetes/kubelet.conf");
        assert_eq!(f["read-only-port"], "0");
        let f = flags_from_text(
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///x --pod-infra-container-image=p\"\n",
        );
        assert_eq!(f["container-runtime-endpoint"], "unix:///x");
    }

    #[test]
    fn kubelet_setting_prefers_flags() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("var/lib/kubelet")).unwrap();
        std::fs::write(
            r.join("var/lib/kubelet/config.yaml"),
            "authentication:\n  anonymous:\n    enabled: false\nreadOnlyPort: 10255\n",
        )
        .unwrap();
        std::fs::create_dir_all(r.join("etc/default")).unwrap();
        std::fs::write(
            r.join("etc/default/kubelet"),
            "KUBELET_EXTRA_ARGS=--read-only-port=0\n",
        )
        .unwrap();
        let fs = RootFs::open(r).unwrap();
        let k = load_kubelet(&fs);
        assert!(k.present());
        assert_eq!(
            k.setting("anonymous-auth", "authentication.anonymous.enabled")
                .unwrap(),
            "false"
        );
        assert_eq!(k.setting("read-only-port", "readOnlyPort").unwrap(), "0");
        assert!(k.setting("x", "no.such.path").is_none());
    }

    #[test]
    fn deeply_nested_yaml_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        assert!(parse_manifest(&deep).unwrap_err().contains("nested deeper"));
        let deep = (0..5000)
            .map(|i| format!("{}b:\n", " ".repeat(i)))
            .collect::<String>();
        assert!(parse_manifest(&deep).unwrap_err().contains("nested deeper"));
        let deep = format!("{}x\n", "- ".repeat(100_000));
        assert!(parse_manifest(&deep).unwrap_err().contains("nested deeper"));
        // Nesting within the bound still parses.
        let ok = format!(
            "spec: {{containers: [{{command: [x]}}]}}\nz: {}1{}\n",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(parse_manifest(&ok).is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_manifest_never_panics(s in "\\PC{0,400}") {
            let _ = parse_manifest(&s);
            let _ = flags_from_text(&s);
        }
    }
}
