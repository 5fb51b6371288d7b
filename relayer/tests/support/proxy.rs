//! A TCP proxy in front of the devnet's RPC port that a test can cut and restore: while cut,
//! every open connection is shut down and new ones are accepted and closed at once (the
//! client sees a reset / EOF, as when a node restarts or a load balancer drops it). Plain
//! threads and blocking sockets, so it works from any test.

#![allow(dead_code)]

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// Connections refused (accepted and closed at once) while cut.
    pub refused: Arc<AtomicUsize>,
    /// Connections forwarded.
    pub forwarded: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts forwarding 127.0.0.1:<free port> to `upstream` (a thread that lives as long as
    /// the test process).
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let refused = Arc::new(AtomicUsize::new(0));
        let forwarded = Arc::new(AtomicUsize::new(0));
        let (up2, open2, refused2, forwarded2) =
            (up.clone(), open.clone(), refused.clone(), forwarded.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    refused2.fetch_add(1, Ordering::SeqCst);
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                forwarded2.fetch_add(1, Ordering::SeqCst);
                {
                    let mut open = open2.lock().unwrap();
                    open.retain(|s| s.peer_addr().is_ok());
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(client, server));
                std::thread::spawn(move || pump(s2, c2));
            }
        });
        Proxy { addr, up, open, refused, forwarded }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts down every open connection and refuses new ones until
    /// [`restore`](Self::restore).
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}
