//! Active replication: nodes that replicate each other and all accept writes
//! (`active-replica yes`), KeyDB's wire format with fluidB's rules for conflicts.
//!
//! **Identity.** Each node has a UUID, kept in `fluidb-node.uuid` in its data directory
//! so it survives restarts (KeyDB makes a new one at every start, and then fails to
//! recognise echoes of its own older writes). A link to a peer reporting our own UUID (a
//! cloned data directory) is refused.
//!
//! **Frames.** In active mode every write this node's clients make goes to its replicas
//! as `RREPLAY <origin-uuid> <payload> <db> <mvcc> [<trailer>]` (`WriteStream::
//! append_frame`), where payload is the command's RESP multibulk and mvcc its stamp. The
//! trailer is fluidB's and KeyDB ignores it:
//! - `w:<b1>,<b2>,...`: a write, with the stamp each key of the command had before it
//!   (its *base*, in the order the command table finds the keys); an increment adds
//!   `/<total>`, the sum of all its origin's increments to the key (its counter state's
//!   total, `keyspace::counters`), which makes a duplicate recognisable;
//! - `s:[<counter state>]`: a *state frame*: the payload (`RESTORE key pxat dump REPLACE
//!   ABSTTL`, or `DEL key`) is the key's whole state at stamp mvcc, not a new write,
//!   with the key's counter state if it has one.
//!
//! **Applying a peer's write** ([`apply_frame`]) to keys with local stamps `L`:
//! - every base equals its `L`: the origin had our exact state, so replaying the command
//!   gives the origin's result byte for byte; it is applied with the origin's stamp;
//! - otherwise the writes were concurrent. For each key where our state is newer (`L >
//!   mvcc`) we re-assert it: a state frame goes into our stream, so the origin (and every
//!   node) ends with the newest state. Where the incoming write is newer, we keep ours
//!   until the origin's state frame arrives: the origin re-asserts when our concurrent,
//!   older write reaches it. Nothing is guessed.
//! - counters (INCR, INCRBY, DECR, DECRBY) merge by their state (`keyspace::counters`):
//!   an increment sets its origin's total in the key's state, and the key holds what the
//!   state stands for: the last overwrite plus the increments it had not seen. A node
//!   whose state holds an overwrite the increment's origin had not seen re-asserts it.
//! - a state frame is taken when it is newer than our state and re-asserted against
//!   when older; an equal stamp is the same state. A counter key's state frame merges
//!   its counter state into ours (and re-asserts the result if the sender lacks some).
//! - KeyDB's frames carry no trailer: they are applied when newer than every key they
//!   touch and skipped otherwise.
//!
//! **Deletes** leave a tombstone (`keyspace::db::Tombstones`) with the delete's stamp, so
//! an older write to the key loses against it and no merge brings the key back.

use std::path::Path;

use bytes::Bytes;

use crate::commands::call::{Ctx, Source};
use crate::commands::table::{flags, CommandTable};
use crate::keyspace::counters::{Base, Computed, Counter, HashCounter, Origin, Part};
use crate::protocol::Reply;
use crate::server::client::Client;
use crate::server::store::Store;
use crate::server::Shared;

/// Length of a UUID in its text form.
pub const UUID_LEN: usize = 36;
/// A node's UUID as 36 lowercase hex-and-dash characters (the form on the wire).
pub type Uuid = [u8; UUID_LEN];

/// The file in the data directory that keeps the node's UUID.
pub const UUID_FILE: &str = "fluidb-node.uuid";

/// Most keys one frame may name in its trailer (a command with more keys than this is
/// applied by the newest-write rule alone, as a KeyDB frame).
pub const MAX_TRAILER_KEYS: usize = 4096;

/// Most frames of one transaction held until its EXEC (beyond, they apply one by one).
pub const MAX_TX_FRAMES: usize = 100_000;

/// A fresh random (version 4) UUID.
pub fn new_uuid() -> Uuid {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = b"0123456789abcdef";
    let mut out = [b'-'; UUID_LEN];
    let mut o = 0;
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            o += 1; // the dash
        }
        out[o] = hex[(byte >> 4) as usize];
        out[o + 1] = hex[(byte & 15) as usize];
        o += 2;
    }
    out
}

/// Parses a UUID in its text form (any case); None unless it is one.
pub fn parse_uuid(s: &[u8]) -> Option<Uuid> {
    if s.len() != UUID_LEN {
        return None;
    }
    let mut out = [0u8; UUID_LEN];
    for (i, &c) in s.iter().enumerate() {
        let dash = matches!(i, 8 | 13 | 18 | 23);
        out[i] = match c {
            b'-' if dash => b'-',
            b'0'..=b'9' | b'a'..=b'f' if !dash => c,
            b'A'..=b'F' if !dash => c.to_ascii_lowercase(),
            _ => return None,
        };
    }
    Some(out)
}

/// The node's tag in its stamps (`MvccClock::set_node_tag`): bits of a hash of its
/// UUID, so that two nodes writing in the same millisecond make different stamps.
pub fn node_tag(u: &Uuid) -> u64 {
    u.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| (h ^ c as u64).wrapping_mul(0x100_0000_01b3)) >> 54
}

/// A KeyDB peer as counter states name it (its frames carry no origin of their own): the
/// first 64 bits of its UUID, which KeyDB makes anew at every start.
pub fn origin_of(u: &Uuid) -> Origin {
    u.iter().filter_map(|&c| (c as char).to_digit(16)).take(16).fold(0u64, |o, d| (o << 4) | u64::from(d))
}

/// The all-zero UUID, which no node has (KeyDB's "nil").
pub fn is_nil(u: &Uuid) -> bool {
    u.iter().all(|&c| c == b'0' || c == b'-')
}

/// The node's UUID from `dir/fluidb-node.uuid`, or a new one written there. A file that
/// cannot be read or written is logged and a UUID for this run is used.
pub fn load_or_create_uuid(dir: &Path) -> Uuid {
    let path = dir.join(UUID_FILE);
    if let Ok(text) = std::fs::read(&path) {
        let text = text.trim_ascii();
        if let Some(u) = parse_uuid(text).filter(|u| !is_nil(u)) {
            return u;
        }
        crate::log_warning!("{} does not hold a UUID: making a new one", path.display());
    }
    let u = new_uuid();
    let tmp = dir.join(format!("{UUID_FILE}.tmp"));
    let write = std::fs::write(&tmp, [&u[..], b"\n"].concat()).and_then(|_| std::fs::rename(&tmp, &path));
    if let Err(e) = write {
        crate::log_warning!("Can't save the node UUID in {}: {e} (it will change at restart)", path.display());
    }
    u
}

/// Counters of INFO replication's active fields.
#[derive(Debug, Default, Clone)]
pub struct ActiveStats {
    /// Peer writes applied.
    pub frames_applied: u64,
    /// Peer writes skipped because our state of their keys was newer.
    pub frames_superseded: u64,
    /// Peer writes concurrent with ours (a base differed).
    pub conflicts: u64,
    /// Increments of peers merged into counter states (concurrent or not).
    pub counters_merged: u64,
    /// Increments a peer sent again (over another path, after a resync), applied once.
    pub counters_duplicate: u64,
    /// State frames we sent to re-assert a newer state.
    pub states_sent: u64,
    /// State frames from peers that replaced our state.
    pub states_applied: u64,
    /// Frames whose origin is this node (echoes from a KeyDB peer), dropped.
    pub own_frames_dropped: u64,
    /// Tombstones older than `active-tombstone-lifetime`, forgotten.
    pub tombstones_forgotten: u64,
    /// Keys older than a tombstone horizon that the other side lacked: dropped (ours) or
    /// not taken (theirs) by a full-sync merge, or a state frame not applied.
    pub dropped_past_horizon: u64,
}

/// Active replication state of the node (in `ReplState`).
#[derive(Debug)]
pub struct Active {
    pub uuid: Uuid,
    /// This process's name in counter states: random at every start. A node that
    /// restarts from a snapshot older than its last increments (or from nothing) must not
    /// continue its old totals (its peers hold later ones, which would win and lose the
    /// increments in between): each run's increments are a chain of their own.
    pub origin: Origin,
    /// While the AOF loads: the origin of the local increments being replayed (from their
    /// `#ctr:` annotations).
    pub replay_origin: Option<Origin>,
    pub stats: ActiveStats,
    /// Anti-entropy counters.
    pub ae: super::anti_entropy::AeStats,
    /// Keys whose state frame goes out at the end of the batch (see [`reassert`]).
    pub reasserts: Vec<(usize, Bytes)>,
    reassert_set: std::collections::HashSet<(usize, Bytes)>,
    /// When tombstones were last looked at for their lifetime.
    last_forget: Option<std::time::Instant>,
}

impl Default for Active {
    fn default() -> Self {
        Active {
            uuid: new_uuid(),
            origin: rand::random::<u64>().max(1),
            replay_origin: None,
            stats: ActiveStats::default(),
            ae: Default::default(),
            reasserts: Vec::new(),
            reassert_set: Default::default(),
            last_forget: None,
        }
    }
}

/// What kind of frame a peer sent, from its trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// No trailer (a KeyDB peer): newest write wins.
    Plain,
    /// A write with the bases of its keys, and for an increment its origin's new part
    /// (the run of the node that made it, its totals; the stamp is the frame's); for a
    /// hash field's increment, the stamp of the key's content at its origin too.
    Write(Vec<u64>, Option<Part>, Option<u64>),
    /// A key's whole state, with its counter state and its field states if it has them.
    State(Option<Counter>, Option<HashCounter>),
    /// A fluidB trailer that does not parse (a bug or a corruption): the frame is not
    /// applied at all, rather than under a rule that could count an increment twice;
    /// anti-entropy repairs the key.
    Invalid,
}

/// A parsed RREPLAY frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub origin: Uuid,
    pub payload: Bytes,
    pub db: Option<usize>,
    pub mvcc: u64,
    pub kind: Kind,
}

/// Parses `RREPLAY <uuid> <payload> [<db> [<mvcc> [<trailer>]]]`, with KeyDB's errors.
pub fn parse_frame(argv: &[Bytes], databases: usize) -> Result<Frame, &'static str> {
    if argv.len() < 3 {
        return Err("Invalid number of arguments");
    }
    let origin = parse_uuid(&argv[1]).ok_or("Expected UUID arg1")?;
    let db = match argv.get(3) {
        None => None,
        Some(d) => match crate::util::numeric::string2ll(d) {
            Some(d) if d >= 0 && (d as usize) < databases => Some(d as usize),
            _ => return Err("Invalid database ID"),
        },
    };
    let mvcc = match argv.get(4) {
        None => 0,
        Some(m) => parse_mvcc(m).ok_or("Invalid MVCC Timestamp")?,
    };
    let kind = match argv.get(5) {
        Some(t) => parse_trailer(t),
        None => Kind::Plain,
    };
    Ok(Frame { origin, payload: argv[2].clone(), db, mvcc, kind })
}

/// Parses an mvcc argument as KeyDB does (`strtoull`): leading blanks, an optional sign,
/// then the longest run of digits; a minus wraps, an overflow saturates; None without a
/// digit.
pub fn parse_mvcc(s: &[u8]) -> Option<u64> {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let v = digits[..n].iter().try_fold(0u64, |v, &c| v.checked_mul(10)?.checked_add(u64::from(c - b'0')));
    let v = v.unwrap_or(u64::MAX);
    Some(if neg { v.wrapping_neg() } else { v })
}

/// A stamp more than this far ahead of our clock is refused as a stamp (a peer's broken
/// clock or a garbage argument would otherwise push every later write of ours there).
pub const MAX_STAMP_AHEAD_MS: i64 = 24 * 3600 * 1000;

/// A fluidB trailer; anything else (a newer format, garbage) is ignored like KeyDB
/// ignores ours, and the frame is applied by the newest-write rule.
fn parse_trailer(t: &[u8]) -> Kind {
    if let Some(state) = t.strip_prefix(b"s:") {
        // `s:[<counter state>][|<field states>]` (see `state_trailer`).
        let (ctr, fields) = match state.iter().position(|&c| c == b'|') {
            Some(i) => (&state[..i], HashCounter::decode(&state[i + 1..])),
            None => (state, None),
        };
        let counter = match (ctr.is_empty(), Counter::decode(ctr)) {
            (true, _) => None,
            (false, Some(c)) => Some(c),
            (false, None) => return Kind::Invalid,
        };
        return Kind::State(counter, fields);
    }
    let Some(rest) = t.strip_prefix(b"w:") else { return Kind::Plain };
    let (list, total, content) = match rest.iter().position(|&c| c == b'/') {
        Some(i) => {
            // A hash field's increment ends with `@<content stamp>`.
            let inc = &rest[i + 1..];
            let (inc, content) = match inc.iter().position(|&c| c == b'@') {
                Some(j) => match parse_u64(&inc[j + 1..]) {
                    Some(c) => (&inc[..j], Some(c)),
                    None => return Kind::Invalid,
                },
                None => (inc, None),
            };
            match parse_total(inc) {
                Some(t) => (&rest[..i], Some(t), content),
                None => return Kind::Invalid,
            }
        }
        None => (rest, None, None),
    };
    let mut bases = Vec::new();
    if list.is_empty() {
        return Kind::Write(bases, total, content);
    }
    for part in list.split(|&c| c == b',') {
        match parse_u64(part) {
            Some(b) if bases.len() < MAX_TRAILER_KEYS => bases.push(b),
            _ => return Kind::Invalid,
        }
    }
    Kind::Write(bases, total, content)
}

/// A decimal u64 (digits only); None on anything else or an overflow.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    s.iter().try_fold(
        0u64,
        |v, &c| {
            if c.is_ascii_digit() {
                v.checked_mul(10)?.checked_add(u64::from(c - b'0'))
            } else {
                None
            }
        },
    )
}

/// An increment's `<origin hex>:<total>[,<float total>]`.
fn parse_total(t: &[u8]) -> Option<Part> {
    let colon = t.iter().position(|&c| c == b':')?;
    let origin = u64::from_str_radix(std::str::from_utf8(&t[..colon]).ok()?, 16).ok()?;
    let rest = &t[colon + 1..];
    let (total, ftotal) = match rest.iter().position(|&c| c == b',') {
        Some(i) if crate::keyspace::counters::is_float(&rest[i + 1..]) => (&rest[..i], Some(rest[i + 1..].into())),
        Some(_) => return None,
        None => (rest, None),
    };
    Some(Part { origin, total: crate::util::numeric::string2ll(total)?, ftotal, stamp: 0 })
}

/// Encodes a write trailer for `bases` (and an increment's new part).
pub fn write_trailer(out: &mut Vec<u8>, bases: &[u64], total: Option<&Part>) {
    out.clear();
    out.extend_from_slice(b"w:");
    let mut b = itoa::Buffer::new();
    for (i, base) in bases.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b.format(*base).as_bytes());
    }
    if let Some(p) = total {
        use std::io::Write;
        let _ = write!(out, "/{:x}:{}", p.origin, p.total);
        if let Some(f) = &p.ftotal {
            out.push(b',');
            out.extend_from_slice(f);
        }
    }
}

/// The key argument positions of a write command, as the command table finds them.
pub fn key_positions(argv: &[Bytes]) -> Vec<usize> {
    match crate::commands::call::resolve(CommandTable::get(), argv) {
        Ok(cmd) => key_positions_of(cmd.def, argv),
        Err(_) => Vec::new(),
    }
}

/// [`key_positions`] of a command already resolved.
pub fn key_positions_of(def: &'static crate::commands::table::Command, argv: &[Bytes]) -> Vec<usize> {
    match crate::commands::command_cmd::keys_of(def, argv) {
        Some(keys) => keys.into_iter().map(|(i, _)| i).filter(|&i| i < argv.len()).collect(),
        None => Vec::new(),
    }
}

/// The stamps the keys of a write had before it (its bases), captured by `execute()`
/// before the handler runs: `(key, base, was live)` per key, and what each contributed
/// to the anti-entropy digest.
#[derive(Debug, Default)]
pub struct Bases {
    pub db: usize,
    pub keys: Vec<(Bytes, u64, bool)>,
    ae: Vec<u64>,
    /// An increment: what its key held before it.
    before: Option<Base>,
    /// An increment of this node's: its origin's new part in the key's counter state.
    total: Option<Part>,
    /// A hash field's increment of this node's: the key's content stamp (see
    /// `HashCounter::content`).
    content: Option<u64>,
}

impl Bases {
    /// Captures the bases of `argv` (the command `def`) in database `db`.
    pub fn capture(store: &Store, def: &'static crate::commands::table::Command, argv: &[Bytes], db: usize) -> Bases {
        let d = &store.dbs[db];
        // An increment's key (or field): what it holds, from the same lookup as its stamp.
        let field = hash_increment_of(argv).map(|(f, _)| f);
        let increment = field.is_some() || increment_of(argv).is_some();
        let mut before = None;
        let keys: Vec<(Bytes, u64, bool)> = key_positions_of(def, argv)
            .into_iter()
            .map(|i| {
                let k = &argv[i];
                let e = d.peek(k);
                if increment {
                    // A key past its TTL is absent to the increment (the handler's lookup
                    // deletes it first).
                    let live = e.filter(|e| !expired(store, e));
                    before = Some(match field {
                        Some(f) => field_base_of_entry(live, f),
                        None => base_of_entry(live),
                    });
                }
                match e {
                    Some(e) => (k.clone(), e.mvcc, true),
                    None => (k.clone(), d.tombs.stamp(k), false),
                }
            })
            .collect();
        let ae = if d.ae.is_valid() { keys.iter().map(|(k, _, _)| d.ae_stamp(k)).collect() } else { Vec::new() };
        Bases { db, keys, ae, before, total: None, content: None }
    }

    /// The base of `key`, if the write named it.
    fn of(&self, key: &[u8]) -> Option<u64> {
        self.keys.iter().find(|(k, _, _)| &k[..] == key).map(|&(_, b, _)| b)
    }

    /// The trailer of the write as received: its bases in the order they were captured.
    pub fn own_trailer(&self, out: &mut Vec<u8>) {
        let bases: Vec<u64> = self.keys.iter().map(|&(_, b, _)| b).collect();
        write_trailer(out, &bases, self.total.as_ref());
        if let (Some(_), Some(c)) = (&self.total, self.content) {
            out.push(b'@');
            out.extend_from_slice(itoa::Buffer::new().format(c).as_bytes());
        }
    }

    /// The trailer of another form the write propagates as (e.g. PEXPIREAT for EXPIRE):
    /// its keys are found again and their bases looked up by name.
    pub fn trailer_for(&self, argv: &[Bytes], out: &mut Vec<u8>) {
        let bases: Vec<u64> = key_positions(argv).into_iter().map(|i| self.of(&argv[i]).unwrap_or(0)).collect();
        write_trailer(out, &bases, None);
    }

    /// After the write (stamped `mvcc`, from `source`; `wrote`: it changed something):
    /// keys it deleted leave a tombstone; a peer's write leaves every absent key of it at
    /// the write's stamp (a state frame's DEL of a key we had already lost still moves
    /// its tombstone), so the next write's bases match on both sides. Keeps the counter
    /// states current.
    pub fn after_write(&mut self, store: &mut Store, argv: &[Bytes], mvcc: u64, source: Source, wrote: bool) {
        let peer = matches!(source, Source::Peer { .. });
        let d = &mut store.dbs[self.db];
        for (k, _, live) in &self.keys {
            if (*live || peer) && d.peek(k).is_none() && d.tombs.stamp(k) < mvcc {
                d.tombs.bury(k, mvcc);
            }
        }
        for ((k, _, _), &old) in self.keys.iter().zip(&self.ae) {
            d.ae_moved(k, old);
        }
        if wrote {
            self.counters_after(store, argv, mvcc, source);
        }
    }

    /// The counter states of the write's keys: an increment of ours (or replayed from
    /// the AOF) adds to this node's total; any other write to a counter key is an
    /// overwrite. A peer's increment is merged by [`apply_frame`] itself.
    fn counters_after(&mut self, store: &mut Store, argv: &[Bytes], mvcc: u64, source: Source) {
        let db = self.db;
        if !store.dbs[db].counters.hashes.is_empty()
            || hash_increment_of(argv).is_some()
            || other_db_target(argv, store.dbs.len()).is_some()
        {
            self.fields_after(store, argv, mvcc, source);
        }
        if let (Some(inc), [(k, base, _)]) = (increment_of(argv), &self.keys[..]) {
            if matches!(source, Source::Peer { .. }) {
                return;
            }
            let before = self.before.clone().unwrap_or(Base::Absent);
            let a = &store.repl.active;
            let origin = if source == Source::Aof { a.replay_origin.unwrap_or(a.origin) } else { a.origin };
            let c = store.dbs[db].counters.entry(k, || Counter::adopt(*base, before.clone()));
            if !holds(&c.value(), &before) {
                // The key changed in a way no write recorded (it expired, was evicted):
                // the state starts again from what the key held.
                c.rebase(*base, before);
            }
            self.total = Some(match inc {
                Incr::Int(d) => c.incr(origin, d, mvcc),
                Incr::Float(f) => {
                    let p = c.incr_float(origin, f, mvcc);
                    // The key holds the state's sum (the same bytes as on every node),
                    // which may differ from the command's own in the last digit.
                    settle_counter(store, db, k, mvcc, "");
                    p
                }
            });
            return;
        }
        if let Some((to, k)) = other_db_target(argv, store.dbs.len()) {
            // MOVE / COPY ... DB: the key in the other database is overwritten.
            if to != db && store.dbs[to].counters.get(k).is_some() {
                let b = base_of(store, to, k);
                if let Some(c) = store.dbs[to].counters.get_mut(k) {
                    c.rebase(mvcc, b);
                }
            }
        }
        if store.dbs[db].counters.is_empty() {
            return;
        }
        // (A TTL change is an overwrite too, one that leaves the value: the state's
        // overwrite stamp then covers the TTL, which a merge takes from the newer
        // overwrite, see `merge_counter_frame`.)
        for (k, _, _) in &self.keys {
            if store.dbs[db].counters.get(k).is_none() {
                continue;
            }
            let b = base_of(store, db, k);
            if let Some(c) = store.dbs[db].counters.get_mut(k) {
                c.rebase(mvcc, b);
            }
        }
    }

    /// The field states of the write's keys (`HashCounter`): an increment of ours (or
    /// replayed from the AOF) of a field adds to this node's total in the field's state;
    /// HSET, HMSET, HSETNX and HDEL overwrite the fields they name, and so does a peer's
    /// increment that its origin did not merge (applied by its bases); any other write of
    /// the key overwrites its content and all its fields, a TTL change its content only.
    /// A peer's merged increment is settled by [`apply_frame`] itself.
    fn fields_after(&mut self, store: &mut Store, argv: &[Bytes], mvcc: u64, source: Source) {
        let db = self.db;
        if let (Some((field, inc)), [(k, base, _)]) = (hash_increment_of(argv), &self.keys[..]) {
            let merges = store.dbs[db].counters.hash(k).is_none_or(|h| h.has_room() || h.fields.contains_key(field));
            if merges && !matches!(source, Source::Peer { .. }) {
                let before = self.before.clone().unwrap_or(Base::Absent);
                let a = &store.repl.active;
                let origin = if source == Source::Aof { a.replay_origin.unwrap_or(a.origin) } else { a.origin };
                let h = store.dbs[db].counters.hash_entry(k, || HashCounter::new(*base));
                let content = h.content;
                let Some(c) = h.field_or_adopt(field, || before.clone()) else { return };
                if !holds(&c.value(), &before) {
                    // The field changed in a way no write recorded (the key was evicted):
                    // its state starts again from what it held.
                    c.rebase(*base, before);
                }
                self.content = Some(content);
                self.total = Some(match inc {
                    Incr::Int(d) => c.incr(origin, d, mvcc),
                    Incr::Float(f) => {
                        let p = c.incr_float(origin, f, mvcc);
                        // The field holds the state's sum (the same bytes on every node).
                        settle_field(store, db, k, field, mvcc, None);
                        p
                    }
                });
                return;
            }
        }
        if let Some((to, k)) = other_db_target(argv, store.dbs.len()) {
            // MOVE / COPY ... DB: the key in the other database is overwritten.
            if to != db {
                overwrite_fields(store, to, k, mvcc, None);
            }
        }
        if store.dbs[db].counters.hashes.is_empty() {
            return;
        }
        let ttl_only = is_ttl_only(argv);
        let named = fields_named(argv);
        for (k, _, _) in &self.keys {
            if store.dbs[db].counters.hash(k).is_none() {
                continue;
            }
            if ttl_only && store.dbs[db].peek(k).is_some() {
                // The TTL is part of the content (the newest write of the key wins it).
                if let Some(h) = store.dbs[db].counters.hash_mut(k) {
                    h.content = mvcc;
                }
                continue;
            }
            overwrite_fields(store, db, k, mvcc, named.as_deref());
        }
    }
}

/// A write of `key` stamped `mvcc` that overwrote its content and the field states of
/// `fields` (all of them when None), with what they hold now.
fn overwrite_fields(store: &mut Store, db: usize, key: &[u8], mvcc: u64, fields: Option<&[&[u8]]>) {
    let Some(h) = store.dbs[db].counters.hash(key) else { return };
    let bases: Vec<(Box<[u8]>, Base)> = match fields {
        None => h.fields.keys().map(|f| (f.clone(), field_base(store, db, key, f))).collect(),
        Some(list) => list
            .iter()
            .filter(|f| h.fields.contains_key(**f))
            .map(|f| (Box::from(*f), field_base(store, db, key, f)))
            .collect(),
    };
    let Some(h) = store.dbs[db].counters.hash_mut(key) else { return };
    h.content = mvcc;
    for (f, b) in bases {
        if let Some(c) = h.fields.get_mut(&f) {
            c.rebase(mvcc, b);
        }
    }
}

/// The fields a write of a hash names, which it overwrites (HSET, HMSET, HSETNX, HDEL;
/// HINCRBY and HINCRBYFLOAT when not merged); None for the writes of the whole key.
fn fields_named(argv: &[Bytes]) -> Option<Vec<&[u8]>> {
    let name = argv.first()?;
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if (is("hset") || is("hmset")) && argv.len() >= 4 {
        Some(argv[2..].iter().step_by(2).map(|f| &f[..]).collect())
    } else if is("hdel") && argv.len() >= 3 {
        Some(argv[2..].iter().map(|f| &f[..]).collect())
    } else if (is("hsetnx") || is("hincrby") || is("hincrbyfloat")) && argv.len() == 4 {
        Some(vec![&argv[2][..]])
    } else {
        None
    }
}

/// What `field` of hash `key` holds now, as a field state sees it: nothing when the key
/// or the field does not exist (or the key is past its TTL), Other when the key is not
/// a hash (increments of its fields fail).
fn field_base(store: &Store, db: usize, key: &[u8], field: &[u8]) -> Base {
    field_base_of_entry(store.dbs[db].peek(key).filter(|e| !expired(store, e)), field)
}

/// What `field` of the key whose entry is `e` holds, as a field state sees it.
fn field_base_of_entry(e: Option<&crate::keyspace::Entry>, field: &[u8]) -> Base {
    match e.map(|e| &e.val) {
        None => Base::Absent,
        Some(crate::keyspace::Value::Hash(h)) => field_base_in(h, field),
        Some(_) => Base::Other,
    }
}

/// What `field` of hash `h` holds, as a field state sees it.
fn field_base_in(h: &crate::types::hash::Hash, field: &[u8]) -> Base {
    use crate::types::listpack::LpVal;
    match h.get(field) {
        None => Base::Absent,
        Some(LpVal::Int(v)) => Base::Int(v),
        Some(LpVal::Str(b)) => match crate::util::numeric::string2ll(b) {
            Some(v) => Base::Int(v),
            None if crate::keyspace::counters::is_float(b) => Base::Float(b.into()),
            None => Base::Other,
        },
    }
}

/// What `key` holds now, as a counter state sees it (nothing once past its TTL).
fn base_of(store: &Store, db: usize, key: &[u8]) -> Base {
    base_of_entry(store.dbs[db].peek(key).filter(|e| !expired(store, e)))
}

/// Whether a key is logically expired (never during an AOF replay, in which nothing
/// expires: the AOF records active-mode expiries itself, see [`key_expired`]).
fn expired(store: &Store, e: &crate::keyspace::Entry) -> bool {
    e.has_expire() && !store.replaying() && e.is_expired(as_of(store))
}

/// The time the write being applied runs as of: a peer's, its origin's (its stamp's);
/// ours, now.
fn as_of(store: &Store) -> i64 {
    match store.source {
        Source::Peer { mvcc } if mvcc != 0 => crate::keyspace::clock::mvcc_to_ms(mvcc),
        _ => store.now_ms(),
    }
}

/// A key of `db` expired on this node. Every active node expires its keys itself, at
/// their TTL, and sends nothing (the key's state, "expired at its TTL", is the same
/// everywhere). What that leaves behind must be the same everywhere too:
/// - a counter state is overwritten by the expiry at the TTL's stamp
///   ([`Counter::expire`]), so a rate limiter (INCR + EXPIRE) starts again from 0 on
///   every node, whichever increments each had received when its copy expired;
/// - the AOF records the deletion (with the counter state), because nothing expires
///   while it is replayed: an increment after the expiry must not replay on top of the
///   old value.
pub fn key_expired(store: &mut Store, db: usize, key: &[u8], at_ms: i64) {
    let at = crate::keyspace::clock::mvcc_from_ms(at_ms);
    if let Some(c) = store.dbs[db].counters.get_mut(key) {
        c.expire(at);
    }
    if let Some(h) = store.dbs[db].counters.hash_mut(key) {
        h.expire(at);
    }
    if !store.stream.keeps_applied() {
        return;
    }
    if store.dbs[db].counters.get(key).is_some() || store.dbs[db].counters.hash(key).is_some() {
        log_counter_state(store, db, key);
    } else if let Some((argv, mvcc)) = state_command(store, db, key) {
        store.stream.append_aof_noted(db, mvcc, &argv, b"");
    }
}

/// A key a snapshot merge changed, for the plain replicas (the AOF gets merges through a
/// rewrite): its state command.
fn plain_state(store: &mut Store, db: usize, key: &[u8]) {
    if store.stream.plain_tap.is_none() {
        return;
    }
    if let Some((argv, _)) = state_command(store, db, key) {
        store.stream.append_plain_only(db, &argv);
    }
}

/// How often tombstones are looked at for their lifetime (a pass over them).
const FORGET_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Forgets the deletions older than `active-tombstone-lifetime` (tombstones, and the
/// counter states of keys deleted before then): without a lifetime, every key name ever
/// deleted would be kept for good. The forgotten span is each database's *horizon*,
/// kept in snapshots: a full-sync merge drops a key older than the other side's horizon
/// that the other side lacks, instead of bringing back a deletion it forgot
/// ([`merge_snapshot`]). A node whose links stay down longer than the lifetime rejoins
/// by such a merge (its backlog cannot span that long).
pub fn forget_old_deletions(store: &mut Store) {
    let life = store.cfg.active_tombstone_lifetime;
    let a = &mut store.repl.active;
    if life <= 0 || a.last_forget.is_some_and(|t| t.elapsed() < FORGET_EVERY) {
        return;
    }
    a.last_forget = Some(std::time::Instant::now());
    let ms = store.now_ms().saturating_sub(life.saturating_mul(1000));
    if ms <= 0 {
        return;
    }
    let horizon = crate::keyspace::clock::mvcc_from_ms(ms);
    let mut forgotten = 0;
    for d in store.dbs.iter_mut() {
        forgotten += d.forget_deletions_before(horizon);
    }
    store.repl.active.stats.tombstones_forgotten += forgotten as u64;
}

/// Before a peer's write stamped `s` to `key`: a key whose TTL passed by the write's stamp
/// is expired first (the write was made after it expired, at its origin: it starts from
/// no key here too). One whose TTL passed only by our clock is not: the write runs as of
/// its origin's time (see `commands::call`).
fn expire_before(store: &mut Store, db: usize, key: &[u8], s: u64) {
    let d = &store.dbs[db];
    if d.expires.is_empty() {
        return;
    }
    let when = if s != 0 { crate::keyspace::clock::mvcc_to_ms(s) } else { as_of(store) };
    if d.peek(key).is_some_and(|e| e.is_expired(when)) {
        store.delete_expired(db, key);
    }
}

/// What a key whose entry is `e` holds, as a counter state sees it.
fn base_of_entry(e: Option<&crate::keyspace::Entry>) -> Base {
    match e.map(|e| &e.val) {
        None => Base::Absent,
        Some(crate::keyspace::Value::Str(s)) => {
            match s.as_int() {
                Some(v) => Base::Int(v),
                None => s.with_bytes(|b| {
                    if crate::keyspace::counters::is_float(b) {
                        Base::Float(b.into())
                    } else {
                        Base::Other
                    }
                }),
            }
        }
        Some(_) => Base::Other,
    }
}

/// Whether a key holding `b` holds the value `c` (a float sum that came out integral
/// holds as the integer it reads as).
fn holds(c: &Computed, b: &Base) -> bool {
    match (c, b) {
        (Computed::Absent, Base::Absent) | (Computed::Other, Base::Other) => true,
        (Computed::Int(x), Base::Int(y)) => x == y,
        (Computed::Float(f), Base::Float(g)) => f[..] == g[..],
        (Computed::Float(f), Base::Int(y)) => f[..] == *itoa::Buffer::new().format(*y).as_bytes(),
        _ => false,
    }
}

/// An increment's amount.
#[derive(Debug, Clone, Copy)]
enum Incr<'a> {
    Int(i64),
    /// INCRBYFLOAT's argument (a valid float: the command checked it).
    Float(&'a [u8]),
}

/// The increment `argv` makes (INCR, INCRBY, DECR, DECRBY, INCRBYFLOAT), None for other
/// commands.
fn increment_of(argv: &[Bytes]) -> Option<Incr<'_>> {
    if let Some(d) = counter_delta(argv) {
        return Some(Incr::Int(d));
    }
    let name = argv.first()?;
    (name.eq_ignore_ascii_case(b"incrbyfloat") && argv.len() == 3 && crate::keyspace::counters::is_float(&argv[2]))
        .then(|| Incr::Float(&argv[2]))
}

/// The field increment `argv` makes (HINCRBY, HINCRBYFLOAT), None for other commands.
fn hash_increment_of(argv: &[Bytes]) -> Option<(&[u8], Incr<'_>)> {
    let name = argv.first()?;
    if argv.len() != 4 {
        return None;
    }
    let inc = if name.eq_ignore_ascii_case(b"hincrby") {
        Incr::Int(crate::util::numeric::string2ll(&argv[3])?)
    } else if name.eq_ignore_ascii_case(b"hincrbyfloat") && crate::keyspace::counters::is_float(&argv[3]) {
        Incr::Float(&argv[3])
    } else {
        return None;
    };
    Some((&argv[2], inc))
}

/// Whether an increment of `field` of hash `key` merges by its field state (HINCRBYFLOAT
/// then propagates as itself, not as Redis's HSET of the result): always, unless the key
/// tracks [`crate::keyspace::counters::MAX_FIELDS`] other fields already.
pub fn merges_field(store: &Store, db: usize, key: &[u8], field: &[u8]) -> bool {
    store.dbs[db].counters.hash(key).is_none_or(|h| h.has_room() || h.fields.contains_key(field))
}

/// The key a write sets in another database: MOVE key db, COPY src dst DB db.
fn other_db_target(argv: &[Bytes], databases: usize) -> Option<(usize, &Bytes)> {
    let db = |a: &Bytes| crate::util::numeric::string2ll(a).filter(|&d| d >= 0 && (d as usize) < databases);
    let name = argv.first()?;
    if name.eq_ignore_ascii_case(b"move") && argv.len() == 3 {
        return Some((db(&argv[2])? as usize, &argv[1]));
    }
    if name.eq_ignore_ascii_case(b"copy") && argv.len() > 3 {
        let i = argv[3..].iter().position(|a| a.eq_ignore_ascii_case(b"db"))? + 3;
        return Some((db(argv.get(i + 1)?)? as usize, &argv[2]));
    }
    None
}

/// Whether `argv` changes only a key's TTL (not an overwrite of a counter's value).
fn is_ttl_only(argv: &[Bytes]) -> bool {
    let n = &argv[0];
    ["expire", "pexpire", "expireat", "pexpireat", "persist"].iter().any(|c| n.eq_ignore_ascii_case(c.as_bytes()))
}

/// The amount an increment adds (INCR, INCRBY, DECR, DECRBY), None for other commands.
fn counter_delta(argv: &[Bytes]) -> Option<i64> {
    let name = argv.first()?;
    let arg = || argv.get(2).and_then(|n| crate::util::numeric::string2ll(n));
    if name.eq_ignore_ascii_case(b"incr") && argv.len() == 2 {
        Some(1)
    } else if name.eq_ignore_ascii_case(b"decr") && argv.len() == 2 {
        Some(-1)
    } else if name.eq_ignore_ascii_case(b"incrby") && argv.len() == 3 {
        arg()
    } else if name.eq_ignore_ascii_case(b"decrby") && argv.len() == 3 {
        arg().and_then(i64::checked_neg)
    } else {
        None
    }
}

/// Asks for a state frame for `key` of `db` (see [`send_state`]). The frames go out at
/// the end of the batch ([`flush_reasserts`], from `Store::flush_stream_consumers`), one per
/// key whatever the number of conflicts on it in the batch: under sustained concurrent
/// writes to a big collection a frame per conflict would send its whole value per write.
pub fn reassert(store: &mut Store, db: usize, key: &[u8]) {
    let a = &mut store.repl.active;
    if a.reasserts.len() < MAX_REASSERTS_QUEUED && a.reassert_set.insert((db, Bytes::copy_from_slice(key))) {
        a.reasserts.push((db, Bytes::copy_from_slice(key)));
    }
}

/// Most keys waiting for their state frame (beyond, anti-entropy repairs the rest).
pub const MAX_REASSERTS_QUEUED: usize = 100_000;

/// Sends the state frames [`reassert`] queued.
pub fn flush_reasserts(store: &mut Store) {
    let queued = std::mem::take(&mut store.repl.active.reasserts);
    store.repl.active.reassert_set.clear();
    for (db, key) in queued {
        send_state(store, db, &key);
    }
}

/// The state of `key` of `db` as one command and its stamp: `RESTORE key pxat dump
/// REPLACE ABSTTL` for a live key, `DEL key` with its tombstone's stamp for a deleted one;
/// None for a key this node never heard of (stamp 0).
fn state_command(store: &Store, db: usize, key: &[u8]) -> Option<(Vec<Bytes>, u64)> {
    let key = Bytes::copy_from_slice(key);
    match store.dbs[db].peek(&key) {
        Some(e) => {
            let dump = crate::persistence::rdb::save::dump_payload(&e.val, store.cfg.rdbcompression);
            let ttl = if e.has_expire() { e.expire } else { 0 };
            Some((
                vec![
                    Bytes::from_static(b"RESTORE"),
                    key,
                    Bytes::from(ttl.to_string()),
                    Bytes::from(dump),
                    Bytes::from_static(b"REPLACE"),
                    Bytes::from_static(b"ABSTTL"),
                ],
                e.mvcc,
            ))
        }
        None => match store.dbs[db].tombs.stamp(&key) {
            0 => None,
            m => Some((vec![Bytes::from_static(b"DEL"), key], m)),
        },
    }
}

/// Appends a state frame for `key` of `db` to our stream: its whole value, TTL and
/// stamp, or a DEL with its tombstone's stamp, and its counter state if it has one.
fn send_state(store: &mut Store, db: usize, key: &[u8]) {
    let Some((argv, mvcc)) = state_command(store, db, key) else { return };
    if mvcc < store.dbs[db].tombs.horizon && store.dbs[db].peek(key).is_none() {
        return; // a deletion our peers may have forgotten too: nothing to re-assert
    }
    let mut trailer = b"s:".to_vec();
    state_trailer(store, db, key, &mut trailer);
    store.repl.active.stats.states_sent += 1;
    // A state frame is for the peers only: the AOF and the plain replicas have this state.
    store.stream.append_peer_frame(db, mvcc, &argv, &trailer);
}

/// Records a key's counter and field states in the AOF (after a peer's increment or a
/// merge changed them): the key's state command preceded by `#ctrs:` / `#hctrs:`
/// annotations with the states, which the AOF loader puts back
/// ([`crate::persistence::aof`]).
/// The plain replicas get the state command.
fn log_counter_state(store: &mut Store, db: usize, key: &[u8]) {
    if !store.stream.keeps_applied() {
        return;
    }
    let Some(note) = states_note(store, db, key, None) else { return };
    let Some((argv, mvcc)) = state_command(store, db, key) else { return };
    store.stream.append_aof_noted(db, mvcc, &argv, &note);
}

/// Records a peer's increment of `field` of hash `key` in the AOF: `HSET key field
/// <value>` at the key's stamp, preceded by the key's states (of that field only: the
/// loader sets the states it names). Where the field holds no value of a hash, the key's
/// whole state.
fn log_field_state(store: &mut Store, db: usize, key: &[u8], field: &[u8]) {
    if !store.stream.has_aof() {
        return;
    }
    let value = store.dbs[db].peek(key).and_then(|e| match &e.val {
        crate::keyspace::Value::Hash(h) => h.get(field).map(|v| (v.with_bytes(Bytes::copy_from_slice), e.mvcc)),
        _ => None,
    });
    let Some((value, mvcc)) = value else { return log_counter_state(store, db, key) };
    let Some(note) = states_note(store, db, key, Some(field)) else { return };
    let argv = [Bytes::from_static(b"HSET"), Bytes::copy_from_slice(key), Bytes::copy_from_slice(field), value];
    store.stream.append_aof_noted(db, mvcc, &argv, &note);
}

/// The AOF annotation lines of `key`'s states: `#ctrs:<counter state>` and
/// `#hctrs:<field states>` (of `field` alone when given); None if it has neither.
pub fn states_note(store: &Store, db: usize, key: &[u8], field: Option<&[u8]>) -> Option<Vec<u8>> {
    let c = &store.dbs[db].counters;
    let mut note = Vec::new();
    if let Some(ctr) = c.get(key) {
        note.extend_from_slice(b"#ctrs:");
        ctr.encode(&mut note);
    }
    if let Some(h) = c.hash(key) {
        if !note.is_empty() {
            note.extend_from_slice(b"\r\n");
        }
        note.extend_from_slice(b"#hctrs:");
        match field {
            Some(f) => h.encode_one(f, &mut note),
            None => h.encode(&mut note),
        }
    }
    (!note.is_empty()).then_some(note)
}

/// A state frame's trailer after its `s:`: the key's counter state, then `|` and its
/// field states if it has them.
fn state_trailer(store: &Store, db: usize, key: &[u8], out: &mut Vec<u8>) {
    let c = &store.dbs[db].counters;
    if let Some(ctr) = c.get(key) {
        ctr.encode(out);
    }
    if let Some(h) = c.hash(key) {
        out.push(b'|');
        h.encode(out);
    }
}

/// What the link must do with a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Apply the payload with this stamp.
    Apply(u64),
    /// Nothing to apply (older, a duplicate, or waiting for the origin's state).
    Skip,
    /// An increment merged into the key's counter state: the key takes the value the
    /// state stands for, at this stamp (the newer of its and ours).
    Increment(u64),
    /// A counter key's state frame: merge it into ours.
    CounterState,
}

/// Decides what to do with a peer's frame whose payload is `argv` (the command `def`)
/// in database `db` (re-asserting our newer states on the way), before anything executes.
pub fn judge(
    store: &mut Store,
    frame: &Frame,
    def: &'static crate::commands::table::Command,
    argv: &[Bytes],
    db: usize,
) -> Verdict {
    let s = frame.mvcc;
    if frame.kind == Kind::Invalid {
        crate::log_warning!("Active replication: a peer's frame has a trailer that does not parse: not applied");
        return Verdict::Skip;
    }
    let keys = key_positions_of(def, argv);
    for &i in &keys {
        expire_before(store, db, &argv[i], s);
    }
    let locals: Vec<u64> = keys.iter().map(|&i| store.dbs[db].stamp(&argv[i])).collect();
    if keys.is_empty() {
        // Keyless writes (FLUSHDB, FLUSHALL, PUBLISH) carry their own rule (a flush
        // deletes only older keys): applied once, in order.
        return Verdict::Apply(s);
    }
    if keys.len() == 1 && !matches!(frame.kind, Kind::State(..)) {
        if let Some(inc) = increment_of(argv) {
            return judge_increment(store, frame, db, &argv[keys[0]], inc, locals[0]);
        }
        if let Some((field, inc)) = hash_increment_of(argv) {
            if let Some(v) = judge_field_increment(store, frame, db, &argv[keys[0]], field, inc, locals[0]) {
                return v;
            }
        }
    }
    match &frame.kind {
        Kind::Write(bases, ..) if bases.len() == keys.len() => {
            if bases.iter().zip(&locals).all(|(b, l)| b == l) {
                debug_assert!(locals.iter().all(|&l| l < s), "a write never lowers a key's stamp");
                if locals.iter().all(|&l| l < s) {
                    return Verdict::Apply(s);
                }
            }
            if locals.iter().all(|&l| l == s) {
                return Verdict::Skip; // we have this very state already
            }
            store.repl.active.stats.conflicts += 1;
            // Concurrent with one of ours: where our state is newer it is re-asserted;
            // where the incoming write is newer its origin's state frame settles it (the
            // origin re-asserts when our concurrent write reaches it; for a counter key,
            // when our increment reaches it).
            for (&i, &l) in keys.iter().zip(&locals) {
                if l > s {
                    reassert(store, db, &argv[i]);
                }
            }
            Verdict::Skip
        }
        Kind::State(..) if locals[0] == 0 && s < store.dbs[db].tombs.horizon => {
            // A state older than our tombstone horizon, of a key we have no trace of: we
            // may have deleted it and forgotten (`active-tombstone-lifetime`); it stays out.
            store.repl.active.stats.dropped_past_horizon += 1;
            Verdict::Skip
        }
        Kind::State(incoming, fields) => {
            let l = locals[0];
            let k = &argv[keys[0]];
            let ours = &store.dbs[db].counters;
            if incoming.is_some() || fields.is_some() || ours.get(k).is_some() || ours.hash(k).is_some() {
                return Verdict::CounterState;
            }
            if s > l {
                store.repl.active.stats.states_applied += 1;
                Verdict::Apply(s)
            } else {
                if l > s {
                    reassert(store, db, &argv[keys[0]]);
                }
                Verdict::Skip
            }
        }
        _ => {
            if locals.iter().all(|&l| l < s) {
                Verdict::Apply(s)
            } else {
                store.repl.active.stats.frames_superseded += 1;
                Verdict::Skip
            }
        }
    }
}

/// A peer's increment of `key` by `delta` (local stamp `l`): its origin's total goes into
/// the key's counter state (a total we have already is a duplicate, skipped). A KeyDB
/// peer sends no total: its increments count one by one.
fn judge_increment(store: &mut Store, frame: &Frame, db: usize, key: &[u8], inc: Incr<'_>, l: u64) -> Verdict {
    let s = frame.mvcc;
    let base = match &frame.kind {
        Kind::Write(bases, ..) => bases.first().copied(),
        _ => None,
    };
    let before = base_of(store, db, key);
    let c = store.dbs[db].counters.entry(key, || Counter::adopt(l, before));
    let given = match &frame.kind {
        Kind::Write(_, Some(p), _) => Some(p),
        _ => None,
    };
    let part = peer_part(c, frame, inc, given);
    // Our state holds an overwrite the origin had not seen when it incremented: the
    // origin needs our state (it adds its increment on top of it, as we do).
    let ours_unseen = base.is_some_and(|b| c.base_stamp > b);
    let changed = c.set_part(&part);
    let stats = &mut store.repl.active.stats;
    if base.is_some_and(|b| b != l) {
        stats.conflicts += 1;
    }
    if ours_unseen {
        reassert(store, db, key);
    }
    if changed {
        store.repl.active.stats.counters_merged += 1;
        Verdict::Increment(s.max(l))
    } else {
        store.repl.active.stats.counters_duplicate += 1;
        Verdict::Skip
    }
}

/// The part of a peer's increment (`given` by its frame) as of the frame's stamp; a KeyDB
/// peer's increment has none of its own: it adds to its origin's part in `c`.
fn peer_part(c: &Counter, frame: &Frame, inc: Incr<'_>, given: Option<&Part>) -> Part {
    let mut p = match given {
        Some(p) => p.clone(),
        None => {
            let mut p = c.part(origin_of(&frame.origin));
            match inc {
                Incr::Int(d) => p.total = p.total.wrapping_add(d),
                Incr::Float(f) => {
                    p.ftotal = Some(crate::keyspace::counters::float_add(p.ftotal.as_deref(), f).into_boxed_slice())
                }
            }
            p
        }
    };
    p.stamp = frame.mvcc.max(1);
    p
}

/// A peer's increment of `field` of hash `key` (local stamp `l`), merged into the field's
/// state as [`judge_increment`] merges a counter's; None when the increment does not merge
/// (its origin did not merge it, or the key holds all the field states it may): it is then
/// judged as any write by its bases.
///
/// The key's stamp: a field's increment changes that field only, so the key takes the
/// increment's stamp (the newer of it and ours) when both nodes hold the same content
/// (same bases, or the same content stamp: concurrent increments only). Otherwise the
/// nodes made concurrent writes of the content; ours keeps its stamp, and the newest
/// content reaches both nodes by state frames (ours when it is the newer): a key taking a
/// newer stamp with its own older content would look equal to the peer's key with the
/// other content.
#[allow(clippy::too_many_arguments)]
fn judge_field_increment(
    store: &mut Store,
    frame: &Frame,
    db: usize,
    key: &[u8],
    field: &[u8],
    inc: Incr<'_>,
    l: u64,
) -> Option<Verdict> {
    let s = frame.mvcc;
    let (base, part, content) = match &frame.kind {
        Kind::Write(bases, Some(p), c) => (bases.first().copied(), Some(p), *c),
        // A KeyDB peer's (no part of its own): it adds to its origin's.
        Kind::Plain => (None, None, None),
        _ => return None,
    };
    let before = field_base(store, db, key, field);
    let held = store.dbs[db].counters.hash(key).map_or(0, |h| h.fields.len());
    let tracked = store.dbs[db].counters.hash(key).is_some_and(|h| h.fields.contains_key(field));
    if !tracked && held >= crate::keyspace::counters::MAX_FIELDS_HELD {
        return None;
    }
    // Our content as of the origin's when we had its state (same bases), else our stamp.
    let ours = if base == Some(l) { content.unwrap_or(l) } else { l };
    let h = store.dbs[db].counters.hash_entry(key, || HashCounter::new(ours));
    let same = base.is_none() || base == Some(l) || content == Some(h.content);
    let c = h.field_or_adopt(field, || before)?;
    let part = peer_part(c, frame, inc, part);
    // Our field state holds an overwrite the origin had not seen: it needs our state.
    let ours_unseen = base.is_some_and(|b| c.base_stamp > b);
    let changed = c.set_part(&part);
    if base.is_some_and(|b| b != l) {
        store.repl.active.stats.conflicts += 1;
    }
    if ours_unseen || (!same && l > s) {
        reassert(store, db, key);
    }
    Some(if changed {
        store.repl.active.stats.counters_merged += 1;
        Verdict::Increment(if same { s.max(l) } else { l.max(1) })
    } else {
        store.repl.active.stats.counters_duplicate += 1;
        Verdict::Skip
    })
}

/// Applies one peer frame under the store lock: judged, then executed through `call()`
/// as a `Source::Peer` write with the origin's stamp. A command that fails here (a type
/// conflict the newest-write rule settles later) is logged at verbose level.
pub fn apply_frame(shared: &Shared, store: &mut Store, client: &mut Client, out: &mut Reply, frame: &Frame) {
    // Judged and settled as of the frame's time (`as_of`), as `call()` runs it.
    let outer = std::mem::replace(&mut store.source, Source::Peer { mvcc: frame.mvcc });
    apply_frame_as_peer(shared, store, client, out, frame);
    store.source = outer;
}

fn apply_frame_as_peer(shared: &Shared, store: &mut Store, client: &mut Client, out: &mut Reply, frame: &Frame) {
    if frame.origin == store.repl.active.uuid {
        // Our own write, echoed by a peer that forwards everything (KeyDB).
        store.repl.active.stats.own_frames_dropped += 1;
        return;
    }
    let Some(argv) = parse_payload(&frame.payload) else {
        crate::log_warning!("Active replication: a peer sent an RREPLAY frame whose payload is not a command");
        return;
    };
    let db = frame.db.unwrap_or(client.db);
    client.db = db;
    let Ok(cmd) = crate::commands::call::resolve(CommandTable::get(), &argv) else {
        crate::log_warning!(
            "Active replication: a peer sent a command this node does not know: '{}'",
            String::from_utf8_lossy(&argv[0][..argv[0].len().min(64)])
        );
        return;
    };
    if cmd.def.flags & (flags::WRITE | flags::MAY_REPLICATE) == 0 {
        return; // only writes replicate (a peer may forward PING and the like)
    }
    if crate::keyspace::clock::mvcc_to_ms(frame.mvcc) > store.now_ms().saturating_add(MAX_STAMP_AHEAD_MS) {
        crate::log_warning!(
            "Active replication: a peer's write carries a stamp more than a day ahead ({}): applied as unstamped",
            frame.mvcc
        );
        let mut f = frame.clone();
        f.mvcc = 0;
        f.kind = Kind::Plain;
        return apply_frame(shared, store, client, out, &f);
    }
    // Our clock never runs behind a stamp we have seen.
    store.clock.observe(frame.mvcc);
    if argv[0].eq_ignore_ascii_case(b"keydb.mvccrestore") {
        // It carries the key's own stamp and merges by it itself.
        run_peer(shared, store, client, out, &argv, frame.mvcc.max(1));
        store.repl.active.stats.frames_applied += 1;
        return;
    }
    match judge(store, frame, cmd.def, &argv, db) {
        Verdict::Skip => return,
        Verdict::Apply(m) => run_peer(shared, store, client, out, &argv, m),
        Verdict::Increment(m) => settle_increment(store, db, &argv, m),
        Verdict::CounterState => {
            let (incoming, fields) = match &frame.kind {
                Kind::State(c, h) => (c.clone(), h.clone()),
                _ => (None, None),
            };
            merge_counter_frame(shared, store, client, out, &argv, db, frame.mvcc, incoming, fields);
        }
    }
    store.repl.active.stats.frames_applied += 1;
}

/// A state frame (`argv`, stamped `s`) for a key with a counter state or field states:
/// the key's value and TTL are taken when newer, then the states merge and the key holds
/// what the merged states stand for. Our states go back to the peers when the frame
/// lacked some of them.
///
/// "Newer" is by the stamps of the contents, not of the keys: for a counter key, its last
/// overwrite's (a TTL change is one); for a hash with field states, the stamp of all but
/// the tracked fields (`HashCounter::content`). Increments do not make a value newer: a
/// TTL set on one node stays when the other incremented the key later, and so does an
/// HSET of a field when the other node incremented another one. A node that keeps its
/// newer content against a key stamp not older than its own gives the merge a fresh
/// stamp, newer than both (else both keys would have one stamp for two values, which
/// anti-entropy takes for equal).
#[allow(clippy::too_many_arguments)]
fn merge_counter_frame(
    shared: &Shared,
    store: &mut Store,
    client: &mut Client,
    out: &mut Reply,
    argv: &[Bytes],
    db: usize,
    s: u64,
    incoming: Option<Counter>,
    fields: Option<HashCounter>,
) {
    let key = argv[1].clone();
    let l = store.dbs[db].stamp(&key);
    // Ours, as they were before the frame (taken out of the map, so that the RESTORE/DEL
    // below is not taken for an overwrite): a key without a counter state had seen no
    // increment; a field without a state last changed with the key's content.
    let counter = match store.dbs[db].counters.remove(&key) {
        Some(c) => Some(c),
        None if incoming.is_some() => Some(Counter::adopt(l, base_of(store, db, &key))),
        None => None,
    };
    let mut ours = store.dbs[db].counters.remove_hash(&key);
    if let Some(inc) = &fields {
        let h = ours.get_or_insert_with(|| HashCounter::new(l));
        for f in inc.fields.keys() {
            if !h.fields.contains_key(f) {
                let b = field_base(store, db, &key, f);
                h.field_or_adopt(f, || b);
            }
        }
    }
    // Whose content the key keeps (a key without field states: all of it is content).
    // Whose value the key keeps: the newer content (for a counter key, its last
    // overwrite's; a key without states: all of it is content, stamped as the key).
    let (ours_c, theirs_c) = match (&ours, &counter) {
        (Some(h), _) => (h.content, fields.as_ref().map_or(s, |h| h.content)),
        (None, Some(c)) => (c.base_stamp, incoming.as_ref().map_or(s, |i| i.base_stamp)),
        (None, None) => (l, s),
    };
    let take = theirs_c > ours_c;
    if take {
        run_peer(shared, store, client, out, argv, s);
        store.repl.active.stats.states_applied += 1;
    }
    let mut lacks = l > s;
    let mut settle = false;
    if let Some(mut merged) = counter {
        let incoming = match incoming {
            Some(c) => Some(c),
            // A state that never counted: an overwrite that had seen no increment.
            None if take => Some(Counter::adopt(s, base_of(store, db, &key))),
            None => None,
        };
        if let Some(incoming) = incoming {
            merged.merge(&incoming);
            lacks |= merged != incoming;
            settle = true;
        }
        store.dbs[db].counters.set(&key, merged);
    }
    let mut m = s.max(l);
    if !take && theirs_c != ours_c {
        // Our content is the newer one: the peer needs it.
        lacks = true;
        if s >= l {
            m = store.clock.next(store.now_ms());
        }
    }
    if let Some(mut h) = ours {
        if take {
            // The content is the frame's; our fields it has no state of hold what its
            // value holds, as of its content (a key that never counted a field: its
            // write overwrote the whole key having seen none of our increments).
            h.content = theirs_c;
            let theirs = |f: &[u8]| fields.as_ref().is_some_and(|inc| inc.fields.contains_key(f));
            adopt_taken(store, db, &key, &mut h, theirs_c, theirs);
        }
        match &fields {
            Some(inc) => {
                h.merge_fields(inc);
                lacks |= h != *inc;
            }
            None => lacks |= !h.fields.is_empty(),
        }
        store.dbs[db].counters.set_hash(&key, h);
        settle = true;
    }
    if settle {
        settle_counter(store, db, &key, m, "restore");
        settle_fields(store, db, &key, m);
        raise_stamp(store, db, &key, m);
        log_counter_state(store, db, &key);
    }
    if lacks {
        reassert(store, db, &key);
    }
}

/// The key's stamp (or its tombstone's) becomes `m` if it is older.
fn raise_stamp(store: &mut Store, db: usize, key: &[u8], m: u64) {
    let old = store.dbs[db].ae_stamp(key);
    let d = &mut store.dbs[db];
    match d.peek_mut(key) {
        Some(e) => e.mvcc = e.mvcc.max(m),
        None if m > 0 => d.tombs.bury(key, m),
        None => {}
    }
    d.ae_moved(key, old);
}

/// Our field states (`h`) of a key whose value a peer's state (content stamp `content`)
/// just replaced: each field the peer has no state of (`theirs` false) merges what the
/// new value holds as an overwrite at the content's stamp that saw no increment.
fn adopt_taken(
    store: &Store,
    db: usize,
    key: &[u8],
    h: &mut HashCounter,
    content: u64,
    theirs: impl Fn(&[u8]) -> bool,
) {
    for (f, c) in h.fields.iter_mut() {
        if !theirs(f) {
            c.merge(&Counter::adopt(content, field_base(store, db, key, f)));
        }
    }
}

/// Every field of `key` that has a state holds what it stands for, the key stamped `m`
/// at least (a merge of states: the "restore" event of a change).
fn settle_fields(store: &mut Store, db: usize, key: &[u8], m: u64) {
    let Some(h) = store.dbs[db].counters.hash(key) else { return };
    let fields: Vec<Box<[u8]>> = h.fields.keys().cloned().collect();
    for f in fields {
        settle_field(store, db, key, &f, m, Some((crate::server::store::notify::GENERIC, "restore")));
    }
}

/// Makes `field` of hash `key` hold what its state stands for, the key stamped `m` at
/// least (a hash emptied is deleted, a field on a key that does not exist creates it);
/// `event` (class, name) is the keyspace event of a change (None: the command that
/// changed it sent its own). A key that is not a hash is left as it is (its fields'
/// states stand for Other).
fn settle_field(store: &mut Store, db: usize, key: &[u8], field: &[u8], m: u64, event: Option<(u32, &str)>) {
    use crate::keyspace::Value;
    let Some(value) = store.dbs[db].counters.hash(key).and_then(|h| h.fields.get(field)).map(Counter::value) else {
        return;
    };
    let bytes = match &value {
        Computed::Int(v) => Some(itoa::Buffer::new().format(*v).as_bytes().to_vec()),
        Computed::Float(f) => Some(f.clone()),
        Computed::Absent | Computed::Other => None,
    };
    let lim = crate::types::hash::Limits {
        entries: usize::try_from(store.cfg.hash_max_listpack_entries).unwrap_or(usize::MAX),
        value: usize::try_from(store.cfg.hash_max_listpack_value).unwrap_or(usize::MAX),
    };
    let old = store.dbs[db].ae_stamp(key);
    let m = m.max(store.dbs[db].stamp(key)).max(1);
    let (mut changed, mut emptied) = (false, false);
    match store.dbs[db].peek_mut(key) {
        Some(e) => {
            if let Value::Hash(h) = &mut e.val {
                if !holds(&value, &field_base_in(h, field)) {
                    match &bytes {
                        Some(b) => {
                            h.set(field, b, lim);
                            changed = true;
                        }
                        None if value == Computed::Absent => {
                            changed = h.delete(field);
                            emptied = h.is_empty();
                        }
                        None => {}
                    }
                }
            }
            e.mvcc = e.mvcc.max(m);
        }
        None => match &bytes {
            Some(b) => {
                let mut h = crate::types::hash::Hash::new();
                h.set(field, b, lim);
                store.set_key(db, key, Value::Hash(Box::new(h)), m, false);
                changed = true;
            }
            None => store.dbs[db].tombs.bury(key, m),
        },
    }
    if changed {
        store.watch.touch(db, key);
        if let Some((class, name)) = event {
            store.notify(class, name, key, db);
        }
        store.dirty += 1;
    }
    if emptied {
        if let Some(e) = store.dbs[db].remove(key) {
            crate::keyspace::lazyfree::free(e.val, true);
            store.watch.touch_deleted(db, key);
            store.notify(crate::server::store::notify::GENERIC, "del", key, db);
            store.dbs[db].tombs.bury(key, m);
        }
    }
    store.dbs[db].ae_moved(key, old);
}

/// A peer's increment merged ([`Verdict::Increment`]): the key (or the field) holds what
/// its state stands for, at stamp `m` at least, with the command's keyspace event, and the
/// AOF records it.
fn settle_increment(store: &mut Store, db: usize, argv: &[Bytes], m: u64) {
    let float = argv[0].len() > 5 && argv[0][argv[0].len() - 5..].eq_ignore_ascii_case(b"float");
    if let Some((field, _)) = hash_increment_of(argv) {
        let event = if float { "hincrbyfloat" } else { "hincrby" };
        settle_field(store, db, &argv[1], field, m, Some((crate::server::store::notify::HASH, event)));
        log_field_state(store, db, &argv[1], field);
    } else {
        settle_counter(store, db, &argv[1], m, if float { "incrbyfloat" } else { "incrby" });
        log_counter_state(store, db, &argv[1]);
    }
}

/// Makes a counter key hold what its state stands for, at stamp `m` (at least); `event`
/// names the keyspace event of a change.
fn settle_counter(store: &mut Store, db: usize, key: &[u8], m: u64, event: &str) {
    let Some(value) = store.dbs[db].counters.get(key).map(Counter::value) else { return };
    // The common case, a live integer that stays one: changed in place, one lookup.
    let d = &mut store.dbs[db];
    if let Some(e) = d.main.get_mut(key) {
        if let (Computed::Int(v), crate::keyspace::Value::Str(s)) = (&value, &mut e.val) {
            let old = e.mvcc;
            let changed = s.as_int() != Some(*v);
            if changed {
                *s = crate::keyspace::RStr::Int(*v);
            }
            e.mvcc = old.max(m);
            let new = e.mvcc;
            d.ae.update(key, old, new);
            if changed {
                store.watch.touch(db, key);
                if !event.is_empty() {
                    store.notify(crate::server::store::notify::STRING, event, key, db);
                }
                store.dirty += 1;
            }
            return;
        }
    }
    let old = store.dbs[db].ae_stamp(key);
    let m = m.max(store.dbs[db].stamp(key));
    if !holds(&value, &base_of(store, db, key)) {
        let set = |v: crate::keyspace::RStr| Some(crate::keyspace::Value::Str(v));
        let val = match &value {
            Computed::Int(v) => set(crate::keyspace::RStr::Int(*v)),
            Computed::Float(f) => set(crate::keyspace::RStr::from_bytes_no_int(f)),
            Computed::Absent | Computed::Other => None,
        };
        match val {
            Some(val) => {
                store.set_key(db, key, val, m, true);
                if !event.is_empty() {
                    store.notify(crate::server::store::notify::STRING, event, key, db);
                }
                store.dirty += 1;
            }
            None if value == Computed::Absent => {
                if let Some(e) = store.dbs[db].remove(key) {
                    crate::keyspace::lazyfree::free(e.val, true);
                    store.watch.touch_deleted(db, key);
                    store.notify(crate::server::store::notify::GENERIC, "del", key, db);
                    store.dirty += 1;
                }
            }
            None => {}
        }
    }
    let d = &mut store.dbs[db];
    match d.peek_mut(key) {
        Some(e) => e.mvcc = e.mvcc.max(m),
        None => d.tombs.bury(key, m.max(1)),
    }
    d.ae_moved(key, old);
}

/// Executes a peer's command with stamp `mvcc`.
fn run_peer(shared: &Shared, store: &mut Store, client: &mut Client, out: &mut Reply, argv: &[Bytes], mvcc: u64) {
    crate::commands::call::call(shared, store, client, out, argv, Source::Peer { mvcc });
    if out.buf.first() == Some(&b'-') {
        let line = String::from_utf8_lossy(&out.buf[..out.buf.len().min(256)]).trim_end().to_string();
        crate::log_verbose!("Active replication: a peer's write failed here: {line}");
    }
    out.buf.clear();
    let _ = out.take_errors();
}

/// The arguments of a frame's payload (one RESP multibulk), None if it is not one.
pub fn parse_payload(payload: &Bytes) -> Option<Vec<Bytes>> {
    let mut buf = bytes::BytesMut::from(&payload[..]);
    let mut parser = crate::protocol::Parser::new();
    let lim = crate::protocol::ParseLimits { max_bulk_len: i64::MAX, authenticated: true, is_master: true };
    let mut argv = Vec::new();
    match parser.next_command(&mut buf, &lim, &mut argv) {
        Ok(true) if !argv.is_empty() && buf.is_empty() => Some(argv),
        _ => None,
    }
}

/// RREPLAY from something that is not a master link (`replicaReplayCommand`'s check):
/// the link task applies frames itself ([`apply_frame`]); a client never may.
pub fn rreplay_command(ctx: &mut Ctx) {
    ctx.out.error("Command must be sent from a master");
}

/// What a merged snapshot changed.
#[derive(Debug, Default)]
pub struct Merged {
    /// Keys (and tombstones) of the snapshot newer than ours, taken.
    pub taken: u64,
    /// Keys of the snapshot not newer than ours, left as we have them.
    pub kept: u64,
    /// Counter states merged.
    pub counters: u64,
}

/// Keys merged per lock acquisition: clients and other links wait at most this many
/// key insertions (a few ms) while a large snapshot merges.
const MERGE_STEP: usize = 10_000;

/// Merges a peer's snapshot into our data (active mode's full sync): per key the newest
/// stamp wins, tombstones and flushes included, in bounded steps under the lock while
/// clients and other links keep writing. Err if the link changed meanwhile.
pub async fn merge_snapshot(
    shared: &std::sync::Arc<Shared>,
    gen: u64,
    keys: Vec<crate::persistence::rdb::file::LoadedKey>,
    mut info: crate::persistence::rdb::file::LoadInfo,
) -> Result<Merged, String> {
    let mut merged = Merged::default();
    // The snapshot's counter states merge after its keys; a key they name keeps its own
    // state meanwhile (adopted before the key is replaced, see `keep_counter`).
    let counters: std::collections::HashMap<(usize, Vec<u8>), Counter> =
        std::mem::take(&mut info.counters).into_iter().map(|(db, k, c)| ((db, k), c)).collect();
    let hashes: std::collections::HashMap<(usize, Vec<u8>), HashCounter> =
        std::mem::take(&mut info.hash_counters).into_iter().map(|(db, k, h)| ((db, k), h)).collect();
    let from_fluidb = info.aux.iter().any(|(k, _)| k == crate::persistence::rdb::file::AUX_FLUIDB_VER.as_bytes());
    // The peer forgot deletions older than its horizons: what it has of each database
    // (keys and tombstones, by a hash of the name) tells which of our older keys it lacks.
    let horizons: Vec<(usize, u64)> = info.horizons.iter().copied().filter(|&(_, h)| h > 0).collect();
    let theirs: std::collections::HashSet<(usize, u64)> = if horizons.is_empty() {
        Default::default()
    } else {
        let name = |db: usize, k: &[u8]| (db, crate::keyspace::db::Segments::key_hash(k));
        keys.iter().map(|k| name(k.db, &k.key)).chain(info.tombs.iter().map(|(db, k, _)| name(*db, k))).collect()
    };
    let states = Replaced { incoming: &counters, fields: &hashes, from_fluidb };
    {
        let mut st = shared.lock_store();
        if st.repl.link_gen != gen {
            return Err("master changed during the sync".into());
        }
        for &(db, stamp) in &info.flushed {
            st.clock.observe(stamp);
            flush_older(&mut st, db, stamp, true);
        }
        for (db, key, stamp) in &info.tombs {
            let (db, s) = (*db, *stamp);
            st.clock.observe(s);
            states.keep(&mut st, db, key);
            let l = st.dbs[db].stamp(key);
            let rule = states.content_rule(&st, db, key, s);
            if rule.unwrap_or(s > l) {
                let old = st.dbs[db].ae_stamp(key);
                delete_for_merge(&mut st, db, key);
                st.dbs[db].tombs.bury(key, s);
                st.dbs[db].ae_moved(key, old);
                states.replaced(&mut st, db, key, s);
                raise_stamp(&mut st, db, key, l);
                plain_state(&mut st, db, key);
                merged.taken += 1;
            } else if rule.is_some() {
                states.kept(&mut st, db, key, s, l);
            }
        }
    }
    let now = crate::util::time::unix_ms();
    let mut it = keys.into_iter();
    loop {
        let chunk: Vec<_> = it.by_ref().take(MERGE_STEP).collect();
        if chunk.is_empty() {
            break;
        }
        {
            let mut st = shared.lock_store();
            if st.repl.link_gen != gen {
                return Err("master changed during the sync".into());
            }
            for k in chunk {
                states.keep(&mut st, k.db, &k.key);
                let (db, s) = (k.db, k.mvcc.unwrap_or(1).max(1));
                let rule = states.content_rule(&st, db, &k.key, s);
                // (A copy of the name only where it is needed after the merge.)
                let needed = !st.dbs[db].counters.is_empty() || st.stream.plain_tap.is_some();
                let tracked = needed.then(|| (k.key.clone(), st.dbs[db].stamp(&k.key)));
                if merge_key(&mut st, k, now, &mut merged, rule) {
                    if let Some((key, l)) = tracked {
                        states.replaced(&mut st, db, &key, s);
                        raise_stamp(&mut st, db, &key, l);
                        plain_state(&mut st, db, &key);
                    }
                } else if let (Some(_), Some((key, l))) = (rule, tracked) {
                    states.kept(&mut st, db, &key, s, l);
                }
            }
            if st.blocking.has_ready() {
                crate::server::blocking::serve_ready(shared, &mut st);
            }
            st.flush_stream_consumers();
        }
        tokio::task::yield_now().await;
    }
    let mut st = shared.lock_store();
    if st.repl.link_gen != gen {
        return Err("master changed during the sync".into());
    }
    for &(db, horizon) in &horizons {
        merged.taken += drop_past_horizon(&mut st, db, horizon, &theirs) as u64;
    }
    for ((db, key), incoming) in counters {
        let mut c = st.dbs[db].counters.remove(&key).unwrap_or_else(|| incoming.clone());
        c.merge(&incoming);
        let lacks = c != incoming;
        st.clock.observe(c.stamp());
        st.dbs[db].counters.set(&key, c);
        settle_counter(&mut st, db, &key, 0, "restore");
        plain_state(&mut st, db, &key);
        if lacks {
            reassert(&mut st, db, &key);
        }
        merged.counters += 1;
    }
    for ((db, key), incoming) in hashes {
        // Our field states (their content set when the key was taken) and the snapshot's.
        let mut h = st.dbs[db].counters.remove_hash(&key).unwrap_or_else(|| incoming.clone());
        h.merge_fields(&incoming);
        let lacks = h != incoming;
        st.clock.observe(h.stamp());
        st.dbs[db].counters.set_hash(&key, h);
        settle_fields(&mut st, db, &key, 0);
        plain_state(&mut st, db, &key);
        if lacks {
            reassert(&mut st, db, &key);
        }
        merged.counters += 1;
    }
    if (merged.taken > 0 || merged.counters > 0) && st.aof.is_some() {
        // The merged keys reach the AOF through a rewrite (they are not in its
        // increments); until it is done, the peer still holds them.
        st.aofrw.scheduled = true;
    }
    Ok(merged)
}

/// What a snapshot merge does to our counter and field states of the keys it replaces.
struct Replaced<'a> {
    /// The snapshot's own counter states (merged after its keys).
    incoming: &'a std::collections::HashMap<(usize, Vec<u8>), Counter>,
    /// The snapshot's own field states (merged after its keys).
    fields: &'a std::collections::HashMap<(usize, Vec<u8>), HashCounter>,
    /// The snapshot is fluidB's: it has a counter state for every key its node saw an
    /// increment of.
    from_fluidb: bool,
}

impl Replaced<'_> {
    /// The snapshot's state of `key` (stamped `s`) replaced ours, and the snapshot has no
    /// counter state for it while we have one. From a fluidB peer, that is an overwrite
    /// that had seen none of our increments (the same as its live frame would be, merged
    /// as such); from KeyDB, whose values include the increments we sent it, an overwrite
    /// that saw them all. The key then holds what the state stands for.
    fn replaced(&self, st: &mut Store, db: usize, key: &[u8], s: u64) {
        self.replaced_fields(st, db, key, s);
        if st.dbs[db].counters.get(key).is_none() || self.incoming.contains_key(&(db, key.to_vec())) {
            return;
        }
        let base = base_of(st, db, key);
        let Some(c) = st.dbs[db].counters.get_mut(key) else { return };
        if self.from_fluidb {
            c.merge(&Counter::adopt(s, base));
        } else {
            c.rebase(s, base);
        }
        settle_counter(st, db, key, s, "restore");
        reassert(st, db, key);
    }

    /// [`Self::replaced`] for our field states: the key's content is the snapshot's;
    /// our fields it has no state of hold what its value holds (as [`merge_counter_frame`]
    /// takes a state frame; from KeyDB, as an overwrite that saw our increments).
    fn replaced_fields(&self, st: &mut Store, db: usize, key: &[u8], s: u64) {
        let Some(mut h) = st.dbs[db].counters.remove_hash(key) else { return };
        match self.fields.get(&(db, key.to_vec())) {
            Some(inc) => {
                h.content = inc.content;
                adopt_taken(st, db, key, &mut h, inc.content, |f| inc.fields.contains_key(f));
                st.dbs[db].counters.set_hash(key, h);
                // Settled once the snapshot's field states are merged.
                return;
            }
            None if self.from_fluidb => {
                h.content = s;
                adopt_taken(st, db, key, &mut h, s, |_| false);
            }
            None => h.overwrite(s, |f| field_base(st, db, key, f)),
        }
        st.dbs[db].counters.set_hash(key, h);
        settle_fields(st, db, key, s);
        reassert(st, db, key);
    }

    /// For a key with field states (ours or the snapshot's): whether the snapshot's value
    /// replaces ours, by the stamps of the contents, as [`merge_counter_frame`] decides
    /// (field increments do not make a hash newer). None for other keys (by the stamps).
    fn content_rule(&self, st: &Store, db: usize, key: &[u8], s: u64) -> Option<bool> {
        let ours = st.dbs[db].counters.hash(key);
        if ours.is_none() && self.fields.is_empty() {
            return None;
        }
        let theirs = self.fields.get(&(db, key.to_vec()));
        if ours.is_none() && theirs.is_none() {
            return None;
        }
        let ours_c = ours.map_or_else(|| st.dbs[db].stamp(key), |h| h.content);
        Some(theirs.map_or(s, |h| h.content) > ours_c)
    }

    /// A key with field states kept against the snapshot's (stamped `s`; ours `l`): with
    /// the same content it takes the newer stamp; with a newer one it goes back to the
    /// peer, under a new stamp where the snapshot's is not older (see
    /// [`merge_counter_frame`]).
    fn kept(&self, st: &mut Store, db: usize, key: &[u8], s: u64, l: u64) {
        let Some(h) = st.dbs[db].counters.hash(key) else { return };
        let theirs_c = self.fields.get(&(db, key.to_vec())).map_or(s, |h| h.content);
        if theirs_c == h.content {
            raise_stamp(st, db, key, s);
            return;
        }
        if s >= l {
            let m = st.clock.next(st.now_ms());
            raise_stamp(st, db, key, m);
        }
        reassert(st, db, key);
    }

    /// Before a snapshot's key replaces ours: if the snapshot has a counter state (or field
    /// states) for it and we have none, ours is adopted now from the key we hold (it had
    /// seen no increment), so the merge of the states counts our overwrite too.
    fn keep(&self, st: &mut Store, db: usize, key: &[u8]) {
        if self.incoming.is_empty() && self.fields.is_empty() {
            return;
        }
        let l = st.dbs[db].stamp(key);
        if l == 0 {
            return;
        }
        let id = (db, key.to_vec());
        if st.dbs[db].counters.get(key).is_none() && self.incoming.contains_key(&id) {
            let c = Counter::adopt(l, base_of(st, db, key));
            st.dbs[db].counters.set(key, c);
        }
        if let Some(inc) = self.fields.get(&id) {
            let mut h = st.dbs[db].counters.remove_hash(key).unwrap_or_else(|| HashCounter::new(l));
            for f in inc.fields.keys() {
                if !h.fields.contains_key(f) {
                    let b = field_base(st, db, key, f);
                    h.field_or_adopt(f, || b);
                }
            }
            st.dbs[db].counters.set_hash(key, h);
        }
    }
}

/// After a full-sync merge: our keys of `db` older than the peer's tombstone `horizon`
/// that its snapshot lacks (`theirs`: database and name hash of what it holds) were
/// deleted there and the deletion forgotten, or never reached it within the lifetime:
/// they go (the contract's rule for a node rejoining after more than the lifetime), on
/// this node, its AOF (through the rewrite a merge schedules) and its plain replicas.
fn drop_past_horizon(
    st: &mut Store,
    db: usize,
    horizon: u64,
    theirs: &std::collections::HashSet<(usize, u64)>,
) -> usize {
    let gone: Vec<Bytes> = st.dbs[db]
        .main
        .iter()
        .filter(|(k, e)| e.mvcc < horizon && !theirs.contains(&(db, crate::keyspace::db::Segments::key_hash(k))))
        .map(|(k, _)| Bytes::copy_from_slice(k))
        .collect();
    for k in &gone {
        let old = st.dbs[db].ae_stamp(k);
        delete_for_merge(st, db, k);
        st.dbs[db].ae.update(k, old, 0);
        st.dbs[db].counters.remove(k);
        st.stream.append_plain_only(db, &[Bytes::from_static(b"DEL"), k.clone()]);
    }
    if !gone.is_empty() {
        st.repl.active.stats.dropped_past_horizon += gone.len() as u64;
        crate::log_notice!(
            "Active replica: {} keys of db {db} older than the master's tombstone horizon were missing there \
(deleted and forgotten, see active-tombstone-lifetime): dropped here too",
            gone.len()
        );
    }
    gone.len()
}

/// Merges one key of a peer's snapshot; true if it replaced ours.
/// `take` decides instead of the stamps when given (a hash with field states: by the
/// stamps of the contents, see [`Replaced::content_rule`]).
fn merge_key(
    st: &mut Store,
    k: crate::persistence::rdb::file::LoadedKey,
    now: i64,
    merged: &mut Merged,
    take: Option<bool>,
) -> bool {
    // A key without a stamp (a plain master's snapshot) is the oldest possible write: it
    // fills only a key we never heard of.
    let s = k.mvcc.unwrap_or(1).max(1);
    st.clock.observe(s);
    let db = k.db;
    let l = st.dbs[db].stamp(&k.key);
    if !take.unwrap_or(s > l) {
        merged.kept += 1;
        return false;
    }
    if l == 0 && k.mvcc.is_some() && s < st.dbs[db].tombs.horizon {
        // Older than our horizon and unknown here: we may have deleted it and forgotten.
        st.repl.active.stats.dropped_past_horizon += 1;
        return false;
    }
    merged.taken += 1;
    let old = st.dbs[db].ae_stamp(&k.key);
    delete_for_merge(st, db, &k.key);
    if k.expire != crate::keyspace::db::NO_EXPIRE && k.expire <= now {
        // Expired by now: deleted by its expiry, stamped as every node stamps it
        // (`Store::delete_expired`).
        let at = crate::keyspace::clock::mvcc_from_ms(k.expire).max(s);
        st.clock.observe(at);
        st.dbs[db].tombs.bury(&k.key, at);
        st.dbs[db].ae_moved(&k.key, old);
        return true;
    }
    let wakes = matches!(k.val, crate::keyspace::Value::List(_) | crate::keyspace::Value::ZSet(_));
    let mut e = crate::keyspace::Entry::new(k.val, s, st.new_key_field());
    e.expire = k.expire;
    st.dbs[db].insert(&k.key, e);
    st.dbs[db].ae_moved(&k.key, old);
    st.watch.touch(db, &k.key);
    if wakes {
        st.signal_key_ready(db, &k.key);
    }
    true
}

/// Removes a key a merge replaces (WATCH sees the change; a big value is freed off the
/// lock).
fn delete_for_merge(st: &mut Store, db: usize, key: &[u8]) {
    if let Some(e) = st.dbs[db].remove(key) {
        crate::keyspace::lazyfree::free(e.val, true);
        st.watch.touch_deleted(db, key);
    }
}

/// A flush stamped `mvcc` in active mode: the keys of `db` older than it are deleted,
/// newer ones stay, and it is remembered so that older writes arriving later count as
/// deleted (`Tombstones::flushed`). Returns the keys deleted.
pub fn flush_older(st: &mut Store, db: usize, mvcc: u64, async_free: bool) -> usize {
    st.dbs[db].tombs.flush(mvcc);
    {
        // Keys newer than the flush (live, or deleted after it) keep their states.
        let d = &mut st.dbs[db];
        let (main, tombs) = (&d.main, &d.tombs);
        d.counters.flushed(mvcc, |k| {
            main.get(k).is_some_and(|e| e.mvcc >= mvcc) || tombs.keys.get(k).is_some_and(|&t| t > mvcc)
        });
    }
    st.dbs[db].invalidate_ae();
    let older: Vec<Bytes> =
        st.dbs[db].main.iter().filter(|(_, e)| e.mvcc < mvcc).map(|(k, _)| Bytes::copy_from_slice(k)).collect();
    for k in &older {
        if let Some(e) = st.dbs[db].remove(k) {
            crate::keyspace::lazyfree::free(e.val, async_free);
            st.watch.touch_deleted(db, k);
        }
        // (A snapshot's flush reaches the plain replicas key by key.)
        st.stream.append_plain_only(db, &[Bytes::from_static(b"DEL"), k.clone()]);
    }
    older.len()
}

/// KEYDB.MVCCRESTORE key mvcc expire payload: KeyDB re-sends each key it merged from a full
/// sync this way. The key is replaced when its stamp here is older than `mvcc` (equal is
/// the same state), keeping `mvcc` as its stamp; `expire` is an absolute unix time in ms
/// (KeyDB sends i64::MAX for none). The payload is a DUMP payload (KeyDB appends an
/// `mvcc-tstamp` field after the value, which is skipped).
pub fn mvccrestore_command(ctx: &mut Ctx) {
    let Some(mvcc) = parse_mvcc(&ctx.argv[2]) else {
        return ctx.out.error("Invalid MVCC Tstamp");
    };
    let Some(expire) = crate::util::numeric::string2ll(&ctx.argv[3]) else {
        return ctx.out.error(crate::commands::call::err::NOT_INT);
    };
    let skip = ctx.source != Source::Client || ctx.store.skip_checksum_validation;
    let Some(body) = crate::persistence::rdb::load::verify_dump_payload(&ctx.argv[4], skip) else {
        return ctx.out.error("DUMP payload version or checksum are wrong");
    };
    let lim = crate::persistence::rdb::load::Limits::from_config(&ctx.store.cfg);
    let Ok(val) = crate::persistence::rdb::load::read_dump_object(body, &lim) else {
        return ctx.out.error("Bad data format");
    };
    let (db, key) = (ctx.db(), ctx.argv[1].clone());
    if mvcc == 0 || ctx.store.dbs[db].stamp(&key) >= mvcc {
        return ctx.out.ok();
    }
    ctx.store.clock.observe(mvcc);
    ctx.store.set_key(db, &key, val, mvcc, false);
    if expire >= 0 && expire != i64::MAX {
        ctx.store.set_expire(db, &key, expire, mvcc);
    }
    ctx.dirty(1);
    ctx.out.ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mvcc_parses_as_strtoull() {
        assert_eq!(parse_mvcc(b"123"), Some(123));
        assert_eq!(parse_mvcc(b" 4"), Some(4));
        assert_eq!(parse_mvcc(b"1.5"), Some(1));
        assert_eq!(parse_mvcc(b"3abc"), Some(3));
        assert_eq!(parse_mvcc(b"-1"), Some(u64::MAX));
        assert_eq!(parse_mvcc(b"99999999999999999999999"), Some(u64::MAX));
        assert_eq!(parse_mvcc(b"x"), None);
        assert_eq!(parse_mvcc(b""), None);
    }

    #[test]
    fn uuids_round_trip_and_reject_garbage() {
        let u = new_uuid();
        assert_eq!(parse_uuid(&u), Some(u));
        assert_eq!(
            parse_uuid(b"6F1C1A3E-4A6B-4C1D-9E2F-0123456789AB").map(|u| u.to_vec()),
            Some(b"6f1c1a3e-4a6b-4c1d-9e2f-0123456789ab".to_vec())
        );
        assert_eq!(parse_uuid(b"not-a-uuid"), None);
        assert_eq!(parse_uuid(b"6f1c1a3e4a6b-4c1d-9e2f-0123456789ab-"), None);
        assert!(node_tag(&u) < 1024);
        assert_eq!(origin_of(b"6f1c1a3e-4a6b-4c1d-9e2f-0123456789ab"), 0x6f1c_1a3e_4a6b_4c1d);
    }

    #[test]
    fn frames_and_trailers_parse() {
        let u = new_uuid();
        let argv: Vec<Bytes> = [&u[..], b"*1\r\n$4\r\nPING\r\n", b"3", b"77", b"w:1,0,5"]
            .iter()
            .map(|a| Bytes::copy_from_slice(a))
            .collect();
        let mut full = vec![Bytes::from_static(b"RREPLAY")];
        full.extend(argv);
        let f = parse_frame(&full, 16).expect("frame");
        assert_eq!((f.db, f.mvcc, f.kind), (Some(3), 77, Kind::Write(vec![1, 0, 5], None, None)));
        full[3] = Bytes::from_static(b"16");
        assert_eq!(parse_frame(&full, 16).err(), Some("Invalid database ID"));
        full[3] = Bytes::from_static(b"0");
        full[4] = Bytes::from_static(b"x");
        assert_eq!(parse_frame(&full, 16).err(), Some("Invalid MVCC Timestamp"));
        full[1] = Bytes::from_static(b"nope");
        assert_eq!(parse_frame(&full, 16).err(), Some("Expected UUID arg1"));
        assert_eq!(parse_trailer(b"s:"), Kind::State(None, None));
        assert_eq!(parse_trailer(b"w:"), Kind::Write(vec![], None, None));
        let part =
            |total, ftotal: Option<&[u8]>| Part { origin: 0x1f, total, ftotal: ftotal.map(Into::into), stamp: 0 };
        assert_eq!(parse_trailer(b"w:7/1f:-3"), Kind::Write(vec![7], Some(part(-3, None)), None));
        assert_eq!(parse_trailer(b"w:7/1f:2,0.5"), Kind::Write(vec![7], Some(part(2, Some(b"0.5"))), None));
        // A hash field's increment: the key's content stamp after `@`.
        assert_eq!(parse_trailer(b"w:7/1f:-3@5"), Kind::Write(vec![7], Some(part(-3, None)), Some(5)));
        assert_eq!(parse_trailer(b"w:7/1f:2,0.5@6"), Kind::Write(vec![7], Some(part(2, Some(b"0.5"))), Some(6)));
        assert_eq!(parse_trailer(b"w:7/1f:2@"), Kind::Invalid);
        assert_eq!(parse_trailer(b"w:7/1f:2@x"), Kind::Invalid);
        assert_eq!(parse_trailer(b"w:7/1f:2,0.5@6@7"), Kind::Invalid);
        assert_eq!(parse_trailer(b"w:7/1f:2,x"), Kind::Invalid);
        assert_eq!(parse_trailer(b"w:7/x"), Kind::Invalid);
        assert_eq!(parse_trailer(b"w:7/1f"), Kind::Invalid);
        assert_eq!(parse_trailer(b"s:1 q 0 0"), Kind::Invalid);
        let mut t = Vec::new();
        write_trailer(&mut t, &[7, 8], Some(&Part { origin: 0xab, total: 5, ftotal: None, stamp: 0 }));
        assert_eq!(t, b"w:7,8/ab:5");
        let mut c = Counter::adopt(5, Base::Int(1));
        c.incr(9, 2, 6);
        let mut t = b"s:".to_vec();
        c.encode(&mut t);
        assert_eq!(parse_trailer(&t), Kind::State(Some(c.clone()), None));
        // Field states after `|`, with or without a counter state before.
        let mut h = HashCounter::new(4);
        if let Some(f) = h.field_or_adopt(b"f\x00", || Base::Int(2)) {
            f.incr(9, 3, 7);
        }
        t.push(b'|');
        h.encode(&mut t);
        assert_eq!(parse_trailer(&t), Kind::State(Some(c.clone()), Some(h.clone())));
        let mut t = b"s:|".to_vec();
        h.encode(&mut t);
        assert_eq!(t, b"s:|4|6600=4 i2 0 1 9 3 7");
        assert_eq!(parse_trailer(&t), Kind::State(None, Some(h)));
        assert_eq!(parse_trailer(b"s:|4|66=junk"), Kind::State(None, None));
        assert_eq!(parse_trailer(b"w:1,x"), Kind::Invalid);
        assert_eq!(parse_trailer(b"zz"), Kind::Plain);
    }
}
