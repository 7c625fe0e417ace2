//! One connection: read, parse, execute a batch under the store lock, write.
//!
//! All complete commands of a read are parsed first, then executed back to back under
//! one acquisition of the store lock, and their replies leave in one write. Parsing and
//! writing happen outside the lock, so they proceed in parallel on every worker thread.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};

use super::client::{Client, ClientShared, ReplyMode, NO_RESIZE, PROTO_REPLY_CHUNK_BYTES};
use super::workers::{NewConn, Workers};
use super::Shared;
use crate::commands::call::Source;
use crate::commands::{call, Flow};
use crate::protocol::{ParseLimits, Parser, Reply};

/// Initial read buffer size (Redis's PROTO_IOBUF_LEN).
const IOBUF_LEN: usize = 16 * 1024;
/// Most commands executed per lock acquisition, so one client's long pipeline cannot keep
/// the others waiting.
const MAX_BATCH: usize = 1024;

const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Accepts TCP connections and hands them to the I/O workers, until the listener is shut
/// down (CONFIG SET bind/port: `accept` then fails with EINVAL).
pub async fn accept_tcp(workers: Arc<Workers>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((sock, _)) => match sock.into_std() {
                Ok(s) => workers.dispatch(NewConn::Tcp(s)),
                Err(e) => log_warning!("Accepting client connection: {e}"),
            },
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return,
            Err(e) => {
                log_warning!("Accepting client connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Accepts Unix socket connections and hands them to the I/O workers.
pub async fn accept_unix(workers: Arc<Workers>, listener: UnixListener, path: String) {
    loop {
        match listener.accept().await {
            Ok((sock, _)) => match sock.into_std() {
                Ok(s) => workers.dispatch(NewConn::Unix(s, path.clone())),
                Err(e) => log_warning!("Accepting client connection: {e}"),
            },
            Err(e) => {
                log_warning!("Accepting client connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Sets up a TCP connection (no delay, keepalive) and serves it.
pub async fn serve_tcp(shared: Arc<Shared>, sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let keepalive = shared.store.lock().cfg.tcp_keepalive;
    if keepalive > 0 {
        let ka = socket2::TcpKeepalive::new().with_time(std::time::Duration::from_secs(keepalive as u64));
        let _ = socket2::SockRef::from(&sock).set_tcp_keepalive(&ka);
    }
    let peer = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let is_local = sock.peer_addr().map(|a| a.ip().is_loopback()).unwrap_or(false);
    let local = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock) as i64;
    serve(shared, sock, peer, local, fd, false, is_local).await;
}

/// Serves one client until it disconnects, is killed, or the server shuts down.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    mut sock: S,
    addr: String,
    laddr: String,
    fd: i64,
    is_unix: bool,
    is_local: bool,
) {
    let count = shared.connected.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = ConnGuard(shared.clone());
    if count > shared.maxclients.load(Ordering::Relaxed) {
        let _ = sock.write_all(b"-ERR max number of clients reached\r\n").await;
        shared.store.lock().stats.rejected_connections += 1;
        return;
    }
    let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
    let (cs, mut mailbox) = ClientShared::with_limits(id, addr, laddr, fd, shared.obuf_limits.clone());
    let authenticated = {
        let mut st = shared.store.lock();
        st.stats.total_connections_received += 1;
        st.clients.by_id.insert(id, cs.clone());
        st.cfg.requirepass.is_none()
    };
    if authenticated && !is_local && shared.protected_mode.load(Ordering::Relaxed) {
        let _ = sock.write_all(DENIED.as_bytes()).await;
        unregister(&shared, id, None);
        return;
    }
    let mut client = Client::new(cs.clone(), authenticated);
    client.is_unix = is_unix;
    let mut out = Reply::with_capacity(PROTO_REPLY_CHUNK_BYTES);
    // Allocated on the first read, as Redis's query buffer.
    let mut inbuf = BytesMut::new();
    let mut parser = Parser::new();
    let mut argv: Vec<Bytes> = Vec::new();
    let mut batch: Vec<Vec<Bytes>> = Vec::new();

    'conn: loop {
        if cs.is_killed() {
            break;
        }
        tokio::select! {
            biased;
            _ = cs.kill_notify.notified() => break,
            _ = cs.wake.notified() => resize_buffers(&cs, &mut inbuf, &parser, &mut out),
            msg = mailbox.recv() => {
                let Some(first) = msg else { break };
                out.raw(&first);
                let mut n = first.len();
                while let Ok(m) = mailbox.try_recv() {
                    out.raw(&m);
                    n += m.len();
                }
                // The bytes move from the mailbox to the output buffer (`out_pending`).
                cs.bufs.out_pending.store(out.len(), Ordering::Relaxed);
                cs.mailbox_bytes.fetch_sub(n, Ordering::Relaxed);
                if !flush(&mut sock, &mut out, &cs).await {
                    break;
                }
            }
            r = sock.read_buf(&mut inbuf) => {
                let mut n = match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                loop {
                    // What CLIENT LIST shows while this read's commands execute: Redis's
                    // query buffer still holds them.
                    cs.bufs.qbuf_len.store(inbuf.len(), Ordering::Relaxed);
                    cs.bufs.qbuf_cap.store(inbuf.capacity(), Ordering::Relaxed);
                    cs.bufs.qbuf_peak.fetch_max(inbuf.len(), Ordering::Relaxed);
                    if inbuf.capacity() - inbuf.len() < 1024 {
                        inbuf.reserve(IOBUF_LEN);
                    }
                    let mut proto_err = None;
                    loop {
                        let lim = ParseLimits {
                            max_bulk_len: shared.max_bulk_len.load(Ordering::Relaxed),
                            authenticated: client.authenticated,
                            is_master: client.is_master_link,
                        };
                        match parser.next_command(&mut inbuf, &lim, &mut argv) {
                            Ok(true) => {
                                batch.push(std::mem::take(&mut argv));
                                // Before authentication, execute one command at a time so
                                // that AUTH takes effect for the parsing of what follows.
                                if (!client.authenticated || batch.len() >= MAX_BATCH)
                                    && !run_batch(&shared, &mut sock, &mut inbuf, &mut client, &mut out, &mut batch, n, &mut mailbox).await
                                {
                                    break 'conn;
                                }
                            }
                            Ok(false) => break,
                            Err(e) => {
                                proto_err = Some(e);
                                break;
                            }
                        }
                    }
                    if !run_batch(&shared, &mut sock, &mut inbuf, &mut client, &mut out, &mut batch, n, &mut mailbox).await {
                        break 'conn;
                    }
                    if let Some(e) = proto_err {
                        log_verbose!("Protocol error ({}) from client: id={} addr={}", e.0, id, cs.addr);
                        out.error(format!("-{}", e.0));
                        shared.store.lock().stats.error("ERR");
                        let _ = out.take_errors();
                        flush(&mut sock, &mut out, &cs).await;
                        break 'conn;
                    }
                    if inbuf.len() - parser.parked_bytes() > shared.query_buffer_limit.load(Ordering::Relaxed) {
                        log_warning!("Closing client that reached max query buffer length: id={} addr={} (qbuf={})", id, cs.addr, inbuf.len());
                        break 'conn;
                    }
                    // The executed commands are gone from the query buffer; a buffer emptied
                    // takes back the room its commands used (the arguments were released).
                    if inbuf.is_empty() {
                        inbuf.reserve(IOBUF_LEN);
                    }
                    cs.bufs.qbuf_len.store(inbuf.len(), Ordering::Relaxed);
                    cs.bufs.qbuf_cap.store(inbuf.capacity(), Ordering::Relaxed);
                    if client.close_after_reply {
                        flush(&mut sock, &mut out, &cs).await;
                        break 'conn;
                    }
                    // The replies go out while the client's next requests are read and
                    // executed, as Redis never stops reading a client whose replies wait:
                    // a client may send its whole pipeline before reading any reply
                    // (Redis's test suite sends a million commands so), and both sides
                    // would block writing to each other.
                    match write_or_read(&mut sock, &mut out, &mut inbuf, &cs).await {
                        Io::Written => break,
                        Io::Read(m) => n = m,
                        Io::Closed => break 'conn,
                    }
                }
            }
        }
    }
    unregister(&shared, id, Some(&mut client));
}

/// Decrements the connected count however the connection task ends.
struct ConnGuard(Arc<Shared>);
impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What [`write_or_read`] saw.
enum Io {
    /// All the pending output was written.
    Written,
    /// Some output may be left; this many bytes of input were appended to the buffer.
    Read(usize),
    /// The peer is gone.
    Closed,
}

/// Writes the pending output, but returns as soon as input arrives while the socket
/// cannot take more output (the unwritten rest stays in `out`, ready for more replies).
async fn write_or_read<S: AsyncRead + AsyncWrite + Unpin>(
    sock: &mut S,
    out: &mut Reply,
    inbuf: &mut BytesMut,
    cs: &ClientShared,
) -> Io {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;
    let bufs = &cs.bufs;
    let rbs = bufs.rbs.load(Ordering::Relaxed);
    bufs.rbp.fetch_max(out.buf.len().min(rbs), Ordering::Relaxed);
    // A killed client that reads nothing must not keep this task waiting on the write.
    let killed = cs.kill_notify.notified();
    tokio::pin!(killed);
    let mut written = 0;
    let io = std::future::poll_fn(|cx| loop {
        if written == out.buf.len() {
            return Poll::Ready(Io::Written);
        }
        if killed.as_mut().poll(cx).is_ready() || cs.is_killed() {
            return Poll::Ready(Io::Closed);
        }
        match Pin::new(&mut *sock).poll_write(cx, &out.buf[written..]) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Io::Closed),
            Poll::Ready(Ok(k)) => {
                written += k;
                continue;
            }
            Poll::Pending => bufs.out_pending.store(out.buf.len() - written, Ordering::Relaxed),
        }
        // The peer takes no output now: read what it sends meanwhile.
        let len = inbuf.len();
        inbuf.resize(len + IOBUF_LEN, 0);
        let mut rb = tokio::io::ReadBuf::new(&mut inbuf[len..]);
        let r = Pin::new(&mut *sock).poll_read(cx, &mut rb);
        let got = rb.filled().len();
        inbuf.truncate(len + got);
        return match r {
            Poll::Ready(Ok(())) if got > 0 => Poll::Ready(Io::Read(got)),
            Poll::Ready(_) => Poll::Ready(Io::Closed),
            Poll::Pending => Poll::Pending,
        };
    })
    .await;
    bufs.out_pending.store(0, Ordering::Relaxed);
    match io {
        Io::Written => {
            out.buf.clear();
            out.clear_pushes();
            if out.buf.capacity() > rbs {
                out.buf.shrink_to(rbs);
            }
        }
        Io::Read(_) => {
            out.buf.drain(..written);
        }
        Io::Closed => {}
    }
    io
}

/// Writes the pending output. Returns false if the peer is gone or the client was killed
/// meanwhile (a client that does not read must not keep this task and its buffers alive).
/// While a write waits for the peer, the bytes not yet written are published as
/// `out_pending` (CLIENT LIST's output buffer, held against the output limits). After the
/// write the buffer keeps the capacity of the client's reply buffer (`rbs`).
async fn flush<S: AsyncWrite + Unpin>(sock: &mut S, out: &mut Reply, cs: &ClientShared) -> bool {
    if out.buf.is_empty() {
        return true;
    }
    let bufs = &cs.bufs;
    let rbs = bufs.rbs.load(Ordering::Relaxed);
    bufs.rbp.fetch_max(out.buf.len().min(rbs), Ordering::Relaxed);
    let mut written = 0;
    let mut ok = true;
    while written < out.buf.len() {
        let r = tokio::select! {
            biased;
            r = sock.write(&out.buf[written..]) => r,
            _ = cs.kill_notify.notified() => Ok(0),
        };
        match r {
            Ok(n) if n > 0 => written += n,
            _ => {
                ok = false;
                break;
            }
        }
        if written < out.buf.len() {
            bufs.out_pending.store(out.buf.len() - written, Ordering::Relaxed);
        }
    }
    bufs.out_pending.store(0, Ordering::Relaxed);
    out.buf.clear();
    out.clear_pushes();
    if out.buf.capacity() > rbs {
        out.buf.shrink_to(rbs);
    }
    ok && !cs.is_killed()
}

/// Applies the buffer sizes the client cron asked for (Redis's
/// `clientsCronResizeQueryBuffer` / `clientsCronResizeOutputBuffer`, which resize the
/// buffers in place): the query buffer freed when idle, or trimmed to its recent peak,
/// never below what it holds, never in the middle of a command; the empty output buffer
/// to the reply buffer size.
fn resize_buffers(cs: &ClientShared, inbuf: &mut BytesMut, parser: &Parser, out: &mut Reply) {
    let target = cs.bufs.qbuf_target.swap(NO_RESIZE, Ordering::Relaxed);
    if target != NO_RESIZE && parser.is_idle() {
        if target == 0 && inbuf.is_empty() {
            *inbuf = BytesMut::new();
        } else if target > 0 && target < inbuf.capacity() {
            let mut smaller = BytesMut::with_capacity(target.max(inbuf.len()));
            smaller.extend_from_slice(inbuf);
            *inbuf = smaller;
        }
        cs.bufs.qbuf_len.store(inbuf.len(), Ordering::Relaxed);
        cs.bufs.qbuf_cap.store(inbuf.capacity(), Ordering::Relaxed);
    }
    let rbs = cs.bufs.rbs.load(Ordering::Relaxed);
    if out.buf.is_empty() && out.buf.capacity() != rbs {
        out.buf = Vec::with_capacity(rbs);
    }
}

/// Executes the parsed commands under the store lock. Commands that must wait (DEBUG
/// SLEEP) release the lock first. Returns false when the connection must close.
#[allow(clippy::too_many_arguments)]
async fn run_batch<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    sock: &mut S,
    inbuf: &mut BytesMut,
    client: &mut Client,
    out: &mut Reply,
    batch: &mut Vec<Vec<Bytes>>,
    bytes_read: usize,
    mailbox: &mut tokio::sync::mpsc::UnboundedReceiver<Bytes>,
) -> bool {
    let mut i = 0;
    let mut keep = true;
    while i < batch.len() {
        let mut after = Flow::Continue;
        let mut paused = None;
        let mut killed = false;
        let mut blocked = None;
        let durable;
        {
            let mut st = shared.lock_store();
            st.stats.total_net_input_bytes += bytes_read as u64;
            st.stats.total_reads_processed += 1;
            st.begin_batch();
            let stream_at_start = st.stream.offset();
            while i < batch.len() {
                let argv = &batch[i];
                // A killed client runs nothing more; a paused command waits (CLIENT PAUSE).
                if client.shared.is_killed() {
                    killed = true;
                    break;
                }
                if let Some(w) = super::pause::must_wait(&mut st, client, argv) {
                    paused = Some(w);
                    break;
                }
                i += 1;
                // Messages queued for this client before this command (pub/sub, MONITOR)
                // precede its reply, as in Redis's single reply stream.
                drain_mailbox(client, out, mailbox);
                let mark = out.len();
                let class = client.obuf_class();
                let rbs = client.shared.bufs.rbs.load(Ordering::Relaxed);
                out.limit = class.map_or(usize::MAX, |c| client.shared.limits().reply_limit(c, rbs));
                let flow = call(shared, &mut st, client, out, argv, Source::Client);
                apply_reply_mode(client, out, mark);
                // Past its output buffer limit the client is closed without its replies,
                // and runs nothing more (Redis's `closeClientOnOutputBufferLimitReached`).
                if let Some(class) = client.obuf_class() {
                    let pending = out.len() + client.shared.mailbox_bytes.load(Ordering::Relaxed);
                    if client.shared.output_limit_reached_with(class, pending) {
                        if let Flow::ShutdownWait { .. } = flow {
                            // It will not wait: no longer a blocked client.
                            st.shutdown.blocked = st.shutdown.blocked.saturating_sub(1);
                        }
                        out.buf.clear();
                        client.shared.close_for_output_limit();
                        killed = true;
                        break;
                    }
                }
                if flow == Flow::Block {
                    // Registered under the same lock that saw the keys empty, so no write
                    // can slip in between (see server/blocking.rs).
                    if let Some(req) = client.block_req.take() {
                        blocked = Some(super::blocking::register(&mut st, client, out.resp3, argv.clone(), req));
                    }
                    break;
                }
                if flow != Flow::Continue {
                    after = flow;
                    break;
                }
            }
            let mut info = client.shared.info.lock();
            info.last_interaction = st.last_tick.unwrap_or_else(std::time::Instant::now);
            st.end_batch();
            if st.stream.offset() != stream_at_start {
                client.woff = st.stream.offset(); // what WAIT waits for
            }
            // Under `appendfsync always`, a batch that wrote waits for the fsync of its
            // AOF bytes (after the lock is released) before its replies go out.
            durable = (st.stream.offset() != stream_at_start
                && st.aof.is_some()
                && st.cfg.appendfsync == crate::config::AppendFsync::Always)
                .then(|| (st.aof_sync.clone(), crate::persistence::aof::durability_target(&st)));
            let last = i.checked_sub(1).and_then(|j| batch.get(j)).map(|a| a.as_slice());
            crate::commands::client_cmd::sync_info(&st, client, &mut info, last);
        }
        if let Some((sync, upto)) = durable {
            sync.wait_durable(upto).await;
        }
        if killed {
            keep = false;
            break;
        }
        if let Some(b) = blocked {
            // Replies of the commands before the blocking one go out now; the rest of the
            // pipeline runs once the client is served, times out or is unblocked.
            if !flush(sock, out, &client.shared).await
                || !super::blocking::wait(shared, sock, inbuf, client, out, b).await
            {
                keep = false;
                break;
            }
            continue;
        }
        if let Some(w) = paused {
            // Replies of the commands before the paused one go out now; then wait with
            // the lock released and re-check (the pause may have been extended).
            if !flush(sock, out, &client.shared).await {
                keep = false;
                break;
            }
            w.wait(&client.shared.kill_notify).await;
            if client.shared.is_killed() {
                keep = false;
                break;
            }
            continue;
        }
        match after {
            Flow::Continue => {}
            Flow::Close => {
                client.close_after_reply = true;
                keep = false;
                break;
            }
            Flow::Sleep(d) => {
                // As in Redis, the reply of DEBUG SLEEP arrives after the sleep.
                let start = std::time::Instant::now();
                tokio::time::sleep(d).await;
                super::latency::after_sleep(shared, client, &batch[i - 1], start.elapsed());
            }
            Flow::ShutdownWait { gen } => {
                // Replies so far go out; the process exits while this client waits, or
                // the shutdown is cancelled and SHUTDOWN fails.
                let flushed = flush(sock, out, &client.shared).await;
                if !super::shutdown::wait_blocked(shared, sock, inbuf, client, gen, flushed).await {
                    keep = false;
                    break;
                }
                out.error("Errors trying to SHUTDOWN. Check logs.");
            }
            // A blocked client was handled above.
            Flow::Block => {}
            Flow::Replica => {
                // Replies so far (+FULLRESYNC / +CONTINUE) go first; the connection then
                // carries the snapshot and the stream until the replica goes away.
                // Commands the replica pipelined after PSYNC (a REPLCONF ACK) were parsed
                // already: they go back in front of the unparsed bytes, to be read as a
                // replica's.
                if i < batch.len() {
                    let mut rest = Vec::new();
                    for argv in &batch[i..] {
                        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_ref()).collect();
                        crate::replication::stream::encode_command(&mut rest, &refs);
                    }
                    rest.extend_from_slice(inbuf);
                    *inbuf = BytesMut::from(rest.as_slice());
                }
                if flush(sock, out, &client.shared).await {
                    crate::replication::master::serve_replica(shared, sock, inbuf, client).await;
                }
                keep = false;
                break;
            }
            Flow::Wait { offset, want, timeout_ms } => {
                let n = crate::replication::master::wait_acks(shared, offset, want, timeout_ms).await;
                out.int(n as i64);
            }
        }
    }
    batch.clear();
    if !keep {
        flush(sock, out, &client.shared).await;
    }
    keep
}

/// Moves the messages already in the mailbox into the output buffer.
fn drain_mailbox(client: &Client, out: &mut Reply, mailbox: &mut tokio::sync::mpsc::UnboundedReceiver<Bytes>) {
    // Cheap check first: almost always nothing is queued.
    if client.shared.mailbox_bytes.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut n = 0;
    while let Ok(m) = mailbox.try_recv() {
        out.raw(&m);
        n += m.len();
    }
    if n > 0 {
        client.shared.mailbox_bytes.fetch_sub(n, Ordering::Relaxed);
    }
}

/// CLIENT REPLY OFF/SKIP: discard the reply the last command wrote, but not its pushes
/// (pub/sub confirmations and messages still arrive, as in Redis).
fn apply_reply_mode(client: &mut Client, out: &mut Reply, mark: usize) {
    match client.reply_mode {
        ReplyMode::On => out.clear_pushes(),
        ReplyMode::Off => out.discard_from(mark),
        ReplyMode::Skip => {
            out.discard_from(mark);
            client.reply_mode = ReplyMode::On;
        }
        ReplyMode::SkipNext => {
            out.discard_from(mark);
            client.reply_mode = ReplyMode::Skip;
        }
    }
}

/// Removes a client from every registry (clients, pub/sub, WATCH, MONITOR).
fn unregister(shared: &Shared, id: u64, client: Option<&mut Client>) {
    let mut st = shared.store.lock();
    st.clients.by_id.remove(&id);
    st.clients.monitors.retain(|m| m.id != id);
    st.blocking.remove(id);
    if let Some(c) = client {
        crate::commands::pubsub::forget_client(&mut st, c);
        crate::commands::connection::unwatch_all(&mut st, c);
    }
}
