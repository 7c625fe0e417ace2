//! Hashes (t_hash.c): a listpack while small, a hash table beyond `hash-max-listpack-*`.
//!
//! Encodings, exactly as Redis 7.0 switches them:
//! - **listpack** (`Hash::Listpack`): field, value, field, value... in insertion order (an
//!   update replaces the value in place), while the hash has at most
//!   `hash-max-listpack-entries` fields and every field and value is at most
//!   `hash-max-listpack-value` bytes. Lookups are linear (`lpFind` with skip 1), which is
//!   what makes the small form both compact and, at these sizes, fast.
//! - **hashtable** (`Hash::Table`): a [`Dict`] keyed by field. Conversion happens before a
//!   write whose arguments are too long ([`Hash::try_conversion`], Redis's
//!   `hashTypeTryConversion`), or after an insertion makes the hash too long
//!   (`hashTypeSet`); a hash never converts back.
//!
//! Memory: a dict node is the inline `Key` (24 bytes, fields up to 22 bytes need no other
//! allocation) + the value + the chain pointer. The value is a [`Val`]: 16 bytes holding up
//! to 15 bytes inline, so the node is 48 bytes (one jemalloc size class) and a typical
//! field/value pair costs the node plus its bucket slot, about 56 bytes, where Redis spends
//! a 24-byte dictEntry + two sds allocations + the bucket slot (~75 bytes).

use rand::Rng;

use crate::keyspace::dict::{Dict, Key};
use crate::types::listpack::{Listpack, LpVal};
use crate::types::{heap_alloc, rdb_len_len, rdb_string_len, size_class};
use crate::util::digest;

/// The conversion thresholds (`hash-max-listpack-entries`, `hash-max-listpack-value`),
/// read from the configuration by the commands at each write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

impl Default for Limits {
    /// Redis's defaults: 512 entries of at most 64 bytes.
    fn default() -> Self {
        Limits { entries: 512, value: 64 }
    }
}

/// Length of an inline [`Val`] (0..=15): an enum so that its unused byte values give the
/// heap variant its tag and `Val` stays 16 bytes (checked by a unit test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Len15 {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
}

const LENS: [Len15; 16] = [
    Len15::L0,
    Len15::L1,
    Len15::L2,
    Len15::L3,
    Len15::L4,
    Len15::L5,
    Len15::L6,
    Len15::L7,
    Len15::L8,
    Len15::L9,
    Len15::L10,
    Len15::L11,
    Len15::L12,
    Len15::L13,
    Len15::L14,
    Len15::L15,
];

/// Longest value stored inside a [`Val`].
pub const VAL_INLINE_MAX: usize = 15;

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Inline(Len15, [u8; VAL_INLINE_MAX]),
    /// A box of a boxed slice: the 8-byte thin pointer leaves the tag to `Len15`'s spare
    /// values. The extra 16-byte allocation only concerns values longer than 15 bytes,
    /// which cost Redis an sds header and allocation too.
    Heap(Box<Box<[u8]>>),
}

/// A hash-table value: up to 15 bytes inline, longer values boxed. 16 bytes, so a dict node
/// (`Key` + `Val` + next) is 48 bytes, one allocator size class below the 64 that a 24-byte
/// value would need.
#[derive(Clone, PartialEq, Eq)]
pub struct Val(Repr);

impl Val {
    /// A value holding these bytes.
    #[inline]
    pub fn new(b: &[u8]) -> Val {
        if b.len() <= VAL_INLINE_MAX {
            let mut buf = [0u8; VAL_INLINE_MAX];
            buf[..b.len()].copy_from_slice(b);
            Val(Repr::Inline(LENS[b.len()], buf))
        } else {
            Val(Repr::Heap(Box::new(b.into())))
        }
    }
    /// The value's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(l, buf) => &buf[..*l as usize],
            Repr::Heap(b) => b,
        }
    }
    /// Bytes allocated for the value outside the dict node (jemalloc classes).
    pub fn heap_size(&self) -> usize {
        match &self.0 {
            Repr::Inline(..) => 0,
            Repr::Heap(b) => 16 + size_class(b.len()),
        }
    }
}

impl std::fmt::Debug for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// A hash value.
pub enum Hash {
    /// Field/value pairs in insertion order.
    Listpack(Listpack),
    /// Boxed so that the common small hash is 32 bytes, not the dict's 88.
    Table(Box<Dict<Val>>),
}

impl Default for Hash {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for Hash {
    fn clone(&self) -> Self {
        match self {
            Hash::Listpack(lp) => Hash::Listpack(lp.clone()),
            Hash::Table(d) => {
                let mut n = Dict::with_capacity(d.len());
                for (k, v) in d.iter() {
                    n.insert(k.clone(), v.clone());
                }
                Hash::Table(Box::new(n))
            }
        }
    }
}

impl PartialEq for Hash {
    /// Same encoding and the same field/value pairs (in the same order for listpacks).
    fn eq(&self, other: &Hash) -> bool {
        match (self, other) {
            (Hash::Listpack(a), Hash::Listpack(b)) => a == b,
            (Hash::Table(a), Hash::Table(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| w == v))
            }
            _ => false,
        }
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.iter() {
            m.entry(&String::from_utf8_lossy(&k.to_vec()), &String::from_utf8_lossy(&v.to_vec()));
        }
        m.finish()
    }
}

/// The position of a field in a listpack hash (`lpFind(..., skip=1)`).
#[inline]
fn lp_find(lp: &Listpack, field: &[u8]) -> Option<usize> {
    lp.find(lp.first()?, field, 1)
}

impl Hash {
    /// An empty hash (listpack encoded, as `createHashObject`).
    pub fn new() -> Self {
        Hash::Listpack(Listpack::new())
    }

    /// OBJECT ENCODING's name for the current representation.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// Number of fields.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(lp) => lp.len() / 2,
            Hash::Table(d) => d.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the hash table is in the middle of an incremental rehash.
    #[inline]
    pub fn is_rehashing(&self) -> bool {
        matches!(self, Hash::Table(d) if d.is_rehashing())
    }

    /// One incremental rehash step (with a lookup of `field`, hot in cache after a read).
    /// Redis's `dictFind` does this step on reads too; [`Hash::get`] cannot (it borrows
    /// the hash shared), so readers call this when [`Hash::is_rehashing`] says so:
    /// otherwise a read-only workload would leave a big hash mid-rehash, every lookup
    /// probing two tables.
    pub fn rehash_step(&mut self, field: &[u8]) {
        if let Hash::Table(d) = self {
            if d.is_rehashing() {
                d.get_mut(field);
            }
        }
    }

    /// The rehash work of `draws` random picks from a table (see
    /// `Dict::rehash_for_draws`); nothing for a listpack.
    pub fn rehash_for_draws(&mut self, draws: usize) {
        if let Hash::Table(d) = self {
            d.rehash_for_draws(draws);
        }
    }

    /// Whether the hash is in its listpack form.
    #[inline]
    pub fn is_listpack(&self) -> bool {
        matches!(self, Hash::Listpack(_))
    }

    /// The value of `field` (`hashTypeGetValue`): listpack integers come back decoded.
    #[inline]
    pub fn get(&self, field: &[u8]) -> Option<LpVal<'_>> {
        match self {
            Hash::Listpack(lp) => {
                let p = lp_find(lp, field)?;
                let vp = lp.next(p)?;
                Some(lp.get(vp))
            }
            Hash::Table(d) => d.get(field).map(|v| LpVal::Str(v.as_bytes())),
        }
    }

    /// Whether `field` exists.
    #[inline]
    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(lp) => lp_find(lp, field).is_some(),
            Hash::Table(d) => d.contains_key(field),
        }
    }

    /// Redis's `hashTypeTryConversion`: converts a listpack hash to a table before a write
    /// if one of `args` (the fields and values about to be written) is longer than
    /// `hash-max-listpack-value`, or if together they would push the listpack past
    /// its safety size (`lpSafeToAdd`).
    pub fn try_conversion<'a>(&mut self, args: impl IntoIterator<Item = &'a [u8]>, limits: Limits) {
        let Hash::Listpack(lp) = self else { return };
        let mut sum = 0usize;
        for a in args {
            if a.len() > limits.value {
                self.convert();
                return;
            }
            sum = sum.saturating_add(a.len());
        }
        if !lp.safe_to_add(sum) {
            self.convert();
        }
    }

    /// Converts to the hashtable encoding (`hashTypeConvertListpack`). No-op if already.
    pub fn convert(&mut self) {
        let Hash::Listpack(lp) = self else { return };
        let mut d = Dict::with_capacity(lp.len() / 2);
        let mut it = lp.iter();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            let key = f.with_bytes(|b| Key::from(b));
            let val = v.with_bytes(Val::new);
            d.insert(key, val);
        }
        *self = Hash::Table(Box::new(d));
    }

    /// Sets `field` to `value` (`hashTypeSet`). Returns true if the field is new (false
    /// when an existing value was replaced). A listpack hash converts first if the field or
    /// value is too long (HINCRBY*'s case; the other writers call [`Hash::try_conversion`]
    /// beforehand), and after the insertion if it has too many fields.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: Limits) -> bool {
        if let Hash::Listpack(_) = self {
            if field.len() > limits.value || value.len() > limits.value {
                self.convert();
            }
        }
        match self {
            Hash::Listpack(lp) => {
                if let Some(p) = lp_find(lp, field) {
                    if let Some(vp) = lp.next(p) {
                        lp.replace(vp, value);
                        return false;
                    }
                }
                lp.push_back(field);
                lp.push_back(value);
                if lp.len() / 2 > limits.entries {
                    self.convert();
                }
                true
            }
            Hash::Table(d) => {
                // One lookup: insert, or overwrite the value found.
                let (v, inserted) = d.get_or_insert_with(field, || Val::new(value));
                if !inserted {
                    *v = Val::new(value);
                }
                inserted
            }
        }
    }

    /// Deletes `field` (`hashTypeDelete`). Returns whether it existed.
    pub fn delete(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(lp) => {
                let Some(p) = lp_find(lp, field) else { return false };
                let Some(vp) = lp.next(p) else { return false };
                let end = lp.next(vp).unwrap_or(lp.bytes().len() - 1);
                lp.delete_span(p, end, 2);
                true
            }
            // The dict shrinks itself when it becomes sparse (Redis's htNeedsResize).
            Hash::Table(d) => d.remove(field).is_some(),
        }
    }

    /// All field/value pairs: insertion order for a listpack, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Hash::Listpack(lp) => Iter::Lp(lp.iter()),
            Hash::Table(d) => Iter::Table(d.iter()),
        }
    }

    /// One step of HSCAN over the table form (`dictScan`): calls `f` on the pairs under
    /// `cursor` and returns the next cursor. A listpack hash reports everything, returns 0.
    pub fn scan_step(&self, cursor: u64, mut f: impl FnMut(LpVal<'_>, LpVal<'_>)) -> u64 {
        match self {
            Hash::Listpack(_) => {
                for (k, v) in self.iter() {
                    f(k, v);
                }
                0
            }
            Hash::Table(d) => d.scan(cursor, |k, v| f(LpVal::Str(k), LpVal::Str(v.as_bytes()))),
        }
    }

    /// A random field/value pair, close to uniform (`hashTypeRandomElement`). None if empty.
    pub fn random_pair<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<(LpVal<'_>, LpVal<'_>)> {
        match self {
            Hash::Listpack(lp) => {
                let n = lp.len() / 2;
                if n == 0 {
                    return None;
                }
                let i = rng.gen_range(0..n);
                let p = lp.seek(2 * i as i64)?;
                let (f, vp) = lp.get_next(p);
                Some((f, lp.get(vp?)))
            }
            Hash::Table(d) => d.random_entry(rng).map(|(k, v)| (LpVal::Str(k), LpVal::Str(v.as_bytes()))),
        }
    }

    /// This value's part of DEBUG DIGEST (Redis's `xorObjectDigest` for hashes, after the
    /// caller mixed in the type): the xor of `mix(field), mix(value)` per field.
    pub fn digest(&self, out: &mut [u8; 20]) {
        for (f, v) in self.iter() {
            let mut ele = [0u8; 20];
            f.with_bytes(|b| digest::mix_digest(&mut ele, b));
            v.with_bytes(|b| digest::mix_digest(&mut ele, b));
            digest::xor_digest(out, &ele);
        }
    }

    /// Roughly the number of allocations freeing this value takes (`lazyfreeGetFreeEffort`:
    /// the table's size, 1 for a listpack).
    pub fn free_effort(&self) -> usize {
        match self {
            Hash::Listpack(_) => 1,
            Hash::Table(d) => d.len(),
        }
    }

    /// DEBUG OBJECT's `serializedlength`: the RDB-serialized size (`rdbSavedObjectLen`),
    /// without LZF compression: a listpack is one string, a table a length followed by
    /// each field and value as RDB strings (integer-encoded when they can be).
    pub fn serialized_len(&self) -> usize {
        match self {
            Hash::Listpack(lp) => rdb_len_len(lp.bytes().len()) + lp.bytes().len(),
            Hash::Table(d) => {
                let mut n = rdb_len_len(d.len());
                for (k, v) in d.iter() {
                    n += rdb_string_len(k) + rdb_string_len(v.as_bytes());
                }
                n
            }
        }
    }

    /// MEMORY USAGE's estimate of the heap this hash owns: the listpack, or the boxed
    /// dict sampled over its first `samples` fields (`usize::MAX`: all).
    pub fn mem_usage(&self, samples: usize) -> usize {
        match self {
            Hash::Listpack(lp) => heap_alloc(lp.alloc_size()),
            Hash::Table(d) => {
                heap_alloc(std::mem::size_of::<Dict<Val>>()) + d.mem_usage_sampled(samples, Val::heap_size)
            }
        }
    }
}

/// Iterator over a hash's field/value pairs.
pub enum Iter<'a> {
    Lp(crate::types::listpack::Iter<'a>),
    Table(crate::keyspace::dict::Iter<'a, Val>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (LpVal<'a>, LpVal<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Lp(it) => {
                let f = it.next()?;
                let v = it.next()?;
                Some((f, v))
            }
            Iter::Table(it) => it.next().map(|(k, v)| (LpVal::Str(k), LpVal::Str(v.as_bytes()))),
        }
    }
}

#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;
