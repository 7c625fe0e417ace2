//! List commands (Redis 7.0's t_list.c), including the blocking pops.
//!
//! Every handler follows the order of argument checks, key lookups, replies, keyspace
//! events and propagation of the Redis 7.0 command it implements (an error in a later
//! argument is not reported when an earlier check fails, a missing key answers before a bad
//! index for LINDEX/LSET, after it for LRANGE/LTRIM...).
//!
//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) parse their timeout first,
//! serve from the first non-empty key like their non-blocking form, and otherwise ask to
//! block through `Ctx::block`. When a key they wait on receives a list, the server
//! re-executes them under the writer's lock, so the serving path is this same code; what
//! goes into the write stream is always the non-blocking form Redis 7.0 propagates
//! (BLPOP → `LPOP key`, BLMPOP → `LPOP key <n>`, BLMOVE → LMOVE, BRPOPLPUSH → RPOPLPUSH).

use bytes::Bytes;

use super::call::{err, Ctx};
use super::coll;
use super::strings::{arg_i64, kw, spec};
use super::table::{acl, flags::*, keynum_spec, Command, Family, KeySpec};
use crate::protocol::Reply;
use crate::server::blocking::{parse_timeout, BlockType, TimeoutReply};
use crate::server::store::notify;
use crate::types::list::End;
use crate::types::listpack::LpVal;
use crate::types::List;
use crate::util::numeric::string2ll;

const LIST: Family = Family { group: "list", acl: acl::LIST };

const RW_INSERT: &[KeySpec] = &[spec("", &["RW", "insert"], 1, 0, 1)];
const RW_ACCESS_DELETE: &[KeySpec] = &[spec("", &["RW", "access", "delete"], 1, 0, 1)];
const RW_DELETE: &[KeySpec] = &[spec("", &["RW", "delete"], 1, 0, 1)];
const RO_ACCESS: &[KeySpec] = &[spec("", &["RO", "access"], 1, 0, 1)];
const MOVE_SPECS: &[KeySpec] = &[spec("", &["RW", "access", "delete"], 1, 0, 1), spec("", &["RW", "insert"], 2, 0, 1)];
const BPOP_SPECS: &[KeySpec] = &[spec("", &["RW", "access", "delete"], 1, -2, 1)];

const PUSH_CPLX: &str =
    "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.";
const POP_CPLX: &str = "O(N) where N is the number of elements returned";
const MPOP_CPLX: &str = "O(N+M) where N is the number of provided keys and M is the number of elements returned.";
const BPOP_CPLX: &str = "O(N) where N is the number of provided keys.";
const BPOP_HISTORY: &[(&str, &str)] = &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")];
const BMOVE_SUMMARY: &str =
    "Pop an element from a list, push it to another list and return it; or block until one is available";

pub static COMMANDS: &[Command] = &[
    Command {
        history: &[("2.4.0", "Accepts multiple `element` arguments.")],
        ..LIST.cmd(
            "lpush",
            -3,
            WRITE | DENYOOM | FAST,
            lpush,
            "1.0.0",
            "Prepend one or multiple elements to a list",
            PUSH_CPLX,
            RW_INSERT,
        )
    },
    Command {
        history: &[("2.4.0", "Accepts multiple `element` arguments.")],
        ..LIST.cmd(
            "rpush",
            -3,
            WRITE | DENYOOM | FAST,
            rpush,
            "1.0.0",
            "Append one or multiple elements to a list",
            PUSH_CPLX,
            RW_INSERT,
        )
    },
    Command {
        history: &[("4.0.0", "Accepts multiple `element` arguments.")],
        ..LIST.cmd(
            "lpushx",
            -3,
            WRITE | DENYOOM | FAST,
            lpushx,
            "2.2.0",
            "Prepend an element to a list, only if the list exists",
            PUSH_CPLX,
            RW_INSERT,
        )
    },
    Command {
        history: &[("4.0.0", "Accepts multiple `element` arguments.")],
        ..LIST.cmd(
            "rpushx",
            -3,
            WRITE | DENYOOM | FAST,
            rpushx,
            "2.2.0",
            "Append an element to a list, only if the list exists",
            PUSH_CPLX,
            RW_INSERT,
        )
    },
    Command {
        history: &[("6.2.0", "Added the `count` argument.")],
        ..LIST.cmd(
            "lpop",
            -2,
            WRITE | FAST,
            lpop,
            "1.0.0",
            "Remove and get the first elements in a list",
            POP_CPLX,
            RW_ACCESS_DELETE,
        )
    },
    Command {
        history: &[("6.2.0", "Added the `count` argument.")],
        ..LIST.cmd(
            "rpop",
            -2,
            WRITE | FAST,
            rpop,
            "1.0.0",
            "Remove and get the last elements in a list",
            POP_CPLX,
            RW_ACCESS_DELETE,
        )
    },
    LIST.cmd("llen", 2, READONLY | FAST, llen, "1.0.0", "Get the length of a list", "O(1)", &[spec("", &["RO"], 1, 0, 1)]),
    LIST.cmd(
        "lrange",
        4,
        READONLY,
        lrange,
        "1.0.0",
        "Get a range of elements from a list",
        "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for \
large lists; and N is the number of elements in the specified range.",
        RO_ACCESS,
    ),
    LIST.cmd(
        "lindex",
        3,
        READONLY,
        lindex,
        "1.0.0",
        "Get an element from a list by its index",
        "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for \
the first or the last element of the list O(1).",
        RO_ACCESS,
    ),
    LIST.cmd(
        "lset",
        4,
        WRITE | DENYOOM,
        lset,
        "1.0.0",
        "Set the value of an element in a list by its index",
        "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).",
        &[spec("", &["RW", "update"], 1, 0, 1)],
    ),
    LIST.cmd(
        "linsert",
        5,
        WRITE | DENYOOM,
        linsert,
        "2.2.0",
        "Insert an element before or after another element in a list",
        "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting \
somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) \
is O(N).",
        RW_INSERT,
    ),
    LIST.cmd(
        "lrem",
        4,
        WRITE,
        lrem,
        "1.0.0",
        "Remove elements from a list",
        "O(N+M) where N is the length of the list and M is the number of elements removed.",
        RW_DELETE,
    ),
    LIST.cmd(
        "ltrim",
        4,
        WRITE,
        ltrim,
        "1.0.0",
        "Trim a list to the specified range",
        "O(N) where N is the number of elements to be removed by the operation.",
        RW_DELETE,
    ),
    LIST.cmd(
        "lpos",
        -3,
        READONLY,
        lpos,
        "6.0.6",
        "Return the index of matching elements on a list",
        "O(N) where N is the number of elements in the list, for the average case. When searching for elements near \
the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.",
        RO_ACCESS,
    ),
    Command {
        last_key: 2,
        ..LIST.cmd(
            "lmove",
            5,
            WRITE | DENYOOM,
            lmove,
            "6.2.0",
            "Pop an element from a list, push it to another list and return it",
            "O(1)",
            MOVE_SPECS,
        )
    },
    Command {
        last_key: 2,
        doc_flags: &["deprecated"],
        ..LIST.cmd(
            "rpoplpush",
            3,
            WRITE | DENYOOM,
            rpoplpush,
            "1.2.0",
            "Remove the last element in a list, prepend it to another list and return it",
            "O(1)",
            MOVE_SPECS,
        )
    },
    Command {
        first_key: 0,
        last_key: 0,
        key_step: 0,
        ..LIST.cmd(
            "lmpop",
            -4,
            WRITE | MOVABLEKEYS,
            lmpop,
            "7.0.0",
            "Pop elements from a list",
            MPOP_CPLX,
            &[keynum_spec(&["RW", "access", "delete"], 1)],
        )
    },
    Command {
        history: BPOP_HISTORY,
        last_key: -2,
        ..LIST.cmd(
            "blpop",
            -3,
            WRITE | NOSCRIPT | BLOCKING,
            blpop,
            "2.0.0",
            "Remove and get the first element in a list, or block until one is available",
            BPOP_CPLX,
            BPOP_SPECS,
        )
    },
    Command {
        history: BPOP_HISTORY,
        last_key: -2,
        ..LIST.cmd(
            "brpop",
            -3,
            WRITE | NOSCRIPT | BLOCKING,
            brpop,
            "2.0.0",
            "Remove and get the last element in a list, or block until one is available",
            BPOP_CPLX,
            BPOP_SPECS,
        )
    },
    Command {
        last_key: 2,
        ..LIST.cmd("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, blmove, "6.2.0", BMOVE_SUMMARY, "O(1)", MOVE_SPECS)
    },
    Command {
        last_key: 2,
        doc_flags: &["deprecated"],
        history: BPOP_HISTORY,
        ..LIST.cmd(
            "brpoplpush",
            4,
            WRITE | DENYOOM | NOSCRIPT | BLOCKING,
            brpoplpush,
            "2.2.0",
            BMOVE_SUMMARY,
            "O(1)",
            MOVE_SPECS,
        )
    },
    Command {
        first_key: 0,
        last_key: 0,
        key_step: 0,
        ..LIST.cmd(
            "blmpop",
            -5,
            WRITE | BLOCKING | MOVABLEKEYS,
            blmpop,
            "7.0.0",
            "Pop elements from a list, or block until one is available",
            MPOP_CPLX,
            &[keynum_spec(&["RW", "access", "delete"], 2)],
        )
    },
];

/// "value is out of range, must be positive" (`getPositiveLongFromObjectOrReply`).
const NOT_POSITIVE: &str = "value is out of range, must be positive";

/// A list created now: its node size and compression depth are the configuration's
/// (`list-max-listpack-size`, `list-compress-depth`) and stay with it.
#[inline]
fn new_list(ctx: &Ctx) -> impl FnOnce() -> List {
    let (fill, depth) = (ctx.store.cfg.list_max_listpack_size, ctx.store.cfg.list_compress_depth);
    move || List::with_options(fill, depth)
}

#[inline]
fn end_name(end: End, head: &'static str, tail: &'static str) -> &'static str {
    match end {
        End::Head => head,
        End::Tail => tail,
    }
}

/// `getListPositionFromObjectOrReply`: LEFT or RIGHT.
fn arg_end(ctx: &mut Ctx, a: &[u8]) -> Option<End> {
    if kw(a, b"left") {
        Some(End::Head)
    } else if kw(a, b"right") {
        Some(End::Tail)
    } else {
        ctx.syntax_error();
        None
    }
}

// ---------------------------------------------------------------------------------------
// Pushes.
// ---------------------------------------------------------------------------------------

fn lpush(ctx: &mut Ctx) {
    push(ctx, End::Head, false);
}

fn rpush(ctx: &mut Ctx) {
    push(ctx, End::Tail, false);
}

fn lpushx(ctx: &mut Ctx) {
    push(ctx, End::Head, true);
}

fn rpushx(ctx: &mut Ctx) {
    push(ctx, End::Tail, true);
}

/// `pushGenericCommand`: X variants answer 0 without creating the key.
fn push(ctx: &mut Ctx, end: End, xx: bool) {
    let argv = ctx.argv;
    let db = ctx.db();
    let elems = &argv[2..];
    let f = |l: &mut List| {
        for e in elems {
            l.push(end, e);
        }
        (true, l.len())
    };
    let len = if xx {
        match coll::write(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, f) {
            Err(_) => return ctx.wrongtype(),
            Ok(None) => return ctx.out.int(0),
            Ok(Some(n)) => n,
        }
    } else {
        let make = new_list(ctx);
        match coll::write_or_create(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, make, f) {
            Err(_) => return ctx.wrongtype(),
            Ok(n) => n,
        }
    };
    ctx.out.int(len as i64);
    ctx.store.notify(notify::LIST, end_name(end, "lpush", "rpush"), &argv[1], db);
    ctx.dirty(elems.len() as u64);
}

// ---------------------------------------------------------------------------------------
// Pops.
// ---------------------------------------------------------------------------------------

fn lpop(ctx: &mut Ctx) {
    pop(ctx, End::Head);
}

fn rpop(ctx: &mut Ctx) {
    pop(ctx, End::Tail);
}

/// `popGenericCommand`: a bulk without COUNT, an array with it (even COUNT 1).
fn pop(ctx: &mut Ctx, end: End) {
    let argv = ctx.argv;
    if argv.len() > 3 {
        return ctx.wrong_arity();
    }
    let hascount = argv.len() == 3;
    let mut count = 0usize;
    if hascount {
        let Some(c) = string2ll(&argv[2]).filter(|&c| c >= 0) else { return ctx.out.error(NOT_POSITIVE) };
        count = usize::try_from(c).unwrap_or(usize::MAX);
    }
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = coll::write(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, |l: &mut List| {
        if !hascount {
            l.pop(end, |v| v.reply(out));
            (true, 1)
        } else if count == 0 {
            out.array(0);
            (false, 0)
        } else {
            (true, range_pop(l, out, end, count))
        }
    });
    match r {
        Err(_) => ctx.wrongtype(),
        Ok(None) if hascount => ctx.out.null_array(),
        Ok(None) => ctx.out.null(),
        Ok(Some(0)) => {}
        Ok(Some(n)) => elements_removed(ctx, &argv[1], end, n),
    }
}

/// Pops up to `count` elements at `end`, replying with them as an array in pop order
/// (`addListRangeReply` + `listTypeDelRange`).
fn range_pop(l: &mut List, out: &mut Reply, end: End, count: usize) -> usize {
    let n = count.min(l.len());
    out.array(n);
    if n == 0 {
        return 0;
    }
    let mut left = n;
    let reply = |v: LpVal<'_>| {
        v.reply(out);
        left -= 1;
        left > 0
    };
    match end {
        End::Head => {
            l.walk(0, false, reply);
            l.delete_range(0, n);
        }
        End::Tail => {
            l.walk(l.len() - 1, true, reply);
            l.delete_range(l.len() - n, n);
        }
    }
    n
}

/// `listElementsRemoved`: the pop event, "del" when emptied, dirty.
fn elements_removed(ctx: &mut Ctx, key: &[u8], end: End, n: usize) {
    let db = ctx.db();
    ctx.store.notify(notify::LIST, end_name(end, "lpop", "rpop"), key, db);
    coll::remove_if_empty(ctx.store, db, key);
    ctx.dirty(n as u64);
}

/// `listPopRangeAndReplyWithKey` + its propagation as `[LR]POP key <n>`.
fn mpop_from(ctx: &mut Ctx, key: &Bytes, end: End, count: usize) {
    ctx.out.array(2);
    ctx.out.bulk(key);
    let db = ctx.db();
    let out = &mut *ctx.out;
    let r = coll::write(ctx.store, db, key, ctx.now_ms, ctx.mvcc, |l: &mut List| (true, range_pop(l, out, end, count)));
    let n = r.ok().flatten().unwrap_or(0);
    elements_removed(ctx, key, end, n);
    ctx.propagate(vec![
        Bytes::from_static(end_name(end, "LPOP", "RPOP").as_bytes()),
        key.clone(),
        n.to_string().into(),
    ]);
}

// ---------------------------------------------------------------------------------------
// Reads.
// ---------------------------------------------------------------------------------------

fn llen(ctx: &mut Ctx) {
    let db = ctx.db();
    match coll::read::<List>(ctx.store, db, &ctx.argv[1], ctx.now_ms) {
        Err(_) => ctx.wrongtype(),
        Ok(None) => ctx.out.int(0),
        Ok(Some(l)) => {
            let n = l.len() as i64;
            ctx.out.int(n)
        }
    }
}

fn lindex(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let db = ctx.db();
    let index = string2ll(&argv[2]);
    let out = &mut *ctx.out;
    match coll::read::<List>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => out.error(err::WRONGTYPE),
        Ok(None) => out.null(),
        Ok(Some(l)) => match index {
            None => out.error(err::NOT_INT),
            Some(i) => {
                if l.get_with(i, |v| v.reply(out)).is_none() {
                    out.null()
                }
            }
        },
    }
}

/// `addListRangeReply` for LRANGE: Redis's clamping of start/end.
fn lrange(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(start) = arg_i64(ctx, &argv[2]) else { return };
    let Some(end) = arg_i64(ctx, &argv[3]) else { return };
    let db = ctx.db();
    let out = &mut *ctx.out;
    match coll::read::<List>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => out.error(err::WRONGTYPE),
        Ok(None) => out.array(0),
        Ok(Some(l)) => {
            let llen = l.len() as i64;
            let mut start = if start < 0 { llen + start } else { start };
            let end = if end < 0 { llen + end } else { end };
            if start < 0 {
                start = 0;
            }
            if start > end || start >= llen {
                return out.array(0);
            }
            let end = end.min(llen - 1);
            let n = (end - start + 1) as usize;
            out.array(n);
            let mut left = n;
            l.walk(start as usize, false, |v| {
                v.reply(out);
                left -= 1;
                left > 0
            });
        }
    }
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
fn lpos(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let (mut rank, mut count, mut maxlen): (i64, Option<usize>, usize) = (1, None, 0);
    let mut j = 3;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if kw(&argv[j], b"rank") && more > 0 {
            j += 1;
            let Some(r) = arg_i64(ctx, &argv[j]) else { return };
            if r == 0 {
                return ctx.out.error(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative \
to start from the end of the list",
                );
            }
            rank = r;
        } else if kw(&argv[j], b"count") && more > 0 {
            j += 1;
            let Some(c) = string2ll(&argv[j]).filter(|&c| c >= 0) else {
                return ctx.out.error("COUNT can't be negative");
            };
            count = Some(usize::try_from(c).unwrap_or(usize::MAX));
        } else if kw(&argv[j], b"maxlen") && more > 0 {
            j += 1;
            let Some(m) = string2ll(&argv[j]).filter(|&m| m >= 0) else {
                return ctx.out.error("MAXLEN can't be negative");
            };
            maxlen = usize::try_from(m).unwrap_or(usize::MAX);
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    // A negative rank searches from the tail (LONG_MIN stays negative in C: any match).
    let reverse = rank < 0;
    let rank = if reverse { rank.checked_neg().unwrap_or(1) } else { rank } as u64;
    let db = ctx.db();
    let out = &mut *ctx.out;
    let l = match coll::read::<List>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => return out.error(err::WRONGTYPE),
        Ok(None) if count.is_some() => return out.array(0),
        Ok(None) => return out.null(),
        Ok(Some(l)) => l,
    };
    let llen = l.len();
    let ele = &argv[2];
    let limit = if maxlen == 0 { llen } else { maxlen.min(llen) };
    let start = if reverse { llen.wrapping_sub(1) } else { 0 };
    let mut matches = 0u64;
    let mut found: Vec<i64> = Vec::new();
    let mut index = 0;
    l.walk(start, reverse, |v| {
        if index >= limit {
            return false;
        }
        index += 1;
        if !v.eq_bytes(ele) {
            return true;
        }
        matches += 1;
        if matches < rank {
            return true;
        }
        let at = if reverse { llen - index } else { index - 1 };
        found.push(at as i64);
        match count {
            None => false,
            Some(c) => c == 0 || found.len() < c,
        }
    });
    match count {
        Some(_) => {
            out.array(found.len());
            for i in found {
                out.int(i);
            }
        }
        None => match found.first() {
            Some(&i) => out.int(i),
            None => out.null(),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Edits.
// ---------------------------------------------------------------------------------------

fn lset(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let db = ctx.db();
    let (index, v) = (string2ll(&argv[2]), &argv[3]);
    let r = coll::write(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, |l: &mut List| match index {
        None => (false, Err(err::NOT_INT)),
        Some(i) if l.set(i, v) => (true, Ok(())),
        Some(_) => (false, Err("index out of range")),
    });
    match r {
        Err(_) => ctx.wrongtype(),
        Ok(None) => ctx.out.error("no such key"),
        Ok(Some(Err(e))) => ctx.out.error(e),
        Ok(Some(Ok(()))) => {
            ctx.out.ok();
            ctx.store.notify(notify::LIST, "lset", &argv[1], db);
            ctx.dirty(1);
        }
    }
}

fn linsert(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let after = if kw(&argv[2], b"after") {
        true
    } else if kw(&argv[2], b"before") {
        false
    } else {
        return ctx.syntax_error();
    };
    let db = ctx.db();
    let (pivot, v) = (&argv[3], &argv[4]);
    let r = coll::write(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, |l: &mut List| {
        let found = l.insert_pivot(pivot, after, v);
        (found, found.then_some(l.len()))
    });
    match r {
        Err(_) => ctx.wrongtype(),
        Ok(None) => ctx.out.int(0),
        Ok(Some(None)) => ctx.out.int(-1),
        Ok(Some(Some(n))) => {
            ctx.store.notify(notify::LIST, "linsert", &argv[1], db);
            ctx.dirty(1);
            ctx.out.int(n as i64);
        }
    }
}

fn lrem(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(toremove) = arg_i64(ctx, &argv[2]) else { return };
    let db = ctx.db();
    let v = &argv[3];
    let limit = usize::try_from(toremove.unsigned_abs()).unwrap_or(usize::MAX);
    let r = coll::write(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, |l: &mut List| {
        let n = l.remove(v, limit, toremove < 0);
        (n > 0, n)
    });
    let removed = match r {
        Err(_) => return ctx.wrongtype(),
        Ok(None) => return ctx.out.int(0),
        Ok(Some(n)) => n,
    };
    if removed > 0 {
        ctx.store.notify(notify::LIST, "lrem", &argv[1], db);
    }
    coll::remove_if_empty(ctx.store, db, &argv[1]);
    ctx.dirty(removed as u64);
    ctx.out.int(removed as i64);
}

fn ltrim(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(start) = arg_i64(ctx, &argv[2]) else { return };
    let Some(end) = arg_i64(ctx, &argv[3]) else { return };
    let db = ctx.db();
    let r = coll::write(ctx.store, db, &argv[1], ctx.now_ms, ctx.mvcc, |l: &mut List| {
        let llen = l.len() as i64;
        let mut start = if start < 0 { llen + start } else { start };
        let end = if end < 0 { llen + end } else { end };
        if start < 0 {
            start = 0;
        }
        let (ltrim, rtrim) =
            if start > end || start >= llen { (llen, 0) } else { (start, llen - end.min(llen - 1) - 1) };
        l.trim(ltrim as usize, rtrim as usize);
        let n = (ltrim + rtrim) as u64;
        (n > 0, n)
    });
    let n = match r {
        Err(_) => return ctx.wrongtype(),
        Ok(None) => return ctx.out.ok(),
        Ok(Some(n)) => n,
    };
    // Redis signals the key as modified even when nothing was trimmed.
    if n == 0 {
        ctx.store.watch.touch(db, &argv[1]);
    }
    ctx.store.notify(notify::LIST, "ltrim", &argv[1], db);
    coll::remove_if_empty(ctx.store, db, &argv[1]);
    ctx.dirty(n);
    ctx.out.ok();
}

// ---------------------------------------------------------------------------------------
// Moves.
// ---------------------------------------------------------------------------------------

fn lmove(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(from) = arg_end(ctx, &argv[3]) else { return };
    let Some(to) = arg_end(ctx, &argv[4]) else { return };
    move_generic(ctx, from, to);
}

fn rpoplpush(ctx: &mut Ctx) {
    move_generic(ctx, End::Tail, End::Head);
}

/// `lmoveGenericCommand`: pops at `from` of argv[1], pushes at `to` of argv[2] (created if
/// needed), replies with the element. Returns whether an element moved.
fn move_generic(ctx: &mut Ctx, from: End, to: End) -> bool {
    let argv = ctx.argv;
    let db = ctx.db();
    let (src, dst) = (&argv[1], &argv[2]);
    match coll::peek_write::<List>(ctx.store, db, src, ctx.now_ms) {
        Err(_) => {
            ctx.wrongtype();
            return false;
        }
        Ok(None) => {
            ctx.out.null();
            return false;
        }
        Ok(Some(_)) => {}
    }
    if coll::peek_write::<List>(ctx.store, db, dst, ctx.now_ms).is_err() {
        ctx.wrongtype();
        return false;
    }
    let r = coll::write(ctx.store, db, src, ctx.now_ms, ctx.mvcc, |l: &mut List| (true, l.pop_vec(from)));
    let Ok(Some(Some(v))) = r else {
        ctx.out.null();
        return false;
    };
    // `lmoveHandlePush`: the destination first ("new", then the push event).
    let make = new_list(ctx);
    let _ = coll::write_or_create(ctx.store, db, dst, ctx.now_ms, ctx.mvcc, make, |l: &mut List| {
        l.push(to, &v);
        (true, ())
    });
    ctx.store.notify(notify::LIST, end_name(to, "lpush", "rpush"), dst, db);
    ctx.out.bulk(&v);
    ctx.store.notify(notify::LIST, end_name(from, "lpop", "rpop"), src, db);
    coll::remove_if_empty(ctx.store, db, src);
    ctx.dirty(1);
    true
}

// ---------------------------------------------------------------------------------------
// LMPOP and the blocking commands.
// ---------------------------------------------------------------------------------------

/// `getRangeLongFromObjectOrReply(.., 1, LONG_MAX, msg)` (the message also replaces the
/// not-an-integer error, as in Redis).
fn arg_positive(ctx: &mut Ctx, a: &[u8], msg: &str) -> Option<usize> {
    match string2ll(a) {
        Some(v) if v >= 1 => Some(usize::try_from(v).unwrap_or(usize::MAX)),
        _ => {
            ctx.out.error(msg);
            None
        }
    }
}

/// `lmpopGenericCommand`'s parsing: (first key index, number of keys, end, count).
fn parse_mpop(ctx: &mut Ctx, numkeys_idx: usize) -> Option<(usize, usize, End, usize)> {
    let argv = ctx.argv;
    let numkeys = arg_positive(ctx, &argv[numkeys_idx], "numkeys should be greater than 0")?;
    let where_idx = numkeys_idx.saturating_add(numkeys).saturating_add(1);
    if where_idx >= argv.len() {
        ctx.syntax_error();
        return None;
    }
    let end = arg_end(ctx, &argv[where_idx])?;
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
    Some((numkeys_idx + 1, numkeys, end, count.unwrap_or(1)))
}

/// The first key of `keys` holding a non-empty list: Ok(None) when none, Err on a key of
/// another type (checked in order, as Redis stops at the first wrong type).
fn first_nonempty<'k>(ctx: &mut Ctx, keys: &'k [Bytes]) -> Result<Option<&'k Bytes>, coll::WrongType> {
    let db = ctx.db();
    for k in keys {
        if let Some(l) = coll::peek_write::<List>(ctx.store, db, k, ctx.now_ms)? {
            if !l.is_empty() {
                return Ok(Some(k));
            }
        }
    }
    Ok(None)
}

fn lmpop(ctx: &mut Ctx) {
    let Some((first, n, end, count)) = parse_mpop(ctx, 1) else { return };
    let argv = ctx.argv;
    match first_nonempty(ctx, &argv[first..first + n]) {
        Err(_) => ctx.wrongtype(),
        Ok(None) => ctx.out.null_array(),
        Ok(Some(key)) => mpop_from(ctx, key, end, count),
    }
}

fn blpop(ctx: &mut Ctx) {
    let argv = ctx.argv;
    blocking_pop(ctx, &argv[1..argv.len() - 1], argv.len() - 1, End::Head, None);
}

fn brpop(ctx: &mut Ctx) {
    let argv = ctx.argv;
    blocking_pop(ctx, &argv[1..argv.len() - 1], argv.len() - 1, End::Tail, None);
}

fn blmpop(ctx: &mut Ctx) {
    let Some((first, n, end, count)) = parse_mpop(ctx, 2) else { return };
    let argv = ctx.argv;
    blocking_pop(ctx, &argv[first..first + n], 1, end, Some(count));
}

/// `blockingPopGenericCommand`: timeout first, then the first non-empty key is popped
/// (propagated as `[LR]POP key [n]`), else the client blocks.
fn blocking_pop(ctx: &mut Ctx, keys: &[Bytes], timeout_idx: usize, end: End, count: Option<usize>) {
    let deadline = match parse_timeout(&ctx.argv[timeout_idx], std::time::Instant::now()) {
        Ok(d) => d,
        Err(e) => return ctx.out.error(e),
    };
    let key = match first_nonempty(ctx, keys) {
        Err(_) => return ctx.wrongtype(),
        Ok(None) => return ctx.block(keys, BlockType::List, deadline, TimeoutReply::NullArray),
        Ok(Some(k)) => k,
    };
    if let Some(c) = count {
        return mpop_from(ctx, key, end, c);
    }
    let db = ctx.db();
    ctx.out.array(2);
    ctx.out.bulk(key);
    let out = &mut *ctx.out;
    let _ = coll::write(ctx.store, db, key, ctx.now_ms, ctx.mvcc, |l: &mut List| (true, l.pop(end, |v| v.reply(out))));
    elements_removed(ctx, key, end, 1);
    ctx.propagate(vec![Bytes::from_static(end_name(end, "LPOP", "RPOP").as_bytes()), key.clone()]);
}

fn blmove(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(from) = arg_end(ctx, &argv[3]) else { return };
    let Some(to) = arg_end(ctx, &argv[4]) else { return };
    blocking_move(ctx, 5, from, to);
}

fn brpoplpush(ctx: &mut Ctx) {
    blocking_move(ctx, 3, End::Tail, End::Head);
}

/// `blmoveGenericCommand`: LMOVE when the source has elements (propagated as LMOVE or
/// RPOPLPUSH), else block on the source.
fn blocking_move(ctx: &mut Ctx, timeout_idx: usize, from: End, to: End) {
    let argv = ctx.argv;
    let deadline = match parse_timeout(&argv[timeout_idx], std::time::Instant::now()) {
        Ok(d) => d,
        Err(e) => return ctx.out.error(e),
    };
    let db = ctx.db();
    match coll::peek_write::<List>(ctx.store, db, &argv[1], ctx.now_ms) {
        Err(_) => ctx.wrongtype(),
        // Inside MULTI: a null bulk at once; a real timeout (or CLIENT UNBLOCK) answers a
        // null array, as `replyToBlockedClientTimedOut` does for every list waiter.
        Ok(None) if ctx.in_exec => ctx.out.null(),
        Ok(None) => ctx.block(&argv[1..2], BlockType::List, deadline, TimeoutReply::NullArray),
        Ok(Some(_)) => {
            if move_generic(ctx, from, to) {
                let mut v = argv[..timeout_idx].to_vec();
                v[0] = Bytes::from_static(if timeout_idx == 5 { b"LMOVE" } else { b"RPOPLPUSH" });
                ctx.propagate(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for c in COMMANDS {
            assert_eq!(c.group, "list", "{}", c.name);
            assert!(c.acl & acl::LIST != 0);
            assert!(!c.summary.is_empty() && !c.key_specs.is_empty(), "{}", c.name);
        }
        assert_eq!(COMMANDS.len(), 22);
    }
}
