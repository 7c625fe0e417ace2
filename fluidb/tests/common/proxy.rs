//! A fault-injecting TCP proxy for replication-link tests.
//!
//! A replica is pointed at the proxy instead of its master (`REPLICAOF 127.0.0.1
//! <proxy.port()>`), and the test breaks the link at chosen moments: close it ([`Proxy::cut`]),
//! stall it without closing ([`Proxy::pause`]), stall or lose one direction only
//! ([`Proxy::one_way`]), or slow it down ([`Proxy::delay`]). Real networks do all of these to a
//! replication link, and a test can only reproduce them deterministically from in between.
//!
//! Every fault takes effect before its method returns: after `pause()` no further byte is
//! forwarded, after `cut()` every connection is closed. That is what makes tests built on it
//! reproducible (no "sleep a bit and hope the fault has landed").
//!
//! The proxy runs a small single-threaded tokio runtime on its own thread; the test talks to
//! it through synchronous methods. Dropping the [`Proxy`] stops the thread and closes every
//! connection.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The two directions of a proxied connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the side that connected to the proxy (on a replication link: the replica) to the
    /// target (the master): the handshake commands, REPLCONF ACK.
    Up,
    /// From the target back to the connecting side: the replies, the snapshot, the write stream.
    Down,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::Up => 0,
            Direction::Down => 1,
        }
    }
}

/// What happens to the bytes of one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Bytes are forwarded (after the configured delay).
    Forward,
    /// Bytes are neither read nor forwarded: the sender's socket buffer fills up and its writes
    /// block, as over a link that silently stopped delivering packets. Nothing is lost: bytes
    /// already read wait in the proxy and go out once the direction forwards again.
    Hold,
    /// Bytes are read and thrown away (counted by [`Proxy::dropped`]). No TCP network does
    /// this (it leaves a hole in the stream); it is for tests of what a node does with a
    /// stream that lost bytes. [`Schedule`] never uses it.
    Drop,
}

/// The fault state, shared with the proxy's tasks through a watch channel so that a change
/// wakes the tasks it concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Faults {
    cut: bool,
    flow: [Flow; 2],
    delay: Duration,
    stop: bool,
}

impl Faults {
    const HEALTHY: Faults = Faults { cut: false, flow: [Flow::Forward; 2], delay: Duration::ZERO, stop: false };
}

/// One forwarded piece of a connection's bytes, as recorded by [`Proxy::capture`].
#[derive(Clone, Debug)]
pub struct Chunk {
    /// Connection number, from 1 in the order the proxy accepted them.
    pub conn: u64,
    pub dir: Direction,
    /// When it was forwarded, from the proxy's start.
    pub at: Duration,
    pub bytes: Vec<u8>,
}

/// What crossed the proxy. Locked around each write (a non-blocking one), so that once the
/// receiver has seen bytes, the counters and the capture already include them: a test that got
/// a reply may check them at once.
#[derive(Default)]
struct Stats {
    forwarded: [u64; 2],
    dropped: [u64; 2],
    /// `Some` while capturing: every forwarded chunk, in forwarding order.
    capture: Option<Vec<Chunk>>,
}

/// State shared by the test thread and the proxy thread.
struct Shared {
    faults: watch::Sender<Faults>,
    stats: Mutex<Stats>,
    accepted: AtomicU64,
    refused: AtomicU64,
    /// Connections whose task has not finished yet (their sockets are open).
    live: Mutex<usize>,
    live_changed: Condvar,
    started: Instant,
}

impl Shared {
    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        // A panic while holding it cannot leave the counters half-updated: keep going.
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How long [`Proxy::cut`] waits for the connections to close before it panics (a connection
/// task that does not notice a cut is a bug of this module).
const CUT_DEADLINE: Duration = Duration::from_secs(10);

/// Bytes read ahead in one direction while they wait for their delay: past this the proxy stops
/// reading, so a sender still feels back-pressure through a slow link.
const MAX_QUEUED: usize = 1 << 20;

/// A TCP proxy from a free loopback port to `127.0.0.1:<target>`, with faults under the
/// test's control. See the module documentation.
pub struct Proxy {
    port: u16,
    target: u16,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a healthy proxy to `127.0.0.1:<target_port>`; it listens once this returns.
    pub fn start(target_port: u16) -> Proxy {
        let listener = StdListener::bind("127.0.0.1:0").expect("proxy: bind 127.0.0.1:0");
        let port = listener.local_addr().expect("proxy: local addr").port();
        listener.set_nonblocking(true).expect("proxy: nonblocking listener");
        let (faults, _) = watch::channel(Faults::HEALTHY);
        let shared = Arc::new(Shared {
            faults,
            stats: Mutex::new(Stats::default()),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            live: Mutex::new(0),
            live_changed: Condvar::new(),
            started: Instant::now(),
        });
        let target = SocketAddr::from(([127, 0, 0, 1], target_port));
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || {
                let rt =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("proxy: tokio runtime");
                // Dropping the runtime at the end of this closure cancels the connection tasks,
                // which closes their sockets.
                rt.block_on(accept_loop(listener, target, sh));
            })
            .expect("proxy: spawn thread");
        Proxy { port, target: target_port, shared, thread: Some(thread) }
    }

    /// The port to connect to instead of the target's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The target's port.
    pub fn target(&self) -> u16 {
        self.target
    }

    fn modify(&self, f: impl FnOnce(&mut Faults)) {
        // `send_modify` waits for any task holding a borrow, i.e. for a write in progress
        // (see `pipe`): once it returns, every task sees the new state.
        self.shared.faults.send_modify(f);
    }

    /// Closes every connection and refuses new ones (they are accepted and closed at once),
    /// until [`Proxy::heal`]. Returns once every connection is closed.
    pub fn cut(&self) {
        self.modify(|f| f.cut = true);
        let live = self.shared.live.lock().expect("proxy: live lock");
        let (live, timeout) =
            self.shared.live_changed.wait_timeout_while(live, CUT_DEADLINE, |n| *n > 0).expect("proxy: live lock");
        assert!(!timeout.timed_out(), "proxy: {} connection(s) still open {CUT_DEADLINE:?} after cut()", *live);
    }

    /// Ends every fault: new connections are accepted and forwarded, both directions forward,
    /// no delay. (Connections closed by a cut stay closed: the peers reconnect.)
    pub fn heal(&self) {
        self.modify(|f| *f = Faults::HEALTHY);
    }

    /// Stalls both directions of every connection, without closing anything (a link whose
    /// packets stopped arriving). No byte is forwarded after this returns, until
    /// [`Proxy::resume`] or [`Proxy::heal`].
    pub fn pause(&self) {
        self.modify(|f| f.flow = [Flow::Hold; 2]);
    }

    /// Both directions forward again (bytes held meanwhile go out first). Leaves a cut alone.
    pub fn resume(&self) {
        self.modify(|f| f.flow = [Flow::Forward; 2]);
    }

    /// Sets what happens to the bytes of one direction (a one-way partition: `Flow::Hold`, or
    /// `Flow::Drop` to lose them), leaving the other direction as it is.
    pub fn one_way(&self, dir: Direction, flow: Flow) {
        self.modify(|f| f.flow[dir.index()] = flow);
    }

    /// Forwards every byte read from now on no sooner than `d` after it was read (latency; the
    /// order of bytes is kept). `Duration::ZERO` ends the delay.
    pub fn delay(&self, d: Duration) {
        self.modify(|f| f.delay = d);
    }

    /// Applies one fault of a [`Schedule`].
    pub fn apply(&self, fault: Fault) {
        match fault {
            Fault::Cut => self.cut(),
            Fault::Heal => self.heal(),
            Fault::Pause => self.pause(),
            Fault::Resume => self.resume(),
            Fault::OneWay(dir, flow) => self.one_way(dir, flow),
            Fault::Delay(d) => self.delay(d),
        }
    }

    /// Bytes forwarded from the connecting side to the target so far.
    pub fn bytes_up(&self) -> u64 {
        self.shared.stats().forwarded[0]
    }

    /// Bytes forwarded from the target to the connecting side so far.
    pub fn bytes_down(&self) -> u64 {
        self.shared.stats().forwarded[1]
    }

    /// Bytes thrown away in one direction under `Flow::Drop`.
    pub fn dropped(&self, dir: Direction) -> u64 {
        self.shared.stats().dropped[dir.index()]
    }

    /// Connections accepted and forwarded so far (not counting those refused during a cut).
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections accepted and closed at once because the proxy was cut.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Connections open right now.
    pub fn live(&self) -> usize {
        *self.shared.live.lock().expect("proxy: live lock")
    }

    /// Starts (`true`, clearing any earlier capture) or stops recording every forwarded chunk.
    pub fn capture(&self, on: bool) {
        self.shared.stats().capture = on.then(Vec::new);
    }

    /// The chunks recorded since `capture(true)`, in forwarding order.
    pub fn transcript(&self) -> Vec<Chunk> {
        self.shared.stats().capture.clone().unwrap_or_default()
    }

    /// The bytes recorded in one direction of one connection, concatenated.
    pub fn stream(&self, conn: u64, dir: Direction) -> Vec<u8> {
        self.transcript().into_iter().filter(|c| c.conn == conn && c.dir == dir).flat_map(|c| c.bytes).collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.modify(|f| f.stop = true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits until the proxy is cut or stopped.
async fn cut_or_stop(mut rx: watch::Receiver<Faults>) {
    loop {
        let f = *rx.borrow_and_update();
        if f.cut || f.stop {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn accept_loop(listener: StdListener, target: SocketAddr, shared: Arc<Shared>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("proxy: cannot register the listener: {e}");
            return;
        }
    };
    let mut rx = shared.faults.subscribe();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            r = listener.accept() => {
                let client = match r {
                    Ok((c, _)) => c,
                    Err(_) => {
                        // E.g. out of file descriptors: retry a little later, not in a tight loop.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                {
                    // Checked and counted under the borrow, which `cut()` waits for: either
                    // this connection is refused, or `cut()` sees it live and waits for it.
                    let f = rx.borrow();
                    if f.cut {
                        shared.refused.fetch_add(1, Ordering::SeqCst);
                        drop(client);
                        continue;
                    }
                    *shared.live.lock().expect("proxy: live lock") += 1;
                }
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                next_id += 1;
                let guard = LiveGuard(shared.clone());
                tokio::spawn(connection(next_id, client, target, shared.clone(), guard));
            }
            r = rx.changed() => {
                if r.is_err() || rx.borrow().stop {
                    return;
                }
            }
        }
    }
}

/// Counts a connection as live until dropped, which happens after its sockets are closed
/// (it is the task's first local, so dropped last), also when the runtime cancels the task.
struct LiveGuard(Arc<Shared>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if let Ok(mut n) = self.0.live.lock() {
            *n -= 1;
        }
        self.0.live_changed.notify_all();
    }
}

async fn connection(id: u64, client: TcpStream, target: SocketAddr, shared: Arc<Shared>, _guard: LiveGuard) {
    let rx = shared.faults.subscribe();
    let server = tokio::select! {
        s = TcpStream::connect(target) => match s {
            Ok(s) => s,
            Err(_) => return, // the target is down: the client sees its connection closed
        },
        _ = cut_or_stop(rx.clone()) => return,
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pipe(id, Direction::Up, cr, sw, shared.clone());
    let down = pipe(id, Direction::Down, sr, cw, shared.clone());
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    let cut = cut_or_stop(rx);
    tokio::pin!(cut);
    // A direction that reached end of file has half-closed its destination and the other one
    // may go on; an error (reset) in either closes the whole connection, as it would end-to-end.
    while !(up_done && down_done) {
        tokio::select! {
            r = &mut up, if !up_done => match r {
                Ok(()) => up_done = true,
                Err(_) => return,
            },
            r = &mut down, if !down_done => match r {
                Ok(()) => down_done = true,
                Err(_) => return,
            },
            _ = &mut cut => return,
        }
    }
}

/// Forwards one direction of a connection until end of file (`Ok`) or an error, obeying the
/// faults as they change.
async fn pipe(
    id: u64,
    dir: Direction,
    from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shared: Arc<Shared>,
) -> io::Result<()> {
    let d = dir.index();
    let mut rx = shared.faults.subscribe();
    let mut queue: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut queued = 0usize;
    let mut eof = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Readiness futures do not count against tokio's cooperative budget: without this, a
        // branch that is ready but makes no progress would spin without ever yielding, and
        // starve the cut and stop signals (and `Proxy`'s drop, which joins this thread).
        tokio::task::consume_budget().await;
        let f = *rx.borrow_and_update();
        let flow = if f.cut || f.stop { Flow::Hold } else { f.flow[d] };
        if flow == Flow::Drop && !queue.is_empty() {
            shared.stats().dropped[d] += queued as u64;
            queue.clear();
            queued = 0;
        }
        if eof && queue.is_empty() {
            to.shutdown().await?;
            return Ok(());
        }
        let can_read = !eof && flow != Flow::Hold && queued < MAX_QUEUED;
        let due = queue.front().map(|c| c.0);
        let now = Instant::now();
        let can_write = flow == Flow::Forward && due.is_some_and(|t| t <= now);
        let wait_due = flow == Flow::Forward && due.is_some_and(|t| t > now);
        tokio::select! {
            r = from.readable(), if can_read => {
                r?;
                // The faults as they are now, not as at the top of the loop: a change and the
                // bytes may have become ready together (a delay set just before a write).
                let now_faults = *rx.borrow();
                match from.try_read(&mut buf) {
                    Ok(0) => eof = true,
                    Ok(n) if now_faults.flow[d] == Flow::Drop => {
                        shared.stats().dropped[d] += n as u64;
                    }
                    Ok(n) => {
                        queue.push_back((Instant::now() + now_faults.delay, buf[..n].to_vec()));
                        queued += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            r = to.writable(), if can_write => {
                r?;
                // The write happens while this borrow is held, so a fault being set waits for
                // it (see `Proxy::modify`) and no write starts once the fault is set.
                // If the faults changed since the top of the loop, nothing is written and the
                // loop starts over with the new state (`borrow_and_update` sees the change).
                let now_faults = rx.borrow();
                if now_faults.flow[d] == Flow::Forward && !now_faults.cut && !now_faults.stop {
                    if let Some((_, front)) = queue.front_mut() {
                        let mut stats = shared.stats();
                        match to.try_write(front) {
                            Ok(n) => {
                                stats.forwarded[d] += n as u64;
                                if let Some(cap) = stats.capture.as_mut() {
                                    cap.push(Chunk { conn: id, dir, at: shared.started.elapsed(), bytes: front[..n].to_vec() });
                                }
                                queued -= n;
                                if n == front.len() {
                                    queue.pop_front();
                                } else {
                                    front.drain(..n);
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(due.unwrap_or(now).into()), if wait_due => {}
            r = rx.changed() => {
                if r.is_err() {
                    return Ok(());
                }
            }
        }
    }
}

/// One step of a chaos schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Cut,
    Heal,
    Pause,
    Resume,
    OneWay(Direction, Flow),
    Delay(Duration),
}

/// A reproducible sequence of faults for chaos tests: the same seed gives the same faults and
/// waits (the timing relative to the test's own work of course varies). It uses only faults a
/// real network produces (closed links, stalls in one or both directions, latency), never
/// `Flow::Drop`.
pub struct Schedule {
    seed: u64,
    state: u64,
}

impl Schedule {
    pub fn new(seed: u64) -> Schedule {
        Schedule { seed, state: seed }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// splitmix64: tiny, and its output for a seed never changes (unlike a library RNG's
    /// across versions), so a seed printed by a failed run reproduces it.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// The next step: how long to wait (10 to 400 ms), then which fault to apply. Heals come
    /// up often enough that the link spends much of the time working.
    pub fn next_step(&mut self) -> (Duration, Fault) {
        let wait = Duration::from_millis(10 + self.below(391));
        let dir = if self.below(2) == 0 { Direction::Up } else { Direction::Down };
        let fault = match self.below(10) {
            0 | 1 => Fault::Cut,
            2 => Fault::Pause,
            3 => Fault::OneWay(dir, Flow::Hold),
            4 => Fault::Delay(Duration::from_millis(1 + self.below(200))),
            5 => Fault::Resume,
            _ => Fault::Heal,
        };
        (wait, fault)
    }

    /// Applies steps to the proxies (each step to one of them, chosen by the schedule) for
    /// `total`, then heals them all. Returns what was applied (time, proxy index, fault), to
    /// print when the test fails.
    pub fn run(&mut self, proxies: &[&Proxy], total: Duration) -> Vec<(Duration, usize, Fault)> {
        let start = Instant::now();
        let mut log = Vec::new();
        if !proxies.is_empty() {
            loop {
                let (wait, fault) = self.next_step();
                let which = self.below(proxies.len() as u64) as usize;
                if start.elapsed() + wait >= total {
                    break;
                }
                std::thread::sleep(wait);
                proxies[which].apply(fault);
                log.push((start.elapsed(), which, fault));
            }
        }
        for p in proxies {
            p.heal();
        }
        log
    }
}
