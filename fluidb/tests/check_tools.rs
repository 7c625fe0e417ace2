//! fluidb-check-rdb and fluidb-check-aof on files written by fluidB and by redis-server
//! 7.0, sound and damaged.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn run(bin: &str, args: &[&str], stdin: &str) -> (bool, String) {
    let mut c = Command::new(bin).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn");
    c.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = c.wait_with_output().expect("wait");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

const CHECK_RDB: &str = env!("CARGO_BIN_EXE_fluidb-check-rdb");
const CHECK_AOF: &str = env!("CARGO_BIN_EXE_fluidb-check-aof");

#[test]
fn check_rdb_accepts_sound_files_and_points_at_damage() {
    for s in [Server::start(&[]), Server::start_redis(&[])] {
        let mut r = s.raw();
        fill_every_type(&mut r);
        r.call(&["EXPIRE", "str-emb", "100"]);
        assert_eq!(r.call(&["SAVE"]), "+OK\r\n");
        let file = s.dir.path().join("dump.rdb");
        let f = file.to_string_lossy().into_owned();
        let (ok, out) = run(CHECK_RDB, &[&f], "");
        assert!(ok && out.contains("RDB looks OK!") && out.contains("1 expires"), "{}: {out}", s.kind);
        // Damage in the middle of the data: an error with an offset, status 1.
        let mut bytes = std::fs::read(&file).expect("read");
        let n = bytes.len();
        bytes.truncate(n / 2);
        std::fs::write(&file, &bytes).expect("write");
        let (ok, out) = run(CHECK_RDB, &[&f], "");
        assert!(!ok && out.contains("--- RDB ERROR DETECTED ---") && out.contains("[offset "), "{out}");
    }
}

#[test]
fn check_aof_validates_a_manifest_and_fixes_a_broken_tail() {
    let mut s = Server::start(&["--appendonly", "yes"]);
    let mut r = s.raw();
    r.call(&["SET", "a", "1"]);
    r.call(&["RPUSH", "l", "x", "y"]);
    s.child.kill().expect("kill");
    let dir = s.dir.path().join("appendonlydir");
    let manifest = dir.join("appendonly.aof.manifest").to_string_lossy().into_owned();
    let (ok, out) = run(CHECK_AOF, &[&manifest], "");
    assert!(ok && out.contains("All AOF files and manifest are valid"), "{out}");
    let incr = dir.join("appendonly.aof.1.incr.aof");
    let good = std::fs::metadata(&incr).expect("incr").len();
    std::fs::OpenOptions::new().append(true).open(&incr).expect("open").write_all(b"*2\r\n$3\r\nDEL\r\n$1").expect("w");
    let (ok, out) = run(CHECK_AOF, &[&manifest], "");
    assert!(!ok && out.contains("is not valid") && out.contains(&format!("ok_up_to={good}")), "{out}");
    // --fix asks first; "n" leaves the file alone, "y" truncates it to the last command.
    let (ok, _) = run(CHECK_AOF, &["--fix", &manifest], "n\n");
    assert!(!ok);
    let (ok, out) = run(CHECK_AOF, &["--fix", &manifest], "y\n");
    assert!(ok && out.contains("Successfully truncated"), "{out}");
    assert_eq!(std::fs::metadata(&incr).expect("incr").len(), good);
    let back =
        Server::start(&["--appendonly", "yes", "--aof-load-truncated", "no", "--dir", &s.dir.path().to_string_lossy()]);
    assert_eq!(back.raw().call(&["LRANGE", "l", "0", "-1"]), "*2\r\n$1\r\nx\r\n$1\r\ny\r\n");
    // An unterminated transaction is cut before its MULTI.
    let tx = b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n";
    std::fs::OpenOptions::new().append(true).open(&incr).expect("open").write_all(tx).expect("w");
    let (ok, out) = run(CHECK_AOF, &[&incr.to_string_lossy()], "");
    assert!(!ok && out.contains("EXEC"), "{out}");
}
