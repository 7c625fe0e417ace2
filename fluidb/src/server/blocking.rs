//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, ...): Redis's blocked.c.
//!
//! A blocking command that finds nothing to pop calls [`Ctx::block`]; the connection then
//! registers a [`Waiter`] here (still under the store lock, so no write can slip between
//! the check and the registration), releases the lock and waits. A write that creates a
//! list or sorted set under a key somebody waits on marks the key *ready*
//! ([`Store::signal_key_ready`]). After every top-level command, [`serve_ready`] runs —
//! inside the same lock acquisition as the write, as Redis's `handleClientsBlockedOnKeys`
//! runs right after `call()` — and re-executes the waiters' commands for each ready key in
//! the order they blocked (first blocked, first served). A served waiter's reply is
//! delivered through its oneshot channel; its command was propagated by the normal
//! `call()` path (as the non-blocking form the handler chose, e.g. BLPOP → LPOP).
//!
//! Serving under the writer's lock is what makes the guarantee exact: the element pushed
//! by LPUSH goes to the longest-waiting client, never to a client that happens to run next.
//!
//! [`Ctx::block`]: crate::commands::Ctx::block
//! [`Store::signal_key_ready`]: crate::server::Store::signal_key_ready

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::oneshot;

use super::client::{Client, ClientId, ClientShared};
use super::{Shared, Store};
use crate::commands::{call, Flow};
use crate::keyspace::Value;
use crate::protocol::Reply;
use crate::util::ldouble;

/// The type of value a blocked client waits for (Redis's `btype`): a waiter is served only
/// when its key holds this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockType {
    List,
    ZSet,
}

/// What a blocked client receives when its timeout expires (or CLIENT UNBLOCK ... TIMEOUT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutReply {
    /// `*-1` (RESP2) / `_` (RESP3): BLPOP, BRPOP, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.
    NullArray,
    /// `$-1` (RESP2) / `_` (RESP3): BLMOVE, BRPOPLPUSH.
    NullBulk,
}

impl TimeoutReply {
    pub fn write(self, out: &mut Reply) {
        match self {
            TimeoutReply::NullArray => out.null_array(),
            TimeoutReply::NullBulk => out.null(),
        }
    }
}

/// A handler's request to block (set through `Ctx::block`).
#[derive(Debug)]
pub struct BlockRequest {
    pub keys: Vec<Bytes>,
    pub btype: BlockType,
    /// None: wait forever (timeout 0).
    pub deadline: Option<Instant>,
    pub on_timeout: TimeoutReply,
    /// Microseconds the call that blocked took (set by `execute`): Redis adds it again
    /// to the command's statistics when the client is served or unblocked.
    pub first_usec: u64,
}

/// A blocked client, as the serving side needs it.
pub struct Waiter {
    pub shared: Arc<ClientShared>,
    pub db: usize,
    pub resp3: bool,
    pub argv: Vec<Bytes>,
    pub req: BlockRequest,
    /// The served (or unblocked) reply, already encoded for the client's protocol.
    pub tx: oneshot::Sender<Bytes>,
}

/// Most keys one blocking command may wait on (every key is an argument, so the command
/// size limits already bound this; the assertion documents it).
const MAX_KEYS_PER_WAITER: usize = 1 << 20;

/// Every blocked client, by id and by key.
#[derive(Default)]
pub struct Blocking {
    waiters: HashMap<ClientId, Waiter>,
    /// Clients blocked on (db, key), in the order they blocked.
    by_key: HashMap<(usize, Bytes), VecDeque<ClientId>>,
    /// Keys that became ready during the current command, in signal order.
    ready: Vec<(usize, Bytes)>,
    ready_set: HashSet<(usize, Bytes)>,
    /// Set while `serve_ready` runs, so the commands it re-executes do not serve
    /// recursively (the outer loop picks up the keys they make ready).
    serving: bool,
}

impl Blocking {
    /// No client is blocked (the fast path every write checks).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
    /// Number of blocked clients (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.waiters.len()
    }
    /// Number of keys with blocked clients (INFO `total_blocking_keys`).
    pub fn keys(&self) -> usize {
        self.by_key.len()
    }
    pub fn is_blocked(&self, id: ClientId) -> bool {
        self.waiters.contains_key(&id)
    }
    /// Registers a waiter.
    pub fn add(&mut self, id: ClientId, w: Waiter) {
        debug_assert!(!self.waiters.contains_key(&id), "a client blocks once at a time");
        assert!(w.req.keys.len() <= MAX_KEYS_PER_WAITER);
        for k in &w.req.keys {
            let q = self.by_key.entry((w.db, k.clone())).or_default();
            // A key named twice (BLPOP k k 0) queues the client once.
            if q.back() != Some(&id) {
                q.push_back(id);
            }
        }
        self.waiters.insert(id, w);
    }
    /// Unregisters a waiter (served, timed out, unblocked, disconnected).
    pub fn remove(&mut self, id: ClientId) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        for k in &w.req.keys {
            let slot = (w.db, k.clone());
            if let Some(q) = self.by_key.get_mut(&slot) {
                q.retain(|c| *c != id);
                if q.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        Some(w)
    }
    /// Marks (db, key) ready if somebody waits on it (no-op without blocked clients).
    #[inline]
    pub fn signal_if_waited(&mut self, db: usize, key: &[u8]) {
        if !self.waiters.is_empty() {
            self.signal(db, key);
        }
    }
    /// Marks (db, key) ready if somebody waits on it.
    pub fn signal(&mut self, db: usize, key: &[u8]) {
        let slot = (db, Bytes::copy_from_slice(key));
        if self.by_key.contains_key(&slot) && self.ready_set.insert(slot.clone()) {
            self.ready.push(slot);
        }
    }
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }
    /// Every key of a database that has waiters (SWAPDB, FLUSHALL... may make them ready).
    pub fn keys_in_db(&self, db: usize) -> Vec<Bytes> {
        self.by_key.keys().filter(|(d, _)| *d == db).map(|(_, k)| k.clone()).collect()
    }
}

impl Store {
    /// Redis's `signalKeyAsReady`: a list or sorted set now exists under `key`.
    #[inline]
    pub fn signal_key_ready(&mut self, db: usize, key: &[u8]) {
        if !self.blocking.is_empty() {
            self.blocking.signal(db, key);
        }
    }
    /// After SWAPDB/MOVE of whole databases: every waited-on key that now holds a value
    /// becomes ready (Redis's `scanDatabaseForReadyKeys`).
    pub fn scan_db_for_ready_keys(&mut self, db: usize) {
        if self.blocking.is_empty() {
            return;
        }
        for k in self.blocking.keys_in_db(db) {
            if self.dbs[db].peek(&k).is_some() {
                self.blocking.signal(db, &k);
            }
        }
    }
}

/// Whether the value is of the type a waiter waits for.
fn type_matches(v: &Value, t: BlockType) -> bool {
    matches!((v, t), (Value::List(_), BlockType::List) | (Value::ZSet(_), BlockType::ZSet))
}

/// Redis's `handleClientsBlockedOnKeys`: serves waiters of every ready key, in the order
/// they blocked, by re-executing their commands. Serving may make more keys ready (BLMOVE
/// pushes to its destination); the loop runs until none is left.
pub fn serve_ready(shared: &Shared, store: &mut Store) {
    if store.blocking.serving {
        return;
    }
    store.blocking.serving = true;
    while !store.blocking.ready.is_empty() {
        let ready = std::mem::take(&mut store.blocking.ready);
        store.blocking.ready_set.clear();
        for (db, key) in ready {
            serve_key(shared, store, db, &key);
        }
    }
    store.blocking.serving = false;
}

fn serve_key(shared: &Shared, store: &mut Store, db: usize, key: &Bytes) {
    if !store.blocking.by_key.contains_key(&(db, key.clone())) {
        return;
    }
    // `lookupKeyReadWithFlags` first: a key that expired meanwhile (SWAPDB brought it, or a
    // transaction set a TTL that passed before its EXEC ended) is deleted now, its DEL
    // propagated, and its waiters stay blocked.
    let now_ms = store.now_ms();
    if store.expire_if_needed(db, key, now_ms) {
        crate::commands::call::flush_propagation(store, true);
        return;
    }
    let Some(queue) = store.blocking.by_key.get(&(db, key.clone())) else { return };
    // A snapshot: serving removes entries from the live queue.
    let order: Vec<ClientId> = queue.iter().copied().collect();
    for id in order {
        let now_ms = store.now_ms();
        // Stop as soon as the key is gone (emptied by the clients served so far).
        let Some(e) = store.dbs[db].peek(key) else { return };
        if e.is_expired(now_ms) {
            return;
        }
        let Some(w) = store.blocking.waiters.get(&id) else { continue };
        if !type_matches(&e.val, w.req.btype) {
            continue;
        }
        let mut client = Client::new(w.shared.clone(), true);
        client.db = w.db;
        client.served_after_block = Some(w.req.first_usec);
        client.reply.resp3 = w.resp3;
        let mut out = Reply::new();
        out.resp3 = w.resp3;
        let argv = w.argv.clone();
        let flow = call(shared, store, &mut client, &mut out, &argv, crate::commands::call::Source::Client);
        if flow == Flow::Block {
            // Still nothing for it (it stays blocked where it was).
            continue;
        }
        if let Some(w) = store.blocking.remove(id) {
            let _ = w.tx.send(Bytes::from(out.buf));
        }
    }
}

/// A registered wait, as the blocked connection holds it.
pub struct Blocked {
    rx: oneshot::Receiver<Bytes>,
    deadline: Option<Instant>,
}

/// Registers `client` as blocked by `argv` (called by the connection under the store lock,
/// right after the command asked to block).
pub fn register(store: &mut Store, client: &Client, resp3: bool, argv: Vec<Bytes>, req: BlockRequest) -> Blocked {
    let (tx, rx) = oneshot::channel();
    let deadline = req.deadline;
    store.blocking.add(client.id, Waiter { shared: client.shared.clone(), db: client.db, resp3, argv, req, tx });
    Blocked { rx, deadline }
}

/// Waits, without the store lock, until the client is served (its reply arrives through
/// the channel), times out, is unblocked or killed, or its peer closes the connection (as
/// Redis notices a closed blocked client at once, so it is never served a value nobody
/// will read). Bytes the client sends meanwhile are kept in `inbuf` for after, within the
/// query buffer limit. Returns false when the connection must close.
pub async fn wait<S: AsyncRead + Unpin>(
    shared: &Shared,
    sock: &mut S,
    inbuf: &mut BytesMut,
    client: &Client,
    out: &mut Reply,
    mut b: Blocked,
) -> bool {
    let sleep = async {
        match b.deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    loop {
        if client.shared.is_killed() {
            shared.lock_store().blocking.remove(client.id);
            return false;
        }
        tokio::select! {
            r = &mut b.rx => {
                return match r {
                    Ok(reply) => {
                        out.raw(&reply);
                        true
                    }
                    Err(_) => false,
                };
            }
            _ = &mut sleep => {
                if let Some(w) = shared.lock_store().blocking.remove(client.id) {
                    w.req.on_timeout.write(out);
                    return true;
                }
                // Served (or unblocked) just as the deadline passed: the reply is there.
                return match b.rx.try_recv() {
                    Ok(reply) => {
                        out.raw(&reply);
                        true
                    }
                    Err(_) => false,
                };
            }
            _ = client.shared.kill_notify.notified() => {
                shared.lock_store().blocking.remove(client.id);
                return false;
            }
            r = sock.read_buf(inbuf) => {
                let closed = !matches!(r, Ok(n) if n > 0);
                if closed || inbuf.len() > shared.query_buffer_limit.load(std::sync::atomic::Ordering::Relaxed) {
                    shared.lock_store().blocking.remove(client.id);
                    return false;
                }
            }
        }
    }
}

/// CLIENT UNBLOCK: unblocks `id` with its timeout reply, or with the UNBLOCKED error when
/// `error`. Returns whether the client was blocked.
pub fn unblock(store: &mut Store, id: ClientId, error: bool) -> bool {
    let Some(w) = store.blocking.remove(id) else { return false };
    let mut out = Reply::new();
    out.resp3 = w.resp3;
    if error {
        out.error("-UNBLOCKED client unblocked via CLIENT UNBLOCK");
        for code in out.take_errors() {
            store.stats.error(&code);
        }
        crate::commands::call::account_unblocked_with_error(store, &w.argv, w.req.first_usec);
    } else {
        w.req.on_timeout.write(&mut out);
    }
    let _ = w.tx.send(Bytes::from(out.buf));
    true
}

/// Redis 7.0's `getTimeoutFromObjectOrReply` for seconds (fractional allowed): Ok(None)
/// for 0 (block forever), Ok(Some(deadline)), or Err(message) to reply with.
///
/// Redis parses a long double (so "0x10" and "1e3" are valid), multiplies by 1000 and
/// rounds up (`ceill`): 0.0001 waits 1 ms and -0.0001 rounds to 0, "forever". The cast
/// to `long long` of a value out of range (inf, 1e20) gives LLONG_MIN on x86-64, hence
/// "timeout is negative" for those too. A deadline past what `Instant` can hold waits
/// forever, as Redis's overflowing sum effectively does.
pub fn parse_timeout(arg: &[u8], now: Instant) -> Result<Option<Instant>, &'static str> {
    const NOT_FLOAT: &str = "timeout is not a float or out of range";
    const NEGATIVE: &str = "timeout is negative";
    let canon = ldouble::ld_normalize_human(arg).ok_or(NOT_FLOAT)?;
    let secs: f64 = std::str::from_utf8(&canon).ok().and_then(|s| s.parse().ok()).ok_or(NOT_FLOAT)?;
    let ms = (secs * 1000.0).ceil();
    // Out of i64 range (or NaN): C's cast gives LLONG_MIN.
    if ms.is_nan() || ms >= i64::MAX as f64 || ms < 0.0 {
        return Err(NEGATIVE);
    }
    if ms == 0.0 {
        return Ok(None);
    }
    Ok(now.checked_add(Duration::from_millis(ms as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_as_redis_7_0() {
        let now = Instant::now();
        let ms = |s: &str| parse_timeout(s.as_bytes(), now).map(|d| d.map(|d| d.duration_since(now).as_millis()));
        assert_eq!(ms("0"), Ok(None));
        assert_eq!(ms("1.5"), Ok(Some(1500)));
        assert_eq!(ms("0.0001"), Ok(Some(1)));
        assert_eq!(ms("-0.0001"), Ok(None));
        assert_eq!(ms("0x10"), Ok(Some(16000)));
        assert_eq!(ms("-1"), Err("timeout is negative"));
        assert_eq!(ms("inf"), Err("timeout is negative"));
        assert_eq!(ms("1e20"), Err("timeout is negative"));
        assert_eq!(ms("abc"), Err("timeout is not a float or out of range"));
        assert_eq!(ms(""), Err("timeout is not a float or out of range"));
        assert_eq!(ms(" 1"), Err("timeout is not a float or out of range"));
    }
}
