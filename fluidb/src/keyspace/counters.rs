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

use std::collections::HashMap;

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

/// The counter states of one database's keys (live or deleted). Hashed with `ahash`
/// (as the keyspace): an increment looks its key up here once or twice.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub map: HashMap<Box<[u8]>, Counter, ahash::RandomState>,
}

impl Counters {
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&Counter> {
        if self.map.is_empty() {
            return None;
        }
        self.map.get(key)
    }
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Counter> {
        if self.map.is_empty() {
            return None;
        }
        self.map.get_mut(key)
    }
    /// The state of `key`, made by `init` if it has none (no allocation for a key that
    /// has one: this is on every increment's path).
    pub fn entry(&mut self, key: &[u8], init: impl FnOnce() -> Counter) -> &mut Counter {
        if !self.map.contains_key(key) {
            self.map.insert(key.into(), init());
        }
        self.map.get_mut(key).expect("inserted above")
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
