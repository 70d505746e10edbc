//! UnixDatagram on the runtime's reactor (run under RPAL_DRIVER=uring and =epoll): pairs,
//! bound paths and abstract names, unbound senders, connect, message boundaries, and a waiting
//! receiver woken from another task.

mod support;

use std::io::ErrorKind;
use std::os::linux::net::SocketAddrExt;

use rpal_net::unix::UnixAddr;
use rpal_net::UnixDatagram;
use support::{abstract_name, each_flavor, within, SockPath};

#[test]
fn pair_keeps_message_boundaries() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let (a, b) = UnixDatagram::pair().unwrap();
            for msg in [&b"a"[..], b"bb", b"", b"dddd"] {
                a.send(msg).await.unwrap();
            }
            let mut buf = [0u8; 16];
            for msg in [&b"a"[..], b"bb", b"", b"dddd"] {
                let n = within(name, b.recv(&mut buf)).await.unwrap();
                assert_eq!(&buf[..n], msg, "{name}");
            }
            assert_eq!(
                b.try_recv(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
        });
    }
}

#[test]
fn bound_path_send_to_recv_from() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let sp = SockPath::new("dgram-srv");
            let cp = SockPath::new("dgram-cli");
            let server = UnixDatagram::bind(sp.path()).unwrap();
            let client = UnixDatagram::bind(cp.path()).unwrap();
            assert_eq!(server.local_addr().unwrap().as_pathname(), Some(sp.path()));
            client.send_to(b"req", sp.path()).await.unwrap();
            let mut buf = [0u8; 16];
            let (n, from) = within(name, server.recv_from(&mut buf)).await.unwrap();
            assert_eq!(&buf[..n], b"req");
            let back = from.as_pathname().unwrap().to_owned();
            assert_eq!(back, cp.path());
            server.send_to(b"resp", &back).await.unwrap();
            let (n, _) = within(name, client.recv_from(&mut buf)).await.unwrap();
            assert_eq!(&buf[..n], b"resp");
        });
    }
}

#[test]
fn abstract_names_unbound_sender_and_connect() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let srv_name = abstract_name("dgram-abs");
            let server = UnixDatagram::bind(UnixAddr::Abstract(&srv_name)).unwrap();
            let client = UnixDatagram::unbound().unwrap();
            assert!(client.peer_addr().is_err());
            client.connect(UnixAddr::Abstract(&srv_name)).unwrap();
            assert_eq!(
                client.peer_addr().unwrap().as_abstract_name(),
                Some(&srv_name[..])
            );
            client.send(b"x").await.unwrap();
            let mut buf = [0u8; 4];
            let (n, from) = within(name, server.recv_from(&mut buf)).await.unwrap();
            assert_eq!(&buf[..n], b"x");
            assert!(
                from.is_unnamed(),
                "{name}: an unbound sender has no address"
            );
            // Sending to a name nobody bound fails at once.
            let nobody = abstract_name("dgram-nobody");
            let err = client
                .send_to(b"y", UnixAddr::Abstract(&nobody))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{name}");
        });
    }
}

/// The receiver parks first; a task on (possibly) another worker sends later and wakes it.
#[test]
fn waiting_receiver_is_woken() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let (a, b) = UnixDatagram::pair().unwrap();
            let rx = rpal_rt::spawn(async move {
                let mut total = 0usize;
                let mut buf = [0u8; 64];
                for _ in 0..100 {
                    total += b.recv(&mut buf).await.unwrap();
                }
                total
            });
            for i in 0..100usize {
                rpal_rt::yield_now().await;
                a.send(&vec![7u8; i % 64]).await.unwrap();
            }
            let total = within(name, rx).await.unwrap();
            assert_eq!(
                total,
                (0..100usize).map(|i| i % 64).sum::<usize>(),
                "{name}"
            );
        });
    }
}

/// A sender blocked on a full peer queue waits for writability and resumes when the reader
/// drains it.
#[test]
fn full_queue_sender_waits_for_reader() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let (a, b) = UnixDatagram::pair().unwrap();
            let mut sent = 0usize;
            while a.try_send(&[1u8; 1024]).is_ok() {
                sent += 1;
            }
            assert!(sent > 0);
            let tx = rpal_rt::spawn(async move {
                a.send(b"last").await.unwrap();
                a
            });
            let mut buf = [0u8; 2048];
            for _ in 0..sent {
                assert_eq!(within(name, b.recv(&mut buf)).await.unwrap(), 1024);
            }
            let n = within(name, b.recv(&mut buf)).await.unwrap();
            assert_eq!(&buf[..n], b"last", "{name}");
            drop(within(name, tx).await.unwrap());
        });
    }
}
