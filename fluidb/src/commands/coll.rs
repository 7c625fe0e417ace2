//! Typed access to collection values (lists, hashes, sets, sorted sets): the one place
//! where every collection command looks its key up, checks the type, creates the key on
//! first write and deletes it when it becomes empty, with Redis's side effects.
//!
//! Redis spreads this over `lookupKeyRead/Write` + `checkType` + `dbAdd` + `dbDelete`;
//! each t_*.c file repeats the sequence. Here a family calls:
//!
//! - [`read`] for a read-only command (hit/miss stats, access time, WRONGTYPE);
//! - [`write`] to change an existing value in place (stamps the key with the write's
//!   mvcc and invalidates WATCH when the closure reports a change);
//! - [`write_or_create`] for commands that create the key (LPUSH, SADD, HSET, ZADD):
//!   a new key goes through `Store::set_key` (the "new" event, WATCH, blocked clients);
//! - [`remove_if_empty`] after the family's own keyspace event, so that an emptied
//!   collection disappears with the "del" event after it, in Redis's order.
//!
//! Empty collections never stay in the keyspace: every write path that can remove
//! elements must call [`remove_if_empty`] (a debug assertion in `read` checks it).

use super::call::{err, Ctx};
use crate::keyspace::Value;
use crate::server::store::{notify, Store};
use crate::types::{Hash, List, Set, ZSet};

/// WRONGTYPE: the key holds another type. The caller replies with [`err::WRONGTYPE`]
/// (see [`Ctx::wrongtype`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// A collection type stored in a [`Value`] variant.
pub trait Coll: Sized {
    fn of(v: &Value) -> Option<&Self>;
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
    fn into_value(self) -> Value;
    fn coll_len(&self) -> usize;
}

macro_rules! coll_impl {
    ($t:ty, $variant:ident) => {
        impl Coll for $t {
            #[inline]
            fn of(v: &Value) -> Option<&Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            #[inline]
            fn of_mut(v: &mut Value) -> Option<&mut Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            #[inline]
            fn into_value(self) -> Value {
                Value::$variant(Box::new(self))
            }
            #[inline]
            fn coll_len(&self) -> usize {
                self.len()
            }
        }
    };
}
coll_impl!(List, List);
coll_impl!(Hash, Hash);
coll_impl!(Set, Set);
coll_impl!(ZSet, ZSet);

/// Whether a value is an empty collection (strings never are).
fn is_empty_coll(v: &Value) -> bool {
    match v {
        Value::Str(_) => false,
        Value::List(x) => x.is_empty(),
        Value::Hash(x) => x.is_empty(),
        Value::Set(x) => x.is_empty(),
        Value::ZSet(x) => x.is_empty(),
    }
}

/// Redis's `lookupKeyRead` + `checkType`: Ok(None) when the key is absent (or expired).
#[inline]
pub fn read<'s, T: Coll>(store: &'s mut Store, db: usize, key: &[u8], now_ms: i64) -> Result<Option<&'s T>, WrongType> {
    match store.lookup_read(db, key, now_ms) {
        None => Ok(None),
        Some(e) => {
            debug_assert!(!is_empty_coll(&e.val), "an empty collection was left in the keyspace");
            T::of(&e.val).map(Some).ok_or(WrongType)
        }
    }
}

/// Redis's `lookupKeyWrite` + `checkType` without changing anything: Ok(None) when absent.
/// For commands that read a key they may write later (SMOVE's destination, ...).
#[inline]
pub fn peek_write<'s, T: Coll>(
    store: &'s mut Store,
    db: usize,
    key: &[u8],
    now_ms: i64,
) -> Result<Option<&'s T>, WrongType> {
    match store.lookup_write(db, key, now_ms) {
        None => Ok(None),
        Some(e) => T::of(&e.val).map(Some).ok_or(WrongType),
    }
}

/// Changes an existing collection in place. `f` returns (changed, result); a change stamps
/// the key with `mvcc` and invalidates WATCH (Redis's `signalModifiedKey`). Ok(None) when
/// the key is absent. The caller sends its keyspace event, then calls [`remove_if_empty`].
#[inline]
pub fn write<T: Coll, R>(
    store: &mut Store,
    db: usize,
    key: &[u8],
    now_ms: i64,
    mvcc: u64,
    f: impl FnOnce(&mut T) -> (bool, R),
) -> Result<Option<R>, WrongType> {
    let Some(e) = store.lookup_write(db, key, now_ms) else { return Ok(None) };
    let Some(c) = T::of_mut(&mut e.val) else { return Err(WrongType) };
    let (changed, r) = f(c);
    if changed {
        e.mvcc = mvcc;
        store.watch.touch(db, key);
    }
    Ok(Some(r))
}

/// Changes a collection, creating it with `make` when the key is absent. `f` returns
/// (changed, result). A created key that `f` left empty is not added. The key is stamped
/// and WATCH invalidated when `f` changed it.
pub fn write_or_create<T: Coll, R>(
    store: &mut Store,
    db: usize,
    key: &[u8],
    now_ms: i64,
    mvcc: u64,
    make: impl FnOnce() -> T,
    f: impl FnOnce(&mut T) -> (bool, R),
) -> Result<R, WrongType> {
    let mut f = Some(f);
    if let Some(r) = write(store, db, key, now_ms, mvcc, |c: &mut T| (f.take().expect("called once"))(c))? {
        return Ok(r);
    }
    let mut c = make();
    let (_, r) = (f.take().expect("not called yet"))(&mut c);
    if c.coll_len() > 0 {
        store.set_key(db, key, c.into_value(), mvcc, false);
    }
    Ok(r)
}

/// Deletes `key` if it holds an empty collection, with the "del" event (Redis's
/// `dbDelete` + `notifyKeyspaceEvent(NOTIFY_GENERIC, "del")` at the end of a pop/remove).
/// Returns whether it was deleted.
pub fn remove_if_empty(store: &mut Store, db: usize, key: &[u8]) -> bool {
    let empty = store.dbs[db].peek(key).is_some_and(|e| is_empty_coll(&e.val));
    if empty {
        store.dbs[db].remove(key);
        store.notify(notify::GENERIC, "del", key, db);
    }
    empty
}

impl Ctx<'_> {
    /// Replies WRONGTYPE.
    #[inline]
    pub fn wrongtype(&mut self) {
        self.out.error(err::WRONGTYPE);
    }
}

/// The options of HSCAN, SSCAN and ZSCAN (`scanGenericCommand`'s first step), parsed from
/// `argv[3..]` after the key lookup, as Redis does.
pub struct ScanOpts<'a> {
    /// Elements to visit (before MATCH filters them).
    pub count: usize,
    /// None for no pattern (or "*", which matches everything).
    pub pattern: Option<&'a [u8]>,
}

impl ScanOpts<'_> {
    /// Whether an element passes MATCH.
    #[inline]
    pub fn matches(&self, b: &[u8]) -> bool {
        self.pattern.is_none_or(|p| crate::util::glob::string_match(p, b, false))
    }
}

/// Parses `[MATCH pattern] [COUNT count]` from `argv[3..]`; None after replying the error.
pub fn parse_scan_opts<'a>(out: &mut crate::protocol::Reply, argv: &'a [bytes::Bytes]) -> Option<ScanOpts<'a>> {
    let mut o = ScanOpts { count: 10, pattern: None };
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - i >= 2;
        if super::strings::kw(&argv[i], b"count") && more {
            let Some(n) = crate::util::numeric::string2ll(&argv[i + 1]) else {
                out.error(err::NOT_INT);
                return None;
            };
            if n < 1 {
                out.error(err::SYNTAX);
                return None;
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if super::strings::kw(&argv[i], b"match") && more {
            let p = &argv[i + 1][..];
            o.pattern = if p == b"*" { None } else { Some(p) };
        } else {
            out.error(err::SYNTAX);
            return None;
        }
        i += 2;
    }
    Some(o)
}

/// Runs `step` (one `dictScan` call: visits the elements under a cursor, returns the next
/// cursor and how many it visited) until COUNT elements were visited, the scan ended, or
/// 10*COUNT buckets were tried (so a sparse table cannot stall the server). Returns the
/// cursor for the reply.
pub fn scan_loop(cursor: u64, count: usize, mut step: impl FnMut(u64) -> (u64, usize)) -> u64 {
    let (mut next, mut visited) = (cursor, 0usize);
    let mut maxiter = count.saturating_mul(10);
    loop {
        let (n, v) = step(next);
        next = n;
        visited += v;
        if next == 0 || maxiter == 0 || visited >= count {
            return next;
        }
        maxiter -= 1;
    }
}

/// Completes a SCAN-family reply whose `n` elements were written from `body_pos` on:
/// inserts the `[cursor, [` header in front of them.
pub fn finish_scan_reply(out: &mut crate::protocol::Reply, body_pos: usize, cursor: u64, n: usize) {
    let mut b = itoa::Buffer::new();
    let c = b.format(cursor);
    let head = format!("*2\r\n${}\r\n{}\r\n*{}\r\n", c.len(), c, n);
    out.buf.splice(body_pos..body_pos, head.into_bytes());
}

/// Stores a computed collection of `n` elements at `dst` (`setKey`: any old value and TTL
/// go), or deletes `dst` when the result is empty; replies `n` and sends the family's
/// `event` (or "del"), as the STORE forms of SINTER/SUNION/SDIFF/ZUNION/ZRANGE... do.
pub fn store_result(ctx: &mut Ctx, dst: &[u8], result: Value, n: usize, class: u32, event: &str) {
    let db = ctx.db();
    if n > 0 {
        ctx.store.set_key(db, dst, result, ctx.mvcc, false);
        ctx.out.int(n as i64);
        ctx.store.notify(class, event, dst, db);
        ctx.dirty(1);
    } else {
        ctx.out.int(0);
        if ctx.store.delete(db, dst, ctx.now_ms) {
            ctx.store.notify(notify::GENERIC, "del", dst, db);
            ctx.dirty(1);
        }
    }
}

/// The rehash work of `draws` random picks from the hash table of the set, hash or sorted
/// set at `key` (SRANDMEMBER, SPOP, HRANDFIELD, ZRANDMEMBER): Redis's random reads advance
/// a table's rehash (see `Dict::rehash_for_draws`), so a collection that is only sampled
/// still finishes it. Done before the read lookup, which lends the value immutably; the
/// key's metadata is untouched.
pub fn rehash_for_draws(store: &mut Store, db: usize, key: &[u8], draws: usize) {
    if let Some(e) = store.dbs[db].peek_mut(key) {
        match &mut e.val {
            Value::Set(s) => s.rehash_for_draws(draws),
            Value::Hash(h) => h.rehash_for_draws(draws),
            Value::ZSet(z) => z.rehash_for_draws(draws),
            Value::Str(_) | Value::List(_) => {}
        }
    }
}
