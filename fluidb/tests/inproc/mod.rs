//! In-process harness: drives `call()` on a real `Store` without sockets, for what a
//! socket test cannot see (RESP3 before HELLO exists, the write stream, registries).
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use fluidb::commands::call;
use fluidb::protocol::Reply;
use fluidb::server::client::{Client, ClientShared};
use fluidb::server::{Config as Settings, Shared};
use tokio::sync::mpsc::UnboundedReceiver;

pub struct Local {
    pub shared: Arc<Shared>,
    pub clients: Vec<(Client, Reply, UnboundedReceiver<Bytes>)>,
}

impl Local {
    pub fn new() -> Local {
        Self::with(Settings::default())
    }

    pub fn with(cfg: Settings) -> Local {
        let shared = Shared::new(cfg, String::new());
        shared.store.lock().stream.enable_backlog(); // the tests read the stream back
        Local { shared, clients: Vec::new() }
    }

    /// Connects a client; returns its index.
    pub fn connect(&mut self) -> usize {
        let id = self.clients.len() as u64 + 1;
        let (cs, rx) = ClientShared::new(id, format!("127.0.0.1:{}", 40000 + id), "127.0.0.1:6379".into(), 0);
        let auth = {
            let mut st = self.shared.store.lock();
            st.clients.by_id.insert(id, cs.clone());
            st.cfg.requirepass.is_none()
        };
        self.clients.push((Client::new(cs, auth), Reply::new(), rx));
        self.clients.len() - 1
    }

    /// Switches a client to RESP3 the way HELLO 3 does.
    pub fn resp3(&mut self, c: usize) {
        let (client, out, _) = &mut self.clients[c];
        client.reply.resp3 = true;
        out.resp3 = true;
        client.shared.resp3.store(true, std::sync::atomic::Ordering::Relaxed);
        client.shared.info.lock().resp = 3;
    }

    /// Runs one command and returns everything it wrote to its client (lossy UTF-8).
    pub fn run(&mut self, c: usize, args: &[&str]) -> String {
        let a: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        String::from_utf8_lossy(&self.run_bytes(c, &a)).into_owned()
    }

    /// Runs one command with binary arguments and returns the bytes it wrote.
    pub fn run_bytes(&mut self, c: usize, args: &[&[u8]]) -> Vec<u8> {
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let (client, out, _) = &mut self.clients[c];
        let mut st = self.shared.store.lock();
        call(&self.shared, &mut st, client, out, &argv, fluidb::commands::call::Source::Client);
        std::mem::take(&mut out.buf)
    }

    /// Messages waiting in a client's mailbox (pub/sub from others, MONITOR).
    pub fn mailbox(&mut self, c: usize) -> String {
        let mut s = String::new();
        while let Ok(m) = self.clients[c].2.try_recv() {
            s.push_str(&String::from_utf8_lossy(&m));
        }
        s
    }

    /// The write stream from its start, decoded into commands.
    pub fn stream(&self) -> Vec<Vec<String>> {
        let st = self.shared.store.lock();
        let raw = st.stream.read_from(st.stream.first_offset()).unwrap_or_default();
        decode_commands(&raw)
    }
}

/// Decodes a sequence of RESP multibulks into argument vectors.
pub fn decode_commands(mut b: &[u8]) -> Vec<Vec<String>> {
    fn line(b: &mut &[u8]) -> String {
        let i = b.windows(2).position(|w| w == b"\r\n").expect("CRLF");
        let s = String::from_utf8_lossy(&b[..i]).into_owned();
        *b = &b[i + 2..];
        s
    }
    let mut cmds = Vec::new();
    while !b.is_empty() {
        let n: usize = line(&mut b)[1..].parse().expect("multibulk");
        let mut argv = Vec::new();
        for _ in 0..n {
            let len: usize = line(&mut b)[1..].parse().expect("bulk");
            argv.push(String::from_utf8_lossy(&b[..len]).into_owned());
            b = &b[len + 2..];
        }
        cmds.push(argv);
    }
    cmds
}
