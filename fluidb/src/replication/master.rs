//! The master side: replicas attach with PSYNC (or SYNC), get either the missing part of
//! the stream from the backlog (+CONTINUE) or a snapshot followed by the stream from the
//! snapshot's offset on (+FULLRESYNC), and then every write as it happens.
//!
//! Each replica has a [`Feed`]: its position in the stream's shared replication buffer
//! (a [`Cursor`]; the bytes themselves are written once for all replicas and the backlog)
//! and what precedes the stream (the +FULLRESYNC line, the snapshot). At the end of every
//! batch the store wakes the replicas' connection tasks, which send from their cursors
//! outside the store lock. A replica whose position holds more than the
//! `client-output-buffer-limit replica` allows is dropped (Redis's rules: the hard limit
//! is never below `repl-backlog-size`; the soft one must last its seconds), so a stalled
//! replica can never make the master run out of memory.
//!
//! A full sync forks a child that writes the snapshot: to `dbfilename` (disk) or into a
//! pipe whose bytes the parent relays to the replicas (diskless, `$EOF:<mark>` framing).
//! The stream offset at the fork is the offset the replica continues from. Replicas that
//! ask while a disk snapshot for replication is being written join it; others wait for
//! the next round (`repl-diskless-sync-delay` lets more replicas join a diskless one).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};

use super::stream::{Chunk, Cursor, WriteStream};
use super::ReplicaConf;
use crate::commands::call::{Ctx, Flow};
use crate::protocol::{ParseLimits, Parser};
use crate::server::client::Client;
use crate::server::store::Store;
use crate::server::Shared;
use crate::util::numeric::string2ll;

/// Chunks of a diskless payload in flight to one replica (backpressure: a slow replica
/// slows the pipe, it does not make the master buffer the snapshot).
const PIPE_CHUNKS_IN_FLIGHT: usize = 16;
/// Bytes read from the snapshot pipe at a time.
const PIPE_CHUNK: usize = 64 * 1024;
/// Bytes of a disk snapshot sent at a time.
const FILE_CHUNK: usize = 256 * 1024;
/// Blocks of the stream sent in one vectored write, and about how many bytes at most.
const STREAM_SLICES: usize = 64;
const STREAM_WRITE: usize = 1 << 20;
/// Largest REPLCONF line a replica may send us before we give up on it.
const REPLICA_QUERY_LIMIT: usize = 64 * 1024;

/// Where a replica's snapshot comes from.
pub enum Rdb {
    /// Partial resync: no snapshot, the stream starts at once.
    None,
    /// Waiting for a fork (another child runs, or the diskless delay).
    WaitFork,
    /// The disk snapshot is being written.
    Writing,
    /// The disk snapshot is ready to be sent.
    File(PathBuf),
    /// Diskless: chunks arrive from the pipe; the sender is dropped at the end.
    Pipe(Option<mpsc::Receiver<Bytes>>),
    /// The snapshot could not be made: the replica is dropped.
    Failed,
}

/// What one replica's connection task has to send.
pub struct FeedState {
    /// `+FULLRESYNC <id> <offset>`, sent once the fork happened.
    pub preamble: Vec<u8>,
    pub rdb: Rdb,
    /// Whether a diskless child ended well (None while it runs).
    pub pipe_done: Option<bool>,
    /// Where the replica is in the stream: set when its stream starts (a partial resync,
    /// or the fork of its snapshot); what it has not been sent yet is from here on.
    pub cursor: Option<Cursor>,
    /// Why the replica must be dropped, if it must.
    pub close: Option<String>,
}

/// The hand-over between the store (which appends) and a replica's task (which sends).
pub struct Feed {
    pub state: Mutex<FeedState>,
    pub notify: Notify,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feed")
    }
}

impl Feed {
    fn new(rdb: Rdb) -> Arc<Feed> {
        Arc::new(Feed {
            state: Mutex::new(FeedState { preamble: Vec::new(), rdb, pipe_done: None, cursor: None, close: None }),
            notify: Notify::new(),
        })
    }

    /// Drops the replica: its task sees why and ends. Its position is let go at once, so
    /// the blocks only it held can be released.
    fn close(&self, why: &str) {
        let mut st = self.state.lock();
        st.close = Some(why.to_string());
        st.cursor = None;
        drop(st);
        self.notify.notify_one();
    }
}

/// A replica's state as INFO shows it (`slaveN:...,state=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    WaitBgsaveStart,
    WaitBgsaveEnd,
    SendBulk,
    Online,
}

impl ReplicaState {
    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsaveStart | ReplicaState::WaitBgsaveEnd => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
        }
    }
}

/// An attached replica.
pub struct Replica {
    pub client_id: u64,
    pub ip: String,
    pub conf: ReplicaConf,
    /// A plain (Redis) replica of an active node: it follows the plain stream
    /// ([`super::PlainStream`]), not the RREPLAY one.
    pub plain: bool,
    pub state: ReplicaState,
    /// The offset it acknowledged last (REPLCONF ACK) and when.
    pub ack_offset: u64,
    pub ack_time: Instant,
    pub feed: Arc<Feed>,
    /// When it started waiting for a snapshot.
    pub since: Instant,
    /// Since when its output buffer is above the soft limit.
    pub soft_since: Option<Instant>,
}

impl Replica {
    fn new(client_id: u64, ip: String, conf: ReplicaConf, state: ReplicaState, feed: Arc<Feed>) -> Replica {
        let now = Instant::now();
        Replica {
            client_id,
            ip,
            conf,
            plain: false,
            state,
            ack_offset: 0,
            ack_time: now,
            feed,
            since: now,
            soft_since: None,
        }
    }
}

/// A full sync in progress: the child writing the snapshot.
pub struct SyncRound {
    pub pid: libc::pid_t,
    pub diskless: bool,
    pub offset: u64,
    /// The plain stream's offset at the fork (active mode with plain replicas).
    pub plain_offset: u64,
    pub path: PathBuf,
    /// The replicas served by this snapshot (client ids).
    pub members: Vec<u64>,
}

/// The stream a replica follows: the node's own, or (a plain replica of an active node)
/// the plain one.
pub fn stream_of(store: &mut Store, plain: bool) -> &mut WriteStream {
    match store.repl.plain.as_mut() {
        Some(p) if plain => &mut p.stream,
        _ => &mut store.stream,
    }
}

fn stream_ref(store: &Store, plain: bool) -> &WriteStream {
    match store.repl.plain.as_ref() {
        Some(p) if plain => &p.stream,
        _ => &store.stream,
    }
}

/// The history ID of the stream a replica follows.
fn replid_of(store: &Store, plain: bool) -> &str {
    match store.repl.plain.as_ref() {
        Some(p) if plain => &p.replid,
        _ => &store.repl.replid,
    }
}

/// Moves the writes the batch applied into the plain replicas' stream (active mode).
pub fn drain_plain(store: &mut Store) {
    if let Some(p) = store.repl.plain.as_mut() {
        store.stream.drain_plain_into(&mut p.stream);
    }
}

/// The plain stream's offset (0 without one).
pub fn plain_offset(store: &Store) -> u64 {
    store.repl.plain.as_ref().map_or(0, |p| p.stream.offset())
}

/// Wakes every replica that follows the stream when the batch that just ended appended to
/// it (at the end of every batch, with the AOF's flush). When the buffer grew by a block,
/// the replicas' output limits are checked, as Redis does.
pub fn feed(store: &mut Store) {
    let offset = store.stream.offset();
    let plain = store.repl.plain.as_mut().map(|p| (p.stream.offset() != p.fed_offset, p));
    let plain_grew = match plain {
        Some((true, p)) => {
            p.fed_offset = p.stream.offset();
            true
        }
        _ => false,
    };
    if offset == store.repl.fed_offset && !plain_grew {
        return;
    }
    store.repl.fed_offset = offset;
    for r in &store.repl.replicas {
        if r.state != ReplicaState::WaitBgsaveStart {
            r.feed.notify.notify_one();
        }
    }
    let plain_block = store.repl.plain.as_mut().is_some_and(|p| p.stream.take_new_block());
    if store.stream.take_new_block() | plain_block {
        enforce_output_limits(store);
    }
}

/// Memory a replica's output buffer takes: what its position keeps in the shared buffer
/// (CLIENT LIST's `omem`, the output limits).
pub fn output_memory(store: &Store, client_id: u64) -> usize {
    let Some(r) = store.repl.replicas.iter().find(|r| r.client_id == client_id) else { return 0 };
    let stream = stream_ref(store, r.plain);
    r.feed.state.lock().cursor.as_ref().map_or(0, |c| stream.held_by(c))
}

/// Drops the replicas over `client-output-buffer-limit replica`
/// (`checkClientOutputBufferLimits`): the hard limit at once, but never below
/// `repl-backlog-size` (a replica the backlog can serve is not dropped for it), the soft
/// limit once it lasted its seconds.
pub fn enforce_output_limits(store: &mut Store) {
    let lim = store.cfg.client_output_buffer_limit.replica;
    let backlog = store.stream.capacity() as u64;
    let hard = if lim.hard_bytes > 0 { lim.hard_bytes.max(backlog) } else { 0 };
    let now = Instant::now();
    let (stream, plain) = (&store.stream, store.repl.plain.as_ref().map(|p| &p.stream));
    for r in store.repl.replicas.iter_mut() {
        let stream = if r.plain { plain.unwrap_or(stream) } else { stream };
        let used = r.feed.state.lock().cursor.as_ref().map_or(0, |c| stream.held_by(c)) as u64;
        let mut over = hard > 0 && used >= hard;
        if lim.soft_bytes > 0 && used >= lim.soft_bytes {
            let since = *r.soft_since.get_or_insert(now);
            over |= now.duration_since(since).as_secs() > lim.soft_seconds.max(0) as u64;
        } else {
            r.soft_since = None;
        }
        if over {
            crate::log_warning!(
                "Client id={} addr={}:{} flags=S omem={used} scheduled to be closed ASAP for overcoming of output buffer limits.",
                r.client_id,
                r.ip,
                r.conf.listening_port
            );
            r.feed.close("output buffer limit reached");
        }
    }
}

/// SYNC and PSYNC (`syncCommand`): the connection becomes a replica's. Partial resync when
/// the requested history and offset are in the backlog, a full sync otherwise.
pub fn psync(ctx: &mut Ctx, is_psync: bool) {
    if ctx.client.repl_feed.is_some() {
        return; // already a replica: ignored, as Redis
    }
    let store = &mut *ctx.store;
    // PSYNC <replid> <offset> FAILOVER: our master hands its role over to us.
    if is_psync && ctx.argv.len() > 3 && ctx.argv[3].eq_ignore_ascii_case(b"failover") {
        crate::log_warning!("Failover request received for replid {}.", String::from_utf8_lossy(&ctx.argv[1]));
        if !store.is_replica {
            return ctx.out.error("PSYNC FAILOVER can't be sent to a master.");
        }
        if ctx.argv[1].as_ref() != store.repl.replid.as_bytes() {
            return ctx.out.error("PSYNC FAILOVER replid must match my replid.");
        }
        super::replica::unset_master(store);
        store.cfg.replicaof.clear();
        crate::log_notice!(
            "MASTER MODE enabled (failover request from 'id={} addr={}')",
            ctx.client.id,
            ctx.client.shared.addr
        );
    }
    if store.repl.failover.is_some() {
        return ctx.out.error("-NOMASTERLINK Can't SYNC while failing over");
    }
    // An active node's stream is RREPLAY frames, which only a replica that speaks KeyDB's
    // protocol understands (it announces itself with REPLCONF uuid); a plain Redis
    // replica follows the plain stream instead: every write the node applies.
    let plain = store.cfg.active_replica && ctx.client.replconf.uuid.is_none();
    if plain && store.repl.plain.is_none() {
        let mut stream = WriteStream::new(store.stream.capacity());
        stream.enable_backlog();
        store.stream.start_plain();
        store.repl.plain = Some(super::PlainStream { stream, replid: super::new_replid(), fed_offset: 0 });
        crate::log_notice!("Active replica: a plain replica attached; this node now keeps a plain stream for it");
    }
    drain_plain(store);
    // An active replica serves its own stream, with or without its master link (two
    // nodes are each other's master at once).
    if store.plain_replica() && !store.repl.link.as_ref().is_some_and(|l| l.is_connected()) {
        return ctx.out.error("-NOMASTERLINK Can't SYNC while not connected with my master");
    }
    let mut conf = ctx.client.replconf.clone();
    conf.old_sync = !is_psync;
    let ip = ctx.client.shared.addr.rsplit_once(':').map_or(String::new(), |(h, _)| h.to_string());
    let ip = conf.ip.clone().unwrap_or(ip);
    let addr = ctx.client.shared.addr.clone();
    crate::log_notice!("Replica {addr} asks for synchronization");
    let want_off = if is_psync { string2ll(&ctx.argv[2]) } else { None };
    if is_psync && want_off.is_none() {
        crate::log_warning!("Replica {addr} asks for synchronization but with a wrong offset");
        return ctx.out.error(crate::commands::call::err::NOT_INT);
    }
    stream_of(store, plain).enable_backlog();
    store.repl.no_replicas_since = None;
    let now = Instant::now();
    // The first PING comes one period after replicas appear (Redis counts periods of its
    // cron), not at once.
    store.repl.last_ping.get_or_insert(now);
    if let Some(want_off) = want_off {
        let want_id = &ctx.argv[1];
        if let Some(cursor) = try_partial(store, plain, want_id, want_off, &addr) {
            let line = if conf.capa_psync2 {
                format!("+CONTINUE {}\r\n", replid_of(store, plain))
            } else {
                "+CONTINUE\r\n".to_string()
            };
            ctx.out.raw(line.as_bytes());
            let feed = Feed::new(Rdb::None);
            feed.state.lock().cursor = Some(cursor);
            store.repl.stats.sync_partial_ok += 1;
            let mut r = Replica::new(ctx.client.id, ip, conf, ReplicaState::Online, feed.clone());
            r.plain = plain;
            store.repl.replicas.push(r);
            become_replica(ctx, feed);
            return;
        }
        if want_id.as_ref() != b"?" {
            store.repl.stats.sync_partial_err += 1;
        }
    }
    crate::log_notice!("Full resync requested by replica {addr}");
    store.repl.stats.sync_full += 1;
    let feed = Feed::new(Rdb::WaitFork);
    let mut r = Replica::new(ctx.client.id, ip, conf, ReplicaState::WaitBgsaveStart, feed.clone());
    r.plain = plain;
    store.repl.replicas.push(r);
    join_or_start_round(store, ctx.client.id);
    become_replica(ctx, feed);
}

fn become_replica(ctx: &mut Ctx, feed: Arc<Feed>) {
    ctx.client.repl_feed = Some(feed);
    ctx.client.shared.info.lock().flags = "S".into();
    ctx.flow = Flow::Replica;
}

/// A cursor at the requested offset, if the request continues our history and the buffer
/// still holds it (`masterTryPartialResynchronization`): the backlog, or anything older
/// that another replica keeps.
fn try_partial(store: &mut Store, plain: bool, want_id: &[u8], off: i64, addr: &str) -> Option<Cursor> {
    let repl = &store.repl;
    let ours = want_id == replid_of(store, plain).as_bytes();
    // (The plain stream has no previous history.)
    let second = !plain && want_id == repl.replid2.as_bytes() && off <= repl.second_offset;
    if !ours && !second {
        if want_id != b"?" {
            crate::log_notice!(
                "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{}', my \
replication IDs are '{}' and '{}')",
                String::from_utf8_lossy(want_id),
                repl.replid,
                repl.replid2
            );
        }
        return None;
    }
    let from = u64::try_from(off - 1).ok()?;
    let cursor = stream_of(store, plain).cursor_at(from);
    if cursor.is_none() {
        crate::log_notice!(
            "Unable to partial resync with replica {addr} for lack of backlog (Replica request was: {off})."
        );
    }
    let cursor = cursor?;
    crate::log_notice!(
        "Partial resynchronization request from {addr} accepted. Sending {} bytes of backlog starting from offset {off}.",
        stream_ref(store, plain).offset() - from
    );
    Some(cursor)
}

/// Puts a replica waiting for a snapshot into the running disk round if there is one it
/// can join, else starts a round when no child runs (the cron retries otherwise).
fn join_or_start_round(store: &mut Store, id: u64) {
    if let Some(round) = store.repl.round.as_ref() {
        if !round.diskless {
            // Join: same snapshot, same starting offset; the stream since the fork is in
            // the buffer while another member of the same stream still holds it.
            let plain = store.repl.replicas.iter().find(|r| r.client_id == id).is_some_and(|r| r.plain);
            let offset = if plain { round.plain_offset } else { round.offset };
            let line = format!("+FULLRESYNC {} {}\r\n", replid_of(store, plain), offset);
            let member = store.repl.replicas.iter().any(|r| r.plain == plain && round.members.contains(&r.client_id));
            if let Some(cursor) = member.then(|| stream_of(store, plain).cursor_at(offset)).flatten() {
                if let Some(r) = store.repl.replicas.iter_mut().find(|r| r.client_id == id) {
                    let mut st = r.feed.state.lock();
                    st.preamble = if r.conf.old_sync { b"\n".to_vec() } else { line.into_bytes() };
                    st.cursor = Some(cursor);
                    st.rdb = Rdb::Writing;
                    drop(st);
                    r.state = ReplicaState::WaitBgsaveEnd;
                    r.feed.notify.notify_one();
                }
                if let Some(round) = store.repl.round.as_mut() {
                    round.members.push(id);
                }
                crate::log_notice!("Waiting for end of BGSAVE for SYNC");
                return;
            }
        }
    }
    maybe_start_round(store);
}

/// Starts a full-sync round for the waiting replicas when possible: no other child, and
/// for diskless, the delay passed (or enough replicas wait).
fn maybe_start_round(store: &mut Store) {
    let waiting: Vec<&Replica> =
        store.repl.replicas.iter().filter(|r| r.state == ReplicaState::WaitBgsaveStart).collect();
    if waiting.is_empty() || crate::persistence::aof::has_active_child(store) {
        return;
    }
    let diskless = store.cfg.repl_diskless_sync && waiting.iter().all(|r| r.conf.capa_eof);
    if diskless {
        let oldest = waiting.iter().map(|r| r.since).min().unwrap_or_else(Instant::now);
        let max = store.cfg.repl_diskless_sync_max_replicas;
        let enough = max > 0 && waiting.len() >= max as usize;
        if !enough && oldest.elapsed() < Duration::from_secs(store.cfg.repl_diskless_sync_delay.max(0) as u64) {
            return;
        }
    }
    if let Err(e) = start_round(store, diskless) {
        crate::log_warning!("BGSAVE for replication failed: {e}");
        for r in store.repl.replicas.iter().filter(|r| r.state == ReplicaState::WaitBgsaveStart) {
            r.feed.state.lock().rdb = Rdb::Failed;
            r.feed.close("BGSAVE for replication failed");
        }
    }
}

/// Forks the snapshot child of a round and tells each waiting replica its offset.
fn start_round(store: &mut Store, diskless: bool) -> Result<(), String> {
    // The stream restarts with a SELECT, so a replica loading the snapshot (which starts
    // in database 0) follows the right database.
    store.stream.reset_db();
    store.stream.reset_plain_db();
    drain_plain(store);
    let offset = store.stream.offset();
    let plain_offset = plain_offset(store);
    let path = crate::persistence::snapshot::rdb_path(store);
    let members: Vec<u64> =
        store.repl.replicas.iter().filter(|r| r.state == ReplicaState::WaitBgsaveStart).map(|r| r.client_id).collect();
    crate::log_notice!("Starting BGSAVE for SYNC with target: {}", if diskless { "replicas sockets" } else { "disk" });
    let line = format!("+FULLRESYNC {} {}\r\n", store.repl.replid, offset);
    let plain_line = format!("+FULLRESYNC {} {}\r\n", replid_of(store, true), plain_offset);
    let preamble = |r: &Replica| {
        // SYNC (the old protocol) gets no +FULLRESYNC line: a newline, which every replica
        // skips before the payload, keeps the "preamble first" order of the task.
        if r.conf.old_sync {
            b"\n".to_vec()
        } else if r.plain {
            plain_line.clone().into_bytes()
        } else {
            line.clone().into_bytes()
        }
    };
    // Each member's position at the fork's offset of the stream it follows.
    let kinds: Vec<(u64, bool)> =
        store.repl.replicas.iter().filter(|r| members.contains(&r.client_id)).map(|r| (r.client_id, r.plain)).collect();
    let mut cursors: Vec<(u64, Option<Cursor>)> = kinds
        .into_iter()
        .map(|(id, plain)| (id, stream_of(store, plain).cursor_at(if plain { plain_offset } else { offset })))
        .collect();
    let mut cursor_for =
        |r: &Replica| cursors.iter_mut().find(|(id, _)| *id == r.client_id).and_then(|(_, c)| c.take());
    // The preamble and the snapshot source are set under one lock of the feed: the
    // replica's task (which does not take the store lock) must never see one without
    // the other.
    // Each member's stream starts at the fork's offset: from now on the buffer keeps
    // what it will be sent after its snapshot.
    let pid = if diskless {
        let (pid, rx) = crate::persistence::bgsave::start_to_pipe(store)?;
        let mut senders = Vec::new();
        for r in store.repl.replicas.iter().filter(|r| members.contains(&r.client_id)) {
            let (tx, prx) = mpsc::channel(PIPE_CHUNKS_IN_FLIGHT);
            let mut st = r.feed.state.lock();
            st.preamble = preamble(r);
            st.rdb = Rdb::Pipe(Some(prx));
            st.cursor = cursor_for(r);
            senders.push(tx);
        }
        tokio::spawn(relay_pipe(rx, senders));
        pid
    } else {
        crate::persistence::bgsave::start(store)?;
        for r in store.repl.replicas.iter().filter(|r| members.contains(&r.client_id)) {
            let mut st = r.feed.state.lock();
            st.preamble = preamble(r);
            st.rdb = Rdb::Writing;
            st.cursor = cursor_for(r);
        }
        store.bgsave.child.unwrap_or(0)
    };
    for r in store.repl.replicas.iter_mut().filter(|r| members.contains(&r.client_id)) {
        r.state = ReplicaState::WaitBgsaveEnd;
        r.feed.notify.notify_one();
    }
    store.repl.round = Some(SyncRound { pid, diskless, offset, plain_offset, path, members });
    Ok(())
}

/// Reads the diskless child's pipe and hands each chunk to every replica of the round.
async fn relay_pipe(mut rx: tokio::net::unix::pipe::Receiver, mut senders: Vec<mpsc::Sender<Bytes>>) {
    let mut buf = BytesMut::with_capacity(PIPE_CHUNK);
    loop {
        buf.reserve(PIPE_CHUNK);
        match rx.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let chunk = buf.split().freeze();
                let mut alive = Vec::with_capacity(senders.len());
                for tx in senders.drain(..) {
                    if tx.send(chunk.clone()).await.is_ok() {
                        alive.push(tx);
                    }
                }
                senders = alive;
                if senders.is_empty() {
                    break; // every replica went away: the child gets EPIPE and ends
                }
            }
        }
    }
}

/// The snapshot child of a round ended (from `bgsave::check_child`).
pub fn round_done(store: &mut Store, pid: libc::pid_t, ok: bool) {
    let Some(round) = store.repl.round.take_if(|r| r.pid == pid) else { return };
    // A disk round is a BGSAVE, which logs its own outcome; a diskless one logs here, in
    // Redis's words.
    if round.diskless {
        if ok {
            crate::log_notice!("Background RDB transfer terminated with success");
        } else {
            crate::log_warning!("Background transfer error");
        }
    }
    for r in store.repl.replicas.iter_mut().filter(|r| round.members.contains(&r.client_id)) {
        let mut st = r.feed.state.lock();
        if round.diskless {
            st.pipe_done = Some(ok);
        } else if ok {
            st.rdb = Rdb::File(round.path.clone());
            r.state = ReplicaState::SendBulk;
        } else {
            st.rdb = Rdb::Failed;
        }
        drop(st);
        r.feed.notify.notify_one();
    }
    // Replicas that came while this child ran get the next round.
    maybe_start_round(store);
}

/// The replication cron (master side): starts waiting rounds, PINGs the replicas every
/// `repl-ping-replica-period`, drops replicas silent for `repl-timeout`, and frees the
/// backlog `repl-backlog-ttl` seconds after the last replica left. `stalled`: a DEBUG
/// SLEEP runs (`Shared::stalled`), during which Redis's cron sends no PING.
pub fn cron(store: &mut Store, stalled: bool) {
    maybe_start_round(store);
    let now = Instant::now();
    if !store.repl.replicas.is_empty() {
        let period = Duration::from_secs(store.cfg.repl_ping_replica_period.max(1) as u64);
        // No PING during a failover or while clients are paused (a shutdown waiting for
        // its replicas pauses them): the stream must stop growing so a replica can catch
        // up with all of it (Redis's `areClientsPaused` check).
        let held = store.repl.failover.is_some() || store.pause.active().is_some() || stalled;
        if store.repl.last_ping.is_none_or(|t| now.duration_since(t) >= period) && !store.plain_replica() && !held {
            store.repl.last_ping = Some(now);
            store.stream.append_for_replicas(&[b"PING"]);
            if let Some(p) = store.repl.plain.as_mut() {
                p.stream.append_for_replicas(&[b"PING"]);
            }
            feed(store);
        }
        let timeout = Duration::from_secs(store.cfg.repl_timeout.max(1) as u64);
        for r in &store.repl.replicas {
            if r.state == ReplicaState::Online && now.duration_since(r.ack_time) > timeout {
                crate::log_warning!(
                    "Disconnecting timedout replica (streaming sync): {}:{}",
                    r.ip,
                    r.conf.listening_port
                );
                r.feed.close("timeout");
            }
        }
        // The soft limit is a matter of time, so it is checked here too.
        enforce_output_limits(store);
    } else if store.stream.backlog_active() && !store.plain_replica() {
        let ttl = store.cfg.repl_backlog_ttl;
        if ttl > 0 && store.repl.no_replicas_since.is_some_and(|t| now.duration_since(t).as_secs() >= ttl as u64) {
            crate::log_notice!("Replication backlog freed after {ttl} seconds without connected replicas.");
            store.stream.disable_backlog();
            store.repl.no_replicas_since = None;
        }
    }
    // Whatever a replica that left, or caught up, no longer holds (a large release goes
    // in steps, one per tick).
    store.stream.trim();
    if let Some(p) = store.repl.plain.as_mut() {
        p.stream.trim();
    }
}

/// Drops every replica (the node became a replica of another history, or shuts down).
pub fn disconnect_replicas(store: &mut Store) {
    for r in &store.repl.replicas {
        r.feed.close("replication history changed");
    }
}

/// Forgets a replica whose connection ended.
fn detach(shared: &Shared, id: u64) {
    let mut st = shared.store.lock();
    if let Some(i) = st.repl.replicas.iter().position(|r| r.client_id == id) {
        let r = st.repl.replicas.remove(i);
        // Its position goes now (the client may live a little longer), and the blocks
        // only it held with it (`freeReplicaReferencedReplBuffer`).
        r.feed.state.lock().cursor = None;
        stream_of(&mut st, r.plain).trim();
        crate::log_notice!("Connection with replica {}:{} lost.", r.ip, r.conf.listening_port);
    }
    if st.repl.replicas.is_empty() {
        st.repl.no_replicas_since = Some(Instant::now());
    }
    // A waiting round whose every member left still runs to its end (Redis does too);
    // WAIT callers may now see fewer replicas.
    st.repl.acks.send_modify(|n| *n += 1);
}

/// Runs a replica's connection after PSYNC: snapshot (if any), then the stream, while
/// reading its REPLCONF ACKs. Returns when the replica is gone or must be dropped.
pub async fn serve_replica<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    sock: &mut S,
    inbuf: &mut BytesMut,
    client: &mut Client,
) {
    let Some(feed) = client.repl_feed.clone() else { return };
    let id = client.id;
    let result = stream_to_replica(shared, sock, inbuf, client, &feed).await;
    if let Err(why) = result {
        crate::log_notice!("Replica {} dropped: {why}", client.shared.addr);
    }
    detach(shared, id);
}

async fn stream_to_replica<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    sock: &mut S,
    inbuf: &mut BytesMut,
    client: &mut Client,
    feed: &Arc<Feed>,
) -> Result<(), String> {
    let kill = client.shared.clone();
    let timeout = Duration::from_secs(shared.store.lock().cfg.repl_timeout.max(1) as u64);
    let (mut rd, mut wr) = tokio::io::split(sock);
    let mut parser = Parser::new();
    let mut argv: Vec<Bytes> = Vec::new();
    // What the replica sent after PSYNC in the same read is looked at now, not at its
    // next write (garbage there must drop it at once).
    if !inbuf.is_empty() {
        read_acks(shared, client, inbuf, &mut parser, &mut argv)?;
    }
    let mut sent_preamble = false;
    let mut rdb_sent = false;
    // After a diskless payload the stream waits for the replica's first ACK: a replica
    // finds the EOF mark at the end of what it read, so nothing may follow the mark in
    // the same read (Redis's `repl_put_online_on_ack`).
    let mut hold_for_ack = false;
    let mut keepalive = tokio::time::interval(Duration::from_secs(1));
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut chunks: Vec<Chunk> = Vec::new();
    loop {
        // Take what there is to send, under the feed's lock only.
        enum Step {
            Write(Vec<u8>),
            Stream,
            File(PathBuf),
            Pipe(mpsc::Receiver<Bytes>),
            Wait,
        }
        let step = {
            let mut st = feed.state.lock();
            if let Some(why) = st.close.take() {
                return Err(why);
            }
            if !sent_preamble && !st.preamble.is_empty() {
                sent_preamble = true;
                Step::Write(std::mem::take(&mut st.preamble))
            } else if !rdb_sent && !sent_preamble && !matches!(st.rdb, Rdb::None | Rdb::Failed) {
                Step::Wait // a full sync starts with its +FULLRESYNC line
            } else if !rdb_sent {
                match &mut st.rdb {
                    Rdb::None => {
                        rdb_sent = true;
                        Step::Wait
                    }
                    Rdb::WaitFork | Rdb::Writing => Step::Wait,
                    Rdb::File(p) => Step::File(p.clone()),
                    Rdb::Pipe(rx) => match rx.take() {
                        Some(rx) => Step::Pipe(rx),
                        None => Step::Wait,
                    },
                    Rdb::Failed => return Err("snapshot for replication failed".into()),
                }
            } else if hold_for_ack {
                Step::Wait
            } else {
                if let Some(c) = st.cursor.as_mut() {
                    c.chunks(STREAM_SLICES, STREAM_WRITE, &mut chunks);
                }
                if chunks.is_empty() {
                    Step::Wait
                } else {
                    Step::Stream
                }
            }
        };
        match step {
            Step::Write(b) => {
                write_watched(&mut wr, &b, feed, &kill, timeout).await?;
                continue;
            }
            Step::Stream => {
                // One vectored write for the blocks there are (the buffer's blocks are
                // not contiguous).
                let slices: Vec<&[u8]> = chunks.iter().map(|c| c.as_slice()).collect();
                write_slices_watched(&mut wr, &slices, feed, &kill, timeout).await?;
                let sent = slices.iter().map(|s| s.len()).sum();
                drop(slices);
                chunks.clear();
                if let Some(c) = feed.state.lock().cursor.as_mut() {
                    c.consume(sent);
                }
                // A replica fed without pause still has its ACKs read.
                tokio::select! {
                    biased;
                    r = rd.read_buf(inbuf) => {
                        if matches!(r, Ok(0) | Err(_)) {
                            return Err("connection closed".into());
                        }
                        read_acks(shared, client, inbuf, &mut parser, &mut argv)?;
                    }
                    _ = std::future::ready(()) => {}
                }
                continue;
            }
            Step::File(path) => {
                send_file(&mut wr, &path, feed, &kill, timeout).await?;
                rdb_sent = true;
                crate::log_notice!("Synchronization with replica {} succeeded", client.shared.addr);
                set_online(shared, client.id);
                continue;
            }
            Step::Pipe(rx) => {
                send_pipe(&mut wr, &mut rd, inbuf, rx, feed, &kill, timeout).await?;
                rdb_sent = true;
                // What the replica sent meanwhile (its first ACK, or garbage) counts now.
                hold_for_ack = !read_acks(shared, client, inbuf, &mut parser, &mut argv)?;
                crate::log_notice!("Synchronization with replica {} succeeded", client.shared.addr);
                set_online(shared, client.id);
                continue;
            }
            Step::Wait => {}
        }
        tokio::select! {
            _ = feed.notify.notified() => {}
            _ = kill.kill_notify.notified() => return Err("killed".into()),
            _ = keepalive.tick(), if !rdb_sent => {
                // Newlines keep the replica's read timeout from firing while it waits for
                // the snapshot (Redis's replicationCron does the same); none while DEBUG
                // SLEEP stalls the server, as Redis's cron does not run then.
                if !shared.stalled() {
                    write_watched(&mut wr, b"\n", feed, &kill, timeout).await?;
                }
            }
            r = rd.read_buf(inbuf) => {
                match r {
                    Ok(0) | Err(_) => return Err("connection closed".into()),
                    Ok(_) => {}
                }
                if read_acks(shared, client, inbuf, &mut parser, &mut argv)? {
                    hold_for_ack = false;
                }
            }
        }
        if kill.is_killed() {
            return Err("killed".into());
        }
    }
}

/// Writes `buf` to a replica, giving up when the replica is dropped meanwhile (its feed
/// closed: output buffer limit, ACK timeout), killed, or takes nothing for `timeout`
/// (`repl-timeout`). A replica that stops reading must not hold its task in a write
/// forever: the close would never be seen, the replica never detached, and a diskless
/// child never finish (its relay waits for this task).
async fn write_watched<W: AsyncWrite + Unpin>(
    wr: &mut W,
    buf: &[u8],
    feed: &Feed,
    kill: &crate::server::client::ClientShared,
    timeout: Duration,
) -> Result<(), String> {
    write_slices_watched(wr, &[buf], feed, kill, timeout).await
}

/// [`write_watched`] for several buffers, sent with vectored writes.
async fn write_slices_watched<W: AsyncWrite + Unpin>(
    wr: &mut W,
    bufs: &[&[u8]],
    feed: &Feed,
    kill: &crate::server::client::ClientShared,
    timeout: Duration,
) -> Result<(), String> {
    let (mut i, mut off) = (0, 0);
    let mut io: Vec<std::io::IoSlice> = Vec::with_capacity(bufs.len());
    while i < bufs.len() {
        if off == bufs[i].len() {
            (i, off) = (i + 1, 0);
            continue;
        }
        io.clear();
        io.push(std::io::IoSlice::new(&bufs[i][off..]));
        io.extend(bufs[i + 1..].iter().map(|b| std::io::IoSlice::new(b)));
        // `write_vectored` is cancel-safe: when another branch wins, nothing was written.
        tokio::select! {
            r = tokio::time::timeout(timeout, wr.write_vectored(&io)) => match r {
                Err(_) => {
                    return Err(format!("timeout: no progress writing to it for {} s (repl-timeout)", timeout.as_secs()))
                }
                Ok(Ok(0)) => return Err("connection closed".into()),
                Ok(Ok(mut n)) => {
                    while n > 0 {
                        let left = bufs[i].len() - off;
                        if n < left {
                            off += n;
                            break;
                        }
                        n -= left;
                        (i, off) = (i + 1, 0);
                    }
                }
                Ok(Err(e)) => return Err(e.to_string()),
            },
            // The caller re-reads the feed after every write, so a wake-up for new bytes
            // consumed here is not lost.
            _ = feed.notify.notified() => {
                if let Some(why) = feed.state.lock().close.take() {
                    return Err(why);
                }
            }
            _ = kill.kill_notify.notified() => return Err("killed".into()),
        }
    }
    Ok(())
}

/// Sends a disk snapshot as `$<len>\r\n<bytes>` (`sendBulkToSlave`).
async fn send_file<W: AsyncWrite + Unpin>(
    wr: &mut W,
    path: &PathBuf,
    feed: &Feed,
    kill: &crate::server::client::ClientShared,
    timeout: Duration,
) -> Result<(), String> {
    let mut f = tokio::fs::File::open(path).await.map_err(|e| format!("open {}: {e}", path.display()))?;
    let len = f.metadata().await.map_err(|e| e.to_string())?.len();
    write_watched(wr, format!("${len}\r\n").as_bytes(), feed, kill, timeout).await?;
    let mut buf = vec![0u8; FILE_CHUNK];
    let mut left = len;
    while left > 0 {
        let n = f.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("snapshot file shorter than announced".into());
        }
        let n = n.min(left as usize);
        write_watched(wr, &buf[..n], feed, kill, timeout).await?;
        left -= n as u64;
    }
    Ok(())
}

/// Sends a diskless snapshot: `$EOF:<mark>\r\n`, the bytes as the child writes them, then
/// the mark, once the child ended well. While the child is slow to produce, the replica
/// is still watched: it may close its connection, or be dropped (its output limit).
async fn send_pipe<W: AsyncWrite + Unpin, R: AsyncRead + Unpin>(
    wr: &mut W,
    rd: &mut R,
    inbuf: &mut BytesMut,
    mut rx: mpsc::Receiver<Bytes>,
    feed: &Arc<Feed>,
    kill: &Arc<crate::server::client::ClientShared>,
    timeout: Duration,
) -> Result<(), String> {
    let mark = super::new_replid();
    write_watched(wr, format!("$EOF:{mark}\r\n").as_bytes(), feed, kill, timeout).await?;
    loop {
        tokio::select! {
            chunk = rx.recv() => match chunk {
                Some(chunk) => write_watched(wr, &chunk, feed, kill, timeout).await?,
                None => break,
            },
            _ = feed.notify.notified() => {
                if let Some(why) = feed.state.lock().close.take() {
                    return Err(why);
                }
            }
            _ = kill.kill_notify.notified() => return Err("killed".into()),
            r = rd.read_buf(inbuf) => {
                if matches!(r, Ok(0) | Err(_)) {
                    return Err("connection closed".into());
                }
                // A replica has nothing to say while it receives its snapshot.
                if inbuf.len() > REPLICA_QUERY_LIMIT {
                    return Err("replica sent too much".into());
                }
            }
        }
    }
    loop {
        {
            let mut st = feed.state.lock();
            if let Some(why) = st.close.take() {
                return Err(why);
            }
            match st.pipe_done {
                Some(true) => break,
                Some(false) => return Err("diskless snapshot child failed".into()),
                None => {}
            }
        }
        tokio::select! {
            _ = feed.notify.notified() => {}
            _ = kill.kill_notify.notified() => return Err("killed".into()),
        }
    }
    write_watched(wr, mark.as_bytes(), feed, kill, timeout).await
}

fn set_online(shared: &Shared, id: u64) {
    let mut st = shared.store.lock();
    if let Some(r) = st.repl.replicas.iter_mut().find(|r| r.client_id == id) {
        r.state = ReplicaState::Online;
        r.ack_time = Instant::now();
    }
}

/// Reads what a replica sends: REPLCONF ACK <offset> (and GETACK/others, ignored).
/// Returns whether an ACK came.
fn read_acks(
    shared: &Shared,
    client: &Client,
    inbuf: &mut BytesMut,
    parser: &mut Parser,
    argv: &mut Vec<Bytes>,
) -> Result<bool, String> {
    let mut acked = false;
    let lim = ParseLimits { max_bulk_len: 1 << 20, authenticated: true, is_master: false };
    loop {
        match parser.next_command(inbuf, &lim, argv) {
            Ok(true) => {
                let is_ack = argv.len() >= 3
                    && argv[0].eq_ignore_ascii_case(b"replconf")
                    && argv[1].eq_ignore_ascii_case(b"ack");
                if is_ack {
                    acked = true;
                    if let Some(off) = std::str::from_utf8(&argv[2]).ok().and_then(|s| s.parse::<u64>().ok()) {
                        let mut st = shared.store.lock();
                        if let Some(r) = st.repl.replicas.iter_mut().find(|r| r.client_id == client.id) {
                            r.ack_offset = r.ack_offset.max(off);
                            r.ack_time = Instant::now();
                        }
                        st.repl.acks.send_modify(|n| *n += 1);
                    }
                }
                argv.clear();
            }
            Ok(false) => break,
            Err(e) => return Err(format!("protocol error from replica: {}", e.0)),
        }
    }
    if inbuf.len() > REPLICA_QUERY_LIMIT {
        return Err("replica sent too much".into());
    }
    Ok(acked)
}

/// Replicas that acknowledged at least `offset` (`replicationCountAcksByOffset`), or for
/// a plain replica of an active node, `plain` of the plain stream.
pub fn count_acks(store: &Store, offset: u64, plain: u64) -> usize {
    store
        .repl
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaState::Online && r.ack_offset >= if r.plain { plain } else { offset })
        .count()
}

/// Replicas whose last ACK is at most `min-replicas-max-lag` seconds old
/// (`repl_good_slaves_count`).
pub fn good_replicas(store: &Store) -> usize {
    let lag = Duration::from_secs(store.cfg.min_replicas_max_lag.max(0) as u64);
    store.repl.replicas.iter().filter(|r| r.state == ReplicaState::Online && r.ack_time.elapsed() <= lag).count()
}

/// Asks every replica for an ACK now (WAIT): `REPLCONF GETACK *` in the stream. Not
/// while clients are paused (Redis defers it too): the stream must not grow then.
pub fn request_acks(store: &mut Store) {
    if store.repl.replicas.is_empty() || store.pause.active().is_some() {
        return;
    }
    store.stream.append_for_replicas(&[b"REPLCONF", b"GETACK", b"*"]);
    if let Some(p) = store.repl.plain.as_mut() {
        p.stream.append_for_replicas(&[b"REPLCONF", b"GETACK", b"*"]);
    }
    feed(store);
}

/// WAIT numreplicas timeout, once the command found too few replicas: waits (without
/// the lock) until enough replicas acknowledged `offset` or the timeout (0: forever).
pub async fn wait_acks(shared: &Shared, (offset, plain): (u64, u64), want: usize, timeout_ms: u64) -> usize {
    let mut rx = shared.store.lock().repl.acks.subscribe();
    let deadline = (timeout_ms > 0).then(|| tokio::time::Instant::now() + Duration::from_millis(timeout_ms));
    loop {
        let n = count_acks(&shared.store.lock(), offset, plain);
        if n >= want {
            return n;
        }
        let changed = rx.changed();
        match deadline {
            Some(d) => {
                if tokio::time::timeout_at(d, changed).await.is_err() {
                    return count_acks(&shared.store.lock(), offset, plain);
                }
            }
            None => {
                if changed.await.is_err() {
                    return count_acks(&shared.store.lock(), offset, plain);
                }
            }
        }
    }
}
