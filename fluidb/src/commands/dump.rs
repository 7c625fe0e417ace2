//! DUMP and RESTORE (Redis 7.0's cluster.c `dumpCommand` / `restoreCommand`).
//!
//! Payloads are RDB version 9 objects with Redis's footer (version, CRC64), written by
//! `persistence::rdb::save`, so they restore in Redis 7.0 and KeyDB; RESTORE reads every
//! encoding of versions 1 to 11 (`persistence::rdb::load`), so Redis's payloads restore
//! here. A restored key gets this node's write timestamp: RESTORE is a write.

use bytes::Bytes;

use super::call::Ctx;
use super::strings::{arg_i64, kw, spec};
use super::table::{acl, flags::*, Command, Family};
use crate::persistence::rdb::{load, save};
use crate::server::store::notify;
use crate::util::time::{lru_clock, LRU_CLOCK_MAX};

const KEYSPACE: Family = Family { group: "generic", acl: acl::KEYSPACE };

pub static COMMANDS: &[Command] = &[
    Command {
        tips: &["nondeterministic_output"],
        ..KEYSPACE.cmd(
            "dump",
            2,
            READONLY,
            dump,
            "2.6.0",
            "Return a serialized version of the value stored at the specified key.",
            "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects \
composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) \
where M is small, so simply O(1).",
            &[spec("", &["RO", "access"], 1, 0, 1)],
        )
    },
    Command {
        acl: acl::KEYSPACE | acl::DANGEROUS,
        history: &[
            ("3.0.0", "Added the `REPLACE` modifier."),
            ("5.0.0", "Added the `ABSTTL` modifier."),
            ("5.0.0", "Added the `IDLETIME` and `FREQ` options."),
        ],
        ..KEYSPACE.cmd(
            "restore",
            -4,
            WRITE | DENYOOM,
            restore,
            "2.6.0",
            "Create a key using the provided serialized value, previously obtained using DUMP.",
            "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the \
number of Redis objects composing the value and M their average size. For small string values the time \
complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is \
O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).",
            &[spec("", &["OW", "update"], 1, 0, 1)],
        )
    },
];

/// DUMP key
fn dump(ctx: &mut Ctx) {
    let db = ctx.db();
    let compress = ctx.store.cfg.rdbcompression;
    let payload = match ctx.store.lookup_read(db, &ctx.argv[1], ctx.now_ms) {
        None => return ctx.out.null(),
        Some(e) => save::dump_payload(&e.val, compress),
    };
    ctx.out.bulk(&payload);
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
fn restore(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if kw(&argv[j], b"replace") {
            replace = true;
        } else if kw(&argv[j], b"absttl") {
            absttl = true;
        } else if kw(&argv[j], b"idletime") && more && freq.is_none() {
            let Some(v) = arg_i64(ctx, &argv[j + 1]) else { return };
            if v < 0 {
                return ctx.out.error("Invalid IDLETIME value, must be >= 0");
            }
            idle = Some(v);
            j += 1;
        } else if kw(&argv[j], b"freq") && more && idle.is_none() {
            let Some(v) = arg_i64(ctx, &argv[j + 1]) else { return };
            if !(0..=255).contains(&v) {
                return ctx.out.error("Invalid FREQ value, must be >= 0 and <= 255");
            }
            freq = Some(v);
            j += 1;
        } else {
            return ctx.syntax_error();
        }
        j += 1;
    }
    let (db, now) = (ctx.db(), ctx.now_ms);
    let key = &argv[1];
    if !replace && ctx.store.lookup_write(db, key, now).is_some() {
        return ctx.out.error("-BUSYKEY Target key name already exists.");
    }
    let Some(ttl) = arg_i64(ctx, &argv[2]) else { return };
    if ttl < 0 {
        return ctx.out.error("Invalid TTL value, must be >= 0");
    }
    let Some(body) = load::verify_dump_payload(&argv[3], ctx.store.skip_checksum_validation) else {
        return ctx.out.error("DUMP payload version or checksum are wrong");
    };
    let mut lim = load::Limits::from_config(&ctx.store.cfg);
    // `sanitize-dump-payload clients`: deep for clients, not for our master's stream.
    if ctx.store.cfg.sanitize_dump_payload == crate::config::SanitizeDumpPayload::Clients {
        lim.deep_sanitize = !ctx.client.is_master_link;
    }
    let val = match load::read_dump_object(body, &lim) {
        Ok(v) => v,
        Err(e) => {
            // Logged at verbose level, as Redis does for a corrupt RESTORE payload.
            if let Some(report) = load::corruption_report(&e) {
                crate::log_verbose!("{report}");
            }
            return ctx.out.error("Bad data format");
        }
    };
    let deleted = replace && ctx.store.delete(db, key, now);
    let when = if ttl != 0 && !absttl { ttl.saturating_add(now) } else { ttl };
    if when != 0 && ctx.store.already_expired(when, now) {
        // Already expired: nothing is created; a replaced key is gone (a DEL downstream).
        if deleted {
            ctx.propagate(vec![Bytes::from_static(b"DEL"), key.clone()]);
            ctx.store.notify(notify::GENERIC, "del", key, db);
            ctx.dirty(1);
        }
        return ctx.out.ok();
    }
    ctx.store.set_key(db, key, val, ctx.mvcc, false);
    if when != 0 {
        ctx.store.set_expire(db, key, when, ctx.mvcc);
        if !absttl {
            // Replicas and the AOF get the absolute time.
            let mut v: Vec<Bytes> = argv.to_vec();
            v[2] = Bytes::from(itoa::Buffer::new().format(when).to_string());
            v.push(Bytes::from_static(b"ABSTTL"));
            ctx.propagate(v);
        }
    }
    // The access counter (FREQ) under an LFU policy, else the idle time (IDLETIME); the
    // other is ignored, as Redis's `objectSetLRUOrLFU`.
    let lfu = ctx.store.lfu_policy();
    if let Some(e) = ctx.store.dbs[db].peek_mut(key) {
        match (lfu, freq, idle) {
            (true, Some(freq), _) => e.lru = crate::keyspace::lfu::stamp(freq as u8),
            (false, _, Some(idle)) => {
                let clock = lru_clock() as i64;
                let idle = idle.min(LRU_CLOCK_MAX as i64);
                let abs = clock - idle;
                e.lru = if abs < 0 {
                    ((clock + (LRU_CLOCK_MAX / 2) as i64) % LRU_CLOCK_MAX as i64) as u32
                } else {
                    abs as u32
                };
            }
            _ => {}
        }
    }
    ctx.store.notify(notify::GENERIC, "restore", key, db);
    ctx.out.ok();
    ctx.dirty(1);
}
