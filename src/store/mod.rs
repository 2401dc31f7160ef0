//! The node's chain on disk: an embedded, crash-safe store (redb) that a restarted node
//! reads its chain back from.
//!
//! Why this shape:
//! - **One file, one writer.** `DIR/chain.redb` holds table `blocks` (height → one
//!   [`record`] per block) and table `meta` (the [`TipRecord`]: length, tip hash,
//!   cumulative work). redb locks the file, so a second node on the same directory is
//!   refused at start instead of interleaving writes.
//! - **Every change is one transaction, committed with `Durability::Immediate`**
//!   (fsync before [`ChainStore::append`] or [`ChainStore::replace`] returns). A mined
//!   block is one small transaction (one record and the tip); a better chain replaces
//!   only the suffix that differs, deletes the stale tail and rewrites the tip in the
//!   same transaction, so after a crash at any instant the file holds the old chain or
//!   the new one, never a mix.
//! - **Nothing is trusted at start.** [`ChainStore::open`] has redb verify every page's
//!   checksum, decodes every record (version byte first), validates the whole chain
//!   under the strict rules (hashes recomputed in parallel; the future-timestamp
//!   limit, an admission rule, excepted: see `STORED_CLOCK`) and checks the tip record
//!   against the blocks. Any failure is a [`StoreError`] that names the damage: a node
//!   never serves a chain it cannot vouch for.
//! - **A new store appears whole.** It is built under a temporary name, with genesis
//!   and its tip, and renamed into place, so an existing `chain.redb` that is empty or
//!   lacks its tables is damage, not a store that was never written.
//!
//! It depends on [`chain`](crate::chain) only.

pub mod meta;
pub mod record;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition,
    TableError,
};

pub use self::meta::MetaKeys;
pub use self::record::{RecordError, TipRecord};
use crate::chain::{Block, RuleSet, ValidChain, ValidationError};
use crate::clip::{clip, clip_to};
use crate::whole_file;

/// Records decoded together at start (in parallel), bounding the raw bytes held.
const DECODE_CHUNK: usize = 4096;

/// Blocks written per transaction by [`ChainStore::write_new`].
const IMPORT_BATCH: usize = 16384;

/// The clock the stored chain is validated under at start: none. The strict rules'
/// future-timestamp limit is an admission rule, judged once against the clock of the
/// moment a block arrived; re-judged at start, a good store would be refused (and the
/// node would not start, nor `minichain export` read it) whenever the clock had gone
/// back since a block near the limit was accepted (an NTP step, a board without a
/// battery-backed clock). It catches no damage: the timestamp is a hashed field.
/// `u64::MAX` saturates the limit, so every other strict rule still applies.
const STORED_CLOCK: u64 = u64::MAX;

/// The store's file name inside the data directory.
pub const FILE_NAME: &str = "chain.redb";

/// The first bytes of every store file: redb's file header (its magic number), which
/// [`looks_like_a_store`] reads, and a test checks against a store written here.
const STORE_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Whether `path` (links followed) is, or would stand as, a store: named [`FILE_NAME`]
/// or starting with the store's file header. For a command that is about to write over
/// `path`: whatever its name, and by whichever link it is reached (a dangling one too),
/// a store must not be overwritten, nor a file planted where a node looks for one.
pub fn looks_like_a_store(path: &Path) -> bool {
    // Only a regular file is opened to read its header: opening a named pipe to read
    // would wait for a writer, and no store is one.
    is_store_name(&whole_file::destination(path))
        || (fs::metadata(path).is_ok_and(|meta| meta.is_file())
            && fs::File::open(path).is_ok_and(|file| has_store_header(&file)))
}

/// Whether the open `file` starts with the store's header (read at offset 0 without
/// moving the file's position, so a handle about to be written can be checked).
pub fn has_store_header(file: &fs::File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; STORE_MAGIC.len()];
    file.read_exact_at(&mut head, 0).is_ok() && head == STORE_MAGIC
}

/// Whether `path`'s last part is [`FILE_NAME`].
pub fn is_store_name(path: &Path) -> bool {
    path.file_name() == Some(std::ffi::OsStr::new(FILE_NAME))
}

/// Where a new store is built before it is renamed to [`FILE_NAME`].
const NEW_FILE_NAME: &str = "chain.redb.new";

/// Table `blocks`: height → block record.
pub const BLOCKS: TableDefinition<'static, u64, &[u8]> = TableDefinition::new("blocks");

/// Table `meta`: name → record; the one row is [`TIP_KEY`].
pub const META: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("meta");

/// The `meta` row holding the [`TipRecord`].
pub const TIP_KEY: &str = "tip";

/// redb's page cache: small, since the chain is read once at start (sequentially) and
/// the node serves it from memory afterwards; writes touch a few pages at the end.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// How many characters of a block hash an [`StoreError::OutOfStep`] shows: enough to
/// tell two chains apart.
pub const SHORT_HASH: usize = 16;

/// Why the store cannot be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory cannot be created or the file set up in it.
    #[error("cannot set up the data directory {path}: {cause}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// Another process holds the store open.
    #[error(
        "the store {path} is in use by another process (another node on the same data \
         directory? give each node its own --data-dir)"
    )]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The file cannot be read or written at all (permissions, a read-only or full
    /// file system): nothing says it is damaged.
    #[error("the store {path} cannot be read or written: {cause}")]
    Access {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The store was not closed cleanly (a node stopped by a crash or a kill) and
    /// needs the repair redb makes when it opens a store for writing, which this
    /// process may not do (read-only file or file system).
    #[error(
        "the store {path} was not closed cleanly and needs the repair a node makes when it \
         starts on it, which needs write access; start a node on it once, or copy it somewhere \
         writable"
    )]
    NeedsRepair {
        /// The file.
        path: PathBuf,
    },
    /// redb cannot open the file (it is not a redb database, a checksum fails, ...).
    #[error("the store {path} cannot be opened (damaged?): {cause}")]
    Open {
        /// The file.
        path: PathBuf,
        /// redb's reason.
        cause: redb::Error,
    },
    /// The file opened but what it holds is not a chain this node can vouch for.
    #[error("the store {path} is damaged: {damage}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        damage: Damage,
    },
    /// Opening the store panicked inside redb (a damaged file it did not catch).
    #[error("the store {path} is damaged: reading it failed ({message})")]
    Panicked {
        /// The file.
        path: PathBuf,
        /// The panic's message.
        message: String,
    },
    /// A write transaction panicked inside redb (a page damaged since the store was
    /// opened): the change is not stored (nor installed).
    #[error("the store {path} could not be written: redb panicked ({message})")]
    WritePanicked {
        /// The file.
        path: PathBuf,
        /// The panic's message.
        message: String,
    },
    /// A write transaction failed: the change is not stored (nor installed).
    #[error("the store {path} could not be written: {cause}")]
    Write {
        /// The file.
        path: PathBuf,
        /// redb's reason.
        cause: redb::Error,
    },
    /// The store does not hold the chain the writer believes it holds (a bug): its tip
    /// record names another length or another last block.
    #[error(
        "the store {path} holds {stored} blocks ending in {stored_tip} where the node's \
         chain has {expected} ending in {expected_tip}: refusing to write out of step"
    )]
    OutOfStep {
        /// The file.
        path: PathBuf,
        /// Blocks the tip record counts.
        stored: u64,
        /// Blocks the writer expected.
        expected: u64,
        /// The stored last block's hash, cut to [`SHORT_HASH`] characters.
        stored_tip: String,
        /// The last block's hash the writer expected, cut the same way.
        expected_tip: String,
    },
}

impl StoreError {
    /// The store at `path` is damaged: `damage`.
    fn damaged(path: &Path, damage: Damage) -> StoreError {
        StoreError::Damaged {
            path: path.to_owned(),
            damage,
        }
    }
}

/// What is wrong with a store that opened.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    /// The file is there but empty.
    #[error("the file is empty")]
    Empty,
    /// A table is missing.
    #[error("table {0:?} is missing")]
    MissingTable(&'static str),
    /// The tip record is missing.
    #[error("the tip record is missing")]
    MissingTip,
    /// The tip record cannot be read.
    #[error("tip record: {0}")]
    Tip(RecordError),
    /// A block record cannot be read.
    #[error("block {index}: {cause}")]
    Block {
        /// Its height.
        index: u64,
        /// Why.
        cause: RecordError,
    },
    /// Heights are not 0, 1, 2, ... without gaps.
    #[error("block {found} is stored where block {expected} should be")]
    Gap {
        /// The height that should come next.
        expected: u64,
        /// The height found.
        found: u64,
    },
    /// The blocks do not form a valid chain.
    #[error("the stored chain is invalid: {0}")]
    Invalid(ValidationError),
    /// The tip record disagrees with the blocks.
    #[error("the tip record says {meta}, the blocks say {blocks}")]
    TipMismatch {
        /// What the record says.
        meta: String,
        /// What the blocks add up to.
        blocks: String,
    },
    /// redb failed while reading (a checksum, a page, ...).
    #[error("{0}")]
    Storage(redb::Error),
}

/// The open store. Only the node's chain writer holds it (redb allows one write
/// transaction at a time, and the writer is the one thread that changes the chain).
#[derive(Debug)]
pub struct ChainStore {
    db: Arc<Database>,
    path: PathBuf,
}

impl ChainStore {
    /// Opens (or creates, holding genesis) the store in `dir` and reads its chain back,
    /// checked as described in the module doc.
    ///
    /// # Errors
    /// [`StoreError`] when the directory cannot be set up, another process holds the
    /// store, or the store is damaged in any way.
    pub fn open(dir: &Path) -> Result<(ChainStore, ValidChain), StoreError> {
        let path = dir.join(FILE_NAME);
        // An import's file is never used or removed here (the import may be running),
        // but one a stopped import left holds disk space the user may want back.
        if let Ok(meta) = fs::metadata(dir.join(NEW_FILE_NAME)) {
            tracing::warn!(
                file = %dir.join(NEW_FILE_NAME).display(),
                bytes = meta.len(),
                "a store being imported, or left by an import that was stopped: \
                 not used; run the import again, or remove the file for its space"
            );
        }
        std::panic::catch_unwind(|| open_checked(dir, &path)).unwrap_or_else(|panic| {
            Err(StoreError::Panicked {
                path,
                message: panic_message(panic.as_ref()),
            })
        })
    }

    /// Reads the chain of the store in `dir` for a reader that changes nothing (such as
    /// `minichain export`), checked as [`ChainStore::open`] checks it; never creates one.
    ///
    /// Why two ways: opened for writing, redb verifies every page's checksum and repairs
    /// a store a crash left, as a node's start does, so that is the way whenever this
    /// process may write the file. A store the user may only read (its mode, a read-only
    /// file system) is opened read-only instead: every record is still decoded and the
    /// whole chain validated, but a store that needs a repair is refused
    /// ([`StoreError::NeedsRepair`]).
    ///
    /// # Errors
    /// [`StoreError`] as for [`ChainStore::open`], and [`StoreError::Access`] when the
    /// file cannot even be read.
    pub fn read(dir: &Path) -> Result<ValidChain, StoreError> {
        let path = dir.join(FILE_NAME);
        let read = || {
            let writable = fs::OpenOptions::new().read(true).write(true).open(&path);
            match writable {
                Ok(file) => {
                    drop(file);
                    open_checked(dir, &path).map(|(_store, chain)| chain)
                }
                Err(cause) if is_access(&cause) && path.is_file() => read_only(&path),
                Err(cause) => Err(StoreError::Access {
                    path: path.clone(),
                    cause,
                }),
            }
        };
        std::panic::catch_unwind(read).unwrap_or_else(|panic| {
            Err(StoreError::Panicked {
                path: path.clone(),
                message: panic_message(panic.as_ref()),
            })
        })
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle on the `meta` table's free-form keys (such as where the node stopped
    /// reading the block log), usable from any thread while the writer holds the store.
    pub fn meta_keys(&self) -> MetaKeys {
        MetaKeys::new(&self.db, self.path.clone())
    }

    /// Stores `chain`'s tip block: `chain` is the stored chain plus that one block.
    /// One small transaction (one record and the tip record), durable on return.
    ///
    /// # Errors
    /// [`StoreError::Write`] when the transaction fails; [`StoreError::OutOfStep`]
    /// when the store does not hold the chain minus its tip.
    pub fn append(&self, chain: &ValidChain) -> Result<(), StoreError> {
        let blocks = chain.blocks();
        let index = blocks.len() - 1;
        self.write(|txn| {
            // The chain is valid: its tip's prev_hash is the hash of the block before.
            self.check_tip(txn, index as u64, &chain.tip().prev_hash)?;
            txn.open_table(BLOCKS)
                .and_then(|mut table| {
                    table.insert(index as u64, record::encode_block(chain.tip()).as_slice())?;
                    Ok(())
                })
                .map_err(|e| self.write_error(e))?;
            self.put_tip(txn, chain)
        })
    }

    /// Replaces the stored chain `old` by `new` in one transaction: only blocks that
    /// differ are written, the stale tail is deleted, and the tip record rewritten, so
    /// after a crash the store holds `old` or `new` whole. Durable on return.
    ///
    /// # Errors
    /// [`StoreError::Write`] when the transaction fails (the store still holds `old`);
    /// [`StoreError::OutOfStep`] when it does not hold `old`.
    pub fn replace(&self, old: &ValidChain, new: &ValidChain) -> Result<(), StoreError> {
        let common = old.blocks().common_records(new.blocks());
        self.write(|txn| {
            self.check_tip(txn, old.len() as u64, &old.tip().hash)?;
            txn.open_table(BLOCKS)
                .and_then(|mut table| {
                    for (i, block) in new.blocks().iter_from(common).enumerate() {
                        let record = record::encode_view(&block);
                        table.insert((common + i) as u64, record.as_slice())?;
                    }
                    for i in new.len()..old.len() {
                        table.remove(i as u64)?;
                    }
                    Ok(())
                })
                .map_err(|e| self.write_error(e))?;
            self.put_tip(txn, new)
        })
    }

    /// Writes `chain` as a new store in `dir`, replacing whatever store is there: built
    /// under a temporary name (in transactions of `IMPORT_BATCH` blocks, made
    /// durable by the last) and renamed into place, so a crash leaves the old store or
    /// the new one. `progress` is told the blocks written so far after each batch.
    /// A store a process holds is refused, and the store is held while the new one is
    /// built (see `hold_target`), so no node runs on a file about to be renamed over.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another process holds the store;
    /// [`StoreError::Io`] or [`StoreError::Write`] when the file cannot be built.
    pub fn write_new(
        dir: &Path,
        chain: &ValidChain,
        mut progress: impl FnMut(usize),
    ) -> Result<(), StoreError> {
        let path = dir.join(FILE_NAME);
        let tmp = dir.join(NEW_FILE_NAME);
        let io = |at: &Path| {
            let at = at.to_owned();
            move |cause| StoreError::Io { path: at, cause }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let held = hold_target(dir, &path)?;
        // A store not built whole is removed: left behind, it would hold its disk space
        // (all of it, after a full disk) until the next import.
        let built = fresh_store(tmp.clone()).and_then(|store| {
            store.fill_new(chain, &mut progress)?;
            Ok(store)
        });
        let store = match built {
            Ok(store) => store,
            Err(err) => {
                let _ = fs::remove_file(&tmp);
                return Err(err);
            }
        };
        let ChainStore { db, path: tmp } = store;
        drop(db);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        // The replaced file is released only now that the new one is in place.
        drop(held);
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        Ok(())
    }

    /// Writes `chain` into this new, empty store (see [`ChainStore::write_new`]).
    fn fill_new(
        &self,
        chain: &ValidChain,
        progress: &mut impl FnMut(usize),
    ) -> Result<(), StoreError> {
        let mut written = 0;
        while written < chain.len() {
            let end = (written + IMPORT_BATCH).min(chain.len());
            let last = end == chain.len();
            let mut txn = self.db.begin_write().map_err(|e| self.write_error(e))?;
            let durability = if last {
                Durability::Immediate
            } else {
                Durability::None
            };
            txn.set_durability(durability)
                .map_err(|e| self.write_error(e))?;
            // The commit that makes the store whole, in two phases as every later one
            // (see `ChainStore::write`).
            txn.set_two_phase_commit(last);
            txn.open_table(BLOCKS)
                .and_then(|mut table| {
                    for (i, block) in chain
                        .blocks()
                        .iter_from(written)
                        .take(end - written)
                        .enumerate()
                    {
                        let record = record::encode_view(&block);
                        table.insert((written + i) as u64, record.as_slice())?;
                    }
                    Ok(())
                })
                .map_err(|e| self.write_error(e))?;
            if last {
                self.put_tip(&txn, chain)?;
            }
            txn.commit().map_err(|e| self.write_error(e))?;
            written = end;
            progress(written);
        }
        Ok(())
    }

    /// Runs `fill` in a write transaction and commits it with immediate durability, in
    /// two phases.
    ///
    /// Why two phases: with one, a store whose newest commit is damaged after a crash
    /// (a torn or corrupted page) is quietly repaired back to the commit before it, and
    /// opens one block short, the block its node had acknowledged gone without a word
    /// (a review flipped bytes of a crashed store: 138 of 470 offsets did that). With
    /// two, redb refuses such a store, and the node says so instead of starting. The
    /// price is a second sync per commit.
    ///
    /// Why panics are caught: redb may panic on a page damaged since the store was
    /// opened, as it may while opening one (see [`ChainStore::open`]). Uncaught, the
    /// panic would end the node's chain-writer thread, and the node would run on with
    /// nothing to keep its blocks, healthy to a supervisor; caught, it is a failed write,
    /// which marks the store failing (`/healthz` answers 503) and installs nothing.
    fn write(
        &self,
        fill: impl FnOnce(&redb::WriteTransaction) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let attempt = || {
            let mut txn = self.db.begin_write().map_err(|e| self.write_error(e))?;
            txn.set_durability(Durability::Immediate)
                .map_err(|e| self.write_error(e))?;
            txn.set_two_phase_commit(true);
            fill(&txn)?;
            txn.commit().map_err(|e| self.write_error(e))
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(attempt)).unwrap_or_else(|panic| {
            Err(StoreError::WritePanicked {
                path: self.path.clone(),
                message: panic_message(panic.as_ref()),
            })
        })
    }

    /// Checks, inside the write transaction, that the store holds `len` blocks ending in
    /// `tip_hash`: the chain the writer is about to extend or replace. A length alone
    /// would let a write land on another chain of the same length, leaving a store that
    /// no longer links up and that the next start refuses.
    fn check_tip(
        &self,
        txn: &redb::WriteTransaction,
        len: u64,
        tip_hash: &str,
    ) -> Result<(), StoreError> {
        let table = txn.open_table(META).map_err(|e| self.write_error(e))?;
        let guard = table
            .get(TIP_KEY)
            .map_err(|e| self.write_error(e))?
            .ok_or_else(|| StoreError::damaged(&self.path, Damage::MissingTip))?;
        let stored = record::decode_tip(guard.value())
            .map_err(|e| StoreError::damaged(&self.path, Damage::Tip(e)))?;
        if stored.len == len && stored.tip_hash == tip_hash {
            Ok(())
        } else {
            Err(StoreError::OutOfStep {
                path: self.path.clone(),
                stored: stored.len,
                expected: len,
                stored_tip: clip_to(&stored.tip_hash, SHORT_HASH).into_owned(),
                expected_tip: clip_to(tip_hash, SHORT_HASH).into_owned(),
            })
        }
    }

    fn put_tip(&self, txn: &redb::WriteTransaction, chain: &ValidChain) -> Result<(), StoreError> {
        let tip = record::encode_tip(&TipRecord::of(chain));
        txn.open_table(META)
            .and_then(|mut table| {
                table.insert(TIP_KEY, tip.as_slice())?;
                Ok(())
            })
            .map_err(|e| self.write_error(e))
    }

    fn write_error(&self, source: impl Into<redb::Error>) -> StoreError {
        StoreError::Write {
            path: self.path.clone(),
            cause: source.into(),
        }
    }
}

/// Creates the store if there is none, then opens and checks it.
fn open_checked(dir: &Path, path: &Path) -> Result<(ChainStore, ValidChain), StoreError> {
    let io = |at: &Path| {
        let at = at.to_owned();
        move |cause| StoreError::Io { path: at, cause }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    match fs::metadata(path) {
        Ok(meta) if meta.len() == 0 => {
            return Err(StoreError::damaged(path, Damage::Empty));
        }
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => create_new(dir, path)?,
        Err(err) => return Err(io(path)(err)),
    }
    let started = std::time::Instant::now();
    let db = builder().open(path).map_err(|err| open_error(path, err))?;
    let opened = started.elapsed();
    let chain = read_chain(&db).map_err(|damage| StoreError::damaged(path, damage))?;
    tracing::debug!(
        open_ms = opened.as_millis() as u64,
        read_ms = (started.elapsed() - opened).as_millis() as u64,
        "store opened (pages checked) and its chain read back (decoded, validated)"
    );
    Ok((
        ChainStore {
            db: Arc::new(db),
            path: path.to_owned(),
        },
        chain,
    ))
}

/// The message of a panic caught while redb read a store.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Reads the chain of the store at `path` without opening it for writing (see
/// [`ChainStore::read`]).
fn read_only(path: &Path) -> Result<ValidChain, StoreError> {
    let db = builder().open_read_only(path).map_err(|err| match err {
        DatabaseError::RepairAborted => StoreError::NeedsRepair {
            path: path.to_owned(),
        },
        other => open_error(path, other),
    })?;
    read_chain(&db).map_err(|damage| StoreError::damaged(path, damage))
}

/// redb's settings: every page's checksum verified at open (a damaged file is refused
/// rather than trusted), a bounded cache.
fn builder() -> redb::Builder {
    let mut builder = Database::builder();
    builder
        .set_check_integrity_on_open(true)
        .set_cache_size(CACHE_BYTES);
    builder
}

/// Holds the store at `path` open (its lock) for [`ChainStore::write_new`], creating
/// one holding genesis if there is none.
///
/// Why: without it, a node started while a long import builds the new file opens the
/// old one (or creates one, its own temporary file removing the import's) and keeps
/// storing what it mines or adopts into a file that the import then renames over:
/// every block it acknowledged is gone at its next start. Held, the node is refused
/// (`Locked`) until the new store is in place. `None` when the file is there but redb
/// cannot open it (a damaged store being replaced): no node can open it either.
///
/// # Errors
/// [`StoreError::Locked`] when another process holds the store; [`StoreError::Io`] or
/// [`StoreError::Write`] when a missing one cannot be created.
fn hold_target(dir: &Path, path: &Path) -> Result<Option<Database>, StoreError> {
    match fs::metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => create_new(dir, path)?,
        Ok(_) | Err(_) => {}
    }
    // Only the lock is wanted: no page check (the file is about to be replaced, and
    // checking every page of a large store would add a read of it to the import).
    // redb may panic on a damaged file (see `ChainStore::open`).
    match std::panic::catch_unwind(|| Database::builder().open(path)) {
        Ok(Ok(db)) => Ok(Some(db)),
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => Err(StoreError::Locked {
            path: path.to_owned(),
        }),
        Ok(Err(_)) | Err(_) => Ok(None),
    }
}

/// An empty store at `tmp` (a temporary name), with whatever a crash left there
/// before removed first.
fn fresh_store(tmp: PathBuf) -> Result<ChainStore, StoreError> {
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(cause) => return Err(StoreError::Io { path: tmp, cause }),
    }
    let db = builder()
        .create(&tmp)
        .map_err(|err| open_error(&tmp, err))?;
    Ok(ChainStore {
        db: Arc::new(db),
        path: tmp,
    })
}

/// Builds a store holding genesis under a temporary name of this process's own and
/// puts it in place unless a store is there by then.
///
/// Why not a shared temporary name and a rename: two nodes started at once on a new
/// data directory would each remove the other's half-built file, and the later rename
/// would replace a store the first node already runs on, so that everything it stored
/// went to a deleted file (a review had both nodes answer 200 to mining, and one's
/// blocks lost). A hard link never replaces a file: the second process finds the store
/// there, opens it, and is refused by its lock.
///
/// The temporary file is removed however this ends (a full disk, say): left behind,
/// each failed start would keep its space. Those that processes killed while they
/// built one left are removed here too, once old enough to be sure.
fn create_new(dir: &Path, path: &Path) -> Result<(), StoreError> {
    let io = |at: &Path| {
        let at = at.to_owned();
        move |cause| StoreError::Io { path: at, cause }
    };
    remove_leftover_new_stores(dir);
    // The process id and a count of this process's new stores: no two creations share
    // a name, across processes or threads.
    static CREATED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let unique = format!(
        "{NEW_FILE_NAME}.{}.{}",
        std::process::id(),
        CREATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let tmp = dir.join(unique);
    let built = fresh_store(tmp.clone()).and_then(|store| {
        let genesis = ValidChain::genesis();
        store.write(|txn| {
            txn.open_table(BLOCKS)
                .and_then(|mut table| {
                    table.insert(0, record::encode_block(genesis.tip()).as_slice())?;
                    Ok(())
                })
                .map_err(|e| store.write_error(e))?;
            store.put_tip(txn, &genesis)
        })?;
        Ok(store)
    });
    let placed = built.and_then(|store| {
        drop(store);
        place_new(&tmp, path, |from, to| fs::hard_link(from, to)).map_err(io(path))
    });
    let removed = fs::remove_file(&tmp);
    placed?;
    if let Err(cause) = removed
        && cause.kind() != std::io::ErrorKind::NotFound
    {
        return Err(StoreError::Io { path: tmp, cause });
    }
    // The new name is durable once the directory is.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// Puts the new store at `tmp` in place at `path` unless a store is there already (then
/// that one stays, and is used): by `link` (a hard link, which never replaces a file),
/// or, where the file system refuses links (FAT and exFAT say EPERM, others ENOTSUP),
/// by a rename that does not replace either, or a plain rename where even that is not
/// supported. `tmp` is left for the caller to remove.
fn place_new(
    tmp: &Path,
    path: &Path,
    link: impl FnOnce(&Path, &Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::ErrorKind;
    match link(tmp, path) {
        Ok(()) => Ok(()),
        // Another process put its store there first: that one is used.
        Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(()),
        #[cfg(target_os = "linux")]
        Err(_) => {
            let flags = rustix::fs::RenameFlags::NOREPLACE;
            match rustix::fs::renameat_with(rustix::fs::CWD, tmp, rustix::fs::CWD, path, flags) {
                Ok(()) => Ok(()),
                Err(rustix::io::Errno::EXIST) => Ok(()),
                Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => fs::rename(tmp, path),
                Err(errno) => Err(errno.into()),
            }
        }
        // Elsewhere no rename that replaces nothing: the plain one, unless a store is
        // there by now.
        #[cfg(not(target_os = "linux"))]
        Err(_) if path.exists() => Ok(()),
        #[cfg(not(target_os = "linux"))]
        Err(_) => fs::rename(tmp, path),
    }
}

/// How old a temporary store of [`create_new`] must be before another creation removes
/// it: one is built in milliseconds, so a file this old was left by a process killed
/// while it built one (or one that failed before it could remove it).
const LEFTOVER_AGE: std::time::Duration = whole_file::LEFTOVER_AGE;

/// Removes the temporary stores of [`create_new`] left in `dir` at least
/// [`LEFTOVER_AGE`] ago (see [`whole_file::remove_old_files`]).
fn remove_leftover_new_stores(dir: &Path) {
    let prefix = format!("{NEW_FILE_NAME}.");
    whole_file::remove_old_files(dir, LEFTOVER_AGE, |name| name.starts_with(&prefix));
}

/// Reads every record, validates the chain and checks the tip record against it.
fn read_chain(db: &impl ReadableDatabase) -> Result<ValidChain, Damage> {
    let storage = |e: redb::Error| Damage::Storage(e);
    let txn = db.begin_read().map_err(|e| storage(e.into()))?;
    let table = |name: &'static str, err: TableError| match err {
        TableError::TableDoesNotExist(_) => Damage::MissingTable(name),
        other => storage(other.into()),
    };
    let meta = txn.open_table(META).map_err(|e| table("meta", e))?;
    let tip = meta
        .get(TIP_KEY)
        .map_err(|e| storage(e.into()))?
        .ok_or(Damage::MissingTip)
        .and_then(|guard| record::decode_tip(guard.value()).map_err(Damage::Tip))?;
    let blocks_table = txn.open_table(BLOCKS).map_err(|e| table("blocks", e))?;
    let started = std::time::Instant::now();
    let mut chain: Option<ValidChain> = None;
    let now = STORED_CLOCK;
    // Records are copied out a chunk at a time, decoded in parallel (decoding parses
    // each block's data and renders its str()) and validated onto the chain read so
    // far (hashes in parallel): only one chunk of raw bytes and of whole blocks is
    // held beside the chain's compact form.
    let mut raw: Vec<Vec<u8>> = Vec::with_capacity(DECODE_CHUNK);
    let mut decode_time = std::time::Duration::ZERO;
    let mut take = |raw: &mut Vec<Vec<u8>>, chain: &mut Option<ValidChain>| {
        let decoding = std::time::Instant::now();
        let first = chain.as_ref().map_or(0, ValidChain::len);
        let decoded = raw
            .par_iter()
            .enumerate()
            .map(|(i, bytes)| {
                record::decode_block(bytes).map_err(|cause| Damage::Block {
                    index: (first + i) as u64,
                    cause,
                })
            })
            .collect::<Result<Vec<Block>, Damage>>()?;
        raw.clear();
        decode_time += decoding.elapsed();
        match chain {
            Some(chain) => chain
                .extend(decoded, RuleSet::Strict, now)
                .map_err(Damage::Invalid)?,
            None => {
                *chain = Some(
                    ValidChain::validate(decoded, RuleSet::Strict, now).map_err(Damage::Invalid)?,
                );
            }
        }
        Ok::<(), Damage>(())
    };
    for (expected, entry) in (0u64..).zip(
        blocks_table
            .range::<u64>(..)
            .map_err(|e| storage(e.into()))?,
    ) {
        let (key, value) = entry.map_err(|e| storage(e.into()))?;
        let found = key.value();
        if found != expected {
            return Err(Damage::Gap { expected, found });
        }
        raw.push(value.value().to_vec());
        if raw.len() == DECODE_CHUNK {
            take(&mut raw, &mut chain)?;
        }
    }
    if !raw.is_empty() || chain.is_none() {
        take(&mut raw, &mut chain)?;
    }
    let chain = chain.ok_or(Damage::MissingTable("blocks"))?;
    tracing::debug!(
        decode_ms = decode_time.as_millis() as u64,
        validate_ms = (started.elapsed() - decode_time).as_millis() as u64,
        "stored blocks read, decoded and validated"
    );
    let actual = TipRecord::of(&chain);
    if actual != tip {
        let show = |t: &TipRecord| {
            format!(
                "{} blocks, tip {}, work {}",
                t.len,
                clip(&t.tip_hash),
                clip(&t.work)
            )
        };
        return Err(Damage::TipMismatch {
            meta: show(&tip),
            blocks: show(&actual),
        });
    }
    Ok(chain)
}

/// Whether `cause` is about reaching the file (permissions, a read-only or full file
/// system, no file there), not about what the file holds.
fn is_access(cause: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        cause.kind(),
        ErrorKind::PermissionDenied
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::StorageFull
            | ErrorKind::IsADirectory
            | ErrorKind::NotFound
    )
}

/// Why redb could not open or create the store at `path`: held by another process, an
/// I/O error (permissions, a full disk: the file is not said to be damaged), or the
/// file itself.
fn open_error(path: &Path, err: DatabaseError) -> StoreError {
    let path = path.to_owned();
    match err {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Locked { path },
        // (redb reports a file that is not a store as an I/O error too: kept below.)
        DatabaseError::Storage(redb::StorageError::Io(cause)) if is_access(&cause) => {
            StoreError::Access { path, cause }
        }
        other => StoreError::Open {
            path,
            cause: other.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::validate::now_ms;
    use crate::miner::synthetic::synthetic_chain;

    fn valid(n: usize) -> ValidChain {
        ValidChain::validate(synthetic_chain(n), RuleSet::Strict, now_ms()).expect("valid")
    }

    /// Stores opened at once on a new data directory: exactly one opens, the others are
    /// refused as held (none fails otherwise, none runs on a file replaced under it),
    /// and no temporary file is left.
    #[test]
    fn opens_at_once_on_a_new_directory_give_one_store() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("temp dir");
            let start = std::sync::Barrier::new(6);
            let results: Vec<_> = std::thread::scope(|scope| {
                let opens: Vec<_> = (0..6)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            ChainStore::open(dir.path())
                        })
                    })
                    .collect();
                opens
                    .into_iter()
                    .map(|open| open.join().expect("no panic"))
                    .collect()
            });
            let opened = results.iter().filter(|r| r.is_ok()).count();
            let held = results
                .iter()
                .filter(|r| matches!(r, Err(StoreError::Locked { .. })))
                .count();
            assert_eq!((opened, held), (1, 5), "{results:?}");
            drop(results);
            let names: Vec<_> = fs::read_dir(dir.path())
                .expect("read dir")
                .map(|e| e.expect("entry").file_name())
                .collect();
            assert_eq!(names, [FILE_NAME], "{names:?}");
        }
    }

    /// A store file that cannot be read or written at all (here a directory where the
    /// file should be; permissions or a full disk alike) is said to be that, not
    /// damaged.
    #[test]
    fn an_unreadable_store_is_not_called_damaged() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir(dir.path().join(FILE_NAME)).expect("a directory in its place");
        let err = ChainStore::open(dir.path()).expect_err("not a file");
        assert!(matches!(err, StoreError::Access { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("cannot be read or written"), "{text}");
        assert!(!text.contains("damaged"), "{text}");
    }

    /// Every commit of a block, and the last of a new store's, is made in two phases:
    /// redb marks that in the header's flags byte (byte 9; bit 2, value 4), read here
    /// from the file while the store is open, after each kind of write.
    #[test]
    fn commits_are_made_in_two_phases() {
        const TWO_PHASE: u8 = 0x04;
        let flags = |dir: &Path| fs::read(dir.join(FILE_NAME)).expect("read")[9];
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = ChainStore::open(dir.path()).expect("opens");
        store.append(&valid(2)).expect("append");
        assert_eq!(flags(dir.path()) & TWO_PHASE, TWO_PHASE, "after an append");
        store.replace(&valid(2), &valid(5)).expect("replace");
        assert_eq!(flags(dir.path()) & TWO_PHASE, TWO_PHASE, "after a replace");
        drop(store);
        let other = tempfile::tempdir().expect("temp dir");
        ChainStore::write_new(other.path(), &valid(4), |_| {}).expect("write_new");
        assert_eq!(flags(other.path()) & TWO_PHASE, TWO_PHASE, "a new store");
    }

    /// A write that panics inside its transaction (as redb may on a page damaged after
    /// the store was opened) comes back as an error naming the panic, stores nothing,
    /// and leaves this thread and the store going: the next write lands.
    #[test]
    fn a_panicking_write_is_a_failed_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = ChainStore::open(dir.path()).expect("opens");
        let failed = store.write(|txn| {
            txn.open_table(BLOCKS)
                .expect("table")
                .insert(1, [0u8; 8].as_slice())
                .expect("insert");
            panic!("a damaged page");
        });
        match failed {
            Err(StoreError::WritePanicked { message, .. }) => {
                assert_eq!(message, "a damaged page");
            }
            other => panic!("not a panicked write: {other:?}"),
        }
        store.append(&valid(2)).expect("the next write");
        drop(store);
        let (_, stored) = ChainStore::open(dir.path()).expect("reopens");
        assert_eq!(stored.len(), 2);
    }

    /// A store is told by its name or by its header, through a hard link too, and so is
    /// a link to where a store would be; a missing path or another file is not one.
    #[test]
    fn stores_are_told_by_name_or_header() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store_path = dir.path().join(FILE_NAME);
        assert!(looks_like_a_store(&store_path), "named so, though missing");
        let (store, _) = ChainStore::open(dir.path()).expect("opens");
        drop(store);
        let hard = dir.path().join("backup.json");
        fs::hard_link(&store_path, &hard).expect("hard link");
        assert!(looks_like_a_store(&hard), "by its header");
        let json = dir.path().join("chain.json");
        fs::write(&json, b"{\"chain\":[]}").expect("write");
        assert!(!looks_like_a_store(&json));
        assert!(!looks_like_a_store(&dir.path().join("missing.json")));
        // Links to where a store would be, none there yet: one hop and two, relative.
        let elsewhere = tempfile::tempdir().expect("temp dir");
        let one = dir.path().join("one.json");
        std::os::unix::fs::symlink(elsewhere.path().join(FILE_NAME), &one).expect("link");
        let two = dir.path().join("two.json");
        std::os::unix::fs::symlink("one.json", &two).expect("link");
        assert!(looks_like_a_store(&one) && looks_like_a_store(&two));
    }

    /// Where the file system refuses hard links (FAT says EPERM), the new store is put
    /// in place by a rename all the same, and a store already there is not replaced.
    #[test]
    fn a_new_store_is_placed_where_links_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let tmp = dir.path().join("new");
        let path = dir.path().join(FILE_NAME);
        let refused = |_: &Path, _: &Path| Err(std::io::Error::from_raw_os_error(1));
        fs::write(&tmp, "the new store").expect("writes");
        place_new(&tmp, &path, refused).expect("placed");
        assert_eq!(fs::read_to_string(&path).expect("reads"), "the new store");
        fs::write(&tmp, "a second new store").expect("writes");
        place_new(&tmp, &path, refused).expect("the one there is used");
        assert_eq!(fs::read_to_string(&path).expect("reads"), "the new store");
    }

    /// Temporary stores left long enough ago are removed when a store is created; a
    /// recent one (a creation that may be running now) is left.
    #[test]
    fn old_leftovers_of_new_stores_are_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = dir.path().join(format!("{NEW_FILE_NAME}.4000000.0"));
        let recent = dir.path().join(format!("{NEW_FILE_NAME}.4000001.0"));
        fs::write(&old, "left by a killed start").expect("writes");
        fs::write(&recent, "being built").expect("writes");
        let long_ago =
            std::time::SystemTime::now() - LEFTOVER_AGE - std::time::Duration::from_secs(60);
        fs::File::options()
            .write(true)
            .open(&old)
            .and_then(|file| file.set_modified(long_ago))
            .expect("ages the file");
        let (_store, chain) = ChainStore::open(dir.path()).expect("opens");
        assert_eq!(chain.len(), 1);
        assert!(!old.exists(), "the old leftover is kept");
        assert!(recent.exists(), "a recent file was removed");
    }

    #[test]
    fn new_store_holds_genesis_and_reopens() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, chain) = ChainStore::open(dir.path()).expect("opens");
        assert_eq!(chain, ValidChain::genesis());
        assert!(matches!(
            ChainStore::open(dir.path()),
            Err(StoreError::Locked { .. })
        ));
        drop(store);
        let (_, again) = ChainStore::open(dir.path()).expect("reopens");
        assert_eq!(again, ValidChain::genesis());
        assert!(!dir.path().join(NEW_FILE_NAME).exists());
    }

    /// A block admitted while it was less than two hours ahead of the clock stays
    /// readable when the clock is later set back (an NTP step, a board without a
    /// battery-backed clock): the store holds what the node accepted, and the
    /// timestamp is in the hashed fields, so damage to it is caught anyway.
    #[test]
    fn a_block_admitted_near_the_future_limit_reopens_after_the_clock_goes_back() {
        use crate::chain::validate::MAX_FUTURE_MS;
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, genesis) = ChainStore::open(dir.path()).expect("opens");
        // Accepted when the clock read ten minutes later than it does now.
        let then = now_ms() + 10 * 60 * 1000;
        let mut chain = genesis.clone();
        let tip = chain.tip().clone();
        let block = crate::miner::reference::mine_reference(
            &tip,
            crate::chain::Json::String("ahead".into()),
            then + MAX_FUTURE_MS - 1000,
            crate::chain::Difficulty::new(3),
        );
        chain
            .push(block, RuleSet::Strict, then)
            .expect("admitted under the clock of then");
        store.append(&chain).expect("append");
        drop(store);
        let (_, back) = ChainStore::open(dir.path()).expect("the accepted chain reopens");
        assert_eq!(back, chain);
    }

    /// `write_new` (what `minichain import` ends with) refuses a store a node holds,
    /// leaving it as it was, and holds the store while it writes, so a node started
    /// meanwhile is refused instead of running on a file about to be renamed over
    /// (or creating one), where everything it stored would be lost.
    #[test]
    fn a_new_store_is_not_written_under_a_node() {
        let chain = valid(6);
        for existing in [false, true] {
            let dir = tempfile::tempdir().expect("temp dir");
            if existing {
                let (store, genesis) = ChainStore::open(dir.path()).expect("opens");
                store.replace(&genesis, &valid(3)).expect("replace");
            }
            let mut during = None;
            ChainStore::write_new(dir.path(), &chain, |_| {
                if during.is_none() {
                    during = Some(ChainStore::open(dir.path()).map(|(_, c)| c.len()));
                }
            })
            .expect("written");
            assert!(
                matches!(during, Some(Err(StoreError::Locked { .. }))),
                "existing store {existing}: a node opening it meanwhile got {during:?}"
            );
            let (held, back) = ChainStore::open(dir.path()).expect("reopens");
            assert_eq!(back, chain);
            assert!(matches!(
                ChainStore::write_new(dir.path(), &valid(4), |_| {}),
                Err(StoreError::Locked { .. })
            ));
            drop(held);
            let (_, back) = ChainStore::open(dir.path()).expect("reopens");
            assert_eq!(back, chain, "the held store is left as it was");
        }
    }

    /// A write meant for another chain of the same length is refused, and the store
    /// keeps its chain: before, only the lengths were compared, and the block landed on
    /// a chain it does not link to, which the next start refused.
    #[test]
    fn writes_for_another_chain_of_the_same_length_are_refused() {
        use crate::miner::reference::mine_reference;
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, genesis) = ChainStore::open(dir.path()).expect("opens");
        let held = valid(5);
        store.replace(&genesis, &held).expect("replace");
        // A fork of the same length: block 4 mined with other data.
        let mut blocks = held.blocks().to_blocks();
        let prev = blocks[3].clone();
        blocks[4] = mine_reference(
            &prev,
            crate::chain::Json::parse(r#""a fork""#).expect("JSON"),
            prev.timestamp + 1,
            prev.difficulty,
        );
        let fork = ValidChain::validate(blocks.clone(), RuleSet::Strict, now_ms()).expect("valid");
        let tip = blocks[4].clone();
        blocks.push(mine_reference(
            &tip,
            crate::chain::Json::parse("1").expect("JSON"),
            tip.timestamp + 1,
            tip.difficulty,
        ));
        let longer = ValidChain::validate(blocks, RuleSet::Strict, now_ms()).expect("valid");
        let refused = store
            .append(&longer)
            .expect_err("the store holds another block 4");
        match &refused {
            StoreError::OutOfStep {
                stored: 5,
                expected: 5,
                stored_tip,
                expected_tip,
                ..
            } => {
                assert!(
                    held.tip()
                        .hash
                        .starts_with(stored_tip.split('…').next().expect("text"))
                );
                assert!(
                    fork.tip()
                        .hash
                        .starts_with(expected_tip.split('…').next().expect("text"))
                );
                assert_ne!(stored_tip, expected_tip);
            }
            other => panic!("expected OutOfStep, got {other:?}"),
        }
        assert!(
            refused
                .to_string()
                .contains("refusing to write out of step")
        );
        assert!(matches!(
            store.replace(&fork, &longer),
            Err(StoreError::OutOfStep { .. })
        ));
        drop(store);
        let (_, back) = ChainStore::open(dir.path()).expect("reopens");
        assert_eq!(back, held);
    }

    #[test]
    fn append_and_replace_round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = ChainStore::open(dir.path()).expect("opens");
        let long = valid(12);
        for n in 2..=8 {
            store.append(&long.truncated(n)).expect("append");
        }
        // Appending out of step is refused, not written.
        assert!(matches!(
            store.append(&long),
            Err(StoreError::OutOfStep {
                stored: 8,
                expected: 11,
                ..
            })
        ));
        // As is replacing a chain the store does not hold.
        assert!(matches!(
            store.replace(&long.truncated(5), &long),
            Err(StoreError::OutOfStep {
                stored: 8,
                expected: 5,
                ..
            })
        ));
        store
            .replace(&long.truncated(8), &long)
            .expect("replace longer");
        drop(store);
        let (store, back) = ChainStore::open(dir.path()).expect("reopens");
        assert_eq!(back, long);
        // A shorter chain (a different fork) replaces it, and the stale tail goes.
        let short = valid(5);
        store.replace(&long, &short).expect("replace shorter");
        drop(store);
        let (store, back) = ChainStore::open(dir.path()).expect("reopens");
        assert_eq!(back, short);
        // The same block with its data spelled differently (same value, same hash) is
        // rewritten: the store keeps the text the node serves.
        let mut blocks = short.blocks().to_blocks();
        let prev = blocks[3].clone();
        blocks[4] = crate::miner::reference::mine_reference(
            &prev,
            crate::chain::Json::parse(r#"{"amount": 1.50}"#).expect("JSON"),
            prev.timestamp + 1,
            prev.difficulty,
        );
        let a = ValidChain::validate(blocks.clone(), RuleSet::Strict, now_ms()).expect("valid");
        store.replace(&short, &a).expect("replace");
        blocks[4].data = crate::chain::RawJson::parse(r#"{"amount": 1.5}"#).expect("JSON");
        let b = ValidChain::validate(blocks, RuleSet::Strict, now_ms()).expect("same hash");
        store.replace(&a, &b).expect("replace");
        drop(store);
        let (_, back) = ChainStore::open(dir.path()).expect("reopens");
        assert_eq!(
            back.blocks().get(4).map(|b| b.data),
            Some(r#"{"amount": 1.5}"#)
        );
    }
}
