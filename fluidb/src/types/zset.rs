//! Sorted sets (t_zset.c): a listpack while small, a member dict plus an order-statistic
//! B+tree beyond `zset-max-listpack-entries` / `zset-max-listpack-value`.
//!
//! Small form: a [`Listpack`] of member, score pairs sorted by (score, member), exactly
//! Redis's bytes: a score is stored as an integer entry when it is integral and fits
//! (`double2ll`), else as its `d2string` text (ZSCAN returns those stored bytes).
//!
//! Large form ("skiplist" for OBJECT ENCODING): `Dict<f64>` (member → score, O(1)
//! ZSCORE, ZSCAN with Redis's cursor guarantee) plus a [`ZTree`] ordered by (score,
//! member) with subtree counts, replacing Redis's skiplist: ranks, rank ranges, score
//! and lex bounds in O(log n), elements stored contiguously.
//!
//! Commands work through a small rank-based interface common to both forms:
//! [`ZSet::count_before`] (rank of a monotone bound), [`ZSet::walk`] (from a rank, in
//! either direction) and [`ZSet::remove_ranks`], so each command has one code path.

use super::heap_alloc;
use super::listpack::{Listpack, LpVal};
use super::zset_tree::{cmp_elem, ZTree};
use crate::keyspace::dict::{Dict, Key};
use crate::util::digest::{mix_digest, xor_digest, Digest};
use crate::util::numeric::{fmt_g17, string2d, zset_listpack_score_repr};

/// Redis's ZADD input flags (`ZADD_IN_*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AddFlags {
    pub incr: bool,
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

/// What [`ZSet::add`] did (`ZADD_OUT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    Added,
    Updated,
    /// Nothing changed because of an option (NX, XX, GT, LT), or the score was the same.
    Unchanged,
    /// Not performed because of NX/XX/GT/LT (Redis's `ZADD_OUT_NOP`).
    Nop,
}

/// [`ZSet::add`] refused: the resulting score would be NaN (e.g. INCR of +inf by -inf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NanScore;

/// The encoding thresholds (`zset-max-listpack-entries`, `zset-max-listpack-value`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

/// The large form.
#[derive(Debug, Default)]
pub struct Big {
    pub dict: Dict<f64>,
    pub tree: ZTree,
}

/// A sorted set value.
#[derive(Debug)]
pub enum ZSet {
    Small(Listpack),
    Large(Box<Big>),
}

impl Default for ZSet {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for ZSet {
    fn clone(&self) -> Self {
        match self {
            ZSet::Small(lp) => ZSet::Small(lp.clone()),
            ZSet::Large(b) => {
                let mut n = Big::default();
                b.tree.walk(0, false, |s, m| {
                    n.dict.insert(m.clone(), s);
                    n.tree.insert(s, m.clone());
                    true
                });
                ZSet::Large(Box::new(n))
            }
        }
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.to_vec() == other.to_vec()
    }
}

/// The score of a listpack entry (`zzlGetScore`).
#[inline]
fn lp_score(v: LpVal<'_>) -> f64 {
    match v {
        LpVal::Int(i) => i as f64,
        LpVal::Str(s) => string2d(s).unwrap_or(0.0),
    }
}

impl ZSet {
    /// An empty listpack-encoded zset (`createZsetListpackObject`).
    pub fn new() -> Self {
        ZSet::Small(Listpack::new())
    }

    /// An empty skiplist-encoded zset (`createZsetObject`).
    pub fn new_large() -> Self {
        ZSet::Large(Box::default())
    }

    /// The zset ZADD creates for its first element (Redis 7.0 `zaddGenericCommand`).
    pub fn for_first(member_len: usize, lim: Limits) -> Self {
        if lim.max_entries == 0 || member_len > lim.max_value {
            Self::new_large()
        } else {
            Self::new()
        }
    }

    /// OBJECT ENCODING's name for the current representation.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Small(_) => "listpack",
            ZSet::Large(_) => "skiplist",
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ZSet::Small(lp) => lp.len() / 2,
            ZSet::Large(b) => b.tree.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Small(lp) => {
                let p = lp.find(lp.first()?, member, 1)?;
                Some(lp_score(lp.get(lp.next(p)?)))
            }
            ZSet::Large(b) => b.dict.get(member).copied(),
        }
    }

    /// Converts the listpack form to the large form (`zsetConvert(.., SKIPLIST)`).
    pub fn convert_to_large(&mut self) {
        let ZSet::Small(lp) = self else { return };
        let mut big = Big::default();
        let mut it = lp.iter();
        while let (Some(m), Some(s)) = (it.next(), it.next()) {
            let score = lp_score(s);
            let key = m.with_bytes(|b| Key::from(b));
            big.dict.insert(key.clone(), score);
            big.tree.insert(score, key);
        }
        *self = ZSet::Large(Box::new(big));
    }

    /// `zsetConvertToListpackIfNeeded`: back to a listpack when the set fits the limits
    /// (used for the results of ZUNIONSTORE & co. and ZRANGESTORE).
    pub fn convert_to_small_if_fits(&mut self, max_member_len: usize, total_len: usize, lim: Limits) {
        let ZSet::Large(b) = self else { return };
        if b.tree.len() > lim.max_entries || max_member_len > lim.max_value || total_len > (1 << 30) {
            return;
        }
        let mut lp = Listpack::new();
        b.tree.walk(0, false, |s, m| {
            lp.push_back(m);
            lp.push_back(&zset_listpack_score_repr(s));
            true
        });
        *self = ZSet::Small(lp);
    }

    /// Inserts a member known to be absent, keeping the listpack sorted (`zzlInsert`).
    fn lp_insert(lp: &mut Listpack, member: &[u8], score: f64) {
        let repr = zset_listpack_score_repr(score);
        let mut p = lp.first();
        while let Some(mp) = p {
            let Some(sp) = lp.next(mp) else { break };
            let s = lp_score(lp.get(sp));
            let after = s > score || (s == score && lp.get(mp).with_bytes(|m| m > member));
            if after {
                let q = lp.insert_before(mp, &repr);
                lp.insert_before(q, member);
                return;
            }
            p = lp.next(sp);
        }
        lp.push_back(member);
        lp.push_back(&repr);
    }

    /// Redis's `zsetAdd`: adds or updates `member` following the ZADD flags. Err when
    /// the resulting score is NaN. Returns the outcome and the element's new score.
    pub fn add(&mut self, score: f64, member: &[u8], f: AddFlags, lim: Limits) -> Result<(AddOutcome, f64), NanScore> {
        if score.is_nan() {
            return Err(NanScore);
        }
        if let Some(cur) = self.score(member) {
            if f.nx {
                return Ok((AddOutcome::Nop, cur));
            }
            let mut score = score;
            if f.incr {
                score += cur;
                if score.is_nan() {
                    return Err(NanScore);
                }
            }
            if (f.lt && score >= cur) || (f.gt && score <= cur) {
                return Ok((AddOutcome::Nop, cur));
            }
            if score == cur {
                return Ok((AddOutcome::Unchanged, score));
            }
            match self {
                ZSet::Small(lp) => {
                    if let Some(p) = lp.first().and_then(|f0| lp.find(f0, member, 1)) {
                        let sp = lp.delete(p);
                        if let Some(sp) = sp {
                            lp.delete(sp);
                        }
                    }
                    Self::lp_insert(lp, member, score);
                }
                ZSet::Large(b) => {
                    if let Some(k) = b.tree.remove(cur, member) {
                        b.tree.insert(score, k);
                    }
                    if let Some(v) = b.dict.get_mut(member) {
                        *v = score;
                    }
                }
            }
            return Ok((AddOutcome::Updated, score));
        }
        if f.xx {
            return Ok((AddOutcome::Nop, score));
        }
        if let ZSet::Small(lp) = self {
            if lp.len() / 2 + 1 > lim.max_entries || member.len() > lim.max_value || !lp.safe_to_add(member.len()) {
                self.convert_to_large();
            }
        }
        match self {
            ZSet::Small(lp) => Self::lp_insert(lp, member, score),
            ZSet::Large(b) => {
                let k = Key::from(member);
                b.dict.insert(k.clone(), score);
                b.tree.insert(score, k);
            }
        }
        Ok((AddOutcome::Added, score))
    }

    /// Removes `member`; whether it was there (`zsetDel`).
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSet::Small(lp) => {
                let Some(p) = lp.first().and_then(|f0| lp.find(f0, member, 1)) else { return false };
                if let Some(sp) = lp.delete(p) {
                    lp.delete(sp);
                }
                true
            }
            ZSet::Large(b) => match b.dict.remove(member) {
                Some((_, s)) => {
                    b.tree.remove(s, member);
                    true
                }
                None => false,
            },
        }
    }

    /// 0-based rank of `member` in ascending order, with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match self {
            ZSet::Small(lp) => {
                let mut it = lp.iter();
                let mut r = 0;
                while let (Some(m), Some(s)) = (it.next(), it.next()) {
                    if m.eq_bytes(member) {
                        return Some((r, lp_score(s)));
                    }
                    r += 1;
                }
                None
            }
            ZSet::Large(b) => {
                let s = *b.dict.get(member)?;
                b.tree.rank(s, member).map(|r| (r, s))
            }
        }
    }

    /// Number of elements for which `before(score, member)` holds, for a predicate that
    /// holds for a prefix of the order (a score or lex lower/upper bound).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Small(lp) => {
                let mut it = lp.iter();
                let mut r = 0;
                while let (Some(m), Some(s)) = (it.next(), it.next()) {
                    if !m.with_bytes(|m| before(lp_score(s), m)) {
                        break;
                    }
                    r += 1;
                }
                r
            }
            ZSet::Large(b) => b.tree.rank_by(before),
        }
    }

    /// Calls `f(member, score)` from rank `start` upwards (`rev`: downwards to rank 0)
    /// until it returns false or the elements run out.
    pub fn walk(&self, start: usize, rev: bool, mut f: impl FnMut(&[u8], f64) -> bool) {
        let len = self.len();
        if start >= len {
            return;
        }
        match self {
            ZSet::Small(lp) => {
                if rev {
                    let Some(mut sp) = lp.seek(2 * start as i64 + 1) else { return };
                    loop {
                        let Some(mp) = lp.prev(sp) else { return };
                        let s = lp_score(lp.get(sp));
                        if !lp.get(mp).with_bytes(|m| f(m, s)) {
                            return;
                        }
                        match lp.prev(mp) {
                            Some(p) => sp = p,
                            None => return,
                        }
                    }
                } else {
                    let Some(p) = lp.seek(2 * start as i64) else { return };
                    let mut it = lp.iter_from(p);
                    while let (Some(m), Some(s)) = (it.next(), it.next()) {
                        if !m.with_bytes(|m| f(m, lp_score(s))) {
                            return;
                        }
                    }
                }
            }
            ZSet::Large(b) => b.tree.walk(start, rev, |s, m| f(m, s)),
        }
    }

    /// Removes `count` elements from rank `start` (ascending order), calling
    /// `f(member, score)` on each before it goes.
    pub fn remove_ranks(&mut self, start: usize, count: usize, mut f: impl FnMut(&[u8], f64)) {
        let count = count.min(self.len().saturating_sub(start));
        if count == 0 {
            return;
        }
        match self {
            ZSet::Small(lp) => {
                if let Some(p) = lp.seek(2 * start as i64) {
                    let mut it = lp.iter_from(p);
                    for _ in 0..count {
                        if let (Some(m), Some(s)) = (it.next(), it.next()) {
                            m.with_bytes(|m| f(m, lp_score(s)));
                        }
                    }
                }
                lp.delete_range(2 * start as i64, 2 * count);
            }
            ZSet::Large(b) => {
                let Big { dict, tree } = &mut **b;
                tree.remove_range(start, count, |s, k| {
                    f(&k, s);
                    dict.remove(&k);
                });
            }
        }
    }

    /// Every element in order (tests, small helpers).
    pub fn to_vec(&self) -> Vec<(Vec<u8>, f64)> {
        let mut v = Vec::with_capacity(self.len());
        self.walk(0, false, |m, s| {
            v.push((m.to_vec(), s));
            true
        });
        v
    }

    /// One ZSCAN step: on a listpack the whole set at once (cursor 0 back), as Redis does;
    /// on the large form a dict scan step. `f(member, score_bytes)` gets the score as
    /// ZSCAN prints it (the stored listpack bytes, or `%.17g`).
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            ZSet::Small(lp) => {
                let mut it = lp.iter();
                while let (Some(m), Some(s)) = (it.next(), it.next()) {
                    m.with_bytes(|m| s.with_bytes(|s| f(m, s)));
                }
                0
            }
            ZSet::Large(b) => b.dict.scan(cursor, |k, s| f(k, &crate::util::numeric::fmt_double_reply(*s))),
        }
    }

    /// A uniformly random element (ZRANDMEMBER with a negative count picks with these).
    pub fn random<R: rand::Rng>(&self, rng: &mut R) -> Option<(Vec<u8>, f64)> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match self {
            ZSet::Small(_) => {
                let r = rng.gen_range(0..n);
                let mut out = None;
                self.walk(r, false, |m, s| {
                    out = Some((m.to_vec(), s));
                    false
                });
                out
            }
            ZSet::Large(b) => b.dict.random_entry(rng).map(|(k, s)| (k.to_vec(), *s)),
        }
    }

    /// This value's part of DEBUG DIGEST (Redis's `xorObjectDigest` for zsets, after the
    /// caller mixed in the type): the xor of each element's mix(member) + mix("%.17g").
    pub fn digest(&self, digest: &mut Digest) {
        self.walk(0, false, |m, s| {
            let mut ele = [0u8; 20];
            mix_digest(&mut ele, m);
            mix_digest(&mut ele, &fmt_g17(s));
            xor_digest(digest, &ele);
            true
        });
    }

    /// The rehash work of `draws` random picks from the member dict (see
    /// `Dict::rehash_for_draws`); nothing for a listpack.
    pub fn rehash_for_draws(&mut self, draws: usize) {
        if let ZSet::Large(b) = self {
            b.dict.rehash_for_draws(draws);
        }
    }

    /// MEMORY USAGE's estimate of the heap this zset owns: the listpack, or the boxed
    /// member dict and order tree, each sampled over its first `samples` elements
    /// (`usize::MAX`: all).
    pub fn mem_usage(&self, samples: usize) -> usize {
        match self {
            ZSet::Small(lp) => heap_alloc(lp.alloc_size()),
            ZSet::Large(b) => {
                heap_alloc(std::mem::size_of::<Big>())
                    + b.dict.mem_usage_sampled(samples, |_| 0)
                    + b.tree.mem_usage_sampled(samples)
            }
        }
    }

    /// Roughly the number of allocations freeing this value takes (lazy free).
    pub fn free_effort(&self) -> usize {
        match self {
            ZSet::Small(_) => 1,
            ZSet::Large(b) => b.tree.len() + b.tree.node_count(),
        }
    }

    /// DEBUG OBJECT's `serializedlength`: the RDB-serialized size (uncompressed estimate:
    /// the listpack blob, or each member string plus an 8-byte binary score).
    pub fn serialized_len(&self) -> usize {
        fn len_len(n: usize) -> usize {
            if n < 1 << 6 {
                1
            } else if n < 1 << 14 {
                2
            } else if n <= u32::MAX as usize {
                5
            } else {
                9
            }
        }
        match self {
            ZSet::Small(lp) => len_len(lp.bytes().len()) + lp.bytes().len(),
            ZSet::Large(b) => {
                let mut n = len_len(b.tree.len());
                b.tree.walk(0, false, |_, m| {
                    n += len_len(m.len()) + m.len() + 8;
                    true
                });
                n
            }
        }
    }

    /// Order of two elements (shared with the commands for merges).
    #[inline]
    pub fn cmp(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> std::cmp::Ordering {
        cmp_elem(s1, m1, s2, m2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const LIM: Limits = Limits { max_entries: 16, max_value: 8 };

    fn model_vec(m: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<_> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn zset_matches_model(ops in proptest::collection::vec((0u8..4, 0u16..40, -6i8..6, 0usize..10), 1..400)) {
            let mut z = ZSet::new();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            for (op, m, s, n) in ops {
                // Long members force the large form.
                let member = if m % 13 == 12 { format!("long-member-{m}").into_bytes() } else { format!("{m}").into_bytes() };
                let score = s as f64 / 2.0;
                match op {
                    0 | 1 => {
                        let incr = op == 1;
                        let r = z.add(score, &member, AddFlags { incr, ..Default::default() }, LIM).unwrap();
                        let e = model.entry(member.clone()).or_insert(f64::NAN);
                        let new = if e.is_nan() { score } else if incr { *e + score } else { score };
                        *e = new;
                        prop_assert_eq!(r.1, new);
                    }
                    2 => { prop_assert_eq!(z.remove(&member), model.remove(&member).is_some()); }
                    _ => {
                        let start = n;
                        let want = model_vec(&model);
                        let mut got = vec![];
                        z.remove_ranks(start, 3, |m, s| got.push((m.to_vec(), s)));
                        let exp: Vec<_> = want.iter().skip(start).take(3).cloned().collect();
                        for (k, _) in &exp { model.remove(k); }
                        prop_assert_eq!(got, exp);
                    }
                }
                let want = model_vec(&model);
                prop_assert_eq!(z.to_vec(), want.clone());
                prop_assert_eq!(z.len(), model.len());
                for (r, (k, s)) in want.iter().enumerate() {
                    prop_assert_eq!(z.rank(k), Some((r, *s)));
                    prop_assert_eq!(z.score(k), Some(*s));
                }
                let c = z.count_before(|s, _| s < 0.5);
                prop_assert_eq!(c, want.iter().filter(|e| e.1 < 0.5).count());
                let mut rev = vec![];
                if !want.is_empty() {
                    z.walk(want.len() - 1, true, |m, s| { rev.push((m.to_vec(), s)); true });
                }
                prop_assert_eq!(rev, want.iter().rev().cloned().collect::<Vec<_>>());
                if model.len() > LIM.max_entries { prop_assert_eq!(z.encoding(), "skiplist"); }
                let mut d1 = [0u8; 20];
                crate::util::digest::mix_object_type(&mut d1, 3);
                z.digest(&mut d1);
                let mut d2 = [0u8; 20];
                crate::util::digest::zset_value_digest(&mut d2, want.iter().map(|(k, s)| (k, *s)));
                prop_assert_eq!(d1, d2);
            }
        }
    }

    #[test]
    fn listpack_scores_as_redis() {
        let mut z = ZSet::new();
        for (s, m) in [(-0.0, "a"), (1e17, "b"), (1.5, "c"), (16.0, "d")] {
            z.add(s, m.as_bytes(), AddFlags::default(), LIM).unwrap();
        }
        let mut v = vec![];
        z.scan(0, |m, s| v.push(format!("{}={}", String::from_utf8_lossy(m), String::from_utf8_lossy(s))));
        assert_eq!(v, ["a=0", "c=1.5", "d=16", "b=100000000000000000"]);
        let mut z2 = z.clone();
        z2.convert_to_large();
        assert_eq!(z2, z);
        assert_eq!(z2.encoding(), "skiplist");
        z2.convert_to_small_if_fits(1, 10, LIM);
        assert_eq!(z2.encoding(), "listpack");
        assert_eq!(z2, z);
    }
}
