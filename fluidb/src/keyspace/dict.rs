//! The keyspace hash table: a chained, incrementally rehashed dictionary modelled on
//! Redis's `dict.c`, in safe Rust but for one audited line (the zeroed bucket array,
//! see `alloc_buckets`).
//!
//! # Why not `std::collections::HashMap`?
//!
//! fluidB must reproduce three Redis behaviours that an open-addressing map with
//! stop-the-world resizing cannot give:
//!
//! * **SCAN's guarantee** ([`Dict::scan`]): a full scan (cursor 0 until 0 comes back)
//!   reports every element that was present for the whole scan, even when the table
//!   grows or shrinks between calls. This needs power-of-two tables of chained buckets
//!   and Redis's reverse-binary cursor.
//! * **No latency spikes on resize**: a resize allocates the new table and then moves
//!   the buckets over a little at a time (one bucket per write, plus a background
//!   cron, [`Dict::rehash_for_micros`]), instead of rehashing millions of keys inside
//!   one command.
//! * **Random sampling** ([`Dict::random_entry`], [`Dict::sample`]) for RANDOMKEY,
//!   eviction and active expiry, with bounded work.
//!
//! # Layout
//!
//! Two tables, `ht0` and `ht1`, each a `Vec` of buckets, each bucket a singly linked
//! chain of boxed nodes. Outside a rehash only `ht0` is used. During a rehash every
//! element lives in exactly one of the two tables: in `ht0` at `hash & mask0`, or in
//! `ht1` at `hash & mask1`. Rehashing moves the boxes (no node is reallocated).
//!
//! As in Redis, `ht0` is migrated from bucket 0 upwards, so the buckets a SCAN visits
//! last (the reverse-binary cursor ends on the high buckets) are migrated last, and a
//! set thinned by SSCAN+SREM keeps its survivors in `ht0` while it shrinks (Redis's
//! test suite relies on that shape). The bucket vector stores bucket `i` at position
//! `i ^ mask` (= `size - 1 - i`), so migrating bucket 0 first still truncates the
//! vector from its end (`pop`): the rehash index is `size - ht0.buckets.len()` and the
//! migrated buckets no longer exist. That keeps every lookup a plain `buckets.get(pos)`
//! and, because the vector has shrunk by the time the rehash completes, freeing the old
//! table touches almost nothing (dropping a `Vec` of `Option<Box<_>>` must inspect every
//! remaining slot). Only [`Table::index`] and the SCAN cursor's bucket
//! ([`visit_bucket`]) know about the reversal.
//!
//! # Resizing policy
//!
//! * **Grow** when an insertion finds `len >= buckets` (load factor 1), to the next
//!   power of two above `len` (a doubling), as Redis does.
//! * **Shrink automatically** after a removal (or [`Dict::retain`]) leaves
//!   `len < 10%` of the buckets, to the next power of two `>= len`, never below 4
//!   buckets ([`Dict::should_shrink`], [`Dict::try_shrink`] expose the same check).
//!   One shrink divides the table by at most 64 ([`MAX_SHRINK_FACTOR`]); if the table
//!   is still too sparse when that rehash ends, the next shrink starts at once. The
//!   cap bounds the work of one [`Dict::scan`] call during a shrink (it visits
//!   `big / small` buckets of the bigger table for each bucket of the smaller one),
//!   which in Redis can reach the whole table after a mass deletion.
//! * No resize starts while one is in progress; inserts during a rehash go to `ht1`.
//! * While a forked child (BGSAVE, AOF rewrite) shares the parent's pages, resizing
//!   would copy them for nothing: the server sets [`ResizePolicy::Avoid`] (Redis's
//!   `dict_can_resize`, see [`set_resize_policy`]). Then no shrink starts, a table
//!   grows only past 5 entries per bucket, and a rehash in progress advances only
//!   between sizes 5 or more times apart, as in Redis.
//! * Tables never exceed [`MAX_BUCKETS`] (2^40 on 64-bit, 8 TiB of bucket array, far
//!   beyond any real machine): past that the chains simply grow longer.
//!
//! # Cost of each operation
//!
//! Every operation is O(1) expected, plus at most one bounded rehash step (one
//! bucket moved, at most 10 empty buckets skipped), except: [`Dict::clear`] and
//! `Drop` (O(n)); the iterators and [`Dict::retain`] (O(n) by nature); the table
//! allocation at the start of a resize (the allocator's calloc, lazily zeroed for big
//! tables); and freeing the old bucket vector when a rehash completes (only the slots
//! not yet popped, typically a handful).
//!
//! Shared-reference lookups ([`Dict::get`], [`Dict::scan`], sampling) cannot move
//! buckets (they take `&self`); the mutating ones ([`Dict::get_mut`],
//! [`Dict::insert`], [`Dict::get_or_insert_with`], [`Dict::remove`]) each do one
//! rehash step, and [`Dict::rehash_for_micros`] lets a server cron finish a rehash on
//! a read-only workload, exactly like Redis's `databasesCron`.
//!
//! # Hashing
//!
//! `ahash` with one random seed per process (a `RandomState` created once). It is
//! DoS-resistant (keyed with a secret random seed, so an attacker cannot precompute
//! colliding keys) and among the fastest keyed hashes for short byte strings (AES
//! rounds when built with the `aes` target feature, a folded multiply otherwise).
//! The seed is per process rather than per dict so that a dict moved between threads
//! or rebuilt keeps the same hash function and no dict carries the seed's 32 bytes.
//! foldhash was not tried: hashing is under 10% of the benchmark's profile, where
//! the cache misses on the bucket, the node and the key dominate.
//!
//! # Allocation
//!
//! A new bucket array comes from calloc (`alloc_buckets`): for big tables the
//! kernel supplies zero pages lazily, so starting a resize does not write n slots
//! (measured: 22 us instead of 3.6-4.5 ms to start growing to 2^20 buckets).
//!
//! As in Redis (`zmalloc` aborts on OOM), a failed allocation aborts the process;
//! [`Dict::try_with_capacity`] is the fallible constructor for sizes read from input.
//!
//! glibc's malloc adds its own pauses: after many small frees (mass deletion), the
//! next large allocation or free consolidates every freed chunk at once (measured
//! 26-30 ms after 900k removes, in whichever operation allocates). The server binary
//! should use jemalloc or mimalloc, as Redis uses jemalloc.

use std::collections::TryReserveError;
use std::fmt;
use std::iter::{Chain, FusedIterator};
use std::mem;
use std::slice;
use std::sync::atomic::{AtomicU8, Ordering as AtomicOrdering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rand::Rng;

/// A key: an owned byte string, inline when short (see `keyspace::key`).
pub use super::key::Key;

/// The bytes of a key. The one place that knows how a [`Key`] derefs.
#[inline]
fn key_bytes(key: &Key) -> &[u8] {
    key
}

/// Builds a [`Key`] from borrowed bytes (only on insertion, never on lookup).
#[inline]
fn key_from(bytes: &[u8]) -> Key {
    Key::from(bytes)
}

/// Heap bytes a key owns, as an allocator would charge them (see `malloc_size`).
#[inline]
fn key_alloc_size(key: &Key) -> usize {
    malloc_size(key.heap_len())
}

/// Smallest table, as Redis's `DICT_HT_INITIAL_SIZE`.
pub const MIN_BUCKETS: usize = 4;

const MAX_BUCKETS_EXP: u32 = if usize::BITS >= 64 { 40 } else { usize::BITS - 4 };

/// Largest table: 2^40 buckets on 64-bit targets. Growth stops there and chains lengthen.
pub const MAX_BUCKETS: usize = 1 << MAX_BUCKETS_EXP;

/// Shrink when fewer than this percentage of buckets would be filled (Redis's
/// `HASHTABLE_MIN_FILL`).
const MIN_FILL_PERCENT: usize = 10;

/// One shrink divides the bucket count by at most this (see the module docs).
pub const MAX_SHRINK_FACTOR: usize = 64;

/// Under [`ResizePolicy::Avoid`], a table still grows past this many entries per bucket,
/// and a rehash between sizes this many times apart still advances (Redis's
/// `dict_force_resize_ratio`).
const FORCE_RESIZE_RATIO: usize = 5;

/// Whether tables may resize (Redis's `dict_can_resize`), process-wide: the server
/// avoids resizing while a forked child shares its memory pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizePolicy {
    /// Grow, shrink and rehash freely.
    Enable,
    /// Only grow past [`FORCE_RESIZE_RATIO`] entries per bucket, never shrink, and
    /// advance a rehash only between sizes that ratio apart.
    Avoid,
    /// Like `Avoid`, and no rehash step at all.
    Forbid,
}

static RESIZE_POLICY: AtomicU8 = AtomicU8::new(ResizePolicy::Enable as u8);

/// Sets the process-wide [`ResizePolicy`] (Redis's `updateDictResizePolicy`).
pub fn set_resize_policy(p: ResizePolicy) {
    RESIZE_POLICY.store(p as u8, AtomicOrdering::Relaxed);
}

/// The current [`ResizePolicy`].
pub fn resize_policy() -> ResizePolicy {
    match RESIZE_POLICY.load(AtomicOrdering::Relaxed) {
        0 => ResizePolicy::Enable,
        1 => ResizePolicy::Avoid,
        _ => ResizePolicy::Forbid,
    }
}

/// Whether a table of `size` buckets holding `used` entries grows under `policy`
/// (Redis's `_dictExpandIfNeeded`).
#[inline]
fn should_grow(policy: ResizePolicy, used: usize, size: usize) -> bool {
    used >= size && (policy == ResizePolicy::Enable || used / size > FORCE_RESIZE_RATIO)
}

/// Whether a rehash from `from` to `to` buckets may advance under `policy` (Redis's
/// check at the top of `dictRehash`).
#[inline]
fn rehash_allowed(policy: ResizePolicy, from: usize, to: usize) -> bool {
    match policy {
        ResizePolicy::Enable => true,
        ResizePolicy::Forbid => false,
        ResizePolicy::Avoid => from.max(to) / from.min(to).max(1) >= FORCE_RESIZE_RATIO,
    }
}

/// Empty buckets a rehash step may skip per bucket it is asked to move (Redis: 10).
const EMPTY_VISITS_PER_BUCKET: usize = 10;

/// Buckets moved between two clock reads in [`Dict::rehash_for_micros`] (Redis: 100).
const CRON_BATCH: usize = 100;

/// Chain depth assumed by [`Dict::random_entry`]'s rejection sampling: a probed
/// bucket with `L` entries is accepted with probability `min(L, 4) / 4`.
const FAIR_CHAIN_DEPTH: usize = 4;

/// Bucket probes [`Dict::random_entry`] makes before falling back to Redis's method.
const FAIR_PROBES: usize = 64;

/// Entries sampled by [`Dict::random_entry`]'s fallback before picking one (Redis's
/// `GETFAIR_NUM_ENTRIES`).
const FAIR_SAMPLE_SIZE: usize = 15;

/// Random bucket probes of the last-resort fallback before it walks the buckets.
const RANDOM_PROBES: usize = 100;

/// The process-wide hash function, seeded randomly once.
fn hasher() -> &'static ahash::RandomState {
    static STATE: OnceLock<ahash::RandomState> = OnceLock::new();
    STATE.get_or_init(ahash::RandomState::new)
}

#[inline]
fn hash_key(key: &[u8]) -> u64 {
    hasher().hash_one(key)
}

/// What the allocator (jemalloc, the server's global allocator) charges for an `n`-byte
/// request: its size class, nothing for no allocation.
#[inline]
fn malloc_size(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        crate::types::size_class(n)
    }
}

/// Smallest power of two `>= n`, clamped to `[MIN_BUCKETS, MAX_BUCKETS]`.
#[inline]
fn bucket_count_for(n: usize) -> usize {
    n.max(MIN_BUCKETS).checked_next_power_of_two().map_or(MAX_BUCKETS, |p| p.min(MAX_BUCKETS))
}

type Link<V> = Option<Box<Node<V>>>;

struct Node<V> {
    key: Key,
    val: V,
    next: Link<V>,
}

/// Allocates `n` empty buckets with a zeroed allocation (calloc).
///
/// This is the module's only `unsafe`, and it is worth it: writing `None` into every
/// slot (`resize_with`) makes the operation that starts a resize O(n) in the table
/// size, measured at 3.6-4.5 ms when growing to 2^20 buckets (~70 ms at 2^24), while
/// calloc hands out fresh zero pages that the kernel fills lazily as the incremental
/// rehash touches them: the same insert took 22 us. See the `million_ops` test.
fn alloc_buckets<V>(n: usize) -> Vec<Link<V>> {
    let zeroed: Box<[mem::MaybeUninit<Link<V>>]> = Box::new_zeroed_slice(n);
    // SAFETY: every element is all-zero bytes, and an all-zero `Option<Box<T>>` (T
    // sized) is a valid `None`: std guarantees the null-pointer optimisation for
    // `Option<Box<T>>` ("it is guaranteed that transmute::<_, Option<T>>([0u8;
    // size_of::<T>()]) is sound and produces Option::<T>::None", std::option,
    // Representation). So all `n` elements are initialised.
    unsafe { zeroed.assume_init() }.into_vec()
}

/// One hash table.
struct Table<V> {
    /// The buckets. `buckets.len() == size`, except for `ht0` during a rehash, whose
    /// migrated top part has been popped (so `len()` is the rehash index).
    buckets: Vec<Link<V>>,
    /// Number of buckets: 0 (no table) or a power of two in `[MIN_BUCKETS, MAX_BUCKETS]`.
    size: usize,
    /// Number of nodes in this table.
    used: usize,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table { buckets: Vec::new(), size: 0, used: 0 }
    }
}

impl<V> Table<V> {
    fn with_size(size: usize) -> Self {
        debug_assert!(size.is_power_of_two());
        debug_assert!((MIN_BUCKETS..=MAX_BUCKETS).contains(&size));
        Table { buckets: alloc_buckets(size), size, used: 0 }
    }

    #[inline]
    fn mask(&self) -> usize {
        // For `size == 0` this is usize::MAX and `buckets.get()` finds nothing.
        self.size.wrapping_sub(1)
    }

    /// The vector position of `hash`'s bucket: bucket `hash & mask` lives at position
    /// `(hash & mask) ^ mask` (see the module docs, Layout).
    #[inline]
    fn index(&self, hash: u64) -> usize {
        // Truncation on 32-bit targets is fine: only the low bits are used.
        !(hash as usize) & self.mask()
    }

    /// The vector position of bucket number `bucket` (a SCAN cursor's bucket).
    #[inline]
    fn position(&self, bucket: usize) -> usize {
        bucket ^ self.mask()
    }

    /// The chain for `hash`: `None` if the table is empty, or the bucket migrated.
    #[inline]
    fn chain(&self, hash: u64) -> Option<&Node<V>> {
        self.buckets.get(self.index(hash))?.as_deref()
    }

    #[inline]
    fn find(&self, hash: u64, key: &[u8]) -> Option<&Node<V>> {
        let mut cur = self.chain(hash);
        while let Some(node) = cur {
            if key_bytes(&node.key) == key {
                return Some(node);
            }
            cur = node.next.as_deref();
        }
        None
    }

    #[inline]
    fn find_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Node<V>> {
        let idx = self.index(hash);
        let mut cur = self.buckets.get_mut(idx)?.as_deref_mut();
        while let Some(node) = cur {
            if key_bytes(&node.key) == key {
                return Some(node);
            }
            cur = node.next.as_deref_mut();
        }
        None
    }

    /// Appends Redis's `_dictGetStatsHt` text for this table (number `which`). Buckets
    /// already migrated count as empty, as Redis's NULL slots do.
    fn stats(&self, which: u8, out: &mut String) {
        use std::fmt::Write;
        let name = if which == 0 { "main hash table" } else { "rehashing target" };
        let _ = writeln!(out, "Hash table {which} stats ({name}):");
        if self.used == 0 {
            out.push_str("No stats available for empty dictionaries\n");
            return;
        }
        // Redis's DICT_STATS_VECTLEN: chains of 49 or more share the last, unprinted slot.
        const VECTLEN: usize = 50;
        let mut clvector = [0usize; VECTLEN];
        let (mut slots, mut max_chain, mut total_chain) = (0usize, 0usize, 0usize);
        for bucket in &self.buckets {
            let mut len = 0;
            let mut cur = bucket.as_deref();
            while let Some(node) = cur {
                len += 1;
                cur = node.next.as_deref();
            }
            if len == 0 {
                continue;
            }
            slots += 1;
            clvector[len.min(VECTLEN - 1)] += 1;
            max_chain = max_chain.max(len);
            total_chain += len;
        }
        clvector[0] = self.size - slots;
        // The averages and percentages are C floats, as in Redis.
        let _ = write!(
            out,
            " table size: {}\n number of elements: {}\n different slots: {slots}\n max chain length: {max_chain}\n \
             avg chain length (counted): {:.2}\n avg chain length (computed): {:.2}\n Chain length distribution:\n",
            self.size,
            self.used,
            (total_chain as f32 / slots as f32) as f64,
            (self.used as f32 / slots as f32) as f64,
        );
        for (len, &n) in clvector.iter().enumerate().take(VECTLEN - 1) {
            if n != 0 {
                let pct = (n as f32 / self.size as f32) * 100.0;
                let _ = writeln!(out, "   {len}: {n} ({:.2}%)", pct as f64);
            }
        }
    }

    /// Unlinks and returns the node for `key`, if this table has it.
    fn unlink(&mut self, hash: u64, key: &[u8]) -> Option<Box<Node<V>>> {
        let idx = self.index(hash);
        let link = find_link(self.buckets.get_mut(idx)?, key);
        let mut node = link.take()?;
        *link = node.next.take();
        self.used -= 1;
        Some(node)
    }
}

impl<V> Drop for Table<V> {
    /// Frees the chains iteratively: the default recursive drop of a long
    /// `Option<Box<Node>>` chain would overflow the stack.
    fn drop(&mut self) {
        if self.used == 0 {
            return; // Only `None` slots: the Vec's own drop frees them.
        }
        for head in mem::take(&mut self.buckets) {
            let mut cur = head;
            while let Some(mut node) = cur {
                cur = node.next.take();
            }
        }
    }
}

/// The link (a bucket head or some node's `next`) that holds `key`, or the empty link
/// at the end of the chain if the key is absent.
#[inline]
fn find_link<'a, V>(mut link: &'a mut Link<V>, key: &[u8]) -> &'a mut Link<V> {
    while link.as_ref().is_some_and(|node| key_bytes(&node.key) != key) {
        if let Some(node) = link {
            link = &mut node.next;
        }
    }
    link
}

/// Calls `f` on every node of bucket number `bucket` of `table` (nothing if it doesn't
/// exist or was migrated).
#[inline]
fn visit_bucket<V, F: FnMut(&Key, &V)>(table: &Table<V>, bucket: usize, f: &mut F) {
    let mut cur = table.buckets.get(table.position(bucket)).and_then(|b| b.as_deref());
    while let Some(node) = cur {
        f(&node.key, &node.val);
        cur = node.next.as_deref();
    }
}

/// Advances a SCAN cursor: increments the bits above `mask` in reverse order.
#[inline]
fn next_cursor(v: u64, mask: u64) -> u64 {
    (v | !mask).reverse_bits().wrapping_add(1).reverse_bits()
}

/// A chained hash table with incremental rehashing, SCAN cursors and random
/// sampling. See the module documentation.
pub struct Dict<V> {
    ht0: Table<V>,
    ht1: Table<V>,
    /// Sum of `key_alloc_size` over all keys, for [`Dict::mem_usage_estimate`].
    key_alloc_bytes: usize,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Dict<V> {
    /// An empty dict. Allocates nothing until the first insertion.
    pub fn new() -> Self {
        Dict { ht0: Table::default(), ht1: Table::default(), key_alloc_bytes: 0 }
    }

    /// An empty dict whose table holds `capacity` entries before it must grow.
    /// Aborts if the table cannot be allocated; see [`Dict::try_with_capacity`].
    pub fn with_capacity(capacity: usize) -> Self {
        let mut dict = Self::new();
        if capacity > 0 {
            dict.expand(capacity);
        }
        dict
    }

    /// Like [`Dict::with_capacity`], but reports an allocation failure instead of
    /// aborting: use it for sizes that come from outside (an RDB length header).
    pub fn try_with_capacity(capacity: usize) -> Result<Self, TryReserveError> {
        let mut dict = Self::new();
        if capacity > 0 {
            let size = bucket_count_for(capacity);
            let mut buckets = Vec::new();
            buckets.try_reserve_exact(size)?;
            buckets.resize_with(size, || None);
            dict.ht0 = Table { buckets, size, used: 0 };
        }
        Ok(dict)
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.ht0.used + self.ht1.used
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while two tables are live (a resize is being carried out).
    #[inline]
    pub fn is_rehashing(&self) -> bool {
        self.ht1.size != 0
    }

    /// Bucket counts of the main table and of the rehash target (0 if none), for
    /// DEBUG HTSTATS-like introspection.
    pub fn table_sizes(&self) -> (usize, usize) {
        (self.ht0.size, self.ht1.size)
    }

    /// The rehash work Redis's random reads do (`dictGetFairRandomKey` samples
    /// `GETFAIR_NUM_ENTRIES` entries with `dictGetSomeKeys`, which first moves one bucket
    /// per entry asked for), for `draws` random picks. Without it a dict that is only
    /// sampled (SRANDMEMBER) would never finish a rehash: only the keyspace dicts have a
    /// cron. Bounded by the rehash itself.
    pub fn rehash_for_draws(&mut self, draws: usize) {
        if self.is_rehashing() && draws > 0 {
            self.rehash(draws.saturating_mul(FAIR_SAMPLE_SIZE));
        }
    }

    /// Redis's `dictGetStats` text (DEBUG HTSTATS, DEBUG HTSTATS-KEY): the main table's
    /// chain statistics, and the rehash target's while a rehash is in progress.
    pub fn stats(&self) -> String {
        let mut out = String::new();
        self.ht0.stats(0, &mut out);
        if self.is_rehashing() {
            self.ht1.stats(1, &mut out);
        }
        out
    }

    // ----- lookups -------------------------------------------------------------

    #[inline]
    fn find(&self, key: &[u8]) -> Option<&Node<V>> {
        if self.is_empty() {
            return None;
        }
        let hash = hash_key(key);
        match self.ht0.find(hash, key) {
            Some(node) => Some(node),
            None => self.ht1.find(hash, key),
        }
    }

    /// The value for `key`. Does not allocate and does not rehash (it takes `&self`).
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.find(key).map(|node| &node.val)
    }

    /// The stored key and value for `key`.
    #[inline]
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&Key, &V)> {
        self.find(key).map(|node| (&node.key, &node.val))
    }

    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// The value for `key`, mutably. Does one rehash step if a rehash is in progress.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let hash = hash_key(key);
        if let Some(node) = self.ht0.find_mut(hash, key) {
            return Some(&mut node.val);
        }
        self.ht1.find_mut(hash, key).map(|node| &mut node.val)
    }

    // ----- insertion -----------------------------------------------------------

    /// The bookkeeping before an insertion: a rehash step, or growth if needed.
    #[inline]
    fn prepare_insert(&mut self) {
        if self.is_rehashing() {
            self.rehash(1);
        }
        if !self.is_rehashing() {
            if self.ht0.size == 0 {
                self.expand(MIN_BUCKETS);
            } else if should_grow(resize_policy(), self.ht0.used, self.ht0.size) {
                self.expand(self.ht0.used.saturating_add(1));
            }
        }
        debug_assert!(self.ht0.size != 0);
    }

    /// Inserts `key` → `val`. If the key was present, replaces the value (keeping the
    /// stored key) and returns the old value.
    pub fn insert(&mut self, key: Key, val: V) -> Option<V> {
        let hash = hash_key(key_bytes(&key));
        self.prepare_insert();
        let table = if self.is_rehashing() {
            if let Some(node) = self.ht0.find_mut(hash, key_bytes(&key)) {
                return Some(mem::replace(&mut node.val, val));
            }
            &mut self.ht1
        } else {
            &mut self.ht0
        };
        let idx = table.index(hash);
        debug_assert!(idx < table.buckets.len());
        let link = find_link(&mut table.buckets[idx], key_bytes(&key));
        match link {
            Some(node) => Some(mem::replace(&mut node.val, val)),
            None => {
                self.key_alloc_bytes += key_alloc_size(&key);
                *link = Some(Box::new(Node { key, val, next: None }));
                table.used += 1;
                None
            }
        }
    }

    /// The value for `key`, inserting `make()` first if the key is absent (the key is
    /// copied only then). Returns the value and whether it was inserted.
    pub fn get_or_insert_with<F: FnOnce() -> V>(&mut self, key: &[u8], make: F) -> (&mut V, bool) {
        let hash = hash_key(key);
        self.prepare_insert();
        let table = if self.is_rehashing() {
            if let Some(node) = self.ht0.find_mut(hash, key) {
                return (&mut node.val, false);
            }
            &mut self.ht1
        } else {
            &mut self.ht0
        };
        let idx = table.index(hash);
        debug_assert!(idx < table.buckets.len());
        let link = find_link(&mut table.buckets[idx], key);
        match link {
            Some(node) => (&mut node.val, false),
            None => {
                // `make` first: if it panics, nothing has changed.
                let val = make();
                let key = key_from(key);
                self.key_alloc_bytes += key_alloc_size(&key);
                table.used += 1;
                let node = link.insert(Box::new(Node { key, val, next: None }));
                (&mut node.val, true)
            }
        }
    }

    // ----- removal -------------------------------------------------------------

    /// Removes `key`, returning the stored key and its value. May start a shrink.
    pub fn remove(&mut self, key: &[u8]) -> Option<(Key, V)> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step();
        let hash = hash_key(key);
        let node = match self.ht0.unlink(hash, key) {
            Some(node) => node,
            None => self.ht1.unlink(hash, key)?,
        };
        let Node { key, val, next } = *node;
        debug_assert!(next.is_none());
        self.key_alloc_bytes -= key_alloc_size(&key);
        self.try_shrink();
        Some((key, val))
    }

    /// Keeps only the entries for which `keep` returns true. O(n). May start a shrink.
    /// If `keep` panics, the entries already removed stay removed and the dict stays
    /// consistent.
    pub fn retain<F: FnMut(&Key, &mut V) -> bool>(&mut self, mut keep: F) {
        let key_alloc_bytes = &mut self.key_alloc_bytes;
        for table in [&mut self.ht0, &mut self.ht1] {
            let Table { buckets, used, .. } = table;
            for bucket in buckets.iter_mut() {
                let mut link = bucket;
                loop {
                    let kept = match link.as_deref_mut() {
                        None => break,
                        Some(node) => keep(&node.key, &mut node.val),
                    };
                    if kept {
                        match link {
                            Some(node) => link = &mut node.next,
                            None => break,
                        }
                    } else if let Some(mut node) = link.take() {
                        *link = node.next.take();
                        *used -= 1;
                        *key_alloc_bytes -= key_alloc_size(&node.key);
                    }
                }
            }
        }
        self.try_shrink();
    }

    /// Removes everything and frees the tables. O(n).
    pub fn clear(&mut self) {
        self.ht0 = Table::default();
        self.ht1 = Table::default();
        self.key_alloc_bytes = 0;
    }

    /// Moves the whole content out in O(1), leaving an empty dict, so that a huge dict
    /// can be dropped on another thread (FLUSHALL ASYNC).
    pub fn take(&mut self) -> Dict<V> {
        mem::take(self)
    }

    // ----- resizing ------------------------------------------------------------

    /// Starts a resize to hold `min_size` entries (rounded to a power of two, clamped
    /// to `[MIN_BUCKETS, MAX_BUCKETS]`). Returns false if a rehash is already in
    /// progress or the size would not change.
    fn expand(&mut self, min_size: usize) -> bool {
        if self.is_rehashing() {
            return false;
        }
        let size = bucket_count_for(min_size);
        if size == self.ht0.size {
            return false;
        }
        if self.ht0.size == 0 {
            self.ht0 = Table::with_size(size);
        } else {
            self.ht1 = Table::with_size(size);
        }
        true
    }

    /// True if the table is sparse enough to shrink: more than [`MIN_BUCKETS`]
    /// buckets, fewer than 10% filled, no rehash in progress, and the
    /// [`ResizePolicy`] is `Enable`.
    pub fn should_shrink(&self) -> bool {
        !self.is_rehashing()
            && resize_policy() == ResizePolicy::Enable
            && self.ht0.size > MIN_BUCKETS
            && self.ht0.used.saturating_mul(100) < self.ht0.size.saturating_mul(MIN_FILL_PERCENT)
    }

    /// Starts a shrink if [`Dict::should_shrink`]. Called automatically by
    /// [`Dict::remove`], [`Dict::retain`] and at the end of a rehash, so callers
    /// never need to; returns whether a shrink started.
    pub fn try_shrink(&mut self) -> bool {
        if !self.should_shrink() {
            return false;
        }
        let target = self.ht0.used.max(MIN_BUCKETS).max(self.ht0.size / MAX_SHRINK_FACTOR);
        self.expand(target)
    }

    /// One bounded rehash step, as Redis's `_dictRehashStep`.
    #[inline]
    fn rehash_step(&mut self) {
        if self.is_rehashing() {
            self.rehash(1);
        }
    }

    /// Moves up to `n` non-empty buckets from `ht0` to `ht1`, skipping at most
    /// `10 * n` empty ones. Returns true if the rehash is not finished.
    fn rehash(&mut self, n: usize) -> bool {
        if !self.is_rehashing() {
            return false;
        }
        if !rehash_allowed(resize_policy(), self.ht0.size, self.ht1.size) {
            return true;
        }
        debug_assert!(self.ht0.buckets.len() <= self.ht0.size);
        debug_assert!(self.ht1.buckets.len() == self.ht1.size);
        let growing = self.ht1.size > self.ht0.size;
        let mask1 = self.ht1.mask();
        let mut empty_visits = n.saturating_mul(EMPTY_VISITS_PER_BUCKET);
        let mut todo = n;
        while todo > 0 && self.ht0.used != 0 {
            let head = match self.ht0.buckets.pop() {
                Some(Some(head)) => head,
                Some(None) => {
                    empty_visits -= 1;
                    if empty_visits == 0 {
                        return true;
                    }
                    continue;
                }
                None => panic!("dict invariant broken: ht0.used > 0 but no bucket left"),
            };
            let pos0 = self.ht0.buckets.len();
            let mut cur = Some(head);
            while let Some(mut node) = cur {
                cur = node.next.take();
                let idx1 = if growing {
                    self.ht1.index(hash_key(key_bytes(&node.key)))
                } else {
                    // Shrinking between powers of two: !hash & mask1 == pos0 & mask1.
                    pos0 & mask1
                };
                let slot = &mut self.ht1.buckets[idx1];
                node.next = slot.take();
                *slot = Some(node);
                self.ht0.used -= 1;
                self.ht1.used += 1;
            }
            todo -= 1;
        }
        if self.ht0.used != 0 {
            return true;
        }
        // Done: the new table becomes the main one; the old one is freed here.
        self.ht0 = mem::take(&mut self.ht1);
        self.try_shrink()
    }

    /// Rehashes for about `micros` microseconds (checking the clock every 100
    /// buckets), for a background cron. Returns true if a rehash is still in progress.
    pub fn rehash_for_micros(&mut self, micros: u64) -> bool {
        if !self.is_rehashing() {
            return false;
        }
        if !rehash_allowed(resize_policy(), self.ht0.size, self.ht1.size) {
            return true;
        }
        let start = Instant::now();
        let budget = Duration::from_micros(micros);
        while self.rehash(CRON_BATCH) {
            if start.elapsed() >= budget {
                return true;
            }
        }
        false
    }

    // ----- SCAN ----------------------------------------------------------------

    /// One step of a SCAN (Redis's `dictScan`): calls `f` on every entry of the
    /// bucket(s) that `cursor` designates and returns the next cursor, 0 when done.
    ///
    /// Guarantee: an entry present from the call with cursor 0 until the call that
    /// returns 0 is reported at least once, whatever inserts, removals, growths,
    /// shrinks and rehash steps happen between calls. Entries may be reported more
    /// than once. Costs one bucket of the smaller table plus `big / small` buckets of
    /// the bigger one while rehashing (at most [`MAX_SHRINK_FACTOR`] after a shrink).
    pub fn scan<F: FnMut(&Key, &V)>(&self, cursor: u64, mut f: F) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        if !self.is_rehashing() {
            let m0 = self.ht0.mask() as u64;
            visit_bucket(&self.ht0, (v & m0) as usize, &mut f);
            return next_cursor(v, m0);
        }
        let (small, big) = if self.ht0.size <= self.ht1.size { (&self.ht0, &self.ht1) } else { (&self.ht1, &self.ht0) };
        let m0 = small.mask() as u64;
        let m1 = big.mask() as u64;
        visit_bucket(small, (v & m0) as usize, &mut f);
        // Visit every bucket of the big table that expands the small one's bucket.
        loop {
            visit_bucket(big, (v & m1) as usize, &mut f);
            v = next_cursor(v, m1);
            if v & (m0 ^ m1) == 0 {
                break;
            }
        }
        v
    }

    // ----- random sampling -----------------------------------------------------

    /// Calls `f` on up to `count` entries taken from consecutive buckets starting at
    /// a random one (Redis's `dictGetSomeKeys`), in at most `10 * count` bucket
    /// steps. Returns how many entries were reported. The chain that fills the sample
    /// is read to its end with reservoir sampling, so the tail of a chain longer than
    /// `count` can be picked too (as Redis 7.0.12+ does).
    fn sample_nodes<'a, R: Rng + ?Sized, F: FnMut(&'a Node<V>)>(
        &'a self,
        count: usize,
        rng: &mut R,
        mut f: F,
    ) -> usize {
        let count = count.min(self.len());
        if count == 0 {
            return 0;
        }
        // Positions at or above `span` exist in neither table (`ht0`'s migrated part,
        // beyond `ht1`), so sampling there would only waste steps.
        let span = self.ht0.buckets.len().max(self.ht1.buckets.len());
        debug_assert!(span > 0);
        let mut i = rng.gen_range(0..span);
        let mut steps = count.saturating_mul(10);
        let mut empty_run = 0;
        let mut picked: Vec<&'a Node<V>> = Vec::with_capacity(count);
        let mut seen = 0usize;
        'outer: while steps > 0 {
            steps -= 1;
            for table in [&self.ht0, &self.ht1] {
                match table.buckets.get(i) {
                    None => {}
                    Some(None) => {
                        empty_run += 1;
                        if empty_run >= 5 && empty_run > count {
                            // A long empty run: jump elsewhere (as Redis does).
                            i = rng.gen_range(0..span);
                            empty_run = 0;
                        }
                    }
                    Some(Some(head)) => {
                        empty_run = 0;
                        let mut cur = Some(&**head);
                        while let Some(node) = cur {
                            if picked.len() < count {
                                picked.push(node);
                            } else if let Some(slot) = picked.get_mut(rng.gen_range(0..=seen)) {
                                *slot = node;
                            }
                            seen += 1;
                            cur = node.next.as_deref();
                        }
                        if picked.len() == count {
                            break 'outer;
                        }
                    }
                }
            }
            i += 1;
            if i >= span {
                i = 0;
            }
        }
        let found = picked.len();
        picked.into_iter().for_each(&mut f);
        found
    }

    /// Calls `f` on up to `count` entries from a random region of the table, with
    /// bounded work (Redis's `dictGetSomeKeys`, used by active expiry and eviction).
    /// Entries are not independent draws and may repeat. Returns the number reported,
    /// which can be below `count` if the table is sparse.
    pub fn sample<R: Rng + ?Sized, F: FnMut(&Key, &V)>(&self, count: usize, rng: &mut R, mut f: F) -> usize {
        self.sample_nodes(count, rng, |node| f(&node.key, &node.val))
    }

    /// A random entry, close to uniform. `None` iff the dict is empty.
    ///
    /// Redis's `dictGetFairRandomKey` (take the entries of a run of consecutive
    /// buckets, pick one) is biased by the local density of the table: an entry after
    /// a long empty run is picked far more often, and during a rehash the two tables
    /// have very different densities (we measured a 5x skew). So this first tries
    /// rejection sampling: probe a random bucket of either table, accept it with
    /// probability `min(L, 4) / 4` for a chain of `L` entries, then take one of its
    /// entries uniformly. Every entry in a chain of up to 4 (at load factor <= 1, all
    /// but ~2% of them) then has exactly the same probability, and longer chains'
    /// entries are only slightly under-represented (4/L). It needs about
    /// `4 / load_factor` probes (4 to 40), so after 64 failed probes (a very sparse
    /// moment, e.g. mid-shrink) it falls back to Redis's method, then to a random
    /// bucket's random entry (Redis's `dictGetRandomKey`).
    pub fn random_entry<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<(&Key, &V)> {
        if self.is_empty() {
            return None;
        }
        if let Some(node) = self.random_node_rejection(rng) {
            return Some((&node.key, &node.val));
        }
        let mut picked: [Option<&Node<V>>; FAIR_SAMPLE_SIZE] = [None; FAIR_SAMPLE_SIZE];
        let mut n = 0;
        self.sample_nodes(FAIR_SAMPLE_SIZE, rng, |node| {
            if let Some(slot) = picked.get_mut(n) {
                *slot = Some(node);
                n += 1;
            }
        });
        let node =
            if n > 0 { picked.get(rng.gen_range(0..n)).copied().flatten() } else { self.random_node_unfair(rng) };
        node.map(|node| (&node.key, &node.val))
    }

    /// Rejection sampling over the slots of both tables; see [`Dict::random_entry`].
    fn random_node_rejection<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<&Node<V>> {
        let n0 = self.ht0.buckets.len();
        let total = n0 + self.ht1.buckets.len();
        if total == 0 {
            return None;
        }
        for _ in 0..FAIR_PROBES {
            let r = rng.gen_range(0..total);
            let bucket = if r < n0 { self.ht0.buckets.get(r) } else { self.ht1.buckets.get(r - n0) };
            let Some(head) = bucket.and_then(|b| b.as_deref()) else {
                continue;
            };
            let mut chain_len = 0;
            let mut cur = Some(head);
            while let Some(node) = cur {
                chain_len += 1;
                cur = node.next.as_deref();
            }
            let pick = rng.gen_range(0..chain_len.max(FAIR_CHAIN_DEPTH));
            if pick >= chain_len {
                continue; // Rejected: short chains must not favour their entries.
            }
            let mut cur = head;
            for _ in 0..pick {
                cur = cur.next.as_deref()?;
            }
            return Some(cur);
        }
        None
    }

    /// Redis's `dictGetRandomKey`: a random non-empty bucket (random probes, then a
    /// walk from a random bucket), then a random node of its chain.
    fn random_node_unfair<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<&Node<V>> {
        if self.is_empty() {
            return None;
        }
        let n0 = self.ht0.buckets.len();
        let total = n0 + self.ht1.buckets.len();
        let slot = |r: usize| -> Option<&Node<V>> {
            if r < n0 {
                self.ht0.buckets.get(r)?.as_deref()
            } else {
                self.ht1.buckets.get(r - n0)?.as_deref()
            }
        };
        let mut head = (0..RANDOM_PROBES).find_map(|_| slot(rng.gen_range(0..total)));
        if head.is_none() {
            let start = rng.gen_range(0..total);
            head = (0..total).find_map(|k| slot((start + k) % total));
        }
        let head = head?;
        let mut chain_len = 0;
        let mut cur = Some(head);
        while let Some(node) = cur {
            chain_len += 1;
            cur = node.next.as_deref();
        }
        let mut cur = head;
        for _ in 0..rng.gen_range(0..chain_len) {
            cur = cur.next.as_deref()?;
        }
        Some(cur)
    }

    // ----- iteration -----------------------------------------------------------

    /// All entries, in no particular order. O(n) over the whole iteration.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter { buckets: self.ht0.buckets.iter().chain(self.ht1.buckets.iter()), node: None, remaining: self.len() }
    }

    /// All entries with mutable values, in no particular order.
    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        let remaining = self.len();
        IterMut { buckets: self.ht0.buckets.iter_mut().chain(self.ht1.buckets.iter_mut()), node: None, remaining }
    }

    /// All keys, in no particular order.
    pub fn keys(&self) -> Keys<'_, V> {
        Keys { inner: self.iter() }
    }

    /// All values, in no particular order.
    pub fn values(&self) -> Values<'_, V> {
        Values { inner: self.iter() }
    }

    // ----- introspection -------------------------------------------------------

    /// Bytes used by the dict itself: the struct, both bucket arrays, the nodes and
    /// the key bytes (with allocator rounding), not heap owned by the values.
    pub fn mem_usage_estimate(&self) -> usize {
        mem::size_of::<Self>() + self.overhead_bytes() + self.key_alloc_bytes
    }

    /// The allocation one entry's node takes (key inline, value, chain link).
    pub fn node_bytes() -> usize {
        malloc_size(mem::size_of::<Node<V>>())
    }

    /// Bytes of the table structure: both bucket arrays and one node per entry, not the
    /// key bytes outside the nodes nor what values own (MEMORY STATS's per-database
    /// `overhead.hashtable.*`).
    pub fn overhead_bytes(&self) -> usize {
        self.buckets_bytes() + self.len() * Self::node_bytes()
    }

    /// The allocations of both bucket arrays (a table being migrated keeps its array).
    fn buckets_bytes(&self) -> usize {
        let slots = |t: &Table<V>| malloc_size(t.buckets.capacity() * mem::size_of::<Link<V>>());
        slots(&self.ht0) + slots(&self.ht1)
    }

    /// MEMORY USAGE's estimate of the heap the dict owns, sampled as Redis's
    /// `objectComputeSize` does: the bucket arrays exactly, then the first `samples`
    /// entries (node, key bytes and `value_bytes` of the value) averaged and multiplied
    /// by the number of entries. `samples == usize::MAX` counts every entry.
    pub fn mem_usage_sampled(&self, samples: usize, value_bytes: impl Fn(&V) -> usize) -> usize {
        let node = Self::node_bytes();
        let (mut n, mut sum) = (0usize, 0usize);
        for (k, v) in self.iter().take(samples) {
            sum += node + key_alloc_size(k) + value_bytes(v);
            n += 1;
        }
        let entries = if n == 0 { 0 } else { (sum as f64 / n as f64 * self.len() as f64) as usize };
        self.buckets_bytes() + entries
    }

    /// Checks every invariant, in O(n); panics if one is broken. For tests and
    /// debugging (the hot paths only `debug_assert!` the O(1) ones).
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        let mut seen = std::collections::HashSet::new();
        let mut key_alloc = 0;
        for (t, table) in [&self.ht0, &self.ht1].into_iter().enumerate() {
            assert!(
                table.size == 0 || (table.size.is_power_of_two() && (MIN_BUCKETS..=MAX_BUCKETS).contains(&table.size)),
                "table {t}: bad size {}",
                table.size
            );
            assert!(table.buckets.len() <= table.size, "table {t}: too many buckets");
            if t == 1 || !self.is_rehashing() {
                assert_eq!(table.buckets.len(), table.size, "table {t}: truncated");
            }
            let mut nodes = 0;
            for (idx, bucket) in table.buckets.iter().enumerate() {
                let mut cur = bucket.as_deref();
                while let Some(node) = cur {
                    nodes += 1;
                    let k = key_bytes(&node.key);
                    assert_eq!(table.index(hash_key(k)), idx, "table {t}: node in wrong bucket");
                    assert!(seen.insert(k.to_vec()), "duplicate key {:?}", k);
                    key_alloc += key_alloc_size(&node.key);
                    cur = node.next.as_deref();
                }
            }
            assert_eq!(nodes, table.used, "table {t}: used != number of nodes");
        }
        if self.is_rehashing() {
            assert_ne!(self.ht0.size, self.ht1.size, "rehash between equal sizes");
            assert!(self.ht0.size != 0, "ht1 live without ht0");
        } else {
            assert_eq!(self.ht1.used, 0);
            assert!(self.ht1.buckets.is_empty());
        }
        assert_eq!(key_alloc, self.key_alloc_bytes, "key byte accounting");
    }
}

/// Prints keys as escaped ASCII strings.
struct BytesDebug<'a>(&'a [u8]);

impl fmt::Debug for BytesDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

impl<V: fmt::Debug> fmt::Debug for Dict<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(k, v)| (BytesDebug(key_bytes(k)), v))).finish()
    }
}

impl<'a, V> IntoIterator for &'a Dict<V> {
    type Item = (&'a Key, &'a V);
    type IntoIter = Iter<'a, V>;
    fn into_iter(self) -> Iter<'a, V> {
        self.iter()
    }
}

impl<'a, V> IntoIterator for &'a mut Dict<V> {
    type Item = (&'a Key, &'a mut V);
    type IntoIter = IterMut<'a, V>;
    fn into_iter(self) -> IterMut<'a, V> {
        self.iter_mut()
    }
}

/// Iterator over `(&Key, &V)`; see [`Dict::iter`].
pub struct Iter<'a, V> {
    buckets: Chain<slice::Iter<'a, Link<V>>, slice::Iter<'a, Link<V>>>,
    node: Option<&'a Node<V>>,
    remaining: usize,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a Key, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(node) = self.node {
                self.node = node.next.as_deref();
                self.remaining = self.remaining.saturating_sub(1);
                return Some((&node.key, &node.val));
            }
            self.node = self.buckets.next()?.as_deref();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<V> ExactSizeIterator for Iter<'_, V> {}
impl<V> FusedIterator for Iter<'_, V> {}

/// Iterator over `(&Key, &mut V)`; see [`Dict::iter_mut`].
pub struct IterMut<'a, V> {
    buckets: Chain<slice::IterMut<'a, Link<V>>, slice::IterMut<'a, Link<V>>>,
    node: Option<&'a mut Node<V>>,
    remaining: usize,
}

impl<'a, V> Iterator for IterMut<'a, V> {
    type Item = (&'a Key, &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(node) = self.node.take() {
                let Node { key, val, next } = node;
                self.node = next.as_deref_mut();
                self.remaining = self.remaining.saturating_sub(1);
                return Some((&*key, val));
            }
            self.node = self.buckets.next()?.as_deref_mut();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<V> ExactSizeIterator for IterMut<'_, V> {}
impl<V> FusedIterator for IterMut<'_, V> {}

/// Iterator over keys; see [`Dict::keys`].
pub struct Keys<'a, V> {
    inner: Iter<'a, V>,
}

impl<'a, V> Iterator for Keys<'a, V> {
    type Item = &'a Key;
    fn next(&mut self) -> Option<&'a Key> {
        self.inner.next().map(|(k, _)| k)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<V> ExactSizeIterator for Keys<'_, V> {}
impl<V> FusedIterator for Keys<'_, V> {}

/// Iterator over values; see [`Dict::values`].
pub struct Values<'a, V> {
    inner: Iter<'a, V>,
}

impl<'a, V> Iterator for Values<'a, V> {
    type Item = &'a V;
    fn next(&mut self) -> Option<&'a V> {
        self.inner.next().map(|(_, v)| v)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<V> ExactSizeIterator for Values<'_, V> {}
impl<V> FusedIterator for Values<'_, V> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::{HashMap, HashSet};

    fn k(s: &str) -> Key {
        key_from(s.as_bytes())
    }

    fn num_key(prefix: &str, n: u64) -> Vec<u8> {
        format!("{prefix}{n}").into_bytes()
    }

    /// Inserts until a grow rehash is in progress; returns the number inserted.
    fn fill_until_rehashing(d: &mut Dict<u64>, prefix: &str) -> u64 {
        let mut i = 0;
        while !d.is_rehashing() {
            d.insert(key_from(&num_key(prefix, i)), i);
            i += 1;
        }
        i
    }

    fn full_scan<V>(d: &Dict<V>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = d.scan(cursor, |k, _| out.push(k.to_vec()));
            if cursor == 0 {
                return out;
            }
        }
    }

    #[test]
    fn basic_insert_get_remove() {
        let mut d = Dict::new();
        assert!(d.is_empty());
        assert_eq!(d.get(b"a"), None);
        assert_eq!(d.remove(b"a"), None);
        assert_eq!(d.insert(k("a"), 1), None);
        assert_eq!(d.insert(k("b"), 2), None);
        assert_eq!(d.insert(k(""), 3), None);
        assert_eq!(d.len(), 3);
        assert_eq!(d.get(b"a"), Some(&1));
        assert_eq!(d.get(b""), Some(&3));
        assert!(d.contains_key(b"b"));
        assert!(!d.contains_key(b"c"));
        *d.get_mut(b"b").unwrap() += 10;
        assert_eq!(d.get(b"b"), Some(&12));
        assert_eq!(d.get_mut(b"zz"), None);
        assert_eq!(d.remove(b"a"), Some((k("a"), 1)));
        assert_eq!(d.remove(b"a"), None);
        assert_eq!(d.len(), 2);
        d.check_invariants();
    }

    #[test]
    fn insert_replaces_value_but_keeps_stored_key() {
        // Keys longer than the inline limit live on the heap: their address shows whether
        // the stored key was kept.
        const LONG: &str = "a-key-long-enough-to-be-boxed";
        let mut d = Dict::new();
        let first = k(LONG);
        let first_ptr = first.as_ptr();
        d.insert(first, 1);
        assert_eq!(d.insert(k(LONG), 2), Some(1));
        let (stored, v) = d.get_key_value(LONG.as_bytes()).unwrap();
        assert_eq!(*v, 2);
        assert_eq!(stored.as_ptr(), first_ptr);
        assert_eq!(d.len(), 1);
        // The same during a rehash, for a key still in the old table.
        let prefix = "a-prefix-long-enough-to-box-";
        let k0 = format!("{prefix}0");
        let mut d = Dict::new();
        let n = fill_until_rehashing(&mut d, prefix);
        let ptr = d.get_key_value(k0.as_bytes()).unwrap().0.as_ptr();
        assert_eq!(d.insert(k(&k0), 99), Some(0));
        assert_eq!(d.get_key_value(k0.as_bytes()).unwrap().0.as_ptr(), ptr);
        assert_eq!(d.len() as u64, n);
        d.check_invariants();
    }

    #[test]
    fn get_or_insert_with_reports_insertion() {
        let mut d: Dict<Vec<u32>> = Dict::new();
        let (v, inserted) = d.get_or_insert_with(b"list", Vec::new);
        assert!(inserted);
        v.push(1);
        let (v, inserted) = d.get_or_insert_with(b"list", || panic!("must not be called"));
        assert!(!inserted);
        v.push(2);
        assert_eq!(d.get(b"list"), Some(&vec![1, 2]));
        for i in 0..1000u32 {
            let (v, inserted) = d.get_or_insert_with(&i.to_be_bytes(), Vec::new);
            assert!(inserted);
            v.push(i);
        }
        for i in 0..1000u32 {
            let (v, inserted) = d.get_or_insert_with(&i.to_be_bytes(), Vec::new);
            assert!(!inserted);
            assert_eq!(v, &vec![i]);
        }
        assert_eq!(d.len(), 1001);
        d.check_invariants();
    }

    #[test]
    fn grows_by_doubling_and_rehashes_incrementally() {
        let mut d = Dict::new();
        assert_eq!(d.table_sizes(), (0, 0));
        d.insert(k("0"), 0);
        assert_eq!(d.table_sizes(), (4, 0));
        for i in 1..4u64 {
            d.insert(key_from(&num_key("", i)), i);
        }
        assert_eq!(d.table_sizes(), (4, 0));
        // The fifth insert sees len == buckets and starts a doubling.
        d.insert(k("4"), 4);
        assert_eq!(d.table_sizes().1, 8);
        for i in 5..1000 {
            d.insert(key_from(&num_key("", i)), i);
            d.check_invariants();
        }
        assert!(!d.rehash_for_micros(1_000_000));
        let (s0, s1) = d.table_sizes();
        assert_eq!(s1, 0);
        assert!(s0.is_power_of_two() && (1000..=2048).contains(&s0), "{s0}");
        for i in 0..1000 {
            assert_eq!(d.get(&num_key("", i)), Some(&i));
        }
    }

    #[test]
    fn with_capacity_avoids_rehash() {
        let mut d = Dict::with_capacity(100);
        assert_eq!(d.table_sizes(), (128, 0));
        for i in 0..128u64 {
            d.insert(key_from(&num_key("", i)), i);
            assert!(!d.is_rehashing());
        }
        d.insert(k("one more"), 0);
        assert!(d.is_rehashing());
        let d = Dict::<u8>::try_with_capacity(1000).unwrap();
        assert_eq!(d.table_sizes(), (1024, 0));
        assert_eq!(bucket_count_for(usize::MAX), MAX_BUCKETS);
        assert_eq!(bucket_count_for(0), MIN_BUCKETS);
        assert_eq!(bucket_count_for(5), 8);
    }

    #[test]
    fn shrinks_automatically_but_not_below_minimum() {
        let mut d = Dict::new();
        for i in 0..1000u64 {
            d.insert(key_from(&num_key("", i)), i);
        }
        d.rehash_for_micros(1_000_000);
        assert_eq!(d.table_sizes(), (1024, 0));
        for i in 10..1000u64 {
            assert_eq!(d.remove(&num_key("", i)), Some((key_from(&num_key("", i)), i)));
            d.check_invariants();
        }
        assert!(!d.rehash_for_micros(1_000_000));
        assert_eq!(d.len(), 10);
        // 10 entries: 16 buckets (at least len, and 10 >= 10% of 16 so no further shrink).
        assert_eq!(d.table_sizes(), (16, 0));
        assert!(!d.should_shrink());
        for i in 0..10u64 {
            d.remove(&num_key("", i));
        }
        d.rehash_for_micros(1_000_000);
        assert_eq!(d.table_sizes(), (MIN_BUCKETS, 0));
        assert!(!d.should_shrink());
        assert!(!d.try_shrink());
        d.check_invariants();
    }

    #[test]
    fn shrink_factor_is_capped_and_chains() {
        let mut d = Dict::new();
        for i in 0..100_000u64 {
            d.insert(key_from(&num_key("", i)), i);
        }
        d.rehash_for_micros(10_000_000);
        assert_eq!(d.table_sizes(), (131_072, 0));
        d.retain(|k, _| k.len() == 1);
        assert_eq!(d.len(), 10);
        // One shrink divides by at most 64, then the next starts by itself.
        assert_eq!(d.table_sizes(), (131_072, 131_072 / MAX_SHRINK_FACTOR));
        assert!(!d.rehash_for_micros(10_000_000));
        // 2048 / 64 = 32 buckets; 10 entries fill 31% of them, so no further shrink.
        assert_eq!(d.table_sizes(), (32, 0));
        d.check_invariants();
    }

    #[test]
    fn rehash_step_is_bounded() {
        // A mostly empty big table: one step moves at most one bucket and skips at
        // most 10 empty ones.
        let mut d = Dict::new();
        for i in 0..4096u64 {
            d.insert(key_from(&num_key("", i)), i);
        }
        d.rehash_for_micros(1_000_000);
        d.retain(|k, _| k.len() <= 2); // 100 left of 4096 buckets -> shrink starts
        assert!(d.is_rehashing());
        let before = d.ht0.buckets.len();
        d.rehash(1);
        assert!(before - d.ht0.buckets.len() <= EMPTY_VISITS_PER_BUCKET + 1);
        d.check_invariants();
    }

    #[test]
    fn clear_take_and_reuse() {
        let mut d = Dict::new();
        for i in 0..100u64 {
            d.insert(key_from(&num_key("", i)), i);
        }
        let small = Dict::<u64>::new().mem_usage_estimate();
        assert!(d.mem_usage_estimate() > small + 100 * 40);
        let taken = d.take();
        assert_eq!(taken.len(), 100);
        assert!(d.is_empty());
        assert_eq!(d.mem_usage_estimate(), small);
        let t = std::thread::spawn(move || drop(taken));
        t.join().unwrap();
        d.insert(k("x"), 1);
        assert_eq!(d.get(b"x"), Some(&1));
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.get(b"x"), None);
        assert_eq!(d.table_sizes(), (0, 0));
        d.insert(k("y"), 2);
        assert_eq!(d.len(), 1);
        d.check_invariants();
    }

    #[test]
    fn iterators_and_retain() {
        let mut d = Dict::new();
        for i in 0..500u64 {
            d.insert(key_from(&num_key("", i)), i);
        }
        assert!(d.is_rehashing() || d.table_sizes().0 >= 500);
        let it = d.iter();
        assert_eq!(it.len(), 500);
        let all: HashMap<Vec<u8>, u64> = d.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
        assert_eq!(all.len(), 500);
        assert!(all.iter().all(|(k, v)| *k == num_key("", *v)));
        assert_eq!(d.keys().count(), 500);
        assert_eq!(d.values().sum::<u64>(), (0..500).sum());
        for (_, v) in d.iter_mut() {
            *v *= 2;
        }
        for (_, v) in &mut d {
            *v += 1;
        }
        assert_eq!(d.get(b"7"), Some(&15));
        d.retain(|_, v| *v % 4 == 1);
        assert_eq!(d.len(), 250);
        assert!((&d).into_iter().all(|(_, v)| v % 4 == 1));
        d.check_invariants();
        d.retain(|_, _| false);
        assert!(d.is_empty());
        assert_eq!(d.iter().next(), None);
        d.check_invariants();
    }

    #[test]
    fn debug_format() {
        let mut d = Dict::new();
        d.insert(k("a\n"), 1);
        assert_eq!(format!("{d:?}"), "{\"a\\n\": 1}");
    }

    #[test]
    fn dropping_a_huge_chain_does_not_recurse() {
        // Build one 300k-node chain by hand (no hash can be made to do that), then drop
        // it on a thread with a 256 KiB stack: a recursive drop would overflow it.
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut d: Dict<u64> = Dict::with_capacity(4);
                let mut head: Link<u64> = None;
                for i in 0..300_000u64 {
                    head = Some(Box::new(Node { key: key_from(&i.to_le_bytes()), val: i, next: head }));
                }
                d.ht0.buckets[0] = head;
                d.ht0.used = 300_000;
                drop(d);
            })
            .unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn scan_without_rehash_reports_each_entry_exactly_once() {
        let mut d = Dict::new();
        for i in 0..3000u64 {
            d.insert(key_from(&num_key("", i)), i);
        }
        d.rehash_for_micros(1_000_000);
        assert!(!d.is_rehashing());
        let seen = full_scan(&d);
        assert_eq!(seen.len(), 3000);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 3000);
        assert!(full_scan(&Dict::<u8>::new()).is_empty());
    }

    #[test]
    fn scan_while_rehashing_reports_everything() {
        for (grow, target) in [(true, 1_000u64), (false, 20_000)] {
            let mut d = Dict::new();
            let n = if grow {
                for i in 0..target {
                    d.insert(key_from(&num_key("g", i)), i);
                }
                d.rehash_for_micros(1_000_000);
                let mut i = target;
                while !d.is_rehashing() {
                    d.insert(key_from(&num_key("g", i)), i);
                    i += 1;
                }
                i
            } else {
                for i in 0..target {
                    d.insert(key_from(&num_key("s", i)), i);
                }
                d.rehash_for_micros(1_000_000);
                d.retain(|_, v| *v % 16 == 0);
                target
            };
            assert!(d.is_rehashing());
            // Move a few buckets so both tables hold entries.
            for _ in 0..3 {
                d.rehash(1);
            }
            assert!(d.is_rehashing());
            let seen: HashSet<Vec<u8>> = full_scan(&d).into_iter().collect();
            assert_eq!(seen.len(), d.len());
            let expected = (0..n).filter(|i| grow || i % 16 == 0).count();
            assert_eq!(seen.len(), expected);
        }
    }

    #[test]
    fn random_entry_and_sample_return_present_entries() {
        let mut rng = StdRng::seed_from_u64(7);
        let empty: Dict<u64> = Dict::new();
        assert!(empty.random_entry(&mut rng).is_none());
        assert_eq!(empty.sample(10, &mut rng, |_, _| panic!("empty")), 0);

        let mut d = Dict::new();
        for i in 0..2000u64 {
            d.insert(key_from(&num_key("", i)), i);
        }
        for i in (0..2000u64).step_by(2) {
            d.remove(&num_key("", i));
        }
        assert!(d.is_rehashing() || d.len() == 1000);
        for _ in 0..2000 {
            let (key, v) = d.random_entry(&mut rng).unwrap();
            assert_eq!(key.to_vec(), num_key("", *v));
            assert_eq!(v % 2, 1);
            assert_eq!(d.get(key), Some(v));
            let mut count = 0;
            let got = d.sample(20, &mut rng, |key, v| {
                assert_eq!(key.to_vec(), num_key("", *v));
                assert_eq!(v % 2, 1);
                count += 1;
            });
            assert_eq!(got, count);
            assert!(got <= 20);
        }
        // A dense table yields full samples.
        let mut full = 0;
        for _ in 0..100 {
            full += usize::from(d.sample(20, &mut rng, |_, _| {}) == 20);
        }
        assert!(full > 90, "{full}");
        // A one-entry dict always yields that entry.
        let mut one = Dict::new();
        one.insert(k("only"), 1u8);
        for _ in 0..100 {
            assert_eq!(one.random_entry(&mut rng).map(|(k, _)| k.to_vec()), Some(b"only".to_vec()));
        }
        // The fallback path on its own.
        for _ in 0..100 {
            let node = d.random_node_unfair(&mut rng).unwrap();
            assert_eq!(node.val % 2, 1);
        }
    }

    #[test]
    fn random_entry_is_roughly_fair() {
        let mut rng = StdRng::seed_from_u64(42);
        for (n, rehashing) in [(10u64, false), (100, false), (300, true)] {
            let mut d = Dict::new();
            for i in 0..n {
                d.insert(key_from(&num_key("", i)), i);
            }
            if !rehashing {
                d.rehash_for_micros(1_000_000);
            }
            assert_eq!(d.is_rehashing(), rehashing, "n={n}");
            let draws = 200 * n;
            let mut hits = vec![0u64; n as usize];
            for _ in 0..draws {
                let (_, v) = d.random_entry(&mut rng).unwrap();
                hits[*v as usize] += 1;
            }
            // Every key is hit, and none is over- or under-represented by 2x.
            let (min, max) = (hits.iter().min().unwrap(), hits.iter().max().unwrap());
            assert!(*min >= 200 / 2, "n={n} min={min}");
            assert!(*max <= 200 * 2, "n={n} max={max}");
        }
    }

    // ----- property tests against std's HashMap ----------------------------------

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        GetOrInsert(u16, u32),
        Remove(u16),
        Get(u16),
        GetMut(u16, u32),
        InsertRange(u16, u16),
        RemoveRange(u16, u16),
        Retain(u16),
        Cron,
        Clear,
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        let key = 0u16..600;
        prop_oneof![
            8 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
            6 => key.clone().prop_map(Op::Remove),
            4 => key.clone().prop_map(Op::Get),
            2 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::GetMut(k, v)),
            1 => (key.clone(), 0u16..400).prop_map(|(k, n)| Op::InsertRange(k, n)),
            1 => (key.clone(), 0u16..600).prop_map(|(k, n)| Op::RemoveRange(k, n)),
            1 => (1u16..8).prop_map(Op::Retain),
            1 => Just(Op::Cron),
            1 => Just(Op::Clear),
        ]
    }

    /// Keys 0..600 map to byte strings of varying length, including the empty one.
    fn pkey(n: u16) -> Vec<u8> {
        if n == 0 {
            Vec::new()
        } else {
            format!("{:x}", u64::from(n) * 2_654_435_761 % 99_991).into_bytes()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn behaves_like_hashmap(ops in prop::collection::vec(op_strategy(), 1..300)) {
            let mut d: Dict<u32> = Dict::new();
            let mut m: HashMap<Vec<u8>, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(key, v) => {
                        prop_assert_eq!(d.insert(key_from(&pkey(key)), v), m.insert(pkey(key), v));
                    }
                    Op::GetOrInsert(key, v) => {
                        let (got, inserted) = d.get_or_insert_with(&pkey(key), || v);
                        let expected_inserted = !m.contains_key(&pkey(key));
                        let want = *m.entry(pkey(key)).or_insert(v);
                        prop_assert_eq!(inserted, expected_inserted);
                        prop_assert_eq!(*got, want);
                    }
                    Op::Remove(key) => {
                        let got = d.remove(&pkey(key)).map(|(k, v)| (k.to_vec(), v));
                        prop_assert_eq!(got, m.remove_entry(&pkey(key)));
                    }
                    Op::Get(key) => {
                        prop_assert_eq!(d.get(&pkey(key)), m.get(&pkey(key)));
                        prop_assert_eq!(d.contains_key(&pkey(key)), m.contains_key(&pkey(key)));
                        let kv = d.get_key_value(&pkey(key)).map(|(k, v)| (k.to_vec(), *v));
                        prop_assert_eq!(kv, m.get_key_value(&pkey(key)).map(|(k, v)| (k.clone(), *v)));
                    }
                    Op::GetMut(key, v) => {
                        match (d.get_mut(&pkey(key)), m.get_mut(&pkey(key))) {
                            (Some(a), Some(b)) => {
                                prop_assert_eq!(*a, *b);
                                *a = v;
                                *b = v;
                            }
                            (None, None) => {}
                            (a, b) => prop_assert!(false, "get_mut mismatch {:?} {:?}", a, b),
                        }
                    }
                    Op::InsertRange(start, n) => {
                        for key in start..start.saturating_add(n) {
                            let v = u32::from(key);
                            prop_assert_eq!(d.insert(key_from(&pkey(key)), v), m.insert(pkey(key), v));
                        }
                    }
                    Op::RemoveRange(start, n) => {
                        for key in start..start.saturating_add(n) {
                            let got = d.remove(&pkey(key)).map(|(_, v)| v);
                            prop_assert_eq!(got, m.remove(&pkey(key)));
                        }
                    }
                    Op::Retain(modulus) => {
                        let modulus = u32::from(modulus);
                        d.retain(|_, v| *v % modulus != 0);
                        m.retain(|_, v| *v % modulus != 0);
                    }
                    Op::Cron => {
                        let more = d.rehash_for_micros(50);
                        prop_assert_eq!(more, d.is_rehashing());
                    }
                    Op::Clear => {
                        d.clear();
                        m.clear();
                    }
                }
                prop_assert_eq!(d.len(), m.len());
                d.check_invariants();
            }
            let all: HashMap<Vec<u8>, u32> = d.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
            prop_assert_eq!(d.iter().count(), m.len());
            prop_assert_eq!(&all, &m);
            let scanned: HashSet<Vec<u8>> = full_scan(&d).into_iter().collect();
            prop_assert_eq!(scanned, m.keys().cloned().collect::<HashSet<_>>());
        }
    }

    #[derive(Debug, Clone)]
    enum Churn {
        Insert(u16),
        Remove(u16),
        RemoveAllVolatile,
        Cron,
        Nothing,
    }

    fn churn_strategy() -> impl Strategy<Value = Churn> {
        prop_oneof![
            4 => (1u16..1500).prop_map(Churn::Insert),
            4 => (1u16..1500).prop_map(Churn::Remove),
            1 => Just(Churn::RemoveAllVolatile),
            1 => Just(Churn::Cron),
            2 => Just(Churn::Nothing),
        ]
    }

    /// What happened during one [`scan_under_churn`] run.
    struct ScanRun {
        missed: Vec<u64>,
        calls: usize,
        calls_while_rehashing: usize,
        grew: bool,
        shrank: bool,
    }

    /// A full SCAN of a dict holding `stable` keys that stay for the whole scan and
    /// `volatile` ones, applying `churn[i]` after the i-th scan call.
    fn scan_under_churn(stable: u64, volatile: u64, churn: &[Churn], seed: u64) -> ScanRun {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut d = Dict::new();
        for i in 0..stable {
            d.insert(key_from(&num_key("s", i)), i);
        }
        let mut live: Vec<u64> = Vec::new();
        let mut next_volatile = 0;
        for _ in 0..volatile {
            d.insert(key_from(&num_key("v", next_volatile)), next_volatile);
            live.push(next_volatile);
            next_volatile += 1;
        }
        let mut seen = HashSet::new();
        let mut run = ScanRun { missed: Vec::new(), calls: 0, calls_while_rehashing: 0, grew: false, shrank: false };
        let mut cursor = 0;
        loop {
            run.calls_while_rehashing += usize::from(d.is_rehashing());
            let sizes = d.table_sizes();
            run.grew |= sizes.1 > sizes.0;
            run.shrank |= sizes.1 != 0 && sizes.1 < sizes.0;
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            if cursor == 0 {
                break;
            }
            run.calls += 1;
            assert!(run.calls < 1_000_000, "scan does not terminate");
            match churn.get(run.calls - 1).cloned().unwrap_or(Churn::Nothing) {
                Churn::Insert(n) => {
                    for _ in 0..n {
                        d.insert(key_from(&num_key("v", next_volatile)), next_volatile);
                        live.push(next_volatile);
                        next_volatile += 1;
                    }
                }
                Churn::Remove(n) => {
                    for _ in 0..n {
                        if live.is_empty() {
                            break;
                        }
                        let victim = live.swap_remove(rng.gen_range(0..live.len()));
                        assert!(d.remove(&num_key("v", victim)).is_some());
                    }
                }
                Churn::RemoveAllVolatile => {
                    for victim in live.drain(..) {
                        assert!(d.remove(&num_key("v", victim)).is_some());
                    }
                }
                Churn::Cron => {
                    d.rehash_for_micros(20);
                }
                Churn::Nothing => {}
            }
            assert_eq!(d.len() as u64, stable + live.len() as u64);
        }
        d.check_invariants();
        run.missed = (0..stable).filter(|i| !seen.contains(&num_key("s", *i))).collect();
        run
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// SCAN's guarantee: with inserts and removals between scan calls (forcing
        /// growth, shrinks and scans while rehashing), every entry present during the
        /// whole scan is reported.
        #[test]
        fn scan_reports_every_stable_entry(
            stable in 1u64..200,
            volatile in 0u64..3000,
            churn in prop::collection::vec(churn_strategy(), 0..60),
            seed in any::<u64>(),
        ) {
            let run = scan_under_churn(stable, volatile, &churn, seed);
            prop_assert!(run.missed.is_empty(), "missed stable keys {:?}", run.missed);
        }
    }

    /// A fixed scenario that is known to grow, shrink and scan mid-rehash, so the
    /// property above is not passing only because its cases are too gentle.
    #[test]
    fn scan_survives_grow_and_shrink_mid_scan() {
        // Advance the cursor well into the table, shrink it under the cursor, then
        // make it grow twice, with scan calls landing mid-rehash each time.
        let mut churn = vec![Churn::Nothing; 200];
        churn.push(Churn::RemoveAllVolatile);
        churn.extend(vec![Churn::Nothing; 20]);
        churn.extend(vec![Churn::Insert(1400); 3]);
        churn.extend(vec![Churn::Nothing; 10]);
        churn.extend([Churn::Insert(1000), Churn::Remove(500), Churn::Cron]);
        let run = scan_under_churn(150, 2000, &churn, 3);
        assert!(run.missed.is_empty(), "missed {:?}", run.missed);
        assert!(run.grew && run.shrank, "grew {} shrank {}", run.grew, run.shrank);
        assert!(run.calls_while_rehashing > 10, "{}", run.calls_while_rehashing);
        assert!(run.calls > 240, "{}", run.calls);
    }

    // ----- latency and throughput ------------------------------------------------

    /// Per-operation wall time, in nanoseconds, of `n` inserts then `n` removes.
    fn op_times(n: u64) -> Vec<u32> {
        let keys: Vec<Vec<u8>> = (0..n).map(|i| num_key("key:", i)).collect();
        let mut times = Vec::with_capacity(2 * n as usize);
        let mut d = Dict::new();
        for (i, key) in keys.iter().enumerate() {
            let key = key_from(key);
            let t = Instant::now();
            d.insert(key, i as u64);
            times.push(t.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32);
        }
        assert_eq!(d.len() as u64, n);
        for (i, key) in keys.iter().enumerate() {
            if i % 100_000 == 0 {
                assert_eq!(d.get(key), Some(&(i as u64)));
            }
        }
        for key in &keys {
            let t = Instant::now();
            let removed = d.remove(key);
            times.push(t.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32);
            assert!(removed.is_some());
        }
        assert!(d.is_empty());
        assert!(!d.rehash_for_micros(10_000_000));
        assert_eq!(d.table_sizes(), (MIN_BUCKETS, 0));
        times
    }

    /// glibc's malloc, not the dict, stalls for tens of ms after mass frees: freed
    /// small chunks sit in "fastbins" until the next large (>= 1 KiB) request or
    /// large free, which consolidates all of them at once (measured: 26-30 ms inside
    /// the remove that starts the first shrink, after 900k frees). That would hit any
    /// large allocation in the server, whatever module makes it; the cure is a modern
    /// global allocator (jemalloc, mimalloc) in the binary. This test measures the
    /// dict, so it turns fastbins off and fixes the mmap threshold (big tables are
    /// mmapped and munmapped, never consolidated).
    fn tame_glibc_malloc() {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                // SAFETY: mallopt only changes glibc's tuning parameters (documented
                // as settable at any time, it takes the arena lock); no memory is
                // accessed through these calls.
                unsafe {
                    libc::mallopt(libc::M_MXFAST, 0);
                    libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
                    libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
                }
            });
        }
    }

    /// 1M inserts then 1M removes: no single operation may take more than 5 ms.
    /// Per-op times are the minimum over up to three identical runs (same process,
    /// so same hash seed and the same work at each step), which filters out the
    /// scheduler preempting the test on a busy machine while keeping any real O(n)
    /// step (it would be slow in every run).
    #[test]
    fn million_ops_have_bounded_latency() {
        let n = if cfg!(debug_assertions) { 100_000 } else { 1_000_000 };
        let limit_ns = 5_000_000;
        tame_glibc_malloc();
        let mut best = op_times(n);
        for _ in 0..2 {
            if best.iter().all(|&t| t <= limit_ns) {
                break;
            }
            for (b, t) in best.iter_mut().zip(op_times(n)) {
                *b = (*b).min(t);
            }
        }
        let mut top: Vec<(u32, usize)> = best.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        top.sort_unstable_by(|a, b| b.cmp(a));
        println!("slowest ops (ns, index): {:?}", &top[..10]);
        let (worst_at, worst) = best.iter().enumerate().max_by_key(|(_, t)| **t).unwrap();
        println!("max op time {} us (op #{worst_at})", worst / 1000);
        if !cfg!(debug_assertions) {
            assert!(*worst <= limit_ns, "op #{worst_at} took {} us", worst / 1000);
        }
    }

    /// Nanoseconds per insert, get hit, get miss, remove for one structure.
    type BenchOps<'a> =
        (&'a mut dyn FnMut(&[u8], u64), &'a mut dyn FnMut(&[u8]) -> Option<u64>, &'a mut dyn FnMut(&[u8]) -> bool);

    fn bench_run(keys: &[Vec<u8>], misses: &[Vec<u8>], order: &[usize], ops: BenchOps) -> [f64; 4] {
        use std::hint::black_box;
        let (insert, get, remove) = ops;
        let per_op = |t: Instant| t.elapsed().as_nanos() as f64 / keys.len() as f64;
        let t = Instant::now();
        for (i, key) in keys.iter().enumerate() {
            insert(key, i as u64);
        }
        let ins = per_op(t);
        let t = Instant::now();
        let mut sum = 0u64;
        for &i in order {
            sum = sum.wrapping_add(get(&keys[i]).unwrap_or(0));
        }
        black_box(sum);
        let hit = per_op(t);
        let t = Instant::now();
        for miss in misses {
            black_box(get(miss));
        }
        let miss = per_op(t);
        let t = Instant::now();
        for &i in order {
            black_box(remove(&keys[i]));
        }
        [ins, hit, miss, per_op(t)]
    }

    /// `cargo test --release -p fluidb --lib keyspace::dict::tests::bench -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_vs_std_hashmap() {
        const N: u64 = 1_000_000;
        let keys: Vec<Vec<u8>> = (0..N).map(|i| num_key("key:", i)).collect();
        let misses: Vec<Vec<u8>> = (0..N).map(|i| num_key("miss:", i)).collect();
        let mut order: Vec<usize> = (0..N as usize).collect();
        let mut rng = StdRng::seed_from_u64(1);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.gen_range(0..=i));
        }
        // Two rounds, alternating, so that neither pays all the fresh page faults.
        for round in 0..2 {
            let d = std::cell::RefCell::new(Dict::new());
            let dict = bench_run(
                &keys,
                &misses,
                &order,
                (
                    &mut |k, v| {
                        d.borrow_mut().insert(key_from(k), v);
                    },
                    &mut |k| d.borrow().get(k).copied(),
                    &mut |k| d.borrow_mut().remove(k).is_some(),
                ),
            );
            drop(d);
            let m: std::cell::RefCell<HashMap<Key, u64, ahash::RandomState>> = Default::default();
            let map = bench_run(
                &keys,
                &misses,
                &order,
                (
                    &mut |k, v| {
                        m.borrow_mut().insert(key_from(k), v);
                    },
                    &mut |k| m.borrow().get(k).copied(),
                    &mut |k| m.borrow_mut().remove(k).is_some(),
                ),
            );
            drop(m);
            println!("round {round}: 1M keys, ns/op   Dict   HashMap<ahash>");
            for (name, i) in [("insert", 0), ("get (hit)", 1), ("get (miss)", 2), ("remove", 3)] {
                println!("  {name:<12} {:8.1} {:8.1}", dict[i], map[i]);
            }
        }
    }
}
