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
pub mod histogram;
pub mod latency;
pub mod listen;
pub mod loading;
pub mod monitor;
pub mod oom;
pub mod pause;
pub mod process;
pub mod pubsub;
pub mod shutdown;
pub mod slowlog;
pub mod stats;
pub mod store;
pub mod workers;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::net::UnixListener;

pub use crate::config::Config;
pub use store::Store;

/// Redis's REPLY_BUFFER_DEFAULT_PEAK_RESET_TIME (ms).
pub const REPLY_BUFFER_DEFAULT_PEAK_RESET_MS: i64 = 5000;

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
    /// The TCP listening sockets (CONFIG SET bind/port replaces them).
    pub listeners: listen::Listeners,
    /// `client-output-buffer-limit`, read by every client's deliveries off the lock.
    pub obuf_limits: Arc<client::ObufLimits>,
    /// DEBUG REPLYBUFFER: milliseconds between resets of a reply buffer's peak (-1:
    /// never) and whether the cron resizes reply buffers at all.
    pub reply_buffer_peak_reset_ms: AtomicI64,
    pub reply_buffer_resizing: AtomicBool,
    pub executable: String,
    pub config_file: String,
    /// Microseconds since `started` until which a DEBUG SLEEP stalls the server (see
    /// [`Shared::stall_for`]).
    stalled_until_us: AtomicU64,
    /// This very value, for handlers that start background tasks (REPLICAOF).
    me: std::sync::Weak<Shared>,
    /// ANTIENTROPY RUN: wakes the anti-entropy task of the master link for a round now.
    pub ae_now: tokio::sync::Notify,
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
            listeners: listen::Listeners::default(),
            obuf_limits: Arc::new(client::ObufLimits::new(&cfg.client_output_buffer_limit)),
            reply_buffer_peak_reset_ms: AtomicI64::new(REPLY_BUFFER_DEFAULT_PEAK_RESET_MS),
            reply_buffer_resizing: AtomicBool::new(true),
            executable: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            config_file,
            stalled_until_us: AtomicU64::new(0),
            ae_now: tokio::sync::Notify::new(),
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
        self.obuf_limits.set(&cfg.client_output_buffer_limit);
    }

    /// DEBUG SLEEP: Redis's only thread sleeps, so nothing leaves the server meanwhile;
    /// here the sleeping client waits without the store lock, and what a master sends on
    /// its own (the keepalive newlines to a replica waiting for its snapshot, the
    /// replication PINGs) checks [`Shared::stalled`] and stays silent until then, so a
    /// replica's `repl-timeout` fires as it would against Redis.
    pub fn stall_for(&self, d: std::time::Duration) {
        let until = self.started.elapsed().saturating_add(d).as_micros();
        self.stalled_until_us.fetch_max(u64::try_from(until).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Whether a DEBUG SLEEP stalls the server now.
    pub fn stalled(&self) -> bool {
        let now = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        now < self.stalled_until_us.load(Ordering::Relaxed)
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
}

/// The listening sockets, bound before the dataset is loaded (as Redis binds before
/// loading): a client that connects while the AOF replays waits in the backlog instead of
/// being refused.
pub struct Bound {
    tcp: Vec<std::net::TcpListener>,
    unix: Option<(std::os::unix::net::UnixListener, String)>,
}

/// Binds the TCP addresses of `bind`/`port` and the unix socket.
pub fn bind(cfg: &crate::config::Config) -> std::io::Result<Bound> {
    let tcp = listen::bind_all(&cfg.bind, cfg.port, cfg.tcp_backlog)?;
    let mut unix = None;
    if let Some(path) = cfg.unixsocket.clone().filter(|p| !p.is_empty()) {
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path)?;
        l.set_nonblocking(true)?;
        shutdown::note_unix_socket(&path);
        unix = Some((l, path));
    }
    Ok(Bound { tcp, unix })
}

/// Starts `threads` I/O workers, the acceptors of `bound` and the cron, and serves until
/// shutdown. Runs on the main thread's runtime, which accepts and runs the cron.
pub async fn run(shared: Arc<Shared>, threads: usize, bound: Bound) -> std::io::Result<()> {
    let workers = Arc::new(workers::Workers::start(&shared, threads)?);
    shared.listeners.init(tokio::runtime::Handle::current(), &workers);
    shared.listeners.start(bound.tcp);
    if let Some((l, path)) = bound.unix {
        let l = UnixListener::from_std(l)?;
        let w = workers.clone();
        tokio::spawn(async move { conn::accept_unix(w, l, path).await });
    }
    tokio::spawn(cron::run(shared.clone()));
    let loading = shared.store.lock().loading.is_some();
    // A file grown past RLIMIT_FSIZE must fail the write (EFBIG, handled like a full disk:
    // MISCONF and a retry), not kill the server with SIGXFSZ.
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    if loading {
        // The dataset loads while clients are served; replication starts after it, and
        // the server is ready (as Redis logs it) once it is in.
        let rt = tokio::runtime::Handle::current();
        loading::start(shared.clone(), move |shared, st| {
            let _entered = rt.enter();
            start_replication(shared, st);
            log_notice!("Ready to accept connections");
        });
    } else {
        start_replication(&shared, &mut shared.store.lock());
        log_notice!("Ready to accept connections");
    }
    // Signals are handled by `shutdown` (the cron carries a requested shutdown out and
    // the process exits there): serving goes on until then.
    std::future::pending::<()>().await;
    Ok(())
}

/// Connects to the master of the configuration file (`replicaof`), if any.
fn start_replication(shared: &Arc<Shared>, st: &mut Store) {
    if let Some((host, port)) = st.cfg.replicaof.first().cloned() {
        crate::replication::replica::set_master(shared, st, host, port);
    }
}
