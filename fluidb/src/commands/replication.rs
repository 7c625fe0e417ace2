//! Replication commands (Redis's replication.c): REPLICAOF / SLAVEOF, REPLCONF, PSYNC, SYNC,
//! WAIT, ROLE and FAILOVER. The work is in `replication::{master, replica}`; these handlers parse
//! and answer as Redis 7.0 does.

use super::call::{Ctx, Flow};
use super::table::{acl, flags::*, Command};
use crate::replication::{failover, master, replica};
use crate::util::numeric::string2ll;

const ADMIN_ACL: u32 = acl::ADMIN | acl::SLOW | acl::DANGEROUS;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "replicaof",
        arity: 3,
        flags: ADMIN | NOSCRIPT | STALE,
        acl: ADMIN_ACL,
        handler: replicaof,
        group: "server",
        since: "5.0.0",
        summary: "Make the server a replica of another instance, or promote it as master.",
        complexity: "O(1)",
        ..Command::DEFAULT
    },
    Command {
        name: "slaveof",
        arity: 3,
        flags: ADMIN | NOSCRIPT | STALE,
        acl: ADMIN_ACL,
        handler: replicaof,
        group: "server",
        since: "1.0.0",
        summary: "Make the server a replica of another instance, or promote it as master.",
        complexity: "O(1)",
        doc_flags: &["deprecated"],
        ..Command::DEFAULT
    },
    Command {
        name: "replconf",
        arity: -1,
        flags: ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
        acl: ADMIN_ACL,
        handler: replconf,
        group: "server",
        since: "3.0.0",
        summary: "An internal command for configuring the replication stream",
        complexity: "O(1)",
        doc_flags: &["syscmd"],
        ..Command::DEFAULT
    },
    Command {
        name: "rreplay",
        arity: -3,
        flags: ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY,
        acl: ADMIN_ACL,
        handler: crate::replication::active::rreplay_command,
        group: "server",
        since: "6.0.0",
        summary: "Internal command carrying an active replica's write (KeyDB's RREPLAY)",
        complexity: "O(1)",
        doc_flags: &["syscmd"],
        ..Command::DEFAULT
    },
    Command {
        name: "keydb.mvccrestore",
        arity: 5,
        flags: WRITE | DENYOOM,
        acl: acl::KEYSPACE | acl::DANGEROUS,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        handler: crate::replication::active::mvccrestore_command,
        group: "server",
        since: "6.3.0",
        summary: "Restores a key with its write stamp if newer than ours (KeyDB's merge of a synced key)",
        complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value",
        ..Command::DEFAULT
    },
    Command {
        name: "antientropy",
        arity: -2,
        flags: ADMIN | NOSCRIPT | STALE,
        acl: ADMIN_ACL,
        handler: crate::replication::anti_entropy::command,
        group: "server",
        since: "0.1.0",
        summary: "Compares and repairs the data of active replicas (fluidB's anti-entropy rounds)",
        complexity: "O(1) for ROOTS, DIGEST and RUN; O(N) for HEAL and PUSH, N the arguments; KEYS: a bounded step of a walk of the keys per call",
        doc_flags: &["syscmd"],
        ..Command::DEFAULT
    },
    Command {
        name: "psync",
        arity: -3,
        flags: ADMIN | NOSCRIPT | NO_MULTI,
        acl: ADMIN_ACL,
        handler: psync,
        group: "server",
        since: "2.8.0",
        summary: "Internal command used for replication",
        ..Command::DEFAULT
    },
    Command {
        name: "sync",
        arity: 1,
        flags: ADMIN | NOSCRIPT | NO_MULTI,
        acl: ADMIN_ACL,
        handler: sync,
        group: "server",
        since: "1.0.0",
        summary: "Internal command used for replication",
        ..Command::DEFAULT
    },
    Command {
        name: "wait",
        arity: 3,
        flags: NOSCRIPT,
        acl: acl::SLOW | acl::CONNECTION,
        handler: wait,
        group: "generic",
        since: "3.0.0",
        summary: "Wait for the synchronous replication of all the write commands sent in the context of the current connection",
        complexity: "O(1)",
        tips: &["request_policy:all_shards", "response_policy:agg_min"],
        ..Command::DEFAULT
    },
    Command {
        name: "role",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST,
        acl: acl::ADMIN | acl::DANGEROUS,
        handler: role,
        group: "server",
        since: "2.8.12",
        summary: "Return the role of the instance in the context of replication",
        complexity: "O(1)",
        ..Command::DEFAULT
    },
    Command {
        name: "failover",
        arity: -1,
        flags: ADMIN | NOSCRIPT | STALE,
        acl: ADMIN_ACL,
        handler: failover_cmd,
        group: "server",
        since: "6.2.0",
        summary: "Start a coordinated failover between this server and one of its replicas.",
        complexity: "O(1)",
        ..Command::DEFAULT
    },
];

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms] (`failoverCommand`): the checks
/// and replies; `replication::failover` does the rest.
fn failover_cmd(ctx: &mut Ctx) {
    if ctx.argv.len() == 2 && ctx.argv[1].eq_ignore_ascii_case(b"abort") {
        if ctx.store.repl.failover.is_none() {
            return ctx.out.error("No failover in progress.");
        }
        failover::abort(ctx.store, "Failover manually aborted");
        return ctx.out.ok();
    }
    let (mut timeout_ms, mut force, mut target): (i64, bool, Option<(String, i64)>) = (0, false, None);
    let mut j = 1;
    while j < ctx.argv.len() {
        let a = &ctx.argv[j];
        if a.eq_ignore_ascii_case(b"timeout") && j + 1 < ctx.argv.len() && timeout_ms == 0 {
            let Some(ms) = string2ll(&ctx.argv[j + 1]) else { return ctx.out.error(super::call::err::NOT_INT) };
            if ms <= 0 {
                return ctx.out.error("FAILOVER timeout must be greater than 0");
            }
            timeout_ms = ms;
            j += 2;
        } else if a.eq_ignore_ascii_case(b"to") && j + 2 < ctx.argv.len() && target.is_none() {
            let Some(port) = string2ll(&ctx.argv[j + 2]) else { return ctx.out.error(super::call::err::NOT_INT) };
            target = Some((String::from_utf8_lossy(&ctx.argv[j + 1]).into_owned(), port));
            j += 3;
        } else if a.eq_ignore_ascii_case(b"force") && !force {
            force = true;
            j += 1;
        } else {
            return ctx.out.error(super::call::err::SYNTAX);
        }
    }
    if ctx.store.repl.failover.is_some() {
        return ctx.out.error("FAILOVER already in progress.");
    }
    if ctx.store.is_replica {
        return ctx.out.error("FAILOVER is not valid when server is a replica.");
    }
    if ctx.store.repl.replicas.is_empty() {
        return ctx.out.error("FAILOVER requires connected replicas.");
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return ctx.out.error("FAILOVER with force option requires both a timeout and target HOST and IP.");
    }
    let target = match target {
        None => None,
        Some((host, port)) => {
            let Some(r) = failover::find_replica(ctx.store, &host, port) else {
                return ctx.out.error("FAILOVER target HOST and PORT is not a replica.");
            };
            if r.state != master::ReplicaState::Online {
                return ctx.out.error("FAILOVER target replica is not online.");
            }
            Some((host, r.conf.listening_port))
        }
    };
    failover::start(ctx.store, target, timeout_ms, force);
    ctx.out.ok();
}

/// REPLICAOF host port | NO ONE (`replicaofCommand`).
fn replicaof(ctx: &mut Ctx) {
    if ctx.store.repl.failover.is_some() {
        return ctx.out.error("REPLICAOF not allowed while failing over.");
    }
    if ctx.argv[1].eq_ignore_ascii_case(b"no") && ctx.argv[2].eq_ignore_ascii_case(b"one") {
        if ctx.store.is_replica {
            replica::unset_master(ctx.store);
            ctx.store.cfg.replicaof.clear();
            crate::log_notice!(
                "MASTER MODE enabled (user request from 'id={} addr={}')",
                ctx.client.id,
                ctx.client.shared.addr
            );
        }
        return ctx.out.ok();
    }
    if ctx.client.repl_feed.is_some() {
        return ctx.out.error("Command is not valid when client is a replica.");
    }
    let port = match string2ll(&ctx.argv[2]) {
        Some(p) if (0..=65535).contains(&p) => p as u16,
        _ => return ctx.out.error("Invalid master port"),
    };
    let host = String::from_utf8_lossy(&ctx.argv[1]).into_owned();
    let same = ctx.store.repl.link.as_ref().is_some_and(|l| l.host.eq_ignore_ascii_case(&host) && l.port == port);
    if ctx.store.is_replica && same {
        crate::log_notice!(
            "REPLICAOF would result into synchronization with the master we are already connected with. No operation performed."
        );
        return ctx.out.raw(b"+OK Already connected to specified master\r\n");
    }
    let Some(shared) = ctx.shared.arc() else { return ctx.out.error("server is shutting down") };
    replica::set_master(&shared, ctx.store, host.clone(), port);
    ctx.store.cfg.replicaof = vec![(host.clone(), port)];
    crate::log_notice!("REPLICAOF {host}:{port} enabled (user request from 'id={}')", ctx.client.id);
    ctx.out.ok();
}

/// REPLCONF option value ... (`replconfCommand`).
fn replconf(ctx: &mut Ctx) {
    if ctx.argv.len().is_multiple_of(2) {
        return ctx.out.error(super::call::err::SYNTAX);
    }
    let mut j = 1;
    while j + 1 < ctx.argv.len() {
        let (opt, val) = (ctx.argv[j].to_ascii_lowercase(), &ctx.argv[j + 1]);
        match opt.as_slice() {
            b"listening-port" => match string2ll(val) {
                Some(p) => ctx.client.replconf.listening_port = p.clamp(0, 65535) as u16,
                None => return ctx.out.error(super::call::err::NOT_INT),
            },
            b"ip-address" => {
                if val.len() >= 46 {
                    let msg =
                        format!("REPLCONF ip-address provided by replica instance is too long: {} bytes", val.len());
                    return ctx.out.error(&msg);
                }
                ctx.client.replconf.ip = Some(String::from_utf8_lossy(val).into_owned());
            }
            b"capa" => {
                if val.eq_ignore_ascii_case(b"eof") {
                    ctx.client.replconf.capa_eof = true;
                } else if val.eq_ignore_ascii_case(b"psync2") {
                    ctx.client.replconf.capa_psync2 = true;
                } else if val.eq_ignore_ascii_case(b"activeExpire") {
                    ctx.client.replconf.capa_active_expire = true;
                }
            }
            // ACKs reach a replica's connection task, not this handler; GETACK is for
            // replicas, which answer it in their link task.
            b"ack" | b"getack" => return,
            b"rdb-only" | b"rdb-filter-only" => {}
            // KeyDB's active replication handshake: the replica's UUID; we answer ours.
            b"uuid" => {
                let Some(u) = crate::replication::active::parse_uuid(val) else {
                    return ctx.out.error("Invalid UUID");
                };
                ctx.client.replconf.uuid = Some(u);
                let mine = ctx.store.repl.active.uuid;
                ctx.out.raw(b"+");
                ctx.out.raw(&mine);
                ctx.out.raw(b"\r\n");
                return;
            }
            _ => {
                let msg = format!("Unrecognized REPLCONF option: {}", String::from_utf8_lossy(&ctx.argv[j]));
                return ctx.out.error(&msg);
            }
        }
        j += 2;
    }
    // An active node says so in its answer to the capa line (KeyDB's handshake): its
    // stream carries RREPLAY frames, and the replica knows it pairs with an active peer.
    let capa = ctx.argv.len() >= 3 && ctx.argv[1].eq_ignore_ascii_case(b"capa");
    if capa && ctx.store.cfg.active_replica {
        return ctx.out.raw(b"+OK active-replica\r\n");
    }
    ctx.out.ok();
}

fn psync(ctx: &mut Ctx) {
    master::psync(ctx, true);
}

fn sync(ctx: &mut Ctx) {
    master::psync(ctx, false);
}

/// WAIT numreplicas timeout (`waitCommand`).
fn wait(ctx: &mut Ctx) {
    // An active node's writes go to its own replicas: WAIT counts their acknowledgements.
    if ctx.store.plain_replica() {
        return ctx.out.error(
            "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is \
configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        );
    }
    let Some(want) = string2ll(&ctx.argv[1]) else {
        return ctx.out.error(super::call::err::NOT_INT);
    };
    let Some(ms) = string2ll(&ctx.argv[2]) else {
        return ctx.out.error("timeout is not an integer or out of range");
    };
    if ms < 0 {
        return ctx.out.error("timeout is negative");
    }
    // A plain replica of an active node acknowledges offsets of the plain stream: it has
    // the client's writes once it has everything that stream holds now.
    master::drain_plain(ctx.store);
    let offset = (ctx.client.woff, master::plain_offset(ctx.store));
    let acked = master::count_acks(ctx.store, offset.0, offset.1);
    if acked as i64 >= want || ctx.client.multi.is_some() || ctx.in_exec {
        return ctx.out.int(acked as i64);
    }
    master::request_acks(ctx.store);
    ctx.flow = Flow::Wait { offset, want: want.max(0) as usize, timeout_ms: ms as u64 };
}

/// ROLE (`roleCommand`).
fn role(ctx: &mut Ctx) {
    let st = &*ctx.store;
    let out = &mut *ctx.out;
    match st.repl.link.as_ref().filter(|_| st.is_replica) {
        None => {
            out.array(3);
            out.bulk(b"master");
            out.int(st.stream.offset() as i64);
            let online: Vec<&master::Replica> =
                st.repl.replicas.iter().filter(|r| r.state == master::ReplicaState::Online).collect();
            out.array(online.len());
            for r in online {
                out.array(3);
                out.bulk(r.ip.as_bytes());
                out.bulk(r.conf.listening_port.to_string().as_bytes());
                out.bulk(r.ack_offset.to_string().as_bytes());
            }
        }
        // KeyDB's form for an active replica: the role word, then the same fields, the
        // offset being the link's own.
        Some(l) if st.cfg.active_replica => {
            out.array(5);
            out.bulk(b"active-replica");
            out.bulk(l.host.as_bytes());
            out.int(l.port as i64);
            out.bulk(l.state.role_name().as_bytes());
            out.int(if l.is_connected() { l.master_offset as i64 } else { -1 });
        }
        Some(l) => {
            out.array(5);
            out.bulk(b"slave");
            out.bulk(l.host.as_bytes());
            out.int(l.port as i64);
            out.bulk(l.state.role_name().as_bytes());
            out.int(if l.is_connected() { st.stream.offset() as i64 } else { -1 });
        }
    }
}
