//! Request parser: RESP multibulk (`*N\r\n$len\r\n...`) and inline commands, with
//! Redis 7.0's exact protocol errors and limits.
//!
//! The parser is incremental: a partially received multibulk keeps its position and the
//! spans of the arguments already seen, so a large request that arrives in many reads is
//! scanned once. Offsets are relative to the start of the read buffer, which stays valid
//! when `BytesMut` grows. When a command is complete its bytes are split off and frozen,
//! and the arguments become zero-copy `Bytes` slices of that chunk.

use bytes::{Bytes, BytesMut};

/// Longest inline request or `*`/`$` header line, as Redis's `PROTO_INLINE_MAX_SIZE`.
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;
/// Redis refuses multibulk counts above `INT_MAX`.
const MAX_MULTIBULK: i64 = i32::MAX as i64;
/// Before AUTH, Redis allows only small requests (`authRequired` checks in networking.c).
const UNAUTH_MAX_MULTIBULK: i64 = 10;
const UNAUTH_MAX_BULK: i64 = 16384;
/// Arguments at least this long are "big" (Redis's PROTO_MBULK_BIG_ARG).
pub const BIG_ARG: usize = 32 * 1024;
/// Most bytes reserved up front for one announced bulk; beyond it the buffer grows as the
/// bytes really arrive.
const BIG_PREALLOC_MAX: usize = 64 << 20;

/// Upper bound of argument slots reserved up front for a multibulk, whatever count the peer
/// announces: memory is only committed as arguments really arrive.
const ARGV_PREALLOC_MAX: usize = 1024;

/// Limits that depend on configuration and on the connection's state.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: i64,
    /// Whether the connection may send large requests (authenticated or no password set).
    pub authenticated: bool,
    /// Connections from a master are exempt from `proto-max-bulk-len`, as in Redis.
    pub is_master: bool,
}

/// A protocol violation: Redis replies with the error then closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(s: &str) -> Self {
        ProtocolError(format!("ERR Protocol error: {s}"))
    }
}

/// Incremental parser state for one connection.
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of the current (partial) multibulk already consumed.
    pos: usize,
    /// Arguments still expected in the current multibulk; 0 when between commands.
    multibulk_left: i64,
    /// Length of the bulk being awaited, or -1 when its `$` header has not been read.
    bulk_len: i64,
    /// (start, end) of the arguments parsed so far, relative to the buffer start.
    spans: Vec<(usize, usize)>,
    /// Whether the command in progress is a multibulk (the header was read).
    in_multibulk: bool,
}

/// Finds `\r` in `buf[from..]` and returns its index.
#[inline]
fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..].iter().position(|&b| b == b'\r').map(|i| i + from)
}

/// Redis's `string2ll` restricted to what protocol headers need.
#[inline]
fn parse_len(s: &[u8]) -> Option<i64> {
    crate::protocol::parse::strict_i64(s)
}

/// Strict decimal integer parse (no sign `+`, no spaces, no leading zeros), as `string2ll`.
pub fn strict_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' { (true, &s[1..]) } else { (false, s) };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

impl Parser {
    pub fn new() -> Self {
        Parser { bulk_len: -1, ..Default::default() }
    }

    /// Bytes of the command in progress held by completed arguments of at least
    /// [`BIG_ARG`] bytes. Redis moves such arguments out of the query buffer as soon as
    /// they are read, so `client-query-buffer-limit` does not count them; neither do we.
    pub fn parked_bytes(&self) -> usize {
        if !self.in_multibulk {
            return 0;
        }
        self.spans.iter().map(|&(s, e)| e - s).filter(|&l| l >= BIG_ARG).map(|l| l + 2).sum()
    }

    /// True when no partial command is buffered (used to decide whether an idle
    /// connection is mid-request).
    pub fn is_idle(&self) -> bool {
        !self.in_multibulk
    }

    /// Parses the next complete command from `buf` into `argv` (cleared first).
    ///
    /// Returns `Ok(true)` with `argv` filled when a command is complete (its bytes are
    /// removed from `buf`), `Ok(false)` when more input is needed, and an error for a
    /// protocol violation. Empty commands (`*0`, `*-1`, blank inline lines) are skipped.
    pub fn next_command(
        &mut self,
        buf: &mut BytesMut,
        lim: &ParseLimits,
        argv: &mut Vec<Bytes>,
    ) -> Result<bool, ProtocolError> {
        argv.clear();
        loop {
            if !self.in_multibulk {
                if buf.is_empty() {
                    return Ok(false);
                }
                if buf[0] != b'*' {
                    match self.parse_inline(buf, argv)? {
                        Some(true) => return Ok(true),
                        Some(false) => continue, // blank line skipped
                        None => return Ok(false),
                    }
                }
                // Multibulk header.
                let Some(cr) = find_cr(buf, 0) else {
                    if buf.len() > PROTO_INLINE_MAX_SIZE {
                        return Err(ProtocolError::new("too big mbulk count string"));
                    }
                    return Ok(false);
                };
                if cr + 1 >= buf.len() {
                    return Ok(false); // wait for the '\n'
                }
                let n = match parse_len(&buf[1..cr]) {
                    Some(n) if n <= MAX_MULTIBULK => n,
                    _ => return Err(ProtocolError::new("invalid multibulk length")),
                };
                if n > UNAUTH_MAX_MULTIBULK && !lim.authenticated {
                    return Err(ProtocolError::new("unauthenticated multibulk length"));
                }
                if n <= 0 {
                    let _ = buf.split_to(cr + 2);
                    continue;
                }
                self.in_multibulk = true;
                self.multibulk_left = n;
                self.pos = cr + 2;
                self.bulk_len = -1;
                self.spans.clear();
                self.spans.reserve((n as usize).min(ARGV_PREALLOC_MAX));
            }
            // Arguments.
            while self.multibulk_left > 0 {
                if self.bulk_len < 0 {
                    if self.pos >= buf.len() {
                        return Ok(false);
                    }
                    let Some(cr) = find_cr(buf, self.pos) else {
                        if buf.len() - self.pos > PROTO_INLINE_MAX_SIZE {
                            return Err(ProtocolError::new("too big bulk count string"));
                        }
                        return Ok(false);
                    };
                    if cr + 1 >= buf.len() {
                        return Ok(false);
                    }
                    if buf[self.pos] != b'$' {
                        return Err(ProtocolError(format!(
                            "ERR Protocol error: expected '$', got '{}'",
                            buf[self.pos] as char
                        )));
                    }
                    let l = match parse_len(&buf[self.pos + 1..cr]) {
                        Some(l) if l >= 0 && (lim.is_master || l <= lim.max_bulk_len) => l,
                        _ => return Err(ProtocolError::new("invalid bulk length")),
                    };
                    if l > UNAUTH_MAX_BULK && !lim.authenticated {
                        return Err(ProtocolError::new("unauthenticated bulk length"));
                    }
                    self.pos = cr + 2;
                    self.bulk_len = l;
                    // A large argument: make room once for all of it, as Redis does for
                    // PROTO_MBULK_BIG_ARG, instead of growing the buffer step by step. At
                    // most BIG_PREALLOC_MAX up front: a master or an AOF is exempt from
                    // `proto-max-bulk-len`, and an announced length is not data.
                    let need = self.pos.saturating_add(l as usize).saturating_add(2);
                    if need > buf.len() && l as usize >= BIG_ARG {
                        buf.reserve((need - buf.len()).min(BIG_PREALLOC_MAX));
                    }
                }
                let l = self.bulk_len as usize;
                if buf.len() < self.pos.saturating_add(l).saturating_add(2) {
                    return Ok(false);
                }
                self.spans.push((self.pos, self.pos + l));
                self.pos += l + 2;
                self.bulk_len = -1;
                self.multibulk_left -= 1;
            }
            // Complete.
            let chunk = buf.split_to(self.pos).freeze();
            argv.extend(self.spans.iter().map(|&(s, e)| chunk.slice(s..e)));
            self.in_multibulk = false;
            self.pos = 0;
            self.spans.clear();
            if self.spans.capacity() > ARGV_PREALLOC_MAX {
                // One huge multibulk must not pin its slots for the connection's life.
                self.spans = Vec::new();
            }
            return Ok(true);
        }
    }

    /// Parses one inline command line. `Some(true)`: command in `argv`; `Some(false)`:
    /// blank line consumed; `None`: need more input.
    fn parse_inline(&mut self, buf: &mut BytesMut, argv: &mut Vec<Bytes>) -> Result<Option<bool>, ProtocolError> {
        let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > PROTO_INLINE_MAX_SIZE {
                return Err(ProtocolError::new("too big inline request"));
            }
            return Ok(None);
        };
        let line = buf.split_to(nl + 1);
        let mut end = nl;
        if end > 0 && line[end - 1] == b'\r' {
            end -= 1;
        }
        let Some(args) = crate::util::splitargs::split_args(&line[..end]) else {
            return Err(ProtocolError::new("unbalanced quotes in request"));
        };
        if args.is_empty() {
            return Ok(Some(false));
        }
        argv.extend(args.into_iter().map(Bytes::from));
        Ok(Some(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> ParseLimits {
        ParseLimits { max_bulk_len: 512 * 1024 * 1024, authenticated: true, is_master: false }
    }

    fn parse_all(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>) {
        let mut p = Parser::new();
        let mut buf = BytesMut::from(input);
        let mut out = vec![];
        let mut argv = vec![];
        loop {
            match p.next_command(&mut buf, &lim(), &mut argv) {
                Ok(true) => out.push(argv.iter().map(|a| a.to_vec()).collect()),
                Ok(false) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn multibulk_and_inline() {
        let (cmds, err) = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a 'b c'\n\r\n*0\r\n");
        assert!(err.is_none());
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(cmds[2], vec![b"set".to_vec(), b"a".to_vec(), b"b c".to_vec()]);
    }

    #[test]
    fn incremental_byte_by_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        let mut p = Parser::new();
        let mut buf = BytesMut::new();
        let mut argv = vec![];
        for (i, b) in input.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let done = p.next_command(&mut buf, &lim(), &mut argv).unwrap();
            assert_eq!(done, i == input.len() - 1);
        }
        assert_eq!(argv[2].as_ref(), b"value");
        assert!(buf.is_empty());
    }

    /// A master (or an AOF) is exempt from `proto-max-bulk-len`, but an announced
    /// length is not data: no huge reservation, no overflow, just "need more input".
    #[test]
    fn huge_bulk_from_a_master_reserves_little() {
        let lim = ParseLimits { max_bulk_len: 10, authenticated: true, is_master: true };
        for len in ["99999999999999", "9223372036854775807"] {
            let mut p = Parser::new();
            let mut buf = BytesMut::from(format!("*2\r\n$3\r\nSET\r\n${len}\r\nabc").as_str());
            let mut argv = Vec::new();
            assert!(matches!(p.next_command(&mut buf, &lim, &mut argv), Ok(false)));
            assert!(buf.capacity() <= BIG_PREALLOC_MAX + 4096, "{}", buf.capacity());
        }
    }

    #[test]
    fn errors_match_redis() {
        let e = |i: &[u8]| parse_all(i).1.unwrap().0;
        assert_eq!(e(b"*abc\r\n"), "ERR Protocol error: invalid multibulk length");
        assert_eq!(e(b"*3000000000\r\n"), "ERR Protocol error: invalid multibulk length");
        assert_eq!(e(b"*1\r\n$-1\r\n"), "ERR Protocol error: invalid bulk length");
        assert_eq!(e(b"*1\r\nfoo\r\n"), "ERR Protocol error: expected '$', got 'f'");
        assert_eq!(e(b"set 'a\r\n"), "ERR Protocol error: unbalanced quotes in request");
        let big = vec![b'a'; PROTO_INLINE_MAX_SIZE + 1];
        assert_eq!(e(&big), "ERR Protocol error: too big inline request");
        let mut bigmb = b"*1".to_vec();
        bigmb.extend(vec![b'1'; PROTO_INLINE_MAX_SIZE + 1]);
        assert_eq!(e(&bigmb), "ERR Protocol error: too big mbulk count string");
        let l = ParseLimits { max_bulk_len: 10, ..lim() };
        let mut p = Parser::new();
        let mut buf = BytesMut::from(&b"*1\r\n$11\r\n"[..]);
        let r = p.next_command(&mut buf, &l, &mut vec![]);
        assert_eq!(r.unwrap_err().0, "ERR Protocol error: invalid bulk length");
    }

    #[test]
    fn unauthenticated_limits() {
        let l = ParseLimits { authenticated: false, ..lim() };
        let mut p = Parser::new();
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        let r = p.next_command(&mut buf, &l, &mut vec![]);
        assert_eq!(r.unwrap_err().0, "ERR Protocol error: unauthenticated multibulk length");
        let mut p = Parser::new();
        let mut buf = BytesMut::from(&b"*1\r\n$16385\r\n"[..]);
        let r = p.next_command(&mut buf, &l, &mut vec![]);
        assert_eq!(r.unwrap_err().0, "ERR Protocol error: unauthenticated bulk length");
    }

    #[test]
    fn strict_integers() {
        assert_eq!(strict_i64(b"0"), Some(0));
        assert_eq!(strict_i64(b"-1"), Some(-1));
        assert_eq!(strict_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(strict_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b""[..], b"01", b"+1", b" 1", b"1 ", b"-0", b"9223372036854775808", b"-"] {
            assert_eq!(strict_i64(bad), None, "{:?}", bad);
        }
    }
}
