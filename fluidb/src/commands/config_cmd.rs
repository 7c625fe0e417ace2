//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP over `crate::config`.
//!
//! The config module validates and formats; this file applies the side effects a change
//! has on the running server (cached limits, log level, working directory), and puts the
//! old configuration back when applying fails, so CONFIG SET stays all-or-nothing.

use super::call::Ctx;
use super::client_cmd::help_reply;
use super::table::{flags::*, Command};
use crate::config::{set_failed_error, SetOptions};
use crate::server::log;
use crate::util::glob::string_match;

const SUB: Command = Command {
    flags: ADMIN | NOSCRIPT | LOADING | STALE,
    group: "server",
    since: "2.0.0",
    complexity: "O(N) when path is specified, where N is the number of parameters",
    ..Command::DEFAULT
};

pub static COMMANDS: &[Command] = &[Command {
    name: "config",
    arity: -2,
    group: "server",
    since: "2.0.0",
    summary: "A container for server configuration commands",
    complexity: "Depends on subcommand.",
    subcommands: &[
        Command {
            name: "get",
            arity: -3,
            handler: config_get,
            summary: "Get the values of configuration parameters",
            complexity: "O(N) when N is the number of configuration parameters provided",
            ..SUB
        },
        Command {
            name: "set",
            arity: -4,
            handler: config_set,
            flags: ADMIN | NOSCRIPT | LOADING | STALE,
            summary: "Set configuration parameters to the given values",
            complexity: "O(N) when N is the number of configuration parameters provided",
            ..SUB
        },
        Command {
            name: "resetstat",
            arity: 2,
            handler: config_resetstat,
            summary: "Reset the stats returned by INFO",
            complexity: "O(1)",
            ..SUB
        },
        Command {
            name: "rewrite",
            arity: 2,
            handler: config_rewrite,
            since: "2.8.0",
            summary: "Rewrite the configuration file with the in memory configuration",
            complexity: "O(1)",
            ..SUB
        },
        Command {
            name: "help",
            arity: 2,
            handler: config_help,
            flags: LOADING | STALE,
            since: "5.0.0",
            summary: "Show helpful text about the different subcommands",
            complexity: "O(1)",
            ..SUB
        },
    ],
    ..Command::DEFAULT
}];

const HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

/// Matcher for CONFIG GET patterns (the config module passes them lower-cased).
fn matcher(pattern: &[u8], name: &[u8]) -> bool {
    string_match(pattern, name, true)
}

fn config_get(ctx: &mut Ctx) {
    let patterns: Vec<&[u8]> = ctx.argv[2..].iter().map(|a| a.as_ref()).collect();
    let pairs = ctx.store.cfg.get_with(&patterns, matcher);
    ctx.out.map(pairs.len());
    for (k, v) in pairs {
        ctx.out.bulk(k.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
}

fn config_set(ctx: &mut Ctx) {
    if !ctx.argv.len().is_multiple_of(2) {
        return ctx.wrong_arity();
    }
    let pairs: Vec<(&[u8], &[u8])> = ctx.argv[2..].chunks(2).map(|p| (p[0].as_ref(), p[1].as_ref())).collect();
    let a = &ctx.client.shared.addr;
    let local = ctx.client.is_unix || a.starts_with("127.0.0.1:") || a.starts_with("[::1]:");
    let old = ctx.store.cfg.clone();
    match ctx.store.cfg.set_with(
        &pairs,
        SetOptions { local_client: local, loading: ctx.store.loading.is_some(), refuse_unimplemented: true },
    ) {
        Ok(changed) => {
            if let Err((name, why)) = apply(ctx, &old, &changed) {
                // As Redis's `restoreBackupConfig`: the old values, and their effects for
                // the settings that were applied before the failure.
                let new = std::mem::replace(&mut ctx.store.cfg, old);
                revert(ctx, &new, &changed);
                apply_cached(ctx);
                let msg = set_failed_error(name, &why);
                return ctx.out.error(format!("-{msg}"));
            }
            ctx.out.ok();
        }
        Err(e) => ctx.out.error(format!("-{e}")),
    }
}

/// Whether `name` changed the TCP listeners.
fn is_listener(name: &str) -> bool {
    matches!(name, "port" | "bind")
}

/// Whether `name` changed the OOM score settings.
fn is_oom(name: &str) -> bool {
    matches!(name, "oom-score-adj" | "oom-score-adj-values")
}

/// Undoes the effects `apply` may have had (the configuration is already the old one;
/// `new` is the rejected one).
fn revert(ctx: &mut Ctx, new: &crate::config::Config, changed: &[&'static str]) {
    let cfg = &ctx.store.cfg;
    if changed.iter().any(|n| is_listener(n)) && (new.port != cfg.port || new.bind != cfg.bind) {
        let _ = ctx.shared.listeners.rebind((&new.bind, new.port), (&cfg.bind, cfg.port), cfg.tcp_backlog);
        ctx.shared.port.store(cfg.port as usize, std::sync::atomic::Ordering::Relaxed);
    }
    if changed.iter().any(|n| is_oom(n)) {
        let _ = crate::server::oom::apply(cfg, ctx.store.is_replica);
    }
}

/// Copies values the server reads outside the store lock, and the log settings.
fn apply_cached(ctx: &mut Ctx) {
    ctx.shared.refresh_cached_config(&ctx.store.cfg);
    let level = log::level_from_str(ctx.store.cfg.loglevel.as_str()).unwrap_or(log::Level::Notice);
    log::configure(level, &ctx.store.cfg.logfile);
}

/// Applies the side effects of changed directives. On failure returns the directive and
/// the reason; the caller restores the old configuration.
fn apply(ctx: &mut Ctx, old: &crate::config::Config, changed: &[&'static str]) -> Result<(), (&'static str, String)> {
    let mut listeners_done = false;
    let mut oom_done = false;
    for &name in changed {
        // Redis runs an apply function once for all the settings that share it.
        if is_listener(name) && !listeners_done {
            listeners_done = true;
            let cfg = &ctx.store.cfg;
            ctx.shared.listeners.rebind((&old.bind, old.port), (&cfg.bind, cfg.port), cfg.tcp_backlog).map_err(
                |_| match name {
                    "port" => ("port", "Unable to listen on this port. Check server logs.".to_string()),
                    _ => ("bind", "Failed to bind to specified addresses.".to_string()),
                },
            )?;
            ctx.shared.port.store(cfg.port as usize, std::sync::atomic::Ordering::Relaxed);
        }
        if is_oom(name) && !oom_done {
            oom_done = true;
            crate::server::oom::apply(&ctx.store.cfg, ctx.store.is_replica)
                .map_err(|_| (name, "Failed to set current oom_score_adj. Check server logs.".to_string()))?;
        }
        if name == "dir" {
            let dir = ctx.store.cfg.dir.clone();
            std::env::set_current_dir(&dir).map_err(|e| ("dir", e.to_string()))?;
        }
        if name == "repl-backlog-size" {
            let cap = crate::replication::stream::backlog_capacity(ctx.store.cfg.repl_backlog_size);
            ctx.store.stream.resize(cap);
        }
        if name == "proc-title-template" {
            crate::server::process::set_title(&ctx.store.cfg);
        }
        if name == "jemalloc-bg-thread" {
            crate::server::process::set_jemalloc_bg_thread(ctx.store.cfg.jemalloc_bg_thread);
        }
        if name == "appendfsync" {
            if let Some(aof) = &ctx.store.aof {
                aof.set_policy(ctx.store.cfg.appendfsync);
            }
        }
        if name == "appendonly" {
            // On: a rewrite writes the current dataset as the new base, and the AOF is on
            // once it is complete (Redis's startAppendOnly). Off: appending stops.
            use crate::persistence::aof::{self, AofState};
            match (ctx.store.cfg.appendonly, aof::state(ctx.store)) {
                (true, AofState::Off) => aof::enable(ctx.store, ctx.in_exec).map_err(|e| ("appendonly", e))?,
                (false, AofState::On | AofState::WaitRewrite) => aof::stop(ctx.store),
                _ => {}
            }
        }
        if name == "aof-disable-auto-gc" && !ctx.store.cfg.aof_disable_auto_gc {
            crate::persistence::aof::del_history_files(ctx.store);
        }
        if name == "aof-timestamp-enabled" {
            ctx.store.stream.aof_timestamps = ctx.store.cfg.aof_timestamp_enabled;
        }
        if name == "crash-log-enabled" {
            crate::server::crash::set_enabled(ctx.store.cfg.crash_log_enabled);
        }
        if name == "use-exit-on-panic" {
            crate::server::crash::set_exit_on_panic(ctx.store.cfg.use_exit_on_panic);
        }
    }
    apply_cached(ctx);
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx) {
    ctx.store.stats.reset();
    crate::keyspace::lazyfree::reset_stats();
    ctx.store.repl.stats = Default::default();
    ctx.store.slowlog.entries.clear();
    ctx.out.ok();
}

fn config_rewrite(ctx: &mut Ctx) {
    match ctx.store.cfg.rewrite() {
        Ok(()) => {
            crate::log_notice!("CONFIG REWRITE executed with success.");
            ctx.out.ok()
        }
        Err(e) => {
            crate::log_warning!("CONFIG REWRITE failed: {e}");
            ctx.out.error(format!("-{e}"))
        }
    }
}

fn config_help(ctx: &mut Ctx) {
    help_reply(ctx.out, HELP);
}
