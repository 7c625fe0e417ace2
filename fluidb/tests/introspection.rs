//! Server introspection: COMMAND, INFO, DEBUG, SLOWLOG, LATENCY, TIME, LASTSAVE, ROLE,
//! SHUTDOWN.

mod common;
use common::*;

use std::time::{Duration, Instant};

fn same_as_redis(args: &[&str], script: &[&[&str]]) {
    let f = Server::start(args);
    let r = Server::start_redis(args);
    let (mut a, mut b) = (f.raw(), r.raw());
    for cmd in script {
        let x = without_id(&a.call(cmd));
        let y = without_id(&b.call(cmd));
        assert_eq!(x, y, "reply to {cmd:?} differs (left fluidB, right redis)");
    }
}

/// Blanks the client id in a HELLO reply (ids depend on earlier connections).
fn without_id(reply: &str) -> String {
    match reply.split_once("$2\r\nid\r\n:") {
        Some((head, tail)) => format!("{head}$2\r\nid\r\n:ID{}", &tail[tail.find('\r').unwrap_or(0)..]),
        None => reply.to_string(),
    }
}

fn debug_server() -> Server {
    Server::start(&["--enable-debug-command", "yes"])
}

// ---- COMMAND ----

#[test]
fn command_info_of_family_commands_matches_redis() {
    // Commands whose metadata is complete in the table (no key specs, no arguments).
    let names = [
        "ping",
        "echo",
        "quit",
        "select",
        "auth",
        "hello",
        "client|id",
        "client|getname",
        "client|setname",
        "client|kill",
        "client|list",
        "client|info",
        "client|pause",
        "client|unpause",
        "client|reply",
        "client|no-evict",
        "client|help",
        "command|count",
        "command|getkeys",
        "command|info",
        "command|docs",
        "command|list",
        "info",
        "debug",
        "time",
        "lastsave",
        "role",
        "shutdown",
        "slowlog|get",
        "slowlog|len",
        "slowlog|reset",
        "slowlog|help",
        "latency|latest",
        "latency|history",
        "latency|reset",
        "latency|help",
        "nosuch",
    ];
    for proto in ["2", "3"] {
        let mut script: Vec<Vec<&str>> = vec![vec!["HELLO", proto]];
        for n in names {
            script.push(vec!["COMMAND", "INFO", n]);
        }
        let refs: Vec<&[&str]> = script.iter().map(|v| v.as_slice()).collect();
        same_as_redis(&[], &refs);
    }
}

#[test]
fn command_docs_match_redis_for_commands_without_arguments() {
    let names = [
        "time",
        "lastsave",
        "role",
        "debug",
        "client|id",
        "client|getname",
        "client|info",
        "client|unpause",
        "client|help",
        "client|getredir",
        "client|trackinginfo",
        "slowlog|len",
        "slowlog|reset",
        "slowlog|help",
        "latency|latest",
        "latency|help",
        "command|count",
        "command|help",
        "nosuch",
    ];
    for proto in ["2", "3"] {
        let mut script: Vec<Vec<&str>> = vec![vec!["HELLO", proto]];
        for n in names {
            script.push(vec!["COMMAND", "DOCS", n]);
        }
        script.push(vec!["COMMAND", "DOCS", "time", "nosuch", "lastsave"]);
        let refs: Vec<&[&str]> = script.iter().map(|v| v.as_slice()).collect();
        same_as_redis(&[], &refs);
    }
}

#[test]
fn command_count_list_and_filters() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let count: usize = r.call(&["COMMAND", "COUNT"]).trim_start_matches(':').trim().parse().unwrap();
    assert!(count >= 20, "{count}");
    let all = r.call(&["COMMAND"]);
    assert!(all.starts_with(&format!("*{count}\r\n")), "COMMAND returns every top-level command");
    let list = r.call(&["COMMAND", "LIST"]);
    assert!(list.contains("$11\r\nclient|list\r\n") && list.contains("$3\r\nget\r\n"));
    assert_eq!(r.call(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "s?t"]), "*1\r\n$3\r\nset\r\n");
    let conn = r.call(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "connection"]);
    assert!(conn.contains("$4\r\nping\r\n") && !conn.contains("$3\r\nget\r\n"), "{conn}");
    assert!(conn.contains("$9\r\nclient|id\r\n"));
    assert_eq!(r.call(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"]), "*0\r\n");
    assert_eq!(r.call(&["COMMAND", "LIST", "FILTERBY", "MODULE", "foo"]), "*0\r\n");
    let info_all = r.call(&["COMMAND", "INFO"]);
    assert!(info_all.starts_with(&format!("*{count}\r\n")));
    assert_eq!(r.call(&["COMMAND", "INFO", "get", "nosuch"]).lines().filter(|l| *l == "$-1").count(), 1);
}

#[test]
fn command_errors_and_getkeys_match_redis() {
    same_as_redis(
        &[],
        &[
            &["COMMAND", "HELP"],
            &["COMMAND", "nosuch"],
            &["COMMAND", "COUNT", "x"],
            &["COMMAND", "INFO", "nosuch"],
            &["COMMAND", "DOCS", "nosuch"],
            &["COMMAND", "LIST", "FILTERBY", "foo", "bar"],
            &["COMMAND", "LIST", "FILTERBY", "pattern"],
            &["COMMAND", "LIST", "FILTERBY", "aclcat", "nosuch"],
            &["COMMAND", "LIST", "FILTERBY", "module", "foo"],
            &["COMMAND", "LIST", "FILTERBY", "pattern", "s?t"],
            &["COMMAND", "LIST", "foo"],
            &["COMMAND", "GETKEYS"],
            &["COMMAND", "GETKEYS", "nosuch", "a"],
            &["COMMAND", "GETKEYS", "ping"],
            &["COMMAND", "GETKEYS", "ping", "x"],
            &["COMMAND", "GETKEYS", "get"],
            &["COMMAND", "GETKEYS", "get", "a"],
            &["COMMAND", "GETKEYS", "get", "a", "b"],
            &["COMMAND", "GETKEYS", "mset", "a", "b", "c", "d"],
            &["COMMAND", "GETKEYS", "mset", "a", "b", "c"],
            &["COMMAND", "GETKEYS", "client", "nosuch", "x"],
            &["COMMAND", "GETKEYS", "client", "list", "x"],
            &["COMMAND", "GETKEYSANDFLAGS", "get", "a"],
            &["COMMAND", "GETKEYSANDFLAGS", "ping", "a"],
        ],
    );
}

// ---- INFO ----

fn field(info: &str, name: &str) -> String {
    let p = format!("{name}:");
    info.lines().find_map(|l| l.strip_prefix(&p)).unwrap_or_else(|| panic!("no {name} in INFO")).to_string()
}

/// used_memory counts what the dataset allocates (it once read glibc's counters while the
/// server allocates with jemalloc, and stayed flat whatever was stored).
#[test]
fn used_memory_follows_the_dataset() {
    let s = Server::start(&[]);
    let used = || field(&s.cli(&["info", "memory"]), "used_memory").parse::<u64>().expect("used_memory");
    let before = used();
    let value = "x".repeat(4 << 20);
    let mut c = s.client();
    for i in 0..4 {
        let _: () = redis::cmd("SET").arg(format!("big{i}")).arg(&value).query(&mut c).expect("SET");
    }
    let after = used();
    assert!(after >= before + (16 << 20), "used_memory {before} -> {after} after storing 16 MB");
    let _: () = redis::cmd("FLUSHALL").arg("SYNC").query(&mut c).expect("FLUSHALL");
    assert!(used() < after - (15 << 20), "used_memory went back down after FLUSHALL");
}

#[test]
fn info_sections_and_fields() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let info = s.cli(&["info"]);
    let headers: Vec<&str> = info.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(
        headers,
        [
            "# Server",
            "# Clients",
            "# Memory",
            "# Persistence",
            "# Stats",
            "# Replication",
            "# CPU",
            "# Modules",
            "# Errorstats",
            "# Cluster",
            "# Keyspace"
        ]
    );
    assert_eq!(field(&info, "redis_version"), "7.0.15");
    assert_eq!(field(&info, "redis_mode"), "standalone");
    assert_eq!(field(&info, "tcp_port"), s.port.to_string());
    assert_eq!(field(&info, "process_id"), s.child.id().to_string());
    assert_eq!(field(&info, "role"), "master");
    assert_eq!(field(&info, "aof_enabled"), "0");
    assert_eq!(field(&info, "loading"), "0");
    assert!(field(&info, "used_memory").parse::<u64>().unwrap() > 0);
    assert!(field(&info, "used_memory_rss").parse::<u64>().unwrap() > 0);
    assert_eq!(field(&info, "mem_allocator"), "jemalloc-5.3.0");
    assert_eq!(field(&info, "run_id").len(), 40);
    assert_eq!(field(&info, "master_replid").len(), 40);
    assert!(field(&info, "used_cpu_user").parse::<f64>().is_ok());
    // Every field Redis 7.0 prints in the default sections is present (same names).
    let redis = Server::start_redis(&[]);
    let rinfo = redis.cli(&["info"]);
    let names = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains(':') && !l.starts_with('#'))
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    let ours = names(&info);
    for n in names(&rinfo) {
        if n.starts_with("db") || n.starts_with("errorstat_") {
            continue;
        }
        assert!(ours.contains(&n), "INFO lacks {n}");
    }

    // Keyspace, dirty counter, hits/misses.
    r.call(&["SET", "a", "1"]);
    r.call(&["SET", "b", "2", "EX", "100"]);
    r.call(&["GET", "a"]);
    r.call(&["GET", "nosuch"]);
    let info = r.call(&["INFO", "keyspace", "persistence", "stats"]);
    assert!(info.contains("# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n"), "{info}");
    assert_eq!(field(&info, "rdb_changes_since_last_save"), "2");
    assert_eq!(field(&info, "keyspace_hits"), "1");
    assert_eq!(field(&info, "keyspace_misses"), "1");
    let headers: Vec<&str> = info.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(headers, ["# Persistence", "# Stats", "# Keyspace"], "fixed order whatever the argument order");
    assert_eq!(field(&r.call(&["INFO", "replication"]), "master_repl_offset"), {
        let role = r.call(&["ROLE"]);
        role.lines().nth(3).unwrap().trim_start_matches(':').to_string()
    });
}

#[test]
fn info_commandstats_and_errorstats() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    r.call(&["SET", "a", "x"]);
    r.call(&["SET", "a", "x"]);
    r.call(&["INCR", "a"]);
    r.call(&["NOSUCHCMD"]);
    r.call(&["GET"]);
    r.call(&["CLIENT", "ID"]);
    let info = r.call(&["INFO", "commandstats", "errorstats"]);
    let set = field(&info, "cmdstat_set");
    assert!(set.starts_with("calls=2,usec="), "{set}");
    assert!(set.ends_with(",rejected_calls=0,failed_calls=0"), "{set}");
    assert!(field(&info, "cmdstat_incr").ends_with(",rejected_calls=0,failed_calls=1"));
    assert!(field(&info, "cmdstat_get").starts_with("calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,"));
    assert!(field(&info, "cmdstat_client|id").starts_with("calls=1,"));
    assert_eq!(field(&info, "errorstat_ERR"), "count=3");
    let all = r.call(&["INFO", "all"]);
    assert!(all.contains("# Commandstats\r\n") && all.contains("# Latencystats\r\n"));
    assert_eq!(all.lines().filter(|l| l.starts_with('#')).count(), 13);
    assert_eq!(r.call(&["INFO", "everything"]).lines().filter(|l| l.starts_with('#')).count(), 13);
    let d = r.call(&["INFO", "default", "commandstats"]);
    assert_eq!(d.lines().filter(|l| l.starts_with('#')).count(), 12);
}

#[test]
fn info_framing_matches_redis() {
    same_as_redis(&[], &[&["INFO", "nosuch"], &["INFO", "keyspace"], &["INFO", "cluster"], &["INFO", "modules"]]);
    let s = Server::start(&[]);
    let mut r = s.raw();
    let cpu = r.call(&["INFO", "CPU"]);
    assert!(cpu.starts_with('$') && cpu.contains("\r\n# CPU\r\nused_cpu_sys:") && cpu.ends_with("\r\n\r\n"));
    r.call(&["HELLO", "3"]);
    let v = r.call(&["INFO", "cluster"]);
    assert_eq!(v, "=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n");
}

// ---- DEBUG ----

#[test]
fn debug_is_refused_unless_enabled() {
    let msg = "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n";
    let s = Server::start(&["--enable-debug-command", "no"]);
    let mut r = s.raw();
    assert_eq!(r.call(&["DEBUG", "DIGEST"]), msg);
    assert_eq!(r.call(&["DEBUG", "HELP"]), msg);
    assert!(field(&r.call(&["INFO", "commandstats"]), "cmdstat_debug").contains("rejected_calls=2"));
    let local = Server::start(&["--enable-debug-command", "local"]);
    assert_eq!(local.raw().call(&["DEBUG", "DIGEST"]), format!("+{}\r\n", "0".repeat(40)));
    // Compared with redis-server 7.0 with the default setting (a later argument overrides
    // the harness's `--enable-debug-command yes`).
    let f = Server::start(&["--enable-debug-command", "no"]);
    let red = Server::start_redis(&["--enable-debug-command", "no"]);
    assert_eq!(f.raw().call(&["DEBUG", "SLEEP", "0"]), red.raw().call(&["DEBUG", "SLEEP", "0"]));
}

/// Builds the same string dataset on both servers: several databases, some keys with a
/// TTL, int/embstr/raw encodings, binary keys and values.
fn build_dataset(r: &mut Raw) {
    let big = "x".repeat(100);
    let cmds: Vec<Vec<&str>> = vec![
        vec!["SELECT", "0"],
        vec!["SET", "a", "1"],
        vec!["SET", "b", "hello"],
        vec!["SET", "c", &big],
        vec!["SET", "neg", "-42"],
        vec!["SET", "bin\u{0}key", "v\r\nal"],
        vec!["SET", "ttl1", "v", "EX", "1000"],
        vec!["SET", "ttl2", "12345", "PX", "5000000"],
        vec!["SELECT", "1"],
        vec!["SET", "a", "1"],
        vec!["SELECT", "5"],
        vec!["SET", "z", "in five", "EX", "999"],
        vec!["MSET", "m1", "1", "m2", "2", "m3", "three"],
        vec!["INCR", "m1"],
        vec!["SELECT", "15"],
        vec!["SET", "last", "db"],
        vec!["SELECT", "0"],
    ];
    for c in cmds {
        let reply = r.call(&c);
        assert!(!reply.starts_with('-'), "{c:?}: {reply}");
    }
}

#[test]
fn debug_digest_equals_redis_for_the_same_dataset() {
    let f = debug_server();
    let red = Server::start_redis(&[]);
    let (mut a, mut b) = (f.raw(), red.raw());
    // Empty dataset.
    assert_eq!(a.call(&["DEBUG", "DIGEST"]), format!("+{}\r\n", "0".repeat(40)));
    assert_eq!(a.call(&["DEBUG", "DIGEST"]), b.call(&["DEBUG", "DIGEST"]));
    // One key without TTL, then with, then moved to another db.
    for step in [
        vec!["SET", "k", "v"],
        vec!["SET", "k", "v", "EX", "100"],
        vec!["SET", "k", "v"],
        vec!["SET", "k", "v", "PX", "100000"],
        vec!["SET", "k", "123"],
        vec!["DEL", "k"],
    ] {
        assert_eq!(a.call(&step), b.call(&step), "{step:?}");
        assert_eq!(a.call(&["DEBUG", "DIGEST"]), b.call(&["DEBUG", "DIGEST"]), "after {step:?}");
        let dv = ["DEBUG", "DIGEST-VALUE", "k"];
        assert_eq!(a.call(&dv), b.call(&dv), "after {step:?}");
    }
    build_dataset(&mut a);
    build_dataset(&mut b);
    let da = a.call(&["DEBUG", "DIGEST"]);
    assert_eq!(da, b.call(&["DEBUG", "DIGEST"]));
    assert_ne!(da, format!("+{}\r\n", "0".repeat(40)));
    for db in ["0", "1", "5", "15"] {
        a.call(&["SELECT", db]);
        b.call(&["SELECT", db]);
        let keys = ["a", "b", "c", "neg", "bin\u{0}key", "ttl1", "ttl2", "z", "m1", "m2", "m3", "last", "nokey"];
        let mut cmd = vec!["DEBUG", "DIGEST-VALUE"];
        cmd.extend(keys);
        assert_eq!(a.call(&cmd), b.call(&cmd), "DIGEST-VALUE in db {db}");
    }
    assert_eq!(a.call(&["DEBUG", "DIGEST-VALUE"]), "*0\r\n");
    // The same data in another db gives a different digest.
    let f2 = debug_server();
    let mut c = f2.raw();
    c.call(&["SELECT", "2"]);
    c.call(&["SET", "k", "v"]);
    let f3 = debug_server();
    let mut d = f3.raw();
    d.call(&["SET", "k", "v"]);
    assert_ne!(c.call(&["DEBUG", "DIGEST"]), d.call(&["DEBUG", "DIGEST"]));
}

#[test]
fn debug_object_protocol_and_errors() {
    let s = debug_server();
    let mut r = s.raw();
    r.call(&["SET", "s", "hello"]);
    r.call(&["SET", "n", "12345"]);
    r.call(&["SET", "sh", "5"]);
    let o = r.call(&["DEBUG", "OBJECT", "s"]);
    assert!(o.starts_with("+Value at:0x") && o.contains(" refcount:1 encoding:embstr serializedlength:6 lru:"), "{o}");
    assert!(o.contains(" lru_seconds_idle:0\r\n"), "{o}");
    assert!(r.call(&["DEBUG", "OBJECT", "n"]).contains(" refcount:1 encoding:int serializedlength:3 "));
    assert!(r.call(&["DEBUG", "OBJECT", "sh"]).contains(" refcount:2147483647 encoding:int serializedlength:2 "));
    let red = Server::start_redis(&[]);
    let mut b = red.raw();
    let mut script: Vec<Vec<&str>> = vec![
        vec!["DEBUG", "OBJECT", "nokey"],
        vec!["DEBUG", "nosuch"],
        vec!["DEBUG"],
        vec!["DEBUG", "OBJECT"],
        vec!["DEBUG", "DIGEST", "x"],
        vec!["DEBUG", "SLEEP"],
        vec!["DEBUG", "SLEEP", "abc"],
        vec!["DEBUG", "SLEEP", "0"],
        vec!["DEBUG", "SET-ACTIVE-EXPIRE"],
        vec!["DEBUG", "SET-ACTIVE-EXPIRE", "1"],
        vec!["DEBUG", "PROTOCOL"],
        vec!["DEBUG", "PROTOCOL", "foo"],
        vec!["DEBUG", "LOG", "hello from the test"],
        vec!["DEBUG", "ERROR", "my err"],
        vec!["DEBUG", "ERROR", "-FOO my err"],
        vec!["DEBUG", "HELP", "x"],
    ];
    for proto in ["2", "3"] {
        script.push(vec!["HELLO", proto]);
        for t in [
            "string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push", "verbatim",
            "true", "false",
        ] {
            script.push(vec!["DEBUG", "PROTOCOL", t]);
        }
    }
    let mut resp3 = false;
    for c in &script {
        let x = without_id(&r.call(c));
        let y = without_id(&b.call(c));
        assert_eq!(x, y, "{c:?}");
        if c[0] == "HELLO" {
            resp3 = c[1] == "3";
        }
        // In RESP3 a push is followed by a second reply (an attribute is read with its value).
        if resp3 && c.len() == 3 && c[2] == "push" {
            let (x2, y2) = (r.read_reply(), b.read_reply());
            assert_eq!(x2, y2, "{c:?} second reply");
        }
    }
    assert!(s.log().contains("DEBUG LOG: hello from the test"));
}

#[test]
fn debug_sleep_waits_without_blocking_other_clients() {
    let s = debug_server();
    let mut sleeper = s.raw();
    let mut other = s.raw();
    let t = Instant::now();
    sleeper.cmd(&[b"DEBUG", b"SLEEP", b"0.5"]);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(other.call(&["PING"]), "+PONG\r\n");
    assert!(t.elapsed() < Duration::from_millis(450), "another client was blocked: {:?}", t.elapsed());
    assert_eq!(sleeper.read_reply(), b"+OK\r\n");
    assert!(t.elapsed() >= Duration::from_millis(500), "the reply came before the sleep ended");
}

#[test]
fn debug_set_active_expire_stops_background_expiry() {
    let s = debug_server();
    let mut r = s.raw();
    assert_eq!(r.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "+OK\r\n");
    r.call(&["SET", "k", "v", "PX", "20"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(r.call(&["INFO", "keyspace"]).contains("db0:keys=1,expires=1"), "key still there without access");
    assert_eq!(r.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), "+OK\r\n");
    wait_for("active expiry", Duration::from_secs(5), || r.call(&["INFO", "keyspace"]) == "$12\r\n# Keyspace\r\n\r\n");
}

// ---- SLOWLOG ----

#[test]
fn slowlog_records_entries_in_redis_layout() {
    let s = Server::start(&["--slowlog-log-slower-than", "0", "--slowlog-max-len", "4"]);
    let mut r = s.raw();
    let peer = r.call(&["CLIENT", "INFO"]).split(' ').find_map(|f| f.strip_prefix("addr=")).unwrap().to_string();
    assert_eq!(r.call(&["SLOWLOG", "RESET"]), "+OK\r\n");
    r.call(&["CLIENT", "SETNAME", "logger"]);
    r.call(&["SET", "k", "v"]);
    let big = "y".repeat(200);
    r.call(&["ECHO", &big]);
    let args: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut many = vec!["MSET"];
    many.extend(args.iter().map(|s| s.as_str()));
    r.call(&many);
    let one = r.call(&["SLOWLOG", "GET", "1"]);
    // [id, time, duration, args, peer, name], newest first.
    assert!(one.starts_with("*1\r\n*6\r\n:"), "{one}");
    assert!(one.contains("*32\r\n$4\r\nMSET\r\n"), "args trimmed to 32: {one}");
    assert!(one.contains("\r\n... (10 more arguments)\r\n"), "{one}");
    assert!(one.ends_with(&format!("${}\r\n{peer}\r\n$6\r\nlogger\r\n", peer.len())), "{one}");
    assert_eq!(r.call(&["SLOWLOG", "LEN"]), ":4\r\n", "capped at slowlog-max-len");
    let all = r.call(&["SLOWLOG", "GET", "-1"]);
    assert!(all.starts_with("*4\r\n"));
    assert!(all.contains("... (72 more bytes)"), "{all}");
    assert_eq!(r.call(&["SLOWLOG", "GET"]).matches("*6\r\n").count(), 4, "default count 10, 4 entries");
    assert_eq!(r.call(&["SLOWLOG", "GET", "0"]), "*0\r\n");
    assert_eq!(r.call(&["SLOWLOG", "RESET"]), "+OK\r\n");
    assert_eq!(r.call(&["SLOWLOG", "LEN"]), ":1\r\n", "only SLOWLOG RESET itself");
    // The default threshold (10 ms) does not log fast commands.
    let quiet = Server::start(&[]);
    let mut q = quiet.raw();
    q.call(&["SET", "a", "b"]);
    assert_eq!(q.call(&["SLOWLOG", "LEN"]), ":0\r\n");
}

#[test]
fn slowlog_and_monitor_never_show_passwords() {
    let s = Server::start(&["--slowlog-log-slower-than", "0", "--requirepass", "topsecret"]);
    let mut r = s.raw();
    assert_eq!(r.call(&["AUTH", "topsecret"]), "+OK\r\n");
    r.call(&["HELLO", "2", "AUTH", "default", "topsecret"]);
    let log = r.call(&["SLOWLOG", "GET", "-1"]);
    assert!(!log.contains("topsecret"), "{log}");
    assert!(log.contains("$10\r\n(redacted)\r\n"), "{log}");
}

#[test]
fn slowlog_errors_and_help_match_redis() {
    same_as_redis(
        &[],
        &[
            &["SLOWLOG", "GET", "abc"],
            &["SLOWLOG", "GET", "-2"],
            &["SLOWLOG", "GET", "1", "2"],
            &["SLOWLOG", "foo"],
            &["SLOWLOG"],
            &["SLOWLOG", "LEN", "x"],
            &["SLOWLOG", "HELP"],
            &["SLOWLOG", "RESET"],
            &["SLOWLOG", "LEN"],
        ],
    );
}

// ---- LATENCY ----

#[test]
fn latency_monitor_records_slow_commands() {
    let s = Server::start(&["--enable-debug-command", "yes", "--latency-monitor-threshold", "100"]);
    let mut r = s.raw();
    assert_eq!(r.call(&["LATENCY", "LATEST"]), "*0\r\n");
    assert_eq!(r.call(&["DEBUG", "SLEEP", "0.2"]), "+OK\r\n");
    let latest = r.call(&["LATENCY", "LATEST"]);
    assert!(latest.starts_with("*1\r\n*4\r\n$7\r\ncommand\r\n:"), "{latest}");
    let nums: Vec<i64> = latest.lines().filter_map(|l| l.strip_prefix(':')).map(|n| n.parse().unwrap()).collect();
    assert!(nums[1] >= 200 && nums[2] >= 200, "{latest}");
    let hist = r.call(&["LATENCY", "HISTORY", "command"]);
    assert!(hist.starts_with("*1\r\n*2\r\n:"), "{hist}");
    assert_eq!(r.call(&["LATENCY", "HISTORY", "nosuch"]), "*0\r\n");
    assert_eq!(r.call(&["LATENCY", "RESET", "nosuch", "command", "command"]), ":1\r\n");
    assert_eq!(r.call(&["LATENCY", "LATEST"]), "*0\r\n");
    r.call(&["DEBUG", "SLEEP", "0.15"]);
    assert_eq!(r.call(&["LATENCY", "RESET"]), ":1\r\n");
    // Below the threshold nothing is recorded.
    r.call(&["DEBUG", "SLEEP", "0.01"]);
    assert_eq!(r.call(&["LATENCY", "LATEST"]), "*0\r\n");
}

#[test]
fn latency_errors_match_redis() {
    same_as_redis(
        &[],
        &[
            &["LATENCY", "LATEST"],
            &["LATENCY", "HISTORY"],
            &["LATENCY", "HISTORY", "command"],
            &["LATENCY", "RESET"],
            &["LATENCY", "RESET", "a", "b"],
            &["LATENCY", "foo"],
            &["LATENCY"],
            &["LATENCY", "LATEST", "x"],
        ],
    );
}

// ---- TIME, LASTSAVE, ROLE, SHUTDOWN ----

#[test]
fn time_lastsave_role() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let t = r.call(&["TIME"]);
    let parts: Vec<&str> = t.split("\r\n").collect();
    assert_eq!(parts[0], "*2");
    let secs: u64 = parts[2].parse().unwrap();
    let usecs: u64 = parts[4].parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(secs.abs_diff(now) <= 2 && usecs < 1_000_000);
    let ls: u64 = r.call(&["LASTSAVE"]).trim_start_matches(':').trim().parse().unwrap();
    assert!(ls.abs_diff(now) <= 60);
    let role = r.call(&["ROLE"]);
    assert!(role.starts_with("*3\r\n$6\r\nmaster\r\n:") && role.ends_with("*0\r\n"), "{role}");
    same_as_redis(&[], &[&["TIME", "x"], &["LASTSAVE", "x"], &["ROLE", "x"]]);
}

#[test]
fn shutdown_errors_match_redis_and_shutdown_exits() {
    same_as_redis(
        &[],
        &[
            &["SHUTDOWN", "foo"],
            &["SHUTDOWN", "ABORT"],
            &["SHUTDOWN", "SAVE", "NOSAVE"],
            &["SHUTDOWN", "ABORT", "NOW"],
            &["SHUTDOWN", "NOSAVE", "ABORT"],
        ],
    );
    for args in [vec!["SHUTDOWN"], vec!["SHUTDOWN", "NOSAVE", "NOW", "FORCE"], vec!["shutdown", "save"]] {
        let mut s = Server::start(&[]);
        let mut r = s.raw();
        let a: Vec<&[u8]> = args.iter().map(|x| x.as_bytes()).collect();
        r.cmd(&a);
        assert!(r.try_read_reply().is_none(), "no reply: the server exits");
        wait_for("the server to exit", Duration::from_secs(5), || !s.is_running());
        assert!(s.log().contains("User requested shutdown..."));
    }
}

// ---- Latency tracking (per-command histograms) ----

/// `latency_percentiles_usec_<cmd>` of INFO latencystats, or "" when absent.
fn percentiles(r: &mut Raw, cmd: &str) -> String {
    let info = r.call(&["INFO", "latencystats"]);
    info.lines().find_map(|l| l.strip_prefix(&format!("latency_percentiles_usec_{cmd}:"))).unwrap_or("").to_string()
}

#[test]
fn latencystats_follow_tracking_percentiles_and_resetstat() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    ok(&mut r, &["CONFIG", "SET", "latency-tracking", "no"]);
    r.call(&["SET", "a", "b"]);
    assert_eq!(percentiles(&mut r, "set"), "");
    ok(&mut r, &["CONFIG", "SET", "latency-tracking", "yes"]);
    r.call(&["SET", "a", "b"]);
    let p = percentiles(&mut r, "set");
    let labels: Vec<&str> = p.split(',').map(|kv| kv.split('=').next().unwrap()).collect();
    assert_eq!(labels, ["p50", "p99", "p99.9"], "{p}");
    // Values are microseconds with three decimals.
    assert!(p.split(',').all(|kv| kv.split('=').nth(1).unwrap().split('.').nth(1).unwrap().len() == 3), "{p}");
    ok(&mut r, &["CONFIG", "SET", "latency-tracking-info-percentiles", "0.0 50.0 100.0"]);
    let p = percentiles(&mut r, "set");
    assert!(p.starts_with("p0=") && p.contains(",p50=") && p.contains(",p100="), "{p}");
    // Subcommands have their own histograms.
    r.call(&["CLIENT", "ID"]);
    assert!(!percentiles(&mut r, "client|id").is_empty());
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    assert_eq!(percentiles(&mut r, "set"), "");
}

#[test]
fn latency_histogram_layout_matches_redis() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    r.call(&["SET", "a", "b"]);
    r.call(&["SET", "a", "b"]);
    // RESP2: a flat map of command -> {calls, histogram_usec: {usec: cumulative}}.
    let h = r.call(&["LATENCY", "HISTOGRAM", "set", "nosuch"]);
    assert!(h.starts_with("*2\r\n$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n:2\r\n$14\r\nhistogram_usec\r\n*"), "{h}");
    // The last bucket holds every call.
    assert!(h.ends_with(":2\r\n"), "{h}");
    assert_eq!(r.call(&["LATENCY", "HISTOGRAM", "nosuch"]), "*0\r\n");
    // A container names its subcommands.
    r.call(&["CLIENT", "ID"]);
    r.call(&["CLIENT", "GETNAME"]);
    let h = r.call(&["LATENCY", "HISTOGRAM", "client"]);
    assert!(
        h.starts_with("*4\r\n") && h.contains("$9\r\nclient|id\r\n") && h.contains("$14\r\nclient|getname\r\n"),
        "{h}"
    );
    let h = r.call(&["LATENCY", "HISTOGRAM", "client|id"]);
    assert!(h.starts_with("*2\r\n$9\r\nclient|id\r\n"), "{h}");
    // RESP3: maps.
    r.call(&["HELLO", "3"]);
    let h = r.call(&["LATENCY", "HISTOGRAM", "set"]);
    assert!(h.starts_with("%1\r\n$3\r\nset\r\n%2\r\n$5\r\ncalls\r\n:2\r\n$14\r\nhistogram_usec\r\n%"), "{h}");
}

#[test]
fn latency_histogram_counts_blocked_and_slept_commands_once() {
    let s = debug_server();
    let mut r = s.raw();
    let mut b = s.raw();
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    b.cmd(&[b"BLPOP", b"l", b"0"]);
    wait_for("BLPOP to block", Duration::from_secs(10), || {
        field(&r.call(&["INFO", "clients"]), "blocked_clients") == "1"
    });
    r.call(&["LPUSH", "l", "x"]);
    assert_eq!(b.read_reply(), b"*2\r\n$1\r\nl\r\n$1\r\nx\r\n");
    // As Redis: one call, one histogram sample, recorded when served.
    let info = r.call(&["INFO", "commandstats"]);
    assert!(field(&info, "cmdstat_blpop").starts_with("calls=1,"), "{info}");
    assert!(r.call(&["LATENCY", "HISTOGRAM", "blpop"]).contains("$5\r\ncalls\r\n:1\r\n"));
    // DEBUG SLEEP's sample includes the sleep.
    r.call(&["DEBUG", "SLEEP", "0.05"]);
    ok(&mut r, &["CONFIG", "SET", "latency-tracking-info-percentiles", "50"]);
    let p = percentiles(&mut r, "debug");
    let v: f64 = p.strip_prefix("p50=").unwrap().parse().unwrap();
    assert!(v >= 50000.0, "{p}");
}

#[test]
fn latency_doctor_graph_and_help_match_redis() {
    same_as_redis(
        &[],
        &[
            &["LATENCY", "HELP"],
            &["LATENCY", "DOCTOR"],
            &["LATENCY", "GRAPH", "command"],
            &["LATENCY", "GRAPH"],
            &["LATENCY", "HISTOGRAM", "nosuch"],
        ],
    );
    // With events: the report names them, the graph draws them.
    let s = Server::start(&["--enable-debug-command", "yes", "--latency-monitor-threshold", "10"]);
    let mut r = s.raw();
    r.call(&["DEBUG", "SLEEP", "0.02"]);
    let doctor = r.call(&["LATENCY", "DOCTOR"]);
    assert!(doctor.contains("Dave, I have observed latency spikes in this Redis instance."), "{doctor}");
    assert!(doctor.contains("1. command: 1 latency spikes (average "), "{doctor}");
    let graph = r.call(&["LATENCY", "GRAPH", "command"]);
    assert!(graph.contains("command - high ") && graph.contains(&"-".repeat(80)), "{graph}");
}
