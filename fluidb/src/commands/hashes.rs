//! Hash commands (Redis 7.0's t_hash.c).
//!
//! Every handler follows its Redis 7.0 counterpart's order of checks (argument parsing,
//! then the key lookup and WRONGTYPE, then the values), replies, keyspace events ("hset",
//! "hdel", "hincrby", "hincrbyfloat", then "del" when a hash empties) and propagation
//! (HINCRBYFLOAT is replicated as an HSET of the resulting value, except where active
//! replication merges it as an increment). The representation and its listpack/hashtable
//! conversions live in `types::hash`.

use std::collections::HashSet;

use bytes::Bytes;
use rand::Rng;

use super::call::{err, Ctx};
use super::coll;
use super::keys::parse_scan_cursor;
use super::strings::{arg_i64, kw, spec};
use super::table::{acl, flags::*, Command, Family, KeySpec};
use crate::keyspace::Value;
use crate::server::store::notify;
use crate::types::hash::{Hash, Limits};
use crate::types::listpack::LpVal;
use crate::util::ldouble;
use crate::util::numeric::string2ll;

const RO: &[KeySpec] = &[spec("", &["RO"], 1, 0, 1)];
const RO_ACCESS: &[KeySpec] = &[spec("", &["RO", "access"], 1, 0, 1)];
const RW_UPDATE: &[KeySpec] = &[spec("", &["RW", "update"], 1, 0, 1)];
const RW_ACCESS_UPDATE: &[KeySpec] = &[spec("", &["RW", "access", "update"], 1, 0, 1)];

const HASH: Family = Family { group: "hash", acl: acl::HASH };

const ALL_COMPLEXITY: &str = "O(N) where N is the size of the hash.";

pub static COMMANDS: &[Command] = &[
    Command {
        history: &[("4.0.0", "Accepts multiple `field` and `value` arguments.")],
        ..HASH.cmd(
            "hset",
            -4,
            WRITE | DENYOOM | FAST,
            hset,
            "2.0.0",
            "Set the string value of a hash field",
            "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called \
with multiple field/value pairs.",
            RW_UPDATE,
        )
    },
    HASH.cmd(
        "hsetnx",
        4,
        WRITE | DENYOOM | FAST,
        hsetnx,
        "2.0.0",
        "Set the value of a hash field, only if the field does not exist",
        "O(1)",
        &[spec("", &["RW", "insert"], 1, 0, 1)],
    ),
    HASH.cmd("hget", 3, READONLY | FAST, hget, "2.0.0", "Get the value of a hash field", "O(1)", RO_ACCESS),
    HASH.cmd(
        "hmget",
        -3,
        READONLY | FAST,
        hmget,
        "2.0.0",
        "Get the values of all the given hash fields",
        "O(N) where N is the number of fields being requested.",
        RO_ACCESS,
    ),
    Command {
        doc_flags: &["deprecated"],
        ..HASH.cmd(
            "hmset",
            -4,
            WRITE | DENYOOM | FAST,
            hset,
            "2.0.0",
            "Set multiple hash fields to multiple values",
            "O(N) where N is the number of fields being set.",
            RW_UPDATE,
        )
    },
    Command {
        history: &[("2.4.0", "Accepts multiple `field` arguments.")],
        ..HASH.cmd(
            "hdel",
            -3,
            WRITE | FAST,
            hdel,
            "2.0.0",
            "Delete one or more hash fields",
            "O(N) where N is the number of fields to be removed.",
            &[spec("", &["RW", "delete"], 1, 0, 1)],
        )
    },
    HASH.cmd("hlen", 2, READONLY | FAST, hlen, "2.0.0", "Get the number of fields in a hash", "O(1)", RO),
    HASH.cmd(
        "hstrlen",
        3,
        READONLY | FAST,
        hstrlen,
        "3.2.0",
        "Get the length of the value of a hash field",
        "O(1)",
        RO,
    ),
    HASH.cmd("hexists", 3, READONLY | FAST, hexists, "2.0.0", "Determine if a hash field exists", "O(1)", RO),
    Command {
        tips: &["nondeterministic_output_order"],
        ..HASH.cmd("hkeys", 2, READONLY, hkeys, "2.0.0", "Get all the fields in a hash", ALL_COMPLEXITY, RO_ACCESS)
    },
    Command {
        tips: &["nondeterministic_output_order"],
        ..HASH.cmd("hvals", 2, READONLY, hvals, "2.0.0", "Get all the values in a hash", ALL_COMPLEXITY, RO_ACCESS)
    },
    Command {
        tips: &["nondeterministic_output_order"],
        ..HASH.cmd(
            "hgetall",
            2,
            READONLY,
            hgetall,
            "2.0.0",
            "Get all the fields and values in a hash",
            ALL_COMPLEXITY,
            RO_ACCESS,
        )
    },
    HASH.cmd(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        hincrby,
        "2.0.0",
        "Increment the integer value of a hash field by the given number",
        "O(1)",
        RW_ACCESS_UPDATE,
    ),
    HASH.cmd(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        hincrbyfloat,
        "2.6.0",
        "Increment the float value of a hash field by the given amount",
        "O(1)",
        RW_ACCESS_UPDATE,
    ),
    Command {
        tips: &["nondeterministic_output"],
        ..HASH.cmd(
            "hrandfield",
            -2,
            READONLY,
            hrandfield,
            "6.2.0",
            "Get one or multiple random fields from a hash",
            "O(N) where N is the number of fields returned",
            RO_ACCESS,
        )
    },
    Command {
        tips: &["nondeterministic_output"],
        ..HASH.cmd(
            "hscan",
            -3,
            READONLY,
            hscan,
            "2.8.0",
            "Incrementally iterate hash fields and associated values",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to \
return back to 0. N is the number of elements inside the collection..",
            RO_ACCESS,
        )
    },
];

/// The conversion thresholds, as configured now (CONFIG SET applies to the next write).
#[inline]
fn limits(ctx: &Ctx) -> Limits {
    let c = &ctx.store.cfg;
    Limits {
        entries: usize::try_from(c.hash_max_listpack_entries).unwrap_or(usize::MAX),
        value: usize::try_from(c.hash_max_listpack_value).unwrap_or(usize::MAX),
    }
}

// ---------------------------------------------------------------------------------------
// Writes.
// ---------------------------------------------------------------------------------------

/// HSET key field value [field value ...] / HMSET (same code in Redis: `hsetCommand`).
fn hset(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() % 2 == 1 {
        return ctx.wrong_arity();
    }
    let (db, l) = (ctx.db(), limits(ctx));
    let r = coll::write_or_create(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, Hash::new, |h: &mut Hash| {
        h.try_conversion(argv[2..].iter().map(|a| &a[..]), l);
        let created = argv[2..].chunks_exact(2).filter(|p| h.set(&p[0], &p[1], l)).count();
        (true, created)
    });
    let Ok(created) = r else { return ctx.wrongtype() };
    if ctx.cmd.def.name == "hmset" {
        ctx.out.ok();
    } else {
        ctx.out.int(created as i64);
    }
    ctx.store.notify(notify::HASH, "hset", &argv[1], db);
    ctx.dirty(((argv.len() - 2) / 2) as u64);
}

/// HSETNX key field value
fn hsetnx(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let (db, l) = (ctx.db(), limits(ctx));
    let (f, v) = (&argv[2][..], &argv[3][..]);
    let r = coll::write_or_create(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, Hash::new, |h: &mut Hash| {
        if h.contains(f) {
            return (false, false);
        }
        h.try_conversion([f, v], l);
        h.set(f, v, l);
        (true, true)
    });
    match r {
        Err(_) => ctx.wrongtype(),
        Ok(false) => ctx.out.int(0),
        Ok(true) => {
            ctx.out.int(1);
            ctx.store.notify(notify::HASH, "hset", &argv[1], db);
            ctx.dirty(1);
        }
    }
}

/// HDEL key field [field ...]
fn hdel(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let db = ctx.db();
    let r = coll::write(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, |h: &mut Hash| {
        let mut deleted = 0u64;
        for f in &argv[2..] {
            if h.delete(f) {
                deleted += 1;
                if h.is_empty() {
                    break;
                }
            }
        }
        (deleted > 0, deleted)
    });
    let deleted = match r {
        Err(_) => return ctx.wrongtype(),
        Ok(None) => 0,
        Ok(Some(d)) => d,
    };
    if deleted > 0 {
        ctx.store.notify(notify::HASH, "hdel", &argv[1], db);
        coll::remove_if_empty(ctx.store, db, &argv[1]);
        ctx.dirty(deleted);
    }
    ctx.out.int(deleted as i64);
}

enum IncrError {
    NotInteger,
    Overflow,
}

/// HINCRBY key field increment
fn hincrby(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(incr) = arg_i64(ctx, &argv[3]) else { return };
    let (db, l) = (ctx.db(), limits(ctx));
    let f = &argv[2][..];
    let r = coll::write_or_create(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, Hash::new, |h: &mut Hash| {
        let cur = match h.get(f) {
            None => 0,
            Some(LpVal::Int(n)) => n,
            Some(LpVal::Str(s)) => match string2ll(s) {
                Some(n) => n,
                None => return (false, Err(IncrError::NotInteger)),
            },
        };
        let Some(new) = cur.checked_add(incr) else { return (false, Err(IncrError::Overflow)) };
        h.set(f, itoa::Buffer::new().format(new).as_bytes(), l);
        (true, Ok(new))
    });
    match r {
        Err(_) => ctx.wrongtype(),
        Ok(Err(IncrError::NotInteger)) => ctx.out.error("hash value is not an integer"),
        Ok(Err(IncrError::Overflow)) => ctx.out.error(err::OVERFLOW),
        Ok(Ok(new)) => {
            ctx.out.int(new);
            ctx.store.notify(notify::HASH, "hincrby", &argv[1], db);
            ctx.dirty(1);
        }
    }
}

/// HINCRBYFLOAT key field increment: long double arithmetic, replicated as HSET of the
/// result so replicas and the AOF never redo the float math. In active mode it
/// propagates as itself: an increment that merges with the other nodes' in the field's
/// state (`keyspace::counters::HashCounter`), whose sum every node makes the same way (the
/// field then holds that sum, which may differ from the reply in its last digit when
/// other nodes' increments are in it).
fn hincrbyfloat(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if let Err(e) = ldouble::hincrbyfloat_check_incr(&argv[3]) {
        return ctx.out.error(format!("-{}", e.message()));
    }
    let (db, l) = (ctx.db(), limits(ctx));
    let (f, incr) = (&argv[2][..], &argv[3][..]);
    let r = coll::write_or_create(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, Hash::new, |h: &mut Hash| {
        let new = match h.get(f) {
            None => ldouble::hincrbyfloat(None, incr),
            Some(v) => v.with_bytes(|b| ldouble::hincrbyfloat(Some(b), incr)),
        };
        match new {
            Ok(new) => {
                h.set(f, &new, l);
                (true, Ok(new))
            }
            Err(e) => (false, Err(e)),
        }
    });
    let new = match r {
        Err(_) => return ctx.wrongtype(),
        Ok(Err(e)) => return ctx.out.error(format!("-{}", e.message())),
        Ok(Ok(new)) => new,
    };
    ctx.out.bulk(&new);
    ctx.store.notify(notify::HASH, "hincrbyfloat", &argv[1], db);
    ctx.dirty(1);
    let merges = ctx.store.cfg.active_replica
        && ctx.source != super::call::Source::Master
        && crate::replication::active::merges_field(ctx.store, db, &argv[1], f);
    if !merges {
        ctx.propagate(vec![Bytes::from_static(b"HSET"), argv[1].clone(), argv[2].clone(), Bytes::from(new)]);
    }
}

// ---------------------------------------------------------------------------------------
// Reads.
// ---------------------------------------------------------------------------------------

/// After a read that found `key`'s hash mid-rehash: one rehash step, as Redis's `dictFind`
/// does on every lookup (see [`Hash::rehash_step`]). Only then is the key looked up again.
fn rehash_after_read(ctx: &mut Ctx, db: usize, field: &[u8]) {
    if let Some(e) = ctx.store.dbs[db].peek_mut(&ctx.argv[1]) {
        if let Value::Hash(h) = &mut e.val {
            h.rehash_step(field);
        }
    }
}

/// HGET key field
fn hget(ctx: &mut Ctx) {
    let db = ctx.db();
    let argv = ctx.argv;
    let rehashing = match coll::read::<Hash>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => return ctx.wrongtype(),
        Ok(h) => {
            match h.and_then(|h| h.get(&argv[2])) {
                Some(v) => v.reply(ctx.out),
                None => ctx.out.null(),
            }
            h.is_some_and(Hash::is_rehashing)
        }
    };
    if rehashing {
        rehash_after_read(ctx, db, &argv[2]);
    }
}

/// HMGET key field [field ...]: a nil for each missing field (all nils for a missing key).
fn hmget(ctx: &mut Ctx) {
    let db = ctx.db();
    let argv = ctx.argv;
    let rehashing = match coll::read::<Hash>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => return ctx.wrongtype(),
        Ok(h) => {
            ctx.out.array(argv.len() - 2);
            for f in &argv[2..] {
                match h.and_then(|h| h.get(f)) {
                    Some(v) => v.reply(ctx.out),
                    None => ctx.out.null(),
                }
            }
            h.is_some_and(Hash::is_rehashing)
        }
    };
    if rehashing {
        rehash_after_read(ctx, db, &argv[2]);
    }
}

/// HLEN key
fn hlen(ctx: &mut Ctx) {
    let db = ctx.db();
    match coll::read::<Hash>(ctx.store, db, &ctx.argv[1], ctx.now_ms) {
        Err(_) => ctx.wrongtype(),
        Ok(h) => ctx.out.int(h.map_or(0, |h| h.len()) as i64),
    }
}

/// HSTRLEN key field: the value's length (its decimal length for listpack integers).
fn hstrlen(ctx: &mut Ctx) {
    let db = ctx.db();
    match coll::read::<Hash>(ctx.store, db, &ctx.argv[1], ctx.now_ms) {
        Err(_) => ctx.wrongtype(),
        Ok(h) => ctx.out.int(h.and_then(|h| h.get(&ctx.argv[2])).map_or(0, |v| v.byte_len()) as i64),
    }
}

/// HEXISTS key field
fn hexists(ctx: &mut Ctx) {
    let db = ctx.db();
    match coll::read::<Hash>(ctx.store, db, &ctx.argv[1], ctx.now_ms) {
        Err(_) => ctx.wrongtype(),
        Ok(h) => ctx.out.int(h.is_some_and(|h| h.contains(&ctx.argv[2])) as i64),
    }
}

const KEYS: u8 = 1;
const VALUES: u8 = 2;

/// HKEYS / HVALS / HGETALL (`genericHgetallCommand`): HGETALL is a map in RESP3.
fn getall(ctx: &mut Ctx, what: u8) {
    let db = ctx.db();
    match coll::read::<Hash>(ctx.store, db, &ctx.argv[1], ctx.now_ms) {
        Err(_) => ctx.wrongtype(),
        Ok(h) => {
            let n = h.map_or(0, |h| h.len());
            if what == KEYS | VALUES {
                ctx.out.map(n);
            } else {
                ctx.out.array(n);
            }
            let Some(h) = h else { return };
            for (f, v) in h.iter() {
                if what & KEYS != 0 {
                    f.reply(ctx.out);
                }
                if what & VALUES != 0 {
                    v.reply(ctx.out);
                }
            }
        }
    }
}

fn hkeys(ctx: &mut Ctx) {
    getall(ctx, KEYS)
}

fn hvals(ctx: &mut Ctx) {
    getall(ctx, VALUES)
}

fn hgetall(ctx: &mut Ctx) {
    getall(ctx, KEYS | VALUES)
}

// ---------------------------------------------------------------------------------------
// HRANDFIELD.
// ---------------------------------------------------------------------------------------

/// CASE 3 of HRANDFIELD (copy the hash, remove random fields) when the hash has fewer than
/// this many times the requested count (Redis's `HRANDFIELD_SUB_STRATEGY_MUL`).
const SUB_STRATEGY_MUL: usize = 3;

/// Largest reply HRANDFIELD with a negative count may build: beyond it the reply is
/// replaced by an error. A negative count repeats fields, so the reply is not bounded by
/// the hash (Redis streams it into the client's output buffer and, with the default
/// unlimited buffers, grows until it runs out of memory).
pub const MAX_RANDOM_REPLY_BYTES: usize = 512 << 20;

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() >= 3 {
        let l = match string2ll(&argv[2]) {
            None => return ctx.out.error(err::NOT_INT),
            Some(l) if l == i64::MIN => {
                return ctx
                    .out
                    .error("value is out of range, value must between -9223372036854775807 and 9223372036854775807")
            }
            Some(l) => l,
        };
        let withvalues = argv.len() == 4;
        if argv.len() > 4 || (withvalues && !kw(&argv[3], b"withvalues")) {
            return ctx.out.error(err::SYNTAX);
        }
        // The reply's element count (2 per field in RESP2) must not overflow.
        if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return ctx.out.error("value is out of range");
        }
        return hrandfield_count(ctx, l, withvalues);
    }
    let db = ctx.db();
    coll::rehash_for_draws(ctx.store, db, &argv[1], 1);
    match coll::read::<Hash>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => ctx.wrongtype(),
        Ok(None) => ctx.out.null(),
        Ok(Some(h)) => match h.random_pair(&mut rand::thread_rng()) {
            Some((f, _)) => f.reply(ctx.out),
            None => ctx.out.null(),
        },
    }
}

/// Writes one HRANDFIELD element: the field, or with values a [field, value] pair (a nested
/// array in RESP3, flat in RESP2).
#[inline]
fn reply_pair(out: &mut crate::protocol::Reply, f: LpVal<'_>, v: LpVal<'_>, withvalues: bool) {
    if withvalues && out.resp3 {
        out.array(2);
    }
    f.reply(out);
    if withvalues {
        v.reply(out);
    }
}

/// `hrandfieldWithCountCommand`: Redis's four cases.
fn hrandfield_count(ctx: &mut Ctx, l: i64, withvalues: bool) {
    let db = ctx.db();
    coll::rehash_for_draws(ctx.store, db, &ctx.argv[1], l.unsigned_abs() as usize);
    let h = match coll::read::<Hash>(ctx.store, db, &ctx.argv[1], ctx.now_ms) {
        Err(_) => return ctx.wrongtype(),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(h)) => h,
    };
    let out = &mut *ctx.out;
    let size = h.len();
    let (count, uniq) = (l.unsigned_abs() as usize, l >= 0);
    if count == 0 {
        return out.array(0);
    }
    let mut rng = rand::thread_rng();
    let flat = withvalues && !out.resp3;
    let pair_len = |n: usize| if flat { n * 2 } else { n };

    // CASE 1: negative count (repetitions allowed), or a single field: independent draws,
    // in random order.
    if !uniq || count == 1 {
        let mark = out.len();
        out.array(pair_len(count));
        // For many draws a listpack is walked once to index its pairs (bounded by the hash
        // size), so each draw is O(1) instead of a seek.
        let lp_pairs: Vec<(LpVal<'_>, LpVal<'_>)> =
            if h.is_listpack() && count > 4 { h.iter().collect() } else { Vec::new() };
        for _ in 0..count {
            let pair = match lp_pairs.len() {
                0 => h.random_pair(&mut rng),
                n => lp_pairs.get(rng.gen_range(0..n)).copied(),
            };
            let Some((f, v)) = pair else { break };
            reply_pair(out, f, v, withvalues);
            // Past the output limit the client is dropped with its reply: stop early.
            if out.over_limit() {
                return;
            }
            if out.len() - mark > MAX_RANDOM_REPLY_BYTES {
                out.buf.truncate(mark);
                return out.error("reply too large: HRANDFIELD count exceeds the reply size limit");
            }
        }
        return;
    }

    out.array(pair_len(count.min(size)));

    // CASE 2: the count covers the whole hash: all of it, in its own order.
    if count >= size {
        for (f, v) in h.iter() {
            reply_pair(out, f, v, withvalues);
        }
        return;
    }

    // CASE 2.5 (listpack): selection sampling in listpack order (`lpRandomPairsUnique`).
    if h.is_listpack() {
        let (mut remaining, mut index) = (count, 0usize);
        for (f, v) in h.iter() {
            if remaining == 0 {
                break;
            }
            let threshold = remaining as f64 / (size - index) as f64;
            if rng.gen::<f64>() <= threshold {
                reply_pair(out, f, v, withvalues);
                remaining -= 1;
            }
            index += 1;
        }
        return;
    }

    // CASE 3: the count is close to the size: copy all, remove random pairs until `count`
    // remain. Bounded by the hash size.
    if count.saturating_mul(SUB_STRATEGY_MUL) > size {
        let mut all: Vec<(LpVal<'_>, LpVal<'_>)> = h.iter().collect();
        while all.len() > count {
            let i = rng.gen_range(0..all.len());
            all.swap_remove(i);
        }
        for (f, v) in all {
            reply_pair(out, f, v, withvalues);
        }
        return;
    }

    // CASE 4: the hash is much bigger than the count: random draws until `count` distinct
    // fields came up (count < size / 3, so the set is bounded by the hash size).
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(count);
    while seen.len() < count {
        let Some((f, v)) = h.random_pair(&mut rng) else { break };
        let LpVal::Str(fb) = f else { continue }; // the table form stores bytes
        if seen.insert(fb) {
            reply_pair(out, f, v, withvalues);
        }
    }
}

// ---------------------------------------------------------------------------------------
// HSCAN.
// ---------------------------------------------------------------------------------------

/// HSCAN key cursor [MATCH pattern] [COUNT count]
fn hscan(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(cursor) = parse_scan_cursor(&argv[2]) else {
        return ctx.out.error("invalid cursor");
    };
    let db = ctx.db();
    let h = match coll::read::<Hash>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => return ctx.wrongtype(),
        Ok(None) => return ctx.out.raw(b"*2\r\n$1\r\n0\r\n*0\r\n"),
        Ok(Some(h)) => h,
    };
    let Some(opts) = coll::parse_scan_opts(ctx.out, argv) else { return };
    let out = &mut *ctx.out;
    let body_pos = out.len();
    let mut n = 0usize;
    let mut emit = |f: LpVal<'_>, v: LpVal<'_>| {
        if f.with_bytes(|b| opts.matches(b)) {
            f.reply(out);
            v.reply(out);
            n += 2;
        }
    };
    let next = if h.is_listpack() {
        h.scan_step(0, &mut emit)
    } else {
        coll::scan_loop(cursor, opts.count, |c| {
            let mut visited = 0;
            let next = h.scan_step(c, |f, v| {
                visited += 1;
                emit(f, v);
            });
            (next, visited)
        })
    };
    coll::finish_scan_reply(ctx.out, body_pos, next, n);
}
