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

/// The logo's "PID:" line is what Redis's test harness waits for before it connects, so it
/// is printed only once the listeners are bound (Redis's order: `initServer` listens, then
/// `redisAsciiArt`), and a client connecting right then is accepted even while the AOF
/// still loads.
#[test]
fn the_logo_comes_after_the_listeners_are_bound() {
    use std::io::BufRead;
    for _ in 0..5 {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut child = std::process::Command::new(fluidb_bin())
            .args(["--port", &port.to_string(), "--always-show-logo", "yes", "--save", "", "--appendonly", "yes"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let out = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(out).lines();
        let pid_line = format!(" PID: {}", child.id());
        let seen = lines.by_ref().map_while(Result::ok).any(|l| l.contains(&pid_line));
        assert!(seen, "no PID line");
        let connected = std::net::TcpStream::connect(("127.0.0.1", port));
        let _ = child.kill();
        let _ = child.wait();
        assert!(connected.is_ok(), "refused right after the logo: {connected:?}");
    }
}
