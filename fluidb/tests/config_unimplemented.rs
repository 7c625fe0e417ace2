//! No setting claims to work when it does not: every directive fluidB accepts but does not
//! act on (the table's directives without the IMPLEMENTED flag, listed by reason in
//! `config/directives.rs`) is refused by CONFIG SET with an error naming it, for any value
//! but its default, and a config file or argument that sets one gets a startup warning.

mod common;

use common::Server;
use fluidb::config::{Kind, DIRECTIVES};

/// Values to try for a directive, in order: the first one its parser accepts must be
/// refused as not implemented (a parse error moves on to the next candidate).
fn candidates(kind: &Kind, default: &str) -> Vec<String> {
    let mut v: Vec<String> = match kind {
        Kind::Bool { .. } => vec![if default == "yes" { "no" } else { "yes" }.into()],
        Kind::Enum(names) => names.iter().filter(|n| **n != default).map(|n| n.to_string()).collect(),
        Kind::Int(spec) => {
            let d: i64 = default.parse().unwrap_or(0);
            let mut c = vec![d.saturating_add(1), d.saturating_sub(1), spec.min, spec.max];
            c.retain(|&x| x != d);
            c.into_iter().map(|x| x.to_string()).collect()
        }
        _ => Vec::new(),
    };
    v.extend(["x", "1", "yes", "1 2 3", "normal 1 1 1", "save", "50", "127.0.0.1"].map(String::from));
    v.retain(|c| c != default);
    v
}

#[test]
fn config_set_refuses_every_unimplemented_directive_but_its_default() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for d in DIRECTIVES.iter().filter(|d| !d.is_implemented() && d.is_mutable()) {
        let default = d.default_value();
        // The default is what fluidB does: setting it is always accepted.
        let back = r.call(&["CONFIG", "SET", d.name, &default]);
        if back != "+OK\r\n" {
            wrong.push(format!("{}: its default '{default}' was refused: {back}", d.name));
            continue;
        }
        let mut refused = false;
        for value in candidates(&d.kind, &default) {
            let reply = r.call(&["CONFIG", "SET", d.name, &value]);
            if reply == "+OK\r\n" {
                wrong.push(format!("{} {value}: answered OK", d.name));
                break;
            }
            // `activedefrag yes` keeps Redis's own refusal for a build that cannot defragment.
            let own_refusal = matches!(d.kind, Kind::Bool { deny_yes: Some(m), .. } if reply.contains(m));
            if reply.contains("is not implemented by fluidB") || own_refusal {
                assert!(reply.contains(&format!("argument '{}'", d.name)), "{reply}");
                refused = true;
                break;
            }
        }
        if !refused {
            wrong.push(format!("{}: no candidate value was refused as not implemented", d.name));
            continue;
        }
        let get = r.call(&["CONFIG", "GET", d.name]);
        let want = format!("${}\r\n{}\r\n", default.len(), default);
        if !get.ends_with(&want) {
            wrong.push(format!("{}: CONFIG GET changed after a refusal: {get:?}", d.name));
        }
        checked += 1;
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // The list in config/directives.rs has well over a hundred entries, most mutable.
    assert!(checked > 80, "only {checked} directives checked");
}

#[test]
fn an_implemented_directive_still_takes_any_valid_value() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.call(&["CONFIG", "SET", "hz", "20"]), "+OK\r\n");
    assert_eq!(r.call(&["CONFIG", "SET", "activerehashing", "no"]), "+OK\r\n");
    assert_eq!(r.call(&["CONFIG", "SET", "maxmemory", "0"]), "+OK\r\n");
    let err = r.call(&["CONFIG", "SET", "maxmemory", "10mb"]);
    assert_eq!(
        err,
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - 'maxmemory' is not implemented by \
         fluidB yet: only its default value '0' is accepted\r\n"
    );
}

#[test]
fn startup_warns_about_each_unimplemented_setting() {
    let s = Server::start_with_config("maxmemory 10mb\nmaxmemory-samples 7\n", &["--io-threads", "4"]);
    common::wait_for("the warnings", std::time::Duration::from_secs(5), || {
        s.log().contains("Ready to accept connections")
    });
    let log = s.log();
    for name in ["maxmemory", "maxmemory-samples", "io-threads"] {
        assert!(log.contains(&format!("'{name}' is not implemented by fluidB yet")), "no warning for {name}:\n{log}");
    }
    // A default value warns about nothing.
    let quiet = Server::start(&["--maxmemory", "0"]);
    common::wait_for("startup", std::time::Duration::from_secs(5), || quiet.log().contains("Ready to accept"));
    assert!(!quiet.log().contains("not implemented"), "{}", quiet.log());
}
