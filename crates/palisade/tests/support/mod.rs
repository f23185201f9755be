//! Helpers for running the built `palisade` binary in a temporary directory.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A single-threaded runtime for the async parts of a test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub const BIN: &str = env!("CARGO_BIN_EXE_palisade");

/// A `palisade` command with a clean environment (no inherited PALISADE_*).
pub fn palisade() -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("PALISADE_") {
            c.env_remove(k);
        }
    }
    c.env("PALISADE_LOG_FORMAT", "json");
    c
}

/// Output of a finished command.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Out {
    let out = cmd.output().expect("palisade runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running `palisade serve`.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub stdout_lines: Vec<String>,
    pub data_dir: PathBuf,
    stderr_path: PathBuf,
}

impl Server {
    /// Starts `palisade serve --data-dir DIR --listen 127.0.0.1:0 EXTRA…` and
    /// waits (bounded) for it to report its address.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Result<Server, String> {
        Self::start_cmd(
            data_dir,
            palisade()
                .args(["serve", "--data-dir"])
                .arg(data_dir)
                .args(["--listen", "127.0.0.1:0"])
                .args(extra),
        )
    }

    pub fn start_cmd(data_dir: &Path, cmd: &mut Command) -> Result<Server, String> {
        let stderr_path = data_dir.with_extension("stderr.log");
        let stderr_file = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr_file))
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    let serving = line
                        .strip_prefix("Palisade is serving https://")
                        .and_then(|a| a.rsplit(':').next())
                        .and_then(|p| p.parse::<u16>().ok());
                    lines.push(line);
                    if let Some(port) = serving {
                        // Collect the lines printed right after the address.
                        while let Ok(l) = rx.recv_timeout(Duration::from_millis(300)) {
                            lines.push(l);
                        }
                        return Ok(Server {
                            child,
                            port,
                            stdout_lines: lines,
                            data_dir: data_dir.to_owned(),
                            stderr_path,
                        });
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                    return Err(format!(
                        "server did not start; stdout {lines:?}; stderr {err}"
                    ));
                }
            }
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM, then wait (bounded) for exit; returns the exit code.
    pub fn stop(mut self) -> i32 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        -1
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // For the canary scan of the whole test run (see palisade-testkit).
        palisade_testkit::canary::keep(&self.data_dir, &[&self.stderr_path]);
    }
}

/// A client trusting only the CA in `ca_pem`.
pub fn client(ca_pem: &Path, port: u16) -> palisade_client::Client {
    palisade_testkit::canary::recording(
        palisade_client::Client::new(
            &format!("https://localhost:{port}"),
            &std::fs::read(ca_pem).expect("CA readable"),
        )
        .expect("client"),
    )
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Size and a hash of every file under `dir` (for "nothing modified" checks), sorted.
pub fn tree_bytes(dir: &Path) -> Vec<(PathBuf, usize, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                use std::hash::{Hash, Hasher};
                let bytes = std::fs::read(&p).unwrap();
                // SQLite's -shm file is a WAL index rebuilt on open, never
                // data; it and an empty WAL left by the previous shutdown are
                // removed when any connection closes: housekeeping.
                let name = p.to_string_lossy();
                if name.ends_with("-shm") || (bytes.is_empty() && name.ends_with("-wal")) {
                    continue;
                }
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                out.push((p.clone(), bytes.len(), h.finish()));
            }
        }
    }
    out.sort();
    out
}
