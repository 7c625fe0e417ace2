//! Set commands (Redis 7.0's t_set.c).
//!
//! Every handler follows its Redis 7.0 counterpart's order of checks (arguments, key
//! lookups and WRONGTYPE, then the values), replies (RESP3 sets for SMEMBERS, SINTER,
//! SUNION, SDIFF and SPOP with a count; arrays for SRANDMEMBER), keyspace events ("sadd",
//! "srem", "spop", the STORE events, then "del" when a set empties) and propagation:
//! SPOP is replicated as the SREMs of what it removed (or a DEL/UNLINK when it emptied the
//! set), never as SPOP, so replicas and the AOF never redo a random choice. The
//! representation and its intset/hashtable conversions live in `types::set`.

use std::collections::HashSet;

use bytes::Bytes;
use rand::Rng;

use super::call::{err, Ctx};
use super::coll;
use super::keys::parse_scan_cursor;
use super::strings::{kw, spec};
use super::table::{acl, flags::*, keynum_spec, Command, Family, KeySpec};
use crate::keyspace::{Db, Value};
use crate::protocol::Reply;
use crate::server::store::notify;
use crate::types::listpack::LpVal;
use crate::types::set::{Member, Set};
use crate::util::numeric::string2ll;

const SET: Family = Family { group: "set", acl: acl::SET };

const RO: &[KeySpec] = &[spec("", &["RO"], 1, 0, 1)];
const RO_ACCESS: &[KeySpec] = &[spec("", &["RO", "access"], 1, 0, 1)];
const RO_ALL: &[KeySpec] = &[spec("", &["RO", "access"], 1, -1, 1)];
const STORE_RW: &[KeySpec] = &[spec("", &["RW", "update"], 1, 0, 1), spec("", &["RO", "access"], 2, -1, 1)];
const STORE_OW: &[KeySpec] = &[spec("", &["OW", "update"], 1, 0, 1), spec("", &["RO", "access"], 2, -1, 1)];

const INTER_CPLX: &str =
    "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.";
const UNION_CPLX: &str = "O(N) where N is the total number of elements in all given sets.";

pub static COMMANDS: &[Command] = &[
    Command {
        history: &[("2.4.0", "Accepts multiple `member` arguments.")],
        ..SET.cmd(
            "sadd",
            -3,
            WRITE | DENYOOM | FAST,
            sadd,
            "1.0.0",
            "Add one or more members to a set",
            "O(1) for each element added, so O(N) to add N elements when the command is called with multiple \
arguments.",
            &[spec("", &["RW", "insert"], 1, 0, 1)],
        )
    },
    Command {
        history: &[("2.4.0", "Accepts multiple `member` arguments.")],
        ..SET.cmd(
            "srem",
            -3,
            WRITE | FAST,
            srem,
            "1.0.0",
            "Remove one or more members from a set",
            "O(N) where N is the number of members to be removed.",
            &[spec("", &["RW", "delete"], 1, 0, 1)],
        )
    },
    Command {
        tips: &["nondeterministic_output_order"],
        ..SET.cmd(
            "smembers",
            2,
            READONLY,
            smembers,
            "1.0.0",
            "Get all the members in a set",
            "O(N) where N is the set cardinality.",
            RO_ACCESS,
        )
    },
    SET.cmd(
        "sismember",
        3,
        READONLY | FAST,
        sismember,
        "1.0.0",
        "Determine if a given value is a member of a set",
        "O(1)",
        RO,
    ),
    SET.cmd(
        "smismember",
        -3,
        READONLY | FAST,
        smismember,
        "6.2.0",
        "Returns the membership associated with the given elements for a set",
        "O(N) where N is the number of elements being checked for membership",
        RO_ACCESS,
    ),
    SET.cmd("scard", 2, READONLY | FAST, scard, "1.0.0", "Get the number of members in a set", "O(1)", RO),
    Command {
        tips: &["nondeterministic_output"],
        history: &[("3.2.0", "Added the `count` argument.")],
        ..SET.cmd(
            "spop",
            -2,
            WRITE | FAST,
            spop,
            "1.0.0",
            "Remove and return one or multiple random members from a set",
            "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
            &[spec("", &["RW", "access", "delete"], 1, 0, 1)],
        )
    },
    Command {
        tips: &["nondeterministic_output"],
        history: &[("2.6.0", "Added the optional `count` argument.")],
        ..SET.cmd(
            "srandmember",
            -2,
            READONLY,
            srandmember,
            "1.0.0",
            "Get one or multiple random members from a set",
            "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
            RO_ACCESS,
        )
    },
    SET.cmd(
        "smove",
        4,
        WRITE | FAST,
        smove,
        "1.0.0",
        "Move a member from one set to another",
        "O(1)",
        &[spec("", &["RW", "access", "delete"], 1, 0, 1), spec("", &["RW", "insert"], 2, 0, 1)],
    ),
    Command {
        tips: &["nondeterministic_output_order"],
        ..SET.cmd("sinter", -2, READONLY, sinter, "1.0.0", "Intersect multiple sets", INTER_CPLX, RO_ALL)
    },
    SET.cmd(
        "sintercard",
        -3,
        READONLY | MOVABLEKEYS,
        sintercard,
        "7.0.0",
        "Intersect multiple sets and return the cardinality of the result",
        INTER_CPLX,
        &[keynum_spec(&["RO", "access"], 1)],
    ),
    SET.cmd(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        sinterstore,
        "1.0.0",
        "Intersect multiple sets and store the resulting set in a key",
        INTER_CPLX,
        STORE_RW,
    ),
    Command {
        tips: &["nondeterministic_output_order"],
        ..SET.cmd("sunion", -2, READONLY, sunion, "1.0.0", "Add multiple sets", UNION_CPLX, RO_ALL)
    },
    SET.cmd(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        sunionstore,
        "1.0.0",
        "Add multiple sets and store the resulting set in a key",
        UNION_CPLX,
        STORE_OW,
    ),
    Command {
        tips: &["nondeterministic_output_order"],
        ..SET.cmd("sdiff", -2, READONLY, sdiff, "1.0.0", "Subtract multiple sets", UNION_CPLX, RO_ALL)
    },
    SET.cmd(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        sdiffstore,
        "1.0.0",
        "Subtract multiple sets and store the resulting set in a key",
        UNION_CPLX,
        STORE_OW,
    ),
    Command {
        tips: &["nondeterministic_output"],
        ..SET.cmd(
            "sscan",
            -3,
            READONLY,
            sscan,
            "2.8.0",
            "Incrementally iterate Set elements",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to \
return back to 0. N is the number of elements inside the collection..",
            RO_ACCESS,
        )
    },
];

/// `set-max-intset-entries`.
fn max_intset(ctx: &Ctx) -> usize {
    usize::try_from(ctx.store.cfg.set_max_intset_entries).unwrap_or(usize::MAX)
}

/// SPOP with a count propagates its removals as SREMs of at most this many members each,
/// so one SPOP of a huge count never becomes a single unbounded command in the stream.
const SREM_BATCH: usize = 1024;

// ---------------------------------------------------------------------------------------
// SADD, SREM, SMOVE.
// ---------------------------------------------------------------------------------------

/// SADD key member [member ...]
fn sadd(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let (db, max) = (ctx.db(), max_intset(ctx));
    let make = || Set::for_member(&argv[2]);
    let r = coll::write_or_create(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, make, |s: &mut Set| {
        let added = argv[2..].iter().filter(|m| s.add(m, max)).count();
        (added > 0, added)
    });
    let Ok(added) = r else { return ctx.wrongtype() };
    if added > 0 {
        ctx.store.notify(notify::SET, "sadd", &argv[1], db);
        ctx.dirty(added as u64);
    }
    ctx.out.int(added as i64);
}

/// SREM key member [member ...]
fn srem(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let db = ctx.db();
    let r = coll::write(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, |s: &mut Set| {
        let mut deleted = 0u64;
        for m in &argv[2..] {
            if s.remove(m) {
                deleted += 1;
                if s.is_empty() {
                    break;
                }
            }
        }
        (deleted > 0, deleted)
    });
    let deleted = match r {
        Err(_) => return ctx.wrongtype(),
        Ok(d) => d.unwrap_or(0),
    };
    if deleted > 0 {
        ctx.store.notify(notify::SET, "srem", &argv[1], db);
        coll::remove_if_empty(ctx.store, db, &argv[1]);
        ctx.dirty(deleted);
    }
    ctx.out.int(deleted as i64);
}

/// SMOVE source destination member
fn smove(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let (db, now, max) = (ctx.db(), ctx.now_ms, max_intset(ctx));
    let (src, dst, m) = (&argv[1][..], &argv[2][..], &argv[3][..]);
    // Both lookups first (each may expire its key), as `lookupKeyWrite` twice.
    let src_state = match coll::peek_write::<Set>(ctx.store, db, src, now) {
        Ok(None) => None,
        Ok(Some(s)) => Some(Ok(s.contains(m))),
        Err(e) => Some(Err(e)),
    };
    let dst_type = coll::peek_write::<Set>(ctx.store, db, dst, now).map(|_| ());
    let is_member = match src_state {
        None => return ctx.out.int(0),
        Some(Err(_)) => return ctx.wrongtype(),
        Some(Ok(is_member)) => is_member,
    };
    if dst_type.is_err() {
        return ctx.wrongtype();
    }
    // The same set: a no-op that reports membership.
    if src == dst {
        return ctx.out.int(is_member as i64);
    }
    if !is_member {
        return ctx.out.int(0);
    }
    let _ = coll::write(ctx.store, db, src, now, ctx.mvcc, |s: &mut Set| (s.remove(m), ()));
    ctx.store.notify(notify::SET, "srem", src, db);
    coll::remove_if_empty(ctx.store, db, src);
    ctx.dirty(1);
    let added = coll::write_or_create(
        ctx.store,
        db,
        dst,
        now,
        ctx.mvcc,
        || Set::for_member(m),
        |s: &mut Set| {
            let added = s.add(m, max);
            (added, added)
        },
    );
    if added == Ok(true) {
        ctx.dirty(1);
        ctx.store.notify(notify::SET, "sadd", dst, db);
    }
    ctx.out.int(1);
}

// ---------------------------------------------------------------------------------------
// Reads of one set.
// ---------------------------------------------------------------------------------------

/// SISMEMBER key member
fn sismember(ctx: &mut Ctx) {
    let db = ctx.db();
    match coll::read::<Set>(ctx.store, db, &ctx.argv[1], ctx.now_ms) {
        Err(_) => ctx.wrongtype(),
        Ok(s) => ctx.out.int(s.is_some_and(|s| s.contains(&ctx.argv[2])) as i64),
    }
}

/// SMISMEMBER key member [member ...]: a 0/1 per member (all zeros for a missing key).
fn smismember(ctx: &mut Ctx) {
    let db = ctx.db();
    let argv = ctx.argv;
    match coll::read::<Set>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => ctx.wrongtype(),
        Ok(s) => {
            ctx.out.array(argv.len() - 2);
            for m in &argv[2..] {
                ctx.out.int(s.is_some_and(|s| s.contains(m)) as i64);
            }
        }
    }
}

/// SCARD key
fn scard(ctx: &mut Ctx) {
    let db = ctx.db();
    match coll::read::<Set>(ctx.store, db, &ctx.argv[1], ctx.now_ms) {
        Err(_) => ctx.wrongtype(),
        Ok(s) => ctx.out.int(s.map_or(0, Set::len) as i64),
    }
}

/// SMEMBERS key: Redis 7.0 answers it as SINTER of one key (a RESP3 set).
fn smembers(ctx: &mut Ctx) {
    sinter_generic(ctx, 1, 1, None, Card::No)
}

// ---------------------------------------------------------------------------------------
// SPOP and SRANDMEMBER.
// ---------------------------------------------------------------------------------------

/// SPOP key [count]
fn spop(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() == 3 {
        return spop_with_count(ctx);
    }
    if argv.len() > 3 {
        return ctx.syntax_error();
    }
    let db = ctx.db();
    let r = coll::write(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, |s: &mut Set| {
        let m = s.pop_random(&mut rand::thread_rng());
        (m.is_some(), m)
    });
    let m = match r {
        Err(_) => return ctx.wrongtype(),
        Ok(None) | Ok(Some(None)) => return ctx.out.null(),
        Ok(Some(Some(m))) => m,
    };
    ctx.store.notify(notify::SET, "spop", &argv[1], db);
    let mb = member_bytes(&m);
    ctx.out.bulk(&mb);
    ctx.propagate(vec![Bytes::from_static(b"SREM"), argv[1].clone(), mb]);
    coll::remove_if_empty(ctx.store, db, &argv[1]);
    ctx.dirty(1);
}

/// A popped member as an owned argument for the write stream.
fn member_bytes(m: &Member) -> Bytes {
    Bytes::from(m.as_val().to_vec())
}

/// SPOP takes Redis's "move" strategy (pop one by one) while the members that stay are
/// more than this many times the count (`SPOP_MOVE_STRATEGY_MUL`); otherwise it rebuilds
/// the set from the members that stay and returns the old one.
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

/// `spopWithCountCommand`.
fn spop_with_count(ctx: &mut Ctx) {
    let argv = ctx.argv;
    // `getPositiveLongFromObjectOrReply`: one message for every bad count.
    let count = match string2ll(&argv[2]) {
        Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return ctx.out.error("value is out of range, must be positive"),
    };
    let (db, max) = (ctx.db(), max_intset(ctx));
    let size = match coll::peek_write::<Set>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => return ctx.wrongtype(),
        Ok(None) => return ctx.out.set(0),
        Ok(Some(s)) => s.len(),
    };
    if count == 0 {
        return ctx.out.set(0);
    }
    ctx.store.notify(notify::SET, "spop", &argv[1], db);

    // CASE 1: the count covers the set: all of it, and the key goes (propagated as a
    // DEL, or an UNLINK under lazyfree-lazy-server-del, as Redis 7.0 does).
    if count >= size {
        if let Ok(Some(s)) = coll::peek_write::<Set>(ctx.store, db, &argv[1], ctx.now_ms) {
            reply_all(ctx.out, s);
        }
        ctx.store.delete(db, &argv[1], ctx.now_ms);
        ctx.store.notify(notify::GENERIC, "del", &argv[1], db);
        let del: &'static [u8] = if ctx.store.cfg.lazyfree_lazy_server_del { b"UNLINK" } else { b"DEL" };
        ctx.propagate(vec![Bytes::from_static(del), argv[1].clone()]);
        ctx.dirty(size as u64);
        return;
    }

    // CASES 2 and 3 reply `count` members and propagate them as SREMs.
    let out = &mut *ctx.out;
    out.set(count);
    let mut popped: Vec<Bytes> = Vec::with_capacity(count.min(SREM_BATCH));
    let mut batches: Vec<Vec<Bytes>> = Vec::new();
    let mut emit = |v: LpVal<'_>| {
        v.reply(out);
        popped.push(Bytes::from(v.to_vec()));
        if popped.len() == SREM_BATCH {
            batches.push(std::mem::take(&mut popped));
        }
    };
    let remaining = size - count;
    let _ = coll::write(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, |s: &mut Set| {
        let mut rng = rand::thread_rng();
        if remaining.saturating_mul(SPOP_MOVE_STRATEGY_MUL) > count {
            // CASE 2: few to pop: pop them one by one.
            for _ in 0..count {
                let Some(m) = s.pop_random(&mut rng) else { break };
                emit(m.as_val());
            }
        } else {
            // CASE 3: most of the set goes: move the members that stay into a new set
            // (in the encoding its first member needs, as `setTypeCreate`), then hand out
            // everything left in the old one.
            let mut kept: Option<Set> = None;
            for _ in 0..remaining {
                let Some(m) = s.pop_random(&mut rng) else { break };
                let v = m.as_val();
                let k = kept.get_or_insert_with(|| v.with_bytes(Set::for_member));
                k.add_val(v, max);
            }
            let old = std::mem::replace(s, kept.unwrap_or_default());
            old.iter().for_each(&mut emit);
        }
        (true, ())
    });
    if !popped.is_empty() {
        batches.push(popped);
    }
    for b in batches {
        let mut cmd = Vec::with_capacity(b.len() + 2);
        cmd.push(Bytes::from_static(b"SREM"));
        cmd.push(argv[1].clone());
        cmd.extend(b);
        ctx.propagate(cmd);
    }
    ctx.dirty(count as u64);
}

/// Writes every member of `s` as a RESP3 set (an array in RESP2).
fn reply_all(out: &mut Reply, s: &Set) {
    out.set(s.len());
    for m in s.iter() {
        m.reply(out);
    }
}

/// SRANDMEMBER draws `count` distinct members by copying the set and removing random ones
/// when the set has fewer than this many times `count` members
/// (`SRANDMEMBER_SUB_STRATEGY_MUL`), by random draws otherwise.
const SRANDMEMBER_SUB_STRATEGY_MUL: usize = 3;

/// SRANDMEMBER key [count]
fn srandmember(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() == 3 {
        return srandmember_with_count(ctx);
    }
    if argv.len() > 3 {
        return ctx.syntax_error();
    }
    let db = ctx.db();
    coll::rehash_for_draws(ctx.store, db, &argv[1], 1);
    match coll::read::<Set>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => ctx.wrongtype(),
        Ok(s) => match s.and_then(|s| s.random(&mut rand::thread_rng())) {
            Some(m) => m.reply(ctx.out),
            None => ctx.out.null(),
        },
    }
}

/// `srandmemberWithCountCommand`: Redis's four cases.
fn srandmember_with_count(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let l = match string2ll(&argv[2]) {
        None => return ctx.out.error(err::NOT_INT),
        Some(i64::MIN) => {
            return ctx
                .out
                .error("value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        }
        Some(l) => l,
    };
    let (count, uniq) = (l.unsigned_abs() as usize, l >= 0);
    let db = ctx.db();
    coll::rehash_for_draws(ctx.store, db, &argv[1], count);
    let s = match coll::read::<Set>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => return ctx.wrongtype(),
        Ok(None) => return ctx.out.array(0),
        Ok(Some(s)) => s,
    };
    let out = &mut *ctx.out;
    if count == 0 {
        return out.array(0);
    }
    let size = s.len();
    let mut rng = rand::thread_rng();

    // CASE 1: negative count (repetitions allowed), or one member: independent draws.
    if !uniq || count == 1 {
        let mark = out.len();
        out.array(count);
        // An intset draws in O(1); a table draw probes buckets. Either way the reply, not
        // the set, bounds the work: it is capped like HRANDFIELD's.
        for _ in 0..count {
            let Some(m) = s.random(&mut rng) else { break };
            m.reply(out);
            // Past the output limit the client is dropped with its reply: stop early.
            if out.over_limit() {
                return;
            }
            if out.len() - mark > super::hashes::MAX_RANDOM_REPLY_BYTES {
                out.buf.truncate(mark);
                return out.error("reply too large: SRANDMEMBER count exceeds the reply size limit");
            }
        }
        return;
    }

    // CASE 2: the count covers the set: all of it, in its own order.
    if count >= size {
        out.array(size);
        s.iter().for_each(|m| m.reply(out));
        return;
    }

    out.array(count);
    // CASE 3: the count is close to the size: copy all, remove random members until
    // `count` remain (bounded by the set's size).
    if count.saturating_mul(SRANDMEMBER_SUB_STRATEGY_MUL) > size {
        let mut all: Vec<LpVal<'_>> = s.iter().collect();
        while all.len() > count {
            let i = rng.gen_range(0..all.len());
            all.swap_remove(i);
        }
        all.iter().for_each(|m| m.reply(out));
        return;
    }

    // CASE 4: the set is much bigger than the count: draw until `count` distinct members
    // came up (count < size / 3, so this ends quickly and is bounded by the set).
    let mut seen: HashSet<LpVal<'_>> = HashSet::with_capacity(count);
    while seen.len() < count {
        let Some(m) = s.random(&mut rng) else { break };
        if seen.insert(m) {
            m.reply(out);
        }
    }
}

// ---------------------------------------------------------------------------------------
// SINTER, SINTERCARD, SINTERSTORE.
// ---------------------------------------------------------------------------------------

/// What SINTER computes: the members, or only how many (SINTERCARD, with its LIMIT).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Card {
    No,
    Limit(usize),
}

/// Looks up the keys `argv[first..first + n]` as Redis 7.0 does for every set operation,
/// STORE forms included (`lookupKeyRead`: expiry, hit/miss stats, WRONGTYPE). False after
/// replying WRONGTYPE. [`sets_of`] then borrows the sets.
fn check_sets(ctx: &mut Ctx, first: usize, n: usize) -> bool {
    let (db, now) = (ctx.db(), ctx.now_ms);
    for k in &ctx.argv[first..first + n] {
        if coll::read::<Set>(ctx.store, db, k, now).is_err() {
            ctx.wrongtype();
            return false;
        }
    }
    true
}

/// The sets named by `keys` after [`check_sets`], None for a missing key (or one expired
/// but kept, as a replica keeps them).
fn sets_of<'a>(d: &'a Db, keys: &[Bytes], now_ms: i64) -> Vec<Option<&'a Set>> {
    keys.iter()
        .map(|k| match d.peek(k) {
            Some(e) if !e.is_expired(now_ms) => Set::of_value(&e.val),
            _ => None,
        })
        .collect()
}

/// `sinterGenericCommand` over `argv[first..first + n]`.
fn sinter_generic(ctx: &mut Ctx, first: usize, n: usize, dst: Option<&[u8]>, card: Card) {
    let max = max_intset(ctx);
    if !check_sets(ctx, first, n) {
        return;
    }
    let mut sets = sets_of(&ctx.store.dbs[ctx.client.db], &ctx.argv[first..first + n], ctx.now_ms);
    // An empty set empties the intersection.
    let result: Result<Set, usize> = if sets.iter().any(Option::is_none) {
        if dst.is_none() && card == Card::No {
            return ctx.out.set(0);
        }
        Err(0)
    } else {
        // Smallest first (a stable sort, as glibc's qsort on these sizes).
        let mut sets: Vec<&Set> = sets.drain(..).flatten().collect();
        sets.sort_by_key(|s| s.len());
        let (first_set, rest) = (sets[0], &sets[1..]);
        let members =
            first_set.iter().filter(|m| rest.iter().all(|s| std::ptr::eq(*s, first_set) || s.contains_val(*m)));
        match (dst, card) {
            (None, Card::Limit(limit)) => {
                let mut c = 0usize;
                for _ in members {
                    c += 1;
                    if limit != 0 && c >= limit {
                        break;
                    }
                }
                Err(c)
            }
            (None, Card::No) => {
                let out = &mut *ctx.out;
                let pos = out.begin_deferred();
                let mut c = 0usize;
                for m in members {
                    m.reply(out);
                    c += 1;
                }
                return out.end_deferred(pos, b'~', c);
            }
            (Some(_), _) => {
                let mut r = Set::new();
                for m in members {
                    r.add_val(m, max);
                }
                Ok(r)
            }
        }
    };
    match (dst, result) {
        (Some(dst), Ok(r)) => store_result(ctx, dst, r, "sinterstore"),
        (Some(dst), Err(_)) => store_result(ctx, dst, Set::new(), "sinterstore"),
        (None, Err(c)) => ctx.out.int(c as i64),
        (None, Ok(_)) => unreachable!("only STORE builds a set"),
    }
}

/// Stores a computed set at `dst`, or deletes `dst` when it is empty.
fn store_result(ctx: &mut Ctx, dst: &[u8], result: Set, event: &str) {
    let n = result.len();
    coll::store_result(ctx, dst, Value::Set(Box::new(result)), n, notify::SET, event);
}

/// SINTER key [key ...]
fn sinter(ctx: &mut Ctx) {
    sinter_generic(ctx, 1, ctx.argv.len() - 1, None, Card::No)
}

/// SINTERSTORE destination key [key ...]
fn sinterstore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sinter_generic(ctx, 2, argv.len() - 2, Some(&argv[1]), Card::No)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx) {
    let argv = ctx.argv;
    // Redis replies with the option's own message for any bad number, not just a small one.
    let numkeys = match string2ll(&argv[1]) {
        Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return ctx.out.error("numkeys should be greater than 0"),
    };
    if numkeys > argv.len() - 2 {
        return ctx.out.error("Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < argv.len() {
        if kw(&argv[j], b"limit") && j + 1 < argv.len() {
            limit = match string2ll(&argv[j + 1]) {
                Some(l) if l >= 0 => usize::try_from(l).unwrap_or(usize::MAX),
                _ => return ctx.out.error("LIMIT can't be negative"),
            };
            j += 2;
        } else {
            return ctx.syntax_error();
        }
    }
    sinter_generic(ctx, 2, numkeys, None, Card::Limit(limit))
}

// ---------------------------------------------------------------------------------------
// SUNION, SDIFF and their STORE forms.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Diff,
}

/// `sunionDiffGenericCommand` over `argv[first..first + n]`.
fn sunion_diff(ctx: &mut Ctx, first: usize, n: usize, dst: Option<&[u8]>, op: Op) {
    let max = max_intset(ctx);
    if !check_sets(ctx, first, n) {
        return;
    }
    let mut sets = sets_of(&ctx.store.dbs[ctx.client.db], &ctx.argv[first..first + n], ctx.now_ms);
    let mut result = Set::new();
    match op {
        Op::Union => {
            for s in sets.iter().flatten() {
                s.iter().for_each(|m| {
                    result.add_val(m, max);
                });
            }
        }
        Op::Diff => {
            if let Some(first_set) = sets[0] {
                // The first key named again: nothing is left.
                let sameset = sets[1..].iter().flatten().any(|s| std::ptr::eq(*s, first_set));
                if !sameset {
                    // Redis's choice of algorithm: 1 tests each member of the first set
                    // against the others (O(N*M)); 2 copies the first set and removes the
                    // others' members (O(total)). Algorithm 1 gets a 2x advantage.
                    let one: usize = sets.iter().flatten().map(|_| first_set.len()).sum::<usize>() / 2;
                    let two: usize = sets.iter().flatten().map(|s| s.len()).sum();
                    if one <= two {
                        // Largest first: duplicates are found sooner.
                        sets[1..].sort_by_key(|s| std::cmp::Reverse(s.map_or(0, Set::len)));
                        for m in first_set.iter() {
                            if !sets[1..].iter().flatten().any(|s| s.contains_val(m)) {
                                result.add_val(m, max);
                            }
                        }
                    } else {
                        first_set.iter().for_each(|m| {
                            result.add_val(m, max);
                        });
                        for s in sets[1..].iter().flatten() {
                            if result.is_empty() {
                                break;
                            }
                            s.iter().for_each(|m| {
                                result.remove_val(m);
                            });
                        }
                    }
                }
            }
        }
    }
    match dst {
        None => reply_all(ctx.out, &result),
        Some(dst) => store_result(ctx, dst, result, if op == Op::Union { "sunionstore" } else { "sdiffstore" }),
    }
}

/// SUNION key [key ...]
fn sunion(ctx: &mut Ctx) {
    sunion_diff(ctx, 1, ctx.argv.len() - 1, None, Op::Union)
}

/// SUNIONSTORE destination key [key ...]
fn sunionstore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sunion_diff(ctx, 2, argv.len() - 2, Some(&argv[1]), Op::Union)
}

/// SDIFF key [key ...]
fn sdiff(ctx: &mut Ctx) {
    sunion_diff(ctx, 1, ctx.argv.len() - 1, None, Op::Diff)
}

/// SDIFFSTORE destination key [key ...]
fn sdiffstore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    sunion_diff(ctx, 2, argv.len() - 2, Some(&argv[1]), Op::Diff)
}

// ---------------------------------------------------------------------------------------
// SSCAN.
// ---------------------------------------------------------------------------------------

/// SSCAN key cursor [MATCH pattern] [COUNT count]
fn sscan(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(cursor) = parse_scan_cursor(&argv[2]) else {
        return ctx.out.error("invalid cursor");
    };
    let db = ctx.db();
    let s = match coll::read::<Set>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => return ctx.wrongtype(),
        Ok(None) => return ctx.out.raw(b"*2\r\n$1\r\n0\r\n*0\r\n"),
        Ok(Some(s)) => s,
    };
    let Some(opts) = coll::parse_scan_opts(ctx.out, argv) else { return };
    let out = &mut *ctx.out;
    let body_pos = out.len();
    let mut n = 0usize;
    let mut emit = |m: LpVal<'_>| {
        if m.with_bytes(|b| opts.matches(b)) {
            m.reply(out);
            n += 1;
        }
    };
    let next = if s.is_intset() {
        s.scan_step(0, &mut emit)
    } else {
        coll::scan_loop(cursor, opts.count, |c| {
            let mut visited = 0;
            let next = s.scan_step(c, |m| {
                visited += 1;
                emit(m);
            });
            (next, visited)
        })
    };
    coll::finish_scan_reply(ctx.out, body_pos, next, n);
}
