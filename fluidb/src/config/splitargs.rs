//! Port of Redis's `sdssplitargs`, the tokenizer behind every config line.
//!
//! Private to the config module on purpose: `util/splitargs.rs` does the same
//! job for the rest of the server and the two will be merged later.

use super::cstr::is_c_space;

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Splits a line into arguments exactly like `sdssplitargs`.
///
/// Tokens are separated by blanks; `"double quotes"` understand `\n \r \t
/// \b \a \xHH` and `\<any>` escapes; `'single quotes'` only understand `\'`.
/// A closing quote must be followed by a blank or the end of the line, and an
/// unterminated quote is an error: both return `None`. Like the C version
/// the input is treated as a C string, so a NUL byte ends it.
pub(crate) fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // Reading past the end yields 0, the terminator the C code relies on.
    let at = |k: usize| line.get(k).copied().unwrap_or(0);
    let mut p = 0usize;
    let mut out = Vec::new();
    loop {
        while at(p) != 0 && is_c_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(out);
        }
        let mut in_double = false;
        let mut in_single = false;
        let mut current = Vec::new();
        loop {
            let c = at(p);
            if in_double {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_value(at(p + 2)), hex_value(at(p + 3))) {
                        current.push(h * 16 + l);
                        p += 3;
                    } else {
                        current.push(b'x');
                        p += 1;
                    }
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    let next = at(p + 1);
                    if next != 0 && !is_c_space(next) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    let next = at(p + 1);
                    if next != 0 && !is_c_space(next) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    other => current.push(other),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        out.push(current);
    }
}

#[cfg(test)]
mod tests {
    use super::split_args;

    fn s(line: &str) -> Option<Vec<String>> {
        split_args(line.as_bytes()).map(|v| v.into_iter().map(|a| String::from_utf8_lossy(&a).into_owned()).collect())
    }

    #[test]
    fn plain_and_quoted() {
        assert_eq!(s("port 6379"), Some(vec!["port".into(), "6379".into()]));
        assert_eq!(s("  save \"\"  "), Some(vec!["save".into(), "".into()]));
        assert_eq!(s("a \"b c\" 'd e'"), Some(vec!["a".into(), "b c".into(), "d e".into()]));
        assert_eq!(s("x \"\\x41\\n\\q\""), Some(vec!["x".into(), "A\nq".into()]));
        assert_eq!(s("x 'it\\'s'"), Some(vec!["x".into(), "it's".into()]));
        assert_eq!(s("x \"\\xZZ\""), Some(vec!["x".into(), "xZZ".into()]));
        assert_eq!(s(""), Some(vec![]));
        assert_eq!(s("   "), Some(vec![]));
        // \v and \f are skipped as leading blanks but do not end a token.
        assert_eq!(s("\x0ba\x0bb"), Some(vec!["a\x0bb".into()]));
    }

    #[test]
    fn errors() {
        assert_eq!(s("port \"6379"), None);
        assert_eq!(s("port \"63\"79"), None);
        assert_eq!(s("port 'x"), None);
        assert_eq!(s("port 'x'y"), None);
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(split_args(b"port 1\0 2"), Some(vec![b"port".to_vec(), b"1".to_vec()]));
        assert_eq!(split_args(b"port \"1\0\""), None);
    }
}
