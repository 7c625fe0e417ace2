//! Cross-module tests of the config subsystem: loading, command line,
//! CONFIG GET/SET/REWRITE together. Expected texts were observed on
//! redis-server 7.0.15 unless marked as KeyDB or fluidB behaviour.

use std::ffi::OsString;
use std::path::Path;

use super::cstr::repr;
use super::*;

fn load(text: &str) -> Config {
    match Config::load_bytes(text.as_bytes()) {
        Ok((cfg, _)) => cfg,
        Err(e) => panic!("{text:?} failed: {e}"),
    }
}

fn load_err(text: &str) -> String {
    match Config::load_bytes(text.as_bytes()) {
        Ok(_) => panic!("{text:?} loaded"),
        Err(e) => e.to_string(),
    }
}

fn fatal(line_no: usize, line: &str, msg: &str) -> String {
    format!(
        "\n*** FATAL CONFIG FILE ERROR (fluidB {VERSION}) ***\nReading the configuration file, at line {line_no}\n>>> '{line}'\n{msg}\n"
    )
}

fn get(cfg: &Config, name: &str) -> String {
    let mut v = cfg.get(&[name.as_bytes()]);
    assert_eq!(v.len(), 1, "{name}: {v:?}");
    v.remove(0).1
}

fn set(cfg: &mut Config, name: &str, value: &str) -> Result<Vec<&'static str>, String> {
    cfg.set(&[(name.as_bytes(), value.as_bytes())])
}

fn run(args: &[&str], stdin: &str) -> Startup {
    let argv: Vec<OsString> =
        std::iter::once("fluidb-server").chain(args.iter().copied()).map(OsString::from).collect();
    from_args_with_stdin(argv, &mut stdin.as_bytes())
}

fn run_ok(args: &[&str]) -> Config {
    match run(args, "") {
        Startup::Run(cfg, _) => cfg,
        Startup::Exit(c, t) => panic!("exit {c}: {t}"),
    }
}

/// A config line that sets `d` to the CONFIG GET text `value`.
fn line_for(d: &Directive, value: &str) -> String {
    if d.is_multi_arg() {
        let words: Vec<String> = value.split(' ').map(|w| repr(w.as_bytes())).collect();
        format!("{} {}", d.name, words.join(" "))
    } else {
        format!("{} {}", d.name, repr(value.as_bytes()))
    }
}

// ----------------------------------------------------------- round trips

/// Every directive: its default, written as a config line, loads back to the
/// same CONFIG GET text; mutable ones also accept it through CONFIG SET.
#[test]
fn every_directive_round_trips_its_default() {
    for d in DIRECTIVES {
        let value = d.default_value();
        if value.is_empty()
            && d.is_multi_arg()
            && !matches!(d.kind, Kind::Special(Special::Bind | Special::Save | Special::LatencyPercentiles))
        {
            continue; // `replicaof`, `storage-provider`, `tls-allowlist` need an argument
        }
        let cfg = load(&line_for(d, &value));
        assert_eq!(d.value(&cfg), value, "{}", d.name);
        if d.is_mutable() && d.flags & PROTECTED == 0 {
            let mut cfg = Config::default();
            set(&mut cfg, d.name, &value).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            assert_eq!(get(&cfg, d.name), value, "{}", d.name);
        }
        for alias in d.aliases {
            assert_eq!(get(&Config::default(), alias), value, "{alias}");
        }
    }
}

/// One non-default value per kind: parse → get → set → get.
#[test]
fn every_kind_round_trips_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let dir_str = dir_path.to_str().unwrap().to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        ("protected-mode", "\"no\"".into(), "no"),
        ("blob-support", "true".into(), "yes"),
        ("port", "7000".into(), "7000"),
        ("list-max-ziplist-size", "-5".into(), "-5"),
        ("maxmemory", "1gb".into(), "1073741824"),
        ("maxmemory", "2K".into(), "2000"),
        ("proto-max-bulk-len", "1mb".into(), "1048576"),
        ("maxmemory-clients", "5%".into(), "5%"),
        ("maxmemory-clients", "10mb".into(), "10485760"),
        ("unixsocketperm", "0700".into(), "700"),
        ("maxmemory-policy", "ALLKEYS-LRU".into(), "allkeys-lru"),
        ("oom-score-adj", "relative".into(), "yes"),
        ("masteruser", "bob".into(), "bob"),
        ("logfile", "\"/tmp/a b.log\"".into(), "/tmp/a b.log"),
        ("requirepass", "'p\"w d'".into(), "p\"w d"),
        ("save", "100 1 200 2".into(), "100 1 200 2"),
        ("bind", "127.0.0.1 -::1".into(), "127.0.0.1 -::1"),
        ("replicaof", "10.0.0.1 6380".into(), "10.0.0.1 6380"),
        (
            "client-output-buffer-limit",
            "pubsub 1mb 2kb 3".into(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 2048 3",
        ),
        (
            "client-output-buffer-limit",
            "replica 1gb 0 0".into(),
            "normal 0 0 0 slave 1073741824 0 0 pubsub 33554432 8388608 60",
        ),
        ("oom-score-adj-values", "1 2 3".into(), "1 2 3"),
        ("notify-keyspace-events", "KEA".into(), "AKE"),
        ("latency-tracking-info-percentiles", "50.5 0 100".into(), "50.5 0 100"),
        ("shutdown-on-sigterm", "save now".into(), "save now"),
        ("server-threads", "4".into(), "4"),
        ("server-thread-affinity", "3".into(), "3"),
        ("storage-provider", "flash /var/flash".into(), "flash /var/flash"),
        ("tls-allowlist", "a.example b.example".into(), "a.example b.example"),
        ("hz", "100".into(), "100"),
        ("hz", "0".into(), "1"),
        ("dir", repr(dir_str.as_bytes()), &dir_str),
        ("active-replica", "yes".into(), "yes"),
    ];
    for (name, arg, want) in &cases {
        let cfg = load(&format!("{name} {arg}"));
        let got = get(&cfg, name);
        assert_eq!(&got, want, "{name} {arg}");
        let (d, _) = lookup(name.as_bytes()).unwrap();
        // CONFIG SET of the CONFIG GET text gives the same value back.
        if d.is_mutable() && d.flags & PROTECTED == 0 {
            let mut fresh = Config::default();
            set(&mut fresh, name, &got).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&get(&fresh, name), want, "{name}");
        }
        // And the value survives a config line written from it.
        let again = load(&line_for(d, &got));
        assert_eq!(&get(&again, name), want, "{name} reload");
    }
}

#[test]
fn typed_fields_hold_the_values() {
    let cfg = load(
        "port 7000\nbind 127.0.0.1 ::1\nsave 900 1\nsave 300 10\nreplicaof h 1\nnotify-keyspace-events Ex\n\
         loglevel warning\nmaxmemory 1mb\nrequirepass secret\nunixsocket /tmp/s.sock\nserver-threads 3\n",
    );
    assert_eq!(cfg.port, 7000);
    assert_eq!(cfg.bind, vec!["127.0.0.1", "::1"]);
    assert_eq!(cfg.save, vec![(900, 1), (300, 10)]);
    assert_eq!(cfg.replicaof, vec![("h".to_string(), 1)]);
    assert_eq!(cfg.notify_keyspace_events, NOTIFY_KEYEVENT | NOTIFY_EXPIRED);
    assert_eq!(cfg.loglevel, LogLevel::Warning);
    assert_eq!(cfg.maxmemory, 1 << 20);
    assert_eq!(cfg.requirepass.as_deref(), Some(&b"secret"[..]));
    assert_eq!(cfg.unixsocket.as_deref(), Some("/tmp/s.sock"));
    assert_eq!(cfg.server_threads, 3);
}

// ---------------------------------------------------------- recognition

/// Directive names of KeyDB 6.3's `keydb.conf` (commented-out ones too),
/// plus the KeyDB-only directives fluidB must accept.
const KEYDB_CONF_NAMES: &[&str] = &[
    "include",
    "loadmodule",
    "bind",
    "protected-mode",
    "port",
    "tcp-backlog",
    "unixsocket",
    "unixsocketperm",
    "timeout",
    "tcp-keepalive",
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
    "tls-rotation",
    "tls-allowlist",
    "daemonize",
    "supervised",
    "pidfile",
    "loglevel",
    "logfile",
    "syslog-enabled",
    "syslog-ident",
    "syslog-facility",
    "crash-log-enabled",
    "crash-memcheck-enabled",
    "databases",
    "always-show-logo",
    "set-proc-title",
    "enable-motd",
    "proc-title-template",
    "save",
    "stop-writes-on-bgsave-error",
    "rdbcompression",
    "rdbchecksum",
    "db-s3-object",
    "sanitize-dump-payload",
    "dbfilename",
    "rdb-del-sync-files",
    "dir",
    "replicaof",
    "masterauth",
    "masteruser",
    "replica-serve-stale-data",
    "allow-write-during-load",
    "replica-quorum",
    "replica-read-only",
    "repl-diskless-sync",
    "repl-diskless-sync-delay",
    "repl-diskless-load",
    "repl-ping-replica-period",
    "repl-timeout",
    "repl-disable-tcp-nodelay",
    "repl-backlog-size",
    "repl-backlog-ttl",
    "replica-priority",
    "replica-announced",
    "min-replicas-to-write",
    "min-replicas-max-lag",
    "replica-announce-ip",
    "replica-announce-port",
    "tracking-table-max-keys",
    "user",
    "acllog-max-len",
    "aclfile",
    "requirepass",
    "acl-pubsub-default",
    "rename-command",
    "maxclients",
    "maxmemory",
    "maxmemory-policy",
    "maxmemory-samples",
    "maxmemory-eviction-tenacity",
    "replica-ignore-maxmemory",
    "active-expire-effort",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "replica-lazy-flush",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "oom-score-adj",
    "oom-score-adj-values",
    "disable-thp",
    "appendonly",
    "appendfilename",
    "appendfsync",
    "no-appendfsync-on-rewrite",
    "auto-aof-rewrite-percentage",
    "auto-aof-rewrite-min-size",
    "aof-load-truncated",
    "aof-use-rdb-preamble",
    "lua-time-limit",
    "cluster-enabled",
    "cluster-config-file",
    "cluster-node-timeout",
    "cluster-replica-validity-factor",
    "cluster-migration-barrier",
    "cluster-allow-replica-migration",
    "cluster-require-full-coverage",
    "cluster-replica-no-failover",
    "cluster-allow-reads-when-down",
    "cluster-announce-ip",
    "cluster-announce-tls-port",
    "cluster-announce-port",
    "cluster-announce-bus-port",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "notify-keyspace-events",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "list-max-ziplist-size",
    "list-compress-depth",
    "set-max-intset-entries",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
    "hll-sparse-max-bytes",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "activerehashing",
    "client-output-buffer-limit",
    "client-query-buffer-limit",
    "proto-max-bulk-len",
    "hz",
    "dynamic-hz",
    "aof-rewrite-incremental-fsync",
    "rdb-save-incremental-fsync",
    "lfu-log-factor",
    "lfu-decay-time",
    "activedefrag",
    "active-defrag-ignore-bytes",
    "active-defrag-threshold-lower",
    "active-defrag-threshold-upper",
    "active-defrag-cycle-min",
    "active-defrag-cycle-max",
    "active-defrag-max-scan-fields",
    "jemalloc-bg-thread",
    "server_cpulist",
    "bio_cpulist",
    "aof_rewrite_cpulist",
    "bgsave_cpulist",
    "ignore-warnings",
    "min-clients-per-thread",
    "loading-process-events-interval-bytes",
    "loading-process-events-interval-keys",
    "multi-master-no-forward",
    "scratch-file-path",
    "server-threads",
    "server-thread-affinity",
    "active-replica",
    "replica-weighting-factor",
    "active-client-balancing",
    "storage-provider",
    "blob-support",
    // KeyDB directives named by the spec but absent from the sample file.
    "multi-master",
    "force-eviction-percent",
    "overload-protect-percent",
    "availability-zone",
];

fn recognised(name: &str) -> bool {
    lookup(name.as_bytes()).is_some()
        || FILE_ONLY_DIRECTIVES.contains(&name)
        || IGNORED_DIRECTIVES.iter().any(|(n, _)| *n == name)
}

#[test]
fn keydb_conf_names_are_recognised() {
    for name in KEYDB_CONF_NAMES {
        assert!(recognised(name), "{name}");
    }
}

/// A typical KeyDB 6.3 configuration loads.
#[test]
fn keydb_sample_loads() {
    let (cfg, warnings) = Config::load_bytes(
        b"server-threads 2\nserver-thread-affinity true\nmin-clients-per-thread 50\nreplica-weighting-factor 2\n\
          active-client-balancing yes\nmulti-master-no-forward no\nloading-process-events-interval-bytes 2097152\n\
          loading-process-events-interval-keys 8192\nscratch-file-path /tmp/\nactive-replica yes\nenable-motd yes\n\
          blob-support false\nstorage-provider flash /path/to/flash/db\ntls-allowlist a b c\n\
          db-s3-object s3://bucket/path/to/object.rdb\nallow-write-during-load no\nreplica-quorum -1\ntls-rotation no\n\
          force-eviction-percent 0\noverload-protect-percent 0\navailability-zone us-east-1a\nlua-time-limit 5000\n\
          hash-max-ziplist-entries 512\nzset-max-ziplist-value 64\nlist-max-ziplist-size -2\n",
    )
    .unwrap();
    assert_eq!(cfg.server_threads, 2);
    assert_eq!(cfg.server_thread_affinity, ThreadAffinity::On { offset: 0 });
    assert_eq!(cfg.tls_allowlist, vec!["a", "b", "c"]);
    assert_eq!(cfg.availability_zone, "us-east-1a");
    assert!(cfg.active_replica && !cfg.replica_read_only);
    assert!(warnings.iter().any(|w| w.contains("implies \"replica-read-only no\"")));
    assert!(warnings.iter().any(|w| w.contains("'storage-provider' is not implemented")));
    assert!(!warnings.iter().any(|w| w.contains("'server-threads'")));
}

/// Every directive named in Redis 7.0's sample `redis.conf`, including the
/// commented-out examples, is recognised.
#[test]
fn redis_conf_names_are_recognised() {
    let Ok(text) = std::fs::read_to_string("/etc/redis/redis.conf") else {
        eprintln!("/etc/redis/redis.conf not installed; skipped");
        return;
    };
    // Words like "allkeys-lru" start comment lines but are values, not names.
    const VALUES: &[&str] = &[
        "allkeys-lfu",
        "allkeys-lru",
        "allkeys-random",
        "volatile-lfu",
        "volatile-lru",
        "volatile-random",
        "volatile-ttl",
        "client-only",
    ];
    // Single-word directives (the heuristic below only trusts dashed words).
    const SINGLE: &[&str] = &[
        "port",
        "bind",
        "timeout",
        "daemonize",
        "pidfile",
        "loglevel",
        "logfile",
        "databases",
        "save",
        "dbfilename",
        "dir",
        "replicaof",
        "masterauth",
        "masteruser",
        "requirepass",
        "maxclients",
        "maxmemory",
        "appendonly",
        "appendfsync",
        "appendfilename",
        "appenddirname",
        "hz",
        "include",
        "loadmodule",
        "unixsocket",
        "unixsocketperm",
        "aclfile",
        "activedefrag",
        "activerehashing",
        "rdbchecksum",
        "rdbcompression",
        "supervised",
        "user",
    ];
    let mut checked = 0;
    for line in text.lines() {
        let body = line.strip_prefix('#').unwrap_or(line);
        let body = body.strip_prefix(' ').unwrap_or(body);
        let Some(word) = body.split(' ').next() else {
            continue;
        };
        let is_name = !word.is_empty()
            && word.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
            && word.as_bytes()[0].is_ascii_lowercase();
        if !is_name || VALUES.contains(&word) {
            continue;
        }
        if word.contains(['-', '_']) || SINGLE.contains(&word) {
            assert!(recognised(word), "{word} (from {line:?})");
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} names checked");
}

/// Debian's `/etc/redis/redis.conf` loads (it is only parsed: daemonize,
/// pidfile and logfile are stored, not acted on).
#[test]
fn real_redis_conf_loads() {
    let path = Path::new("/etc/redis/redis.conf");
    if !path.exists() {
        eprintln!("/etc/redis/redis.conf not installed; skipped");
        return;
    }
    let (cfg, _) = match Config::load_file(path) {
        Ok(v) => v,
        // `dir /var/lib/redis` may be missing where redis-server is not installed.
        Err(e) if e.message() == "No such file or directory" => return,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(cfg.config_file.as_deref(), Some(path));
    assert_eq!(cfg.bind, vec!["127.0.0.1", "-::1"]);
    assert!(cfg.daemonize);
    assert_eq!(
        get(&cfg, "client-output-buffer-limit"),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
    assert_eq!(get(&cfg, "save"), "3600 1 300 100 60 10000");
}

// -------------------------------------------------------------- errors

#[test]
fn fatal_errors_match_redis() {
    assert_eq!(load_err("port 7000\nfoo bar\n"), fatal(2, "foo bar", "Bad directive or wrong number of arguments"));
    assert_eq!(load_err("port abc\n"), fatal(1, "port abc", "argument couldn't be parsed into an integer"));
    assert_eq!(load_err("port 1 2\n"), fatal(1, "port 1 2", "wrong number of arguments"));
    assert_eq!(
        load_err("  port   7000  \n# x\n\n   \nfoo\n"),
        fatal(5, "foo", "Bad directive or wrong number of arguments")
    );
    assert_eq!(load_err("daemonize maybe"), fatal(1, "daemonize maybe", "argument must be 'yes' or 'no'"));
    assert_eq!(
        load_err("loglevel loud"),
        fatal(1, "loglevel loud", "argument(s) must be one of the following: debug, verbose, notice, warning")
    );
    assert_eq!(load_err("save 10"), fatal(1, "save 10", "Invalid save parameters"));
    assert_eq!(load_err("save 0 1"), fatal(1, "save 0 1", "Invalid save parameters"));
    assert_eq!(load_err("save \"\" \"\""), fatal(1, "save \"\" \"\"", "Invalid save parameters"));
    assert_eq!(load_err("port \"7000"), fatal(1, "port \"7000", "Unbalanced quotes in configuration line"));
    assert_eq!(load_err("replicaof localhost"), fatal(1, "replicaof localhost", "wrong number of arguments"));
    assert_eq!(load_err("replicaof localhost 99999"), fatal(1, "replicaof localhost 99999", "Invalid master port"));
    assert_eq!(
        load_err("notify-keyspace-events Q"),
        fatal(1, "notify-keyspace-events Q", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    );
    assert_eq!(
        load_err("client-output-buffer-limit foo 1 2 3"),
        fatal(
            1,
            "client-output-buffer-limit foo 1 2 3",
            "Invalid client class specified in buffer limit configuration."
        )
    );
    assert_eq!(
        load_err("client-output-buffer-limit normal 1 2"),
        fatal(1, "client-output-buffer-limit normal 1 2", "Wrong number of arguments in buffer limit configuration.")
    );
    assert_eq!(
        load_err("maxmemory-clients 200%"),
        fatal(1, "maxmemory-clients 200%", "percentage argument must be less or equal to 100")
    );
    assert_eq!(
        load_err("maxmemory-clients x"),
        fatal(1, "maxmemory-clients x", "argument must be a memory or percent value")
    );
    assert_eq!(
        load_err("unixsocketperm 999"),
        fatal(1, "unixsocketperm 999", "argument couldn't be parsed as an octal number")
    );
    assert_eq!(load_err("dir /nonexistent-fluidb"), fatal(1, "dir /nonexistent-fluidb", "No such file or directory"));
    assert_eq!(
        load_err("slowlog-log-slower-than -5"),
        fatal(1, "slowlog-log-slower-than -5", "argument must be between -1 and 9223372036854775807 inclusive")
    );
    assert_eq!(
        load_err("latency-tracking-info-percentiles 101"),
        fatal(
            1,
            "latency-tracking-info-percentiles 101",
            "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
        )
    );
    assert_eq!(load_err("oom-score-adj-values 1 2"), fatal(1, "oom-score-adj-values 1 2", "wrong number of arguments"));
    assert_eq!(
        load_err("oom-score-adj-values 1 2 5000"),
        fatal(
            1,
            "oom-score-adj-values 1 2 5000",
            "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
        )
    );
    assert_eq!(
        load_err("list-max-ziplist-entries 5 6"),
        fatal(1, "list-max-ziplist-entries 5 6", "Bad directive or wrong number of arguments")
    );
    assert_eq!(load_err("foo.bar"), fatal(1, "foo.bar", "Module config specified without value"));
    assert_eq!(load_err("maxmemory 1.5gb"), fatal(1, "maxmemory 1.5gb", "argument must be a memory value"));
    assert_eq!(load_err("maxmemory -1"), fatal(1, "maxmemory -1", "argument must be a memory value"));
    assert_eq!(load_err("databases 0"), fatal(1, "databases 0", "argument must be between 1 and 2147483647 inclusive"));
    let many = format!("bind {}", (1..=17).map(|i| i.to_string()).collect::<Vec<_>>().join(" "));
    assert_eq!(load_err(&many), fatal(1, &many, "Too many bind addresses specified."));
    assert_eq!(load_err("requirepass"), fatal(1, "requirepass", "wrong number of arguments"));
    assert_eq!(load_err("user"), fatal(1, "user", "Bad directive or wrong number of arguments"));
    assert_eq!(load_err("sentinel foo"), fatal(1, "sentinel foo", "sentinel directive while not in sentinel mode"));
    assert_eq!(
        load_err("cluster-enabled yes\nreplicaof h 1\n"),
        format!(
            "\n*** FATAL CONFIG FILE ERROR (fluidB {VERSION}) ***\nreplicaof directive not allowed in cluster mode\n"
        )
    );
}

#[test]
fn accepted_oddities_match_redis() {
    // Deprecated directives are ignored, `bind` alone means no address,
    // `hz` is clamped, `save` alone drops the defaults.
    let cfg = load("list-max-ziplist-entries 5\nlua-replicate-commands yes\nbind\nhz 100000\nsave\n");
    assert!(cfg.bind.is_empty());
    assert_eq!(cfg.hz, 500);
    assert!(cfg.save.is_empty());
    assert_eq!(get(&load("save 100 1\nsave\n"), "save"), "100 1");
    assert_eq!(get(&load("save 100 1\nsave \"\"\nsave 200 2\n"), "save"), "200 2");
    assert_eq!(get(&load("save 100 1 200 2\nsave 300 3\n"), "save"), "100 1 200 2 300 3");
    assert_eq!(get(&load("port 1\n"), "save"), "3600 1 300 100 60 10000");
    assert_eq!(get(&load("PORT 7000\n"), "port"), "7000");
    assert_eq!(get(&load("sentinel\n"), "port"), "6379");
    assert_eq!(get(&load("foo.bar 1\n"), "port"), "6379");
}

#[test]
fn include_errors_name_the_line_of_the_included_file() {
    let dir = tempfile::tempdir().unwrap();
    let inc = dir.path().join("inc.conf");
    std::fs::write(&inc, "# comment\nmaxmemory 10qq\n").unwrap();
    let main = dir.path().join("main.conf");
    std::fs::write(&main, format!("port 7000\ninclude {}\nport 7001\n", inc.display())).unwrap();
    let err = Config::load_file(&main).unwrap_err();
    assert_eq!(err.to_string(), fatal(2, "maxmemory 10qq", "argument must be a memory value"));
    assert_eq!(err.line_number(), Some(2));
    assert_eq!(err.file(), Some(inc.as_path()));

    let missing = dir.path().join("nope.conf");
    std::fs::write(&main, format!("include {}\n", missing.display())).unwrap();
    assert_eq!(
        Config::load_file(&main).unwrap_err().to_string(),
        format!("Fatal error, can't open config file '{}': No such file or directory\n", missing.display())
    );
}

#[test]
fn includes_nest_glob_and_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("conf.d")).unwrap();
    std::fs::write(d.join("conf.d/b.conf"), "maxclients 200\n").unwrap();
    std::fs::write(d.join("conf.d/a.conf"), "maxclients 100\ntimeout 5\n").unwrap();
    std::fs::write(d.join("conf.d/.hidden.conf"), "timeout 9\n").unwrap();
    std::fs::write(d.join("nested.conf"), "include conf.d/*.conf\n").unwrap();
    // Relative includes follow `dir`, as Redis opens them from its working directory.
    let main = d.join("main.conf");
    std::fs::write(&main, format!("dir {}\ninclude nested.conf\ninclude empty.d/*.conf\n", d.display())).unwrap();
    let (cfg, _) = Config::load_file(&main).unwrap();
    assert_eq!(cfg.maxclients, 200); // a.conf then b.conf
    assert_eq!(cfg.timeout, 5);
    // A file including itself stops at the depth limit.
    std::fs::write(&main, format!("include {}\n", main.display())).unwrap();
    let err = Config::load_file(&main).unwrap_err().to_string();
    assert!(err.contains("include nesting deeper than"), "{err}");
}

// -------------------------------------------------------- command line

#[test]
fn command_line_options_follow_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.conf");
    std::fs::write(&file, "port 7000\nmaxclients 5\nsave 10 1\n").unwrap();
    let f = file.to_str().unwrap();
    let cfg = run_ok(&[f, "--port", "7001", "--logfile", "a b", "--save", "", "--bind", "127.0.0.1", "::1"]);
    assert_eq!(cfg.port, 7001);
    assert_eq!(cfg.maxclients, 5);
    assert_eq!(cfg.logfile, "a b");
    assert!(cfg.save.is_empty());
    assert_eq!(cfg.bind, vec!["127.0.0.1", "::1"]);
    assert_eq!(cfg.config_file.as_deref(), Some(file.as_path()));
    // `--save` followed by an option is `save ""`.
    assert!(run_ok(&["--save", "--port", "1"]).save.is_empty());
    // Errors on option lines count lines after the file's.
    match run(&[f, "--port", "abc"], "") {
        Startup::Exit(1, t) => assert_eq!(t, fatal(5, "port \"abc\"", "argument couldn't be parsed into an integer")),
        other => panic!("{other:?}"),
    }
    match run(&["--port", "0", "--foo"], "") {
        Startup::Exit(1, t) => assert_eq!(t, fatal(3, "foo", "Bad directive or wrong number of arguments")),
        other => panic!("{other:?}"),
    }
    match run(&["/nonexistent/x.conf"], "") {
        Startup::Exit(1, t) => {
            assert_eq!(t, "Fatal error, can't open config file '/nonexistent/x.conf': No such file or directory\n")
        }
        other => panic!("{other:?}"),
    }
    // No arguments at all: defaults, no config file.
    let cfg = run_ok(&[]);
    assert_eq!(cfg.port, 6379);
    assert!(cfg.config_file.is_none());
}

#[test]
fn stdin_sits_between_file_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.conf");
    std::fs::write(&file, "port 7000\ntimeout 1\n").unwrap();
    let f = file.to_str().unwrap();
    match run(&[f, "--timeout", "3", "-"], "timeout 2\nmaxclients 9\n") {
        Startup::Run(cfg, warnings) => {
            assert_eq!((cfg.port, cfg.timeout, cfg.maxclients), (7000, 3, 9));
            assert!(warnings.contains(&"Reading config from stdin".to_string()));
        }
        other => panic!("{other:?}"),
    }
    match run(&["-", "--port", "abc"], "port 7\n") {
        Startup::Exit(1, t) => assert_eq!(t, fatal(3, "port \"abc\"", "argument couldn't be parsed into an integer")),
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------ KeyDB rules

#[test]
fn keydb_replicaof_rules() {
    // Without multi-master a later replicaof replaces the earlier one.
    assert_eq!(load("replicaof a 1\nreplicaof b 2\n").replicaof, vec![("b".to_string(), 2)]);
    // With it each one adds a master, without duplicates.
    let cfg = load("active-replica yes\nmulti-master yes\nreplicaof a 1\nreplicaof b 2\nslaveof a 1\n");
    assert_eq!(cfg.replicaof, vec![("a".to_string(), 1), ("b".to_string(), 2)]);
    assert!(!cfg.replica_read_only);
    // CONFIG GET answers one entry per master, as KeyDB does.
    assert_eq!(cfg.get(&[b"replicaof"]), vec![("replicaof".into(), "a 1".into()), ("replicaof".into(), "b 2".into())]);
    // `replicaof no one` clears the masters listed before it.
    let cfg =
        load("active-replica yes\nmulti-master yes\nreplicaof a 1\nreplicaof b 2\nreplicaof no one\nreplicaof c 3\n");
    assert_eq!(cfg.replicaof, vec![("c".to_string(), 3)]);
    // The mode must be set before any replicaof line.
    assert_eq!(
        load_err("replicaof a 1\nactive-replica yes\n"),
        fatal(2, "active-replica yes", "active-replica yes must be set before any replicaof directive")
    );
    assert_eq!(
        load_err("active-replica yes\nreplicaof a 1\nmulti-master yes\n"),
        fatal(3, "multi-master yes", "multi-master yes must be set before any replicaof directive")
    );
    assert_eq!(load("replicaof a 1\nreplicaof no one\nactive-replica yes\n").replicaof, vec![]);
    assert_eq!(
        load_err("multi-master yes\n"),
        fatal(1, "multi-master yes", "multi-master yes requires active-replica yes")
    );
    // A later replica-read-only wins over the implied one, as in KeyDB.
    assert!(load("active-replica yes\nreplica-read-only yes\n").replica_read_only);
    // KeyDB booleans take true/false; Redis ones do not.
    assert!(load("active-replica true\n").active_replica);
    assert!(Config::load_bytes(b"daemonize true\n").is_err());
}

#[test]
fn keydb_command_line_masters() {
    let cfg = run_ok(&[
        "--active-replica",
        "yes",
        "--multi-master",
        "yes",
        "--replicaof",
        "10.0.0.2",
        "6379",
        "--replicaof",
        "10.0.0.3",
        "6380",
    ]);
    assert_eq!(cfg.replicaof, vec![("10.0.0.2".to_string(), 6379), ("10.0.0.3".to_string(), 6380)]);
    match run(&["--replicaof", "h", "1", "--active-replica", "yes"], "") {
        Startup::Exit(1, t) => {
            assert!(t.contains("active-replica yes must be set before any replicaof directive"), "{t}")
        }
        other => panic!("{other:?}"),
    }
}

// --------------------------------------------------------------- rewrite

const SRV_CONF: &str = "# my comment\nport 17771\nsave \"\"\n# another\nmaxmemory 100mb\nslave-read-only yes\n\
                        hash-max-ziplist-entries 100\nsave 100 1\nloglevel  notice\n\n\n\n# trailing\n";

fn split_at_signature(text: &str) -> (String, Vec<String>) {
    let (head, tail) = text.split_once(REWRITE_SIGNATURE).unwrap_or((text, ""));
    let mut tail: Vec<String> = tail.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    tail.sort();
    (head.to_string(), tail)
}

/// Replays an experiment made on redis-server 7.0.15 (same file, same
/// CONFIG SET calls): the kept part of the file must be byte-identical, the
/// appended part the same set of lines (Redis appends in hash order, and also
/// writes `user default ...` lines, which belong to the ACL module).
#[test]
fn rewrite_matches_redis() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("srv.conf");
    std::fs::write(&path, SRV_CONF).unwrap();
    let (mut cfg, _) = Config::load_file(&path).unwrap();
    let d = cfg.dir.clone();

    cfg.rewrite().unwrap();
    let first = std::fs::read_to_string(&path).unwrap();
    let (head, tail) = split_at_signature(&first);
    assert_eq!(
        head,
        "# my comment\nport 17771\nsave 100 1\n# another\nmaxmemory 100mb\nreplica-read-only yes\n\
         hash-max-listpack-entries 100\n\nloglevel notice\n\n# trailing\n\n"
    );
    let mut want = vec![format!("dir {}", repr(d.as_bytes())), "latency-tracking-info-percentiles 50 99 99.9".into()];
    want.sort();
    assert_eq!(tail, want);

    let pairs: Vec<(&[u8], &[u8])> = vec![
        (b"maxmemory", b"200mb"),
        (b"timeout", b"30"),
        (b"notify-keyspace-events", b"KEA"),
        (b"bind", b"127.0.0.1 ::1"),
        (b"requirepass", b"p\"w d"),
        (b"masteruser", b""),
        (b"client-output-buffer-limit", b"pubsub 1mb 2kb 3"),
        (b"save", b"10 1 20 2 30 3"),
        (b"loglevel", b"verbose"),
        (b"maxmemory-clients", b"5%"),
        (b"proto-max-bulk-len", b"1000000000"),
        (b"oom-score-adj-values", b"1 2 3"),
        (b"replica-announce-ip", b"a\\b"),
        (b"hz", b"1000"),
    ];
    cfg.set(&pairs).unwrap();
    cfg.rewrite().unwrap();
    let second = std::fs::read_to_string(&path).unwrap();
    let (head, tail) = split_at_signature(&second);
    assert_eq!(
        head,
        "# my comment\nport 17771\nsave 10 1\n# another\nmaxmemory 200mb\nreplica-read-only yes\n\
         hash-max-listpack-entries 100\n\nloglevel verbose\n\n# trailing\n\n"
    );
    let mut want: Vec<String> = [
        format!("dir {}", repr(d.as_bytes())).as_str(),
        "latency-tracking-info-percentiles 50 99 99.9",
        "maxmemory-clients 5%",
        "oom-score-adj-values 1 2 3",
        "hz 500",
        "notify-keyspace-events \"AKE\"",
        "requirepass \"p\\\"w d\"",
        "client-output-buffer-limit pubsub 1mb 2kb 3",
        "replica-announce-ip \"a\\\\b\"",
        "bind 127.0.0.1 ::1",
        "timeout 30",
        "save 20 2",
        "save 30 3",
        "proto-max-bulk-len 1000000000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.sort();
    assert_eq!(tail, want);
    // As in Redis, the first rewrite left a blank line before the new tail.
    assert!(
        second.contains("latency-tracking-info-percentiles 50 99 99.9\n\n")
            || second.contains(&format!("dir {}\n\n", repr(d.as_bytes())))
    );

    // The rewritten file loads back to the same configuration.
    let (again, _) = Config::load_file(&path).unwrap();
    assert_eq!(again, cfg);
}

/// Second experiment on redis-server 7.0.15: file-only directives are kept,
/// aliases are renamed, deprecated lines are commented out, and a reused
/// line of a multi-line directive holds its first class.
#[test]
fn rewrite_keeps_file_only_lines_and_renames_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.conf");
    std::fs::write(&empty, "").unwrap();
    let path = dir.path().join("rw.conf");
    let text = format!(
        "port 17773\ninclude {}\nrename-command FLUSHALL \"\"\nsave 5 5\nSLAVEOF 127.0.0.1 1\nlist-max-ziplist-entries 5\n\
         unixsocketperm 0700\nsentinel\nbind 127.0.0.1\nmaxmemory 1mb\nrepl-ping-slave-period 11\n\
         client-output-buffer-limit replica 1 2 3\n",
        empty.display()
    );
    std::fs::write(&path, text).unwrap();
    let (mut cfg, _) = Config::load_file(&path).unwrap();
    assert_eq!(get(&cfg, "unixsocketperm"), "700");
    cfg.set(&[(b"maxmemory", b"0")]).unwrap();
    cfg.rewrite().unwrap();
    let out = std::fs::read_to_string(&path).unwrap();
    let (head, tail) = split_at_signature(&out);
    assert_eq!(
        head,
        format!(
            "port 17773\ninclude {}\nrename-command FLUSHALL \"\"\nsave 5 5\nreplicaof 127.0.0.1 1\n# ??? list-max-ziplist-entries 5\n\
             unixsocketperm 700\nsentinel\nbind 127.0.0.1\nmaxmemory 0\nrepl-ping-replica-period 11\n\
             client-output-buffer-limit normal 0 0 0\n\n",
            empty.display()
        )
    );
    let mut want = vec![
        "latency-tracking-info-percentiles 50 99 99.9".to_string(),
        format!("dir {}", repr(cfg.dir.as_bytes())),
        "client-output-buffer-limit replica 1 2 3".to_string(),
    ];
    want.sort();
    assert_eq!(tail, want);
    let (again, _) = Config::load_file(&path).unwrap();
    assert_eq!(again, cfg);
}

#[test]
fn rewrite_of_active_replica_masters_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.conf");
    std::fs::write(&path, "# keydb\n").unwrap();
    let f = path.to_str().unwrap();
    let cfg = run_ok(&[
        f,
        "--active-replica",
        "yes",
        "--multi-master",
        "yes",
        "--replicaof",
        "h1",
        "1",
        "--replicaof",
        "h2",
        "2",
    ]);
    cfg.rewrite().unwrap();
    let out = std::fs::read_to_string(&path).unwrap();
    let a = out.find("active-replica yes").unwrap();
    let m = out.find("multi-master yes").unwrap();
    let r1 = out.find("replicaof h1 1").unwrap();
    let r2 = out.find("replicaof h2 2").unwrap();
    assert!(a < m && m < r1 && r1 < r2, "{out}");
    assert!(out.starts_with("# keydb\n"));
    let (again, _) = Config::load_file(&path).unwrap();
    assert_eq!(again.replicaof, cfg.replicaof);
    assert_eq!(again, cfg);
    // Removing the masters removes the lines.
    let mut cfg = again;
    cfg.replicaof.clear();
    cfg.rewrite().unwrap();
    assert!(!std::fs::read_to_string(&path).unwrap().contains("replicaof"));
}

#[test]
fn rewrite_of_a_missing_file_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.conf");
    let cfg = Config { config_file: Some(path.clone()), port: 7000, ..Config::default() };
    cfg.rewrite().unwrap();
    let out = std::fs::read_to_string(&path).unwrap();
    assert!(out.starts_with("# Generated by CONFIG REWRITE\nport 7000\n"), "{out}");
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn activedefrag_is_refused_like_redis_without_defrag() {
    let why = "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified \
               Jemalloc like the one shipped by default with the Redis source distribution";
    assert_eq!(load_err("activedefrag yes"), fatal(1, "activedefrag yes", why));
    assert!(!load("activedefrag no").activedefrag);
    let mut cfg = Config::default();
    assert_eq!(
        set(&mut cfg, "activedefrag", "yes").unwrap_err(),
        format!("ERR CONFIG SET failed (possibly related to argument 'activedefrag') - {why}")
    );
}

#[test]
fn logfile_check_and_apply_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ok = Config { logfile: dir.path().join("x.log").to_string_lossy().into_owned(), ..Config::default() };
    assert_eq!(ok.check_logfile(), Ok(()));
    let bad = Config { logfile: "/nonexistent-fluidb/x.log".into(), ..Config::default() };
    assert_eq!(bad.check_logfile().unwrap_err(), "Can't open the log file: No such file or directory");
    assert_eq!(
        set_failed_error("port", "Unable to listen on this port. Check server logs."),
        "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."
    );
}

#[test]
fn warnings_name_unimplemented_directives_once() {
    let (_, warnings) = Config::load_bytes(b"maxmemory 1mb\nmaxmemory 2mb\nport 7000\nappendonly no\n").unwrap();
    let maxmemory: Vec<&String> = warnings.iter().filter(|w| w.contains("'maxmemory'")).collect();
    assert_eq!(maxmemory.len(), 1, "{warnings:?}");
    assert!(maxmemory[0].contains("(line 1)"), "{warnings:?}");
    // Implemented ones, and unimplemented ones left at their default, are silent.
    assert!(!warnings.iter().any(|w| w.contains("'port'") || w.contains("'appendonly'")), "{warnings:?}");
}

// ----------------------------------------------------------- robustness

mod props {
    use super::*;
    use proptest::prelude::*;

    fn config_bytes() -> impl Strategy<Value = Vec<u8>> {
        let words = prop::sample::select(vec![
            &b"port "[..],
            b"save ",
            b"bind ",
            b"\"",
            b"'",
            b"\\x4",
            b"\n",
            b" ",
            b"#",
            b"replicaof ",
            b"include ",
            b"yes",
            b"no",
            b"1gb",
            b"-1",
            b"%",
            b"\0",
            b"active-replica ",
            b"multi-master ",
            b"notify-keyspace-events ",
            b"client-output-buffer-limit ",
            b"dir ",
            b"{",
            b"slaveof ",
            b"99999999999999999999",
        ]);
        prop::collection::vec(
            prop_oneof![words.prop_map(<[u8]>::to_vec), prop::collection::vec(any::<u8>(), 0..8)],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn loading_never_panics(text in config_bytes()) {
            let _ = Config::load_bytes(&text);
        }

        #[test]
        fn arbitrary_bytes_never_panic(text in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = Config::load_bytes(&text);
            let _ = super::super::splitargs::split_args(&text);
            let _ = parse_memory(&text);
            let _ = super::super::cstr::string_match(&text, b"hash-max-listpack-entries", true);
        }

        #[test]
        fn config_set_never_panics_and_is_atomic(
            name in prop::sample::select(DIRECTIVES.iter().map(|d| d.name).collect::<Vec<_>>()),
            value in prop::collection::vec(any::<u8>(), 0..24),
        ) {
            let mut cfg = Config::default();
            let before = cfg.clone();
            if cfg.set(&[(name.as_bytes(), &value), (b"port", b"x")]).is_ok() {
                prop_assert!(false, "second pair is invalid");
            }
            prop_assert_eq!(&cfg, &before);
            let _ = cfg.set(&[(name.as_bytes(), &value)]);
            let _ = cfg.get(&[b"*"]);
        }

        #[test]
        fn command_line_never_panics(args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 0..6)) {
            use std::os::unix::ffi::OsStringExt;
            let mut argv = vec![OsString::from("fluidb-server")];
            argv.extend(args.into_iter().map(|a| {
                // Keep to options so nothing is read from a random path.
                let mut v = b"--".to_vec();
                v.extend(a);
                OsString::from_vec(v)
            }));
            let _ = from_args_with_stdin(argv, &mut &b""[..]);
        }
    }
}
