//! Smoke tests: the server starts with built-in defaults and answers real clients.

mod common;
use common::*;

#[test]
fn ping_set_get_with_redis_crate() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
}

#[test]
fn redis_cli_works() {
    let s = Server::start(&[]);
    assert_eq!(s.cli(&["set", "a", "1"]).trim(), "OK");
    assert_eq!(s.cli(&["incr", "a"]).trim(), "2");
}

#[test]
fn pipelined_replies_arrive_in_order() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend(encode(&[b"SET", format!("k{i}").as_bytes(), format!("{i}").as_bytes()]));
        batch.extend(encode(&[b"GET", format!("k{i}").as_bytes()]));
    }
    r.send(&batch);
    for i in 0..100 {
        assert_eq!(r.read_reply(), b"+OK\r\n");
        let v = format!("{i}");
        assert_eq!(r.read_reply(), format!("${}\r\n{}\r\n", v.len(), v).into_bytes());
    }
}
