//! The write stream: one totally ordered sequence of the writes this node executes.
//!
//! Every write command leaves `call()` through [`WriteStream::append`] while the keyspace
//! lock is held, so the stream order is the execution order. Each record is encoded once
//! as RESP (with a `SELECT` when the database changes, as Redis's replication stream does);
//! the byte offset is the replication offset. Each record also keeps its origin mvcc, so
//! the active-replication stream can be produced from the same place.
//!
//! # The replication buffer
//!
//! The encoded bytes go into one **shared replication buffer** (Redis 7's design,
//! `feedReplicationBuffer`): a list of append-only blocks. The backlog and every consumer
//! (each replica's connection) are positions in that one list, so a write is copied once
//! whatever the number of replicas, and a replica's output buffer costs a reference, not
//! a copy. A consumer reads through a [`Cursor`] without the store lock: blocks are
//! written by this stream only (it is the single writer, under the lock) and published
//! byte ranges are never written again, so readers on other threads see immutable bytes.
//!
//! The backlog keeps at least `repl-backlog-size` bytes, and more while a consumer still
//! holds older blocks (a slow replica, or one waiting for its snapshot): the first block is
//! released only when nobody but the backlog references it
//! (`incrementalTrimReplicationBacklog`). So a partial resync can continue from anything
//! still held for someone, and the memory of N replicas at the same place is that of one.
//!
//! Like Redis, which creates its backlog only when the first replica attaches, the buffer
//! exists only while a consumer needs it (`enable_backlog`): without one, `append` only
//! advances the offset and counters. Copying every write into memory nobody reads costs
//! cache space the keyspace needs (measured: ~10% of pipelined SET).

use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

/// Default backlog size, as Redis's `repl-backlog-size` default (1 MB).
pub const DEFAULT_BACKLOG: usize = 1024 * 1024;

/// Smallest backlog, as Redis's `CONFIG_REPL_BACKLOG_MIN_SIZE`.
pub const MIN_BACKLOG: usize = 16 * 1024;

/// Smallest block of the replication buffer (Redis's `PROTO_REPLY_CHUNK_BYTES`). Blocks
/// are at most `repl-backlog-size / 16` (when that is larger), so that the backlog never
/// keeps a huge block for a small part of it.
pub const MIN_BLOCK: usize = 16 * 1024;

/// Bytes a block costs besides its data: its header, its reference counts and its slot
/// in the list (Redis counts its list node and block header the same way).
pub const BLOCK_OVERHEAD: usize = std::mem::size_of::<Block>() + 2 * std::mem::size_of::<usize>() + 8;

/// Blocks freed at most per trim: freeing many blocks at once (a replica holding
/// hundreds of MB went away) would stall the lock holder; the rest goes in later trims.
pub const TRIM_BLOCKS_PER_CALL: usize = 64;

/// The ring size for `repl-backlog-size` (at least [`MIN_BACKLOG`]).
pub fn backlog_capacity(configured: i64) -> usize {
    usize::try_from(configured).unwrap_or(usize::MAX).max(MIN_BACKLOG)
}

/// One block of the replication buffer: a fixed allocation filled from the front.
///
/// Bytes below `used` are published and never written again; bytes above are written
/// only by the [`WriteStream`] whose tail this block is (through `&mut WriteStream`, so
/// there is one writer), before `used` publishes them with Release ordering. Readers load
/// `used` with Acquire and read only below it. That is what makes sharing a block between
/// threads sound without a lock.
pub struct Block {
    /// Stream offset of the block's first byte.
    start: u64,
    /// Sequence number: `b.id - a.id + 1` blocks from `a` to `b`.
    id: u64,
    ptr: NonNull<u8>,
    cap: usize,
    /// Bytes written and published.
    used: AtomicUsize,
    /// The block after this one, set once by the writer when this one is full.
    next: OnceLock<Arc<Block>>,
}

// SAFETY: the allocation is owned by the block (freed in Drop only). Shared access is
// sound by the protocol described on the type: published bytes are immutable, and the
// unpublished part is touched by the single writer only.
unsafe impl Send for Block {}
// SAFETY: as for Send; every method taking `&self` either reads published bytes or is
// the writer's `write`, which only the owning stream calls.
unsafe impl Sync for Block {}

impl Block {
    fn new(start: u64, id: u64, cap: usize) -> Block {
        let buf: Box<[MaybeUninit<u8>]> = Box::new_uninit_slice(cap);
        let ptr = NonNull::from(Box::leak(buf)).cast::<u8>();
        Block { start, id, ptr, cap, used: AtomicUsize::new(0), next: OnceLock::new() }
    }

    /// Appends what fits of `data`; returns how much. Only the owning stream calls this,
    /// on its tail block.
    fn write(&self, data: &[u8]) -> usize {
        let used = self.used.load(Ordering::Relaxed); // only this writer stores it
        let n = data.len().min(self.cap - used);
        // SAFETY: `used + n <= cap`, so the destination lies inside the allocation. The
        // range `[used, used + n)` is not published yet, so no reader looks at it, and
        // the single writer is the caller (see the type's documentation).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(used), n) };
        self.used.store(used + n, Ordering::Release);
        n
    }

    /// The published bytes from `from` on.
    fn bytes(&self, from: usize) -> &[u8] {
        let used = self.used.load(Ordering::Acquire);
        let from = from.min(used);
        // SAFETY: `[0, used)` was initialised before `used` was published (the Acquire
        // load pairs with the writer's Release store) and is never written again.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(from), used - from) }
    }

    fn len(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr().cast::<MaybeUninit<u8>>(), self.cap);
        // SAFETY: `ptr` and `cap` come from the `Box<[MaybeUninit<u8>]>` leaked in `new`,
        // and this is the only place that frees it.
        drop(unsafe { Box::from_raw(slice) });
        // Unlink the chain of following blocks iteratively: a consumer that held an old
        // block may be the last owner of a long chain, and dropping it recursively could
        // overflow the stack.
        let mut next = self.next.take();
        while let Some(b) = next {
            next = match Arc::try_unwrap(b) {
                Ok(mut b) => b.next.take(),
                Err(_) => None,
            };
        }
    }
}

/// A consumer's position in the replication buffer. It keeps its block (and so every
/// later one) alive; it moves forward only.
pub struct Cursor {
    block: Arc<Block>,
    pos: usize,
}

/// Bytes of the stream ready to be sent: a range of one block, kept alive while held.
pub struct Chunk {
    block: Arc<Block>,
    from: usize,
    to: usize,
}

impl Chunk {
    pub fn as_slice(&self) -> &[u8] {
        &self.block.bytes(self.from)[..self.to - self.from]
    }
}

impl Cursor {
    /// The stream offset of the next byte to read.
    pub fn offset(&self) -> u64 {
        self.block.start + self.pos as u64
    }

    /// The bytes to send next (the rest of the current block, moving to the next block
    /// first when this one is consumed), or None when the cursor is at the end.
    pub fn chunk(&mut self) -> Option<Chunk> {
        loop {
            let used = self.block.len();
            if self.pos < used {
                return Some(Chunk { block: self.block.clone(), from: self.pos, to: used });
            }
            let next = self.block.next.get()?.clone();
            // The writer published this block's last bytes before linking the next one:
            // after seeing the link, `used` is final.
            if self.block.len() > self.pos {
                continue;
            }
            self.block = next;
            self.pos = 0;
        }
    }

    /// The bytes to send next as up to `max` chunks (one per block, from the cursor on)
    /// totalling at most about `max_bytes`, for one vectored write; the cursor does not
    /// move (see [`Self::consume`]).
    pub fn chunks(&mut self, max: usize, max_bytes: usize, out: &mut Vec<Chunk>) {
        out.clear();
        let Some(first) = self.chunk() else { return };
        let mut total = first.to - first.from;
        let mut block = first.block.clone();
        out.push(first);
        while out.len() < max && total < max_bytes {
            // Only a block that is complete (its successor linked) lets the next follow.
            let Some(next) = block.next.get().cloned() else { break };
            if block.len() != out.last().map_or(0, |c| c.to) {
                break; // bytes of this block published since: the next call sends them
            }
            let used = next.len();
            if used == 0 {
                break;
            }
            total += used;
            out.push(Chunk { block: next.clone(), from: 0, to: used });
            block = next;
        }
    }

    /// Marks `n` bytes as sent (those of the chunks last handed out, in order); finished
    /// blocks are let go at once, so the backlog can release them.
    pub fn consume(&mut self, mut n: usize) {
        loop {
            let take = n.min(self.block.len() - self.pos);
            self.pos += take;
            n -= take;
            // The link first: once it is set, the block's length is final.
            let Some(next) = self.block.next.get() else { break };
            if self.pos < self.block.len() {
                break;
            }
            self.block = next.clone();
            self.pos = 0;
            if n == 0 {
                break;
            }
        }
    }
}

/// The blocks of the replication buffer, oldest first.
#[derive(Default)]
struct ReplBuffer {
    blocks: VecDeque<Arc<Block>>,
    /// Allocated bytes of all blocks plus their overhead (`mem_total_replication_buffers`).
    mem: usize,
}

impl ReplBuffer {
    /// Releases leading blocks while the backlog holds more than `size` bytes without
    /// them and nobody else references them (`incrementalTrimReplicationBacklog`).
    fn trim(&mut self, size: usize, end: u64, max_blocks: usize) {
        for _ in 0..max_blocks {
            if self.blocks.len() <= 1 {
                break; // never less than one block
            }
            let first = &self.blocks[0];
            let histlen = end - first.start;
            if histlen.saturating_sub(first.len() as u64) <= size as u64 || Arc::strong_count(first) != 1 {
                break;
            }
            if let Some(b) = self.blocks.pop_front() {
                self.mem -= b.cap + BLOCK_OVERHEAD;
            }
        }
    }
}

/// The write stream of one node.
pub struct WriteStream {
    /// A copy of every byte appended, for the AOF (`persistence::aof` drains it at the end
    /// of each batch); None while the AOF is off.
    pub aof_tap: Option<Vec<u8>>,
    /// Active replication: this node's UUID. Each write then goes to the replicas as an
    /// `RREPLAY <uuid> <payload> <db> <mvcc> <trailer>` frame (KeyDB's form, see
    /// `replication::active`), and to the AOF as the plain command.
    pub active: Option<[u8; 36]>,
    /// The database the AOF was last told about with SELECT (active mode, where the
    /// replicas' frames carry their database and need no SELECT).
    aof_last_db: Option<usize>,
    /// Scratch buffer for a frame's payload.
    frame_buf: Vec<u8>,
    /// `aof-timestamp-enabled`: the AOF gets a `#TS:<unix time>` annotation before the
    /// first write of every second, as Redis writes it.
    pub aof_timestamps: bool,
    aof_last_ts: i64,
    /// Whether the AOF gets each write's timestamp as a `#mvcc:<n>` annotation (with
    /// `active-replica` on, where stamps order writes between nodes). Without it the AOF
    /// is byte for byte what Redis writes.
    pub aof_mvcc: bool,
    /// Active mode with plain replicas attached: every write this node applies (its own
    /// and its peers', merged states, expiries), as the plain commands its AOF gets,
    /// with SELECTs, for `replication::master`'s plain stream (drained at the end of each
    /// batch, as the AOF tap). None while no plain replica ever attached.
    pub plain_tap: Option<Vec<u8>>,
    /// The database the plain tap was last told about with SELECT.
    plain_last_db: Option<usize>,
    /// Active mode: this run's counter origin (`replication::active::Active::origin`),
    /// annotated in the AOF before each increment (`#ctr:<hex>`) so that a replay counts
    /// it for the run that made it.
    pub counter_origin: u64,
    /// Offset of the next byte to be appended (Redis's `master_repl_offset`).
    offset: u64,
    /// Database the last record was written for; a different one emits SELECT first.
    last_db: Option<usize>,
    /// The replication buffer, while a consumer needs it.
    buf: Option<ReplBuffer>,
    /// `repl-backlog-size`.
    backlog_size: usize,
    next_block_id: u64,
    /// A block was added since the last [`Self::take_new_block`] (consumers' output
    /// limits are checked then, as Redis does).
    new_block: bool,
    /// Number of records appended (commands, not counting SELECT).
    records: u64,
    /// mvcc of the last record, for INFO and the active-replication stream.
    last_mvcc: u64,
}

impl std::fmt::Debug for WriteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteStream").field("offset", &self.offset).field("backlog", &self.buf.is_some()).finish()
    }
}

impl Default for WriteStream {
    fn default() -> Self {
        Self::new(DEFAULT_BACKLOG)
    }
}

/// Where an active-mode frame goes besides the peers' stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taps {
    /// The AOF and the plain replicas (a write).
    Both,
    /// The plain replicas only (PUBLISH: not a write).
    Plain,
    /// Neither (a state frame: they have the state already).
    None,
}

/// Appends the RESP multibulk of `argv` to `out`.
pub fn encode_command(out: &mut Vec<u8>, argv: &[&[u8]]) {
    encode_args(out, argv);
}

/// [`encode_command`] for arguments of any byte type (a command's `Bytes`).
pub fn encode_args<A: AsRef<[u8]>>(out: &mut Vec<u8>, argv: &[A]) {
    let mut b = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(b.format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        let a = a.as_ref();
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
    /// A stream whose backlog keeps `backlog_size` bytes (`repl-backlog-size`).
    pub fn new(backlog_size: usize) -> Self {
        WriteStream {
            aof_tap: None,
            active: None,
            aof_last_db: None,
            plain_tap: None,
            plain_last_db: None,
            frame_buf: Vec::new(),
            aof_timestamps: false,
            aof_last_ts: 0,
            aof_mvcc: false,
            counter_origin: 0,
            offset: 0,
            last_db: None,
            buf: None,
            backlog_size: backlog_size.max(1),
            next_block_id: 0,
            new_block: false,
            records: 0,
            last_mvcc: 0,
        }
    }

    /// Appends one executed write. `db` is the database it ran in. Encodes straight into
    /// the replication buffer: no intermediate buffer on this per-write path.
    pub fn append(&mut self, db: usize, mvcc: u64, argv: &[Bytes]) {
        self.append_to(db, mvcc, argv, false);
    }

    /// [`Self::append`], or with `repl_only` a command for the replicas but not the AOF
    /// (PUBLISH, as Redis's `PROPAGATE_REPL`); a SELECT before it goes to both, so they
    /// stay in the same database.
    pub fn append_to(&mut self, db: usize, mvcc: u64, argv: &[Bytes], repl_only: bool) {
        if self.active.is_some() {
            return self.append_frame(db, mvcc, argv, b"", repl_only);
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
        self.push_command(argv);
        if repl_only {
            self.aof_tap = aof;
        }
        self.records += 1;
        self.last_mvcc = mvcc;
    }

    /// Active mode: appends one write as an RREPLAY frame for the replicas (with
    /// `trailer`, the fluidB arguments KeyDB ignores, when not empty) and as the plain
    /// command for the AOF (unless `repl_only`) and the plain replicas.
    pub fn append_frame(&mut self, db: usize, mvcc: u64, argv: &[Bytes], trailer: &[u8], repl_only: bool) {
        self.frame(db, mvcc, argv, trailer, if repl_only { Taps::Plain } else { Taps::Both });
    }

    /// Active mode: a state frame, for the active peers only (the AOF and the plain
    /// replicas have this state already).
    pub fn append_peer_frame(&mut self, db: usize, mvcc: u64, argv: &[Bytes], trailer: &[u8]) {
        self.frame(db, mvcc, argv, trailer, Taps::None);
    }

    fn frame(&mut self, db: usize, mvcc: u64, argv: &[Bytes], trailer: &[u8], taps: Taps) {
        let Some(uuid) = self.active else { return self.append_to(db, mvcc, argv, taps != Taps::Both) };
        let mut payload = std::mem::take(&mut self.frame_buf);
        payload.clear();
        encode_args(&mut payload, argv);
        if taps == Taps::Both {
            if trailer.contains(&b'/') {
                // An increment (its trailer names its origin and total).
                let note = format!("#ctr:{:x}", self.counter_origin);
                self.tap(db, mvcc, &payload, note.as_bytes());
            } else {
                self.tap(db, mvcc, &payload, b"");
            }
        } else if taps == Taps::Plain {
            self.tap_plain(db, &payload);
        }
        let aof = self.aof_tap.take();
        let mut dbs = itoa::Buffer::new();
        let mut ms = itoa::Buffer::new();
        let args: [&[u8]; 6] =
            [b"RREPLAY", &uuid, &payload, dbs.format(db).as_bytes(), ms.format(mvcc).as_bytes(), trailer];
        let argc = if trailer.is_empty() { 5 } else { 6 };
        self.push_command(&args[..argc]);
        self.aof_tap = aof;
        self.frame_buf = payload;
        self.records += 1;
        self.last_mvcc = mvcc;
    }

    /// Active mode: a write of a peer applied here goes to this node's AOF (with its
    /// origin's stamp) but not to the replicas: its origin sends it to the others.
    pub fn append_aof_only(&mut self, db: usize, mvcc: u64, argv: &[Bytes]) {
        self.append_aof_noted(db, mvcc, argv, b"");
    }

    /// [`Self::append_aof_only`] with an annotation line (`note`, e.g. a counter state's
    /// `#ctrs:...`) right before the command, which the AOF loader attaches to it.
    pub fn append_aof_noted(&mut self, db: usize, mvcc: u64, argv: &[Bytes], note: &[u8]) {
        if !self.keeps_applied() {
            return;
        }
        let mut payload = std::mem::take(&mut self.frame_buf);
        payload.clear();
        encode_args(&mut payload, argv);
        self.tap(db, mvcc, &payload, note);
        self.frame_buf = payload;
    }

    /// A command for the plain replicas alone (a key a snapshot merge took: the AOF gets
    /// those through a rewrite).
    pub fn append_plain_only(&mut self, db: usize, argv: &[Bytes]) {
        if self.plain_tap.is_none() {
            return;
        }
        let mut payload = std::mem::take(&mut self.frame_buf);
        payload.clear();
        encode_args(&mut payload, argv);
        self.tap_plain(db, &payload);
        self.frame_buf = payload;
    }

    /// Whether the writes this node applies are recorded anywhere besides its peers'
    /// stream (the AOF, the plain replicas' stream).
    pub fn keeps_applied(&self) -> bool {
        self.aof_tap.is_some() || self.plain_tap.is_some()
    }

    /// An annotation line (`line` without its CRLF) into the AOF alone.
    pub fn aof_annotation(&mut self, line: &[u8]) {
        if let Some(t) = self.aof_tap.as_mut() {
            t.extend_from_slice(line);
            t.extend_from_slice(b"\r\n");
        }
    }

    /// Whether writes reach an AOF.
    pub fn has_aof(&self) -> bool {
        self.aof_tap.is_some()
    }

    /// Active mode: `payload` (one command) into the AOF and the plain tap.
    fn tap(&mut self, db: usize, mvcc: u64, payload: &[u8], note: &[u8]) {
        self.tap_plain(db, payload);
        self.tap_aof(db, mvcc, payload, note);
    }

    /// `payload` into the plain tap, after a SELECT when it is in another database.
    fn tap_plain(&mut self, db: usize, payload: &[u8]) {
        let Some(t) = self.plain_tap.as_mut() else { return };
        if self.plain_last_db != Some(db) {
            let mut b = itoa::Buffer::new();
            encode_command(t, &[b"SELECT", b.format(db).as_bytes()]);
            self.plain_last_db = Some(db);
        }
        t.extend_from_slice(payload);
    }

    /// Starts the plain tap (the first plain replica of an active node attaches).
    pub fn start_plain(&mut self) {
        self.plain_tap.get_or_insert_with(Vec::new);
    }

    /// Moves what the plain tap gathered into `to`, the plain replicas' stream.
    pub fn drain_plain_into(&mut self, to: &mut WriteStream) {
        let Some(t) = self.plain_tap.as_mut() else { return };
        if t.is_empty() {
            return;
        }
        to.push_bytes(t);
        to.records += 1;
        t.clear();
    }

    /// The next plain record starts with a SELECT (a plain replica's snapshot starts in
    /// database 0).
    pub fn reset_plain_db(&mut self) {
        self.plain_last_db = None;
    }

    /// Active mode: `payload` (one command) into the AOF, after a SELECT when the AOF is
    /// in another database, the write's `#mvcc:` annotation and `note` (an annotation
    /// line without its CRLF, or empty).
    fn tap_aof(&mut self, db: usize, mvcc: u64, payload: &[u8], note: &[u8]) {
        let Some(t) = self.aof_tap.as_mut() else { return };
        if self.aof_last_db != Some(db) {
            let mut b = itoa::Buffer::new();
            encode_command(t, &[b"SELECT", b.format(db).as_bytes()]);
            self.aof_last_db = Some(db);
        }
        if mvcc != 0 && self.aof_mvcc {
            let mut b = itoa::Buffer::new();
            t.extend_from_slice(b"#mvcc:");
            t.extend_from_slice(b.format(mvcc).as_bytes());
            t.extend_from_slice(b"\r\n");
        }
        if !note.is_empty() {
            t.extend_from_slice(note);
            t.extend_from_slice(b"\r\n");
        }
        t.extend_from_slice(payload);
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
    /// sync takes its master's offset; a master restarting from its RDB file continues
    /// the offset recorded there). The next record starts with a SELECT.
    pub fn reset_to(&mut self, offset: u64) {
        self.offset = offset;
        if let Some(buf) = self.buf.as_mut() {
            *buf = ReplBuffer::default();
        }
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

    /// Changes the backlog size (CONFIG SET repl-backlog-size); a smaller one releases
    /// blocks nobody else holds.
    pub fn resize(&mut self, backlog_size: usize) {
        self.backlog_size = backlog_size.max(1);
        self.trim();
    }

    /// Releases what the backlog no longer needs (a bounded number of blocks per call;
    /// the cron calls it too, so a large release completes in steps).
    pub fn trim(&mut self) {
        if let Some(buf) = self.buf.as_mut() {
            buf.trim(self.backlog_size, self.offset, TRIM_BLOCKS_PER_CALL);
        }
    }

    /// Drops the backlog (`repl-backlog-ttl` passed without replicas).
    pub fn disable_backlog(&mut self) {
        self.buf = None;
    }

    /// Starts keeping the backlog (from the current offset on).
    pub fn enable_backlog(&mut self) {
        if self.buf.is_none() {
            self.buf = Some(ReplBuffer::default());
        }
    }

    /// Whether the backlog is kept (INFO's `repl_backlog_active`).
    pub fn backlog_active(&self) -> bool {
        self.buf.is_some()
    }

    /// Forgets the current database, so the next record starts with a SELECT (a new AOF
    /// file must say which database its first command is for).
    pub fn reset_db(&mut self) {
        self.last_db = None;
        self.aof_last_db = None;
    }

    /// Pushes one command as a RESP multibulk, header by header: no intermediate buffer
    /// on this per-write path.
    fn push_command<A: AsRef<[u8]>>(&mut self, argv: &[A]) {
        let mut hdr = [0u8; 24];
        let n = header(&mut hdr, b'*', argv.len());
        self.push_bytes(&hdr[..n]);
        for a in argv {
            let a = a.as_ref();
            let n = header(&mut hdr, b'$', a.len());
            self.push_bytes(&hdr[..n]);
            self.push_bytes(a);
            self.push_bytes(b"\r\n");
        }
    }

    #[inline]
    fn push_bytes(&mut self, mut data: &[u8]) {
        if let Some(t) = self.aof_tap.as_mut() {
            t.extend_from_slice(data);
        }
        let Some(buf) = self.buf.as_mut() else {
            self.offset += data.len() as u64;
            return;
        };
        while !data.is_empty() {
            if let Some(tail) = buf.blocks.back() {
                let n = tail.write(data);
                self.offset += n as u64;
                data = &data[n..];
                if data.is_empty() {
                    break;
                }
            }
            // A new block: at least MIN_BLOCK, at most backlog/16 (unless that is smaller
            // than MIN_BLOCK), sized for what is left when in between.
            let limit = (self.backlog_size / 16).max(MIN_BLOCK);
            let size = data.len().clamp(MIN_BLOCK, limit);
            let block = Arc::new(Block::new(self.offset, self.next_block_id, size));
            self.next_block_id += 1;
            if let Some(tail) = buf.blocks.back() {
                let _ = tail.next.set(block.clone());
            }
            buf.mem += size + BLOCK_OVERHEAD;
            buf.blocks.push_back(block);
            self.new_block = true;
            // Trim when a block is added (not on every append): the backlog stays close
            // to its size, without a trim attempt per write.
            let end = self.offset + data.len() as u64;
            buf.trim(self.backlog_size, end, TRIM_BLOCKS_PER_CALL);
        }
    }

    /// Whether a block was added since the last call.
    pub fn take_new_block(&mut self) -> bool {
        std::mem::take(&mut self.new_block)
    }

    /// A cursor at stream offset `at` (the offset of the next byte to read), if the
    /// buffer still holds it; a cursor at the end reads what is appended from now on.
    pub fn cursor_at(&mut self, at: u64) -> Option<Cursor> {
        if at > self.offset {
            return None;
        }
        let buf = self.buf.as_mut()?;
        if buf.blocks.is_empty() {
            if at != self.offset {
                return None;
            }
            // Nothing buffered yet: the cursor waits at the start of a first block.
            let block = Arc::new(Block::new(self.offset, self.next_block_id, MIN_BLOCK));
            self.next_block_id += 1;
            buf.mem += MIN_BLOCK + BLOCK_OVERHEAD;
            buf.blocks.push_back(block);
        }
        if at < buf.blocks[0].start {
            return None;
        }
        let i = buf.blocks.partition_point(|b| b.start <= at) - 1;
        let block = buf.blocks[i].clone();
        let pos = (at - block.start) as usize;
        Some(Cursor { block, pos })
    }

    /// Memory a consumer at `c` keeps in the buffer, as Redis counts a replica's output
    /// buffer (`getClientOutputBufferMemoryUsage`): from its block to the end of the last
    /// block's allocation, plus each block's overhead.
    pub fn held_by(&self, c: &Cursor) -> usize {
        let Some(tail) = self.buf.as_ref().and_then(|b| b.blocks.back()) else { return 0 };
        let bytes = (tail.start + tail.cap as u64).saturating_sub(c.block.start);
        let blocks = tail.id.saturating_sub(c.block.id) + 1;
        bytes as usize + blocks as usize * BLOCK_OVERHEAD
    }

    /// The offset of the next byte (bytes ever appended).
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// Offset of the oldest byte still in the backlog.
    pub fn first_offset(&self) -> u64 {
        match self.buf.as_ref().and_then(|b| b.blocks.front()) {
            Some(b) => b.start,
            None => self.offset,
        }
    }
    pub fn records(&self) -> u64 {
        self.records
    }
    pub fn last_mvcc(&self) -> u64 {
        self.last_mvcc
    }
    /// `repl-backlog-size`.
    pub fn capacity(&self) -> usize {
        self.backlog_size
    }
    /// Bytes currently held in the backlog (more than its size while consumers hold
    /// older blocks).
    pub fn histlen(&self) -> usize {
        (self.offset - self.first_offset()) as usize
    }
    /// Memory of the replication buffer (INFO's `mem_total_replication_buffers`).
    pub fn buffer_mem(&self) -> usize {
        self.buf.as_ref().map_or(0, |b| b.mem)
    }
    /// Blocks in the replication buffer.
    pub fn blocks(&self) -> usize {
        self.buf.as_ref().map_or(0, |b| b.blocks.len())
    }
    /// Copies the stream from `from` to the end, if still in the backlog (tests and
    /// diagnostics; consumers read through a [`Cursor`]).
    pub fn read_from(&self, from: u64) -> Option<Vec<u8>> {
        if from < self.first_offset() || from > self.offset {
            return None;
        }
        let mut out = Vec::with_capacity((self.offset - from) as usize);
        for b in self.buf.iter().flat_map(|buf| buf.blocks.iter()) {
            let end = b.start + b.len() as u64;
            if end > from {
                out.extend_from_slice(b.bytes(from.saturating_sub(b.start) as usize));
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn del(s: &mut WriteStream, db: usize, key: &'static [u8]) {
        s.append(db, 1, &[Bytes::from_static(b"del"), Bytes::from_static(key)]);
    }

    /// Reads everything a cursor has, as a consumer does (a few blocks at a time).
    fn drain(c: &mut Cursor) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chunks = Vec::new();
        loop {
            c.chunks(3, usize::MAX, &mut chunks);
            if chunks.is_empty() {
                return out;
            }
            let mut n = 0;
            for ch in &chunks {
                out.extend_from_slice(ch.as_slice());
                n += ch.as_slice().len();
            }
            // Sometimes only part of what was handed out went (a short write).
            let sent = if n > 7 && out.len() % 3 == 0 { n - 7 } else { n };
            out.truncate(out.len() - (n - sent));
            c.consume(sent);
        }
    }

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
        assert_eq!(s.buffer_mem(), 0);
        s.enable_backlog();
        s.append(0, 8, &[Bytes::from_static(b"del"), Bytes::from_static(b"k")]);
        assert_eq!(s.read_from(43).unwrap(), b"*2\r\n$3\r\ndel\r\n$1\r\nk\r\n".to_vec());
        assert_eq!(s.first_offset(), 43);
    }

    #[test]
    fn records_in_order_with_select() {
        let mut s = WriteStream::new(64);
        s.enable_backlog();
        s.append(0, 1, &[Bytes::from_static(b"set"), Bytes::from_static(b"k"), Bytes::from_static(b"v")]);
        let all = s.read_from(0).unwrap();
        assert_eq!(all, b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n".to_vec());
        let before = s.offset();
        del(&mut s, 0, b"k");
        assert_eq!(s.read_from(before).unwrap(), b"*2\r\n$3\r\ndel\r\n$1\r\nk\r\n".to_vec());
        for _ in 0..10 {
            del(&mut s, 1, b"k");
        }
        assert_eq!(s.records(), 12);
        assert_eq!(s.read_from(0).unwrap().len() as u64, s.offset());
    }

    /// The backlog keeps at least its size and releases older blocks nobody holds.
    #[test]
    fn backlog_trims_to_its_size() {
        let mut s = WriteStream::new(MIN_BACKLOG);
        s.enable_backlog();
        let v = Bytes::from(vec![b'x'; 1000]);
        for _ in 0..500 {
            s.append(0, 1, &[Bytes::from_static(b"set"), Bytes::from_static(b"k"), v.clone()]);
        }
        assert!(s.histlen() >= MIN_BACKLOG, "{}", s.histlen());
        assert!(s.histlen() <= MIN_BACKLOG + 2 * MIN_BLOCK, "{}", s.histlen());
        assert!(s.blocks() <= 3);
        assert_eq!(s.read_from(s.first_offset()).unwrap().len(), s.histlen());
        // A smaller size releases more; a larger one keeps what there is.
        s.resize(MIN_BACKLOG * 8);
        let h = s.histlen();
        s.resize(MIN_BACKLOG);
        assert!(s.histlen() <= h);
    }

    /// A consumer's cursor keeps its blocks (the backlog outgrows its size), and a
    /// cursor taken there reads them (a partial resync beyond the configured backlog).
    #[test]
    fn cursors_hold_blocks_and_read_them_in_order() {
        let mut s = WriteStream::new(MIN_BACKLOG);
        s.enable_backlog();
        let start = s.offset();
        let mut slow = s.cursor_at(start).expect("at the end");
        let mut expected = Vec::new();
        for i in 0..2000u32 {
            let v = Bytes::from(format!("value-{i}-{}", "y".repeat((i % 97) as usize)));
            let mut rec = Vec::new();
            encode_command(&mut rec, &[b"set", b"key", &v]);
            if i == 0 {
                encode_command(&mut expected, &[b"SELECT", b"3"]);
            }
            expected.extend_from_slice(&rec);
            s.append(3, 1, &[Bytes::from_static(b"set"), Bytes::from_static(b"key"), v]);
        }
        assert!(s.histlen() as u64 == s.offset() - start, "nothing released while held");
        let held = s.held_by(&slow);
        assert!(held >= s.histlen() && held <= s.buffer_mem(), "{held} {}", s.buffer_mem());
        // A second consumer joining at the same place reads the same bytes.
        let mut late = s.cursor_at(start).expect("still held");
        assert_eq!(drain(&mut late), expected);
        assert_eq!(late.offset(), s.offset());
        drop(late);
        assert_eq!(drain(&mut slow), expected);
        // Both caught up: only the last block is theirs; trimming releases the rest.
        let mem = s.buffer_mem();
        while s.blocks() > 2 && s.histlen() > MIN_BACKLOG + 2 * MIN_BLOCK {
            let before = s.blocks();
            s.trim();
            if s.blocks() == before {
                break;
            }
        }
        assert!(s.buffer_mem() < mem);
        assert!(s.histlen() <= MIN_BACKLOG + 2 * MIN_BLOCK, "{}", s.histlen());
        assert!(s.held_by(&slow) <= 2 * MIN_BLOCK + 2 * BLOCK_OVERHEAD);
        assert!(s.cursor_at(start).is_none(), "released");
        assert!(s.cursor_at(s.offset() + 1).is_none(), "the future");
    }

    /// Blocks are at least MIN_BLOCK and at most backlog/16; a large argument spans
    /// several.
    #[test]
    fn block_sizes() {
        let mut s = WriteStream::new(100 << 20);
        s.enable_backlog();
        let big = Bytes::from(vec![b'z'; 20 << 20]);
        s.append(0, 1, &[Bytes::from_static(b"set"), Bytes::from_static(b"k"), big]);
        let limit = (100 << 20) / 16;
        assert!(s.blocks() >= 4, "{}", s.blocks());
        assert!(s.buffer_mem() <= (20 << 20) + limit + MIN_BLOCK + s.blocks() * BLOCK_OVERHEAD);
        let mut c = s.cursor_at(0).expect("held");
        assert_eq!(drain(&mut c).len() as u64, s.offset());
    }

    /// A reader on another thread sees exactly the bytes the writer appends, while it
    /// appends (the lock-free hand-over of published bytes).
    #[test]
    fn concurrent_reader_sees_every_byte() {
        let mut s = WriteStream::new(MIN_BACKLOG);
        s.enable_backlog();
        let mut c = s.cursor_at(0).expect("at the end");
        const N: u64 = 3_000_000;
        let reader = std::thread::spawn(move || {
            let mut got = 0u64;
            let mut sum = 0u64;
            while got < N {
                match c.chunk() {
                    Some(ch) => {
                        let b = ch.as_slice();
                        for (i, x) in b.iter().enumerate() {
                            assert_eq!(*x, ((got + i as u64) % 251) as u8);
                        }
                        sum = sum.wrapping_add(b.len() as u64);
                        got += b.len() as u64;
                        c.consume(b.len());
                    }
                    None => std::thread::yield_now(),
                }
            }
            sum
        });
        let mut off = 0u64;
        let mut rng = 1u64;
        while off < N {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let n = ((rng >> 33) % 40_000 + 1).min(N - off);
            let data: Vec<u8> = (0..n).map(|i| ((off + i) % 251) as u8).collect();
            s.append_raw(&data, 0);
            s.trim();
            off += n;
        }
        assert_eq!(reader.join().expect("reader"), N);
    }

    /// Dropping a cursor that is the last owner of many blocks frees them without
    /// recursion.
    #[test]
    fn long_chain_released_by_its_last_cursor() {
        let mut s = WriteStream::new(MIN_BACKLOG);
        s.enable_backlog();
        let c = s.cursor_at(0).expect("at the end");
        let data = vec![7u8; MIN_BLOCK];
        for _ in 0..2000 {
            s.append_raw(&data, 0);
        }
        s.disable_backlog();
        drop(c);
    }
}
