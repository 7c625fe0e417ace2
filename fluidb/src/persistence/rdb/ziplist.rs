//! Ziplist (Redis's ziplist.c), the small-collection encoding of RDB version 9 and older:
//! written for HASH_ZIPLIST, ZSET_ZIPLIST and QUICKLIST nodes (Redis 7.0 and KeyDB 6.3
//! both load it), read for every type that used it.
//!
//! Layout: `zlbytes` (u32 LE, the total size), `zltail` (u32 LE, offset of the last entry),
//! `zllen` (u16 LE, the count, 65535 meaning "count them"), the entries, and 0xFF. Each
//! entry is the previous entry's size (1 byte below 254, else 0xFE + u32 LE), an encoding,
//! and the data: strings with a 6-, 14- or 32-bit length, integers as a 4-bit immediate
//! (0..=12), int8, int16, int24, int32 or int64. A string that is a canonical integer of
//! fewer than 32 bytes is stored as an integer, as `zipTryEncoding` does.

use crate::types::listpack::LpVal;
use crate::util::numeric::string2ll;

const HEADER: usize = 10;
const END: u8 = 0xFF;
const BIG_PREVLEN: u8 = 254;

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

/// Appends one entry's encoding and data (without the prevlen).
fn push_entry(out: &mut Vec<u8>, v: LpVal<'_>) {
    let int = match v {
        LpVal::Int(i) => Some(i),
        LpVal::Str(s) if !s.is_empty() && s.len() < 32 => string2ll(s),
        LpVal::Str(_) => None,
    };
    if let Some(i) = int {
        if (0..=12).contains(&i) {
            out.push(INT_IMM_MIN + i as u8);
        } else if let Ok(b) = i8::try_from(i) {
            out.push(INT_8B);
            out.push(b as u8);
        } else if let Ok(h) = i16::try_from(i) {
            out.push(INT_16B);
            out.extend_from_slice(&h.to_le_bytes());
        } else if (-(1i64 << 23)..(1i64 << 23)).contains(&i) {
            out.push(INT_24B);
            out.extend_from_slice(&(i as i32).to_le_bytes()[..3]);
        } else if let Ok(w) = i32::try_from(i) {
            out.push(INT_32B);
            out.extend_from_slice(&w.to_le_bytes());
        } else {
            out.push(INT_64B);
            out.extend_from_slice(&i.to_le_bytes());
        }
        return;
    }
    let LpVal::Str(s) = v else { return };
    let n = s.len();
    if n <= 0x3f {
        out.push(STR_06B | n as u8);
    } else if n <= 0x3fff {
        out.push(STR_14B | (n >> 8) as u8);
        out.push(n as u8);
    } else {
        out.push(STR_32B);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// Encodes entries as a ziplist, byte for byte what Redis's `ziplistPush` builds.
pub fn encode<'a>(entries: impl IntoIterator<Item = LpVal<'a>>) -> Vec<u8> {
    let mut out = vec![0u8; HEADER];
    let (mut prev, mut count, mut tail) = (0usize, 0usize, HEADER);
    let mut scratch = Vec::new();
    for v in entries {
        scratch.clear();
        push_entry(&mut scratch, v);
        tail = out.len();
        if prev < BIG_PREVLEN as usize {
            out.push(prev as u8);
        } else {
            out.push(BIG_PREVLEN);
            out.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        out.extend_from_slice(&scratch);
        prev = out.len() - tail;
        count += 1;
    }
    out.push(END);
    let total = out.len() as u32;
    out[0..4].copy_from_slice(&total.to_le_bytes());
    out[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    out[8..10].copy_from_slice(&(count.min(u16::MAX as usize) as u16).to_le_bytes());
    out
}

fn rd(b: &[u8], at: usize, n: usize) -> Result<&[u8], &'static str> {
    at.checked_add(n).and_then(|end| b.get(at..end)).ok_or("ziplist entry out of range")
}

/// Decodes and fully validates a ziplist (`ziplistValidateIntegrity` with deep checks:
/// header sizes, every prevlen, every encoding, the tail offset and the count), calling
/// `f` on each entry. Returns the number of entries.
pub fn decode(b: &[u8], mut f: impl FnMut(LpVal<'_>)) -> Result<usize, &'static str> {
    if b.len() < HEADER + 1 {
        return Err("ziplist too short");
    }
    let zlbytes = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let zltail = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    let zllen = u16::from_le_bytes([b[8], b[9]]) as usize;
    if zlbytes != b.len() || b[b.len() - 1] != END {
        return Err("ziplist size mismatch");
    }
    let (mut p, mut prev, mut count, mut last) = (HEADER, 0usize, 0usize, HEADER);
    while b[p] != END {
        let start = p;
        let prevlen = if b[p] < BIG_PREVLEN {
            p += 1;
            b[start] as usize
        } else if b[p] == BIG_PREVLEN {
            let x = rd(b, p + 1, 4)?;
            p += 5;
            u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize
        } else {
            return Err("invalid ziplist prevlen");
        };
        if prevlen != prev {
            return Err("ziplist prevlen mismatch");
        }
        let enc = *b.get(p).ok_or("ziplist entry out of range")?;
        p += 1;
        match enc >> 6 {
            0 => {
                let n = (enc & 0x3f) as usize;
                f(LpVal::Str(rd(b, p, n)?));
                p += n;
            }
            1 => {
                let n = (((enc & 0x3f) as usize) << 8) | *b.get(p).ok_or("ziplist entry out of range")? as usize;
                p += 1;
                f(LpVal::Str(rd(b, p, n)?));
                p += n;
            }
            2 => {
                if enc != STR_32B {
                    return Err("invalid ziplist encoding");
                }
                let x = rd(b, p, 4)?;
                let n = u32::from_be_bytes([x[0], x[1], x[2], x[3]]) as usize;
                p += 4;
                f(LpVal::Str(rd(b, p, n)?));
                p = p.checked_add(n).ok_or("ziplist entry out of range")?;
            }
            _ => {
                let (v, n) = match enc {
                    INT_16B => {
                        let x = rd(b, p, 2)?;
                        (i16::from_le_bytes([x[0], x[1]]) as i64, 2)
                    }
                    INT_32B => {
                        let x = rd(b, p, 4)?;
                        (i32::from_le_bytes([x[0], x[1], x[2], x[3]]) as i64, 4)
                    }
                    INT_64B => {
                        let x = rd(b, p, 8)?;
                        (i64::from_le_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]), 8)
                    }
                    INT_24B => {
                        let x = rd(b, p, 3)?;
                        ((i32::from_le_bytes([0, x[0], x[1], x[2]]) >> 8) as i64, 3)
                    }
                    INT_8B => (*b.get(p).ok_or("ziplist entry out of range")? as i8 as i64, 1),
                    INT_IMM_MIN..=INT_IMM_MAX => ((enc & 0x0f) as i64 - 1, 0),
                    _ => return Err("invalid ziplist encoding"),
                };
                f(LpVal::Int(v));
                p += n;
            }
        }
        if p >= b.len() {
            return Err("ziplist entry out of range");
        }
        prev = p - start;
        last = start;
        count += 1;
    }
    if p != b.len() - 1 {
        return Err("ziplist end mismatch");
    }
    if last != zltail {
        return Err("ziplist tail offset mismatch");
    }
    if zllen != u16::MAX as usize && zllen != count {
        return Err("ziplist count mismatch");
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn owned(v: LpVal<'_>) -> Vec<u8> {
        v.to_vec()
    }

    /// ziplist.c's own example: the entries 2 and 5.
    #[test]
    fn redis_documented_example() {
        let zl = encode([LpVal::Int(2), LpVal::Int(5)]);
        assert_eq!(zl, [0x0f, 0, 0, 0, 0x0c, 0, 0, 0, 0x02, 0, 0x00, 0xf3, 0x02, 0xf6, 0xff]);
        let mut got = Vec::new();
        assert_eq!(decode(&zl, |v| got.push(owned(v))), Ok(2));
        assert_eq!(got, [b"2".to_vec(), b"5".to_vec()]);
        // "Hello World" appended: a 13-byte string entry after a 2-byte one.
        let zl = encode([LpVal::Int(2), LpVal::Int(5), LpVal::Str(b"Hello World")]);
        assert_eq!(&zl[0..4], &[0x1c, 0, 0, 0]);
        assert_eq!(&zl[14..17], &[0x02, 0x0b, b'H']);
    }

    #[test]
    fn integer_encodings_and_big_prevlen() {
        for (v, enc) in [
            (0i64, 0xf1u8),
            (12, 0xfd),
            (13, 0xfe),
            (-1, 0xfe),
            (127, 0xfe),
            (128, 0xc0),
            (-32768, 0xc0),
            (32768, 0xf0),
            (-(1 << 23), 0xf0),
            (1 << 23, 0xd0),
            (i32::MIN as i64, 0xd0),
            (i32::MAX as i64 + 1, 0xe0),
            (i64::MIN, 0xe0),
        ] {
            let zl = encode([LpVal::Int(v)]);
            assert_eq!(zl[HEADER + 1], enc, "{v}");
            let mut got = None;
            decode(&zl, |e| got = e.as_int()).expect("valid");
            assert_eq!(got, Some(v));
        }
        // "012" is not canonical: a string. A 300-byte entry makes the next prevlen 5 bytes.
        let long = vec![b'x'; 300];
        let zl = encode([LpVal::Str(b"012"), LpVal::Str(&long), LpVal::Str(b"a")]);
        let mut got = Vec::new();
        assert_eq!(decode(&zl, |v| got.push(owned(v))), Ok(3));
        assert_eq!(got, [b"012".to_vec(), long.clone(), b"a".to_vec()]);
    }

    proptest! {
        #[test]
        fn round_trips(entries in proptest::collection::vec(prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            (-20i64..20).prop_map(|i| i.to_string()),
            "[a-z0-9]{0,70}",
            proptest::collection::vec(any::<u8>(), 250..300).prop_map(|v| String::from_utf8_lossy(&v).into_owned()),
        ], 0..300)) {
            let zl = encode(entries.iter().map(|s| LpVal::Str(s.as_bytes())));
            let mut got = Vec::new();
            prop_assert_eq!(decode(&zl, |v| got.push(owned(v))), Ok(entries.len()));
            let want: Vec<Vec<u8>> = entries.iter().map(|s| s.as_bytes().to_vec()).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn corruption_is_an_error_not_a_panic(i in any::<usize>(), x in 1u8..=255, cut in any::<usize>()) {
            let zl = encode([LpVal::Str(b"hello"), LpVal::Int(300), LpVal::Str(&[b'z'; 260]), LpVal::Int(-5)]);
            let mut bad = zl.clone();
            let n = bad.len();
            bad[i % n] ^= x;
            let _ = decode(&bad, |_| {});
            let truncated = decode(&zl[..cut % zl.len()], |_| ());
            prop_assert!(truncated.is_err());
        }
    }
}
