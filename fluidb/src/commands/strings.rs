//! String commands (Redis's t_string.c).

use bytes::Bytes;

use super::call::{err, Ctx};
use super::table::{acl, flags::*, Command};
use crate::keyspace::{RStr, Value};
use crate::server::store::notify;
use crate::util::numeric::string2ll;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "get",
        arity: 2,
        flags: READONLY | FAST,
        acl: acl::STRING,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        handler: get,
        group: "string",
        summary: "Get the value of a key",
        ..Command::DEFAULT
    },
    Command {
        name: "set",
        arity: -3,
        flags: WRITE | DENYOOM,
        acl: acl::STRING,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        handler: set,
        group: "string",
        summary: "Set the string value of a key",
        ..Command::DEFAULT
    },
    Command {
        name: "incr",
        arity: 2,
        flags: WRITE | DENYOOM | FAST,
        acl: acl::STRING,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        handler: incr,
        group: "string",
        summary: "Increment the integer value of a key by one",
        ..Command::DEFAULT
    },
    Command {
        name: "mset",
        arity: -3,
        flags: WRITE | DENYOOM,
        acl: acl::STRING,
        first_key: 1,
        last_key: -1,
        key_step: 2,
        handler: mset,
        group: "string",
        since: "1.0.1",
        summary: "Set multiple keys to multiple values",
        complexity: "O(N) where N is the number of keys to set.",
        ..Command::DEFAULT
    },
];

/// Reads a string value: Ok(None) if absent, Err(()) after replying WRONGTYPE.
fn reply_string(ctx: &mut Ctx, key: &[u8]) {
    let db = ctx.db();
    match ctx.store.lookup_read(db, key, ctx.now_ms) {
        None => ctx.out.null(),
        Some(e) => match &e.val {
            Value::Str(s) => {
                let out = &mut *ctx.out;
                s.with_bytes(|b| out.bulk(b));
            }
            #[allow(unreachable_patterns)]
            _ => ctx.out.error(err::WRONGTYPE),
        },
    }
}

fn get(ctx: &mut Ctx) {
    let key = ctx.argv[1].clone();
    reply_string(ctx, &key);
}

/// Parsed options of SET.
#[derive(Default)]
struct SetOpts {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    /// Absolute expire time in ms.
    expire_at: Option<i64>,
}

/// Parses SET's options exactly as Redis's `parseExtendedStringArgumentsOrReply`.
fn parse_set_opts(ctx: &mut Ctx) -> Option<SetOpts> {
    let mut o = SetOpts::default();
    let mut have_exp = false;
    let mut i = 3;
    while i < ctx.argv.len() {
        let a = ctx.argv[i].to_ascii_uppercase();
        let next = ctx.argv.get(i + 1);
        match a.as_slice() {
            b"NX" if !o.xx => o.nx = true,
            b"XX" if !o.nx => o.xx = true,
            b"GET" => o.get = true,
            b"KEEPTTL" if !have_exp => o.keepttl = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if !o.keepttl && !have_exp && next.is_some() => {
                let Some(n) = next.and_then(|v| string2ll(v)) else {
                    ctx.out.error(err::NOT_INT);
                    return None;
                };
                let bad = || {
                    let name = String::from_utf8_lossy(&ctx.argv[0]).to_lowercase();
                    format!("invalid expire time in '{name}' command")
                };
                let abs = match a.as_slice() {
                    b"EX" => n.checked_mul(1000).and_then(|ms| ms.checked_add(ctx.now_ms)),
                    b"PX" => n.checked_add(ctx.now_ms),
                    b"EXAT" => n.checked_mul(1000),
                    _ => Some(n),
                };
                match abs {
                    Some(t) if n > 0 => o.expire_at = Some(t),
                    _ => {
                        let m = bad();
                        ctx.out.error(&m);
                        return None;
                    }
                }
                have_exp = true;
                i += 1;
            }
            _ => {
                ctx.out.error(err::SYNTAX);
                return None;
            }
        }
        i += 1;
    }
    Some(o)
}

fn set(ctx: &mut Ctx) {
    let Some(o) = parse_set_opts(ctx) else { return };
    let db = ctx.db();
    let key = ctx.argv[1].clone();
    let now = ctx.now_ms;
    // Current value: needed for NX/XX and GET.
    let existing = match ctx.store.lookup_write(db, &key, now) {
        None => None,
        Some(e) => match &e.val {
            Value::Str(s) => Some(s.to_vec()),
            #[allow(unreachable_patterns)]
            _ => {
                if o.get {
                    ctx.out.error(err::WRONGTYPE);
                    return;
                }
                Some(Vec::new())
            }
        },
    };
    let exists = existing.is_some();
    if (o.nx && exists) || (o.xx && !exists) {
        if o.get {
            match existing {
                Some(v) => ctx.out.bulk(&v),
                None => ctx.out.null(),
            }
        } else {
            ctx.out.null();
        }
        return;
    }
    let val = Value::Str(RStr::from_bytes(&ctx.argv[2]));
    ctx.store.set_key(db, &key, val, ctx.mvcc, o.keepttl);
    ctx.dirty(1);
    ctx.store.notify(notify::STRING, "set", &key, db);
    if let Some(at) = o.expire_at {
        ctx.store.set_expire(db, &key, at, ctx.mvcc);
        ctx.store.notify(notify::GENERIC, "expire", &key, db);
        // Relative expiries travel as absolute ones so replicas and the AOF agree.
        let mut p: Vec<Bytes> = vec![Bytes::from_static(b"SET"), key.clone(), ctx.argv[2].clone()];
        p.push(Bytes::from_static(b"PXAT"));
        p.push(Bytes::from(at.to_string()));
        if o.nx {
            p.push(Bytes::from_static(b"NX"));
        }
        if o.xx {
            p.push(Bytes::from_static(b"XX"));
        }
        if o.get {
            p.push(Bytes::from_static(b"GET"));
        }
        ctx.propagate(p);
    }
    if o.get {
        match existing {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.ok();
    }
}

fn incr(ctx: &mut Ctx) {
    incr_by(ctx, 1);
}

/// INCR/DECR/INCRBY/DECRBY core.
fn incr_by(ctx: &mut Ctx, by: i64) {
    let db = ctx.db();
    let key = ctx.argv[1].clone();
    let cur = match ctx.store.lookup_write(db, &key, ctx.now_ms) {
        None => 0,
        Some(e) => match &e.val {
            Value::Str(s) => match s.as_int() {
                Some(n) => n,
                None => return ctx.out.error(err::NOT_INT),
            },
            #[allow(unreachable_patterns)]
            _ => return ctx.out.error(err::WRONGTYPE),
        },
    };
    let Some(new) = cur.checked_add(by) else {
        return ctx.out.error(err::OVERFLOW);
    };
    match ctx.store.lookup_write(db, &key, ctx.now_ms) {
        Some(e) => {
            e.val = Value::Str(RStr::Int(new));
            ctx.store.modified(db, &key, ctx.mvcc);
        }
        None => ctx.store.set_key(db, &key, Value::Str(RStr::Int(new)), ctx.mvcc, false),
    }
    ctx.dirty(1);
    ctx.store.notify(notify::STRING, "incrby", &key, db);
    ctx.out.int(new);
}

fn mset(ctx: &mut Ctx) {
    if ctx.argv.len().is_multiple_of(2) {
        return ctx.wrong_arity();
    }
    let db = ctx.db();
    for pair in ctx.argv[1..].chunks(2) {
        let val = Value::Str(RStr::from_bytes(&pair[1]));
        ctx.store.set_key(db, &pair[0], val, ctx.mvcc, false);
        ctx.store.notify(notify::STRING, "set", &pair[0], db);
    }
    ctx.dirty((ctx.argv.len() / 2) as u64);
    ctx.out.ok();
}
