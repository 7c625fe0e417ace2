//! CLIENT and its subcommands (Redis's networking.c `clientCommand`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::call::{Ctx, Flow};
use super::table::{acl, flags::*, Command, CommandTable};
use crate::protocol::Reply;
use crate::server::client::{Client, ClientInfo, ClientShared, ReplyMode};
use crate::server::pause::PauseKind;
use crate::server::store::Store;
use crate::util::numeric::string2ll;

const SUB: u32 = NOSCRIPT | LOADING | STALE;
const SUB_ADMIN: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

macro_rules! sub {
    ($name:expr, $arity:expr, $flags:expr, $h:expr, $since:expr, $summary:expr) => {
        Command {
            name: $name,
            arity: $arity,
            flags: $flags,
            acl: acl::CONNECTION,
            handler: $h,
            group: "connection",
            since: $since,
            summary: $summary,
            ..Command::DEFAULT
        }
    };
}

pub static COMMANDS: &[Command] = &[Command {
    name: "client",
    arity: -2,
    group: "connection",
    since: "2.4.0",
    summary: "A container for client connection commands",
    complexity: "Depends on subcommand.",
    subcommands: &[
        sub!("id", 2, SUB, client_id, "5.0.0", "Returns the client ID for the current connection"),
        sub!("getname", 2, SUB, client_getname, "2.6.9", "Get the current connection name"),
        Command {
            complexity: "O(N) where N is the number of client connections",
            history: &[
                ("2.8.12", "Added new filter format."),
                ("2.8.12", "`ID` option."),
                ("3.2.0", "Added `master` type in for `TYPE` option."),
                (
                    "5.0.0",
                    "Replaced `slave` `TYPE` with `replica`. `slave` still supported for backward compatibility.",
                ),
                ("6.2.0", "`LADDR` option."),
            ],
            ..sub!("kill", -3, SUB_ADMIN, client_kill, "2.4.0", "Kill the connection of a client")
        },
        sub!("setname", 3, SUB, client_setname, "2.6.9", "Set the current connection name"),
        Command {
            history: &[("6.2.0", "`CLIENT PAUSE WRITE` mode added along with the `mode` option.")],
            ..sub!(
                "pause",
                -3,
                SUB_ADMIN,
                client_pause,
                "2.9.50",
                "Stop processing commands from clients for some time"
            )
        },
        Command {
            tips: &["nondeterministic_output"],
            ..sub!("info", 2, SUB, client_info, "6.2.0", "Returns information about the current client connection.")
        },
        sub!(
            "trackinginfo",
            2,
            SUB,
            client_trackinginfo,
            "6.2.0",
            "Return information about server assisted client side caching for the current connection"
        ),
        sub!("help", 2, LOADING | STALE, client_help, "5.0.0", "Show helpful text about the different subcommands"),
        Command {
            complexity: "O(N) Where N is the number of paused clients",
            ..sub!("unpause", 2, SUB_ADMIN, client_unpause, "6.2.0", "Resume processing of clients that were paused")
        },
        sub!("no-evict", 3, SUB_ADMIN, client_no_evict, "7.0.0", "Set client eviction mode for the current connection"),
        Command {
            complexity: "O(log N) where N is the number of client connections",
            ..sub!(
                "unblock",
                -3,
                SUB_ADMIN,
                client_unblock,
                "5.0.0",
                "Unblock a client blocked in a blocking command from a different connection"
            )
        },
        sub!("getredir", 2, SUB, client_getredir, "6.0.0", "Get tracking notifications redirection client ID if any"),
        Command {
            complexity: "O(N) where N is the number of client connections",
            tips: &["nondeterministic_output"],
            history: &[
                ("2.8.12", "Added unique client `id` field."),
                ("5.0.0", "Added optional `TYPE` filter."),
                ("6.0.0", "Added `user` field."),
                ("6.2.0", "Added `argv-mem`, `tot-mem`, `laddr` and `redir` fields and the optional `ID` filter."),
                ("7.0.0", "Added `resp`, `multi-mem`, `rbs` and `rbp` fields."),
                ("7.0.3", "Added `ssub` field."),
            ],
            ..sub!("list", -2, SUB_ADMIN, client_list, "2.4.0", "Get the list of client connections")
        },
        sub!("reply", 3, SUB, client_reply, "3.2.0", "Instruct the server whether to reply to commands"),
    ],
    ..Command::DEFAULT
}];

const HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

/// Writes a HELP reply: one status line per entry.
pub fn help_reply(out: &mut Reply, lines: &[&str]) {
    out.array(lines.len());
    for l in lines {
        out.simple(l);
    }
}

/// Redis's `addReplySubcommandSyntaxError`.
pub fn subcommand_syntax_error(ctx: &mut Ctx) {
    let sub = String::from_utf8_lossy(&ctx.argv[1][..ctx.argv[1].len().min(128)]).into_owned();
    let top = String::from_utf8_lossy(&ctx.argv[0]).to_ascii_uppercase();
    let msg = format!("unknown subcommand or wrong number of arguments for '{sub}'. Try {top} HELP.");
    ctx.out.error(&msg);
}

fn client_help(ctx: &mut Ctx) {
    help_reply(ctx.out, HELP);
}

fn client_id(ctx: &mut Ctx) {
    ctx.out.int(ctx.client.id as i64);
}

fn client_getname(ctx: &mut Ctx) {
    match ctx.client.name.clone() {
        Some(n) => ctx.out.bulk(&n),
        None => ctx.out.null(),
    }
}

/// Redis's `clientSetNameOrReply`: an empty name removes the name; names are limited to
/// printable ASCII without spaces so CLIENT LIST stays splittable. Returns false after
/// replying with the error.
pub fn set_name_or_reply(ctx: &mut Ctx, name: &Bytes) -> bool {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        ctx.out.error("Client names cannot contain spaces, newlines or special characters.");
        return false;
    }
    let n = if name.is_empty() { None } else { Some(name.clone()) };
    ctx.client.name = n.clone();
    ctx.client.shared.info.lock().name = n;
    true
}

fn client_setname(ctx: &mut Ctx) {
    let name = ctx.argv[2].clone();
    if set_name_or_reply(ctx, &name) {
        ctx.out.ok();
    }
}

fn client_reply(ctx: &mut Ctx) {
    let a = &ctx.argv[2];
    if a.eq_ignore_ascii_case(b"on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if a.eq_ignore_ascii_case(b"off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if a.eq_ignore_ascii_case(b"skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        ctx.syntax_error();
    }
}

fn client_no_evict(ctx: &mut Ctx) {
    let a = &ctx.argv[2];
    let on = if a.eq_ignore_ascii_case(b"on") {
        true
    } else if a.eq_ignore_ascii_case(b"off") {
        false
    } else {
        return ctx.syntax_error();
    };
    ctx.client.no_evict = on;
    ctx.client.shared.info.lock().no_evict = on;
    ctx.out.ok();
}

fn client_getredir(ctx: &mut Ctx) {
    // Client-side caching (tracking) is not supported: never redirecting.
    ctx.out.int(-1);
}

fn client_trackinginfo(ctx: &mut Ctx) {
    let out = &mut *ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(1);
    out.bulk(b"off");
    out.bulk(b"redirect");
    out.int(-1);
    out.bulk(b"prefixes");
    out.array(0);
}

fn client_pause(ctx: &mut Ctx) {
    if ctx.argv.len() > 4 {
        return subcommand_syntax_error(ctx);
    }
    let mut kind = PauseKind::All;
    if let Some(m) = ctx.argv.get(3) {
        if m.eq_ignore_ascii_case(b"write") {
            kind = PauseKind::Write;
        } else if m.eq_ignore_ascii_case(b"all") {
            kind = PauseKind::All;
        } else {
            return ctx.out.error("CLIENT PAUSE mode must be WRITE or ALL");
        }
    }
    let Some(ms) = string2ll(&ctx.argv[2]) else {
        return ctx.out.error("timeout is not an integer or out of range");
    };
    if ms < 0 {
        return ctx.out.error("timeout is negative");
    }
    if ms > i64::MAX - ctx.now_ms {
        return ctx.out.error("timeout is out of range");
    }
    ctx.store.pause.pause(kind, Duration::from_millis(ms as u64));
    ctx.out.ok();
}

fn client_unpause(ctx: &mut Ctx) {
    ctx.store.pause.unpause();
    ctx.out.ok();
}

/// Client types of CLIENT LIST/KILL TYPE (Redis's `getClientTypeByName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    PubSub,
    Master,
}

fn client_type_by_name(name: &[u8]) -> Option<ClientType> {
    let n = name.to_ascii_lowercase();
    match n.as_slice() {
        b"normal" => Some(ClientType::Normal),
        b"slave" | b"replica" => Some(ClientType::Replica),
        b"pubsub" => Some(ClientType::PubSub),
        b"master" => Some(ClientType::Master),
        _ => None,
    }
}

/// The type of a client from its flags string (Redis's `getClientType`).
fn client_type(flags: &str) -> ClientType {
    if flags.contains('M') {
        ClientType::Master
    } else if flags.contains('S') {
        ClientType::Replica
    } else if flags.contains('P') {
        ClientType::PubSub
    } else {
        ClientType::Normal
    }
}

fn unknown_type(ctx: &mut Ctx, name: &[u8]) {
    let msg = format!("Unknown client type '{}'", String::from_utf8_lossy(name));
    ctx.out.error(&msg);
}

/// Computes a client's CLIENT LIST flags into `buf`, in Redis's order.
fn flags_of(store: &Store, c: &Client, buf: &mut String) {
    buf.clear();
    if c.shared.is_monitor.load(Ordering::Relaxed) {
        buf.push('O');
    } else if c.repl_feed.is_some() {
        buf.push('S');
    }
    if c.is_master_link {
        buf.push('M');
    }
    if c.subscriptions() > 0 {
        buf.push('P');
    }
    if c.multi.is_some() {
        buf.push('x');
    }
    if store.blocking.is_blocked(c.id) {
        buf.push('b');
    }
    if !store.watch.dirty.is_empty() && store.watch.dirty.contains(&c.id) {
        buf.push('d');
    }
    if c.close_after_reply {
        buf.push('c');
    }
    if c.shared.is_killed() {
        buf.push('A');
    }
    if c.is_unix {
        buf.push('U');
    }
    if c.no_evict {
        buf.push('e');
    }
    if buf.is_empty() {
        buf.push('N');
    }
}

/// Publishes a client's state for other connections' CLIENT LIST/KILL. Called by the
/// connection after each batch of commands; `last` is the last command it ran.
pub fn sync_info(store: &Store, client: &Client, info: &mut ClientInfo, last: Option<&[Bytes]>) {
    info.db = client.db;
    info.sub = client.channels.len();
    info.psub = client.patterns.len();
    info.ssub = client.shard_channels.len();
    info.multi = client.multi.as_ref().map(|m| m.queued.len() as i64).unwrap_or(-1);
    info.multi_mem = multi_mem(client);
    info.resp = if client.resp3() { 3 } else { 2 };
    let mut f = std::mem::take(&mut info.flags);
    flags_of(store, client, &mut f);
    info.flags = f;
    // A blocked client keeps the arguments of the command it waits in.
    info.argv_mem = match last {
        Some(argv) if store.blocking.is_blocked(client.id) => argv_mem(argv),
        _ => 0,
    };
    let class = client.obuf_class().map_or(crate::server::client::NO_CLASS, |c| c as u8);
    client.shared.bufs.class.store(class, Ordering::Relaxed);
    if let Some(argv) = last.filter(|a| !a.is_empty()) {
        let name = match super::call::resolve(CommandTable::get(), argv) {
            Ok(c) | Err((Some(c), _)) => c.fullname.as_str(),
            Err((None, _)) => match CommandTable::get().lookup(&argv[0]) {
                Some(c) => c.fullname.as_str(),
                None => "NULL",
            },
        };
        if info.last_cmd != name {
            info.last_cmd.clear();
            info.last_cmd.push_str(name);
        }
    }
}

/// Redis's `argv_len_sum` plus its argument pointers: what `argv-mem` and `tot-mem` count
/// of a command's arguments.
fn argv_mem(argv: &[Bytes]) -> usize {
    argv.iter().map(|a| a.len()).sum()
}

/// `multi-mem`: the arguments of the queued commands plus a pointer each (Redis's
/// `mstate.argv_len_sums`).
fn multi_mem(c: &Client) -> usize {
    c.multi
        .as_ref()
        .map_or(0, |m| m.queued.iter().map(|argv| argv_mem(argv) + std::mem::size_of::<usize>() * argv.len()).sum())
}

/// The calling client's own state, which is newer than its published `ClientInfo`.
struct Me<'a> {
    client: &'a Client,
    cmd: &'a str,
    argv: &'a [Bytes],
    /// Replies of the earlier commands of its batch, not written yet.
    out_len: usize,
}

/// One CLIENT LIST line (without the trailing newline), in Redis 7.0's field order.
fn info_line(store: &Store, cs: &ClientShared, me: Option<&Me>) -> String {
    let info = cs.info.lock();
    let mut flags = String::new();
    let (name, db, sub, psub, ssub, multi, multi_mem, idle, cmd, resp, argv_mem, argc, pending) = match me {
        Some(m) => {
            flags_of(store, m.client, &mut flags);
            let c = m.client;
            (
                c.name.clone(),
                c.db,
                c.channels.len(),
                c.patterns.len(),
                c.shard_channels.len(),
                c.multi.as_ref().map(|q| q.queued.len() as i64).unwrap_or(-1),
                multi_mem(c),
                0,
                m.cmd.to_string(),
                if c.resp3() { 3 } else { 2 },
                argv_mem(m.argv),
                m.argv.len(),
                m.out_len + cs.output_pending(),
            )
        }
        None => {
            flags.push_str(&info.flags);
            (
                info.name.clone(),
                info.db,
                info.sub,
                info.psub,
                info.ssub,
                info.multi,
                info.multi_mem,
                info.last_interaction.elapsed().as_secs(),
                info.last_cmd.clone(),
                info.resp,
                info.argv_mem,
                0,
                cs.output_pending(),
            )
        }
    };
    drop(info);
    let name = name.map(|n| String::from_utf8_lossy(&n).into_owned()).unwrap_or_default();
    let b = &cs.bufs;
    let (qbuf, qcap) = (b.qbuf_len.load(Ordering::Relaxed), b.qbuf_cap.load(Ordering::Relaxed));
    let (rbs, rbp) = (b.rbs.load(Ordering::Relaxed), b.rbp.load(Ordering::Relaxed));
    let (obl, oll, mut omem) = crate::server::client::output_usage(pending, rbs);
    // A replica's output buffer is its share of the replication buffer.
    if flags.contains('S') {
        omem += crate::replication::master::output_memory(store, cs.id);
    }
    // Redis's `getClientMemoryUsage`: output list, query buffer, the client structure,
    // reply buffer, arguments, MULTI state, and the pub/sub subscriptions' entries.
    let ptr = std::mem::size_of::<usize>();
    let tot_mem = omem
        + qcap
        + std::mem::size_of::<Client>()
        + std::mem::size_of::<ClientShared>()
        + rbs
        + argv_mem
        + ptr * argc
        + multi_mem
        + (sub + psub + ssub) * 4 * ptr;
    let events = if pending > obl || b.out_pending.load(Ordering::Relaxed) > 0 { "rw" } else { "r" };
    let mut s = String::with_capacity(320);
    let _ = write!(
        s,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
         qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll={} omem={} tot-mem={} events={} \
         cmd={} user=default redir=-1 resp={}",
        cs.id,
        cs.addr,
        cs.laddr,
        cs.fd,
        name,
        cs.created.elapsed().as_secs(),
        idle,
        flags,
        db,
        sub,
        psub,
        ssub,
        multi,
        qbuf,
        qcap.saturating_sub(qbuf),
        argv_mem,
        multi_mem,
        rbs,
        rbp,
        obl,
        oll,
        omem,
        tot_mem,
        events,
        cmd,
        resp
    );
    s
}

fn me<'a>(ctx: &'a Ctx) -> Me<'a> {
    Me { client: ctx.client, cmd: &ctx.cmd.fullname, argv: ctx.argv, out_len: ctx.out.len() }
}

/// The line for client `id`, which may be the caller.
fn line_for(ctx: &Ctx, cs: &ClientShared) -> String {
    if cs.id == ctx.client.id {
        info_line(ctx.store, cs, Some(&me(ctx)))
    } else {
        info_line(ctx.store, cs, None)
    }
}

fn client_info(ctx: &mut Ctx) {
    let cs = ctx.client.shared.clone();
    let mut s = line_for(ctx, &cs);
    s.push('\n');
    ctx.out.verbatim(s.as_bytes(), "txt");
}

fn client_list(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    let mut ty = None;
    let mut ids: Option<Vec<u64>> = None;
    if argc == 4 && ctx.argv[2].eq_ignore_ascii_case(b"type") {
        let name = ctx.argv[3].clone();
        match client_type_by_name(&name) {
            Some(t) => ty = Some(t),
            None => return unknown_type(ctx, &name),
        }
    } else if argc > 3 && ctx.argv[2].eq_ignore_ascii_case(b"id") {
        let mut v = Vec::with_capacity(argc - 3);
        for a in &ctx.argv[3..] {
            match string2ll(a) {
                Some(n) => v.push(n as u64),
                None => return ctx.out.error("Invalid client ID"),
            }
        }
        ids = Some(v);
    } else if argc != 2 {
        return ctx.syntax_error();
    }
    let mut s = String::new();
    match ids {
        Some(ids) => {
            for id in ids {
                if let Some(cs) = ctx.store.clients.get(id).cloned() {
                    s.push_str(&line_for(ctx, &cs));
                    s.push('\n');
                }
            }
        }
        None => {
            let mut all: Vec<_> = ctx.store.clients.by_id.values().cloned().collect();
            all.sort_by_key(|c| c.id);
            for cs in all {
                if let Some(t) = ty {
                    let flags = if cs.id == ctx.client.id {
                        let mut f = String::new();
                        flags_of(ctx.store, ctx.client, &mut f);
                        f
                    } else {
                        cs.info.lock().flags.clone()
                    };
                    if client_type(&flags) != t {
                        continue;
                    }
                }
                s.push_str(&line_for(ctx, &cs));
                s.push('\n');
            }
        }
    }
    ctx.out.verbatim(s.as_bytes(), "txt");
}

/// CLIENT UNBLOCK <id> [TIMEOUT|ERROR]: 1 if the client was blocked on keys and is now
/// unblocked (with its timeout reply, or the UNBLOCKED error).
fn client_unblock(ctx: &mut Ctx) {
    let error = match ctx.argv.len() {
        3 => false,
        4 if ctx.argv[3].eq_ignore_ascii_case(b"timeout") => false,
        4 if ctx.argv[3].eq_ignore_ascii_case(b"error") => true,
        4 => return ctx.out.error("CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
        _ => return subcommand_syntax_error(ctx),
    };
    let Some(id) = string2ll(&ctx.argv[2]) else {
        return ctx.out.error(super::call::err::NOT_INT);
    };
    let done = id > 0 && crate::server::blocking::unblock(ctx.store, id as u64, error);
    ctx.out.int(done as i64);
}

fn client_kill(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    let mut addr: Option<Bytes> = None;
    let mut laddr: Option<Bytes> = None;
    let mut ty = None;
    let mut id: u64 = 0;
    let mut skipme = true;
    let old_form = argc == 3;
    if old_form {
        addr = Some(ctx.argv[2].clone());
        skipme = false; // with the old form a client may kill itself
    } else {
        let mut i = 2;
        while i < argc {
            let opt = ctx.argv[i].clone();
            let Some(val) = ctx.argv.get(i + 1).cloned() else {
                return ctx.syntax_error();
            };
            if opt.eq_ignore_ascii_case(b"id") {
                match string2ll(&val) {
                    Some(n) if n >= 1 => id = n as u64,
                    _ => return ctx.out.error("client-id should be greater than 0"),
                }
            } else if opt.eq_ignore_ascii_case(b"type") {
                match client_type_by_name(&val) {
                    Some(t) => ty = Some(t),
                    None => return unknown_type(ctx, &val),
                }
            } else if opt.eq_ignore_ascii_case(b"addr") {
                addr = Some(val);
            } else if opt.eq_ignore_ascii_case(b"laddr") {
                laddr = Some(val);
            } else if opt.eq_ignore_ascii_case(b"user") {
                if val.as_ref() != b"default" {
                    let msg = format!("No such user '{}'", String::from_utf8_lossy(&val));
                    return ctx.out.error(&msg);
                }
            } else if opt.eq_ignore_ascii_case(b"skipme") {
                if val.eq_ignore_ascii_case(b"yes") {
                    skipme = true;
                } else if val.eq_ignore_ascii_case(b"no") {
                    skipme = false;
                } else {
                    return ctx.syntax_error();
                }
            } else {
                return ctx.syntax_error();
            }
            i += 2;
        }
    }
    let mut all: Vec<_> = ctx.store.clients.by_id.values().cloned().collect();
    all.sort_by_key(|c| c.id);
    let mut killed = 0;
    let mut close_me = false;
    for cs in all {
        let is_me = cs.id == ctx.client.id;
        if addr.as_ref().is_some_and(|a| a.as_ref() != cs.addr.as_bytes()) {
            continue;
        }
        if laddr.as_ref().is_some_and(|a| a.as_ref() != cs.laddr.as_bytes()) {
            continue;
        }
        if let Some(t) = ty {
            let flags = if is_me {
                let mut f = String::new();
                flags_of(ctx.store, ctx.client, &mut f);
                f
            } else {
                cs.info.lock().flags.clone()
            };
            if client_type(&flags) != t {
                continue;
            }
        }
        if id != 0 && cs.id != id {
            continue;
        }
        if is_me && skipme {
            continue;
        }
        if is_me {
            close_me = true;
        } else {
            kill_client(ctx.store, &cs);
        }
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            ctx.out.error("No such client");
        } else {
            ctx.out.ok();
        }
    } else {
        ctx.out.int(killed);
    }
    if close_me {
        ctx.flow = Flow::Close;
    }
}

/// Disconnects another client now: it leaves the registries at once (as Redis frees it)
/// and its connection task closes the socket.
pub fn kill_client(store: &mut Store, cs: &ClientShared) {
    store.clients.by_id.remove(&cs.id);
    store.clients.monitors.retain(|m| m.id != cs.id);
    cs.kill();
}
