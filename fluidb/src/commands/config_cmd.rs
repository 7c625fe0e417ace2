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
    match ctx.store.cfg.set_with(&pairs, SetOptions { local_client: local, loading: false }) {
        Ok(changed) => {
            if let Err((name, why)) = apply(ctx, &changed) {
                ctx.store.cfg = old;
                apply_cached(ctx);
                let msg = set_failed_error(name, &why);
                return ctx.out.error(format!("-{msg}"));
            }
            ctx.out.ok();
        }
        Err(e) => ctx.out.error(format!("-{e}")),
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
fn apply(ctx: &mut Ctx, changed: &[&'static str]) -> Result<(), (&'static str, String)> {
    for &name in changed {
        if name == "dir" {
            let dir = ctx.store.cfg.dir.clone();
            std::env::set_current_dir(&dir).map_err(|e| ("dir", e.to_string()))?;
        }
        if name == "repl-backlog-size" {
            let cap = crate::replication::stream::backlog_capacity(ctx.store.cfg.repl_backlog_size);
            ctx.store.stream.resize(cap);
        }
        if name == "appendfsync" {
            if let Some(aof) = &ctx.store.aof {
                aof.set_policy(ctx.store.cfg.appendfsync);
            }
        }
        if name == "appendonly" {
            // On: the current dataset becomes the base of a new AOF (written now, under the
            // lock; Redis forks a rewrite). Off: appending stops.
            match (ctx.store.cfg.appendonly, ctx.store.aof.is_some()) {
                (true, false) => crate::persistence::aof::start(ctx.store).map_err(|e| ("appendonly", e))?,
                (false, true) => crate::persistence::aof::stop(ctx.store),
                _ => {}
            }
        }
    }
    apply_cached(ctx);
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx) {
    ctx.store.stats.reset();
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
