//! Client state. `Client` is owned by its connection task; `ClientShared` is the part other
//! connections need (CLIENT LIST/KILL, pub/sub delivery, MONITOR), reached through the
//! registry in the store.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    pub qbuf: usize,
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
}

/// Hard limit on undelivered pub/sub bytes per client (Redis's default
/// `client-output-buffer-limit pubsub 32mb`): a subscriber that falls further behind is
/// disconnected instead of growing memory without bound.
pub const PUBSUB_HARD_LIMIT: usize = 32 * 1024 * 1024;

impl ClientShared {
    pub fn new(id: ClientId, addr: String, laddr: String, fd: i64) -> (Arc<Self>, mpsc::UnboundedReceiver<Bytes>) {
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
                qbuf: 0,
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
        };
        (Arc::new(s), rx)
    }

    /// Queues an out-of-band message; disconnects the client past the output limit.
    pub fn send(&self, msg: Bytes) {
        let pending = self.mailbox_bytes.fetch_add(msg.len(), Ordering::Relaxed) + msg.len();
        if pending > PUBSUB_HARD_LIMIT {
            self.kill();
            return;
        }
        let _ = self.mailbox.send(msg);
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
}

impl Client {
    pub fn new(shared: Arc<ClientShared>, authenticated: bool) -> Self {
        Client {
            id: shared.id,
            shared,
            db: 0,
            authenticated,
            reply: Reply::new(),
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
        }
    }
    pub fn resp3(&self) -> bool {
        self.reply.resp3
    }
    /// Number of pub/sub subscriptions (channels + patterns + shard channels).
    pub fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
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
