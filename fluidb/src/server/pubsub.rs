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
    /// Shard channel (SSUBSCRIBE) to subscribers.
    pub shard_channels: HashMap<Bytes, Vec<ClientId>>,
    /// Number of distinct patterns with subscribers, for PUBSUB NUMPAT and INFO (Redis 7.0
    /// counts unique patterns).
    pub numpat: usize,
    /// The client whose command is executing (0 = none). Messages for it are collected in
    /// `to_self` and placed in its own reply stream before that command's reply, as Redis
    /// writes them into the reply buffer (a RESP3 client publishing to itself, or receiving
    /// keyspace events caused by its own command).
    pub current: ClientId,
    pub to_self: Vec<u8>,
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
            for &id in ids {
                if id == self.current {
                    self.to_self
                        .extend_from_slice(&encode_message(self_resp3(clients, id), &[b"message", channel, msg]));
                    n += 1;
                } else if let Some(c) = clients.get(id) {
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
                for &id in ids {
                    if id == self.current {
                        let m = encode_message(self_resp3(clients, id), &[b"pmessage", pat, channel, msg]);
                        self.to_self.extend_from_slice(&m);
                        n += 1;
                    } else if let Some(c) = clients.get(id) {
                        let resp3 = c.resp3.load(Ordering::Relaxed);
                        c.send(encode_message(resp3, &[b"pmessage", pat, channel, msg]));
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Delivers `msg` on shard channel `channel` (SPUBLISH); returns the receivers.
    pub fn spublish(&mut self, clients: &ClientRegistry, channel: &[u8], msg: &[u8]) -> usize {
        let mut n = 0;
        if let Some(ids) = self.shard_channels.get(channel) {
            for &id in ids {
                if id == self.current {
                    self.to_self
                        .extend_from_slice(&encode_message(self_resp3(clients, id), &[b"smessage", channel, msg]));
                    n += 1;
                } else if let Some(c) = clients.get(id) {
                    let resp3 = c.resp3.load(Ordering::Relaxed);
                    c.send(encode_message(resp3, &[b"smessage", channel, msg]));
                    n += 1;
                }
            }
        }
        n
    }

    /// Adds a channel subscription; returns false if already subscribed.
    pub fn subscribe(&mut self, id: ClientId, channel: &Bytes) -> bool {
        add(&mut self.channels, id, channel)
    }
    pub fn unsubscribe(&mut self, id: ClientId, channel: &[u8]) -> bool {
        remove(&mut self.channels, id, channel)
    }
    pub fn ssubscribe(&mut self, id: ClientId, channel: &Bytes) -> bool {
        add(&mut self.shard_channels, id, channel)
    }
    pub fn sunsubscribe(&mut self, id: ClientId, channel: &[u8]) -> bool {
        remove(&mut self.shard_channels, id, channel)
    }
    pub fn psubscribe(&mut self, id: ClientId, pattern: &Bytes) -> bool {
        let added = add(&mut self.patterns, id, pattern);
        self.numpat = self.patterns.len();
        added
    }
    pub fn punsubscribe(&mut self, id: ClientId, pattern: &[u8]) -> bool {
        let removed = remove(&mut self.patterns, id, pattern);
        self.numpat = self.patterns.len();
        removed
    }
}

/// The protocol of the executing client (messages to itself).
fn self_resp3(clients: &ClientRegistry, id: ClientId) -> bool {
    clients.get(id).map(|c| c.resp3.load(Ordering::Relaxed)).unwrap_or(false)
}

fn add(map: &mut HashMap<Bytes, Vec<ClientId>>, id: ClientId, name: &Bytes) -> bool {
    let v = map.entry(name.clone()).or_default();
    if v.contains(&id) {
        return false;
    }
    v.push(id);
    true
}

fn remove(map: &mut HashMap<Bytes, Vec<ClientId>>, id: ClientId, name: &[u8]) -> bool {
    let Some(v) = map.get_mut(name) else { return false };
    let before = v.len();
    v.retain(|&c| c != id);
    let removed = v.len() != before;
    if v.is_empty() {
        map.remove(name);
    }
    removed
}
