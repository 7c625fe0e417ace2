//! Redis 7.0's listpack (listpack.c), byte for byte, as a safe owned type.
//!
//! Why byte-exact: lists (quicklist nodes), small hashes and small sorted sets all keep
//! their elements in a listpack, so using Redis's exact layout gives us Redis's exact memory
//! use, and RDB persistence can dump and load the bytes as they are (RDB types 16/17/18).
//!
//! Layout: `<total-bytes u32 LE> <num-elements u16 LE> <entry>* <0xFF>`, each entry being
//! `<encoding+data> <backlen>`, where backlen (1-5 bytes, 7 bits each, read right to left)
//! is the length of `<encoding+data>` so the list can be walked backwards.
//!
//! Entry encodings (first byte):
//! - `0xxxxxxx` 7-bit unsigned int (0..=127), 1 byte;
//! - `10xxxxxx` string of up to 63 bytes, length in the 6 bits;
//! - `110xxxxx yyyyyyyy` 13-bit signed int (-4096..=4095);
//! - `1110xxxx yyyyyyyy` string of up to 4095 bytes, 12-bit length;
//! - `0xF1`/`0xF2`/`0xF3`/`0xF4` 16/24/32/64-bit signed int, little endian;
//! - `0xF0` string with a 32-bit LE length.
//!
//! A string that `string2ll` accepts (canonical decimal, at most 20 bytes) is stored as an
//! integer, as `lpEncodeGetType` does, so `"1024"` takes 3 bytes.
//!
//! Positions (`usize`) are byte offsets of an entry's first byte, like listpack.c's
//! `unsigned char *p`. A position stays valid until the listpack is modified; mutating
//! operations return the positions the caller needs to continue.
//!
//! Size: Redis never lets a listpack grow past [`LISTPACK_MAX_SAFETY_SIZE`] (1 GB, `lpSafeToAdd`);
//! in practice callers keep listpacks far smaller with Redis's thresholds
//! (`list-max-listpack-size`, `hash-max-listpack-*`, `zset-max-listpack-*`) and convert to
//! the large encoding first. Mutations assert the limit; [`Listpack::safe_to_add`] lets a
//! caller check before adding.
//!
//! The element count header saturates at 65535 ("unknown") as in Redis; we also keep our own
//! count so [`Listpack::len`] is O(1). After a mutation the header holds the exact count when
//! it is below 65535 (Redis's form after `lpLength` has recounted).

use crate::types::size_class;
use crate::util::numeric::string2ll;

/// `LISTPACK_MAX_SAFETY_SIZE`: Redis refuses to grow a listpack past 1 GB.
pub const LISTPACK_MAX_SAFETY_SIZE: usize = 1 << 30;
/// Header: total bytes (u32) + number of elements (u16).
pub const LP_HDR_SIZE: usize = 6;
/// Value of the count header when the count is 65535 or more.
pub const LP_HDR_NUMELE_UNKNOWN: u16 = u16::MAX;
/// The terminator byte.
pub const LP_EOF: u8 = 0xFF;

const ENC_6BIT_STR: u8 = 0x80;
const ENC_13BIT_INT: u8 = 0xC0;
const ENC_12BIT_STR: u8 = 0xE0;
const ENC_32BIT_STR: u8 = 0xF0;
const ENC_16BIT_INT: u8 = 0xF1;
const ENC_24BIT_INT: u8 = 0xF2;
const ENC_32BIT_INT: u8 = 0xF3;
const ENC_64BIT_INT: u8 = 0xF4;

/// One element as stored: integers are decoded, strings borrowed. (Int(3) and Str("3")
/// are different values to `Eq`/`Hash`: compare bytes with [`LpVal::eq_bytes`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LpVal<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl<'a> LpVal<'a> {
    /// Calls f with the element's bytes (integers formatted in decimal, no allocation).
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            LpVal::Str(s) => f(s),
            LpVal::Int(v) => {
                let mut b = itoa::Buffer::new();
                f(b.format(v).as_bytes())
            }
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    /// Equal to these bytes (an Int equals its decimal form).
    #[inline]
    pub fn eq_bytes(&self, b: &[u8]) -> bool {
        match *self {
            LpVal::Str(s) => s == b,
            // Cheap length filter before formatting: an i64 is at most 20 bytes.
            LpVal::Int(v) => b.len() <= 20 && string2ll(b) == Some(v),
        }
    }

    /// Writes the element as a bulk reply.
    #[inline]
    pub fn reply(&self, out: &mut crate::protocol::Reply) {
        match *self {
            LpVal::Str(s) => out.bulk(s),
            LpVal::Int(v) => out.bulk_int(v),
        }
    }

    /// The integer value, if stored as an integer.
    #[inline]
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            LpVal::Int(v) => Some(v),
            LpVal::Str(_) => None,
        }
    }

    /// Length of the element's bytes (decimal length for integers).
    #[inline]
    pub fn byte_len(&self) -> usize {
        match *self {
            LpVal::Str(s) => s.len(),
            LpVal::Int(v) => crate::util::numeric::sdigits10(v),
        }
    }
}

/// An encoded entry, ready to be written: header (encoding byte(s), or the whole integer)
/// followed by borrowed string data.
struct Enc<'a> {
    hdr: [u8; 9],
    hlen: usize,
    data: &'a [u8],
}

impl<'a> Enc<'a> {
    #[inline]
    fn int(v: i64) -> Enc<'static> {
        let mut hdr = [0u8; 9];
        let hlen;
        if (0..=127).contains(&v) {
            hdr[0] = v as u8;
            hlen = 1;
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1FFF;
            hdr[0] = ((u >> 8) as u8) | ENC_13BIT_INT;
            hdr[1] = u as u8;
            hlen = 2;
        } else if (-32768..=32767).contains(&v) {
            hdr[0] = ENC_16BIT_INT;
            hdr[1..3].copy_from_slice(&(v as i16).to_le_bytes());
            hlen = 3;
        } else if (-8388608..=8388607).contains(&v) {
            hdr[0] = ENC_24BIT_INT;
            hdr[1..4].copy_from_slice(&(v as i32).to_le_bytes()[..3]);
            hlen = 4;
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            hdr[0] = ENC_32BIT_INT;
            hdr[1..5].copy_from_slice(&(v as i32).to_le_bytes());
            hlen = 5;
        } else {
            hdr[0] = ENC_64BIT_INT;
            hdr[1..9].copy_from_slice(&v.to_le_bytes());
            hlen = 9;
        }
        Enc { hdr, hlen, data: &[] }
    }

    /// `lpEncodeGetType` + `lpEncodeString`: integers when `string2ll` accepts the string.
    #[inline]
    fn bytes(s: &'a [u8]) -> Enc<'a> {
        if let Some(v) = string2ll(s) {
            return Enc::int(v);
        }
        let mut hdr = [0u8; 9];
        let len = s.len();
        let hlen = if len < 64 {
            hdr[0] = ENC_6BIT_STR | len as u8;
            1
        } else if len < 4096 {
            hdr[0] = ENC_12BIT_STR | (len >> 8) as u8;
            hdr[1] = len as u8;
            2
        } else {
            // Larger than any listpack may be anyway; the write asserts the size limit.
            let l32 = u32::try_from(len).unwrap_or(u32::MAX);
            hdr[0] = ENC_32BIT_STR;
            hdr[1..5].copy_from_slice(&l32.to_le_bytes());
            5
        };
        Enc { hdr, hlen, data: s }
    }

    /// Bytes of encoding + data (what backlen stores).
    #[inline]
    fn enc_len(&self) -> usize {
        self.hlen + self.data.len()
    }

    /// Whole entry size, backlen included.
    #[inline]
    fn total(&self) -> usize {
        let l = self.enc_len();
        l + backlen_size(l as u64)
    }

    /// Writes the entry (with its backlen) at the start of `dst`.
    #[inline]
    fn write(&self, dst: &mut [u8]) {
        dst[..self.hlen].copy_from_slice(&self.hdr[..self.hlen]);
        let d = self.hlen + self.data.len();
        dst[self.hlen..d].copy_from_slice(self.data);
        encode_backlen(&mut dst[d..], d as u64);
    }
}

/// Size of `lpEncodeBacklen(NULL, l)`. Note Redis's boundaries are `< 16383` etc., not
/// `<= 16383`, so e.g. 16383 takes 3 bytes; we follow them exactly.
#[inline]
fn backlen_size(l: u64) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2097151 {
        3
    } else if l < 268435455 {
        4
    } else {
        5
    }
}

/// `lpEncodeBacklen`: most significant group first, every byte but the first with the high
/// bit set, so reading right to left stops at the byte without it.
#[inline]
fn encode_backlen(dst: &mut [u8], l: u64) {
    let n = backlen_size(l);
    dst[0] = (l >> (7 * (n - 1))) as u8;
    for (i, d) in dst[1..n].iter_mut().enumerate() {
        *d = (((l >> (7 * (n - 2 - i))) & 127) as u8) | 128;
    }
}

/// `lpDecodeBacklen`: reads the backlen whose last byte is at `p`, right to left. Returns
/// `None` when it runs off the front of `buf` or is longer than 5 bytes (only possible on
/// corrupt input).
#[inline]
fn decode_backlen(buf: &[u8], mut p: usize) -> Option<u64> {
    let mut val: u64 = 0;
    let mut shift = 0u32;
    loop {
        let b = *buf.get(p)?;
        val |= ((b & 127) as u64) << shift;
        if b & 128 == 0 {
            return Some(val);
        }
        shift += 7;
        if shift > 28 || p == 0 {
            return None;
        }
        p -= 1;
    }
}

/// Bytes needed to read an entry's encoded length (`lpCurrentEncodedSizeBytes`); 0 for an
/// invalid first byte.
#[inline]
fn encoded_size_bytes(b: u8) -> usize {
    if b < 0xE0 {
        1
    } else if b < 0xF0 {
        2
    } else {
        match b {
            ENC_32BIT_STR => 5,
            ENC_16BIT_INT | ENC_24BIT_INT | ENC_32BIT_INT | ENC_64BIT_INT | LP_EOF => 1,
            _ => 0,
        }
    }
}

/// `lpCurrentEncodedSizeUnsafe`: encoding + data length of the entry at `p`. The caller must
/// have checked that `encoded_size_bytes` bytes are readable and the first byte valid.
#[inline]
fn encoded_size(buf: &[u8], p: usize) -> usize {
    let b = buf[p];
    if b < 0x80 {
        1
    } else if b < 0xC0 {
        1 + (b & 0x3F) as usize
    } else if b < 0xE0 {
        2
    } else if b < 0xF0 {
        2 + ((((b & 0x0F) as usize) << 8) | buf[p + 1] as usize)
    } else {
        match b {
            ENC_32BIT_STR => 5 + u32::from_le_bytes([buf[p + 1], buf[p + 2], buf[p + 3], buf[p + 4]]) as usize,
            ENC_16BIT_INT => 3,
            ENC_24BIT_INT => 4,
            ENC_32BIT_INT => 5,
            ENC_64BIT_INT => 9,
            _ => 1, // EOF; invalid bytes never get past validation
        }
    }
}

/// A listpack: Redis's exact bytes plus an O(1) element count.
#[derive(Clone, PartialEq, Eq)]
pub struct Listpack {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Listpack {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Listpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_list();
        for v in self.iter() {
            match v {
                LpVal::Int(i) => l.entry(&i),
                LpVal::Str(s) => l.entry(&String::from_utf8_lossy(s)),
            };
        }
        l.finish()
    }
}

impl Listpack {
    /// An empty listpack: `07 00 00 00 00 00 FF` (`lpNew`).
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(size_class(LP_HDR_SIZE + 1));
        buf.extend_from_slice(&[7, 0, 0, 0, 0, 0, LP_EOF]);
        Listpack { buf, count: 0 }
    }

    /// Number of elements, O(1).
    #[inline]
    pub fn len(&self) -> usize {
        self.count
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The exact Redis bytes (`lpBytes` of them).
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Total size in bytes (`lpBytes`).
    #[inline]
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// Bytes allocated, for memory accounting.
    #[inline]
    pub fn alloc_size(&self) -> usize {
        self.buf.capacity()
    }

    /// `lpSafeToAdd`: whether `add` more bytes keep the listpack within the safety limit.
    #[inline]
    pub fn safe_to_add(&self, add: usize) -> bool {
        self.buf.len().saturating_add(add) <= LISTPACK_MAX_SAFETY_SIZE
    }

    /// Validates `b` as `lpValidateIntegrity(deep=1)` does and takes it. Never panics.
    pub fn from_bytes(b: Vec<u8>) -> Option<Listpack> {
        Self::from_bytes_with(b, |_| true)
    }

    /// [`Listpack::from_bytes`], calling `f` on every entry in order (as Redis's
    /// `lpValidateIntegrity` entry callback, e.g. to reject duplicate hash fields on RDB
    /// load); `f` returning false rejects the listpack.
    pub fn from_bytes_with(b: Vec<u8>, mut f: impl FnMut(LpVal<'_>) -> bool) -> Option<Listpack> {
        let size = b.len();
        if !(LP_HDR_SIZE + 1..=LISTPACK_MAX_SAFETY_SIZE).contains(&size) {
            return None;
        }
        if u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize != size || b[size - 1] != LP_EOF {
            return None;
        }
        let numele = u16::from_le_bytes([b[4], b[5]]);
        let eof = size - 1;
        let mut p = LP_HDR_SIZE;
        let mut count = 0usize;
        // lpValidateNext, with every read bounds-checked against the EOF byte.
        while p < eof {
            let lenbytes = encoded_size_bytes(b[p]);
            if lenbytes == 0 || p + lenbytes > eof {
                return None;
            }
            let enclen = encoded_size(&b, p);
            let blen = backlen_size(enclen as u64);
            let end = p.checked_add(enclen)?.checked_add(blen)?;
            if end > eof {
                return None;
            }
            if decode_backlen(&b, end - 1)? != enclen as u64 {
                return None;
            }
            if !f(get_at(&b, p)) {
                return None;
            }
            count += 1;
            p = end;
        }
        if p != eof {
            return None;
        }
        if numele != LP_HDR_NUMELE_UNKNOWN && numele as usize != count {
            return None;
        }
        let mut lp = Listpack { buf: b, count };
        lp.fit_capacity();
        Some(lp)
    }

    /// Position of the first entry.
    #[inline]
    pub fn first(&self) -> Option<usize> {
        if self.count == 0 {
            None
        } else {
            Some(LP_HDR_SIZE)
        }
    }

    /// Position of the last entry.
    #[inline]
    pub fn last(&self) -> Option<usize> {
        if self.count == 0 {
            None
        } else {
            Some(self.prev_of(self.buf.len() - 1))
        }
    }

    /// Position of the entry after `p`.
    #[inline]
    pub fn next(&self, p: usize) -> Option<usize> {
        let q = p + self.entry_total(p);
        if self.buf[q] == LP_EOF {
            None
        } else {
            Some(q)
        }
    }

    /// Position of the entry before `p`.
    #[inline]
    pub fn prev(&self, p: usize) -> Option<usize> {
        if p <= LP_HDR_SIZE {
            None
        } else {
            Some(self.prev_of(p))
        }
    }

    /// Start of the entry that ends just before `p` (`p` > header).
    #[inline]
    fn prev_of(&self, p: usize) -> usize {
        let l = decode_backlen(&self.buf, p - 1).unwrap_or(0) as usize;
        debug_assert!(l > 0, "corrupt backlen before {p}");
        p - l - backlen_size(l as u64)
    }

    /// Whole size (encoding + data + backlen) of the entry at `p`.
    #[inline]
    fn entry_total(&self, p: usize) -> usize {
        let l = encoded_size(&self.buf, p);
        l + backlen_size(l as u64)
    }

    /// The element at `p`.
    #[inline]
    pub fn get(&self, p: usize) -> LpVal<'_> {
        debug_assert!(p >= LP_HDR_SIZE && p < self.buf.len() - 1);
        get_at(&self.buf, p)
    }

    /// The element at `p` and the position of the following entry, decoding the header
    /// once (for loops that read and advance).
    #[inline]
    pub fn get_next(&self, p: usize) -> (LpVal<'_>, Option<usize>) {
        let (v, l) = decode(&self.buf, p);
        let q = p + l + backlen_size(l as u64);
        (v, if self.buf[q] == LP_EOF { None } else { Some(q) })
    }

    /// `lpSeek`: the position of element `index` (negative counts from the end), walking
    /// from the nearer end.
    pub fn seek(&self, index: i64) -> Option<usize> {
        let n = self.count as i64;
        let idx = if index < 0 { n.checked_add(index)? } else { index };
        if idx < 0 || idx >= n {
            return None;
        }
        if idx > n / 2 {
            let mut p = self.buf.len() - 1;
            for _ in 0..(n - idx) {
                p = self.prev_of(p);
            }
            Some(p)
        } else {
            let mut p = LP_HDR_SIZE;
            for _ in 0..idx {
                p += self.entry_total(p);
            }
            Some(p)
        }
    }

    /// Iterates the elements (both directions).
    #[inline]
    pub fn iter(&self) -> Iter<'_> {
        Iter { lp: self, front: LP_HDR_SIZE, back: self.buf.len() - 1, remaining: Some(self.count) }
    }

    /// Iterates from the entry at `p` to the end (reverse iteration stops at `p` too).
    #[inline]
    pub fn iter_from(&self, p: usize) -> Iter<'_> {
        Iter { lp: self, front: p, back: self.buf.len() - 1, remaining: None }
    }

    pub fn push_back(&mut self, v: &[u8]) {
        let at = self.buf.len() - 1;
        self.splice(at, 0, &Enc::bytes(v), 1);
    }

    pub fn push_front(&mut self, v: &[u8]) {
        self.splice(LP_HDR_SIZE, 0, &Enc::bytes(v), 1);
    }

    /// Stores an integer without formatting it.
    pub fn push_back_int(&mut self, v: i64) {
        let at = self.buf.len() - 1;
        self.splice(at, 0, &Enc::int(v), 1);
    }

    pub fn push_front_int(&mut self, v: i64) {
        self.splice(LP_HDR_SIZE, 0, &Enc::int(v), 1);
    }

    /// Inserts before the entry at `p` (or at the end when `p` is the EOF byte's position);
    /// returns the new entry's position.
    pub fn insert_before(&mut self, p: usize, v: &[u8]) -> usize {
        self.splice(p, 0, &Enc::bytes(v), 1);
        p
    }

    /// Inserts after the entry at `p`; returns the new entry's position.
    pub fn insert_after(&mut self, p: usize, v: &[u8]) -> usize {
        let q = p + self.entry_total(p);
        self.splice(q, 0, &Enc::bytes(v), 1);
        q
    }

    /// Replaces the entry at `p`; returns the (same) position.
    pub fn replace(&mut self, p: usize, v: &[u8]) -> usize {
        let old = self.entry_total(p);
        self.splice(p, old, &Enc::bytes(v), 0);
        p
    }

    /// Replaces the entry at `p` with an integer (e.g. HINCRBY), without formatting it.
    pub fn replace_int(&mut self, p: usize, v: i64) -> usize {
        let old = self.entry_total(p);
        self.splice(p, old, &Enc::int(v), 0);
        p
    }

    /// Deletes the entry at `p`; returns the position of the following entry.
    pub fn delete(&mut self, p: usize) -> Option<usize> {
        let n = self.entry_total(p);
        self.remove_bytes(p, n, 1);
        if self.buf[p] == LP_EOF {
            None
        } else {
            Some(p)
        }
    }

    /// `lpDeleteRange`: deletes up to `count` elements starting at `index` (negative from
    /// the end); nothing when `index` is out of range.
    pub fn delete_range(&mut self, index: i64, count: usize) {
        if count == 0 {
            return;
        }
        let Some(p) = self.seek(index) else { return };
        let idx = if index < 0 { self.count as i64 + index } else { index } as usize;
        if self.count - idx <= count {
            let n = self.buf.len() - 1 - p;
            self.remove_bytes(p, n, self.count - idx);
            return;
        }
        let mut q = p;
        for _ in 0..count {
            q += self.entry_total(q);
        }
        self.remove_bytes(p, q - p, count);
    }

    /// Deletes the entries from position `p` (included) to `q` (excluded), `n` of them
    /// (`lpBatchDelete`-like, for callers that walked the range themselves).
    pub fn delete_span(&mut self, p: usize, q: usize, n: usize) {
        self.remove_bytes(p, q - p, n);
    }

    /// `lpFind`: first entry at or after `p` equal to `v`, testing one entry then skipping
    /// `skip` (skip=1 searches only the fields of a field/value listpack). Integer entries
    /// are compared as integers, without formatting.
    pub fn find(&self, p: usize, v: &[u8], skip: usize) -> Option<usize> {
        // As lpFind: the needle's integer form is only worked out once, if ever needed.
        let mut needle_int: Option<Option<i64>> = None;
        let buf = &self.buf[..];
        let eof = buf.len() - 1;
        let mut p = p;
        let mut skipcnt = 0usize;
        while p < eof {
            let l = if skipcnt == 0 {
                let (val, l) = decode(buf, p);
                match val {
                    LpVal::Str(s) => {
                        if s == v {
                            return Some(p);
                        }
                    }
                    LpVal::Int(i) => {
                        let n = *needle_int.get_or_insert_with(|| {
                            if v.is_empty() || v.len() >= 32 {
                                None
                            } else {
                                string2ll(v)
                            }
                        });
                        if n == Some(i) {
                            return Some(p);
                        }
                    }
                }
                skipcnt = skip;
                l
            } else {
                skipcnt -= 1;
                encoded_size(buf, p)
            };
            p += l + backlen_size(l as u64);
        }
        None
    }

    /// Takes bytes this process wrote itself as a listpack holding `count` elements (a list
    /// node's bytes after LZF decompression), without validating them again.
    pub(crate) fn from_trusted(buf: Vec<u8>, count: usize) -> Listpack {
        debug_assert!(buf.len() > LP_HDR_SIZE && buf.last() == Some(&LP_EOF));
        let lp = Listpack { buf, count };
        debug_assert_eq!(lp.iter().count(), count);
        lp
    }

    /// `lpMerge` when `self` is the left listpack: appends every entry of `other` (entries
    /// do not depend on their position, so this is one copy of `other`'s entry bytes).
    pub fn append_all(&mut self, other: &Listpack) {
        let at = self.buf.len() - 1;
        self.insert_entries(at, other);
    }

    /// `lpMerge` when `self` is the right listpack: puts every entry of `other` first.
    pub fn prepend_all(&mut self, other: &Listpack) {
        self.insert_entries(LP_HDR_SIZE, other);
    }

    fn insert_entries(&mut self, at: usize, other: &Listpack) {
        let body = &other.buf[LP_HDR_SIZE..other.buf.len() - 1];
        let old_len = self.buf.len();
        let new_len = old_len + body.len();
        assert!(new_len <= LISTPACK_MAX_SAFETY_SIZE, "listpack over LISTPACK_MAX_SAFETY_SIZE");
        if new_len > self.buf.capacity() {
            self.buf.reserve_exact(size_class(new_len) - old_len);
        }
        self.buf.splice(at..at, body.iter().copied());
        self.count += other.count;
        self.write_header();
    }

    /// `lpRepr`: the listpack's layout, entry by entry, as Redis prints it for DEBUG
    /// QUICKLIST (addresses are this process's).
    pub fn repr(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "{{total bytes {}}} {{num entries {}}}", self.buf.len(), self.count);
        let mut p = self.first();
        let mut index = 0;
        while let Some(q) = p {
            let size_bytes = encoded_size_bytes(self.buf[q]);
            let size = encoded_size(&self.buf, q);
            let back = backlen_size(size as u64);
            let _ = write!(
                out,
                "{{\n\taddr: 0x{:08x},\n\tindex: {:2},\n\toffset: {:1},\n\thdr+entrylen+backlen: {:2},\n\thdrlen: {:3},\n\tbacklen: {:2},\n\tpayload: {:1}\n",
                self.buf.as_ptr() as usize + q,
                index,
                q,
                size + back,
                size_bytes,
                back,
                size - size_bytes
            );
            out.push_str("\tbytes: ");
            for b in &self.buf[q..q + size + back] {
                let _ = write!(out, "{b:02x}|");
            }
            out.push_str("\n\t[str]");
            let v = self.get(q).to_vec();
            out.push_str(&String::from_utf8_lossy(&v[..v.len().min(40)]));
            if v.len() > 40 {
                out.push_str("...");
            }
            out.push_str("\n}\n");
            index += 1;
            p = self.next(q);
        }
        out.push_str("{end}\n\n");
    }

    /// Bytes one more element `v` takes in a listpack (encoding, data and backlen).
    pub fn entry_size(v: &[u8]) -> usize {
        Enc::bytes(v).total()
    }

    /// Bytes one more integer element takes.
    pub fn entry_size_int(v: i64) -> usize {
        Enc::int(v).total()
    }

    // ---- internals ----

    /// Replaces `remove` bytes at `at` with the entry `enc`; `added` is the change in element
    /// count (1 for an insert, 0 for a replace). One memmove, as lpInsert.
    #[inline]
    fn splice(&mut self, at: usize, remove: usize, enc: &Enc<'_>, added: usize) {
        let add = enc.total();
        let old_len = self.buf.len();
        debug_assert!(at >= LP_HDR_SIZE && at + remove < old_len);
        if add >= remove {
            let new_len = old_len + (add - remove);
            assert!(new_len <= LISTPACK_MAX_SAFETY_SIZE, "listpack over LISTPACK_MAX_SAFETY_SIZE");
            if new_len > self.buf.capacity() {
                self.buf.reserve_exact(size_class(new_len) - old_len);
            }
            self.buf.resize(new_len, 0);
            self.buf.copy_within(at + remove..old_len, at + add);
            enc.write(&mut self.buf[at..at + add]);
        } else {
            enc.write(&mut self.buf[at..at + add]);
            self.buf.copy_within(at + remove..old_len, at + add);
            self.buf.truncate(old_len - (remove - add));
            self.fit_capacity();
        }
        self.count += added;
        self.write_header();
    }

    /// Removes `n` bytes holding `elems` elements at `at`.
    #[inline]
    fn remove_bytes(&mut self, at: usize, n: usize, elems: usize) {
        let old_len = self.buf.len();
        debug_assert!(at >= LP_HDR_SIZE && at + n < old_len);
        self.buf.copy_within(at + n..old_len, at);
        self.buf.truncate(old_len - n);
        self.count -= elems;
        self.fit_capacity();
        self.write_header();
    }

    /// Gives back memory once the bytes fit a smaller size class (Redis reallocs on shrink).
    #[inline]
    fn fit_capacity(&mut self) {
        let target = size_class(self.buf.len());
        if self.buf.capacity() > target {
            self.buf.shrink_to(target);
        }
    }

    #[inline]
    fn write_header(&mut self) {
        let total = self.buf.len() as u32;
        let n = if self.count < LP_HDR_NUMELE_UNKNOWN as usize { self.count as u16 } else { LP_HDR_NUMELE_UNKNOWN };
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        debug_assert_eq!(self.buf.last(), Some(&LP_EOF));
    }

    /// Checks every invariant (tests, debug builds).
    #[cfg(test)]
    fn check(&self) {
        assert_eq!(u32::from_le_bytes(self.buf[0..4].try_into().unwrap()) as usize, self.buf.len());
        assert_eq!(self.buf.last(), Some(&LP_EOF));
        let c = Listpack::from_bytes(self.buf.clone()).expect("valid");
        assert_eq!(c.count, self.count);
    }
}

/// Decodes the element at `p` (a validated entry).
#[inline]
fn get_at(buf: &[u8], p: usize) -> LpVal<'_> {
    decode(buf, p).0
}

/// Decodes the element at `p` and returns it with its encoding + data length, so walking
/// code reads the header once.
#[inline]
fn decode(buf: &[u8], p: usize) -> (LpVal<'_>, usize) {
    let b = buf[p];
    if b < 0x80 {
        (LpVal::Int(b as i64), 1)
    } else if b < 0xC0 {
        let l = (b & 0x3F) as usize;
        (LpVal::Str(&buf[p + 1..p + 1 + l]), 1 + l)
    } else if b < 0xE0 {
        // 13-bit two's complement.
        let u = (((b & 0x1F) as i64) << 8) | buf[p + 1] as i64;
        (LpVal::Int(if u >= 1 << 12 { u - (1 << 13) } else { u }), 2)
    } else if b < 0xF0 {
        let l = (((b & 0x0F) as usize) << 8) | buf[p + 1] as usize;
        (LpVal::Str(&buf[p + 2..p + 2 + l]), 2 + l)
    } else {
        match b {
            ENC_16BIT_INT => (LpVal::Int(i16::from_le_bytes([buf[p + 1], buf[p + 2]]) as i64), 3),
            ENC_24BIT_INT => {
                // Place the 3 bytes high in an i32 and shift back to sign-extend.
                let v = i32::from_le_bytes([0, buf[p + 1], buf[p + 2], buf[p + 3]]) >> 8;
                (LpVal::Int(v as i64), 4)
            }
            ENC_32BIT_INT => {
                let v = i32::from_le_bytes([buf[p + 1], buf[p + 2], buf[p + 3], buf[p + 4]]);
                (LpVal::Int(v as i64), 5)
            }
            ENC_64BIT_INT => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&buf[p + 1..p + 9]);
                (LpVal::Int(i64::from_le_bytes(a)), 9)
            }
            ENC_32BIT_STR => {
                let l = u32::from_le_bytes([buf[p + 1], buf[p + 2], buf[p + 3], buf[p + 4]]) as usize;
                (LpVal::Str(&buf[p + 5..p + 5 + l]), 5 + l)
            }
            _ => {
                debug_assert!(false, "invalid listpack entry at {p}");
                (LpVal::Str(&[]), 1)
            }
        }
    }
}

/// Iterator over a listpack's elements, in both directions.
#[derive(Clone)]
pub struct Iter<'a> {
    lp: &'a Listpack,
    /// Position of the next entry from the front.
    front: usize,
    /// Position just past the next entry from the back (its backlen's end).
    back: usize,
    remaining: Option<usize>,
}

impl<'a> Iter<'a> {
    /// Position of the entry the next `next()` call returns (when not finished).
    #[inline]
    pub fn position(&self) -> usize {
        self.front
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = LpVal<'a>;

    #[inline]
    fn next(&mut self) -> Option<LpVal<'a>> {
        if self.front >= self.back {
            return None;
        }
        let lp = self.lp;
        let (v, l) = decode(&lp.buf, self.front);
        self.front += l + backlen_size(l as u64);
        if let Some(r) = &mut self.remaining {
            *r -= 1;
        }
        Some(v)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.remaining {
            Some(r) => (r, Some(r)),
            None => (usize::from(self.front < self.back), Some(self.back - self.front)),
        }
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<LpVal<'a>> {
        if self.front >= self.back {
            return None;
        }
        let lp = self.lp;
        self.back = lp.prev_of(self.back);
        if let Some(r) = &mut self.remaining {
            *r -= 1;
        }
        Some(get_at(&lp.buf, self.back))
    }
}

impl<'a> IntoIterator for &'a Listpack {
    type Item = LpVal<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds the expected bytes of a listpack from its entries' bytes.
    fn lp_bytes(entries: &[Vec<u8>]) -> Vec<u8> {
        let body: usize = entries.iter().map(|e| e.len()).sum();
        let total = (LP_HDR_SIZE + body + 1) as u32;
        let mut v = total.to_le_bytes().to_vec();
        v.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for e in entries {
            v.extend_from_slice(e);
        }
        v.push(0xFF);
        v
    }

    fn one(v: &[u8]) -> Vec<u8> {
        let mut lp = Listpack::new();
        lp.push_back(v);
        lp.check();
        assert_eq!(lp.get(lp.first().unwrap()).to_vec(), v);
        lp.bytes()[LP_HDR_SIZE..lp.bytes().len() - 1].to_vec()
    }

    /// A string entry: header bytes, data, backlen bytes.
    fn str_entry(hdr: &[u8], data: &[u8], backlen: &[u8]) -> Vec<u8> {
        let mut v = hdr.to_vec();
        v.extend_from_slice(data);
        v.extend_from_slice(backlen);
        v
    }

    #[test]
    fn empty() {
        let lp = Listpack::new();
        assert_eq!(lp.bytes(), &[7, 0, 0, 0, 0, 0, 0xFF]);
        assert_eq!(lp.len(), 0);
        assert_eq!(lp.first(), None);
        assert_eq!(lp.last(), None);
        assert_eq!(lp.seek(0), None);
        assert_eq!(lp.seek(-1), None);
        assert_eq!(lp.iter().count(), 0);
        assert_eq!(Listpack::default(), lp);
        assert!(Listpack::from_bytes(lp.bytes().to_vec()).is_some());
    }

    #[test]
    fn known_listpack() {
        let long = vec![b'x'; 70];
        let mut lp = Listpack::new();
        for v in [&b"hello"[..], b"1024", b"-1", b"7", &long] {
            lp.push_back(v);
        }
        let expected = lp_bytes(&[
            vec![0x85, b'h', b'e', b'l', b'l', b'o', 0x06],
            vec![0xC4, 0x00, 0x02],
            vec![0xDF, 0xFF, 0x02],
            vec![0x07, 0x01],
            str_entry(&[0xE0, 70], &long, &[72]),
        ]);
        assert_eq!(lp.bytes(), &expected[..]);
        assert_eq!(lp.bytes().len(), 95);
        let vals: Vec<LpVal> = lp.iter().collect();
        assert_eq!(
            vals,
            vec![LpVal::Str(b"hello"), LpVal::Int(1024), LpVal::Int(-1), LpVal::Int(7), LpVal::Str(&long)]
        );
        let back: Vec<Vec<u8>> = lp.iter().rev().map(|v| v.to_vec()).collect();
        assert_eq!(back[0], long);
        assert_eq!(back[4], b"hello");
    }

    #[test]
    fn int_boundaries() {
        let cases: Vec<(i64, Vec<u8>)> = vec![
            (0, vec![0x00, 0x01]),
            (127, vec![0x7F, 0x01]),
            (128, vec![0xC0, 0x80, 0x02]),
            (4095, vec![0xCF, 0xFF, 0x02]),
            (-1, vec![0xDF, 0xFF, 0x02]),
            (-4096, vec![0xD0, 0x00, 0x02]),
            (4096, vec![0xF1, 0x00, 0x10, 0x03]),
            (-4097, vec![0xF1, 0xFF, 0xEF, 0x03]),
            (32767, vec![0xF1, 0xFF, 0x7F, 0x03]),
            (-32768, vec![0xF1, 0x00, 0x80, 0x03]),
            (32768, vec![0xF2, 0x00, 0x80, 0x00, 0x04]),
            (-32769, vec![0xF2, 0xFF, 0x7F, 0xFF, 0x04]),
            (8388607, vec![0xF2, 0xFF, 0xFF, 0x7F, 0x04]),
            (-8388608, vec![0xF2, 0x00, 0x00, 0x80, 0x04]),
            (8388608, vec![0xF3, 0x00, 0x00, 0x80, 0x00, 0x05]),
            (-8388609, vec![0xF3, 0xFF, 0xFF, 0x7F, 0xFF, 0x05]),
            (2147483647, vec![0xF3, 0xFF, 0xFF, 0xFF, 0x7F, 0x05]),
            (-2147483648, vec![0xF3, 0x00, 0x00, 0x00, 0x80, 0x05]),
            (2147483648, vec![0xF4, 0, 0, 0, 0x80, 0, 0, 0, 0, 0x09]),
            (-2147483649, vec![0xF4, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0x09]),
            (i64::MAX, vec![0xF4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x09]),
            (i64::MIN, vec![0xF4, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x09]),
        ];
        for (v, want) in cases {
            let s = v.to_string();
            assert_eq!(one(s.as_bytes()), want, "{v}");
            let mut lp = Listpack::new();
            lp.push_back_int(v);
            assert_eq!(&lp.bytes()[6..lp.bytes().len() - 1], &want[..], "{v}");
            assert_eq!(lp.get(6), LpVal::Int(v));
            assert_eq!(Listpack::entry_size(s.as_bytes()), want.len());
            assert_eq!(Listpack::entry_size_int(v), want.len());
        }
    }

    #[test]
    fn non_canonical_numbers_are_strings() {
        for s in [&b"-0"[..], b"01", b"+1", b" 1", b"1 ", b"", b"9223372036854775808", b"1.0"] {
            let mut want = vec![0x80 | s.len() as u8];
            want.extend_from_slice(s);
            want.push(1 + s.len() as u8);
            assert_eq!(one(s), want, "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn string_boundaries() {
        let s = |n: usize| vec![b'a'; n];
        assert_eq!(one(&s(63)), str_entry(&[0xBF], &s(63), &[64]));
        assert_eq!(one(&s(64)), str_entry(&[0xE0, 64], &s(64), &[66]));
        // Encoded length 127 -> 1-byte backlen; 128 -> 2 bytes.
        assert_eq!(one(&s(125)), str_entry(&[0xE0, 125], &s(125), &[127]));
        assert_eq!(one(&s(126)), str_entry(&[0xE0, 126], &s(126), &[0x01, 0x80]));
        assert_eq!(one(&s(4095)), str_entry(&[0xEF, 0xFF], &s(4095), &[0x20, 0x81]));
        assert_eq!(one(&s(4096)), str_entry(&[0xF0, 0x00, 0x10, 0, 0], &s(4096), &[0x20, 0x85]));
        // Redis's backlen boundaries are `l < 16383`: 16382 -> 2 bytes, 16383 -> 3 bytes.
        assert_eq!(one(&s(16377)), str_entry(&[0xF0, 0xF9, 0x3F, 0, 0], &s(16377), &[0x7F, 0xFE]));
        assert_eq!(one(&s(16378)), str_entry(&[0xF0, 0xFA, 0x3F, 0, 0], &s(16378), &[0x00, 0xFF, 0xFF]));
        assert_eq!(one(&s(16379)), str_entry(&[0xF0, 0xFB, 0x3F, 0, 0], &s(16379), &[0x01, 0x80, 0x80]));
        for n in [0, 1, 63, 64, 4095, 4096, 16378, 2097146, 2097147] {
            let e = one(&s(n));
            assert_eq!(e.len(), Listpack::entry_size(&s(n)), "{n}");
        }
    }

    #[test]
    fn backlen_encoding() {
        for l in [1u64, 127, 128, 16382, 16383, 16384, 2097150, 2097151, 268435454, 268435455, 1 << 30] {
            let mut b = [0u8; 5];
            let n = backlen_size(l);
            encode_backlen(&mut b, l);
            assert_eq!(decode_backlen(&b, n - 1), Some(l), "{l}");
        }
        assert_eq!(backlen_size(16382), 2);
        assert_eq!(backlen_size(16383), 3);
        assert_eq!(backlen_size(2097151), 4);
        assert_eq!(backlen_size(268435455), 5);
    }

    #[test]
    fn size_classes() {
        let want = [(1, 8), (7, 8), (9, 16), (17, 32), (128, 128), (129, 160), (160, 160)];
        for (n, c) in want {
            assert_eq!(size_class(n), c, "{n}");
        }
        assert_eq!(size_class(257), 320);
        assert_eq!(size_class(4097), 5120);
        let mut lp = Listpack::new();
        for i in 0..1000 {
            lp.push_back(format!("element-{i}").as_bytes());
            assert!(lp.alloc_size() >= lp.byte_len());
            assert!(lp.alloc_size() <= size_class(lp.byte_len()));
        }
        while let Some(p) = lp.first() {
            lp.delete(p);
            assert!(lp.alloc_size() <= size_class(lp.byte_len()));
        }
        assert_eq!(lp.alloc_size(), 8);
    }

    #[test]
    fn positions_and_edits() {
        let mut lp = Listpack::new();
        for v in [&b"a"[..], b"b", b"c"] {
            lp.push_back(v);
        }
        let p = lp.seek(1).unwrap();
        assert!(lp.get(p).eq_bytes(b"b"));
        let q = lp.insert_after(p, b"12345");
        assert_eq!(lp.get(q), LpVal::Int(12345));
        assert!(lp.get(q).eq_bytes(b"12345"));
        assert!(!lp.get(q).eq_bytes(b"012345"));
        let r = lp.insert_before(p, b"x");
        assert_eq!(lp.next(r), Some(p + 3));
        let items: Vec<Vec<u8>> = lp.iter().map(|v| v.to_vec()).collect();
        assert_eq!(items, vec![b"a".to_vec(), b"x".to_vec(), b"b".to_vec(), b"12345".to_vec(), b"c".to_vec()]);
        assert_eq!(lp.find(lp.first().unwrap(), b"12345", 0), lp.seek(3));
        assert_eq!(lp.find(lp.first().unwrap(), b"12345", 1), None);
        assert_eq!(lp.find(lp.first().unwrap(), b"b", 1), lp.seek(2));
        assert_eq!(lp.find(lp.first().unwrap(), b"c", 1), lp.seek(4));
        let p = lp.seek(-2).unwrap();
        lp.replace(p, b"a longer string than before");
        lp.check();
        assert!(lp.get(lp.seek(3).unwrap()).eq_bytes(b"a longer string than before"));
        lp.replace_int(p, -5);
        assert_eq!(lp.get(p), LpVal::Int(-5));
        let n = lp.delete(lp.last().unwrap());
        assert_eq!(n, None);
        let n = lp.delete(lp.first().unwrap());
        assert_eq!(n, Some(LP_HDR_SIZE));
        lp.check();
        assert_eq!(lp.len(), 3);
        let mut out = crate::protocol::Reply::new();
        lp.get(lp.last().unwrap()).reply(&mut out);
        lp.get(lp.first().unwrap()).reply(&mut out);
        assert_eq!(out.buf, b"$2\r\n-5\r\n$1\r\nx\r\n");
    }

    #[test]
    fn merges_concatenate_entries() {
        let mut a = Listpack::new();
        let mut b = Listpack::new();
        for i in 0..5 {
            a.push_back(format!("a{i}").as_bytes());
            b.push_back_int(i * 300);
        }
        b.push_back(&[b'x'; 200]);
        let mut left = a.clone();
        left.append_all(&b);
        left.check();
        let mut right = b.clone();
        right.prepend_all(&a);
        right.check();
        assert_eq!(left, right);
        assert_eq!(left.len(), 11);
        let want: Vec<Vec<u8>> = a.iter().chain(b.iter()).map(|v| v.to_vec()).collect();
        assert_eq!(left.iter().map(|v| v.to_vec()).collect::<Vec<_>>(), want);
        assert_eq!(Listpack::from_trusted(left.bytes().to_vec(), 11), left);
        let mut empty = Listpack::new();
        empty.append_all(&Listpack::new());
        assert_eq!(empty, Listpack::new());
    }

    #[test]
    fn repr_prints_lprepr() {
        let mut lp = Listpack::new();
        lp.push_back(b"f");
        lp.push_back(&[b'y'; 50]);
        let mut out = String::new();
        lp.repr(&mut out);
        assert!(out.starts_with("{total bytes 62} {num entries 2}\n{\n\taddr: 0x"), "{out}");
        assert!(out.contains("\tindex:  0,\n\toffset: 6,\n\thdr+entrylen+backlen:  3,\n\thdrlen:   1,\n\tbacklen:  1,\n\tpayload: 1\n\tbytes: 81|66|02|\n\t[str]f\n}\n"));
        assert!(out.contains(&format!("\t[str]{}...\n}}\n{{end}}\n\n", "y".repeat(40))));
    }

    #[test]
    fn iter_from_and_get_next() {
        let mut lp = Listpack::new();
        for i in 0..10 {
            lp.push_back_int(i * 1000);
        }
        let p = lp.seek(6).unwrap();
        let f: Vec<i64> = lp.iter_from(p).map(|v| v.as_int().unwrap()).collect();
        assert_eq!(f, vec![6000, 7000, 8000, 9000]);
        let b: Vec<i64> = lp.iter_from(p).rev().map(|v| v.as_int().unwrap()).collect();
        assert_eq!(b, vec![9000, 8000, 7000, 6000]);
        let mut it = lp.iter_from(p);
        assert_eq!(it.position(), p);
        it.next();
        assert_eq!(Some(it.position()), lp.next(p));
        let mut p = lp.first();
        let mut k = 0;
        while let Some(q) = p {
            let (v, n) = lp.get_next(q);
            assert_eq!(v, LpVal::Int(k * 1000));
            assert_eq!(n, lp.next(q));
            p = n;
            k += 1;
        }
        assert_eq!(k, 10);
        assert_eq!(lp.iter().size_hint(), (10, Some(10)));
        assert_eq!(LpVal::Int(-123).byte_len(), 4);
    }

    #[test]
    fn count_header_saturates() {
        let mut lp = Listpack::new();
        for _ in 0..65536 {
            lp.push_back_int(1);
        }
        assert_eq!(lp.len(), 65536);
        assert_eq!(&lp.bytes()[4..6], &[0xFF, 0xFF]);
        let b = lp.bytes().to_vec();
        assert_eq!(Listpack::from_bytes(b).unwrap().len(), 65536);
        lp.delete_range(0, 2);
        assert_eq!(lp.len(), 65534);
        assert_eq!(&lp.bytes()[4..6], &65534u16.to_le_bytes());
        lp.check();
    }

    #[test]
    fn from_bytes_rejects() {
        let mut lp = Listpack::new();
        lp.push_back(b"hello");
        lp.push_back(b"1000");
        let good = lp.bytes().to_vec();
        assert!(Listpack::from_bytes(good.clone()).is_some());
        let mut b = good.clone();
        b[4] = 3; // wrong count
        assert!(Listpack::from_bytes(b).is_none());
        let mut b = good.clone();
        b[4] = 0xFF; // unknown count is accepted
        b[5] = 0xFF;
        assert_eq!(Listpack::from_bytes(b).unwrap().len(), 2);
        let mut b = good.clone();
        b[12] = 3; // bad backlen of "hello"
        assert!(Listpack::from_bytes(b).is_none());
        let mut b = good.clone();
        b[6] = 0xF7; // invalid encoding
        assert!(Listpack::from_bytes(b).is_none());
        let mut b = good.clone();
        b.pop();
        assert!(Listpack::from_bytes(b).is_none());
        assert!(Listpack::from_bytes(vec![]).is_none());
        assert!(Listpack::from_bytes(vec![6, 0, 0, 0, 0, 0]).is_none());
        // Duplicate check through the callback.
        let mut seen = 0;
        assert!(Listpack::from_bytes_with(good, |v| {
            seen += 1;
            v != LpVal::Int(1000)
        })
        .is_none());
        assert_eq!(seen, 2);
    }

    /// Byte-exactness against the real redis-server 7.0: builds a hash and a list with
    /// values on every encoding boundary (plus replace/delete/insert/trim), DUMPs them with
    /// rdbcompression off and compares the listpack inside the RDB payload with ours.
    /// Run with `cargo test --lib types::listpack -- --ignored` (needs `redis-server`).
    #[test]
    #[ignore]
    fn byte_exact_against_redis_server() {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::net::TcpStream;

        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--bind", "127.0.0.1", "--rdbcompression", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server");
        let mut conn = None;
        for _ in 0..100 {
            if let Ok(c) = TcpStream::connect(("127.0.0.1", port)) {
                conn = Some(c);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let conn = conn.expect("connect");
        let mut w = conn.try_clone().unwrap();
        let mut r = BufReader::new(conn);
        let mut cmd = |args: &[&[u8]]| -> Vec<u8> {
            let mut out = format!("*{}\r\n", args.len()).into_bytes();
            for a in args {
                out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                out.extend_from_slice(a);
                out.extend_from_slice(b"\r\n");
            }
            w.write_all(&out).unwrap();
            let mut line = Vec::new();
            r.read_until(b'\n', &mut line).unwrap();
            assert_ne!(line[0], b'-', "{}", String::from_utf8_lossy(&line));
            if line[0] == b'$' {
                let n: usize = std::str::from_utf8(&line[1..line.len() - 2]).unwrap().parse().unwrap();
                let mut b = vec![0u8; n + 2];
                r.read_exact(&mut b).unwrap();
                b.truncate(n);
                b
            } else {
                line
            }
        };
        cmd(&[b"CONFIG", b"SET", b"hash-max-listpack-value", b"100000"]);
        cmd(&[b"CONFIG", b"SET", b"hash-max-listpack-entries", b"100000"]);
        cmd(&[b"CONFIG", b"SET", b"list-max-listpack-size", b"-5"]);

        let mut vals: Vec<Vec<u8>> = [
            0i64,
            127,
            128,
            4095,
            4096,
            -4096,
            -4097,
            32767,
            32768,
            -32768,
            -32769,
            8388607,
            8388608,
            -8388608,
            -8388609,
            2147483647,
            2147483648,
            -2147483648,
            -2147483649,
            i64::MAX,
            i64::MIN,
        ]
        .iter()
        .map(|v| v.to_string().into_bytes())
        .collect();
        for s in [&b"-0"[..], b"01", b"+1", b"", b"9223372036854775808", b"hello"] {
            vals.push(s.to_vec());
        }
        for n in [63, 64, 125, 126, 4095, 4096, 16377, 16378, 16379] {
            vals.push(vec![b'v'; n]);
        }

        // Payload: type byte, RDB string length, listpack, 2-byte version, 8-byte CRC.
        fn listpack_of(dump: &[u8], skip_prefix: usize) -> Vec<u8> {
            let d = &dump[skip_prefix..dump.len() - 10];
            let (hl, n) = match d[0] >> 6 {
                0 => (1, (d[0] & 63) as usize),
                1 => (2, (((d[0] & 63) as usize) << 8) | d[1] as usize),
                _ => {
                    assert_eq!(d[0], 0x80);
                    (5, u32::from_be_bytes([d[1], d[2], d[3], d[4]]) as usize)
                }
            };
            assert_eq!(d.len(), hl + n);
            d[hl..].to_vec()
        }

        // Hash: field i -> value; then overwrite one value (lpReplace) and delete a pair.
        let mut lp = Listpack::new();
        for (i, v) in vals.iter().enumerate() {
            let f = format!("f{i}");
            cmd(&[b"HSET", b"h", f.as_bytes(), v]);
            lp.push_back(f.as_bytes());
            lp.push_back(v);
        }
        cmd(&[b"HSET", b"h", b"f3", b"a replacement value"]);
        let p = lp.find(lp.first().unwrap(), b"f3", 1).unwrap();
        let vp = lp.next(p).unwrap();
        lp.replace(vp, b"a replacement value");
        cmd(&[b"HDEL", b"h", b"f5"]);
        let p = lp.find(lp.first().unwrap(), b"f5", 1).unwrap();
        let p = lp.delete(p).unwrap();
        lp.delete(p);
        let dump = cmd(&[b"DUMP", b"h"]);
        assert_eq!(dump[0], 16, "RDB_TYPE_HASH_LISTPACK");
        assert_eq!(listpack_of(&dump, 1), lp.bytes());

        // List: one quicklist node (RDB_TYPE_LIST_QUICKLIST_2, 1 node, PACKED container).
        let mut lp = Listpack::new();
        for (i, v) in vals.iter().enumerate() {
            if i % 2 == 0 {
                cmd(&[b"RPUSH", b"l", v]);
                lp.push_back(v);
            } else {
                cmd(&[b"LPUSH", b"l", v]);
                lp.push_front(v);
            }
        }
        cmd(&[b"LINSERT", b"l", b"BEFORE", b"hello", b"12345"]);
        let p = lp.find(lp.first().unwrap(), b"hello", 0).unwrap();
        lp.insert_before(p, b"12345");
        cmd(&[b"LSET", b"l", b"-3", b"-77"]);
        lp.replace(lp.seek(-3).unwrap(), b"-77");
        cmd(&[b"LTRIM", b"l", b"1", b"-2"]);
        lp.delete_range(0, 1);
        lp.delete_range(-1, 1);
        cmd(&[b"LREM", b"l", b"0", b"32767"]);
        let p = lp.find(lp.first().unwrap(), b"32767", 0).unwrap();
        lp.delete(p);
        let dump = cmd(&[b"DUMP", b"l"]);
        assert_eq!(&dump[..3], &[18, 1, 2], "quicklist2, 1 node, packed");
        assert_eq!(listpack_of(&dump, 3), lp.bytes());
        // And the bytes load back.
        assert!(Listpack::from_bytes(listpack_of(&dump, 3)).is_some());

        let _ = child.kill();
        let _ = child.wait();
    }

    #[derive(Debug, Clone)]
    enum Op {
        PushBack(Vec<u8>),
        PushFront(Vec<u8>),
        PushInt(i64),
        InsertBefore(i64, Vec<u8>),
        InsertAfter(i64, Vec<u8>),
        Replace(i64, Vec<u8>),
        Delete(i64),
        DeleteRange(i64, usize),
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<i64>().prop_map(|i| i.to_string().into_bytes()),
            (-5000i64..5000).prop_map(|i| i.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..80),
            proptest::collection::vec(any::<u8>(), 4090..4100),
            Just(b"-0".to_vec()),
            Just(b"007".to_vec()),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let idx = -12i64..12;
        prop_oneof![
            value().prop_map(Op::PushBack),
            value().prop_map(Op::PushFront),
            any::<i64>().prop_map(Op::PushInt),
            (idx.clone(), value()).prop_map(|(i, v)| Op::InsertBefore(i, v)),
            (idx.clone(), value()).prop_map(|(i, v)| Op::InsertAfter(i, v)),
            (idx.clone(), value()).prop_map(|(i, v)| Op::Replace(i, v)),
            idx.clone().prop_map(Op::Delete),
            (idx, 0usize..6).prop_map(|(i, n)| Op::DeleteRange(i, n)),
        ]
    }

    fn model_index(len: usize, i: i64) -> Option<usize> {
        let i = if i < 0 { len as i64 + i } else { i };
        if i < 0 || i >= len as i64 {
            None
        } else {
            Some(i as usize)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_vec_model(ops in proptest::collection::vec(op(), 0..40)) {
            let mut lp = Listpack::new();
            let mut m: Vec<Vec<u8>> = Vec::new();
            for op in ops {
                match op {
                    Op::PushBack(v) => { lp.push_back(&v); m.push(v); }
                    Op::PushFront(v) => { lp.push_front(&v); m.insert(0, v); }
                    Op::PushInt(i) => { lp.push_back_int(i); m.push(i.to_string().into_bytes()); }
                    Op::InsertBefore(i, v) => {
                        if let Some(k) = model_index(m.len(), i) {
                            let p = lp.seek(i).unwrap();
                            let q = lp.insert_before(p, &v);
                            prop_assert!(lp.get(q).eq_bytes(&v));
                            m.insert(k, v);
                        } else { prop_assert_eq!(lp.seek(i), None); }
                    }
                    Op::InsertAfter(i, v) => {
                        if let Some(k) = model_index(m.len(), i) {
                            let p = lp.seek(i).unwrap();
                            let q = lp.insert_after(p, &v);
                            prop_assert!(lp.get(q).eq_bytes(&v));
                            prop_assert_eq!(lp.prev(q), Some(p));
                            m.insert(k + 1, v);
                        }
                    }
                    Op::Replace(i, v) => {
                        if let Some(k) = model_index(m.len(), i) {
                            let p = lp.seek(i).unwrap();
                            prop_assert_eq!(lp.replace(p, &v), p);
                            m[k] = v;
                        }
                    }
                    Op::Delete(i) => {
                        if let Some(k) = model_index(m.len(), i) {
                            let p = lp.seek(i).unwrap();
                            let n = lp.delete(p);
                            m.remove(k);
                            prop_assert_eq!(n, if k < m.len() { Some(p) } else { None });
                        }
                    }
                    Op::DeleteRange(i, n) => {
                        lp.delete_range(i, n);
                        if let Some(k) = model_index(m.len(), i) {
                            let end = (k + n).min(m.len());
                            m.drain(k..end);
                        }
                    }
                }
                lp.check();
                prop_assert_eq!(lp.len(), m.len());
            }
            // Forward, backward, positions and seek all agree with the model.
            let fwd: Vec<Vec<u8>> = lp.iter().map(|v| v.to_vec()).collect();
            prop_assert_eq!(&fwd, &m);
            let mut back: Vec<Vec<u8>> = lp.iter().rev().map(|v| v.to_vec()).collect();
            back.reverse();
            prop_assert_eq!(&back, &m);
            let mut p = lp.last();
            let mut k = m.len();
            while let Some(q) = p {
                k -= 1;
                prop_assert!(lp.get(q).eq_bytes(&m[k]));
                prop_assert_eq!(lp.seek(k as i64), Some(q));
                prop_assert_eq!(lp.seek(k as i64 - m.len() as i64), Some(q));
                p = lp.prev(q);
            }
            prop_assert_eq!(k, 0);
            // Mixed-direction iteration meets in the middle.
            let mut it = lp.iter();
            let mut lo = 0;
            let mut hi = m.len();
            while let Some(v) = it.next() {
                prop_assert!(v.eq_bytes(&m[lo]));
                lo += 1;
                let Some(v) = it.next_back() else { break };
                hi -= 1;
                prop_assert!(v.eq_bytes(&m[hi]));
            }
            prop_assert_eq!(lo, hi);
            // find (with skip) agrees with a linear search over the model.
            if let Some(first) = lp.first() {
                for needle in m.iter().take(4) {
                    for skip in 0..3usize {
                        let want = m.iter().enumerate().step_by(skip + 1).find(|(_, e)| *e == needle).map(|(i, _)| i);
                        let got = lp.find(first, needle, skip);
                        prop_assert_eq!(got, want.and_then(|i| lp.seek(i as i64)));
                    }
                }
            }
            // Building from the model gives the same bytes, and they round-trip.
            let mut again = Listpack::new();
            for e in &m { again.push_back(e); }
            prop_assert_eq!(again.bytes(), lp.bytes());
            let back = Listpack::from_bytes(lp.bytes().to_vec()).unwrap();
            prop_assert_eq!(back.bytes(), lp.bytes());
        }

        #[test]
        fn from_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(lp) = Listpack::from_bytes(b) {
                let _ = lp.iter().count();
                let _ = lp.iter().rev().count();
            }
        }

        #[test]
        fn from_bytes_mutated(vals in proptest::collection::vec(value(), 0..6),
                              muts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
                              cut in proptest::option::of(any::<prop::sample::Index>())) {
            let mut lp = Listpack::new();
            for v in &vals { lp.push_back(v); }
            let mut b = lp.bytes().to_vec();
            for (i, x) in muts {
                let k = i.index(b.len());
                b[k] = x;
            }
            if let Some(c) = cut {
                let k = c.index(b.len());
                b.truncate(k);
                if b.len() >= 4 {
                    let l = (b.len() as u32).to_le_bytes();
                    b[..4].copy_from_slice(&l);
                }
            }
            if let Some(lp) = Listpack::from_bytes(b) {
                // Whatever was accepted must be fully walkable both ways and consistent.
                let n = lp.iter().count();
                prop_assert_eq!(n, lp.len());
                prop_assert_eq!(lp.iter().rev().count(), n);
                let mut p = lp.last();
                let mut k = 0;
                while let Some(q) = p { k += 1; let _ = lp.get(q); p = lp.prev(q); }
                prop_assert_eq!(k, n);
                let mut lp = lp;
                lp.push_back(b"x");
                lp.push_front(b"12");
                lp.check();
            }
        }
    }
}
