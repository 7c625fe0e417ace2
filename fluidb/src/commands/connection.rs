//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO.

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
        ..Command::DEFAULT
    },
    Command {
        name: "echo",
        arity: 2,
        flags: FAST,
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
];

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
    let Some(id) = crate::util::numeric::string2ll(&ctx.argv[1]) else {
        return ctx.out.error("invalid DB index");
    };
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
