//! Pub/Sub routing: channel and pattern subscriptions, and message delivery to
//! subscribers' mailboxes (already encoded for each subscriber's protocol version).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::server::client::{ClientId, ClientRegistry};
use crate::util::glob::string_match;

/// Subscriptions of all clients.
#[derive(Debug, Default)]
pub struct PubSub {
    pub channels: HashMap<Bytes, Vec<ClientId>>,
    /// Pattern to subscribers, in subscription order.
    pub patterns: HashMap<Bytes, Vec<ClientId>>,
    /// Number of (pattern, client) subscriptions, for PUBSUB NUMPAT.
    pub numpat: usize,
}

/// Encodes a 3- or 4-element pub/sub message as RESP2 array or RESP3 push.
pub fn encode_message(resp3: bool, parts: &[&[u8]]) -> Bytes {
    let mut out = Vec::with_capacity(32 + parts.iter().map(|p| p.len() + 16).sum::<usize>());
    out.push(if resp3 { b'>' } else { b'*' });
    out.extend_from_slice(itoa::Buffer::new().format(parts.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for p in parts {
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(p.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    Bytes::from(out)
}

impl PubSub {
    /// Delivers `msg` on `channel`; returns the number of receivers (PUBLISH's reply).
    pub fn publish(&mut self, clients: &ClientRegistry, channel: &[u8], msg: &[u8]) -> usize {
        let mut n = 0;
        if let Some(ids) = self.channels.get(channel) {
            for id in ids {
                if let Some(c) = clients.get(*id) {
                    let resp3 = c.resp3.load(Ordering::Relaxed);
                    c.send(encode_message(resp3, &[b"message", channel, msg]));
                    n += 1;
                }
            }
        }
        if !self.patterns.is_empty() {
            for (pat, ids) in self.patterns.iter() {
                if !string_match(pat, channel, false) {
                    continue;
                }
                for id in ids {
                    if let Some(c) = clients.get(*id) {
                        let resp3 = c.resp3.load(Ordering::Relaxed);
                        c.send(encode_message(resp3, &[b"pmessage", pat, channel, msg]));
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Adds a channel subscription; returns false if already subscribed.
    pub fn subscribe(&mut self, id: ClientId, channel: &Bytes) -> bool {
        let v = self.channels.entry(channel.clone()).or_default();
        if v.contains(&id) {
            return false;
        }
        v.push(id);
        true
    }
    pub fn unsubscribe(&mut self, id: ClientId, channel: &[u8]) -> bool {
        let Some(v) = self.channels.get_mut(channel) else { return false };
        let before = v.len();
        v.retain(|&c| c != id);
        let removed = v.len() != before;
        if v.is_empty() {
            self.channels.remove(channel);
        }
        removed
    }
    pub fn psubscribe(&mut self, id: ClientId, pattern: &Bytes) -> bool {
        let v = self.patterns.entry(pattern.clone()).or_default();
        if v.contains(&id) {
            return false;
        }
        v.push(id);
        self.numpat += 1;
        true
    }
    pub fn punsubscribe(&mut self, id: ClientId, pattern: &[u8]) -> bool {
        let Some(v) = self.patterns.get_mut(pattern) else { return false };
        let before = v.len();
        v.retain(|&c| c != id);
        let removed = v.len() != before;
        if removed {
            self.numpat -= 1;
        }
        if v.is_empty() {
            self.patterns.remove(pattern);
        }
        removed
    }
}
