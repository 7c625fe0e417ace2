//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO.

use std::sync::atomic::Ordering;

use super::call::{Ctx, Flow};
use super::table::{acl, flags::*, Command};
use crate::server::client::Client;
use crate::server::store::Store;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "ping",
        arity: -1,
        flags: FAST,
        acl: acl::CONNECTION,
        handler: ping,
        group: "connection",
        summary: "Ping the server",
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        ..Command::DEFAULT
    },
    // KeyDB's replica handshake opens with REPLPING: a PING a loading master refuses
    // with -LOADING (as fluidB's PING already does).
    Command {
        name: "replping",
        arity: -1,
        flags: FAST,
        acl: acl::CONNECTION,
        handler: ping,
        group: "connection",
        since: "6.3.2",
        summary: "Ping the server (KeyDB's replication handshake); refused while loading",
        ..Command::DEFAULT
    },
    Command {
        name: "echo",
        arity: 2,
        flags: LOADING | STALE | FAST,
        acl: acl::CONNECTION,
        handler: echo,
        group: "connection",
        summary: "Echo the given string",
        ..Command::DEFAULT
    },
    Command {
        name: "quit",
        arity: -1,
        flags: ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        acl: acl::CONNECTION,
        handler: quit,
        group: "connection",
        summary: "Close the connection",
        ..Command::DEFAULT
    },
    Command {
        name: "select",
        arity: 2,
        flags: LOADING | STALE | FAST,
        acl: acl::CONNECTION,
        handler: select,
        group: "connection",
        summary: "Change the selected database for the current connection",
        ..Command::DEFAULT
    },
    Command {
        name: "auth",
        arity: -2,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        acl: acl::CONNECTION,
        handler: auth,
        group: "connection",
        summary: "Authenticate to the server",
        complexity: "O(N) where N is the number of passwords defined for the user",
        history: &[("6.0.0", "Added ACL style (username and password).")],
        ..Command::DEFAULT
    },
    Command {
        name: "hello",
        arity: -1,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        acl: acl::CONNECTION,
        handler: hello,
        group: "connection",
        since: "6.0.0",
        summary: "Handshake with Redis",
        history: &[(
            "6.2.0",
            "`protover` made optional; when called without arguments the command reports the current connection's context.",
        )],
        ..Command::DEFAULT
    },
];

/// The only user until ACLs exist: "default", whose password is `requirepass` (none
/// means the user accepts any password, Redis's `nopass`).
const DEFAULT_USER: &[u8] = b"default";

/// Compares two secrets in time independent of where they differ.
fn secret_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Redis's `ACLAuthenticateUser` for the default user: on success the client is
/// authenticated; on failure its state is unchanged.
fn authenticate(ctx: &mut Ctx, user: &[u8], pass: &[u8]) -> bool {
    if user != DEFAULT_USER {
        return false;
    }
    let ok = match &ctx.store.cfg.requirepass {
        None => true,
        Some(p) => secret_eq(p, pass),
    };
    if ok {
        ctx.client.authenticated = true;
    }
    ok
}

const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.";

fn auth(ctx: &mut Ctx) {
    if ctx.argv.len() > 3 {
        return ctx.syntax_error();
    }
    let (user, pass) = if ctx.argv.len() == 2 {
        if ctx.store.cfg.requirepass.is_none() {
            return ctx.out.error(
                "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            );
        }
        (bytes::Bytes::from_static(DEFAULT_USER), ctx.argv[1].clone())
    } else {
        (ctx.argv[1].clone(), ctx.argv[2].clone())
    };
    if authenticate(ctx, &user, &pass) {
        ctx.out.ok();
    } else {
        ctx.out.error(WRONGPASS);
    }
}

/// Switches the protocol the client's replies are encoded in (HELLO).
pub fn set_protocol(ctx: &mut Ctx, ver: u8) {
    let resp3 = ver == 3;
    ctx.out.resp3 = resp3;
    ctx.client.reply.resp3 = resp3;
    ctx.client.shared.resp3.store(resp3, Ordering::Relaxed);
    ctx.client.shared.info.lock().resp = ver;
}

fn hello(ctx: &mut Ctx) {
    let mut ver = 0;
    let mut next = 1;
    if ctx.argv.len() >= 2 {
        let Some(v) = crate::util::numeric::string2ll(&ctx.argv[1]) else {
            return ctx.out.error("Protocol version is not an integer or out of range");
        };
        if !(2..=3).contains(&v) {
            return ctx.out.error("-NOPROTO unsupported protocol version");
        }
        ver = v as u8;
        next = 2;
    }
    let mut credentials = None;
    let mut name = None;
    let mut j = next;
    while j < ctx.argv.len() {
        let more = ctx.argv.len() - 1 - j;
        let opt = &ctx.argv[j];
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            credentials = Some((ctx.argv[j + 1].clone(), ctx.argv[j + 2].clone()));
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            name = Some(ctx.argv[j + 1].clone());
            j += 1;
        } else {
            let msg = format!("Syntax error in HELLO option '{}'", String::from_utf8_lossy(opt));
            return ctx.out.error(&msg);
        }
        j += 1;
    }
    if let Some((user, pass)) = credentials {
        if !authenticate(ctx, &user, &pass) {
            return ctx.out.error(WRONGPASS);
        }
    }
    if !ctx.client.authenticated {
        return ctx.out.error(
            "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    if let Some(n) = name {
        if !super::client_cmd::set_name_or_reply(ctx, &n) {
            return;
        }
    }
    if ver != 0 {
        set_protocol(ctx, ver);
    }
    let proto = if ctx.out.resp3 { 3 } else { 2 };
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(super::info::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(if ctx.store.is_replica { b"replica" } else { b"master" });
    out.bulk(b"modules");
    out.array(0);
}

fn ping(ctx: &mut Ctx) {
    if ctx.argv.len() > 2 {
        return ctx.wrong_arity();
    }
    if ctx.client.in_pubsub_context() {
        // RESP2 subscribers get ["pong", msg] (Redis's pubsub-context PING).
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        let m = ctx.argv.get(1).cloned().unwrap_or_default();
        ctx.out.bulk(&m);
        return;
    }
    match ctx.argv.get(1) {
        Some(m) => {
            let m = m.clone();
            ctx.out.bulk(&m)
        }
        None => ctx.out.raw(b"+PONG\r\n"),
    }
}

fn echo(ctx: &mut Ctx) {
    let m = ctx.argv[1].clone();
    ctx.out.bulk(&m);
}

fn quit(ctx: &mut Ctx) {
    ctx.out.ok();
    ctx.flow = Flow::Close;
}

fn select(ctx: &mut Ctx) {
    // Redis's getIntFromObjectOrReply.
    let Some(id) = crate::util::numeric::string2ll(&ctx.argv[1]) else {
        return ctx.out.error(super::call::err::NOT_INT);
    };
    if i32::try_from(id).is_err() {
        return ctx.out.error("value is out of range, value must between -2147483648 and 2147483647");
    }
    if id < 0 || id as usize >= ctx.store.dbs.len() {
        return ctx.out.error("DB index is out of range");
    }
    ctx.client.db = id as usize;
    ctx.out.ok();
}

/// Forgets every key a client WATCHes and its dirty flag (UNWATCH, EXEC, DISCARD,
/// disconnect).
pub fn unwatch_all(store: &mut Store, client: &mut Client) {
    store.watch.forget(client.id);
    client.watched.clear();
}

/// The arguments of AUTH / HELLO with the credentials replaced by "(redacted)", for the
/// slow log and MONITOR; None for other commands.
pub fn redacted(def: &Command, argv: &[bytes::Bytes]) -> Option<Vec<bytes::Bytes>> {
    const R: bytes::Bytes = bytes::Bytes::from_static(b"(redacted)");
    match def.name {
        "auth" => Some(argv.iter().enumerate().map(|(i, a)| if i == 0 { a.clone() } else { R }).collect()),
        "hello" => {
            let mut v = argv.to_vec();
            let mut j = 2;
            while j < v.len() {
                if v[j].eq_ignore_ascii_case(b"AUTH") && j + 2 < v.len() {
                    v[j + 1] = R;
                    v[j + 2] = R;
                    j += 2;
                } else if v[j].eq_ignore_ascii_case(b"SETNAME") {
                    j += 1;
                }
                j += 1;
            }
            Some(v)
        }
        _ => None,
    }
}
