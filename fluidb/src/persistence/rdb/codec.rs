//! RDB primitives (rdb.c's `rdbSaveLen`, `rdbSaveRawString`, `rdbLoadLen`,
//! `rdbGenericLoadStringObject`, binary doubles) and Redis's CRC64.
//!
//! The writer side appends to a `Vec<u8>`; the reader side is a cursor over a byte slice
//! that never panics and never allocates more than the input can justify: a length read
//! from the file is checked against the bytes that remain before anything is allocated
//! (TigerStyle: a limit on everything that comes from outside), so a corrupt or hostile
//! RDB/RESTORE payload yields an error, not an abort.

use crate::util::numeric::string2ll;

/// Length encodings: the two top bits of the first byte (`RDB_6BITLEN` ...).
const LEN_6BIT: u8 = 0;
const LEN_14BIT: u8 = 1;
const LEN_32BIT: u8 = 0x80;
const LEN_64BIT: u8 = 0x81;
const ENCVAL: u8 = 3;

/// Special string encodings after `ENCVAL` (`RDB_ENC_INT8` ...).
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Redis compresses strings longer than this when `rdbcompression` is on.
const LZF_MIN_LEN: usize = 20;

/// Redis's CRC64 (Jones polynomial, reflected): the checksum of RDB files and DUMP payloads.
pub const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// `rdbSaveLen`.
pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push((len as u8) | (LEN_6BIT << 6));
    } else if len < 1 << 14 {
        out.push(((len >> 8) as u8) | (LEN_14BIT << 6));
        out.push(len as u8);
    } else if len <= u32::MAX as u64 {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// `rdbTryIntegerEncoding` + `rdbEncodeInteger`: a canonical integer of at most 11 bytes
/// that fits 32 bits is saved as 1, 2 or 4 little-endian bytes.
fn write_int_encoded(out: &mut Vec<u8>, s: &[u8]) -> bool {
    if s.len() > 11 {
        return false;
    }
    let Some(v) = string2ll(s) else { return false };
    if let Ok(b) = i8::try_from(v) {
        out.push((ENCVAL << 6) | ENC_INT8);
        out.push(b as u8);
    } else if let Ok(h) = i16::try_from(v) {
        out.push((ENCVAL << 6) | ENC_INT16);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push((ENCVAL << 6) | ENC_INT32);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// `rdbSaveRawString`: integer encoding when it applies, LZF when `compress` and the
/// string is longer than 20 bytes and shrinks by more than 4, plain otherwise.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if write_int_encoded(out, s) {
        return;
    }
    if compress && s.len() > LZF_MIN_LEN {
        // As Redis: only worth it when it saves at least 4 bytes.
        if let Some(c) = crate::util::lzf::compress(s, s.len() - 4) {
            out.push((ENCVAL << 6) | ENC_LZF);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// `rdbSaveBinaryDoubleValue`: 8 bytes, little-endian IEEE 754.
pub fn write_binary_double(out: &mut Vec<u8>, d: f64) {
    out.extend_from_slice(&d.to_le_bytes());
}

/// What went wrong reading an RDB byte stream, with the offset where it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub what: &'static str,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.what, self.offset)
    }
}

/// A length, or one of the special string encodings (`rdbLoadLenByRef`'s `isencoded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    Plain(u64),
    Encoded(u8),
}

/// A cursor over RDB bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn err(&self, what: &'static str) -> DecodeError {
        DecodeError { offset: self.pos, what }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.err("unexpected end of data"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// `rdbLoadLenByRef`.
    pub fn len_or_enc(&mut self) -> Result<Len, DecodeError> {
        let b = self.u8()?;
        match b >> 6 {
            0 => Ok(Len::Plain((b & 0x3f) as u64)),
            1 => Ok(Len::Plain((((b & 0x3f) as u64) << 8) | self.u8()? as u64)),
            3 => Ok(Len::Encoded(b & 0x3f)),
            _ => match b {
                LEN_32BIT => Ok(Len::Plain(u32::from_be_bytes(self.array()?) as u64)),
                LEN_64BIT => Ok(Len::Plain(u64::from_be_bytes(self.array()?))),
                _ => Err(self.err("unknown length encoding")),
            },
        }
    }

    /// A plain length (an encoded one is an error here).
    pub fn length(&mut self) -> Result<u64, DecodeError> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(self.err("unexpected string encoding where a length was expected")),
        }
    }

    /// A length that counts bytes still to come: larger than what remains is corrupt.
    pub fn byte_len(&mut self) -> Result<usize, DecodeError> {
        let n = self.length()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => Err(self.err("length beyond the end of data")),
        }
    }

    /// `rdbGenericLoadStringObject`: a string in any of its encodings (plain, 8/16/32-bit
    /// integer, LZF), as owned bytes. The LZF output size is bounded by `max_len`.
    pub fn string(&mut self, max_len: usize) -> Result<Vec<u8>, DecodeError> {
        match self.len_or_enc()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| self.err("string too long"))?;
                if n > max_len {
                    return Err(self.err("string longer than the limit"));
                }
                Ok(self.take(n)?.to_vec())
            }
            Len::Encoded(ENC_INT8) => Ok(itoa::Buffer::new().format(self.u8()? as i8).as_bytes().to_vec()),
            Len::Encoded(ENC_INT16) => {
                Ok(itoa::Buffer::new().format(i16::from_le_bytes(self.array()?)).as_bytes().to_vec())
            }
            Len::Encoded(ENC_INT32) => {
                Ok(itoa::Buffer::new().format(i32::from_le_bytes(self.array()?)).as_bytes().to_vec())
            }
            Len::Encoded(ENC_LZF) => {
                let clen = self.byte_len()?;
                let len = self.length()?;
                let len = match usize::try_from(len) {
                    Ok(l) if l <= max_len => l,
                    _ => return Err(self.err("string longer than the limit")),
                };
                let at = self.offset();
                let c = self.take(clen)?;
                if len == 0 {
                    return Err(DecodeError { offset: at, what: "LZF string of length 0" });
                }
                match lzf::decompress(c, len) {
                    Ok(v) if v.len() == len => Ok(v),
                    _ => Err(DecodeError { offset: at, what: "invalid LZF compressed string" }),
                }
            }
            Len::Encoded(_) => Err(self.err("unknown string encoding")),
        }
    }

    /// `rdbLoadBinaryDoubleValue`.
    pub fn binary_double(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A little-endian u64 (`rdbLoadMillisecondTime` and friends).
    pub fn u64_le(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A little-endian u32 (`RDB_OPCODE_EXPIRETIME` seconds).
    pub fn u32_le(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc64_is_redis() {
        // The check value of Redis's crc64.c test ("123456789").
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    /// `DUMP k` from redis-server 7.0 after `SET k <"abcdefgh" x 20>`: an LZF string, the
    /// RDB version (10) and the CRC64 of everything before it.
    #[test]
    fn reads_a_redis_dump_payload() {
        let p: [u8; 31] = [
            0x00, 0xc3, 0x10, 0x40, 0xa0, 0x08, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x61, 0xe0, 0x8c, 0x07,
            0x01, 0x67, 0x68, 0x0a, 0x00, 0xa2, 0xb2, 0xee, 0x8c, 0xb4, 0x77, 0xf1, 0x4a,
        ];
        let mut r = Reader::new(&p);
        assert_eq!(r.u8().unwrap(), 0);
        assert_eq!(r.string(1 << 20).unwrap(), b"abcdefgh".repeat(20));
        assert_eq!(r.take(2).unwrap(), [10, 0]);
        assert_eq!(r.u64_le().unwrap(), CRC64.checksum(&p[..23]));
    }

    #[test]
    fn lengths_as_rdb_save_len() {
        let enc = |n: u64| {
            let mut v = Vec::new();
            write_len(&mut v, n);
            v
        };
        assert_eq!(enc(10), [10]);
        assert_eq!(enc(63), [63]);
        assert_eq!(enc(64), [0x40, 64]);
        assert_eq!(enc(16383), [0x7f, 0xff]);
        assert_eq!(enc(16384), [0x80, 0, 0, 0x40, 0]);
        assert_eq!(enc(1 << 32), [0x81, 0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn strings_use_integer_and_lzf_encodings() {
        let enc = |s: &[u8], c: bool| {
            let mut v = Vec::new();
            write_string(&mut v, s, c);
            v
        };
        assert_eq!(enc(b"12", true), [0xc0, 12]);
        assert_eq!(enc(b"-300", true), [0xc1, 0xd4, 0xfe]);
        assert_eq!(enc(b"100000", true), [0xc2, 0xa0, 0x86, 1, 0]);
        assert_eq!(enc(b"4294967296", true)[0], 10); // beyond 32 bits: a plain string
        assert_eq!(enc(b"012", true), [3, b'0', b'1', b'2']);
        let long = vec![b'a'; 100];
        assert_eq!(enc(&long, true)[0], 0xc3);
        assert_eq!(enc(&long, false)[..2], [0x40, 100]);
        for c in [true, false] {
            assert_eq!(Reader::new(&enc(&long, c)).string(1 << 20).unwrap(), long);
        }
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        // A length far beyond the data.
        assert!(Reader::new(&[0x80, 0xff, 0xff, 0xff, 0xff]).string(1 << 30).is_err());
        // LZF claiming a huge output.
        assert!(Reader::new(&[0xc3, 2, 0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2])
            .string(1 << 20)
            .is_err());
        // Truncated integers.
        assert!(Reader::new(&[0xc2, 1]).string(10).is_err());
        assert!(Reader::new(&[0xc7]).string(10).is_err());
        assert!(Reader::new(&[]).length().is_err());
    }

    proptest! {
        #[test]
        fn strings_round_trip(s in proptest::collection::vec(any::<u8>(), 0..300), small in "-?[0-9]{1,12}", c in any::<bool>()) {
            for v in [&s[..], small.as_bytes()] {
                let mut out = Vec::new();
                write_string(&mut out, v, c);
                let mut r = Reader::new(&out);
                prop_assert_eq!(r.string(1 << 20).unwrap(), v.to_vec());
                prop_assert_eq!(r.remaining(), 0);
            }
        }

        #[test]
        fn lengths_round_trip(n in any::<u64>()) {
            let mut out = Vec::new();
            write_len(&mut out, n);
            prop_assert_eq!(Reader::new(&out).length().unwrap(), n);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&b);
            while r.remaining() > 0 && r.string(1 << 16).is_ok() {}
        }
    }
}
