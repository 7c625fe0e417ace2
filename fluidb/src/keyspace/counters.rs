//! The merge state of counter keys in active replication (contract point 4: increments
//! made concurrently on different nodes all count, also across full syncs and restarts).
//!
//! A counter key keeps, beside its value, what makes the value mergeable: the last
//! *overwrite* (SET, DEL, ...: its stamp, what it set, and how much of each node's
//! increments it had seen) and, per origin node, the total of all the increments that
//! node ever made to the key with the stamp of its latest. Each origin's total only
//! grows at that origin, one increment after the other, so of two copies of it the one
//! with the later stamp includes the other. Two states merge by taking the newer
//! overwrite and, per origin, the later total; the value is then
//!
//! ```text
//!     overwrite's value + Σ over origins of (total - total the overwrite had seen)
//! ```
//!
//! which is Redis Enterprise's rule: an overwrite resets the increments it had seen, and
//! the increments it had not seen are added on top of it. The merge is commutative,
//! associative and idempotent, so nodes exchanging states in any order, any number of
//! times (state frames, snapshots, anti-entropy) end equal.
//!
//! A key gets a state on its first increment in active mode ([`Counter::adopt`]) and
//! keeps it as long as it exists or is remembered deleted (a state is what a tombstone
//! is for a counter: a later concurrent increment must know which increments a delete
//! had seen).

use std::collections::{BTreeMap, HashMap};

/// A node, as counter states name it: the first 64 bits of its UUID.
pub type Origin = u64;

/// Most origins one counter key records (a limit on everything: a state is a few
/// hundred bytes at most); beyond, the origin with the oldest total is forgotten, which
/// can only lose that node's increments older than every other node's latest.
pub const MAX_ORIGINS: usize = 64;

/// One origin's increments to a key: their sum since the key's state began (integer
/// increments in `total`, INCRBYFLOAT's in `ftotal` as Redis formats a long double), and
/// the stamp of the latest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub origin: Origin,
    pub total: i64,
    pub ftotal: Option<Box<[u8]>>,
    pub stamp: u64,
}

/// What an overwrite left in the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// Nothing (a DEL, a flush, or a key never written): an increment starts from 0.
    Absent,
    /// Nothing, because the key expired at the base stamp (its TTL as a stamp). Unlike a
    /// command's overwrite, which saw what its node had received, an expiry happens at one
    /// time on every node: it saw exactly the increments stamped before it, including the
    /// ones a node receives only after its own copy of the key expired
    /// ([`Counter::see_expired`]). This is what makes a rate limiter (INCR + EXPIRE) start
    /// again from 0 on every node alike.
    Expired,
    /// An integer an increment adds to.
    Int(i64),
    /// A string that is a float (not an integer): INCRBYFLOAT adds to it.
    Float(Box<[u8]>),
    /// Anything else (a string that is not an integer, a list...): increments fail on
    /// it, on every node alike, so they do not change it.
    Other,
}

/// A counter key's merge state (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// Stamp of the last overwrite (for an adopted key, the key's stamp then).
    pub base_stamp: u64,
    pub base: Base,
    /// Each origin's total as the overwrite saw it, sorted by origin.
    pub seen: Vec<Part>,
    /// Each origin's total now, sorted by origin.
    pub totals: Vec<Part>,
}

/// The value a state stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Computed {
    /// The key does not exist.
    Absent,
    /// The key holds this integer.
    Int(i64),
    /// The key holds this float, formatted as Redis's INCRBYFLOAT formats it.
    Float(Vec<u8>),
    /// The key holds the overwrite's non-integer value, untouched.
    Other,
}

/// `a + b` as Redis's INCRBYFLOAT computes and formats it (long double); `a` None is 0.
/// A sum that is not finite (or an operand that is not a float, which the callers rule
/// out) leaves `a` as it was, the same way on every node.
pub fn float_add(a: Option<&[u8]>, b: &[u8]) -> Vec<u8> {
    match crate::util::ldouble::incrbyfloat(a, b) {
        Ok(v) => v,
        Err(_) => a.map_or_else(|| b"0".to_vec(), <[u8]>::to_vec),
    }
}

/// `-f` for a float in Redis's format.
fn negate(f: &[u8]) -> Vec<u8> {
    match f.strip_prefix(b"-") {
        Some(pos) => pos.to_vec(),
        None => [b"-", f].concat(),
    }
}

/// Whether `f` is a float INCRBYFLOAT accepts (and has no space or comma: the text form's
/// separators).
pub fn is_float(f: &[u8]) -> bool {
    !f.is_empty()
        && f.len() < 64
        && !f.contains(&b' ')
        && !f.contains(&b',')
        && crate::util::ldouble::string2ld_valid(f)
}

/// A total order on bases, for ties of equal stamps (any order, the same on every node).
fn base_order(b: &Base) -> (u8, Vec<u8>) {
    match b {
        Base::Absent => (0, Vec::new()),
        Base::Int(v) => (1, v.to_be_bytes().to_vec()),
        Base::Float(f) => (2, f.to_vec()),
        Base::Other => (3, Vec::new()),
        Base::Expired => (4, Vec::new()),
    }
}

fn find(list: &[Part], o: Origin) -> Result<usize, usize> {
    list.binary_search_by_key(&o, |p| p.origin)
}

/// Puts `p` into `list` if it is later than what the list has for its origin; true if it
/// changed the list.
fn put_later(list: &mut Vec<Part>, p: &Part) -> bool {
    match find(list, p.origin) {
        Ok(i) if list[i].stamp >= p.stamp => false,
        Ok(i) => {
            list[i] = p.clone();
            true
        }
        Err(i) => {
            list.insert(i, p.clone());
            if list.len() > MAX_ORIGINS {
                let oldest = list.iter().enumerate().min_by_key(|(_, p)| p.stamp).map_or(0, |(i, _)| i);
                list.remove(oldest);
            }
            true
        }
    }
}

impl Counter {
    /// The state of a key that had none: its current state counts as an overwrite that
    /// had seen no increment (both nodes adopt a key they agree on the same way).
    pub fn adopt(stamp: u64, base: Base) -> Counter {
        Counter { base_stamp: stamp, base, seen: Vec::new(), totals: Vec::new() }
    }

    /// The part of origin `o`'s increments the overwrite had not seen: their integer
    /// sum and their float sum (None if the origin made no INCRBYFLOAT).
    fn unseen(&self, o: Origin) -> (i64, Option<Vec<u8>>) {
        let Ok(i) = find(&self.totals, o) else { return (0, None) };
        let t = &self.totals[i];
        let seen = match find(&self.seen, o) {
            Ok(j) if self.seen[j].stamp >= t.stamp => return (0, None),
            Ok(j) => Some(&self.seen[j]),
            Err(_) => None,
        };
        let int = t.total.wrapping_sub(seen.map_or(0, |p| p.total));
        let float = t.ftotal.as_deref().map(|f| match seen.and_then(|p| p.ftotal.as_deref()) {
            Some(sf) => float_add(Some(f), &negate(sf)),
            None => f.to_vec(),
        });
        (int, float)
    }

    /// Whether some origin made an increment the overwrite had not seen.
    fn any_unseen(&self) -> bool {
        self.totals.iter().any(|t| match find(&self.seen, t.origin) {
            Ok(j) => self.seen[j].stamp < t.stamp,
            Err(_) => true,
        })
    }

    /// The value the state stands for. Sums wrap as two's complement would on every
    /// node alike (an overflow that INCR refuses locally cannot come from one origin;
    /// only concurrent increments of several can add up past it).
    pub fn value(&self) -> Computed {
        let floats = matches!(self.base, Base::Float(_)) || self.totals.iter().any(|t| t.ftotal.is_some());
        if !floats {
            let sum = self.totals.iter().fold(0i64, |s, t| s.wrapping_add(self.unseen(t.origin).0));
            return match self.base {
                Base::Other | Base::Float(_) => Computed::Other,
                Base::Int(v) => Computed::Int(v.wrapping_add(sum)),
                Base::Absent | Base::Expired if self.any_unseen() => Computed::Int(sum),
                Base::Absent | Base::Expired => Computed::Absent,
            };
        }
        // With INCRBYFLOAT: long double sums as Redis's INCRBYFLOAT makes them, origin by
        // origin in their order, so every node formats the same bytes.
        let mut v: Option<Vec<u8>> = match &self.base {
            Base::Other => return Computed::Other,
            Base::Absent | Base::Expired if !self.any_unseen() => return Computed::Absent,
            Base::Absent | Base::Expired => None,
            Base::Int(i) => Some(itoa::Buffer::new().format(*i).as_bytes().to_vec()),
            Base::Float(f) => Some(f.to_vec()),
        };
        for t in &self.totals {
            let (int, float) = self.unseen(t.origin);
            if int != 0 {
                v = Some(float_add(v.as_deref(), itoa::Buffer::new().format(int).as_bytes()));
            }
            if let Some(f) = float {
                v = Some(float_add(v.as_deref(), &f));
            }
        }
        Computed::Float(v.unwrap_or_else(|| b"0".to_vec()))
    }

    /// The latest stamp the state knows of (its overwrite's or an increment's).
    pub fn stamp(&self) -> u64 {
        self.totals.iter().map(|t| t.stamp).fold(self.base_stamp, u64::max)
    }

    /// The part of origin `o` (all zero if it made none).
    pub fn part(&self, o: Origin) -> Part {
        find(&self.totals, o).map_or(Part { origin: o, total: 0, ftotal: None, stamp: 0 }, |i| self.totals[i].clone())
    }

    /// The integer total of origin `o` (0 if it made none).
    pub fn total(&self, o: Origin) -> i64 {
        find(&self.totals, o).map_or(0, |i| self.totals[i].total)
    }

    /// The stamp of origin `o`'s latest increment (0 if none).
    pub fn last_stamp(&self, o: Origin) -> u64 {
        find(&self.totals, o).map_or(0, |i| self.totals[i].stamp)
    }

    /// An increment by `delta` of origin `o` stamped `stamp` (this node's own, or a peer's
    /// without a total: a KeyDB frame). Returns the origin's new total.
    pub fn incr(&mut self, o: Origin, delta: i64, stamp: u64) -> Part {
        let mut p = self.part(o);
        p.total = p.total.wrapping_add(delta);
        p.stamp = stamp;
        self.set_part(&p);
        p
    }

    /// An INCRBYFLOAT by `delta` (a float as its argument was) of origin `o`. Returns the
    /// origin's new part.
    pub fn incr_float(&mut self, o: Origin, delta: &[u8], stamp: u64) -> Part {
        let mut p = self.part(o);
        p.ftotal = Some(float_add(p.ftotal.as_deref(), delta).into_boxed_slice());
        p.stamp = stamp;
        self.set_part(&p);
        p
    }

    /// Origin `o`'s totals are `p`'s as of `p.stamp` (a peer's increment frame). False if
    /// the state had that increment already (a duplicate).
    pub fn set_part(&mut self, p: &Part) -> bool {
        // Made before the key expired: seen by the expiry, whenever it arrives.
        let seen = self.base == Base::Expired && p.stamp <= self.base_stamp && put_later(&mut self.seen, p);
        if self.last_stamp(p.origin) >= p.stamp {
            return seen;
        }
        let changed = put_later(&mut self.totals, p);
        self.see_expired();
        changed || seen
    }

    /// [`Self::set_part`] for an origin's integer total.
    pub fn set_total(&mut self, o: Origin, total: i64, stamp: u64) -> bool {
        let ftotal = self.part(o).ftotal;
        self.set_part(&Part { origin: o, total, ftotal, stamp })
    }

    /// An overwrite stamped `stamp` left `base`: every increment known so far is seen.
    pub fn rebase(&mut self, stamp: u64, base: Base) {
        self.base_stamp = stamp;
        self.base = base;
        self.seen.clone_from(&self.totals);
    }

    /// The key expired at `stamp` (its TTL as a stamp; a later overwrite stays): every
    /// increment stamped before it is seen, whenever it arrives.
    pub fn expire(&mut self, stamp: u64) {
        if stamp <= self.base_stamp {
            return;
        }
        self.base_stamp = stamp;
        self.base = Base::Expired;
        self.seen.clone_from(&self.totals);
        self.see_expired();
    }

    /// Under an expiry, the totals stamped before it count as seen (an increment made
    /// before the key expired, received after this node's copy of the key expired).
    fn see_expired(&mut self) {
        if self.base != Base::Expired {
            return;
        }
        let before: Vec<Part> = self.totals.iter().filter(|t| t.stamp <= self.base_stamp).cloned().collect();
        for t in &before {
            put_later(&mut self.seen, t);
        }
    }

    /// Merges `other` into this state (the join: newer overwrite, later totals). True if
    /// this state changed.
    pub fn merge(&mut self, other: &Counter) -> bool {
        let mut changed = false;
        // Two different overwrites at one stamp (a state adopted from a key one node had
        // already expired and the other not): the same one wins on every node.
        let tie_won = other.base_stamp == self.base_stamp
            && other.base != self.base
            && base_order(&other.base) > base_order(&self.base);
        let mut replaced_seen = Vec::new();
        if other.base_stamp > self.base_stamp || tie_won {
            self.base_stamp = other.base_stamp;
            self.base = other.base.clone();
            replaced_seen = std::mem::replace(&mut self.seen, other.seen.clone());
            changed = true;
        } else if other.base_stamp == self.base_stamp && other.base == self.base {
            // The same overwrite: the same seen totals (taken per origin by stamp, so a
            // disagreement still ends the same on both sides).
            for p in &other.seen {
                changed |= put_later(&mut self.seen, p);
            }
        }
        if self.base == Base::Expired {
            // Every total either side knew of stamped before the expiry is seen, also one
            // a later total has since replaced (the merge stays order-independent).
            for p in other.totals.iter().chain(&other.seen).chain(&replaced_seen) {
                if p.stamp <= self.base_stamp {
                    changed |= put_later(&mut self.seen, p);
                }
            }
        }
        for p in &other.totals {
            changed |= put_later(&mut self.totals, p);
        }
        self.see_expired();
        changed
    }

    /// Text form, for RDB AUX fields, AOF annotations and state frames:
    /// `<base stamp> <base> <n> (<origin hex> <total>[,<float total>] <stamp>)*n <m>
    /// (...)*m`, the base being `a`, `x` (expired), `o`, `i<integer>` or `f<float>`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let _ = write!(out, "{} ", self.base_stamp);
        match &self.base {
            Base::Absent => out.push(b'a'),
            Base::Expired => out.push(b'x'),
            Base::Other => out.push(b'o'),
            Base::Int(v) => {
                let _ = write!(out, "i{v}");
            }
            Base::Float(f) => {
                out.push(b'f');
                out.extend_from_slice(f);
            }
        }
        for list in [&self.seen, &self.totals] {
            let _ = write!(out, " {}", list.len());
            for p in list {
                let _ = write!(out, " {:x} {}", p.origin, p.total);
                if let Some(f) = &p.ftotal {
                    out.push(b',');
                    out.extend_from_slice(f);
                }
                let _ = write!(out, " {}", p.stamp);
            }
        }
    }

    /// Parses [`Self::encode`]'s form; None for anything else (never trusts a count: at
    /// most [`MAX_ORIGINS`] per list, sorted, one per origin).
    pub fn decode(s: &[u8]) -> Option<Counter> {
        let s = std::str::from_utf8(s).ok()?;
        let mut it = s.split(' ');
        let base_stamp: u64 = it.next()?.parse().ok()?;
        let base = match it.next()? {
            "a" => Base::Absent,
            "x" => Base::Expired,
            "o" => Base::Other,
            b => match b.strip_prefix('f') {
                Some(f) if is_float(f.as_bytes()) => Base::Float(f.as_bytes().into()),
                Some(_) => return None,
                None => Base::Int(b.strip_prefix('i')?.parse().ok()?),
            },
        };
        let mut list = || -> Option<Vec<Part>> {
            let n: usize = it.next()?.parse().ok()?;
            if n > MAX_ORIGINS {
                return None;
            }
            let mut v: Vec<Part> = Vec::with_capacity(n);
            for _ in 0..n {
                let origin = u64::from_str_radix(it.next()?, 16).ok()?;
                let tok = it.next()?;
                let (total, ftotal) = match tok.split_once(',') {
                    Some((t, f)) if is_float(f.as_bytes()) => (t.parse().ok()?, Some(f.as_bytes().into())),
                    Some(_) => return None,
                    None => (tok.parse().ok()?, None),
                };
                let stamp = it.next()?.parse().ok()?;
                if v.last().is_some_and(|p: &Part| p.origin >= origin) {
                    return None;
                }
                v.push(Part { origin, total, ftotal, stamp });
            }
            Some(v)
        };
        let seen = list()?;
        let totals = list()?;
        if it.next().is_some() {
            return None;
        }
        let mut c = Counter { base_stamp, base, seen, totals };
        c.see_expired();
        Some(c)
    }
}

/// Most fields of one hash key whose increments a node starts merging (HINCRBY,
/// HINCRBYFLOAT: a field state each). Beyond, a node's increment of a further field is an
/// ordinary hash write (the newest write wins the whole hash, as for HSET), until the
/// key's states are gone. A field state is about 100-150 bytes plus the field's name.
pub const MAX_FIELDS: usize = 1024;

/// Most field states one hash key holds, received ones included: each node starts at
/// most [`MAX_FIELDS`], so nodes that started fields concurrently can hold more between
/// them. A text form with more is refused; a merge drops the fields beyond (never
/// reached by fewer than 4 nodes).
pub const MAX_FIELDS_HELD: usize = 4 * MAX_FIELDS;

/// A hash key's merge state: a [`Counter`] per field incremented in active mode, and
/// the stamp of the key's *content*, everything else the key holds (its untracked fields,
/// its TTL, its type).
///
/// A field state is a counter state whose overwrites are the writes of that field (HSET,
/// HSETNX, HDEL of it) and every write of the whole key (DEL, RESTORE, RENAME onto it,
/// expiry...); HSET of another field leaves it. The content is not merged: the newest
/// write of the key wins it, as for any hash write; the tracked fields then hold what
/// their states stand for. Field increments do not change the content, so two nodes
/// that only incremented fields concurrently have the same content stamp: that is how a
/// node knows it may take a peer's increment at the peer's stamp
/// (`replication::active`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashCounter {
    /// Stamp of the key's last write that was not a tracked field's increment (for an
    /// adopted key, the key's stamp then).
    pub content: u64,
    /// The field states, by field name (sorted: the text form is canonical).
    pub fields: BTreeMap<Box<[u8]>, Counter>,
}

impl HashCounter {
    /// The state of a hash key that had none, its content as of stamp `content`.
    pub fn new(content: u64) -> HashCounter {
        HashCounter { content, fields: BTreeMap::new() }
    }

    /// Whether this node may start tracking one more field.
    pub fn has_room(&self) -> bool {
        self.fields.len() < MAX_FIELDS
    }

    /// The latest stamp the state knows of.
    pub fn stamp(&self) -> u64 {
        self.fields.values().map(Counter::stamp).fold(self.content, u64::max)
    }

    /// The state of `field`, adopted (see [`Counter::adopt`]) at the content's stamp with
    /// `base` (what the field holds) if it has none: an untracked field last changed with
    /// the content. None if the key holds [`MAX_FIELDS_HELD`] states already.
    pub fn field_or_adopt(&mut self, field: &[u8], base: impl FnOnce() -> Base) -> Option<&mut Counter> {
        if !self.fields.contains_key(field) {
            if self.fields.len() >= MAX_FIELDS_HELD {
                return None;
            }
            self.fields.insert(field.into(), Counter::adopt(self.content, base()));
        }
        self.fields.get_mut(field)
    }

    /// Merges `other`'s field states into these (the join of each field's; a field only
    /// one side has is taken as it is: the caller adopts ours first where the key holds
    /// a value for it). The content is the caller's (it goes with the key's value). True
    /// if a field state changed.
    pub fn merge_fields(&mut self, other: &HashCounter) -> bool {
        let mut changed = false;
        for (f, c) in &other.fields {
            let held = self.fields.len();
            match self.fields.get_mut(f) {
                Some(mine) => changed |= mine.merge(c),
                None if held < MAX_FIELDS_HELD => {
                    self.fields.insert(f.clone(), c.clone());
                    changed = true;
                }
                None => {}
            }
        }
        changed
    }

    /// Takes `other`'s content stamp and its field states (the others stay): what an AOF
    /// annotation records.
    pub fn assign(&mut self, other: HashCounter) {
        self.content = other.content;
        for (f, c) in other.fields {
            if self.fields.len() < MAX_FIELDS_HELD || self.fields.contains_key(&f) {
                self.fields.insert(f, c);
            }
        }
    }

    /// A write of the whole key stamped `stamp`: the content changes and every field is
    /// overwritten with what `base` says it holds now.
    pub fn overwrite(&mut self, stamp: u64, base: impl Fn(&[u8]) -> Base) {
        self.content = stamp;
        for (f, c) in self.fields.iter_mut() {
            c.rebase(stamp, base(f));
        }
    }

    /// The key expired at `stamp` (see [`Counter::expire`]): so did every field. The
    /// content stamp stays (an expiry is a function of the content and the time).
    pub fn expire(&mut self, stamp: u64) {
        for c in self.fields.values_mut() {
            c.expire(stamp);
        }
    }

    /// Text form, for state frames, RDB AUX fields and AOF annotations: `<content>` then
    /// `|<field as lowercase hex>=<field state>` per field in field order (a counter
    /// state's text has neither `|` nor `=`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(itoa::Buffer::new().format(self.content).as_bytes());
        for (f, c) in &self.fields {
            encode_field(f, c, out);
        }
    }

    /// The text form with one field only (`field` must be one of ours).
    pub fn encode_one(&self, field: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(itoa::Buffer::new().format(self.content).as_bytes());
        if let Some(c) = self.fields.get(field) {
            encode_field(field, c, out);
        }
    }

    /// Parses [`Self::encode`]'s form; None for anything else (lowercase hex only, fields
    /// strictly sorted, at most [`MAX_FIELDS_HELD`] of them).
    pub fn decode(s: &[u8]) -> Option<HashCounter> {
        let mut parts = s.split(|&c| c == b'|');
        let content = parse_stamp(parts.next()?)?;
        let mut h = HashCounter::new(content);
        let mut last: Option<Box<[u8]>> = None;
        for p in parts {
            if h.fields.len() >= MAX_FIELDS_HELD {
                return None;
            }
            let eq = p.iter().position(|&c| c == b'=')?;
            let field: Box<[u8]> = unhex(&p[..eq])?.into();
            if last.as_ref().is_some_and(|l| *l >= field) {
                return None;
            }
            let c = Counter::decode(&p[eq + 1..])?;
            last = Some(field.clone());
            h.fields.insert(field, c);
        }
        Some(h)
    }
}

/// One field of [`HashCounter::encode`]'s form: `|<hex field>=<state>`.
fn encode_field(f: &[u8], c: &Counter, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'|');
    for &b in f {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
    out.push(b'=');
    c.encode(out);
}

/// A decimal u64 (digits only).
fn parse_stamp(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Lowercase hex to bytes; None for an odd length or another character.
fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let d = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.chunks_exact(2).map(|p| Some(d(p[0])? << 4 | d(p[1])?)).collect()
}

pub type StateMap<V> = HashMap<Box<[u8]>, V, ahash::RandomState>;

/// `m[key]` (no hashing at all while the map is empty: most databases have no state).
#[inline]
fn lookup<'a, V>(m: &'a StateMap<V>, key: &[u8]) -> Option<&'a V> {
    if m.is_empty() {
        return None;
    }
    m.get(key)
}

#[inline]
fn lookup_mut<'a, V>(m: &'a mut StateMap<V>, key: &[u8]) -> Option<&'a mut V> {
    if m.is_empty() {
        return None;
    }
    m.get_mut(key)
}

/// `m[key]`, made by `init` if absent (no allocation for a key that has one: this is on
/// every increment's path).
fn entry_in<'a, V>(m: &'a mut StateMap<V>, key: &[u8], init: impl FnOnce() -> V) -> &'a mut V {
    if !m.contains_key(key) {
        m.insert(key.into(), init());
    }
    m.get_mut(key).expect("inserted above")
}

/// The counter states of one database's keys (live or deleted): string counters in
/// `map`, hash keys' field states in `hashes` (a key may have both: a counter deleted and
/// recreated as a hash). Hashed with `ahash` (as the keyspace): an increment looks its
/// key up here once or twice.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub map: StateMap<Counter>,
    pub hashes: StateMap<HashCounter>,
}

impl Counters {
    /// No state at all (neither counters nor hash field states).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.hashes.is_empty()
    }
    /// Keys with a counter state.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// The field states of hash `key`.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> Option<&HashCounter> {
        lookup(&self.hashes, key)
    }
    #[inline]
    pub fn hash_mut(&mut self, key: &[u8]) -> Option<&mut HashCounter> {
        lookup_mut(&mut self.hashes, key)
    }
    /// The field states of `key`, made by `init` if it has none.
    pub fn hash_entry(&mut self, key: &[u8], init: impl FnOnce() -> HashCounter) -> &mut HashCounter {
        entry_in(&mut self.hashes, key, init)
    }
    pub fn set_hash(&mut self, key: &[u8], h: HashCounter) {
        self.hashes.insert(key.into(), h);
    }
    pub fn remove_hash(&mut self, key: &[u8]) -> Option<HashCounter> {
        self.hashes.remove(key)
    }
    /// Field states held, over all hash keys.
    pub fn fields(&self) -> usize {
        self.hashes.values().map(|h| h.fields.len()).sum()
    }
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&Counter> {
        lookup(&self.map, key)
    }
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Counter> {
        lookup_mut(&mut self.map, key)
    }
    /// The state of `key`, made by `init` if it has none.
    pub fn entry(&mut self, key: &[u8], init: impl FnOnce() -> Counter) -> &mut Counter {
        entry_in(&mut self.map, key, init)
    }
    pub fn set(&mut self, key: &[u8], c: Counter) {
        self.map.insert(key.into(), c);
    }
    pub fn remove(&mut self, key: &[u8]) -> Option<Counter> {
        self.map.remove(key)
    }
    /// The database was flushed at `stamp`: for every key the flush deleted (`survives`
    /// says which it did not), it is an overwrite that left the key absent, having seen
    /// all the increments known here.
    pub fn flushed(&mut self, stamp: u64, survives: impl Fn(&[u8]) -> bool) {
        for (k, c) in self.map.iter_mut() {
            if c.stamp() < stamp && !survives(k) {
                c.rebase(stamp, Base::Absent);
            }
        }
        for (k, h) in self.hashes.iter_mut() {
            if h.stamp() < stamp && !survives(k) {
                h.overwrite(stamp, |_| Base::Absent);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One step of a simulated replica set: replica `r` increments (by an integer or a
    /// float), overwrites, or merges another replica's state as it is now.
    #[derive(Debug, Clone)]
    enum Step {
        Incr(usize, i64),
        IncrFloat(usize, u8),
        Overwrite(usize, Option<i64>),
        /// The key expires at a stamp a little in the past of the replica's clock.
        Expire(usize, u8),
        Merge(usize, usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..3usize, -5i64..5).prop_map(|(r, d)| Step::Incr(r, d)),
            (0..3usize, 0u8..4).prop_map(|(r, f)| Step::IncrFloat(r, f)),
            (0..3usize, proptest::option::of(-50i64..50)).prop_map(|(r, v)| Step::Overwrite(r, v)),
            (0..3usize, 0u8..4).prop_map(|(r, back)| Step::Expire(r, back)),
            (0..3usize, 0..3usize).prop_map(|(r, from)| Step::Merge(r, from)),
        ]
    }

    proptest! {
        /// However the replicas' writes interleave and whatever states they exchanged on
        /// the way, merging every final state into every other, in any order, ends with
        /// the same state and value everywhere (the merge is a join: commutative,
        /// associative, idempotent).
        #[test]
        fn replicas_converge_in_any_merge_order(steps in proptest::collection::vec(step(), 0..60), order in Just(()).prop_perturb(|_, mut rng| {
            let mut v: Vec<usize> = (0..3).collect();
            for i in (1..3).rev() { v.swap(i, (rng.next_u32() as usize) % (i + 1)); }
            v
        })) {
            let mut reps = vec![Counter::adopt(1, Base::Int(10)); 3];
            let mut clock = 1u64;
            let floats: [&[u8]; 4] = [b"0.5", b"-1.25", b"2", b"0.1"];
            // Without overwrites and floats, the model is plain: every increment counts once.
            let (mut sum, mut plain) = (10i64, true);
            let mut ttl: Option<u64> = None;
            for st in steps {
                clock += 1;
                // A replica acting after the TTL finds the key expired first (as a node
                // expires a key before it applies a write stamped after its TTL).
                let acting = match st { Step::Incr(r, _) | Step::IncrFloat(r, _) | Step::Overwrite(r, _) | Step::Expire(r, _) | Step::Merge(r, _) => r };
                if let Some(at) = ttl {
                    reps[acting].expire(at);
                }
                match st {
                    Step::Incr(r, d) => { reps[r].incr(r as Origin + 1, d, clock); sum += d; }
                    Step::IncrFloat(r, f) => { reps[r].incr_float(r as Origin + 1, floats[f as usize], clock); plain = false; }
                    Step::Overwrite(r, v) => { reps[r].rebase(clock, v.map_or(Base::Absent, Base::Int)); plain = false; }
                    Step::Expire(r, back) => {
                        // The key's TTL (one for all: a TTL is replicated like any write),
                        // reached first on replica r.
                        let at = *ttl.get_or_insert(clock - u64::from(back).min(clock - 1));
                        reps[r].expire(at);
                        plain = false;
                    }
                    Step::Merge(r, from) => { let other = reps[from].clone(); reps[r].merge(&other); }
                }
            }
            if let Some(at) = ttl {
                for r in reps.iter_mut() {
                    r.expire(at);
                }
            }
            let mut a = reps[order[0]].clone();
            a.merge(&reps[order[1]]);
            a.merge(&reps[order[2]]);
            let mut b = reps[2].clone();
            b.merge(&reps[1]);
            b.merge(&reps[0]);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.value(), b.value());
            if plain {
                prop_assert_eq!(a.value(), Computed::Int(sum));
            }
            let again = a.clone();
            prop_assert!(!a.merge(&again), "idempotent");
            let mut enc = Vec::new();
            a.encode(&mut enc);
            prop_assert_eq!(Counter::decode(&enc), Some(a));
        }
    }

    /// One step of a simulated replica set of one hash key with two tracked fields.
    #[derive(Debug, Clone)]
    enum HStep {
        Incr(usize, usize, i64),
        IncrFloat(usize, usize, u8),
        /// HSET (Some) or HDEL (None) of one field.
        SetField(usize, usize, Option<i64>),
        /// DEL of the whole key.
        Del(usize),
        Merge(usize, usize),
    }

    fn hstep() -> impl Strategy<Value = HStep> {
        prop_oneof![
            (0..3usize, 0..2usize, -5i64..5).prop_map(|(r, f, d)| HStep::Incr(r, f, d)),
            (0..3usize, 0..2usize, 0u8..3).prop_map(|(r, f, x)| HStep::IncrFloat(r, f, x)),
            (0..3usize, 0..2usize, proptest::option::of(-50i64..50)).prop_map(|(r, f, v)| HStep::SetField(r, f, v)),
            (0..3usize).prop_map(HStep::Del),
            (0..3usize, 0..3usize).prop_map(|(r, from)| HStep::Merge(r, from)),
        ]
    }

    /// The merge of two replicas' field states as a test models it: fields joined, the
    /// newer content kept (the nodes take it with the key's value).
    fn hmerge(a: &mut HashCounter, b: &HashCounter) {
        a.merge_fields(b);
        a.content = a.content.max(b.content);
    }

    proptest! {
        /// Field states converge like counter states, field by field: merging every
        /// replica's final field states in any order ends equal; without overwrites each
        /// field counts each of its increments once, and an overwrite of one field (HSET,
        /// HDEL) never touches the other's increments.
        #[test]
        fn hash_replicas_converge_field_by_field(steps in proptest::collection::vec(hstep(), 0..60)) {
            const F: [&[u8]; 2] = [b"f", b"g"];
            let mut start = HashCounter::new(1);
            for f in F {
                start.field_or_adopt(f, || Base::Int(10));
            }
            let mut reps = vec![start; 3];
            let mut clock = 1u64;
            let floats: [&[u8]; 3] = [b"0.5", b"-1.25", b"0.1"];
            let (mut sums, mut plain) = ([10i64; 2], [true; 2]);
            for st in steps {
                clock += 1;
                match st {
                    HStep::Incr(r, f, d) => {
                        reps[r].fields.get_mut(F[f]).map(|c| c.incr(r as Origin + 1, d, clock));
                        sums[f] += d;
                    }
                    HStep::IncrFloat(r, f, x) => {
                        reps[r].fields.get_mut(F[f]).map(|c| c.incr_float(r as Origin + 1, floats[x as usize], clock));
                        plain[f] = false;
                    }
                    HStep::SetField(r, f, v) => {
                        reps[r].content = clock;
                        if let Some(c) = reps[r].fields.get_mut(F[f]) {
                            c.rebase(clock, v.map_or(Base::Absent, Base::Int));
                        }
                        plain[f] = false;
                    }
                    HStep::Del(r) => {
                        reps[r].overwrite(clock, |_| Base::Absent);
                        plain = [false; 2];
                    }
                    HStep::Merge(r, from) => {
                        let other = reps[from].clone();
                        hmerge(&mut reps[r], &other);
                    }
                }
            }
            let mut a = reps[0].clone();
            hmerge(&mut a, &reps[1]);
            hmerge(&mut a, &reps[2]);
            let mut b = reps[2].clone();
            hmerge(&mut b, &reps[0]);
            hmerge(&mut b, &reps[1]);
            prop_assert_eq!(&a, &b);
            for (i, f) in F.iter().enumerate() {
                let (x, y) = (a.fields[*f].value(), b.fields[*f].value());
                prop_assert_eq!(&x, &y);
                if plain[i] {
                    prop_assert_eq!(x, Computed::Int(sums[i]), "field {} counts every increment once", i);
                }
            }
            let again = a.clone();
            prop_assert!(!a.merge_fields(&again), "idempotent");
            let mut enc = Vec::new();
            a.encode(&mut enc);
            prop_assert_eq!(HashCounter::decode(&enc), Some(a));
        }
    }

    #[test]
    fn field_states_encode_strictly_and_are_bounded() {
        let mut h = HashCounter::new(7);
        h.field_or_adopt(b"", || Base::Absent).map(|c| c.incr(0xa, 1, 8));
        h.field_or_adopt(b"\xff|=", || Base::Float(b"1.5"[..].into())).map(|c| c.incr_float(0xb, b"2", 9));
        let mut s = Vec::new();
        h.encode(&mut s);
        assert_eq!(s, b"7|=7 a 0 1 a 1 8|ff7c3d=7 f1.5 0 1 b 0,2 9");
        assert_eq!(HashCounter::decode(&s), Some(h.clone()));
        assert_eq!(h.stamp(), 9);
        let mut one = Vec::new();
        h.encode_one(b"", &mut one);
        assert_eq!(one, b"7|=7 a 0 1 a 1 8");
        assert_eq!(HashCounter::decode(b"3"), Some(HashCounter::new(3)));
        for bad in [
            "",
            "x",
            "-1",
            "3|",
            "3|66",
            "3|6=1 a 0 0",
            "3|6G=1 a 0 0",
            "3|6F=1 a 0 0",
            "3|66=1 a 0 0|66=1 a 0 0",
            "3|67=1 a 0 0|66=1 a 0 0",
            "3|66=1 q 0 0",
            "3|66=1 a 0 0 junk",
        ] {
            assert_eq!(HashCounter::decode(bad.as_bytes()), None, "{bad}");
        }
        // Never more than MAX_FIELDS_HELD fields, in a text form or adopted.
        let mut big = b"1".to_vec();
        for i in 0..=MAX_FIELDS_HELD as u32 {
            big.extend_from_slice(format!("|{:08x}=1 a 0 0", i).as_bytes());
        }
        assert_eq!(HashCounter::decode(&big), None);
        let mut h = HashCounter::new(1);
        for i in 0..MAX_FIELDS_HELD as u32 {
            assert!(h.field_or_adopt(&i.to_be_bytes(), || Base::Absent).is_some());
            assert_eq!(h.has_room(), h.fields.len() < MAX_FIELDS);
        }
        assert!(h.field_or_adopt(b"one more", || Base::Absent).is_none());
        let mut other = HashCounter::new(1);
        other.field_or_adopt(b"one more", || Base::Absent);
        assert!(!h.merge_fields(&other), "a merge drops fields beyond the bound");
    }

    #[test]
    fn an_overwrite_of_the_key_resets_every_field_and_keeps_unseen_increments() {
        let mut a = HashCounter::new(1);
        for f in [&b"f"[..], b"g"] {
            a.field_or_adopt(f, || Base::Absent).map(|c| c.incr(A, 2, 2));
        }
        let mut b = a.clone();
        // A deletes the key; B concurrently adds 3 to f.
        a.overwrite(10, |_| Base::Absent);
        b.fields.get_mut(&b"f"[..]).map(|c| c.incr(B, 3, 11));
        let (mut x, mut y) = (a.clone(), b.clone());
        hmerge(&mut x, &b);
        hmerge(&mut y, &a);
        assert_eq!(x, y);
        assert_eq!(x.fields[&b"f"[..]].value(), Computed::Int(3));
        assert_eq!(x.fields[&b"g"[..]].value(), Computed::Absent);
        // An expiry of the key expires every field.
        x.expire(20);
        assert!(x.fields.values().all(|c| c.base == Base::Expired && c.value() == Computed::Absent));
        // An AOF record assigns the fields it names and the content.
        let mut one = HashCounter::new(30);
        one.field_or_adopt(b"f", || Base::Int(5));
        x.assign(one);
        assert_eq!((x.content, x.fields.len()), (30, 2));
        assert_eq!(x.fields[&b"f"[..]].value(), Computed::Int(5));
    }

    const A: Origin = 0xa;
    const B: Origin = 0xb;

    #[test]
    fn concurrent_increments_all_count_in_any_merge_order() {
        let start = Counter::adopt(10, Base::Int(5));
        let mut a = start.clone();
        let mut b = start.clone();
        a.incr(A, 3, 11);
        a.incr(A, 1, 13);
        b.incr(B, -2, 12);
        let (mut ab, mut ba) = (a.clone(), b.clone());
        assert!(ab.merge(&b));
        assert!(ba.merge(&a));
        assert_eq!(ab, ba);
        assert_eq!(ab.value(), Computed::Int(7));
        assert!(!ab.merge(&a), "idempotent");
        assert_eq!(ab.stamp(), 13);
    }

    #[test]
    fn an_overwrite_resets_what_it_saw_and_keeps_what_it_did_not() {
        let mut a = Counter::adopt(10, Base::Absent);
        a.incr(A, 4, 11);
        let mut b = a.clone();
        // A overwrites having seen its own 4; B concurrently adds 2.
        a.rebase(20, Base::Int(100));
        b.incr(B, 2, 15);
        let mut x = a.clone();
        x.merge(&b);
        let mut y = b.clone();
        y.merge(&a);
        assert_eq!(x, y);
        assert_eq!(x.value(), Computed::Int(102));
        // A delete that saw everything leaves the key absent; a later increment recreates it.
        x.rebase(30, Base::Absent);
        assert_eq!(x.value(), Computed::Absent);
        assert!(x.set_total(B, 5, 31));
        assert_eq!(x.value(), Computed::Int(3));
        assert!(!x.set_total(B, 5, 31), "a duplicate is seen as one");
    }

    #[test]
    fn a_tie_of_different_overwrites_resolves_the_same_way_in_both_orders() {
        let mut a = Counter::adopt(7, Base::Absent);
        let mut b = Counter::adopt(7, Base::Int(5));
        a.incr(A, 1, 8);
        b.incr(B, 1, 9);
        let (mut ab, mut ba) = (a.clone(), b.clone());
        ab.merge(&b);
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert!(!ab.merge(&a) && !ab.merge(&b), "settled: no state ping-pong");
    }

    #[test]
    fn an_expiry_erases_the_increments_stamped_before_it_whenever_they_arrive() {
        // A and B share a counter at 5 that expires at 20. A incremented at 15; B expired
        // the key before A's increment reached it; A increments again at 25.
        let start = Counter::adopt(10, Base::Int(5));
        let mut a = start.clone();
        let mut b = start.clone();
        a.incr(A, 1, 15);
        a.expire(20);
        assert_eq!(a.value(), Computed::Absent);
        a.incr(A, 1, 25);
        b.expire(20);
        assert!(b.set_total(A, 1, 15), "the increment before the expiry arrives late");
        assert_eq!(b.value(), Computed::Absent, "it was made before the expiry: erased");
        assert!(b.set_total(A, 2, 25));
        assert_eq!(a.value(), Computed::Int(1));
        assert_eq!(b.value(), Computed::Int(1));
        assert_eq!(a, b);
        // A later overwrite is not undone by an expiry stamped before it.
        let mut c = start.clone();
        c.rebase(30, Base::Int(7));
        c.expire(20);
        assert_eq!(c.value(), Computed::Int(7));
        let mut s = Vec::new();
        a.encode(&mut s);
        assert_eq!(Counter::decode(&s), Some(a));
    }

    #[test]
    fn increments_on_a_non_integer_do_not_change_it() {
        let mut c = Counter::adopt(1, Base::Other);
        c.incr(A, 1, 2);
        assert_eq!(c.value(), Computed::Other);
    }

    #[test]
    fn float_increments_merge_to_the_same_bytes_in_any_order() {
        let start = Counter::adopt(10, Base::Int(3));
        let (mut a, mut b) = (start.clone(), start.clone());
        a.incr_float(A, b"0.1", 11);
        a.incr_float(A, b"0.2", 12);
        b.incr(B, 2, 13);
        b.incr_float(B, b"1.5e1", 14);
        let (mut ab, mut ba) = (a.clone(), b.clone());
        ab.merge(&b);
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.value(), Computed::Float(b"20.3".to_vec()));
        // An overwrite with a float, then an unseen increment on top.
        ab.rebase(20, Base::Float(b"1.5"[..].into()));
        assert!(ab.set_part(&Part { origin: B, total: 3, ftotal: Some(b"15"[..].into()), stamp: 21 }));
        assert_eq!(ab.value(), Computed::Float(b"2.5".to_vec()));
        let mut s = Vec::new();
        ab.encode(&mut s);
        assert_eq!(Counter::decode(&s), Some(ab));
        assert_eq!(Counter::decode(b"1 fx 0 0"), None);
        assert_eq!(Counter::decode(b"1 a 0 1 a 1,zz 2"), None);
    }

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let mut c = Counter::adopt(7, Base::Int(-3));
        c.incr(A, 2, 8);
        c.rebase(9, Base::Absent);
        c.incr(B, i64::MIN, 10);
        let mut s = Vec::new();
        c.encode(&mut s);
        assert_eq!(Counter::decode(&s), Some(c));
        for bad in ["", "1", "1 y 0 0", "1 a 1 a 1", "1 a 0 0 junk", "1 a 2 b 1 1 a 1 1 0", "1 a 65 0"] {
            assert_eq!(Counter::decode(bad.as_bytes()), None, "{bad}");
        }
    }
}
