//! Generic keyspace commands and databases (Redis's db.c and object.c): DEL, UNLINK, EXISTS,
//! TYPE, KEYS, SCAN, RANDOMKEY, RENAME, RENAMENX, COPY, MOVE, SWAPDB, FLUSHDB, FLUSHALL,
//! DBSIZE, TOUCH, OBJECT. The expiry commands live in `expire.rs`.

use bytes::Bytes;

use super::call::{err, Ctx};
use super::table::{acl, flags::*, Command};
use crate::keyspace::dict::Key;
use crate::keyspace::lazyfree;
use crate::keyspace::{Db, Entry, Value};
use crate::server::store::{notify, Propagated, Store};
use crate::util::glob::string_match;
use crate::util::numeric::string2ll;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "del",
        arity: -2,
        flags: WRITE,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        handler: del,
        summary: "Delete a key",
        complexity: "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).",
        ..Command::DEFAULT
    },
    Command {
        name: "unlink",
        arity: -2,
        flags: WRITE | FAST,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        handler: unlink,
        since: "4.0.0",
        summary: "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
        complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.",
        ..Command::DEFAULT
    },
    Command {
        name: "exists",
        arity: -2,
        flags: READONLY | FAST,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        handler: exists,
        summary: "Determine if a key exists",
        complexity: "O(N) where N is the number of keys to check.",
        ..Command::DEFAULT
    },
    Command {
        name: "type",
        arity: 2,
        flags: READONLY | FAST,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        handler: type_cmd,
        summary: "Determine the type stored at key",
        ..Command::DEFAULT
    },
    Command {
        name: "keys",
        arity: 2,
        flags: READONLY,
        acl: acl::KEYSPACE | acl::DANGEROUS,
        handler: keys,
        summary: "Find all keys matching the given pattern",
        complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
        ..Command::DEFAULT
    },
    Command {
        name: "scan",
        arity: -2,
        flags: READONLY | TOUCHES_ARBITRARY_KEYS,
        acl: acl::KEYSPACE,
        handler: scan,
        since: "2.8.0",
        summary: "Incrementally iterate the keys space",
        complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        ..Command::DEFAULT
    },
    Command {
        name: "randomkey",
        arity: 1,
        flags: READONLY | TOUCHES_ARBITRARY_KEYS,
        acl: acl::KEYSPACE,
        handler: randomkey,
        summary: "Return a random key from the keyspace",
        ..Command::DEFAULT
    },
    Command {
        name: "rename",
        arity: 3,
        flags: WRITE,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: 2,
        key_step: 1,
        handler: rename,
        summary: "Rename a key",
        ..Command::DEFAULT
    },
    Command {
        name: "renamenx",
        arity: 3,
        flags: WRITE | FAST,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: 2,
        key_step: 1,
        handler: renamenx,
        summary: "Rename a key, only if the new key does not exist",
        ..Command::DEFAULT
    },
    Command {
        name: "copy",
        arity: -3,
        flags: WRITE | DENYOOM,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: 2,
        key_step: 1,
        handler: copy,
        since: "6.2.0",
        summary: "Copy a key",
        complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
        ..Command::DEFAULT
    },
    Command {
        name: "move",
        arity: 3,
        flags: WRITE | FAST,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        handler: move_cmd,
        summary: "Move a key to another database",
        ..Command::DEFAULT
    },
    Command {
        name: "swapdb",
        arity: 3,
        flags: WRITE | FAST,
        acl: acl::KEYSPACE | acl::DANGEROUS,
        handler: swapdb,
        group: "server",
        since: "4.0.0",
        summary: "Swaps two Redis databases",
        complexity: "O(N) where N is the count of clients watching or blocking on keys from both databases.",
        ..Command::DEFAULT
    },
    Command {
        name: "flushdb",
        arity: -1,
        flags: WRITE,
        acl: acl::KEYSPACE | acl::DANGEROUS,
        handler: flushdb,
        group: "server",
        summary: "Remove all keys from the current database",
        complexity: "O(N) where N is the number of keys in the selected database",
        ..Command::DEFAULT
    },
    Command {
        name: "flushall",
        arity: -1,
        flags: WRITE,
        acl: acl::KEYSPACE | acl::DANGEROUS,
        handler: flushall,
        group: "server",
        summary: "Remove all keys from all databases",
        complexity: "O(N) where N is the total number of keys in all databases",
        ..Command::DEFAULT
    },
    Command {
        name: "dbsize",
        arity: 1,
        flags: READONLY | FAST,
        acl: acl::KEYSPACE,
        handler: dbsize,
        group: "server",
        summary: "Return the number of keys in the selected database",
        ..Command::DEFAULT
    },
    Command {
        name: "touch",
        arity: -2,
        flags: READONLY | FAST,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        handler: touch,
        since: "3.2.1",
        summary: "Alters the last access time of a key(s). Returns the number of existing keys specified.",
        complexity: "O(N) where N is the number of keys that will be touched.",
        ..Command::DEFAULT
    },
    Command {
        name: "object",
        arity: -2,
        since: "2.2.3",
        summary: "A container for object introspection commands",
        complexity: "Depends on subcommand.",
        subcommands: OBJECT_SUBCOMMANDS,
        ..Command::DEFAULT
    },
];

static OBJECT_SUBCOMMANDS: &[Command] = &[
    Command {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        acl: acl::KEYSPACE,
        handler: object_help,
        since: "6.2.0",
        summary: "Show helpful text about the different subcommands",
        ..Command::DEFAULT
    },
    Command {
        name: "freq",
        arity: 3,
        flags: READONLY,
        acl: acl::KEYSPACE,
        first_key: 2,
        last_key: 2,
        key_step: 1,
        handler: object_freq,
        since: "4.0.0",
        summary: "Get the logarithmic access frequency counter of a Redis object",
        ..Command::DEFAULT
    },
    Command {
        name: "encoding",
        arity: 3,
        flags: READONLY,
        acl: acl::KEYSPACE,
        first_key: 2,
        last_key: 2,
        key_step: 1,
        handler: object_encoding,
        since: "2.2.3",
        summary: "Inspect the internal encoding of a Redis object",
        ..Command::DEFAULT
    },
    Command {
        name: "idletime",
        arity: 3,
        flags: READONLY,
        acl: acl::KEYSPACE,
        first_key: 2,
        last_key: 2,
        key_step: 1,
        handler: object_idletime,
        since: "2.2.3",
        summary: "Get the time since a Redis object was last accessed",
        ..Command::DEFAULT
    },
    Command {
        name: "refcount",
        arity: 3,
        flags: READONLY,
        acl: acl::KEYSPACE,
        first_key: 2,
        last_key: 2,
        key_step: 1,
        handler: object_refcount,
        since: "2.2.3",
        summary: "Get the number of references to the value of the key",
        ..Command::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// Redis's `shared.sameobjecterr`.
const SAME_OBJECT: &str = "source and destination objects are the same";
/// Redis's `shared.nokeyerr`.
const NO_KEY: &str = "no such key";
const DB_OUT_OF_RANGE: &str = "DB index is out of range";

/// `lazyfree-lazy-user-del`: DEL behaves as UNLINK.
pub fn lazyfree_lazy_user_del(store: &Store) -> bool {
    store.cfg.lazyfree_lazy_user_del
}
/// `lazyfree-lazy-user-flush`: FLUSHDB/FLUSHALL without SYNC/ASYNC free in the background.
pub fn lazyfree_lazy_user_flush(store: &Store) -> bool {
    store.cfg.lazyfree_lazy_user_flush
}
/// `lazyfree-lazy-expire`: expired keys and EXPIRE-in-the-past deletions are freed in the
/// background and propagate as UNLINK.
pub fn lazyfree_lazy_expire(store: &Store) -> bool {
    store.cfg.lazyfree_lazy_expire
}
/// `lazyfree-lazy-server-del`: values the server deletes or overwrites on its own (RENAME
/// and COPY REPLACE targets, SET over a value, empty STORE results...) are freed in the
/// background.
pub fn lazyfree_lazy_server_del(store: &Store) -> bool {
    store.cfg.lazyfree_lazy_server_del
}
/// Whether shared integer objects may be used (Redis's `canUseSharedObject`): not when
/// `maxmemory` is set with an LRU or LFU policy.
pub fn can_use_shared_integers(store: &Store) -> bool {
    use crate::config::MaxmemoryPolicy as P;
    store.cfg.maxmemory == 0
        || !matches!(store.cfg.maxmemory_policy, P::VolatileLru | P::AllkeysLru | P::VolatileLfu | P::AllkeysLfu)
}

/// Redis's `lookupKeyReadWithFlags(db, key, LOOKUP_NOTOUCH [| LOOKUP_NONOTIFY])`: expires
/// the key if needed and counts a keyspace hit or miss, without refreshing the access time.
/// `notify_miss` sends the "keymiss" event (off for OBJECT, as LOOKUP_NONOTIFY).
pub fn lookup_read_notouch<'s>(
    store: &'s mut Store,
    db: usize,
    key: &[u8],
    now_ms: i64,
    notify_miss: bool,
) -> Option<&'s Entry> {
    let live = !store.expire_if_needed(db, key, now_ms) && store.dbs[db].peek(key).is_some();
    if !live {
        if notify_miss {
            store.notify(notify::KEY_MISS, "keymiss", key, db);
        }
        store.stats.keyspace_misses += 1;
        return None;
    }
    store.stats.keyspace_hits += 1;
    store.dbs[db].peek(key)
}

/// Removes a live key (the caller has already expired it if needed) and returns its entry;
/// invalidates WATCH (Redis's `dbDelete` + `signalModifiedKey`).
fn take_entry(store: &mut Store, db: usize, key: &[u8]) -> Option<Entry> {
    let e = store.dbs[db].remove(key)?;
    store.watch.touch(db, key);
    Some(e)
}

/// Adds `e` under `key` (replacing anything there), stamped with the command's `mvcc`;
/// invalidates WATCH and emits "new" (Redis's `dbDelete` of the old value then `dbAdd`).
/// The entry keeps its TTL.
fn put_entry(store: &mut Store, db: usize, key: &[u8], mut e: Entry, mvcc: u64) {
    e.mvcc = mvcc;
    let wakes = matches!(e.val, Value::List(_) | Value::ZSet(_));
    let has_ttl = e.has_expire();
    store.dbs[db].insert(key, e);
    if has_ttl {
        store.remember_replica_expire(db, key);
    }
    store.watch.touch(db, key);
    store.notify(notify::NEW, "new", key, db);
    if wakes {
        store.signal_key_ready(db, key);
    }
}

/// Redis's `getIntFromObjectOrReply`: a 32-bit integer, or the standard errors (or `msg`
/// for both when given).
fn get_int_or_reply(ctx: &mut Ctx, arg: usize, msg: Option<&str>) -> Option<i32> {
    let Some(v) = string2ll(&ctx.argv[arg]) else {
        ctx.out.error(msg.unwrap_or(err::NOT_INT));
        return None;
    };
    match i32::try_from(v) {
        Ok(v) => Some(v),
        Err(_) => {
            match msg {
                Some(m) => ctx.out.error(m),
                None => ctx.out.error("value is out of range, value must between -2147483648 and 2147483647"),
            }
            None
        }
    }
}

/// The database index `id` if it exists (Redis's `selectDb` check).
fn valid_db(ctx: &Ctx, id: i32) -> Option<usize> {
    if id < 0 || id as usize >= ctx.store.dbs.len() {
        None
    } else {
        Some(id as usize)
    }
}

/// Puts the command as received into the write stream even though it did not change the
/// dataset (Redis's `forceCommandPropagation`, used by FLUSHDB on an empty database).
/// Only call it when `ctx.dirty` was not incremented, or the command would appear twice.
fn force_propagation(ctx: &mut Ctx) {
    let argv = ctx.argv.to_vec();
    ctx.store.pending_propagate.push(Propagated {
        db: ctx.client.db,
        mvcc: ctx.mvcc,
        expired: false,
        repl_only: false,
        argv,
        trailer: Vec::new(),
    });
}

// ---------------------------------------------------------------------------------------
// Database-level primitives over the dictionary
// ---------------------------------------------------------------------------------------

impl Db {
    /// One SCAN step (Redis's loop around `dictScan` in `scanGenericCommand`): calls `f`
    /// for the entries under `cursor` and following, until at least `count` entries were
    /// visited, the iteration completed, or `count * 10` empty steps were made. Returns the
    /// next cursor, 0 when the iteration is complete. The dict's reverse-binary cursor keeps
    /// SCAN's guarantee across inserts, deletions and rehashing.
    pub fn scan(&self, mut cursor: u64, count: usize, mut f: impl FnMut(&Key, &Entry)) -> u64 {
        let mut seen = 0;
        let mut maxiter = count.saturating_mul(10);
        loop {
            cursor = self.main.scan(cursor, |k, e| {
                seen += 1;
                f(k, e)
            });
            if cursor == 0 || maxiter == 0 || seen >= count {
                return cursor;
            }
            maxiter -= 1;
        }
    }

    /// A random key (Redis's `dictGetFairRandomKey`), regardless of expiry. O(1).
    pub fn random_key(&self) -> Option<Key> {
        self.main.random_entry(&mut rand::thread_rng()).map(|(k, _)| k.clone())
    }
}

/// Swaps the contents of databases `a` and `b` (not their ids).
fn swap_db_contents(dbs: &mut [Db], a: usize, b: usize) {
    if a == b {
        return;
    }
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let (left, right) = dbs.split_at_mut(hi);
    let (x, y) = (&mut left[lo], &mut right[0]);
    std::mem::swap(&mut x.main, &mut y.main);
    std::mem::swap(&mut x.expires, &mut y.expires);
    std::mem::swap(&mut x.avg_ttl, &mut y.avg_ttl);
}

// ---------------------------------------------------------------------------------------
// DEL, UNLINK, EXISTS, TYPE, TOUCH
// ---------------------------------------------------------------------------------------

/// Redis's `delGenericCommand`.
fn del_generic(ctx: &mut Ctx, lazy: bool) {
    let db = ctx.db();
    let mut n = 0;
    for key in &ctx.argv[1..] {
        ctx.store.expire_if_needed(db, key, ctx.now_ms);
        let Some(e) = take_entry(ctx.store, db, key) else { continue };
        if lazy {
            lazyfree::free_async(e.val);
        } else {
            drop(e);
        }
        ctx.store.notify(notify::GENERIC, "del", key, db);
        n += 1;
    }
    ctx.dirty(n as u64);
    ctx.out.int(n);
}

fn del(ctx: &mut Ctx) {
    let lazy = lazyfree_lazy_user_del(ctx.store);
    del_generic(ctx, lazy);
}

fn unlink(ctx: &mut Ctx) {
    del_generic(ctx, true);
}

fn exists(ctx: &mut Ctx) {
    let db = ctx.db();
    let mut n = 0;
    for key in &ctx.argv[1..] {
        if lookup_read_notouch(ctx.store, db, key, ctx.now_ms, true).is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
}

fn type_cmd(ctx: &mut Ctx) {
    let db = ctx.db();
    let name = match lookup_read_notouch(ctx.store, db, &ctx.argv[1], ctx.now_ms, true) {
        Some(e) => e.val.type_name(),
        None => "none",
    };
    ctx.out.simple(name);
}

fn touch(ctx: &mut Ctx) {
    let db = ctx.db();
    let mut n = 0;
    for key in &ctx.argv[1..] {
        if ctx.store.lookup_read(db, key, ctx.now_ms).is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
}

// ---------------------------------------------------------------------------------------
// KEYS, SCAN, RANDOMKEY, DBSIZE
// ---------------------------------------------------------------------------------------

fn keys(ctx: &mut Ctx) {
    let db = ctx.db();
    let now = ctx.now_ms;
    let pattern: &[u8] = &ctx.argv[1];
    let allkeys = pattern == b"*";
    let out = &mut *ctx.out;
    let d = &ctx.store.dbs[db];
    let pos = out.begin_deferred();
    let mut n = 0;
    for (k, e) in d.main.iter() {
        // Expired keys are skipped, not deleted (Redis's `keyIsExpired`).
        if (allkeys || string_match(pattern, k, false)) && !e.is_expired(now) {
            out.bulk(k);
            n += 1;
            // Past the output limit the client is dropped with its reply: stop early.
            if out.over_limit() {
                break;
            }
        }
    }
    out.end_deferred(pos, b'*', n);
}

/// Redis's `parseScanCursorOrReply`: `strtoul` in base 10, rejecting leading space,
/// trailing garbage and overflow (a leading '-' negates modulo 2^64, as strtoul does).
pub fn parse_scan_cursor(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return Some(0);
    }
    if s[0].is_ascii_whitespace() || s[0] == 0x0b {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// SCAN options (Redis's `scanGenericCommand`, step 1).
struct ScanOpts {
    count: usize,
    pattern: Option<Bytes>,
    typename: Option<Bytes>,
}

fn parse_scan_opts(ctx: &mut Ctx, first: usize) -> Option<ScanOpts> {
    let mut o = ScanOpts { count: 10, pattern: None, typename: None };
    let mut i = first;
    let argc = ctx.argv.len();
    while i < argc {
        let left = argc - i;
        let a = &ctx.argv[i];
        if a.eq_ignore_ascii_case(b"count") && left >= 2 {
            let Some(n) = string2ll(&ctx.argv[i + 1]) else {
                ctx.out.error(err::NOT_INT);
                return None;
            };
            if n < 1 {
                ctx.out.error(err::SYNTAX);
                return None;
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 2;
        } else if a.eq_ignore_ascii_case(b"match") && left >= 2 {
            let p = ctx.argv[i + 1].clone();
            o.pattern = if p.as_ref() == b"*" { None } else { Some(p) };
            i += 2;
        } else if a.eq_ignore_ascii_case(b"type") && left >= 2 {
            o.typename = Some(ctx.argv[i + 1].clone());
            i += 2;
        } else {
            ctx.out.error(err::SYNTAX);
            return None;
        }
    }
    Some(o)
}

fn scan(ctx: &mut Ctx) {
    let Some(cursor) = parse_scan_cursor(&ctx.argv[1]) else {
        return ctx.out.error("invalid cursor");
    };
    let Some(o) = parse_scan_opts(ctx, 2) else { return };
    let db = ctx.db();
    // Step 2: collect a batch of keys. COUNT bounds the keys visited, before filtering.
    let mut batch: Vec<Key> = Vec::with_capacity(o.count.min(1024));
    let next = ctx.store.dbs[db].scan(cursor, o.count, |k, _| batch.push(k.clone()));
    // Step 3: filter by pattern, type and expiry, in that order (as Redis 7.0).
    let now = ctx.now_ms;
    batch.retain(|k| {
        if let Some(p) = &o.pattern {
            if !string_match(p, k, false) {
                return false;
            }
        }
        if let Some(t) = &o.typename {
            let name = match lookup_read_notouch(ctx.store, db, k, now, true) {
                Some(e) => e.val.type_name(),
                None => "none",
            };
            if !t.eq_ignore_ascii_case(name.as_bytes()) {
                return false;
            }
        }
        !ctx.store.expire_if_needed(db, k, now)
    });
    // Step 4: reply.
    ctx.out.array(2);
    let mut b = itoa::Buffer::new();
    ctx.out.bulk(b.format(next).as_bytes());
    ctx.out.array(batch.len());
    for k in &batch {
        ctx.out.bulk(k);
    }
}

/// Redis's `dbRandomKey`: random keys that turn out to be expired are deleted and another
/// one is drawn. On a replica (which does not delete) it gives up after 100 tries when
/// every key has a TTL, returning a possibly expired key, as Redis does.
fn random_live_key(store: &mut Store, db: usize, now_ms: i64) -> Option<Key> {
    let mut maxtries = 100;
    let allvolatile = store.dbs[db].main.len() == store.dbs[db].expires.len();
    loop {
        let key = store.dbs[db].random_key()?;
        if store.dbs[db].expires.contains_key(&key) {
            if allvolatile && store.plain_replica() {
                maxtries -= 1;
                if maxtries == 0 {
                    return Some(key);
                }
            }
            if store.expire_if_needed(db, &key, now_ms) {
                continue;
            }
        }
        return Some(key);
    }
}

fn randomkey(ctx: &mut Ctx) {
    let db = ctx.db();
    match random_live_key(ctx.store, db, ctx.now_ms) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
}

fn dbsize(ctx: &mut Ctx) {
    let n = ctx.store.dbs[ctx.db()].len();
    ctx.out.int(n as i64);
}

// ---------------------------------------------------------------------------------------
// RENAME, RENAMENX, MOVE, COPY, SWAPDB
// ---------------------------------------------------------------------------------------

/// Redis's `renameGenericCommand`. The value keeps its TTL and access time; the destination
/// is stamped with this command's timestamp.
fn rename_generic(ctx: &mut Ctx, nx: bool) {
    let db = ctx.db();
    let now = ctx.now_ms;
    let (src, dst) = (ctx.argv[1].clone(), ctx.argv[2].clone());
    let samekey = src == dst;
    if ctx.store.lookup_write(db, &src, now).is_none() {
        return ctx.out.error(NO_KEY);
    }
    if samekey {
        if nx {
            ctx.out.int(0)
        } else {
            ctx.out.ok()
        }
        return;
    }
    if ctx.store.lookup_write(db, &dst, now).is_some() {
        if nx {
            return ctx.out.int(0);
        }
        // Overwrite: the old value is deleted before the new one is added.
        if let Some(old) = take_entry(ctx.store, db, &dst) {
            if lazyfree_lazy_server_del(ctx.store) {
                lazyfree::free_async(old.val);
            }
        }
    }
    let Some(e) = take_entry(ctx.store, db, &src) else {
        return ctx.out.error(NO_KEY);
    };
    put_entry(ctx.store, db, &dst, e, ctx.mvcc);
    ctx.store.notify(notify::GENERIC, "rename_from", &src, db);
    ctx.store.notify(notify::GENERIC, "rename_to", &dst, db);
    ctx.dirty(1);
    if nx {
        ctx.out.int(1)
    } else {
        ctx.out.ok()
    }
}

fn rename(ctx: &mut Ctx) {
    rename_generic(ctx, false);
}

fn renamenx(ctx: &mut Ctx) {
    rename_generic(ctx, true);
}

fn move_cmd(ctx: &mut Ctx) {
    let src = ctx.db();
    let Some(id) = get_int_or_reply(ctx, 2, None) else { return };
    let Some(dst) = valid_db(ctx, id) else {
        return ctx.out.error(DB_OUT_OF_RANGE);
    };
    if src == dst {
        return ctx.out.error(SAME_OBJECT);
    }
    let key = ctx.argv[1].clone();
    let now = ctx.now_ms;
    if ctx.store.lookup_write(src, &key, now).is_none() {
        return ctx.out.int(0);
    }
    if ctx.store.lookup_write(dst, &key, now).is_some() {
        return ctx.out.int(0);
    }
    let Some(e) = take_entry(ctx.store, src, &key) else {
        return ctx.out.int(0);
    };
    put_entry(ctx.store, dst, &key, e, ctx.mvcc);
    ctx.store.notify(notify::GENERIC, "move_from", &key, src);
    ctx.store.notify(notify::GENERIC, "move_to", &key, dst);
    ctx.dirty(1);
    ctx.out.int(1);
}

fn copy(ctx: &mut Ctx) {
    let src = ctx.db();
    let mut dst = src;
    let mut replace = false;
    let mut j = 3;
    while j < ctx.argv.len() {
        let additional = ctx.argv.len() - j - 1;
        if ctx.argv[j].eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if ctx.argv[j].eq_ignore_ascii_case(b"db") && additional >= 1 {
            let Some(id) = get_int_or_reply(ctx, j + 1, None) else { return };
            let Some(d) = valid_db(ctx, id) else {
                return ctx.out.error(DB_OUT_OF_RANGE);
            };
            dst = d;
            j += 1;
        } else {
            return ctx.out.error(err::SYNTAX);
        }
        j += 1;
    }
    let (key, newkey) = (ctx.argv[1].clone(), ctx.argv[2].clone());
    if src == dst && key == newkey {
        return ctx.out.error(SAME_OBJECT);
    }
    let now = ctx.now_ms;
    let Some(e) = ctx.store.lookup_read(src, &key, now) else {
        return ctx.out.int(0);
    };
    let (val, expire) = (e.val.clone(), e.expire);
    if ctx.store.lookup_write(dst, &newkey, now).is_some() {
        if !replace {
            return ctx.out.int(0);
        }
        if let Some(old) = take_entry(ctx.store, dst, &newkey) {
            if lazyfree_lazy_server_del(ctx.store) {
                lazyfree::free_async(old.val);
            }
        }
    }
    let mut ne = Entry::new(val, ctx.mvcc, ctx.store.new_key_field());
    ne.expire = expire;
    put_entry(ctx.store, dst, &newkey, ne, ctx.mvcc);
    ctx.store.notify(notify::GENERIC, "copy_to", &newkey, dst);
    ctx.dirty(1);
    ctx.out.int(1);
}

fn swapdb(ctx: &mut Ctx) {
    if ctx.store.cfg.active_replica {
        // Swapping whole databases does not merge with concurrent writes of peers (whose
        // frames name their database): refused rather than letting nodes diverge.
        return ctx.out.error("SWAPDB is not supported with active-replica yes");
    }
    let Some(id1) = get_int_or_reply(ctx, 1, Some("invalid first DB index")) else { return };
    let Some(id2) = get_int_or_reply(ctx, 2, Some("invalid second DB index")) else { return };
    let (Some(a), Some(b)) = (valid_db(ctx, id1), valid_db(ctx, id2)) else {
        return ctx.out.error(DB_OUT_OF_RANGE);
    };
    if a != b {
        // A transaction watching a key that exists in either database fails, unless the
        // key is logically absent before and after (Redis's `touchAllWatchedKeysInDb`).
        let st = &mut *ctx.store;
        st.signal_swapped_db(a, b, ctx.now_ms);
        swap_db_contents(&mut st.dbs, a, b);
        // Clients blocked on keys that exist after the swap are served (Redis's
        // `scanDatabaseForReadyKeys` on both databases).
        st.scan_db_for_ready_keys(a);
        st.scan_db_for_ready_keys(b);
    }
    ctx.dirty(1);
    ctx.out.ok();
}

// ---------------------------------------------------------------------------------------
// FLUSHDB, FLUSHALL
// ---------------------------------------------------------------------------------------

/// Redis's `getFlushCommandFlags`: Some(async) or None after a syntax error.
fn flush_flags(ctx: &mut Ctx) -> Option<bool> {
    match ctx.argv.len() {
        1 => Some(lazyfree_lazy_user_flush(ctx.store)),
        2 if ctx.argv[1].eq_ignore_ascii_case(b"sync") => Some(false),
        2 if ctx.argv[1].eq_ignore_ascii_case(b"async") => Some(true),
        _ => {
            ctx.out.error(err::SYNTAX);
            None
        }
    }
}

/// Empties database `db` (Redis's `emptyData` for one db): invalidates the WATCHes of its
/// keys and returns the number of keys removed. With `async` the old tables are freed on
/// the lazyfree thread, so the lock is not held while millions of keys are released.
fn empty_db(store: &mut Store, db: usize, async_free: bool) -> usize {
    let n = store.dbs[db].len();
    if n == 0 {
        return 0;
    }
    let d = &store.dbs[db];
    store.watch.touch_db(db, |k| d.peek(k).is_some());
    let old = store.dbs[db].take_all();
    store.dbs[db].avg_ttl = 0;
    if async_free {
        lazyfree::free_later(old, n as u64);
    } else {
        drop(old);
    }
    n
}

/// Active mode: a flush is one stamp for the database. It deletes the keys older than it
/// (all of them, for a flush made here: our clock is ahead of every stamp we hold); a
/// peer's flush leaves our newer keys alone, and keys written before it that arrive later
/// count as deleted (`Tombstones::flushed`).
fn flush_db(ctx: &mut Ctx, db: usize, async_free: bool) -> usize {
    if !ctx.store.cfg.active_replica {
        return empty_db(ctx.store, db, async_free);
    }
    let mvcc = ctx.mvcc;
    // A flush made here is newer than every key (our clock is ahead of every stamp we
    // hold); a peer's may not be.
    let here = ctx.source == crate::commands::call::Source::Client;
    if here || ctx.store.dbs[db].main.iter().all(|(_, e)| e.mvcc < mvcc) {
        // Every key is older: the fast way.
        ctx.store.dbs[db].tombs.flush(mvcc);
        // Every key goes: every state is an overwrite to absent.
        ctx.store.dbs[db].counters.flushed(mvcc, |_| false);
        ctx.store.dbs[db].invalidate_ae();
        return empty_db(ctx.store, db, async_free);
    }
    crate::replication::active::flush_older(ctx.store, db, mvcc, async_free)
}

fn flushdb(ctx: &mut Ctx) {
    let Some(async_free) = flush_flags(ctx) else { return };
    let db = ctx.db();
    let n = flush_db(ctx, db, async_free);
    if n > 0 {
        ctx.dirty(n as u64);
    } else {
        // Replicated and written to the AOF even when the database was already empty.
        force_propagation(ctx);
    }
    ctx.out.ok();
}

fn flushall(ctx: &mut Ctx) {
    let Some(async_free) = flush_flags(ctx) else { return };
    let mut n = 0;
    for db in 0..ctx.store.dbs.len() {
        n += flush_db(ctx, db, async_free);
    }
    ctx.store.repl.own_expires.clear();
    // Counted as a change even when nothing was there: FLUSHALL always propagates.
    ctx.dirty(n as u64 + 1);
    // Redis's `flushAllDataAndResetRDB`: a running snapshot is stale, and with save points
    // the (empty) dataset is saved at once, so a restart cannot bring the old keys back
    // (and no change is left unsaved).
    crate::persistence::bgsave::kill_child(ctx.store);
    if !ctx.store.cfg.save.is_empty() {
        if let Err(e) = crate::persistence::snapshot::save_now(ctx.store) {
            crate::log_warning!("Failed saving the DB after FLUSHALL: {e}");
        }
    }
    ctx.out.ok();
}

// ---------------------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------------------

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

fn object_help(ctx: &mut Ctx) {
    ctx.out.array(OBJECT_HELP.len());
    for line in OBJECT_HELP {
        ctx.out.simple(line);
    }
}

fn object_encoding(ctx: &mut Ctx) {
    let db = ctx.db();
    match lookup_read_notouch(ctx.store, db, &ctx.argv[2], ctx.now_ms, false) {
        Some(e) => {
            let enc = e.val.encoding();
            ctx.out.bulk_str(enc);
        }
        None => ctx.out.null(),
    }
}

fn object_refcount(ctx: &mut Ctx) {
    let db = ctx.db();
    let shared_ok = can_use_shared_integers(ctx.store);
    let rc = match lookup_read_notouch(ctx.store, db, &ctx.argv[2], ctx.now_ms, false) {
        // Integers 0..9999 are Redis's shared objects (OBJ_SHARED_INTEGERS), whose
        // refcount is OBJ_SHARED_REFCOUNT (INT_MAX).
        Some(e) => match &e.val {
            Value::Str(crate::keyspace::RStr::Int(n)) if shared_ok && (0..10000).contains(n) => i32::MAX as i64,
            _ => 1,
        },
        None => return ctx.out.null(),
    };
    ctx.out.int(rc);
}

fn object_idletime(ctx: &mut Ctx) {
    let db = ctx.db();
    let lfu = ctx.store.lfu_policy();
    let lru = match lookup_read_notouch(ctx.store, db, &ctx.argv[2], ctx.now_ms, false) {
        Some(e) => e.lru,
        None => return ctx.out.null(),
    };
    if lfu {
        return ctx.out.error("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
    }
    ctx.out.int(crate::util::time::lru_idle_secs(lru) as i64);
}

fn object_freq(ctx: &mut Ctx) {
    let db = ctx.db();
    let lfu = ctx.store.lfu_policy();
    let lru = match lookup_read_notouch(ctx.store, db, &ctx.argv[2], ctx.now_ms, false) {
        Some(e) => e.lru,
        None => return ctx.out.null(),
    };
    if !lfu {
        return ctx.out.error("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
    }
    ctx.out.int(crate::keyspace::lfu::decayed(lru, ctx.store.cfg.lfu_decay_time) as i64);
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
