//! LZF compression as liblzf 3.6's `lzf_compress` (the VERY_FAST variant Redis builds),
//! for RDB strings and the compressed inner nodes of lists (`list-compress-depth`).
//! Decompression uses the `lzf` crate.
//!
//! Why our own: the crate's compressor allocates and zeroes a 512 KB hash table on every
//! call, so an RDB of a million 100-byte values spent seconds in `memset`. Like liblzf we
//! never clear the table: a stale slot (from an earlier input) is harmless because a match
//! is only taken when its position lies before the current one, within the window, and its
//! bytes compare equal.

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

thread_local! {
    /// Positions of the last 3-byte sequences seen, by hash; reused across calls.
    static HTAB: RefCell<Vec<u32>> = RefCell::new(vec![0; HSIZE]);
}

#[inline]
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Compresses `input` into at most `max_out` bytes; None when it does not fit (the caller
/// then stores the string as it is). Inputs longer than `u32::MAX` are not compressed.
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    if input.len() < 3 || max_out == 0 || u32::try_from(input.len()).is_err() {
        return None;
    }
    HTAB.with(|h| {
        let mut htab = h.borrow_mut();
        compress_with(input, max_out, &mut htab)
    })
}

/// Decompresses `data` into exactly `len` bytes; None when it is not valid LZF of that size.
pub fn decompress(data: &[u8], len: usize) -> Option<Vec<u8>> {
    match lzf::decompress(data, len) {
        Ok(v) if v.len() == len => Some(v),
        _ => None,
    }
}

fn compress_with(input: &[u8], max_out: usize, htab: &mut [u32]) -> Option<Vec<u8>> {
    debug_assert_eq!(htab.len(), HSIZE);
    let in_len = input.len();
    let mut out = vec![0u8; max_out];
    let out_end = max_out;
    let mut op = 1usize; // start run
    let mut lit = 0usize;
    let mut ip = 0usize;
    let mut hval: u32 = ((input[0] as u32) << 8) | input[1] as u32;
    while ip < in_len - 2 {
        hval = (hval << 8) | input[ip + 2] as u32;
        let slot = idx(hval);
        let r = htab[slot] as usize;
        htab[slot] = ip as u32;
        if r < ip
            && ip - r - 1 < MAX_OFF
            && r > 0
            && input[r + 2] == input[ip + 2]
            && input[r] == input[ip]
            && input[r + 1] == input[ip + 1]
        {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_end && op - usize::from(lit == 0) + 3 + 1 >= out_end {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= usize::from(lit == 0); // undo run if length is zero
            loop {
                len += 1;
                if !(len < maxlen && input[r + len] == input[ip + len]) {
                    break;
                }
            }
            len -= 2; // len is now #octets - 1
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 2; // and start a run
            lit = 0;
            ip += len + 1;
            if ip >= in_len - 2 {
                break;
            }
            ip -= 2;
            hval = ((input[ip] as u32) << 8) | input[ip + 1] as u32;
            hval = (hval << 8) | input[ip + 2] as u32;
            htab[idx(hval)] = ip as u32;
            ip += 1;
            hval = (hval << 8) | input[ip + 2] as u32;
            htab[idx(hval)] = ip as u32;
            ip += 1;
        } else {
            if op >= out_end {
                return None;
            }
            copy_literal(&mut out, &mut op, &mut lit, input[ip]);
            ip += 1;
        }
    }
    if op + 3 > out_end {
        return None;
    }
    for &b in &input[ip..] {
        copy_literal(&mut out, &mut op, &mut lit, b);
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// One more literal byte; a run that reaches MAX_LIT is closed and a new one started.
#[inline]
fn copy_literal(out: &mut [u8], op: &mut usize, lit: &mut usize, b: u8) {
    *lit += 1;
    out[*op] = b;
    *op += 1;
    if *lit == MAX_LIT {
        out[*op - *lit - 1] = (*lit - 1) as u8;
        *lit = 0;
        *op += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compresses_repetitive_data_and_round_trips() {
        let v: Vec<u8> = b"value:12345".iter().copied().chain(std::iter::repeat_n(0u8, 89)).collect();
        let c = compress(&v, v.len() - 4).expect("compressible");
        assert!(c.len() < 30, "{}", c.len());
        assert_eq!(lzf::decompress(&c, v.len()).expect("valid"), v);
        // Random bytes do not shrink.
        let r: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        assert!(compress(&r, r.len() - 4).is_none());
    }

    proptest! {
        #[test]
        fn round_trips_whatever_the_table_held(a in proptest::collection::vec(0u8..4, 3..3000), b in proptest::collection::vec(any::<u8>(), 3..500)) {
            // `b` runs after `a` with the table `a` left behind: stale slots must not
            // produce wrong matches.
            for input in [&a, &b, &a] {
                if let Some(c) = compress(input, input.len() + 64) {
                    prop_assert_eq!(lzf::decompress(&c, input.len()).expect("valid"), input.clone());
                }
            }
        }
    }
}
