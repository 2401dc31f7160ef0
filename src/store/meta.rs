//! Small named values kept in the store's `meta` table beside the tip record, for parts
//! of the node other than the chain writer: where the node stopped reading the Redis
//! block log, so that a restarted node resumes there instead of asking for the chain.
//!
//! Why a handle of its own: the chain writer owns the [`ChainStore`](super::ChainStore)
//! and redb serializes write transactions, so another task can write a key without
//! going through the writer. A key is written with [`Durability::None`]: no fsync of
//! its own; it reaches the disk with the writer's next (immediate) commit. A key lost
//! in a crash is only one step behind, which its users must tolerate.
//!
//! The handle does not keep the database open: once the store is dropped (the node
//! stopped), reads find nothing and writes fail, so a node restarted on the same
//! directory never finds the file still locked by a straggling task.

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use redb::{Database, Durability, ReadableDatabase, TableError};

use super::{META, StoreError, TIP_KEY};

/// Longest key and value accepted (these are bookkeeping, not data).
pub const META_VALUE_MAX: usize = 1024;

/// A handle on the free-form keys of the `meta` table (see the module doc).
#[derive(Debug, Clone)]
pub struct MetaKeys {
    db: Weak<Database>,
    path: PathBuf,
}

impl MetaKeys {
    pub(super) fn new(db: &Arc<Database>, path: PathBuf) -> MetaKeys {
        MetaKeys {
            db: Arc::downgrade(db),
            path,
        }
    }

    fn db(&self) -> Result<Arc<Database>, StoreError> {
        self.db.upgrade().ok_or_else(|| {
            self.error(redb::StorageError::Io(std::io::Error::other(
                "the store is closed",
            )))
        })
    }

    /// The value of `key`, if one was written.
    ///
    /// # Errors
    /// [`StoreError::Write`] when redb cannot read it, or the store is closed (named
    /// so because the failure is the store's, found while the node runs).
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db()?;
        let txn = db.begin_read().map_err(|e| self.error(e))?;
        let table = match txn.open_table(META) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(err) => return Err(self.error(err)),
        };
        let value = table.get(key).map_err(|e| self.error(e))?;
        Ok(value.map(|guard| guard.value().to_vec()))
    }

    /// Writes `value` under `key` (not durable until the writer's next commit).
    ///
    /// # Errors
    /// [`StoreError::Write`] when the transaction fails, or when `key` is the tip
    /// record's or either is over [`META_VALUE_MAX`] bytes (a bug in the caller).
    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if key == TIP_KEY || key.len() > META_VALUE_MAX || value.len() > META_VALUE_MAX {
            return Err(self.error(redb::StorageError::Io(std::io::Error::other(
                "refused a meta key: the tip record's, or over the size limit",
            ))));
        }
        let db = self.db()?;
        let mut txn = db.begin_write().map_err(|e| self.error(e))?;
        txn.set_durability(Durability::None)
            .map_err(|e| self.error(e))?;
        {
            let mut table = txn.open_table(META).map_err(|e| self.error(e))?;
            table.insert(key, value).map_err(|e| self.error(e))?;
        }
        txn.commit().map_err(|e| self.error(e))
    }

    fn error(&self, cause: impl Into<redb::Error>) -> StoreError {
        StoreError::Write {
            path: self.path.clone(),
            cause: cause.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ChainStore;

    /// A key written through the handle is read back after the store is reopened
    /// (once the writer committed after it), and the tip record cannot be overwritten.
    #[test]
    fn a_key_survives_a_reopen_after_the_next_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let (store, chain) = ChainStore::open(dir.path()).expect("opens");
            let keys = store.meta_keys();
            assert_eq!(keys.get("stream").expect("reads"), None);
            keys.put("stream", b"1-0").expect("writes");
            keys.put("stream", b"12-3").expect("writes");
            assert!(keys.put(super::TIP_KEY, b"x").is_err());
            assert_eq!(
                keys.get("stream").expect("reads").as_deref(),
                Some(&b"12-3"[..])
            );
            // The writer's next commit (immediate) makes the key durable too.
            let mut longer = chain.clone();
            let tip = longer.tip().clone();
            let block = crate::miner::reference::mine_reference(
                &tip,
                crate::chain::Json::String("x".into()),
                crate::chain::validate::now_ms(),
                crate::chain::Difficulty::new(3),
            );
            longer
                .push(
                    block,
                    crate::chain::RuleSet::Strict,
                    crate::chain::validate::now_ms(),
                )
                .expect("valid");
            store.append(&longer).expect("append");
        }
        let (store, chain) = ChainStore::open(dir.path()).expect("reopens");
        assert_eq!(chain.len(), 2);
        assert_eq!(
            store.meta_keys().get("stream").expect("reads").as_deref(),
            Some(&b"12-3"[..])
        );
    }
}
