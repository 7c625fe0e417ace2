//! Keys a writable replica (`replica-read-only no`) gave a TTL itself
//! (`rememberSlaveKeyWithExpire` / `expireSlaveKeys`).
//!
//! A replica never expires keys on its own: its master sends the DELs, so both keep the
//! same data. Keys its own clients wrote have no master to delete them, so the replica
//! remembers them (name and a bitmap of databases) and its cron samples them and deletes
//! the expired ones, locally (a writable replica's own writes stay out of its stream).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;

use crate::server::store::Store;

/// The remembered keys: a vector for random sampling, an index for lookups.
#[derive(Debug, Default)]
pub struct OwnExpires {
    keys: Vec<(Bytes, u64)>,
    index: HashMap<Bytes, usize>,
}

impl OwnExpires {
    /// Remembers that `key` in `db` got a TTL from one of our own clients (databases past
    /// 63 are not tracked, as in Redis).
    pub fn remember(&mut self, db: usize, key: &[u8]) {
        if db > 63 {
            return;
        }
        match self.index.get(key) {
            Some(&i) => self.keys[i].1 |= 1 << db,
            None => {
                let k = Bytes::copy_from_slice(key);
                self.index.insert(k.clone(), self.keys.len());
                self.keys.push((k, 1 << db));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Forgets every key (the dataset was replaced or flushed, or the node is a master).
    pub fn clear(&mut self) {
        self.keys.clear();
        self.index.clear();
    }

    fn remove_at(&mut self, i: usize) {
        let (k, _) = self.keys.swap_remove(i);
        self.index.remove(&k);
        if let Some((moved, _)) = self.keys.get(i) {
            self.index.insert(moved.clone(), i);
        }
    }
}

/// Samples the remembered keys and deletes the expired ones (`expireSlaveKeys`): stops
/// after finding more than 3 keys it cannot expire yet, or after about 1 ms.
pub fn expire_own_keys(store: &mut Store) {
    if store.repl.own_expires.is_empty() || !store.active_expire_enabled {
        return;
    }
    let start = Instant::now();
    let now = crate::util::time::unix_ms();
    let mut rng = rand::thread_rng();
    let (mut cycles, mut noexpire) = (0u64, 0u32);
    while !store.repl.own_expires.is_empty() {
        let i = rng.gen_range(0..store.repl.own_expires.len());
        let (key, dbs) = store.repl.own_expires.keys[i].clone();
        let mut left = 0u64;
        for db in (0..store.dbs.len().min(64)).filter(|d| dbs & (1 << d) != 0) {
            let Some(expire) = store.dbs[db].peek(&key).filter(|e| e.has_expire()).map(|e| e.expire) else { continue };
            if expire <= now {
                store.delete_expired(db, &key);
            } else {
                noexpire += 1;
                left |= 1 << db;
            }
        }
        if left != 0 {
            store.repl.own_expires.keys[i].1 = left;
        } else {
            store.repl.own_expires.remove_at(i);
        }
        cycles += 1;
        if noexpire > 3 || (cycles % 64 == 0 && start.elapsed() > Duration::from_millis(1)) {
            break;
        }
    }
    // The deletions stay local: the stream is the master's.
    store.pending_propagate.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remember_and_remove_keep_the_index() {
        let mut o = OwnExpires::default();
        o.remember(0, b"a");
        o.remember(5, b"a");
        o.remember(1, b"b");
        o.remember(64, b"c");
        assert_eq!(o.len(), 2);
        assert_eq!(o.keys[o.index[&b"a"[..]]].1, 1 | 1 << 5);
        o.remove_at(0);
        assert_eq!(o.len(), 1);
        assert_eq!(o.keys[o.index[&b"b"[..]]].0, Bytes::from_static(b"b"));
        o.remove_at(0);
        assert!(o.is_empty() && o.index.is_empty());
    }
}
