//! Serializing values as RDB version 9 objects (rdb.c's `rdbSaveObjectType` +
//! `rdbSaveObject`), the form shared by snapshots and DUMP payloads.
//!
//! Version 9 predates listpacks, so the small forms are written as the ziplists Redis 6
//! wrote (a listpack's entries converted one for one): small hashes as HASH_ZIPLIST, small
//! sorted sets as ZSET_ZIPLIST, every list as a QUICKLIST of ziplist nodes. Redis 7.0 and
//! KeyDB 6.3 both load these.
//!
//! Version 9 knows neither plain nor compressed list nodes: a compressed node is written
//! decompressed (then LZF-compressed as a string under `rdbcompression`), a plain node as a
//! ziplist of its one element (the loader makes a one-element node whose element reaches
//! the packed threshold plain again). A ziplist cannot hold an element of 4 GB or more, so
//! a list with such an element is written as RDB_TYPE_LIST, one string per element.

use super::codec::{write_binary_double, write_len, write_string, CRC64};
use super::{types, ziplist, RDB_VERSION_WRITTEN};
use crate::keyspace::Value;
use crate::types::list::NodeRef;
use crate::types::listpack::LpVal;
use crate::types::{Hash, List, Set, ZSet};

/// Writes `v` as its type byte followed by the object (`compress`: `rdbcompression`).
pub fn write_value(out: &mut Vec<u8>, v: &Value, compress: bool) {
    out.push(type_byte(v));
    write_object(out, v, compress);
}

/// The RDB type `v` is written as (`rdbSaveObjectType`).
pub fn type_byte(v: &Value) -> u8 {
    match v {
        Value::Str(_) => types::STRING,
        Value::List(l) if linked_form(l) => types::LIST,
        Value::List(_) => types::LIST_QUICKLIST,
        Value::Set(s) if s.is_intset() => types::SET_INTSET,
        Value::Set(_) => types::SET,
        Value::ZSet(z) if matches!(**z, ZSet::Small(_)) => types::ZSET_ZIPLIST,
        Value::ZSet(_) => types::ZSET_2,
        Value::Hash(h) if h.is_listpack() => types::HASH_ZIPLIST,
        Value::Hash(_) => types::HASH,
    }
}

/// Writes the object of `v` without its type byte (`rdbSaveObject`).
pub fn write_object(out: &mut Vec<u8>, v: &Value, compress: bool) {
    match v {
        Value::Str(s) => s.with_bytes(|b| write_string(out, b, compress)),
        Value::List(l) => write_list(out, l, compress),
        Value::Set(s) => write_set(out, s, compress),
        Value::ZSet(z) => write_zset(out, z, compress),
        Value::Hash(h) => write_hash(out, h, compress),
    }
}

/// Elements up to this size fit a ziplist (whose total size is a 32-bit field).
const ZIPLIST_ELEMENT_MAX: usize = u32::MAX as usize - 64;

/// Whether `l` has an element too big for a ziplist node.
fn linked_form(l: &List) -> bool {
    l.largest_plain() > ZIPLIST_ELEMENT_MAX
}

fn write_list(out: &mut Vec<u8>, l: &List, compress: bool) {
    if linked_form(l) {
        write_len(out, l.len() as u64);
        l.walk(0, false, |v| {
            v.with_bytes(|b| write_string(out, b, compress));
            true
        });
        return;
    }
    write_len(out, l.node_count() as u64);
    l.for_each_node(|node| {
        let zl = match node {
            NodeRef::Packed(lp) => ziplist::encode(lp.iter()),
            NodeRef::Plain(b) => ziplist::encode(std::iter::once(LpVal::Str(b))),
        };
        write_string(out, &zl, compress);
    });
}

fn write_set(out: &mut Vec<u8>, s: &Set, compress: bool) {
    match s {
        Set::Intset(is) => {
            write_string(out, is.bytes(), compress);
        }
        Set::Table(d) => {
            write_len(out, d.len() as u64);
            for k in d.keys() {
                write_string(out, k.as_bytes(), compress);
            }
        }
    }
}

fn write_zset(out: &mut Vec<u8>, z: &ZSet, compress: bool) {
    match z {
        ZSet::Small(lp) => {
            write_string(out, &ziplist::encode(lp.iter()), compress);
        }
        ZSet::Large(b) => {
            // From the greatest to the smallest, as Redis (its loader then inserts at the
            // head of the skiplist each time).
            write_len(out, b.tree.len() as u64);
            b.tree.walk(b.tree.len().saturating_sub(1), true, |score, member| {
                write_string(out, member.as_bytes(), compress);
                write_binary_double(out, score);
                true
            });
        }
    }
}

fn write_hash(out: &mut Vec<u8>, h: &Hash, compress: bool) {
    match h {
        Hash::Listpack(lp) => {
            write_string(out, &ziplist::encode(lp.iter()), compress);
        }
        Hash::Table(d) => {
            write_len(out, d.len() as u64);
            for (k, v) in d.iter() {
                write_string(out, k.as_bytes(), compress);
                write_string(out, v.as_bytes(), compress);
            }
        }
    }
}

/// A DUMP payload (`createDumpPayload`): the object, the RDB version (2 bytes LE), and the
/// CRC64 of both (8 bytes LE).
pub fn dump_payload(v: &Value, compress: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_value(&mut out, v, compress);
    out.extend_from_slice(&RDB_VERSION_WRITTEN.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}
