//! Server commands: DBSIZE, FLUSHDB, FLUSHALL, SHUTDOWN, DEBUG, INFO, COMMAND...

use super::call::{Ctx, Flow};
use super::table::{acl, flags::*, Command};

pub static COMMANDS: &[Command] = &[
    Command {
        name: "dbsize",
        arity: 1,
        flags: READONLY | FAST,
        acl: acl::KEYSPACE,
        handler: dbsize,
        group: "server",
        summary: "Return the number of keys in the selected database",
        ..Command::DEFAULT
    },
    Command {
        name: "flushall",
        arity: -1,
        flags: WRITE,
        acl: acl::KEYSPACE | acl::DANGEROUS,
        handler: flushall,
        group: "server",
        summary: "Remove all keys from all databases",
        complexity: "O(N) where N is the total number of keys in all databases",
        ..Command::DEFAULT
    },
    Command {
        name: "shutdown",
        arity: -1,
        flags: ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        handler: shutdown,
        group: "server",
        summary: "Synchronously save the dataset to disk and then shut down the server",
        complexity:
            "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
        ..Command::DEFAULT
    },
];

fn dbsize(ctx: &mut Ctx) {
    let n = ctx.store.dbs[ctx.client.db].len();
    ctx.out.int(n as i64);
}

fn flushall(ctx: &mut Ctx) {
    let mut n = 0;
    for db in 0..ctx.store.dbs.len() {
        n += ctx.store.dbs[db].len();
        let d = &ctx.store.dbs[db];
        ctx.store.watch.touch_db(db, |k| d.peek(k).is_some());
        ctx.store.dbs[db].take_all();
    }
    ctx.dirty(n as u64 + 1);
    ctx.out.ok();
}

fn shutdown(ctx: &mut Ctx) {
    ctx.flow = Flow::Shutdown;
}
