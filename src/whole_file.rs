//! Output files written whole or not at all: beside their place, then renamed over it.
//!
//! Why: a command that empties a file and then writes it (`minichain export FILE`,
//! `minichain bench --plot FILE`) loses the file's old content to anything that stops
//! it halfway (Ctrl-C, a full disk, a file-size limit), and leaves a cut-off file that
//! looks like output. Written to a temporary file in the same directory and renamed
//! over the old one only once complete and on disk, the old file stays whole until
//! the new one replaces it in one step.
//!
//! What that costs: the directory must be writable (not only the file), and the disk
//! must hold both files until the rename. The new file is a new inode: another hard
//! link to the old one keeps the old content, and its owner and mode are carried over
//! (the owner only where this process may set it: as root). A file that is not
//! writable is refused, as writing it in place would be. The temporary file is removed
//! on an error; a process killed outright leaves it behind, named `.NAME.*.part`
//! beside NAME, and the next write of NAME removes such files once they are
//! [`LEFTOVER_AGE`] old.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How old a temporary file must be before a later write removes it as a leftover of
/// a process killed while it wrote: far longer than any write here takes, so that a
/// write still running in another process keeps its file.
pub const LEFTOVER_AGE: Duration = Duration::from_secs(600);

/// Writes the regular file at `path` whole: `write` fills a new file beside it, which
/// is then synced and renamed over `path` (a link is followed, and the file it leads
/// to replaced or created; the link stays). An existing file's mode (and owner, where
/// this process may set it) is kept; a new one gets the usual `0o666` less the umask.
///
/// # Errors
/// `InvalidInput` when `path` exists and is not a regular file (a directory, a pipe,
/// a device: write those directly); `PermissionDenied` when it is a file this process
/// may not write; otherwise whatever creating, writing, syncing or renaming failed
/// with, or `write`'s error. `path` is then as it was.
pub fn replace(path: &Path, write: impl FnOnce(&mut fs::File) -> io::Result<()>) -> io::Result<()> {
    let target = destination(path);
    let existing = existing_file(&target)?;
    let dir = directory_of(&target);
    let prefix = format!(".{}.", file_name(&target));
    remove_old_files(dir, LEFTOVER_AGE, |name| {
        name.starts_with(&prefix) && name.ends_with(".part")
    });
    let mut temp = temp_file_beside(&target)?;
    if let Some(meta) = existing {
        use std::os::unix::fs::MetadataExt;
        // The owner first (only root may give a file away; others keep their own),
        // then the mode, which a change of owner may clear bits of.
        let _ = std::os::unix::fs::fchown(temp.as_file(), Some(meta.uid()), Some(meta.gid()));
        temp.as_file().set_permissions(meta.permissions())?;
    }
    write(temp.as_file_mut())?;
    temp.as_file_mut().flush()?;
    temp.as_file().sync_all()?;
    temp.persist(&target).map_err(|err| err.error)?;
    // The new name is durable once the directory is (best effort: the file is whole
    // either way).
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Whether [`replace`] could write `path`, asked before the work that makes the
/// content (a long run, say) rather than after it: the same refusals, and a file made
/// and removed again in the directory the new file would go to.
///
/// # Errors
/// As [`replace`]'s before it writes.
pub fn check(path: &Path) -> io::Result<()> {
    let target = destination(path);
    existing_file(&target)?;
    temp_file_beside(&target).map(drop)
}

/// The file at `target` that [`replace`] would replace, if there is one: refused
/// when it is not a regular file, or one this process may not write.
fn existing_file(target: &Path) -> io::Result<Option<fs::Metadata>> {
    match fs::metadata(target) {
        Ok(meta) if !meta.is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )),
        Ok(meta) => {
            // Written in place, a read-only file would refuse the write: so here.
            // (Opened for writing, not emptied: the check the kernel would make.)
            match fs::OpenOptions::new().write(true).open(target) {
                Err(err) if err.kind() == io::ErrorKind::PermissionDenied => Err(err),
                _ => Ok(Some(meta)),
            }
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// The directory `target` is in (`.` for a bare name).
fn directory_of(target: &Path) -> &Path {
    match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// `target`'s file name, as text (lossy; empty for none).
fn file_name(target: &Path) -> String {
    target
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
}

/// Removes the regular files in `dir` whose names `leftover` accepts and that were
/// last written at least `age` ago. By age rather than by whether the process that
/// made them runs: a process in another PID namespace (a container sharing the
/// directory), or a `/proc` that is not mounted, would make a live one look dead.
/// Best effort: a file that cannot be removed stays.
pub(crate) fn remove_old_files(dir: &Path, age: Duration, leftover: impl Fn(&str) -> bool) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_str().is_some_and(&leftover) {
            continue;
        }
        let old = entry.metadata().is_ok_and(|meta| {
            meta.is_file()
                && meta
                    .modified()
                    .is_ok_and(|modified| modified.elapsed().is_ok_and(|passed| passed >= age))
        });
        if old {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A new temporary file beside `target`, named `.NAME.*.part`, removed when dropped.
fn temp_file_beside(target: &Path) -> io::Result<tempfile::NamedTempFile> {
    let name = file_name(target);
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(directory_of(target))
}

/// Where a write to `path` lands: its canonical form (links followed), or, when it
/// does not resolve (missing, or a link to a missing file), the end of its chain of
/// links (at most 40, as the kernel follows), itself when it is no link. `replace`
/// writes there, so that a link stays a link; the store's guard looks there for a
/// store's name.
pub fn destination(path: &Path) -> PathBuf {
    if let Ok(resolved) = fs::canonicalize(path) {
        return resolved;
    }
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        let Ok(target) = fs::read_link(&at) else {
            break;
        };
        at = match at.parent() {
            Some(parent) if target.is_relative() => parent.join(target),
            _ => target,
        };
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `dir`, sorted.
    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("lists")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// A write removes the temporary files that writes of the same name left at least
    /// [`LEFTOVER_AGE`] ago (killed outright), and keeps a recent one (a write that may
    /// still run) and others' files. Before, each killed export left one for good.
    #[test]
    fn old_leftovers_of_the_same_name_are_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = |name: &str, age: Duration| {
            let path = dir.path().join(name);
            let written = fs::File::create(&path).expect("creates");
            let at = std::time::SystemTime::now() - age;
            written.set_modified(at).expect("sets the time");
        };
        let hour = Duration::from_secs(3600);
        file(".out.json.old1.part", hour);
        file(".out.json.new1.part", Duration::ZERO);
        file(".other.json.old2.part", hour);
        file(".out.json.old3.kept", hour);
        replace(&dir.path().join("out.json"), |f| f.write_all(b"{}")).expect("writes");
        assert_eq!(
            names_in(dir.path()),
            [
                ".other.json.old2.part",
                ".out.json.new1.part",
                ".out.json.old3.kept",
                "out.json"
            ]
        );
    }

    /// A write that fails halfway leaves the old file whole and no temporary file; one
    /// that succeeds replaces it, keeps its permissions, and writes through a link.
    #[test]
    fn a_file_is_replaced_whole_or_not_at_all() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.json");
        fs::write(&path, "old content").expect("writes");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");

        let failed = replace(&path, |file| {
            file.write_all(b"half of the new")?;
            Err(io::Error::other("stopped halfway"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read_to_string(&path).expect("reads"), "old content");
        assert_eq!(names_in(dir.path()), ["out.json"], "no temporary file left");

        replace(&path, |file| file.write_all(b"new content")).expect("replaces");
        assert_eq!(fs::read_to_string(&path).expect("reads"), "new content");
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "permissions kept");
        assert_eq!(names_in(dir.path()), ["out.json"]);

        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&path, &link).expect("links");
        replace(&link, |file| file.write_all(b"through the link")).expect("replaces");
        assert!(
            fs::symlink_metadata(&link)
                .expect("stat")
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::read_to_string(&path).expect("reads"),
            "through the link"
        );

        let new = dir.path().join("new.svg");
        replace(&new, |file| file.write_all(b"<svg/>")).expect("creates");
        assert_eq!(fs::read_to_string(&new).expect("reads"), "<svg/>");

        // A link to a missing file: the file is created where it leads.
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink(dir.path().join("later.json"), &dangling).expect("links");
        replace(&dangling, |file| file.write_all(b"made")).expect("creates");
        assert!(
            fs::symlink_metadata(&dangling)
                .expect("stat")
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("later.json")).expect("reads"),
            "made"
        );
    }

    /// A file this process may not write is refused and left as it was (as root, who
    /// may write any file, the mode alone does not refuse it: then it is replaced).
    #[test]
    fn a_read_only_file_is_not_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kept.json");
        fs::write(&path, "kept").expect("writes");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).expect("chmod");
        let writable = fs::OpenOptions::new().write(true).open(&path).is_ok();
        let result = replace(&path, |file| file.write_all(b"new"));
        if writable {
            result.expect("root may write it");
        } else {
            assert_eq!(
                result.expect_err("read-only").kind(),
                io::ErrorKind::PermissionDenied
            );
            assert_eq!(fs::read_to_string(&path).expect("reads"), "kept");
        }
    }

    /// A directory (or a pipe, a device) is not replaced.
    #[test]
    fn only_regular_files_are_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let refused = replace(dir.path(), |file| file.write_all(b"x"));
        assert_eq!(
            refused.expect_err("a directory").kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
