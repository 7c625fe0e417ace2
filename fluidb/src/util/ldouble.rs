//! `long double` arithmetic for INCRBYFLOAT and HINCRBYFLOAT.
//!
//! Redis 7.0 parses the current value and the increment with `string2ld()`
//! (a strict `strtold()`), adds them as C `long double` (80-bit x87 extended
//! precision on x86_64) and formats the result with
//! `ld2string(..., LD_STR_HUMAN)` (`"%.17Lf"`, trailing zeros and dot
//! trimmed, `-0` -> `0`). The extra precision is visible: `10.5 + 0.1`
//! gives `10.6`, which plain `f64` arithmetic would print as
//! `10.59999999999999964`. Rust has no `long double`, so the arithmetic and
//! formatting live in `fluidb/csrc/ldouble.c`, compiled by `build.rs` with
//! the `cc` crate, and are wrapped safely here.
//!
//! Accepted number syntax (from `strtold`): optional sign (`+` allowed),
//! decimal or hex (`0x1p3`) floats, `inf`/`infinity` in any case. Rejected:
//! empty input, input of 5120 bytes or more, a leading white-space byte,
//! trailing bytes (white space, NUL...), overflow beyond the long double
//! range (~1.19e4932; note `1e400` *is* valid here, unlike for scores),
//! underflow to zero, and NaN.
//!
//! Like Redis (which only calls `setlocale(LC_COLLATE, "")`), this relies on
//! the process keeping the default "C" `LC_NUMERIC` locale: nothing in
//! fluidB may call `setlocale(LC_ALL/LC_NUMERIC, ...)`, or `strtold`/`printf`
//! would start using a locale decimal separator. The same holds for
//! `strtod`/`snprintf` in [`crate::util::numeric`].

use std::os::raw::{c_char, c_int};

extern "C" {
    fn fluidb_string2ld_valid(s: *const c_char, slen: usize) -> c_int;
    fn fluidb_ld_normalize_human(s: *const c_char, slen: usize, out: *mut c_char, outcap: usize) -> c_int;
    fn fluidb_f64_to_human(d: f64, out: *mut c_char, outcap: usize) -> c_int;
    fn fluidb_ld_incr(
        cur: *const c_char,
        curlen: usize,
        incr: *const c_char,
        incrlen: usize,
        flags: c_int,
        out: *mut c_char,
        outcap: usize,
    ) -> c_int;
}

/// Redis `MAX_LONG_DOUBLE_CHARS`: inputs must be shorter than this, and no
/// formatted output is longer.
pub const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

const ERR_CUR: c_int = -1;
const ERR_INCR: c_int = -2;
const ERR_RESULT: c_int = -3;
const ERR_INCR_INF: c_int = -4;
const FLAG_CHECK_INCR_INF: c_int = 1;

/// Why an INCRBYFLOAT / HINCRBYFLOAT could not be applied. Each variant maps
/// to the exact Redis 7.0 error reply via [`IncrFloatError::message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncrFloatError {
    /// INCRBYFLOAT: the stored string is not a valid float.
    CurrentNotFloat,
    /// HINCRBYFLOAT: the stored hash field value is not a valid float.
    HashValueNotFloat,
    /// The increment argument is not a valid float.
    IncrementNotFloat,
    /// HINCRBYFLOAT: the increment itself is infinite.
    IncrementNanOrInfinity,
    /// The sum is NaN or infinite (e.g. `inf` + `-inf`, or overflow).
    NanOrInfinity,
}

impl IncrFloatError {
    /// The error reply text (without the leading `-`), exactly as Redis 7.0
    /// sends it.
    pub fn message(&self) -> &'static str {
        match self {
            IncrFloatError::CurrentNotFloat | IncrFloatError::IncrementNotFloat => "ERR value is not a valid float",
            IncrFloatError::HashValueNotFloat => "ERR hash value is not a float",
            IncrFloatError::IncrementNanOrInfinity => "ERR value is NaN or Infinity",
            IncrFloatError::NanOrInfinity => "ERR increment would produce NaN or Infinity",
        }
    }
}

impl std::fmt::Display for IncrFloatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for IncrFloatError {}

fn ptr_len(s: &[u8]) -> (*const c_char, usize) {
    (s.as_ptr() as *const c_char, s.len())
}

/// Returns true if Redis's `string2ld()` accepts `s` (see the module docs).
///
/// Why: `getLongDoubleFromObject()` validation, e.g. to decide between
/// "value is not a valid float" and success without performing arithmetic.
pub fn string2ld_valid(s: &[u8]) -> bool {
    if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
        return false;
    }
    let (p, l) = ptr_len(s);
    // SAFETY: pointer/length pair from a live slice; the C side only reads
    // `l` bytes.
    unsafe { fluidb_string2ld_valid(p, l) == 1 }
}

fn call_with_out(f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<Vec<u8>, c_int> {
    let mut out = [0u8; MAX_LONG_DOUBLE_CHARS];
    let n = f(out.as_mut_ptr() as *mut c_char, out.len());
    if n < 0 {
        return Err(n);
    }
    Ok(out[..(n as usize).min(out.len())].to_vec())
}

/// Parses `s` with `string2ld()` and re-formats it with
/// `ld2string(LD_STR_HUMAN)`; `None` if `s` is not a valid long double.
///
/// Why: this is what `createStringObjectFromLongDouble(value, 1)` produces
/// for a parsed value, e.g. the canonical form INCRBYFLOAT would store for
/// `INCRBYFLOAT key <s>` on a missing key (`"1.0e3"` -> `"1000"`).
pub fn ld_normalize_human(s: &[u8]) -> Option<Vec<u8>> {
    if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
        return None;
    }
    let (p, l) = ptr_len(s);
    // SAFETY: input pointer/length from a live slice; output buffer is
    // `outcap` bytes and the C side never writes more.
    call_with_out(|o, cap| unsafe { fluidb_ld_normalize_human(p, l, o, cap) }).ok()
}

/// `ld2string((long double)d, LD_STR_HUMAN)` computed in C.
///
/// Why: `addReplyHumanLongDouble()` (GEOPOS, WITHCOORD) receives doubles
/// widened to long double. [`crate::util::numeric::fmt_human_double`] is the
/// pure-Rust equivalent; this one is the reference it is tested against.
pub fn f64_to_human(d: f64) -> Vec<u8> {
    // SAFETY: output buffer is `cap` bytes and the C side never writes more.
    call_with_out(|o, cap| unsafe { fluidb_f64_to_human(d, o, cap) }).unwrap_or_default()
}

/// INCRBYFLOAT arithmetic, exactly as Redis 7.0 `incrbyfloatCommand()`:
/// `cur` is the current string value (`None` for a missing key, meaning 0),
/// `incr` the increment argument. Returns the new value as Redis stores and
/// replies it (and replicates it, as `SET key <value> KEEPTTL`).
///
/// Checks in Redis's order (the WRONGTYPE check comes before all of them
/// and is the caller's job): current value not a float ->
/// [`IncrFloatError::CurrentNotFloat`]; increment not a float ->
/// [`IncrFloatError::IncrementNotFloat`] (both reply
/// "ERR value is not a valid float"); NaN/infinite sum ->
/// [`IncrFloatError::NanOrInfinity`]. An `inf` increment is a valid float,
/// so it ends up as `NanOrInfinity`.
///
/// Integer-encoded Redis strings are parsed by value (`(long)o->ptr`), which
/// gives the same long double as parsing their decimal text, so passing the
/// stored bytes is exact.
pub fn incrbyfloat(cur: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    ld_incr(cur, incr, 0)
}

/// HINCRBYFLOAT arithmetic, exactly as Redis 7.0 `hincrbyfloatCommand()`:
/// `cur` is the field's current value (`None` if the field or key does not
/// exist), `incr` the increment argument. Returns the new field value.
///
/// Order of checks in Redis: the increment is validated first (not a float
/// -> [`IncrFloatError::IncrementNotFloat`], infinite ->
/// [`IncrFloatError::IncrementNanOrInfinity`]), *then* the key is looked up
/// (WRONGTYPE, the caller's job: use [`hincrbyfloat_check_incr`] before the
/// lookup to keep that order), then the field value is parsed
/// ([`IncrFloatError::HashValueNotFloat`]), then the sum is checked
/// ([`IncrFloatError::NanOrInfinity`]).
pub fn hincrbyfloat(cur: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    ld_incr(cur, incr, FLAG_CHECK_INCR_INF).map_err(|e| match e {
        IncrFloatError::CurrentNotFloat => IncrFloatError::HashValueNotFloat,
        other => other,
    })
}

/// The increment checks HINCRBYFLOAT performs *before* looking up the key
/// (so they win over a WRONGTYPE error): not a float, or infinite.
pub fn hincrbyfloat_check_incr(incr: &[u8]) -> Result<(), IncrFloatError> {
    match hincrbyfloat(None, incr) {
        Ok(_) => Ok(()),
        Err(e @ (IncrFloatError::IncrementNotFloat | IncrFloatError::IncrementNanOrInfinity)) => Err(e),
        // With a zero current value the sum of a finite increment is finite.
        Err(_) => Ok(()),
    }
}

fn ld_incr(cur: Option<&[u8]>, incr: &[u8], flags: c_int) -> Result<Vec<u8>, IncrFloatError> {
    let (cp, cl) = match cur {
        // A non-null pointer is needed to mean "present" even for an empty
        // value (which string2ld rejects).
        Some(c) => (if c.is_empty() { b"".as_ptr() as *const c_char } else { c.as_ptr() as *const c_char }, c.len()),
        None => (std::ptr::null(), 0),
    };
    let (ip, il) = ptr_len(incr);
    // SAFETY: all pointer/length pairs come from live slices (or null for a
    // missing value, which the C side checks); the output buffer is `cap`
    // bytes and the C side never writes more.
    let r = call_with_out(|o, cap| unsafe { fluidb_ld_incr(cp, cl, ip, il, flags, o, cap) });
    match r {
        Ok(v) => Ok(v),
        Err(ERR_CUR) => Err(IncrFloatError::CurrentNotFloat),
        Err(ERR_INCR) => Err(IncrFloatError::IncrementNotFloat),
        Err(ERR_INCR_INF) => Err(IncrFloatError::IncrementNanOrInfinity),
        Err(ERR_RESULT) => Err(IncrFloatError::NanOrInfinity),
        // Buffer errors cannot happen with MAX_LONG_DOUBLE_CHARS bytes;
        // Redis would store an empty string in that case.
        Err(_) => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn inc(cur: Option<&str>, incr: &str) -> Result<String, IncrFloatError> {
        incrbyfloat(cur.map(|s| s.as_bytes()), incr.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn incrbyfloat_matches_redis() {
        // Each expected value below was obtained from redis-server 7.0.15
        // with `SET k <cur>` (or a missing key) then `INCRBYFLOAT k <incr>`.
        let ok: &[(Option<&str>, &str, &str)] = &[
            (None, "10.5", "10.5"),
            (Some("10.5"), "0.1", "10.6"),
            (Some("3.0e3"), "1", "3001"),
            (Some("5.0e3"), "-5.0e3", "0"),
            (Some("10"), "-10", "0"),
            (Some("0"), "-0", "0"),
            (None, "-0", "0"),
            (Some("1"), "0.1", "1.1"),
            (Some("0.1"), "0.2", "0.3"),
            (Some("1.5"), "-3", "-1.5"),
            (None, "5.0e3", "5000"),
            (None, "1e-5", "0.00001"),
            (None, "1e-20", "0"),
            (None, "-1e-20", "0"),
            (None, "0x10", "16"),
            (None, "+7", "7"),
            (Some("9223372036854775807"), "1", "9223372036854775808"),
            (None, "1.23456789012345678901", "1.23456789012345679"),
            (None, "1e20", "100000000000000000000"),
            (None, "1e400", LD_1E400),
            (Some("17179869184"), "1.5", "17179869185.5"),
            (None, "0.0000000000000000001", "0"),
            (None, "3.14159265358979323846", "3.14159265358979324"),
        ];
        for (cur, incr, want) in ok {
            assert_eq!(inc(*cur, incr).as_deref(), Ok(*want), "{cur:?} + {incr}");
        }
    }

    // INCRBYFLOAT of 1e400 on a missing key (redis-server 7.0.15).
    const LD_1E400: &str = "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880";

    #[test]
    fn incrbyfloat_errors() {
        use IncrFloatError::*;
        assert_eq!(inc(Some("abc"), "1"), Err(CurrentNotFloat));
        assert_eq!(inc(Some(""), "1"), Err(CurrentNotFloat));
        assert_eq!(inc(Some(" 1"), "1"), Err(CurrentNotFloat));
        assert_eq!(inc(Some("1 "), "1"), Err(CurrentNotFloat));
        assert_eq!(inc(Some("nan"), "1"), Err(CurrentNotFloat));
        assert_eq!(inc(Some("1"), "abc"), Err(IncrementNotFloat));
        assert_eq!(inc(Some("abc"), "abc"), Err(CurrentNotFloat));
        assert_eq!(inc(None, ""), Err(IncrementNotFloat));
        assert_eq!(inc(None, "nan"), Err(IncrementNotFloat));
        assert_eq!(inc(None, "1\0"), Err(IncrementNotFloat));
        assert_eq!(inc(None, "1e5000"), Err(IncrementNotFloat)); // overflow
        assert_eq!(inc(None, "1e-5000"), Err(IncrementNotFloat)); // underflow to 0
        assert_eq!(inc(None, "inf"), Err(NanOrInfinity));
        assert_eq!(inc(Some("inf"), "-inf"), Err(NanOrInfinity));
        assert_eq!(inc(Some("1.1e4932"), "1.1e4932"), Err(NanOrInfinity));
        let long = "1".repeat(MAX_LONG_DOUBLE_CHARS);
        assert_eq!(inc(None, &long), Err(IncrementNotFloat));
        assert_eq!(IncrementNotFloat.message(), "ERR value is not a valid float");
        assert_eq!(NanOrInfinity.message(), "ERR increment would produce NaN or Infinity");
    }

    #[test]
    fn hincrbyfloat_matches_redis() {
        use IncrFloatError::*;
        let h = |cur: Option<&str>, incr: &str| {
            hincrbyfloat(cur.map(|s| s.as_bytes()), incr.as_bytes()).map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(h(None, "10.5").as_deref(), Ok("10.5"));
        assert_eq!(h(Some("10.5"), "0.1").as_deref(), Ok("10.6"));
        assert_eq!(h(Some("abc"), "1"), Err(HashValueNotFloat));
        assert_eq!(h(Some("1"), "abc"), Err(IncrementNotFloat));
        assert_eq!(h(Some("abc"), "abc"), Err(IncrementNotFloat));
        assert_eq!(h(Some("abc"), "inf"), Err(IncrementNanOrInfinity));
        assert_eq!(h(Some("1"), "-inf"), Err(IncrementNanOrInfinity));
        assert_eq!(h(Some("inf"), "1"), Err(NanOrInfinity));
        assert_eq!(hincrbyfloat_check_incr(b"1.5"), Ok(()));
        assert_eq!(hincrbyfloat_check_incr(b"x"), Err(IncrementNotFloat));
        assert_eq!(hincrbyfloat_check_incr(b"inf"), Err(IncrementNanOrInfinity));
        assert_eq!(HashValueNotFloat.message(), "ERR hash value is not a float");
        assert_eq!(IncrementNanOrInfinity.message(), "ERR value is NaN or Infinity");
    }

    #[test]
    fn string2ld_rules() {
        assert!(string2ld_valid(b"1"));
        assert!(string2ld_valid(b"1e400"));
        assert!(string2ld_valid(b"-inf"));
        assert!(string2ld_valid(b"0x1p-3"));
        assert!(!string2ld_valid(b""));
        assert!(!string2ld_valid(b"nan"));
        assert!(!string2ld_valid(b" 1"));
        assert!(!string2ld_valid(b"1e99999"));
        assert_eq!(ld_normalize_human(b"1.0e3").as_deref(), Some(&b"1000"[..]));
        assert_eq!(ld_normalize_human(b"-0.0").as_deref(), Some(&b"0"[..]));
        assert_eq!(ld_normalize_human(b"inf").as_deref(), Some(&b"inf"[..]));
        assert_eq!(ld_normalize_human(b"x"), None);
    }

    #[test]
    fn human_f64_agrees_with_long_double() {
        use crate::util::numeric::fmt_human_double;
        for d in [
            0.0,
            -0.0,
            1.0,
            0.1,
            13.361389338970184,
            -85.05112878,
            180.0,
            1e-7,
            -1e-30,
            1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(f64_to_human(d), fmt_human_double(d), "{d}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(cur in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..48)),
                        incr in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = incrbyfloat(cur.as_deref(), &incr);
            let _ = hincrbyfloat(cur.as_deref(), &incr);
            let _ = string2ld_valid(&incr);
            let _ = ld_normalize_human(&incr);
        }

        #[test]
        fn human_f64_agrees_with_long_double_random(bits in any::<u64>()) {
            let d = f64::from_bits(bits);
            if !d.is_nan() {
                prop_assert_eq!(f64_to_human(d), crate::util::numeric::fmt_human_double(d));
            }
        }
    }
}
