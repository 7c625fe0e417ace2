//! Sorted set commands (Redis 7.0's t_zset.c), including BZPOPMIN/BZPOPMAX/BZMPOP.
//!
//! Every handler follows the order of argument checks, key lookups, replies, keyspace
//! events and propagation of the Redis 7.0 command it implements. Ranges of every kind
//! (rank, score, lex) are turned into a rank interval with [`ZSet::count_before`], then
//! walked with [`ZSet::walk`], so one code path serves both encodings.

use bytes::Bytes;

use super::call::{err, Ctx};
use super::coll;
use super::strings::{cstr, kw, spec};
use super::table::{acl, flags::*, keynum_spec, Command, Family, KeySpec};
use crate::keyspace::Value;
use crate::server::blocking::{parse_timeout, BlockType, TimeoutReply};
use crate::server::store::notify;
use crate::types::zset::{AddFlags, AddOutcome, Limits, NanScore};
use crate::types::ZSet;
use crate::util::numeric::{c_strtod, string2d, string2ll};

const ZSET: Family = Family { group: "sorted-set", acl: acl::SORTEDSET };

const RO: &[KeySpec] = &[spec("", &["RO"], 1, 0, 1)];
const RO_ACCESS: &[KeySpec] = &[spec("", &["RO", "access"], 1, 0, 1)];
const RW_DELETE: &[KeySpec] = &[spec("", &["RW", "delete"], 1, 0, 1)];
const RW_ACCESS_DELETE: &[KeySpec] = &[spec("", &["RW", "access", "delete"], 1, 0, 1)];
const KEYNUM_RO: &[KeySpec] = &[keynum_spec(&["RO", "access"], 1)];
const STORE_SPECS: &[KeySpec] = &[spec("", &["OW", "update"], 1, 0, 1), keynum_spec(&["RO", "access"], 2)];

const RANGE_CPLX: &str = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of \
elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider \
it O(log(N)).";
const REM_CPLX: &str = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of \
elements removed by the operation.";
const LOGN: &str = "O(log(N)) with N being the number of elements in the sorted set.";
const POP_CPLX: &str = "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of \
elements popped.";
const MPOP_CPLX: &str = "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in \
the sorted set, and M being the number of elements popped.";
const UNION_CPLX: &str =
    "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the \
number of elements in the resulting sorted set.";
const INTER_CPLX: &str =
    "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number \
of input sorted sets and M being the number of elements in the resulting sorted set.";
const DIFF_CPLX: &str = "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is \
the size of the first set, and K is the size of the result set.";
const BPOP_HISTORY: &[(&str, &str)] = &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")];

pub static COMMANDS: &[Command] = &[
    Command {
        history: &[
            ("2.4.0", "Accepts multiple elements."),
            ("3.0.2", "Added the `XX`, `NX`, `CH` and `INCR` options."),
            ("6.2.0", "Added the `GT` and `LT` options."),
        ],
        ..ZSET.cmd(
            "zadd",
            -4,
            WRITE | DENYOOM | FAST,
            zadd,
            "1.2.0",
            "Add one or more members to a sorted set, or update its score if it already exists",
            "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
            &[spec("", &["RW", "update"], 1, 0, 1)],
        )
    },
    ZSET.cmd(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        zincrby,
        "1.2.0",
        "Increment the score of a member in a sorted set",
        "O(log(N)) where N is the number of elements in the sorted set.",
        &[spec("", &["RW", "access", "update"], 1, 0, 1)],
    ),
    Command {
        history: &[("2.4.0", "Accepts multiple elements.")],
        ..ZSET.cmd(
            "zrem",
            -3,
            WRITE | FAST,
            zrem,
            "1.2.0",
            "Remove one or more members from a sorted set",
            "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be \
removed.",
            RW_DELETE,
        )
    },
    ZSET.cmd("zcard", 2, READONLY | FAST, zcard, "1.2.0", "Get the number of members in a sorted set", "O(1)", RO),
    ZSET.cmd(
        "zcount",
        4,
        READONLY | FAST,
        zcount,
        "2.0.0",
        "Count the members in a sorted set with scores within the given values",
        LOGN,
        RO_ACCESS,
    ),
    ZSET.cmd(
        "zlexcount",
        4,
        READONLY | FAST,
        zlexcount,
        "2.8.9",
        "Count the number of members in a sorted set between a given lexicographical range",
        LOGN,
        RO_ACCESS,
    ),
    ZSET.cmd(
        "zscore",
        3,
        READONLY | FAST,
        zscore,
        "1.2.0",
        "Get the score associated with the given member in a sorted set",
        "O(1)",
        RO_ACCESS,
    ),
    ZSET.cmd(
        "zmscore",
        -3,
        READONLY | FAST,
        zmscore,
        "6.2.0",
        "Get the score associated with the given members in a sorted set",
        "O(N) where N is the number of members being requested.",
        RO_ACCESS,
    ),
    ZSET.cmd(
        "zrank",
        3,
        READONLY | FAST,
        zrank,
        "2.0.0",
        "Determine the index of a member in a sorted set",
        "O(log(N))",
        RO_ACCESS,
    ),
    ZSET.cmd(
        "zrevrank",
        3,
        READONLY | FAST,
        zrevrank,
        "2.0.0",
        "Determine the index of a member in a sorted set, with scores ordered from high to low",
        "O(log(N))",
        RO_ACCESS,
    ),
    Command {
        history: &[("6.2.0", "Added the `REV`, `BYSCORE`, `BYLEX` and `LIMIT` options.")],
        ..ZSET.cmd(
            "zrange",
            -4,
            READONLY,
            zrange,
            "1.2.0",
            "Return a range of members in a sorted set",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements \
returned.",
            RO_ACCESS,
        )
    },
    Command {
        last_key: 2,
        ..ZSET.cmd(
            "zrangestore",
            -5,
            WRITE | DENYOOM,
            zrangestore,
            "6.2.0",
            "Store a range of members from sorted set into another key",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored \
into the destination key.",
            &[spec("", &["OW", "update"], 1, 0, 1), spec("", &["RO", "access"], 2, 0, 1)],
        )
    },
    Command {
        history: &[("2.0.0", "Added the `WITHSCORES` modifier.")],
        doc_flags: &["deprecated"],
        ..ZSET.cmd(
            "zrangebyscore",
            -4,
            READONLY,
            zrangebyscore,
            "1.0.5",
            "Return a range of members in a sorted set, by score",
            RANGE_CPLX,
            RO_ACCESS,
        )
    },
    Command {
        history: &[("2.1.6", "`min` and `max` can be exclusive.")],
        doc_flags: &["deprecated"],
        ..ZSET.cmd(
            "zrevrangebyscore",
            -4,
            READONLY,
            zrevrangebyscore,
            "2.2.0",
            "Return a range of members in a sorted set, by score, with scores ordered from high to low",
            RANGE_CPLX,
            RO_ACCESS,
        )
    },
    Command {
        doc_flags: &["deprecated"],
        ..ZSET.cmd(
            "zrangebylex",
            -4,
            READONLY,
            zrangebylex,
            "2.8.9",
            "Return a range of members in a sorted set, by lexicographical range",
            RANGE_CPLX,
            RO_ACCESS,
        )
    },
    Command {
        doc_flags: &["deprecated"],
        ..ZSET.cmd(
            "zrevrangebylex",
            -4,
            READONLY,
            zrevrangebylex,
            "2.8.9",
            "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower \
strings.",
            RANGE_CPLX,
            RO_ACCESS,
        )
    },
    Command {
        doc_flags: &["deprecated"],
        ..ZSET.cmd(
            "zrevrange",
            -4,
            READONLY,
            zrevrange,
            "1.2.0",
            "Return a range of members in a sorted set, by index, with scores ordered from high to low",
            "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements \
returned.",
            RO_ACCESS,
        )
    },
    ZSET.cmd(
        "zremrangebyrank",
        4,
        WRITE,
        zremrangebyrank,
        "2.0.0",
        "Remove all members in a sorted set within the given indexes",
        REM_CPLX,
        RW_DELETE,
    ),
    ZSET.cmd(
        "zremrangebyscore",
        4,
        WRITE,
        zremrangebyscore,
        "1.2.0",
        "Remove all members in a sorted set within the given scores",
        REM_CPLX,
        RW_DELETE,
    ),
    ZSET.cmd(
        "zremrangebylex",
        4,
        WRITE,
        zremrangebylex,
        "2.8.9",
        "Remove all members in a sorted set between the given lexicographical range",
        REM_CPLX,
        RW_DELETE,
    ),
    ZSET.cmd(
        "zpopmin",
        -2,
        WRITE | FAST,
        zpopmin,
        "5.0.0",
        "Remove and return members with the lowest scores in a sorted set",
        POP_CPLX,
        RW_ACCESS_DELETE,
    ),
    ZSET.cmd(
        "zpopmax",
        -2,
        WRITE | FAST,
        zpopmax,
        "5.0.0",
        "Remove and return members with the highest scores in a sorted set",
        POP_CPLX,
        RW_ACCESS_DELETE,
    ),
    Command {
        first_key: 0,
        last_key: 0,
        key_step: 0,
        ..ZSET.cmd(
            "zmpop",
            -4,
            WRITE | MOVABLEKEYS,
            zmpop,
            "7.0.0",
            "Remove and return members with scores in a sorted set",
            MPOP_CPLX,
            &[keynum_spec(&["RW", "access", "delete"], 1)],
        )
    },
    Command {
        history: BPOP_HISTORY,
        last_key: -2,
        ..ZSET.cmd(
            "bzpopmin",
            -3,
            WRITE | NOSCRIPT | BLOCKING | FAST,
            bzpopmin,
            "5.0.0",
            "Remove and return the member with the lowest score from one or more sorted sets, or block until one \
is available",
            LOGN,
            &[spec("", &["RW", "access", "delete"], 1, -2, 1)],
        )
    },
    Command {
        history: BPOP_HISTORY,
        last_key: -2,
        ..ZSET.cmd(
            "bzpopmax",
            -3,
            WRITE | NOSCRIPT | BLOCKING | FAST,
            bzpopmax,
            "5.0.0",
            "Remove and return the member with the highest score from one or more sorted sets, or block until one \
is available",
            LOGN,
            &[spec("", &["RW", "access", "delete"], 1, -2, 1)],
        )
    },
    Command {
        first_key: 0,
        last_key: 0,
        key_step: 0,
        ..ZSET.cmd(
            "bzmpop",
            -5,
            WRITE | BLOCKING | MOVABLEKEYS,
            bzmpop,
            "7.0.0",
            "Remove and return members with scores in a sorted set or block until one is available",
            MPOP_CPLX,
            &[keynum_spec(&["RW", "access", "delete"], 2)],
        )
    },
    Command {
        tips: &["nondeterministic_output"],
        ..ZSET.cmd(
            "zrandmember",
            -2,
            READONLY,
            zrandmember,
            "6.2.0",
            "Get one or multiple random elements from a sorted set",
            "O(N) where N is the number of elements returned",
            RO_ACCESS,
        )
    },
    Command {
        first_key: 0,
        last_key: 0,
        key_step: 0,
        ..ZSET.cmd(
            "zunion",
            -3,
            READONLY | MOVABLEKEYS,
            zunion,
            "6.2.0",
            "Add multiple sorted sets",
            UNION_CPLX,
            KEYNUM_RO,
        )
    },
    Command {
        first_key: 0,
        last_key: 0,
        key_step: 0,
        ..ZSET.cmd(
            "zinter",
            -3,
            READONLY | MOVABLEKEYS,
            zinter,
            "6.2.0",
            "Intersect multiple sorted sets",
            INTER_CPLX,
            KEYNUM_RO,
        )
    },
    Command {
        first_key: 0,
        last_key: 0,
        key_step: 0,
        ..ZSET.cmd(
            "zdiff",
            -3,
            READONLY | MOVABLEKEYS,
            zdiff,
            "6.2.0",
            "Subtract multiple sorted sets",
            DIFF_CPLX,
            KEYNUM_RO,
        )
    },
    ZSET.cmd(
        "zunionstore",
        -4,
        WRITE | DENYOOM | MOVABLEKEYS,
        zunionstore,
        "2.0.0",
        "Add multiple sorted sets and store the resulting sorted set in a new key",
        "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of \
elements in the resulting sorted set.",
        STORE_SPECS,
    ),
    ZSET.cmd(
        "zinterstore",
        -4,
        WRITE | DENYOOM | MOVABLEKEYS,
        zinterstore,
        "2.0.0",
        "Intersect multiple sorted sets and store the resulting sorted set in a new key",
        INTER_CPLX,
        STORE_SPECS,
    ),
    ZSET.cmd(
        "zdiffstore",
        -4,
        WRITE | DENYOOM | MOVABLEKEYS,
        zdiffstore,
        "6.2.0",
        "Subtract multiple sorted sets and store the resulting sorted set in a new key",
        DIFF_CPLX,
        STORE_SPECS,
    ),
    Command {
        first_key: 0,
        last_key: 0,
        key_step: 0,
        ..ZSET.cmd(
            "zintercard",
            -3,
            READONLY | MOVABLEKEYS,
            zintercard,
            "7.0.0",
            "Intersect multiple sorted sets and return the cardinality of the result",
            "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
            KEYNUM_RO,
        )
    },
    Command {
        tips: &["nondeterministic_output"],
        ..ZSET.cmd(
            "zscan",
            -3,
            READONLY,
            zscan,
            "2.8.0",
            "Incrementally iterate sorted sets elements and associated scores",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to \
return back to 0. N is the number of elements inside the collection..",
            RO_ACCESS,
        )
    },
];

// ---------------------------------------------------------------------------------------
// Shared helpers.
// ---------------------------------------------------------------------------------------

const NAN_ERR: &str = "resulting score is not a number (NaN)";
const SCORE_RANGE_ERR: &str = "min or max is not a float";
const LEX_RANGE_ERR: &str = "min or max not valid string range item";

fn limits(ctx: &Ctx) -> Limits {
    Limits {
        max_entries: usize::try_from(ctx.store.cfg.zset_max_listpack_entries).unwrap_or(usize::MAX),
        max_value: usize::try_from(ctx.store.cfg.zset_max_listpack_value).unwrap_or(usize::MAX),
    }
}

/// `getLongFromObjectOrReply`.
fn arg_long(ctx: &mut Ctx, a: &[u8]) -> Option<i64> {
    let v = string2ll(a);
    if v.is_none() {
        ctx.out.error(err::NOT_INT);
    }
    v
}

/// `getDoubleFromObjectOrReply` with Redis's default message.
fn arg_double(ctx: &mut Ctx, a: &[u8], msg: &str) -> Option<f64> {
    let v = string2d(a);
    if v.is_none() {
        ctx.out.error(msg);
    }
    v
}

/// One side of a score range (`zslParseRange`): `strtod` over the C string, optionally
/// after '(' (exclusive); NaN and trailing bytes rejected, "" accepted as 0 as in C.
fn parse_score_bound(a: &[u8]) -> Option<(f64, bool)> {
    let a = cstr(a);
    let (ex, body) = match a.first() {
        Some(b'(') => (true, &a[1..]),
        _ => (false, a),
    };
    let (v, used, _) = c_strtod(body);
    if used != body.len() || v.is_nan() {
        return None;
    }
    Some((v, ex))
}

/// A score interval: (min, min exclusive, max, max exclusive).
#[derive(Clone, Copy)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
    let (min, minex) = parse_score_bound(min)?;
    let (max, maxex) = parse_score_bound(max)?;
    Some(ScoreRange { min, minex, max, maxex })
}

/// One side of a lex range (`zslParseLexRangeItem`).
#[derive(Clone)]
enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

fn parse_lex_bound(a: &[u8]) -> Option<LexBound> {
    match a.first() {
        Some(b'+') if cstr(a).len() == 1 => Some(LexBound::Max),
        Some(b'-') if cstr(a).len() == 1 => Some(LexBound::Min),
        Some(b'(') => Some(LexBound::Excl(a[1..].to_vec())),
        Some(b'[') => Some(LexBound::Incl(a[1..].to_vec())),
        _ => None,
    }
}

/// A range as two monotone predicates: `before_min` holds for elements below the
/// range, `upto_max` for elements not above it. The range is ranks [lo, hi).
enum Range {
    Score(ScoreRange),
    Lex(LexBound, LexBound),
}

impl Range {
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let (lo, hi) = match self {
            Range::Score(r) => {
                let r = *r;
                let lo = z.count_before(|s, _| if r.minex { s <= r.min } else { s < r.min });
                let hi = z.count_before(|s, _| if r.maxex { s < r.max } else { s <= r.max });
                (lo, hi)
            }
            Range::Lex(min, max) => {
                let lo = z.count_before(|_, m| match min {
                    LexBound::Min => false,
                    LexBound::Max => true,
                    LexBound::Incl(x) => m < &x[..],
                    LexBound::Excl(x) => m <= &x[..],
                });
                let hi = z.count_before(|_, m| match max {
                    LexBound::Min => false,
                    LexBound::Max => true,
                    LexBound::Incl(x) => m <= &x[..],
                    LexBound::Excl(x) => m < &x[..],
                });
                (lo, hi)
            }
        };
        (lo, hi.max(lo))
    }
}

/// Rank interval of `ZRANGE start stop` after Redis's index sanitizing, or None if empty.
fn rank_interval(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, (end - start + 1) as usize))
}

/// Writes one element of a WITHSCORES reply: a pair array in RESP3.
#[inline]
fn reply_elem(ctx: &mut Ctx, m: &[u8], s: f64, withscores: bool) {
    if withscores && ctx.out.resp3 {
        ctx.out.array(2);
    }
    ctx.out.bulk(m);
    if withscores {
        ctx.out.double(s);
    }
}

/// Array header for `n` elements, flat in RESP2 with scores.
#[inline]
fn reply_len(ctx: &mut Ctx, n: usize, withscores: bool) {
    ctx.out.array(if withscores && !ctx.out.resp3 { 2 * n } else { n });
}

// ---------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM.
// ---------------------------------------------------------------------------------------

fn zadd(ctx: &mut Ctx) {
    zadd_generic(ctx, false);
}

fn zincrby(ctx: &mut Ctx) {
    zadd_generic(ctx, true);
}

/// Redis's `zaddGenericCommand` (ZINCRBY is ZADD with INCR, options parsing included).
fn zadd_generic(ctx: &mut Ctx, incr_cmd: bool) {
    let argv = ctx.argv;
    let mut f = AddFlags { incr: incr_cmd, ..Default::default() };
    let mut ch = false;
    let mut i = 2;
    while i < argv.len() {
        let o = &argv[i];
        if kw(o, b"nx") {
            f.nx = true;
        } else if kw(o, b"xx") {
            f.xx = true;
        } else if kw(o, b"ch") {
            ch = true;
        } else if kw(o, b"incr") {
            f.incr = true;
        } else if kw(o, b"gt") {
            f.gt = true;
        } else if kw(o, b"lt") {
            f.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let elements = argv.len() - i;
    if elements % 2 == 1 || elements == 0 {
        return ctx.syntax_error();
    }
    let elements = elements / 2;
    if f.nx && f.xx {
        return ctx.out.error("XX and NX options at the same time are not compatible");
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return ctx.out.error("GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && elements > 1 {
        return ctx.out.error("INCR option supports a single increment-element pair");
    }
    let mut scores = Vec::with_capacity(elements.min(1024));
    for j in 0..elements {
        let Some(s) = arg_double(ctx, &argv[i + 2 * j], err::NOT_FLOAT) else { return };
        scores.push(s);
    }
    let key = &argv[1];
    let lim = limits(ctx);
    let (db, now, mvcc) = (ctx.db(), ctx.now_ms, ctx.mvcc);
    let apply = |z: &mut ZSet| {
        let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
        let mut score = 0.0;
        for (j, &s) in scores.iter().enumerate() {
            match z.add(s, &argv[i + 1 + 2 * j], f, lim) {
                Err(NanScore) => return (added + updated > 0, Err(NanScore)),
                Ok((o, ns)) => {
                    match o {
                        AddOutcome::Added => added += 1,
                        AddOutcome::Updated => updated += 1,
                        _ => {}
                    }
                    if o != AddOutcome::Nop {
                        processed += 1;
                    }
                    score = ns;
                }
            }
        }
        (added + updated > 0, Ok((added, updated, processed, score)))
    };
    let r = if f.xx {
        coll::write(ctx.store, db, key, now, mvcc, apply).map(|r| r.unwrap_or(Ok((0, 0, 0, 0.0))))
    } else {
        let first_len = argv[i + 1].len();
        coll::write_or_create(ctx.store, db, key, now, mvcc, || ZSet::for_first(first_len, lim), apply)
    };
    let (added, updated, processed, score) = match r {
        Err(coll::WrongType) => return ctx.wrongtype(),
        Ok(Err(NanScore)) => return ctx.out.error(NAN_ERR),
        Ok(Ok(x)) => x,
    };
    if f.incr {
        if processed > 0 {
            ctx.out.double(score);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int((if ch { added + updated } else { added }) as i64);
    }
    if added + updated > 0 {
        ctx.dirty(added + updated);
        ctx.store.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, key, db);
    }
}

fn zrem(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1];
    let (db, now, mvcc) = (ctx.db(), ctx.now_ms, ctx.mvcc);
    let r = coll::write(ctx.store, db, key, now, mvcc, |z: &mut ZSet| {
        let mut deleted = 0u64;
        for m in &argv[2..] {
            if z.remove(m) {
                deleted += 1;
            }
            if z.is_empty() {
                break;
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
        ctx.store.notify(notify::ZSET, "zrem", key, db);
        coll::remove_if_empty(ctx.store, db, key);
        ctx.dirty(deleted);
    }
    ctx.out.int(deleted as i64);
}

// ---------------------------------------------------------------------------------------
// Read commands.
// ---------------------------------------------------------------------------------------

/// Looks the key up for reading: Ok(None) when missing, Err after replying WRONGTYPE.
macro_rules! read_or {
    ($ctx:expr, $key:expr, $missing:expr) => {{
        let db = $ctx.db();
        match coll::read::<ZSet>($ctx.store, db, $key, $ctx.now_ms) {
            Err(_) => return $ctx.wrongtype(),
            Ok(None) => {
                $missing;
                return;
            }
            Ok(Some(z)) => z,
        }
    }};
}

fn zcard(ctx: &mut Ctx) {
    let z = read_or!(ctx, &ctx.argv[1], ctx.out.int(0));
    let n = z.len();
    ctx.out.int(n as i64);
}

fn zcount(ctx: &mut Ctx) {
    let Some(r) = parse_score_range(&ctx.argv[2], &ctx.argv[3]) else { return ctx.out.error(SCORE_RANGE_ERR) };
    let z = read_or!(ctx, &ctx.argv[1], ctx.out.int(0));
    let (lo, hi) = Range::Score(r).ranks(z);
    ctx.out.int((hi - lo) as i64);
}

fn zlexcount(ctx: &mut Ctx) {
    let (Some(min), Some(max)) = (parse_lex_bound(&ctx.argv[2]), parse_lex_bound(&ctx.argv[3])) else {
        return ctx.out.error(LEX_RANGE_ERR);
    };
    let z = read_or!(ctx, &ctx.argv[1], ctx.out.int(0));
    let (lo, hi) = Range::Lex(min, max).ranks(z);
    ctx.out.int((hi - lo) as i64);
}

fn zscore(ctx: &mut Ctx) {
    let z = read_or!(ctx, &ctx.argv[1], ctx.out.null());
    match z.score(&ctx.argv[2]) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
}

fn zmscore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let db = ctx.db();
    let z = match coll::read::<ZSet>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => return ctx.wrongtype(),
        Ok(z) => z,
    };
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
}

fn zrank(ctx: &mut Ctx) {
    zrank_generic(ctx, false);
}

fn zrevrank(ctx: &mut Ctx) {
    zrank_generic(ctx, true);
}

fn zrank_generic(ctx: &mut Ctx, rev: bool) {
    let z = read_or!(ctx, &ctx.argv[1], ctx.out.null());
    let len = z.len();
    match z.rank(&ctx.argv[2]) {
        Some((r, _)) => ctx.out.int(if rev { len - 1 - r } else { r } as i64),
        None => ctx.out.null(),
    }
}

// ---------------------------------------------------------------------------------------
// ZRANGE family.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

fn zrange(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, None, RangeType::Auto, Direction::Auto);
}
fn zrangestore(ctx: &mut Ctx) {
    let dst = ctx.argv[1].clone();
    zrange_generic(ctx, 2, Some(dst), RangeType::Auto, Direction::Auto);
}
fn zrevrange(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, None, RangeType::Rank, Direction::Reverse);
}
fn zrangebyscore(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, None, RangeType::Score, Direction::Forward);
}
fn zrevrangebyscore(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, None, RangeType::Score, Direction::Reverse);
}
fn zrangebylex(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, None, RangeType::Lex, Direction::Forward);
}
fn zrevrangebylex(ctx: &mut Ctx) {
    zrange_generic(ctx, 1, None, RangeType::Lex, Direction::Reverse);
}

/// Redis's `zrangeGenericCommand`.
fn zrange_generic(ctx: &mut Ctx, start: usize, store: Option<Bytes>, mut rtype: RangeType, mut dir: Direction) {
    let argv = ctx.argv;
    let key = &argv[start];
    let (mut minidx, mut maxidx) = (start + 1, start + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = start + 3;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j];
        if store.is_none() && kw(a, b"withscores") {
            withscores = true;
        } else if kw(a, b"limit") && left >= 2 {
            let Some(o) = arg_long(ctx, &argv[j + 1]) else { return };
            let Some(l) = arg_long(ctx, &argv[j + 2]) else { return };
            offset = o;
            limit = l;
            j += 2;
        } else if dir == Direction::Auto && kw(a, b"rev") {
            dir = Direction::Reverse;
        } else if rtype == RangeType::Auto && kw(a, b"bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && kw(a, b"byscore") {
            rtype = RangeType::Score;
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    let rev = dir == Direction::Reverse;
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    if limit != -1 && rtype == RangeType::Rank {
        return ctx.out.error("syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    }
    if withscores && rtype == RangeType::Lex {
        return ctx.out.error("syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    if rev && rtype != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    enum Spec {
        Rank(i64, i64),
        Range(Range),
    }
    let spec = match rtype {
        RangeType::Score => match parse_score_range(&argv[minidx], &argv[maxidx]) {
            Some(r) => Spec::Range(Range::Score(r)),
            None => return ctx.out.error(SCORE_RANGE_ERR),
        },
        RangeType::Lex => match (parse_lex_bound(&argv[minidx]), parse_lex_bound(&argv[maxidx])) {
            (Some(a), Some(b)) => Spec::Range(Range::Lex(a, b)),
            _ => return ctx.out.error(LEX_RANGE_ERR),
        },
        _ => {
            let Some(a) = arg_long(ctx, &argv[minidx]) else { return };
            let Some(b) = arg_long(ctx, &argv[maxidx]) else { return };
            Spec::Rank(a, b)
        }
    };
    let withscores = withscores || store.is_some();
    let lim = limits(ctx);
    let db = ctx.db();
    let now = ctx.now_ms;
    let found = match coll::read::<ZSet>(ctx.store, db, key, now) {
        Err(_) => return ctx.wrongtype(),
        Ok(z) => z,
    };
    // The selected elements as (first rank in walking order, count).
    let sel: Option<(usize, usize)> = found.and_then(|z| {
        let len = z.len();
        match &spec {
            Spec::Rank(a, b) => {
                let (s, n) = rank_interval(*a, *b, len)?;
                Some((if rev { len - 1 - s } else { s }, n))
            }
            Spec::Range(r) => {
                if offset < 0 || (offset > 0 && offset as u64 >= len as u64) {
                    return None;
                }
                let (lo, hi) = r.ranks(z);
                let avail = (hi - lo) as u64;
                let off = offset as u64;
                if off >= avail {
                    return None;
                }
                let n = avail - off;
                let n = if limit < 0 { n } else { n.min(limit as u64) };
                let first = if rev { hi - 1 - off as usize } else { lo + off as usize };
                Some((first, n as usize))
            }
        }
    });
    let Some(dst) = store else {
        let Some(z) = found else {
            return ctx.out.array(0);
        };
        let Some((first, n)) = sel.filter(|s| s.1 > 0) else {
            return ctx.out.array(0);
        };
        let resp3 = ctx.out.resp3;
        let out = &mut *ctx.out;
        out.array(if withscores && !resp3 { 2 * n } else { n });
        let mut left = n;
        z.walk(first, rev, |m, s| {
            if withscores && resp3 {
                out.array(2);
            }
            out.bulk(m);
            if withscores {
                out.double(s);
            }
            left -= 1;
            left > 0
        });
        return;
    };
    // ZRANGESTORE: a listpack filled with ZADD's conversion rules.
    let mut result = ZSet::new();
    if let (Some(z), Some((first, n))) = (found, sel.filter(|s| s.1 > 0)) {
        let mut left = n;
        z.walk(first, rev, |m, s| {
            let _ = result.add(s, m, AddFlags::default(), lim);
            left -= 1;
            left > 0
        });
    }
    store_result(ctx, &dst, result, "zrangestore");
}

/// Stores a computed zset at `dst`, or deletes `dst` when it is empty.
fn store_result(ctx: &mut Ctx, dst: &[u8], result: ZSet, event: &str) {
    let n = result.len();
    coll::store_result(ctx, dst, Value::ZSet(Box::new(result)), n, notify::ZSET, event);
}

// ---------------------------------------------------------------------------------------
// ZREMRANGEBY*.
// ---------------------------------------------------------------------------------------

fn zremrangebyrank(ctx: &mut Ctx) {
    let Some(a) = arg_long(ctx, &ctx.argv[2].clone()) else { return };
    let Some(b) = arg_long(ctx, &ctx.argv[3].clone()) else { return };
    zremrange_generic(ctx, None, Some((a, b)), "zremrangebyrank");
}

fn zremrangebyscore(ctx: &mut Ctx) {
    let Some(r) = parse_score_range(&ctx.argv[2], &ctx.argv[3]) else { return ctx.out.error(SCORE_RANGE_ERR) };
    zremrange_generic(ctx, Some(Range::Score(r)), None, "zremrangebyscore");
}

fn zremrangebylex(ctx: &mut Ctx) {
    let (Some(min), Some(max)) = (parse_lex_bound(&ctx.argv[2]), parse_lex_bound(&ctx.argv[3])) else {
        return ctx.out.error(LEX_RANGE_ERR);
    };
    zremrange_generic(ctx, Some(Range::Lex(min, max)), None, "zremrangebylex");
}

fn zremrange_generic(ctx: &mut Ctx, range: Option<Range>, ranks: Option<(i64, i64)>, event: &str) {
    let argv = ctx.argv;
    let key = &argv[1];
    let (db, now, mvcc) = (ctx.db(), ctx.now_ms, ctx.mvcc);
    let r = coll::write(ctx.store, db, key, now, mvcc, |z: &mut ZSet| {
        let (start, n) = match (&range, ranks) {
            (Some(r), _) => {
                let (lo, hi) = r.ranks(z);
                (lo, hi - lo)
            }
            (None, Some((a, b))) => rank_interval(a, b, z.len()).unwrap_or_default(),
            _ => (0, 0),
        };
        z.remove_ranks(start, n, |_, _| {});
        (n > 0, n)
    });
    let deleted = match r {
        Err(_) => return ctx.wrongtype(),
        Ok(None) => 0,
        Ok(Some(n)) => n,
    };
    if deleted > 0 {
        ctx.store.notify(notify::ZSET, event, key, db);
        coll::remove_if_empty(ctx.store, db, key);
        ctx.dirty(deleted as u64);
    }
    ctx.out.int(deleted as i64);
}

// ---------------------------------------------------------------------------------------
// Pops.
// ---------------------------------------------------------------------------------------

/// How a pop replies (Redis's `genericZpopCommand` flags).
#[derive(Clone, Copy)]
struct PopReply {
    emitkey: bool,
    nested: bool,
    nil_when_empty: bool,
}

/// Redis's `genericZpopCommand` over `keys` (the first existing one is popped). Returns
/// the key popped from and how many elements were popped, if any. A `count` of 0 (ZPOPMIN
/// key 0) answers an empty array, but only after the type check, as in Redis.
fn generic_pop(ctx: &mut Ctx, keys: &[Bytes], max: bool, count: usize, how: PopReply) -> Option<(Bytes, usize)> {
    let db = ctx.db();
    let now = ctx.now_ms;
    let mut target = None;
    for k in keys {
        match coll::peek_write::<ZSet>(ctx.store, db, k, now) {
            Err(_) => {
                ctx.wrongtype();
                return None;
            }
            Ok(None) => continue,
            Ok(Some(_)) => {
                target = Some(k.clone());
                break;
            }
        }
    }
    let Some(key) = target else {
        if how.nil_when_empty {
            ctx.out.null_array();
        } else {
            ctx.out.array(0);
        }
        return None;
    };
    if count == 0 {
        ctx.out.array(0);
        return None;
    }
    let mvcc = ctx.mvcc;
    let out = &mut *ctx.out;
    let r = coll::write(ctx.store, db, &key, now, mvcc, |z: &mut ZSet| {
        let len = z.len();
        let n = count.min(len);
        match (how.nested, how.emitkey) {
            (false, false) => out.array(n * 2),
            (true, false) => out.array(n),
            (false, true) => {
                out.array(n * 2 + 1);
                out.bulk(&key);
            }
            (true, true) => {
                out.array(2);
                out.bulk(&key);
                out.array(n);
            }
        }
        let start = if max { len - n } else { 0 };
        let mut popped: Vec<(Vec<u8>, f64)> = Vec::with_capacity(n.min(1024));
        z.remove_ranks(start, n, |m, s| popped.push((m.to_vec(), s)));
        if max {
            popped.reverse();
        }
        for (m, s) in &popped {
            if how.nested {
                out.array(2);
            }
            out.bulk(m);
            out.double(*s);
        }
        (n > 0, n)
    });
    let n = match r {
        Ok(Some(n)) => n,
        _ => 0,
    };
    if n > 0 {
        ctx.dirty(n as u64);
        ctx.store.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, &key, db);
        coll::remove_if_empty(ctx.store, db, &key);
    }
    Some((key, n))
}

fn zpopmin(ctx: &mut Ctx) {
    zpop_minmax(ctx, false);
}

fn zpopmax(ctx: &mut Ctx) {
    zpop_minmax(ctx, true);
}

/// "value is out of range, must be positive" (`getPositiveLongFromObjectOrReply`).
const NOT_POSITIVE: &str = "value is out of range, must be positive";

fn zpop_minmax(ctx: &mut Ctx, max: bool) {
    let argv = ctx.argv;
    if argv.len() > 3 {
        return ctx.syntax_error();
    }
    let mut count = 1usize;
    if argv.len() == 3 {
        let Some(c) = string2ll(&argv[2]).filter(|&c| c >= 0) else { return ctx.out.error(NOT_POSITIVE) };
        count = usize::try_from(c).unwrap_or(usize::MAX);
    }
    let nested = ctx.out.resp3 && argv.len() == 3;
    generic_pop(ctx, &argv[1..2], max, count, PopReply { emitkey: false, nested, nil_when_empty: false });
}

/// The propagated form of a pop served by ZMPOP/BZPOPMIN/BZMPOP: ZPOPMIN/ZPOPMAX key [count],
/// the count being the number of elements actually popped (Redis: `min(count, llen)`).
fn propagate_pop(ctx: &mut Ctx, max: bool, key: Bytes, count: Option<usize>) {
    let mut v = vec![Bytes::from_static(if max { b"ZPOPMAX" } else { b"ZPOPMIN" }), key];
    if let Some(c) = count {
        v.push(Bytes::from(c.to_string()));
    }
    ctx.propagate(v);
}

/// `getRangeLongFromObjectOrReply(.., 1, LONG_MAX, msg)`.
/// The message replaces the not-an-integer error too, as in Redis.
fn arg_positive(ctx: &mut Ctx, a: &[u8], msg: &str) -> Option<usize> {
    let v = string2ll(a).unwrap_or(0);
    if v < 1 {
        ctx.out.error(msg);
        return None;
    }
    Some(usize::try_from(v).unwrap_or(usize::MAX))
}

/// Parsed ZMPOP/BZMPOP arguments: keys range, direction, count.
fn parse_mpop(ctx: &mut Ctx, numkeys_idx: usize) -> Option<(usize, usize, bool, usize)> {
    let argv = ctx.argv;
    let numkeys = arg_positive(ctx, &argv[numkeys_idx], "numkeys should be greater than 0")?;
    let where_idx = numkeys_idx.saturating_add(numkeys).saturating_add(1);
    if where_idx >= argv.len() {
        ctx.syntax_error();
        return None;
    }
    let max = if kw(&argv[where_idx], b"min") {
        false
    } else if kw(&argv[where_idx], b"max") {
        true
    } else {
        ctx.syntax_error();
        return None;
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if count.is_none() && kw(&argv[j], b"count") && more > 0 {
            j += 1;
            count = Some(arg_positive(ctx, &argv[j], "count should be greater than 0")?);
        } else {
            ctx.syntax_error();
            return None;
        }
        j += 1;
    }
    Some((numkeys_idx + 1, numkeys, max, count.unwrap_or(1)))
}

fn zmpop(ctx: &mut Ctx) {
    let Some((first, n, max, count)) = parse_mpop(ctx, 1) else { return };
    let argv = ctx.argv;
    let how = PopReply { emitkey: true, nested: true, nil_when_empty: true };
    if let Some((key, popped)) = generic_pop(ctx, &argv[first..first + n], max, count, how) {
        propagate_pop(ctx, max, key, Some(popped));
    }
}

fn bzpopmin(ctx: &mut Ctx) {
    bzpop_minmax(ctx, false);
}

fn bzpopmax(ctx: &mut Ctx) {
    bzpop_minmax(ctx, true);
}

fn bzpop_minmax(ctx: &mut Ctx, max: bool) {
    let argv = ctx.argv;
    let keys = &argv[1..argv.len() - 1];
    blocking_pop(
        ctx,
        keys,
        argv.len() - 1,
        max,
        None,
        PopReply { emitkey: true, nested: false, nil_when_empty: false },
    );
}

fn bzmpop(ctx: &mut Ctx) {
    let Some((first, n, max, count)) = parse_mpop(ctx, 2) else { return };
    let argv = ctx.argv;
    let how = PopReply { emitkey: true, nested: true, nil_when_empty: true };
    blocking_pop(ctx, &argv[first..first + n], 1, max, Some(count), how);
}

/// Redis's `blockingGenericZpopCommand`: timeout first, then the first non-empty key is
/// popped (propagated as ZPOPMIN/ZPOPMAX), else the client blocks.
fn blocking_pop(ctx: &mut Ctx, keys: &[Bytes], timeout_idx: usize, max: bool, count: Option<usize>, how: PopReply) {
    let now = std::time::Instant::now();
    let deadline = match parse_timeout(&ctx.argv[timeout_idx], now) {
        Ok(d) => d,
        Err(e) => return ctx.out.error(e),
    };
    let db = ctx.db();
    for k in keys {
        match coll::peek_write::<ZSet>(ctx.store, db, k, ctx.now_ms) {
            Err(_) => return ctx.wrongtype(),
            Ok(None) => continue,
            Ok(Some(_)) => {
                if let Some((key, popped)) = generic_pop(ctx, std::slice::from_ref(k), max, count.unwrap_or(1), how) {
                    propagate_pop(ctx, max, key, count.map(|_| popped));
                }
                return;
            }
        }
    }
    ctx.block(keys, BlockType::ZSet, deadline, TimeoutReply::NullArray);
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER.
// ---------------------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx) {
    let argv = ctx.argv;
    if argv.len() >= 3 {
        let Some(l) = arg_long(ctx, &argv[2]) else { return };
        if l == i64::MIN {
            return ctx
                .out
                .error("value is out of range, value must between -9223372036854775807 and 9223372036854775807");
        }
        let withscores = if argv.len() > 4 || (argv.len() == 4 && !kw(&argv[3], b"withscores")) {
            return ctx.syntax_error();
        } else if argv.len() == 4 {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                return ctx.out.error("value is out of range");
            }
            true
        } else {
            false
        };
        return zrandmember_count(ctx, l, withscores);
    }
    coll::rehash_for_draws(ctx.store, ctx.db(), &argv[1], 1);
    let z = read_or!(ctx, &argv[1], ctx.out.null());
    if let Some((m, _)) = z.random(&mut rand::thread_rng()) {
        ctx.out.bulk(&m);
    }
}

fn zrandmember_count(ctx: &mut Ctx, l: i64, withscores: bool) {
    use rand::seq::index::sample;
    let argv = ctx.argv;
    coll::rehash_for_draws(ctx.store, ctx.db(), &argv[1], l.unsigned_abs() as usize);
    let z = read_or!(ctx, &argv[1], ctx.out.array(0));
    if l == 0 {
        return ctx.out.array(0);
    }
    let size = z.len();
    let resp3 = ctx.out.resp3;
    let mut rng = rand::thread_rng();
    let out = &mut *ctx.out;
    let emit = |out: &mut crate::protocol::Reply, m: &[u8], s: f64| {
        if withscores && resp3 {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    };
    let header = |out: &mut crate::protocol::Reply, n: usize| out.array(if withscores && !resp3 { 2 * n } else { n });
    // Case 1: negative count (repetitions allowed) or 1.
    if l < 0 || l == 1 {
        let n = l.unsigned_abs() as usize;
        header(out, n);
        for _ in 0..n {
            if let Some((m, s)) = z.random(&mut rng) {
                emit(out, &m, s);
            }
            // Past the output limit the client is dropped with its reply: stop early.
            if out.over_limit() {
                return;
            }
        }
        return;
    }
    let count = l as usize;
    // Case 2: the whole set.
    if count >= size {
        header(out, size);
        z.walk(0, false, |m, s| {
            emit(out, m, s);
            true
        });
        return;
    }
    // Cases 3 and 4: distinct random ranks.
    let ranks = sample(&mut rng, size, count);
    header(out, count);
    for r in ranks.iter() {
        z.walk(r, false, |m, s| {
            emit(out, m, s);
            false
        });
    }
}

// ---------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF (+STORE), ZINTERCARD.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq)]
enum Aggr {
    Sum,
    Min,
    Max,
}

#[inline]
fn aggregate(target: &mut f64, val: f64, a: Aggr) {
    match a {
        Aggr::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggr::Min => {
            if val < *target {
                *target = val
            }
        }
        Aggr::Max => {
            if val > *target {
                *target = val
            }
        }
    }
}

/// An input of a set operation: its elements (score 1 for plain sets) and a weight.
struct Src {
    elems: Vec<(Vec<u8>, f64)>,
    index: Option<std::collections::HashMap<Vec<u8>, f64>>,
    weight: f64,
}

impl Src {
    fn find(&mut self, m: &[u8]) -> Option<f64> {
        if self.index.is_none() {
            self.index = Some(self.elems.iter().cloned().collect());
        }
        self.index.as_ref().and_then(|i| i.get(m).copied())
    }
}

fn zunion(ctx: &mut Ctx) {
    setop_generic(ctx, None, 1, SetOp::Union, false);
}
fn zinter(ctx: &mut Ctx) {
    setop_generic(ctx, None, 1, SetOp::Inter, false);
}
fn zdiff(ctx: &mut Ctx) {
    setop_generic(ctx, None, 1, SetOp::Diff, false);
}
fn zintercard(ctx: &mut Ctx) {
    setop_generic(ctx, None, 1, SetOp::Inter, true);
}
fn zunionstore(ctx: &mut Ctx) {
    let d = ctx.argv[1].clone();
    setop_generic(ctx, Some(d), 2, SetOp::Union, false);
}
fn zinterstore(ctx: &mut Ctx) {
    let d = ctx.argv[1].clone();
    setop_generic(ctx, Some(d), 2, SetOp::Inter, false);
}
fn zdiffstore(ctx: &mut Ctx) {
    let d = ctx.argv[1].clone();
    setop_generic(ctx, Some(d), 2, SetOp::Diff, false);
}

/// Redis's `zunionInterDiffGenericCommand`.
fn setop_generic(ctx: &mut Ctx, dst: Option<Bytes>, numkeys_idx: usize, op: SetOp, card_only: bool) {
    let argv = ctx.argv;
    let Some(setnum) = arg_long(ctx, &argv[numkeys_idx]) else { return };
    if setnum < 1 {
        let msg = format!("at least 1 input key is needed for '{}' command", ctx.cmd.fullname);
        return ctx.out.error(msg);
    }
    if setnum as u64 > (argv.len() - (numkeys_idx + 1)) as u64 {
        return ctx.syntax_error();
    }
    let setnum = setnum as usize;
    let db = ctx.db();
    let now = ctx.now_ms;
    let mut srcs: Vec<Src> = Vec::with_capacity(setnum);
    for k in &argv[numkeys_idx + 1..numkeys_idx + 1 + setnum] {
        let e = if dst.is_some() {
            ctx.store.lookup_write(db, k, now).map(|e| &*e)
        } else {
            ctx.store.lookup_read(db, k, now)
        };
        let elems = match e.map(|e| &e.val) {
            None => vec![],
            Some(Value::ZSet(z)) => z.to_vec(),
            Some(Value::Set(s)) => set_elements(s),
            Some(_) => return ctx.wrongtype(),
        };
        srcs.push(Src { elems, index: None, weight: 1.0 });
    }
    let mut aggr = Aggr::Sum;
    let mut withscores = false;
    let mut limit: usize = 0;
    let mut j = numkeys_idx + 1 + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let a = &argv[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && kw(a, b"weights") {
            j += 1;
            for s in srcs.iter_mut() {
                let Some(w) = string2d(&argv[j]) else { return ctx.out.error("weight value is not a float") };
                s.weight = w;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && kw(a, b"aggregate") {
            let v = &argv[j + 1];
            aggr = if kw(v, b"sum") {
                Aggr::Sum
            } else if kw(v, b"min") {
                Aggr::Min
            } else if kw(v, b"max") {
                Aggr::Max
            } else {
                return ctx.syntax_error();
            };
            j += 2;
        } else if dst.is_none() && !card_only && kw(a, b"withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && kw(a, b"limit") {
            limit = match string2ll(&argv[j + 1]) {
                Some(l) if l >= 0 => usize::try_from(l).unwrap_or(usize::MAX),
                _ => return ctx.out.error("LIMIT can't be negative"),
            };
            j += 2;
        } else {
            return ctx.syntax_error();
        }
    }
    if op != SetOp::Diff {
        srcs.sort_by_key(|s| s.elems.len());
    }
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut cardinality = 0usize;
    match op {
        SetOp::Inter => {
            if !srcs[0].elems.is_empty() {
                let (first, rest) = srcs.split_at_mut(1);
                'outer: for (m, s0) in &first[0].elems {
                    let mut score = first[0].weight * s0;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for src in rest.iter_mut() {
                        let w = src.weight;
                        match src.find(m) {
                            Some(v) => aggregate(&mut score, v * w, aggr),
                            None => continue 'outer,
                        }
                    }
                    if card_only {
                        cardinality += 1;
                        if limit > 0 && cardinality >= limit {
                            break;
                        }
                    } else {
                        result.push((m.clone(), score));
                    }
                }
            }
        }
        SetOp::Union => {
            let mut acc: std::collections::HashMap<Vec<u8>, f64> = std::collections::HashMap::new();
            let mut order: Vec<Vec<u8>> = Vec::new();
            for src in &srcs {
                for (m, s) in &src.elems {
                    let mut score = src.weight * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, aggr),
                        None => {
                            acc.insert(m.clone(), score);
                            order.push(m.clone());
                        }
                    }
                }
            }
            result = order.into_iter().map(|m| (acc[&m], m)).map(|(s, m)| (m, s)).collect();
        }
        SetOp::Diff => {
            let (first, rest) = srcs.split_at_mut(1);
            for (m, s) in &first[0].elems {
                if !rest.iter_mut().any(|r| r.find(m).is_some()) {
                    result.push((m.clone(), *s));
                }
            }
        }
    }
    if card_only {
        return ctx.out.int(cardinality as i64);
    }
    result.sort_by(|a, b| ZSet::cmp(a.1, &a.0, b.1, &b.0));
    match dst {
        Some(d) => {
            let lim = limits(ctx);
            let maxlen = result.iter().map(|e| e.0.len()).max().unwrap_or(0);
            let total: usize = result.iter().map(|e| e.0.len()).sum();
            let mut z = ZSet::new_large();
            let unlimited = Limits { max_entries: usize::MAX, max_value: usize::MAX };
            for (m, s) in &result {
                let _ = z.add(*s, m, AddFlags::default(), unlimited);
            }
            z.convert_to_small_if_fits(maxlen, total, lim);
            let ev = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_result(ctx, &d, z, ev);
        }
        None => {
            reply_len(ctx, result.len(), withscores);
            for (m, s) in &result {
                reply_elem(ctx, m, *s, withscores);
            }
        }
    }
}

/// The members of a plain set as score-1 elements (set keys count as zsets in ZUNION &
/// co., `zsetConvert`-free as Redis's `zuiNext` over a set).
fn set_elements(s: &crate::types::Set) -> Vec<(Vec<u8>, f64)> {
    s.iter().map(|m| (m.to_vec(), 1.0)).collect()
}

// ---------------------------------------------------------------------------------------
// ZSCAN.
// ---------------------------------------------------------------------------------------

fn zscan(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(cursor) = super::keys::parse_scan_cursor(&argv[2]) else {
        return ctx.out.error("invalid cursor");
    };
    let db = ctx.db();
    let z = match coll::read::<ZSet>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => return ctx.wrongtype(),
        Ok(None) => {
            ctx.out.array(2);
            ctx.out.bulk(b"0");
            return ctx.out.array(0);
        }
        Ok(Some(z)) => z,
    };
    let Some(opts) = coll::parse_scan_opts(ctx.out, argv) else { return };
    let out = &mut *ctx.out;
    let body_pos = out.len();
    let mut n = 0usize;
    // As Redis: COUNT bounds the elements visited; MATCH filters them.
    let next = coll::scan_loop(cursor, opts.count, |c| {
        let mut visited = 0;
        let next = z.scan(c, |m, s| {
            visited += 1;
            if opts.matches(m) {
                out.bulk(m);
                out.bulk(s);
                n += 2;
            }
        });
        (next, visited)
    });
    coll::finish_scan_reply(ctx.out, body_pos, next, n);
}
