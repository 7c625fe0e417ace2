//! KeyDB 6.3 as a test peer: fluidB's active replication must pair with it
//! (`/work/shared/spec/keydb-compat.md`), so tests start the real `keydb-server` next to fluidB.
//!
//! The binary is not part of the build: where it is missing or cannot run on this machine the
//! harness returns `None` and says why, and the test skips instead of failing.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::Server;

/// Where the binary is looked for unless `KEYDB_SERVER` names another one.
pub const DEFAULT_KEYDB: &str = "/work/shared/peers/keydb-server";

/// The keydb-server binary to run (`KEYDB_SERVER`, or [`DEFAULT_KEYDB`]).
pub fn keydb_bin() -> String {
    std::env::var("KEYDB_SERVER").unwrap_or_else(|_| DEFAULT_KEYDB.to_string())
}

/// Why keydb-server cannot be used here, or `None` if it can (checked once per test binary by
/// running `keydb-server --version`).
pub fn keydb_unavailable() -> Option<&'static str> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        let bin = keydb_bin();
        match Command::new(&bin).arg("--version").stdin(Stdio::null()).output() {
            Err(e) => Some(format!("cannot run {bin}: {e}")),
            Ok(out) if !out.status.success() => Some(format!(
                "{bin} --version failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Ok(out) if !String::from_utf8_lossy(&out.stdout).contains("KeyDB") => {
                Some(format!("{bin} is not KeyDB: {}", String::from_utf8_lossy(&out.stdout).trim()))
            }
            Ok(_) => None,
        }
    })
    .as_deref()
}

impl Server {
    /// Starts keydb-server on a free port in a temp `--dir`, with no snapshots or AOF and extra
    /// `--directive value` arguments (e.g. `--active-replica yes`); returns once it answers
    /// PING. Returns `None`, after printing why, if the binary cannot run here.
    pub fn start_keydb(args: &[&str]) -> Option<Server> {
        if let Some(why) = keydb_unavailable() {
            eprintln!("skipping: KeyDB is not available: {why}");
            return None;
        }
        // KeyDB's DEBUG is always enabled (it predates `enable-debug-command`, which it does not
        // know), so unlike Redis nothing is needed for DEBUG DIGEST or DEBUG SLEEP.
        let mut a = vec!["--save", "", "--appendonly", "no"];
        a.extend_from_slice(args);
        let dir = tempfile::tempdir().expect("tempdir");
        Some(Self::start_in(&keydb_bin(), "keydb", dir, None, &a, true))
    }
}
