//! Connection commands: AUTH, HELLO, CLIENT (ID, SETNAME, GETNAME, INFO, LIST, KILL,
//! PAUSE, UNPAUSE, REPLY, NO-EVICT, GETREDIR, TRACKINGINFO, HELP).

mod common;
use common::*;

use std::time::{Duration, Instant};

/// Runs each command on a fresh connection pair to fluidB and redis-server 7.0 and asserts
/// the raw replies are identical.
fn same_as_redis(setup_args: &[&str], script: &[&[&str]]) {
    let f = Server::start(setup_args);
    let r = Server::start_redis(setup_args);
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

#[test]
fn auth_without_a_password_configured() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(
        r.call(&["AUTH", "foo"]),
        "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
    );
    assert_eq!(r.call(&["AUTH", "default", "anything"]), "+OK\r\n");
    assert_eq!(r.call(&["AUTH", "other", "x"]), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    assert_eq!(r.call(&["AUTH", "a", "b", "c"]), "-ERR syntax error\r\n");
    assert_eq!(r.call(&["AUTH"]), "-ERR wrong number of arguments for 'auth' command\r\n");
}

#[test]
fn auth_with_requirepass() {
    let s = Server::start(&["--requirepass", "s3cret"]);
    let mut r = s.raw();
    assert_eq!(r.call(&["GET", "k"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(r.call(&["AUTH", "wrong"]), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    assert_eq!(
        r.call(&["AUTH", "nobody", "s3cret"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(r.call(&["GET", "k"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(r.call(&["AUTH", "s3cret"]), "+OK\r\n");
    assert_eq!(r.call(&["GET", "k"]), "$-1\r\n");
    // A failed AUTH does not log an authenticated client out.
    assert_eq!(r.call(&["AUTH", "bad"]), "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    assert_eq!(r.call(&["PING"]), "+PONG\r\n");

    let mut r2 = s.raw();
    assert_eq!(r2.call(&["AUTH", "default", "s3cret"]), "+OK\r\n");
    assert_eq!(r2.call(&["PING"]), "+PONG\r\n");

    // HELLO needs authentication first, or AUTH inside it.
    let mut r3 = s.raw();
    assert_eq!(
        r3.call(&["HELLO", "3"]),
        "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"
    );
    assert_eq!(
        r3.call(&["HELLO", "3", "AUTH", "default", "nope"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    let reply = r3.call(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "me"]);
    assert!(reply.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), "{reply}");
    assert_eq!(r3.call(&["CLIENT", "GETNAME"]), "$2\r\nme\r\n");
    assert_eq!(r3.call(&["GET", "nokey"]), "_\r\n");
}

#[test]
fn auth_errors_match_redis() {
    same_as_redis(
        &[],
        &[&["AUTH", "foo"], &["AUTH", "a", "b", "c"], &["AUTH", "default", "x"], &["AUTH", "other", "x"], &["AUTH"]],
    );
    same_as_redis(
        &["--requirepass", "pw"],
        &[
            &["PING"],
            &["HELLO", "2"],
            &["AUTH", "x"],
            &["AUTH", "default", "x"],
            &["HELLO", "3", "AUTH", "default", "x"],
            &["AUTH", "pw"],
            &["PING"],
        ],
    );
}

#[test]
fn hello_switches_the_protocol() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let id = r.call(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim();
    let expect3 = format!(
        "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
    );
    assert_eq!(r.call(&["HELLO", "3"]), expect3);
    assert_eq!(r.call(&["GET", "missing"]), "_\r\n");
    assert!(r.call(&["CLIENT", "INFO"]).starts_with('='), "RESP3 verbatim string");
    // HELLO without a version reports the current protocol.
    assert_eq!(r.call(&["HELLO"]), expect3);
    let expect2 = format!(
        "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
    );
    assert_eq!(r.call(&["hello", "2"]), expect2);
    assert_eq!(r.call(&["GET", "missing"]), "$-1\r\n");
    assert!(r.call(&["CLIENT", "INFO"]).contains(" resp=2\n"));
}

#[test]
fn hello_errors_match_redis() {
    same_as_redis(
        &[],
        &[
            &["HELLO", "4"],
            &["HELLO", "1"],
            &["HELLO", "abc"],
            &["HELLO", "2", "foo"],
            &["HELLO", "2", "AUTH", "default"],
            &["HELLO", "2", "SETNAME"],
            &["HELLO", "2", "SETNAME", "a b"],
            &["HELLO", "3", "SETNAME", "xx"],
            &["CLIENT", "GETNAME"],
            &["HELLO", "2", "AUTH", "nouser", "x"],
            &["HELLO", "3", "AUTH", "default", "x"],
        ],
    );
}

#[test]
fn client_names_and_ids() {
    let s = Server::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    let ida: i64 = a.call(&["CLIENT", "ID"]).trim_start_matches(':').trim().parse().unwrap();
    let idb: i64 = b.call(&["CLIENT", "ID"]).trim_start_matches(':').trim().parse().unwrap();
    assert_ne!(idb, ida);
    assert_eq!(a.call(&["CLIENT", "GETNAME"]), "$-1\r\n");
    assert_eq!(a.call(&["CLIENT", "SETNAME", "alpha"]), "+OK\r\n");
    assert_eq!(a.call(&["CLIENT", "GETNAME"]), "$5\r\nalpha\r\n");
    assert_eq!(
        a.call(&["CLIENT", "SETNAME", "a b"]),
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(
        a.call(&["CLIENT", "SETNAME", "caf\u{e9}"]),
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(a.call(&["CLIENT", "GETNAME"]), "$5\r\nalpha\r\n");
    let info = a.call(&["CLIENT", "INFO"]);
    assert!(info.contains(&format!("id={ida} ")), "{info}");
    assert!(info.contains(" name=alpha "), "{info}");
    assert!(info.contains(" cmd=client|info "), "{info}");
    // The other connection sees the name.
    let list = b.call(&["CLIENT", "LIST"]);
    assert!(list.contains(&format!("id={ida} ")) && list.contains(" name=alpha "), "{list}");
    // An empty name removes it.
    assert_eq!(a.call(&["CLIENT", "SETNAME", ""]), "+OK\r\n");
    assert_eq!(a.call(&["CLIENT", "GETNAME"]), "$-1\r\n");
}

/// The field names of a CLIENT LIST line, in order.
fn field_names(line: &str) -> Vec<String> {
    line.split(' ').map(|f| f.split('=').next().unwrap_or("").to_string()).collect()
}

#[test]
fn client_list_format_matches_redis_fields() {
    let f = Server::start(&[]);
    let r = Server::start_redis(&[]);
    let fl = f.cli(&["client", "list"]);
    let rl = r.cli(&["client", "list"]);
    assert_eq!(field_names(fl.trim()), field_names(rl.trim()));
    assert!(fl.contains(" flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 "), "{fl}");
    assert!(fl.contains(" events=r cmd=client|list user=default redir=-1 resp=2"), "{fl}");
}

#[test]
fn client_list_filters() {
    let s = Server::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    let ida = a.call(&["CLIENT", "ID"]).trim_start_matches(':').trim().to_string();
    b.call(&["SELECT", "3"]);
    b.call(&["CLIENT", "SETNAME", "bee"]);
    let all = a.call(&["CLIENT", "LIST"]);
    assert_eq!(all.matches(" addr=").count(), 2, "{all}");
    let bline = all.lines().find(|l| l.contains("name=bee")).unwrap();
    assert!(bline.contains(" db=3 ") && bline.contains(" cmd=client|setname "), "{bline}");
    let normal = a.call(&["CLIENT", "LIST", "TYPE", "normal"]);
    assert_eq!(normal.matches(" addr=").count(), 2);
    assert_eq!(a.call(&["CLIENT", "LIST", "TYPE", "pubsub"]), "$0\r\n\r\n");
    assert_eq!(a.call(&["CLIENT", "LIST", "TYPE", "master"]), "$0\r\n\r\n");
    assert_eq!(a.call(&["CLIENT", "LIST", "TYPE", "replica"]), "$0\r\n\r\n");
    let one = a.call(&["CLIENT", "LIST", "ID", &ida, "99999"]);
    assert_eq!(one.matches(" addr=").count(), 1);
    assert!(one.contains(&format!("id={ida} ")));
    assert_eq!(a.call(&["CLIENT", "LIST", "ID", "99999"]), "$0\r\n\r\n");
    assert_eq!(a.call(&["CLIENT", "LIST", "TYPE", "foo"]), "-ERR Unknown client type 'foo'\r\n");
    assert_eq!(a.call(&["CLIENT", "LIST", "ID", "1", "abc"]), "-ERR Invalid client ID\r\n");
    assert_eq!(a.call(&["CLIENT", "LIST", "foo"]), "-ERR syntax error\r\n");
    assert_eq!(a.call(&["CLIENT", "LIST", "TYPE"]), "-ERR syntax error\r\n");
    assert_eq!(a.call(&["CLIENT", "LIST", "ID"]), "-ERR syntax error\r\n");
    // RESP3: a verbatim string.
    a.call(&["HELLO", "3"]);
    assert!(a.call(&["CLIENT", "LIST"]).starts_with('='));
}

#[test]
fn client_kill_old_and_new_forms() {
    let s = Server::start(&[]);
    let mut a = s.raw();
    let mut victim = s.raw();
    let info = victim.call(&["CLIENT", "INFO"]);
    let addr = info.split(' ').find_map(|f| f.strip_prefix("addr=")).unwrap().to_string();
    let vid = victim.call(&["CLIENT", "ID"]).trim_start_matches(':').trim().to_string();
    assert_eq!(a.call(&["CLIENT", "KILL", "1.2.3.4:5"]), "-ERR No such client\r\n");
    assert_eq!(a.call(&["CLIENT", "KILL", &addr]), "+OK\r\n");
    assert!(victim.is_closed());
    // Gone from the list at once.
    assert!(!a.call(&["CLIENT", "LIST"]).contains(&format!("id={vid} ")));

    let mut v2 = s.raw();
    let v2id = v2.call(&["CLIENT", "ID"]).trim_start_matches(':').trim().to_string();
    assert_eq!(a.call(&["CLIENT", "KILL", "ID", &v2id]), ":1\r\n");
    assert!(v2.is_closed());
    assert_eq!(a.call(&["CLIENT", "KILL", "ID", &v2id]), ":0\r\n");

    // TYPE normal kills every other normal client; SKIPME yes is the default.
    let mut v3 = s.raw();
    let mut v4 = s.raw();
    v3.call(&["PING"]);
    v4.call(&["PING"]);
    assert_eq!(a.call(&["CLIENT", "KILL", "TYPE", "normal", "USER", "default"]), ":2\r\n");
    assert!(v3.is_closed() && v4.is_closed());
    assert_eq!(a.call(&["PING"]), "+PONG\r\n");

    // LADDR and ADDR filters combine.
    let mut v5 = s.raw();
    v5.call(&["PING"]);
    assert_eq!(a.call(&["CLIENT", "KILL", "ADDR", "1.1.1.1:1", "LADDR", &s.addr()]), ":0\r\n");
    assert_eq!(a.call(&["CLIENT", "KILL", "LADDR", &s.addr()]), ":1\r\n");
    assert!(v5.is_closed());

    // SKIPME no kills the caller too, after its reply.
    assert_eq!(a.call(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"]), ":1\r\n");
    assert!(a.is_closed());

    // The old form may kill the caller itself.
    let mut me = s.raw();
    let info = me.call(&["CLIENT", "INFO"]);
    let myaddr = info.split(' ').find_map(|f| f.strip_prefix("addr=")).unwrap().to_string();
    assert_eq!(me.call(&["CLIENT", "KILL", &myaddr]), "+OK\r\n");
    assert!(me.is_closed());
}

#[test]
fn client_kill_errors_match_redis() {
    same_as_redis(
        &[],
        &[
            &["CLIENT", "KILL", "1.2.3.4:5"],
            &["CLIENT", "KILL", "ID", "999"],
            &["CLIENT", "KILL", "ID", "0"],
            &["CLIENT", "KILL", "ID", "abc"],
            &["CLIENT", "KILL", "TYPE", "foo"],
            &["CLIENT", "KILL", "USER", "foo"],
            &["CLIENT", "KILL", "USER", "default", "SKIPME", "maybe"],
            &["CLIENT", "KILL", "foo", "bar"],
            &["CLIENT", "KILL", "ADDR", "1.1.1.1:1", "LADDR", "x"],
            &["CLIENT", "KILL", "ID", "1", "TYPE"],
            &["CLIENT", "KILL", "127.0.0.1:1", "x"],
            &["CLIENT", "KILL"],
            &["CLIENT", "KILL", "TYPE", "master"],
            &["CLIENT", "KILL", "TYPE", "slave"],
            &["CLIENT", "KILL", "TYPE", "pubsub"],
        ],
    );
}

#[test]
fn client_subcommand_errors_match_redis() {
    same_as_redis(
        &[],
        &[
            &["CLIENT"],
            &["CLIENT", "nosuch"],
            &["CLIENT", "ID", "x"],
            &["CLIENT", "GETNAME", "x"],
            &["CLIENT", "SETNAME"],
            &["CLIENT", "SETNAME", "a\nb"],
            &["CLIENT", "PAUSE", "abc"],
            &["CLIENT", "PAUSE", "-1"],
            &["CLIENT", "PAUSE", "10", "foo"],
            &["CLIENT", "PAUSE", "abc", "foo"],
            &["CLIENT", "PAUSE", "10", "write", "x"],
            &["CLIENT", "PAUSE", "0"],
            &["CLIENT", "UNPAUSE"],
            &["CLIENT", "UNPAUSE", "x"],
            &["CLIENT", "REPLY", "foo"],
            &["CLIENT", "REPLY", "on"],
            &["CLIENT", "NO-EVICT", "foo"],
            &["CLIENT", "NO-EVICT", "on"],
            &["CLIENT", "NO-EVICT", "OFF"],
            &["CLIENT", "GETREDIR"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "HELP"],
            &["CLIENT", "HELP", "x"],
            &["HELLO", "3"],
            &["CLIENT", "TRACKINGINFO"],
        ],
    );
}

#[test]
fn client_reply_off_skip_on() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    r.cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
    r.cmd(&[b"SET", b"a", b"1"]);
    r.cmd(&[b"GET", b"a"]);
    r.cmd(&[b"CLIENT", b"REPLY", b"ON"]);
    assert_eq!(r.read_reply(), b"+OK\r\n");
    r.cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
    r.cmd(&[b"GET", b"a"]);
    r.cmd(&[b"ECHO", b"next"]);
    assert_eq!(r.read_reply(), b"$4\r\nnext\r\n");
    // SKIP while OFF leaves it OFF.
    r.cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
    r.cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
    r.cmd(&[b"PING"]);
    r.cmd(&[b"PING"]);
    r.cmd(&[b"CLIENT", b"REPLY", b"ON"]);
    r.cmd(&[b"ECHO", b"x"]);
    assert_eq!(r.read_reply(), b"+OK\r\n");
    assert_eq!(r.read_reply(), b"$1\r\nx\r\n");
    let mut c = s.raw();
    assert_eq!(c.call(&["GET", "a"]), "$1\r\n1\r\n", "writes under REPLY OFF still happen");
}

#[test]
fn client_no_evict_shows_in_flags() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.call(&["CLIENT", "NO-EVICT", "on"]), "+OK\r\n");
    assert!(r.call(&["CLIENT", "INFO"]).contains(" flags=e "));
    assert_eq!(r.call(&["CLIENT", "NO-EVICT", "off"]), "+OK\r\n");
    assert!(r.call(&["CLIENT", "INFO"]).contains(" flags=N "));
}

fn blocked_clients(r: &mut Raw) -> u64 {
    let info = r.call(&["INFO", "clients"]);
    info.lines().find_map(|l| l.strip_prefix("blocked_clients:")).unwrap().trim().parse().unwrap()
}

#[test]
fn client_pause_write_holds_writes_but_not_reads() {
    let s = Server::start(&[]);
    let mut admin = s.raw();
    let mut w = s.raw();
    let mut rd = s.raw();
    assert_eq!(admin.call(&["SET", "k", "v0"]), "+OK\r\n");
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "60000", "WRITE"]), "+OK\r\n");
    // Reads and admin commands go through.
    let t = Instant::now();
    assert_eq!(rd.call(&["GET", "k"]), "$2\r\nv0\r\n");
    assert_eq!(rd.call(&["PING"]), "+PONG\r\n");
    assert!(t.elapsed() < Duration::from_secs(2));
    // A write waits.
    w.cmd(&[b"SET", b"k", b"v1"]);
    wait_for("the write to be held", Duration::from_secs(5), || blocked_clients(&mut admin) == 1);
    assert_eq!(rd.call(&["GET", "k"]), "$2\r\nv0\r\n");
    assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    assert_eq!(w.read_reply(), b"+OK\r\n");
    assert_eq!(rd.call(&["GET", "k"]), "$2\r\nv1\r\n");
    assert_eq!(blocked_clients(&mut admin), 0);
}

fn info_u64(r: &mut Raw, section: &str, field: &str) -> u64 {
    let info = r.call(&["INFO", section]);
    let prefix = format!("{field}:");
    info.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {field}")).trim().parse().unwrap()
}

#[test]
fn client_pause_write_holds_a_replicas_stream_back() {
    let m = Server::start(&[]);
    let s = Server::start(&[]);
    let (mut mr, mut sr) = (m.raw(), s.raw());
    assert_eq!(sr.call(&["REPLICAOF", "127.0.0.1", &m.port.to_string()]), "+OK\r\n");
    wait_for("the link", Duration::from_secs(10), || {
        sr.call(&["INFO", "replication"]).contains("master_link_status:up")
    });
    // A write after the sync, so the stream has selected its database already.
    assert_eq!(mr.call(&["SET", "foo", "bar"]), "+OK\r\n");
    wait_for("the replica to catch up", Duration::from_secs(10), || {
        sr.call(&["GET", "foo"]) == "$3\r\nbar\r\n"
            && info_u64(&mut sr, "replication", "slave_repl_offset")
                == info_u64(&mut mr, "replication", "master_repl_offset")
    });
    let applied = info_u64(&mut sr, "replication", "slave_repl_offset");
    // The master's writes are read (slave_read_repl_offset) but not applied.
    assert_eq!(sr.call(&["CLIENT", "PAUSE", "100000", "WRITE"]), "+OK\r\n");
    assert_eq!(mr.call(&["SET", "foo2", "bar2"]), "+OK\r\n");
    let target = info_u64(&mut mr, "replication", "master_repl_offset");
    wait_for("the replica to read the write", Duration::from_secs(10), || {
        info_u64(&mut sr, "replication", "slave_read_repl_offset") == target
    });
    assert_eq!(info_u64(&mut sr, "replication", "slave_repl_offset"), applied);
    assert_eq!(sr.call(&["GET", "foo2"]), "$-1\r\n");
    // After the pause, the stream is applied.
    assert_eq!(sr.call(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    wait_for("the replica to apply the write", Duration::from_secs(10), || {
        info_u64(&mut sr, "replication", "slave_repl_offset") == target
    });
    assert_eq!(sr.call(&["GET", "foo2"]), "$4\r\nbar2\r\n");
}

#[test]
fn client_pause_all_holds_everything_until_it_ends() {
    let s = Server::start(&[]);
    let mut admin = s.raw();
    let mut other = s.raw();
    let t = Instant::now();
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "400"]), "+OK\r\n");
    // Even CLIENT UNPAUSE waits for a pause ALL, as in Redis.
    assert_eq!(other.call(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    assert!(t.elapsed() >= Duration::from_millis(350), "{:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(5));
    let t = Instant::now();
    assert_eq!(admin.call(&["PING"]), "+PONG\r\n");
    assert!(t.elapsed() < Duration::from_millis(300));
    // A longer earlier pause is kept when a shorter one follows.
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "400", "WRITE"]), "+OK\r\n");
    let mut a2 = s.raw();
    assert_eq!(a2.call(&["CLIENT", "PAUSE", "10", "WRITE"]), "+OK\r\n");
    let t = Instant::now();
    assert_eq!(other.call(&["SET", "x", "1"]), "+OK\r\n");
    assert!(t.elapsed() >= Duration::from_millis(300), "{:?}", t.elapsed());
}

#[test]
fn client_pause_holds_a_killed_client_no_longer() {
    let s = Server::start(&[]);
    let mut admin = s.raw();
    let mut w = s.raw();
    let wid = w.call(&["CLIENT", "ID"]).trim_start_matches(':').trim().to_string();
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "60000", "WRITE"]), "+OK\r\n");
    w.cmd(&[b"SET", b"k", b"v"]);
    wait_for("the write to be held", Duration::from_secs(5), || blocked_clients(&mut admin) == 1);
    assert_eq!(admin.call(&["CLIENT", "KILL", "ID", &wid]), ":1\r\n");
    assert!(w.is_closed());
    wait_for("the killed client to leave", Duration::from_secs(5), || blocked_clients(&mut admin) == 0);
    assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    assert_eq!(admin.call(&["EXISTS", "k"]), ":0\r\n", "the killed client's write never ran");
}

#[test]
fn client_help_matches_redis() {
    same_as_redis(&[], &[&["CLIENT", "HELP"]]);
}

#[test]
fn redis_crate_sees_client_commands() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("crate").query(&mut c).unwrap();
    let n: String = redis::cmd("CLIENT").arg("GETNAME").query(&mut c).unwrap();
    assert_eq!(n, "crate");
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut c).unwrap();
    assert!(id > 0);
}

#[test]
fn client_pause_also_pauses_expiry() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.call(&["SET", "k", "v", "PX", "50"]), "+OK\r\n");
    assert_eq!(r.call(&["CLIENT", "PAUSE", "60000", "WRITE"]), "+OK\r\n");
    std::thread::sleep(Duration::from_millis(300));
    // Logically expired, but neither a read nor the background cycle deletes it.
    assert_eq!(r.call(&["GET", "k"]), "$-1\r\n");
    assert!(r.call(&["INFO", "keyspace"]).contains("db0:keys=1,expires=1"));
    assert_eq!(r.call(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    assert_eq!(r.call(&["GET", "k"]), "$-1\r\n");
    assert_eq!(r.call(&["INFO", "keyspace"]), "$12\r\n# Keyspace\r\n\r\n");
}
