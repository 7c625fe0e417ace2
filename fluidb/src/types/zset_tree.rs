//! The order of a large sorted set: an order-statistic B+tree over (score, member).
//!
//! Redis keeps a skiplist next to the member dict; a skiplist node costs a pointer per level
//! plus a span per level, malloc'ed per element (~56-64 bytes), and every step of a search
//! is a cache miss. A B+tree with subtree counts gives the same operations — rank of an
//! element, element at a rank, rank of a score or lex bound — in O(log n) with a handful of
//! cache misses, and stores elements in contiguous vectors (8 bytes of score + a 24-byte
//! inline-or-boxed `Key` per element, no per-element allocation for members ≤ 22 bytes).
//!
//! Layout: leaves hold parallel `scores`/`members` vectors sorted by (score, member). Inner
//! nodes hold their children, each child's element count, and a *lower bound* per child:
//! every element of child `i` is ≥ `low[i]`, every element of child `i-1` is < `low[i]`.
//! Bounds need not be elements (a removal never touches them); `low[0]` of an inner node
//! is only meaningful as the bound its parent keeps for it, and is refreshed from the
//! parent whenever nodes are merged. Every leaf is at the same depth.
//!
//! Searches take a monotone predicate (`true` for a prefix of the order, e.g. "score <
//! min"), so one routine answers ranks for score bounds (open or closed) and lex bounds.
//!
//! No `unsafe`; recursion depth is the tree height (4 levels hold ~16M elements).

use std::cmp::Ordering;

use super::heap_alloc;
use crate::keyspace::dict::Key;

/// Most elements in a leaf (tiny in unit tests, so that they build deep trees).
const LEAF_CAP: usize = if cfg!(test) { 6 } else { 64 };
/// Most children of an inner node.
const INNER_CAP: usize = if cfg!(test) { 8 } else { 48 };
/// A node with fewer entries than this is merged with (or rebalanced against) a sibling.
const LEAF_MIN: usize = LEAF_CAP / 4;
const INNER_MIN: usize = INNER_CAP / 4;

/// Redis's order of sorted set elements: by score, then by member bytes.
#[inline]
pub fn cmp_elem(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    if s1 < s2 {
        Ordering::Less
    } else if s1 > s2 {
        Ordering::Greater
    } else {
        m1.cmp(m2)
    }
}

#[derive(Debug, Clone, Default)]
struct Leaf {
    scores: Vec<f64>,
    members: Vec<Key>,
}

#[derive(Debug, Clone)]
struct Inner {
    low_s: Vec<f64>,
    low_m: Vec<Key>,
    counts: Vec<usize>,
    children: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(Leaf),
    Inner(Inner),
}

impl Leaf {
    #[inline]
    fn len(&self) -> usize {
        self.scores.len()
    }
    /// Number of elements for which `before` holds (a prefix).
    #[inline]
    fn partition(&self, before: &impl Fn(f64, &[u8]) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if before(self.scores[mid], &self.members[mid]) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
    /// Splits at `at`; the left part gives back the capacity it doubled into when it
    /// overflowed (one realloc per split, so full leaves cost no more than their elements).
    fn split_off(&mut self, at: usize) -> Leaf {
        let scores = self.scores.split_off(at);
        let members = self.members.split_off(at);
        self.scores.shrink_to_fit();
        self.members.shrink_to_fit();
        Leaf { scores, members }
    }
}

impl Inner {
    /// The child holding the boundary of `before`: the last child whose bound satisfies
    /// it (all earlier children are entirely before), or child 0.
    #[inline]
    fn route(&self, before: &impl Fn(f64, &[u8]) -> bool) -> usize {
        let (mut lo, mut hi) = (1, self.children.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if before(self.low_s[mid], &self.low_m[mid]) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo - 1
    }
    fn total(&self) -> usize {
        self.counts.iter().sum()
    }
    fn split_off(&mut self, at: usize) -> Inner {
        Inner {
            low_s: self.low_s.split_off(at),
            low_m: self.low_m.split_off(at),
            counts: self.counts.split_off(at),
            children: self.children.split_off(at),
        }
    }
    fn insert_child(&mut self, at: usize, s: f64, m: Key, count: usize, child: Node) {
        self.low_s.insert(at, s);
        self.low_m.insert(at, m);
        self.counts.insert(at, count);
        self.children.insert(at, child);
    }
    fn remove_child(&mut self, at: usize) -> (f64, Key, usize, Node) {
        (self.low_s.remove(at), self.low_m.remove(at), self.counts.remove(at), self.children.remove(at))
    }

    /// Restores the fill of child `i` after it shrank: merges it with a sibling, and if
    /// the pair does not fit in one node, splits it again evenly.
    fn fix_child(&mut self, i: usize) {
        if self.children.len() < 2 {
            return;
        }
        let underfull = match &self.children[i] {
            Node::Leaf(l) => l.len() < LEAF_MIN,
            Node::Inner(n) => n.children.len() < INNER_MIN,
        };
        if !underfull {
            return;
        }
        let l = if i + 1 < self.children.len() { i } else { i - 1 };
        let (rs, rm, rc, right) = self.remove_child(l + 1);
        self.counts[l] += rc;
        let split = match (&mut self.children[l], right) {
            (Node::Leaf(a), Node::Leaf(mut b)) => {
                a.scores.append(&mut b.scores);
                a.members.append(&mut b.members);
                if a.len() > LEAF_CAP {
                    let r = a.split_off(a.len() / 2);
                    let n = r.len();
                    Some((r.scores[0], r.members[0].clone(), n, Node::Leaf(r)))
                } else {
                    None
                }
            }
            (Node::Inner(a), Node::Inner(mut b)) => {
                // The right node's first bound is the one its parent kept for it.
                b.low_s[0] = rs;
                b.low_m[0] = rm;
                a.low_s.append(&mut b.low_s);
                a.low_m.append(&mut b.low_m);
                a.counts.append(&mut b.counts);
                a.children.append(&mut b.children);
                // An emptied node that was an only child could not be merged away.
                for k in (0..a.children.len()).rev() {
                    if a.counts[k] == 0 && a.children.len() > 1 {
                        a.remove_child(k);
                    }
                }
                if a.children.len() > INNER_CAP {
                    let r = a.split_off(a.children.len() / 2);
                    let n = r.total();
                    Some((r.low_s[0], r.low_m[0].clone(), n, Node::Inner(r)))
                } else {
                    None
                }
            }
            _ => unreachable!("siblings have the same height"),
        };
        if let Some((s, m, n, node)) = split {
            self.counts[l] -= n;
            self.insert_child(l + 1, s, m, n, node);
        }
    }
}

/// What an insertion that split a node hands to its parent: the new right sibling with
/// its lower bound and element count.
type Split = (f64, Key, usize, Node);

fn insert_rec(node: &mut Node, score: f64, member: Key) -> Option<Split> {
    match node {
        Node::Leaf(l) => {
            let pos = l.partition(&|s, m| cmp_elem(s, m, score, &member) == Ordering::Less);
            l.scores.insert(pos, score);
            l.members.insert(pos, member);
            if l.len() <= LEAF_CAP {
                return None;
            }
            // Appending (or prepending) in order keeps full leaves behind: sequential
            // loads fill leaves completely instead of half.
            let at = if pos == l.len() - 1 {
                l.len() - 1
            } else if pos == 0 {
                1
            } else {
                l.len() / 2
            };
            let r = l.split_off(at);
            Some((r.scores[0], r.members[0].clone(), r.len(), Node::Leaf(r)))
        }
        Node::Inner(n) => {
            let i = n.route(&|s, m| cmp_elem(s, m, score, &member) != Ordering::Greater);
            n.counts[i] += 1;
            let (s, m, c, child) = insert_rec(&mut n.children[i], score, member)?;
            n.counts[i] -= c;
            n.insert_child(i + 1, s, m, c, child);
            if n.children.len() <= INNER_CAP {
                return None;
            }
            // As for leaves, appends keep the left node full (the right one still gets the
            // minimum fill, so that it never ends up with a single child).
            let at = if i + 2 == n.children.len() { n.children.len() - INNER_MIN } else { n.children.len() / 2 };
            let r = n.split_off(at);
            let c = r.total();
            Some((r.low_s[0], r.low_m[0].clone(), c, Node::Inner(r)))
        }
    }
}

fn remove_rec(node: &mut Node, score: f64, member: &[u8]) -> Option<Key> {
    match node {
        Node::Leaf(l) => {
            let pos = l.partition(&|s, m| cmp_elem(s, m, score, member) == Ordering::Less);
            if pos < l.len() && l.scores[pos] == score && &*l.members[pos] == member {
                l.scores.remove(pos);
                Some(l.members.remove(pos))
            } else {
                None
            }
        }
        Node::Inner(n) => {
            let i = n.route(&|s, m| cmp_elem(s, m, score, member) != Ordering::Greater);
            let k = remove_rec(&mut n.children[i], score, member)?;
            n.counts[i] -= 1;
            n.fix_child(i);
            Some(k)
        }
    }
}

/// Removes up to `count` elements from rank `start`, all within one leaf; returns how many.
fn drain_rec(node: &mut Node, start: usize, count: usize, f: &mut impl FnMut(f64, Key)) -> usize {
    match node {
        Node::Leaf(l) => {
            let end = (start + count).min(l.len());
            for (s, m) in l.scores.drain(start..end).zip(l.members.drain(start..end)) {
                f(s, m);
            }
            end - start
        }
        Node::Inner(n) => {
            let mut s = start;
            let mut i = 0;
            while s >= n.counts[i] {
                s -= n.counts[i];
                i += 1;
            }
            let removed = drain_rec(&mut n.children[i], s, count, f);
            n.counts[i] -= removed;
            n.fix_child(i);
            removed
        }
    }
}

fn walk_fwd(node: &Node, start: usize, f: &mut impl FnMut(f64, &Key) -> bool) -> bool {
    match node {
        Node::Leaf(l) => {
            for i in start..l.len() {
                if !f(l.scores[i], &l.members[i]) {
                    return false;
                }
            }
            true
        }
        Node::Inner(n) => {
            let mut s = start;
            for (i, c) in n.children.iter().enumerate() {
                if s >= n.counts[i] {
                    s -= n.counts[i];
                    continue;
                }
                if !walk_fwd(c, s, f) {
                    return false;
                }
                s = 0;
            }
            true
        }
    }
}

/// Walks from rank `start` (included) down to rank 0.
fn walk_rev(node: &Node, start: usize, f: &mut impl FnMut(f64, &Key) -> bool) -> bool {
    match node {
        Node::Leaf(l) => {
            for i in (0..=start.min(l.len().saturating_sub(1))).rev() {
                if !f(l.scores[i], &l.members[i]) {
                    return false;
                }
            }
            true
        }
        Node::Inner(n) => {
            let mut s = start;
            let mut i = 0;
            while i + 1 < n.children.len() && s >= n.counts[i] {
                s -= n.counts[i];
                i += 1;
            }
            loop {
                if !walk_rev(&n.children[i], s, f) {
                    return false;
                }
                if i == 0 {
                    return true;
                }
                i -= 1;
                s = n.counts[i].saturating_sub(1);
            }
        }
    }
}

/// The sorted order of a large zset. See the module documentation.
#[derive(Debug, Clone)]
pub struct ZTree {
    root: Node,
    len: usize,
}

impl Default for ZTree {
    fn default() -> Self {
        Self::new()
    }
}

impl ZTree {
    pub fn new() -> Self {
        ZTree { root: Node::Leaf(Leaf::default()), len: 0 }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts an element; the caller guarantees the member is not present (the member
    /// dict is the authority on membership).
    pub fn insert(&mut self, score: f64, member: Key) {
        self.len += 1;
        if let Some((s, m, c, right)) = insert_rec(&mut self.root, score, member) {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Leaf::default()));
            let lc = self.len - c;
            // The new root's first bound is never consulted for routing.
            self.root = Node::Inner(Inner {
                low_s: vec![f64::NEG_INFINITY, s],
                low_m: vec![Key::from(&b""[..]), m],
                counts: vec![lc, c],
                children: vec![left, right],
            });
        }
    }

    /// Removes the element (score, member); returns its member key if it was there.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> Option<Key> {
        let k = remove_rec(&mut self.root, score, member)?;
        self.len -= 1;
        self.collapse_root();
        Some(k)
    }

    fn collapse_root(&mut self) {
        while let Node::Inner(n) = &mut self.root {
            if n.children.len() != 1 {
                break;
            }
            let child = n.children.pop().expect("one child");
            self.root = child;
        }
    }

    /// Number of elements for which `before` holds; `before` must be monotone over the
    /// order (true for a prefix), e.g. `|s, _| s < min`.
    pub fn rank_by(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut node = &self.root;
        let mut rank = 0;
        loop {
            match node {
                Node::Leaf(l) => return rank + l.partition(&before),
                Node::Inner(n) => {
                    let i = n.route(&before);
                    rank += n.counts[..i].iter().sum::<usize>();
                    node = &n.children[i];
                }
            }
        }
    }

    /// 0-based rank of the element (score, member), if present.
    pub fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let r = self.rank_by(|s, m| cmp_elem(s, m, score, member) == Ordering::Less);
        match self.get(r) {
            Some((s, m)) if s == score && &**m == member => Some(r),
            _ => None,
        }
    }

    /// The element at rank `r`.
    pub fn get(&self, mut r: usize) -> Option<(f64, &Key)> {
        if r >= self.len {
            return None;
        }
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(l) => return Some((l.scores[r], &l.members[r])),
                Node::Inner(n) => {
                    let mut i = 0;
                    while r >= n.counts[i] {
                        r -= n.counts[i];
                        i += 1;
                    }
                    node = &n.children[i];
                }
            }
        }
    }

    /// Calls `f` on elements from rank `start` upwards (or, with `rev`, downwards to
    /// rank 0) until it returns false or the elements run out.
    pub fn walk(&self, start: usize, rev: bool, mut f: impl FnMut(f64, &Key) -> bool) {
        if start >= self.len {
            return;
        }
        if rev {
            walk_rev(&self.root, start, &mut f);
        } else {
            walk_fwd(&self.root, start, &mut f);
        }
    }

    /// Removes `count` elements from rank `start`, handing each to `f` in order.
    pub fn remove_range(&mut self, start: usize, count: usize, mut f: impl FnMut(f64, Key)) {
        let mut left = count.min(self.len.saturating_sub(start));
        while left > 0 {
            let n = drain_rec(&mut self.root, start, left, &mut f);
            debug_assert!(n > 0);
            if n == 0 {
                break;
            }
            left -= n;
            self.len -= n;
            self.collapse_root();
        }
    }

    /// MEMORY USAGE's estimate of the heap the tree owns, sampled as Redis samples a
    /// skiplist's first elements: the leaves holding the first `samples` elements are
    /// measured (their vectors, their members' own bytes, and the parent's entry for each
    /// leaf), averaged per element and multiplied by the length (`usize::MAX`: every leaf).
    pub fn mem_usage_sampled(&self, samples: usize) -> usize {
        use std::mem::size_of;
        /// An inner node's entry for one child: bound score and member, count, child.
        const PER_CHILD: usize = 8 + size_of::<Key>() + 8 + size_of::<Node>();
        fn leaves(n: &Node, want: usize, bytes: &mut usize, elems: &mut usize) {
            match n {
                Node::Leaf(l) => {
                    *bytes += heap_alloc(l.scores.capacity() * 8)
                        + heap_alloc(l.members.capacity() * size_of::<Key>())
                        + l.members.iter().map(|k| heap_alloc(k.heap_len())).sum::<usize>()
                        + PER_CHILD;
                    *elems += l.len();
                }
                Node::Inner(i) => {
                    for c in &i.children {
                        if *elems >= want {
                            return;
                        }
                        leaves(c, want, bytes, elems);
                    }
                }
            }
        }
        let (mut bytes, mut elems) = (0, 0);
        leaves(&self.root, samples.max(1), &mut bytes, &mut elems);
        if elems == 0 {
            return 0;
        }
        (bytes as f64 / elems as f64 * self.len as f64) as usize
    }

    /// Number of nodes (lazy free effort).
    pub fn node_count(&self) -> usize {
        fn rec(n: &Node) -> usize {
            match n {
                Node::Leaf(_) => 1,
                Node::Inner(i) => 1 + i.children.iter().map(rec).sum::<usize>(),
            }
        }
        rec(&self.root)
    }

    /// Checks every structural invariant (tests).
    #[cfg(test)]
    pub fn check(&self) {
        fn rec(n: &Node, depth: usize, leaf_depth: &mut Option<usize>, is_root: bool) -> usize {
            match n {
                Node::Leaf(l) => {
                    assert_eq!(l.scores.len(), l.members.len());
                    assert!(l.len() <= LEAF_CAP);
                    assert!(is_root || !l.scores.is_empty(), "empty non-root leaf");
                    for w in 0..l.len().saturating_sub(1) {
                        assert_eq!(
                            cmp_elem(l.scores[w], &l.members[w], l.scores[w + 1], &l.members[w + 1]),
                            Ordering::Less
                        );
                    }
                    match leaf_depth {
                        Some(d) => assert_eq!(*d, depth),
                        None => *leaf_depth = Some(depth),
                    }
                    l.len()
                }
                Node::Inner(i) => {
                    assert!(i.children.len() <= INNER_CAP);
                    assert!(!is_root || i.children.len() >= 2);
                    let mut total = 0;
                    for (k, c) in i.children.iter().enumerate() {
                        let cnt = rec(c, depth + 1, leaf_depth, false);
                        assert_eq!(cnt, i.counts[k]);
                        total += cnt;
                        let mut first = None;
                        let mut last = None;
                        walk_fwd(c, 0, &mut |s, m| {
                            if first.is_none() {
                                first = Some((s, m.to_vec()));
                            }
                            last = Some((s, m.to_vec()));
                            true
                        });
                        if k > 0 {
                            let (fs, fm) = first.expect("non-empty");
                            assert_ne!(cmp_elem(fs, &fm, i.low_s[k], &i.low_m[k]), Ordering::Less);
                        }
                        if k + 1 < i.children.len() {
                            let (ls, lm) = last.expect("non-empty");
                            assert_eq!(cmp_elem(ls, &lm, i.low_s[k + 1], &i.low_m[k + 1]), Ordering::Less);
                        }
                    }
                    total
                }
            }
        }
        let mut d = None;
        let n = rec(&self.root, 0, &mut d, true);
        assert_eq!(n, self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// f64 with a total order for the model (scores are never NaN).
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Os(f64);
    impl Eq for Os {}
    impl PartialOrd for Os {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Os {
        fn cmp(&self, o: &Self) -> Ordering {
            self.0.partial_cmp(&o.0).expect("no NaN")
        }
    }

    type Model = BTreeSet<(Os, Vec<u8>)>;

    fn contents(t: &ZTree) -> Vec<(f64, Vec<u8>)> {
        let mut v = vec![];
        t.walk(0, false, |s, m| {
            v.push((s, m.to_vec()));
            true
        });
        v
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(i8, u16),
        Remove(i8, u16),
        RemoveRange(u16, u16),
        Queries(i8, bool, i8, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<i8>(), 0u16..3000).prop_map(|(s, m)| Op::Insert(s, m)),
            3 => (any::<i8>(), 0u16..3000).prop_map(|(s, m)| Op::Remove(s, m)),
            1 => (0u16..2000, 0u16..200).prop_map(|(a, b)| Op::RemoveRange(a, b)),
            1 => (any::<i8>(), any::<bool>(), any::<i8>(), any::<bool>()).prop_map(|(a, b, c, d)| Op::Queries(a, b, c, d)),
        ]
    }

    fn member(m: u16) -> Vec<u8> {
        format!("m{m:05}").into_bytes()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn tree_matches_model(ops in proptest::collection::vec(op(), 1..3000)) {
            let mut t = ZTree::new();
            let mut model = Model::new();
            for op in ops {
                match op {
                    Op::Insert(s, m) => {
                        let s = (s / 8) as f64;
                        let m = member(m);
                        if model.insert((Os(s), m.clone())) {
                            t.insert(s, Key::from(m));
                        }
                    }
                    Op::Remove(s, m) => {
                        let s = (s / 8) as f64;
                        let m = member(m);
                        let had = model.remove(&(Os(s), m.clone()));
                        prop_assert_eq!(t.remove(s, &m).is_some(), had);
                    }
                    Op::RemoveRange(a, n) => {
                        let start = a as usize;
                        let all: Vec<_> = model.iter().cloned().collect();
                        let mut expect = vec![];
                        for e in all.iter().skip(start).take(n as usize) {
                            expect.push((e.0 .0, e.1.clone()));
                            model.remove(e);
                        }
                        let mut got = vec![];
                        t.remove_range(start, n as usize, |s, k| got.push((s, k.to_vec())));
                        prop_assert_eq!(got, expect);
                    }
                    Op::Queries(a, ax, b, bx) => {
                        let (min, max) = ((a / 8) as f64, (b / 8) as f64);
                        let before_min = |s: f64| if ax { s <= min } else { s < min };
                        let upto_max = |s: f64| if bx { s < max } else { s <= max };
                        let lo = t.rank_by(|s, _| before_min(s));
                        let hi = t.rank_by(|s, _| upto_max(s));
                        prop_assert_eq!(lo, model.iter().filter(|e| before_min(e.0 .0)).count());
                        prop_assert_eq!(hi, model.iter().filter(|e| upto_max(e.0 .0)).count());
                        // Lex bound over members.
                        let lm = member(a as u8 as u16 * 10);
                        let lr = t.rank_by(|s, m| s < 0.0 || (s == 0.0 && m < &lm[..]));
                        prop_assert_eq!(lr, model.iter().filter(|e| e.0 .0 < 0.0 || (e.0 .0 == 0.0 && e.1 < lm)).count());
                        for (r, e) in model.iter().enumerate().step_by(7) {
                            prop_assert_eq!(t.rank(e.0 .0, &e.1), Some(r));
                            let (s, m) = t.get(r).unwrap();
                            prop_assert_eq!((s, m.to_vec()), (e.0 .0, e.1.clone()));
                        }
                        if hi > 0 {
                            let mut rev = vec![];
                            t.walk(hi - 1, true, |s, m| { rev.push((s, m.to_vec())); rev.len() < 50 });
                            let want: Vec<_> = model.iter().take(hi).rev().take(50).map(|e| (e.0 .0, e.1.clone())).collect();
                            prop_assert_eq!(rev, want);
                        }
                    }
                }
                prop_assert_eq!(t.len(), model.len());
            }
            t.check();
            let want: Vec<_> = model.iter().map(|e| (e.0 .0, e.1.clone())).collect();
            prop_assert_eq!(contents(&t), want);
        }
    }

    #[test]
    fn sequential_and_mass_removal() {
        let mut t = ZTree::new();
        for i in 0..100_000u32 {
            t.insert(i as f64, Key::from(i.to_be_bytes().to_vec()));
        }
        t.check();
        assert_eq!(t.rank(500.0, &500u32.to_be_bytes()), Some(500));
        assert_eq!(t.get(99_999).map(|e| e.0), Some(99_999.0));
        let mut n = 0;
        t.remove_range(10, 99_980, |_, _| n += 1);
        assert_eq!(n, 99_980);
        t.check();
        assert_eq!(t.len(), 20);
        for i in (0..10u32).chain(99_990..100_000) {
            assert!(t.remove(i as f64, &i.to_be_bytes()).is_some());
            t.check();
        }
        assert!(t.is_empty());
    }
}
