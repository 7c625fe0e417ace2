//! Settings that act on the process: its title (`set-proc-title`, `proc-title-template`),
//! as `ps` and `/proc/<pid>/cmdline` show it.

mod common;

use common::*;

fn cmdline(s: &Server) -> String {
    let raw = std::fs::read(format!("/proc/{}/cmdline", s.child.id())).expect("read cmdline");
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

#[test]
fn the_process_title_follows_the_template() {
    let sock = tempfile::tempdir().expect("tempdir");
    let path = sock.path().join("fluidb.sock");
    let path = path.to_string_lossy().into_owned();
    let s = Server::start(&["--bind", "127.0.0.1", "--unixsocket", &path]);
    // The default template: "{title} {listen-addr} {server-mode}", trimmed.
    assert_eq!(cmdline(&s), format!("{} 127.0.0.1:{}", fluidb_bin(), s.port));
    let mut r = s.raw();
    ok(&mut r, &["CONFIG", "SET", "proc-title-template", "TEST {title} {listen-addr} {port} {tls-port} {unixsocket}"]);
    let words: Vec<String> = cmdline(&s).split(' ').map(String::from).collect();
    assert_eq!(words, ["TEST", fluidb_bin(), &format!("127.0.0.1:{}", s.port), &s.port.to_string(), "0", &path]);
    let err = r.call(&["CONFIG", "SET", "proc-title-template", "{invalid-var}"]);
    assert!(err.contains("template format is invalid"), "{err}");
}

#[test]
fn set_proc_title_no_leaves_the_command_line() {
    let s = Server::start(&["--set-proc-title", "no"]);
    let raw = std::fs::read(format!("/proc/{}/cmdline", s.child.id())).expect("read cmdline");
    let args: Vec<String> =
        raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into()).collect();
    assert_eq!(args[0], fluidb_bin());
    assert!(args.contains(&"--set-proc-title".to_string()), "{args:?}");
}
