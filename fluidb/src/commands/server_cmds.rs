//! Server commands: SHUTDOWN, TIME, LASTSAVE, ROLE, SLOWLOG,
//! LATENCY. (INFO, COMMAND and DEBUG live in their own files.)

use super::call::{Ctx, Flow};
use super::client_cmd::{help_reply, subcommand_syntax_error};
use super::table::{acl, flags::*, Command, CommandTable};

pub static COMMANDS: &[Command] = &[
    Command {
        name: "shutdown",
        arity: -1,
        flags: ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        handler: shutdown,
        group: "server",
        summary: "Synchronously save the dataset to disk and then shut down the server",
        complexity:
            "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
        history: &[("7.0.0", "Added the `NOW`, `FORCE` and `ABORT` modifiers.")],
        ..Command::DEFAULT
    },
    Command {
        name: "time",
        arity: 1,
        flags: LOADING | STALE | FAST,
        handler: time,
        group: "server",
        since: "2.6.0",
        summary: "Return the current server time",
        tips: &["nondeterministic_output"],
        ..Command::DEFAULT
    },
    Command {
        name: "save",
        arity: 1,
        flags: ADMIN | NOSCRIPT | NO_MULTI,
        handler: save,
        group: "server",
        summary: "Synchronously save the dataset to disk",
        complexity: "O(N) where N is the total number of keys in all databases",
        ..Command::DEFAULT
    },
    Command {
        name: "bgsave",
        arity: -1,
        flags: ADMIN | NOSCRIPT,
        handler: bgsave,
        group: "server",
        summary: "Asynchronously save the dataset to disk",
        complexity: "O(1)",
        history: &[("3.2.2", "Added the `SCHEDULE` option.")],
        ..Command::DEFAULT
    },
    Command {
        name: "bgrewriteaof",
        arity: 1,
        flags: ADMIN | NOSCRIPT,
        handler: bgrewriteaof,
        group: "server",
        summary: "Asynchronously rewrite the append-only file",
        complexity: "O(1)",
        ..Command::DEFAULT
    },
    Command {
        name: "lastsave",
        arity: 1,
        flags: LOADING | STALE | FAST,
        acl: acl::ADMIN | acl::DANGEROUS,
        handler: lastsave,
        group: "server",
        summary: "Get the UNIX time stamp of the last successful save to disk",
        tips: &["nondeterministic_output"],
        ..Command::DEFAULT
    },
    Command {
        name: "slowlog",
        arity: -2,
        group: "server",
        since: "2.2.12",
        summary: "A container for slow log commands",
        complexity: "Depends on subcommand.",
        subcommands: &[
            Command {
                name: "len",
                arity: 2,
                flags: ADMIN | LOADING | STALE,
                handler: slowlog_len,
                group: "server",
                since: "2.2.12",
                summary: "Get the slow log's length",
                tips: &["request_policy:all_nodes", "response_policy:agg_sum", "nondeterministic_output"],
                ..Command::DEFAULT
            },
            Command {
                name: "help",
                arity: 2,
                flags: LOADING | STALE,
                handler: slowlog_help,
                group: "server",
                since: "6.2.0",
                summary: "Show helpful text about the different subcommands",
                ..Command::DEFAULT
            },
            Command {
                name: "get",
                arity: -2,
                flags: ADMIN | LOADING | STALE,
                handler: slowlog_get,
                group: "server",
                since: "2.2.12",
                summary: "Get the slow log's entries",
                complexity: "O(N) where N is the number of entries returned",
                tips: &["request_policy:all_nodes", "nondeterministic_output"],
                history: &[("4.0.0", "Added client IP address, port and name to the reply.")],
                ..Command::DEFAULT
            },
            Command {
                name: "reset",
                arity: 2,
                flags: ADMIN | LOADING | STALE,
                handler: slowlog_reset,
                group: "server",
                since: "2.2.12",
                summary: "Clear all entries from the slow log",
                complexity: "O(N) where N is the number of entries in the slowlog",
                tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
                ..Command::DEFAULT
            },
        ],
        ..Command::DEFAULT
    },
    Command {
        name: "latency",
        arity: -2,
        group: "server",
        since: "2.8.13",
        summary: "A container for latency diagnostics commands",
        complexity: "Depends on subcommand.",
        subcommands: &[
            Command {
                name: "history",
                arity: 3,
                flags: ADMIN | NOSCRIPT | LOADING | STALE,
                handler: latency_history,
                group: "server",
                since: "2.8.13",
                summary: "Return timestamp-latency samples for the event.",
                tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
                ..Command::DEFAULT
            },
            Command {
                name: "reset",
                arity: -2,
                flags: ADMIN | NOSCRIPT | LOADING | STALE,
                handler: latency_reset,
                group: "server",
                since: "2.8.13",
                summary: "Reset latency data for one or more events.",
                tips: &["request_policy:all_nodes", "response_policy:all_succeeded"],
                ..Command::DEFAULT
            },
            Command {
                name: "latest",
                arity: 2,
                flags: ADMIN | NOSCRIPT | LOADING | STALE,
                handler: latency_latest,
                group: "server",
                since: "2.8.13",
                summary: "Return the latest latency samples for all events.",
                tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
                ..Command::DEFAULT
            },
            Command {
                name: "doctor",
                arity: 2,
                flags: ADMIN | NOSCRIPT | LOADING | STALE,
                handler: latency_doctor,
                group: "server",
                since: "2.8.13",
                summary: "Return a human readable latency analysis report.",
                complexity: "O(1)",
                tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
                ..Command::DEFAULT
            },
            Command {
                name: "graph",
                arity: 3,
                flags: ADMIN | NOSCRIPT | LOADING | STALE,
                handler: latency_graph,
                group: "server",
                since: "2.8.13",
                summary: "Return a latency graph for the event.",
                complexity: "O(1)",
                tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
                ..Command::DEFAULT
            },
            Command {
                name: "histogram",
                arity: -2,
                flags: ADMIN | NOSCRIPT | LOADING | STALE,
                handler: latency_histogram,
                group: "server",
                since: "7.0.0",
                summary: "Return the cumulative distribution of latencies of a subset of commands or all.",
                complexity: "O(N) where N is the number of commands with latency information being retrieved.",
                tips: &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"],
                ..Command::DEFAULT
            },
            Command {
                name: "help",
                arity: 2,
                flags: LOADING | STALE,
                handler: latency_help,
                group: "server",
                since: "2.8.13",
                summary: "Show helpful text about the different subcommands.",
                ..Command::DEFAULT
            },
        ],
        ..Command::DEFAULT
    },
];

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT] (see `server::shutdown`): lagging
/// replicas get `shutdown-timeout` seconds to catch up (the client stays blocked
/// meanwhile), then the server saves and exits; if saving fails (without FORCE) the
/// shutdown is cancelled and every client blocked in SHUTDOWN gets an error.
fn shutdown(ctx: &mut Ctx) {
    use crate::config::ShutdownFlags as F;
    use crate::server::shutdown::{self, Outcome};
    let (mut flags, mut abort) = (0u32, false);
    for a in &ctx.argv[1..] {
        if a.eq_ignore_ascii_case(b"nosave") {
            flags |= F::NOSAVE;
        } else if a.eq_ignore_ascii_case(b"save") {
            flags |= F::SAVE;
        } else if a.eq_ignore_ascii_case(b"now") {
            flags |= F::NOW;
        } else if a.eq_ignore_ascii_case(b"force") {
            flags |= F::FORCE;
        } else if a.eq_ignore_ascii_case(b"abort") {
            abort = true;
        } else {
            return ctx.syntax_error();
        }
    }
    if (abort && flags != 0) || (flags & F::NOSAVE != 0 && flags & F::SAVE != 0) {
        return ctx.syntax_error();
    }
    if abort {
        return if shutdown::abort(ctx.store) { ctx.out.ok() } else { ctx.out.error("No shutdown in progress.") };
    }
    if flags & F::NOW == 0 && ctx.in_exec {
        // A transaction cannot block (Redis's CLIENT_DENY_BLOCKING).
        return ctx.out.error("SHUTDOWN without NOW or ABORT isn't allowed for DENY BLOCKING client");
    }
    let gen = *ctx.store.shutdown.watch_cancel().borrow();
    match shutdown::prepare(ctx.store, flags) {
        // Redis exits without replying; the client sees the connection close.
        Outcome::Exit => std::process::exit(0),
        Outcome::Waiting => {
            ctx.store.shutdown.blocked += 1;
            ctx.flow = Flow::ShutdownWait { gen };
        }
        Outcome::Failed => ctx.out.error("Errors trying to SHUTDOWN. Check logs."),
    }
}

fn time(ctx: &mut Ctx) {
    let us = crate::util::time::unix_us();
    ctx.out.array(2);
    ctx.out.bulk_int(us / 1_000_000);
    ctx.out.bulk_int(us % 1_000_000);
}

/// SAVE: the snapshot is written under the store lock, so every client waits (as with
/// Redis's SAVE); BGSAVE is the non-blocking form.
fn save(ctx: &mut Ctx) {
    if ctx.store.bgsave.in_progress() {
        return ctx.out.error("Background save already in progress");
    }
    match crate::persistence::snapshot::save_now(ctx.store) {
        Ok(_) => ctx.out.ok(),
        Err(e) => {
            log_warning!("Failed saving the DB: {e}");
            ctx.out.error("ERR");
        }
    }
}

/// BGSAVE [SCHEDULE]: forks the snapshot child (see `persistence::bgsave`). Inside a
/// transaction it is scheduled for the cron instead, as Redis does.
fn bgsave(ctx: &mut Ctx) {
    if ctx.argv.len() > 2 || (ctx.argv.len() == 2 && !ctx.argv[1].eq_ignore_ascii_case(b"schedule")) {
        return ctx.syntax_error();
    }
    let schedule = ctx.argv.len() == 2;
    if ctx.store.bgsave.in_progress() {
        return ctx.out.error("Background save already in progress");
    }
    if crate::persistence::aof::has_active_child(ctx.store) || ctx.in_exec {
        if schedule || ctx.in_exec {
            ctx.store.bgsave.scheduled = true;
            return ctx.out.simple("Background saving scheduled");
        }
        return ctx.out.error(
            "Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to \
schedule a BGSAVE whenever possible.",
        );
    }
    match crate::persistence::bgsave::start(ctx.store) {
        Ok(()) => ctx.out.simple("Background saving started"),
        Err(e) => {
            log_warning!("{e}");
            ctx.out.error("ERR");
        }
    }
}

/// BGREWRITEAOF: a forked child writes a new base file (see `persistence::aof`).
fn bgrewriteaof(ctx: &mut Ctx) {
    use crate::persistence::aof;
    if ctx.store.aofrw.running.is_some() {
        return ctx.out.error("Background append only file rewriting already in progress");
    }
    if aof::has_active_child(ctx.store) || ctx.in_exec {
        ctx.store.aofrw.scheduled = true;
        // Asked for by hand: runs as soon as possible even after repeated failures.
        ctx.store.aofrw.consecutive_failures = 0;
        return ctx.out.simple("Background append only file rewriting scheduled");
    }
    match aof::start_rewrite(ctx.store) {
        Ok(()) => ctx.out.simple("Background append only file rewriting started"),
        Err(e) => {
            log_warning!("{e}");
            ctx.out
                .error("Can't execute an AOF background rewriting. Please check the server logs for more information.")
        }
    }
}

fn lastsave(ctx: &mut Ctx) {
    ctx.out.int(ctx.store.lastsave);
}

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

fn slowlog_help(ctx: &mut Ctx) {
    help_reply(ctx.out, SLOWLOG_HELP);
}

fn slowlog_len(ctx: &mut Ctx) {
    ctx.out.int(ctx.store.slowlog.entries.len() as i64);
}

fn slowlog_reset(ctx: &mut Ctx) {
    ctx.store.slowlog.entries.clear();
    ctx.out.ok();
}

fn slowlog_get(ctx: &mut Ctx) {
    if ctx.argv.len() > 3 {
        return subcommand_syntax_error(ctx);
    }
    let mut count: usize = 10;
    if let Some(a) = ctx.argv.get(2) {
        match crate::util::numeric::string2ll(a) {
            Some(-1) => count = usize::MAX,
            Some(n) if n >= 0 => count = n as usize,
            _ => return ctx.out.error("count should be greater than or equal to -1"),
        }
    }
    let out = &mut *ctx.out;
    let log = &ctx.store.slowlog.entries;
    let n = count.min(log.len());
    out.array(n);
    for e in log.iter().take(n) {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.time);
        out.int(e.duration_us as i64);
        out.array(e.argv.len());
        for a in &e.argv {
            out.bulk(a);
        }
        out.bulk(e.peer.as_bytes());
        out.bulk(e.name.as_bytes());
    }
}

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

fn latency_doctor(ctx: &mut Ctx) {
    let report = crate::server::latency::doctor(ctx.store, crate::util::time::unix_secs());
    ctx.out.verbatim(report.as_bytes(), "txt");
}

fn latency_graph(ctx: &mut Ctx) {
    // The event name is matched exactly, as Redis's dictionary lookup does.
    match ctx.store.latency.events.iter().find(|(e, _)| e.as_bytes() == ctx.argv[2].as_ref()) {
        Some((event, ts)) => {
            let g = crate::server::latency::graph(event, ts, crate::util::time::unix_secs());
            ctx.out.verbatim(g.as_bytes(), "txt");
        }
        None => {
            let msg = format!("No samples available for event '{}'", String::from_utf8_lossy(&ctx.argv[2]));
            ctx.out.error(&msg);
        }
    }
}

/// LATENCY HISTOGRAM [command ...]: for each command (a container names its
/// subcommands) with a latency histogram, `calls` and the cumulative `histogram_usec`
/// buckets, as Redis's `fillCommandCDF`. Unknown names are skipped.
fn latency_histogram(ctx: &mut Ctx) {
    let table = CommandTable::get();
    let stats = &ctx.store.stats;
    let mut picked: Vec<&crate::commands::table::Cmd> = Vec::new();
    if ctx.argv.len() == 2 {
        for top in table.top_level() {
            picked.push(top);
            let mut subs: Vec<usize> = top.subs.values().copied().collect();
            subs.sort_unstable();
            picked.extend(subs.into_iter().map(|id| &table.cmds[id]));
        }
    } else {
        for name in &ctx.argv[2..] {
            let Some(cmd) = super::command_cmd::lookup_by_fullname(table, name) else { continue };
            picked.push(cmd);
            let mut subs: Vec<usize> = cmd.subs.values().copied().collect();
            subs.sort_unstable();
            picked.extend(subs.into_iter().map(|id| &table.cmds[id]));
        }
    }
    let with_data: Vec<_> = picked.into_iter().filter_map(|c| stats.histogram(c.id).map(|h| (c, h))).collect();
    let out = &mut *ctx.out;
    out.map(with_data.len());
    for (cmd, h) in with_data {
        out.bulk(cmd.fullname.as_bytes());
        out.map(2);
        out.bulk(b"calls");
        out.int(h.total() as i64);
        out.bulk(b"histogram_usec");
        let cdf = h.cdf();
        out.map(cdf.len());
        for (usec, count) in cdf {
            out.int(usec as i64);
            out.int(count as i64);
        }
    }
}

fn latency_help(ctx: &mut Ctx) {
    help_reply(ctx.out, LATENCY_HELP);
}

fn latency_latest(ctx: &mut Ctx) {
    let out = &mut *ctx.out;
    let events = &ctx.store.latency.events;
    out.array(events.len());
    for (name, ts) in events {
        let last = ts.latest();
        out.array(4);
        out.bulk(name.as_bytes());
        out.int(last.time);
        out.int(last.latency as i64);
        out.int(ts.max as i64);
    }
}

fn latency_history(ctx: &mut Ctx) {
    let out = &mut *ctx.out;
    match ctx.store.latency.get(&ctx.argv[2]) {
        None => out.array(0),
        Some(ts) => {
            let samples: Vec<_> = ts.history().collect();
            out.array(samples.len());
            for s in samples {
                out.array(2);
                out.int(s.time);
                out.int(s.latency as i64);
            }
        }
    }
}

fn latency_reset(ctx: &mut Ctx) {
    let n = if ctx.argv.len() == 2 {
        ctx.store.latency.reset_all()
    } else {
        let events: Vec<_> = ctx.argv[2..].to_vec();
        events.iter().filter(|e| ctx.store.latency.reset_event(e)).count()
    };
    ctx.out.int(n as i64);
}
