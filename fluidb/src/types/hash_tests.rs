use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

fn s(v: LpVal<'_>) -> Vec<u8> {
    v.to_vec()
}

fn pairs(h: &Hash) -> Vec<(Vec<u8>, Vec<u8>)> {
    h.iter().map(|(f, v)| (s(f), s(v))).collect()
}

#[test]
fn sizes() {
    assert_eq!(std::mem::size_of::<Val>(), 16);
    assert_eq!(std::mem::size_of::<Hash>(), 32);
}

#[test]
fn val_inline_and_heap() {
    for n in [0, 1, 14, 15, 16, 100] {
        let b = vec![b'x'; n];
        let v = Val::new(&b);
        assert_eq!(v.as_bytes(), &b[..]);
        assert_eq!(v.heap_size() == 0, n <= VAL_INLINE_MAX);
    }
}

#[test]
fn listpack_keeps_insertion_order_and_updates_in_place() {
    let l = Limits::default();
    let mut h = Hash::new();
    assert!(h.set(b"a", b"1", l));
    assert!(h.set(b"b", b"x", l));
    assert!(h.set(b"c", b"3", l));
    assert!(!h.set(b"a", b"one", l));
    assert_eq!(h.encoding(), "listpack");
    assert_eq!(
        pairs(&h),
        vec![(b"a".to_vec(), b"one".to_vec()), (b"b".to_vec(), b"x".to_vec()), (b"c".to_vec(), b"3".to_vec())]
    );
    assert_eq!(h.get(b"c"), Some(LpVal::Int(3)));
    assert_eq!(h.get(b"zz"), None);
    // A value equal to a field name is not found as a field (skip=1).
    assert!(!h.contains(b"x"));
    assert!(h.delete(b"b"));
    assert!(!h.delete(b"b"));
    assert_eq!(h.len(), 2);
    assert!(h.delete(b"c"));
    assert!(h.delete(b"a"));
    assert!(h.is_empty());
}

#[test]
fn converts_on_entries_and_value_length() {
    let l = Limits { entries: 4, value: 8 };
    let mut h = Hash::new();
    for i in 0..4 {
        h.set(format!("f{i}").as_bytes(), b"v", l);
    }
    assert_eq!(h.encoding(), "listpack");
    h.set(b"f4", b"v", l);
    assert_eq!(h.encoding(), "hashtable");
    assert_eq!(h.len(), 5);
    // Never back.
    for i in 0..5 {
        h.delete(format!("f{i}").as_bytes());
    }
    h.set(b"a", b"b", l);
    assert_eq!(h.encoding(), "hashtable");

    let mut h = Hash::new();
    h.try_conversion([&b"12345678"[..]], l);
    assert_eq!(h.encoding(), "listpack");
    h.try_conversion([&b"123456789"[..]], l);
    assert_eq!(h.encoding(), "hashtable");

    // set() itself converts for a long field or value (HINCRBY*'s path).
    let mut h = Hash::new();
    h.set(b"f", b"v", l);
    h.set(b"123456789", b"1", l);
    assert_eq!(h.encoding(), "hashtable");
    assert_eq!(h.get(b"f"), Some(LpVal::Str(b"v")));

    // Zero entries allowed: the first insertion converts.
    let mut h = Hash::new();
    h.set(b"f", b"v", Limits { entries: 0, value: 64 });
    assert_eq!(h.encoding(), "hashtable");
}

#[test]
fn digest_is_encoding_independent() {
    let l = Limits::default();
    let mut a = Hash::new();
    let mut b = Hash::new();
    for i in 0..10 {
        a.set(format!("f{i}").as_bytes(), format!("{i}").as_bytes(), l);
        b.set(format!("f{}", 9 - i).as_bytes(), format!("{}", 9 - i).as_bytes(), l);
    }
    b.convert();
    let (mut da, mut db) = ([0u8; 20], [0u8; 20]);
    a.digest(&mut da);
    b.digest(&mut db);
    assert_eq!(da, db);
    let mut c = a.clone();
    c.convert();
    assert_eq!(c, b);
    assert_ne!(a, b); // different encodings
}

#[test]
fn scan_step_and_random_pair() {
    let l = Limits::default();
    let mut h = Hash::new();
    let mut rng = rand::thread_rng();
    assert!(h.random_pair(&mut rng).is_none());
    for i in 0..100 {
        h.set(format!("f{i}").as_bytes(), format!("v{i}").as_bytes(), l);
    }
    let mut n = 0;
    assert_eq!(h.scan_step(0, |_, _| n += 1), 0);
    assert_eq!(n, 100);
    let (f, v) = h.random_pair(&mut rng).unwrap();
    assert_eq!(s(f)[1..], s(v)[1..]);
    h.convert();
    let mut seen = std::collections::HashSet::new();
    let mut c = 0;
    loop {
        c = h.scan_step(c, |f, _| {
            seen.insert(s(f));
        });
        if c == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 100);
    let (f, v) = h.random_pair(&mut rng).unwrap();
    assert_eq!(s(f)[1..], s(v)[1..]);
}

#[test]
fn serialized_len_counts_rdb_strings() {
    let l = Limits::default();
    let mut h = Hash::new();
    h.set(b"a", b"1", l);
    // listpack: 6 header + "a" (3) + 1 (2) + EOF = 12 bytes, 1-byte length prefix
    // (redis-server's DEBUG OBJECT says 13).
    assert_eq!(h.serialized_len(), 13);
    h.convert();
    // length 1, "a" as 1+1, "1" as an 8-bit int (2).
    assert_eq!(h.serialized_len(), 1 + 2 + 2);
}

#[derive(Debug, Clone)]
enum Op {
    Set(u8, Vec<u8>),
    Del(u8),
    Incr(u8, i64),
}

fn field(i: u8) -> Vec<u8> {
    // Some fields are integers (listpack int encoding), a few are long.
    match i % 4 {
        0 => format!("{i}").into_bytes(),
        1 => format!("field:{i}").into_bytes(),
        2 => vec![b'L'; 10 + i as usize],
        _ => format!("-{i}").into_bytes(),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..40, prop::collection::vec(prop::sample::select(b"01a-9 xyz".to_vec()), 0..24))
            .prop_map(|(f, v)| Op::Set(f, v)),
        2 => (0u8..40).prop_map(Op::Del),
        1 => (0u8..40, -1000i64..1000).prop_map(|(f, n)| Op::Incr(f, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Random HSET/HDEL/HINCRBY against a HashMap, across both conversion thresholds.
    #[test]
    fn matches_model(ops in prop::collection::vec(op(), 1..200), entries in 0usize..24, value in 4usize..30) {
        let l = Limits { entries, value };
        let mut h = Hash::new();
        let mut m: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut was_table = false;
        for o in ops {
            match o {
                Op::Set(f, v) => {
                    let f = field(f);
                    h.try_conversion([&f[..], &v[..]], l);
                    let new = h.set(&f, &v, l);
                    prop_assert_eq!(new, m.insert(f, v).is_none());
                }
                Op::Del(f) => {
                    let f = field(f);
                    prop_assert_eq!(h.delete(&f), m.remove(&f).is_some());
                }
                Op::Incr(f, n) => {
                    let f = field(f);
                    let cur = h.get(&f).map(|v| v.to_vec());
                    let old = cur.as_deref().map_or(Some(0), crate::util::numeric::string2ll);
                    if let Some(old) = old.and_then(|o| o.checked_add(n)) {
                        let nv = old.to_string().into_bytes();
                        h.set(&f, &nv, l);
                        m.insert(f, nv);
                    }
                }
            }
            if was_table {
                prop_assert_eq!(h.encoding(), "hashtable");
            }
            was_table = !h.is_listpack();
            // The listpack form holds only while both limits hold.
            if h.is_listpack() {
                prop_assert!(h.len() <= entries);
                prop_assert!(h.iter().all(|(f, v)| f.byte_len() <= value && v.byte_len() <= value));
            }
            prop_assert_eq!(h.len(), m.len());
        }
        for (f, v) in &m {
            prop_assert_eq!(h.get(f).map(|x| x.to_vec()), Some(v.clone()));
        }
        let mut got = pairs(&h);
        got.sort();
        let mut want: Vec<_> = m.into_iter().collect();
        want.sort();
        prop_assert_eq!(got, want);
    }
}
