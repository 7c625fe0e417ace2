//! One numbered database: the main dictionary of keys and the index of keys with a TTL.
//!
//! `Db` knows nothing about side effects (notifications, propagation, WATCH): the server's
//! `Store` wraps these primitives so every side effect lives in one place.

use super::dict::{Dict, Key};
use super::value::Value;

/// Expire time meaning "no TTL".
pub const NO_EXPIRE: i64 = -1;

/// A key's value and metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub val: Value,
    /// Absolute unix time in ms at which the key expires, or [`NO_EXPIRE`].
    pub expire: i64,
    /// Timestamp of the last write to this key (KeyDB mvcc format). Exact per key: never
    /// shared between keys, set by every write, preserved by persistence and replication.
    pub mvcc: u64,
    /// LRU clock (seconds, 24 bits as Redis) of the last access, for OBJECT IDLETIME.
    pub lru: u32,
}

impl Entry {
    pub fn new(val: Value, mvcc: u64, lru: u32) -> Self {
        Entry { val, expire: NO_EXPIRE, mvcc, lru }
    }
    #[inline]
    pub fn has_expire(&self) -> bool {
        self.expire != NO_EXPIRE
    }
    #[inline]
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expire != NO_EXPIRE && self.expire <= now_ms
    }
}

/// One database.
#[derive(Debug)]
pub struct Db {
    pub id: usize,
    pub main: Dict<Entry>,
    /// Keys that have a TTL, so active expiry samples only those.
    pub expires: Dict<()>,
    /// Running average TTL for INFO keyspace (`avg_ttl`), updated by active expiry.
    pub avg_ttl: i64,
    /// Active replication: what deleted keys leave behind (see [`Tombstones`]).
    pub tombs: Tombstones,
    /// Active replication: the anti-entropy digest of `(key, stamp)` (see [`Segments`]).
    pub ae: Segments,
    /// Active replication: the merge state of counter keys, live or deleted (see
    /// [`super::counters`]).
    pub counters: super::counters::Counters,
}

/// Segments of the anti-entropy digest of a database.
pub const AE_SEGMENTS: usize = 4096;
/// Groups of segments: the first level of a comparison (`ANTIENTROPY DIGEST db`).
pub const AE_GROUPS: usize = 64;
/// Segments per group.
pub const AE_GROUP_SEGMENTS: usize = AE_SEGMENTS / AE_GROUPS;

/// Builds of a digest in this process, so that a version read from one build is never
/// taken for a version of another.
static AE_BUILDS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The anti-entropy digest of one database (`replication::anti_entropy`): the keys are
/// spread over [`AE_SEGMENTS`] segments by a hash of their name, and each segment is the
/// XOR of `entry_hash(key, stamp)` over its live keys and tombstones. A write moves a key
/// from one stamp to another: two XORs on one segment, O(1), no scan. Two nodes holding
/// the same keys at the same stamps have equal segments, so comparing digests finds the
/// differences without looking at the data. Segments are compared in two levels: the
/// [`AE_GROUPS`] groups of [`AE_GROUP_SEGMENTS`] consecutive segments first, then the
/// segments of the groups that differ, so few differences cost few bytes.
///
/// The hash is portable (FNV-1a with a 64-bit finalizer, no per-process seed and no CPU
/// dependent instructions): nodes on different machines must agree on it.
///
/// Each segment also counts the writes that moved it (its *version*). A comparison lists a
/// segment's keys in steps, with the store lock released between them, so the value it
/// recomputes from them is exact only if no write touched the segment meanwhile: it
/// replaces a drifted segment ([`Segments::heal`]) only if the version it read before
/// listing is still current.
///
/// A digest starts *invalid* (a database loaded or synced in one piece): incremental
/// updates are skipped until the first comparison rebuilds it with one pass over the keys.
#[derive(Debug, Default, Clone)]
pub struct Segments {
    seg: Vec<u64>,
    /// Writes per segment since the build (wrapping: only compared for equality).
    ver: Vec<u32>,
    /// Which build this is (never 0).
    build: u32,
    /// The newest stamp a key took since the build (or held at the build).
    newest: u64,
}

impl Segments {
    /// FNV-1a of the key: which segment it belongs to.
    #[inline]
    pub fn key_hash(key: &[u8]) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in key {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        h
    }
    #[inline]
    pub fn segment_of(key: &[u8]) -> usize {
        (mix(Self::key_hash(key)) as usize) & (AE_SEGMENTS - 1)
    }
    /// What a key at `stamp` contributes to its segment.
    #[inline]
    pub fn entry_hash(key: &[u8], stamp: u64) -> u64 {
        mix(Self::key_hash(key) ^ mix(stamp.wrapping_add(0x9e37_79b9_7f4a_7c15)))
    }
    pub fn is_valid(&self) -> bool {
        !self.seg.is_empty()
    }
    /// A key moved from stamp `old` to `new` (0: absent and no tombstone).
    #[inline]
    pub fn update(&mut self, key: &[u8], old: u64, new: u64) {
        if old == new || self.seg.is_empty() {
            return;
        }
        let i = Self::segment_of(key);
        if old != 0 {
            self.seg[i] ^= Self::entry_hash(key, old);
        }
        if new != 0 {
            self.seg[i] ^= Self::entry_hash(key, new);
        }
        self.ver[i] = self.ver[i].wrapping_add(1);
        self.newest = self.newest.max(new);
    }
    /// The digest of `db`'s live keys and tombstones, computed from scratch.
    pub fn rebuild(db: &Db) -> Segments {
        let mut seg = vec![0u64; AE_SEGMENTS];
        let mut newest = 0;
        let entries = db.main.iter().map(|(k, e)| (k, e.mvcc)).chain(db.tombs.keys.iter().map(|(k, &m)| (k, m)));
        for (k, m) in entries {
            seg[Self::segment_of(k)] ^= Self::entry_hash(k, m);
            newest = newest.max(m);
        }
        let build = AE_BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed).wrapping_add(1).max(1);
        Segments { seg, ver: vec![0; AE_SEGMENTS], build, newest }
    }
    /// The newest stamp any key of the database took since the digest was built: a
    /// comparison finding differences while it is recent lets the live stream settle first.
    pub fn newest(&self) -> u64 {
        self.newest
    }
    /// Segment `i` and its version (0: an invalid digest or segment).
    pub fn segment(&self, i: usize) -> (u64, u64) {
        match (self.seg.get(i), self.ver.get(i)) {
            (Some(&s), Some(&v)) => (s, (u64::from(self.build) << 32) | u64::from(v)),
            _ => (0, 0),
        }
    }
    /// Replaces segment `i` with `v`, recomputed from its keys by a comparison that read
    /// `version` before listing them: only if no write moved the segment since (else the
    /// listing may have missed a key or seen one twice). Returns whether it did.
    pub fn heal(&mut self, i: usize, version: u64, v: u64) -> bool {
        if version == 0 || self.segment(i).1 != version {
            return false;
        }
        self.seg[i] = v;
        true
    }
    /// The digest of group `g` (its segments folded in order).
    pub fn group(&self, g: usize) -> u64 {
        let lo = (g * AE_GROUP_SEGMENTS).min(self.seg.len());
        let hi = ((g + 1) * AE_GROUP_SEGMENTS).min(self.seg.len());
        self.seg[lo..hi].iter().enumerate().fold(g as u64, |h, (i, &s)| mix(h ^ s.wrapping_add(i as u64)))
    }
    /// One value for the whole digest (equal digests have equal roots).
    pub fn root(&self) -> u64 {
        self.seg.iter().enumerate().fold(0u64, |h, (i, &s)| mix(h ^ s.wrapping_add(i as u64)))
    }
}

/// Where a walk of a database's keys for anti-entropy ([`Db::ae_walk`]) stands: the live
/// keys' SCAN cursor, then the tombstones' with this bit set. 0 at the start and the end.
pub const AE_WALK_TOMBS: u64 = 1 << 63;

/// splitmix64's finalizer.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The stamps of deleted keys, kept in active replication mode so that a delete is a
/// write like any other: a peer's older write to the key loses against it, and no merge
/// brings the key back (`replication::active`). Invisible to every command. FLUSHDB and
/// FLUSHALL are one stamp for the whole database (`flushed`): a key whose stamp is older
/// counts as deleted.
///
/// The stamps are a [`Dict`] (not a `HashMap`): tombstones have no lifetime yet, so there
/// can be as many as keys ever deleted, and anti-entropy walks them in bounded steps with
/// its SCAN cursor; a `Dict` also grows without rehashing everything in one write.
#[derive(Debug, Default)]
pub struct Tombstones {
    pub keys: Dict<u64>,
    /// Stamp of the last FLUSHDB/FLUSHALL of this database (0: never flushed).
    pub flushed: u64,
    /// Deletions older than this stamp are forgotten (`active-tombstone-lifetime`): a key
    /// older than it that a peer lacks may have been deleted there (0: none forgotten).
    pub horizon: u64,
}

impl Tombstones {
    /// The stamp of an absent key: its tombstone's, else the last flush's.
    #[inline]
    pub fn stamp(&self, key: &[u8]) -> u64 {
        if self.keys.is_empty() {
            return self.flushed;
        }
        self.keys.get(key).copied().unwrap_or(0).max(self.flushed)
    }
    /// Records that `key` was deleted by a write stamped `mvcc` (never lowers a stamp).
    pub fn bury(&mut self, key: &[u8], mvcc: u64) {
        debug_assert!(mvcc != 0, "every tombstone has a non-zero stamp");
        if mvcc <= self.flushed {
            return;
        }
        match self.keys.get_mut(key) {
            Some(m) => *m = (*m).max(mvcc),
            None => {
                self.keys.insert(key.into(), mvcc);
            }
        }
    }
    /// The key exists again: its tombstone goes.
    #[inline]
    pub fn revive(&mut self, key: &[u8]) {
        if !self.keys.is_empty() {
            self.keys.remove(key);
        }
    }
    /// The whole database was flushed at `mvcc`: older tombstones are covered by it.
    pub fn flush(&mut self, mvcc: u64) {
        if mvcc > self.flushed {
            self.flushed = mvcc;
            self.keys.retain(|_, m| *m > mvcc);
        }
    }
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl Db {
    /// Forgets the tombstones older than `horizon` (and the counter states of keys deleted
    /// before it, which only a tombstone's concurrent writes needed), keeping the digest
    /// current. Returns how many tombstones went. One pass over the tombstones.
    pub fn forget_deletions_before(&mut self, horizon: u64) -> usize {
        if horizon <= self.tombs.horizon {
            return 0;
        }
        self.tombs.horizon = horizon;
        let before = self.tombs.keys.len();
        let ae = &mut self.ae;
        self.tombs.keys.retain(|k, m| {
            let keep = *m >= horizon;
            if !keep {
                ae.update(k, *m, 0);
            }
            keep
        });
        if !self.counters.is_empty() {
            let main = &self.main;
            self.counters.map.retain(|k, c| c.stamp() >= horizon || main.get(k).is_some());
            self.counters.hashes.retain(|k, h| {
                h.content >= horizon || h.fields.values().any(|c| c.stamp() >= horizon) || main.get(k).is_some()
            });
        }
        before - self.tombs.keys.len()
    }
}

impl Db {
    pub fn new(id: usize) -> Self {
        Db {
            id,
            main: Dict::new(),
            expires: Dict::new(),
            avg_ttl: 0,
            tombs: Tombstones::default(),
            ae: Segments::default(),
            counters: Default::default(),
        }
    }
    pub fn len(&self) -> usize {
        self.main.len()
    }
    pub fn is_empty(&self) -> bool {
        self.main.is_empty()
    }
    /// The stamp of `key`'s current state, live or deleted (0: never written, as far as
    /// this node knows).
    #[inline]
    pub fn stamp(&self, key: &[u8]) -> u64 {
        match self.main.get(key) {
            Some(e) => e.mvcc,
            None => self.tombs.stamp(key),
        }
    }
    /// Drops the anti-entropy digest (a flush changed many keys at once): the next
    /// comparison rebuilds it.
    pub fn invalidate_ae(&mut self) {
        self.ae = Segments::default();
    }
    /// Moves `key`'s contribution to the digest from `old` to its current stamp.
    #[inline]
    pub fn ae_moved(&mut self, key: &[u8], old: u64) {
        if self.ae.is_valid() {
            let new = self.ae_stamp(key);
            self.ae.update(key, old, new);
        }
    }
    /// The stamp a key contributes to the anti-entropy digest: its live stamp, else its
    /// own tombstone's, else 0 (a flush is compared apart, per database).
    #[inline]
    pub fn ae_stamp(&self, key: &[u8]) -> u64 {
        match self.main.get(key) {
            Some(e) => e.mvcc,
            None => self.tombs.keys.get(key).copied().unwrap_or(0),
        }
    }
    /// One step of a walk over the keys, live then tombstones, with the stamps they
    /// contribute to the digest (anti-entropy lists segments this way, releasing the store
    /// lock between steps). Starts at `cursor` (0: the beginning) and calls `f` on each
    /// key; stops after the bucket where `f` returned true, or once `deadline` passed
    /// (looked at every few buckets). Returns the next cursor, 0 when the walk is done.
    ///
    /// The dicts' SCAN guarantee carries over: every key present from the first step to
    /// the last is reported, at least once; more than once only if a table resized
    /// between steps ([`Db::ae_shape`] tells).
    pub fn ae_walk(&self, mut cursor: u64, deadline: std::time::Instant, mut f: impl FnMut(&[u8], u64) -> bool) -> u64 {
        let mut buckets = 0u32;
        loop {
            let mut stop = false;
            if cursor & AE_WALK_TOMBS == 0 {
                cursor = match self.main.scan(cursor, |k, e| stop |= f(k, e.mvcc)) {
                    0 => AE_WALK_TOMBS,
                    c => c,
                };
            } else {
                match self.tombs.keys.scan(cursor & !AE_WALK_TOMBS, |k, &m| stop |= f(k, m)) {
                    0 => return 0,
                    c => cursor = c | AE_WALK_TOMBS,
                }
            }
            buckets = buckets.wrapping_add(1);
            if stop || (buckets.is_multiple_of(16) && std::time::Instant::now() >= deadline) {
                return cursor;
            }
        }
    }
    /// The table sizes of the live keys and of the tombstones (main table, rehash target):
    /// a walk whose every step saw the same shape, with no rehash in progress, reported
    /// each key once (a table grows or shrinks only through a rehash, which takes many
    /// writes: more than a step's gap allows for a table too big to be walked in one step).
    pub fn ae_shape(&self) -> [usize; 4] {
        let ((a, b), (c, d)) = (self.main.table_sizes(), self.tombs.keys.table_sizes());
        [a, b, c, d]
    }
    /// The entry regardless of expiry.
    #[inline]
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.main.get(key)
    }
    #[inline]
    pub fn peek_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.main.get_mut(key)
    }
    /// Inserts or replaces the whole entry, keeping the TTL index consistent.
    pub fn insert(&mut self, key: &[u8], e: Entry) {
        self.tombs.revive(key);
        let has_ttl = e.has_expire();
        let old = self.main.insert(key.into(), e);
        let had_ttl = old.map(|o| o.has_expire()).unwrap_or(false);
        match (had_ttl, has_ttl) {
            (false, true) => {
                self.expires.insert(key.into(), ());
            }
            (true, false) => {
                self.expires.remove(key);
            }
            _ => {}
        }
    }
    /// Removes a key; returns its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (_, e) = self.main.remove(key)?;
        if e.has_expire() {
            self.expires.remove(key);
        }
        Some(e)
    }
    /// Sets the TTL of an existing key. Returns false if the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], when_ms: i64) -> bool {
        let Some(e) = self.main.get_mut(key) else { return false };
        let had = e.has_expire();
        e.expire = when_ms;
        if !had {
            self.expires.insert(key.into(), ());
        }
        true
    }
    /// Removes the TTL of a key; returns true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let Some(e) = self.main.get_mut(key) else { return false };
        if !e.has_expire() {
            return false;
        }
        e.expire = NO_EXPIRE;
        self.expires.remove(key);
        true
    }
    /// Empties the database, returning the old contents so the caller may drop them on
    /// another thread (FLUSHDB ASYNC).
    pub fn take_all(&mut self) -> (Dict<Entry>, Dict<()>) {
        (self.main.take(), self.expires.take())
    }
    /// Up to `n` keys that have a TTL, chosen at random with bounded work (Redis's
    /// `dictGetSomeKeys`), for active expiry. Keys may repeat.
    pub fn sample_expires(&self, n: usize) -> Vec<Key> {
        let mut out = Vec::with_capacity(n);
        let mut rng = rand::thread_rng();
        self.expires.sample(n, &mut rng, |k, _| out.push(k.clone()));
        out
    }
    /// Incremental rehashing for a while (the server cron does it, as Redis's
    /// `databasesCron`, because read-only traffic cannot advance a rehash). A table left
    /// sparse while shrinking was not allowed (a child process existed) starts its shrink
    /// here, as Redis's `tryResizeHashTables`. Returns true if more work is left.
    pub fn rehash_for_micros(&mut self, us: u64) -> bool {
        self.main.try_shrink();
        self.expires.try_shrink();
        self.tombs.keys.try_shrink();
        let a = self.main.rehash_for_micros(us);
        let b = self.expires.rehash_for_micros(us);
        // The tombstones' turn comes once the others are done (a step stays bounded).
        let c = if a || b { self.tombs.keys.is_rehashing() } else { self.tombs.keys.rehash_for_micros(us) };
        a || b || c
    }
    /// Key names, for KEYS and similar full walks.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.main.iter().map(|(k, _)| k)
    }
}
