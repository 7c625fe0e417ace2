//! Transactions (Redis's multi.c: MULTI, EXEC, DISCARD, WATCH, UNWATCH) and the
//! connection-state commands MONITOR and RESET.
//!
//! A transaction executes atomically because EXEC runs every queued command under the one
//! store lock it already holds, with one frozen `now_ms`. `call()` queues commands and
//! flags the transaction aborted on rejected commands; the WATCH registry
//! (`server::store::WatchRegistry`) marks clients dirty when a watched key changes.

use std::sync::atomic::Ordering;

use super::call::{execute, resolve, Ctx, Flow};
use super::table::{acl, flags::*, Command, CommandTable};
use crate::server::client::{Client, MultiState, ReplyMode};
use crate::server::store::Store;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "multi",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        acl: acl::TRANSACTION,
        handler: multi,
        group: "transactions",
        since: "1.2.0",
        summary: "Mark the start of a transaction block",
        ..Command::DEFAULT
    },
    Command {
        name: "exec",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        acl: acl::TRANSACTION,
        handler: exec,
        group: "transactions",
        since: "1.2.0",
        summary: "Execute all commands issued after MULTI",
        complexity: "Depends on commands in the transaction",
        ..Command::DEFAULT
    },
    Command {
        name: "discard",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        acl: acl::TRANSACTION,
        handler: discard,
        group: "transactions",
        since: "2.0.0",
        summary: "Discard all commands issued after MULTI",
        complexity: "O(N), when N is the number of queued commands",
        ..Command::DEFAULT
    },
    Command {
        name: "watch",
        arity: -2,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        acl: acl::TRANSACTION,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        handler: watch,
        group: "transactions",
        since: "2.2.0",
        summary: "Watch the given keys to determine execution of the MULTI/EXEC block",
        complexity: "O(1) for every key.",
        ..Command::DEFAULT
    },
    Command {
        name: "unwatch",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        acl: acl::TRANSACTION,
        handler: unwatch,
        group: "transactions",
        since: "2.2.0",
        summary: "Forget about all watched keys",
        ..Command::DEFAULT
    },
    Command {
        name: "monitor",
        arity: 1,
        flags: ADMIN | NOSCRIPT | LOADING | STALE,
        handler: monitor,
        group: "server",
        since: "1.0.0",
        summary: "Listen for all requests received by the server in real time",
        complexity: "",
        ..Command::DEFAULT
    },
    Command {
        name: "reset",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        acl: acl::CONNECTION,
        handler: reset,
        group: "connection",
        since: "6.2.0",
        summary: "Reset the connection",
        ..Command::DEFAULT
    },
];

/// Leaves MULTI state and forgets WATCHed keys (Redis's `discardTransaction`).
pub fn discard_transaction(store: &mut Store, client: &mut Client) {
    client.multi = None;
    super::connection::unwatch_all(store, client);
    client.shared.info.lock().multi = -1;
}

/// Whether a key WATCHed by `client` (and not already expired when watched) has expired
/// since (Redis 7.0's `isWatchedKeyExpired`). Nothing is deleted here.
pub fn is_watched_key_expired(store: &Store, client: u64, now_ms: i64) -> bool {
    let Some(mine) = store.watch.clients.get(&client) else { return false };
    mine.iter().any(|(db, key)| {
        let was_expired = store
            .watch
            .keys
            .get(key)
            .and_then(|ws| ws.iter().find(|w| w.client == client && w.db == *db))
            .is_some_and(|w| w.expired);
        !was_expired && key_is_expired(store, *db, key, now_ms)
    })
}

/// The key exists physically but is logically expired (Redis's `keyIsExpired`).
fn key_is_expired(store: &Store, db: usize, key: &[u8], now_ms: i64) -> bool {
    store.dbs.get(db).and_then(|d| d.peek(key)).is_some_and(|e| e.is_expired(now_ms))
}

/// Invalidation of WATCH for database-wide changes, for FLUSHDB/FLUSHALL/SWAPDB.
impl Store {
    /// Call before emptying `db` (None: every database), as Redis's `signalFlushedDb`.
    pub fn signal_flushed_db(&mut self, db: Option<usize>) {
        if self.watch.keys.is_empty() {
            return;
        }
        let range = match db {
            Some(d) => d..d + 1,
            None => 0..self.dbs.len(),
        };
        for d in range {
            let emptied = &self.dbs[d];
            self.watch.touch_all_in_db(d, |k| emptied.peek(k).is_some(), |_| None);
        }
    }

    /// Call before swapping databases `a` and `b` (SWAPDB), as Redis's `dbSwapDatabases`:
    /// a watched key is invalidated if it exists in either database, unless it is
    /// logically absent before and after.
    pub fn signal_swapped_db(&mut self, a: usize, b: usize, now_ms: i64) {
        if self.watch.keys.is_empty() {
            return;
        }
        for (emptied, replacement) in [(a, b), (b, a)] {
            let (e, r) = (&self.dbs[emptied], &self.dbs[replacement]);
            self.watch.touch_all_in_db(
                emptied,
                |k| e.peek(k).is_some(),
                |k| r.peek(k).map(|entry| entry.is_expired(now_ms)),
            );
        }
    }
}

fn multi(ctx: &mut Ctx) {
    if ctx.client.multi.is_some() {
        return ctx.out.error("MULTI calls can not be nested");
    }
    ctx.client.multi = Some(MultiState::default());
    ctx.client.shared.info.lock().multi = 0;
    ctx.out.ok();
}

fn discard(ctx: &mut Ctx) {
    if ctx.client.multi.is_none() {
        return ctx.out.error("DISCARD without MULTI");
    }
    discard_transaction(ctx.store, ctx.client);
    ctx.out.ok();
}

fn exec(ctx: &mut Ctx) {
    let Some(state) = ctx.client.multi.take() else {
        return ctx.out.error("EXEC without MULTI");
    };
    let id = ctx.client.id;
    // EXEC with a watched key that expired since WATCH is disallowed.
    if !ctx.store.watch.is_dirty(id) && is_watched_key_expired(ctx.store, id, ctx.now_ms) {
        ctx.store.watch.dirty.insert(id);
    }
    let dirty = ctx.store.watch.is_dirty(id);
    if state.aborted || dirty {
        if state.aborted {
            ctx.out.error("-EXECABORT Transaction discarded because of previous errors.");
        } else {
            ctx.out.null_array();
        }
        discard_transaction(ctx.store, ctx.client);
        return;
    }
    // Unwatch as soon as possible: nothing the transaction does may invalidate itself.
    discard_transaction(ctx.store, ctx.client);
    let table = CommandTable::get();
    ctx.out.array(state.queued.len());
    for argv in &state.queued {
        // Commands were resolved and arity-checked when queued; the table is immutable.
        let cmd = match resolve(table, argv) {
            Ok(c) => c,
            Err((_, msg)) => {
                ctx.out.error(&msg);
                continue;
            }
        };
        let flow = execute(ctx.shared, ctx.store, ctx.client, ctx.out, cmd, argv, ctx.now_ms, true);
        if flow != Flow::Continue {
            ctx.flow = flow;
        }
    }
}

fn watch(ctx: &mut Ctx) {
    if ctx.client.multi.is_some() {
        return ctx.out.error("WATCH inside MULTI is not allowed");
    }
    let id = ctx.client.id;
    // No point in watching if the client is already dirty.
    if !ctx.store.watch.is_dirty(id) {
        let db = ctx.db();
        for key in &ctx.argv[1..] {
            let expired = key_is_expired(ctx.store, db, key, ctx.now_ms);
            ctx.store.watch.watch(id, db, key, expired);
        }
    }
    ctx.out.ok();
}

fn unwatch(ctx: &mut Ctx) {
    super::connection::unwatch_all(ctx.store, ctx.client);
    ctx.out.ok();
}

fn monitor(ctx: &mut Ctx) {
    if ctx.in_exec {
        // A client in a transaction expects one reply per command.
        return ctx.out.error("MONITOR isn't allowed for DENY BLOCKING client");
    }
    let shared = &ctx.client.shared;
    if ctx.client.is_master_link || shared.is_monitor.load(Ordering::Relaxed) {
        // Already a monitor (or a replication link): ignored, without a reply, as Redis.
        return;
    }
    shared.is_monitor.store(true, Ordering::Relaxed);
    ctx.store.clients.monitors.push(shared.clone());
    ctx.out.ok();
}

/// Leaves MONITOR mode.
fn leave_monitor(store: &mut Store, client: &Client) {
    if client.shared.is_monitor.swap(false, Ordering::Relaxed) {
        store.clients.monitors.retain(|m| m.id != client.id);
    }
}

/// RESET: back to a fresh connection's state (Redis's `clearClientConnectionState`).
fn reset(ctx: &mut Ctx) {
    if ctx.client.is_master_link {
        return ctx.out.error("can only reset normal client connections");
    }
    leave_monitor(ctx.store, ctx.client);
    let c = &mut *ctx.client;
    c.db = 0;
    c.reply.resp3 = false;
    ctx.out.resp3 = false;
    c.shared.resp3.store(false, Ordering::Relaxed);
    // Back to the default user: authenticated only if it needs no password.
    c.authenticated = ctx.store.cfg.requirepass.is_none();
    discard_transaction(ctx.store, ctx.client);
    super::pubsub::forget_client(ctx.store, ctx.client);
    let c = &mut *ctx.client;
    c.name = None;
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    {
        let mut info = c.shared.info.lock();
        info.name = None;
        info.db = 0;
        info.resp = 2;
        info.no_evict = false;
    }
    ctx.out.simple("RESET");
}
