//! Redis's zipmap (zipmap.c), read only: the small-hash encoding of Redis before 2.6, still
//! found in old RDB files as type 9 (`RDB_TYPE_HASH_ZIPMAP`). Nothing writes it any more.
//!
//! Layout: `<zmlen u8> (<len>field <len><free>value <free bytes>)* <0xFF>`, where
//! - zmlen is the pair count when below 254; 254 means "count it yourself";
//! - a length is one byte when below 254, else a marker byte and a u32 in host order (every
//!   platform Redis ships little-endian RDB files from is little endian);
//! - free is one byte: unused bytes left after the value by an in-place update.
//!
//! [`decode`] performs `zipmapValidateIntegrity(deep=1)` before handing out a single pair.

/// `ZIPMAP_BIGLEN`: length bytes from this on announce a 4-byte length; also zmlen's "unknown".
const BIGLEN: u8 = 254;
/// `ZIPMAP_END`.
const END: u8 = 0xFF;

/// A length field at `p` (`zipmapGetEncodedLengthSize` + `zipmapDecodeLength`), checked to
/// end before the terminator at `last` as zipmapValidateIntegrity does.
fn len_at(zm: &[u8], p: usize, last: usize) -> Result<(usize, usize), &'static str> {
    let size = if zm[p] < BIGLEN { 1 } else { 5 };
    if p + size > last {
        return Err("zipmap length reaches past the end");
    }
    let len = if size == 1 {
        zm[p] as usize
    } else {
        u32::from_le_bytes([zm[p + 1], zm[p + 2], zm[p + 3], zm[p + 4]]) as usize
    };
    Ok((size, len))
}

/// One pair at `p`: (field range, value range, offset after the pair).
type Pair = (std::ops::Range<usize>, std::ops::Range<usize>, usize);

fn pair_at(zm: &[u8], p: usize, last: usize) -> Result<Pair, &'static str> {
    const PAST: &str = "zipmap entry reaches past the end";
    let (s, l) = len_at(zm, p, last)?;
    let field = p + s..(p + s).checked_add(l).ok_or(PAST)?;
    let p = field.end;
    if p > last {
        return Err(PAST);
    }
    let (s, l) = len_at(zm, p, last)?;
    let free = zm[p + s] as usize; // p + s <= last: in bounds
    let vstart = p + s + 1;
    let value = vstart..vstart.checked_add(l).ok_or(PAST)?;
    let next = value.end.checked_add(free).ok_or(PAST)?;
    if next > last {
        return Err(PAST);
    }
    Ok((field, value, next))
}

/// `zipmapValidateIntegrity(deep=1)`: returns the pair count.
pub fn validate(zm: &[u8]) -> Result<usize, &'static str> {
    if zm.len() < 2 {
        return Err("zipmap shorter than its header");
    }
    let last = zm.len() - 1;
    if zm[last] != END {
        return Err("zipmap does not end with 0xFF");
    }
    let mut count = 0usize;
    let mut p = 1;
    while zm[p] != END {
        p = pair_at(zm, p, last)?.2;
        count += 1;
    }
    if count == 0 {
        return Err("empty zipmap");
    }
    if zm[0] != BIGLEN && zm[0] as usize != count {
        return Err("zipmap count does not match its entries");
    }
    Ok(count)
}

/// Validates the whole zipmap (see [`validate`]), then calls `f(field, value)` for each pair
/// in order; `f` is never called for a corrupt zipmap. Returns the pair count. (Duplicate
/// fields are structurally valid; the hash loader must reject them as Redis does.)
pub fn decode(zm: &[u8], mut f: impl FnMut(&[u8], &[u8])) -> Result<usize, &'static str> {
    let count = validate(zm)?;
    let last = zm.len() - 1;
    let mut p = 1;
    while zm[p] != END {
        let (field, value, next) = pair_at(zm, p, last)?;
        f(&zm[field], &zm[value]);
        p = next;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A zipmap as zipmapSet would build it (`free` spare bytes after each value).
    fn build(pairs: &[(Vec<u8>, Vec<u8>, u8)], zmlen: Option<u8>) -> Vec<u8> {
        fn len(out: &mut Vec<u8>, n: usize) {
            if n < BIGLEN as usize {
                out.push(n as u8);
            } else {
                out.push(BIGLEN);
                out.extend_from_slice(&(n as u32).to_le_bytes());
            }
        }
        let mut out = vec![zmlen.unwrap_or(if pairs.len() < BIGLEN as usize { pairs.len() as u8 } else { BIGLEN })];
        for (k, v, free) in pairs {
            len(&mut out, k.len());
            out.extend_from_slice(k);
            len(&mut out, v.len());
            out.push(*free);
            out.extend_from_slice(v);
            out.extend(std::iter::repeat_n(0xAA, *free as usize));
        }
        out.push(END);
        out
    }

    type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

    fn decode_all(zm: &[u8]) -> Result<Pairs, &'static str> {
        let mut v = Vec::new();
        let n = decode(zm, |k, val| v.push((k.to_vec(), val.to_vec())))?;
        assert_eq!(n, v.len());
        Ok(v)
    }

    /// zipmap.c's header comment: "foo" => "bar", "hello" => "world".
    #[test]
    fn redis_doc_example() {
        let zm = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        assert_eq!(
            decode_all(zm).unwrap(),
            [(b"foo".to_vec(), b"bar".to_vec()), (b"hello".to_vec(), b"world".to_vec())]
        );
        // The same with a free byte after "bar" (as left by an in-place update).
        let zm = b"\x02\x03foo\x03\x01bar?\x05hello\x05\x00world\xff";
        assert_eq!(decode_all(zm).unwrap()[0], (b"foo".to_vec(), b"bar".to_vec()));
        // Unknown count.
        let zm = b"\xfe\x03foo\x03\x00bar\xff";
        assert_eq!(decode_all(zm).unwrap().len(), 1);
    }

    #[test]
    fn rejects_corrupt() {
        // Redis's corrupt-dump.tcl "hash empty zipmap".
        assert!(decode(b"\x00\xff", |_, _| panic!()).is_err());
        assert!(decode(b"", |_, _| panic!()).is_err());
        assert!(decode(b"\x01", |_, _| panic!()).is_err());
        // Wrong count, value beyond the end, free beyond the end, missing end byte.
        for zm in [
            &b"\x03\x03foo\x03\x00bar\xff"[..],
            b"\x01\x03foo\x09\x00bar\xff",
            b"\x01\x03foo\x03\x05bar\xff",
            b"\x01\x03foo\x03\x00bar",
            b"\x01\xfe\xff\xff\xff\xfffoo\x03\x00bar\xff",
            b"\x01\x03foo\xff\xff\xff\xff\xff\x00bar\xff",
        ] {
            assert!(decode(zm, |_, _| panic!()).is_err(), "{zm:?}");
        }
    }

    #[test]
    fn big_lengths() {
        let pairs = vec![(vec![b'k'; 300], vec![b'v'; 254], 3), (b"a".to_vec(), vec![b'w'; 253], 0)];
        let zm = build(&pairs, None);
        let got = decode_all(&zm).unwrap();
        assert_eq!(got, pairs.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect::<Vec<_>>());
        // 254 and more pairs: zmlen is "unknown".
        let many: Vec<_> = (0..300).map(|i: u32| (i.to_le_bytes().to_vec(), b"x".to_vec(), 0)).collect();
        let zm = build(&many, None);
        assert_eq!(zm[0], BIGLEN);
        assert_eq!(decode(&zm, |_, _| {}), Ok(300));
    }

    fn arb_pairs() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>, u8)>> {
        let bytes = prop_oneof![
            4 => proptest::collection::vec(any::<u8>(), 0..12),
            1 => (250usize..260).prop_map(|n| vec![b'z'; n]),
        ];
        proptest::collection::vec((bytes.clone(), bytes, 0u8..4), 1..10)
    }

    proptest! {
        #[test]
        fn round_trip(pairs in arb_pairs()) {
            let zm = build(&pairs, None);
            prop_assert_eq!(decode_all(&zm).unwrap(), pairs.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect::<Vec<_>>());
        }

        #[test]
        fn corruption_never_panics(pairs in arb_pairs(), at in any::<prop::sample::Index>(), x in 1u8..=255, cut in any::<prop::sample::Index>()) {
            let zm = build(&pairs, None);
            let mut bad = zm.clone();
            let i = at.index(zm.len());
            bad[i] ^= x;
            let _ = decode(&bad, |_, _| {});
            let c = cut.index(zm.len());
            let mut t = zm[..c].to_vec();
            let r = decode(&t, |_, _| {});
            prop_assert!(r.is_err() || t.last() == Some(&END));
            if let Some(b) = t.last_mut() {
                *b = END;
            }
            let _ = decode(&t, |_, _| {});
        }
    }
}
