//! The server: listeners, connections, the shared store and the background cron.
//!
//! Threading model (see ARCHITECTURE.md): a tokio multi-threaded runtime with one worker
//! per core (`server-threads`). Every connection is a task that reads, parses and writes
//! on whichever worker runs it; only command execution takes the store lock, once per
//! batch of pipelined commands. So parsing and reply writing run in parallel on all cores,
//! while commands and transactions execute atomically in one total order.

#[macro_use]
pub mod log;
pub mod blocking;
pub mod client;
pub mod conn;
pub mod crash;
pub mod cron;
pub mod latency;
pub mod monitor;
pub mod pause;
pub mod pubsub;
pub mod slowlog;
pub mod stats;
pub mod store;
pub mod workers;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Notify;

pub use crate::config::Config;
pub use store::Store;

/// Attempts to take the store lock before parking (see `Shared::lock_store`).
const LOCK_SPINS: u32 = 256;

/// Server-wide state shared by all connections.
pub struct Shared {
    pub store: Mutex<Store>,
    pub next_client_id: AtomicU64,
    pub started: Instant,
    pub started_unix_ms: i64,
    /// 40 hex characters, new at every start (Redis's `run_id`).
    pub run_id: String,
    /// The TCP port actually listened on.
    pub port: AtomicUsize,
    /// Parser limits read on every request without taking the store lock.
    pub max_bulk_len: AtomicI64,
    pub query_buffer_limit: AtomicUsize,
    /// Connected clients, for `maxclients`.
    pub connected: AtomicUsize,
    pub maxclients: AtomicUsize,
    pub protected_mode: AtomicBool,
    /// Set when SHUTDOWN was accepted or a signal arrived.
    pub shutting_down: AtomicBool,
    pub shutdown: Notify,
    pub executable: String,
    pub config_file: String,
    /// This very value, for handlers that start background tasks (REPLICAOF).
    me: std::sync::Weak<Shared>,
}

impl Shared {
    pub fn new(cfg: Config, config_file: String) -> Arc<Shared> {
        let run_id: String = (0..40).map(|_| format!("{:x}", rand::random::<u8>() & 15)).collect();
        Arc::new_cyclic(|me| Shared {
            me: me.clone(),
            next_client_id: AtomicU64::new(1),
            started: Instant::now(),
            started_unix_ms: crate::util::time::unix_ms(),
            run_id,
            port: AtomicUsize::new(cfg.port as usize),
            max_bulk_len: AtomicI64::new(cfg.proto_max_bulk_len),
            query_buffer_limit: AtomicUsize::new(cfg.client_query_buffer_limit as usize),
            connected: AtomicUsize::new(0),
            maxclients: AtomicUsize::new(cfg.maxclients as usize),
            protected_mode: AtomicBool::new(cfg.protected_mode),
            shutting_down: AtomicBool::new(false),
            shutdown: Notify::new(),
            executable: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            config_file,
            store: Mutex::new(Store::new(cfg)),
        })
    }

    /// An owning handle to the shared state (None only while it is being dropped).
    pub fn arc(&self) -> Option<Arc<Shared>> {
        self.me.upgrade()
    }

    /// Copies configuration values read outside the lock after a change.
    pub fn refresh_cached_config(&self, cfg: &Config) {
        self.max_bulk_len.store(cfg.proto_max_bulk_len, Ordering::Relaxed);
        self.query_buffer_limit.store(cfg.client_query_buffer_limit as usize, Ordering::Relaxed);
        self.maxclients.store(cfg.maxclients as usize, Ordering::Relaxed);
        self.protected_mode.store(cfg.protected_mode, Ordering::Relaxed);
    }

    /// Takes the store lock for a batch of commands. Spins briefly before parking: a
    /// batch holds the lock for microseconds, and parking (futex sleep, wake-up, two
    /// context switches) costs more than that on a busy small machine.
    #[inline]
    pub fn lock_store(&self) -> parking_lot::MutexGuard<'_, Store> {
        for i in 0..LOCK_SPINS {
            if let Some(g) = self.store.try_lock() {
                return g;
            }
            if i % 16 == 15 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        self.store.lock()
    }

    /// Asks the server to exit.
    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown.notify_waiters();
        self.shutdown.notify_one();
    }
}

/// Expands `bind` entries into socket addresses. A leading '-' marks an optional address
/// (failure to bind it is not fatal), as Redis 7.0 does; "*" means every IPv4 address and
/// "::*" every IPv6 address.
fn bind_addrs(bind: &[String], port: u16) -> Vec<(String, bool)> {
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

/// The listening sockets, bound before the dataset is loaded (as Redis binds before
/// loading): a client that connects meanwhile waits in the backlog instead of being
/// refused.
pub struct Listeners {
    tcp: Vec<std::net::TcpListener>,
    unix: Option<(std::os::unix::net::UnixListener, String)>,
}

/// Binds the TCP addresses of `bind`/`port` and the unix socket.
pub fn bind(cfg: &Config) -> std::io::Result<Listeners> {
    let (bind, port, unixsocket) = (&cfg.bind, cfg.port, cfg.unixsocket.clone());
    let mut tcp = Vec::new();
    if port != 0 {
        for (addr, optional) in bind_addrs(bind, port) {
            match bind_tcp(&addr) {
                Ok(l) => tcp.push(l),
                Err(e) if optional => log_verbose!("Skipping optional bind address {addr}: {e}"),
                Err(e) => {
                    log_warning!("Warning: Could not create server TCP listening socket {addr}: {e}");
                    return Err(e);
                }
            }
        }
    }
    let mut unix = None;
    if let Some(path) = unixsocket.filter(|p| !p.is_empty()) {
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path)?;
        l.set_nonblocking(true)?;
        unix = Some((l, path));
    }
    Ok(Listeners { tcp, unix })
}

/// Starts `threads` I/O workers, the acceptors of `listeners` and the cron, and serves
/// until shutdown. Runs on the main thread's runtime, which accepts and runs the cron.
pub async fn run(shared: Arc<Shared>, threads: usize, listeners: Listeners) -> std::io::Result<()> {
    let workers = Arc::new(workers::Workers::start(&shared, threads)?);
    for l in listeners.tcp {
        let l = TcpListener::from_std(l)?;
        let w = workers.clone();
        tokio::spawn(async move { conn::accept_tcp(w, l).await });
    }
    if let Some((l, path)) = listeners.unix {
        let l = UnixListener::from_std(l)?;
        let w = workers.clone();
        tokio::spawn(async move { conn::accept_unix(w, l, path).await });
    }
    tokio::spawn(cron::run(shared.clone()));
    {
        let mut st = shared.store.lock();
        if let Some((host, port)) = st.cfg.replicaof.first().cloned() {
            crate::replication::replica::set_master(&shared, &mut st, host, port);
        }
    }
    // A file grown past RLIMIT_FSIZE must fail the write (EFBIG, handled like a full disk:
    // MISCONF and a retry), not kill the server with SIGXFSZ.
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    log_notice!("Ready to accept connections");
    loop {
        if shared.shutting_down.load(Ordering::SeqCst) {
            break;
        }
        tokio::select! {
            _ = shared.shutdown.notified() => {}
            _ = tokio::signal::ctrl_c() => {
                log_warning!("Received SIGINT scheduling shutdown...");
                shutdown_on_signal(&shared);
            }
            _ = sigterm() => {
                log_warning!("Received SIGTERM scheduling shutdown...");
                shutdown_on_signal(&shared);
            }
        }
    }
    log_warning!("fluidB is now ready to exit, bye bye...");
    Ok(())
}

/// A signal asks for a shutdown: save first as SHUTDOWN would; if the save fails, keep
/// running (as Redis does) rather than lose what the snapshot should have kept.
fn shutdown_on_signal(shared: &Shared) {
    if crate::persistence::snapshot::save_for_shutdown(&mut shared.store.lock(), false) {
        shared.request_shutdown();
    }
}

async fn sigterm() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

fn bind_tcp(addr: &str) -> std::io::Result<std::net::TcpListener> {
    let sa: std::net::SocketAddr =
        addr.parse().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    let domain = if sa.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if sa.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.bind(&sa.into())?;
    sock.listen(511)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}
