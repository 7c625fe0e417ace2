//! I/O worker threads: one single-threaded tokio runtime per thread (`server-threads`),
//! each owning the connections handed to it.
//!
//! A work-stealing runtime moves connection tasks between threads and wakes idle workers
//! with futexes on every readiness event; on a small machine that shares its cores with
//! the clients, those wake-ups cost more than the work. Pinning each connection to one
//! thread (as KeyDB's per-thread event loops do) keeps a connection's reads, parsing and
//! writes on one core with no cross-thread hand-offs. The acceptor places new connections
//! as KeyDB does (`min-clients-per-thread`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{conn, Shared};

/// A freshly accepted connection on its way to a worker.
pub enum NewConn {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream, String),
}

/// Handles to the worker threads.
pub struct Workers {
    txs: Vec<mpsc::UnboundedSender<NewConn>>,
    /// Connections each worker serves (accepted and not yet closed).
    clients: Vec<Arc<AtomicUsize>>,
    shared: Arc<Shared>,
}

impl Workers {
    /// Starts `n` worker threads (at least one).
    pub fn start(shared: &Arc<Shared>, n: usize) -> std::io::Result<Workers> {
        let n = n.clamp(1, 128);
        let mut txs = Vec::with_capacity(n);
        let mut clients = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = mpsc::unbounded_channel();
            let sh = shared.clone();
            let count = Arc::new(AtomicUsize::new(0));
            let c = count.clone();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            std::thread::Builder::new().name(format!("fluidb-io-{i}")).spawn(move || {
                rt.block_on(worker_loop(sh, rx, c));
            })?;
            txs.push(tx);
            clients.push(count);
        }
        Ok(Workers { txs, clients, shared: shared.clone() })
    }

    /// KeyDB's `chooseBestThreadForAccept`: the first worker with fewer than
    /// `min-clients-per-thread` clients, else the least loaded one. So a few clients share
    /// one thread (and its caches, with no lock contention), and load spreads over every
    /// core as clients grow.
    fn choose(&self) -> usize {
        let threshold = self.shared.store.lock().cfg.min_clients_per_thread.max(0) as usize;
        let mut best = (usize::MAX, 0);
        for (i, c) in self.clients.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n < threshold {
                return i;
            }
            if n < best.0 {
                best = (n, i);
            }
        }
        best.1
    }

    /// Hands a connection to a worker.
    pub fn dispatch(&self, c: NewConn) {
        let i = self.choose();
        self.clients[i].fetch_add(1, Ordering::Relaxed);
        if self.txs[i].send(c).is_err() {
            self.clients[i].fetch_sub(1, Ordering::Relaxed);
            log_warning!("I/O thread {i} is gone; dropping a new connection");
        }
    }
}

/// Decrements a worker's client count when a connection task ends, however it ends.
struct CountGuard(Arc<AtomicUsize>);
impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn worker_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<NewConn>, count: Arc<AtomicUsize>) {
    while let Some(c) = rx.recv().await {
        let sh = shared.clone();
        let guard = CountGuard(count.clone());
        match c {
            NewConn::Tcp(s) => match tokio::net::TcpStream::from_std(s) {
                Ok(sock) => {
                    tokio::spawn(async move {
                        conn::serve_tcp(sh, sock).await;
                        drop(guard);
                    });
                }
                Err(e) => log_warning!("Registering client connection: {e}"),
            },
            NewConn::Unix(s, path) => match tokio::net::UnixStream::from_std(s) {
                Ok(sock) => {
                    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock) as i64;
                    tokio::spawn(async move {
                        conn::serve(sh, sock, format!("{path}:0"), path, fd, true, true).await;
                        drop(guard);
                    });
                }
                Err(e) => log_warning!("Registering client connection: {e}"),
            },
        }
    }
}
