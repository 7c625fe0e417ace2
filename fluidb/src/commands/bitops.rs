//! Bitmap commands (Redis 7.0's bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD and BITFIELD_RO, on string values.
//!
//! Bit 0 is the most significant bit of the first byte, as in Redis.

use std::borrow::Cow;

use super::call::{err, Ctx};
use super::strings::{
    arg_i64, cstr, kw, lookup_held, proto_max_bulk_len, set_value, spec, str_bytes, string_of, string_of_mut, Held,
};
use super::table::{acl, flags::*, Command, Family, KeySpec};
use crate::keyspace::{Entry, RStr, Value};
use crate::protocol::Reply;
use crate::server::store::{notify, Store};
use crate::util::numeric::string2ll;

const BITMAP: Family = Family { group: "bitmap", acl: acl::BITMAP };

const RO_ACCESS: &[KeySpec] = &[spec("", &["RO", "access"], 1, 0, 1)];

pub static COMMANDS: &[Command] = &[
    BITMAP.cmd(
        "setbit",
        4,
        WRITE | DENYOOM,
        setbit,
        "2.2.0",
        "Sets or clears the bit at offset in the string value stored at key",
        "O(1)",
        &[spec("", &["RW", "access", "update"], 1, 0, 1)],
    ),
    BITMAP.cmd(
        "getbit",
        3,
        READONLY | FAST,
        getbit,
        "2.2.0",
        "Returns the bit value at offset in the string value stored at key",
        "O(1)",
        RO_ACCESS,
    ),
    Command {
        history: &[("7.0.0", "Added the `BYTE|BIT` option.")],
        ..BITMAP.cmd("bitcount", -2, READONLY, bitcount, "2.6.0", "Count set bits in a string", "O(N)", RO_ACCESS)
    },
    Command {
        history: &[("7.0.0", "Added the `BYTE|BIT` option.")],
        ..BITMAP.cmd(
            "bitpos",
            -3,
            READONLY,
            bitpos,
            "2.8.7",
            "Find first bit set or clear in a string",
            "O(N)",
            RO_ACCESS,
        )
    },
    Command {
        first_key: 2,
        last_key: -1,
        ..BITMAP.cmd(
            "bitop",
            -4,
            WRITE | DENYOOM,
            bitop,
            "2.6.0",
            "Perform bitwise operations between strings",
            "O(N)",
            &[spec("", &["OW", "update"], 2, 0, 1), spec("", &["RO", "access"], 3, -1, 1)],
        )
    },
    BITMAP.cmd(
        "bitfield",
        -2,
        WRITE | DENYOOM,
        bitfield,
        "3.2.0",
        "Perform arbitrary bitfield integer operations on strings",
        "O(1) for each subcommand specified",
        &[spec(
            "This command allows both access and modification of the key",
            &["RW", "access", "update", "variable_flags"],
            1,
            0,
            1,
        )],
    ),
    BITMAP.cmd(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        bitfield_ro,
        "6.0.0",
        "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        "O(1) for each subcommand specified",
        RO_ACCESS,
    ),
];

#[cfg(test)]
#[path = "bitops_tests.rs"]
mod tests;

// ---------------------------------------------------------------------------------------
// Low level bit functions.
// ---------------------------------------------------------------------------------------

/// Number of set bits (Redis's `redisPopcount`).
pub fn popcount(s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from_ne_bytes(w).count_ones() as u64;
    }
    n + chunks.remainder().iter().map(|b| b.count_ones() as u64).sum::<u64>()
}

/// Position of the first bit equal to `bit` (Redis's `redisBitpos`). When looking for a 0
/// in a string of ones, the string counts as padded with zeros: the answer is `len * 8`.
/// Looking for a 1 where there is none gives -1.
pub fn first_bit(s: &[u8], bit: bool) -> i64 {
    let skip: u8 = if bit { 0 } else { 0xff };
    let skip_word: u64 = if bit { 0 } else { u64::MAX };
    let mut i = 0;
    while i + 8 <= s.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        if u64::from_ne_bytes(w) != skip_word {
            break;
        }
        i += 8;
    }
    while i < s.len() {
        if s[i] != skip {
            let b = if bit { s[i] } else { !s[i] };
            return (i as i64) * 8 + b.leading_zeros() as i64;
        }
        i += 1;
    }
    if bit {
        -1
    } else {
        (s.len() as i64) * 8
    }
}

/// Reads an unsigned integer of `bits` (≤ 64) bits at bit `offset`; bytes past the end of
/// `p` read as zero.
fn get_unsigned_bitfield(p: &[u8], mut offset: u64, bits: u32) -> u64 {
    let mut value: u64 = 0;
    for _ in 0..bits {
        let byte = (offset >> 3) as usize;
        let bit = 7 - (offset & 7);
        let bv = p.get(byte).map(|&b| (b >> bit) & 1).unwrap_or(0);
        value = (value << 1) | bv as u64;
        offset += 1;
    }
    value
}

/// Signed variant of [`get_unsigned_bitfield`] (two's complement).
fn get_signed_bitfield(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned_bitfield(p, offset, bits) as i64;
    if bits < 64 && (v as u64) & (1u64 << (bits - 1)) != 0 {
        v |= (u64::MAX << bits) as i64;
    }
    v
}

/// Writes the low `bits` bits of `value` at bit `offset`. `p` must be long enough.
fn set_unsigned_bitfield(p: &mut [u8], mut offset: u64, bits: u32, value: u64) {
    for j in 0..bits {
        let bv = ((value >> (bits - 1 - j)) & 1) as u8;
        let byte = (offset >> 3) as usize;
        let bit = 7 - (offset & 7) as u32;
        p[byte] = (p[byte] & !(1 << bit)) | (bv << bit);
        offset += 1;
    }
}

const OW_WRAP: u8 = 0;
const OW_SAT: u8 = 1;
const OW_FAIL: u8 = 2;

/// Redis's `checkUnsignedBitfieldOverflow`: 0 if `value + incr` fits in `bits` unsigned
/// bits, 1 on overflow, -1 on underflow; `limit` gets the WRAP/SAT result.
fn check_unsigned_overflow(value: u64, incr: i64, bits: u32, owtype: u8, limit: &mut u64) -> i32 {
    let max: u64 = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = 0u64.wrapping_sub(value) as i64;
    let wrap = |limit: &mut u64| {
        let mask = if bits >= 64 { 0 } else { u64::MAX << bits };
        *limit = value.wrapping_add(incr as u64) & !mask;
    };
    if value > max || (incr > 0 && incr > maxincr) {
        match owtype {
            OW_WRAP => wrap(limit),
            OW_SAT => *limit = max,
            _ => {}
        }
        1
    } else if incr < 0 && incr < minincr {
        match owtype {
            OW_WRAP => wrap(limit),
            OW_SAT => *limit = 0,
            _ => {}
        }
        -1
    } else {
        0
    }
}

/// Redis's `checkSignedBitfieldOverflow`.
fn check_signed_overflow(value: i64, incr: i64, bits: u32, owtype: u8, limit: &mut i64) -> i32 {
    let max: i64 = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min: i64 = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = |limit: &mut i64| {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        *limit = c as i64;
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        match owtype {
            OW_WRAP => wrap(limit),
            OW_SAT => *limit = max,
            _ => {}
        }
        1
    } else if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        match owtype {
            OW_WRAP => wrap(limit),
            OW_SAT => *limit = min,
            _ => {}
        }
        -1
    } else {
        0
    }
}

// ---------------------------------------------------------------------------------------
// Argument helpers.
// ---------------------------------------------------------------------------------------

const ERR_BIT_OFFSET: &str = "bit offset is not an integer or out of range";

/// Redis's `getBitOffsetFromArgument`: a bit offset bounded by proto-max-bulk-len bytes.
/// With `hash` and `bits > 0`, "#N" means N * bits.
fn bit_offset(ctx: &mut Ctx, a: &[u8], hash: bool, bits: u32) -> Option<u64> {
    let usehash = hash && bits > 0 && a.first() == Some(&b'#');
    let Some(mut off) = string2ll(if usehash { &a[1..] } else { a }) else {
        ctx.out.error(ERR_BIT_OFFSET);
        return None;
    };
    if usehash {
        // C arithmetic: an overflowing product wraps, then the range check applies.
        off = off.wrapping_mul(bits as i64);
    }
    if off < 0 || (off >> 3) >= proto_max_bulk_len(ctx) {
        ctx.out.error(ERR_BIT_OFFSET);
        return None;
    }
    Some(off as u64)
}

/// Redis's `lookupStringForBitCommand` on an existing key: makes its string raw and long
/// enough to address bit `maxbit` (zero padded). Returns the buffer and whether it grew,
/// or None for a value of another type.
fn bit_buffer(e: &mut Entry, maxbit: u64) -> Option<(&mut Vec<u8>, bool)> {
    // maxbit >> 3 < proto-max-bulk-len, checked by the caller, so the size fits.
    let need = (maxbit >> 3) as usize + 1;
    let v = string_of_mut(&mut e.val)?.make_raw();
    let grown = v.len() < need;
    if grown {
        v.resize(need, 0);
    }
    Some((v, grown))
}

/// The string under argv[1] after a successful lookup (`Held::Str`), borrowed from the
/// store (int-encoded values as their decimal text).
fn peek_string<'s>(store: &'s Store, db: usize, key: &[u8]) -> Cow<'s, [u8]> {
    store.dbs[db].peek(key).and_then(|e| string_of(&e.val)).map(str_bytes).unwrap_or(Cow::Borrowed(&[]))
}

// ---------------------------------------------------------------------------------------
// SETBIT, GETBIT.
// ---------------------------------------------------------------------------------------

fn setbit(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let key = &argv[1][..];
    let Some(off) = bit_offset(ctx, &argv[2], false, 0) else { return };
    const ERR_BIT: &str = "bit is not an integer or out of range";
    let on = match string2ll(&argv[3]) {
        Some(v) if v & !1 == 0 => v as u8,
        _ => return ctx.out.error(ERR_BIT),
    };
    let byte = (off >> 3) as usize;
    let bit = 7 - (off & 7) as u32;
    let db = ctx.db();
    let r = ctx.store.change_in_place(db, key, ctx.now_ms, ctx.mvcc, |e| {
        let Some((v, grown)) = bit_buffer(e, off) else { return (false, None) };
        let old = (v[byte] >> bit) & 1;
        // Only an actual change (or growth) is a write, as in Redis 7.0.
        let changed = grown || old != on;
        if changed {
            v[byte] = (v[byte] & !(1 << bit)) | (on << bit);
        }
        (changed, Some((old, changed)))
    });
    let old = match r {
        Some(Some((old, changed))) => {
            if changed {
                ctx.store.notify(notify::STRING, "setbit", key, db);
                ctx.dirty(1);
            }
            old
        }
        Some(None) => return ctx.out.error(err::WRONGTYPE),
        None => {
            let mut v = vec![0u8; byte + 1];
            v[byte] |= on << bit;
            ctx.store.set_key(db, key, Value::Str(RStr::Raw(v)), ctx.mvcc, false);
            ctx.store.notify(notify::STRING, "setbit", key, db);
            ctx.dirty(1);
            0
        }
    };
    ctx.out.int(old as i64);
}

fn getbit(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let Some(off) = bit_offset(ctx, &argv[2], false, 0) else { return };
    let db = ctx.db();
    let s = match ctx.store.lookup_read(db, &argv[1], ctx.now_ms) {
        None => return ctx.out.int(0),
        Some(e) => match string_of(&e.val) {
            Some(s) => s,
            None => return ctx.out.error(err::WRONGTYPE),
        },
    };
    let byte = (off >> 3) as usize;
    let bit = 7 - (off & 7) as u32;
    let v = s.with_bytes(|b| b.get(byte).map(|&x| (x >> bit) & 1).unwrap_or(0));
    ctx.out.int(v as i64);
}

// ---------------------------------------------------------------------------------------
// BITCOUNT, BITPOS.
// ---------------------------------------------------------------------------------------

/// Masks of the bits outside a BIT range in its first and last bytes.
fn range_masks(start: i64, end: i64) -> (u8, u8) {
    let first = (!((1u32 << (8 - (start & 7))) - 1) & 0xff) as u8;
    let last = ((1u32 << (7 - (end & 7))) - 1) as u8;
    (first, last)
}

/// BITCOUNT key [start end [BYTE|BIT]]
fn bitcount(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let argc = argv.len();
    // Redis 7.0 looks the key up first: a missing key counts 0 whatever the arguments.
    match lookup_held(ctx, &argv[1]) {
        Held::Absent => return ctx.out.int(0),
        Held::Other => return ctx.out.error(err::WRONGTYPE),
        Held::Str => {}
    }
    let db = ctx.db();
    let strlen = ctx.store.dbs[db].peek(&argv[1]).and_then(|e| string_of(&e.val)).map(|s| s.len()).unwrap_or(0) as i64;
    let (mut start, mut end);
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if argc == 4 || argc == 5 {
        let Some(s) = arg_i64(ctx, &argv[2]) else { return };
        let Some(e) = arg_i64(ctx, &argv[3]) else { return };
        start = s;
        end = e;
        let mut isbit = false;
        if argc == 5 {
            if kw(&argv[4], b"bit") {
                isbit = true;
            } else if !kw(&argv[4], b"byte") {
                return ctx.syntax_error();
            }
        }
        if start < 0 && end < 0 && start > end {
            return ctx.out.int(0);
        }
        let totlen = if isbit { strlen << 3 } else { strlen };
        if start < 0 {
            start += totlen;
        }
        if end < 0 {
            end += totlen;
        }
        start = start.max(0);
        end = end.max(0);
        if end >= totlen {
            end = totlen - 1;
        }
        if isbit && start <= end {
            (first_mask, last_mask) = range_masks(start, end);
            start >>= 3;
            end >>= 3;
        }
    } else if argc == 2 {
        start = 0;
        end = strlen - 1;
    } else {
        return ctx.syntax_error();
    }
    if start > end {
        return ctx.out.int(0);
    }
    let p = peek_string(ctx.store, db, &argv[1]);
    let (s, e) = (start as usize, end as usize);
    let mut count = popcount(&p[s..=e]) as i64;
    if first_mask != 0 || last_mask != 0 {
        let fl = [p[s] & first_mask, p[e] & last_mask];
        count -= popcount(&fl) as i64;
    }
    ctx.out.int(count);
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
fn bitpos(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let argc = argv.len();
    let Some(bit) = arg_i64(ctx, &argv[2]) else { return };
    if bit != 0 && bit != 1 {
        return ctx.out.error("The bit argument must be 1 or 0.");
    }
    let bit = bit == 1;
    let db = ctx.db();
    let now = ctx.now_ms;
    // A missing key is an infinite run of zeros.
    match ctx.store.lookup_read(db, &argv[1], now) {
        None => return ctx.out.int(if bit { -1 } else { 0 }),
        Some(e) => {
            if string_of(&e.val).is_none() {
                return ctx.out.error(err::WRONGTYPE);
            }
        }
    }
    let mut start: i64;
    let mut end: i64 = 0;
    let mut end_given = false;
    let mut isbit = false;
    if (4..=6).contains(&argc) {
        start = match arg_i64(ctx, &argv[3]) {
            Some(v) => v,
            None => return,
        };
        if argc == 6 {
            if kw(&argv[5], b"bit") {
                isbit = true;
            } else if !kw(&argv[5], b"byte") {
                return ctx.syntax_error();
            }
        }
        if argc >= 5 {
            end = match arg_i64(ctx, &argv[4]) {
                Some(v) => v,
                None => return,
            };
            end_given = true;
        }
    } else if argc == 3 {
        start = 0;
    } else {
        return ctx.syntax_error();
    }
    let p = peek_string(ctx.store, db, &argv[1]);
    let strlen = p.len() as i64;
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if argc >= 4 {
        let mut totlen = strlen;
        if !end_given {
            end = if isbit { (totlen << 3) + 7 } else { totlen - 1 };
        }
        if isbit {
            totlen <<= 3;
        }
        if start < 0 {
            start += totlen;
        }
        if end < 0 {
            end += totlen;
        }
        start = start.max(0);
        end = end.max(0);
        if end >= totlen {
            end = totlen - 1;
        }
        if isbit && start <= end {
            (first_mask, last_mask) = range_masks(start, end);
            start >>= 3;
            end >>= 3;
        }
    } else {
        end = strlen - 1;
    }
    let out = &mut *ctx.out;
    if start > end {
        return out.int(-1);
    }
    let mut bytes = end - start + 1;
    let pos: i64;
    // Port of Redis 7.0's masked search over the first byte, the middle, the last byte.
    'search: {
        if first_mask != 0 {
            let mut tmp = if bit { p[start as usize] & !first_mask } else { p[start as usize] | first_mask };
            if last_mask != 0 && bytes == 1 {
                tmp = if bit { tmp & !last_mask } else { tmp | last_mask };
            }
            let r = first_bit(&[tmp], bit);
            if bytes == 1 || (r != -1 && r != 8) {
                pos = r;
                break 'search;
            }
            start += 1;
            bytes -= 1;
        }
        let curbytes = bytes - if last_mask != 0 { 1 } else { 0 };
        if curbytes > 0 {
            let r = first_bit(&p[start as usize..(start + curbytes) as usize], bit);
            if bytes == curbytes || (r != -1 && r != curbytes << 3) {
                pos = r;
                break 'search;
            }
            start += curbytes;
            bytes -= curbytes;
        }
        let tmp = if bit { p[end as usize] & !last_mask } else { p[end as usize] | last_mask };
        pos = first_bit(&[tmp], bit);
    }
    // With an explicit end, running past the range while looking for 0 means "not found".
    if end_given && !bit && pos == bytes << 3 {
        return out.int(-1);
    }
    out.int(if pos != -1 { pos + (start << 3) } else { pos });
}

// ---------------------------------------------------------------------------------------
// BITOP.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
fn bitop(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let name = &argv[1][..];
    let op = if kw(name, b"and") {
        BitOp::And
    } else if kw(name, b"or") {
        BitOp::Or
    } else if kw(name, b"xor") {
        BitOp::Xor
    } else if kw(name, b"not") {
        BitOp::Not
    } else {
        return ctx.syntax_error();
    };
    if op == BitOp::Not && argv.len() != 4 {
        return ctx.out.error("BITOP NOT must be called with a single source key.");
    }
    let srckeys = &argv[3..];
    let mut held = Vec::with_capacity(srckeys.len());
    for k in srckeys {
        let h = lookup_held(ctx, k);
        if h == Held::Other {
            return ctx.out.error(err::WRONGTYPE);
        }
        held.push(h);
    }
    let db = ctx.db();
    let res = {
        let store = &*ctx.store;
        let srcs: Vec<Cow<'_, [u8]>> = srckeys
            .iter()
            .zip(&held)
            .map(|(k, h)| match h {
                Held::Str => peek_string(store, db, k),
                _ => Cow::Borrowed(&[][..]),
            })
            .collect();
        let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut res = vec![0u8; maxlen];
        if maxlen > 0 {
            res[..srcs[0].len()].copy_from_slice(&srcs[0]);
            match op {
                BitOp::Not => res.iter_mut().for_each(|b| *b = !*b),
                BitOp::And => {
                    for s in &srcs[1..] {
                        res.iter_mut().zip(s.iter()).for_each(|(r, b)| *r &= b);
                        res[s.len()..].iter_mut().for_each(|r| *r = 0);
                    }
                }
                BitOp::Or => {
                    for s in &srcs[1..] {
                        res.iter_mut().zip(s.iter()).for_each(|(r, b)| *r |= b);
                    }
                }
                BitOp::Xor => {
                    for s in &srcs[1..] {
                        res.iter_mut().zip(s.iter()).for_each(|(r, b)| *r ^= b);
                    }
                }
            }
        }
        res
    };
    let target = &argv[2][..];
    let len = res.len();
    if len > 0 {
        set_value(ctx, target, Value::Str(RStr::Raw(res)), false);
        ctx.store.notify(notify::STRING, "set", target, db);
        ctx.dirty(1);
    } else if ctx.store.dbs[db].remove(target).is_some() {
        // Redis's dbDelete: no expiry check, an expired destination counts as deleted.
        ctx.store.watch.touch_deleted(db, target);
        ctx.store.notify(notify::GENERIC, "del", target, db);
        ctx.dirty(1);
    }
    ctx.out.int(len as i64);
}

// ---------------------------------------------------------------------------------------
// BITFIELD, BITFIELD_RO.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum FieldOpKind {
    Get,
    Set,
    IncrBy,
}

/// One BITFIELD operation.
#[derive(Clone, Copy)]
struct FieldOp {
    offset: u64,
    value: i64,
    kind: FieldOpKind,
    owtype: u8,
    bits: u32,
    signed: bool,
}

/// Redis's `getBitfieldTypeFromArgument`: i1..i64 or u1..u63. None after replying.
fn bitfield_type(ctx: &mut Ctx, a: &[u8]) -> Option<(bool, u32)> {
    const ERR_TYPE: &str =
        "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    let signed = match a.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => {
            ctx.out.error(ERR_TYPE);
            return None;
        }
    };
    // Redis parses the width with strlen(): it stops at a NUL byte.
    match string2ll(cstr(&a[1..])) {
        Some(n) if n >= 1 && ((signed && n <= 64) || (!signed && n <= 63)) => Some((signed, n as u32)),
        _ => {
            ctx.out.error(ERR_TYPE);
            None
        }
    }
}

/// Replies one GET operation reading from `p` (zero padded past its end).
fn bitfield_get(out: &mut Reply, p: &[u8], op: &FieldOp) {
    if op.signed {
        out.int(get_signed_bitfield(p, op.offset, op.bits));
    } else {
        out.int(get_unsigned_bitfield(p, op.offset, op.bits) as i64);
    }
}

/// Applies every operation to `p` (long enough for all writes), replying each result.
/// Returns the number of changes, counted as Redis counts them.
fn bitfield_apply(out: &mut Reply, p: &mut [u8], ops: &[FieldOp], grown: bool) -> u64 {
    let mut changes = 0;
    for op in ops {
        match op.kind {
            FieldOpKind::Get => bitfield_get(out, p, op),
            FieldOpKind::Set | FieldOpKind::IncrBy => {
                if op.signed {
                    let old = get_signed_bitfield(p, op.offset, op.bits);
                    let mut wrapped = 0i64;
                    let (new, ret, overflow);
                    if op.kind == FieldOpKind::IncrBy {
                        overflow = check_signed_overflow(old, op.value, op.bits, op.owtype, &mut wrapped) != 0;
                        new = if overflow { wrapped } else { old.wrapping_add(op.value) };
                        ret = new;
                    } else {
                        overflow = check_signed_overflow(op.value, 0, op.bits, op.owtype, &mut wrapped) != 0;
                        new = if overflow { wrapped } else { op.value };
                        ret = old;
                    }
                    if overflow && op.owtype == OW_FAIL {
                        out.null();
                    } else {
                        out.int(ret);
                        set_unsigned_bitfield(p, op.offset, op.bits, new as u64);
                        if grown || old != new {
                            changes += 1;
                        }
                    }
                } else {
                    let old = get_unsigned_bitfield(p, op.offset, op.bits);
                    let mut wrapped = 0u64;
                    let (new, ret, overflow);
                    if op.kind == FieldOpKind::IncrBy {
                        overflow = check_unsigned_overflow(old, op.value, op.bits, op.owtype, &mut wrapped) != 0;
                        new = if overflow { wrapped } else { old.wrapping_add(op.value as u64) };
                        ret = new;
                    } else {
                        overflow = check_unsigned_overflow(op.value as u64, 0, op.bits, op.owtype, &mut wrapped) != 0;
                        new = if overflow { wrapped } else { op.value as u64 };
                        ret = old;
                    }
                    if overflow && op.owtype == OW_FAIL {
                        out.null();
                    } else {
                        out.int(ret as i64);
                        set_unsigned_bitfield(p, op.offset, op.bits, new);
                        if grown || old != new {
                            changes += 1;
                        }
                    }
                }
            }
        }
    }
    changes
}

fn bitfield(ctx: &mut Ctx) {
    bitfield_generic(ctx, false);
}

fn bitfield_ro(ctx: &mut Ctx) {
    bitfield_generic(ctx, true);
}

/// Redis's `bitfieldGeneric`: every operation is parsed (and validated) before any runs.
fn bitfield_generic(ctx: &mut Ctx, ro_cmd: bool) {
    let argv = ctx.argv;
    let key = &argv[1][..];
    let mut ops: Vec<FieldOp> = Vec::new();
    let mut owtype = OW_WRAP;
    let mut readonly = true;
    let mut highest_write: u64 = 0;
    let mut j = 2;
    while j < argv.len() {
        let remargs = argv.len() - j - 1;
        let sub = &argv[j][..];
        let kind = if kw(sub, b"get") && remargs >= 2 {
            FieldOpKind::Get
        } else if kw(sub, b"set") && remargs >= 3 {
            FieldOpKind::Set
        } else if kw(sub, b"incrby") && remargs >= 3 {
            FieldOpKind::IncrBy
        } else if kw(sub, b"overflow") && remargs >= 1 {
            let t = &argv[j + 1][..];
            owtype = if kw(t, b"wrap") {
                OW_WRAP
            } else if kw(t, b"sat") {
                OW_SAT
            } else if kw(t, b"fail") {
                OW_FAIL
            } else {
                return ctx.out.error("Invalid OVERFLOW type specified");
            };
            j += 2;
            continue;
        } else {
            return ctx.syntax_error();
        };
        let Some((signed, bits)) = bitfield_type(ctx, &argv[j + 1]) else { return };
        let Some(offset) = bit_offset(ctx, &argv[j + 2], true, bits) else { return };
        let mut value = 0;
        if kind != FieldOpKind::Get {
            readonly = false;
            highest_write = highest_write.max(offset + bits as u64 - 1);
            let Some(v) = arg_i64(ctx, &argv[j + 3]) else { return };
            value = v;
        }
        ops.push(FieldOp { offset, value, kind, owtype, bits, signed });
        j += if kind == FieldOpKind::Get { 3 } else { 4 };
    }

    if readonly {
        let held = lookup_held(ctx, key);
        if held == Held::Other {
            return ctx.out.error(err::WRONGTYPE);
        }
        let db = ctx.db();
        let p = if held == Held::Str { peek_string(ctx.store, db, key) } else { Cow::Borrowed(&[][..]) };
        ctx.out.array(ops.len());
        for op in &ops {
            bitfield_get(ctx.out, &p, op);
        }
        return;
    }
    if ro_cmd {
        return ctx.out.error("BITFIELD_RO only supports the GET subcommand");
    }
    let db = ctx.db();
    let nops = ops.len();
    let out = &mut *ctx.out;
    let r = ctx.store.change_in_place(db, key, ctx.now_ms, ctx.mvcc, |e| {
        let Some((v, grown)) = bit_buffer(e, highest_write) else { return (false, None) };
        out.array(nops);
        let changes = bitfield_apply(out, v, &ops, grown);
        // Growth alone (every write failed) changes the value too: Redis keeps it
        // silent, here it is stamped and reaches the write stream.
        (changes > 0 || grown, Some((changes, grown)))
    });
    match r {
        Some(Some((changes, grown))) => {
            if changes > 0 {
                ctx.store.notify(notify::STRING, "setbit", key, db);
            }
            if changes > 0 || grown {
                ctx.dirty(changes.max(1));
            }
        }
        Some(None) => ctx.out.error(err::WRONGTYPE),
        None => {
            let mut v = vec![0u8; (highest_write >> 3) as usize + 1];
            ctx.out.array(nops);
            let changes = bitfield_apply(ctx.out, &mut v, &ops, true);
            // Redis creates the key even when every write fails (OVERFLOW FAIL); here that
            // creation is a write too, so it reaches the write stream and replicas.
            ctx.store.set_key(db, key, Value::Str(RStr::Raw(v)), ctx.mvcc, false);
            if changes > 0 {
                ctx.store.notify(notify::STRING, "setbit", key, db);
            }
            ctx.dirty(changes.max(1));
        }
    }
}
