//! Collection data types: the representations behind `Value::List`, `Value::Hash`,
//! `Value::Set` and `Value::ZSet` (Redis's t_list.c, t_hash.c, t_set.c, t_zset.c data
//! structures). Commands live in `commands/{lists,hashes,sets,zsets}.rs`; these modules own
//! the encodings (a compact form for small collections, switched by Redis's thresholds, and
//! a large form), so OBJECT ENCODING, DEBUG DIGEST and memory use follow Redis.
//!
//! Each type offers the same small interface the rest of the server uses:
//! `encoding()` (OBJECT ENCODING's name), `len()`, `digest(&mut [u8; 20])` (the type's part
//! of DEBUG DIGEST, exactly as Redis's `xorObjectDigest`), `free_effort()` (allocations to
//! free it, for lazy free), `serialized_len()` (DEBUG OBJECT's `serializedlength`) and
//! `mem_usage(samples)` (MEMORY USAGE: the heap the value owns, large forms estimated
//! from their first `samples` elements as Redis's `objectComputeSize` does).

pub mod hash;
pub mod intset;
pub mod list;
pub mod listpack;
pub mod set;
pub mod zset;
pub mod zset_tree;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use zset::ZSet;

/// Bytes of an RDB length prefix (`rdbSaveLen`), for DEBUG OBJECT's `serializedlength`.
pub(crate) fn rdb_len_len(n: usize) -> usize {
    if n < 1 << 6 {
        1
    } else if n < 1 << 14 {
        2
    } else if n <= u32::MAX as usize {
        5
    } else {
        9
    }
}

/// Bytes of an RDB string (`rdbSaveRawString` without compression): strings of at most 11
/// bytes that are canonical integers fitting 32 bits are saved as 8/16/32-bit integers.
pub(crate) fn rdb_string_len(b: &[u8]) -> usize {
    if b.len() <= 11 {
        if let Some(n) = crate::util::numeric::string2ll(b) {
            if (i8::MIN as i64..=i8::MAX as i64).contains(&n) {
                return 2;
            } else if (i16::MIN as i64..=i16::MAX as i64).contains(&n) {
                return 3;
            } else if (i32::MIN as i64..=i32::MAX as i64).contains(&n) {
                return 5;
            }
        }
    }
    rdb_len_len(b.len()) + b.len()
}

/// What an `n`-byte allocation costs: its size class, nothing when nothing is allocated
/// (an empty `Vec`). The unit of MEMORY USAGE's estimates.
#[inline]
pub(crate) fn heap_alloc(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        size_class(n)
    }
}

/// Size class the allocator rounds an `n`-byte allocation up to (jemalloc's: 8, 16..128 by
/// 16, then four classes per doubling), for memory estimates.
#[inline]
pub(crate) fn size_class(n: usize) -> usize {
    if n <= 8 {
        8
    } else if n <= 128 {
        (n + 15) & !15
    } else {
        let k = usize::BITS - 1 - (n - 1).leading_zeros(); // floor(log2(n-1))
        let spacing = 1usize << (k - 2);
        (n + spacing - 1) & !(spacing - 1)
    }
}
