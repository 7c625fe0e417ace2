//! The write stream: one totally ordered sequence of the writes this node executes.
//!
//! Every write command leaves `call()` through [`WriteStream::append`] while the keyspace
//! lock is held, so the stream order is the execution order. Each record is encoded once
//! as RESP (with a `SELECT` when the database changes, as Redis's replication stream does)
//! into a bounded backlog ring; the byte offset is the replication offset. Consumers (the
//! AOF writer, replica links) read from the backlog by offset, and a consumer that falls
//! behind the ring's start needs a full resync. Each record also keeps its origin mvcc, so
//! the active-replication stream can be produced from the same place.
//!
//! Like Redis, which creates its replication backlog only when the first replica
//! attaches, the ring is kept only while a consumer needs it (`enable_backlog`): without
//! one, `append` only advances the offset and counters. Copying every write into a 1 MB
//! ring nobody reads costs cache space the keyspace needs (measured: ~10% of pipelined SET).

use bytes::Bytes;

/// Default backlog size, as Redis's `repl-backlog-size` default (1 MB).
pub const DEFAULT_BACKLOG: usize = 1024 * 1024;

/// Smallest backlog, as Redis's `CONFIG_REPL_BACKLOG_MIN_SIZE`.
pub const MIN_BACKLOG: usize = 16 * 1024;

/// The ring size for `repl-backlog-size` (at least [`MIN_BACKLOG`]).
pub fn backlog_capacity(configured: i64) -> usize {
    usize::try_from(configured).unwrap_or(usize::MAX).max(MIN_BACKLOG)
}

/// The write stream of one node.
#[derive(Debug)]
pub struct WriteStream {
    /// A copy of every byte appended, for the AOF (`persistence::aof` drains it at the end
    /// of each batch); None while the AOF is off.
    pub aof_tap: Option<Vec<u8>>,
    /// A copy of every byte appended since the last hand-over to the replicas
    /// (`replication::master::feed`, at the end of each batch); None without replicas.
    pub repl_tap: Option<Vec<u8>>,
    /// Set while a replica applies its master's stream: the commands it executes are not
    /// re-encoded; the master's bytes are appended as they are ([`Self::append_raw`]), so
    /// this node's offsets equal its master's and sub-replicas get the stream unchanged.
    pub muted: bool,
    /// `aof-timestamp-enabled`: the AOF gets a `#TS:<unix time>` annotation before the
    /// first write of every second, as Redis writes it.
    pub aof_timestamps: bool,
    aof_last_ts: i64,
    /// Whether the AOF gets each write's timestamp as a `#mvcc:<n>` annotation (with
    /// `active-replica` on, where stamps order writes between nodes). Without it the AOF
    /// is byte for byte what Redis writes.
    pub aof_mvcc: bool,
    /// Offset of the next byte to be appended (Redis's `master_repl_offset`).
    offset: u64,
    /// Database the last record was written for; a different one emits SELECT first.
    last_db: Option<usize>,
    /// Ring buffer holding the last `capacity` bytes of the stream.
    ring: Vec<u8>,
    capacity: usize,
    /// Number of records appended (commands, not counting SELECT).
    records: u64,
    /// mvcc of the last record, for INFO and the active-replication stream.
    last_mvcc: u64,
    /// Whether the backlog ring is kept (a consumer is attached).
    backlog: bool,
    /// Offset at which the backlog was enabled (nothing before it is held).
    backlog_start: u64,
}

impl Default for WriteStream {
    fn default() -> Self {
        Self::new(DEFAULT_BACKLOG)
    }
}

/// Appends the RESP multibulk of `argv` to `out`.
pub fn encode_command(out: &mut Vec<u8>, argv: &[&[u8]]) {
    let mut b = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(b.format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        out.push(b'$');
        out.extend_from_slice(b.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Writes `<prefix><n>\r\n` into `buf`, returning its length.
fn header(buf: &mut [u8; 24], prefix: u8, n: usize) -> usize {
    let mut b = itoa::Buffer::new();
    let digits = b.format(n).as_bytes();
    buf[0] = prefix;
    buf[1..1 + digits.len()].copy_from_slice(digits);
    buf[1 + digits.len()..3 + digits.len()].copy_from_slice(b"\r\n");
    3 + digits.len()
}

impl WriteStream {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0);
        WriteStream {
            aof_tap: None,
            repl_tap: None,
            muted: false,
            aof_timestamps: false,
            aof_last_ts: 0,
            aof_mvcc: false,
            offset: 0,
            last_db: None,
            ring: Vec::new(),
            capacity,
            records: 0,
            last_mvcc: 0,
            backlog: false,
            backlog_start: 0,
        }
    }

    /// Appends one executed write. `db` is the database it ran in. Encodes straight into
    /// the ring: no intermediate buffer on this per-write path.
    pub fn append(&mut self, db: usize, mvcc: u64, argv: &[Bytes]) {
        self.append_to(db, mvcc, argv, false);
    }

    /// [`Self::append`], or with `repl_only` a command for the replicas but not the AOF
    /// (PUBLISH, as Redis's `PROPAGATE_REPL`); a SELECT before it goes to both, so they
    /// stay in the same database.
    pub fn append_to(&mut self, db: usize, mvcc: u64, argv: &[Bytes], repl_only: bool) {
        if self.muted {
            return;
        }
        if let (true, Some(t)) = (self.aof_timestamps, self.aof_tap.as_mut()) {
            let now = crate::util::time::unix_secs();
            if now > self.aof_last_ts {
                self.aof_last_ts = now;
                t.extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
            }
        }
        if self.last_db != Some(db) {
            let mut b = itoa::Buffer::new();
            let dbs = b.format(db);
            let mut sel = Vec::with_capacity(32);
            encode_command(&mut sel, &[b"SELECT", dbs.as_bytes()]);
            self.push_bytes(&sel);
            self.last_db = Some(db);
        }
        let aof = if repl_only { self.aof_tap.take() } else { None };
        if let Some(t) = self.aof_tap.as_mut() {
            // The AOF keeps each write's timestamp in an annotation line, which Redis 7
            // skips when it loads an AOF (as its own `#TS:` lines).
            if mvcc != 0 && self.aof_mvcc {
                let mut b = itoa::Buffer::new();
                t.extend_from_slice(b"#mvcc:");
                t.extend_from_slice(b.format(mvcc).as_bytes());
                t.extend_from_slice(b"\r\n");
            }
        }
        let mut hdr = [0u8; 24];
        let n = header(&mut hdr, b'*', argv.len());
        self.push_bytes(&hdr[..n]);
        for a in argv {
            let n = header(&mut hdr, b'$', a.len());
            self.push_bytes(&hdr[..n]);
            self.push_bytes(a);
            self.push_bytes(b"\r\n");
        }
        if repl_only {
            self.aof_tap = aof;
        }
        self.records += 1;
        self.last_mvcc = mvcc;
    }

    /// Appends bytes received from this node's master, as they are, once executed; `db` is
    /// the database the master's stream is in after them.
    pub fn append_raw(&mut self, data: &[u8], db: usize) {
        self.push_bytes(data);
        self.last_db = Some(db);
        self.records += 1;
    }

    /// Appends a command for the replicas only (the master's PING, REPLCONF GETACK), in
    /// whatever database the stream is in: it is not a write, so the AOF does not get it.
    pub fn append_for_replicas(&mut self, argv: &[&[u8]]) {
        let mut buf = Vec::with_capacity(64);
        encode_command(&mut buf, argv);
        let aof = self.aof_tap.take();
        self.push_bytes(&buf);
        self.aof_tap = aof;
    }

    /// Restarts the stream at `offset` with an empty backlog (a replica after a full
    /// sync takes its master's offset). The next record starts with a SELECT.
    pub fn reset_to(&mut self, offset: u64) {
        self.offset = offset;
        self.backlog_start = offset;
        self.last_db = None;
    }

    /// The database the stream is in (the last SELECT), if known.
    pub fn current_db(&self) -> Option<usize> {
        self.last_db
    }

    /// Sets the database the stream is in (a replica loading its master's snapshot takes
    /// the master's `repl-stream-db`).
    pub fn set_current_db(&mut self, db: Option<usize>) {
        self.last_db = db;
    }

    /// Changes the backlog size (CONFIG SET repl-backlog-size). The ring keeps what fits.
    pub fn resize(&mut self, capacity: usize) {
        assert!(capacity > 0);
        if capacity == self.capacity {
            return;
        }
        if !self.backlog {
            self.capacity = capacity;
            return;
        }
        let keep = (self.histlen()).min(capacity);
        let tail = self.read_from(self.offset - keep as u64).unwrap_or_default();
        self.capacity = capacity;
        self.ring = vec![0; capacity];
        self.backlog_start = self.offset - tail.len() as u64;
        let end = self.offset;
        self.offset = self.backlog_start;
        let (aof, repl) = (self.aof_tap.take(), self.repl_tap.take());
        self.push_bytes(&tail);
        (self.aof_tap, self.repl_tap) = (aof, repl);
        debug_assert_eq!(self.offset, end);
    }

    /// Drops the backlog ring (`repl-backlog-ttl` passed without replicas).
    pub fn disable_backlog(&mut self) {
        self.backlog = false;
        self.ring = Vec::new();
        self.backlog_start = self.offset;
    }

    /// Starts keeping the backlog ring (from the current offset on).
    pub fn enable_backlog(&mut self) {
        if !self.backlog {
            self.backlog = true;
            self.ring = vec![0; self.capacity];
            self.backlog_start = self.offset;
        }
    }

    /// Whether the backlog ring is kept (INFO's `repl_backlog_active`).
    pub fn backlog_active(&self) -> bool {
        self.backlog
    }

    /// Forgets the current database, so the next record starts with a SELECT (a new AOF
    /// file must say which database its first command is for).
    pub fn reset_db(&mut self) {
        self.last_db = None;
    }

    #[inline]
    fn push_bytes(&mut self, data: &[u8]) {
        if let Some(t) = self.aof_tap.as_mut() {
            t.extend_from_slice(data);
        }
        if let Some(t) = self.repl_tap.as_mut() {
            t.extend_from_slice(data);
        }
        if !self.backlog {
            self.offset += data.len() as u64;
            return;
        }
        if self.ring.len() < self.capacity {
            self.ring.resize(self.capacity, 0); // allocated on first use
        }
        for chunk in data.chunks(self.capacity) {
            let start = (self.offset % self.capacity as u64) as usize;
            let first = chunk.len().min(self.capacity - start);
            self.ring[start..start + first].copy_from_slice(&chunk[..first]);
            let rest = &chunk[first..];
            self.ring[..rest.len()].copy_from_slice(rest);
            self.offset += chunk.len() as u64;
        }
    }

    /// The offset of the next byte (bytes ever appended).
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// Offset of the oldest byte still in the backlog.
    pub fn first_offset(&self) -> u64 {
        if !self.backlog {
            return self.offset;
        }
        self.offset.saturating_sub(self.capacity as u64).max(self.backlog_start)
    }
    pub fn records(&self) -> u64 {
        self.records
    }
    pub fn last_mvcc(&self) -> u64 {
        self.last_mvcc
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Bytes currently held in the backlog.
    pub fn histlen(&self) -> usize {
        (self.offset - self.first_offset()) as usize
    }
    /// Copies the stream from `from` to the end, if still in the backlog.
    pub fn read_from(&self, from: u64) -> Option<Vec<u8>> {
        if from < self.first_offset() || from > self.offset {
            return None;
        }
        let mut out = Vec::with_capacity((self.offset - from) as usize);
        let mut pos = from;
        while pos < self.offset {
            let i = (pos % self.capacity as u64) as usize;
            let n = ((self.offset - pos) as usize).min(self.capacity - i);
            out.extend_from_slice(&self.ring[i..i + n]);
            pos += n as u64;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_backlog_only_offsets_advance() {
        let mut s = WriteStream::new(64);
        s.append(0, 7, &[Bytes::from_static(b"del"), Bytes::from_static(b"k")]);
        // SELECT 0 (23 bytes) + DEL k (20 bytes), counted but not kept.
        assert_eq!(s.offset(), 43);
        assert_eq!(s.records(), 1);
        assert_eq!(s.last_mvcc(), 7);
        assert_eq!(s.read_from(0), None);
        assert_eq!(s.read_from(43), Some(vec![]));
        s.enable_backlog();
        s.append(0, 8, &[Bytes::from_static(b"del"), Bytes::from_static(b"k")]);
        assert_eq!(s.read_from(43).unwrap(), b"*2\r\n$3\r\ndel\r\n$1\r\nk\r\n".to_vec());
    }

    #[test]
    fn records_in_order_with_select_and_wraps() {
        let mut s = WriteStream::new(64);
        s.enable_backlog();
        s.append(0, 1, &[Bytes::from_static(b"set"), Bytes::from_static(b"k"), Bytes::from_static(b"v")]);
        let all = s.read_from(0).unwrap();
        assert_eq!(all, b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n".to_vec());
        let before = s.offset();
        s.append(0, 2, &[Bytes::from_static(b"del"), Bytes::from_static(b"k")]);
        assert_eq!(s.read_from(before).unwrap(), b"*2\r\n$3\r\ndel\r\n$1\r\nk\r\n".to_vec());
        for i in 0..10 {
            s.append(1, 3 + i, &[Bytes::from_static(b"del"), Bytes::from_static(b"k")]);
        }
        assert!(s.read_from(0).is_none());
        let tail = s.read_from(s.offset() - 20).unwrap();
        assert_eq!(tail.len(), 20);
        assert!(tail.ends_with(b"del\r\n$1\r\nk\r\n"));
        assert_eq!(s.records(), 12);
    }
}
