//! Generic keyspace commands (Redis's db.c and expire.c).

use super::call::Ctx;
use super::table::{acl, flags::*, Command};
use crate::server::store::notify;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "del",
        arity: -2,
        flags: WRITE,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        handler: del,
        summary: "Delete a key",
        complexity: "O(N) where N is the number of keys that will be removed.",
        ..Command::DEFAULT
    },
    Command {
        name: "exists",
        arity: -2,
        flags: READONLY | FAST,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        handler: exists,
        summary: "Determine if a key exists",
        complexity: "O(N) where N is the number of keys to check.",
        ..Command::DEFAULT
    },
];

fn del(ctx: &mut Ctx) {
    let db = ctx.db();
    let mut n = 0;
    for key in &ctx.argv[1..] {
        if ctx.store.delete(db, key, ctx.now_ms) {
            ctx.store.notify(notify::GENERIC, "del", key, db);
            n += 1;
        }
    }
    ctx.dirty(n as u64);
    ctx.out.int(n);
}

fn exists(ctx: &mut Ctx) {
    let db = ctx.db();
    let n = ctx.argv[1..].iter().filter(|k| ctx.store.exists(db, k, ctx.now_ms)).count();
    ctx.out.int(n as i64);
}
