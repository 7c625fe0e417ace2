//! Intset (Redis's intset.c): a sorted array of integers, the compact form of a set whose
//! members are all integers.
//!
//! The bytes are exactly Redis's: a 4-byte little-endian encoding (the element width: 2, 4
//! or 8 bytes), a 4-byte little-endian length, then the elements in ascending order, each
//! little-endian in that width. Keeping Redis's layout means the RDB writer can store it
//! as one string and DEBUG/DUMP payloads match Redis byte for byte. The array grows and
//! shrinks one element at a time (`intsetResize` reallocs exactly), so a small set costs
//! what Redis's costs; an element wider than the current encoding upgrades every element.

use rand::Rng;

/// Header: encoding (u32) + length (u32).
const HEADER: usize = 8;

/// Element widths (Redis's INTSET_ENC_INT16/32/64).
const ENC_INT16: usize = 2;
const ENC_INT32: usize = 4;
const ENC_INT64: usize = 8;

/// The narrowest width that holds `v` (`_intsetValueEncoding`).
#[inline]
fn value_encoding(v: i64) -> usize {
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        ENC_INT64
    } else if v < i16::MIN as i64 || v > i16::MAX as i64 {
        ENC_INT32
    } else {
        ENC_INT16
    }
}

/// A sorted set of distinct integers in Redis's intset layout.
#[derive(Clone, PartialEq, Eq)]
pub struct Intset {
    /// Header followed by `len * enc` bytes of elements; never longer (exact sizing).
    bytes: Vec<u8>,
}

impl Default for Intset {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Intset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Intset {
    /// An empty intset with the 16-bit encoding (`intsetNew`).
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(HEADER);
        bytes.extend_from_slice(&(ENC_INT16 as u32).to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        Intset { bytes }
    }

    /// Element width in bytes.
    #[inline]
    fn enc(&self) -> usize {
        self.bytes[0] as usize
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        (self.bytes.len() - HEADER) / self.enc()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bytes.len() == HEADER
    }

    /// Redis's exact bytes (for RDB and DUMP).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes allocated (the exact array, as Redis's `intsetBlobLen`).
    pub fn alloc_size(&self) -> usize {
        self.bytes.capacity()
    }

    /// Validates Redis intset bytes (from an RDB file or a RESTORE payload): a known
    /// encoding, a length matching the size, elements strictly ascending
    /// (`intsetValidateIntegrity` with deep checking).
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Intset> {
        if bytes.len() < HEADER {
            return None;
        }
        let enc = u32::from_le_bytes(bytes[0..4].try_into().ok()?) as usize;
        if !matches!(enc, ENC_INT16 | ENC_INT32 | ENC_INT64) {
            return None;
        }
        let len = u32::from_le_bytes(bytes[4..8].try_into().ok()?) as usize;
        if len.checked_mul(enc)?.checked_add(HEADER)? != bytes.len() {
            return None;
        }
        let is = Intset { bytes };
        let mut prev: Option<i64> = None;
        for v in is.iter() {
            if prev.is_some_and(|p| p >= v) {
                return None;
            }
            prev = Some(v);
        }
        Some(is)
    }

    /// Element `i` (< len) decoded from the current width.
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        let enc = self.enc();
        let at = HEADER + i * enc;
        let b = &self.bytes[at..at + enc];
        match enc {
            ENC_INT16 => i16::from_le_bytes([b[0], b[1]]) as i64,
            ENC_INT32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }

    /// Writes `v` (which fits the current width) at position `i`.
    #[inline]
    fn put(&mut self, i: usize, v: i64) {
        let enc = self.enc();
        let at = HEADER + i * enc;
        let dst = &mut self.bytes[at..at + enc];
        match enc {
            ENC_INT16 => dst.copy_from_slice(&(v as i16).to_le_bytes()),
            ENC_INT32 => dst.copy_from_slice(&(v as i32).to_le_bytes()),
            _ => dst.copy_from_slice(&v.to_le_bytes()),
        }
    }

    fn set_len(&mut self, len: usize) {
        debug_assert!(len <= u32::MAX as usize);
        self.bytes[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    }

    /// The position of `v`, or where it would be inserted (`intsetSearch`).
    fn search(&self, v: i64) -> Result<usize, usize> {
        let len = self.len();
        if len == 0 {
            return Err(0);
        }
        // The common appends and prepends skip the binary search.
        if v > self.get(len - 1) {
            return Err(len);
        }
        if v < self.get(0) {
            return Err(0);
        }
        let (mut lo, mut hi) = (0usize, len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let cur = self.get(mid);
            if cur < v {
                lo = mid + 1;
            } else if cur > v {
                hi = mid;
            } else {
                return Ok(mid);
            }
        }
        Err(lo)
    }

    /// Whether `v` is a member (`intsetFind`).
    #[inline]
    pub fn contains(&self, v: i64) -> bool {
        value_encoding(v) <= self.enc() && self.search(v).is_ok()
    }

    /// Adds `v`; false if it was already there (`intsetAdd`).
    pub fn insert(&mut self, v: i64) -> bool {
        let venc = value_encoding(v);
        if venc > self.enc() {
            self.upgrade_and_add(v, venc);
            return true;
        }
        let pos = match self.search(v) {
            Ok(_) => return false,
            Err(p) => p,
        };
        let enc = self.enc();
        let len = self.len();
        self.bytes.reserve_exact(enc);
        self.bytes.resize(self.bytes.len() + enc, 0);
        let at = HEADER + pos * enc;
        self.bytes.copy_within(at..HEADER + len * enc, at + enc);
        self.put(pos, v);
        self.set_len(len + 1);
        true
    }

    /// Rewrites every element in the wider encoding `venc` and adds `v`, which being out
    /// of the old range is either the new minimum or the new maximum.
    fn upgrade_and_add(&mut self, v: i64, venc: usize) {
        let len = self.len();
        let old: Vec<i64> = self.iter().collect();
        let mut bytes = Vec::with_capacity(HEADER + (len + 1) * venc);
        bytes.extend_from_slice(&(venc as u32).to_le_bytes());
        bytes.extend_from_slice(&((len + 1) as u32).to_le_bytes());
        bytes.resize(HEADER + (len + 1) * venc, 0);
        self.bytes = bytes;
        let prepend = v < 0;
        let shift = usize::from(prepend);
        for (i, x) in old.into_iter().enumerate() {
            self.put(i + shift, x);
        }
        self.put(if prepend { 0 } else { len }, v);
    }

    /// Removes `v`; false if it was not there (`intsetRemove`).
    pub fn remove(&mut self, v: i64) -> bool {
        if value_encoding(v) > self.enc() {
            return false;
        }
        let Ok(pos) = self.search(v) else { return false };
        self.remove_at(pos);
        true
    }

    /// Removes the element at `pos` (< len), returning it.
    pub fn remove_at(&mut self, pos: usize) -> i64 {
        let v = self.get(pos);
        let enc = self.enc();
        let len = self.len();
        let at = HEADER + pos * enc;
        self.bytes.copy_within(at + enc..HEADER + len * enc, at);
        self.bytes.truncate(HEADER + (len - 1) * enc);
        self.set_len(len - 1);
        // Redis reallocs down on every removal; give memory back once it is mostly unused.
        if self.bytes.capacity() > 2 * self.bytes.len() + 64 {
            self.bytes.shrink_to_fit();
        }
        v
    }

    /// A random element (`intsetRandom`); None if empty.
    pub fn random<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<i64> {
        let n = self.len();
        (n > 0).then(|| self.get(rng.gen_range(0..n)))
    }

    /// The elements in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { is: self, i: 0, n: self.len() }
    }
}

/// Ascending iterator over an [`Intset`].
#[derive(Clone)]
pub struct Iter<'a> {
    is: &'a Intset,
    i: usize,
    n: usize,
}

impl Iterator for Iter<'_> {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        if self.i >= self.n {
            return None;
        }
        let v = self.is.get(self.i);
        self.i += 1;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let r = self.n - self.i;
        (r, Some(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn layout_is_redis() {
        let mut is = Intset::new();
        assert!(is.insert(5));
        assert!(is.insert(-3));
        assert!(!is.insert(5));
        assert_eq!(is.bytes(), &[2, 0, 0, 0, 2, 0, 0, 0, 0xfd, 0xff, 5, 0]);
        // Upgrading to 32 bits: -3, 5, 70000.
        assert!(is.insert(70000));
        assert_eq!(&is.bytes()[..8], &[4, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(is.iter().collect::<Vec<_>>(), vec![-3, 5, 70000]);
        // Upgrading to 64 bits with a new minimum.
        assert!(is.insert(i64::MIN));
        assert_eq!(is.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 5, 70000]);
        assert_eq!(is.bytes().len(), 8 + 4 * 8);
        assert!(is.contains(70000) && !is.contains(4));
        assert!(is.remove(-3) && !is.remove(-3));
        assert_eq!(is.len(), 3);
        assert_eq!(Intset::from_bytes(is.bytes().to_vec()), Some(is.clone()));
    }

    #[test]
    fn from_bytes_rejects_bad_payloads() {
        assert!(Intset::from_bytes(vec![]).is_none());
        assert!(Intset::from_bytes(vec![3, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(Intset::from_bytes(vec![2, 0, 0, 0, 1, 0, 0, 0]).is_none());
        // Not ascending.
        assert!(Intset::from_bytes(vec![2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 5, 0]).is_none());
        // Length overflow must not panic.
        assert!(Intset::from_bytes(vec![8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_none());
    }

    proptest! {
        #[test]
        fn behaves_like_a_btreeset(ops in proptest::collection::vec((any::<bool>(), prop_oneof![
            -40i64..40, any::<i16>().prop_map(i64::from), any::<i32>().prop_map(i64::from), any::<i64>()]), 0..200)) {
            let mut is = Intset::new();
            let mut model = BTreeSet::new();
            for (add, v) in ops {
                if add {
                    prop_assert_eq!(is.insert(v), model.insert(v));
                } else {
                    prop_assert_eq!(is.remove(v), model.remove(&v));
                }
                prop_assert_eq!(is.len(), model.len());
            }
            prop_assert_eq!(is.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
            for v in &model {
                prop_assert!(is.contains(*v));
            }
            prop_assert!(Intset::from_bytes(is.bytes().to_vec()).is_some());
        }
    }
}
