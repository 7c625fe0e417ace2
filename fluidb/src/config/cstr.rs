//! Ports of the small C helpers (`string2ll`, `strtoll`, `memtoull`,
//! `sdscatrepr`, ...) whose exact quirks are visible in Redis's replies.
//!
//! They are ported rather than replaced by Rust's parsers because clients and
//! test suites observe the differences: `memtoull` accepts `""` and `"mb"` as
//! zero and saturates on overflow, `strtoll` skips blanks and accepts a `+`,
//! `string2ll` refuses both. Every function is total: no input panics.

/// C `isspace` in the "C" locale.
pub(crate) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The bytes a C function would see: everything before the first NUL.
pub(crate) fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(n) => &s[..n],
        None => s,
    }
}

/// `strcasecmp(a, b) == 0` on C strings.
pub(crate) fn c_eq_ignore_case(a: &[u8], b: &str) -> bool {
    c_str(a).eq_ignore_ascii_case(b.as_bytes())
}

/// Lossy UTF-8 view of a C string (configs are C strings in Redis).
pub(crate) fn c_string(s: &[u8]) -> String {
    String::from_utf8_lossy(c_str(s)).into_owned()
}

/// Redis `string2ll`: strict base-10 `i64` (no blanks, no `+`, no leading
/// zeros, at most 20 characters).
pub(crate) fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let first = *digits.first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some(0u64.wrapping_sub(v) as i64)
    } else {
        i64::try_from(v).ok()
    }
}

/// C `strtoll(s, &end, base)` on a C string: skips leading blanks, takes an
/// optional sign, saturates on overflow. Returns the value, how many bytes
/// were consumed (0 when no digit was found, like `end == s`), and whether
/// the value overflowed (`errno == ERANGE`).
pub(crate) fn strtoll(s: &[u8], base: u32) -> (i64, usize, bool) {
    let s = c_str(s);
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        negative = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: u128 = 0;
    let mut overflow = false;
    while i < s.len() {
        let d = match (s[i] as char).to_digit(base) {
            Some(d) => d,
            None => break,
        };
        if !overflow {
            v = v * u128::from(base) + u128::from(d);
            if v > (i64::MAX as u128) + 1 {
                overflow = true;
            }
        }
        i += 1;
    }
    if i == start {
        return (0, 0, false);
    }
    let value = if negative {
        if overflow {
            i64::MIN
        } else {
            0i64.wrapping_sub(v as i64)
        }
    } else if overflow || v > i64::MAX as u128 {
        overflow = true;
        i64::MAX
    } else {
        v as i64
    };
    (value, i, overflow)
}

/// `strtoll(arg, &eptr, 10)` followed by Redis's usual `*eptr == '\0'`
/// check: the whole C string must be consumed (an empty string passes as 0,
/// exactly as in C).
pub(crate) fn strtoll_full(arg: &[u8]) -> Option<i64> {
    let s = c_str(arg);
    let (v, used, _) = strtoll(s, 10);
    if used == s.len() {
        Some(v)
    } else {
        None
    }
}

/// C `atoi`: the numeric prefix, 0 when there is none.
pub(crate) fn atoi(arg: &[u8]) -> i64 {
    strtoll(arg, 10).0
}

/// Parses a memory size like Redis's `memtoull`: digits followed by an
/// optional unit `b`, `k` (1000), `kb` (1024), `m`, `mb`, `g`, `gb`, units
/// case-insensitive. Faithful to Redis: the empty string and a bare unit are
/// 0, a too-large number saturates, and the multiplication wraps.
pub fn parse_memory(arg: &[u8]) -> Option<u64> {
    let p = c_str(arg);
    if p.first() == Some(&b'-') {
        return None;
    }
    let ndigits = p.iter().take_while(|c| c.is_ascii_digit()).count();
    let unit = &p[ndigits..];
    let lower = unit.to_ascii_lowercase();
    let mul: u64 = match lower.as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if ndigits >= 128 {
        return None;
    }
    let value = p[..ndigits].iter().fold(0u64, |acc, d| acc.saturating_mul(10).saturating_add(u64::from(d - b'0')));
    Some(value.wrapping_mul(mul))
}

/// Formats a byte count the way CONFIG REWRITE writes it (`1gb`, `64mb`,
/// `4kb`, or plain bytes), port of `rewriteConfigFormatMemory`.
pub fn format_memory(bytes: i64) -> String {
    const GB: i64 = 1024 * 1024 * 1024;
    const MB: i64 = 1024 * 1024;
    const KB: i64 = 1024;
    if bytes != 0 && bytes % GB == 0 {
        format!("{}gb", bytes / GB)
    } else if bytes != 0 && bytes % MB == 0 {
        format!("{}mb", bytes / MB)
    } else if bytes != 0 && bytes % KB == 0 {
        format!("{}kb", bytes / KB)
    } else {
        bytes.to_string()
    }
}

/// Quotes bytes like `sdscatrepr`, so that [`super::splitargs::split_args`]
/// reads them back unchanged.
pub(crate) fn repr(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &b in s {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// `printf("%f")` followed by Redis's `trimDoubleString`.
pub(crate) fn format_double_trimmed(d: f64) -> String {
    let mut s = format!("{d:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// Redis `string2d`: a finite-or-infinite double spanning the whole input,
/// with no leading blank; NaN is refused. (Hexadecimal floats, which C's
/// `strtod` also takes, are refused here.)
pub(crate) fn string2d(s: &[u8]) -> Option<f64> {
    let first = *s.first()?;
    if is_c_space(first) {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let d: f64 = text.parse().ok()?;
    if d.is_nan() {
        return None;
    }
    Some(d)
}

/// The OS error text without Rust's " (os error N)" suffix, i.e. what C's
/// `strerror` prints.
pub(crate) fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(n) => s[..n].to_string(),
        None => s,
    }
}

/// Redis `stringmatchlen` (glob-style, optional case folding), including the
/// guard that stops exponential backtracking.
pub(crate) fn string_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn fold(b: u8, nocase: bool) -> u8 {
    if nocase {
        b.to_ascii_lowercase()
    } else {
        b
    }
}

fn match_impl(pat: &[u8], s: &[u8], nocase: bool, skip_longer: &mut bool, nesting: u32) -> bool {
    if nesting > 1000 {
        return false;
    }
    // `p` and `i` index pattern and string; reading past the end yields 0,
    // like the NUL terminator the C code relies on.
    let at = |v: &[u8], k: usize| v.get(k).copied().unwrap_or(0);
    let mut p = 0usize;
    let mut i = 0usize;
    while p < pat.len() && i < s.len() {
        match pat[p] {
            b'*' => {
                while p + 1 < pat.len() && pat[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pat.len() {
                    return true;
                }
                while i < s.len() {
                    if match_impl(&pat[p + 1..], &s[i..], nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    i += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => {
                i += 1;
            }
            b'[' => {
                p += 1;
                let not = at(pat, p) == b'^';
                if not {
                    p += 1;
                }
                let mut matched = false;
                loop {
                    if at(pat, p) == b'\\' && pat.len().saturating_sub(p) >= 2 {
                        p += 1;
                        if at(pat, p) == s[i] {
                            matched = true;
                        }
                    } else if at(pat, p) == b']' {
                        break;
                    } else if p >= pat.len() {
                        p = p.saturating_sub(1);
                        break;
                    } else if pat.len() - p >= 3 && at(pat, p + 1) == b'-' {
                        let (mut start, mut end) = (at(pat, p), at(pat, p + 2));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let c = fold(s[i], nocase);
                        let (start, end) = (fold(start, nocase), fold(end, nocase));
                        p += 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if fold(at(pat, p), nocase) == fold(s[i], nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                i += 1;
            }
            c => {
                let c = if c == b'\\' && pat.len() - p >= 2 {
                    p += 1;
                    pat[p]
                } else {
                    c
                };
                if fold(c, nocase) != fold(s[i], nocase) {
                    return false;
                }
                i += 1;
            }
        }
        p += 1;
        if i == s.len() {
            while at(pat, p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pat.len() && i == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_is_strict() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b""[..], b"+5", b" 5", b"007", b"-0", b"5x", b"99999999999999999999", b"-"] {
            assert_eq!(string2ll(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn strtoll_is_lenient() {
        assert_eq!(strtoll_full(b"+10"), Some(10));
        assert_eq!(strtoll_full(b"-0"), Some(0));
        assert_eq!(strtoll_full(b""), Some(0));
        assert_eq!(strtoll_full(b" 7"), Some(7));
        assert_eq!(strtoll_full(b"7 "), None);
        assert_eq!(strtoll_full(b"99999999999999999999"), Some(i64::MAX));
        assert_eq!(strtoll(b"777", 8).0, 0o777);
        assert_eq!(atoi(b"12abc"), 12);
    }

    #[test]
    fn memtoull_quirks_match_redis() {
        assert_eq!(parse_memory(b"1k"), Some(1000));
        assert_eq!(parse_memory(b"1KB"), Some(1024));
        assert_eq!(parse_memory(b"1Mb"), Some(1 << 20));
        assert_eq!(parse_memory(b"1g"), Some(1_000_000_000));
        assert_eq!(parse_memory(b"2gb"), Some(2 << 30));
        assert_eq!(parse_memory(b"1b"), Some(1));
        assert_eq!(parse_memory(b"007"), Some(7));
        assert_eq!(parse_memory(b""), Some(0));
        assert_eq!(parse_memory(b"mb"), Some(0));
        assert_eq!(parse_memory(b"99999999999999999999"), Some(u64::MAX));
        assert_eq!(parse_memory(b"18446744073709551615kb"), Some(18446744073709550592));
        for bad in [&b"-1"[..], b"+1", b" 1", b"1.5gb", b"0x10", b"1 mb", b"1t"] {
            assert_eq!(parse_memory(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn memory_formatting() {
        assert_eq!(format_memory(0), "0");
        assert_eq!(format_memory(1024), "1kb");
        assert_eq!(format_memory(2048 * 1024), "2mb");
        assert_eq!(format_memory(1 << 30), "1gb");
        assert_eq!(format_memory(1000), "1000");
        assert_eq!(format_memory(-1), "-1");
    }

    #[test]
    fn repr_round_trips_through_split_args() {
        let raw: Vec<u8> = (0u8..=255).collect();
        let quoted = repr(&raw);
        let back = crate::config::splitargs::split_args(quoted.as_bytes());
        // Every byte, NUL included, is escaped so that it survives.
        assert_eq!(back, Some(vec![raw]));
        assert_eq!(repr(b"p\"w d"), "\"p\\\"w d\"");
    }

    #[test]
    fn doubles_are_trimmed() {
        assert_eq!(format_double_trimmed(50.0), "50");
        assert_eq!(format_double_trimmed(99.9), "99.9");
        assert_eq!(format_double_trimmed(99.999), "99.999");
        assert_eq!(format_double_trimmed(0.0), "0");
    }

    #[test]
    fn glob_matching() {
        assert!(string_match(b"*", b"port", true));
        assert!(string_match(b"P?RT", b"port", true));
        assert!(!string_match(b"P?RT", b"port", false));
        assert!(string_match(b"hash-max-*", b"hash-max-listpack-value", true));
        assert!(string_match(b"[a-c]*", b"bind", true));
        assert!(string_match(b"[^a-c]*", b"port", true));
        assert!(!string_match(b"[^a-c]*", b"bind", true));
        assert!(string_match(b"po\\rt", b"port", true));
        assert!(string_match(b"port*", b"port", true));
        assert!(!string_match(b"[", b"port", true));
        assert!(!string_match(b"a*a*a*a*a*a*a*a*a*a*a*a*b", &[b'a'; 64], true));
    }
}
