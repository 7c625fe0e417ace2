//! Values stored under keys. One variant per Redis type; each type's commands live in
//! `types::t_<type>` and its own module defines the representation.

use crate::types::{Hash, List, Set, ZSet};
use crate::util::numeric::string2ll;

/// Strings of up to this length get Redis's "embstr" encoding name.
pub const EMBSTR_MAX: usize = 44;

/// A value in the keyspace.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(RStr),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
}

/// Redis type names, as TYPE answers them.
impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }
    /// Encoding name as OBJECT ENCODING answers it.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(x) => x.encoding(),
            Value::ZSet(z) => z.encoding(),
        }
    }
    /// Redis's numeric type id (`OBJ_STRING` = 0, ...), used by DEBUG DIGEST.
    pub fn type_id(&self) -> u32 {
        match self {
            Value::Str(_) => 0,
            Value::List(_) => 1,
            Value::Set(_) => 2,
            Value::ZSet(_) => 3,
            Value::Hash(_) => 4,
        }
    }
}

/// A string value with Redis's three encodings, so OBJECT ENCODING answers as Redis does and
/// small integers take no heap allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RStr {
    /// A canonical decimal integer ("int" encoding).
    Int(i64),
    /// A short string created whole ("embstr").
    Emb(Box<[u8]>),
    /// A string that was modified in place or is long ("raw").
    Raw(Vec<u8>),
}

impl RStr {
    /// The encoding Redis's `tryObjectEncoding` picks for a freshly created string.
    pub fn from_bytes(b: &[u8]) -> RStr {
        if b.len() <= 20 {
            if let Some(n) = string2ll(b) {
                return RStr::Int(n);
            }
        }
        if b.len() <= EMBSTR_MAX {
            RStr::Emb(b.into())
        } else {
            RStr::Raw(b.to_vec())
        }
    }
    /// A string built by a command that Redis stores without trying the int encoding
    /// (e.g. INCRBYFLOAT results): embstr or raw by length.
    pub fn from_bytes_no_int(b: &[u8]) -> RStr {
        if b.len() <= EMBSTR_MAX {
            RStr::Emb(b.into())
        } else {
            RStr::Raw(b.to_vec())
        }
    }
    pub fn encoding(&self) -> &'static str {
        match self {
            RStr::Int(_) => "int",
            RStr::Emb(_) => "embstr",
            RStr::Raw(_) => "raw",
        }
    }
    /// Length of the string representation.
    pub fn len(&self) -> usize {
        match self {
            RStr::Int(n) => itoa::Buffer::new().format(*n).len(),
            RStr::Emb(b) => b.len(),
            RStr::Raw(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Calls `f` with the string representation, without allocating.
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            RStr::Int(n) => f(itoa::Buffer::new().format(*n).as_bytes()),
            RStr::Emb(b) => f(b),
            RStr::Raw(v) => f(v),
        }
    }
    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }
    /// Converts to the raw encoding for in-place modification (APPEND, SETRANGE, SETBIT).
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, RStr::Raw(_)) {
            *self = RStr::Raw(self.to_vec());
        }
        match self {
            RStr::Raw(v) => v,
            _ => unreachable!("converted to raw above"),
        }
    }
    /// The integer value, if the string is a canonical integer (for INCR and friends).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            RStr::Int(n) => Some(*n),
            RStr::Emb(b) => string2ll(b),
            RStr::Raw(v) => string2ll(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(RStr::from_bytes(b"12345").encoding(), "int");
        assert_eq!(RStr::from_bytes(b"012").encoding(), "embstr");
        assert_eq!(RStr::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(RStr::from_bytes(&[b'a'; 45]).encoding(), "raw");
        let mut s = RStr::from_bytes(b"7");
        s.make_raw().push(b'8');
        assert_eq!(s, RStr::Raw(b"78".to_vec()));
        assert_eq!(RStr::Int(-12).len(), 3);
    }
}
