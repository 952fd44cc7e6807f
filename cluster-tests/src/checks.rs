//! Assertions the multi-process tests share: `mrctl` that must succeed (or
//! fail with a message), JSON output, the `openssl` CLI, and test files.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Result};
use serde_json::Value;

use crate::mrctl;

/// `mrctl` must succeed; returns stdout and stderr (warnings go there).
pub fn mrctl_ok(ep: &str, args: &[&str]) -> (String, String) {
    let (ok, out, err) = mrctl(ep, args);
    assert!(ok, "mrctl {args:?} failed: {err}");
    (out, err)
}

/// `mrctl … -o json` must succeed; returns the parsed output.
pub fn mrctl_json(ep: &str, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["-o", "json"]);
    let (out, _) = mrctl_ok(ep, &full);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("mrctl {args:?}: {e}: {out}"))
}

/// `mrctl` must fail with every one of `expect` in its message (and not
/// panic); returns the message.
pub fn mrctl_fails(ep: &str, args: &[&str], expect: &[&str]) -> String {
    let (ok, out, err) = mrctl(ep, args);
    assert!(!ok, "mrctl {args:?} succeeded: {out}");
    for e in expect {
        assert!(err.contains(e), "mrctl {args:?}: expected {e:?} in {err:?}");
    }
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Runs `openssl`; returns stdout followed by stderr (some checks report there).
pub fn openssl(args: &[&str]) -> Result<String> {
    let out = Command::new("openssl").args(args).output()?;
    ensure!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Writes a test file; returns its path.
pub fn write_file(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("writing a test file must work");
    p
}

/// A test path as the `&str` a command line wants.
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}
