//! I/O worker threads: one single-threaded tokio runtime per thread (`server-threads`),
//! each owning the connections handed to it.
//!
//! A work-stealing runtime moves connection tasks between threads and wakes idle workers
//! with futexes on every readiness event; on a small machine that shares its cores with
//! the clients, those wake-ups cost more than the work. Pinning each connection to one
//! thread (as KeyDB's per-thread event loops do) keeps a connection's reads, parsing and
//! writes on one core with no cross-thread hand-offs. The acceptor spreads new
//! connections round-robin.

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
    next: AtomicUsize,
}

impl Workers {
    /// Starts `n` worker threads (at least one).
    pub fn start(shared: &Arc<Shared>, n: usize) -> std::io::Result<Workers> {
        let n = n.clamp(1, 128);
        let mut txs = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = mpsc::unbounded_channel();
            let sh = shared.clone();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            std::thread::Builder::new().name(format!("fluidb-io-{i}")).spawn(move || {
                rt.block_on(worker_loop(sh, rx));
            })?;
            txs.push(tx);
        }
        Ok(Workers { txs, next: AtomicUsize::new(0) })
    }

    /// Hands a connection to the next worker.
    pub fn dispatch(&self, c: NewConn) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.txs.len();
        if self.txs[i].send(c).is_err() {
            log_warning!("I/O thread {i} is gone; dropping a new connection");
        }
    }
}

async fn worker_loop(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<NewConn>) {
    while let Some(c) = rx.recv().await {
        let sh = shared.clone();
        match c {
            NewConn::Tcp(s) => match tokio::net::TcpStream::from_std(s) {
                Ok(sock) => {
                    tokio::spawn(conn::serve_tcp(sh, sock));
                }
                Err(e) => log_warning!("Registering client connection: {e}"),
            },
            NewConn::Unix(s, path) => match tokio::net::UnixStream::from_std(s) {
                Ok(sock) => {
                    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock) as i64;
                    tokio::spawn(async move { conn::serve(sh, sock, format!("{path}:0"), path, fd, true, true).await });
                }
                Err(e) => log_warning!("Registering client connection: {e}"),
            },
        }
    }
}
