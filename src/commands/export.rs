//! `minichain export`: a data directory's chain written to a file, byte for byte as a
//! node on that directory answers `GET /api/blocks` (or as its Redis message).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use minichain::chain::ValidChain;
use minichain::node::chain_json::{Cursor, Form};
use minichain::store::ChainStore;
use minichain::whole_file;

/// Export a data directory's chain to FILE (`-` for standard output): by default
/// `{"chain": [...]}` exactly as GET /api/blocks answers, or with --dialect python the
/// bare array a Redis message carries. The store is checked as a node checks it at
/// start; one a running node holds is refused (ask the node: GET /api/blocks). A store
/// you may only read is opened read-only and never changed (one a crash left needing
/// repair is then refused). A file is written whole beside FILE and then put in its
/// place, so an export stopped halfway leaves FILE as it was; a pipe or a device is
/// written as the chain goes. Progress goes to stderr.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Where to write the chain, or `-` for standard output.
    file: String,
    /// The data directory (default: the node's, $XDG_DATA_HOME/minichain).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// `api`: `{"chain":[...]}`, compact (GET /api/blocks); `python`: `[...]` in
    /// Python's json.dumps dialect (the Redis message).
    #[arg(long, value_enum, default_value_t = ExportDialect::Api)]
    dialect: ExportDialect,
}

/// `--dialect`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportDialect {
    /// `{"chain":[...]}`, compact.
    Api,
    /// `[...]` in Python's dialect.
    Python,
}

/// Runs `minichain export`.
pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => super::node::default_data_dir()?,
    };
    let started = Instant::now();
    if args.file != "-" {
        refuse_a_store(Path::new(&args.file))?;
    }
    if !dir.join(minichain::store::FILE_NAME).exists() {
        anyhow::bail!(
            "{} holds no store ({} is missing)",
            dir.display(),
            minichain::store::FILE_NAME
        );
    }
    let chain = ChainStore::read(&dir)?;
    let form = match args.dialect {
        ExportDialect::Api => Form::Body,
        ExportDialect::Python => Form::Message,
    };
    let cannot = || format!("cannot write {}", super::shown_path(&args.file));
    let path = Path::new(&args.file);
    let bytes = if args.file == "-" {
        let stdout = std::io::stdout();
        refuse_a_store_handle(&stdout, "standard output")?;
        write_chain(&chain, form, &mut stdout.lock()).with_context(cannot)?
    } else if std::fs::metadata(path).is_ok_and(|meta| !meta.is_file())
        || path.starts_with("/dev")
        || path.starts_with("/proc")
    {
        // A pipe or a device (/dev/null, say), or a name for an open file
        // (/dev/stdout, /proc/self/fd/N: replacing what it leads to would take the
        // file from under whoever holds it open): written as it goes.
        write_chain(&chain, form, &mut open_output(path)?).with_context(cannot)?
    } else {
        // A file: written whole beside it, then put in its place, so that a stopped
        // export (Ctrl-C, a full disk) leaves the old file as it was.
        let mut bytes = 0;
        whole_file::replace(path, |file| {
            bytes = write_chain(&chain, form, file)?;
            // Checked again just before the file takes its place: a store put there
            // while the chain was written is not replaced.
            if minichain::store::looks_like_a_store(path) {
                return Err(std::io::Error::other(
                    "it is a store now: export writes JSON and would destroy it",
                ));
            }
            Ok(())
        })
        .with_context(cannot)?;
        bytes
    };
    eprintln!(
        "export: {} blocks, {bytes} bytes in {:.1} s",
        chain.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `form` of `chain` to `out` in pieces of a megabyte, telling progress on
/// stderr every two seconds: the bytes written.
fn write_chain(chain: &ValidChain, form: Form, out: &mut impl Write) -> std::io::Result<u64> {
    let mut cursor = Cursor::default();
    let mut piece = Vec::with_capacity(1 << 20);
    let mut last = Instant::now();
    let mut bytes = 0u64;
    while !cursor.is_done() {
        piece.clear();
        cursor.fill(chain, form, &mut piece, 1 << 20);
        out.write_all(&piece)?;
        bytes += piece.len() as u64;
        if last.elapsed() > Duration::from_secs(2) {
            last = Instant::now();
            eprintln!("export: {bytes} bytes written");
        }
    }
    out.flush()?;
    Ok(bytes)
}

/// Refuses an output path that is a store, by its name or its header, through any
/// link (see [`looks_like_a_store`](minichain::store::looks_like_a_store)): export
/// writes JSON, and writing it over a store (this directory's, whose lock is released
/// once the chain is read, or a running node's) would destroy that chain. Checked
/// before the store is read, to fail at once; [`open_output`] checks again what it opens.
fn refuse_a_store(file: &Path) -> anyhow::Result<()> {
    if minichain::store::looks_like_a_store(file) {
        anyhow::bail!(
            "{} is a store: export writes JSON and would destroy it; choose another file",
            super::shown_path(file)
        );
    }
    Ok(())
}

/// Opens `path`, a pipe or a device, for the export: checked again by name, opened
/// without truncating, then checked through the handle (what the path led to when
/// opened, whatever was swapped in since the first check), and only then emptied if it
/// turned out to be a regular file. A file this created and then refused is removed.
fn open_output(path: &Path) -> anyhow::Result<std::fs::File> {
    refuse_a_store(path)?;
    let existed = std::fs::symlink_metadata(path).is_ok();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot create {}", super::shown_path(path)))?;
    if let Err(refused) = refuse_a_store_handle(&file, &super::shown_path(path)) {
        if !existed && file.metadata().is_ok_and(|meta| meta.len() == 0) {
            let _ = std::fs::remove_file(path);
        }
        return Err(refused);
    }
    // (A pipe or a device, /dev/null say, has nothing to empty.)
    if file.metadata().is_ok_and(|meta| meta.is_file()) {
        file.set_len(0)
            .with_context(|| format!("cannot empty {}", super::shown_path(path)))?;
    }
    Ok(file)
}

/// Refuses an open handle (a file, or standard output) that is a store: the store's
/// header at its start, or, on Linux, the file it reaches named as a store.
fn refuse_a_store_handle(handle: &impl std::os::fd::AsFd, what: &str) -> anyhow::Result<()> {
    let fd = handle.as_fd();
    let reached = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ));
    let named = reached.is_ok_and(|target| minichain::store::is_store_name(&target));
    // A second handle on the same open file: reading at an offset moves no position.
    let headed = fd
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .is_ok_and(|file| minichain::store::has_store_header(&file));
    if named || headed {
        anyhow::bail!(
            "{what} is a store: export writes JSON and would destroy it; choose another file"
        );
    }
    Ok(())
}
