//! Number parsing and formatting, exact ports of the Redis 7.0 helpers in
//! src/util.c (`string2ll`, `string2l`, `ll2string`, `string2d`,
//! `double2ll`, `d2string`, `fixedpoint_d2string`) and of the double
//! formatting done by `addReplyDouble()` / `addReplyHumanLongDouble()` in
//! src/networking.c.
//!
//! Redis is strict about what it accepts as a number, and clients (and the
//! Redis test suite) observe the exact byte output of every float it prints,
//! so none of these can be replaced by Rust's `str::parse` / `Display`.
//!
//! The `long double` side (INCRBYFLOAT, HINCRBYFLOAT) lives in
//! [`crate::util::ldouble`].

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

/// Redis `LONG_STR_SIZE`: inputs of this many bytes or more are never valid
/// integers for [`string2ll`].
pub const LONG_STR_SIZE: usize = 21;

/// Strict string -> `i64` conversion, exact port of Redis 7.0 `string2ll()`.
///
/// Why: it is how Redis parses every integer argument (INCRBY, EXPIRE, LRANGE
/// indexes, ...) via `getLongLongFromObject()`, and how it decides whether a
/// string value can be stored with the compact integer encoding. Accepts only
/// the canonical decimal form: optional `-`, no `+`, no spaces, no leading
/// zeros (except `"0"` itself; `"-0"` is rejected), no overflow, and at most
/// 20 bytes. Anything accepted round-trips byte-for-byte through
/// [`ll2string`]. `None` means "ERR value is not an integer or out of range".
pub fn string2ll(s: &[u8]) -> Option<i64> {
    let slen = s.len();
    // A string of zero length or excessive length is not a valid number.
    if slen == 0 || slen >= LONG_STR_SIZE {
        return None;
    }
    // Special case: first and only digit is 0.
    if slen == 1 && s[0] == b'0' {
        return Some(0);
    }
    let mut p = 0usize;
    let negative = s[0] == b'-';
    if negative {
        p += 1;
        if p == slen {
            return None; // only a negative sign
        }
    }
    // First digit should be 1-9, otherwise the string should just be 0.
    let mut v: u64 = match s[p] {
        c @ b'1'..=b'9' => (c - b'0') as u64,
        _ => return None,
    };
    p += 1;
    while p < slen && s[p].is_ascii_digit() {
        v = v.checked_mul(10)?;
        v = v.checked_add((s[p] - b'0') as u64)?;
        p += 1;
    }
    // Not all bytes were used.
    if p < slen {
        return None;
    }
    if negative {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        if v > i64::MAX as u64 {
            return None;
        }
        Some(v as i64)
    }
}

/// Port of Redis `string2l()`: [`string2ll`] restricted to the C `long`
/// range. fluidB only targets LP64 platforms (Linux/macOS on 64-bit CPUs),
/// where `long` is 64 bits, so this is exactly [`string2ll`]; it exists so
/// ported call sites (e.g. `getLongFromObjectOrReply`) read like the
/// original.
pub fn string2l(s: &[u8]) -> Option<i64> {
    string2ll(s)
}

/// Decimal representation of an `i64`, as Redis `ll2string()` produces it
/// (shortest form, `-` for negatives, `i64::MIN` handled).
///
/// Why: integer replies, integer-encoded string values (GET on a value set
/// from an integer), INCR results and RDB/AOF rewriting all use this exact
/// form; it is the inverse of [`string2ll`].
pub fn ll2string(v: i64) -> Vec<u8> {
    let mut buf = itoa::Buffer::new();
    buf.format(v).as_bytes().to_vec()
}

/// Appends the [`ll2string`] form of `v` to `out` without an intermediate
/// allocation (for reply builders).
pub fn ll2string_into(out: &mut Vec<u8>, v: i64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

/// Port of Redis `digits10()`/`sdigits10()`: number of bytes of
/// [`ll2string`]`(v)`. Used by Redis e.g. for STRLEN of integer-encoded
/// values and to pre-size protocol headers.
pub fn sdigits10(v: i64) -> usize {
    let mut n = if v < 0 { 1 } else { 0 };
    let mut u = v.unsigned_abs();
    loop {
        n += 1;
        u /= 10;
        if u == 0 {
            return n;
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "emscripten"))]
fn errno_location() -> *mut c_int {
    // SAFETY: always returns a valid thread-local pointer.
    unsafe { libc::__errno_location() }
}

#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd", target_os = "dragonfly"))]
fn errno_location() -> *mut c_int {
    // SAFETY: always returns a valid thread-local pointer.
    unsafe { libc::__error() }
}

/// Calls C `strtod()` on `s` (which must not contain NUL) and returns
/// `(value, bytes consumed, errno)`.
pub fn c_strtod(s: &[u8]) -> (f64, usize, c_int) {
    let mut stack = [0u8; 128];
    let mut heap;
    let buf: &[u8] = if s.len() < stack.len() {
        stack[..s.len()].copy_from_slice(s);
        &stack[..=s.len()]
    } else {
        heap = Vec::with_capacity(s.len() + 1);
        heap.extend_from_slice(s);
        heap.push(0);
        &heap
    };
    let start = buf.as_ptr() as *const c_char;
    let mut end: *mut c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated; strtod only reads up to the NUL and
    // stores a pointer into `buf` in `end`. errno is thread-local.
    unsafe {
        *errno_location() = 0;
        let v = libc::strtod(start, &mut end);
        let err = *errno_location();
        let consumed = if end.is_null() { 0 } else { (end as usize).saturating_sub(start as usize) };
        (v, consumed, err)
    }
}

/// C `isspace()` in the "C" locale.
#[inline]
pub(crate) fn c_isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Strict string -> `f64` conversion, exact port of Redis 7.0 `string2d()`
/// (the parser behind `getDoubleFromObject()`).
///
/// Why: this is how Redis parses sorted-set scores (ZADD, ZINCRBY,
/// ZRANGEBYSCORE bounds after the `(` prefix is stripped...), and its
/// accepted language is `strtod()`'s: optional sign (`+` allowed), decimal
/// or hexadecimal (`0x1p3`) floats, `inf`/`infinity` in any case. Rejected:
/// empty input, a leading white-space byte, any trailing byte (including
/// white space and embedded NULs), overflow (`1e400`), underflow to zero
/// (`1e-400`; subnormal results like `1e-310` are accepted), and NaN.
/// `None` means "ERR value is not a valid float" (or the caller's message).
pub fn string2d(s: &[u8]) -> Option<f64> {
    if s.is_empty() || c_isspace(s[0]) || s.contains(&0) {
        return None;
    }
    let (v, consumed, err) = c_strtod(s);
    if consumed != s.len() || (err == libc::ERANGE && (v.is_infinite() || v == 0.0)) || v.is_nan() {
        return None;
    }
    Some(v)
}

/// Port of Redis `double2ll()`: returns the value as `i64` when `d` is
/// integral and within `[-(2^62), 2^62]` (Redis's `LLONG_MAX/2` bounds).
///
/// Why: Redis uses it to decide whether a score is stored in a listpack as
/// an integer and whether [`d2string`] prints it as an integer; the bounds
/// are therefore observable (e.g. ZSCAN of a small zset prints `1e17` as
/// `100000000000000000`).
pub fn double2ll(d: f64) -> Option<i64> {
    let lim = (i64::MAX / 2) as f64; // == 2^62 after rounding, as in C.
    if d < -lim || d > lim || d.is_nan() {
        return None;
    }
    let ll = d as i64;
    if ll as f64 == d {
        Some(ll)
    } else {
        None
    }
}

/// C `snprintf(buf, n, fmt, value)` for a single double argument, returning
/// the formatted bytes.
fn snprintf_double(fmt: &CStr, value: f64) -> Vec<u8> {
    let mut buf = [0u8; 512];
    // SAFETY: the format string contains exactly one double conversion; the
    // buffer size passed is the real buffer size.
    let n = unsafe { libc::snprintf(buf.as_mut_ptr() as *mut c_char, buf.len(), fmt.as_ptr(), value) };
    if n < 0 {
        return Vec::new();
    }
    let n = n as usize;
    if n < buf.len() {
        return buf[..n].to_vec();
    }
    // Output longer than the stack buffer (only "%.17f" of huge values).
    let mut big = vec![0u8; n + 1];
    // SAFETY: as above, with a buffer of the exact required size.
    let n2 = unsafe { libc::snprintf(big.as_mut_ptr() as *mut c_char, big.len(), fmt.as_ptr(), value) };
    if n2 < 0 {
        return Vec::new();
    }
    big.truncate((n2 as usize).min(n));
    big
}

/// The C `"%.17g"` rendering of `d` (glibc: `inf`, `-inf`, `nan`, `-nan`).
///
/// Why: Redis 7.0 prints doubles with `%.17g` (not shortest round-trip):
/// `0.1` is `0.10000000000000001`, `1e17` is `1e+17`. Used by the sorted-set
/// DEBUG DIGEST element digests and underlies [`fmt_double_reply`].
pub fn fmt_g17(d: f64) -> Vec<u8> {
    snprintf_double(c"%.17g", d)
}

/// Exact port of Redis 7.0 `d2string()`.
///
/// Why: Redis uses it to store non-integral sorted-set scores inside
/// listpack-encoded zsets (see [`zset_listpack_score_repr`]; visible through
/// ZSCAN and DUMP payloads) and in the module API
/// (`RM_CreateStringFromDouble`). Rules: `nan`, `inf`, `-inf`; zero as `0` or `-0`;
/// integral values within [`double2ll`] bounds printed as integers; anything
/// else `%.17g`.
pub fn d2string(value: f64) -> Vec<u8> {
    if value.is_nan() {
        b"nan".to_vec()
    } else if value.is_infinite() {
        if value < 0.0 {
            b"-inf".to_vec()
        } else {
            b"inf".to_vec()
        }
    } else if value == 0.0 {
        if value.is_sign_negative() {
            b"-0".to_vec()
        } else {
            b"0".to_vec()
        }
    } else if let Some(l) = double2ll(value) {
        ll2string(l)
    } else {
        fmt_g17(value)
    }
}

/// How Redis 7.0 stores a score inside a listpack-encoded sorted set
/// (`zzlInsertAt()`): as an integer when [`double2ll`] succeeds (so `-0.0`
/// becomes `0` and `1e17` becomes `100000000000000000`), otherwise as
/// [`d2string`].
///
/// Why: ZSCAN on a small (listpack) sorted set returns these stored bytes
/// rather than reformatting the double (ZRANDMEMBER WITHSCORES, ZRANGE,
/// ZSCORE... reparse and use [`fmt_double_reply`]).
pub fn zset_listpack_score_repr(score: f64) -> Vec<u8> {
    match double2ll(score) {
        Some(l) => ll2string(l),
        None => d2string(score),
    }
}

/// Body of a double reply, exactly as Redis 7.0 `addReplyDouble()` writes it
/// (without framing): `inf` / `-inf` for infinities, otherwise `%.17g`
/// (so `-0.0` is `-0`, a NaN is `nan` or `-nan`, `3.0` is `3`, `0.1` is
/// `0.10000000000000001`). The same body is used for RESP2 (as a bulk
/// string) and RESP3 (as a `,` double).
///
/// Why: ZSCORE, ZINCRBY, ZMSCORE, ZRANGE WITHSCORES, ZRANDMEMBER WITHSCORES,
/// ZADD INCR, ... all reply through `addReplyDouble()` (GEODIST does not: see
/// [`fixedpoint_d2string`]). Note: no integer shortcut here, unlike [`d2string`]:
/// `ZSCORE` of `1e17` is `1e+17`. ZSCAN of a *hashtable*-encoded zset uses
/// `"%.17Lg"` of the score widened to long double, which prints the same
/// bytes as this function.
pub fn fmt_double_reply(d: f64) -> Vec<u8> {
    if d.is_infinite() {
        if d > 0.0 {
            b"inf".to_vec()
        } else {
            b"-inf".to_vec()
        }
    } else {
        fmt_g17(d)
    }
}

/// Complete RESP2 frame for a double reply: `$<len>\r\n<body>\r\n`, where
/// body is [`fmt_double_reply`].
pub fn fmt_double_resp2(d: f64) -> Vec<u8> {
    let body = fmt_double_reply(d);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.push(b'$');
    ll2string_into(&mut out, body.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\r\n");
    out
}

/// Complete RESP3 frame for a double reply, as `addReplyDouble()` writes it
/// for RESP3 clients: `,inf\r\n`, `,-inf\r\n`, otherwise `,<%.17g>\r\n`
/// (e.g. `,1.5\r\n`, `,0.10000000000000001\r\n`, `,nan\r\n`).
pub fn fmt_double_resp3(d: f64) -> Vec<u8> {
    let body = fmt_double_reply(d);
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(b',');
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\r\n");
    out
}

/// "Human" rendering of a double, as `addReplyHumanLongDouble()` /
/// `ld2string(..., LD_STR_HUMAN)` print it: `%.17Lf` (fixed point, never an
/// exponent), trailing zeros and a trailing dot removed, `-0` turned into
/// `0`, `inf`/`-inf` for infinities.
///
/// Why: GEOPOS and GEOSEARCH/GEORADIUS `WITHCOORD` reply coordinates this
/// way (e.g. `13.36138933897018433`). Widening an `f64` to long double is
/// exact and glibc prints exact binary values, so `%.17f` on the `f64` gives
/// the same bytes as Redis's `%.17Lf` on the widened value (checked in the
/// ldouble tests). For INCRBYFLOAT / HINCRBYFLOAT, whose arithmetic is done
/// in long double, use [`crate::util::ldouble::incrbyfloat`] instead.
pub fn fmt_human_double(d: f64) -> Vec<u8> {
    if d.is_infinite() {
        return if d > 0.0 { b"inf".to_vec() } else { b"-inf".to_vec() };
    }
    let mut buf = snprintf_double(c"%.17f", d);
    if buf.contains(&b'.') {
        while buf.last() == Some(&b'0') {
            buf.pop();
        }
        if buf.last() == Some(&b'.') {
            buf.pop();
        }
    }
    if buf == b"-0" {
        buf = b"0".to_vec();
    }
    buf
}

/// Port of Redis 7.0 `fixedpoint_d2string()`: `d` rendered with exactly
/// `fractional_digits` (1..=17) digits after the dot, like `"%.<n>f"` but
/// computed as `llrint(d * 10^n)` (round half to even on the scaled value).
/// Returns `None` for an out-of-range digit count.
///
/// Why: GEODIST and `WITHDIST` replies use it with 4 digits
/// (`addReplyDoubleDistance()`), and the rounding of the scaled integer can
/// differ from `%.4f` in the last digit.
///
/// Note: Redis's digit loop writes two digits at a time and, for an *odd*
/// `fractional_digits` with a scaled value of 10 or more, overwrites the dot
/// and leaves the first byte unwritten (garbage). Redis itself only ever
/// calls it with 4 digits, for which this port is byte-exact; for odd counts
/// this port returns the intended `%.<n>f`-like text.
pub fn fixedpoint_d2string(d: f64, fractional_digits: u32) -> Option<Vec<u8>> {
    if !(1..=17).contains(&fractional_digits) {
        return None;
    }
    let fd = fractional_digits as usize;
    if d == 0.0 {
        let mut out = b"0.".to_vec();
        out.extend(std::iter::repeat_n(b'0', fd));
        return Some(out);
    }
    const POW10: [f64; 18] = [
        1.0,
        10.0,
        100.0,
        1000.0,
        10000.0,
        100000.0,
        1000000.0,
        10000000.0,
        100000000.0,
        1000000000.0,
        10000000000.0,
        100000000000.0,
        1000000000000.0,
        10000000000000.0,
        100000000000000.0,
        1000000000000000.0,
        10000000000000000.0,
        100000000000000000.0,
    ];
    let scaled = d * POW10[fd];
    // llrint(): round to nearest, ties to even (default FP rounding mode).
    // Out of range / non-finite gives the x86_64 "integer indefinite" value.
    let r = scaled.round_ties_even();
    let lim = i64::MAX as f64; // 2^63
    let svalue: i64 = if (-lim..lim).contains(&r) { r as i64 } else { i64::MIN };
    let negative = svalue < 0;
    let value = svalue.unsigned_abs();
    let digits = value.to_string().into_bytes();
    let mut out = Vec::with_capacity(digits.len() + fd + 3);
    if negative {
        out.push(b'-');
    }
    if digits.len() <= fd {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', fd - digits.len()));
        out.extend_from_slice(&digits);
    } else {
        let int_len = digits.len() - fd;
        out.extend_from_slice(&digits[..int_len]);
        out.push(b'.');
        out.extend_from_slice(&digits[int_len..]);
    }
    Some(out)
}

#[cfg(test)]
// Literals below are copied verbatim from Redis tests / replies.
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn string2ll_redis_unit_tests() {
        // The cases of test_string2ll() in Redis 7.0 src/util.c.
        assert_eq!(string2ll(b"+1"), None);
        assert_eq!(string2ll(b" 1"), None);
        assert_eq!(string2ll(b"1 "), None);
        assert_eq!(string2ll(b"01"), None);
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"1"), Some(1));
        assert_eq!(string2ll(b"99"), Some(99));
        assert_eq!(string2ll(b"-99"), Some(-99));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(string2ll(b"-9223372036854775809"), None);
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"9223372036854775808"), None);
    }

    #[test]
    fn string2ll_more() {
        assert_eq!(string2ll(b""), None);
        assert_eq!(string2ll(b"-"), None);
        assert_eq!(string2ll(b"-0"), None);
        assert_eq!(string2ll(b"00"), None);
        assert_eq!(string2ll(b"1a"), None);
        assert_eq!(string2ll(b"1\0"), None);
        assert_eq!(string2ll(b"1.0"), None);
        assert_eq!(string2ll(b"1e3"), None);
        assert_eq!(string2ll(b"0x10"), None);
        assert_eq!(string2ll(b"--1"), None);
        assert_eq!(string2ll(b"18446744073709551615"), None);
        assert_eq!(string2ll(b"18446744073709551616"), None);
        assert_eq!(string2ll(b"99999999999999999999"), None);
        // 21 bytes is over the length limit even if it would fit otherwise.
        assert_eq!(string2ll(b"-00000000000000000001"), None);
        assert_eq!(string2ll(b"12345678901234567890"), None);
        assert_eq!(string2ll(b"1234567890123456789"), Some(1234567890123456789));
        assert_eq!(string2l(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(string2l(b"abc"), None);
    }

    #[test]
    fn ll2string_cases() {
        // test_ll2string() in Redis 7.0 src/util.c.
        assert_eq!(ll2string(0), b"0");
        assert_eq!(ll2string(-1), b"-1");
        assert_eq!(ll2string(99), b"99");
        assert_eq!(ll2string(-99), b"-99");
        assert_eq!(ll2string(i64::MIN), b"-9223372036854775808");
        assert_eq!(ll2string(i64::MAX), b"9223372036854775807");
        let mut v = b"x".to_vec();
        ll2string_into(&mut v, -42);
        assert_eq!(v, b"x-42");
        for n in [0i64, 9, 10, -9, -10, 12345, i64::MIN, i64::MAX] {
            assert_eq!(sdigits10(n), ll2string(n).len());
        }
    }

    #[test]
    fn string2d_cases() {
        // Verified with `ZADD z <s> m` / `ZSCORE z m` on redis-server 7.0.15.
        assert_eq!(string2d(b"1.5"), Some(1.5));
        assert_eq!(string2d(b"+5"), Some(5.0));
        assert_eq!(string2d(b"-0"), Some(-0.0));
        assert_eq!(string2d(b"0x10"), Some(16.0));
        assert_eq!(string2d(b"0x1p3"), Some(8.0));
        assert_eq!(string2d(b"inf"), Some(f64::INFINITY));
        assert_eq!(string2d(b"INF"), Some(f64::INFINITY));
        assert_eq!(string2d(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(string2d(b"+inf"), Some(f64::INFINITY));
        assert_eq!(string2d(b".5"), Some(0.5));
        assert_eq!(string2d(b"5."), Some(5.0));
        assert_eq!(string2d(b"1e-310"), Some(1e-310)); // subnormal is fine
        assert_eq!(string2d(b"1e308"), Some(1e308));
        assert_eq!(string2d(b"nan"), None);
        assert_eq!(string2d(b"NaN"), None);
        assert_eq!(string2d(b"-nan"), None);
        assert_eq!(string2d(b"1e400"), None); // overflow
        assert_eq!(string2d(b"-1e400"), None);
        assert_eq!(string2d(b"1e-400"), None); // underflow to zero
        assert_eq!(string2d(b"0e-400"), Some(0.0)); // exact zero: no ERANGE
        assert_eq!(string2d(b""), None);
        assert_eq!(string2d(b" 1"), None);
        assert_eq!(string2d(b"\t1"), None);
        assert_eq!(string2d(b"1 "), None);
        assert_eq!(string2d(b"1\0"), None);
        assert_eq!(string2d(b"1abc"), None);
        assert_eq!(string2d(b"abc"), None);
        assert_eq!(string2d(b"-"), None);
        assert_eq!(string2d(b"."), None);
        assert_eq!(string2d(b"e5"), None);
        let long = format!("1{}", "0".repeat(300));
        assert_eq!(string2d(long.as_bytes()), Some(1e300));
    }

    #[test]
    fn double2ll_bounds() {
        assert_eq!(double2ll(1.0), Some(1));
        assert_eq!(double2ll(-1.0), Some(-1));
        assert_eq!(double2ll(1.5), None);
        assert_eq!(double2ll(4611686018427387904.0), Some(1 << 62));
        assert_eq!(double2ll(-4611686018427387904.0), Some(-(1 << 62)));
        assert_eq!(double2ll(4611686018427387904.0 * 2.0), None);
        assert_eq!(double2ll(f64::NAN), None);
        assert_eq!(double2ll(f64::INFINITY), None);
    }

    #[test]
    fn d2string_cases() {
        // Values observed with ZADD on a listpack zset + ZSCAN on
        // redis-server 7.0.15 (the listpack stores d2string / integers).
        assert_eq!(d2string(1e17), b"100000000000000000");
        assert_eq!(d2string(4611686018427387904.0), b"4611686018427387904");
        assert_eq!(d2string(1e18), b"1000000000000000000");
        assert_eq!(d2string(1e19), b"1e+19");
        assert_eq!(d2string(0.1), b"0.10000000000000001");
        assert_eq!(d2string(1.5), b"1.5");
        assert_eq!(d2string(-2.0), b"-2");
        assert_eq!(d2string(0.0), b"0");
        assert_eq!(d2string(-0.0), b"-0");
        assert_eq!(d2string(f64::NAN), b"nan");
        assert_eq!(d2string(f64::INFINITY), b"inf");
        assert_eq!(d2string(f64::NEG_INFINITY), b"-inf");
        assert_eq!(d2string(1e308), b"1e+308");
        assert_eq!(d2string(1e-310), b"9.9999999999999694e-311");
        assert_eq!(d2string(123456.789), b"123456.789");
        assert_eq!(d2string(1.0 / 3.0), b"0.33333333333333331");
    }

    #[test]
    fn double_reply_cases() {
        // ZSCORE outputs observed on redis-server 7.0.15.
        assert_eq!(fmt_double_reply(1e17), b"1e+17");
        assert_eq!(fmt_double_reply(1e15), b"1000000000000000");
        assert_eq!(fmt_double_reply(9007199254740992.0), b"9007199254740992");
        assert_eq!(fmt_double_reply(4611686018427387904.0), b"4.6116860184273879e+18");
        assert_eq!(fmt_double_reply(123456789012345678.0), b"1.2345678901234568e+17");
        assert_eq!(fmt_double_reply(0.1), b"0.10000000000000001");
        assert_eq!(fmt_double_reply(1.5), b"1.5");
        assert_eq!(fmt_double_reply(-0.0), b"-0");
        assert_eq!(fmt_double_reply(1e308), b"1e+308");
        assert_eq!(fmt_double_reply(1e-310), b"9.9999999999999694e-311");
        assert_eq!(fmt_double_reply(f64::INFINITY), b"inf");
        assert_eq!(fmt_double_reply(f64::NEG_INFINITY), b"-inf");
        assert_eq!(fmt_double_reply(f64::NAN), b"nan");
        assert_eq!(fmt_double_reply(-f64::NAN), b"-nan");
        assert_eq!(fmt_double_resp2(1.5), b"$3\r\n1.5\r\n");
        assert_eq!(fmt_double_resp2(0.1), b"$19\r\n0.10000000000000001\r\n");
        assert_eq!(fmt_double_resp2(f64::NEG_INFINITY), b"$4\r\n-inf\r\n");
        assert_eq!(fmt_double_resp3(1.5), b",1.5\r\n");
        assert_eq!(fmt_double_resp3(f64::INFINITY), b",inf\r\n");
        assert_eq!(fmt_double_resp3(f64::NEG_INFINITY), b",-inf\r\n");
        assert_eq!(fmt_double_resp3(3.0), b",3\r\n");
    }

    #[test]
    fn human_double_cases() {
        assert_eq!(fmt_human_double(13.361389338970184), b"13.36138933897018433");
        assert_eq!(fmt_human_double(38.115556395496299), b"38.11555639549629859");
        assert_eq!(fmt_human_double(1.0), b"1");
        assert_eq!(fmt_human_double(-0.0), b"0");
        assert_eq!(fmt_human_double(0.5), b"0.5");
        assert_eq!(fmt_human_double(-1e-30), b"0");
        assert_eq!(fmt_human_double(1e20), b"100000000000000000000");
        assert_eq!(fmt_human_double(f64::INFINITY), b"inf");
        assert_eq!(fmt_human_double(f64::NEG_INFINITY), b"-inf");
        assert_eq!(fmt_human_double(f64::MAX).len(), 309);
    }

    #[test]
    fn fixedpoint_cases() {
        // test_fixedpoint_d2string() in Redis 7.0 src/util.c.
        assert_eq!(fixedpoint_d2string(0.0, 4).unwrap(), b"0.0000");
        assert_eq!(fixedpoint_d2string(0.0, 1).unwrap(), b"0.0");
        assert_eq!(fixedpoint_d2string(0.0001, 4).unwrap(), b"0.0001");
        assert_eq!(fixedpoint_d2string(6.0642951598391699e-05, 4).unwrap(), b"0.0001");
        assert_eq!(fixedpoint_d2string(0.01, 4).unwrap(), b"0.0100");
        assert_eq!(fixedpoint_d2string(0.01, 1).unwrap(), b"0.0");
        assert_eq!(fixedpoint_d2string(-0.01, 4).unwrap(), b"-0.0100");
        assert_eq!(fixedpoint_d2string(-0.1, 1).unwrap(), b"-0.1");
        assert_eq!(fixedpoint_d2string(0.1, 1).unwrap(), b"0.1");
        assert_eq!(fixedpoint_d2string(0.01, 17).unwrap(), b"0.01000000000000000");
        assert_eq!(fixedpoint_d2string(10.01, 4).unwrap(), b"10.0100");
        assert_eq!(fixedpoint_d2string(10.01, 18), None);
        assert_eq!(fixedpoint_d2string(10.01, 0), None);
        // More 4-digit values (the only precision Redis uses: GEODIST).
        assert_eq!(fixedpoint_d2string(1.0, 4).unwrap(), b"1.0000");
        assert_eq!(fixedpoint_d2string(166274.1516, 4).unwrap(), b"166274.1516");
        assert_eq!(fixedpoint_d2string(100.1234, 4).unwrap(), b"100.1234");
        assert_eq!(fixedpoint_d2string(1.2345, 4).unwrap(), b"1.2345");
        assert_eq!(fixedpoint_d2string(0.1234, 4).unwrap(), b"0.1234");
        assert_eq!(fixedpoint_d2string(-0.00001, 4).unwrap(), b"0.0000");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = string2ll(&s);
            let _ = string2l(&s);
            let _ = string2d(&s);
        }

        #[test]
        fn string2ll_roundtrip(v in any::<i64>()) {
            prop_assert_eq!(string2ll(&ll2string(v)), Some(v));
        }

        #[test]
        fn string2ll_accepts_only_canonical(s in "-?[0-9]{0,21}") {
            if let Some(v) = string2ll(s.as_bytes()) {
                prop_assert_eq!(ll2string(v), s.as_bytes().to_vec());
            }
        }

        #[test]
        fn d2string_roundtrips_through_string2d(bits in any::<u64>()) {
            let d = f64::from_bits(bits);
            let s = d2string(d);
            if d.is_nan() {
                prop_assert_eq!(string2d(&s), None);
            } else {
                let back = string2d(&s).unwrap();
                prop_assert_eq!(back.to_bits(), d.to_bits());
            }
        }

        #[test]
        fn formatters_never_panic(bits in any::<u64>(), n in 0u32..20) {
            let d = f64::from_bits(bits);
            let _ = fmt_double_reply(d);
            let _ = fmt_double_resp3(d);
            let _ = fmt_human_double(d);
            let _ = fixedpoint_d2string(d, n);
        }
    }
}
