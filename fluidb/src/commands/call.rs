//! `call()`: the single path every command goes through, like Redis's `processCommand` +
//! `call()`. Lookup, arity, authentication, pub/sub context and MULTI queueing are checked
//! here; after execution the same place records stats, slowlog and latency, feeds MONITOR
//! clients and appends writes to the node's write stream.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::table::{flags, Cmd, CommandTable};
use crate::protocol::Reply;
use crate::server::blocking::{BlockRequest, BlockType, TimeoutReply};
use crate::server::client::Client;
use crate::server::store::{Propagated, Store};
use crate::server::Shared;

/// What the connection must do after a command, outside the store lock.
#[derive(Debug, Clone, PartialEq)]
pub enum Flow {
    Continue,
    /// Close the connection once the replies are written (QUIT).
    Close,
    /// DEBUG SLEEP: wait without holding the lock, then continue.
    Sleep(Duration),
    /// SHUTDOWN waits for lagging replicas: the client blocks until the process exits,
    /// or gets an error when the shutdown is cancelled (its cancel generation moves past
    /// `gen`).
    ShutdownWait {
        gen: u64,
    },
    /// A blocking command found nothing: the client waits (its request is in
    /// `Client::block_req`) until a write serves it, it times out or is unblocked.
    Block,
    /// SYNC/PSYNC: the connection now serves a replica (`replication::master`).
    Replica,
    /// WAIT found too few replicas: wait (without the lock) for `want` of them to
    /// acknowledge `offset` (of the node's stream, and of the plain stream for the plain
    /// replicas of an active node), at most `timeout_ms` (0: forever), then reply the count.
    Wait {
        offset: (u64, u64),
        want: usize,
        timeout_ms: u64,
    },
}

/// Everything a command handler works with.
pub struct Ctx<'a> {
    pub argv: &'a [Bytes],
    pub store: &'a mut Store,
    pub client: &'a mut Client,
    pub out: &'a mut Reply,
    pub shared: &'a Shared,
    pub cmd: &'static Cmd,
    /// The time the command executes at (frozen for a whole transaction, as Redis does).
    pub now_ms: i64,
    /// The write timestamp of this command (0 for commands that are not writes).
    pub mvcc: u64,
    pub flow: Flow,
    /// What to put in the write stream instead of `argv` (e.g. EXPIRE becomes PEXPIREAT,
    /// relative times become absolute) when the command changed the dataset.
    pub propagate_as: Option<Vec<Vec<Bytes>>>,
    /// Set while executing the commands of an EXEC.
    pub in_exec: bool,
    /// Where this write comes from (see [`Source`]).
    pub source: Source,
}

impl Ctx<'_> {
    /// Argument `i` as bytes.
    #[inline]
    pub fn arg(&self, i: usize) -> &[u8] {
        &self.argv[i]
    }
    /// The client's current database index.
    #[inline]
    pub fn db(&self) -> usize {
        self.client.db
    }
    /// Records `n` changes to the dataset (drives propagation and `dirty`).
    #[inline]
    pub fn dirty(&mut self, n: u64) {
        self.store.dirty += n;
    }
    /// Propagates `argv` instead of the command as received.
    pub fn propagate(&mut self, argv: Vec<Bytes>) {
        self.propagate_as.get_or_insert_with(Vec::new).push(argv);
    }
    /// Replies with the standard wrong-number-of-arguments error for this command.
    pub fn wrong_arity(&mut self) {
        let msg = format!("wrong number of arguments for '{}' command", self.cmd.fullname);
        self.out.error(&msg);
    }
    pub fn syntax_error(&mut self) {
        self.out.error("syntax error");
    }
    /// Blocks the client on `keys` until one of them holds a value of `btype` (the server
    /// then re-executes the whole command), until `deadline` (None: forever), or until
    /// CLIENT UNBLOCK. The handler must not have written a reply. Inside MULTI/EXEC a
    /// command cannot block: the timeout reply is written at once, as Redis does.
    pub fn block(&mut self, keys: &[Bytes], btype: BlockType, deadline: Option<Instant>, on_timeout: TimeoutReply) {
        if self.in_exec {
            on_timeout.write(self.out);
            return;
        }
        self.client.block_req = Some(BlockRequest { keys: keys.to_vec(), btype, deadline, on_timeout, first_usec: 0 });
        self.flow = Flow::Block;
    }
}

/// Standard error replies shared by every family.
pub mod err {
    pub const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NOREPLICAS: &str = "-NOREPLICAS Not enough good replicas to write.";
    pub const READONLY: &str = "-READONLY You can't write against a read only replica.";
    pub const MASTERDOWN: &str = "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    pub const MISCONF_RDB: &str = "-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to \
persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report \
errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for \
details about the RDB error.";
    pub const NOT_INT: &str = "value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "value is not a valid float";
    pub const SYNTAX: &str = "syntax error";
    pub const OVERFLOW: &str = "increment or decrement would overflow";
    pub const NOAUTH: &str = "-NOAUTH Authentication required.";
}

/// Bytes of `s` up to its first NUL and at most `max` bytes: what C's `%.<max>s` prints.
fn c_str(s: &[u8], max: usize) -> &[u8] {
    let s = &s[..s.len().min(max)];
    match s.iter().position(|&b| b == 0) {
        Some(n) => &s[..n],
        None => s,
    }
}

/// Formats Redis's unknown-command error text (binary-safe, as the C `%s` formats are).
fn unknown_command_msg(argv: &[Bytes]) -> Vec<u8> {
    let mut args = Vec::new();
    for a in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push(b'\'');
        args.extend_from_slice(c_str(a, room));
        args.extend_from_slice(b"' ");
    }
    let mut msg = b"unknown command '".to_vec();
    msg.extend_from_slice(c_str(&argv[0], 128));
    msg.extend_from_slice(b"', with args beginning with: ");
    msg.extend_from_slice(&args);
    msg
}

/// Commands allowed for a RESP2 client with subscriptions.
fn allowed_in_pubsub(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// Rejects a command before execution (Redis's `rejectCommand`): error reply, counted as
/// rejected, and a pending transaction is flagged to fail with EXECABORT. A rejected EXEC
/// discards the transaction with "-EXECABORT Transaction discarded because of: <reason>".
fn reject(
    store: &mut Store,
    client: &mut Client,
    out: &mut Reply,
    cmd: Option<&Cmd>,
    msg: impl AsRef<[u8]>,
    argv: &[Bytes],
) {
    let msg = msg.as_ref();
    let is_exec = cmd.is_some_and(|c| c.parent.is_none() && c.def.name == "exec");
    if is_exec {
        let reason = msg.strip_prefix(b"-").unwrap_or(msg);
        let mut m = b"-EXECABORT Transaction discarded because of: ".to_vec();
        m.extend_from_slice(reason);
        out.error(&m);
        super::multi::discard_transaction(store, client);
    } else {
        out.error(msg);
    }
    for code in out.take_errors() {
        store.stats.error(&code);
    }
    if let Some(c) = cmd {
        store.stats.command(c.id).rejected_calls += 1;
    }
    if let Some(m) = client.multi.as_mut() {
        m.aborted = true;
    }
    if is_exec && !store.clients.monitors.is_empty() {
        let db = client.db;
        crate::server::monitor::feed(store, client, db, argv);
    }
}

/// Resolves argv to a command or subcommand, replying with the lookup/arity error if any.
pub fn resolve<'t>(table: &'t CommandTable, argv: &[Bytes]) -> Result<&'t Cmd, (Option<&'t Cmd>, Vec<u8>)> {
    let Some(mut cmd) = table.lookup(&argv[0]) else {
        return Err((None, unknown_command_msg(argv)));
    };
    if !cmd.subs.is_empty() && argv.len() >= 2 {
        match table.lookup_sub(cmd, &argv[1]) {
            Some(sub) => cmd = sub,
            None => {
                let sub = String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)]).into_owned();
                return Err((
                    None,
                    format!("unknown subcommand '{}'. Try {} HELP.", sub, cmd.def.name.to_ascii_uppercase())
                        .into_bytes(),
                ));
            }
        }
    }
    let arity = cmd.def.arity;
    let argc = argv.len() as i32;
    if (arity > 0 && argc != arity) || argc < -arity {
        return Err((Some(cmd), format!("wrong number of arguments for '{}' command", cmd.fullname).into_bytes()));
    }
    Ok(cmd)
}

/// Processes one command: checks, MULTI queueing, execution. `source` says where it
/// comes from; it decides how the write is stamped and whether it enters this node's
/// write stream (see [`Source`]), and travels with the command into `execute()` and the
/// store (`Store::source`) for as long as it runs.
pub fn call(
    shared: &Shared,
    store: &mut Store,
    client: &mut Client,
    out: &mut Reply,
    argv: &[Bytes],
    source: Source,
) -> Flow {
    let outer = std::mem::replace(&mut store.source, source);
    let flow = call_from(shared, store, client, out, argv, source);
    store.source = outer;
    flow
}

fn call_from(
    shared: &Shared,
    store: &mut Store,
    client: &mut Client,
    out: &mut Reply,
    argv: &[Bytes],
    source: Source,
) -> Flow {
    debug_assert!(!argv.is_empty());
    let table = CommandTable::get();
    let cmd = match resolve(table, argv) {
        Ok(c) => c,
        Err((c, msg)) => {
            reject(store, client, out, c, &msg, argv);
            return Flow::Continue;
        }
    };
    let def = cmd.def;
    // DEBUG is a protected command: refused unless `enable-debug-command` allows it.
    if def.flags & flags::ADMIN != 0 && def.name == "debug" && !crate::commands::debug::allowed(store, client) {
        reject(store, client, out, Some(cmd), crate::commands::debug::NOT_ALLOWED, argv);
        return Flow::Continue;
    }
    if !client.authenticated && def.flags & flags::NO_AUTH == 0 && source == Source::Client {
        reject(store, client, out, Some(cmd), err::NOAUTH, argv);
        return Flow::Continue;
    }
    let top = cmd.parent.map(|p| table.cmds[p].def.name).unwrap_or(def.name);
    // EXEC is judged by the commands it will run as well as by its own flags.
    let (any_flags, not_all_flags) = match client.multi.as_ref() {
        Some(m) if top == "exec" => (def.flags | m.flags, !def.flags | m.inv_flags),
        _ => (def.flags, !def.flags),
    };
    let write = any_flags & flags::WRITE != 0;
    // MONITOR clients are replicas in Redis: no keyspace access.
    if def.flags & (flags::WRITE | flags::READONLY | flags::MAY_REPLICATE) != 0
        && client.shared.is_monitor.load(std::sync::atomic::Ordering::Relaxed)
    {
        reject(store, client, out, Some(cmd), "Replica can't interact with the keyspace", argv);
        return Flow::Continue;
    }
    if client.in_pubsub_context() && !allowed_in_pubsub(top) {
        let msg = format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.fullname
        );
        reject(store, client, out, Some(cmd), &msg, argv);
        return Flow::Continue;
    }
    // A failed background save stops writes (and PING, as Redis) while save points are set
    // and `stop-writes-on-bgsave-error` is on: nothing acknowledged can then be lost to
    // a disk that no longer takes snapshots.
    if write || top == "ping" {
        if crate::persistence::snapshot::writes_denied(store) {
            reject(store, client, out, Some(cmd), err::MISCONF_RDB, argv);
            return Flow::Continue;
        }
        if let Some(msg) = crate::persistence::aof::writes_denied(store) {
            reject(store, client, out, Some(cmd), &msg, argv);
            return Flow::Continue;
        }
    }
    if let Some(msg) = replication_refusal(store, source, write, not_all_flags & flags::STALE != 0) {
        reject(store, client, out, Some(cmd), msg, argv);
        return Flow::Continue;
    }
    // While the dataset loads at boot only commands flagged `loading` run.
    if store.loading.is_some() && def.flags & flags::LOADING == 0 {
        reject(store, client, out, Some(cmd), crate::server::loading::LOADING_ERR, argv);
        return Flow::Continue;
    }
    if client.multi.is_some() && !matches!(top, "exec" | "discard" | "multi" | "watch" | "quit" | "reset") {
        if def.flags & flags::NO_MULTI != 0 {
            reject(store, client, out, Some(cmd), "Command not allowed inside a transaction", argv);
            return Flow::Continue;
        }
        // An aborted or invalidated transaction will not run: no point in keeping more.
        let dirty = store.watch.is_dirty(client.id);
        if let Some(m) = client.multi.as_mut() {
            if !m.aborted && !dirty {
                m.queued.push(argv.to_vec());
                m.flags |= def.flags;
                m.inv_flags |= !def.flags;
                client.shared.info.lock().multi = m.queued.len() as i64;
            }
        }
        out.raw(b"+QUEUED\r\n");
        return Flow::Continue;
    }
    // A peer's write runs as of its origin's time: a key whose TTL passed here but not
    // when the write was made is still live to it, as it was at the origin (it expires
    // here afterwards, at the same stamp as there); otherwise a write racing its key's
    // expiry would recreate the key on one node only.
    let now_ms = match source {
        Source::Peer { mvcc } if mvcc != 0 => crate::keyspace::clock::mvcc_to_ms(mvcc),
        _ => store.now_ms(),
    };
    let flow = execute(shared, store, client, out, cmd, argv, now_ms, false);
    if source.propagates(store) {
        flush_propagation(store, def.flags & flags::TOUCHES_ARBITRARY_KEYS == 0);
    } else if matches!(source, Source::Peer { .. }) {
        // A peer's write is durable here too: into our AOF, not to our replicas.
        let Store { pending_propagate: pending, stream, .. } = store;
        for p in pending.drain(..).filter(|p| !p.repl_only) {
            stream.append_aof_only(p.db, p.mvcc, &p.argv);
        }
    } else {
        store.pending_propagate.clear();
    }
    // Clients blocked on keys this command filled are served now, under the same lock,
    // before any other client runs (Redis's `handleClientsBlockedOnKeys`).
    if store.blocking.has_ready() {
        crate::server::blocking::serve_ready(shared, store);
    }
    flow
}

/// Why replication refuses this command, if it does (`processCommand`'s checks, in its
/// order): too few good replicas for a write, a write on a read-only replica, or any
/// non-STALE command (`deny_stale`) on a replica whose link is down with
/// `replica-serve-stale-data no`.
fn replication_refusal(store: &Store, source: Source, write: bool, deny_stale: bool) -> Option<&'static str> {
    if source != Source::Client {
        return None;
    }
    if write
        && !store.is_replica
        && store.cfg.min_replicas_to_write > 0
        && store.cfg.min_replicas_max_lag > 0
        && crate::replication::master::good_replicas(store) < store.cfg.min_replicas_to_write as usize
    {
        return Some(err::NOREPLICAS);
    }
    if !store.is_replica {
        return None;
    }
    if write && store.cfg.replica_read_only && !store.cfg.active_replica {
        return Some(err::READONLY);
    }
    let link_up = store.repl.link.as_ref().is_some_and(|l| l.is_connected());
    if !link_up && !store.cfg.replica_serve_stale_data && deny_stale {
        return Some(err::MASTERDOWN);
    }
    None
}

/// Executes a resolved command (Redis's `call()`): the handler plus its bookkeeping.
/// Used directly by EXEC for queued commands.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    shared: &Shared,
    store: &mut Store,
    client: &mut Client,
    out: &mut Reply,
    cmd: &'static Cmd,
    argv: &[Bytes],
    now_ms: i64,
    in_exec: bool,
) -> Flow {
    let def = cmd.def;
    let start = store.last_tick.unwrap_or_else(Instant::now);
    let dirty_before = store.dirty;
    let source = store.source;
    let mvcc = if def.flags & flags::WRITE == 0 {
        0
    } else if let Source::Peer { mvcc } = source {
        // An active peer's write keeps its origin's stamp, and our clock never runs
        // behind a stamp it has applied.
        store.clock.observe(mvcc);
        mvcc
    } else {
        store.next_mvcc(now_ms)
    };
    let propagate = source.propagates(store);
    // Active mode: the stamps the write's keys had before it (its bases), for the peers'
    // conflict checks and for the tombstones of the keys it deletes.
    let bases = (store.cfg.active_replica && mvcc != 0 && source != Source::Master)
        .then(|| crate::replication::active::Bases::capture(store, def, argv, client.db));
    let db_before = client.db;
    // Pub/sub messages for this very client go into its reply stream, ahead of the reply.
    let prev_current = std::mem::replace(&mut store.pubsub.current, client.id);
    let mark = out.len();
    let mut ctx = Ctx {
        argv,
        store,
        client,
        out,
        shared,
        cmd,
        now_ms,
        mvcc,
        flow: Flow::Continue,
        propagate_as: None,
        in_exec,
        source,
    };
    (def.handler)(&mut ctx);
    let Ctx { flow, propagate_as, store, out, client, .. } = ctx;
    store.pubsub.current = prev_current;
    if !store.pubsub.to_self.is_empty() {
        let msgs = std::mem::take(&mut store.pubsub.to_self);
        out.insert_pushes(mark, msgs);
    }
    let end = Instant::now();
    if store.clock_base.is_some() {
        store.last_tick = Some(end); // the next command of the batch starts here
    }
    let usec = end.saturating_duration_since(start).as_micros() as u64;

    // Stats. A served blocked command is accounted as Redis's `updateStatsOnUnblock`
    // does: no second call, and the time of the call that blocked counted again.
    let served = client.served_after_block;
    let total_usec = served.map_or(usec, |first| first + usec);
    let errors = out.take_errors();
    {
        if served.is_none() {
            store.stats.total_commands_processed += 1;
        }
        let cs = store.stats.command(cmd.id);
        if served.is_none() {
            cs.calls += 1;
        }
        cs.usec += total_usec;
        // Errors of the commands inside EXEC were taken (and counted) by their own calls.
        if !errors.is_empty() {
            cs.failed_calls += 1;
        }
    }
    for code in &errors {
        store.stats.error(code);
    }
    // The latency histogram of a command that blocks is recorded when it is served or
    // unblocked; DEBUG SLEEP's once it slept (`latency::after_sleep`).
    let blocked = flow == Flow::Block;
    if blocked {
        if let Some(req) = client.block_req.as_mut() {
            req.first_usec = usec;
        }
    } else if store.cfg.latency_tracking && !matches!(flow, Flow::Sleep(_)) {
        store.stats.record_latency(cmd.id, total_usec);
    }

    let mut bases = bases;
    if let Some(b) = &mut bases {
        b.after_write(store, argv, mvcc, source, store.dirty > dirty_before);
    }
    // Write stream: side-effect writes (expired keys) first, then the command itself.
    // A peer's write is recorded too, for the AOF only (see `call()`).
    let record = propagate || matches!(source, Source::Peer { .. });
    if record && store.dirty > dirty_before && def.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        let trailer = |argv: &[Bytes]| {
            let mut t = Vec::new();
            if let Some(b) = &bases {
                b.trailer_for(argv, &mut t);
            }
            t
        };
        match propagate_as {
            Some(list) => {
                for a in list {
                    let trailer = trailer(&a);
                    store.pending_propagate.push(Propagated {
                        db: db_before,
                        mvcc,
                        expired: false,
                        repl_only: false,
                        argv: a,
                        trailer,
                    });
                }
            }
            // The common case, one plain write outside a transaction: straight into the
            // stream, without copying the arguments.
            None if propagate && !in_exec && store.pending_propagate.is_empty() && bases.is_none() => {
                store.stream.append(db_before, mvcc, argv)
            }
            None => store.pending_propagate.push(Propagated {
                db: db_before,
                mvcc,
                expired: false,
                repl_only: false,
                argv: argv.to_vec(),
                trailer: {
                    let mut t = Vec::new();
                    if let Some(b) = &bases {
                        b.own_trailer(&mut t);
                    }
                    t
                },
            }),
        }
    }

    // AUTH / HELLO AUTH passwords never reach the slow log or MONITOR (Redis redacts them).
    let redacted =
        if def.flags & flags::NO_AUTH != 0 { crate::commands::connection::redacted(def, argv) } else { None };
    let logged = redacted.as_deref().unwrap_or(argv);
    // Slow log and latency monitor (a blocked command reaches the slow log once served).
    if def.flags & flags::SKIP_SLOWLOG == 0 {
        if !blocked {
            crate::server::slowlog::maybe_log(store, client, logged, total_usec);
        }
        if served.is_some() {
            let threshold = store.cfg.latency_monitor_threshold.max(0) as u64;
            store.latency.add_if_needed(threshold, "command-unblocking", usec / 1000);
        } else {
            crate::server::latency::command_sample(store, def.flags & flags::FAST != 0, usec);
        }
    }
    // MONITOR feed (admin and skip_monitor commands are not shown, as in Redis), with the
    // database selected after the command (SELECT shows its new database). A served
    // blocked command was shown when it was called.
    if !store.clients.monitors.is_empty() && def.flags & (flags::SKIP_MONITOR | flags::ADMIN) == 0 && served.is_none() {
        let db = client.db;
        crate::server::monitor::feed(store, client, db, logged);
    }
    flow
}

/// Where a command comes from: what a write *is* (KeyDB and Redis keep this in flags
/// toggled around the call; here it is a value that travels with the command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A client of this node (also a blocked client served later). Its writes take a
    /// stamp from this node's clock and enter this node's write stream, except on a
    /// plain (not active) replica, whose stream is its master's byte for byte: there a
    /// writable replica's own writes stay local, as in Redis.
    Client,
    /// The link to a plain master (not active): the master's bytes are appended to our
    /// stream unchanged by the link (`replication::replica`), not re-encoded here; expired
    /// keys stay visible to it (only the master decides when they go).
    Master,
    /// A write of an active peer (an RREPLAY frame): it keeps its origin's stamp `mvcc`
    /// and is not re-sent from here.
    Peer { mvcc: u64 },
    /// The append-only file being loaded: stamps come from its `#mvcc:` annotations,
    /// nothing expires, nothing is propagated (the file already holds it).
    Aof,
}

impl Source {
    /// Whether a write from this source enters this node's write stream.
    #[inline]
    pub fn propagates(self, store: &Store) -> bool {
        match self {
            Source::Client => !store.is_replica || store.cfg.active_replica,
            Source::Master | Source::Peer { .. } | Source::Aof => false,
        }
    }
}

/// A command from the master link or the AOF answered an error (Redis's `afterErrorReply`
/// for those clients): this node's data has diverged from its source, so it is logged as
/// critical and counted in INFO `unexpected_error_replies`; with
/// `propagation-error-behavior panic` (or `panic-on-replicas` on a read-only replica) the
/// server stops rather than serve data it knows to be wrong. `reply` is the command's
/// reply; nothing happens unless it is an error.
pub fn source_command_failed(store: &mut Store, source: Source, command: &[u8], reply: &[u8]) {
    use crate::config::PropagationErrorBehavior as B;
    let Some(line) = reply.strip_prefix(b"-") else {
        return;
    };
    let line = &line[..line.iter().position(|&b| b == b'\r').unwrap_or(line.len()).min(4096)];
    let (from, to) = match source {
        Source::Master | Source::Peer { .. } => ("replica", "master"),
        Source::Aof => ("server", "AOF-loading-client"),
        Source::Client => return,
    };
    let command = String::from_utf8_lossy(&command[..command.len().min(128)]).to_ascii_lowercase();
    crate::log_warning!(
        "== CRITICAL == This {from} is sending an error to its {to}: '{}' after processing the command '{command}'",
        String::from_utf8_lossy(line)
    );
    store.stats.unexpected_error_replies += 1;
    let behavior = store.cfg.propagation_error_behavior;
    let panics = match source {
        Source::Master => store.cfg.replica_read_only && matches!(behavior, B::Panic | B::PanicOnReplicas),
        Source::Aof => behavior == B::Panic,
        // A peer's write may fail here by design (e.g. a type conflict settled by the
        // newest-write rule later): never a reason to stop the node.
        Source::Peer { .. } | Source::Client => false,
    };
    if panics {
        crate::log_warning!(
            "This {from} panicked sending an error to its {to} after processing the command '{command}'"
        );
        std::process::abort();
    }
}

/// CLIENT UNBLOCK ... ERROR ended a blocked command (Redis's `updateStatsOnUnblock(c, 0,
/// 0, 1)`): a failed call, its blocking call's time counted again and recorded.
pub fn account_unblocked_with_error(store: &mut Store, argv: &[Bytes], first_usec: u64) {
    let Ok(cmd) = resolve(CommandTable::get(), argv) else { return };
    let cs = store.stats.command(cmd.id);
    cs.failed_calls += 1;
    cs.usec += first_usec;
    if store.cfg.latency_tracking {
        store.stats.record_latency(cmd.id, first_usec);
    }
}

/// Moves the writes of the last top-level command into the write stream. As Redis 7.0's
/// `propagatePendingCommands`, more than one write (the commands of an EXEC, or a command
/// plus the deletions of keys it found expired) is wrapped in MULTI/EXEC if `wrap` (not
/// for SCAN and RANDOMKEY, whose deletions are as unrelated as active expiry's); the
/// MULTI takes the database of the first write and the EXEC that of the last, so no extra
/// SELECT is emitted.
pub fn flush_propagation(store: &mut Store, wrap: bool) {
    let Store { pending_propagate: pending, stream, .. } = store;
    match pending.len() {
        0 => {}
        n if n == 1 || !wrap => {
            for p in pending.iter() {
                stream.append_frame(p.db, p.mvcc, &p.argv, &p.trailer, p.repl_only);
            }
        }
        _ => {
            // In active mode MULTI and EXEC are not writes: their frames carry no stamp
            // (mvcc 0, which KeyDB exempts from its per-origin order check: a stamp on
            // MULTI above its commands' would make KeyDB drop them as old).
            let mvcc = if stream.active.is_some() { 0 } else { pending.iter().map(|p| p.mvcc).max().unwrap_or(0) };
            let (first_db, last_db) = (pending[0].db, pending[pending.len() - 1].db);
            stream.append(first_db, mvcc, &[Bytes::from_static(b"MULTI")]);
            for p in pending.iter() {
                stream.append_frame(p.db, p.mvcc, &p.argv, &p.trailer, p.repl_only);
            }
            stream.append(last_db, mvcc, &[Bytes::from_static(b"EXEC")]);
        }
    }
    pending.clear(); // keeps the capacity for the next command
}
