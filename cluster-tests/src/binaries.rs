//! Finding (and if needed building) the `mrd` and `mrctl` binaries of this
//! workspace, in the same profile as the running test or bench.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The outcome of this process's one `cargo build` of the binaries.
static BUILT: OnceLock<Result<(), String>> = OnceLock::new();

/// Path to a workspace binary next to the running executable. The first call
/// in a process runs `cargo build` in the running profile (a no-op of a second
/// or two when the binaries are current), so a test never runs an `mrd` older
/// than the source. `MRD_BIN` / `MRCTL_BIN` override, and skip the build.
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
    if let Err(e) = BUILT.get_or_init(|| build(&dir)) {
        panic!("{e}");
    }
    dir.join(name)
}

/// Builds the workspace in the profile whose output directory is `dir`
/// (`…/target/debug` or `…/target/release`), into the same target directory.
fn build(dir: &Path) -> Result<(), String> {
    let release = dir.ends_with("release");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // The same selection as scripts/test.sh and the README's release build,
    // so nothing is compiled that those did not already compile.
    cmd.args(["build", "--quiet", "--workspace"]);
    if release {
        cmd.arg("--release");
    } else {
        cmd.arg("--all-targets");
    }
    if let Some(target_dir) = dir.parent() {
        cmd.arg("--target-dir").arg(target_dir);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cargo must run to build mrd and mrctl: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building mrd and mrctl failed ({status})"))
    }
}

/// Runs `mrctl` with `args` against `endpoints` (TLS, verified against the
/// tests' cluster CA); returns (exit ok, stdout, stderr).
pub fn mrctl(endpoints: &str, args: &[&str]) -> (bool, String, String) {
    mrctl_with_ca(
        endpoints,
        &crate::tls::ca_file().display().to_string(),
        args,
    )
}

/// As [`mrctl`], verifying the nodes against the CA certificate in `ca`.
pub fn mrctl_with_ca(endpoints: &str, ca: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary("mrctl"))
        .env("MRCTL_CACERT", ca)
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
        .env("MRCTL_CACERT", crate::tls::ca_file())
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
