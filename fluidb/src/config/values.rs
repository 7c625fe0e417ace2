//! Directive kinds and the typed values stored in [`super::Config`].
//!
//! Each field type implements [`Value`]: how to parse arguments (config line
//! or CONFIG SET), how CONFIG GET prints it, and how CONFIG REWRITE writes
//! it. The [`Kind`] stored in the directive table selects the exact rules
//! (bounds, units, error texts), so one Rust type can serve many directives.

use std::path::Path;

use super::cstr::{
    atoi, c_eq_ignore_case, c_str, c_string, format_double_trimmed, format_memory, parse_memory, repr, strerror,
    string2d, string2ll, strtoll, strtoll_full,
};
use super::notify;
use super::runtime::RewriteState;

/// How a numeric directive is written and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumFormat {
    /// Plain decimal integer (`string2ll` rules).
    Integer,
    /// Bytes with optional unit (`1gb`, `100mb`, `64k` ...).
    Memory,
    /// Bytes, or a percentage written `N%` (stored negated, as Redis does).
    MemoryOrPercent,
    /// Octal digits (`unixsocketperm`).
    Octal,
}

/// Bounds and format of a numeric directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumSpec {
    /// Lowest accepted value (as `i64`; reinterpreted as `u64` when `unsigned`).
    pub min: i64,
    /// Highest accepted value (as `i64`; reinterpreted as `u64` when `unsigned`).
    pub max: i64,
    /// Redis compares `unsigned int`, `size_t` and `unsigned long long`
    /// configs as unsigned, which changes both the check and the message.
    pub unsigned: bool,
    /// Accepted spelling.
    pub format: NumFormat,
}

/// Directives whose arguments need bespoke handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// `dir`: must be an existing directory; stored absolute.
    Dir,
    /// `save <seconds> <changes> ...`.
    Save,
    /// `bind <addr> ...` (at most 16).
    Bind,
    /// `replicaof <host> <port>` / `replicaof no one`, KeyDB multi-master aware.
    Replicaof,
    /// `client-output-buffer-limit <class> <hard> <soft> <seconds> ...`.
    ClientOutputBufferLimit,
    /// `oom-score-adj-values <master> <replica> <bgchild>`.
    OomScoreAdjValues,
    /// `notify-keyspace-events <classes>`.
    NotifyKeyspaceEvents,
    /// `latency-tracking-info-percentiles <p> ...`.
    LatencyPercentiles,
    /// `shutdown-on-sigint` / `shutdown-on-sigterm` flag words.
    ShutdownOnSignal,
    /// KeyDB `server-threads` (1..=16, KeyDB's error text).
    ServerThreads,
    /// KeyDB `server-thread-affinity true|false|<first core + 1>`.
    ThreadAffinity,
    /// KeyDB `storage-provider <name> [args]`.
    StorageProvider,
    /// KeyDB `tls-allowlist <name> ...`.
    TlsAllowlist,
}

/// Optional validity check for string directives; returns Redis's message.
pub type StrCheck = fn(&[u8]) -> Result<(), &'static str>;

/// The kind of a directive: what its argument looks like.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `yes`/`no` (case-insensitive). KeyDB-only booleans also take `true`/`false`.
    Bool {
        /// Accept `true`/`false` as KeyDB does.
        true_false: bool,
        /// Refuse `yes` with this message (a feature fluidB cannot enable).
        deny_yes: Option<&'static str>,
    },
    /// Integer, memory size, percentage or octal number within bounds.
    Int(NumSpec),
    /// One of a fixed set of names (listed in error messages in this order).
    Enum(&'static [&'static str]),
    /// A C string. `empty_is_null`: the empty string means "unset".
    Str {
        /// Whether `""` clears the value (`None`).
        empty_is_null: bool,
        /// Extra validation with Redis's error message.
        check: Option<StrCheck>,
    },
    /// A binary-safe string (`requirepass`, `masterauth`); `""` means unset.
    Bytes,
    /// Bespoke parsing, see [`Special`].
    Special(Special),
}

/// State that influences parsing but is not the field itself.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx {
    /// Reading a config file (some directives accumulate) rather than CONFIG SET.
    pub reading_file: bool,
    /// `multi-master yes` is in effect: `replicaof` adds instead of replacing.
    pub multi_master: bool,
}

/// Behaviour shared by every field type of [`super::Config`].
pub(crate) trait Value: Clone + PartialEq + Sized {
    /// Parses the arguments that follow the directive name.
    fn parse(kind: &Kind, args: &[&[u8]], old: &Self, ctx: &Ctx) -> Result<Self, String>;
    /// The CONFIG GET text.
    fn format(&self, kind: &Kind) -> String;
    /// Emits CONFIG REWRITE lines for the directive `name`.
    fn rewrite(&self, default: &Self, kind: &Kind, name: &'static str, st: &mut RewriteState);
}

fn single<'a>(args: &[&'a [u8]]) -> &'a [u8] {
    args.first().copied().unwrap_or(b"")
}

// ---------------------------------------------------------------- booleans

impl Value for bool {
    fn parse(kind: &Kind, args: &[&[u8]], _old: &Self, _ctx: &Ctx) -> Result<Self, String> {
        let a = single(args);
        let (true_false, deny_yes) = match kind {
            Kind::Bool { true_false, deny_yes } => (*true_false, *deny_yes),
            _ => (false, None),
        };
        if c_eq_ignore_case(a, "yes") || (true_false && c_eq_ignore_case(a, "true")) {
            match deny_yes {
                Some(why) => Err(why.to_string()),
                None => Ok(true),
            }
        } else if c_eq_ignore_case(a, "no") || (true_false && c_eq_ignore_case(a, "false")) {
            Ok(false)
        } else {
            Err("argument must be 'yes' or 'no'".into())
        }
    }
    fn format(&self, _kind: &Kind) -> String {
        yes_no(*self).into()
    }
    fn rewrite(&self, default: &Self, _kind: &Kind, name: &'static str, st: &mut RewriteState) {
        st.line(name, format!("{name} {}", yes_no(*self)), self != default);
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

// ----------------------------------------------------------------- numbers

/// Parses one numeric argument the way `numericParseString` +
/// `numericBoundaryCheck` do, returning Redis's representation (`long long`).
pub(crate) fn parse_number(spec: &NumSpec, arg: &[u8]) -> Result<i64, String> {
    let mut parsed = None;
    if matches!(spec.format, NumFormat::Memory | NumFormat::MemoryOrPercent) {
        parsed = parse_memory(arg).map(|v| v as i64);
    }
    if parsed.is_none() && spec.format == NumFormat::MemoryOrPercent {
        if let Some(digits) = arg.strip_suffix(b"%") {
            if !digits.is_empty() {
                parsed = string2ll(digits).filter(|v| *v >= 0).map(|v| -v);
            }
        }
    }
    if parsed.is_none() && spec.format == NumFormat::Octal {
        let s = c_str(arg);
        let (v, used, overflow) = strtoll(s, 8);
        if !overflow && used == s.len() {
            parsed = Some(v);
        }
    }
    if parsed.is_none() && spec.format == NumFormat::Integer {
        parsed = string2ll(arg);
    }
    let v = parsed.ok_or_else(|| {
        match spec.format {
            NumFormat::MemoryOrPercent => "argument must be a memory or percent value",
            NumFormat::Memory => "argument must be a memory value",
            NumFormat::Octal => "argument couldn't be parsed as an octal number",
            NumFormat::Integer => "argument couldn't be parsed into an integer",
        }
        .to_string()
    })?;
    check_bounds(spec, v)?;
    Ok(v)
}

fn check_bounds(spec: &NumSpec, v: i64) -> Result<(), String> {
    if spec.unsigned {
        let (u, lo, hi) = (v as u64, spec.min as u64, spec.max as u64);
        if u > hi || u < lo {
            return Err(if spec.format == NumFormat::Octal {
                format!("argument must be between {lo:o} and {hi:o} inclusive")
            } else {
                format!("argument must be between {lo} and {hi} inclusive")
            });
        }
    } else if spec.format == NumFormat::MemoryOrPercent && v < 0 {
        if v < spec.min {
            return Err(format!("percentage argument must be less or equal to {}", spec.min.wrapping_neg()));
        }
    } else if v > spec.max || v < spec.min {
        return Err(format!("argument must be between {} and {} inclusive", spec.min, spec.max));
    }
    Ok(())
}

/// CONFIG GET text of a number (`numericConfigGet`).
pub(crate) fn format_number(spec: &NumSpec, v: i64) -> String {
    match spec.format {
        NumFormat::MemoryOrPercent if v < 0 => format!("{}%", v.wrapping_neg()),
        NumFormat::Memory | NumFormat::MemoryOrPercent => (v as u64).to_string(),
        NumFormat::Octal => format!("{:o}", v as u64),
        NumFormat::Integer => v.to_string(),
    }
}

fn rewrite_number(spec: &NumSpec, v: i64, default: i64, name: &'static str, st: &mut RewriteState) {
    let (line, force) = match spec.format {
        NumFormat::MemoryOrPercent if v < 0 => {
            let pct = v.wrapping_neg();
            (format!("{name} {pct}%"), pct != default)
        }
        NumFormat::Memory | NumFormat::MemoryOrPercent => (format!("{name} {}", format_memory(v)), v != default),
        NumFormat::Octal => (format!("{name} {:o}", v as u64), v != default),
        NumFormat::Integer => (format!("{name} {v}"), v != default),
    };
    st.line(name, line, force);
}

const NO_SPEC: NumSpec = NumSpec { min: i64::MIN, max: i64::MAX, unsigned: false, format: NumFormat::Integer };

fn parse_int_kind(kind: &Kind, args: &[&[u8]]) -> Result<i64, String> {
    let a = single(args);
    match kind {
        Kind::Int(spec) => parse_number(spec, a),
        Kind::Special(Special::NotifyKeyspaceEvents) => {
            notify::bytes_to_flags(a).map(i64::from).ok_or_else(|| notify::BAD_CLASS.to_string())
        }
        Kind::Special(Special::ServerThreads) => match string2ll(a) {
            Some(n) if (1..=MAX_SERVER_THREADS).contains(&n) => Ok(n),
            _ => Err("Invalid number of threads specified".into()),
        },
        _ => parse_number(&NO_SPEC, a),
    }
}

/// KeyDB's `MAX_EVENT_LOOPS`.
pub const MAX_SERVER_THREADS: i64 = 16;

fn format_int_kind(kind: &Kind, v: i64) -> String {
    match kind {
        Kind::Int(spec) => format_number(spec, v),
        Kind::Special(Special::NotifyKeyspaceEvents) => notify::flags_to_keyspace_events(v as u32),
        _ => v.to_string(),
    }
}

fn rewrite_int_kind(kind: &Kind, v: i64, default: i64, name: &'static str, st: &mut RewriteState) {
    match kind {
        Kind::Int(spec) => rewrite_number(spec, v, default, name, st),
        Kind::Special(Special::NotifyKeyspaceEvents) => {
            let flags = notify::flags_to_keyspace_events(v as u32);
            st.line(name, format!("{name} {}", repr(flags.as_bytes())), v != 0);
        }
        _ => rewrite_number(&NO_SPEC, v, default, name, st),
    }
}

/// Integer field types; conversions wrap exactly like C's casts.
macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn parse(kind: &Kind, args: &[&[u8]], _old: &Self, _ctx: &Ctx) -> Result<Self, String> {
                parse_int_kind(kind, args).map(|v| v as $t)
            }
            fn format(&self, kind: &Kind) -> String {
                format_int_kind(kind, *self as i64)
            }
            fn rewrite(&self, default: &Self, kind: &Kind, name: &'static str, st: &mut RewriteState) {
                rewrite_int_kind(kind, *self as i64, *default as i64, name, st)
            }
        }
    )*};
}
int_value!(i32, u32, u16, i64, u64);

/// `maxmemory-clients`: bytes, or a percentage of `maxmemory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryOrPercent {
    /// An absolute number of bytes (0 = no limit).
    Bytes(u64),
    /// A percentage (1..=100) of `maxmemory`.
    Percent(u64),
}

impl MemoryOrPercent {
    fn to_redis(self) -> i64 {
        match self {
            MemoryOrPercent::Bytes(b) => b as i64,
            MemoryOrPercent::Percent(p) => (p as i64).wrapping_neg(),
        }
    }
    fn from_redis(v: i64) -> Self {
        if v < 0 {
            MemoryOrPercent::Percent(v.unsigned_abs())
        } else {
            MemoryOrPercent::Bytes(v as u64)
        }
    }
}

impl Value for MemoryOrPercent {
    fn parse(kind: &Kind, args: &[&[u8]], _old: &Self, _ctx: &Ctx) -> Result<Self, String> {
        parse_int_kind(kind, args).map(Self::from_redis)
    }
    fn format(&self, kind: &Kind) -> String {
        format_int_kind(kind, self.to_redis())
    }
    fn rewrite(&self, default: &Self, kind: &Kind, name: &'static str, st: &mut RewriteState) {
        rewrite_int_kind(kind, self.to_redis(), default.to_redis(), name, st)
    }
}

// ----------------------------------------------------------------- strings

fn check_str(kind: &Kind, v: &[u8]) -> Result<(), String> {
    if let Kind::Str { check: Some(f), .. } = kind {
        f(v).map_err(str::to_string)?;
    }
    Ok(())
}

/// Resolves `dir` like `chdir` would, relative to the previous `dir`.
pub(crate) fn resolve_dir(base: &str, arg: &[u8]) -> Result<String, String> {
    let arg = c_string(arg);
    let path = Path::new(base).join(&arg);
    let canonical = std::fs::canonicalize(&path).map_err(|e| strerror(&e))?;
    let meta = std::fs::metadata(&canonical).map_err(|e| strerror(&e))?;
    if !meta.is_dir() {
        return Err("Not a directory".into());
    }
    Ok(canonical.to_string_lossy().into_owned())
}

impl Value for String {
    fn parse(kind: &Kind, args: &[&[u8]], old: &Self, _ctx: &Ctx) -> Result<Self, String> {
        let a = c_str(single(args));
        if let Kind::Special(Special::Dir) = kind {
            return resolve_dir(old, a);
        }
        check_str(kind, a)?;
        Ok(c_string(a))
    }
    fn format(&self, _kind: &Kind) -> String {
        self.clone()
    }
    fn rewrite(&self, default: &Self, kind: &Kind, name: &'static str, st: &mut RewriteState) {
        // `dir` has no default in Redis, so it is always written.
        let force = matches!(kind, Kind::Special(Special::Dir)) || self != default;
        st.line(name, format!("{name} {}", repr(self.as_bytes())), force);
    }
}

impl Value for Option<String> {
    fn parse(kind: &Kind, args: &[&[u8]], _old: &Self, _ctx: &Ctx) -> Result<Self, String> {
        let a = c_str(single(args));
        check_str(kind, a)?;
        Ok(if a.is_empty() { None } else { Some(c_string(a)) })
    }
    fn format(&self, _kind: &Kind) -> String {
        self.clone().unwrap_or_default()
    }
    fn rewrite(&self, default: &Self, _kind: &Kind, name: &'static str, st: &mut RewriteState) {
        match self {
            None => st.mark(name),
            Some(v) => {
                let force = default.as_deref() != Some(v.as_str());
                st.line(name, format!("{name} {}", repr(v.as_bytes())), force);
            }
        }
    }
}

/// Binary-safe secrets (SDS configs in Redis): NUL bytes are kept.
impl Value for Option<Vec<u8>> {
    fn parse(_kind: &Kind, args: &[&[u8]], _old: &Self, _ctx: &Ctx) -> Result<Self, String> {
        let a = single(args);
        Ok(if a.is_empty() { None } else { Some(a.to_vec()) })
    }
    fn format(&self, _kind: &Kind) -> String {
        self.as_deref().map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default()
    }
    fn rewrite(&self, default: &Self, _kind: &Kind, name: &'static str, st: &mut RewriteState) {
        match self {
            None => st.mark(name),
            Some(v) => {
                let force = default.as_deref() != Some(v.as_slice());
                st.line(name, format!("{name} {}", repr(v)), force);
            }
        }
    }
}

// ------------------------------------------------------------------- enums

/// Enumerated directive values: a Rust enum plus its Redis names.
pub(crate) trait ConfigEnum: Copy + PartialEq + 'static {
    /// Names and values; several names may map to one value (the first one
    /// is what CONFIG GET prints).
    const TABLE: &'static [(&'static str, Self)];
}

fn enum_error(names: &[&str]) -> String {
    let mut s = format!("argument(s) must be one of the following: {}", names.join(", "));
    // Redis copies the message into a 256-byte buffer.
    s.truncate(255);
    s
}

pub(crate) fn enum_names<E: ConfigEnum>() -> Vec<&'static str> {
    E::TABLE.iter().map(|(n, _)| *n).collect()
}

pub(crate) fn parse_enum<E: ConfigEnum>(arg: &[u8]) -> Result<E, String> {
    E::TABLE
        .iter()
        .find(|(n, _)| c_eq_ignore_case(arg, n))
        .map(|(_, v)| *v)
        .ok_or_else(|| enum_error(&enum_names::<E>()))
}

pub(crate) fn enum_name<E: ConfigEnum>(v: E) -> &'static str {
    E::TABLE.iter().find(|(_, x)| *x == v).map(|(n, _)| *n).unwrap_or("unknown")
}

/// Declares a directive enum with its Redis spellings.
macro_rules! config_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)* ),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name { $( $(#[$vmeta])* $variant ),* }
        impl ConfigEnum for $name {
            const TABLE: &'static [(&'static str, Self)] = &[ $( ($text, $name::$variant), $( ($alias, $name::$variant), )* )* ];
        }
        impl $name {
            /// Names accepted by the directive, in Redis's order.
            pub const NAMES: &'static [&'static str] = &[ $( $text, $( $alias, )* )* ];
            /// The name CONFIG GET prints.
            pub fn as_str(self) -> &'static str { enum_name(self) }
        }
        impl Value for $name {
            fn parse(_kind: &Kind, args: &[&[u8]], _old: &Self, _ctx: &Ctx) -> Result<Self, String> {
                parse_enum(single(args))
            }
            fn format(&self, _kind: &Kind) -> String { enum_name(*self).to_string() }
            fn rewrite(&self, default: &Self, _kind: &Kind, name: &'static str, st: &mut RewriteState) {
                st.line(name, format!("{name} {}", enum_name(*self)), self != default);
            }
        }
    };
}

config_enum! {
    /// `loglevel`: how much the server logs.
    pub enum LogLevel { Debug = "debug", Verbose = "verbose", Notice = "notice", Warning = "warning" }
}

impl LogLevel {
    /// Whether a message at `level` should be written under this setting.
    pub fn allows(self, level: LogLevel) -> bool {
        (level as u8) >= (self as u8)
    }
}

config_enum! {
    /// `maxmemory-policy`.
    pub enum MaxmemoryPolicy {
        VolatileLru = "volatile-lru", VolatileLfu = "volatile-lfu", VolatileRandom = "volatile-random",
        VolatileTtl = "volatile-ttl", AllkeysLru = "allkeys-lru", AllkeysLfu = "allkeys-lfu",
        AllkeysRandom = "allkeys-random", Noeviction = "noeviction",
    }
}
config_enum! {
    /// `syslog-facility`.
    pub enum SyslogFacility {
        User = "user", Local0 = "local0", Local1 = "local1", Local2 = "local2", Local3 = "local3",
        Local4 = "local4", Local5 = "local5", Local6 = "local6", Local7 = "local7",
    }
}
config_enum! {
    /// `supervised`.
    pub enum Supervised { Upstart = "upstart", Systemd = "systemd", Auto = "auto", No = "no" }
}
config_enum! {
    /// `appendfsync`.
    pub enum AppendFsync { Everysec = "everysec", Always = "always", No = "no" }
}
config_enum! {
    /// `repl-diskless-load`.
    pub enum ReplDisklessLoad { Disabled = "disabled", OnEmptyDb = "on-empty-db", Swapdb = "swapdb" }
}
config_enum! {
    /// `tls-auth-clients`.
    pub enum TlsAuthClients { No = "no", Yes = "yes", Optional = "optional" }
}
config_enum! {
    /// `oom-score-adj` (`yes` is an alias of `relative`; CONFIG GET prints `yes`).
    pub enum OomScoreAdj { No = "no", Relative = "yes" | "relative", Absolute = "absolute" }
}
config_enum! {
    /// `acl-pubsub-default`.
    pub enum AclPubsubDefault { AllChannels = "allchannels", ResetChannels = "resetchannels" }
}
config_enum! {
    /// `sanitize-dump-payload`.
    pub enum SanitizeDumpPayload { No = "no", Yes = "yes", Clients = "clients" }
}
config_enum! {
    /// `enable-debug-command`, `enable-module-command`, `enable-protected-configs`.
    pub enum ProtectedAction { No = "no", Yes = "yes", Local = "local" }
}
config_enum! {
    /// `cluster-preferred-endpoint-type`.
    pub enum ClusterEndpointType { Ip = "ip", Hostname = "hostname", UnknownEndpoint = "unknown-endpoint" }
}
config_enum! {
    /// `propagation-error-behavior`.
    pub enum PropagationErrorBehavior { Ignore = "ignore", Panic = "panic", PanicOnReplicas = "panic-on-replicas" }
}
config_enum! {
    /// KeyDB `storage-cache-mode`.
    pub enum StorageCacheMode { Writethrough = "writethrough", Writeback = "writeback" }
}

/// `shutdown-on-sigint` / `shutdown-on-sigterm`: a set of flag words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ShutdownFlags(pub u32);

impl ShutdownFlags {
    /// `save`: save before exiting even without save points.
    pub const SAVE: u32 = 1;
    /// `nosave`: never save.
    pub const NOSAVE: u32 = 2;
    /// `now`: do not wait for lagging replicas.
    pub const NOW: u32 = 4;
    /// `force`: exit even if saving fails.
    pub const FORCE: u32 = 8;
    const TABLE: [(&'static str, u32); 5] =
        [("default", 0), ("save", Self::SAVE), ("nosave", Self::NOSAVE), ("now", Self::NOW), ("force", Self::FORCE)];
}

impl Value for ShutdownFlags {
    fn parse(_kind: &Kind, args: &[&[u8]], _old: &Self, _ctx: &Ctx) -> Result<Self, String> {
        let names = || enum_error(&Self::TABLE.map(|(n, _)| n));
        if args.is_empty() {
            return Err(names());
        }
        let mut flags = 0;
        for a in args {
            let bit = Self::TABLE.iter().find(|(n, _)| c_eq_ignore_case(a, n)).map(|(_, b)| *b).ok_or_else(names)?;
            flags |= bit;
        }
        if flags & Self::SAVE != 0 && flags & Self::NOSAVE != 0 {
            return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
        }
        Ok(ShutdownFlags(flags))
    }
    fn format(&self, _kind: &Kind) -> String {
        if self.0 == 0 {
            return "default".into();
        }
        Self::TABLE.iter().filter(|(_, b)| *b != 0 && self.0 & b != 0).map(|(n, _)| *n).collect::<Vec<_>>().join(" ")
    }
    fn rewrite(&self, default: &Self, kind: &Kind, name: &'static str, st: &mut RewriteState) {
        st.line(name, format!("{name} {}", self.format(kind)), self != default);
    }
}

// --------------------------------------------------------- special values

const SAVE_ERR: &str = "Invalid save parameters";

/// `save`: `(seconds, changes)` points.
impl Value for Vec<(u64, u64)> {
    fn parse(_kind: &Kind, args: &[&[u8]], old: &Self, ctx: &Ctx) -> Result<Self, String> {
        let mut base = if ctx.reading_file { old.clone() } else { Vec::new() };
        let mut args = args;
        // `save ""` is "no save points", and resets those read so far.
        if args.len() == 1 && c_str(args[0]).is_empty() {
            base.clear();
            args = &[];
        }
        if !args.len().is_multiple_of(2) {
            return Err(SAVE_ERR.into());
        }
        let mut points = Vec::with_capacity(args.len() / 2);
        for pair in args.chunks(2) {
            let secs = strtoll_full(pair[0]).filter(|v| *v >= 1).ok_or(SAVE_ERR)?;
            let changes = strtoll_full(pair[1]).filter(|v| *v >= 0).ok_or(SAVE_ERR)?;
            points.push((secs as u64, changes as u64));
        }
        base.extend(points);
        Ok(base)
    }
    fn format(&self, _kind: &Kind) -> String {
        self.iter().map(|(s, c)| format!("{s} {c}")).collect::<Vec<_>>().join(" ")
    }
    fn rewrite(&self, _default: &Self, _kind: &Kind, name: &'static str, st: &mut RewriteState) {
        if self.is_empty() {
            st.line(name, format!("{name} \"\""), true);
        }
        for (s, c) in self {
            st.line(name, format!("{name} {s} {c}"), true);
        }
        st.mark(name);
    }
}

/// Redis's `CONFIG_BINDADDR_MAX`.
pub const MAX_BIND_ADDRESSES: usize = 16;

/// `bind`, `storage-provider`, `tls-allowlist`: lists of words.
impl Value for Vec<String> {
    fn parse(kind: &Kind, args: &[&[u8]], old: &Self, ctx: &Ctx) -> Result<Self, String> {
        let words = || args.iter().map(|a| c_string(a)).collect::<Vec<_>>();
        match kind {
            Kind::Special(Special::Bind) => {
                if args.len() > MAX_BIND_ADDRESSES {
                    return Err("Too many bind addresses specified.".into());
                }
                if args.len() == 1 && args[0].is_empty() {
                    return Ok(Vec::new());
                }
                Ok(words())
            }
            Kind::Special(Special::TlsAllowlist) => {
                if ctx.reading_file {
                    if args.is_empty() {
                        return Err("must supply at least one element in the allow list".into());
                    }
                    if !old.is_empty() {
                        return Err("tls-allowlist may only be set once".into());
                    }
                }
                Ok(words())
            }
            _ => {
                if args.is_empty() {
                    return Err("wrong number of arguments".into());
                }
                Ok(words())
            }
        }
    }
    fn format(&self, _kind: &Kind) -> String {
        self.join(" ")
    }
    fn rewrite(&self, default: &Self, kind: &Kind, name: &'static str, st: &mut RewriteState) {
        if matches!(kind, Kind::Special(Special::Bind)) {
            if self == default {
                st.mark(name);
                return;
            }
            let addrs = if self.is_empty() { "\"\"".to_string() } else { self.join(" ") };
            st.line(name, format!("{name} {addrs}"), true);
            return;
        }
        if self.is_empty() {
            st.mark(name);
        } else {
            let words: Vec<String> = self.iter().map(|w| repr(w.as_bytes())).collect();
            st.line(name, format!("{name} {}", words.join(" ")), true);
        }
    }
}

/// `replicaof`: the masters, in order. Without `multi-master` there is at
/// most one; with it each `replicaof` line adds one (KeyDB).
impl Value for Vec<(String, u16)> {
    fn parse(_kind: &Kind, args: &[&[u8]], old: &Self, ctx: &Ctx) -> Result<Self, String> {
        if args.len() != 2 {
            return Err("wrong number of arguments".into());
        }
        if c_eq_ignore_case(args[0], "no") && c_eq_ignore_case(args[1], "one") {
            return Ok(Vec::new());
        }
        let port = strtoll_full(args[1]).filter(|p| (0..=65535).contains(p)).ok_or("Invalid master port")? as u16;
        let master = (c_string(args[0]), port);
        if ctx.multi_master {
            let mut masters = old.clone();
            if !masters.contains(&master) {
                masters.push(master);
            }
            Ok(masters)
        } else {
            Ok(vec![master])
        }
    }
    fn format(&self, _kind: &Kind) -> String {
        self.first().map(|(h, p)| format!("{h} {p}")).unwrap_or_default()
    }
    fn rewrite(&self, _default: &Self, _kind: &Kind, name: &'static str, st: &mut RewriteState) {
        for (h, p) in self {
            st.line(name, format!("{name} {h} {p}"), true);
        }
        st.mark(name);
    }
}

/// One class of `client-output-buffer-limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObufLimit {
    /// Disconnect as soon as the output buffer reaches this size (0 = off).
    pub hard_bytes: u64,
    /// Disconnect when the buffer stays above this size ...
    pub soft_bytes: u64,
    /// ... for this many seconds.
    pub soft_seconds: i64,
}

/// `client-output-buffer-limit` for the three client classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOutputBufferLimits {
    /// Ordinary clients (including MONITOR).
    pub normal: ObufLimit,
    /// Replicas (`slave` / `replica`).
    pub replica: ObufLimit,
    /// Pub/Sub subscribers.
    pub pubsub: ObufLimit,
}

impl Default for ClientOutputBufferLimits {
    fn default() -> Self {
        ClientOutputBufferLimits {
            normal: ObufLimit { hard_bytes: 0, soft_bytes: 0, soft_seconds: 0 },
            replica: ObufLimit { hard_bytes: 256 << 20, soft_bytes: 64 << 20, soft_seconds: 60 },
            pubsub: ObufLimit { hard_bytes: 32 << 20, soft_bytes: 8 << 20, soft_seconds: 60 },
        }
    }
}

impl ClientOutputBufferLimits {
    fn classes(&self) -> [(&'static str, ObufLimit); 3] {
        [("normal", self.normal), ("slave", self.replica), ("pubsub", self.pubsub)]
    }
    fn class_mut(&mut self, idx: usize) -> &mut ObufLimit {
        match idx {
            0 => &mut self.normal,
            1 => &mut self.replica,
            _ => &mut self.pubsub,
        }
    }
}

impl Value for ClientOutputBufferLimits {
    fn parse(_kind: &Kind, args: &[&[u8]], old: &Self, _ctx: &Ctx) -> Result<Self, String> {
        if !args.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut new = *old;
        for chunk in args.chunks(4) {
            let class = ["normal", "slave", "replica", "pubsub"]
                .iter()
                .position(|c| c_eq_ignore_case(chunk[0], c))
                .map(|i| if i >= 2 { i - 1 } else { i })
                .ok_or("Invalid client class specified in buffer limit configuration.")?;
            const BAD: &str = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            let hard = parse_memory(chunk[1]).ok_or(BAD)?;
            let soft = parse_memory(chunk[2]).ok_or(BAD)?;
            // Redis stores the seconds in an `int` before checking the sign.
            let secs = strtoll_full(chunk[3]).ok_or(BAD)? as i32;
            if secs < 0 {
                return Err(BAD.into());
            }
            *new.class_mut(class) = ObufLimit { hard_bytes: hard, soft_bytes: soft, soft_seconds: i64::from(secs) };
        }
        Ok(new)
    }
    fn format(&self, _kind: &Kind) -> String {
        self.classes()
            .iter()
            .map(|(n, l)| format!("{n} {} {} {}", l.hard_bytes, l.soft_bytes, l.soft_seconds))
            .collect::<Vec<_>>()
            .join(" ")
    }
    fn rewrite(&self, default: &Self, _kind: &Kind, name: &'static str, st: &mut RewriteState) {
        for ((class, l), (_, d)) in self.classes().iter().zip(default.classes()) {
            let class = if *class == "slave" { "replica" } else { class };
            let line = format!(
                "{name} {class} {} {} {}",
                format_memory(l.hard_bytes as i64),
                format_memory(l.soft_bytes as i64),
                l.soft_seconds
            );
            st.line(name, line, *l != d);
        }
    }
}

/// `oom-score-adj-values`: master, replica, background child.
impl Value for [i32; 3] {
    fn parse(_kind: &Kind, args: &[&[u8]], _old: &Self, _ctx: &Ctx) -> Result<Self, String> {
        if args.len() != 3 {
            return Err("wrong number of arguments".into());
        }
        let mut out = [0i32; 3];
        for (slot, a) in out.iter_mut().zip(args) {
            *slot = strtoll_full(a)
                .filter(|v| (-2000..=2000).contains(v))
                .ok_or("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")?
                as i32;
        }
        Ok(out)
    }
    fn format(&self, _kind: &Kind) -> String {
        self.map(|v| v.to_string()).join(" ")
    }
    fn rewrite(&self, default: &Self, kind: &Kind, name: &'static str, st: &mut RewriteState) {
        st.line(name, format!("{name} {}", self.format(kind)), self != default);
    }
}

/// `latency-tracking-info-percentiles`.
impl Value for Vec<f64> {
    fn parse(_kind: &Kind, args: &[&[u8]], _old: &Self, _ctx: &Ctx) -> Result<Self, String> {
        if args.len() == 1 && args[0].is_empty() {
            return Ok(Vec::new());
        }
        args.iter()
            .map(|a| {
                let p = string2d(a).ok_or("Invalid latency-tracking-info-percentiles parameters")?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".to_string()
                    );
                }
                Ok(p)
            })
            .collect()
    }
    fn format(&self, _kind: &Kind) -> String {
        self.iter().map(|p| format_double_trimmed(*p)).collect::<Vec<_>>().join(" ")
    }
    fn rewrite(&self, _default: &Self, kind: &Kind, name: &'static str, st: &mut RewriteState) {
        // Redis 7.0 always writes this line.
        let value = if self.is_empty() { "\"\"".to_string() } else { self.format(kind) };
        st.line(name, format!("{name} {value}"), true);
    }
}

/// KeyDB `server-thread-affinity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadAffinity {
    /// Threads are not pinned (`false`).
    Off,
    /// Thread `i` is pinned to core `offset + i` (`true` = offset 0, `N` = offset N-1).
    On {
        /// First core used.
        offset: u32,
    },
}

impl Value for ThreadAffinity {
    fn parse(_kind: &Kind, args: &[&[u8]], _old: &Self, _ctx: &Ctx) -> Result<Self, String> {
        let a = single(args);
        if c_eq_ignore_case(a, "true") {
            return Ok(ThreadAffinity::On { offset: 0 });
        }
        if c_eq_ignore_case(a, "false") {
            return Ok(ThreadAffinity::Off);
        }
        match atoi(a) {
            n if n > 0 => Ok(ThreadAffinity::On { offset: u32::try_from(n - 1).unwrap_or(u32::MAX) }),
            _ => Err("Unknown argument: server-thread-affinity expects either true or false".into()),
        }
    }
    fn format(&self, _kind: &Kind) -> String {
        match self {
            ThreadAffinity::Off => "false".into(),
            ThreadAffinity::On { offset: 0 } => "true".into(),
            ThreadAffinity::On { offset } => (u64::from(*offset) + 1).to_string(),
        }
    }
    fn rewrite(&self, default: &Self, kind: &Kind, name: &'static str, st: &mut RewriteState) {
        st.line(name, format!("{name} {}", self.format(kind)), self != default);
    }
}

// ------------------------------------------------------- string validators

/// `pathIsBaseName`.
fn is_base_name(v: &[u8]) -> bool {
    !v.contains(&b'/') && !v.contains(&b'\\')
}

pub(crate) fn check_dbfilename(v: &[u8]) -> Result<(), &'static str> {
    if is_base_name(v) {
        Ok(())
    } else {
        Err("dbfilename can't be a path, just a filename")
    }
}

pub(crate) fn check_appendfilename(v: &[u8]) -> Result<(), &'static str> {
    if v.is_empty() {
        Err("appendfilename can't be empty")
    } else if !is_base_name(v) {
        Err("appendfilename can't be a path, just a filename")
    } else {
        Ok(())
    }
}

pub(crate) fn check_appenddirname(v: &[u8]) -> Result<(), &'static str> {
    if v.is_empty() {
        Err("appenddirname can't be empty")
    } else if !is_base_name(v) {
        Err("appenddirname can't be a path, just a dirname")
    } else {
        Ok(())
    }
}

pub(crate) fn check_hostname(v: &[u8]) -> Result<(), &'static str> {
    if v.len() >= 256 {
        return Err("Hostnames must be less than 256 characters");
    }
    if v.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.') {
        Ok(())
    } else {
        Err("Hostnames may only contain alphanumeric characters, hyphens or dots")
    }
}

/// `validateProcTitleTemplate`: `{var}` placeholders must be known, braces
/// balanced (`{{` is a literal brace), and the expansion must not be empty.
/// Runtime-dependent variables are assumed empty except the address/ports.
pub(crate) fn check_proc_title(v: &[u8]) -> Result<(), &'static str> {
    // Redis validates with an empty title and otherwise real values: a template that
    // expands to nothing but spaces is refused.
    let out = expand_proc_title(v, |name| match name {
        b"title" | b"server-mode" | b"unixsocket" | b"config-file" => Some(Vec::new()),
        b"listen-addr" => Some(b"*:6379".to_vec()),
        b"port" | b"tls-port" => Some(b"0".to_vec()),
        _ => None,
    })
    .ok_or(PROC_TITLE_ERR)?;
    if out.is_empty() {
        Err(PROC_TITLE_ERR)
    } else {
        Ok(())
    }
}

const PROC_TITLE_ERR: &str = "template format is invalid or contains unknown variables";

/// Expands a `proc-title-template` as Redis's `sdstemplate` + `sdstrim(" ")` do: `{name}`
/// becomes `var(name)`, `{{` a literal `{`; `None` for an unknown variable or an
/// unterminated `{`.
pub fn expand_proc_title(v: &[u8], var: impl Fn(&[u8]) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let Some(open) = v[i..].iter().position(|&c| c == b'{').map(|k| i + k) else {
            out.extend_from_slice(&v[i..]);
            break;
        };
        out.extend_from_slice(&v[i..open]);
        let name_start = open + 1;
        match v.get(name_start) {
            None => return None,
            Some(b'{') => {
                out.push(b'{');
                i = name_start + 1;
                continue;
            }
            Some(_) => {}
        }
        let close = v[name_start..].iter().position(|&c| c == b'}').map(|k| name_start + k)?;
        out.extend_from_slice(&var(&v[name_start..close])?);
        i = close + 1;
    }
    let start = out.iter().position(|&c| c != b' ').unwrap_or(out.len());
    let end = out.iter().rposition(|&c| c != b' ').map_or(start, |k| k + 1);
    Some(out[start..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: Ctx = Ctx { reading_file: false, multi_master: false };

    fn int(min: i64, max: i64) -> NumSpec {
        NumSpec { min, max, unsigned: false, format: NumFormat::Integer }
    }

    #[test]
    fn number_errors_match_redis() {
        assert_eq!(parse_number(&int(0, 65535), b"abc").unwrap_err(), "argument couldn't be parsed into an integer");
        assert_eq!(
            parse_number(&int(1, i32::MAX as i64), b"0").unwrap_err(),
            "argument must be between 1 and 2147483647 inclusive"
        );
        let mem = NumSpec { min: 0, max: -1, unsigned: true, format: NumFormat::Memory };
        assert_eq!(parse_number(&mem, b"10qq").unwrap_err(), "argument must be a memory value");
        assert_eq!(parse_number(&mem, b"18446744073709551615").unwrap(), -1);
        let pct = NumSpec { min: -100, max: i64::MAX, unsigned: false, format: NumFormat::MemoryOrPercent };
        assert_eq!(parse_number(&pct, b"200%").unwrap_err(), "percentage argument must be less or equal to 100");
        assert_eq!(parse_number(&pct, b"x").unwrap_err(), "argument must be a memory or percent value");
        assert_eq!(parse_number(&pct, b"5%").unwrap(), -5);
        assert_eq!(format_number(&pct, -5), "5%");
        let oct = NumSpec { min: 0, max: 0o777, unsigned: true, format: NumFormat::Octal };
        assert_eq!(parse_number(&oct, b"999").unwrap_err(), "argument couldn't be parsed as an octal number");
        assert_eq!(parse_number(&oct, b"1777").unwrap_err(), "argument must be between 0 and 777 inclusive");
        assert_eq!(parse_number(&oct, b"0700").unwrap(), 0o700);
        assert_eq!(format_number(&oct, 0o700), "700");
    }

    #[test]
    fn enum_errors_and_aliases() {
        assert_eq!(
            LogLevel::parse(&Kind::Enum(LogLevel::NAMES), &[b"loud"], &LogLevel::Notice, &CTX).unwrap_err(),
            "argument(s) must be one of the following: debug, verbose, notice, warning"
        );
        let v = OomScoreAdj::parse(&Kind::Enum(OomScoreAdj::NAMES), &[b"relative"], &OomScoreAdj::No, &CTX).unwrap();
        assert_eq!(v.format(&Kind::Enum(OomScoreAdj::NAMES)), "yes");
        assert!(LogLevel::Notice.allows(LogLevel::Warning));
        assert!(!LogLevel::Notice.allows(LogLevel::Debug));
    }

    #[test]
    fn shutdown_flags() {
        let k = Kind::Special(Special::ShutdownOnSignal);
        let f = ShutdownFlags::parse(&k, &[b"save", b"now"], &ShutdownFlags(0), &CTX).unwrap();
        assert_eq!(f.format(&k), "save now");
        let f = ShutdownFlags::parse(&k, &[b"default", b"now"], &ShutdownFlags(0), &CTX).unwrap();
        assert_eq!(f.format(&k), "now");
        assert_eq!(
            ShutdownFlags::parse(&k, &[b"save", b"nosave"], &ShutdownFlags(0), &CTX).unwrap_err(),
            "shutdown options SAVE and NOSAVE can't be used simultaneously"
        );
        assert_eq!(
            ShutdownFlags::parse(&k, &[b"bogus"], &ShutdownFlags(0), &CTX).unwrap_err(),
            "argument(s) must be one of the following: default, save, nosave, now, force"
        );
    }

    #[test]
    fn proc_title_validation() {
        assert!(check_proc_title(b"{title} {listen-addr} {server-mode}").is_ok());
        assert!(check_proc_title(b"{title}").is_err());
        assert!(check_proc_title(b"{nope}").is_err());
        assert!(check_proc_title(b"x {").is_err());
        assert!(check_proc_title(b"{{literal").is_ok());
    }
}
