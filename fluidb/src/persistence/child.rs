//! The forked children of BGSAVE and BGREWRITEAOF: reaping and killing them (one place
//! for the `waitpid`/`kill` calls both use).

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// Exited with status 0.
    pub ok: bool,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
}

/// Whether child `pid` ended: None while it runs, Some(true) when it exited with status 0.
pub fn reap(pid: libc::pid_t) -> Option<bool> {
    reap_status(pid).map(|e| e.ok)
}

/// Whether child `pid` ended, and how: None while it runs.
pub fn reap_status(pid: libc::pid_t) -> Option<Exit> {
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid on our own child with a valid out pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if r == 0 {
        return None;
    }
    let ok = r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let signal = (r == pid && libc::WIFSIGNALED(status)).then(|| libc::WTERMSIG(status));
    Some(Exit { ok, signal })
}

/// Kills child `pid` and waits for it to be gone.
pub fn kill(pid: libc::pid_t) {
    // SAFETY: signalling and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGUSR1);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
}
