//! Client state. `Client` is owned by its connection task; `ClientShared` is the part other
//! connections need (CLIENT LIST/KILL, pub/sub delivery, MONITOR), reached through the
//! registry in the store.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use crate::protocol::Reply;

pub type ClientId = u64;

/// Reply mode set by CLIENT REPLY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    Skip,
}

/// Fields shown by CLIENT LIST/INFO that change while the client runs.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub name: Option<Bytes>,
    pub db: usize,
    pub last_cmd: String,
    pub flags: String,
    pub sub: usize,
    pub psub: usize,
    /// Shard channel subscriptions (CLIENT LIST `ssub=`).
    pub ssub: usize,
    pub multi: i64,
    /// `multi-mem` and `argv-mem` (the arguments a blocked client keeps).
    pub multi_mem: usize,
    pub argv_mem: usize,
    pub resp: u8,
    pub last_interaction: Instant,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub no_evict: bool,
}

/// The part of a client visible to other connections.
#[derive(Debug)]
pub struct ClientShared {
    pub id: ClientId,
    pub addr: String,
    pub laddr: String,
    pub fd: i64,
    pub created: Instant,
    pub info: Mutex<ClientInfo>,
    /// Set by CLIENT KILL / shutdown; the connection task closes when it sees it.
    pub killed: AtomicBool,
    pub kill_notify: Notify,
    /// Out-of-band messages (pub/sub, MONITOR), already encoded for this client's protocol.
    mailbox: mpsc::UnboundedSender<Bytes>,
    /// Bytes queued in the mailbox and not yet written, for the pubsub output limit.
    pub mailbox_bytes: AtomicUsize,
    pub resp3: AtomicBool,
    pub is_monitor: AtomicBool,
    /// The connection's buffers as CLIENT LIST reports them, and the cron's requests to
    /// resize them.
    pub bufs: BufState,
    /// `client-output-buffer-limit`, shared with the server (the mailbox checks it).
    limits: Arc<ObufLimits>,
    /// Wakes the connection task to apply a buffer resize the cron asked for.
    pub wake: Notify,
}

/// Redis's PROTO_IOBUF_LEN: a query buffer's first allocation.
pub const PROTO_IOBUF_LEN: usize = 16 * 1024;
/// Redis's PROTO_REPLY_CHUNK_BYTES: a new client's reply buffer, and the most the cron
/// grows it to.
pub const PROTO_REPLY_CHUNK_BYTES: usize = 16 * 1024;
/// Redis's PROTO_REPLY_MIN_BYTES: the least the cron shrinks a reply buffer to.
pub const PROTO_REPLY_MIN_BYTES: usize = 1024;
/// Redis's PROTO_RESIZE_THRESHOLD: a query buffer above this may be trimmed to its peak.
pub const PROTO_RESIZE_THRESHOLD: usize = 32 * 1024;
/// "No resize requested" in [`BufState::qbuf_target`].
pub const NO_RESIZE: usize = usize::MAX;

/// The sizes of a connection's query and reply buffers, published by the connection task
/// (which owns the buffers) for CLIENT LIST, the client cron and the output limits.
///
/// The reply buffer follows Redis's 7.0 model: a buffer of `rbs` bytes (16 KB at first)
/// that the cron halves while its `rbp` peak use stays under half of it and doubles
/// (up to 16 KB) while replies fill it, the peak being reset every
/// `reply-buffer-peak-reset-time`; output beyond `rbs` is what Redis keeps in its reply
/// list, reported as `omem` and held against `client-output-buffer-limit`. The task keeps
/// its real output buffer's capacity at `rbs` between writes.
#[derive(Debug)]
pub struct BufState {
    /// Bytes in the query buffer (`qbuf`) and its capacity (`qbuf` + `qbuf-free`).
    pub qbuf_len: AtomicUsize,
    pub qbuf_cap: AtomicUsize,
    /// Largest query buffer length since the cron last looked (Redis's querybuf_peak).
    pub qbuf_peak: AtomicUsize,
    /// Capacity the cron wants the query buffer trimmed to (0: free it), or NO_RESIZE.
    pub qbuf_target: AtomicUsize,
    /// Reply buffer size and peak use (`rbs`, `rbp`).
    pub rbs: AtomicUsize,
    pub rbp: AtomicUsize,
    /// When the cron last reset `rbp` (ms since the server's epoch, see `cron`).
    pub rbp_reset_ms: AtomicI64,
    /// Reply bytes produced but not yet written to the socket.
    pub out_pending: AtomicUsize,
    /// Unix time at which the output first stayed above the soft limit (0: it is not).
    pub soft_limit_since: AtomicI64,
    /// The client's `ObufClass` as of its last command (`NO_CLASS`: a replica, whose
    /// output is its replication feed), for the cron's limit checks.
    pub class: std::sync::atomic::AtomicU8,
}

/// [`BufState::class`] of a client whose output is not held against these limits.
pub const NO_CLASS: u8 = u8::MAX;

impl Default for BufState {
    fn default() -> Self {
        BufState {
            qbuf_len: AtomicUsize::new(0),
            qbuf_cap: AtomicUsize::new(0),
            qbuf_peak: AtomicUsize::new(0),
            qbuf_target: AtomicUsize::new(NO_RESIZE),
            rbs: AtomicUsize::new(PROTO_REPLY_CHUNK_BYTES),
            rbp: AtomicUsize::new(0),
            rbp_reset_ms: AtomicI64::new(0),
            out_pending: AtomicUsize::new(0),
            soft_limit_since: AtomicI64::new(0),
            class: std::sync::atomic::AtomicU8::new(ObufClass::Normal as u8),
        }
    }
}

/// Output buffer usage as CLIENT LIST shows it: `obl` (bytes in the reply buffer), `oll`
/// (blocks in the reply list) and `omem` (bytes in the reply list), from the bytes not
/// yet written and the reply buffer size.
pub fn output_usage(pending: usize, rbs: usize) -> (usize, usize, usize) {
    let obl = pending.min(rbs);
    let omem = pending - obl;
    (obl, omem.div_ceil(PROTO_REPLY_CHUNK_BYTES), omem)
}

/// Client classes of `client-output-buffer-limit` (Redis's CLIENT_TYPE_*; MONITOR clients
/// and masters count as normal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObufClass {
    Normal = 0,
    Replica = 1,
    PubSub = 2,
}

impl ObufClass {
    pub fn from_u8(v: u8) -> Option<ObufClass> {
        match v {
            0 => Some(ObufClass::Normal),
            1 => Some(ObufClass::Replica),
            2 => Some(ObufClass::PubSub),
            _ => None,
        }
    }
}

/// `client-output-buffer-limit` as atomics, read off the store lock by every delivery.
#[derive(Debug, Default)]
pub struct ObufLimits {
    hard: [AtomicU64; 3],
    soft: [AtomicU64; 3],
    soft_secs: [AtomicI64; 3],
}

impl ObufLimits {
    pub fn new(cfg: &crate::config::ClientOutputBufferLimits) -> Self {
        let l = ObufLimits::default();
        l.set(cfg);
        l
    }
    pub fn set(&self, cfg: &crate::config::ClientOutputBufferLimits) {
        for (i, c) in [cfg.normal, cfg.replica, cfg.pubsub].iter().enumerate() {
            self.hard[i].store(c.hard_bytes, Ordering::Relaxed);
            self.soft[i].store(c.soft_bytes, Ordering::Relaxed);
            self.soft_secs[i].store(c.soft_seconds, Ordering::Relaxed);
        }
    }
    /// The hard limit of `class` in bytes (0: none).
    pub fn hard(&self, class: ObufClass) -> u64 {
        self.hard[class as usize].load(Ordering::Relaxed)
    }
    /// Redis's `checkClientOutputBufferLimits`: whether a client of `class` whose output
    /// buffer holds `used` bytes must be closed, tracking since when it is above the soft
    /// limit in `since` (unix seconds, 0 when below).
    pub fn reached(&self, class: ObufClass, used: u64, since: &AtomicI64, now_secs: impl FnOnce() -> i64) -> bool {
        let i = class as usize;
        let (hard, soft) = (self.hard[i].load(Ordering::Relaxed), self.soft[i].load(Ordering::Relaxed));
        if hard != 0 && used >= hard {
            return true;
        }
        if soft == 0 || used < soft {
            if since.load(Ordering::Relaxed) != 0 {
                since.store(0, Ordering::Relaxed);
            }
            return false;
        }
        let first = since.load(Ordering::Relaxed);
        let now = now_secs();
        if first == 0 {
            since.store(now, Ordering::Relaxed);
            return false;
        }
        now - first > self.soft_secs[i].load(Ordering::Relaxed)
    }

    /// The output size (bytes produced and not yet written) at which a client of
    /// `class` with a reply buffer of `rbs` bytes reaches its hard limit, minus one (for
    /// [`Reply::limit`]); `usize::MAX` without a hard limit.
    pub fn reply_limit(&self, class: ObufClass, rbs: usize) -> usize {
        match self.hard(class) {
            0 => usize::MAX,
            hard => (rbs as u64).saturating_add(hard - 1).try_into().unwrap_or(usize::MAX),
        }
    }
}

impl ClientShared {
    pub fn new(id: ClientId, addr: String, laddr: String, fd: i64) -> (Arc<Self>, mpsc::UnboundedReceiver<Bytes>) {
        let limits = Arc::new(ObufLimits::new(&Default::default()));
        Self::with_limits(id, addr, laddr, fd, limits)
    }

    /// A client whose output is held against the server's `limits`.
    pub fn with_limits(
        id: ClientId,
        addr: String,
        laddr: String,
        fd: i64,
        limits: Arc<ObufLimits>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let s = ClientShared {
            id,
            addr,
            laddr,
            fd,
            created: now,
            info: Mutex::new(ClientInfo {
                name: None,
                db: 0,
                last_cmd: "NULL".into(),
                flags: "N".into(),
                sub: 0,
                psub: 0,
                ssub: 0,
                multi: -1,
                multi_mem: 0,
                argv_mem: 0,
                resp: 2,
                last_interaction: now,
                lib_name: None,
                lib_ver: None,
                no_evict: false,
            }),
            killed: AtomicBool::new(false),
            kill_notify: Notify::new(),
            mailbox: tx,
            mailbox_bytes: AtomicUsize::new(0),
            resp3: AtomicBool::new(false),
            is_monitor: AtomicBool::new(false),
            bufs: BufState::default(),
            limits,
            wake: Notify::new(),
        };
        (Arc::new(s), rx)
    }

    /// Queues an out-of-band message (a pub/sub message, or a MONITOR line); disconnects
    /// the client once its output buffer limit is reached (as Redis's
    /// `closeClientOnOutputBufferLimitReached` after each reply it appends).
    pub fn send(&self, msg: Bytes) {
        if self.is_killed() {
            return;
        }
        self.mailbox_bytes.fetch_add(msg.len(), Ordering::Relaxed);
        let class = if self.is_monitor.load(Ordering::Relaxed) { ObufClass::Normal } else { ObufClass::PubSub };
        if self.output_limit_reached(class) {
            self.close_for_output_limit();
            return;
        }
        let _ = self.mailbox.send(msg);
    }

    /// Bytes of output produced for this client and not yet written to its socket.
    pub fn output_pending(&self) -> usize {
        self.mailbox_bytes.load(Ordering::Relaxed) + self.bufs.out_pending.load(Ordering::Relaxed)
    }

    /// Whether this client's output passed its `client-output-buffer-limit` (`class`).
    pub fn output_limit_reached(&self, class: ObufClass) -> bool {
        self.output_limit_reached_with(class, self.output_pending())
    }

    /// As [`Self::output_limit_reached`], with `pending` output bytes.
    pub fn output_limit_reached_with(&self, class: ObufClass, pending: usize) -> bool {
        let (_, _, omem) = output_usage(pending, self.bufs.rbs.load(Ordering::Relaxed));
        self.limits.reached(class, omem as u64, &self.bufs.soft_limit_since, crate::util::time::unix_secs)
    }

    /// The limits this client is held against.
    pub fn limits(&self) -> &ObufLimits {
        &self.limits
    }

    /// Disconnects the client for passing its output buffer limit, with Redis's log line.
    pub fn close_for_output_limit(&self) {
        if self.killed.swap(true, Ordering::AcqRel) {
            return;
        }
        log_warning!(
            "Client id={} addr={} laddr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
            self.id,
            self.addr,
            self.laddr
        );
        self.kill_notify.notify_one();
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill_notify.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }
}

/// Transaction state of a client in MULTI.
#[derive(Debug, Default)]
pub struct MultiState {
    pub queued: Vec<Vec<Bytes>>,
    /// Set when a command failed to queue: EXEC answers EXECABORT.
    pub aborted: bool,
    /// The flags of the queued commands OR-ed, and their complements OR-ed (Redis's
    /// `cmd_flags` and `cmd_inv_flags`): EXEC is refused as a write if any of them writes,
    /// and on a stale replica if any of them is not STALE.
    pub flags: u32,
    pub inv_flags: u32,
}

/// Connection-local client state.
#[derive(Debug)]
pub struct Client {
    pub id: ClientId,
    pub shared: Arc<ClientShared>,
    pub db: usize,
    pub authenticated: bool,
    pub reply: Reply,
    pub reply_mode: ReplyMode,
    pub multi: Option<MultiState>,
    pub watched: Vec<(usize, Box<[u8]>)>,
    pub channels: HashSet<Bytes>,
    pub patterns: HashSet<Bytes>,
    /// Shard channels (SSUBSCRIBE).
    pub shard_channels: HashSet<Bytes>,
    /// Set by QUIT or a protocol error: close once the pending replies are written.
    pub close_after_reply: bool,
    pub name: Option<Bytes>,
    pub is_master_link: bool,
    /// What REPLCONF said before PSYNC.
    pub replconf: crate::replication::ReplicaConf,
    /// Set by PSYNC/SYNC: this connection now feeds a replica.
    pub repl_feed: Option<std::sync::Arc<crate::replication::master::Feed>>,
    /// Stream offset after this client's last write (WAIT waits for replicas to reach it).
    pub woff: u64,
    pub is_unix: bool,
    pub no_evict: bool,
    /// Set by `Ctx::block` when a blocking command must wait; taken by the connection.
    pub block_req: Option<crate::server::blocking::BlockRequest>,
    /// Set on the client that re-executes a served blocked command: the microseconds the
    /// call that blocked took. Its statistics then follow Redis's `updateStatsOnUnblock`
    /// (no second call counted, no MONITOR line).
    pub served_after_block: Option<u64>,
}

impl Client {
    pub fn new(shared: Arc<ClientShared>, authenticated: bool) -> Self {
        Client {
            id: shared.id,
            shared,
            db: 0,
            authenticated,
            // Carries the protocol version only: replies go to the connection's own buffer.
            reply: Reply::with_capacity(0),
            reply_mode: ReplyMode::On,
            multi: None,
            watched: Vec::new(),
            channels: HashSet::new(),
            patterns: HashSet::new(),
            shard_channels: HashSet::new(),
            close_after_reply: false,
            name: None,
            is_master_link: false,
            replconf: Default::default(),
            repl_feed: None,
            woff: 0,
            is_unix: false,
            no_evict: false,
            block_req: None,
            served_after_block: None,
        }
    }
    pub fn resp3(&self) -> bool {
        self.reply.resp3
    }
    /// Number of pub/sub subscriptions (channels + patterns + shard channels).
    pub fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
    /// The class whose output buffer limits apply to this client's replies (Redis's
    /// `getClientType`); None for a replica, whose output is its replication feed.
    pub fn obuf_class(&self) -> Option<ObufClass> {
        if self.repl_feed.is_some() {
            None
        } else if self.subscriptions() > 0 && !self.is_master_link {
            Some(ObufClass::PubSub)
        } else {
            Some(ObufClass::Normal)
        }
    }
    /// RESP2 clients with subscriptions may only run (P)(UN)SUBSCRIBE, PING, QUIT, RESET.
    pub fn in_pubsub_context(&self) -> bool {
        !self.reply.resp3 && self.subscriptions() > 0
    }
}

/// All connected clients.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    pub by_id: HashMap<ClientId, Arc<ClientShared>>,
    /// Clients in MONITOR mode.
    pub monitors: Vec<Arc<ClientShared>>,
    /// Largest query buffer / output buffer seen in each of the last seconds (INFO's
    /// `client_recent_max_input_buffer` / `client_recent_max_output_buffer`).
    pub peak_input: [usize; crate::server::cron::CLIENTS_PEAK_MEM_USAGE_SLOTS],
    pub peak_output: [usize; crate::server::cron::CLIENTS_PEAK_MEM_USAGE_SLOTS],
}

impl ClientRegistry {
    pub fn get(&self, id: ClientId) -> Option<&Arc<ClientShared>> {
        self.by_id.get(&id)
    }
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
