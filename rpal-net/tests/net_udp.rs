//! UdpSocket on the runtime's reactor (run under RPAL_DRIVER=uring and =epoll): datagram
//! round-trips, connected send/recv, peek, waiting receivers woken by a later send, many
//! datagrams across workers, and socket options.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rpal_net::UdpSocket;
use support::{each_flavor, within};

#[test]
fn send_to_recv_from_round_trip() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            assert_eq!(a.send_to(b"ping", b_addr).await.unwrap(), 4);
            let mut buf = [0u8; 64];
            let (n, from) = within(name, b.recv_from(&mut buf)).await.unwrap();
            assert_eq!((&buf[..n], from), (&b"ping"[..], a_addr));
            b.send_to(b"pong", from).await.unwrap();
            let (n, from) = within(name, a.recv_from(&mut buf)).await.unwrap();
            assert_eq!((&buf[..n], from), (&b"pong"[..], b_addr));
        });
    }
}

#[test]
fn connected_send_recv_and_peer_addr() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            assert!(
                a.peer_addr().is_err(),
                "{name}: unconnected socket has no peer"
            );
            a.connect(b.local_addr().unwrap()).await.unwrap();
            b.connect(a.local_addr().unwrap()).await.unwrap();
            assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
            a.send(b"hello").await.unwrap();
            let mut buf = [0u8; 3];
            // A datagram longer than the buffer is truncated, and the rest is discarded.
            assert_eq!(within(name, b.recv(&mut buf)).await.unwrap(), 3);
            assert_eq!(&buf, b"hel");
            assert_eq!(
                b.try_recv(&mut buf).unwrap_err().kind(),
                std::io::ErrorKind::WouldBlock
            );
        });
    }
}

#[test]
fn peek_leaves_the_datagram_queued() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            a.send_to(b"abc", b.local_addr().unwrap()).await.unwrap();
            let mut buf = [0u8; 8];
            let (n, from) = within(name, b.peek_from(&mut buf)).await.unwrap();
            assert_eq!((n, from), (3, a.local_addr().unwrap()));
            let (n, _) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"abc");
        });
    }
}

/// A receiver that waits first (registers, parks) is woken by a send from another task, and a
/// shared socket serves a sender task and a receiver task at once.
#[test]
fn waiting_receiver_is_woken_and_socket_is_shared() {
    const COUNT: usize = 200;
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let server = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let client = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            client.connect(server.local_addr().unwrap()).await.unwrap();
            // Echo server: replies to each datagram.
            let srv = server.clone();
            let echo = rpal_rt::spawn(async move {
                let mut buf = [0u8; 16];
                for _ in 0..COUNT {
                    let (n, from) = srv.recv_from(&mut buf).await.unwrap();
                    srv.send_to(&buf[..n], from).await.unwrap();
                }
            });
            let rx = client.clone();
            let received = Arc::new(AtomicUsize::new(0));
            let count = received.clone();
            let receiver = rpal_rt::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 16];
                while got.len() < COUNT {
                    let n = rx.recv(&mut buf).await.unwrap();
                    got.push(u32::from_le_bytes(buf[..n].try_into().unwrap()));
                    count.store(got.len(), Ordering::Release);
                }
                got
            });
            // Loopback UDP drops only when a receive buffer overflows: keep at most WINDOW
            // datagrams in flight, so nothing is lost however slowly the other tasks run.
            const WINDOW: usize = 16;
            for i in 0..COUNT {
                while i >= received.load(Ordering::Acquire) + WINDOW {
                    rpal_rt::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                client.send(&(i as u32).to_le_bytes()).await.unwrap();
            }
            let mut got = within(name, receiver).await.unwrap();
            within(name, echo).await.unwrap();
            got.sort_unstable();
            assert_eq!(got, (0..COUNT as u32).collect::<Vec<_>>(), "{name}");
        });
    }
}

#[test]
fn socket_options() {
    let rt = support::current_thread();
    rt.block_on(async {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.set_broadcast(true).unwrap();
        assert!(s.broadcast().unwrap());
        s.set_broadcast(false).unwrap();
        assert!(!s.broadcast().unwrap());
        s.set_ttl(17).unwrap();
        assert_eq!(s.ttl().unwrap(), 17);
        assert!(s.take_error().unwrap().is_none());
        let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = std.local_addr().unwrap();
        let s = UdpSocket::from_std(std).unwrap();
        assert_eq!(s.local_addr().unwrap(), addr);
    });
}
