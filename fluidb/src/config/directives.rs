//! The directive table: every directive of Redis 7.0's `redis.conf` and of
//! KeyDB 6.3's `keydb.conf`, written once as data.
//!
//! The `config_table!` invocation below generates, from one line per
//! directive, both the typed [`Config`] struct (one public field per
//! directive, named after it in snake_case) and the [`DIRECTIVES`] table that
//! drives file parsing, CONFIG GET, CONFIG SET and CONFIG REWRITE. Adding a
//! directive means adding one line here.

use std::path::PathBuf;

use super::runtime::RewriteState;
use super::values::{
    check_appenddirname, check_appendfilename, check_dbfilename, check_hostname, check_proc_title, AclPubsubDefault,
    AppendFsync, ClientOutputBufferLimits, ClusterEndpointType, Ctx, Kind, LogLevel, MaxmemoryPolicy, MemoryOrPercent,
    NumFormat, NumSpec, OomScoreAdj, PropagationErrorBehavior, ProtectedAction, ReplDisklessLoad, SanitizeDumpPayload,
    ShutdownFlags, Special, StorageCacheMode, StrCheck, Supervised, SyslogFacility, ThreadAffinity, TlsAuthClients,
    Value,
};

/// CONFIG SET may change it (the absence of [`IMMUTABLE`]).
pub const MODIFIABLE: u32 = 0;
/// CONFIG SET refuses it: "can't set immutable config".
pub const IMMUTABLE: u32 = 1 << 0;
/// CONFIG SET needs `enable-protected-configs`: "can't set protected config".
pub const PROTECTED: u32 = 1 << 1;
/// Only an exact name finds it in CONFIG GET (no glob match). KeyDB's immutable directives
/// are hidden too: they are no part of Redis 7.0's configuration, whose tools (its test
/// suite's "CONFIG sanity") set every directive `CONFIG GET *` lists back to its value, as
/// only Redis's own immutable ones would refuse.
pub const HIDDEN: u32 = 1 << 2;
/// Holds a secret: the server should redact it from logs and SLOWLOG.
pub const SENSITIVE: u32 = 1 << 3;
/// CONFIG SET refuses it while loading the dataset.
pub const DENY_LOADING: u32 = 1 << 4;
/// Takes any number of arguments; CONFIG SET splits its value on spaces.
pub const MULTI_ARG: u32 = 1 << 5;
/// fluidB acts on it. Others are stored and reported but have no effect yet.
pub const IMPLEMENTED: u32 = 1 << 6;
/// Comes from KeyDB rather than Redis 7.0.
pub const KEYDB: u32 = 1 << 7;

/// Parses arguments into a [`Config`] field; `Ok(true)` when the value changed.
pub(crate) type SetFn = fn(&mut Config, &[&[u8]], &Ctx) -> Result<bool, String>;

/// One directive of the table.
pub struct Directive {
    /// Canonical name (what CONFIG REWRITE writes).
    pub name: &'static str,
    /// Other accepted names (`slaveof`, `hash-max-ziplist-entries`, ...).
    pub aliases: &'static [&'static str],
    /// Argument kind, bounds and spelling.
    pub kind: Kind,
    /// Combination of [`IMMUTABLE`], [`PROTECTED`], [`HIDDEN`], ... flags.
    pub flags: u32,
    /// Name of the [`Config`] field holding the value.
    pub field: &'static str,
    pub(crate) get: fn(&Config) -> String,
    pub(crate) set: SetFn,
    pub(crate) rewrite: fn(&Config, &mut RewriteState),
}

impl Directive {
    /// Whether CONFIG SET may change it.
    pub fn is_mutable(&self) -> bool {
        self.flags & IMMUTABLE == 0
    }
    /// Whether fluidB acts on the value.
    pub fn is_implemented(&self) -> bool {
        self.flags & IMPLEMENTED != 0
    }
    /// Whether the value is a secret.
    pub fn is_sensitive(&self) -> bool {
        self.flags & SENSITIVE != 0
    }
    /// Whether it takes several arguments.
    pub fn is_multi_arg(&self) -> bool {
        self.flags & MULTI_ARG != 0
    }
    /// The default, as CONFIG GET would print it.
    pub fn default_value(&self) -> String {
        (self.get)(&Config::default())
    }
    /// The current value in `cfg`, as CONFIG GET prints it.
    pub fn value(&self, cfg: &Config) -> String {
        (self.get)(cfg)
    }
}

impl std::fmt::Debug for Directive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directive")
            .field("name", &self.name)
            .field("aliases", &self.aliases)
            .field("kind", &self.kind)
            .field("flags", &self.flags)
            .finish()
    }
}

/// Finds a directive by name or alias, ASCII case-insensitively. Returns the
/// directive and the registered name that matched (canonical or alias).
pub fn lookup(name: &[u8]) -> Option<(&'static Directive, &'static str)> {
    DIRECTIVES.iter().find_map(|d| {
        std::iter::once(d.name)
            .chain(d.aliases.iter().copied())
            .find(|n| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|n| (d, n))
    })
}

/// Directives read only from config files: they have no CONFIG GET/SET entry
/// and CONFIG REWRITE leaves their lines alone (as Redis does).
pub const FILE_ONLY_DIRECTIVES: &[&str] = &["include", "rename-command", "user", "loadmodule", "sentinel"];

/// Directives Redis 7.0 or KeyDB still accept but ignore, with the number of
/// arguments (including the name) they must have; `None` means any.
pub const IGNORED_DIRECTIVES: &[(&str, Option<usize>)] = &[
    ("list-max-ziplist-entries", Some(2)),
    ("list-max-ziplist-value", Some(2)),
    ("lua-replicate-commands", Some(2)),
    ("version-override", Some(2)),
    ("testmode", Some(2)),
    ("rdbfuzz-mode", None),
    ("enable-pro", None),
];

// ------------------------------------------------------------ kind helpers

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;
/// `ULLONG_MAX` seen through Redis's `long long` bound fields.
const ULLONG_MAX: i64 = -1;

const BOOL: Kind = Kind::Bool { true_false: false, deny_yes: None };
/// KeyDB booleans also accept `true`/`false`.
const KBOOL: Kind = Kind::Bool { true_false: true, deny_yes: None };
/// `activedefrag`: like a Redis built without a defrag-capable jemalloc
/// (Debian's 7.0.15 is one), fluidB refuses to enable it, which is also how
/// Redis's test suite detects that defragmentation tests must be skipped.
const NO_DEFRAG: Kind = Kind::Bool {
    true_false: false,
    deny_yes: Some(
        "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc \
         like the one shipped by default with the Redis source distribution",
    ),
};
const NULL_STR: Kind = Kind::Str { empty_is_null: true, check: None };
const STR: Kind = Kind::Str { empty_is_null: false, check: None };
const BYTES: Kind = Kind::Bytes;

const fn num(min: i64, max: i64, unsigned: bool, format: NumFormat) -> Kind {
    Kind::Int(NumSpec { min, max, unsigned, format })
}
const fn int(min: i64, max: i64) -> Kind {
    num(min, max, false, NumFormat::Integer)
}
const fn uint(min: i64, max: i64) -> Kind {
    num(min, max, true, NumFormat::Integer)
}
const fn mem(min: i64, max: i64) -> Kind {
    num(min, max, false, NumFormat::Memory)
}
const fn umem(min: i64, max: i64) -> Kind {
    num(min, max, true, NumFormat::Memory)
}
const fn checked(empty_is_null: bool, check: StrCheck) -> Kind {
    Kind::Str { empty_is_null, check: Some(check) }
}
const fn special(s: Special) -> Kind {
    Kind::Special(s)
}
const fn enm(names: &'static [&'static str]) -> Kind {
    Kind::Enum(names)
}

fn s(v: &str) -> String {
    v.to_string()
}

/// The process's working directory, which is what `dir` means by default.
fn current_dir() -> String {
    std::env::current_dir().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
}

/// fluidB serves clients on every core by default (KeyDB's default is 1 thread): the
/// number of available cores, at most 16.
fn default_server_threads() -> i32 {
    std::thread::available_parallelism().map(|n| n.get().min(16) as i32).unwrap_or(1)
}

macro_rules! config_table {
    ( $( $field:ident : $ty:ty = $default:expr ; $name:literal [ $( $alias:literal ),* ] $kind:expr , $flags:expr ; )* ) => {
        /// Every setting of the server, one typed field per directive.
        ///
        /// Field names are the directive names in snake_case
        /// (`hash-max-listpack-entries` → `hash_max_listpack_entries`);
        /// aliases have no field of their own. Memory sizes are bytes;
        /// enumerations are Rust enums; multi-argument directives are
        /// vectors or small structs. `Config::default()` holds Redis's
        /// defaults.
        #[derive(Clone, Debug, PartialEq)]
        pub struct Config {
            $(
                #[doc = concat!("`", $name, "`")]
                pub $field: $ty,
            )*
            /// `rename-command <old> <new>` lines, in order (new may be empty).
            pub rename_command: Vec<(String, String)>,
            /// `user <name> <rules...>` lines, unparsed (the ACL module owns them).
            pub user: Vec<Vec<String>>,
            /// `loadmodule <path> <args...>` lines (modules are not supported).
            pub loadmodule: Vec<Vec<String>>,
            /// `<module>.<name> <value>` module configs.
            pub module_configs: Vec<(String, String)>,
            /// Absolute path of the config file given on the command line,
            /// used by CONFIG REWRITE; `None` when started without one.
            pub config_file: Option<PathBuf>,
        }

        impl Default for Config {
            fn default() -> Self {
                Config {
                    $( $field: $default, )*
                    rename_command: Vec::new(),
                    user: Vec::new(),
                    loadmodule: Vec::new(),
                    module_configs: Vec::new(),
                    config_file: None,
                }
            }
        }

        /// The table, in the order CONFIG GET and CONFIG REWRITE use.
        pub static DIRECTIVES: &[Directive] = &[ $(
            Directive {
                name: $name,
                aliases: &[ $( $alias ),* ],
                kind: $kind,
                flags: $flags,
                field: stringify!($field),
                get: |c: &Config| Value::format(&c.$field, &$kind),
                set: |c: &mut Config, args: &[&[u8]], ctx: &Ctx| -> Result<bool, String> {
                    let v: $ty = Value::parse(&$kind, args, &c.$field, ctx)?;
                    let changed = v != c.$field;
                    c.$field = v;
                    Ok(changed)
                },
                rewrite: |c: &Config, st: &mut RewriteState| {
                    let default: $ty = $default;
                    Value::rewrite(&c.$field, &default, &$kind, $name, st)
                },
            },
        )* ];
    };
}

const IMPL: u32 = IMPLEMENTED;
const MOD: u32 = MODIFIABLE;
const IMM: u32 = IMMUTABLE;

config_table! {
    // ---------------------------------------------------------------- network
    port: u16 = 6379; "port" [] int(0, 65535), MOD | IMPL;
    bind: Vec<String> = vec![s("*"), s("-::*")]; "bind" [] special(Special::Bind), MOD | MULTI_ARG | IMPL;
    bind_source_addr: Option<String> = None; "bind-source-addr" [] NULL_STR, MOD | IMPL;
    protected_mode: bool = true; "protected-mode" [] BOOL, MOD | IMPL;
    tcp_backlog: i32 = 511; "tcp-backlog" [] int(0, INT_MAX), IMM | IMPL;
    unixsocket: Option<String> = None; "unixsocket" [] NULL_STR, IMM | IMPL;
    unixsocketperm: u32 = 0; "unixsocketperm" [] num(0, 0o777, true, NumFormat::Octal), IMM | IMPL;
    timeout: i32 = 0; "timeout" [] int(0, INT_MAX), MOD | IMPL;
    tcp_keepalive: i32 = 300; "tcp-keepalive" [] int(0, INT_MAX), MOD | IMPL;
    socket_mark_id: u32 = 0; "socket-mark-id" [] uint(0, UINT_MAX), IMM;
    // -------------------------------------------------------------------- tls
    tls_port: u16 = 0; "tls-port" [] int(0, 65535), MOD;
    tls_cert_file: Option<String> = None; "tls-cert-file" [] NULL_STR, MOD;
    tls_key_file: Option<String> = None; "tls-key-file" [] NULL_STR, MOD;
    tls_key_file_pass: Option<String> = None; "tls-key-file-pass" [] NULL_STR, MOD;
    tls_client_cert_file: Option<String> = None; "tls-client-cert-file" [] NULL_STR, MOD;
    tls_client_key_file: Option<String> = None; "tls-client-key-file" [] NULL_STR, MOD;
    tls_client_key_file_pass: Option<String> = None; "tls-client-key-file-pass" [] NULL_STR, MOD;
    tls_dh_params_file: Option<String> = None; "tls-dh-params-file" [] NULL_STR, MOD;
    tls_ca_cert_file: Option<String> = None; "tls-ca-cert-file" [] NULL_STR, MOD;
    tls_ca_cert_dir: Option<String> = None; "tls-ca-cert-dir" [] NULL_STR, MOD;
    tls_auth_clients: TlsAuthClients = TlsAuthClients::Yes; "tls-auth-clients" [] enm(TlsAuthClients::NAMES), MOD;
    tls_replication: bool = false; "tls-replication" [] BOOL, MOD;
    tls_cluster: bool = false; "tls-cluster" [] BOOL, MOD;
    tls_protocols: Option<String> = None; "tls-protocols" [] NULL_STR, MOD;
    tls_ciphers: Option<String> = None; "tls-ciphers" [] NULL_STR, MOD;
    tls_ciphersuites: Option<String> = None; "tls-ciphersuites" [] NULL_STR, MOD;
    tls_prefer_server_ciphers: bool = false; "tls-prefer-server-ciphers" [] BOOL, MOD;
    tls_session_caching: bool = true; "tls-session-caching" [] BOOL, MOD;
    tls_session_cache_size: i32 = 20480; "tls-session-cache-size" [] int(0, INT_MAX), MOD;
    tls_session_cache_timeout: i32 = 300; "tls-session-cache-timeout" [] int(0, INT_MAX), MOD;
    // ---------------------------------------------------------------- general
    daemonize: bool = false; "daemonize" [] BOOL, IMM | IMPL;
    supervised: Supervised = Supervised::No; "supervised" [] enm(Supervised::NAMES), IMM;
    pidfile: Option<String> = None; "pidfile" [] NULL_STR, IMM | IMPL;
    loglevel: LogLevel = LogLevel::Notice; "loglevel" [] enm(LogLevel::NAMES), MOD | IMPL;
    logfile: String = s(""); "logfile" [] STR, IMM | IMPL;
    syslog_enabled: bool = false; "syslog-enabled" [] BOOL, IMM;
    syslog_ident: String = s("redis"); "syslog-ident" [] STR, IMM;
    syslog_facility: SyslogFacility = SyslogFacility::Local0; "syslog-facility" [] enm(SyslogFacility::NAMES), IMM;
    crash_log_enabled: bool = true; "crash-log-enabled" [] BOOL, MOD | IMPL;
    crash_memcheck_enabled: bool = false; "crash-memcheck-enabled" [] BOOL, MOD;
    databases: i32 = 16; "databases" [] int(1, INT_MAX), IMM | IMPL;
    always_show_logo: bool = false; "always-show-logo" [] BOOL, IMM | IMPL;
    set_proc_title: bool = true; "set-proc-title" [] BOOL, IMM | IMPL;
    proc_title_template: String = s("{title} {listen-addr} {server-mode}"); "proc-title-template" [] checked(false, check_proc_title), MOD | IMPL;
    enable_protected_configs: ProtectedAction = ProtectedAction::No; "enable-protected-configs" [] enm(ProtectedAction::NAMES), IMM | IMPL;
    enable_debug_command: ProtectedAction = ProtectedAction::No; "enable-debug-command" [] enm(ProtectedAction::NAMES), IMM | IMPL;
    enable_module_command: ProtectedAction = ProtectedAction::No; "enable-module-command" [] enm(ProtectedAction::NAMES), IMM;
    // ----------------------------------------------------------- snapshotting
    save: Vec<(u64, u64)> = vec![(3600, 1), (300, 100), (60, 10000)]; "save" [] special(Special::Save), MOD | MULTI_ARG | IMPL;
    stop_writes_on_bgsave_error: bool = true; "stop-writes-on-bgsave-error" [] BOOL, MOD | IMPL;
    rdbcompression: bool = true; "rdbcompression" [] BOOL, MOD | IMPL;
    rdbchecksum: bool = true; "rdbchecksum" [] BOOL, IMM | IMPL;
    sanitize_dump_payload: SanitizeDumpPayload = SanitizeDumpPayload::No; "sanitize-dump-payload" [] enm(SanitizeDumpPayload::NAMES), MOD | IMPL;
    dbfilename: String = s("dump.rdb"); "dbfilename" [] checked(false, check_dbfilename), MOD | PROTECTED | IMPL;
    rdb_del_sync_files: bool = false; "rdb-del-sync-files" [] BOOL, MOD;
    dir: String = current_dir(); "dir" [] special(Special::Dir), MOD | PROTECTED | DENY_LOADING | IMPL;
    // ---------------------------------------------------- replication (KeyDB)
    // Kept before `replicaof` so that a rewritten file sets the mode first.
    active_replica: bool = false; "active-replica" [] KBOOL, IMM | KEYDB | HIDDEN | IMPL;
    multi_master: bool = false; "multi-master" [] KBOOL, IMM | KEYDB | HIDDEN;
    multi_master_no_forward: bool = false; "multi-master-no-forward" [] KBOOL, MOD | KEYDB;
    replica_quorum: i32 = -1; "replica-quorum" [] int(-1, INT_MAX), MOD | KEYDB;
    allow_write_during_load: bool = false; "allow-write-during-load" [] KBOOL, MOD | KEYDB;
    // fluidB's: how long an active node remembers a deletion (0: for ever).
    active_tombstone_lifetime: i64 = 86400; "active-tombstone-lifetime" [] int(0, LONG_MAX), MOD | IMPL;
    // ------------------------------------------------------------ replication
    replicaof: Vec<(String, u16)> = Vec::new(); "replicaof" ["slaveof"] special(Special::Replicaof), IMM | MULTI_ARG | IMPL;
    masterauth: Option<Vec<u8>> = None; "masterauth" [] BYTES, MOD | SENSITIVE | IMPL;
    masteruser: Option<String> = None; "masteruser" [] NULL_STR, MOD | SENSITIVE | IMPL;
    replica_serve_stale_data: bool = true; "replica-serve-stale-data" ["slave-serve-stale-data"] BOOL, MOD | IMPL;
    replica_read_only: bool = true; "replica-read-only" ["slave-read-only"] BOOL, MOD | IMPL;
    repl_diskless_sync: bool = true; "repl-diskless-sync" [] BOOL, MOD | IMPL;
    repl_diskless_sync_delay: i32 = 5; "repl-diskless-sync-delay" [] int(0, INT_MAX), MOD | IMPL;
    repl_diskless_sync_max_replicas: i32 = 0; "repl-diskless-sync-max-replicas" [] int(0, INT_MAX), MOD | IMPL;
    repl_diskless_load: ReplDisklessLoad = ReplDisklessLoad::Disabled; "repl-diskless-load" [] enm(ReplDisklessLoad::NAMES), MOD | DENY_LOADING | IMPL;
    repl_ping_replica_period: i32 = 10; "repl-ping-replica-period" ["repl-ping-slave-period"] int(1, INT_MAX), MOD | IMPL;
    repl_timeout: i32 = 60; "repl-timeout" [] int(1, INT_MAX), MOD | IMPL;
    repl_disable_tcp_nodelay: bool = false; "repl-disable-tcp-nodelay" [] BOOL, MOD;
    repl_backlog_size: i64 = 1 << 20; "repl-backlog-size" [] mem(1, LONG_MAX), MOD | IMPL;
    repl_backlog_ttl: i64 = 3600; "repl-backlog-ttl" [] int(0, LONG_MAX), MOD | IMPL;
    replica_priority: i32 = 100; "replica-priority" ["slave-priority"] int(0, INT_MAX), MOD | IMPL;
    propagation_error_behavior: PropagationErrorBehavior = PropagationErrorBehavior::Ignore; "propagation-error-behavior" [] enm(PropagationErrorBehavior::NAMES), MOD | IMPL;
    replica_ignore_disk_write_errors: bool = false; "replica-ignore-disk-write-errors" [] BOOL, MOD;
    replica_announced: bool = true; "replica-announced" [] BOOL, MOD | IMPL;
    min_replicas_to_write: i32 = 0; "min-replicas-to-write" ["min-slaves-to-write"] int(0, INT_MAX), MOD | IMPL;
    min_replicas_max_lag: i32 = 10; "min-replicas-max-lag" ["min-slaves-max-lag"] int(0, INT_MAX), MOD | IMPL;
    replica_announce_ip: Option<String> = None; "replica-announce-ip" ["slave-announce-ip"] NULL_STR, MOD | IMPL;
    replica_announce_port: u16 = 0; "replica-announce-port" ["slave-announce-port"] int(0, 65535), MOD | IMPL;
    replica_lazy_flush: bool = false; "replica-lazy-flush" ["slave-lazy-flush"] BOOL, MOD;
    replica_ignore_maxmemory: bool = true; "replica-ignore-maxmemory" ["slave-ignore-maxmemory"] BOOL, MOD;
    // --------------------------------------------------------- keys tracking
    tracking_table_max_keys: u64 = 1_000_000; "tracking-table-max-keys" [] uint(0, LONG_MAX), MOD;
    // --------------------------------------------------------------- security
    acllog_max_len: u64 = 128; "acllog-max-len" [] int(0, LONG_MAX), MOD;
    aclfile: String = s(""); "aclfile" [] STR, IMM;
    requirepass: Option<Vec<u8>> = None; "requirepass" [] BYTES, MOD | SENSITIVE | IMPL;
    acl_pubsub_default: AclPubsubDefault = AclPubsubDefault::ResetChannels; "acl-pubsub-default" [] enm(AclPubsubDefault::NAMES), MOD;
    // ---------------------------------------------------------------- clients
    maxclients: u32 = 10000; "maxclients" [] uint(1, UINT_MAX), MOD | IMPL;
    // ------------------------------------------------------ memory management
    maxmemory: u64 = 0; "maxmemory" [] umem(0, ULLONG_MAX), MOD;
    maxmemory_policy: MaxmemoryPolicy = MaxmemoryPolicy::Noeviction; "maxmemory-policy" [] enm(MaxmemoryPolicy::NAMES), MOD | IMPL;
    maxmemory_samples: i32 = 5; "maxmemory-samples" [] int(1, INT_MAX), MOD;
    maxmemory_eviction_tenacity: i32 = 10; "maxmemory-eviction-tenacity" [] int(0, 100), MOD;
    maxmemory_clients: MemoryOrPercent = MemoryOrPercent::Bytes(0); "maxmemory-clients" [] num(-100, LONG_MAX, false, NumFormat::MemoryOrPercent), MOD;
    active_expire_effort: i32 = 1; "active-expire-effort" [] int(1, 10), MOD | IMPL;
    // ------------------------------------------------------------ lazy freeing
    lazyfree_lazy_eviction: bool = false; "lazyfree-lazy-eviction" [] BOOL, MOD;
    lazyfree_lazy_expire: bool = false; "lazyfree-lazy-expire" [] BOOL, MOD | IMPL;
    lazyfree_lazy_server_del: bool = false; "lazyfree-lazy-server-del" [] BOOL, MOD | IMPL;
    lazyfree_lazy_user_del: bool = false; "lazyfree-lazy-user-del" [] BOOL, MOD | IMPL;
    lazyfree_lazy_user_flush: bool = false; "lazyfree-lazy-user-flush" [] BOOL, MOD | IMPL;
    // -------------------------------------------------------------- threading
    io_threads: i32 = 1; "io-threads" [] int(1, 128), IMM;
    io_threads_do_reads: bool = false; "io-threads-do-reads" [] BOOL, IMM;
    // --------------------------------------------------------- kernel control
    oom_score_adj: OomScoreAdj = OomScoreAdj::No; "oom-score-adj" [] enm(OomScoreAdj::NAMES), MOD | IMPL;
    oom_score_adj_values: [i32; 3] = [0, 200, 800]; "oom-score-adj-values" [] special(Special::OomScoreAdjValues), MOD | MULTI_ARG | IMPL;
    disable_thp: bool = true; "disable-thp" [] BOOL, IMM | IMPL;
    // ------------------------------------------------------- append only file
    appendonly: bool = false; "appendonly" [] BOOL, MOD | DENY_LOADING | IMPL;
    appendfilename: String = s("appendonly.aof"); "appendfilename" [] checked(false, check_appendfilename), IMM | IMPL;
    appenddirname: String = s("appendonlydir"); "appenddirname" [] checked(false, check_appenddirname), IMM | IMPL;
    appendfsync: AppendFsync = AppendFsync::Everysec; "appendfsync" [] enm(AppendFsync::NAMES), MOD | IMPL;
    no_appendfsync_on_rewrite: bool = false; "no-appendfsync-on-rewrite" [] BOOL, MOD;
    auto_aof_rewrite_percentage: i32 = 100; "auto-aof-rewrite-percentage" [] int(0, INT_MAX), MOD | IMPL;
    auto_aof_rewrite_min_size: i64 = 64 << 20; "auto-aof-rewrite-min-size" [] mem(0, LONG_MAX), MOD | IMPL;
    aof_load_truncated: bool = true; "aof-load-truncated" [] BOOL, MOD | IMPL;
    aof_use_rdb_preamble: bool = true; "aof-use-rdb-preamble" [] BOOL, MOD | IMPL;
    aof_timestamp_enabled: bool = false; "aof-timestamp-enabled" [] BOOL, MOD | IMPL;
    aof_disable_auto_gc: bool = false; "aof-disable-auto-gc" [] BOOL, MOD | IMPL;
    // --------------------------------------------------------------- shutdown
    shutdown_timeout: i32 = 10; "shutdown-timeout" [] int(0, INT_MAX), MOD | IMPL;
    shutdown_on_sigint: ShutdownFlags = ShutdownFlags(0); "shutdown-on-sigint" [] special(Special::ShutdownOnSignal), MOD | MULTI_ARG | IMPL;
    shutdown_on_sigterm: ShutdownFlags = ShutdownFlags(0); "shutdown-on-sigterm" [] special(Special::ShutdownOnSignal), MOD | MULTI_ARG | IMPL;
    // -------------------------------------------------------------- scripting
    busy_reply_threshold: i64 = 5000; "busy-reply-threshold" ["lua-time-limit"] int(0, LONG_MAX), MOD;
    // ---------------------------------------------------------------- cluster
    cluster_enabled: bool = false; "cluster-enabled" [] BOOL, IMM;
    cluster_config_file: String = s("nodes.conf"); "cluster-config-file" [] STR, IMM;
    cluster_node_timeout: i64 = 15000; "cluster-node-timeout" [] int(0, LONG_MAX), MOD;
    cluster_port: u16 = 0; "cluster-port" [] int(0, 65535), IMM;
    cluster_replica_validity_factor: i32 = 10; "cluster-replica-validity-factor" ["cluster-slave-validity-factor"] int(0, INT_MAX), MOD;
    cluster_migration_barrier: i32 = 1; "cluster-migration-barrier" [] int(0, INT_MAX), MOD;
    cluster_allow_replica_migration: bool = true; "cluster-allow-replica-migration" [] BOOL, MOD;
    cluster_require_full_coverage: bool = true; "cluster-require-full-coverage" [] BOOL, MOD;
    cluster_replica_no_failover: bool = false; "cluster-replica-no-failover" ["cluster-slave-no-failover"] BOOL, MOD;
    cluster_allow_reads_when_down: bool = false; "cluster-allow-reads-when-down" [] BOOL, MOD;
    cluster_allow_pubsubshard_when_down: bool = true; "cluster-allow-pubsubshard-when-down" [] BOOL, MOD;
    cluster_link_sendbuf_limit: u64 = 0; "cluster-link-sendbuf-limit" [] umem(0, ULLONG_MAX), MOD;
    cluster_announce_hostname: Option<String> = None; "cluster-announce-hostname" [] checked(true, check_hostname), MOD;
    cluster_preferred_endpoint_type: ClusterEndpointType = ClusterEndpointType::Ip; "cluster-preferred-endpoint-type" [] enm(ClusterEndpointType::NAMES), MOD;
    cluster_announce_ip: Option<String> = None; "cluster-announce-ip" [] NULL_STR, MOD;
    cluster_announce_tls_port: u16 = 0; "cluster-announce-tls-port" [] int(0, 65535), MOD;
    cluster_announce_port: u16 = 0; "cluster-announce-port" [] int(0, 65535), MOD;
    cluster_announce_bus_port: u16 = 0; "cluster-announce-bus-port" [] int(0, 65535), MOD;
    // ------------------------------------------------------- slow log/latency
    slowlog_log_slower_than: i64 = 10000; "slowlog-log-slower-than" [] int(-1, LONG_MAX), MOD | IMPL;
    slowlog_max_len: u64 = 128; "slowlog-max-len" [] int(0, LONG_MAX), MOD | IMPL;
    latency_monitor_threshold: i64 = 0; "latency-monitor-threshold" [] int(0, LONG_MAX), MOD | IMPL;
    latency_tracking: bool = true; "latency-tracking" [] BOOL, MOD | IMPL;
    latency_tracking_info_percentiles: Vec<f64> = vec![50.0, 99.0, 99.9]; "latency-tracking-info-percentiles" [] special(Special::LatencyPercentiles), MOD | MULTI_ARG | IMPL;
    // ------------------------------------------------------ event notification
    notify_keyspace_events: u32 = 0; "notify-keyspace-events" [] special(Special::NotifyKeyspaceEvents), MOD | IMPL;
    // -------------------------------------------------------- advanced config
    hash_max_listpack_entries: u64 = 512; "hash-max-listpack-entries" ["hash-max-ziplist-entries"] uint(0, LONG_MAX), MOD | IMPL;
    hash_max_listpack_value: u64 = 64; "hash-max-listpack-value" ["hash-max-ziplist-value"] umem(0, LONG_MAX), MOD | IMPL;
    list_max_listpack_size: i32 = -2; "list-max-listpack-size" ["list-max-ziplist-size"] int(INT_MIN, INT_MAX), MOD | IMPL;
    list_compress_depth: i32 = 0; "list-compress-depth" [] int(0, INT_MAX), MOD | IMPL;
    set_max_intset_entries: u64 = 512; "set-max-intset-entries" [] uint(0, LONG_MAX), MOD | IMPL;
    zset_max_listpack_entries: u64 = 128; "zset-max-listpack-entries" ["zset-max-ziplist-entries"] uint(0, LONG_MAX), MOD | IMPL;
    zset_max_listpack_value: u64 = 64; "zset-max-listpack-value" ["zset-max-ziplist-value"] umem(0, LONG_MAX), MOD | IMPL;
    hll_sparse_max_bytes: u64 = 3000; "hll-sparse-max-bytes" [] umem(0, LONG_MAX), MOD;
    stream_node_max_bytes: u64 = 4096; "stream-node-max-bytes" [] umem(0, LONG_MAX), MOD;
    stream_node_max_entries: i64 = 100; "stream-node-max-entries" [] int(0, LONG_MAX), MOD;
    activerehashing: bool = true; "activerehashing" [] BOOL, MOD | IMPL;
    client_output_buffer_limit: ClientOutputBufferLimits = ClientOutputBufferLimits::default(); "client-output-buffer-limit" [] special(Special::ClientOutputBufferLimit), MOD | MULTI_ARG | IMPL;
    client_query_buffer_limit: u64 = 1 << 30; "client-query-buffer-limit" [] umem(1 << 20, LONG_MAX), MOD | IMPL;
    proto_max_bulk_len: i64 = 512 << 20; "proto-max-bulk-len" [] mem(1 << 20, LONG_MAX), MOD | IMPL;
    hz: i32 = 10; "hz" [] int(0, INT_MAX), MOD | IMPL;
    dynamic_hz: bool = true; "dynamic-hz" [] BOOL, MOD | IMPL;
    aof_rewrite_incremental_fsync: bool = true; "aof-rewrite-incremental-fsync" [] BOOL, MOD | IMPL;
    rdb_save_incremental_fsync: bool = true; "rdb-save-incremental-fsync" [] BOOL, MOD | IMPL;
    lfu_log_factor: i32 = 10; "lfu-log-factor" [] int(0, INT_MAX), MOD | IMPL;
    lfu_decay_time: i32 = 1; "lfu-decay-time" [] int(0, INT_MAX), MOD | IMPL;
    // --------------------------------------------------- active defragmentation
    // Active defragmentation cannot be enabled (NO_DEFRAG), as in a Redis built without a
    // defrag-capable jemalloc; its parameters are kept and shown, as that Redis does.
    activedefrag: bool = false; "activedefrag" [] NO_DEFRAG, MOD | IMPL;
    active_defrag_ignore_bytes: u64 = 100 << 20; "active-defrag-ignore-bytes" [] umem(1, LONG_MAX), MOD | IMPL;
    active_defrag_threshold_lower: i32 = 10; "active-defrag-threshold-lower" [] int(0, 1000), MOD | IMPL;
    active_defrag_threshold_upper: i32 = 100; "active-defrag-threshold-upper" [] int(0, 1000), MOD | IMPL;
    active_defrag_cycle_min: i32 = 1; "active-defrag-cycle-min" [] int(1, 99), MOD | IMPL;
    active_defrag_cycle_max: i32 = 25; "active-defrag-cycle-max" [] int(1, 99), MOD | IMPL;
    active_defrag_max_scan_fields: u64 = 1000; "active-defrag-max-scan-fields" [] int(1, LONG_MAX), MOD | IMPL;
    jemalloc_bg_thread: bool = true; "jemalloc-bg-thread" [] BOOL, MOD | IMPL;
    server_cpulist: Option<String> = None; "server_cpulist" [] NULL_STR, IMM;
    bio_cpulist: Option<String> = None; "bio_cpulist" [] NULL_STR, IMM;
    aof_rewrite_cpulist: Option<String> = None; "aof_rewrite_cpulist" [] NULL_STR, IMM;
    bgsave_cpulist: Option<String> = None; "bgsave_cpulist" [] NULL_STR, IMM;
    ignore_warnings: String = s(""); "ignore-warnings" [] STR, MOD | IMPL;
    // --------------------------------------------------- hidden (debug/tests)
    rdb_key_save_delay: i32 = 0; "rdb-key-save-delay" [] int(INT_MIN, INT_MAX), MOD | HIDDEN | IMPL;
    key_load_delay: i32 = 0; "key-load-delay" [] int(INT_MIN, INT_MAX), MOD | HIDDEN | IMPL;
    watchdog_period: i32 = 0; "watchdog-period" [] int(0, INT_MAX), MOD | HIDDEN;
    use_exit_on_panic: bool = false; "use-exit-on-panic" [] BOOL, MOD | HIDDEN | IMPL;
    loading_process_events_interval_bytes: i64 = 2 << 20; "loading-process-events-interval-bytes" [] int(1024, INT_MAX), MOD | HIDDEN;
    // ---------------------------------------------------------- KeyDB threads
    server_threads: i32 = default_server_threads(); "server-threads" [] special(Special::ServerThreads), IMM | KEYDB | HIDDEN | IMPL;
    server_thread_affinity: ThreadAffinity = ThreadAffinity::Off; "server-thread-affinity" [] special(Special::ThreadAffinity), IMM | KEYDB | HIDDEN;
    min_clients_per_thread: i32 = 20; "min-clients-per-thread" [] int(0, 400), MOD | KEYDB | IMPL;
    active_client_balancing: bool = false; "active-client-balancing" [] KBOOL, MOD | KEYDB;
    replica_weighting_factor: i32 = 2; "replica-weighting-factor" [] int(1, INT_MAX), MOD | KEYDB;
    // ------------------------------------------------------------ KeyDB misc
    enable_motd: bool = false; "enable-motd" [] KBOOL, IMM | KEYDB | HIDDEN;
    loading_process_events_interval_keys: u32 = 8192; "loading-process-events-interval-keys" [] umem(0, LONG_MAX), MOD | KEYDB;
    storage_provider: Vec<String> = Vec::new(); "storage-provider" [] special(Special::StorageProvider), IMM | MULTI_ARG | KEYDB | HIDDEN;
    storage_provider_options: Option<String> = None; "storage-provider-options" [] NULL_STR, IMM | KEYDB | HIDDEN;
    storage_cache_mode: StorageCacheMode = StorageCacheMode::Writethrough; "storage-cache-mode" [] enm(StorageCacheMode::NAMES), IMM | KEYDB | HIDDEN;
    storage_flush_period: i32 = 500; "storage-flush-period" [] int(1, 10000), MOD | KEYDB;
    scratch_file_path: Option<String> = None; "scratch-file-path" [] NULL_STR, IMM | KEYDB | HIDDEN;
    blob_support: bool = false; "blob-support" [] KBOOL, IMM | KEYDB | HIDDEN;
    db_s3_object: Option<String> = None; "db-s3-object" [] NULL_STR, IMM | KEYDB | HIDDEN;
    force_eviction_percent: i32 = 0; "force-eviction-percent" [] int(0, 100), MOD | KEYDB;
    overload_protect_percent: i32 = 0; "overload-protect-percent" [] int(0, 200), MOD | KEYDB;
    availability_zone: String = s(""); "availability-zone" [] STR, MOD | KEYDB;
    tls_allowlist: Vec<String> = Vec::new(); "tls-allowlist" [] special(Special::TlsAllowlist), MOD | MULTI_ARG | KEYDB;
    tls_rotation: bool = false; "tls-rotation" [] KBOOL, MOD | KEYDB;
    delete_on_evict: bool = false; "delete-on-evict" [] KBOOL, MOD | KEYDB;
    use_fork: bool = false; "use-fork" [] KBOOL, IMM | KEYDB | HIDDEN;
    time_thread_priority: bool = false; "time-thread-priority" [] KBOOL, IMM | KEYDB | HIDDEN;
    prefetch_enabled: bool = false; "prefetch-enabled" [] KBOOL, MOD | KEYDB;
    allow_rdb_resize_op: bool = true; "allow-rdb-resize-op" [] KBOOL, MOD | KEYDB;
    enable_async_commands: bool = false; "enable-async-commands" [] KBOOL, MOD | KEYDB;
    multithread_load_enabled: bool = false; "multithread-load-enabled" [] KBOOL, MOD | KEYDB;
    maxclients_reserved: i32 = 0; "maxclients-reserved" [] int(0, INT_MAX), MOD | KEYDB;
    repl_backlog_disk_reserve: i64 = 0; "repl-backlog-disk-reserve" [] mem(0, LONG_MAX), IMM | KEYDB | HIDDEN;
    force_backlog_disk_reserve: bool = false; "force-backlog-disk-reserve" [] KBOOL, MOD | KEYDB;
    max_snapshot_slip: i64 = 400; "max-snapshot-slip" [] int(0, 5000), MOD | KEYDB;
    max_rand_count: i64 = i64::MAX / 2; "max-rand-count" [] int(0, LONG_MAX), MOD | KEYDB;
    maxstorage: u64 = 0; "maxstorage" [] umem(0, LONG_MAX), MOD | KEYDB;
    soft_shutdown: bool = false; "soft-shutdown" [] KBOOL, MOD | KEYDB;
    flash_disable_key_cache: bool = false; "flash-disable-key-cache" [] KBOOL, MOD | KEYDB;
    semi_ordered_set_bucket_size: i32 = 0; "semi-ordered-set-bucket-size" [] int(0, 1024), MOD | KEYDB;
    enable_async_rehash: bool = true; "enable-async-rehash" [] KBOOL, MOD | KEYDB;
    enable_keydb_fastsync: bool = false; "enable-keydb-fastsync" [] KBOOL, MOD | KEYDB;
    gopher_enabled: bool = false; "gopher-enabled" [] KBOOL, MOD | KEYDB;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_fields_follow_names() {
        let mut seen = HashSet::new();
        for d in DIRECTIVES {
            for n in std::iter::once(d.name).chain(d.aliases.iter().copied()) {
                assert!(seen.insert(n), "duplicate name {n}");
                assert_eq!(n, n.to_ascii_lowercase());
            }
            assert_eq!(d.field, d.name.replace('-', "_"), "field of {}", d.name);
        }
    }

    #[test]
    fn lookup_is_case_insensitive_and_knows_aliases() {
        let (d, n) = lookup(b"SLAVEOF").unwrap();
        assert_eq!((d.name, n), ("replicaof", "slaveof"));
        let (d, _) = lookup(b"hash-max-ziplist-entries").unwrap();
        assert_eq!(d.name, "hash-max-listpack-entries");
        assert!(lookup(b"include").is_none());
        assert!(lookup(b"nope").is_none());
    }

    /// Defaults as printed by `CONFIG GET` on redis-server 7.0.15.
    #[test]
    fn defaults_match_redis_7_0() {
        for (name, want) in [
            ("port", "6379"),
            ("bind", "* -::*"),
            ("save", "3600 1 300 100 60 10000"),
            ("client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
            ("proto-max-bulk-len", "536870912"),
            ("client-query-buffer-limit", "1073741824"),
            ("active-defrag-ignore-bytes", "104857600"),
            ("latency-tracking-info-percentiles", "50 99 99.9"),
            ("oom-score-adj-values", "0 200 800"),
            ("notify-keyspace-events", ""),
            ("unixsocketperm", "0"),
            ("replicaof", ""),
            ("loglevel", "notice"),
            ("acl-pubsub-default", "resetchannels"),
            ("proc-title-template", "{title} {listen-addr} {server-mode}"),
            ("shutdown-on-sigint", "default"),
            ("maxmemory-clients", "0"),
            ("auto-aof-rewrite-min-size", "67108864"),
            ("repl-backlog-size", "1048576"),
            ("syslog-ident", "redis"),
            ("list-max-listpack-size", "-2"),
            ("tls-auth-clients", "yes"),
            ("loading-process-events-interval-bytes", "2097152"),
        ] {
            let (d, _) = lookup(name.as_bytes()).unwrap();
            assert_eq!(d.default_value(), want, "{name}");
        }
    }

    /// Every directive fluidB accepts but does not act on, by the reason it does not.
    /// CONFIG SET refuses any value but the default for each of them, and a config file
    /// that sets another value gets a warning at startup (`tests/config_unimplemented.rs`
    /// checks both on the real server). Implementing one means flagging it IMPL and
    /// taking it off this list.
    #[test]
    fn not_implemented_set_is_the_agreed_one() {
        let got: Vec<&str> = DIRECTIVES.iter().filter(|d| !d.is_implemented()).map(|d| d.name).collect();
        let want = NOT_IMPLEMENTED;
        let missing: Vec<_> = got.iter().filter(|n| !want.contains(n)).collect();
        let extra: Vec<_> = want.iter().filter(|n| !got.contains(n)).collect();
        assert!(missing.is_empty() && extra.is_empty(), "not listed: {missing:?}; listed but implemented: {extra:?}");
    }

    const NOT_IMPLEMENTED: &[&str] = &[
        // TLS: fluidB has none
        "tls-port",
        "tls-cert-file",
        "tls-key-file",
        "tls-key-file-pass",
        "tls-client-cert-file",
        "tls-client-key-file",
        "tls-client-key-file-pass",
        "tls-dh-params-file",
        "tls-ca-cert-file",
        "tls-ca-cert-dir",
        "tls-auth-clients",
        "tls-replication",
        "tls-cluster",
        "tls-protocols",
        "tls-ciphers",
        "tls-ciphersuites",
        "tls-prefer-server-ciphers",
        "tls-session-caching",
        "tls-session-cache-size",
        "tls-session-cache-timeout",
        "tls-allowlist",
        "tls-rotation",
        // cluster mode: fluidB has none
        "cluster-enabled",
        "cluster-config-file",
        "cluster-node-timeout",
        "cluster-port",
        "cluster-replica-validity-factor",
        "cluster-migration-barrier",
        "cluster-allow-replica-migration",
        "cluster-require-full-coverage",
        "cluster-replica-no-failover",
        "cluster-allow-reads-when-down",
        "cluster-allow-pubsubshard-when-down",
        "cluster-link-sendbuf-limit",
        "cluster-announce-hostname",
        "cluster-preferred-endpoint-type",
        "cluster-announce-ip",
        "cluster-announce-tls-port",
        "cluster-announce-port",
        "cluster-announce-bus-port",
        // maxmemory, eviction and LFU (issue #15)
        "replica-ignore-maxmemory",
        "maxmemory",
        "maxmemory-samples",
        "maxmemory-eviction-tenacity",
        "maxmemory-clients",
        "lazyfree-lazy-eviction",
        // ACL users and client tracking (issue #15)
        "tracking-table-max-keys",
        "acllog-max-len",
        "aclfile",
        "acl-pubsub-default",
        // scripting (issue #15)
        "busy-reply-threshold",
        // multi-master (issue #14)
        "multi-master",
        "multi-master-no-forward",
        "replica-quorum",
        // streams and HyperLogLog: fluidB has neither yet
        "hll-sparse-max-bytes",
        "stream-node-max-bytes",
        "stream-node-max-entries",
        // being built for issue #12 (lists, introspection, persistence, pub/sub helpers)
        "rdb-del-sync-files",
        "repl-disable-tcp-nodelay",
        "replica-ignore-disk-write-errors",
        "replica-lazy-flush",
        "no-appendfsync-on-rewrite",
        "loading-process-events-interval-bytes",
        // Redis process settings fluidB does not act on
        "socket-mark-id",
        "supervised",
        "syslog-enabled",
        "syslog-ident",
        "syslog-facility",
        "crash-memcheck-enabled",
        "enable-module-command",
        "io-threads",
        "io-threads-do-reads",
        "server_cpulist",
        "bio_cpulist",
        "aof_rewrite_cpulist",
        "bgsave_cpulist",
        "watchdog-period",
        // KeyDB settings fluidB does not act on (its threads, storage providers, FLASH, ...)
        "allow-write-during-load",
        "server-thread-affinity",
        "active-client-balancing",
        "replica-weighting-factor",
        "enable-motd",
        "loading-process-events-interval-keys",
        "storage-provider",
        "storage-provider-options",
        "storage-cache-mode",
        "storage-flush-period",
        "scratch-file-path",
        "blob-support",
        "db-s3-object",
        "force-eviction-percent",
        "overload-protect-percent",
        "availability-zone",
        "delete-on-evict",
        "use-fork",
        "time-thread-priority",
        "prefetch-enabled",
        "allow-rdb-resize-op",
        "enable-async-commands",
        "multithread-load-enabled",
        "maxclients-reserved",
        "repl-backlog-disk-reserve",
        "force-backlog-disk-reserve",
        "max-snapshot-slip",
        "max-rand-count",
        "maxstorage",
        "soft-shutdown",
        "flash-disable-key-cache",
        "semi-ordered-set-bucket-size",
        "enable-async-rehash",
        "enable-keydb-fastsync",
        "gopher-enabled",
    ];
}
