//! Anti-entropy: the backstop of active replication. Whatever the apply rules of
//! `replication::active` leave different between two nodes (a multi-key write whose keys
//! were only partly concurrent, a state frame lost with a link, a bug), two linked nodes
//! find it by comparing digests and repair it with the same state frames.
//!
//! Each database keeps a digest of `(key, stamp)` in [`AE_SEGMENTS`] segments, in
//! [`AE_GROUPS`] groups (`keyspace::db::Segments`, updated by two XORs on every write). A
//! round, run by a node against its master after every (re)connect and every
//! [`INTERVAL`], over a connection of its own (a client of the master, with `masterauth`):
//! 1. `ANTIENTROPY ROOTS`: one root per database. Equal roots: done; a converged pair
//!    exchanges a few bytes per database and scans nothing.
//! 2. `ANTIENTROPY DIGEST db` for each database whose roots differ: its 64 group digests
//!    and the newest stamp written to it (520 bytes); then `ANTIENTROPY DIGEST db
//!    group...`: the 64 segments of each group that differs, each with its version (1 KB
//!    a group). A few differences cost about 1 KB each here, not the whole 32 KB of
//!    segments. If either side wrote to the database in the last [`SETTLE_MS`], its
//!    differences may be writes in flight: the listing waits for the next round (2 s
//!    later), once; the round after a deferred one lists whatever the writes.
//! 3. `ANTIENTROPY KEYS db cursor group:mask...` (the differing segments, as a 64-bit mask
//!    per group) until the cursor comes back 0: the master's keys and stamps in those
//!    segments, a bounded batch per call (like SCAN: a dict cursor over the live keys,
//!    then over the tombstones; [`STEP`] of walking or about 4096 keys per call). Each
//!    batch is compared with our stamps under one hold of our store lock (lookups). Then
//!    we walk our own keys the same way, [`STEP`] at a time with a pause in between, for
//!    the keys of those segments that the master did not list. The store lock is never
//!    held for more than about a millisecond, whatever the size of the database. A walk
//!    reports every key present from its first step to its last; keys written meanwhile
//!    are younger than [`SETTLE_MS`], left to the live stream anyway.
//! 4. Per key, the side with the newer stamp sends its state: ours with a state frame in
//!    our stream (which the master receives through its link to us), the master's on
//!    `ANTIENTROPY PUSH db key...`. Keys written in the last [`SETTLE_MS`] are left to the
//!    live stream, which may still be carrying them (the next round comes sooner then).
//! 5. Both listings recompute the segments they cover, so a digest that drifted from its
//!    keys (a write path that missed an update) heals: ours directly, the master's with
//!    `ANTIENTROPY HEAL db seg version value...`. A segment is replaced only if its
//!    version (its count of writes, read in step 2) did not move during the listing: then
//!    the listing saw each of its keys (once: ours also checks that no table resized; the
//!    master's keys are deduplicated here).
//!
//! What it costs: while the roots agree, one ROOTS exchange (a few bytes per database) and
//! nothing scanned. With differences, the digest bytes follow the number of differing
//! groups and segments, and the listing the keys of the differing segments (about
//! 1/4096 of the database per segment); but each listing walks every key of the database
//! once per side (the segments are spread over the whole hash table), in steps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::commands::call::Ctx;
use crate::keyspace::db::{Segments, AE_GROUPS, AE_GROUP_SEGMENTS, AE_SEGMENTS};
use crate::server::Shared;

/// Time between rounds while the link stays up.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// The first round after a (re)connect waits this long for the live stream to settle.
pub const AFTER_CONNECT: Duration = Duration::from_secs(1);
/// Keys whose stamp is younger than this are left to the live stream.
pub const SETTLE_MS: i64 = 2000;
/// Work of one step of a key listing under the store lock (one KEYS call on the master,
/// one step of our own walk).
pub const STEP: Duration = Duration::from_millis(1);
/// Pause between two steps of our own (a KEYS call to the master is a pause of its own).
/// Handing the lock over is not enough: a client thread spinning for it yields its CPU
/// (`Shared::lock_store`), and on a busy machine it may not run again before the next
/// step took the lock; a pause frees our CPU for it too.
const GAP: Duration = Duration::from_millis(1);
/// Most keys one step lists, and most key bytes (a KEYS reply stays bounded).
const KEYS_PER_STEP: usize = 4096;
const KEY_BYTES_PER_STEP: usize = 1 << 20;
/// Most of the master's keys compared with ours under one hold of the lock: a KEYS batch.
pub const LOOKUPS_PER_STEP: usize = KEYS_PER_STEP;
/// Most state frames queued under one hold of the lock (each dumps a value), and keys in
/// one PUSH (the master dumps them within the call). The other side's link applies them
/// as a burst under its own lock (a RESTORE each): a pause follows each burst.
const STATES_PER_STEP: usize = 64;
/// Largest reply accepted from the master.
const MAX_REPLY: usize = 512 << 20;

/// Anti-entropy counters for INFO.
#[derive(Debug, Default, Clone)]
pub struct AeStats {
    pub rounds: u64,
    /// Rounds that found the roots equal.
    pub rounds_equal: u64,
    /// Keys whose state was sent to or asked from the master.
    pub keys_repaired: u64,
    /// Bytes sent and received by rounds.
    pub bytes: u64,
    /// Duration of the last round that found differences, in ms.
    pub last_repair_ms: u64,
}

/// Rebuilds every invalid digest (after a load or a flush): one pass over the keys.
fn ensure_digests(st: &mut crate::server::store::Store) {
    for d in st.dbs.iter_mut() {
        if !d.ae.is_valid() {
            d.ae = Segments::rebuild(d);
        }
    }
}

fn active_or_err(ctx: &mut Ctx) -> bool {
    if !ctx.store.cfg.active_replica {
        ctx.out.error("ANTIENTROPY needs active-replica yes");
        return false;
    }
    true
}

fn db_arg(ctx: &mut Ctx, i: usize) -> Option<usize> {
    match crate::util::numeric::string2ll(&ctx.argv[i]) {
        Some(d) if d >= 0 && (d as usize) < ctx.store.dbs.len() => Some(d as usize),
        _ => {
            ctx.out.error("invalid DB index");
            None
        }
    }
}

/// A non-negative decimal below `n`.
fn index_arg(a: &[u8], n: usize) -> Option<usize> {
    match crate::util::numeric::string2ll(a) {
        Some(i) if i >= 0 && (i as usize) < n => Some(i as usize),
        _ => None,
    }
}

/// An unsigned 64-bit decimal (cursors, versions, segment values).
fn u64_arg(a: &[u8]) -> Option<u64> {
    std::str::from_utf8(a).ok().filter(|s| s.bytes().all(|b| b.is_ascii_digit())).and_then(|s| s.parse().ok())
}

/// The flags of the indexes (each below `n`) in `args`; None if one is not an index.
fn index_set(args: &[Bytes], n: usize) -> Option<Vec<bool>> {
    let mut want = vec![false; n];
    for a in args {
        want[index_arg(a, n)?] = true;
    }
    Some(want)
}

/// The segments named by `group:mask` arguments (bit `b` of `mask`: segment
/// `group * 64 + b`), as flags; None if one is malformed.
fn segment_masks(args: &[Bytes]) -> Option<Vec<bool>> {
    let mut want = vec![false; AE_SEGMENTS];
    for a in args {
        let colon = a.iter().position(|&c| c == b':')?;
        let g = index_arg(&a[..colon], AE_GROUPS)?;
        let mask = u64_arg(&a[colon + 1..])?;
        for (b, w) in want[g * AE_GROUP_SEGMENTS..(g + 1) * AE_GROUP_SEGMENTS].iter_mut().enumerate() {
            *w |= mask >> b & 1 == 1;
        }
    }
    Some(want)
}

/// The `group:mask` arguments that name `segs` (see [`segment_masks`]).
fn masks_of(segs: impl Iterator<Item = usize>) -> Vec<Vec<u8>> {
    let mut masks = [0u64; AE_GROUPS];
    for s in segs {
        masks[s / AE_GROUP_SEGMENTS] |= 1 << (s % AE_GROUP_SEGMENTS);
    }
    (0..AE_GROUPS).filter(|&g| masks[g] != 0).map(|g| format!("{g}:{}", masks[g]).into_bytes()).collect()
}

/// ANTIENTROPY ROOTS | DIGEST db [group...] | KEYS db cursor group:mask... |
/// HEAL db seg version value [seg version value...] | PUSH db key... | RUN
pub fn command(ctx: &mut Ctx) {
    if !active_or_err(ctx) {
        return;
    }
    let sub = ctx.argv[1].to_ascii_lowercase();
    let argc = ctx.argv.len();
    match sub.as_slice() {
        b"roots" if argc == 2 => {
            ensure_digests(ctx.store);
            let n = ctx.store.dbs.len();
            ctx.out.array(n);
            for d in &ctx.store.dbs {
                ctx.out.array(2);
                ctx.out.bulk(d.ae.root().to_string().as_bytes());
                ctx.out.int(d.len() as i64);
            }
        }
        b"digest" if argc >= 3 => {
            let Some(db) = db_arg(ctx, 2) else { return };
            let Some(groups) = index_set(&ctx.argv[3..], AE_GROUPS) else {
                return ctx.out.error("invalid group");
            };
            ensure_digests(ctx.store);
            let ae = &ctx.store.dbs[db].ae;
            let mut b = Vec::new();
            if argc == 3 {
                // The first level: every group's digest, then the newest stamp written.
                for g in 0..AE_GROUPS {
                    b.extend_from_slice(&ae.group(g).to_le_bytes());
                }
                b.extend_from_slice(&ae.newest().to_le_bytes());
            } else {
                // The second level: the segments of the groups asked for, in ascending
                // order, each with its version.
                for g in (0..AE_GROUPS).filter(|&g| groups[g]) {
                    for i in g * AE_GROUP_SEGMENTS..(g + 1) * AE_GROUP_SEGMENTS {
                        let (v, version) = ae.segment(i);
                        b.extend_from_slice(&v.to_le_bytes());
                        b.extend_from_slice(&version.to_le_bytes());
                    }
                }
            }
            ctx.out.bulk(&b);
        }
        b"keys" if argc >= 5 => {
            let Some(db) = db_arg(ctx, 2) else { return };
            let Some(cursor) = u64_arg(&ctx.argv[3]) else {
                return ctx.out.error("invalid cursor");
            };
            let Some(want) = segment_masks(&ctx.argv[4..]) else {
                return ctx.out.error("invalid segment mask");
            };
            let mut keys: Vec<(Bytes, u64)> = Vec::new();
            let mut bytes = 0usize;
            let next = ctx.store.dbs[db].ae_walk(cursor, Instant::now() + STEP, |k, m| {
                if want[Segments::segment_of(k)] {
                    keys.push((Bytes::copy_from_slice(k), m));
                    bytes += k.len();
                }
                keys.len() >= KEYS_PER_STEP || bytes >= KEY_BYTES_PER_STEP
            });
            ctx.out.array(2);
            ctx.out.bulk(next.to_string().as_bytes());
            ctx.out.array(keys.len() * 2);
            for (k, m) in &keys {
                ctx.out.bulk(k);
                ctx.out.bulk(m.to_string().as_bytes());
            }
        }
        b"heal" if argc >= 6 && (argc - 3).is_multiple_of(3) => {
            let Some(db) = db_arg(ctx, 2) else { return };
            let mut heals = Vec::with_capacity((argc - 3) / 3);
            for t in ctx.argv[3..].chunks(3) {
                let Some(i) = index_arg(&t[0], AE_SEGMENTS) else {
                    return ctx.out.error("invalid segment");
                };
                let (Some(version), Some(v)) = (u64_arg(&t[1]), u64_arg(&t[2])) else {
                    return ctx.out.error("invalid segment version or value");
                };
                heals.push((i, version, v));
            }
            let ae = &mut ctx.store.dbs[db].ae;
            let healed = heals.iter().filter(|&&(i, version, v)| ae.heal(i, version, v)).count();
            if healed > 0 {
                crate::log_notice!(
                    "Anti-entropy: {healed} digest segments of DB {db} had drifted from their keys; recomputed by the peer"
                );
            }
            ctx.out.int(healed as i64);
        }
        b"push" if argc >= 4 => {
            let Some(db) = db_arg(ctx, 2) else { return };
            let keys: Vec<Bytes> = ctx.argv[3..].to_vec();
            for k in &keys {
                super::active::reassert(ctx.store, db, k);
            }
            ctx.out.int(keys.len() as i64);
        }
        b"run" if argc == 2 => {
            ctx.shared.ae_now.notify_waiters();
            ctx.out.ok();
        }
        _ => {
            let msg = format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try ANTIENTROPY ROOTS|DIGEST|KEYS|HEAL|PUSH|RUN.",
                String::from_utf8_lossy(&ctx.argv[1])
            );
            ctx.out.error(&msg);
        }
    }
}

/// A reply read from the master's connection.
#[derive(Debug)]
enum Resp {
    Status,
    Error(String),
    Int,
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

struct Conn {
    sock: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    bytes: u64,
    timeout: Duration,
}

impl Conn {
    async fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut b = Vec::new();
        super::stream::encode_command(&mut b, args);
        self.bytes += b.len() as u64;
        tokio::time::timeout(self.timeout, self.sock.write_all(&b))
            .await
            .map_err(|_| "timeout writing".to_string())?
            .map_err(|e| e.to_string())
    }

    async fn fill(&mut self) -> Result<(), String> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        if self.buf.len() > MAX_REPLY {
            return Err("reply too large".into());
        }
        let mut chunk = [0u8; 64 * 1024];
        let n = tokio::time::timeout(self.timeout, self.sock.read(&mut chunk))
            .await
            .map_err(|_| "timeout reading".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        self.bytes += n as u64;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn line(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(i) = self.buf[self.pos..].windows(2).position(|w| w == b"\r\n") {
                let l = self.buf[self.pos..self.pos + i].to_vec();
                self.pos += i + 2;
                return Ok(l);
            }
            self.fill().await?;
        }
    }

    async fn exact(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() - self.pos < n + 2 {
            self.fill().await?;
        }
        let v = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n + 2;
        Ok(v)
    }

    /// Reads one reply (arrays nested at most two levels, as this protocol needs).
    async fn reply(&mut self) -> Result<Resp, String> {
        let mut stack: Vec<(Vec<Resp>, usize)> = Vec::new();
        loop {
            let l = self.line().await?;
            let (&t, rest) = l.split_first().ok_or("empty reply line")?;
            let text = String::from_utf8_lossy(rest).into_owned();
            let num = || text.parse::<i64>().map_err(|_| format!("bad length {text}"));
            let item = match t {
                b'+' => Resp::Status,
                b'-' => Resp::Error(text.clone()),
                b':' => {
                    num()?;
                    Resp::Int
                }
                b'$' => match num()? {
                    n if n < 0 => Resp::Bulk(None),
                    n if n as usize > MAX_REPLY => return Err("bulk too large".into()),
                    n => Resp::Bulk(Some(self.exact(n as usize).await?)),
                },
                b'*' => {
                    let n = num()?.max(0) as usize;
                    if n > MAX_REPLY / 4 || stack.len() > 4 {
                        return Err("array too large".into());
                    }
                    if n > 0 {
                        stack.push((Vec::with_capacity(n.min(1 << 16)), n));
                        continue;
                    }
                    Resp::Array(Vec::new())
                }
                _ => return Err(format!("unexpected reply type {}", t as char)),
            };
            // Attach to the innermost open array, closing the full ones.
            let mut item = item;
            loop {
                match stack.last_mut() {
                    None => return Ok(item),
                    Some((v, n)) => {
                        v.push(item);
                        if v.len() < *n {
                            break;
                        }
                    }
                }
                let (v, _) = stack.pop().ok_or("reply stack")?;
                item = Resp::Array(v);
            }
        }
    }

    async fn call(&mut self, args: &[&[u8]]) -> Result<Resp, String> {
        self.send(args).await?;
        match self.reply().await? {
            Resp::Error(e) => Err(e),
            r => Ok(r),
        }
    }
}

/// The anti-entropy task of one master link: a round after each (re)connect and then
/// every [`INTERVAL`] (or at once on `ANTIENTROPY RUN`), until the link changes. A master
/// that does not know ANTIENTROPY (KeyDB) ends the task.
pub async fn run(shared: Arc<Shared>, gen: u64) {
    let mut connected_at: Option<Instant> = None;
    let mut last_round: Option<Instant> = None;
    let mut next_in = INTERVAL;
    // The last round put its listing off (fresh writes): the next one lists.
    let mut deferred = false;
    loop {
        let (current, up) = {
            let st = shared.store.lock();
            (st.repl.link_gen == gen, st.repl.link.as_ref().is_some_and(|l| l.is_connected()))
        };
        if !current {
            return;
        }
        if !up {
            connected_at = None;
        } else if connected_at.is_none() {
            connected_at = Some(Instant::now());
            last_round = None;
        }
        let due = match (connected_at, last_round) {
            (Some(c), None) => c.elapsed() >= AFTER_CONNECT,
            (Some(_), Some(r)) => r.elapsed() >= next_in,
            _ => false,
        };
        if due {
            last_round = Some(Instant::now());
            match round(&shared, gen, !deferred).await {
                // Differences too young to judge: look again once they settled.
                Ok(r) => {
                    deferred = r.deferred;
                    next_in = if r.unsettled { Duration::from_millis(SETTLE_MS as u64 + 100) } else { INTERVAL }
                }
                Err(e) if e.contains("unknown command") => {
                    crate::log_notice!("Anti-entropy: the master does not support it ({e}); off for this link");
                    return;
                }
                Err(e) => crate::log_verbose!("Anti-entropy round failed: {e}"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = shared.ae_now.notified() => { last_round = None; if connected_at.is_some() { connected_at = Some(Instant::now() - AFTER_CONNECT); } }
        }
    }
}

/// What a round left for later.
#[derive(Default)]
struct Outcome {
    /// Keys that differed were too young to judge (left to the live stream for now).
    unsettled: bool,
    /// A database differed while fresh writes may still be on their way: its listing
    /// waits for the next round.
    deferred: bool,
}

/// One comparison with the master. A database whose digests differ while either side
/// wrote to it in the last [`SETTLE_MS`] is listed only if `may_defer` is false: its
/// differences may be writes in flight, and a listing walks the whole database.
async fn round(shared: &Arc<Shared>, gen: u64, may_defer: bool) -> Result<Outcome, String> {
    let started = Instant::now();
    let (host, port, auth, user, timeout) = {
        let st = shared.store.lock();
        let l = st.repl.link.as_ref().filter(|_| st.repl.link_gen == gen).ok_or("link changed")?;
        (
            l.host.clone(),
            l.port,
            st.cfg.masterauth.clone(),
            st.cfg.masteruser.clone(),
            Duration::from_secs(st.cfg.repl_timeout.max(1) as u64),
        )
    };
    let sock = tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| "timeout connecting".to_string())?
        .map_err(|e| e.to_string())?;
    let _ = sock.set_nodelay(true);
    let mut c = Conn { sock, buf: Vec::new(), pos: 0, bytes: 0, timeout };
    if let Some(pass) = auth.as_ref() {
        match user.as_ref() {
            Some(u) => c.call(&[b"AUTH", u.as_bytes(), pass]).await?,
            None => c.call(&[b"AUTH", pass]).await?,
        };
    }
    let remote_roots = match c.call(&[b"ANTIENTROPY", b"ROOTS"]).await? {
        Resp::Array(v) => v,
        r => return Err(format!("unexpected ROOTS reply {r:?}")),
    };
    let local_roots: Vec<u64> = {
        let mut st = shared.lock_store();
        ensure_digests(&mut st);
        st.dbs.iter().map(|d| d.ae.root()).collect()
    };
    let mut repaired = 0u64;
    let mut differing = false;
    let mut out = Outcome::default();
    for (db, local_root) in local_roots.iter().enumerate() {
        let remote_root = match remote_roots.get(db) {
            Some(Resp::Array(p)) => match p.first() {
                Some(Resp::Bulk(Some(b))) => String::from_utf8_lossy(b).parse::<u64>().ok(),
                _ => None,
            },
            _ => None,
        };
        if remote_root == Some(*local_root) {
            continue;
        }
        differing = true;
        match differing_segments(shared, &mut c, db, may_defer).await? {
            Level::Equal => {}
            Level::Fresh => {
                out.deferred = true;
                out.unsettled = true;
            }
            Level::Differ(diff) => {
                let (n, young) = repair_db(shared, &mut c, db, diff).await?;
                repaired += n;
                out.unsettled |= young;
            }
        }
    }
    let mut st = shared.store.lock();
    let s = &mut st.repl.active.ae;
    s.rounds += 1;
    s.bytes += c.bytes;
    if differing {
        s.last_repair_ms = started.elapsed().as_millis() as u64;
        if repaired > 0 {
            crate::log_notice!(
                "Anti-entropy: {repaired} keys differed from the master's, repaired in {} ms",
                started.elapsed().as_millis()
            );
        }
    } else {
        s.rounds_equal += 1;
    }
    Ok(out)
}

/// A segment whose digests differ: ours and the master's, each with its version.
struct Differing {
    seg: usize,
    ours: (u64, u64),
    theirs: (u64, u64),
}

/// Little-endian u64 words of a bulk reply.
fn words(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|w| {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            u64::from_le_bytes(a)
        })
        .collect()
}

fn refs(args: &[Vec<u8>]) -> Vec<&[u8]> {
    args.iter().map(Vec::as_slice).collect()
}

/// The oldest stamp a key may have to be judged now (younger ones are left to the live
/// stream).
fn settled(st: &crate::server::store::Store) -> u64 {
    crate::keyspace::clock::mvcc_from_ms(st.now_ms() - SETTLE_MS)
}

/// Gives the store lock back after a step of background work: straight to a client
/// waiting for it, if there is one, so that the next step queues behind it.
fn release(st: parking_lot::MutexGuard<'_, crate::server::store::Store>) {
    parking_lot::MutexGuard::unlock_fair(st);
}

/// What a comparison of the keys of differing segments gathers.
struct Listing {
    db: usize,
    /// The segments that differ.
    want: Vec<bool>,
    /// The keys the master listed, by a hash seeded per round (so that a collision
    /// cannot hide the same key in every round).
    seed: ahash::RandomState,
    listed: ahash::AHashSet<u64>,
    /// The segments recomputed from the master's keys and from ours.
    theirs: Vec<u64>,
    ours: Vec<u64>,
    /// Keys whose state we ask from the master.
    ask: Vec<Vec<u8>>,
    repaired: u64,
    /// Some differing keys were too young to judge.
    young: bool,
    /// Our tables' shape at the first step of our walk, and whether every step saw it
    /// with no rehash in progress (then our walk reported each key once).
    shape: Option<[usize; 4]>,
    exact: bool,
}

impl Listing {
    /// A batch of the master's keys (of the segments asked for only), remembered.
    fn take(&mut self, flat: &[Resp]) -> Vec<(Vec<u8>, u64)> {
        let mut batch: Vec<(Vec<u8>, u64)> = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks(2) {
            let [Resp::Bulk(Some(k)), Resp::Bulk(Some(m))] = pair else { continue };
            let (Some(m), i) = (u64_arg(m), Segments::segment_of(k)) else { continue };
            if !self.want[i] {
                continue;
            }
            if self.listed.insert(self.seed.hash_one(k.as_slice())) {
                self.theirs[i] ^= Segments::entry_hash(k, m);
            }
            batch.push((k.clone(), m));
        }
        batch
    }

    /// Compares the first keys of `batch` with ours, under one hold of the store lock;
    /// returns how many it took.
    fn compare_step(&mut self, shared: &Shared, batch: &[(Vec<u8>, u64)]) -> usize {
        let mut st = shared.lock_store();
        let settle = settled(&st);
        let (mut n, mut states) = (0, 0);
        for (k, r) in batch {
            if n == LOOKUPS_PER_STEP || states == STATES_PER_STEP {
                break;
            }
            n += 1;
            let l = st.dbs[self.db].ae_stamp(k);
            if l == *r {
                continue;
            }
            if l.max(*r) > settle {
                self.young = true;
            } else if *r > l {
                self.ask.push(k.clone());
            } else {
                super::active::reassert(&mut st, self.db, k);
                states += 1;
            }
        }
        self.count_repaired(&mut st, states as u64);
        st.flush_stream_consumers();
        release(st);
        n
    }

    /// Counts `n` keys repaired, in INFO too, before their states leave (so that a client
    /// seeing a repair's effect sees it counted).
    fn count_repaired(&mut self, st: &mut crate::server::store::Store, n: u64) {
        self.repaired += n;
        st.repl.active.ae.keys_repaired += n;
    }

    /// One step of our walk from `cursor`, under one hold of the store lock: our keys of
    /// the differing segments that the master did not list get a state frame. Returns
    /// the next cursor (0: done).
    fn walk_step(&mut self, shared: &Shared, cursor: u64) -> u64 {
        let mut st = shared.lock_store();
        let settle = settled(&st);
        let d = &st.dbs[self.db];
        let now = d.ae_shape();
        self.exact &= now[1] == 0 && now[3] == 0 && *self.shape.get_or_insert(now) == now;
        let mut lacking: Vec<Bytes> = Vec::new();
        let next = d.ae_walk(cursor, Instant::now() + STEP, |k, m| {
            let i = Segments::segment_of(k);
            if !self.want[i] {
                return false;
            }
            self.ours[i] ^= Segments::entry_hash(k, m);
            if self.listed.contains(&self.seed.hash_one(k)) {
                return false;
            }
            if m > settle {
                self.young = true;
                return false;
            }
            lacking.push(Bytes::copy_from_slice(k));
            lacking.len() == STATES_PER_STEP
        });
        for k in &lacking {
            super::active::reassert(&mut st, self.db, k);
        }
        self.count_repaired(&mut st, lacking.len() as u64);
        st.flush_stream_consumers();
        release(st);
        next
    }
}

/// Compares the keys of the segments `diff` of database `db` with the master's and
/// repairs them. Returns the keys repaired and whether some differing keys were too young
/// to judge.
async fn repair_db(shared: &Arc<Shared>, c: &mut Conn, db: usize, diff: Vec<Differing>) -> Result<(u64, bool), String> {
    let dbs = db.to_string();
    let mut l = Listing {
        db,
        want: vec![false; AE_SEGMENTS],
        seed: ahash::RandomState::new(),
        listed: Default::default(),
        theirs: vec![0; AE_SEGMENTS],
        ours: vec![0; AE_SEGMENTS],
        ask: Vec::new(),
        repaired: 0,
        young: false,
        shape: None,
        exact: true,
    };
    for d in &diff {
        l.want[d.seg] = true;
    }

    // The master's keys of those segments, batch by batch, each compared with ours.
    let segs = masks_of(diff.iter().map(|d| d.seg));
    let mut cursor = 0u64;
    loop {
        let cur = cursor.to_string();
        let mut args: Vec<&[u8]> = vec![b"ANTIENTROPY", b"KEYS", dbs.as_bytes(), cur.as_bytes()];
        args.extend(segs.iter().map(Vec::as_slice));
        let (next, flat) = match c.call(&args).await? {
            Resp::Array(v) => match <[Resp; 2]>::try_from(v) {
                Ok([Resp::Bulk(Some(n)), Resp::Array(flat)]) => (u64_arg(&n).ok_or("unexpected KEYS cursor")?, flat),
                r => return Err(format!("unexpected KEYS reply {r:?}")),
            },
            r => return Err(format!("unexpected KEYS reply {r:?}")),
        };
        let batch = l.take(&flat);
        let mut rest = batch.as_slice();
        while !rest.is_empty() {
            rest = &rest[l.compare_step(shared, rest)..];
            if !rest.is_empty() {
                tokio::time::sleep(GAP).await;
            }
        }
        while l.ask.len() >= STATES_PER_STEP || (next == 0 && !l.ask.is_empty()) {
            let keys: Vec<Vec<u8>> = l.ask.drain(..l.ask.len().min(STATES_PER_STEP)).collect();
            let mut args: Vec<&[u8]> = vec![b"ANTIENTROPY", b"PUSH", dbs.as_bytes()];
            args.extend(keys.iter().map(Vec::as_slice));
            l.count_repaired(&mut shared.store.lock(), keys.len() as u64);
            c.call(&args).await?;
            tokio::time::sleep(GAP).await;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }

    // Our keys of those segments that the master did not list: ours to send.
    let mut cursor = 0u64;
    loop {
        cursor = l.walk_step(shared, cursor);
        if cursor == 0 {
            break;
        }
        tokio::time::sleep(GAP).await;
    }

    // Digests that drifted from their keys heal (a segment no write moved meanwhile).
    if l.exact {
        let mut st = shared.lock_store();
        let ae = &mut st.dbs[db].ae;
        let healed =
            diff.iter().filter(|d| l.ours[d.seg] != d.ours.0 && ae.heal(d.seg, d.ours.1, l.ours[d.seg])).count();
        if healed > 0 {
            crate::log_notice!(
                "Anti-entropy: {healed} digest segments of DB {db} had drifted from their keys; recomputed"
            );
        }
    }
    let fix: Vec<Vec<u8>> = diff
        .iter()
        .filter(|d| l.theirs[d.seg] != d.theirs.0)
        .flat_map(|d| [d.seg.to_string(), d.theirs.1.to_string(), l.theirs[d.seg].to_string()])
        .map(String::into_bytes)
        .collect();
    if !fix.is_empty() {
        let mut args: Vec<&[u8]> = vec![b"ANTIENTROPY", b"HEAL", dbs.as_bytes()];
        args.extend(refs(&fix));
        c.call(&args).await?;
    }
    Ok((l.repaired, l.young))
}

/// What the two levels of the digest comparison found in a database.
enum Level {
    Equal,
    /// Differences, and writes in the last [`SETTLE_MS`] (put off, see [`round`]).
    Fresh,
    /// The segments whose digests differ.
    Differ(Vec<Differing>),
}

/// The two levels of the digest comparison of database `db`: the groups, then the
/// segments of the groups that differ.
async fn differing_segments(shared: &Arc<Shared>, c: &mut Conn, db: usize, may_defer: bool) -> Result<Level, String> {
    let dbs = db.to_string();
    let remote = match c.call(&[b"ANTIENTROPY", b"DIGEST", dbs.as_bytes()]).await? {
        Resp::Bulk(Some(b)) if b.len() == AE_GROUPS * 8 + 8 => words(&b),
        r => return Err(format!("unexpected DIGEST reply {r:?}")),
    };
    let (local, fresh) = {
        let mut st = shared.lock_store();
        ensure_digests(&mut st);
        let settle = settled(&st);
        let ae = &st.dbs[db].ae;
        let groups: Vec<u64> = (0..AE_GROUPS).map(|g| ae.group(g)).collect();
        (groups, ae.newest().max(remote[AE_GROUPS]) > settle)
    };
    let groups: Vec<usize> = (0..AE_GROUPS).filter(|&g| local.get(g) != remote.get(g)).collect();
    if groups.is_empty() {
        return Ok(Level::Equal);
    }
    if fresh && may_defer {
        return Ok(Level::Fresh);
    }
    let mut args: Vec<Vec<u8>> = vec![b"ANTIENTROPY".to_vec(), b"DIGEST".to_vec(), dbs.as_bytes().to_vec()];
    args.extend(groups.iter().map(|g| g.to_string().into_bytes()));
    let remote = match c.call(&refs(&args)).await? {
        Resp::Bulk(Some(b)) if b.len() == groups.len() * AE_GROUP_SEGMENTS * 16 => words(&b),
        r => return Err(format!("unexpected DIGEST reply {r:?}")),
    };
    let st = shared.lock_store();
    let mut diff = Vec::new();
    for (n, &g) in groups.iter().enumerate() {
        for k in 0..AE_GROUP_SEGMENTS {
            let seg = g * AE_GROUP_SEGMENTS + k;
            let j = 2 * (n * AE_GROUP_SEGMENTS + k);
            let theirs = (remote[j], remote[j + 1]);
            let ours = st.dbs[db].ae.segment(seg);
            if ours.0 != theirs.0 {
                diff.push(Differing { seg, ours, theirs });
            }
        }
    }
    Ok(if diff.is_empty() { Level::Equal } else { Level::Differ(diff) })
}
