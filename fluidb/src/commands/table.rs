//! The command table: every command as data.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::call::Ctx;

/// A command implementation. Writes its reply into `ctx.out`.
pub type Handler = fn(&mut Ctx);

/// Command flags (Redis 7.0's `CMD_*`), as COMMAND INFO lists them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const MOVABLEKEYS: u32 = 1 << 15;
    pub const ALLOW_BUSY: u32 = 1 << 16;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 17;
    /// May expire keys it did not name (SCAN, RANDOMKEY): its lazy-expiry deletions are
    /// propagated one by one, not wrapped in MULTI/EXEC (Redis's internal
    /// `CMD_TOUCHES_ARBITRARY_KEYS`, which COMMAND INFO does not list).
    pub const TOUCHES_ARBITRARY_KEYS: u32 = 1 << 18;
    /// Names in the order Redis prints them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories (Redis's `ACL_CATEGORY_*`).
pub mod acl {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const READ: u32 = 1 << 1;
    pub const WRITE: u32 = 1 << 2;
    pub const SET: u32 = 1 << 3;
    pub const SORTEDSET: u32 = 1 << 4;
    pub const LIST: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const STRING: u32 = 1 << 7;
    pub const BITMAP: u32 = 1 << 8;
    pub const HYPERLOGLOG: u32 = 1 << 9;
    pub const GEO: u32 = 1 << 10;
    pub const STREAM: u32 = 1 << 11;
    pub const PUBSUB: u32 = 1 << 12;
    pub const ADMIN: u32 = 1 << 13;
    pub const FAST: u32 = 1 << 14;
    pub const SLOW: u32 = 1 << 15;
    pub const BLOCKING: u32 = 1 << 16;
    pub const DANGEROUS: u32 = 1 << 17;
    pub const CONNECTION: u32 = 1 << 18;
    pub const TRANSACTION: u32 = 1 << 19;
    pub const SCRIPTING: u32 = 1 << 20;
    pub const NAMES: &[(u32, &str)] = &[
        (KEYSPACE, "keyspace"),
        (READ, "read"),
        (WRITE, "write"),
        (SET, "set"),
        (SORTEDSET, "sortedset"),
        (LIST, "list"),
        (HASH, "hash"),
        (STRING, "string"),
        (BITMAP, "bitmap"),
        (HYPERLOGLOG, "hyperloglog"),
        (GEO, "geo"),
        (STREAM, "stream"),
        (PUBSUB, "pubsub"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (SLOW, "slow"),
        (BLOCKING, "blocking"),
        (DANGEROUS, "dangerous"),
        (CONNECTION, "connection"),
        (TRANSACTION, "transaction"),
        (SCRIPTING, "scripting"),
    ];
}

/// One command (or subcommand) as data.
#[derive(Debug)]
pub struct Command {
    /// Lower-case name (for a subcommand, the subcommand word only).
    pub name: &'static str,
    /// Redis arity: N means exactly N arguments (name included), -N at least N.
    pub arity: i32,
    pub flags: u32,
    /// ACL categories beyond those Redis derives from the flags.
    pub acl: u32,
    /// Key positions: first, last (negative counts from the end), step. 0,0,0 = no keys.
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub handler: Handler,
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub subcommands: &'static [Command],
    /// Command tips as COMMAND INFO lists them ("nondeterministic_output", ...).
    pub tips: &'static [&'static str],
    /// Key specifications (Redis 7.0 key specs). Empty: COMMAND INFO/GETKEYS derive one
    /// from `first_key`/`last_key`/`key_step` (see `commands::command_cmd`).
    pub key_specs: &'static [KeySpec],
    /// COMMAND DOCS history: (version, description).
    pub history: &'static [(&'static str, &'static str)],
    /// COMMAND DOCS doc_flags ("syscmd", "deprecated").
    pub doc_flags: &'static [&'static str],
    /// Finds the keys of a command whose key specs cannot (Redis's `getkeys_proc`, e.g.
    /// SORT's STORE anywhere in the arguments): (argument index, key spec flags).
    pub getkeys: Option<GetKeys>,
}

/// A command's own key finder (see [`Command::getkeys`]).
pub type GetKeys = fn(&[bytes::Bytes]) -> Vec<(usize, &'static [&'static str])>;

/// A data-type command family (t_list.c, t_hash.c, ...): the group and ACL category its
/// single-key commands share, so each family's table states only what differs.
pub struct Family {
    pub group: &'static str,
    pub acl: u32,
}

impl Family {
    /// A command of this family whose key is argv[1].
    #[allow(clippy::too_many_arguments)]
    pub const fn cmd(
        &self,
        name: &'static str,
        arity: i32,
        flags: u32,
        handler: Handler,
        since: &'static str,
        summary: &'static str,
        complexity: &'static str,
        key_specs: &'static [KeySpec],
    ) -> Command {
        let (first_key, last_key, key_step) = legacy_range(key_specs);
        Command {
            name,
            arity,
            flags,
            acl: self.acl,
            first_key,
            last_key,
            key_step,
            handler,
            group: self.group,
            since,
            summary,
            complexity,
            key_specs,
            ..Command::DEFAULT
        }
    }
}

/// The (first key, last key, step) triple COMMAND INFO reports, derived from the key specs
/// as Redis 7.0's `populateCommandLegacyRangeSpec` does: the consecutive index/range specs
/// with step 1 are merged; other specs are skipped (they make a command "movablekeys").
/// (0, 0, 0) when no spec qualifies.
pub const fn legacy_range(specs: &[KeySpec]) -> (i32, i32, i32) {
    let mut first = i32::MAX;
    let mut last: i32 = 0;
    let mut prev_last: i32 = 0;
    let mut i = 0;
    while i < specs.len() {
        let spec = &specs[i];
        i += 1;
        let (BeginSearch::Index(pos), FindKeys::Range { lastkey, keystep, .. }) = (spec.begin, spec.find) else {
            continue;
        };
        if specs.len() == 1 {
            // Exactly one range spec: taken as it is (any step).
            let last_abs = if lastkey >= 0 { pos + lastkey } else { lastkey };
            return (pos, last_abs, keystep);
        }
        if keystep != 1 || (prev_last != 0 && prev_last != pos - 1) {
            continue;
        }
        if pos < first {
            first = pos;
        }
        let last_abs = if lastkey >= 0 { lastkey + pos } else { lastkey };
        // Unsigned comparison, as Redis: a negative (relative to the end) last key wins.
        if (last_abs as u32) > (last as u32) {
            last = last_abs;
        }
        prev_last = last;
    }
    if first == i32::MAX {
        return (0, 0, 0);
    }
    (first, last, 1)
}

/// A key spec whose keys follow a count at argv[`index`] (`numkeys key [key ...]`).
pub const fn keynum_spec(flags: &'static [&'static str], index: i32) -> KeySpec {
    KeySpec {
        notes: "",
        flags,
        begin: BeginSearch::Index(index),
        find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
    }
}

/// Where the search for keys starts (Redis's `begin_search`).
#[derive(Debug, Clone, Copy)]
pub enum BeginSearch {
    Index(i32),
    Keyword { keyword: &'static str, startfrom: i32 },
    Unknown,
}

/// How keys are found from the starting point (Redis's `find_keys`).
#[derive(Debug, Clone, Copy)]
pub enum FindKeys {
    Range { lastkey: i32, keystep: i32, limit: i32 },
    Keynum { keynumidx: i32, firstkey: i32, keystep: i32 },
    Unknown,
}

/// A key specification (Redis 7.0): flags in Redis's order ("RO", "RW", "OW", "RM",
/// "access", "update", "insert", "delete", "not_key", "incomplete", "variable_flags").
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub notes: &'static str,
    pub flags: &'static [&'static str],
    pub begin: BeginSearch,
    pub find: FindKeys,
}

fn no_handler(ctx: &mut Ctx) {
    ctx.out.error("this command is a container of subcommands");
}

impl Command {
    /// Defaults for struct-update syntax in the family tables.
    pub const DEFAULT: Command = Command {
        name: "",
        arity: 0,
        flags: 0,
        acl: 0,
        first_key: 0,
        last_key: 0,
        key_step: 0,
        handler: no_handler,
        group: "generic",
        since: "1.0.0",
        summary: "",
        complexity: "O(1)",
        subcommands: &[],
        tips: &[],
        key_specs: &[],
        history: &[],
        doc_flags: &[],
        getkeys: None,
    };

    /// ACL categories including the ones Redis derives from the flags
    /// (`setImplicitACLCategories`).
    pub fn acl_categories(&self) -> u32 {
        let mut c = self.acl;
        if self.flags & flags::WRITE != 0 {
            c |= acl::WRITE;
        }
        if self.flags & flags::READONLY != 0 && c & acl::SCRIPTING == 0 {
            c |= acl::READ;
        }
        if self.flags & flags::ADMIN != 0 {
            c |= acl::ADMIN | acl::DANGEROUS;
        }
        if self.flags & flags::PUBSUB != 0 {
            c |= acl::PUBSUB;
        }
        if self.flags & flags::FAST != 0 {
            c |= acl::FAST;
        }
        if self.flags & flags::BLOCKING != 0 {
            c |= acl::BLOCKING;
        }
        if c & acl::FAST == 0 {
            c |= acl::SLOW;
        }
        c
    }

    pub fn is_write(&self) -> bool {
        self.flags & flags::WRITE != 0
    }

    /// Key argument indexes for `argv` (COMMAND GETKEYS, WATCH-like uses).
    pub fn key_indexes(&self, argc: usize) -> Vec<usize> {
        if self.first_key <= 0 {
            return vec![];
        }
        let last = if self.last_key < 0 { argc as i32 + self.last_key } else { self.last_key };
        let step = self.key_step.max(1);
        let mut v = vec![];
        let mut i = self.first_key;
        while i <= last && (i as usize) < argc {
            v.push(i as usize);
            i += step;
        }
        v
    }
}

/// A command in the runtime table.
#[derive(Debug)]
pub struct Cmd {
    /// Index into stats arrays.
    pub id: usize,
    pub def: &'static Command,
    /// "get", or "config|get" for a subcommand.
    pub fullname: String,
    pub parent: Option<usize>,
    /// Subcommand name to id.
    pub subs: HashMap<&'static str, usize>,
}

/// The runtime command table, built once from every family's static slice.
#[derive(Debug)]
pub struct CommandTable {
    pub cmds: Vec<Cmd>,
    top: HashMap<&'static str, usize, ahash::RandomState>,
}

/// Every family's commands. A new family adds its slice here.
fn families() -> Vec<&'static [Command]> {
    vec![
        super::strings::COMMANDS,
        super::bitops::COMMANDS,
        super::keys::COMMANDS,
        super::expire::COMMANDS,
        super::connection::COMMANDS,
        super::server_cmds::COMMANDS,
        super::replication::COMMANDS,
        super::client_cmd::COMMANDS,
        super::command_cmd::COMMANDS,
        super::info::COMMANDS,
        super::debug::COMMANDS,
        super::memory::COMMANDS,
        super::config_cmd::COMMANDS,
        super::multi::COMMANDS,
        super::pubsub::COMMANDS,
        super::lists::COMMANDS,
        super::hashes::COMMANDS,
        super::sets::COMMANDS,
        super::zsets::COMMANDS,
        super::sort::COMMANDS,
        super::dump::COMMANDS,
    ]
}

/// Names changed by `rename-command` (see [`CommandTable::rename_plan`]).
pub type Renames = HashMap<String, Option<usize>>;

/// The `rename-command` lines in effect, set once at startup.
static RENAMES: OnceLock<Renames> = OnceLock::new();

/// Longest command name accepted for lookup; longer names are unknown commands.
const MAX_NAME: usize = 64;

impl CommandTable {
    fn build() -> Self {
        let mut t = CommandTable { cmds: Vec::new(), top: HashMap::default() };
        for fam in families() {
            for def in fam.iter() {
                let id = t.cmds.len();
                assert!(t.top.insert(def.name, id).is_none(), "duplicate command {}", def.name);
                t.cmds.push(Cmd { id, def, fullname: def.name.to_string(), parent: None, subs: HashMap::new() });
                for sub in def.subcommands.iter() {
                    let sid = t.cmds.len();
                    t.cmds.push(Cmd {
                        id: sid,
                        def: sub,
                        fullname: format!("{}|{}", def.name, sub.name),
                        parent: Some(id),
                        subs: HashMap::new(),
                    });
                    t.cmds[id].subs.insert(sub.name, sid);
                }
            }
        }
        t
    }

    /// The process-wide table.
    pub fn get() -> &'static CommandTable {
        static T: OnceLock<CommandTable> = OnceLock::new();
        T.get_or_init(CommandTable::build)
    }

    /// Case-insensitive lookup of a top-level command, without allocating. Names changed
    /// by `rename-command` are looked up under their new names only.
    #[inline]
    pub fn lookup(&self, name: &[u8]) -> Option<&Cmd> {
        let mut buf = [0u8; MAX_NAME];
        if name.len() > MAX_NAME {
            return None;
        }
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        let s = std::str::from_utf8(&buf[..name.len()]).ok()?;
        if let Some(renamed) = RENAMES.get().filter(|r| !r.is_empty()) {
            if let Some(&id) = renamed.get(s) {
                return id.map(|i| &self.cmds[i]);
            }
        }
        self.top.get(s).map(|&i| &self.cmds[i])
    }

    /// The effect of `rename-command` lines, in order (Redis's config.c): each removes a
    /// command's name and, unless the new name is empty, adds the command under the new
    /// one. Names map to the command now found under them (None: no longer a command).
    /// Errors as Redis's: the index of the bad line and its message.
    pub fn rename_plan(&self, pairs: &[(String, String)]) -> Result<Renames, (usize, &'static str)> {
        let mut plan: Renames = HashMap::new();
        for (n, (old, new)) in pairs.iter().enumerate() {
            let old = old.to_ascii_lowercase();
            let found = match plan.get(old.as_str()) {
                Some(id) => *id,
                None => self.top.get(old.as_str()).copied(),
            };
            let Some(id) = found else { return Err((n, "No such command in rename-command")) };
            plan.insert(old, None);
            if !new.is_empty() {
                let new = new.to_ascii_lowercase();
                let taken = match plan.get(new.as_str()) {
                    Some(id) => id.is_some(),
                    None => self.top.contains_key(new.as_str()),
                };
                if taken {
                    return Err((n, "Target command name already exists"));
                }
                plan.insert(new, Some(id));
            }
        }
        Ok(plan)
    }

    /// Installs the server's `rename-command` lines (once, at startup, before any command
    /// runs; the table is process-wide as the server is).
    pub fn install_renames(&self, pairs: &[(String, String)]) -> Result<(), &'static str> {
        let plan = self.rename_plan(pairs).map_err(|(_, e)| e)?;
        let _ = RENAMES.set(plan);
        Ok(())
    }

    /// Case-insensitive lookup of a subcommand of `parent`.
    pub fn lookup_sub(&self, parent: &Cmd, name: &[u8]) -> Option<&Cmd> {
        if name.len() > MAX_NAME {
            return None;
        }
        let lower = name.to_ascii_lowercase();
        let s = std::str::from_utf8(&lower).ok()?;
        parent.subs.get(s).map(|&i| &self.cmds[i])
    }

    /// Top-level commands.
    pub fn top_level(&self) -> impl Iterator<Item = &Cmd> {
        self.cmds.iter().filter(|c| c.parent.is_none())
    }

    pub fn len(&self) -> usize {
        self.cmds.len()
    }
    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// COMMAND INFO's (first, last, step) is what Redis derives from the key specs, for
    /// every command that has key specs (hand-written triples once drifted from them).
    #[test]
    fn legacy_key_ranges_follow_the_key_specs() {
        let mut wrong = Vec::new();
        for fam in families() {
            for def in fam.iter().flat_map(|d| std::iter::once(d).chain(d.subcommands.iter())) {
                if def.key_specs.is_empty() {
                    continue;
                }
                let want = legacy_range(def.key_specs);
                if (def.first_key, def.last_key, def.key_step) != want {
                    wrong.push(format!(
                        "{}: {:?} != {:?}",
                        def.name,
                        (def.first_key, def.last_key, def.key_step),
                        want
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
