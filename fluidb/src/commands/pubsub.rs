//! Pub/Sub commands (Redis's pubsub.c) and the `notify-keyspace-events` flag string
//! (notify.c).
//!
//! Routing lives in `server::pubsub::PubSub`; the client's own subscription sets live in
//! `Client` (and their sizes in `ClientInfo` for CLIENT LIST). Confirmations are replies
//! written to the subscribing client's own reply stream (push types in RESP3), marked as
//! pushes so that CLIENT REPLY OFF does not silence them (Redis's `CLIENT_PUSHING`);
//! messages from other clients arrive through its mailbox.

use bytes::Bytes;

use super::call::Ctx;
use super::table::{flags::*, Command};
use crate::server::client::Client;
use crate::server::store::{notify, Propagated, Store};
use crate::util::glob::string_match;

pub static COMMANDS: &[Command] = &[
    Command {
        name: "subscribe",
        arity: -2,
        flags: PUBSUB | NOSCRIPT | LOADING | STALE,
        handler: subscribe,
        group: "pubsub",
        since: "2.0.0",
        summary: "Listen for messages published to the given channels",
        complexity: "O(N) where N is the number of channels to subscribe to.",
        ..Command::DEFAULT
    },
    Command {
        name: "psubscribe",
        arity: -2,
        flags: PUBSUB | NOSCRIPT | LOADING | STALE,
        handler: psubscribe,
        group: "pubsub",
        since: "2.0.0",
        summary: "Listen for messages published to channels matching the given patterns",
        complexity: "O(N) where N is the number of patterns the client is already subscribed to.",
        ..Command::DEFAULT
    },
    Command {
        name: "unsubscribe",
        arity: -1,
        flags: PUBSUB | NOSCRIPT | LOADING | STALE,
        handler: unsubscribe,
        group: "pubsub",
        since: "2.0.0",
        summary: "Stop listening for messages posted to the given channels",
        complexity: "O(N) where N is the number of clients already subscribed to a channel.",
        ..Command::DEFAULT
    },
    Command {
        name: "punsubscribe",
        arity: -1,
        flags: PUBSUB | NOSCRIPT | LOADING | STALE,
        handler: punsubscribe,
        group: "pubsub",
        since: "2.0.0",
        summary: "Stop listening for messages posted to channels matching the given patterns",
        complexity: "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client).",
        ..Command::DEFAULT
    },
    Command {
        name: "publish",
        arity: 3,
        flags: PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        handler: publish,
        group: "pubsub",
        since: "2.0.0",
        summary: "Post a message to a channel",
        complexity: "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).",
        ..Command::DEFAULT
    },
    Command {
        name: "ssubscribe",
        arity: -2,
        flags: PUBSUB | NOSCRIPT | LOADING | STALE,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        handler: ssubscribe,
        group: "pubsub",
        since: "7.0.0",
        summary: "Listen for messages published to the given shard channels",
        complexity: "O(N) where N is the number of shard channels to subscribe to.",
        ..Command::DEFAULT
    },
    Command {
        name: "sunsubscribe",
        arity: -1,
        flags: PUBSUB | NOSCRIPT | LOADING | STALE,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        handler: sunsubscribe,
        group: "pubsub",
        since: "7.0.0",
        summary: "Stop listening for messages posted to the given shard channels",
        complexity: "O(N) where N is the number of clients already subscribed to a shard channel.",
        ..Command::DEFAULT
    },
    Command {
        name: "spublish",
        arity: 3,
        flags: PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        first_key: 1,
        last_key: 1,
        key_step: 1,
        handler: spublish,
        group: "pubsub",
        since: "7.0.0",
        summary: "Post a message to a shard channel",
        complexity: "O(N) where N is the number of clients subscribed to the receiving shard channel.",
        ..Command::DEFAULT
    },
    Command {
        name: "pubsub",
        arity: -2,
        group: "pubsub",
        since: "2.8.0",
        summary: "A container for Pub/Sub commands",
        complexity: "Depends on subcommand.",
        subcommands: PUBSUB_SUBCOMMANDS,
        ..Command::DEFAULT
    },
];

static PUBSUB_SUBCOMMANDS: &[Command] = &[
    Command {
        name: "channels",
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        handler: pubsub_channels,
        group: "pubsub",
        since: "2.8.0",
        summary: "List active channels",
        complexity: "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)",
        ..Command::DEFAULT
    },
    Command {
        name: "numsub",
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        handler: pubsub_numsub,
        group: "pubsub",
        since: "2.8.0",
        summary: "Get the count of subscribers for channels",
        complexity: "O(N) for the NUMSUB subcommand, where N is the number of requested channels",
        ..Command::DEFAULT
    },
    Command {
        name: "numpat",
        arity: 2,
        flags: PUBSUB | LOADING | STALE,
        handler: pubsub_numpat,
        group: "pubsub",
        since: "2.8.0",
        summary: "Get the count of unique patterns pattern subscriptions",
        complexity: "O(1)",
        ..Command::DEFAULT
    },
    Command {
        name: "shardchannels",
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        handler: pubsub_shardchannels,
        group: "pubsub",
        since: "7.0.0",
        summary: "List active shard channels",
        complexity: "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).",
        ..Command::DEFAULT
    },
    Command {
        name: "shardnumsub",
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        handler: pubsub_shardnumsub,
        group: "pubsub",
        since: "7.0.0",
        summary: "Get the count of subscribers for shard channels",
        complexity: "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
        ..Command::DEFAULT
    },
    Command {
        name: "help",
        arity: 2,
        flags: LOADING | STALE,
        handler: pubsub_help,
        group: "pubsub",
        since: "6.2.0",
        summary: "Show helpful text about the different subcommands",
        complexity: "O(1)",
        ..Command::DEFAULT
    },
];

/// The three kinds of subscription, as Redis's `pubsubtype`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn subscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }
    fn unsubscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
    fn set(self, client: &mut Client) -> &mut std::collections::HashSet<Bytes> {
        match self {
            Kind::Channel => &mut client.channels,
            Kind::Pattern => &mut client.patterns,
            Kind::Shard => &mut client.shard_channels,
        }
    }
    /// The count shown in confirmations: channels + patterns, or shard channels alone.
    fn count(self, client: &Client) -> usize {
        match self {
            Kind::Channel | Kind::Pattern => client.channels.len() + client.patterns.len(),
            Kind::Shard => client.shard_channels.len(),
        }
    }
}

/// Copies the subscription counts into the CLIENT LIST view.
fn sync_info(client: &Client) {
    let mut info = client.shared.info.lock();
    info.sub = client.channels.len();
    info.psub = client.patterns.len();
    info.ssub = client.shard_channels.len();
}

/// Writes a `[word, name, count]` confirmation (push in RESP3); `name` None is a null.
fn confirm(ctx: &mut Ctx, word: &[u8], name: Option<&[u8]>, count: usize) {
    let start = ctx.out.len();
    ctx.out.push(3);
    ctx.out.bulk(word);
    match name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
    ctx.out.mark_push(start);
}

fn do_subscribe(ctx: &mut Ctx, kind: Kind) {
    let id = ctx.client.id;
    for i in 1..ctx.argv.len() {
        // A copy: a slice of the request would keep its whole read buffer alive for as
        // long as the subscription.
        let name = Bytes::copy_from_slice(&ctx.argv[i]);
        if kind.set(ctx.client).insert(name.clone()) {
            let ps = &mut ctx.store.pubsub;
            match kind {
                Kind::Channel => ps.subscribe(id, &name),
                Kind::Pattern => ps.psubscribe(id, &name),
                Kind::Shard => ps.ssubscribe(id, &name),
            };
        }
        let n = kind.count(ctx.client);
        confirm(ctx, kind.subscribe_word(), Some(&name), n);
    }
    sync_info(ctx.client);
}

/// Removes one subscription of the client; returns whether it existed.
fn remove_one(store: &mut Store, client: &mut Client, kind: Kind, name: &[u8]) -> bool {
    if !kind.set(client).remove(name) {
        return false;
    }
    let ps = &mut store.pubsub;
    match kind {
        Kind::Channel => ps.unsubscribe(client.id, name),
        Kind::Pattern => ps.punsubscribe(client.id, name),
        Kind::Shard => ps.sunsubscribe(client.id, name),
    };
    true
}

fn do_unsubscribe(ctx: &mut Ctx, kind: Kind) {
    if ctx.argv.len() == 1 {
        let all: Vec<Bytes> = kind.set(ctx.client).iter().cloned().collect();
        if all.is_empty() {
            // Subscribed to nothing: still one reply, with a null name.
            let n = kind.count(ctx.client);
            confirm(ctx, kind.unsubscribe_word(), None, n);
        }
        for name in all {
            remove_one(ctx.store, ctx.client, kind, &name);
            let n = kind.count(ctx.client);
            confirm(ctx, kind.unsubscribe_word(), Some(&name), n);
        }
    } else {
        for i in 1..ctx.argv.len() {
            let name = ctx.argv[i].clone();
            remove_one(ctx.store, ctx.client, kind, &name);
            let n = kind.count(ctx.client);
            confirm(ctx, kind.unsubscribe_word(), Some(&name), n);
        }
    }
    sync_info(ctx.client);
}

fn subscribe(ctx: &mut Ctx) {
    do_subscribe(ctx, Kind::Channel);
}

fn psubscribe(ctx: &mut Ctx) {
    do_subscribe(ctx, Kind::Pattern);
}

fn ssubscribe(ctx: &mut Ctx) {
    if ctx.in_exec {
        // Redis denies it to clients that expect one reply per command (MULTI, scripts).
        return ctx.out.error("SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
    }
    do_subscribe(ctx, Kind::Shard);
}

fn unsubscribe(ctx: &mut Ctx) {
    do_unsubscribe(ctx, Kind::Channel);
}

fn punsubscribe(ctx: &mut Ctx) {
    do_unsubscribe(ctx, Kind::Pattern);
}

fn sunsubscribe(ctx: &mut Ctx) {
    do_unsubscribe(ctx, Kind::Shard);
}

fn publish(ctx: &mut Ctx) {
    let st = &mut *ctx.store;
    let n = st.pubsub.publish(&st.clients, &ctx.argv[1], &ctx.argv[2]);
    propagate_to_replicas(ctx);
    ctx.out.int(n as i64);
}

fn spublish(ctx: &mut Ctx) {
    let st = &mut *ctx.store;
    let n = st.pubsub.spublish(&st.clients, &ctx.argv[1], &ctx.argv[2]);
    propagate_to_replicas(ctx);
    ctx.out.int(n as i64);
}

/// A message published on a master reaches the replicas' subscribers too: the command goes
/// to the replicas (not the AOF), as Redis outside cluster mode does.
fn propagate_to_replicas(ctx: &mut Ctx) {
    ctx.store.pending_propagate.push(Propagated {
        db: ctx.client.db,
        mvcc: 0,
        expired: false,
        repl_only: true,
        argv: ctx.argv.to_vec(),
        trailer: Vec::new(),
    });
}

/// Redis's `addReplySubcommandSyntaxError`.
fn subcommand_syntax_error(ctx: &mut Ctx) {
    let sub = String::from_utf8_lossy(&ctx.argv[1][..ctx.argv[1].len().min(128)]).into_owned();
    let cmd = String::from_utf8_lossy(&ctx.argv[0]).to_ascii_uppercase();
    ctx.out.error(format!("unknown subcommand or wrong number of arguments for '{sub}'. Try {cmd} HELP."));
}

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern].
fn list_channels(ctx: &mut Ctx, shard: bool) {
    if ctx.argv.len() > 3 {
        return subcommand_syntax_error(ctx);
    }
    let pat = ctx.argv.get(2);
    let map = if shard { &ctx.store.pubsub.shard_channels } else { &ctx.store.pubsub.channels };
    let names: Vec<&Bytes> = map.keys().filter(|ch| pat.is_none_or(|p| string_match(p, ch, false))).collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n);
    }
}

/// PUBSUB NUMSUB / SHARDNUMSUB [channel ...]: a flat array of name, count.
fn numsub(ctx: &mut Ctx, shard: bool) {
    let map = if shard { &ctx.store.pubsub.shard_channels } else { &ctx.store.pubsub.channels };
    ctx.out.array((ctx.argv.len() - 2) * 2);
    for ch in &ctx.argv[2..] {
        ctx.out.bulk(ch);
        ctx.out.int(map.get(ch).map_or(0, |v| v.len()) as i64);
    }
}

fn pubsub_channels(ctx: &mut Ctx) {
    list_channels(ctx, false);
}

fn pubsub_shardchannels(ctx: &mut Ctx) {
    list_channels(ctx, true);
}

fn pubsub_numsub(ctx: &mut Ctx) {
    numsub(ctx, false);
}

fn pubsub_shardnumsub(ctx: &mut Ctx) {
    numsub(ctx, true);
}

fn pubsub_numpat(ctx: &mut Ctx) {
    ctx.out.int(ctx.store.pubsub.patterns.len() as i64);
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

fn pubsub_help(ctx: &mut Ctx) {
    ctx.out.array(PUBSUB_HELP.len());
    for line in PUBSUB_HELP {
        ctx.out.simple(line);
    }
}

/// Drops every subscription of a client without replying (disconnect, RESET).
pub fn forget_client(store: &mut Store, client: &mut Client) {
    let id = client.id;
    for ch in client.channels.drain() {
        store.pubsub.unsubscribe(id, &ch);
    }
    for p in client.patterns.drain() {
        store.pubsub.punsubscribe(id, &p);
    }
    for ch in client.shard_channels.drain() {
        store.pubsub.sunsubscribe(id, &ch);
    }
    sync_info(client);
}

/// Event classes by their `notify-keyspace-events` character, in Redis's order.
const EVENT_CLASSES: &[(u8, u32)] = &[
    (b'g', notify::GENERIC),
    (b'$', notify::STRING),
    (b'l', notify::LIST),
    (b's', notify::SET),
    (b'h', notify::HASH),
    (b'z', notify::ZSET),
    (b'x', notify::EXPIRED),
    (b'e', notify::EVICTED),
    (b't', notify::STREAM),
    (b'd', notify::MODULE),
    (b'n', notify::NEW),
];

/// Parses a `notify-keyspace-events` value (Redis's `keyspaceEventsStringToFlags`); None
/// for an unknown character ("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.").
pub fn keyspace_events_from_str(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.bytes() {
        flags |= match c {
            b'A' => notify::ALL,
            b'K' => notify::KEYSPACE,
            b'E' => notify::KEYEVENT,
            b'm' => notify::KEY_MISS,
            c => EVENT_CLASSES.iter().find(|(ch, _)| *ch == c)?.1,
        };
    }
    Some(flags)
}

/// Formats flags back as CONFIG GET shows them (Redis's `keyspaceEventsFlagsToString`):
/// "A" stands for every class it covers (so 'n' is not shown next to it, as in Redis).
pub fn keyspace_events_to_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & notify::ALL == notify::ALL {
        s.push('A');
    } else {
        for (c, f) in EVENT_CLASSES {
            if flags & f != 0 {
                s.push(*c as char);
            }
        }
    }
    if flags & notify::KEYSPACE != 0 {
        s.push('K');
    }
    if flags & notify::KEYEVENT != 0 {
        s.push('E');
    }
    if flags & notify::KEY_MISS != 0 {
        s.push('m');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_event_flags_round_trip_as_redis() {
        let f = |s| keyspace_events_from_str(s).map(keyspace_events_to_string);
        assert_eq!(f("KEA").as_deref(), Some("AKE"));
        assert_eq!(f("Kgn$").as_deref(), Some("g$nK"));
        assert_eq!(f("AmnKEd").as_deref(), Some("AKEm"));
        assert_eq!(f("").as_deref(), Some(""));
        assert_eq!(f("Elshzxetd$g").as_deref(), Some("AE"));
        assert_eq!(f("Kx").as_deref(), Some("xK"));
        assert_eq!(f("Q"), None);
        assert_eq!(f("K E"), None);
        assert_eq!(keyspace_events_from_str("Kx"), Some(notify::KEYSPACE | notify::EXPIRED));
    }
}
