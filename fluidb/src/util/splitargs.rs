//! Exact port of Redis 7.0 `sdssplitargs()` (src/sds.c): the tokenizer used
//! for inline protocol commands (`PING` typed in telnet), redis.conf lines,
//! `CONFIG SET` multi-arg values, and redis-cli input.

use super::numeric::c_isspace;

/// Byte at `i`, or NUL past the end (the C code walks a NUL-terminated
/// string and peeks up to three bytes ahead).
#[inline]
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

fn is_hex_digit(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex_digit_to_int(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Splits `line` into arguments exactly like Redis 7.0 `sdssplitargs()`.
///
/// Why: Redis parses inline commands and config files with it, and its
/// quirks are observable (e.g. `"foo"bar` is a protocol error). Rules:
///
/// * arguments are separated by white space (`isspace()`: space, `\t`, `\n`,
///   `\v`, `\f`, `\r`); inside an unquoted token only space, `\t`, `\n`,
///   `\r` end it (a `\v` or `\f` is kept in the token);
/// * `"double quotes"` support `\xHH` (two hex digits), `\n`, `\r`, `\t`,
///   `\b`, `\a`, and `\<any>` meaning `<any>`;
/// * `'single quotes'` support only `\'`; any other backslash is literal;
/// * a quote may start in the middle of a token (`ab"c d"` is `abc d`);
/// * returns `None` for an unterminated quote, or a closing quote followed
///   by anything but white space or the end of input (`"foo"bar`);
/// * returns `Some(vec![])` for an empty or all-blank line;
/// * the C function works on a NUL-terminated string, so a NUL byte ends the
///   input: everything after it is ignored (even inside quotes, where it
///   makes the quote unterminated).
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut p = 0usize;
    let mut args: Vec<Vec<u8>> = Vec::new();
    loop {
        // Skip blanks.
        while at(line, p) != 0 && c_isspace(at(line, p)) {
            p += 1;
        }
        if at(line, p) == 0 {
            // Even on empty input return something (an empty vector).
            return Some(args);
        }
        // Get a token.
        let mut inq = false; // in "double quotes"
        let mut insq = false; // in 'single quotes'
        let mut done = false;
        let mut current: Vec<u8> = Vec::new();
        while !done {
            let c = at(line, p);
            if inq {
                if c == b'\\'
                    && at(line, p + 1) == b'x'
                    && is_hex_digit(at(line, p + 2))
                    && is_hex_digit(at(line, p + 3))
                {
                    let byte = hex_digit_to_int(at(line, p + 2)) * 16 + hex_digit_to_int(at(line, p + 3));
                    current.push(byte);
                    p += 3;
                } else if c == b'\\' && at(line, p + 1) != 0 {
                    p += 1;
                    let e = match at(line, p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    };
                    current.push(e);
                } else if c == b'"' {
                    // Closing quote must be followed by a space or nothing.
                    let n = at(line, p + 1);
                    if n != 0 && !c_isspace(n) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None; // unterminated quotes
                } else {
                    current.push(c);
                }
            } else if insq {
                if c == b'\\' && at(line, p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    let n = at(line, p + 1);
                    if n != 0 && !c_isspace(n) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None; // unterminated quotes
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => current.push(c),
                }
            }
            if at(line, p) != 0 {
                p += 1;
            }
        }
        args.push(current);
    }
}

#[cfg(test)]
mod tests {
    use super::split_args;
    use proptest::prelude::*;

    fn sa(s: &[u8]) -> Option<Vec<Vec<u8>>> {
        split_args(s)
    }
    fn v(items: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
        Some(items.iter().map(|x| x.to_vec()).collect())
    }

    #[test]
    fn basic() {
        assert_eq!(sa(b""), v(&[]));
        assert_eq!(sa(b"   \t\r\n "), v(&[]));
        assert_eq!(sa(b"set foo bar"), v(&[b"set", b"foo", b"bar"]));
        assert_eq!(sa(b"  set   foo\tbar \r\n"), v(&[b"set", b"foo", b"bar"]));
        assert_eq!(sa(b"PING"), v(&[b"PING"]));
    }

    #[test]
    fn double_quotes() {
        assert_eq!(sa(b"\"hello world\""), v(&[b"hello world"]));
        assert_eq!(sa(b"\"\""), v(&[b""]));
        assert_eq!(sa(b"a \"\" b"), v(&[b"a", b"", b"b"]));
        assert_eq!(sa(b"\"\\n\\r\\t\\b\\a\\\\\\\"\\q\""), v(&[b"\n\r\t\x08\x07\\\"q"]));
        assert_eq!(sa(b"\"\\x41\\x7a\\xff\\x00\""), v(&[b"Az\xff\x00"]));
        // Not a valid hex escape: "\x4g" is "x4g".
        assert_eq!(sa(b"\"\\x4g\""), v(&[b"x4g"]));
        assert_eq!(sa(b"\"\\x\""), v(&[b"x"]));
        // Quote starting in the middle of a token.
        assert_eq!(sa(b"ab\"c d\""), v(&[b"abc d"]));
        // Closing quote must be followed by a space or end.
        assert_eq!(sa(b"\"foo\"bar"), None);
        assert_eq!(sa(b"\"foo\"\"bar\""), None);
        assert_eq!(sa(b"\"foo\" bar"), v(&[b"foo", b"bar"]));
        assert_eq!(sa(b"\"foo\"\tbar"), v(&[b"foo", b"bar"]));
        // Vertical tab after a closing quote counts as space (isspace).
        assert_eq!(sa(b"\"foo\"\x0bbar"), v(&[b"foo", b"bar"]));
        // Unterminated.
        assert_eq!(sa(b"\"foo"), None);
        assert_eq!(sa(b"\"foo\\\""), None);
        assert_eq!(sa(b"\"foo\\"), None);
    }

    #[test]
    fn single_quotes() {
        assert_eq!(sa(b"'hello world'"), v(&[b"hello world"]));
        assert_eq!(sa(b"'it\\'s'"), v(&[b"it's"]));
        assert_eq!(sa(b"'a\\nb'"), v(&[b"a\\nb"]));
        assert_eq!(sa(b"'\\x41'"), v(&[b"\\x41"]));
        assert_eq!(sa(b"'a\"b'"), v(&[b"a\"b"]));
        assert_eq!(sa(b"'foo'bar"), None);
        assert_eq!(sa(b"'foo"), None);
        assert_eq!(sa(b"''"), v(&[b""]));
        assert_eq!(sa(b"x'y z'"), v(&[b"xy z"]));
    }

    #[test]
    fn unquoted_details() {
        // \v and \f do not end an unquoted token, but are skipped as blanks
        // between tokens.
        assert_eq!(sa(b"a\x0bb"), v(&[b"a\x0bb"]));
        assert_eq!(sa(b"\x0b\x0ca b"), v(&[b"a", b"b"]));
        // Backslashes are literal outside quotes.
        assert_eq!(sa(b"a\\nb"), v(&[b"a\\nb"]));
        // High bytes are ordinary characters.
        assert_eq!(sa(b"\xff\xfe x"), v(&[b"\xff\xfe", b"x"]));
    }

    #[test]
    fn nul_terminates_input() {
        assert_eq!(sa(b"a b\0c d"), v(&[b"a", b"b"]));
        assert_eq!(sa(b"ab\0cd"), v(&[b"ab"]));
        assert_eq!(sa(b"\"ab\0cd\""), None);
        assert_eq!(sa(b"\0abc"), v(&[]));
    }

    proptest! {
        #[test]
        fn never_panics(s in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = split_args(&s);
        }

        #[test]
        fn never_panics_quote_heavy(s in "[a\"' \\\\x0-9fF\t]{0,40}") {
            let _ = split_args(s.as_bytes());
        }

        #[test]
        fn plain_words_roundtrip(words in proptest::collection::vec("[a-zA-Z0-9_:.-]{1,8}", 0..6)) {
            let line = words.join(" ");
            let got = split_args(line.as_bytes()).unwrap();
            let want: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
            prop_assert_eq!(got, want);
        }
    }
}
