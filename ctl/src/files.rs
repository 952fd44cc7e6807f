//! Local files `mrctl` reads and writes: inputs fail with the file's name
//! before any RPC, and outputs never replace a file unless asked to.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

/// The most a certificate, key or bundle file may hold (as the node checks).
pub const MAX_BUNDLE: u64 = 1 << 20;
/// The most a CSR file may hold.
pub const MAX_CSR: u64 = 64 << 10;

/// The whole file, at most [`MAX_BUNDLE`] bytes; an empty one is refused,
/// since no input here may be empty.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    read_at_most(path, MAX_BUNDLE, "a certificate, key or bundle file")
}

/// The whole file if it holds at most `limit` bytes: a file that is far too
/// large is refused by name before it is read or sent.
pub fn read_at_most(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > limit {
        bail!(
            "{} holds {size} bytes; {what} is at most {} KiB: is it the right file?",
            path.display(),
            limit >> 10
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.is_empty() {
        bail!("{} is empty", path.display());
    }
    Ok(bytes)
}

/// A password kept in a file, without the line ending an editor adds.
pub fn read_password(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    // Never quote the content: the error would print the password.
    let mut text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("{}: the password is not valid UTF-8", path.display()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// A file to write a result to. `secret` files (holding a private key) are
/// created readable by the owner only.
#[derive(Debug, Clone)]
pub struct OutFile {
    pub path: PathBuf,
    pub force: bool,
    pub secret: bool,
}

impl OutFile {
    /// Fails if the file exists and may not be replaced; called before a
    /// write RPC so a refusal changes nothing on the cluster.
    pub fn check(&self) -> Result<()> {
        if !self.force && self.path.symlink_metadata().is_ok() {
            bail!(
                "{} already exists; pass --force to overwrite it",
                self.path.display()
            );
        }
        Ok(())
    }

    pub fn write(&self, content: &[u8]) -> Result<()> {
        let mut options = OpenOptions::new();
        options.write(true);
        if self.force {
            options.create(true).truncate(true);
        } else {
            // Atomic: a file that appeared since `check` is still not replaced.
            options.create_new(true);
        }
        if self.secret {
            options.mode(0o600);
        }
        let display = self.path.display();
        let mut file = options.open(&self.path).map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => {
                anyhow!("{display} already exists; pass --force to overwrite it")
            }
            _ => anyhow!("cannot create {display}: {e}"),
        })?;
        if self.secret {
            // `mode` applies only to a new file; a replaced one keeps its old
            // mode, so narrow it before the key is written.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {display} to its owner"))?;
        }
        file.write_all(content)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {display}"))
    }
}

#[cfg(test)]
mod tests;
