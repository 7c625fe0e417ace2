//! Anti-entropy: the backstop of active replication. Whatever the apply rules of
//! `replication::active` leave different between two nodes (a multi-key write whose keys
//! were only partly concurrent, a state frame lost with a link, a bug), two linked nodes
//! find it by comparing digests and repair it with the same state frames.
//!
//! Each database keeps a digest of `(key, stamp)` in [`AE_SEGMENTS`] segments
//! (`keyspace::db::Segments`, updated by two XORs on every write). A round, run by a node
//! against its master after every (re)connect and every [`INTERVAL`], over a connection
//! of its own (a client of the master, with `masterauth`):
//! 1. `ANTIENTROPY ROOTS`: one root per database. Equal roots: done; a converged pair
//!    exchanges a few bytes per database and scans nothing.
//! 2. `ANTIENTROPY DIGEST db` for each database whose roots differ: its segments.
//! 3. `ANTIENTROPY KEYS db seg...` for the segments that differ: their keys and stamps.
//!    Both sides recompute those segments from their keys as they list them, so a digest
//!    that drifted (a write path that missed an update) heals itself.
//! 4. Per key, the side with the newer stamp sends its state: ours with a state frame in
//!    our stream (which the master receives through its link to us), the master's on
//!    `ANTIENTROPY PUSH db key...`. Keys written in the last [`SETTLE_MS`] are left to the
//!    live stream, which may still be carrying them.
//!
//! The cost follows the differences: nothing is scanned while the roots agree.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::commands::call::Ctx;
use crate::keyspace::db::{Segments, AE_SEGMENTS};
use crate::server::Shared;

/// Time between rounds while the link stays up.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// The first round after a (re)connect waits this long for the live stream to settle.
pub const AFTER_CONNECT: Duration = Duration::from_secs(1);
/// Keys whose stamp is younger than this are left to the live stream.
pub const SETTLE_MS: i64 = 2000;
/// Most segments asked for in one KEYS call, and keys in one PUSH.
const SEGMENTS_PER_CALL: usize = 512;
const KEYS_PER_PUSH: usize = 1000;
/// Largest reply accepted from the master (a KEYS reply of many big keys).
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

/// ANTIENTROPY ROOTS | DIGEST db | KEYS db seg... | PUSH db key... | RUN
pub fn command(ctx: &mut Ctx) {
    if !active_or_err(ctx) {
        return;
    }
    let sub = ctx.argv[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"roots" if ctx.argv.len() == 2 => {
            ensure_digests(ctx.store);
            let n = ctx.store.dbs.len();
            ctx.out.array(n);
            for d in &ctx.store.dbs {
                ctx.out.array(2);
                ctx.out.bulk(d.ae.root().to_string().as_bytes());
                ctx.out.int(d.len() as i64);
            }
        }
        b"digest" if ctx.argv.len() == 3 => {
            let Some(db) = db_arg(ctx, 2) else { return };
            ensure_digests(ctx.store);
            let mut b = Vec::with_capacity(AE_SEGMENTS * 8);
            for s in ctx.store.dbs[db].ae.segments() {
                b.extend_from_slice(&s.to_le_bytes());
            }
            ctx.out.bulk(&b);
        }
        b"keys" if ctx.argv.len() >= 4 => {
            let Some(db) = db_arg(ctx, 2) else { return };
            let mut want = vec![false; AE_SEGMENTS];
            for a in &ctx.argv[3..] {
                match crate::util::numeric::string2ll(a) {
                    Some(i) if i >= 0 && (i as usize) < AE_SEGMENTS => want[i as usize] = true,
                    _ => return ctx.out.error("invalid segment"),
                }
            }
            ensure_digests(ctx.store);
            let (keys, recomputed) = segment_keys(&ctx.store.dbs[db], &want);
            heal(&mut ctx.store.dbs[db], &want, &recomputed);
            ctx.out.array(keys.len() * 2);
            for (k, m) in &keys {
                ctx.out.bulk(k);
                ctx.out.bulk(m.to_string().as_bytes());
            }
        }
        b"push" if ctx.argv.len() >= 4 => {
            let Some(db) = db_arg(ctx, 2) else { return };
            let keys: Vec<Bytes> = ctx.argv[3..].to_vec();
            for k in &keys {
                super::active::reassert(ctx.store, db, k);
            }
            ctx.out.int(keys.len() as i64);
        }
        b"run" if ctx.argv.len() == 2 => {
            ctx.shared.ae_now.notify_waiters();
            ctx.out.ok();
        }
        _ => {
            let msg = format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try ANTIENTROPY ROOTS|DIGEST|KEYS|PUSH|RUN.",
                String::from_utf8_lossy(&ctx.argv[1])
            );
            ctx.out.error(&msg);
        }
    }
}

/// The keys (live and tombstones) of `db` in the wanted segments with their stamps, and
/// those segments' digests recomputed from them.
fn segment_keys(db: &crate::keyspace::Db, want: &[bool]) -> (Vec<(Bytes, u64)>, Vec<u64>) {
    let mut keys = Vec::new();
    let mut seg = vec![0u64; AE_SEGMENTS];
    let mut visit = |k: &[u8], m: u64| {
        let i = Segments::segment_of(k);
        if want[i] {
            seg[i] ^= Segments::entry_hash(k, m);
            keys.push((Bytes::copy_from_slice(k), m));
        }
    };
    for (k, e) in db.main.iter() {
        visit(k, e.mvcc);
    }
    for (k, &m) in &db.tombs.keys {
        visit(k, m);
    }
    (keys, seg)
}

/// Sets the wanted segments to their recomputed values (a drifted digest heals).
fn heal(db: &mut crate::keyspace::Db, want: &[bool], recomputed: &[u64]) {
    for (i, _) in want.iter().enumerate().filter(|(_, w)| **w) {
        db.ae.set(i, recomputed[i]);
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
            match round(&shared, gen).await {
                // Differences too young to judge: look again once they settled.
                Ok(unsettled) => {
                    next_in = if unsettled { Duration::from_millis(SETTLE_MS as u64 + 100) } else { INTERVAL }
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

/// One comparison with the master; Ok(true) if keys that differed were too young to
/// judge (left to the live stream for now).
async fn round(shared: &Arc<Shared>, gen: u64) -> Result<bool, String> {
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
    let mut unsettled = false;
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
        let (n, young) = repair_db(shared, &mut c, db).await?;
        repaired += n;
        unsettled |= young;
    }
    let mut st = shared.store.lock();
    let s = &mut st.repl.active.ae;
    s.rounds += 1;
    s.bytes += c.bytes;
    s.keys_repaired += repaired;
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
    Ok(unsettled)
}

/// Compares database `db` segment by segment, then key by key where segments differ.
/// Returns the keys repaired and whether some differing keys were too young to judge.
async fn repair_db(shared: &Arc<Shared>, c: &mut Conn, db: usize) -> Result<(u64, bool), String> {
    let dbs = db.to_string();
    let remote = match c.call(&[b"ANTIENTROPY", b"DIGEST", dbs.as_bytes()]).await? {
        Resp::Bulk(Some(b)) if b.len() == AE_SEGMENTS * 8 => b,
        r => return Err(format!("unexpected DIGEST reply {r:?}")),
    };
    let local: Vec<u64> = shared.store.lock().dbs[db].ae.segments().to_vec();
    let diff: Vec<usize> = (0..AE_SEGMENTS)
        .filter(|&i| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&remote[i * 8..i * 8 + 8]);
            local.get(i).copied().unwrap_or(0) != u64::from_le_bytes(w)
        })
        .collect();
    let mut repaired = 0u64;
    let mut young = false;
    for segs in diff.chunks(SEGMENTS_PER_CALL) {
        let mut args: Vec<Vec<u8>> = vec![b"ANTIENTROPY".to_vec(), b"KEYS".to_vec(), dbs.clone().into_bytes()];
        args.extend(segs.iter().map(|s| s.to_string().into_bytes()));
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let flat = match c.call(&refs).await? {
            Resp::Array(v) => v,
            r => return Err(format!("unexpected KEYS reply {r:?}")),
        };
        let mut theirs: std::collections::HashMap<Vec<u8>, u64> = std::collections::HashMap::new();
        for pair in flat.chunks(2) {
            if let [Resp::Bulk(Some(k)), Resp::Bulk(Some(m))] = pair {
                if let Some(m) = std::str::from_utf8(m).ok().and_then(|m| m.parse::<u64>().ok()) {
                    theirs.insert(k.clone(), m);
                }
            }
        }
        let mut want = vec![false; AE_SEGMENTS];
        for &s in segs {
            want[s] = true;
        }
        let mut ask: Vec<Vec<u8>> = Vec::new();
        {
            let mut st = shared.lock_store();
            let settle = crate::keyspace::clock::mvcc_from_ms(st.now_ms() - SETTLE_MS);
            let (ours, recomputed) = segment_keys(&st.dbs[db], &want);
            heal(&mut st.dbs[db], &want, &recomputed);
            let mut mine: std::collections::HashMap<Vec<u8>, u64> =
                ours.into_iter().map(|(k, m)| (k.to_vec(), m)).collect();
            for (k, &r) in &theirs {
                let l = mine.remove(k).unwrap_or(0);
                if l == r {
                    continue;
                }
                if l.max(r) > settle {
                    young = true;
                    continue;
                }
                if r > l {
                    ask.push(k.clone());
                } else {
                    super::active::reassert(&mut st, db, k);
                    repaired += 1;
                }
            }
            for (k, l) in mine {
                if l <= settle {
                    super::active::reassert(&mut st, db, &k);
                    repaired += 1;
                } else {
                    young = true;
                }
            }
            st.flush_stream_consumers();
        }
        for keys in ask.chunks(KEYS_PER_PUSH) {
            let mut args: Vec<&[u8]> = vec![b"ANTIENTROPY", b"PUSH", dbs.as_bytes()];
            args.extend(keys.iter().map(|k| k.as_slice()));
            c.call(&args).await?;
            repaired += keys.len() as u64;
        }
    }
    Ok((repaired, young))
}
