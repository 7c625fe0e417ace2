//! Lists (t_list.c + quicklist.c): a quicklist of listpack nodes.
//!
//! Why this shape: Redis 7.0 always encodes a list as a quicklist (OBJECT ENCODING says
//! "quicklist" even for one element), a sequence of listpacks each bounded by
//! `list-max-listpack-size`. Keeping Redis's exact listpack bytes and its node size rules
//! (`_quicklistNodeAllowInsert`, `_quicklistNodeAllowMerge`) gives the same memory use as
//! Redis (about 16 bytes per short element with 8 KB nodes) and O(node) edits in the middle.
//!
//! Nodes live in a `VecDeque` (so pushes and pops at both ends are O(1)); each listpack
//! keeps its own O(1) element count, so finding element `i` walks node counts from the
//! nearer end, then seeks inside one node.
//!
//! Differences from quicklist.c, none of them visible to clients:
//! - `list-compress-depth` (LZF of inner nodes) is accepted but nodes stay uncompressed;
//! - no PLAIN nodes: an element too big for the node limits gets a node of its own, as a
//!   one-element listpack (Redis switches to a plain node only at 1 GB, past the default
//!   `proto-max-bulk-len`);
//! - after removals in the middle (LREM, LSET of a bigger value) a node that became small
//!   is merged with a neighbour when the merge rule allows it, so LREM does not leave a
//!   trail of tiny nodes (quicklist.c only merges after a split).

use std::collections::VecDeque;

use super::listpack::{Listpack, LpVal};
use super::{heap_alloc, rdb_len_len};
use crate::util::digest;

/// `SIZE_SAFETY_LIMIT`: a node grows past 8 KB only under a positive (count) fill when it
/// holds a single element.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Node byte limits of fill -1..-5 (`optimization_level`).
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// `FILL_MAX`: largest positive fill (entries per node).
const FILL_MAX: i32 = (1 << 15) - 1;
/// Redis's default `list-max-listpack-size`.
pub const DEFAULT_FILL: i32 = -2;

/// A list value.
#[derive(Clone, PartialEq)]
pub struct List {
    nodes: VecDeque<Listpack>,
    len: usize,
    /// `list-max-listpack-size` when the list was created (quicklist's `fill`), clamped to
    /// -5..=FILL_MAX as `quicklistSetFill` does.
    fill: i32,
}

impl Default for List {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.nodes.iter()).finish()
    }
}

/// `_quicklistNodeSizeMeetsOptimizationRequirement`.
#[inline]
fn meets_optimization(sz: usize, fill: i32) -> bool {
    if fill >= 0 {
        return false;
    }
    let offset = (-fill - 1) as usize;
    offset < OPTIMIZATION_LEVEL.len() && sz <= OPTIMIZATION_LEVEL[offset]
}

/// `_quicklistNodeAllowInsert`: whether an element of `sz` bytes may join `node`.
#[inline]
fn allow_insert(node: &Listpack, fill: i32, sz: usize) -> bool {
    // Estimate of the entry overhead (as quicklist.c, ziplist-era figures).
    let mut overhead = if sz < 254 { 1 } else { 5 };
    overhead += if sz < 64 {
        1
    } else if sz < 16384 {
        2
    } else {
        5
    };
    let new_sz = node.byte_len().saturating_add(sz).saturating_add(overhead);
    if meets_optimization(new_sz, fill) {
        true
    } else if new_sz > SIZE_SAFETY_LIMIT {
        false
    } else {
        (node.len() as i64) < fill as i64
    }
}

/// `_quicklistNodeAllowMerge`.
#[inline]
fn allow_merge(a: &Listpack, b: &Listpack, fill: i32) -> bool {
    // One header and terminator go away.
    let merge_sz = a.byte_len() + b.byte_len() - 7;
    if meets_optimization(merge_sz, fill) {
        true
    } else if merge_sz > SIZE_SAFETY_LIMIT {
        false
    } else {
        (a.len() + b.len()) as i64 <= fill as i64
    }
}

/// Appends an element as stored (integers stay integers, no formatting).
#[inline]
fn push_val(lp: &mut Listpack, v: LpVal<'_>) {
    match v {
        LpVal::Int(i) => lp.push_back_int(i),
        LpVal::Str(s) => lp.push_back(s),
    }
}

/// Bytes the entry for `v` takes in a listpack.
#[inline]
fn entry_size_of(v: LpVal<'_>) -> usize {
    match v {
        LpVal::Int(i) => Listpack::entry_size_int(i),
        LpVal::Str(s) => Listpack::entry_size(s),
    }
}

/// Which end of the list (Redis's LIST_HEAD / LIST_TAIL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

impl List {
    /// An empty list with the default node size.
    pub fn new() -> Self {
        Self::with_fill(DEFAULT_FILL)
    }

    /// An empty list whose nodes follow `list-max-listpack-size` = `fill`.
    pub fn with_fill(fill: i32) -> Self {
        List { nodes: VecDeque::new(), len: 0, fill: fill.clamp(-5, FILL_MAX) }
    }

    /// OBJECT ENCODING's name (Redis 7.0 has no other list encoding).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of quicklist nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// This value's part of DEBUG DIGEST (after the caller mixed in the type): every
    /// element mixed in order, head to tail.
    pub fn digest(&self, out: &mut [u8; 20]) {
        for v in self.iter() {
            v.with_bytes(|b| digest::mix_digest(out, b));
        }
    }

    /// Allocations freeing this value takes (Redis's lazyfree effort: the node count).
    pub fn free_effort(&self) -> usize {
        self.nodes.len().max(1)
    }

    /// DEBUG OBJECT's `serializedlength`: RDB_TYPE_LIST_QUICKLIST_2, a node count then per
    /// node its container type and its listpack as a string (uncompressed size).
    pub fn serialized_len(&self) -> usize {
        let mut n = rdb_len_len(self.nodes.len());
        for lp in &self.nodes {
            n += 1 + rdb_len_len(lp.byte_len()) + lp.byte_len();
        }
        n
    }

    /// MEMORY USAGE's estimate of the heap this list owns (Redis's `objectComputeSize`
    /// for quicklists): the node array, then the first `samples` nodes' listpacks
    /// averaged and multiplied by the number of nodes (`usize::MAX`: all of them).
    pub fn mem_usage(&self, samples: usize) -> usize {
        let (mut n, mut sum) = (0usize, 0usize);
        for lp in self.nodes.iter().take(samples.max(1)) {
            sum += heap_alloc(lp.alloc_size());
            n += 1;
        }
        let nodes = if n == 0 { 0 } else { (sum as f64 / n as f64 * self.nodes.len() as f64) as usize };
        heap_alloc(self.nodes.capacity() * std::mem::size_of::<Listpack>()) + nodes
    }

    // ---- ends ----

    /// The quicklist nodes, head to tail (the RDB writer saves one listpack per node).
    pub fn nodes(&self) -> impl Iterator<Item = &Listpack> {
        self.nodes.iter()
    }

    /// Most lists are one node: the first node slot is allocated alone (a `VecDeque`
    /// otherwise starts with room for four 32-byte nodes, 96 bytes a small list never uses).
    #[inline]
    fn reserve_first_node(&mut self) {
        if self.nodes.capacity() == 0 {
            self.nodes.reserve_exact(1);
        }
    }

    /// Pushes at `end` (`quicklistPush`).
    pub fn push(&mut self, end: End, v: &[u8]) {
        match end {
            End::Head => self.push_front(v),
            End::Tail => self.push_back(v),
        }
    }

    pub fn push_front(&mut self, v: &[u8]) {
        match self.nodes.front_mut() {
            Some(h) if allow_insert(h, self.fill, v.len()) => h.push_front(v),
            _ => {
                let mut lp = Listpack::new();
                lp.push_front(v);
                self.reserve_first_node();
                self.nodes.push_front(lp);
            }
        }
        self.len += 1;
    }

    pub fn push_back(&mut self, v: &[u8]) {
        match self.nodes.back_mut() {
            Some(t) if allow_insert(t, self.fill, v.len()) => t.push_back(v),
            _ => {
                let mut lp = Listpack::new();
                lp.push_back(v);
                self.reserve_first_node();
                self.nodes.push_back(lp);
            }
        }
        self.len += 1;
    }

    /// Pops the element at `end`, handing it to `f` before it is deleted (so a reply can
    /// be written without copying).
    pub fn pop<R>(&mut self, end: End, f: impl FnOnce(LpVal<'_>) -> R) -> Option<R> {
        let r;
        match end {
            End::Head => {
                let h = self.nodes.front_mut()?;
                let p = h.first()?;
                r = f(h.get(p));
                h.delete(p);
                if h.is_empty() {
                    self.nodes.pop_front();
                }
            }
            End::Tail => {
                let t = self.nodes.back_mut()?;
                let p = t.last()?;
                r = f(t.get(p));
                t.delete(p);
                if t.is_empty() {
                    self.nodes.pop_back();
                }
            }
        }
        self.len -= 1;
        Some(r)
    }

    /// Pops the element at `end` as owned bytes.
    pub fn pop_vec(&mut self, end: End) -> Option<Vec<u8>> {
        self.pop(end, |v| v.to_vec())
    }

    // ---- positions ----

    /// Normalises a Redis index (negative counts from the tail); None when out of range.
    #[inline]
    pub fn normalize(&self, index: i64) -> Option<usize> {
        let n = self.len as i64;
        let i = if index < 0 { n.checked_add(index)? } else { index };
        (0..n).contains(&i).then_some(i as usize)
    }

    /// The node holding element `index` (< len) and the element's offset in it, walking
    /// node counts from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        debug_assert!(index < self.len);
        if index < self.len / 2 {
            let mut i = index;
            for (n, lp) in self.nodes.iter().enumerate() {
                if i < lp.len() {
                    return (n, i);
                }
                i -= lp.len();
            }
        } else {
            let mut from_end = self.len - 1 - index;
            for (n, lp) in self.nodes.iter().enumerate().rev() {
                if from_end < lp.len() {
                    return (n, lp.len() - 1 - from_end);
                }
                from_end -= lp.len();
            }
        }
        unreachable!("index {index} within len {} must be in a node", self.len)
    }

    /// The element at `index` (negative from the tail), as LINDEX.
    pub fn get(&self, index: i64) -> Option<LpVal<'_>> {
        let i = self.normalize(index)?;
        let (n, off) = self.locate(i);
        let lp = &self.nodes[n];
        lp.seek(off as i64).map(|p| lp.get(p))
    }

    /// Iterates every element head to tail.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_at(0, false)
    }

    /// Iterates from element `start` (< len, or an empty iterator) towards the tail, or
    /// towards the head when `reverse`.
    pub fn iter_at(&self, start: usize, reverse: bool) -> Iter<'_> {
        if start >= self.len {
            return Iter { list: self, node: 0, pos: 0, remaining: 0, reverse };
        }
        let (n, off) = self.locate(start);
        let pos = self.nodes[n].seek(off as i64).unwrap_or(0);
        let remaining = if reverse { start + 1 } else { self.len - start };
        Iter { list: self, node: n, pos, remaining, reverse }
    }

    /// Calls `f` on every element head to tail (SORT).
    pub fn for_each(&self, f: &mut dyn FnMut(&[u8])) {
        for v in self.iter() {
            v.with_bytes(&mut *f);
        }
    }

    /// Calls `f` on `n` elements from `start`, towards the head when `desc` (the start is
    /// then counted from the tail), as SORT's native-order ranges do.
    pub fn for_range(&self, start: usize, n: usize, desc: bool, f: &mut dyn FnMut(&[u8])) {
        if start >= self.len {
            return;
        }
        let from = if desc { self.len - 1 - start } else { start };
        for v in self.iter_at(from, desc).take(n) {
            v.with_bytes(&mut *f);
        }
    }

    // ---- edits ----

    /// Replaces element `index` (negative from the tail); false when out of range (LSET).
    pub fn set(&mut self, index: i64, v: &[u8]) -> bool {
        let Some(i) = self.normalize(index) else { return false };
        let (n, off) = self.locate(i);
        let fill = self.fill;
        let lp = &mut self.nodes[n];
        let Some(p) = lp.seek(off as i64) else { return false };
        let new_sz = lp.byte_len() - entry_size_of(lp.get(p)) + Listpack::entry_size(v);
        let fits = meets_optimization(new_sz, fill) || (new_sz <= SIZE_SAFETY_LIMIT && lp.len() as i64 <= fill as i64);
        if fits || lp.len() == 1 {
            lp.replace(p, v);
            return true;
        }
        // Too big for this node now: delete and insert, which splits as needed.
        lp.delete(p);
        self.len -= 1;
        self.insert_at(i, v);
        true
    }

    /// Inserts `v` so that it becomes element `index` (0..=len).
    pub fn insert_at(&mut self, index: usize, v: &[u8]) {
        debug_assert!(index <= self.len);
        if index == 0 {
            return self.push_front(v);
        }
        if index >= self.len {
            return self.push_back(v);
        }
        let fill = self.fill;
        let (n, off) = self.locate(index);
        if allow_insert(&self.nodes[n], fill, v.len()) {
            let lp = &mut self.nodes[n];
            let p = lp.seek(off as i64).unwrap_or(lp.byte_len() - 1);
            lp.insert_before(p, v);
        } else if off == 0 && allow_insert(&self.nodes[n - 1], fill, v.len()) {
            // Between two nodes: the tail of the previous one has room.
            self.nodes[n - 1].push_back(v);
        } else if off == 0 {
            // Both neighbours are full: a node of its own.
            let mut lp = Listpack::new();
            lp.push_back(v);
            self.nodes.insert(n, lp);
        } else {
            // In the middle of a full node: split it at `off`, append to the left half.
            let right = split_off(&mut self.nodes[n], off);
            self.nodes.insert(n + 1, right);
            let mut r = n + 1;
            if allow_insert(&self.nodes[n], fill, v.len()) {
                self.nodes[n].push_back(v);
            } else {
                let mut lp = Listpack::new();
                lp.push_back(v);
                self.nodes.insert(n + 1, lp);
                r += 1;
            }
            // `_quicklistMergeNodes`: the halves may fit their outer neighbours.
            self.try_merge(r);
            if n > 0 {
                self.try_merge(n - 1);
            }
        }
        self.len += 1;
    }

    /// Merges node `i + 1` into node `i` when quicklist's merge rule allows it.
    fn try_merge(&mut self, i: usize) -> bool {
        if i + 1 >= self.nodes.len() || !allow_merge(&self.nodes[i], &self.nodes[i + 1], self.fill) {
            return false;
        }
        // Appending is cheap (no memmove of what is there); prepending would move the
        // whole node once per element.
        let Some(next) = self.nodes.remove(i + 1) else { return false };
        for v in next.iter() {
            push_val(&mut self.nodes[i], v);
        }
        true
    }

    /// Inserts `v` before (or after) the first element equal to `pivot` (LINSERT).
    /// Returns whether the pivot was found.
    pub fn insert_pivot(&mut self, pivot: &[u8], after: bool, v: &[u8]) -> bool {
        let Some(i) = self.iter().position(|e| e.eq_bytes(pivot)) else { return false };
        self.insert_at(if after { i + 1 } else { i }, v);
        true
    }

    /// Deletes `count` elements from `start` (`quicklistDelRange` on a valid range).
    pub fn delete_range(&mut self, start: usize, count: usize) {
        let count = count.min(self.len.saturating_sub(start));
        if count == 0 {
            return;
        }
        let (mut n, off) = self.locate(start);
        let mut remaining = count;
        if off > 0 {
            let take = (self.nodes[n].len() - off).min(remaining);
            self.nodes[n].delete_range(off as i64, take);
            remaining -= take;
            n += 1;
        }
        let mut k = 0;
        while remaining > 0 && n + k < self.nodes.len() && self.nodes[n + k].len() <= remaining {
            remaining -= self.nodes[n + k].len();
            k += 1;
        }
        self.nodes.drain(n..n + k);
        if remaining > 0 {
            self.nodes[n].delete_range(0, remaining);
        }
        self.len -= count;
    }

    /// LTRIM's work: deletes `ltrim` elements at the head and `rtrim` at the tail.
    pub fn trim(&mut self, ltrim: usize, rtrim: usize) {
        let rtrim = rtrim.min(self.len);
        self.delete_range(self.len - rtrim, rtrim);
        self.delete_range(0, ltrim.min(self.len));
    }

    /// Removes up to `limit` (0: all) elements equal to `v`, from the head, or from the tail
    /// when `from_tail` (LREM). Returns the number removed.
    pub fn remove(&mut self, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        let done = |removed: usize| limit != 0 && removed >= limit;
        if !from_tail {
            let mut n = 0;
            while n < self.nodes.len() && !done(removed) {
                let lp = &mut self.nodes[n];
                let before = removed;
                let mut p = lp.first();
                while let Some(q) = p {
                    if lp.get(q).eq_bytes(v) {
                        p = lp.delete(q);
                        removed += 1;
                        if done(removed) {
                            break;
                        }
                    } else {
                        p = lp.next(q);
                    }
                }
                if lp.is_empty() {
                    self.nodes.remove(n);
                } else if removed > before && n > 0 && self.try_merge(n - 1) {
                    // Merged into the previous node: node n is the next unvisited one.
                } else {
                    n += 1;
                }
            }
        } else {
            let mut n = self.nodes.len();
            while n > 0 && !done(removed) {
                n -= 1;
                let lp = &mut self.nodes[n];
                let before = removed;
                let mut p = lp.last();
                while let Some(q) = p {
                    let prev = lp.prev(q);
                    if lp.get(q).eq_bytes(v) {
                        lp.delete(q);
                        removed += 1;
                        if done(removed) {
                            break;
                        }
                    }
                    p = prev;
                }
                if lp.is_empty() {
                    self.nodes.remove(n);
                } else if removed > before {
                    self.try_merge(n);
                }
            }
        }
        self.len -= removed;
        removed
    }

    /// Checks every invariant (tests).
    #[cfg(test)]
    fn check(&self) {
        assert_eq!(self.nodes.iter().map(Listpack::len).sum::<usize>(), self.len);
        assert!(self.nodes.iter().all(|lp| !lp.is_empty()), "empty node in {self:?}");
    }
}

/// Moves the elements from `off` on into a new listpack.
fn split_off(lp: &mut Listpack, off: usize) -> Listpack {
    let mut right = Listpack::new();
    let n = lp.len() - off;
    if let Some(p) = lp.seek(off as i64) {
        for v in lp.iter_from(p) {
            push_val(&mut right, v);
        }
    }
    lp.delete_range(off as i64, n);
    right
}

/// Iterator over a list's elements from a starting index, in one direction.
pub struct Iter<'a> {
    list: &'a List,
    node: usize,
    pos: usize,
    remaining: usize,
    reverse: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = LpVal<'a>;

    #[inline]
    fn next(&mut self) -> Option<LpVal<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let nodes = &self.list.nodes;
        let lp = &nodes[self.node];
        if !self.reverse {
            let (v, next) = lp.get_next(self.pos);
            match next {
                Some(q) => self.pos = q,
                None if self.remaining > 0 => {
                    self.node += 1;
                    self.pos = nodes[self.node].first().unwrap_or(0);
                }
                None => {}
            }
            Some(v)
        } else {
            let v = lp.get(self.pos);
            match lp.prev(self.pos) {
                Some(q) => self.pos = q,
                None if self.remaining > 0 => {
                    self.node -= 1;
                    self.pos = nodes[self.node].last().unwrap_or(0);
                }
                None => {}
            }
            Some(v)
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn model_of(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(|v| v.to_vec()).collect()
    }

    fn from(fill: i32, items: &[&[u8]]) -> List {
        let mut l = List::with_fill(fill);
        for i in items {
            l.push_back(i);
        }
        l
    }

    #[test]
    fn node_limits_follow_fill() {
        // Positive fill: entries per node.
        let mut l = List::with_fill(3);
        for i in 0..10 {
            l.push_back(format!("{i}").as_bytes());
        }
        assert_eq!(l.node_count(), 4);
        l.check();
        // Negative fill -1: 4 KB nodes; 100-byte elements fit about 39 per node.
        let mut l = List::with_fill(-1);
        let e = [b'x'; 100];
        for _ in 0..100 {
            l.push_front(&e);
        }
        assert!(l.nodes.iter().all(|lp| lp.byte_len() <= 4096));
        assert_eq!(l.node_count(), 3);
        // A large element gets a node of its own (the 8 KB safety limit).
        let mut l = List::with_fill(-2);
        l.push_back(b"a");
        l.push_back(&vec![b'y'; 10000]);
        l.push_back(b"b");
        assert_eq!(l.node_count(), 3);
        // Fill is clamped as quicklistSetFill does.
        assert_eq!(List::with_fill(-100).fill, -5);
        assert_eq!(List::with_fill(1 << 20).fill, FILL_MAX);
    }

    #[test]
    fn index_range_and_iteration() {
        let items: Vec<Vec<u8>> = (0..1000).map(|i| format!("e{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = items.iter().map(|v| &v[..]).collect();
        let l = from(7, &refs);
        assert_eq!(l.len(), 1000);
        for i in [0i64, 1, 6, 7, 499, 500, 998, 999, -1, -1000] {
            let j = if i < 0 { 1000 + i } else { i } as usize;
            assert!(l.get(i).unwrap().eq_bytes(&items[j]));
        }
        assert!(l.get(1000).is_none() && l.get(-1001).is_none() && l.get(i64::MIN).is_none());
        let back: Vec<Vec<u8>> = l.iter_at(999, true).map(|v| v.to_vec()).collect();
        assert_eq!(back, items.iter().rev().cloned().collect::<Vec<_>>());
        let mid: Vec<Vec<u8>> = l.iter_at(300, false).take(20).map(|v| v.to_vec()).collect();
        assert_eq!(mid, items[300..320].to_vec());
        let mut n = 0;
        l.for_range(2, 3, true, &mut |b| {
            assert_eq!(b, &items[997 - n][..]);
            n += 1;
        });
        assert_eq!(n, 3);
    }

    #[test]
    fn digest_mixes_in_order() {
        let a = from(-2, &[b"1", b"two", b"3"]);
        let mut d1 = [0u8; 20];
        a.digest(&mut d1);
        let mut d2 = [0u8; 20];
        for e in [&b"1"[..], b"two", b"3"] {
            digest::mix_digest(&mut d2, e);
        }
        assert_eq!(d1, d2);
    }

    #[derive(Debug, Clone)]
    enum Op {
        PushFront(Vec<u8>),
        PushBack(Vec<u8>),
        PopFront,
        PopBack,
        Insert(usize, Vec<u8>),
        Pivot(Vec<u8>, bool, Vec<u8>),
        Set(i64, Vec<u8>),
        Trim(usize, usize),
        DelRange(usize, usize),
        Remove(Vec<u8>, usize, bool),
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => prop::sample::select(vec!["a", "b", "c", "1", "-7", "300", "12345678901"])
                .prop_map(|s| s.as_bytes().to_vec()),
            2 => "[a-z]{0,20}".prop_map(|s| s.into_bytes()),
            1 => (100usize..3000).prop_map(|n| vec![b'L'; n]),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => value().prop_map(Op::PushFront),
            4 => value().prop_map(Op::PushBack),
            1 => Just(Op::PopFront),
            1 => Just(Op::PopBack),
            3 => (0usize..400, value()).prop_map(|(i, v)| Op::Insert(i, v)),
            1 => (value(), any::<bool>(), value()).prop_map(|(p, a, v)| Op::Pivot(p, a, v)),
            2 => (-300i64..300, value()).prop_map(|(i, v)| Op::Set(i, v)),
            1 => (0usize..5, 0usize..5).prop_map(|(a, b)| Op::Trim(a, b)),
            1 => (0usize..300, 0usize..40).prop_map(|(a, b)| Op::DelRange(a, b)),
            1 => (value(), 0usize..4, any::<bool>()).prop_map(|(v, n, t)| Op::Remove(v, n, t)),
        ]
    }

    fn apply(l: &mut List, m: &mut VecDeque<Vec<u8>>, op: &Op) {
        match op {
            Op::PushFront(v) => {
                l.push_front(v);
                m.push_front(v.clone());
            }
            Op::PushBack(v) => {
                l.push_back(v);
                m.push_back(v.clone());
            }
            Op::PopFront => assert_eq!(l.pop_vec(End::Head), m.pop_front()),
            Op::PopBack => assert_eq!(l.pop_vec(End::Tail), m.pop_back()),
            Op::Insert(i, v) => {
                let i = (*i).min(m.len());
                l.insert_at(i, v);
                m.insert(i, v.clone());
            }
            Op::Pivot(p, after, v) => {
                let found = l.insert_pivot(p, *after, v);
                match m.iter().position(|e| e == p) {
                    Some(i) => {
                        assert!(found);
                        m.insert(if *after { i + 1 } else { i }, v.clone());
                    }
                    None => assert!(!found),
                }
            }
            Op::Set(i, v) => {
                let n = m.len() as i64;
                let j = if *i < 0 { n + i } else { *i };
                let ok = l.set(*i, v);
                assert_eq!(ok, (0..n).contains(&j));
                if ok {
                    m[j as usize] = v.clone();
                }
            }
            Op::Trim(a, b) => {
                l.trim(*a, *b);
                for _ in 0..(*b).min(m.len()) {
                    m.pop_back();
                }
                for _ in 0..(*a).min(m.len()) {
                    m.pop_front();
                }
            }
            Op::DelRange(s, c) => {
                l.delete_range(*s, *c);
                let s = (*s).min(m.len());
                let c = (*c).min(m.len() - s);
                m.drain(s..s + c);
            }
            Op::Remove(v, limit, tail) => {
                let got = l.remove(v, *limit, *tail);
                let mut want = 0;
                let idx: Vec<usize> = if *tail { (0..m.len()).rev().collect() } else { (0..m.len()).collect() };
                let mut del = vec![];
                for i in idx {
                    if (*limit == 0 || want < *limit) && m[i] == *v {
                        del.push(i);
                        want += 1;
                    }
                }
                del.sort_unstable();
                for i in del.into_iter().rev() {
                    m.remove(i);
                }
                assert_eq!(got, want);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn matches_a_vecdeque_model(
            fill in prop::sample::select(vec![1, 2, 3, 5, 16, -1, -2]),
            ops in prop::collection::vec(op(), 1..300),
        ) {
            let mut l = List::with_fill(fill);
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for o in &ops {
                apply(&mut l, &mut m, o);
                l.check();
                prop_assert_eq!(l.len(), m.len());
            }
            prop_assert_eq!(model_of(&l), m.iter().cloned().collect::<Vec<_>>());
            let rev: Vec<Vec<u8>> = if m.is_empty() { vec![] } else {
                l.iter_at(m.len() - 1, true).map(|v| v.to_vec()).collect()
            };
            prop_assert_eq!(rev, m.iter().rev().cloned().collect::<Vec<_>>());
            for (i, e) in m.iter().enumerate() {
                prop_assert!(l.get(i as i64).unwrap().eq_bytes(e));
            }
            if fill > 0 {
                // Count limit per node (a node never holds more than `fill`).
                prop_assert!(l.nodes.iter().all(|lp| lp.len() <= fill as usize));
            }
        }
    }
}
