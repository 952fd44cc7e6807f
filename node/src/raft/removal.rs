//! Whether this node was removed from the cluster. The leader that commits a
//! removal tells the removed node (which no longer receives the log and would
//! otherwise go on answering from a frozen state); the node keeps that in a
//! file of its data dir, so it still knows after a restart.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FILE: &str = "removed";

pub struct Removal {
    path: PathBuf,
    at: OnceLock<u64>,
}

impl Removal {
    /// Reads the marker of `data_dir`, if any.
    pub fn load(data_dir: &Path) -> io::Result<Self> {
        let path = data_dir.join(FILE);
        let at = OnceLock::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let index = text.trim().parse().map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} does not hold a log index", path.display()),
                    )
                })?;
                let _ = at.set(index);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Self { path, at })
    }

    /// The log index of the membership change that removed this node.
    pub fn removed_at(&self) -> Option<u64> {
        self.at.get().copied()
    }

    /// Records the removal (durably); the first one wins. Returns whether
    /// this call recorded it.
    pub fn mark(&self, log_index: u64) -> io::Result<bool> {
        if self.at.get().is_some() {
            return Ok(false);
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, log_index.to_string())?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(self.at.set(log_index).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_survives_a_restart_and_the_first_one_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        let r = Removal::load(dir.path()).expect("no marker yet");
        assert_eq!(r.removed_at(), None);
        assert!(r.mark(42).expect("marked"));
        assert!(!r.mark(50).expect("already marked"));
        assert_eq!(r.removed_at(), Some(42));
        let again = Removal::load(dir.path()).expect("marker read");
        assert_eq!(again.removed_at(), Some(42));
        std::fs::write(dir.path().join(FILE), "junk").expect("write");
        assert!(Removal::load(dir.path()).is_err());
    }
}
