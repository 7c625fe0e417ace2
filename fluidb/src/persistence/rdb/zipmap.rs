//! Zipmap (Redis's zipmap.c): the small-hash encoding of RDB files written before Redis
//! 2.6 (RDB_TYPE_HASH_ZIPMAP). Read only: loaded hashes are rebuilt in today's forms.
//!
//! Layout: a count byte (the count if below 254), then for each pair the key length, the
//! key, the value length, a "free" byte, the value and `free` unused bytes, then 0xFF.
//! Lengths are one byte below 254, or 254 followed by a u32 LE.

const END: u8 = 0xFF;
const BIGLEN: u8 = 254;

fn len_at(b: &[u8], p: &mut usize) -> Result<usize, &'static str> {
    let first = *b.get(*p).ok_or("zipmap out of range")?;
    match first {
        0..=253 => {
            *p += 1;
            Ok(first as usize)
        }
        BIGLEN => {
            let x = b.get(*p + 1..*p + 5).ok_or("zipmap out of range")?;
            *p += 5;
            Ok(u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize)
        }
        _ => Err("unexpected zipmap end"),
    }
}

fn bytes_at<'a>(b: &'a [u8], p: &mut usize, n: usize) -> Result<&'a [u8], &'static str> {
    let s = p.checked_add(n).and_then(|end| b.get(*p..end)).ok_or("zipmap out of range")?;
    *p += n;
    Ok(s)
}

/// Decodes and validates a zipmap (`zipmapValidateIntegrity`), calling `f` on each pair.
/// Returns the number of pairs.
pub fn decode(b: &[u8], mut f: impl FnMut(&[u8], &[u8])) -> Result<usize, &'static str> {
    let zmlen = *b.first().ok_or("zipmap too short")? as usize;
    let mut p = 1;
    let mut count = 0usize;
    loop {
        if *b.get(p).ok_or("zipmap out of range")? == END {
            break;
        }
        let klen = len_at(b, &mut p)?;
        let k = bytes_at(b, &mut p, klen)?;
        let vlen = len_at(b, &mut p)?;
        let free = *b.get(p).ok_or("zipmap out of range")? as usize;
        p += 1;
        let v = bytes_at(b, &mut p, vlen)?;
        bytes_at(b, &mut p, free)?;
        f(k, v);
        count += 1;
    }
    if p != b.len() - 1 {
        return Err("zipmap end mismatch");
    }
    if zmlen < BIGLEN as usize && zmlen != count {
        return Err("zipmap count mismatch");
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// zipmap.c's example: "foo" => "bar", "hello" => "world".
    #[test]
    fn redis_documented_example() {
        let zm = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        let mut got = Vec::new();
        assert_eq!(decode(zm, |k, v| got.push((k.to_vec(), v.to_vec()))), Ok(2));
        assert_eq!(got, [(b"foo".to_vec(), b"bar".to_vec()), (b"hello".to_vec(), b"world".to_vec())]);
        // A value with 2 free bytes after it.
        let zm = b"\x01\x01a\x01\x02bxx\xff";
        assert_eq!(decode(zm, |_, _| {}), Ok(1));
        assert!(decode(b"\x01\x01a\x01\x02b\xff", |_, _| {}).is_err());
    }

    proptest! {
        #[test]
        fn corruption_is_an_error_not_a_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&b, |_, _| {});
        }
    }
}
