//! Redis's legacy ziplist (ziplist.c), byte for byte: written into RDB v9 files so that
//! Redis 6.x/7.0 and KeyDB 6.3 can load them (RDB types 12 zset-ziplist, 13 hash-ziplist and
//! the nodes of 14 list-quicklist), and read back from any historic RDB.
//!
//! Layout: `<zlbytes u32 LE> <zltail u32 LE> <zllen u16 LE> <entry>* <0xFF>`, where zltail is
//! the offset of the last entry (10, the header size, when empty) and zllen saturates at
//! 65535 ("count unknown"). Each entry is `<prevlen> <encoding> <data>`:
//!
//! - prevlen, the byte size of the previous entry (0 for the first): one byte when below 254,
//!   else `0xFE` and a u32 LE (Redis's cascade update may leave the 5-byte form for a small
//!   size, so a reader accepts it);
//! - `00pppppp` string of up to 63 bytes; `01pppppp qqqqqqqq` up to 16383 bytes (14-bit
//!   big-endian length); `10______ <u32 BE>` longer strings;
//! - `0xC0` int16, `0xD0` int32, `0xE0` int64, `0xF0` int24, `0xFE` int8 (little endian);
//!   `0xF1..=0xFD` an immediate 0..=12 (the low nibble minus one).
//!
//! Why the writer must copy `ziplistPush` exactly rather than just be valid: a ziplist that
//! differs only in integer-vs-string choice still loads, but then a key's `DEBUG DIGEST`,
//! `OBJECT ENCODING` edge cases and memory use would depend on who wrote the file. So a string
//! that `string2ll` accepts and is shorter than 32 bytes becomes the smallest integer
//! encoding (`zipTryEncoding`), and an appended entry always gets the minimal prevlen
//! (appending at the tail never triggers a cascade update).
//!
//! The reader ([`decode`]) performs `ziplistValidateIntegrity(deep=1)` before handing out
//! a single entry: the bytes come from a file or a RESTORE payload and are not trusted.

use crate::types::listpack::LpVal;
use crate::util::numeric::string2ll;

/// `ZIPLIST_HEADER_SIZE`: zlbytes + zltail + zllen.
pub const HEADER_SIZE: usize = 10;
/// `ZIP_END`.
pub const END: u8 = 0xFF;
/// `ZIP_BIG_PREVLEN`: prevlen values from this on take 5 bytes.
const BIG_PREVLEN: u8 = 254;

const STR_MASK: u8 = 0xC0;
const STR_06B: u8 = 0x00;
const STR_14B: u8 = 0x40;
const STR_32B: u8 = 0x80;
const INT_16B: u8 = 0xC0;
const INT_32B: u8 = 0xD0;
const INT_64B: u8 = 0xE0;
const INT_24B: u8 = 0xF0;
const INT_8B: u8 = 0xFE;
const INT_IMM_MIN: u8 = 0xF1;
const INT_IMM_MAX: u8 = 0xFD;

const INT24_MIN: i64 = -(1 << 23);
const INT24_MAX: i64 = (1 << 23) - 1;

/// Appends a prevlen field (`zipStorePrevEntryLength`).
fn put_prevlen(out: &mut Vec<u8>, prevlen: usize) {
    if prevlen < BIG_PREVLEN as usize {
        out.push(prevlen as u8);
    } else {
        out.push(BIG_PREVLEN);
        out.extend_from_slice(&(prevlen as u32).to_le_bytes());
    }
}

/// Appends an integer with the smallest encoding (`zipTryEncoding` + `zipSaveInteger`).
fn put_int(out: &mut Vec<u8>, v: i64) {
    if (0..=12).contains(&v) {
        out.push(INT_IMM_MIN + v as u8);
    } else if let Ok(b) = i8::try_from(v) {
        out.push(INT_8B);
        out.push(b as u8);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(INT_16B);
        out.extend_from_slice(&h.to_le_bytes());
    } else if (INT24_MIN..=INT24_MAX).contains(&v) {
        out.push(INT_24B);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if let Ok(w) = i32::try_from(v) {
        out.push(INT_32B);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        out.push(INT_64B);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends a string entry's encoding and bytes (`zipStoreEntryEncoding`).
fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len <= 0x3f {
        out.push(STR_06B | len as u8);
    } else if len <= 0x3fff {
        out.push(STR_14B | (len >> 8) as u8);
        out.push(len as u8);
    } else {
        out.push(STR_32B);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// Builds the ziplist `ziplistNew` + one `ziplistPush(..., ZIPLIST_TAIL)` per entry would.
///
/// Panics only if the result would exceed 4 GB, which in-memory data cannot reach: every
/// source is a listpack, capped at 1 GB (`LISTPACK_MAX_SAFETY_SIZE`), and a ziplist entry is
/// at most 4 bytes larger than the listpack one.
pub fn encode<'a>(entries: impl IntoIterator<Item = LpVal<'a>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&[0; HEADER_SIZE]);
    let mut prevlen = 0usize;
    let mut tail = HEADER_SIZE;
    let mut count = 0usize;
    for v in entries {
        let start = out.len();
        put_prevlen(&mut out, prevlen);
        match v {
            LpVal::Int(i) => put_int(&mut out, i),
            // zipTryEncoding: only strings of 1..=31 bytes are tried as integers.
            LpVal::Str(s) => match (s.len() < 32).then(|| string2ll(s)).flatten() {
                Some(i) => put_int(&mut out, i),
                None => put_str(&mut out, s),
            },
        }
        tail = start;
        prevlen = out.len() - start;
        count += 1;
    }
    out.push(END);
    let total = u32::try_from(out.len()).unwrap_or_else(|_| panic!("ziplist of {} bytes exceeds 4 GB", out.len()));
    out[0..4].copy_from_slice(&total.to_le_bytes());
    out[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    out[8..10].copy_from_slice(&(count.min(u16::MAX as usize) as u16).to_le_bytes());
    out
}

/// A decoded entry header (`zlentry`): where the data is and how it is encoded.
struct Entry {
    /// The previous entry's size as this entry records it.
    prevlen: usize,
    /// Encoding byte, string encodings masked to their two top bits (`ZIP_ENTRY_ENCODING`).
    encoding: u8,
    /// Offset of the data.
    data: usize,
    /// Bytes of data.
    len: usize,
    /// Total entry size (prevlen field + encoding field + data).
    size: usize,
}

/// `zipEntrySafe(validate_prevlen=1)`: decodes the entry at `p`, failing if any part of it
/// (header or data) would reach the terminator or beyond. `zl` has been checked to be at
/// least a header plus the end byte long.
fn entry_at(zl: &[u8], p: usize) -> Result<Entry, &'static str> {
    let last = zl.len() - 1; // the terminator: nothing of an entry may cover it
    let byte = |i: usize| if i < last { Ok(zl[i]) } else { Err("ziplist entry header reaches past the end") };
    let (prevlen, plen) = if byte(p)? < BIG_PREVLEN {
        (zl[p] as usize, 1)
    } else {
        if p + 5 > last {
            return Err("ziplist entry header reaches past the end");
        }
        (u32::from_le_bytes([zl[p + 1], zl[p + 2], zl[p + 3], zl[p + 4]]) as usize, 5)
    };
    let e = p + plen;
    let mut encoding = byte(e)?;
    if encoding < STR_MASK {
        encoding &= STR_MASK;
    }
    let (lensize, len) = match encoding {
        STR_06B => (1, (zl[e] & 0x3f) as usize),
        STR_14B => (2, (((zl[e] & 0x3f) as usize) << 8) | byte(e + 1)? as usize),
        STR_32B => {
            if e + 5 > last {
                return Err("ziplist entry header reaches past the end");
            }
            (5, u32::from_be_bytes([zl[e + 1], zl[e + 2], zl[e + 3], zl[e + 4]]) as usize)
        }
        INT_8B => (1, 1),
        INT_16B => (1, 2),
        INT_24B => (1, 3),
        INT_32B => (1, 4),
        INT_64B => (1, 8),
        INT_IMM_MIN..=INT_IMM_MAX => (1, 0),
        _ => return Err("invalid ziplist entry encoding"),
    };
    let data = e + lensize;
    // Checked: a 32-bit length may be anything; the entry must end at or before the end byte.
    match data.checked_add(len) {
        Some(end) if end <= last => {}
        _ => return Err("ziplist entry reaches past the end"),
    }
    Ok(Entry { prevlen, encoding, data, len, size: plen + lensize + len })
}

/// The value of a validated entry.
fn value<'z>(zl: &'z [u8], e: &Entry) -> LpVal<'z> {
    let d = &zl[e.data..e.data + e.len];
    match e.encoding {
        STR_06B | STR_14B | STR_32B => LpVal::Str(d),
        INT_8B => LpVal::Int(d[0] as i8 as i64),
        INT_16B => LpVal::Int(i16::from_le_bytes([d[0], d[1]]) as i64),
        // Sign-extend the 3 bytes as zipLoadInteger does (`i32 >> 8`).
        INT_24B => LpVal::Int((i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8) as i64),
        INT_32B => LpVal::Int(i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64),
        INT_64B => {
            let mut b = [0u8; 8];
            b.copy_from_slice(d);
            LpVal::Int(i64::from_le_bytes(b))
        }
        imm => LpVal::Int(((imm & 0x0f) - 1) as i64),
    }
}

/// `ziplistValidateIntegrity(deep=1)`: the whole structure is sound. Returns the entry count.
pub fn validate(zl: &[u8]) -> Result<usize, &'static str> {
    if zl.len() < HEADER_SIZE + 1 {
        return Err("ziplist shorter than its header");
    }
    let bytes = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    if bytes != zl.len() {
        return Err("ziplist zlbytes does not match its size");
    }
    if zl[zl.len() - 1] != END {
        return Err("ziplist does not end with 0xFF");
    }
    let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    if tail > zl.len() - 1 {
        return Err("ziplist zltail beyond the end");
    }
    let header_count = u16::from_le_bytes([zl[8], zl[9]]);
    let mut count = 0usize;
    let mut p = HEADER_SIZE;
    let mut prev: Option<usize> = None;
    let mut prev_size = 0usize;
    while zl[p] != END {
        let e = entry_at(zl, p)?;
        if e.prevlen != prev_size {
            return Err("ziplist entry prevlen does not match the previous entry");
        }
        prev = Some(p);
        prev_size = e.size;
        p += e.size; // <= zl.len() - 1: entry_at checked the end
        count += 1;
    }
    if p != zl.len() - 1 {
        return Err("ziplist end byte before the end");
    }
    // As Redis: an empty ziplist's zltail is not checked beyond being in range.
    if prev.is_some_and(|prev| prev != tail) {
        return Err("ziplist zltail does not point at the last entry");
    }
    if header_count != u16::MAX && count != header_count as usize {
        return Err("ziplist zllen does not match its entries");
    }
    Ok(count)
}

/// Validates the whole ziplist (see [`validate`]), then calls `f` with each entry in order;
/// `f` is never called for a corrupt ziplist. Returns the entry count.
///
/// Strings are handed out as stored: a string entry that looks like an integer (which Redis
/// never writes but a crafted payload may hold) stays a `Str`.
pub fn decode(zl: &[u8], mut f: impl FnMut(LpVal<'_>)) -> Result<usize, &'static str> {
    let count = validate(zl)?;
    let mut p = HEADER_SIZE;
    while zl[p] != END {
        let e = entry_at(zl, p)?;
        f(value(zl, &e));
        p += e.size;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A model element: the bytes the client sees.
    fn bytes_of(v: LpVal<'_>) -> Vec<u8> {
        v.to_vec()
    }

    fn decode_all(zl: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
        let mut v = Vec::new();
        let n = decode(zl, |e| v.push(bytes_of(e)))?;
        assert_eq!(n, v.len());
        Ok(v)
    }

    fn strs(items: &[&[u8]]) -> Vec<u8> {
        encode(items.iter().map(|s| LpVal::Str(s)))
    }

    /// ziplist.c's header comment: the ziplist holding "2" and "5".
    #[test]
    fn redis_doc_example_two_and_five() {
        let zl = [0x0f, 0, 0, 0, 0x0c, 0, 0, 0, 0x02, 0, 0x00, 0xf3, 0x02, 0xf6, 0xff];
        assert_eq!(strs(&[b"2", b"5"]), zl);
        assert_eq!(encode([LpVal::Int(2), LpVal::Int(5)]), zl);
        assert_eq!(decode_all(&zl).unwrap(), [b"2".to_vec(), b"5".to_vec()]);
    }

    /// ziplist.c's header comment: then "Hello World" pushed at the tail.
    #[test]
    fn redis_doc_example_hello_world() {
        let mut zl = vec![0x1c, 0, 0, 0, 0x0e, 0, 0, 0, 0x03, 0, 0x00, 0xf3, 0x02, 0xf6, 0x02, 0x0b];
        zl.extend_from_slice(b"Hello World");
        zl.push(0xff);
        assert_eq!(strs(&[b"2", b"5", b"Hello World"]), zl);
        assert_eq!(decode_all(&zl).unwrap(), [b"2".to_vec(), b"5".to_vec(), b"Hello World".to_vec()]);
    }

    /// Ziplists written by Redis 6 (DUMP payloads in Redis's tests/integration/corrupt-dump.tcl
    /// that Redis itself accepts, or the valid form of a corrupted one).
    #[test]
    fn redis_written_ziplists() {
        // RESTORE _hash (accepted with sanitize-dump-payload yes): 0, 0, 1, "_1", 2, 2.
        let h = [
            0x19, 0, 0, 0, 0x16, 0, 0, 0, 0x06, 0, 0x00, 0xf1, 0x02, 0xf1, 0x02, 0xf2, 0x02, 0x02, 0x5f, 0x31, 0x04,
            0xf3, 0x02, 0xf3, 0xff,
        ];
        let want: [&[u8]; 6] = [b"0", b"0", b"1", b"_1", b"2", b"2"];
        assert_eq!(decode_all(&h).unwrap(), want);
        assert_eq!(strs(&want), h);
        // A quicklist node: "_9", 8, "_7", 6, "_5".
        let q = [
            0x1b, 0, 0, 0, 0x16, 0, 0, 0, 0x05, 0, 0x00, 0x02, 0x5f, 0x39, 0x04, 0xf9, 0x02, 0x02, 0x5f, 0x37, 0x04,
            0xf7, 0x02, 0x02, 0x5f, 0x35, 0xff,
        ];
        let want: [&[u8]; 5] = [b"_9", b"8", b"_7", b"6", b"_5"];
        assert_eq!(decode_all(&q).unwrap(), want);
        assert_eq!(strs(&want), q);
        // Four 2-byte strings "a\0" "b\0" "c\0" "d\0".
        let s = [
            0x1b, 0, 0, 0, 0x16, 0, 0, 0, 0x04, 0, 0x00, 0x02, 0x61, 0x00, 0x04, 0x02, 0x62, 0x00, 0x04, 0x02, 0x63,
            0x00, 0x04, 0x02, 0x64, 0x00, 0xff,
        ];
        assert_eq!(decode_all(&s).unwrap(), [b"a\0", b"b\0", b"c\0", b"d\0"]);
        assert_eq!(strs(&[b"a\0", b"b\0", b"c\0", b"d\0"]), s);
    }

    /// Corrupt payloads from Redis's corrupt-dump.tcl that Redis rejects with "integrity
    /// check failed" (the ziplist part of each RESTORE payload).
    #[test]
    fn redis_corrupt_ziplists_are_rejected() {
        let cases: [&[u8]; 8] = [
            // invalid entry len (a 20-byte string in a 27-byte ziplist)
            &[
                0x1b, 0, 0, 0, 0x16, 0, 0, 0, 0x04, 0, 0x00, 0x02, 0x61, 0x00, 0x04, 0x02, 0x62, 0x00, 0x04, 0x14,
                0x63, 0x00, 0x04, 0x02, 0x64, 0x00, 0xff,
            ],
            // big prev len
            &[0x13, 0, 0, 0, 0x0e, 0, 0, 0, 0x02, 0, 0x00, 0x02, 0x61, 0x00, 0x0e, 0x02, 0x62, 0x00, 0xff],
            // small prev len
            &[0x13, 0, 0, 0, 0x0e, 0, 0, 0, 0x02, 0, 0x00, 0x02, 0x61, 0x00, 0x02, 0x02, 0x62, 0x00, 0xff],
            // wrong count
            &[0x13, 0, 0, 0, 0x0e, 0, 0, 0, 0x03, 0, 0x00, 0x02, 0x61, 0x00, 0x04, 0x02, 0x62, 0x00, 0xff],
            // #7445: an entry claims 63 bytes
            &[
                0x1d, 0, 0, 0, 0x16, 0, 0, 0, 0x03, 0, 0x00, 0x04, 0x43, 0x43, 0x43, 0x43, 0x06, 0x04, 0x42, 0x42,
                0x42, 0x42, 0x06, 0x3f, 0x41, 0x41, 0x41, 0x41, 0xff,
            ],
            // NPD in quicklistIndex: zllen 0x1203
            &[0x13, 0, 0, 0, 0x10, 0, 0, 0, 0x03, 0x12, 0x00, 0xf3, 0x02, 0x02, 0x5f, 0x31, 0x04, 0xf1, 0xff],
            // prev too big (0xC1)
            &[0x13, 0, 0, 0, 0x10, 0, 0, 0, 0x03, 0, 0x00, 0xf3, 0x02, 0x02, 0x5f, 0x31, 0xc1, 0xf1, 0xff],
            // encoded entry header reaches outside the allocation (0x99: 32-bit string length)
            &[
                0x19, 0, 0, 0, 0x16, 0, 0, 0, 0x06, 0, 0x00, 0xf1, 0x02, 0xf1, 0x02, 0xf2, 0x02, 0x02, 0x5f, 0x31,
                0x04, 0x99, 0x02, 0xf3, 0xff,
            ],
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(decode(c, |_| panic!("f called on corrupt ziplist {i}")).is_err(), "case {i}");
        }
        // zset ziplist entry lensize is 0: encoding 0xEE.
        let mut z = strs(&[b"_1", b"1"]);
        let at = z.len() - 2; // the last entry's encoding byte
        z[at] = 0xee;
        assert_eq!(decode(&z, |_| {}), Err("invalid ziplist entry encoding"));
    }

    #[test]
    fn empty_ziplist() {
        let zl = encode(std::iter::empty());
        assert_eq!(zl, [0x0b, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0, 0xff]);
        assert_eq!(decode(&zl, |_| {}), Ok(0));
    }

    /// Each integer lands in the encoding zipTryEncoding picks, with its exact bytes.
    #[test]
    fn integer_encodings() {
        let enc = |v: i64| {
            let zl = encode([LpVal::Int(v)]);
            let s = itoa::Buffer::new().format(v).as_bytes().to_vec();
            assert_eq!(strs(&[&s]), zl, "Str and Int forms of {v} differ");
            assert_eq!(decode_all(&zl).unwrap(), [s]);
            zl[HEADER_SIZE + 1..zl.len() - 1].to_vec()
        };
        for v in 0..=12 {
            assert_eq!(enc(v), [0xf1 + v as u8]);
        }
        assert_eq!(enc(-1), [0xfe, 0xff]);
        assert_eq!(enc(13), [0xfe, 13]);
        assert_eq!(enc(127), [0xfe, 0x7f]);
        assert_eq!(enc(-128), [0xfe, 0x80]);
        assert_eq!(enc(128), [0xc0, 0x80, 0x00]);
        assert_eq!(enc(-129), [0xc0, 0x7f, 0xff]);
        assert_eq!(enc(32767), [0xc0, 0xff, 0x7f]);
        assert_eq!(enc(-32768), [0xc0, 0x00, 0x80]);
        assert_eq!(enc(32768), [0xf0, 0x00, 0x80, 0x00]);
        assert_eq!(enc(-32769), [0xf0, 0xff, 0x7f, 0xff]);
        assert_eq!(enc(INT24_MAX), [0xf0, 0xff, 0xff, 0x7f]);
        assert_eq!(enc(INT24_MIN), [0xf0, 0x00, 0x00, 0x80]);
        assert_eq!(enc(INT24_MAX + 1), [0xd0, 0x00, 0x00, 0x80, 0x00]);
        assert_eq!(enc(INT24_MIN - 1), [0xd0, 0xff, 0xff, 0x7f, 0xff]);
        assert_eq!(enc(i32::MAX as i64), [0xd0, 0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(enc(i32::MIN as i64), [0xd0, 0x00, 0x00, 0x00, 0x80]);
        assert_eq!(enc(i32::MAX as i64 + 1), [0xe0, 0, 0, 0, 0x80, 0, 0, 0, 0]);
        assert_eq!(enc(i64::MAX), [0xe0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(enc(i64::MIN), [0xe0, 0, 0, 0, 0, 0, 0, 0, 0x80]);
    }

    /// Non-canonical numbers stay strings (string2ll rejects them).
    #[test]
    fn non_canonical_numbers_are_strings() {
        for s in [&b"012"[..], b"-0", b"+1", b" 1", b"1 ", b"", b"9223372036854775808", b"1.5", b"0x10"] {
            let zl = strs(&[s]);
            assert_eq!(zl[HEADER_SIZE + 1], s.len() as u8, "{:?}", String::from_utf8_lossy(s));
            assert_eq!(decode_all(&zl).unwrap(), [s.to_vec()]);
        }
    }

    /// String length fields at the 6/14/32-bit boundaries, and the 5-byte prevlen after an
    /// entry of 254 bytes or more.
    #[test]
    fn string_lengths_and_big_prevlen() {
        let header = |len: usize| {
            let s = vec![b'x'; len];
            let zl = strs(&[&s]);
            assert_eq!(decode_all(&zl).unwrap(), [s]);
            zl[HEADER_SIZE + 1..HEADER_SIZE + 6].to_vec()
        };
        assert_eq!(header(63)[0], 0x3f);
        assert_eq!(header(64)[..2], [0x40, 64]);
        assert_eq!(header(16383)[..2], [0x7f, 0xff]);
        assert_eq!(header(16384), [0x80, 0, 0, 0x40, 0]);

        // Entry sizes 253 (1+2+250) and 254 (1+2+251): the next prevlen is 1 then 5 bytes.
        for (len, prev_field) in [(250usize, vec![253u8]), (251, vec![0xfe, 254, 0, 0, 0])] {
            let s = vec![b'y'; len];
            let zl = strs(&[&s, b"z"]);
            let second = HEADER_SIZE + 3 + len; // start of the second entry
            assert_eq!(zl[second..second + prev_field.len()], prev_field[..], "len {len}");
            let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
            assert_eq!(tail, second);
            assert_eq!(zl.len(), second + prev_field.len() + 2 + 1);
            assert_eq!(decode_all(&zl).unwrap(), [s, b"z".to_vec()]);
        }
    }

    /// Redis's cascade update can leave a 5-byte prevlen holding a small size: valid.
    #[test]
    fn accepts_wide_prevlen_for_small_entry() {
        // "a" then "b", the second with prevlen written as 0xFE 02 00 00 00.
        let zl = [0x17, 0, 0, 0, 0x0d, 0, 0, 0, 0x02, 0, 0x00, 0x01, b'a', 0xfe, 0x03, 0, 0, 0, 0x01, b'b', 0xff];
        let mut zl = zl.to_vec();
        zl[0] = zl.len() as u8;
        assert_eq!(decode_all(&zl).unwrap(), [b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn count_saturates_at_65535() {
        for n in [65534usize, 65535, 65536] {
            let zl = encode((0..n).map(|i| LpVal::Int(i as i64)));
            let hdr = u16::from_le_bytes([zl[8], zl[9]]);
            assert_eq!(hdr as usize, n.min(65535));
            assert_eq!(decode(&zl, |_| {}), Ok(n));
        }
    }

    fn arb_val() -> impl Strategy<Value = Vec<u8>> {
        let edge = prop_oneof![
            (0i64..=12),
            Just(-1i64),
            Just(127),
            Just(128),
            Just(-128),
            Just(-129),
            Just(i16::MIN as i64),
            Just(i16::MAX as i64),
            Just(INT24_MIN),
            Just(INT24_MAX),
            Just(INT24_MIN - 1),
            Just(INT24_MAX + 1),
            Just(i32::MIN as i64),
            Just(i32::MAX as i64),
            Just(i64::MIN),
            Just(i64::MAX),
            any::<i64>(),
            any::<i32>().prop_map(|v| v as i64),
        ]
        .prop_map(|v| itoa::Buffer::new().format(v).as_bytes().to_vec());
        prop_oneof![
            3 => edge,
            3 => proptest::collection::vec(any::<u8>(), 0..20),
            1 => (prop_oneof![Just(63usize), Just(64), Just(251), Just(252), Just(253), Just(254), 0usize..400])
                .prop_map(|n| vec![b'v'; n]),
            1 => "-?[0-9]{1,21}".prop_map(|s| s.into_bytes()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// encode then decode gives the model back, whether elements are passed as
        /// strings or (where canonical) as integers, and both give the same bytes.
        #[test]
        fn round_trip(items in proptest::collection::vec(arb_val(), 0..40)) {
            let zl = encode(items.iter().map(|s| LpVal::Str(s)));
            let ints = encode(items.iter().map(|s| match string2ll(s) {
                Some(v) if s.len() < 32 => LpVal::Int(v),
                _ => LpVal::Str(s),
            }));
            prop_assert_eq!(&zl, &ints);
            prop_assert_eq!(decode_all(&zl).unwrap(), items);
        }

        /// Any truncation or single-byte change of a valid ziplist is either an error or
        /// another valid ziplist; never a panic, and f only sees entries of a valid one.
        #[test]
        fn corruption_never_panics(
            items in proptest::collection::vec(arb_val(), 1..12),
            at in any::<prop::sample::Index>(),
            x in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let zl = encode(items.iter().map(|s| LpVal::Str(s)));
            let i = at.index(zl.len());
            let mut bad = zl.clone();
            bad[i] ^= x.max(1);
            if let Ok(n) = decode(&bad, |_| {}) {
                // Still valid means the change was inside data (or a harmless header bit).
                prop_assert_eq!(validate(&bad), Ok(n));
            }
            let c = cut.index(zl.len());
            let r = decode(&zl[..c], |_| {});
            prop_assert!(r.is_err());
            // Truncating but fixing zlbytes and the end byte still fails (an entry cut).
            if c > HEADER_SIZE + 1 {
                let mut t = zl[..c].to_vec();
                let n = t.len();
                t[n - 1] = END;
                t[0..4].copy_from_slice(&(n as u32).to_le_bytes());
                let _ = decode(&t, |_| {});
            }
        }
    }
}
