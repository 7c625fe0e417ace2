//! COMMAND and its subcommands, generated from the command table (Redis 7.0's
//! `commandCommand` family and the COMMAND INFO / DOCS reply layouts).

use std::borrow::Cow;

use bytes::Bytes;

use super::call::Ctx;
use super::client_cmd::help_reply;
use super::table::{acl, flags, flags::*, BeginSearch, Cmd, Command, CommandTable, FindKeys, KeySpec};
use crate::protocol::Reply;
use crate::util::glob::string_match;

const F: u32 = LOADING | STALE;

macro_rules! sub {
    ($name:expr, $arity:expr, $h:expr, $since:expr, $summary:expr, $complexity:expr) => {
        Command {
            name: $name,
            arity: $arity,
            flags: F,
            acl: acl::CONNECTION,
            handler: $h,
            group: "server",
            since: $since,
            summary: $summary,
            complexity: $complexity,
            ..Command::DEFAULT
        }
    };
}

pub static COMMANDS: &[Command] = &[Command {
    name: "command",
    arity: -1,
    flags: F,
    acl: acl::CONNECTION,
    handler: command_all,
    group: "server",
    since: "2.8.13",
    summary: "Get array of Redis command details",
    complexity: "O(N) where N is the total number of Redis commands",
    tips: &["nondeterministic_output_order"],
    subcommands: &[
        sub!(
            "getkeys",
            -4,
            command_getkeys,
            "2.8.13",
            "Extract keys given a full Redis command",
            "O(N) where N is the number of arguments to the command"
        ),
        sub!(
            "getkeysandflags",
            -4,
            command_getkeysandflags,
            "7.0.0",
            "Extract keys and access flags given a full Redis command",
            "O(N) where N is the number of arguments to the command"
        ),
        Command {
            tips: &["nondeterministic_output_order"],
            ..sub!(
                "list",
                -2,
                command_list,
                "7.0.0",
                "Get an array of Redis command names",
                "O(N) where N is the total number of Redis commands"
            )
        },
        sub!("count", 2, command_count, "2.8.13", "Get total number of Redis commands", "O(1)"),
        Command {
            tips: &["nondeterministic_output_order"],
            history: &[("7.0.0", "Allowed to be called with no argument to get info on all commands.")],
            ..sub!(
                "info",
                -2,
                command_info,
                "2.8.13",
                "Get array of specific Redis command details, or all when no argument is given.",
                "O(N) where N is the number of commands to look up"
            )
        },
        Command {
            tips: &["nondeterministic_output_order"],
            ..sub!(
                "docs",
                -2,
                command_docs,
                "7.0.0",
                "Get array of specific Redis command documentation",
                "O(N) where N is the number of commands to look up"
            )
        },
        sub!("help", 2, command_help, "5.0.0", "Show helpful text about the different subcommands", "O(1)"),
    ],
    ..Command::DEFAULT
}];

const HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

fn command_help(ctx: &mut Ctx) {
    help_reply(ctx.out, HELP);
}

/// The key specs of a command: its own, or one derived from the legacy
/// `first_key`/`last_key`/`key_step` range. Derived flags are an approximation (RO+access
/// for read-only commands, RW+access+update for writes); a family that needs Redis's exact
/// flags declares `key_specs`.
pub fn key_specs(def: &'static Command) -> Cow<'static, [KeySpec]> {
    if !def.key_specs.is_empty() {
        return Cow::Borrowed(def.key_specs);
    }
    if def.first_key <= 0 {
        return Cow::Borrowed(&[]);
    }
    let fl: &'static [&'static str] = if def.flags & flags::WRITE != 0 {
        &["RW", "access", "update"]
    } else if def.flags & flags::READONLY != 0 {
        &["RO", "access"]
    } else {
        &["RW"]
    };
    let lastkey = if def.last_key < 0 { def.last_key } else { def.last_key - def.first_key };
    Cow::Owned(vec![KeySpec {
        notes: "",
        flags: fl,
        begin: BeginSearch::Index(def.first_key),
        find: FindKeys::Range { lastkey, keystep: def.key_step.max(1), limit: 0 },
    }])
}

fn reply_flags(out: &mut Reply, bits: u32, names: &[(u32, &str)], prefix: &str) {
    let n = names.iter().filter(|(b, _)| bits & b != 0).count();
    out.set(n);
    for (b, name) in names {
        if bits & b != 0 {
            if prefix.is_empty() {
                out.simple(name);
            } else {
                out.simple(&format!("{prefix}{name}"));
            }
        }
    }
}

fn reply_key_specs(out: &mut Reply, specs: &[KeySpec]) {
    out.set(specs.len());
    for s in specs {
        out.map(3 + usize::from(!s.notes.is_empty()));
        if !s.notes.is_empty() {
            out.bulk(b"notes");
            out.bulk(s.notes.as_bytes());
        }
        out.bulk(b"flags");
        out.set(s.flags.len());
        for f in s.flags {
            out.simple(f);
        }
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        match s.begin {
            BeginSearch::Index(i) => {
                out.bulk(b"index");
                out.bulk(b"spec");
                out.map(1);
                out.bulk(b"index");
                out.int(i as i64);
            }
            BeginSearch::Keyword { keyword, startfrom } => {
                out.bulk(b"keyword");
                out.bulk(b"spec");
                out.map(2);
                out.bulk(b"keyword");
                out.bulk(keyword.as_bytes());
                out.bulk(b"startfrom");
                out.int(startfrom as i64);
            }
            BeginSearch::Unknown => {
                out.bulk(b"unknown");
                out.bulk(b"spec");
                out.map(0);
            }
        }
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        match s.find {
            FindKeys::Range { lastkey, keystep, limit } => {
                out.bulk(b"range");
                out.bulk(b"spec");
                out.map(3);
                out.bulk(b"lastkey");
                out.int(lastkey as i64);
                out.bulk(b"keystep");
                out.int(keystep as i64);
                out.bulk(b"limit");
                out.int(limit as i64);
            }
            FindKeys::Keynum { keynumidx, firstkey, keystep } => {
                out.bulk(b"keynum");
                out.bulk(b"spec");
                out.map(3);
                out.bulk(b"keynumidx");
                out.int(keynumidx as i64);
                out.bulk(b"firstkey");
                out.int(firstkey as i64);
                out.bulk(b"keystep");
                out.int(keystep as i64);
            }
            FindKeys::Unknown => {
                out.bulk(b"unknown");
                out.bulk(b"spec");
                out.map(0);
            }
        }
    }
}

/// The subcommands of `cmd`, in declaration order.
fn subs_of<'t>(table: &'t CommandTable, cmd: &Cmd) -> Vec<&'t Cmd> {
    cmd.def.subcommands.iter().filter_map(|s| cmd.subs.get(s.name).map(|&id| &table.cmds[id])).collect()
}

/// One COMMAND INFO entry: Redis 7.0's 10-element array.
pub fn reply_info(out: &mut Reply, table: &CommandTable, cmd: &Cmd) {
    let def = cmd.def;
    out.array(10);
    out.bulk(cmd.fullname.as_bytes());
    out.int(def.arity as i64);
    reply_flags(out, def.flags, flags::NAMES, "");
    out.int(def.first_key as i64);
    out.int(def.last_key as i64);
    out.int(def.key_step as i64);
    reply_flags(out, def.acl_categories(), acl::NAMES, "@");
    out.set(def.tips.len());
    for t in def.tips {
        out.bulk(t.as_bytes());
    }
    reply_key_specs(out, &key_specs(def));
    let subs = subs_of(table, cmd);
    if subs.is_empty() {
        out.set(0);
    } else {
        out.array(subs.len());
        for s in subs {
            reply_info(out, table, s);
        }
    }
}

/// One COMMAND DOCS entry (the map after the name).
pub fn reply_docs(out: &mut Reply, table: &CommandTable, cmd: &Cmd) {
    let def = cmd.def;
    let subs = subs_of(table, cmd);
    let n = 1
        + usize::from(!def.summary.is_empty())
        + usize::from(!def.since.is_empty())
        + usize::from(!def.complexity.is_empty())
        + usize::from(!def.doc_flags.is_empty())
        + usize::from(!def.history.is_empty())
        + usize::from(!subs.is_empty());
    out.map(n);
    if !def.summary.is_empty() {
        out.bulk(b"summary");
        out.bulk(def.summary.as_bytes());
    }
    if !def.since.is_empty() {
        out.bulk(b"since");
        out.bulk(def.since.as_bytes());
    }
    out.bulk(b"group");
    out.bulk(def.group.as_bytes());
    if !def.complexity.is_empty() {
        out.bulk(b"complexity");
        out.bulk(def.complexity.as_bytes());
    }
    if !def.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        out.set(def.doc_flags.len());
        for f in def.doc_flags {
            out.simple(f);
        }
    }
    if !def.history.is_empty() {
        out.bulk(b"history");
        out.set(def.history.len());
        for (v, d) in def.history {
            out.array(2);
            out.bulk(v.as_bytes());
            out.bulk(d.as_bytes());
        }
    }
    if !subs.is_empty() {
        out.bulk(b"subcommands");
        out.map(subs.len());
        for s in subs {
            out.bulk(s.fullname.as_bytes());
            reply_docs(out, table, s);
        }
    }
}

/// Looks a command up by name or "container|subcommand" (Redis's `lookupCommandBySds`).
pub fn lookup_by_fullname<'t>(table: &'t CommandTable, name: &[u8]) -> Option<&'t Cmd> {
    match name.iter().position(|&c| c == b'|') {
        None => table.lookup(name),
        Some(p) => {
            let parent = table.lookup(&name[..p])?;
            let rest = &name[p + 1..];
            if rest.contains(&b'|') {
                return None;
            }
            table.lookup_sub(parent, rest)
        }
    }
}

fn command_all(ctx: &mut Ctx) {
    let table = CommandTable::get();
    let top: Vec<&Cmd> = table.top_level().collect();
    ctx.out.array(top.len());
    for c in top {
        reply_info(ctx.out, table, c);
    }
}

fn command_count(ctx: &mut Ctx) {
    ctx.out.int(CommandTable::get().top_level().count() as i64);
}

fn command_info(ctx: &mut Ctx) {
    let table = CommandTable::get();
    if ctx.argv.len() == 2 {
        return command_all(ctx);
    }
    ctx.out.array(ctx.argv.len() - 2);
    for name in &ctx.argv[2..] {
        match lookup_by_fullname(table, name) {
            Some(c) => reply_info(ctx.out, table, c),
            None => ctx.out.null(),
        }
    }
}

fn command_docs(ctx: &mut Ctx) {
    let table = CommandTable::get();
    let cmds: Vec<&Cmd> = if ctx.argv.len() == 2 {
        table.top_level().collect()
    } else {
        ctx.argv[2..].iter().filter_map(|n| lookup_by_fullname(table, n)).collect()
    };
    ctx.out.map(cmds.len());
    for c in cmds {
        ctx.out.bulk(c.fullname.as_bytes());
        reply_docs(ctx.out, table, c);
    }
}

/// COMMAND LIST filters.
enum Filter {
    None,
    Module,
    AclCat(u32),
    Pattern(Bytes),
}

fn command_list(ctx: &mut Ctx) {
    let mut filter = Filter::None;
    let mut i = 2;
    while i < ctx.argv.len() {
        let more = ctx.argv.len() - 1 - i;
        if ctx.argv[i].eq_ignore_ascii_case(b"filterby") && more == 2 {
            let ty = &ctx.argv[i + 1];
            let arg = ctx.argv[i + 2].clone();
            filter = if ty.eq_ignore_ascii_case(b"module") {
                Filter::Module
            } else if ty.eq_ignore_ascii_case(b"aclcat") {
                let cat = acl::NAMES.iter().find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(&arg)).map(|(b, _)| *b);
                Filter::AclCat(cat.unwrap_or(0))
            } else if ty.eq_ignore_ascii_case(b"pattern") {
                Filter::Pattern(arg)
            } else {
                return ctx.syntax_error();
            };
            i += 3;
        } else {
            return ctx.syntax_error();
        }
    }
    let table = CommandTable::get();
    let mut names: Vec<&str> = Vec::new();
    for top in table.top_level() {
        for c in std::iter::once(top).chain(subs_of(table, top)) {
            let keep = match &filter {
                Filter::None => true,
                // No modules exist: nothing belongs to any module.
                Filter::Module => false,
                Filter::AclCat(cat) => *cat != 0 && c.def.acl_categories() & cat != 0,
                Filter::Pattern(p) => string_match(p, c.fullname.as_bytes(), true),
            };
            if keep {
                names.push(&c.fullname);
            }
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
}

/// The key positions of `argv` (a full command) with their flags, as Redis's
/// `getKeysFromCommandWithSpecs`: the command's own finder if it has one, else the key
/// specs. None when the arguments do not fit the specs.
pub fn keys_of(def: &'static Command, argv: &[Bytes]) -> Option<Vec<(usize, &'static [&'static str])>> {
    if let Some(find) = def.getkeys {
        return Some(find(argv));
    }
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for spec in key_specs(def).iter() {
        let first: i64 = match spec.begin {
            BeginSearch::Index(i) => i as i64,
            BeginSearch::Keyword { keyword, startfrom } => {
                let sf = startfrom as i64;
                let (start, end) = if sf > 0 { (sf, argc - 1) } else { (argc + sf, 1) };
                let mut found = 0;
                let mut i = start;
                loop {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    if i == end {
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return None,
        };
        let (first, last, step) = match spec.find {
            FindKeys::Range { lastkey, keystep, limit } => {
                let last = if lastkey >= 0 {
                    first + lastkey as i64
                } else if limit == 0 {
                    argc + lastkey as i64
                } else {
                    first + ((argc - first) / limit as i64 + lastkey as i64)
                };
                (first, last, keystep as i64)
            }
            FindKeys::Keynum { keynumidx, firstkey, keystep } => {
                let idx = first + keynumidx as i64;
                if idx >= argc {
                    return None;
                }
                let n = crate::util::numeric::string2ll(&argv[idx as usize]).filter(|&n| n >= 0)?;
                let f = first + firstkey as i64;
                (f, f + n - 1, keystep as i64)
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            keys.push((i as usize, spec.flags));
            i += step.max(1);
        }
        if spec.flags.contains(&"incomplete") {
            return None;
        }
    }
    Some(keys)
}

fn getkeys(ctx: &mut Ctx, with_flags: bool) {
    let table = CommandTable::get();
    let argv = &ctx.argv[2..];
    let Some(mut cmd) = table.lookup(&argv[0]) else {
        return ctx.out.error("Invalid command specified");
    };
    if !cmd.subs.is_empty() && argv.len() >= 2 {
        match table.lookup_sub(cmd, &argv[1]) {
            Some(s) => cmd = s,
            None => return ctx.out.error("Invalid command specified"),
        }
    }
    let def = cmd.def;
    if def.key_specs.is_empty() && def.first_key <= 0 && def.flags & MOVABLEKEYS == 0 {
        return ctx.out.error("The command has no key arguments");
    }
    let argc = argv.len() as i32;
    if (def.arity > 0 && def.arity != argc) || argc < -def.arity {
        return ctx.out.error("Invalid number of arguments specified for command");
    }
    let argv = argv.to_vec();
    match keys_of(def, &argv).filter(|k| !k.is_empty()) {
        None if def.flags & NO_MANDATORY_KEYS != 0 => ctx.out.array(0),
        None => ctx.out.error("Invalid arguments specified for command"),
        Some(keys) => {
            ctx.out.array(keys.len());
            for (pos, fl) in keys {
                if with_flags {
                    ctx.out.array(2);
                    ctx.out.bulk(&argv[pos]);
                    ctx.out.set(fl.len());
                    for f in fl {
                        ctx.out.simple(f);
                    }
                } else {
                    ctx.out.bulk(&argv[pos]);
                }
            }
        }
    }
}

fn command_getkeys(ctx: &mut Ctx) {
    getkeys(ctx, false);
}

fn command_getkeysandflags(ctx: &mut Ctx) {
    getkeys(ctx, true);
}
