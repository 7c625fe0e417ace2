//! In-process tests of the bitmap commands: write stream, keyspace events, encodings,
//! mvcc stamps, RESP3, and the low-level bit helpers against naive versions.

use super::super::strings::tests::Kit;
use super::*;

const FAR: i64 = 9_999_999_999_000;

#[test]
fn setbit_writes_only_on_change() {
    let mut k = Kit::new();
    assert_eq!(k.run("setbit k 7 1"), ":0\r\n");
    assert_eq!((k.encoding("k"), k.value("k").unwrap()), ("raw", vec![1u8]));
    assert_eq!(k.propagated(), ["setbit k 7 1"]);
    assert_eq!(k.events(), ["setbit k"]);
    let m = k.mvcc("k");
    assert_eq!(k.run("setbit k 7 1"), ":1\r\n");
    assert_eq!(k.run("setbit k 6 0"), ":0\r\n");
    assert!(k.propagated().is_empty(), "no change, no write");
    assert!(k.events().is_empty());
    assert_eq!(k.mvcc("k"), m);
    // Growing the string is a change even when the bit stays 0.
    assert_eq!(k.run("setbit k 100 0"), ":0\r\n");
    assert_eq!(k.value("k").unwrap().len(), 13);
    assert_eq!(k.propagated(), ["setbit k 100 0"]);
    assert!(k.mvcc("k") > m);
    // A new key is always written.
    k.run("setbit n 0 0");
    assert_eq!(k.value("n").unwrap(), [0u8]);
    assert_eq!(k.propagated(), ["setbit n 0 0"]);
    // An int-encoded value becomes raw even when nothing changes (as Redis), unstamped.
    k.run("set i 12");
    k.reset();
    let m = k.mvcc("i");
    assert_eq!(k.run("setbit i 0 0"), ":0\r\n");
    assert_eq!((k.encoding("i"), k.mvcc("i")), ("raw", m));
    assert!(k.propagated().is_empty());
    // TTL survives.
    k.set_expire("i", FAR);
    k.run("setbit i 0 1");
    assert_eq!(k.expire("i"), FAR);
    assert_eq!(k.value("i").unwrap(), b"\xb12");
}

#[test]
fn bitop_set_and_del_events() {
    let mut k = Kit::new();
    k.run("set a abc");
    k.run("set d old");
    k.set_expire("d", FAR);
    k.reset();
    assert_eq!(k.run("bitop not d a"), ":3\r\n");
    assert_eq!((k.encoding("d"), k.expire("d")), ("raw", -1));
    assert_eq!(k.value("d").unwrap(), [!b'a', !b'b', !b'c']);
    assert_eq!(k.propagated(), ["bitop not d a"]);
    assert_eq!(k.events(), ["set d"]);
    assert_eq!(k.run("bitop and d nokey1 nokey2"), ":0\r\n");
    assert!(k.entry("d").is_none());
    assert_eq!(k.propagated(), ["bitop and d nokey1 nokey2"]);
    assert_eq!(k.events(), ["del d"]);
    assert_eq!(k.run("bitop or d nokey"), ":0\r\n");
    assert!(k.propagated().is_empty(), "deleting nothing is no write");
    k.run("set i 12");
    assert_eq!(k.run("bitop or d i a"), ":3\r\n");
    assert_eq!(k.value("d").unwrap(), [b'1' | b'a', b'2' | b'b', b'c']);
}

#[test]
fn bitfield_counts_changes_like_redis() {
    let mut k = Kit::new();
    assert_eq!(k.run("bitfield bf set u8 0 255"), "*1\r\n:0\r\n");
    assert_eq!(k.propagated(), ["bitfield bf set u8 0 255"]);
    assert_eq!(k.events(), ["setbit bf"]);
    let m = k.mvcc("bf");
    assert_eq!(k.run("bitfield bf set u8 0 255 overflow fail incrby u8 0 1 get u8 0"), "*3\r\n:255\r\n$-1\r\n:255\r\n");
    assert!(k.propagated().is_empty());
    assert_eq!(k.mvcc("bf"), m);
    assert_eq!(k.run("bitfield bf incrby u8 0 1 incrby u8 0 1"), "*2\r\n:0\r\n:1\r\n");
    assert_eq!(k.propagated(), ["bitfield bf incrby u8 0 1 incrby u8 0 1"]);
    assert_eq!(k.events(), ["setbit bf"]);
    // Only GETs: a read, even through BITFIELD.
    let m = k.mvcc("bf");
    assert_eq!(k.run("bitfield bf get u8 0 get i4 4"), "*2\r\n:1\r\n:1\r\n");
    assert_eq!(k.run("bitfield_ro bf get u8 0"), "*1\r\n:1\r\n");
    assert!(k.propagated().is_empty());
    assert_eq!(k.mvcc("bf"), m);
    // Redis creates the key even when every write fails; fluidB also propagates it.
    assert_eq!(k.run("bitfield nk overflow fail incrby u8 0 300"), "*1\r\n$-1\r\n");
    assert_eq!(k.value("nk").unwrap(), [0u8]);
    assert_eq!(k.propagated(), ["bitfield nk overflow fail incrby u8 0 300"]);
    assert!(k.events().is_empty(), "no change, no event (as Redis)");
    assert!(k.mvcc("nk") > 0);
    // Growth with every write failing is a write as well.
    let m = k.mvcc("nk");
    assert_eq!(k.run("bitfield nk overflow fail incrby u8 16 300"), "*1\r\n$-1\r\n");
    assert_eq!(k.value("nk").unwrap(), [0u8, 0, 0]);
    assert_eq!(k.propagated(), ["bitfield nk overflow fail incrby u8 16 300"]);
    assert!(k.events().is_empty());
    assert!(k.mvcc("nk") > m);
    // No operation or only OVERFLOW: nothing created.
    k.run("bitfield none overflow sat");
    assert!(k.entry("none").is_none());
    // TTL survives.
    k.set_expire("bf", FAR);
    k.run("bitfield bf set u8 #1 7");
    assert_eq!(k.expire("bf"), FAR);
    assert_eq!(k.value("bf").unwrap(), [1u8, 7]);
}

#[test]
fn bitmap_reads_do_not_write() {
    let mut k = Kit::new();
    k.run("set k foobar");
    let m = k.mvcc("k");
    k.reset();
    for line in [
        "getbit k 3",
        "getbit k 1000",
        "bitcount k",
        "bitcount k 1 -1 bit",
        "bitpos k 1",
        "bitpos k 0 2 -1 byte",
        "bitfield k get u8 0",
        "bitfield_ro k get i8 #3",
    ] {
        k.run(line);
    }
    assert_eq!((k.mvcc("k"), k.encoding("k")), (m, "embstr"));
    assert!(k.propagated().is_empty());
    assert!(k.events().is_empty());
}

#[test]
fn bitmap_resp3() {
    let mut k = Kit::new();
    k.out.resp3 = true;
    assert_eq!(k.run("bitfield bf set u8 0 255 overflow fail incrby u8 0 1"), "*2\r\n:0\r\n_\r\n");
    assert_eq!(k.run("bitfield bf"), "*0\r\n");
    assert_eq!(k.run("bitpos nokey 1"), ":-1\r\n");
}

#[test]
fn offsets_bounded_by_proto_max_bulk_len() {
    let mut k = Kit::new();
    k.shared.max_bulk_len.store(1024, std::sync::atomic::Ordering::Relaxed);
    let err = "-ERR bit offset is not an integer or out of range\r\n";
    assert_eq!(k.run("setbit k 8192 1"), err);
    assert_eq!(k.run("setbit k 8191 1"), ":0\r\n");
    assert_eq!(k.value("k").unwrap().len(), 1024);
    assert_eq!(k.run("getbit k 8192"), err);
    assert_eq!(k.run("bitfield k get u8 #1024"), err);
    assert_eq!(k.run("bitfield k set u8 8184 1"), "*1\r\n:1\r\n");
    assert_eq!(k.run("bitfield k set u16 8184 1"), "*1\r\n:256\r\n");
    assert_eq!(k.value("k").unwrap().len(), 1025, "a field may end past the limit, as in Redis");
}

#[test]
fn popcount_and_first_bit_match_naive() {
    let mut seed = 7u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as u32
    };
    for _ in 0..2000 {
        let len = (rnd() % 40) as usize;
        let fill = [0u8, 0xff, 0x80, 0x01][(rnd() % 4) as usize];
        let mut s = vec![fill; len];
        if len > 0 && rnd() % 2 == 0 {
            let i = (rnd() as usize) % len;
            s[i] = rnd() as u8;
        }
        let naive_pop: u64 = s.iter().map(|b| b.count_ones() as u64).sum();
        assert_eq!(popcount(&s), naive_pop);
        for bit in [false, true] {
            let naive = (0..len * 8).find(|&i| ((s[i / 8] >> (7 - i % 8)) & 1 == 1) == bit);
            let want = match naive {
                Some(i) => i as i64,
                None if bit => -1,
                None => (len * 8) as i64,
            };
            assert_eq!(first_bit(&s, bit), want, "{s:?} {bit}");
        }
    }
}

#[test]
fn bitfield_get_set_roundtrip() {
    let mut buf = vec![0u8; 16];
    for bits in 1..=64u32 {
        for offset in [0u64, 1, 7, 8, 13, 63] {
            let v: i64 = if bits == 64 { -3 } else { -(1i64 << (bits - 1)) };
            set_unsigned_bitfield(&mut buf, offset, bits, v as u64);
            assert_eq!(get_signed_bitfield(&buf, offset, bits), v, "i{bits} at {offset}");
            let u: u64 = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            set_unsigned_bitfield(&mut buf, offset, bits, u);
            assert_eq!(get_unsigned_bitfield(&buf, offset, bits), u);
            buf.iter_mut().for_each(|b| *b = 0);
        }
    }
    // Reads past the end are zeros.
    assert_eq!(get_unsigned_bitfield(&[0xff], 4, 8), 0xf0);
}

#[test]
fn overflow_checks() {
    let mut l = 0u64;
    assert_eq!(check_unsigned_overflow(250, 10, 8, OW_WRAP, &mut l), 1);
    assert_eq!(l, 4);
    assert_eq!(check_unsigned_overflow(250, 10, 8, OW_SAT, &mut l), 1);
    assert_eq!(l, 255);
    assert_eq!(check_unsigned_overflow(5, -10, 8, OW_SAT, &mut l), -1);
    assert_eq!(l, 0);
    assert_eq!(check_unsigned_overflow(5, -10, 8, OW_WRAP, &mut l), -1);
    assert_eq!(l, 251);
    assert_eq!(check_unsigned_overflow(5, 250, 8, OW_FAIL, &mut l), 0);
    let mut s = 0i64;
    assert_eq!(check_signed_overflow(100, 100, 8, OW_WRAP, &mut s), 1);
    assert_eq!(s, -56);
    assert_eq!(check_signed_overflow(-100, -100, 8, OW_SAT, &mut s), -1);
    assert_eq!(s, -128);
    assert_eq!(check_signed_overflow(i64::MAX, 1, 64, OW_WRAP, &mut s), 1);
    assert_eq!(s, i64::MIN);
    assert_eq!(check_signed_overflow(i64::MIN, -1, 64, OW_SAT, &mut s), -1);
    assert_eq!(s, i64::MIN);
    assert_eq!(check_signed_overflow(-1, i64::MIN, 64, OW_FAIL, &mut s), -1);
    assert_eq!(check_signed_overflow(0, i64::MIN, 64, OW_FAIL, &mut s), 0);
}

#[test]
fn bitmap_writes_invalidate_watch() {
    let mut k = Kit::new();
    k.run("set k a");
    for (line, fires) in [
        ("getbit k 1", false),
        ("setbit k 1 1", false),
        ("setbit k 1 0", true),
        ("bitfield k get u8 0", false),
        ("bitfield k set u8 0 0", true),
        ("bitfield k set u8 0 0", false),
        ("bitfield k overflow fail incrby u8 0 -1", false),
        ("bitfield k overflow fail incrby u8 16 -1", true),
        ("bitop not x k", false),
        ("bitop not k x", true),
        ("bitcount k", false),
    ] {
        k.watch("k");
        k.run(line);
        assert_eq!(k.watch_fired(), fires, "{line}");
    }
}
