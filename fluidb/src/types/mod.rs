//! Collection data types: the representations behind `Value::List`, `Value::Hash`,
//! `Value::Set` and `Value::ZSet` (Redis's t_list.c, t_hash.c, t_set.c, t_zset.c data
//! structures). Commands live in `commands/{lists,hashes,sets,zsets}.rs`; these modules own
//! the encodings (a compact form for small collections, switched by Redis's thresholds, and
//! a large form), so OBJECT ENCODING, DEBUG DIGEST and memory use follow Redis.
//!
//! Each type offers the same small interface the rest of the server uses:
//! `encoding()` (OBJECT ENCODING's name), `len()`, `digest(&mut [u8; 20])` (the type's part
//! of DEBUG DIGEST, exactly as Redis's `xorObjectDigest`), `free_effort()` (allocations to
//! free it, for lazy free) and `serialized_len()` (DEBUG OBJECT's `serializedlength`).

pub mod hash;
pub mod list;
pub mod listpack;
pub mod set;
pub mod zset;
pub mod zset_tree;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use zset::ZSet;
