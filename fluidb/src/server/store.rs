//! `Store`: everything commands execute against, behind one lock.
//!
//! Commands and transactions execute atomically by holding the store lock (see
//! ARCHITECTURE.md). Keyspace writes go through the methods here so their side effects
//! (WATCH invalidation, keyspace notifications, the dirty counter, expiry propagation) live
//! in one place, as Redis's `signalModifiedKey`/`notifyKeyspaceEvent` pair does.

use std::collections::HashMap;

use bytes::Bytes;

use crate::commands::call::Source;
use crate::config::Config;
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::{Db, Entry, MvccClock, Value};
use crate::replication::stream::WriteStream;
use crate::server::client::{ClientId, ClientRegistry};
use crate::server::pubsub::PubSub;
use crate::server::slowlog::SlowLog;
use crate::server::stats::Stats;

/// Keyspace notification classes (Redis's `NOTIFY_*` flags).
pub mod notify {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const LOADED: u32 = 1 << 12;
    pub const MODULE: u32 = 1 << 13;
    pub const NEW: u32 = 1 << 14;
    pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Registry of WATCHed keys: which clients watch `(db, key)`, and which clients'
/// transactions have been invalidated (Redis's `CLIENT_DIRTY_CAS`).
///
/// Keys are indexed by name only (so a lookup borrows the key instead of allocating);
/// each watcher records its database and whether the key was already logically expired
/// when it was watched (Redis 7.0's `watchedKey.expired`): deleting such a stale key is
/// not a change, and EXEC only fails for keys that expired after WATCH.
#[derive(Debug, Default)]
pub struct WatchRegistry {
    /// Key name to its watchers, in WATCH order.
    pub keys: HashMap<Box<[u8]>, Vec<Watcher>>,
    /// Client to the `(db, key)` pairs it watches, in WATCH order.
    pub clients: HashMap<ClientId, Vec<WatchedKey>>,
    pub dirty: std::collections::HashSet<ClientId>,
}

/// A watched key: database and name.
pub type WatchedKey = (usize, Box<[u8]>);

/// One client watching one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watcher {
    pub db: usize,
    pub client: ClientId,
    /// The key existed but was logically expired when WATCH was called.
    pub expired: bool,
}

impl WatchRegistry {
    /// Adds a watch (no-op if `client` already watches `key` in `db`).
    pub fn watch(&mut self, client: ClientId, db: usize, key: &[u8], expired: bool) {
        let mine = self.clients.entry(client).or_default();
        if mine.iter().any(|(d, k)| *d == db && &**k == key) {
            return;
        }
        mine.push((db, key.into()));
        match self.keys.get_mut(key) {
            Some(ws) => ws.push(Watcher { db, client, expired }),
            None => {
                self.keys.insert(key.into(), vec![Watcher { db, client, expired }]);
            }
        }
    }

    /// Removes every watch of `client`, keeping its dirty flag (Redis's `unwatchAllKeys`).
    pub fn unwatch_keys(&mut self, client: ClientId) {
        let Some(mine) = self.clients.remove(&client) else { return };
        for (db, key) in mine {
            if let Some(ws) = self.keys.get_mut(&key) {
                ws.retain(|w| !(w.client == client && w.db == db));
                if ws.is_empty() {
                    self.keys.remove(&key);
                }
            }
        }
    }

    /// Forgets everything about `client`: its watches and its dirty flag (UNWATCH, EXEC,
    /// DISCARD, RESET, disconnect).
    pub fn forget(&mut self, client: ClientId) {
        self.unwatch_keys(client);
        self.dirty.remove(&client);
    }

    /// Whether `client`'s transaction was invalidated.
    #[inline]
    pub fn is_dirty(&self, client: ClientId) -> bool {
        !self.dirty.is_empty() && self.dirty.contains(&client)
    }

    /// A key of `db` was written and still exists: every client watching it is dirty.
    #[inline]
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        self.touch_key(db, key, true);
    }

    /// A key of `db` was deleted. Watchers that saw it already expired at WATCH time are
    /// not invalidated (the key was logically absent and still is); the others are.
    #[inline]
    pub fn touch_deleted(&mut self, db: usize, key: &[u8]) {
        self.touch_key(db, key, false);
    }

    /// Redis's `touchWatchedKey`.
    fn touch_key(&mut self, db: usize, key: &[u8], present: bool) {
        if self.keys.is_empty() {
            return;
        }
        let Some(ws) = self.keys.get_mut(key) else { return };
        let mut hit = Vec::new();
        for w in ws.iter_mut().filter(|w| w.db == db) {
            if w.expired && !present {
                // Already expired key deleted: logically no change.
                w.expired = false;
                continue;
            }
            hit.push(w.client);
        }
        for c in hit {
            self.dirty.insert(c);
            // No point in watching further: the transaction will fail anyway.
            self.unwatch_keys(c);
        }
    }

    /// Marks every client watching any key of `db` that `exists` says is present (FLUSHDB,
    /// FLUSHALL): the flush deletes it. Keys already expired at WATCH time are not a change.
    pub fn touch_db(&mut self, db: usize, exists: impl Fn(&[u8]) -> bool) {
        self.touch_all_in_db(db, exists, |_| None);
    }

    /// Redis's `touchAllWatchedKeysInDb(emptied, replaced_with)`: `db` is about to be
    /// emptied (`in_emptied` tells which keys it physically holds) and, for SWAPDB,
    /// replaced with another database (`in_replacement` answers None if the key is absent
    /// there, Some(logically expired) if present).
    pub fn touch_all_in_db(
        &mut self,
        db: usize,
        in_emptied: impl Fn(&[u8]) -> bool,
        in_replacement: impl Fn(&[u8]) -> Option<bool>,
    ) {
        let mut hit = Vec::new();
        for (key, ws) in self.keys.iter_mut() {
            if !ws.iter().any(|w| w.db == db) {
                continue;
            }
            let emptied_has = in_emptied(key);
            let replacement = in_replacement(key);
            if !emptied_has && replacement.is_none() {
                continue;
            }
            for w in ws.iter_mut().filter(|w| w.db == db) {
                if w.expired {
                    match replacement {
                        // Expired key now deleted: no logical change.
                        None => {
                            w.expired = false;
                            continue;
                        }
                        // Expired key remains expired.
                        Some(true) => continue,
                        Some(false) => {}
                    }
                } else if !emptied_has && replacement == Some(true) {
                    // A missing key replaced with an expired one: still logically absent.
                    w.expired = true;
                    continue;
                }
                hit.push(w.client);
            }
        }
        self.dirty.extend(hit);
    }
}

/// A write waiting to enter the write stream at the end of the current command.
#[derive(Debug, Clone)]
pub struct Propagated {
    pub db: usize,
    /// The write's timestamp (0 for expiry deletions, which every node does by itself).
    pub mvcc: u64,
    /// A deletion caused by expiry rather than by a command.
    pub expired: bool,
    /// For the replicas only, not the AOF (PUBLISH: Redis's `PROPAGATE_REPL`).
    pub repl_only: bool,
    pub argv: Vec<Bytes>,
    /// Active mode: the frame's fluidB trailer (the bases of its keys; see
    /// `replication::active`); empty for a frame peers apply by the newest-write rule.
    pub trailer: Vec<u8>,
}

/// The state commands execute against.
pub struct Store {
    pub dbs: Vec<Db>,
    pub clock: MvccClock,
    pub cfg: Config,
    pub stats: Stats,
    pub watch: WatchRegistry,
    pub pubsub: PubSub,
    pub clients: ClientRegistry,
    pub stream: WriteStream,
    pub slowlog: SlowLog,
    /// Changes to the dataset since the start (Redis's `server.dirty`, but never reset:
    /// see `dirty_saved`).
    pub dirty: u64,
    /// Whether this node is a (read-only) replica: expired keys are hidden, not deleted.
    pub is_replica: bool,
    /// Writes produced as side effects during a command (expired-key DELs), to be placed
    /// in the write stream before the command itself.
    pub pending_propagate: Vec<Propagated>,
    /// Clock of the batch being executed: (instant, unix ms) read once when a connection
    /// takes the lock for a batch, and the instant the previous command of the batch
    /// ended. Commands derive their start time and `now_ms` from these instead of reading
    /// the clock three times each (that was ~10% of a pipelined GET). None outside batches.
    pub clock_base: Option<(std::time::Instant, i64)>,
    pub last_tick: Option<std::time::Instant>,
    /// DEBUG SET-ACTIVE-EXPIRE switch.
    pub active_expire_enabled: bool,
    /// The cron's frequency now: `hz`, raised with `dynamic-hz` while many clients are
    /// connected (INFO `hz`; `configured_hz` is `cfg.hz`).
    pub hz: i32,
    /// Set while the dataset loads at boot: commands without the `loading` flag are
    /// refused with -LOADING (see `server::loading`).
    pub loading: Option<std::sync::Arc<crate::server::loading::Loading>>,
    /// Unix time of the last successful save (LASTSAVE).
    pub lastsave: i64,
    /// LATENCY monitor samples.
    pub latency: crate::server::latency::LatencyMonitor,
    /// CLIENT PAUSE state.
    pub pause: crate::server::pause::PauseState,
    /// Clients blocked on keys (BLPOP, BZPOPMIN, ...).
    pub blocking: crate::server::blocking::Blocking,
    /// Snapshot counters for INFO persistence.
    pub rdb: crate::persistence::snapshot::RdbStats,
    /// `dirty` as of the last successful save: `dirty` itself only grows (a command's
    /// propagation is decided by its growth), so changes since the save are the difference.
    pub dirty_saved: u64,
    /// The background save child, if any, and the last one's outcome.
    pub bgsave: crate::persistence::bgsave::BgState,
    /// The append-only file, when `appendonly` is on.
    pub aof: Option<crate::persistence::aof::Aof>,
    /// BGREWRITEAOF state.
    pub aofrw: crate::persistence::aof::RewriteState,
    /// What the running fork child reports (COW size, keys written) and the last ones'.
    pub child_info: crate::persistence::childinfo::ChildInfo,
    /// Group commit of `appendfsync always` (shared with the connections, used without the
    /// lock).
    pub aof_sync: std::sync::Arc<crate::persistence::aof::GroupSync>,
    /// The write timestamps the next writes must take, in order (filled while replaying
    /// the AOF from its `#mvcc:` annotations; a replayed EXEC takes one per queued write).
    pub replay_mvcc: std::collections::VecDeque<u64>,
    /// Replication: history, attached replicas, the link to our master.
    pub repl: crate::replication::ReplState,
    /// Where the command executing now comes from (`commands::call::Source`), set by
    /// `call()` for the duration of the command: a plain replica shows its master's
    /// commands keys that are logically expired (only the master decides when they go);
    /// while the AOF is replayed no key expires and an expiry in the past does not delete
    /// (Redis's `server.loading` for that load; a boot load of the RDB file is `loading`,
    /// which decodes into fresh databases).
    pub source: crate::commands::call::Source,
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RDB files and RESTORE payloads are loaded
    /// without checking their CRC64.
    pub skip_checksum_validation: bool,
    /// DEBUG PAUSE-CRON: the cron does nothing while set (tests).
    pub pause_cron: bool,
    /// A shutdown waiting for replicas, and the clients blocked in SHUTDOWN.
    pub shutdown: crate::server::shutdown::ShutdownState,
}

impl Store {
    pub fn new(cfg: Config) -> Self {
        let n = cfg.databases.max(1) as usize;
        Store {
            dbs: (0..n).map(Db::new).collect(),
            clock: MvccClock::new(),
            stats: Stats::default(),
            watch: WatchRegistry::default(),
            pubsub: PubSub::default(),
            clients: ClientRegistry::default(),
            stream: WriteStream::new(crate::replication::stream::backlog_capacity(cfg.repl_backlog_size)),
            slowlog: SlowLog::default(),
            dirty: 0,
            is_replica: false,
            pending_propagate: Vec::new(),
            active_expire_enabled: true,
            hz: cfg.hz,
            loading: None,
            clock_base: None,
            last_tick: None,
            lastsave: crate::util::time::unix_secs(),
            latency: Default::default(),
            rdb: Default::default(),
            dirty_saved: 0,
            bgsave: crate::persistence::bgsave::BgState::new(),
            aof: None,
            aofrw: crate::persistence::aof::RewriteState::new(),
            child_info: Default::default(),
            replay_mvcc: Default::default(),
            repl: Default::default(),
            source: crate::commands::call::Source::Client,
            skip_checksum_validation: false,
            pause_cron: false,
            shutdown: Default::default(),
            aof_sync: Default::default(),
            pause: Default::default(),
            blocking: Default::default(),
            cfg,
        }
    }

    /// Whether the AOF is being replayed (the command executing comes from it).
    #[inline]
    pub fn replaying(&self) -> bool {
        self.source == Source::Aof
    }

    /// Whether this node follows a master as a plain (not active) replica: its master
    /// decides when keys expire, and its stream is its master's. An active replica
    /// expires its keys itself, like a master.
    #[inline]
    pub fn plain_replica(&self) -> bool {
        self.is_replica && !self.cfg.active_replica
    }

    /// Redis's `checkAlreadyExpired`: whether a command setting expiry time `when` must
    /// delete the key at once. Never while loading (a later command of the file may act
    /// on the key) nor on a replica (its master decides).
    pub fn already_expired(&self, when: i64, now_ms: i64) -> bool {
        when <= now_ms && !self.replaying() && !self.plain_replica()
    }

    /// Deletes `key` if it is logically expired (on a master); returns true if the key is
    /// expired (deleted or, on a replica, hidden).
    pub fn expire_if_needed(&mut self, db: usize, key: &[u8], now_ms: i64) -> bool {
        if self.dbs[db].expires.is_empty() || self.replaying() {
            // No key of this db has a TTL (nothing to look up), or the dataset is being
            // loaded: nothing expires before the load is over.
            return false;
        }
        let expired = match self.dbs[db].peek(key) {
            Some(e) => e.is_expired(now_ms),
            None => return false,
        };
        if !expired {
            return false;
        }
        // Replicas hide expired keys; during CLIENT PAUSE nothing is deleted either, so a
        // paused node writes nothing to its stream (Redis 7.0 pauses expiry too).
        if self.plain_replica() {
            return self.source != Source::Master;
        }
        if self.pause.active().is_some() {
            return true;
        }
        self.delete_expired(db, key);
        true
    }

    /// Removes an expired key with Redis's side effects: stats, "expired" event, WATCH
    /// invalidation, and a DEL in the write stream (freed in the background and propagated
    /// as UNLINK under `lazyfree-lazy-expire`).
    pub fn delete_expired(&mut self, db: usize, key: &[u8]) {
        let lazy = self.cfg.lazyfree_lazy_expire;
        let Some(e) = self.dbs[db].remove(key) else { return };
        crate::keyspace::lazyfree::free(e.val, lazy);
        self.stats.expired_keys += 1;
        self.watch.touch_deleted(db, key);
        self.notify(notify::EXPIRED, "expired", key, db);
        if self.cfg.active_replica {
            // Every active node expires keys by itself and sends no deletion. The expiry
            // is a write stamped with the TTL itself, the same on every node: a write made
            // before the TTL, which reaches a node after its copy expired, is older than
            // the expiry and loses to it (it must not recreate the key there).
            let at = crate::keyspace::clock::mvcc_from_ms(e.expire).max(e.mvcc).max(1);
            self.clock.observe(at);
            self.dbs[db].tombs.bury(key, at);
            let now_stamp = self.dbs[db].ae_stamp(key);
            self.dbs[db].ae.update(key, e.mvcc, now_stamp);
            crate::replication::active::key_expired(self, db, key, e.expire);
            return;
        }
        self.pending_propagate.push(Propagated {
            db,
            mvcc: 0,
            expired: true,
            repl_only: false,
            argv: vec![Bytes::from_static(if lazy { b"UNLINK" } else { b"DEL" }), Bytes::copy_from_slice(key)],
            trailer: Vec::new(),
        });
    }

    /// Looks a key up for reading: expires it if needed, counts hits/misses, refreshes the
    /// access time. Redis's `lookupKeyRead`.
    #[inline]
    pub fn lookup_read(&mut self, db: usize, key: &[u8], now_ms: i64) -> Option<&Entry> {
        if self.expire_if_needed(db, key, now_ms) {
            self.stats.keyspace_misses += 1;
            self.notify(notify::KEY_MISS, "keymiss", key, db);
            return None;
        }
        if self.dbs[db].peek(key).is_none() {
            self.stats.keyspace_misses += 1;
            self.notify(notify::KEY_MISS, "keymiss", key, db);
            return None;
        }
        self.stats.keyspace_hits += 1;
        let (lfu, factor, decay) = self.lfu_params();
        let e = self.dbs[db].peek_mut(key)?;
        e.lru = accessed_field(e.lru, lfu, factor, decay);
        Some(e)
    }

    /// Looks a key up for writing: expires it if needed; no hit/miss accounting. A
    /// writable replica's own write deletes an expired key (locally) instead of hiding
    /// it, as Redis's `lookupKeyWrite` forces, so the write starts from no key.
    #[inline]
    pub fn lookup_write(&mut self, db: usize, key: &[u8], now_ms: i64) -> Option<&mut Entry> {
        if self.expire_if_needed(db, key, now_ms) && self.plain_replica() && self.source != Source::Master {
            self.delete_expired(db, key);
        }
        let (lfu, factor, decay) = self.lfu_params();
        let e = self.dbs[db].peek_mut(key)?;
        e.lru = accessed_field(e.lru, lfu, factor, decay);
        Some(e)
    }

    /// Whether `maxmemory-policy` is an LFU one: the keys' LRU fields then hold access
    /// counters (`keyspace::lfu`).
    #[inline]
    pub fn lfu_policy(&self) -> bool {
        use crate::config::MaxmemoryPolicy as P;
        matches!(self.cfg.maxmemory_policy, P::VolatileLfu | P::AllkeysLfu)
    }

    #[inline]
    fn lfu_params(&self) -> (bool, i32, i32) {
        (self.lfu_policy(), self.cfg.lfu_log_factor, self.cfg.lfu_decay_time)
    }

    /// The LRU field of a key created now: the LRU clock, or under an LFU policy the
    /// initial access counter (Redis's `createObject`).
    pub fn new_key_field(&self) -> u32 {
        if self.lfu_policy() {
            crate::keyspace::lfu::stamp(crate::keyspace::lfu::INIT_VAL)
        } else {
            crate::util::time::lru_clock()
        }
    }

    /// Checks existence without touching the access time (EXISTS-like, no stats).
    pub fn exists(&mut self, db: usize, key: &[u8], now_ms: i64) -> bool {
        !self.expire_if_needed(db, key, now_ms) && self.dbs[db].peek(key).is_some()
    }

    /// Redis's `setKey`: stores `val` under `key`, replacing any value; the TTL is dropped
    /// unless `keep_ttl`. Stamps the key and invalidates WATCH.
    pub fn set_key(&mut self, db: usize, key: &[u8], val: Value, mvcc: u64, keep_ttl: bool) {
        // An overwritten key keeps its access counter under an LFU policy (Redis's
        // `dbOverwrite`); otherwise the new value is fresh.
        let lfu = self.lfu_policy();
        let lru = self.new_key_field();
        let d = &mut self.dbs[db];
        if let Some(e) = d.peek_mut(key) {
            if matches!(val, Value::List(_) | Value::ZSet(_)) && !matches!(e.val, Value::List(_) | Value::ZSet(_)) {
                // A value of another type replaced by a list or zset (SORT ... STORE,
                // ZUNIONSTORE over a string): waiters on the key may now be served.
                self.blocking.signal_if_waited(db, key);
            }
            crate::keyspace::lazyfree::overwrite(&mut e.val, val, self.cfg.lazyfree_lazy_server_del);
            e.mvcc = mvcc;
            if !lfu {
                e.lru = lru;
            }
            if !keep_ttl && e.has_expire() {
                d.persist(key);
            }
        } else {
            let wakes = matches!(val, Value::List(_) | Value::ZSet(_));
            d.insert(key, Entry::new(val, mvcc, lru));
            // Redis's dbAdd: a key created; clients blocked on it may be served.
            self.notify(notify::NEW, "new", key, db);
            if wakes {
                self.signal_key_ready(db, key);
            }
        }
        self.watch.touch(db, key);
    }

    /// Marks a key modified in place (after `lookup_write`): stamps it and invalidates
    /// WATCH. Redis's `signalModifiedKey`.
    #[inline]
    pub fn modified(&mut self, db: usize, key: &[u8], mvcc: u64) {
        if let Some(e) = self.dbs[db].peek_mut(key) {
            e.mvcc = mvcc;
        }
        self.watch.touch(db, key);
    }

    /// Deletes a key (if present) as the server does on its own, e.g. an empty STORE
    /// result (Redis's `dbDelete`: freed in the background under `lazyfree-lazy-server-del`);
    /// returns whether it existed. Expired keys count as absent.
    pub fn delete(&mut self, db: usize, key: &[u8], now_ms: i64) -> bool {
        let lazy = self.cfg.lazyfree_lazy_server_del;
        self.delete_lazy(db, key, now_ms, lazy)
    }

    /// [`Self::delete`] with the value freed in the background if `lazy` (and large).
    pub fn delete_lazy(&mut self, db: usize, key: &[u8], now_ms: i64, lazy: bool) -> bool {
        if self.expire_if_needed(db, key, now_ms) {
            return false;
        }
        match self.dbs[db].remove(key) {
            Some(e) => {
                crate::keyspace::lazyfree::free(e.val, lazy);
                self.watch.touch_deleted(db, key);
                true
            }
            None => false,
        }
    }

    /// Sets an absolute expire on an existing key; `when_ms` in the past deletes it.
    pub fn set_expire(&mut self, db: usize, key: &[u8], when_ms: i64, mvcc: u64) {
        debug_assert!(when_ms != NO_EXPIRE);
        self.dbs[db].set_expire(key, when_ms);
        self.modified(db, key, mvcc);
        self.remember_replica_expire(db, key);
    }

    /// On a replica, remembers a key that a command of its own client (not its master)
    /// gave a TTL, so that the replica expires it (Redis's `rememberSlaveKeyWithExpire`,
    /// which tracks databases 0..63 only).
    pub fn remember_replica_expire(&mut self, db: usize, key: &[u8]) {
        if self.plain_replica() && self.source != Source::Master && !self.cfg.replica_read_only {
            // No master will delete it: the replica's cron will (`replication::own_expires`).
            self.repl.own_expires.remember(db, key);
        }
    }

    /// Publishes a keyspace notification if `notify-keyspace-events` enables its class.
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8], db: usize) {
        let flags = self.cfg.notify_keyspace_events;
        if flags & class == 0 {
            return;
        }
        let mut dbbuf = itoa::Buffer::new();
        let dbs = dbbuf.format(db);
        if flags & notify::KEYSPACE != 0 {
            let mut ch = Vec::with_capacity(16 + key.len());
            ch.extend_from_slice(b"__keyspace@");
            ch.extend_from_slice(dbs.as_bytes());
            ch.extend_from_slice(b"__:");
            ch.extend_from_slice(key);
            self.pubsub.publish(&self.clients, &ch, event.as_bytes());
        }
        if flags & notify::KEYEVENT != 0 {
            let mut ch = Vec::with_capacity(16 + event.len());
            ch.extend_from_slice(b"__keyevent@");
            ch.extend_from_slice(dbs.as_bytes());
            ch.extend_from_slice(b"__:");
            ch.extend_from_slice(event.as_bytes());
            self.pubsub.publish(&self.clients, &ch, key);
        }
    }

    /// Starts a batch clock (see `clock_base`).
    pub fn begin_batch(&mut self) {
        self.update_dict_resize_policy();
        let now = std::time::Instant::now();
        self.clock_base = Some((now, crate::util::time::unix_ms()));
        self.last_tick = Some(now);
    }

    /// Redis's `updateDictResizePolicy`: hash tables avoid resizing while a forked child
    /// (BGSAVE, AOF rewrite) shares the memory pages, which a rehash would copy.
    pub fn update_dict_resize_policy(&self) {
        use crate::keyspace::dict::{set_resize_policy, ResizePolicy};
        let child = crate::persistence::aof::has_active_child(self);
        set_resize_policy(if child { ResizePolicy::Avoid } else { ResizePolicy::Enable });
    }

    /// Ends the batch clock: later commands read the clock themselves again.
    pub fn end_batch(&mut self) {
        self.clock_base = None;
        self.last_tick = None;
        self.flush_stream_consumers();
    }

    /// Hands what the write stream produced to its consumers: the AOF (and, under
    /// `appendfsync always`, the disk) before any reply of the batch is sent, and the
    /// replicas. Called at the end of every batch and by the cron, so that the stream's
    /// taps are empty whenever the lock is free.
    pub fn flush_stream_consumers(&mut self) {
        if !self.repl.active.reasserts.is_empty() {
            crate::replication::active::flush_reasserts(self);
        }
        crate::persistence::aof::flush(self);
        crate::replication::master::drain_plain(self);
        crate::replication::master::feed(self);
    }

    /// Unix time in ms for the command about to run.
    #[inline]
    pub fn now_ms(&self) -> i64 {
        match (self.clock_base, self.last_tick) {
            (Some((base, base_ms)), Some(t)) => base_ms + t.saturating_duration_since(base).as_millis() as i64,
            _ => crate::util::time::unix_ms(),
        }
    }

    /// Hands out the mvcc timestamp for a write executed at `now_ms`.
    #[inline]
    pub fn next_mvcc(&mut self, now_ms: i64) -> u64 {
        if let Some(m) = self.replay_mvcc.pop_front() {
            // A write replayed from the AOF keeps the stamp it had when it first ran.
            self.clock.observe(m);
            return m;
        }
        self.clock.next(now_ms)
    }

    /// Total keys and keys with TTL across databases.
    pub fn key_counts(&self) -> (usize, usize) {
        self.dbs.iter().fold((0, 0), |(k, e), d| (k + d.len(), e + d.expires.len()))
    }
}

/// The LRU field of a key after an access: the LRU clock, or under an LFU policy its
/// access counter decayed and incremented (Redis's `updateLFU`).
#[inline]
fn accessed_field(old: u32, lfu: bool, log_factor: i32, decay_time: i32) -> u32 {
    if lfu {
        crate::keyspace::lfu::accessed(old, log_factor, decay_time)
    } else {
        crate::util::time::lru_clock()
    }
}
