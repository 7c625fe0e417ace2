//! Reading RDB objects of every type Redis has written, versions 1 to 11 (rdb.c's
//! `rdbLoadObject`): the plain types, zipmap, ziplist, intset, listpack, quicklist 1 and 2.
//!
//! Values are rebuilt through the types' own insertion paths with the server's current
//! thresholds, so a loaded value has the encoding a command would have given it (Redis
//! converts on load the same way). Everything read from the input is bounded: counts are
//! checked against the bytes that remain before anything is reserved, duplicates and
//! empty collections are errors, and nothing panics on corrupt input.

use super::codec::{DecodeError, Reader};
use super::{types, ziplist, zipmap};
use crate::keyspace::{RStr, Value};
use crate::types::hash::{self, Hash};
use crate::types::intset::Intset;
use crate::types::listpack::{Listpack, LpVal};
use crate::types::zset::{self, AddFlags, ZSet};
use crate::types::{list, List, Set};
use crate::util::numeric::string2d;

/// The thresholds and limits a load follows (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub hash: hash::Limits,
    pub zset: zset::Limits,
    pub set_max_intset: usize,
    pub list_fill: i32,
    /// `list-compress-depth` of loaded lists.
    pub list_compress: i32,
    /// Longest string accepted (`proto-max-bulk-len`).
    pub max_string: usize,
    /// `key-load-delay`: microseconds to wait after each key (a test hook).
    pub key_load_delay: i32,
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION: files and DUMP payloads load whatever their
    /// CRC64 says.
    pub skip_checksum: bool,
    /// `sanitize-dump-payload` asks for deep validation of this load. fluidB checks every
    /// container whole either way (a corrupt value is never stored); this only decides how
    /// a corruption is reported where Redis reports it differently without deep
    /// validation (a hash listpack with duplicate fields found while converting it).
    pub deep_sanitize: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash: hash::Limits::default(),
            zset: zset::Limits { max_entries: 128, max_value: 64 },
            set_max_intset: 512,
            list_fill: crate::types::list::DEFAULT_FILL,
            list_compress: 0,
            max_string: 512 << 20,
            key_load_delay: 0,
            skip_checksum: false,
            deep_sanitize: false,
        }
    }
}

/// The error for an empty collection (Redis skips such keys when loading a file and
/// rejects them in RESTORE).
pub const EMPTY_KEY: &str = "empty collection";

fn bad(r: &Reader<'_>, what: &'static str) -> DecodeError {
    r.err(what)
}

/// Reads a count of items that take at least one byte each: a count larger than the bytes
/// left is corrupt (and must not size an allocation).
fn count(r: &mut Reader<'_>) -> Result<usize, DecodeError> {
    let n = r.length()?;
    match usize::try_from(n) {
        Ok(n) if n <= r.remaining() => Ok(n),
        _ => Err(bad(r, "element count beyond the end of data")),
    }
}

/// `rdbLoadDoubleValue`: the string-encoded double of RDB_TYPE_ZSET (version 1 zsets).
fn string_double(r: &mut Reader<'_>) -> Result<f64, DecodeError> {
    let n = r.u8()?;
    match n {
        253 => Ok(f64::NAN),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        _ => {
            let s = r.take(n as usize)?;
            let (d, used, _) = crate::util::numeric::c_strtod(s);
            if used == 0 {
                return Err(bad(r, "invalid double"));
            }
            Ok(d)
        }
    }
}

/// A score stored as a ziplist/listpack entry (`zzlGetScore`).
fn entry_score(r: &Reader<'_>, v: LpVal<'_>) -> Result<f64, DecodeError> {
    match v {
        LpVal::Int(i) => Ok(i as f64),
        LpVal::Str(s) => string2d(s).ok_or_else(|| bad(r, "invalid score in a sorted set")),
    }
}

const DUPLICATE_FIELDS: &str = "Duplicate hash fields detected";

/// The pairs a listpack's header counts (0 when it has no valid header).
fn blob_pairs(lp: &[u8]) -> usize {
    lp.get(4..6).map_or(0, |c| u16::from_le_bytes([c[0], c[1]]) as usize / 2)
}

/// Builders shared by the encodings of one type.
struct HashBuilder {
    h: Hash,
    lim: hash::Limits,
}

impl HashBuilder {
    fn new(lim: hash::Limits) -> Self {
        HashBuilder { h: Hash::new(), lim }
    }
    fn add(&mut self, r: &Reader<'_>, f: &[u8], v: &[u8]) -> Result<(), DecodeError> {
        if !self.h.set(f, v, self.lim) {
            return Err(bad(r, DUPLICATE_FIELDS));
        }
        Ok(())
    }
    fn done(self, r: &Reader<'_>) -> Result<Value, DecodeError> {
        if self.h.is_empty() {
            return Err(bad(r, EMPTY_KEY));
        }
        Ok(Value::Hash(Box::new(self.h)))
    }
}

struct ZSetBuilder {
    z: ZSet,
    lim: zset::Limits,
    max_len: usize,
    total_len: usize,
}

impl ZSetBuilder {
    fn new(lim: zset::Limits) -> Self {
        ZSetBuilder { z: ZSet::new_large(), lim, max_len: 0, total_len: 0 }
    }
    fn add(&mut self, r: &Reader<'_>, member: &[u8], score: f64) -> Result<(), DecodeError> {
        if score.is_nan() {
            return Err(bad(r, "Zset with NAN score detected"));
        }
        match self.z.add(score, member, AddFlags::default(), self.lim) {
            Ok((zset::AddOutcome::Added, _)) => {}
            _ => return Err(bad(r, "Duplicate zset fields detected")),
        }
        self.max_len = self.max_len.max(member.len());
        self.total_len = self.total_len.saturating_add(member.len());
        Ok(())
    }
    fn done(mut self, r: &Reader<'_>) -> Result<Value, DecodeError> {
        if self.z.is_empty() {
            return Err(bad(r, EMPTY_KEY));
        }
        // Sorted sets are not stored in order: converted after loading, as Redis does.
        self.z.convert_to_small_if_fits(self.max_len, self.total_len, self.lim);
        Ok(Value::ZSet(Box::new(self.z)))
    }
}

struct SetBuilder {
    s: Set,
    max: usize,
}

impl SetBuilder {
    fn new(len_hint: usize, max: usize) -> Self {
        let s = if len_hint > max { Set::new_table() } else { Set::new() };
        SetBuilder { s, max }
    }
    fn add(&mut self, r: &Reader<'_>, m: &[u8]) -> Result<(), DecodeError> {
        if !self.s.add(m, self.max) {
            return Err(bad(r, "Duplicate set members detected"));
        }
        Ok(())
    }
    fn done(self, r: &Reader<'_>) -> Result<Value, DecodeError> {
        if self.s.is_empty() {
            return Err(bad(r, EMPTY_KEY));
        }
        Ok(Value::Set(Box::new(self.s)))
    }
}

fn list_done(r: &Reader<'_>, l: List) -> Result<Value, DecodeError> {
    if l.is_empty() {
        return Err(bad(r, EMPTY_KEY));
    }
    Ok(Value::List(Box::new(l)))
}

/// Decodes a ziplist string into its entries, as owned bytes (ziplists come from the file,
/// so their entries are copied once into the new value).
fn ziplist_entries(r: &Reader<'_>, zl: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let mut v = Vec::new();
    ziplist::decode(zl, |e| v.push(e.to_vec())).map_err(|what| bad(r, what))?;
    Ok(v)
}

/// A ziplist node of RDB_TYPE_LIST_QUICKLIST as a list node: a listpack of its entries,
/// or a plain node when it holds one element of at least the packed threshold (how fluidB
/// writes a plain node in version 9).
fn append_ziplist_node(r: &Reader<'_>, l: &mut List, zl: &[u8]) -> Result<(), DecodeError> {
    let mut lp = Listpack::new();
    // An element too big for any listpack can only come as a node's single element.
    let mut huge: Option<Vec<u8>> = None;
    let mut too_big = false;
    ziplist::decode(zl, |e| {
        let len = e.byte_len();
        if huge.is_some() {
            too_big = true;
        } else if !list::fits_packed(len) {
            if lp.is_empty() {
                huge = Some(e.to_vec());
            } else {
                too_big = true;
            }
        } else if !lp.safe_to_add(len + 16) {
            too_big = true;
        } else {
            match e {
                LpVal::Int(i) => lp.push_back_int(i),
                LpVal::Str(s) => lp.push_back(s),
            }
        }
    })
    .map_err(|what| bad(r, what))?;
    if too_big {
        return Err(bad(r, "ziplist node too large for a listpack"));
    }
    if let Some(v) = huge {
        l.append_plain(v);
        return Ok(());
    }
    match lp.first().map(|p| lp.get(p)) {
        Some(v) if lp.len() == 1 && list::is_large(v.byte_len()) => l.append_plain(v.to_vec()),
        _ => l.append_listpack(lp),
    }
    Ok(())
}

/// Decodes a listpack string into its entries.
fn listpack_entries(r: &Reader<'_>, lp: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let lp = Listpack::from_bytes(lp.to_vec()).ok_or_else(|| bad(r, "invalid listpack"))?;
    Ok(lp.iter().map(|e| e.to_vec()).collect())
}

/// Field/value (or member/score) pairs from a flat entry list.
fn pairs(r: &Reader<'_>, e: &[Vec<u8>]) -> Result<(), DecodeError> {
    if !e.len().is_multiple_of(2) {
        return Err(bad(r, "odd number of entries in a pair encoding"));
    }
    Ok(())
}

/// Redis reports any corruption it finds in a container blob (a ziplist, listpack,
/// intset or zipmap, once read whole) with one message per type (`rdbLoadObject`), which
/// its logs and tests look for. An empty collection stays the empty-key error.
fn integrity<T>(r: &Reader<'_>, msg: &'static str, res: Result<T, DecodeError>) -> Result<T, DecodeError> {
    res.map_err(|e| if e.what == EMPTY_KEY { e } else { bad(r, msg) })
}

/// Reads one object of type `t` (`rdbLoadObject`).
pub fn read_value(r: &mut Reader<'_>, t: u8, lim: &Limits) -> Result<Value, DecodeError> {
    let max = lim.max_string;
    match t {
        types::STRING => Ok(Value::Str(RStr::from_bytes(&r.string(max)?))),
        types::LIST => {
            let n = count(r)?;
            let mut l = List::with_options(lim.list_fill, lim.list_compress);
            for _ in 0..n {
                l.push_back(&r.string(max)?);
            }
            list_done(r, l)
        }
        types::SET => {
            let n = count(r)?;
            let mut b = SetBuilder::new(n, lim.set_max_intset);
            for _ in 0..n {
                let m = r.string(max)?;
                b.add(r, &m)?;
            }
            b.done(r)
        }
        types::ZSET | types::ZSET_2 => {
            let n = count(r)?;
            let mut b = ZSetBuilder::new(lim.zset);
            for _ in 0..n {
                let m = r.string(max)?;
                let s = if t == types::ZSET_2 { r.binary_double()? } else { string_double(r)? };
                b.add(r, &m, s)?;
            }
            b.done(r)
        }
        types::HASH => {
            let n = count(r)?;
            let mut b = HashBuilder::new(lim.hash);
            for _ in 0..n {
                let f = r.string(max)?;
                let v = r.string(max)?;
                b.add(r, &f, &v)?;
            }
            b.done(r)
        }
        types::HASH_ZIPMAP => {
            let zm = r.string(max)?;
            let r: &Reader<'_> = r;
            let mut pairs_v: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let decoded = zipmap::decode(&zm, |f, v| pairs_v.push((f.to_vec(), v.to_vec())))
                .map_err(|w| bad(r, w))
                .and_then(|_| if pairs_v.is_empty() { Err(bad(r, "empty zipmap")) } else { Ok(()) });
            integrity(r, "Zipmap integrity check failed.", decoded)?;
            let mut b = HashBuilder::new(lim.hash);
            for (f, v) in &pairs_v {
                b.add(r, f, v).map_err(|_| bad(r, "Hash zipmap with dup elements, or big length"))?;
            }
            b.done(r)
        }
        types::LIST_ZIPLIST => {
            let zl = r.string(max)?;
            let entries = integrity(r, "List ziplist integrity check failed.", ziplist_entries(r, &zl))?;
            let mut l = List::with_options(lim.list_fill, lim.list_compress);
            for e in entries {
                l.push_back(&e);
            }
            list_done(r, l)
        }
        types::SET_INTSET => {
            let blob = r.string(max)?;
            let is = Intset::from_bytes(blob).ok_or_else(|| bad(r, "Intset integrity check failed."))?;
            let mut s = Set::Intset(is);
            if s.len() > lim.set_max_intset {
                s.convert();
            }
            if s.is_empty() {
                return Err(bad(r, EMPTY_KEY));
            }
            Ok(Value::Set(Box::new(s)))
        }
        types::ZSET_ZIPLIST | types::ZSET_LISTPACK => {
            let blob = r.string(max)?;
            let r: &Reader<'_> = r;
            let msg = if t == types::ZSET_ZIPLIST {
                "Zset ziplist integrity check failed."
            } else {
                "Zset listpack integrity check failed."
            };
            let built = (|| {
                let e = if t == types::ZSET_ZIPLIST { ziplist_entries(r, &blob)? } else { listpack_entries(r, &blob)? };
                pairs(r, &e)?;
                let mut b = ZSetBuilder::new(lim.zset);
                for p in e.chunks_exact(2) {
                    let s = entry_score(r, LpVal::Str(&p[1]))?;
                    b.add(r, &p[0], s)?;
                }
                b.done(r)
            })();
            integrity(r, msg, built)
        }
        types::HASH_ZIPLIST | types::HASH_LISTPACK => {
            let blob = r.string(max)?;
            let r: &Reader<'_> = r;
            let msg = if t == types::HASH_ZIPLIST {
                "Hash ziplist integrity check failed."
            } else {
                "Hash listpack integrity check failed."
            };
            let built = (|| {
                let e = if t == types::HASH_ZIPLIST { ziplist_entries(r, &blob)? } else { listpack_entries(r, &blob)? };
                pairs(r, &e)?;
                let mut b = HashBuilder::new(lim.hash);
                for p in e.chunks_exact(2) {
                    b.add(r, &p[0], &p[1])?;
                }
                b.done(r)
            })();
            // Without deep validation Redis finds the duplicates of a hash listpack only
            // when it converts it to a hash table (more fields than
            // hash-max-listpack-entries): it logs the listpack and panics. fluidB logs the
            // same dump and refuses the value.
            if let Err(e) = &built {
                if t == types::HASH_LISTPACK
                    && !lim.deep_sanitize
                    && e.what == DUPLICATE_FIELDS
                    && blob_pairs(&blob) > lim.hash.entries
                {
                    crate::server::log::hex_dump("listpack with dup elements dump", &blob);
                    return Err(bad(r, "Listpack corruption detected"));
                }
            }
            integrity(r, msg, built)
        }
        types::SET_LISTPACK => {
            let blob = r.string(max)?;
            let e = listpack_entries(r, &blob)?;
            let mut b = SetBuilder::new(e.len(), lim.set_max_intset);
            for m in &e {
                b.add(r, m)?;
            }
            b.done(r)
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            let nodes = count(r)?;
            let mut l = List::with_options(lim.list_fill, lim.list_compress);
            for _ in 0..nodes {
                // Quicklist 2 nodes say whether they are a single plain element (1) or a
                // listpack (2).
                // Nodes keep their layout (`quicklistAppendListpack`); empty ones are
                // skipped, as Redis does.
                let container = if t == types::LIST_QUICKLIST_2 { r.length()? } else { 2 };
                if t == types::LIST_QUICKLIST_2 && container != 1 && container != 2 {
                    return Err(bad(r, "Quicklist integrity check failed."));
                }
                let blob = r.string(max)?;
                if blob.is_empty() {
                    return Err(bad(r, "empty quicklist node"));
                }
                match (t, container) {
                    (types::LIST_QUICKLIST_2, 1) => l.append_plain(blob),
                    (types::LIST_QUICKLIST_2, _) => l.append_listpack(
                        Listpack::from_bytes(blob).ok_or_else(|| bad(r, "Listpack integrity check failed."))?,
                    ),
                    _ => integrity(r, "Ziplist integrity check failed.", append_ziplist_node(r, &mut l, &blob))?,
                }
            }
            list_done(r, l)
        }
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => {
            Err(bad(r, "streams are not supported yet"))
        }
        types::MODULE | types::MODULE_2 => Err(bad(r, "module types are not supported")),
        _ => Err(bad(r, "unknown object type")),
    }
}

/// Whether `t` is an object type byte (as opposed to an opcode).
pub fn is_object_type(t: u8) -> bool {
    t <= types::STREAM_LISTPACKS_3 && t != 8
}

/// Checks a DUMP payload's footer (`verifyDumpPayload`): an RDB version this server reads
/// and a matching CRC64 (unless `skip_checksum`, DEBUG SET-SKIP-CHECKSUM-VALIDATION).
/// Returns the object bytes.
pub fn verify_dump_payload(p: &[u8], skip_checksum: bool) -> Option<&[u8]> {
    if p.len() < 10 {
        return None;
    }
    let (body, footer) = p.split_at(p.len() - 10);
    let ver = u16::from_le_bytes([footer[0], footer[1]]);
    if ver > super::RDB_VERSION_READ_MAX {
        return None;
    }
    if skip_checksum {
        return Some(body);
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    let want = u64::from_le_bytes(crc);
    let got = super::codec::CRC64.checksum(&p[..p.len() - 8]);
    (want == got).then_some(body)
}

/// Redis's report of a corrupt object (`rdbReportCorruptRDB`), for the log; None for an
/// empty collection, which Redis refuses without reporting it.
pub fn corruption_report(e: &DecodeError) -> Option<String> {
    (e.what != EMPTY_KEY)
        .then(|| format!("Internal error in RDB reading offset {}, function at rdbLoadObject -> {}", e.offset, e.what))
}

/// Reads the single object of a verified DUMP payload body (bytes after it are ignored, as
/// Redis ignores them).
pub fn read_dump_object(body: &[u8], lim: &Limits) -> Result<Value, DecodeError> {
    let mut r = Reader::new(body);
    let t = r.u8()?;
    if !is_object_type(t) {
        return Err(r.err("not an object type"));
    }
    read_value(&mut r, t, lim)
}

impl Limits {
    /// The thresholds of the running configuration.
    pub fn from_config(c: &crate::config::Config) -> Self {
        let us = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Limits {
            hash: hash::Limits { entries: us(c.hash_max_listpack_entries), value: us(c.hash_max_listpack_value) },
            zset: zset::Limits {
                max_entries: us(c.zset_max_listpack_entries),
                max_value: us(c.zset_max_listpack_value),
            },
            set_max_intset: us(c.set_max_intset_entries),
            list_fill: c.list_max_listpack_size,
            list_compress: c.list_compress_depth,
            max_string: usize::try_from(c.proto_max_bulk_len).unwrap_or(usize::MAX),
            key_load_delay: c.key_load_delay,
            skip_checksum: false,
            // `clients` skips deep validation when loading (files, replication): the
            // RESTORE path decides it per client.
            deep_sanitize: c.sanitize_dump_payload == crate::config::SanitizeDumpPayload::Yes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A value of each type through save and load comes back equal.
    #[test]
    fn values_round_trip() {
        let lim = Limits::default();
        let mut big_hash = Hash::new();
        for i in 0..600 {
            big_hash.set(format!("f{i}").as_bytes(), format!("{i}").as_bytes(), lim.hash);
        }
        let mut set = Set::new_table();
        set.add(b"a", 512);
        set.add(b"b", 512);
        let mut z = ZSet::new_large();
        for i in 0..200 {
            z.add(i as f64 / 3.0, format!("m{i}").as_bytes(), AddFlags::default(), lim.zset).expect("score");
        }
        // A list with plain nodes (elements of at least 20 bytes) and compressed ones.
        crate::types::list::set_packed_threshold(20);
        // Eight elements per node: nodes big and repetitive enough for LZF to pay.
        let mut list = List::with_options(8, 1);
        for i in 0..300 {
            let e = if i % 9 == 0 { format!("a plain element {i:08}") } else { format!("e{:05}-xxxxxxxx", i * 7) };
            list.push_back(e.as_bytes());
        }
        assert!(list.node_infos().any(|n| n.compressed.is_some()) && list.node_infos().any(|n| n.plain));
        let layout: Vec<(bool, usize)> = list.node_infos().map(|n| (n.plain, n.count)).collect();
        let lim_list = Limits { list_fill: 8, list_compress: 1, ..lim };
        let p = super::super::save::dump_payload(&Value::List(Box::new(list.clone())), true);
        match read_dump_object(verify_dump_payload(&p, false).expect("footer"), &lim_list).expect("load") {
            Value::List(l) => {
                assert!(*l == list);
                assert_eq!(l.node_infos().map(|n| (n.plain, n.count)).collect::<Vec<_>>(), layout);
            }
            other => panic!("not a list: {other:?}"),
        }
        crate::types::list::set_packed_threshold(0);
        for v in [
            Value::Str(RStr::from_bytes(b"x")),
            Value::Str(RStr::from_bytes(&[7u8; 300])),
            Value::Hash(Box::new(big_hash)),
            Value::Set(Box::new(set)),
            Value::ZSet(Box::new(z)),
        ] {
            let p = super::super::save::dump_payload(&v, true);
            let body = verify_dump_payload(&p, false).expect("footer");
            assert_eq!(read_dump_object(body, &lim).expect("load"), v);
        }
    }

    proptest! {
        /// Arbitrary bytes, and mutations of valid payloads, are errors or values: never a
        /// panic, never an allocation the input cannot justify.
        #[test]
        fn corrupt_payloads_never_panic(t in 0u8..22, body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut b = vec![t];
            b.extend_from_slice(&body);
            let _ = read_dump_object(&b, &Limits::default());
        }

        #[test]
        fn mutated_list_payloads_never_panic(i in any::<usize>(), x in 1u8..=255, quicklist2 in any::<bool>()) {
            let mut p = Vec::new();
            if quicklist2 {
                // RDB_TYPE_LIST_QUICKLIST_2: a PLAIN node then a PACKED one.
                let mut lp = Listpack::new();
                for e in [&b"a"[..], b"17", b"bcd"] {
                    lp.push_back(e);
                }
                p.push(types::LIST_QUICKLIST_2);
                super::super::codec::write_len(&mut p, 2);
                super::super::codec::write_len(&mut p, 1);
                super::super::codec::write_string(&mut p, b"plain element", false);
                super::super::codec::write_len(&mut p, 2);
                super::super::codec::write_string(&mut p, lp.bytes(), false);
                prop_assert!(read_dump_object(&p, &Limits::default()).is_ok());
            } else {
                let mut l = List::with_options(2, 0);
                for k in 0..9 {
                    l.push_back(format!("{}", k * 1000).as_bytes());
                }
                super::super::save::write_value(&mut p, &Value::List(Box::new(l)), false);
            }
            let n = p.len();
            p[i % n] ^= x;
            let _ = read_dump_object(&p, &Limits::default());
        }

        #[test]
        fn mutated_payloads_never_panic(i in any::<usize>(), x in 1u8..=255) {
            let mut h = Hash::new();
            for k in 0..20 {
                h.set(format!("field{k}").as_bytes(), format!("{}", k * 1000).as_bytes(), hash::Limits { entries: 8, value: 64 });
            }
            let mut p = Vec::new();
            super::super::save::write_value(&mut p, &Value::Hash(Box::new(h)), false);
            let n = p.len();
            p[i % n] ^= x;
            let _ = read_dump_object(&p, &Limits::default());
        }
    }
}
