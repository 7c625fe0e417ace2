//! Lists (t_list.c + quicklist.c): a quicklist of listpack nodes, plain nodes and
//! LZF-compressed inner nodes.
//!
//! Why this shape: Redis 7.0 always encodes a list as a quicklist (OBJECT ENCODING says
//! "quicklist" even for one element), a sequence of nodes, each a listpack bounded by
//! `list-max-listpack-size`. Keeping Redis's exact listpack bytes and its node size rules
//! (`_quicklistNodeAllowInsert`, `_quicklistNodeAllowMerge`) gives the same memory use as
//! Redis (about 16 bytes per short element with 8 KB nodes) and O(node) edits in the middle.
//!
//! Nodes live in a `VecDeque` (so pushes and pops at both ends are O(1)); each node knows
//! its element count, so finding element `i` walks node counts from the nearer end, then
//! seeks inside one node. A node is one of (quicklist.c's container and encoding):
//! - **packed**: a listpack of elements;
//! - **plain**: one element stored as it is, for an element of at least the packed
//!   threshold (`isLargeElement`: 1 GB by default, changed by `DEBUG
//!   QUICKLIST-PACKED-THRESHOLD`; process-wide as in Redis). A plain node never takes a
//!   second element and never merges;
//! - **compressed** (`list-compress-depth` > 0): the LZF form of a packed or plain node
//!   further than `depth` nodes from both ends, when it is at least `MIN_COMPRESS_BYTES` and
//!   compression saves at least `MIN_COMPRESS_IMPROVE` bytes. The first and last `depth`
//!   nodes always stay uncompressed, so pushes and pops never decompress.
//!
//! Compression follows quicklist.c's outcome rather than its bookkeeping: after an edit, the
//! nodes within `depth` of either end are decompressed, and the nodes the edit created or
//! changed beyond that, plus the node just past `depth` at each end (the one a new end node
//! pushed inwards), are compressed. Reads (LINDEX, LRANGE, LPOS...) decompress a compressed
//! node into a temporary copy and leave the node as it was, where Redis decompresses the
//! node in place and compresses it again afterwards; writes to a compressed node decompress
//! it in place, edit it and compress it again.
//!
//! Differences from quicklist.c, none of them visible to clients:
//! - LSET of a value that no longer fits its node (by the node size rules) moves the
//!   element into a node of its own and merges around it, as Redis 7.2 does (7.0 grows the
//!   listpack in place past the limits, which here could break the 1 GB listpack limit);
//! - after removals in the middle (LREM) a node that became small is merged with a
//!   neighbour when the merge rule allows it, so LREM does not leave a trail of tiny nodes
//!   (quicklist.c only merges after a split);
//! - an element too big for any listpack (over 1 GB) always gets a plain node, even when
//!   the packed threshold was raised above it.

use std::collections::VecDeque;
use std::fmt::Write as _;

use super::listpack::{Listpack, LpVal, LISTPACK_MAX_SAFETY_SIZE};
use super::{heap_alloc, rdb_len_len, rdb_string_len};
use crate::util::{digest, lzf};

/// `SIZE_SAFETY_LIMIT`: a node grows past 8 KB only under a positive (count) fill when it
/// holds a single element.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// `SIZE_ESTIMATE_OVERHEAD`: the most bytes one entry adds to a listpack beyond its data
/// (as Redis estimates it when deciding whether an element joins a node).
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Node byte limits of fill -1..-5 (`optimization_level`).
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// `FILL_MAX`: largest positive fill (entries per node).
const FILL_MAX: i32 = (1 << 15) - 1;
/// `COMPRESS_MAX`: largest compress depth (a 16-bit field in Redis).
const COMPRESS_MAX: i32 = (1 << 16) - 1;
/// `MIN_COMPRESS_BYTES`: smaller nodes are not worth compressing.
const MIN_COMPRESS_BYTES: usize = 48;
/// `MIN_COMPRESS_IMPROVE`: a node is kept compressed only when that saves this much.
const MIN_COMPRESS_IMPROVE: usize = 8;
/// Redis's default `list-max-listpack-size`.
pub const DEFAULT_FILL: i32 = -2;
/// quicklist.c's default `packed_threshold` (1 GB).
pub const DEFAULT_PACKED_THRESHOLD: usize = 1 << 30;
/// Largest element a fresh listpack can take within `LISTPACK_MAX_SAFETY_SIZE` (header,
/// terminator, a 5-byte string header and a 5-byte backlen around it).
const LARGEST_PACKED: usize = LISTPACK_MAX_SAFETY_SIZE - 32;

// ---- the packed threshold (process-wide, as quicklist.c's `packed_threshold`) ----

#[cfg(not(test))]
mod threshold {
    use std::sync::atomic::{AtomicUsize, Ordering};

    static PACKED_THRESHOLD: AtomicUsize = AtomicUsize::new(super::DEFAULT_PACKED_THRESHOLD);

    #[inline]
    pub fn get() -> usize {
        PACKED_THRESHOLD.load(Ordering::Relaxed)
    }

    pub fn set(sz: usize) {
        PACKED_THRESHOLD.store(sz, Ordering::Relaxed);
    }
}

/// Unit tests run in parallel threads of one process: each test thread has its own
/// threshold so a test lowering it does not change the lists of another.
#[cfg(test)]
mod threshold {
    use std::cell::Cell;

    thread_local! {
        static PACKED_THRESHOLD: Cell<usize> = const { Cell::new(super::DEFAULT_PACKED_THRESHOLD) };
    }

    pub fn get() -> usize {
        PACKED_THRESHOLD.with(Cell::get)
    }

    pub fn set(sz: usize) {
        PACKED_THRESHOLD.with(|t| t.set(sz));
    }
}

/// `quicklistisSetPackedThreshold`: elements of at least `sz` bytes get plain nodes from
/// now on (0 restores the 1 GB default). False, changing nothing, above 4 GB - 1 MB.
pub fn set_packed_threshold(sz: u64) -> bool {
    if sz > (1u64 << 32) - (1 << 20) {
        return false;
    }
    threshold::set(if sz == 0 { DEFAULT_PACKED_THRESHOLD } else { sz as usize });
    true
}

/// The current packed threshold.
pub fn packed_threshold() -> usize {
    threshold::get()
}

/// `isLargeElement`: an element of `sz` bytes gets a plain node.
#[inline]
pub fn is_large(sz: usize) -> bool {
    sz >= threshold::get() || !fits_packed(sz)
}

/// Whether an element of `sz` bytes fits a listpack at all (at most 1 GB).
#[inline]
pub fn fits_packed(sz: usize) -> bool {
    sz <= LARGEST_PACKED
}

// ---- nodes ----

/// One quicklist node.
#[derive(Clone)]
enum Node {
    /// PACKED container, RAW encoding.
    Packed(Listpack),
    /// PLAIN container (one element), RAW encoding.
    Plain(Box<[u8]>),
    /// LZF encoding of either container.
    Lzf(Box<LzfNode>),
}

/// A compressed node (`quicklistLZF` plus the node's fields it replaces).
#[derive(Clone)]
struct LzfNode {
    data: Box<[u8]>,
    /// Uncompressed size in bytes (`node->sz`).
    sz: usize,
    count: usize,
    plain: bool,
}

/// A compressed node's content, decompressed.
enum Inflated {
    Packed(Listpack),
    Plain(Box<[u8]>),
}

impl From<Inflated> for Node {
    fn from(i: Inflated) -> Node {
        match i {
            Inflated::Packed(lp) => Node::Packed(lp),
            Inflated::Plain(b) => Node::Plain(b),
        }
    }
}

impl LzfNode {
    fn inflate(&self) -> Inflated {
        // The bytes come from `Node::compress` of this process, never from input.
        let raw = lzf::decompress(&self.data, self.sz).expect("a list node decompresses to its recorded size");
        if self.plain {
            Inflated::Plain(raw.into_boxed_slice())
        } else {
            Inflated::Packed(Listpack::from_trusted(raw, self.count))
        }
    }
}

/// A node's content for reading (see [`view`]).
#[derive(Clone, Copy)]
pub enum NodeRef<'a> {
    Packed(&'a Listpack),
    Plain(&'a [u8]),
}

impl<'a> NodeRef<'a> {
    fn of(i: &'a Inflated) -> NodeRef<'a> {
        match i {
            Inflated::Packed(lp) => NodeRef::Packed(lp),
            Inflated::Plain(b) => NodeRef::Plain(b),
        }
    }
}

/// A node's content, borrowed when it is not compressed, else decompressed into `tmp`.
#[inline]
fn view<'a>(node: &'a Node, tmp: &'a mut Option<Inflated>) -> NodeRef<'a> {
    match node {
        Node::Packed(lp) => NodeRef::Packed(lp),
        Node::Plain(b) => NodeRef::Plain(b),
        Node::Lzf(z) => NodeRef::of(tmp.insert(z.inflate())),
    }
}

/// A node's content for editing (see [`Node::raw_mut`]).
enum RawMut<'a> {
    Packed(&'a mut Listpack),
    Plain(&'a mut Box<[u8]>),
}

impl Node {
    fn plain(v: &[u8]) -> Node {
        Node::Plain(v.into())
    }

    /// A packed node holding `v`.
    fn packed(v: &[u8]) -> Node {
        let mut lp = Listpack::new();
        lp.push_back(v);
        Node::Packed(lp)
    }

    /// A new node for `v`: plain when it is a large element.
    fn for_element(v: &[u8]) -> Node {
        if is_large(v.len()) {
            Node::plain(v)
        } else {
            Node::packed(v)
        }
    }

    #[inline]
    fn count(&self) -> usize {
        match self {
            Node::Packed(lp) => lp.len(),
            Node::Plain(_) => 1,
            Node::Lzf(z) => z.count,
        }
    }

    /// Uncompressed size in bytes (`node->sz`).
    #[inline]
    fn sz(&self) -> usize {
        match self {
            Node::Packed(lp) => lp.byte_len(),
            Node::Plain(b) => b.len(),
            Node::Lzf(z) => z.sz,
        }
    }

    #[inline]
    fn is_plain(&self) -> bool {
        match self {
            Node::Packed(_) => false,
            Node::Plain(_) => true,
            Node::Lzf(z) => z.plain,
        }
    }

    #[inline]
    fn is_compressed(&self) -> bool {
        matches!(self, Node::Lzf(_))
    }

    /// Bytes this node allocates.
    fn alloc_size(&self) -> usize {
        match self {
            Node::Packed(lp) => lp.alloc_size(),
            Node::Plain(b) => b.len(),
            Node::Lzf(z) => std::mem::size_of::<LzfNode>() + z.data.len(),
        }
    }

    /// `__quicklistCompressNode`: compresses when the node is big enough and LZF saves
    /// enough; otherwise it stays as it is.
    fn compress(&mut self) {
        let (bytes, count, plain) = match self {
            Node::Packed(lp) => (lp.bytes(), lp.len(), false),
            Node::Plain(b) => (&b[..], 1, true),
            Node::Lzf(_) => return,
        };
        let sz = bytes.len();
        if sz < MIN_COMPRESS_BYTES {
            return;
        }
        if let Some(c) = lzf::compress(bytes, sz) {
            if c.len() + MIN_COMPRESS_IMPROVE < sz {
                *self = Node::Lzf(Box::new(LzfNode { data: c.into_boxed_slice(), sz, count, plain }));
            }
        }
    }

    /// `__quicklistDecompressNode`.
    #[inline]
    fn decompress(&mut self) {
        if let Node::Lzf(z) = self {
            *self = z.inflate().into();
        }
    }

    /// The node's content for editing, decompressed first.
    fn raw_mut(&mut self) -> RawMut<'_> {
        self.decompress();
        match self {
            Node::Packed(lp) => RawMut::Packed(lp),
            Node::Plain(b) => RawMut::Plain(b),
            Node::Lzf(_) => unreachable!("decompressed above"),
        }
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

/// Whether a packed node of `sz` bytes holding `count` elements is within the limits.
#[inline]
fn within_limits(sz: usize, count: usize, fill: i32) -> bool {
    meets_optimization(sz, fill) || (sz <= SIZE_SAFETY_LIMIT && count as i64 <= fill as i64)
}

/// `_quicklistNodeAllowInsert`: whether an element of `sz` bytes may join `node`.
#[inline]
fn allow_insert(node: &Node, fill: i32, sz: usize) -> bool {
    if node.is_plain() || is_large(sz) {
        return false;
    }
    let new_sz = node.sz() + sz + SIZE_ESTIMATE_OVERHEAD;
    if meets_optimization(new_sz, fill) {
        true
    } else if new_sz > SIZE_SAFETY_LIMIT {
        false
    } else {
        (node.count() as i64) < fill as i64
    }
}

/// `_quicklistNodeAllowMerge`.
#[inline]
fn allow_merge(a: &Node, b: &Node, fill: i32) -> bool {
    if a.is_plain() || b.is_plain() {
        return false;
    }
    // One listpack header and terminator go away.
    let merge_sz = (a.sz() + b.sz()).saturating_sub(11);
    if meets_optimization(merge_sz, fill) {
        true
    } else if merge_sz > SIZE_SAFETY_LIMIT {
        false
    } else {
        (a.count() + b.count()) as i64 <= fill as i64
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

/// Moves the elements from `off` on into a new listpack (`_quicklistSplitNode`).
fn split_off(lp: &mut Listpack, off: usize) -> Listpack {
    let mut right = Listpack::new();
    let n = lp.len() - off;
    if let Some(p) = lp.seek(off as i64) {
        for v in lp.iter_from(p) {
            match v {
                LpVal::Int(i) => right.push_back_int(i),
                LpVal::Str(s) => right.push_back(s),
            }
        }
    }
    lp.delete_range(off as i64, n);
    right
}

/// Which end of the list (Redis's LIST_HEAD / LIST_TAIL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

/// What DEBUG OBJECT and DEBUG QUICKLIST tell about one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeInfo {
    pub plain: bool,
    /// The LZF size when the node is compressed.
    pub compressed: Option<usize>,
    /// Uncompressed size in bytes.
    pub sz: usize,
    pub count: usize,
}

/// A list value.
#[derive(Clone)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
    /// `list-max-listpack-size` when the list was created (quicklist's `fill`), clamped to
    /// -5..=FILL_MAX as `quicklistSetFill` does.
    fill: i16,
    /// `list-compress-depth` when the list was created (0: no compression).
    compress: u16,
}

impl Default for List {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_list();
        self.walk(0, false, |v| {
            l.entry(&String::from_utf8_lossy(&v.to_vec()));
            true
        });
        l.finish()
    }
}

/// Lists are equal when they hold the same elements (whatever their nodes).
impl PartialEq for List {
    fn eq(&self, other: &Self) -> bool {
        if self.len != other.len {
            return false;
        }
        let mut a = Vec::with_capacity(self.len);
        self.walk(0, false, |v| {
            a.push(v.to_vec());
            true
        });
        let mut i = 0;
        let mut same = true;
        other.walk(0, false, |v| {
            same = v.eq_bytes(&a[i]);
            i += 1;
            same
        });
        same
    }
}

impl List {
    /// An empty list with the default node size and no compression.
    pub fn new() -> Self {
        Self::with_options(DEFAULT_FILL, 0)
    }

    /// An empty list whose nodes follow `list-max-listpack-size` = `fill` and
    /// `list-compress-depth` = `depth` (`quicklistNew`, clamping both as Redis does).
    pub fn with_options(fill: i32, depth: i32) -> Self {
        List {
            nodes: VecDeque::new(),
            len: 0,
            fill: fill.clamp(-5, FILL_MAX) as i16,
            compress: depth.clamp(0, COMPRESS_MAX) as u16,
        }
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

    /// quicklist's `fill`.
    pub fn fill(&self) -> i32 {
        self.fill as i32
    }

    /// quicklist's `compress` depth.
    pub fn compress_depth(&self) -> u32 {
        self.compress as u32
    }

    /// This value's part of DEBUG DIGEST (after the caller mixed in the type): every
    /// element mixed in order, head to tail.
    pub fn digest(&self, out: &mut [u8; 20]) {
        self.walk(0, false, |v| {
            v.with_bytes(|b| digest::mix_digest(out, b));
            true
        });
    }

    /// Allocations freeing this value takes (Redis's lazyfree effort: the node count).
    pub fn free_effort(&self) -> usize {
        self.nodes.len().max(1)
    }

    /// DEBUG OBJECT's `serializedlength`: RDB_TYPE_LIST_QUICKLIST_2, a node count then per
    /// node its container type and its bytes (a compressed node as its LZF blob).
    pub fn serialized_len(&self) -> usize {
        let mut n = rdb_len_len(self.nodes.len());
        for node in &self.nodes {
            n += 1;
            n += match node {
                Node::Lzf(z) => 1 + rdb_len_len(z.data.len()) + rdb_len_len(z.sz) + z.data.len(),
                Node::Plain(b) => rdb_string_len(b),
                Node::Packed(lp) => rdb_len_len(lp.byte_len()) + lp.byte_len(),
            };
        }
        n
    }

    /// MEMORY USAGE's estimate of the heap this list owns (Redis's `objectComputeSize`
    /// for quicklists): the node array, then the first `samples` nodes averaged and
    /// multiplied by the number of nodes (`usize::MAX`: all of them).
    pub fn mem_usage(&self, samples: usize) -> usize {
        let (mut n, mut sum) = (0usize, 0usize);
        for node in self.nodes.iter().take(samples.max(1)) {
            sum += heap_alloc(node.alloc_size());
            n += 1;
        }
        let nodes = if n == 0 { 0 } else { (sum as f64 / n as f64 * self.nodes.len() as f64) as usize };
        heap_alloc(self.nodes.capacity() * std::mem::size_of::<Node>()) + nodes
    }

    /// Per node, head to tail: its container, compression, size and count.
    pub fn node_infos(&self) -> impl Iterator<Item = NodeInfo> + '_ {
        self.nodes.iter().map(|n| NodeInfo {
            plain: n.is_plain(),
            compressed: match n {
                Node::Lzf(z) => Some(z.data.len()),
                _ => None,
            },
            sz: n.sz(),
            count: n.count(),
        })
    }

    /// Calls `f` on every node's content, head to tail (compressed nodes decompressed into
    /// a temporary copy): the RDB writer saves one ziplist per node.
    pub fn for_each_node(&self, mut f: impl FnMut(NodeRef<'_>)) {
        for node in &self.nodes {
            let mut tmp = None;
            f(view(node, &mut tmp));
        }
    }

    /// The largest element held in a plain node (0 when there is none).
    pub fn largest_plain(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_plain()).map(Node::sz).max().unwrap_or(0)
    }

    /// `quicklistRepr` (DEBUG QUICKLIST): the list's layout as Redis prints it, with each
    /// node's elements when `full`.
    pub fn repr(&self, full: bool) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "{{count : {}}}\n{{len : {}}}\n{{fill : {}}}\n{{compress : {}}}\n{{bookmark_count : 0}}\n",
            self.len,
            self.nodes.len(),
            self.fill,
            self.compress
        );
        for (i, node) in self.nodes.iter().enumerate() {
            let _ = write!(
                out,
                "{{quicklist node({i})\n{{container : {}, encoding: {}, size: {}, count: {}, recompress: 0, attempted_compress: 0}}\n",
                if node.is_plain() { "PLAIN" } else { "PACKED" },
                if node.is_compressed() { "LZF" } else { "RAW" },
                node.sz(),
                node.count()
            );
            if full {
                let mut tmp = None;
                match view(node, &mut tmp) {
                    NodeRef::Packed(lp) => {
                        out.push_str("{ listpack:\n");
                        lp.repr(&mut out);
                        out.push_str("}\n");
                    }
                    NodeRef::Plain(b) => {
                        // printf("%s"): up to the first NUL byte.
                        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                        let _ = writeln!(out, "{{ entry : {} }}", String::from_utf8_lossy(&b[..end]));
                    }
                }
                out.push_str("}\n");
            }
        }
        out
    }

    // ---- compression ----

    /// After nodes were added or removed: the nodes within `depth` of either end are
    /// decompressed, the node just past `depth` at each end is compressed, and so are the
    /// nodes of `lo..hi` (indices after the change) that lie beyond the ends
    /// (`__quicklistCompress` for each node the change touched).
    fn settle(&mut self, lo: usize, hi: usize) {
        let d = self.compress as usize;
        if d == 0 {
            return;
        }
        let n = self.nodes.len();
        for i in 0..d.min(n) {
            self.nodes[i].decompress();
        }
        for i in n.saturating_sub(d)..n {
            self.nodes[i].decompress();
        }
        if n <= 2 * d {
            return;
        }
        self.nodes[d].compress();
        self.nodes[n - 1 - d].compress();
        for i in lo.max(d + 1)..hi.min(n - 1 - d) {
            self.nodes[i].compress();
        }
    }

    /// After node `i` was edited in place (no node added or removed): compressed again when
    /// it lies beyond the ends (`quicklistRecompressOnly` / `quicklistCompress`).
    #[inline]
    fn touch(&mut self, i: usize) {
        let d = self.compress as usize;
        if d > 0 && i >= d && i + d < self.nodes.len() {
            self.nodes[i].compress();
        }
    }

    // ---- ends ----

    /// Most lists are one node: the first node slot is allocated alone (a `VecDeque`
    /// otherwise starts with room for four nodes, memory a small list never uses).
    #[inline]
    fn reserve_first_node(&mut self) {
        if self.nodes.capacity() == 0 {
            self.nodes.reserve_exact(1);
        }
    }

    /// Pushes at `end` (`quicklistPushHead` / `quicklistPushTail`): into the end node when
    /// the size rules allow, else in a new node (a plain one for a large element).
    pub fn push(&mut self, end: End, v: &[u8]) {
        let fill = self.fill as i32;
        self.len += 1;
        let edge = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        };
        if let Some(n) = edge {
            if allow_insert(n, fill, v.len()) {
                if let RawMut::Packed(lp) = n.raw_mut() {
                    match end {
                        End::Head => lp.push_front(v),
                        End::Tail => lp.push_back(v),
                    }
                    return;
                }
            }
        }
        self.reserve_first_node();
        let node = Node::for_element(v);
        match end {
            End::Head => self.nodes.push_front(node),
            End::Tail => self.nodes.push_back(node),
        }
        self.settle(0, 0);
    }

    pub fn push_front(&mut self, v: &[u8]) {
        self.push(End::Head, v);
    }

    pub fn push_back(&mut self, v: &[u8]) {
        self.push(End::Tail, v);
    }

    /// Pops the element at `end`, handing it to `f` before it is deleted (so a reply can
    /// be written without copying).
    pub fn pop<R>(&mut self, end: End, f: impl FnOnce(LpVal<'_>) -> R) -> Option<R> {
        let i = match end {
            End::Head => 0,
            End::Tail => self.nodes.len().checked_sub(1)?,
        };
        let (r, gone) = match self.nodes.get_mut(i)?.raw_mut() {
            RawMut::Plain(b) => (f(LpVal::Str(b)), true),
            RawMut::Packed(lp) => {
                let p = match end {
                    End::Head => lp.first(),
                    End::Tail => lp.last(),
                }?;
                let r = f(lp.get(p));
                lp.delete(p);
                (r, lp.is_empty())
            }
        };
        self.len -= 1;
        if gone {
            self.nodes.remove(i);
            self.settle(0, 0);
        }
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
            for (n, node) in self.nodes.iter().enumerate() {
                let c = node.count();
                if i < c {
                    return (n, i);
                }
                i -= c;
            }
        } else {
            let mut from_end = self.len - 1 - index;
            for (n, node) in self.nodes.iter().enumerate().rev() {
                let c = node.count();
                if from_end < c {
                    return (n, c - 1 - from_end);
                }
                from_end -= c;
            }
        }
        unreachable!("index {index} within len {} must be in a node", self.len)
    }

    /// Calls `f` with the element at `index` (negative from the tail), as LINDEX; None when
    /// out of range.
    pub fn get_with<R>(&self, index: i64, f: impl FnOnce(LpVal<'_>) -> R) -> Option<R> {
        let i = self.normalize(index)?;
        let (n, off) = self.locate(i);
        let mut tmp = None;
        match view(&self.nodes[n], &mut tmp) {
            NodeRef::Plain(b) => Some(f(LpVal::Str(b))),
            NodeRef::Packed(lp) => lp.seek(off as i64).map(|p| f(lp.get(p))),
        }
    }

    /// Calls `f` on the elements from `start` (< len, else nothing) towards the tail, or
    /// towards the head when `reverse`, until `f` returns false or the list ends.
    pub fn walk(&self, start: usize, reverse: bool, mut f: impl FnMut(LpVal<'_>) -> bool) {
        if start >= self.len {
            return;
        }
        let (mut n, off) = self.locate(start);
        let mut first = Some(off);
        loop {
            let mut tmp = None;
            match view(&self.nodes[n], &mut tmp) {
                NodeRef::Plain(b) => {
                    if !f(LpVal::Str(b)) {
                        return;
                    }
                }
                NodeRef::Packed(lp) => {
                    let mut p = match (first, reverse) {
                        (Some(o), _) => lp.seek(o as i64),
                        (None, false) => lp.first(),
                        (None, true) => lp.last(),
                    };
                    while let Some(q) = p {
                        if reverse {
                            if !f(lp.get(q)) {
                                return;
                            }
                            p = lp.prev(q);
                        } else {
                            let (v, next) = lp.get_next(q);
                            if !f(v) {
                                return;
                            }
                            p = next;
                        }
                    }
                }
            }
            first = None;
            if reverse {
                if n == 0 {
                    return;
                }
                n -= 1;
            } else {
                n += 1;
                if n == self.nodes.len() {
                    return;
                }
            }
        }
    }

    /// Calls `f` on every element head to tail (SORT).
    pub fn for_each(&self, f: &mut dyn FnMut(&[u8])) {
        self.walk(0, false, |v| {
            v.with_bytes(&mut *f);
            true
        });
    }

    /// Calls `f` on `n` elements from `start`, towards the head when `desc` (the start is
    /// then counted from the tail), as SORT's native-order ranges do.
    pub fn for_range(&self, start: usize, n: usize, desc: bool, f: &mut dyn FnMut(&[u8])) {
        if start >= self.len || n == 0 {
            return;
        }
        let from = if desc { self.len - 1 - start } else { start };
        let mut left = n;
        self.walk(from, desc, |v| {
            v.with_bytes(&mut *f);
            left -= 1;
            left > 0
        });
    }

    /// The node and offset of the first element equal to `v`, from the head.
    fn find(&self, v: &[u8]) -> Option<(usize, usize)> {
        for (n, node) in self.nodes.iter().enumerate() {
            let mut tmp = None;
            match view(node, &mut tmp) {
                NodeRef::Plain(b) => {
                    if b == v {
                        return Some((n, 0));
                    }
                }
                NodeRef::Packed(lp) => {
                    if let Some(i) = Iterator::position(&mut lp.iter(), |e| e.eq_bytes(v)) {
                        return Some((n, i));
                    }
                }
            }
        }
        None
    }

    // ---- edits ----

    /// Replaces element `index` (negative from the tail); false when out of range (LSET,
    /// `quicklistReplaceAtIndex`).
    pub fn set(&mut self, index: i64, v: &[u8]) -> bool {
        let Some(i) = self.normalize(index) else { return false };
        let (n, off) = self.locate(i);
        let fill = self.fill as i32;
        let large = is_large(v.len());
        match self.nodes[n].raw_mut() {
            RawMut::Packed(lp) if !large => {
                let Some(p) = lp.seek(off as i64) else { return false };
                let new_sz = lp.byte_len() - entry_size_of(lp.get(p)) + Listpack::entry_size(v);
                if lp.len() == 1 || within_limits(new_sz, lp.len(), fill) {
                    lp.replace(p, v);
                    self.touch(n);
                    return true;
                }
            }
            RawMut::Plain(b) if large => {
                *b = v.into();
                self.touch(n);
                return true;
            }
            _ => {}
        }
        self.replace_with_node(n, off, v);
        true
    }

    /// The element at (`n`, `off`) is replaced by `v` in a node of its own between the
    /// elements before and after it; then that node merges with its neighbours when the
    /// merge rule allows (Redis 7.2's `quicklistReplaceEntry` for a full node or a change
    /// of container).
    fn replace_with_node(&mut self, n: usize, off: usize, v: &[u8]) {
        // Node n is decompressed (raw_mut above). The element becomes its node's last.
        if let Node::Packed(lp) = &mut self.nodes[n] {
            if off + 1 < lp.len() {
                let right = split_off(lp, off + 1);
                self.nodes.insert(n + 1, Node::Packed(right));
            }
        }
        self.nodes.insert(n + 1, Node::for_element(v));
        let at = match &mut self.nodes[n] {
            Node::Packed(lp) if lp.len() > 1 => {
                if let Some(p) = lp.last() {
                    lp.delete(p);
                }
                n + 1
            }
            _ => {
                self.nodes.remove(n);
                n
            }
        };
        let c = self.merge_nodes(at);
        self.settle(c.saturating_sub(2), c + 3);
    }

    /// Merges node `i + 1` into node `i` (`_quicklistListpackMerge`: the smaller listpack's
    /// entries are copied into the bigger one). Both must be packed.
    fn merge(&mut self, i: usize) {
        self.nodes[i].decompress();
        self.nodes[i + 1].decompress();
        let (a, b) = (self.nodes[i].count(), self.nodes[i + 1].count());
        let Some(next) = self.nodes.remove(i + 1) else { return };
        match (&mut self.nodes[i], next) {
            (Node::Packed(left), Node::Packed(mut right)) if a < b => {
                right.prepend_all(left);
                *left = right;
            }
            (Node::Packed(left), Node::Packed(right)) => left.append_all(&right),
            (_, next) => self.nodes.insert(i + 1, next),
        }
    }

    /// Whether nodes `i` and `j` may merge.
    #[inline]
    fn may_merge(&self, i: usize, j: usize) -> bool {
        allow_merge(&self.nodes[i], &self.nodes[j], self.fill as i32)
    }

    /// `_quicklistMergeNodes`: tries to merge the two nodes before `center`, the two after
    /// it, then `center` with its previous and next node. Returns the index of the node
    /// that holds `center`'s elements afterwards.
    fn merge_nodes(&mut self, center: usize) -> usize {
        let mut c = center;
        if c >= 2 && self.may_merge(c - 2, c - 1) {
            self.merge(c - 2);
            c -= 1;
        }
        if c + 2 < self.nodes.len() && self.may_merge(c + 1, c + 2) {
            self.merge(c + 1);
        }
        if c >= 1 && self.may_merge(c - 1, c) {
            self.merge(c - 1);
            c -= 1;
        }
        if c + 1 < self.nodes.len() && self.may_merge(c, c + 1) {
            self.merge(c);
        }
        c
    }

    /// Inserts `v` so that it becomes element `index` (0..=len).
    pub fn insert_at(&mut self, index: usize, v: &[u8]) {
        if index == 0 || self.is_empty() {
            return self.push_front(v);
        }
        if index >= self.len {
            return self.push_back(v);
        }
        let (n, off) = self.locate(index);
        self.insert_rel(n, off, false, v);
    }

    /// Inserts `v` before (or after) the first element equal to `pivot` (LINSERT).
    /// Returns whether the pivot was found.
    pub fn insert_pivot(&mut self, pivot: &[u8], after: bool, v: &[u8]) -> bool {
        let Some((n, off)) = self.find(pivot) else { return false };
        self.insert_rel(n, off, after, v);
        true
    }

    /// `_quicklistInsert`: inserts `v` after (or before) element `off` of node `n`: in that
    /// node when it has room, else at the head of the next (tail of the previous) node when
    /// the element is at the node's edge and that node has room, else in a new node, or by
    /// splitting the node and merging around the split.
    fn insert_rel(&mut self, n: usize, off: usize, after: bool, v: &[u8]) {
        let fill = self.fill as i32;
        let sz = v.len();
        let count = self.nodes[n].count();
        let full = !allow_insert(&self.nodes[n], fill, sz);
        let at_tail = after && off + 1 == count;
        let at_head = !after && off == 0;
        let avail_next = at_tail && n + 1 < self.nodes.len() && allow_insert(&self.nodes[n + 1], fill, sz);
        let avail_prev = at_head && n > 0 && allow_insert(&self.nodes[n - 1], fill, sz);
        let new_at = if after { n + 1 } else { n };
        self.len += 1;

        if is_large(sz) {
            if self.nodes[n].is_plain() || at_tail || at_head {
                self.nodes.insert(new_at, Node::plain(v));
                self.settle(n, n + 2);
            } else {
                // Split around the element; the plain node goes between the halves.
                let k = if after { off + 1 } else { off };
                if let RawMut::Packed(lp) = self.nodes[n].raw_mut() {
                    let right = split_off(lp, k);
                    self.nodes.insert(n + 1, Node::Packed(right));
                }
                self.nodes.insert(n + 1, Node::plain(v));
                self.settle(n, n + 3);
            }
            return;
        }

        if !full {
            if let RawMut::Packed(lp) = self.nodes[n].raw_mut() {
                if let Some(p) = lp.seek(off as i64) {
                    if after {
                        lp.insert_after(p, v);
                    } else {
                        lp.insert_before(p, v);
                    }
                }
            }
            self.touch(n);
        } else if at_tail && avail_next {
            if let RawMut::Packed(lp) = self.nodes[n + 1].raw_mut() {
                lp.push_front(v);
            }
            self.touch(n + 1);
        } else if at_head && avail_prev {
            if let RawMut::Packed(lp) = self.nodes[n - 1].raw_mut() {
                lp.push_back(v);
            }
            self.touch(n - 1);
        } else if at_tail || at_head {
            self.nodes.insert(new_at, Node::packed(v));
            self.settle(new_at, new_at + 1);
        } else {
            // In the middle of a full node: split it; `v` joins the half on its side.
            let k = if after { off + 1 } else { off };
            if let RawMut::Packed(lp) = self.nodes[n].raw_mut() {
                let mut right = split_off(lp, k);
                if after {
                    right.push_front(v);
                } else {
                    lp.push_back(v);
                }
                self.nodes.insert(n + 1, Node::Packed(right));
            }
            // `_quicklistMergeNodes` around the original node (the left half when
            // inserting after, the right half when inserting before).
            let c = self.merge_nodes(if after { n } else { n + 1 });
            self.settle(c.saturating_sub(2), c + 3);
        }
    }

    /// Deletes `count` elements from `start` (`quicklistDelRange` on a valid range).
    pub fn delete_range(&mut self, start: usize, count: usize) {
        let count = count.min(self.len.saturating_sub(start));
        if count == 0 {
            return;
        }
        let (first, off) = self.locate(start);
        let mut n = first;
        let mut remaining = count;
        if off > 0 {
            // A partial node (packed: a plain node's only offset is 0).
            let take = (self.nodes[n].count() - off).min(remaining);
            if let RawMut::Packed(lp) = self.nodes[n].raw_mut() {
                lp.delete_range(off as i64, take);
            }
            remaining -= take;
            n += 1;
        }
        let mut k = 0;
        while remaining > 0 && n + k < self.nodes.len() && self.nodes[n + k].count() <= remaining {
            remaining -= self.nodes[n + k].count();
            k += 1;
        }
        self.nodes.drain(n..n + k);
        if remaining > 0 {
            if let RawMut::Packed(lp) = self.nodes[n].raw_mut() {
                lp.delete_range(0, remaining);
            }
        }
        self.len -= count;
        if k > 0 {
            self.settle(first, n + 1);
        } else {
            self.touch(first);
            if n != first && n < self.nodes.len() {
                self.touch(n);
            }
        }
    }

    /// LTRIM's work: deletes `ltrim` elements at the head and `rtrim` at the tail.
    pub fn trim(&mut self, ltrim: usize, rtrim: usize) {
        self.delete_range(0, ltrim.min(self.len));
        let rtrim = rtrim.min(self.len);
        self.delete_range(self.len - rtrim, rtrim);
    }

    /// Whether node `n` holds an element equal to `v` (without decompressing it in place).
    fn node_has(&self, n: usize, v: &[u8]) -> bool {
        let mut tmp = None;
        match view(&self.nodes[n], &mut tmp) {
            NodeRef::Plain(b) => b == v,
            NodeRef::Packed(lp) => lp.iter().any(|e| e.eq_bytes(v)),
        }
    }

    /// Removes up to `limit` (0: all) elements equal to `v` from node `n`, from its head
    /// or from its tail. Returns how many went; the node may be left empty.
    fn remove_in_node(&mut self, n: usize, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        let done = |removed: usize| limit != 0 && removed >= limit;
        match self.nodes[n].raw_mut() {
            RawMut::Plain(_) => {
                self.nodes[n] = Node::Packed(Listpack::new());
                removed = 1;
            }
            RawMut::Packed(lp) if !from_tail => {
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
            }
            RawMut::Packed(lp) => {
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
            }
        }
        removed
    }

    /// Removes up to `limit` (0: all) elements equal to `v`, from the head, or from the tail
    /// when `from_tail` (LREM). Returns the number removed.
    pub fn remove(&mut self, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        let done = |removed: usize| limit != 0 && removed >= limit;
        let mut structural = false;
        if !from_tail {
            let mut n = 0;
            while n < self.nodes.len() && !done(removed) {
                if !self.node_has(n, v) {
                    n += 1;
                    continue;
                }
                let left = if limit == 0 { 0 } else { limit - removed };
                removed += self.remove_in_node(n, v, left, false);
                if self.nodes[n].count() == 0 {
                    self.nodes.remove(n);
                    structural = true;
                } else if n > 0 && self.may_merge(n - 1, n) {
                    // Merged into the previous node: node n is the next unvisited one.
                    self.merge(n - 1);
                    structural = true;
                    self.touch(n - 1);
                } else {
                    self.touch(n);
                    n += 1;
                }
            }
        } else {
            let mut n = self.nodes.len();
            while n > 0 && !done(removed) {
                n -= 1;
                if !self.node_has(n, v) {
                    continue;
                }
                let left = if limit == 0 { 0 } else { limit - removed };
                removed += self.remove_in_node(n, v, left, true);
                if self.nodes[n].count() == 0 {
                    self.nodes.remove(n);
                    structural = true;
                } else if n + 1 < self.nodes.len() && self.may_merge(n, n + 1) {
                    self.merge(n);
                    structural = true;
                    self.touch(n);
                } else {
                    self.touch(n);
                }
            }
        }
        self.len -= removed;
        if structural {
            self.settle(0, 0);
        }
        removed
    }

    // ---- building from an RDB ----

    /// `quicklistAppendListpack`: a node loaded as a whole (RDB quicklists keep their node
    /// layout). An empty listpack adds nothing.
    pub fn append_listpack(&mut self, lp: Listpack) {
        if lp.is_empty() {
            return;
        }
        self.len += lp.len();
        self.reserve_first_node();
        self.nodes.push_back(Node::Packed(lp));
        let n = self.nodes.len();
        self.settle(n - 1, n);
    }

    /// `quicklistAppendPlainNode`: a plain node loaded as a whole.
    pub fn append_plain(&mut self, v: Vec<u8>) {
        self.len += 1;
        self.reserve_first_node();
        self.nodes.push_back(Node::Plain(v.into_boxed_slice()));
        let n = self.nodes.len();
        self.settle(n - 1, n);
    }

    /// Checks every invariant (tests).
    #[cfg(test)]
    fn check(&self) {
        assert_eq!(self.nodes.iter().map(Node::count).sum::<usize>(), self.len);
        assert!(self.nodes.iter().all(|n| n.count() > 0), "empty node in {self:?}");
        let d = self.compress as usize;
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            if d == 0 || i < d || i + d >= n {
                assert!(!node.is_compressed(), "node {i} of {n} compressed within depth {d}");
            }
            if let Node::Plain(b) = node {
                assert!(!b.is_empty(), "empty plain node");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn model_of(l: &List) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        l.walk(0, false, |e| {
            v.push(e.to_vec());
            true
        });
        v
    }

    fn rev_of(l: &List) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        if !l.is_empty() {
            l.walk(l.len() - 1, true, |e| {
                v.push(e.to_vec());
                true
            });
        }
        v
    }

    fn get(l: &List, i: i64) -> Option<Vec<u8>> {
        l.get_with(i, |v| v.to_vec())
    }

    fn from(fill: i32, items: &[&[u8]]) -> List {
        let mut l = List::with_options(fill, 0);
        for i in items {
            l.push_back(i);
        }
        l
    }

    fn packed_sizes(l: &List) -> Vec<usize> {
        l.node_infos().map(|i| i.sz).collect()
    }

    #[test]
    fn node_limits_follow_fill() {
        // Positive fill: entries per node.
        let mut l = List::with_options(3, 0);
        for i in 0..10 {
            l.push_back(format!("{i}").as_bytes());
        }
        assert_eq!(l.node_count(), 4);
        l.check();
        // Negative fill -1: 4 KB nodes; 100-byte elements fit about 39 per node.
        let mut l = List::with_options(-1, 0);
        let e = [b'x'; 100];
        for _ in 0..100 {
            l.push_front(&e);
        }
        assert!(packed_sizes(&l).iter().all(|&s| s <= 4096));
        assert_eq!(l.node_count(), 3);
        // A large element gets a node of its own (the 8 KB safety limit).
        let mut l = List::with_options(-2, 0);
        l.push_back(b"a");
        l.push_back(&vec![b'y'; 10000]);
        l.push_back(b"b");
        assert_eq!(l.node_count(), 3);
        assert!(l.node_infos().all(|i| !i.plain));
        // Fill and depth are clamped as quicklistSetOptions does.
        assert_eq!(List::with_options(-100, -1).fill(), -5);
        assert_eq!(List::with_options(1 << 20, 1 << 20).fill(), FILL_MAX);
        assert_eq!(List::with_options(1 << 20, 1 << 20).compress_depth(), COMPRESS_MAX as u32);
    }

    #[test]
    fn index_range_and_walks() {
        let items: Vec<Vec<u8>> = (0..1000).map(|i| format!("e{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = items.iter().map(|v| &v[..]).collect();
        let l = from(7, &refs);
        assert_eq!(l.len(), 1000);
        for i in [0i64, 1, 6, 7, 499, 500, 998, 999, -1, -1000] {
            let j = if i < 0 { 1000 + i } else { i } as usize;
            assert_eq!(get(&l, i).unwrap(), items[j]);
        }
        assert!(get(&l, 1000).is_none() && get(&l, -1001).is_none() && get(&l, i64::MIN).is_none());
        assert_eq!(rev_of(&l), items.iter().rev().cloned().collect::<Vec<_>>());
        let mut mid = Vec::new();
        l.for_range(300, 20, false, &mut |b| mid.push(b.to_vec()));
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

    #[test]
    fn packed_threshold_makes_plain_nodes() {
        assert!(!set_packed_threshold((1 << 32) - (1 << 20) + 1));
        assert!(set_packed_threshold(5));
        let mut l = List::with_options(-2, 0);
        for e in [&b"aa"[..], b"bb", b"cc", b"dd", b"ee"] {
            l.push_back(e);
        }
        assert_eq!(l.node_count(), 1);
        // LSET of a large element in the middle of a packed node splits it.
        assert!(l.set(2, b"eeeeeeeeee"));
        l.check();
        assert_eq!(model_of(&l), [&b"aa"[..], b"bb", b"eeeeeeeeee", b"dd", b"ee"].map(|s| s.to_vec()).to_vec());
        let plain: Vec<bool> = l.node_infos().map(|i| i.plain).collect();
        assert_eq!(plain, [false, true, false]);
        // A plain node replaced by a small element: the element joins the next node.
        assert!(l.set(2, b"c"));
        l.check();
        assert_eq!(l.node_count(), 1);
        // Pushes and inserts of large elements.
        l.push_front(b"xxxxxxxxxxx");
        l.push_back(b"yyyyyyyyyyy");
        assert!(l.insert_pivot(b"c", true, b"zzzzzzzzzzz"));
        l.check();
        assert_eq!(l.node_infos().filter(|i| i.plain).count(), 3);
        assert_eq!(l.pop_vec(End::Head).unwrap(), b"xxxxxxxxxxx");
        assert_eq!(l.pop_vec(End::Tail).unwrap(), b"yyyyyyyyyyy");
        assert_eq!(l.remove(b"zzzzzzzzzzz", 0, false), 1);
        l.check();
        assert_eq!(model_of(&l), [&b"aa"[..], b"bb", b"c", b"dd", b"ee"].map(|s| s.to_vec()).to_vec());
        assert!(set_packed_threshold(0));
        assert_eq!(packed_threshold(), DEFAULT_PACKED_THRESHOLD);
    }

    #[test]
    fn inner_nodes_are_compressed_and_read_back() {
        let mut l = List::with_options(16, 1);
        for i in 0..200 {
            l.push_back(format!("element-{:04}-{}", i, "abc".repeat(10)).as_bytes());
        }
        l.check();
        let infos: Vec<NodeInfo> = l.node_infos().collect();
        assert_eq!(infos.len(), 13);
        assert!(infos[0].compressed.is_none() && infos[12].compressed.is_none());
        assert!(infos[1..12].iter().all(|i| i.compressed.is_some_and(|c| c + MIN_COMPRESS_IMPROVE < i.sz)));
        assert!(l.mem_usage(usize::MAX) < infos.iter().map(|i| i.sz).sum::<usize>());
        assert_eq!(get(&l, 100).unwrap(), format!("element-0100-{}", "abc".repeat(10)).into_bytes());
        // Popping down to the depth decompresses what reaches the ends.
        while l.len() > 20 {
            l.pop_vec(End::Head);
            l.check();
        }
        assert!(l.node_infos().all(|i| i.compressed.is_none()));
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
        Get(i64),
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => prop::sample::select(vec!["a", "b", "c", "1", "-7", "300", "12345678901"])
                .prop_map(|s| s.as_bytes().to_vec()),
            2 => "[a-z]{0,20}".prop_map(|s| s.into_bytes()),
            1 => (100usize..3000).prop_map(|n| vec![b'L'; n]),
            1 => (40usize..200).prop_map(|n| (0..n).map(|i| b"abcdefgh"[i % 8]).collect()),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => value().prop_map(Op::PushFront),
            4 => value().prop_map(Op::PushBack),
            1 => Just(Op::PopFront),
            1 => Just(Op::PopBack),
            3 => (0usize..400, value()).prop_map(|(i, v)| Op::Insert(i, v)),
            2 => (value(), any::<bool>(), value()).prop_map(|(p, a, v)| Op::Pivot(p, a, v)),
            2 => (-300i64..300, value()).prop_map(|(i, v)| Op::Set(i, v)),
            1 => (0usize..5, 0usize..5).prop_map(|(a, b)| Op::Trim(a, b)),
            1 => (0usize..300, 0usize..40).prop_map(|(a, b)| Op::DelRange(a, b)),
            1 => (value(), 0usize..4, any::<bool>()).prop_map(|(v, n, t)| Op::Remove(v, n, t)),
            1 => (-300i64..300).prop_map(Op::Get),
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
                for _ in 0..(*a).min(m.len()) {
                    m.pop_front();
                }
                for _ in 0..(*b).min(m.len()) {
                    m.pop_back();
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
            Op::Get(i) => {
                let n = m.len() as i64;
                let j = if *i < 0 { n + i } else { *i };
                let want = (0..n).contains(&j).then(|| m[j as usize].clone());
                assert_eq!(get(l, *i), want);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Random operations give the model's results whatever the node size, compression
        /// depth and packed threshold (a tiny threshold makes most elements plain nodes).
        #[test]
        fn matches_a_vecdeque_model(
            fill in prop::sample::select(vec![1, 2, 3, 5, 16, -1, -2]),
            depth in prop::sample::select(vec![0, 0, 1, 2, 3]),
            threshold in prop::sample::select(vec![0u64, 0, 1, 2, 5, 30, 150]),
            ops in prop::collection::vec(op(), 1..300),
        ) {
            set_packed_threshold(threshold);
            let mut l = List::with_options(fill, depth);
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for o in &ops {
                apply(&mut l, &mut m, o);
                l.check();
                prop_assert_eq!(l.len(), m.len());
            }
            set_packed_threshold(0);
            prop_assert_eq!(model_of(&l), m.iter().cloned().collect::<Vec<_>>());
            prop_assert_eq!(rev_of(&l), m.iter().rev().cloned().collect::<Vec<_>>());
            for (i, e) in m.iter().enumerate() {
                prop_assert_eq!(get(&l, i as i64), Some(e.clone()));
            }
            if fill > 0 {
                // Count limit per node (a node never holds more than `fill`).
                prop_assert!(l.node_infos().all(|i| i.count <= fill as usize));
            }
            let mut c = l.clone();
            c.check();
            prop_assert!(c == l);
            c.pop_vec(End::Head);
            prop_assert!(m.is_empty() || c != l);
        }
    }
}
