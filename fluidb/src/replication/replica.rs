//! The replica side: a background task per master link (REPLICAOF returns at once) that
//! connects, does Redis's handshake (PING, AUTH, REPLCONF listening-port / capa, PSYNC),
//! receives a snapshot when the master asks for a full sync, and then applies the
//! master's stream, acknowledging the offset every second.
//!
//! A snapshot never replaces the data half-way: it is received whole (into a temporary
//! file renamed over `dbfilename`, or into memory with `repl-diskless-load`), decoded into
//! fresh databases off the store lock, and swapped in under the lock in one step. While
//! that happens the old data keeps being served (`replica-serve-stale-data`), and a
//! transfer that fails leaves it untouched.
//!
//! Commands from the master run through the same `call()` as everyone's, with the
//! master client's flag (no READONLY, expired keys visible); the stream records are not
//! re-encoded by `call()` (their source, `Source::Master`, does not propagate) but
//! appended as the master sent them, so this node's offset is its master's and
//! sub-replicas receive the same bytes.
//!
//! In active mode (`active-replica yes`) the link keeps the master's replication ID and
//! offset for itself, merges the master's snapshot instead of replacing the data, and
//! applies RREPLAY frames by the rules of `replication::active`; this node's own stream
//! stays its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::commands::call::Source;
use crate::config::ReplDisklessLoad;
use crate::protocol::{ParseLimits, Parser, Reply};
use crate::server::client::{Client, ClientShared};
use crate::server::pause::PauseWait;
use crate::server::store::Store;
use crate::server::Shared;

/// Longest status line accepted from a master during the handshake.
const MAX_LINE: usize = 64 * 1024;
/// Reconnection delays: the first retry is quick, later ones back off up to the cap.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Most bytes reserved up front for an in-memory snapshot, whatever size is announced.
const MAX_PREALLOC: usize = 64 << 20;
/// Most commands applied per lock acquisition.
const MAX_BATCH: usize = 1024;

/// Where the link is (INFO `master_link_status`, ROLE's state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connect,
    Connecting,
    Handshake,
    Transfer,
    Connected,
}

impl LinkState {
    /// The state word of ROLE.
    pub fn role_name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Transfer => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// The link to this node's master.
#[derive(Debug)]
pub struct Link {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// Last time anything came from the master.
    pub last_io: Instant,
    /// When the link went down (for `master_link_down_since_seconds`).
    pub down_since: Option<Instant>,
    /// Snapshot transfer progress: announced size (-1 for diskless), bytes read, start.
    pub sync_size: i64,
    /// The snapshot's payload is arriving or being decoded while the old data is served
    /// (INFO `async_loading`; Redis 7.0 does it only for a diskless swapdb load of the
    /// history this node already follows, see `full_sync`).
    pub async_loading: bool,
    pub sync_read: u64,
    pub sync_start: Option<Instant>,
    /// The master's client, while connected (CLIENT KILL TYPE master reaches it).
    pub master_client: Option<Arc<ClientShared>>,
    /// Stream offset up to which the master's bytes were read, applied or not
    /// (`slave_read_repl_offset`: ahead of the applied offset while CLIENT PAUSE holds the
    /// stream back).
    pub read_offset: u64,
    /// Active mode: the master's history this link follows, its replication ID and the
    /// offset of the next byte to apply. They are the link's own: this node's stream has
    /// its own ID and offset (a plain replica shares its master's).
    pub master_replid: String,
    pub master_offset: u64,
    /// Active mode: the master's UUID, from the handshake.
    pub peer_uuid: Option<super::active::Uuid>,
}

impl Link {
    fn new(host: String, port: u16) -> Link {
        Link {
            host,
            port,
            state: LinkState::Connect,
            last_io: Instant::now(),
            down_since: Some(Instant::now()),
            sync_size: -1,
            async_loading: false,
            sync_read: 0,
            sync_start: None,
            master_client: None,
            read_offset: 0,
            master_replid: "?".into(),
            master_offset: 0,
            peer_uuid: None,
        }
    }

    /// The PSYNC arguments of an active link: the master's history, or `? -1`.
    fn psync_args(&self) -> (String, String) {
        if self.master_replid.len() == 40 {
            (self.master_replid.clone(), (self.master_offset + 1).to_string())
        } else {
            ("?".into(), "-1".into())
        }
    }

    pub fn is_connected(&self) -> bool {
        self.state == LinkState::Connected
    }
}

/// REPLICAOF host port (and `replicaof` at boot): follow a new master. The link is made in
/// the background. A node that was a master keeps its history, so it can continue with a
/// partial resync if the new master has it (a failover).
pub fn set_master(shared: &Arc<Shared>, store: &mut Store, host: String, port: u16) {
    drop_link(store);
    store.is_replica = true;
    let _ = crate::server::oom::apply(&store.cfg, true);
    store.repl.link_gen += 1;
    let mut link = Link::new(host.clone(), port);
    // A restarted active node continues where its link to this master was.
    if let Some(i) =
        store.repl.restored_masters.iter().position(|m| m.host.eq_ignore_ascii_case(&host) && m.port == port)
    {
        let m = store.repl.restored_masters.swap_remove(i);
        link.master_replid = m.replid;
        link.master_offset = m.offset;
    }
    store.repl.link = Some(link);
    let gen = store.repl.link_gen;
    tokio::spawn(run_link(shared.clone(), gen));
    if store.cfg.active_replica {
        tokio::spawn(super::anti_entropy::run(shared.clone(), gen));
    }
}

/// REPLICAOF NO ONE: become a master. A new history starts (the master's becomes the
/// secondary ID, so our own replicas can continue), and our replicas are told by being
/// disconnected (they come back with a partial resync).
pub fn unset_master(store: &mut Store) {
    if !store.is_replica {
        return;
    }
    drop_link(store);
    store.repl.link = None;
    store.repl.link_gen += 1;
    store.is_replica = false;
    let _ = crate::server::oom::apply(&store.cfg, false);
    // A master's own expiry deletes these keys now.
    store.repl.own_expires.clear();
    let offset = store.stream.offset();
    store.repl.shift_id(offset);
    store.stream.reset_db();
    super::master::disconnect_replicas(store);
}

/// Closes the current master connection, if any.
fn drop_link(store: &mut Store) {
    if let Some(l) = store.repl.link.as_mut() {
        if let Some(c) = l.master_client.take() {
            c.kill();
        }
    }
}

fn current(shared: &Shared, gen: u64) -> bool {
    shared.store.lock().repl.link_gen == gen
}

fn set_state(shared: &Shared, gen: u64, state: LinkState) {
    let mut st = shared.store.lock();
    if st.repl.link_gen != gen {
        return;
    }
    if let Some(l) = st.repl.link.as_mut() {
        if state != LinkState::Connected && l.state == LinkState::Connected {
            l.down_since = Some(Instant::now());
        }
        l.state = state;
        if state == LinkState::Connected {
            l.down_since = None;
        }
    }
}

/// The link task: connects, syncs and applies the stream until the link drops, then
/// retries with backoff, until the master changes.
async fn run_link(shared: Arc<Shared>, gen: u64) {
    let mut delay = BACKOFF_FIRST;
    loop {
        if !current(&shared, gen) {
            return;
        }
        match link_once(&shared, gen).await {
            Ok(true) => delay = BACKOFF_FIRST,
            Ok(false) => {}
            Err(e) => crate::log_warning!("{e}"),
        }
        set_state(&shared, gen, LinkState::Connect);
        if !current(&shared, gen) {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(BACKOFF_MAX);
    }
}

/// A connection to the master, buffered for the handshake's line replies.
struct MasterConn {
    sock: TcpStream,
    buf: BytesMut,
    timeout: Duration,
    /// What a read timeout is logged as: Redis's words for the phase the link is in.
    timeout_msg: &'static str,
}

/// Read timeouts during the handshake and during the snapshot transfer (Redis's).
/// The master link's read buffer: what it starts with and keeps, and the capacity past
/// which an emptied buffer is replaced by a fresh one.
const MASTER_BUF_KEEP: usize = 64 * 1024;
const MASTER_BUF_SHRINK_ABOVE: usize = 1024 * 1024;
const TIMEOUT_HANDSHAKE: &str = "Timeout connecting to the MASTER...";
const TIMEOUT_TRANSFER: &str = "Timeout receiving bulk data from MASTER... If the problem persists try to set the \
'repl-timeout' parameter in redis.conf to a larger value.";

impl MasterConn {
    async fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut b = Vec::new();
        super::stream::encode_command(&mut b, args);
        tokio::time::timeout(self.timeout, self.sock.write_all(&b))
            .await
            .map_err(|_| "Timeout writing to MASTER".to_string())?
            .map_err(|e| format!("Error writing to MASTER: {e}"))
    }

    /// Reads one line (without its CR LF). Empty lines are keepalives and are returned as such.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let l = self.buf.split_to(i + 1);
                let l = l.strip_suffix(b"\n").unwrap_or(&l);
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                return Ok(String::from_utf8_lossy(l).into_owned());
            }
            if self.buf.len() > MAX_LINE {
                return Err("MASTER sent a line that is too long".into());
            }
            self.fill().await?;
        }
    }

    /// Reads more bytes into the buffer, within `repl-timeout`.
    async fn fill(&mut self) -> Result<usize, String> {
        self.buf.reserve(64 * 1024);
        match tokio::time::timeout(self.timeout, self.sock.read_buf(&mut self.buf)).await {
            Err(_) => Err(self.timeout_msg.into()),
            Ok(Err(e)) => Err(format!("Error reading from MASTER: {e}")),
            Ok(Ok(0)) => Err("MASTER closed the connection".into()),
            Ok(Ok(n)) => Ok(n),
        }
    }

    /// A command's one-line reply, skipping keepalive newlines.
    async fn reply(&mut self) -> Result<String, String> {
        loop {
            let l = self.line().await?;
            if !l.is_empty() {
                return Ok(l);
            }
        }
    }
}

/// Connects to the master, from `bind-source-addr` when it is set and usable (Redis's
/// `anetTcpNonBlockBestEffortBindConnect`: a source address that cannot be bound is
/// ignored), trying each address the host resolves to.
async fn connect(host: &str, port: u16, source: Option<&str>) -> std::io::Result<TcpStream> {
    let source: Option<std::net::IpAddr> = source.and_then(|s| s.parse().ok());
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address to connect to");
    for addr in tokio::net::lookup_host((host, port)).await? {
        let sock = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        if let Some(ip) = source.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
            let _ = sock.bind(std::net::SocketAddr::new(ip, 0));
        }
        match sock.connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One connection's life. Ok(true) if a sync succeeded (the backoff restarts).
async fn link_once(shared: &Arc<Shared>, gen: u64) -> Result<bool, String> {
    let (host, port, timeout, auth, user, my_port, announce_ip, source) = {
        let st = shared.store.lock();
        let Some(l) = st.repl.link.as_ref() else { return Ok(false) };
        let my_port = match st.cfg.replica_announce_port {
            0 => shared.port.load(std::sync::atomic::Ordering::Relaxed) as u16,
            p => p,
        };
        (
            l.host.clone(),
            l.port,
            Duration::from_secs(st.cfg.repl_timeout.max(1) as u64),
            st.cfg.masterauth.clone(),
            st.cfg.masteruser.clone(),
            my_port,
            st.cfg.replica_announce_ip.clone(),
            st.cfg.bind_source_addr.clone(),
        )
    };
    set_state(shared, gen, LinkState::Connecting);
    // Every attempt is logged, as Redis's connectWithMaster: a retry after a failure shows.
    crate::log_notice!("Connecting to MASTER {host}:{port}");
    let sock = match tokio::time::timeout(timeout, connect(&host, port, source.as_deref())).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("Error condition on socket for SYNC: {e}")),
        Err(_) => return Err("Timeout connecting to the MASTER...".into()),
    };
    let _ = sock.set_nodelay(true);
    crate::log_notice!("MASTER <-> REPLICA sync started");
    set_state(shared, gen, LinkState::Handshake);
    let mut m = MasterConn { sock, buf: BytesMut::with_capacity(64 * 1024), timeout, timeout_msg: TIMEOUT_HANDSHAKE };

    // The handshake, as Redis's syncWithMaster.
    m.send(&[b"PING"]).await?;
    let pong = m.reply().await?;
    let auth_err = ["-NOAUTH", "-NOPERM", "-ERR operation not permitted"].iter().any(|p| pong.starts_with(p));
    if pong.starts_with('-') && !auth_err {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    crate::log_notice!("Master replied to PING, replication can continue...");
    if let Some(pass) = auth.as_ref() {
        match user.as_ref() {
            Some(u) => m.send(&[b"AUTH", u.as_bytes(), pass]).await?,
            None => m.send(&[b"AUTH", pass]).await?,
        }
        let r = m.reply().await?;
        if r.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {r}"));
        }
    }
    m.send(&[b"REPLCONF", b"listening-port", my_port.to_string().as_bytes()]).await?;
    let r = m.reply().await?;
    if r.starts_with('-') {
        crate::log_notice!("(Non critical) Master does not understand REPLCONF listening-port: {r}");
    }
    if let Some(ip) = announce_ip.as_ref() {
        m.send(&[b"REPLCONF", b"ip-address", ip.as_bytes()]).await?;
        let r = m.reply().await?;
        if r.starts_with('-') {
            crate::log_notice!("(Non critical) Master does not understand REPLCONF ip-address: {r}");
        }
    }
    let (active, my_uuid) = {
        let st = shared.store.lock();
        (st.cfg.active_replica, st.repl.active.uuid)
    };
    if active {
        m.send(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2", b"capa", b"activeExpire"]).await?;
    } else {
        m.send(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]).await?;
    }
    let r = m.reply().await?;
    if r.starts_with('-') {
        crate::log_notice!("(Non critical) Master does not understand REPLCONF capa: {r}");
    }
    if active {
        // KeyDB's active handshake: we tell our UUID, the master answers with its own.
        m.send(&[b"REPLCONF", b"uuid", &my_uuid]).await?;
        let r = m.reply().await?;
        let peer = r.strip_prefix('+').and_then(|u| super::active::parse_uuid(u.as_bytes()));
        match peer {
            Some(u) if u == my_uuid => {
                return Err(format!(
                    "Active replication: the master at {host}:{port} has this node's own UUID {} (a copy of this \
node's data directory?): refusing the link",
                    String::from_utf8_lossy(&u)
                ));
            }
            Some(u) => {
                if super::active::node_tag(&u) == super::active::node_tag(&my_uuid) {
                    crate::log_warning!(
                        "Active replication: the master at {host}:{port} has the same stamp tag as this node \
(UUIDs {} and {}): writes made in the same millisecond on both may get equal stamps",
                        String::from_utf8_lossy(&u),
                        String::from_utf8_lossy(&my_uuid)
                    );
                }
                let mut st = shared.store.lock();
                if st.repl.link_gen == gen {
                    if let Some(l) = st.repl.link.as_mut() {
                        l.peer_uuid = Some(u);
                    }
                }
            }
            None => crate::log_notice!("(Non critical) Master does not understand REPLCONF uuid: {r}"),
        }
    }

    // PSYNC with our history: the master's we followed, or our own (as Redis 7.0, which
    // caches itself as master when it becomes a replica), so a failover's old master can
    // continue from the new one.
    let (my_id, off, failover) = {
        let st = shared.store.lock();
        match st.repl.link.as_ref().filter(|_| active) {
            Some(l) => {
                let (id, off) = l.psync_args();
                (id, off, false)
            }
            None => (st.repl.replid.clone(), (st.stream.offset() + 1).to_string(), super::failover::in_progress(&st)),
        }
    };
    crate::log_notice!("Trying a partial resynchronization (request {my_id}:{off}).");
    // A master handing over its role (FAILOVER) asks the target to take it.
    let mut psync: Vec<&[u8]> = vec![b"PSYNC", my_id.as_bytes(), off.as_bytes()];
    if failover {
        psync.push(b"FAILOVER");
    }
    let sent = m.send(&psync).await;
    if failover {
        let send_failed = sent.is_err();
        // The failover ends here: well if the target accepted the PSYNC (it is the master
        // now), else this node takes its role back.
        let reply = match sent {
            Ok(()) => m.reply().await,
            Err(e) => Err(e),
        };
        let accepted = reply.as_ref().is_ok_and(|r| r.starts_with("+CONTINUE") || r.starts_with("+FULLRESYNC"));
        let aborted = {
            let mut st = shared.store.lock();
            let ours = st.repl.link_gen == gen && super::failover::in_progress(&st);
            if ours && accepted {
                super::failover::clear(&mut st);
            } else if ours {
                let why = if send_failed {
                    "Write error to failover target"
                } else {
                    "Failover target rejected psync request"
                };
                super::failover::abort(&mut st, why);
            }
            ours && !accepted
        };
        if aborted {
            return Ok(false);
        }
        return after_psync(shared, gen, m, reply?).await;
    }
    sent?;
    let reply = m.reply().await?;
    after_psync(shared, gen, m, reply).await
}

/// Handles the master's reply to PSYNC: a full sync, a partial one, or a retry later.
async fn after_psync(shared: &Arc<Shared>, gen: u64, mut m: MasterConn, reply: String) -> Result<bool, String> {
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC") {
        let mut it = rest.split_whitespace();
        let (Some(id), Some(off)) = (it.next(), it.next().and_then(|o| o.parse::<u64>().ok())) else {
            return Err(format!("Master replied with wrong +FULLRESYNC syntax: {reply}"));
        };
        if id.len() != 40 {
            return Err(format!("Master replied with wrong +FULLRESYNC syntax: {reply}"));
        }
        crate::log_notice!("Full resync from master: {id}:{off}");
        m.timeout_msg = TIMEOUT_TRANSFER;
        if shared.store.lock().cfg.active_replica {
            full_sync_merge(shared, gen, &mut m, id.to_string(), off).await?;
        } else {
            full_sync(shared, gen, &mut m, id.to_string(), off).await?;
        }
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        crate::log_notice!("Successful partial resynchronization with master.");
        let active = {
            let mut st = shared.store.lock();
            if st.repl.link_gen != gen {
                return Ok(false);
            }
            let active = st.cfg.active_replica;
            if active {
                // The link's own history continues (possibly under a new ID); this
                // node's stream and its replicas are not concerned.
                if let Some(l) = st.repl.link.as_mut() {
                    if new_id.len() == 40 {
                        l.master_replid = new_id.to_string();
                    }
                }
            }
            active
        };
        if active {
            crate::log_notice!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
            stream(shared, gen, m).await;
            return Ok(true);
        }
        let mut st = shared.store.lock();
        if !new_id.is_empty() && new_id != st.repl.replid {
            // The master continues our history under a new ID: keep the old one as the
            // secondary, and let our replicas reconnect to learn it.
            let off = st.stream.offset();
            st.repl.replid2 = std::mem::replace(&mut st.repl.replid, new_id.to_string());
            st.repl.second_offset = off as i64 + 1;
            crate::log_notice!("Master replication ID changed to {new_id}");
            super::master::disconnect_replicas(&mut st);
        }
        st.stream.enable_backlog();
        crate::log_notice!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
    } else if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        crate::log_notice!("Master is currently unable to PSYNC but should be in the future: {reply}");
        return Ok(false);
    } else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    }
    stream(shared, gen, m).await;
    Ok(true)
}

/// Receives the snapshot after +FULLRESYNC and swaps it in. A failed sync ends the
/// loading state it began (the old data is served again).
async fn full_sync(shared: &Arc<Shared>, gen: u64, m: &mut MasterConn, id: String, offset: u64) -> Result<(), String> {
    let mut loading = None;
    let r = full_sync_in(shared, gen, m, id, offset, &mut loading).await;
    if r.is_err() {
        if let Some(ours) = loading {
            end_loading(&mut shared.store.lock(), &ours);
        }
    }
    r
}

/// Puts the store in Redis's loading state for a full sync (`startLoading`): INFO
/// `loading:1`, commands not flagged `loading` refused with -LOADING. `total` is Redis's
/// `repl_transfer_size` (-1, printed as an unsigned, when the size is unknown).
fn begin_loading(st: &mut Store, total: i64) -> Arc<crate::server::loading::Loading> {
    let l = Arc::new(crate::server::loading::Loading {
        start_time: crate::util::time::unix_secs(),
        total_bytes: total as u64,
        loaded_bytes: std::sync::atomic::AtomicU64::new(0),
    });
    st.loading = Some(l.clone());
    crate::server::shutdown::set_loading(true);
    l
}

/// Ends the loading state `begin_loading` began (`stopLoading`).
fn end_loading(st: &mut Store, ours: &Arc<crate::server::loading::Loading>) {
    if st.loading.as_ref().is_some_and(|l| Arc::ptr_eq(l, ours)) {
        st.loading = None;
        crate::server::shutdown::set_loading(false);
    }
}

async fn full_sync_in(
    shared: &Arc<Shared>,
    gen: u64,
    m: &mut MasterConn,
    id: String,
    offset: u64,
    loading: &mut Option<Arc<crate::server::loading::Loading>>,
) -> Result<(), String> {
    // The transfer has begun (INFO master_sync_in_progress:1), even while the master
    // still writes its snapshot and sends only keepalive newlines.
    {
        let mut st = shared.store.lock();
        if let Some(l) = st.repl.link.as_mut() {
            l.state = LinkState::Transfer;
            l.sync_size = -1;
            l.async_loading = false;
            l.sync_read = 0;
            l.sync_start = Some(Instant::now());
        }
    }
    let (eof_mark, size) = payload_header(m).await?;
    let (to_disk, dir_file, tmp) = {
        let mut st = shared.store.lock();
        // Redis's `useDisklessLoad`: on-empty-db reads from the socket only into an empty
        // dataset.
        let to_disk = match st.cfg.repl_diskless_load {
            ReplDisklessLoad::Disabled => true,
            ReplDisklessLoad::OnEmptyDb => st.key_counts().0 > 0,
            ReplDisklessLoad::Swapdb => false,
        };
        // A diskless swapdb load of the history this node already follows serves the old
        // data meanwhile (async loading); any other diskless load is a load (Redis 7.0's
        // `readSyncBulkPayload`). A load from disk begins once the file is in.
        let async_load = !to_disk && st.cfg.repl_diskless_load == ReplDisklessLoad::Swapdb && st.repl.replid == id;
        if !to_disk && !async_load {
            *loading = Some(begin_loading(&mut st, size));
        }
        if let Some(l) = st.repl.link.as_mut() {
            l.sync_size = size; // the transfer state was set at +FULLRESYNC
            l.async_loading = async_load;
        }
        let file = crate::persistence::snapshot::rdb_path(&st);
        let tmp = PathBuf::from(format!("temp-{}.{}.rdb", crate::util::time::unix_secs(), std::process::id()));
        (to_disk, file, tmp)
    };
    crate::log_notice!(
        "MASTER <-> REPLICA sync: receiving {} from master to {}",
        if size >= 0 { format!("{size} bytes") } else { "streamed RDB".to_string() },
        if to_disk { "disk" } else { "parser" }
    );
    let data = receive_payload(shared, gen, m, eof_mark.as_deref(), size, to_disk.then_some(&tmp)).await;
    let data = match data {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let data = if to_disk {
        // Loaded from the temporary file, which replaces dbfilename only once it proved
        // good: a corrupt snapshot must not take the place of this node's own dump.rdb
        // (Redis renames first; a restart would then find the bad file).
        std::fs::read(&tmp).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("Failed trying to load the MASTER synchronization DB from disk: {e}")
        })?
    } else {
        data
    };
    crate::log_notice!("MASTER <-> REPLICA sync: Loading DB in memory");
    let (lim, ndb, clock, progress) = {
        let mut st = shared.store.lock();
        if to_disk {
            *loading = Some(begin_loading(&mut st, data.len() as i64));
        }
        let progress = loading.clone();
        (crate::persistence::rdb::load::Limits::from_config(&st.cfg), st.dbs.len(), st.clock.clone(), progress)
    };
    let parsed = tokio::task::spawn_blocking(move || {
        let mut dbs: Vec<crate::keyspace::Db> = (0..ndb).map(crate::keyspace::Db::new).collect();
        let mut clock = clock;
        crate::persistence::snapshot::load_into_with(&mut dbs, &mut clock, &lim, true, &data, |at| {
            if let Some(p) = &progress {
                p.loaded_bytes.store(at as u64, std::sync::atomic::Ordering::Relaxed);
            }
        })
        .map(|info| (dbs, clock, info))
        .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("loading task: {e}"));
    let (dbs, clock, info) = match parsed {
        Ok(Ok(p)) => p,
        Ok(Err(e)) | Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!(
                "Failed trying to load the MASTER synchronization DB from {}: {e}",
                if to_disk { "disk" } else { "socket" }
            ));
        }
    };
    let stream_db = info
        .aux
        .iter()
        .find(|(k, _)| k == b"repl-stream-db")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse::<usize>().ok())
        .filter(|&d| d < ndb);
    let old = {
        let mut st = shared.store.lock();
        if st.repl.link_gen != gen {
            let _ = std::fs::remove_file(&tmp);
            return Err("master changed during the sync".into());
        }
        if to_disk {
            // As Redis: the received file becomes this node's dbfilename (renamed with the
            // swap, so the file on disk always matches the data in memory).
            std::fs::rename(&tmp, &dir_file).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!(
                    "Failed trying to rename the temp DB into {} in MASTER <-> REPLICA synchronization: {e}",
                    dir_file.display()
                )
            })?;
        }
        // Our own replicas followed the old data: they need a full sync of the new.
        super::master::disconnect_replicas(&mut st);
        st.signal_flushed_db(None);
        st.repl.own_expires.clear();
        let old = std::mem::replace(&mut st.dbs, dbs);
        st.clock.observe(clock.last());
        st.repl.replid = id;
        st.repl.clear_id2();
        st.stream.reset_to(offset);
        st.stream.set_current_db(stream_db);
        // A replica keeps a backlog too: once promoted, its replicas continue from it.
        st.stream.enable_backlog();
        st.rdb.last_load_keys_loaded = info.keys;
        if st.aof.is_some() {
            // The AOF restarts from the new data (Redis's restartAOFAfterSYNC).
            crate::persistence::aof::stop(&mut st);
            if let Err(e) = crate::persistence::aof::start(&mut st) {
                crate::log_warning!("Failed enabling the AOF after successful master synchronization! {e}");
            }
        }
        if let Some(l) = st.repl.link.as_mut() {
            l.sync_start = None;
            l.async_loading = false;
        }
        if let Some(ours) = loading.take() {
            end_loading(&mut st, &ours);
        }
        old
    };
    // The old data is freed without the lock.
    tokio::task::spawn_blocking(move || drop(old));
    Ok(())
}

/// Reads the payload header, after any keepalive newlines: `$<size>` or, diskless,
/// `$EOF:<40-byte mark>`; returns (mark, size), size -1 for diskless.
async fn payload_header(m: &mut MasterConn) -> Result<(Option<Vec<u8>>, i64), String> {
    let header = m.reply().await?;
    if let Some(mark) = header.strip_prefix("$EOF:") {
        if mark.len() != 40 {
            return Err(format!("Bad protocol from MASTER, the first byte is not '$': {header}"));
        }
        return Ok((Some(mark.as_bytes().to_vec()), -1));
    }
    match header.strip_prefix('$').and_then(|n| n.parse::<i64>().ok()).filter(|&n| n >= 0) {
        Some(n) => Ok((None, n)),
        None => Err(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"
        )),
    }
}

/// Active mode's full sync: the master's snapshot is **merged** into our data, key by
/// key, newest stamp winning, tombstones included (`active::merge_snapshot`), while
/// clients and other links keep writing. This node keeps its data, UUID, replication ID
/// and offset; the link takes the master's ID and offset.
async fn full_sync_merge(
    shared: &Arc<Shared>,
    gen: u64,
    m: &mut MasterConn,
    id: String,
    offset: u64,
) -> Result<(), String> {
    {
        let mut st = shared.store.lock();
        if let Some(l) = st.repl.link.as_mut() {
            l.state = LinkState::Transfer;
            l.sync_size = -1;
            l.async_loading = true;
            l.sync_read = 0;
            l.sync_start = Some(Instant::now());
        }
    }
    let (eof_mark, size) = payload_header(m).await?;
    if let Some(l) = shared.store.lock().repl.link.as_mut() {
        l.sync_size = size;
    }
    crate::log_notice!(
        "MASTER <-> REPLICA sync: receiving {} from master to merge it",
        if size >= 0 { format!("{size} bytes") } else { "streamed RDB".to_string() }
    );
    let data = receive_payload(shared, gen, m, eof_mark.as_deref(), size, None).await?;
    let (lim, ndb) = {
        let st = shared.store.lock();
        (crate::persistence::rdb::load::Limits::from_config(&st.cfg), st.dbs.len())
    };
    let parsed = tokio::task::spawn_blocking(move || {
        let mut keys = Vec::new();
        crate::persistence::rdb::file::load_rdb(&data, &lim, ndb, |k| keys.push(k))
            .map(|info| (keys, info))
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("loading task: {e}"))?;
    let (keys, info) = parsed.map_err(|e| format!("Failed trying to load the MASTER synchronization DB: {e}"))?;
    let merged = super::active::merge_snapshot(shared, gen, keys, info).await?;
    let mut st = shared.store.lock();
    if st.repl.link_gen != gen {
        return Err("master changed during the sync".into());
    }
    if let Some(l) = st.repl.link.as_mut() {
        l.master_replid = id;
        l.master_offset = offset;
        l.sync_start = None;
        l.async_loading = false;
    }
    crate::log_notice!(
        "MASTER <-> REPLICA sync: merged the master's snapshot: {} keys taken, {} kept (newer here), {} counters merged",
        merged.taken,
        merged.kept,
        merged.counters
    );
    Ok(())
}

/// Reads the snapshot: `size` bytes, or up to the EOF mark (diskless); into `tmp` when
/// given (returns nothing then) or into memory.
async fn receive_payload(
    shared: &Shared,
    gen: u64,
    m: &mut MasterConn,
    eof_mark: Option<&[u8]>,
    size: i64,
    tmp: Option<&PathBuf>,
) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut file = match tmp {
        Some(p) => Some(std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(p)
                .map_err(|e| format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}"))?,
        )),
        None => None,
    };
    let mut mem: Vec<u8> = Vec::with_capacity(if size > 0 { (size as usize).min(MAX_PREALLOC) } else { 0 });
    let mut total: u64 = 0;
    // Diskless: the last bytes received are held back until more arrive, because they may
    // be (part of) the EOF mark, which is not part of the payload.
    let mut held: Vec<u8> = Vec::with_capacity(128);
    let mut last_report = Instant::now();
    loop {
        if m.buf.is_empty() {
            m.fill().await?;
        }
        let mut chunk = m.buf.split();
        if size >= 0 {
            let left = size as u64 - total;
            if chunk.len() as u64 > left {
                // What follows the payload is the stream: it stays in the buffer.
                m.buf = chunk.split_off(left as usize);
            }
        }
        total += chunk.len() as u64;
        let (data, done): (&[u8], bool) = match eof_mark {
            None => (&chunk, total == size as u64),
            Some(mark) => {
                held.extend_from_slice(&chunk);
                // The mark ends the payload; a master may send the stream right after it
                // in the same read (Redis waits for the first ACK; we do not rely on it).
                let found = held.windows(mark.len()).position(|w| w == mark);
                if let Some(at) = found {
                    // What follows the mark is the stream: back into the buffer.
                    let mut rest = BytesMut::from(&held[at + mark.len()..]);
                    rest.extend_from_slice(&m.buf);
                    m.buf = rest;
                    held.truncate(at + mark.len());
                }
                let done = found.is_some();
                let keep = if done { mark.len() } else { mark.len().min(held.len()) };
                let cut = held.len() - keep;
                match file.as_mut() {
                    Some(f) => {
                        f.write_all(&held[..cut]).map_err(|e| format!("Write error writing to the DB on disk: {e}"))?
                    }
                    None => mem.extend_from_slice(&held[..cut]),
                }
                held.drain(..cut);
                (&[], done)
            }
        };
        match file.as_mut() {
            Some(f) => f.write_all(data).map_err(|e| format!("Write error writing to the DB on disk: {e}"))?,
            None => mem.extend_from_slice(data),
        }
        if done {
            break;
        }
        if last_report.elapsed() > Duration::from_millis(100) {
            last_report = Instant::now();
            let mut st = shared.store.lock();
            if st.repl.link_gen != gen {
                return Err("master changed during the transfer".into());
            }
            if let Some(l) = st.repl.link.as_mut() {
                l.sync_read = total;
                l.last_io = Instant::now();
            }
        }
    }
    if let Some(f) = file {
        let f = f.into_inner().map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| {
            format!("Failed trying to sync the temp DB to disk in MASTER <-> REPLICA synchronization: {e}")
        })?;
    }
    Ok(mem)
}

/// Applies the master's stream until the link drops or the master changes, acknowledging
/// the offset every second.
async fn stream(shared: &Arc<Shared>, gen: u64, m: MasterConn) {
    let MasterConn { sock, mut buf, timeout, .. } = m;
    let (mut rd, mut wr) = sock.into_split();
    let id = shared.next_client_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let addr = rd.as_ref().peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let laddr = rd.as_ref().local_addr().map(|a| a.to_string()).unwrap_or_default();
    let (cs, _mailbox) = ClientShared::new(id, addr, laddr, -1);
    let mut client = Client::new(cs.clone(), true);
    client.is_master_link = true;
    cs.info.lock().flags = "M".into();
    {
        let mut st = shared.store.lock();
        if st.repl.link_gen != gen {
            return;
        }
        client.db = st.stream.current_db().unwrap_or(0);
        st.clients.by_id.insert(id, cs.clone());
        let read_offset = st.stream.offset() + buf.len() as u64;
        if let Some(l) = st.repl.link.as_mut() {
            l.master_client = Some(cs.clone());
            l.state = LinkState::Connected;
            l.down_since = None;
            l.last_io = Instant::now();
            l.read_offset = read_offset;
        }
    }
    crate::log_notice!("MASTER <-> REPLICA sync: Finished with success");
    let mut parser = Parser::new();
    let mut argv: Vec<Bytes> = Vec::new();
    let mut batch: Vec<Vec<Bytes>> = Vec::new();
    // Active mode: bytes of the master's stream each batched command took (the link's
    // offset moves by them once applied), and a transaction's frames until its EXEC.
    let active = shared.store.lock().cfg.active_replica;
    let mut sizes: Vec<usize> = Vec::new();
    let mut consumed = 0usize;
    let mut tx: Option<Vec<super::active::Frame>> = None;
    let mut out = Reply::new();
    let mut ack_timer = tokio::time::interval(Duration::from_secs(1));
    ack_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A master's arguments are exempt from our proto-max-bulk-len in Redis, but an absurd
    // length must not become an allocation of that size (the parser reserves a big
    // argument's room at once): the bound is ours, at least Redis's default 512 MB.
    let max_bulk = shared.max_bulk_len.load(std::sync::atomic::Ordering::Relaxed).max(512 << 20);
    let lim = ParseLimits { max_bulk_len: max_bulk, authenticated: true, is_master: false };
    let mut pending_ack: Option<u64> = None;
    // The read deadline moves only when bytes arrive (the ACK timer must not restart it).
    let mut last_read = tokio::time::Instant::now();
    // Set while CLIENT PAUSE holds the stream back: `batch` keeps the commands not applied
    // yet, and more bytes are read but not applied until the pause ends.
    let mut paused: Option<PauseWait> = None;
    let reason = 'link: loop {
        // Apply everything complete in the buffer.
        while paused.is_none() {
            let mut proto_err = None;
            while batch.len() < MAX_BATCH {
                let before = buf.len();
                let r = parser.next_command(&mut buf, &lim, &mut argv);
                consumed += before - buf.len();
                match r {
                    Ok(true) => {
                        batch.push(std::mem::take(&mut argv));
                        sizes.push(std::mem::take(&mut consumed));
                    }
                    Ok(false) => break,
                    Err(e) => {
                        proto_err = Some(e.0);
                        break;
                    }
                }
            }
            let full = batch.len() >= MAX_BATCH;
            if !batch.is_empty() {
                let applied = if active {
                    apply_active(shared, gen, &mut client, &mut out, &batch, &sizes, &mut tx)
                } else {
                    apply(shared, gen, &mut client, &mut out, &batch)
                };
                match applied {
                    Some(a) => {
                        if a.ack.is_some() {
                            pending_ack = a.ack;
                        }
                        batch.drain(..a.done);
                        sizes.drain(..a.done.min(sizes.len()));
                        paused = a.paused;
                    }
                    None => break 'link "master changed".to_string(),
                }
            }
            if let Some(e) = proto_err {
                break 'link format!("Protocol error from MASTER: {e}");
            }
            if !full {
                break;
            }
        }
        if let Some(off) = pending_ack.take() {
            if send_ack(&mut wr, off, timeout).await.is_err() {
                break 'link "error writing to MASTER".to_string();
            }
        }
        // A buffer grown by a big command is given back once consumed, as Redis resizes
        // its master client's query buffer; else the replica would hold it for good (a
        // 32 MB SET would cost the replica twice the master's memory).
        if buf.len() < MASTER_BUF_KEEP && buf.capacity() > MASTER_BUF_SHRINK_ABOVE {
            let mut fresh = BytesMut::with_capacity(MASTER_BUF_KEEP);
            fresh.extend_from_slice(&buf);
            buf = fresh;
        }
        buf.reserve(16 * 1024);
        let mut pause_over = false;
        tokio::select! {
            r = tokio::time::timeout_at(last_read + timeout, rd.read_buf(&mut buf)) => match r {
                Err(_) => break 'link "MASTER timeout: no data nor PING received...".to_string(),
                Ok(Ok(0)) => break 'link "MASTER closed the connection".to_string(),
                Ok(Err(e)) => break 'link format!("Error reading from MASTER: {e}"),
                Ok(Ok(n)) => {
                    last_read = tokio::time::Instant::now();
                    let mut st = shared.store.lock();
                    if let Some(l) = st.repl.link.as_mut() {
                        l.last_io = Instant::now();
                        l.read_offset += n as u64;
                    }
                }
            },
            _ = pause_ended(paused.as_mut()) => pause_over = true,
            _ = ack_timer.tick() => {
                let off = ack_offset(&shared.store.lock());
                if send_ack(&mut wr, off, timeout).await.is_err() {
                    break 'link "error writing to MASTER".to_string();
                }
            }
            _ = cs.kill_notify.notified() => break 'link "connection killed".to_string(),
        }
        if pause_over {
            paused = None; // the next round applies what waited (or waits for a new pause)
        }
        if cs.is_killed() {
            break 'link "connection killed".to_string();
        }
    };
    crate::log_notice!("Connection with master lost ({reason}).");
    let mut st = shared.store.lock();
    st.clients.by_id.remove(&id);
    if st.repl.link_gen == gen {
        if let Some(l) = st.repl.link.as_mut() {
            l.master_client = None;
            l.state = LinkState::Connect;
            l.down_since = Some(Instant::now());
        }
    }
}

/// The offset to acknowledge: the master's stream applied so far, which is our own
/// stream's offset on a plain replica and the link's own offset in active mode.
fn ack_offset(st: &Store) -> u64 {
    match st.repl.link.as_ref().filter(|_| st.cfg.active_replica) {
        Some(l) => l.master_offset,
        None => st.stream.offset(),
    }
}

/// Active mode: applies a batch of the master's stream under the store lock. RREPLAY
/// frames are judged and applied (`active::apply_frame`), a transaction's frames once
/// its EXEC frame arrives, all under one lock; a plain write (a master that is not
/// active) is applied as a peer's write stamped by our clock. Nothing is appended to our
/// stream: the link's offset moves instead. None if the master changed meanwhile.
fn apply_active(
    shared: &Shared,
    gen: u64,
    client: &mut Client,
    out: &mut Reply,
    batch: &[Vec<Bytes>],
    sizes: &[usize],
    tx: &mut Option<Vec<super::active::Frame>>,
) -> Option<Applied> {
    use super::active;
    let mut st = shared.lock_store();
    if st.repl.link_gen != gen {
        return None;
    }
    let mut res = Applied { ack: None, done: 0, paused: None };
    st.begin_batch();
    let ndb = st.dbs.len();
    for (argv, &size) in batch.iter().zip(sizes) {
        if let Some(w) = crate::server::pause::must_wait(&mut st, client, argv) {
            res.paused = Some(w);
            break;
        }
        res.done += 1;
        let name = &argv[0];
        if name.eq_ignore_ascii_case(b"rreplay") {
            match active::parse_frame(argv, ndb) {
                Ok(f) => {
                    let payload = active::parse_payload(&f.payload);
                    let payload_name = payload.as_ref().and_then(|a| a.first().cloned());
                    let getack = payload.as_ref().is_some_and(|a| {
                        a.len() >= 2 && a[0].eq_ignore_ascii_case(b"replconf") && a[1].eq_ignore_ascii_case(b"getack")
                    });
                    match payload_name {
                        // KeyDB's WAIT: the GETACK travels inside a frame.
                        _ if getack => res.ack = Some(ack_offset(&st)),
                        Some(n) if n.eq_ignore_ascii_case(b"multi") => *tx = Some(Vec::new()),
                        Some(n) if n.eq_ignore_ascii_case(b"exec") => {
                            for f in tx.take().unwrap_or_default() {
                                active::apply_frame(shared, &mut st, client, out, &f);
                            }
                        }
                        _ => match tx.as_mut() {
                            Some(t) if t.len() < active::MAX_TX_FRAMES => t.push(f),
                            _ => active::apply_frame(shared, &mut st, client, out, &f),
                        },
                    }
                }
                Err(e) => crate::log_warning!("Active replication: bad RREPLAY frame from MASTER: {e}"),
            }
        } else if argv.len() >= 2 && name.eq_ignore_ascii_case(b"replconf") && argv[1].eq_ignore_ascii_case(b"getack") {
            // Acknowledged with the offset before the GETACK itself, as Redis does.
            res.ack = Some(ack_offset(&st));
        } else if !name.eq_ignore_ascii_case(b"ping") && !name.eq_ignore_ascii_case(b"select") {
            let is_write = crate::commands::call::resolve(crate::commands::table::CommandTable::get(), argv)
                .is_ok_and(|c| c.def.flags & crate::commands::table::flags::WRITE != 0);
            if is_write {
                let now = st.now_ms();
                let mvcc = st.clock.next(now);
                crate::commands::call::call(shared, &mut st, client, out, argv, Source::Peer { mvcc });
                out.buf.clear();
                let _ = out.take_errors();
            }
        } else if name.eq_ignore_ascii_case(b"select") {
            // A plain master's database switch: its next writes go there.
            if let Some(d) = argv.get(1).and_then(|d| crate::util::numeric::string2ll(d)) {
                if d >= 0 && (d as usize) < ndb {
                    client.db = d as usize;
                }
            }
        }
        if let Some(l) = st.repl.link.as_mut() {
            l.master_offset += size as u64;
        }
    }
    if res.done > 0 && st.stream.has_aof() {
        // The AOF now holds the link's stream up to here: a restart from it continues
        // the link from this offset (a frame applied twice after a crash between its
        // write and this line is skipped by its stamp, an increment by its total).
        if let Some(v) = super::repl_masters_value(&st) {
            st.stream.aof_annotation(format!("#repl-masters:{v}").as_bytes());
        }
    }
    st.end_batch();
    Some(res)
}

/// Sends REPLCONF ACK; a master that stopped reading makes it fail after `repl-timeout`.
async fn send_ack(wr: &mut tokio::net::tcp::OwnedWriteHalf, off: u64, timeout: Duration) -> Result<(), ()> {
    let mut b = Vec::with_capacity(64);
    super::stream::encode_command(&mut b, &[b"REPLCONF", b"ACK", off.to_string().as_bytes()]);
    match tokio::time::timeout(timeout, wr.write_all(&b)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Resolves when the CLIENT PAUSE that holds the master's stream back ends; never without
/// one.
async fn pause_ended(w: Option<&mut PauseWait>) {
    match w {
        Some(w) => w.ended().await,
        None => std::future::pending().await,
    }
}

/// What [`apply`] did with a batch.
struct Applied {
    /// The offset to acknowledge, when the master asked for an ACK (GETACK).
    ack: Option<u64>,
    /// How many commands of the batch were applied: all, unless `paused`.
    done: usize,
    /// Set when a CLIENT PAUSE holds back the command at `done` (and all after it).
    paused: Option<PauseWait>,
}

/// Executes a batch of the master's commands under the store lock. None if the master
/// changed meanwhile.
fn apply(shared: &Shared, gen: u64, client: &mut Client, out: &mut Reply, batch: &[Vec<Bytes>]) -> Option<Applied> {
    let mut st = shared.lock_store();
    if st.repl.link_gen != gen {
        return None;
    }
    let mut res = Applied { ack: None, done: 0, paused: None };
    st.begin_batch();
    let mut raw = Vec::with_capacity(256);
    for argv in batch {
        if let Some(w) = crate::server::pause::must_wait(&mut st, client, argv) {
            res.paused = Some(w);
            break;
        }
        res.done += 1;
        let getack =
            argv.len() >= 2 && argv[0].eq_ignore_ascii_case(b"replconf") && argv[1].eq_ignore_ascii_case(b"getack");
        if getack {
            // Redis acknowledges the offset before the GETACK itself.
            res.ack = Some(st.stream.offset());
        } else {
            crate::commands::call::call(shared, &mut st, client, out, argv, Source::Master);
            crate::commands::call::source_command_failed(&mut st, Source::Master, &argv[0], &out.buf);
            out.buf.clear();
            let _ = out.take_errors();
        }
        raw.clear();
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_ref()).collect();
        super::stream::encode_command(&mut raw, &refs);
        let db = client.db;
        st.stream.append_raw(&raw, db);
    }
    st.end_batch();
    Some(res)
}
