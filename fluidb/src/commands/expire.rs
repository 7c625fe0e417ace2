//! Expiry commands (Redis's expire.c): EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME, PERSIST. Lazy expiry is `Store::expire_if_needed`; active
//! expiry is `server::cron::active_expire_cycle`.

use bytes::Bytes;

use super::call::{err, Ctx};
use super::keys::{lazyfree_lazy_expire, lookup_read_notouch};
use super::table::{acl, flags::*, Command};
use crate::server::store::notify;
use crate::util::numeric::string2ll;

/// Shared shape of the four EXPIRE commands.
const fn expire_cmd(
    name: &'static str,
    handler: super::table::Handler,
    since: &'static str,
    summary: &'static str,
) -> Command {
    Command {
        name,
        arity: -3,
        flags: WRITE | FAST,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        handler,
        since,
        summary,
        ..Command::DEFAULT
    }
}

/// Shared shape of the four TTL commands.
const fn ttl_cmd(
    name: &'static str,
    handler: super::table::Handler,
    since: &'static str,
    summary: &'static str,
) -> Command {
    Command {
        name,
        arity: 2,
        flags: READONLY | FAST,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        handler,
        since,
        summary,
        ..Command::DEFAULT
    }
}

pub static COMMANDS: &[Command] = &[
    expire_cmd("expire", expire, "1.0.0", "Set a key's time to live in seconds"),
    expire_cmd("pexpire", pexpire, "2.6.0", "Set a key's time to live in milliseconds"),
    expire_cmd("expireat", expireat, "1.2.0", "Set the expiration for a key as a UNIX timestamp"),
    expire_cmd(
        "pexpireat",
        pexpireat,
        "2.6.0",
        "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
    ),
    ttl_cmd("ttl", ttl, "1.0.0", "Get the time to live for a key in seconds"),
    ttl_cmd("pttl", pttl, "2.6.0", "Get the time to live for a key in milliseconds"),
    ttl_cmd("expiretime", expiretime, "7.0.0", "Get the expiration Unix timestamp for a key"),
    ttl_cmd("pexpiretime", pexpiretime, "7.0.0", "Get the expiration Unix timestamp for a key in milliseconds"),
    Command {
        name: "persist",
        arity: 2,
        flags: WRITE | FAST,
        acl: acl::KEYSPACE,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        handler: persist,
        since: "2.2.0",
        summary: "Remove the expiration from a key",
        ..Command::DEFAULT
    },
];

// Option flags of the EXPIRE family (Redis's EXPIRE_NX...).
const EXPIRE_NX: u8 = 1 << 0;
const EXPIRE_XX: u8 = 1 << 1;
const EXPIRE_GT: u8 = 1 << 2;
const EXPIRE_LT: u8 = 1 << 3;

/// Redis's `parseExtendedExpireArgumentsOrReply`.
fn parse_expire_flags(ctx: &mut Ctx) -> Option<u8> {
    let mut f = 0u8;
    for a in &ctx.argv[3..] {
        if a.eq_ignore_ascii_case(b"nx") {
            f |= EXPIRE_NX;
        } else if a.eq_ignore_ascii_case(b"xx") {
            f |= EXPIRE_XX;
        } else if a.eq_ignore_ascii_case(b"gt") {
            f |= EXPIRE_GT;
        } else if a.eq_ignore_ascii_case(b"lt") {
            f |= EXPIRE_LT;
        } else {
            // Redis formats the option with %s: the text stops at a NUL byte.
            let end = a.iter().position(|&b| b == 0).unwrap_or(a.len());
            let msg = format!("Unsupported option {}", String::from_utf8_lossy(&a[..end]));
            ctx.out.error(&msg);
            return None;
        }
    }
    if f & EXPIRE_NX != 0 && f & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT) != 0 {
        ctx.out.error("NX and XX, GT or LT options at the same time are not compatible");
        return None;
    }
    if f & EXPIRE_GT != 0 && f & EXPIRE_LT != 0 {
        ctx.out.error("GT and LT options at the same time are not compatible");
        return None;
    }
    Some(f)
}

/// Redis's `expireGenericCommand`: `basetime` is added to the argument (now for EXPIRE and
/// PEXPIRE, 0 for the absolute forms); `seconds` says the argument is in seconds.
fn expire_generic(ctx: &mut Ctx, basetime: i64, seconds: bool) {
    let Some(flags) = parse_expire_flags(ctx) else { return };
    let Some(mut when) = string2ll(&ctx.argv[2]) else {
        return ctx.out.error(err::NOT_INT);
    };
    let bad_time = |ctx: &mut Ctx| {
        let msg = format!("invalid expire time in '{}' command", ctx.cmd.fullname);
        ctx.out.error(&msg);
    };
    // Negative times are allowed, but overflows of the unit conversion or of the addition
    // of the base time are errors.
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return bad_time(ctx);
        }
        when *= 1000;
    }
    if when > i64::MAX - basetime {
        return bad_time(ctx);
    }
    when += basetime;

    let db = ctx.db();
    let key = ctx.argv[1].clone();
    let current = match ctx.store.lookup_write(db, &key, ctx.now_ms) {
        None => return ctx.out.int(0),
        Some(e) => e.expire,
    };
    if flags != 0 {
        let has = current != crate::keyspace::db::NO_EXPIRE;
        // A key without TTL has an infinite one: GT never passes, LT always does.
        let refused = (flags & EXPIRE_NX != 0 && has)
            || (flags & EXPIRE_XX != 0 && !has)
            || (flags & EXPIRE_GT != 0 && (!has || when <= current))
            || (flags & EXPIRE_LT != 0 && has && when >= current);
        if refused {
            return ctx.out.int(0);
        }
    }

    if ctx.store.already_expired(when, ctx.now_ms) {
        // Already expired: delete now and propagate an explicit DEL (UNLINK when lazy).
        let lazy = lazyfree_lazy_expire(ctx.store);
        if ctx.store.delete_lazy(db, &key, ctx.now_ms, lazy) {
            ctx.dirty(1);
            let verb: &'static [u8] = if lazy { b"UNLINK" } else { b"DEL" };
            ctx.propagate(vec![Bytes::from_static(verb), key.clone()]);
            ctx.store.notify(notify::GENERIC, "del", &key, db);
        }
        return ctx.out.int(1);
    }

    ctx.store.set_expire(db, &key, when, ctx.mvcc);
    ctx.store.notify(notify::GENERIC, "expire", &key, db);
    ctx.dirty(1);
    // Propagated as PEXPIREAT with the absolute time in ms; the option words follow.
    if ctx.cmd.def.name != "pexpireat" {
        let mut p: Vec<Bytes> = Vec::with_capacity(ctx.argv.len());
        p.push(Bytes::from_static(b"PEXPIREAT"));
        p.push(key);
        p.push(Bytes::from(when.to_string()));
        p.extend(ctx.argv[3..].iter().cloned());
        ctx.propagate(p);
    }
    ctx.out.int(1);
}

fn expire(ctx: &mut Ctx) {
    let now = ctx.now_ms;
    expire_generic(ctx, now, true);
}

fn pexpire(ctx: &mut Ctx) {
    let now = ctx.now_ms;
    expire_generic(ctx, now, false);
}

fn expireat(ctx: &mut Ctx) {
    expire_generic(ctx, 0, true);
}

fn pexpireat(ctx: &mut Ctx) {
    expire_generic(ctx, 0, false);
}

/// Redis's `ttlGenericCommand`: -2 for a missing key, -1 without TTL, else the remaining
/// time (relative, rounded to the nearest second unless `ms`) or the absolute expire time.
fn ttl_generic(ctx: &mut Ctx, ms: bool, absolute: bool) {
    let db = ctx.db();
    let now = ctx.now_ms;
    let expire = match lookup_read_notouch(ctx.store, db, &ctx.argv[1], now, true) {
        None => return ctx.out.int(-2),
        Some(e) => e.expire,
    };
    if expire == crate::keyspace::db::NO_EXPIRE {
        return ctx.out.int(-1);
    }
    let ttl = if absolute { expire } else { expire.saturating_sub(now) }.max(0);
    // Rounded without overflow: Redis answers 9223372036854776 for EXPIRETIME of a key
    // expiring at i64::MAX ms.
    ctx.out.int(if ms { ttl } else { ((ttl as u64 + 500) / 1000) as i64 });
}

fn ttl(ctx: &mut Ctx) {
    ttl_generic(ctx, false, false);
}

fn pttl(ctx: &mut Ctx) {
    ttl_generic(ctx, true, false);
}

fn expiretime(ctx: &mut Ctx) {
    ttl_generic(ctx, false, true);
}

fn pexpiretime(ctx: &mut Ctx) {
    ttl_generic(ctx, true, true);
}

fn persist(ctx: &mut Ctx) {
    let db = ctx.db();
    let key = ctx.argv[1].clone();
    if ctx.store.lookup_write(db, &key, ctx.now_ms).is_none() {
        return ctx.out.int(0);
    }
    if !ctx.store.dbs[db].persist(&key) {
        return ctx.out.int(0);
    }
    ctx.store.modified(db, &key, ctx.mvcc);
    ctx.store.notify(notify::GENERIC, "persist", &key, db);
    ctx.dirty(1);
    ctx.out.int(1);
}
