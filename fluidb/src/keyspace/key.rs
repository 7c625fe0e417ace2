//! `Key`: the owned byte string a key is stored as.
//!
//! Keys of up to [`INLINE_MAX`] bytes live inside the dict node itself, so a lookup touches
//! one cache line fewer (no pointer to chase to compare the key) and a small key costs no
//! separate allocation. Longer keys are boxed. Either way a `Key` derefs to `&[u8]`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Longest key stored inline.
pub const INLINE_MAX: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE_MAX] },
    Heap(Box<[u8]>),
}

/// An owned key.
#[derive(Clone)]
pub struct Key(Repr);

impl Key {
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..*len as usize],
            Repr::Heap(b) => b,
        }
    }
    /// Heap bytes owned beyond the key itself (0 for inline keys).
    pub fn heap_len(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) => b.len(),
        }
    }
}

impl From<&[u8]> for Key {
    #[inline]
    fn from(b: &[u8]) -> Key {
        if b.len() <= INLINE_MAX {
            let mut buf = [0u8; INLINE_MAX];
            buf[..b.len()].copy_from_slice(b);
            Key(Repr::Inline { len: b.len() as u8, buf })
        } else {
            Key(Repr::Heap(b.into()))
        }
    }
}

impl From<&Vec<u8>> for Key {
    fn from(b: &Vec<u8>) -> Key {
        Key::from(b.as_slice())
    }
}

impl From<Vec<u8>> for Key {
    fn from(b: Vec<u8>) -> Key {
        if b.len() <= INLINE_MAX {
            Key::from(b.as_slice())
        } else {
            Key(Repr::Heap(b.into_boxed_slice()))
        }
    }
}

impl From<Box<[u8]>> for Key {
    fn from(b: Box<[u8]>) -> Key {
        if b.len() <= INLINE_MAX {
            Key::from(&b[..])
        } else {
            Key(Repr::Heap(b))
        }
    }
}

impl From<&bytes::Bytes> for Key {
    fn from(b: &bytes::Bytes) -> Key {
        Key::from(&b[..])
    }
}

impl Deref for Key {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
impl Eq for Key {}

impl PartialEq<[u8]> for Key {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_bytes().hash(h)
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap_keys_compare_by_bytes() {
        let a = Key::from(&b"short"[..]);
        let b = Key::from(vec![b'x'; 40]);
        assert_eq!(a.as_bytes(), b"short");
        assert_eq!(&*b, &vec![b'x'; 40][..]);
        assert_eq!(a.heap_len(), 0);
        assert_eq!(b.heap_len(), 40);
        assert_eq!(Key::from(&[b'y'; 22][..]).heap_len(), 0);
        assert_eq!(Key::from(&[b'y'; 23][..]).heap_len(), 23);
        assert_eq!(a, Key::from(b"short".to_vec()));
        assert_eq!(std::mem::size_of::<Key>(), 24);
    }
}
