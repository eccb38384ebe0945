//! Run directories that appear whole or not at all.
//!
//! A run writes into a hidden staging directory beside its destination and
//! renames it into place only when every file is complete. A killed run
//! therefore leaves nothing under the final name, and an existing run
//! directory is never mixed with a new run: it is refused, or with
//! `--force` replaced in one rename.
//!
//! `--force` replaces only what the command could have written: an empty
//! directory or one holding a `summary.json` (a sweep's: a `results.csv`;
//! a comparison's: a `compare.csv` or `compare_sweeps.csv`; a
//! reproduction's: a `FIDELITY.md`). A regular file, a symbolic
//! link, any other directory, the current directory (or one above it) and a
//! directory holding one of the command's own input files are refused, so a
//! mistyped `--out` cannot delete someone's data.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file every run and replay directory holds; its presence is what
/// lets `--force` replace a directory.
pub const RUN_MARKERS: &[&str] = &["summary.json"];

/// The file every sweep directory holds from its start.
pub const SWEEP_MARKERS: &[&str] = &["results.csv"];

/// The files a comparison writes: of runs, of sweeps, or both.
pub const COMPARE_MARKERS: &[&str] = &["compare.csv", "compare_sweeps.csv"];

/// The file every `vtsim reproduce` output holds: its table, written last.
pub const REPRODUCE_MARKERS: &[&str] = &["FIDELITY.md"];

/// Infix of staging directories: `.<name>.partial-<pid>`.
const PARTIAL: &str = ".partial-";

/// Suffix of a replaced output while [`Staging::commit`] swaps it out.
const OLD: &str = ".old";

/// A run directory being written.
pub struct Staging {
    staging: PathBuf,
    target: PathBuf,
    /// Whether an output found at `target` on commit may be replaced.
    force: bool,
}

/// An error that names `path` and says what could not be done to it.
pub(crate) fn named(what: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
}

/// A refusal to replace `target`, saying why.
fn refused(target: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} {why}: choose another --out", target.display()),
    )
}

/// Why `--force` does not replace something other than a directory vtsim
/// wrote, recognised by one of its `markers` files.
fn not_ours(markers: &[&str]) -> String {
    format!(
        "--force only replaces a directory vtsim wrote (one holding {}) or an empty one",
        markers.join(" or ")
    )
}

/// Checks that `target` may be written: it does not exist, or `force` is
/// set and it is a directory vtsim wrote (one holding one of `markers`, or
/// empty) that neither is nor contains the current directory or any of
/// `inputs`.
pub fn check_target(
    target: &Path,
    force: bool,
    inputs: &[&Path],
    markers: &[&str],
) -> io::Result<()> {
    if target.file_name().is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: --out must name a directory to create, not \".\", \"..\" or a root",
                target.display()
            ),
        ));
    }
    // Not `exists()`: it follows links, and a dangling link would be
    // silently replaced.
    // Any other failure (a parent that is a file) is reported, with its
    // path, when the directory is created.
    let Ok(meta) = fs::symlink_metadata(target) else {
        return Ok(());
    };
    if !force {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} already exists; choose another --out or pass --force to replace it",
                target.display()
            ),
        ));
    }
    if meta.file_type().is_symlink() {
        return Err(refused(
            target,
            &format!("is a symbolic link; {}", not_ours(markers)),
        ));
    }
    if !meta.is_dir() {
        return Err(refused(
            target,
            &format!("is not a directory; {}", not_ours(markers)),
        ));
    }
    let real = fs::canonicalize(target).map_err(|e| named("resolve", target, e))?;
    if let Ok(cwd) = std::env::current_dir().and_then(fs::canonicalize)
        && cwd.starts_with(&real)
    {
        return Err(refused(
            target,
            if cwd == real {
                "is the current directory, which --force never replaces"
            } else {
                "contains the current directory, which --force never replaces"
            },
        ));
    }
    for input in inputs {
        if let Ok(i) = fs::canonicalize(input)
            && i.starts_with(&real)
        {
            let kind = if i.is_dir() { "directory" } else { "file" };
            return Err(refused(
                target,
                &format!(
                    "contains the input {kind} {}, which replacing it would delete",
                    input.display()
                ),
            ));
        }
    }
    let mut entries = fs::read_dir(target).map_err(|e| named("read", target, e))?;
    let empty = entries.next().is_none();
    let marked = markers
        .iter()
        .any(|m| fs::symlink_metadata(target.join(m)).is_ok_and(|m| m.is_file()));
    if !empty && !marked {
        return Err(refused(
            target,
            &format!(
                "is not empty and holds no {}; {}",
                markers.join(" or "),
                not_ours(markers)
            ),
        ));
    }
    Ok(())
}

/// True unless process `pid` is known to have ended. Only Linux's `/proc`
/// answers that; elsewhere every process counts as alive.
fn may_be_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // Without a mounted /proc every process would look dead.
        if Path::new("/proc/self").exists() {
            return Path::new("/proc").join(pid.to_string()).exists();
        }
    }
    let _ = pid;
    true
}

/// Removes staging directories `.<name>.partial-<pid>` in `parent` left by
/// runs that were killed (their process no longer exists), and the
/// replaced outputs `.<name>.partial-<pid>.old` that [`Staging::commit`]
/// moves aside for the instant of the swap (a run killed then had been
/// asked to replace them). Best effort: a directory that cannot be removed
/// is left for the user.
fn remove_stale(parent: &Path, name: &str) {
    let prefix = format!(".{name}{PARTIAL}");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .map(|p| p.strip_suffix(OLD).unwrap_or(p))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && pid != std::process::id() && !may_be_alive(pid) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Where this process stages `target`: `.<name>.partial-<pid>` beside it.
fn staging_dir(target: &Path) -> PathBuf {
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    parent.join(format!(".{name}{PARTIAL}{}", std::process::id()))
}

/// Where [`Staging::commit`] moves a replaced output for the instant of the
/// swap: the staging directory's name and `.old`.
fn replaced_dir(staging: &Path) -> PathBuf {
    staging.with_file_name(format!(
        "{}{OLD}",
        staging
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ))
}

/// Held by a commit's renames and by [`abandon_staging`], so that a Ctrl-C
/// never deletes inside a directory a commit is moving into place; holds
/// the targets this process has committed (`vtsim reproduce` commits each
/// of its runs inside its own staging directory before its own output).
static COMMITTED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Cleans up after this process's [`Staging`] of `target` from another
/// thread, as the process is about to exit (on Ctrl-C): removes the
/// staging directory, after waiting for a commit in progress. Returns true
/// if the output had been committed (then nothing is removed). Best
/// effort; what is left is removed by the next run to `target`.
pub fn abandon_staging(target: &Path) -> bool {
    let committed = COMMITTED.lock().unwrap_or_else(|p| p.into_inner());
    if committed.iter().any(|t| t == target) {
        return true;
    }
    let staging = staging_dir(target);
    // The writer may still be creating files in it: try again a few times.
    for _ in 0..10 {
        match fs::remove_dir_all(&staging) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            _ => break,
        }
    }
    false
}

impl Staging {
    /// Prepares to write `target`. Fails if it exists and `force` is false,
    /// or if `force` may not replace it (see [`check_target`]).
    pub fn new(target: &Path, force: bool) -> io::Result<Staging> {
        Staging::guarding(target, force, &[], RUN_MARKERS)
    }

    /// As [`Staging::new`], also refusing a `target` that contains one of
    /// `inputs` (the files the command reads), for a command whose output
    /// directories hold one of `markers`.
    pub fn guarding(
        target: &Path,
        force: bool,
        inputs: &[&Path],
        markers: &[&str],
    ) -> io::Result<Staging> {
        check_target(target, force, inputs, markers)?;
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| named("create directory", parent, e))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        remove_stale(parent, &name);
        let staging = staging_dir(target);
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(|e| named("remove", &staging, e))?;
        }
        fs::create_dir_all(&staging).map_err(|e| named("create directory", &staging, e))?;
        Ok(Staging {
            staging,
            target: target.to_path_buf(),
            force,
        })
    }

    /// Where files are written until [`Staging::commit`].
    pub fn dir(&self) -> &Path {
        &self.staging
    }

    /// Moves the finished directory into place, replacing any old one if
    /// `force` was given. Without `force`, fails if the target has appeared
    /// since [`Staging::new`] (another run to the same `--out`), leaving it
    /// as it is.
    pub fn commit(self) -> io::Result<PathBuf> {
        let mut committed = COMMITTED.lock().unwrap_or_else(|p| p.into_inner());
        let exists = fs::symlink_metadata(&self.target).is_ok();
        if exists && !self.force {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} appeared while this command was writing (another run to the same \
                     --out?); it is left as it is and this output is discarded: choose \
                     another --out or pass --force to replace it",
                    self.target.display()
                ),
            ));
        }
        if exists {
            let old = replaced_dir(&self.staging);
            fs::rename(&self.target, &old).map_err(|e| named("move aside", &self.target, e))?;
            if let Err(e) = fs::rename(&self.staging, &self.target) {
                // Put the old directory back rather than leave nothing.
                let _ = fs::rename(&old, &self.target);
                return Err(named("install the output as", &self.target, e));
            }
            if let Err(e) = fs::remove_dir_all(&old) {
                eprintln!(
                    "warning: the new output is in {}, but the replaced one could not be removed: {}",
                    self.target.display(),
                    named("remove", &old, e)
                );
            }
        } else {
            fs::rename(&self.staging, &self.target)
                .map_err(|e| named("install the output as", &self.target, e))?;
        }
        committed.push(self.target.clone());
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

/// Writes `bytes` to `path` atomically (temporary file, then rename); an
/// error names `path`, and leaves no temporary file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            named("write", path, e)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, unique to this test.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vtsim-out-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// Writes one finished run with `file` into `target`.
    fn finished(target: &Path, force: bool, file: &str) {
        let s = Staging::new(target, force).unwrap();
        fs::write(s.dir().join(RUN_MARKERS[0]), "{}").unwrap();
        fs::write(s.dir().join(file), "x").unwrap();
        s.commit().unwrap();
    }

    #[test]
    fn refuses_existing_and_replaces_with_force() {
        let base = scratch("replace");
        let target = base.join("run");
        let s = Staging::new(&target, false).unwrap();
        fs::write(s.dir().join(RUN_MARKERS[0]), "{}").unwrap();
        fs::write(s.dir().join("a.txt"), "one").unwrap();
        assert!(
            !target.exists(),
            "nothing under the final name before commit"
        );
        s.commit().unwrap();
        assert!(Staging::new(&target, false).is_err());
        finished(&target, true, "b.txt");
        assert!(
            !target.join("a.txt").exists(),
            "old run is not mixed with the new one"
        );
        assert!(target.join("b.txt").exists());
        let names: Vec<_> = fs::read_dir(&base).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "nothing else left beside the run");
        // An abandoned staging directory is removed.
        let s = Staging::new(&base.join("abandoned"), false).unwrap();
        let dir = s.dir().to_path_buf();
        drop(s);
        assert!(!dir.exists());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn an_interrupt_after_the_commit_leaves_the_output_whole() {
        let base = scratch("interrupt-after-commit");
        let target = base.join("run");
        finished(&target, false, "a.txt");
        assert!(abandon_staging(&target), "reported as written");
        assert!(target.join("a.txt").exists() && target.join(RUN_MARKERS[0]).exists());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn an_interrupt_after_an_inner_commit_removes_the_outer_staging() {
        // `vtsim reproduce` commits each run inside its own staging
        // directory: that is not its output being written.
        let base = scratch("interrupt-after-inner-commit");
        let outer_target = base.join("reproduce");
        let outer = Staging::new(&outer_target, false).unwrap();
        finished(&outer.dir().join("run"), false, "a.txt");
        let staging = outer.dir().to_path_buf();
        assert!(!abandon_staging(&outer_target), "reported as not written");
        assert!(!staging.exists() && !outer_target.exists());
        drop(outer);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn without_force_an_output_that_appeared_meanwhile_is_kept() {
        let base = scratch("race");
        let target = base.join("run");
        // The second run checks the target before the first one commits.
        let second = Staging::new(&target, false).unwrap();
        fs::write(second.dir().join(RUN_MARKERS[0]), "second").unwrap();
        // The first run, another process, commits in the meantime (its
        // staging directory is named after its own process).
        let first = base.join(".run.partial-first");
        fs::create_dir(&first).unwrap();
        fs::write(first.join(RUN_MARKERS[0]), "first").unwrap();
        fs::rename(&first, &target).unwrap();
        let e = second.commit().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        let e = e.to_string();
        assert!(e.contains(&target.display().to_string()), "{e}");
        assert!(e.contains("--force"), "{e}");
        assert_eq!(
            fs::read_to_string(target.join(RUN_MARKERS[0])).unwrap(),
            "first"
        );
        // Even an empty directory, which a rename would silently replace.
        let empty = base.join("empty");
        let s = Staging::new(&empty, false).unwrap();
        fs::create_dir(&empty).unwrap();
        assert!(s.commit().is_err());
        assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
        let names: Vec<_> = fs::read_dir(&base).unwrap().flatten().collect();
        assert_eq!(names.len(), 2, "no staging directory left: {names:?}");
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn force_replaces_an_empty_directory() {
        let base = scratch("empty");
        let target = base.join("run");
        fs::create_dir(&target).unwrap();
        finished(&target, true, "a.txt");
        assert!(target.join("a.txt").exists());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn force_refuses_what_vtsim_did_not_write() {
        let base = scratch("foreign");
        let file = base.join("afile");
        fs::write(&file, "data").unwrap();
        let e = Staging::new(&file, true).err().unwrap().to_string();
        assert!(
            e.contains(&file.display().to_string()) && e.contains("is not a directory"),
            "{e}"
        );
        assert_eq!(fs::read_to_string(&file).unwrap(), "data");

        let notes = base.join("notes");
        fs::create_dir(&notes).unwrap();
        fs::write(notes.join("notes.txt"), "mine").unwrap();
        let e = Staging::new(&notes, true).err().unwrap().to_string();
        assert!(
            e.contains(&notes.display().to_string()) && e.contains("holds no summary.json"),
            "{e}"
        );
        assert!(notes.join("notes.txt").exists());

        // A run directory holding the command's own input.
        let run = base.join("run");
        finished(&run, false, "scenario.ron");
        let input = run.join("scenario.ron");
        let e = Staging::guarding(&run, true, &[&input], RUN_MARKERS)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("contains the input file"), "{e}");
        assert!(input.exists());
        // Every refusal comes before anything is created.
        let names: Vec<_> = fs::read_dir(&base).unwrap().flatten().collect();
        assert_eq!(names.len(), 3, "{names:?}");
        fs::remove_dir_all(&base).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn force_refuses_a_symbolic_link() {
        let base = scratch("link");
        let run = base.join("run");
        finished(&run, false, "a.txt");
        let link = base.join("link");
        std::os::unix::fs::symlink(&run, &link).unwrap();
        let e = Staging::new(&link, true).err().unwrap().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_name_that_is_no_new_directory_is_refused() {
        for t in [".", "..", "/"] {
            let e = Staging::new(Path::new(t), true).err().unwrap().to_string();
            assert!(e.contains("must name a directory"), "{t}: {e}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stale_staging_of_dead_processes_is_removed_and_live_ones_kept() {
        let base = scratch("stale");
        let mut dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        dead.wait().unwrap();
        let mut live = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let stale = base.join(format!(".run{PARTIAL}{dead_pid}"));
        let swapped = base.join(format!(".run{PARTIAL}{dead_pid}{OLD}"));
        let busy = base.join(format!(".run{PARTIAL}{}", live.id()));
        let other = base.join(format!(".other{PARTIAL}{dead_pid}"));
        for d in [&stale, &swapped, &busy, &other] {
            fs::create_dir(d).unwrap();
            fs::write(d.join("errors.csv"), "t_s\n").unwrap();
        }
        finished(&base.join("run"), false, "a.txt");
        live.kill().unwrap();
        live.wait().unwrap();
        assert!(!stale.exists(), "a dead run's staging is removed");
        assert!(!swapped.exists(), "a dead run's replaced output is removed");
        assert!(busy.exists(), "a live run's staging is kept");
        assert!(other.exists(), "only the same output's staging is touched");
        fs::remove_dir_all(&base).unwrap();
    }
}
