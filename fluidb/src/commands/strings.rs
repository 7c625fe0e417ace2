//! String commands (Redis 7.0's t_string.c).
//!
//! Every handler follows the order of checks, replies, keyspace notifications and write
//! propagation of the Redis 7.0 command it implements. Values keep Redis's encodings
//! (int / embstr / raw, see `keyspace::value::RStr`), so OBJECT ENCODING answers alike.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::call::{err, Ctx};
use super::table::{acl, flags::*, BeginSearch, Command, FindKeys, KeySpec};
use crate::keyspace::{Entry, RStr, Value};
use crate::server::store::{notify, Store};
use crate::util::ldouble;
use crate::util::numeric::string2ll;

const fn string_cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: super::table::Handler,
    since: &'static str,
    summary: &'static str,
    key_specs: &'static [KeySpec],
) -> Command {
    Command {
        name,
        arity,
        flags,
        acl: acl::STRING,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        handler,
        group: "string",
        since,
        summary,
        complexity: "O(1)",
        key_specs,
        ..Command::DEFAULT
    }
}

/// A key spec of Redis 7.0: keys from argv[`index`], range up to `lastkey` by `keystep`.
pub(crate) const fn spec(
    notes: &'static str,
    flags: &'static [&'static str],
    index: i32,
    lastkey: i32,
    keystep: i32,
) -> KeySpec {
    KeySpec { notes, flags, begin: BeginSearch::Index(index), find: FindKeys::Range { lastkey, keystep, limit: 0 } }
}

const RO_ACCESS: &[KeySpec] = &[spec("", &["RO", "access"], 1, 0, 1)];
const RW_ACCESS_UPDATE: &[KeySpec] = &[spec("", &["RW", "access", "update"], 1, 0, 1)];
const OW_UPDATE: &[KeySpec] = &[spec("", &["OW", "update"], 1, 0, 1)];

const GETRANGE_COMPLEXITY: &str = "O(N) where N is the length of the returned string. The complexity is ultimately \
determined by the returned length, but because creating a substring from an existing string is very cheap, it can \
be considered O(1) for small strings.";

/// Redis's `setGetKeys`: the key's flags depend on GET (which reads the old value).
fn set_get_keys(argv: &[Bytes]) -> Vec<(usize, &'static [&'static str])> {
    let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
    vec![(1, if get { &["RW", "access", "update"] } else { &["OW", "update"] })]
}

pub static COMMANDS: &[Command] = &[
    string_cmd("get", 2, READONLY | FAST, get, "1.0.0", "Get the value of a key", RO_ACCESS),
    Command {
        getkeys: Some(set_get_keys),
        history: &[
            ("2.6.12", "Added the `EX`, `PX`, `NX` and `XX` options."),
            ("6.0.0", "Added the `KEEPTTL` option."),
            ("6.2.0", "Added the `GET`, `EXAT` and `PXAT` option."),
            ("7.0.0", "Allowed the `NX` and `GET` options to be used together."),
        ],
        ..string_cmd(
            "set",
            -3,
            WRITE | DENYOOM,
            set,
            "1.0.0",
            "Set the string value of a key",
            &[spec(
                "RW and ACCESS due to the optional `GET` argument",
                &["RW", "access", "update", "variable_flags"],
                1,
                0,
                1,
            )],
        )
    },
    string_cmd(
        "getex",
        -2,
        WRITE | FAST,
        getex,
        "6.2.0",
        "Get the value of a key and optionally set its expiration",
        &[spec("RW and UPDATE because it changes the TTL", &["RW", "access", "update"], 1, 0, 1)],
    ),
    string_cmd(
        "getdel",
        2,
        WRITE | FAST,
        getdel,
        "6.2.0",
        "Get the value of a key and delete the key",
        &[spec("", &["RW", "access", "delete"], 1, 0, 1)],
    ),
    Command {
        doc_flags: &["deprecated"],
        ..string_cmd(
            "getset",
            3,
            WRITE | DENYOOM | FAST,
            getset,
            "1.0.0",
            "Set the string value of a key and return its old value",
            RW_ACCESS_UPDATE,
        )
    },
    Command {
        last_key: -1,
        complexity: "O(N) where N is the number of keys to retrieve.",
        tips: &["request_policy:multi_shard"],
        ..string_cmd(
            "mget",
            -2,
            READONLY | FAST,
            mget,
            "1.0.0",
            "Get the values of all the given keys",
            &[spec("", &["RO", "access"], 1, -1, 1)],
        )
    },
    Command {
        last_key: -1,
        key_step: 2,
        complexity: "O(N) where N is the number of keys to set.",
        tips: &["request_policy:multi_shard", "response_policy:all_succeeded"],
        ..string_cmd(
            "mset",
            -3,
            WRITE | DENYOOM,
            mset,
            "1.0.1",
            "Set multiple keys to multiple values",
            &[spec("", &["OW", "update"], 1, -1, 2)],
        )
    },
    Command {
        last_key: -1,
        key_step: 2,
        complexity: "O(N) where N is the number of keys to set.",
        tips: &["request_policy:multi_shard", "response_policy:agg_min"],
        ..string_cmd(
            "msetnx",
            -3,
            WRITE | DENYOOM,
            msetnx,
            "1.0.1",
            "Set multiple keys to multiple values, only if none of the keys exist",
            &[spec("", &["OW", "insert"], 1, -1, 2)],
        )
    },
    string_cmd(
        "setnx",
        3,
        WRITE | DENYOOM | FAST,
        setnx,
        "1.0.0",
        "Set the value of a key, only if the key does not exist",
        &[spec("", &["OW", "insert"], 1, 0, 1)],
    ),
    string_cmd("setex", 4, WRITE | DENYOOM, setex, "2.0.0", "Set the value and expiration of a key", OW_UPDATE),
    string_cmd(
        "psetex",
        4,
        WRITE | DENYOOM,
        psetex,
        "2.6.0",
        "Set the value and expiration in milliseconds of a key",
        OW_UPDATE,
    ),
    Command {
        complexity: "O(1). The amortized time complexity is O(1) assuming the appended value is small and the \
already present value is of any size, since the dynamic string library used by Redis will double the free space \
available on every reallocation.",
        ..string_cmd(
            "append",
            3,
            WRITE | DENYOOM | FAST,
            append,
            "2.0.0",
            "Append a value to a key",
            &[spec("", &["RW", "insert"], 1, 0, 1)],
        )
    },
    string_cmd(
        "strlen",
        2,
        READONLY | FAST,
        strlen,
        "2.2.0",
        "Get the length of the value stored in a key",
        &[spec("", &["RO"], 1, 0, 1)],
    ),
    Command {
        complexity: GETRANGE_COMPLEXITY,
        ..string_cmd(
            "getrange",
            4,
            READONLY,
            getrange,
            "2.4.0",
            "Get a substring of the string stored at a key",
            RO_ACCESS,
        )
    },
    Command {
        complexity: GETRANGE_COMPLEXITY,
        doc_flags: &["deprecated"],
        ..string_cmd(
            "substr",
            4,
            READONLY,
            getrange,
            "1.0.0",
            "Get a substring of the string stored at a key",
            RO_ACCESS,
        )
    },
    Command {
        complexity: "O(1), not counting the time taken to copy the new string in place. Usually, this string is \
very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value \
argument.",
        ..string_cmd(
            "setrange",
            4,
            WRITE | DENYOOM,
            setrange,
            "2.2.0",
            "Overwrite part of a string at key starting at the specified offset",
            &[spec("", &["RW", "update"], 1, 0, 1)],
        )
    },
    string_cmd(
        "incr",
        2,
        WRITE | DENYOOM | FAST,
        incr,
        "1.0.0",
        "Increment the integer value of a key by one",
        RW_ACCESS_UPDATE,
    ),
    string_cmd(
        "decr",
        2,
        WRITE | DENYOOM | FAST,
        decr,
        "1.0.0",
        "Decrement the integer value of a key by one",
        RW_ACCESS_UPDATE,
    ),
    string_cmd(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        incrby,
        "1.0.0",
        "Increment the integer value of a key by the given amount",
        RW_ACCESS_UPDATE,
    ),
    string_cmd(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        decrby,
        "1.0.0",
        "Decrement the integer value of a key by the given number",
        RW_ACCESS_UPDATE,
    ),
    string_cmd(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        incrbyfloat,
        "2.6.0",
        "Increment the float value of a key by the given amount",
        RW_ACCESS_UPDATE,
    ),
    Command {
        last_key: 2,
        complexity: "O(N*M) where N and M are the lengths of s1 and s2, respectively",
        ..string_cmd(
            "lcs",
            -3,
            READONLY,
            lcs,
            "7.0.0",
            "Find longest common substring",
            &[spec("", &["RO", "access"], 1, 1, 1)],
        )
    },
];

#[cfg(test)]
#[path = "strings_tests.rs"]
pub(crate) mod tests;

// ---------------------------------------------------------------------------------------
// Helpers shared with bitops.rs.
// ---------------------------------------------------------------------------------------

/// The string inside a value, or None for another type (the caller replies WRONGTYPE).
#[inline]
pub(crate) fn string_of(v: &Value) -> Option<&RStr> {
    match v {
        Value::Str(s) => Some(s),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Mutable variant of [`string_of`].
#[inline]
pub(crate) fn string_of_mut(v: &mut Value) -> Option<&mut RStr> {
    match v {
        Value::Str(s) => Some(s),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The bytes of a string value: borrowed, or the decimal text of an int-encoded value.
pub(crate) fn str_bytes(s: &RStr) -> Cow<'_, [u8]> {
    match s {
        RStr::Int(n) => Cow::Owned(itoa::Buffer::new().format(*n).as_bytes().to_vec()),
        RStr::Emb(b) => Cow::Borrowed(b),
        RStr::Raw(v) => Cow::Borrowed(v),
    }
}

/// An argument as C code sees it through `char *`: up to its first NUL byte. Redis compares
/// option keywords with `strcasecmp` and character tests, which stop there.
#[inline]
pub(crate) fn cstr(a: &[u8]) -> &[u8] {
    match a.iter().position(|&b| b == 0) {
        Some(i) => &a[..i],
        None => a,
    }
}

/// Case-insensitive keyword test with C string semantics.
#[inline]
pub(crate) fn kw(a: &[u8], word: &[u8]) -> bool {
    cstr(a).eq_ignore_ascii_case(word)
}

/// `getLongLongFromObjectOrReply`: the argument as an integer, or the standard error.
#[inline]
pub(crate) fn arg_i64(ctx: &mut Ctx, a: &[u8]) -> Option<i64> {
    match string2ll(a) {
        Some(n) => Some(n),
        None => {
            ctx.out.error(err::NOT_INT);
            None
        }
    }
}

/// The configured `proto-max-bulk-len`: the largest string a command may build.
#[inline]
pub(crate) fn proto_max_bulk_len(ctx: &Ctx) -> i64 {
    ctx.shared.max_bulk_len.load(Ordering::Relaxed)
}

/// Error of Redis's `checkStringLength`.
pub(crate) const ERR_STRING_TOO_LONG: &str = "string exceeds maximum allowed size (proto-max-bulk-len)";

/// Redis's `checkStringLength`: whether a string of `size + append` bytes fits in
/// `proto-max-bulk-len` (`max`) without overflowing.
#[inline]
pub(crate) fn fits_string_length(size: u64, append: u64, max: i64) -> bool {
    matches!(size.checked_add(append), Some(total) if total <= max.max(0) as u64)
}

impl Store {
    /// Redis's `lookupKeyWrite` + change in place + `signalModifiedKey`, with the key
    /// looked up once: `f` gets the live entry and returns whether it changed it (and a
    /// result). A change stamps the entry with `mvcc` and invalidates WATCH, exactly as
    /// [`Store::modified`] does. None when the key does not exist (or is expired).
    #[inline]
    pub(crate) fn change_in_place<R>(
        &mut self,
        db: usize,
        key: &[u8],
        now_ms: i64,
        mvcc: u64,
        f: impl FnOnce(&mut Entry) -> (bool, R),
    ) -> Option<R> {
        let e = self.lookup_write(db, key, now_ms)?;
        let (changed, r) = f(e);
        if changed {
            e.mvcc = mvcc;
            self.watch.touch(db, key);
        }
        Some(r)
    }
}

/// Redis's `setKey`: looks the key up for writing first (so an expired key is expired,
/// with its event and DEL, as in Redis), then stores `val` in place or as a new key. The
/// TTL is dropped unless `keep_ttl`. Stamps the key and invalidates WATCH.
pub(crate) fn set_value(ctx: &mut Ctx, key: &[u8], val: Value, keep_ttl: bool) {
    let db = ctx.db();
    let mut val = Some(val);
    let lazy = ctx.store.cfg.lazyfree_lazy_server_del;
    let r = ctx.store.change_in_place(db, key, ctx.now_ms, ctx.mvcc, |e| {
        if let Some(v) = val.take() {
            crate::keyspace::lazyfree::overwrite(&mut e.val, v, lazy);
        }
        (true, !keep_ttl && e.has_expire())
    });
    match (r, val) {
        (Some(true), _) => {
            ctx.store.dbs[db].persist(key);
        }
        (None, Some(v)) => ctx.store.set_key(db, key, v, ctx.mvcc, keep_ttl),
        _ => {}
    }
}

/// Redis's `getGenericCommand`: replies with the value of argv key (null if absent).
/// Returns false after replying WRONGTYPE.
fn get_generic(ctx: &mut Ctx, key: &[u8]) -> bool {
    let db = ctx.db();
    match ctx.store.lookup_read(db, key, ctx.now_ms) {
        None => {
            ctx.out.null();
            true
        }
        Some(e) => match string_of(&e.val) {
            Some(s) => {
                let out = &mut *ctx.out;
                s.with_bytes(|b| out.bulk(b));
                true
            }
            None => {
                ctx.out.error(err::WRONGTYPE);
                false
            }
        },
    }
}

// ---------------------------------------------------------------------------------------
// GET, SET and their variants.
// ---------------------------------------------------------------------------------------

fn get(ctx: &mut Ctx) {
    let argv = ctx.argv;
    get_generic(ctx, &argv[1]);
}

/// Option flags of SET and GETEX (Redis's `OBJ_*`).
mod opt {
    pub const NX: u32 = 1 << 0;
    pub const XX: u32 = 1 << 1;
    pub const EX: u32 = 1 << 2;
    pub const PX: u32 = 1 << 3;
    pub const KEEPTTL: u32 = 1 << 4;
    pub const GET: u32 = 1 << 5;
    pub const EXAT: u32 = 1 << 6;
    pub const PXAT: u32 = 1 << 7;
    pub const PERSIST: u32 = 1 << 8;
    pub const ANY_EXPIRE: u32 = EX | PX | EXAT | PXAT;
}

/// Parsed SET/GETEX options: flags, the argv index of the expire argument, and whether it
/// is in milliseconds.
struct ExtArgs {
    flags: u32,
    expire: Option<usize>,
    unit_ms: bool,
}

/// Redis's `parseExtendedStringArgumentsOrReply`. `is_set` selects SET (options from argv[3])
/// or GETEX (from argv[2]). Replies "syntax error" and returns None on a bad combination.
fn parse_extended(ctx: &mut Ctx, is_set: bool) -> Option<ExtArgs> {
    use opt::*;
    let argv = ctx.argv;
    let mut a = ExtArgs { flags: 0, expire: None, unit_ms: false };
    let mut j = if is_set { 3 } else { 2 };
    while j < argv.len() {
        let o = cstr(&argv[j]);
        let has_next = j + 1 < argv.len();
        let f = a.flags;
        if is_set && o.eq_ignore_ascii_case(b"nx") && f & XX == 0 {
            a.flags |= NX;
        } else if is_set && o.eq_ignore_ascii_case(b"xx") && f & NX == 0 {
            a.flags |= XX;
        } else if is_set && o.eq_ignore_ascii_case(b"get") {
            a.flags |= GET;
        } else if is_set && o.eq_ignore_ascii_case(b"keepttl") && f & (PERSIST | ANY_EXPIRE) == 0 {
            a.flags |= KEEPTTL;
        } else if !is_set && o.eq_ignore_ascii_case(b"persist") && f & (ANY_EXPIRE | KEEPTTL) == 0 {
            a.flags |= PERSIST;
        } else if o.eq_ignore_ascii_case(b"ex") && f & (KEEPTTL | PERSIST | EXAT | PX | PXAT) == 0 && has_next {
            a.flags |= EX;
            a.expire = Some(j + 1);
            j += 1;
        } else if o.eq_ignore_ascii_case(b"px") && f & (KEEPTTL | PERSIST | EX | EXAT | PXAT) == 0 && has_next {
            a.flags |= PX;
            a.unit_ms = true;
            a.expire = Some(j + 1);
            j += 1;
        } else if o.eq_ignore_ascii_case(b"exat") && f & (KEEPTTL | PERSIST | EX | PX | PXAT) == 0 && has_next {
            a.flags |= EXAT;
            a.expire = Some(j + 1);
            j += 1;
        } else if o.eq_ignore_ascii_case(b"pxat") && f & (KEEPTTL | PERSIST | EX | EXAT | PX) == 0 && has_next {
            a.flags |= PXAT;
            a.unit_ms = true;
            a.expire = Some(j + 1);
            j += 1;
        } else {
            ctx.syntax_error();
            return None;
        }
        j += 1;
    }
    Some(a)
}

/// Replies Redis's "invalid expire time in '<cmd>' command" error.
fn invalid_expire(ctx: &mut Ctx) {
    let msg = format!("invalid expire time in '{}' command", ctx.cmd.fullname);
    ctx.out.error(&msg);
}

/// Redis's `getExpireMillisecondsOrReply`: the absolute expire time in ms for the expire
/// argument `arg` (relative for EX/PX), or None after replying the error.
fn expire_ms(ctx: &mut Ctx, arg: &[u8], flags: u32, unit_ms: bool) -> Option<i64> {
    let mut ms = arg_i64(ctx, arg)?;
    if ms <= 0 || (!unit_ms && ms > i64::MAX / 1000) {
        invalid_expire(ctx);
        return None;
    }
    if !unit_ms {
        ms *= 1000;
    }
    if flags & (opt::PX | opt::EX) != 0 {
        ms = ms.wrapping_add(ctx.now_ms);
    }
    if ms <= 0 {
        invalid_expire(ctx);
        return None;
    }
    Some(ms)
}

/// Replies of SET-like commands: "+OK"/null for SET, SETEX, PSETEX; ":1"/":0" for SETNX.
#[derive(Clone, Copy, PartialEq)]
enum SetReplies {
    OkNull,
    OneZero,
}

/// Redis's `setGenericCommand`: SET, SETNX, SETEX and PSETEX.
fn set_generic(ctx: &mut Ctx, flags: u32, val_idx: usize, expire: Option<usize>, unit_ms: bool, r: SetReplies) {
    let argv = ctx.argv;
    let key = &argv[1][..];
    let mut when = 0;
    if let Some(ei) = expire {
        match expire_ms(ctx, &argv[ei], flags, unit_ms) {
            Some(ms) => when = ms,
            None => return,
        }
    }
    if flags & opt::GET != 0 && !get_generic(ctx, key) {
        return;
    }
    let db = ctx.db();
    let keep_ttl = flags & opt::KEEPTTL != 0 || expire.is_some();
    // Overwrite in place when the key exists (one lookup), unless NX forbids it.
    let mut val = Some(Value::Str(RStr::from_bytes(&argv[val_idx])));
    let lazy = ctx.store.cfg.lazyfree_lazy_server_del;
    let found = ctx.store.change_in_place(db, key, ctx.now_ms, ctx.mvcc, |e| {
        if flags & opt::NX != 0 {
            return (false, false);
        }
        if let Some(v) = val.take() {
            crate::keyspace::lazyfree::overwrite(&mut e.val, v, lazy);
        }
        (true, !keep_ttl && e.has_expire())
    });
    let aborted = match found {
        Some(drop_ttl) => {
            if drop_ttl {
                ctx.store.dbs[db].persist(key);
            }
            flags & opt::NX != 0
        }
        None => flags & opt::XX != 0,
    };
    if aborted {
        if flags & opt::GET == 0 {
            match r {
                SetReplies::OkNull => ctx.out.null(),
                SetReplies::OneZero => ctx.out.int(0),
            }
        }
        return;
    }
    if let Some(v) = val {
        ctx.store.set_key(db, key, v, ctx.mvcc, keep_ttl);
    }
    ctx.dirty(1);
    ctx.store.notify(notify::STRING, "set", key, db);
    if expire.is_some() {
        ctx.store.set_expire(db, key, when, ctx.mvcc);
        // Relative and absolute expiries alike travel as SET key value PXAT <ms>.
        let mut b = itoa::Buffer::new();
        ctx.propagate(vec![
            Bytes::from_static(b"SET"),
            argv[1].clone(),
            argv[val_idx].clone(),
            Bytes::from_static(b"PXAT"),
            Bytes::copy_from_slice(b.format(when).as_bytes()),
        ]);
        ctx.store.notify(notify::GENERIC, "expire", key, db);
    }
    if flags & opt::GET == 0 {
        match r {
            SetReplies::OkNull => ctx.out.ok(),
            SetReplies::OneZero => ctx.out.int(1),
        }
    } else if expire.is_none() {
        // Propagated without the GET option(s), as Redis 7.0 does.
        let p: Vec<Bytes> =
            argv.iter().enumerate().filter(|(j, a)| *j < 3 || !kw(a, b"get")).map(|(_, a)| a.clone()).collect();
        ctx.propagate(p);
    }
}

fn set(ctx: &mut Ctx) {
    if ctx.argv.len() == 3 {
        return set_generic(ctx, 0, 2, None, false, SetReplies::OkNull);
    }
    let Some(a) = parse_extended(ctx, true) else { return };
    set_generic(ctx, a.flags, 2, a.expire, a.unit_ms, SetReplies::OkNull);
}

fn setnx(ctx: &mut Ctx) {
    set_generic(ctx, opt::NX, 2, None, false, SetReplies::OneZero);
}

fn setex(ctx: &mut Ctx) {
    set_generic(ctx, opt::EX, 3, Some(2), false, SetReplies::OkNull);
}

fn psetex(ctx: &mut Ctx) {
    set_generic(ctx, opt::PX, 3, Some(2), true, SetReplies::OkNull);
}

/// GETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST]. Never propagated as is:
/// it becomes PEXPIREAT, DEL or PERSIST.
fn getex(ctx: &mut Ctx) {
    let Some(a) = parse_extended(ctx, false) else { return };
    let argv = ctx.argv;
    let key = &argv[1][..];
    let db = ctx.db();
    let now = ctx.now_ms;
    match ctx.store.lookup_read(db, key, now) {
        None => return ctx.out.null(),
        Some(e) => {
            if string_of(&e.val).is_none() {
                return ctx.out.error(err::WRONGTYPE);
            }
        }
    }
    let mut when = 0;
    if let Some(ei) = a.expire {
        match expire_ms(ctx, &argv[ei], a.flags, a.unit_ms) {
            Some(ms) => when = ms,
            None => return,
        }
    }
    // Reply before the key may be deleted below.
    if let Some(s) = ctx.store.dbs[db].peek(key).and_then(|e| string_of(&e.val)) {
        let out = &mut *ctx.out;
        s.with_bytes(|b| out.bulk(b));
    }
    if a.flags & (opt::PXAT | opt::EXAT) != 0 && ctx.store.already_expired(when, now) {
        // An absolute time in the past deletes the key (in the background, propagated as
        // UNLINK, under lazyfree-lazy-expire).
        let lazy = ctx.store.cfg.lazyfree_lazy_expire;
        ctx.store.delete_lazy(db, key, now, lazy);
        let verb: &'static [u8] = if lazy { b"UNLINK" } else { b"DEL" };
        ctx.propagate(vec![Bytes::from_static(verb), argv[1].clone()]);
        ctx.store.notify(notify::GENERIC, "del", key, db);
        ctx.dirty(1);
    } else if a.expire.is_some() {
        ctx.store.set_expire(db, key, when, ctx.mvcc);
        let mut b = itoa::Buffer::new();
        ctx.propagate(vec![
            Bytes::from_static(b"PEXPIREAT"),
            argv[1].clone(),
            Bytes::copy_from_slice(b.format(when).as_bytes()),
        ]);
        ctx.store.notify(notify::GENERIC, "expire", key, db);
        ctx.dirty(1);
    } else if a.flags & opt::PERSIST != 0 && ctx.store.dbs[db].persist(key) {
        ctx.store.modified(db, key, ctx.mvcc);
        ctx.propagate(vec![Bytes::from_static(b"PERSIST"), argv[1].clone()]);
        ctx.store.notify(notify::GENERIC, "persist", key, db);
        ctx.dirty(1);
    }
}

/// GETDEL: the value, then the key is deleted (propagated as DEL).
fn getdel(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1][..];
    if !get_generic(ctx, key) {
        return;
    }
    let db = ctx.db();
    // Always freed here, as Redis's GETDEL (`dbSyncDelete`).
    if ctx.store.delete_lazy(db, key, ctx.now_ms, false) {
        ctx.propagate(vec![Bytes::from_static(b"DEL"), argv[1].clone()]);
        ctx.store.notify(notify::GENERIC, "del", key, db);
        ctx.dirty(1);
    }
}

/// GETSET: the old value, then SET (TTL removed); propagated as SET.
fn getset(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1][..];
    if !get_generic(ctx, key) {
        return;
    }
    let db = ctx.db();
    set_value(ctx, key, Value::Str(RStr::from_bytes(&argv[2])), false);
    ctx.store.notify(notify::STRING, "set", key, db);
    ctx.dirty(1);
    ctx.propagate(vec![Bytes::from_static(b"SET"), argv[1].clone(), argv[2].clone()]);
}

fn mget(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let db = ctx.db();
    ctx.out.array(argv.len() - 1);
    for key in &argv[1..] {
        match ctx.store.lookup_read(db, key, ctx.now_ms).and_then(|e| string_of(&e.val)) {
            Some(s) => {
                let out = &mut *ctx.out;
                s.with_bytes(|b| out.bulk(b));
            }
            None => ctx.out.null(),
        }
    }
}

/// Redis's `msetGenericCommand`.
fn mset_generic(ctx: &mut Ctx, nx: bool) {
    let argv = ctx.argv;
    if argv.len().is_multiple_of(2) {
        return ctx.wrong_arity();
    }
    let db = ctx.db();
    if nx {
        for pair in argv[1..].chunks_exact(2) {
            if ctx.store.lookup_write(db, &pair[0], ctx.now_ms).is_some() {
                return ctx.out.int(0);
            }
        }
    }
    for pair in argv[1..].chunks_exact(2) {
        let val = Value::Str(RStr::from_bytes(&pair[1]));
        if nx {
            // MSETNX looked every key up already (expiring them).
            ctx.store.set_key(db, &pair[0], val, ctx.mvcc, false);
        } else {
            set_value(ctx, &pair[0], val, false);
        }
        ctx.store.notify(notify::STRING, "set", &pair[0], db);
    }
    ctx.dirty((argv.len() / 2) as u64);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
}

fn mset(ctx: &mut Ctx) {
    mset_generic(ctx, false);
}

fn msetnx(ctx: &mut Ctx) {
    mset_generic(ctx, true);
}

// ---------------------------------------------------------------------------------------
// APPEND, STRLEN, GETRANGE, SETRANGE.
// ---------------------------------------------------------------------------------------

fn append(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1][..];
    let add = &argv[2][..];
    let db = ctx.db();
    let max = proto_max_bulk_len(ctx);
    let r = ctx.store.change_in_place(db, key, ctx.now_ms, ctx.mvcc, |e| {
        let Some(s) = string_of_mut(&mut e.val) else { return (false, Err(err::WRONGTYPE)) };
        if !fits_string_length(s.len() as u64, add.len() as u64, max) {
            return (false, Err(ERR_STRING_TOO_LONG));
        }
        let v = s.make_raw();
        v.extend_from_slice(add);
        (true, Ok(v.len()))
    });
    let total = match r {
        Some(Ok(n)) => n,
        Some(Err(e)) => return ctx.out.error(e),
        None => {
            // A new key gets the encoding SET would give it.
            ctx.store.set_key(db, key, Value::Str(RStr::from_bytes(add)), ctx.mvcc, false);
            add.len()
        }
    };
    ctx.store.notify(notify::STRING, "append", key, db);
    ctx.dirty(1);
    ctx.out.int(total as i64);
}

fn strlen(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let db = ctx.db();
    match ctx.store.lookup_read(db, &argv[1], ctx.now_ms) {
        None => ctx.out.int(0),
        Some(e) => match string_of(&e.val) {
            Some(s) => ctx.out.int(s.len() as i64),
            None => ctx.out.error(err::WRONGTYPE),
        },
    }
}

/// GETRANGE and its alias SUBSTR.
fn getrange(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(mut start) = arg_i64(ctx, &argv[2]) else { return };
    let Some(mut end) = arg_i64(ctx, &argv[3]) else { return };
    let db = ctx.db();
    let s = match ctx.store.lookup_read(db, &argv[1], ctx.now_ms) {
        None => return ctx.out.bulk(b""),
        Some(e) => match string_of(&e.val) {
            Some(s) => s,
            None => return ctx.out.error(err::WRONGTYPE),
        },
    };
    let out = &mut *ctx.out;
    s.with_bytes(|b| {
        let len = b.len() as i64;
        if start < 0 && end < 0 && start > end {
            return out.bulk(b"");
        }
        if start < 0 {
            start += len;
        }
        if end < 0 {
            end += len;
        }
        start = start.max(0);
        end = end.max(0);
        if end >= len {
            end = len - 1;
        }
        if start > end || len == 0 {
            out.bulk(b"");
        } else {
            out.bulk(&b[start as usize..=end as usize]);
        }
    });
}

fn setrange(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1][..];
    let value = &argv[3][..];
    let Some(offset) = arg_i64(ctx, &argv[2]) else { return };
    if offset < 0 {
        return ctx.out.error("offset is out of range");
    }
    let offset = offset as u64;
    let db = ctx.db();
    let max = proto_max_bulk_len(ctx);
    enum R {
        Err(&'static str),
        Unchanged(usize),
        Len(usize),
    }
    let r = ctx.store.change_in_place(db, key, ctx.now_ms, ctx.mvcc, |e| {
        let Some(s) = string_of_mut(&mut e.val) else { return (false, R::Err(err::WRONGTYPE)) };
        if value.is_empty() {
            return (false, R::Unchanged(s.len()));
        }
        if !fits_string_length(offset, value.len() as u64, max) {
            return (false, R::Err(ERR_STRING_TOO_LONG));
        }
        // Both fit in proto-max-bulk-len, so in usize.
        let (off, end) = (offset as usize, offset as usize + value.len());
        let v = s.make_raw();
        if v.len() < end {
            v.resize(end, 0);
        }
        v[off..end].copy_from_slice(value);
        (true, R::Len(v.len()))
    });
    let new_len = match r {
        Some(R::Len(n)) => n,
        Some(R::Unchanged(n)) => return ctx.out.int(n as i64),
        Some(R::Err(e)) => return ctx.out.error(e),
        None => {
            if value.is_empty() {
                return ctx.out.int(0);
            }
            if !fits_string_length(offset, value.len() as u64, max) {
                return ctx.out.error(ERR_STRING_TOO_LONG);
            }
            let mut v = vec![0u8; offset as usize + value.len()];
            v[offset as usize..].copy_from_slice(value);
            let n = v.len();
            ctx.store.set_key(db, key, Value::Str(RStr::Raw(v)), ctx.mvcc, false);
            n
        }
    };
    ctx.store.notify(notify::STRING, "setrange", key, db);
    ctx.dirty(1);
    ctx.out.int(new_len as i64);
}

// ---------------------------------------------------------------------------------------
// INCR family.
// ---------------------------------------------------------------------------------------

fn incr(ctx: &mut Ctx) {
    incr_decr(ctx, 1);
}

fn decr(ctx: &mut Ctx) {
    incr_decr(ctx, -1);
}

fn incrby(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(n) = arg_i64(ctx, &argv[2]) else { return };
    incr_decr(ctx, n);
}

fn decrby(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(n) = arg_i64(ctx, &argv[2]) else { return };
    if n == i64::MIN {
        return ctx.out.error("decrement would overflow");
    }
    incr_decr(ctx, -n);
}

/// Redis's `incrDecrCommand`. The new value is int-encoded and keeps the key's TTL.
fn incr_decr(ctx: &mut Ctx, by: i64) {
    let argv = ctx.argv;
    let key = &argv[1][..];
    let db = ctx.db();
    let r = ctx.store.change_in_place(db, key, ctx.now_ms, ctx.mvcc, |e| {
        let Some(s) = string_of_mut(&mut e.val) else { return (false, Err(err::WRONGTYPE)) };
        let Some(cur) = s.as_int() else { return (false, Err(err::NOT_INT)) };
        let Some(new) = cur.checked_add(by) else { return (false, Err(err::OVERFLOW)) };
        *s = RStr::Int(new);
        (true, Ok(new))
    });
    let new = match r {
        Some(Ok(n)) => n,
        Some(Err(e)) => return ctx.out.error(e),
        None => {
            ctx.store.set_key(db, key, Value::Str(RStr::Int(by)), ctx.mvcc, false);
            by
        }
    };
    ctx.store.notify(notify::STRING, "incrby", key, db);
    ctx.dirty(1);
    ctx.out.int(new);
}

/// INCRBYFLOAT: long double arithmetic as Redis; the result keeps the TTL and is
/// propagated as `SET key <result> KEEPTTL`.
fn incrbyfloat(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1][..];
    let incr = &argv[2][..];
    let db = ctx.db();
    let r = ctx.store.change_in_place(db, key, ctx.now_ms, ctx.mvcc, |e| {
        let Some(s) = string_of_mut(&mut e.val) else { return (false, Err(None)) };
        match s.with_bytes(|b| ldouble::incrbyfloat(Some(b), incr)) {
            Ok(new) => {
                *s = RStr::from_bytes_no_int(&new);
                (true, Ok(new))
            }
            Err(e) => (false, Err(Some(e))),
        }
    });
    let new = match r {
        Some(Ok(new)) => new,
        Some(Err(None)) => return ctx.out.error(err::WRONGTYPE),
        Some(Err(Some(e))) => return ctx.out.error(format!("-{}", e.message())),
        None => match ldouble::incrbyfloat(None, incr) {
            Ok(new) => {
                ctx.store.set_key(db, key, Value::Str(RStr::from_bytes_no_int(&new)), ctx.mvcc, false);
                new
            }
            Err(e) => return ctx.out.error(format!("-{}", e.message())),
        },
    };
    ctx.store.notify(notify::STRING, "incrbyfloat", key, db);
    ctx.dirty(1);
    ctx.out.bulk(&new);
    if !ctx.store.cfg.active_replica {
        // As Redis: the result, so that a replica's long double arithmetic cannot differ.
        ctx.propagate(vec![
            Bytes::from_static(b"SET"),
            argv[1].clone(),
            Bytes::from(new),
            Bytes::from_static(b"KEEPTTL"),
        ]);
    }
    // In active mode it propagates as itself: an increment that merges with the other
    // nodes' (`keyspace::counters`), the sums made the same way on every node.
}

// ---------------------------------------------------------------------------------------
// LCS.
// ---------------------------------------------------------------------------------------

/// What a key holds, for commands that read several keys before checking their types.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Held {
    Absent,
    Str,
    Other,
}

/// Looks `key` up for reading (hit/miss stats, lazy expiry) and classifies it.
pub(crate) fn lookup_held(ctx: &mut Ctx, key: &[u8]) -> Held {
    let db = ctx.db();
    match ctx.store.lookup_read(db, key, ctx.now_ms) {
        None => Held::Absent,
        Some(e) => {
            if string_of(&e.val).is_some() {
                Held::Str
            } else {
                Held::Other
            }
        }
    }
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
fn lcs(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let ha = lookup_held(ctx, &argv[1]);
    let hb = lookup_held(ctx, &argv[2]);
    if ha == Held::Other || hb == Held::Other {
        return ctx.out.error("The specified keys must contain string values");
    }
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let o = &argv[j][..];
        let moreargs = argv.len() - 1 - j;
        if kw(o, b"idx") {
            getidx = true;
        } else if kw(o, b"len") {
            getlen = true;
        } else if kw(o, b"withmatchlen") {
            withmatchlen = true;
        } else if kw(o, b"minmatchlen") && moreargs > 0 {
            let Some(n) = arg_i64(ctx, &argv[j + 1]) else { return };
            minmatchlen = n.max(0);
            j += 1;
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    if getlen && getidx {
        return ctx.out.error("If you want both the length and indexes, please just use IDX.");
    }
    let db = ctx.db();
    let max_alloc = proto_max_bulk_len(ctx);
    let store = &*ctx.store;
    let fetch = |h: Held, k: &[u8]| -> Cow<'_, [u8]> {
        if h != Held::Str {
            return Cow::Borrowed(&[][..]);
        }
        match store.dbs[db].peek(k).and_then(|e| string_of(&e.val)) {
            Some(s) => str_bytes(s),
            None => Cow::Borrowed(&[][..]),
        }
    };
    let a = fetch(ha, &argv[1]);
    let b = fetch(hb, &argv[2]);
    let out = &mut *ctx.out;
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return out.error("String too long for LCS");
    }
    let (alen, blen) = (a.len(), b.len());
    // The DP table Redis allocates: refused beyond proto-max-bulk-len bytes.
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    let bytes = cells.checked_mul(4);
    match bytes {
        Some(n) if n <= max_alloc.max(0) as u64 => {}
        Some(_) => return out.error("Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"),
        None => return out.error("Insufficient memory, failed allocating transient memory for LCS"),
    }
    if getlen {
        // Only the length: two rows of the table suffice.
        let mut prev = vec![0u32; blen + 1];
        let mut cur = vec![0u32; blen + 1];
        for i in 1..=alen {
            let ai = a[i - 1];
            for jj in 1..=blen {
                cur[jj] = if ai == b[jj - 1] { prev[jj - 1] + 1 } else { prev[jj].max(cur[jj - 1]) };
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        return out.int(prev[blen] as i64);
    }
    let w = blen + 1;
    let mut t: Vec<u32> = Vec::new();
    if t.try_reserve_exact(cells as usize).is_err() {
        return out.error("Insufficient memory, failed allocating transient memory for LCS");
    }
    t.resize(cells as usize, 0);
    for i in 1..=alen {
        let ai = a[i - 1];
        let (before, row) = t.split_at_mut(i * w);
        let up = &before[(i - 1) * w..];
        let row = &mut row[..w];
        for jj in 1..=blen {
            row[jj] = if ai == b[jj - 1] { up[jj - 1] + 1 } else { up[jj].max(row[jj - 1]) };
        }
    }
    let at = |i: usize, j: usize| t[i * w + j];
    let total = at(alen, blen);
    let mut idx = total as usize;
    let mut result = vec![0u8; idx];
    let mut deferred = None;
    let mut arraylen = 0usize;
    if getidx {
        out.map(2);
        out.bulk(b"matches");
        deferred = Some(out.begin_deferred());
    }
    // Walk back from the end, emitting contiguous ranges exactly as Redis does.
    let (mut i, mut j) = (alen, blen);
    let (mut ars, mut are, mut brs, mut bre) = (alen, 0usize, 0usize, 0usize);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if ars == alen {
                ars = i - 1;
                are = i - 1;
                brs = j - 1;
                bre = j - 1;
            } else if ars == i && brs == j {
                ars -= 1;
                brs -= 1;
            } else {
                emit = true;
            }
            if ars == 0 || brs == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            if ars != alen {
                emit = true;
            }
        }
        let match_len = are.wrapping_sub(ars).wrapping_add(1);
        if emit {
            if (minmatchlen == 0 || match_len as i64 >= minmatchlen) && deferred.is_some() {
                out.array(2 + withmatchlen as usize);
                out.array(2);
                out.int(ars as i64);
                out.int(are as i64);
                out.array(2);
                out.int(brs as i64);
                out.int(bre as i64);
                if withmatchlen {
                    out.int(match_len as i64);
                }
                arraylen += 1;
            }
            ars = alen;
        }
    }
    match deferred {
        Some(pos) => {
            out.bulk(b"len");
            out.int(total as i64);
            out.end_deferred(pos, b'*', arraylen);
        }
        None => out.bulk(&result),
    }
}
