//! Reply writer: encodes RESP2 or RESP3 directly into a connection's output buffer.
//!
//! Commands never build frames; they call these methods in order. The RESP version decides
//! the encoding of the types RESP2 lacks (maps become flat arrays, null becomes `$-1` or
//! `*-1`, doubles become bulk strings, booleans become integers, pushes become arrays),
//! exactly as Redis 7.0's `addReply*` family does.

/// Output buffer of one client plus the protocol version its replies are encoded in.
#[derive(Debug)]
pub struct Reply {
    pub buf: Vec<u8>,
    pub resp3: bool,
    /// Error replies written since the last `take_errors`, for `INFO errorstats`:
    /// (error code prefix such as "ERR" or "WRONGTYPE").
    errors: Vec<String>,
    /// Byte ranges of the pushes (pub/sub confirmations and messages) written since the
    /// last [`Reply::discard_from`] or [`Reply::clear_pushes`]: CLIENT REPLY OFF/SKIP
    /// silences a command's reply but not these, as Redis's `CLIENT_PUSHING` lets them
    /// through.
    pushes: Vec<(usize, usize)>,
    /// Output size past which the client's output buffer hard limit is reached (set by
    /// the connection from `client-output-buffer-limit`; `usize::MAX`: no limit).
    /// Commands that can produce unbounded replies (KEYS, HRANDFIELD with a huge count)
    /// stop early once [`Reply::over_limit`], as Redis stops on CLIENT_CLOSE_ASAP: the
    /// client is disconnected and its output discarded anyway.
    pub limit: usize,
}

/// Writes `prefix`, the decimal `n`, and CRLF.
#[inline]
fn header(buf: &mut Vec<u8>, prefix: u8, n: i64) {
    buf.push(prefix);
    let mut b = itoa::Buffer::new();
    buf.extend_from_slice(b.format(n).as_bytes());
    buf.extend_from_slice(b"\r\n");
}

/// Shared empty-array, OK, and similar constant replies.
pub const OK: &[u8] = b"+OK\r\n";

impl Reply {
    pub fn new() -> Self {
        Reply::with_capacity(16 * 1024)
    }

    /// A writer whose buffer starts with `cap` bytes (0 for one that only carries the
    /// protocol version).
    pub fn with_capacity(cap: usize) -> Self {
        Reply { buf: Vec::with_capacity(cap), resp3: false, errors: Vec::new(), pushes: Vec::new(), limit: usize::MAX }
    }

    /// The output already passed the client's hard output buffer limit: the client
    /// will be disconnected without its replies, so producing more is wasted work.
    #[inline]
    pub fn over_limit(&self) -> bool {
        self.buf.len() > self.limit
    }

    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    #[inline]
    pub fn ok(&mut self) {
        self.raw(OK);
    }
    /// `+status`: the text must not contain CR or LF (Redis replaces them with spaces).
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        for &b in s.as_bytes() {
            self.buf.push(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.extend_from_slice(b"\r\n");
    }
    /// An error reply. Like Redis's `addReplyError`, "ERR " is prepended unless the text
    /// already starts with an error code (an upper-case word, e.g. "WRONGTYPE ...") given
    /// with a leading '-'. Pass either "-CODE message" or a plain "message".
    pub fn error(&mut self, s: impl AsRef<[u8]>) {
        let s = s.as_ref();
        let (prefix, body): (&[u8], &[u8]) = match s.strip_prefix(b"-") {
            Some(rest) => (b"", rest),
            None => (b"ERR ", s),
        };
        let mut code = if prefix.is_empty() { body } else { b"ERR" };
        if let Some(sp) = code.iter().position(|&b| b == b' ') {
            code = &code[..sp];
        }
        let code = String::from_utf8_lossy(code).into_owned();
        self.buf.push(b'-');
        self.buf.extend_from_slice(prefix);
        for &b in body {
            self.buf.push(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.extend_from_slice(b"\r\n");
        self.errors.push(code);
    }
    /// Errors written since the last call, for stats.
    pub fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.errors)
    }
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
    #[inline]
    pub fn int(&mut self, n: i64) {
        header(&mut self.buf, b':', n);
    }
    #[inline]
    pub fn bulk(&mut self, s: &[u8]) {
        header(&mut self.buf, b'$', s.len() as i64);
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }
    pub fn bulk_str(&mut self, s: &str) {
        self.bulk(s.as_bytes());
    }
    /// Bulk string of a decimal integer (e.g. INCRBYFLOAT-style or GET of an int).
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }
    /// Null bulk: `$-1` in RESP2, `_` in RESP3.
    #[inline]
    pub fn null(&mut self) {
        self.raw(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }
    /// Null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        self.raw(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }
    #[inline]
    pub fn array(&mut self, n: usize) {
        header(&mut self.buf, b'*', n as i64);
    }
    /// Map of `n` pairs: `%n` in RESP3, an array of 2n in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            header(&mut self.buf, b'%', n as i64)
        } else {
            header(&mut self.buf, b'*', 2 * n as i64)
        }
    }
    /// Set of `n` elements: `~n` in RESP3, an array in RESP2.
    pub fn set(&mut self, n: usize) {
        header(&mut self.buf, if self.resp3 { b'~' } else { b'*' }, n as i64)
    }
    /// Push of `n` elements: `>n` in RESP3, an array in RESP2.
    pub fn push(&mut self, n: usize) {
        header(&mut self.buf, if self.resp3 { b'>' } else { b'*' }, n as i64)
    }
    /// Boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn bool(&mut self, b: bool) {
        if self.resp3 {
            self.raw(if b { b"#t\r\n" } else { b"#f\r\n" })
        } else {
            self.int(b as i64)
        }
    }
    /// Double: `,` in RESP3, a bulk string in RESP2; formatted as Redis 7.0 does.
    pub fn double(&mut self, d: f64) {
        if self.resp3 {
            let f = crate::util::numeric::fmt_double_resp3(d);
            self.buf.extend_from_slice(&f);
        } else {
            let f = crate::util::numeric::fmt_double_resp2(d);
            self.buf.extend_from_slice(&f);
        }
    }
    /// Verbatim string (`=len\r\ntxt:...`) in RESP3, a bulk string in RESP2.
    pub fn verbatim(&mut self, s: &[u8], ext: &str) {
        if self.resp3 {
            header(&mut self.buf, b'=', (s.len() + 4) as i64);
            self.buf.extend_from_slice(ext.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(s);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s);
        }
    }
    /// Starts an aggregate whose length is not known yet; see [`Reply::end_deferred`].
    pub fn begin_deferred(&mut self) -> usize {
        self.buf.len()
    }
    /// Inserts the header of an aggregate begun with [`Reply::begin_deferred`].
    /// `kind` is b'*' (array), b'%' (map, `n` pairs) or b'~' (set).
    pub fn end_deferred(&mut self, pos: usize, kind: u8, n: usize) {
        let mut h = Vec::with_capacity(16);
        match kind {
            b'%' if !self.resp3 => header(&mut h, b'*', 2 * n as i64),
            b'%' | b'~' if self.resp3 => header(&mut h, kind, n as i64),
            _ => header(&mut h, b'*', n as i64),
        }
        self.shift_pushes(pos, h.len());
        self.buf.splice(pos..pos, h);
    }
    /// Marks what was written since `start` as a push that survives CLIENT REPLY OFF.
    pub fn mark_push(&mut self, start: usize) {
        self.pushes.push((start, self.buf.len()));
    }
    /// Inserts pushes at `at` (messages a command delivered to its own client, which go
    /// before its reply).
    pub fn insert_pushes(&mut self, at: usize, msgs: Vec<u8>) {
        let n = msgs.len();
        self.shift_pushes(at, n);
        self.buf.splice(at..at, msgs);
        self.pushes.push((at, at + n));
    }
    /// Moves the recorded pushes at or after `at` by `n` inserted bytes.
    fn shift_pushes(&mut self, at: usize, n: usize) {
        for r in self.pushes.iter_mut().filter(|r| r.0 >= at) {
            *r = (r.0 + n, r.1 + n);
        }
    }
    /// Discards what was written from `mark` on, except the pushes (CLIENT REPLY OFF).
    pub fn discard_from(&mut self, mark: usize) {
        let mut kept = Vec::new();
        for &(s, e) in &self.pushes {
            if s >= mark && e <= self.buf.len() {
                kept.extend_from_slice(&self.buf[s..e]);
            }
        }
        self.buf.truncate(mark);
        self.buf.extend_from_slice(&kept);
        self.pushes.clear();
    }
    /// Forgets the recorded pushes (the reply they belong to is kept whole).
    pub fn clear_pushes(&mut self) {
        self.pushes.clear();
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

impl Default for Reply {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_encodings() {
        let mut r = Reply::new();
        r.map(1);
        r.null();
        r.bool(true);
        r.error("bad");
        r.error("-WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(
            std::str::from_utf8(&r.buf).unwrap(),
            "*2\r\n$-1\r\n:1\r\n-ERR bad\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
        assert_eq!(r.take_errors(), vec!["ERR".to_string(), "WRONGTYPE".to_string()]);
        let mut r = Reply::new();
        r.resp3 = true;
        r.map(1);
        r.null();
        r.bool(false);
        let p = r.begin_deferred();
        r.bulk(b"a");
        r.end_deferred(p, b'~', 1);
        assert_eq!(std::str::from_utf8(&r.buf).unwrap(), "%1\r\n_\r\n#f\r\n~1\r\n$1\r\na\r\n");
    }
}
