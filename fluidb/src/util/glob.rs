//! Glob-style pattern matching, an exact port of Redis 7.0 `stringmatchlen()`
//! (src/util.c), used by KEYS, SCAN/SSCAN/HSCAN/ZSCAN `MATCH`, PSUBSCRIBE,
//! CONFIG GET, ACL key/channel patterns, COMMAND LIST FILTERBY PATTERN, ...
//!
//! Supported syntax, with Redis's exact (sometimes surprising) semantics:
//!
//! * `*` any sequence (including empty) of bytes, `?` exactly one byte;
//! * `[abc]`, `[^abc]` classes, `[a-z]` ranges (reversed ranges such as
//!   `[z-a]` are accepted, bounds are compared as *signed* C chars), `\x`
//!   inside a class escapes `x`; an unterminated class (`[abc`) behaves as if
//!   it were closed at the end of the pattern;
//! * `\x` outside a class matches `x` literally (a trailing lone `\` matches
//!   a `\`).
//!
//! Quirks reproduced on purpose:
//!
//! * an empty string never matches a non-empty pattern, not even `*` (KEYS
//!   and SCAN special-case the exact pattern `*` before calling the matcher,
//!   so `KEYS *` does return the empty key while `KEYS **` does not);
//! * the 7.0 protection against abusive patterns: recursion deeper than 1000
//!   nested `*` gives "no match", and once the tail after a `*` failed to
//!   match at every position, enclosing `*` give up immediately
//!   (`skipLongerMatches`), which keeps `a*a*a*...b` linear instead of
//!   exponential;
//! * with `nocase`, only ASCII `A`-`Z` are folded (Redis runs with the "C"
//!   LC_CTYPE locale).

/// Maximum recursion depth (number of nested `*` expansions) before Redis
/// gives up and reports "no match".
const MAX_NESTING: u32 = 1000;

/// Byte at `i`, or 0 past the end: Redis patterns are NUL-terminated sds
/// strings and `stringmatchlen()` peeks at most one byte past the length.
#[inline]
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// C `tolower()` in the "C" locale: only ASCII upper-case letters change.
#[inline]
fn lower(c: i32) -> i32 {
    if (b'A' as i32..=b'Z' as i32).contains(&c) {
        c + 32
    } else {
        c
    }
}

/// A byte as a C `char` promoted to `int`, the way Redis compares range
/// bounds. `char` is signed on x86_64 (the reference platform), so the
/// bytes 0x80..=0xff sort *below* ASCII: `[a-\xff]` is the range -1..='a'. (On
/// platforms where `char` is unsigned, e.g. aarch64 Linux, Redis itself
/// behaves differently; fluidB always follows x86_64.)
#[inline]
fn sc(b: u8) -> i32 {
    b as i8 as i32
}

/// Glob-style match of `string` against `pattern`, exactly like Redis 7.0's
/// `stringmatchlen(pattern, plen, string, slen, nocase)`.
///
/// Why: every Redis command that takes a pattern (KEYS, SCAN MATCH,
/// PSUBSCRIBE, CONFIG GET, ACL patterns...) goes through this function, and
/// clients depend on its exact behaviour, including its edge cases (see the
/// module documentation). `nocase` folds ASCII letters only, as Redis does
/// for CONFIG GET and COMMAND LIST FILTERBY PATTERN.
///
/// Never panics, and runs in bounded time/stack on hostile patterns (the
/// 7.0 nesting limit and early-termination logic are ported too).
pub fn string_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer_matches = false;
    match_impl(pattern, string, nocase, &mut skip_longer_matches, 0)
}

/// Port of the static `stringmatchlen_impl()`. `pattern` and `string` are the
/// *remaining* slices (the C pointers and lengths move together).
fn match_impl(pattern: &[u8], string: &[u8], nocase: bool, skip_longer_matches: &mut bool, nesting: u32) -> bool {
    // Protection against abusive patterns.
    if nesting > MAX_NESTING {
        return false;
    }

    // `p`/`s` are the C `pattern`/`string` pointers as offsets; `plen`/`slen`
    // the C `patternLen`/`stringLen`. The invariants `p + plen ==
    // pattern.len()` and `s + slen == string.len()` hold at every point where
    // the C code reads memory, which is why reads past the end only ever see
    // the NUL terminator (modelled by `at()`).
    let mut p: usize = 0;
    let mut plen: usize = pattern.len();
    let mut s: usize = 0;
    let mut slen: usize = string.len();

    while plen > 0 && slen > 0 {
        match at(pattern, p) {
            b'*' => {
                while plen > 0 && at(pattern, p + 1) == b'*' {
                    p += 1;
                    plen -= 1;
                }
                if plen == 1 {
                    return true; // match
                }
                while slen > 0 {
                    if match_impl(&pattern[p + 1..], &string[s..], nocase, skip_longer_matches, nesting + 1) {
                        return true; // match
                    }
                    if *skip_longer_matches {
                        return false; // no match
                    }
                    s += 1;
                    slen -= 1;
                }
                // There was no match for the rest of the pattern starting
                // from anywhere in the rest of the string: longer matches of
                // any earlier '*' cannot help either.
                *skip_longer_matches = true;
                return false; // no match
            }
            b'?' => {
                s += 1;
                slen -= 1;
            }
            b'[' => {
                p += 1;
                plen -= 1;
                let not = at(pattern, p) == b'^';
                if not {
                    p += 1;
                    plen -= 1;
                }
                let mut matched = false;
                let c0 = at(string, s);
                loop {
                    if at(pattern, p) == b'\\' && plen >= 2 {
                        p += 1;
                        plen -= 1;
                        if at(pattern, p) == c0 {
                            matched = true;
                        }
                    } else if at(pattern, p) == b']' {
                        break;
                    } else if plen == 0 {
                        // Unterminated class: step back so that the outer
                        // loop's increment lands exactly at the end.
                        p -= 1;
                        plen += 1;
                        break;
                    } else if plen >= 3 && at(pattern, p + 1) == b'-' {
                        let mut start = sc(at(pattern, p));
                        let mut end = sc(at(pattern, p + 2));
                        let mut c = sc(c0);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = lower(start);
                            end = lower(end);
                            c = lower(c);
                        }
                        p += 2;
                        plen -= 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if !nocase {
                        if at(pattern, p) == c0 {
                            matched = true;
                        }
                    } else if lower(sc(at(pattern, p))) == lower(sc(c0)) {
                        matched = true;
                    }
                    p += 1;
                    plen -= 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false; // no match
                }
                s += 1;
                slen -= 1;
            }
            first => {
                let mut pc = first;
                if first == b'\\' && plen >= 2 {
                    p += 1;
                    plen -= 1;
                    pc = at(pattern, p);
                }
                let c = at(string, s);
                if !nocase {
                    if pc != c {
                        return false; // no match
                    }
                } else if lower(sc(pc)) != lower(sc(c)) {
                    return false; // no match
                }
                s += 1;
                slen -= 1;
            }
        }
        p += 1;
        plen -= 1;
        if slen == 0 {
            while at(pattern, p) == b'*' {
                p += 1;
                plen -= 1;
            }
            break;
        }
    }
    plen == 0 && slen == 0
}

#[cfg(test)]
mod tests {
    use super::string_match;
    use proptest::prelude::*;

    fn m(p: &str, s: &str) -> bool {
        string_match(p.as_bytes(), s.as_bytes(), false)
    }
    fn mi(p: &str, s: &str) -> bool {
        string_match(p.as_bytes(), s.as_bytes(), true)
    }

    #[test]
    fn literals_and_wildcards() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("foo", "foo"));
        assert!(!m("foo", "fo"));
        assert!(!m("foo", "fooo"));
        assert!(m("f?o", "foo"));
        assert!(!m("f?o", "fo"));
        assert!(m("foo*", "foo"));
        assert!(m("foo*", "foobar"));
        assert!(m("*bar", "foobar"));
        assert!(m("*o*", "foo"));
        assert!(m("f*o*o", "foo"));
        assert!(!m("f*o*o", "fo"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("***", "x"));
        assert!(m("?*", "x"));
        assert!(!m("??*", "x"));
        assert!(m("*?", "x"));
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("*", "anything"));
    }

    #[test]
    fn empty_string_never_matches_non_empty_pattern() {
        // Verified on redis-server 7.0.15: with a key "" present, `KEYS **`
        // does not return it (only the `KEYS *` shortcut does).
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(!m("?", ""));
        assert!(!m("[^a]", ""));
        assert!(m("", ""));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        // Reversed ranges are accepted.
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("[0-9]", "5"));
        assert!(!m("[0-9]", "a"));
        assert!(m("[^0-9]", "a"));
        // Escapes inside classes.
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[a\\-z]", "-"));
        assert!(!m("[a\\-z]", "b"));
        // ']' first is a terminator: "[]" is an empty class.
        assert!(!m("[]", "a"));
        assert!(!m("[]a]", "a"));
        assert!(m("[^]", "a"));
        // Unterminated classes are closed at the end of the pattern.
        assert!(m("[abc", "a"));
        assert!(!m("[abc", "d"));
        assert!(!m("[", "a"));
        assert!(m("[^", "a"));
        assert!(!m("a[", "a"));
        // "[a-]" is the (reversed) range ']'..='a' and then an unterminated
        // class.
        assert!(!m("[a-]", "b"));
        assert!(m("[a-]", "]"));
        assert!(m("[a-]", "^"));
        assert!(m("[a-]", "a"));
        assert!(!m("[a-]", "-"));
        // Trailing backslash inside a class matches itself.
        assert!(m("[\\", "\\"));
        assert!(!m("[\\", "a"));
        // Multiple ranges.
        assert!(m("[a-cx-z]", "y"));
        assert!(!m("[a-cx-z]", "m"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("\\?", "?"));
        assert!(!m("\\?", "x"));
        assert!(m("\\[a]", "[a]"));
        assert!(m("a\\b", "ab"));
        // A lone trailing backslash matches a backslash.
        assert!(m("a\\", "a\\"));
        assert!(!m("a\\", "a"));
        assert!(m("\\\\", "\\"));
    }

    #[test]
    fn nocase() {
        assert!(mi("HeLLo", "hello"));
        assert!(!m("HeLLo", "hello"));
        assert!(mi("h[A-Z]llo", "hello"));
        assert!(mi("h[a-z]llo", "hEllo"));
        assert!(mi("h[E]llo", "hello"));
        assert!(mi("MAXMEMORY*", "maxmemory-policy"));
        assert!(!mi("h[^E]llo", "hello"));
        // Only ASCII letters fold.
        assert!(!string_match("\u{c9}".as_bytes(), "\u{e9}".as_bytes(), true));
        assert!(string_match(b"\xff", b"\xff", true));
    }

    #[test]
    fn signed_char_ranges() {
        // Bounds compare as signed chars: 0xff is -1, so [a-\xff] is the
        // range [-1, 'a'] and contains '0' but not 'b' nor 0x80.
        assert!(string_match(b"[a-\xff]", b"0", false));
        assert!(!string_match(b"[a-\xff]", b"b", false));
        assert!(string_match(b"[a-\xff]", b"\xff", false));
        assert!(!string_match(b"[a-\xff]", b"\x80", false));
        assert!(string_match(b"[\x80-\xff]", b"\x90", false));
        assert!(!string_match(b"[\x80-\xff]", b"a", false));
    }

    #[test]
    fn binary_safe() {
        assert!(string_match(b"a\0b", b"a\0b", false));
        assert!(!string_match(b"a\0b", b"a\0c", false));
        assert!(string_match(b"*\0*", b"xx\0yy", false));
        assert!(string_match(b"?", b"\0", false));
        assert!(string_match(b"[\0]", b"\0", false));
    }

    #[test]
    fn keyspace_tcl_regressions() {
        // tests/unit/keyspace.tcl "Regression for pattern matching long
        // nested loops": must return quickly with no match.
        let key = "a".repeat(40);
        assert!(!m("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", &key));
        // "Regression for pattern matching very long nested loops".
        let key = "a".repeat(50000);
        let pat = "*?".repeat(50000);
        assert!(!m(&pat, &key));
        // KEYS with pattern.
        assert!(m("foo*", "foo_a"));
        assert!(m("foo*", "foo_b"));
        assert!(!m("foo*", "key_x"));
    }

    #[test]
    fn nesting_limit() {
        // 1000 nested '*' are allowed, 1001 give "no match" even though the
        // pattern would otherwise match. Each "*a" pair consumes one 'a'.
        let ok_pat = "*a".repeat(1000);
        let s1000 = "a".repeat(1000);
        assert!(m(&ok_pat, &s1000));
        // Verified with KEYS on redis-server 7.0.15: 1001 and 1002 nested
        // stars give no match.
        for n in [1001, 1002] {
            assert!(!m(&"*a".repeat(n), &"a".repeat(n)));
        }
    }

    #[test]
    fn corpus_verified_against_redis() {
        // Each triple was checked with `KEYS <pattern>` on redis-server
        // 7.0.15 (the randomised version is `util::redis_diff::diff_glob`).
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"*a*b", b"xaxb", true),
            (b"*a*b", b"xaxbx", false),
            (b"a*", b"a", true),
            (b"[a-c]*[x-z]", b"bqqqz", true),
            (b"\\", b"\\", true),
            (b"[[]", b"[", true),
            (b"[]]", b"]", false),
            (b"[!a]", b"b", false),
            (b"[!a]", b"!", true),
            (b"*[", b"ab", false),
            (b"**a", b"a", true),
            (b"?*?", b"ab", true),
            (b"?*?", b"a", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(
                string_match(p, s, false),
                *want,
                "pattern {:?} string {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(s)
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(p in proptest::collection::vec(any::<u8>(), 0..40),
                        s in proptest::collection::vec(any::<u8>(), 0..40),
                        nocase in any::<bool>()) {
            let _ = string_match(&p, &s, nocase);
        }

        #[test]
        fn never_panics_glob_alphabet(p in "[ab*?\\[\\]\\\\^-]{0,24}",
                                      s in "[ab\\[\\]\\\\^-]{0,24}") {
            let _ = string_match(p.as_bytes(), s.as_bytes(), false);
            let _ = string_match(p.as_bytes(), s.as_bytes(), true);
        }

        #[test]
        fn literal_pattern_matches_itself(s in "[a-zA-Z0-9_:]{1,30}") {
            prop_assert!(string_match(s.as_bytes(), s.as_bytes(), false));
            prop_assert!(string_match(s.to_uppercase().as_bytes(), s.as_bytes(), true));
        }
    }
}
