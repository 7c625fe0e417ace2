//! DEBUG DIGEST / DEBUG DIGEST-VALUE primitives, ported from Redis 7.0
//! src/debug.c (`xorDigest`, `mixDigest`, `xorObjectDigest`,
//! `computeDatasetDigest`).
//!
//! The Redis test suite (and replication consistency checks like
//! `csvdump`/`debug digest` comparisons between master and replica) compare
//! these digests, so they must be bit-identical to Redis's.
//!
//! # The two primitives
//!
//! * `xorDigest(digest, data)`: `digest ^= SHA1(data)` — order-independent,
//!   used for unordered collections (set members, hash fields, zset
//!   elements, keys of a database).
//! * `mixDigest(digest, data)`: `digest = SHA1(digest ^ SHA1(data))` — i.e.
//!   an xorDigest followed by replacing the digest with the SHA1 of its 20
//!   bytes. Order-dependent, used for sequences (list elements, stream
//!   entries) and to chain the parts of one key.
//!
//! # `computeDatasetDigest()` (DEBUG DIGEST)
//!
//! ```text
//! final = [0; 20]
//! for each db id j in 0..dbnum (ascending), skipping EMPTY databases:
//!     mixDigest(final, htonl(j) as 4 big-endian bytes)
//!     for each key in the db (any order; expired-but-not-yet-deleted keys
//!     are included, nothing is looked up):
//!         digest = [0; 20]
//!         mixDigest(digest, key bytes)
//!         xorObjectDigest(db, key, digest, value)      // see below
//!         xorDigest(final, digest)     // i.e. final ^= SHA1(digest)
//! reply: status reply of the 40 lowercase hex chars of final
//! ```
//!
//! With no keys at all the reply is 40 `0`s. Note the final step hashes the
//! per-key digest again (`xorDigest` of the 20 bytes), it does not xor it
//! in raw.
//!
//! # `xorObjectDigest(db, key, digest, o)`
//!
//! Continues mixing into `digest` (it does not reset it):
//!
//! 1. `mixDigest(digest, htonl(type))` with type codes string 0, list 1,
//!    set 2, zset 3, hash 4, module 5, stream 6 (4 big-endian bytes).
//! 2. The value, by type:
//!    * **string**: `mixDigest(digest, value bytes)` (integer-encoded values
//!      as their decimal text).
//!    * **list**: for each element head to tail: `mixDigest(digest, elem)`.
//!    * **set**: for each member: `xorDigest(digest, member)` (intset
//!      members as decimal text).
//!    * **zset**: for each element: `ele = [0;20]`;
//!      `mixDigest(ele, member)`; `mixDigest(ele, sprintf("%.17g", score))`;
//!      `xorDigest(digest, ele)`. Both encodings format the score as
//!      `%.17g` of the double (so `1` is `"1"`, `0.1` is
//!      `"0.10000000000000001"`, `1e17` is `"1e+17"`, and a skiplist
//!      `-0.0` is `"-0"` while a listpack stores -0 as integer 0 -> `"0"`).
//!    * **hash**: for each field: `ele = [0;20]`; `mixDigest(ele, field)`;
//!      `mixDigest(ele, value)`; `xorDigest(digest, ele)`.
//!    * **stream**: for each entry in ID order: `mixDigest(digest,
//!      "<ms>.<seq>")` (a DOT, not a dash, both as unsigned decimal), then
//!      for each field/value pair of the entry in order: `mixDigest(digest,
//!      field)`, `mixDigest(digest, value)`. Consumer groups, last-id,
//!      entries-added etc. are NOT part of the digest; deleted entries are
//!      skipped.
//!    * **module**: if the type has a digest callback, a `RedisModuleDigest`
//!      with two zeroed 20-byte buffers `o` and `x` is passed to it
//!      (`DigestAddStringBuffer` = `mixDigest(o, buf)`, `DigestAddLongLong`
//!      = `mixDigest(o, ll2string(n))`, `DigestEndSequence` = `xorDigest(x,
//!      o)` then `o = [0;20]`), then `xorDigest(digest, x)`. Without a
//!      callback, nothing is added. See [`ModuleDigest`].
//! 3. If the key has an expire (any expire, even in the past):
//!    `xorDigest(digest, "!!expire!!")`. The expire *time* is not included.
//!
//! # DEBUG DIGEST-VALUE key [key ...]
//!
//! Array reply with, per key, a status reply of 40 hex chars: a zeroed
//! digest on which `xorObjectDigest` is applied (type + value + expire
//! marker, but NOT the key name), or 40 `0`s if the key does not exist in
//! the current db's dict (logically expired keys are still digested: no
//! lookup/expiry is performed).

use sha1::{Digest as _, Sha1};

use super::numeric::{fmt_g17, ll2string};

/// A 20-byte SHA1-sized digest, as used by DEBUG DIGEST.
pub type Digest = [u8; 20];

/// Redis object type codes (`OBJ_*` in server.h), mixed into each value's
/// digest as 4 big-endian bytes.
pub const OBJ_STRING: u32 = 0;
/// List type code.
pub const OBJ_LIST: u32 = 1;
/// Set type code.
pub const OBJ_SET: u32 = 2;
/// Sorted set type code.
pub const OBJ_ZSET: u32 = 3;
/// Hash type code.
pub const OBJ_HASH: u32 = 4;
/// Module type code.
pub const OBJ_MODULE: u32 = 5;
/// Stream type code.
pub const OBJ_STREAM: u32 = 6;

fn sha1(data: &[u8]) -> Digest {
    let mut h = Sha1::new();
    h.update(data);
    h.finalize().into()
}

/// `digest ^= SHA1(data)`: Redis `xorDigest()`.
///
/// Why: the order-independent combination DEBUG DIGEST uses for unordered
/// collections and for combining keys.
pub fn xor_digest(digest: &mut Digest, data: &[u8]) {
    let h = sha1(data);
    for (d, x) in digest.iter_mut().zip(h.iter()) {
        *d ^= x;
    }
}

/// `digest = SHA1(digest ^ SHA1(data))`: Redis `mixDigest()`.
///
/// Why: the order-dependent combination DEBUG DIGEST uses for sequences and
/// for chaining the parts of one key (key name, type, value).
pub fn mix_digest(digest: &mut Digest, data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(&digest[..]);
}

/// Lowercase hex of a digest, as DEBUG DIGEST / DIGEST-VALUE reply it
/// (`%02x` per byte, 40 chars).
pub fn digest_to_hex(digest: &Digest) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(40);
    for b in digest {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// First step of `xorObjectDigest()`: mixes the 4-byte big-endian type code.
/// The `*_value_digest` functions below already do this; it is public for
/// callers assembling a type by hand (e.g. module types).
pub fn mix_object_type(digest: &mut Digest, obj_type: u32) {
    mix_digest(digest, &obj_type.to_be_bytes());
}

/// Last step of `xorObjectDigest()`: if the key has an expire, Redis xors
/// `SHA1("!!expire!!")` into the digest. Call it only for keys with a TTL.
pub fn expire_digest(digest: &mut Digest) {
    xor_digest(digest, b"!!expire!!");
}

/// `xorObjectDigest()` for a string value (type tag + value), without the
/// expire marker ([`expire_digest`]).
///
/// Why: DEBUG DIGEST and DEBUG DIGEST-VALUE on string keys.
pub fn string_value_digest(digest: &mut Digest, value: &[u8]) {
    mix_object_type(digest, OBJ_STRING);
    mix_digest(digest, value);
}

/// `xorObjectDigest()` for a list value (type tag + elements head to tail),
/// without the expire marker.
pub fn list_value_digest<I, T>(digest: &mut Digest, elements: I)
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    mix_object_type(digest, OBJ_LIST);
    for e in elements {
        mix_digest(digest, e.as_ref());
    }
}

/// `xorObjectDigest()` for a set value (type tag + members in any order),
/// without the expire marker. Integer members must be given as their
/// decimal text (which is how fluidB stores them anyway).
pub fn set_value_digest<I, T>(digest: &mut Digest, members: I)
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    mix_object_type(digest, OBJ_SET);
    for m in members {
        xor_digest(digest, m.as_ref());
    }
}

/// Digest of one sorted-set element: `ele = 0; mix(member); mix("%.17g")`.
pub fn zset_element_digest(member: &[u8], score: f64) -> Digest {
    let mut ele = [0u8; 20];
    mix_digest(&mut ele, member);
    mix_digest(&mut ele, &fmt_g17(score));
    ele
}

/// `xorObjectDigest()` for a sorted set (type tag + xor of element digests,
/// any order), without the expire marker. Scores are formatted `%.17g`.
pub fn zset_value_digest<I, T>(digest: &mut Digest, elements: I)
where
    I: IntoIterator<Item = (T, f64)>,
    T: AsRef<[u8]>,
{
    mix_object_type(digest, OBJ_ZSET);
    for (member, score) in elements {
        let ele = zset_element_digest(member.as_ref(), score);
        xor_digest(digest, &ele);
    }
}

/// `xorObjectDigest()` for a hash (type tag + xor of per-field digests, any
/// order), without the expire marker.
pub fn hash_value_digest<I, K, V>(digest: &mut Digest, fields: I)
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    mix_object_type(digest, OBJ_HASH);
    for (f, v) in fields {
        let mut ele = [0u8; 20];
        mix_digest(&mut ele, f.as_ref());
        mix_digest(&mut ele, v.as_ref());
        xor_digest(digest, &ele);
    }
}

/// Mixes one stream entry: ID as `"<ms>.<seq>"`, then each field and value.
/// Entries must be fed in ID order after [`mix_object_type`]`(OBJ_STREAM)`;
/// see [`stream_value_digest`].
pub fn stream_entry_digest<I, F, V>(digest: &mut Digest, ms: u64, seq: u64, fields: I)
where
    I: IntoIterator<Item = (F, V)>,
    F: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut id = Vec::with_capacity(41);
    id.extend_from_slice(itoa::Buffer::new().format(ms).as_bytes());
    id.push(b'.');
    id.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
    mix_digest(digest, &id);
    for (f, v) in fields {
        mix_digest(digest, f.as_ref());
        mix_digest(digest, v.as_ref());
    }
}

/// `xorObjectDigest()` for a stream (type tag + entries in ID order; groups
/// are not included), without the expire marker. Each entry is
/// `((ms, seq), fields)`.
pub fn stream_value_digest<I, J, F, V>(digest: &mut Digest, entries: I)
where
    I: IntoIterator<Item = ((u64, u64), J)>,
    J: IntoIterator<Item = (F, V)>,
    F: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    mix_object_type(digest, OBJ_STREAM);
    for ((ms, seq), fields) in entries {
        stream_entry_digest(digest, ms, seq, fields);
    }
}

/// The `RedisModuleDigest` accumulator handed to a module type's digest
/// callback (module.c): `o` collects the current sequence, `x` the xor of
/// finished sequences.
#[derive(Debug, Default, Clone)]
pub struct ModuleDigest {
    o: Digest,
    x: Digest,
}

impl ModuleDigest {
    /// Both buffers zeroed (`moduleInitDigestContext`).
    pub fn new() -> Self {
        Self::default()
    }
    /// `RedisModule_DigestAddStringBuffer`: `mixDigest(o, buf)`.
    pub fn add_string_buffer(&mut self, buf: &[u8]) {
        mix_digest(&mut self.o, buf);
    }
    /// `RedisModule_DigestAddLongLong`: `mixDigest(o, ll2string(ll))`.
    pub fn add_long_long(&mut self, ll: i64) {
        mix_digest(&mut self.o, &ll2string(ll));
    }
    /// `RedisModule_DigestEndSequence`: `xorDigest(x, o)`, then `o = 0`.
    pub fn end_sequence(&mut self) {
        let o = self.o;
        xor_digest(&mut self.x, &o);
        self.o = [0; 20];
    }
    /// Final step in `xorObjectDigest()` for a module value *with* a digest
    /// callback: `mixDigest(type)` then `xorDigest(digest, x)`. (Without a
    /// callback, only the type tag is mixed: use [`mix_object_type`].)
    pub fn apply(&self, digest: &mut Digest) {
        mix_object_type(digest, OBJ_MODULE);
        xor_digest(digest, &self.x);
    }
}

/// Starts a key's digest inside `computeDatasetDigest()`: a zeroed digest
/// with the key name mixed in. Apply a `*_value_digest` function (and
/// [`expire_digest`] if the key has a TTL) to it, then feed it to
/// [`DatasetDigest::add_key_digest`].
pub fn key_digest(key: &[u8]) -> Digest {
    let mut d = [0u8; 20];
    mix_digest(&mut d, key);
    d
}

/// Incremental `computeDatasetDigest()` (DEBUG DIGEST).
///
/// Usage: for each non-empty database in ascending id order call
/// [`DatasetDigest::begin_db`], then for each of its keys (any order)
/// [`DatasetDigest::add_key`]; finally [`DatasetDigest::hex`].
#[derive(Debug, Default, Clone)]
pub struct DatasetDigest {
    fin: Digest,
}

impl DatasetDigest {
    /// A zeroed digest (an empty dataset digests to 40 `0`s).
    pub fn new() -> Self {
        Self::default()
    }
    /// Mixes the db id (4 big-endian bytes). Must NOT be called for empty
    /// databases: Redis skips them.
    pub fn begin_db(&mut self, dbid: u32) {
        mix_digest(&mut self.fin, &dbid.to_be_bytes());
    }
    /// Adds one key: `value` must apply the value's `*_value_digest` (and
    /// [`expire_digest`] when the key has an expire) to the digest it gets,
    /// which already contains the key name.
    pub fn add_key(&mut self, key: &[u8], value: impl FnOnce(&mut Digest)) {
        let mut d = key_digest(key);
        value(&mut d);
        self.add_key_digest(&d);
    }
    /// Adds an already computed per-key digest: `xorDigest(final, digest)`.
    pub fn add_key_digest(&mut self, key_digest: &Digest) {
        xor_digest(&mut self.fin, key_digest);
    }
    /// The raw 20-byte result.
    pub fn finish(&self) -> Digest {
        self.fin
    }
    /// The reply text of DEBUG DIGEST (40 lowercase hex chars).
    pub fn hex(&self) -> String {
        digest_to_hex(&self.fin)
    }
}

/// DEBUG DIGEST-VALUE for one existing key: starts from a zeroed digest (no
/// key name), applies `value` (a `*_value_digest` call), then the expire
/// marker if `has_expire`. For a missing key Redis replies 40 `0`s
/// (`digest_to_hex(&[0; 20])`).
pub fn digest_value(value: impl FnOnce(&mut Digest), has_expire: bool) -> Digest {
    let mut d = [0u8; 20];
    value(&mut d);
    if has_expire {
        expire_digest(&mut d);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &Digest) -> String {
        digest_to_hex(d)
    }

    #[test]
    fn primitives() {
        let mut d = [0u8; 20];
        xor_digest(&mut d, b"abc");
        // SHA1("abc")
        assert_eq!(hex(&d), "a9993e364706816aba3e25717850c26c9cd0d89d");
        xor_digest(&mut d, b"abc");
        assert_eq!(d, [0u8; 20]);
        // mix = SHA1(0 ^ SHA1("abc")) = SHA1(SHA1("abc")).
        let mut m = [0u8; 20];
        mix_digest(&mut m, b"abc");
        let inner = sha1(b"abc");
        assert_eq!(m, sha1(&inner));
        assert_eq!(digest_to_hex(&[0u8; 20]), "0".repeat(40));
    }

    #[test]
    fn mix_is_order_dependent_xor_is_not() {
        let mut a = [0u8; 20];
        let mut b = [0u8; 20];
        mix_digest(&mut a, b"x");
        mix_digest(&mut a, b"y");
        mix_digest(&mut b, b"y");
        mix_digest(&mut b, b"x");
        assert_ne!(a, b);
        let mut c = [0u8; 20];
        let mut e = [0u8; 20];
        xor_digest(&mut c, b"x");
        xor_digest(&mut c, b"y");
        xor_digest(&mut e, b"y");
        xor_digest(&mut e, b"x");
        assert_eq!(c, e);
    }

    #[test]
    fn tiny_dataset_matches_redis() {
        // Obtained from redis-server 7.0.15 (started with
        // `--enable-debug-command yes`) on an empty instance:
        //   SET a 1
        //   SET b hello EX 1000
        //   DEBUG DIGEST              -> DATASET_HEX
        //   DEBUG DIGEST-VALUE a b    -> A_HEX, B_HEX
        //   DEBUG DIGEST-VALUE nokey  -> 40 zeros
        const DATASET_HEX: &str = "669dc7955c0119edb82e7cfeb40ea4a28f89f902";
        const A_HEX: &str = "b4fc66738120fba0b5aa500ab5c2bf89cea1c5da";
        const B_HEX: &str = "d037c4eb8a8b36b602fbced4000daeab0714c1e3";

        let mut ds = DatasetDigest::new();
        ds.begin_db(0);
        ds.add_key(b"a", |d| string_value_digest(d, b"1"));
        ds.add_key(b"b", |d| {
            string_value_digest(d, b"hello");
            expire_digest(d);
        });
        assert_eq!(ds.hex(), DATASET_HEX);

        // Key order does not matter.
        let mut ds2 = DatasetDigest::new();
        ds2.begin_db(0);
        let mut kb = key_digest(b"b");
        string_value_digest(&mut kb, b"hello");
        expire_digest(&mut kb);
        ds2.add_key_digest(&kb);
        ds2.add_key(b"a", |d| string_value_digest(d, b"1"));
        assert_eq!(ds2.hex(), DATASET_HEX);

        let a = digest_value(|d| string_value_digest(d, b"1"), false);
        assert_eq!(hex(&a), A_HEX);
        let b = digest_value(|d| string_value_digest(d, b"hello"), true);
        assert_eq!(hex(&b), B_HEX);
        assert_eq!(DatasetDigest::new().hex(), "0".repeat(40));
    }
}
