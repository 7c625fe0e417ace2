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
