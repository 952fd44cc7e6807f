//! Finding (and if needed building) the `mrd` and `mrctl` binaries of this
//! workspace, in the same profile as the running test or bench.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static BUILD: Mutex<()> = Mutex::new(());

/// Path to a workspace binary next to the running executable; builds it with
/// cargo when missing. `MRD_BIN` / `MRCTL_BIN` override.
pub fn binary(name: &str) -> PathBuf {
    let env = format!("{}_BIN", name.to_uppercase());
    if let Ok(path) = std::env::var(&env) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current executable path must be known");
    let mut dir = exe
        .parent()
        .expect("executable must have a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let release = dir.ends_with("release");
        eprintln!(
            "building {name} ({})…",
            if release { "release" } else { "debug" }
        );
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        // Debug: the same build shape as scripts/test.sh, so nothing is rebuilt.
        if release {
            cmd.args([
                "build",
                "--release",
                "-p",
                "mrouter-node",
                "-p",
                "mrouter-ctl",
                "--bins",
            ]);
        } else {
            cmd.args(["build", "--workspace", "--all-targets"]);
        }
        let status = cmd.status().expect("cargo must run");
        assert!(status.success(), "building {name} failed");
    }
    path
}

/// Runs `mrctl` with `args` against `endpoints`; returns (exit ok, stdout, stderr).
pub fn mrctl(endpoints: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary("mrctl"))
        .arg("--endpoints")
        .arg(endpoints)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("mrctl must start");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `mrctl` with `args` feeding `input` on standard input (not a terminal).
pub fn mrctl_stdin(endpoints: &str, args: &[&str], input: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(binary("mrctl"))
        .arg("--endpoints")
        .arg(endpoints)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mrctl must start");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("mrctl must run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
