//! Keyspace-notification classes, as in Redis 7.0's `notify.c`.
//!
//! The bit values are Redis's own so that flags computed here can be compared
//! with the ones a Redis module or test expects.

/// `K`: publish `__keyspace@<db>__:<key>` messages.
pub const NOTIFY_KEYSPACE: u32 = 1 << 0;
/// `E`: publish `__keyevent@<db>__:<event>` messages.
pub const NOTIFY_KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
pub const NOTIFY_GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const NOTIFY_STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const NOTIFY_LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const NOTIFY_SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const NOTIFY_HASH: u32 = 1 << 6;
/// `z`: sorted-set commands.
pub const NOTIFY_ZSET: u32 = 1 << 7;
/// `x`: expiry events.
pub const NOTIFY_EXPIRED: u32 = 1 << 8;
/// `e`: eviction events.
pub const NOTIFY_EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const NOTIFY_STREAM: u32 = 1 << 10;
/// `m`: key-miss events (not part of `A`).
pub const NOTIFY_KEY_MISS: u32 = 1 << 11;
/// Module "loaded" events; no letter, only modules raise it.
pub const NOTIFY_LOADED: u32 = 1 << 12;
/// `d`: module key-type events.
pub const NOTIFY_MODULE: u32 = 1 << 13;
/// `n`: new-key events (not part of `A`).
pub const NOTIFY_NEW: u32 = 1 << 14;
/// `A`: alias for `g$lshzxetd`.
pub const NOTIFY_ALL: u32 = NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE;

/// The error Redis gives for an unknown class letter.
pub(crate) const BAD_CLASS: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// Turns a `notify-keyspace-events` string into flags (`keyspaceEventsStringToFlags`).
/// `None` when a character is not a known class. The empty string is 0.
pub fn keyspace_events_to_flags(classes: &str) -> Option<u32> {
    bytes_to_flags(classes.as_bytes())
}

/// Byte version of [`keyspace_events_to_flags`]; like the C code it stops at
/// a NUL byte.
pub(crate) fn bytes_to_flags(classes: &[u8]) -> Option<u32> {
    let mut flags = 0;
    for &c in super::cstr::c_str(classes) {
        flags |= match c {
            b'A' => NOTIFY_ALL,
            b'g' => NOTIFY_GENERIC,
            b'$' => NOTIFY_STRING,
            b'l' => NOTIFY_LIST,
            b's' => NOTIFY_SET,
            b'h' => NOTIFY_HASH,
            b'z' => NOTIFY_ZSET,
            b'x' => NOTIFY_EXPIRED,
            b'e' => NOTIFY_EVICTED,
            b'K' => NOTIFY_KEYSPACE,
            b'E' => NOTIFY_KEYEVENT,
            b't' => NOTIFY_STREAM,
            b'm' => NOTIFY_KEY_MISS,
            b'd' => NOTIFY_MODULE,
            b'n' => NOTIFY_NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// Turns flags back into the canonical string (`keyspaceEventsFlagsToString`).
/// As in Redis 7.0, `A` absorbs the type letters *and* `n`, so `"An"`
/// reads back as `"A"`.
pub fn flags_to_keyspace_events(flags: u32) -> String {
    let mut s = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (NOTIFY_GENERIC, 'g'),
            (NOTIFY_STRING, '$'),
            (NOTIFY_LIST, 'l'),
            (NOTIFY_SET, 's'),
            (NOTIFY_HASH, 'h'),
            (NOTIFY_ZSET, 'z'),
            (NOTIFY_EXPIRED, 'x'),
            (NOTIFY_EVICTED, 'e'),
            (NOTIFY_STREAM, 't'),
            (NOTIFY_MODULE, 'd'),
            (NOTIFY_NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    if flags & NOTIFY_KEYSPACE != 0 {
        s.push('K');
    }
    if flags & NOTIFY_KEYEVENT != 0 {
        s.push('E');
    }
    if flags & NOTIFY_KEY_MISS != 0 {
        s.push('m');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs observed on redis-server 7.0.15 (CONFIG SET then CONFIG GET).
    #[test]
    fn round_trips_like_redis() {
        for (set, got) in [
            ("An", "A"),
            ("gn", "gn"),
            ("Km", "Km"),
            ("", ""),
            ("EKng$lshzxetdm", "AKEm"),
            ("A$", "A"),
            ("nE", "nE"),
            ("AKEmn", "AKEm"),
            ("d", "d"),
            ("KEA", "AKE"),
        ] {
            let flags = keyspace_events_to_flags(set).unwrap();
            assert_eq!(flags_to_keyspace_events(flags), got, "{set}");
        }
        assert_eq!(keyspace_events_to_flags("Q"), None);
        assert_eq!(keyspace_events_to_flags("KEA"), Some(NOTIFY_ALL | NOTIFY_KEYSPACE | NOTIFY_KEYEVENT));
    }
}
