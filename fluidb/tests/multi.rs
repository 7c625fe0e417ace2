//! Transactions (MULTI/EXEC/DISCARD/WATCH/UNWATCH), MONITOR and RESET, against Redis
//! 7.0's replies.

mod common;
mod inproc;

use std::time::Duration;

use common::*;
use inproc::Local;

const EXECABORT: &str = "-EXECABORT Transaction discarded because of previous errors.\r\n";

fn set_px(r: &mut Raw, key: &str, ms: u64) {
    assert_eq!(r.call(&["SET", key, "v", "PX", &ms.to_string()]), "+OK\r\n");
}

#[test]
fn multi_exec_runs_queued_commands_with_per_command_replies() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "a", "x"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["INCR", "a"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["SET", "n", "1"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["INCR", "n"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["GET", "a"]), "+QUEUED\r\n");
    assert_eq!(
        r.call(&["EXEC"]),
        "*5\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+OK\r\n:2\r\n$1\r\nx\r\n"
    );
    // Out of the transaction again.
    assert_eq!(r.call(&["GET", "n"]), "$1\r\n2\r\n");
    assert_eq!(r.call(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    // An empty transaction.
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["EXEC"]), "*0\r\n");
}

#[test]
fn multi_exec_with_the_redis_crate() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let (a, b): (i64, String) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("c")
        .cmd("SET")
        .arg("k")
        .arg("v")
        .ignore()
        .cmd("GET")
        .arg("k")
        .query(&mut c)
        .unwrap();
    assert_eq!((a, b.as_str()), (1, "v"));
}

#[test]
fn transaction_state_errors() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.call(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(r.call(&["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
    assert_eq!(r.call(&["MULTI", "x"]), "-ERR wrong number of arguments for 'multi' command\r\n");
    assert_eq!(r.call(&["DISCARD", "x"]), "-ERR wrong number of arguments for 'discard' command\r\n");
    assert_eq!(r.call(&["UNWATCH", "x"]), "-ERR wrong number of arguments for 'unwatch' command\r\n");
    assert_eq!(r.call(&["WATCH"]), "-ERR wrong number of arguments for 'watch' command\r\n");
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    // Neither of these is queued, and neither aborts the transaction.
    assert_eq!(r.call(&["MULTI"]), "-ERR MULTI calls can not be nested\r\n");
    assert_eq!(r.call(&["WATCH", "k"]), "-ERR WATCH inside MULTI is not allowed\r\n");
    assert_eq!(r.call(&["SET", "k", "1"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["EXEC"]), "*1\r\n+OK\r\n");
    // UNWATCH inside MULTI is queued like any command.
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["UNWATCH"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["EXEC"]), "*1\r\n+OK\r\n");
}

#[test]
fn queueing_errors_abort_exec() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    // Unknown command.
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "a", "1"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["NOSUCHCMD", "x"]), "-ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' \r\n");
    assert_eq!(r.call(&["SET", "b", "1"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["EXEC"]), EXECABORT);
    assert_eq!(r.call(&["EXISTS", "a", "b"]), ":0\r\n");
    assert_eq!(r.call(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    // Wrong arity.
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["GET"]), "-ERR wrong number of arguments for 'get' command\r\n");
    assert_eq!(r.call(&["EXEC"]), EXECABORT);
    // A no-multi command.
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["SHUTDOWN"]), "-ERR Command not allowed inside a transaction\r\n");
    assert_eq!(r.call(&["EXEC"]), EXECABORT);
    // EXEC itself rejected: the transaction is discarded with the reason.
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "a", "1"]), "+QUEUED\r\n");
    assert_eq!(
        r.call(&["EXEC", "x"]),
        "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
    );
    assert_eq!(r.call(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(r.call(&["EXISTS", "a"]), ":0\r\n");
    // DISCARD with a wrong arity inside MULTI aborts, and DISCARD still works after.
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["DISCARD", "x"]), "-ERR wrong number of arguments for 'discard' command\r\n");
    assert_eq!(r.call(&["DISCARD"]), "+OK\r\n");
}

#[test]
fn discard_drops_the_queue_and_unwatches() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut o = s.raw();
    assert_eq!(r.call(&["WATCH", "w"]), "+OK\r\n");
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "a", "1"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["DISCARD"]), "+OK\r\n");
    assert_eq!(r.call(&["EXISTS", "a"]), ":0\r\n");
    // The WATCH went with the transaction.
    assert_eq!(o.call(&["SET", "w", "x"]), "+OK\r\n");
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "a", "1"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["EXEC"]), "*1\r\n+OK\r\n");
}

/// Runs `MULTI; PING; EXEC` and returns EXEC's reply.
fn try_exec(r: &mut Raw) -> String {
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["PING"]), "+QUEUED\r\n");
    r.call(&["EXEC"])
}

const EXEC_OK: &str = "*1\r\n+PONG\r\n";
const EXEC_NULL: &str = "*-1\r\n";

#[test]
fn watch_detects_changes_by_any_client() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut o = s.raw();
    // Untouched: runs.
    assert_eq!(r.call(&["SET", "k", "1"]), "+OK\r\n");
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
    // Modified by another client.
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["INCR", "k"]), ":2\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
    // Modified by the watching client itself before MULTI.
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "k", "3"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
    // Deleted.
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["DEL", "k"]), ":1\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
    // A missing key created, even if deleted again.
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["SET", "k", "1"]), "+OK\r\n");
    assert_eq!(o.call(&["DEL", "k"]), ":1\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
    // DEL of a missing key is no change.
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["DEL", "k"]), ":0\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
    // MSET of several keys, one watched among several.
    assert_eq!(r.call(&["WATCH", "x", "k", "y"]), "+OK\r\n");
    assert_eq!(o.call(&["MSET", "z", "1", "k", "2"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
    // Commands queued in the transaction do not invalidate it.
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "k", "9"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["EXEC"]), "*1\r\n+OK\r\n");
    // Watching in one database is not invalidated by the same name in another.
    assert_eq!(r.call(&["SELECT", "1"]), "+OK\r\n");
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["SET", "k", "other-db"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["SELECT", "1"]), "+OK\r\n");
    assert_eq!(o.call(&["SET", "k", "same-db"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
}

#[test]
fn unwatch_exec_and_watch_twice() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut o = s.raw();
    assert_eq!(r.call(&["WATCH", "k", "k"]), "+OK\r\n");
    assert_eq!(r.call(&["UNWATCH"]), "+OK\r\n");
    assert_eq!(o.call(&["SET", "k", "1"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
    // UNWATCH also clears an already invalidated transaction.
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["SET", "k", "2"]), "+OK\r\n");
    assert_eq!(r.call(&["UNWATCH"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
    // A failed EXEC unwatches too: later changes do not fail the next transaction.
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["SET", "k", "3"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
    assert_eq!(o.call(&["SET", "k", "4"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
    // So does an EXECABORT.
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert!(r.call(&["NOPE"]).starts_with("-ERR unknown command"));
    assert_eq!(r.call(&["EXEC"]), EXECABORT);
    assert_eq!(o.call(&["SET", "k", "5"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
    // WATCH while already invalidated stays invalidated.
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["SET", "k", "6"]), "+OK\r\n");
    assert_eq!(r.call(&["WATCH", "other"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
}

#[test]
fn watch_and_expiry_follow_redis_7_0() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut o = s.raw();
    // A key that expires after WATCH fails EXEC even if nobody touched it.
    set_px(&mut r, "k", 400);
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(try_exec(&mut r), EXEC_NULL);
    // ... and so does its deletion by a lookup from another client.
    set_px(&mut r, "k", 400);
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(o.call(&["GET", "k"]), "$-1\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
    // A key already expired at WATCH time is logically absent: that it gets deleted
    // (lazily or actively) afterwards is no change.
    set_px(&mut r, "k", 1);
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
    set_px(&mut r, "k", 1);
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["GET", "k"]), "$-1\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
    // But writing it again is a change.
    set_px(&mut r, "k", 1);
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["SET", "k", "new"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
    set_px(&mut r, "k", 1);
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["GET", "k"]), "$-1\r\n");
    assert_eq!(o.call(&["SET", "k", "new"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
}

#[test]
fn flushall_invalidates_watched_keys_that_exist() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut o = s.raw();
    assert_eq!(r.call(&["SET", "k", "1"]), "+OK\r\n");
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["FLUSHALL"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_NULL);
    // A watched key that did not exist is not changed by a flush.
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["SET", "other", "1"]), "+OK\r\n");
    assert_eq!(o.call(&["FLUSHALL"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
    // Nor is a stale one.
    set_px(&mut r, "k", 1);
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(r.call(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(o.call(&["FLUSHALL"]), "+OK\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
}

#[test]
fn swapdb_invalidates_watches_as_redis_7_0() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut o = s.raw();
    ok(&mut o, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    // A missing key replaced with a stale one is still logically absent.
    set_px(&mut o, "x", 1);
    std::thread::sleep(Duration::from_millis(5));
    ok(&mut r, &["SELECT", "1"]);
    ok(&mut r, &["WATCH", "x"]);
    ok(&mut o, &["SWAPDB", "0", "1"]);
    assert_eq!(try_exec(&mut r), EXEC_OK);
    // ... and so is a stale key replaced with another stale one.
    ok(&mut o, &["FLUSHALL"]);
    ok(&mut o, &["SELECT", "1"]);
    set_px(&mut o, "x", 1);
    ok(&mut o, &["SELECT", "0"]);
    set_px(&mut o, "x", 1);
    std::thread::sleep(Duration::from_millis(5));
    ok(&mut r, &["WATCH", "x"]);
    ok(&mut o, &["SWAPDB", "0", "1"]);
    assert_eq!(try_exec(&mut r), EXEC_OK);
    // A missing key replaced with a live one is a change.
    ok(&mut o, &["FLUSHALL"]);
    ok(&mut o, &["SET", "x", "live"]);
    ok(&mut r, &["WATCH", "x"]);
    ok(&mut o, &["SWAPDB", "0", "1"]);
    assert_eq!(try_exec(&mut r), EXEC_NULL);
    // So is a live key replaced with nothing.
    ok(&mut r, &["WATCH", "x"]);
    ok(&mut o, &["SWAPDB", "0", "1"]);
    assert_eq!(try_exec(&mut r), EXEC_NULL);
}

#[test]
fn exec_is_refused_for_what_its_commands_are() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut o = s.raw();
    // Queued writes make EXEC a write: too few good replicas refuse it as a whole.
    ok(&mut r, &["SET", "xx", "1"]);
    ok(&mut r, &["MULTI"]);
    assert_eq!(r.call(&["INCR", "xx"]), "+QUEUED\r\n");
    ok(&mut o, &["CONFIG", "SET", "min-replicas-to-write", "2"]);
    assert_eq!(
        r.call(&["EXEC"]),
        "-EXECABORT Transaction discarded because of: NOREPLICAS Not enough good replicas to write.\r\n"
    );
    assert_eq!(r.call(&["GET", "xx"]), "$1\r\n1\r\n");
    // Reads alone are not writes.
    ok(&mut r, &["MULTI"]);
    assert_eq!(r.call(&["GET", "xx"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["EXEC"]), "*1\r\n$1\r\n1\r\n");
    ok(&mut o, &["CONFIG", "SET", "min-replicas-to-write", "0"]);
    // A replica gone stale refuses a transaction with a command that is not STALE, even
    // when it became stale after the command was queued.
    ok(&mut r, &["CONFIG", "SET", "replica-serve-stale-data", "no"]);
    ok(&mut r, &["MULTI"]);
    assert_eq!(r.call(&["GET", "xx"]), "+QUEUED\r\n");
    let dead = free_port().to_string();
    ok(&mut o, &["REPLICAOF", "127.0.0.1", &dead]);
    assert_eq!(
        r.call(&["EXEC"]),
        "-EXECABORT Transaction discarded because of: MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n"
    );
    // MULTI itself and a transaction of STALE commands are allowed; PING is not STALE.
    ok(&mut r, &["MULTI"]);
    assert_eq!(r.call(&["CLIENT", "ID"]), "+QUEUED\r\n");
    assert!(r.call(&["EXEC"]).starts_with("*1\r\n:"));
    assert!(r.call(&["PING"]).starts_with("-MASTERDOWN"));
    ok(&mut o, &["REPLICAOF", "NO", "ONE"]);
}

#[test]
fn exec_uses_one_frozen_time() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    // A key set to expire in 1 ms is still there at the end of a long transaction: every
    // command of an EXEC sees the time EXEC started at.
    let mut batch = encode(&[b"MULTI"]);
    batch.extend(encode(&[b"SET", b"k", b"v", b"PX", b"1"]));
    for i in 0..3000 {
        batch.extend(encode(&[b"SET", format!("f{i}").as_bytes(), &[b'x'; 200]]));
    }
    batch.extend(encode(&[b"GET", b"k"]));
    batch.extend(encode(&[b"EXEC"]));
    r.send(&batch);
    for _ in 0..3003 {
        assert!(r.read_reply().starts_with(b"+"));
    }
    let exec = r.read_reply();
    assert!(exec.starts_with(b"*3002\r\n+OK\r\n"), "{}", String::from_utf8_lossy(&exec[..40]));
    assert!(exec.ends_with(b"+OK\r\n$1\r\nv\r\n"), "GET inside EXEC must see the frozen time");
}

#[test]
fn watch_registry_is_cleaned_up() {
    let mut l = Local::new();
    let a = l.connect();
    let b = l.connect();
    let registry_empty = |l: &Local| {
        let st = l.shared.store.lock();
        st.watch.keys.is_empty() && st.watch.clients.is_empty() && st.watch.dirty.is_empty()
    };
    for end in [&["EXEC"][..], &["DISCARD"], &["RESET"]] {
        assert_eq!(l.run(a, &["WATCH", "k1", "k2"]), "+OK\r\n");
        assert_eq!(l.run(b, &["WATCH", "k1"]), "+OK\r\n");
        assert!(!registry_empty(&l));
        assert_eq!(l.run(a, &["MULTI"]), "+OK\r\n");
        l.run(a, end);
        assert_eq!(l.run(b, &["UNWATCH"]), "+OK\r\n");
        assert!(registry_empty(&l), "after {end:?}");
    }
    // A dirty client stops watching at once (the transaction will fail anyway).
    assert_eq!(l.run(a, &["WATCH", "k1", "k2"]), "+OK\r\n");
    assert_eq!(l.run(b, &["SET", "k2", "x"]), "+OK\r\n");
    {
        let st = l.shared.store.lock();
        assert!(st.watch.keys.is_empty());
        assert!(st.watch.dirty.contains(&1));
    }
    assert_eq!(l.run(a, &["MULTI"]), "+OK\r\n");
    assert_eq!(l.run(a, &["EXEC"]), "*-1\r\n");
    assert!(registry_empty(&l));
}

#[test]
fn exec_null_reply_in_resp3() {
    let mut l = Local::new();
    let a = l.connect();
    let b = l.connect();
    l.resp3(a);
    assert_eq!(l.run(a, &["WATCH", "k"]), "+OK\r\n");
    assert_eq!(l.run(b, &["SET", "k", "1"]), "+OK\r\n");
    assert_eq!(l.run(a, &["MULTI"]), "+OK\r\n");
    assert_eq!(l.run(a, &["GET", "k"]), "+QUEUED\r\n");
    assert_eq!(l.run(a, &["EXEC"]), "_\r\n");
    assert_eq!(l.run(a, &["MULTI"]), "+OK\r\n");
    assert_eq!(l.run(a, &["GET", "nokey"]), "+QUEUED\r\n");
    assert_eq!(l.run(a, &["EXEC"]), "*1\r\n_\r\n");
}

#[test]
fn transactions_propagate_wrapped_in_multi_exec() {
    let mut l = Local::new();
    let a = l.connect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // Several writes: wrapped.
    l.run(a, &["MULTI"]);
    l.run(a, &["SET", "a", "1"]);
    l.run(a, &["GET", "a"]);
    l.run(a, &["INCR", "a"]);
    assert_eq!(l.run(a, &["EXEC"]), "*3\r\n+OK\r\n$1\r\n1\r\n:2\r\n");
    // One write: not wrapped (a single command is atomic anyway).
    l.run(a, &["MULTI"]);
    l.run(a, &["SET", "b", "1"]);
    l.run(a, &["GET", "b"]);
    l.run(a, &["EXEC"]);
    // No write: nothing.
    l.run(a, &["MULTI"]);
    l.run(a, &["GET", "b"]);
    l.run(a, &["EXEC"]);
    // Writes in two databases: MULTI in the first, EXEC in the last, no extra SELECT.
    l.run(a, &["SELECT", "3"]);
    l.run(a, &["MULTI"]);
    l.run(a, &["SET", "x", "1"]);
    l.run(a, &["SELECT", "4"]);
    l.run(a, &["SET", "y", "1"]);
    l.run(a, &["EXEC"]);
    // An aborted or failed transaction propagates nothing.
    l.run(a, &["MULTI"]);
    l.run(a, &["SET", "z"]);
    l.run(a, &["EXEC"]);
    assert_eq!(
        l.stream(),
        vec![
            s(&["SELECT", "0"]),
            s(&["MULTI"]),
            s(&["SET", "a", "1"]),
            s(&["INCR", "a"]),
            s(&["EXEC"]),
            s(&["SET", "b", "1"]),
            s(&["SELECT", "3"]),
            s(&["MULTI"]),
            s(&["SET", "x", "1"]),
            s(&["SELECT", "4"]),
            s(&["SET", "y", "1"]),
            s(&["EXEC"]),
        ]
    );
}

#[test]
fn lazy_expiry_inside_a_write_propagates_as_a_transaction() {
    let mut l = Local::new();
    let a = l.connect();
    l.shared.store.lock().active_expire_enabled = false;
    l.run(a, &["SET", "e", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(l.run(a, &["SET", "e", "2"]), "+OK\r\n");
    let stream = l.stream();
    let names: Vec<String> = stream.iter().map(|c| c[0].clone()).collect();
    assert_eq!(names, ["SELECT", "SET", "MULTI", "DEL", "SET", "EXEC"]);
    assert_eq!(stream[3], ["DEL", "e"]);
    assert_eq!(stream[4], ["SET", "e", "2"]);
}

#[test]
fn scan_and_randomkey_expiry_is_not_wrapped() {
    // Keys these commands happen to find expired are unrelated deletions, propagated one
    // by one like active expiry's (Redis's CMD_TOUCHES_ARBITRARY_KEYS).
    for cmd in [&["SCAN", "0"][..], &["RANDOMKEY"][..]] {
        let mut l = Local::new();
        let a = l.connect();
        l.shared.store.lock().active_expire_enabled = false;
        l.run(a, &["SET", "foo1", "bar", "PX", "1"]);
        l.run(a, &["SET", "foo2", "bar", "PX", "1"]);
        std::thread::sleep(Duration::from_millis(5));
        l.run(a, cmd);
        let names: Vec<String> = l.stream().iter().map(|c| c[0].clone()).collect();
        assert_eq!(names, ["SELECT", "SET", "SET", "DEL", "DEL"], "{cmd:?}");
    }
}

#[test]
fn publish_in_a_transaction_is_propagated() {
    let mut l = Local::new();
    let a = l.connect();
    l.run(a, &["MULTI"]);
    l.run(a, &["PUBLISH", "bla", "bla"]);
    assert_eq!(l.run(a, &["EXEC"]), "*1\r\n:0\r\n");
    l.run(a, &["MULTI"]);
    l.run(a, &["SET", "k", "v"]);
    l.run(a, &["PUBLISH", "bla", "2"]);
    l.run(a, &["EXEC"]);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        l.stream(),
        vec![
            s(&["SELECT", "0"]),
            s(&["PUBLISH", "bla", "bla"]),
            s(&["MULTI"]),
            s(&["SET", "k", "v"]),
            s(&["PUBLISH", "bla", "2"]),
            s(&["EXEC"]),
        ]
    );
}

#[test]
fn reset_restores_a_fresh_connection() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut o = s.raw();
    assert_eq!(r.call(&["RESET", "x"]), "-ERR wrong number of arguments for 'reset' command\r\n");
    // Database, transaction, watches.
    assert_eq!(r.call(&["SELECT", "5"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "k", "db5"]), "+OK\r\n");
    assert_eq!(r.call(&["WATCH", "w"]), "+OK\r\n");
    assert_eq!(o.call(&["SET", "w", "1"]), "+OK\r\n");
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "q", "1"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["RESET"]), "+RESET\r\n");
    assert_eq!(r.call(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(r.call(&["GET", "k"]), "$-1\r\n");
    assert_eq!(try_exec(&mut r), EXEC_OK);
    // Subscriptions: back to the normal context.
    assert_eq!(r.call(&["SUBSCRIBE", "ch"]), "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    assert_eq!(r.call(&["RESET"]), "+RESET\r\n");
    assert_eq!(r.call(&["GET", "k"]), "$-1\r\n");
    assert_eq!(o.call(&["PUBLISH", "ch", "m"]), ":0\r\n");
    // MONITOR: no more feed after RESET.
    assert_eq!(r.call(&["MONITOR"]), "+OK\r\n");
    assert_eq!(r.call(&["RESET"]), "+RESET\r\n");
    assert_eq!(o.call(&["SET", "after", "1"]), "+OK\r\n");
    assert_eq!(r.call(&["GET", "after"]), "$1\r\n1\r\n");
}

#[test]
fn reset_in_process_state() {
    let mut l = Local::new();
    let a = l.connect();
    l.resp3(a);
    l.run(a, &["SUBSCRIBE", "c"]);
    l.run(a, &["PSUBSCRIBE", "p*"]);
    l.run(a, &["SSUBSCRIBE", "s"]);
    l.run(a, &["MONITOR"]);
    l.clients[a].0.name = Some(bytes::Bytes::from_static(b"nm"));
    l.clients[a].0.shared.info.lock().name = Some(bytes::Bytes::from_static(b"nm"));
    l.clients[a].0.reply_mode = fluidb::server::client::ReplyMode::Off;
    assert_eq!(l.run(a, &["RESET"]), "+RESET\r\n");
    let (c, out, _) = &l.clients[a];
    assert!(!c.resp3() && !out.resp3 && !c.shared.resp3.load(std::sync::atomic::Ordering::Relaxed));
    assert!(c.name.is_none() && c.shared.info.lock().name.is_none());
    assert_eq!(c.reply_mode, fluidb::server::client::ReplyMode::On);
    assert_eq!(c.subscriptions(), 0);
    assert!(!c.shared.is_monitor.load(std::sync::atomic::Ordering::Relaxed));
    let info = c.shared.info.lock().clone();
    assert_eq!((info.sub, info.psub, info.ssub, info.multi, info.resp, info.db), (0, 0, 0, -1, 2, 0));
    let st = l.shared.store.lock();
    assert!(st.clients.monitors.is_empty());
    assert!(st.pubsub.channels.is_empty() && st.pubsub.patterns.is_empty() && st.pubsub.shard_channels.is_empty());
}

#[test]
fn reset_deauthenticates_when_a_password_is_set() {
    let s = Server::start(&["--requirepass", "secret"]);
    let mut r = s.raw();
    assert_eq!(r.call(&["PING"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(r.call(&["RESET"]), "+RESET\r\n");
    assert_eq!(r.call(&["PING"]), "-NOAUTH Authentication required.\r\n");
    // EXEC rejected before authentication says why.
    assert_eq!(r.call(&["EXEC"]), "-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n");
    let auth = r.call(&["AUTH", "secret"]);
    if auth == "+OK\r\n" {
        assert_eq!(r.call(&["PING"]), "+PONG\r\n");
        assert_eq!(r.call(&["RESET"]), "+RESET\r\n");
        assert_eq!(r.call(&["PING"]), "-NOAUTH Authentication required.\r\n");
    } else {
        // AUTH is another family's; until it lands only the unauthenticated half runs.
        assert!(auth.starts_with("-NOAUTH") || auth.starts_with("-ERR unknown command"), "{auth}");
    }
    // Without a password RESET keeps the connection usable.
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.call(&["RESET"]), "+RESET\r\n");
    assert_eq!(r.call(&["PING"]), "+PONG\r\n");
}

/// Reads one MONITOR line and returns the part after the timestamp.
fn monitor_line(m: &mut Raw) -> String {
    let line = String::from_utf8(m.read_reply()).unwrap();
    assert!(line.starts_with('+') && line.ends_with("\r\n"), "{line:?}");
    let (ts, rest) = line[1..].split_once(' ').unwrap();
    let (secs, usecs) = ts.split_once('.').unwrap();
    assert!(secs.parse::<u64>().unwrap() > 1_600_000_000);
    assert_eq!(usecs.len(), 6, "{ts}");
    rest.trim_end().to_string()
}

/// The `ip:port` of a raw connection, as the server prints it.
fn addr_of(r: &Raw) -> String {
    r.w.local_addr().unwrap().to_string()
}

#[test]
fn monitor_feeds_every_command() {
    let s = Server::start(&[]);
    let mut m = s.raw();
    let mut c = s.raw();
    let ca = addr_of(&c);
    assert_eq!(m.call(&["MONITOR"]), "+OK\r\n");
    c.call(&["SET", "k", "v"]);
    assert_eq!(monitor_line(&mut m), format!("[0 {ca}] \"SET\" \"k\" \"v\""));
    // Quoting as sdscatrepr.
    c.cmd(&[b"SET", b"bin", b"a\"b\\c\r\n\t\x01\x7f \xff"]);
    c.read_reply();
    assert_eq!(monitor_line(&mut m), format!("[0 {ca}] \"SET\" \"bin\" \"a\\\"b\\\\c\\r\\n\\t\\x01\\x7f \\xff\""));
    // The database of the command.
    c.call(&["SELECT", "2"]);
    assert_eq!(monitor_line(&mut m), format!("[2 {ca}] \"SELECT\" \"2\""));
    c.call(&["GET", "k"]);
    assert_eq!(monitor_line(&mut m), format!("[2 {ca}] \"GET\" \"k\""));
    // Rejected commands are not shown; errors from execution are.
    c.call(&["GET"]);
    c.call(&["NOSUCH"]);
    c.call(&["INCR", "bin"]);
    assert_eq!(monitor_line(&mut m), format!("[2 {ca}] \"INCR\" \"bin\""));
    // Transactions: MULTI, then the commands and EXEC when EXEC runs.
    c.call(&["MULTI"]);
    c.call(&["SET", "a", "1"]);
    c.call(&["GET", "a"]);
    c.call(&["EXEC"]);
    for want in ["\"MULTI\"", "\"SET\" \"a\" \"1\"", "\"GET\" \"a\"", "\"EXEC\""] {
        assert_eq!(monitor_line(&mut m), format!("[2 {ca}] {want}"));
    }
    // An aborted transaction shows MULTI and EXEC only.
    c.call(&["MULTI"]);
    c.call(&["SET", "a"]);
    c.call(&["EXEC"]);
    assert_eq!(monitor_line(&mut m), format!("[2 {ca}] \"MULTI\""));
    assert_eq!(monitor_line(&mut m), format!("[2 {ca}] \"EXEC\""));
    c.call(&["MULTI"]);
    c.call(&["EXEC", "x"]);
    assert_eq!(monitor_line(&mut m), format!("[2 {ca}] \"MULTI\""));
    assert_eq!(monitor_line(&mut m), format!("[2 {ca}] \"EXEC\" \"x\""));
    // Admin commands are not shown (MONITOR itself is one).
    let mut m2 = s.raw();
    assert_eq!(m2.call(&["MONITOR"]), "+OK\r\n");
    c.call(&["PING"]);
    assert_eq!(monitor_line(&mut m), format!("[2 {ca}] \"PING\""));
    assert_eq!(monitor_line(&mut m2), format!("[2 {ca}] \"PING\""));
    // A monitor that goes away does not disturb the others.
    drop(m2);
    for i in 0..20 {
        c.call(&["PING", &i.to_string()]);
        assert_eq!(monitor_line(&mut m), format!("[2 {ca}] \"PING\" \"{i}\""));
    }
}

#[test]
fn monitor_client_behaviour() {
    let s = Server::start(&[]);
    let mut m = s.raw();
    let ma = addr_of(&m);
    assert_eq!(m.call(&["MONITOR", "x"]), "-ERR wrong number of arguments for 'monitor' command\r\n");
    assert_eq!(m.call(&["MONITOR"]), "+OK\r\n");
    // The monitor sees its own commands, after their replies.
    assert_eq!(m.call(&["PING"]), "+PONG\r\n");
    assert_eq!(monitor_line(&mut m), format!("[0 {ma}] \"PING\""));
    // No keyspace access.
    assert_eq!(m.call(&["GET", "k"]), "-ERR Replica can't interact with the keyspace\r\n");
    assert_eq!(m.call(&["SET", "k", "v"]), "-ERR Replica can't interact with the keyspace\r\n");
    // MONITOR again: ignored, no reply at all.
    m.cmd(&[b"MONITOR"]);
    m.cmd(&[b"ECHO", b"after"]);
    assert_eq!(String::from_utf8(m.read_reply()).unwrap(), "$5\r\nafter\r\n");
    assert_eq!(monitor_line(&mut m), format!("[0 {ma}] \"ECHO\" \"after\""));
    // MONITOR inside a transaction is refused when it runs.
    let mut c = s.raw();
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["MONITOR"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*1\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n");
    assert_eq!(c.call(&["SET", "k", "v"]), "+OK\r\n");
    let ca = addr_of(&c);
    for want in ["\"MULTI\"", "\"EXEC\"", "\"SET\" \"k\" \"v\""] {
        assert_eq!(monitor_line(&mut m), format!("[0 {ca}] {want}"));
    }
    // QUIT works for a monitor.
    assert_eq!(m.call(&["QUIT"]), "+OK\r\n");
    assert!(m.is_closed());
}

#[test]
fn monitor_redacts_passwords() {
    use bytes::Bytes;
    use fluidb::server::monitor::format_line;
    let f = |args: &[&str]| {
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        String::from_utf8(format_line(1_700_000_000_123_456, 0, "127.0.0.1:1", &argv).to_vec()).unwrap()
    };
    assert_eq!(f(&["auth", "pw"]), "+1700000000.123456 [0 127.0.0.1:1] \"auth\" \"(redacted)\"\r\n");
    assert_eq!(
        f(&["AUTH", "u", "pw"]),
        "+1700000000.123456 [0 127.0.0.1:1] \"AUTH\" \"(redacted)\" \"(redacted)\"\r\n"
    );
    assert_eq!(f(&["auth", "a", "b", "c"]), "+1700000000.123456 [0 127.0.0.1:1] \"auth\" \"a\" \"b\" \"c\"\r\n");
    assert_eq!(
        f(&["hello", "3", "SETNAME", "n", "auth", "u", "p"]),
        "+1700000000.123456 [0 127.0.0.1:1] \"hello\" \"3\" \"SETNAME\" \"n\" \"auth\" \"(redacted)\" \"(redacted)\"\r\n"
    );
    assert_eq!(
        f(&["hello", "4", "auth", "u", "p"]),
        "+1700000000.123456 [0 127.0.0.1:1] \"hello\" \"4\" \"auth\" \"u\" \"p\"\r\n"
    );
    assert_eq!(
        f(&["migrate", "h", "1", "", "0", "10", "COPY", "AUTH2", "u", "p", "KEYS", "auth"]),
        "+1700000000.123456 [0 127.0.0.1:1] \"migrate\" \"h\" \"1\" \"\" \"0\" \"10\" \"COPY\" \"AUTH2\" \"(redacted)\" \"(redacted)\" \"KEYS\" \"auth\"\r\n"
    );
    assert_eq!(f(&["get", "auth"]), "+1700000000.123456 [0 127.0.0.1:1] \"get\" \"auth\"\r\n");
}

#[test]
fn flushdb_and_swapdb_signals_follow_redis_7_0() {
    // FLUSHDB and SWAPDB belong to another family; they call these Store methods first.
    let mut l = Local::new();
    let a = l.connect();
    let b = l.connect();
    l.shared.store.lock().active_expire_enabled = false;
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let dirty = |l: &Local| l.shared.store.lock().watch.is_dirty(1);
    let watch = |l: &mut Local, key: &str| {
        assert_eq!(l.run(a, &["UNWATCH"]), "+OK\r\n");
        assert_eq!(l.run(a, &["WATCH", key]), "+OK\r\n");
    };
    let stale = |l: &mut Local, db: &str, key: &str| {
        l.run(b, &["SELECT", db]);
        l.run(b, &["SET", key, "v", "PX", "1"]);
        std::thread::sleep(Duration::from_millis(5));
    };
    // FLUSHDB of the watched key's database: dirty if the key exists.
    l.run(b, &["SET", "k", "1"]);
    watch(&mut l, "k");
    l.shared.store.lock().signal_flushed_db(Some(1));
    assert!(!dirty(&l), "another database");
    l.shared.store.lock().signal_flushed_db(Some(0));
    assert!(dirty(&l));
    watch(&mut l, "missing");
    l.shared.store.lock().signal_flushed_db(None);
    assert!(!dirty(&l), "a missing key is not changed by a flush");
    stale(&mut l, "0", "s");
    watch(&mut l, "s");
    l.shared.store.lock().signal_flushed_db(Some(0));
    assert!(!dirty(&l), "a key already expired at WATCH is not changed by a flush");
    // SWAPDB: dirty if the key exists on either side...
    l.run(b, &["FLUSHALL"]);
    l.run(b, &["SELECT", "1"]);
    l.run(b, &["SET", "k", "in-db1"]);
    watch(&mut l, "k");
    l.shared.store.lock().signal_swapped_db(0, 1, now());
    assert!(dirty(&l), "missing key replaced by an existing one");
    // ... not if it is missing on both ...
    watch(&mut l, "nowhere");
    l.shared.store.lock().signal_swapped_db(0, 1, now());
    assert!(!dirty(&l));
    // ... nor if a missing key is replaced by an expired one (logically still absent; and
    // EXEC does not fail later for it either) ...
    l.run(b, &["FLUSHALL"]);
    stale(&mut l, "1", "k");
    watch(&mut l, "k");
    l.shared.store.lock().signal_swapped_db(0, 1, now());
    assert!(!dirty(&l));
    l.shared.store.lock().dbs.swap(0, 1);
    assert_eq!(l.run(a, &["MULTI"]), "+OK\r\n");
    assert_eq!(l.run(a, &["PING"]), "+QUEUED\r\n");
    assert_eq!(l.run(a, &["EXEC"]), "*1\r\n+PONG\r\n");
    // ... but a stale watched key replaced by a live one is a change.
    l.run(b, &["FLUSHALL"]);
    stale(&mut l, "0", "k");
    watch(&mut l, "k");
    l.run(b, &["SELECT", "1"]);
    l.run(b, &["SET", "k", "live"]);
    l.shared.store.lock().signal_swapped_db(0, 1, now());
    assert!(dirty(&l));
}
