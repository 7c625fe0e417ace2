//! Hashes (t_hash.c): listpack while small, a hash table beyond hash-max-listpack-*.
//!
//! Placeholder: the representation is built by the collection-types work (issue #3).

/// A hash value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hash {
    len: usize,
}

impl Hash {
    pub fn new() -> Self {
        Self::default()
    }
    /// OBJECT ENCODING's name for the current representation.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// This value's part of DEBUG DIGEST (Redis's `xorObjectDigest` for the type).
    pub fn digest(&self, _digest: &mut [u8; 20]) {}
    /// Roughly the number of allocations freeing this value takes (lazy free).
    pub fn free_effort(&self) -> usize {
        1
    }
    /// DEBUG OBJECT's `serializedlength`: the RDB-serialized size.
    pub fn serialized_len(&self) -> usize {
        0
    }
}
