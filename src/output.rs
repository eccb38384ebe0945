//! Run directories that appear whole or not at all.
//!
//! A run writes into a hidden staging directory beside its destination and
//! renames it into place only when every file is complete. A killed run
//! therefore leaves nothing under the final name, and an existing run
//! directory is never mixed with a new run: it is refused, or with
//! `--force` replaced in one rename.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A run directory being written.
pub struct Staging {
    staging: PathBuf,
    target: PathBuf,
}

impl Staging {
    /// Prepares to write `target`. Fails if it exists and `force` is false.
    pub fn new(target: &Path, force: bool) -> io::Result<Staging> {
        if target.exists() && !force {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} already exists; choose another --out or pass --force to replace it",
                    target.display()
                ),
            ));
        }
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let named = |what: &str, path: &Path, e: io::Error| {
            io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
        };
        fs::create_dir_all(parent).map_err(|e| named("create directory", parent, e))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(|e| named("remove", &staging, e))?;
        }
        fs::create_dir_all(&staging).map_err(|e| named("create directory", &staging, e))?;
        Ok(Staging {
            staging,
            target: target.to_path_buf(),
        })
    }

    /// Where files are written until [`Staging::commit`].
    pub fn dir(&self) -> &Path {
        &self.staging
    }

    /// Moves the finished directory into place, replacing any old one.
    pub fn commit(self) -> io::Result<PathBuf> {
        if self.target.exists() {
            let old = self.staging.with_extension("old");
            fs::rename(&self.target, &old)?;
            fs::rename(&self.staging, &self.target)?;
            fs::remove_dir_all(&old)?;
        } else {
            fs::rename(&self.staging, &self.target)?;
        }
        Ok(self.target.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // An abandoned (failed) run leaves no partial directory behind.
        if self.staging.exists() {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Writes `bytes` to `path` atomically (temporary file, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_existing_and_replaces_with_force() {
        let base = std::env::temp_dir().join(format!("vtsim-out-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let target = base.join("run");
        let s = Staging::new(&target, false).unwrap();
        fs::write(s.dir().join("a.txt"), "one").unwrap();
        assert!(
            !target.exists(),
            "nothing under the final name before commit"
        );
        s.commit().unwrap();
        assert!(Staging::new(&target, false).is_err());
        let s = Staging::new(&target, true).unwrap();
        fs::write(s.dir().join("b.txt"), "two").unwrap();
        s.commit().unwrap();
        assert!(
            !target.join("a.txt").exists(),
            "old run is not mixed with the new one"
        );
        assert!(target.join("b.txt").exists());
        // An abandoned staging directory is removed.
        let s = Staging::new(&base.join("abandoned"), false).unwrap();
        let dir = s.dir().to_path_buf();
        drop(s);
        assert!(!dir.exists());
        fs::remove_dir_all(&base).unwrap();
    }
}
