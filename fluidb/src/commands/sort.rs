//! SORT and SORT_RO (Redis 7.0's sort.c).
//!
//! The order of checks, the LIMIT clamping, the "don't sort" shortcuts for lists and sorted
//! sets (BY a pattern without '*': native order, only the LIMIT range loaded), the weights
//! (C `strtod` over the C string, as Redis), the tie-breaking of equal scores and the STORE
//! result all follow `sortCommandGeneric`, so replies match Redis's byte for byte.
//!
//! One deliberate difference: Redis 7.0 converts a listpack sorted set to a skiplist
//! before sorting it (even for SORT_RO), a side effect that only costs memory; fluidB
//! leaves the encoding alone.

use std::cmp::Ordering;

use bytes::Bytes;

use super::call::{err, Ctx};
use super::strings::{kw, spec};
use super::table::{acl, flags::*, BeginSearch, Command, Family, FindKeys, KeySpec};
use crate::keyspace::Value;
use crate::server::store::{notify, Store};
use crate::types::List;
use crate::util::numeric::{c_strtod, string2l};

const SORT: Family = Family { group: "generic", acl: acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS };

const BY_GET_SPEC: KeySpec = KeySpec {
    notes: "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content \
of the key we sort",
    flags: &["RO", "access"],
    begin: BeginSearch::Unknown,
    find: FindKeys::Unknown,
};

const STORE_SPEC: KeySpec = KeySpec {
    notes: "For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the \
argument array",
    flags: &["OW", "update"],
    begin: BeginSearch::Unknown,
    find: FindKeys::Unknown,
};

const COMPLEXITY: &str = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the \
number of returned elements. When the elements are not sorted, complexity is O(N).";

pub static COMMANDS: &[Command] = &[
    Command {
        getkeys: Some(sort_get_keys),
        ..SORT.cmd(
            "sort",
            -2,
            WRITE | DENYOOM | MOVABLEKEYS,
            sort,
            "1.0.0",
            "Sort the elements in a list, set or sorted set",
            COMPLEXITY,
            &[spec("", &["RO", "access"], 1, 0, 1), BY_GET_SPEC, STORE_SPEC],
        )
    },
    Command {
        getkeys: Some(sort_ro_get_keys),
        ..SORT.cmd(
            "sort_ro",
            -2,
            READONLY | MOVABLEKEYS,
            sort_ro,
            "7.0.0",
            "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
            COMPLEXITY,
            &[spec("", &["RO", "access"], 1, 0, 1), BY_GET_SPEC],
        )
    },
];

/// Redis's `sortGetKeys`: the sorted key and, if present, the STORE destination (the last
/// STORE wins; the arguments of LIMIT, GET and BY are skipped as the parser skips them).
fn sort_get_keys(argv: &[Bytes]) -> Vec<(usize, &'static [&'static str])> {
    let mut keys: Vec<(usize, &'static [&'static str])> = vec![(1, &["RO", "access"])];
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if kw(a, b"limit") {
            i += 2;
        } else if kw(a, b"get") || kw(a, b"by") {
            i += 1;
        } else if kw(a, b"store") && i + 1 < argv.len() {
            // Like Redis, the destination itself is examined next as a possible option.
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store.map(|i| (i, &["OW", "update"][..])));
    keys
}

/// `sortROGetKeys`: only the sorted key.
fn sort_ro_get_keys(_argv: &[Bytes]) -> Vec<(usize, &'static [&'static str])> {
    vec![(1, &["RO", "access"])]
}

fn sort(ctx: &mut Ctx) {
    sort_generic(ctx, false);
}

fn sort_ro(ctx: &mut Ctx) {
    sort_generic(ctx, true);
}

/// The parsed options.
struct Opts {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    store: Option<Bytes>,
    by: Option<Bytes>,
    /// A BY pattern without '*': keep the native order.
    dontsort: bool,
    get: Vec<Bytes>,
}

/// Parses the options as `sortCommandGeneric` does; None after replying with the error.
fn parse_opts(ctx: &mut Ctx, readonly: bool) -> Option<Opts> {
    let mut o = Opts {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by: None,
        dontsort: false,
        get: Vec::new(),
    };
    let argv = ctx.argv;
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j];
        if kw(a, b"asc") {
            o.desc = false;
        } else if kw(a, b"desc") {
            o.desc = true;
        } else if kw(a, b"alpha") {
            o.alpha = true;
        } else if kw(a, b"limit") && left >= 2 {
            let (Some(start), Some(count)) = (string2l(&argv[j + 1]), string2l(&argv[j + 2])) else {
                ctx.out.error(err::NOT_INT);
                return None;
            };
            o.limit_start = start;
            o.limit_count = count;
            j += 2;
        } else if !readonly && kw(a, b"store") && left >= 1 {
            o.store = Some(argv[j + 1].clone());
            j += 1;
        } else if kw(a, b"by") && left >= 1 {
            // strchr: the C string ends at the first NUL.
            o.dontsort = !c_str(&argv[j + 1]).contains(&b'*');
            o.by = Some(argv[j + 1].clone());
            j += 1;
        } else if kw(a, b"get") && left >= 1 {
            o.get.push(argv[j + 1].clone());
            j += 1;
        } else {
            ctx.syntax_error();
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// Bytes of `s` up to its first NUL (what C string functions see).
fn c_str(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |n| &s[..n])
}

/// One element to sort: the element and what it sorts by.
struct Item {
    ele: Vec<u8>,
    /// The numeric weight (without ALPHA); 0 when the BY key is missing.
    score: f64,
    /// ALPHA with BY: the looked-up value (None when it is missing).
    cmp: Option<Vec<u8>>,
}

impl Item {
    fn new(ele: &[u8]) -> Item {
        Item { ele: ele.to_vec(), score: 0.0, cmp: None }
    }
}

/// Which kind of value is sorted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    ZSet,
}

/// `sortCommandGeneric`.
fn sort_generic(ctx: &mut Ctx, readonly: bool) {
    let Some(mut o) = parse_opts(ctx, readonly) else { return };
    let db = ctx.db();
    let argv = ctx.argv;
    let key = &argv[1];

    // lookupKeyRead and the type check; a missing key sorts as an empty list.
    let (kind, vectorlen) = match ctx.store.lookup_read(db, key, ctx.now_ms).map(|e| &e.val) {
        None => (Kind::List, 0),
        Some(Value::List(l)) => (Kind::List, l.len()),
        Some(Value::Set(s)) => (Kind::Set, s.len()),
        Some(Value::ZSet(z)) => (Kind::ZSet, z.len()),
        Some(_) => return ctx.wrongtype(),
    };
    // A set has no order of its own: stored unsorted, replicas and the AOF would disagree,
    // so Redis forces ALPHA sorting.
    if o.dontsort && kind == Kind::Set && o.store.is_some() {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }

    // LIMIT sanity checks, clamped to the object's size so nothing overflows.
    let vlen = vectorlen as i64;
    let mut start = o.limit_start.max(0).min(vlen);
    let limit_count = o.limit_count.max(-1).min(vlen);
    let mut end = if limit_count < 0 { vlen - 1 } else { start + limit_count - 1 };
    if start >= vlen {
        start = vlen - 1;
        end = vlen - 2;
    }
    if end >= vlen {
        end = vlen - 1;
    }

    // Load the elements. Lists and sorted sets that are not sorted load only the LIMIT
    // range, in native order (reversed by DESC).
    let mut items: Vec<Item> = Vec::new();
    let native = o.dontsort && kind != Kind::Set;
    if let Some(e) = ctx.store.dbs[db].peek(key) {
        match (&e.val, native) {
            (Value::List(l), true) if end >= start => {
                let n = (end - start + 1) as usize;
                items.reserve(n);
                l.for_range(start as usize, n, o.desc, &mut |b| items.push(Item::new(b)));
                end -= start;
                start = 0;
            }
            (Value::List(_), true) => {}
            (Value::ZSet(z), true) => {
                let n = (end - start + 1).max(0) as usize;
                if n > 0 {
                    items.reserve(n);
                    let from = if o.desc { vectorlen - 1 - start as usize } else { start as usize };
                    z.walk(from, o.desc, |m, _| {
                        items.push(Item::new(m));
                        items.len() < n
                    });
                }
                end -= start;
                start = 0;
            }
            (Value::List(l), false) => {
                items.reserve(vectorlen);
                l.for_each(&mut |b| items.push(Item::new(b)));
            }
            (Value::Set(s), _) => {
                items.reserve(vectorlen);
                s.iter().for_each(|m| m.with_bytes(|b| items.push(Item::new(b))));
            }
            (Value::ZSet(z), false) => {
                items.reserve(vectorlen);
                z.walk(0, false, |m, _| {
                    items.push(Item::new(m));
                    true
                });
            }
            _ => {}
        }
    }

    // Weights, then the sort.
    let mut conversion_error = false;
    if !o.dontsort {
        for it in items.iter_mut() {
            let byval = match &o.by {
                Some(pat) => match lookup_by_pattern(ctx.store, db, pat, &it.ele, ctx.now_ms) {
                    Some(v) => Some(v),
                    None => continue,
                },
                None => None,
            };
            if o.alpha {
                if o.by.is_some() {
                    it.cmp = byval;
                }
            } else {
                match strtod_full(byval.as_deref().unwrap_or(&it.ele)) {
                    Some(d) => it.score = d,
                    None => conversion_error = true,
                }
            }
        }
        let (desc, alpha, bypattern, store) = (o.desc, o.alpha, o.by.is_some(), o.store.is_some());
        items.sort_by(|a, b| {
            let c = compare(a, b, alpha, bypattern, store);
            if desc {
                c.reverse()
            } else {
                c
            }
        });
    }

    let count = if end >= start { (end - start + 1) as usize } else { 0 };
    let outputlen = if o.get.is_empty() { count } else { o.get.len().saturating_mul(count) };
    if conversion_error {
        return ctx.out.error("One or more scores can't be converted into double");
    }
    let range = if count > 0 { &items[start as usize..=end as usize] } else { &items[..0] };
    let Some(dest) = o.store.clone() else {
        ctx.out.array(outputlen);
        for it in range {
            if o.get.is_empty() {
                ctx.out.bulk(&it.ele);
            }
            for pat in &o.get {
                match lookup_by_pattern(ctx.store, db, pat, &it.ele, ctx.now_ms) {
                    Some(v) => ctx.out.bulk(&v),
                    None => ctx.out.null(),
                }
            }
        }
        return;
    };
    let mut list = List::with_options(ctx.store.cfg.list_max_listpack_size, ctx.store.cfg.list_compress_depth);
    for it in range {
        if o.get.is_empty() {
            list.push_back(&it.ele);
        }
        for pat in &o.get {
            let v = lookup_by_pattern(ctx.store, db, pat, &it.ele, ctx.now_ms).unwrap_or_default();
            list.push_back(&v);
        }
    }
    if outputlen > 0 {
        ctx.store.set_key(db, &dest, Value::List(Box::new(list)), ctx.mvcc, false);
        ctx.store.notify(notify::LIST, "sortstore", &dest, db);
        ctx.dirty(outputlen as u64);
    } else if ctx.store.delete(db, &dest, ctx.now_ms) {
        ctx.store.notify(notify::GENERIC, "del", &dest, db);
        ctx.dirty(1);
    }
    ctx.out.int(outputlen as i64);
}

/// `sortCompare` (before DESC reverses it).
fn compare(a: &Item, b: &Item, alpha: bool, bypattern: bool, store: bool) -> Ordering {
    if !alpha {
        // Equal scores fall back to the elements (binary), so the result is deterministic.
        return a.score.partial_cmp(&b.score).unwrap_or(Ordering::Equal).then_with(|| a.ele.cmp(&b.ele));
    }
    let (x, y) = if bypattern {
        match (&a.cmp, &b.cmp) {
            (Some(x), Some(y)) => (x.as_slice(), y.as_slice()),
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
        }
    } else {
        (a.ele.as_slice(), b.ele.as_slice())
    };
    if store {
        // compareStringObjects: binary.
        x.cmp(y)
    } else {
        // strcoll in the C locale: strcmp, which stops at the first NUL.
        c_str(x).cmp(c_str(y))
    }
}

/// SORT's weight: C `strtod` over the C string (up to a NUL), rejected unless it consumed
/// everything, without ERANGE and not NaN (so "" is 0, " 1" is 1, "1e400" fails).
fn strtod_full(b: &[u8]) -> Option<f64> {
    let s = c_str(b);
    let (d, used, errno) = c_strtod(s);
    (used == s.len() && errno != libc::ERANGE && !d.is_nan()).then_some(d)
}

/// Redis's `lookupKeyByPattern`: "#" is the element itself; otherwise the first '*' of the
/// pattern is replaced by the element and the key read as a string, or, when the rest of
/// the pattern has "->field", as that field of a hash. None when the pattern has no '*',
/// or nothing of the right type is there. As in Redis, '*' and "->" are searched in the C
/// string (up to a NUL), but the prefix, postfix and field are cut from the whole pattern.
fn lookup_by_pattern(store: &mut Store, db: usize, pattern: &[u8], ele: &[u8], now_ms: i64) -> Option<Vec<u8>> {
    let cpat = c_str(pattern);
    if cpat == b"#" {
        return Some(ele.to_vec());
    }
    let star = cpat.iter().position(|&c| c == b'*')?;
    let arrow = cpat[star + 1..].windows(2).position(|w| w == b"->").map(|i| star + 1 + i);
    let (postfix, field) = match arrow {
        // "->" must be followed by something (in the C string) to name a field.
        Some(f) if f + 2 < cpat.len() => (&pattern[star + 1..f], Some(&pattern[f + 2..])),
        _ => (&pattern[star + 1..], None),
    };
    let mut k = Vec::with_capacity(star + ele.len() + postfix.len());
    k.extend_from_slice(&pattern[..star]);
    k.extend_from_slice(ele);
    k.extend_from_slice(postfix);
    let e = store.lookup_read(db, &k, now_ms)?;
    match (field, &e.val) {
        (None, Value::Str(s)) => Some(s.to_vec()),
        (Some(f), Value::Hash(h)) => h.get(f).map(|v| v.to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ').map(|a| Bytes::copy_from_slice(a.as_bytes())).collect()
    }

    #[test]
    fn get_keys_as_redis() {
        assert_eq!(sort_get_keys(&args("sort k")).len(), 1);
        let k = sort_get_keys(&args("sort k limit 0 1 store d"));
        assert_eq!(k.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 6]);
        // The last STORE wins; GET's and BY's arguments are skipped.
        let k = sort_get_keys(&args("sort k store a get store store b by store"));
        assert_eq!(k.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 7]);
        // A trailing STORE without a name is not a key.
        assert_eq!(sort_get_keys(&args("sort k store")).len(), 1);
    }

    #[test]
    fn weights_follow_strtod() {
        assert_eq!(strtod_full(b""), Some(0.0));
        assert_eq!(strtod_full(b" 1.5"), Some(1.5));
        assert_eq!(strtod_full(b"2\0junk"), Some(2.0));
        assert_eq!(strtod_full(b"1e400"), None);
        assert_eq!(strtod_full(b"nan"), None);
        assert_eq!(strtod_full(b"1x"), None);
        assert_eq!(strtod_full(b"-inf"), Some(f64::NEG_INFINITY));
    }
}
