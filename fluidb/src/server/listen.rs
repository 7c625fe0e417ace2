//! The TCP listening sockets (`bind`, `port`), which CONFIG SET can change at runtime as
//! Redis's `changeListener` does: the old listeners close, the new addresses are bound,
//! and if that fails the old ones are bound again and CONFIG SET fails.
//!
//! Listeners are bound synchronously (std sockets, so a CONFIG SET handler on an I/O
//! worker can bind and report errors at once) and accepted on the main runtime. Closing
//! must free the port at once, before the new addresses (maybe the same port) are bound,
//! while the accept task may be busy on another thread: the socket is `shutdown`, which on
//! Linux takes a listening socket out of the LISTEN state and releases its address; the
//! task, whose `accept` then fails with EINVAL, is aborted and closes the descriptor.

use std::os::fd::AsRawFd;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use super::workers::Workers;

/// One listening socket and the task accepting on it.
struct Listener {
    /// The descriptor, owned by the task (valid while the listener is registered here:
    /// the task only ends when aborted or after its socket was shut down).
    fd: i32,
    task: tokio::task::AbortHandle,
}

/// The server's TCP listeners.
#[derive(Default)]
pub struct Listeners {
    tcp: Mutex<Vec<Listener>>,
    /// The main runtime, which runs the accept loops.
    rt: OnceLock<tokio::runtime::Handle>,
    workers: OnceLock<Weak<Workers>>,
}

/// Expands `bind` entries into socket addresses. A leading '-' marks an optional address
/// (failure to bind it is not fatal), as Redis 7.0 does; "*" means every IPv4 address and
/// "::*" every IPv6 address.
pub fn bind_addrs(bind: &[String], port: u16) -> Vec<(String, bool)> {
    bind.iter()
        .map(|b| {
            let (optional, addr) = match b.strip_prefix('-') {
                Some(a) => (true, a),
                None => (false, b.as_str()),
            };
            let host = match addr {
                "*" => "0.0.0.0".to_string(),
                "::*" => "[::]".to_string(),
                a if a.contains(':') => format!("[{a}]"),
                a => a.to_string(),
            };
            (format!("{host}:{port}"), optional)
        })
        .collect()
}

/// One listening socket on `addr` (`host:port`), non-blocking, with SO_REUSEADDR (and
/// IPV6_V6ONLY for IPv6, so "*" and "::*" can both be bound).
fn bind_one(addr: &str, backlog: i32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sa: std::net::SocketAddr =
        addr.parse().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    let sock = Socket::new(Domain::for_address(sa), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    if sa.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.bind(&sa.into())?;
    sock.listen(backlog)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// Binds every address of `bind` on `port` (none for port 0). Optional addresses that
/// fail are skipped; any other failure closes what was bound and returns the error.
pub fn bind_all(bind: &[String], port: u16, backlog: i32) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::new();
    if port == 0 {
        return Ok(out);
    }
    for (addr, optional) in bind_addrs(bind, port) {
        match bind_one(&addr, backlog) {
            Ok(l) => out.push(l),
            Err(e) if optional => log_verbose!("Skipping optional bind address {addr}: {e}"),
            Err(e) => {
                log_warning!("Warning: Could not create server TCP listening socket {addr}: {e}");
                return Err(e);
            }
        }
    }
    Ok(out)
}

impl Listeners {
    /// Records the runtime and workers the accept loops use (at startup).
    pub fn init(&self, rt: tokio::runtime::Handle, workers: &Arc<Workers>) {
        let _ = self.rt.set(rt);
        let _ = self.workers.set(Arc::downgrade(workers));
    }

    /// Accepts on `listeners` from now on.
    pub fn start(&self, listeners: Vec<std::net::TcpListener>) {
        let (Some(rt), Some(workers)) = (self.rt.get(), self.workers.get().and_then(Weak::upgrade)) else { return };
        let mut tcp = self.tcp.lock();
        for l in listeners {
            let fd = l.as_raw_fd();
            let w = workers.clone();
            let task = rt.spawn(async move {
                match tokio::net::TcpListener::from_std(l) {
                    Ok(l) => super::conn::accept_tcp(w, l).await,
                    Err(e) => log_warning!("Accepting client connection: {e}"),
                }
            });
            tcp.push(Listener { fd, task: task.abort_handle() });
        }
    }

    /// Stops listening on every TCP address; the addresses are free when this returns.
    pub fn close_all(&self) {
        for l in self.tcp.lock().drain(..) {
            // SAFETY: `fd` is the open listening socket of a registered task (see
            // `Listener::fd`); shutdown() only changes the socket's state.
            unsafe { libc::shutdown(l.fd, libc::SHUT_RDWR) };
            l.task.abort();
        }
    }

    /// Listens on `bind`/`port` instead of `old_bind`/`old_port` (CONFIG SET bind/port).
    /// On failure the old addresses are bound again and the error is returned.
    pub fn rebind(
        &self,
        (old_bind, old_port): (&[String], u16),
        (bind, port): (&[String], u16),
        backlog: i32,
    ) -> std::io::Result<()> {
        self.close_all();
        match bind_all(bind, port, backlog) {
            Ok(ls) => {
                self.start(ls);
                Ok(())
            }
            Err(e) => {
                match bind_all(old_bind, old_port, backlog) {
                    Ok(ls) => self.start(ls),
                    Err(e2) => log_warning!("Failed to listen again on the previous addresses: {e2}"),
                }
                Err(e)
            }
        }
    }
}
