//! Sets (t_set.c): an intset while every member is an integer and there are at most
//! `set-max-intset-entries` of them, a hash table otherwise.
//!
//! Redis 7.0 has exactly these two encodings (the listpack form for small sets of strings
//! arrived in 7.2), and switches as `setTypeAdd` does: adding a member that is not a
//! canonical integer, or one integer too many, converts the intset to a table; a table
//! never converts back. A new set starts as an intset when its first member is an integer
//! (`setTypeCreate`).
//!
//! Memory: a table member is a dict node, the inline `Key` (24 bytes: members up to 22
//! bytes need no other allocation) and the chain pointer, 32 bytes in all, plus its bucket
//! slot. Redis spends a 24-byte dictEntry, an sds allocation and the bucket slot.

use rand::Rng;

use super::intset::Intset;
use super::listpack::LpVal;
use super::{heap_alloc, rdb_len_len, rdb_string_len};
use crate::keyspace::dict::{Dict, Key};
use crate::util::digest;
use crate::util::numeric::string2ll;

/// Redis caps `set-max-intset-entries` at 2^30 ("due to intset internals").
const MAX_INTSET_CAP: usize = 1 << 30;

/// A set value.
pub enum Set {
    /// Integers in ascending order.
    Intset(Intset),
    /// Boxed so that the common small set stays 24 bytes, not the dict's size.
    Table(Box<Dict<()>>),
}

/// A member taken out of a set (SPOP): integers stay integers, strings keep the table's
/// key (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Int(i64),
    Key(Key),
}

impl Member {
    /// The member as a borrowed element.
    #[inline]
    pub fn as_val(&self) -> LpVal<'_> {
        match self {
            Member::Int(v) => LpVal::Int(*v),
            Member::Key(k) => LpVal::Str(k.as_bytes()),
        }
    }
}

impl Default for Set {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for Set {
    fn clone(&self) -> Self {
        match self {
            Set::Intset(is) => Set::Intset(is.clone()),
            Set::Table(d) => {
                let mut n = Dict::with_capacity(d.len());
                for k in d.keys() {
                    n.insert(k.clone(), ());
                }
                Set::Table(Box::new(n))
            }
        }
    }
}

impl PartialEq for Set {
    /// Same encoding and the same members.
    fn eq(&self, other: &Set) -> bool {
        match (self, other) {
            (Set::Intset(a), Set::Intset(b)) => a == b,
            (Set::Table(a), Set::Table(b)) => a.len() == b.len() && a.keys().all(|k| b.contains_key(k)),
            _ => false,
        }
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_set();
        for m in self.iter() {
            s.entry(&String::from_utf8_lossy(&m.to_vec()));
        }
        s.finish()
    }
}

/// A member as an intset integer: Redis's `isSdsRepresentableAsLongLong` (canonical
/// decimal, no leading zeros or '+', fits 64 bits).
#[inline]
fn as_int(m: &[u8]) -> Option<i64> {
    if m.len() > 20 {
        return None;
    }
    string2ll(m)
}

impl Set {
    /// An empty intset (`createIntsetObject`): the STORE commands' starting point.
    pub fn new() -> Self {
        Set::Intset(Intset::new())
    }

    /// An empty set in the hashtable encoding (a loaded set too big for an intset).
    pub fn new_table() -> Self {
        Set::Table(Box::default())
    }

    /// An empty set in the encoding its first member needs (`setTypeCreate`).
    pub fn for_member(first: &[u8]) -> Self {
        if as_int(first).is_some() {
            Set::new()
        } else {
            Set::Table(Box::default())
        }
    }

    /// The set held by a keyspace value, if it is one.
    #[inline]
    pub fn of_value(v: &crate::keyspace::Value) -> Option<&Set> {
        match v {
            crate::keyspace::Value::Set(s) => Some(s),
            _ => None,
        }
    }

    /// OBJECT ENCODING's name for the current representation.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            Set::Intset(is) => is.len(),
            Set::Table(d) => d.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the set is in its intset form.
    #[inline]
    pub fn is_intset(&self) -> bool {
        matches!(self, Set::Intset(_))
    }

    /// Whether `m` is a member (`setTypeIsMember`).
    #[inline]
    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Intset(is) => as_int(m).is_some_and(|v| is.contains(v)),
            Set::Table(d) => d.contains_key(m),
        }
    }

    /// Whether the element `m` (as another set iterates it) is a member: an intset
    /// member checked against an intset needs no formatting.
    #[inline]
    pub fn contains_val(&self, m: LpVal<'_>) -> bool {
        match (self, m) {
            (Set::Intset(is), LpVal::Int(v)) => is.contains(v),
            _ => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// Adds `m`; true if it was not a member (`setTypeAdd`). `max_intset` is
    /// `set-max-intset-entries`.
    pub fn add(&mut self, m: &[u8], max_intset: usize) -> bool {
        match self {
            Set::Intset(is) => match as_int(m) {
                Some(v) => {
                    if !is.insert(v) {
                        return false;
                    }
                    if is.len() > max_intset.min(MAX_INTSET_CAP) {
                        self.convert();
                    }
                    true
                }
                None => {
                    self.convert();
                    self.add(m, max_intset)
                }
            },
            Set::Table(d) => {
                let (_, inserted) = d.get_or_insert_with(m, || ());
                inserted
            }
        }
    }

    /// Adds an element taken from another set: integers go into an intset unformatted.
    pub fn add_val(&mut self, m: LpVal<'_>, max_intset: usize) -> bool {
        match (&mut *self, m) {
            (Set::Intset(is), LpVal::Int(v)) => {
                if !is.insert(v) {
                    return false;
                }
                if is.len() > max_intset.min(MAX_INTSET_CAP) {
                    self.convert();
                }
                true
            }
            _ => m.with_bytes(|b| self.add(b, max_intset)),
        }
    }

    /// Removes `m`; true if it was a member (`setTypeRemove`). A table shrinks itself
    /// when it becomes sparse.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Intset(is) => as_int(m).is_some_and(|v| is.remove(v)),
            Set::Table(d) => d.remove(m).is_some(),
        }
    }

    /// Removes an element as another set iterates it.
    pub fn remove_val(&mut self, m: LpVal<'_>) -> bool {
        match (&mut *self, m) {
            (Set::Intset(is), LpVal::Int(v)) => is.remove(v),
            _ => m.with_bytes(|b| self.remove(b)),
        }
    }

    /// Converts to the hashtable encoding (`setTypeConvert`). No-op if already.
    pub fn convert(&mut self) {
        let Set::Intset(is) = self else { return };
        let mut d = Dict::with_capacity(is.len());
        let mut b = itoa::Buffer::new();
        for v in is.iter() {
            d.insert(Key::from(b.format(v).as_bytes()), ());
        }
        *self = Set::Table(Box::new(d));
    }

    /// All members: ascending for an intset, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Set::Intset(is) => Iter::Int(is.iter()),
            Set::Table(d) => Iter::Table(d.keys()),
        }
    }

    /// A random member, close to uniform (`setTypeRandomElement`). None if empty.
    pub fn random<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<LpVal<'_>> {
        match self {
            Set::Intset(is) => is.random(rng).map(LpVal::Int),
            Set::Table(d) => d.random_entry(rng).map(|(k, _)| LpVal::Str(k.as_bytes())),
        }
    }

    /// The rehash work of `draws` random picks from a table (see
    /// [`Dict::rehash_for_draws`]); nothing for an intset.
    pub fn rehash_for_draws(&mut self, draws: usize) {
        if let Set::Table(d) = self {
            d.rehash_for_draws(draws);
        }
    }

    /// Removes and returns a random member (`setTypePopRandom`).
    pub fn pop_random<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Option<Member> {
        match self {
            Set::Intset(is) => {
                let n = is.len();
                (n > 0).then(|| Member::Int(is.remove_at(rng.gen_range(0..n))))
            }
            Set::Table(d) => {
                d.rehash_for_draws(1);
                let key = d.random_entry(rng)?.0.clone();
                d.remove(&key).map(|(k, _)| Member::Key(k))
            }
        }
    }

    /// One step of SSCAN over the table form (`dictScan`): calls `f` on the members
    /// under `cursor` and returns the next cursor. An intset reports everything, returns 0.
    pub fn scan_step(&self, cursor: u64, mut f: impl FnMut(LpVal<'_>)) -> u64 {
        match self {
            Set::Intset(is) => {
                is.iter().for_each(|v| f(LpVal::Int(v)));
                0
            }
            Set::Table(d) => d.scan(cursor, |k, _| f(LpVal::Str(k.as_bytes()))),
        }
    }

    /// This value's part of DEBUG DIGEST (Redis's `xorObjectDigest` for sets): the xor of
    /// the SHA1 of each member.
    pub fn digest(&self, out: &mut [u8; 20]) {
        for m in self.iter() {
            m.with_bytes(|b| digest::xor_digest(out, b));
        }
    }

    /// Roughly the number of allocations freeing this value takes (`lazyfreeGetFreeEffort`:
    /// the table's size, 1 for an intset).
    pub fn free_effort(&self) -> usize {
        match self {
            Set::Intset(_) => 1,
            Set::Table(d) => d.len(),
        }
    }

    /// DEBUG OBJECT's `serializedlength`: the RDB-serialized size without compression (an
    /// intset is one string, a table a length then each member as an RDB string).
    pub fn serialized_len(&self) -> usize {
        match self {
            Set::Intset(is) => rdb_len_len(is.bytes().len()) + is.bytes().len(),
            Set::Table(d) => rdb_len_len(d.len()) + d.keys().map(|k| rdb_string_len(k.as_bytes())).sum::<usize>(),
        }
    }

    /// MEMORY USAGE's estimate of the heap this set owns: the intset's array, or the
    /// boxed dict sampled over its first `samples` members (`usize::MAX`: all).
    pub fn mem_usage(&self, samples: usize) -> usize {
        match self {
            Set::Intset(is) => heap_alloc(is.alloc_size()),
            Set::Table(d) => heap_alloc(std::mem::size_of::<Dict<()>>()) + d.mem_usage_sampled(samples, |_| 0),
        }
    }
}

/// Iterator over a set's members.
pub enum Iter<'a> {
    Int(super::intset::Iter<'a>),
    Table(crate::keyspace::dict::Keys<'a, ()>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = LpVal<'a>;

    #[inline]
    fn next(&mut self) -> Option<LpVal<'a>> {
        match self {
            Iter::Int(it) => it.next().map(LpVal::Int),
            Iter::Table(it) => it.next().map(|k| LpVal::Str(k.as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn encodings_switch_as_redis() {
        let mut s = Set::for_member(b"1");
        assert_eq!(s.encoding(), "intset");
        for i in 0..512 {
            assert!(s.add(i.to_string().as_bytes(), 512));
        }
        assert_eq!(s.encoding(), "intset");
        assert!(s.add(b"512", 512));
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 513);
        assert!(s.contains(b"17") && !s.contains(b"017"));

        let mut t = Set::for_member(b"1");
        t.add(b"1", 512);
        assert!(t.add(b"01", 512)); // not canonical: a string member
        assert_eq!(t.encoding(), "hashtable");
        assert!(t.contains(b"1") && t.contains(b"01"));
        assert_eq!(Set::for_member(b"a").encoding(), "hashtable");
    }

    #[test]
    fn pop_random_empties_the_set() {
        let mut rng = rand::thread_rng();
        for first in [&b"1"[..], b"x"] {
            let mut s = Set::for_member(first);
            let mut want = HashSet::new();
            for i in 0..100 {
                let m = if first == b"x" { format!("m{i}") } else { i.to_string() };
                s.add(m.as_bytes(), 512);
                want.insert(m.into_bytes());
            }
            let mut got = HashSet::new();
            while let Some(m) = s.pop_random(&mut rng) {
                assert!(got.insert(m.as_val().to_vec()));
            }
            assert_eq!(got, want);
            assert!(s.is_empty());
        }
    }

    proptest! {
        #[test]
        fn behaves_like_a_hashset(ops in proptest::collection::vec((0u8..3, prop_oneof![
            (-20i64..20).prop_map(|v| v.to_string()),
            "[a-c0-9]{0,3}",
            any::<i64>().prop_map(|v| v.to_string())]), 0..300), max in 0usize..20) {
            let mut s = Set::new();
            let mut model: HashSet<String> = HashSet::new();
            for (op, m) in ops {
                match op {
                    0 => prop_assert_eq!(s.add(m.as_bytes(), max), model.insert(m.clone())),
                    1 => prop_assert_eq!(s.remove(m.as_bytes()), model.remove(&m)),
                    _ => prop_assert_eq!(s.contains(m.as_bytes()), model.contains(&m)),
                }
                prop_assert_eq!(s.len(), model.len());
                if s.is_intset() {
                    prop_assert!(s.len() <= max);
                }
            }
            let got: HashSet<String> = s.iter().map(|v| String::from_utf8(v.to_vec()).unwrap()).collect();
            prop_assert_eq!(got, model);
            prop_assert_eq!(s.clone(), s);
        }
    }
}
