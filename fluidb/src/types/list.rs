//! Lists (t_list.c): a quicklist of packed chunks.
//!
//! Placeholder: the representation is built by the collection-types work (issue #3).

/// A list value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct List {
    len: usize,
}

impl List {
    pub fn new() -> Self {
        Self::default()
    }
    /// OBJECT ENCODING's name for the current representation.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
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
